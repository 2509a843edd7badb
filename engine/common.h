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
