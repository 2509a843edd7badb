/*
 * source_kafka.c - kafka:// URLs, -X properties and the group consumer (librdkafka's
 * high-level consumer) with manual commits and rebalance hooks.
 *
 * State: the consumer's table of assigned partitions (pointers, so that a partition's
 * address, and the pipeline's object hanging from it, stays put while others come and
 * go), its pause flag and counters. librdkafka's main queue is forwarded to the consumer
 * queue and logs are queued, so rebalances, errors and logs are all served by
 * rd_kafka_consumer_poll in the caller's thread.
 *
 * Ignored: message keys and headers (the payload is the event, whatever its key), and
 * offsets of partitions that nothing was read from (never committed: the group's offset
 * stays where it was).
 */
#include "source_kafka.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

/* ---- URLs ----------------------------------------------------------------------------- */

bool th__kafka_is_url(const char *s)
{
    return s && !strncmp(s, "kafka://", 8);
}

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_';
}

static bool topic_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_';
}

/* One "host:port" or "[v6]:port" of len bytes. */
static bool broker_ok(const char *s, size_t len)
{
    size_t i = 0;
    if (len && s[0] == '[') {
        for (i = 1; i < len && s[i] != ']'; i++)
            if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
                  (s[i] >= 'A' && s[i] <= 'F') || s[i] == ':' || s[i] == '.'))
                return false;
        if (i == len || i == 1)
            return false;
        i++;
    } else {
        while (i < len && host_char(s[i]))
            i++;
        if (i == 0)
            return false;
    }
    if (i >= len || s[i] != ':' || i + 1 == len || len - i - 1 > 5)
        return false;
    long port = 0;
    for (i++; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        port = port * 10 + (s[i] - '0');
    }
    return port >= 1 && port <= 65535;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..len) into a new string; NULL when malformed (or out of memory,
 * with *oom set). */
static char *pct_decode(const char *s, size_t len, bool *oom)
{
    char *out = malloc(len + 1);
    if (!out) {
        *oom = true;
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        int h = i + 2 < len ? hexval(s[i + 1]) : -1, l = h >= 0 ? hexval(s[i + 2]) : -1;
        if (h < 0 || l < 0 || (h == 0 && l == 0)) {
            free(out);
            return NULL;
        }
        out[o++] = (char)(h * 16 + l);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

void th__kafka_url_fini(struct th_kafka_url *u)
{
    free(u->brokers);
    for (size_t i = 0; i < u->ntopics; i++)
        free(u->topics[i]);
    free(u->topics);
    free(u->group);
    memset(u, 0, sizeof *u);
}

int th__kafka_url_parse(const char *url, enum th_kafka_url_kind kind, struct th_kafka_url *u,
                        struct th_err *err)
{
    memset(u, 0, sizeof *u);
    const char *form = kind == TH_KAFKA_SOURCE
                           ? "kafka://HOST:PORT[,HOST:PORT...]/TOPIC[,TOPIC...]?group=NAME"
                             "[&offset=earliest|latest]"
                           : "kafka://HOST:PORT[,HOST:PORT...]/TOPIC";
    int rc = TH_ECONFIG;
    size_t cap = 0;
    if (!th__kafka_is_url(url))
        return th__err(err, TH_ECONFIG, NULL, "'%.200s' is not a Kafka URL (%s)", url, form);
    const char *p = url + 8;
    size_t blen = strcspn(p, "/?");
    if (blen == 0 || p[blen] != '/') {
        th__err(err, rc, NULL, "%.300s: expected brokers and a topic (%s)", url, form);
        goto fail;
    }
    for (const char *b = p;; b++) { /* each entry, empty ones too */
        size_t l = strcspn(b, ",/");
        if (!broker_ok(b, l)) {
            th__err(err, rc, NULL, "%.300s: '%.*s' is not HOST:PORT", url, (int)(l > 100 ? 100 : l),
                    b);
            goto fail;
        }
        b += l;
        if (*b != ',')
            break;
    }
    if (!(u->brokers = th__strndup(p, blen)))
        goto oom;
    p += blen + 1;
    size_t tlen = strcspn(p, "?");
    for (const char *t = p; t <= p + tlen;) {
        size_t l = strcspn(t, ",?");
        bool ok = l > 0 && l <= 249 && !(l == 1 && t[0] == '.') &&
                  !(l == 2 && !strncmp(t, "..", 2));
        for (size_t i = 0; ok && i < l; i++)
            ok = topic_char(t[i]);
        if (!ok) {
            th__err(err, rc, NULL, "%.300s: '%.*s' is not a topic name (letters, digits, '.', "
                    "'_' and '-', at most 249)", url, (int)(l > 100 ? 100 : l), t);
            goto fail;
        }
        if (th__grow((void **)&u->topics, &cap, u->ntopics + 1, sizeof *u->topics) < 0 ||
            !(u->topics[u->ntopics] = th__strndup(t, l)))
            goto oom;
        u->ntopics++;
        t += l + 1;
        if (t[-1] != ',')
            break;
    }
    if (kind == TH_KAFKA_OUTPUT && u->ntopics != 1) {
        th__err(err, rc, NULL, "%.300s: signals go to one topic (%s)", url, form);
        goto fail;
    }
    p += tlen;
    if (*p == '?') {
        if (kind == TH_KAFKA_OUTPUT) {
            th__err(err, rc, NULL, "%.300s: an output URL takes no parameters (%s)", url, form);
            goto fail;
        }
        for (p++; *p;) {
            size_t l = strcspn(p, "&");
            if (!strncmp(p, "group=", 6) && !u->group) {
                bool oom = false;
                u->group = l > 6 ? pct_decode(p + 6, l - 6, &oom) : NULL;
                if (oom)
                    goto oom;
                if (!u->group) {
                    th__err(err, rc, NULL, "%.300s: the group must be a name (percent-encoded "
                            "where needed)", url);
                    goto fail;
                }
            } else if (!strncmp(p, "offset=", 7) && !u->offset_set) {
                if (l == 7 + 8 && !strncmp(p + 7, "earliest", 8)) {
                    u->latest = false;
                } else if (l == 7 + 6 && !strncmp(p + 7, "latest", 6)) {
                    u->latest = true;
                } else {
                    th__err(err, rc, NULL, "%.300s: offset is earliest or latest", url);
                    goto fail;
                }
                u->offset_set = true;
            } else {
                th__err(err, rc, NULL, "%.300s: unknown or repeated parameter '%.*s' (%s)", url,
                        (int)(l > 60 ? 60 : l), p, form);
                goto fail;
            }
            p += l + (p[l] == '&');
        }
    }
    if (kind == TH_KAFKA_SOURCE && !u->group) {
        th__err(err, rc, NULL, "%.300s: a consumer group is required: add ?group=NAME "
                "(instances with the same group share the partitions)", url);
        goto fail;
    }
    return 0;
oom:
    rc = th__err(err, TH_ENOMEM, NULL, "out of memory");
fail:
    th__kafka_url_fini(u);
    return rc;
}

/* ---- properties ----------------------------------------------------------------------- */

void th__kafka_props_init(struct th_kafka_props *p)
{
    memset(p, 0, sizeof *p);
}

void th__kafka_props_fini(struct th_kafka_props *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].key);
        /* A secret does not linger in freed memory. */
        if (p->v[i].value)
            memset(p->v[i].value, 0, strlen(p->v[i].value));
        free(p->v[i].value);
    }
    free(p->v);
    memset(p, 0, sizeof *p);
}

/* Properties that trailhound sets itself, and why. */
static const struct {
    const char *key, *why;
} owned_props[] = {
    {"bootstrap.servers", "the brokers come from the kafka:// URL"},
    {"metadata.broker.list", "the brokers come from the kafka:// URL"},
    {"group.id", "the group comes from the source URL (?group=NAME)"},
    {"enable.auto.commit", "offsets are committed only once the signals are durable"},
    {"enable.auto.offset.store", "offsets are committed only once the signals are durable"},
    {"enable.idempotence", "the Kafka output is always an idempotent producer"},
    {"transactional.id", "the Kafka output is an idempotent producer, not a transactional one"},
};

int th__kafka_props_add(struct th_kafka_props *p, const char *kv, struct th_err *err)
{
    const char *eq = strchr(kv, '=');
    /* The argument is not quoted back: it may hold a secret typed with the wrong separator. */
    if (!eq || eq == kv)
        return th__err(err, TH_ECONFIG, NULL, "-X: expected KEY=VALUE (a librdkafka property, "
                       "such as security.protocol=SSL)");
    size_t klen = (size_t)(eq - kv);
    for (size_t i = 0; i < TH_ARRAY_LEN(owned_props); i++)
        if (strlen(owned_props[i].key) == klen && !strncmp(kv, owned_props[i].key, klen))
            return th__err(err, TH_ECONFIG, NULL, "-X %s: not settable: %s", owned_props[i].key,
                           owned_props[i].why);
    for (size_t i = 0; i < klen; i++)
        if (kv[i] == ' ' || kv[i] == '\t')
            return th__err(err, TH_ECONFIG, NULL, "-X: '%.*s' is not a property name",
                           (int)klen, kv);
    char *value = th__strdup(eq + 1);
    if (!value)
        return th__err(err, TH_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < p->n; i++) {
        if (strlen(p->v[i].key) == klen && !strncmp(p->v[i].key, kv, klen)) {
            memset(p->v[i].value, 0, strlen(p->v[i].value));
            free(p->v[i].value);
            p->v[i].value = value;
            return 0;
        }
    }
    char *key = th__strndup(kv, klen);
    if (!key || th__grow((void **)&p->v, &p->cap, p->n + 1, sizeof *p->v) < 0) {
        free(key);
        free(value);
        return th__err(err, TH_ENOMEM, NULL, "out of memory");
    }
    p->v[p->n].key = key;
    p->v[p->n].value = value;
    p->n++;
    return 0;
}

const char *th__kafka_props_get(const struct th_kafka_props *p, const char *key)
{
    for (size_t i = 0; p && i < p->n; i++)
        if (!strcmp(p->v[i].key, key))
            return p->v[i].value;
    return NULL;
}

bool th__kafka_prop_is_secret(const char *key)
{
    static const char *const exact[] = {"ssl.key.pem", "ssl_key", "sasl.oauthbearer.config",
                                        "sasl.oauthbearer.extensions", "ssl.certificate.pem",
                                        NULL};
    for (size_t i = 0; exact[i]; i++)
        if (!strcmp(key, exact[i]))
            return true;
    return strstr(key, "password") || strstr(key, "secret") || strstr(key, "token");
}

char *th__kafka_redact(const struct th_kafka_props *p, const char *msg, char *buf, size_t size)
{
    if (!size)
        return buf;
    size_t o = 0;
    for (const char *s = msg; *s && o + 1 < size;) {
        size_t hit = 0;
        for (size_t i = 0; p && i < p->n && !hit; i++) {
            const char *v = p->v[i].value;
            size_t vl = strlen(v);
            if (vl >= 4 && th__kafka_prop_is_secret(p->v[i].key) && !strncmp(s, v, vl))
                hit = vl;
        }
        if (hit) {
            for (const char *r = "***"; *r && o + 1 < size; r++)
                buf[o++] = *r;
            s += hit;
        } else {
            buf[o++] = *s++;
        }
    }
    buf[o] = '\0';
    return buf;
}

int th__kafka_conf_apply(rd_kafka_conf_t *conf, const struct th_kafka_props *p,
                         struct th_err *err)
{
    char errstr[512];
    for (size_t i = 0; i < p->n; i++) {
        const struct th_kafka_prop *kp = &p->v[i];
        errstr[0] = '\0';
        rd_kafka_conf_res_t r = rd_kafka_conf_set(conf, kp->key, kp->value, errstr, sizeof errstr);
        if (r == RD_KAFKA_CONF_OK)
            continue;
        if (r == RD_KAFKA_CONF_UNKNOWN)
            return th__err(err, TH_ECONFIG, NULL, "-X %.200s: not a librdkafka property",
                           kp->key);
        if (th__kafka_prop_is_secret(kp->key))
            return th__err(err, TH_ECONFIG, NULL, "-X %.200s: invalid value (not shown: it is "
                           "a secret)", kp->key);
        return th__err(err, TH_ECONFIG, NULL, "-X %.200s: %s", kp->key, errstr);
    }
    return 0;
}

bool th__kafka_log_is_noise(const char *fac, const char *msg)
{
    return fac && !strcmp(fac, "CONFWARN") && strstr(msg, "will be ignored by this");
}

/* ---- the consumer --------------------------------------------------------------------- */

struct th_kafka_consumer {
    rd_kafka_t *rk;
    const struct th_kafka_props *props; /* borrowed, for redaction */
    struct th_kafka_hooks hooks;
    struct th_kafka_part **parts;
    size_t nparts, cap;
    size_t last;          /* index of the partition of the last message (a cache) */
    bool paused;
    bool closed;
    bool fatal;
    char fatal_msg[512];
    struct th_kafka_consumer_stats st;
};

static void consumer_log(struct th_kafka_consumer *c, const char *fmt, ...) TH_PRINTF(2, 3);
static void consumer_log(struct th_kafka_consumer *c, const char *fmt, ...)
{
    if (!c->hooks.log)
        return;
    char raw[1024], msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    c->hooks.log(c->hooks.ctx, th__kafka_redact(c->props, raw, msg, sizeof msg));
}

/* Warnings only: errors (levels 0-3) also come to error_cb, and are reported from there. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    struct th_kafka_consumer *c = rd_kafka_opaque(rk);
    if (!c || level != LOG_WARNING || th__kafka_log_is_noise(fac, buf))
        return;
    consumer_log(c, "kafka consumer: %s", buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct th_kafka_consumer *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[400];
        rd_kafka_fatal_error(rk, why, sizeof why);
        c->fatal = true;
        char raw[512];
        snprintf(raw, sizeof raw, "kafka consumer: fatal error: %s", why);
        th__kafka_redact(c->props, raw, c->fatal_msg, sizeof c->fatal_msg);
        return;
    }
    c->st.errors++;
    consumer_log(c, "kafka consumer: %s", reason);
}

static struct th_kafka_part *find_part(struct th_kafka_consumer *c, const char *topic,
                                       int32_t partition)
{
    if (c->last < c->nparts && c->parts[c->last]->partition == partition &&
        !strcmp(c->parts[c->last]->topic, topic))
        return c->parts[c->last];
    for (size_t i = 0; i < c->nparts; i++) {
        if (c->parts[i]->partition == partition && !strcmp(c->parts[i]->topic, topic)) {
            c->last = i;
            return c->parts[i];
        }
    }
    return NULL;
}

/* Releases and forgets the partitions marked leaving. */
static void drop_leaving(struct th_kafka_consumer *c)
{
    size_t o = 0;
    for (size_t i = 0; i < c->nparts; i++) {
        struct th_kafka_part *p = c->parts[i];
        if (!p->leaving) {
            c->parts[o++] = p;
            continue;
        }
        if (c->hooks.released)
            c->hooks.released(c->hooks.ctx, p);
        free(p->topic);
        free(p);
    }
    c->nparts = o;
    c->last = 0;
}

static void assign(struct th_kafka_consumer *c, rd_kafka_t *rk,
                   rd_kafka_topic_partition_list_t *list, bool coop)
{
    c->st.rebalances++;
    /* The group's committed offsets, for the pipeline to compare with its own state. */
    rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_copy(list);
    rd_kafka_resp_err_t qerr = q ? rd_kafka_committed(rk, q, 10000) : RD_KAFKA_RESP_ERR__FAIL;
    if (qerr)
        consumer_log(c, "kafka consumer: cannot fetch the committed offsets: %s",
                     rd_kafka_err2str(qerr));
    rd_kafka_topic_partition_list_t *refused = rd_kafka_topic_partition_list_new(1);
    for (int i = 0; i < list->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        struct th_kafka_part *p = calloc(1, sizeof *p);
        if (!p || !(p->topic = th__strdup(tp->topic)) ||
            th__grow((void **)&c->parts, &c->cap, c->nparts + 1, sizeof *c->parts) < 0) {
            if (p)
                free(p->topic);
            free(p);
            c->fatal = true;
            snprintf(c->fatal_msg, sizeof c->fatal_msg, "out of memory");
            break;
        }
        p->partition = tp->partition;
        p->next = -1;
        p->committed = -1;
        if (!qerr && q->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR && q->elems[i].offset >= 0)
            p->committed = q->elems[i].offset;
        c->parts[c->nparts++] = p;
        int64_t start = c->hooks.assigned ? c->hooks.assigned(c->hooks.ctx, p) : -1;
        if (start >= 0)
            tp->offset = start;
        else if (start < -1 && refused)
            rd_kafka_topic_partition_list_add(refused, tp->topic, tp->partition);
    }
    if (q)
        rd_kafka_topic_partition_list_destroy(q);
    if (coop) {
        rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, list);
        if (e) {
            consumer_log(c, "kafka consumer: assign: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else {
        rd_kafka_resp_err_t e = rd_kafka_assign(rk, list);
        if (e)
            consumer_log(c, "kafka consumer: assign: %s", rd_kafka_err2str(e));
    }
    if (c->paused)
        rd_kafka_pause_partitions(rk, list);
    else if (refused && refused->cnt)
        rd_kafka_pause_partitions(rk, refused);
    if (refused)
        rd_kafka_topic_partition_list_destroy(refused);
}

static void revoke(struct th_kafka_consumer *c, rd_kafka_t *rk,
                   rd_kafka_topic_partition_list_t *list, bool coop, bool lost)
{
    for (size_t i = 0; i < c->nparts; i++) {
        struct th_kafka_part *p = c->parts[i];
        p->leaving = !list;
        for (int k = 0; list && k < list->cnt && !p->leaving; k++)
            p->leaving = list->elems[k].partition == p->partition &&
                         !strcmp(list->elems[k].topic, p->topic);
    }
    bool durable = c->hooks.revoking ? c->hooks.revoking(c->hooks.ctx, lost) : false;
    if (durable && !lost) {
        struct th_err err = {0};
        if (th__kafka_consumer_commit(c, true, &err) < 0)
            consumer_log(c, "kafka consumer: commit before the partitions go failed: %s; "
                            "their next owner reads again from the previous commit (same "
                            "signals, same ids)",
                         err.msg);
    }
    drop_leaving(c);
    if (coop && list) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, list);
        if (e) {
            consumer_log(c, "kafka consumer: unassign: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *list, void *opaque)
{
    struct th_kafka_consumer *c = opaque;
    bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        assign(c, rk, list, coop);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        revoke(c, rk, list, coop, rd_kafka_assignment_lost(rk) != 0);
    } else {
        consumer_log(c, "kafka consumer: rebalance failed: %s", rd_kafka_err2str(err));
        revoke(c, rk, NULL, false, true);
    }
}

static int set(rd_kafka_conf_t *conf, const char *key, const char *value, struct th_err *err)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        return th__err(err, TH_ECONFIG, NULL, "kafka: %s: %s", key, errstr);
    return 0;
}

int th__kafka_consumer_new(const struct th_kafka_url *url, const struct th_kafka_props *props,
                           const struct th_kafka_hooks *hooks, struct th_kafka_consumer **out,
                           struct th_err *err)
{
    *out = NULL;
    struct th_kafka_consumer *c = calloc(1, sizeof *c);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!c || !conf) {
        free(c);
        if (conf)
            rd_kafka_conf_destroy(conf);
        return th__err(err, TH_ENOMEM, NULL, "out of memory");
    }
    c->props = props;
    c->hooks = *hooks;
    const char *reset = url->offset_set ? (url->latest ? "latest" : "earliest")
                                        : th__kafka_props_get(props, "auto.offset.reset");
    int rc;
    if ((rc = set(conf, "client.id", "trailhound", err)) < 0 ||
        (rc = set(conf, "partition.assignment.strategy", "cooperative-sticky", err)) < 0 ||
        (rc = th__kafka_conf_apply(conf, props, err)) < 0 ||
        (rc = set(conf, "bootstrap.servers", url->brokers, err)) < 0 ||
        (rc = set(conf, "group.id", url->group, err)) < 0 ||
        (rc = set(conf, "auto.offset.reset", reset ? reset : "earliest", err)) < 0 ||
        (rc = set(conf, "enable.auto.commit", "false", err)) < 0 ||
        (rc = set(conf, "enable.auto.offset.store", "false", err)) < 0 ||
        (rc = set(conf, "enable.partition.eof", "true", err)) < 0 ||
        (rc = set(conf, "log.queue", "true", err)) < 0) {
        rd_kafka_conf_destroy(conf);
        free(c);
        return rc;
    }
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    char errstr[512], safe[512];
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        free(c);
        return th__err(err, TH_ECONFIG, NULL, "kafka consumer: %s",
                       th__kafka_redact(props, errstr, safe, sizeof safe));
    }
    rd_kafka_set_log_queue(c->rk, NULL);
    rd_kafka_poll_set_consumer(c->rk);
    rd_kafka_topic_partition_list_t *topics =
        rd_kafka_topic_partition_list_new((int)url->ntopics);
    for (size_t i = 0; topics && i < url->ntopics; i++)
        rd_kafka_topic_partition_list_add(topics, url->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = topics ? rd_kafka_subscribe(c->rk, topics) : RD_KAFKA_RESP_ERR__FAIL;
    if (topics)
        rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        th__kafka_consumer_free(c);
        return th__err(err, TH_EIO, NULL, "kafka consumer: cannot subscribe: %s",
                       rd_kafka_err2str(e));
    }
    *out = c;
    return 0;
}

int th__kafka_consumer_poll(struct th_kafka_consumer *c, int timeout_ms, th_kafka_msg_fn fn,
                            void *ctx, struct th_err *err)
{
    rd_kafka_message_t *m = c->fatal ? NULL : rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (c->fatal) {
        if (m)
            rd_kafka_message_destroy(m);
        return th__err(err, TH_EIO, NULL, "%s", c->fatal_msg);
    }
    if (!m)
        return 0;
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : NULL;
    struct th_kafka_part *p = topic ? find_part(c, topic, m->partition) : NULL;
    int handed = 0;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (p)
            p->eof = true;
    } else if (m->err) {
        c->st.errors++;
        if (topic)
            consumer_log(c, "kafka consumer: %s [%d]: %s", topic, (int)m->partition,
                 rd_kafka_message_errstr(m));
        else
            consumer_log(c, "kafka consumer: %s", rd_kafka_message_errstr(m));
    } else if (p && p->user && !p->leaving) {
        rd_kafka_timestamp_type_t tt;
        int64_t ts = rd_kafka_message_timestamp(m, &tt);
        struct th_kafka_msg km = {m->payload, m->len, p, m->offset,
                                  tt == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts};
        p->eof = false;
        fn(ctx, &km);
        p->next = m->offset + 1;
        c->st.messages++;
        handed = 1;
    }
    rd_kafka_message_destroy(m);
    return handed;
}

int th__kafka_consumer_commit(struct th_kafka_consumer *c, bool only_leaving,
                              struct th_err *err)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)c->nparts + 1);
    if (!list)
        return th__err(err, TH_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < c->nparts; i++) {
        struct th_kafka_part *p = c->parts[i];
        if ((!only_leaving || p->leaving) && p->next >= 0 && p->next > p->committed)
            rd_kafka_topic_partition_list_add(list, p->topic, p->partition)->offset = p->next;
    }
    int n = list->cnt;
    if (n == 0) {
        rd_kafka_topic_partition_list_destroy(list);
        return 0;
    }
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, list, 0);
    if (e) {
        c->st.commit_errors++;
        rd_kafka_topic_partition_list_destroy(list);
        return th__err(err, TH_EIO, NULL, "%s", rd_kafka_err2str(e));
    }
    int done = 0;
    for (int i = 0; i < list->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        struct th_kafka_part *p = find_part(c, tp->topic, tp->partition);
        if (p && tp->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            p->committed = tp->offset;
            done++;
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (done < n) {
        c->st.commit_errors++;
        return th__err(err, TH_EIO, NULL, "%d of %d partitions could not be committed",
                       n - done, n);
    }
    c->st.commits++;
    return done;
}

void th__kafka_consumer_pause(struct th_kafka_consumer *c, bool pause)
{
    if (c->paused == pause)
        return;
    c->paused = pause;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)c->nparts + 1);
    if (!list)
        return;
    for (size_t i = 0; i < c->nparts; i++)
        rd_kafka_topic_partition_list_add(list, c->parts[i]->topic, c->parts[i]->partition);
    if (pause)
        rd_kafka_pause_partitions(c->rk, list);
    else
        rd_kafka_resume_partitions(c->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
}

bool th__kafka_consumer_paused(const struct th_kafka_consumer *c)
{
    return c->paused;
}

size_t th__kafka_consumer_nparts(const struct th_kafka_consumer *c)
{
    return c->nparts;
}

struct th_kafka_part *th__kafka_consumer_part(struct th_kafka_consumer *c, size_t i)
{
    return i < c->nparts ? c->parts[i] : NULL;
}

int64_t th__kafka_consumer_lag(struct th_kafka_consumer *c, const struct th_kafka_part *p)
{
    if (p->eof)
        return 0;
    int64_t lo = -1, hi = -1;
    if (rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &lo, &hi) ||
        hi < 0)
        return -1;
    int64_t pos = p->next >= 0 ? p->next : p->committed;
    if (pos < 0)
        return -1;
    return hi > pos ? hi - pos : 0;
}

bool th__kafka_consumer_at_end(const struct th_kafka_consumer *c)
{
    if (!c->nparts)
        return false;
    for (size_t i = 0; i < c->nparts; i++)
        if (!c->parts[i]->eof)
            return false;
    return true;
}

void th__kafka_consumer_stats(const struct th_kafka_consumer *c,
                              struct th_kafka_consumer_stats *out)
{
    *out = c->st;
}

void th__kafka_consumer_close(struct th_kafka_consumer *c)
{
    if (!c || c->closed)
        return;
    c->closed = true;
    rd_kafka_resp_err_t e = rd_kafka_consumer_close(c->rk);
    if (e)
        consumer_log(c, "kafka consumer: close: %s", rd_kafka_err2str(e));
    /* Partitions the close did not revoke (it always should) go without a commit. */
    for (size_t i = 0; i < c->nparts; i++)
        c->parts[i]->leaving = true;
    drop_leaving(c);
}

void th__kafka_consumer_free(struct th_kafka_consumer *c)
{
    if (!c)
        return;
    th__kafka_consumer_close(c);
    rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    free(c->parts);
    free(c);
}
