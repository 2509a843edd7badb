/*
 * test_prefilter.c - the literal prefilter (engine/prefilter.c): what each kind of query
 * requires (AND, OR, NOT, globs of every shape with their anchors, bytes JSON may escape,
 * numeric literals, keys, derived and unknown attributes, free text, regexes, ranges,
 * CIDR), and the one promise that matters: over a corpus of queries and events (escapes,
 * \u escapes, numbers whose rendering differs from their bytes, booleans, arrays, repeated
 * and escaped keys), whenever a query matches an event, the prefilter lets the event
 * through, in each of its modes (few literals: memmem, in members or in the whole text;
 * many: the bigram filter, before and after it learns from the traffic). It must also
 * rule out enough events to be worth having.
 */
#include "prefilter.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "event.h"
#include "jscan.h"
#include "query.h"

static struct th_query *compile(const char *text)
{
    struct th_query *q = NULL;
    unsigned col = 0;
    struct th_err err = {{0}, {0}};
    if (th__query_compile(text, strlen(text), NULL, NULL, &q, &col, &err) != 0) {
        fprintf(stderr, "compile failed: %s: col %u: %s\n", text, col, err.msg);
        return NULL;
    }
    return q;
}

/* The requirement of one query alone, as th__prefilter_describe writes it. */
static void require(const char *query, const char *want)
{
    struct th_query *q = compile(query);
    CHECK(q != NULL);
    if (!q)
        return;
    const struct th_query *qs[1] = {q};
    size_t unit = 0;
    struct th_prefilter *pf = NULL;
    CHECK(th__prefilter_new(qs, &unit, 1, 1, &pf) == 0);
    char buf[2048];
    th__prefilter_describe(pf, 0, buf, sizeof buf);
    CHECK_STR(buf, want);
    if (strcmp(buf, want) != 0)
        fprintf(stderr, "  for %s\n", query);
    CHECK_INT(th__prefilter_can_skip(pf), strcmp(want, "always") != 0);
    th__prefilter_free(pf);
    th__query_free(q);
}

static void test_derivation(void)
{
    /* Globs: exact, prefix, suffix, substring, general; anchors only where the pattern
     * touches the value's ends; short or numeric values bring the key along. */
    require("@eventName:DeleteTrail", "(<\"DeleteTrail\">@eventName)");
    require("@evt.name:Get*", "(<\"Get>@eventName) & (exists@eventName)");
    require("@evt.name:*Object", "(<Object\">@eventName)");
    require("@http.useragent:*TruffleHog*", "(<TruffleHog>@userAgent)");
    require("@a.b:x?zzy*", "(<zzy>@a) & (<\"b\">@a)");
    require("@a:\"Get*\"", "(<\"Get*\">@a)");
    require("@a:onsole.*.amazonaws.com", "(<\"onsole.>@a)");
    /* Bytes JSON may escape cut the literal; numeric ones carry no quotes. */
    require("@a.b:\"0.0.0.0/0\"", "(<0.0.0.0>#@a) & (<\"b\">@a)");
    require("@p:arn\\:aws\\:iam\\:\\:aws\\:policy/AWSCompromisedKeyQuarantine*",
            "(<AWSCompromisedKeyQuarantine>@p)");
    require("@a:\"x\\\"y\"", "(exists@a) & (<\"x>@a)");
    require("@readOnly:false", "(<false>#@readOnly) & (exists@readOnly)");
    require("@a.b.c:true", "(<\"c\">@a) & (<true>#@a)");
    /* No literal: existence, ranges, regexes, CIDR bring their key. */
    require("@errorCode:*", "(exists@errorCode)");
    require("@requestParameters.minimumPasswordLength:<14",
            "(<\"minimumPasswordLength\">@requestParameters)");
    require("@requestParameters.policyDocument:/Allow/",
            "(<\"policyDocument\">@requestParameters)");
    require("CIDR(@network.client.ip, 10.0.0.0/8)", "(exists@sourceIPAddress)");
    /* AND keeps every clause (most selective first); OR one clause per side. */
    require("@eventSource:iam.amazonaws.com @evt.name:CreateUser",
            "(<\"CreateUser\">@eventName) & (<\"iam.amazonaws.com\">@eventSource)");
    /* ...where a top-level member's whole value (one hash lookup per event) goes before a
     * longer literal that has to be searched for inside an object. */
    require("@requestParameters.policyName:AWSCompromisedKeyQuarantine @evt.name:PutUserPolicy",
            "(<\"PutUserPolicy\">@eventName) & "
            "(<\"AWSCompromisedKeyQuarantine\">@requestParameters)");
    require("@evt.name:(CreateUser OR DeleteUser)",
            "(<\"CreateUser\">@eventName <\"DeleteUser\">@eventName)");
    require("(@a:xxxxx @b:yyyyyy) OR @c:zzzzzzz", "(<\"yyyyyy\">@b <\"zzzzzzz\">@c)");
    /* Nothing to require: NOT, free text, derived attributes, an OR with such a side. */
    require("-@evt.name:Get*", "always");
    require("AccessDenied", "always");
    require("@usr.name:alice", "always");
    require("status:error", "always");
    require("@evt.name:Get* OR -@a:b", "always");
    require("source:cloudtrail @evt.name:ConsoleLogin", "(<\"ConsoleLogin\">@eventName)");
    /* An unknown tag matches nothing: a query or a side that needs it never matches. */
    require("host:x", "never");
    require("host:x @evt.name:A", "never");
    require("host:x OR @evt.name:Abcdef", "(<\"Abcdef\">@eventName)");
}

/* ------------------------------------------------------------------------------------- */

static const char *const queries[] = {
    "@eventName:GetObject",
    "@evt.name:Get*",
    "@evt.name:*Object",
    "@evt.name:*tObj*",
    "@evt.name:G?tObject",
    "@evt.name:\"Get\\*\"",
    "@userIdentity.type:Root",
    "@a:\"x/y\"",
    "@a:x*",
    "@readOnly:false",
    "@readOnly:true",
    "@n:5",
    "@n:1000",
    "@n:0.1",
    "@n:>3",
    "@policy:/Allow/",
    "CIDR(@sourceIPAddress, 10.0.0.0/8)",
    "@errorCode:*",
    "-@errorCode:*",
    "AccessDenied",
    "host:x",
    "@a:(xyz OR yy*)",
    "(@a:xyz OR @b:yy) @c:zz",
    "@usr.name:alice",
    "status:error",
    "@arr.b:3",
    "@arr.b:*",
    "@d.e:ab",
    "@eventSource:s3.amazonaws.com @evt.name:(GetObject OR PutObject) -@userIdentity.type:AWSService",
    "@q:\"\\u00e9\"",
    "@q:é*",
    "@k:\"a\\\\b\"",
};

static const char *const texts[] = {
    "{\"eventTime\":\"t\",\"eventName\":\"GetObject\",\"eventSource\":\"s3.amazonaws.com\","
    "\"userIdentity\":{\"type\":\"AssumedRole\"},\"readOnly\":true,\"n\":5}",
    "{\"eventName\":\"PutObject\",\"eventSource\":\"s3.amazonaws.com\",\"userIdentity\":{"
    "\"type\":\"Root\"},\"readOnly\":false,\"n\":1e3,\"errorCode\":\"AccessDenied\"}",
    "{\"eventName\":\"G\\u0065tObject\",\"a\":\"x\\/y\",\"n\":0.10}",
    "{\"eventName\":\"Get\\/x\",\"a\":\"x\\/y\",\"n\":[1,2,5],\"arr\":[{\"b\":3},{\"b\":[4]}]}",
    "{\"eventName\":\"GtObject\",\"a\":\"xyz\",\"c\":\"zz\",\"n\":-0,\"policy\":\"{\\\"Effect\\\":"
    "\\\"Allow\\\"}\"}",
    "{\"eventName\":\"Get*\",\"b\":\"yy\",\"c\":\"zz\",\"sourceIPAddress\":\"10.1.1.1\","
    "\"errorCode\":null}",
    "{\"eventName\":\"GetObject\",\"eventName\":\"PutObject\",\"userIdentity\":{\"userName\":"
    "\"alice\"},\"d\":{\"e\":\"ab\"},\"d\":{\"f\":1}}",
    "{\"ev\\u0065ntName\":\"GetObject\",\"readOnly\":\"false\"}",
    "{\"event\\\"Name\":\"GetObject\",\"eventName\":\"HeadObject\",\"readOnly\":\"true\"}",
    "{\"n\":1000.0,\"arr\":[null,{\"b\":null}],\"a\":\"yyy\",\"q\":\"\xc3\xa9t\xc3\xa9\"}",
    "{\"n\":\"5\",\"a\":[\"x\",\"q\"],\"k\":\"a\\\\b\",\"errorCode\":\"x\"}",
    "{\"n\":5.0,\"q\":\"\\u00e9\",\"arr\":{\"b\":\"3\"},\"eventName\":[\"Get\",\"Object\"]}",
    "{\"eventName\":\"Describe\",\"n\":{\"x\":1000},\"d\":[{\"e\":\"ab\"}]}",
};

/* The corpus over one prefilter: every (query, event) that matches must be let through.
 * Returns how many (query, event) pairs it ruled out. */
static size_t corpus(struct th_prefilter *pf, struct th_query **qs, size_t nq,
                     const size_t *unit_of, bool members)
{
    struct th_pf_scratch sc;
    memset(&sc, 0, sizeof sc);
    uint64_t mask[4];
    size_t ruled_out = 0, missed = 0;
    struct th_match_ctx mctx;
    CHECK(th__match_ctx_init(&mctx, 100000, 1000) == 0);
    for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) {
        const char *text = texts[t];
        json_object *root = json_tokener_parse(text);
        CHECK(root != NULL);
        struct th_jmember mem[16];
        struct th_jscan js = {.mem = members ? mem : NULL, .mem_cap = members ? 16 : 0};
        CHECK(th__jscan_object(text, strlen(text), 64, &js, NULL));
        th__prefilter_check(pf, &sc, text, js.end, &js, mask);
        struct th_event ev;
        memset(&ev, 0, sizeof ev);
        th__event_reset(&ev, root, 0, "t", 1, text, strlen(text));
        for (size_t i = 0; i < nq; i++) {
            bool may = (mask[unit_of[i] / 64] >> (unit_of[i] % 64)) & 1;
            bool match = th__query_match(qs[i], &ev, &mctx);
            if (match && !may) {
                missed++;
                fprintf(stderr, "  missed: %s on %s\n", th__query_text(qs[i]), text);
            }
            ruled_out += !may;
        }
        json_object_put(root);
    }
    CHECK_INT(missed, 0);
    th__match_ctx_fini(&mctx);
    th__pf_scratch_fini(&sc);
    return ruled_out;
}

static void test_exact(void)
{
    const size_t nq = sizeof queries / sizeof *queries;
    struct th_query *qs[sizeof queries / sizeof *queries];
    size_t unit_of[sizeof queries / sizeof *queries];
    for (size_t i = 0; i < nq; i++) {
        qs[i] = compile(queries[i]);
        CHECK(qs[i] != NULL);
        unit_of[i] = i;
        if (!qs[i])
            return;
    }
    /* One query per prefilter: few literals, memmem (in members, then in the text). */
    size_t out_members = 0, out_text = 0;
    for (size_t i = 0; i < nq; i++) {
        struct th_prefilter *pf = NULL;
        const struct th_query *one[1] = {qs[i]};
        size_t u0 = 0;
        CHECK(th__prefilter_new(one, &u0, 1, 1, &pf) == 0);
        out_members += corpus(pf, &qs[i], 1, &u0, true);
        out_text += corpus(pf, &qs[i], 1, &u0, false);
        th__prefilter_free(pf);
    }
    CHECK(out_members > 100);
    CHECK(out_text > 100);
    CHECK(out_members >= out_text); /* looking inside members never rules out less */

    /* All of them in one prefilter: the bigram filter, before and after learning. */
    struct th_prefilter *pf = NULL;
    CHECK(th__prefilter_new((const struct th_query *const *)qs, unit_of, nq, nq, &pf) == 0);
    CHECK(th__prefilter_literals(pf) > 8);
    size_t before = corpus(pf, qs, nq, unit_of, true);
    CHECK(before > 100);
    CHECK(th__prefilter_learning(pf));
    for (int i = 0; th__prefilter_learning(pf) && i < 1000; i++)
        th__prefilter_learn(pf, texts[i % 3], strlen(texts[i % 3]));
    CHECK(!th__prefilter_learning(pf));
    CHECK_INT(corpus(pf, qs, nq, unit_of, true), before);
    th__prefilter_free(pf);
    for (size_t i = 0; i < nq; i++)
        th__query_free(qs[i]);
}

static void test_units(void)
{
    /* A unit may match when any of its queries may; a unit without queries never does;
     * a \u escape anywhere lets everything through. */
    struct th_query *a = compile("@eventName:AAAAA"), *b = compile("@eventName:BBBBB"),
                    *c = compile("-@x:y");
    const struct th_query *qs[3] = {a, b, c};
    size_t unit_of[3] = {0, 0, 2};
    struct th_prefilter *pf = NULL;
    CHECK(th__prefilter_new(qs, unit_of, 3, 4, &pf) == 0);
    CHECK_INT(th__prefilter_units(pf), 4);
    CHECK_INT(th__prefilter_mask_words(pf), 1);
    CHECK(!th__prefilter_unit_always(pf, 0));
    CHECK(th__prefilter_unit_always(pf, 2));
    CHECK(!th__prefilter_can_skip(pf));
    char buf[256];
    th__prefilter_describe(pf, 0, buf, sizeof buf);
    CHECK_STR(buf, "(<\"AAAAA\">@eventName) | (<\"BBBBB\">@eventName)");
    th__prefilter_describe(pf, 1, buf, sizeof buf);
    CHECK_STR(buf, "never");
    /* Truncation: NUL-terminated, the full length returned. */
    CHECK_INT(th__prefilter_describe(pf, 0, buf, 8), 45);
    CHECK_INT(strlen(buf), 7);
    struct th_pf_scratch sc;
    memset(&sc, 0, sizeof sc);
    uint64_t mask[1];
    static const struct {
        const char *text;
        uint64_t mask;
    } cases[] = {
        {"{\"eventName\":\"BBBBB\"}", 0x5},
        {"{\"eventName\":\"CCCCC\"}", 0x4},
        {"{\"x\":\"BBBBB\"}", 0x4},
        {"{\"eventName\":\"\\u0041AAAA\"}", 0xf},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct th_jmember mem[4];
        struct th_jscan js = {.mem = mem, .mem_cap = 4};
        CHECK(th__jscan_object(cases[i].text, strlen(cases[i].text), 64, &js, NULL));
        size_t n = th__prefilter_check(pf, &sc, cases[i].text, js.end, &js, mask);
        CHECK_INT(mask[0], cases[i].mask);
        CHECK_INT(n, (size_t)__builtin_popcountll(cases[i].mask));
    }
    th__pf_scratch_fini(&sc);
    th__prefilter_free(pf);
    th__query_free(a);
    th__query_free(b);
    th__query_free(c);
}

/* The member lookups of the many-literal mode hash keys and values and compare them in
 * words: at every length from 1 to 24, for keys and for values, the exact text lets its
 * unit through and the same text with any one byte changed does not. */
static void test_lengths(void)
{
    enum { MAXLEN = 24 };
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWX"; /* none could be a number's text */
    struct th_query *qs[2 * MAXLEN];
    size_t unit_of[2 * MAXLEN];
    char q[128], text[128], buf[MAXLEN + 1];
    for (int len = 1; len <= MAXLEN; len++) { /* unit len-1: a value; MAXLEN+len-1: a key */
        snprintf(q, sizeof q, "@v:%.*s", len, abc);
        qs[len - 1] = compile(q);
        snprintf(q, sizeof q, "@k%.*s:z", len - 1, abc);
        qs[MAXLEN + len - 1] = compile(q);
        unit_of[len - 1] = (size_t)len - 1;
        unit_of[MAXLEN + len - 1] = (size_t)(MAXLEN + len - 1);
    }
    for (size_t i = 0; i < 2 * MAXLEN; i++)
        if (!qs[i]) {
            CHECK(qs[i] != NULL);
            return;
        }
    struct th_prefilter *pf = NULL;
    CHECK(th__prefilter_new((const struct th_query *const *)qs, unit_of, 2 * MAXLEN,
                            2 * MAXLEN, &pf) == 0);
    CHECK(th__prefilter_literals(pf) > 8); /* the hashed, many-literal mode */
    struct th_pf_scratch sc;
    memset(&sc, 0, sizeof sc);
    uint64_t mask[1]; /* 48 units: one word */
    for (int key = 0; key < 2; key++)
        for (int len = 1; len <= MAXLEN; len++)
            for (int change = -1; change < len; change++) { /* -1: none */
                memcpy(buf, key ? "k" : "", key ? 1 : 0);
                memcpy(buf + key, abc, (size_t)(len - key));
                buf[len] = '\0';
                if (change >= 0)
                    buf[change] = 'y';
                if (key)
                    snprintf(text, sizeof text, "{\"%s\":\"z\"}", buf);
                else
                    snprintf(text, sizeof text, "{\"v\":\"%s\"}", buf);
                struct th_jmember mem[4];
                struct th_jscan js = {.mem = mem, .mem_cap = 4};
                CHECK(th__jscan_object(text, strlen(text), 64, &js, NULL));
                th__prefilter_check(pf, &sc, text, js.end, &js, mask);
                size_t u = (size_t)(key * MAXLEN + len - 1);
                uint64_t want = change < 0 ? UINT64_C(1) << u : 0;
                CHECK_INT(mask[0], want);
                if (mask[0] != want)
                    fprintf(stderr, "  for %s\n", text);
            }
    th__pf_scratch_fini(&sc);
    th__prefilter_free(pf);
    for (size_t i = 0; i < 2 * MAXLEN; i++)
        th__query_free(qs[i]);
}

int main(void)
{
    test_derivation();
    test_exact();
    test_units();
    test_lengths();
    return CHECK_DONE();
}
