/*
 * rule.c - the rule model's own code: names of methods, aggregations and severities (from
 * the X-macro maps in rule.h), case conditions (a tiny recursive-descent parser and the
 * evaluator), ATT&CK references from tactic/technique tags (paired as the ATT&CK table of
 * attack.h pairs them), and freeing a rule.
 *
 * Conditions are small trees of th_cond; the parser limits their nesting so that hostile
 * input cannot exhaust the stack. Nothing here keeps state.
 */
#include "rule.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attack.h"
#include "rule_load.h"

const char *th__method_name(enum th_method m)
{
    static const char *const names[] = {
#define TH_METHOD_NAME(e, s) s,
        TH_METHOD_MAP(TH_METHOD_NAME)
#undef TH_METHOD_NAME
    };
    return (unsigned)m < TH_ARRAY_LEN(names) ? names[m] : "?";
}

const char *th__agg_name(enum th_agg a)
{
    static const char *const names[] = {
#define TH_AGG_NAME(e, s) s,
        TH_AGG_MAP(TH_AGG_NAME)
#undef TH_AGG_NAME
    };
    return (unsigned)a < TH_ARRAY_LEN(names) ? names[a] : "?";
}

const char *th__severity_name(enum th_severity s)
{
    static const char *const names[] = {
#define TH_SEVERITY_NAME(e, s) s,
        TH_SEVERITY_MAP(TH_SEVERITY_NAME)
#undef TH_SEVERITY_NAME
    };
    return (unsigned)s < TH_ARRAY_LEN(names) ? names[s] : "?";
}

/* ---- conditions ---------------------------------------------------------------------- */

bool th__cond_eval(const struct th_cond *c, const double *agg)
{
    switch (c->op) {
    case TH_COND_AND:
        return th__cond_eval(c->left, agg) && th__cond_eval(c->right, agg);
    case TH_COND_OR:
        return th__cond_eval(c->left, agg) || th__cond_eval(c->right, agg);
    case TH_COND_GT:
        return agg[c->query] > c->value;
    case TH_COND_GE:
        return agg[c->query] >= c->value;
    case TH_COND_LT:
        return agg[c->query] < c->value;
    case TH_COND_LE:
        return agg[c->query] <= c->value;
    case TH_COND_EQ:
        return agg[c->query] == c->value;
    case TH_COND_NE:
        return agg[c->query] != c->value;
    }
    return false;
}

void th__cond_free(struct th_cond *c)
{
    if (!c)
        return;
    th__cond_free(c->left);
    th__cond_free(c->right);
    free(c);
}

#define COND_MAX_DEPTH 32
#define COND_MAX_LEN 4096

struct cparse {
    const char *s;
    size_t len, pos;
    const char *const *names;
    size_t nnames;
    unsigned depth;
    unsigned *err_col;
    struct th_err *err;
};

static void skip_ws(struct cparse *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static int cerr(struct cparse *p, size_t at, const char *fmt, ...) TH_PRINTF(3, 4);

static int cerr(struct cparse *p, size_t at, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    *p->err_col = (unsigned)at + 1;
    return th__err(p->err, TH_EPARSE, NULL, "%s", msg);
}

/* A short, printable rendering of the token at pos for messages. */
static const char *token_at(const struct cparse *p, size_t pos, char *buf, size_t size)
{
    if (pos >= p->len)
        return "end of condition";
    size_t n = 0;
    while (pos + n < p->len && n + 1 < size && n < 16 && !isspace((unsigned char)p->s[pos + n]))
        n++;
    snprintf(buf, size, "'%.*s'", (int)n, p->s + pos);
    return buf;
}

static bool is_name_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static bool is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static int parse_or(struct cparse *p, struct th_cond **out);

static int new_node(enum th_cond_op op, struct th_cond *l, struct th_cond *r, struct th_cond **out)
{
    struct th_cond *c = calloc(1, sizeof *c);
    if (!c) {
        th__cond_free(l);
        th__cond_free(r);
        return TH_ENOMEM;
    }
    c->op = op;
    c->left = l;
    c->right = r;
    *out = c;
    return 0;
}

static int parse_cmp(struct cparse *p, struct th_cond **out)
{
    char tb[32];
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '(') {
        size_t open = p->pos;
        if (++p->depth > COND_MAX_DEPTH)
            return cerr(p, open, "parentheses nested too deeply");
        p->pos++;
        int rc = parse_or(p, out);
        if (rc < 0)
            return rc;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ')') {
            th__cond_free(*out);
            *out = NULL;
            return cerr(p, open, "unclosed '('");
        }
        p->pos++;
        p->depth--;
        return 0;
    }
    size_t start = p->pos;
    if (p->pos >= p->len || !is_name_start(p->s[p->pos]))
        return cerr(p, start, "expected a query name, found %s", token_at(p, start, tb, sizeof tb));
    while (p->pos < p->len && is_name_char(p->s[p->pos]))
        p->pos++;
    size_t nlen = p->pos - start;
    int q = -1;
    for (size_t i = 0; i < p->nnames; i++)
        if (strlen(p->names[i]) == nlen && memcmp(p->names[i], p->s + start, nlen) == 0) {
            q = (int)i;
            break;
        }
    if (q < 0) {
        char name[80];
        snprintf(name, sizeof name, "%.*s", (int)(nlen > 64 ? 64 : nlen), p->s + start);
        *p->err_col = (unsigned)start + 1;
        char known[256] = "";
        size_t kl = 0;
        for (size_t i = 0; i < p->nnames && kl + 1 < sizeof known; i++) {
            int w = snprintf(known + kl, sizeof known - kl, "%s%s", i ? ", " : "", p->names[i]);
            if (w < 0)
                break;
            kl += (size_t)w;
        }
        return th__err(p->err, TH_EPARSE, NULL,
                       "condition names an unknown query '%s' (queries: %s)", name, known);
    }
    skip_ws(p);
    size_t opos = p->pos;
    enum th_cond_op op;
    const char *s = p->s + p->pos;
    size_t left = p->len - p->pos;
    if (left >= 2 && s[0] == '>' && s[1] == '=')
        op = TH_COND_GE, p->pos += 2;
    else if (left >= 2 && s[0] == '<' && s[1] == '=')
        op = TH_COND_LE, p->pos += 2;
    else if (left >= 2 && s[0] == '=' && s[1] == '=')
        op = TH_COND_EQ, p->pos += 2;
    else if (left >= 2 && s[0] == '!' && s[1] == '=')
        op = TH_COND_NE, p->pos += 2;
    else if (left >= 1 && s[0] == '>')
        op = TH_COND_GT, p->pos += 1;
    else if (left >= 1 && s[0] == '<')
        op = TH_COND_LT, p->pos += 1;
    else
        return cerr(p, opos, "expected a comparison (> >= < <= == !=), found %s",
                    token_at(p, opos, tb, sizeof tb));
    skip_ws(p);
    size_t npos = p->pos;
    size_t i = p->pos;
    if (i < p->len && (p->s[i] == '-' || p->s[i] == '+'))
        i++;
    size_t digits = 0;
    while (i < p->len && isdigit((unsigned char)p->s[i]))
        i++, digits++;
    if (i < p->len && p->s[i] == '.') {
        i++;
        size_t frac = 0;
        while (i < p->len && isdigit((unsigned char)p->s[i]))
            i++, frac++;
        if (!frac)
            digits = 0;
    }
    if (!digits || (i < p->len && (is_name_char(p->s[i]) || p->s[i] == '.')))
        return cerr(p, npos, "expected a number, found %s", token_at(p, npos, tb, sizeof tb));
    char num[64];
    if (i - npos >= sizeof num)
        return cerr(p, npos, "number too long");
    memcpy(num, p->s + npos, i - npos);
    num[i - npos] = '\0';
    p->pos = i;
    int rc = new_node(op, NULL, NULL, out);
    if (rc < 0)
        return rc;
    (*out)->query = q;
    (*out)->value = strtod(num, NULL);
    return 0;
}

static int parse_and(struct cparse *p, struct th_cond **out)
{
    int rc = parse_cmp(p, out);
    while (rc == 0) {
        skip_ws(p);
        if (p->pos + 1 >= p->len || p->s[p->pos] != '&' || p->s[p->pos + 1] != '&')
            return 0;
        p->pos += 2;
        struct th_cond *r = NULL;
        if ((rc = parse_cmp(p, &r)) < 0)
            break;
        rc = new_node(TH_COND_AND, *out, r, out);
        if (rc < 0) {
            *out = NULL;
            return rc;
        }
    }
    th__cond_free(*out);
    *out = NULL;
    return rc;
}

static int parse_or(struct cparse *p, struct th_cond **out)
{
    int rc = parse_and(p, out);
    while (rc == 0) {
        skip_ws(p);
        if (p->pos + 1 >= p->len || p->s[p->pos] != '|' || p->s[p->pos + 1] != '|')
            return 0;
        p->pos += 2;
        struct th_cond *r = NULL;
        if ((rc = parse_and(p, &r)) < 0)
            break;
        rc = new_node(TH_COND_OR, *out, r, out);
        if (rc < 0) {
            *out = NULL;
            return rc;
        }
    }
    th__cond_free(*out);
    *out = NULL;
    return rc;
}

int th__cond_parse(const char *text, size_t len, const char *const *names, size_t nnames,
                   struct th_cond **out, unsigned *err_col, struct th_err *err)
{
    *out = NULL;
    *err_col = 0;
    struct cparse p = {text, len, 0, names, nnames, 0, err_col, err};
    if (len > COND_MAX_LEN)
        return cerr(&p, 0, "condition longer than %d characters", COND_MAX_LEN);
    skip_ws(&p);
    if (p.pos == len)
        return cerr(&p, 0, "empty condition");
    int rc = parse_or(&p, out);
    if (rc < 0)
        return rc;
    skip_ws(&p);
    if (p.pos < len) {
        char tb[32];
        th__cond_free(*out);
        *out = NULL;
        if (p.s[p.pos] == ')')
            return cerr(&p, p.pos, "unmatched ')'");
        if (p.s[p.pos] == '&' || p.s[p.pos] == '|')
            return cerr(&p, p.pos, "expected && or ||, found %s",
                        token_at(&p, p.pos, tb, sizeof tb));
        return cerr(&p, p.pos, "unexpected %s after a comparison (join with && or ||)",
                    token_at(&p, p.pos, tb, sizeof tb));
    }
    return 0;
}

/* ---- ATT&CK tags ------------------------------------------------------------------- */

static bool digits_at(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

int th__attack_tag(const char *tag, size_t len, char id[16], struct th_err *err)
{
    id[0] = '\0';
    bool tactic = len >= 7 && memcmp(tag, "tactic:", 7) == 0;
    bool technique = len >= 10 && memcmp(tag, "technique:", 10) == 0;
    if (!tactic && !technique)
        return TH_TAG_OTHER;
    const char *v = tag + (tactic ? 7 : 10);
    size_t vlen = len - (tactic ? 7 : 10);
    size_t idlen = 0;
    while (idlen < vlen && v[idlen] != '-')
        idlen++;
    bool ok;
    if (tactic)
        ok = idlen == 6 && v[0] == 'T' && v[1] == 'A' && digits_at(v + 2, 4);
    else
        ok = (idlen == 5 || (idlen == 9 && v[5] == '.' && digits_at(v + 6, 3))) && v[0] == 'T' &&
             digits_at(v + 1, 4);
    /* A dash must introduce a name: `tactic:TA0006-` is as wrong as `tactic:TA0006x`. */
    if (ok && idlen < vlen && idlen + 1 == vlen)
        ok = false;
    if (!ok)
        return th__err(err, TH_EPARSE, NULL,
                       tactic ? "malformed tactic tag '%.*s' (expected tactic:TA0000-name)"
                              : "malformed technique tag '%.*s' (expected "
                                "technique:T0000-name or technique:T0000.000-name)",
                       (int)(len > 80 ? 80 : len), tag);
    memcpy(id, v, idlen);
    id[idlen] = '\0';
    return tactic ? TH_TAG_TACTIC : TH_TAG_TECHNIQUE;
}

static int add_ref(struct th_rule *r, size_t *cap, const char *tactic, const char *technique)
{
    for (size_t i = 0; i < r->nattack; i++)
        if (strcmp(r->attack[i].tactic, tactic) == 0 &&
            strcmp(r->attack[i].technique, technique) == 0)
            return 0;
    if (th__grow((void **)&r->attack, cap, r->nattack + 1, sizeof *r->attack) < 0)
        return TH_ENOMEM;
    struct th_attack_ref *a = &r->attack[r->nattack++];
    memset(a, 0, sizeof *a);
    snprintf(a->tactic, sizeof a->tactic, "%s", tactic);
    snprintf(a->technique, sizeof a->technique, "%s", technique);
    return 0;
}

/* True when technique te (known to the ATT&CK table) belongs to some tactic tag of r. */
static bool in_some_tactic(const struct th_rule *r, const struct th_technique *te)
{
    char ta[16];
    for (size_t i = 0; i < r->ntags; i++)
        if (th__attack_tag(r->tags[i], strlen(r->tags[i]), ta, NULL) == TH_TAG_TACTIC &&
            th__technique_in_tactic(te, ta))
            return true;
    return false;
}

int th__attack_build(struct th_rule *r)
{
    size_t cap = 0;
    bool any_tactic = false;
    char id[16];
    for (size_t i = 0; i < r->ntags; i++)
        any_tactic |= th__attack_tag(r->tags[i], strlen(r->tags[i]), id, NULL) == TH_TAG_TACTIC;
    for (size_t i = 0; i < r->ntags; i++) {
        char ta[16];
        if (th__attack_tag(r->tags[i], strlen(r->tags[i]), ta, NULL) != TH_TAG_TACTIC)
            continue;
        bool paired = false;
        for (size_t j = 0; j < r->ntags; j++) {
            char te[16];
            if (th__attack_tag(r->tags[j], strlen(r->tags[j]), te, NULL) != TH_TAG_TECHNIQUE)
                continue;
            /* Pair only where ATT&CK does; a technique unknown to the table, or in none of
             * the rule's tactics, pairs with every tactic rather than vanish. */
            const struct th_technique *t = th__technique_find(te);
            if (t && in_some_tactic(r, t) && !th__technique_in_tactic(t, ta))
                continue;
            if (add_ref(r, &cap, ta, te) < 0)
                return TH_ENOMEM;
            paired = true;
        }
        if (!paired && add_ref(r, &cap, ta, "") < 0)
            return TH_ENOMEM;
    }
    if (!any_tactic)
        for (size_t j = 0; j < r->ntags; j++) {
            char te[16];
            if (th__attack_tag(r->tags[j], strlen(r->tags[j]), te, NULL) != TH_TAG_TECHNIQUE)
                continue;
            if (add_ref(r, &cap, "", te) < 0)
                return TH_ENOMEM;
        }
    return 0;
}

/* ---- freeing ------------------------------------------------------------------------- */

void th__rule_free(struct th_rule *r)
{
    if (!r)
        return;
    free(r->id);
    free(r->name);
    free(r->file);
    for (size_t i = 0; i < r->ntags; i++)
        free(r->tags[i]);
    free(r->tags);
    free(r->attack);
    for (size_t i = 0; i < r->nqueries; i++) {
        struct th_rule_query *q = &r->queries[i];
        free(q->name);
        free(q->text);
        th__query_free(q->query);
        for (size_t j = 0; j < q->ngroup_by; j++)
            th__attr_fini(&q->group_by[j]);
        for (size_t j = 0; j < q->ndistinct; j++)
            th__attr_fini(&q->distinct[j]);
        for (size_t j = 0; j < q->nfields; j++)
            th__attr_fini(&q->fields[j]);
    }
    for (size_t i = 0; i < r->ncases; i++) {
        free(r->cases[i].name);
        th__cond_free(r->cases[i].cond);
    }
    free(r->cases);
    th__template_free(r->message);
    free(r);
}
