/*
 * test_output_kafka.c - the Kafka output (engine/output_kafka.c): the message key taken
 * from a signal line (JSON and OCSF), and the idempotent producer against librdkafka's
 * mock cluster in this process: deliveries reported with their origin, the key on every
 * message, and a topic without a leader: deliveries fail, the signals stay pending and
 * the producer says it is stalled, then every one is delivered once the leader is back.
 */
#include "output_kafka.h"

#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

static void test_key(void)
{
    char buf[64];
    const char *json = "{\"type\":\"signal\",\"id\":\"0123abcd\",\"status\":\"new\","
                       "\"rule\":{\"id\":\"r\"}}";
    CHECK_INT(th__kafka_signal_key(json, strlen(json), buf, sizeof buf), 8);
    CHECK_STR(buf, "0123abcd");
    const char *ocsf = "{\"activity_id\":1,\"class_uid\":2004,\"finding_info\":{\"uid\":\"feed42\","
                       "\"title\":\"t\"},\"metadata\":{\"uid\":\"x\"}}";
    CHECK_INT(th__kafka_signal_key(ocsf, strlen(ocsf), buf, sizeof buf), 6);
    CHECK_STR(buf, "feed42");
    /* Only the first len bytes count. */
    CHECK_INT(th__kafka_signal_key(json, 10, buf, sizeof buf), 0);
    CHECK_STR(buf, "");
    const char *noid = "{\"type\":\"signal\"}";
    CHECK_INT(th__kafka_signal_key(noid, strlen(noid), buf, sizeof buf), 0);
    const char *numid = "{\"id\":5}";
    CHECK_INT(th__kafka_signal_key(numid, strlen(numid), buf, sizeof buf), 0);
    CHECK_INT(th__kafka_signal_key("[1]", 3, buf, sizeof buf), 0);
    CHECK_INT(th__kafka_signal_key("garbage", 7, buf, sizeof buf), 0);
    CHECK_INT(th__kafka_signal_key(json, strlen(json), buf, 8), 0); /* does not fit */
    CHECK_INT(th__kafka_signal_key(json, strlen(json), buf, 9), 8);
    CHECK_INT(th__kafka_signal_key(json, strlen(json), buf, 0), 0);
}

struct seen {
    int delivered;
    int64_t origin_sum;
    char log[4096];
};

static void on_delivered(void *ctx, int64_t origin_ms)
{
    struct seen *s = ctx;
    s->delivered++;
    s->origin_sum += origin_ms;
}

static void on_log(void *ctx, const char *msg)
{
    struct seen *s = ctx;
    size_t l = strlen(s->log);
    snprintf(s->log + l, sizeof s->log - l, "%s\n", msg);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The messages of topic "sig" as "key=value" lines, sorted by nothing: in offset order. */
static int read_topic(const char *boot, char lines[][96], int max)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", boot, NULL, 0);
    rd_kafka_conf_set(conf, "group.id", "reader", NULL, 0);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, NULL, 0);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "sig", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    int n = 0;
    double deadline = now_s() + 20;
    while (n < max && now_s() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (!m->err)
            snprintf(lines[n++], 96, "%.*s=%.*s", (int)m->key_len, (const char *)m->key,
                     (int)m->len, (const char *)m->payload);
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return n;
}

static void test_producer(void)
{
    rd_kafka_conf_t *mconf = rd_kafka_conf_new();
    rd_kafka_conf_set(mconf, "log_level", "4", NULL, 0);
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, NULL, 0);
    rd_kafka_mock_cluster_t *mc = mrk ? rd_kafka_mock_cluster_new(mrk, 1) : NULL;
    CHECK(mc != NULL);
    if (!mc)
        return;
    CHECK_INT(rd_kafka_mock_topic_create(mc, "sig", 1, 1), 0);
    const char *boot = rd_kafka_mock_cluster_bootstraps(mc);
    char url_s[300];
    snprintf(url_s, sizeof url_s, "kafka://%s/sig", boot);
    struct th_kafka_url url;
    CHECK_INT(th__kafka_url_parse(url_s, TH_KAFKA_OUTPUT, &url, NULL), 0);
    struct th_kafka_props props;
    th__kafka_props_init(&props);
    th__kafka_props_add(&props, "message.timeout.ms=500", NULL);
    th__kafka_props_add(&props, "linger.ms=0", NULL);
    th__kafka_props_add(&props, "fetch.wait.max.ms=10", NULL); /* a consumer's: ignored */

    struct seen seen = {0};
    struct th_kafka_producer_hooks hooks = {&seen, on_delivered, on_log};
    struct th_kafka_producer *p = NULL;
    struct th_err err = {0};
    CHECK_INT(th__kafka_producer_new(&url, &props, &hooks, &p, &err), 0);
    if (!p)
        goto out;
    CHECK_INT(th__kafka_producer_pending(p), 0);
    CHECK_INT(th__kafka_producer_send(p, "k1", 2, "v1", 2, 100), 0);
    CHECK_INT(th__kafka_producer_send(p, "k2", 2, "v2", 2, 200), 0);
    CHECK_INT(th__kafka_producer_send(p, NULL, 0, "v3", 2, 300), 0);
    CHECK_INT(th__kafka_producer_pending(p), 3);
    CHECK_INT(th__kafka_producer_poll(p, 10000), 0);
    CHECK_INT(seen.delivered, 3);
    CHECK_INT(seen.origin_sum, 600);
    CHECK(!th__kafka_producer_stalled(p));

    /* No leader: the deliveries time out (message.timeout.ms 500), the signals stay. */
    CHECK_INT(rd_kafka_mock_partition_set_leader(mc, "sig", 0, -1), 0);
    for (int i = 4; i <= 6; i++) {
        char k[8], v[8];
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "v%d", i);
        CHECK_INT(th__kafka_producer_send(p, k, strlen(k), v, strlen(v), 1000), 0);
    }
    double deadline = now_s() + 20;
    struct th_kafka_producer_stats st = {0};
    while (now_s() < deadline && st.errors < 3) {
        th__kafka_producer_poll(p, 100);
        th__kafka_producer_stats(p, &st);
    }
    CHECK(st.errors >= 3);
    CHECK(th__kafka_producer_stalled(p));
    CHECK_INT(th__kafka_producer_pending(p), 3);
    CHECK_INT(seen.delivered, 3);
    /* While stalled, a new signal waits behind the others (order kept). */
    CHECK_INT(th__kafka_producer_send(p, "k7", 2, "v7", 2, 1000), 0);
    CHECK_INT(th__kafka_producer_pending(p), 4);
    CHECK_CONTAINS(seen.log, "kafka output: sig: ");
    CHECK_CONTAINS(seen.log, "sent again");

    /* The leader is back: everything is delivered, once per delivery report. */
    CHECK_INT(rd_kafka_mock_partition_set_leader(mc, "sig", 0, 1), 0);
    deadline = now_s() + 30;
    while (now_s() < deadline && th__kafka_producer_poll(p, 200) > 0)
        ;
    CHECK_INT(th__kafka_producer_pending(p), 0);
    CHECK(!th__kafka_producer_stalled(p));
    CHECK_INT(seen.delivered, 7);
    CHECK_INT(seen.origin_sum, 600 + 4000);
    th__kafka_producer_stats(p, &st);
    CHECK_INT(st.sent, 7);
    CHECK_INT(st.delivered, 7);
    CHECK(st.retries >= 3);
    CHECK_CONTAINS(seen.log, "deliveries resumed");
    CHECK(!strstr(seen.log, "fetch.wait.max.ms"));

    char lines[16][96];
    int n = read_topic(boot, lines, 7);
    CHECK_INT(n, 7);
    bool found[8] = {false};
    for (int i = 0; i < n; i++) {
        int k = 0;
        if (sscanf(lines[i], "k%d=v", &k) == 1 && k >= 1 && k <= 7) {
            char want[16];
            snprintf(want, sizeof want, "k%d=v%d", k, k);
            CHECK_STR(lines[i], want);
            found[k] = true;
        } else {
            CHECK_STR(lines[i], "=v3"); /* the one sent without a key */
            found[3] = true;
        }
    }
    for (int k = 1; k <= 7; k++)
        CHECK(found[k]);

    /* A fatal error of the idempotent producer (the broker says a sequence was lost): a
     * new producer takes over and sends what was not delivered; nothing is lost. */
    rd_kafka_mock_push_request_errors(mc, 0 /* Produce */, 1,
                                      RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    CHECK_INT(th__kafka_producer_send(p, "k8", 2, "v8", 2, 0), 0);
    deadline = now_s() + 30;
    while (now_s() < deadline && th__kafka_producer_poll(p, 200) > 0)
        ;
    th__kafka_producer_stats(p, &st);
    CHECK_INT(st.restarts, 1);
    CHECK_INT(th__kafka_producer_pending(p), 0);
    CHECK_INT(seen.delivered, 8);
    CHECK_CONTAINS(seen.log, "fatal producer error");
    th__kafka_producer_free(p);
out:
    th__kafka_producer_free(NULL);
    th__kafka_props_fini(&props);
    th__kafka_url_fini(&url);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
}

static void test_producer_errors(void)
{
    struct th_kafka_url url;
    CHECK_INT(th__kafka_url_parse("kafka://127.0.0.1:1/sig", TH_KAFKA_OUTPUT, &url, NULL), 0);
    struct th_kafka_props props;
    th__kafka_props_init(&props);
    th__kafka_props_add(&props, "compression.codec=zip", NULL);
    struct seen seen = {0};
    struct th_kafka_producer_hooks hooks = {&seen, on_delivered, on_log};
    struct th_kafka_producer *p = (struct th_kafka_producer *)1;
    struct th_err err = {0};
    CHECK_INT(th__kafka_producer_new(&url, &props, &hooks, &p, &err), TH_ECONFIG);
    CHECK(p == NULL);
    CHECK_CONTAINS(err.msg, "compression.codec");
    th__kafka_props_fini(&props);
    /* Unreachable brokers are no error until something is sent; freeing with signals
     * pending drops them (the caller never commits what was not delivered). */
    th__kafka_props_init(&props);
    CHECK_INT(th__kafka_producer_new(&url, &props, &hooks, &p, &err), 0);
    if (p) {
        CHECK_INT(th__kafka_producer_send(p, "k", 1, "v", 1, -1), 0);
        CHECK_INT(th__kafka_producer_poll(p, 50), 1);
        th__kafka_producer_free(p);
    }
    CHECK_INT(seen.delivered, 0);
    th__kafka_props_fini(&props);
    th__kafka_url_fini(&url);
}

int main(void)
{
    test_key();
    test_producer_errors();
    test_producer();
    return CHECK_DONE();
}
