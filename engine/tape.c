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

uint32_t th__tape_member(const struct th_tape *t, uint32_t obj, const char *key, size_t klen)
{
    const struct th_tnode *n = t->n;
    uint32_t found = 0, i = obj + 1;
    for (uint32_t m = 0; m < n[obj].len; m++) {
        struct th_str k = th__tape_text(t, i);
        if (k.len == klen && memcmp(k.p, key, klen) == 0)
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
        if (o.len == k.len && memcmp(o.p, k.p, k.len) == 0)
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
