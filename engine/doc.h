/*
 * doc.h - a small read-only document tree for rule files: YAML read with libyaml's
 * document API (yaml_parser_load), JSON read by the same parser (JSON is YAML flow syntax
 * for our purposes). Every node keeps its 1-based line and column so that a validation
 * error can say file:line:col, and the source text is kept so that a position inside a
 * scalar (a query, a template) can be mapped back to the file.
 *
 * Only the first document of a stream is read; a second one is an error. Mapping keys
 * must be scalars and unique. Anchors are accepted but aliases are not (they are an error:
 * rule files gain nothing from them, and refusing them rules out "billion laughs" and
 * self-referencing trees). Input must be UTF-8. Tags (`!!str`) are ignored.
 */
#ifndef TH_DOC_H
#define TH_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

/* Nesting deeper than this is refused (no rule file comes near it). */
#define TH_DOC_MAX_DEPTH 64

enum th_doc_kind { TH_DOC_SCALAR, TH_DOC_SEQ, TH_DOC_MAP };

/* How a scalar was written: plain scalars may be numbers, booleans or null. */
enum th_doc_style { TH_DOC_PLAIN, TH_DOC_SINGLE, TH_DOC_DOUBLE, TH_DOC_LITERAL, TH_DOC_FOLDED };

struct th_doc_node {
    enum th_doc_kind kind;
    enum th_doc_style style; /* scalars only */
    unsigned line, col;      /* 1-based start (for a block scalar: its `|` or `>`) */
    unsigned end_line;       /* 1-based line where the node ends */
    const char *s;           /* scalars: the value, NUL-terminated (owned by the doc) */
    size_t len;
    /* SEQ: n items in items[0..n); MAP: n pairs, key i in items[2i], value in items[2i+1]. */
    struct th_doc_node **items;
    size_t n;
};

struct th_doc;

/*
 * Parses data (len bytes, not necessarily NUL-terminated) into *out. name is the file name
 * used in error locations. json only changes the error message: when libyaml refuses a
 * .json file, json-c is asked where the JSON is broken, for a more familiar message.
 * Returns 0 (with *out owned by the caller, free with th__doc_free; its root is NULL for
 * an empty stream), TH_EPARSE with err filled ("file:line:col" and a one-line reason) and
 * *out NULL, or TH_ENOMEM.
 */
int th__doc_parse(const char *name, const char *data, size_t len, bool json, struct th_doc **out,
                  struct th_err *err);
void th__doc_free(struct th_doc *d);

/* The root node (borrowed), or NULL when the stream holds no document. */
const struct th_doc_node *th__doc_root(const struct th_doc *d);

/* The file name given to th__doc_parse (borrowed). */
const char *th__doc_name(const struct th_doc *d);

/* In a MAP, the value of key (borrowed), or NULL when the key is absent or n is no map. */
const struct th_doc_node *th__doc_get(const struct th_doc_node *map, const char *key);

/* True for an absent node and for a plain null scalar (empty, `~`, `null`). */
bool th__doc_is_null(const struct th_doc_node *n);

/* "a string", "a list" or "a map": for messages such as "tags must be a list, not a map". */
const char *th__doc_kind_name(const struct th_doc_node *n);

/* A plain `true` / `false` (also True, TRUE, False, FALSE). False when n is anything else. */
bool th__doc_bool(const struct th_doc_node *n, bool *out);

/* A plain integer (optional sign, decimal digits, fits in int64). */
bool th__doc_int(const struct th_doc_node *n, int64_t *out);

/* A plain finite number (integer or decimal, with optional exponent). */
bool th__doc_number(const struct th_doc_node *n, double *out);

/*
 * Maps a byte offset inside scalar n's value to a file position. Exact for scalars on one
 * line (plain, single- or double-quoted, escapes accounted for) and for literal block
 * scalars (`|`); for other multi-line scalars the node's own position is returned.
 */
void th__doc_locate(const struct th_doc *d, const struct th_doc_node *n, size_t offset,
                    unsigned *line, unsigned *col);

#endif
