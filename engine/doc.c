/*
 * doc.c - the rule files' document tree, built from libyaml's document API.
 *
 * libyaml composes a whole document into an array of nodes that refer to each other by
 * index; this file copies that array into th_doc_node objects (one per libyaml node, all
 * allocated in one block), checking on the way what libyaml leaves to its users: nesting
 * depth, aliases (a node reached twice), mapping keys that are not scalars or that repeat.
 * Flow nesting (`[[[...`) is checked on libyaml's tokens before composing: its scanner
 * takes time quadratic in that depth.
 * The source text is kept with a table of line starts, so th__doc_locate() can turn an
 * offset inside a scalar into a file position.
 *
 * State: none beyond the returned tree, which is immutable. libyaml's own structures are
 * freed before th__doc_parse returns. Ignored: tags, anchors' names, comments, and every
 * document after the first (which is an error rather than silently dropped).
 */
#include "doc.h"

#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct th_doc {
    char *name;
    char *src; /* a copy of the input */
    size_t src_len;
    size_t *line_start; /* byte offset of each line's first byte */
    size_t nlines;
    struct th_doc_node *nodes; /* one per libyaml node; unreached ones stay zeroed */
    size_t nnodes;
    const struct th_doc_node *root;
};

/* Line starts as libyaml counts lines: \n, \r\n, lone \r, NEL, LS and PS all end one. */
static int build_lines(struct th_doc *d)
{
    size_t cap = 0;
    size_t first = 0;
    if (d->src_len >= 3 && memcmp(d->src, "\xEF\xBB\xBF", 3) == 0)
        first = 3; /* libyaml does not count the byte order mark */
    if (th__grow((void **)&d->line_start, &cap, 1, sizeof *d->line_start) < 0)
        return TH_ENOMEM;
    d->line_start[d->nlines++] = first;
    const unsigned char *s = (const unsigned char *)d->src;
    for (size_t i = first; i < d->src_len; i++) {
        size_t next = 0;
        if (s[i] == '\n')
            next = i + 1;
        else if (s[i] == '\r')
            next = (i + 1 < d->src_len && s[i + 1] == '\n') ? i + 2 : i + 1;
        else if (s[i] == 0xC2 && i + 1 < d->src_len && s[i + 1] == 0x85)
            next = i + 2;
        else if (s[i] == 0xE2 && i + 2 < d->src_len && s[i + 1] == 0x80 &&
                 (s[i + 2] == 0xA8 || s[i + 2] == 0xA9))
            next = i + 3;
        if (!next)
            continue;
        if (th__grow((void **)&d->line_start, &cap, d->nlines + 1, sizeof *d->line_start) < 0)
            return TH_ENOMEM;
        d->line_start[d->nlines++] = next;
        i = next - 1;
    }
    return 0;
}

static bool utf8_lead(unsigned char c)
{
    return (c & 0xC0) != 0x80;
}

/* Byte offset of (line, col), both 1-based, col counted in characters as libyaml does. */
static size_t src_offset(const struct th_doc *d, unsigned line, unsigned col)
{
    if (line == 0 || line > d->nlines)
        return d->src_len;
    size_t p = d->line_start[line - 1];
    for (unsigned c = 1; c < col && p < d->src_len; c++) {
        p++;
        while (p < d->src_len && !utf8_lead((unsigned char)d->src[p]))
            p++;
    }
    return p;
}

/* The 1-based column (in characters) of byte p on line. */
static unsigned src_col(const struct th_doc *d, unsigned line, size_t p)
{
    size_t start = d->line_start[line - 1];
    unsigned col = 1;
    for (size_t i = start; i < p && i < d->src_len; i++)
        if (utf8_lead((unsigned char)d->src[i]))
            col++;
    return col;
}

static unsigned utf8_len_of(unsigned long cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

static unsigned long hex_value(const char *p, size_t n, size_t avail)
{
    unsigned long v = 0;
    for (size_t i = 0; i < n && i < avail; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned long)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned long)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned long)(c - 'A' + 10);
    }
    return v;
}

/*
 * Walks a one-line quoted scalar in the source from its opening quote at byte p and
 * returns the source byte where value byte `offset` comes from.
 */
static size_t quoted_src(const struct th_doc *d, size_t p, bool dbl, size_t offset)
{
    const char *s = d->src;
    size_t end = d->src_len, q = p + 1, v = 0;
    char quote = dbl ? '"' : '\'';
    while (v < offset && q < end) {
        if (s[q] == '\n' || s[q] == '\r')
            break;
        if (!dbl && s[q] == '\'') {
            if (q + 1 < end && s[q + 1] == '\'') {
                q += 2;
                v++;
                continue;
            }
            break;
        }
        if (dbl && s[q] == quote)
            break;
        if (dbl && s[q] == '\\' && q + 1 < end) {
            size_t sw = 2, vw = 1;
            switch (s[q + 1]) {
            case 'x':
                sw = 4;
                vw = utf8_len_of(hex_value(s + q + 2, 2, end - q - 2));
                break;
            case 'u':
                sw = 6;
                vw = utf8_len_of(hex_value(s + q + 2, 4, end - q - 2));
                break;
            case 'U':
                sw = 10;
                vw = utf8_len_of(hex_value(s + q + 2, 8, end - q - 2));
                break;
            case 'N':
            case '_':
                vw = 2;
                break;
            case 'L':
            case 'P':
                vw = 3;
                break;
            }
            q += sw;
            v += vw;
            continue;
        }
        q++;
        v++;
    }
    return q < end ? q : end;
}

void th__doc_locate(const struct th_doc *d, const struct th_doc_node *n, size_t offset,
                    unsigned *line, unsigned *col)
{
    *line = n->line;
    *col = n->col;
    if (n->kind != TH_DOC_SCALAR || n->line == 0 || n->line > d->nlines)
        return;
    if (offset > n->len)
        offset = n->len;
    size_t p = src_offset(d, n->line, n->col);
    if (n->end_line == n->line &&
        (n->style == TH_DOC_PLAIN || n->style == TH_DOC_SINGLE || n->style == TH_DOC_DOUBLE)) {
        size_t q;
        if (n->style == TH_DOC_PLAIN)
            q = p + offset;
        else
            q = quoted_src(d, p, n->style == TH_DOC_DOUBLE, offset);
        if (q > d->src_len)
            q = d->src_len;
        *col = src_col(d, n->line, q);
        return;
    }
    if (n->style != TH_DOC_LITERAL)
        return;
    /* A literal block: value line k is file line n->line + 1 + k, less the indentation,
     * which is that of the block's first non-blank line. */
    unsigned k = 0;
    size_t bol = 0;
    for (size_t i = 0; i < offset; i++)
        if (n->s[i] == '\n') {
            k++;
            bol = i + 1;
        }
    unsigned indent = 0;
    for (unsigned l = n->line + 1; l <= d->nlines && l <= n->end_line; l++) {
        size_t i = d->line_start[l - 1];
        unsigned sp = 0;
        while (i < d->src_len && d->src[i] == ' ') {
            i++;
            sp++;
        }
        if (i < d->src_len && d->src[i] != '\n' && d->src[i] != '\r') {
            indent = sp;
            break;
        }
    }
    unsigned target = n->line + 1 + k;
    if (target > d->nlines)
        return;
    size_t q = d->line_start[target - 1] + indent + (offset - bol);
    size_t eol = target < d->nlines ? d->line_start[target] : d->src_len;
    if (q > eol)
        q = eol;
    *line = target;
    *col = src_col(d, target, q);
}

const struct th_doc_node *th__doc_root(const struct th_doc *d)
{
    return d ? d->root : NULL;
}

const char *th__doc_name(const struct th_doc *d)
{
    return d->name;
}

const struct th_doc_node *th__doc_get(const struct th_doc_node *map, const char *key)
{
    if (!map || map->kind != TH_DOC_MAP)
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; i < map->n; i++) {
        const struct th_doc_node *k = map->items[2 * i];
        if (k->len == klen && memcmp(k->s, key, klen) == 0)
            return map->items[2 * i + 1];
    }
    return NULL;
}

bool th__doc_is_null(const struct th_doc_node *n)
{
    if (!n)
        return true;
    if (n->kind != TH_DOC_SCALAR || n->style != TH_DOC_PLAIN)
        return false;
    return n->len == 0 || strcmp(n->s, "~") == 0 || strcmp(n->s, "null") == 0 ||
           strcmp(n->s, "Null") == 0 || strcmp(n->s, "NULL") == 0;
}

const char *th__doc_kind_name(const struct th_doc_node *n)
{
    if (th__doc_is_null(n))
        return "null";
    switch (n->kind) {
    case TH_DOC_SEQ:
        return "a list";
    case TH_DOC_MAP:
        return "a map";
    case TH_DOC_SCALAR:
        break;
    }
    bool b;
    double x;
    if (th__doc_bool(n, &b))
        return "a boolean";
    if (th__doc_number(n, &x))
        return "a number";
    return "a string";
}

bool th__doc_bool(const struct th_doc_node *n, bool *out)
{
    if (!n || n->kind != TH_DOC_SCALAR || n->style != TH_DOC_PLAIN)
        return false;
    static const char *const t[] = {"true", "True", "TRUE"};
    static const char *const f[] = {"false", "False", "FALSE"};
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(n->s, t[i]) == 0)
            return (*out = true), true;
        if (strcmp(n->s, f[i]) == 0)
            return (*out = false), true;
    }
    return false;
}

bool th__doc_int(const struct th_doc_node *n, int64_t *out)
{
    if (!n || n->kind != TH_DOC_SCALAR || n->style != TH_DOC_PLAIN || n->len == 0)
        return false;
    const char *s = n->s;
    size_t i = 0;
    bool neg = false;
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i++;
    }
    if (i == n->len)
        return false;
    uint64_t v = 0;
    for (; i < n->len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (v > (UINT64_C(1) << 62))
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

bool th__doc_number(const struct th_doc_node *n, double *out)
{
    if (!n || n->kind != TH_DOC_SCALAR || n->style != TH_DOC_PLAIN || n->len == 0 || n->len > 64)
        return false;
    /* Digits, sign, point and exponent only: strtod would also take "inf", "nan", hex. */
    for (size_t i = 0; i < n->len; i++) {
        char c = n->s[i];
        if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'))
            return false;
    }
    char *end;
    double v = strtod(n->s, &end);
    if (end != n->s + n->len || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* ------------------------------------------------------------------------------------- */

struct build {
    struct th_doc *d;
    yaml_document_t *y;
    unsigned char *seen;
    struct th_err *err;
};

static int build_node(struct build *b, int index, unsigned depth, struct th_doc_node **out)
{
    yaml_node_t *yn = yaml_document_get_node(b->y, index);
    if (!yn)
        return th__err(b->err, TH_EPARSE, b->d->name, "broken YAML document");
    size_t i = (size_t)(yn - b->y->nodes.start);
    struct th_doc_node *n = &b->d->nodes[i];
    unsigned line = (unsigned)yn->start_mark.line + 1, col = (unsigned)yn->start_mark.column + 1;
    if (b->seen[i])
        return th__err_at(b->err, TH_EPARSE, b->d->name, line, col,
                          "YAML aliases are not supported in rule files");
    if (depth > TH_DOC_MAX_DEPTH)
        return th__err_at(b->err, TH_EPARSE, b->d->name, line, col, "nesting deeper than %d levels",
                          TH_DOC_MAX_DEPTH);
    b->seen[i] = 1;
    n->line = line;
    n->col = col;
    n->end_line = (unsigned)yn->end_mark.line + 1;
    *out = n;
    switch (yn->type) {
    case YAML_SCALAR_NODE: {
        n->kind = TH_DOC_SCALAR;
        switch (yn->data.scalar.style) {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE:
            n->style = TH_DOC_SINGLE;
            break;
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
            n->style = TH_DOC_DOUBLE;
            break;
        case YAML_LITERAL_SCALAR_STYLE:
            n->style = TH_DOC_LITERAL;
            break;
        case YAML_FOLDED_SCALAR_STYLE:
            n->style = TH_DOC_FOLDED;
            break;
        default:
            n->style = TH_DOC_PLAIN;
            break;
        }
        char *s = th__strndup((const char *)yn->data.scalar.value, yn->data.scalar.length);
        if (!s)
            return TH_ENOMEM;
        n->s = s;
        n->len = yn->data.scalar.length;
        return 0;
    }
    case YAML_SEQUENCE_NODE: {
        n->kind = TH_DOC_SEQ;
        size_t cnt = (size_t)(yn->data.sequence.items.top - yn->data.sequence.items.start);
        if (cnt && !(n->items = calloc(cnt, sizeof *n->items)))
            return TH_ENOMEM;
        for (size_t k = 0; k < cnt; k++) {
            int rc = build_node(b, yn->data.sequence.items.start[k], depth + 1, &n->items[k]);
            if (rc < 0)
                return rc;
            n->n = k + 1;
        }
        return 0;
    }
    case YAML_MAPPING_NODE: {
        n->kind = TH_DOC_MAP;
        size_t cnt = (size_t)(yn->data.mapping.pairs.top - yn->data.mapping.pairs.start);
        if (cnt && !(n->items = calloc(2 * cnt, sizeof *n->items)))
            return TH_ENOMEM;
        for (size_t k = 0; k < cnt; k++) {
            struct th_doc_node *key, *val;
            int rc = build_node(b, yn->data.mapping.pairs.start[k].key, depth + 1, &key);
            if (rc < 0)
                return rc;
            n->items[2 * k] = key;
            if (key->kind != TH_DOC_SCALAR)
                return th__err_at(b->err, TH_EPARSE, b->d->name, key->line, key->col,
                                  "mapping keys must be plain strings, not %s",
                                  th__doc_kind_name(key));
            for (size_t j = 0; j < k; j++) {
                const struct th_doc_node *o = n->items[2 * j];
                if (o->len == key->len && memcmp(o->s, key->s, key->len) == 0)
                    return th__err_at(b->err, TH_EPARSE, b->d->name, key->line, key->col,
                                      "duplicate key '%s' (first at line %u)", key->s, o->line);
            }
            rc = build_node(b, yn->data.mapping.pairs.start[k].value, depth + 1, &val);
            if (rc < 0)
                return rc;
            n->items[2 * k + 1] = val;
            n->n = k + 1;
        }
        return 0;
    }
    default:
        return th__err_at(b->err, TH_EPARSE, b->d->name, line, col, "empty YAML node");
    }
}

static int yaml_error(const yaml_parser_t *p, const char *name, struct th_err *err)
{
    if (p->error == YAML_MEMORY_ERROR)
        return TH_ENOMEM;
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->context)
        return th__err_at(err, TH_EPARSE, name, (unsigned)p->problem_mark.line + 1,
                          (unsigned)p->problem_mark.column + 1, "%s %s", p->context, problem);
    return th__err_at(err, TH_EPARSE, name, (unsigned)p->problem_mark.line + 1,
                      (unsigned)p->problem_mark.column + 1, "%s", problem);
}

/*
 * libyaml refused a .json file: ask json-c where the JSON is broken. Returns TH_EPARSE with
 * err filled when json-c finds an error, else 0 (libyaml's message then stands).
 */
static int json_error(const struct th_doc *d, struct th_err *err)
{
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return 0;
    json_object *o =
        json_tokener_parse_ex(tok, d->src, (int)(d->src_len > INT32_MAX ? INT32_MAX : d->src_len));
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t off = json_tokener_get_parse_end(tok);
    json_object_put(o);
    json_tokener_free(tok);
    const char *desc;
    if (e == json_tokener_success) {
        while (off < d->src_len && (d->src[off] == ' ' || d->src[off] == '\t' ||
                                    d->src[off] == '\n' || d->src[off] == '\r'))
            off++;
        if (off >= d->src_len)
            return 0;
        desc = "more text after the JSON value";
    } else {
        desc = e == json_tokener_continue ? "unexpected end of JSON" : json_tokener_error_desc(e);
    }
    unsigned line = 1;
    for (size_t i = 1; i < d->nlines && d->line_start[i] <= off; i++)
        line = (unsigned)i + 1;
    size_t start = d->line_start[line - 1];
    unsigned col = 1;
    for (size_t i = start; i < off && i < d->src_len; i++)
        if (utf8_lead((unsigned char)d->src[i]))
            col++;
    return th__err_at(err, TH_EPARSE, d->name, line, col, "invalid JSON: %s", desc);
}

/*
 * libyaml's scanner looks at every open flow level for each token it reads, so text nested
 * n deep in `[` or `{` costs n * n steps (100k levels: minutes, and a 1 MiB file holds
 * 500k). Before composing, scan the tokens once and stop at the first collection (flow or
 * block, so that deep block nesting is not composed either) deeper than the tree would
 * take. Returns 0 (also on a
 * scanner error: the composer meets it again, within the depth, and reports it), TH_EPARSE
 * with err at that collection, or TH_ENOMEM.
 */
static int check_depth(const struct th_doc *d, size_t bom, struct th_err *err)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return TH_ENOMEM;
    yaml_parser_set_input_string(&p, (const unsigned char *)d->src + bom, d->src_len - bom);
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
    int rc = 0;
    unsigned depth = 0;
    for (;;) {
        yaml_token_t t;
        if (!yaml_parser_scan(&p, &t)) {
            rc = p.error == YAML_MEMORY_ERROR ? TH_ENOMEM : 0;
            break;
        }
        yaml_token_type_t type = t.type;
        yaml_mark_t m = t.start_mark;
        yaml_token_delete(&t);
        if (type == YAML_STREAM_END_TOKEN)
            break;
        if (type == YAML_FLOW_SEQUENCE_START_TOKEN || type == YAML_FLOW_MAPPING_START_TOKEN ||
            type == YAML_BLOCK_SEQUENCE_START_TOKEN || type == YAML_BLOCK_MAPPING_START_TOKEN) {
            /* One more than the tree allows: an empty collection at the last level is
             * still a node the tree takes. */
            if (++depth > TH_DOC_MAX_DEPTH + 1) {
                rc = th__err_at(err, TH_EPARSE, d->name, (unsigned)m.line + 1,
                                (unsigned)m.column + 1, "nesting deeper than %d levels",
                                TH_DOC_MAX_DEPTH);
                break;
            }
        } else if ((type == YAML_FLOW_SEQUENCE_END_TOKEN || type == YAML_FLOW_MAPPING_END_TOKEN ||
                    type == YAML_BLOCK_END_TOKEN) &&
                   depth > 0) {
            depth--;
        }
    }
    yaml_parser_delete(&p);
    return rc;
}

void th__doc_free(struct th_doc *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nnodes; i++) {
        free((char *)d->nodes[i].s);
        free(d->nodes[i].items);
    }
    free(d->nodes);
    free(d->line_start);
    free(d->src);
    free(d->name);
    free(d);
}

int th__doc_parse(const char *name, const char *data, size_t len, bool json, struct th_doc **out,
                  struct th_err *err)
{
    *out = NULL;
    int rc = TH_ENOMEM;
    bool parser_ok = false, doc_ok = false;
    yaml_parser_t parser;
    yaml_document_t ydoc;
    unsigned char *seen = NULL;
    struct th_doc *d = calloc(1, sizeof *d);
    if (!d || !(d->name = th__strdup(name ? name : "")) || !(d->src = th__strndup(data, len)))
        goto done;
    d->src_len = len;
    if (build_lines(d) < 0)
        goto done;
    if (!yaml_parser_initialize(&parser))
        goto done;
    parser_ok = true;
    /* UTF-8 only; with the encoding set, libyaml no longer skips a byte order mark, so
     * skip it here (line_start[0] already accounts for it). */
    size_t bom = d->line_start[0];
    if ((rc = check_depth(d, bom, err)) < 0)
        goto done;
    rc = TH_ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)d->src + bom, len - bom);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    if (!yaml_parser_load(&parser, &ydoc)) {
        rc = TH_EPARSE;
        if (json && (rc = json_error(d, err)) < 0)
            goto done;
        rc = yaml_error(&parser, d->name, err);
        goto done;
    }
    doc_ok = true;
    yaml_node_t *root = yaml_document_get_root_node(&ydoc);
    if (!root) {
        *out = d;
        d = NULL;
        rc = 0;
        goto done;
    }
    d->nnodes = (size_t)(ydoc.nodes.top - ydoc.nodes.start);
    if (!(d->nodes = calloc(d->nnodes, sizeof *d->nodes)) || !(seen = calloc(d->nnodes, 1)))
        goto done;
    struct build b = {d, &ydoc, seen, err};
    struct th_doc_node *r = NULL;
    if ((rc = build_node(&b, 1, 0, &r)) < 0)
        goto done;
    d->root = r;
    /* A second document is a mistake (a stray `---`), not something to ignore. */
    yaml_document_t next;
    if (!yaml_parser_load(&parser, &next)) {
        if (json && (rc = json_error(d, err)) < 0)
            goto done;
        rc = yaml_error(&parser, d->name, err);
        goto done;
    }
    yaml_node_t *nroot = yaml_document_get_root_node(&next);
    if (nroot) {
        rc = th__err_at(err, TH_EPARSE, d->name, (unsigned)nroot->start_mark.line + 1,
                        (unsigned)nroot->start_mark.column + 1,
                        "more than one document in the file (one rule per file)");
        yaml_document_delete(&next);
        goto done;
    }
    yaml_document_delete(&next);
    *out = d;
    d = NULL;
    rc = 0;
done:
    free(seen);
    if (doc_ok)
        yaml_document_delete(&ydoc);
    if (parser_ok)
        yaml_parser_delete(&parser);
    th__doc_free(d);
    return rc;
}
