/*
 * gen_sample.c - writes the bundled sample: a deterministic, realistic CloudTrail archive in the
 * S3 layout, which the README's first command replays.
 *
 *   gen_sample OUTDIR [--seed N] [--events N]
 *
 * Output: OUTDIR/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_
 * <YYYYMMDDTHHMMZ>_<16 alnum>.json.gz: one gzipped, single-line {"Records":[...]} object per
 * account, region and 5-minute window that has events, named and filed by its delivery time
 * (the window's end, as CloudTrail does: the last window of a day lands in the next day's
 * folder). Plus one CloudTrail-Digest per account, region and day, delivered just after the day
 * ends, listing that day's log files: AWSLogs/<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/
 * <account>_CloudTrail-Digest_<region>_<trail>_<home region>_<YYYYMMDDTHHMMSSZ>.json.gz.
 *
 * Content: the attacks (sample_attacks.c) and normal traffic (sample_traffic.c) over
 * 2024-03-04 and 2024-03-05 UTC, about --events events (default 4000). Events within a file, and
 * files within a folder, are in eventTime order.
 *
 * Determinism: one splitmix64 PRNG seeded from --seed (default 1); gzip headers carry mtime 0
 * and no file name; the same arguments give byte-identical files. A one-line summary goes to
 * stderr. Exit 0, 1 on an I/O error, 2 on a usage error.
 *
 * Ignores: digest hash values and signatures are random hex, not real SHA-256/RSA values; an
 * existing OUTDIR is written into, not emptied (a second run with another seed adds files).
 */
#include "sample_attacks.h"
#include "sample_cloudtrail.h"
#include "sample_traffic.h"
#include "sample_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define WINDOW 300              /* CloudTrail delivers a file about every 5 minutes */
#define HOME_REGION "us-east-1" /* the trail's home region, part of digest names */

/* Where files go: the output directory and the last directory known to exist under it. */
struct out {
    const char *dir;
    char made[4096];
    size_t files, events, digests;
};

/* Creates every missing directory of path (modified during the call, restored). */
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

/* Writes data gzip-compressed to out->dir/key, creating directories. */
static int write_gz(struct out *out, const char *key, const char *data, size_t len)
{
    char path[4096];
    unsigned char *gz = NULL;
    FILE *f;
    z_stream zs = {0};
    gz_header header = {.os = 3}; /* Unix; mtime 0 and no name keep runs byte-identical */
    int rc = -1;
    snprintf(path, sizeof path, "%s/%s", out->dir, key);
    *strrchr(path, '/') = '\0';
    if (strcmp(path, out->made)) {
        if (make_dirs(path)) {
            fprintf(stderr, "gen_sample: %s: %s\n", path, strerror(errno));
            return -1;
        }
        snprintf(out->made, sizeof out->made, "%s", path);
    }
    path[strlen(path)] = '/';
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    deflateSetHeader(&zs, &header);
    size_t cap = deflateBound(&zs, (uLong)len) + 64;
    gz = th__xrealloc(NULL, cap);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    zs.next_out = gz;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        fprintf(stderr, "gen_sample: %s: deflate failed\n", path);
        goto done;
    }
    f = fopen(path, "wb");
    if (f) {
        bool written = fwrite(gz, 1, zs.total_out, f) == zs.total_out;
        rc = fclose(f) || !written ? -1 : 0;
    }
    if (rc)
        fprintf(stderr, "gen_sample: %s: %s\n", path, strerror(errno));
done:
    deflateEnd(&zs);
    free(gz);
    return rc;
}

/* Writes the log file of ev[0..n) (one account, region and window) delivered at delivered, and
 * its S3 key into key. */
static int write_log(struct th__gen *g, struct out *out, const struct th__event *ev, size_t n,
                     int64_t delivered, struct th__jw *body, char key[256])
{
    const char *acct = th__account_id[ev->acct], *region = th__region[ev->reg];
    char stamp[16], date[16], suffix[20];
    th__fmt_utc(stamp, sizeof stamp, "%Y%m%dT%H%MZ", delivered);
    th__fmt_utc(date, sizeof date, "%Y/%m/%d", delivered);
    th__rand_chars(g, suffix, TH_ALNUM, 16);
    snprintf(key, 256, "AWSLogs/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz", acct, region,
             date, acct, region, stamp, suffix);
    th__jw_reset(body);
    th__jo(body, NULL);
    th__ja(body, "Records");
    for (size_t i = 0; i < n; i++)
        th__jraw(body, NULL, ev[i].json);
    th__je(body);
    th__je(body);
    return write_gz(out, key, body->s, body->len);
}

/* Writes the digest of account a, region r and the day starting at start; files is the JSON
 * array of its log files, oldest/newest their event time range (-1: no files); prev is the
 * previous digest's key ("" for the first), replaced by this one's. */
static int write_digest(struct th__gen *g, struct out *out, int a, int r, int64_t start,
                        const struct th__jw *files, int64_t oldest, int64_t newest, char prev[256],
                        struct th__jw *body)
{
    const char *acct = th__account_id[a], *region = th__region[r];
    char key[256], stamp[24], date[16], t1[24], t2[24], hex[520];
    int64_t delivered = start + 86400 + 60 + th__rnd(g, 1800);
    th__fmt_utc(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", delivered);
    th__fmt_utc(date, sizeof date, "%Y/%m/%d", delivered);
    snprintf(key, sizeof key,
             "AWSLogs/%s/CloudTrail-Digest/%s/%s/%s_CloudTrail-Digest_%s_%s_%s_%s"
             ".json.gz",
             acct, region, date, acct, region, TH_TRAIL, HOME_REGION, stamp);
    th__jw_reset(body);
    th__jo(body, NULL);
    th__js(body, "awsAccountId", acct);
    th__fmt_time(t1, start);
    th__fmt_time(t2, start + 86400);
    th__js(body, "digestStartTime", t1);
    th__js(body, "digestEndTime", t2);
    th__js(body, "digestS3Bucket", TH_LOG_BUCKET);
    th__js(body, "digestS3Object", key);
    th__stable_id(hex, "", TH_HEX, 32, "fingerprint/%s", region);
    th__js(body, "digestPublicKeyFingerprint", hex);
    th__js(body, "digestSignatureAlgorithm", "SHA256withRSA");
    th__fmt_time(t1, newest);
    th__fmt_time(t2, oldest);
    th__js(body, "newestEventTime", newest < 0 ? NULL : t1);
    th__js(body, "oldestEventTime", oldest < 0 ? NULL : t2);
    th__js(body, "previousDigestS3Bucket", prev[0] ? TH_LOG_BUCKET : NULL);
    th__js(body, "previousDigestS3Object", prev[0] ? prev : NULL);
    th__rand_chars(g, hex, TH_HEX, 64);
    th__js(body, "previousDigestHashValue", prev[0] ? hex : NULL);
    th__js(body, "previousDigestHashAlgorithm", prev[0] ? "SHA-256" : NULL);
    th__rand_chars(g, hex, TH_HEX, 512);
    th__js(body, "previousDigestSignature", prev[0] ? hex : NULL);
    th__jraw(body, "logFiles", files->s);
    th__je(body);
    snprintf(prev, 256, "%s", key);
    return write_gz(out, key, body->s, body->len);
}

static int event_cmp(const void *pa, const void *pb)
{
    const struct th__event *a = pa, *b = pb;
    if (a->acct != b->acct)
        return a->acct - b->acct;
    if (a->reg != b->reg)
        return a->reg - b->reg;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

/* Sorts g's events and writes every log file and digest. */
static int write_archive(struct th__gen *g, struct out *out)
{
    struct th__jw body = {0}, files = {0};
    const struct th__event *ev = g->ev;
    size_t i = 0;
    int rc = -1;
    qsort(g->ev, g->n, sizeof *g->ev, event_cmp);
    for (int a = 0; a < TH_NACCT; a++) {
        for (int r = 0; r < TH_NREG; r++) {
            char prev[256] = "";
            for (int64_t start = TH_DAY0; start < TH_END; start += 86400) {
                int64_t oldest = -1, newest = -1;
                th__jw_reset(&files);
                th__ja(&files, NULL);
                while (i < g->n && ev[i].acct == a && ev[i].reg == r && ev[i].t < start + 86400) {
                    size_t j = i;
                    int64_t window = ev[i].t / WINDOW;
                    char key[256], hash[72], t1[24], t2[24];
                    while (j < g->n && ev[j].acct == a && ev[j].reg == r &&
                           ev[j].t / WINDOW == window)
                        j++;
                    if (write_log(g, out, &ev[i], j - i, (window + 1) * WINDOW, &body, key))
                        goto done;
                    th__rand_chars(g, hash, TH_HEX, 64);
                    th__fmt_time(t1, ev[j - 1].t);
                    th__fmt_time(t2, ev[i].t);
                    th__jo(&files, NULL);
                    th__js(&files, "s3Bucket", TH_LOG_BUCKET);
                    th__js(&files, "s3Object", key);
                    th__js(&files, "hashValue", hash);
                    th__js(&files, "hashAlgorithm", "SHA-256");
                    th__js(&files, "newestEventTime", t1);
                    th__js(&files, "oldestEventTime", t2);
                    th__je(&files);
                    if (oldest < 0)
                        oldest = ev[i].t;
                    newest = ev[j - 1].t;
                    out->files++;
                    out->events += j - i;
                    i = j;
                }
                th__je(&files);
                if (write_digest(g, out, a, r, start, &files, oldest, newest, prev, &body))
                    goto done;
                out->digests++;
            }
        }
    }
    rc = 0;
done:
    th__jw_free(&body);
    th__jw_free(&files);
    return rc;
}

static int usage(FILE *out, int code)
{
    fputs("usage: gen_sample OUTDIR [--seed N] [--events N]\n"
          "Writes a deterministic CloudTrail archive (S3 layout, gzipped) with attacks mixed in\n"
          "to OUTDIR. --seed: the PRNG seed (default 1); --events: about how many events\n"
          "(default 4000; the attacks and the daily routine are always written).\n",
          out);
    return code;
}

/* Parses a whole decimal number in [min, max] into *out. */
static int parse_num(const char *s, unsigned long long min, unsigned long long max,
                     unsigned long long *out)
{
    char *end;
    errno = 0;
    if (!s || *s < '0' || *s > '9')
        return -1;
    *out = strtoull(s, &end, 10);
    return errno || *end || *out < min || *out > max ? -1 : 0;
}

int main(int argc, char **argv)
{
    const char *outdir = NULL;
    unsigned long long seed = 1, events = 4000;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help"))
            return usage(stdout, 0);
        if (!strcmp(arg, "--seed") || !strcmp(arg, "--events")) {
            bool is_seed = arg[2] == 's';
            if (parse_num(argv[i + 1], is_seed ? 0 : 1, is_seed ? UINT64_MAX : 10000000,
                          is_seed ? &seed : &events)) {
                fprintf(stderr, "gen_sample: %s needs a number%s\n", arg,
                        is_seed ? "" : " from 1 to 10000000");
                return 2;
            }
            i++;
        } else if (arg[0] == '-' && arg[1]) {
            fprintf(stderr, "gen_sample: unknown option %s\n", arg);
            return usage(stderr, 2);
        } else if (outdir) {
            fprintf(stderr, "gen_sample: one OUTDIR only (got %s and %s)\n", outdir, arg);
            return 2;
        } else {
            outdir = arg;
        }
    }
    if (!outdir)
        return usage(stderr, 2);

    struct th__gen g = {.rng = seed};
    struct out out = {.dir = outdir};
    th__sample_attacks(&g);
    th__sample_traffic(&g, (size_t)events);
    int rc = write_archive(&g, &out);
    for (size_t i = 0; i < g.n; i++)
        free(g.ev[i].json);
    free(g.ev);
    th__jw_free(&g.w);
    if (rc)
        return 1;
    fprintf(stderr, "gen_sample: %zu files, %zu events, %zu digests in %s\n", out.files, out.events,
            out.digests, outdir);
    return 0;
}
