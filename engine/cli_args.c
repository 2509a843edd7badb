/*
 * cli_args.c - one option table for run and hunt: getopt_long names, which command takes
 * each option, and its help line. The help text is generated from the table, so the two
 * can never disagree.
 */
#include "cli_args.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"

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
    OPT_REGEX_MATCH_LIMIT,
    OPT_REGEX_DEPTH_LIMIT,
    OPT_MAX_SAMPLES,
    OPT_GEOIP,
    OPT_ASN,
    OPT_NO_GEOIP,
    OPT_NO_PROGRESS,
    OPT_COUNT,
    OPT_STATE,
    OPT_RESET_STATE,
    OPT_KAFKA = 'X',
    OPT_CONFIG = 'c',
    OPT_METRICS = 512,
    OPT_STATS_INTERVAL,
    OPT_COMMIT_INTERVAL,
    OPT_EXIT_AT_END,
    OPT_NO_PREFILTER,
    OPT_THREADS,
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
    {{"regex-match-limit", required_argument, NULL, OPT_REGEX_MATCH_LIMIT}, RUN | HUNT, "N",
     "PCRE2 match limit of one regex match (default 100000); a match that hits it fails"},
    {{"regex-depth-limit", required_argument, NULL, OPT_REGEX_DEPTH_LIMIT}, RUN | HUNT, "N",
     "PCRE2 backtracking depth limit of one regex match (default 1000)"},
    {{"max-samples", required_argument, NULL, OPT_MAX_SAMPLES}, RUN, "N",
     "matched events kept whole in a signal's samples, 0 to 1000 (default 3)"},
    {{"state", required_argument, NULL, OPT_STATE}, RUN, "DIR",
     "load the detection state from DIR at start and save it there at exit"},
    {{"reset-state", no_argument, NULL, OPT_RESET_STATE}, RUN, NULL,
     "with --state: start empty, ignoring (then overwriting) the saved state"},
    {{"kafka", required_argument, NULL, OPT_KAFKA}, RUN, "KEY=VALUE",
     "a librdkafka property for the Kafka consumer and producer (security.protocol, sasl.*, "
     "ssl.*...), repeatable"},
    {{"config", required_argument, NULL, OPT_CONFIG}, RUN | HUNT, "FILE",
     "read settings from a YAML file (the long options without '--'); flags win"},
    {{"metrics", required_argument, NULL, OPT_METRICS}, RUN, "FILE",
     "write the counters in Prometheus text format to FILE (replaced atomically)"},
    {{"stats-interval", required_argument, NULL, OPT_STATS_INTERVAL}, RUN, "DURATION",
     "Kafka: how often --stats prints a line and --metrics is rewritten (default 10s)"},
    {{"commit-interval", required_argument, NULL, OPT_COMMIT_INTERVAL}, RUN, "DURATION",
     "Kafka: how often offsets are committed, once signals and state are durable (default 5s)"},
    {{"exit-at-end", no_argument, NULL, OPT_EXIT_AT_END}, RUN, NULL,
     "Kafka: stop (and commit) once every assigned partition has been read to its end"},
    {{"threads", required_argument, NULL, OPT_THREADS}, RUN | HUNT, "N",
     "2: read (files, gzip, the prefilter) on a second thread while evaluating on the first; "
     "the same output, byte for byte (default 1)"},
    {{"no-prefilter", no_argument, NULL, OPT_NO_PREFILTER}, RUN | HUNT, NULL,
     "parse and evaluate every event, even those in which no rule's literals occur (the "
     "results are the same; for comparisons)"},
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

/* Parses a whole decimal number from min to max for option opt; false (reported) else. */
static bool parse_count(const char *opt, const char *s, unsigned long long min,
                        unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
    if (!(s[0] >= '0' && s[0] <= '9') || *end || errno || v < min || v > max) {
        th__cli_error("--%s: expected a number from %llu to %llu, not '%s'", opt, min, max, s);
        return false;
    }
    *out = v;
    return true;
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

/*
 * The settings file's keys: every long option of cmd but help and config, named with '_'
 * (max_lateness), typed after its value; plus `sources`, the operands used when the
 * command line gives none. names holds the converted names.
 */
static size_t config_keys(enum th_cli_cmd cmd, struct th_config_key *keys, char (*names)[40])
{
    static const char *const formats[] = {"json", "ocsf", NULL};
    size_t n = 0;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        int c = table[i].opt.val;
        if (!(table[i].cmds & (int)cmd) || c == OPT_HELP || c == OPT_CONFIG)
            continue;
        snprintf(names[n], sizeof names[n], "%s", table[i].opt.name);
        for (char *p = names[n]; *p; p++)
            *p = *p == '-' ? '_' : *p;
        struct th_config_key k = {names[n], TH_CONFIG_STRING, c, 0, 0, NULL};
        if (table[i].opt.has_arg == no_argument)
            k.type = TH_CONFIG_BOOL;
        else if (c == OPT_RULES)
            k.type = TH_CONFIG_LIST;
        else if (c == OPT_KAFKA)
            k.type = TH_CONFIG_MAP;
        else if (c == OPT_MAX_LATENESS || c == OPT_STATS_INTERVAL || c == OPT_COMMIT_INTERVAL)
            k.type = TH_CONFIG_DURATION;
        else if (c == OPT_MAX_EVENT_SIZE || c == OPT_MAX_GROUPS)
            k.type = TH_CONFIG_SIZE;
        else if (c == OPT_MAX_DEPTH)
            k = (struct th_config_key){names[n], TH_CONFIG_INT, c, 2, 10000, NULL};
        else if (c == OPT_THREADS)
            k = (struct th_config_key){names[n], TH_CONFIG_INT, c, 1, 64, NULL};
        else if (c == OPT_FORMAT)
            k.choices = formats;
        keys[n++] = k;
    }
    keys[n++] = (struct th_config_key){"sources", TH_CONFIG_LIST, -1, 0, 0, NULL};
    return n;
}

/* The -c FILE of argv (the last one), or NULL; the scan stops at "--". */
static const char *config_arg(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config"))
            path = i + 1 < argc ? argv[++i] : path;
        else if (!strncmp(argv[i], "--config=", 9))
            path = argv[i] + 9;
        else if (!strncmp(argv[i], "-c", 2))
            path = argv[i] + 2;
    }
    return path;
}

/* Loads -c FILE and turns its settings into "--name=value" words for getopt, placed
 * before the command line's own options so that those win. Returns 0 or an exit code. */
static int load_config(const char *path, const struct th_config_key *keys, size_t nkeys,
                       struct th_cli_args *a)
{
    struct th_err err = {0};
    char buf[1100];
    if (th__config_load(path, keys, nkeys, &a->config, &err) < 0) {
        th__cli_error("%s", th_err_format(&err, buf, sizeof buf));
        return TH_EXIT_USAGE;
    }
    a->config_path = path;
    a->config_words = calloc(a->config->n + 1, sizeof *a->config_words);
    if (!a->config_words) {
        th__cli_error("out of memory");
        return TH_EXIT_USAGE;
    }
    for (size_t i = 0; i < a->config->n; i++) {
        const struct th_config_item *it = &a->config->items[i];
        if (it->key->id < 0)
            continue; /* sources: operands, added after the options */
        const char *name = NULL;
        for (size_t t = 0; t < sizeof table / sizeof table[0] && !name; t++)
            if (table[t].opt.val == it->key->id)
                name = table[t].opt.name;
        size_t len = strlen(name) + strlen(it->value) + 4;
        char *w = malloc(len);
        if (!w) {
            th__cli_error("out of memory");
            return TH_EXIT_USAGE;
        }
        if (it->key->type == TH_CONFIG_BOOL)
            snprintf(w, len, "--%s", name);
        else
            snprintf(w, len, "--%s=%s", name, it->value);
        a->config_words[a->nconfig_words++] = w;
    }
    return 0;
}

/* The settings file's sources after the command line's operands, when it gives none. */
static int config_sources(enum th_cli_cmd cmd, struct th_cli_args *a)
{
    int need = cmd == RUN ? 0 : 1; /* hunt: the query is an operand too */
    if (!a->config || a->npositional != need)
        return 0;
    size_t nsrc = 0;
    for (size_t i = 0; i < a->config->n; i++)
        nsrc += a->config->items[i].key->id < 0;
    if (!nsrc)
        return 0;
    a->config_positional = calloc((size_t)a->npositional + nsrc + 1, sizeof(char *));
    if (!a->config_positional) {
        th__cli_error("out of memory");
        return TH_EXIT_USAGE;
    }
    int n = 0;
    for (int i = 0; i < a->npositional; i++)
        a->config_positional[n++] = a->positional[i];
    for (size_t i = 0; i < a->config->n; i++)
        if (a->config->items[i].key->id < 0)
            a->config_positional[n++] = (char *)a->config->items[i].value;
    a->positional = a->config_positional;
    a->npositional = n;
    return 0;
}

void th__cli_args_fini(struct th_cli_args *a)
{
    for (int i = 0; i < a->nconfig_words; i++)
        free(a->config_words[i]);
    free(a->config_words);
    free(a->config_positional);
    th__config_free(a->config);
    a->config_words = NULL;
    a->config_positional = NULL;
    a->config = NULL;
    a->nconfig_words = 0;
}

/* A duration option that also takes milliseconds ("250ms"); prints the error. */
static bool parse_interval(const char *opt, const char *s, long long *ms)
{
    if (th__config_duration(s, ms) && *ms > 0)
        return true;
    th__cli_error("%s: bad duration '%s' (use a number and a unit: 250ms, 10s, 1m)", opt, s);
    return false;
}

static int parse(enum th_cli_cmd cmd, int argc, char **argv, struct th_cli_args *a,
                 const struct th_config_key *keys, size_t nkeys)
{
    memset(a, 0, sizeof *a);
    th_options_init(&a->opts);
    a->output = "-";
    a->progress = true;
    a->stats_interval_ms = 10000;
    a->commit_interval_ms = 5000;
    const char *cfg = config_arg(argc, argv);
    if (cfg) {
        int rc = load_config(cfg, keys, nkeys, a);
        if (rc)
            return rc;
    }

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
    char *opts_argv[argc + a->nconfig_words + 1];
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
        /* The settings file's words come first, so that the command line's win. */
        for (int k = 0; i == 0 && k < a->nconfig_words; k++)
            opts_argv[nopts++] = a->config_words[k];
    }
    opts_argv[nopts] = NULL;

    const char *name = cmd == RUN ? "run" : "hunt";
    bool no_geoip_search = false;
    optind = 1;
    opterr = 0;
    int c, ngot = 0;
    size_t next_item = 0;
    while ((c = getopt_long(nopts, opts_argv, shortopts, longopts, NULL)) != -1) {
        /* Each settings word is one option, returned first and in order. */
        bool from_config = ngot++ < a->nconfig_words;
        a->config_item = NULL;
        while (from_config && next_item < a->config->n &&
               a->config->items[next_item].key->id < 0)
            next_item++;
        if (from_config && next_item < a->config->n)
            a->config_item = &a->config->items[next_item++];
        switch (c) {
        case OPT_HELP:
            help(cmd);
            return TH_EXIT_OK;
        case OPT_RULES:
            if (!from_config && a->nrules_config) { /* -r replaces the file's rules */
                a->nrules = 0;
                a->nrules_config = 0;
            }
            a->nrules_config += from_config;
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
        case OPT_NO_PREFILTER:
            a->opts.no_prefilter = 1;
            break;
        case OPT_THREADS: {
            unsigned long long v;
            if (!parse_count("threads", optarg, 1, 64, &v))
                return TH_EXIT_USAGE;
            a->opts.threads = (int)v;
            break;
        }
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
        case OPT_REGEX_MATCH_LIMIT:
        case OPT_REGEX_DEPTH_LIMIT: {
            unsigned long long v;
            bool match = c == OPT_REGEX_MATCH_LIMIT;
            if (!parse_count(match ? "regex-match-limit" : "regex-depth-limit", optarg, 1,
                             UINT32_MAX, &v))
                return TH_EXIT_USAGE;
            *(match ? &a->opts.regex_match_limit : &a->opts.regex_depth_limit) = (uint32_t)v;
            break;
        }
        case OPT_MAX_SAMPLES: {
            unsigned long long v;
            if (!parse_count("max-samples", optarg, 0, 1000, &v))
                return TH_EXIT_USAGE;
            a->opts.max_samples = (size_t)v;
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
        case OPT_KAFKA:
            if (a->nkafka_props == (int)(sizeof a->kafka_props / sizeof a->kafka_props[0])) {
                th__cli_error("%s: too many -X (at most 256)", name);
                return TH_EXIT_USAGE;
            }
            a->kafka_props[a->nkafka_props++] = optarg;
            break;
        case OPT_CONFIG:
            break; /* read before the other options (config_arg) */
        case OPT_METRICS:
            if (!optarg[0]) {
                th__cli_error("--metrics: expected a file");
                return TH_EXIT_USAGE;
            }
            a->metrics = optarg;
            break;
        case OPT_STATS_INTERVAL:
            if (!parse_interval("--stats-interval", optarg, &a->stats_interval_ms))
                return TH_EXIT_USAGE;
            break;
        case OPT_COMMIT_INTERVAL:
            if (!parse_interval("--commit-interval", optarg, &a->commit_interval_ms))
                return TH_EXIT_USAGE;
            break;
        case OPT_EXIT_AT_END:
            a->exit_at_end = true;
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
    a->config_item = NULL;
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
    if (config_sources(cmd, a))
        return TH_EXIT_USAGE;
    return -1;
}

int th__cli_args_parse(enum th_cli_cmd cmd, int argc, char **argv, struct th_cli_args *a)
{
    struct th_config_key keys[sizeof table / sizeof table[0] + 1];
    char names[sizeof table / sizeof table[0] + 1][40];
    size_t nkeys = config_keys(cmd, keys, names);
    int rc = parse(cmd, argc, argv, a, keys, nkeys);
    const struct th_config_item *it = a->config_item;
    if (rc == TH_EXIT_USAGE && it)
        th__cli_error("%s:%u:%u: %s: the value above is not valid", a->config_path, it->line,
                      it->col, it->key->key);
    a->config_item = NULL;
    /* The table lives on this frame: items keep their values and positions, not keys. */
    for (size_t i = 0; a->config && i < a->config->n; i++)
        a->config->items[i].key = NULL;
    return rc;
}
