/*
 * cli_stream.h - `trailhound run` with Kafka (SPEC §13): a kafka:// source consumed in a
 * consumer group, a kafka:// output, or both; periodic stats and Prometheus metrics.
 */
#ifndef TH_CLI_STREAM_H
#define TH_CLI_STREAM_H

#include <stdbool.h>

#include "cli_args.h"

/* True when run must go through th__cli_stream_run: a kafka:// source or output. */
bool th__cli_stream_wanted(const struct th_cli_args *a);

/*
 * Runs `trailhound run` for parsed args a over the loaded rule set rs (borrowed): streams
 * from a kafka:// source until SIGINT or SIGTERM (or, with --exit-at-end, the end of every
 * assigned partition), committing offsets only once the signals are durable and the state
 * saved; or reads file sources into a kafka:// output, waiting for every delivery. Prints
 * errors, --stats and writes --metrics. Returns the exit code.
 */
int th__cli_stream_run(struct th_cli_args *a, const struct th_ruleset *rs);

/*
 * Writes an engine's counters (no Kafka) to path in the Prometheus text format, through a
 * temporary file renamed over path. For `run --metrics` over files. Returns 0, or prints
 * why and returns TH_EXIT_USAGE.
 */
int th__cli_metrics_write_engine(const char *path, const struct th_engine *eng);

#endif
