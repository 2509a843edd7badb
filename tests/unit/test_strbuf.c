/*
 * test_strbuf.c - the output buffer and its JSON escaping (strbuf.c).
 */
#include "strbuf.h"

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
    th__sb_fini(&sb);
    return CHECK_DONE();
}
