/*
 * rule_load.h - what the two rule loaders share: the YAML loader (rule_yaml.c, SPEC §6
 * snake_case) and the Datadog JSON loader (rule_json.c, camelCase, durations in seconds)
 * only walk their document trees (doc.h) and pick out the nodes of a rule into a
 * struct th_rl_src; rule_load.c then validates and compiles that into a struct th_rule,
 * whatever the format. rule.c provides the condition and ATT&CK tag parsers.
 *
 * Diagnostics: every problem is reported through the caller's th_diag_fn with
 * "file:line:col" and a one-line message, and loading goes on, so that one pass reports
 * every problem of a file. A rule with any error is not built.
 */
#ifndef TH_RULE_LOAD_H
#define TH_RULE_LOAD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "doc.h"
#include "rule.h"

/* Where diagnostics go while one file loads. */
struct th_rl_ctx {
    const char *file;    /* the file name, for locations */
    const char *rule_id; /* set once the id is known (borrowed); until then diags name file */
    th_diag_fn diag;     /* may be NULL */
    void *diag_ctx;
    unsigned errors;
    unsigned warnings;
};

/* Reports an error (or a lint warning) at file:line:col (col 0: file:line; line 0: file). */
void th__rl_error(struct th_rl_ctx *c, unsigned line, unsigned col, const char *fmt, ...)
    TH_PRINTF(4, 5);
void th__rl_warn(struct th_rl_ctx *c, unsigned line, unsigned col, const char *fmt, ...)
    TH_PRINTF(4, 5);

/* True when s[0..len) is a valid rule id: 1 to 128 of [a-z0-9-], starting with [a-z0-9]. */
bool th__rl_id_ok(const char *s, size_t len);

/* ---- walking a document ---------------------------------------------------------------- */

/* A key a map may hold: its value goes to slots[slot]; slot < 0 accepts and ignores it. */
struct th_rl_key {
    const char *name;
    int slot;
};

/*
 * Checks that n is a map (else reports "<what> must be a map, not ..." and returns false),
 * stores each known key's value node in slots[] (which the caller zeroes) and reports every
 * unknown key as an error at the key ("unknown key 'x' in <what>", with a suggestion when
 * the key differs from a known one only in case or underscores).
 */
bool th__rl_map(struct th_rl_ctx *c, const struct th_doc_node *n, const char *what,
                const struct th_rl_key *keys, size_t nkeys, const struct th_doc_node **slots);

/* A duration picked out of a document: node NULL when absent; ms valid when node is set. */
struct th_rl_dur {
    const struct th_doc_node *node;
    int64_t ms;
};

/* One query as written. Lists are doc SEQ nodes (or NULL); metric is JSON's lone field. */
struct th_rl_query {
    const struct th_doc_node *at; /* the query's map */
    const struct th_doc_node *name, *query, *aggregation;
    const struct th_doc_node *group_by, *distinct, *fields, *metric;
};

struct th_rl_case {
    const struct th_doc_node *at;
    const struct th_doc_node *name, *status, *condition;
};

#define TH_RL_MAX_CASES 10

/* The slots of a case's keys, shared by both formats' key tables. */
enum { TH_RL_C_NAME, TH_RL_C_CONDITION, TH_RL_C_STATUS, TH_RL_C__N };

/* Key names as the format spells them, for messages. */
struct th_rl_keys {
    /* Datadog's JSON: durations are written in seconds rather than "5m", and option blocks
     * of another detection method are only warned about (Datadog's API keeps and returns
     * them, so exports carry them). */
    bool json;
    const char *id, *name, *version, *enabled, *tags, *queries, *query, *qname, *group_by,
        *distinct, *fields, *aggregation, *cases, *status, *condition, *message, *options,
        *detection_method, *evaluation_window, *keep_alive, *max_signal_duration, *new_value,
        *anomaly, *travel, *forget_after, *nv_learning_duration, *learning_method,
        *learning_threshold, *bucket_duration, *an_learning_duration, *detection_tolerance,
        *baseline_user_locations, *baseline_duration, *speed_kmh, *min_distance_km;
};

/* A rule as picked out of a document; every node is borrowed from doc. */
struct th_rl_src {
    const struct th_rl_keys *k;
    const struct th_doc *doc;
    const struct th_doc_node *root;
    const struct th_doc_node *id; /* the id's node, or NULL when id_text is used */
    const char *id_text;          /* the id when taken from the file name (JSON) */
    const struct th_doc_node *name, *version, *enabled, *tags, *message;
    const struct th_doc_node *options; /* for locations of missing option keys */
    const struct th_doc_node *method;
    struct th_rl_dur window, keep_alive, max_signal;
    const struct th_doc_node *queries; /* the list, for locations */
    struct th_rl_query q[TH_MAX_QUERIES];
    size_t nq;
    const struct th_doc_node *cases;
    struct th_rl_case cs[TH_RL_MAX_CASES];
    size_t ncs;
    const struct th_doc_node *nv_block, *an_block, *tr_block;
    struct th_rl_dur nv_forget, nv_learning;
    const struct th_doc_node *nv_method, *nv_threshold;
    struct th_rl_dur an_bucket, an_learning;
    const struct th_doc_node *an_tolerance;
    const struct th_doc_node *tr_baseline;
    struct th_rl_dur tr_baseline_dur;
    const struct th_doc_node *tr_speed, *tr_min_distance;
};

/*
 * Collects list n (a SEQ, or NULL/null for none) into items[0..*count), at most max items,
 * reporting as errors a non-list ("<what> must be a list ..."), non-scalar items and more
 * than max items. Returns false when anything was reported.
 */
bool th__rl_list(struct th_rl_ctx *c, const struct th_doc_node *n, const char *what, size_t max,
                 const struct th_doc_node **items, size_t *count);

/*
 * Walks the `cases` list n (NULL or null: none) into src->cs / src->ncs, reporting a
 * non-list, empty cases, unknown keys (keys: the format's case keys, slotted by
 * TH_RL_C_*) and more than TH_RL_MAX_CASES cases. Sets src->cases to n for locations.
 */
struct th_rl_src;
void th__rl_cases(struct th_rl_ctx *c, const struct th_doc_node *n, const struct th_rl_key *keys,
                  size_t nkeys, struct th_rl_src *src);

/*
 * Validates src and compiles it into *out (owned; free with th__rule_free). Reports every
 * problem through c. Returns 0, TH_ERULE when anything was reported as an error through c,
 * before this call (by the format's walker) or during it (*out NULL), or TH_ENOMEM. *id_line /
 * *id_col receive the id's position (0 when unknown), for the duplicate-id check.
 */
int th__rl_build(struct th_rl_ctx *c, const struct th_rl_src *src, struct th_rule **out,
                 unsigned *id_line, unsigned *id_col);

/* Formats a duration for messages ("0", "90s", "5m", "1h", "28d"); returns buf. */
const char *th__rl_dur_str(int64_t ms, char *buf, size_t size);

/* ---- the two formats ----------------------------------------------------------------- */

/*
 * Load one rule from a parsed document: the SPEC §6 YAML format, or Datadog's JSON export
 * (whose id is the file's base name unless the JSON carries a slug-like `id`).
 * Same contract as th__rl_build.
 */
int th__rule_load_yaml(struct th_rl_ctx *c, const struct th_doc *doc, struct th_rule **out,
                       unsigned *id_line, unsigned *id_col);
int th__rule_load_json(struct th_rl_ctx *c, const struct th_doc *doc, struct th_rule **out,
                       unsigned *id_line, unsigned *id_col);

/* ---- rule.c: conditions and ATT&CK tags ---------------------------------------------- */

/*
 * Parses a case condition over the query names names[0..nnames): comparisons
 * `name OP number` (OP one of > >= < <= == !=; numbers may be decimals) joined by && and ||
 * (&& binds tighter) with parentheses. Returns 0 with *out owned (free with th__cond_free),
 * TH_EPARSE with err->msg filled and *err_col the 1-based column of the problem, or
 * TH_ENOMEM.
 */
int th__cond_parse(const char *text, size_t len, const char *const *names, size_t nnames,
                   struct th_cond **out, unsigned *err_col, struct th_err *err);
void th__cond_free(struct th_cond *c);

enum th_attack_tag { TH_TAG_OTHER, TH_TAG_TACTIC, TH_TAG_TECHNIQUE };

/*
 * Classifies a tag. `tactic:TA0006-credential-access` gives TH_TAG_TACTIC with "TA0006" in
 * id; `technique:T1552-...` or `technique:T1552.005-...` gives TH_TAG_TECHNIQUE with the
 * technique id; any other tag gives TH_TAG_OTHER. A tactic or technique tag whose id is
 * malformed returns TH_EPARSE with err->msg filled.
 */
int th__attack_tag(const char *tag, size_t len, char id[16], struct th_err *err);

/*
 * Builds r->attack from r->tags (which must be well formed, see th__attack_tag): one ref
 * per (tactic, technique) pair, tactics outer and techniques inner, both in tag order and
 * without duplicates. A technique pairs with the rule's tactics it belongs to in ATT&CK
 * (attack.h); one that belongs to none of them (or is unknown) pairs with all of them. A
 * tactic left without a technique yields one ref with an empty technique; without any
 * tactic tag, each technique yields one ref with an empty tactic.
 * Returns 0 or TH_ENOMEM.
 */
int th__attack_build(struct th_rule *r);

#endif
