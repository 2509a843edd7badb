/*
 * detect_new_value.c - the new value method (SPEC §7).
 *
 * Per rule and group-by tuple (no group_by: one group), the detector learns the values of
 * the query's `fields`: one attribute, or a tuple of up to five that must all be present
 * (an event missing one is ignored by the rule). A field with several values (an array, or
 * a path crossing arrays of objects) gives each distinct value its own tuple: the event
 * stands for every combination, in document order, at most NV_MAX_PER_FIELD values per
 * field and NV_MAX_TUPLES tuples per event (the rest are dropped and counted). Only scalar
 * values count; objects and empty strings are not values. Values compare by their text, so
 * the number 7 and the string "7" are the same value.
 *
 * Learning, per group:
 *   - learning_method duration: values seen before first + learning_duration (first = the
 *     group's earliest event) are learned silently; the group's first event always is (so
 *     learning_duration 0 means "alert on every new value after the first", as Datadog
 *     documents it).
 *   - learning_method threshold: no learning period; the group's first learning_threshold
 *     events are learned silently (Datadog: "a number of occurrences after which signals
 *     will be generated"), so 0 alerts on the very first value.
 * After learning, a tuple the group does not know opens a signal (case 0's severity) and is
 * learned. A learned tuple not seen for more than forget_after (event time) is forgotten and
 * is new again.
 *
 * Late events: an event older than the watermark is judged against the state there is; one
 * older than the watermark by more than forget_after is ignored (counted): anything it
 * taught would be forgotten at once, and whether its value was new then is lost.
 *
 * The counters of dropped values, evicted and forgotten tuples and ignored events live in
 * the detector (and its saved state); th_stats has no fields for them yet.
 *
 * Signals: one per (group, new tuple). The signal key handed to th__sig_match is the group
 * key plus the tuple, so the id (rule, key, first_seen) differs between two new values of one
 * group in the same second; an emit wrapper gives the output the plain group key. Later
 * events carrying the same tuple update that signal while it is open (keep_alive,
 * max_signal_duration as for every method); once closed, the tuple is simply known.
 * `details` is {"fields":["@a","@b"],"values":["x","y"]}.
 *
 * State, bounded: a group holds at most NV_MAX_VALUES learned tuples (a 64-bit hash and the
 * time last seen each, in an open-addressing table: two tuples of one group sharing a hash,
 * odds about n^2 / 2^65, would pass for one); a new one beyond the cap evicts the least
 * recently seen (ties: the smaller hash, so the choice does not depend on the table layout),
 * closing its signal if one is open, counted. Forgotten tuples are swept when the watermark
 * passes them, so a group's memory follows what it saw recently (an event later than
 * --max-lateness may therefore find a tuple forgotten that its own time would still know).
 * A group expires when its newest tuple is forgotten and its signals have closed; it then
 * starts learning again if it comes back. Groups obey the table's LRU cap like every
 * method's.
 */
#include "detect.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define NV_MAX_VALUES 1000  /* learned tuples per group */
#define NV_MAX_PER_FIELD 16 /* distinct values taken from one field of one event */
#define NV_MAX_TUPLES 64    /* tuples per event (the product over fields) */
#define TIME_LIMIT (INT64_C(1) << 52)

/* One learned tuple; h == 0 marks an empty slot (a hash of 0 is stored as 1). */
struct nv_val {
    uint64_t h;
    int64_t last; /* event time the tuple was last seen */
};

/* The open signal of one new tuple of a group. */
struct nv_sig {
    uint64_t h;
    struct th_sigstate st;
};

struct nvgroup {
    struct th_group g;
    int64_t first;    /* earliest event time of the group: learning starts there */
    int64_t newest;   /* newest event time of the group */
    uint64_t nevents; /* events seen (learning_method threshold) */
    int64_t sweep_at; /* no tuple can be forgotten before the watermark passes this */
    struct nv_val *vals;
    size_t cap, n;       /* cap: a power of two, or 0 */
    struct nv_sig *sigs; /* in the order they opened */
    size_t nsigs, sigcap;
};

/* The values one field has in the event being evaluated: slices valid for the event. */
struct fieldvals {
    size_t n;
    bool truncated;
    struct th_str v[NV_MAX_PER_FIELD];
    char num[NV_MAX_PER_FIELD][40]; /* text of numbers and booleans */
};

struct newvalue {
    struct th_group_table groups;
    const struct th_signal_env *sigenv; /* the pipeline's */
    struct th_signal_env env;           /* ours: emits through emit_wrapped */
    const struct th_rule *rule;
    const char *cur_key; /* the group key signals are emitted under */
    size_t cur_len;
    int64_t watermark;
    bool have_watermark;
    uint64_t values_evicted;   /* tuples evicted by the per-group cap */
    uint64_t values_forgotten; /* tuples swept after forget_after */
    uint64_t events_capped;    /* events with values or tuples beyond the caps */
    uint64_t events_too_old;   /* events older than the watermark - forget_after */
    struct th_strbuf sigkey;   /* scratch: group key + tuple */
    struct th_strbuf details;  /* scratch: the details object */
    struct fieldvals fv[TH_MAX_FIELDS];
};

/* a + b for an event time a and a duration b >= 0, saturating: rule durations may be
 * huge ("forget_after: 1000000w"), and an overflow must not wrap into the past. */
static int64_t add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* ---- the tuple table ------------------------------------------------------------------ */

static size_t slot_of(const struct nvgroup *g, uint64_t h)
{
    return (size_t)th__hash_mix(h) & (g->cap - 1);
}

static long val_find(const struct nvgroup *g, uint64_t h)
{
    if (!g->cap)
        return -1;
    size_t i = slot_of(g, h);
    while (g->vals[i].h) {
        if (g->vals[i].h == h)
            return (long)i;
        i = (i + 1) & (g->cap - 1);
    }
    return -1;
}

static void val_place(struct nv_val *vals, size_t cap, uint64_t h, int64_t last)
{
    size_t i = (size_t)th__hash_mix(h) & (cap - 1);
    while (vals[i].h)
        i = (i + 1) & (cap - 1);
    vals[i] = (struct nv_val){h, last};
}

/* Inserts a tuple known to be absent; false when memory ran out. */
static bool val_insert(struct nvgroup *g, uint64_t h, int64_t last)
{
    if ((g->n + 1) * 4 > g->cap * 3) {
        size_t cap = g->cap ? g->cap * 2 : 8;
        struct nv_val *vals = calloc(cap, sizeof *vals);
        if (!vals)
            return false;
        for (size_t i = 0; i < g->cap; i++)
            if (g->vals[i].h)
                val_place(vals, cap, g->vals[i].h, g->vals[i].last);
        free(g->vals);
        g->vals = vals;
        g->cap = cap;
    }
    val_place(g->vals, g->cap, h, last);
    g->n++;
    return true;
}

/* Removes slot i, shifting back the entries of its probe chain (no tombstones). */
static void val_delete(struct nvgroup *g, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & (g->cap - 1);
        if (!g->vals[j].h)
            break;
        size_t home = slot_of(g, g->vals[j].h);
        /* The entry at j may move to i when its home is not cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            g->vals[i] = g->vals[j];
            i = j;
        }
    }
    g->vals[i].h = 0;
    g->n--;
}

/* The hash of the current tuple: each value's length and bytes, field after field. */
static uint64_t tuple_hash(const struct newvalue *nv, size_t nf, const size_t *idx)
{
    uint64_t x = th__hash_init(0x6e76);
    for (size_t f = 0; f < nf; f++) {
        const struct th_str *s = &nv->fv[f].v[idx[f]];
        unsigned char len[4] = {(unsigned char)s->len, (unsigned char)(s->len >> 8),
                                (unsigned char)(s->len >> 16), (unsigned char)(s->len >> 24)};
        x = th__hash_add(x, len, sizeof len);
        x = th__hash_add(x, s->p, s->len);
    }
    x = th__hash_mix(x);
    return x ? x : 1;
}

/* ---- signals -------------------------------------------------------------------------- */

/* Every signal leaves under the plain group key (the id was made from key + tuple). */
static void emit_wrapped(void *ctx, const struct th_signal *s)
{
    const struct newvalue *nv = ctx;
    struct th_signal out = *s;
    out.group_key = nv->cur_key;
    out.group_key_len = nv->cur_len;
    nv->sigenv->emit(nv->sigenv->emit_ctx, &out);
}

static struct nv_sig *sig_find(struct nvgroup *g, uint64_t h)
{
    for (size_t i = 0; i < g->nsigs; i++)
        if (g->sigs[i].h == h)
            return &g->sigs[i];
    return NULL;
}

static struct nv_sig *sig_add(struct nvgroup *g, uint64_t h)
{
    if (g->nsigs == g->sigcap) {
        void *p = g->sigs;
        if (th__grow(&p, &g->sigcap, g->nsigs + 1, sizeof *g->sigs) < 0)
            return NULL;
        g->sigs = p;
    }
    struct nv_sig *s = &g->sigs[g->nsigs++];
    memset(s, 0, sizeof *s);
    s->h = h;
    return s;
}

/* Removes signal i (closed already), keeping the others in their order. */
static void sig_remove(struct nvgroup *g, size_t i)
{
    th__sig_fini(&g->sigs[i].st);
    memmove(&g->sigs[i], &g->sigs[i + 1], (g->nsigs - i - 1) * sizeof *g->sigs);
    g->nsigs--;
}

/* Closes the group's signals that are due at now (all of them with force). */
static void sigs_close(struct newvalue *nv, struct nvgroup *g, int64_t now, bool force)
{
    for (size_t i = 0; i < g->nsigs;) {
        struct th_sigstate *st = &g->sigs[i].st;
        th__sig_close(st, &nv->env, nv->rule, g->g.key, g->g.key_len, now, force);
        if (!st->open)
            sig_remove(g, i);
        else
            i++;
    }
}

/* Closes and removes the signal of tuple h, if one is open (its tuple is going). */
static void sig_close_tuple(struct newvalue *nv, struct nvgroup *g, uint64_t h)
{
    for (size_t i = 0; i < g->nsigs; i++) {
        if (g->sigs[i].h != h)
            continue;
        th__sig_close(&g->sigs[i].st, &nv->env, nv->rule, g->g.key, g->g.key_len, 0, true);
        sig_remove(g, i);
        return;
    }
}

/* ---- forgetting and the cap ----------------------------------------------------------- */

/* Drops the tuples last seen before watermark - forget_after and recomputes sweep_at. */
static void sweep(struct newvalue *nv, struct nvgroup *g, int64_t watermark)
{
    int64_t forget = nv->rule->new_value.forget_after_ms;
    for (;;) {
        for (size_t i = 0; i < g->cap;) {
            if (g->vals[i].h && add_sat(g->vals[i].last, forget) < watermark) {
                sig_close_tuple(nv, g, g->vals[i].h);
                val_delete(g, i); /* an entry may have moved into i: look again */
                nv->values_forgotten++;
            } else {
                i++;
            }
        }
        /* A deletion near the end can move a wrapped entry into an index already passed:
         * recompute the bound, and go round again in that rare case. */
        int64_t min = INT64_MAX;
        for (size_t i = 0; i < g->cap; i++)
            if (g->vals[i].h && g->vals[i].last < min)
                min = g->vals[i].last;
        g->sweep_at = add_sat(min, forget);
        if (g->sweep_at >= watermark)
            return;
    }
}

/* Makes room for one more tuple by evicting the least recently seen. */
static void evict_one(struct newvalue *nv, struct nvgroup *g)
{
    size_t victim = g->cap;
    for (size_t i = 0; i < g->cap; i++) {
        const struct nv_val *v = &g->vals[i];
        if (!v->h)
            continue;
        if (victim == g->cap || v->last < g->vals[victim].last ||
            (v->last == g->vals[victim].last && v->h < g->vals[victim].h))
            victim = i;
    }
    if (victim == g->cap)
        return;
    sig_close_tuple(nv, g, g->vals[victim].h);
    val_delete(g, victim);
    nv->values_evicted++;
}

/* ---- the detector --------------------------------------------------------------------- */

static void free_group_parts(struct nvgroup *g)
{
    for (size_t i = 0; i < g->nsigs; i++)
        th__sig_fini(&g->sigs[i].st);
    free(g->sigs);
    free(g->vals);
    g->sigs = NULL;
    g->vals = NULL;
    g->nsigs = g->sigcap = g->n = g->cap = 0;
}

static void drop_group(void *ctx, struct th_group *grp, enum th_group_drop why)
{
    struct newvalue *nv = ctx;
    struct nvgroup *g = (struct nvgroup *)grp;
    nv->cur_key = grp->key;
    nv->cur_len = grp->key_len;
    if (why != TH_GROUP_FREED)
        sigs_close(nv, g, 0, true);
    free_group_parts(g);
}

static int nv_init(struct th_detector *d, struct th_err *err)
{
    TH_UNUSED(err);
    struct newvalue *nv = calloc(1, sizeof *nv);
    if (!nv)
        return TH_ENOMEM;
    nv->sigenv = d->sigenv;
    nv->env = *d->sigenv;
    nv->env.emit = emit_wrapped;
    nv->env.emit_ctx = nv;
    nv->rule = d->rule;
    th__sb_init(&nv->sigkey);
    th__sb_init(&nv->details);
    if (th__groups_init(&nv->groups, sizeof(struct nvgroup), d->max_groups, drop_group, nv) < 0) {
        free(nv);
        return TH_ENOMEM;
    }
    d->impl = nv;
    return 0;
}

static void nv_fini(struct th_detector *d)
{
    struct newvalue *nv = d->impl;
    if (!nv)
        return;
    th__groups_fini(&nv->groups);
    th__sb_fini(&nv->sigkey);
    th__sb_fini(&nv->details);
    free(nv);
    d->impl = NULL;
}

/* Collects one field's distinct scalar values (visitor of th__attr_any). */
static bool collect(void *ctx, const struct th_value *v)
{
    struct fieldvals *fv = ctx;
    if (v->type == TH_V_OBJECT || v->len == 0)
        return false;
    const char *p = v->s;
    size_t len = v->len;
    for (size_t i = 0; i < fv->n; i++)
        if (fv->v[i].len == len && memcmp(fv->v[i].p, p, len) == 0)
            return false;
    if (fv->n == NV_MAX_PER_FIELD) {
        fv->truncated = true;
        return true;
    }
    if (v->type != TH_V_STRING) {
        /* Number and boolean text lives in the visitor's copy: keep our own. */
        if (len >= sizeof fv->num[0])
            len = sizeof fv->num[0] - 1;
        memcpy(fv->num[fv->n], p, len);
        fv->num[fv->n][len] = '\0';
        p = fv->num[fv->n];
    }
    fv->v[fv->n++] = (struct th_str){p, len};
    return false;
}

/* The signal key (group key, then each value after a separator) and the details object of
 * the current tuple, into nv's scratch buffers. Returns false when memory ran out. */
static bool describe(struct newvalue *nv, const struct nvgroup *g, const size_t *idx)
{
    const struct th_rule_query *q = &nv->rule->queries[0];
    struct th_strbuf *k = &nv->sigkey, *dt = &nv->details;
    th__sb_reset(k);
    th__sb_reset(dt);
    th__sb_add(k, g->g.key, g->g.key_len);
    th__sb_adds(dt, "{\"fields\":[");
    for (size_t f = 0; f < q->nfields; f++) {
        if (f)
            th__sb_addc(dt, ',');
        th__sb_addc(dt, '"');
        if (q->fields[f].ns == TH_NS_ATTR)
            th__sb_addc(dt, '@');
        th__sb_adds(dt, q->fields[f].name); /* names are [A-Za-z0-9_.-]: no escaping */
        th__sb_addc(dt, '"');
    }
    th__sb_adds(dt, "],\"values\":[");
    for (size_t f = 0; f < q->nfields; f++) {
        const struct th_str *s = &nv->fv[f].v[idx[f]];
        th__sb_addc(k, TH_GROUP_SEP);
        th__group_key_add(k, s->p, s->len);
        if (f)
            th__sb_addc(dt, ',');
        th__sb_add_json_str(dt, s->p, s->len);
    }
    th__sb_adds(dt, "]}");
    return !k->oom && !dt->oom;
}

/* One tuple of the event: learn it, update its open signal, or open one when it is new. */
static void on_tuple(struct newvalue *nv, struct nvgroup *g, struct th_event *ev, const size_t *idx,
                     bool learning)
{
    const struct th_rule *r = nv->rule;
    int64_t t = ev->time_ms;
    int64_t forget = r->new_value.forget_after_ms;
    uint64_t h = tuple_hash(nv, r->queries[0].nfields, idx);
    long i = val_find(g, h);
    bool known = i >= 0 && t - g->vals[i].last <= forget;
    if (i >= 0) {
        if (t > g->vals[i].last)
            g->vals[i].last = t;
    } else {
        if (g->n >= NV_MAX_VALUES)
            evict_one(nv, g);
        if (!val_insert(g, h, t))
            return; /* out of memory: the tuple stays unknown */
        if (add_sat(t, forget) < g->sweep_at)
            g->sweep_at = add_sat(t, forget);
    }
    struct nv_sig *s = sig_find(g, h);
    if (known) {
        if (s)
            th__sig_match(&s->st, &nv->env, r, g->g.key, g->g.key_len, 0, ev, t, 1, NULL);
        return;
    }
    if (learning || !describe(nv, g, idx))
        return;
    if (!s && !(s = sig_add(g, h)))
        return;
    th__sig_match(&s->st, &nv->env, r, nv->sigkey.p, nv->sigkey.len, 0, ev, t, 1, nv->details.p);
}

static void nv_on_event(struct th_detector *d, struct th_event *ev, uint32_t matched)
{
    struct newvalue *nv = d->impl;
    const struct th_rule *r = d->rule;
    const struct th_rule_query *q = &r->queries[0];
    if (!(matched & 1))
        return;
    size_t nf = q->nfields;
    bool capped = false;
    for (size_t f = 0; f < nf; f++) {
        nv->fv[f].n = 0;
        nv->fv[f].truncated = false;
        th__attr_any(&q->fields[f], ev, collect, &nv->fv[f]);
        if (!nv->fv[f].n)
            return; /* a tuple needs every field */
        capped |= nv->fv[f].truncated;
    }
    /* An event older than the watermark by more than forget_after cannot be judged: what it
     * would teach is already forgotten, and whether its value was new then is lost. */
    int64_t t = ev->time_ms;
    if (nv->have_watermark && add_sat(t, r->new_value.forget_after_ms) < nv->watermark) {
        nv->events_too_old++;
        return;
    }
    if (!th__group_key(d, q, ev))
        return;
    bool created;
    struct nvgroup *g =
        (struct nvgroup *)th__groups_get(&nv->groups, d->key.p, d->key.len, &created);
    if (!g)
        return;
    nv->cur_key = g->g.key;
    nv->cur_len = g->g.key_len;
    if (created) {
        g->first = g->newest = t;
        g->sweep_at = INT64_MAX;
    } else {
        if (t < g->first)
            g->first = t;
        if (t > g->newest)
            g->newest = t;
    }
    sigs_close(nv, g, t, false);
    if (nv->have_watermark && nv->watermark > g->sweep_at)
        sweep(nv, g, nv->watermark);

    bool learning;
    if (r->new_value.learning_by_threshold)
        learning = g->nevents < (uint64_t)r->new_value.learning_threshold;
    else
        learning = g->nevents == 0 || t < add_sat(g->first, r->new_value.learning_duration_ms);
    if (g->nevents < UINT64_MAX)
        g->nevents++;

    /* Every combination of the fields' values, the last field varying fastest. */
    size_t idx[TH_MAX_FIELDS] = {0};
    for (size_t n = 0;; n++) {
        if (n == NV_MAX_TUPLES) {
            capped = true;
            break;
        }
        on_tuple(nv, g, ev, idx, learning);
        size_t f = nf;
        while (f > 0 && ++idx[f - 1] == nv->fv[f - 1].n)
            idx[--f] = 0;
        if (f == 0)
            break;
    }
    nv->events_capped += capped;

    /* The group may go once its newest tuple is forgotten and its signals have closed. */
    int64_t expire = add_sat(g->newest, r->new_value.forget_after_ms);
    for (size_t i = 0; i < g->nsigs; i++) {
        int64_t close_at = th__sig_close_at(&g->sigs[i].st, r);
        if (close_at > expire)
            expire = close_at;
    }
    g->g.expire_ms = expire;
}

static void nv_advance(struct th_detector *d, int64_t watermark)
{
    struct newvalue *nv = d->impl;
    nv->watermark = watermark;
    nv->have_watermark = true;
    th__groups_expire(&nv->groups, watermark);
}

static const struct th_group_table *nv_groups(const struct th_detector *d)
{
    const struct newvalue *nv = d->impl;
    return &nv->groups;
}

/* ---- state ---------------------------------------------------------------------------- */

static void save_entry(void *ctx, const struct th_group *grp, struct th_state_writer *w)
{
    TH_UNUSED(ctx);
    const struct nvgroup *g = (const struct nvgroup *)grp;
    th__sw_i64(w, g->first);
    th__sw_i64(w, g->newest);
    th__sw_u64(w, g->nevents);
    th__sw_u64(w, g->n);
    for (size_t i = 0; i < g->cap; i++) {
        if (!g->vals[i].h)
            continue;
        th__sw_u64(w, g->vals[i].h);
        th__sw_i64(w, g->vals[i].last);
    }
    th__sw_u64(w, g->nsigs);
    for (size_t i = 0; i < g->nsigs; i++) {
        th__sw_u64(w, g->sigs[i].h);
        th__sig_save(&g->sigs[i].st, w);
    }
}

static bool load_entry(void *ctx, struct th_group *grp, struct th_state_reader *r)
{
    const struct newvalue *nv = ctx;
    struct nvgroup *g = (struct nvgroup *)grp;
    int64_t forget = nv->rule->new_value.forget_after_ms;
    g->first = th__sr_i64(r);
    g->newest = th__sr_i64(r);
    g->nevents = th__sr_u64(r);
    g->sweep_at = INT64_MAX;
    uint64_t n = th__sr_count(r, NV_MAX_VALUES, 16);
    for (uint64_t i = 0; i < n && !r->bad; i++) {
        uint64_t h = th__sr_u64(r);
        int64_t last = th__sr_i64(r);
        /* Event times are within +-2^52 ms (years 0 to 9999 are far less): anything else
         * could overflow the arithmetic on them. */
        if (r->bad || h == 0 || last < -TIME_LIMIT || last > TIME_LIMIT || val_find(g, h) >= 0 ||
            !val_insert(g, h, last))
            goto fail;
        if (add_sat(last, forget) < g->sweep_at)
            g->sweep_at = add_sat(last, forget);
    }
    uint64_t ns = th__sr_count(r, n, 8);
    for (uint64_t i = 0; i < ns && !r->bad; i++) {
        uint64_t h = th__sr_u64(r);
        if (r->bad || val_find(g, h) < 0 || sig_find(g, h))
            goto fail;
        struct nv_sig *s = sig_add(g, h);
        if (!s)
            goto fail;
        if (!th__sig_load(&s->st, r) || !s->st.open || (size_t)s->st.case_idx >= nv->rule->ncases) {
            g->nsigs--; /* th__sig_load left it empty; an open one is freed below */
            th__sig_fini(&s->st);
            goto fail;
        }
    }
    if (r->bad)
        goto fail;
    return true;
fail:
    free_group_parts(g);
    return false;
}

static void nv_save(const struct th_detector *d, struct th_state_writer *w)
{
    const struct newvalue *nv = d->impl;
    th__sw_bool(w, nv->have_watermark);
    th__sw_i64(w, nv->watermark);
    th__sw_u64(w, nv->values_evicted);
    th__sw_u64(w, nv->values_forgotten);
    th__sw_u64(w, nv->events_capped);
    th__sw_u64(w, nv->events_too_old);
    th__groups_save(&nv->groups, w, save_entry, (void *)nv);
}

static int nv_load(struct th_detector *d, struct th_state_reader *r, struct th_err *err)
{
    struct newvalue *nv = d->impl;
    bool have = th__sr_bool(r);
    int64_t wm = th__sr_i64(r);
    uint64_t ev = th__sr_u64(r), fo = th__sr_u64(r), dr = th__sr_u64(r), old = th__sr_u64(r);
    if (r->bad || !th__groups_load(&nv->groups, r, load_entry, nv))
        return th__err(err, TH_ESTATE, NULL, "rule %s: malformed new_value state", d->rule->id);
    nv->have_watermark = have;
    nv->watermark = wm;
    nv->values_evicted = ev;
    nv->values_forgotten = fo;
    nv->events_capped = dr;
    nv->events_too_old = old;
    return 0;
}

const struct th_detector_ops th__new_value_ops = {
    .method = TH_METHOD_NEW_VALUE,
    .init = nv_init,
    .fini = nv_fini,
    .on_event = nv_on_event,
    .advance = nv_advance,
    .groups = nv_groups,
    .save = nv_save,
    .load = nv_load,
};
