/*
 * glob.h - wildcard patterns of the query language (`*` any run of characters, `?` exactly
 * one UTF-8 code point), anchored on the whole value, compiled once and matched per value
 * without allocating.
 *
 * A pattern is classified at compile time: a pattern without `?` whose stars sit only at the
 * ends becomes an exact, prefix, suffix or substring match (memcmp / memmem); everything
 * else runs a linear-space glob with single-star backtracking. Which characters are
 * wildcards is decided by the caller (the query parser knows what was escaped or quoted),
 * so a literal `*` in a value is just a byte here.
 */
#ifndef TH_GLOB_H
#define TH_GLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum th_glob_kind {
    TH_GLOB_EXACT,  /* no wildcard: the value equals lit */
    TH_GLOB_PREFIX, /* lit*     */
    TH_GLOB_SUFFIX, /* *lit     */
    TH_GLOB_SUBSTR, /* *lit*    */
    TH_GLOB_ANY,    /* only stars: any value, the empty one included */
    TH_GLOB_GENERAL /* anything else: pat/op */
};

/* Per pattern byte in the GENERAL form. */
enum th_glob_op { TH_GLOB_OP_LIT, TH_GLOB_OP_STAR, TH_GLOB_OP_ONE };

struct th_glob {
    enum th_glob_kind kind;
    char *lit; /* owned, NUL-terminated: the literal of EXACT/PREFIX/SUFFIX/SUBSTR */
    size_t lit_len;
    char *pat;   /* owned, GENERAL only: the pattern bytes (runs of stars collapsed) */
    uint8_t *op; /* GENERAL only: enum th_glob_op per byte of pat (same allocation) */
    size_t len;  /* GENERAL only: bytes in pat */
};

/*
 * Compiles len bytes of pat into out. wild[i] != 0 marks pat[i] (which must then be `*` or
 * `?`) as a wildcard; wild may be NULL for a literal. Returns 0, or TH_ENOMEM (out zeroed).
 * The caller owns out and releases it with th__glob_fini.
 */
int th__glob_compile(const char *pat, const uint8_t *wild, size_t len, struct th_glob *out);

/*
 * Compiles a pattern written with the query language's term escapes: unescaped `*` and `?`
 * are wildcards, a backslash makes the next byte literal (a trailing lone backslash is
 * literal). Returns 0 or TH_ENOMEM.
 */
int th__glob_compile_text(const char *text, size_t len, struct th_glob *out);

/* Releases what g owns and zeroes it; accepts a zeroed or half-built g. */
void th__glob_fini(struct th_glob *g);

/* True when the whole of s (len bytes, not necessarily NUL-terminated) matches g.
 * Never allocates; time is O(len) for the fast paths, O(len * pattern) at worst otherwise. */
bool th__glob_match(const struct th_glob *g, const char *s, size_t len);

/* The name of a kind ("exact", "prefix", ...), for dumps and tests. */
const char *th__glob_kind_name(enum th_glob_kind k);

/* Bytes in the UTF-8 sequence starting at s (1 for an invalid or truncated one), n >= 1. */
size_t th__utf8_len(const char *s, size_t n);

#endif
