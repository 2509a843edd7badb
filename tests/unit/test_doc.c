/*
 * test_doc.c - the rule files' document tree (doc.c): YAML and JSON into nodes with
 * 1-based positions, typed scalar readers, positions inside scalars (plain, quoted with
 * escapes, literal blocks), and the errors: syntax, aliases, duplicate keys, non-scalar
 * keys, a second document, depth, and json-c's message for broken .json files.
 */
#include "doc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static struct th_err err;

static struct th_doc *parse(const char *text, bool json)
{
    struct th_doc *d = NULL;
    memset(&err, 0, sizeof err);
    int rc = th__doc_parse("f.yaml", text, strlen(text), json, &d, &err);
    if (rc < 0)
        CHECK(d == NULL);
    return d;
}

/* Parses text expecting an error; returns "where: msg". */
static char ebuf[1100];
static const char *parse_error(const char *text, bool json)
{
    struct th_doc *d = parse(text, json);
    CHECK(d == NULL);
    th__doc_free(d);
    snprintf(ebuf, sizeof ebuf, "%s: %s", err.where, err.msg);
    return ebuf;
}

static char pbuf[64];
static const char *locate(const struct th_doc *d, const struct th_doc_node *n, size_t off)
{
    unsigned line, col;
    th__doc_locate(d, n, off, &line, &col);
    snprintf(pbuf, sizeof pbuf, "%u:%u", line, col);
    return pbuf;
}

static void test_yaml(void)
{
    const char *y = "id: x-1\n"
                    "n: 42\n"
                    "neg: -7\n"
                    "f: 2.5\n"
                    "b: true\n"
                    "q: '42'\n"
                    "nul: ~\n"
                    "empty:\n"
                    "list:\n"
                    "  - a\n"
                    "  - {k: v}\n"
                    "flow: [1, 2]\n";
    struct th_doc *d = parse(y, false);
    CHECK(d != NULL);
    if (!d)
        return;
    const struct th_doc_node *r = th__doc_root(d);
    CHECK(r && r->kind == TH_DOC_MAP);
    CHECK_INT(r->n, 10);
    CHECK_INT(r->line, 1);
    CHECK_INT(r->col, 1);
    const struct th_doc_node *n = th__doc_get(r, "id");
    CHECK_STR(n->s, "x-1");
    CHECK_INT(n->line, 1);
    CHECK_INT(n->col, 5);
    int64_t i;
    double x;
    bool b;
    CHECK(th__doc_int(th__doc_get(r, "n"), &i) && i == 42);
    CHECK(th__doc_int(th__doc_get(r, "neg"), &i) && i == -7);
    CHECK(!th__doc_int(th__doc_get(r, "f"), &i));
    CHECK(th__doc_number(th__doc_get(r, "f"), &x) && x == 2.5);
    CHECK(th__doc_number(th__doc_get(r, "n"), &x) && x == 42);
    CHECK(!th__doc_int(th__doc_get(r, "q"), &i)); /* quoted: a string */
    CHECK(!th__doc_number(th__doc_get(r, "id"), &x));
    CHECK(th__doc_bool(th__doc_get(r, "b"), &b) && b);
    CHECK(!th__doc_bool(th__doc_get(r, "n"), &b));
    CHECK(th__doc_is_null(th__doc_get(r, "nul")));
    CHECK(th__doc_is_null(th__doc_get(r, "empty")));
    CHECK(th__doc_is_null(th__doc_get(r, "absent")));
    CHECK(!th__doc_is_null(th__doc_get(r, "q")));
    CHECK(th__doc_get(r, "absent") == NULL);
    CHECK(th__doc_get(th__doc_get(r, "list"), "a") == NULL); /* not a map */
    const struct th_doc_node *l = th__doc_get(r, "list");
    CHECK(l->kind == TH_DOC_SEQ && l->n == 2);
    CHECK_INT(l->items[1]->line, 11);
    CHECK_INT(l->items[1]->col, 5);
    CHECK_STR(th__doc_get(l->items[1], "k")->s, "v");
    CHECK_STR(th__doc_kind_name(l), "a list");
    CHECK_STR(th__doc_kind_name(l->items[1]), "a map");
    CHECK_STR(th__doc_kind_name(th__doc_get(r, "id")), "a string");
    CHECK_STR(th__doc_kind_name(th__doc_get(r, "q")), "a string");
    CHECK_STR(th__doc_kind_name(th__doc_get(r, "n")), "a number");
    CHECK_STR(th__doc_kind_name(th__doc_get(r, "b")), "a boolean");
    CHECK_STR(th__doc_kind_name(th__doc_get(r, "nul")), "null");
    CHECK_STR(th__doc_get(r, "flow")->items[1]->s, "2");
    CHECK_INT(th__doc_get(r, "flow")->items[1]->col, 11);
    CHECK_STR(th__doc_name(d), "f.yaml");
    th__doc_free(d);

    /* An empty stream has no root; so does a comment-only file. */
    d = parse("# nothing\n", false);
    CHECK(d != NULL && th__doc_root(d) == NULL);
    th__doc_free(d);
}

static void test_locate(void)
{
    const char *y = "plain: '@evt.name:x y'\n"
                    "dq: \"a\\\"b\\u00e9c\"\n"
                    "sq: 'it''s x'\n"
                    "p: abc def\n"
                    "lit: |\n"
                    "    first line\n"
                    "      second {{\n"
                    "    third\n"
                    "fold: >\n"
                    "  a\n"
                    "  b\n"
                    "é: 'ab'\n";
    struct th_doc *d = parse(y, false);
    CHECK(d != NULL);
    if (!d)
        return;
    const struct th_doc_node *r = th__doc_root(d);
    /* Single-quoted: the value starts one column after the quote. */
    CHECK_STR(locate(d, th__doc_get(r, "plain"), 0), "1:9");
    CHECK_STR(locate(d, th__doc_get(r, "plain"), 10), "1:19");
    /* Double-quoted with escapes: \" is two source bytes, \u00e9 six for two value bytes. */
    const struct th_doc_node *dq = th__doc_get(r, "dq");
    CHECK_STR(dq->s, "a\"b\xc3\xa9"
                     "c");
    CHECK_STR(locate(d, dq, 2), "2:9");  /* 'b' */
    CHECK_STR(locate(d, dq, 5), "2:16"); /* 'c' */
    /* Single-quoted with '' */
    const struct th_doc_node *sq = th__doc_get(r, "sq");
    CHECK_STR(sq->s, "it's x");
    CHECK_STR(locate(d, sq, 5), "3:12");
    CHECK_STR(locate(d, th__doc_get(r, "p"), 4), "4:8");
    /* Literal block: value line k is file line 6 + k, less 4 columns of indentation. */
    const struct th_doc_node *lit = th__doc_get(r, "lit");
    CHECK_STR(lit->s, "first line\n  second {{\nthird\n");
    CHECK_STR(locate(d, lit, 0), "6:5");
    CHECK_STR(locate(d, lit, 6), "6:11");
    CHECK_STR(locate(d, lit, 11 + 9), "7:14"); /* the '{{' */
    CHECK_STR(locate(d, lit, 24), "8:6");
    /* Folded: only the node's own position. */
    CHECK_STR(locate(d, th__doc_get(r, "fold"), 2), "9:7");
    /* A multi-byte key: columns count characters. */
    const struct th_doc_node *e = th__doc_get(r, "\xc3\xa9");
    CHECK(e != NULL);
    if (e) {
        CHECK_INT(e->col, 4);
        CHECK_STR(locate(d, e, 1), "12:6");
    }
    th__doc_free(d);

    /* A byte order mark is skipped and does not shift columns. */
    d = parse("\xef\xbb\xbf"
              "a: 'xyz'\nb: c\n",
              false);
    CHECK(d != NULL);
    if (d) {
        CHECK_INT(th__doc_get(th__doc_root(d), "a")->col, 4);
        CHECK_STR(locate(d, th__doc_get(th__doc_root(d), "a"), 1), "1:6");
        th__doc_free(d);
    }
    CHECK_CONTAINS(parse_error("\xef\xbb\xbf"
                               "a: 1\nb: c: d\n",
                               false),
                   "f.yaml:2:5: mapping");

    /* Windows line ends count once. */
    d = parse("a: 1\r\nb: 'xyz'\r\n", false);
    CHECK(d != NULL);
    if (d) {
        CHECK_STR(locate(d, th__doc_get(th__doc_root(d), "b"), 2), "2:7");
        th__doc_free(d);
    }
}

static void test_json(void)
{
    const char *j = "{\n"
                    "  \"name\": \"x\",\n"
                    "\t\"isEnabled\":true,\n"
                    "  \"queries\": [{\"query\": \"a\\/b\", \"n\": 2.5e3}],\n"
                    "  \"nul\": null\n"
                    "}\n";
    struct th_doc *d = parse(j, true);
    CHECK(d != NULL);
    if (!d)
        return;
    const struct th_doc_node *r = th__doc_root(d);
    CHECK(r->kind == TH_DOC_MAP);
    bool b = false;
    CHECK(th__doc_bool(th__doc_get(r, "isEnabled"), &b) && b);
    const struct th_doc_node *q = th__doc_get(r, "queries")->items[0];
    CHECK_STR(th__doc_get(q, "query")->s, "a/b");
    CHECK_INT(th__doc_get(q, "query")->line, 4);
    CHECK_INT(th__doc_get(q, "query")->col, 25);
    double x;
    CHECK(th__doc_number(th__doc_get(q, "n"), &x) && x == 2500);
    CHECK(th__doc_is_null(th__doc_get(r, "nul")));
    th__doc_free(d);
}

static void test_errors(void)
{
    CHECK_CONTAINS(parse_error("a: [1, 2\nb: 3\n", false), "f.yaml:");
    CHECK_CONTAINS(parse_error("a: b: c\n", false), "f.yaml:1:5: mapping values are not allowed");
    CHECK_CONTAINS(parse_error("a: &x [1, *x]\n", false), "aliases are not supported");
    CHECK_CONTAINS(parse_error("a: &x 1\nb: *x\n", false), "f.yaml:1:4: YAML aliases");
    CHECK_CONTAINS(parse_error("a: 1\nb: 2\na: 3\n", false),
                   "f.yaml:3:1: duplicate key 'a' (first at line 1)");
    CHECK_CONTAINS(parse_error("x:\n  ? [1]\n  : 2\n", false),
                   "mapping keys must be plain strings, not a list");
    CHECK_CONTAINS(parse_error("a: 1\n---\nb: 2\n", false), "f.yaml:3:1: more than one document");
    CHECK_CONTAINS(parse_error("a: 1\n---\nb: [\n", false), "f.yaml:");
    CHECK_CONTAINS(parse_error("a: \"\xff\xfe\"\n", false), "f.yaml:");
    /* Deep nesting is refused past TH_DOC_MAX_DEPTH. */
    char deep[400];
    size_t k = 0;
    for (int i = 0; i < 100; i++)
        deep[k++] = '[';
    for (int i = 0; i < 100; i++)
        deep[k++] = ']';
    deep[k] = '\0';
    CHECK_CONTAINS(parse_error(deep, false), "nesting deeper than 64 levels");
    /* JSON broken: json-c says where. */
    CHECK_CONTAINS(parse_error("{\n  \"a\": 1,\n  \"b\": [1, 2,, 3]\n}\n", true), "f.yaml:3:");
    CHECK_CONTAINS(parse_error("{\n  \"a\": 1,\n  \"b\": [1, 2,, 3]\n}\n", true), "invalid JSON");
    CHECK_CONTAINS(parse_error("{\"a\": 1", true), "invalid JSON: unexpected end of JSON");
    CHECK_CONTAINS(parse_error("{\"a\": 1,\n \"b\": [1]} x", true),
                   "f.yaml:2:12: invalid JSON: more text after the JSON value");
    /* The same broken text as YAML keeps libyaml's message. */
    CHECK(strstr(parse_error("{\"a\": 1", false), "invalid JSON") == NULL);
}

int main(void)
{
    test_yaml();
    test_locate();
    test_json();
    test_errors();
    return CHECK_DONE();
}
