/*
 * gen_bench.c - the benchmark's traffic: a deterministic, realistic CloudTrail stream of
 * any size, as NDJSON and as gzipped CloudTrail S3 objects, built from the bundled sample's
 * world and record shapes (tests/sample: three accounts, three regions, S3 and KMS data
 * events, service calls, console sessions, Lambda, DynamoDB, STS, the attacks).
 *
 *   gen_bench OUTDIR [--events N] [--seed S] [--no-s3]
 *       OUTDIR/events.ndjson            every event, one per line, in eventTime order
 *       OUTDIR/s3/AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/<object>.json.gz
 *                                       the same events as CloudTrail writes them: one
 *                                       gzipped {"Records":[...]} per account, region and
 *                                       5-minute window (skipped with --no-s3)
 *   gen_bench --principals N FILE       N events of N distinct IAM users within ten minutes
 *                                       (NDJSON), for the state of a million principals
 *
 * How: the sample's traffic generator draws two days of events at a time (100,000 events,
 * about the traffic of a small organisation); chunk k is shifted k * 2 days later (its
 * eventTime and session creationDate values rewritten), so N events make N / 50,000 days of
 * archive with the sample's per-principal rates, and time only moves forward. Each chunk
 * also holds the sample's attacks, so a replay raises signals.
 *
 * Determinism: the same arguments give byte-identical files (splitmix64 seeded from --seed
 * and the chunk number; gzip headers with mtime 0). Exit 0, 1 on an I/O error, 2 on usage.
 * Ignores: times inside other fields (STS expirations, Java-formatted) keep the sample's dates.
 */
#define _GNU_SOURCE 1
#include "sample_attacks.h"
#include "sample_cloudtrail.h"
#include "sample_traffic.h"
#include "sample_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#define CHUNK_EVENTS 100000
#define CHUNK_SECONDS (TH_NDAYS * 86400LL)
#define WINDOW 300

static int make_dirs(char *path)
{
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char saved = *p;
        *p = '\0';
        int rc = mkdir(path, 0755);
        *p = saved;
        if (rc && errno != EEXIST)
            return -1;
        if (!saved)
            return 0;
    }
}

/* Rewrites every "KEY":"YYYY-MM-DDTHH:MM:SSZ" value of json by shift seconds. */
static void shift_times(char *json, const char *key, int64_t shift)
{
    size_t kl = strlen(key);
    for (char *p = json; (p = strstr(p, key)) != NULL; p += kl) {
        char *v = p + kl;
        struct tm tm = {0};
        if (strlen(v) < 20 || v[19] != 'Z' || !strptime(v, "%Y-%m-%dT%H:%M:%S", &tm))
            continue;
        time_t t = timegm(&tm) + (time_t)shift;
        struct tm out;
        gmtime_r(&t, &out);
        char buf[24];
        strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &out);
        memcpy(v, buf, 20);
    }
}

static int by_time(const void *pa, const void *pb)
{
    const struct th__event *a = pa, *b = pb;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    if (a->acct != b->acct)
        return a->acct - b->acct;
    if (a->reg != b->reg)
        return a->reg - b->reg;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

static int by_file(const void *pa, const void *pb)
{
    const struct th__event *a = pa, *b = pb;
    if (a->acct != b->acct)
        return a->acct - b->acct;
    if (a->reg != b->reg)
        return a->reg - b->reg;
    return by_time(pa, pb);
}

/* Writes data gzip-compressed (level 6, as CloudTrail) to path, creating directories. */
static int write_gz(char *path, const char *data, size_t len, char *made, size_t made_size)
{
    char *slash = strrchr(path, '/');
    *slash = '\0';
    if (strcmp(path, made) != 0) {
        if (make_dirs(path)) {
            fprintf(stderr, "gen_bench: %s: %s\n", path, strerror(errno));
            return -1;
        }
        snprintf(made, made_size, "%s", path);
    }
    *slash = '/';
    z_stream zs = {0};
    gz_header header = {.os = 3};
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    deflateSetHeader(&zs, &header);
    size_t cap = deflateBound(&zs, (uLong)len) + 64;
    unsigned char *gz = th__xrealloc(NULL, cap);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    zs.next_out = gz;
    zs.avail_out = (uInt)cap;
    int rc = -1;
    if (deflate(&zs, Z_FINISH) == Z_STREAM_END) {
        FILE *f = fopen(path, "wb");
        if (f) {
            bool written = fwrite(gz, 1, zs.total_out, f) == zs.total_out;
            rc = fclose(f) || !written ? -1 : 0;
        }
        if (rc)
            fprintf(stderr, "gen_bench: %s: %s\n", path, strerror(errno));
    }
    deflateEnd(&zs);
    free(gz);
    return rc;
}

/* One chunk's S3 objects: one per account, region and window. */
static int write_s3(struct th__gen *g, const char *dir, size_t *files, char *made, size_t msize)
{
    struct th__jw body = {0};
    qsort(g->ev, g->n, sizeof *g->ev, by_file);
    int rc = 0;
    for (size_t i = 0; i < g->n && rc == 0;) {
        size_t j = i;
        int64_t window = g->ev[i].t / WINDOW;
        while (j < g->n && g->ev[j].acct == g->ev[i].acct && g->ev[j].reg == g->ev[i].reg &&
               g->ev[j].t / WINDOW == window)
            j++;
        const char *acct = th__account_id[g->ev[i].acct], *region = th__region[g->ev[i].reg];
        char stamp[16], date[16], suffix[20], path[4096];
        th__fmt_utc(stamp, sizeof stamp, "%Y%m%dT%H%MZ", (window + 1) * WINDOW);
        th__fmt_utc(date, sizeof date, "%Y/%m/%d", (window + 1) * WINDOW);
        th__rand_chars(g, suffix, TH_ALNUM, 16);
        snprintf(path, sizeof path,
                 "%s/s3/AWSLogs/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz", dir, acct,
                 region, date, acct, region, stamp, suffix);
        th__jw_reset(&body);
        th__jo(&body, NULL);
        th__ja(&body, "Records");
        for (size_t k = i; k < j; k++)
            th__jraw(&body, NULL, g->ev[k].json);
        th__je(&body);
        th__je(&body);
        rc = write_gz(path, body.s, body.len, made, msize);
        (*files)++;
        i = j;
    }
    th__jw_free(&body);
    return rc;
}

static void free_events(struct th__gen *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->ev[i].json);
    g->n = 0;
}

static int traffic(const char *dir, unsigned long long events, unsigned long long seed, bool s3)
{
    char path[4096], made[4096] = "";
    snprintf(path, sizeof path, "%s", dir);
    if (make_dirs(path)) {
        fprintf(stderr, "gen_bench: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    snprintf(path, sizeof path, "%s/events.ndjson", dir);
    FILE *nd = fopen(path, "wb");
    if (!nd) {
        fprintf(stderr, "gen_bench: %s: %s\n", path, strerror(errno));
        return 1;
    }
    static char ndbuf[1 << 20];
    setvbuf(nd, ndbuf, _IOFBF, sizeof ndbuf);
    struct th__gen g = {0};
    unsigned long long done = 0;
    size_t files = 0;
    int rc = 0;
    for (unsigned long long k = 0; done < events && rc == 0; k++) {
        unsigned long long want = events - done < CHUNK_EVENTS ? events - done : CHUNK_EVENTS;
        g.rng = seed * 0x9E3779B97F4A7C15ULL + k;
        th__sample_attacks(&g);
        th__sample_traffic(&g, (size_t)want);
        if (g.n > want) { /* the routine and the attacks come on top: keep the count exact */
            qsort(g.ev, g.n, sizeof *g.ev, by_time);
            for (size_t i = (size_t)want; i < g.n; i++)
                free(g.ev[i].json);
            g.n = (size_t)want;
        }
        int64_t shift = (int64_t)k * CHUNK_SECONDS;
        for (size_t i = 0; i < g.n; i++) {
            g.ev[i].t += shift;
            if (shift) {
                shift_times(g.ev[i].json, "\"eventTime\":\"", shift);
                shift_times(g.ev[i].json, "\"creationDate\":\"", shift);
            }
        }
        qsort(g.ev, g.n, sizeof *g.ev, by_time);
        for (size_t i = 0; i < g.n; i++) {
            fputs(g.ev[i].json, nd);
            fputc('\n', nd);
        }
        if (s3)
            rc = write_s3(&g, dir, &files, made, sizeof made);
        done += g.n;
        free_events(&g);
    }
    if (fclose(nd) != 0 && rc == 0) {
        fprintf(stderr, "gen_bench: events.ndjson: %s\n", strerror(errno));
        rc = 1;
    }
    free(g.ev);
    th__jw_free(&g.w);
    if (rc)
        return 1;
    fprintf(stderr, "gen_bench: %llu events, %zu S3 objects in %s\n", done, files, dir);
    return 0;
}

/* N distinct IAM users, one call each, within ten minutes: the state of N principals. */
static int principals(const char *file, unsigned long long n)
{
    FILE *f = fopen(file, "wb");
    if (!f) {
        fprintf(stderr, "gen_bench: %s: %s\n", file, strerror(errno));
        return 1;
    }
    static char buf[1 << 20];
    setvbuf(f, buf, _IOFBF, sizeof buf);
    struct th__gen g = {.rng = 7};
    for (unsigned long long i = 0; i < n; i++) {
        int64_t t = TH_DAY0 + 36000 + (int64_t)(i * 600 / n);
        char when[24], key[24], uid[40], req[40];
        th__fmt_time(when, t);
        th__stable_id(key, "AKIA", TH_B32, 16, "bench-key-%llu", i);
        th__uuid(&g, uid);
        th__uuid(&g, req);
        fprintf(f,
                "{\"eventVersion\":\"1.09\",\"userIdentity\":{\"type\":\"IAMUser\","
                "\"principalId\":\"AIDA%016llX\",\"arn\":\"arn:aws:iam::111122223333:user/"
                "u%07llu\",\"accountId\":\"111122223333\",\"accessKeyId\":\"%s\",\"userName\":"
                "\"u%07llu\"},\"eventTime\":\"%s\",\"eventSource\":\"ec2.amazonaws.com\","
                "\"eventName\":\"DescribeInstances\",\"awsRegion\":\"us-east-1\","
                "\"sourceIPAddress\":\"203.0.113.%llu\",\"userAgent\":\"" TH_UA_CLI_LINUX
                "ec2.describe-instances\",\"requestParameters\":{\"instancesSet\":{},"
                "\"filterSet\":{}},\"responseElements\":null,\"requestID\":\"%s\",\"eventID\":"
                "\"%s\",\"readOnly\":true,\"eventType\":\"AwsApiCall\",\"managementEvent\":"
                "true,\"recipientAccountId\":\"111122223333\",\"eventCategory\":\"Management\"}\n",
                i, i, key, i, when, 1 + i % 250, req, uid);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "gen_bench: %s: %s\n", file, strerror(errno));
        return 1;
    }
    return 0;
}

static int usage(FILE *out, int code)
{
    fputs("usage: gen_bench OUTDIR [--events N] [--seed S] [--no-s3]\n"
          "       gen_bench --principals N FILE\n"
          "Writes deterministic CloudTrail traffic for the benchmark: OUTDIR/events.ndjson and\n"
          "the same events as gzipped S3 objects under OUTDIR/s3 (default 1000000 events);\n"
          "or N events of N distinct IAM users to FILE.\n",
          out);
    return code;
}

static int parse_num(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (!s || *s < '0' || *s > '9')
        return -1;
    *out = strtoull(s, &end, 10);
    return errno || *end || *out > max ? -1 : 0;
}

int main(int argc, char **argv)
{
    const char *out = NULL;
    unsigned long long events = 1000000, seed = 1, nprinc = 0;
    bool s3 = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return usage(stdout, 0);
        if (!strcmp(a, "--events") || !strcmp(a, "--seed") || !strcmp(a, "--principals")) {
            unsigned long long *dst = a[2] == 'e' ? &events : a[2] == 's' ? &seed : &nprinc;
            if (parse_num(argv[i + 1], a[2] == 's' ? UINT64_MAX : 100000000ULL, dst) ||
                (dst != &seed && *dst == 0)) {
                fprintf(stderr, "gen_bench: %s needs a number\n", a);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--no-s3")) {
            s3 = false;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "gen_bench: unknown option %s\n", a);
            return usage(stderr, 2);
        } else if (out) {
            fprintf(stderr, "gen_bench: one output only\n");
            return 2;
        } else {
            out = a;
        }
    }
    if (!out)
        return usage(stderr, 2);
    return nprinc ? principals(out, nprinc) : traffic(out, events, seed, s3);
}
