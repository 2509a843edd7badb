/*
 * test_timeutil.c - RFC 3339 parsing and formatting, and rule durations (timeutil.c).
 */
#include "timeutil.h"

#include <string.h>

#include "check.h"

static int64_t parse(const char *s)
{
    int64_t ms = -1;
    return th__time_parse(s, strlen(s), &ms) ? ms : -1;
}

static int64_t dur(const char *s)
{
    int64_t ms = -1;
    return th__duration_parse(s, strlen(s), &ms) ? ms : -1;
}

int main(void)
{
    CHECK_INT(parse("1970-01-01T00:00:00Z"), 0);
    CHECK_INT(parse("2024-03-04T12:34:56Z"), INT64_C(1709555696000));
    CHECK_INT(parse("2024-03-04T12:34:56.789Z"), INT64_C(1709555696789));
    CHECK_INT(parse("2024-03-04T12:34:56.7Z"), INT64_C(1709555696700));
    CHECK_INT(parse("2024-03-04T13:34:56+01:00"), INT64_C(1709555696000));
    CHECK_INT(parse("2024-03-04T11:34:56-01:00"), INT64_C(1709555696000));
    CHECK_INT(parse("2024-02-29T00:00:00Z"), INT64_C(1709164800000));
    CHECK_INT(parse("2023-02-29T00:00:00Z"), -1);
    CHECK_INT(parse("2024-13-01T00:00:00Z"), -1);
    CHECK_INT(parse("2024-03-04 12:34:56Z"), INT64_C(1709555696000));
    CHECK_INT(parse("2024-03-04T12:34:56"), INT64_C(1709555696000));
    CHECK_INT(parse("2025-01-21 17:49:47.000000000"), INT64_C(1737481787000));
    CHECK_INT(parse("2024-03-04_12:34:56Z"), -1);
    CHECK_INT(parse("2024-03-04T12:34"), -1);
    CHECK_INT(parse("2024-03-04T12:34:56Zjunk"), -1);
    CHECK_INT(parse("2024-03-04T12:34:56.Z"), -1);
    CHECK_INT(parse("yesterday"), -1);
    CHECK_INT(parse(""), -1);

    char buf[40];
    th__time_format(INT64_C(1709555696000), buf, sizeof buf);
    CHECK_STR(buf, "2024-03-04T12:34:56Z");
    th__time_format(INT64_C(1709555696789), buf, sizeof buf);
    CHECK_STR(buf, "2024-03-04T12:34:56.789Z");
    th__time_format(0, buf, sizeof buf);
    CHECK_STR(buf, "1970-01-01T00:00:00Z");
    th__time_format(INT64_C(951782400000), buf, sizeof buf);
    CHECK_STR(buf, "2000-02-29T00:00:00Z");

    CHECK_INT(dur("0"), 0);
    CHECK_INT(dur("30s"), 30000);
    CHECK_INT(dur("5m"), 300000);
    CHECK_INT(dur("1h"), 3600000);
    CHECK_INT(dur("1d"), 86400000);
    CHECK_INT(dur("2w"), 14 * 86400000LL);
    CHECK_INT(dur("5"), -1);
    CHECK_INT(dur("5x"), -1);
    CHECK_INT(dur("m"), -1);
    CHECK_INT(dur("5mm"), -1);
    CHECK_INT(dur(""), -1);
    CHECK_INT(dur("-5m"), -1);
    CHECK_INT(dur("1000000000000w"), -1); /* would overflow 64 bits of milliseconds */
    CHECK_INT(dur("1000000d"), 1000000 * 86400000LL);
    return CHECK_DONE();
}
