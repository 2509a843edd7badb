/*
 * test_output_json.c - the signal JSON line (output_json.c): one whole line pinned byte for
 * byte, the key order of SPEC §9 checked by iterating the parsed object (top level, rule,
 * attack entries), JSON escaping of group values (quotes, newlines, control bytes, invalid
 * UTF-8, a separator byte inside the last value), the attack array's names (tactic_name,
 * technique_name with the sub-technique's full name, a tactic without a technique), an
 * empty case name, details defaulting to {}, statuses, severities per case, samples kept
 * valid UTF-8, and the format table. Signals are built by hand over a rule loaded from a
 * YAML file in a mkdtemp directory.
 */
#include "output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "groups.h"
#include "ruleset.h"
#include "strbuf.h"

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
    "id: t-out\n"
    "name: Metadata \"credentials\" used\n"
    "version: 3\n"
    "tags: [source:cloudtrail, tactic:TA0006-credential-access,\n"
    "       technique:T1552.005-cloud-instance-metadata-api, tactic:TA0007-discovery]\n"
    "queries:\n"
    "  - query: '@evt.name:GetCallerIdentity'\n"
    "    group_by: ['@userIdentity.arn', '@sourceIPAddress']\n"
    "options: {evaluation_window: 5m, keep_alive: 1h, max_signal_duration: 1d}\n"
    "cases:\n"
    "  - condition: a > 5\n"
    "    status: critical\n"
    "  - name: some\n"
    "    condition: a > 0\n"
    "    status: low\n";

/* A signal state with everything set; strings point at static text (never freed here). */
static char *event_ids[] = {"e1", "e\"2"};
static char *samples[] = {"{\"eventID\":\"e1\",\"n\":[1,2]}", "{\"eventID\":\"e\\\"2\"}"};

static void fill_state(struct th_sigstate *st)
{
    memset(st, 0, sizeof *st);
    st->open = true;
    st->case_idx = 0;
    st->first_seen = INT64_C(1709546400000);      /* 2024-03-04T10:00:00Z */
    st->last_seen = INT64_C(1709546461250);       /* 2024-03-04T10:01:01.250Z */
    st->events_matched = 7;
    snprintf(st->id, sizeof st->id, "%s", "0123456789abcdef0123456789abcdef");
    st->event_ids = event_ids;
    st->nevent_ids = 2;
    st->samples = samples;
    st->nsamples = 2;
    st->message = "alice said \"hi\"\n";
    st->details = "{\"aggregates\":{\"a\":7}}";
}

static struct th_strbuf sb;

static const char *format(const struct th_rule *r, enum th_signal_status status,
                          const struct th_sigstate *st, const char *key, size_t key_len)
{
    struct th_signal s = {r, status, st, key, key_len};
    th__sb_reset(&sb);
    th__output_json.format(&s, &sb);
    CHECK(!sb.oom);
    return sb.p ? sb.p : "";
}

/* The keys of a JSON object, space-separated, in iteration (= document) order. */
static const char *keys_of(json_object *o)
{
    static char out[1024];
    out[0] = '\0';
    if (!o || !json_object_is_type(o, json_type_object))
        return "(not an object)";
    json_object_object_foreach(o, k, v)
    {
        (void)v;
        size_t l = strlen(out);
        snprintf(out + l, sizeof out - l, "%s%s", l ? " " : "", k);
    }
    return out;
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

/* True when p[0..n) is valid UTF-8 (no overlong forms, surrogates or values past
 * U+10FFFF) and holds no raw control byte: what a strict JSON reader accepts. */
static int valid_utf8(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c < 0x20)
            return 0;
        size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                                                         : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (!len || i + len > n)
            return 0;
        uint32_t cp = len == 1 ? c : c & (0x7f >> len);
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        i += len;
    }
    return 1;
}

static void test_whole_line(const struct th_rule *r)
{
    struct th_sigstate st;
    fill_state(&st);
    const char key[] = "arn:aws:iam::111122223333:user/alice\x1f"
                       "203.0.113.7";
    const char *line = format(r, TH_SIGNAL_NEW, &st, key, sizeof key - 1);
    CHECK_STR(line,
              "{\"type\":\"signal\",\"id\":\"0123456789abcdef0123456789abcdef\","
              "\"status\":\"new\","
              "\"rule\":{\"id\":\"t-out\",\"name\":\"Metadata \\\"credentials\\\" used\","
              "\"version\":3},"
              "\"severity\":\"critical\",\"title\":\"Metadata \\\"credentials\\\" used\","
              "\"case\":\"\",\"method\":\"threshold\","
              "\"attack\":[{\"tactic\":\"TA0006\",\"tactic_name\":\"Credential Access\","
              "\"technique\":\"T1552.005\",\"technique_name\":\"Unsecured Credentials: Cloud "
              "Instance Metadata API\"},{\"tactic\":\"TA0007\",\"tactic_name\":\"Discovery\"}],"
              "\"tags\":[\"source:cloudtrail\",\"tactic:TA0006-credential-access\","
              "\"technique:T1552.005-cloud-instance-metadata-api\",\"tactic:TA0007-discovery\"],"
              "\"group\":{\"@userIdentity.arn\":\"arn:aws:iam::111122223333:user/alice\","
              "\"@sourceIPAddress\":\"203.0.113.7\"},"
              "\"first_seen\":\"2024-03-04T10:00:00Z\",\"last_seen\":\"2024-03-04T10:01:01.250Z\","
              "\"events_matched\":7,\"event_ids\":[\"e1\",\"e\\\"2\"],"
              "\"message\":\"alice said \\\"hi\\\"\\n\","
              "\"details\":{\"aggregates\":{\"a\":7}},"
              "\"samples\":[{\"eventID\":\"e1\",\"n\":[1,2]},{\"eventID\":\"e\\\"2\"}]}");
    CHECK(strchr(line, '\n') == NULL); /* one line */

    /* The same signal gives the same bytes. */
    char *copy = strdup(line);
    CHECK_STR(format(r, TH_SIGNAL_NEW, &st, key, sizeof key - 1), copy);
    free(copy);
}

static void test_key_order(const struct th_rule *r)
{
    struct th_sigstate st;
    fill_state(&st);
    const char key[] = "arn:x\x1f"
                       "1.2.3.4";
    json_object *o = json_tokener_parse(format(r, TH_SIGNAL_UPDATE, &st, key, sizeof key - 1));
    CHECK(o != NULL);
    CHECK_STR(keys_of(o), "type id status rule severity title case method attack tags group "
                          "first_seen last_seen events_matched event_ids message details "
                          "samples");
    CHECK_STR(keys_of(get(o, "rule")), "id name version");
    json_object *attack = get(o, "attack");
    CHECK_INT(attack ? json_object_array_length(attack) : 0, 2);
    CHECK_STR(keys_of(json_object_array_get_idx(attack, 0)),
              "tactic tactic_name technique technique_name");
    CHECK_STR(keys_of(json_object_array_get_idx(attack, 1)), "tactic tactic_name");
    CHECK_STR(keys_of(get(o, "group")), "@userIdentity.arn @sourceIPAddress");
    CHECK_STR(str(get(o, "status")), "update");
    CHECK_INT(json_object_get_int(get(get(o, "rule"), "version")), 3);
    CHECK(json_object_is_type(get(o, "events_matched"), json_type_int));
    CHECK(json_object_is_type(get(o, "details"), json_type_object));
    CHECK(json_object_is_type(get(o, "samples"), json_type_array));
    json_object_put(o);
}

static void test_escaping(const struct th_rule *r)
{
    struct th_sigstate st;
    fill_state(&st);
    /* Quotes, a backslash, a newline, a tab, a control byte, invalid UTF-8 (a lone 0xff
     * and a truncated sequence) and valid UTF-8 in the first value; the second empty. */
    const char key[] = "a\"b\\c\nd\te\x01"
                       "f\xff"
                       "g\xc3"
                       "h\xc3\xa9\x1f";
    const char *line = format(r, TH_SIGNAL_NEW, &st, key, sizeof key - 1);
    CHECK_CONTAINS(line, "\"group\":{\"@userIdentity.arn\":\"a\\\"b\\\\c\\nd\\te\\u0001"
                         "f\xEF\xBF\xBDg\xEF\xBF\xBDh\xC3\xA9\",\"@sourceIPAddress\":\"\"}");
    CHECK(valid_utf8((const unsigned char *)line, strlen(line)));
    json_object *o = json_tokener_parse(line);
    CHECK(o != NULL);
    CHECK_STR(str(get(get(o, "group"), "@userIdentity.arn")),
              "a\"b\\c\nd\te\x01"
              "f\xEF\xBF\xBDg\xEF\xBF\xBDh\xC3\xA9");
    CHECK_STR(str(get(get(o, "group"), "@sourceIPAddress")), "");
    json_object_put(o);

    /* The message and event ids are escaped the same way. */
    st.message = "bad \xfe byte\r";
    char *ids[] = {"id\xff"};
    st.event_ids = ids;
    st.nevent_ids = 1;
    line = format(r, TH_SIGNAL_NEW, &st, "x\x1fy", 3);
    CHECK_CONTAINS(line, "\"message\":\"bad \xEF\xBF\xBD byte\\r\"");
    CHECK_CONTAINS(line, "\"event_ids\":[\"id\xEF\xBF\xBD\"]");
    CHECK(valid_utf8((const unsigned char *)line, strlen(line)));

    /* Samples are the events' own text, which the reader passes on even with invalid
     * UTF-8 inside strings: the line must still be valid UTF-8 (U+FFFD), and parse. */
    char *bad_samples[] = {"{\"eventName\":\"utf\xff\xfe\xc3\",\"ok\":\"\xc3\xa9\"}"};
    st.samples = bad_samples;
    st.nsamples = 1;
    line = format(r, TH_SIGNAL_NEW, &st, "x\x1fy", 3);
    CHECK(valid_utf8((const unsigned char *)line, strlen(line)));
    CHECK_CONTAINS(line, "\"samples\":[{\"eventName\":\"utf\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\","
                         "\"ok\":\"\xc3\xa9\"}]}");
    o = json_tokener_parse(line);
    CHECK(o != NULL);
    json_object_put(o);

    /* Raw control bytes inside strings (json-c accepts them) are escaped; escaped quotes
     * do not end a string; white space between tokens is left alone. */
    char *ctl_samples[] = {"{\"a\":\"x\x01y\tz\", \"b\":\"q\\\"\x02\\\\\",\t\"c\":1}"};
    st.samples = ctl_samples;
    line = format(r, TH_SIGNAL_NEW, &st, "x\x1fy", 3);
    CHECK_CONTAINS(line, "\"samples\":[{\"a\":\"x\\u0001y\\u0009z\", "
                         "\"b\":\"q\\\"\\u0002\\\\\",\t\"c\":1}]}");
    o = json_tokener_parse(line);
    CHECK(o != NULL);
    json_object *samples_arr = o ? get(o, "samples") : NULL;
    CHECK(samples_arr && json_object_is_type(samples_arr, json_type_array));
    if (samples_arr && json_object_is_type(samples_arr, json_type_array))
        CHECK_STR(str(get(json_object_array_get_idx(samples_arr, 0), "b")), "q\"\x02\\");
    json_object_put(o);
}

static void test_group_separator(void)
{
    /* With one group-by attribute, the whole key is its value: a separator byte inside
     * the value (any byte may occur in an event) must not cut it short. */
    struct th_ruleset *rs = load("id: t-one\n"
                                 "name: One\n"
                                 "tags: [source:cloudtrail]\n"
                                 "queries:\n"
                                 "  - query: '@evt.name:X'\n"
                                 "    group_by: ['@userIdentity.arn']\n"
                                 "cases:\n"
                                 "  - {condition: a > 0, status: info}\n");
    const struct th_rule *r = rs->rules[0];
    struct th_sigstate st;
    fill_state(&st);
    /* A separator byte inside a value is escaped in the key and comes back as data. */
    struct th_strbuf key;
    th__sb_init(&key);
    th__group_key_add(&key, "before\x1f\x1e" "after", 13);
    const char *line = format(r, TH_SIGNAL_NEW, &st, key.p, key.len);
    CHECK_CONTAINS(line, "\"group\":{\"@userIdentity.arn\":\"before\\u001f\\u001eafter\"}");
    th__sb_fini(&key);
    /* Without group_by, the group is {}. */
    th_ruleset_free(rs);
    rs = load("id: t-none\n"
              "name: None\n"
              "tags: [source:cloudtrail, technique:T1078-valid-accounts]\n"
              "queries:\n"
              "  - query: '@evt.name:X'\n"
              "cases:\n"
              "  - {name: only, condition: a > 0, status: medium}\n");
    r = rs->rules[0];
    st.details = NULL;
    st.message = NULL;
    st.nevent_ids = 0;
    st.nsamples = 0;
    line = format(r, TH_SIGNAL_CLOSED, &st, "", 0);
    CHECK_CONTAINS(line, "\"group\":{},");
    CHECK_CONTAINS(line, "\"status\":\"closed\"");
    CHECK_CONTAINS(line, "\"case\":\"only\"");
    CHECK_CONTAINS(line, "\"severity\":\"medium\"");
    /* Details default to {}, a missing message is "", empty lists stay lists. */
    CHECK_CONTAINS(line, "\"event_ids\":[],\"message\":\"\",\"details\":{},\"samples\":[]}");
    /* A technique without any tactic tag: tactic "" (never dropped), its name kept. */
    CHECK_CONTAINS(line, "\"attack\":[{\"tactic\":\"\",\"tactic_name\":\"\","
                         "\"technique\":\"T1078\",\"technique_name\":\"Valid Accounts\"}]");
    CHECK_CONTAINS(line, "\"version\":1}");
    json_object *o = json_tokener_parse(line);
    CHECK(o != NULL);
    json_object_put(o);
    th_ruleset_free(rs);
}

static void test_cases_and_statuses(const struct th_rule *r)
{
    struct th_sigstate st;
    fill_state(&st);
    st.case_idx = 1;
    st.details = NULL;
    const char *line = format(r, TH_SIGNAL_UPDATE, &st, "a\x1f"
                                                        "b",
                              3);
    CHECK_CONTAINS(line, "\"severity\":\"low\",");
    CHECK_CONTAINS(line, "\"case\":\"some\",");
    CHECK_CONTAINS(line, "\"status\":\"update\",");
    CHECK_CONTAINS(line, "\"details\":{},");

    CHECK_STR(th__signal_status_name(TH_SIGNAL_NEW), "new");
    CHECK_STR(th__signal_status_name(TH_SIGNAL_UPDATE), "update");
    CHECK_STR(th__signal_status_name(TH_SIGNAL_CLOSED), "closed");
    CHECK(th__output_ops(TH_FORMAT_JSON) == &th__output_json);
    CHECK_STR(th__output_json.name, "json");
    CHECK(th__output_ops(TH_FORMAT_OCSF) != &th__output_json);
    CHECK(th__output_ops((enum th_format)7) == NULL);

    /* The shared group writer on its own. */
    struct th_signal s = {r, TH_SIGNAL_NEW, &st, "u\x1f"
                                                 "ip",
                          4};
    th__sb_reset(&sb);
    th__output_group(&s, &sb);
    CHECK_STR(sb.p, "{\"@userIdentity.arn\":\"u\",\"@sourceIPAddress\":\"ip\"}");
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_output_json.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    th__sb_init(&sb);
    struct th_ruleset *rs = load(rule_yaml);
    const struct th_rule *r = th_ruleset_count(rs) ? rs->rules[0] : NULL;
    if (r) {
        test_whole_line(r);
        test_key_order(r);
        test_escaping(r);
        test_cases_and_statuses(r);
    }
    test_group_separator();
    th_ruleset_free(rs);
    th__sb_fini(&sb);
    rmdir(dir);
    return CHECK_DONE();
}
