/*
 * test_ruletest.c - the rule test runner (ruletest.c) over fixture trees built in a mkdtemp
 * directory: a passing rule (a case that fires, a quiet case, an error case), output that
 * differs (reason and diff), a quiet case that fires, a firing case that stays quiet, a
 * difference only in the final newline, a rule without fixtures (FAIL, or SKIP with
 * allow_untested), a rule without a quiet or a firing case, error cases that fail (text
 * missing, rule loads, no or empty expected_error), a stray fixture directory, an empty case
 * directory, a missing expected.jsonl, a rule that does not load, the filter, missing paths,
 * `args` (parsed by the callback, refused without one, a callback error, an unbalanced
 * quote, --state refused, a database path taken from the case directory), rejected events
 * and an empty events file, several events files read in order;
 * then the diff (blocks, clipping around the difference, UTF-8 kept whole, the line cap),
 * the args splitter, XML escaping, and the JUnit document (structure, counts, escaping,
 * determinism).
 *
 * Expected output of the passing cases is produced with the engine itself (what
 * `trailhound run` writes for the case), so the runner is tested for comparing, not for
 * detecting.
 */
#include "ruletest.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static char root[256];

/* ---- helpers ------------------------------------------------------------------------ */

static void mkdirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
}

/* Writes text to root/rel, creating directories. */
static void put(const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdirs(path);
    *slash = '/';
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        exit(2);
    fputs(text, f);
    fclose(f);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* Empties root (keeps the directory). */
static void clean(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/rules", root);
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    snprintf(path, sizeof path, "%s/fixtures", root);
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *path_of(const char *rel)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", root, rel);
    return buf[k];
}

#define RULE_ONE                                                                               \
    "id: t-one\n"                                                                              \
    "name: One\n"                                                                              \
    "tags: [tactic:TA0007-discovery]\n"                                                        \
    "queries:\n"                                                                               \
    "  - query: '@evt.name:Describe*'\n"                                                       \
    "    group_by: ['@userIdentity.arn']\n"                                                    \
    "options: {evaluation_window: 0}\n"                                                        \
    "cases: [{condition: a > 0, status: low}]\n"                                               \
    "message: '{{@userIdentity.arn}} described'\n"

#define RULE_TWO                                                                               \
    "id: t-two\nname: Two\nqueries: [{query: '@evt.name:Delete*'}]\n"                          \
    "cases: [{condition: a > 0, status: high}]\n"

#define EV(sec, name)                                                                          \
    "{\"eventTime\":\"2024-03-04T10:00:" sec "Z\",\"eventID\":\"id" sec "\",\"eventName\":\"" \
    name "\",\"userIdentity\":{\"arn\":\"arn:aws:iam::111122223333:user/bob\"}}\n"

#define FIRE EV("01", "DescribeInstances")
#define FIRE2 EV("02", "DescribeVolumes")
#define QUIET EV("03", "GetObject")

static int collect_line(void *ctx, const char *line, size_t len)
{
    struct th_strbuf *sb = ctx;
    th__sb_add(sb, line, len);
    th__sb_addc(sb, '\n');
    return 0;
}

/* What `trailhound run -r RULE [--signal-updates] events` writes; owned by the caller. */
static char *engine_output(const char *rule_rel, const char *events, int updates)
{
    const char *paths[] = {path_of(rule_rel)};
    struct th_ruleset *rs = NULL;
    CHECK_INT(th_ruleset_load(paths, 1, 0, NULL, NULL, &rs), 0);
    struct th_options o;
    th_options_init(&o);
    o.signal_updates = updates;
    struct th_strbuf out;
    th__sb_init(&out);
    struct th_engine *eng = NULL;
    struct th_err err = {{0}, {0}};
    CHECK_INT(th_engine_new(rs, &o, collect_line, &out, &eng, &err), 0);
    CHECK_INT(th_engine_read_buffer(eng, "mem", events, strlen(events)), 0);
    th_engine_finish(eng);
    th_engine_free(eng);
    th_ruleset_free(rs);
    char *s = strdup(out.p ? out.p : "");
    th__sb_fini(&out);
    return s;
}

/* ---- collecting results ------------------------------------------------------------ */

struct res {
    enum th_ruletest_status status;
    char *rule, *name, *reason, *diff;
};

static struct res results[64];
static size_t nresults;

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void on_result(void *ctx, const struct th_ruletest_result *r)
{
    (void)ctx;
    CHECK(nresults < 64);
    if (nresults >= 64)
        return;
    CHECK(r->rule != NULL);
    CHECK((r->status == TH_RULETEST_PASS) == (r->reason == NULL));
    if (r->reason)
        CHECK(strchr(r->reason, '\n') == NULL); /* one line */
    results[nresults++] = (struct res){r->status, strdup(r->rule), dup_or_null(r->name),
                                       dup_or_null(r->reason), dup_or_null(r->diff)};
}

static void reset_results(void)
{
    for (size_t i = 0; i < nresults; i++) {
        free(results[i].rule);
        free(results[i].name);
        free(results[i].reason);
        free(results[i].diff);
    }
    nresults = 0;
}

/* The result for rule/name (name NULL: the rule as a whole), or NULL. */
static const struct res *find(const char *rule, const char *name)
{
    for (size_t i = 0; i < nresults; i++)
        if (!strcmp(results[i].rule, rule) &&
            (name ? results[i].name && !strcmp(results[i].name, name) : !results[i].name))
            return &results[i];
    return NULL;
}

static int parse_args(void *ctx, int argc, char **argv, struct th_options *o, struct th_err *err)
{
    (void)ctx;
    CHECK_STR(argv[0], "args");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--signal-updates")) {
            o->signal_updates = 1;
        } else if (!strcmp(argv[i], "--geoip") && i + 1 < argc) {
            o->geoip_path = argv[++i];
        } else if (!strcmp(argv[i], "--state") && i + 1 < argc) {
            o->state_dir = argv[++i];
        } else {
            snprintf(err->msg, sizeof err->msg, "unknown option '%s'", argv[i]);
            return TH_EINVAL;
        }
    }
    return 0;
}

static struct th_ruletest_summary sum;

/* Runs the runner over root/rules and root/fixtures. */
static int run(const char *filter, int allow_untested, struct th_err *err)
{
    reset_results();
    const char *paths[] = {path_of("rules")};
    struct th_ruletest_config cfg = {paths, 1,          path_of("fixtures"), filter, allow_untested,
                                     parse_args, NULL, on_result,           NULL};
    struct th_err local = {{0}, {0}};
    return th_ruletest_run(&cfg, &sum, err ? err : &local);
}

#define CHECK_RESULT(rule, name, st)                                                           \
    do {                                                                                       \
        const struct res *r_ = find(rule, name);                                               \
        CHECK(r_ != NULL);                                                                     \
        if (r_ && (int)r_->status != (int)(st))                                                \
            fprintf(stderr, "%s/%s: %s\n%s", rule, name ? name : "-",                        \
                    r_->reason ? r_->reason : "", r_->diff ? r_->diff : "");                   \
        if (r_)                                                                                \
            CHECK_INT(r_->status, st);                                                         \
    } while (0)

#define REASON(rule, name) (find(rule, name) ? find(rule, name)->reason : NULL)
#define DIFF(rule, name) (find(rule, name) ? find(rule, name)->diff : NULL)

/* ---- the runner -------------------------------------------------------------------- */

/* A well-formed rule with three passing cases. */
static void make_passing(void)
{
    put("rules/disc/t-one.yaml", RULE_ONE);
    char *want = engine_output("rules/disc/t-one.yaml", FIRE, 0);
    CHECK(strlen(want) > 0);
    put("fixtures/t-one/fires-describe/events.ndjson", FIRE QUIET);
    put("fixtures/t-one/fires-describe/expected.jsonl", want);
    put("fixtures/t-one/quiet-get/events.ndjson", QUIET);
    put("fixtures/t-one/quiet-get/expected.jsonl", "");
    put("fixtures/t-one/error-unknown-query/rule.yaml",
        "id: t-one\nname: One\nqueries: [{query: 'a'}]\n"
        "cases: [{condition: b > 0, status: low}]\n");
    put("fixtures/t-one/error-unknown-query/expected_error",
        "condition names an unknown query 'b'\r\n\n  (queries: a)  \n");
    free(want);
}

static void test_pass(void)
{
    clean();
    make_passing();
    CHECK_INT(run(NULL, 0, NULL), 0);
    CHECK_INT(sum.passed, 3);
    CHECK_INT(sum.failed, 0);
    CHECK_INT(sum.skipped, 0);
    CHECK_INT(nresults, 3);
    /* Cases in name order. */
    CHECK_STR(nresults > 2 ? results[0].name : "", "error-unknown-query");
    CHECK_STR(nresults > 2 ? results[1].name : "", "fires-describe");
    CHECK_STR(nresults > 2 ? results[2].name : "", "quiet-get");
    for (size_t i = 0; i < nresults; i++) {
        CHECK_INT(results[i].status, TH_RULETEST_PASS);
        CHECK_STR(results[i].rule, "t-one");
        CHECK(results[i].diff == NULL);
    }
}

static void test_output_differs(void)
{
    clean();
    make_passing();
    char *want = engine_output("rules/disc/t-one.yaml", FIRE, 0);
    char *p = strstr(want, "described");
    CHECK(p != NULL);
    if (p)
        memcpy(p, "descrobed", 9);
    put("fixtures/t-one/fires-describe/expected.jsonl", want);
    CHECK_INT(run(NULL, 0, NULL), 1);
    CHECK_INT(sum.passed, 2);
    CHECK_INT(sum.failed, 1);
    CHECK_RESULT("t-one", "fires-describe", TH_RULETEST_FAIL);
    CHECK_CONTAINS(REASON("t-one", "fires-describe"),
                   "differs from expected.jsonl (expected 1 line, got 1)");
    const char *diff = DIFF("t-one", "fires-describe");
    CHECK_CONTAINS(diff, "--- expected.jsonl\n+++ got\n@@ line 1 @@\n-");
    CHECK_CONTAINS(diff, "descrobed");
    CHECK_CONTAINS(diff, "\n+");
    CHECK_CONTAINS(diff, "described");

    /* Only the final newline differs. */
    want[strlen(want) - 1] = '\0';
    if (p)
        memcpy(p, "described", 9);
    put("fixtures/t-one/fires-describe/expected.jsonl", want);
    CHECK_INT(run(NULL, 0, NULL), 1);
    CHECK_CONTAINS(REASON("t-one", "fires-describe"), "only in its final newline");
    CHECK(DIFF("t-one", "fires-describe") == NULL);
    free(want);

    /* A quiet case that fires, and a firing case that stays quiet. */
    clean();
    make_passing();
    put("fixtures/t-one/quiet-get/events.ndjson", QUIET FIRE);
    put("fixtures/t-one/fires-describe/events.ndjson", QUIET);
    CHECK_INT(run(NULL, 0, NULL), 2);
    CHECK_STR(REASON("t-one", "quiet-get"), "expected no signal, got 1 line");
    CHECK_CONTAINS(DIFF("t-one", "quiet-get"), "+++ got\n@@ line 1 @@\n+{\"type\":\"signal\"");
    CHECK_STR(REASON("t-one", "fires-describe"), "expected 1 line, got none");
    CHECK_CONTAINS(DIFF("t-one", "fires-describe"), "@@ line 1 @@\n-{\"type\":\"signal\"");
    /* Both kinds of case exist, so the rule itself is fine. */
    CHECK(find("t-one", NULL) == NULL);
}

static void test_untested_and_coverage_of_cases(void)
{
    clean();
    make_passing();
    put("rules/other/t-two.yaml", RULE_TWO);
    CHECK_INT(run(NULL, 0, NULL), 1);
    CHECK_RESULT("t-two", NULL, TH_RULETEST_FAIL);
    CHECK_CONTAINS(REASON("t-two", NULL), "no fixtures: add ");
    CHECK_CONTAINS(REASON("t-two", NULL), "fixtures/t-two/");

    CHECK_INT(run(NULL, 1, NULL), 0);
    CHECK_RESULT("t-two", NULL, TH_RULETEST_SKIP);
    CHECK_INT(sum.skipped, 1);
    CHECK_INT(sum.passed, 3);
    CHECK_CONTAINS(REASON("t-two", NULL), "no fixtures");

    /* Fixtures, but only a firing case (allow_untested does not excuse that). */
    put("fixtures/t-two/fires-delete/events.ndjson", EV("05", "DeleteBucket"));
    char *want = engine_output("rules/other/t-two.yaml", EV("05", "DeleteBucket"), 0);
    put("fixtures/t-two/fires-delete/expected.jsonl", want);
    free(want);
    CHECK_INT(run(NULL, 1, NULL), 1);
    CHECK_RESULT("t-two", "fires-delete", TH_RULETEST_PASS);
    CHECK_RESULT("t-two", NULL, TH_RULETEST_FAIL);
    CHECK_CONTAINS(REASON("t-two", NULL), "no quiet case");
    /* The verdict on the rule comes after its cases. */
    CHECK_STR(nresults ? results[nresults - 1].rule : "", "t-two");
    CHECK(nresults && results[nresults - 1].name == NULL);

    /* Only a quiet case. */
    clean();
    make_passing();
    put("rules/other/t-two.yaml", RULE_TWO);
    put("fixtures/t-two/quiet-x/events.ndjson", QUIET);
    put("fixtures/t-two/quiet-x/expected.jsonl", "");
    CHECK_INT(run(NULL, 0, NULL), 1);
    CHECK_CONTAINS(REASON("t-two", NULL), "no case that fires");

    /* An error case alone counts as neither. */
    clean();
    make_passing();
    put("rules/other/t-two.yaml", RULE_TWO);
    put("fixtures/t-two/error-x/rule.json", "{");
    put("fixtures/t-two/error-x/expected_error", "rule.json");
    CHECK_INT(run(NULL, 0, NULL), 2);
    CHECK_RESULT("t-two", "error-x", TH_RULETEST_PASS);
}

static void test_error_cases(void)
{
    clean();
    make_passing();
    /* The expected text is not in the diagnostics. */
    put("fixtures/t-one/error-unknown-query/expected_error",
        "condition names an unknown query 'b'\nsomething else entirely\n");
    CHECK_INT(run(NULL, 0, NULL), 1);
    CHECK_RESULT("t-one", "error-unknown-query", TH_RULETEST_FAIL);
    CHECK_CONTAINS(REASON("t-one", "error-unknown-query"),
                   "lacks 1 of 2 expected lines: something else entirely");
    const char *diff = DIFF("t-one", "error-unknown-query");
    CHECK_CONTAINS(diff, "--- expected_error\n+++ load diagnostics\n-something else entirely\n+");
    CHECK_CONTAINS(diff, "error: t-one: bad condition: condition names an unknown query 'b'");

    /* The rule loads. */
    put("fixtures/t-one/error-unknown-query/rule.yaml", RULE_TWO);
    CHECK_INT(run(NULL, 0, NULL), 1);
    CHECK_CONTAINS(REASON("t-one", "error-unknown-query"), "rule.yaml loaded without error");

    /* No expected_error, then an empty one. */
    char *p = path_of("fixtures/t-one/error-unknown-query/expected_error");
    CHECK_INT(unlink(p), 0);
    CHECK_INT(run(NULL, 0, NULL), 1);
    CHECK_CONTAINS(REASON("t-one", "error-unknown-query"), "needs an expected_error file");
    put("fixtures/t-one/error-unknown-query/expected_error", " \n\n");
    CHECK_INT(run(NULL, 0, NULL), 1);
    CHECK_CONTAINS(REASON("t-one", "error-unknown-query"), "expected_error is empty");

    /* A YAML syntax error, matched through its location text. */
    put("fixtures/t-one/error-unknown-query/rule.yaml", "id: [\n");
    put("fixtures/t-one/error-unknown-query/expected_error", "rule.yaml:");
    CHECK_INT(run(NULL, 0, NULL), 0);
}

static void test_fixture_layout_errors(void)
{
    clean();
    make_passing();
    put("fixtures/t-onee/fires-x/events.ndjson", FIRE);   /* a typo in the rule id */
    put("fixtures/t-one/quiet-empty/README.md", "nothing"); /* no events, no rule */
    put("fixtures/t-one/quiet-noexp/events.ndjson", QUIET); /* no expected.jsonl */
    put("fixtures/README.md", "files at the top are ignored");
    CHECK_INT(run(NULL, 0, NULL), 3);
    CHECK_RESULT("t-onee", NULL, TH_RULETEST_FAIL);
    CHECK_CONTAINS(REASON("t-onee", NULL), "t-onee/ is named after no loaded rule");
    CHECK_CONTAINS(REASON("t-one", "quiet-empty"), "nothing to run");
    CHECK_CONTAINS(REASON("t-one", "quiet-noexp"), "no expected.jsonl");
    /* Stray directories are reported last. */
    CHECK_STR(nresults ? results[nresults - 1].rule : "", "t-onee");

    /* A rule that does not load is a failure, and its fixtures are not strays. */
    clean();
    make_passing();
    put("rules/bad/t-bad.yaml", "id: t-bad\nname: Bad\nbogus: 1\nqueries: [{query: 'a'}]\n"
                                "cases: [{condition: a > 0, status: low}]\n");
    put("fixtures/t-bad/fires-x/events.ndjson", FIRE);
    CHECK_INT(run(NULL, 0, NULL), 1);
    CHECK_RESULT("t-bad", NULL, TH_RULETEST_FAIL);
    CHECK_CONTAINS(REASON("t-bad", NULL), "the rule does not load: ");
    CHECK_CONTAINS(REASON("t-bad", NULL), "t-bad.yaml:3:1: unknown key 'bogus'");
    CHECK_STR(nresults ? results[0].rule : "", "t-bad"); /* load failures first */
    CHECK_INT(sum.passed, 3);
}

static void test_filter_and_paths(void)
{
    clean();
    make_passing();
    put("rules/other/t-two.yaml", RULE_TWO);
    CHECK_INT(run("one", 0, NULL), 0);
    CHECK_INT(nresults, 3);
    CHECK(find("t-two", NULL) == NULL);

    struct th_err err = {{0}, {0}};
    CHECK_INT(run("zzz", 0, &err), TH_ENOTFOUND);
    CHECK_STR(err.msg, "no rule id contains 'zzz'");
    CHECK_INT(nresults, 0);

    /* A missing fixtures directory, a missing rule path, no rules at all. */
    reset_results();
    const char *paths[] = {path_of("rules")};
    struct th_ruletest_config cfg = {paths, 1, path_of("nope"), NULL, 0,
                                     NULL,  NULL, on_result,     NULL};
    memset(&err, 0, sizeof err);
    CHECK_INT(th_ruletest_run(&cfg, &sum, &err), TH_ENOTFOUND);
    CHECK_CONTAINS(err.where, "nope");
    const char *missing[] = {path_of("rules/none.yaml")};
    cfg.rule_paths = missing;
    cfg.fixtures = path_of("fixtures");
    memset(&err, 0, sizeof err);
    CHECK_INT(th_ruletest_run(&cfg, &sum, &err), TH_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "cannot read rules");
    mkdirs(path_of("empty"));
    const char *empty[] = {path_of("empty")};
    cfg.rule_paths = empty;
    memset(&err, 0, sizeof err);
    CHECK_INT(th_ruletest_run(&cfg, &sum, &err), TH_ENOTFOUND);
    CHECK_STR(err.msg, "no rules to test");
    rmdir(path_of("empty"));
    CHECK_INT(nresults, 0);
    CHECK_INT(th_ruletest_run(NULL, &sum, &err), TH_EINVAL);
}

static void test_args(void)
{
    clean();
    make_passing();
    char *want = engine_output("rules/disc/t-one.yaml", FIRE FIRE2, 1);
    CHECK_CONTAINS(want, "\"status\":\"update\"");
    put("fixtures/t-one/fires-updates/events.ndjson", FIRE FIRE2);
    put("fixtures/t-one/fires-updates/expected.jsonl", want);
    put("fixtures/t-one/fires-updates/args", "--signal-updates\n");
    CHECK_INT(run(NULL, 0, NULL), 0);
    CHECK_RESULT("t-one", "fires-updates", TH_RULETEST_PASS);

    /* Without a parser the args cannot be honoured. */
    reset_results();
    const char *paths[] = {path_of("rules")};
    struct th_ruletest_config cfg = {paths, 1, path_of("fixtures"), NULL, 0,
                                     NULL,  NULL, on_result,          NULL};
    CHECK_INT(th_ruletest_run(&cfg, &sum, NULL), 1);
    CHECK_CONTAINS(REASON("t-one", "fires-updates"), "args: this runner takes no options");

    put("fixtures/t-one/fires-updates/args", "--bogus");
    CHECK_INT(run(NULL, 0, NULL), 1);
    CHECK_STR(REASON("t-one", "fires-updates"), "args: unknown option '--bogus'");
    put("fixtures/t-one/fires-updates/args", "--signal-updates 'oops");
    CHECK_INT(run(NULL, 0, NULL), 1);
    CHECK_CONTAINS(REASON("t-one", "fires-updates"), "unbalanced quote");
    /* State would tie a case to other runs; database paths are the case directory's. */
    put("fixtures/t-one/fires-updates/args", "--state /tmp/th-never-used");
    CHECK_INT(run(NULL, 0, NULL), 1);
    CHECK_CONTAINS(REASON("t-one", "fires-updates"), "args: --state has no place in a fixture");
    put("fixtures/t-one/fires-updates/args", "--geoip no-such.mmdb");
    CHECK_INT(run(NULL, 0, NULL), 1);
    CHECK_CONTAINS(REASON("t-one", "fires-updates"), "cannot start the engine: ");
    CHECK_CONTAINS(REASON("t-one", "fires-updates"), "fixtures/t-one/fires-updates/no-such.mmdb");
    put("fixtures/t-one/fires-updates/args", "--geoip /no/such/abs.mmdb");
    CHECK_INT(run(NULL, 0, NULL), 1);
    CHECK_CONTAINS(REASON("t-one", "fires-updates"), ": /no/such/abs.mmdb");
    /* Without the flag the update lines are missing. */
    put("fixtures/t-one/fires-updates/args", "");
    CHECK_INT(run(NULL, 0, NULL), 1);
    CHECK_CONTAINS(REASON("t-one", "fires-updates"), "(expected 2 lines, got 1)");
    CHECK_CONTAINS(DIFF("t-one", "fires-updates"), "@@ line 2 @@\n-");
    free(want);
}

static void test_events(void)
{
    clean();
    make_passing();
    /* A rejected event fails the case even though the output would match. */
    put("fixtures/t-one/quiet-get/events.ndjson", QUIET "{not json\n");
    CHECK_INT(run(NULL, 0, NULL), 1);
    CHECK_CONTAINS(REASON("t-one", "quiet-get"), "1 event rejected by the reader (");
    CHECK_CONTAINS(REASON("t-one", "quiet-get"), "malformed_json");
    put("fixtures/t-one/quiet-get/events.ndjson", "");
    CHECK_INT(run(NULL, 0, NULL), 1);
    CHECK_STR(REASON("t-one", "quiet-get"), "the events file holds no event");

    /* Several events files, read in lexical order: the signal opens on the first. */
    put("fixtures/t-one/quiet-get/events.ndjson", QUIET);
    char *want = engine_output("rules/disc/t-one.yaml", FIRE FIRE2, 1);
    char *p = path_of("fixtures/t-one/fires-describe/events.ndjson");
    CHECK_INT(unlink(p), 0);
    put("fixtures/t-one/fires-describe/events.1.ndjson", FIRE);
    put("fixtures/t-one/fires-describe/events.2.ndjson", FIRE2);
    put("fixtures/t-one/fires-describe/expected.jsonl", want);
    put("fixtures/t-one/fires-describe/args", "--signal-updates");
    CHECK_INT(run(NULL, 0, NULL), 0);
    CHECK_RESULT("t-one", "fires-describe", TH_RULETEST_PASS);
    free(want);
}

/* ---- the pieces -------------------------------------------------------------------- */

static const char *diff(const char *a, const char *b, size_t max)
{
    static struct th_strbuf sb;
    th__sb_fini(&sb);
    th__sb_init(&sb);
    th__ruletest_diff(a, strlen(a), "a", b, strlen(b), "b", max, &sb);
    return sb.p ? sb.p : "";
}

static int valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3
                                                       : (*p & 0xF8) == 0xF0 ? 4 : 0;
        if (!n)
            return 0;
        for (int i = 1; i < n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return 0;
        p += n;
    }
    return 1;
}

static void test_diff(void)
{
    CHECK_STR(diff("x\ny\n", "x\ny\n", 20), "");
    CHECK_STR(diff("x\ny\nz\n", "x\nY\nz\n", 20), "--- a\n+++ b\n@@ line 2 @@\n-y\n+Y\n");
    CHECK_STR(diff("x\n", "x\ny\n", 20), "--- a\n+++ b\n@@ line 2 @@\n+y\n");
    CHECK_STR(diff("", "s\n", 20), "--- a\n+++ b\n@@ line 1 @@\n+s\n");
    CHECK_STR(diff("1\n2\n3\n4\n", "1\n3\n4\n5\n", 20),
              "--- a\n+++ b\n@@ line 2 @@\n-2\n@@ line 5 @@\n+5\n");

    /* A long line is shown around where it differs from its partner. */
    char a[601], b[601];
    memset(a, 'a', 600);
    a[600] = '\0';
    memcpy(b, a, sizeof a);
    b[400] = 'X';
    const char *d = diff(a, b, 20);
    const char *minus = strstr(d, "\n-...");
    const char *plus = strstr(d, "\n+...");
    CHECK(minus != NULL && plus != NULL);
    CHECK(strstr(d, "X") != NULL);
    if (plus) {
        const char *end = strchr(plus + 1, '\n');
        CHECK(end != NULL);
        /* tag + "..." + the window + "..." */
        CHECK_INT(end ? end - plus - 1 : 0, 1 + 3 + TH_RULETEST_DIFF_WIDTH + 3);
    }

    /* Multi-byte characters are never cut in two. */
    char u1[1201], u2[1201];
    for (int i = 0; i < 600; i++) {
        u1[2 * i] = (char)0xC3;
        u1[2 * i + 1] = (char)0xA9;
    }
    u1[1200] = '\0';
    memcpy(u2, u1, sizeof u1);
    u2[801] = (char)0xA8; /* another character in the middle */
    CHECK(valid_utf8(diff(u1, u2, 20)));

    /* At most max lines, then how many were left out. */
    char many_a[400] = "", many_b[400] = "";
    for (int i = 0; i < 30; i++) {
        char line[16];
        snprintf(line, sizeof line, "a%d\n", i);
        strcat(many_a, line);
        snprintf(line, sizeof line, "b%d\n", i);
        strcat(many_b, line);
    }
    d = diff(many_a, many_b, 20);
    CHECK_CONTAINS(d, "-a19\n... 40 more differing lines\n");
    CHECK(strstr(d, "+b0") == NULL);
    size_t n = 0;
    for (const char *p = d; *p; p++)
        n += *p == '\n';
    CHECK_INT(n, 2 + 1 + 20 + 1);
    d = diff("a\nb\n", "c\nd\n", 3);
    CHECK_STR(d, "--- a\n+++ b\n@@ line 1 @@\n-a\n-b\n+c\n... 1 more differing line\n");
    diff("", "", 1); /* frees the buffer's last content */
}

static void test_split_args(void)
{
    char s1[] = "  --a 'b c' \"d \\\"e\\\"\" f\\ g\n";
    char *argv[8];
    CHECK_INT(th__ruletest_split_args(s1, argv, 8), 4);
    CHECK_STR(argv[0], "--a");
    CHECK_STR(argv[1], "b c");
    CHECK_STR(argv[2], "d \"e\"");
    CHECK_STR(argv[3], "f g");
    char s2[] = "x 'unbalanced";
    CHECK_INT(th__ruletest_split_args(s2, argv, 8), -1);
    char s3[] = "\"also";
    CHECK_INT(th__ruletest_split_args(s3, argv, 8), -1);
    char s4[] = "a b c";
    CHECK_INT(th__ruletest_split_args(s4, argv, 2), -1);
    char s5[] = " \t\n";
    CHECK_INT(th__ruletest_split_args(s5, argv, 8), 0);
    char s6[] = "''x\tlast";
    CHECK_INT(th__ruletest_split_args(s6, argv, 8), 2);
    CHECK_STR(argv[0], "x");
    CHECK_STR(argv[1], "last");
}

static const char *xml(const char *s, bool attr)
{
    static struct th_strbuf sb;
    th__sb_fini(&sb);
    th__sb_init(&sb);
    th__xml_escape(&sb, s, strlen(s), attr);
    return sb.p ? sb.p : "";
}

static void test_xml_escape(void)
{
    CHECK_STR(xml("<a & 'b' \"c\">", false), "&lt;a &amp; &apos;b&apos; &quot;c&quot;&gt;");
    CHECK_STR(xml("t\tn\nr\r", false), "t\tn\nr\r");
    CHECK_STR(xml("t\tn\nr\r", true), "t&#9;n&#10;r&#13;");
    CHECK_STR(xml("\x01x\x1f", false), "\xEF\xBF\xBDx\xEF\xBF\xBD");
    CHECK_STR(xml("bad\xff\xc3(", false), "bad\xEF\xBF\xBD\xEF\xBF\xBD(");
    CHECK_STR(xml("\xEF\xBF\xBE", false), "\xEF\xBF\xBD"); /* U+FFFE */
    CHECK_STR(xml("\xED\xA0\x80", false), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"); /* surrogate */
    CHECK_STR(xml("caf\xC3\xA9 \xF0\x9F\x90\xBA ]]>", false),
              "caf\xC3\xA9 \xF0\x9F\x90\xBA ]]&gt;");
    xml("", false);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static char *junit_text(const struct th_junit *j)
{
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (!f)
        exit(2);
    CHECK_INT(th_junit_write(j, f), 0);
    long n = ftell(f);
    rewind(f);
    char *s = calloc(1, (size_t)n + 1);
    CHECK_INT(fread(s, 1, (size_t)n, f), n);
    fclose(f);
    return s;
}

static void test_junit(void)
{
    struct th_junit *j = NULL;
    CHECK_INT(th_junit_new(&j), 0);
    struct th_ruletest_result r[] = {
        {TH_RULETEST_PASS, "aws-a", "fires-x", NULL, NULL},
        {TH_RULETEST_FAIL, "aws-a", "quiet-<y>", "expected no signal & \"more\"",
         "--- expected.jsonl\n+++ got\n+{\"a\":\"]]>\xff\x01\"}\n"},
        {TH_RULETEST_SKIP, "aws-b", NULL, "no fixtures", NULL},
        {TH_RULETEST_FAIL, "aws-a", NULL, "no quiet case", NULL},
    };
    for (size_t i = 0; i < sizeof r / sizeof *r; i++)
        CHECK_INT(th_junit_add(j, &r[i]), 0);
    char *x = junit_text(j);
    CHECK(strncmp(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 39) == 0);
    CHECK_CONTAINS(x, "<testsuites name=\"trailhound test\" tests=\"4\" failures=\"2\" "
                      "errors=\"0\" skipped=\"1\">\n");
    CHECK_CONTAINS(x, "  <testsuite name=\"aws-a\" tests=\"3\" failures=\"2\" errors=\"0\" "
                      "skipped=\"0\">\n");
    CHECK_CONTAINS(x, "  <testsuite name=\"aws-b\" tests=\"1\" failures=\"0\" errors=\"0\" "
                      "skipped=\"1\">\n");
    CHECK_CONTAINS(x, "    <testcase classname=\"aws-a\" name=\"fires-x\"/>\n");
    CHECK_CONTAINS(x, "<testcase classname=\"aws-a\" name=\"quiet-&lt;y&gt;\">\n"
                      "      <failure message=\"expected no signal &amp; &quot;more&quot;\" "
                      "type=\"failure\">expected no signal &amp; &quot;more&quot;\n"
                      "--- expected.jsonl\n+++ got\n+{&quot;a&quot;:&quot;]]&gt;\xEF\xBF\xBD"
                      "\xEF\xBF\xBD&quot;}\n</failure>\n    </testcase>\n");
    CHECK_CONTAINS(x, "<testcase classname=\"aws-b\" name=\"(rule)\">\n"
                      "      <skipped message=\"no fixtures\"/>\n    </testcase>\n");
    CHECK_CONTAINS(x, "<testcase classname=\"aws-a\" name=\"(rule)\">\n"
                      "      <failure message=\"no quiet case\" type=\"failure\">no quiet "
                      "case</failure>\n");
    /* Structure: every element closed, suites in first-appearance order. */
    CHECK_INT(count(x, "<testsuite "), 2);
    CHECK_INT(count(x, "</testsuite>"), 2);
    CHECK_INT(count(x, "<testcase "), 4);
    CHECK_INT(count(x, "</testcase>"), 3);
    CHECK_INT(count(x, "name=\"fires-x\"/>"), 1);
    CHECK_INT(count(x, "<failure "), 2);
    CHECK_INT(count(x, "</failure>"), 2);
    CHECK(strstr(x, "aws-a") < strstr(x, "aws-b"));
    CHECK(strstr(x, "</testsuites>\n") != NULL);
    /* Deterministic. */
    char *y = junit_text(j);
    CHECK_STR(x, y);
    free(x);
    free(y);
    th_junit_free(j);
    th_junit_free(NULL);

    /* An empty collection is still a document. */
    CHECK_INT(th_junit_new(&j), 0);
    x = junit_text(j);
    CHECK_CONTAINS(x, "tests=\"0\" failures=\"0\" errors=\"0\" skipped=\"0\">\n</testsuites>\n");
    free(x);
    th_junit_free(j);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/th-ruletest-XXXXXX");
    if (!mkdtemp(root))
        return 2;
    test_pass();
    test_output_differs();
    test_untested_and_coverage_of_cases();
    test_error_cases();
    test_fixture_layout_errors();
    test_filter_and_paths();
    test_args();
    test_events();
    test_diff();
    test_split_args();
    test_xml_escape();
    test_junit();
    reset_results();
    clean();
    rmdir(root);
    return CHECK_DONE();
}
