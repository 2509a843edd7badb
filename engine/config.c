/*
 * config.c - the `-c FILE` settings file: a YAML map read with the rule files' document
 * tree (doc.c), every key checked against the caller's declarative table, every value
 * against its key's type, with file:line:col on the first problem.
 *
 * State: the returned config (its document, its items, the "k=v" strings of map entries).
 * Ignored: YAML tags and comments. A file is at most 1 MiB: a settings file is a few lines,
 * and anything larger is a mistake (a rule pack or an archive passed to -c).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc.h"
#include "timeutil.h"

#define MAX_CONFIG_SIZE (1u << 20)

/* "max-lateness" and "max_lateness" name the same key. */
static bool key_eq(const char *table_key, const char *s, size_t len)
{
    size_t i = 0;
    for (; i < len && table_key[i]; i++) {
        char c = s[i] == '-' ? '_' : s[i];
        if (c != table_key[i])
            return false;
    }
    return i == len && !table_key[i];
}

bool th__config_duration(const char *s, long long *ms)
{
    size_t len = strlen(s);
    if (len > 2 && !strcmp(s + len - 2, "ms")) {
        long long v = 0;
        for (size_t i = 0; i < len - 2; i++) {
            if (s[i] < '0' || s[i] > '9' || v > (1LL << 40))
                return false;
            v = v * 10 + (s[i] - '0');
        }
        *ms = v;
        return true;
    }
    int64_t v;
    if (!th__duration_parse(s, len, &v))
        return false;
    *ms = v;
    return true;
}

static bool size_ok(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno || v == 0 || s[0] == '-' || s[0] == '+')
        return false;
    static const char *const units[] = {"", "K", "KiB", "M", "MiB", "G", "GiB", NULL};
    for (size_t i = 0; units[i]; i++)
        if (!strcmp(end, units[i]))
            return true;
    return false;
}

bool th__config_value_ok(const struct th_config_key *k, const char *s, char *buf, size_t size)
{
    long long v;
    switch (k->type) {
    case TH_CONFIG_DURATION:
        if (th__config_duration(s, &v))
            return true;
        snprintf(buf, size, "a duration such as 250ms, 30s, 15m, 1h or 1d");
        return false;
    case TH_CONFIG_SIZE:
        if (size_ok(s))
            return true;
        snprintf(buf, size, "a size in bytes, or a number with K, M or G");
        return false;
    case TH_CONFIG_INT: {
        char *end;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (end != s && !*end && !errno && v >= k->min && v <= k->max)
            return true;
        snprintf(buf, size, "an integer from %lld to %lld", k->min, k->max);
        return false;
    }
    case TH_CONFIG_STRING:
        if (!k->choices)
            return true;
        for (size_t i = 0; k->choices[i]; i++)
            if (!strcmp(s, k->choices[i]))
                return true;
        size_t off = (size_t)snprintf(buf, size, "one of");
        for (size_t i = 0; k->choices[i] && off < size; i++)
            off += (size_t)snprintf(buf + off, size - off, "%s %s", i ? "," : "", k->choices[i]);
        return false;
    default:
        return true;
    }
}

static const char *type_name(enum th_config_type t)
{
    switch (t) {
    case TH_CONFIG_BOOL:
        return "true or false";
    case TH_CONFIG_LIST:
        return "a list";
    case TH_CONFIG_MAP:
        return "a map of names to values";
    default:
        return "a single value";
    }
}

static int add_item(struct th_config *c, size_t *cap, const struct th_config_key *k,
                    const char *value, unsigned line, unsigned col)
{
    if (th__grow((void **)&c->items, cap, c->n + 1, sizeof *c->items) < 0)
        return TH_ENOMEM;
    c->items[c->n++] = (struct th_config_item){k, value, line, col};
    return 0;
}

/* A scalar that is not a plain null (a quoted '' is a value, an empty plain one is not). */
static bool is_value(const struct th_doc_node *n)
{
    return n && n->kind == TH_DOC_SCALAR && !th__doc_is_null(n);
}

/* Checks scalar n for key k and adds it. */
static int add_scalar(struct th_config *c, size_t *cap, const struct th_config_key *k,
                      const struct th_doc_node *n, struct th_err *err)
{
    if (!is_value(n))
        return th__err_at(err, TH_ECONFIG, c->path, n->line, n->col, "%s: expected %s, not %s",
                          k->key, k->type == TH_CONFIG_LIST ? "a value" : type_name(k->type),
                          th__doc_is_null(n) ? "nothing" : th__doc_kind_name(n));
    char why[160];
    if (!th__config_value_ok(k, n->s, why, sizeof why))
        return th__err_at(err, TH_ECONFIG, c->path, n->line, n->col, "%s: expected %s, not '%s'",
                          k->key, why, n->s);
    return add_item(c, cap, k, n->s, n->line, n->col);
}

static int add_setting(struct th_config *c, size_t *cap, const struct th_config_key *k,
                       const struct th_doc_node *v, struct th_err *err)
{
    switch (k->type) {
    case TH_CONFIG_BOOL: {
        bool b;
        if (!th__doc_bool(v, &b))
            return th__err_at(err, TH_ECONFIG, c->path, v->line, v->col,
                              "%s: expected true or false", k->key);
        return b ? add_item(c, cap, k, "true", v->line, v->col) : 0;
    }
    case TH_CONFIG_LIST:
        if (v->kind == TH_DOC_SCALAR)
            return add_scalar(c, cap, k, v, err);
        if (v->kind != TH_DOC_SEQ)
            return th__err_at(err, TH_ECONFIG, c->path, v->line, v->col,
                              "%s: expected a list, not %s", k->key, th__doc_kind_name(v));
        for (size_t i = 0; i < v->n; i++) {
            int rc = add_scalar(c, cap, k, v->items[i], err);
            if (rc < 0)
                return rc;
        }
        return 0;
    case TH_CONFIG_MAP:
        if (v->kind != TH_DOC_MAP)
            return th__err_at(err, TH_ECONFIG, c->path, v->line, v->col,
                              "%s: expected a map of names to values, not %s", k->key,
                              th__doc_kind_name(v));
        for (size_t i = 0; i < v->n; i++) {
            const struct th_doc_node *mk = v->items[2 * i], *mv = v->items[2 * i + 1];
            /* The value is never quoted back: it may be a password. */
            if (!is_value(mk) || !mk->len || memchr(mk->s, '=', mk->len))
                return th__err_at(err, TH_ECONFIG, c->path, mk->line, mk->col,
                                  "%s: expected a property name", k->key);
            if (!is_value(mv))
                return th__err_at(err, TH_ECONFIG, c->path, mv->line, mv->col,
                                  "%s: %s: expected a single value", k->key, mk->s);
            if (th__grow((void **)&c->joined, &c->joined_cap, c->njoined + 1,
                         sizeof *c->joined) < 0)
                return TH_ENOMEM;
            size_t need = mk->len + mv->len + 2;
            char *kv = malloc(need);
            if (!kv)
                return TH_ENOMEM;
            snprintf(kv, need, "%s=%s", mk->s, mv->s);
            c->joined[c->njoined++] = kv;
            int rc = add_item(c, cap, k, kv, mk->line, mk->col);
            if (rc < 0)
                return rc;
        }
        return 0;
    default:
        if (v->kind != TH_DOC_SCALAR)
            return th__err_at(err, TH_ECONFIG, c->path, v->line, v->col,
                              "%s: expected %s, not %s", k->key, type_name(k->type),
                              th__doc_kind_name(v));
        return add_scalar(c, cap, k, v, err);
    }
}

int th__config_parse(const char *name, const char *data, size_t len,
                     const struct th_config_key *keys, size_t nkeys, struct th_config **out,
                     struct th_err *err)
{
    *out = NULL;
    struct th_config *c = calloc(1, sizeof *c);
    if (!c || !(c->path = th__strdup(name))) {
        free(c);
        return th__err(err, TH_ENOMEM, name, "out of memory");
    }
    int rc = th__doc_parse(name, data, len, false, &c->doc, err);
    if (rc < 0)
        goto fail;
    const struct th_doc_node *root = th__doc_root(c->doc);
    if (root && root->kind != TH_DOC_MAP) {
        rc = th__err_at(err, TH_ECONFIG, name, root->line, root->col,
                        "a settings file is a map of settings (key: value), not %s",
                        th__doc_kind_name(root));
        goto fail;
    }
    size_t cap = 0;
    for (size_t i = 0; root && i < root->n; i++) {
        const struct th_doc_node *k = root->items[2 * i], *v = root->items[2 * i + 1];
        const struct th_config_key *found = NULL;
        for (size_t j = 0; j < nkeys && !found; j++)
            if (key_eq(keys[j].key, k->s, k->len))
                found = &keys[j];
        if (!found) {
            rc = th__err_at(err, TH_ECONFIG, name, k->line, k->col, "unknown setting '%.100s'",
                            k->s);
            goto fail;
        }
        if ((rc = add_setting(c, &cap, found, v, err)) < 0) {
            if (rc == TH_ENOMEM)
                th__err(err, rc, name, "out of memory");
            goto fail;
        }
    }
    *out = c;
    return 0;
fail:
    th__config_free(c);
    return rc;
}

int th__config_load(const char *path, const struct th_config_key *keys, size_t nkeys,
                    struct th_config **out, struct th_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return th__err(err, TH_EIO, path, "cannot open the settings file: %s", strerror(errno));
    char *buf = malloc(MAX_CONFIG_SIZE + 1);
    if (!buf) {
        fclose(f);
        return th__err(err, TH_ENOMEM, path, "out of memory");
    }
    size_t len = fread(buf, 1, MAX_CONFIG_SIZE + 1, f);
    int bad = ferror(f);
    fclose(f);
    int rc;
    if (bad)
        rc = th__err(err, TH_EIO, path, "cannot read the settings file");
    else if (len > MAX_CONFIG_SIZE)
        rc = th__err(err, TH_ECONFIG, path, "a settings file is at most 1 MiB");
    else
        rc = th__config_parse(path, buf, len, keys, nkeys, out, err);
    free(buf);
    return rc;
}

void th__config_free(struct th_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->njoined; i++)
        free(c->joined[i]);
    free(c->joined);
    free(c->items);
    th__doc_free(c->doc);
    free(c->path);
    free(c);
}
