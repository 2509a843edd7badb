/*
 * sample_util.c - the sample generator's plumbing: JSON writer, splitmix64 PRNG, random and
 * stable identifiers, time formatting.
 *
 * The writer is a flat buffer plus a stack of "first member" flags; it escapes quotes,
 * backslashes and control characters, and leaves '/' and non-ASCII bytes as they are (as
 * CloudTrail does). It does not check that keys are unique or that closes match opens: the
 * generator's code is its only caller.
 */
#include "sample_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void *th__xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fputs("gen_sample: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

void th__jw_reset(struct th__jw *w)
{
    w->len = 0;
    w->depth = 0;
    w->first[0] = true;
    if (w->s)
        w->s[0] = '\0';
}

void th__jw_free(struct th__jw *w)
{
    free(w->s);
    *w = (struct th__jw){0};
}

static void put(struct th__jw *w, const char *s, size_t n)
{
    if (w->len + n + 1 > w->cap) {
        w->cap = (w->len + n + 1) * 2;
        w->s = th__xrealloc(w->s, w->cap);
    }
    memcpy(w->s + w->len, s, n);
    w->len += n;
    w->s[w->len] = '\0';
}

static void put_quoted(struct th__jw *w, const char *s)
{
    put(w, "\"", 1);
    for (const char *run = s;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c && c != '"' && c != '\\' && c >= 0x20)
            continue;
        put(w, run, (size_t)(s - run));
        if (!c)
            break;
        char esc[8];
        snprintf(esc, sizeof esc, c < 0x20 ? "\\u%04x" : "\\%c", c);
        put(w, esc, strlen(esc));
        run = s + 1;
    }
    put(w, "\"", 1);
}

/* Starts a member: the separating comma, then "key": inside objects. */
static void member(struct th__jw *w, const char *key)
{
    if (w->depth > 0 && !w->first[w->depth])
        put(w, ",", 1);
    w->first[w->depth] = false;
    if (key) {
        put_quoted(w, key);
        put(w, ":", 1);
    }
}

static void open_container(struct th__jw *w, const char *key, char kind)
{
    member(w, key);
    put(w, &kind, 1);
    w->depth++;
    w->first[w->depth] = true;
    w->close[w->depth] = kind == '{' ? '}' : ']';
}

void th__jo(struct th__jw *w, const char *key) { open_container(w, key, '{'); }
void th__ja(struct th__jw *w, const char *key) { open_container(w, key, '['); }
void th__je(struct th__jw *w) { put(w, &w->close[w->depth--], 1); }

void th__js(struct th__jw *w, const char *key, const char *val)
{
    member(w, key);
    if (val)
        put_quoted(w, val);
    else
        put(w, "null", 4);
}

void th__jsf(struct th__jw *w, const char *key, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    th__js(w, key, buf);
}

void th__jn(struct th__jw *w, const char *key, long long v)
{
    char buf[24];
    member(w, key);
    put(w, buf, (size_t)snprintf(buf, sizeof buf, "%lld", v));
}

void th__jb(struct th__jw *w, const char *key, bool v)
{
    member(w, key);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void th__jraw(struct th__jw *w, const char *key, const char *json)
{
    member(w, key);
    if (!json)
        json = "null";
    put(w, json, strlen(json));
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t th__next(struct th__gen *g) { return splitmix(&g->rng); }
unsigned th__rnd(struct th__gen *g, unsigned n) { return (unsigned)(splitmix(&g->rng) % n); }
bool th__chance(struct th__gen *g, unsigned pct) { return th__rnd(g, 100) < pct; }

static void fill_chars(char *out, const char *alphabet, int n, uint64_t *state)
{
    size_t k = strlen(alphabet);
    for (int i = 0; i < n; i++)
        out[i] = alphabet[splitmix(state) % k];
    out[n] = '\0';
}

void th__rand_chars(struct th__gen *g, char *out, const char *alphabet, int n)
{
    fill_chars(out, alphabet, n, &g->rng);
}

void th__stable_id(char *out, const char *prefix, const char *alphabet, int n, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    uint64_t h = 1469598103934665603ULL; /* FNV-1a, then splitmix for the characters */
    for (const char *p = text; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    size_t len = strlen(prefix);
    memcpy(out, prefix, len);
    fill_chars(out + len, alphabet, n, &h);
}

void th__uuid(struct th__gen *g, char out[37])
{
    char h[33];
    th__rand_chars(g, h, TH_HEX, 32);
    h[12] = '4';
    h[16] = "89ab"[h[16] % 4];
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

void th__fmt_utc(char *out, size_t size, const char *fmt, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, size, fmt, &tm);
}

void th__fmt_time(char out[24], int64_t t) { th__fmt_utc(out, 24, "%Y-%m-%dT%H:%M:%SZ", t); }

void th__fmt_java_time(char out[40], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char mon[8];
    gmtime_r(&tt, &tm);
    strftime(mon, sizeof mon, "%b", &tm);
    snprintf(out, 40, "%s %d, %d, %d:%02d:%02d %s", mon, tm.tm_mday, tm.tm_year + 1900,
             tm.tm_hour % 12 ? tm.tm_hour % 12 : 12, tm.tm_min, tm.tm_sec,
             tm.tm_hour < 12 ? "AM" : "PM");
}
