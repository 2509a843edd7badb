/*
 * test_rule.c - rules: case conditions and ATT&CK tags (rule.c), the YAML and Datadog JSON
 * loaders (rule_yaml.c, rule_json.c, rule_load.c) and rule sets (ruleset.c).
 *
 * Rule files are written into a mkdtemp directory and loaded through th_ruleset_load, the
 * way the CLI loads them; diagnostics are collected as "file:line:col: message" with the
 * directory stripped, so each expected error names its exact position.
 */
#include "rule.h"
#include "rule_load.h"
#include "ruleset.h"
#include "timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

/* ---- conditions ---------------------------------------------------------------------- */

static const char *const qnames[] = {"a", "b", "c", "failed_logins"};

static int cond_eval(const char *text, double a, double b, double c)
{
    struct th_cond *cond = NULL;
    struct th_err err = {{0}, {0}};
    unsigned col = 0;
    if (th__cond_parse(text, strlen(text), qnames, 4, &cond, &col, &err) < 0) {
        fprintf(stderr, "unexpected condition error in '%s': %u: %s\n", text, col, err.msg);
        return -1;
    }
    double agg[4] = {a, b, c, 7};
    int r = th__cond_eval(cond, agg);
    th__cond_free(cond);
    return r;
}

static char cond_msg[600];
static unsigned cond_error(const char *text)
{
    struct th_cond *cond = NULL;
    struct th_err err = {{0}, {0}};
    unsigned col = 0;
    int rc = th__cond_parse(text, strlen(text), qnames, 4, &cond, &col, &err);
    CHECK_INT(rc, TH_EPARSE);
    CHECK(cond == NULL);
    snprintf(cond_msg, sizeof cond_msg, "%s", err.msg);
    return col;
}

static void test_conditions(void)
{
    CHECK_INT(cond_eval("a > 0", 1, 0, 0), 1);
    CHECK_INT(cond_eval("a > 0", 0, 0, 0), 0);
    CHECK_INT(cond_eval("a>0", 0.5, 0, 0), 1);
    CHECK_INT(cond_eval("a >= 3 && b > 0", 3, 1, 0), 1);
    CHECK_INT(cond_eval("a >= 3 && b > 0", 2.99, 1, 0), 0);
    CHECK_INT(cond_eval("a >= 3 && b > 0", 3, 0, 0), 0);
    CHECK_INT(cond_eval("(a > 1 || b > 2) && c >= 1", 2, 0, 1), 1);
    CHECK_INT(cond_eval("(a > 1 || b > 2) && c >= 1", 0, 3, 1), 1);
    CHECK_INT(cond_eval("(a > 1 || b > 2) && c >= 1", 2, 3, 0), 0);
    CHECK_INT(cond_eval("(a > 1 || b > 2) && c >= 1", 1, 2, 5), 0);
    /* && binds tighter than ||. */
    CHECK_INT(cond_eval("a > 0 || b > 0 && c > 0", 1, 0, 0), 1);
    CHECK_INT(cond_eval("a > 0 || b > 0 && c > 0", 0, 1, 0), 0);
    CHECK_INT(cond_eval("a > 0 || b > 0 && c > 0", 0, 1, 1), 1);
    CHECK_INT(cond_eval("a == 0", 0, 0, 0), 1);
    CHECK_INT(cond_eval("a == 0", 1, 0, 0), 0);
    CHECK_INT(cond_eval("a != 2", 2, 0, 0), 0);
    CHECK_INT(cond_eval("a < 1.5", 1.4, 0, 0), 1);
    CHECK_INT(cond_eval("a < 1.5", 1.5, 0, 0), 0);
    CHECK_INT(cond_eval("a <= 2.25", 2.25, 0, 0), 1);
    CHECK_INT(cond_eval("a > -1", 0, 0, 0), 1);
    CHECK_INT(cond_eval("failed_logins >= 7", 0, 0, 0), 1);
    CHECK_INT(cond_eval("((a > 0))", 1, 0, 0), 1);
    CHECK_INT(cond_eval("  a > 0\n && b > 0 ", 1, 1, 0), 1);

    CHECK_INT(cond_error(""), 1);
    CHECK_CONTAINS(cond_msg, "empty condition");
    CHECK_INT(cond_error("   "), 1);
    CHECK_INT(cond_error("x > 1"), 1);
    CHECK_CONTAINS(cond_msg, "unknown query 'x' (queries: a, b, c, failed_logins)");
    CHECK_INT(cond_error("a > 1 && zz > 2"), 10);
    CHECK_CONTAINS(cond_msg, "unknown query 'zz'");
    CHECK_INT(cond_error("a >"), 4);
    CHECK_CONTAINS(cond_msg, "expected a number, found end of condition");
    CHECK_INT(cond_error("a > b"), 5);
    CHECK_CONTAINS(cond_msg, "expected a number, found 'b'");
    CHECK_INT(cond_error("a > 1x"), 5);
    CHECK_INT(cond_error("a > 1."), 5);
    CHECK_INT(cond_error("a > 1.2.3"), 5);
    CHECK_INT(cond_error("a 1"), 3);
    CHECK_CONTAINS(cond_msg, "expected a comparison");
    CHECK_INT(cond_error("a = 1"), 3);
    CHECK_INT(cond_error("3 < a"), 1);
    CHECK_CONTAINS(cond_msg, "expected a query name, found '3'");
    CHECK_INT(cond_error("(a > 1"), 1);
    CHECK_CONTAINS(cond_msg, "unclosed '('");
    CHECK_INT(cond_error("a > 1)"), 6);
    CHECK_CONTAINS(cond_msg, "unmatched ')'");
    CHECK_INT(cond_error("a > 1 b > 2"), 7);
    CHECK_CONTAINS(cond_msg, "unexpected 'b' after a comparison");
    CHECK_INT(cond_error("a > 1 and b > 2"), 7);
    CHECK_INT(cond_error("a > 1 & b > 2"), 7);
    CHECK_CONTAINS(cond_msg, "expected && or ||");
    CHECK_INT(cond_error("a > 1 &&"), 9);
    CHECK_CONTAINS(cond_msg, "expected a query name, found end of condition");
    CHECK_INT(cond_error("a > 1 || || b > 1"), 10);
    char deep[200] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "(");
    strcat(deep, "a > 1");
    for (int i = 0; i < 40; i++)
        strcat(deep, ")");
    CHECK(cond_error(deep) > 0);
    CHECK_CONTAINS(cond_msg, "nested too deeply");
}

/* ---- ATT&CK tags --------------------------------------------------------------------- */

static int tag(const char *t, char id[16])
{
    struct th_err err = {{0}, {0}};
    return th__attack_tag(t, strlen(t), id, &err);
}

static void test_tags(void)
{
    char id[16];
    CHECK_INT(tag("tactic:TA0006-credential-access", id), TH_TAG_TACTIC);
    CHECK_STR(id, "TA0006");
    CHECK_INT(tag("tactic:TA0040", id), TH_TAG_TACTIC);
    CHECK_STR(id, "TA0040");
    CHECK_INT(tag("technique:T1552-unsecured-credentials", id), TH_TAG_TECHNIQUE);
    CHECK_STR(id, "T1552");
    CHECK_INT(tag("technique:T1552.005-cloud-instance-metadata-api", id), TH_TAG_TECHNIQUE);
    CHECK_STR(id, "T1552.005");
    CHECK_INT(tag("source:cloudtrail", id), TH_TAG_OTHER);
    CHECK_INT(tag("tactics:TA0006", id), TH_TAG_OTHER);
    CHECK_INT(tag("tactic:TA006-x", id), TH_EPARSE);
    CHECK_INT(tag("tactic:T0006-x", id), TH_EPARSE);
    CHECK_INT(tag("tactic:ta0006-x", id), TH_EPARSE);
    CHECK_INT(tag("tactic:TA0006-", id), TH_EPARSE);
    CHECK_INT(tag("tactic:TA0006x", id), TH_EPARSE);
    CHECK_INT(tag("tactic:", id), TH_EPARSE);
    CHECK_INT(tag("technique:T15520-x", id), TH_EPARSE);
    CHECK_INT(tag("technique:T1552.05-x", id), TH_EPARSE);
    CHECK_INT(tag("technique:t1552-x", id), TH_EPARSE);
    CHECK_INT(tag("technique:TA0006", id), TH_EPARSE);
    struct th_err err = {{0}, {0}};
    th__attack_tag("technique:T99", 13, id, &err);
    CHECK_CONTAINS(err.msg, "malformed technique tag 'technique:T99'");

    /* Pairs: tactics outer, techniques inner, tag order, no duplicates, and only where
     * ATT&CK puts the technique in the tactic (T1078 is not Credential Access). */
    char *tags[] = {"tactic:TA0001-initial-access", "source:cloudtrail",
                    "technique:T1078-valid-accounts", "tactic:TA0006-credential-access",
                    "technique:T1552.005-x", "tactic:TA0001-initial-access"};
    struct th_rule r;
    memset(&r, 0, sizeof r);
    r.tags = tags;
    r.ntags = 6;
    CHECK_INT(th__attack_build(&r), 0);
    CHECK_INT(r.nattack, 2);
    if (r.nattack == 2) {
        CHECK_STR(r.attack[0].tactic, "TA0001");
        CHECK_STR(r.attack[0].technique, "T1078");
        CHECK_STR(r.attack[1].tactic, "TA0006");
        CHECK_STR(r.attack[1].technique, "T1552.005");
    }
    free(r.attack);
    /* T1078 is in Initial Access, Persistence, Privilege Escalation and Defense Evasion:
     * each of those tactics of the rule gets it; Credential Access keeps its own. */
    char *t5[] = {"tactic:TA0006-credential-access", "tactic:TA0004-privilege-escalation",
                  "technique:T1078.004-cloud-accounts", "technique:T1552-unsecured-credentials",
                  "tactic:TA0003-persistence"};
    memset(&r, 0, sizeof r);
    r.tags = t5;
    r.ntags = 5;
    CHECK_INT(th__attack_build(&r), 0);
    CHECK_INT(r.nattack, 3);
    if (r.nattack == 3) {
        CHECK_STR(r.attack[0].tactic, "TA0006");
        CHECK_STR(r.attack[0].technique, "T1552");
        CHECK_STR(r.attack[1].tactic, "TA0004");
        CHECK_STR(r.attack[1].technique, "T1078.004");
        CHECK_STR(r.attack[2].tactic, "TA0003");
        CHECK_STR(r.attack[2].technique, "T1078.004");
    }
    free(r.attack);
    /* A tactic no technique belongs to keeps a ref of its own; a technique in none of the
     * rule's tactics pairs with all of them. */
    char *t6[] = {"tactic:TA0001-initial-access", "tactic:TA0006-credential-access",
                  "technique:T1552-unsecured-credentials"};
    memset(&r, 0, sizeof r);
    r.tags = t6;
    r.ntags = 3;
    CHECK_INT(th__attack_build(&r), 0);
    CHECK_INT(r.nattack, 2);
    if (r.nattack == 2) {
        CHECK_STR(r.attack[0].tactic, "TA0001");
        CHECK_STR(r.attack[0].technique, "");
        CHECK_STR(r.attack[1].tactic, "TA0006");
        CHECK_STR(r.attack[1].technique, "T1552");
    }
    free(r.attack);
    char *t7[] = {"tactic:TA0040-impact", "technique:T1110-brute-force"};
    memset(&r, 0, sizeof r);
    r.tags = t7;
    r.ntags = 2;
    CHECK_INT(th__attack_build(&r), 0);
    CHECK_INT(r.nattack, 1);
    if (r.nattack == 1) {
        CHECK_STR(r.attack[0].tactic, "TA0040");
        CHECK_STR(r.attack[0].technique, "T1110");
    }
    free(r.attack);
    /* A tactic without techniques; a technique without tactics. */
    char *t2[] = {"tactic:TA0040-impact"};
    memset(&r, 0, sizeof r);
    r.tags = t2;
    r.ntags = 1;
    CHECK_INT(th__attack_build(&r), 0);
    CHECK_INT(r.nattack, 1);
    CHECK_STR(r.attack[0].tactic, "TA0040");
    CHECK_STR(r.attack[0].technique, "");
    free(r.attack);
    char *t3[] = {"technique:T1496-resource-hijacking"};
    memset(&r, 0, sizeof r);
    r.tags = t3;
    r.ntags = 1;
    CHECK_INT(th__attack_build(&r), 0);
    CHECK_INT(r.nattack, 1);
    CHECK_STR(r.attack[0].tactic, "");
    CHECK_STR(r.attack[0].technique, "T1496");
    free(r.attack);
    char *t4[] = {"env:prod"};
    memset(&r, 0, sizeof r);
    r.tags = t4;
    r.ntags = 1;
    CHECK_INT(th__attack_build(&r), 0);
    CHECK_INT(r.nattack, 0);
    CHECK(r.attack == NULL);
}

/* ---- loading files ------------------------------------------------------------------- */

static char dir[64];

struct diag {
    int is_error;
    char rule[128];
    char text[1200]; /* "where: msg", where relative to dir */
};
static struct diag diags[64];
static size_t ndiags;

static void on_diag(void *ctx, const struct th_diag *d)
{
    (void)ctx;
    if (ndiags == TH_ARRAY_LEN(diags))
        return;
    struct diag *g = &diags[ndiags++];
    g->is_error = d->is_error;
    size_t dl = strlen(dir);
    const char *where = d->where;
    if (strncmp(where, dir, dl) == 0 && where[dl] == '/')
        where += dl + 1;
    const char *rule = d->rule;
    if (strncmp(rule, dir, dl) == 0 && rule[dl] == '/')
        rule += dl + 1;
    snprintf(g->rule, sizeof g->rule, "%s", rule);
    snprintf(g->text, sizeof g->text, "%s: %s", where, d->msg);
}

/* The index of the first diagnostic containing text (and of the given kind), or -1. */
static int find_diag(int is_error, const char *text)
{
    for (size_t i = 0; i < ndiags; i++)
        if (diags[i].is_error == is_error && strstr(diags[i].text, text))
            return (int)i;
    return -1;
}

static void dump_diags(void)
{
    for (size_t i = 0; i < ndiags; i++)
        fprintf(stderr, "    %s [%s] %s\n", diags[i].is_error ? "error" : "warning", diags[i].rule,
                diags[i].text);
}

#define CHECK_DIAG(is_error, text)                                                                 \
    do {                                                                                           \
        if (find_diag(is_error, text) < 0) {                                                       \
            fprintf(stderr, "%s:%d: no %s containing \"%s\"; got:\n", __FILE__, __LINE__,          \
                    (is_error) ? "error" : "warning", text);                                       \
            dump_diags();                                                                          \
        }                                                                                          \
        CHECK(find_diag(is_error, text) >= 0);                                                     \
    } while (0)

static char pathbuf[512];
static const char *write_file(const char *name, const char *text)
{
    snprintf(pathbuf, sizeof pathbuf, "%s/%s", dir, name);
    /* Create parent directories for names with slashes. */
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", pathbuf);
    for (char *p = tmp + strlen(dir) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0700);
            *p = '/';
        }
    FILE *f = fopen(pathbuf, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return pathbuf;
}

static int errors_of(void)
{
    int n = 0;
    for (size_t i = 0; i < ndiags; i++)
        n += diags[i].is_error;
    return n;
}

/* Writes one file, loads it (skip_bad), returns the set; *rc gets th_ruleset_load's code. */
static struct th_ruleset *load_one(const char *name, const char *text, int *rc)
{
    const char *p = write_file(name, text);
    char path[512];
    snprintf(path, sizeof path, "%s", p);
    const char *paths[] = {path};
    ndiags = 0;
    struct th_ruleset *rs = NULL;
    *rc = th_ruleset_load(paths, 1, 1, on_diag, NULL, &rs);
    CHECK(rs != NULL);
    CHECK_INT(*rc, errors_of());
    return rs;
}

/* Loads a file that must fail with an error containing text. */
static void expect_error(const char *name, const char *yaml, const char *text)
{
    int rc;
    struct th_ruleset *rs = load_one(name, yaml, &rc);
    CHECK(rc >= 1);
    CHECK_INT(th_ruleset_count(rs), 0);
    CHECK_DIAG(1, text);
    th_ruleset_free(rs);
}

/* Loads a file that must load cleanly; returns its rule (owned by *rs). */
static const struct th_rule *expect_rule(const char *name, const char *text, struct th_ruleset **rs)
{
    int rc;
    *rs = load_one(name, text, &rc);
    if (rc != 0)
        dump_diags();
    CHECK_INT(rc, 0);
    CHECK_INT(th_ruleset_count(*rs), 1);
    return th_ruleset_count(*rs) == 1 ? (*rs)->rules[0] : NULL;
}

static const char *attr_name(const struct th_attr *a)
{
    return a->name ? a->name : "(null)";
}

/* ---- YAML ----------------------------------------------------------------------------- */

static void test_yaml_full(void)
{
    const char *y = "id: aws-trufflehog-user-agent\n"
                    "name: TruffleHog user agent observed in AWS\n"
                    "version: 3\n"
                    "enabled: true\n"
                    "tags: [source:cloudtrail, tactic:TA0006-credential-access,\n"
                    "       technique:T1552-unsecured-credentials]\n"
                    "queries:\n"
                    "  - name: calls\n"
                    "    query: '@evt.name:GetCallerIdentity @http.useragent:*TruffleHog*'\n"
                    "    group_by: ['@userIdentity.arn', account]\n"
                    "    aggregation: count\n"
                    "    distinct: []\n"
                    "    fields: []\n"
                    "  - query: 'source:cloudtrail'\n"
                    "    group_by: ['@userIdentity.arn', account]\n"
                    "    aggregation: cardinality\n"
                    "    distinct: ['@evt.name']\n"
                    "  - query: '@eventName:PutObject'\n"
                    "    group_by: ['@userIdentity.arn', account]\n"
                    "    aggregation: sum\n"
                    "    fields: ['@additionalEventData.bytesTransferredIn']\n"
                    "options:\n"
                    "  detection_method: threshold\n"
                    "  evaluation_window: 15m\n"
                    "  keep_alive: 2h\n"
                    "  max_signal_duration: 12h\n"
                    "cases:\n"
                    "  - name: many\n"
                    "    condition: calls > 10 && b >= 3\n"
                    "    status: critical\n"
                    "  - condition: calls > 0 || c > 1000000.5\n"
                    "    status: high\n"
                    "message: |\n"
                    "  {{@userIdentity.arn}} ran TruffleHog against this account from\n"
                    "  {{@network.client.ip}} ({{events_matched}} calls).\n";
    struct th_ruleset *rs;
    const struct th_rule *r = expect_rule("aws/aws-trufflehog-user-agent.yaml", y, &rs);
    if (r) {
        CHECK_STR(r->id, "aws-trufflehog-user-agent");
        CHECK_STR(r->name, "TruffleHog user agent observed in AWS");
        CHECK_INT(r->version, 3);
        CHECK(r->enabled);
        CHECK_CONTAINS(r->file, "aws/aws-trufflehog-user-agent.yaml");
        CHECK_INT(r->ntags, 3);
        CHECK_STR(r->tags[2], "technique:T1552-unsecured-credentials");
        CHECK_INT(r->nattack, 1);
        CHECK_STR(r->attack[0].tactic, "TA0006");
        CHECK_STR(r->attack[0].technique, "T1552");
        CHECK_INT(r->method, TH_METHOD_THRESHOLD);
        CHECK_INT(r->nqueries, 3);
        CHECK_STR(r->queries[0].name, "calls");
        CHECK_STR(r->queries[0].text, "@evt.name:GetCallerIdentity @http.useragent:*TruffleHog*");
        CHECK(r->queries[0].query != NULL);
        CHECK_INT(r->queries[0].agg, TH_AGG_COUNT);
        CHECK_INT(r->queries[0].ngroup_by, 2);
        CHECK_STR(attr_name(&r->queries[0].group_by[0]), "userIdentity.arn");
        CHECK_INT(r->queries[0].group_by[0].kind, TH_ATTR_RAW);
        CHECK_STR(attr_name(&r->queries[0].group_by[1]), "account");
        CHECK_INT(r->queries[0].group_by[1].ns, TH_NS_BARE);
        CHECK_INT(r->queries[0].ndistinct, 0);
        CHECK_INT(r->queries[0].nfields, 0);
        CHECK_STR(r->queries[1].name, "b");
        CHECK_INT(r->queries[1].agg, TH_AGG_CARDINALITY);
        CHECK_INT(r->queries[1].ndistinct, 1);
        CHECK_STR(attr_name(&r->queries[1].distinct[0]), "evt.name");
        CHECK_STR(r->queries[2].name, "c");
        CHECK_INT(r->queries[2].agg, TH_AGG_SUM);
        CHECK_INT(r->queries[2].nfields, 1);
        CHECK_STR(attr_name(&r->queries[2].fields[0]), "additionalEventData.bytesTransferredIn");
        CHECK_INT(r->evaluation_window_ms, 15 * TH_MS_PER_MIN);
        CHECK_INT(r->keep_alive_ms, 2 * TH_MS_PER_HOUR);
        CHECK_INT(r->max_signal_duration_ms, 12 * TH_MS_PER_HOUR);
        CHECK_INT(r->ncases, 2);
        CHECK_STR(r->cases[0].name, "many");
        CHECK_INT(r->cases[0].severity, TH_SEVERITY_CRITICAL);
        CHECK_STR(r->cases[1].name, "");
        CHECK_INT(r->cases[1].severity, TH_SEVERITY_HIGH);
        double agg[3] = {11, 3, 0};
        CHECK(th__cond_eval(r->cases[0].cond, agg));
        agg[1] = 2;
        CHECK(!th__cond_eval(r->cases[0].cond, agg));
        double agg2[3] = {0, 0, 1000001};
        CHECK(th__cond_eval(r->cases[1].cond, agg2));
        agg2[2] = 1000000.5;
        CHECK(!th__cond_eval(r->cases[1].cond, agg2));
        CHECK(r->message != NULL);
        if (r->message) {
            struct th_strbuf sb;
            th__sb_init(&sb);
            struct th_template_vars v = {r->name, "many", 12, 0, 0};
            th__template_render(r->message, NULL, &v, &sb);
            CHECK_STR(sb.p, " ran TruffleHog against this account from\n (12 calls).\n");
            th__sb_fini(&sb);
        }
    }
    th_ruleset_free(rs);
}

static void test_yaml_defaults(void)
{
    struct th_ruleset *rs;
    const struct th_rule *r = expect_rule("d.yaml",
                                          "id: d\n"
                                          "name: D\n"
                                          "queries:\n"
                                          "  - query: '@eventName:ConsoleLogin'\n"
                                          "cases:\n"
                                          "  - status: info\n"
                                          "    condition: a > 0\n",
                                          &rs);
    if (r) {
        CHECK_INT(r->version, 1);
        CHECK(r->enabled);
        CHECK_INT(r->method, TH_METHOD_THRESHOLD);
        CHECK_INT(r->evaluation_window_ms, 5 * TH_MS_PER_MIN);
        CHECK_INT(r->keep_alive_ms, TH_MS_PER_HOUR);
        CHECK_INT(r->max_signal_duration_ms, TH_MS_PER_DAY);
        CHECK_STR(r->queries[0].name, "a");
        CHECK_INT(r->queries[0].agg, TH_AGG_COUNT);
        CHECK_INT(r->queries[0].ngroup_by, 0);
        CHECK(r->message == NULL);
        CHECK_INT(r->ntags, 0);
        CHECK_INT(r->nattack, 0);
        CHECK_INT(r->new_value.forget_after_ms, 28 * TH_MS_PER_DAY);
        CHECK_INT(r->new_value.learning_duration_ms, TH_MS_PER_DAY);
        CHECK(!r->new_value.learning_by_threshold);
        CHECK_INT(r->new_value.learning_threshold, 0);
        CHECK_INT(r->anomaly.bucket_duration_ms, 5 * TH_MS_PER_MIN);
        CHECK_INT(r->anomaly.learning_duration_ms, TH_MS_PER_DAY);
        CHECK_INT(r->anomaly.detection_tolerance, 5);
        CHECK(!r->travel.baseline_user_locations);
        CHECK_INT(r->travel.baseline_duration_ms, TH_MS_PER_DAY);
        CHECK(r->travel.speed_kmh == 1000);
        CHECK(r->travel.min_distance_km == 500);
    }
    th_ruleset_free(rs);

    /* A long window stretches the default keep_alive and max_signal_duration. */
    r = expect_rule("w.yaml",
                    "id: w\nname: W\nqueries: [{query: '@a:1'}]\n"
                    "options: {evaluation_window: 1d}\n"
                    "cases: [{status: low, condition: a > 5}]\n",
                    &rs);
    if (r) {
        CHECK_INT(r->keep_alive_ms, TH_MS_PER_DAY);
        CHECK_INT(r->max_signal_duration_ms, TH_MS_PER_DAY);
    }
    th_ruleset_free(rs);
    /* An explicit short max_signal_duration bounds the default keep_alive. */
    r = expect_rule("m.yaml",
                    "id: m\nname: M\nqueries: [{query: '@a:1'}]\n"
                    "options: {evaluation_window: 10m, max_signal_duration: 30m}\n"
                    "cases: [{status: low, condition: a > 5}]\n",
                    &rs);
    if (r) {
        CHECK_INT(r->keep_alive_ms, 30 * TH_MS_PER_MIN);
        CHECK_INT(r->max_signal_duration_ms, 30 * TH_MS_PER_MIN);
    }
    th_ruleset_free(rs);
    /* Window 0 (per event). */
    r = expect_rule("z.yaml",
                    "id: z\nname: Z\nqueries: [{query: '@a:1'}]\n"
                    "options: {evaluation_window: 0, keep_alive: 0, max_signal_duration: 0}\n"
                    "cases: [{status: low, condition: a > 0}]\n",
                    &rs);
    if (r) {
        CHECK_INT(r->evaluation_window_ms, 0);
        CHECK_INT(r->keep_alive_ms, 0);
    }
    th_ruleset_free(rs);
}

static void test_yaml_methods(void)
{
    struct th_ruleset *rs;
    const struct th_rule *r =
        expect_rule("nv.yaml",
                    "id: aws-access-key-new-country\n"
                    "name: New country\n"
                    "queries:\n"
                    "  - query: '@userIdentity.accessKeyId:AKIA*'\n"
                    "    group_by: ['@userIdentity.accessKeyId']\n"
                    "    fields: ['@network.client.geoip.country.iso_code', '@evt.name']\n"
                    "options:\n"
                    "  detection_method: new_value\n"
                    "  new_value:\n"
                    "    forget_after: 7d\n"
                    "    learning_duration: 0\n"
                    "    learning_method: threshold\n"
                    "    learning_threshold: 1\n"
                    "cases:\n"
                    "  - status: medium\n"
                    "    condition: ''\n",
                    &rs);
    if (r) {
        CHECK_INT(r->method, TH_METHOD_NEW_VALUE);
        CHECK_INT(r->queries[0].agg, TH_AGG_NEW_VALUE);
        CHECK_INT(r->queries[0].nfields, 2);
        CHECK_STR(attr_name(&r->queries[0].fields[1]), "evt.name");
        CHECK_INT(r->new_value.forget_after_ms, 7 * TH_MS_PER_DAY);
        CHECK_INT(r->new_value.learning_duration_ms, 0);
        CHECK(r->new_value.learning_by_threshold);
        CHECK_INT(r->new_value.learning_threshold, 1);
        CHECK(r->cases[0].cond == NULL);
        CHECK_INT(r->cases[0].severity, TH_SEVERITY_MEDIUM);
    }
    th_ruleset_free(rs);

    r = expect_rule("an.yaml",
                    "id: aws-anomalous-secret-reads\n"
                    "name: Secret reads spike\n"
                    "queries:\n"
                    "  - query: '@evt.name:GetSecretValue'\n"
                    "    group_by: ['@userIdentity.arn']\n"
                    "    aggregation: cardinality\n"
                    "    distinct: ['@requestParameters.secretId']\n"
                    "options:\n"
                    "  detection_method: anomaly_detection\n"
                    "  evaluation_window: 15m\n"
                    "  anomaly_detection:\n"
                    "    bucket_duration: 10m\n"
                    "    learning_duration: 7d\n"
                    "    detection_tolerance: 2\n"
                    "cases:\n"
                    "  - status: high\n",
                    &rs);
    if (r) {
        CHECK_INT(r->method, TH_METHOD_ANOMALY);
        CHECK_INT(r->queries[0].agg, TH_AGG_CARDINALITY);
        CHECK_INT(r->anomaly.bucket_duration_ms, 10 * TH_MS_PER_MIN);
        CHECK_INT(r->anomaly.learning_duration_ms, 7 * TH_MS_PER_DAY);
        CHECK_INT(r->anomaly.detection_tolerance, 2);
    }
    th_ruleset_free(rs);

    r = expect_rule("tr.yaml",
                    "id: aws-console-login-impossible-travel\n"
                    "name: Travel\n"
                    "queries:\n"
                    "  - query: '@evt.name:ConsoleLogin'\n"
                    "    group_by: ['@userIdentity.arn']\n"
                    "options:\n"
                    "  detection_method: impossible_travel\n"
                    "  impossible_travel:\n"
                    "    baseline_user_locations: true\n"
                    "    baseline_duration: 14d\n"
                    "    speed_kmh: 800.5\n"
                    "    min_distance_km: 250\n"
                    "cases:\n"
                    "  - status: high\n",
                    &rs);
    if (r) {
        CHECK_INT(r->method, TH_METHOD_TRAVEL);
        CHECK_INT(r->queries[0].agg, TH_AGG_GEO_DATA);
        CHECK(r->travel.baseline_user_locations);
        CHECK_INT(r->travel.baseline_duration_ms, 14 * TH_MS_PER_DAY);
        CHECK(r->travel.speed_kmh == 800.5);
        CHECK(r->travel.min_distance_km == 250);
    }
    th_ruleset_free(rs);
}

/* A valid rule to break one line at a time: line numbers below refer to it. */
#define BASE_HEAD                                                                                  \
    "id: r1\n"                                  /* 1 */                                            \
    "name: R\n"                                 /* 2 */                                            \
    "tags: [tactic:TA0006-credential-access]\n" /* 3 */

static void test_yaml_errors(void)
{
    /* Unknown keys: top level, options (with a suggestion), queries, cases. */
    expect_error("r1.yaml",
                 BASE_HEAD "bogus: 1\n"
                           "queries: [{query: '@a:1'}]\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:4:1: unknown key 'bogus' in the rule");
    CHECK_STR(diags[0].rule, "r1");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "options:\n"
                           "  evaluationWindow: 5m\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:6:3: unknown key 'evaluationWindow' in options (did you mean "
                 "'evaluation_window'?)");
    expect_error("r1.yaml",
                 BASE_HEAD "queries:\n"
                           "  - query: '@a:1'\n"
                           "    groupby: ['@x']\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:6:5: unknown key 'groupby' in query 1 (did you mean 'group_by'?)");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "cases:\n"
                           "  - condition: a > 0\n"
                           "    severity: high\n",
                 "r1.yaml:7:5: unknown key 'severity' in case 1");
    CHECK_DIAG(1, "r1.yaml:6:5: missing required key 'status' in case 1");
    CHECK_INT(errors_of(), 2);
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "options:\n"
                           "  detection_method: new_value\n"
                           "  new_value: {forget_after: 7d, learn: 1d}\n"
                           "cases: [{status: low}]\n",
                 "r1.yaml:7:33: unknown key 'learn' in options.new_value");

    /* Durations. */
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "options:\n"
                           "  keep_alive: 1x\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:6:15: bad duration '1x' for 'keep_alive'");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "options: {keep_alive: 300}\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:5:23: bad duration '300' for 'keep_alive'");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "options: {keep_alive: [1h]}\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "'keep_alive' must be a duration such as 5m, not a list");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "options:\n"
                           "  evaluation_window: 7m\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:6:22: 'evaluation_window' must be one of 0, 1m, 5m, 10m, 15m, 30m, "
                 "1h, 2h, 3h, 6h, 12h, 1d");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "options: {evaluation_window: 2d}\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "'evaluation_window' must be one of");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "options:\n"
                           "  evaluation_window: 1h\n"
                           "  keep_alive: 30m\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:7:15: 'evaluation_window' (1h) is longer than 'keep_alive' (30m)");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "options:\n"
                           "  evaluation_window: 2h\n"
                           "  keep_alive: 2h\n"
                           "  max_signal_duration: 1h\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:8:24: 'evaluation_window' (2h) is longer than 'max_signal_duration' "
                 "(1h)");
    CHECK_INT(errors_of(), 1);

    /* Conditions naming unknown queries: the column is inside the condition. */
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "cases:\n"
                           "  - condition: a > 0 && b > 1\n"
                           "    status: low\n",
                 "r1.yaml:6:25: bad condition: condition names an unknown query 'b' "
                 "(queries: a)");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "cases:\n"
                           "  - condition: 'a >'\n"
                           "    status: low\n",
                 "r1.yaml:6:20: bad condition: expected a number");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "cases:\n"
                           "  - status: low\n",
                 "r1.yaml:6:5: missing required key 'condition' in case 1");

    /* Bad regexes and bad queries: the column is inside the query. */
    expect_error("r1.yaml",
                 BASE_HEAD "queries:\n"
                           "  - query: '@evt.name:/(unclosed/'\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "bad query: invalid regex");
    CHECK(strncmp(diags[0].text, "r1.yaml:5:", 10) == 0);
    {
        unsigned col = (unsigned)atoi(diags[0].text + 10);
        CHECK(col >= 23 && col <= 33);
    }
    expect_error("r1.yaml",
                 BASE_HEAD "queries:\n"
                           "  - query: '@evt.name:(a OR b'\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:5:23: bad query: unbalanced parenthesis");
    expect_error("r1.yaml",
                 BASE_HEAD "queries:\n"
                           "  - query: |\n"
                           "      @evt.name:GetObject\n"
                           "      @x:(a OR b\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:7:10: bad query: unbalanced parenthesis");

    /* Ids. */
    expect_error("r1.yaml",
                 "id: Bad_ID\nname: R\nqueries: [{query: '@a:1'}]\n"
                 "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:1:5: bad id 'Bad_ID'");
    CHECK_STR(diags[0].rule, "r1.yaml"); /* no usable id: the file names the rule */
    expect_error("r1.yaml",
                 "id: -x\nname: R\nqueries: [{query: '@a:1'}]\n"
                 "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:1:5: bad id '-x'");

    /* Missing required keys: all reported at once. */
    expect_error("r1.yaml", "version: 2\n", "r1.yaml:1:1: missing required key 'id'");
    CHECK_DIAG(1, "r1.yaml:1:1: missing required key 'name'");
    CHECK_DIAG(1, "r1.yaml:1:1: missing required key 'queries'");
    CHECK_DIAG(1, "r1.yaml:1:1: missing required key 'cases'");
    CHECK_INT(errors_of(), 4);
    expect_error("r1.yaml",
                 "id: r1\nname: R\nqueries:\n  - group_by: ['@x']\n"
                 "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:4:5: missing required key 'query' in query 1");
    expect_error("r1.yaml", "id: r1\nname: ''\nqueries: []\ncases: []\n",
                 "r1.yaml:2:7: 'name' must not be empty");
    CHECK_DIAG(1, "r1.yaml:3:10: 'queries' must hold at least one query");
    CHECK_DIAG(1, "r1.yaml:4:8: 'cases' must hold at least one case");

    /* Wrong types. */
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "options: [1, 2]\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:5:10: options must be a map, not a list");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: {query: '@a:1'}\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:4:10: 'queries' must be a list, not a map");
    expect_error("r1.yaml",
                 "id: r1\nname: R\ntags: source:cloudtrail\nqueries: [{query: '@a:1'}]\n"
                 "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:3:7: 'tags' must be a list, not a string");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: ['@a:1']\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:4:11: query 1 must be a map, not a string");
    expect_error("r1.yaml",
                 BASE_HEAD "enabled: 'yes'\nversion: 1.5\n"
                           "queries: [{query: '@a:1', group_by: '@x'}]\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:4:10: 'enabled' must be true or false, not a string");
    CHECK_DIAG(1, "r1.yaml:5:10: 'version' must be a whole number >= 1");
    CHECK_DIAG(1, "r1.yaml:6:37: 'group_by' in query 1 must be a list, not a string");
    expect_error("r1.yaml", "- a\n- b\n", "r1.yaml:1:1: a rule file must hold a map, not a list");
    expect_error("r1.yaml", "# nothing\n", "r1.yaml: empty rule file");

    /* Severity. */
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "cases: [{status: urgent, condition: a > 0}]\n",
                 "r1.yaml:5:18: bad severity 'urgent' (info, low, medium, high, critical)");

    /* Method option blocks under the wrong method. */
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "options:\n"
                           "  new_value:\n"
                           "    forget_after: 7d\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:7:5: 'new_value' options given but the detection method is threshold");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1', group_by: ['@u']}]\n"
                           "options:\n"
                           "  detection_method: impossible_travel\n"
                           "  anomaly_detection: {detection_tolerance: 2}\n"
                           "cases: [{status: low}]\n",
                 "r1.yaml:7:22: 'anomaly_detection' options given but the detection method is "
                 "impossible_travel");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1', fields: ['@x']}]\n"
                           "options:\n"
                           "  detection_method: new_value\n"
                           "  impossible_travel: {speed_kmh: 10}\n"
                           "cases: [{status: low}]\n",
                 "'impossible_travel' options given but the detection method is new_value");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "options: {detection_method: hardcoded}\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:5:29: detection method 'hardcoded' is not supported");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "options: {detection_method: magic}\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "unknown detection method 'magic'");

    /* new_value fields: more than 5, none. */
    expect_error("r1.yaml",
                 BASE_HEAD "queries:\n"
                           "  - query: '@a:1'\n"
                           "    fields: ['@f1', '@f2', '@f3', '@f4', '@f5', '@f6']\n"
                           "options: {detection_method: new_value}\n"
                           "cases: [{status: low}]\n",
                 "r1.yaml:6:49: new_value takes at most 5 attributes in 'fields', not 6");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "options: {detection_method: new_value}\n"
                           "cases: [{status: low}]\n",
                 "r1.yaml:4:11: aggregation 'new_value' needs 1 to 5 attributes in 'fields'");
    /* cardinality without distinct; sum and max without fields. */
    expect_error("r1.yaml",
                 BASE_HEAD "queries:\n"
                           "  - query: '@a:1'\n"
                           "    aggregation: cardinality\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:6:18: aggregation 'cardinality' needs one attribute in 'distinct'");
    expect_error("r1.yaml",
                 BASE_HEAD "queries:\n"
                           "  - query: '@a:1'\n"
                           "    aggregation: sum\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:5:5: aggregation 'sum' needs exactly one attribute in 'fields'");
    expect_error("r1.yaml",
                 BASE_HEAD "queries:\n"
                           "  - query: '@a:1'\n"
                           "    aggregation: max\n"
                           "    fields: []\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:7:13: aggregation 'max' needs exactly one attribute in 'fields'");
    expect_error("r1.yaml",
                 BASE_HEAD "queries:\n"
                           "  - query: '@a:1'\n"
                           "    distinct: ['@x']\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:6:16: 'distinct' is only used by aggregation 'cardinality', not "
                 "'count'");
    expect_error("r1.yaml",
                 BASE_HEAD "queries:\n"
                           "  - query: '@a:1'\n"
                           "    aggregation: new_value\n"
                           "    fields: ['@x']\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:6:18: aggregation 'new_value' does not fit detection method "
                 "'threshold'");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1', aggregation: avg}]\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "unknown aggregation 'avg'");

    /* detection_tolerance outside 1..5. */
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "options:\n"
                           "  detection_method: anomaly_detection\n"
                           "  anomaly_detection: {detection_tolerance: 0}\n"
                           "cases: [{status: low}]\n",
                 "r1.yaml:7:44: 'detection_tolerance' must be a whole number from 1 to 5");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "options:\n"
                           "  detection_method: anomaly_detection\n"
                           "  anomaly_detection: {detection_tolerance: 6}\n"
                           "cases: [{status: low}]\n",
                 "'detection_tolerance' must be a whole number from 1 to 5");

    /* Method shape: one query, one case, no condition, travel's one group_by, threshold's
     * equal group_by. */
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1', fields: ['@x']}, {query: '@b:1', "
                           "fields: ['@y']}]\n"
                           "options: {detection_method: new_value}\n"
                           "cases: [{status: low, condition: a > 0}, {status: high}]\n",
                 "new_value rules take exactly one query");
    CHECK_DIAG(1, "new_value rules take exactly one case");
    CHECK_DIAG(1, "'condition' is only used by threshold rules, not new_value");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "options: {detection_method: impossible_travel}\n"
                           "cases: [{status: low}]\n",
                 "impossible_travel rules need exactly one 'group_by' attribute");
    expect_error("r1.yaml",
                 BASE_HEAD "queries:\n"
                           "  - query: '@a:1'\n"
                           "    group_by: ['@u']\n"
                           "  - query: '@b:1'\n"
                           "    group_by: ['@v']\n"
                           "cases: [{status: low, condition: a > 0 && b > 0}]\n",
                 "r1.yaml:8:15: all queries of a threshold rule must have the same 'group_by'");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1', name: x}, {query: '@b:1', name: x}]\n"
                           "cases: [{status: low, condition: x > 0}]\n",
                 "r1.yaml:4:59: duplicate query name 'x'");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1', name: 'my query'}]\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "bad query name 'my query'");

    /* Tags. */
    expect_error("r1.yaml",
                 "id: r1\nname: R\ntags: [source:cloudtrail, tactic:TA06-x]\n"
                 "queries: [{query: '@a:1'}]\n"
                 "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:3:27: malformed tactic tag 'tactic:TA06-x'");

    /* Tags against the ATT&CK table: unknown ids are errors. */
    expect_error("r1.yaml",
                 "id: r1\nname: R\ntags: [tactic:TA0099-nothing, technique:T9999-nothing]\n"
                 "queries: [{query: '@a:1'}]\n"
                 "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:3:8: unknown ATT&CK tactic 'TA0099'");
    CHECK_DIAG(1, "r1.yaml:3:31: unknown ATT&CK technique 'T9999'");

    /* The message template, with the column inside a one-line message. */
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "cases: [{status: low, condition: a > 0}]\n"
                           "message: 'hello {{user}}'\n",
                 "r1.yaml:6:19: bad message: unknown template variable 'user'");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "cases: [{status: low, condition: a > 0}]\n"
                           "message: |\n"
                           "  Hello,\n"
                           "  {{@usr.name}} did {{ oops }}.\n",
                 "r1.yaml:8:24: bad message: unknown template variable 'oops'");
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1'}]\n"
                           "cases: [{status: low, condition: a > 0}]\n"
                           "message: [a]\n",
                 "r1.yaml:6:10: 'message' must be a string, not a list");

    /* Group-by attributes. */
    expect_error("r1.yaml",
                 BASE_HEAD "queries: [{query: '@a:1', group_by: ['@a..b']}]\n"
                           "cases: [{status: low, condition: a > 0}]\n",
                 "r1.yaml:4:38: bad group_by attribute '@a..b'");

    /* YAML syntax errors and a duplicate key. */
    expect_error("r1.yaml", "id: r1\nname: [R\n", "r1.yaml:3:1:");
    expect_error("r1.yaml", "id: r1\nname: R\nname: S\n",
                 "r1.yaml:3:1: duplicate key 'name' (first at line 2)");
}

static void test_yaml_warnings(void)
{
    int rc;
    struct th_ruleset *rs = load_one("w1.yaml",
                                     "id: w1\nname: W\n"
                                     "queries:\n"
                                     "  - query: '@evt.name:A AND @b:1 OR @c:2'\n"
                                     "    group_by: ['@userIdentity.arn']\n"
                                     "cases: [{status: low, condition: a > 0}]\n",
                                     &rc);
    CHECK_INT(rc, 0);
    CHECK_INT(th_ruleset_count(rs), 1);
    /* The warning points into the query, at the OR (query column 25 -> file column 36). */
    CHECK(ndiags >= 1);
    CHECK(find_diag(0, "w1.yaml:4:") >= 0);
    int i = find_diag(0, "w1.yaml:4:");
    if (i >= 0) {
        unsigned col = (unsigned)atoi(diags[i].text + strlen("w1.yaml:4:"));
        CHECK(col >= 13 && col <= 44);
        CHECK_STR(diags[i].rule, "w1");
    }
    th_ruleset_free(rs);

    /* Tags a rule's group_by can never have; keep_alive past max_signal_duration; a
     * technique without a tactic. */
    rs = load_one("w2.yaml",
                  "id: w2\nname: W\n"
                  "tags: [technique:T1078-valid-accounts]\n"
                  "queries:\n"
                  "  - query: '@a:1'\n"
                  "    group_by: [usr.name]\n"
                  "options: {keep_alive: 6h, max_signal_duration: 1h}\n"
                  "cases: [{status: low, condition: a > 0}]\n",
                  &rc);
    CHECK_INT(rc, 0);
    CHECK_INT(th_ruleset_count(rs), 1);
    CHECK_DIAG(0, "w2.yaml:6:16: group_by 'usr.name' is a tag events never carry (did you mean "
                  "'@usr.name'?)");
    CHECK_DIAG(0, "w2.yaml:7:23: 'keep_alive' (6h) is longer than 'max_signal_duration' (1h)");
    CHECK_DIAG(0, "w2.yaml:3:7: technique tags without a tactic tag");
    th_ruleset_free(rs);

    /* ATT&CK names in tags, and techniques outside the rule's tactics. */
    rs = load_one("w3.yaml",
                  "id: w3\nname: W\n"
                  "tags:\n"
                  "  - tactic:TA0006-credentials\n"
                  "  - technique:T1552-unsecured-credentials\n"
                  "  - technique:T1552.005-cloud-instance-metadata-api\n"
                  "  - technique:T1552.001-unsecured-credentials-credentials-in-files\n"
                  "  - technique:T1078-valid-account\n"
                  "  - tactic:TA0040\n"
                  "queries: [{query: '@a:1'}]\n"
                  "cases: [{status: low, condition: a > 0}]\n",
                  &rc);
    CHECK_INT(rc, 0);
    CHECK_INT(th_ruleset_count(rs), 1);
    CHECK_DIAG(0, "w3.yaml:4:5: TA0006 is Credential Access: the tag should read "
                  "'tactic:TA0006-credential-access'");
    CHECK_DIAG(0, "w3.yaml:8:5: T1078 is Valid Accounts: the tag should read "
                  "'technique:T1078-valid-accounts'");
    CHECK_DIAG(0, "w3.yaml:8:5: T1078 belongs to none of the rule's tactics (ATT&CK puts it in "
                  "TA0001, TA0003, TA0004, TA0005)");
    CHECK_INT(ndiags, 3); /* the sub-technique names (own or full) are both fine */
    th_ruleset_free(rs);
}

/* ---- JSON ----------------------------------------------------------------------------- */

static void test_json(void)
{
    const char *j =
        "{\n"
        "  \"name\": \"Brute force\",\n"
        "  \"isEnabled\": true,\n"
        "  \"type\": \"log_detection\",\n"
        "  \"hasExtendedTitle\": true,\n"
        "  \"createdAt\": 1700000000000,\n"
        "  \"isDefault\": false,\n"
        "  \"queries\": [\n"
        "    {\"query\": \"@evt.name:ConsoleLogin @error.kind:*\", \"groupByFields\": "
        "[\"@usr.id\"],\n"
        "     \"distinctFields\": [], \"aggregation\": \"count\", \"name\": \"failed\",\n"
        "     \"metrics\": [], \"dataSource\": \"logs\", \"hasOptionalGroupByFields\": false},\n"
        "    {\"query\": \"@evt.name:ConsoleLogin -@error.kind:*\", \"groupByFields\": "
        "[\"@usr.id\"],\n"
        "     \"aggregation\": \"count\", \"name\": \"ok\"}\n"
        "  ],\n"
        "  \"cases\": [\n"
        "    {\"name\": \"success after failures\", \"status\": \"high\",\n"
        "     \"condition\": \"failed > 5 && ok > 0\", \"notifications\": [\"@slack-sec\"]}\n"
        "  ],\n"
        "  \"options\": {\"evaluationWindow\": 900, \"keepAlive\": 3600, "
        "\"maxSignalDuration\": 86400,\n"
        "              \"detectionMethod\": \"threshold\", "
        "\"decreaseCriticalityBasedOnEnv\": false},\n"
        "  \"message\": \"{{@usr.id}} logged in after failures\",\n"
        "  \"tags\": [\"source:cloudtrail\", \"tactic:TA0006-credential-access\", "
        "\"technique:T1110-brute-force\"],\n"
        "  \"filters\": [],\n"
        "  \"groupSignalsBy\": [],\n"
        "  \"version\": 4\n"
        "}\n";
    struct th_ruleset *rs;
    const struct th_rule *r = expect_rule("dd/aws-brute-force.json", j, &rs);
    if (r) {
        CHECK_STR(r->id, "aws-brute-force"); /* the file's base name */
        CHECK_STR(r->name, "Brute force");
        CHECK_INT(r->version, 4);
        CHECK_INT(r->nqueries, 2);
        CHECK_STR(r->queries[0].name, "failed");
        CHECK_STR(attr_name(&r->queries[0].group_by[0]), "usr.id");
        CHECK_STR(r->queries[1].name, "ok");
        CHECK_INT(r->evaluation_window_ms, 15 * TH_MS_PER_MIN);
        CHECK_INT(r->keep_alive_ms, TH_MS_PER_HOUR);
        CHECK_INT(r->max_signal_duration_ms, TH_MS_PER_DAY);
        CHECK_INT(r->cases[0].severity, TH_SEVERITY_HIGH);
        CHECK_STR(r->cases[0].name, "success after failures");
        double agg[2] = {6, 1};
        CHECK(th__cond_eval(r->cases[0].cond, agg));
        CHECK_INT(r->nattack, 1);
        CHECK_STR(r->attack[0].technique, "T1110");
        CHECK(r->message != NULL);
    }
    th_ruleset_free(rs);

    /* A slug-like id wins over the file name; new value units are days. */
    r = expect_rule("Export (1).json",
                    "{\"id\": \"abc-def-ghi\", \"name\": \"NV\", \"isEnabled\": true,\n"
                    " \"queries\": [{\"query\": \"@evt.name:AssumeRole\", \"aggregation\": "
                    "\"new_value\",\n"
                    "   \"groupByFields\": [], \"metric\": \"@userIdentity.accountId\"}],\n"
                    " \"cases\": [{\"status\": \"medium\", \"condition\": \"\"}],\n"
                    " \"options\": {\"detectionMethod\": \"new_value\", \"evaluationWindow\": 0,\n"
                    "   \"keepAlive\": 0, \"maxSignalDuration\": 0,\n"
                    "   \"newValueOptions\": {\"forgetAfter\": 7, \"learningDuration\": 1,\n"
                    "     \"learningMethod\": \"duration\", \"learningThreshold\": 0}},\n"
                    " \"message\": \"new account\", \"tags\": []}\n",
                    &rs);
    if (r) {
        CHECK_STR(r->id, "abc-def-ghi");
        CHECK_INT(r->method, TH_METHOD_NEW_VALUE);
        CHECK_INT(r->queries[0].nfields, 1);
        CHECK_STR(attr_name(&r->queries[0].fields[0]), "userIdentity.accountId");
        CHECK_INT(r->new_value.forget_after_ms, 7 * TH_MS_PER_DAY);
        CHECK_INT(r->new_value.learning_duration_ms, TH_MS_PER_DAY);
    }
    th_ruleset_free(rs);

    /* Anomaly: learningDuration in hours, bucketDuration in seconds. */
    r = expect_rule("an.json",
                    "{\"id\": \"Not A Slug\", \"name\": \"AN\",\n"
                    " \"queries\": [{\"query\": \"@error.kind:AccessDenied\", "
                    "\"groupByFields\": [\"@usr.id\"]}],\n"
                    " \"cases\": [{\"status\": \"low\"}],\n"
                    " \"options\": {\"detectionMethod\": \"anomaly_detection\", "
                    "\"evaluationWindow\": 900,\n"
                    "   \"anomalyDetectionOptions\": {\"bucketDuration\": 300, "
                    "\"learningDuration\": 24,\n"
                    "     \"detectionTolerance\": 3, \"learningPeriodBaseline\": 10}}}\n",
                    &rs);
    if (r) {
        CHECK_STR(r->id, "an"); /* the JSON id is not slug-like */
        CHECK_INT(r->anomaly.bucket_duration_ms, 5 * TH_MS_PER_MIN);
        CHECK_INT(r->anomaly.learning_duration_ms, TH_MS_PER_DAY);
        CHECK_INT(r->anomaly.detection_tolerance, 3);
    }
    th_ruleset_free(rs);

    /* Impossible travel. */
    r = expect_rule("tr.json",
                    "{\"name\": \"TR\", \"queries\": [{\"query\": \"@evt.name:ConsoleLogin\",\n"
                    "  \"groupByFields\": [\"@usr.id\"], \"aggregation\": \"geo_data\",\n"
                    "  \"metric\": \"@network.client.geoip\"}],\n"
                    " \"cases\": [{\"status\": \"high\", \"condition\": \"\"}],\n"
                    " \"options\": {\"detectionMethod\": \"impossible_travel\",\n"
                    "   \"impossibleTravelOptions\": {\"baselineUserLocations\": true, "
                    "\"baselineUserLocationsDuration\": 3, \"detectIpTransition\": false}}}\n",
                    &rs);
    if (r) {
        CHECK(r->travel.baseline_user_locations);
        CHECK_INT(r->travel.baseline_duration_ms, 3 * TH_MS_PER_DAY);
        CHECK_INT(r->queries[0].nfields, 1);
    }
    th_ruleset_free(rs);

    /* What Datadog's exports carry: another method's options (a warning), empty names and
     * aggregations (the defaults). */
    r = expect_rule("x.json",
                    "{\"name\": \"X\", \"queries\": [{\"query\": \"@a:1\", \"name\": \"\", "
                    "\"aggregation\": \"\"}],\n"
                    " \"cases\": [{\"status\": \"low\", \"condition\": \"a > 0\"}],\n"
                    " \"options\": {\"detectionMethod\": \"threshold\", \"newValueOptions\": "
                    "{\"forgetAfter\": 1, \"learningDuration\": 0}}}\n",
                    &rs);
    if (r) {
        CHECK_STR(r->queries[0].name, "a");
        CHECK_INT(r->queries[0].agg, TH_AGG_COUNT);
    }
    CHECK_DIAG(0, "x.json:3:65: 'newValueOptions' ignored: the detection method is threshold");
    th_ruleset_free(rs);

    /* Errors. */
    expect_error("f.json",
                 "{\"name\": \"F\", \"queries\": [{\"query\": \"@a:1\"}],\n"
                 " \"cases\": [{\"status\": \"low\", \"condition\": \"a > 0\"}],\n"
                 " \"filters\": [{\"action\": \"suppress\", \"query\": \"@usr.id:bot\"}]}\n",
                 "f.json:3:14: filters are not supported");
    expect_error(
        "f.json",
        "{\"name\": \"F\", \"queries\": [{\"query\": \"@a:1\", \"group_by_fields\": []}],\n"
        " \"cases\": [{\"status\": \"low\", \"condition\": \"a > 0\"}]}\n",
        "f.json:1:45: unknown key 'group_by_fields' in query 1 (did you mean "
        "'groupByFields'?)");
    expect_error("f.json",
                 "{\"name\": \"F\", \"queries\": [{\"query\": \"@a:1\"}],\n"
                 " \"cases\": [{\"status\": \"low\", \"condition\": \"a > 0\"}],\n"
                 " \"options\": {\"evaluationWindow\": \"5m\", \"keepAlive\": 120}}\n",
                 "f.json:3:34: 'evaluationWindow' must be a whole number of seconds >= 0, not "
                 "5m");
    CHECK_DIAG(1, "f.json:3:53: 'evaluationWindow' (5m) is longer than 'keepAlive' (2m)");
    expect_error("f.json",
                 "{\"name\": \"F\", \"queries\": [{\"query\": \"@a:1\"}],\n"
                 " \"cases\": [{\"status\": \"low\", \"condition\": \"a > 0\"}],\n"
                 " \"options\": {\"evaluationWindow\": 420}}\n",
                 "f.json:3:34: 'evaluationWindow' must be one of 0, 60, 300, 600, 900, 1800, "
                 "3600, 7200, 10800, 21600, 43200, 86400 (seconds)");
    expect_error("f.json",
                 "{\"name\": \"F\", \"type\": \"signal_correlation\", \"queries\": [{\"query\": "
                 "\"@a:1\"}],\n"
                 " \"cases\": [{\"status\": \"low\", \"condition\": \"a > 0\"}]}\n",
                 "f.json:1:23: rule type 'signal_correlation' is not supported");
    expect_error("f.json",
                 "{\"name\": \"F\", \"queries\": [{\"query\": \"@a:1\", \"dataSource\": "
                 "\"spans\"}],\n"
                 " \"cases\": [{\"status\": \"low\", \"condition\": \"a > 0\"}],\n"
                 " \"referenceTables\": [{\"tableName\": \"t\"}]}\n",
                 "dataSource 'spans' is not supported (only logs)");
    CHECK_DIAG(1, "f.json:3:21: 'referenceTables' is not supported");
    expect_error("f.json",
                 "{\"name\": \"F\",\n \"queries\": [{\"query\": \"@a:1\"} {\"query\": \"@b\"}],\n"
                 " \"cases\": []}\n",
                 "f.json:2:32: invalid JSON: array value separator");
    expect_error("Bad Name.json",
                 "{\"name\": \"F\", \"queries\": [{\"query\": \"@a:1\"}],\n"
                 " \"cases\": [{\"status\": \"low\", \"condition\": \"a > 0\"}]}\n",
                 "Bad Name.json: no usable rule id");
    CHECK_STR(diags[0].rule, "Bad Name.json");
    expect_error("f.json",
                 "{\"name\": \"F\", \"queries\": [{\"query\": \"@a:1\", \"aggregation\": "
                 "\"new_value\"}],\n"
                 " \"cases\": [{\"status\": \"low\"}],\n"
                 " \"options\": {\"detectionMethod\": \"new_value\", \"newValueOptions\": "
                 "{\"forgetAfter\": -1}}}\n",
                 "'forgetAfter' must be a whole number of days >= 0, not -1");
}

/* ---- rule sets ------------------------------------------------------------------------ */

static void test_ruleset(void)
{
    /* A fresh tree: lexical order, recursion, dot files and other extensions skipped,
     * disabled rules dropped, duplicate ids across files. */
    write_file("set/b/z.yaml", "id: z\nname: Z\nqueries: [{query: '@a:1'}]\n"
                               "cases: [{status: low, condition: a > 0}]\n");
    write_file("set/a.yml", "id: a\nname: A\nqueries: [{query: '@a:1'}]\n"
                            "cases: [{status: low, condition: a > 0}]\n");
    write_file("set/c.json", "{\"id\": \"c\", \"name\": \"C\", \"queries\": [{\"query\": "
                             "\"@a:1\"}], \"cases\": [{\"status\": \"low\", \"condition\": "
                             "\"a > 0\"}]}\n");
    write_file("set/.hidden.yaml", "this: is not read\n");
    write_file("set/.git/x.yaml", "neither: is this\n");
    write_file("set/readme.md", "not a rule\n");
    write_file("set/d.yaml", "id: d\nname: D\nenabled: false\nqueries: [{query: '@a:1'}]\n"
                             "cases: [{status: low, condition: a > 0}]\n");
    char setdir[128];
    snprintf(setdir, sizeof setdir, "%s/set", dir);
    const char *paths[] = {setdir};
    struct th_ruleset *rs = NULL;
    ndiags = 0;
    int rc = th_ruleset_load(paths, 1, 0, on_diag, NULL, &rs);
    if (rc)
        dump_diags();
    CHECK_INT(rc, 0);
    CHECK_INT(th_ruleset_count(rs), 3);
    if (th_ruleset_count(rs) == 3) {
        CHECK_STR(rs->rules[0]->id, "a");
        CHECK_STR(rs->rules[1]->id, "z"); /* set/b/z.yaml comes before set/c.json */
        CHECK_STR(rs->rules[2]->id, "c");
    }
    th_ruleset_free(rs);

    /* A duplicate id: an error at the second file, naming the first. */
    write_file("set/e.yaml", "name: E\nid: a\nqueries: [{query: '@a:1'}]\n"
                             "cases: [{status: low, condition: a > 0}]\n");
    ndiags = 0;
    rc = th_ruleset_load(paths, 1, 1, on_diag, NULL, &rs);
    CHECK_INT(rc, 1);
    CHECK_DIAG(1, "set/e.yaml:2:5: duplicate rule id 'a' (first defined at ");
    CHECK_DIAG(1, "set/a.yml:1:5)");
    CHECK_INT(th_ruleset_count(rs), 3); /* skip_bad: the first 'a' stays */
    th_ruleset_free(rs);
    /* A disabled rule's id still counts. */
    write_file("set/e.yaml", "name: E\nid: d\nqueries: [{query: '@a:1'}]\n"
                             "cases: [{status: low, condition: a > 0}]\n");
    ndiags = 0;
    rc = th_ruleset_load(paths, 1, 1, on_diag, NULL, &rs);
    CHECK_INT(rc, 1);
    CHECK_DIAG(1, "duplicate rule id 'd'");
    th_ruleset_free(rs);

    /* Without skip_bad, any error leaves the set empty; errors in several files are all
     * reported. */
    write_file("set/f.yaml", "id: f\nname: F\nqueries: [{query: '@a:(1'}]\n"
                             "cases: [{status: low, condition: a > 0}]\n");
    ndiags = 0;
    rc = th_ruleset_load(paths, 1, 0, on_diag, NULL, &rs);
    CHECK_INT(rc, 2);
    CHECK(rs != NULL);
    CHECK_INT(th_ruleset_count(rs), 0);
    CHECK_DIAG(1, "duplicate rule id 'd'");
    CHECK_DIAG(1, "set/f.yaml:3:23: bad query");
    th_ruleset_free(rs);
    ndiags = 0;
    rc = th_ruleset_load(paths, 1, 1, on_diag, NULL, &rs);
    CHECK_INT(rc, 2);
    CHECK_INT(th_ruleset_count(rs), 3);
    th_ruleset_free(rs);

    /* Several paths, a missing one, an explicit file with another extension. */
    char missing[128], explicit_file[128];
    snprintf(missing, sizeof missing, "%s/no/such/dir", dir);
    write_file("other/rule.txt", "id: t\nname: T\nqueries: [{query: '@a:1'}]\n"
                                 "cases: [{status: low, condition: a > 0}]\n");
    snprintf(explicit_file, sizeof explicit_file, "%s/other/rule.txt", dir);
    const char *p2[] = {missing, explicit_file};
    ndiags = 0;
    rc = th_ruleset_load(p2, 2, 1, on_diag, NULL, &rs);
    CHECK_INT(rc, 1);
    CHECK_DIAG(1, "no/such/dir: cannot read: No such file or directory");
    CHECK_INT(th_ruleset_count(rs), 1);
    th_ruleset_free(rs);

    /* No paths: an empty set. A NULL out is refused. NULL diag is fine. */
    rc = th_ruleset_load(NULL, 0, 0, NULL, NULL, &rs);
    CHECK_INT(rc, 0);
    CHECK_INT(th_ruleset_count(rs), 0);
    th_ruleset_free(rs);
    CHECK_INT(th_ruleset_load(paths, 1, 0, NULL, NULL, NULL), TH_EINVAL);
    rc = th_ruleset_load(paths, 1, 1, NULL, NULL, &rs);
    CHECK_INT(rc, 2);
    th_ruleset_free(rs);
    CHECK_INT(th_ruleset_count(NULL), 0);
    th_ruleset_free(NULL);
}

/* Removes the temporary tree (test files only: names are known). */
static void cleanup(const char *path)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", path);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_rule.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_conditions();
    test_tags();
    test_yaml_full();
    test_yaml_defaults();
    test_yaml_methods();
    test_yaml_errors();
    test_yaml_warnings();
    test_json();
    test_ruleset();
    cleanup(dir);
    return CHECK_DONE();
}
