/*
 * cli_common.c - what the commands share: error lines, the output destination, the
 * progress line on a terminal, the --stats summary, and option value parsing.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "timeutil.h"

void th__cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("trailhound: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void th__cli_log_warning(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "trailhound: warning: %s\n", msg);
}

int th__cli_output_open(struct th_cli_output *o, const char *dest)
{
    memset(o, 0, sizeof *o);
    o->name = dest;
    if (!strcmp(dest, "-")) {
        o->fp = stdout;
        return 0;
    }
    if (!strncmp(dest, "kafka://", 8)) {
        th__cli_error("%s: Kafka output is not available in this build yet", dest);
        return TH_EXIT_USAGE;
    }
    o->fp = fopen(dest, "a");
    if (!o->fp) {
        th__cli_error("%s: cannot open for appending: %s", dest, strerror(errno));
        return TH_EXIT_USAGE;
    }
    return 0;
}

int th__cli_output_line(void *ctx, const char *line, size_t len)
{
    struct th_cli_output *o = ctx;
    if (o->failed)
        return 1;
    if (fwrite(line, 1, len, o->fp) != len || putc('\n', o->fp) == EOF) {
        th__cli_error("%s: write failed: %s", o->name, strerror(errno));
        o->failed = true;
        return 1;
    }
    o->lines++;
    return 0;
}

int th__cli_output_close(struct th_cli_output *o)
{
    if (!o->fp)
        return 0;
    int bad = fflush(o->fp) != 0;
    if (o->fp != stdout)
        bad |= fclose(o->fp) != 0;
    o->fp = NULL;
    if (bad && !o->failed) {
        th__cli_error("%s: write failed: %s", o->name, strerror(errno));
        o->failed = true;
    }
    return o->failed ? TH_EXIT_USAGE : 0;
}

double th__cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void th__cli_progress_init(struct th_cli_progress *p, bool want)
{
    memset(p, 0, sizeof *p);
    p->enabled = want && isatty(STDERR_FILENO);
    p->start = p->last = th__cli_now();
}

void th__cli_progress_cb(void *ctx, const struct th_stats *s, const char *source)
{
    struct th_cli_progress *p = ctx;
    if (!p->enabled)
        return;
    double now = th__cli_now();
    if (now - p->last < 0.25)
        return;
    p->last = now;
    double secs = now - p->start;
    fprintf(stderr, "\r\033[Ktrailhound: %llu events (%.0f/s), %llu files, %llu rejected, "
                    "%llu signals; reading %.60s",
            (unsigned long long)s->events, secs > 0 ? (double)s->events / secs : 0.0,
            (unsigned long long)s->files, (unsigned long long)s->rejected,
            (unsigned long long)s->signals, source ? source : "");
    p->shown = true;
}

void th__cli_progress_clear(struct th_cli_progress *p)
{
    if (p->shown)
        fputs("\r\033[K", stderr);
    p->shown = false;
}

/* The process's peak resident memory in KiB (VmHWM of /proc/self/status, Linux), or 0
 * when unknown. */
static unsigned long long peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

void th__cli_print_stats(const struct th_engine *eng, double seconds)
{
    struct th_stats s;
    th_engine_stats(eng, &s);
    FILE *f = stderr;
    fprintf(f, "trailhound: stats:\n");
    fprintf(f, "  files            %llu read, %llu unreadable, %llu digest skipped\n",
            (unsigned long long)s.files, (unsigned long long)s.files_unreadable,
            (unsigned long long)s.skipped_digest);
    fprintf(f, "  bytes            %llu\n", (unsigned long long)s.bytes);
    fprintf(f, "  events           %llu accepted, %llu late, %llu control messages skipped\n",
            (unsigned long long)s.events, (unsigned long long)s.late,
            (unsigned long long)s.skipped_control);
    fprintf(f, "  rejected         %llu", (unsigned long long)s.rejected);
    const char *sep = " (";
    for (int i = 0; th_reject_reason_name(i); i++) {
        if (!s.rejected_by[i])
            continue;
        fprintf(f, "%s%s %llu", sep, th_reject_reason_name(i),
                (unsigned long long)s.rejected_by[i]);
        sep = ", ";
    }
    fprintf(f, "%s\n", sep[0] == ',' ? ")" : "");
    for (size_t i = 0; th_engine_reject_sample(eng, i); i++)
        fprintf(f, "    %s\n", th_engine_reject_sample(eng, i));
    fprintf(f, "  matched          %llu events\n", (unsigned long long)s.matched);
    fprintf(f, "  signals          %llu new, %llu updates, %llu closed\n",
            (unsigned long long)s.signals, (unsigned long long)s.updates,
            (unsigned long long)s.closed);
    fprintf(f, "  groups           %llu live, %llu expired, %llu evicted\n",
            (unsigned long long)s.groups, (unsigned long long)s.groups_expired,
            (unsigned long long)s.groups_evicted);
    if (s.geo_cached || s.geo_lookups)
        fprintf(f, "  geoip            %llu cached, %llu looked up, %llu failed\n",
                (unsigned long long)s.geo_cached, (unsigned long long)s.geo_lookups,
                (unsigned long long)s.geo_failures);
    if (s.travel_unlocated)
        fprintf(f, "  travel           %llu events skipped: address not public or not located\n",
                (unsigned long long)s.travel_unlocated);
    if (s.regex_errors)
        fprintf(f, "  regex limits     %llu matches abandoned at a PCRE2 limit\n",
                (unsigned long long)s.regex_errors);
    if (s.prefiltered)
        fprintf(f, "  prefilter        %llu events skipped unparsed: no rule's literals in them\n",
                (unsigned long long)s.prefiltered);
    unsigned long long kib = peak_rss_kib();
    if (kib)
        fprintf(f, "  peak memory      %.1f MiB resident\n", (double)kib / 1024);
    fprintf(f, "  time             %.3f s, %.0f events/s\n", seconds,
            seconds > 0 ? (double)s.events / seconds : 0.0);
}

bool th__cli_parse_duration(const char *opt, const char *s, int64_t *ms)
{
    if (th__duration_parse(s, strlen(s), ms))
        return true;
    th__cli_error("%s: bad duration '%s' (use a number and a unit: 30s, 15m, 1h, 1d)", opt, s);
    return false;
}

bool th__cli_parse_size(const char *opt, const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned long long mul = 1;
    if (end != s && *end) {
        if (!strcmp(end, "K") || !strcmp(end, "KiB"))
            mul = 1ULL << 10;
        else if (!strcmp(end, "M") || !strcmp(end, "MiB"))
            mul = 1ULL << 20;
        else if (!strcmp(end, "G") || !strcmp(end, "GiB"))
            mul = 1ULL << 30;
        else
            mul = 0;
    }
    /* strtoull takes "-1" as ULLONG_MAX: a size must start with a digit. */
    if (end == s || errno || mul == 0 || v == 0 || v > (unsigned long long)SIZE_MAX / mul ||
        s[0] < '0' || s[0] > '9') {
        th__cli_error("%s: bad size '%s' (use bytes, or a number with K, M or G)", opt, s);
        return false;
    }
    *out = (size_t)(v * mul);
    return true;
}
