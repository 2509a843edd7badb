/*
 * common.c - error codes and texts, error filling, array growth and string copies.
 */
#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *th_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
#define TH_ERRNO_CASE(name, c, text)                                                           \
    case c:                                                                                    \
        return text;
        TH_ERRNO_MAP(TH_ERRNO_CASE)
#undef TH_ERRNO_CASE
    }
    return "unknown error";
}

const char *th_err_format(const struct th_err *err, char *buf, size_t size)
{
    if (err->where[0])
        snprintf(buf, size, "%s: %s", err->where, err->msg);
    else
        snprintf(buf, size, "%s", err->msg);
    return buf;
}

static void vfill(struct th_err *err, const char *fmt, va_list ap)
{
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    /* A message is one line: fold any newline a library handed us. */
    for (char *c = err->msg; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
}

int th__err(struct th_err *err, int code, const char *where, const char *fmt, ...)
{
    if (!err)
        return code;
    snprintf(err->where, sizeof err->where, "%s", where ? where : "");
    va_list ap;
    va_start(ap, fmt);
    vfill(err, fmt, ap);
    va_end(ap);
    return code;
}

int th__err_at(struct th_err *err, int code, const char *file, unsigned line, unsigned col,
               const char *fmt, ...)
{
    if (!err)
        return code;
    if (col)
        snprintf(err->where, sizeof err->where, "%s:%u:%u", file ? file : "", line, col);
    else if (line)
        snprintf(err->where, sizeof err->where, "%s:%u", file ? file : "", line);
    else
        snprintf(err->where, sizeof err->where, "%s", file ? file : "");
    va_list ap;
    va_start(ap, fmt);
    vfill(err, fmt, ap);
    va_end(ap);
    return code;
}

int th__grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 4;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / elem)
            return TH_ENOMEM;
        ncap *= 2;
    }
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return TH_ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

char *th__strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *th__strdup(const char *s)
{
    return th__strndup(s, strlen(s));
}

int th__read_file(const char *path, size_t max, char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return TH_EIO;
    size_t cap = 0, n = 0;
    char *p = NULL;
    int rc = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            void *np = p;
            if (th__grow(&np, &cap, n + 4096 + 1, 1) < 0) {
                rc = TH_ENOMEM;
                break;
            }
            p = np;
        }
        size_t got = fread(p + n, 1, cap - n - 1, f);
        n += got;
        if (n > max) {
            rc = TH_ELIMIT;
            break;
        }
        if (got == 0) {
            if (ferror(f))
                rc = TH_EIO;
            break;
        }
    }
    int saved = errno;
    fclose(f);
    errno = saved;
    if (rc < 0) {
        free(p);
        return rc;
    }
    p[n] = '\0';
    *buf = p;
    *len = n;
    return 0;
}
