/*
 * test_state.c - the snapshot primitives and file (state.c), and the save/load of groups
 * (groups.c) and signal states (signals.c) built on them.
 *
 * Primitives: round trips of every type at its edges (NaN, -0, INT64_MIN, NULL vs ""),
 * the little-endian layout, the checksum and the counting writer; bounds: reads past the
 * end set bad and return zeros from then on, malformed bools, strings and NULL markers,
 * th__sr_count refusing counts above its maximum or beyond the bytes left.
 * Groups: LRU order, keys and expire_ms survive a round trip; a malformed entry, a key
 * given twice or a short read empty the table (freeing what was loaded); a snapshot larger
 * than the cap evicts its oldest. Signals: an open signal comes back field for field and
 * goes on (appending event ids and samples up to the limits); an empty one is one byte;
 * every truncation fails cleanly. File: a fake detector behind the ops table checks the
 * framing: the directory (0700, parents created) and file (0600), the clock, missing file,
 * dropped sections (rule gone, rule changed, detector refusing, section too long), every
 * truncation and every flipped byte refused with nothing loaded, bad magic, another
 * version, duplicate sections, a failed save leaving the old snapshot, and the lock.
 */
#include "state.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "detect.h"
#include "groups.h"
#include "hash.h"
#include "signals.h"

/* An in-memory file: what a writer produced. */
struct buf {
    char *p;
    size_t len;
    FILE *fp;
};

static FILE *buf_open(struct buf *b)
{
    b->p = NULL;
    b->len = 0;
    b->fp = open_memstream(&b->p, &b->len);
    CHECK(b->fp != NULL);
    return b->fp;
}

static void buf_close(struct buf *b)
{
    fclose(b->fp);
    b->fp = NULL;
}

/* ---- primitives ------------------------------------------------------------------------ */

static void test_round_trip(void)
{
    struct buf b;
    struct th_state_writer w;
    th__sw_init(&w, buf_open(&b));
    th__sw_u8(&w, 0);
    th__sw_u8(&w, 255);
    th__sw_u32(&w, 0x01020304);
    th__sw_u32(&w, UINT32_MAX);
    th__sw_u64(&w, UINT64_C(0x0102030405060708));
    th__sw_u64(&w, UINT64_MAX);
    th__sw_i64(&w, INT64_MIN);
    th__sw_i64(&w, -1);
    th__sw_i64(&w, INT64_MAX);
    th__sw_f64(&w, 1.5);
    th__sw_f64(&w, -0.0);
    th__sw_f64(&w, NAN);
    th__sw_f64(&w, -INFINITY);
    th__sw_f64(&w, 0.1);
    th__sw_bool(&w, true);
    th__sw_bool(&w, false);
    th__sw_bytes(&w, "a\0b", 3);
    th__sw_bytes(&w, "", 0);
    th__sw_str(&w, NULL);
    th__sw_str(&w, "");
    th__sw_str(&w, "hello");
    CHECK(!w.failed);
    buf_close(&b);
    CHECK_INT(w.bytes, b.len);
    /* 2 + 8 + 16 + 24 + 40 + 2 + (4+3) + 4 + 4 + 4 + (4+5) */
    CHECK_INT(b.len, 120);
    /* Little-endian on every host. */
    CHECK(memcmp(b.p + 2, "\x04\x03\x02\x01", 4) == 0);
    CHECK(memcmp(b.p + 10, "\x08\x07\x06\x05\x04\x03\x02\x01", 8) == 0);
    /* The running checksum is th__hash64 (seed 0) of the bytes once mixed. */
    CHECK(th__hash_mix(w.hash) == th__hash64(b.p, b.len, 0));

    /* The counting writer sees the same length and writes nothing. */
    struct th_state_writer c;
    th__sw_init(&c, NULL);
    th__sw_u64(&c, 1);
    th__sw_str(&c, "hello");
    th__sw_str(&c, NULL);
    CHECK_INT(c.bytes, 8 + 9 + 4);
    CHECK(!c.failed);

    struct th_state_reader r;
    th__sr_init(&r, b.p, b.len);
    CHECK_INT(th__sr_u8(&r), 0);
    CHECK_INT(th__sr_u8(&r), 255);
    CHECK_INT(th__sr_u32(&r), 0x01020304);
    CHECK(th__sr_u32(&r) == UINT32_MAX);
    CHECK(th__sr_u64(&r) == UINT64_C(0x0102030405060708));
    CHECK(th__sr_u64(&r) == UINT64_MAX);
    CHECK(th__sr_i64(&r) == INT64_MIN);
    CHECK_INT(th__sr_i64(&r), -1);
    CHECK(th__sr_i64(&r) == INT64_MAX);
    CHECK(th__sr_f64(&r) == 1.5);
    double z = th__sr_f64(&r);
    CHECK(z == 0 && signbit(z));
    CHECK(isnan(th__sr_f64(&r)));
    CHECK(th__sr_f64(&r) == -INFINITY);
    CHECK(th__sr_f64(&r) == 0.1);
    CHECK(th__sr_bool(&r) == true);
    CHECK(th__sr_bool(&r) == false);
    size_t len;
    const char *p = th__sr_bytes(&r, &len);
    CHECK(p && len == 3 && memcmp(p, "a\0b", 3) == 0);
    p = th__sr_bytes(&r, &len);
    CHECK(p != NULL);
    CHECK_INT(len, 0);
    char *s = th__sr_str(&r);
    CHECK(s == NULL && !r.bad); /* NULL came back as NULL, not as a failure */
    s = th__sr_str(&r);
    CHECK_STR(s, "");
    free(s);
    s = th__sr_str(&r);
    CHECK_STR(s, "hello");
    free(s);
    CHECK(!r.bad);
    CHECK(r.p == r.end);
    /* One more read runs past the end. */
    CHECK_INT(th__sr_u8(&r), 0);
    CHECK(r.bad);
    free(b.p);
}

static void test_writer_failure(void)
{
    struct buf b;
    struct th_state_writer w;
    th__sw_init(&w, buf_open(&b));
    th__sw_u32(&w, 7);
    /* A field of 4 GiB is refused before a byte of it is read. */
    th__sw_bytes(&w, "x", (size_t)UINT32_MAX);
    CHECK(w.failed);
    uint64_t at = w.bytes;
    th__sw_u64(&w, 1); /* ignored after the failure */
    th__sw_str(&w, "more");
    CHECK_INT(w.bytes, at);
    buf_close(&b);
    CHECK_INT(b.len, 4);
    free(b.p);

    /* A stream that cannot be written. */
    FILE *ro = fopen("/dev/null", "r");
    CHECK(ro != NULL);
    th__sw_init(&w, ro);
    th__sw_u64(&w, 1);
    fflush(ro);
    CHECK(w.failed || ferror(ro));
    fclose(ro);
}

static void test_bounds(void)
{
    struct th_state_reader r;
    const unsigned char seven[7] = {1, 2, 3, 4, 5, 6, 7};
    th__sr_init(&r, seven, sizeof seven);
    CHECK(th__sr_u64(&r) == 0); /* 7 bytes cannot hold a u64 */
    CHECK(r.bad);
    CHECK_INT(th__sr_u8(&r), 0); /* and nothing more is read once bad */
    CHECK_INT(th__sr_u32(&r), 0);
    CHECK(r.p == seven);

    /* Empty and NULL buffers. */
    th__sr_init(&r, NULL, 0);
    CHECK_INT(th__sr_u32(&r), 0);
    CHECK(r.bad);
    th__sr_init(&r, seven, 0);
    CHECK(th__sr_bool(&r) == false);
    CHECK(r.bad);

    /* A bool is 0 or 1. */
    const unsigned char two = 2;
    th__sr_init(&r, &two, 1);
    th__sr_bool(&r);
    CHECK(r.bad);

    /* A byte string longer than what is left. */
    const unsigned char longer[] = {10, 0, 0, 0, 'a', 'b'};
    th__sr_init(&r, longer, sizeof longer);
    size_t len = 99;
    CHECK(th__sr_bytes(&r, &len) == NULL);
    CHECK_INT(len, 0);
    CHECK(r.bad);
    th__sr_init(&r, longer, sizeof longer);
    CHECK(th__sr_str(&r) == NULL);
    CHECK(r.bad);

    /* The NULL marker is a string's, never a byte string's. */
    const unsigned char nul_marker[] = {0xff, 0xff, 0xff, 0xff};
    th__sr_init(&r, nul_marker, sizeof nul_marker);
    CHECK(th__sr_bytes(&r, &len) == NULL);
    CHECK(r.bad);

    /* A C string holding a NUL is damage. */
    const unsigned char inner_nul[] = {3, 0, 0, 0, 'a', 0, 'b'};
    th__sr_init(&r, inner_nul, sizeof inner_nul);
    CHECK(th__sr_str(&r) == NULL);
    CHECK(r.bad);

    /* Counts. */
    unsigned char cnt[8 + 40] = {0};
    cnt[0] = 5;
    th__sr_init(&r, cnt, sizeof cnt);
    CHECK_INT(th__sr_count(&r, 100, 8), 5); /* 5 * 8 <= 40 bytes left */
    CHECK(!r.bad);
    th__sr_init(&r, cnt, sizeof cnt);
    CHECK_INT(th__sr_count(&r, 4, 1), 0); /* above max */
    CHECK(r.bad);
    th__sr_init(&r, cnt, sizeof cnt);
    CHECK_INT(th__sr_count(&r, 100, 9), 0); /* 5 * 9 > 40 bytes left */
    CHECK(r.bad);
    cnt[0] = 0;
    th__sr_init(&r, cnt, sizeof cnt);
    CHECK_INT(th__sr_count(&r, 100, 8), 0); /* zero is a fine count */
    CHECK(!r.bad);
    /* An absurd count (2^63) is refused, whatever max says. */
    memset(cnt, 0, 8);
    cnt[7] = 0x80;
    th__sr_init(&r, cnt, sizeof cnt);
    CHECK_INT(th__sr_count(&r, UINT64_MAX, 1), 0);
    CHECK(r.bad);
    /* min_bytes 0 only checks max. */
    th__sr_init(&r, cnt, sizeof cnt);
    CHECK(th__sr_count(&r, UINT64_MAX, 0) == UINT64_C(1) << 63);
    CHECK(!r.bad);
}

/* ---- groups ---------------------------------------------------------------------------- */

struct entry {
    struct th_group g;
    int payload;
    char *owned; /* freed by the drop callback, so leaks show up under ASan */
};

struct drops {
    size_t freed, evicted;
};

static void on_drop(void *ctx, struct th_group *g, enum th_group_drop why)
{
    struct drops *d = ctx;
    struct entry *e = (struct entry *)g;
    d->freed += why == TH_GROUP_FREED;
    d->evicted += why == TH_GROUP_EVICTED;
    free(e->owned);
    e->owned = NULL;
}

static void save_entry(void *ctx, const struct th_group *g, struct th_state_writer *w)
{
    TH_UNUSED(ctx);
    const struct entry *e = (const struct entry *)g;
    th__sw_u32(w, (uint32_t)e->payload);
    th__sw_str(w, e->owned);
}

static bool load_entry(void *ctx, struct th_group *g, struct th_state_reader *r)
{
    TH_UNUSED(ctx);
    struct entry *e = (struct entry *)g;
    e->payload = (int)th__sr_u32(r);
    e->owned = th__sr_str(r); /* kept even when refusing: the drop callback frees it */
    return !r->bad && e->payload >= 0;
}

/* The keys from oldest to newest, with each payload and expiry. */
static const char *describe(const struct th_group_table *t)
{
    static char out[512];
    out[0] = '\0';
    for (const struct th_group *g = t->oldest; g; g = g->newer) {
        const struct entry *e = (const struct entry *)g;
        size_t l = strlen(out);
        snprintf(out + l, sizeof out - l, "%s%.*s=%d/%lld/%s", l ? " " : "", (int)g->key_len,
                 g->key, e->payload, (long long)g->expire_ms, e->owned ? e->owned : "-");
    }
    return out;
}

static void put(struct th_group_table *t, const char *key, int payload, int64_t expire,
                const char *owned)
{
    bool created;
    struct entry *e = (struct entry *)th__groups_get(t, key, strlen(key), &created);
    CHECK(e != NULL);
    e->payload = payload;
    e->g.expire_ms = expire;
    if (created && owned)
        e->owned = th__strdup(owned);
}

/* Saves t into b. */
static void save_table(const struct th_group_table *t, struct buf *b)
{
    struct th_state_writer w;
    th__sw_init(&w, buf_open(b));
    th__groups_save(t, &w, save_entry, NULL);
    CHECK(!w.failed);
    buf_close(b);
}

static void test_groups(void)
{
    struct drops d = {0, 0};
    struct th_group_table t;
    CHECK_INT(th__groups_init(&t, sizeof(struct entry), 10, on_drop, &d), 0);
    put(&t, "alice", 1, 100, "a");
    put(&t, "bob", 2, 200, NULL);
    put(&t, "carol", 3, -5, "c");
    put(&t, "alice", 4, 400, NULL); /* touched again: now the newest */
    const char *keyed = "k\x1fv";   /* a key with the group separator */
    put(&t, keyed, 5, INT64_MIN, "");
    char want[512];
    snprintf(want, sizeof want, "%s", describe(&t));
    CHECK_STR(want, "bob=2/200/- carol=3/-5/c alice=4/400/a k\x1fv=5/-9223372036854775808/");

    struct buf b;
    save_table(&t, &b);

    struct drops d2 = {0, 0};
    struct th_group_table u;
    CHECK_INT(th__groups_init(&u, sizeof(struct entry), 10, on_drop, &d2), 0);
    struct th_state_reader r;
    th__sr_init(&r, b.p, b.len);
    CHECK(th__groups_load(&u, &r, load_entry, NULL));
    CHECK(r.p == r.end);
    CHECK_STR(describe(&u), want);
    CHECK_INT(u.count, 4);
    /* Every key is findable in the rebuilt hash table, and the LRU goes on from there. */
    bool created;
    CHECK(th__groups_get(&u, "carol", 5, &created) != NULL && !created);
    CHECK(th__groups_get(&u, keyed, strlen(keyed), &created) != NULL && !created);
    CHECK_STR(describe(&u), "bob=2/200/- alice=4/400/a carol=3/-5/c "
                            "k\x1fv=5/-9223372036854775808/");
    /* Expiry then drops what the original would have dropped: the oldest first. */
    th__groups_expire(&u, 300);
    CHECK_STR(describe(&u), "alice=4/400/a carol=3/-5/c k\x1fv=5/-9223372036854775808/");
    th__groups_fini(&u);

    /* A snapshot larger than this run's cap keeps its newest groups. */
    d2 = (struct drops){0, 0};
    CHECK_INT(th__groups_init(&u, sizeof(struct entry), 2, on_drop, &d2), 0);
    th__sr_init(&r, b.p, b.len);
    CHECK(th__groups_load(&u, &r, load_entry, NULL));
    CHECK_STR(describe(&u), "alice=4/400/a k\x1fv=5/-9223372036854775808/");
    CHECK_INT(u.evicted, 2);
    CHECK_INT(d2.evicted, 2);
    th__groups_fini(&u);

    /* Every truncation fails and leaves the table empty, with nothing leaked. */
    for (size_t cut = 0; cut < b.len; cut++) {
        CHECK_INT(th__groups_init(&u, sizeof(struct entry), 10, on_drop, &d2), 0);
        th__sr_init(&r, b.p, cut);
        if (th__groups_load(&u, &r, load_entry, NULL)) {
            fprintf(stderr, "truncation at %zu loaded\n", cut);
            CHECK(false);
        }
        CHECK(r.bad);
        CHECK_INT(u.count, 0);
        CHECK(u.oldest == NULL && u.newest == NULL);
        th__groups_fini(&u);
    }
    free(b.p);

    /* A refused entry (a negative payload here) empties the table, freeing each group. */
    put(&t, "dave", -1, 1, "d");
    save_table(&t, &b);
    d2 = (struct drops){0, 0};
    CHECK_INT(th__groups_init(&u, sizeof(struct entry), 10, on_drop, &d2), 0);
    th__sr_init(&r, b.p, b.len);
    CHECK(!th__groups_load(&u, &r, load_entry, NULL));
    CHECK_INT(u.count, 0);
    CHECK_INT(d2.freed, 5);
    th__groups_fini(&u);
    free(b.p);

    /* A key given twice is malformed. */
    struct th_state_writer w;
    th__sw_init(&w, buf_open(&b));
    th__sw_u64(&w, 2);
    for (int i = 0; i < 2; i++) {
        th__sw_bytes(&w, "same", 4);
        th__sw_i64(&w, 1);
        th__sw_u32(&w, 1);
        th__sw_str(&w, "x");
    }
    buf_close(&b);
    CHECK_INT(th__groups_init(&u, sizeof(struct entry), 10, on_drop, &d2), 0);
    th__sr_init(&r, b.p, b.len);
    CHECK(!th__groups_load(&u, &r, load_entry, NULL));
    CHECK_INT(u.count, 0);
    th__groups_fini(&u);
    free(b.p);

    /* An absurd group count is refused before any allocation. */
    unsigned char huge[8 + 12] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    CHECK_INT(th__groups_init(&u, sizeof(struct entry), 10, on_drop, &d2), 0);
    th__sr_init(&r, huge, sizeof huge);
    CHECK(!th__groups_load(&u, &r, load_entry, NULL));
    th__groups_fini(&u);

    /* An empty table round-trips to an empty table. */
    struct th_group_table e;
    CHECK_INT(th__groups_init(&e, sizeof(struct entry), 10, on_drop, &d2), 0);
    save_table(&e, &b);
    CHECK_INT(b.len, 8);
    th__sr_init(&r, b.p, b.len);
    CHECK(th__groups_load(&e, &r, load_entry, NULL));
    CHECK_INT(e.count, 0);
    th__groups_fini(&e);
    free(b.p);

    th__groups_fini(&t);
}

/* ---- signal states --------------------------------------------------------------------- */

struct emits {
    size_t n;
    enum th_signal_status last;
    char id[33];
};

static void on_emit(void *ctx, const struct th_signal *s)
{
    struct emits *k = ctx;
    k->n++;
    k->last = s->status;
    memcpy(k->id, s->st->id, 33);
}

/* An event (json-c tree and raw text) at time t with eventID id. */
struct evt {
    json_object *obj;
    char text[160];
    struct th_event ev;
};

static void event(struct evt *e, int64_t t, const char *id)
{
    snprintf(e->text, sizeof e->text, "{\"eventTime\":\"x\",\"eventID\":\"%s\"}", id);
    e->obj = json_tokener_parse(e->text);
    CHECK(e->obj != NULL);
    th__event_reset(&e->ev, e->obj, t, "test", 1, e->text, strlen(e->text));
}

static bool sig_equal(const struct th_sigstate *a, const struct th_sigstate *b)
{
    if (a->open != b->open || a->case_idx != b->case_idx || a->first_seen != b->first_seen ||
        a->last_seen != b->last_seen || a->last_match != b->last_match ||
        a->events_matched != b->events_matched || strcmp(a->id, b->id) != 0 ||
        a->nevent_ids != b->nevent_ids || a->nsamples != b->nsamples)
        return false;
    for (size_t i = 0; i < a->nevent_ids; i++)
        if (strcmp(a->event_ids[i], b->event_ids[i]) != 0)
            return false;
    for (size_t i = 0; i < a->nsamples; i++)
        if (strcmp(a->samples[i], b->samples[i]) != 0)
            return false;
    if (!a->message != !b->message || (a->message && strcmp(a->message, b->message) != 0))
        return false;
    return !a->details == !b->details && (!a->details || strcmp(a->details, b->details) == 0);
}

static void test_signals(void)
{
    struct th_rule_case cases[2] = {{"first", TH_SEVERITY_HIGH, NULL},
                                    {"second", TH_SEVERITY_LOW, NULL}};
    struct th_rule rule;
    memset(&rule, 0, sizeof rule);
    rule.id = "test-state";
    rule.name = "State under test";
    rule.cases = cases;
    rule.ncases = 2;
    rule.keep_alive_ms = 600000;
    rule.max_signal_duration_ms = 3600000;
    struct emits k = {0, TH_SIGNAL_NEW, ""};
    struct th_signal_env env = {on_emit, &k, true, 3, 4};

    /* An empty state is one byte and comes back empty. */
    struct th_sigstate st;
    memset(&st, 0, sizeof st);
    struct buf b;
    struct th_state_writer w;
    th__sw_init(&w, buf_open(&b));
    th__sig_save(&st, &w);
    buf_close(&b);
    CHECK_INT(b.len, 1);
    struct th_sigstate back;
    struct th_state_reader r;
    th__sr_init(&r, b.p, b.len);
    CHECK(th__sig_load(&back, &r));
    CHECK(sig_equal(&st, &back));
    free(b.p);

    /* An open signal with two matches, details and a (hand-set) message. */
    struct evt e;
    event(&e, 1000, "ev-1");
    CHECK_INT(th__sig_match(&st, &env, &rule, "key", 3, 1, &e.ev, 500, 7, "{\"a\":1}"),
              TH_SIGNAL_NEW);
    json_object_put(e.obj);
    event(&e, 2000, "ev-2");
    CHECK_INT(th__sig_match(&st, &env, &rule, "key", 3, 1, &e.ev, 500, 7, "{\"a\":2}"),
              TH_SIGNAL_UPDATE);
    json_object_put(e.obj);
    st.message = th__strdup("a message");
    th__sw_init(&w, buf_open(&b));
    th__sig_save(&st, &w);
    buf_close(&b);
    th__sr_init(&r, b.p, b.len);
    CHECK(th__sig_load(&back, &r));
    CHECK(r.p == r.end);
    CHECK(sig_equal(&st, &back));
    CHECK(back.open);
    CHECK_INT(back.case_idx, 1);
    CHECK_INT(back.first_seen, 500);
    CHECK_INT(back.events_matched, 8);
    CHECK_INT(back.nevent_ids, 2);
    CHECK_STR(back.details, "{\"a\":2}");

    /* Both go on the same way: ids stay, event ids and samples grow up to their caps
     * (4 and 3) without overrunning what load allocated. */
    for (int i = 3; i <= 6; i++) {
        char id[16];
        snprintf(id, sizeof id, "ev-%d", i);
        struct th_sigstate *both[2] = {&st, &back};
        for (int j = 0; j < 2; j++) {
            event(&e, 1000 * i, id);
            CHECK_INT(th__sig_match(both[j], &env, &rule, "key", 3, 0, &e.ev, 0, 0, NULL),
                      TH_SIGNAL_UPDATE);
            json_object_put(e.obj);
        }
        CHECK(sig_equal(&st, &back));
    }
    CHECK_INT(back.nevent_ids, 4);
    CHECK_INT(back.nsamples, 3);
    CHECK_STR(back.event_ids[3], "ev-4");
    CHECK_STR(k.id, st.id);

    /* Every truncation fails, leaving the state empty (ASan checks nothing leaks). */
    for (size_t cut = 0; cut < b.len; cut++) {
        struct th_sigstate t;
        th__sr_init(&r, b.p, cut);
        if (th__sig_load(&t, &r)) {
            fprintf(stderr, "signal truncated at %zu loaded\n", cut);
            CHECK(false);
        }
        CHECK(r.bad);
        CHECK(!t.open && !t.event_ids && !t.samples && !t.message && !t.details);
    }
    /* A kind byte other than 0 or 1 is refused. */
    unsigned char kind = 2;
    th__sr_init(&r, &kind, 1);
    struct th_sigstate other;
    CHECK(!th__sig_load(&other, &r));
    CHECK(r.bad);
    free(b.p);
    th__sig_fini(&st);
    th__sig_fini(&back);
}

/* ---- the snapshot file ----------------------------------------------------------------- */

/* A detector that holds one number. 666 refuses to load; 777 saves a byte more than it
 * loads; 888 saves three blobs of BIG bytes, so that loading crosses the reader's page
 * release steps (8 MiB) while a borrowed pointer into the first blob is still in use. */
struct fake {
    uint32_t value;
    bool big_ok; /* 888: the three blobs read back intact */
};

#define BIG (5u << 20)

static unsigned char big_byte(size_t blob, size_t i)
{
    return (unsigned char)(i * 7 + blob * 13 + (i >> 12));
}

static int inits;

static int fake_init(struct th_detector *d, struct th_err *err)
{
    TH_UNUSED(err);
    d->impl = calloc(1, sizeof(struct fake));
    inits++;
    return d->impl ? 0 : TH_ENOMEM;
}

static void fake_fini(struct th_detector *d)
{
    free(d->impl);
    d->impl = NULL;
}

static void fake_save(const struct th_detector *d, struct th_state_writer *w)
{
    const struct fake *f = d->impl;
    th__sw_u32(w, f->value);
    if (f->value == 777)
        th__sw_u8(w, 0);
    if (f->value == 888) {
        unsigned char *blob = malloc(BIG);
        for (size_t b = 0; b < 3 && blob; b++) {
            for (size_t i = 0; i < BIG; i++)
                blob[i] = big_byte(b, i);
            th__sw_bytes(w, blob, BIG);
        }
        free(blob);
    }
}

static int fake_load(struct th_detector *d, struct th_state_reader *r, struct th_err *err)
{
    struct fake *f = d->impl;
    uint32_t v = th__sr_u32(r);
    if (r->bad || v == 666)
        return th__err(err, TH_ESTATE, NULL, "refused %u", v);
    f->value = v;
    if (v == 888) {
        size_t len[3];
        const char *p[3];
        for (int b = 0; b < 3; b++)
            p[b] = th__sr_bytes(r, &len[b]);
        f->big_ok = !r->bad;
        /* The first blob's pages were handed back meanwhile: still readable. */
        for (int b = 0; b < 3 && f->big_ok; b++) {
            f->big_ok = len[b] == BIG;
            for (size_t i = 0; i < BIG && f->big_ok; i++)
                f->big_ok = (unsigned char)p[b][i] == big_byte((size_t)b, i);
        }
    }
    return 0;
}

static const struct th_detector_ops fake_ops = {
    .method = TH_METHOD_THRESHOLD,
    .init = fake_init,
    .fini = fake_fini,
    .save = fake_save,
    .load = fake_load,
};

#define NDET 3

struct world {
    struct th_rule rules[NDET];
    struct th_detector det[NDET];
    char log[2048];
};

static void log_cb(void *ctx, const char *msg)
{
    struct world *w = ctx;
    size_t l = strlen(w->log);
    snprintf(w->log + l, sizeof w->log - l, "%s\n", msg);
}

static void world_init(struct world *w, const uint32_t values[NDET])
{
    static const char *const ids[NDET] = {"rule-a", "rule-b", "rule-c"};
    memset(w, 0, sizeof *w);
    for (int i = 0; i < NDET; i++) {
        w->rules[i].id = (char *)ids[i];
        w->rules[i].fingerprint = 100 + (uint64_t)i;
        w->rules[i].method = TH_METHOD_THRESHOLD;
        w->det[i].ops = &fake_ops;
        w->det[i].rule = &w->rules[i];
        CHECK_INT(fake_init(&w->det[i], NULL), 0);
        ((struct fake *)w->det[i].impl)->value = values ? values[i] : 0;
    }
}

static void world_fini(struct world *w)
{
    for (int i = 0; i < NDET; i++)
        fake_fini(&w->det[i]);
}

static uint32_t value(const struct world *w, int i)
{
    return ((const struct fake *)w->det[i].impl)->value;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc(*len ? *len : 1);
    CHECK(fread(p, 1, *len, f) == *len);
    fclose(f);
    return p;
}

static void write_all(const char *path, const void *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK(fwrite(p, 1, len, f) == len);
    fclose(f);
}

/* Loads dir into a fresh world; returns the code, err filled. */
static int load_into(struct world *w, const char *dir, struct th_state_clock *clock,
                     struct th_err *err)
{
    world_init(w, NULL);
    uint64_t bytes = 0;
    return th__state_load(dir, clock, w->det, NDET, log_cb, w, &bytes, err);
}

static void test_file(void)
{
    char root[] = "/tmp/test_state.XXXXXX";
    CHECK(mkdtemp(root) != NULL);
    char dir[256], path[300], tmp[300];
    snprintf(dir, sizeof dir, "%s/a/b/state", root);
    snprintf(path, sizeof path, "%s/" TH_STATE_FILE, dir);
    snprintf(tmp, sizeof tmp, "%s/" TH_STATE_FILE ".tmp", dir);
    struct th_err err = {{0}, {0}};

    /* The directory is created, parents too, mode 0700; locked once at a time. */
    int lock = -1, lock2 = -1;
    CHECK_INT(th__state_open_dir(dir, &lock, &err), 0);
    CHECK(lock >= 0);
    struct stat st;
    CHECK_INT(stat(dir, &st), 0);
    CHECK_INT(st.st_mode & 0777, 0700);
    CHECK_INT(th__state_open_dir(dir, &lock2, &err), TH_ESTATE);
    CHECK_CONTAINS(err.msg, "in use by another trailhound process");
    CHECK_INT(lock2, -1);
    close(lock);
    CHECK_INT(th__state_open_dir(dir, &lock, &err), 0);
    close(lock);
    /* A file where the directory should be. */
    char file_dir[300];
    snprintf(file_dir, sizeof file_dir, "%s/plain", root);
    write_all(file_dir, "x", 1);
    CHECK_INT(th__state_open_dir(file_dir, &lock, &err), TH_EIO);
    CHECK_CONTAINS(err.msg, "cannot create the state directory");

    /* A missing snapshot is an empty start: the clock stays as it was. */
    struct world w;
    struct th_state_clock clock = {false, 42, 41};
    CHECK_INT(load_into(&w, dir, &clock, &err), 0);
    CHECK(!clock.have_time && clock.newest == 42 && clock.watermark == 41);
    world_fini(&w);

    /* Save and load back. */
    const uint32_t values[NDET] = {11, 22, 33};
    world_init(&w, values);
    struct th_state_clock saved = {true, INT64_C(1709546400000), INT64_C(1709545500000)};
    uint64_t bytes = 0;
    CHECK_INT(th__state_save(dir, &saved, w.det, NDET, &bytes, &err), 0);
    world_fini(&w);
    CHECK_INT(stat(path, &st), 0);
    CHECK_INT(st.st_mode & 0777, 0600);
    CHECK_INT((uint64_t)st.st_size, bytes);
    CHECK(access(tmp, F_OK) != 0); /* renamed away */
    clock = (struct th_state_clock){false, 0, 0};
    CHECK_INT(load_into(&w, dir, &clock, &err), 0);
    CHECK(clock.have_time && clock.newest == saved.newest && clock.watermark == saved.watermark);
    CHECK_INT(value(&w, 0), 11);
    CHECK_INT(value(&w, 1), 22);
    CHECK_INT(value(&w, 2), 33);
    CHECK_STR(w.log, "");
    world_fini(&w);

    /* Rules no longer loaded: dropped, one warning with their number. */
    world_init(&w, NULL);
    uint64_t lb;
    CHECK_INT(th__state_load(dir, &clock, w.det + 1, 1, log_cb, &w, &lb, &err), 0);
    CHECK_INT(value(&w, 1), 22);
    CHECK_STR(w.log, "state: 2 rules in the snapshot are no longer loaded; their state was "
                     "dropped\n");
    CHECK_INT(lb, bytes);
    world_fini(&w);

    /* A rule whose file changed: its state is dropped with a warning, the others load. */
    world_init(&w, NULL);
    w.rules[1].fingerprint = 999;
    CHECK_INT(th__state_load(dir, &clock, w.det, NDET, log_cb, &w, &lb, &err), 0);
    CHECK_INT(value(&w, 0), 11);
    CHECK_INT(value(&w, 1), 0);
    CHECK_INT(value(&w, 2), 33);
    CHECK_STR(w.log, "state: rule rule-b changed since the snapshot was saved; its state was "
                     "dropped\n");
    world_fini(&w);

    /* A detector that refuses its section, or leaves bytes of it unread, starts empty
     * (re-initialised) with a warning; the others load. */
    const uint32_t odd[NDET] = {666, 5, 777};
    world_init(&w, odd);
    CHECK_INT(th__state_save(dir, &saved, w.det, NDET, &bytes, &err), 0);
    world_fini(&w);
    inits = 0;
    CHECK_INT(load_into(&w, dir, &clock, &err), 0);
    CHECK_INT(inits, NDET + 2);
    CHECK_INT(value(&w, 0), 0);
    CHECK_INT(value(&w, 1), 5);
    CHECK_INT(value(&w, 2), 0);
    CHECK_STR(w.log, "state: rule rule-a: refused 666; the rule starts with empty state\n"
                     "state: rule rule-c: section longer than its contents; the rule starts "
                     "with empty state\n");
    world_fini(&w);

    /* A snapshot larger than the release step loads intact. */
    const uint32_t big[NDET] = {888, 1, 2};
    world_init(&w, big);
    CHECK_INT(th__state_save(dir, &saved, w.det, NDET, &bytes, &err), 0);
    world_fini(&w);
    CHECK(bytes > 3 * BIG);
    CHECK_INT(load_into(&w, dir, &clock, &err), 0);
    CHECK_INT(value(&w, 0), 888);
    CHECK(((struct fake *)w.det[0].impl)->big_ok);
    CHECK_INT(value(&w, 2), 2);
    world_fini(&w);

    /* Damage: every truncation and every flipped byte is refused, nothing loaded. */
    world_init(&w, values);
    CHECK_INT(th__state_save(dir, &saved, w.det, NDET, &bytes, &err), 0);
    world_fini(&w);
    size_t len;
    char *good = read_all(path, &len);
    int refused = 0, loaded_anything = 0;
    for (size_t cut = 0; cut < len; cut++) {
        write_all(path, good, cut);
        clock = (struct th_state_clock){false, 0, 0};
        int rc = load_into(&w, dir, &clock, &err);
        refused += rc == TH_ESTATE && strstr(err.where, TH_STATE_FILE) != NULL;
        loaded_anything += clock.have_time || value(&w, 0) || value(&w, 1) || value(&w, 2);
        world_fini(&w);
    }
    CHECK_INT(refused, len);
    CHECK_INT(loaded_anything, 0);
    write_all(path, good, 5);
    CHECK_INT(load_into(&w, dir, &clock, &err), TH_ESTATE);
    CHECK_CONTAINS(err.msg, "truncated state file (5 bytes)");
    world_fini(&w);
    write_all(path, good, len - 1);
    CHECK_INT(load_into(&w, dir, &clock, &err), TH_ESTATE);
    CHECK_CONTAINS(err.msg, "checksum mismatch");
    world_fini(&w);

    refused = loaded_anything = 0;
    char *bad = malloc(len);
    for (size_t i = 0; i < len; i++) {
        memcpy(bad, good, len);
        bad[i] ^= 0x20;
        write_all(path, bad, len);
        clock = (struct th_state_clock){false, 0, 0};
        int rc = load_into(&w, dir, &clock, &err);
        refused += rc == TH_ESTATE;
        loaded_anything += clock.have_time || value(&w, 0) || value(&w, 1) || value(&w, 2);
        world_fini(&w);
    }
    CHECK_INT(refused, len);
    CHECK_INT(loaded_anything, 0);

    memcpy(bad, good, len);
    bad[0] = 'X';
    write_all(path, bad, len);
    CHECK_INT(load_into(&w, dir, &clock, &err), TH_ESTATE);
    CHECK_STR(err.msg, "not a trailhound state file (bad magic); start over with --reset-state");
    CHECK_STR(err.where, path);
    world_fini(&w);
    /* Another format version is named, before any checksum is looked at. */
    memcpy(bad, good, len);
    bad[8] = TH_STATE_FORMAT_VERSION + 1;
    write_all(path, bad, len);
    CHECK_INT(load_into(&w, dir, &clock, &err), TH_ESTATE);
    char want[200];
    snprintf(want, sizeof want, "state format version %d, this build reads version %d; start "
             "over with --reset-state", TH_STATE_FORMAT_VERSION + 1, TH_STATE_FORMAT_VERSION);
    CHECK_STR(err.msg, want);
    world_fini(&w);
    free(bad);

    /* Two sections for one rule id are malformed (a sound checksum notwithstanding). */
    world_init(&w, values);
    w.rules[2].id = "rule-a";
    CHECK_INT(th__state_save(dir, &saved, w.det, NDET, &bytes, &err), 0);
    world_fini(&w);
    CHECK_INT(load_into(&w, dir, &clock, &err), TH_ESTATE);
    CHECK_CONTAINS(err.msg, "malformed state file");
    CHECK_INT(value(&w, 0), 0);
    world_fini(&w);

    /* A save that cannot write leaves the previous snapshot in place. */
    write_all(path, good, len);
    CHECK_INT(mkdir(tmp, 0700), 0); /* the temporary file's name is taken by a directory */
    world_init(&w, NULL);
    CHECK_INT(th__state_save(dir, &saved, w.det, NDET, &bytes, &err), TH_EIO);
    CHECK_CONTAINS(err.msg, "cannot save the state");
    world_fini(&w);
    size_t len2;
    char *after = read_all(path, &len2);
    CHECK(len2 == len && memcmp(after, good, len) == 0);
    free(after);
    rmdir(tmp);
    free(good);

    /* A state directory that vanished. */
    char gone[300];
    snprintf(gone, sizeof gone, "%s/gone", root);
    world_init(&w, NULL);
    CHECK_INT(th__state_save(gone, &saved, w.det, NDET, &bytes, &err), TH_EIO);
    world_fini(&w);

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK_INT(system(cmd), 0);
}

int main(void)
{
    test_round_trip();
    test_writer_failure();
    test_bounds();
    test_groups();
    test_signals();
    test_file();
    return CHECK_DONE();
}
