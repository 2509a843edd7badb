/*
 * coverage.h - the MITRE ATT&CK coverage of a rule set (SPEC §12; the public
 * th_coverage_write of trailhound.h): which rules cover which technique under which
 * tactic, as a text table, a Markdown table or an ATT&CK Navigator layer.
 *
 * A rule covers what its attack refs (rule.h, built from its tactic and technique tags)
 * name: a (tactic, technique) pair; a tactic alone when no technique of the rule belongs to
 * it ("tactic only"); and a technique without any tactic tag under every tactic ATT&CK puts
 * it in, as the Navigator does with a technique entry that names no tactic.
 *
 * A th_coverage borrows the rules of the set it was built from (which must outlive it) and
 * owns its arrays. Building and formatting are deterministic: the same set, the same bytes.
 */
#ifndef TH_COVERAGE_H
#define TH_COVERAGE_H

#include <stddef.h>

#include "attack.h"
#include "rule.h"
#include "strbuf.h"
#include "trailhound.h"

/* One rule covering one technique (or the tactic alone) under one tactic. */
struct th_cov_pair {
    size_t tactic;                  /* th_tactic_index: the column of the matrix */
    const struct th_technique *tech; /* NULL: the tactic alone */
    const struct th_rule *rule;     /* borrowed */
};

struct th_coverage {
    struct th_cov_pair *pairs; /* owned; by tactic, technique id (tactic alone last), rule id;
                                  no duplicates */
    size_t npairs;
    size_t nrules;             /* rules in the set */
    size_t nmapped;            /* rules with at least one ATT&CK ref */
    const struct th_rule **untagged; /* owned array of borrowed rules without refs, by id */
    size_t nuntagged;
    size_t ntactics;           /* tactics with at least one rule */
    size_t ntechniques;        /* distinct technique ids covered, sub-techniques included */
    size_t nsub;               /* of which sub-techniques */
};

/*
 * Builds the coverage of rs into *cov (caller's storage). Returns 0 or TH_ENOMEM, leaving
 * *cov empty (safe to fini) on failure.
 */
int th__coverage_build(const struct th_ruleset *rs, struct th_coverage *cov);

/* Frees what cov owns and empties it. */
void th__coverage_fini(struct th_coverage *cov);

/* Appends cov in format f to sb (text and Markdown end with the summary line; the layer is
 * one JSON document); every line ends in '\n'. */
void th__coverage_format(const struct th_coverage *cov, enum th_coverage_format f,
                         struct th_strbuf *sb);

/* Appends the summary line (no newline), e.g. "ATT&CK Enterprise v16.1: 5 of 14 tactics
 * and 9 techniques (3 of them sub-techniques) covered by 12 rules". */
void th__coverage_summary(const struct th_coverage *cov, struct th_strbuf *sb);

#endif
