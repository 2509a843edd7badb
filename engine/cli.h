/*
 * cli.h - the trailhound command line: one function per command, and the helpers they
 * share (options common to run and hunt, the output destination, --stats, progress).
 * The CLI only parses arguments and wires the library together; it is the only place
 * that prints, reads the wall clock or decides exit codes.
 */
#ifndef TH_CLI_H
#define TH_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "trailhound.h"

/* Exit codes (SPEC §2). */
enum {
    TH_EXIT_OK = 0,
    TH_EXIT_SIGNALS = 1,  /* run --fail-on-signal: signals were produced; hunt: no match */
    TH_EXIT_USAGE = 2,    /* usage, config or rule errors */
    TH_EXIT_INPUT = 3,    /* some input could not be read (the rest was processed) */
};

/* X(name, summary, function): the commands, in `trailhound --help` order. */
#define TH_COMMAND_MAP(X)                                                                      \
    X(run, "detect: read events, evaluate the rules, write signals", th__cli_run)             \
    X(hunt, "print the events that match one query", th__cli_hunt)                            \
    X(test, "run the rules' fixtures (CI): one line per case, JUnit XML", th__cli_test)        \
    X(lint, "validate rules; exit non-zero on any error", th__cli_lint)                       \
    X(coverage, "MITRE ATT&CK coverage of a rule set: table, Markdown, Navigator layer",       \
      th__cli_coverage)                                                                        \
    X(version, "print the version and the versions of the libraries", th__cli_version)

#define TH_CLI_DECL(name, summary, fn) int fn(int argc, char **argv);
TH_COMMAND_MAP(TH_CLI_DECL)
#undef TH_CLI_DECL

/* Prints "trailhound: " and a formatted one-line message to stderr. */
void th__cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Where output lines go: stdout or a file opened for appending. */
struct th_cli_output {
    FILE *fp;
    const char *name;
    unsigned long long lines;
    bool failed; /* a write failed (disk full, closed pipe): reported once */
};

/* Opens dest ("-" or a path). Returns 0, or prints why and returns TH_EXIT_USAGE. */
int th__cli_output_open(struct th_cli_output *o, const char *dest);
/* Flushes and closes; returns 0 or TH_EXIT_INPUT-like failure code 2 when writing failed. */
int th__cli_output_close(struct th_cli_output *o);
/* th_line_fn writing one line + newline. */
int th__cli_output_line(void *ctx, const char *line, size_t len);

/* Progress and --stats, shared by run and hunt. */
struct th_cli_progress {
    bool enabled;   /* stderr is a terminal and input is files */
    double start;   /* wall clock, seconds */
    double last;    /* last progress line */
    bool shown;     /* a progress line is on screen */
};

double th__cli_now(void);
void th__cli_progress_init(struct th_cli_progress *p, bool want);
void th__cli_progress_cb(void *ctx, const struct th_stats *s, const char *source);
void th__cli_progress_clear(struct th_cli_progress *p);
void th__cli_print_stats(const struct th_engine *eng, double seconds);
/* Logging callback printing "trailhound: warning: msg". */
void th__cli_log_warning(void *ctx, const char *msg);

/* Parses a duration or byte size option; prints the error and returns false when bad. */
bool th__cli_parse_duration(const char *opt, const char *s, int64_t *ms);
bool th__cli_parse_size(const char *opt, const char *s, size_t *out);

#endif
