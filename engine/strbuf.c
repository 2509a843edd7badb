/*
 * strbuf.c - growable buffer and JSON escaping. On allocation failure the buffer keeps
 * what it had and sets `oom`, so callers check once at the end rather than per append.
 */
#include "strbuf.h"

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

void th__sb_add_json_text(struct th_strbuf *sb, const char *text, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)text;
    size_t run = 0, i = 0;
    bool in_str = false, esc = false;
    while (i < len) {
        unsigned char c = p[i];
        size_t n = c < 0x80 ? 1 : utf8_len(p + i, len - i);
        if (n && (!in_str || c >= 0x20)) {
            if (in_str && esc)
                esc = false;
            else if (c == '\\' && in_str)
                esc = true;
            else if (c == '"')
                in_str = !in_str;
            i += n;
            continue;
        }
        th__sb_add(sb, text + run, i - run);
        if (n) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            th__sb_add(sb, e, 6);
        } else {
            th__sb_add(sb, "\xEF\xBF\xBD", 3);
        }
        esc = false;
        run = ++i;
    }
    th__sb_add(sb, text + run, i - run);
}
