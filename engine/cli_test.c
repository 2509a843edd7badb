/*
 * cli_test.c - `trailhound test [OPTIONS] [PATH...]`: runs the rules' fixtures through
 * th_ruletest_run and prints one line per result ("ok   RULE/CASE", "FAIL RULE/CASE:
 * reason" followed by an indented diff, "skip RULE: reason"), then exactly "N passed, N
 * failed". Exit 0 when nothing failed, 1 when something did, 2 on usage errors (a bad
 * option, a missing path or fixtures directory, a filter that matches no rule, a JUnit file
 * that cannot be written). A case's `args` file is parsed by the option table of `run`
 * (cli_args.c), so a fixture spells options exactly as `trailhound run` does.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"

struct test_ctx {
    struct th_junit *junit;
    bool junit_oom;
};

static void print_result(void *ctx, const struct th_ruletest_result *r)
{
    struct test_ctx *tc = ctx;
    const char *tag = r->status == TH_RULETEST_PASS   ? "ok  "
                      : r->status == TH_RULETEST_FAIL ? "FAIL"
                                                      : "skip";
    printf("%s %s%s%s", tag, r->rule, r->name ? "/" : "", r->name ? r->name : "");
    if (r->reason)
        printf(": %s", r->reason);
    putchar('\n');
    if (r->diff) {
        /* The diff, indented so that it reads as part of the FAIL line above. */
        for (const char *p = r->diff; *p;) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            printf("    %.*s\n", (int)len, p);
            p += len + (nl != NULL);
        }
    }
    if (tc->junit && th_junit_add(tc->junit, r) < 0)
        tc->junit_oom = true;
}

/*
 * A case's args: the options of `run` that shape the engine; sources, rules and the
 * output destination belong to the runner, and state would tie the case to other runs.
 * GeoIP databases come only from --geoip / --asn (paths relative to the case directory,
 * resolved by the runner): the machine's own databases are never searched, so a case
 * gives the same output everywhere.
 */
static int parse_case_args(void *ctx, int argc, char **argv, struct th_options *opts,
                           struct th_err *err)
{
    (void)ctx;
    char no_search[] = "--no-geoip";
    char *words[argc + 2];
    words[0] = argv[0];
    words[1] = no_search;
    for (int i = 1; i < argc; i++)
        words[i + 1] = argv[i];
    words[argc + 1] = NULL;
    struct th_cli_args a;
    int rc = th__cli_args_parse(TH_CLI_RUN, argc + 1, words, &a);
    if (rc >= 0) {
        th__cli_args_fini(&a);
        snprintf(err->msg, sizeof err->msg, "not options of trailhound run (see above)");
        return TH_EINVAL;
    }
    int bad = 0;
    if (a.npositional || a.nrules || strcmp(a.output, "-") != 0) {
        snprintf(err->msg, sizeof err->msg,
                 "sources, --rules and --output are the runner's business, not a case's");
        bad = TH_EINVAL;
    } else if (a.opts.state_dir) {
        snprintf(err->msg, sizeof err->msg, "--state has no place in a fixture (every case "
                                            "starts with empty state)");
        bad = TH_EINVAL;
    } else if (a.config_path) {
        snprintf(err->msg, sizeof err->msg, "-c has no place in a fixture: write the options "
                                            "in the args file itself");
        bad = TH_EINVAL;
    }
    th__cli_args_fini(&a); /* without -c it owns nothing the options point into */
    if (bad)
        return bad;
    *opts = a.opts; /* its strings point into argv, which outlives the case */
    return 0;
}

static void usage(void)
{
    printf("usage: trailhound test [OPTIONS] [PATH...]\n\n"
           "Runs the fixtures of every rule under each PATH (rule files or directories,\n"
           "default ./rules): FIXTURES/<rule-id>/<case>/ holds events.* and the signals\n"
           "they must give (expected.jsonl, byte for byte; empty: must not fire), or a\n"
           "broken rule.yaml and the expected_error it must fail to load with. Each case\n"
           "runs alone: only its rule, a fresh engine, event time. Prints one line per\n"
           "case and a final 'N passed, N failed'.\n\noptions:\n"
           "  --fixtures DIR      the fixtures directory (default ./fixtures)\n"
           "  --filter SUBSTR     only the rules whose id contains SUBSTR\n"
           "  --allow-untested    a rule without fixtures is skipped, not a failure\n"
           "  --junit FILE        also write the results as JUnit XML to FILE\n"
           "  -h, --help          this help\n\n"
           "Failures: a case whose output differs, a rule that does not load, a rule\n"
           "without fixtures, without a case that fires or without a quiet one, a fixture\n"
           "directory named after no rule, a case with neither events nor a rule file.\n"
           "Exit codes: 0 everything passed; 1 something failed; 2 usage errors.\n");
}

/* Takes the value of option `name` from argv[*i] ("--name=v") or argv[*i + 1]. */
static bool option_value(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return false;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return true;
    }
    if (argv[*i][n] != '\0')
        return false;
    if (*i + 1 >= argc) {
        *val = NULL;
        return true;
    }
    *val = argv[++*i];
    return true;
}

int th__cli_test(int argc, char **argv)
{
    const char *paths[256];
    size_t n = 0;
    const char *fixtures = "fixtures", *filter = NULL, *junit_path = NULL, *val;
    bool allow_untested = false, options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && arg[0] == '-' && arg[1]) {
            if (!strcmp(arg, "--")) {
                options_done = true;
                continue;
            }
            if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
                usage();
                return TH_EXIT_OK;
            }
            if (!strcmp(arg, "--allow-untested")) {
                allow_untested = true;
                continue;
            }
            const char **dest = NULL;
            const char *name = NULL;
            if (option_value(argc, argv, &i, "--fixtures", &val))
                dest = &fixtures, name = "--fixtures";
            else if (option_value(argc, argv, &i, "--filter", &val))
                dest = &filter, name = "--filter";
            else if (option_value(argc, argv, &i, "--junit", &val))
                dest = &junit_path, name = "--junit";
            if (!dest) {
                th__cli_error("test: unknown option '%s'; see 'trailhound test --help'", arg);
                return TH_EXIT_USAGE;
            }
            if (!val || !*val) {
                th__cli_error("test: %s needs a value; see 'trailhound test --help'", name);
                return TH_EXIT_USAGE;
            }
            *dest = val;
            continue;
        }
        if (n == sizeof paths / sizeof paths[0]) {
            th__cli_error("test: too many paths (at most 256)");
            return TH_EXIT_USAGE;
        }
        paths[n++] = arg;
    }
    if (n == 0)
        paths[n++] = "rules";

    struct test_ctx tc = {NULL, false};
    FILE *junit_fp = NULL;
    if (junit_path) {
        /* Opened first, so that a path that cannot be written fails before the run. */
        if (!(junit_fp = fopen(junit_path, "w"))) {
            th__cli_error("test: cannot write %s: %s", junit_path, strerror(errno));
            return TH_EXIT_USAGE;
        }
        if (th_junit_new(&tc.junit) < 0) {
            fclose(junit_fp);
            th__cli_error("test: out of memory");
            return TH_EXIT_USAGE;
        }
    }
    struct th_ruletest_config cfg = {paths,          n,     fixtures,     filter, allow_untested,
                                     parse_case_args, NULL, print_result, &tc};
    struct th_ruletest_summary sum;
    struct th_err err = {{0}, {0}};
    int rc = th_ruletest_run(&cfg, &sum, &err);
    int status = TH_EXIT_OK;
    if (rc < 0) {
        char buf[1100];
        th__cli_error("test: %s", th_err_format(&err, buf, sizeof buf));
        status = TH_EXIT_USAGE;
    } else {
        printf("%u passed, %u failed\n", sum.passed, sum.failed);
        status = sum.failed ? 1 : TH_EXIT_OK;
    }
    fflush(stdout);
    if (junit_fp) {
        if (status != TH_EXIT_USAGE && (tc.junit_oom || th_junit_write(tc.junit, junit_fp) < 0)) {
            th__cli_error("test: cannot write %s", junit_path);
            status = TH_EXIT_USAGE;
        }
        if (fclose(junit_fp) != 0 && status != TH_EXIT_USAGE) {
            th__cli_error("test: cannot write %s: %s", junit_path, strerror(errno));
            status = TH_EXIT_USAGE;
        }
        th_junit_free(tc.junit);
    }
    return status;
}
