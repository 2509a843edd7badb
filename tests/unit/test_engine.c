/*
 * test_engine.c - the pipeline (engine.c) through the public API: option defaults, hunt
 * engines (matches in their original form, th_stats.matched, a counting engine without a
 * callback, a bad query's error with where "query:COL"), the line callback stopping the
 * read (whatever non-zero value it returns), th_engine_read_path on missing files and
 * directories with a dangling entry (TH_EIO, err filled, the rest still read), reject
 * samples and reason names, the progress callback every progress_every events, a rule
 * whose method has no detector in this build (the first of anomaly_detection,
 * impossible_travel, new_value still missing) skipped with a log line, and an output
 * format the build lacks (OCSF until its writer lands, any unknown value) refused with
 * TH_EUNSUPPORTED. Files live in a mkdtemp directory removed at the end.
 */
#include "trailhound.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "check.h"
#include "common.h"
#include "detect.h"
#include "output.h"

static char dir[256];

#define EV(time, id, name, user)                                                               \
    "{\"eventTime\":\"2024-03-04T10:00:0" time "Z\",\"eventID\":\"" id                          \
    "\",\"eventName\":\"" name "\",\"userIdentity\":{\"arn\":\"arn:aws:iam::111122223333:user/" \
    user "\"}}"
#define E1 EV("0", "e1", "DeleteObject", "bob")
#define E2 EV("1", "e2", "GetObject", "bob")
#define E3 EV("2", "e3", "DeleteObject", "amy")

/* ---- helpers -------------------------------------------------------------------------- */

#define MAXLINES 64

struct lines {
    size_t n;
    char *line[MAXLINES];
    size_t stop_after; /* return stop_rc once this many lines arrived (0: never) */
    int stop_rc;
};

static int on_line(void *ctx, const char *line, size_t len)
{
    struct lines *l = ctx;
    if (l->n < MAXLINES)
        l->line[l->n] = strndup(line, len);
    l->n++;
    return l->stop_after && l->n >= l->stop_after ? l->stop_rc : 0;
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n && i < MAXLINES; i++)
        free(l->line[i]);
    memset(l, 0, sizeof *l);
}

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        exit(2);
    fputs(text, f);
    fclose(f);
    return path;
}

static void rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", path, de->d_name);
            rm_tree(p);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static struct th_ruleset *load(const char *name, const char *yaml)
{
    char path[512];
    snprintf(path, sizeof path, "%s", write_file(name, yaml));
    const char *paths[] = {path};
    struct th_ruleset *rs = NULL;
    CHECK_INT(th_ruleset_load(paths, 1, 0, NULL, NULL, &rs), 0);
    return rs;
}

#define COUNT_RULE                                                                             \
    "id: t-engine\n"                                                                           \
    "name: Deletions\n"                                                                        \
    "tags: [source:cloudtrail]\n"                                                              \
    "queries:\n"                                                                               \
    "  - query: '@evt.name:DeleteObject'\n"                                                    \
    "    group_by: ['@userIdentity.arn']\n"                                                    \
    "options: {evaluation_window: 5m, keep_alive: 1h, max_signal_duration: 1d}\n"             \
    "cases:\n"                                                                                 \
    "  - {condition: a > 0, status: high}\n"

/* ---- tests ---------------------------------------------------------------------------- */

static void test_options(void)
{
    struct th_options o;
    memset(&o, 0x5a, sizeof o);
    th_options_init(&o);
    CHECK_INT(o.format, TH_FORMAT_JSON);
    CHECK_INT(o.signal_updates, 0);
    CHECK_INT(o.max_lateness_ms, 15 * 60 * 1000);
    CHECK_INT(o.max_event_size, 1 << 20);
    CHECK_INT(o.max_depth, 64);
    CHECK_INT(o.max_samples, 3);
    CHECK_INT(o.max_event_ids, 20);
    CHECK_INT(o.max_groups, 1000000);
    CHECK_INT(o.progress_every, 65536);
    CHECK(o.log == NULL && o.progress == NULL && o.log_ctx == NULL);
    th_engine_free(NULL);
}

static void test_hunt(void)
{
    struct lines l = {0};
    struct th_engine *e = NULL;
    struct th_err err = {{0}, {0}};
    CHECK_INT(th_engine_new_hunt("@evt.name:DeleteObject", NULL, on_line, &l, &e, &err), 0);
    CHECK(e != NULL);
    if (!e)
        return;
    const char *nd = E1 "\n" E2 "\n  " E3 "   \n";
    CHECK_INT(th_engine_read_buffer(e, "h.ndjson", nd, strlen(nd)), 0);
    /* Each match in its original form: the exact bytes of its line, no white space. */
    CHECK_INT(l.n, 2);
    CHECK_STR(l.line[0], E1);
    CHECK_STR(l.line[1], E3);
    /* An event inside a Records document has no line of its own: json-c's form. */
    const char *doc = "{\"Records\":[" E2 "," E3 "]}";
    CHECK_INT(th_engine_read_buffer(e, "h.json", doc, strlen(doc)), 0);
    CHECK_INT(l.n, 3);
    json_object *o = l.n >= 3 ? json_tokener_parse(l.line[2]) : NULL, *id = NULL;
    CHECK(o && json_object_object_get_ex(o, "eventID", &id));
    CHECK_STR(id ? json_object_get_string(id) : NULL, "e3");
    CHECK(l.n < 3 || strchr(l.line[2], '\n') == NULL);
    json_object_put(o);
    struct th_stats st;
    th_engine_stats(e, &st);
    CHECK_INT(st.events, 5);
    CHECK_INT(st.matched, 3);
    CHECK_INT(st.signals, 0);
    CHECK_INT(st.files, 2);
    CHECK_INT(st.groups, 0);
    th_engine_free(e);
    lines_free(&l);

    /* Counting only: no callback, the matches are still counted. */
    CHECK_INT(th_engine_new_hunt("@evt.name:Get*", NULL, NULL, NULL, &e, &err), 0);
    CHECK_INT(th_engine_read_buffer(e, "h.ndjson", nd, strlen(nd)), 0);
    th_engine_stats(e, &st);
    CHECK_INT(st.matched, 1);
    th_engine_free(e);

    /* A bad query: where names the column, the message says why, no engine. */
    memset(&err, 0, sizeof err);
    e = (struct th_engine *)&err; /* must be reset to NULL */
    int rc = th_engine_new_hunt("@evt.name:(a OR", NULL, on_line, &l, &e, &err);
    CHECK_INT(rc, TH_EPARSE);
    CHECK(e == NULL);
    CHECK_STR(err.where, "query:16"); /* just past the end: the clause is missing */
    CHECK_STR(err.msg, "expected a clause after OR");
    memset(&err, 0, sizeof err);
    CHECK_INT(th_engine_new_hunt("@evt.name:x AND (b", NULL, on_line, &l, &e, &err), TH_EPARSE);
    CHECK_STR(err.where, "query:17"); /* the parenthesis that is never closed */
    CHECK_STR(err.msg, "unbalanced parenthesis: '(' is never closed");
    memset(&err, 0, sizeof err);
    CHECK_INT(th_engine_new_hunt("@a:/[/", NULL, on_line, &l, &e, &err), TH_EPARSE);
    CHECK_STR(err.where, "query:6");
    CHECK_CONTAINS(err.msg, "invalid regex: missing terminating ]");
    CHECK(e == NULL);
    char buf[1100];
    CHECK_STR(th_err_format(&err, buf, sizeof buf),
              "query:6: invalid regex: missing terminating ] for character class at offset 1");
    /* No error struct is fine too. */
    CHECK_INT(th_engine_new_hunt(")", NULL, on_line, &l, &e, NULL), TH_EPARSE);
    CHECK_INT(l.n, 0);
}

static void test_stop(void)
{
    const char *nd = E1 "\n" E3 "\n" E1 "\n" E3 "\n" E1 "\n";
    int rcs[] = {1, 42, -1, -3};
    for (size_t i = 0; i < sizeof rcs / sizeof rcs[0]; i++) {
        struct lines l = {0};
        l.stop_after = 2;
        l.stop_rc = rcs[i];
        struct th_engine *e = NULL;
        CHECK_INT(th_engine_new_hunt("@evt.name:DeleteObject", NULL, on_line, &l, &e, NULL), 0);
        /* Stopping is the caller's choice, not an error, whatever the value: the read
         * returns 0 (a negative value must not pass for a TH_E* code). */
        CHECK_INT(th_engine_read_buffer(e, "s.ndjson", nd, strlen(nd)), 0);
        CHECK_INT(l.n, 2);
        struct th_stats st;
        th_engine_stats(e, &st);
        CHECK_INT(st.events, 2); /* the reader stopped after the event that was refused */
        /* A stopped engine writes nothing more. */
        CHECK_INT(th_engine_read_buffer(e, "s2.ndjson", nd, strlen(nd)), 0);
        CHECK_INT(l.n, 2);
        th_engine_free(e);
        lines_free(&l);
    }

    /* The same for signals, and through read_path. */
    struct th_ruleset *rs = load("stop.yaml", COUNT_RULE);
    const char *p = write_file("stop.ndjson", nd);
    char path[512];
    snprintf(path, sizeof path, "%s", p);
    struct lines l = {0};
    l.stop_after = 1;
    l.stop_rc = -2;
    struct th_options o;
    th_options_init(&o);
    o.signal_updates = 1;
    struct th_engine *e = NULL;
    struct th_err err = {{0}, {0}};
    CHECK_INT(th_engine_new(rs, &o, on_line, &l, &e, &err), 0);
    CHECK_INT(th_engine_read_path(e, path, &err), 0);
    CHECK_STR(err.msg, "");
    CHECK_INT(l.n, 1);
    struct th_stats st;
    th_engine_stats(e, &st);
    CHECK_INT(st.events, 1);
    CHECK_INT(st.signals, 1);
    th_engine_free(e);
    lines_free(&l);
    th_ruleset_free(rs);
}

static void test_read_path(void)
{
    struct lines l = {0};
    struct th_engine *e = NULL;
    CHECK_INT(th_engine_new_hunt("@evt.name:DeleteObject", NULL, on_line, &l, &e, NULL), 0);
    char missing[512], good[512];
    snprintf(missing, sizeof missing, "%s/no-such-file.json", dir);
    snprintf(good, sizeof good, "%s", write_file("good.ndjson", E1 "\n"));

    struct th_err err = {{0}, {0}};
    CHECK_INT(th_engine_read_path(e, missing, &err), TH_EIO);
    CHECK_STR(err.where, missing);
    CHECK_STR(err.msg, "No such file or directory");
    char buf[1100];
    CHECK_CONTAINS(th_err_format(&err, buf, sizeof buf), "no-such-file.json: No such file");
    struct th_stats st;
    th_engine_stats(e, &st);
    CHECK_INT(st.files_unreadable, 1);
    CHECK_INT(st.files, 0);

    /* The engine goes on with the next source. */
    memset(&err, 0, sizeof err);
    CHECK_INT(th_engine_read_path(e, good, &err), 0);
    CHECK_STR(err.msg, "");
    CHECK_INT(l.n, 1);

    /* A directory with a dangling entry: TH_EIO naming it, the good files still read. */
    char sub[512], link[600];
    snprintf(sub, sizeof sub, "%s/tree", dir);
    mkdir(sub, 0755);
    write_file("tree/a.ndjson", E1 "\n");
    write_file("tree/c.ndjson", E3 "\n");
    snprintf(link, sizeof link, "%s/b.ndjson", sub);
    CHECK_INT(symlink("/nonexistent/x.ndjson", link), 0);
    memset(&err, 0, sizeof err);
    CHECK_INT(th_engine_read_path(e, sub, &err), TH_EIO);
    CHECK_STR(err.where, link);
    CHECK_INT(l.n, 3);
    th_engine_stats(e, &st);
    CHECK_INT(st.files_unreadable, 2);
    CHECK_INT(st.files, 3);
    CHECK_INT(st.events, 3);
    /* A NULL err is allowed. */
    CHECK_INT(th_engine_read_path(e, missing, NULL), TH_EIO);
    th_engine_free(e);
    lines_free(&l);
}

static void test_rejects(void)
{
    struct th_engine *e = NULL;
    CHECK_INT(th_engine_new_hunt("*", NULL, NULL, NULL, &e, NULL), 0);
    const char *nd = "{oops\n" E1 "\n[1]\n{\"eventTime\":\"never\"}\n";
    CHECK_INT(th_engine_read_buffer(e, "bad.ndjson", nd, strlen(nd)), 0);
    struct th_stats st;
    th_engine_stats(e, &st);
    CHECK_INT(st.events, 1);
    CHECK_INT(st.rejected, 3);
    CHECK_INT(st.rejected_by[0], 1); /* malformed_json */
    CHECK_INT(st.rejected_by[1], 1); /* not_an_object */
    CHECK_INT(st.rejected_by[2], 1); /* missing_or_bad_event_time */
    CHECK_CONTAINS(th_engine_reject_sample(e, 0), "bad.ndjson:1: malformed_json: ");
    CHECK_STR(th_engine_reject_sample(e, 1), "bad.ndjson:3: not_an_object: a JSON int is not "
                                             "an event");
    CHECK_STR(th_engine_reject_sample(e, 2), "bad.ndjson:4: missing_or_bad_event_time: bad "
                                             "eventTime \"never\"");
    CHECK(th_engine_reject_sample(e, 3) == NULL);
    CHECK(th_engine_reject_sample(e, 1000) == NULL);
    th_engine_free(e);

    CHECK_STR(th_reject_reason_name(0), "malformed_json");
    CHECK_STR(th_reject_reason_name(2), "missing_or_bad_event_time");
    CHECK_STR(th_reject_reason_name(6), "bad_envelope");
    CHECK(th_reject_reason_name(7) == NULL);
    CHECK(th_reject_reason_name(8) == NULL);
    CHECK(th_reject_reason_name(-1) == NULL);
}

struct progress {
    size_t n;
    uint64_t events[16];
    uint64_t matched[16];
    char source[16][64];
};

static void on_progress(void *ctx, const struct th_stats *s, const char *source)
{
    struct progress *p = ctx;
    if (p->n < 16) {
        p->events[p->n] = s->events;
        p->matched[p->n] = s->matched;
        snprintf(p->source[p->n], sizeof p->source[0], "%s", source ? source : "(null)");
    }
    p->n++;
}

static void test_progress(void)
{
    struct progress p = {0};
    struct th_options o;
    th_options_init(&o);
    o.progress = on_progress;
    o.progress_ctx = &p;
    o.progress_every = 3;
    struct th_engine *e = NULL;
    CHECK_INT(th_engine_new_hunt("@evt.name:DeleteObject", &o, NULL, NULL, &e, NULL), 0);
    /* Seven events and a reject: called after the 3rd and 6th accepted events. */
    const char *nd = E1 "\n" E2 "\n" E3 "\nbad\n" E1 "\n" E2 "\n" E3 "\n" E1 "\n";
    CHECK_INT(th_engine_read_buffer(e, "progress.ndjson", nd, strlen(nd)), 0);
    CHECK_INT(p.n, 2);
    CHECK_INT(p.events[0], 3);
    CHECK_INT(p.events[1], 6);
    CHECK_INT(p.matched[0], 2); /* counters up to and including the event */
    CHECK_INT(p.matched[1], 4);
    CHECK_STR(p.source[0], "progress.ndjson");
    /* The count goes on across sources. */
    char path[512];
    snprintf(path, sizeof path, "%s", write_file("progress2.ndjson", E1 "\n" E2 "\n"));
    CHECK_INT(th_engine_read_path(e, path, NULL), 0);
    CHECK_INT(p.n, 3);
    CHECK_INT(p.events[2], 9);
    CHECK_STR(p.source[2], path);
    th_engine_free(e);

    /* progress_every 0: never called. */
    memset(&p, 0, sizeof p);
    o.progress_every = 0;
    CHECK_INT(th_engine_new_hunt("*", &o, NULL, NULL, &e, NULL), 0);
    CHECK_INT(th_engine_read_buffer(e, "p", nd, strlen(nd)), 0);
    CHECK_INT(p.n, 0);
    th_engine_free(e);
}

struct logs {
    size_t n;
    char msg[8][512];
};

static void on_log(void *ctx, const char *msg)
{
    struct logs *l = ctx;
    if (l->n < 8)
        snprintf(l->msg[l->n], sizeof l->msg[0], "%s", msg);
    l->n++;
}

static void test_unsupported_method(void)
{
    /* The first method this build has no detector for (the list shrinks as methods land). */
    static const struct {
        enum th_method m;
        const char *name, *extra;
    } cand[] = {
        {TH_METHOD_ANOMALY, "anomaly_detection", ""},
        {TH_METHOD_TRAVEL, "impossible_travel", ""},
        {TH_METHOD_NEW_VALUE, "new_value", "    fields: ['@sourceIPAddress']\n"},
    };
    size_t k = 0;
    while (k < TH_ARRAY_LEN(cand) && th__detector_ops(cand[k].m) != NULL)
        k++;
    if (k == TH_ARRAY_LEN(cand)) {
        printf("test_unsupported_method: every method is supported, nothing to test\n");
        return;
    }
    CHECK_STR(th__method_name(cand[k].m), cand[k].name);
    char sub[512];
    snprintf(sub, sizeof sub, "%s/mixed", dir);
    mkdir(sub, 0755);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "id: t-unsupported\n"
             "name: A method without a detector\n"
             "tags: [source:cloudtrail]\n"
             "queries:\n"
             "  - query: '@evt.name:DeleteObject'\n"
             "    group_by: ['@userIdentity.arn']\n"
             "%s"
             "options:\n"
             "  detection_method: %s\n"
             "cases:\n"
             "  - status: medium\n",
             cand[k].extra, cand[k].name);
    write_file("mixed/a-unsupported.yaml", yaml);
    write_file("mixed/b-count.yaml", COUNT_RULE);
    const char *paths[] = {sub};
    struct th_ruleset *rs = NULL;
    CHECK_INT(th_ruleset_load(paths, 1, 0, NULL, NULL, &rs), 0);
    CHECK_INT(th_ruleset_count(rs), 2);

    struct logs lg = {0};
    struct lines l = {0};
    struct th_options o;
    th_options_init(&o);
    o.log = on_log;
    o.log_ctx = &lg;
    struct th_engine *e = NULL;
    struct th_err err = {{0}, {0}};
    CHECK_INT(th_engine_new(rs, &o, on_line, &l, &e, &err), 0);
    CHECK_INT(lg.n, 1);
    char want[256];
    snprintf(want, sizeof want,
             "rule t-unsupported: detection method %s is not supported by this build; rule "
             "disabled",
             cand[k].name);
    CHECK_STR(lg.msg[0], want);
    /* The other rule still runs. */
    const char *nd = E1 "\n";
    CHECK_INT(th_engine_read_buffer(e, "m", nd, strlen(nd)), 0);
    CHECK_INT(l.n, 1);
    CHECK_CONTAINS(l.n ? l.line[0] : NULL, "\"rule\":{\"id\":\"t-engine\"");
    /* matched counts events that matched some rule's query: E2 matches none, and the
     * disabled rule's query (which E1 matches too) is not evaluated at all. */
    nd = E2 "\n";
    CHECK_INT(th_engine_read_buffer(e, "m2", nd, strlen(nd)), 0);
    struct th_stats st;
    th_engine_stats(e, &st);
    CHECK_INT(st.events, 2);
    CHECK_INT(st.matched, 1);
    CHECK_INT(st.signals, 1);
    CHECK_INT(st.groups, 1);
    th_engine_free(e);
    lines_free(&l);

    /* Without a log callback the rule is skipped silently (the library never prints). */
    CHECK_INT(th_engine_new(rs, NULL, on_line, &l, &e, &err), 0);
    CHECK(e != NULL);
    th_engine_free(e);
    th_ruleset_free(rs);
}

static void test_ocsf(void)
{
    struct th_ruleset *rs = load("ocsf.yaml", COUNT_RULE);
    struct th_options o;
    th_options_init(&o);
    o.format = TH_FORMAT_OCSF;
    struct th_engine *e = (struct th_engine *)&o; /* must be reset to NULL on failure */
    struct th_err err = {{0}, {0}};
    int rc = th_engine_new(rs, &o, on_line, NULL, &e, &err);
    if (th__output_ops(TH_FORMAT_OCSF) == NULL) {
        /* A build without the OCSF writer refuses it up front. */
        CHECK_INT(rc, TH_EUNSUPPORTED);
        CHECK(e == NULL);
        CHECK_STR(err.msg, "this output format is not supported yet");
    } else {
        CHECK_INT(rc, 0);
        CHECK(e != NULL);
        th_engine_free(rc == 0 ? e : NULL);
    }
    CHECK_STR(th_strerror(TH_EUNSUPPORTED), "unsupported");
    /* A format value the build does not know is refused the same way. */
    memset(&err, 0, sizeof err);
    e = (struct th_engine *)&o;
    o.format = (enum th_format)7;
    CHECK_INT(th_engine_new(rs, &o, on_line, NULL, &e, &err), TH_EUNSUPPORTED);
    CHECK(e == NULL);
    CHECK_STR(err.msg, "this output format is not supported yet");
    th_ruleset_free(rs);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_engine.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_options();
    test_hunt();
    test_stop();
    test_read_path();
    test_rejects();
    test_progress();
    test_unsupported_method();
    test_ocsf();
    rm_tree(dir);
    return CHECK_DONE();
}
