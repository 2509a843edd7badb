/*
 * test_new_value.c - the new value method (detect_new_value.c), driven through the public
 * API: rules are YAML files in a mkdtemp directory loaded with th_ruleset_load, events are
 * NDJSON built here and fed with th_engine_read_buffer, and signal lines are parsed back.
 *
 * Events carry an access key (the group) and a few top-level fields (@c, @d, ...) the rules
 * learn. Each signal line is summarised as "status key value[,value...]" from its group and
 * its details.
 *
 * Covered: learning by duration (silent during the period counted from the group's first
 * event, its exact end, a second group learning on its own clock, learning_duration 0);
 * the signal line (method, severity, group, details, ids per value, message); updates and
 * closing; tuples and events missing a field (ignored, no group created); arrays (each
 * value, combinations, duplicates, the per-field and per-event caps); numbers, empty
 * strings, objects; forget_after (exact boundary, forgetting while the group lives, the
 * whole group expiring and learning again); late events (judged within forget_after,
 * ignored beyond it, learning counted from a late first event); the per-group value cap
 * evicting the least recently seen (and closing its open signal); learning_method
 * threshold (0, 1 and 3 occurrences, learning_duration ignored); no group_by; the group LRU cap; a run split in two with --state giving the
 * signals of one run; a corrupt snapshot refused; and, through the detector's ops
 * directly, a saved state that loads back to the same bytes while every truncation of it
 * is refused, leaving the detector empty.
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
#include "event.h"
#include "ruleset.h"
#include "state.h"
#include "timeutil.h"

#define T0 INT64_C(1709546400000) /* 2024-03-04T10:00:00Z */
#define SEC INT64_C(1000)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

static char dir[256];

/* ---- text building -------------------------------------------------------------------- */

/*
 * Appends one NDJSON event at T0 + ms by access key `key` (NULL: no userIdentity) with
 * `members` (NULL, or more members after a comma, e.g. ",\"c\":\"FR\"").
 */
static int evseq;
static void ev(struct sb *b, int64_t ms, const char *key, const char *members)
{
    char t[40];
    th__time_format(T0 + ms, t, sizeof t);
    sb_addf(b, "{\"eventTime\":\"%s\",\"eventID\":\"e%d\",\"eventName\":\"GetObject\"", t, ++evseq);
    if (key)
        sb_addf(b, ",\"userIdentity\":{\"type\":\"IAMUser\",\"accessKeyId\":\"%s\"}", key);
    sb_addf(b, "%s}\n", members ? members : "");
}

/* An event whose @c is the string c. */
static void evc(struct sb *b, int64_t ms, const char *key, const char *c)
{
    char m[256];
    snprintf(m, sizeof m, ",\"c\":\"%s\"", c);
    ev(b, ms, key, m);
}

/* ---- rules and runs ------------------------------------------------------------------- */

static void on_diag(void *ctx, const struct th_diag *d)
{
    (void)ctx;
    fprintf(stderr, "diag: %s: %s: %s\n", d->is_error ? "error" : "warning", d->where, d->msg);
}

static int nrule;
static struct th_ruleset *load_rule(const char *yaml)
{
    char path[512];
    snprintf(path, sizeof path, "%s/rule%d.yaml", dir, ++nrule);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        exit(2);
    fputs(yaml, f);
    fclose(f);
    const char *paths[] = {path};
    struct th_ruleset *rs = NULL;
    CHECK_INT(th_ruleset_load(paths, 1, 0, on_diag, NULL, &rs), 0);
    CHECK_INT(th_ruleset_count(rs), 1);
    return rs;
}

/* A new_value rule over `fields` grouped by the access key, with `options` (indented lines
 * under options:, new_value block included). */
static struct th_ruleset *nv_rule(const char *fields, const char *group_by, const char *options)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "id: t-new-value\n"
             "name: New value under test\n"
             "tags: [source:cloudtrail, tactic:TA0001-initial-access, "
             "technique:T1078.004-cloud-accounts]\n"
             "queries:\n"
             "  - query: '@evt.name:GetObject'\n"
             "%s"
             "    fields: %s\n"
             "options:\n"
             "  detection_method: new_value\n"
             "%s"
             "cases:\n"
             "  - name: first time\n"
             "    status: medium\n"
             "message: '{{@userIdentity.accessKeyId}} used from {{@c}}'\n",
             group_by, fields, options);
    return load_rule(yaml);
}

#define BY_KEY "    group_by: ['@userIdentity.accessKeyId']\n"

#define MAXLINES 2048

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

static void opts_default(struct th_options *o, bool updates)
{
    th_options_init(o);
    o->signal_updates = updates;
}

/* Runs the events through a fresh engine over rs; opts NULL: defaults with updates on. */
static void run(struct th_ruleset *rs, const struct th_options *opts, const struct sb *events,
                struct run *r)
{
    memset(r, 0, sizeof *r);
    struct th_options o;
    if (opts)
        o = *opts;
    else
        opts_default(&o, true);
    struct th_engine *e = NULL;
    struct th_err err = {{0}, {0}};
    CHECK_INT(th_engine_new(rs, &o, on_line, r, &e, &err), 0);
    if (!e)
        return;
    CHECK_INT(th_engine_read_buffer(e, "events.ndjson", events->p, events->len), 0);
    CHECK_INT(th_engine_finish(e), 0);
    th_engine_stats(e, &r->st);
    th_engine_free(e);
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

/* "status key v1[,v2...]" per line, joined by "; " (key "-" when the group has none). */
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
        const char *status = json_object_get_string(member(o, "status", NULL));
        json_object *g = member(o, "group", "@userIdentity.accessKeyId");
        snprintf(out + l, sizeof out - l, "%s%s %s ", i ? "; " : "", status ? status : "?",
                 g ? json_object_get_string(g) : "-");
        json_object *vals = member(member(o, "details", NULL), "values", NULL);
        for (size_t k = 0; vals && k < json_object_array_length(vals); k++) {
            l = strlen(out);
            snprintf(out + l, sizeof out - l, "%s%s", k ? "," : "",
                     json_object_get_string(json_object_array_get_idx(vals, k)));
        }
        json_object_put(o);
    }
    return out;
}

/* A member of line i as text ("" when absent). */
static const char *field(const struct run *r, size_t i, const char *a, const char *b)
{
    static char out[4096];
    out[0] = '\0';
    if (i >= r->n || i >= MAXLINES)
        return "(no such line)";
    json_object *o = json_tokener_parse(r->line[i]);
    json_object *v = o ? member(o, a, b) : NULL;
    snprintf(out, sizeof out, "%s",
             v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : "");
    json_object_put(o);
    return out;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_learning_duration(void)
{
    struct th_ruleset *rs = nv_rule("['@c']", BY_KEY,
                                    "  new_value:\n"
                                    "    learning_duration: 1h\n"
                                    "    forget_after: 7d\n");
    struct sb e = {0};
    struct run r;
    evc(&e, 0, "K1", "FR");        /* K1's first event: learning until 1h */
    evc(&e, 30 * MIN, "K1", "DE"); /* new, but learning */
    evc(&e, HOUR - 1, "K1", "IT"); /* the last millisecond of learning */
    evc(&e, HOUR, "K1", "DE");     /* learned: nothing */
    evc(&e, HOUR, "K1", "US");     /* exactly at the end: a signal */
    evc(&e, 2 * HOUR, "K2", "JP"); /* K2 learns on its own clock, from 2h */
    evc(&e, 2 * HOUR + 10 * MIN, "K2", "US");
    evc(&e, 2 * HOUR + 20 * MIN, "K1", "IT"); /* learned at 59:59.999 */
    evc(&e, 3 * HOUR, "K2", "BR");
    evc(&e, 3 * HOUR, "K2", "US");
    run(rs, NULL, &e, &r);
    /* US's signal closes (keep_alive 1h) when K1 is next seen. */
    CHECK_STR(summary(&r), "new K1 US; closed K1 US; new K2 BR");
    CHECK_INT(r.st.signals, 2);
    CHECK_INT(r.st.groups, 2);
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);

    /* Learning counts from the group's earliest event, even one that arrives late: a
     * late event at 50m moves K1's learning end from 2h to 1h50m. */
    rs = nv_rule("['@c']", BY_KEY, "  new_value:\n    learning_duration: 1h\n");
    evc(&e, HOUR, "K1", "FR");
    evc(&e, 50 * MIN, "K1", "DE");
    evc(&e, HOUR + 50 * MIN, "K1", "US");
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 US");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);

    /* learning_duration 0: the first value is learned, every later new value alerts. */
    rs = nv_rule("['@c']", BY_KEY, "  new_value:\n    learning_duration: 0\n");
    evc(&e, 0, "K1", "FR");
    evc(&e, 0, "K1", "FR");
    evc(&e, SEC, "K1", "DE");
    evc(&e, 2 * SEC, "K2", "JP");
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 DE");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);

    /* The default learning_duration is 1d. */
    rs = nv_rule("['@c']", BY_KEY, "");
    evc(&e, 0, "K1", "FR");
    evc(&e, DAY - 1, "K1", "DE");
    evc(&e, DAY, "K1", "US");
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 US");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

static void test_signal_line(void)
{
    struct th_ruleset *rs = nv_rule("['@c']", BY_KEY,
                                    "  keep_alive: 10m\n"
                                    "  max_signal_duration: 1h\n"
                                    "  new_value:\n"
                                    "    learning_duration: 0\n");
    struct sb e = {0};
    struct run r;
    evseq = 0;
    evc(&e, 0, "K1", "FR");
    evc(&e, MIN, "K1", "US");      /* new: opens US's signal */
    evc(&e, MIN, "K1", "BR");      /* new in the same second: its own signal, own id */
    evc(&e, 5 * MIN, "K1", "US");  /* known, its signal open: an update */
    evc(&e, 6 * MIN, "K1", "FR");  /* known, no signal: nothing */
    evc(&e, 20 * MIN, "K1", "FR"); /* both signals are past keep_alive: closed first */
    evc(&e, 21 * MIN, "K1", "US"); /* known, signal closed: nothing */
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 US; new K1 BR; update K1 US; closed K1 US; closed K1 BR");
    CHECK_STR(field(&r, 0, "method", NULL), "\"new_value\"");
    CHECK_STR(field(&r, 0, "severity", NULL), "\"medium\"");
    CHECK_STR(field(&r, 0, "case", NULL), "\"first time\"");
    CHECK_STR(field(&r, 0, "group", NULL), "{\"@userIdentity.accessKeyId\":\"K1\"}");
    CHECK_STR(field(&r, 0, "details", NULL), "{\"fields\":[\"@c\"],\"values\":[\"US\"]}");
    CHECK_STR(field(&r, 0, "message", NULL), "\"K1 used from US\"");
    CHECK_STR(field(&r, 0, "first_seen", NULL), "\"2024-03-04T10:01:00Z\"");
    CHECK_STR(field(&r, 0, "event_ids", NULL), "[\"e2\"]");
    CHECK_STR(field(&r, 2, "events_matched", NULL), "2");
    CHECK_STR(field(&r, 2, "last_seen", NULL), "\"2024-03-04T10:05:00Z\"");
    CHECK_STR(field(&r, 2, "event_ids", NULL), "[\"e2\",\"e4\"]");
    char us[64], br[64];
    snprintf(us, sizeof us, "%s", field(&r, 0, "id", NULL));
    snprintf(br, sizeof br, "%s", field(&r, 1, "id", NULL));
    CHECK(strcmp(us, br) != 0);
    CHECK_STR(field(&r, 2, "id", NULL), us);
    CHECK_STR(field(&r, 3, "id", NULL), us);
    CHECK_STR(field(&r, 4, "id", NULL), br);
    run_free(&r);

    /* Without updates: only the new lines; a replay gives the same ids. */
    struct th_options o;
    opts_default(&o, false);
    run(rs, &o, &e, &r);
    CHECK_STR(summary(&r), "new K1 US; new K1 BR");
    CHECK_STR(field(&r, 0, "id", NULL), us);
    CHECK_STR(field(&r, 1, "id", NULL), br);
    CHECK_INT(r.st.signals, 2);
    CHECK_INT(r.st.updates, 0); /* neither written nor counted */
    run_free(&r);
    sb_free(&e);

    /* max_signal_duration: a value seen all along still closes 1h after it opened. */
    evc(&e, 0, "K1", "FR");
    evc(&e, MIN, "K1", "US");
    for (int i = 1; i <= 8; i++)
        evc(&e, MIN + i * 9 * MIN, "K1", "US"); /* 10m, 19m, ... 73m */
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 US; update K1 US; update K1 US; update K1 US; "
                           "update K1 US; update K1 US; update K1 US; closed K1 US");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

static void test_tuples_and_missing(void)
{
    struct th_ruleset *rs = nv_rule("['@c', '@d']", BY_KEY,
                                    "  new_value:\n"
                                    "    learning_duration: 1h\n");
    struct sb e = {0};
    struct run r;
    /* Missing @d: ignored entirely, so K1's group (and its learning) starts at 2h. */
    ev(&e, 0, "K1", ",\"c\":\"x\"");
    ev(&e, MIN, "K1", ",\"c\":\"x\",\"d\":null");
    ev(&e, 2 * MIN, "K1", ",\"c\":\"x\",\"d\":[]");
    ev(&e, 3 * MIN, NULL, ",\"c\":\"x\",\"d\":\"y\""); /* no group-by value */
    ev(&e, 2 * HOUR, "K1", ",\"c\":\"x\",\"d\":\"y\"");
    ev(&e, 2 * HOUR + MIN, "K1", ",\"c\":\"x\",\"d\":\"q\""); /* still learning */
    ev(&e, 3 * HOUR, "K1", ",\"c\":\"x\",\"d\":\"y\"");       /* known tuple */
    ev(&e, 3 * HOUR, "K1", ",\"c\":\"y\",\"d\":\"x\"");       /* same values, other order */
    ev(&e, 3 * HOUR, "K1", ",\"c\":\"x\",\"d\":\"z\"");       /* one field differs */
    ev(&e, 3 * HOUR, "K1", ",\"c\":\"z\"");                   /* missing again: ignored */
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 y,x; new K1 x,z");
    CHECK_STR(field(&r, 1, "details", NULL),
              "{\"fields\":[\"@c\",\"@d\"],\"values\":[\"x\",\"z\"]}");
    CHECK_INT(r.st.groups, 1);
    CHECK_INT(r.st.matched, 10);
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);

    /* Where one value ends and the next starts is part of the tuple: ("ab", "c") and
     * ("a", "bc") differ, as do ("a\x1fb", "c") and ("a", "b\x1fc"). */
    rs = nv_rule("['@c', '@d']", BY_KEY, "  new_value:\n    learning_duration: 0\n");
    ev(&e, 0, "K1", ",\"c\":\"ab\",\"d\":\"c\"");
    ev(&e, SEC, "K1", ",\"c\":\"a\",\"d\":\"bc\"");
    ev(&e, 2 * SEC, "K1", ",\"c\":\"a\\u001fb\",\"d\":\"c\"");
    ev(&e, 3 * SEC, "K1", ",\"c\":\"a\",\"d\":\"b\\u001fc\"");
    run(rs, NULL, &e, &r);
    CHECK_INT(r.st.signals, 3);
    CHECK_STR(summary(&r), "new K1 a,bc; new K1 a\x1f"
                           "b,c; new K1 a,b\x1f"
                           "c");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

static void test_arrays_and_types(void)
{
    struct th_ruleset *rs = nv_rule("['@c']", BY_KEY,
                                    "  new_value:\n"
                                    "    learning_duration: 1h\n");
    struct sb e = {0};
    struct run r;
    ev(&e, 0, "K1", ",\"c\":[\"a\",\"b\",\"a\"]");    /* both learned */
    ev(&e, HOUR, "K1", ",\"c\":[\"b\",\"c\",\"c\"]"); /* only c is new, once */
    ev(&e, HOUR, "K1", ",\"c\":[{\"x\":\"d\"}]");     /* objects are not values: ignored */
    ev(&e, HOUR, "K1", ",\"c\":\"\"");                /* nor is the empty string */
    ev(&e, HOUR, "K1", ",\"c\":7");                   /* a number: new */
    ev(&e, HOUR, "K1", ",\"c\":\"7\"");               /* the same text: known */
    ev(&e, HOUR, "K1", ",\"c\":true");                /* a boolean: new */
    ev(&e, HOUR, "K1", ",\"c\":[\"true\",\"b\"]");    /* known both */
    ev(&e, HOUR, "K1", ",\"c\":[{\"x\":1},\"e\"]");   /* the scalar element counts */
    run(rs, NULL, &e, &r);
    /* "7" and true are the values whose signals are open: those events update them. */
    CHECK_STR(summary(&r), "new K1 c; new K1 7; update K1 7; new K1 true; update K1 true; "
                           "new K1 e");
    CHECK_INT(r.st.matched, 9);
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);

    /* Two array fields: every combination, the last field varying fastest. */
    rs = nv_rule("['@c', '@d']", BY_KEY, "  new_value:\n    learning_duration: 0\n");
    ev(&e, 0, "K1", ",\"c\":\"x\",\"d\":\"1\"");
    ev(&e, SEC, "K1", ",\"c\":[\"x\",\"y\"],\"d\":[\"1\",\"2\"]");
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 x,2; new K1 y,1; new K1 y,2");
    run_free(&r);
    sb_free(&e);

    /* Caps: 16 distinct values of one field per event; 64 tuples per event. */
    struct sb m = {0};
    sb_addf(&m, ",\"c\":[");
    for (int i = 0; i < 20; i++)
        sb_addf(&m, "%s\"v%02d\"", i ? "," : "", i);
    sb_addf(&m, "],\"d\":\"1\"");
    ev(&e, 0, "K1", ",\"c\":\"x\",\"d\":\"1\"");
    ev(&e, SEC, "K1", m.p);
    run(rs, NULL, &e, &r);
    CHECK_INT(r.st.signals, 16);
    CHECK_STR(field(&r, 15, "details", NULL),
              "{\"fields\":[\"@c\",\"@d\"],\"values\":[\"v15\",\"1\"]}");
    run_free(&r);
    sb_free(&e);
    sb_free(&m);
    sb_addf(&m, ",\"c\":[");
    for (int i = 0; i < 10; i++)
        sb_addf(&m, "%s\"c%d\"", i ? "," : "", i);
    sb_addf(&m, "],\"d\":[");
    for (int i = 0; i < 10; i++)
        sb_addf(&m, "%s\"d%d\"", i ? "," : "", i);
    sb_addf(&m, "]");
    ev(&e, 0, "K1", ",\"c\":\"x\",\"d\":\"1\"");
    ev(&e, SEC, "K1", m.p);
    run(rs, NULL, &e, &r);
    CHECK_INT(r.st.signals, 64);
    CHECK_STR(field(&r, 63, "details", NULL),
              "{\"fields\":[\"@c\",\"@d\"],\"values\":[\"c6\",\"d3\"]}");
    run_free(&r);
    sb_free(&e);
    sb_free(&m);
    th_ruleset_free(rs);
}

static void test_forget_after(void)
{
    struct th_ruleset *rs = nv_rule("['@c']", BY_KEY,
                                    "  new_value:\n"
                                    "    learning_duration: 1h\n"
                                    "    forget_after: 1d\n");
    struct sb e = {0};
    struct run r;
    evc(&e, 0, "K1", "FR");
    evc(&e, 0, "K1", "DE");
    /* K1 stays alive with FR every 12h; DE is last seen at 0. */
    evc(&e, 12 * HOUR, "K1", "FR");
    evc(&e, DAY, "K1", "DE"); /* exactly forget_after later: still known */
    evc(&e, 36 * HOUR, "K1", "FR");
    evc(&e, 48 * HOUR, "K1", "FR");
    evc(&e, 48 * HOUR + 1, "K1", "DE"); /* 1d + 1ms since last seen: forgotten, new again */
    evc(&e, 48 * HOUR + 2, "K1", "DE"); /* and learned again */
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 DE; update K1 DE");
    CHECK_STR(field(&r, 0, "first_seen", NULL), "\"2024-03-06T10:00:00.001Z\"");
    CHECK_INT(r.st.groups_expired, 0);
    run_free(&r);
    sb_free(&e);

    /* The whole group goes when its newest value is forgotten (and its signals closed),
     * counted as expired; when it comes back, it learns again. */
    evc(&e, 0, "K1", "FR");
    evc(&e, 2 * HOUR, "K1", "US"); /* a signal: open until 3h */
    evc(&e, 2 * HOUR + 1, "K2", "FR");
    evc(&e, 26 * HOUR + 15 * MIN + 2 * SEC, "K3", "FR"); /* watermark past 26h: K1 goes */
    evc(&e, 26 * HOUR + 20 * MIN, "K1", "JP");           /* K1 again: learning, silent */
    evc(&e, 26 * HOUR + 30 * MIN, "K1", "BR");           /* still learning */
    evc(&e, 27 * HOUR + 20 * MIN, "K1", "CN");           /* learned 1h after its return */
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 US; closed K1 US; new K1 CN");
    CHECK_INT(r.st.groups_expired, 2); /* K1, then K2 */
    CHECK_INT(r.st.groups, 2);         /* K3 and the new K1 */
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

static void test_late_events(void)
{
    struct th_ruleset *rs = nv_rule("['@c']", BY_KEY,
                                    "  new_value:\n"
                                    "    learning_duration: 0\n"
                                    "    forget_after: 1d\n");
    struct sb e = {0};
    struct run r;
    evc(&e, 0, "K1", "FR");
    evc(&e, 3 * DAY, "K2", "JP");           /* the watermark moves to 2d 23:45: K1 expires */
    evc(&e, DAY, "K1", "ES");               /* older than watermark - forget_after: ignored */
    evc(&e, 2 * DAY, "K1", "DE");           /* late, within forget_after: K1's first event */
    evc(&e, 2 * DAY + MIN, "K1", "ES");     /* judged: new, the ignored event taught nothing */
    evc(&e, 2 * DAY + 2 * MIN, "K1", "FR"); /* forgotten with K1's old group: new */
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 ES; new K1 FR");
    CHECK_INT(r.st.late, 4);
    CHECK_INT(r.st.groups_expired, 1);
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

static void test_value_cap(void)
{
    struct th_ruleset *rs = nv_rule("['@c']", BY_KEY,
                                    "  new_value:\n"
                                    "    learning_duration: 1h\n"
                                    "    forget_after: 30d\n");
    struct sb e = {0};
    struct run r;
    char v[16];
    for (int i = 0; i < 1000; i++) { /* 1000 values learned, v0 first */
        snprintf(v, sizeof v, "v%d", i);
        evc(&e, i, "K1", v);
    }
    evc(&e, HOUR, "K1", "v0");           /* refreshed: v1 is now the least recently seen */
    evc(&e, HOUR + SEC, "K1", "new1");   /* the 1001st: evicts v1 */
    evc(&e, HOUR + 2 * SEC, "K1", "v0"); /* still known */
    evc(&e, HOUR + 3 * SEC, "K1", "v1"); /* evicted, so new again; evicts v2 */
    evc(&e, HOUR + 4 * SEC, "K1", "v3"); /* still known */
    evc(&e, HOUR + 5 * SEC, "K1", "v2"); /* new again */
    evc(&e, HOUR + 6 * SEC, "K1", "new1");
    evc(&e, HOUR + 7 * SEC, "K1", "v999");
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 new1; new K1 v1; new K1 v2; update K1 new1");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);

    /* Evicting a tuple whose signal is open closes that signal; when the tuple comes back
     * it is new again, with a new signal (not an update of the closed one). */
    rs = nv_rule("['@c']", BY_KEY,
                 "  keep_alive: 6h\n"
                 "  max_signal_duration: 1d\n"
                 "  new_value:\n"
                 "    learning_duration: 1h\n");
    for (int i = 0; i < 999; i++) {
        snprintf(v, sizeof v, "v%d", i);
        evc(&e, i, "K1", v);
    }
    evc(&e, HOUR, "K1", "n1"); /* the 1000th: a signal, nothing evicted */
    for (int i = 0; i < 999; i++) {
        snprintf(v, sizeof v, "v%d", i);
        evc(&e, HOUR + SEC + i, "K1", v); /* n1 becomes the least recently seen */
    }
    evc(&e, 2 * HOUR, "K1", "n2");       /* evicts n1, closing its signal */
    evc(&e, 2 * HOUR + SEC, "K1", "n1"); /* new again */
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 n1; closed K1 n1; new K1 n2; new K1 n1");
    char id0[64];
    snprintf(id0, sizeof id0, "%s", field(&r, 0, "id", NULL));
    CHECK(strcmp(id0, field(&r, 3, "id", NULL)) != 0);
    CHECK_STR(field(&r, 1, "id", NULL), id0);
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

static void test_threshold_learning(void)
{
    /* learning_threshold 0: no learning at all, the very first value alerts. */
    struct th_ruleset *rs = nv_rule("['@c']", BY_KEY,
                                    "  new_value:\n"
                                    "    learning_method: threshold\n"
                                    "    learning_threshold: 0\n");
    struct sb e = {0};
    struct run r;
    evc(&e, 0, "K1", "FR");
    evc(&e, SEC, "K1", "FR");
    evc(&e, 2 * SEC, "K1", "DE");
    evc(&e, 3 * SEC, "K2", "FR");
    struct th_options o;
    opts_default(&o, false);
    run(rs, &o, &e, &r);
    CHECK_STR(summary(&r), "new K1 FR; new K1 DE; new K2 FR");
    run_free(&r);
    th_ruleset_free(rs);

    /* learning_threshold 1: the group's first occurrence is learned, then every new value
     * alerts, even inside learning_duration (which threshold learning ignores). */
    rs = nv_rule("['@c']", BY_KEY,
                 "  new_value:\n"
                 "    learning_method: threshold\n"
                 "    learning_threshold: 1\n"
                 "    learning_duration: 7d\n");
    run(rs, &o, &e, &r);
    CHECK_STR(summary(&r), "new K1 DE");
    run_free(&r);
    th_ruleset_free(rs);

    /* learning_threshold 3: the first three events of a group, whatever their values. */
    rs = nv_rule("['@c']", BY_KEY,
                 "  new_value:\n"
                 "    learning_method: threshold\n"
                 "    learning_threshold: 3\n");
    sb_free(&e);
    evc(&e, 0, "K1", "FR");
    evc(&e, SEC, "K1", "FR");
    evc(&e, 2 * SEC, "K1", "DE");
    evc(&e, 3 * SEC, "K1", "IT");
    evc(&e, 4 * SEC, "K1", "DE");
    run(rs, &o, &e, &r);
    CHECK_STR(summary(&r), "new K1 IT");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

static void test_no_group_by_and_lru(void)
{
    /* No group_by: one group for the whole rule; the signal's group is {}. */
    struct th_ruleset *rs = nv_rule("['@c']", "", "  new_value:\n    learning_duration: 0\n");
    struct sb e = {0};
    struct run r;
    evc(&e, 0, "K1", "FR");
    evc(&e, SEC, "K2", "FR");
    evc(&e, 2 * SEC, NULL, "DE");
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new - DE");
    CHECK_STR(field(&r, 0, "group", NULL), "{}");
    CHECK_INT(r.st.groups, 1);
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);

    /* The group LRU cap: an evicted group closes its signals and learns again. */
    rs = nv_rule("['@c']", BY_KEY, "  new_value:\n    learning_duration: 0\n");
    struct th_options o;
    opts_default(&o, true);
    o.max_groups = 2;
    evc(&e, 0, "K1", "FR");
    evc(&e, SEC, "K1", "US"); /* K1's signal */
    evc(&e, 2 * SEC, "K2", "FR");
    evc(&e, 3 * SEC, "K3", "FR"); /* evicts K1: its signal closes */
    evc(&e, 4 * SEC, "K1", "JP"); /* K1's first event again: learned */
    run(rs, &o, &e, &r);
    CHECK_STR(summary(&r), "new K1 US; closed K1 US");
    CHECK_INT(r.st.groups_evicted, 2);
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

/* ---- --state ---------------------------------------------------------------------------- */

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

/* One engine over rs with state in sdir: loads, reads events, saves. */
static void run_with_state(struct th_ruleset *rs, const char *sdir, const struct sb *events,
                           struct run *r)
{
    memset(r, 0, sizeof *r);
    struct th_options o;
    opts_default(&o, true);
    o.state_dir = sdir;
    struct th_engine *e = NULL;
    struct th_err err = {{0}, {0}};
    CHECK_INT(th_engine_new(rs, &o, on_line, r, &e, &err), 0);
    if (!e) {
        fprintf(stderr, "engine: %s %s\n", err.where, err.msg);
        return;
    }
    CHECK_INT(th_engine_read_buffer(e, "part", events->p, events->len), 0);
    CHECK_INT(th_engine_finish(e), 0);
    CHECK_INT(th_engine_state_save(e, &err), 0);
    th_engine_stats(e, &r->st);
    th_engine_free(e);
}

static void test_state_round_trip(void)
{
    struct th_ruleset *rs = nv_rule("['@c', '@d']", BY_KEY,
                                    "  keep_alive: 30m\n"
                                    "  new_value:\n"
                                    "    learning_duration: 1h\n"
                                    "    forget_after: 1d\n");
    /* Part one: learning, a signal still open at the split, a value that will be
     * forgotten, and a second group. Part two: updates, closes, forgetting. */
    struct sb a = {0}, b = {0}, all = {0};
    ev(&a, 0, "K1", ",\"c\":\"FR\",\"d\":\"cli\"");
    ev(&a, MIN, "K1", ",\"c\":[\"DE\",\"IT\"],\"d\":\"cli\"");
    ev(&a, 2 * HOUR, "K1", ",\"c\":\"US\",\"d\":\"cli\""); /* open at the split */
    ev(&a, 2 * HOUR, "K2", ",\"c\":\"US\",\"d\":\"sdk\"");
    ev(&a, 2 * HOUR + MIN, "K1", ",\"c\":\"FR\",\"d\":\"cli\"");
    ev(&b, 2 * HOUR + 10 * MIN, "K1", ",\"c\":\"US\",\"d\":\"cli\""); /* update */
    ev(&b, 2 * HOUR + 11 * MIN, "K1", ",\"c\":\"BR\",\"d\":\"cli\""); /* new */
    ev(&b, 2 * HOUR + 30 * MIN, "K2", ",\"c\":\"JP\",\"d\":\"sdk\""); /* K2 still learning */
    ev(&b, 3 * HOUR + 30 * MIN, "K1", ",\"c\":\"FR\",\"d\":\"cli\""); /* closes US, BR */
    ev(&b, 26 * HOUR, "K1", ",\"c\":\"DE\",\"d\":\"cli\"");           /* forgotten: new */
    ev(&b, 26 * HOUR, "K1", ",\"c\":\"FR\",\"d\":\"cli\"");           /* known */
    sb_addf(&all, "%s%s", a.p, b.p);

    struct run one, p1, p2;
    char sdir[300];
    snprintf(sdir, sizeof sdir, "%s/state-one", dir);
    run_with_state(rs, sdir, &all, &one);
    CHECK_STR(summary(&one), "new K1 US,cli; update K1 US,cli; new K1 BR,cli; closed K1 US,cli; "
                             "closed K1 BR,cli; new K1 DE,cli");

    snprintf(sdir, sizeof sdir, "%s/state-split", dir);
    run_with_state(rs, sdir, &a, &p1);
    run_with_state(rs, sdir, &b, &p2);
    CHECK_INT(p1.n + p2.n, one.n);
    for (size_t i = 0; i < one.n && i < MAXLINES; i++) {
        const char *got = i < p1.n ? p1.line[i] : p2.line[i - p1.n];
        CHECK_STR(got, one.line[i]);
    }
    CHECK_INT(p2.st.groups, one.st.groups);

    /* A snapshot whose new_value section is damaged is refused as a whole (checksum) or
     * the rule starts empty; either way nothing crashes or leaks. Flip a byte in the
     * middle and check the engine reports it. */
    char file[400];
    snprintf(file, sizeof file, "%s/trailhound.state", sdir);
    FILE *f = fopen(file, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, size / 2, SEEK_SET);
        int c = fgetc(f);
        fseek(f, size / 2, SEEK_SET);
        fputc(c ^ 0x55, f);
        fclose(f);
        struct th_options o;
        opts_default(&o, true);
        o.state_dir = sdir;
        struct th_engine *e = NULL;
        struct th_err err = {{0}, {0}};
        struct run dummy = {0};
        CHECK_INT(th_engine_new(rs, &o, on_line, &dummy, &e, &err), TH_ESTATE);
        CHECK(e == NULL);
        th_engine_free(e);
        run_free(&dummy);
    }
    run_free(&one);
    run_free(&p1);
    run_free(&p2);
    sb_free(&a);
    sb_free(&b);
    sb_free(&all);
    th_ruleset_free(rs);
}

/* ---- the ops directly: save, load, truncations ------------------------------------------ */

static void count_emit(void *ctx, const struct th_signal *s)
{
    (void)s;
    (*(int *)ctx)++;
}

static bool det_init(struct th_detector *d, const struct th_rule *r,
                     const struct th_signal_env *env)
{
    memset(d, 0, sizeof *d);
    d->ops = th__detector_ops(TH_METHOD_NEW_VALUE);
    d->rule = r;
    d->sigenv = env;
    d->max_groups = 100;
    th__sb_init(&d->key);
    struct th_err err = {{0}, {0}};
    CHECK(d->ops != NULL);
    if (!d->ops)
        return false;
    CHECK_INT(d->ops->init(d, &err), 0);
    return d->impl != NULL;
}

static void det_fini(struct th_detector *d)
{
    d->ops->fini(d);
    th__sb_fini(&d->key);
}

/* Saves d into a malloc'd buffer (*len bytes). */
static char *det_save(const struct th_detector *d, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    CHECK(f != NULL);
    if (!f)
        return NULL;
    struct th_state_writer w;
    th__sw_init(&w, f);
    d->ops->save(d, &w);
    CHECK(!w.failed);
    fclose(f);
    return buf;
}

static void test_load_malformed(void)
{
    struct th_ruleset *rs = nv_rule("['@c']", BY_KEY, "  new_value:\n    learning_duration: 0\n");
    int emitted = 0;
    struct th_signal_env env = {count_emit, &emitted, true, 3, 20};
    struct th_detector d;
    if (!det_init(&d, rs->rules[0], &env))
        return;
    static struct th_event event;
    const char *evs[] = {
        "{\"eventTime\":\"2024-03-04T10:00:00Z\",\"eventName\":\"GetObject\","
        "\"userIdentity\":{\"accessKeyId\":\"K1\"},\"c\":[\"FR\",\"DE\"]}",
        "{\"eventTime\":\"2024-03-04T10:01:00Z\",\"eventName\":\"GetObject\","
        "\"eventID\":\"x\",\"userIdentity\":{\"accessKeyId\":\"K1\"},\"c\":\"US\"}",
        "{\"eventTime\":\"2024-03-04T10:02:00Z\",\"eventName\":\"GetObject\","
        "\"userIdentity\":{\"accessKeyId\":\"K2\"},\"c\":\"JP\"}",
    };
    for (size_t i = 0; i < TH_ARRAY_LEN(evs); i++) {
        json_object *o = json_tokener_parse(evs[i]);
        memset(&event, 0, sizeof event);
        th__event_reset(&event, o, T0 + (int64_t)i * MIN, "mem", i + 1, evs[i], strlen(evs[i]));
        d.ops->on_event(&d, &event, 1);
        json_object_put(o);
    }
    CHECK_INT(emitted, 1); /* US */
    CHECK_INT(d.ops->groups(&d)->count, 2);
    size_t len = 0;
    char *buf = det_save(&d, &len);
    det_fini(&d);
    if (!buf) {
        th_ruleset_free(rs);
        return;
    }

    /* The whole buffer loads, is consumed exactly, and saves back to the same bytes. */
    struct th_state_reader rd;
    struct th_err err = {{0}, {0}};
    if (det_init(&d, rs->rules[0], &env)) {
        th__sr_init(&rd, buf, len);
        CHECK_INT(d.ops->load(&d, &rd, &err), 0);
        CHECK(rd.p == rd.end);
        CHECK_INT(d.ops->groups(&d)->count, 2);
        size_t len2 = 0;
        char *buf2 = det_save(&d, &len2);
        CHECK_INT(len2, len);
        CHECK(buf2 && memcmp(buf, buf2, len) == 0);
        free(buf2);
        det_fini(&d);
    }
    /* Every truncation is refused, leaving the detector empty (and nothing leaks). */
    int refused = 0;
    for (size_t cut = 0; cut < len; cut++) {
        if (!det_init(&d, rs->rules[0], &env))
            break;
        th__sr_init(&rd, buf, cut);
        refused += d.ops->load(&d, &rd, &err) == TH_ESTATE && d.ops->groups(&d)->count == 0;
        det_fini(&d);
    }
    CHECK_INT(refused, (long long)len);
    CHECK_CONTAINS(err.msg, "t-new-value");
    CHECK_INT(emitted, 1); /* loading and freeing emit nothing */
    free(buf);
    th_ruleset_free(rs);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_new_value.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_learning_duration();
    test_signal_line();
    test_tuples_and_missing();
    test_arrays_and_types();
    test_forget_after();
    test_late_events();
    test_value_cap();
    test_threshold_learning();
    test_no_group_by_and_lru();
    test_state_round_trip();
    test_load_malformed();
    rm_tree(dir);
    return CHECK_DONE();
}
