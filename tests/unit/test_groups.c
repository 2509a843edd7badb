/*
 * test_groups.c - the group table (groups.c): creation and lookup, the LRU order (a get
 * moves a group to the newest end), eviction at the cap with the drop callback and the
 * counter, expiry by expire_ms stopping at the first live group, rehashing under 10,000
 * keys with every key still findable, keys holding NUL and TH_GROUP_SEP bytes, and fini
 * dropping every group with TH_GROUP_FREED.
 */
#include "groups.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common.h"

/* A detector's entry: the group first, then its own state. */
struct entry {
    struct th_group g;
    int payload;
    char *owned; /* freed by the drop callback, so leaks show up under ASan */
};

#define MAXDROPS 64

/* What the drop callback saw, in order. */
struct drops {
    size_t n;
    char key[MAXDROPS][32];
    size_t key_len[MAXDROPS];
    enum th_group_drop why[MAXDROPS];
    int payload[MAXDROPS];
    size_t count_seen[MAXDROPS]; /* the table's count while the callback ran */
    struct th_group_table *t;
};

static void on_drop(void *ctx, struct th_group *g, enum th_group_drop why)
{
    struct drops *d = ctx;
    struct entry *e = (struct entry *)g;
    if (d->n < MAXDROPS) {
        size_t l = g->key_len < sizeof d->key[0] ? g->key_len : sizeof d->key[0];
        memcpy(d->key[d->n], g->key, l);
        d->key_len[d->n] = g->key_len;
        d->why[d->n] = why;
        d->payload[d->n] = e->payload;
        d->count_seen[d->n] = d->t ? d->t->count : 0;
    }
    d->n++;
    free(e->owned);
    e->owned = NULL;
}

static struct entry *get(struct th_group_table *t, const char *key, bool *created)
{
    return (struct entry *)th__groups_get(t, key, strlen(key), created);
}

/* The keys from oldest to newest, space-separated; checks the back links on the way. */
static const char *lru_order(const struct th_group_table *t)
{
    static char out[512];
    out[0] = '\0';
    size_t n = 0;
    const struct th_group *prev = NULL;
    for (const struct th_group *g = t->oldest; g; g = g->newer) {
        if (g->older != prev) {
            snprintf(out, sizeof out, "broken back link at %.*s", (int)g->key_len, g->key);
            return out;
        }
        size_t l = strlen(out);
        snprintf(out + l, sizeof out - l, "%s%.*s", l ? " " : "", (int)g->key_len, g->key);
        prev = g;
        n++;
    }
    if (prev != t->newest)
        return "newest does not end the list";
    if (n != t->count)
        return "list length differs from count";
    return out;
}

static void test_create_lookup(void)
{
    struct drops d = {0};
    struct th_group_table t;
    CHECK_INT(th__groups_init(&t, sizeof(struct entry), 10, on_drop, &d), 0);
    d.t = &t;
    CHECK_INT(t.count, 0);
    CHECK_INT(t.max, 10);
    CHECK(t.oldest == NULL && t.newest == NULL);

    bool created = false;
    struct entry *a = get(&t, "alice", &created);
    CHECK(a != NULL);
    CHECK(created);
    if (!a)
        return;
    /* A new entry is zeroed beyond the group header, and the key is an owned copy. */
    CHECK_INT(a->payload, 0);
    CHECK(a->owned == NULL);
    CHECK_INT(a->g.expire_ms, 0);
    CHECK_INT(a->g.key_len, 5);
    CHECK_STR(a->g.key, "alice");
    a->payload = 1;

    char key[] = "bob";
    struct entry *b = (struct entry *)th__groups_get(&t, key, 3, &created);
    CHECK(created);
    CHECK(b != a);
    key[0] = 'X'; /* the table copied the key */
    CHECK_STR(b->g.key, "bob");
    b->payload = 2;

    created = true;
    struct entry *a2 = get(&t, "alice", &created);
    CHECK(a2 == a);
    CHECK(!created);
    CHECK_INT(a2->payload, 1);
    CHECK_INT(t.count, 2);

    /* A prefix or an extension of a key is another key. */
    struct entry *al = get(&t, "alic", &created);
    CHECK(created);
    CHECK(al != a);
    struct entry *ae = get(&t, "alicee", &created);
    CHECK(created);
    CHECK(ae != a);
    /* The empty key (a rule without group_by) is a key like any other. */
    struct entry *empty = (struct entry *)th__groups_get(&t, "", 0, &created);
    CHECK(created);
    CHECK_INT(empty->g.key_len, 0);
    CHECK_STR(empty->g.key, "");
    CHECK((struct entry *)th__groups_get(&t, "", 0, &created) == empty);
    CHECK(!created);
    CHECK_INT(t.count, 5);
    CHECK_INT(t.evicted, 0);
    CHECK_INT(t.expired, 0);
    CHECK_INT(d.n, 0);

    th__groups_fini(&t);
    CHECK_INT(d.n, 5);
    CHECK(t.buckets == NULL);
    CHECK_INT(t.count, 0);
}

static void test_lru_order(void)
{
    struct drops d = {0};
    struct th_group_table t;
    CHECK_INT(th__groups_init(&t, sizeof(struct entry), 100, on_drop, &d), 0);
    bool created;
    get(&t, "a", &created);
    get(&t, "b", &created);
    get(&t, "c", &created);
    CHECK_STR(lru_order(&t), "a b c");
    get(&t, "a", &created); /* the oldest becomes the newest */
    CHECK_STR(lru_order(&t), "b c a");
    get(&t, "c", &created); /* a middle one */
    CHECK_STR(lru_order(&t), "b a c");
    get(&t, "c", &created); /* the newest stays where it is */
    CHECK_STR(lru_order(&t), "b a c");
    get(&t, "d", &created);
    CHECK_STR(lru_order(&t), "b a c d");
    CHECK(created);
    th__groups_fini(&t);
    CHECK_INT(d.n, 4);
    /* fini walks from the oldest. */
    CHECK_STR(d.key[0], "b");
    CHECK_STR(d.key[3], "d");
}

static void test_eviction(void)
{
    struct drops d = {0};
    struct th_group_table t;
    CHECK_INT(th__groups_init(&t, sizeof(struct entry), 3, on_drop, &d), 0);
    d.t = &t;
    bool created;
    const char *keys[] = {"k1", "k2", "k3"};
    for (int i = 0; i < 3; i++) {
        struct entry *e = get(&t, keys[i], &created);
        e->payload = 10 + i;
        e->owned = th__strdup(keys[i]);
    }
    CHECK_INT(t.count, 3);
    CHECK_INT(d.n, 0);

    /* k1 is touched, so k2 is now the least recently used and goes first. */
    get(&t, "k1", &created);
    struct entry *k4 = get(&t, "k4", &created);
    CHECK(created);
    k4->payload = 13;
    CHECK_INT(t.count, 3);
    CHECK_INT(t.evicted, 1);
    CHECK_INT(d.n, 1);
    CHECK_STR(d.key[0], "k2");
    CHECK_INT(d.key_len[0], 2);
    CHECK_INT(d.why[0], TH_GROUP_EVICTED);
    CHECK_INT(d.payload[0], 11); /* the callback sees the entry before it is freed */
    CHECK_INT(d.count_seen[0], 2); /* unlinked first, then handed over */
    CHECK_STR(lru_order(&t), "k3 k1 k4");

    /* The evicted key comes back as a fresh, zeroed entry (and evicts k3). */
    struct entry *k2 = get(&t, "k2", &created);
    CHECK(created);
    CHECK_INT(k2->payload, 0);
    CHECK_INT(t.evicted, 2);
    CHECK_STR(d.key[1], "k3");
    CHECK_INT(d.why[1], TH_GROUP_EVICTED);
    CHECK_STR(lru_order(&t), "k1 k4 k2");

    /* Lookups of present keys never evict. */
    get(&t, "k1", &created);
    get(&t, "k4", &created);
    CHECK_INT(t.evicted, 2);
    CHECK_INT(d.n, 2);

    th__groups_fini(&t);
    CHECK_INT(d.n, 5);
    for (size_t i = 2; i < d.n; i++)
        CHECK_INT(d.why[i], TH_GROUP_FREED);
    CHECK_INT(t.evicted, 0); /* fini zeroes the table */

    /* A cap of 0 means 1: each new key evicts the previous one. */
    struct drops d1 = {0};
    CHECK_INT(th__groups_init(&t, sizeof(struct entry), 0, on_drop, &d1), 0);
    CHECK_INT(t.max, 1);
    get(&t, "x", &created);
    get(&t, "y", &created);
    get(&t, "y", &created);
    get(&t, "z", &created);
    CHECK_INT(t.count, 1);
    CHECK_INT(t.evicted, 2);
    CHECK_STR(d1.key[0], "x");
    CHECK_STR(d1.key[1], "y");
    CHECK_STR(lru_order(&t), "z");
    th__groups_fini(&t);
    CHECK_INT(d1.n, 3);
    CHECK_INT(d1.why[2], TH_GROUP_FREED);

    /* No callback at all is fine. */
    CHECK_INT(th__groups_init(&t, sizeof(struct th_group), 1, NULL, NULL), 0);
    get(&t, "p", &created);
    get(&t, "q", &created);
    CHECK_INT(t.evicted, 1);
    th__groups_fini(&t);
}

static void test_expiry(void)
{
    struct drops d = {0};
    struct th_group_table t;
    CHECK_INT(th__groups_init(&t, sizeof(struct entry), 100, on_drop, &d), 0);
    d.t = &t;
    bool created;
    /* Oldest first: a(100) b(200) c(50) e(300): c expires early but sits behind b. */
    get(&t, "a", &created)->g.expire_ms = 100;
    get(&t, "b", &created)->g.expire_ms = 200;
    get(&t, "c", &created)->g.expire_ms = 50;
    get(&t, "e", &created)->g.expire_ms = 300;

    th__groups_expire(&t, 100); /* a is due at 100, not before it: nothing goes */
    CHECK_INT(t.count, 4);
    CHECK_INT(t.expired, 0);
    CHECK_INT(d.n, 0);

    th__groups_expire(&t, 101); /* a goes; b is live and stops the walk before c */
    CHECK_INT(t.expired, 1);
    CHECK_INT(d.n, 1);
    CHECK_STR(d.key[0], "a");
    CHECK_INT(d.why[0], TH_GROUP_EXPIRED);
    CHECK_STR(lru_order(&t), "b c e");

    th__groups_expire(&t, 201); /* b, then c (overdue), then e is live */
    CHECK_INT(t.expired, 3);
    CHECK_INT(d.n, 3);
    CHECK_STR(d.key[1], "b");
    CHECK_STR(d.key[2], "c");
    CHECK_INT(d.why[2], TH_GROUP_EXPIRED);
    CHECK_STR(lru_order(&t), "e");

    /* A touch moves a group behind the others, whatever its expiry. */
    get(&t, "f", &created)->g.expire_ms = 1000;
    get(&t, "e", &created);
    CHECK_STR(lru_order(&t), "f e");
    th__groups_expire(&t, 500); /* f (1000) is oldest and live: e (300) waits */
    CHECK_INT(t.count, 2);
    th__groups_expire(&t, INT64_MAX);
    CHECK_INT(t.count, 0);
    CHECK_INT(t.expired, 5);
    CHECK_STR(lru_order(&t), "");
    CHECK(t.oldest == NULL && t.newest == NULL);

    /* Expiring an empty table is a no-op; the table is usable afterwards. */
    th__groups_expire(&t, INT64_MAX);
    struct entry *g = get(&t, "again", &created);
    CHECK(created);
    CHECK(g != NULL);
    /* Negative times (before 1970) order like any others. */
    g->g.expire_ms = -5000;
    th__groups_expire(&t, -5000);
    CHECK_INT(t.count, 1);
    th__groups_expire(&t, -4999);
    CHECK_INT(t.count, 0);
    CHECK_INT(t.expired, 6);
    CHECK_INT(t.evicted, 0);
    th__groups_fini(&t);
    CHECK_INT(d.n, 6); /* nothing left for fini */
}

static void test_rehash(void)
{
    enum { N = 10000 };
    struct drops d = {0};
    struct th_group_table t;
    CHECK_INT(th__groups_init(&t, sizeof(struct entry), 2 * N, on_drop, &d), 0);
    size_t nb0 = t.nbuckets;
    bool created;
    size_t made = 0;
    for (int i = 0; i < N; i++) {
        char key[32];
        int n = snprintf(key, sizeof key, "arn:aws:iam::1:user/u%d", i);
        struct entry *e = (struct entry *)th__groups_get(&t, key, (size_t)n, &created);
        if (e && created) {
            e->payload = i;
            made++;
        }
    }
    CHECK_INT(made, N);
    CHECK_INT(t.count, N);
    CHECK(t.nbuckets > nb0);
    CHECK(t.nbuckets >= N);                      /* load stays at or below 1 */
    CHECK_INT(t.nbuckets & (t.nbuckets - 1), 0); /* a power of two: the mask works */
    CHECK_INT(t.evicted, 0);

    /* Every key is found, with its own entry, and no key was created twice. */
    size_t found = 0, right = 0;
    for (int i = 0; i < N; i++) {
        char key[32];
        int n = snprintf(key, sizeof key, "arn:aws:iam::1:user/u%d", i);
        struct entry *e = (struct entry *)th__groups_get(&t, key, (size_t)n, &created);
        found += e && !created;
        right += e && e->payload == i;
    }
    CHECK_INT(found, N);
    CHECK_INT(right, N);
    CHECK_INT(t.count, N);

    /* Every chain holds only entries of its bucket, and the chains hold every entry. */
    size_t chained = 0, misplaced = 0;
    for (size_t b = 0; b < t.nbuckets; b++)
        for (const struct th_group *g = t.buckets[b]; g; g = g->hnext) {
            chained++;
            misplaced += (g->hash & (t.nbuckets - 1)) != b;
        }
    CHECK_INT(chained, N);
    CHECK_INT(misplaced, 0);

    /* The second pass touched the keys in the same order: the LRU order is creation order. */
    size_t ordered = 0;
    int want = 0;
    for (const struct th_group *g = t.oldest; g; g = g->newer, want++)
        ordered += ((const struct entry *)g)->payload == want;
    CHECK_INT(ordered, N);

    /* Eviction and expiry after rehashing find their chains (a stale bucket index would
     * leave a dangling pointer that ASan reports). */
    t.max = N - 10;
    get(&t, "one more", &created);
    CHECK_INT(t.evicted, 11);
    CHECK_INT(t.count, N - 10);
    CHECK_INT(d.n, 11);
    CHECK_STR(d.key[0], "arn:aws:iam::1:user/u0");
    CHECK_STR(d.key[10], "arn:aws:iam::1:user/u10");
    th__groups_expire(&t, 1); /* every expire_ms is 0 */
    CHECK_INT(t.count, 0);
    CHECK_INT(t.expired, N - 10);
    th__groups_fini(&t);
    CHECK_INT(d.n, N + 1);
}

static void test_binary_keys(void)
{
    struct drops d = {0};
    struct th_group_table t;
    CHECK_INT(th__groups_init(&t, sizeof(struct entry), 100, on_drop, &d), 0);
    bool created;
    /* Keys with NUL bytes are compared over their full length. */
    struct entry *a = (struct entry *)th__groups_get(&t, "a\0b", 3, &created);
    CHECK(created);
    struct entry *b = (struct entry *)th__groups_get(&t, "a\0c", 3, &created);
    CHECK(created);
    CHECK(a != b);
    struct entry *c = (struct entry *)th__groups_get(&t, "a", 1, &created);
    CHECK(created);
    struct entry *c0 = (struct entry *)th__groups_get(&t, "a\0", 2, &created);
    CHECK(created);
    CHECK(c != c0);
    CHECK(c != a);
    CHECK_INT(a->g.key_len, 3);
    CHECK(memcmp(a->g.key, "a\0b", 3) == 0);
    CHECK_INT(a->g.key[3], '\0'); /* still NUL-terminated after its bytes */
    CHECK((struct entry *)th__groups_get(&t, "a\0b", 3, &created) == a);
    CHECK(!created);
    CHECK((struct entry *)th__groups_get(&t, "a\0", 2, &created) == c0);
    CHECK(!created);

    /* Group-by tuples: the separator is part of the key. ("x", "y") and ("xy") differ; the
     * empty values ("", "") differ from ("") and from the empty key. */
    char xy[] = {'x', TH_GROUP_SEP, 'y'};
    struct entry *t2 = (struct entry *)th__groups_get(&t, xy, 3, &created);
    CHECK(created);
    struct entry *t1 = (struct entry *)th__groups_get(&t, "xy", 2, &created);
    CHECK(created);
    CHECK(t1 != t2);
    char sep[] = {TH_GROUP_SEP};
    struct entry *e2 = (struct entry *)th__groups_get(&t, sep, 1, &created);
    CHECK(created);
    struct entry *e1 = (struct entry *)th__groups_get(&t, "", 0, &created);
    CHECK(created);
    CHECK(e1 != e2);
    CHECK((struct entry *)th__groups_get(&t, xy, 3, &created) == t2);
    CHECK(!created);
    /* High bytes and the whole byte range. */
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    struct entry *h = (struct entry *)th__groups_get(&t, all, 256, &created);
    CHECK(created);
    CHECK((struct entry *)th__groups_get(&t, all, 256, &created) == h);
    CHECK(!created);
    CHECK((struct entry *)th__groups_get(&t, all, 255, &created) != h);
    CHECK(created);
    CHECK_INT(t.count, 10);
    th__groups_fini(&t);
    CHECK_INT(d.n, 10);
    /* The oldest is "a\0c" ("a\0b" was touched again): the callback gets all 3 bytes. */
    CHECK_INT(d.key_len[0], 3);
    CHECK(memcmp(d.key[0], "a\0c", 3) == 0);
}

static void test_fini(void)
{
    struct drops d = {0};
    struct th_group_table t;
    CHECK_INT(th__groups_init(&t, sizeof(struct entry), 100, on_drop, &d), 0);
    bool created;
    for (int i = 0; i < 7; i++) {
        char key[16];
        snprintf(key, sizeof key, "g%d", i);
        struct entry *e = get(&t, key, &created);
        e->payload = i;
        e->owned = th__strdup(key); /* freed only by the callback: a missed drop leaks */
    }
    get(&t, "g0", &created);
    th__groups_fini(&t);
    CHECK_INT(d.n, 7);
    size_t freed = 0;
    for (size_t i = 0; i < d.n; i++)
        freed += d.why[i] == TH_GROUP_FREED;
    CHECK_INT(freed, 7);
    CHECK_STR(d.key[0], "g1");
    CHECK_STR(d.key[6], "g0");
    CHECK_INT(d.payload[6], 0);
    CHECK_INT(t.count, 0);
    CHECK(t.oldest == NULL);
    CHECK_INT(t.expired, 0);
    CHECK_INT(t.evicted, 0);

    /* fini of an empty table, and of a table already finished (zeroed). */
    struct drops d2 = {0};
    CHECK_INT(th__groups_init(&t, sizeof(struct entry), 5, on_drop, &d2), 0);
    th__groups_fini(&t);
    th__groups_fini(&t);
    CHECK_INT(d2.n, 0);
}

int main(void)
{
    test_create_lookup();
    test_lru_order();
    test_eviction();
    test_expiry();
    test_rehash();
    test_binary_keys();
    test_fini();
    return CHECK_DONE();
}
