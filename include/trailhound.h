/*
 * trailhound.h - the public API of libtrailhound, a detection engine for AWS CloudTrail.
 *
 * The engine reads CloudTrail events (files, directories, stdin), evaluates rules written
 * in Datadog Cloud SIEM's query syntax and detection model, and hands signals to an output.
 * The CLI (`trailhound`) is a thin layer over this header: everything it does can be driven
 * from here, which is how the tests drive it.
 *
 * Conventions (as in libuv): fallible calls return 0 (or a count) on success and a negative
 * TH_E* code on failure; errors a person must read also fill a caller-owned struct th_err.
 * Objects are opaque; `_new` returns an owned object that `_free` releases (NULL is fine).
 * Nothing here prints, exits or reads the wall clock: event time is the clock.
 * No function is thread-safe on the same object; distinct objects are independent.
 */
#ifndef TRAILHOUND_H
#define TRAILHOUND_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TH_VERSION "0.1.0"

/* One list drives the error enum and th_strerror(). */
#define TH_ERRNO_MAP(X)                                                                        \
    X(EINVAL, -1, "invalid argument")                                                          \
    X(ENOMEM, -2, "out of memory")                                                             \
    X(EIO, -3, "input/output error")                                                           \
    X(EPARSE, -4, "parse error")                                                               \
    X(ERULE, -5, "rule error")                                                                 \
    X(ECONFIG, -6, "configuration error")                                                      \
    X(ESTATE, -7, "state error")                                                               \
    X(ELIMIT, -8, "limit exceeded")                                                            \
    X(ENOTFOUND, -9, "not found")                                                              \
    X(EUNSUPPORTED, -10, "unsupported")

enum th_errno {
#define TH_ERRNO_ENUM(name, code, text) TH_##name = (code),
    TH_ERRNO_MAP(TH_ERRNO_ENUM)
#undef TH_ERRNO_ENUM
};

/* Human-readable text for a TH_E* code; never NULL. */
const char *th_strerror(int code);

/*
 * Where an error happened and why, filled by fallible calls for a person to read.
 * `where` is "file:line:col" (or "file:line", or empty) and `msg` is one line.
 * Caller-owned; zero-initialise it before use.
 */
struct th_err {
    char where[512];
    char msg[512];
};

/* Formats "where: msg" (or just msg) into buf; returns buf. */
const char *th_err_format(const struct th_err *err, char *buf, size_t size);

/* ---------------------------------------------------------------------------------------
 * Rule sets
 * ------------------------------------------------------------------------------------- */

struct th_ruleset;

/* A diagnostic from loading or linting rules: an error or a warning, with a location. */
struct th_diag {
    int is_error;     /* 1: error (the rule is not usable), 0: lint warning */
    const char *rule; /* the rule id, or the file name when the id is unknown */
    const char *where; /* file:line:col */
    const char *msg;  /* one line */
};

/* Receives each diagnostic while a rule set loads; strings are borrowed for the call. */
typedef void (*th_diag_fn)(void *ctx, const struct th_diag *d);

/*
 * Loads rules from files or directories (walked recursively; *.yaml, *.yml, *.json).
 * Every problem is reported through diag (which may be NULL); all files are read even
 * after an error, so lint can report everything at once. With skip_bad set, rules with
 * errors are dropped and the rest load; otherwise any error fails the load.
 * Returns the number of errors (0 on a clean load) or a negative TH_E* code; *out is
 * always set to an owned rule set (possibly with fewer rules) unless the code is negative.
 */
int th_ruleset_load(const char *const *paths, size_t npaths, int skip_bad, th_diag_fn diag,
                    void *diag_ctx, struct th_ruleset **out);
void th_ruleset_free(struct th_ruleset *rs);
/* The number of (enabled and usable) rules. */
size_t th_ruleset_count(const struct th_ruleset *rs);

/* ---------------------------------------------------------------------------------------
 * Engine
 * ------------------------------------------------------------------------------------- */

struct th_engine;

enum th_format { TH_FORMAT_JSON = 0, TH_FORMAT_OCSF = 1 };

/* Receives each output line (a signal, without the newline). Return non-zero to stop. */
typedef int (*th_line_fn)(void *ctx, const char *line, size_t len);

/* Counters of one engine; read with th_engine_stats(). */
struct th_stats {
    uint64_t files;            /* files opened */
    uint64_t files_unreadable; /* files or directories that could not be read */
    uint64_t bytes;            /* bytes read (decompressed) */
    uint64_t events;           /* events accepted */
    uint64_t skipped_digest;   /* CloudTrail digest files skipped */
    uint64_t skipped_control;  /* CloudWatch Logs CONTROL_MESSAGE payloads skipped */
    uint64_t rejected;         /* events rejected, all reasons */
    uint64_t rejected_by[8];   /* by reason, see th_reject_reason_name() */
    uint64_t late;             /* events older than the watermark minus max lateness */
    uint64_t matched;          /* events that matched at least one rule query */
    uint64_t signals;          /* signals opened */
    uint64_t updates;          /* signal updates */
    uint64_t closed;           /* signals closed */
    uint64_t groups;           /* live groups across stateful rules */
    uint64_t groups_expired;   /* groups dropped by event-time expiry */
    uint64_t groups_evicted;   /* groups dropped by the LRU cap */
    uint64_t regex_errors;     /* regex matches that hit a limit (counted as no match) */
};

/* Options for an engine; start from th_options_init(). Strings are borrowed. */
struct th_options {
    enum th_format format;
    int signal_updates;        /* also emit "update" and "closed" lines */
    int64_t max_lateness_ms;   /* out-of-order tolerance (default 15 minutes) */
    size_t max_event_size;     /* bytes per event (default 1 MiB) */
    int max_depth;             /* JSON nesting depth (default 64) */
    size_t max_samples;        /* events kept whole per signal (default 3) */
    size_t max_event_ids;      /* event ids listed per signal (default 20) */
    size_t max_groups;         /* per rule, LRU beyond (default 1,000,000) */
    uint32_t regex_match_limit; /* PCRE2 match limit (default 100,000) */
    uint32_t regex_depth_limit; /* PCRE2 depth limit (default 1,000) */
    /* Warnings for a person (a rule disabled, ...), one line each, no newline. */
    void (*log)(void *ctx, const char *msg);
    void *log_ctx;
    /* Called every progress_every events (default 65,536) with the counters so far and
     * the source being read; for a progress line. */
    void (*progress)(void *ctx, const struct th_stats *stats, const char *source);
    void *progress_ctx;
    uint64_t progress_every;
};

void th_options_init(struct th_options *o);

/* Name of reject reason i (0 <= i < 8), or NULL past the last one. */
const char *th_reject_reason_name(int i);

/*
 * Creates an engine over a loaded rule set (borrowed; it must outlive the engine).
 * Output lines go to `out`. Returns 0 or a negative TH_E* code with err filled.
 */
int th_engine_new(const struct th_ruleset *rs, const struct th_options *opts, th_line_fn out,
                  void *out_ctx, struct th_engine **eng, struct th_err *err);
/*
 * Creates an engine that hunts: no rules, one query; each matching event is handed to out
 * as one line in its original form. th_stats.matched counts the matches.
 */
int th_engine_new_hunt(const char *query, const struct th_options *opts, th_line_fn out,
                       void *out_ctx, struct th_engine **eng, struct th_err *err);
void th_engine_free(struct th_engine *eng);

/*
 * Reads a source: a file, a directory (recursive), or "-" for stdin. Bad events are
 * counted and skipped; an unreadable file is counted and reported through err, and
 * reading goes on with the next file. Returns 0, or TH_EIO when anything could not be
 * read (the rest was still processed), or another negative code.
 */
int th_engine_read_path(struct th_engine *eng, const char *path, struct th_err *err);

/* Evaluates one buffer as if it were a file's contents (any format, gzip detected). */
int th_engine_read_buffer(struct th_engine *eng, const char *name, const void *data,
                          size_t len);

/* Ends the input: emits what is due. Call once after the last read. */
int th_engine_finish(struct th_engine *eng);

void th_engine_stats(const struct th_engine *eng, struct th_stats *out);

/* The first few reject locations ("file:line: reason"), i < n; NULL past the end. */
const char *th_engine_reject_sample(const struct th_engine *eng, size_t i);

#ifdef __cplusplus
}
#endif
#endif
