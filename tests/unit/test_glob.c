/*
 * test_glob.c - wildcard patterns (engine/glob.c): kind selection for the fast paths,
 * anchoring, `?` as one UTF-8 code point, literal (escaped) wildcards, backtracking, and a
 * pathological pattern that must stay fast.
 */
#include "glob.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

static int glob_kind(const char *pat)
{
    struct th_glob g;
    if (th__glob_compile_text(pat, strlen(pat), &g) < 0)
        return -1;
    int k = (int)g.kind;
    th__glob_fini(&g);
    return k;
}

static int gmatch(const char *pat, const char *s)
{
    struct th_glob g;
    if (th__glob_compile_text(pat, strlen(pat), &g) < 0)
        return -1;
    int r = th__glob_match(&g, s, strlen(s));
    th__glob_fini(&g);
    return r;
}

static void test_kinds(void)
{
    CHECK_INT(glob_kind("abc"), TH_GLOB_EXACT);
    CHECK_INT(glob_kind(""), TH_GLOB_EXACT);
    CHECK_INT(glob_kind("abc*"), TH_GLOB_PREFIX);
    CHECK_INT(glob_kind("*abc"), TH_GLOB_SUFFIX);
    CHECK_INT(glob_kind("*abc*"), TH_GLOB_SUBSTR);
    CHECK_INT(glob_kind("**abc***"), TH_GLOB_SUBSTR);
    CHECK_INT(glob_kind("*"), TH_GLOB_ANY);
    CHECK_INT(glob_kind("***"), TH_GLOB_ANY);
    CHECK_INT(glob_kind("a*b"), TH_GLOB_GENERAL);
    CHECK_INT(glob_kind("a?"), TH_GLOB_GENERAL);
    CHECK_INT(glob_kind("?"), TH_GLOB_GENERAL);
    CHECK_INT(glob_kind("a\\*b"), TH_GLOB_EXACT);
    CHECK_INT(glob_kind("a\\?"), TH_GLOB_EXACT);
    CHECK_INT(glob_kind("\\*abc*"), TH_GLOB_PREFIX);
    CHECK_STR(th__glob_kind_name(TH_GLOB_SUBSTR), "substr");
    CHECK_STR(th__glob_kind_name(TH_GLOB_GENERAL), "glob");

    /* The fast-path literal is the pattern without its end stars. */
    struct th_glob g;
    CHECK_INT(th__glob_compile_text("**mid\\*dle*", 11, &g), 0);
    CHECK_INT(g.kind, TH_GLOB_SUBSTR);
    CHECK_STR(g.lit, "mid*dle");
    CHECK_INT(g.lit_len, 7);
    th__glob_fini(&g);
    CHECK(g.lit == NULL && g.pat == NULL);

    /* Runs of stars collapse in the general form. */
    CHECK_INT(th__glob_compile_text("a***b?c", 7, &g), 0);
    CHECK_INT(g.kind, TH_GLOB_GENERAL);
    CHECK_INT(g.len, 5);
    CHECK_INT(memcmp(g.pat, "a*b?c", 5), 0);
    CHECK_INT(g.op[1], TH_GLOB_OP_STAR);
    CHECK_INT(g.op[3], TH_GLOB_OP_ONE);
    CHECK_INT(g.op[4], TH_GLOB_OP_LIT);
    th__glob_fini(&g);

    /* Without a wildcard map, '*' and '?' are plain bytes. */
    CHECK_INT(th__glob_compile("a*?", NULL, 3, &g), 0);
    CHECK_INT(g.kind, TH_GLOB_EXACT);
    CHECK(th__glob_match(&g, "a*?", 3));
    CHECK(!th__glob_match(&g, "abc", 3));
    th__glob_fini(&g);
    th__glob_fini(NULL);
}

static void test_fast_paths(void)
{
    CHECK_INT(gmatch("GetObject", "GetObject"), 1);
    CHECK_INT(gmatch("GetObject", "GetObjects"), 0);
    CHECK_INT(gmatch("GetObject", "getobject"), 0); /* case sensitive */
    CHECK_INT(gmatch("GetObject", "GetObjec"), 0);
    CHECK_INT(gmatch("", ""), 1);
    CHECK_INT(gmatch("", "x"), 0);
    CHECK_INT(gmatch("Get*", "Get"), 1);
    CHECK_INT(gmatch("Get*", "GetBucketAcl"), 1);
    CHECK_INT(gmatch("Get*", "XGet"), 0);
    CHECK_INT(gmatch("Get*", "Ge"), 0);
    CHECK_INT(gmatch("*Console", "S3Console"), 1);
    CHECK_INT(gmatch("*Console", "S3Console/1"), 0);
    CHECK_INT(gmatch("*Console", "Consol"), 0);
    CHECK_INT(gmatch("*mid*", "amidb"), 1);
    CHECK_INT(gmatch("*mid*", "mid"), 1);
    CHECK_INT(gmatch("*mid*", "mi d"), 0);
    CHECK_INT(gmatch("*mid*", "mi"), 0);
    CHECK_INT(gmatch("*", ""), 1);
    CHECK_INT(gmatch("*", "anything"), 1);
    CHECK_INT(gmatch("a\\*b", "a*b"), 1);
    CHECK_INT(gmatch("a\\*b", "axb"), 0);
    CHECK_INT(gmatch("\\[S3Console*", "[S3Console/0.4"), 1);
    CHECK_INT(gmatch("\\[S3Console*", "S3Console/0.4"), 0);
}

static void test_general(void)
{
    CHECK_INT(gmatch("a*b", "ab"), 1);
    CHECK_INT(gmatch("a*b", "axxxb"), 1);
    CHECK_INT(gmatch("a*b", "axxxbx"), 0);
    CHECK_INT(gmatch("a*b*c", "abbbcbc"), 1);
    CHECK_INT(gmatch("a*b*c", "abbbcb"), 0);
    CHECK_INT(gmatch("*a*b", "xaybzb"), 1);
    CHECK_INT(gmatch("a?c", "abc"), 1);
    CHECK_INT(gmatch("a?c", "ac"), 0);
    CHECK_INT(gmatch("a?c", "abbc"), 0);
    CHECK_INT(gmatch("?", ""), 0);
    CHECK_INT(gmatch("*?", ""), 0);
    CHECK_INT(gmatch("*?", "x"), 1);
    CHECK_INT(gmatch("*a?", "bab"), 1);
    CHECK_INT(gmatch("*a?", "bba"), 0);
    CHECK_INT(gmatch("aws-internal*AWSLambdaConsole/*",
                     "aws-internal/3 aws-sdk-java/1.12 AWSLambdaConsole/2.0"),
              1);
    CHECK_INT(gmatch("aws-internal*AWSLambdaConsole/*", "aws-internal/3 aws-sdk-java/1.12"), 0);
    CHECK_INT(gmatch("onsole.*.amazonaws.com", "onsole.ec2.amazonaws.com"), 1);
    CHECK_INT(gmatch("onsole.*.amazonaws.com", "console.ec2.amazonaws.com"), 0);
    CHECK_INT(gmatch("onsole.*.amazonaws.com", "onsole.ec2.amazonaws.com.evil"), 0);
    /* A literal '?' next to wildcards. */
    CHECK_INT(gmatch("*\\?*", "what?"), 1);
    CHECK_INT(gmatch("w*\\?", "what"), 0);
}

static void test_utf8(void)
{
    /* e-acute (2 bytes), euro sign (3 bytes), grinning face (4 bytes). */
    CHECK_INT(gmatch("?", "\xc3\xa9"), 1);
    CHECK_INT(gmatch("?", "\xe2\x82\xac"), 1);
    CHECK_INT(gmatch("?", "\xf0\x9f\x98\x80"), 1);
    CHECK_INT(gmatch("??", "\xc3\xa9"), 0);
    CHECK_INT(gmatch("*??", "\xc3\xa9"), 0);
    CHECK_INT(gmatch("*??", "a\xc3\xa9"), 1);
    CHECK_INT(gmatch("caf?", "caf\xc3\xa9"), 1);
    CHECK_INT(gmatch("*?x", "\xc3\xa9x"), 1);
    CHECK_INT(gmatch("*??x", "\xc3\xa9x"), 0);
    /* An invalid byte counts as one character. */
    CHECK_INT(gmatch("?", "\xff"), 1);
    CHECK_INT(gmatch("a?b", "a\303b"), 1); /* a lone lead byte */
    CHECK_INT((int)th__utf8_len("\xc3\xa9", 2), 2);
    CHECK_INT((int)th__utf8_len("\xc3\xa9", 1), 1); /* truncated */
    CHECK_INT((int)th__utf8_len("\xe2\x82\xac", 3), 3);
    CHECK_INT((int)th__utf8_len("\xe2\x82x", 3), 1); /* bad continuation */
    CHECK_INT((int)th__utf8_len("\x80", 1), 1);
    CHECK_INT((int)th__utf8_len("\xc0\x80", 2), 1); /* overlong lead */
}

static void test_pathological(void)
{
    /* a*a*a*...b against a long run of a's: single-star backtracking keeps this
     * quadratic at worst (no exponential blow-up); 64 KiB must be instant. */
    size_t n = 65536;
    char *s = malloc(n + 1);
    memset(s, 'a', n);
    s[n] = '\0';
    struct th_glob g;
    CHECK_INT(th__glob_compile_text("a*a*a*a*a*a*a*a*b", 17, &g), 0);
    CHECK(!th__glob_match(&g, s, n));
    s[n - 1] = 'b';
    CHECK(th__glob_match(&g, s, n));
    th__glob_fini(&g);
    free(s);
}

int main(void)
{
    test_kinds();
    test_fast_paths();
    test_general();
    test_utf8();
    test_pathological();
    return CHECK_DONE();
}
