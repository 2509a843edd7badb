/*
 * cli_args.h - the options of the commands that read events (run, hunt), parsed from one
 * table so that both commands spell and document them the same way.
 */
#ifndef TH_CLI_ARGS_H
#define TH_CLI_ARGS_H

#include <stdbool.h>

#include "trailhound.h"

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
};

/*
 * Parses argv for command cmd. Returns -1 when the command should go on, or an exit code
 * (0 after --help, 2 after a usage error that was already printed).
 */
int th__cli_args_parse(enum th_cli_cmd cmd, int argc, char **argv, struct th_cli_args *a);

#endif
