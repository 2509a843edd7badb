/*
 * cli_args.c - one option table for run and hunt: getopt_long names, which command takes
 * each option, and its help line. The help text is generated from the table, so the two
 * can never disagree.
 */
#include "cli_args.h"

#include <dirent.h>
#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

enum {
    OPT_RULES = 'r',
    OPT_OUTPUT = 'o',
    OPT_HELP = 'h',
    OPT_STATS = 256,
    OPT_FORMAT,
    OPT_SIGNAL_UPDATES,
    OPT_FAIL_ON_SIGNAL,
    OPT_SKIP_BAD_RULES,
    OPT_MAX_LATENESS,
    OPT_MAX_EVENT_SIZE,
    OPT_MAX_DEPTH,
    OPT_MAX_GROUPS,
    OPT_GEOIP,
    OPT_ASN,
    OPT_NO_GEOIP,
    OPT_NO_PROGRESS,
    OPT_COUNT,
    OPT_STATE,
    OPT_RESET_STATE,
};

#define RUN TH_CLI_RUN
#define HUNT TH_CLI_HUNT

static const struct {
    struct option opt;
    int cmds;
    const char *arg;
    const char *help;
} table[] = {
    {{"rules", required_argument, NULL, OPT_RULES}, RUN, "PATH",
     "a rule file or directory, repeatable (default: the installed pack, else ./rules)"},
    {{"output", required_argument, NULL, OPT_OUTPUT}, RUN, "DEST",
     "'-' for stdout (default) or a file, appended to"},
    {{"format", required_argument, NULL, OPT_FORMAT}, RUN, "json|ocsf",
     "signal format: trailhound's JSON lines (default) or OCSF Detection Findings"},
    {{"signal-updates", no_argument, NULL, OPT_SIGNAL_UPDATES}, RUN, NULL,
     "also write \"update\" and \"closed\" lines"},
    {{"fail-on-signal", no_argument, NULL, OPT_FAIL_ON_SIGNAL}, RUN, NULL,
     "exit 1 when any signal was produced (a CI gate)"},
    {{"skip-bad-rules", no_argument, NULL, OPT_SKIP_BAD_RULES}, RUN, NULL,
     "load the good rules and warn about the bad ones instead of refusing to start"},
    {{"count", no_argument, NULL, OPT_COUNT}, HUNT, NULL,
     "print only the number of matching events"},
    {{"stats", no_argument, NULL, OPT_STATS}, RUN | HUNT, NULL,
     "print counters on stderr at the end (events, rejects by reason, signals, groups)"},
    {{"no-progress", no_argument, NULL, OPT_NO_PROGRESS}, RUN | HUNT, NULL,
     "no progress line, even when stderr is a terminal"},
    {{"geoip", required_argument, NULL, OPT_GEOIP}, RUN | HUNT, "FILE",
     "a City database (MaxMind DB: GeoLite2-City, GeoIP2-City, DB-IP City Lite)"},
    {{"asn", required_argument, NULL, OPT_ASN}, RUN | HUNT, "FILE",
     "an ASN database (MaxMind DB: GeoLite2-ASN, DB-IP ASN Lite)"},
    {{"no-geoip", no_argument, NULL, OPT_NO_GEOIP}, RUN | HUNT, NULL,
     "do not search the usual places for databases (only --geoip and --asn)"},
    {{"max-lateness", required_argument, NULL, OPT_MAX_LATENESS}, RUN, "DURATION",
     "out-of-order tolerance in event time before state expires (default 15m)"},
    {{"max-event-size", required_argument, NULL, OPT_MAX_EVENT_SIZE}, RUN | HUNT, "SIZE",
     "largest event accepted, e.g. 1M (default 1 MiB); larger ones are rejected"},
    {{"max-depth", required_argument, NULL, OPT_MAX_DEPTH}, RUN | HUNT, "N",
     "deepest JSON nesting accepted (default 64)"},
    {{"max-groups", required_argument, NULL, OPT_MAX_GROUPS}, RUN, "N",
     "groups kept per rule before the least recently used is evicted (default 1000000)"},
    {{"state", required_argument, NULL, OPT_STATE}, RUN, "DIR",
     "load the detection state from DIR at start and save it there at exit"},
    {{"reset-state", no_argument, NULL, OPT_RESET_STATE}, RUN, NULL,
     "with --state: start empty, ignoring (then overwriting) the saved state"},
    {{"help", no_argument, NULL, OPT_HELP}, RUN | HUNT, NULL, "this help"},
};

/* Where GeoIP databases are searched for when --geoip / --asn are not given, in order. */
#define TH_GEOIP_DIRS "/usr/share/GeoIP:/var/lib/GeoIP"

static const char *const city_names[] = {"GeoIP2-City.mmdb", "GeoLite2-City.mmdb",
                                         "dbip-city-lite*.mmdb", NULL};
static const char *const asn_names[] = {"GeoLite2-ASN.mmdb", "dbip-asn-lite*.mmdb", NULL};

/* True when dir/name is a readable regular file whose path fits in size; writes it. */
static bool usable_file(const char *dir, size_t dlen, const char *name, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%.*s/%s", (int)dlen, dir, name);
    struct stat st;
    return n > 0 && (size_t)n < size && stat(buf, &st) == 0 && S_ISREG(st.st_mode) &&
           access(buf, R_OK) == 0;
}

/*
 * Looks for the first of names (a pattern may hold '*'; then the lexically last match
 * wins, which for DB-IP's dated names is the newest) in each search directory, names
 * first: GeoLite2-City.mmdb in any directory beats dbip-city-lite in the first one. Writes
 * the path into buf and returns true when a readable regular file was found.
 */
static bool find_db(const char *const *names, char *buf, size_t size)
{
    const char *env = getenv("TRAILHOUND_GEOIP_DIRS");
    const char *dirs = env ? env : TH_GEOIP_DIRS;
    for (size_t n = 0; names[n]; n++) {
        for (const char *d = dirs; *d;) {
            size_t len = strcspn(d, ":");
            if (len > 0 && !strchr(names[n], '*')) {
                if (usable_file(d, len, names[n], buf, size))
                    return true;
            } else if (len > 0 && len < 1024) {
                char path[1024], best[256] = "";
                snprintf(path, sizeof path, "%.*s", (int)len, d);
                DIR *dh = opendir(path);
                struct dirent *de;
                while (dh && (de = readdir(dh)) != NULL)
                    if (fnmatch(names[n], de->d_name, 0) == 0 &&
                        strlen(de->d_name) < sizeof best && strcmp(de->d_name, best) > 0 &&
                        usable_file(d, len, de->d_name, buf, size))
                        snprintf(best, sizeof best, "%s", de->d_name);
                if (dh)
                    closedir(dh);
                if (best[0] && usable_file(d, len, best, buf, size))
                    return true;
            }
            d += len;
            if (*d == ':')
                d++;
        }
    }
    return false;
}

static void help(enum th_cli_cmd cmd)
{
    if (cmd == RUN)
        printf("usage: trailhound run [OPTIONS] SOURCE...\n\n"
               "Reads CloudTrail events from each SOURCE (a file, a directory walked\n"
               "recursively, or - for stdin; S3 Records objects, NDJSON, JSON arrays,\n"
               "EventBridge and CloudWatch Logs payloads, gzipped or not), evaluates the\n"
               "rules, and writes one JSON line per signal.\n\noptions:\n");
    else
        printf("usage: trailhound hunt [OPTIONS] QUERY SOURCE...\n\n"
               "Prints each event that matches QUERY (Datadog log-search syntax, e.g.\n"
               "'@evt.name:ConsoleLogin @userIdentity.type:Root') as one JSON line in its\n"
               "original form. Exit 0 when something matched, 1 when nothing did, 2 on\n"
               "errors (grep's convention).\n\noptions:\n");
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (!(table[i].cmds & (int)cmd))
            continue;
        char left[64];
        int c = table[i].opt.val;
        if (c < 256)
            snprintf(left, sizeof left, "-%c, --%s%s%s", c, table[i].opt.name,
                     table[i].arg ? " " : "", table[i].arg ? table[i].arg : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", table[i].opt.name,
                     table[i].arg ? " " : "", table[i].arg ? table[i].arg : "");
        printf("  %-28s %s\n", left, table[i].help);
    }
    printf("\nWithout --geoip and --asn, databases are searched for in /usr/share/GeoIP,\n"
           "then /var/lib/GeoIP (or in $TRAILHOUND_GEOIP_DIRS, directories separated by\n"
           "':'), taking the first name of each list found in any of them: GeoIP2-City.mmdb,\n"
           "GeoLite2-City.mmdb, dbip-city-lite*.mmdb (the newest); GeoLite2-ASN.mmdb,\n"
           "dbip-asn-lite*.mmdb. Without a City database, rules that need one are disabled\n"
           "with a warning.\n");
    if (cmd == RUN)
        printf("\nExit codes: 0 success (signals or not); 1 signals with --fail-on-signal;\n"
               "2 usage, configuration or rule errors; 3 some input could not be read\n"
               "(the rest was processed).\n");
}

int th__cli_args_parse(enum th_cli_cmd cmd, int argc, char **argv, struct th_cli_args *a)
{
    memset(a, 0, sizeof *a);
    th_options_init(&a->opts);
    a->output = "-";
    a->progress = true;

    struct option longopts[sizeof table / sizeof table[0] + 1];
    char shortopts[64] = "";
    size_t n = 0;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (!(table[i].cmds & (int)cmd))
            continue;
        longopts[n++] = table[i].opt;
        int c = table[i].opt.val;
        if (c < 256) {
            size_t l = strlen(shortopts);
            shortopts[l] = (char)c;
            shortopts[l + 1] = table[i].opt.has_arg ? ':' : '\0';
            shortopts[l + 2] = '\0';
        }
    }
    memset(&longopts[n], 0, sizeof longopts[n]);

    /* A query such as `-@errorCode:*` or `-(...)` starts with '-' but is no option: hide
     * such words from getopt, then put them back among the operands in their order. */
    char *orig[argc + 1];
    char *opts_argv[argc + 1];
    char *hidden[argc + 1];
    int nopts = 0, nhidden = 0;
    for (int i = 0; i < argc; i++) {
        orig[i] = argv[i];
        const char *w = argv[i];
        if (i > 0 && w[0] == '-' && w[1] && w[1] != '-' &&
            !((w[1] >= 'a' && w[1] <= 'z') || (w[1] >= 'A' && w[1] <= 'Z')))
            hidden[nhidden++] = argv[i];
        else
            opts_argv[nopts++] = argv[i];
    }
    opts_argv[nopts] = NULL;

    const char *name = cmd == RUN ? "run" : "hunt";
    bool no_geoip_search = false;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(nopts, opts_argv, shortopts, longopts, NULL)) != -1) {
        switch (c) {
        case OPT_HELP:
            help(cmd);
            return TH_EXIT_OK;
        case OPT_RULES:
            if (a->nrules == (int)(sizeof a->rules / sizeof a->rules[0])) {
                th__cli_error("%s: too many --rules (at most 64)", name);
                return TH_EXIT_USAGE;
            }
            a->rules[a->nrules++] = optarg;
            break;
        case OPT_OUTPUT:
            a->output = optarg;
            break;
        case OPT_FORMAT:
            if (!strcmp(optarg, "json")) {
                a->opts.format = TH_FORMAT_JSON;
            } else if (!strcmp(optarg, "ocsf")) {
                a->opts.format = TH_FORMAT_OCSF;
            } else {
                th__cli_error("--format: unknown format '%s' (json or ocsf)", optarg);
                return TH_EXIT_USAGE;
            }
            break;
        case OPT_SIGNAL_UPDATES:
            a->opts.signal_updates = 1;
            break;
        case OPT_FAIL_ON_SIGNAL:
            a->fail_on_signal = true;
            break;
        case OPT_SKIP_BAD_RULES:
            a->skip_bad_rules = true;
            break;
        case OPT_COUNT:
            a->count = true;
            break;
        case OPT_STATS:
            a->stats = true;
            break;
        case OPT_NO_PROGRESS:
            a->progress = false;
            break;
        case OPT_GEOIP:
        case OPT_ASN:
            if (!optarg[0]) {
                th__cli_error("--%s: expected a file", c == OPT_GEOIP ? "geoip" : "asn");
                return TH_EXIT_USAGE;
            }
            *(c == OPT_GEOIP ? &a->opts.geoip_path : &a->opts.asn_path) = optarg;
            break;
        case OPT_NO_GEOIP:
            no_geoip_search = true;
            break;
        case OPT_MAX_LATENESS:
            if (!th__cli_parse_duration("--max-lateness", optarg, &a->opts.max_lateness_ms))
                return TH_EXIT_USAGE;
            break;
        case OPT_MAX_EVENT_SIZE:
            if (!th__cli_parse_size("--max-event-size", optarg, &a->opts.max_event_size))
                return TH_EXIT_USAGE;
            break;
        case OPT_MAX_DEPTH: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 2 || v > 10000) {
                th__cli_error("--max-depth: expected a number from 2 to 10000, not '%s'", optarg);
                return TH_EXIT_USAGE;
            }
            a->opts.max_depth = (int)v;
            break;
        }
        case OPT_MAX_GROUPS: {
            size_t v;
            if (!th__cli_parse_size("--max-groups", optarg, &v))
                return TH_EXIT_USAGE;
            a->opts.max_groups = v;
            break;
        }
        case OPT_STATE:
            if (!optarg[0]) {
                th__cli_error("--state: expected a directory");
                return TH_EXIT_USAGE;
            }
            a->opts.state_dir = optarg;
            break;
        case OPT_RESET_STATE:
            a->opts.reset_state = 1;
            break;
        case '?':
        default:
            if (optopt && optopt < 256)
                th__cli_error("%s: unknown option -%c; see 'trailhound %s --help'", name,
                              optopt, name);
            else
                th__cli_error("%s: unknown option or missing value in '%s'; see 'trailhound %s "
                              "--help'",
                              name, argv[optind - 1], name);
            return TH_EXIT_USAGE;
        }
    }
    if (a->opts.reset_state && !a->opts.state_dir) {
        th__cli_error("%s: --reset-state needs --state DIR", name);
        return TH_EXIT_USAGE;
    }
    if (!no_geoip_search) {
        if (!a->opts.geoip_path && find_db(city_names, a->geoip_found, sizeof a->geoip_found))
            a->opts.geoip_path = a->geoip_found;
        if (!a->opts.asn_path && find_db(asn_names, a->asn_found, sizeof a->asn_found))
            a->opts.asn_path = a->asn_found;
    }
    /* Operands: what getopt left (in their original order) plus the hidden words, merged
     * back into the order they were given in. */
    int nops = 0;
    for (int i = 1; i < argc; i++) {
        bool is_operand = false;
        for (int k = 0; k < nhidden && !is_operand; k++)
            is_operand = orig[i] == hidden[k];
        for (int k = optind; k < nopts && !is_operand; k++)
            is_operand = orig[i] == opts_argv[k];
        if (is_operand)
            argv[1 + nops++] = orig[i];
    }
    a->positional = argv + 1;
    a->npositional = nops;
    return -1;
}
