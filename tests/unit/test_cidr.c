/*
 * test_cidr.c - IP address and prefix parsing and matching (engine/cidr.c): IPv4, IPv6,
 * IPv4-mapped IPv6, host bits, malformed input, and prefix boundaries.
 */
#include "cidr.h"

#include <string.h>

#include "check.h"

static int in(const char *prefix, const char *ip)
{
    struct th_cidr c;
    if (!th__cidr_parse(prefix, strlen(prefix), &c, NULL))
        return -1;
    return th__cidr_match_any(&c, 1, ip, strlen(ip));
}

static int parses(const char *prefix)
{
    struct th_cidr c;
    return th__cidr_parse(prefix, strlen(prefix), &c, NULL);
}

static const char *fmt(const char *prefix, char *buf, size_t size)
{
    struct th_cidr c;
    if (!th__cidr_parse(prefix, strlen(prefix), &c, NULL))
        return "(bad)";
    return th__cidr_format(&c, buf, size);
}

static void test_ip_parse(void)
{
    uint8_t a[16];
    int fam = 0;
    CHECK(th__ip_parse("192.0.2.1", 9, a, &fam));
    CHECK_INT(fam, 4);
    CHECK(a[0] == 192 && a[1] == 0 && a[2] == 2 && a[3] == 1);
    CHECK(th__ip_parse("2001:db8::1", 11, a, &fam));
    CHECK_INT(fam, 6);
    CHECK(a[0] == 0x20 && a[1] == 0x01 && a[15] == 1);
    CHECK(th__ip_parse("::ffff:10.1.2.3", 15, a, &fam));
    CHECK_INT(fam, 4);
    CHECK(a[0] == 10 && a[3] == 3);
    /* Not addresses. */
    CHECK(!th__ip_parse("AWS Internal", 12, a, &fam));
    CHECK(!th__ip_parse("s3.amazonaws.com", 16, a, &fam));
    CHECK(!th__ip_parse("", 0, a, &fam));
    CHECK(!th__ip_parse("1.2.3", 5, a, &fam));
    CHECK(!th__ip_parse("1.2.3.256", 9, a, &fam));
    CHECK(!th__ip_parse("01.2.3.4", 8, a, &fam));
    CHECK(!th__ip_parse("1.2.3.4 ", 8, a, &fam));
    CHECK(!th__ip_parse("fe80::1%eth0", 12, a, &fam));
    CHECK(!th__ip_parse("[::1]", 5, a, &fam));
    CHECK(!th__ip_parse("1.2.3.4\0", 8, a, &fam));
    /* Only len bytes count: a longer buffer is fine. */
    CHECK(th__ip_parse("10.0.0.1XYZ", 8, a, &fam));
    char longs[80];
    memset(longs, '1', sizeof longs);
    CHECK(!th__ip_parse(longs, sizeof longs, a, &fam));
}

static void test_prefixes(void)
{
    CHECK_INT(in("10.0.0.0/8", "10.255.1.2"), 1);
    CHECK_INT(in("10.0.0.0/8", "11.0.0.1"), 0);
    CHECK_INT(in("10.0.0.0/8", "9.255.255.255"), 0);
    CHECK_INT(in("172.16.0.0/12", "172.31.255.255"), 1);
    CHECK_INT(in("172.16.0.0/12", "172.32.0.0"), 0);
    CHECK_INT(in("192.0.2.0/25", "192.0.2.127"), 1);
    CHECK_INT(in("192.0.2.0/25", "192.0.2.128"), 0);
    CHECK_INT(in("0.0.0.0/0", "203.0.113.9"), 1);
    CHECK_INT(in("0.0.0.0/0", "2001:db8::1"), 0);   /* families never mix */
    CHECK_INT(in("203.0.113.9", "203.0.113.9"), 1); /* bare address: /32 */
    CHECK_INT(in("203.0.113.9", "203.0.113.8"), 0);
    CHECK_INT(in("2001:db8::/32", "2001:db8:ffff::1"), 1);
    CHECK_INT(in("2001:db8::/32", "2001:db9::1"), 0);
    CHECK_INT(in("2001:db8::/32", "10.0.0.1"), 0);
    CHECK_INT(in("2001:db8:abcd:12::/63", "2001:db8:abcd:13::1"), 1);
    CHECK_INT(in("2001:db8:abcd:12::/63", "2001:db8:abcd:14::1"), 0);
    CHECK_INT(in("::/0", "::1"), 1);
    CHECK_INT(in("::1", "::1"), 1);
    CHECK_INT(in("::1/128", "::2"), 0);
    /* IPv4-mapped addresses meet IPv4 prefixes. */
    CHECK_INT(in("10.0.0.0/8", "::ffff:10.9.9.9"), 1);
    CHECK_INT(in("::ffff:10.0.0.0/104", "10.1.1.1"), 1);
    CHECK_INT(in("::ffff:10.0.0.0/104", "11.1.1.1"), 0);
    /* Not an address: never matches. */
    CHECK_INT(in("0.0.0.0/0", "AWS Internal"), 0);
    CHECK_INT(in("0.0.0.0/0", "lambda.amazonaws.com"), 0);

    /* Several prefixes: any. */
    struct th_cidr c[2];
    CHECK(th__cidr_parse("10.0.0.0/8", 10, &c[0], NULL));
    CHECK(th__cidr_parse("2001:db8::/32", 13, &c[1], NULL));
    CHECK(th__cidr_match_any(c, 2, "10.1.1.1", 8));
    CHECK(th__cidr_match_any(c, 2, "2001:db8::5", 11));
    CHECK(!th__cidr_match_any(c, 2, "192.168.1.1", 11));
}

static void test_parse_errors(void)
{
    CHECK_INT(parses("10.0.0.0/8"), 1);
    CHECK_INT(parses("10.0.0.0/33"), 0);
    CHECK_INT(parses("10.0.0.0/"), 0);
    CHECK_INT(parses("10.0.0.0/-1"), 0);
    CHECK_INT(parses("10.0.0.0/8/8"), 0);
    CHECK_INT(parses("10.0.0.0/1234"), 0);
    CHECK_INT(parses("10.0.0/8"), 0);
    CHECK_INT(parses("/8"), 0);
    CHECK_INT(parses("2001:db8::/128"), 1);
    CHECK_INT(parses("2001:db8::/129"), 0);
    CHECK_INT(parses("2001:db8:::/32"), 0);
    CHECK_INT(parses("nonsense"), 0);
    CHECK_INT(parses(""), 0);

    /* Host bits are cleared and reported. */
    struct th_cidr c;
    bool hb = false;
    char buf[64];
    CHECK(th__cidr_parse("10.1.2.3/8", 10, &c, &hb));
    CHECK(hb);
    CHECK_STR(th__cidr_format(&c, buf, sizeof buf), "10.0.0.0/8");
    CHECK(th__cidr_parse("10.0.0.0/8", 10, &c, &hb));
    CHECK(!hb);
    CHECK(th__cidr_parse("192.0.2.200/26", 14, &c, &hb));
    CHECK(hb);
    CHECK_STR(th__cidr_format(&c, buf, sizeof buf), "192.0.2.192/26");
    CHECK_STR(fmt("2001:db8:1:2::ff/32", buf, sizeof buf), "2001:db8::/32");
    CHECK_STR(fmt("::ffff:10.1.0.0/112", buf, sizeof buf), "10.1.0.0/16");
    CHECK_STR(fmt("192.0.2.7", buf, sizeof buf), "192.0.2.7/32");
}

int main(void)
{
    test_ip_parse();
    test_prefixes();
    test_parse_errors();
    return CHECK_DONE();
}
