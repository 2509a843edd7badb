/*
 * tape.c - reading a tape (tape.h): member lookup with json-c's last-key-wins rule, and
 * numbers converted as json-c converts them. Building a tape is the scanner's job
 * (jscan.c), in the pass that validates the event.
 *
 * State: none beyond the tape. Ignores: nothing json-c would see differently, since a tape
 * is only marked usable for input both read the same way (tape.h).
 */
#include "tape.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void th__tape_fini(struct th_tape *t)
{
    if (!t)
        return;
    free(t->n);
    free(t->dec);
    json_object_put(t->tree);
    memset(t, 0, sizeof *t);
}

/* Adds root member key node i to the root index. */
static void index_root(struct th_tape *t, uint32_t i)
{
    if (!t->root_ok)
        return;
    if (t->root_used >= TH_TAPE_ROOT_SLOTS / 2) {
        t->root_ok = false;
        return;
    }
    struct th_str k = th__tape_text(t, i);
    uint32_t mask = TH_TAPE_ROOT_SLOTS - 1;
    for (uint32_t j = th__hash_bytes(k.p, k.len) & mask;; j = (j + 1) & mask) {
        if (t->root[j] == 0) {
            t->root[j] = i + 1;
            t->root_used++;
            return;
        }
        struct th_str o = th__tape_text(t, t->root[j] - 1);
        if (o.len == k.len && th__bytes_eq(o.p, k.p, k.len)) {
            t->root[j] = i + 1; /* a repeated key: the last one's value counts */
            return;
        }
    }
}

uint32_t th__tape_member(const struct th_tape *t, uint32_t obj, const char *key, size_t klen)
{
    const struct th_tnode *n = t->n;
    if (obj == 0 && !t->root_built) {
        struct th_tape *mt = (struct th_tape *)(uintptr_t)t; /* the cache of tape.h */
        memset(mt->root, 0, sizeof mt->root);
        mt->root_used = 0;
        mt->root_ok = true;
        uint32_t i = 1;
        for (uint32_t m = 0; m < n[0].len; m++, i = n[i + 1].next)
            index_root(mt, i);
        mt->root_built = true;
    }
    if (obj == 0 && t->root_ok) {
        uint32_t mask = TH_TAPE_ROOT_SLOTS - 1;
        for (uint32_t j = th__hash_bytes(key, klen) & mask; t->root[j]; j = (j + 1) & mask) {
            struct th_str k = th__tape_text(t, t->root[j] - 1);
            if (k.len == klen && th__bytes_eq(k.p, key, klen))
                return t->root[j]; /* the value follows its key */
        }
        return 0;
    }
    uint32_t found = 0, i = obj + 1;
    for (uint32_t m = 0; m < n[obj].len; m++) {
        struct th_str k = th__tape_text(t, i);
        if (k.len == klen && th__bytes_eq(k.p, key, klen))
            found = i + 1;
        i = n[i + 1].next;
    }
    return found;
}

bool th__tape_shadowed(const struct th_tape *t, uint32_t obj, uint32_t m)
{
    struct th_str k = th__tape_text(t, m);
    uint32_t end = t->n[obj].next;
    for (uint32_t i = t->n[m + 1].next; i < end; i = t->n[i + 1].next) {
        struct th_str o = th__tape_text(t, i);
        if (o.len == k.len && th__bytes_eq(o.p, k.p, k.len))
            return true;
    }
    return false;
}

/* The number's text, NUL-terminated, in buf (numbers on a tape are at most 40 bytes). */
static const char *num_text(const struct th_tape *t, uint32_t i, char buf[48])
{
    struct th_str s = th__tape_text(t, i);
    size_t n = s.len < 47 ? s.len : 47;
    memcpy(buf, s.p, n);
    buf[n] = '\0';
    return buf;
}

int64_t th__tape_int(const struct th_tape *t, uint32_t i)
{
    char buf[48];
    const char *s = num_text(t, i, buf);
    /* json-c: strtoll for a negative number, strtoull otherwise, both saturating; an
     * unsigned value above INT64_MAX reads back as INT64_MAX through get_int64. */
    if (s[0] == '-')
        return (int64_t)strtoll(s, NULL, 10);
    unsigned long long u = strtoull(s, NULL, 10);
    return u > (unsigned long long)INT64_MAX ? INT64_MAX : (int64_t)u;
}

double th__tape_double(const struct th_tape *t, uint32_t i)
{
    char buf[48];
    return strtod(num_text(t, i, buf), NULL);
}
