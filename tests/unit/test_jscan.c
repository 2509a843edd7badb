/*
 * test_jscan.c - the strict scanner (engine/jscan.c): what it accepts, json-c accepts too
 * (a table of valid and invalid objects, then thousands of random mutations of a real-looking
 * event, each checked against json-c), nesting limits against json-c's at the reader's
 * settings, the flags (\u escapes, numbers whose rendering may differ, envelope keys, odd
 * eventTime values), the last eventTime of repeated keys, the top-level member table, and
 * Records documents (elements, their members, everything that makes the scanner decline).
 */
#include "jscan.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static bool scan(const char *s, int depth, struct th_jscan *js)
{
    memset(js, 0, sizeof *js);
    return th__jscan_object(s, strlen(s), depth, js, NULL);
}

/* json-c's verdict on s as the reader parses it (tokener depth limit depth + 1), and where
 * the value ended. */
static bool jsonc_accepts(const char *s, size_t n, int depth, size_t *end)
{
    json_tokener *tok = json_tokener_new_ex(depth + 1);
    json_object *o = json_tokener_parse_ex(tok, s, (int)n);
    enum json_tokener_error e = json_tokener_get_error(tok);
    *end = json_tokener_get_parse_end(tok);
    bool ok = e == json_tokener_success && json_object_is_type(o, json_type_object);
    json_object_put(o);
    json_tokener_free(tok);
    return ok;
}

static void test_table(void)
{
    static const char *const valid[] = {
        "{}",
        "{\"a\":1}",
        " {\"a\" : [ 1 , 2 ] , \"b\" : { } }" + 1,
        "{\"a\":[],\"b\":[[]],\"c\":[{}],\"d\":{\"e\":{\"f\":null}}}",
        "{\"t\":true,\"f\":false,\"n\":null}",
        "{\"n\":-0,\"m\":0.5,\"o\":1e5,\"p\":1E-2,\"q\":-12.5e+3,\"r\":12345678901234567890}",
        "{\"s\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\uD83D\\uDE00\"}",
        "{\"u\":\"caf\xc3\xa9 \xff\xfe \x7f\"}",
        "{\r\n\t\"a\":\r\n\t1\r\n}",
        "{\"\":\"\",\"a\":\"\"}",
        "{\"a\":1,\"a\":2}",
        "{\"a\":1}  trailing bytes are not looked at",
    };
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
        struct th_jscan js;
        size_t end = 0;
        bool ok = scan(valid[i], 64, &js);
        CHECK(ok);
        if (!ok) {
            fprintf(stderr, "  rejected: %s\n", valid[i]);
            continue;
        }
        CHECK(jsonc_accepts(valid[i], strlen(valid[i]), 64, &end));
        /* json-c also eats the white space after the value. */
        CHECK(end >= js.end && strspn(valid[i] + js.end, " \t\r\n") >= end - js.end);
    }
    static const char *const invalid[] = {
        "", "[]", "\"a\"", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}", "{\"a\":01}",
        "{\"a\":1.}", "{\"a\":.5}", "{\"a\":-}", "{\"a\":+1}", "{\"a\":1e}", "{\"a\":1e+}",
        "{\"a\":tru}", "{\"a\":nul}", "{\"a\":falsy}", "{\"a\":\"\x01\"}", "{\"a\":\"\\q\"}",
        "{\"a\":\"\\u12\"}", "{\"a\":\"\\u12g4\"}", "{\"a\":'x'}", "{'a':1}", "{a:1}",
        "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":[1,]}", "{\"a\":[,1]}", "{\"a\":[1 2]}",
        "{\"a\":1 \"b\":2}", "{\"a\"::1}", "{\"a\":1/*c*/}", "{\"a\":1\f}", "{\"a\":\"x",
        "{\"a\":\"x\\", "{\"a\":[", "{\"a\":{}", "{\"a\":1]", "{\"a\":[1}", "{\"a\":\"\t\"}",
        "{\"a\":\"\n\"}", "{\x00}",
    };
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        struct th_jscan js;
        bool ok = scan(invalid[i], 64, &js);
        CHECK(!ok);
        if (ok)
            fprintf(stderr, "  accepted: %s\n", invalid[i]);
    }
    /* Bytes past n are never read: a cut object is incomplete, not valid. */
    struct th_jscan js = {0};
    CHECK(!th__jscan_object("{\"a\":1}", 6, 64, &js, NULL));
    CHECK(th__jscan_object("{\"a\":1}", 7, 64, &js, NULL));
}

/* A deterministic generator (splitmix64). */
static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t next(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static const char event[] =
    "{\"eventVersion\":\"1.09\",\"userIdentity\":{\"type\":\"AssumedRole\",\"principalId\":"
    "\"AROAX:s\",\"arn\":\"arn:aws:sts::111122223333:assumed-role/r/s\",\"accountId\":"
    "\"111122223333\",\"sessionContext\":{\"attributes\":{\"creationDate\":"
    "\"2024-03-04T10:00:00Z\",\"mfaAuthenticated\":\"false\"}}},\"eventTime\":"
    "\"2024-03-04T10:05:00Z\",\"eventSource\":\"s3.amazonaws.com\",\"eventName\":"
    "\"GetObject\",\"sourceIPAddress\":\"10.0.0.1\",\"requestParameters\":{\"bucketName\":"
    "\"b\",\"key\":\"a\\/b \\\"c\\\"\",\"n\":[1,-2.5,3e2,true,false,null,{}]},"
    "\"readOnly\":true,\"resources\":[{\"ARN\":\"arn:aws:s3:::b\"}],\"bytes\":123}";

static void test_mutations(void)
{
    static const char alphabet[] = "{}[]:,\"\\ 0123456789-+.eEtrufalsn/xu\n\t\x01";
    char buf[sizeof event + 8];
    size_t agreed = 0, accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = sizeof event - 1;
        memcpy(buf, event, n);
        int edits = 1 + (int)(next() % 3);
        for (int k = 0; k < edits; k++) {
            size_t at = (size_t)(next() % n);
            char c = alphabet[next() % (sizeof alphabet - 1)];
            switch (next() % 3) {
            case 0:
                buf[at] = c;
                break;
            case 1: /* insert */
                memmove(buf + at + 1, buf + at, n - at);
                buf[at] = c;
                n++;
                break;
            default: /* delete */
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
                break;
            }
        }
        struct th_jscan js = {0};
        if (!th__jscan_object(buf, n, 64, &js, NULL))
            continue;
        accepted++;
        size_t end = 0;
        if (jsonc_accepts(buf, n, 64, &end) && end >= js.end)
            agreed++;
        else
            fprintf(stderr, "  json-c disagrees: %.*s\n", (int)n, buf);
    }
    CHECK_INT(agreed, accepted);
    CHECK(accepted > 1000); /* the test is only as good as what it accepted */
}

static void test_depth(void)
{
    /* The reader scans with max_depth - 1 what json-c parses with max_depth + 1: at every
     * depth the scanner takes, json-c agrees. */
    for (int limit = 2; limit <= 10; limit++) {
        for (int d = 1; d <= 12; d++) {
            char s[128];
            size_t k = 0;
            for (int i = 0; i < d; i++)
                k += (size_t)sprintf(s + k, "%s", i == 0 ? "{\"a\":" : "[");
            s[k++] = '1';
            for (int i = d - 1; i >= 0; i--)
                s[k++] = i == 0 ? '}' : ']';
            s[k] = '\0';
            struct th_jscan js;
            bool ok = scan(s, limit - 1, &js);
            CHECK(ok == (d <= limit - 1));
            size_t end;
            if (ok)
                CHECK(jsonc_accepts(s, k, limit, &end));
        }
    }
    /* Deeper than the scanner's own stack: declined, whatever the limit. */
    char deep[2 * 300 + 16];
    size_t k = (size_t)sprintf(deep, "{\"a\":");
    for (int i = 0; i < 300; i++)
        deep[k++] = '[';
    for (int i = 0; i < 300; i++)
        deep[k++] = ']';
    deep[k++] = '}';
    deep[k] = '\0';
    struct th_jscan js;
    CHECK(!scan(deep, 100000, &js));
}

static void test_flags(void)
{
    struct th_jscan js;
    CHECK(scan("{\"a\":\"x\"}", 64, &js));
    CHECK_INT(js.flags, 0);
    CHECK(scan("{\"a\":\"\\u0041\"}", 64, &js));
    CHECK_INT(js.flags, TH_JSCAN_ESCAPE_U);
    CHECK(scan("{\"\\u0061\":1}", 64, &js));
    CHECK_INT(js.flags & TH_JSCAN_ESCAPE_U, TH_JSCAN_ESCAPE_U);
    CHECK(scan("{\"a\":\"\\n\\/\"}", 64, &js));
    CHECK_INT(js.flags, 0);

    static const struct {
        const char *num;
        bool odd;
    } nums[] = {{"0", false},       {"-5", false},  {"123456789012345", false},
                {"1234567890123456", true}, {"-0", true}, {"0.0", true}, {"1e3", true},
                {"2E-1", true},     {"-1.5", true}, {"-123456789012345", false}};
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        char s[64];
        snprintf(s, sizeof s, "{\"a\":[%s]}", nums[i].num);
        CHECK(scan(s, 64, &js));
        CHECK_INT(!!(js.flags & TH_JSCAN_ODD_NUMBER), nums[i].odd);
    }

    static const char *const env[] = {"Records", "detail-type", "detail", "messageType",
                                      "digestSignatureAlgorithm", "digestPublicKeyFingerprint"};
    for (size_t i = 0; i < sizeof env / sizeof *env; i++) {
        char s[128];
        snprintf(s, sizeof s, "{\"x\":1,\"%s\":[]}", env[i]);
        CHECK(scan(s, 64, &js));
        CHECK_INT(js.flags, TH_JSCAN_ENVELOPE);
        snprintf(s, sizeof s, "{\"x\":{\"%s\":[]}}", env[i]); /* nested: just a key */
        CHECK(scan(s, 64, &js));
        CHECK_INT(js.flags, 0);
    }
    CHECK(scan("{\"Recordsx\":1,\"detai\":2}", 64, &js));
    CHECK_INT(js.flags, 0);
}

static void test_time(void)
{
    struct th_jscan js;
    CHECK(scan("{\"eventTime\":\"2024-01-01T00:00:00Z\"}", 64, &js));
    CHECK(js.time && js.time_len == 20 && memcmp(js.time, "2024-01-01T00:00:00Z", 20) == 0);
    CHECK_INT(js.flags, 0);
    /* The last one counts, as json-c keeps it. */
    CHECK(scan("{\"eventTime\":\"a\",\"x\":1,\"eventTime\":\"bb\"}", 64, &js));
    CHECK(js.time && js.time_len == 2 && memcmp(js.time, "bb", 2) == 0);
    CHECK(scan("{\"eventTime\":\"a\",\"eventTime\":5}", 64, &js));
    CHECK(!js.time);
    CHECK_INT(js.flags, TH_JSCAN_TIME_ODD);
    CHECK(scan("{\"eventTime\":5,\"eventTime\":\"c\"}", 64, &js));
    CHECK(js.time && js.time_len == 1 && js.time[0] == 'c');
    CHECK_INT(js.flags, 0);
    static const char *const odd[] = {"{\"eventTime\":null}", "{\"eventTime\":{}}",
                                      "{\"eventTime\":[\"x\"]}", "{\"eventTime\":\"a\\/b\"}",
                                      "{\"eventTime\":true}"};
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        CHECK(scan(odd[i], 64, &js));
        CHECK(!js.time);
        CHECK_INT(js.flags & TH_JSCAN_TIME_ODD, TH_JSCAN_TIME_ODD);
    }
    /* Not at the top: not the event's time. */
    CHECK(scan("{\"x\":{\"eventTime\":\"a\"}}", 64, &js));
    CHECK(!js.time);
    CHECK_INT(js.flags, 0);
    /* An escaped key is not "eventTime" for the scanner (the reader then parses it). */
    CHECK(scan("{\"event\\u0054ime\":\"a\"}", 64, &js));
    CHECK(!js.time);
}

static void test_members(void)
{
    const char *s = "{\"a\":\"x\", \"bb\" : {\"c\":[1,2]} ,\"a\":7,\"e\":[]}";
    struct th_jmember mem[8];
    struct th_jscan js = {.mem = mem, .mem_cap = 8};
    CHECK(th__jscan_object(s, strlen(s), 64, &js, NULL));
    CHECK_INT(js.nmem, 4);
    CHECK_INT(js.flags, 0);
    static const char *const keys[] = {"a", "bb", "a", "e"};
    static const char *const vals[] = {"\"x\"", "{\"c\":[1,2]}", "7", "[]"};
    for (unsigned i = 0; i < 4 && i < js.nmem; i++) {
        CHECK_INT(mem[i].key_len, strlen(keys[i]));
        CHECK(memcmp(s + mem[i].key, keys[i], mem[i].key_len) == 0);
        CHECK_INT(mem[i].end - mem[i].start, strlen(vals[i]));
        CHECK(memcmp(s + mem[i].start, vals[i], mem[i].end - mem[i].start) == 0);
    }
    /* Too many for the table, or a key with an escape: the table is not the whole story. */
    js = (struct th_jscan){.mem = mem, .mem_cap = 2};
    CHECK(th__jscan_object(s, strlen(s), 64, &js, NULL));
    CHECK_INT(js.nmem, 2);
    CHECK_INT(js.flags, TH_JSCAN_MEMBERS_ODD);
    const char *esc = "{\"a\":1,\"b\\\"\":2}";
    js = (struct th_jscan){.mem = mem, .mem_cap = 8};
    CHECK(th__jscan_object(esc, strlen(esc), 64, &js, NULL));
    CHECK_INT(js.flags, TH_JSCAN_MEMBERS_ODD);
    /* Without a table, no flag and nothing recorded. */
    js = (struct th_jscan){0};
    CHECK(th__jscan_object(esc, strlen(esc), 64, &js, NULL));
    CHECK_INT(js.flags, 0);
    CHECK_INT(js.nmem, 0);
}

static void test_records(void)
{
    struct th_jscan_elem *el = NULL;
    struct th_jmember *mem = NULL;
    size_t cap = 0, mcap = 0, n = 0, end = 0;
    unsigned lines = 0;
    const char *doc = "{ \"Records\" : [\n {\"eventTime\":\"t1\",\"a\":1} ,\n"
                      "{\"eventTime\":\"t2\",\"b\":[\"\\u0041\"]}\n]\n} tail";
    CHECK(th__jscan_records(doc, strlen(doc), 64, &el, &cap, &mem, &mcap, &n, &end, &lines));
    CHECK_INT(n, 2);
    CHECK_INT(lines, 4);
    CHECK(end > 0 && memcmp(doc + end, " tail", 5) == 0);
    if (n == 2) {
        CHECK(memcmp(doc + el[0].start, "{\"eventTime\":\"t1\",\"a\":1}", el[0].end - el[0].start) ==
              0);
        CHECK(el[0].info.time && memcmp(el[0].info.time, "t1", 2) == 0);
        CHECK_INT(el[0].info.nmem, 2);
        CHECK_INT(el[1].info.flags, TH_JSCAN_ESCAPE_U);
        CHECK_INT(el[1].info.nmem, 2);
        CHECK(el[1].info.mem && memcmp(doc + el[1].start + el[1].info.mem[1].key, "b", 1) == 0);
    }
    /* Many elements: the member buffer grows, every element's table stays right. */
    char big[64 * 1024];
    size_t k = (size_t)sprintf(big, "{\"Records\":[");
    for (int i = 0; i < 1000; i++)
        k += (size_t)sprintf(big + k, "%s{\"eventTime\":\"x\",\"i\":%d}", i ? "," : "", i);
    k += (size_t)sprintf(big + k, "]}");
    CHECK(th__jscan_records(big, k, 64, &el, &cap, &mem, &mcap, &n, &end, &lines));
    CHECK_INT(n, 1000);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        char want[32];
        int wl = snprintf(want, sizeof want, "%zu", i);
        const struct th_jmember *m = &el[i].info.mem[1];
        if (el[i].info.nmem != 2 || (int)(m->end - m->start) != wl ||
            memcmp(big + el[i].start + m->start, want, (size_t)wl) != 0)
            bad++;
    }
    CHECK_INT(bad, 0);
    CHECK(th__jscan_records("{\"Records\":[]}", 14, 64, &el, &cap, &mem, &mcap, &n, &end,
                            &lines));
    CHECK_INT(n, 0);
    static const char *const no[] = {
        "{\"Records\":[1]}", "{\"Records\":{}}", "{\"Records\":[{}],\"x\":1}",
        "{\"x\":1,\"Records\":[{}]}", "{\"Records\":[{},]}", "{\"Records\":[{}]",
        "{\"Records\":[{\"a\":[[[1]]]}]}", "[{\"Records\":[]}]", "{\"Records\":[{\"a\":01}]}",
    };
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        bool ok = th__jscan_records(no[i], strlen(no[i]), 5, &el, &cap, &mem, &mcap, &n, &end,
                                    &lines);
        CHECK(!ok);
        if (ok)
            fprintf(stderr, "  accepted: %s\n", no[i]);
    }
    free(el);
    free(mem);
}

int main(void)
{
    test_table();
    test_mutations();
    test_depth();
    test_flags();
    test_time();
    test_members();
    test_records();
    return CHECK_DONE();
}
