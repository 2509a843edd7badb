/*
 * detect_anomaly.c - the anomaly_detection method (SPEC §7).
 *
 * Per rule and group-by tuple, the value of the rule's query is taken per bucket of
 * `bucket_duration` (buckets aligned to the Unix epoch in event time, UTC): the number of
 * matching events (count), or the number of distinct values of `distinct` (cardinality).
 * Each matching event adds to its bucket and then compares that bucket's running value
 * with the bucket's upper bound, computed from the group's history; a value above the
 * bound is a match: it opens the group's signal (or updates the open one), so a spike
 * fires on the event that takes it over the bound. Only spikes alert, never drops. There
 * are no signals while the group's history (event time since its first event) is shorter
 * than learning_duration.
 *
 * THE STATISTIC. The history of bucket c is the group's buckets before c, from the bucket
 * of its first event (never earlier) and at most 14 days back, empty buckets included as
 * zeros (otherwise a sparse group would look busy). Seasonality: once the group has 7 days
 * of history (c starts >= 7 days after the group's first bucket) and buckets are shorter
 * than a day, the history is only the buckets starting in the same UTC hour of day as c on
 * each of the previous 14 days (for buckets of an hour or more: the bucket at the same time
 * of day), so a busy afternoon does not raise the bar of a quiet night and a daily job is
 * part of its own hour's baseline. With the K history values x:
 *
 *     q      = the 99th percentile of x, nearest rank: the ceil(0.99 K)-th smallest
 *              (the maximum while K < 100; 0 when K = 0)
 *     sigma  = 1.4826 * median(|x - median(x)|)     (MAD, scaled to a standard deviation)
 *     noise  = max(1, sqrt(q), q / 10)
 *     bound  = floor(q + (detection_tolerance + 1) * max(sigma, noise))
 *
 * and bucket c is anomalous while its value > bound. Why: the 99th percentile is the
 * "normal high" of the group that ignores its top 1% of buckets, so one past incident
 * does not raise the bar for two weeks; MAD measures the spread robustly (a few spikes and
 * a majority of empty buckets do not inflate it); noise is a floor for groups whose MAD is
 * 0 (sparse or perfectly steady): counts are roughly Poisson, so sqrt(q) for small values
 * and 10% of q for large ones, where traffic is more variable than Poisson; and the floor
 * 1 means a group with an all-zero history needs more than tolerance + 1 events (3 at
 * tolerance 1, 7 at 5) in one bucket: one event after silence never alerts. The tolerance
 * multiplies a spread that is at least 1, so a higher tolerance always gives a higher
 * bound: what fires at 5 fires at 1, never the reverse. Everything is integer arithmetic
 * except sqrt and the MAD's doubles, all exactly rounded: the bound is deterministic.
 *
 * State per group: the time of its first event (learning), the non-zero buckets of the
 * last 14 days as (uint32 bucket offset, uint32 value) pairs in bucket order (sparse: a
 * principal active in one bucket a day holds 14 pairs; a busy one at most 14 days of
 * buckets), the newest bucket's first event time and event count, for cardinality the
 * newest bucket's set of value hashes only, the bound of the newest bucket (computed at
 * its first event past learning, O(k log k) in the non-zero history buckets, then cached
 * until a late event changes the history), and the signal. A group expires 14 days after
 * its newest bucket (its history is then all zeros), or later while its signal is open; a
 * principal that comes back after that learns again. Open signals close when the
 * watermark passes their keep_alive or max_signal_duration (a list of the groups with an
 * open signal is kept for that; when several close at once, in order of closing time, then
 * group key).
 *
 * Out-of-order events: an event of an older bucket still within the history counts for
 * that bucket and is evaluated against that bucket's own bound (computed on demand), so a
 * spike whose events arrive late still fires. For cardinality, only the newest bucket has
 * its set of values: a late event of an older bucket cannot tell whether its value is new
 * and adds nothing to it. Events older than the history are ignored. Events without the
 * `distinct` attribute count as matching events of their bucket but add no value; events
 * without a group-by value are ignored.
 *
 * details: {"bucket_start": RFC 3339, "value": the bucket's value, "bound": the bound,
 * "baseline_buckets": K}. first_seen of a new signal is the first event of the bucket and
 * events_matched the bucket's matching events so far.
 *
 * --state saves per group the above except the cached bound (recomputed, to the same
 * value), and the signal (anomaly_save/load).
 */
#include "detect.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "timeutil.h"

#define HISTORY_MS (14 * TH_MS_PER_DAY)
#define SEASONAL_AFTER_MS (7 * TH_MS_PER_DAY)
#define HISTORY_DAYS 14
#define PERCENTILE 99

/* A bucket with a non-zero value; its number is the group's base + off. */
struct bkt {
    uint32_t off;
    uint32_t val;
};

/* A set of 64-bit value hashes, open addressing; 0 marks an empty slot. */
struct vset {
    uint64_t *k;
    uint32_t cap, n;
};

struct agroup {
    struct th_group g;
    int64_t first_ms;     /* the group's earliest event: learning, and where history starts */
    int64_t base;         /* bucket number of offset 0, <= cur - maxh */
    int64_t cur;          /* the newest bucket */
    int64_t cur_first_ms; /* the newest bucket's earliest event */
    uint32_t cur_events;  /* the newest bucket's matching events */
    uint32_t nh, caph;
    struct bkt *h;        /* non-zero buckets within the history (and cur), ascending */
    struct vset set;      /* cardinality: the newest bucket's values */
    bool bound_ok;        /* bound and nbase hold for cur */
    uint32_t bound;
    uint32_t nbase;
    uint32_t open_pos;    /* 1 + index in anomaly.open while the signal is open, else 0 */
    struct th_sigstate sig;
};

struct anomaly {
    struct th_group_table groups;
    const struct th_signal_env *sigenv;
    const struct th_rule *rule;
    int64_t bucket_ms;
    int64_t maxh;           /* history length in buckets */
    struct agroup **open;   /* groups with an open signal */
    size_t nopen, capopen;
    uint32_t *vals;         /* scratch: non-zero history values */
    double *devs;           /* scratch: their deviations from the median */
    size_t capvals;
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b < 0) ? q - 1 : q;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return -floor_div(-a, b);
}

/* ---- the newest bucket's values ------------------------------------------------------ */

static void vset_free(struct vset *s)
{
    free(s->k);
    memset(s, 0, sizeof *s);
}

/* Empties the set; a large table goes back to the allocator so that a burst does not pin
 * memory in a group for two weeks. */
static void vset_clear(struct vset *s)
{
    if (s->cap > 64)
        vset_free(s);
    else if (s->cap)
        memset(s->k, 0, s->cap * sizeof *s->k);
    s->n = 0;
}

/* Adds h (non-zero); returns true when it was not in the set. On no memory the value is
 * not counted. */
static bool vset_add(struct vset *s, uint64_t h)
{
    if ((uint64_t)(s->n + 1) * 4 > (uint64_t)s->cap * 3) {
        if (s->cap >= (UINT32_C(1) << 31))
            return false;
        uint32_t cap = s->cap ? s->cap * 2 : 16;
        uint64_t *k = calloc(cap, sizeof *k);
        if (!k)
            return false;
        for (uint32_t i = 0; i < s->cap; i++) {
            if (!s->k[i])
                continue;
            uint32_t j = (uint32_t)th__hash_mix(s->k[i]) & (cap - 1);
            while (k[j])
                j = (j + 1) & (cap - 1);
            k[j] = s->k[i];
        }
        free(s->k);
        s->k = k;
        s->cap = cap;
    }
    uint32_t i = (uint32_t)th__hash_mix(h) & (s->cap - 1);
    while (s->k[i]) {
        if (s->k[i] == h)
            return false;
        i = (i + 1) & (s->cap - 1);
    }
    s->k[i] = h;
    s->n++;
    return true;
}

/* ---- the history --------------------------------------------------------------------- */

/* Index of the first entry whose bucket is >= b. */
static uint32_t hist_lower(const struct agroup *ag, int64_t b)
{
    uint32_t lo = 0, hi = ag->nh;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ag->base + ag->h[mid].off < b)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint32_t hist_value(const struct agroup *ag, int64_t b)
{
    uint32_t i = hist_lower(ag, b);
    return i < ag->nh && ag->base + ag->h[i].off == b ? ag->h[i].val : 0;
}

/* Adds 1 to bucket b (base <= b <= cur); on no memory the event is not counted. */
static void hist_add(struct agroup *ag, int64_t b)
{
    uint32_t off = (uint32_t)(b - ag->base);
    uint32_t j = ag->nh;
    while (j > 0 && ag->h[j - 1].off > off)
        j--;
    if (j > 0 && ag->h[j - 1].off == off) {
        if (ag->h[j - 1].val < UINT32_MAX)
            ag->h[j - 1].val++;
        return;
    }
    if (ag->nh == ag->caph) {
        void *p = ag->h;
        size_t cap = ag->caph;
        if (cap >= UINT32_MAX / 2 || th__grow(&p, &cap, (size_t)ag->nh + 1, sizeof *ag->h) < 0)
            return;
        ag->h = p;
        ag->caph = (uint32_t)cap;
    }
    memmove(ag->h + j + 1, ag->h + j, (ag->nh - j) * sizeof *ag->h);
    ag->h[j] = (struct bkt){off, 1};
    ag->nh++;
}

/* Makes b the newest bucket: drops what left the history, rebases offsets long before
 * they could overflow, and starts the bucket's set and counters afresh. */
static void open_bucket(struct anomaly *a, struct agroup *ag, int64_t b, int64_t t)
{
    int64_t keep_from = b - a->maxh;
    uint32_t i = hist_lower(ag, keep_from);
    if (i) {
        memmove(ag->h, ag->h + i, (ag->nh - i) * sizeof *ag->h);
        ag->nh -= i;
    }
    if (b - ag->base > (INT64_C(1) << 30)) {
        uint32_t shift = (uint32_t)(keep_from - ag->base);
        for (uint32_t j = 0; j < ag->nh; j++)
            ag->h[j].off -= shift;
        ag->base = keep_from;
    }
    if (ag->caph >= 64 && ag->nh < ag->caph / 4) {
        struct bkt *p = realloc(ag->h, (ag->caph / 2) * sizeof *p);
        if (p) {
            ag->h = p;
            ag->caph /= 2;
        }
    }
    ag->cur = b;
    ag->cur_first_ms = t;
    ag->cur_events = 0;
    ag->bound_ok = false;
    vset_clear(&ag->set);
}

/* ---- the bound ----------------------------------------------------------------------- */

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Makes room in the scratch arrays for n values; false on no memory. */
static bool reserve(struct anomaly *a, size_t n)
{
    if (n <= a->capvals)
        return true;
    size_t cap = a->capvals, cap2 = a->capvals;
    void *p = a->vals, *q = a->devs;
    if (th__grow(&p, &cap, n, sizeof *a->vals) < 0)
        return false;
    a->vals = p;
    if (th__grow(&q, &cap2, n, sizeof *a->devs) < 0)
        return false;
    a->devs = q;
    a->capvals = cap < cap2 ? cap : cap2;
    return true;
}

/* Appends the non-zero values of buckets [from, to) to a->vals (reserved for every
 * non-zero bucket of the group). */
static void collect(struct anomaly *a, const struct agroup *ag, int64_t from, int64_t to,
                    size_t *n)
{
    for (uint32_t i = hist_lower(ag, from); i < ag->nh && ag->base + ag->h[i].off < to; i++)
        a->vals[(*n)++] = ag->h[i].val;
}

/* The r-th smallest (0-based) of z zeros and the n sorted non-zero values v. */
static double rank_u32(const uint32_t *v, uint64_t z, uint64_t r)
{
    return r < z ? 0 : (double)v[r - z];
}

/* The r-th smallest of the sorted d[0..n) merged with z copies of m (p of d are < m). */
static double rank_dev(const double *d, size_t p, uint64_t z, double m, uint64_t r)
{
    if (r < p)
        return d[r];
    if (r < p + z)
        return m;
    return d[r - z];
}

/* The bound of bucket c, and (OUT) the number of history buckets it was computed from. */
static uint32_t compute_bound(struct anomaly *a, const struct agroup *ag, int64_t c,
                              uint32_t *nbase)
{
    const int64_t B = a->bucket_ms;
    int64_t first_b = floor_div(ag->first_ms, B);
    int64_t lo = ag->cur - a->maxh; /* older buckets are gone */
    if (lo < first_b)
        lo = first_b;
    uint64_t k = 0;
    size_t n = 0;
    if (!reserve(a, ag->nh)) { /* no memory for the scratch: be quiet rather than guess */
        *nbase = 0;
        return UINT32_MAX;
    }
    if (c > lo) {
        bool seasonal = B < TH_MS_PER_DAY && (c - first_b) * B >= SEASONAL_AFTER_MS;
        if (!seasonal) {
            k = (uint64_t)(c - lo);
            collect(a, ag, lo, c, &n);
        } else {
            int64_t w = B < TH_MS_PER_HOUR ? TH_MS_PER_HOUR : B;
            int64_t s = B < TH_MS_PER_HOUR ? floor_div(c * B, TH_MS_PER_HOUR) * TH_MS_PER_HOUR
                                           : c * B;
            for (int day = HISTORY_DAYS; day >= 1; day--) {
                int64_t from = ceil_div(s - day * TH_MS_PER_DAY, B);
                int64_t to = ceil_div(s - day * TH_MS_PER_DAY + w, B);
                if (from < lo)
                    from = lo;
                if (to > c)
                    to = c;
                if (to <= from)
                    continue;
                k += (uint64_t)(to - from);
                collect(a, ag, from, to, &n);
            }
        }
    }
    double q = 0, sigma = 0;
    if (k > 0) {
        uint64_t z = k - n;
        if (n > 1) /* with nothing collected the scratch may still be NULL */
            qsort(a->vals, n, sizeof *a->vals, cmp_u32);
        q = rank_u32(a->vals, z, (PERCENTILE * k + 99) / 100 - 1);
        double med = k % 2 ? rank_u32(a->vals, z, k / 2)
                           : (rank_u32(a->vals, z, k / 2 - 1) + rank_u32(a->vals, z, k / 2)) / 2;
        size_t p = 0;
        for (size_t i = 0; i < n; i++)
            a->devs[i] = fabs((double)a->vals[i] - med);
        if (n > 1)
            qsort(a->devs, n, sizeof *a->devs, cmp_double);
        while (p < n && a->devs[p] < med)
            p++;
        double mad = k % 2 ? rank_dev(a->devs, p, z, med, k / 2)
                           : (rank_dev(a->devs, p, z, med, k / 2 - 1) +
                              rank_dev(a->devs, p, z, med, k / 2)) / 2;
        sigma = 1.4826 * mad;
    }
    double noise = 1;
    if (sqrt(q) > noise)
        noise = sqrt(q);
    if (q / 10 > noise)
        noise = q / 10;
    double spread = sigma > noise ? sigma : noise;
    double bound = floor(q + (a->rule->anomaly.detection_tolerance + 1) * spread);
    *nbase = (uint32_t)(k > UINT32_MAX ? UINT32_MAX : k);
    return bound >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)bound;
}

/* ---- open signals -------------------------------------------------------------------- */

/* Keeps a->open in step with the group's signal after it may have opened or closed. */
static void track_open(struct anomaly *a, struct agroup *ag)
{
    if (ag->sig.open && !ag->open_pos) {
        if (a->nopen == a->capopen) {
            void *p = a->open;
            if (th__grow(&p, &a->capopen, a->nopen + 1, sizeof *a->open) < 0)
                return; /* closed by its next event or by expiry instead */
            a->open = p;
        }
        a->open[a->nopen++] = ag;
        ag->open_pos = (uint32_t)a->nopen;
    } else if (!ag->sig.open && ag->open_pos) {
        size_t i = ag->open_pos - 1;
        a->open[i] = a->open[--a->nopen];
        if (i < a->nopen)
            a->open[i]->open_pos = (uint32_t)i + 1;
        ag->open_pos = 0;
    }
}

/* ---- the detector -------------------------------------------------------------------- */

static void group_free_parts(struct agroup *ag)
{
    th__sig_fini(&ag->sig);
    free(ag->h);
    ag->h = NULL;
    ag->nh = ag->caph = 0;
    vset_free(&ag->set);
}

static void drop_group(void *ctx, struct th_group *g, enum th_group_drop why)
{
    struct anomaly *a = ctx;
    struct agroup *ag = (struct agroup *)g;
    if (why != TH_GROUP_FREED)
        th__sig_close(&ag->sig, a->sigenv, a->rule, g->key, g->key_len, 0, true);
    ag->sig.open = false;
    track_open(a, ag);
    group_free_parts(ag);
}

static int anomaly_init(struct th_detector *d, struct th_err *err)
{
    TH_UNUSED(err);
    struct anomaly *a = calloc(1, sizeof *a);
    if (!a)
        return TH_ENOMEM;
    a->sigenv = d->sigenv;
    a->rule = d->rule;
    a->bucket_ms = d->rule->anomaly.bucket_duration_ms;
    if (a->bucket_ms <= 0)
        a->bucket_ms = 5 * TH_MS_PER_MIN;
    a->maxh = HISTORY_MS / a->bucket_ms;
    if (a->maxh < 1)
        a->maxh = 1;
    if (th__groups_init(&a->groups, sizeof(struct agroup), d->max_groups, drop_group, a) < 0) {
        free(a);
        return TH_ENOMEM;
    }
    d->impl = a;
    return 0;
}

static void anomaly_fini(struct th_detector *d)
{
    struct anomaly *a = d->impl;
    if (!a)
        return;
    th__groups_fini(&a->groups);
    free(a->open);
    free(a->vals);
    free(a->devs);
    free(a);
    d->impl = NULL;
}

/* Adds what ev brings to bucket b; returns false when it adds nothing to the value. */
static bool add_event(struct agroup *ag, const struct th_rule_query *q, struct th_event *ev,
                      int64_t b)
{
    if (q->agg != TH_AGG_CARDINALITY) {
        hist_add(ag, b);
        return true;
    }
    struct th_value v;
    if (b != ag->cur || !q->ndistinct || !th__attr_first(&q->distinct[0], ev, &v))
        return false;
    uint64_t h = th__hash64(v.s, v.len, 7);
    if (!vset_add(&ag->set, h ? h : 1))
        return false;
    hist_add(ag, b);
    return true;
}

static void anomaly_on_event(struct th_detector *d, struct th_event *ev, uint32_t matched)
{
    TH_UNUSED(matched); /* one query: it matched */
    struct anomaly *a = d->impl;
    const struct th_rule *r = d->rule;
    const struct th_rule_query *q = &r->queries[0];
    if (!th__group_key(d, q, ev))
        return;
    bool created;
    struct agroup *ag =
        (struct agroup *)th__groups_get(&a->groups, d->key.p, d->key.len, &created);
    if (!ag)
        return;
    const int64_t t = ev->time_ms;
    const int64_t b = floor_div(t, a->bucket_ms);
    if (created) {
        ag->first_ms = t;
        ag->base = b - a->maxh;
        ag->cur = b;
        ag->cur_first_ms = t;
    }
    th__sig_close(&ag->sig, a->sigenv, r, ag->g.key, ag->g.key_len, t, false);
    track_open(a, ag);
    if (b < ag->cur - a->maxh)
        return; /* older than the history: nothing to add it to */

    if (b > ag->cur)
        open_bucket(a, ag, b, t);
    if (b == ag->cur) {
        if (ag->cur_events < UINT32_MAX)
            ag->cur_events++;
        if (t < ag->cur_first_ms)
            ag->cur_first_ms = t;
    }
    if (t < ag->first_ms) {
        ag->first_ms = t;
        ag->bound_ok = false; /* the history starts earlier: more zeros */
    }
    if (add_event(ag, q, ev, b) && b < ag->cur)
        ag->bound_ok = false;

    if (t - ag->first_ms >= r->anomaly.learning_duration_ms) {
        uint32_t bound, nbase;
        if (b == ag->cur) {
            if (!ag->bound_ok) {
                ag->bound = compute_bound(a, ag, b, &ag->nbase);
                ag->bound_ok = true;
            }
            bound = ag->bound;
            nbase = ag->nbase;
        } else {
            bound = compute_bound(a, ag, b, &nbase);
        }
        uint32_t value = hist_value(ag, b);
        if (value > bound) {
            struct th_strbuf *sb = &d->key; /* the key was copied into the group: reuse */
            th__sb_reset(sb);
            th__sb_adds(sb, "{\"bucket_start\":");
            th__sb_add_time(sb, b * a->bucket_ms, true);
            th__sb_addf(sb, ",\"value\":%lu,\"bound\":%lu,\"baseline_buckets\":%lu}",
                        (unsigned long)value, (unsigned long)bound, (unsigned long)nbase);
            int64_t first = b == ag->cur ? ag->cur_first_ms : t;
            uint64_t events = b == ag->cur ? ag->cur_events : value;
            th__sig_match(&ag->sig, a->sigenv, r, ag->g.key, ag->g.key_len, 0, ev, first,
                          events, sb->oom ? NULL : sb->p);
            track_open(a, ag);
        }
    }

    /* The group may go once its newest bucket has left the history and its signal is
     * closed. */
    int64_t expire = (ag->cur + a->maxh + 1) * a->bucket_ms;
    if (ag->sig.open) {
        int64_t close_at = th__sig_close_at(&ag->sig, r);
        if (close_at > expire)
            expire = close_at;
    }
    ag->g.expire_ms = expire;
}

struct close_item {
    int64_t at;
    struct agroup *ag;
};

/* Orders due signals by closing time, then group key. */
static int cmp_close_item(const void *x, const void *y)
{
    const struct close_item *a = x, *b = y;
    if (a->at != b->at)
        return a->at < b->at ? -1 : 1;
    size_t la = a->ag->g.key_len, lb = b->ag->g.key_len;
    int c = memcmp(a->ag->g.key, b->ag->g.key, la < lb ? la : lb);
    if (c)
        return c;
    return (la > lb) - (la < lb);
}

static void anomaly_advance(struct th_detector *d, int64_t watermark)
{
    struct anomaly *a = d->impl;
    size_t ndue = 0;
    for (size_t i = 0; i < a->nopen; i++)
        if (watermark > th__sig_close_at(&a->open[i]->sig, a->rule))
            ndue++;
    if (ndue) {
        struct close_item *due = malloc(ndue * sizeof *due);
        if (due) {
            size_t n = 0;
            for (size_t i = 0; i < a->nopen; i++) {
                int64_t at = th__sig_close_at(&a->open[i]->sig, a->rule);
                if (watermark > at)
                    due[n++] = (struct close_item){at, a->open[i]};
            }
            qsort(due, n, sizeof *due, cmp_close_item);
            for (size_t i = 0; i < n; i++) {
                struct agroup *ag = due[i].ag;
                th__sig_close(&ag->sig, a->sigenv, a->rule, ag->g.key, ag->g.key_len, watermark,
                              false);
                track_open(a, ag);
            }
            free(due);
        }
    }
    th__groups_expire(&a->groups, watermark);
}

static const struct th_group_table *anomaly_groups(const struct th_detector *d)
{
    const struct anomaly *a = d->impl;
    return &a->groups;
}

/* ---- --state ------------------------------------------------------------------------- */

/* Layout of a group: first_ms, base, cur, cur_first_ms, cur_events, the non-zero buckets
 * (count, then offset and value each), the newest bucket's value hashes (count, then
 * each), the signal. */
static void save_group(void *ctx, const struct th_group *g, struct th_state_writer *w)
{
    TH_UNUSED(ctx);
    const struct agroup *ag = (const struct agroup *)g;
    th__sw_i64(w, ag->first_ms);
    th__sw_i64(w, ag->base);
    th__sw_i64(w, ag->cur);
    th__sw_i64(w, ag->cur_first_ms);
    th__sw_u32(w, ag->cur_events);
    th__sw_u64(w, ag->nh);
    for (uint32_t i = 0; i < ag->nh; i++) {
        th__sw_u32(w, ag->h[i].off);
        th__sw_u32(w, ag->h[i].val);
    }
    th__sw_u64(w, ag->set.n);
    for (uint32_t i = 0; i < ag->set.cap; i++)
        if (ag->set.k[i])
            th__sw_u64(w, ag->set.k[i]);
    th__sig_save(&ag->sig, w);
}

static bool load_group(void *ctx, struct th_group *g, struct th_state_reader *r)
{
    struct anomaly *a = ctx;
    struct agroup *ag = (struct agroup *)g;
    ag->first_ms = th__sr_i64(r);
    ag->base = th__sr_i64(r);
    ag->cur = th__sr_i64(r);
    ag->cur_first_ms = th__sr_i64(r);
    ag->cur_events = th__sr_u32(r);
    /* Times within what eventTime can hold keep every product with the bucket size far
     * from overflowing. */
    const int64_t lim = INT64_C(1) << 50;
    if (r->bad || ag->first_ms < -lim || ag->first_ms > lim || ag->cur_first_ms < -lim ||
        ag->cur_first_ms > lim || ag->cur < -lim / a->bucket_ms || ag->cur > lim / a->bucket_ms ||
        ag->base > ag->cur - a->maxh || ag->cur - ag->base > (INT64_C(1) << 31))
        return false;
    uint64_t n = th__sr_count(r, (uint64_t)a->maxh + 1, 8);
    if (r->bad)
        return false;
    if (n && !(ag->h = malloc((size_t)n * sizeof *ag->h)))
        return false;
    ag->caph = (uint32_t)n;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t off = th__sr_u32(r), val = th__sr_u32(r);
        int64_t b = ag->base + off;
        if (r->bad || val == 0 || b > ag->cur || b < ag->cur - a->maxh ||
            (i && off <= ag->h[i - 1].off))
            return false;
        ag->h[ag->nh++] = (struct bkt){off, val};
    }
    uint64_t m = th__sr_count(r, UINT32_MAX / 4, 8);
    if (r->bad || (m && a->rule->queries[0].agg != TH_AGG_CARDINALITY))
        return false;
    for (uint64_t i = 0; i < m; i++) {
        uint64_t h = th__sr_u64(r);
        if (r->bad || h == 0 || !vset_add(&ag->set, h)) /* malformed, twice, or no memory */
            return false;
    }
    if (!th__sig_load(&ag->sig, r))
        return false;
    if (ag->sig.open && (size_t)ag->sig.case_idx >= a->rule->ncases)
        return false;
    track_open(a, ag);
    return !ag->sig.open || ag->open_pos; /* no memory for the open list: refuse */
}

static void anomaly_save(const struct th_detector *d, struct th_state_writer *w)
{
    const struct anomaly *a = d->impl;
    th__sw_i64(w, a->bucket_ms);
    th__groups_save(&a->groups, w, save_group, (void *)a);
}

static int anomaly_load(struct th_detector *d, struct th_state_reader *r, struct th_err *err)
{
    struct anomaly *a = d->impl;
    int64_t bucket = th__sr_i64(r);
    if (r->bad || bucket != a->bucket_ms)
        return th__err(err, TH_ESTATE, NULL,
                       "anomaly state for buckets of %lld ms, the rule has %lld ms",
                       (long long)bucket, (long long)a->bucket_ms);
    if (!th__groups_load(&a->groups, r, load_group, a))
        return th__err(err, TH_ESTATE, NULL, "malformed anomaly_detection state");
    return 0;
}

const struct th_detector_ops th__anomaly_ops = {
    .method = TH_METHOD_ANOMALY,
    .init = anomaly_init,
    .fini = anomaly_fini,
    .on_event = anomaly_on_event,
    .advance = anomaly_advance,
    .groups = anomaly_groups,
    .save = anomaly_save,
    .load = anomaly_load,
};
