/*
 * test_output_ocsf.c - the OCSF Detection Finding format (output_ocsf.c): one whole line
 * pinned byte for byte; every object validated against the attributes OCSF 1.3.0 marks
 * required, with their types; activity ids, type_uid and status for new, update and closed;
 * severity_id and its caption for every severity; the attacks mapping (tactic, technique,
 * sub-technique with its parent, a tactic alone, a technique without a tactic tag); samples
 * as evidences kept strict JSON; the format table; and signals through a real engine.
 *
 * The required attributes below are those of OCSF schema 1.3.0 (the version the format
 * pins), as published at schema.ocsf.io/1.3.0 and mirrored in docs.tenzir.com's OCSF
 * reference (reference/ocsf/1-3-0/classes/detection_finding and objects/finding_info,
 * metadata, analytic, attack): class Detection Finding [2004] requires activity_id,
 * category_uid, class_uid, finding_info, metadata, severity_id, time and type_uid;
 * finding_info requires uid and title; metadata requires product and version; analytic
 * requires type_id; an attack needs at least one of tactic, technique, sub_technique;
 * evidences need at least one of their artifacts (data here).
 */
#include "output.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ruleset.h"

static char dir[256];

static struct th_ruleset *load(const char *yaml)
{
    char path[512];
    snprintf(path, sizeof path, "%s/rule.yaml", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        exit(2);
    fputs(yaml, f);
    fclose(f);
    const char *paths[] = {path};
    struct th_ruleset *rs = NULL;
    CHECK_INT(th_ruleset_load(paths, 1, 0, NULL, NULL, &rs), 0);
    CHECK_INT(th_ruleset_count(rs), 1);
    unlink(path);
    return rs;
}

static const char *const rule_yaml =
    "id: t-ocsf\n"
    "name: Metadata \"credentials\" used\n"
    "version: 3\n"
    "tags: [source:cloudtrail, tactic:TA0006-credential-access,\n"
    "       technique:T1552.005-cloud-instance-metadata-api, tactic:TA0007-discovery]\n"
    "queries:\n"
    "  - query: '@evt.name:GetCallerIdentity'\n"
    "    group_by: ['@userIdentity.arn']\n"
    "options: {evaluation_window: 5m, keep_alive: 1h, max_signal_duration: 1d}\n"
    "cases:\n"
    "  - {name: c0, condition: a > 50, status: info}\n"
    "  - {name: c1, condition: a > 40, status: low}\n"
    "  - {name: c2, condition: a > 30, status: medium}\n"
    "  - {name: c3, condition: a > 20, status: high}\n"
    "  - {name: c4, condition: a > 0, status: critical}\n";

static char *event_ids[] = {"e1", "e\"2"};
/* The second sample carries an invalid UTF-8 byte and a raw tab inside a string, as json-c
 * accepts them from a file. */
static char *samples[] = {"{\"eventID\":\"e1\",\"n\":[1,2]}", "{\"eventID\":\"e\xff\t2\"}"};

static void fill_state(struct th_sigstate *st, int case_idx)
{
    memset(st, 0, sizeof *st);
    st->open = true;
    st->case_idx = case_idx;
    st->first_seen = INT64_C(1709546400000); /* 2024-03-04T10:00:00Z */
    st->last_seen = INT64_C(1709546461250);  /* 2024-03-04T10:01:01.250Z */
    st->events_matched = 7;
    snprintf(st->id, sizeof st->id, "%s", "0123456789abcdef0123456789abcdef");
    st->event_ids = event_ids;
    st->nevent_ids = 2;
    st->samples = samples;
    st->nsamples = 1;
    st->message = "alice said \"hi\"";
    st->details = "{\"aggregates\":{\"a\":7}}";
}

static struct th_strbuf sb;

static const char *format(const struct th_rule *r, enum th_signal_status status,
                          const struct th_sigstate *st)
{
    static const char key[] = "arn:aws:iam::111122223333:user/alice";
    struct th_signal s = {r, status, st, key, sizeof key - 1};
    th__sb_reset(&sb);
    th__output_ocsf.format(&s, &sb);
    CHECK(!sb.oom);
    return sb.p ? sb.p : "";
}

static json_object *get(json_object *o, const char *k)
{
    json_object *v = NULL;
    return json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static const char *str(json_object *o)
{
    return o ? json_object_get_string(o) : "(absent)";
}

static int is(json_object *o, json_type t)
{
    return o && json_object_is_type(o, t);
}

/* OCSF integer_t / long_t / timestamp_t: a JSON integer. */
#define CHECK_REQ_INT(o, k) CHECK(is(get(o, k), json_type_int))
#define CHECK_REQ_STR(o, k) CHECK(is(get(o, k), json_type_string) && *str(get(o, k)))
#define CHECK_REQ_OBJ(o, k) CHECK(is(get(o, k), json_type_object))

/* Checks one Detection Finding against the required attributes of OCSF 1.3.0 and the
 * types of everything the format writes; returns the parsed object (caller puts it). */
static json_object *validate(const char *line)
{
    CHECK(strchr(line, '\n') == NULL);
    json_object *o = json_tokener_parse(line);
    CHECK(is(o, json_type_object));
    if (!o)
        return NULL;
    /* Class 2004 (and base event) required attributes. */
    static const char *const required_int[] = {"activity_id", "category_uid", "class_uid",
                                               "severity_id", "time",         "type_uid"};
    for (size_t i = 0; i < sizeof required_int / sizeof *required_int; i++)
        CHECK_REQ_INT(o, required_int[i]);
    CHECK_REQ_OBJ(o, "finding_info");
    CHECK_REQ_OBJ(o, "metadata");
    CHECK_INT(json_object_get_int(get(o, "class_uid")), 2004);
    CHECK_INT(json_object_get_int(get(o, "category_uid")), 2);
    CHECK_INT(json_object_get_int(get(o, "type_uid")),
              2004 * 100 + json_object_get_int(get(o, "activity_id")));
    /* Siblings and optional attributes the format writes, with their types. */
    CHECK_REQ_STR(o, "class_name");
    CHECK_REQ_STR(o, "category_name");
    CHECK_REQ_STR(o, "activity_name");
    CHECK_REQ_STR(o, "type_name");
    CHECK_REQ_STR(o, "severity");
    CHECK_REQ_INT(o, "status_id");
    CHECK_REQ_STR(o, "status");
    CHECK_REQ_INT(o, "start_time");
    CHECK_REQ_INT(o, "end_time");
    CHECK_REQ_INT(o, "count");
    CHECK(is(get(o, "message"), json_type_string));
    CHECK_REQ_OBJ(o, "unmapped");
    /* metadata: product and version required. */
    json_object *md = get(o, "metadata");
    CHECK_REQ_STR(md, "version");
    CHECK_STR(str(get(md, "version")), "1.3.0");
    CHECK_REQ_OBJ(md, "product");
    CHECK_REQ_STR(get(md, "product"), "name");
    CHECK_REQ_STR(get(md, "product"), "vendor_name");
    CHECK_REQ_STR(get(md, "product"), "version");
    /* finding_info: uid and title required. */
    json_object *fi = get(o, "finding_info");
    CHECK_REQ_STR(fi, "uid");
    CHECK_REQ_STR(fi, "title");
    CHECK(is(get(fi, "desc"), json_type_string));
    CHECK_REQ_INT(fi, "first_seen_time");
    CHECK_REQ_INT(fi, "last_seen_time");
    CHECK(is(get(fi, "types"), json_type_array));
    json_object *an = get(fi, "analytic");
    CHECK(is(an, json_type_object));
    CHECK_REQ_INT(an, "type_id");
    CHECK_INT(json_object_get_int(get(an, "type_id")), 1);
    CHECK_STR(str(get(an, "type")), "Rule");
    CHECK_REQ_STR(an, "uid");
    CHECK_REQ_STR(an, "name");
    CHECK(is(get(an, "version"), json_type_string)); /* analytic.version is string_t */
    json_object *attacks = get(fi, "attacks");
    CHECK(is(attacks, json_type_array));
    for (size_t i = 0; attacks && i < json_object_array_length(attacks); i++) {
        json_object *a = json_object_array_get_idx(attacks, i);
        CHECK(get(a, "tactic") || get(a, "technique") || get(a, "sub_technique"));
        static const char *const parts[] = {"tactic", "technique", "sub_technique"};
        for (size_t k = 0; k < 3; k++)
            if (get(a, parts[k])) {
                CHECK_REQ_OBJ(a, parts[k]);
                CHECK_REQ_STR(get(a, parts[k]), "uid");
                CHECK_REQ_STR(get(a, parts[k]), "name");
            }
        CHECK_REQ_STR(a, "version");
    }
    json_object *ev = get(o, "evidences");
    CHECK(is(ev, json_type_array));
    for (size_t i = 0; ev && i < json_object_array_length(ev); i++)
        CHECK_REQ_OBJ(json_object_array_get_idx(ev, i), "data");
    return o;
}

static void test_whole_line(const struct th_rule *r)
{
    struct th_sigstate st;
    fill_state(&st, 4);
    const char *line = format(r, TH_SIGNAL_NEW, &st);
    CHECK_STR(line,
              "{\"class_uid\":2004,\"class_name\":\"Detection Finding\",\"category_uid\":2,"
              "\"category_name\":\"Findings\",\"activity_id\":1,\"activity_name\":\"Create\","
              "\"type_uid\":200401,\"type_name\":\"Detection Finding: Create\","
              "\"severity_id\":5,\"severity\":\"Critical\",\"status_id\":1,\"status\":\"New\","
              "\"time\":1709546461250,\"start_time\":1709546400000,\"end_time\":1709546461250,"
              "\"count\":7,\"message\":\"alice said \\\"hi\\\"\","
              "\"metadata\":{\"version\":\"1.3.0\",\"product\":{\"name\":\"trailhound\","
              "\"vendor_name\":\"trailhound\",\"version\":\"" TH_VERSION "\"}},"
              "\"finding_info\":{\"uid\":\"0123456789abcdef0123456789abcdef\","
              "\"title\":\"Metadata \\\"credentials\\\" used\","
              "\"desc\":\"alice said \\\"hi\\\"\",\"first_seen_time\":1709546400000,"
              "\"last_seen_time\":1709546461250,\"types\":[\"threshold\"],"
              "\"analytic\":{\"uid\":\"t-ocsf\",\"name\":\"Metadata \\\"credentials\\\" used\","
              "\"type_id\":1,\"type\":\"Rule\",\"version\":\"3\"},"
              "\"attacks\":[{\"tactic\":{\"uid\":\"TA0006\",\"name\":\"Credential Access\"},"
              "\"technique\":{\"uid\":\"T1552\",\"name\":\"Unsecured Credentials\"},"
              "\"sub_technique\":{\"uid\":\"T1552.005\",\"name\":\"Cloud Instance Metadata API\"},"
              "\"version\":\"16.1\"},"
              "{\"tactic\":{\"uid\":\"TA0007\",\"name\":\"Discovery\"},\"version\":\"16.1\"}]},"
              "\"evidences\":[{\"data\":{\"eventID\":\"e1\",\"n\":[1,2]}}],"
              "\"unmapped\":{\"group\":{\"@userIdentity.arn\":\"arn:aws:iam::111122223333:user/"
              "alice\"},\"case\":\"c4\",\"method\":\"threshold\","
              "\"tags\":[\"source:cloudtrail\",\"tactic:TA0006-credential-access\","
              "\"technique:T1552.005-cloud-instance-metadata-api\",\"tactic:TA0007-discovery\"],"
              "\"event_ids\":[\"e1\",\"e\\\"2\"],\"details\":{\"aggregates\":{\"a\":7}}}}");
    json_object_put(validate(line));
    char *copy = strdup(line);
    CHECK_STR(format(r, TH_SIGNAL_NEW, &st), copy); /* deterministic */
    free(copy);
}

static void test_activities(const struct th_rule *r)
{
    static const struct {
        enum th_signal_status status;
        int activity;
        const char *name;
        int status_id;
        const char *status_name;
    } want[] = {
        {TH_SIGNAL_NEW, 1, "Create", 1, "New"},
        {TH_SIGNAL_UPDATE, 2, "Update", 1, "New"},
        {TH_SIGNAL_CLOSED, 3, "Close", 99, "Closed"},
    };
    struct th_sigstate st;
    fill_state(&st, 4);
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        json_object *o = validate(format(r, want[i].status, &st));
        CHECK_INT(json_object_get_int(get(o, "activity_id")), want[i].activity);
        CHECK_STR(str(get(o, "activity_name")), want[i].name);
        CHECK_INT(json_object_get_int(get(o, "type_uid")), 200400 + want[i].activity);
        char type_name[64];
        snprintf(type_name, sizeof type_name, "Detection Finding: %s", want[i].name);
        CHECK_STR(str(get(o, "type_name")), type_name);
        CHECK_INT(json_object_get_int(get(o, "status_id")), want[i].status_id);
        CHECK_STR(str(get(o, "status")), want[i].status_name);
        /* time is last_seen, in ms */
        CHECK_INT(json_object_get_int64(get(o, "time")), INT64_C(1709546461250));
        json_object_put(o);
    }
}

static void test_severities(const struct th_rule *r)
{
    static const char *const caption[] = {"Informational", "Low", "Medium", "High", "Critical"};
    struct th_sigstate st;
    for (int c = 0; c < 5; c++) {
        fill_state(&st, c);
        json_object *o = validate(format(r, TH_SIGNAL_NEW, &st));
        CHECK_INT(json_object_get_int(get(o, "severity_id")), c + 1);
        CHECK_STR(str(get(o, "severity")), caption[c]);
        char name[8];
        snprintf(name, sizeof name, "c%d", c);
        CHECK_STR(str(get(get(o, "unmapped"), "case")), name);
        json_object_put(o);
    }
}

static void test_attacks_other_shapes(void)
{
    /* A technique without a tactic tag (the loader warns but accepts), and a plain
     * technique under a tactic. */
    struct th_ruleset *rs = load("id: t-tech-only\nname: n\ntags: [technique:T1530-data-from-"
                                 "cloud-storage]\nqueries: [{query: 'a'}]\n"
                                 "cases: [{condition: a > 0, status: low}]\n");
    struct th_sigstate st;
    fill_state(&st, 0);
    json_object *o = validate(format(rs->rules[0], TH_SIGNAL_NEW, &st));
    json_object *attacks = get(get(o, "finding_info"), "attacks");
    CHECK_INT(attacks ? json_object_array_length(attacks) : 0, 1);
    json_object *a = json_object_array_get_idx(attacks, 0);
    CHECK(get(a, "tactic") == NULL);
    CHECK(get(a, "sub_technique") == NULL);
    CHECK_STR(str(get(get(a, "technique"), "uid")), "T1530");
    CHECK_STR(str(get(get(a, "technique"), "name")), "Data from Cloud Storage");
    CHECK_STR(str(get(a, "version")), "16.1");
    CHECK_INT(json_object_get_int(get(o, "severity_id")), 2);
    json_object_put(o);
    th_ruleset_free(rs);

    rs = load("id: t-none\nname: n\ntags: [source:cloudtrail]\nqueries: [{query: 'a'}]\n"
              "cases: [{condition: a > 0, status: medium}]\n");
    fill_state(&st, 0);
    o = validate(format(rs->rules[0], TH_SIGNAL_NEW, &st));
    attacks = get(get(o, "finding_info"), "attacks");
    CHECK(is(attacks, json_type_array));
    CHECK_INT(attacks ? (long)json_object_array_length(attacks) : -1L, 0);
    json_object_put(o);
    th_ruleset_free(rs);
}

static void test_evidences(const struct th_rule *r)
{
    struct th_sigstate st;
    fill_state(&st, 4);
    st.nsamples = 2;
    st.details = NULL;
    const char *line = format(r, TH_SIGNAL_NEW, &st);
    json_object *o = validate(line);
    json_object *ev = get(o, "evidences");
    CHECK_INT(ev ? json_object_array_length(ev) : 0, 2);
    json_object *d1 = get(json_object_array_get_idx(ev, 1), "data");
    /* The invalid byte became U+FFFD and the tab an escape: strict JSON, same event. */
    CHECK_STR(str(get(d1, "eventID")), "e\xEF\xBF\xBD\t2");
    CHECK(strstr(line, "\\u0009") != NULL);
    CHECK(strchr(line, '\t') == NULL);
    CHECK_STR(json_object_to_json_string(get(get(o, "unmapped"), "details")), "{ }");
    json_object_put(o);

    st.nsamples = 0;
    o = validate(format(r, TH_SIGNAL_CLOSED, &st));
    CHECK_INT(json_object_array_length(get(o, "evidences")), 0);
    json_object_put(o);
}

static void test_table(void)
{
    CHECK(th__output_ops(TH_FORMAT_OCSF) == &th__output_ocsf);
    CHECK_STR(th__output_ocsf.name, "ocsf");
    CHECK(th__output_ops(TH_FORMAT_JSON) != &th__output_ocsf);
}

static int collect(void *ctx, const char *line, size_t len)
{
    struct th_strbuf *out = ctx;
    th__sb_add(out, line, len);
    th__sb_addc(out, '\n');
    return 0;
}

/* Through a real engine: --format ocsf with --signal-updates gives Create then Update. */
static void test_engine(void)
{
    struct th_ruleset *rs = load("id: t-eng\nname: Engine\n"
                                 "tags: [tactic:TA0007-discovery, technique:T1580-cloud-"
                                 "infrastructure-discovery]\n"
                                 "queries: [{query: '@evt.name:DescribeInstances', "
                                 "group_by: ['@userIdentity.arn']}]\n"
                                 "options: {evaluation_window: 0}\n"
                                 "cases: [{condition: a > 0, status: high}]\n"
                                 "message: '{{@userIdentity.arn}} looked around'\n");
    struct th_options o;
    th_options_init(&o);
    o.format = TH_FORMAT_OCSF;
    o.signal_updates = 1;
    struct th_strbuf out;
    th__sb_init(&out);
    struct th_engine *eng = NULL;
    struct th_err err = {{0}, {0}};
    CHECK_INT(th_engine_new(rs, &o, collect, &out, &eng, &err), 0);
    const char events[] =
        "{\"eventTime\":\"2024-03-04T10:00:00Z\",\"eventName\":\"DescribeInstances\","
        "\"eventID\":\"x1\",\"userIdentity\":{\"arn\":\"arn:aws:iam::1:user/bob\"}}\n"
        "{\"eventTime\":\"2024-03-04T10:00:05Z\",\"eventName\":\"DescribeInstances\","
        "\"eventID\":\"x2\",\"userIdentity\":{\"arn\":\"arn:aws:iam::1:user/bob\"}}\n";
    CHECK_INT(th_engine_read_buffer(eng, "mem", events, sizeof events - 1), 0);
    th_engine_finish(eng);
    th_engine_free(eng);
    char *nl = out.p ? strchr(out.p, '\n') : NULL;
    CHECK(nl != NULL);
    if (nl) {
        *nl = '\0';
        json_object *a = validate(out.p);
        char *nl2 = strchr(nl + 1, '\n');
        CHECK(nl2 != NULL);
        if (nl2) {
            CHECK_STR(nl2 + 1, ""); /* exactly two lines */
            *nl2 = '\0';
        }
        json_object *b = validate(nl + 1);
        CHECK_INT(json_object_get_int(get(a, "activity_id")), 1);
        CHECK_INT(json_object_get_int(get(b, "activity_id")), 2);
        CHECK_STR(str(get(get(a, "finding_info"), "uid")), str(get(get(b, "finding_info"), "uid")));
        CHECK_STR(str(get(a, "message")), "arn:aws:iam::1:user/bob looked around");
        CHECK_INT(json_object_get_int(get(a, "severity_id")), 4);
        json_object *attack0 =
            json_object_array_get_idx(get(get(a, "finding_info"), "attacks"), 0);
        CHECK_STR(str(get(get(attack0, "technique"), "uid")), "T1580");
        json_object *ev0 = json_object_array_get_idx(get(a, "evidences"), 0);
        CHECK_STR(str(get(get(ev0, "data"), "eventID")), "x1");
        CHECK_INT(json_object_get_int64(get(b, "time")), INT64_C(1709546405000));
        json_object_put(a);
        json_object_put(b);
    }
    th__sb_fini(&out);
    th_ruleset_free(rs);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/th-ocsf-XXXXXX");
    if (!mkdtemp(dir))
        return 2;
    th__sb_init(&sb);
    struct th_ruleset *rs = load(rule_yaml);
    const struct th_rule *r = rs->rules[0];
    test_whole_line(r);
    test_activities(r);
    test_severities(r);
    test_attacks_other_shapes();
    test_evidences(r);
    test_table();
    test_engine();
    th_ruleset_free(rs);
    th__sb_fini(&sb);
    rmdir(dir);
    return CHECK_DONE();
}
