/*
 * detect_threshold.c - the threshold method (SPEC §7).
 *
 * Per rule and group-by tuple, each query keeps a sliding window in event time of what it
 * matched: a deque of per-timestamp cells (count, sum, max), merged when events share a
 * timestamp (CloudTrail's are to the second), so a window holds at most one cell per
 * distinct time. Count and sum are kept running; max scans the cells. The window is
 * (newest time in the group - evaluation_window, newest]; window 0 means the event alone.
 * A separate window counts events that matched any query: events_matched of a new signal.
 *
 * Cardinality keeps, besides its window, a deque of (time, value hash) in arrival order and
 * a "seen map" of value hash -> latest time, whose size is the aggregate. A value leaves
 * the map when a deque entry at or after its latest time is pruned; pruning goes from the
 * front of the deque, so an out-of-order value lives a little longer than its window.
 *
 * Cases are evaluated in order after each matching event; the first true one opens or
 * updates the group's signal. Out-of-order events are inserted at their time; an event
 * older than the window's start still counts for the signal lifecycle but not the window.
 *
 * --state saves every group (LRU order, windows cell by cell with their running totals,
 * cardinality deques and maps, the signal) and loads it back exactly (threshold_save/load).
 * The map is saved in its slot order, so the bytes depend on its layout: see below.
 *
 * MEMORY. A group's cost matters (a million principals, each seen once). One allocation
 * holds it all (struct tgroup, then one struct window per query, then one struct distinct
 * per cardinality query), next to its key, which the group table allocates:
 *   - a window's first cell is inline; a second moves the cells to a heap array (2, then
 *     doubling); a cardinality deque's first entry likewise;
 *   - the signal state is a pointer, allocated when the group first matches a case and
 *     freed once the signal closed (saved as an empty one while NULL);
 *   - the seen map is not built while it is implied by the deque: every live entry a
 *     different value (the map then holds exactly those, each with its entry's time) and
 *     its table (whose capacity, at most SMALL_CAP, is still tracked) not due to grow. Its
 *     layout is then that of inserting the entries' values in arrival order: deleting from
 *     a linear-probing table by backward shift leaves it as if the key had never been
 *     inserted (Knuth, TAOCP 6.4, Algorithm R), so save can lay it out from the deque
 *     (implied_layout). A value coming again, or a table about to grow, builds the real
 *     map from that layout once (distinct_build); a map that empties, or one loaded from a
 *     snapshot that the deque implies, is dropped again (distinct_shrink). The distinct
 *     count, the saved bytes and later behaviour are the same either way (checked against
 *     a map built from the first value in tests/unit/test_detect_threshold.c).
 * A cardinality query's own window is kept although aggregate() does not read it: its
 * cells are part of the saved bytes.
 * So a group seen once costs, with glibc's chunks: the entry (136 bytes, plus 64 per query
 * and 48 per cardinality query) and its key; the burst rule below is 368 + 48 bytes, a
 * count rule 208 + 48. Peak RSS over a million distinct principals (Release, the 2-core
 * VM), before this layout -> with it, measured with
 *   /usr/bin/time -f %M trailhound run --no-progress -r RULES PRINCIPALS
 * where PRINCIPALS is build-bench/data-1000000/principals.ndjson (tests/bench/run.sh):
 *   rules/discovery/aws-cloud-discovery-burst.yaml (2 cardinality queries): 1066 -> 410 MiB
 *   the whole rules/ pack (the burst rule is nearly all of it):            1069 -> 413 MiB
 *   tests/bench/state-rule.yaml (1 count query):                            441 -> 258 MiB
 * Loading the burst rule's snapshot of those million groups: 1071 -> 415 MiB.
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

/* A deque of cells ordered by time; [head, head+len) of its cells is live. With cap 0 the
 * one cell there can be is inline (c.one), else they are the heap array c.many. */
struct window {
    union {
        struct cell one;
        struct cell *many;
    } c;
    double count, sum; /* running totals over the live cells */
    uint32_t head, len, cap;
};

/* One value a cardinality query saw: its time and its hash (never 0). */
struct dentry {
    int64_t t;
    uint64_t hash;
};

/* A slot of the seen map: a value hash (0 marks an empty slot) and its latest time. */
struct mslot {
    uint64_t key;
    int64_t last;
};

/* value hash -> latest time seen, open addressing with backward-shift deletion; cap is 0
 * or a power of two >= 4. */
struct seen_map {
    struct mslot *slot;
    uint32_t cap, n;
};

/* A cardinality query's set: the deque of entries in arrival order (first one inline,
 * like a window's cells) and the seen map. While built is false the map has no slots:
 * it is implied by the entries (see the top of the file), with cap and n still kept. */
struct distinct {
    union {
        struct dentry one;
        struct dentry *many;
    } e;
    struct seen_map map;
    uint32_t head, len, cap;
    bool built;
};

/* The largest table an implied map may have (save lays it out on the stack). */
#define SMALL_CAP 8

struct tgroup {
    struct th_group g;
    int64_t newest;
    struct th_sigstate *sig; /* NULL while there is no signal */
    struct window any;
    struct window win[]; /* one per rule query, then a struct distinct per cardinality query */
};

struct threshold {
    struct th_group_table groups;
    const struct th_signal_env *sigenv;
    const struct th_rule *rule;
    int64_t window;
    uint8_t card[TH_MAX_QUERIES]; /* per query, 1 + the index of its set; 0 for none */
};

/* ---- windows ------------------------------------------------------------------------- */

/* The cell array of w (the inline cell while cap is 0). */
static struct cell *cells(const struct window *w)
{
    return w->cap ? w->c.many : (struct cell *)&w->c.one;
}

static void window_free(struct window *w)
{
    if (w->cap)
        free(w->c.many);
    memset(w, 0, sizeof *w);
}

/* Makes room for one more cell after the live ones: moves them to the front, or grows
 * (from the inline cell to two on the heap, then doubling). False when memory ran out. */
static bool window_room(struct window *w)
{
    uint32_t cap = w->cap ? w->cap : 1;
    if (w->head + w->len < cap)
        return true;
    if (w->head > 0) {
        struct cell *e = cells(w);
        memmove(e, e + w->head, w->len * sizeof *e);
        w->head = 0;
        return true;
    }
    if (cap > UINT32_MAX / 2)
        return false;
    struct cell *e;
    if (!w->cap) {
        if (!(e = malloc(2 * sizeof *e)))
            return false;
        e[0] = w->c.one;
    } else if (!(e = realloc(w->c.many, (size_t)cap * 2 * sizeof *e))) {
        return false;
    }
    w->c.many = e;
    w->cap = cap * 2;
    return true;
}

/* Inserts (or merges into) the cell at time t; does nothing when memory ran out. */
static void window_add(struct window *w, int64_t t, double count, double value, bool has_value)
{
    uint32_t pos = w->len;
    struct cell *base = cells(w) + w->head;
    while (pos > 0 && base[pos - 1].t > t)
        pos--;
    if (pos > 0 && base[pos - 1].t == t) {
        struct cell *c = &base[pos - 1];
        c->count += count;
        if (has_value) {
            c->sum += value;
            if (isnan(c->max) || value > c->max)
                c->max = value;
        }
        w->count += count;
        w->sum += has_value ? value : 0;
        return;
    }
    if (!window_room(w))
        return;
    base = cells(w) + w->head;
    memmove(base + pos + 1, base + pos, (w->len - pos) * sizeof *base);
    base[pos] = (struct cell){t, count, has_value ? value : 0, has_value ? value : NAN};
    w->len++;
    w->count += count;
    w->sum += has_value ? value : 0;
}

/* Drops cells at or before cutoff. */
static void window_prune(struct window *w, int64_t cutoff)
{
    struct cell *e = cells(w);
    while (w->len && e[w->head].t <= cutoff) {
        w->count -= e[w->head].count;
        w->sum -= e[w->head].sum;
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
        for (uint32_t i = 0; i < w->len; i++)
            w->sum += e[w->head + i].sum;
    }
}

static double window_max(const struct window *w)
{
    const struct cell *e = cells(w) + w->head;
    double m = NAN;
    for (uint32_t i = 0; i < w->len; i++) {
        double v = e[i].max;
        if (!isnan(v) && (isnan(m) || v > m))
            m = v;
    }
    return isnan(m) ? 0 : m;
}

/* ---- the seen map -------------------------------------------------------------------- */

/* The home slot of key k in a table of cap slots. */
static uint32_t map_home(uint64_t k, uint32_t cap)
{
    return (uint32_t)(th__hash_mix(k) & (cap - 1));
}

/* Doubles m's table (4 slots first). False when memory ran out. */
static bool map_grow(struct seen_map *m)
{
    if (m->cap > UINT32_MAX / 2)
        return false;
    uint32_t cap = m->cap ? m->cap * 2 : 4;
    struct mslot *slot = calloc(cap, sizeof *slot);
    if (!slot)
        return false;
    /* Reinserted in the old slot order: the saved layout depends on it. */
    for (uint32_t i = 0; i < m->cap; i++) {
        if (!m->slot[i].key)
            continue;
        uint32_t j = map_home(m->slot[i].key, cap);
        while (slot[j].key)
            j = (j + 1) & (cap - 1);
        slot[j] = m->slot[i];
    }
    free(m->slot);
    m->slot = slot;
    m->cap = cap;
    return true;
}

static void map_put(struct seen_map *m, uint64_t k, int64_t t)
{
    if (((uint64_t)m->n + 1) * 4 > (uint64_t)m->cap * 3 && !map_grow(m))
        return;
    uint32_t i = map_home(k, m->cap);
    while (m->slot[i].key && m->slot[i].key != k)
        i = (i + 1) & (m->cap - 1);
    if (!m->slot[i].key) {
        m->slot[i] = (struct mslot){k, t};
        m->n++;
    } else if (t > m->slot[i].last) {
        m->slot[i].last = t;
    }
}

/* Removes k when its latest time is t (an older entry leaving the window must not remove a
 * value that was seen again later). */
static void map_del_if(struct seen_map *m, uint64_t k, int64_t t)
{
    if (!m->cap)
        return;
    uint32_t i = map_home(k, m->cap);
    while (m->slot[i].key && m->slot[i].key != k)
        i = (i + 1) & (m->cap - 1);
    if (!m->slot[i].key || m->slot[i].last > t)
        return;
    /* Backward-shift deletion keeps probe chains intact without tombstones. */
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & (m->cap - 1);
        if (!m->slot[j].key)
            break;
        uint32_t home = map_home(m->slot[j].key, m->cap);
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            m->slot[i] = m->slot[j];
            i = j;
        }
    }
    m->slot[i].key = 0;
    m->n--;
}

/* ---- cardinality sets ---------------------------------------------------------------- */

/* The entry array of d (the inline entry while cap is 0). */
static struct dentry *entries(const struct distinct *d)
{
    return d->cap ? d->e.many : (struct dentry *)&d->e.one;
}

/* Frees what d holds and zeroes it. */
static void distinct_free(struct distinct *d)
{
    if (d->cap)
        free(d->e.many);
    free(d->map.slot);
    memset(d, 0, sizeof *d);
}

/* Makes room for one more entry after the live ones, as window_room does for cells. */
static bool distinct_room(struct distinct *d)
{
    uint32_t cap = d->cap ? d->cap : 1;
    if (d->head + d->len < cap)
        return true;
    if (d->head > 0) {
        struct dentry *e = entries(d);
        memmove(e, e + d->head, d->len * sizeof *e);
        d->head = 0;
        return true;
    }
    if (cap > UINT32_MAX / 2)
        return false;
    struct dentry *e;
    if (!d->cap) {
        if (!(e = malloc(2 * sizeof *e)))
            return false;
        e[0] = d->e.one;
    } else if (!(e = realloc(d->e.many, (size_t)cap * 2 * sizeof *e))) {
        return false;
    }
    d->e.many = e;
    d->cap = cap * 2;
    return true;
}

/* The slot layout of d's implied map (d->built false, so d->len < d->map.cap <= SMALL_CAP
 * or both are 0): the live entries' values inserted in arrival order by linear probing.
 * pos[s] is 1 + the index (from head) of the entry in slot s, 0 for an empty slot. */
static void implied_layout(const struct distinct *d, uint8_t pos[SMALL_CAP])
{
    const struct dentry *e = entries(d) + d->head;
    memset(pos, 0, SMALL_CAP);
    for (uint32_t i = 0; i < d->len; i++) {
        uint32_t s = map_home(e[i].hash, d->map.cap);
        while (pos[s])
            s = (s + 1) & (d->map.cap - 1);
        pos[s] = (uint8_t)(i + 1);
    }
}

/* Gives d's implied map its slots, laid out as it always was. False when memory ran out. */
static bool distinct_build(struct distinct *d)
{
    if (d->map.cap) {
        struct mslot *slot = calloc(d->map.cap, sizeof *slot);
        if (!slot)
            return false;
        uint8_t pos[SMALL_CAP];
        implied_layout(d, pos);
        const struct dentry *e = entries(d) + d->head;
        for (uint32_t s = 0; s < d->map.cap; s++)
            if (pos[s])
                slot[s] = (struct mslot){e[pos[s] - 1].hash, e[pos[s] - 1].t};
        d->map.slot = slot;
    }
    d->built = true;
    return true;
}

/* Drops d's map slots when the entries imply them exactly (same values, times and slots). */
static void distinct_shrink(struct distinct *d)
{
    if (!d->built || d->map.cap > SMALL_CAP || d->map.n != d->len)
        return;
    uint8_t pos[SMALL_CAP];
    implied_layout(d, pos);
    const struct dentry *e = entries(d) + d->head;
    for (uint32_t s = 0; s < d->map.cap; s++) {
        const struct mslot *m = &d->map.slot[s];
        if (pos[s] ? m->key != e[pos[s] - 1].hash || m->last != e[pos[s] - 1].t : m->key != 0)
            return;
    }
    free(d->map.slot);
    d->map.slot = NULL;
    d->built = false;
}

/* Appended in arrival order; pruning removes by time from the front, and an out-of-order
 * value only lives a little longer than its window. */
static void distinct_add(struct distinct *d, int64_t t, uint64_t h)
{
    if (!d->built) {
        /* The implied map holds each value once and never grows: a value seen again, or a
         * table due to grow (as map_put would, from 4 on), needs the real one. */
        bool again = false;
        const struct dentry *e = entries(d) + d->head;
        for (uint32_t i = 0; i < d->len && !again; i++)
            again = e[i].hash == h;
        bool grows = d->map.cap && (d->map.n + 1) * 4 > d->map.cap * 3;
        if ((again || grows) && !distinct_build(d))
            return;
    }
    if (!distinct_room(d))
        return;
    entries(d)[d->head + d->len++] = (struct dentry){t, h};
    if (d->built) {
        map_put(&d->map, h, t);
    } else {
        if (!d->map.cap)
            d->map.cap = 4; /* the table map_put would have made */
        d->map.n++;
    }
}

/* Drops entries at or before cutoff from the front, and their values from the map when
 * they were the latest; a map left empty is dropped. */
static void distinct_prune(struct distinct *d, int64_t cutoff)
{
    const struct dentry *e = entries(d);
    while (d->len && e[d->head].t <= cutoff) {
        if (d->built)
            map_del_if(&d->map, e[d->head].hash, e[d->head].t);
        else
            d->map.n--; /* its value was in no other entry */
        d->head++;
        d->len--;
    }
    if (!d->len) {
        d->head = 0;
        if (!d->map.n)
            distinct_shrink(d);
    }
}

/* ---- the detector -------------------------------------------------------------------- */

/* The cardinality set of query i, NULL when it is not a cardinality query. */
static struct distinct *card_of(const struct threshold *th, const struct tgroup *tg, size_t i)
{
    if (!th->card[i])
        return NULL;
    return (struct distinct *)(tg->win + th->rule->nqueries) + (th->card[i] - 1);
}

/* Closes the group's signal when it is due at time now (or with force), freeing its state
 * once closed. */
static void close_signal(struct threshold *th, struct tgroup *tg, int64_t now, bool force)
{
    if (tg->sig && th__sig_close(tg->sig, th->sigenv, th->rule, tg->g.key, tg->g.key_len, now,
                                 force)) {
        free(tg->sig);
        tg->sig = NULL;
    }
}

static void drop_group(void *ctx, struct th_group *g, enum th_group_drop why)
{
    struct threshold *th = ctx;
    struct tgroup *tg = (struct tgroup *)g;
    /* Freeing the engine closes nothing: an open signal stays open (SPEC §10). Not "now 0
     * without force": events before 1970 have negative times, and that closed them. */
    if (why != TH_GROUP_FREED)
        close_signal(th, tg, 0, true);
    if (tg->sig) {
        th__sig_fini(tg->sig);
        free(tg->sig);
        tg->sig = NULL;
    }
    window_free(&tg->any);
    for (size_t i = 0; i < th->rule->nqueries; i++) {
        window_free(&tg->win[i]);
        struct distinct *d = card_of(th, tg, i);
        if (d)
            distinct_free(d);
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
    uint8_t ncard = 0;
    for (size_t i = 0; i < d->rule->nqueries; i++)
        if (d->rule->queries[i].agg == TH_AGG_CARDINALITY)
            th->card[i] = ++ncard;
    size_t entry = sizeof(struct tgroup) + d->rule->nqueries * sizeof(struct window) +
                   ncard * sizeof(struct distinct);
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

/* Records what query q saw in ev into its window w and its cardinality set d (or NULL). */
static void add_to_query(struct window *w, struct distinct *d, const struct th_rule_query *q,
                         struct th_event *ev)
{
    double x = 0;
    bool has = false;
    if (q->agg == TH_AGG_SUM || q->agg == TH_AGG_MAX)
        has = field_number(q, ev, &x);
    window_add(w, ev->time_ms, 1, x, has);
    struct th_value v;
    if (d && q->ndistinct && th__attr_first(&q->distinct[0], ev, &v)) {
        uint64_t h = th__hash64(v.s, v.len, 7);
        distinct_add(d, ev->time_ms, h ? h : 1);
    }
}

static double aggregate(const struct th_rule_query *q, const struct window *w,
                        const struct distinct *d)
{
    switch (q->agg) {
    case TH_AGG_COUNT:
        return w->count;
    case TH_AGG_CARDINALITY:
        return d ? (double)d->map.n : 0;
    case TH_AGG_SUM:
        return w->sum;
    case TH_AGG_MAX:
        return window_max(w);
    default:
        return 0;
    }
}

/* Drops every window cell and cardinality entry older than cutoff. */
static void prune_group(const struct threshold *th, struct tgroup *tg, int64_t cutoff)
{
    window_prune(&tg->any, cutoff);
    for (size_t i = 0; i < th->rule->nqueries; i++) {
        window_prune(&tg->win[i], cutoff);
        struct distinct *d = card_of(th, tg, i);
        if (d)
            distinct_prune(d, cutoff);
    }
}

/* Opens or updates the group's signal for case c at ev, with the aggregates as details. */
static void match_case(struct th_detector *d, struct tgroup *tg, size_t c, struct th_event *ev,
                       const double *agg)
{
    struct threshold *th = d->impl;
    const struct th_rule *r = d->rule;
    if (!tg->sig && !(tg->sig = calloc(1, sizeof *tg->sig)))
        return;
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
    int64_t first = tg->any.len ? cells(&tg->any)[tg->any.head].t : ev->time_ms;
    th__sig_match(tg->sig, th->sigenv, r, tg->g.key, tg->g.key_len, (int)c, ev, first,
                  (uint64_t)tg->any.count, sb->oom ? NULL : sb->p);
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
    if (ev->time_ms > tg->newest || created)
        tg->newest = ev->time_ms;
    close_signal(th, tg, ev->time_ms, false);

    /* Window 0 evaluates each event alone: start from empty windows. */
    if (th->window == 0)
        prune_group(th, tg, INT64_MAX);
    int64_t cutoff = tg->newest - th->window;
    if (th->window == 0 || ev->time_ms > cutoff) {
        window_add(&tg->any, ev->time_ms, 1, 0, false);
        for (size_t i = 0; i < r->nqueries; i++)
            if (matched & (UINT32_C(1) << i))
                add_to_query(&tg->win[i], card_of(th, tg, i), &r->queries[i], ev);
    }
    if (th->window > 0)
        prune_group(th, tg, cutoff);

    double agg[TH_MAX_QUERIES];
    for (size_t i = 0; i < r->nqueries; i++)
        agg[i] = aggregate(&r->queries[i], &tg->win[i], card_of(th, tg, i));
    for (size_t c = 0; c < r->ncases; c++) {
        if (!r->cases[c].cond || th__cond_eval(r->cases[c].cond, agg)) {
            match_case(d, tg, c, ev, agg);
            break;
        }
    }

    /* The group may go once its window is empty and its signal closed. */
    int64_t expire = tg->newest + th->window;
    if (tg->sig && tg->sig->open) {
        int64_t close_at = th__sig_close_at(tg->sig, r);
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
    const struct cell *e = cells(w) + w->head;
    for (uint32_t i = 0; i < w->len; i++) {
        th__sw_i64(sw, e[i].t);
        th__sw_f64(sw, e[i].count);
        th__sw_f64(sw, e[i].sum);
        th__sw_f64(sw, e[i].max);
    }
}

static bool window_load(struct window *w, struct th_state_reader *r)
{
    uint64_t n = th__sr_count(r, UINT32_MAX / 2, 32);
    w->count = th__sr_f64(r);
    w->sum = th__sr_f64(r);
    if (r->bad)
        return false;
    if (n > 1) {
        if (!(w->c.many = malloc((size_t)n * sizeof *w->c.many)))
            return false;
        w->cap = (uint32_t)n;
    }
    struct cell *e = cells(w);
    for (uint64_t i = 0; i < n; i++) {
        struct cell *c = &e[i];
        c->t = th__sr_i64(r);
        c->count = th__sr_f64(r);
        c->sum = th__sr_f64(r);
        c->max = th__sr_f64(r);
        if (r->bad || (i && c->t <= e[i - 1].t)) /* cells are in strict time order */
            return false;
        w->len++;
    }
    return true;
}

/* A query without a cardinality set (d NULL) is saved as an empty one: both count 0. The
 * map goes in slot order, laid out from the entries while it is implied by them. */
static void distinct_save(const struct distinct *d, struct th_state_writer *sw)
{
    if (!d) {
        th__sw_u64(sw, 0);
        th__sw_u64(sw, 0);
        return;
    }
    const struct dentry *e = entries(d) + d->head;
    th__sw_u64(sw, d->len);
    for (uint32_t i = 0; i < d->len; i++) {
        th__sw_i64(sw, e[i].t);
        th__sw_u64(sw, e[i].hash);
    }
    th__sw_u64(sw, d->map.n);
    if (d->built) {
        for (uint32_t s = 0; s < d->map.cap; s++) {
            if (d->map.slot[s].key) {
                th__sw_u64(sw, d->map.slot[s].key);
                th__sw_i64(sw, d->map.slot[s].last);
            }
        }
        return;
    }
    uint8_t pos[SMALL_CAP];
    implied_layout(d, pos);
    for (uint32_t s = 0; s < d->map.cap; s++) {
        if (pos[s]) {
            th__sw_u64(sw, e[pos[s] - 1].hash);
            th__sw_i64(sw, e[pos[s] - 1].t);
        }
    }
}

/* Loads into an empty set: the map's pairs are put one by one in their saved order (the
 * layout they then take is part of what later saves write), then dropped again when the
 * entries imply them. */
static bool distinct_load(struct distinct *d, struct th_state_reader *r)
{
    uint64_t n = th__sr_count(r, UINT32_MAX / 2, 16);
    if (r->bad)
        return false;
    if (n > 1) {
        if (!(d->e.many = malloc((size_t)n * sizeof *d->e.many)))
            return false;
        d->cap = (uint32_t)n;
    }
    struct dentry *e = entries(d);
    for (uint64_t i = 0; i < n; i++) {
        e[i].t = th__sr_i64(r);
        e[i].hash = th__sr_u64(r);
        if (r->bad)
            return false;
        d->len++;
    }
    d->built = true;
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
    if (r->bad)
        return false;
    distinct_shrink(d);
    return true;
}

/* Layout of a group: newest, the any-query window, the signal, then per query its window
 * and its cardinality set. */
static void save_group(void *ctx, const struct th_group *g, struct th_state_writer *w)
{
    static const struct th_sigstate no_signal;
    const struct threshold *th = ctx;
    const struct tgroup *tg = (const struct tgroup *)g;
    th__sw_i64(w, tg->newest);
    window_save(&tg->any, w);
    th__sig_save(tg->sig ? tg->sig : &no_signal, w);
    for (size_t i = 0; i < th->rule->nqueries; i++) {
        window_save(&tg->win[i], w);
        distinct_save(card_of(th, tg, i), w);
    }
}

/* Reads a group's signal: kept (allocated) unless it is the empty one, which th__sig_load
 * leaves all zero bytes. */
static bool load_signal(struct tgroup *tg, struct th_state_reader *r)
{
    static const struct th_sigstate no_signal;
    struct th_sigstate st;
    if (!th__sig_load(&st, r))
        return false;
    if (memcmp(&st, &no_signal, sizeof st) == 0)
        return true;
    if (!(tg->sig = malloc(sizeof *tg->sig))) {
        th__sig_fini(&st);
        return false;
    }
    *tg->sig = st;
    return true;
}

static bool load_group(void *ctx, struct th_group *g, struct th_state_reader *r)
{
    const struct threshold *th = ctx;
    struct tgroup *tg = (struct tgroup *)g;
    tg->newest = th__sr_i64(r);
    if (r->bad || !window_load(&tg->any, r) || !load_signal(tg, r))
        return false;
    if (tg->sig && tg->sig->open && (size_t)tg->sig->case_idx >= th->rule->ncases)
        return false;
    for (size_t i = 0; i < th->rule->nqueries; i++) {
        if (!window_load(&tg->win[i], r))
            return false;
        /* Only a cardinality query has a set; any other must have saved an empty one. */
        struct distinct *d = card_of(th, tg, i), none = {0};
        bool ok = distinct_load(d ? d : &none, r) && !none.len && !none.map.n;
        distinct_free(&none);
        if (!ok)
            return false;
    }
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
