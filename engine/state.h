/*
 * state.h - snapshot primitives for --state (SPEC §10): a little-endian binary stream
 * with length-prefixed byte strings, written through a checksum and read back from memory
 * with bounds checks on every field. Detectors serialize their groups with these; the
 * engine frames the whole file (magic, format version, one section per rule, checksum)
 * in state.c.
 *
 * A writer never fails half-way silently: the first error sets `failed`, later writes are
 * ignored, and the caller checks once. A reader never reads past its end: the first
 * shortfall sets `bad`, later reads return zeros, and the caller checks once.
 */
#ifndef TH_STATE_H
#define TH_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common.h"

/* Bump when any detector's serialized layout changes: older snapshots are then refused
 * with a clear error rather than misread. */
#define TH_STATE_FORMAT_VERSION 1

struct th_state_writer {
    FILE *fp;      /* borrowed */
    uint64_t hash; /* running checksum of everything written */
    uint64_t bytes;
    bool failed;
};

/* Starts a writer on fp. With fp NULL the writer only counts: `bytes` says how long the
 * same writes would be (the framing uses it to size a section before writing it). */
void th__sw_init(struct th_state_writer *w, FILE *fp);
void th__sw_u8(struct th_state_writer *w, uint8_t v);
void th__sw_u32(struct th_state_writer *w, uint32_t v);
void th__sw_u64(struct th_state_writer *w, uint64_t v);
void th__sw_i64(struct th_state_writer *w, int64_t v);
void th__sw_f64(struct th_state_writer *w, double v);
void th__sw_bool(struct th_state_writer *w, bool v);
/* A byte string: u32 length, then the bytes. */
void th__sw_bytes(struct th_state_writer *w, const void *p, size_t len);
/* A C string or NULL (NULL and "" are distinct on reading back). */
void th__sw_str(struct th_state_writer *w, const char *s);

struct th_state_reader {
    const unsigned char *p;   /* next byte */
    const unsigned char *end;
    bool bad;                 /* a read ran past the end or met a malformed field */
    /* Set by the snapshot loader when the bytes are a read-only file mapping: the pages
     * behind p are handed back to the kernel every few MiB, so loading a large snapshot
     * does not hold the file and the state in memory at once. Borrowed pointers stay
     * valid (a page touched again is read back from the file). th__sr_init clears them. */
    const unsigned char *release_at; /* NULL: never */
    const unsigned char *released;   /* page-aligned start of what may still be resident */
};

void th__sr_init(struct th_state_reader *r, const void *data, size_t len);
uint8_t th__sr_u8(struct th_state_reader *r);
uint32_t th__sr_u32(struct th_state_reader *r);
uint64_t th__sr_u64(struct th_state_reader *r);
int64_t th__sr_i64(struct th_state_reader *r);
double th__sr_f64(struct th_state_reader *r);
bool th__sr_bool(struct th_state_reader *r);
/* A byte string, borrowed from the reader's buffer; NULL (and *len 0) when bad. */
const char *th__sr_bytes(struct th_state_reader *r, size_t *len);
/* A string written by th__sw_str: an owned copy, or NULL (check r->bad to tell a NULL
 * that was written from a failure). */
char *th__sr_str(struct th_state_reader *r);
/* A count that will size an allocation, read as a u64: write it with th__sw_u64 (never
 * th__sw_u32). Bad (and 0) when it is larger than max or than the bytes left could hold
 * at min_bytes each (min_bytes: the smallest encoding of one element). */
uint64_t th__sr_count(struct th_state_reader *r, uint64_t max, size_t min_bytes);

/* ---- the snapshot file (state.c) ------------------------------------------------------
 *
 * DIR/trailhound.state: the magic "THSTATE\0", u32 TH_STATE_FORMAT_VERSION, the engine
 * clock (bool have_time, i64 newest event time, i64 last watermark), u32 the number of
 * sections, then per detector: str rule id, u64 rule fingerprint, u8 method, u64 length,
 * and that many bytes of the detector's save(); last, u64 the checksum (th__hash64, seed
 * 0) of every byte before it. Written to DIR/trailhound.state.tmp, fsync'd, renamed over
 * the old file, and the directory fsync'd. DIR/trailhound.lock (flock) keeps two
 * processes from sharing a state directory. */

#define TH_STATE_FILE "trailhound.state"

struct th_detector;

/* The engine's own clock, saved with the detectors. */
struct th_state_clock {
    bool have_time;
    int64_t newest;      /* newest event time seen */
    int64_t watermark;   /* last watermark handed to the detectors */
};

/*
 * Creates dir (mode 0700, parents too) when missing and takes its lock. Returns 0 with
 * *lock_fd set (the caller closes it to release the lock), or TH_ESTATE / TH_EIO with err
 * filled ("DIR: ...").
 */
int th__state_open_dir(const char *dir, int *lock_fd, struct th_err *err);

/*
 * Loads dir's snapshot into the clock and the detectors (which must be freshly
 * initialised, i.e. empty). A missing file is an empty start (returns 0, clock untouched).
 * A corrupt, truncated or other-version file is TH_ESTATE with err naming the file and the
 * problem, and nothing is loaded. Sections of rules not in det[] are dropped (one warning
 * through log with their number); a section whose fingerprint differs from the rule's is
 * dropped with a warning; a detector that refuses its section is reset to empty with a
 * warning. *bytes (OUT) gets the file's size (0 when missing). Returns 0 or a negative
 * code.
 */
int th__state_load(const char *dir, struct th_state_clock *clock, struct th_detector *det,
                   size_t ndet, void (*log)(void *ctx, const char *msg), void *log_ctx,
                   uint64_t *bytes, struct th_err *err);

/*
 * Writes the clock and every detector's state to dir's snapshot, atomically (temporary
 * file, fsync, rename, fsync of the directory). Detectors without save() are skipped.
 * *bytes (OUT) gets the size written. Returns 0, or TH_EIO with err filled; the previous
 * snapshot is then left as it was.
 */
int th__state_save(const char *dir, const struct th_state_clock *clock,
                   const struct th_detector *det, size_t ndet, uint64_t *bytes,
                   struct th_err *err);

#endif
