/*
 * test_coverage.c - ATT&CK coverage (coverage.c) over rules written to a mkdtemp
 * directory: the pairs and counts (tactics, techniques, sub-techniques, rules without tags,
 * duplicates dropped, a technique without a tactic tag under every tactic of the technique,
 * a tactic alone), the text table (matrix order, uncovered tactics, rule ids sorted, the
 * summary line), the Markdown table, and the Navigator layer parsed back with json-c: its
 * keys against the layer format 4.5 property tables, versions, domain, one entry per
 * (technique, tactic) with the tactic's shortname, score = number of rules, comment = their
 * ids, showSubtechniques on a parent, the gradient; determinism (load order does not
 * matter), th_coverage_write, and an empty rule set.
 */
#include "coverage.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ruleset.h"

static char dir[256];
static char files[8][512];
static size_t nfiles;

static void put(const char *name, const char *yaml)
{
    snprintf(files[nfiles], sizeof files[nfiles], "%s/%s", dir, name);
    FILE *f = fopen(files[nfiles], "w");
    CHECK(f != NULL);
    if (!f)
        exit(2);
    fputs(yaml, f);
    fclose(f);
    nfiles++;
}

#define RULE(id, tags)                                                                         \
    "id: " id "\nname: " id "\ntags: " tags "\nqueries: [{query: 'x'}]\n"                     \
    "cases: [{condition: a > 0, status: low}]\n"

static void write_rules(void)
{
    /* b before a on disk order does not matter: ids sort. */
    put("b.yaml", RULE("r-b", "[tactic:TA0006-credential-access, technique:T1552-unsecured-"
                              "credentials, tactic:TA0001-initial-access, technique:T1078.004-"
                              "cloud-accounts]"));
    put("a.yaml", RULE("r-a", "[tactic:TA0006-credential-access, technique:T1552-unsecured-"
                              "credentials, technique:T1552.005-cloud-instance-metadata-api]"));
    put("c.yaml", RULE("r-c", "[tactic:TA0040-impact, source:cloudtrail]"));
    put("d.yaml", RULE("r-d", "[source:cloudtrail]"));
    /* No tactic tag: the technique counts under each of its tactics (T1078.004: Defense
     * Evasion, Persistence, Privilege Escalation, Initial Access). */
    put("e.yaml", RULE("r-e", "[technique:T1078.004-cloud-accounts]"));
    /* A tactic the rule's technique does not belong to stays a tactic alone. */
    put("f.yaml", RULE("r-f", "[tactic:TA0007-discovery, tactic:TA0009-collection, "
                              "technique:T1530-data-from-cloud-storage]"));
}

static struct th_ruleset *load(int reverse)
{
    const char *paths[8];
    for (size_t i = 0; i < nfiles; i++)
        paths[i] = files[reverse ? nfiles - 1 - i : i];
    struct th_ruleset *rs = NULL;
    CHECK_INT(th_ruleset_load(paths, nfiles, 0, NULL, NULL, &rs), 0);
    CHECK_INT(th_ruleset_count(rs), 6);
    return rs;
}

static const char *format(const struct th_coverage *cov, enum th_coverage_format f)
{
    static struct th_strbuf sb;
    th__sb_fini(&sb);
    th__sb_init(&sb);
    th__coverage_format(cov, f, &sb);
    CHECK(!sb.oom);
    return sb.p ? sb.p : "";
}

static void test_pairs(const struct th_coverage *cov)
{
    CHECK_INT(cov->nrules, 6);
    CHECK_INT(cov->nmapped, 5);
    CHECK_INT(cov->nuntagged, 1);
    CHECK_STR(cov->nuntagged ? cov->untagged[0]->id : "", "r-d");
    /* Initial Access, Persistence, Privilege Escalation, Defense Evasion, Credential
     * Access, Discovery, Collection, Impact. */
    CHECK_INT(cov->ntactics, 8);
    /* T1078.004, T1530, T1552, T1552.005 */
    CHECK_INT(cov->ntechniques, 4);
    CHECK_INT(cov->nsub, 2);
    /* Pairs: TA0001 T1078.004 r-b r-e; TA0003/TA0004/TA0005 T1078.004 r-e; TA0006 T1552 r-a
     * r-b, T1552.005 r-a; TA0007 alone r-f; TA0009 T1530 r-f; TA0040 alone r-c. */
    CHECK_INT(cov->npairs, 11);
    for (size_t i = 1; i < cov->npairs; i++)
        CHECK(cov->pairs[i - 1].tactic <= cov->pairs[i].tactic);
}

/* The whole line of t that contains needle (static buffer), or "". */
static const char *line_of(const char *t, const char *needle)
{
    static char buf[512];
    const char *p = strstr(t, needle);
    if (!p)
        return "";
    while (p > t && p[-1] != '\n')
        p--;
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    snprintf(buf, sizeof buf, "%.*s", (int)n, p);
    return buf;
}

/* True when s ends with suffix. */
static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static void test_text(const struct th_coverage *cov)
{
    const char *t = format(cov, TH_COVERAGE_TEXT);
    CHECK(strncmp(t, "MITRE ATT&CK Enterprise v16.1 coverage of 6 rules\n\n", 51) == 0);
    CHECK_CONTAINS(t, "TA0043 Reconnaissance\n  (no rule)\nTA0042 Resource Development\n"
                      "  (no rule)\nTA0001 Initial Access\n  T1078.004  Valid Accounts: Cloud "
                      "Accounts");
    CHECK(ends_with(line_of(t, "  T1078.004  Valid"), "  r-b, r-e"));
    CHECK_CONTAINS(t, "TA0006 Credential Access\n  T1552      Unsecured Credentials ");
    CHECK(ends_with(line_of(t, "  T1552      Unsecured"), " r-a, r-b"));
    CHECK_STR(line_of(t, "  T1552.005  "),
              "  T1552.005  Unsecured Credentials: Cloud Instance Metadata API  r-a");
    /* The rule column starts at the same place on every row. */
    const char *row1 = strstr(t, "  T1552      "), *row2 = strstr(t, "  T1552.005  ");
    CHECK(row1 && row2);
    if (row1 && row2)
        CHECK_INT(strstr(row1, "r-a") - row1, strstr(row2, "r-a") - row2);
    CHECK_CONTAINS(t, "TA0007 Discovery\n  -          (the tactic, no technique)");
    CHECK_CONTAINS(t, "TA0040 Impact\n  -          (the tactic, no technique)");
    CHECK_CONTAINS(t, "TA0003 Persistence\n  T1078.004");
    /* Matrix order. */
    static const char *const order[] = {"TA0043", "TA0042", "TA0001", "TA0002", "TA0003",
                                        "TA0004", "TA0005", "TA0006", "TA0007", "TA0008",
                                        "TA0009", "TA0011", "TA0010", "TA0040"};
    const char *prev = t;
    for (size_t i = 0; i < 14; i++) {
        const char *p = strstr(t, order[i]);
        CHECK(p != NULL && p > prev);
        if (p)
            prev = p;
    }
    /* Every row of a tactic has its columns aligned: ids padded to 10, names to the
     * longest name shown. */
    CHECK_CONTAINS(t, "\nRules without ATT&CK tags: r-d\nATT&CK Enterprise v16.1: 8 of 14 "
                      "tactics and 4 techniques (2 of them sub-techniques) covered by 5 rules; "
                      "1 rule without ATT&CK tags\n");
    size_t len = strlen(t);
    CHECK(len > 0 && t[len - 1] == '\n');
}

static void test_markdown(const struct th_coverage *cov)
{
    const char *m = format(cov, TH_COVERAGE_MARKDOWN);
    CHECK(strncmp(m, "| Tactic | Technique | Rules |\n|---|---|---|\n", 44) == 0);
    CHECK_CONTAINS(m, "| TA0043 Reconnaissance | (none) | |\n");
    CHECK_CONTAINS(m, "| TA0001 Initial Access | T1078.004 Valid Accounts: Cloud Accounts | "
                      "`r-b`, `r-e` |\n");
    CHECK_CONTAINS(m, "| TA0006 Credential Access | T1552 Unsecured Credentials | `r-a`, `r-b` |\n"
                      "|  | T1552.005 Unsecured Credentials: Cloud Instance Metadata API | `r-a` |"
                      "\n");
    CHECK_CONTAINS(m, "| TA0040 Impact | (the tactic, no technique) | `r-c` |\n");
    CHECK_CONTAINS(m, "\n\nRules without ATT&CK tags: `r-d`\n\nATT&CK Enterprise v16.1: 8 of "
                      "14 tactics");
    /* Every table row has four pipes (three cells). */
    for (const char *p = m; *p == '|';) {
        const char *nl = strchr(p, '\n');
        int pipes = 0;
        for (const char *q = p; q < nl; q++)
            pipes += *q == '|' && (q == p || q[-1] != '\\');
        CHECK_INT(pipes, 4);
        p = nl + 1;
    }
}

static json_object *get(json_object *o, const char *k)
{
    json_object *v = NULL;
    return json_object_object_get_ex(o, k, &v) ? v : NULL;
}

/* True when every key of o is in the allowed list. */
static int keys_allowed(json_object *o, const char *const *allowed, size_t n)
{
    int ok = 1;
    json_object_object_foreach(o, k, v)
    {
        (void)v;
        int found = 0;
        for (size_t i = 0; i < n && !found; i++)
            found = !strcmp(k, allowed[i]);
        if (!found) {
            fprintf(stderr, "unexpected layer key '%s'\n", k);
            ok = 0;
        }
    }
    return ok;
}

static json_object *find_technique(json_object *techs, const char *id, const char *tactic)
{
    for (size_t i = 0; i < json_object_array_length(techs); i++) {
        json_object *t = json_object_array_get_idx(techs, i);
        if (!strcmp(json_object_get_string(get(t, "techniqueID")), id) &&
            !strcmp(json_object_get_string(get(t, "tactic")), tactic))
            return t;
    }
    return NULL;
}

static void test_navigator(const struct th_coverage *cov)
{
    const char *text = format(cov, TH_COVERAGE_NAVIGATOR);
    json_object *o = json_tokener_parse(text);
    CHECK(o && json_object_is_type(o, json_type_object));
    if (!o)
        return;
    /* Layer format 4.5, property table (layers/spec/v4.5/layerformat.md). */
    static const char *const layer_keys[] = {
        "versions",       "name",     "description",
        "domain",         "customDataURL",
        "filters",        "sorting",  "layout",
        "hideDisabled",   "techniques", "gradient",
        "legendItems",    "showTacticRowBackground", "tacticRowBackground",
        "selectTechniquesAcrossTactics", "selectSubtechniquesWithParent",
        "selectVisibleTechniques", "metadata", "links"};
    CHECK(keys_allowed(o, layer_keys, sizeof layer_keys / sizeof *layer_keys));
    /* Required: name, domain; versions.navigator and versions.layer when versions is there. */
    CHECK(json_object_is_type(get(o, "name"), json_type_string));
    CHECK_STR(json_object_get_string(get(o, "domain")), "enterprise-attack");
    json_object *v = get(o, "versions");
    CHECK_STR(json_object_get_string(get(v, "attack")), "16");
    CHECK_STR(json_object_get_string(get(v, "layer")), "4.5");
    CHECK_STR(json_object_get_string(get(v, "navigator")), TH_ATTACK_NAVIGATOR_VERSION);
    CHECK_CONTAINS(json_object_get_string(get(o, "description")), "8 of 14 tactics");
    static const char *const layout_keys[] = {"layout", "showID", "showName",
                                              "showAggregateScores", "countUnscored",
                                              "aggregateFunction", "expandedSubtechniques"};
    CHECK(keys_allowed(get(o, "layout"), layout_keys, 7));

    json_object *techs = get(o, "techniques");
    CHECK(techs && json_object_is_type(techs, json_type_array));
    /* Technique pairs only: the two tactics alone are left out. */
    CHECK_INT(techs ? json_object_array_length(techs) : 0, 7);
    static const char *const tech_keys[] = {"techniqueID", "tactic", "comment", "enabled",
                                            "score", "color", "metadata", "links",
                                            "showSubtechniques"};
    for (size_t i = 0; techs && i < json_object_array_length(techs); i++) {
        json_object *t = json_object_array_get_idx(techs, i);
        CHECK(keys_allowed(t, tech_keys, sizeof tech_keys / sizeof *tech_keys));
        CHECK(json_object_is_type(get(t, "techniqueID"), json_type_string));
        CHECK(json_object_is_type(get(t, "tactic"), json_type_string));
        CHECK(json_object_is_type(get(t, "score"), json_type_int));
        CHECK(json_object_is_type(get(t, "comment"), json_type_string));
        CHECK(json_object_get_boolean(get(t, "enabled")));
    }
    json_object *t = find_technique(techs, "T1552", "credential-access");
    CHECK(t != NULL);
    CHECK_INT(json_object_get_int(get(t, "score")), 2);
    CHECK_STR(json_object_get_string(get(t, "comment")), "r-a, r-b");
    CHECK(json_object_get_boolean(get(t, "showSubtechniques")));
    t = find_technique(techs, "T1552.005", "credential-access");
    CHECK_INT(json_object_get_int(get(t, "score")), 1);
    CHECK(get(t, "showSubtechniques") == NULL);
    t = find_technique(techs, "T1078.004", "initial-access");
    CHECK_INT(json_object_get_int(get(t, "score")), 2);
    CHECK_STR(json_object_get_string(get(t, "comment")), "r-b, r-e");
    for (size_t k = 0; k < 3; k++) {
        static const char *const tac[] = {"persistence", "privilege-escalation",
                                          "defense-evasion"};
        t = find_technique(techs, "T1078.004", tac[k]);
        CHECK(t != NULL);
        CHECK_STR(t ? json_object_get_string(get(t, "comment")) : "", "r-e");
    }
    t = find_technique(techs, "T1530", "collection");
    CHECK_STR(t ? json_object_get_string(get(t, "comment")) : "", "r-f");
    CHECK(find_technique(techs, "T1530", "discovery") == NULL);

    json_object *g = get(o, "gradient");
    CHECK(json_object_array_length(get(g, "colors")) >= 2);
    CHECK_INT(json_object_get_int(get(g, "minValue")), 0);
    CHECK_INT(json_object_get_int(get(g, "maxValue")), 2); /* the highest score */
    json_object_put(o);
}

static void test_empty(void)
{
    struct th_ruleset empty = {NULL, 0, 0};
    struct th_coverage cov;
    CHECK_INT(th__coverage_build(&empty, &cov), 0);
    CHECK_INT(cov.ntactics, 0);
    CHECK_CONTAINS(format(&cov, TH_COVERAGE_TEXT),
                   "ATT&CK Enterprise v16.1: 0 of 14 tactics and 0 techniques covered by 0 "
                   "rules\n");
    json_object *o = json_tokener_parse(format(&cov, TH_COVERAGE_NAVIGATOR));
    CHECK(o != NULL);
    CHECK_INT(json_object_array_length(get(o, "techniques")), 0);
    /* maxValue must stay above minValue even with no score. */
    CHECK_INT(json_object_get_int(get(get(o, "gradient"), "maxValue")), 1);
    json_object_put(o);
    th__coverage_fini(&cov);
}

static char *write_to_string(const struct th_ruleset *rs, enum th_coverage_format f)
{
    FILE *fp = tmpfile();
    CHECK(fp != NULL);
    if (!fp)
        exit(2);
    struct th_err err = {{0}, {0}};
    CHECK_INT(th_coverage_write(rs, f, fp, &err), 0);
    long n = ftell(fp);
    rewind(fp);
    char *s = calloc(1, (size_t)n + 1);
    CHECK_INT(fread(s, 1, (size_t)n, fp), n);
    fclose(fp);
    return s;
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/th-coverage-XXXXXX");
    if (!mkdtemp(dir))
        return 2;
    write_rules();
    struct th_ruleset *rs = load(0);
    struct th_coverage cov;
    CHECK_INT(th__coverage_build(rs, &cov), 0);
    test_pairs(&cov);
    test_text(&cov);
    test_markdown(&cov);
    test_navigator(&cov);

    /* Determinism: the other load order gives the same bytes in every format. */
    struct th_ruleset *rs2 = load(1);
    for (int f = TH_COVERAGE_TEXT; f <= TH_COVERAGE_NAVIGATOR; f++) {
        char *a = write_to_string(rs, (enum th_coverage_format)f);
        char *b = write_to_string(rs2, (enum th_coverage_format)f);
        CHECK_STR(a, b);
        CHECK_STR(a, format(&cov, (enum th_coverage_format)f));
        free(a);
        free(b);
    }
    th__coverage_fini(&cov);
    th__coverage_fini(&cov); /* twice is fine */
    test_empty();
    th_ruleset_free(rs);
    th_ruleset_free(rs2);
    for (size_t i = 0; i < nfiles; i++)
        unlink(files[i]);
    rmdir(dir);
    return CHECK_DONE();
}
