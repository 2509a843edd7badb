/*
 * strbuf.h - a growable byte buffer with JSON string escaping, used to build output lines,
 * signal ids and messages. A strbuf owns its memory; reset keeps the capacity, so one
 * buffer reused per line allocates only while it grows.
 */
#ifndef TH_STRBUF_H
#define TH_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct th_strbuf {
    char *p;    /* always NUL-terminated once anything was added */
    size_t len;
    size_t cap;
    bool oom;   /* an append failed: the content is truncated */
};

void th__sb_init(struct th_strbuf *sb);
void th__sb_fini(struct th_strbuf *sb);
static inline void th__sb_reset(struct th_strbuf *sb)
{
    sb->len = 0;
    sb->oom = false;
    if (sb->p)
        sb->p[0] = '\0';
}
void th__sb_add(struct th_strbuf *sb, const char *p, size_t len);
void th__sb_adds(struct th_strbuf *sb, const char *s);
void th__sb_addc(struct th_strbuf *sb, char c);
void th__sb_addf(struct th_strbuf *sb, const char *fmt, ...) TH_PRINTF(2, 3);
void th__sb_add_i64(struct th_strbuf *sb, int64_t v);
/* Appends p as a JSON string literal, quotes included; invalid UTF-8 becomes U+FFFD. */
void th__sb_add_json_str(struct th_strbuf *sb, const char *p, size_t len);
/*
 * Appends text that is already JSON (an event's own text, as json-c accepted it) as a value,
 * made strict JSON (RFC 8259) in valid UTF-8: inside strings, invalid UTF-8 becomes U+FFFD,
 * raw control bytes become \u00XX escapes and lone surrogate escapes become \ufffd;
 * json-c's lenient forms are rewritten (single-quoted strings, trailing commas and comments,
 * TRUE/False, 01, 1.; NaN and Infinity become null). Text that is strict JSON already is
 * copied byte for byte.
 */
void th__sb_add_json_text(struct th_strbuf *sb, const char *text, size_t len);
/* Appends an RFC 3339 UTC timestamp with milliseconds, quoted when quote is set. */
void th__sb_add_time(struct th_strbuf *sb, int64_t ms, bool quote);

#endif
