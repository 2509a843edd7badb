/*
 * query_eval.c - matching a compiled query (query_ast.h) against an event, and the
 * per-thread regex scratch (struct th_match_ctx).
 *
 * Evaluation walks the tree recursively (depth bounded at compile time), short-circuiting
 * AND and OR in the order the query was written. Leaves hand a visitor to th__attr_any
 * (or th__event_any_leaf for free text), so arrays match when any element does, and the
 * visitor stops the walk at the first accepted value. Matchers look at:
 *   - globs and regexes: the text form of strings, numbers and booleans (never objects);
 *   - numeric ranges: numbers, and strings that parse fully as numbers (never booleans);
 *   - string ranges: strings only, compared bytewise;
 *   - CIDR: strings that are IP addresses.
 * A regex that hits a PCRE2 limit (or fails in any other way) counts as no match and
 * increments ctx->regex_errors; without a ctx, regexes never match.
 * Nothing here allocates: PCRE2 runs with the caller's match data (JIT code runs on its
 * default machine-stack area; the interpreter keeps its frames in the match data, which it
 * grows only the first time a deeper pattern needs it).
 */
#include "query.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "query_ast.h"

int th__match_ctx_init(struct th_match_ctx *ctx, uint32_t match_limit, uint32_t depth_limit)
{
    memset(ctx, 0, sizeof *ctx);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    if (!md || !mc) {
        pcre2_match_data_free(md);
        pcre2_match_context_free(mc);
        return TH_ENOMEM;
    }
    /* 0 keeps PCRE2's built-in default for that limit. */
    if (match_limit)
        pcre2_set_match_limit(mc, match_limit);
    if (depth_limit)
        pcre2_set_depth_limit(mc, depth_limit);
    ctx->match_data = md;
    ctx->match_context = mc;
    return 0;
}

void th__match_ctx_fini(struct th_match_ctx *ctx)
{
    if (!ctx)
        return;
    pcre2_match_data_free(ctx->match_data);
    pcre2_match_context_free(ctx->match_context);
    ctx->match_data = NULL;
    ctx->match_context = NULL;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool th__query_parse_number(const char *s, size_t len, double *out)
{
    char buf[128];
    if (len == 0 || len >= sizeof buf)
        return false;
    size_t i = 0, digits = 0;
    if (s[i] == '+' || s[i] == '-')
        i++;
    while (i < len && is_digit(s[i]))
        i++, digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && is_digit(s[i]))
            i++, digits++;
    }
    if (digits == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t ed = 0;
        while (i < len && is_digit(s[i]))
            i++, ed++;
        if (ed == 0)
            return false;
    }
    if (i != len)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    *out = strtod(buf, NULL);
    return true;
}

/* Bytewise comparison of two slices, like memcmp with the shorter one first on a tie. */
static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static bool range_accepts(const struct th_qrange *r, const struct th_value *v)
{
    if (r->numeric) {
        double x;
        switch (v->type) {
        case TH_V_INT:
        case TH_V_DOUBLE:
            x = v->num;
            break;
        case TH_V_STRING:
            if (!th__query_parse_number(v->s, v->len, &x))
                return false;
            break;
        default:
            return false;
        }
        if (isnan(x))
            return false;
        if (r->has_lo && (r->lo_incl ? x < r->lo : x <= r->lo))
            return false;
        if (r->has_hi && (r->hi_incl ? x > r->hi : x >= r->hi))
            return false;
        return true;
    }
    if (v->type != TH_V_STRING)
        return false;
    if (r->has_lo) {
        int c = cmp_bytes(v->s, v->len, r->slo, r->slo_len);
        if (r->lo_incl ? c < 0 : c <= 0)
            return false;
    }
    if (r->has_hi) {
        int c = cmp_bytes(v->s, v->len, r->shi, r->shi_len);
        if (r->hi_incl ? c > 0 : c >= 0)
            return false;
    }
    return true;
}

struct visit {
    const struct th_qmatch *m;
    struct th_match_ctx *ctx;
};

static bool regex_accepts(const struct th_qmatch *m, struct th_match_ctx *ctx, const char *s,
                          size_t len)
{
    if (!ctx || !ctx->match_data)
        return false;
    int rc = pcre2_match(m->re, (PCRE2_SPTR)(s ? s : ""), len, 0, 0, ctx->match_data,
                         ctx->match_context);
    if (rc >= 0)
        return true; /* 0: matched, the one-pair ovector was too small for the groups */
    if (rc != PCRE2_ERROR_NOMATCH)
        ctx->regex_errors++;
    return false;
}

/* th_visit_fn: true (stop) when the value is accepted. */
static bool visit_value(void *vctx, const struct th_value *v)
{
    const struct visit *vis = vctx;
    const struct th_qmatch *m = vis->m;
    if (v->type == TH_V_OBJECT)
        return false;
    switch (m->kind) {
    case TH_QM_GLOB:
        return th__glob_match(&m->glob, v->s, v->len);
    case TH_QM_RANGE:
        return range_accepts(&m->range, v);
    case TH_QM_REGEX:
        return regex_accepts(m, vis->ctx, v->s, v->len);
    case TH_QM_CIDR:
        return v->type == TH_V_STRING && th__cidr_match_any(m->cidr, m->ncidr, v->s, v->len);
    }
    return false;
}

static bool eval(const struct th_query *q, const struct th_qnode *n, struct th_event *ev,
                 struct th_match_ctx *ctx)
{
    switch (n->kind) {
    case TH_QN_AND:
        for (size_t i = 0; i < n->nkids; i++)
            if (!eval(q, n->kids[i], ev, ctx))
                return false;
        return true;
    case TH_QN_OR:
        for (size_t i = 0; i < n->nkids; i++)
            if (eval(q, n->kids[i], ev, ctx))
                return true;
        return false;
    case TH_QN_NOT:
        return !eval(q, n->kids[0], ev, ctx);
    case TH_QN_TRUE:
        return true;
    case TH_QN_EXISTS:
        return th__attr_exists(&q->attrs[n->attr], ev);
    case TH_QN_MATCH: {
        struct visit vis = {&n->m, ctx};
        return th__attr_any(&q->attrs[n->attr], ev, visit_value, &vis);
    }
    case TH_QN_TEXT: {
        struct visit vis = {&n->m, ctx};
        return th__event_any_leaf(ev, visit_value, &vis);
    }
    }
    return false;
}

bool th__query_match(const struct th_query *q, struct th_event *ev, struct th_match_ctx *ctx)
{
    return eval(q, q->root, ev, ctx);
}

uint32_t th__query_derived_used(const struct th_query *q)
{
    uint32_t mask = 0;
    for (size_t i = 0; q && i < q->nattrs; i++)
        if (q->attrs[i].kind == TH_ATTR_DERIVED)
            mask |= UINT32_C(1) << q->attrs[i].derived;
    return mask;
}
