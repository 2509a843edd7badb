/*
 * query_ast.h - the compiled form of a query (query.h), shared by the parser
 * (query_parse.c), which builds it, and the evaluator (query_eval.c), which walks it.
 *
 * A query is a tree of nodes. AND and OR nodes have any number of children (evaluated in
 * order, short-circuiting), NOT has one. Leaves are: TRUE (a free-text `*`), EXISTS (an
 * attribute has a non-null value), MATCH (an attribute has a value accepted by a matcher)
 * and TEXT (some scalar leaf of the whole event is accepted by a matcher). Attributes live
 * in one array owned by the query and are referred to by index, so the terms of
 * `@a:(x OR y)` share one compiled attribute. Nothing in the tree changes after compile,
 * so one query can be matched by several threads at once (each with its th_match_ctx).
 */
#ifndef TH_QUERY_AST_H
#define TH_QUERY_AST_H

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>

#include "attr.h"
#include "cidr.h"
#include "glob.h"
#include "query.h"

/* The limits of what th__query_compile accepts. */
#define TH_QUERY_MAX_LEN 65536u /* bytes of query text */
#define TH_QUERY_MAX_DEPTH 256u /* nested groups and negations */

enum th_qn_kind {
    TH_QN_AND,    /* all kids */
    TH_QN_OR,     /* any kid */
    TH_QN_NOT,    /* not kids[0] */
    TH_QN_TRUE,   /* every event */
    TH_QN_EXISTS, /* attrs[attr] has a value (objects count) */
    TH_QN_MATCH,  /* some value of attrs[attr] is accepted by m */
    TH_QN_TEXT    /* some scalar leaf of the event is accepted by m */
};

enum th_qm_kind {
    TH_QM_GLOB,  /* exact or wildcard, on the text form of scalars */
    TH_QM_RANGE, /* >, >=, <, <=, [a TO b], {a TO b} */
    TH_QM_REGEX, /* PCRE2 search on the text form of scalars */
    TH_QM_CIDR   /* string values that are IP addresses inside a prefix */
};

/*
 * A comparison or range. Numeric when every given bound is a number: then numbers and
 * strings that parse fully as numbers are compared (booleans never). Otherwise the bounds
 * are strings and string values are compared bytewise (memcmp order).
 */
struct th_qrange {
    bool numeric;
    bool has_lo, has_hi;   /* false: that end is open (`*`, or the free side of `>`) */
    bool lo_incl, hi_incl; /* `[`/`]`, `>=`/`<=` */
    double lo, hi;         /* numeric bounds */
    char *slo, *shi;       /* owned string bounds (NULL when numeric or open) */
    size_t slo_len, shi_len;
};

struct th_qmatch {
    enum th_qm_kind kind;
    struct th_glob glob;    /* GLOB */
    struct th_qrange range; /* RANGE */
    pcre2_code *re;         /* REGEX, owned (JIT-compiled when available) */
    char *re_src;           /* REGEX, owned: the pattern as given to PCRE2 */
    struct th_cidr *cidr;   /* CIDR, owned array */
    size_t ncidr;
};

struct th_qnode {
    enum th_qn_kind kind;
    unsigned col;           /* 1-based column where the clause starts */
    size_t attr;            /* EXISTS, MATCH: index into th_query.attrs */
    struct th_qnode **kids; /* AND, OR, NOT: owned */
    size_t nkids, capkids;
    struct th_qmatch m; /* MATCH, TEXT */
};

struct th_query {
    char *text; /* owned, NUL-terminated copy of the query */
    size_t len;
    struct th_qnode *root; /* owned */
    struct th_attr *attrs; /* owned array */
    size_t nattrs, capattrs;
};

/*
 * True when len bytes of s are a whole decimal number ([+-]digits[.digits][e[+-]digits], at
 * least one digit, no spaces, no hex, no inf/nan); its value goes to *out. Never allocates.
 */
bool th__query_parse_number(const char *s, size_t len, double *out);

/*
 * Writes a canonical one-line rendering of q's tree into buf (truncated to size, always
 * NUL-terminated), for tests and `lint --explain`-style output, e.g.
 * `(AND @evt.name:prefix:"Get" (NOT @userIdentity.invokedBy:exact:"AWS Internal"))`.
 * Returns the length the full rendering would have.
 */
size_t th__query_dump(const struct th_query *q, char *buf, size_t size);

#endif
