/*
 * pipeline.h - reading on one thread, evaluating on another (`--threads 2`).
 *
 * The reader (I/O, gzip, the strict scanner, tapes, the prefilter) runs on a thread of its
 * own and fills batches of what it found, in input order: events to evaluate (a tape, or a
 * json-c tree it parsed), events the prefilter skipped (just their time), with the
 * prefilter's answer and copies of everything the reader would reuse. The caller's thread
 * takes the batches in the same order and evaluates them, so detectors see exactly the
 * events, in exactly the order, of a single-threaded read, and the output is
 * byte-identical. Callbacks (output lines, progress) all run on the caller's thread.
 *
 * State: the batches (a small ring, bounded memory) and one reader thread per read, joined
 * before th__pipeline_read returns. Ignores: sources that are one buffer (Kafka messages),
 * which are read on the caller's thread as before.
 */
#ifndef TH_PIPELINE_H
#define TH_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "reader.h"

struct th_jscan;

/* What the pipeline calls. wanted runs on the reader's thread; the others on the caller's. */
struct th_pipe_ops {
    /* The prefilter: may any unit match these bytes? Writes the units into mask. */
    bool (*wanted)(void *ctx, const char *p, size_t n, const struct th_jscan *js,
                   uint64_t *mask);
    /* An event to evaluate, with the prefilter's answer (NULL: evaluate every rule).
     * Returns 0 to go on, non-zero to stop. */
    int (*event)(void *ctx, const struct th_read_event *ev, const uint64_t *mask);
    /* An event the prefilter skipped. Returns 0 to go on, non-zero to stop. */
    int (*skipped)(void *ctx, int64_t time_ms, const char *file, uint64_t line);
    /* The reader's counters as of the events handed over so far (for progress). */
    void (*stats)(void *ctx, const struct th_reader_stats *st);
    void *ctx;
    size_t mask_words; /* of the prefilter's masks; 0 without a prefilter */
    bool tapes;        /* hand over tapes (as th_reader_fast.tapes) */
};

/*
 * Reads path (as th__reader_read_path) with the reader on a thread of its own and the
 * events evaluated on the calling thread through ops. The reader's own callback (own_fn,
 * own_ctx) and fast path (own_fast: only when it has a wanted hook is the prefilter used)
 * are restored afterwards. Returns what th__reader_read_path returns (or the event
 * callback's non-zero stop value), TH_ENOMEM (err filled) when a batch could not grow,
 * or TH_EUNSUPPORTED when the thread or the batches cannot be had at all: then nothing was
 * read, and the caller may read single-threaded.
 */
int th__pipeline_read(struct th_reader *r, th_event_fn own_fn, void *own_ctx,
                      const struct th_reader_fast *own_fast, const struct th_pipe_ops *ops,
                      const char *path, struct th_err *err);

#endif
