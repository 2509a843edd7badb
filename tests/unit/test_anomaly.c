/*
 * test_anomaly.c - the anomaly_detection method (detect_anomaly.c), driven through the
 * public API: rules are YAML files in a mkdtemp directory loaded with th_ruleset_load,
 * events are NDJSON built here and fed with th_engine_read_buffer, and signal lines are
 * parsed back into one short summary per line ("new alice 2024-03-05T12:00:00Z v=4 b=3
 * k=312 n=4": status, user, details.bucket_start, value, bound, baseline_buckets and
 * events_matched), so most checks compare whole series.
 *
 * The expected bounds are worked out by hand in the comments from the statistic in the
 * file header of detect_anomaly.c (bound = floor(q + (tolerance + 1) * max(sigma, noise))).
 *
 * Covered: learning (quiet before learning_duration, exactly at it evaluated; a spike
 * during learning does not lift the later baseline above its 99th percentile); a spike
 * firing on the very event that crosses the bound, with its details, then updates; the
 * tolerance levels against every spike size (exact thresholds, and never firing at a
 * higher tolerance where a lower one is quiet); sparse groups with a zero baseline (one
 * event after silence never fires) and group expiry after 14 days of silence (learning
 * again); hour-of-day seasonality (a daily job fires while the history is short and stops
 * once 7 days make it part of its hour; the same burst at another hour fires);
 * cardinality (repeats and events without the distinct attribute add nothing; each bucket
 * starts afresh); late events of an older bucket; signal closing by watermark in order;
 * the LRU cap; --state save and load mid-burst giving exactly the signals of one run (count
 * and cardinality together); and malformed state refused cleanly (every truncation, every
 * flipped byte, a different bucket size).
 */
#include "trailhound.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "check.h"
#include "sbuf.h"
#include "detect.h"
#include "ruleset.h"
#include "state.h"
#include "timeutil.h"

#define T0 INT64_C(1709510400000) /* 2024-03-04T00:00:00Z */
#define SEC INT64_C(1000)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

static char dir[256];

/* ---- text building -------------------------------------------------------------------- */

/* Appends one NDJSON event at T0 + ms: eventName Probe by user, with secret (NULL: no
 * requestParameters). */
static int evseq;
static void ev(struct sb *b, int64_t ms, const char *user, const char *secret)
{
    char t[40];
    th__time_format(T0 + ms, t, sizeof t);
    sb_addf(b, "{\"eventVersion\":\"1.08\",\"eventTime\":\"%s\",\"eventID\":\"e%d\","
               "\"eventName\":\"Probe\",\"userIdentity\":{\"type\":\"IAMUser\",\"arn\":"
               "\"arn:aws:iam::111122223333:user/%s\"}", t, ++evseq, user);
    if (secret)
        sb_addf(b, ",\"requestParameters\":{\"secretId\":\"%s\"}", secret);
    sb_addf(b, "}\n");
}

/* n events of user, one every `every` ms from T0 + ms. */
static void burst(struct sb *b, int64_t ms, int n, int64_t every, const char *user)
{
    for (int i = 0; i < n; i++)
        ev(b, ms + i * every, user, NULL);
}

/* ---- rules and runs ------------------------------------------------------------------- */

static void on_diag(void *ctx, const struct th_diag *d)
{
    (void)ctx;
    fprintf(stderr, "diag: %s: %s: %s\n", d->is_error ? "error" : "warning", d->where, d->msg);
}

static int nrule;

/* Writes a rule into its own new directory (so several can be loaded together) and returns
 * that directory's path in a static buffer. */
static const char *write_rule(const char *subdir, const char *id, const char *agg, int tol,
                              const char *learning, const char *bucket)
{
    static char path[1100];
    char d[512];
    snprintf(d, sizeof d, "%s/%s", dir, subdir);
    mkdir(d, 0700);
    snprintf(path, sizeof path, "%s/rule%d.yaml", d, ++nrule);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    fprintf(f,
            "id: %s\n"
            "name: Anomaly under test\n"
            "tags: [source:cloudtrail, tactic:TA0007-discovery, technique:T1526-cloud-service-"
            "discovery]\n"
            "queries:\n"
            "  - query: '@evt.name:Probe'\n"
            "    group_by: ['@userIdentity.arn']\n"
            "%s"
            "options:\n"
            "  detection_method: anomaly_detection\n"
            "  anomaly_detection:\n"
            "    bucket_duration: %s\n"
            "    learning_duration: %s\n"
            "    detection_tolerance: %d\n"
            "  keep_alive: 1h\n"
            "  max_signal_duration: 1d\n"
            "cases:\n"
            "  - status: medium\n",
            id, agg, bucket, learning, tol);
    fclose(f);
    snprintf(path, sizeof path, "%s", d);
    return path;
}

#define COUNT "    aggregation: count\n"
#define CARD "    aggregation: cardinality\n    distinct: ['@requestParameters.secretId']\n"

static struct th_ruleset *load_path(const char *path, size_t want)
{
    const char *paths[] = {path};
    struct th_ruleset *rs = NULL;
    CHECK_INT(th_ruleset_load(paths, 1, 0, on_diag, NULL, &rs), 0);
    CHECK_INT(th_ruleset_count(rs), want);
    return rs;
}

/* A count rule (or cardinality with card) alone in a fresh directory. */
static struct th_ruleset *load_rule(bool card, int tol, const char *learning, const char *bucket)
{
    char sub[32];
    snprintf(sub, sizeof sub, "r%d", nrule + 1);
    return load_path(write_rule(sub, "t-anomaly", card ? CARD : COUNT, tol, learning, bucket), 1);
}

#define MAXLINES 1024

struct run {
    size_t n;
    char *line[MAXLINES];
    struct th_stats st;
};

static int on_line(void *ctx, const char *line, size_t len)
{
    struct run *r = ctx;
    if (r->n < MAXLINES)
        r->line[r->n] = strndup(line, len);
    r->n++;
    return 0;
}

static void run_free(struct run *r)
{
    for (size_t i = 0; i < r->n && i < MAXLINES; i++)
        free(r->line[i]);
    memset(r, 0, sizeof *r);
}

static void opts_init(struct th_options *o, bool updates)
{
    th_options_init(o);
    o->signal_updates = updates;
}

/* Feeds events to a fresh engine over rs (appending its lines to r) and frees it; with
 * state_dir, loads the snapshot first and saves it at the end. */
static void run_more(struct th_ruleset *rs, const struct th_options *o, const struct sb *events,
                     struct run *r)
{
    struct th_engine *e = NULL;
    struct th_err err = {{0}, {0}};
    int rc = th_engine_new(rs, o, on_line, r, &e, &err);
    CHECK_INT(rc, 0);
    if (rc < 0) {
        fprintf(stderr, "th_engine_new: %s: %s\n", err.where, err.msg);
        return;
    }
    CHECK_INT(th_engine_read_buffer(e, "events.ndjson", events->p, events->len), 0);
    CHECK_INT(th_engine_finish(e), 0);
    if (o->state_dir)
        CHECK_INT(th_engine_state_save(e, &err), 0);
    th_engine_stats(e, &r->st);
    th_engine_free(e);
}

static void run(struct th_ruleset *rs, bool updates, const struct sb *events, struct run *r)
{
    memset(r, 0, sizeof *r);
    struct th_options o;
    opts_init(&o, updates);
    run_more(rs, &o, events, r);
}

static json_object *member(json_object *o, const char *a, const char *b)
{
    json_object *x = NULL, *y = NULL;
    if (!o || !json_object_object_get_ex(o, a, &x))
        return NULL;
    if (!b)
        return x;
    return json_object_object_get_ex(x, b, &y) ? y : NULL;
}

static const char *str_of(json_object *o)
{
    return o ? json_object_get_string(o) : "-";
}

/* One line per signal line (see the file header), joined by "; ". */
static const char *summary(const struct run *r)
{
    static char out[65536];
    out[0] = '\0';
    for (size_t i = 0; i < r->n && i < MAXLINES; i++) {
        json_object *o = json_tokener_parse(r->line[i]);
        size_t l = strlen(out);
        if (!o) {
            snprintf(out + l, sizeof out - l, "%sUNPARSEABLE", i ? "; " : "");
            continue;
        }
        json_object *g = member(o, "group", "@userIdentity.arn");
        const char *user = g ? strrchr(json_object_get_string(g), '/') : NULL;
        json_object *d = member(o, "details", NULL);
        snprintf(out + l, sizeof out - l, "%s%s %s %s v=%s b=%s k=%s n=%s", i ? "; " : "",
                 str_of(member(o, "status", NULL)), user ? user + 1 : "-",
                 str_of(member(d, "bucket_start", NULL)), str_of(member(d, "value", NULL)),
                 str_of(member(d, "bound", NULL)), str_of(member(d, "baseline_buckets", NULL)),
                 str_of(member(o, "events_matched", NULL)));
        json_object_put(o);
    }
    return out;
}

/* A member of line i as text ("" when absent). */
static const char *field(const struct run *r, size_t i, const char *a, const char *b)
{
    static char out[512];
    out[0] = '\0';
    if (i >= r->n || i >= MAXLINES)
        return "(no such line)";
    json_object *o = json_tokener_parse(r->line[i]);
    json_object *v = o ? member(o, a, b) : NULL;
    snprintf(out, sizeof out, "%s", v ? json_object_get_string(v) : "");
    json_object_put(o);
    return out;
}

/* A baseline: one event of user per hour, at T0 + h hours for h in [0, hours). */
static void hourly(struct sb *e, const char *user, int hours)
{
    for (int h = 0; h < hours; h++)
        ev(e, h * HOUR, user, NULL);
}

/* The same for two users, interleaved so that event time never goes back. */
static void hourly2(struct sb *e, const char *u1, const char *u2, int hours)
{
    for (int h = 0; h < hours; h++) {
        ev(e, h * HOUR, u1, NULL);
        ev(e, h * HOUR, u2, NULL);
    }
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_learning(void)
{
    struct th_ruleset *rs = load_rule(false, 1, "1d", "5m");
    struct sb e = {0};
    struct run r;

    /* First event at T0; 9 events just before a day has passed: learning, quiet. At exactly
     * one day, evaluated: the history is 288 buckets with values 1 (T0) and 9 (the
     * learning burst); the 99th percentile (the 286th smallest) ignores both: q = 0, bound
     * = floor(0 + 2 * 1) = 2, so the third event of the new bucket fires. */
    ev(&e, 0, "alice", NULL);
    burst(&e, DAY - MIN, 9, 1 * SEC, "alice");
    burst(&e, DAY, 9, 1 * SEC, "alice");
    run(rs, false, &e, &r);
    CHECK_STR(summary(&r), "new alice 2024-03-05T00:00:00Z v=3 b=2 k=288 n=3");
    CHECK_STR(field(&r, 0, "first_seen", NULL), "2024-03-05T00:00:00Z");
    CHECK_STR(field(&r, 0, "last_seen", NULL), "2024-03-05T00:00:02Z");
    CHECK_STR(field(&r, 0, "method", NULL), "anomaly_detection");
    run_free(&r);

    /* Learning 0: the first bucket is judged against an empty history (K = 0, bound 2). */
    struct th_ruleset *rs0 = load_rule(false, 1, "0s", "5m");
    sb_free(&e);
    burst(&e, 0, 3, SEC, "bob");
    run(rs0, false, &e, &r);
    CHECK_STR(summary(&r), "new bob 2024-03-04T00:00:00Z v=3 b=2 k=0 n=3");
    run_free(&r);
    th_ruleset_free(rs0);

    /* A new principal bursting in its first hours never fires, whatever the size. */
    sb_free(&e);
    burst(&e, 2 * HOUR, 200, SEC, "carol");
    run(rs, true, &e, &r);
    CHECK_INT(r.n, 0);
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

static void test_spike(void)
{
    struct th_ruleset *rs = load_rule(false, 1, "1d", "5m");
    struct sb e = {0};
    struct run r;

    /* 26 hourly events, then 10 events at T0 + 26h + 10s. History: 312 buckets, 26 ones:
     * q = the 309th smallest = 1; MAD 0; noise 1; bound = floor(1 + 2) = 3: the 4th event
     * fires, the 6 after it update. */
    hourly(&e, "alice", 26);
    int crossing = evseq + 4;
    burst(&e, 26 * HOUR + 10 * SEC, 10, SEC, "alice");
    run(rs, true, &e, &r);
    CHECK_STR(summary(&r), "new alice 2024-03-05T02:00:00Z v=4 b=3 k=312 n=4; "
                           "update alice 2024-03-05T02:00:00Z v=5 b=3 k=312 n=5; "
                           "update alice 2024-03-05T02:00:00Z v=6 b=3 k=312 n=6; "
                           "update alice 2024-03-05T02:00:00Z v=7 b=3 k=312 n=7; "
                           "update alice 2024-03-05T02:00:00Z v=8 b=3 k=312 n=8; "
                           "update alice 2024-03-05T02:00:00Z v=9 b=3 k=312 n=9; "
                           "update alice 2024-03-05T02:00:00Z v=10 b=3 k=312 n=10");
    /* first_seen is the bucket's first event, not the one that crossed. */
    CHECK_STR(field(&r, 0, "first_seen", NULL), "2024-03-05T02:00:10Z");
    CHECK_STR(field(&r, 0, "last_seen", NULL), "2024-03-05T02:00:13Z");
    char ids[64];
    snprintf(ids, sizeof ids, "[ \"e%d\" ]", crossing);
    CHECK_STR(field(&r, 0, "event_ids", NULL), ids);
    run_free(&r);

    /* A spike up to the bound (3 events) is quiet; 4 events straddling two buckets are
     * buckets of 3 and 1: quiet too (the bucket of 3 in the history does not move the
     * 99th percentile). */
    sb_free(&e);
    hourly(&e, "alice", 26);
    burst(&e, 26 * HOUR, 3, SEC, "alice");
    burst(&e, 27 * HOUR + 4 * MIN + 57 * SEC, 4, SEC, "alice"); /* 3 before 03:05, 1 after */
    run(rs, true, &e, &r);
    CHECK_INT(r.n, 0);
    run_free(&r);

    /* Each bucket is judged on its own: two bursts an hour apart each open their bucket's
     * evaluation, and while the signal is open the second updates it (one "new"). Two
     * hours later (past keep_alive 1h) a third opens a new signal with a new id. */
    sb_free(&e);
    hourly(&e, "alice", 26);
    burst(&e, 26 * HOUR + 30 * MIN, 4, SEC, "alice");
    burst(&e, 27 * HOUR, 4, SEC, "alice");
    burst(&e, 29 * HOUR + 30 * MIN, 4, SEC, "alice");
    run(rs, false, &e, &r);
    CHECK_INT(r.n, 2);
    CHECK_STR(field(&r, 0, "details", "bucket_start"), "2024-03-05T02:30:00Z");
    CHECK_STR(field(&r, 1, "details", "bucket_start"), "2024-03-05T05:30:00Z");
    char id0[64];
    snprintf(id0, sizeof id0, "%s", field(&r, 0, "id", NULL));
    CHECK(strlen(id0) == 32 && strcmp(id0, field(&r, 1, "id", NULL)) != 0);
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

/* Whether a spike of n events after the 26-hour hourly baseline fires at tolerance tol. */
static bool fires(int tol, int n)
{
    struct th_ruleset *rs = load_rule(false, tol, "1d", "5m");
    struct sb e = {0};
    struct run r;
    hourly(&e, "alice", 26);
    burst(&e, 26 * HOUR + 10 * SEC, n, SEC, "alice");
    run(rs, false, &e, &r);
    bool f = r.n > 0;
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
    return f;
}

static void test_tolerance(void)
{
    /* bound = floor(1 + (tol + 1) * 1) = tol + 2: a spike of n fires exactly when n > tol + 2
     * (at tolerance 5, 8 events where the baseline has at most 1 per bucket). */
    bool f[6][15];
    for (int tol = 1; tol <= 5; tol++)
        for (int n = 1; n <= 14; n++) {
            f[tol][n] = fires(tol, n);
            if (f[tol][n] != (n > tol + 2))
                fprintf(stderr, "tolerance %d, spike %d: %s\n", tol, n,
                        f[tol][n] ? "fired" : "quiet");
            CHECK(f[tol][n] == (n > tol + 2));
        }
    /* Never the reverse: what fires at a higher tolerance fires at every lower one. */
    for (int tol = 2; tol <= 5; tol++)
        for (int n = 1; n <= 14; n++)
            CHECK(!f[tol][n] || f[tol - 1][n]);
}

static void test_sparse(void)
{
    struct th_ruleset *rs = load_rule(false, 1, "1d", "5m");
    struct run r;
    struct sb e = {0};

    /* One event, three days of silence, then events one minute apart: the history is 864
     * buckets with a single 1: q = 0, bound 2. One or two events after the silence are
     * quiet; the third fires. */
    ev(&e, 0, "alice", NULL);
    ev(&e, 3 * DAY, "alice", NULL);
    run(rs, false, &e, &r);
    CHECK_INT(r.n, 0);
    run_free(&r);
    ev(&e, 3 * DAY + MIN, "alice", NULL);
    run(rs, false, &e, &r);
    CHECK_INT(r.n, 0);
    run_free(&r);
    ev(&e, 3 * DAY + 2 * MIN, "alice", NULL);
    run(rs, false, &e, &r);
    CHECK_STR(summary(&r), "new alice 2024-03-07T00:00:00Z v=3 b=2 k=864 n=3");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);

    /* At tolerance 5 the zero baseline needs 7 (bound 6). */
    rs = load_rule(false, 5, "1d", "5m");
    ev(&e, 0, "alice", NULL);
    burst(&e, 3 * DAY, 6, SEC, "alice");
    run(rs, false, &e, &r);
    CHECK_INT(r.n, 0);
    run_free(&r);
    ev(&e, 3 * DAY + 6 * SEC, "alice", NULL);
    run(rs, false, &e, &r);
    CHECK_STR(summary(&r), "new alice 2024-03-07T00:00:00Z v=7 b=6 k=864 n=7");
    run_free(&r);
    sb_free(&e);

    /* A group silent for more than 14 days is dropped (counted as expired) when other
     * traffic moves event time on; when it comes back it learns again: quiet. Without the
     * gap (13 days) it is still there and the same burst fires. */
    ev(&e, 0, "alice", NULL);
    ev(&e, 15 * DAY, "bob", NULL);
    burst(&e, 15 * DAY + HOUR, 20, SEC, "alice");
    run(rs, false, &e, &r);
    CHECK_INT(r.n, 0);
    CHECK_INT(r.st.groups_expired, 1);
    CHECK_INT(r.st.groups, 2);
    run_free(&r);
    sb_free(&e);
    ev(&e, 0, "alice", NULL);
    ev(&e, 13 * DAY, "bob", NULL);
    burst(&e, 13 * DAY + HOUR, 20, SEC, "alice");
    run(rs, false, &e, &r);
    CHECK_INT(r.n, 1);
    CHECK_INT(r.st.groups_expired, 0);
    /* 13 days of history: seasonal, the hour 01:00 of the 13 previous days (the first
     * day's 00:00 bucket is in no 01:00 window): 156 zero buckets. */
    CHECK_STR(summary(&r), "new alice 2024-03-17T01:00:00Z v=7 b=6 k=156 n=7");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

static void test_seasonality(void)
{
    struct th_ruleset *rs = load_rule(false, 1, "1d", "5m");
    struct sb e = {0};
    struct run r;

    /* Ten days of: one event at 00:30, 06:30, 12:30 and 18:30, and a daily job at 02:00
     * making 30 calls 20 s apart (15 in the 02:00 bucket, 15 in 02:05). Day 9 also has the
     * same burst at 14:00.
     *  - Days 1 to 6: the history is all recent buckets, and the job's 2 buckets a day are
     *    fewer than the top 1% the 99th percentile ignores: q = 1, bound 3: it fires.
     *  - From day 7 (7 days of history) the 02:00 bucket is compared with the 02:00-03:00
     *    buckets of the previous days (84 to 108 of them, 14 to 18 of 15 calls): q = 15,
     *    MAD 0, noise sqrt(15): bound = floor(15 + 2 * 3.87) = 22: quiet.
     *  - Day 9 at 14:00: the 14:00-15:00 buckets of 9 days are all empty: q = 0, bound 2:
     *    fires. */
    for (int d = 0; d < 10; d++) {
        int64_t day = d * DAY;
        ev(&e, day + 30 * MIN, "alice", NULL);
        burst(&e, day + 2 * HOUR, 30, 20 * SEC, "alice");
        ev(&e, day + 6 * HOUR + 30 * MIN, "alice", NULL);
        ev(&e, day + 12 * HOUR + 30 * MIN, "alice", NULL);
        if (d == 9)
            burst(&e, day + 14 * HOUR, 30, 20 * SEC, "alice");
        ev(&e, day + 18 * HOUR + 30 * MIN, "alice", NULL);
    }
    run(rs, false, &e, &r);
    CHECK_STR(summary(&r), "new alice 2024-03-05T02:00:00Z v=4 b=3 k=306 n=4; "
                           "new alice 2024-03-06T02:00:00Z v=4 b=3 k=594 n=4; "
                           "new alice 2024-03-07T02:00:00Z v=4 b=3 k=882 n=4; "
                           "new alice 2024-03-08T02:00:00Z v=4 b=3 k=1170 n=4; "
                           "new alice 2024-03-09T02:00:00Z v=4 b=3 k=1458 n=4; "
                           "new alice 2024-03-10T02:00:00Z v=4 b=3 k=1746 n=4; "
                           "new alice 2024-03-13T14:00:00Z v=3 b=2 k=108 n=3");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);

    /* With hour buckets, the seasonal history is the same hour of each previous day: a job
     * of 40 calls at 02:00 daily, and otherwise 2 calls an hour. Day 8: 02:00 is compared
     * with the 02:00 buckets of 8 days: q = 40, sigma 0, noise 6.3: bound floor(40 + 12.6)
     * = 52, quiet; 13:00 with its own hour: q = 2, noise 1.41: bound floor(2 + 2.83) = 4:
     * 5 calls fire. */
    rs = load_rule(false, 1, "1d", "1h");
    for (int d = 0; d < 9; d++) {
        for (int h = 0; h < 24; h++) {
            int n = h == 2 ? 40 : 2;
            if (d == 8 && h == 13)
                n = 5;
            burst(&e, d * DAY + h * HOUR, n, 30 * SEC, "alice");
        }
    }
    run(rs, false, &e, &r);
    CHECK_STR(summary(&r), "new alice 2024-03-12T13:00:00Z v=5 b=4 k=8 n=5");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

static void test_cardinality(void)
{
    struct th_ruleset *rs = load_rule(true, 1, "1d", "5m");
    struct sb e = {0};
    struct run r;

    /* 26 hourly reads of s1 (history: 26 buckets of 1 distinct value): bound 3. Then in
     * one bucket 20 reads alternating s1 and s2, and reads without a secretId: 2 distinct,
     * quiet. In the next hour's bucket s1..s6 with repeats: the 4th distinct value fires
     * (events_matched counts the bucket's events, repeats included); a repeat while open
     * updates with the same value. */
    for (int h = 0; h < 26; h++)
        ev(&e, h * HOUR, "alice", "s1");
    for (int i = 0; i < 20; i++)
        ev(&e, 26 * HOUR + i * SEC, "alice", i % 2 ? "s2" : "s1");
    ev(&e, 26 * HOUR + 30 * SEC, "alice", NULL);
    const char *seq[] = {"s1", "s1", "s2", "s3", "s2", "s4", "s4", "s5", "s6"};
    for (int i = 0; i < 9; i++)
        ev(&e, 27 * HOUR + i * SEC, "alice", seq[i]);
    ev(&e, 27 * HOUR + 20 * SEC, "alice", NULL);
    run(rs, true, &e, &r);
    CHECK_STR(summary(&r), "new alice 2024-03-05T03:00:00Z v=4 b=3 k=324 n=6; "
                           "update alice 2024-03-05T03:00:00Z v=4 b=3 k=324 n=7; "
                           "update alice 2024-03-05T03:00:00Z v=5 b=3 k=324 n=8; "
                           "update alice 2024-03-05T03:00:00Z v=6 b=3 k=324 n=9; "
                           "update alice 2024-03-05T03:00:00Z v=6 b=3 k=324 n=10");
    run_free(&r);
    sb_free(&e);

    /* Each bucket counts its own values: 3 distinct at the end of one bucket and 3 others
     * at the start of the next are two buckets of 3: quiet. */
    for (int h = 0; h < 26; h++)
        ev(&e, h * HOUR, "alice", "s1");
    ev(&e, 26 * HOUR + 4 * MIN + 57 * SEC, "alice", "a");
    ev(&e, 26 * HOUR + 4 * MIN + 58 * SEC, "alice", "b");
    ev(&e, 26 * HOUR + 4 * MIN + 59 * SEC, "alice", "c");
    ev(&e, 26 * HOUR + 5 * MIN, "alice", "d");
    ev(&e, 26 * HOUR + 5 * MIN + 1 * SEC, "alice", "e");
    ev(&e, 26 * HOUR + 5 * MIN + 2 * SEC, "alice", "f");
    run(rs, true, &e, &r);
    CHECK_INT(r.n, 0);
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

static void test_late(void)
{
    struct th_ruleset *rs = load_rule(false, 1, "1d", "5m");
    struct sb e = {0};
    struct run r;

    /* Baseline, then one event of the 02:05 bucket, then 5 events of the 02:00 bucket
     * arriving late (within max_lateness): the older bucket is judged against its own
     * history (311 buckets before it) and fires on its 4th event. */
    hourly(&e, "alice", 26);
    ev(&e, 26 * HOUR + 5 * MIN + 30 * SEC, "alice", NULL);
    burst(&e, 26 * HOUR + 4 * MIN, 5, SEC, "alice");
    run(rs, true, &e, &r);
    CHECK_STR(summary(&r), "new alice 2024-03-05T02:00:00Z v=4 b=3 k=312 n=4; "
                           "update alice 2024-03-05T02:00:00Z v=5 b=3 k=312 n=5");
    /* The late bucket's evidence starts at the event that crossed. */
    CHECK_STR(field(&r, 0, "first_seen", NULL), "2024-03-05T02:04:03Z");
    run_free(&r);
    sb_free(&e);

    /* A late event can change the history of the newest bucket, whose bound is cached:
     * here one older than the group's first event moves the start of its history back an
     * hour. Baseline from 01:00; 3 events at 03:00 the next day (bound 3, from 312
     * buckets: quiet); then an event at 00:00 the first day (a day late, still within the
     * history; in learning itself); the 4th event at 03:00 is judged against the 324
     * buckets from 00:00. */
    for (int h = 1; h <= 26; h++)
        ev(&e, h * HOUR, "alice", NULL);
    burst(&e, 27 * HOUR, 3, SEC, "alice");
    ev(&e, 0, "alice", NULL);
    ev(&e, 27 * HOUR + 10 * SEC, "alice", NULL);
    run(rs, true, &e, &r);
    CHECK_STR(summary(&r), "new alice 2024-03-05T03:00:00Z v=4 b=3 k=324 n=4");
    CHECK_INT(r.st.late, 1);
    run_free(&r);
    sb_free(&e);

    /* The same for cardinality, where a late event of an older bucket adds no value: only
     * the start of the history moves, and that alone must refresh the cached bound. */
    struct th_ruleset *rsc = load_rule(true, 1, "1d", "5m");
    for (int h = 1; h <= 26; h++)
        ev(&e, h * HOUR, "alice", "s1");
    const char *v[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++)
        ev(&e, 27 * HOUR + i * SEC, "alice", v[i]);
    ev(&e, 0, "alice", "s1");
    ev(&e, 27 * HOUR + 10 * SEC, "alice", "d");
    run(rsc, true, &e, &r);
    CHECK_STR(summary(&r), "new alice 2024-03-05T03:00:00Z v=4 b=3 k=324 n=4");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rsc);

    /* A late bucket in learning is not judged, but it is history for the newest bucket:
     * learning 10m; 1 event at 00:00; at 00:12 one event (judged: buckets [1, 0], q = 1,
     * bound 3); then 10 late events at 00:06 (learning) make the history [1, 10]: q = 10,
     * median 5.5, MAD 4.5, sigma 6.67: bound floor(10 + 2 * 6.67) = 23, and 4 more events at
     * 00:12 (value 5) stay quiet, where the stale bound 3 would have fired. */
    struct th_ruleset *rs10 = load_rule(false, 1, "10m", "5m");
    ev(&e, 0, "alice", NULL);
    ev(&e, 12 * MIN, "alice", NULL);
    burst(&e, 6 * MIN, 10, SEC, "alice");
    burst(&e, 12 * MIN + 10 * SEC, 4, SEC, "alice");
    run(rs10, true, &e, &r);
    CHECK_INT(r.n, 0);
    /* ... and 19 more (value 24) fire. */
    burst(&e, 12 * MIN + 20 * SEC, 19, SEC, "alice");
    run_free(&r);
    run(rs10, false, &e, &r);
    CHECK_STR(summary(&r), "new alice 2024-03-04T00:10:00Z v=24 b=23 k=2 n=24");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs10);

    /* An event older than the whole history (15 days late) adds nothing and changes no
     * bound: the same burst fires with the same details. */
    for (int h = 0; h < 26; h++)
        ev(&e, 15 * DAY + h * HOUR, "alice", NULL);
    ev(&e, 0, "alice", NULL);
    burst(&e, 15 * DAY + 26 * HOUR, 4, SEC, "alice");
    run(rs, true, &e, &r);
    CHECK_STR(summary(&r), "new alice 2024-03-20T02:00:00Z v=4 b=3 k=312 n=4");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

static void test_lifecycle(void)
{
    struct th_ruleset *rs = load_rule(false, 1, "1d", "5m");
    struct sb e = {0};
    struct run r;

    /* bob then alice burst in the same second: both signals close at the same time (keep
     * alive 1h after their last match), when another user's event moves the watermark
     * past it; closed lines come in key order (alice first), before carol's event has any
     * effect, and no later event is needed. */
    hourly2(&e, "alice", "bob", 26);
    for (int i = 0; i < 4; i++) {
        ev(&e, 26 * HOUR + i * SEC, "bob", NULL);
        ev(&e, 26 * HOUR + i * SEC, "alice", NULL);
    }
    ev(&e, 28 * HOUR, "carol", NULL);
    run(rs, true, &e, &r);
    CHECK_STR(summary(&r), "new bob 2024-03-05T02:00:00Z v=4 b=3 k=312 n=4; "
                           "new alice 2024-03-05T02:00:00Z v=4 b=3 k=312 n=4; "
                           "closed alice 2024-03-05T02:00:00Z v=4 b=3 k=312 n=4; "
                           "closed bob 2024-03-05T02:00:00Z v=4 b=3 k=312 n=4");
    CHECK_INT(r.st.closed, 2);
    run_free(&r);

    /* The LRU cap: with room for one group, each user evicts the other and learns again:
     * nothing fires, and evictions are counted. */
    struct th_options o;
    opts_init(&o, true);
    o.max_groups = 1;
    memset(&r, 0, sizeof r);
    run_more(rs, &o, &e, &r);
    CHECK_INT(r.n, 0);
    CHECK(r.st.groups_evicted > 50);
    CHECK_INT(r.st.groups, 1);
    run_free(&r);

    /* An open signal evicted is closed (a closed line with updates on). */
    sb_free(&e);
    hourly(&e, "alice", 26);
    burst(&e, 26 * HOUR, 4, SEC, "alice");
    ev(&e, 26 * HOUR + 10 * SEC, "bob", NULL);
    memset(&r, 0, sizeof r);
    run_more(rs, &o, &e, &r);
    CHECK_STR(summary(&r), "new alice 2024-03-05T02:00:00Z v=4 b=3 k=312 n=4; "
                           "closed alice 2024-03-05T02:00:00Z v=4 b=3 k=312 n=4");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", path, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rm_tree(p);
        else
            unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(path);
}

static void test_state_round_trip(void)
{
    /* A count rule and a cardinality rule together, over two users: a baseline, then a
     * burst split in the middle (after the count signal opened, with the cardinality set
     * of the open bucket half filled, repeats on both sides of the split), then more
     * buckets and a close. One run over everything and a run split in two with --state
     * give the same lines. */
    write_rule("both", "t-count", COUNT, 1, "1d", "5m");
    const char *rules = write_rule("both", "t-card", CARD, 1, "1d", "5m");
    struct th_ruleset *rs = load_path(rules, 2);
    struct sb a = {0}, b = {0}, all = {0};
    for (int h = 0; h < 26; h++) {
        ev(&a, h * HOUR, "alice", "s1");
        ev(&a, h * HOUR + 10 * MIN, "bob", "s9");
    }
    const char *first[] = {"s1", "s2", "s3", "s1", "s2"}; /* 3 distinct */
    for (int i = 0; i < 5; i++)
        ev(&a, 26 * HOUR + i * SEC, "alice", first[i]);
    const char *second[] = {"s2", "s3", "s5", "s6", "s6"}; /* repeats, then new ones */
    for (int i = 0; i < 5; i++)
        ev(&b, 26 * HOUR + (10 + i) * SEC, "alice", second[i]);
    burst(&b, 26 * HOUR + 20 * MIN, 6, SEC, "bob");
    ev(&b, 30 * HOUR, "carol", NULL);
    burst(&b, 31 * HOUR, 5, SEC, "alice");
    sb_addf(&all, "%.*s%.*s", (int)a.len, a.p, (int)b.len, b.p);

    struct run one, split;
    run(rs, true, &all, &one);

    char state[300];
    snprintf(state, sizeof state, "%s/state", dir);
    struct th_options o;
    opts_init(&o, true);
    o.state_dir = state;
    memset(&split, 0, sizeof split);
    run_more(rs, &o, &a, &split);
    size_t after_a = split.n;
    run_more(rs, &o, &b, &split);

    CHECK(one.n >= 10);
    CHECK(after_a >= 2);          /* the count signal opened before the split */
    CHECK(split.n - after_a >= 5); /* and things happened after it */
    CHECK_INT(split.n, one.n);
    for (size_t i = 0; i < one.n && i < split.n && i < MAXLINES; i++)
        CHECK_STR(split.line[i], one.line[i]);
    /* The cardinality signal fires after the split, on s5 (the 8th event), not on the
     * repeated s2: the set of values was restored. */
    const char *s = summary(&one);
    CHECK_CONTAINS(s, "new alice 2024-03-05T02:00:00Z v=4 b=3 k=312 n=4");
    CHECK_CONTAINS(s, "new alice 2024-03-05T02:00:00Z v=4 b=3 k=312 n=8");
    CHECK_CONTAINS(s, "closed alice");
    CHECK_CONTAINS(s, "new bob 2024-03-05T02:20:00Z v=4 b=3 k=314 n=4");
    run_free(&one);
    run_free(&split);
    sb_free(&a);
    sb_free(&b);
    sb_free(&all);
    th_ruleset_free(rs);
    rm_tree(state);
}

/* ---- malformed state, through the detector's own load -------------------------------- */

static int emitted;
static void count_emit(void *ctx, const struct th_signal *s)
{
    (void)ctx;
    (void)s;
    emitted++;
}

static void det_init(struct th_detector *d, const struct th_rule *rule,
                     const struct th_signal_env *env)
{
    memset(d, 0, sizeof *d);
    d->ops = th__detector_ops(TH_METHOD_ANOMALY);
    d->rule = rule;
    d->sigenv = env;
    d->max_groups = 1000;
    th__sb_init(&d->key);
    struct th_err err = {{0}, {0}};
    CHECK_INT(d->ops->init(d, &err), 0);
}

static void det_fini(struct th_detector *d)
{
    d->ops->fini(d);
    th__sb_fini(&d->key);
}

static void det_feed(struct th_detector *d, int64_t ms, const char *user, const char *secret)
{
    struct sb b = {0};
    ev(&b, ms, user, secret);
    json_object *o = json_tokener_parse(b.p);
    static struct th_event e;
    th__event_reset(&e, o, T0 + ms, "test", 1, NULL, 0);
    d->ops->on_event(d, &e, 1);
    json_object_put(o);
    sb_free(&b);
}

static void test_state_malformed(void)
{
    const char *path = write_rule("malformed", "t-card", CARD, 1, "1d", "5m");
    struct th_ruleset *rs = load_path(path, 1);
    const char *path2 = write_rule("malformed10", "t-card", CARD, 1, "1d", "10m");
    struct th_ruleset *rs10 = load_path(path2, 1);
    if (!rs || !rs10 || th_ruleset_count(rs) != 1 || th_ruleset_count(rs10) != 1)
        return;
    struct th_signal_env env = {count_emit, NULL, true, 3, 20};
    struct th_detector d;
    det_init(&d, rs->rules[0], &env);
    CHECK(d.ops->save != NULL && d.ops->load != NULL);
    /* Two groups, one with an open signal and a half-filled set. */
    for (int h = 0; h < 26; h++) {
        det_feed(&d, h * HOUR, "alice", "s1");
        det_feed(&d, h * HOUR, "bob", "s1");
    }
    const char *v[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++)
        det_feed(&d, 26 * HOUR + i * SEC, "alice", v[i]);
    CHECK_INT(emitted, 2); /* new at d, update at e */

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct th_state_writer w;
    th__sw_init(&w, f);
    d.ops->save(&d, &w);
    fclose(f);
    CHECK(!w.failed);
    CHECK(len > 100);

    struct th_err err = {{0}, {0}};
    struct th_state_reader r;
    struct th_detector d2;

    /* The whole snapshot loads, and the loaded detector goes on like the original: one
     * more new value updates the open signal in both. */
    det_init(&d2, rs->rules[0], &env);
    th__sr_init(&r, buf, len);
    CHECK_INT(d2.ops->load(&d2, &r, &err), 0);
    if (err.msg[0])
        fprintf(stderr, "load: %s\n", err.msg);
    CHECK_INT(d2.ops->groups(&d2)->count, 2);
    emitted = 0;
    det_feed(&d, 26 * HOUR + 10 * SEC, "alice", "f");
    det_feed(&d2, 26 * HOUR + 10 * SEC, "alice", "f");
    det_feed(&d, 26 * HOUR + 11 * SEC, "alice", "a"); /* a repeat: no new value */
    det_feed(&d2, 26 * HOUR + 11 * SEC, "alice", "a");
    CHECK_INT(emitted, 4);
    det_fini(&d2);

    /* Every truncation is refused, leaving the detector empty. */
    int refused = 0;
    for (size_t cut = 0; cut < len; cut++) {
        det_init(&d2, rs->rules[0], &env);
        th__sr_init(&r, buf, cut);
        int rc = d2.ops->load(&d2, &r, &err);
        refused += rc == TH_ESTATE;
        CHECK_INT(d2.ops->groups(&d2)->count, 0);
        det_fini(&d2);
    }
    CHECK_INT(refused, (long long)len);

    /* Every single flipped byte either loads or is refused, never crashes or leaks. */
    for (size_t i = 0; i < len; i++) {
        buf[i] ^= 0x5a;
        det_init(&d2, rs->rules[0], &env);
        th__sr_init(&r, buf, len);
        int rc = d2.ops->load(&d2, &r, &err);
        CHECK(rc == 0 || rc == TH_ESTATE);
        if (rc == 0) /* what did load must still work */
            det_feed(&d2, 26 * HOUR + 20 * SEC, "alice", "z");
        det_fini(&d2);
        buf[i] ^= 0x5a;
    }

    /* A snapshot of 5-minute buckets is refused by a rule with 10-minute buckets. */
    det_init(&d2, rs10->rules[0], &env);
    th__sr_init(&r, buf, len);
    CHECK_INT(d2.ops->load(&d2, &r, &err), TH_ESTATE);
    CHECK_CONTAINS(err.msg, "buckets of 300000 ms, the rule has 600000 ms");
    det_fini(&d2);

    free(buf);
    det_fini(&d);
    th_ruleset_free(rs);
    th_ruleset_free(rs10);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_anomaly.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_learning();
    test_spike();
    test_tolerance();
    test_sparse();
    test_seasonality();
    test_cardinality();
    test_late();
    test_lifecycle();
    test_state_round_trip();
    test_state_malformed();
    rm_tree(dir);
    return CHECK_DONE();
}
