/*
 * test_strbuf.c - the output buffer and its JSON escaping (strbuf.c).
 */
#include "strbuf.h"

#include <string.h>

#include "check.h"

int main(void)
{
    struct th_strbuf sb;
    th__sb_init(&sb);
    th__sb_add_json_str(&sb, "a\"b\\c\n\t\x01", 8);
    CHECK_STR(sb.p, "\"a\\\"b\\\\c\\n\\t\\u0001\"");
    th__sb_reset(&sb);
    th__sb_add_json_str(&sb, "caf\xc3\xa9 \xe2\x82\xac", 9);
    CHECK_STR(sb.p, "\"caf\xc3\xa9 \xe2\x82\xac\"");
    th__sb_reset(&sb);
    th__sb_add_json_str(&sb, "bad\xff\xc3(", 6);
    CHECK_STR(sb.p, "\"bad\xEF\xBF\xBD\xEF\xBF\xBD(\"");
    th__sb_reset(&sb);
    th__sb_add_json_str(&sb, "\xed\xa0\x80", 3); /* a UTF-16 surrogate is not UTF-8 */
    CHECK_STR(sb.p, "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
    th__sb_reset(&sb);
    th__sb_add_json_str(&sb, "nul\0x", 5);
    CHECK_STR(sb.p, "\"nul\\u0000x\"");
    th__sb_reset(&sb);
    for (int i = 0; i < 1000; i++)
        th__sb_addf(&sb, "%d,", i);
    CHECK_INT(sb.len, 3890);
    CHECK(!sb.oom);
    th__sb_reset(&sb);
    th__sb_add_i64(&sb, -42);
    th__sb_addc(&sb, ' ');
    th__sb_add_time(&sb, 0, true);
    CHECK_STR(sb.p, "-42 \"1970-01-01T00:00:00Z\"");

    /* An event's text as json-c accepted it, made strict JSON (samples in signals). */
    static const struct {
        const char *in, *want;
    } texts[] = {
        /* strict already: byte for byte */
        {"{\"a\":[1,-2.5e3,0,true,null,\"x\\u00e9\\ud83d\\ude00\\n\\\"\"], \"b\" : {}}",
         "{\"a\":[1,-2.5e3,0,true,null,\"x\\u00e9\\ud83d\\ude00\\n\\\"\"], \"b\" : {}}"},
        {"{\"a\":[1,2,],}", "{\"a\":[1,2]}"},
        {"{\"a\":[1 , ]}", "{\"a\":[1  ]}"},
        {"{'a':'b\"c\\'d'}", "{\"a\":\"b\\\"c'd\"}"},
        {"{\"n\":NaN,\"m\":-Infinity,\"i\":Infinity,\"t\":TRUE,\"f\":False,\"z\":01,\"d\":1.}",
         "{\"n\":null,\"m\":null,\"i\":null,\"t\":true,\"f\":false,\"z\":1,\"d\":1}"},
        {"{\"a\":1 /* c */,\"b\":2 // x\n}", "{\"a\":1 ,\"b\":2 }"},
        {"[\"\\ud800x\\udc00\\ud83d\\ude00\\uDBFF\"]", "[\"\\ufffdx\\ufffd\\ud83d\\ude00\\ufffd\"]"},
        {"[\"a\xff" "b\x01\", \"\\q\"]", "[\"a\xEF\xBF\xBD" "b\\u0001\", \"\xEF\xBF\xBD\"]"},
        {"[\"abc", "[\"abc\""},
        {"[12345678901234567890123, -0.5E-7]", "[12345678901234567890123, -0.5E-7]"},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        th__sb_reset(&sb);
        th__sb_add_json_text(&sb, texts[i].in, strlen(texts[i].in));
        CHECK_STR(sb.p, texts[i].want);
    }
    th__sb_fini(&sb);
    return CHECK_DONE();
}
