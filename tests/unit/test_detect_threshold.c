/*
 * test_detect_threshold.c - detect_threshold.c from the inside (the file is included, its
 * ops renamed so that they do not clash with the library's copy).
 *
 * The cardinality set keeps no seen map while its entries imply it (see the top of
 * detect_threshold.c). The reference here is a set whose map is built before its first
 * value, so that every value goes through map_put and map_del_if: how every set worked
 * before, and what the saved bytes are defined by. Random adds and prunes (small alphabets,
 * so values repeat, tables grow and probe chains collide; times out of order; clears) go to
 * both, and after each step they must count the same and save the same bytes. At random
 * steps the reference is saved and loaded into a fresh set, which then goes on as the one
 * under test (loading may drop the map again). Also: a snapshot's odd set loads as written,
 * windows' inline first cell, and the sizes the memory figures rest on.
 */
#define th__threshold_ops th__threshold_ops_under_test
#include "detect_threshold.c"

#include <stdio.h>

#include "check.h"
#include "state.h"

/* The saved bytes of d (malloc'd, *len long). */
static char *saved(const struct distinct *d, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        return NULL;
    struct th_state_writer w;
    th__sw_init(&w, f);
    distinct_save(d, &w);
    fclose(f);
    return buf;
}

/* True when a and b save the same bytes. */
static bool same_bytes(const struct distinct *a, const struct distinct *b)
{
    size_t na, nb;
    char *pa = saved(a, &na), *pb = saved(b, &nb);
    bool same = pa && pb && na == nb && memcmp(pa, pb, na) == 0;
    free(pa);
    free(pb);
    return same;
}

/* Loads what ref saves into *d (freed first). */
static bool reload(struct distinct *d, const struct distinct *ref)
{
    size_t n;
    char *p = saved(ref, &n);
    if (!p)
        return false;
    distinct_free(d);
    struct th_state_reader r;
    th__sr_init(&r, p, n);
    bool ok = distinct_load(d, &r) && r.p == r.end;
    free(p);
    return ok;
}

/* Saves and loads ref back into both: a loaded map is laid out by putting the saved pairs
 * in order into a new table (maybe smaller than the saved one), so the reference must go
 * through it too; it keeps its map (built again as it was loaded when load dropped it). */
static bool reload_both(struct distinct *d, struct distinct *ref)
{
    struct distinct copy = {0};
    bool ok = reload(&copy, ref) && reload(d, ref) && (copy.built || distinct_build(&copy));
    distinct_free(ref);
    *ref = copy;
    return ok;
}

static uint64_t rng_state = 88172645463325252u;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static void test_implied_map(void)
{
    long steps = 0, bad_count = 0, bad_bytes = 0, bad_load = 0, implied = 0, built = 0;
    for (int run = 0; run < 3000; run++) {
        struct distinct ref = {0}, d = {0};
        ref.built = true; /* the map from the first value on */
        uint32_t values = 1 + rnd(14);
        int64_t now = 1000, window = 1 + rnd(60);
        int nsteps = 1 + (int)rnd(120);
        for (int s = 0; s < nsteps; s++, steps++) {
            uint32_t op = rnd(100);
            if (op < 70) {
                /* A value, mostly in order, sometimes late by up to two windows. */
                now += rnd(4);
                int64_t t = op < 60 ? now : now - (int64_t)rnd((uint32_t)window * 2);
                uint64_t h = th__hash64(&(uint32_t){rnd(values)}, sizeof(uint32_t), 7);
                distinct_add(&ref, t, h ? h : 1);
                distinct_add(&d, t, h ? h : 1);
            } else if (op < 97) {
                distinct_prune(&ref, now - window);
                distinct_prune(&d, now - window);
            } else {
                distinct_prune(&ref, INT64_MAX); /* window 0: a clear before each event */
                distinct_prune(&d, INT64_MAX);
            }
            if (rnd(10) == 0 && !reload_both(&d, &ref))
                bad_load++;
            implied += !d.built;
            built += d.built;
            bad_count += d.map.n != ref.map.n;
            bad_bytes += !same_bytes(&d, &ref);
        }
        distinct_free(&ref);
        distinct_free(&d);
    }
    CHECK_INT(bad_count, 0);
    CHECK_INT(bad_bytes, 0);
    CHECK_INT(bad_load, 0);
    CHECK(implied > steps / 10); /* both ways were taken, often */
    CHECK(built > steps / 10);
}

/* A loaded map that the entries do not imply (a value twice) stays built and goes on. */
static void test_load_keeps_map(void)
{
    struct distinct ref = {.built = true}, d = {0};
    distinct_add(&ref, 10, 5);
    distinct_add(&ref, 20, 5);
    distinct_prune(&ref, 10); /* the value stays: its latest time is 20 */
    CHECK_INT(ref.map.n, 1);
    CHECK(reload_both(&d, &ref));
    CHECK(!d.built); /* one entry, one value at its time: implied */
    distinct_add(&ref, 30, 5);
    distinct_add(&d, 30, 5);
    CHECK(d.built);
    CHECK(reload_both(&d, &ref)); /* two entries of one value: not implied */
    CHECK(d.built);
    CHECK(same_bytes(&d, &ref));
    distinct_prune(&ref, 30);
    distinct_prune(&d, 30);
    CHECK_INT(d.map.n, 0);
    CHECK(!d.built); /* emptied: dropped */
    CHECK(same_bytes(&d, &ref));
    distinct_free(&ref);
    distinct_free(&d);
}

/* A snapshot's set is loaded as written, even one this engine would not have made (a
 * latest time after its value's only entry): kept built, saved back the same. */
static void test_load_odd_snapshot(void)
{
    char *buf = NULL;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    struct th_state_writer w;
    th__sw_init(&w, f);
    th__sw_u64(&w, 1); /* one entry: time 10, value 5 */
    th__sw_i64(&w, 10);
    th__sw_u64(&w, 5);
    th__sw_u64(&w, 1); /* one map pair: value 5, latest 99 */
    th__sw_u64(&w, 5);
    th__sw_i64(&w, 99);
    fclose(f);
    struct distinct d = {0};
    struct th_state_reader r;
    th__sr_init(&r, buf, len);
    CHECK(distinct_load(&d, &r));
    CHECK(d.built);
    size_t n;
    char *again = saved(&d, &n);
    CHECK(again && n == len && memcmp(again, buf, len) == 0);
    free(again);
    free(buf);
    distinct_free(&d);
}

/* A window's first cell is inline; more move to the heap, in time order. */
static void test_window_cells(void)
{
    struct window w = {0};
    window_add(&w, 20, 1, 0, false);
    CHECK_INT(w.cap, 0);
    window_add(&w, 20, 1, 0, false); /* merged */
    CHECK_INT(w.len, 1);
    window_add(&w, 10, 1, 0, false); /* out of order, before */
    window_add(&w, 30, 1, 0, false);
    CHECK_INT(w.len, 3);
    CHECK(w.cap >= 3);
    CHECK_INT(cells(&w)[w.head].t, 10);
    CHECK_INT(cells(&w)[w.head + 2].t, 30);
    CHECK_INT((int)w.count, 4);
    window_prune(&w, 20);
    CHECK_INT(w.len, 1);
    CHECK_INT((int)w.count, 1);
    window_free(&w);
}

/* What the memory figures at the top of detect_threshold.c rest on (64-bit). */
static void test_sizes(void)
{
    if (sizeof(void *) != 8)
        return;
    CHECK(sizeof(struct window) <= 64);
    CHECK(sizeof(struct distinct) <= 48);
    CHECK(sizeof(struct tgroup) <= 136);
}

int main(void)
{
    test_implied_map();
    test_load_keeps_map();
    test_load_odd_snapshot();
    test_window_cells();
    test_sizes();
    return CHECK_DONE();
}
