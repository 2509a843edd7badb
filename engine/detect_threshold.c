/*
 * detect_threshold.c - the threshold method (SPEC §7).
 *
 * Per rule and group-by tuple, each query keeps a sliding window in event time of what it
 * matched: a deque of per-timestamp cells (count, sum, max), merged when events share a
 * timestamp (CloudTrail's are to the second), so a window holds at most one cell per
 * distinct time. Count and sum are kept running; max scans the cells; cardinality keeps a
 * second deque of (time, value hash) and a map of each value's latest time. The window is
 * (newest time in the group - evaluation_window, newest]; window 0 means the event alone.
 * A separate window counts events that matched any query: events_matched of a new signal.
 *
 * Cases are evaluated in order after each matching event; the first true one opens or
 * updates the group's signal. Out-of-order events are inserted at their time; an event
 * older than the window's start still counts for the signal lifecycle but not the window.
 *
 * --state saves every group (LRU order, windows cell by cell with their running totals,
 * cardinality deques and maps, the signal) and loads it back exactly (threshold_save/load).
 *
 * Memory per group matters (a million principals): windows start with one cell and double,
 * and a query's cardinality state is allocated with its first value, only for cardinality
 * queries (a missing one and an empty one behave, and are saved, alike).
 */
#include "detect.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

struct cell {
    int64_t t;
    double count;
    double sum;
    double max;
};

/* A deque of cells ordered by time; [head, head+len) of e[] is live. */
struct window {
    struct cell *e;
    size_t head, len, cap;
    double count, sum; /* running totals over the live cells */
};

/* value hash -> latest time seen, open addressing with backward-shift deletion. */
struct seen_map {
    uint64_t *key; /* 0 marks an empty slot (hash 0 is remapped to 1) */
    int64_t *last;
    size_t cap, n;
};

struct distinct {
    struct window order; /* cells reused: t and the value hash in `sum` bits via union */
    uint64_t *hashes;    /* parallel to order.e: the value hash of each cell */
    struct seen_map map;
};

struct qstate {
    struct window win;
    struct distinct *card; /* cardinality queries only, allocated with the first value */
};

struct tgroup {
    struct th_group g;
    int64_t newest;
    struct window any;
    struct th_sigstate sig;
    struct qstate q[]; /* one per rule query */
};

struct threshold {
    struct th_group_table groups;
    const struct th_signal_env *sigenv;
    const struct th_rule *rule;
    int64_t window;
};

/* ---- windows ------------------------------------------------------------------------- */

static void window_free(struct window *w)
{
    free(w->e);
    memset(w, 0, sizeof *w);
}

/* Inserts (or merges into) the cell at time t; returns its index relative to head, or -1
 * when memory ran out. */
static long window_add(struct window *w, int64_t t, double count, double value, bool has_value)
{
    size_t pos = w->len;
    while (pos > 0 && w->e[w->head + pos - 1].t > t)
        pos--;
    if (pos > 0 && w->e[w->head + pos - 1].t == t) {
        struct cell *c = &w->e[w->head + pos - 1];
        c->count += count;
        if (has_value) {
            c->sum += value;
            if (isnan(c->max) || value > c->max)
                c->max = value;
        }
        w->count += count;
        w->sum += has_value ? value : 0;
        return (long)pos - 1;
    }
    if (w->head + w->len == w->cap) {
        if (w->head > 0) {
            memmove(w->e, w->e + w->head, w->len * sizeof *w->e);
            w->head = 0;
        }
        if (w->len == w->cap) {
            /* Most groups only ever hold one cell (a million principals seen once each):
             * start with one, then double. */
            void *p = w->e;
            if (w->cap == 0) {
                if (!(p = malloc(sizeof *w->e)))
                    return -1;
                w->cap = 1;
            } else if (th__grow(&p, &w->cap, w->len + 1, sizeof *w->e) < 0) {
                return -1;
            }
            w->e = p;
        }
    }
    struct cell *base = w->e + w->head;
    memmove(base + pos + 1, base + pos, (w->len - pos) * sizeof *base);
    base[pos] = (struct cell){t, count, has_value ? value : 0, has_value ? value : NAN};
    w->len++;
    w->count += count;
    w->sum += has_value ? value : 0;
    return (long)pos;
}

/* Drops cells at or before cutoff. */
static void window_prune(struct window *w, int64_t cutoff)
{
    while (w->len && w->e[w->head].t <= cutoff) {
        w->count -= w->e[w->head].count;
        w->sum -= w->e[w->head].sum;
        w->head++;
        w->len--;
    }
    if (w->len == 0) {
        w->head = 0;
        w->count = w->sum = 0; /* no drift from repeated float subtraction */
    } else if (!isfinite(w->sum)) {
        /* The running sum overflowed (values near DBL_MAX): subtracting cannot bring it
         * back, so add up what is left. */
        w->sum = 0;
        for (size_t i = 0; i < w->len; i++)
            w->sum += w->e[w->head + i].sum;
    }
}

static double window_max(const struct window *w)
{
    double m = NAN;
    for (size_t i = 0; i < w->len; i++) {
        double v = w->e[w->head + i].max;
        if (!isnan(v) && (isnan(m) || v > m))
            m = v;
    }
    return isnan(m) ? 0 : m;
}

/* ---- cardinality --------------------------------------------------------------------- */

static size_t map_slot(const struct seen_map *m, uint64_t k)
{
    return (size_t)th__hash_mix(k) & (m->cap - 1);
}

static bool map_grow(struct seen_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 4;
    uint64_t *key = calloc(cap, sizeof *key);
    int64_t *last = calloc(cap, sizeof *last);
    if (!key || !last) {
        free(key);
        free(last);
        return false;
    }
    struct seen_map old = *m;
    m->key = key;
    m->last = last;
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++) {
        if (!old.key[i])
            continue;
        size_t j = map_slot(m, old.key[i]);
        while (m->key[j])
            j = (j + 1) & (cap - 1);
        m->key[j] = old.key[i];
        m->last[j] = old.last[i];
    }
    free(old.key);
    free(old.last);
    return true;
}

static void map_put(struct seen_map *m, uint64_t k, int64_t t)
{
    if ((m->n + 1) * 4 > m->cap * 3 && !map_grow(m))
        return;
    size_t i = map_slot(m, k);
    while (m->key[i] && m->key[i] != k)
        i = (i + 1) & (m->cap - 1);
    if (!m->key[i]) {
        m->key[i] = k;
        m->last[i] = t;
        m->n++;
    } else if (t > m->last[i]) {
        m->last[i] = t;
    }
}

/* Removes k when its latest time is t (an older cell leaving the window must not remove a
 * value that was seen again later). */
static void map_del_if(struct seen_map *m, uint64_t k, int64_t t)
{
    if (!m->cap)
        return;
    size_t i = map_slot(m, k);
    while (m->key[i] && m->key[i] != k)
        i = (i + 1) & (m->cap - 1);
    if (!m->key[i] || m->last[i] > t)
        return;
    /* Backward-shift deletion keeps probe chains intact without tombstones. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & (m->cap - 1);
        if (!m->key[j])
            break;
        size_t home = map_slot(m, m->key[j]);
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            m->key[i] = m->key[j];
            m->last[i] = m->last[j];
            i = j;
        }
    }
    m->key[i] = 0;
    m->n--;
}

/* Frees d and all it holds (NULL is fine). */
static void distinct_free(struct distinct *d)
{
    if (!d)
        return;
    window_free(&d->order);
    free(d->hashes);
    free(d->map.key);
    free(d->map.last);
    free(d);
}

static void distinct_add(struct distinct *d, int64_t t, uint64_t h)
{
    /* Appended in arrival order; pruning removes by time from the front, and an
     * out-of-order value only lives a little longer than its window. */
    struct window *w = &d->order;
    if (w->head + w->len == w->cap) {
        if (w->head > 0) {
            memmove(w->e, w->e + w->head, w->len * sizeof *w->e);
            memmove(d->hashes, d->hashes + w->head, w->len * sizeof *d->hashes);
            w->head = 0;
        }
        if (w->len == w->cap) {
            /* One slot first (a group that sees one value), then doubling. A failure
             * after the first realloc leaves a larger cell array and the old capacity:
             * harmless. */
            size_t cap = w->cap ? w->cap * 2 : 1;
            if (cap > SIZE_MAX / 2 / sizeof *w->e)
                return;
            struct cell *e = realloc(w->e, cap * sizeof *e);
            if (!e)
                return;
            w->e = e;
            uint64_t *hs = realloc(d->hashes, cap * sizeof *hs);
            if (!hs)
                return;
            d->hashes = hs;
            w->cap = cap;
        }
    }
    w->e[w->head + w->len] = (struct cell){t, 1, 0, NAN};
    d->hashes[w->head + w->len] = h;
    w->len++;
    map_put(&d->map, h, t);
}

static void distinct_prune(struct distinct *d, int64_t cutoff)
{
    struct window *w = &d->order;
    while (w->len && w->e[w->head].t <= cutoff) {
        map_del_if(&d->map, d->hashes[w->head], w->e[w->head].t);
        w->head++;
        w->len--;
    }
    if (!w->len)
        w->head = 0;
}

/* ---- the detector -------------------------------------------------------------------- */

static void drop_group(void *ctx, struct th_group *g, enum th_group_drop why)
{
    struct threshold *th = ctx;
    struct tgroup *tg = (struct tgroup *)g;
    /* Freeing the engine closes nothing: an open signal stays open (SPEC §10). Not "now 0
     * without force": events before 1970 have negative times, and that closed them. */
    if (why != TH_GROUP_FREED)
        th__sig_close(&tg->sig, th->sigenv, th->rule, g->key, g->key_len, 0, true);
    th__sig_fini(&tg->sig);
    window_free(&tg->any);
    for (size_t i = 0; i < th->rule->nqueries; i++) {
        window_free(&tg->q[i].win);
        distinct_free(tg->q[i].card);
        tg->q[i].card = NULL;
    }
}

static int threshold_init(struct th_detector *d, struct th_err *err)
{
    TH_UNUSED(err);
    struct threshold *th = calloc(1, sizeof *th);
    if (!th)
        return TH_ENOMEM;
    th->sigenv = d->sigenv;
    th->rule = d->rule;
    th->window = d->rule->evaluation_window_ms;
    size_t entry = sizeof(struct tgroup) + d->rule->nqueries * sizeof(struct qstate);
    if (th__groups_init(&th->groups, entry, d->max_groups, drop_group, th) < 0) {
        free(th);
        return TH_ENOMEM;
    }
    d->impl = th;
    return 0;
}

static void threshold_fini(struct th_detector *d)
{
    struct threshold *th = d->impl;
    if (!th)
        return;
    th__groups_fini(&th->groups);
    free(th);
    d->impl = NULL;
}

/* The numeric value of a query's first field in ev, when it has one: a JSON number or a
 * numeric string, finite (an infinity would poison the running sum with NaN once it left
 * the window, and print as `inf` in details). Booleans are not numbers. */
static bool field_number(const struct th_rule_query *q, struct th_event *ev, double *out)
{
    struct th_value v;
    if (q->nfields == 0 || !th__attr_first(&q->fields[0], ev, &v))
        return false;
    if (v.type == TH_V_STRING) {
        char buf[64];
        if (v.len == 0 || v.len >= sizeof buf)
            return false;
        memcpy(buf, v.s, v.len);
        buf[v.len] = '\0';
        char *end;
        double x = strtod(buf, &end);
        if (*end || !isfinite(x))
            return false;
        *out = x;
        return true;
    }
    if (v.type != TH_V_INT && v.type != TH_V_DOUBLE)
        return false;
    *out = v.num;
    return isfinite(v.num);
}

/* Records what query i saw in ev into its window. */
static void add_to_query(struct threshold *th, struct qstate *qs, const struct th_rule_query *q,
                         struct th_event *ev)
{
    double x = 0;
    bool has = false;
    if (q->agg == TH_AGG_SUM || q->agg == TH_AGG_MAX)
        has = field_number(q, ev, &x);
    window_add(&qs->win, ev->time_ms, 1, x, has);
    if (q->agg == TH_AGG_CARDINALITY && q->ndistinct) {
        struct th_value v;
        if (th__attr_first(&q->distinct[0], ev, &v) &&
            (qs->card || (qs->card = calloc(1, sizeof *qs->card)))) {
            uint64_t h = th__hash64(v.s, v.len, 7);
            distinct_add(qs->card, ev->time_ms, h ? h : 1);
        }
    }
    TH_UNUSED(th);
}

static double aggregate(const struct th_rule_query *q, const struct qstate *qs)
{
    switch (q->agg) {
    case TH_AGG_COUNT:
        return qs->win.count;
    case TH_AGG_CARDINALITY:
        return qs->card ? (double)qs->card->map.n : 0;
    case TH_AGG_SUM:
        return qs->win.sum;
    case TH_AGG_MAX:
        return window_max(&qs->win);
    default:
        return 0;
    }
}

static void clear_window(struct qstate *qs)
{
    window_prune(&qs->win, INT64_MAX);
    if (qs->card)
        distinct_prune(qs->card, INT64_MAX);
}

static void threshold_on_event(struct th_detector *d, struct th_event *ev, uint32_t matched)
{
    struct threshold *th = d->impl;
    const struct th_rule *r = d->rule;
    if (!th__group_key(d, &r->queries[0], ev))
        return;
    bool created;
    struct tgroup *tg = (struct tgroup *)th__groups_get(&th->groups, d->key.p, d->key.len,
                                                        &created);
    if (!tg)
        return;
    const char *key = tg->g.key;
    size_t key_len = tg->g.key_len;
    if (ev->time_ms > tg->newest || created)
        tg->newest = ev->time_ms;
    th__sig_close(&tg->sig, th->sigenv, r, key, key_len, ev->time_ms, false);

    /* Window 0 evaluates each event alone: start from empty windows. */
    if (th->window == 0) {
        window_prune(&tg->any, INT64_MAX);
        for (size_t i = 0; i < r->nqueries; i++)
            clear_window(&tg->q[i]);
    }
    int64_t cutoff = tg->newest - th->window;
    if (th->window == 0 || ev->time_ms > cutoff) {
        window_add(&tg->any, ev->time_ms, 1, 0, false);
        for (size_t i = 0; i < r->nqueries; i++)
            if (matched & (UINT32_C(1) << i))
                add_to_query(th, &tg->q[i], &r->queries[i], ev);
    }
    if (th->window > 0) {
        window_prune(&tg->any, cutoff);
        for (size_t i = 0; i < r->nqueries; i++) {
            window_prune(&tg->q[i].win, cutoff);
            if (tg->q[i].card)
                distinct_prune(tg->q[i].card, cutoff);
        }
    }

    double agg[TH_MAX_QUERIES];
    for (size_t i = 0; i < r->nqueries; i++)
        agg[i] = aggregate(&r->queries[i], &tg->q[i]);
    for (size_t c = 0; c < r->ncases; c++) {
        if (r->cases[c].cond && !th__cond_eval(r->cases[c].cond, agg))
            continue;
        struct th_strbuf *sb = &d->key; /* the key was copied into the group: reuse */
        th__sb_reset(sb);
        th__sb_adds(sb, "{\"aggregates\":{");
        for (size_t i = 0; i < r->nqueries; i++) {
            if (i)
                th__sb_addc(sb, ',');
            th__sb_add_json_str(sb, r->queries[i].name, strlen(r->queries[i].name));
            if (isfinite(agg[i]))
                th__sb_addf(sb, ":%.15g", agg[i]);
            else
                th__sb_adds(sb, ":null"); /* a sum past DBL_MAX: JSON has no infinity */
        }
        th__sb_adds(sb, "}}");
        int64_t first = tg->any.len ? tg->any.e[tg->any.head].t : ev->time_ms;
        th__sig_match(&tg->sig, th->sigenv, r, key, key_len, (int)c, ev, first,
                      (uint64_t)tg->any.count, sb->oom ? NULL : sb->p);
        break;
    }

    /* The group may go once its window is empty and its signal closed. */
    int64_t expire = tg->newest + th->window;
    if (tg->sig.open) {
        int64_t close_at = th__sig_close_at(&tg->sig, r);
        if (close_at > expire)
            expire = close_at;
    }
    tg->g.expire_ms = expire;
}

static void threshold_advance(struct th_detector *d, int64_t watermark)
{
    struct threshold *th = d->impl;
    th__groups_expire(&th->groups, watermark);
}

static const struct th_group_table *threshold_groups(const struct th_detector *d)
{
    const struct threshold *th = d->impl;
    return &th->groups;
}

/* ---- --state ------------------------------------------------------------------------- */

/* Windows are saved cell by cell with their running totals as they are (not summed again),
 * so a restored window holds the same doubles to the last bit. */
static void window_save(const struct window *w, struct th_state_writer *sw)
{
    th__sw_u64(sw, w->len);
    th__sw_f64(sw, w->count);
    th__sw_f64(sw, w->sum);
    for (size_t i = 0; i < w->len; i++) {
        const struct cell *c = &w->e[w->head + i];
        th__sw_i64(sw, c->t);
        th__sw_f64(sw, c->count);
        th__sw_f64(sw, c->sum);
        th__sw_f64(sw, c->max);
    }
}

static bool window_load(struct window *w, struct th_state_reader *r)
{
    uint64_t n = th__sr_count(r, SIZE_MAX / sizeof *w->e, 32);
    w->count = th__sr_f64(r);
    w->sum = th__sr_f64(r);
    if (r->bad)
        return false;
    if (n && !(w->e = malloc((size_t)n * sizeof *w->e)))
        return false;
    w->cap = (size_t)n;
    for (size_t i = 0; i < n; i++) {
        struct cell *c = &w->e[i];
        c->t = th__sr_i64(r);
        c->count = th__sr_f64(r);
        c->sum = th__sr_f64(r);
        c->max = th__sr_f64(r);
        if (r->bad || (i && c->t <= w->e[i - 1].t)) /* cells are in strict time order */
            return false;
        w->len++;
    }
    return true;
}

/* A query without a cardinality set (d NULL) is saved as an empty one: both count 0. */
static void distinct_save(const struct distinct *d, struct th_state_writer *sw)
{
    if (!d) {
        th__sw_u64(sw, 0);
        th__sw_u64(sw, 0);
        return;
    }
    const struct window *w = &d->order;
    th__sw_u64(sw, w->len);
    for (size_t i = 0; i < w->len; i++) {
        th__sw_i64(sw, w->e[w->head + i].t);
        th__sw_u64(sw, d->hashes[w->head + i]);
    }
    th__sw_u64(sw, d->map.n);
    for (size_t i = 0; i < d->map.cap; i++) {
        if (d->map.key[i]) {
            th__sw_u64(sw, d->map.key[i]);
            th__sw_i64(sw, d->map.last[i]);
        }
    }
}

/* Loads into *dp: a set is allocated only when the saved one holds something. */
static bool distinct_load(struct distinct **dp, struct th_state_reader *r)
{
    struct distinct *d = *dp = calloc(1, sizeof *d);
    if (!d)
        return false;
    struct window *w = &d->order;
    uint64_t n = th__sr_count(r, SIZE_MAX / sizeof *w->e, 16);
    if (r->bad)
        return false;
    if (n) {
        w->e = malloc((size_t)n * sizeof *w->e);
        d->hashes = malloc((size_t)n * sizeof *d->hashes);
        if (!w->e || !d->hashes)
            return false;
        w->cap = (size_t)n;
    }
    for (size_t i = 0; i < n; i++) {
        w->e[i] = (struct cell){th__sr_i64(r), 1, 0, NAN};
        d->hashes[i] = th__sr_u64(r);
        if (r->bad)
            return false;
        w->len++;
    }
    uint64_t m = th__sr_count(r, SIZE_MAX / 2, 16);
    for (uint64_t i = 0; i < m && !r->bad; i++) {
        uint64_t k = th__sr_u64(r);
        int64_t last = th__sr_i64(r);
        if (r->bad || k == 0)
            return false;
        map_put(&d->map, k, last);
        if (d->map.n != i + 1) /* a key given twice, or no memory */
            return false;
    }
    if (!r->bad && !w->len && !d->map.n) {
        distinct_free(d);
        *dp = NULL;
    }
    return !r->bad;
}

/* Layout of a group: newest, the any-query window, the signal, then per query its window
 * and its cardinality set. */
static void save_group(void *ctx, const struct th_group *g, struct th_state_writer *w)
{
    const struct threshold *th = ctx;
    const struct tgroup *tg = (const struct tgroup *)g;
    th__sw_i64(w, tg->newest);
    window_save(&tg->any, w);
    th__sig_save(&tg->sig, w);
    for (size_t i = 0; i < th->rule->nqueries; i++) {
        window_save(&tg->q[i].win, w);
        distinct_save(tg->q[i].card, w);
    }
}

static bool load_group(void *ctx, struct th_group *g, struct th_state_reader *r)
{
    const struct threshold *th = ctx;
    struct tgroup *tg = (struct tgroup *)g;
    tg->newest = th__sr_i64(r);
    if (r->bad || !window_load(&tg->any, r) || !th__sig_load(&tg->sig, r))
        return false;
    if (tg->sig.open && (size_t)tg->sig.case_idx >= th->rule->ncases)
        return false;
    for (size_t i = 0; i < th->rule->nqueries; i++)
        if (!window_load(&tg->q[i].win, r) || !distinct_load(&tg->q[i].card, r))
            return false;
    return true;
}

static void threshold_save(const struct th_detector *d, struct th_state_writer *w)
{
    const struct threshold *th = d->impl;
    th__sw_u32(w, (uint32_t)d->rule->nqueries);
    th__groups_save(&th->groups, w, save_group, (void *)th);
}

static int threshold_load(struct th_detector *d, struct th_state_reader *r, struct th_err *err)
{
    struct threshold *th = d->impl;
    uint32_t nq = th__sr_u32(r);
    if (r->bad || nq != d->rule->nqueries)
        return th__err(err, TH_ESTATE, NULL, "threshold state for %u queries, the rule has %zu",
                       nq, d->rule->nqueries);
    if (!th__groups_load(&th->groups, r, load_group, th))
        return th__err(err, TH_ESTATE, NULL, "malformed threshold state");
    return 0;
}

const struct th_detector_ops th__threshold_ops = {
    .method = TH_METHOD_THRESHOLD,
    .init = threshold_init,
    .fini = threshold_fini,
    .on_event = threshold_on_event,
    .advance = threshold_advance,
    .groups = threshold_groups,
    .save = threshold_save,
    .load = threshold_load,
};
