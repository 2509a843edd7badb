/*
 * timeutil.c - RFC 3339 and durations, without libc's time zone machinery (timegm is not
 * C11 and mktime reads the environment). Dates use Howard Hinnant's civil-day algorithms.
 */
#include "timeutil.h"

#include <stdio.h>

int64_t th__days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
    static const unsigned dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dim[m - 1];
}

bool th__time_parse(const char *s, size_t len, int64_t *ms)
{
    unsigned y, mo, d, h, mi, se;
    if (len < 19 || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
        return false;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60)
        return false;
    size_t i = 19;
    int64_t frac_ms = 0;
    if (i < len && s[i] == '.') {
        i++;
        size_t start = i;
        int64_t scale = 100;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            frac_ms += (s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start)
            return false;
    }
    int64_t offset_min = 0;
    if (i == len) {
        /* No zone: taken as UTC (Panther, Athena and others write CloudTrail times so). */
    } else if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        unsigned oh, om;
        if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        offset_min = (int64_t)(oh * 60 + om) * (s[i] == '+' ? 1 : -1);
        i += 6;
    } else {
        return false;
    }
    if (i != len)
        return false;
    int64_t days = th__days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + (se > 59 ? 59 : se) - offset_min * 60;
    *ms = secs * 1000 + frac_ms;
    return true;
}

size_t th__time_format(int64_t ms, char *buf, size_t size)
{
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int64_t rem = ms - secs * 1000;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t sod = secs - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int n;
    if (rem)
        n = snprintf(buf, size, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)y, m, d,
                     (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60), (unsigned)(sod % 60),
                     (unsigned)rem);
    else
        n = snprintf(buf, size, "%04lld-%02u-%02uT%02u:%02u:%02uZ", (long long)y, m, d,
                     (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60), (unsigned)(sod % 60));
    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

bool th__duration_parse(const char *s, size_t len, int64_t *ms)
{
    if (len == 0)
        return false;
    size_t i = 0;
    int64_t v = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (v > INT64_C(1) << 40)
            return false;
        v = v * 10 + (s[i] - '0');
        i++;
    }
    if (i == 0)
        return false;
    if (i == len)
        return v == 0 ? (*ms = 0, true) : false; /* only "0" may omit the unit */
    if (i + 1 != len)
        return false;
    int64_t unit;
    switch (s[i]) {
    case 's':
        unit = TH_MS_PER_SEC;
        break;
    case 'm':
        unit = TH_MS_PER_MIN;
        break;
    case 'h':
        unit = TH_MS_PER_HOUR;
        break;
    case 'd':
        unit = TH_MS_PER_DAY;
        break;
    case 'w':
        unit = 7 * TH_MS_PER_DAY;
        break;
    default:
        return false;
    }
    if (v > INT64_MAX / unit)
        return false;
    *ms = v * unit;
    return true;
}
