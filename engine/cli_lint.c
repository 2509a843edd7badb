/*
 * cli_lint.c - `trailhound lint [PATH...]`: loads every rule, prints every error and
 * warning with file:line:col, and exits 2 when there is any error (1 with --strict when
 * there are only warnings), else 0.
 */
#include "cli.h"

#include <string.h>

struct lint_ctx {
    unsigned errors, warnings;
};

static void print_diag(void *ctx, const struct th_diag *d)
{
    struct lint_ctx *lc = ctx;
    if (d->is_error)
        lc->errors++;
    else
        lc->warnings++;
    printf("%s: %s: %s: %s\n", d->where && d->where[0] ? d->where : "-",
           d->is_error ? "error" : "warning", d->rule ? d->rule : "", d->msg);
}

int th__cli_lint(int argc, char **argv)
{
    bool strict = false;
    const char *paths[256];
    size_t n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: trailhound lint [--strict] [PATH...]\n\n"
                   "Loads every rule under each PATH (default ./rules), printing each error\n"
                   "and warning as FILE:LINE:COL: error|warning: RULE: reason.\n"
                   "Exit 0 when there is no error, 2 when there is any, and with --strict\n"
                   "1 when there are warnings but no error.\n");
            return TH_EXIT_OK;
        }
        if (!strcmp(argv[i], "--strict")) {
            strict = true;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            th__cli_error("lint: unknown option '%s'; see 'trailhound lint --help'", argv[i]);
            return TH_EXIT_USAGE;
        }
        if (n == sizeof paths / sizeof paths[0]) {
            th__cli_error("lint: too many paths (at most 256)");
            return TH_EXIT_USAGE;
        }
        paths[n++] = argv[i];
    }
    if (n == 0)
        paths[n++] = "rules";
    struct lint_ctx lc = {0, 0};
    struct th_ruleset *rs = NULL;
    int rc = th_ruleset_load(paths, n, 1, print_diag, &lc, &rs);
    size_t count = rs ? th_ruleset_count(rs) : 0;
    th_ruleset_free(rs);
    if (rc < 0) {
        th__cli_error("lint: %s", th_strerror(rc));
        return TH_EXIT_USAGE;
    }
    printf("%zu rule%s loaded, %u error%s, %u warning%s\n", count, count == 1 ? "" : "s",
           lc.errors, lc.errors == 1 ? "" : "s", lc.warnings, lc.warnings == 1 ? "" : "s");
    if (lc.errors)
        return TH_EXIT_USAGE;
    return strict && lc.warnings ? 1 : TH_EXIT_OK;
}
