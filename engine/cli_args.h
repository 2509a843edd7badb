/*
 * cli_args.h - the options of the commands that read events (run, hunt), parsed from one
 * table so that both commands spell and document them the same way.
 */
#ifndef TH_CLI_ARGS_H
#define TH_CLI_ARGS_H

#include <stdbool.h>

#include "trailhound.h"

struct th_config;

enum th_cli_cmd { TH_CLI_RUN = 1, TH_CLI_HUNT = 2 };

struct th_cli_args {
    const char *rules[64];
    int nrules;
    const char *output;
    bool stats;
    bool progress;     /* false with --no-progress */
    bool fail_on_signal;
    bool skip_bad_rules;
    bool count;        /* hunt --count */
    struct th_options opts;
    char geoip_found[1024]; /* a City database found in the usual places (opts.geoip_path) */
    char asn_found[1024];   /* an ASN database found there (opts.asn_path) */
    char **positional; /* what follows the options: [QUERY] SOURCE... */
    int npositional;
    /* Kafka and the settings file (-X, -c, --metrics, intervals). */
    const char *kafka_props[256]; /* -X KEY=VALUE in order, the settings file's first */
    int nkafka_props;
    const char *metrics;          /* --metrics FILE, or NULL */
    long long stats_interval_ms;  /* --stats-interval (default 10 s) */
    long long commit_interval_ms; /* --commit-interval (default 5 s) */
    bool exit_at_end;             /* --exit-at-end */
    const char *config_path;      /* -c FILE, or NULL */
    struct th_config *config;     /* the settings file, owned (th__cli_args_fini) */
    char **config_words;          /* its settings as "--name=value" words, owned */
    int nconfig_words;
    char **config_positional;     /* operands plus the file's sources, owned */
    int nrules_config;            /* rules[0..n) came from the file (flags replace them) */
    const void *config_item;      /* during parsing: the setting being applied, or NULL */
};

/*
 * Parses argv for command cmd. Returns -1 when the command should go on, or an exit code
 * (0 after --help, 2 after a usage error that was already printed).
 */
int th__cli_args_parse(enum th_cli_cmd cmd, int argc, char **argv, struct th_cli_args *a);

/* Releases what parsing allocated (the settings file and its words); a is then unusable.
 * Safe after any return of th__cli_args_parse. */
void th__cli_args_fini(struct th_cli_args *a);

#endif
