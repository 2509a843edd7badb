/*
 * detect_travel.c - the impossible_travel method (SPEC §7).
 *
 * Per group (the rule's one group_by attribute: a user or an access key), each matching
 * event is located once (th__event_geo: the City database's answer for sourceIPAddress) and
 * compared with the group's newest located event. The distance is the great-circle distance
 * minus both accuracy radii, floored at 0; the speed is that distance over the time between
 * the two events (equal times: infinite). The pair is impossible when distance >
 * min_distance_km AND speed > speed_kmh (both strict). Events that cannot be located (no
 * sourceIPAddress, not an IP address, not public, not in the database, or a record without
 * coordinates) are skipped and counted (th__travel_unlocated, th_stats.travel_unlocated);
 * they create no group. Events without the group-by value are ignored, not counted.
 *
 * Out of order: the "previous located event" is by event time. An event newer than (or as
 * old as) the group's newest located event is compared with it and replaces it. An older
 * event (late delivery, interleaved regions) is compared with the newest one as the start
 * of the journey (travel from the older event to the newer) and does not replace it. So a
 * pair that arrives in either order is judged the same, with the same from/to and the same
 * signal id; with three or more events out of order, only the newest is compared with.
 *
 * baseline_user_locations: during baseline_duration, counted from the group's earliest
 * located event (the group's first event always counts as baseline, so a duration of 0
 * learns just that one), each event's location is learned and nothing alerts. A location
 * is the country, subdivision and city names when the database has a city; without one
 * (country-level records), the country and the coordinates rounded to 0.1 degree. After
 * the baseline, the known set is frozen: an event at a known location never alerts, and an
 * impossible transition between two locations (unordered: A to B is B to A) that has
 * already alerted does not alert again. Without the option, every impossible pair is a
 * match.
 *
 * Signals: each impossible pair is a match of the rule's first case for the group: it
 * opens the group's signal or updates the open one (keep_alive, max_signal_duration as for
 * every method). first_seen of a new signal is the earlier event's time, so the same pair
 * replayed gives the same id; events_matched starts at 2 (both events) and adds 1 per later
 * pair. event_ids and samples hold the evaluated event (the later one in time order); the
 * earlier event is described in details:
 *   {"from":{"ip","city","country","lat","lon","accuracy_radius_km","time","event_id"},
 *    "to":{...same...},"distance_km":N,"speed_kmh":N}
 * with country the ISO code, city and country null when the database has none, event_id
 * null when the event has none (or one longer than 39 bytes), distance and speed rounded to
 * one decimal ("%.1f"), and speed null when both events have the same time. Open signals
 * close when the watermark passes them (a list of the groups with an open one; several at
 * once in order of closing time, then group key).
 *
 * State, bounded per group: the newest located event (time, coordinates, radius, location
 * key, ip, country, city, event id), the earliest located time, and with the baseline at
 * most TR_MAX_KNOWN learned locations (further new ones during the baseline are not
 * learned) and the last TR_MAX_PAIRS alerted transitions (a ring: the oldest is forgotten).
 * A group expires once no pair with its newest event can be impossible any more (half the
 * Earth's circumference over speed_kmh: 20 h at 1000 km/h); with the baseline, 30 days
 * after its newest located event (or baseline_duration when longer), then learns again from
 * scratch; never while its signal is open. Groups obey the table's LRU cap.
 *
 * --state saves every group (LRU order) with all of the above and its signal, and loads it
 * back exactly (travel_save/load). The unlocated counter is per run, not saved.
 */
#include "detect.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"
#include "hash.h"
#include "timeutil.h"

#define TR_MAX_KNOWN 32                   /* baseline locations per group */
#define TR_MAX_PAIRS 32                   /* alerted transitions remembered per group */
#define TR_FORGET_MS (30 * TH_MS_PER_DAY) /* a baseline group idle this long is forgotten */
/* No two points on the mean sphere (radius 6371.0088 km) are farther apart than half its
 * circumference, 20015.1 km; a little more for rounding. */
#define TR_MAX_DISTANCE_KM 20016.0
#define TIME_LIMIT (INT64_C(1) << 52)

/* The group's newest located event. */
struct place {
    int64_t t;
    double lat, lon;
    uint32_t radius_km;
    uint64_t key;      /* the location, for the baseline (place_key) */
    char *city;        /* owned, NULL when unknown */
    char ip[46];       /* the longest IPv6 text form is 45 bytes */
    char country[4];   /* ISO 3166 alpha-2, "" when unknown */
    char event_id[40]; /* "" when absent or longer (CloudTrail's are 36-byte UUIDs) */
};

/* A borrowed view of a located event, for details. */
struct where {
    int64_t t;
    double lat, lon;
    uint32_t radius_km;
    const char *ip, *country, *city, *event_id; /* NULL or "" (except ip): null in JSON */
};

struct trgroup {
    struct th_group g;
    int64_t first; /* earliest located event: the baseline starts there */
    struct place last;
    uint64_t *known; /* baseline: learned locations, nknown of them */
    uint64_t *pairs; /* baseline: alerted transitions, a ring of npairs, next at pair_next */
    uint8_t nknown, capknown, npairs, pair_next;
    uint32_t open_pos; /* 1 + index in travel.open while the signal is open, else 0 */
    struct th_sigstate sig;
};

struct travel {
    struct th_group_table groups;
    const struct th_signal_env *sigenv;
    const struct th_rule *rule;
    int64_t keep_ms;       /* how long a group lives after its newest located event */
    struct trgroup **open; /* groups with an open signal */
    size_t nopen, capopen;
    uint64_t unlocated; /* matching events skipped: their source could not be located */
    struct th_strbuf details;
};

/* a + b for an event time a and a duration b >= 0, saturating. */
static int64_t add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* Copies s into a fixed buffer when it fits; "" when NULL or too long. */
static void copy_fixed(char *dst, size_t size, const char *s, size_t len)
{
    if (!s || len >= size)
        len = 0;
    if (len)
        memcpy(dst, s, len);
    dst[len] = '\0';
}

/* ---- locations ------------------------------------------------------------------------ */

static uint64_t hash_str(uint64_t h, const char *s)
{
    return th__hash_add(h, s ? s : "", s ? strlen(s) + 1 : 1);
}

static uint64_t hash_i32(uint64_t h, int32_t v)
{
    uint32_t u = (uint32_t)v;
    unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                          (unsigned char)(u >> 24)};
    return th__hash_add(h, b, sizeof b);
}

/* Where an answer is, for the baseline: the country, subdivision and city names when there
 * is a city (the coordinates of one city differ between networks); otherwise the country
 * and a 0.1-degree cell (about 11 km). Never 0. */
static uint64_t place_key(const struct th_geo_info *gi)
{
    uint64_t h = th__hash_init(0x74726176);
    h = hash_str(h, gi->country_iso);
    if (gi->city) {
        h = th__hash_add(h, "c", 1);
        h = hash_str(h, gi->subdivision);
        h = hash_str(h, gi->city);
    } else {
        h = th__hash_add(h, "g", 1);
        h = hash_i32(h, (int32_t)lround(gi->latitude * 10));
        h = hash_i32(h, (int32_t)lround(gi->longitude * 10));
    }
    h = th__hash_mix(h);
    return h ? h : 1;
}

/* The transition between two locations, either way round. Never 0. */
static uint64_t pair_key(uint64_t a, uint64_t b)
{
    uint64_t lo = a < b ? a : b, hi = a < b ? b : a;
    uint64_t h = th__hash_mix(th__hash_mix(lo ^ UINT64_C(0x70616972)) ^ hi);
    return h ? h : 1;
}

static bool has_key(const uint64_t *v, size_t n, uint64_t k)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == k)
            return true;
    return false;
}

/* Learns location k (baseline); beyond TR_MAX_KNOWN, or out of memory, it is not learned. */
static void learn(struct trgroup *g, uint64_t k)
{
    if (has_key(g->known, g->nknown, k) || g->nknown == TR_MAX_KNOWN)
        return;
    if (g->nknown == g->capknown) {
        uint8_t cap = g->capknown ? (uint8_t)(g->capknown * 2) : 2;
        if (cap > TR_MAX_KNOWN)
            cap = TR_MAX_KNOWN;
        uint64_t *p = realloc(g->known, cap * sizeof *p);
        if (!p)
            return;
        g->known = p;
        g->capknown = cap;
    }
    g->known[g->nknown++] = k;
}

/* Remembers an alerted transition; the ring forgets the oldest when full. */
static void remember_pair(struct trgroup *g, uint64_t k)
{
    if (!g->pairs && !(g->pairs = malloc(TR_MAX_PAIRS * sizeof *g->pairs)))
        return;
    g->pairs[g->pair_next] = k;
    g->pair_next = (uint8_t)((g->pair_next + 1) % TR_MAX_PAIRS);
    if (g->npairs < TR_MAX_PAIRS)
        g->npairs++;
}

/* ---- open signals --------------------------------------------------------------------- */

/* Keeps tr->open in step with the group's signal after it may have opened or closed. */
static void track_open(struct travel *tr, struct trgroup *g)
{
    if (g->sig.open && !g->open_pos) {
        if (tr->nopen == tr->capopen) {
            void *p = tr->open;
            if (th__grow(&p, &tr->capopen, tr->nopen + 1, sizeof *tr->open) < 0)
                return; /* closed by its group's next event or by expiry instead */
            tr->open = p;
        }
        tr->open[tr->nopen++] = g;
        g->open_pos = (uint32_t)tr->nopen;
    } else if (!g->sig.open && g->open_pos) {
        size_t i = g->open_pos - 1;
        tr->open[i] = tr->open[--tr->nopen];
        if (i < tr->nopen)
            tr->open[i]->open_pos = (uint32_t)i + 1;
        g->open_pos = 0;
    }
}

/* ---- the detector --------------------------------------------------------------------- */

static void free_group_parts(struct trgroup *g)
{
    th__sig_fini(&g->sig);
    free(g->last.city);
    free(g->known);
    free(g->pairs);
    g->last.city = NULL;
    g->known = g->pairs = NULL;
    g->nknown = g->capknown = g->npairs = g->pair_next = 0;
}

static void drop_group(void *ctx, struct th_group *grp, enum th_group_drop why)
{
    struct travel *tr = ctx;
    struct trgroup *g = (struct trgroup *)grp;
    if (why != TH_GROUP_FREED)
        th__sig_close(&g->sig, tr->sigenv, tr->rule, grp->key, grp->key_len, 0, true);
    g->sig.open = false;
    track_open(tr, g);
    free_group_parts(g);
}

static int travel_init(struct th_detector *d, struct th_err *err)
{
    TH_UNUSED(err);
    struct travel *tr = calloc(1, sizeof *tr);
    if (!tr)
        return TH_ENOMEM;
    tr->sigenv = d->sigenv;
    tr->rule = d->rule;
    /* After this, no pair with the group's newest event can be impossible: the speed over
     * any distance on Earth would be below speed_kmh. */
    double h = ceil(TR_MAX_DISTANCE_KM / d->rule->travel.speed_kmh * (double)TH_MS_PER_HOUR);
    tr->keep_ms = h < (double)TIME_LIMIT ? (int64_t)h : TIME_LIMIT;
    if (d->rule->travel.baseline_user_locations) {
        int64_t forget = TR_FORGET_MS;
        if (d->rule->travel.baseline_duration_ms > forget)
            forget = d->rule->travel.baseline_duration_ms;
        if (forget > tr->keep_ms)
            tr->keep_ms = forget;
    }
    th__sb_init(&tr->details);
    if (th__groups_init(&tr->groups, sizeof(struct trgroup), d->max_groups, drop_group, tr) < 0) {
        free(tr);
        return TH_ENOMEM;
    }
    d->impl = tr;
    return 0;
}

static void travel_fini(struct th_detector *d)
{
    struct travel *tr = d->impl;
    if (!tr)
        return;
    th__groups_fini(&tr->groups);
    th__sb_fini(&tr->details);
    free(tr->open);
    free(tr);
    d->impl = NULL;
}

static void add_str_or_null(struct th_strbuf *sb, const char *s)
{
    if (s && *s)
        th__sb_add_json_str(sb, s, strlen(s));
    else
        th__sb_adds(sb, "null");
}

static void add_where(struct th_strbuf *sb, const struct where *w)
{
    th__sb_adds(sb, "{\"ip\":");
    add_str_or_null(sb, w->ip);
    th__sb_adds(sb, ",\"city\":");
    add_str_or_null(sb, w->city);
    th__sb_adds(sb, ",\"country\":");
    add_str_or_null(sb, w->country);
    /* %.10g: the text of the location attributes (event.c), so the two always agree. */
    th__sb_addf(sb, ",\"lat\":%.10g,\"lon\":%.10g,\"accuracy_radius_km\":%u,\"time\":", w->lat,
                w->lon, (unsigned)w->radius_km);
    th__sb_add_time(sb, w->t, true);
    th__sb_adds(sb, ",\"event_id\":");
    add_str_or_null(sb, w->event_id);
    th__sb_addc(sb, '}');
}

static struct where where_of(const struct place *p)
{
    return (struct where){.t = p->t,
                          .lat = p->lat,
                          .lon = p->lon,
                          .radius_km = p->radius_km,
                          .ip = p->ip,
                          .country = p->country,
                          .city = p->city,
                          .event_id = p->event_id};
}

/* Builds the details of a pair into tr->details; NULL when memory ran out. */
static const char *describe(struct travel *tr, const struct where *from, const struct where *to,
                            double km, int64_t dt)
{
    struct th_strbuf *sb = &tr->details;
    th__sb_reset(sb);
    th__sb_adds(sb, "{\"from\":");
    add_where(sb, from);
    th__sb_adds(sb, ",\"to\":");
    add_where(sb, to);
    th__sb_addf(sb, ",\"distance_km\":%.1f,\"speed_kmh\":", km);
    if (dt > 0)
        th__sb_addf(sb, "%.1f", km / ((double)dt / (double)TH_MS_PER_HOUR));
    else
        th__sb_adds(sb, "null"); /* the same instant: infinite, which JSON cannot write */
    th__sb_addc(sb, '}');
    return sb->oom ? NULL : sb->p;
}

/* Replaces the group's newest located event with the current one. */
static void set_last(struct trgroup *g, const struct where *cur, uint64_t key)
{
    struct place *p = &g->last;
    p->t = cur->t;
    p->lat = cur->lat;
    p->lon = cur->lon;
    p->radius_km = cur->radius_km;
    p->key = key;
    copy_fixed(p->ip, sizeof p->ip, cur->ip, strlen(cur->ip));
    copy_fixed(p->country, sizeof p->country, cur->country,
               cur->country ? strlen(cur->country) : 0);
    copy_fixed(p->event_id, sizeof p->event_id, cur->event_id,
               cur->event_id ? strlen(cur->event_id) : 0);
    /* Most events of a group come from where the previous one did: no allocation then. */
    if (cur->city && p->city && strcmp(cur->city, p->city) == 0)
        return;
    free(p->city);
    p->city = cur->city ? th__strdup(cur->city) : NULL;
}

static void travel_on_event(struct th_detector *d, struct th_event *ev, uint32_t matched)
{
    struct travel *tr = d->impl;
    const struct th_rule *r = d->rule;
    if (!(matched & 1) || !th__group_key(d, &r->queries[0], ev))
        return;
    const struct th_geo_info *gi = th__event_geo(ev);
    if (!gi || gi->status != TH_GEO_LOCATED || !gi->has_location || !isfinite(gi->latitude) ||
        !isfinite(gi->longitude) || fabs(gi->latitude) > 90 || fabs(gi->longitude) > 180) {
        tr->unlocated++;
        return;
    }
    /* Copy what is needed of the answer now: it is borrowed from the geo cache. */
    struct th_str ip = th__event_str(ev, "sourceIPAddress");
    struct th_str id = th__event_str(ev, "eventID");
    char ipbuf[46], idbuf[40];
    copy_fixed(ipbuf, sizeof ipbuf, ip.p, ip.len);
    copy_fixed(idbuf, sizeof idbuf, id.p, id.len);
    int64_t t = ev->time_ms;
    struct where cur = {.t = t,
                        .lat = gi->latitude,
                        .lon = gi->longitude,
                        .radius_km =
                            gi->accuracy_radius_km > 0 ? (uint32_t)gi->accuracy_radius_km : 0,
                        .ip = ipbuf,
                        .country = gi->country_iso,
                        .city = gi->city,
                        .event_id = idbuf};
    uint64_t key = place_key(gi);

    bool created;
    struct trgroup *g =
        (struct trgroup *)th__groups_get(&tr->groups, d->key.p, d->key.len, &created);
    if (!g)
        return;
    bool baseline = r->travel.baseline_user_locations;
    if (created) {
        g->first = t;
        set_last(g, &cur, key);
        if (baseline)
            learn(g, key);
    } else {
        th__sig_close(&g->sig, tr->sigenv, r, g->g.key, g->g.key_len, t, false);
        track_open(tr, g);
        if (t < g->first)
            g->first = t;
        bool in_baseline = baseline && t < add_sat(g->first, r->travel.baseline_duration_ms);
        if (in_baseline)
            learn(g, key);

        bool older = t < g->last.t;
        struct where last = where_of(&g->last);
        const struct where *from = older ? &cur : &last, *to = older ? &last : &cur;
        int64_t dt = to->t - from->t;
        double km = th__geo_distance_km(from->lat, from->lon, to->lat, to->lon) -
                    (double)from->radius_km - (double)to->radius_km;
        km = km > 0 ? km : 0;
        /* speed > speed_kmh, written without dividing: km / hours > v <=> km > v * hours;
         * dt == 0 is an infinite speed. */
        bool fast = dt == 0 || km > r->travel.speed_kmh * ((double)dt / (double)TH_MS_PER_HOUR);
        bool alert = km > r->travel.min_distance_km && fast && !in_baseline;
        if (alert && baseline) {
            uint64_t pk = pair_key(g->last.key, key);
            if (has_key(g->known, g->nknown, key) || has_key(g->pairs, g->npairs, pk))
                alert = false;
            else
                remember_pair(g, pk);
        }
        if (alert) {
            const char *details = describe(tr, from, to, km, dt);
            th__sig_match(&g->sig, tr->sigenv, r, g->g.key, g->g.key_len, 0, ev, from->t, 2,
                          details);
            track_open(tr, g);
        }
        if (!older)
            set_last(g, &cur, key);
    }

    int64_t expire = add_sat(g->last.t, tr->keep_ms);
    if (g->sig.open) {
        int64_t close_at = th__sig_close_at(&g->sig, r);
        if (close_at > expire)
            expire = close_at;
    }
    g->g.expire_ms = expire;
}

struct close_item {
    int64_t at;
    struct trgroup *g;
};

/* Orders due signals by closing time, then group key. */
static int cmp_close_item(const void *x, const void *y)
{
    const struct close_item *a = x, *b = y;
    if (a->at != b->at)
        return a->at < b->at ? -1 : 1;
    size_t la = a->g->g.key_len, lb = b->g->g.key_len;
    int c = memcmp(a->g->g.key, b->g->g.key, la < lb ? la : lb);
    if (c)
        return c;
    return (la > lb) - (la < lb);
}

static void travel_advance(struct th_detector *d, int64_t watermark)
{
    struct travel *tr = d->impl;
    size_t ndue = 0;
    for (size_t i = 0; i < tr->nopen; i++)
        if (watermark > th__sig_close_at(&tr->open[i]->sig, tr->rule))
            ndue++;
    if (ndue) {
        struct close_item *due = malloc(ndue * sizeof *due);
        if (due) {
            size_t n = 0;
            for (size_t i = 0; i < tr->nopen; i++) {
                int64_t at = th__sig_close_at(&tr->open[i]->sig, tr->rule);
                if (watermark > at)
                    due[n++] = (struct close_item){at, tr->open[i]};
            }
            qsort(due, n, sizeof *due, cmp_close_item);
            for (size_t i = 0; i < n; i++) {
                struct trgroup *g = due[i].g;
                th__sig_close(&g->sig, tr->sigenv, tr->rule, g->g.key, g->g.key_len, watermark,
                              false);
                track_open(tr, g);
            }
            free(due);
        }
    }
    th__groups_expire(&tr->groups, watermark);
}

static const struct th_group_table *travel_groups(const struct th_detector *d)
{
    const struct travel *tr = d->impl;
    return &tr->groups;
}

uint64_t th__travel_unlocated(const struct th_detector *d)
{
    const struct travel *tr = d->ops == &th__travel_ops ? d->impl : NULL;
    return tr ? tr->unlocated : 0;
}

/* ---- --state -------------------------------------------------------------------------- */

/* Layout of a group: first, the newest located event (t, lat, lon, radius, location key,
 * ip, country, city (NULL-able string), event id), the learned locations (count, then
 * each), the alerted transitions (count, next slot, then each, in slot order), the signal. */
static void save_group(void *ctx, const struct th_group *grp, struct th_state_writer *w)
{
    TH_UNUSED(ctx);
    const struct trgroup *g = (const struct trgroup *)grp;
    const struct place *p = &g->last;
    th__sw_i64(w, g->first);
    th__sw_i64(w, p->t);
    th__sw_f64(w, p->lat);
    th__sw_f64(w, p->lon);
    th__sw_u32(w, p->radius_km);
    th__sw_u64(w, p->key);
    th__sw_bytes(w, p->ip, strlen(p->ip));
    th__sw_bytes(w, p->country, strlen(p->country));
    th__sw_str(w, p->city);
    th__sw_bytes(w, p->event_id, strlen(p->event_id));
    th__sw_u64(w, g->nknown);
    for (size_t i = 0; i < g->nknown; i++)
        th__sw_u64(w, g->known[i]);
    th__sw_u64(w, g->npairs);
    th__sw_u32(w, g->pair_next);
    for (size_t i = 0; i < g->npairs; i++)
        th__sw_u64(w, g->pairs[i]);
    th__sig_save(&g->sig, w);
}

/* Reads a byte string into a fixed buffer; false when it does not fit. */
static bool load_fixed(struct th_state_reader *r, char *dst, size_t size)
{
    size_t len;
    const char *s = th__sr_bytes(r, &len);
    if (r->bad || len >= size || (len && memchr(s, '\0', len)))
        return false;
    copy_fixed(dst, size, s, len);
    return true;
}

static bool load_group(void *ctx, struct th_group *grp, struct th_state_reader *r)
{
    struct travel *tr = ctx;
    struct trgroup *g = (struct trgroup *)grp;
    struct place *p = &g->last;
    g->first = th__sr_i64(r);
    p->t = th__sr_i64(r);
    p->lat = th__sr_f64(r);
    p->lon = th__sr_f64(r);
    p->radius_km = th__sr_u32(r);
    p->key = th__sr_u64(r);
    /* Event times within +-2^52 ms keep the arithmetic on them far from overflowing. */
    if (r->bad || g->first < -TIME_LIMIT || p->t > TIME_LIMIT || g->first > p->t ||
        !(fabs(p->lat) <= 90) || !(fabs(p->lon) <= 180) || p->key == 0 ||
        !load_fixed(r, p->ip, sizeof p->ip) || !p->ip[0] ||
        !load_fixed(r, p->country, sizeof p->country))
        return false;
    p->city = th__sr_str(r);
    if (r->bad || !load_fixed(r, p->event_id, sizeof p->event_id))
        return false;
    bool baseline = tr->rule->travel.baseline_user_locations;
    uint64_t nk = th__sr_count(r, TR_MAX_KNOWN, 8);
    if (r->bad || (nk && !baseline))
        return false;
    if (nk) {
        if (!(g->known = malloc((size_t)nk * sizeof *g->known)))
            return false;
        g->capknown = (uint8_t)nk;
    }
    for (uint64_t i = 0; i < nk; i++) {
        uint64_t k = th__sr_u64(r);
        if (r->bad || k == 0 || has_key(g->known, g->nknown, k))
            return false;
        g->known[g->nknown++] = k;
    }
    uint64_t np = th__sr_count(r, TR_MAX_PAIRS, 8);
    uint32_t next = th__sr_u32(r);
    /* The ring fills slot by slot: until it is full, the next slot is the count. */
    if (r->bad || (np && !baseline) || next >= TR_MAX_PAIRS || (np < TR_MAX_PAIRS && next != np))
        return false;
    if (np && !(g->pairs = malloc(TR_MAX_PAIRS * sizeof *g->pairs)))
        return false;
    for (uint64_t i = 0; i < np; i++) {
        uint64_t k = th__sr_u64(r);
        if (r->bad || k == 0 || has_key(g->pairs, g->npairs, k))
            return false;
        g->pairs[g->npairs++] = k;
    }
    g->pair_next = (uint8_t)next;
    if (!th__sig_load(&g->sig, r))
        return false;
    if (g->sig.open && (size_t)g->sig.case_idx >= tr->rule->ncases)
        return false;
    track_open(tr, g);
    return !g->sig.open || g->open_pos; /* no memory for the open list: refuse */
}

static void travel_save(const struct th_detector *d, struct th_state_writer *w)
{
    const struct travel *tr = d->impl;
    th__groups_save(&tr->groups, w, save_group, (void *)tr);
}

static int travel_load(struct th_detector *d, struct th_state_reader *r, struct th_err *err)
{
    struct travel *tr = d->impl;
    if (!th__groups_load(&tr->groups, r, load_group, tr))
        return th__err(err, TH_ESTATE, NULL, "rule %s: malformed impossible_travel state",
                       d->rule->id);
    return 0;
}

const struct th_detector_ops th__travel_ops = {
    .method = TH_METHOD_TRAVEL,
    .init = travel_init,
    .fini = travel_fini,
    .on_event = travel_on_event,
    .advance = travel_advance,
    .groups = travel_groups,
    .save = travel_save,
    .load = travel_load,
};
