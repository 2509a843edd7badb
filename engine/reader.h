/*
 * reader.h - turns bytes into CloudTrail events.
 *
 * A reader takes a source (a file, a directory walked recursively in lexical order, stdin,
 * or a buffer such as a Kafka message), detects gzip by its magic bytes, detects the
 * format (a CloudTrail S3 `Records` object, NDJSON, a JSON array, an EventBridge envelope,
 * a CloudWatch Logs subscription payload), and hands each event to a callback. It checks
 * that an event is a JSON object with a parseable eventTime; everything else is rejected
 * and counted by reason. One bad line never costs the good lines around it. CloudTrail
 * digest files and CloudWatch Logs control messages are skipped and counted.
 *
 * The reader owns the json-c tree it hands out and frees it after the callback returns.
 * It never stops a run for a bad event, and never prints: unreadable files are counted
 * and reported through the error struct.
 */
#ifndef TH_READER_H
#define TH_READER_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

/* Why an event was rejected. X(enum suffix, name shown in --stats). Keep <= 8 entries. */
#define TH_REJECT_MAP(X)                                                                       \
    X(MALFORMED, "malformed_json")                                                             \
    X(NOT_OBJECT, "not_an_object")                                                             \
    X(BAD_TIME, "missing_or_bad_event_time")                                                   \
    X(TOO_LARGE, "too_large")                                                                  \
    X(TOO_DEEP, "too_deeply_nested")                                                           \
    X(BAD_GZIP, "corrupt_gzip")                                                                \
    X(BAD_PAYLOAD, "bad_envelope")

enum th_reject {
#define TH_REJECT_ENUM(e, s) TH_REJECT_##e,
    TH_REJECT_MAP(TH_REJECT_ENUM)
#undef TH_REJECT_ENUM
    TH_REJECT__COUNT
};

const char *th__reject_name(enum th_reject r);

struct th_tape;

/* One accepted event, borrowed for the duration of the callback. */
struct th_read_event {
    json_object *obj;   /* the event object; NULL when it comes as a tape */
    const struct th_tape *tape; /* the event as a tape (fast path, tape.h), or NULL */
    const char *src;    /* with a tape: the event's JSON bytes */
    size_t src_len;
    int64_t time_ms;    /* its parsed eventTime */
    const char *raw;    /* its original bytes when it was one whole line, else NULL */
    size_t raw_len;
    const char *file;   /* the source name */
    uint64_t line;      /* 1-based line where the event (or its document) starts */
    bool checked;       /* the fast path's wanted() was just asked about these bytes and
                           said yes (its caller may reuse what it computed then) */
};

/* Returns 0 to go on, non-zero to stop reading (the reader then returns that value). */
typedef int (*th_event_fn)(void *ctx, const struct th_read_event *ev);

#define TH_REJECT_SAMPLES 5

struct th_reader_stats {
    uint64_t files;
    uint64_t files_unreadable;
    uint64_t bytes;           /* after decompression */
    uint64_t events;
    uint64_t skipped_digest;
    uint64_t skipped_control;
    uint64_t rejected[TH_REJECT__COUNT];
    /* The first few rejects, "file:line: reason: detail", for --stats. */
    char samples[TH_REJECT_SAMPLES][320];
    size_t nsamples;
};

struct th_reader_limits {
    size_t max_event_size;    /* bytes of one event (a line or an element); default 1 MiB */
    size_t max_document_size; /* bytes of one Records/array document; default 512 MiB */
    int max_depth;            /* JSON nesting; default 64 */
};

struct th_reader;

/* Creates a reader. Returns 0 or TH_ENOMEM. */
int th__reader_new(const struct th_reader_limits *lim, th_event_fn fn, void *ctx,
                   struct th_reader **out);
void th__reader_free(struct th_reader *r);

/*
 * Reads a path: "-" (stdin), a file, or a directory (recursive; regular files in lexical
 * order of path, except that files named like CloudTrail S3 objects are ordered by the
 * timestamp in their name so multi-region archives replay in time order). Returns 0;
 * TH_EIO when some file or directory could not be read (err names the first; the rest was
 * still read); or the callback's non-zero value when it stopped the read.
 */
int th__reader_read_path(struct th_reader *r, const char *path, struct th_err *err);

/* Reads one buffer (a file's contents or a Kafka message), name used in reports. */
int th__reader_read_buffer(struct th_reader *r, const char *name, const void *data,
                           size_t len);

const struct th_reader_stats *th__reader_stats(const struct th_reader *r);

/*
 * The fast path (the prefilter's hook). When set, an event that is a whole line, or an
 * element of a `{"Records":[...]}` document, and whose bytes the strict scanner (jscan.h)
 * validates with a plain top-level eventTime that parses, is first offered to wanted()
 * with its bytes (the line without trailing white space, or the element) and what the
 * scanner found (flags, top-level members). When wanted() says no, the event is counted as accepted and
 * handed to skipped() with its time instead of being parsed; json-c would have accepted it
 * (jscan.h), so counts and event time are exactly what the full path gives. When it says
 * yes, or anything about the event is unusual (an envelope, a bad or odd eventTime, a
 * value the scanner does not accept), the ordinary path parses and reports it.
 * A Records document is taken this way only when it is at most 64 MiB (and within the
 * document limit); larger ones stream through json-c as before.
 */
struct th_jscan;

struct th_reader_fast {
    bool (*wanted)(void *ctx, const char *p, size_t n, const struct th_jscan *js);
    /* Returns 0 to go on, non-zero to stop reading (as th_event_fn). */
    int (*skipped)(void *ctx, int64_t time_ms, const char *file, uint64_t line);
    void *ctx;
    /* Wanted events are handed over as tapes (th_read_event.tape, obj NULL) whenever the
     * scanner could record one, instead of being parsed by json-c. */
    bool tapes;
};

/* Sets (f non-NULL, copied) or clears (NULL) the fast path. */
void th__reader_set_fast(struct th_reader *r, const struct th_reader_fast *f);

/* Replaces the event callback (pipeline.c hands events to another thread this way). */
void th__reader_set_callback(struct th_reader *r, th_event_fn fn, void *ctx);


#endif
