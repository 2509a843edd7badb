/*
 * cli_coverage.c - `trailhound coverage [OPTIONS] [PATH...]`: loads the rules under each
 * PATH (default ./rules) and writes their MITRE ATT&CK coverage with th_coverage_write: a
 * table for a terminal, the same table in Markdown, or an ATT&CK Navigator layer. Rule
 * errors are printed and exit 2, unless --skip-bad-rules (then they are warnings and the
 * good rules are counted). Exit 0 otherwise.
 */
#include "cli.h"

#include <string.h>

static void usage(void)
{
    printf("usage: trailhound coverage [OPTIONS] [PATH...]\n\n"
           "Prints the MITRE ATT&CK Enterprise coverage of the rules under each PATH (rule\n"
           "files or directories, default ./rules), from their tactic: and technique: tags:\n"
           "tactics in matrix order, under each the techniques covered and the rule ids,\n"
           "then a summary line.\n\noptions:\n"
           "  --format FORMAT     text (default), markdown, or navigator: an ATT&CK\n"
           "                      Navigator layer (JSON, layer format 4.5; score = the\n"
           "                      number of rules, comment = their ids)\n"
           "  --skip-bad-rules    count the good rules and warn about the bad ones instead\n"
           "                      of refusing\n"
           "  -h, --help          this help\n\n"
           "Exit codes: 0 success; 2 usage or rule errors.\n");
}

struct diag_ctx {
    bool skip_bad;
};

static void print_diag(void *ctx, const struct th_diag *d)
{
    struct diag_ctx *dc = ctx;
    if (!d->is_error)
        return;
    fprintf(stderr, "%s: %s: %s: %s\n", d->where && d->where[0] ? d->where : "trailhound",
            dc->skip_bad ? "warning" : "error", d->rule ? d->rule : "", d->msg);
}

int th__cli_coverage(int argc, char **argv)
{
    const char *paths[256];
    size_t n = 0;
    enum th_coverage_format format = TH_COVERAGE_TEXT;
    struct diag_ctx dc = {false};
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && arg[0] == '-' && arg[1]) {
            const char *val = NULL;
            if (!strcmp(arg, "--")) {
                options_done = true;
            } else if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
                usage();
                return TH_EXIT_OK;
            } else if (!strcmp(arg, "--skip-bad-rules")) {
                dc.skip_bad = true;
            } else if (!strncmp(arg, "--format=", 9) || !strcmp(arg, "--format")) {
                val = arg[8] == '=' ? arg + 9 : i + 1 < argc ? argv[++i] : "";
                if (!strcmp(val, "text")) {
                    format = TH_COVERAGE_TEXT;
                } else if (!strcmp(val, "markdown")) {
                    format = TH_COVERAGE_MARKDOWN;
                } else if (!strcmp(val, "navigator")) {
                    format = TH_COVERAGE_NAVIGATOR;
                } else {
                    th__cli_error("coverage: unknown format '%s' (text, markdown or navigator)",
                                  val);
                    return TH_EXIT_USAGE;
                }
            } else {
                th__cli_error("coverage: unknown option '%s'; see 'trailhound coverage --help'",
                              arg);
                return TH_EXIT_USAGE;
            }
            continue;
        }
        if (n == sizeof paths / sizeof paths[0]) {
            th__cli_error("coverage: too many paths (at most 256)");
            return TH_EXIT_USAGE;
        }
        paths[n++] = arg;
    }
    if (n == 0)
        paths[n++] = "rules";

    struct th_ruleset *rs = NULL;
    int rc = th_ruleset_load(paths, n, dc.skip_bad, print_diag, &dc, &rs);
    if (rc < 0) {
        th__cli_error("coverage: cannot load rules: %s", th_strerror(rc));
        return TH_EXIT_USAGE;
    }
    if (rc > 0 && !dc.skip_bad) {
        th__cli_error("coverage: %d rule error%s; fix them or pass --skip-bad-rules", rc,
                      rc == 1 ? "" : "s");
        th_ruleset_free(rs);
        return TH_EXIT_USAGE;
    }
    struct th_err err = {{0}, {0}};
    rc = th_coverage_write(rs, format, stdout, &err);
    th_ruleset_free(rs);
    if (rc < 0) {
        char buf[1100];
        th__cli_error("coverage: %s", th_err_format(&err, buf, sizeof buf));
        return TH_EXIT_USAGE;
    }
    return TH_EXIT_OK;
}
