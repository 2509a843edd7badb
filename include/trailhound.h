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
    uint64_t geo_cached;       /* GeoIP/ASN lookups answered from the per-IP cache */
    uint64_t geo_lookups;      /* GeoIP/ASN lookups done in the databases */
    uint64_t geo_failures;     /* of those, lookups that met a damaged database */
    uint64_t travel_unlocated; /* matching events impossible_travel rules skipped: their
                                  source could not be located (counted per rule) */
    uint64_t state_loaded_bytes; /* size of the snapshot loaded at start (--state), or 0 */
    uint64_t state_saved_bytes;  /* size of the last snapshot saved, or 0 */
    uint64_t prefiltered;        /* accepted events never parsed nor evaluated: no rule's
                                    required literals occur in them (the prefilter) */
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
    /* MaxMind DB files: a City database (GeoLite2-City, GeoIP2-City, DB-IP City Lite) and
     * an ASN database (GeoLite2-ASN, DB-IP ASN Lite). NULL: none (no search here; the CLI
     * searches the usual places). Without a City database, rules that need one are
     * disabled with a warning through log, and a hunt query that needs one is an error. */
    const char *geoip_path;
    const char *asn_path;
    /* Warnings for a person (a rule disabled, ...), one line each, no newline. */
    void (*log)(void *ctx, const char *msg);
    void *log_ctx;
    /* Called every progress_every events (default 65,536) with the counters so far and
     * the source being read; for a progress line. */
    void (*progress)(void *ctx, const struct th_stats *stats, const char *source);
    void *progress_ctx;
    uint64_t progress_every;
    /* --state: a directory for the state snapshot (created 0700 when missing, locked while
     * the engine lives). th_engine_new loads DIR/trailhound.state; th_engine_state_save
     * writes it. NULL: no persistence. */
    const char *state_dir;
    int reset_state;           /* start empty: ignore (and later overwrite) the snapshot */
    /* The literal prefilter (on by default): events in whose raw text no rule's required
     * literals occur are counted and their time taken without being parsed, and each
     * parsed event is evaluated only against the rules whose literals occur. It never
     * changes signals or counts; set no_prefilter to turn it off (for comparisons). */
    int no_prefilter;
    /* 2 or more: th_engine_read_path reads (files, gzip, the prefilter) on a thread of its
     * own while events are evaluated on the caller's, in input order: the same signals,
     * byte for byte. Callbacks still run on the caller's thread. 0 or 1: one thread. */
    int threads;
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

/*
 * Saves the state of every stateful rule and the engine's clock to options.state_dir,
 * atomically (a temporary file, fsync, rename): a later engine with the same state_dir
 * goes on exactly where this one stopped. Call it after th_engine_finish, once the
 * signals written so far are durable (a Kafka consumer: before each commit). Returns 0
 * (also when no state_dir was given), or TH_EIO with err filled; the previous snapshot
 * then stays in place.
 *
 * th_engine_new with a state_dir (and without reset_state) fails with TH_ESTATE and err
 * naming the file and the problem when the snapshot is corrupt, truncated or of another
 * format version; a missing snapshot is an empty start. State of rules that are no longer
 * loaded, or whose file changed since the save, is dropped with a warning through log.
 */
int th_engine_state_save(struct th_engine *eng, struct th_err *err);

void th_engine_stats(const struct th_engine *eng, struct th_stats *out);

/* The first few reject locations ("file:line: reason"), i < n; NULL past the end. */
const char *th_engine_reject_sample(const struct th_engine *eng, size_t i);

/* ---------------------------------------------------------------------------------------
 * Rule tests (SPEC §11): each rule's fixtures/<rule-id>/<case>/ directories, run in
 * isolation (only that rule loaded, a fresh engine per case, event time from the events)
 * ------------------------------------------------------------------------------------- */

enum th_ruletest_status { TH_RULETEST_PASS, TH_RULETEST_FAIL, TH_RULETEST_SKIP };

/* One outcome: a case, or a verdict on a rule or a fixture directory as a whole. */
struct th_ruletest_result {
    enum th_ruletest_status status;
    const char *rule;   /* the rule id; for a rule that does not load, the id or file the
                           loader names; for a stray fixture directory, its name */
    const char *name;   /* the case name; NULL for a verdict on the rule as a whole */
    const char *reason; /* FAIL and SKIP: why, one line; NULL on PASS */
    const char *diff;   /* FAIL with output to show: a unified-style diff of expected and
                           got (at most about 20 lines, each ending in '\n'); else NULL */
};

/* Receives each result as it is decided; the strings are borrowed for the call. */
typedef void (*th_ruletest_fn)(void *ctx, const struct th_ruletest_result *r);

/*
 * Turns the words of a case's `args` file into engine options. opts arrives initialised
 * by th_options_init(); the words may be modified. Returns 0, or a negative TH_E* code
 * with err->msg saying why (the case then fails).
 */
typedef int (*th_ruletest_args_fn)(void *ctx, int argc, char **argv, struct th_options *opts,
                                   struct th_err *err);

struct th_ruletest_config {
    const char *const *rule_paths; /* rule files or directories, as for th_ruleset_load */
    size_t nrule_paths;
    const char *fixtures;          /* the fixtures directory (required) */
    const char *filter;            /* only rules whose id contains it; NULL: every rule */
    int allow_untested;            /* a rule without fixtures is a SKIP, not a FAIL */
    th_ruletest_args_fn args;      /* NULL: a case with an `args` file fails */
    void *args_ctx;
    th_ruletest_fn report;         /* may be NULL */
    void *report_ctx;
};

/* Counts of the results reported. */
struct th_ruletest_summary {
    unsigned passed, failed, skipped;
};

/*
 * Runs the fixtures of every rule under cfg->rule_paths: each case's output must equal its
 * expected.jsonl byte for byte (empty: must not fire); an error case's rule.yaml/rule.json
 * must fail to load with each line of expected_error in the diagnostics. Also failures: a
 * rule that does not load, a rule without fixtures (unless allow_untested), without a case
 * that fires or without one that stays quiet, a fixture directory named after no rule, a
 * case directory with neither events nor a rule file, events the reader rejects.
 * Results go to cfg->report in a deterministic order (rules by id, cases by name); *sum
 * (may be NULL) gets the counts. Returns the number of failures (0: everything passed), or
 * a negative code with err filled when the run cannot start: TH_ENOTFOUND for a missing
 * path or fixtures directory, no rule at all, or a filter that matches no rule.
 */
int th_ruletest_run(const struct th_ruletest_config *cfg, struct th_ruletest_summary *sum,
                    struct th_err *err);

/* Collects results and writes them as JUnit XML (testsuites > testsuite per rule >
 * testcase with failure/skipped elements), for CI systems. Deterministic: no times. */
struct th_junit;

/* A new, empty collector in *out. Returns 0 or TH_ENOMEM. */
int th_junit_new(struct th_junit **out);
/* Adds a copy of r (nothing borrowed is kept). Returns 0 or TH_ENOMEM. */
int th_junit_add(struct th_junit *j, const struct th_ruletest_result *r);
/* Writes the XML document to fp. Returns 0, or TH_EIO when writing failed. */
int th_junit_write(const struct th_junit *j, FILE *fp);
/* Frees j and the copies it holds; NULL is fine. */
void th_junit_free(struct th_junit *j);

/* ---------------------------------------------------------------------------------------
 * ATT&CK coverage (SPEC §12)
 * ------------------------------------------------------------------------------------- */

enum th_coverage_format {
    TH_COVERAGE_TEXT = 0,      /* a tactic-by-technique table for a terminal */
    TH_COVERAGE_MARKDOWN = 1,  /* the same table in Markdown */
    TH_COVERAGE_NAVIGATOR = 2, /* an ATT&CK Navigator layer (JSON, layer format 4.5) */
};

/*
 * Writes the ATT&CK coverage of a rule set to fp: tactics in matrix order, under each the
 * techniques its rules' tags name, with the rule ids; then a summary line. The output is
 * deterministic. Returns 0, TH_ENOMEM, or TH_EIO when writing failed (err filled).
 */
int th_coverage_write(const struct th_ruleset *rs, enum th_coverage_format f, FILE *fp,
                      struct th_err *err);

#ifdef __cplusplus
}
#endif
#endif
