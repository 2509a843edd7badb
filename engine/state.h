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
/* A count that will size an allocation: bad (and 0) when it is larger than max or than
 * the bytes left could hold at min_bytes each. */
uint64_t th__sr_count(struct th_state_reader *r, uint64_t max, size_t min_bytes);

#endif
