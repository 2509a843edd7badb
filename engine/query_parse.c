/*
 * query_parse.c - compiling Datadog log-search queries (SPEC §5) into the tree of
 * query_ast.h: a hand-written recursive-descent parser over the bytes of the query.
 *
 * Grammar (Lucene-like, as Datadog Cloud SIEM uses it):
 *
 *   query   := or EOF
 *   or      := and ( "OR" and )*
 *   and     := unary ( ["AND"] unary )*          white space alone is an implicit AND
 *   unary   := ("NOT" | "-") unary | primary      "-" directly before the clause
 *   primary := "(" or ")" | "@"name ":" value | name ":" value | "CIDR(" @attr "," prefix,... ")"
 *            | term                                a term with no field is free text
 *   value   := "(" or ")"                          the attribute is the default field inside
 *            | "word" | "quoted" | /regex/ | >N | >=N | <N | <=N | [a TO b] | {a TO b}
 *
 * Precedence is NOT/- over AND over OR. A level that mixes AND (explicit or implicit) with
 * OR is compiled that way but reported through the warning callback, because Datadog gives
 * it Lucene's different meaning. Operators are upper case only; lower-case `and` is a term.
 *
 * Terms: `*` and `?` are wildcards (whole-value anchored, glob.h); a backslash makes the
 * next byte literal; `"..."` is exact (inside, a backslash makes the next byte literal, so
 * `\"` and `\\`); these characters must be escaped in a bare term: `" [ ] { } ^ ~ = < > ! #
 * :` (the first unescaped `:` of a clause separates the field), `&&`, `||`, and `( )` and
 * white space end it. `-` and `+` inside a term and `/` after its first byte are ordinary.
 *
 * A `-` right after `field:` is part of the value (`@a:-5`); a leading `+` (Lucene's
 * "required") is an error rather than a silent no-op. A quoted value, regex, range,
 * comparison, CIDR(...) or closing parenthesis must be followed by white space, `)` or the
 * end. `[* TO *]` means the attribute exists. Comparisons and ranges whose given bounds
 * are all numbers compare numerically (query_ast.h); otherwise bytewise against strings.
 * A word directly followed by `(` is a function call: only CIDR (upper case) exists.
 *
 * Free text (a term with no field): matches when any scalar leaf of the event (strings, and
 * numbers and booleans in their text form) contains the term; wildcards are allowed and
 * the term is matched as `*term*`. A free-text `*` matches every event; a quoted free text
 * is a literal substring; a free-text /regex/ searches every scalar leaf.
 *
 * Regexes use PCRE2 syntax with UTF-8 (invalid UTF-8 in values never matches a code
 * point but does not fail) and search anywhere in the value: anchor with ^ and $.
 * Inside /.../, `\/` is a slash; every other backslash sequence goes to PCRE2 unchanged.
 *
 * Columns in errors and warnings are 1-based byte offsets into the query text. Recursion is
 * bounded by TH_QUERY_MAX_DEPTH nested groups and negations; queries longer than
 * TH_QUERY_MAX_LEN bytes or containing NUL bytes are rejected. Allocation failures return
 * TH_ENOMEM. The first error wins; the partial tree is freed.
 */
#include "query.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_ast.h"

#define NO_FIELD SIZE_MAX

struct parser {
    const char *s;
    size_t len, pos;
    struct th_query *q;
    th_query_warn_fn warn;
    void *warn_ctx;
    unsigned depth;
    char *buf;     /* scratch for one unescaped term (len + 3 bytes) */
    uint8_t *wild; /* scratch: buf[i] is a wildcard */
    int code;      /* 0 until the first error */
    size_t err_pos;
    struct th_err *err;
};

/* One bare term read into p->buf / p->wild. */
struct word {
    size_t start; /* position of its first byte in the query */
    size_t len;   /* bytes in p->buf */
    size_t nwild; /* unescaped `*` and `?` */
    size_t nstar; /* unescaped `*` */
    bool escaped; /* a backslash was used */
    int stop;     /* the byte that ended it, or -1 at the end of the query */
};

enum word_mode {
    W_CLAUSE, /* a clause: an unescaped ':' ends a field name */
    W_VALUE,  /* after "field:": ':' must be escaped */
    W_BOUND   /* a range bound: ']' and '}' end it too */
};

/* ------------------------------------------------------------------------------------ */
/* Errors, warnings and characters */

static void *fail(struct parser *p, size_t pos, const char *fmt, ...) TH_PRINTF(3, 4);

static void *fail(struct parser *p, size_t pos, const char *fmt, ...)
{
    if (p->code)
        return NULL;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->code = TH_EPARSE;
    p->err_pos = pos;
    th__err(p->err, TH_EPARSE, NULL, "%s", msg);
    return NULL;
}

static void *oom(struct parser *p)
{
    if (!p->code) {
        p->code = TH_ENOMEM;
        p->err_pos = p->pos;
        th__err(p->err, TH_ENOMEM, NULL, "out of memory while compiling the query");
    }
    return NULL;
}

static void warnf(struct parser *p, size_t pos, const char *fmt, ...) TH_PRINTF(3, 4);

static void warnf(struct parser *p, size_t pos, const char *fmt, ...)
{
    if (!p->warn)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->warn(p->warn_ctx, (unsigned)(pos + 1), msg);
}

static bool is_ws(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int peek(const struct parser *p)
{
    return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int peek_at(const struct parser *p, size_t pos)
{
    return pos < p->len ? (unsigned char)p->s[pos] : -1;
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len && is_ws((unsigned char)p->s[p->pos]))
        p->pos++;
}

/* True when a clause or value may end at pos: the end, white space or ')'. */
static bool at_term_end(const struct parser *p, size_t pos)
{
    int c = peek_at(p, pos);
    return c < 0 || is_ws(c) || c == ')';
}

/* True when the operator kw (AND, OR, NOT) stands at p->pos as a whole word. */
static bool at_keyword(const struct parser *p, const char *kw)
{
    size_t n = strlen(kw);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, kw, n) != 0)
        return false;
    int c = peek_at(p, p->pos + n);
    return c < 0 || is_ws(c) || c == '(' || c == ')';
}

/* After a quoted value, a regex, a range or a group: the clause must end here. */
static bool expect_term_end(struct parser *p, const char *what)
{
    if (at_term_end(p, p->pos))
        return true;
    fail(p, p->pos, "expected white space or ')' after %s", what);
    return false;
}

/* ------------------------------------------------------------------------------------ */
/* Nodes and attributes */

static void match_fini(struct th_qmatch *m)
{
    th__glob_fini(&m->glob);
    free(m->range.slo);
    free(m->range.shi);
    if (m->re)
        pcre2_code_free(m->re);
    free(m->re_src);
    free(m->cidr);
    memset(m, 0, sizeof *m);
}

static void node_free(struct th_qnode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    match_fini(&n->m);
    free(n);
}

static struct th_qnode *new_node(struct parser *p, enum th_qn_kind kind, size_t pos)
{
    struct th_qnode *n = calloc(1, sizeof *n);
    if (!n)
        return oom(p);
    n->kind = kind;
    n->col = (unsigned)(pos + 1);
    return n;
}

/* Appends kid to n; on failure frees kid and returns false. */
static bool add_kid(struct parser *p, struct th_qnode *n, struct th_qnode *kid)
{
    void *arr = n->kids;
    if (th__grow(&arr, &n->capkids, n->nkids + 1, sizeof *n->kids) < 0) {
        node_free(kid);
        oom(p);
        return false;
    }
    n->kids = arr;
    n->kids[n->nkids++] = kid;
    return true;
}

/* A NOT, AND or OR node over kid (freed on failure). */
static struct th_qnode *wrap(struct parser *p, enum th_qn_kind kind, size_t pos,
                             struct th_qnode *kid)
{
    struct th_qnode *n = new_node(p, kind, pos);
    if (!n) {
        node_free(kid);
        return NULL;
    }
    if (!add_kid(p, n, kid)) {
        node_free(n);
        return NULL;
    }
    return n;
}

/* Compiles an attribute name into q->attrs; returns its index or NO_FIELD on error. */
static size_t add_attr(struct parser *p, enum th_attr_ns ns, const char *name, size_t len,
                       size_t pos)
{
    struct th_query *q = p->q;
    void *arr = q->attrs;
    if (th__grow(&arr, &q->capattrs, q->nattrs + 1, sizeof *q->attrs) < 0) {
        oom(p);
        return NO_FIELD;
    }
    q->attrs = arr;
    bool unknown = false;
    struct th_err aerr = {{0}, {0}};
    int rc = th__attr_compile(ns, name, len, &q->attrs[q->nattrs], &unknown, &aerr);
    if (rc == TH_ENOMEM) {
        oom(p);
        return NO_FIELD;
    }
    if (rc < 0) {
        fail(p, pos, "%s", aerr.msg);
        return NO_FIELD;
    }
    if (unknown)
        warnf(p, pos, "unknown tag '%.*s': it is not set on CloudTrail events, so it never matches",
              (int)len, name);
    return q->nattrs++;
}

/* ------------------------------------------------------------------------------------ */
/* Lexical pieces */

/* Reads a bare term into p->buf / p->wild. Returns false after an error. */
static bool read_word(struct parser *p, enum word_mode mode, struct word *w)
{
    memset(w, 0, sizeof *w);
    w->start = p->pos;
    size_t n = 0;
    while (p->pos < p->len) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (is_ws(c) || c == '(' || c == ')')
            break;
        if (mode == W_BOUND && (c == ']' || c == '}'))
            break;
        if (c == '\\') {
            if (p->pos + 1 >= p->len) {
                fail(p, p->pos, "dangling backslash at the end of the query; escape it as \\\\");
                return false;
            }
            p->buf[n] = p->s[p->pos + 1];
            p->wild[n++] = 0;
            p->pos += 2;
            w->escaped = true;
            continue;
        }
        if (c == ':') {
            if (mode == W_CLAUSE)
                break;
            fail(p, p->pos, "unescaped ':' in a value; escape it as \\: or quote the value");
            return false;
        }
        if (c == '*' || c == '?') {
            p->buf[n] = (char)c;
            p->wild[n++] = 1;
            w->nwild++;
            if (c == '*')
                w->nstar++;
            p->pos++;
            continue;
        }
        int next = peek_at(p, p->pos + 1);
        if ((c == '&' && next == '&') || (c == '|' && next == '|')) {
            fail(p, p->pos, "unexpected '%c%c' in a term; use AND / OR, or escape it", c, c);
            return false;
        }
        if (c != '\0' && strchr("\"[]{}^~=<>!#", c)) {
            fail(p, p->pos,
                 "unexpected '%c' in a term; escape it with a backslash or quote the value", c);
            return false;
        }
        p->buf[n] = (char)c;
        p->wild[n++] = 0;
        p->pos++;
    }
    w->len = n;
    w->stop = peek(p);
    return true;
}

/* Reads "..." at p->pos into p->buf; returns its length or -1 after an error. */
static long read_quoted(struct parser *p)
{
    size_t open = p->pos++;
    size_t n = 0;
    for (;;) {
        if (p->pos >= p->len) {
            fail(p, open, "unterminated quoted value; expected a closing '\"'");
            return -1;
        }
        char c = p->s[p->pos];
        if (c == '"')
            break;
        if (c == '\\') {
            if (p->pos + 1 >= p->len) {
                fail(p, open, "unterminated quoted value; expected a closing '\"'");
                return -1;
            }
            c = p->s[++p->pos];
        }
        p->buf[n] = c;
        p->wild[n++] = 0;
        p->pos++;
    }
    p->pos++;
    return (long)n;
}

/* ------------------------------------------------------------------------------------ */
/* Leaves */

/* A MATCH (field set) or TEXT (free text) node over the glob in p->buf[0..len). */
static struct th_qnode *glob_node(struct parser *p, size_t field, size_t len, size_t pos)
{
    struct th_qnode *n = new_node(p, field == NO_FIELD ? TH_QN_TEXT : TH_QN_MATCH, pos);
    if (!n)
        return NULL;
    n->attr = field;
    n->m.kind = TH_QM_GLOB;
    if (field == NO_FIELD) {
        /* Free text is a substring search: *term*. buf has room for the two stars. */
        memmove(p->buf + 1, p->buf, len);
        memmove(p->wild + 1, p->wild, len);
        p->buf[0] = p->buf[len + 1] = '*';
        p->wild[0] = p->wild[len + 1] = 1;
        len += 2;
    }
    if (th__glob_compile(p->buf, p->wild, len, &n->m.glob) < 0) {
        node_free(n);
        return oom(p);
    }
    return n;
}

/* A bare term: `*` alone is existence (or every event for free text), else a glob. */
static struct th_qnode *word_node(struct parser *p, size_t field, const struct word *w)
{
    if (w->len > 0 && w->nstar == w->len) {
        struct th_qnode *n = new_node(p, field == NO_FIELD ? TH_QN_TRUE : TH_QN_EXISTS, w->start);
        if (n)
            n->attr = field;
        return n;
    }
    return glob_node(p, field, w->len, w->start);
}

/* Maps an offset in the pattern handed to PCRE2 back to a position in the query. */
static size_t regex_src_pos(const struct parser *p, size_t open, size_t off)
{
    size_t pos = open + 1, out = 0;
    while (pos < p->len && out < off && p->s[pos] != '/') {
        if (p->s[pos] == '\\' && pos + 1 < p->len) {
            out += p->s[pos + 1] == '/' ? 1 : 2;
            pos += 2;
        } else {
            out++;
            pos++;
        }
    }
    return pos;
}

/* False when the environment says TRAILHOUND_PCRE2_JIT=0 (tests/valgrind.sh sets it). */
static bool jit_wanted(void)
{
    const char *v = getenv("TRAILHOUND_PCRE2_JIT");
    return !v || strcmp(v, "0") != 0;
}

static struct th_qnode *parse_regex(struct parser *p, size_t field)
{
    size_t open = p->pos++;
    size_t n = 0;
    for (;;) {
        if (p->pos >= p->len)
            return fail(p, open, "unterminated regex; expected a closing '/'");
        char c = p->s[p->pos];
        if (c == '/')
            break;
        if (c == '\\') {
            if (p->pos + 1 >= p->len)
                return fail(p, open, "unterminated regex; expected a closing '/'");
            if (p->s[p->pos + 1] != '/')
                p->buf[n++] = '\\';
            c = p->s[++p->pos];
        }
        p->buf[n++] = c;
        p->pos++;
    }
    p->pos++;
    if (n == 0)
        return fail(p, open, "empty regex");
    if (!expect_term_end(p, "the regex"))
        return NULL;

    struct th_qnode *node = new_node(p, field == NO_FIELD ? TH_QN_TEXT : TH_QN_MATCH, open);
    if (!node)
        return NULL;
    node->attr = field;
    node->m.kind = TH_QM_REGEX;
    node->m.re_src = th__strndup(p->buf, n);
    if (!node->m.re_src) {
        node_free(node);
        return oom(p);
    }
    int ec;
    PCRE2_SIZE eo;
    node->m.re =
        pcre2_compile((PCRE2_SPTR)p->buf, n, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ec, &eo, NULL);
    if (!node->m.re) {
        node_free(node);
        if (ec == PCRE2_ERROR_NOMEMORY || ec == PCRE2_ERROR_HEAPLIMIT)
            return oom(p);
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(ec, msg, sizeof msg) < 0)
            snprintf((char *)msg, sizeof msg, "error %d", ec);
        return fail(p, regex_src_pos(p, open, eo), "invalid regex: %s at offset %zu",
                    (const char *)msg, (size_t)eo);
    }
    /* Without JIT (not built in, no executable memory, or TRAILHOUND_PCRE2_JIT=0: valgrind
     * takes the JIT code's aligned 16-byte reads past a subject's end for errors) the
     * interpreter is used. */
    if (jit_wanted())
        (void)pcre2_jit_compile(node->m.re, PCRE2_JIT_COMPLETE);
    return node;
}

/* One end of a range: `*` (open), a quoted string or a bare word. */
struct bound {
    bool open;
    bool num;
    double val;
    char *s; /* owned copy of the text */
    size_t len;
};

static bool read_bound(struct parser *p, struct bound *b, const char *what)
{
    memset(b, 0, sizeof *b);
    size_t start = p->pos;
    int c = peek(p);
    size_t n;
    if (c == '"') {
        long r = read_quoted(p);
        if (r < 0)
            return false;
        n = (size_t)r;
    } else {
        struct word w;
        if (!read_word(p, W_BOUND, &w))
            return false;
        if (w.len == 0) {
            fail(p, start, "expected a value in %s", what);
            return false;
        }
        if (w.stop == '(' || w.stop == ')') {
            fail(p, p->pos, "unexpected '%c' in %s", w.stop, what);
            return false;
        }
        if (w.nwild == 1 && w.nstar == 1 && w.len == 1) {
            b->open = true;
            return true;
        }
        if (w.nwild) {
            fail(p, start, "wildcards are not allowed in %s", what);
            return false;
        }
        n = w.len;
    }
    b->num = th__query_parse_number(p->buf, n, &b->val);
    b->s = th__strndup(p->buf, n);
    if (!b->s) {
        oom(p);
        return false;
    }
    b->len = n;
    return true;
}

/* A RANGE node from two bounds (consumed: their strings move into the node or are freed). */
static struct th_qnode *range_node(struct parser *p, size_t field, size_t pos, struct bound *lo,
                                   bool lo_incl, struct bound *hi, bool hi_incl)
{
    struct th_qnode *n = NULL;
    if (lo->open && hi->open) {
        /* [* TO *]: any value at all, as in Lucene. */
        n = new_node(p, TH_QN_EXISTS, pos);
        if (n)
            n->attr = field;
        goto done;
    }
    n = new_node(p, TH_QN_MATCH, pos);
    if (!n)
        goto done;
    n->attr = field;
    n->m.kind = TH_QM_RANGE;
    struct th_qrange *r = &n->m.range;
    r->numeric = (lo->open || lo->num) && (hi->open || hi->num);
    r->has_lo = !lo->open;
    r->has_hi = !hi->open;
    r->lo_incl = lo_incl;
    r->hi_incl = hi_incl;
    if (r->numeric) {
        r->lo = lo->val;
        r->hi = hi->val;
    } else {
        r->slo = lo->s;
        r->slo_len = lo->len;
        r->shi = hi->s;
        r->shi_len = hi->len;
        lo->s = hi->s = NULL;
    }
done:
    free(lo->s);
    free(hi->s);
    lo->s = hi->s = NULL;
    return n;
}

/* [a TO b], {a TO b}, or mixed brackets. */
static struct th_qnode *parse_range(struct parser *p, size_t field)
{
    size_t open = p->pos;
    if (field == NO_FIELD)
        return fail(p, open, "a range needs an attribute, as in @attr:[a TO b]");
    bool lo_incl = p->s[p->pos++] == '[';
    struct bound lo, hi;
    memset(&hi, 0, sizeof hi);
    skip_ws(p);
    if (!read_bound(p, &lo, "the range"))
        return NULL;
    if (!is_ws(peek(p))) {
        free(lo.s);
        return fail(p, p->pos, "expected ' TO ' after the lower bound of the range");
    }
    skip_ws(p);
    if (!(p->len - p->pos >= 3 && memcmp(p->s + p->pos, "TO", 2) == 0 &&
          is_ws((unsigned char)p->s[p->pos + 2]))) {
        free(lo.s);
        return fail(p, p->pos, "expected 'TO' between the bounds of the range");
    }
    p->pos += 2;
    skip_ws(p);
    if (!read_bound(p, &hi, "the range")) {
        free(lo.s);
        return NULL;
    }
    skip_ws(p);
    int c = peek(p);
    if (c != ']' && c != '}') {
        free(lo.s);
        free(hi.s);
        if (c < 0)
            return fail(p, open, "unterminated range; expected ']' or '}'");
        return fail(p, p->pos, "expected ']' or '}' to close the range");
    }
    p->pos++;
    if (!expect_term_end(p, "the range")) {
        free(lo.s);
        free(hi.s);
        return NULL;
    }
    return range_node(p, field, open, &lo, lo_incl, &hi, c == ']');
}

/* >N, >=N, <N, <=N. */
static struct th_qnode *parse_compare(struct parser *p, size_t field)
{
    size_t start = p->pos;
    if (field == NO_FIELD)
        return fail(p, start, "a comparison needs an attribute, as in @attr:>10");
    bool gt = p->s[p->pos++] == '>';
    bool eq = peek(p) == '=';
    if (eq)
        p->pos++;
    char what[40];
    snprintf(what, sizeof what, "'%s'", gt ? (eq ? ">=" : ">") : (eq ? "<=" : "<"));
    if (at_term_end(p, p->pos))
        return fail(p, p->pos, "expected a value after %s", what);
    struct bound b, open_end;
    memset(&open_end, 0, sizeof open_end);
    open_end.open = true;
    if (!read_bound(p, &b, what))
        return NULL;
    if (b.open) {
        return fail(p, start + (eq ? 2 : 1), "expected a value after %s, not '*'", what);
    }
    if (!expect_term_end(p, "the comparison")) {
        free(b.s);
        return NULL;
    }
    if (gt)
        return range_node(p, field, start, &b, eq, &open_end, false);
    return range_node(p, field, start, &open_end, false, &b, eq);
}

/* ------------------------------------------------------------------------------------ */
/* Clauses */

static struct th_qnode *parse_or(struct parser *p, size_t field, const char *after);

/* ( ... ) with field as the default field inside. */
static struct th_qnode *parse_group(struct parser *p, size_t field)
{
    size_t open = p->pos++;
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, open, "unbalanced parenthesis: '(' is never closed");
    if (peek(p) == ')')
        return fail(p, p->pos, "empty parentheses; expected a clause");
    if (p->depth + 1 > TH_QUERY_MAX_DEPTH)
        return fail(p, open, "query nested too deeply (more than %u groups and negations)",
                    TH_QUERY_MAX_DEPTH);
    struct th_qnode *n = parse_or(p, field, "'('");
    if (!n)
        return NULL;
    skip_ws(p);
    if (peek(p) != ')') {
        node_free(n);
        return fail(p, open, "unbalanced parenthesis: '(' is never closed");
    }
    p->pos++;
    if (!expect_term_end(p, "')'")) {
        node_free(n);
        return NULL;
    }
    return n;
}

/* A value that is not a group: quoted, regex, range, comparison or bare word. */
static struct th_qnode *parse_atom(struct parser *p, size_t field)
{
    size_t start = p->pos;
    switch (peek(p)) {
    case '"': {
        long n = read_quoted(p);
        if (n < 0 || !expect_term_end(p, "the quoted value"))
            return NULL;
        return glob_node(p, field, (size_t)n, start);
    }
    case '/':
        return parse_regex(p, field);
    case '[':
    case '{':
        return parse_range(p, field);
    case '>':
    case '<':
        return parse_compare(p, field);
    case '+':
        return fail(p, start, "unexpected '+'; escape it as \\+ (use '-' or NOT to negate)");
    default:
        break;
    }
    struct word w;
    if (!read_word(p, W_VALUE, &w))
        return NULL;
    if (w.stop == '(')
        return fail(p, p->pos, "unexpected '(' after a value; put a space before it or escape it");
    return word_node(p, field, &w);
}

/* What follows "field:". */
static struct th_qnode *parse_value(struct parser *p, size_t field)
{
    if (at_term_end(p, p->pos))
        return fail(p, p->pos, "expected a value after ':'");
    if (peek(p) == '(')
        return parse_group(p, field);
    return parse_atom(p, field);
}

/* @name:value */
static struct th_qnode *parse_attr_field(struct parser *p)
{
    size_t at = p->pos++;
    struct word w;
    if (!read_word(p, W_CLAUSE, &w))
        return NULL;
    if (w.len == 0 && w.stop != ':')
        return fail(p, at + 1, "expected an attribute name after '@'");
    if (w.stop != ':')
        return fail(p, p->pos, "expected ':' after the attribute name");
    if (w.len == 0)
        return fail(p, at + 1, "expected an attribute name after '@'");
    if (w.nwild)
        return fail(p, at, "wildcards are not allowed in an attribute name");
    size_t a = add_attr(p, TH_NS_ATTR, p->buf, w.len, at);
    if (a == NO_FIELD)
        return NULL;
    p->pos++;
    return parse_value(p, a);
}

/* CIDR(@attr, prefix, ...): p->pos is at the '('. */
static struct th_qnode *parse_cidr(struct parser *p, size_t start)
{
    size_t open = p->pos++;
    skip_ws(p);
    size_t at = p->pos;
    if (peek(p) != '@')
        return fail(p, at, "expected an attribute (@name) as the first argument of CIDR");
    p->pos++;
    while (p->pos < p->len && !is_ws((unsigned char)p->s[p->pos]) && p->s[p->pos] != ',' &&
           p->s[p->pos] != '(' && p->s[p->pos] != ')')
        p->pos++;
    if (p->pos == at + 1)
        return fail(p, at + 1, "expected an attribute name after '@'");
    size_t a = add_attr(p, TH_NS_ATTR, p->s + at + 1, p->pos - at - 1, at);
    if (a == NO_FIELD)
        return NULL;
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, open, "unbalanced parenthesis: 'CIDR(' is never closed");
    if (peek(p) != ',')
        return fail(p, p->pos, "expected ',' and an IP prefix after the attribute in CIDR");

    struct th_qnode *n = new_node(p, TH_QN_MATCH, start);
    if (!n)
        return NULL;
    n->attr = a;
    n->m.kind = TH_QM_CIDR;
    size_t cap = 0;
    for (;;) {
        p->pos++; /* the ',' */
        skip_ws(p);
        size_t ps = p->pos;
        while (p->pos < p->len && !is_ws((unsigned char)p->s[p->pos]) && p->s[p->pos] != ',' &&
               p->s[p->pos] != '(' && p->s[p->pos] != ')')
            p->pos++;
        if (p->pos == ps) {
            node_free(n);
            return fail(p, ps, "expected an IP prefix in CIDR");
        }
        void *arr = n->m.cidr;
        if (th__grow(&arr, &cap, n->m.ncidr + 1, sizeof *n->m.cidr) < 0) {
            node_free(n);
            return oom(p);
        }
        n->m.cidr = arr;
        bool host_bits;
        struct th_cidr *c = &n->m.cidr[n->m.ncidr];
        if (!th__cidr_parse(p->s + ps, p->pos - ps, c, &host_bits)) {
            node_free(n);
            return fail(p, ps, "invalid IP prefix '%.*s' in CIDR", (int)(p->pos - ps), p->s + ps);
        }
        n->m.ncidr++;
        if (host_bits) {
            char fmt[64];
            warnf(p, ps, "IP prefix '%.*s' has host bits set; it matches %s", (int)(p->pos - ps),
                  p->s + ps, th__cidr_format(c, fmt, sizeof fmt));
        }
        skip_ws(p);
        int c2 = peek(p);
        if (c2 == ',')
            continue;
        if (c2 == ')')
            break;
        node_free(n);
        if (c2 < 0)
            return fail(p, open, "unbalanced parenthesis: 'CIDR(' is never closed");
        return fail(p, p->pos, "expected ',' or ')' in CIDR");
    }
    p->pos++;
    if (!expect_term_end(p, "CIDR(...)")) {
        node_free(n);
        return NULL;
    }
    return n;
}

static bool is_ident(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9')))
            return false;
    }
    return n > 0;
}

static struct th_qnode *parse_primary(struct parser *p, size_t field, const char *after)
{
    size_t start = p->pos;
    int c = peek(p);
    if (c < 0 || c == ')') {
        if (after)
            return fail(p, start, "expected a clause after %s", after);
        if (c < 0)
            return fail(p, start, "expected a clause");
        return fail(p, start, "unbalanced parenthesis: unexpected ')'");
    }
    const char *kw = at_keyword(p, "AND") ? "AND" : at_keyword(p, "OR") ? "OR" : NULL;
    if (kw) {
        if (after)
            return fail(p, start, "unexpected %s; expected a clause after %s", kw, after);
        return fail(p, start, "unexpected %s; expected a clause before it", kw);
    }
    switch (c) {
    case '(':
        return parse_group(p, field);
    case '@':
        return parse_attr_field(p);
    case '"':
    case '/':
    case '[':
    case '{':
    case '>':
    case '<':
    case '+':
        return parse_atom(p, field);
    default:
        break;
    }
    struct word w;
    if (!read_word(p, W_CLAUSE, &w))
        return NULL;
    if (w.stop == ':') {
        if (w.len == 0)
            return fail(p, start, "expected a field name before ':'");
        if (w.nwild)
            return fail(p, start, "wildcards are not allowed in a field name");
        size_t a = add_attr(p, TH_NS_BARE, p->buf, w.len, start);
        if (a == NO_FIELD)
            return NULL;
        p->pos++;
        return parse_value(p, a);
    }
    if (w.stop == '(') {
        if (!w.escaped && !w.nwild && is_ident(p->buf, w.len)) {
            if (w.len == 4 && memcmp(p->buf, "CIDR", 4) == 0)
                return parse_cidr(p, start);
            return fail(p, start, "unknown function %.*s; only CIDR is supported", (int)w.len,
                        p->buf);
        }
        return fail(p, p->pos, "unexpected '(' after a term; put a space before it or escape it");
    }
    return word_node(p, field, &w);
}

static struct th_qnode *parse_unary(struct parser *p, size_t field, const char *after)
{
    skip_ws(p);
    size_t start = p->pos;
    const char *op = NULL;
    if (at_keyword(p, "NOT")) {
        op = "NOT";
        p->pos += 3;
    } else if (peek(p) == '-') {
        if (at_term_end(p, p->pos + 1))
            return fail(p, start, "expected a clause right after '-'");
        op = "'-'";
        p->pos++;
    }
    if (!op)
        return parse_primary(p, field, after);
    if (++p->depth > TH_QUERY_MAX_DEPTH)
        return fail(p, start, "query nested too deeply (more than %u groups and negations)",
                    TH_QUERY_MAX_DEPTH);
    skip_ws(p);
    struct th_qnode *kid = parse_unary(p, field, op);
    p->depth--;
    if (!kid)
        return NULL;
    return wrap(p, TH_QN_NOT, start, kid);
}

/* Clauses joined by AND or juxtaposition; *multi tells whether there were several. */
static struct th_qnode *parse_and(struct parser *p, size_t field, const char *after, bool *multi)
{
    *multi = false;
    skip_ws(p);
    size_t start = p->pos;
    struct th_qnode *first = parse_unary(p, field, after);
    struct th_qnode *andn = NULL;
    if (!first)
        return NULL;
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->len || peek(p) == ')' || at_keyword(p, "OR"))
            break;
        const char *op = NULL;
        if (at_keyword(p, "AND")) {
            op = "AND";
            p->pos += 3;
        }
        struct th_qnode *kid = parse_unary(p, field, op);
        if (!kid)
            goto fail;
        if (!andn) {
            andn = wrap(p, TH_QN_AND, start, first);
            first = NULL;
            if (!andn) {
                node_free(kid);
                return NULL;
            }
        }
        if (!add_kid(p, andn, kid))
            goto fail;
        *multi = true;
    }
    return andn ? andn : first;
fail:
    node_free(first);
    node_free(andn);
    return NULL;
}

static struct th_qnode *parse_or(struct parser *p, size_t field, const char *after)
{
    skip_ws(p);
    size_t start = p->pos;
    if (++p->depth > TH_QUERY_MAX_DEPTH) {
        p->depth--;
        return fail(p, start, "query nested too deeply (more than %u groups and negations)",
                    TH_QUERY_MAX_DEPTH);
    }
    bool multi, mixed;
    struct th_qnode *first = parse_and(p, field, after, &multi);
    struct th_qnode *orn = NULL;
    size_t or_pos = SIZE_MAX;
    mixed = multi;
    if (!first)
        goto out;
    for (;;) {
        skip_ws(p);
        if (!at_keyword(p, "OR"))
            break;
        if (or_pos == SIZE_MAX)
            or_pos = p->pos;
        p->pos += 2;
        struct th_qnode *kid = parse_and(p, field, "OR", &multi);
        if (!kid)
            goto fail;
        mixed = mixed || multi;
        if (!orn) {
            orn = wrap(p, TH_QN_OR, start, first);
            first = NULL;
            if (!orn) {
                node_free(kid);
                goto out;
            }
        }
        if (!add_kid(p, orn, kid))
            goto fail;
    }
    if (orn && mixed)
        warnf(p, or_pos,
              "AND and OR mixed without parentheses; add parentheses to make the meaning "
              "explicit (here AND binds tighter than OR)");
    if (orn)
        first = orn;
    orn = NULL;
    goto out;
fail:
    node_free(first);
    node_free(orn);
    first = NULL;
out:
    p->depth--;
    return first;
}

/* ------------------------------------------------------------------------------------ */
/* Public entry points */

void th__query_free(struct th_query *q)
{
    if (!q)
        return;
    node_free(q->root);
    for (size_t i = 0; i < q->nattrs; i++)
        th__attr_fini(&q->attrs[i]);
    free(q->attrs);
    free(q->text);
    free(q);
}

const char *th__query_text(const struct th_query *q)
{
    return q->text;
}

int th__query_compile(const char *text, size_t len, th_query_warn_fn warn, void *warn_ctx,
                      struct th_query **out, unsigned *err_col, struct th_err *err)
{
    *out = NULL;
    if (err_col)
        *err_col = 0;
    if (!text)
        len = 0;
    struct parser p;
    memset(&p, 0, sizeof p);
    p.s = text ? text : "";
    p.len = len;
    p.warn = warn;
    p.warn_ctx = warn_ctx;
    p.err = err;

    const char *nul;
    if (len > TH_QUERY_MAX_LEN) {
        fail(&p, 0, "query too long: %zu bytes (the limit is %u)", len, TH_QUERY_MAX_LEN);
        goto done;
    }
    if ((nul = memchr(p.s, '\0', len)) != NULL) {
        fail(&p, (size_t)(nul - p.s), "NUL byte in the query");
        goto done;
    }
    p.q = calloc(1, sizeof *p.q);
    p.buf = malloc(len + 3);
    p.wild = malloc(len + 3);
    if (!p.q || !p.buf || !p.wild || !(p.q->text = th__strndup(p.s, len))) {
        oom(&p);
        goto done;
    }
    p.q->len = len;
    skip_ws(&p);
    if (p.pos >= p.len) {
        fail(&p, 0, "empty query");
        goto done;
    }
    p.q->root = parse_or(&p, NO_FIELD, NULL);
    if (p.q->root && p.pos < p.len)
        fail(&p, p.pos, "unbalanced parenthesis: unexpected ')'");
done:
    free(p.buf);
    free(p.wild);
    if (p.code) {
        th__query_free(p.q);
        if (err_col)
            *err_col = (unsigned)(p.err_pos + 1);
        return p.code;
    }
    *out = p.q;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Dump */

struct dump {
    char *buf;
    size_t size, len;
};

static void put(struct dump *d, const char *s, size_t n)
{
    if (d->len < d->size) {
        size_t room = d->size - d->len - 1;
        memcpy(d->buf + d->len, s, n < room ? n : room);
        d->buf[d->len + (n < room ? n : room)] = '\0';
    }
    d->len += n;
}

static void puts_(struct dump *d, const char *s)
{
    put(d, s, strlen(s));
}

/* Writes s quoted, with '"' and '\\' escaped. */
static void put_quoted(struct dump *d, const char *s, size_t n)
{
    put(d, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            put(d, "\\", 1);
        put(d, s + i, 1);
    }
    put(d, "\"", 1);
}

static void dump_num(struct dump *d, double v)
{
    char b[40];
    int k = snprintf(b, sizeof b, "%.17g", v);
    put(d, b, (size_t)k);
}

static void dump_match(struct dump *d, const struct th_qmatch *m)
{
    switch (m->kind) {
    case TH_QM_GLOB: {
        const struct th_glob *g = &m->glob;
        puts_(d, th__glob_kind_name(g->kind));
        put(d, ":", 1);
        if (g->kind != TH_GLOB_GENERAL) {
            put_quoted(d, g->lit, g->lit_len);
            break;
        }
        /* Wildcards bare, literal bytes escaped where they would be special. */
        for (size_t i = 0; i < g->len; i++) {
            if (g->op[i] == TH_GLOB_OP_LIT && strchr("*?\\ ", g->pat[i]))
                put(d, "\\", 1);
            put(d, g->pat + i, 1);
        }
        break;
    }
    case TH_QM_RANGE: {
        const struct th_qrange *r = &m->range;
        put(d, r->lo_incl ? "[" : "{", 1);
        if (!r->has_lo)
            put(d, "*", 1);
        else if (r->numeric)
            dump_num(d, r->lo);
        else
            put_quoted(d, r->slo, r->slo_len);
        puts_(d, " TO ");
        if (!r->has_hi)
            put(d, "*", 1);
        else if (r->numeric)
            dump_num(d, r->hi);
        else
            put_quoted(d, r->shi, r->shi_len);
        put(d, r->hi_incl ? "]" : "}", 1);
        break;
    }
    case TH_QM_REGEX:
        put(d, "/", 1);
        puts_(d, m->re_src);
        put(d, "/", 1);
        break;
    case TH_QM_CIDR:
        puts_(d, "CIDR(");
        for (size_t i = 0; i < m->ncidr; i++) {
            char b[64];
            if (i)
                put(d, ",", 1);
            puts_(d, th__cidr_format(&m->cidr[i], b, sizeof b));
        }
        put(d, ")", 1);
        break;
    }
}

static void dump_attr(struct dump *d, const struct th_attr *a)
{
    if (a->ns == TH_NS_ATTR)
        put(d, "@", 1);
    puts_(d, a->name ? a->name : "?");
}

static void dump_node(struct dump *d, const struct th_query *q, const struct th_qnode *n)
{
    switch (n->kind) {
    case TH_QN_AND:
    case TH_QN_OR:
    case TH_QN_NOT:
        puts_(d, n->kind == TH_QN_AND ? "(AND" : n->kind == TH_QN_OR ? "(OR" : "(NOT");
        for (size_t i = 0; i < n->nkids; i++) {
            put(d, " ", 1);
            dump_node(d, q, n->kids[i]);
        }
        put(d, ")", 1);
        break;
    case TH_QN_TRUE:
        puts_(d, "TRUE");
        break;
    case TH_QN_EXISTS:
        dump_attr(d, &q->attrs[n->attr]);
        puts_(d, ":*");
        break;
    case TH_QN_MATCH:
        dump_attr(d, &q->attrs[n->attr]);
        put(d, ":", 1);
        dump_match(d, &n->m);
        break;
    case TH_QN_TEXT:
        puts_(d, "TEXT:");
        dump_match(d, &n->m);
        break;
    }
}

size_t th__query_dump(const struct th_query *q, char *buf, size_t size)
{
    struct dump d = {buf, size, 0};
    if (size)
        buf[0] = '\0';
    if (q && q->root)
        dump_node(&d, q, q->root);
    return d.len;
}
