/*
 * groups.c - a chained hash table with an intrusive LRU list (groups.h).
 *
 * The table doubles when the load passes 1; it never shrinks. Expiry walks from the least
 * recently touched end and stops at the first live group, so it costs nothing when nothing
 * is due; a group touched late with an old expiry waits behind fresher ones, which only
 * delays its drop.
 */
#include "groups.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "hash.h"

int th__groups_init(struct th_group_table *t, size_t entry_size, size_t max,
                    th_group_drop_fn drop, void *drop_ctx)
{
    memset(t, 0, sizeof *t);
    t->nbuckets = 64;
    t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
    if (!t->buckets)
        return TH_ENOMEM;
    t->entry_size = entry_size;
    t->max = max ? max : 1;
    t->drop = drop;
    t->drop_ctx = drop_ctx;
    return 0;
}

static void lru_unlink(struct th_group_table *t, struct th_group *g)
{
    if (g->older)
        g->older->newer = g->newer;
    else
        t->oldest = g->newer;
    if (g->newer)
        g->newer->older = g->older;
    else
        t->newest = g->older;
    g->older = g->newer = NULL;
}

static void lru_push_newest(struct th_group_table *t, struct th_group *g)
{
    g->older = t->newest;
    g->newer = NULL;
    if (t->newest)
        t->newest->newer = g;
    else
        t->oldest = g;
    t->newest = g;
}

static void remove_group(struct th_group_table *t, struct th_group *g, enum th_group_drop why)
{
    struct th_group **pp = &t->buckets[g->hash & (t->nbuckets - 1)];
    while (*pp != g)
        pp = &(*pp)->hnext;
    *pp = g->hnext;
    lru_unlink(t, g);
    t->count--;
    if (t->drop)
        t->drop(t->drop_ctx, g, why);
    free(g->key);
    free(g);
}

void th__groups_fini(struct th_group_table *t)
{
    while (t->oldest)
        remove_group(t, t->oldest, TH_GROUP_FREED);
    free(t->buckets);
    memset(t, 0, sizeof *t);
}

static void rehash(struct th_group_table *t)
{
    size_t n = t->nbuckets * 2;
    struct th_group **b = calloc(n, sizeof *b);
    if (!b)
        return; /* keep the longer chains; correctness does not depend on the load */
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct th_group *g = t->buckets[i];
        while (g) {
            struct th_group *next = g->hnext;
            size_t j = g->hash & (n - 1);
            g->hnext = b[j];
            b[j] = g;
            g = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

struct th_group *th__groups_get(struct th_group_table *t, const char *key, size_t len,
                                bool *created)
{
    uint64_t h = th__hash64(key, len, 0);
    *created = false;
    for (struct th_group *g = t->buckets[h & (t->nbuckets - 1)]; g; g = g->hnext) {
        if (g->hash == h && g->key_len == len && memcmp(g->key, key, len) == 0) {
            if (t->newest != g) {
                lru_unlink(t, g);
                lru_push_newest(t, g);
            }
            return g;
        }
    }
    while (t->count >= t->max && t->oldest) {
        remove_group(t, t->oldest, TH_GROUP_EVICTED);
        t->evicted++;
    }
    struct th_group *g = calloc(1, t->entry_size);
    if (!g)
        return NULL;
    g->key = th__strndup(key, len);
    if (!g->key) {
        free(g);
        return NULL;
    }
    g->key_len = len;
    g->hash = h;
    size_t i = h & (t->nbuckets - 1);
    g->hnext = t->buckets[i];
    t->buckets[i] = g;
    lru_push_newest(t, g);
    t->count++;
    if (t->count > t->nbuckets)
        rehash(t);
    *created = true;
    return g;
}

void th__groups_expire(struct th_group_table *t, int64_t watermark)
{
    while (t->oldest && t->oldest->expire_ms < watermark) {
        remove_group(t, t->oldest, TH_GROUP_EXPIRED);
        t->expired++;
    }
}
