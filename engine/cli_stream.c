/*
 * cli_stream.c - `trailhound run` with Kafka: the streaming loop that ties the consumer
 * (source_kafka.c), one engine per assigned partition, the output (a file, stdout, or the
 * Kafka producer of output_kafka.c), the state snapshots and the offset commits together.
 *
 * At-least-once (SPEC §13). A partition's offset is committed only after (1) every signal
 * derived from its messages so far is durable: written, flushed and fsync'd for a file,
 * delivery reported for Kafka; and (2) its engine's state snapshot is saved, with the
 * offset it goes with written beside it (DIR/<group>/<topic>-<partition>/kafka.offset).
 * A crash between (2) and the commit leaves a snapshot ahead of the group's offset: the
 * next owner with the same state directory starts from the snapshot's offset, so nothing
 * is counted twice; without it, messages are read again and give the same signals with
 * the same ids. Commits happen every --commit-interval, before partitions are revoked (the
 * rebalance hook), and at shutdown (SIGINT, SIGTERM, --exit-at-end).
 *
 * Per-partition state. Each assigned partition has its own engine, with its own state
 * snapshot under the state directory; it goes away with the partition. A stateful rule
 * therefore sees all the events of a group-by value only when the topic is keyed by that
 * value (e.g. userIdentity.arn): then all of them live in one partition.
 *
 * Back-pressure. A Kafka output that cannot deliver (no leader, brokers down) keeps every
 * signal and retries; meanwhile consumption pauses (librdkafka's pause: nothing more is
 * fetched) and no offset is committed, so nothing piles up and nothing is lost. When the
 * last pending signal is delivered, offsets are committed and consumption resumes.
 *
 * Signals. SIGINT and SIGTERM are blocked before librdkafka starts its threads and are
 * polled for in the loop: the first one starts a graceful shutdown (exit 0 once
 * everything is committed); after it they are unblocked, so a second one kills at once
 * (still safe: only what was durable was committed).
 *
 * State of this file: struct stream, which lives on th__cli_stream_run's frame.
 */
#include "cli_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "output_kafka.h"
#include "source_kafka.h"

#define LAT_MAX_SAMPLES 100000     /* latency samples kept (a reservoir beyond) */
#define COMMIT_WAIT_MS 1000        /* how long a commit waits for deliveries before pausing */
#define REVOKE_WAIT_MS 10000       /* how long a revocation waits for deliveries */
#define SHUTDOWN_WAIT_MS 30000     /* how long a shutdown waits for deliveries */
#define OFFSET_FILE "kafka.offset" /* beside each partition's state snapshot */

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Produce-to-signal latencies in milliseconds: all of them up to LAT_MAX_SAMPLES, then a
 * uniform reservoir (a fixed-seed generator: the run stays reproducible). */
struct lat {
    float *v;
    size_t n;
    uint64_t total;
    uint64_t rng;
};

static void lat_add(struct lat *l, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    l->total++;
    if (!l->v && !(l->v = malloc(LAT_MAX_SAMPLES * sizeof *l->v)))
        return;
    if (l->n < LAT_MAX_SAMPLES) {
        l->v[l->n++] = (float)ms;
        return;
    }
    l->rng = l->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t k = (l->rng >> 11) % l->total;
    if (k < LAT_MAX_SAMPLES)
        l->v[k] = (float)ms;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentiles p50 and p99 of the samples; false when there are none. */
static bool lat_quantiles(const struct lat *l, double *p50, double *p99)
{
    if (!l->n)
        return false;
    float *c = malloc(l->n * sizeof *c);
    if (!c)
        return false;
    memcpy(c, l->v, l->n * sizeof *c);
    qsort(c, l->n, sizeof *c, cmp_float);
    size_t i50 = (l->n * 50 + 99) / 100, i99 = (l->n * 99 + 99) / 100;
    *p50 = c[i50 ? i50 - 1 : 0];
    *p99 = c[i99 ? i99 - 1 : 0];
    free(c);
    return true;
}

/* One assigned partition: its engine and where its state lives. */
struct part {
    struct th_engine *eng;
    char *state_dir;    /* DIR/<group>/<topic>-<partition>, or NULL without --state */
    int64_t saved;      /* the offset its saved state goes with, or -1 */
    char name[300];     /* "topic/partition" */
};

/* A message of the Kafka clients recently printed. */
struct logseen {
    uint64_t hash;
    double last;
    unsigned long long suppressed;
};

struct stream {
    struct logseen seen[64];
    struct th_cli_args *a;
    const struct th_ruleset *rs;
    struct th_kafka_url src, out;
    bool have_src, have_out;
    struct th_kafka_props props;
    struct th_kafka_consumer *cons;
    struct th_kafka_producer *prod;
    struct th_cli_output file;   /* the output when it is not Kafka */
    bool file_open, file_sync;   /* fsync the file at each commit (a regular file) */
    bool file_dirty;             /* lines written since the last sync */
    int fatal;                   /* an exit code that stops the stream, or 0 */
    bool output_failed;
    bool uncommitted;            /* some work could not be committed at the end */
    int64_t origin_ms;           /* timestamp of the message being evaluated */
    struct th_stats retired;     /* counters of the engines of partitions that went */
    char samples[5][320];        /* their first reject locations */
    size_t nsamples;
    struct lat lat;
    double start, t_first, t_last;
    uint64_t events_first;       /* events counted when the first message came */
    uint64_t pauses, saves;
    double save_s;
    char **warned;               /* warnings already printed (engines repeat them) */
    size_t nwarned, warned_cap;
    char **started;              /* partitions that had an engine in this run (--reset-state
                                    applies to their first one only) */
    size_t nstarted, started_cap;
    struct th_engine *batch;     /* files to a Kafka output: the one engine */
};

/* ---- messages ------------------------------------------------------------------------- */

/* Prints a warning once: every partition's engine would say the same thing. */
static void warn_once(void *ctx, const char *msg)
{
    struct stream *s = ctx;
    for (size_t i = 0; i < s->nwarned; i++)
        if (!strcmp(s->warned[i], msg))
            return;
    char *copy = strdup(msg);
    if (copy && s->nwarned < 1000 &&
        th__grow((void **)&s->warned, &s->warned_cap, s->nwarned + 1, sizeof *s->warned) == 0)
        s->warned[s->nwarned++] = copy;
    else
        free(copy);
    fprintf(stderr, "trailhound: warning: %s\n", msg);
}

/*
 * Kafka clients' messages (already free of secrets). A broker outage repeats the same few
 * messages for as long as it lasts: a message that differs from one printed in the last
 * minute only by its numbers is counted instead, and the count is given with the next one
 * printed.
 */
static void kafka_log(void *ctx, const char *msg)
{
    struct stream *s = ctx;
    uint64_t h = 1469598103934665603ULL;
    for (const char *c = msg; *c; c++)
        if (*c < '0' || *c > '9')
            h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    double now = mono();
    struct logseen *slot = &s->seen[h % TH_ARRAY_LEN(s->seen)];
    if (slot->hash == h && now - slot->last < 60) {
        slot->suppressed++;
        return;
    }
    if (slot->hash == h && slot->suppressed)
        fprintf(stderr, "trailhound: %s (%llu similar messages in the last minute)\n", msg,
                slot->suppressed);
    else
        fprintf(stderr, "trailhound: %s\n", msg);
    *slot = (struct logseen){h, now, 0};
}

/* ---- the output ----------------------------------------------------------------------- */

static int on_line(void *ctx, const char *line, size_t len)
{
    struct stream *s = ctx;
    if (s->output_failed)
        return 1;
    if (s->prod) {
        char key[160];
        size_t klen = th__kafka_signal_key(line, len, key, sizeof key);
        if (th__kafka_producer_send(s->prod, key, klen, line, len, s->origin_ms) < 0) {
            th__cli_error("%s: out of memory queueing a signal", s->a->output);
            s->output_failed = true;
            return 1;
        }
        return 0;
    }
    /* Streaming: each signal is flushed as it is written, so a reader sees it at once;
     * fsync waits for the next commit. */
    if (th__cli_output_line(&s->file, line, len) || (s->have_src && fflush(s->file.fp))) {
        if (!s->file.failed)
            th__cli_error("%s: write failed: %s", s->file.name, strerror(errno));
        s->output_failed = s->file.failed = true;
        return 1;
    }
    s->file_dirty = true;
    if (s->have_src && s->origin_ms >= 0)
        lat_add(&s->lat, wall_ms() - s->origin_ms);
    return 0;
}

static void on_delivered(void *ctx, int64_t origin_ms)
{
    struct stream *s = ctx;
    if (s->have_src && origin_ms >= 0)
        lat_add(&s->lat, wall_ms() - origin_ms);
}

/*
 * Makes every signal written so far durable, waiting up to wait_ms for Kafka deliveries.
 * Returns true when they all are.
 */
static bool make_durable(struct stream *s, int wait_ms)
{
    if (s->output_failed)
        return false;
    if (s->prod)
        return th__kafka_producer_poll(s->prod, wait_ms) == 0;
    if (!s->file_dirty)
        return true;
    if (fflush(s->file.fp) || (s->file_sync && fsync(fileno(s->file.fp)))) {
        th__cli_error("%s: write failed: %s", s->file.name, strerror(errno));
        s->output_failed = s->file.failed = true;
        return false;
    }
    s->file_dirty = false;
    return true;
}

/* ---- per-partition state -------------------------------------------------------------- */

/* dir/<group>/<topic>-<partition>: the group percent-encoded to a safe name. */
static char *part_dir(const char *dir, const char *group, const char *topic, int32_t part)
{
    char enc[3 * 256 + 1];
    size_t o = 0;
    bool dots = !strcmp(group, ".") || !strcmp(group, "..");
    for (const unsigned char *g = (const unsigned char *)group; *g && o + 4 < sizeof enc; g++) {
        if (!dots && ((*g >= 'a' && *g <= 'z') || (*g >= 'A' && *g <= 'Z') ||
                      (*g >= '0' && *g <= '9') || *g == '.' || *g == '_' || *g == '-'))
            enc[o++] = (char)*g;
        else
            o += (size_t)snprintf(enc + o, sizeof enc - o, "%%%02X", *g);
    }
    enc[o] = '\0';
    size_t len = strlen(dir) + o + strlen(topic) + 32;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s/%s/%s-%d", dir, enc, topic, (int)part);
    return p;
}

/* The offset saved with a partition's state, or -1 (none, or unreadable: then a warning). */
static int64_t offset_read(struct stream *s, const char *dir, const char *topic, int32_t part)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, OFFSET_FILE);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char t[300];
    int p = -1;
    long long off = -1;
    int n = fscanf(f, "%299s %d %lld", t, &p, &off);
    fclose(f);
    if (n != 3 || strcmp(t, topic) || p != part || off < 0) {
        char msg[PATH_MAX + 100];
        snprintf(msg, sizeof msg, "%s: not an offset of %s [%d]; ignored", path, topic, (int)part);
        warn_once(s, msg);
        return -1;
    }
    return off;
}

/* Writes the offset a partition's saved state goes with: a temporary file, fsync'd,
 * renamed, and the directory fsync'd. Returns 0 or -1 with the reason printed. */
static int offset_write(const char *dir, const char *topic, int32_t part, int64_t off)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, OFFSET_FILE);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, OFFSET_FILE);
    FILE *f = fopen(tmp, "w");
    bool ok = f && fprintf(f, "%s %d %lld\n", topic, (int)part, (long long)off) > 0 &&
              fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (f && fclose(f))
        ok = false;
    if (ok && rename(tmp, path))
        ok = false;
    if (ok) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    if (!ok) {
        th__cli_error("%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Saves a partition's state with the offset it goes with. Returns true on success. */
static bool part_save(struct stream *s, struct th_kafka_part *kp)
{
    struct part *p = kp->user;
    if (!p || kp->next < 0 || kp->next == p->saved)
        return true;
    if (p->state_dir) {
        double t0 = mono();
        struct th_err err = {0};
        if (th_engine_state_save(p->eng, &err) < 0) {
            char buf[1100];
            th__cli_error("%s", th_err_format(&err, buf, sizeof buf));
            return false;
        }
        if (offset_write(p->state_dir, kp->topic, kp->partition, kp->next) < 0)
            return false;
        s->saves++;
        s->save_s += mono() - t0;
    }
    p->saved = kp->next;
    return true;
}

/* The counters of an engine, minus the gauges (live groups, snapshot sizes), are kept
 * when its partition goes. Every field of th_stats is a uint64_t counter. */
static void add_stats(struct th_stats *dst, const struct th_stats *src, bool gauges)
{
    struct th_stats x = *src;
    if (!gauges) {
        x.groups = 0;
        x.state_loaded_bytes = 0;
        x.state_saved_bytes = 0;
    }
    uint64_t *d = (uint64_t *)(void *)dst;
    const uint64_t *v = (const uint64_t *)(const void *)&x;
    for (size_t i = 0; i < sizeof x / sizeof(uint64_t); i++)
        d[i] += v[i];
}

static void retire_engine(struct stream *s, struct th_engine *eng)
{
    struct th_stats st;
    th_engine_stats(eng, &st);
    add_stats(&s->retired, &st, false);
    for (size_t i = 0; th_engine_reject_sample(eng, i) && s->nsamples < 5; i++)
        snprintf(s->samples[s->nsamples++], sizeof s->samples[0], "%s",
                 th_engine_reject_sample(eng, i));
    th_engine_free(eng);
}

static int64_t on_assigned(void *ctx, struct th_kafka_part *kp)
{
    struct stream *s = ctx;
    struct part *p = calloc(1, sizeof *p);
    if (!p) {
        th__cli_error("out of memory");
        s->fatal = TH_EXIT_USAGE;
        return -2;
    }
    p->saved = -1;
    snprintf(p->name, sizeof p->name, "%s/%d", kp->topic, (int)kp->partition);
    struct th_options o = s->a->opts;
    o.log = warn_once;
    o.log_ctx = s;
    o.progress = NULL;
    /* --reset-state empties a partition's state once: if it comes back later in the run,
     * it comes back with the state saved when it went. */
    bool again = false;
    for (size_t i = 0; i < s->nstarted && !again; i++)
        again = !strcmp(s->started[i], p->name);
    char *name = again ? NULL : strdup(p->name);
    if (name && th__grow((void **)&s->started, &s->started_cap, s->nstarted + 1,
                         sizeof *s->started) == 0)
        s->started[s->nstarted++] = name;
    else
        free(name);
    if (again)
        o.reset_state = 0;
    if (s->a->opts.state_dir) {
        p->state_dir = part_dir(s->a->opts.state_dir, s->src.group, kp->topic, kp->partition);
        if (!p->state_dir) {
            free(p);
            th__cli_error("out of memory");
            s->fatal = TH_EXIT_USAGE;
            return -2;
        }
        o.state_dir = p->state_dir;
    }
    struct th_err err = {0};
    if (th_engine_new(s->rs, &o, on_line, s, &p->eng, &err) < 0) {
        char buf[1100];
        th__cli_error("%s: %s", p->name, th_err_format(&err, buf, sizeof buf));
        free(p->state_dir);
        free(p);
        s->fatal = TH_EXIT_USAGE;
        return -2;
    }
    kp->user = p;
    int64_t start = -1;
    if (p->state_dir && !o.reset_state) {
        int64_t off = offset_read(s, p->state_dir, kp->topic, kp->partition);
        p->saved = off;
        /* The snapshot went further than the group's commit (a crash between the two):
         * the signals up to it were durable before it was saved, so start there. */
        if (off >= 0 && off > kp->committed) {
            start = off;
            fprintf(stderr, "trailhound: kafka: %s: the saved state is at offset %lld, past "
                            "the group's commit (%lld): resuming from the state\n",
                    p->name, (long long)off, (long long)kp->committed);
        }
    }
    fprintf(stderr, "trailhound: kafka: assigned %s\n", p->name);
    return start;
}

static bool on_revoking(void *ctx, bool lost)
{
    struct stream *s = ctx;
    if (lost)
        return false;
    if (!make_durable(s, REVOKE_WAIT_MS)) {
        s->uncommitted = true;
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < th__kafka_consumer_nparts(s->cons); i++) {
        struct th_kafka_part *kp = th__kafka_consumer_part(s->cons, i);
        if (kp->leaving && kp->user) {
            struct part *p = kp->user;
            th_engine_finish(p->eng);
            ok = part_save(s, kp) && ok;
        }
    }
    if (!ok) {
        s->uncommitted = true;
        s->fatal = TH_EXIT_USAGE;
    }
    return ok;
}

static void on_released(void *ctx, struct th_kafka_part *kp)
{
    struct stream *s = ctx;
    struct part *p = kp->user;
    if (!p)
        return;
    fprintf(stderr, "trailhound: kafka: revoked %s\n", p->name);
    retire_engine(s, p->eng);
    free(p->state_dir);
    free(p);
    kp->user = NULL;
}

/* ---- the loop ------------------------------------------------------------------------- */

static void on_msg(void *ctx, const struct th_kafka_msg *m)
{
    struct stream *s = ctx;
    struct part *p = m->part->user;
    char name[340];
    snprintf(name, sizeof name, "%s@%lld", p->name, (long long)m->offset);
    s->origin_ms = m->timestamp_ms;
    th_engine_read_buffer(p->eng, name, m->data, m->len);
    s->origin_ms = -1;
}

/* The counters of every engine, live and gone. */
static void sum_stats(struct stream *s, struct th_stats *out)
{
    *out = s->retired;
    if (s->batch) {
        struct th_stats st;
        th_engine_stats(s->batch, &st);
        add_stats(out, &st, true);
    }
    for (size_t i = 0; s->cons && i < th__kafka_consumer_nparts(s->cons); i++) {
        struct th_kafka_part *kp = th__kafka_consumer_part(s->cons, i);
        struct part *p = kp->user;
        if (p) {
            struct th_stats st;
            th_engine_stats(p->eng, &st);
            add_stats(out, &st, true);
        }
    }
}

/*
 * A commit point: makes the output durable (waiting up to wait_ms), saves the state of
 * every partition that moved, and commits. Returns false when the output is not durable
 * yet (nothing was saved or committed); state save failures stop the stream.
 */
static bool commit_point(struct stream *s, int wait_ms)
{
    if (!make_durable(s, wait_ms))
        return false;
    for (size_t i = 0; i < th__kafka_consumer_nparts(s->cons); i++)
        if (!part_save(s, th__kafka_consumer_part(s->cons, i))) {
            s->fatal = TH_EXIT_USAGE;
            return false;
        }
    struct th_err err = {0};
    if (th__kafka_consumer_commit(s->cons, false, &err) < 0)
        fprintf(stderr, "trailhound: kafka: commit failed: %s; trying again at the next "
                        "commit\n", err.msg);
    return true;
}

static void stats_line(struct stream *s, double now)
{
    struct th_stats st;
    sum_stats(s, &st);
    static const int max_parts_shown = 16;
    char lag[600] = "";
    size_t o = 0;
    int64_t total = 0;
    size_t np = th__kafka_consumer_nparts(s->cons);
    for (size_t i = 0; i < np; i++) {
        struct th_kafka_part *kp = th__kafka_consumer_part(s->cons, i);
        int64_t l = th__kafka_consumer_lag(s->cons, kp);
        total += l > 0 ? l : 0;
        if ((int)i < max_parts_shown && o < sizeof lag)
            o += l < 0 ? (size_t)snprintf(lag + o, sizeof lag - o, "%s%s/%d ?", i ? ", " : "",
                                          kp->topic, (int)kp->partition)
                       : (size_t)snprintf(lag + o, sizeof lag - o, "%s%s/%d %lld", i ? ", " : "",
                                          kp->topic, (int)kp->partition, (long long)l);
    }
    double secs = now - s->start;
    fprintf(stderr, "trailhound: stream: %llu events (%.0f/s), %llu rejected, %llu signals, "
                    "lag %lld (%s%s)%s%s\n",
            (unsigned long long)st.events, secs > 0 ? (double)st.events / secs : 0.0,
            (unsigned long long)st.rejected, (unsigned long long)st.signals, (long long)total,
            np ? lag : "no partitions", (int)np > max_parts_shown ? ", ..." : "",
            th__kafka_consumer_paused(s->cons) ? ", paused: output down" : "",
            s->prod && th__kafka_producer_pending(s->prod) ? ", signals pending" : "");
}

/* ---- metrics and the summary ---------------------------------------------------------- */

static void metric(FILE *f, const char *name, const char *type, const char *help,
                   unsigned long long v)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, v);
}

/* Writes the counters (Kafka's too when s has a consumer or producer) to path, atomically. */
static int write_metrics(const char *path, const struct th_stats *st, struct stream *s)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        th__cli_error("%s: cannot write the metrics: %s", tmp, strerror(errno));
        return TH_EXIT_USAGE;
    }
    metric(f, "trailhound_events_total", "counter", "CloudTrail events accepted.", st->events);
    fprintf(f, "# HELP trailhound_rejected_total Events rejected, by reason.\n"
               "# TYPE trailhound_rejected_total counter\n");
    for (int i = 0; th_reject_reason_name(i); i++)
        fprintf(f, "trailhound_rejected_total{reason=\"%s\"} %llu\n", th_reject_reason_name(i),
                (unsigned long long)st->rejected_by[i]);
    metric(f, "trailhound_late_events_total", "counter",
           "Events older than the watermark (evaluated against the state left).", st->late);
    metric(f, "trailhound_matched_events_total", "counter",
           "Events that matched at least one rule query.", st->matched);
    fprintf(f, "# HELP trailhound_signals_total Signal lines written, by status.\n"
               "# TYPE trailhound_signals_total counter\n"
               "trailhound_signals_total{status=\"new\"} %llu\n"
               "trailhound_signals_total{status=\"update\"} %llu\n"
               "trailhound_signals_total{status=\"closed\"} %llu\n",
            (unsigned long long)st->signals, (unsigned long long)st->updates,
            (unsigned long long)st->closed);
    metric(f, "trailhound_groups", "gauge", "Live groups of stateful rules.", st->groups);
    metric(f, "trailhound_groups_expired_total", "counter", "Groups expired by event time.",
           st->groups_expired);
    metric(f, "trailhound_groups_evicted_total", "counter", "Groups evicted by the LRU cap.",
           st->groups_evicted);
    if (s && s->cons) {
        struct th_kafka_consumer_stats cs;
        th__kafka_consumer_stats(s->cons, &cs);
        metric(f, "trailhound_kafka_messages_total", "counter", "Kafka messages consumed.",
               cs.messages);
        metric(f, "trailhound_kafka_commits_total", "counter", "Offset commits.", cs.commits);
        metric(f, "trailhound_kafka_commit_errors_total", "counter", "Offset commits that failed.",
               cs.commit_errors);
        metric(f, "trailhound_kafka_rebalances_total", "counter", "Partition assignments.",
               cs.rebalances);
        metric(f, "trailhound_kafka_consumer_errors_total", "counter",
               "Consumer errors (transport, broker, topic).", cs.errors);
        size_t np = th__kafka_consumer_nparts(s->cons);
        metric(f, "trailhound_kafka_partitions_assigned", "gauge",
               "Partitions assigned to this instance.", np);
        metric(f, "trailhound_kafka_paused", "gauge",
               "1 while consumption is paused because the output is down.",
               th__kafka_consumer_paused(s->cons));
        fprintf(f, "# HELP trailhound_kafka_consumer_lag Messages not consumed yet, per "
                   "partition (-1: unknown).\n# TYPE trailhound_kafka_consumer_lag gauge\n");
        for (size_t i = 0; i < np; i++) {
            struct th_kafka_part *kp = th__kafka_consumer_part(s->cons, i);
            fprintf(f, "trailhound_kafka_consumer_lag{topic=\"%s\",partition=\"%d\"} %lld\n",
                    kp->topic, (int)kp->partition,
                    (long long)th__kafka_consumer_lag(s->cons, kp));
        }
        fprintf(f, "# HELP trailhound_kafka_committed_offset Next offset committed, per "
                   "partition (-1: none).\n# TYPE trailhound_kafka_committed_offset gauge\n");
        for (size_t i = 0; i < np; i++) {
            struct th_kafka_part *kp = th__kafka_consumer_part(s->cons, i);
            fprintf(f, "trailhound_kafka_committed_offset{topic=\"%s\",partition=\"%d\"} %lld\n",
                    kp->topic, (int)kp->partition, (long long)kp->committed);
        }
    }
    if (s && s->prod) {
        struct th_kafka_producer_stats ps;
        th__kafka_producer_stats(s->prod, &ps);
        metric(f, "trailhound_output_delivered_total", "counter",
               "Signals delivered to the Kafka output.", ps.delivered);
        metric(f, "trailhound_output_delivery_errors_total", "counter",
               "Failed deliveries (each signal is sent again).", ps.errors);
        metric(f, "trailhound_output_pending", "gauge", "Signals not delivered yet.",
               th__kafka_producer_pending(s->prod));
    }
    double p50, p99;
    if (s && lat_quantiles(&s->lat, &p50, &p99))
        fprintf(f, "# HELP trailhound_signal_latency_seconds From the source message's "
                   "timestamp to the signal written (file) or delivered (Kafka).\n"
                   "# TYPE trailhound_signal_latency_seconds summary\n"
                   "trailhound_signal_latency_seconds{quantile=\"0.5\"} %.3f\n"
                   "trailhound_signal_latency_seconds{quantile=\"0.99\"} %.3f\n"
                   "trailhound_signal_latency_seconds_count %llu\n",
                p50 / 1000, p99 / 1000, (unsigned long long)s->lat.total);
    bool bad = ferror(f) != 0;
    if (fclose(f))
        bad = true;
    if (bad || rename(tmp, path)) {
        th__cli_error("%s: cannot write the metrics: %s", path, strerror(errno));
        unlink(tmp);
        return TH_EXIT_USAGE;
    }
    return 0;
}

int th__cli_metrics_write_engine(const char *path, const struct th_engine *eng)
{
    struct th_stats st;
    th_engine_stats(eng, &st);
    return write_metrics(path, &st, NULL);
}

static void summary(struct stream *s)
{
    struct th_stats st;
    sum_stats(s, &st);
    FILE *f = stderr;
    fprintf(f, "trailhound: stats:\n");
    if (s->cons) {
        struct th_kafka_consumer_stats cs;
        th__kafka_consumer_stats(s->cons, &cs);
        fprintf(f, "  kafka            %llu messages, %llu commits (%llu failed), %llu "
                   "assignments, %llu consumer errors, paused %llu times\n",
                (unsigned long long)cs.messages, (unsigned long long)cs.commits,
                (unsigned long long)cs.commit_errors, (unsigned long long)cs.rebalances,
                (unsigned long long)cs.errors, (unsigned long long)s->pauses);
    }
    if (s->batch)
        fprintf(f, "  files            %llu read, %llu unreadable, %llu digest skipped\n",
                (unsigned long long)st.files, (unsigned long long)st.files_unreadable,
                (unsigned long long)st.skipped_digest);
    fprintf(f, "  bytes            %llu\n", (unsigned long long)st.bytes);
    fprintf(f, "  events           %llu accepted, %llu late, %llu control messages skipped\n",
            (unsigned long long)st.events, (unsigned long long)st.late,
            (unsigned long long)st.skipped_control);
    fprintf(f, "  rejected         %llu", (unsigned long long)st.rejected);
    const char *sep = " (";
    for (int i = 0; th_reject_reason_name(i); i++) {
        if (!st.rejected_by[i])
            continue;
        fprintf(f, "%s%s %llu", sep, th_reject_reason_name(i),
                (unsigned long long)st.rejected_by[i]);
        sep = ", ";
    }
    fprintf(f, "%s\n", sep[0] == ',' ? ")" : "");
    size_t shown = 0;
    for (size_t i = 0; i < s->nsamples; i++, shown++)
        fprintf(f, "    %s\n", s->samples[i]);
    if (s->batch)
        for (size_t i = 0; th_engine_reject_sample(s->batch, i) && shown < 5; i++, shown++)
            fprintf(f, "    %s\n", th_engine_reject_sample(s->batch, i));
    for (size_t k = 0; s->cons && k < th__kafka_consumer_nparts(s->cons); k++) {
        struct part *p = th__kafka_consumer_part(s->cons, k)->user;
        for (size_t i = 0; p && th_engine_reject_sample(p->eng, i) && shown < 5; i++, shown++)
            fprintf(f, "    %s\n", th_engine_reject_sample(p->eng, i));
    }
    fprintf(f, "  matched          %llu events\n", (unsigned long long)st.matched);
    fprintf(f, "  signals          %llu new, %llu updates, %llu closed\n",
            (unsigned long long)st.signals, (unsigned long long)st.updates,
            (unsigned long long)st.closed);
    fprintf(f, "  groups           %llu live, %llu expired, %llu evicted\n",
            (unsigned long long)st.groups, (unsigned long long)st.groups_expired,
            (unsigned long long)st.groups_evicted);
    if (s->prod) {
        struct th_kafka_producer_stats ps;
        th__kafka_producer_stats(s->prod, &ps);
        fprintf(f, "  output           %llu signals delivered to %s, %llu delivery errors, "
                   "%llu sent again, %zu pending\n",
                (unsigned long long)ps.delivered, s->a->output, (unsigned long long)ps.errors,
                (unsigned long long)ps.retries, th__kafka_producer_pending(s->prod));
    }
    double p50, p99;
    if (lat_quantiles(&s->lat, &p50, &p99))
        fprintf(f, "  latency          produce to signal: p50 %.0f ms, p99 %.0f ms (%llu "
                   "signals)\n",
                p50, p99, (unsigned long long)s->lat.total);
    if (s->cons && s->t_last > s->t_first) {
        double secs = s->t_last - s->t_first;
        uint64_t n = st.events - s->events_first;
        fprintf(f, "  throughput       %llu events in %.3f s after the first message, up to "
                   "the last: %.0f events/s\n",
                (unsigned long long)n, secs, (double)n / secs);
    }
    if (s->a->opts.state_dir)
        fprintf(f, "  state            %llu snapshots saved in %.3f s\n",
                (unsigned long long)s->saves, s->save_s);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        fprintf(f, "  cpu              %.3f s user, %.3f s system\n",
                (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
                (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
    double secs = mono() - s->start;
    fprintf(f, "  time             %.3f s, %.0f events/s\n", secs,
            secs > 0 ? (double)st.events / secs : 0.0);
}

/* ---- running -------------------------------------------------------------------------- */

bool th__cli_stream_wanted(const struct th_cli_args *a)
{
    if (th__kafka_is_url(a->output))
        return true;
    for (int i = 0; i < a->npositional; i++)
        if (th__kafka_is_url(a->positional[i]))
            return true;
    return false;
}

static bool stop_requested(void)
{
    sigset_t pend;
    sigemptyset(&pend);
    sigpending(&pend);
    return sigismember(&pend, SIGINT) || sigismember(&pend, SIGTERM);
}

/* Files to a Kafka output: one engine reads them; the run waits for every delivery
 * before saving the state. Returns the exit code. */
static int run_batch(struct stream *s)
{
    struct th_options o = s->a->opts;
    o.log = warn_once;
    o.log_ctx = s;
    o.progress = NULL;
    struct th_err err = {0};
    char buf[1100];
    if (th_engine_new(s->rs, &o, on_line, s, &s->batch, &err) < 0) {
        th__cli_error("%s", th_err_format(&err, buf, sizeof buf));
        return TH_EXIT_USAGE;
    }
    int status = 0;
    for (int i = 0; i < s->a->npositional && !s->output_failed && !stop_requested(); i++) {
        memset(&err, 0, sizeof err);
        if (th_engine_read_path(s->batch, s->a->positional[i], &err) < 0) {
            th__cli_error("%s", th_err_format(&err, buf, sizeof buf));
            status = TH_EXIT_INPUT;
        }
        th__kafka_producer_poll(s->prod, 0);
    }
    th_engine_finish(s->batch);
    double warned = mono();
    while (!s->output_failed && !stop_requested() && th__kafka_producer_poll(s->prod, 200)) {
        if (mono() - warned > 10) {
            fprintf(stderr, "trailhound: %s: %zu signals waiting for delivery\n",
                    s->a->output, th__kafka_producer_pending(s->prod));
            warned = mono();
        }
    }
    if (s->output_failed || th__kafka_producer_pending(s->prod)) {
        th__cli_error("%s: %zu signals were not delivered; the state is not saved", s->a->output,
                      th__kafka_producer_pending(s->prod));
        return TH_EXIT_USAGE;
    }
    if (s->a->opts.state_dir) {
        memset(&err, 0, sizeof err);
        if (th_engine_state_save(s->batch, &err) < 0) {
            th__cli_error("%s", th_err_format(&err, buf, sizeof buf));
            return TH_EXIT_USAGE;
        }
    }
    return status;
}

/* The streaming loop; returns with the consumer still open (the caller closes it). */
static void run_stream(struct stream *s)
{
    double ci = (double)s->a->commit_interval_ms / 1000;
    double si = (double)s->a->stats_interval_ms / 1000;
    double now = mono(), next_commit = now + ci, next_stats = now + si, last_maint = 0;
    struct th_err err = {0};
    while (!s->fatal && !stop_requested()) {
        int rc = th__kafka_consumer_poll(s->cons, 100, on_msg, s, &err);
        if (rc < 0) {
            th__cli_error("%s", err.msg);
            s->fatal = TH_EXIT_INPUT;
            break;
        }
        now = mono();
        if (rc > 0) {
            if (!s->t_first) {
                struct th_stats st;
                sum_stats(s, &st);
                s->t_first = now;
                s->events_first = st.events;
            }
            s->t_last = now;
        }
        if (s->output_failed) {
            s->fatal = TH_EXIT_USAGE;
            break;
        }
        /* Housekeeping at most every 10 ms while messages flow. */
        if (rc > 0 && now - last_maint < 0.01)
            continue;
        last_maint = now;
        bool paused = th__kafka_consumer_paused(s->cons);
        if (s->prod) {
            size_t pending = th__kafka_producer_poll(s->prod, 0);
            if (!paused && th__kafka_producer_stalled(s->prod)) {
                fprintf(stderr, "trailhound: kafka: the output is down: consumption paused "
                                "until the signals are delivered\n");
                th__kafka_consumer_pause(s->cons, true);
                s->pauses++;
                paused = true;
            } else if (paused && pending == 0 && commit_point(s, 0)) {
                fprintf(stderr, "trailhound: kafka: the output is back: consumption resumed\n");
                th__kafka_consumer_pause(s->cons, false);
                paused = false;
                next_commit = now + ci;
            }
        }
        if (now >= next_commit) {
            if (!commit_point(s, paused ? 0 : COMMIT_WAIT_MS) && !s->fatal && !paused) {
                fprintf(stderr, "trailhound: kafka: signals not delivered within %d ms: "
                                "consumption paused until they are\n", COMMIT_WAIT_MS);
                th__kafka_consumer_pause(s->cons, true);
                s->pauses++;
            }
            next_commit = mono() + ci;
        }
        if (now >= next_stats) {
            if (s->a->stats)
                stats_line(s, now);
            if (s->a->metrics) {
                struct th_stats st;
                sum_stats(s, &st);
                write_metrics(s->a->metrics, &st, s);
            }
            next_stats = now + si;
        }
        if (s->a->exit_at_end && th__kafka_consumer_at_end(s->cons) &&
            (!s->prod || th__kafka_producer_pending(s->prod) == 0))
            break;
    }
}

/* Sets up the source, the output and the properties. Returns 0 or an exit code. */
static int setup(struct stream *s)
{
    struct th_err err = {0};
    char buf[1100];
    int nkafka = 0;
    for (int i = 0; i < s->a->npositional; i++)
        nkafka += th__kafka_is_url(s->a->positional[i]);
    if (nkafka > 1 || (nkafka && s->a->npositional > 1)) {
        th__cli_error("run: a Kafka source is the only source of a run (several topics go in "
                      "one URL: kafka://HOST:PORT/TOPIC1,TOPIC2?group=NAME)");
        return TH_EXIT_USAGE;
    }
    for (int i = 0; i < s->a->nkafka_props; i++)
        if (th__kafka_props_add(&s->props, s->a->kafka_props[i], &err) < 0) {
            th__cli_error("%s", th_err_format(&err, buf, sizeof buf));
            return TH_EXIT_USAGE;
        }
    if (nkafka) {
        if (th__kafka_url_parse(s->a->positional[0], TH_KAFKA_SOURCE, &s->src, &err) < 0) {
            th__cli_error("%s", th_err_format(&err, buf, sizeof buf));
            return TH_EXIT_USAGE;
        }
        s->have_src = true;
    }
    if (th__kafka_is_url(s->a->output)) {
        if (th__kafka_url_parse(s->a->output, TH_KAFKA_OUTPUT, &s->out, &err) < 0) {
            th__cli_error("%s", th_err_format(&err, buf, sizeof buf));
            return TH_EXIT_USAGE;
        }
        s->have_out = true;
        struct th_kafka_producer_hooks ph = {s, on_delivered, kafka_log};
        if (th__kafka_producer_new(&s->out, &s->props, &ph, &s->prod, &err) < 0) {
            th__cli_error("%s", th_err_format(&err, buf, sizeof buf));
            return TH_EXIT_USAGE;
        }
    } else {
        int rc = th__cli_output_open(&s->file, s->a->output);
        if (rc)
            return rc;
        s->file_open = true;
        struct stat st;
        s->file_sync = s->file.fp != stdout && fstat(fileno(s->file.fp), &st) == 0 &&
                       S_ISREG(st.st_mode);
    }
    if (s->have_src) {
        struct th_kafka_hooks hooks = {s, on_assigned, on_revoking, on_released, kafka_log};
        if (th__kafka_consumer_new(&s->src, &s->props, &hooks, &s->cons, &err) < 0) {
            th__cli_error("%s", th_err_format(&err, buf, sizeof buf));
            return TH_EXIT_USAGE;
        }
    }
    return 0;
}

int th__cli_stream_run(struct th_cli_args *a, const struct th_ruleset *rs)
{
    struct stream s;
    memset(&s, 0, sizeof s);
    s.a = a;
    s.rs = rs;
    s.origin_ms = -1;
    s.start = mono();
    th__kafka_props_init(&s.props);
    /* Streaming: blocked before librdkafka starts threads, which inherit the mask, and
     * polled by the loop. Files to Kafka: left alone (an interrupted run commits nothing,
     * so it may die at once). */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    bool streaming = false;
    for (int i = 0; i < a->npositional; i++)
        streaming |= th__kafka_is_url(a->positional[i]);
    pthread_sigmask(streaming ? SIG_BLOCK : SIG_SETMASK, streaming ? &sigs : NULL, &old);
    if (streaming) {
        /* An ignored signal is never pending: a shell starts background jobs with SIGINT
         * ignored, and a stream must still stop gracefully on it. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(SIGINT, &dfl, NULL);
        sigaction(SIGTERM, &dfl, NULL);
    }

    int status = setup(&s);
    if (!status && s.have_src) {
        run_stream(&s);
        bool stopping_by_signal = stop_requested();
        if (stopping_by_signal) {
            struct timespec zero = {0, 0};
            sigtimedwait(&sigs, NULL, &zero);
            pthread_sigmask(SIG_SETMASK, &old, NULL); /* a second one kills at once */
        }
        /* Shutdown: wait for the output, then leave the group; the revocation commits. */
        if (!s.fatal && !make_durable(&s, SHUTDOWN_WAIT_MS))
            s.uncommitted = true;
        if (!s.fatal && !s.uncommitted)
            commit_point(&s, 0);
        th__kafka_consumer_close(s.cons);
        if (s.fatal)
            status = s.fatal;
        else if (s.uncommitted || s.output_failed) {
            th__cli_error("the output could not take every signal (%zu pending): their offsets "
                          "are not committed, and the next run reads them again",
                          s.prod ? th__kafka_producer_pending(s.prod) : (size_t)0);
            status = TH_EXIT_USAGE;
        }
    } else if (!status) {
        status = run_batch(&s);
    }
    if (s.file_open && th__cli_output_close(&s.file) && !status)
        status = TH_EXIT_USAGE;
    struct th_stats st;
    sum_stats(&s, &st);
    if (a->stats && (s.cons || s.batch))
        summary(&s);
    if (a->metrics && (s.cons || s.batch) && write_metrics(a->metrics, &st, &s) && !status)
        status = TH_EXIT_USAGE;
    if (s.batch)
        th_engine_free(s.batch);
    th__kafka_consumer_free(s.cons);
    th__kafka_producer_free(s.prod);
    th__kafka_url_fini(&s.src);
    th__kafka_url_fini(&s.out);
    th__kafka_props_fini(&s.props);
    for (size_t i = 0; i < s.nwarned; i++)
        free(s.warned[i]);
    free(s.warned);
    for (size_t i = 0; i < s.nstarted; i++)
        free(s.started[i]);
    free(s.started);
    free(s.lat.v);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (status)
        return status;
    return a->fail_on_signal && st.signals ? TH_EXIT_SIGNALS : TH_EXIT_OK;
}
