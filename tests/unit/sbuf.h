/*
 * sbuf.h - the unit tests' growing text buffer: generated inputs and traces are built with
 * sb_add and sb_addf (printf-style, any length); allocation failure exits the test (2).
 */
#ifndef TH_TEST_SBUF_H
#define TH_TEST_SBUF_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sb {
    char *p; /* NUL-terminated once anything was added */
    size_t len, cap;
};

/* Room for n more bytes and a NUL. */
static inline void sb_room(struct sb *b, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            exit(2);
    }
}

static inline void sb_add(struct sb *b, const void *p, size_t n)
{
    sb_room(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static inline void sb_addf(struct sb *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void sb_addf(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        exit(2);
    sb_room(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static inline void sb_free(struct sb *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

#endif
