/*
 * groups.h - the per-rule table of groups (one entry per group-by tuple) that stateful
 * detectors keep their state in, bounded two ways (SPEC §10):
 *   - expiry by event time: each group says when it may be dropped (expire_ms); groups
 *     past the watermark are dropped, oldest touched first;
 *   - an LRU cap: beyond max entries, the least recently touched group is evicted.
 * Both are counted. The detector embeds struct th_group first in its own entry struct and
 * gives the table the entry size; the table owns entries and keys.
 */
#ifndef TH_GROUPS_H
#define TH_GROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct th_group {
    struct th_group *hnext;  /* hash chain */
    struct th_group *older;  /* LRU list: towards the least recently touched */
    struct th_group *newer;
    uint64_t hash;
    int64_t expire_ms;       /* event time after which the group may be dropped */
    size_t key_len;
    char *key;               /* owned: group-by values joined by TH_GROUP_SEP */
};

#define TH_GROUP_SEP '\x1f'
#define TH_GROUP_ESC '\x1e'

struct th_strbuf;

/* Appends one component of a group key to sb, escaping TH_GROUP_SEP and TH_GROUP_ESC bytes
 * inside it (each becomes TH_GROUP_ESC and itself), so that ("a\x1fb","c") and
 * ("a","b\x1fc") never share a key. The caller adds TH_GROUP_SEP between components. */
void th__group_key_add(struct th_strbuf *sb, const char *p, size_t len);

/* Decodes the component of a key starting at *p (up to end) into out (reset first) and
 * moves *p past it and its separator. */
void th__group_key_take(const char **p, const char *end, struct th_strbuf *out);

enum th_group_drop { TH_GROUP_EXPIRED, TH_GROUP_EVICTED, TH_GROUP_FREED };

/* Called before a group is freed, so the detector can close signals and free its parts. */
typedef void (*th_group_drop_fn)(void *ctx, struct th_group *g, enum th_group_drop why);

struct th_group_table {
    struct th_group **buckets;
    size_t nbuckets;
    size_t count;
    size_t max;              /* LRU cap */
    size_t entry_size;       /* bytes per entry, >= sizeof(struct th_group) */
    struct th_group *oldest; /* LRU ends */
    struct th_group *newest;
    th_group_drop_fn drop;
    void *drop_ctx;
    uint64_t expired;
    uint64_t evicted;
};

/* Sets up an empty table. Returns 0 or TH_ENOMEM. */
int th__groups_init(struct th_group_table *t, size_t entry_size, size_t max,
                    th_group_drop_fn drop, void *drop_ctx);
/* Frees every group (drop is called with TH_GROUP_FREED) and the table's memory. */
void th__groups_fini(struct th_group_table *t);

/*
 * Finds the group for key, creating a zeroed entry when absent (*created set), and marks
 * it most recently used. May evict the least recently used group to stay under the cap.
 * Returns NULL only when memory runs out.
 */
struct th_group *th__groups_get(struct th_group_table *t, const char *key, size_t len,
                                bool *created);

/* Drops groups whose expire_ms is before watermark, oldest touched first; stops at the
 * first that is still live. */
void th__groups_expire(struct th_group_table *t, int64_t watermark);

struct th_state_writer;
struct th_state_reader;

/* Writes an entry's detector-specific part (after struct th_group). */
typedef void (*th_group_save_fn)(void *ctx, const struct th_group *g, struct th_state_writer *w);
/* Reads it back into a zeroed entry; returns false on malformed data. Even then the entry
 * must be left so that the table's drop callback can free it (whatever it did allocate
 * stays reachable from the entry). */
typedef bool (*th_group_load_fn)(void *ctx, struct th_group *g, struct th_state_reader *r);

/* Writes every group, least recently used first (key, expire_ms, then save_entry), so that
 * loading restores the LRU order too. */
void th__groups_save(const struct th_group_table *t, struct th_state_writer *w,
                     th_group_save_fn save_entry, void *ctx);
/* Loads groups written by th__groups_save into an empty table, restoring key, expire_ms and
 * the LRU order; load_entry reads each detector part. More groups than the table's cap
 * evict the oldest (counted, drop called with TH_GROUP_EVICTED). Returns false on
 * malformed data (a short read, a key given twice, load_entry refusing, no memory); the
 * table is then emptied again, drop called with TH_GROUP_FREED for each group. */
bool th__groups_load(struct th_group_table *t, struct th_state_reader *r,
                     th_group_load_fn load_entry, void *ctx);

#endif
