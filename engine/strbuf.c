/*
 * strbuf.c - growable buffer and JSON escaping. On allocation failure the buffer keeps
 * what it had and sets `oom`, so callers check once at the end rather than per append.
 */
#include "strbuf.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"

void th__sb_init(struct th_strbuf *sb)
{
    memset(sb, 0, sizeof *sb);
}

void th__sb_fini(struct th_strbuf *sb)
{
    free(sb->p);
    memset(sb, 0, sizeof *sb);
}

static bool reserve(struct th_strbuf *sb, size_t extra)
{
    if (sb->oom)
        return false;
    if (sb->len + extra + 1 <= sb->cap)
        return true;
    void *p = sb->p;
    size_t cap = sb->cap;
    if (th__grow(&p, &cap, sb->len + extra + 1, 1) < 0) {
        sb->oom = true;
        return false;
    }
    sb->p = p;
    sb->cap = cap;
    return true;
}

void th__sb_add(struct th_strbuf *sb, const char *p, size_t len)
{
    if (!reserve(sb, len))
        return;
    if (len)
        memcpy(sb->p + sb->len, p, len);
    sb->len += len;
    sb->p[sb->len] = '\0';
}

void th__sb_adds(struct th_strbuf *sb, const char *s)
{
    th__sb_add(sb, s, strlen(s));
}

void th__sb_addc(struct th_strbuf *sb, char c)
{
    if (!reserve(sb, 1))
        return;
    sb->p[sb->len++] = c;
    sb->p[sb->len] = '\0';
}

void th__sb_addf(struct th_strbuf *sb, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        th__sb_add(sb, tmp, (size_t)n);
        return;
    }
    if (!reserve(sb, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(sb->p + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

void th__sb_add_i64(struct th_strbuf *sb, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    th__sb_add(sb, tmp, (size_t)n);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is invalid. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

void th__sb_add_json_str(struct th_strbuf *sb, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    th__sb_addc(sb, '"');
    size_t run = 0; /* start of the pending run of bytes that need no escaping */
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_len(p + i, len - i);
            if (n) {
                i += n;
                continue;
            }
        }
        th__sb_add(sb, s + run, i - run);
        switch (c) {
        case '"':
            th__sb_add(sb, "\\\"", 2);
            break;
        case '\\':
            th__sb_add(sb, "\\\\", 2);
            break;
        case '\n':
            th__sb_add(sb, "\\n", 2);
            break;
        case '\r':
            th__sb_add(sb, "\\r", 2);
            break;
        case '\t':
            th__sb_add(sb, "\\t", 2);
            break;
        default:
            if (c < 0x20) {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                th__sb_add(sb, esc, 6);
            } else {
                th__sb_add(sb, "\xEF\xBF\xBD", 3); /* invalid UTF-8: U+FFFD */
            }
        }
        i++;
        run = i;
    }
    th__sb_add(sb, s + run, len - run);
    th__sb_addc(sb, '"');
}

void th__sb_add_time(struct th_strbuf *sb, int64_t ms, bool quote)
{
    char tmp[40];
    size_t n = th__time_format(ms, tmp, sizeof tmp);
    if (quote)
        th__sb_addc(sb, '"');
    th__sb_add(sb, tmp, n);
    if (quote)
        th__sb_addc(sb, '"');
}

/* The value of hex digit c, or -1. */
static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The code unit of a `\uXXXX` escape at p (n bytes available), or -1. */
static long u_escape(const unsigned char *p, size_t n)
{
    if (n < 6 || p[0] != '\\' || p[1] != 'u')
        return -1;
    long v = 0;
    for (size_t i = 2; i < 6; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Length of the strict JSON number (RFC 8259) that spans all of p[0..n), or 0. */
static size_t strict_number(const char *p, size_t n)
{
    size_t i = 0;
    if (i < n && p[i] == '-')
        i++;
    if (i < n && p[i] == '0')
        i++;
    else if (i < n && p[i] >= '1' && p[i] <= '9')
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
    else
        return 0;
    if (i < n && p[i] == '.') {
        size_t d = ++i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    return i == n ? n : 0;
}

/* Index of the first byte at or after i that is neither white space nor a comment. */
static size_t skip_space(const unsigned char *p, size_t i, size_t len)
{
    while (i < len) {
        if (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r' || p[i] == '\f' ||
            p[i] == '\v') {
            i++;
        } else if (p[i] == '/' && i + 1 < len && p[i + 1] == '*') {
            const void *e = len - i >= 4 ? memmem(p + i + 2, len - i - 2, "*/", 2) : NULL;
            i = e ? (size_t)((const unsigned char *)e - p) + 2 : len;
        } else if (p[i] == '/' && i + 1 < len && p[i + 1] == '/') {
            while (i < len && p[i] != '\n')
                i++;
        } else {
            break;
        }
    }
    return i;
}

/* Appends the string starting at p[i] (quote q: '"', or json-c's lenient '\''), strict;
 * returns the index after it. */
static size_t add_text_string(struct th_strbuf *sb, const unsigned char *p, size_t i, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char q = p[i++];
    th__sb_addc(sb, '"');
    size_t run = i;
    while (i < len && p[i] != q) {
        unsigned char c = p[i];
        size_t n = c >= 0x80 ? utf8_len(p + i, len - i) : 0;
        if (c >= 0x20 && c < 0x80 && c != '\\' && c != '"') {
            i++;
            continue;
        }
        if (n > 0) {
            i += n;
            continue;
        }
        n = 1;
        if (c == '\\' && i + 1 < len && p[i + 1] && strchr("\"\\/bfnrt", p[i + 1])) {
            i += 2;
            continue;
        }
        long u = c == '\\' ? u_escape(p + i, len - i) : -1;
        if (u >= 0 && (u < 0xD800 || u > 0xDFFF)) {
            i += 6;
            continue;
        }
        long lo = u >= 0xD800 && u <= 0xDBFF ? u_escape(p + i + 6, len - i - 6) : -1;
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            i += 12; /* a surrogate pair */
            continue;
        }
        th__sb_add(sb, (const char *)p + run, i - run);
        if (u >= 0) {
            th__sb_add(sb, "\\ufffd", 6); /* a lone surrogate */
            n = 6;
        } else if (c == '\\' && i + 1 < len && p[i + 1] == '\'') {
            th__sb_addc(sb, '\'');
            n = 2;
        } else if (c == '\\') {
            th__sb_add(sb, "\xEF\xBF\xBD", 3); /* an escape JSON does not have */
            n = i + 1 < len ? 2 : 1;
        } else if (c == '"') {
            th__sb_add(sb, "\\\"", 2); /* inside a single-quoted string */
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            th__sb_add(sb, e, 6);
        } else {
            th__sb_add(sb, "\xEF\xBF\xBD", 3); /* invalid UTF-8 */
        }
        i += n;
        run = i;
    }
    th__sb_add(sb, (const char *)p + run, i - run);
    th__sb_addc(sb, '"');
    return i < len ? i + 1 : len;
}

void th__sb_add_json_text(struct th_strbuf *sb, const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t run = 0, i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '{' || c == '}' ||
            c == '[' || c == ']' || c == ':') {
            i++;
            continue;
        }
        size_t tok = i;
        while (tok < len && (isalnum(p[tok]) || p[tok] == '.' || p[tok] == '+' ||
                             p[tok] == '-'))
            tok++;
        if (tok > i && strict_number(text + i, tok - i)) {
            i = tok;
            continue;
        }
        if ((tok - i == 4 && (!memcmp(p + i, "true", 4) || !memcmp(p + i, "null", 4))) ||
            (tok - i == 5 && !memcmp(p + i, "false", 5))) {
            i = tok;
            continue;
        }
        th__sb_add(sb, text + run, i - run);
        if (c == '"' || c == '\'') {
            i = add_text_string(sb, p, i, len);
        } else if (c == ',') {
            size_t next = skip_space(p, i + 1, len);
            if (next >= len || (p[next] != '}' && p[next] != ']'))
                th__sb_addc(sb, ','); /* json-c accepts a trailing comma; JSON does not */
            i++;
        } else if (c == '/' || c == '\f' || c == '\v') {
            size_t next = skip_space(p, i, len); /* a comment, or odd white space */
            i = next > i ? next : i + 1;
        } else if (tok > i) {
            /* A number or a literal json-c took leniently: TRUE, NaN, Infinity, 01, 1. */
            char buf[64], out[40];
            size_t n = tok - i;
            if (n < sizeof buf) {
                memcpy(buf, text + i, n);
                buf[n] = '\0';
            }
            for (size_t k = 0; k < n && n < sizeof buf; k++)
                buf[k] = (char)tolower((unsigned char)buf[k]);
            char *end = NULL;
            double v = n < sizeof buf && strchr("-+.0123456789", buf[0]) && !strstr(buf, "inf") &&
                               !strstr(buf, "nan")
                           ? strtod(buf, &end)
                           : NAN;
            if (n < sizeof buf && (!strcmp(buf, "true") || !strcmp(buf, "false")))
                th__sb_adds(sb, buf);
            else if (end && !*end && isfinite(v) && snprintf(out, sizeof out, "%.17g", v) > 0)
                th__sb_adds(sb, out);
            else
                th__sb_add(sb, "null", 4); /* NaN, Infinity, null spelled otherwise */
            i = tok;
        } else {
            th__sb_add(sb, "\xEF\xBF\xBD", 3); /* nothing JSON has: never from json-c */
            i++;
        }
        run = i;
    }
    th__sb_add(sb, text + run, i - run);
}
