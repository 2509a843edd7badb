/*
 * jscan.h - a strict JSON scanner that validates an event's bytes without building a tree,
 * for the reader's fast path (the prefilter): an event that no rule can match is counted
 * and its event time taken without json-c ever parsing it.
 *
 * The scanner accepts exactly RFC 8259 JSON (white space: space, tab, CR, LF; no comments,
 * no single quotes, no NaN, no control bytes in strings), which json-c (non-strict) always
 * accepts and parses into the same values: whatever the scanner accepts, json-c accepts
 * too, so a caller may count such an event as accepted without parsing it. Anything else
 * is simply "not handled here" (false): the caller then takes the ordinary json-c path,
 * which decides and reports exactly as it always did.
 *
 * While scanning it notes what a caller needs to trust the raw bytes: the last top-level
 * "eventTime" (json-c keeps the last of duplicate keys), whether any `\u` escape occurs
 * (then decoded strings may hold bytes the raw text does not), whether a number's text form
 * as the engine renders it (%lld, %.15g) might not occur in the raw text, and whether a
 * top-level key makes the reader treat the value as an envelope rather than an event.
 * Nothing is allocated except the element array of th__jscan_records, which the caller owns.
 */
#ifndef TH_JSCAN_H
#define TH_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    TH_JSCAN_ESCAPE_U = 1u << 0,   /* a \uXXXX escape occurs (decoded text != raw text) */
    TH_JSCAN_ODD_NUMBER = 1u << 1, /* a number with a fraction, an exponent, -0 or 16+
                                      digits: its rendering may not occur in the raw text */
    TH_JSCAN_ENVELOPE = 1u << 2,   /* a top-level key the reader unwraps (Records, detail,
                                      detail-type, messageType, digest keys) */
    TH_JSCAN_TIME_ODD = 1u << 3,   /* the last top-level eventTime is not a plain string
                                      (another type, or a string with escapes) */
    TH_JSCAN_MEMBERS_ODD = 1u << 4, /* the member table is not the whole story: a top-level
                                       key has escapes, or there were more than mem_cap */
};

/* A top-level member: its key's bytes (between the quotes) and its value's bytes. */
struct th_jmember {
    uint32_t key, key_len; /* offsets from the object's start */
    uint32_t start, end;
};

/* What the scanner learned about one object. */
struct th_jscan {
    size_t end;       /* offset just past the closing brace */
    const char *time; /* bytes of the last top-level "eventTime" string, or NULL */
    size_t time_len;
    unsigned flags;   /* TH_JSCAN_* */
    unsigned lines;   /* newlines met inside the object (between tokens) */
    /* In: where to record the top-level members in document order (mem may be NULL: no
     * table), and its capacity. Out: how many were recorded. */
    struct th_jmember *mem;
    unsigned mem_cap, nmem;
};

struct th_tape;

/*
 * Scans the object that starts at p[0] (which must be '{') in p[0..n). max_depth is the
 * deepest nesting allowed counting this object as 1 (deeper: false). Returns true and
 * fills *out when the object is valid strict JSON; false otherwise (out is then undefined).
 * Bytes after the object are not looked at. Reads nothing past p + n.
 * With a tape (tape.h; may be NULL), also records the object into it in the same pass
 * (the tape's buffers grow as needed; tape->ok says whether it can stand for the event).
 * Without one, never allocates.
 */
bool th__jscan_object(const char *p, size_t n, int max_depth, struct th_jscan *out,
                      struct th_tape *tape);

/* One element of a Records document. */
struct th_jscan_elem {
    size_t start, end; /* the element's bytes, offsets from the document's start */
    struct th_jscan info; /* info.mem: its members, in the caller's member buffer */
    size_t mem_first;
};

/*
 * Scans a CloudTrail S3 object, `{"Records":[{...},{...}]}` with "Records" as its only key
 * and only objects as elements, starting at p[0] in p[0..n). Returns true and fills
 * *elems and *mems (each element's top-level members; both grown with realloc, the caller
 * owns and frees them), *count, *end (just past the document's closing brace) and *lines
 * (newlines inside the document); false for anything else (invalid JSON, other keys, a
 * non-object element, nesting deeper than max_depth counting the document as 1, or out of
 * memory), leaving the buffers valid for a later call.
 */
bool th__jscan_records(const char *p, size_t n, int max_depth, struct th_jscan_elem **elems,
                       size_t *cap, struct th_jmember **mems, size_t *mcap, size_t *count,
                       size_t *end, unsigned *lines);

#endif
