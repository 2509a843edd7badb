/*
 * query.h - Datadog log-search queries, compiled once and matched per event.
 *
 * A query compiles into a small tree of AND / OR / NOT nodes over terms; each term pairs an
 * attribute reference (attr.h) with a matcher: exact, wildcard (`*`, `?`, anchored on the
 * whole value), existence, numeric comparison or range, CIDR, or PCRE2 regex. Matching
 * walks the tree against an event and allocates nothing; regexes use the caller's scratch
 * (struct th_match_ctx) so one compiled query can serve several threads.
 */
#ifndef TH_QUERY_H
#define TH_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "attr.h"
#include "common.h"
#include "event.h"

struct th_query;

/* Receives a lint warning about a query; col is 1-based within the query text. */
typedef void (*th_query_warn_fn)(void *ctx, unsigned col, const char *msg);

/*
 * Compiles text into *out. On failure returns TH_EPARSE (or TH_ENOMEM), sets *err_col to
 * the 1-based column in text where the problem is, fills err->msg with a one-line reason
 * (err->where is left empty for the caller to fill), and leaves *out NULL.
 * Warnings (e.g. AND and OR mixed at one level without parentheses, an unknown tag) go to
 * warn, which may be NULL. Regexes are compiled here, with JIT when available.
 */
int th__query_compile(const char *text, size_t len, th_query_warn_fn warn, void *warn_ctx,
                      struct th_query **out, unsigned *err_col, struct th_err *err);
void th__query_free(struct th_query *q);

/* Per-thread scratch for matching: PCRE2 match data and limits, plus counters. */
struct th_match_ctx {
    void *match_data;    /* pcre2_match_data_8 *, sized for the largest pattern */
    void *match_context; /* pcre2_match_context_8 * with match and depth limits */
    uint64_t regex_errors; /* matches abandoned at a limit (counted as no match) */
};

/* Sets up ctx with the given PCRE2 limits; returns 0 or TH_ENOMEM. */
int th__match_ctx_init(struct th_match_ctx *ctx, uint32_t match_limit, uint32_t depth_limit);
void th__match_ctx_fini(struct th_match_ctx *ctx);

/* True when ev matches q. Never allocates. */
bool th__query_match(const struct th_query *q, struct th_event *ev, struct th_match_ctx *ctx);

/* The query text as compiled (borrowed, owned by q). */
const char *th__query_text(const struct th_query *q);

/* The derived attributes q refers to, as a mask of bits 1 << TH_DERIVED_x (event.h), e.g.
 * to tell whether it needs a GeoIP database. */
uint32_t th__query_derived_used(const struct th_query *q);

#endif
