/*
 * test_tape.c - the tape (engine/tape.c, recorded by engine/jscan.c) against json-c: for a
 * set of events (escapes, repeated keys, nested arrays, nulls, numbers of every shape) and
 * many attribute paths, walking the tape visits exactly the values, in the same order and
 * with the same text, that walking json-c's tree does (attr.c); free text sees the same
 * leaves; derived attributes and th__event_str agree; a document element's serialization
 * is json-c's; and the tape declines what it does not reproduce (\u escapes, long numbers).
 */
#include "tape.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "attr.h"
#include "check.h"
#include "event.h"
#include "jscan.h"

/* Sorts the "|"-separated items of t in place (a multiset to compare). */
static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static void sort_trace(char *s)
{
    char *items[512], copy[8192];
    size_t n = 0;
    snprintf(copy, sizeof copy, "%s", s);
    for (char *p = strtok(copy, "|"); p && n < 512; p = strtok(NULL, "|"))
        items[n++] = p;
    qsort(items, n, sizeof *items, cmp_str);
    size_t k = 0;
    s[0] = '\0';
    for (size_t i = 0; i < n; i++)
        k += (size_t)sprintf(s + k, "%s|", items[i]);
}

/* Every visited value as "type:text|" (objects as "obj|"). */
struct trace {
    char s[8192];
    size_t n;
};

static bool record(void *ctx, const struct th_value *v)
{
    struct trace *t = ctx;
    int k;
    if (v->type == TH_V_OBJECT)
        k = snprintf(t->s + t->n, sizeof t->s - t->n, "obj|");
    else
        k = snprintf(t->s + t->n, sizeof t->s - t->n, "%d:%.*s|", (int)v->type, (int)v->len,
                     v->s);
    if (k > 0 && (size_t)k < sizeof t->s - t->n)
        t->n += (size_t)k;
    return false; /* visit everything */
}

static const char *const events[] = {
    "{\"eventTime\":\"2024-01-01T00:00:00Z\",\"eventName\":\"GetObject\",\"userIdentity\":{"
    "\"type\":\"AssumedRole\",\"arn\":\"arn:aws:sts::1:assumed-role/R/S\",\"sessionContext\":{"
    "\"sessionIssuer\":{\"userName\":\"R\"}}},\"sourceIPAddress\":\"10.1.2.3\","
    "\"errorCode\":null,\"readOnly\":true,\"n\":[1,-0,2.50,1e3,-7.25e-2,123456789012345678901,"
    "-99999999999999999999,0.1]}",
    "{\"a\":\"x\\\"y\\\\z\\/w\\b\\f\\n\\r\\t\",\"k\\\"ey\":\"v\",\"a\":\"last\",\"e\":[],"
    "\"o\":{},\"arr\":[[1,[2,{\"b\":3}]],{\"b\":[4,null,{\"b\":5}]},null],\"b\":false,"
    "\"errorCode\":\"AccessDenied\",\"userIdentity\":{\"userName\":\"alice\"},"
    "\"requestParameters\":{\"ipPermissions\":{\"items\":[{\"ipRanges\":{\"items\":["
    "{\"cidrIp\":\"0.0.0.0/0\"},{\"cidrIp\":\"10.0.0.0/8\"}]}},{\"ipRanges\":{\"items\":[]}}]}}}",
    "{\"dup\":{\"x\":1},\"dup\":{\"y\":2},\"dup2\":[1],\"dup2\":null,\"userIdentity\":{\"arn\":"
    "\"arn:aws:sts::1:assumed-role/Role/sess\",\"userName\":null},\"sourceIPAddress\":"
    "\"s3.amazonaws.com\",\"v\":[\"\",\"\\\\\"]}",
    "{\"v\":\"\\u0041\",\"eventName\":\"x\"}",
};

static const char *const paths[] = {
    "eventName", "userIdentity", "userIdentity.type", "userIdentity.sessionContext.sessionIssuer"
    ".userName", "errorCode", "readOnly", "n", "a", "k\"ey", "e", "o", "arr", "arr.b", "b",
    "requestParameters.ipPermissions.items.ipRanges.items.cidrIp", "dup", "dup.x", "dup.y",
    "dup2", "missing", "userIdentity.userName", "eventName.x", "v",
};

static void test_walks(void)
{
    for (size_t e = 0; e < sizeof events / sizeof *events; e++) {
        const char *text = events[e];
        size_t len = strlen(text);
        json_object *root = json_tokener_parse(text);
        CHECK(root != NULL);
        struct th_tape tape = {0};
        struct th_jscan js = {0};
        CHECK(th__jscan_object(text, len, 64, &js, &tape));
        bool has_u = strstr(text, "\\u") != NULL;
        CHECK_INT(tape.ok, !has_u);
        if (has_u) /* declined: check the rest of it as if escapes were plain */
            goto done;
        struct th_event a, b;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        th__event_reset(&a, root, 0, "t", 1, NULL, 0);
        th__event_reset(&b, NULL, 0, "t", 1, NULL, 0);
        th__event_set_tape(&b, &tape, text, len);
        for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
            struct th_attr at;
            struct th_err err = {{0}, {0}};
            if (th__attr_compile(TH_NS_ATTR, paths[i], strlen(paths[i]), &at, NULL, &err))
                continue;
            struct trace ta = {{0}, 0}, tb = {{0}, 0};
            th__attr_any(&at, &a, record, &ta);
            th__attr_any(&at, &b, record, &tb);
            CHECK_STR(tb.s, ta.s);
            CHECK_INT(th__attr_exists(&at, &b), th__attr_exists(&at, &a));
            th__attr_fini(&at);
        }
        struct trace fa = {{0}, 0}, fb = {{0}, 0};
        th__event_any_leaf(&a, record, &fa);
        th__event_any_leaf(&b, record, &fb);
        /* Same leaves; json-c keeps a repeated key at its first place, so compare sorted. */
        sort_trace(fa.s);
        sort_trace(fb.s);
        CHECK_STR(fb.s, fa.s);
        for (int d = 0; d < TH_DERIVED__COUNT; d++) {
            if (d >= TH_DERIVED_GEO_COUNTRY_ISO)
                break; /* the geo ones need a database: test_geo */
            struct th_str x = th__event_derived(&a, (enum th_derived)d);
            struct th_str y = th__event_derived(&b, (enum th_derived)d);
            CHECK_INT(!!y.p, !!x.p);
            CHECK(x.len == y.len && (!x.len || memcmp(x.p, y.p, x.len) == 0));
        }
        static const char *const tops[] = {"eventName", "sourceIPAddress", "a", "errorCode"};
        for (size_t i = 0; i < sizeof tops / sizeof *tops; i++) {
            struct th_str x = th__event_str(&a, tops[i]), y = th__event_str(&b, tops[i]);
            CHECK_INT(!!y.p, !!x.p);
            CHECK(x.len == y.len && (!x.len || memcmp(x.p, y.p, x.len) == 0));
        }
        /* Serialization of a tape event without raw bytes: json-c's of the same text. */
        struct th_str sa = th__event_text(&a), sb = th__event_text(&b);
        CHECK(sa.p && sb.p && sa.len == sb.len && memcmp(sa.p, sb.p, sa.len) == 0);
    done:
        th__tape_fini(&tape);
        json_object_put(root);
    }
}

static void test_numbers(void)
{
    static const struct {
        const char *num;
        const char *text; /* as the engine renders it */
    } nums[] = {
        {"0", "0"},           {"-0", "0"},           {"42", "42"},
        {"2.50", "2.5"},      {"1e3", "1000"},       {"-7.25e-2", "-0.0725"},
        {"0.000001", "1e-06"}, {"123456789012345678901", "9223372036854775807"},
        {"-99999999999999999999", "-9223372036854775808"},
        {"9223372036854775807", "9223372036854775807"},
    };
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"n\":%s}", nums[i].num);
        struct th_tape tape = {0};
        struct th_jscan js = {0};
        CHECK(th__jscan_object(text, strlen(text), 64, &js, &tape) && tape.ok);
        struct th_event ev;
        memset(&ev, 0, sizeof ev);
        th__event_reset(&ev, NULL, 0, "t", 1, NULL, 0);
        th__event_set_tape(&ev, &tape, text, strlen(text));
        struct th_attr at;
        struct th_err err = {{0}, {0}};
        CHECK(th__attr_compile(TH_NS_ATTR, "n", 1, &at, NULL, &err) == 0);
        struct th_value v;
        CHECK(th__attr_first(&at, &ev, &v));
        char got[64];
        snprintf(got, sizeof got, "%.*s", (int)v.len, v.s);
        CHECK_STR(got, nums[i].text);
        th__attr_fini(&at);
        th__tape_fini(&tape);
    }
    /* A number longer than a tape holds: declined (json-c takes it). */
    char text[128] = "{\"n\":";
    for (int i = 0; i < 45; i++)
        strcat(text, "1");
    strcat(text, "}");
    struct th_tape tape = {0};
    struct th_jscan js = {0};
    CHECK(th__jscan_object(text, strlen(text), 64, &js, &tape));
    CHECK(!tape.ok);
    th__tape_fini(&tape);
}

static void test_reuse(void)
{
    /* One tape for many events: sizes grow and shrink, nothing of the last one leaks into
     * the next, and a failed scan leaves a tape the next scan rebuilds. */
    struct th_tape tape = {0};
    struct th_jscan js = {0};
    char big[32768];
    size_t k = (size_t)sprintf(big, "{\"a\":[");
    for (int i = 0; i < 2000; i++)
        k += (size_t)sprintf(big + k, "%s\"s\\n%d\"", i ? "," : "", i);
    k += (size_t)sprintf(big + k, "]}");
    CHECK(th__jscan_object(big, k, 64, &js, &tape) && tape.ok);
    CHECK_INT(tape.count, 2003); /* the object, its key, the array, 2000 strings */
    CHECK(!th__jscan_object("{\"a\":", 5, 64, &js, &tape));
    CHECK(th__jscan_object("{\"b\":\"q\"}", 9, 64, &js, &tape) && tape.ok);
    CHECK_INT(tape.count, 3);
    CHECK_INT(th__tape_member(&tape, 0, "a", 1), 0);
    uint32_t b = th__tape_member(&tape, 0, "b", 1);
    CHECK_INT(b, 2);
    struct th_str s = th__tape_text(&tape, b);
    CHECK(s.len == 1 && s.p[0] == 'q');
    th__tape_fini(&tape);
}

/* Keys of every length from 1 to 24, in the root (hashed) and in a nested object (walked):
 * a key is found, and the same key with any one byte changed is not. */
static void test_key_lengths(void)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWX";
    struct th_tape tape = {0};
    char text[128], other[32];
    for (int len = 1; len <= 24; len++) {
        int n = snprintf(text, sizeof text, "{\"%.*s\":1,\"o\":{\"%.*s\":2}}", len, abc, len,
                         abc);
        struct th_jscan js = {0};
        CHECK(th__jscan_object(text, (size_t)n, 64, &js, &tape) && tape.ok);
        uint32_t o = th__tape_member(&tape, 0, "o", 1);
        CHECK(o != 0);
        CHECK(th__tape_member(&tape, 0, abc, (size_t)len) != 0);
        CHECK(o && th__tape_member(&tape, o, abc, (size_t)len) != 0);
        for (int i = 0; i < len; i++) {
            memcpy(other, abc, (size_t)len);
            other[i] = 'y';
            CHECK_INT(th__tape_member(&tape, 0, other, (size_t)len), 0);
            if (o)
                CHECK_INT(th__tape_member(&tape, o, other, (size_t)len), 0);
        }
    }
    th__tape_fini(&tape);
}

int main(void)
{
    test_walks();
    test_numbers();
    test_reuse();
    test_key_lengths();
    return CHECK_DONE();
}
