/*
 * tape.h - a flat, allocation-free view of one event's JSON (a "tape", as simdjson calls
 * it), built by the strict scanner (jscan.h) in the same pass that validates the event, so
 * that an event the prefilter lets through is evaluated without json-c ever building a
 * tree of it.
 *
 * The tape is an array of nodes in document order: a container is followed by its
 * children (an object's members as key, value, key, value...), and every node knows the
 * index just past its subtree. Strings point into the event's bytes, or into the tape's
 * own buffer when they held escapes (decoded when the tape is built). A tape is only built
 * for what json-c would parse into the very same values: no `\u` escapes (json-c's
 * decoding of those, surrogates included, is not reproduced here), numbers of at most 40
 * bytes. Anything else is left to json-c (th_tape.ok false).
 *
 * Semantics match attr.c's walk over a json-c tree: the last of duplicate keys wins
 * (json-c replaces the value), null is absent, numbers render as json-c's int64 (clamped,
 * %lld) or double (%.15g), booleans as true/false. A tape and its buffers are reused from
 * event to event; the bytes it points into are borrowed and must outlive its use.
 */
#ifndef TH_TAPE_H
#define TH_TAPE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

enum th_tkind { TH_T_OBJ, TH_T_ARR, TH_T_STR, TH_T_INT, TH_T_DBL, TH_T_TRUE, TH_T_FALSE, TH_T_NULL };

struct th_tnode {
    uint32_t off;  /* STR, numbers: offset of the text (in the event, or in dec when dec) */
    uint32_t len;  /* STR, numbers: bytes of text; OBJ: members; ARR: elements */
    uint32_t next; /* index just past this node's subtree */
    uint8_t kind;  /* enum th_tkind */
    uint8_t dec;   /* STR: the text is in the tape's decoded buffer */
};

struct th_tape {
    const char *text;   /* borrowed: the event's bytes */
    struct th_tnode *n; /* owned, reused: n[0] is the event object */
    size_t count, cap;
    char *dec;          /* owned, reused: decoded strings */
    size_t dec_len, dec_cap;
    bool ok;            /* the tape describes the event (else use json-c) */
    json_object *tree;  /* owned: the text parsed by json-c when an event's serialization
                           was needed (th__event_text); dropped when the tape is rebuilt */
    /* The root object's members by key, built by the first lookup in the root: open
     * addressing over TH_TAPE_ROOT_SLOTS slots of 1 + the key node's index (0: empty),
     * the last of a repeated key winning; used when root_ok (else, too many members:
     * lookups walk the members), hashed by th__hash_bytes (common.h). A cache:
     * th__tape_member fills it through a const tape. */
    uint32_t root[128];
    uint32_t root_used;
    bool root_built, root_ok;
};

#define TH_TAPE_ROOT_SLOTS 128

/* Releases what t owns and zeroes it. */
void th__tape_fini(struct th_tape *t);

/* The node index of member key (klen bytes) of object node obj, the last one when the key
 * is repeated, or 0 when there is none (0 is the root: never a member). */
uint32_t th__tape_member(const struct th_tape *t, uint32_t obj, const char *key, size_t klen);

/* The text of node i (a string's decoded bytes, a number's raw text), borrowed. */
static inline struct th_str th__tape_text(const struct th_tape *t, uint32_t i)
{
    const struct th_tnode *n = &t->n[i];
    struct th_str s = {(n->dec ? t->dec : t->text) + n->off, n->len};
    return s;
}

/* A number node's value as json-c would give it: json_object_get_int64 of an integer
 * (clamped to the int64 range), json_object_get_double of a double. */
int64_t th__tape_int(const struct th_tape *t, uint32_t i);
double th__tape_double(const struct th_tape *t, uint32_t i);

/* True when member m (index of its key node) of object obj is overridden by a later
 * member with the same key (json-c keeps only the last one's value). */
bool th__tape_shadowed(const struct th_tape *t, uint32_t obj, uint32_t m);

#endif
