/*
 * output_kafka.c - the idempotent signal producer.
 *
 * State: every signal handed to send lives in a record of this module until its delivery
 * is reported: records in flight (given to librdkafka, which points into the record's
 * bytes instead of copying them) and records waiting to be sent again (a failed delivery,
 * a full queue, a producer restarted after a fatal error). A failed delivery moves its
 * record to the retry list; the list is sent again after a back-off that doubles from
 * 250 ms to 5 s while deliveries keep failing. The back-off uses the monotonic clock; it
 * has nothing to do with event time.
 *
 * Ignored: message partitioning (librdkafka's default partitioner hashes the key, so a
 * signal id always lands in the same partition) and headers.
 */
#include "output_kafka.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#define BACKOFF_MIN 0.25
#define BACKOFF_MAX 5.0

/* One signal: the key and the value follow the struct. */
struct rec {
    struct rec *prev, *next;
    int64_t origin_ms;
    size_t klen, vlen;
    char bytes[];
};

struct list {
    struct rec *head, *tail;
    size_t n;
};

struct th_kafka_producer {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    rd_kafka_conf_t *tpl; /* the configuration, for a restart after a fatal error */
    char *topic;
    const struct th_kafka_props *props;
    struct th_kafka_producer_hooks hooks;
    struct list inflight, retry;
    double retry_at, backoff;
    bool stalled;
    bool reported; /* the current outage was reported */
    bool fatal;
    struct th_kafka_producer_stats st;
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void list_push(struct list *l, struct rec *r)
{
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
    l->n++;
}

static void list_remove(struct list *l, struct rec *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        l->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        l->tail = r->prev;
    l->n--;
}

static void list_free(struct list *l)
{
    for (struct rec *r = l->head, *n; r; r = n) {
        n = r->next;
        free(r);
    }
    memset(l, 0, sizeof *l);
}

static void plog(struct th_kafka_producer *p, const char *fmt, ...) TH_PRINTF(2, 3);
static void plog(struct th_kafka_producer *p, const char *fmt, ...)
{
    if (!p->hooks.log)
        return;
    char raw[1024], msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    p->hooks.log(p->hooks.ctx, th__kafka_redact(p->props, raw, msg, sizeof msg));
}

/* The first failure of an outage is reported; the rest are counted. */
static void outage(struct th_kafka_producer *p, const char *why)
{
    p->stalled = true;
    if (p->reported)
        return;
    p->reported = true;
    plog(p, "kafka output: %s: %s; the signals are kept and sent again until the topic takes "
            "them", p->topic, why);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct th_kafka_producer *p = opaque;
    struct rec *r = m->_private;
    if (!r)
        return;
    list_remove(&p->inflight, r);
    if (m->err) {
        p->st.errors++;
        outage(p, rd_kafka_err2str(m->err));
        list_push(&p->retry, r);
        return;
    }
    p->st.delivered++;
    p->backoff = BACKOFF_MIN;
    if (p->stalled && p->reported)
        plog(p, "kafka output: %s: deliveries resumed", p->topic);
    p->stalled = p->reported = false;
    if (p->hooks.delivered)
        p->hooks.delivered(p->hooks.ctx, r->origin_ms);
    free(r);
}

/* Warnings only: errors (levels 0-3) also come to error_cb, and are reported from there. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    struct th_kafka_producer *p = rd_kafka_opaque(rk);
    if (!p || level != LOG_WARNING || th__kafka_log_is_noise(fac, buf))
        return;
    plog(p, "kafka output: %s", buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct th_kafka_producer *p = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[400];
        rd_kafka_fatal_error(rk, why, sizeof why);
        plog(p, "kafka output: fatal producer error: %s; starting a new producer", why);
        p->fatal = true;
        return;
    }
    plog(p, "kafka output: %s", reason);
}

/* Hands r to librdkafka: in flight, or back to the retry list when it is refused. */
static bool produce(struct th_kafka_producer *p, struct rec *r)
{
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_RKT(p->rkt), RD_KAFKA_V_KEY(r->klen ? r->bytes : NULL, r->klen),
        RD_KAFKA_V_VALUE(r->bytes + r->klen, r->vlen), RD_KAFKA_V_OPAQUE(r), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
        list_push(&p->inflight, r);
        return true;
    }
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        p->stalled = true;
    else
        outage(p, rd_kafka_err2str(e));
    list_push(&p->retry, r);
    return false;
}

static void resend_due(struct th_kafka_producer *p)
{
    if (!p->retry.n || mono() < p->retry_at)
        return;
    while (p->retry.head) {
        struct rec *r = p->retry.head;
        list_remove(&p->retry, r);
        p->st.retries++;
        if (!produce(p, r)) {
            /* It went back to the end of the list; the rest waits for the next round. */
            p->st.retries--;
            break;
        }
    }
    p->retry_at = mono() + p->backoff;
    p->backoff = p->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : p->backoff * 2;
}

static int start(struct th_kafka_producer *p, struct th_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(p->tpl);
    if (!conf)
        return th__err(err, TH_ENOMEM, NULL, "out of memory");
    rd_kafka_conf_set_opaque(conf, p);
    char errstr[512], safe[512];
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        return th__err(err, TH_ECONFIG, NULL, "kafka output: %s",
                       th__kafka_redact(p->props, errstr, safe, sizeof safe));
    }
    rd_kafka_set_log_queue(p->rk, NULL);
    /* The topic's handle, taken now: librdkafka fetches its metadata (and the idempotent
     * producer its id) at once, not when the first signal comes. */
    p->rkt = rd_kafka_topic_new(p->rk, p->topic, NULL);
    if (!p->rkt) {
        rd_kafka_destroy(p->rk);
        p->rk = NULL;
        return th__err(err, TH_ECONFIG, NULL, "kafka output: %s: %s", p->topic,
                       rd_kafka_err2str(rd_kafka_last_error()));
    }
    return 0;
}

/* After a fatal error: everything not delivered goes to the retry list, and a new
 * producer (a new producer id) takes over. */
static void restart(struct th_kafka_producer *p)
{
    p->fatal = false;
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(p->rk, 0);
    rd_kafka_topic_destroy(p->rkt);
    p->rkt = NULL;
    rd_kafka_destroy(p->rk);
    p->rk = NULL;
    while (p->inflight.head) {
        struct rec *r = p->inflight.head;
        list_remove(&p->inflight, r);
        list_push(&p->retry, r);
    }
    p->st.restarts++;
    p->stalled = true;
    struct th_err err = {0};
    if (start(p, &err) < 0)
        plog(p, "%s", err.msg);
}

int th__kafka_producer_new(const struct th_kafka_url *url, const struct th_kafka_props *props,
                           const struct th_kafka_producer_hooks *hooks,
                           struct th_kafka_producer **out, struct th_err *err)
{
    *out = NULL;
    struct th_kafka_producer *p = calloc(1, sizeof *p);
    if (!p || !(p->topic = th__strdup(url->topics[0])) || !(p->tpl = rd_kafka_conf_new())) {
        if (p)
            free(p->topic);
        free(p);
        return th__err(err, TH_ENOMEM, NULL, "out of memory");
    }
    p->props = props;
    p->hooks = *hooks;
    p->backoff = BACKOFF_MIN;
    char errstr[512];
    int rc = 0;
    static const char *const defaults[][2] = {{"client.id", "trailhound"}};
    static const char *const forced[][2] = {{"enable.idempotence", "true"}, {"log.queue", "true"}};
    for (size_t i = 0; i < TH_ARRAY_LEN(defaults) && !rc; i++)
        if (rd_kafka_conf_set(p->tpl, defaults[i][0], defaults[i][1], errstr, sizeof errstr))
            rc = th__err(err, TH_ECONFIG, NULL, "kafka output: %s", errstr);
    if (!rc)
        rc = th__kafka_conf_apply(p->tpl, props, err);
    if (!rc && rd_kafka_conf_set(p->tpl, "bootstrap.servers", url->brokers, errstr, sizeof errstr))
        rc = th__err(err, TH_ECONFIG, NULL, "kafka output: %s", errstr);
    for (size_t i = 0; i < TH_ARRAY_LEN(forced) && !rc; i++)
        if (rd_kafka_conf_set(p->tpl, forced[i][0], forced[i][1], errstr, sizeof errstr))
            rc = th__err(err, TH_ECONFIG, NULL, "kafka output: %s", errstr);
    if (!rc) {
        rd_kafka_conf_set_log_cb(p->tpl, log_cb);
        rd_kafka_conf_set_error_cb(p->tpl, error_cb);
        rd_kafka_conf_set_dr_msg_cb(p->tpl, dr_cb);
        rc = start(p, err);
    }
    if (rc < 0) {
        th__kafka_producer_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int th__kafka_producer_send(struct th_kafka_producer *p, const char *key, size_t klen,
                            const void *val, size_t len, int64_t origin_ms)
{
    struct rec *r = malloc(sizeof *r + klen + len + 1);
    if (!r)
        return TH_ENOMEM;
    r->origin_ms = origin_ms;
    r->klen = klen;
    r->vlen = len;
    if (klen)
        memcpy(r->bytes, key, klen);
    memcpy(r->bytes + klen, val, len);
    p->st.sent++;
    if (p->retry.n || !p->rk) /* keep the order while a retry list waits */
        list_push(&p->retry, r);
    else
        produce(p, r);
    return 0;
}

size_t th__kafka_producer_poll(struct th_kafka_producer *p, int timeout_ms)
{
    double deadline = mono() + timeout_ms / 1000.0;
    for (;;) {
        if (p->fatal)
            restart(p);
        if (!p->rk)
            return p->inflight.n + p->retry.n;
        resend_due(p);
        double left = deadline - mono();
        int wait = left <= 0 ? 0 : left > 0.05 ? 50 : (int)(left * 1000) + 1;
        rd_kafka_poll(p->rk, p->inflight.n + p->retry.n ? wait : 0);
        if (!(p->inflight.n + p->retry.n) || mono() >= deadline)
            break;
    }
    return p->inflight.n + p->retry.n;
}

size_t th__kafka_producer_pending(const struct th_kafka_producer *p)
{
    return p->inflight.n + p->retry.n;
}

bool th__kafka_producer_stalled(const struct th_kafka_producer *p)
{
    return p->stalled;
}

void th__kafka_producer_stats(const struct th_kafka_producer *p,
                              struct th_kafka_producer_stats *out)
{
    *out = p->st;
}

void th__kafka_producer_free(struct th_kafka_producer *p)
{
    if (!p)
        return;
    if (p->rk) {
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_topic_destroy(p->rkt);
        rd_kafka_destroy(p->rk);
    }
    if (p->tpl)
        rd_kafka_conf_destroy(p->tpl);
    list_free(&p->inflight);
    list_free(&p->retry);
    free(p->topic);
    free(p);
}

size_t th__kafka_signal_key(const char *line, size_t len, char *buf, size_t size)
{
    if (!size)
        return 0;
    buf[0] = '\0';
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return 0;
    json_object *o = json_tokener_parse_ex(tok, line, (int)len);
    json_tokener_free(tok);
    json_object *v = NULL, *fi = NULL;
    if (o && !json_object_object_get_ex(o, "id", &v) &&
        json_object_object_get_ex(o, "finding_info", &fi))
        json_object_object_get_ex(fi, "uid", &v);
    size_t n = 0;
    if (v && json_object_is_type(v, json_type_string)) {
        n = (size_t)json_object_get_string_len(v);
        if (n >= size)
            n = 0;
        else
            memcpy(buf, json_object_get_string(v), n + 1);
    }
    json_object_put(o);
    return n;
}
