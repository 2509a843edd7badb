/*
 * prefilter.c - the literal prefilter of prefilter.h: deriving required literals from query
 * trees, and finding them in an event's raw text.
 *
 * Build. Each query's tree is reduced to a conjunction of clauses (struct cnf) over
 * interned literals; clauses are then flattened per unit into arrays, ordered most
 * selective first so that a check usually stops at its first clause. Selectivity is a
 * guess: the length of the literal, quotes included, with runs that are part of text found
 * in nearly every CloudTrail event (".amazonaws.com", "arn:aws:") counting as weak, and the
 * whole value of a top-level member (an eventName) counting more: it costs one hash lookup
 * per event, where a literal inside an object costs a search of its text.
 *
 * Search. Up to LAZY_MAX literals: memmem per literal when a clause first needs it (a hunt
 * query with two terms searches for the rarer one, and stops there when it is absent).
 * More: one pass over the text with a bigram filter, as the first stage of Hyperscan's
 * literal matchers: each literal is represented by one pair of adjacent bytes (the rarest
 * looking, by a guess of byte frequencies in CloudTrail JSON), a 64 Kib bitmap says which
 * pairs represent some literal, and only at those positions are the literals of that pair
 * compared (memcmp). The loads of the inner loop do not depend on each other (unlike an
 * Aho-Corasick automaton's), so it runs at about a byte per cycle.
 *
 * State: the flattened requirements and the automaton, immutable after th__prefilter_new.
 * Ignores: which attribute a literal was found in (any occurrence in the text counts: a
 * false positive costs a parse, never a result).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* memmem; CMake defines it for the whole tree */
#endif
#include "prefilter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "jscan.h"
#include "query_ast.h"

#define LAZY_MAX 8      /* up to this many literals: memmem, lazily */
#define CLAUSE_MAX 128  /* literals in one clause; a larger OR has no requirement */
#define CLAUSES_MAX 16  /* clauses kept per query (the most selective) */
#define LIT_MAX 256     /* bytes of one literal (longer ones are cut: still required) */
#define WHOLE_VALUE_BONUS 16 /* quality added to a top-level member's whole value */
#define LEARN_TEXTS 256 /* texts whose byte pairs are counted before the filter is rebuilt */

/* Bytes the text of a number (%lld, %.15g: digits . + - e inf nan) or a boolean can hold. */
static bool numeric_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || c == '.' || c == '+' || c == '-' || c == 'e' ||
           c == 'i' || c == 'n' || c == 'f' || c == 'a' || c == 't' || c == 'r' ||
           c == 'u' || c == 'l' || c == 's';
}

/* Bytes the raw text may hold escaped (`\"`, `\\`, `\/`, `\n`...): never searched for. */
static bool unsafe_byte(unsigned char c)
{
    return c == '"' || c == '\\' || c == '/' || c < 0x20;
}

struct lit {
    char *s; /* owned; quotes included */
    size_t n;
    size_t rare; /* the byte searched for first (the rarest looking) */
    int scope;   /* the top-level member it must occur in (index into scopes) */
    bool exists; /* the literal is the member's presence itself (s is its key, quoted) */
    bool numeric;
    int quality;
};

struct clause {
    size_t *ids; /* owned, sorted, distinct */
    size_t n;
};

/* A conjunction of clauses. n == 0 and !never: no requirement. */
struct cnf {
    struct clause *c; /* owned */
    size_t n;
    bool never; /* can never match */
};

struct builder {
    struct lit *lits;
    size_t nlits, caplits;
    char **scopes; /* top-level keys, owned */
    size_t nscopes, capscopes;
};

/* A scope's first-clause literals (ids), by how a member's value is checked for them. */
struct pf_scope_ix {
    uint32_t *all, nall;     /* every one: searched for in an object or array value */
    uint32_t *other, nother; /* on a string value: searched for (or the member's presence) */
    uint32_t *plen, nplen;   /* distinct lengths of the prefix literals' text */
    uint32_t *slen, nslen;   /* and of the suffix ones */
};

enum { SK_EXACT, SK_PREFIX, SK_SUFFIX };

/* A hashed literal: its text without the quote(s) that anchor it. */
struct pf_skey {
    uint32_t id, scope, kind, n;
    const char *c;
    uint32_t h;
};

/* One literal under the pair of bytes that represents it in the filter. */
struct pf_ent {
    uint64_t pre, premask; /* the literal's first (up to 8) bytes, little-endian */
    uint32_t id;           /* the literal */
    uint32_t off;          /* where the pair sits in the literal */
    bool last;             /* the last entry of its pair */
};

/* Flattened, per unit: queries, each a run of clauses, each a run of literal ids. */
struct pf_unit {
    uint32_t first, n; /* queries */
    bool always;
};
struct pf_query {
    uint32_t first, n; /* clauses */
};
struct pf_clause {
    uint32_t first, n; /* entries of ids */
};

struct th_prefilter {
    struct lit *lits;
    size_t nlits;
    size_t nunits;
    struct pf_unit *units;
    struct pf_query *queries;
    struct pf_clause *clauses;
    uint32_t *ids;
    bool can_skip;
    bool any_numeric;

    /* The bigram filter (nlits > LAZY_MAX): one bit per pair of bytes that some literal
     * holds at its chosen offset; the buckets list those (literal, offset) entries. */
    bool filtered;
    bool short_lits; /* a one-byte literal exists */
    uint64_t bigram[65536 / 64];
    uint32_t *bucket;     /* per pair of bytes: 1 + the first of its entries, or 0 */
    struct pf_ent *ents;  /* grouped by pair; the last of a group has last set */
    /* Evaluation by literal: for each literal, the queries whose first (most selective)
     * clause holds it; a query is looked at only when one of those is present. */
    uint32_t *first_of;  /* per literal: start in first_q (nlits + 1 entries) */
    uint32_t *first_q;   /* query indices */
    uint32_t *query_unit; /* per query: its unit */
    size_t nqueries;
    uint32_t *numeric;   /* the numeric literals' ids */
    size_t nnumeric;
    uint64_t *always;    /* units with no requirement, a mask */
    uint16_t *freq;      /* while learning: pair counts of the first texts (saturating) */
    unsigned learn_left; /* texts still to learn from */

    /* Scopes: the top-level keys literals are confined to, and an open-addressing table
     * from a key's bytes to its scope. */
    char **scopes;
    size_t *scope_len;
    size_t nscopes;
    int32_t *scope_slot; /* scope id or -1, scope_slots entries (a power of two) */
    uint32_t scope_slots;

    /* First-clause literals by scope, for checks with a member table: on a member whose
     * value is a string, exact, prefix and suffix literals are hash lookups of the value;
     * the others (and all of them on an object or array value) are searched for in it. */
    bool *is_first;            /* per literal: in some query's first clause */
    struct pf_scope_ix *six;   /* per scope */
    struct pf_skey *skeys;     /* the hashed ones */
    int32_t *sk_slot;          /* index into skeys or -1 (sk_slots entries, a power of two) */
    uint32_t sk_slots, nskeys;
};

/* ---------------------------------------------------------------------------------------
 * Derivation
 * ------------------------------------------------------------------------------------- */

static void cnf_fini(struct cnf *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->c[i].ids);
    free(c->c);
    memset(c, 0, sizeof *c);
}

static bool is_sub(const char *hay, size_t hn, const char *needle, size_t nn)
{
    return nn <= hn && memmem(hay, hn, needle, nn) != NULL;
}

/* The selectivity guess of a literal's content (without its quotes). */
static int quality(const char *s, size_t n, int anchors, bool numeric)
{
    static const char *const common[] = {".amazonaws.com", "arn:aws:", "AwsApiCall",
                                          "Management", "AssumedRole", "eventVersion"};
    for (size_t i = 0; i < TH_ARRAY_LEN(common); i++)
        if (is_sub(common[i], strlen(common[i]), s, n))
            return 1;
    int q = (int)(n > 64 ? 64 : n) + anchors;
    if (is_sub(s, n, ".amazonaws.com", 14))
        q -= 12; /* an eventSource is as rare as its service name, not its length */
    return numeric ? (q + 1) / 2 : q;
}

/* Interns a scope (a top-level key); returns its id, or -1 on out of memory. */
static int intern_scope(struct builder *b, const char *key)
{
    for (size_t i = 0; i < b->nscopes; i++)
        if (strcmp(b->scopes[i], key) == 0)
            return (int)i;
    void *p = b->scopes;
    if (th__grow(&p, &b->capscopes, b->nscopes + 1, sizeof *b->scopes))
        return -1;
    b->scopes = p;
    if (!(b->scopes[b->nscopes] = th__strdup(key)))
        return -1;
    return (int)b->nscopes++;
}

static int byte_weight(unsigned char c);

/* Interns a literal of a scope; returns its id, or -1 on out of memory. */
static long intern(struct builder *b, const char *s, size_t n, bool numeric, int q, int scope,
                   bool exists)
{
    if (scope < 0)
        return -1;
    for (size_t i = 0; i < b->nlits; i++)
        if (b->lits[i].n == n && b->lits[i].scope == scope && b->lits[i].exists == exists &&
            memcmp(b->lits[i].s, s, n) == 0)
            return (long)i;
    void *p = b->lits;
    if (th__grow(&p, &b->caplits, b->nlits + 1, sizeof *b->lits))
        return -1;
    b->lits = p;
    char *copy = malloc(n + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, n);
    copy[n] = '\0';
    size_t rare = 0;
    for (size_t i = 1; i < n; i++)
        if (byte_weight((unsigned char)s[i]) <= byte_weight((unsigned char)s[rare]))
            rare = i;
    b->lits[b->nlits] = (struct lit){copy, n, rare, scope, exists, numeric, q};
    return (long)b->nlits++;
}

/* The best literal candidate seen so far for one glob. */
struct best {
    char buf[LIT_MAX + 2];
    size_t n;
    bool numeric;
    int q; /* 0: none yet */
};

/* Offers the sub-run s[0..n) (no unsafe byte), anchored at its start / end. */
static void offer(struct best *bt, const char *s, size_t n, bool astart, bool aend)
{
    if (n == 0)
        return;
    if (n > LIT_MAX) { /* a cut literal loses its anchor on the cut side */
        n = LIT_MAX;
        aend = false;
    }
    bool numeric = true;
    for (size_t i = 0; i < n && numeric; i++)
        numeric = numeric_byte((unsigned char)s[i]);
    if (numeric)
        astart = aend = false;
    int q = quality(s, n, (int)astart + (int)aend, numeric);
    if (q <= bt->q)
        return;
    size_t k = 0;
    if (astart)
        bt->buf[k++] = '"';
    memcpy(bt->buf + k, s, n);
    k += n;
    if (aend)
        bt->buf[k++] = '"';
    bt->n = k;
    bt->numeric = numeric;
    bt->q = q;
}

/* Offers a literal run of the pattern, cut at unsafe bytes. */
static void offer_run(struct best *bt, const char *s, size_t n, bool astart, bool aend)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && unsafe_byte((unsigned char)s[i]))
            i++;
        size_t j = i;
        while (j < n && !unsafe_byte((unsigned char)s[j]))
            j++;
        if (j > i)
            offer(bt, s + i, j - i, astart && i == 0, aend && j == n);
        i = j;
    }
}

/* The best literal of a glob on attribute a: its id in *id, or -1 when it has none. */
static int glob_literal(struct builder *b, const struct th_attr *a, const struct th_glob *g,
                        long *id)
{
    struct best bt;
    bt.q = 0;
    bt.n = 0;
    switch (g->kind) {
    case TH_GLOB_EXACT:
        offer_run(&bt, g->lit, g->lit_len, true, true);
        break;
    case TH_GLOB_PREFIX:
        offer_run(&bt, g->lit, g->lit_len, true, false);
        break;
    case TH_GLOB_SUFFIX:
        offer_run(&bt, g->lit, g->lit_len, false, true);
        break;
    case TH_GLOB_SUBSTR:
        offer_run(&bt, g->lit, g->lit_len, false, false);
        break;
    case TH_GLOB_ANY:
        break;
    case TH_GLOB_GENERAL:
        for (size_t i = 0; i < g->len;) {
            if (g->op[i] != TH_GLOB_OP_LIT) {
                i++;
                continue;
            }
            size_t j = i;
            while (j < g->len && g->op[j] == TH_GLOB_OP_LIT)
                j++;
            offer_run(&bt, g->pat + i, j - i, i == 0, j == g->len);
            i = j;
        }
        break;
    }
    *id = -1;
    if (bt.q == 0)
        return 0; /* no requirement */
    /* The whole value of a top-level member (eventName, eventSource...) is found by one hash
     * lookup per event; any other literal by a search of its member's text. First clauses
     * are looked for in every event, so such a clause goes first unless it is weak. */
    if (a->nseg == 1 && bt.q > 1 && bt.n >= 2 && bt.buf[0] == '"' && bt.buf[bt.n - 1] == '"')
        bt.q += WHOLE_VALUE_BONUS;
    *id = intern(b, bt.buf, bt.n, bt.numeric, bt.q, intern_scope(b, a->seg[0]), false);
    return *id < 0 ? TH_ENOMEM : 0;
}

/*
 * The literal of the key an attribute's value sits under: a raw path can only have a value
 * when its last key occurs in the text, as a JSON string (`"policyDocument"`), inside its
 * top-level member; a one-key path, when that member exists. Keys found in nearly every
 * CloudTrail event are interned as weak. *id is -1 when the key holds a byte JSON may
 * escape.
 */
static int key_literal(struct builder *b, const struct th_attr *a, long *id)
{
    static const char *const common[] = {
        "eventVersion", "userIdentity", "type", "principalId", "arn", "accountId",
        "accessKeyId", "sessionContext", "sessionIssuer", "userName", "attributes",
        "creationDate", "mfaAuthenticated", "eventTime", "eventSource", "eventName",
        "awsRegion", "sourceIPAddress", "userAgent", "requestParameters", "responseElements",
        "requestID", "eventID", "readOnly", "resources", "eventType", "managementEvent",
        "recipientAccountId", "eventCategory", "tlsDetails", "ARN", "additionalEventData"};
    const char *k = a->seg[a->nseg - 1];
    size_t n = strlen(k);
    *id = -1;
    if (n == 0 || n > LIT_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (unsafe_byte((unsigned char)k[i]))
            return 0;
    int q = (int)(n > 64 ? 64 : n) + 2;
    for (size_t i = 0; i < TH_ARRAY_LEN(common); i++)
        if (strcmp(common[i], k) == 0)
            q = 1;
    char buf[LIT_MAX + 2];
    buf[0] = '"';
    memcpy(buf + 1, k, n);
    buf[n + 1] = '"';
    *id = intern(b, buf, n + 2, false, q, intern_scope(b, a->seg[0]), a->nseg == 1);
    return *id < 0 ? TH_ENOMEM : 0;
}

/* Appends a one-literal clause for each id >= 0. */
static int add_units(struct cnf *out, const long *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0)
            continue;
        void *p = realloc(out->c, (out->n + 1) * sizeof *out->c);
        if (!p)
            return TH_ENOMEM;
        out->c = p;
        if (!(out->c[out->n].ids = malloc(sizeof(size_t))))
            return TH_ENOMEM;
        out->c[out->n].ids[0] = (size_t)ids[i];
        out->c[out->n].n = 1;
        out->n++;
    }
    return 0;
}

static int clause_quality(const struct builder *b, const struct clause *c)
{
    int q = 1 << 30;
    for (size_t i = 0; i < c->n; i++)
        if (b->lits[c->ids[i]].quality < q)
            q = b->lits[c->ids[i]].quality;
    return q;
}

/* Better first: higher quality, then fewer literals. */
static bool clause_better(const struct builder *b, const struct clause *x, const struct clause *y)
{
    int qx = clause_quality(b, x), qy = clause_quality(b, y);
    return qx != qy ? qx > qy : x->n < y->n;
}

static int add_clause(struct cnf *c, const size_t *ids, size_t n)
{
    void *p = realloc(c->c, (c->n + 1) * sizeof *c->c);
    if (!p)
        return TH_ENOMEM;
    c->c = p;
    size_t *copy = malloc((n ? n : 1) * sizeof *copy);
    if (!copy)
        return TH_ENOMEM;
    memcpy(copy, ids, n * sizeof *copy);
    c->c[c->n].ids = copy;
    c->c[c->n].n = n;
    c->n++;
    return 0;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

static int derive(struct builder *b, const struct th_query *q, const struct th_qnode *n,
                  struct cnf *out);

static int derive_and(struct builder *b, const struct th_query *q, const struct th_qnode *n,
                      struct cnf *out)
{
    for (size_t k = 0; k < n->nkids; k++) {
        struct cnf kid = {0};
        int rc = derive(b, q, n->kids[k], &kid);
        if (rc < 0)
            return rc;
        if (kid.never) {
            cnf_fini(&kid);
            cnf_fini(out);
            out->never = true;
            return 0;
        }
        for (size_t i = 0; i < kid.n && rc == 0; i++)
            rc = add_clause(out, kid.c[i].ids, kid.c[i].n);
        cnf_fini(&kid);
        if (rc < 0)
            return rc;
    }
    /* Keep the most selective clauses: dropping a clause only lets more events through. */
    if (out->n > CLAUSES_MAX) {
        for (size_t i = 0; i < CLAUSES_MAX; i++)
            for (size_t j = i + 1; j < out->n; j++)
                if (clause_better(b, &out->c[j], &out->c[i])) {
                    struct clause t = out->c[i];
                    out->c[i] = out->c[j];
                    out->c[j] = t;
                }
        for (size_t i = CLAUSES_MAX; i < out->n; i++)
            free(out->c[i].ids);
        out->n = CLAUSES_MAX;
    }
    return 0;
}

static int derive_or(struct builder *b, const struct th_query *q, const struct th_qnode *n,
                     struct cnf *out)
{
    size_t ids[CLAUSE_MAX];
    size_t nids = 0;
    bool any = false, unbounded = false;
    for (size_t k = 0; k < n->nkids && !unbounded; k++) {
        struct cnf kid = {0};
        int rc = derive(b, q, n->kids[k], &kid);
        if (rc < 0)
            return rc;
        if (kid.never) {
            cnf_fini(&kid);
            continue; /* a child that never matches adds no way to match */
        }
        any = true;
        if (kid.n == 0) {
            unbounded = true; /* this child may match anything: so may the OR */
        } else {
            const struct clause *best = &kid.c[0];
            for (size_t i = 1; i < kid.n; i++)
                if (clause_better(b, &kid.c[i], best))
                    best = &kid.c[i];
            for (size_t i = 0; i < best->n && !unbounded; i++) {
                bool seen = false;
                for (size_t j = 0; j < nids && !seen; j++)
                    seen = ids[j] == best->ids[i];
                if (seen)
                    continue;
                if (nids == CLAUSE_MAX)
                    unbounded = true;
                else
                    ids[nids++] = best->ids[i];
            }
        }
        cnf_fini(&kid);
    }
    if (!any) {
        out->never = true;
        return 0;
    }
    if (unbounded)
        return 0;
    qsort(ids, nids, sizeof ids[0], cmp_size);
    return add_clause(out, ids, nids);
}

static int derive(struct builder *b, const struct th_query *q, const struct th_qnode *n,
                  struct cnf *out)
{
    memset(out, 0, sizeof *out);
    switch (n->kind) {
    case TH_QN_AND:
        return derive_and(b, q, n, out);
    case TH_QN_OR:
        return derive_or(b, q, n, out);
    case TH_QN_EXISTS:
    case TH_QN_MATCH: {
        const struct th_attr *a = &q->attrs[n->attr];
        if (a->kind == TH_ATTR_NEVER) {
            out->never = true;
            return 0;
        }
        if (a->kind != TH_ATTR_RAW)
            return 0;
        /* The value's literal, and the key's when the value says little (or nothing:
         * existence, ranges, regexes, CIDR). */
        long ids[2] = {-1, -1};
        int rc = 0;
        if (n->kind == TH_QN_MATCH && n->m.kind == TH_QM_GLOB)
            rc = glob_literal(b, a, &n->m.glob, &ids[0]);
        if (rc == 0 && (ids[0] < 0 || b->lits[ids[0]].quality < 6))
            rc = key_literal(b, a, &ids[1]);
        if (rc == 0)
            rc = add_units(out, ids, 2);
        if (rc < 0)
            cnf_fini(out);
        return rc;
    }
    case TH_QN_NOT:
    case TH_QN_TRUE:
    case TH_QN_TEXT:
        return 0;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * The bigram filter
 * ------------------------------------------------------------------------------------- */

/* A guess of how often a byte occurs in CloudTrail JSON: lower is rarer. */
static int byte_weight(unsigned char c)
{
    if (c == '"' || c == ':' || c == ',' || c == ' ')
        return 12; /* JSON's own bytes: in every member */
    if (c >= 'a' && c <= 'z')
        return strchr("etaoinsrlcdum", c) ? 10 : 8;
    if (c == '.' || c == '-' || c == '/' || c == '_')
        return 9;
    if (c >= '0' && c <= '9')
        return 6;
    if (c >= 'A' && c <= 'Z')
        return 4;
    return 3;
}

static int build_bigrams(struct th_prefilter *pf)
{
    /* Entries: (bigram, literal, offset of the bigram in the literal). A one-byte literal
     * gets an entry for every byte that may follow it (or the end: then offset 0 of a
     * two-byte window that does not exist is checked by the tail test). */
    size_t nent = 0;
    for (size_t i = 0; i < pf->nlits; i++)
        nent += pf->lits[i].n >= 2 ? 1 : 256;
    struct ent {
        uint32_t h, id, off;
    } *ents = malloc(nent * sizeof *ents);
    if (!ents)
        return TH_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < pf->nlits; i++) {
        const unsigned char *l = (const unsigned char *)pf->lits[i].s;
        size_t n = pf->lits[i].n;
        if (n < 2) {
            pf->short_lits = true;
            for (uint32_t c = 0; c < 256; c++)
                ents[k++] = (struct ent){l[0] | c << 8, (uint32_t)i, 0};
            continue;
        }
        /* The rarest pair: by the frequencies learnt from the first events when there
         * are some, else (and to break ties) by the guess. */
        size_t best = 0;
        uint64_t bw = UINT64_MAX;
        for (size_t j = 0; j + 1 < n; j++) {
            uint64_t w = (uint64_t)byte_weight(l[j]) + (uint64_t)byte_weight(l[j + 1]);
            if (pf->freq)
                w += (uint64_t)pf->freq[l[j] | (uint32_t)l[j + 1] << 8] << 8;
            if (w < bw) {
                bw = w;
                best = j;
            }
        }
        ents[k++] = (struct ent){l[best] | (uint32_t)l[best + 1] << 8, (uint32_t)i,
                                 (uint32_t)best};
    }
    /* Group by pair: entries sorted by pair, a direct index from pair to group. */
    for (size_t i = 1; i < nent; i++) /* insertion sort: a few hundred, stable */
        for (size_t j = i; j > 0 && ents[j - 1].h > ents[j].h; j--) {
            struct ent t = ents[j];
            ents[j] = ents[j - 1];
            ents[j - 1] = t;
        }
    /* Built aside, so that on failure the filter in place stays whole. */
    uint32_t *bucket = calloc(65536, sizeof *bucket);
    struct pf_ent *pents = calloc(nent ? nent : 1, sizeof *pents);
    if (!bucket || !pents || nent >= UINT32_MAX) {
        free(bucket);
        free(pents);
        free(ents);
        return TH_ENOMEM;
    }
    free(pf->bucket);
    free(pf->ents);
    pf->bucket = bucket;
    pf->ents = pents;
    memset(pf->bigram, 0, sizeof pf->bigram);
    for (size_t i = 0; i < nent; i++) {
        const struct lit *l = &pf->lits[ents[i].id];
        struct pf_ent *pe = &pf->ents[i];
        size_t npre = l->n < 8 ? l->n : 8;
        pe->id = ents[i].id;
        pe->off = ents[i].off;
        for (size_t j = 0; j < npre; j++) {
            pe->pre |= (uint64_t)(unsigned char)l->s[j] << (8 * j);
            pe->premask |= (uint64_t)0xff << (8 * j);
        }
        pe->last = i + 1 == nent || ents[i + 1].h != ents[i].h;
        if (i == 0 || ents[i - 1].h != ents[i].h)
            pf->bucket[ents[i].h] = (uint32_t)(i + 1);
        pf->bigram[ents[i].h >> 6] |= UINT64_C(1) << (ents[i].h & 63);
    }
    free(ents);
    return 0;
}

/* The evaluation index: per literal the queries it opens, the numeric literals, the
 * always-units. */
static int build_index(struct th_prefilter *pf)
{
    size_t mw = (pf->nunits + 63) / 64;
    pf->first_of = calloc(pf->nlits + 1, sizeof *pf->first_of);
    pf->query_unit = calloc(pf->nqueries ? pf->nqueries : 1, sizeof *pf->query_unit);
    pf->numeric = calloc(pf->nlits ? pf->nlits : 1, sizeof *pf->numeric);
    pf->always = calloc(mw ? mw : 1, sizeof *pf->always);
    if (!pf->first_of || !pf->query_unit || !pf->numeric || !pf->always)
        return TH_ENOMEM;
    size_t total = 0;
    for (size_t u = 0; u < pf->nunits; u++) {
        const struct pf_unit *pu = &pf->units[u];
        if (pu->always)
            pf->always[u / 64] |= UINT64_C(1) << (u % 64);
        for (uint32_t qi = 0; qi < pu->n; qi++) {
            uint32_t q = pu->first + qi;
            pf->query_unit[q] = (uint32_t)u;
            const struct pf_query *pq = &pf->queries[q];
            if (pu->always || pq->n == 0)
                continue;
            const struct pf_clause *pc = &pf->clauses[pq->first];
            for (uint32_t k = 0; k < pc->n; k++)
                pf->first_of[pf->ids[pc->first + k]]++;
            total += pc->n;
        }
    }
    pf->first_q = calloc(total ? total : 1, sizeof *pf->first_q);
    if (!pf->first_q)
        return TH_ENOMEM;
    uint32_t pos = 0; /* counts to starts, then fill (first_of[id] moves to the end) */
    for (size_t i = 0; i <= pf->nlits; i++) {
        uint32_t c = pf->first_of[i];
        pf->first_of[i] = pos;
        pos += c;
    }
    for (size_t u = 0; u < pf->nunits; u++) {
        const struct pf_unit *pu = &pf->units[u];
        for (uint32_t qi = 0; qi < pu->n && !pu->always; qi++) {
            uint32_t q = pu->first + qi;
            const struct pf_query *pq = &pf->queries[q];
            if (pq->n == 0)
                continue;
            const struct pf_clause *pc = &pf->clauses[pq->first];
            for (uint32_t k = 0; k < pc->n; k++)
                pf->first_q[pf->first_of[pf->ids[pc->first + k]]++] = q;
        }
    }
    for (size_t i = pf->nlits; i > 0; i--) /* back to starts */
        pf->first_of[i] = pf->first_of[i - 1];
    pf->first_of[0] = 0;
    for (size_t i = 0; i < pf->nlits; i++) {
        if (pf->lits[i].numeric)
            pf->numeric[pf->nnumeric++] = (uint32_t)i;
        pf->any_numeric |= pf->lits[i].numeric;
    }
    return 0;
}

/* The scope of a top-level key, or -1. */
static int scope_of(const struct th_prefilter *pf, const char *k, size_t n)
{
    uint32_t mask = pf->scope_slots - 1;
    for (uint32_t i = th__hash_bytes(k, n) & mask;; i = (i + 1) & mask) {
        int32_t sc = pf->scope_slot[i];
        if (sc < 0)
            return -1;
        if (pf->scope_len[sc] == n && th__bytes_eq(pf->scopes[sc], k, n))
            return sc;
    }
}

static int build_scopes(struct th_prefilter *pf)
{
    pf->scope_slots = 16;
    while (pf->scope_slots < 2 * pf->nscopes + 2)
        pf->scope_slots *= 2;
    pf->scope_len = calloc(pf->nscopes + 1, sizeof *pf->scope_len);
    pf->scope_slot = malloc(pf->scope_slots * sizeof *pf->scope_slot);
    if (!pf->scope_len || !pf->scope_slot)
        return TH_ENOMEM;
    for (uint32_t i = 0; i < pf->scope_slots; i++)
        pf->scope_slot[i] = -1;
    for (size_t s = 0; s < pf->nscopes; s++) {
        pf->scope_len[s] = strlen(pf->scopes[s]);
        uint32_t i = th__hash_bytes(pf->scopes[s], pf->scope_len[s]) & (pf->scope_slots - 1);
        while (pf->scope_slot[i] >= 0)
            i = (i + 1) & (pf->scope_slots - 1);
        pf->scope_slot[i] = (int32_t)s;
    }
    return 0;
}

static uint32_t skey_hash(uint32_t scope, uint32_t kind, const char *c, size_t n)
{
    uint32_t h = th__hash_bytes(c, n) ^ (scope * 4 + kind) * 2654435761u;
    return h ? h : 1;
}

static int push_id(uint32_t **arr, uint32_t *n, uint32_t v, bool distinct)
{
    for (uint32_t i = 0; distinct && i < *n; i++)
        if ((*arr)[i] == v)
            return 0;
    uint32_t *np = realloc(*arr, (*n + 1) * sizeof **arr);
    if (!np)
        return TH_ENOMEM;
    *arr = np;
    (*arr)[(*n)++] = v;
    return 0;
}

/* The first-clause literals of each scope, and the hash of the anchored ones. */
static int build_scope_index(struct th_prefilter *pf)
{
    pf->is_first = calloc(pf->nlits + 1, sizeof *pf->is_first);
    pf->six = calloc(pf->nscopes + 1, sizeof *pf->six);
    pf->skeys = calloc(pf->nlits + 1, sizeof *pf->skeys);
    if (!pf->is_first || !pf->six || !pf->skeys)
        return TH_ENOMEM;
    for (size_t u = 0; u < pf->nunits; u++) {
        const struct pf_unit *pu = &pf->units[u];
        for (uint32_t qi = 0; qi < pu->n && !pu->always; qi++) {
            const struct pf_query *pq = &pf->queries[pu->first + qi];
            if (pq->n == 0)
                continue;
            const struct pf_clause *pc = &pf->clauses[pq->first];
            for (uint32_t k = 0; k < pc->n; k++)
                pf->is_first[pf->ids[pc->first + k]] = true;
        }
    }
    for (uint32_t id = 0; id < pf->nlits; id++) {
        if (!pf->is_first[id])
            continue;
        const struct lit *l = &pf->lits[id];
        struct pf_scope_ix *x = &pf->six[l->scope];
        if (push_id(&x->all, &x->nall, id, false) < 0)
            return TH_ENOMEM;
        bool qs = l->n >= 2 && l->s[0] == '"', qe = l->n >= 2 && l->s[l->n - 1] == '"';
        if (l->exists || l->numeric || (!qs && !qe)) {
            if (push_id(&x->other, &x->nother, id, false) < 0)
                return TH_ENOMEM;
            continue;
        }
        struct pf_skey *k = &pf->skeys[pf->nskeys++];
        k->id = id;
        k->scope = (uint32_t)l->scope;
        k->kind = qs && qe ? SK_EXACT : qs ? SK_PREFIX : SK_SUFFIX;
        k->c = l->s + (qs ? 1 : 0);
        k->n = (uint32_t)(l->n - (qs ? 1 : 0) - (qe ? 1 : 0));
        k->h = skey_hash(k->scope, k->kind, k->c, k->n);
        if ((k->kind == SK_PREFIX && push_id(&x->plen, &x->nplen, k->n, true) < 0) ||
            (k->kind == SK_SUFFIX && push_id(&x->slen, &x->nslen, k->n, true) < 0))
            return TH_ENOMEM;
    }
    pf->sk_slots = 16;
    while (pf->sk_slots < 2 * pf->nskeys + 2)
        pf->sk_slots *= 2;
    pf->sk_slot = malloc(pf->sk_slots * sizeof *pf->sk_slot);
    if (!pf->sk_slot)
        return TH_ENOMEM;
    for (uint32_t i = 0; i < pf->sk_slots; i++)
        pf->sk_slot[i] = -1;
    for (uint32_t i = 0; i < pf->nskeys; i++) {
        uint32_t j = pf->skeys[i].h & (pf->sk_slots - 1);
        while (pf->sk_slot[j] >= 0)
            j = (j + 1) & (pf->sk_slots - 1);
        pf->sk_slot[j] = (int32_t)i;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * API
 * ------------------------------------------------------------------------------------- */

void th__prefilter_free(struct th_prefilter *pf)
{
    if (!pf)
        return;
    for (size_t i = 0; i < pf->nlits; i++)
        free(pf->lits[i].s);
    free(pf->lits);
    free(pf->units);
    free(pf->queries);
    free(pf->clauses);
    free(pf->ids);
    free(pf->bucket);
    free(pf->ents);
    free(pf->first_of);
    free(pf->first_q);
    free(pf->query_unit);
    free(pf->numeric);
    free(pf->always);
    free(pf->freq);
    for (size_t i = 0; i < pf->nscopes; i++)
        free(pf->scopes[i]);
    free(pf->scopes);
    free(pf->scope_len);
    free(pf->scope_slot);
    for (size_t i = 0; pf->six && i < pf->nscopes; i++) {
        free(pf->six[i].all);
        free(pf->six[i].other);
        free(pf->six[i].plen);
        free(pf->six[i].slen);
    }
    free(pf->six);
    free(pf->skeys);
    free(pf->sk_slot);
    free(pf->is_first);
    free(pf);
}

int th__prefilter_new(const struct th_query *const *queries, const size_t *unit_of,
                      size_t nqueries, size_t nunits, struct th_prefilter **out)
{
    *out = NULL;
    struct builder b = {0};
    struct cnf *cnfs = calloc(nqueries ? nqueries : 1, sizeof *cnfs);
    struct th_prefilter *pf = calloc(1, sizeof *pf);
    int rc = TH_ENOMEM;
    if (!cnfs || !pf)
        goto fail;
    size_t nclauses = 0, nids = 0;
    for (size_t i = 0; i < nqueries; i++) {
        if ((rc = derive(&b, queries[i], queries[i]->root, &cnfs[i])) < 0)
            goto fail;
        /* Most selective clause first: a check stops at the first clause that fails. */
        struct cnf *c = &cnfs[i];
        for (size_t x = 0; x < c->n; x++)
            for (size_t y = x + 1; y < c->n; y++)
                if (clause_better(&b, &c->c[y], &c->c[x])) {
                    struct clause t = c->c[x];
                    c->c[x] = c->c[y];
                    c->c[y] = t;
                }
        nclauses += c->n;
        for (size_t k = 0; k < c->n; k++)
            nids += c->c[k].n;
    }
    rc = TH_ENOMEM;
    pf->nunits = nunits;
    pf->units = calloc(nunits ? nunits : 1, sizeof *pf->units);
    pf->queries = calloc(nqueries ? nqueries : 1, sizeof *pf->queries);
    pf->clauses = calloc(nclauses ? nclauses : 1, sizeof *pf->clauses);
    pf->ids = calloc(nids ? nids : 1, sizeof *pf->ids);
    if (!pf->units || !pf->queries || !pf->clauses || !pf->ids)
        goto fail;
    uint32_t nq = 0, ncl = 0, nid = 0;
    pf->can_skip = true;
    for (size_t u = 0; u < nunits; u++) {
        struct pf_unit *pu = &pf->units[u];
        pu->first = nq;
        for (size_t i = 0; i < nqueries; i++) {
            if (unit_of[i] != u || cnfs[i].never)
                continue;
            if (cnfs[i].n == 0)
                pu->always = true;
            struct pf_query *pq = &pf->queries[nq++];
            pq->first = ncl;
            pq->n = (uint32_t)cnfs[i].n;
            for (size_t k = 0; k < cnfs[i].n; k++) {
                struct pf_clause *pc = &pf->clauses[ncl++];
                pc->first = nid;
                pc->n = (uint32_t)cnfs[i].c[k].n;
                for (size_t j = 0; j < cnfs[i].c[k].n; j++)
                    pf->ids[nid++] = (uint32_t)cnfs[i].c[k].ids[j];
            }
        }
        pu->n = nq - pu->first;
        if (pu->always)
            pf->can_skip = false;
    }
    pf->lits = b.lits;
    pf->nlits = b.nlits;
    b.lits = NULL;
    b.nlits = 0;
    pf->scopes = b.scopes;
    pf->nscopes = b.nscopes;
    b.scopes = NULL;
    b.nscopes = 0;
    pf->nqueries = nq;
    if ((rc = build_index(pf)) < 0 || (rc = build_scopes(pf)) < 0 ||
        (rc = build_scope_index(pf)) < 0)
        goto fail;
    if (pf->nlits > LAZY_MAX) {
        pf->filtered = true;
        if ((rc = build_bigrams(pf)) < 0)
            goto fail;
        pf->freq = calloc(65536, sizeof *pf->freq); /* no memory: no learning, no harm */
        pf->learn_left = pf->freq ? LEARN_TEXTS : 0;
    }
    for (size_t i = 0; i < nqueries; i++)
        cnf_fini(&cnfs[i]);
    free(cnfs);
    *out = pf;
    return 0;
fail:
    for (size_t i = 0; cnfs && i < nqueries; i++)
        cnf_fini(&cnfs[i]);
    free(cnfs);
    for (size_t i = 0; i < b.nlits; i++)
        free(b.lits[i].s);
    free(b.lits);
    for (size_t i = 0; i < b.nscopes; i++)
        free(b.scopes[i]);
    free(b.scopes);
    th__prefilter_free(pf);
    return rc < 0 ? rc : TH_ENOMEM;
}

void th__prefilter_learn(struct th_prefilter *pf, const char *p, size_t n)
{
    if (!pf->freq)
        return;
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i + 1 < n; i++) {
        uint16_t *f = &pf->freq[b[i] | (uint32_t)b[i + 1] << 8];
        *f += *f != UINT16_MAX;
    }
    if (--pf->learn_left == 0) {
        /* Out of memory here leaves the old filter in place, which is just as exact. */
        (void)build_bigrams(pf);
        free(pf->freq);
        pf->freq = NULL;
    }
}

bool th__prefilter_learning(const struct th_prefilter *pf)
{
    return pf->freq != NULL;
}

size_t th__prefilter_units(const struct th_prefilter *pf)
{
    return pf->nunits;
}

size_t th__prefilter_mask_words(const struct th_prefilter *pf)
{
    return (pf->nunits + 63) / 64;
}

bool th__prefilter_unit_always(const struct th_prefilter *pf, size_t u)
{
    return u < pf->nunits && pf->units[u].always;
}

bool th__prefilter_can_skip(const struct th_prefilter *pf)
{
    return pf->can_skip;
}

size_t th__prefilter_literals(const struct th_prefilter *pf)
{
    return pf->nlits;
}

void th__pf_scratch_fini(struct th_pf_scratch *s)
{
    if (!s)
        return;
    free(s->present);
    free(s->bits);
    free(s->list);
    free(s->stamp);
    free(s->stamp_scope);
    free(s->scope_mem);
    free(s->scopes_seen);
    memset(s, 0, sizeof *s);
}

/* Literal presence: 0 unknown (lazy mode only), 1 present, 2 absent; in present[] as two
 * bits per literal. */
static inline unsigned lit_state(const uint64_t *pr, size_t i)
{
    return (unsigned)(pr[i / 32] >> (2 * (i % 32))) & 3u;
}

static inline void lit_set(uint64_t *pr, size_t i, unsigned v)
{
    pr[i / 32] = (pr[i / 32] & ~(UINT64_C(3) << (2 * (i % 32)))) | ((uint64_t)v << (2 * (i % 32)));
}

/* One check in the lazy modes: the text, and whether literals are looked for in their
 * scopes (the member table is complete) or anywhere in the text. */
struct lazy {
    const struct th_prefilter *pf;
    struct th_pf_scratch *s;
    const char *p;
    size_t n;
    unsigned flags;
    bool scoped;
};

/* Literal l in h[0..hn): memchr for its rarest looking byte, then the whole of it. */
static bool find_in(const char *h, size_t hn, const struct lit *l)
{
    if (l->n > hn)
        return false;
    const char c = l->s[l->rare];
    const char *last = h + hn - l->n + l->rare; /* the last place its rare byte may be */
    for (const char *q = h + l->rare; q <= last; q++) {
        q = memchr(q, c, (size_t)(last - q) + 1);
        if (!q)
            return false;
        if (th__bytes_eq(q - l->rare, l->s, l->n))
            return true;
    }
    return false;
}

static bool present(struct lazy *c, uint32_t id)
{
    const struct lit *l = &c->pf->lits[id];
    if (l->numeric && (c->flags & TH_JSCAN_ODD_NUMBER))
        return true;
    unsigned st = lit_state(c->s->present, id);
    if (st == 0) {
        bool yes;
        if (!c->scoped) {
            yes = memmem(c->p, c->n, l->s, l->n) != NULL;
        } else if (c->s->stamp_scope[l->scope] != c->s->scope_epoch) {
            yes = false; /* the member is absent */
        } else {
            const struct th_jmember *m = &c->s->scope_mem[l->scope];
            yes = l->exists || find_in(c->p + m->start, m->end - m->start, l);
        }
        st = yes ? 1 : 2;
        lit_set(c->s->present, id, st);
    }
    return st == 1;
}

/* Each unit's queries in turn, clause by clause, literals looked for when first needed. */
static size_t check_lazy(struct lazy *c, uint64_t *mask)
{
    const struct th_prefilter *pf = c->pf;
    size_t count = 0;
    memset(c->s->present, 0, ((pf->nlits + 31) / 32 + 1) * sizeof *c->s->present);
    for (size_t u = 0; u < pf->nunits; u++) {
        const struct pf_unit *pu = &pf->units[u];
        bool may = pu->always;
        for (uint32_t qi = 0; qi < pu->n && !may; qi++) {
            const struct pf_query *pq = &pf->queries[pu->first + qi];
            bool ok = true;
            for (uint32_t ci = 0; ci < pq->n && ok; ci++) {
                const struct pf_clause *pc = &pf->clauses[pq->first + ci];
                ok = false;
                for (uint32_t k = 0; k < pc->n && !ok; k++)
                    ok = present(c, pf->ids[pc->first + k]);
            }
            may = ok;
        }
        if (may) {
            mask[u / 64] |= UINT64_C(1) << (u % 64);
            count++;
        }
    }
    return count;
}

/* Notes literal id as present (bit set, and listed once). */
static inline void found(struct th_pf_scratch *s, uint32_t id);

/* The hashed literals of scope sc, kind, whose text is c[0..n): noted as present. */
static void lookup(const struct th_prefilter *pf, struct th_pf_scratch *s, uint32_t sc,
                   uint32_t kind, const char *c, size_t n)
{
    uint32_t h = skey_hash(sc, kind, c, n), mask = pf->sk_slots - 1;
    for (uint32_t j = h & mask; pf->sk_slot[j] >= 0; j = (j + 1) & mask) {
        const struct pf_skey *k = &pf->skeys[pf->sk_slot[j]];
        if (k->h == h && k->scope == sc && k->kind == kind && k->n == n &&
            th__bytes_eq(k->c, c, n))
            found(s, k->id);
    }
}

/* The first-clause literals of scope sc present in its member's value v[0..vn). */
static void scope_literals(const struct th_prefilter *pf, struct th_pf_scratch *s, uint32_t sc,
                           const char *v, size_t vn)
{
    const struct pf_scope_ix *x = &pf->six[sc];
    if (vn >= 2 && v[0] == '"') {
        const char *c = v + 1;
        size_t cn = vn - 2;
        lookup(pf, s, sc, SK_EXACT, c, cn);
        for (uint32_t i = 0; i < x->nplen; i++)
            if (x->plen[i] <= cn)
                lookup(pf, s, sc, SK_PREFIX, c, x->plen[i]);
        for (uint32_t i = 0; i < x->nslen; i++)
            if (x->slen[i] <= cn)
                lookup(pf, s, sc, SK_SUFFIX, c + cn - x->slen[i], x->slen[i]);
        for (uint32_t i = 0; i < x->nother; i++) {
            const struct lit *l = &pf->lits[x->other[i]];
            if (l->exists || find_in(v, vn, l))
                found(s, x->other[i]);
        }
        return;
    }
    for (uint32_t i = 0; i < x->nall; i++) {
        const struct lit *l = &pf->lits[x->all[i]];
        if (l->exists || find_in(v, vn, l))
            found(s, x->all[i]);
    }
}
static inline void found(struct th_pf_scratch *s, uint32_t id)
{
    if (!((s->bits[id / 64] >> (id % 64)) & 1)) {
        s->bits[id / 64] |= UINT64_C(1) << (id % 64);
        s->list[s->nlist++] = id;
    }
}

/* The bigram pass: every literal occurring in p[0..n) into s (bits and list). */
static void scan_bigrams(const struct th_prefilter *pf, struct th_pf_scratch *s, const char *p,
                         size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    const uint64_t *bm = pf->bigram;
    if (n < 2)
        goto tail;
    uint32_t h = b[0];
    for (size_t i = 0; i + 1 < n; i++) {
        h = h >> 8 | (uint32_t)b[i + 1] << 8; /* b[i] | b[i + 1] << 8 */
        if (TH_LIKELY(!((bm[h >> 6] >> (h & 63)) & 1)))
            continue;
        for (const struct pf_ent *pe = &pf->ents[pf->bucket[h] - 1];; pe++) {
            const struct lit *l = &pf->lits[pe->id];
            size_t at = i - pe->off;
            if (i >= pe->off && at + l->n <= n) {
                bool eq;
                if (at + 8 <= n) {
                    uint64_t x;
                    memcpy(&x, b + at, 8);
                    eq = (x & pe->premask) == pe->pre &&
                         (l->n <= 8 || memcmp(b + at + 8, l->s + 8, l->n - 8) == 0);
                } else {
                    eq = memcmp(b + at, l->s, l->n) == 0;
                }
                if (eq)
                    found(s, pe->id);
            }
            if (pe->last)
                break;
        }
    }
tail:
    if (pf->short_lits && n) /* a one-byte literal as the last byte */
        for (uint32_t id = 0; id < pf->nlits; id++)
            if (pf->lits[id].n == 1 && b[n - 1] == (unsigned char)pf->lits[id].s[0])
                found(s, id);
}

size_t th__prefilter_check(const struct th_prefilter *pf, struct th_pf_scratch *s,
                           const char *p, size_t n, const struct th_jscan *js, uint64_t *mask)
{
    const size_t mw = th__prefilter_mask_words(pf);
    const unsigned jflags = js->flags;
    size_t words = (pf->nlits + 63) / 64 + 1;
    if (s->words < words || s->nq < pf->nqueries + 1 || s->nscopes < pf->nscopes + 1) {
        th__pf_scratch_fini(s);
        s->bits = calloc(words, sizeof *s->bits);
        s->present = calloc(words * 2, sizeof *s->present);
        s->list = calloc(pf->nlits + 1, sizeof *s->list);
        s->stamp = calloc(pf->nqueries + 1, sizeof *s->stamp);
        s->stamp_scope = calloc(pf->nscopes + 1, sizeof *s->stamp_scope);
        s->scope_mem = calloc(pf->nscopes + 1, sizeof *s->scope_mem);
        s->scopes_seen = calloc(pf->nscopes + 1, sizeof *s->scopes_seen);
        if (!s->bits || !s->present || !s->list || !s->stamp || !s->stamp_scope ||
            !s->scope_mem || !s->scopes_seen) {
            th__pf_scratch_fini(s);
            for (size_t w = 0; w < mw; w++)
                mask[w] = ~UINT64_C(0);
            return SIZE_MAX;
        }
        s->words = words;
        s->nq = pf->nqueries + 1;
        s->nscopes = pf->nscopes + 1;
    }
    memset(mask, 0, mw * sizeof *mask);
    if (jflags & TH_JSCAN_ESCAPE_U) {
        /* Decoded strings may hold what the raw text does not: no unit can be ruled out. */
        for (size_t u = 0; u < pf->nunits; u++)
            mask[u / 64] |= UINT64_C(1) << (u % 64);
        return pf->nunits;
    }
    if (!pf->filtered && js->mem && !(jflags & TH_JSCAN_MEMBERS_ODD)) {
        /* Each top-level member to its scope (the last of a repeated key, as json-c). */
        if (++s->scope_epoch == 0) {
            memset(s->stamp_scope, 0, s->nscopes * sizeof *s->stamp_scope);
            s->scope_epoch = 1;
        }
        for (unsigned i = 0; i < js->nmem; i++) {
            const struct th_jmember *m = &js->mem[i];
            int sc = scope_of(pf, p + m->key, m->key_len);
            if (sc >= 0) {
                s->scope_mem[sc] = *m;
                s->stamp_scope[sc] = s->scope_epoch;
            }
        }
        struct lazy c = {pf, s, p, n, jflags, true};
        return check_lazy(&c, mask);
    }
    if (!pf->filtered) {
        struct lazy c = {pf, s, p, n, jflags, false};
        return check_lazy(&c, mask);
    }

    /* Many literals. With a member table: the first clauses' literals member by member,
     * the other clauses' only for the queries that get that far. Else the bigram pass. */
    bool scoped = js->mem && !(jflags & TH_JSCAN_MEMBERS_ODD);
    struct lazy lz = {pf, s, p, n, jflags, true};
    s->nlist = 0;
    if (scoped) {
        if (++s->scope_epoch == 0) {
            memset(s->stamp_scope, 0, s->nscopes * sizeof *s->stamp_scope);
            s->scope_epoch = 1;
        }
        uint32_t nsc = 0;
        for (unsigned i = 0; i < js->nmem; i++) {
            const struct th_jmember *m = &js->mem[i];
            int sc = scope_of(pf, p + m->key, m->key_len);
            if (sc < 0)
                continue;
            if (s->stamp_scope[sc] != s->scope_epoch)
                s->scopes_seen[nsc++] = (uint32_t)sc;
            s->scope_mem[sc] = *m; /* the last of a repeated key, as json-c keeps it */
            s->stamp_scope[sc] = s->scope_epoch;
        }
        for (uint32_t i = 0; i < nsc; i++) {
            uint32_t sc = s->scopes_seen[i];
            if (pf->six[sc].nall)
                scope_literals(pf, s, sc, p + s->scope_mem[sc].start,
                               s->scope_mem[sc].end - s->scope_mem[sc].start);
        }
        memset(s->present, 0, ((pf->nlits + 31) / 32 + 1) * sizeof *s->present);
    } else {
        scan_bigrams(pf, s, p, n);
    }
    if (jflags & TH_JSCAN_ODD_NUMBER) /* a number whose text may differ from its bytes */
        for (size_t k = 0; k < pf->nnumeric; k++)
            found(s, pf->numeric[k]);
    for (size_t w = 0; w < mw; w++)
        mask[w] = pf->always[w];
    if (++s->epoch == 0) { /* the stamps wrapped: forget them all */
        memset(s->stamp, 0, s->nq * sizeof *s->stamp);
        s->epoch = 1;
    }
    /* Only queries whose first clause holds a present literal can pass. */
    for (size_t k = 0; k < s->nlist; k++) {
        uint32_t id = s->list[k];
        for (uint32_t j = pf->first_of[id]; j < pf->first_of[id + 1]; j++) {
            uint32_t q = pf->first_q[j];
            uint32_t u = pf->query_unit[q];
            if (s->stamp[q] == s->epoch || ((mask[u / 64] >> (u % 64)) & 1))
                continue;
            s->stamp[q] = s->epoch;
            const struct pf_query *pq = &pf->queries[q];
            bool ok = true;
            for (uint32_t ci = 1; ci < pq->n && ok; ci++) {
                const struct pf_clause *pc = &pf->clauses[pq->first + ci];
                ok = false;
                for (uint32_t c = 0; c < pc->n && !ok; c++) {
                    uint32_t lid = pf->ids[pc->first + c];
                    if (scoped && !pf->is_first[lid])
                        ok = present(&lz, lid); /* looked for now, remembered */
                    else
                        ok = (s->bits[lid / 64] >> (lid % 64)) & 1;
                }
            }
            if (ok)
                mask[u / 64] |= UINT64_C(1) << (u % 64);
        }
    }
    for (size_t k = 0; k < s->nlist; k++) /* clear for the next text */
        s->bits[s->list[k] / 64] = 0;
    size_t count = 0;
    for (size_t w = 0; w < mw; w++)
        count += (size_t)__builtin_popcountll(mask[w]);
    return count;
}

/* ---------------------------------------------------------------------------------------
 * Description
 * ------------------------------------------------------------------------------------- */

struct out {
    char *buf;
    size_t size, len;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->len < o->size) {
        size_t k = o->size - o->len - 1 < n ? o->size - o->len - 1 : n;
        memcpy(o->buf + o->len, s, k);
        o->buf[o->len + k] = '\0';
    }
    o->len += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

size_t th__prefilter_describe(const struct th_prefilter *pf, size_t u, char *buf, size_t size)
{
    struct out o = {buf, size, 0};
    if (size)
        buf[0] = '\0';
    if (u >= pf->nunits)
        return 0;
    const struct pf_unit *pu = &pf->units[u];
    if (pu->always) {
        puts_(&o, "always");
        return o.len;
    }
    if (pu->n == 0) {
        puts_(&o, "never");
        return o.len;
    }
    for (uint32_t qi = 0; qi < pu->n; qi++) {
        const struct pf_query *pq = &pf->queries[pu->first + qi];
        if (qi)
            puts_(&o, " | ");
        for (uint32_t ci = 0; ci < pq->n; ci++) {
            const struct pf_clause *pc = &pf->clauses[pq->first + ci];
            if (ci)
                puts_(&o, " & ");
            puts_(&o, "(");
            for (uint32_t k = 0; k < pc->n; k++) {
                const struct lit *l = &pf->lits[pf->ids[pc->first + k]];
                if (k)
                    puts_(&o, " ");
                if (l->exists) {
                    puts_(&o, "exists");
                } else {
                    puts_(&o, "<");
                    put(&o, l->s, l->n);
                    puts_(&o, l->numeric ? ">#" : ">");
                }
                puts_(&o, "@");
                puts_(&o, pf->scopes[l->scope]);
            }
            puts_(&o, ")");
        }
    }
    return o.len;
}
