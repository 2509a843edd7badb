/*
 * timeutil.h - event time: RFC 3339 parsing and formatting in milliseconds since the Unix
 * epoch (UTC), and rule durations ("5m", "1h", "1d"). No wall clock, no time zone database,
 * no locale: the same input always gives the same number.
 */
#ifndef TH_TIMEUTIL_H
#define TH_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TH_MS_PER_SEC INT64_C(1000)
#define TH_MS_PER_MIN (60 * TH_MS_PER_SEC)
#define TH_MS_PER_HOUR (60 * TH_MS_PER_MIN)
#define TH_MS_PER_DAY (24 * TH_MS_PER_HOUR)

/*
 * Parses an RFC 3339 timestamp as CloudTrail writes it ("2024-01-31T12:34:56Z"), with
 * optional fractional seconds and a "Z" or "+hh:mm" offset. Also accepted, as written by
 * tools that re-export CloudTrail (Panther, Athena): a space instead of "T", and no zone,
 * which is taken as UTC. Returns true and sets *ms on
 * success; false (leaving *ms alone) on anything else, including out-of-range fields.
 */
bool th__time_parse(const char *s, size_t len, int64_t *ms);

/* Writes "YYYY-MM-DDTHH:MM:SSZ" (".mmm" added when ms is not a whole second); returns
 * the length written (buf must hold 32 bytes). */
size_t th__time_format(int64_t ms, char *buf, size_t size);

/*
 * Parses a duration: a non-negative integer and a unit (s, m, h, d, w), e.g. "15m", or "0".
 * Returns true and sets *ms on success.
 */
bool th__duration_parse(const char *s, size_t len, int64_t *ms);

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm). */
int64_t th__days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
