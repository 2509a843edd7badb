/*
 * test_source_kafka.c - the Kafka source (engine/source_kafka.c): kafka:// URL parsing,
 * -X properties (replacement, refusals, secrets, redaction, applying them to librdkafka),
 * and the group consumer against librdkafka's mock cluster in this process: messages with
 * their partitions and offsets, commits, pause and resume, lag and end of partitions, the
 * rebalance hooks (a start offset chosen by the pipeline, commits only when it says its
 * work is durable).
 */
#include "source_kafka.h"

#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

static void url_ok(const char *s, enum th_kafka_url_kind kind, const char *brokers,
                   const char *topics, const char *group, bool latest)
{
    struct th_kafka_url u;
    struct th_err err = {0};
    int rc = th__kafka_url_parse(s, kind, &u, &err);
    CHECK_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "  %s: %s\n", s, err.msg);
        return;
    }
    CHECK_STR(u.brokers, brokers);
    char all[512] = "";
    for (size_t i = 0; i < u.ntopics; i++)
        snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", i ? "," : "", u.topics[i]);
    CHECK_STR(all, topics);
    if (group)
        CHECK_STR(u.group, group);
    else
        CHECK(u.group == NULL);
    CHECK_INT(u.latest, latest);
    th__kafka_url_fini(&u);
}

static void url_bad(const char *s, enum th_kafka_url_kind kind, const char *want)
{
    struct th_kafka_url u;
    struct th_err err = {0};
    CHECK_INT(th__kafka_url_parse(s, kind, &u, &err), TH_ECONFIG);
    CHECK_CONTAINS(err.msg, want);
    CHECK(u.brokers == NULL && u.topics == NULL && u.group == NULL);
}

static void test_urls(void)
{
    CHECK(th__kafka_is_url("kafka://x"));
    CHECK(!th__kafka_is_url("kafka:/x"));
    CHECK(!th__kafka_is_url(NULL));
    url_ok("kafka://b1:9092/cloudtrail?group=th", TH_KAFKA_SOURCE, "b1:9092", "cloudtrail", "th",
           false);
    url_ok("kafka://b1:9092,10.0.0.2:19092,[::1]:9093/a,b.c,d_e-f?group=g&offset=latest",
           TH_KAFKA_SOURCE, "b1:9092,10.0.0.2:19092,[::1]:9093", "a,b.c,d_e-f", "g", true);
    url_ok("kafka://h:1/t?offset=earliest&group=a%2Fb%20c", TH_KAFKA_SOURCE, "h:1", "t", "a/b c",
           false);
    url_ok("kafka://h:65535/signals", TH_KAFKA_OUTPUT, "h:65535", "signals", NULL, false);
    struct th_kafka_url u;
    CHECK_INT(th__kafka_url_parse("kafka://h:1/t?group=g&offset=latest", TH_KAFKA_SOURCE, &u,
                                  NULL), 0);
    CHECK(u.offset_set);
    th__kafka_url_fini(&u);
    CHECK_INT(th__kafka_url_parse("kafka://h:1/t?group=g", TH_KAFKA_SOURCE, &u, NULL), 0);
    CHECK(!u.offset_set);
    th__kafka_url_fini(&u);

    url_bad("http://h:1/t?group=g", TH_KAFKA_SOURCE, "is not a Kafka URL");
    url_bad("kafka://h:1/t", TH_KAFKA_SOURCE, "a consumer group is required");
    url_bad("kafka://h:1/t?group=", TH_KAFKA_SOURCE, "the group must be a name");
    url_bad("kafka://h:1/t?group=%zz", TH_KAFKA_SOURCE, "the group must be a name");
    url_bad("kafka://h:1/t?group=%00", TH_KAFKA_SOURCE, "the group must be a name");
    url_bad("kafka://h:1/t?group=a&group=b", TH_KAFKA_SOURCE, "unknown or repeated parameter");
    url_bad("kafka://h:1/t?group=a&offset=latest&offset=latest", TH_KAFKA_SOURCE, "repeated");
    url_bad("kafka://h:1/t?group=a&offset=end", TH_KAFKA_SOURCE, "offset is earliest or latest");
    url_bad("kafka://h:1/t?group=a&acks=1", TH_KAFKA_SOURCE,
            "unknown or repeated parameter 'acks=1'");
    url_bad("kafka://h:1", TH_KAFKA_SOURCE, "expected brokers and a topic");
    url_bad("kafka:///t?group=g", TH_KAFKA_SOURCE, "expected brokers and a topic");
    url_bad("kafka://h/t?group=g", TH_KAFKA_SOURCE, "'h' is not HOST:PORT");
    url_bad("kafka://h:/t?group=g", TH_KAFKA_SOURCE, "is not HOST:PORT");
    url_bad("kafka://h:0/t?group=g", TH_KAFKA_SOURCE, "is not HOST:PORT");
    url_bad("kafka://h:65536/t?group=g", TH_KAFKA_SOURCE, "is not HOST:PORT");
    url_bad("kafka://h:12a/t?group=g", TH_KAFKA_SOURCE, "is not HOST:PORT");
    url_bad("kafka://h:1,/t?group=g", TH_KAFKA_SOURCE, "is not HOST:PORT");
    url_bad("kafka://[::1/t?group=g", TH_KAFKA_SOURCE, "is not HOST:PORT");
    url_bad("kafka://[]:1/t?group=g", TH_KAFKA_SOURCE, "is not HOST:PORT");
    url_bad("kafka://us er:1/t?group=g", TH_KAFKA_SOURCE, "is not HOST:PORT");
    url_bad("kafka://h:1/?group=g", TH_KAFKA_SOURCE, "is not a topic name");
    url_bad("kafka://h:1/a,,b?group=g", TH_KAFKA_SOURCE, "'' is not a topic name");
    url_bad("kafka://h:1/a,?group=g", TH_KAFKA_SOURCE, "is not a topic name");
    url_bad("kafka://h:1/..?group=g", TH_KAFKA_SOURCE, "is not a topic name");
    url_bad("kafka://h:1/a/b?group=g", TH_KAFKA_SOURCE, "is not a topic name");
    char longt[300] = "kafka://h:1/";
    memset(longt + 12, 'a', 250);
    strcpy(longt + 262, "?group=g");
    url_bad(longt, TH_KAFKA_SOURCE, "at most 249");
    url_bad("kafka://h:1/a,b", TH_KAFKA_OUTPUT, "signals go to one topic");
    url_bad("kafka://h:1/a?group=g", TH_KAFKA_OUTPUT, "an output URL takes no parameters");
}

static void test_props(void)
{
    struct th_kafka_props p;
    th__kafka_props_init(&p);
    struct th_err err = {0};
    CHECK_INT(th__kafka_props_add(&p, "security.protocol=SASL_SSL", &err), 0);
    CHECK_INT(th__kafka_props_add(&p, "sasl.password=s3cr=t", &err), 0);
    CHECK_INT(th__kafka_props_add(&p, "client.id=", &err), 0);
    CHECK_INT(th__kafka_props_add(&p, "security.protocol=SSL", &err), 0); /* replaces */
    CHECK_INT(p.n, 3);
    CHECK_STR(th__kafka_props_get(&p, "security.protocol"), "SSL");
    CHECK_STR(th__kafka_props_get(&p, "sasl.password"), "s3cr=t");
    CHECK_STR(th__kafka_props_get(&p, "client.id"), "");
    CHECK(th__kafka_props_get(&p, "nope") == NULL);
    CHECK(th__kafka_props_get(NULL, "nope") == NULL);

    CHECK_INT(th__kafka_props_add(&p, "sasl.password", &err), TH_ECONFIG);
    CHECK_CONTAINS(err.msg, "expected KEY=VALUE");
    CHECK_INT(th__kafka_props_add(&p, "=value", &err), TH_ECONFIG);
    CHECK(!strstr(err.msg, "value"));
    CHECK_INT(th__kafka_props_add(&p, "sasl password=x", &err), TH_ECONFIG);
    CHECK_CONTAINS(err.msg, "is not a property name");
    static const char *const owned[] = {"bootstrap.servers=h:1", "metadata.broker.list=h:1",
                                        "group.id=x", "enable.auto.commit=true",
                                        "enable.auto.offset.store=true",
                                        "enable.idempotence=false", "transactional.id=t"};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
        memset(&err, 0, sizeof err);
        CHECK_INT(th__kafka_props_add(&p, owned[i], &err), TH_ECONFIG);
        CHECK_CONTAINS(err.msg, "not settable");
    }
    CHECK_INT(p.n, 3);

    CHECK(th__kafka_prop_is_secret("sasl.password"));
    CHECK(th__kafka_prop_is_secret("ssl.key.password"));
    CHECK(th__kafka_prop_is_secret("ssl.keystore.password"));
    CHECK(th__kafka_prop_is_secret("ssl.key.pem"));
    CHECK(th__kafka_prop_is_secret("sasl.oauthbearer.client.secret"));
    CHECK(th__kafka_prop_is_secret("sasl.oauthbearer.config"));
    CHECK(!th__kafka_prop_is_secret("sasl.username"));
    CHECK(!th__kafka_prop_is_secret("ssl.key.location"));
    CHECK(!th__kafka_prop_is_secret("security.protocol"));

    /* Redaction: every occurrence of a secret's value; short values and non-secrets stay. */
    CHECK_INT(th__kafka_props_add(&p, "ssl.key.password=hunter2", &err), 0);
    CHECK_INT(th__kafka_props_add(&p, "ssl.keystore.password=abc", &err), 0);
    char buf[128];
    CHECK_STR(th__kafka_redact(&p, "auth hunter2 failed (hunter2) for SSL abc", buf, sizeof buf),
              "auth *** failed (***) for SSL abc");
    CHECK_STR(th__kafka_redact(&p, "x s3cr=t y", buf, sizeof buf), "x *** y");
    CHECK_STR(th__kafka_redact(&p, "hunter", buf, sizeof buf), "hunter");
    CHECK_STR(th__kafka_redact(&p, "hunter2hunter2", buf, 8), "******");
    CHECK_STR(th__kafka_redact(&p, "abcdefgh", buf, 4), "abc");
    CHECK_STR(th__kafka_redact(NULL, "hunter2", buf, sizeof buf), "hunter2");
    CHECK(th__kafka_redact(&p, "x", buf, 0) == buf);

    /* Applying: librdkafka's own reasons, never a secret's value. */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    CHECK_INT(th__kafka_conf_apply(conf, &p, &err), 0);
    char v[64];
    size_t vlen = sizeof v;
    CHECK(rd_kafka_conf_get(conf, "security.protocol", v, &vlen) == RD_KAFKA_CONF_OK);
    CHECK_STR(v, "ssl");
    struct th_kafka_props bad;
    th__kafka_props_init(&bad);
    CHECK_INT(th__kafka_props_add(&bad, "no.such.thing=1", &err), 0);
    CHECK_INT(th__kafka_conf_apply(conf, &bad, &err), TH_ECONFIG);
    CHECK_STR(err.msg, "-X no.such.thing: not a librdkafka property");
    th__kafka_props_fini(&bad);
    th__kafka_props_init(&bad);
    CHECK_INT(th__kafka_props_add(&bad, "security.protocol=pigeon", &err), 0);
    CHECK_INT(th__kafka_conf_apply(conf, &bad, &err), TH_ECONFIG);
    CHECK_CONTAINS(err.msg, "-X security.protocol: ");
    CHECK_CONTAINS(err.msg, "pigeon"); /* not a secret: librdkafka's words as they are */
    th__kafka_props_fini(&bad);
    th__kafka_props_init(&bad);
    /* ssl_key is settable only through a dedicated call: librdkafka refuses it. */
    CHECK_INT(th__kafka_props_add(&bad, "ssl_key=hunter3", &err), 0);
    CHECK_INT(th__kafka_conf_apply(conf, &bad, &err), TH_ECONFIG);
    CHECK_STR(err.msg, "-X ssl_key: invalid value (not shown: it is a secret)");
    th__kafka_props_fini(&bad);
    rd_kafka_conf_destroy(conf);

    CHECK(th__kafka_log_is_noise("CONFWARN", "Configuration property fetch.wait.max.ms is a "
                                             "consumer property and will be ignored by this "
                                             "producer instance"));
    CHECK(!th__kafka_log_is_noise("CONFWARN", "something else"));
    CHECK(!th__kafka_log_is_noise("FAIL", "will be ignored by this"));
    CHECK(!th__kafka_log_is_noise(NULL, "x"));
    th__kafka_props_fini(&p);
    CHECK_INT(p.n, 0);
}

/* ---- the consumer against a mock cluster ---------------------------------------------- */

struct hk {
    int assigned, released, revoking, lost;
    bool durable;             /* what revoking answers */
    int64_t start[2];         /* what assigned answers, per partition */
    int64_t committed_seen[2];
    int user[2];
    char log[2048];
};

static int64_t hk_assigned(void *ctx, struct th_kafka_part *p)
{
    struct hk *h = ctx;
    h->assigned++;
    p->user = &h->user[p->partition];
    h->committed_seen[p->partition] = p->committed;
    return h->start[p->partition];
}

static bool hk_revoking(void *ctx, bool lost)
{
    struct hk *h = ctx;
    h->revoking++;
    h->lost += lost;
    return h->durable;
}

static void hk_released(void *ctx, struct th_kafka_part *p)
{
    struct hk *h = ctx;
    h->released++;
    CHECK(p->leaving);
    CHECK(p->user == &h->user[p->partition]);
    p->user = NULL;
}

static void hk_log(void *ctx, const char *msg)
{
    struct hk *h = ctx;
    size_t l = strlen(h->log);
    snprintf(h->log + l, sizeof h->log - l, "%s\n", msg);
}

struct got {
    int n;
    int64_t offset[64];
    int32_t partition[64];
    char payload[64][16];
    int64_t ts[64];
};

static void on_msg(void *ctx, const struct th_kafka_msg *m)
{
    struct got *g = ctx;
    if (g->n >= 64)
        return;
    g->offset[g->n] = m->offset;
    g->partition[g->n] = m->part->partition;
    g->ts[g->n] = m->timestamp_ms;
    snprintf(g->payload[g->n], sizeof g->payload[0], "%.*s", (int)m->len, (const char *)m->data);
    g->n++;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Polls until want messages came (or the end, or 30 s). */
static void poll_until(struct th_kafka_consumer *c, struct got *g, int want, bool until_end)
{
    double deadline = now_s() + 30;
    while (now_s() < deadline && (g->n < want || (until_end && !th__kafka_consumer_at_end(c))))
        CHECK(th__kafka_consumer_poll(c, 100, on_msg, g, NULL) >= 0);
}

static void produce(const char *bootstraps, int32_t partition, const char *payload)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, NULL, 0);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, NULL, 0);
    CHECK(p != NULL);
    if (!p)
        return;
    CHECK_INT(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("t"), RD_KAFKA_V_PARTITION(partition),
                                RD_KAFKA_V_VALUE((void *)payload, strlen(payload)),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
              0);
    CHECK_INT(rd_kafka_flush(p, 10000), 0);
    rd_kafka_destroy(p);
}

static void test_consumer(void)
{
    rd_kafka_conf_t *mconf = rd_kafka_conf_new();
    rd_kafka_conf_set(mconf, "log_level", "4", NULL, 0); /* the cluster's own handle needs no
                                                           brokers: no notice about it */
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, NULL, 0);
    rd_kafka_mock_cluster_t *mc = mrk ? rd_kafka_mock_cluster_new(mrk, 1) : NULL;
    CHECK(mc != NULL);
    if (!mc)
        return;
    CHECK_INT(rd_kafka_mock_topic_create(mc, "t", 2, 1), 0);
    const char *boot = rd_kafka_mock_cluster_bootstraps(mc);
    for (int i = 0; i < 5; i++) {
        char msg[16];
        snprintf(msg, sizeof msg, "p0-%d", i);
        produce(boot, 0, msg);
    }
    produce(boot, 1, "p1-0");
    produce(boot, 1, "p1-1");

    char url_s[300];
    snprintf(url_s, sizeof url_s, "kafka://%s/t?group=unit", boot);
    struct th_kafka_url url;
    CHECK_INT(th__kafka_url_parse(url_s, TH_KAFKA_SOURCE, &url, NULL), 0);
    struct th_kafka_props props;
    th__kafka_props_init(&props);
    th__kafka_props_add(&props, "session.timeout.ms=4000", NULL);
    th__kafka_props_add(&props, "heartbeat.interval.ms=300", NULL);
    /* A producer property on a consumer: librdkafka's warning is dropped as noise. */
    th__kafka_props_add(&props, "linger.ms=1", NULL);

    struct hk h = {0};
    h.start[0] = h.start[1] = -1;
    h.durable = true;
    struct th_kafka_hooks hooks = {&h, hk_assigned, hk_revoking, hk_released, hk_log};
    struct th_kafka_consumer *c = NULL;
    struct th_err err = {0};
    CHECK_INT(th__kafka_consumer_new(&url, &props, &hooks, &c, &err), 0);
    if (!c)
        goto out;
    struct got g = {0};
    poll_until(c, &g, 7, true);
    CHECK_INT(g.n, 7);
    CHECK_INT(h.assigned, 2);
    CHECK_INT(h.committed_seen[0], -1); /* a new group */
    CHECK_INT(th__kafka_consumer_nparts(c), 2);
    CHECK(th__kafka_consumer_at_end(c));
    int seen0 = 0;
    for (int i = 0; i < g.n; i++) {
        if (g.partition[i] == 0) {
            char want[16];
            snprintf(want, sizeof want, "p0-%d", seen0);
            CHECK_STR(g.payload[i], want);
            CHECK_INT(g.offset[i], seen0);
            seen0++;
        }
        CHECK(g.ts[i] > 1600000000000LL); /* CreateTime, ms */
    }
    CHECK_INT(seen0, 5);
    for (size_t i = 0; i < th__kafka_consumer_nparts(c); i++) {
        struct th_kafka_part *p = th__kafka_consumer_part(c, i);
        CHECK_INT(p->next, p->partition == 0 ? 5 : 2);
        CHECK_INT(p->committed, -1);
        CHECK_INT(th__kafka_consumer_lag(c, p), 0);
    }
    CHECK(th__kafka_consumer_part(c, 2) == NULL);
    struct th_kafka_consumer_stats st;
    th__kafka_consumer_stats(c, &st);
    CHECK_INT(st.messages, 7);
    CHECK_INT(st.rebalances, 1);

    /* Commits: both partitions, then nothing left to commit. */
    CHECK_INT(th__kafka_consumer_commit(c, false, &err), 2);
    CHECK_INT(th__kafka_consumer_commit(c, false, &err), 0);
    CHECK_INT(th__kafka_consumer_part(c, 0)->committed, th__kafka_consumer_part(c, 0)->next);
    th__kafka_consumer_stats(c, &st);
    CHECK_INT(st.commits, 1);

    /* Paused: nothing comes; resumed: it comes from where the partition stood. */
    th__kafka_consumer_pause(c, true);
    CHECK(th__kafka_consumer_paused(c));
    produce(boot, 0, "p0-5");
    int before = g.n;
    double until = now_s() + 1.5;
    while (now_s() < until)
        th__kafka_consumer_poll(c, 100, on_msg, &g, NULL);
    CHECK_INT(g.n, before);
    th__kafka_consumer_pause(c, false);
    CHECK(!th__kafka_consumer_paused(c));
    poll_until(c, &g, before + 1, false);
    CHECK_INT(g.n, before + 1);
    CHECK_STR(g.payload[before], "p0-5");
    CHECK_INT(g.offset[before], 5);
    CHECK(!th__kafka_consumer_at_end(c) || th__kafka_consumer_part(c, 0)->eof);

    /* Leaving: the hooks are asked; durable, so the partitions are committed first. */
    th__kafka_consumer_close(c);
    CHECK_INT(h.revoking, 1);
    CHECK_INT(h.lost, 0);
    CHECK_INT(h.released, 2);
    CHECK_INT(th__kafka_consumer_nparts(c), 0);
    th__kafka_consumer_close(c); /* twice is harmless */
    th__kafka_consumer_free(c);
    CHECK(!strstr(h.log, "linger.ms"));

    /* A second member of the group sees the commits; the pipeline chooses where partition
     * 0 starts (offset 2, as from a state snapshot); not durable: nothing is committed. */
    struct hk h2 = {0};
    h2.start[0] = 2;
    h2.start[1] = -1;
    h2.durable = false;
    hooks.ctx = &h2;
    c = NULL;
    CHECK_INT(th__kafka_consumer_new(&url, &props, &hooks, &c, &err), 0);
    if (!c)
        goto out;
    struct got g2 = {0};
    poll_until(c, &g2, 4, true);
    CHECK_INT(h2.committed_seen[0], 6);
    CHECK_INT(h2.committed_seen[1], 2);
    CHECK_INT(g2.n, 4); /* p0-2 .. p0-5 */
    CHECK_STR(g2.payload[0], "p0-2");
    CHECK_INT(g2.offset[0], 2);
    th__kafka_consumer_free(c); /* closes */
    CHECK_INT(h2.revoking, 1);
    CHECK_INT(h2.released, 2);

    /* So the group's offsets are still those of the first member. */
    rd_kafka_conf_t *qconf = rd_kafka_conf_new();
    rd_kafka_conf_set(qconf, "bootstrap.servers", boot, NULL, 0);
    rd_kafka_conf_set(qconf, "group.id", "unit", NULL, 0);
    rd_kafka_t *q = rd_kafka_new(RD_KAFKA_CONSUMER, qconf, NULL, 0);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(l, "t", 0);
    rd_kafka_topic_partition_list_add(l, "t", 1);
    CHECK_INT(rd_kafka_committed(q, l, 10000), 0);
    CHECK_INT(l->elems[0].offset, 6);
    CHECK_INT(l->elems[1].offset, 2);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(q);
out:
    th__kafka_consumer_free(NULL);
    th__kafka_props_fini(&props);
    th__kafka_url_fini(&url);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
}

static void test_consumer_errors(void)
{
    struct th_kafka_url url;
    CHECK_INT(th__kafka_url_parse("kafka://127.0.0.1:1/t?group=g", TH_KAFKA_SOURCE, &url, NULL), 0);
    struct th_kafka_props props;
    th__kafka_props_init(&props);
    th__kafka_props_add(&props, "fetch.wait.max.ms=bogus", NULL);
    struct hk h = {0};
    struct th_kafka_hooks hooks = {&h, hk_assigned, hk_revoking, hk_released, hk_log};
    struct th_kafka_consumer *c = (struct th_kafka_consumer *)1;
    struct th_err err = {0};
    CHECK_INT(th__kafka_consumer_new(&url, &props, &hooks, &c, &err), TH_ECONFIG);
    CHECK(c == NULL);
    CHECK_CONTAINS(err.msg, "fetch.wait.max.ms");
    th__kafka_props_fini(&props);
    th__kafka_url_fini(&url);
}

int main(void)
{
    test_urls();
    test_props();
    test_consumer_errors();
    test_consumer();
    return CHECK_DONE();
}
