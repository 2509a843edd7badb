/*
 * attr.c - attribute references (attr.h): compiling `@a.b.c`, standard Datadog aliases and
 * derived names into references, and walking them per event.
 *
 * One table maps Datadog's standard attributes for CloudTrail (SPEC §4) to raw paths; the
 * derived names come from TH_DERIVED_MAP in event.h. Walking recurses through objects and
 * arrays (any element), visits non-null leaves, and never allocates: numbers are formatted
 * into the th_value's own buffer.
 */
#include "attr.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tape.h"

/* Datadog standard attributes that are plain aliases of raw CloudTrail paths. */
static const struct {
    enum th_attr_ns ns;
    const char *name;
    const char *path;
} aliases[] = {
    {TH_NS_ATTR, "evt.name", "eventName"},
    {TH_NS_ATTR, "http.useragent", "userAgent"},
    {TH_NS_ATTR, "network.client.ip", "sourceIPAddress"},
    {TH_NS_ATTR, "error.kind", "errorCode"},
    {TH_NS_ATTR, "error.message", "errorMessage"},
    {TH_NS_ATTR, "usr.account_id", "userIdentity.accountId"},
    {TH_NS_ATTR, "usr.id", "userIdentity.arn"},
    {TH_NS_BARE, "account", "recipientAccountId"},
    {TH_NS_BARE, "region", "awsRegion"},
};

static const struct {
    enum th_attr_ns ns;
    const char *name;
} derived_names[] = {
#define TH_DERIVED_NAME(e, ns, text) {TH_NS_##ns, text},
    TH_DERIVED_MAP(TH_DERIVED_NAME)
#undef TH_DERIVED_NAME
};

void th__attr_fini(struct th_attr *a)
{
    if (!a)
        return;
    free(a->buf);
    free(a->name);
    memset(a, 0, sizeof *a);
}

/* Splits path on '.' into a->buf / a->seg. */
static int split_path(struct th_attr *a, const char *path, size_t len, struct th_err *err)
{
    a->buf = th__strndup(path, len);
    if (!a->buf)
        return TH_ENOMEM;
    a->nseg = 0;
    char *p = a->buf;
    for (;;) {
        char *dot = strchr(p, '.');
        if (dot)
            *dot = '\0';
        if (*p == '\0')
            return th__err(err, TH_EINVAL, NULL, "empty segment in attribute '%.*s'", (int)len,
                           path);
        if (a->nseg == TH_ATTR_MAX_SEGS)
            return th__err(err, TH_EINVAL, NULL, "attribute '%.*s' has more than %d segments",
                           (int)len, path, TH_ATTR_MAX_SEGS);
        a->seg[a->nseg++] = p;
        if (!dot)
            break;
        p = dot + 1;
    }
    return 0;
}

int th__attr_compile(enum th_attr_ns ns, const char *name, size_t len, struct th_attr *out,
                     bool *unknown_tag, struct th_err *err)
{
    memset(out, 0, sizeof *out);
    if (unknown_tag)
        *unknown_tag = false;
    if (len == 0)
        return th__err(err, TH_EINVAL, NULL, "empty attribute name");
    out->ns = ns;
    out->name = th__strndup(name, len);
    if (!out->name)
        return TH_ENOMEM;

    for (size_t i = 0; i < TH_ARRAY_LEN(derived_names); i++) {
        if (derived_names[i].ns == ns && strlen(derived_names[i].name) == len &&
            memcmp(derived_names[i].name, name, len) == 0) {
            out->kind = TH_ATTR_DERIVED;
            out->derived = (enum th_derived)i;
            return 0;
        }
    }
    const char *path = name;
    size_t plen = len;
    bool aliased = false;
    for (size_t i = 0; i < TH_ARRAY_LEN(aliases); i++) {
        if (aliases[i].ns == ns && strlen(aliases[i].name) == len &&
            memcmp(aliases[i].name, name, len) == 0) {
            path = aliases[i].path;
            plen = strlen(path);
            aliased = true;
            break;
        }
    }
    if (ns == TH_NS_BARE && !aliased) {
        /* `host` is reserved but CloudTrail events have none; any other bare name is a tag
         * this engine does not set. Both match nothing. */
        out->kind = TH_ATTR_NEVER;
        if (unknown_tag)
            *unknown_tag = !(len == 4 && memcmp(name, "host", 4) == 0);
        return 0;
    }
    out->kind = TH_ATTR_RAW;
    int rc = split_path(out, path, plen, err);
    if (rc < 0)
        th__attr_fini(out);
    return rc;
}

int th__attr_copy(struct th_attr *dst, const struct th_attr *src)
{
    *dst = *src;
    dst->buf = NULL;
    dst->name = NULL;
    if (src->name && !(dst->name = th__strdup(src->name)))
        goto fail;
    if (src->buf) {
        /* The segments are NUL-separated inside buf: copy the whole span and rebase. */
        const char *last = src->seg[src->nseg - 1];
        size_t span = (size_t)(last - src->buf) + strlen(last) + 1;
        dst->buf = malloc(span);
        if (!dst->buf)
            goto fail;
        memcpy(dst->buf, src->buf, span);
        for (unsigned i = 0; i < src->nseg; i++)
            dst->seg[i] = dst->buf + (src->seg[i] - src->buf);
    }
    return 0;
fail:
    th__attr_fini(dst);
    return TH_ENOMEM;
}

/* v as a JSON integer: its text as json-c renders it (%lld). */
static void set_int(struct th_value *v, int64_t x)
{
    v->type = TH_V_INT;
    v->len = (size_t)snprintf(v->buf, sizeof v->buf, "%lld", (long long)x);
    v->s = v->buf;
    v->num = (double)x;
}

/* v as a JSON double: its text as json-c renders it (%.15g). */
static void set_double(struct th_value *v, double d)
{
    v->type = TH_V_DOUBLE;
    v->len = (size_t)snprintf(v->buf, sizeof v->buf, "%.15g", d);
    v->s = v->buf;
    v->num = d;
}

bool th__value_from_json(json_object *o, struct th_value *v)
{
    v->obj = o;
    switch (json_object_get_type(o)) {
    case json_type_string:
        v->type = TH_V_STRING;
        v->s = json_object_get_string(o);
        v->len = (size_t)json_object_get_string_len(o);
        v->num = NAN;
        return true;
    case json_type_int:
        set_int(v, json_object_get_int64(o));
        return true;
    case json_type_double:
        set_double(v, json_object_get_double(o));
        return true;
    case json_type_boolean: {
        v->type = TH_V_BOOL;
        bool b = json_object_get_boolean(o);
        v->s = b ? "true" : "false";
        v->len = b ? 4 : 5;
        v->num = b;
        return true;
    }
    default:
        return false;
    }
}

/* Walks o from segment i; visits leaves. */
static bool walk(json_object *o, const struct th_attr *a, unsigned i, th_visit_fn fn, void *ctx)
{
    if (!o)
        return false;
    enum json_type t = json_object_get_type(o);
    if (t == json_type_array) {
        size_t n = json_object_array_length(o);
        for (size_t k = 0; k < n; k++)
            if (walk(json_object_array_get_idx(o, k), a, i, fn, ctx))
                return true;
        return false;
    }
    if (i == a->nseg) {
        struct th_value v;
        if (t == json_type_object) {
            v.type = TH_V_OBJECT;
            v.s = NULL;
            v.len = 0;
            v.num = NAN;
            v.obj = o;
            return fn(ctx, &v);
        }
        if (!th__value_from_json(o, &v))
            return false;
        return fn(ctx, &v);
    }
    json_object *child;
    if (t != json_type_object || !json_object_object_get_ex(o, a->seg[i], &child))
        return false;
    return walk(child, a, i + 1, fn, ctx);
}

/* The scalar of tape node i as th__value_from_json gives it; false for null, containers. */
static bool tape_value(const struct th_tape *t, uint32_t i, struct th_value *v)
{
    v->obj = NULL;
    switch ((enum th_tkind)t->n[i].kind) {
    case TH_T_STR: {
        struct th_str s = th__tape_text(t, i);
        v->type = TH_V_STRING;
        v->s = s.p;
        v->len = s.len;
        v->num = NAN;
        return true;
    }
    case TH_T_INT:
        set_int(v, th__tape_int(t, i));
        return true;
    case TH_T_DBL:
        set_double(v, th__tape_double(t, i));
        return true;
    case TH_T_TRUE:
    case TH_T_FALSE: {
        bool b = t->n[i].kind == TH_T_TRUE;
        v->type = TH_V_BOOL;
        v->s = b ? "true" : "false";
        v->len = b ? 4 : 5;
        v->num = b;
        return true;
    }
    default:
        return false;
    }
}

/* walk() over a tape: node i, from segment k. */
static bool tape_walk(const struct th_tape *t, uint32_t i, const struct th_attr *a, unsigned k,
                      th_visit_fn fn, void *ctx)
{
    const struct th_tnode *n = &t->n[i];
    if (n->kind == TH_T_NULL)
        return false;
    if (n->kind == TH_T_ARR) {
        uint32_t j = i + 1;
        for (uint32_t e = 0; e < n->len; e++, j = t->n[j].next)
            if (tape_walk(t, j, a, k, fn, ctx))
                return true;
        return false;
    }
    if (k == a->nseg) {
        struct th_value v;
        if (n->kind == TH_T_OBJ) {
            v.type = TH_V_OBJECT;
            v.s = NULL;
            v.len = 0;
            v.num = NAN;
            v.obj = NULL;
            return fn(ctx, &v);
        }
        if (!tape_value(t, i, &v))
            return false;
        return fn(ctx, &v);
    }
    if (n->kind != TH_T_OBJ)
        return false;
    uint32_t c = th__tape_member(t, i, a->seg[k], strlen(a->seg[k]));
    return c && tape_walk(t, c, a, k + 1, fn, ctx);
}

/* walk_all() over a tape: every scalar leaf, each object member once (the last of repeated
 * keys, as json-c keeps it). */
static bool tape_walk_all(const struct th_tape *t, uint32_t i, th_visit_fn fn, void *ctx)
{
    const struct th_tnode *n = &t->n[i];
    uint32_t j = i + 1;
    switch ((enum th_tkind)n->kind) {
    case TH_T_OBJ:
        for (uint32_t m = 0; m < n->len; m++, j = t->n[j + 1].next)
            if (!th__tape_shadowed(t, i, j) && tape_walk_all(t, j + 1, fn, ctx))
                return true;
        return false;
    case TH_T_ARR:
        for (uint32_t e = 0; e < n->len; e++, j = t->n[j].next)
            if (tape_walk_all(t, j, fn, ctx))
                return true;
        return false;
    default: {
        struct th_value v;
        if (!tape_value(t, i, &v))
            return false;
        return fn(ctx, &v);
    }
    }
}

bool th__attr_any(const struct th_attr *a, struct th_event *ev, th_visit_fn fn, void *ctx)
{
    switch (a->kind) {
    case TH_ATTR_RAW:
        if (ev->tape)
            return tape_walk(ev->tape, 0, a, 0, fn, ctx);
        return walk(ev->root, a, 0, fn, ctx);
    case TH_ATTR_DERIVED: {
        struct th_str s = th__event_derived(ev, a->derived);
        if (!s.p)
            return false;
        struct th_value v = {.type = TH_V_STRING, .s = s.p, .len = s.len, .num = NAN};
        return fn(ctx, &v);
    }
    case TH_ATTR_NEVER:
        break;
    }
    return false;
}

static bool stop_at_once(void *ctx, const struct th_value *v)
{
    TH_UNUSED(ctx);
    TH_UNUSED(v);
    return true;
}

bool th__attr_exists(const struct th_attr *a, struct th_event *ev)
{
    return th__attr_any(a, ev, stop_at_once, NULL);
}

static bool take_first_scalar(void *ctx, const struct th_value *v)
{
    struct th_value *out = ctx;
    if (v->type == TH_V_OBJECT)
        return false;
    *out = *v;
    if (v->s == v->buf) /* the text lives in the visitor's copy: point at ours */
        out->s = out->buf;
    return true;
}

bool th__attr_first(const struct th_attr *a, struct th_event *ev, struct th_value *out)
{
    return th__attr_any(a, ev, take_first_scalar, out);
}

static bool walk_all(json_object *o, th_visit_fn fn, void *ctx)
{
    switch (json_object_get_type(o)) {
    case json_type_object: {
        json_object_object_foreach(o, key, child)
        {
            TH_UNUSED(key);
            if (walk_all(child, fn, ctx))
                return true;
        }
        return false;
    }
    case json_type_array: {
        size_t n = json_object_array_length(o);
        for (size_t k = 0; k < n; k++)
            if (walk_all(json_object_array_get_idx(o, k), fn, ctx))
                return true;
        return false;
    }
    default: {
        struct th_value v;
        if (!th__value_from_json(o, &v))
            return false;
        return fn(ctx, &v);
    }
    }
}

bool th__event_any_leaf(struct th_event *ev, th_visit_fn fn, void *ctx)
{
    if (ev->tape)
        return tape_walk_all(ev->tape, 0, fn, ctx);
    return walk_all(ev->root, fn, ctx);
}
