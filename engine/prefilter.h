/*
 * prefilter.h - a literal prefilter derived from the rules' queries, as Suricata's
 * fast_pattern: for each unit (a rule, or hunt's one query), byte strings of which some must
 * occur in an event's raw JSON text for any of its queries to possibly match. An event in
 * whose text no unit's requirement holds needs no parsing and no evaluation at all.
 *
 * Derivation, exact by construction (never a false negative), from the query tree
 * (query_ast.h). Each query becomes a conjunction of clauses, each clause a set of literals
 * at least one of which must occur:
 *   - AND: every child's clauses (all of them must hold, so all may be required);
 *   - OR: one clause, the union of one clause chosen from each child (a child without any
 *     requirement makes the OR have none); a child that can never match is left out;
 *   - NOT, free text, regexes, ranges, CIDR, existence, derived attributes (@usr.name,
 *     ip_class, geoip, status...) and bare `*`: no requirement;
 *   - a term on an attribute that can never exist (an unknown tag): can never match;
 *   - a glob on a raw attribute (exact, prefix, suffix, substring, wildcards): the best
 *     literal run of the pattern. Runs are cut at the bytes JSON may escape (`"`, `\`, `/`,
 *     control bytes), since the raw text may hold them escaped. A run that touches an end of
 *     the pattern is anchored with the JSON string quote on that side (`"Get` for `Get*`,
 *     `"Root"` for `Root`) when it holds a byte no number or boolean rendering can hold,
 *     which proves the value is a string. Runs made only of bytes a number or boolean may
 *     render (`0-9 . + - e i n f a t r u l s`) are "numeric": they also count as present
 *     in an event holding a number whose rendering may differ from its raw text.
 * The raw text is trusted only when the scanner (jscan.h) found no `\u` escape in it: an
 * event with one is never skipped (th__prefilter_check says every unit may match).
 *
 * Search: one pass of a bigram filter (one pair of bytes per literal, then memcmp) finds
 * every literal; with few literals, memmem per literal, lazily, clause by clause.
 *
 * A built prefilter is immutable: several threads may call th__prefilter_check at once,
 * each with its own th_pf_scratch.
 */
#ifndef TH_PREFILTER_H
#define TH_PREFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jscan.h"

struct th_query;
struct th_prefilter;

/*
 * Builds a prefilter over nunits units. Query i belongs to unit unit_of[i] (< nunits); a
 * unit with no query never matches. Queries are borrowed only during the call. Returns 0
 * and an owned *out, or TH_ENOMEM.
 */
int th__prefilter_new(const struct th_query *const *queries, const size_t *unit_of,
                      size_t nqueries, size_t nunits, struct th_prefilter **out);
void th__prefilter_free(struct th_prefilter *pf);

/*
 * Learning: the pair of bytes that represents each literal in the filter is best the rarest
 * in the actual traffic. While th__prefilter_learning() is true, the caller hands each
 * event's text to th__prefilter_learn() (before checking it); after the first 256, the
 * filter is rebuilt from the counts. This changes only how fast checks are, never their
 * answers. Not thread-safe: call it from one thread, before any concurrent check.
 */
void th__prefilter_learn(struct th_prefilter *pf, const char *p, size_t n);
bool th__prefilter_learning(const struct th_prefilter *pf);

/* Number of units; the size in 64-bit words of the masks th__prefilter_check writes. */
size_t th__prefilter_units(const struct th_prefilter *pf);
size_t th__prefilter_mask_words(const struct th_prefilter *pf);

/* True when unit u has no requirement: every event may match it. */
bool th__prefilter_unit_always(const struct th_prefilter *pf, size_t u);

/* True when at least one event could be skipped: every unit has a requirement. */
bool th__prefilter_can_skip(const struct th_prefilter *pf);

/* The number of distinct literals searched for. */
size_t th__prefilter_literals(const struct th_prefilter *pf);

/* Per-caller scratch of th__prefilter_check (zero it before first use; sized then). */
struct th_pf_scratch {
    uint64_t *present; /* lazy mode: two bits per literal (unknown, present, absent) */
    uint64_t *bits;    /* one bit per literal present in the text being checked */
    uint32_t *list;    /* those literals */
    size_t nlist;
    uint32_t *stamp;   /* per query: the epoch it was last looked at in */
    uint32_t epoch;
    struct th_jmember *scope_mem; /* per scope: its member in the text being checked... */
    uint32_t *stamp_scope;        /* ...when stamped with the current scope_epoch */
    uint32_t *scopes_seen;        /* the scopes stamped this time */
    uint32_t scope_epoch;
    size_t words, nq, nscopes;
};

/* Frees what s holds and zeroes it. */
void th__pf_scratch_fini(struct th_pf_scratch *s);

/*
 * Checks the raw JSON text p[0..n) of one event, which the scanner validated into js
 * (flags, and the top-level members when js->mem is set): writes into mask
 * (th__prefilter_mask_words words) bit u set for each unit that may match, and returns
 * how many may. 0 means no unit can match the event. With a complete member table, each
 * literal is looked for only inside the top-level member its attribute lies in (the
 * value of `requestParameters` for `@requestParameters.policyArn`); otherwise anywhere.
 * Allocates only to size s, the first time (on out of memory every unit may match, and
 * SIZE_MAX is returned).
 */
size_t th__prefilter_check(const struct th_prefilter *pf, struct th_pf_scratch *s,
                           const char *p, size_t n, const struct th_jscan *js, uint64_t *mask);

/*
 * Writes the requirement of unit u into buf (truncated to size, NUL-terminated) for tests
 * and debugging: "always", "never", or one requirement per query that can match, joined
 * by " | ", each a conjunction of clauses `(<lit>@scope <lit>@scope) & (...)`: each literal
 * between angle brackets as searched for (quotes included: `<"Get>`), `#` after a numeric
 * one, then `@` and the top-level member it lies in (`<"Root">@userIdentity`); a member's
 * mere presence is `exists@errorCode`. Returns the length of the full text.
 */
size_t th__prefilter_describe(const struct th_prefilter *pf, size_t u, char *buf, size_t size);

#endif
