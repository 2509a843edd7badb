/*
 * groups.c - a chained hash table with an intrusive LRU list (groups.h).
 *
 * The table doubles when the load passes 1; it never shrinks. Expiry walks from the least
 * recently touched end and stops at the first live group, so it costs nothing when nothing
 * is due; a group touched late with an old expiry waits behind fresher ones, which only
 * delays its drop.
 *
 * For --state, th__groups_save writes the groups from the least recently touched to the
 * most, and th__groups_load inserts them back in that order, so the LRU order (and with
 * it what expiry and eviction will do next) survives a restart; the hash layout is not
 * saved, it is rebuilt.
 */
#include "groups.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "hash.h"
#include "strbuf.h"
#include "state.h"

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

/* ---- --state (state.h) --------------------------------------------------------------- */

void th__groups_save(const struct th_group_table *t, struct th_state_writer *w,
                     th_group_save_fn save_entry, void *ctx)
{
    th__sw_u64(w, t->count);
    for (const struct th_group *g = t->oldest; g; g = g->newer) {
        th__sw_bytes(w, g->key, g->key_len);
        th__sw_i64(w, g->expire_ms);
        save_entry(ctx, g, w);
    }
}

bool th__groups_load(struct th_group_table *t, struct th_state_reader *r,
                     th_group_load_fn load_entry, void *ctx)
{
    /* A group is at least its key's length and expire_ms. */
    uint64_t n = th__sr_count(r, SIZE_MAX, 4 + 8);
    for (uint64_t i = 0; i < n && !r->bad; i++) {
        size_t len;
        const char *key = th__sr_bytes(r, &len);
        int64_t expire = th__sr_i64(r);
        if (r->bad)
            break;
        bool created;
        /* Inserted oldest first, each becomes the newest: the LRU order comes back. A
         * snapshot larger than this run's cap loses its oldest groups, counted as evicted. */
        struct th_group *g = th__groups_get(t, key ? key : "", len, &created);
        if (!g || !created) { /* out of memory, or a key given twice */
            r->bad = true;
            break;
        }
        g->expire_ms = expire;
        if (!load_entry(ctx, g, r))
            r->bad = true;
    }
    if (!r->bad)
        return true;
    while (t->oldest)
        remove_group(t, t->oldest, TH_GROUP_FREED);
    return false;
}

void th__group_key_add(struct th_strbuf *sb, const char *p, size_t len)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != TH_GROUP_SEP && p[i] != TH_GROUP_ESC)
            continue;
        th__sb_add(sb, p + run, i - run);
        th__sb_addc(sb, TH_GROUP_ESC);
        run = i; /* the byte itself follows its escape */
    }
    th__sb_add(sb, p + run, len - run);
}

void th__group_key_take(const char **p, const char *end, struct th_strbuf *out)
{
    th__sb_reset(out);
    th__sb_add(out, "", 0);
    const char *q = *p;
    while (q < end && *q != TH_GROUP_SEP) {
        if (*q == TH_GROUP_ESC && q + 1 < end)
            q++;
        th__sb_addc(out, *q);
        q++;
    }
    *p = q < end ? q + 1 : end;
}
