/*
 * rule_load.c - validating and compiling a rule, whatever its file format (rule_load.h).
 *
 * The format loaders (rule_yaml.c, rule_json.c) pick the nodes of a rule out of a document
 * into a struct th_rl_src, converting durations to milliseconds; this file checks
 * everything else and builds the struct th_rule: required keys, types, ids, tags and their
 * ATT&CK references, queries (compiled with th__query_compile, whose warnings become lint
 * warnings at the right file position), group-by and field attributes, aggregations against
 * the detection method, cases and conditions, windows and method options with their
 * defaults, and the message template.
 *
 * Tactic and technique tags are checked against the pinned ATT&CK table (attack.h): a
 * malformed or unknown id is an error; a name part that is not the id's name, or a
 * technique in none of the rule's tactics, is a lint warning.
 *
 * Every problem is reported and checking goes on, so lint sees all of a file's errors at
 * once; the rule is built only when nothing was reported as an error.
 *
 * Defaults where a key is absent (Datadog's where it has one, see the project docs):
 * version 1, enabled true, detection_method threshold, evaluation_window 5m, keep_alive
 * max(evaluation_window, 1h) (but no longer than an explicit max_signal_duration),
 * max_signal_duration max(1d, keep_alive); aggregation count (new_value for new_value
 * rules, geo_data for impossible_travel); query names a, b, c...; new_value: forget_after
 * 28d, learning_duration 1d, learning_method duration, learning_threshold 0; anomaly:
 * bucket_duration 5m, learning_duration 1d, detection_tolerance 5; impossible_travel:
 * baseline_user_locations false, baseline_duration 1d, speed_kmh 1000, min_distance_km 500.
 */
#include "rule_load.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attack.h"
#include "timeutil.h"

/* ---- diagnostics --------------------------------------------------------------------- */

static void report(struct th_rl_ctx *c, int is_error, unsigned line, unsigned col, const char *fmt,
                   va_list ap)
{
    char where[600], msg[600];
    const char *file = c->file ? c->file : "";
    if (line && col)
        snprintf(where, sizeof where, "%s:%u:%u", file, line, col);
    else if (line)
        snprintf(where, sizeof where, "%s:%u", file, line);
    else
        snprintf(where, sizeof where, "%s", file);
    vsnprintf(msg, sizeof msg, fmt, ap);
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (is_error)
        c->errors++;
    else
        c->warnings++;
    if (c->diag) {
        struct th_diag d = {is_error, c->rule_id ? c->rule_id : file, where, msg};
        c->diag(c->diag_ctx, &d);
    }
}

void th__rl_error(struct th_rl_ctx *c, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(c, 1, line, col, fmt, ap);
    va_end(ap);
}

void th__rl_warn(struct th_rl_ctx *c, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(c, 0, line, col, fmt, ap);
    va_end(ap);
}

/* ---- walking helpers ----------------------------------------------------------------- */

bool th__rl_id_ok(const char *s, size_t len)
{
    if (len == 0 || len > 128 || s[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

/* Lower case without '_' and '-', for "did you mean" suggestions. */
static void squash(const char *s, size_t len, char *out, size_t size)
{
    size_t k = 0;
    for (size_t i = 0; i < len && k + 1 < size; i++)
        if (s[i] != '_' && s[i] != '-')
            out[k++] = (char)tolower((unsigned char)s[i]);
    out[k] = '\0';
}

bool th__rl_map(struct th_rl_ctx *c, const struct th_doc_node *n, const char *what,
                const struct th_rl_key *keys, size_t nkeys, const struct th_doc_node **slots)
{
    if (th__doc_is_null(n))
        return true;
    if (n->kind != TH_DOC_MAP) {
        th__rl_error(c, n->line, n->col, "%s must be a map, not %s", what, th__doc_kind_name(n));
        return false;
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct th_doc_node *k = n->items[2 * i];
        size_t j = 0;
        while (j < nkeys &&
               !(strlen(keys[j].name) == k->len && memcmp(keys[j].name, k->s, k->len) == 0))
            j++;
        if (j < nkeys) {
            if (keys[j].slot >= 0)
                slots[keys[j].slot] = n->items[2 * i + 1];
            continue;
        }
        char a[64], b[64];
        const char *hint = NULL;
        squash(k->s, k->len, a, sizeof a);
        for (j = 0; j < nkeys && !hint; j++) {
            squash(keys[j].name, strlen(keys[j].name), b, sizeof b);
            if (strcmp(a, b) == 0)
                hint = keys[j].name;
        }
        if (hint)
            th__rl_error(c, k->line, k->col, "unknown key '%.64s' in %s (did you mean '%s'?)", k->s,
                         what, hint);
        else
            th__rl_error(c, k->line, k->col, "unknown key '%.64s' in %s", k->s, what);
    }
    return true;
}

bool th__rl_list(struct th_rl_ctx *c, const struct th_doc_node *n, const char *what, size_t max,
                 const struct th_doc_node **items, size_t *count)
{
    *count = 0;
    if (th__doc_is_null(n))
        return true;
    if (n->kind != TH_DOC_SEQ) {
        th__rl_error(c, n->line, n->col, "%s must be a list, not %s", what, th__doc_kind_name(n));
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < n->n; i++) {
        const struct th_doc_node *it = n->items[i];
        if (it->kind != TH_DOC_SCALAR || th__doc_is_null(it)) {
            th__rl_error(c, it->line, it->col, "%s items must be strings, not %s", what,
                         th__doc_kind_name(it));
            ok = false;
            continue;
        }
        if (*count == max) {
            th__rl_error(c, it->line, it->col, "%s holds more than %zu items", what, max);
            return false;
        }
        items[(*count)++] = it;
    }
    return ok;
}

const char *th__rl_dur_str(int64_t ms, char *buf, size_t size)
{
    static const struct {
        int64_t unit;
        const char *suffix;
    } units[] = {
        {TH_MS_PER_DAY, "d"}, {TH_MS_PER_HOUR, "h"}, {TH_MS_PER_MIN, "m"}, {TH_MS_PER_SEC, "s"}};
    if (ms == 0) {
        snprintf(buf, size, "0");
        return buf;
    }
    for (size_t i = 0; i < TH_ARRAY_LEN(units); i++)
        if (ms % units[i].unit == 0) {
            snprintf(buf, size, "%lld%s", (long long)(ms / units[i].unit), units[i].suffix);
            return buf;
        }
    snprintf(buf, size, "%lldms", (long long)ms);
    return buf;
}

/* ---- building ------------------------------------------------------------------------ */

struct build {
    struct th_rl_ctx *c;
    const struct th_rl_src *src;
    const struct th_rl_keys *k;
    struct th_rule *r;
    bool oom;
};

#define ERR(b, n, ...) th__rl_error((b)->c, (n)->line, (n)->col, __VA_ARGS__)

/* A required or optional string: NULL when absent (reported when required). */
static const struct th_doc_node *string_node(struct build *b, const struct th_doc_node *n,
                                             const struct th_doc_node *parent, const char *key,
                                             const char *in, bool required)
{
    if (th__doc_is_null(n)) {
        if (required) {
            if (n)
                ERR(b, n, "'%s'%s must not be empty", key, in);
            else
                ERR(b, parent, "missing required key '%s'%s", key, in);
        }
        return NULL;
    }
    if (n->kind != TH_DOC_SCALAR) {
        ERR(b, n, "'%s'%s must be a string, not %s", key, in, th__doc_kind_name(n));
        return NULL;
    }
    if (required && n->len == 0) {
        ERR(b, n, "'%s'%s must not be empty", key, in);
        return NULL;
    }
    return n;
}

static char *dup_node(struct build *b, const struct th_doc_node *n)
{
    char *s = th__strndup(n->s, n->len);
    if (!s)
        b->oom = true;
    return s;
}

/* Reports an error at a position inside scalar n (offset in bytes into its value). */
static void err_inside(struct build *b, const struct th_doc_node *n, size_t offset, const char *fmt,
                       const char *msg)
{
    unsigned line, col;
    th__doc_locate(b->src->doc, n, offset, &line, &col);
    th__rl_error(b->c, line, col, fmt, msg);
}

struct qwarn {
    struct build *b;
    const struct th_doc_node *n;
};

static void query_warn(void *ctx, unsigned col, const char *msg)
{
    struct qwarn *w = ctx;
    unsigned line, fcol;
    th__doc_locate(w->b->src->doc, w->n, col ? col - 1 : 0, &line, &fcol);
    th__rl_warn(w->b->c, line, fcol, "%s", msg);
}

static bool is_query_name(const char *s, size_t len)
{
    if (len == 0 || len > 64 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

/* Compiles a list of attribute names into attrs; reports bad names and unknown tags. */
static void compile_attrs(struct build *b, const struct th_doc_node *const *items, size_t n,
                          struct th_attr *attrs, size_t *nattrs, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        const struct th_doc_node *it = items[i];
        bool at = it->len > 0 && it->s[0] == '@';
        bool unknown_tag = false;
        struct th_err err = {{0}, {0}};
        int rc = th__attr_compile(at ? TH_NS_ATTR : TH_NS_BARE, it->s + at, it->len - at,
                                  &attrs[*nattrs], &unknown_tag, &err);
        if (rc == TH_ENOMEM) {
            b->oom = true;
            return;
        }
        if (rc < 0) {
            ERR(b, it, "bad %s attribute '%.80s': %s", key, it->s, err.msg);
            continue;
        }
        (*nattrs)++;
        if (unknown_tag)
            th__rl_warn(b->c, it->line, it->col,
                        "%s '%.80s' is a tag events never carry (did you mean '@%.80s'?)", key,
                        it->s, it->s);
    }
}

static bool same_group_by(const struct th_rule_query *a, const struct th_rule_query *q)
{
    if (a->ngroup_by != q->ngroup_by)
        return false;
    for (size_t i = 0; i < a->ngroup_by; i++)
        if (strcmp(a->group_by[i].name, q->group_by[i].name) != 0)
            return false;
    return true;
}

static void build_query(struct build *b, size_t i, bool *group_ok)
{
    const struct th_rl_query *sq = &b->src->q[i];
    const struct th_rl_keys *k = b->k;
    struct th_rule *r = b->r;
    struct th_rule_query *q = &r->queries[i];
    char in[48];
    snprintf(in, sizeof in, " in query %zu", i + 1);
    *group_ok = true;

    /* name */
    const struct th_doc_node *name = string_node(b, sq->name, sq->at, k->qname, in, false);
    if (name && name->len == 0)
        name = NULL; /* "" as Datadog's exports write it: the default name */
    if (name) {
        if (!is_query_name(name->s, name->len))
            ERR(b, name,
                "bad query name '%.64s' (letters, digits and '_', not starting "
                "with a digit)",
                name->s);
        q->name = dup_node(b, name);
    } else {
        char def[8];
        snprintf(def, sizeof def, "%c", (char)('a' + i));
        if (!(q->name = th__strdup(def)))
            b->oom = true;
    }
    for (size_t j = 0; j < i && q->name; j++)
        if (r->queries[j].name && strcmp(r->queries[j].name, q->name) == 0)
            ERR(b, name ? name : sq->at, "duplicate query name '%s'", q->name);

    /* the query itself */
    const struct th_doc_node *text = string_node(b, sq->query, sq->at, k->query, in, true);
    if (text) {
        q->text = dup_node(b, text);
        struct qwarn w = {b, text};
        struct th_err err = {{0}, {0}};
        unsigned col = 0;
        int rc = th__query_compile(text->s, text->len, query_warn, &w, &q->query, &col, &err);
        if (rc == TH_ENOMEM)
            b->oom = true;
        else if (rc < 0)
            err_inside(b, text, col ? col - 1 : 0, "bad query: %s", err.msg);
    }

    /* aggregation */
    enum th_method m = r->method;
    q->agg = m == TH_METHOD_NEW_VALUE ? TH_AGG_NEW_VALUE
             : m == TH_METHOD_TRAVEL  ? TH_AGG_GEO_DATA
                                      : TH_AGG_COUNT;
    const struct th_doc_node *agg =
        string_node(b, sq->aggregation, sq->at, k->aggregation, in, false);
    if (agg && agg->len == 0)
        agg = NULL; /* "": the method's default */
    bool agg_ok = true;
    if (agg) {
        int found = -1;
        for (int a = 0; a < TH_AGG__COUNT; a++)
            if (strcmp(agg->s, th__agg_name((enum th_agg)a)) == 0)
                found = a;
        if (found < 0) {
            ERR(b, agg,
                "unknown aggregation '%.64s' (count, cardinality, sum, max, new_value, "
                "geo_data)",
                agg->s);
            agg_ok = false;
        } else {
            q->agg = (enum th_agg)found;
        }
    }
    if (agg && agg_ok) {
        bool fits;
        switch (m) {
        case TH_METHOD_THRESHOLD:
            fits = q->agg == TH_AGG_COUNT || q->agg == TH_AGG_CARDINALITY || q->agg == TH_AGG_SUM ||
                   q->agg == TH_AGG_MAX;
            break;
        case TH_METHOD_NEW_VALUE:
            fits = q->agg == TH_AGG_NEW_VALUE;
            break;
        case TH_METHOD_ANOMALY:
            fits = q->agg == TH_AGG_COUNT || q->agg == TH_AGG_CARDINALITY;
            break;
        default:
            fits = q->agg == TH_AGG_GEO_DATA;
            break;
        }
        if (!fits) {
            ERR(b, agg, "aggregation '%s' does not fit detection method '%s'", th__agg_name(q->agg),
                th__method_name(m));
            agg_ok = false;
        }
    }

    /* group_by, distinct, fields */
    const struct th_doc_node *items[16];
    size_t n;
    char what[64];
    snprintf(what, sizeof what, "'%s'%s", k->group_by, in);
    if (th__rl_list(b->c, sq->group_by, what, TH_MAX_GROUP_BY, items, &n))
        compile_attrs(b, items, n, q->group_by, &q->ngroup_by, k->group_by);
    else
        *group_ok = false;
    if (q->ngroup_by != n)
        *group_ok = false;

    snprintf(what, sizeof what, "'%s'%s", k->distinct, in);
    const struct th_doc_node *ditems[16];
    size_t ndist = 0;
    if (th__rl_list(b->c, sq->distinct, what, 16, ditems, &ndist)) {
        if (ndist > 1)
            ERR(b, ditems[1], "'%s' takes one attribute, not %zu", k->distinct, ndist);
        else
            compile_attrs(b, ditems, ndist, q->distinct, &q->ndistinct, k->distinct);
    }

    snprintf(what, sizeof what, "'%s'%s", k->fields, in);
    const struct th_doc_node *fnode = sq->fields;
    size_t nf = 0;
    bool fields_ok = th__rl_list(b->c, sq->fields, what, 16, items, &nf);
    if (fields_ok && nf == 0 && sq->metric && !th__doc_is_null(sq->metric)) {
        /* Datadog's older `metric`: one field. */
        if (sq->metric->kind != TH_DOC_SCALAR) {
            ERR(b, sq->metric, "'metric'%s must be a string, not %s", in,
                th__doc_kind_name(sq->metric));
        } else {
            items[0] = sq->metric;
            nf = 1;
            fnode = sq->metric;
        }
    }
    if (fields_ok && agg_ok) {
        bool need_one = q->agg == TH_AGG_SUM || q->agg == TH_AGG_MAX;
        const char *an = th__agg_name(q->agg);
        if (need_one && nf != 1)
            ERR(b, nf ? items[1] : (fnode ? fnode : sq->at),
                "aggregation '%s' needs exactly one attribute in '%s'%s", an, k->fields, in);
        else if (q->agg == TH_AGG_NEW_VALUE && nf == 0)
            ERR(b, fnode ? fnode : sq->at,
                "aggregation 'new_value' needs 1 to %d attributes in '%s'%s", TH_MAX_FIELDS,
                k->fields, in);
        else if (q->agg == TH_AGG_NEW_VALUE && nf > TH_MAX_FIELDS)
            ERR(b, items[TH_MAX_FIELDS], "new_value takes at most %d attributes in '%s', not %zu",
                TH_MAX_FIELDS, k->fields, nf);
        else if (q->agg == TH_AGG_GEO_DATA && nf > 1)
            ERR(b, items[1], "aggregation 'geo_data' takes at most one attribute in '%s'",
                k->fields);
        else if ((q->agg == TH_AGG_COUNT || q->agg == TH_AGG_CARDINALITY) && nf > 0)
            ERR(b, items[0],
                "'%s' is not used by aggregation '%s' (only by sum, max, "
                "new_value and geo_data)",
                k->fields, an);
        else
            compile_attrs(b, items, nf, q->fields, &q->nfields, k->fields);
    }
    if (agg_ok) {
        if (q->agg == TH_AGG_CARDINALITY && ndist == 0)
            ERR(b, agg ? agg : sq->at, "aggregation 'cardinality' needs one attribute in '%s'",
                k->distinct);
        else if (q->agg != TH_AGG_CARDINALITY && ndist > 0)
            ERR(b, ditems[0], "'%s' is only used by aggregation 'cardinality', not '%s'",
                k->distinct, th__agg_name(q->agg));
    }
}

/* Durations: the allowed evaluation windows (Datadog's list, SPEC §6). */
static const int64_t windows[] = {0,
                                  1 * TH_MS_PER_MIN,
                                  5 * TH_MS_PER_MIN,
                                  10 * TH_MS_PER_MIN,
                                  15 * TH_MS_PER_MIN,
                                  30 * TH_MS_PER_MIN,
                                  1 * TH_MS_PER_HOUR,
                                  2 * TH_MS_PER_HOUR,
                                  3 * TH_MS_PER_HOUR,
                                  6 * TH_MS_PER_HOUR,
                                  12 * TH_MS_PER_HOUR,
                                  1 * TH_MS_PER_DAY};

static void build_options(struct build *b)
{
    const struct th_rl_src *s = b->src;
    const struct th_rl_keys *k = b->k;
    struct th_rule *r = b->r;
    char d1[32], d2[32];

    /* Windows. */
    r->evaluation_window_ms = 5 * TH_MS_PER_MIN;
    if (s->window.node) {
        size_t i = 0;
        while (i < TH_ARRAY_LEN(windows) && windows[i] != s->window.ms)
            i++;
        if (i == TH_ARRAY_LEN(windows))
            ERR(b, s->window.node, "'%s' must be one of %s", k->evaluation_window,
                k->json ? "0, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400 "
                          "(seconds)"
                        : "0, 1m, 5m, 10m, 15m, 30m, 1h, 2h, 3h, 6h, 12h, 1d");
        else
            r->evaluation_window_ms = s->window.ms;
    }
    int64_t w = r->evaluation_window_ms;
    if (s->keep_alive.node) {
        r->keep_alive_ms = s->keep_alive.ms;
    } else {
        r->keep_alive_ms = w > TH_MS_PER_HOUR ? w : TH_MS_PER_HOUR;
        if (s->max_signal.node && s->max_signal.ms < r->keep_alive_ms)
            r->keep_alive_ms = s->max_signal.ms > w ? s->max_signal.ms : w;
    }
    if (s->max_signal.node)
        r->max_signal_duration_ms = s->max_signal.ms;
    else
        r->max_signal_duration_ms =
            r->keep_alive_ms > TH_MS_PER_DAY ? r->keep_alive_ms : TH_MS_PER_DAY;
    if (s->keep_alive.node && w > r->keep_alive_ms)
        ERR(b, s->keep_alive.node, "'%s' (%s) is longer than '%s' (%s)", k->evaluation_window,
            th__rl_dur_str(w, d1, sizeof d1), k->keep_alive,
            th__rl_dur_str(r->keep_alive_ms, d2, sizeof d2));
    if (s->max_signal.node && w > r->max_signal_duration_ms)
        ERR(b, s->max_signal.node, "'%s' (%s) is longer than '%s' (%s)", k->evaluation_window,
            th__rl_dur_str(w, d1, sizeof d1), k->max_signal_duration,
            th__rl_dur_str(r->max_signal_duration_ms, d2, sizeof d2));
    if (s->keep_alive.node && s->max_signal.node && r->keep_alive_ms > r->max_signal_duration_ms &&
        w <= r->max_signal_duration_ms)
        th__rl_warn(b->c, s->keep_alive.node->line, s->keep_alive.node->col,
                    "'%s' (%s) is longer than '%s' (%s): signals close at %s", k->keep_alive,
                    th__rl_dur_str(r->keep_alive_ms, d1, sizeof d1), k->max_signal_duration,
                    th__rl_dur_str(r->max_signal_duration_ms, d2, sizeof d2),
                    k->max_signal_duration);

    /* Method blocks under the wrong method. */
    const struct {
        const struct th_doc_node *block;
        enum th_method method;
        const char *key;
    } blocks[] = {{s->nv_block, TH_METHOD_NEW_VALUE, k->new_value},
                  {s->an_block, TH_METHOD_ANOMALY, k->anomaly},
                  {s->tr_block, TH_METHOD_TRAVEL, k->travel}};
    for (size_t i = 0; i < TH_ARRAY_LEN(blocks); i++) {
        const struct th_doc_node *n = blocks[i].block;
        if (th__doc_is_null(n) || r->method == blocks[i].method)
            continue;
        if (k->json)
            th__rl_warn(b->c, n->line, n->col, "'%s' ignored: the detection method is %s",
                        blocks[i].key, th__method_name(r->method));
        else
            ERR(b, n, "'%s' options given but the detection method is %s", blocks[i].key,
                th__method_name(r->method));
    }

    /* new_value */
    r->new_value.forget_after_ms = 28 * TH_MS_PER_DAY;
    r->new_value.learning_duration_ms = TH_MS_PER_DAY;
    if (s->nv_forget.node) {
        if (s->nv_forget.ms <= 0)
            ERR(b, s->nv_forget.node, "'%s' must be longer than 0", k->forget_after);
        r->new_value.forget_after_ms = s->nv_forget.ms;
    }
    if (s->nv_learning.node)
        r->new_value.learning_duration_ms = s->nv_learning.ms;
    if (s->nv_method && !th__doc_is_null(s->nv_method)) {
        if (s->nv_method->kind == TH_DOC_SCALAR && strcmp(s->nv_method->s, "threshold") == 0)
            r->new_value.learning_by_threshold = true;
        else if (!(s->nv_method->kind == TH_DOC_SCALAR && strcmp(s->nv_method->s, "duration") == 0))
            ERR(b, s->nv_method, "'%s' must be duration or threshold", k->learning_method);
    }
    if (s->nv_threshold && !th__doc_is_null(s->nv_threshold)) {
        int64_t v;
        if (!th__doc_int(s->nv_threshold, &v) || v < 0)
            ERR(b, s->nv_threshold, "'%s' must be a whole number >= 0", k->learning_threshold);
        else
            r->new_value.learning_threshold = v;
    }

    /* anomaly_detection */
    r->anomaly.bucket_duration_ms = 5 * TH_MS_PER_MIN;
    r->anomaly.learning_duration_ms = TH_MS_PER_DAY;
    r->anomaly.detection_tolerance = 5;
    if (s->an_bucket.node) {
        if (s->an_bucket.ms < TH_MS_PER_MIN || s->an_bucket.ms > TH_MS_PER_DAY)
            ERR(b, s->an_bucket.node, "'%s' must be between 1m and 1d", k->bucket_duration);
        r->anomaly.bucket_duration_ms = s->an_bucket.ms;
    }
    if (s->an_learning.node)
        r->anomaly.learning_duration_ms = s->an_learning.ms;
    if (s->an_tolerance && !th__doc_is_null(s->an_tolerance)) {
        int64_t v;
        if (!th__doc_int(s->an_tolerance, &v) || v < 1 || v > 5)
            ERR(b, s->an_tolerance, "'%s' must be a whole number from 1 to 5",
                k->detection_tolerance);
        else
            r->anomaly.detection_tolerance = (int)v;
    }

    /* impossible_travel */
    r->travel.baseline_duration_ms = TH_MS_PER_DAY;
    r->travel.speed_kmh = 1000;
    r->travel.min_distance_km = 500;
    if (s->tr_baseline && !th__doc_is_null(s->tr_baseline) &&
        !th__doc_bool(s->tr_baseline, &r->travel.baseline_user_locations))
        ERR(b, s->tr_baseline, "'%s' must be true or false", k->baseline_user_locations);
    if (s->tr_baseline_dur.node)
        r->travel.baseline_duration_ms = s->tr_baseline_dur.ms;
    double v;
    if (s->tr_speed && !th__doc_is_null(s->tr_speed)) {
        if (!th__doc_number(s->tr_speed, &v) || v <= 0)
            ERR(b, s->tr_speed, "'%s' must be a number > 0", k->speed_kmh);
        else
            r->travel.speed_kmh = v;
    }
    if (s->tr_min_distance && !th__doc_is_null(s->tr_min_distance)) {
        if (!th__doc_number(s->tr_min_distance, &v) || v < 0)
            ERR(b, s->tr_min_distance, "'%s' must be a number >= 0", k->min_distance_km);
        else
            r->travel.min_distance_km = v;
    }
}

static void build_cases(struct build *b)
{
    const struct th_rl_src *s = b->src;
    const struct th_rl_keys *k = b->k;
    struct th_rule *r = b->r;
    if (th__doc_is_null(s->cases)) {
        ERR(b, s->root, "missing required key '%s'", k->cases);
        return;
    }
    if (s->ncs == 0) {
        if (s->cases->kind == TH_DOC_SEQ)
            ERR(b, s->cases, "'%s' must hold at least one case", k->cases);
        return;
    }
    if (!(r->cases = calloc(s->ncs, sizeof *r->cases))) {
        b->oom = true;
        return;
    }
    if (r->method != TH_METHOD_THRESHOLD && s->ncs > 1)
        ERR(b, s->cs[1].at, "%s rules take exactly one case", th__method_name(r->method));
    const char *names[TH_MAX_QUERIES];
    size_t nnames = 0;
    for (size_t i = 0; i < r->nqueries; i++)
        if (r->queries[i].name)
            names[nnames++] = r->queries[i].name;
    for (size_t i = 0; i < s->ncs; i++) {
        const struct th_rl_case *sc = &s->cs[i];
        struct th_rule_case *rc = &r->cases[r->ncases++];
        char in[32];
        snprintf(in, sizeof in, " in case %zu", i + 1);
        const struct th_doc_node *name = string_node(b, sc->name, sc->at, "name", in, false);
        rc->name = name ? dup_node(b, name) : th__strdup("");
        if (!rc->name)
            b->oom = true;
        const struct th_doc_node *st = string_node(b, sc->status, sc->at, k->status, in, true);
        if (st) {
            int found = -1;
            for (int sv = 0; sv < TH_SEVERITY__COUNT; sv++)
                if (strcmp(st->s, th__severity_name((enum th_severity)sv)) == 0)
                    found = sv;
            if (found < 0)
                ERR(b, st, "bad severity '%.64s' (info, low, medium, high, critical)", st->s);
            else
                rc->severity = (enum th_severity)found;
        }
        const struct th_doc_node *cond =
            string_node(b, sc->condition, sc->at, k->condition, in, false);
        if (r->method != TH_METHOD_THRESHOLD) {
            if (cond && cond->len)
                ERR(b, cond, "'%s' is only used by threshold rules, not %s", k->condition,
                    th__method_name(r->method));
            continue;
        }
        if (!cond) {
            /* A condition that is not a string was reported by string_node. */
            if (!sc->condition)
                ERR(b, sc->at, "missing required key '%s'%s (threshold rules need one)",
                    k->condition, in);
            else if (th__doc_is_null(sc->condition))
                ERR(b, sc->condition, "'%s'%s must not be empty", k->condition, in);
            continue;
        }
        if (nnames != r->nqueries)
            continue; /* a query name is broken: reported already */
        struct th_err err = {{0}, {0}};
        unsigned col = 0;
        int rc2 = th__cond_parse(cond->s, cond->len, names, nnames, &rc->cond, &col, &err);
        if (rc2 == TH_ENOMEM)
            b->oom = true;
        else if (rc2 < 0)
            err_inside(b, cond, col ? col - 1 : 0, "bad condition: %s", err.msg);
    }
}

/*
 * Checks a well-formed tactic or technique tag against the ATT&CK table: an unknown id is
 * an error; a name part that is not the id's name (as a slug) is a lint warning. Returns
 * false on error.
 */
static bool check_attack_tag(struct build *b, const struct th_doc_node *it, int kind,
                             const char *id)
{
    size_t idlen = strlen(id), prefix = kind == TH_TAG_TACTIC ? 7 : 10;
    const char *name = it->s + prefix + idlen;
    size_t nlen = it->len - prefix - idlen;
    if (nlen) { /* skip the '-' */
        name++;
        nlen--;
    }
    if (kind == TH_TAG_TACTIC) {
        const struct th_tactic *t = th__tactic_find(id);
        if (!t) {
            ERR(b, it, "unknown ATT&CK tactic '%s' (ATT&CK Enterprise v%s)", id,
                th__attack_version());
            return false;
        }
        if (nlen && !(strlen(t->shortname) == nlen && memcmp(t->shortname, name, nlen) == 0))
            th__rl_warn(b->c, it->line, it->col, "%s is %s: the tag should read 'tactic:%s-%s'", id,
                        t->name, id, t->shortname);
        return true;
    }
    const struct th_technique *t = th__technique_find(id);
    if (!t) {
        ERR(b, it,
            "unknown ATT&CK technique '%s' (not in ATT&CK Enterprise v%s as this "
            "engine carries it)",
            id, th__attack_version());
        return false;
    }
    if (nlen) {
        char own[160], full[320], full_slug[320];
        th__attack_slug(t->name, own, sizeof own);
        th__technique_full_name(t, full, sizeof full);
        th__attack_slug(full, full_slug, sizeof full_slug);
        bool match = (strlen(own) == nlen && memcmp(own, name, nlen) == 0) ||
                     (strlen(full_slug) == nlen && memcmp(full_slug, name, nlen) == 0);
        if (!match)
            th__rl_warn(b->c, it->line, it->col, "%s is %s: the tag should read 'technique:%s-%s'",
                        id, full, id, own);
    }
    return true;
}

static void build_tags(struct build *b)
{
    const struct th_rl_src *s = b->src;
    struct th_rule *r = b->r;
    const struct th_doc_node **items = NULL;
    if (th__doc_is_null(s->tags))
        return;
    size_t max = s->tags->kind == TH_DOC_SEQ ? s->tags->n : 1;
    if (!(items = calloc(max ? max : 1, sizeof *items))) {
        b->oom = true;
        return;
    }
    size_t n = 0;
    char what[32];
    snprintf(what, sizeof what, "'%s'", b->k->tags);
    bool ok = th__rl_list(b->c, s->tags, what, max, items, &n);
    if (n && !(r->tags = calloc(n, sizeof *r->tags))) {
        b->oom = true;
        goto done;
    }
    bool tactic = false, technique = false;
    for (size_t i = 0; i < n; i++) {
        char id[16];
        struct th_err err = {{0}, {0}};
        int kind = th__attack_tag(items[i]->s, items[i]->len, id, &err);
        if (kind < 0) {
            ERR(b, items[i], "%s", err.msg);
            tactic |= items[i]->len >= 7 && memcmp(items[i]->s, "tactic:", 7) == 0;
            ok = false;
            continue;
        }
        if (kind != TH_TAG_OTHER && !check_attack_tag(b, items[i], kind, id))
            ok = false;
        tactic |= kind == TH_TAG_TACTIC;
        technique |= kind == TH_TAG_TECHNIQUE;
        if (!(r->tags[r->ntags] = dup_node(b, items[i])))
            goto done;
        r->ntags++;
    }
    if (technique && !tactic)
        th__rl_warn(b->c, s->tags->line, s->tags->col,
                    "technique tags without a tactic tag: the ATT&CK mapping lacks the tactic");
    if (ok && tactic) {
        /* Every technique should belong to one of the rule's tactics. */
        for (size_t i = 0; i < n; i++) {
            char te[16], ta[16];
            if (th__attack_tag(items[i]->s, items[i]->len, te, NULL) != TH_TAG_TECHNIQUE)
                continue;
            const struct th_technique *t = th__technique_find(te);
            bool in = false;
            for (size_t j = 0; j < r->ntags && !in; j++)
                if (th__attack_tag(r->tags[j], strlen(r->tags[j]), ta, NULL) == TH_TAG_TACTIC)
                    in = th__technique_in_tactic(t, ta);
            if (!in) {
                const struct th_tactic *list[TH_TA_COUNT];
                size_t k = th__technique_tactics(t, list, TH_TA_COUNT);
                char ids[128] = "";
                for (size_t j = 0, len = 0; j < k && len + 8 < sizeof ids; j++)
                    len += (size_t)snprintf(ids + len, sizeof ids - len, "%s%s", j ? ", " : "",
                                            list[j]->id);
                th__rl_warn(b->c, items[i]->line, items[i]->col,
                            "%s belongs to none of the rule's tactics (ATT&CK puts it in %s)", te,
                            ids);
            }
        }
    }
    if (ok && th__attack_build(r) < 0)
        b->oom = true;
done:
    free(items);
}

int th__rl_build(struct th_rl_ctx *c, const struct th_rl_src *src, struct th_rule **out,
                 unsigned *id_line, unsigned *id_col)
{
    *out = NULL;
    *id_line = *id_col = 0;
    const struct th_rl_keys *k = src->k;
    struct build bb = {c, src, k, calloc(1, sizeof(struct th_rule)), false};
    struct build *b = &bb;
    struct th_rule *r = b->r;
    if (!r)
        return TH_ENOMEM;
    const struct th_doc_node *root = src->root;

    /* id */
    if (src->id_text) {
        if (!th__rl_id_ok(src->id_text, strlen(src->id_text)))
            th__rl_error(c, 0, 0,
                         "no usable rule id: no slug-like 'id' in the file and the "
                         "file name '%.80s' is not one (a-z, 0-9 and '-')",
                         src->id_text);
        else if (!(r->id = th__strdup(src->id_text)))
            b->oom = true;
    } else {
        const struct th_doc_node *id = string_node(b, src->id, root, k->id, "", true);
        if (id && !th__rl_id_ok(id->s, id->len))
            ERR(b, id,
                "bad id '%.80s': use 1 to 128 of a-z, 0-9 and '-', not starting with "
                "'-'",
                id->s);
        else if (id && !(r->id = dup_node(b, id)))
            b->oom = true;
        if (id) {
            *id_line = id->line;
            *id_col = id->col;
        }
    }
    if (r->id && !c->rule_id)
        c->rule_id = r->id;
    if (!(r->file = th__strdup(c->file ? c->file : "")))
        b->oom = true;

    /* name, version, enabled */
    const struct th_doc_node *name = string_node(b, src->name, root, k->name, "", true);
    if (name)
        r->name = dup_node(b, name);
    r->version = 1;
    if (!th__doc_is_null(src->version)) {
        int64_t v;
        if (!th__doc_int(src->version, &v) || v < 1 || v > INT32_MAX)
            ERR(b, src->version, "'%s' must be a whole number >= 1", k->version);
        else
            r->version = (int)v;
    }
    r->enabled = true;
    if (!th__doc_is_null(src->enabled) && !th__doc_bool(src->enabled, &r->enabled))
        ERR(b, src->enabled, "'%s' must be true or false, not %s", k->enabled,
            th__doc_kind_name(src->enabled));

    build_tags(b);

    /* detection method */
    r->method = TH_METHOD_THRESHOLD;
    const struct th_doc_node *m =
        string_node(b, src->method, src->options, k->detection_method, "", false);
    if (m) {
        int found = -1;
        for (int i = 0; i < TH_METHOD__COUNT; i++)
            if (strcmp(m->s, th__method_name((enum th_method)i)) == 0)
                found = i;
        if (found >= 0)
            r->method = (enum th_method)found;
        else if (strcmp(m->s, "hardcoded") == 0 || strcmp(m->s, "third_party") == 0 ||
                 strcmp(m->s, "anomaly_threshold") == 0 || strcmp(m->s, "sequence_detection") == 0)
            ERR(b, m,
                "detection method '%s' is not supported (threshold, new_value, "
                "anomaly_detection, impossible_travel)",
                m->s);
        else
            ERR(b, m,
                "unknown detection method '%.64s' (threshold, new_value, "
                "anomaly_detection, impossible_travel)",
                m->s);
    }

    /* queries */
    if (th__doc_is_null(src->queries)) {
        ERR(b, root, "missing required key '%s'", k->queries);
    } else if (src->nq == 0) {
        if (src->queries->kind == TH_DOC_SEQ)
            ERR(b, src->queries, "'%s' must hold at least one query", k->queries);
    } else {
        bool all_group_ok = true;
        r->nqueries = src->nq;
        for (size_t i = 0; i < src->nq; i++) {
            bool group_ok;
            build_query(b, i, &group_ok);
            all_group_ok &= group_ok;
        }
        if (r->method != TH_METHOD_THRESHOLD && src->nq > 1)
            ERR(b, src->q[1].at, "%s rules take exactly one query", th__method_name(r->method));
        if (r->method == TH_METHOD_THRESHOLD && all_group_ok)
            for (size_t i = 1; i < src->nq; i++)
                if (!same_group_by(&r->queries[0], &r->queries[i]))
                    ERR(b, src->q[i].group_by ? src->q[i].group_by : src->q[i].at,
                        "all queries of a threshold rule must have the same '%s' (as query "
                        "'%s')",
                        k->group_by, r->queries[0].name ? r->queries[0].name : "a");
        if (r->method == TH_METHOD_TRAVEL && all_group_ok && r->queries[0].ngroup_by != 1)
            ERR(b, src->q[0].group_by ? src->q[0].group_by : src->q[0].at,
                "impossible_travel rules need exactly one '%s' attribute (a user or an access "
                "key), not %zu",
                k->group_by, r->queries[0].ngroup_by);
    }

    build_options(b);
    build_cases(b);

    /* message */
    if (!th__doc_is_null(src->message)) {
        const struct th_doc_node *msg = string_node(b, src->message, root, k->message, "", false);
        if (msg) {
            struct th_err err = {{0}, {0}};
            unsigned col = 0;
            int rc = th__template_compile(msg->s, msg->len, &r->message, &col, &err);
            if (rc == TH_ENOMEM)
                b->oom = true;
            else if (rc < 0)
                err_inside(b, msg, col ? col - 1 : 0, "bad message: %s", err.msg);
        }
    }

    if (c->rule_id == r->id)
        c->rule_id = NULL; /* r->id may be freed below; the caller sets its own copy */
    if (b->oom) {
        th__rule_free(r);
        return TH_ENOMEM;
    }
    if (c->errors) {
        th__rule_free(r);
        return TH_ERULE;
    }
    *out = r;
    return 0;
}

void th__rl_cases(struct th_rl_ctx *c, const struct th_doc_node *n, const struct th_rl_key *keys,
                  size_t nkeys, struct th_rl_src *src)
{
    src->cases = n;
    if (!n || th__doc_is_null(n))
        return;
    if (n->kind != TH_DOC_SEQ) {
        th__rl_error(c, n->line, n->col, "'cases' must be a list, not %s", th__doc_kind_name(n));
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct th_doc_node *cn = n->items[i];
        if (i == TH_RL_MAX_CASES) {
            th__rl_error(c, cn->line, cn->col, "more than %d cases", TH_RL_MAX_CASES);
            break;
        }
        if (th__doc_is_null(cn)) {
            th__rl_error(c, cn->line, cn->col, "case %zu is empty", i + 1);
            continue;
        }
        char what[32];
        snprintf(what, sizeof what, "case %zu", i + 1);
        const struct th_doc_node *s[TH_RL_C__N] = {0};
        if (!th__rl_map(c, cn, what, keys, nkeys, s))
            continue;
        struct th_rl_case *k = &src->cs[src->ncs++];
        k->at = cn;
        k->name = s[TH_RL_C_NAME];
        k->condition = s[TH_RL_C_CONDITION];
        k->status = s[TH_RL_C_STATUS];
    }
}
