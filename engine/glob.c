/*
 * glob.c - compiling and matching wildcard patterns (glob.h).
 *
 * Compilation collapses runs of stars and picks the cheapest matcher: memcmp for exact,
 * prefix and suffix patterns, memmem for `*mid*`, and otherwise the classic glob loop that
 * remembers only the last star (single-star backtracking). That loop is correct for `*`/`?`
 * patterns because matching each literal run at its leftmost position is never worse than
 * a later one. The star retries advance by whole code points so that `?` always starts on a
 * code point boundary. Invalid UTF-8 is not rejected: a stray byte counts as one character.
 * Matching never allocates and keeps no state between calls.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* memmem; CMake defines it for the whole tree */
#endif
#include "glob.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"

size_t th__utf8_len(const char *s, size_t n)
{
    unsigned char b = (unsigned char)s[0];
    size_t want;
    if (b < 0x80)
        return 1;
    else if (b >= 0xC2 && b <= 0xDF)
        want = 2;
    else if (b >= 0xE0 && b <= 0xEF)
        want = 3;
    else if (b >= 0xF0 && b <= 0xF4)
        want = 4;
    else
        return 1;
    size_t k = 1;
    while (k < want && k < n && ((unsigned char)s[k] & 0xC0) == 0x80)
        k++;
    return k == want ? want : 1;
}

const char *th__glob_kind_name(enum th_glob_kind k)
{
    switch (k) {
    case TH_GLOB_EXACT:
        return "exact";
    case TH_GLOB_PREFIX:
        return "prefix";
    case TH_GLOB_SUFFIX:
        return "suffix";
    case TH_GLOB_SUBSTR:
        return "substr";
    case TH_GLOB_ANY:
        return "any";
    case TH_GLOB_GENERAL:
        return "glob";
    }
    return "?";
}

void th__glob_fini(struct th_glob *g)
{
    if (!g)
        return;
    free(g->lit);
    free(g->pat);
    memset(g, 0, sizeof *g);
}

static bool is_wild(const char *pat, const uint8_t *wild, size_t i, char c)
{
    return wild && wild[i] && pat[i] == c;
}

int th__glob_compile(const char *pat, const uint8_t *wild, size_t len, struct th_glob *out)
{
    memset(out, 0, sizeof *out);

    /* Count the wildcards and find where the literal part would lie for the fast paths. */
    size_t nstar = 0, nq = 0, lead = 0, trail = 0;
    for (size_t i = 0; i < len; i++) {
        if (is_wild(pat, wild, i, '*'))
            nstar++;
        else if (is_wild(pat, wild, i, '?'))
            nq++;
    }
    while (lead < len && is_wild(pat, wild, lead, '*'))
        lead++;
    while (trail < len - lead && is_wild(pat, wild, len - 1 - trail, '*'))
        trail++;

    if (nq == 0 && nstar == lead + trail) {
        /* Stars only at the ends: a fast path. */
        size_t n = len - lead - trail;
        if (nstar > 0 && n == 0)
            out->kind = TH_GLOB_ANY;
        else if (lead && trail)
            out->kind = TH_GLOB_SUBSTR;
        else if (lead)
            out->kind = TH_GLOB_SUFFIX;
        else if (trail)
            out->kind = TH_GLOB_PREFIX;
        else
            out->kind = TH_GLOB_EXACT;
        out->lit = th__strndup(pat + lead, n);
        if (!out->lit)
            return TH_ENOMEM;
        out->lit_len = n;
        return 0;
    }

    out->kind = TH_GLOB_GENERAL;
    /* One block: len pattern bytes, a NUL, then len op bytes. */
    char *blk = malloc(2 * len + 1);
    if (!blk)
        return TH_ENOMEM;
    out->pat = blk;
    out->op = (uint8_t *)blk + len + 1;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t op = TH_GLOB_OP_LIT;
        if (is_wild(pat, wild, i, '*'))
            op = TH_GLOB_OP_STAR;
        else if (is_wild(pat, wild, i, '?'))
            op = TH_GLOB_OP_ONE;
        if (op == TH_GLOB_OP_STAR && n > 0 && out->op[n - 1] == TH_GLOB_OP_STAR)
            continue;
        out->pat[n] = pat[i];
        out->op[n] = op;
        n++;
    }
    out->pat[n] = '\0';
    out->len = n;
    return 0;
}

int th__glob_compile_text(const char *text, size_t len, struct th_glob *out)
{
    memset(out, 0, sizeof *out);
    char *buf = malloc(len + 1);
    uint8_t *wild = malloc(len + 1);
    int rc = TH_ENOMEM;
    if (!buf || !wild)
        goto done;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\\' && i + 1 < len) {
            buf[n] = text[++i];
            wild[n++] = 0;
        } else {
            buf[n] = text[i];
            wild[n++] = (text[i] == '*' || text[i] == '?');
        }
    }
    rc = th__glob_compile(buf, wild, n, out);
done:
    free(buf);
    free(wild);
    return rc;
}

/* The general glob: O(len) space-free loop with single-star backtracking. */
static bool glob_general(const struct th_glob *g, const char *s, size_t len)
{
    const char *p = g->pat;
    const uint8_t *op = g->op;
    size_t plen = g->len;
    size_t pi = 0, si = 0;
    size_t star_p = SIZE_MAX, star_s = 0;

    while (si < len) {
        if (pi < plen) {
            if (op[pi] == TH_GLOB_OP_STAR) {
                star_p = ++pi;
                star_s = si;
                continue;
            }
            if (op[pi] == TH_GLOB_OP_ONE) {
                si += th__utf8_len(s + si, len - si);
                pi++;
                continue;
            }
            if (p[pi] == s[si]) {
                pi++;
                si++;
                continue;
            }
        }
        if (star_p == SIZE_MAX)
            return false;
        /* Let the last star swallow one more character and retry from just after it. */
        star_s += th__utf8_len(s + star_s, len - star_s);
        si = star_s;
        pi = star_p;
    }
    while (pi < plen && op[pi] == TH_GLOB_OP_STAR)
        pi++;
    return pi == plen;
}

bool th__glob_match(const struct th_glob *g, const char *s, size_t len)
{
    switch (g->kind) {
    case TH_GLOB_EXACT:
        return len == g->lit_len && (len == 0 || memcmp(s, g->lit, len) == 0);
    case TH_GLOB_PREFIX:
        return len >= g->lit_len && memcmp(s, g->lit, g->lit_len) == 0;
    case TH_GLOB_SUFFIX:
        return len >= g->lit_len && memcmp(s + len - g->lit_len, g->lit, g->lit_len) == 0;
    case TH_GLOB_SUBSTR:
        return len >= g->lit_len && memmem(s, len, g->lit, g->lit_len) != NULL;
    case TH_GLOB_ANY:
        return true;
    case TH_GLOB_GENERAL:
        return glob_general(g, s, len);
    }
    return false;
}
