/*
 * cli_run.c - `trailhound run` and `trailhound hunt`: read sources, write signals (run) or
 * matching events (hunt), print --stats, and decide the exit code.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_args.h"
#include "cli_stream.h"

#ifndef TH_DEFAULT_RULES_DIR
#define TH_DEFAULT_RULES_DIR "/usr/local/share/trailhound/rules"
#endif

struct diag_ctx {
    bool print_warnings;
    unsigned errors;
};

static void print_diag(void *ctx, const struct th_diag *d)
{
    struct diag_ctx *dc = ctx;
    if (!d->is_error && !dc->print_warnings)
        return;
    dc->errors += d->is_error;
    fprintf(stderr, "%s: %s: %s: %s\n", d->where && d->where[0] ? d->where : "trailhound",
            d->is_error ? "error" : "warning", d->rule ? d->rule : "", d->msg);
}

/* The rule paths given, or the default pack. */
static size_t rule_paths(const struct th_cli_args *a, const char **paths)
{
    if (a->nrules) {
        for (int i = 0; i < a->nrules; i++)
            paths[i] = a->rules[i];
        return (size_t)a->nrules;
    }
    struct stat st;
    paths[0] = stat(TH_DEFAULT_RULES_DIR, &st) == 0 ? TH_DEFAULT_RULES_DIR : "rules";
    return 1;
}

/* Loads the rules for run; prints errors. Returns 0 or an exit code. */
static int load_rules(const struct th_cli_args *a, struct th_ruleset **rs)
{
    const char *paths[64];
    size_t n = rule_paths(a, paths);
    struct diag_ctx dc = {false, 0};
    int rc = th_ruleset_load(paths, n, a->skip_bad_rules, print_diag, &dc, rs);
    if (rc < 0) {
        th__cli_error("cannot load rules: %s", th_strerror(rc));
        return TH_EXIT_USAGE;
    }
    if (rc > 0 && !a->skip_bad_rules) {
        th__cli_error("%d rule error%s; fix them or pass --skip-bad-rules", rc,
                      rc == 1 ? "" : "s");
        th_ruleset_free(*rs);
        return TH_EXIT_USAGE;
    }
    if (th_ruleset_count(*rs) == 0) {
        th__cli_error("no rules to run in %s%s", paths[0], n > 1 ? " and the other paths" : "");
        th_ruleset_free(*rs);
        return TH_EXIT_USAGE;
    }
    return 0;
}

/* Reads every source; returns TH_EXIT_INPUT when some could not be read, else 0. */
static int read_sources(struct th_engine *eng, char **sources, int n)
{
    int status = 0;
    for (int i = 0; i < n; i++) {
        if (!strncmp(sources[i], "kafka://", 8)) {
            th__cli_error("%s: hunt reads files, directories and stdin; Kafka sources are for "
                          "run", sources[i]);
            status = TH_EXIT_INPUT;
            continue;
        }
        struct th_err err = {0};
        int rc = th_engine_read_path(eng, sources[i], &err);
        if (rc < 0) {
            char buf[1100];
            th__cli_error("%s", th_err_format(&err, buf, sizeof buf));
            status = TH_EXIT_INPUT;
        }
    }
    return status;
}

/* --state: saves the snapshot once the signals are durable (out_rc 0). Returns 0 or an
 * exit code, with the reason printed; *seconds gets the time the save took. */
static int save_state(struct th_engine *eng, const char *dir, int out_rc, double *seconds)
{
    if (out_rc) {
        th__cli_error("%s: state not saved: the signals could not all be written", dir);
        return TH_EXIT_USAGE;
    }
    double t0 = th__cli_now();
    struct th_err err = {0};
    int rc = th_engine_state_save(eng, &err);
    *seconds = th__cli_now() - t0;
    if (rc < 0) {
        char buf[1100];
        th__cli_error("%s", th_err_format(&err, buf, sizeof buf));
        return TH_EXIT_USAGE;
    }
    return 0;
}

static int run_parsed(enum th_cli_cmd cmd, const struct th_cli_args *ap);

static int run_or_hunt(enum th_cli_cmd cmd, int argc, char **argv)
{
    struct th_cli_args a;
    int rc = th__cli_args_parse(cmd, argc, argv, &a);
    if (rc < 0)
        rc = run_parsed(cmd, &a);
    th__cli_args_fini(&a);
    return rc;
}

/* run or hunt once the options are parsed (a copy of them: they are used by value). */
static int run_parsed(enum th_cli_cmd cmd, const struct th_cli_args *ap)
{
    struct th_cli_args a = *ap;
    int rc;
    int need = cmd == TH_CLI_HUNT ? 2 : 1;
    if (a.npositional < need) {
        th__cli_error(cmd == TH_CLI_HUNT ? "hunt: expected a QUERY and at least one SOURCE; see "
                                           "'trailhound hunt --help'"
                                         : "run: expected at least one SOURCE (a file, a "
                                           "directory or -); see 'trailhound run --help'");
        return TH_EXIT_USAGE;
    }

    struct th_ruleset *rs = NULL;
    if (cmd == TH_CLI_RUN && (rc = load_rules(&a, &rs)) != 0)
        return rc;
    if (cmd == TH_CLI_RUN && th__cli_stream_wanted(&a)) { /* Kafka in or out: cli_stream.c */
        rc = th__cli_stream_run(&a, rs);
        th_ruleset_free(rs);
        return rc;
    }

    struct th_cli_output out;
    if ((rc = th__cli_output_open(&out, cmd == TH_CLI_HUNT ? "-" : a.output)) != 0) {
        th_ruleset_free(rs);
        return rc;
    }
    struct th_cli_progress prog;
    th__cli_progress_init(&prog, a.progress);
    a.opts.log = th__cli_log_warning;
    a.opts.progress = th__cli_progress_cb;
    a.opts.progress_ctx = &prog;

    struct th_engine *eng = NULL;
    struct th_err err = {0};
    double load_s = th__cli_now();
    if (cmd == TH_CLI_HUNT) {
        th_line_fn fn = a.count ? NULL : th__cli_output_line;
        rc = th_engine_new_hunt(a.positional[0], &a.opts, fn, &out, &eng, &err);
    } else {
        rc = th_engine_new(rs, &a.opts, th__cli_output_line, &out, &eng, &err);
    }
    if (rc < 0) {
        char buf[1100];
        th__cli_error("%s", th_err_format(&err, buf, sizeof buf));
        th__cli_output_close(&out);
        th_ruleset_free(rs);
        return TH_EXIT_USAGE;
    }

    load_s = th__cli_now() - load_s;
    int status = read_sources(eng, a.positional + need - 1, a.npositional - need + 1);
    th_engine_finish(eng);
    th__cli_progress_clear(&prog);
    /* The signals are made durable before the state that says they were written. */
    int out_rc = th__cli_output_close(&out);
    int state_rc = 0;
    double save_s = 0;
    if (cmd == TH_CLI_RUN && a.opts.state_dir)
        state_rc = save_state(eng, a.opts.state_dir, out_rc, &save_s);
    struct th_stats s;
    th_engine_stats(eng, &s);
    if (cmd == TH_CLI_HUNT && a.count)
        printf("%llu\n", (unsigned long long)s.matched);
    if (a.stats) {
        th__cli_print_stats(eng, th__cli_now() - prog.start);
        if (cmd == TH_CLI_RUN && a.opts.state_dir)
            fprintf(stderr, "  state            loaded %llu bytes in %.3f s, saved %llu bytes "
                    "in %.3f s\n", (unsigned long long)s.state_loaded_bytes, load_s,
                    (unsigned long long)s.state_saved_bytes, save_s);
    }
    int metrics_rc = cmd == TH_CLI_RUN && a.metrics ? th__cli_metrics_write_engine(a.metrics, eng)
                                                     : 0;
    th_engine_free(eng);
    th_ruleset_free(rs);

    if (cmd == TH_CLI_HUNT) {
        if (status || out_rc)
            return TH_EXIT_USAGE;
        return s.matched ? TH_EXIT_OK : TH_EXIT_SIGNALS;
    }
    if (out_rc || state_rc || metrics_rc)
        return TH_EXIT_USAGE;
    if (status)
        return status;
    return a.fail_on_signal && s.signals ? TH_EXIT_SIGNALS : TH_EXIT_OK;
}

int th__cli_run(int argc, char **argv)
{
    return run_or_hunt(TH_CLI_RUN, argc, argv);
}

int th__cli_hunt(int argc, char **argv)
{
    return run_or_hunt(TH_CLI_HUNT, argc, argv);
}
