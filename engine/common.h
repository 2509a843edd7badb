/*
 * common.h - small helpers shared by every engine file: error filling, string slices,
 * array growth and attribute-free utilities. Nothing here allocates unless it says so.
 */
#ifndef TH_COMMON_H
#define TH_COMMON_H

#include "trailhound.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TH_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define TH_UNUSED(x) ((void)(x))

#if defined(__GNUC__)
#define TH_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define TH_LIKELY(x) __builtin_expect(!!(x), 1)
#define TH_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define TH_PRINTF(f, a)
#define TH_LIKELY(x) (x)
#define TH_UNLIKELY(x) (x)
#endif

/* A borrowed slice of bytes; not NUL-terminated unless said so. */
struct th_str {
    const char *p;
    size_t len;
};

/* A hash of a short byte string (a key, a value): its first and last eight bytes and its
 * length, mixed by multiplication; collisions only cost a comparison. The loads are of
 * fixed sizes: a copy of a variable length into a word would be read back through a
 * store-forwarding stall, and this runs for every member of every event. */
static inline uint32_t th__hash_bytes(const char *k, size_t n)
{
    uint64_t a, b;
    if (n >= 8) {
        __builtin_memcpy(&a, k, 8);
        __builtin_memcpy(&b, k + n - 8, 8);
    } else if (n >= 4) {
        uint32_t lo, hi;
        __builtin_memcpy(&lo, k, 4);
        __builtin_memcpy(&hi, k + n - 4, 4);
        a = b = lo | (uint64_t)hi << 32;
    } else {
        const unsigned char *u = (const unsigned char *)k;
        a = b = n ? u[0] | (uint64_t)u[n / 2] << 8 | (uint64_t)u[n - 1] << 16 : 0;
    }
    uint64_t h = (a * 0x9E3779B97F4A7C15ULL) ^ (b * 0xC2B2AE3D27D4EB4FULL) ^ (n * 0x165667B1ULL);
    return (uint32_t)(h >> 32) ^ (uint32_t)h;
}

/* a[0..n) == b[0..n), for the short keys and values lookups compare: fixed-size loads
 * (overlapping for lengths between the sizes) instead of a call to memcmp. */
static inline bool th__bytes_eq(const char *a, const char *b, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t x0, x1, y0, y1;
        __builtin_memcpy(&x0, a, 8);
        __builtin_memcpy(&y0, b, 8);
        __builtin_memcpy(&x1, a + n - 8, 8);
        __builtin_memcpy(&y1, b + n - 8, 8);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    if (n >= 4 && n < 8) {
        uint32_t x0, x1, y0, y1;
        __builtin_memcpy(&x0, a, 4);
        __builtin_memcpy(&y0, b, 4);
        __builtin_memcpy(&x1, a + n - 4, 4);
        __builtin_memcpy(&y1, b + n - 4, 4);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    if (n < 4) {
        for (size_t i = 0; i < n; i++)
            if (a[i] != b[i])
                return false;
        return true;
    }
    return __builtin_memcmp(a, b, n) == 0;
}

static inline bool th__str_eq(struct th_str a, const char *p, size_t len)
{
    return a.len == len && (len == 0 || __builtin_memcmp(a.p, p, len) == 0);
}

/*
 * Fills err (which may be NULL) with a location and a printf-style message and returns
 * code, so a caller can write `return th__err(err, TH_EPARSE, where, "...", ...)`.
 * `where` may be NULL or "".
 */
int th__err(struct th_err *err, int code, const char *where, const char *fmt, ...)
    TH_PRINTF(4, 5);

/* Like th__err, with where formatted as "file:line:col" (col 0 omits the column). */
int th__err_at(struct th_err *err, int code, const char *file, unsigned line, unsigned col,
               const char *fmt, ...) TH_PRINTF(6, 7);

/*
 * Grows *arr (of *cap elements of size elem) to hold at least need elements.
 * Returns 0 or TH_ENOMEM, leaving *arr and *cap unaltered on failure.
 */
int th__grow(void **arr, size_t *cap, size_t need, size_t elem);

/*
 * Reads a whole file into *buf (owned, NUL-terminated, length in *len). Returns 0;
 * TH_EIO when it cannot be opened or read (errno says why); TH_ELIMIT when it holds more
 * than max bytes; TH_ENOMEM. *buf is NULL on failure.
 */
int th__read_file(const char *path, size_t max, char **buf, size_t *len);

/* strdup/strndup that return NULL on failure, for symmetry with th__grow. */
char *th__strndup(const char *s, size_t n);
char *th__strdup(const char *s);

#endif
