/*
 * kafka_mock.c - the Kafka side of the Kafka tests and demo, with no Kafka installed:
 * librdkafka's mock cluster (rdkafka_mock.h), which speaks the real protocol over TCP on
 * loopback, plus a small producer and consumer to feed it and read it back.
 *
 *   th_kafka_mock cluster [--brokers N] [--topic NAME:PARTITIONS]...
 *       Starts a mock cluster of N brokers (default 3), creates the topics, prints
 *       "bootstrap HOST:PORT,..." on stdout, then reads commands on stdin, one per line,
 *       and answers each with "ok" (or "error: ..."):
 *         down ID          broker ID (-1: all) refuses connections (rd_kafka_mock_broker_set_down)
 *         up ID            and accepts them again
 *         leader T P ID    partition P of topic T gets leader ID (-1: no leader)
 *         quit
 *       It stops at the end of its input, on quit, or when killed.
 *
 *   th_kafka_mock produce BOOTSTRAP TOPIC FILE [--key PATH] [--gzip] [--partition N]
 *                 [--rate N] [--repeat N]
 *       Sends each non-empty line of FILE (- for stdin) as one message and waits for every
 *       delivery; prints "produced N". --key takes the message key from a dotted JSON path
 *       of the line's event (the line itself, the first of its Records, or its EventBridge
 *       detail), as a topic keyed by principal is; --gzip compresses each message;
 *       --rate sends N messages per second; --repeat sends the file N times.
 *
 *   th_kafka_mock consume BOOTSTRAP TOPIC --count N [--timeout SECONDS]
 *       Reads the topic from the beginning (every partition, no group) until N messages
 *       came or the timeout (default 30 s) passed; prints each as KEY<TAB>VALUE. Exit 0
 *       when N came, 1 otherwise.
 *
 * This is test tooling: it exits non-zero with a message on any error, and keeps no state
 * beyond the cluster it runs.
 */
#include <errno.h>
#include <json-c/json.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "th_kafka_mock: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(2);
}

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 3)
        fprintf(stderr, "th_kafka_mock: %s: %s\n", fac, buf);
}

static rd_kafka_conf_t *conf_new(const char *bootstrap)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];
    if (bootstrap &&
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr))
        die("%s", errstr);
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    return conf;
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof errstr))
        die("%s", errstr);
}

/* ---- cluster -------------------------------------------------------------------------- */

static int cluster(int argc, char **argv)
{
    int brokers = 3;
    rd_kafka_conf_t *conf = conf_new(NULL);
    char errstr[512];
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--brokers") && i + 1 < argc) {
            brokers = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--topic") && i + 1 < argc) {
            i++;
        } else {
            die("cluster: unknown argument %s", argv[i]);
        }
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk)
        die("%s", errstr);
    mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc)
        die("%s", "cannot start the mock cluster");
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--topic"))
            continue;
        char name[256];
        int parts = 1;
        if (sscanf(argv[++i], "%255[^:]:%d", name, &parts) < 1 || parts < 1)
            die("bad --topic %s (NAME:PARTITIONS)", argv[i]);
        if (rd_kafka_mock_topic_create(mc, name, parts, brokers < 3 ? brokers : 3))
            die("cannot create topic %s", name);
    }
    printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    /* Commands on stdin, one per line. */
    char line[512];
    while (fgets(line, sizeof line, stdin)) {
        char cmd[32], topic[256];
        int a = 0, b = 0;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (sscanf(line, "%31s", cmd) != 1)
            continue;
        if (!strcmp(cmd, "quit"))
            break;
        if (!strcmp(cmd, "down") && sscanf(line, "%*s %d", &a) == 1)
            err = rd_kafka_mock_broker_set_down(mc, a);
        else if (!strcmp(cmd, "up") && sscanf(line, "%*s %d", &a) == 1)
            err = rd_kafka_mock_broker_set_up(mc, a);
        else if (!strcmp(cmd, "leader") && sscanf(line, "%*s %255s %d %d", topic, &a, &b) == 3)
            err = rd_kafka_mock_partition_set_leader(mc, topic, a, b);
        else
            err = RD_KAFKA_RESP_ERR__INVALID_ARG;
        if (err)
            printf("error: %s\n", rd_kafka_err2str(err));
        else
            printf("ok\n");
        fflush(stdout);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}

/* ---- produce -------------------------------------------------------------------------- */

/* The event a line carries: itself, the first of its Records, or its EventBridge detail. */
static json_object *event_of(json_object *o)
{
    json_object *v;
    if (json_object_object_get_ex(o, "Records", &v) && json_object_is_type(v, json_type_array) &&
        json_object_array_length(v) > 0)
        return json_object_array_get_idx(v, 0);
    if (json_object_object_get_ex(o, "detail", &v) && json_object_is_type(v, json_type_object))
        return v;
    return o;
}

/* The key of line: the string at the dotted path of its event, or NULL. */
static char *key_of(const char *line, const char *path)
{
    json_object *root = json_tokener_parse(line);
    if (!root || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return NULL;
    }
    json_object *o = event_of(root);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && o;
         tok = strtok_r(NULL, ".", &save))
        if (!json_object_object_get_ex(o, tok, &o))
            o = NULL;
    char *key = o && json_object_is_type(o, json_type_string) ? strdup(json_object_get_string(o))
                                                              : NULL;
    json_object_put(root);
    return key;
}

static unsigned char *gzip(const char *s, size_t len, size_t *out_len)
{
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        die("%s", "deflateInit2");
    size_t cap = deflateBound(&z, len) + 32;
    unsigned char *out = malloc(cap);
    z.next_in = (unsigned char *)s;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        die("%s", "deflate");
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* Delivery reports of a produce run. */
struct deliveries {
    long ok, failed;
};

static void dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct deliveries *d = opaque;
    if (m->err) {
        d->failed++;
        fprintf(stderr, "th_kafka_mock: delivery failed: %s\n", rd_kafka_err2str(m->err));
    } else {
        d->ok++;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int produce(int argc, char **argv)
{
    if (argc < 3)
        die("%s", "usage: produce BOOTSTRAP TOPIC FILE [--key PATH] [--gzip] [--partition N] "
                  "[--rate N] [--repeat N]");
    const char *keypath = NULL;
    bool gz = false;
    int partition = RD_KAFKA_PARTITION_UA, repeat = 1;
    double rate = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--key") && i + 1 < argc)
            keypath = argv[++i];
        else if (!strcmp(argv[i], "--gzip"))
            gz = true;
        else if (!strcmp(argv[i], "--partition") && i + 1 < argc)
            partition = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
            rate = atof(argv[++i]);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else
            die("produce: unknown argument %s", argv[i]);
    }
    rd_kafka_conf_t *conf = conf_new(argv[0]);
    set(conf, "acks", "all");
    set(conf, "linger.ms", rate > 0 ? "0" : "5");
    set(conf, "message.timeout.ms", "60000");
    rd_kafka_conf_set_dr_msg_cb(conf, dr);
    struct deliveries d = {0, 0};
    rd_kafka_conf_set_opaque(conf, &d);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk)
        die("%s", errstr);
    long sent = 0;
    double t0 = now_s();
    for (int r = 0; r < repeat; r++) {
        FILE *f = strcmp(argv[2], "-") ? fopen(argv[2], "r") : stdin;
        if (!f)
            die("cannot open %s", argv[2]);
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, f)) > 0) {
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = '\0';
            if (n == 0)
                continue;
            char *key = keypath ? key_of(line, keypath) : NULL;
            size_t vlen = (size_t)n;
            unsigned char *v = gz ? gzip(line, (size_t)n, &vlen) : NULL;
            if (rate > 0) {
                double due = t0 + (double)sent / rate;
                double wait = due - now_s();
                if (wait > 0) {
                    struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
                    nanosleep(&ts, NULL);
                }
            }
            for (;;) {
                rd_kafka_resp_err_t e = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(argv[1]), RD_KAFKA_V_PARTITION(partition),
                    RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                    RD_KAFKA_V_VALUE(v ? (void *)v : line, vlen),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
                if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                    rd_kafka_poll(rk, 10);
                    continue;
                }
                if (e)
                    die("produce: %s", rd_kafka_err2str(e));
                break;
            }
            sent++;
            free(key);
            free(v);
            rd_kafka_poll(rk, 0);
        }
        free(line);
        if (f != stdin)
            fclose(f);
    }
    while (rd_kafka_outq_len(rk) > 0 && d.ok + d.failed < sent)
        rd_kafka_poll(rk, 50);
    rd_kafka_flush(rk, 10000);
    rd_kafka_destroy(rk);
    if (d.failed || d.ok < sent)
        die("%s", "some messages were not delivered");
    printf("produced %ld\n", sent);
    return 0;
}

/* ---- consume -------------------------------------------------------------------------- */

static int consume(int argc, char **argv)
{
    if (argc < 2)
        die("%s", "usage: consume BOOTSTRAP TOPIC --count N [--timeout SECONDS]");
    long want = -1;
    double timeout = 30;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--count") && i + 1 < argc)
            want = atol(argv[++i]);
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
            timeout = atof(argv[++i]);
        else
            die("consume: unknown argument %s", argv[i]);
    }
    rd_kafka_conf_t *conf = conf_new(argv[0]);
    /* librdkafka's consumer API wants a group even for assign(); nothing is committed. */
    set(conf, "group.id", "th_kafka_mock");
    set(conf, "enable.auto.commit", "false");
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk)
        die("%s", errstr);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, argv[1], NULL);
    double deadline = now_s() + timeout;
    while (rd_kafka_metadata(rk, 0, t, &md, 2000) || md->topic_cnt != 1 ||
           md->topics[0].err || md->topics[0].partition_cnt == 0) {
        if (md)
            rd_kafka_metadata_destroy(md);
        md = NULL;
        if (now_s() > deadline)
            die("no metadata for topic %s", argv[1]);
        usleep(100000);
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(list, argv[1], md->topics[0].partitions[i].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    rd_kafka_resp_err_t aerr = rd_kafka_assign(rk, list);
    if (aerr)
        die("assign: %s", rd_kafka_err2str(aerr));
    rd_kafka_topic_partition_list_destroy(list);
    long got = 0;
    while ((want < 0 || got < want) && now_s() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err) {
            printf("%.*s\t%.*s\n", (int)m->key_len, m->key ? (const char *)m->key : "",
                   (int)m->len, (const char *)m->payload);
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    fflush(stdout);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return want < 0 || got >= want ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("%s", "usage: th_kafka_mock cluster|produce|consume ...");
    if (!strcmp(argv[1], "cluster"))
        return cluster(argc - 2, argv + 2);
    if (!strcmp(argv[1], "produce"))
        return produce(argc - 2, argv + 2);
    if (!strcmp(argv[1], "consume"))
        return consume(argc - 2, argv + 2);
    die("unknown command %s", argv[1]);
    return 2;
}
