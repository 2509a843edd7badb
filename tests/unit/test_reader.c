/*
 * test_reader.c - the input reader (reader.c): the five formats plain and gzipped, gzip
 * members, truncation and corruption, digests and control messages, NDJSON robustness with
 * exact counts, truncated lines that must not swallow the good lines after them, Firehose's
 * concatenated CloudWatch Logs documents (and two events on one line, rejected), size and
 * depth limits, directory walk order, unreadable inputs, stdin, the callback's stop value,
 * and a streaming read whose lines cross every buffer boundary.
 * All test data is generated here, under a mkdtemp directory removed at the end.
 */
#include "reader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "sbuf.h"

#define T0 "2024-01-31T12:00:00Z"
#define MAXREC 64

/* What the callback saw. */
struct got {
    size_t n;
    char name[MAXREC][48];
    uint64_t line[MAXREC];
    int has_raw[MAXREC];
    char raw[MAXREC][512];
    char file[MAXREC][256];
    int64_t ms[MAXREC];
    size_t raw_mismatch; /* raw that does not parse back to the same eventName */
    size_t seq_errors;   /* with seq: eventName != "s<index>" */
    int seq;
    size_t stop_after; /* return stop_rc after this many events (0: never) */
    int stop_rc;
};

static int on_event(void *ctx, const struct th_read_event *ev)
{
    struct got *g = ctx;
    json_object *nm = NULL;
    const char *name = "?";
    if (json_object_object_get_ex(ev->obj, "eventName", &nm))
        name = json_object_get_string(nm);
    size_t i = g->n++;
    if (ev->raw) {
        char *copy = strndup(ev->raw, ev->raw_len);
        json_object *back = copy ? json_tokener_parse(copy) : NULL, *bn = NULL;
        if (!back || !json_object_object_get_ex(back, "eventName", &bn) ||
            strcmp(json_object_get_string(bn), name) != 0)
            g->raw_mismatch++;
        json_object_put(back);
        free(copy);
    }
    if (g->seq) {
        char want[32];
        snprintf(want, sizeof want, "s%zu", i);
        if (strcmp(want, name) != 0)
            g->seq_errors++;
    }
    if (i < MAXREC) {
        snprintf(g->name[i], sizeof g->name[i], "%s", name);
        g->line[i] = ev->line;
        g->has_raw[i] = ev->raw != NULL;
        snprintf(g->raw[i], sizeof g->raw[i], "%.*s", ev->raw ? (int)ev->raw_len : 0,
                 ev->raw ? ev->raw : "");
        snprintf(g->file[i], sizeof g->file[i], "%s", ev->file);
        g->ms[i] = ev->time_ms;
    }
    if (g->stop_after && g->n >= g->stop_after)
        return g->stop_rc;
    return 0;
}

/* ---- helpers ---- */

static char tmpdir[256];

static void path_of(char *out, size_t size, const char *rel)
{
    snprintf(out, size, "%s/%s", tmpdir, rel);
}

static void mkdirs(const char *rel)
{
    char p[1024];
    path_of(p, sizeof p, rel);
    for (char *c = p + strlen(tmpdir) + 1; *c; c++) {
        if (*c == '/') {
            *c = '\0';
            mkdir(p, 0755);
            *c = '/';
        }
    }
    mkdir(p, 0755);
}

static void write_rel(const char *rel, const void *data, size_t len)
{
    char p[1024];
    path_of(p, sizeof p, rel);
    FILE *f = fopen(p, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s: %s\n", p, strerror(errno));
        exit(2);
    }
    if (len)
        fwrite(data, 1, len, f);
    fclose(f);
}

/* A gzip member of data, malloc'd; flush_at (if < len) ends a full-flush block there. */
static unsigned char *gz_flush(const void *data, size_t len, size_t flush_at, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        exit(2);
    size_t cap = deflateBound(&z, len) + 64;
    unsigned char *out = malloc(cap);
    z.next_out = out;
    z.avail_out = (uInt)cap;
    z.next_in = (Bytef *)(uintptr_t)data;
    if (flush_at < len) {
        z.avail_in = (uInt)flush_at;
        if (deflate(&z, Z_FULL_FLUSH) != Z_OK)
            exit(2);
        z.avail_in = (uInt)(len - flush_at);
    } else {
        z.avail_in = (uInt)len;
    }
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        exit(2);
    *outlen = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static unsigned char *gz(const void *data, size_t len, size_t *outlen)
{
    return gz_flush(data, len, len, outlen);
}

/* An event line (no newline) into the caller's buffer. */
static const char *ev(char *buf, size_t size, const char *name, const char *time)
{
    snprintf(buf, size,
             "{\"eventVersion\":\"1.08\",\"eventTime\":\"%s\",\"eventName\":\"%s\","
             "\"awsRegion\":\"us-east-1\"}",
             time, name);
    return buf;
}

/* Writes a file holding one event line. */
static void write_ev(const char *rel, const char *name)
{
    char a[256];
    ev(a, sizeof a, name, T0);
    write_rel(rel, a, strlen(a));
}

/* JSON-escapes s (quotes and backslashes only; enough for generated events). */
static void sb_add_escaped(struct sb *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            sb_add(b, "\\", 1);
        sb_add(b, s, 1);
    }
}

static struct th_reader *new_reader(struct got *g, size_t max_event, size_t max_doc, int depth)
{
    struct th_reader_limits lim = {max_event, max_doc, depth};
    struct th_reader *r = NULL;
    memset(g, 0, sizeof *g);
    CHECK_INT(th__reader_new(&lim, on_event, g, &r), 0);
    return r;
}

static uint64_t rejected_total(const struct th_reader_stats *st)
{
    uint64_t n = 0;
    for (int i = 0; i < TH_REJECT__COUNT; i++)
        n += st->rejected[i];
    return n;
}

static void rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        chmod(path, 0755);
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char p[2048];
            snprintf(p, sizeof p, "%s/%s", path, de->d_name);
            rm_tree(p);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* ---- the five formats ---- */

/* The five formats in one list: name, content, expected event names, expected raw. */
struct fmt_case {
    const char *label;
    struct sb text;
    const char *names; /* space-separated expected eventNames */
    int raw;           /* events carry raw */
    uint64_t first_line;
};

static void build_formats(struct fmt_case c[5])
{
    char a[256], b[256];
    memset(c, 0, 5 * sizeof *c);

    c[0].label = "ndjson";
    char d[256];
    sb_addf(&c[0].text, "%s\n\n  %s\r\n%s", ev(a, sizeof a, "n1", T0),
            ev(b, sizeof b, "n2", "2024-01-31T12:00:01.5Z"), ev(d, sizeof d, "n3", T0));
    c[0].names = "n1 n2 n3";
    c[0].raw = 1;
    c[0].first_line = 1;

    c[1].label = "records";
    sb_addf(&c[1].text, "\n{\"Records\": [%s,\n", ev(a, sizeof a, "r1", T0));
    sb_addf(&c[1].text, "  %s]}\n", ev(b, sizeof b, "r2", T0));
    c[1].names = "r1 r2";
    c[1].first_line = 2;

    c[2].label = "array";
    sb_addf(&c[2].text, "[%s, %s]", ev(a, sizeof a, "a1", T0), ev(b, sizeof b, "a2", T0));
    c[2].names = "a1 a2";
    c[2].first_line = 1;

    c[3].label = "eventbridge";
    sb_addf(&c[3].text,
            "{\"version\":\"0\",\"id\":\"x\",\"detail-type\":\"AWS API Call via CloudTrail\","
            "\"source\":\"aws.iam\",\"time\":\"%s\",\"detail\":%s}\n",
            T0, ev(a, sizeof a, "b1", T0));
    sb_addf(&c[3].text, "{\"detail-type\":\"AWS Console Sign In via CloudTrail\",\"detail\":%s}\n",
            ev(a, sizeof a, "b2", T0));
    sb_addf(&c[3].text, "{\"detail-type\":\"AWS Service Event via CloudTrail\",\"detail\":%s}\n",
            ev(a, sizeof a, "b3", T0));
    c[3].names = "b1 b2 b3";
    c[3].first_line = 1;

    c[4].label = "cloudwatch";
    sb_addf(&c[4].text, "{\"messageType\":\"DATA_MESSAGE\",\"owner\":\"111122223333\","
                        "\"logGroup\":\"aws-cloudtrail\",\"logEvents\":[");
    sb_addf(&c[4].text, "{\"id\":\"1\",\"timestamp\":1,\"message\":\"");
    sb_add_escaped(&c[4].text, ev(a, sizeof a, "c1", T0));
    sb_addf(&c[4].text, "\"},{\"id\":\"2\",\"timestamp\":2,\"message\":\"");
    char rec[600];
    snprintf(rec, sizeof rec, "{\"Records\":[%s]}", ev(b, sizeof b, "c2", T0));
    sb_add_escaped(&c[4].text, rec);
    sb_addf(&c[4].text, "\"}]}\n");
    c[4].names = "c1 c2";
    c[4].first_line = 1;
}

static void check_names(const struct got *g, const char *names, const char *label)
{
    char want[256], have_[1024] = "";
    snprintf(want, sizeof want, "%s: %s", label, names);
    snprintf(have_, sizeof have_, "%s:", label);
    for (size_t i = 0; i < g->n && i < MAXREC; i++) {
        size_t l = strlen(have_);
        snprintf(have_ + l, sizeof have_ - l, " %s", g->name[i]);
    }
    CHECK_STR(have_, want);
}

static void test_formats(void)
{
    struct fmt_case c[5];
    build_formats(c);
    for (int i = 0; i < 5; i++) {
        for (int mode = 0; mode < 4; mode++) {
            /* 0: buffer, 1: gzip buffer, 2: file, 3: gzip file */
            struct got g;
            struct th_reader *r = new_reader(&g, 0, 0, 0);
            size_t zl = 0;
            unsigned char *z = gz(c[i].text.p, c[i].text.len, &zl);
            const void *data = mode & 1 ? (const void *)z : c[i].text.p;
            size_t len = mode & 1 ? zl : c[i].text.len;
            char label[64], rel[64], full[1024];
            snprintf(label, sizeof label, "%s/%d", c[i].label, mode);
            snprintf(rel, sizeof rel, "fmt_%s_%d.data", c[i].label, mode);
            int rc;
            if (mode < 2) {
                rc = th__reader_read_buffer(r, label, data, len);
            } else {
                write_rel(rel, data, len);
                path_of(full, sizeof full, rel);
                struct th_err err = {0};
                rc = th__reader_read_path(r, full, &err);
            }
            CHECK_INT(rc, 0);
            check_names(&g, c[i].names, label);
            const struct th_reader_stats *st = th__reader_stats(r);
            CHECK_INT(rejected_total(st), 0);
            CHECK_INT(st->events, g.n);
            CHECK_INT(st->files, 1);
            CHECK_INT(st->bytes, c[i].text.len);
            CHECK_INT(g.line[0], c[i].first_line);
            CHECK_INT(g.raw_mismatch, 0);
            for (size_t k = 0; k < g.n; k++)
                CHECK_INT(g.has_raw[k], c[i].raw);
            CHECK_STR(g.file[0], mode < 2 ? label : full);
            th__reader_free(r);
            free(z);
        }
        free(c[i].text.p);
    }

    /* NDJSON details: raw is the exact line without CR/LF; lines count blank lines. */
    {
        struct got g;
        struct th_reader *r = new_reader(&g, 0, 0, 0);
        char a[256], b[256];
        char text[1024];
        snprintf(text, sizeof text, "\xEF\xBB\xBF%s\n\n  %s  \r\n", ev(a, sizeof a, "x1", T0),
                 ev(b, sizeof b, "x2", "2024-01-31T12:00:01.5Z"));
        CHECK_INT(th__reader_read_buffer(r, "bom.ndjson", text, strlen(text)), 0);
        CHECK_INT(g.n, 2);
        CHECK_STR(g.raw[0], a); /* the byte order mark is not part of the event */
        CHECK_STR(g.raw[1], b);
        CHECK_INT(g.line[1], 3);
        CHECK_INT(g.ms[0], INT64_C(1706702400000));
        CHECK_INT(g.ms[1], INT64_C(1706702401500));
        th__reader_free(r);
    }

    /* A pretty-printed event spanning lines is accepted, without raw. */
    {
        struct got g;
        struct th_reader *r = new_reader(&g, 0, 0, 0);
        const char *text = "{\n  \"eventTime\": \"" T0 "\",\n  \"eventName\": \"pretty\"\n}\n"
                           "{\"eventTime\":\"" T0 "\",\"eventName\":\"flat\"}\n";
        CHECK_INT(th__reader_read_buffer(r, "pretty.json", text, strlen(text)), 0);
        CHECK_INT(g.n, 2);
        CHECK_STR(g.name[0], "pretty");
        CHECK_INT(g.has_raw[0], 0);
        CHECK_INT(g.line[0], 1);
        CHECK_STR(g.name[1], "flat");
        CHECK_INT(g.has_raw[1], 1);
        CHECK_INT(g.line[1], 5);
        th__reader_free(r);
    }

    /* Envelope errors and skips. */
    {
        struct got g;
        struct th_reader *r = new_reader(&g, 0, 0, 0);
        char a[256];
        struct sb t = {0};
        sb_addf(&t, "{\"messageType\":\"CONTROL_MESSAGE\",\"logEvents\":[{\"message\":\"x\"}]}\n");
        sb_addf(&t, "{\"Records\":{\"a\":1}}\n");
        sb_addf(&t, "{\"detail-type\":\"GuardDuty Finding\",\"detail\":%s}\n",
                ev(a, sizeof a, "gd", T0));
        sb_addf(&t, "{\"detail-type\":\"AWS API Call via CloudTrail\",\"detail\":[1]}\n");
        sb_addf(&t, "{\"messageType\":\"DATA_MESSAGE\",\"logEvents\":7}\n");
        sb_addf(&t, "{\"messageType\":\"DATA_MESSAGE\",\"logEvents\":[{\"id\":1},"
                    "{\"message\":\"{oops\"},{\"message\":\"[\\\"str\\\"]\"}]}\n");
        sb_addf(&t, "{\"Records\":[]}\n[]\n");
        sb_addf(&t, "%s\n", ev(a, sizeof a, "last", T0));
        CHECK_INT(th__reader_read_buffer(r, "env.json", t.p, t.len), 0);
        const struct th_reader_stats *st = th__reader_stats(r);
        CHECK_INT(st->skipped_control, 1);
        CHECK_INT(st->rejected[TH_REJECT_BAD_PAYLOAD], 5);
        CHECK_INT(st->rejected[TH_REJECT_MALFORMED], 1);
        CHECK_INT(st->rejected[TH_REJECT_NOT_OBJECT], 1);
        CHECK_INT(g.n, 1);
        CHECK_STR(g.name[0], "last");
        CHECK_INT(g.line[0], 9);
        CHECK_STR(st->samples[0], "env.json:2: bad_envelope: \"Records\" is a JSON object, "
                                  "not an array");
        CHECK_STR(st->samples[1], "env.json:3: bad_envelope: EventBridge detail-type "
                                  "\"GuardDuty Finding\" is not from CloudTrail");
        CHECK_STR(st->samples[2], "env.json:4: bad_envelope: EventBridge detail is a JSON array");
        CHECK_STR(st->samples[3], "env.json:5: bad_envelope: DATA_MESSAGE without a logEvents "
                                  "array");
        CHECK_STR(st->samples[4], "env.json:6: bad_envelope: logEvents[0] has no message string");
        CHECK_INT(st->nsamples, 5);
        free(t.p);
        th__reader_free(r);
    }
}

/* ---- gzip ---- */

static void test_gzip(void)
{
    char a[256];
    struct sb one = {0}, two = {0};
    for (int i = 0; i < 3; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "m1_%d", i);
        sb_addf(&one, "%s\n", ev(a, sizeof a, nm, T0));
        snprintf(nm, sizeof nm, "m2_%d", i);
        sb_addf(&two, "%s\n", ev(a, sizeof a, nm, T0));
    }
    size_t l1, l2;
    unsigned char *z1 = gz(one.p, one.len, &l1), *z2 = gz(two.p, two.len, &l2);

    /* Concatenated members (then zero padding, which is ignored), as buffer and file. */
    {
        size_t len = l1 + l2 + 16;
        unsigned char *cat = calloc(1, len);
        memcpy(cat, z1, l1);
        memcpy(cat + l1, z2, l2);
        for (int mode = 0; mode < 2; mode++) {
            struct got g;
            struct th_reader *r = new_reader(&g, 0, 0, 0);
            if (mode == 0) {
                CHECK_INT(th__reader_read_buffer(r, "cat.gz", cat, len), 0);
            } else {
                char full[1024];
                write_rel("cat.json.gz", cat, len);
                path_of(full, sizeof full, "cat.json.gz");
                CHECK_INT(th__reader_read_path(r, full, NULL), 0);
            }
            CHECK_INT(g.n, 6);
            check_names(&g, "m1_0 m1_1 m1_2 m2_0 m2_1 m2_2", mode ? "cat file" : "cat buffer");
            CHECK_INT(g.line[3], 4);
            CHECK_INT(rejected_total(th__reader_stats(r)), 0);
            CHECK_INT(th__reader_stats(r)->bytes, one.len + two.len);
            th__reader_free(r);
        }
        free(cat);
    }

    /* Trailing garbage after the last member: the events are kept, the garbage counted. */
    {
        size_t len = l1 + 4;
        unsigned char *buf = malloc(len);
        memcpy(buf, z1, l1);
        memcpy(buf + l1, "junk", 4);
        struct got g;
        struct th_reader *r = new_reader(&g, 0, 0, 0);
        CHECK_INT(th__reader_read_buffer(r, "tail.gz", buf, len), 0);
        CHECK_INT(g.n, 3);
        CHECK_INT(th__reader_stats(r)->rejected[TH_REJECT_BAD_GZIP], 1);
        CHECK_STR(th__reader_stats(r)->samples[0],
                  "tail.gz:4: corrupt_gzip: trailing garbage after gzip data");
        th__reader_free(r);
        free(buf);
    }

    /* Truncated: three good lines behind a full flush, then one long line cut in half. */
    {
        struct sb t = {0};
        sb_add(&t, one.p, one.len);
        sb_addf(&t, "{\"eventTime\":\"" T0 "\",\"eventName\":\"cut\",\"pad\":\"");
        for (int i = 0; i < 4000; i++)
            sb_addf(&t, "%08x", (unsigned)(i * 2654435761u));
        sb_addf(&t, "\"}\n");
        size_t zl;
        unsigned char *z = gz_flush(t.p, t.len, one.len, &zl);
        size_t cut = zl - (zl - l1 / 2) / 2; /* well inside the long line's data */
        for (int mode = 0; mode < 2; mode++) {
            struct got g;
            struct th_reader *r = new_reader(&g, 0, 0, 0);
            char full[1024];
            if (mode == 0) {
                CHECK_INT(th__reader_read_buffer(r, "trunc.gz", z, cut), 0);
            } else {
                write_rel("trunc.json.gz", z, cut);
                path_of(full, sizeof full, "trunc.json.gz");
                CHECK_INT(th__reader_read_path(r, full, NULL), 0);
            }
            const struct th_reader_stats *st = th__reader_stats(r);
            CHECK_INT(g.n, 3);
            check_names(&g, "m1_0 m1_1 m1_2", "truncated");
            CHECK_INT(st->rejected[TH_REJECT_BAD_GZIP], 1);
            CHECK_INT(rejected_total(st), 1);
            CHECK_INT(st->files_unreadable, 0);
            CHECK_CONTAINS(st->samples[0], ":4: corrupt_gzip: unexpected end of gzip data");
            th__reader_free(r);
        }
        /* Cut exactly at the flush point: every line decoded, the damage still counted. */
        {
            size_t zl2;
            unsigned char *z3 = gz_flush(one.p, one.len, 0, &zl2);
            struct got g;
            struct th_reader *r = new_reader(&g, 0, 0, 0);
            /* Drop the final empty block and trailer (last 10 bytes or so). */
            CHECK_INT(th__reader_read_buffer(r, "cut.gz", z3, zl2 - 8), 0);
            CHECK_INT(g.n, 3);
            CHECK_INT(th__reader_stats(r)->rejected[TH_REJECT_BAD_GZIP], 1);
            th__reader_free(r);
            free(z3);
        }
        free(z);
        free(t.p);
    }

    /* A bad CRC: everything decoded, the damage counted once at the end. */
    {
        unsigned char *bad = malloc(l1);
        memcpy(bad, z1, l1);
        bad[l1 - 8] ^= 0xff;
        struct got g;
        struct th_reader *r = new_reader(&g, 0, 0, 0);
        CHECK_INT(th__reader_read_buffer(r, "crc.gz", bad, l1), 0);
        CHECK_INT(g.n, 3);
        CHECK_INT(th__reader_stats(r)->rejected[TH_REJECT_BAD_GZIP], 1);
        CHECK_STR(th__reader_stats(r)->samples[0], "crc.gz:4: corrupt_gzip: incorrect data check");
        th__reader_free(r);
        free(bad);
    }

    /* Only the magic bytes; and a gzip name on plain data (detection is by content). */
    {
        struct got g;
        struct th_reader *r = new_reader(&g, 0, 0, 0);
        CHECK_INT(th__reader_read_buffer(r, "magic.gz", "\x1f\x8b", 2), 0);
        CHECK_INT(th__reader_stats(r)->rejected[TH_REJECT_BAD_GZIP], 1);
        CHECK_INT(th__reader_read_buffer(r, "plain.json.gz", one.p, one.len), 0);
        CHECK_INT(g.n, 3);
        th__reader_free(r);
    }
    free(z1);
    free(z2);
    free(one.p);
    free(two.p);
}

/* ---- digests ---- */

static void test_digest(void)
{
    const char *digest =
        "{\"awsAccountId\":\"111122223333\",\"digestStartTime\":\"" T0 "\","
        "\"digestSignatureAlgorithm\":\"SHA256withRSA\",\"logFiles\":[]}\n"
        "{\"awsAccountId\":\"111122223333\",\"digestPublicKeyFingerprint\":\"ab\"}\n";
    struct got g;
    struct th_reader *r = new_reader(&g, 0, 0, 0);
    /* By content: two digest values in one buffer count once. */
    CHECK_INT(th__reader_read_buffer(r, "some.json", digest, strlen(digest)), 0);
    CHECK_INT(th__reader_stats(r)->skipped_digest, 1);
    CHECK_INT(th__reader_stats(r)->files, 1);
    /* By name: not even read (a file with bad content proves it). */
    const char *name = "111122223333_CloudTrail-Digest_us-east-1_20240131T1300Z.json.gz";
    mkdirs("digest");
    char rel[256], full[1024];
    snprintf(rel, sizeof rel, "digest/%s", name);
    write_rel(rel, "garbage", 7);
    path_of(full, sizeof full, rel);
    CHECK_INT(th__reader_read_path(r, full, NULL), 0);
    CHECK_INT(th__reader_read_buffer(r, name, "garbage", 7), 0);
    const struct th_reader_stats *st = th__reader_stats(r);
    CHECK_INT(st->skipped_digest, 3);
    CHECK_INT(st->files, 1);
    CHECK_INT(rejected_total(st), 0);
    CHECK_INT(g.n, 0);
    th__reader_free(r);
}

/* ---- NDJSON robustness ---- */

static void test_ndjson_robustness(void)
{
    char a[256];
    struct sb t = {0};
    sb_addf(&t, "%s\n", ev(a, sizeof a, "g1", T0));                                        /* 1 */
    sb_addf(&t, "{\"eventTime\":\"" T0 "\",\"userIdentity\":{\"arn\":\"arn:aws:iam::1\n"); /* 2 */
    sb_addf(&t, "%s\n", ev(a, sizeof a, "g2", T0));                                        /* 3 */
    sb_addf(&t, "{\"eventTime\":\"" T0 "\",\"eventName\":\"x\",\n");                       /* 4 */
    sb_addf(&t, "%s\n", ev(a, sizeof a, "g3", T0));                                        /* 5 */
    sb_addf(&t, "not json at all\n");                                                      /* 6 */
    sb_addf(&t, "%s }\n", ev(a, sizeof a, "garbage", T0));                                 /* 7 */
    sb_addf(&t, "%s\n", ev(a, sizeof a, "g4", T0));                                        /* 8 */
    sb_addf(&t, "{\"eventTime\":\"" T0 "\",\"eventName\":\"nul");                          /* 9 */
    sb_add(&t, "\0\"}\n", 4);
    sb_addf(&t, "%s\n", ev(a, sizeof a, "g5", T0));                                      /* 10 */
    sb_addf(&t, "{\"eventTime\":\"" T0 "\",\"eventName\":\"utf\xff\xfe\xc3\"}\n");       /* 11 */
    sb_addf(&t, "%s\n", ev(a, sizeof a, "g6", T0));                                      /* 12 */
    sb_addf(&t, "123\n\"str\"\nnull\n");                                                 /* 13-15 */
    sb_addf(&t, "{\"eventName\":\"noTime\"}\n");                                         /* 16 */
    sb_addf(&t, "{\"eventTime\":\"yesterday\"}\n");                                      /* 17 */
    sb_addf(&t, "{\"eventTime\":12}\n");                                                 /* 18 */
    sb_addf(&t, "[1, %s]\n", ev(a, sizeof a, "g7", T0));                                 /* 19 */
    sb_addf(&t, "{\"eventTime\":\"" T0 "\",\"a\":[[[[[[1]]]]]]}\n");                     /* 20 */
    sb_addf(&t, "{\"eventTime\":\"" T0 "\",\"eventName\":\"deep5\",\"a\":[[[[1]]]]}\n"); /* 21 */
    sb_add(&t, "\x01\x02\xff\n", 4);                                                     /* 22 */
    sb_addf(&t, "%s", ev(a, sizeof a, "g8", T0)); /* 23, no final newline */

    for (int mode = 0; mode < 2; mode++) {
        struct got g;
        struct th_reader *r = new_reader(&g, 0, 0, 5);
        int rc;
        if (mode == 0) {
            rc = th__reader_read_buffer(r, "t.ndjson", t.p, t.len);
        } else {
            size_t zl;
            unsigned char *z = gz(t.p, t.len, &zl);
            rc = th__reader_read_buffer(r, "t.ndjson", z, zl);
            free(z);
        }
        CHECK_INT(rc, 0);
        const struct th_reader_stats *st = th__reader_stats(r);
        check_names(&g, "g1 g2 g3 g4 g5 utf\xff\xfe\xc3 g6 g7 deep5 g8", "robust");
        CHECK_INT(st->events, 10);
        CHECK_INT(g.line[0], 1);
        CHECK_INT(g.line[1], 3);
        CHECK_INT(g.line[2], 5);
        CHECK_INT(g.line[3], 8);
        CHECK_INT(g.line[4], 10);
        CHECK_INT(g.line[5], 11);
        CHECK_INT(g.line[6], 12);
        CHECK_INT(g.line[7], 19);
        CHECK_INT(g.has_raw[7], 0); /* inside an array */
        CHECK_INT(g.line[8], 21);
        CHECK_INT(g.line[9], 23);
        CHECK_INT(g.has_raw[9], 1);
        CHECK_INT(g.raw_mismatch, 0);
        /* 2, 4, 6, 7 (trailing), 9 (NUL), 22 (binary) */
        CHECK_INT(st->rejected[TH_REJECT_MALFORMED], 6);
        CHECK_INT(st->rejected[TH_REJECT_NOT_OBJECT], 4); /* 13, 14, 15, 19's 1 */
        CHECK_INT(st->rejected[TH_REJECT_BAD_TIME], 3);   /* 16, 17, 18 */
        CHECK_INT(st->rejected[TH_REJECT_TOO_DEEP], 1);   /* 20 */
        CHECK_INT(rejected_total(st), 14);
        CHECK_INT(st->nsamples, 5);
        CHECK_STR(st->samples[0], "t.ndjson:2: malformed_json: object value separator ',' "
                                  "expected");
        CHECK_STR(st->samples[1], "t.ndjson:4: malformed_json: quoted object property name "
                                  "expected");
        CHECK_STR(st->samples[2], "t.ndjson:6: malformed_json: null expected");
        CHECK_STR(st->samples[3], "t.ndjson:7: malformed_json: trailing characters after the "
                                  "JSON value");
        CHECK_STR(st->samples[4], "t.ndjson:9: malformed_json: unexpected end of data");
        th__reader_free(r);
    }

    /* The later samples: reasons and details of the other rejects. */
    {
        struct got g;
        struct th_reader *r = new_reader(&g, 0, 0, 5);
        struct sb u = {0};
        sb_addf(&u, "123\n{\"eventName\":\"noTime\"}\n{\"eventTime\":\"yesterday\"}\n"
                    "{\"eventTime\":12}\n{\"eventTime\":\"" T0 "\",\"a\":[[[[[[1]]]]]]}\n");
        CHECK_INT(th__reader_read_buffer(r, "u", u.p, u.len), 0);
        const struct th_reader_stats *st = th__reader_stats(r);
        CHECK_STR(st->samples[0], "u:1: not_an_object: a JSON int is not an event");
        CHECK_STR(st->samples[1], "u:2: missing_or_bad_event_time: missing eventTime");
        CHECK_STR(st->samples[2], "u:3: missing_or_bad_event_time: bad eventTime \"yesterday\"");
        CHECK_STR(st->samples[3], "u:4: missing_or_bad_event_time: eventTime is not a string");
        CHECK_STR(st->samples[4], "u:5: too_deeply_nested: nesting too deep");
        free(u.p);
        th__reader_free(r);
    }

    /* Records elements name their index; control bytes in a sample become '?'. */
    {
        struct got g;
        struct th_reader *r = new_reader(&g, 0, 0, 0);
        const char *d = "{\"Records\":[{\"eventTime\":\"" T0 "\"},7,{\"eventTime\":\"x\\ny\"}]}";
        CHECK_INT(th__reader_read_buffer(r, "rec", d, strlen(d)), 0);
        const struct th_reader_stats *st = th__reader_stats(r);
        CHECK_INT(g.n, 1);
        CHECK_INT(g.has_raw[0], 0);
        CHECK_STR(st->samples[0], "rec:1: not_an_object: Records[1]: a JSON int is not an event");
        CHECK_STR(st->samples[1], "rec:1: missing_or_bad_event_time: Records[2]: bad eventTime "
                                  "\"x?y\"");
        th__reader_free(r);
    }

    /* An error on a later line of a multi-line value resynchronises at that line. */
    {
        struct got g;
        struct th_reader *r = new_reader(&g, 0, 0, 0);
        const char *d = "[\n{\"eventTime\":\"" T0 "\",\"eventName\":\"in\"},\n"
                        "oops\n{\"eventTime\":\"" T0 "\",\"eventName\":\"after\"}\n";
        CHECK_INT(th__reader_read_buffer(r, "multi", d, strlen(d)), 0);
        CHECK_INT(g.n, 1);
        CHECK_STR(g.name[0], "after");
        CHECK_INT(g.line[0], 4);
        CHECK_INT(th__reader_stats(r)->rejected[TH_REJECT_MALFORMED], 2); /* the array, "oops" */
        CHECK_STR(th__reader_stats(r)->samples[1], "multi:3: malformed_json: unexpected character");
        th__reader_free(r);
    }

    /* A value cut by the end of input. */
    {
        struct got g;
        struct th_reader *r = new_reader(&g, 0, 0, 0);
        const char *d = "{\"eventTime\":\"" T0 "\",\"eventName\":\"ok\"}\n{\"eventTime\":";
        CHECK_INT(th__reader_read_buffer(r, "eof", d, strlen(d)), 0);
        CHECK_INT(g.n, 1);
        CHECK_STR(th__reader_stats(r)->samples[0], "eof:2: malformed_json: unexpected end of data");
        th__reader_free(r);
    }
    free(t.p);
}

/* ---- truncated lines and concatenated documents ---- */

/* An event line with an eventID, for the checks on what reaches the callback. */
static const char *evid(char *buf, size_t size, const char *name, const char *id)
{
    snprintf(buf, size,
             "{\"eventTime\":\"" T0 "\",\"eventName\":\"%s\",\"eventID\":\"%s\","
             "\"awsRegion\":\"us-east-1\"}",
             name, id);
    return buf;
}

/* A truncated line never takes the good lines after it down with it, whatever the cut
 * leaves open: a value after `"key":`, an array, an array after a comma, two cuts in a
 * row, and a good line that is the last one (with or without a final newline). */
static void test_truncated_lines(void)
{
    char g1[256], g2[256];
    evid(g1, sizeof g1, "good1", "id-good-1");
    evid(g2, sizeof g2, "good2", "id-good-2");
    const char *cut_key = "{\"eventTime\":\"" T0 "\",\"eventName\":\"cut\",\"userIdentity\":";
    const char *cut_arr = "{\"eventTime\":\"" T0 "\",\"eventName\":\"cut\",\"resources\":[";
    const char *cut_comma =
        "{\"eventTime\":\"" T0 "\",\"eventName\":\"cut\",\"resources\":[{\"ARN\":\"x\"},";
    const char *cut_nested = "{\"eventTime\":\"" T0 "\",\"a\":{\"b\":[1,{\"c\":";
    const char *cuts[] = {cut_key, cut_arr, cut_comma, cut_nested};
    for (size_t k = 0; k < TH_ARRAY_LEN(cuts); k++) {
        for (int tail = 0; tail < 3; tail++) {
            /* tail 0: cut, good1, good2; 1: cut, good1 (last, newline); 2: no newline */
            struct sb t = {0};
            sb_addf(&t, "%s\n%s", cuts[k], g1);
            if (tail == 0)
                sb_addf(&t, "\n%s\n", g2);
            else if (tail == 1)
                sb_addf(&t, "\n");
            for (int z = 0; z < 2; z++) {
                struct got g;
                struct th_reader *r = new_reader(&g, 0, 0, 0);
                char label[64];
                snprintf(label, sizeof label, "cut %zu tail %d%s", k, tail, z ? " gz" : "");
                size_t zl = 0;
                unsigned char *zd = z ? gz(t.p, t.len, &zl) : NULL;
                CHECK_INT(th__reader_read_buffer(r, label, z ? (const void *)zd : t.p,
                                                 z ? zl : t.len),
                          0);
                free(zd);
                const struct th_reader_stats *st = th__reader_stats(r);
                check_names(&g, tail == 0 ? "good1 good2" : "good1", label);
                CHECK_INT(st->events, tail == 0 ? 2 : 1);
                CHECK_INT(st->rejected[TH_REJECT_MALFORMED], 1);
                CHECK_INT(rejected_total(st), 1);
                /* The good events reach the callback whole, from their own lines. */
                CHECK_STR(g.raw[0], g1);
                CHECK_INT(g.line[0], 2);
                if (tail == 0) {
                    CHECK_STR(g.raw[1], g2);
                    CHECK_INT(g.line[1], 3);
                }
                CHECK_CONTAINS(st->samples[0], ":1: malformed_json: ");
                th__reader_free(r);
            }
            free(t.p);
        }
    }

    /* Two cuts in a row, each swallowing what follows: both are counted, both good lines
     * survive. */
    {
        struct sb t = {0};
        sb_addf(&t, "%s\n%s\n%s\n%s\n", cut_key, cut_arr, g1, g2);
        struct got g;
        struct th_reader *r = new_reader(&g, 0, 0, 0);
        CHECK_INT(th__reader_read_buffer(r, "two-cuts", t.p, t.len), 0);
        check_names(&g, "good1 good2", "two cuts");
        CHECK_INT(th__reader_stats(r)->rejected[TH_REJECT_MALFORMED], 2);
        CHECK_INT(g.line[0], 3);
        CHECK_STR(g.raw[1], g2);
        /* Line 1 took line 2 as its value, and line 3 as an element of its array: the
         * error is found at line 4 but reported at line 1, where the event starts. */
        CHECK_STR(th__reader_stats(r)->samples[0], "two-cuts:1: malformed_json: array value "
                                                   "separator ',' expected");
        CHECK_STR(th__reader_stats(r)->samples[1], "two-cuts:2: malformed_json: array value "
                                                   "separator ',' expected");
        th__reader_free(r);
        free(t.p);
    }
}

/* One CloudWatch Logs DATA_MESSAGE holding the given events (names), as a JSON text. */
static void cw_doc(struct sb *t, const char *const *names, size_t n)
{
    sb_addf(t, "{\"messageType\":\"DATA_MESSAGE\",\"owner\":\"111122223333\","
               "\"logGroup\":\"aws-cloudtrail\",\"logStream\":\"s\",\"subscriptionFilters\":"
               "[\"f\"],\"logEvents\":[");
    for (size_t i = 0; i < n; i++) {
        char a[256], id[32];
        snprintf(id, sizeof id, "id-%s", names[i]);
        sb_addf(t, "%s{\"id\":\"%zu\",\"timestamp\":1709546400000,\"message\":\"", i ? "," : "", i);
        sb_add_escaped(t, evid(a, sizeof a, names[i], id));
        sb_addf(t, "\"}");
    }
    sb_addf(t, "]}");
}

/* Firehose writes CloudWatch Logs payloads back to back without a separator, `{...}{...}`:
 * every document is read. Two events on one line are not a format: rejected as trailing
 * characters, without costing the next line. */
static void test_concatenated(void)
{
    static const char *const d1[] = {"c1", "c2"}, *const d2[] = {"c3"}, *const d3[] = {"c4"};
    char a[256];
    struct sb t = {0};
    sb_addf(&t, "{\"messageType\":\"CONTROL_MESSAGE\",\"logEvents\":[{\"id\":\"\","
                "\"timestamp\":1,\"message\":\"CWL CONTROL MESSAGE: Checking health of "
                "destination Firehose.\"}]}");
    cw_doc(&t, d1, 2);
    cw_doc(&t, d2, 1);
    sb_addf(&t, "  \t");
    cw_doc(&t, d3, 1); /* white space between documents is fine too */
    sb_addf(&t, "\n%s\n", evid(a, sizeof a, "after", "id-after"));
    for (int z = 0; z < 2; z++) {
        struct got g;
        struct th_reader *r = new_reader(&g, 0, 0, 0);
        size_t zl = 0;
        unsigned char *zd = z ? gz(t.p, t.len, &zl) : NULL;
        CHECK_INT(th__reader_read_buffer(r, "firehose", z ? (const void *)zd : t.p,
                                         z ? zl : t.len),
                  0);
        free(zd);
        const struct th_reader_stats *st = th__reader_stats(r);
        check_names(&g, "c1 c2 c3 c4 after", z ? "firehose gz" : "firehose");
        CHECK_INT(st->events, 5);
        CHECK_INT(st->skipped_control, 1);
        CHECK_INT(rejected_total(st), 0);
        CHECK_INT(g.line[0], 1);
        CHECK_INT(g.line[3], 1);
        CHECK_INT(g.line[4], 2);
        CHECK_INT(g.has_raw[0], 0); /* events from messages have no line of their own */
        CHECK_STR(g.raw[4], a);
        th__reader_free(r);
    }
    free(t.p);

    /* Events back to back on one line, with or without a space: the line is rejected as a
     * whole (neither event is taken), and the next line is read. */
    char e1[256], e2[256], e3[256];
    evid(e1, sizeof e1, "x1", "id-x1");
    evid(e2, sizeof e2, "x2", "id-x2");
    evid(e3, sizeof e3, "ok", "id-ok");
    const char *seps[] = {" ", "", "\t"};
    for (size_t i = 0; i < TH_ARRAY_LEN(seps); i++) {
        struct sb u = {0};
        sb_addf(&u, "%s%s%s\n%s\n", e1, seps[i], e2, e3);
        struct got g;
        struct th_reader *r = new_reader(&g, 0, 0, 0);
        CHECK_INT(th__reader_read_buffer(r, "two", u.p, u.len), 0);
        const struct th_reader_stats *st = th__reader_stats(r);
        check_names(&g, "ok", "two events on a line");
        CHECK_INT(st->events, 1);
        CHECK_INT(st->rejected[TH_REJECT_MALFORMED], 1);
        CHECK_INT(rejected_total(st), 1);
        CHECK_STR(st->samples[0], "two:1: malformed_json: trailing characters after the JSON "
                                  "value");
        CHECK_INT(g.line[0], 2);
        CHECK_STR(g.raw[0], e3);
        th__reader_free(r);
        free(u.p);
    }
}

/* ---- limits ---- */

static void test_limits(void)
{
    char a[256], b[256];
    /* A line over max_event_size, between good lines, with and without a final newline. */
    {
        struct sb t = {0};
        sb_addf(&t, "%s\n{\"eventTime\":\"" T0 "\",\"pad\":\"", ev(a, sizeof a, "l1", T0));
        for (int i = 0; i < 300; i++)
            sb_addf(&t, "0123456789");
        sb_addf(&t, "\"}\n%s\n{\"pad\":\"", ev(b, sizeof b, "l2", T0));
        for (int i = 0; i < 300; i++)
            sb_addf(&t, "0123456789");
        struct got g;
        struct th_reader *r = new_reader(&g, 1000, 0, 0);
        CHECK_INT(th__reader_read_buffer(r, "big", t.p, t.len), 0);
        check_names(&g, "l1 l2", "too large");
        CHECK_INT(g.line[1], 3);
        const struct th_reader_stats *st = th__reader_stats(r);
        CHECK_INT(st->rejected[TH_REJECT_TOO_LARGE], 2);
        CHECK_INT(rejected_total(st), 2);
        CHECK_STR(st->samples[0], "big:2: too_large: line longer than 1000 bytes");
        CHECK_STR(st->samples[1], "big:4: too_large: line longer than 1000 bytes");
        /* Exactly at the limit is fine. */
        struct sb e = {0};
        sb_addf(&e, "{\"eventTime\":\"" T0 "\",\"pad\":\"");
        while (e.len < 998)
            sb_add(&e, "x", 1);
        sb_addf(&e, "\"}\n");
        CHECK_INT(e.len, 1001);
        CHECK_INT(th__reader_read_buffer(r, "edge", e.p, e.len), 0);
        CHECK_INT(g.n, 3);
        th__reader_free(r);
        free(t.p);
        free(e.p);
    }

    /* A multi-line event growing past the limit. */
    {
        struct sb t = {0};
        sb_addf(&t, "{\"eventTime\":\"" T0 "\",\n");
        for (int i = 0; i < 40; i++)
            sb_addf(&t, "\"k%02d\":\"0123456789012345678901234567890123456789\",\n", i);
        sb_addf(&t, "\"eventName\":\"big\"}\n%s\n", ev(a, sizeof a, "after", T0));
        struct got g;
        struct th_reader *r = new_reader(&g, 1000, 0, 0);
        CHECK_INT(th__reader_read_buffer(r, "ml", t.p, t.len), 0);
        check_names(&g, "after", "multi-line too large");
        CHECK_INT(th__reader_stats(r)->rejected[TH_REJECT_TOO_LARGE], 1);
        CHECK_STR(th__reader_stats(r)->samples[0], "ml:1: too_large: event longer than 1000 bytes");
        th__reader_free(r);
        free(t.p);
    }

    /* A 3 MiB Records document on one line, max_event_size 1 MiB: accepted (buffer, file,
     * gzip file); over max_document_size it is rejected and the next line survives. */
    {
        struct sb t = {0};
        sb_addf(&t, "{\"Records\":[");
        size_t n = 0;
        while (t.len < (size_t)3 << 20) {
            char nm[32];
            snprintf(nm, sizeof nm, "s%zu", n++);
            sb_addf(&t, "%s%s", n > 1 ? "," : "", ev(a, sizeof a, nm, T0));
        }
        sb_addf(&t, "]}\n");
        for (int mode = 0; mode < 3; mode++) {
            struct got g;
            struct th_reader *r = new_reader(&g, (size_t)1 << 20, 0, 0);
            g.seq = 1;
            if (mode == 0) {
                CHECK_INT(th__reader_read_buffer(r, "doc", t.p, t.len), 0);
            } else {
                size_t zl = 0;
                unsigned char *z = mode == 2 ? gz(t.p, t.len, &zl) : NULL;
                char full[1024];
                write_rel("doc.json", mode == 2 ? (const void *)z : t.p, mode == 2 ? zl : t.len);
                path_of(full, sizeof full, "doc.json");
                CHECK_INT(th__reader_read_path(r, full, NULL), 0);
                free(z);
            }
            CHECK_INT(g.n, n);
            CHECK_INT(g.seq_errors, 0);
            CHECK_INT(rejected_total(th__reader_stats(r)), 0);
            CHECK_INT(th__reader_stats(r)->bytes, t.len);
            th__reader_free(r);
        }
        sb_addf(&t, "%s\n", ev(a, sizeof a, "after", T0));
        struct got g;
        struct th_reader *r = new_reader(&g, (size_t)1 << 20, (size_t)2 << 20, 0);
        CHECK_INT(th__reader_read_buffer(r, "doc", t.p, t.len), 0);
        check_names(&g, "after", "document too large");
        CHECK_INT(g.line[0], 2);
        CHECK_STR(th__reader_stats(r)->samples[0],
                  "doc:1: too_large: document longer than 2097152 bytes");
        th__reader_free(r);
        free(t.p);
    }

    /* Depth: max_depth levels of containers are fine, one more is not. */
    {
        struct got g;
        struct th_reader *r = new_reader(&g, 0, 0, 3);
        const char *d = "{\"eventTime\":\"" T0 "\",\"eventName\":\"d3\",\"a\":[[1]]}\n"
                        "{\"eventTime\":\"" T0 "\",\"eventName\":\"d4\",\"a\":[[[1]]]}\n"
                        "{\"eventTime\":\"" T0 "\",\"eventName\":\"ok\"}\n";
        CHECK_INT(th__reader_read_buffer(r, "depth", d, strlen(d)), 0);
        check_names(&g, "d3 ok", "depth");
        CHECK_INT(th__reader_stats(r)->rejected[TH_REJECT_TOO_DEEP], 1);
        th__reader_free(r);
    }

    /* Default limits: a deep document of 100 levels is rejected (default depth 64). */
    {
        struct got g;
        struct th_reader *r = new_reader(&g, 0, 0, 0);
        struct sb d = {0};
        for (int i = 0; i < 100; i++)
            sb_add(&d, "[", 1);
        for (int i = 0; i < 100; i++)
            sb_add(&d, "]", 1);
        CHECK_INT(th__reader_read_buffer(r, "deep", d.p, d.len), 0);
        CHECK_INT(th__reader_stats(r)->rejected[TH_REJECT_TOO_DEEP], 1);
        free(d.p);
        th__reader_free(r);
    }
}

/* ---- directory walk ---- */

static void test_walk(void)
{
    char a[256];
    const char *base = "walk/AWSLogs/111122223333/CloudTrail";
    struct {
        const char *region, *stamp, *name;
        int gzip;
    } files[] = {
        {"us-east-1", "20240131T1215Z", "use1_1215", 1},
        {"eu-west-1", "20240131T1210Z", "euw1_1210", 1},
        {"us-east-1", "20240131T1205Z", "use1_1205", 0},
        {"eu-west-1", "20240131T1200Z", "euw1_1200", 1},
        {"eu-west-1", "20240201T0000Z", "euw1_next_day", 1},
    };
    for (size_t i = 0; i < TH_ARRAY_LEN(files); i++) {
        char dir[512], rel[1024];
        const bool next = strncmp(files[i].stamp, "20240201", 8) == 0;
        snprintf(dir, sizeof dir, "%s/%s/2024/%s", base, files[i].region, next ? "02/01" : "01/31");
        mkdirs(dir);
        snprintf(rel, sizeof rel, "%s/111122223333_CloudTrail_%s_%s_Ab12%s.json%s", dir,
                 files[i].region, files[i].stamp, files[i].gzip ? "" : "x",
                 files[i].gzip ? ".gz" : "");
        char doc[512];
        snprintf(doc, sizeof doc, "{\"Records\":[%s]}", ev(a, sizeof a, files[i].name, T0));
        if (files[i].gzip) {
            size_t zl;
            unsigned char *z = gz(doc, strlen(doc), &zl);
            write_rel(rel, z, zl);
            free(z);
        } else {
            write_rel(rel, doc, strlen(doc));
        }
    }
    /* Plain files come first, in lexical order; hidden files and digests are skipped. */
    mkdirs("walk/notes");
    write_ev("walk/notes/b.ndjson", "plain_b");
    write_ev("walk/a.ndjson", "plain_a");
    write_ev("walk/.hidden.ndjson", "hidden");
    mkdirs("walk/.git");
    write_ev("walk/.git/x.ndjson", "hidden_dir");
    mkdirs("walk/AWSLogs/111122223333/CloudTrail-Digest/us-east-1");
    write_rel("walk/AWSLogs/111122223333/CloudTrail-Digest/us-east-1/"
              "111122223333_CloudTrail-Digest_us-east-1_20240131T1300Z.json.gz",
              "garbage", 7);
    /* A symlinked file is read; a symlinked directory is not followed. */
    char target[1024], link[1024];
    mkdirs("elsewhere");
    write_ev("elsewhere/linked.ndjson", "via_link");
    path_of(target, sizeof target, "elsewhere/linked.ndjson");
    path_of(link, sizeof link, "walk/link.ndjson");
    CHECK_INT(symlink(target, link), 0);
    path_of(target, sizeof target, "elsewhere");
    path_of(link, sizeof link, "walk/linkdir");
    CHECK_INT(symlink(target, link), 0);
    path_of(target, sizeof target, "walk");
    path_of(link, sizeof link, "walk/notes/loop");
    CHECK_INT(symlink(target, link), 0);

    char root[1024];
    path_of(root, sizeof root, "walk/");
    struct got g;
    struct th_reader *r = new_reader(&g, 0, 0, 0);
    struct th_err err = {0};
    CHECK_INT(th__reader_read_path(r, root, &err), 0);
    check_names(&g,
                "plain_a via_link plain_b euw1_1200 use1_1205 euw1_1210 use1_1215 "
                "euw1_next_day",
                "walk order");
    const struct th_reader_stats *st = th__reader_stats(r);
    CHECK_INT(st->files, 8);
    CHECK_INT(st->skipped_digest, 1);
    CHECK_INT(st->files_unreadable, 0);
    CHECK_INT(rejected_total(st), 0);
    CHECK_STR(err.msg, "");
    /* A trailing slash on the root does not double the separator. */
    char want[1024];
    path_of(want, sizeof want, "walk/a.ndjson");
    CHECK_STR(g.file[0], want);
    th__reader_free(r);

    /* Explicit paths: a symlinked directory given by name is walked. */
    r = new_reader(&g, 0, 0, 0);
    path_of(link, sizeof link, "walk/linkdir");
    CHECK_INT(th__reader_read_path(r, link, NULL), 0);
    check_names(&g, "via_link", "explicit symlinked dir");
    th__reader_free(r);
}

/* ---- unreadable inputs ---- */

static void test_unreadable(void)
{
    char p[1024];
    struct got g;
    struct th_reader *r = new_reader(&g, 0, 0, 0);
    struct th_err err = {0};

    path_of(p, sizeof p, "does-not-exist.json");
    CHECK_INT(th__reader_read_path(r, p, &err), TH_EIO);
    CHECK_STR(err.where, p);
    CHECK_STR(err.msg, "No such file or directory");
    CHECK_INT(th__reader_stats(r)->files_unreadable, 1);
    CHECK_INT(th__reader_stats(r)->files, 0);

    /* A dangling symlink inside a walked directory: the rest is still read. */
    mkdirs("unread");
    write_ev("unread/a.ndjson", "ua");
    write_ev("unread/c.ndjson", "uc");
    path_of(p, sizeof p, "unread/b.ndjson");
    CHECK_INT(symlink("/nonexistent/target.json", p), 0);
    char root[1024];
    path_of(root, sizeof root, "unread");
    memset(&err, 0, sizeof err);
    CHECK_INT(th__reader_read_path(r, root, &err), TH_EIO);
    check_names(&g, "ua uc", "dangling");
    CHECK_STR(err.where, p);
    CHECK_STR(err.msg, "No such file or directory");
    CHECK_INT(th__reader_stats(r)->files_unreadable, 2);
    CHECK_INT(th__reader_stats(r)->files, 2);

    /* A read error in the middle of a file: /proc/self/mem opens but reading offset 0 fails
     * with EIO, whoever we are. */
    if (access("/proc/self/mem", R_OK) == 0) {
        memset(&err, 0, sizeof err);
        CHECK_INT(th__reader_read_path(r, "/proc/self/mem", &err), TH_EIO);
        CHECK_STR(err.where, "/proc/self/mem");
        CHECK_STR(err.msg, "Input/output error");
        CHECK_INT(th__reader_stats(r)->files_unreadable, 3);
    }

    /* Permissions, when they apply (not as root). */
    if (geteuid() != 0) {
        write_rel("unread/secret.ndjson", "x", 1);
        path_of(p, sizeof p, "unread/secret.ndjson");
        chmod(p, 0);
        memset(&err, 0, sizeof err);
        CHECK_INT(th__reader_read_path(r, p, &err), TH_EIO);
        CHECK_STR(err.msg, "Permission denied");
        mkdirs("unread/locked");
        path_of(p, sizeof p, "unread/locked");
        chmod(p, 0);
        memset(&err, 0, sizeof err);
        CHECK_INT(th__reader_read_path(r, p, &err), TH_EIO);
        CHECK_STR(err.where, p);
        CHECK_STR(err.msg, "Permission denied");
        chmod(p, 0755);
    }

    /* The first error is the one reported; a good path afterwards returns 0. */
    path_of(p, sizeof p, "unread/a.ndjson");
    memset(&err, 0, sizeof err);
    CHECK_INT(th__reader_read_path(r, p, &err), 0);
    CHECK_STR(err.msg, "");
    th__reader_free(r);
}

/* ---- stdin, stop, streaming ---- */

static void test_stdin(void)
{
    char a[256], b[256];
    struct sb t = {0};
    sb_addf(&t, "%s\n%s\n", ev(a, sizeof a, "in1", T0), ev(b, sizeof b, "in2", T0));
    size_t zl;
    unsigned char *z = gz(t.p, t.len, &zl);
    write_rel("stdin.gz", z, zl);
    char p[1024];
    path_of(p, sizeof p, "stdin.gz");
    int saved = dup(0), fd = open(p, O_RDONLY);
    CHECK(saved >= 0 && fd >= 0);
    dup2(fd, 0);
    close(fd);
    struct got g;
    struct th_reader *r = new_reader(&g, 0, 0, 0);
    CHECK_INT(th__reader_read_path(r, "-", NULL), 0);
    dup2(saved, 0);
    close(saved);
    check_names(&g, "in1 in2", "stdin");
    CHECK_STR(g.file[0], "<stdin>");
    CHECK_INT(g.line[1], 2);
    CHECK_INT(th__reader_stats(r)->files, 1);
    th__reader_free(r);
    free(z);
    free(t.p);
}

static void test_stop(void)
{
    char a[256];
    struct sb t = {0};
    for (int i = 0; i < 5; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "p%d", i);
        sb_addf(&t, "%s\n", ev(a, sizeof a, nm, T0));
    }
    struct got g;
    struct th_reader *r = new_reader(&g, 0, 0, 0);
    g.stop_after = 2;
    g.stop_rc = 42;
    CHECK_INT(th__reader_read_buffer(r, "stop", t.p, t.len), 42);
    CHECK_INT(g.n, 2);
    CHECK_INT(th__reader_stats(r)->events, 2);
    /* Inside a Records document and across the files of a walk. */
    char doc[2048];
    snprintf(doc, sizeof doc, "{\"Records\":[%s,", ev(a, sizeof a, "q0", T0));
    snprintf(doc + strlen(doc), sizeof doc - strlen(doc), "%s]}", ev(a, sizeof a, "q1", T0));
    g.n = 0;
    g.stop_after = 1;
    g.stop_rc = -7;
    CHECK_INT(th__reader_read_buffer(r, "stop2", doc, strlen(doc)), -7);
    CHECK_INT(g.n, 1);
    mkdirs("stopdir");
    write_rel("stopdir/1.ndjson", t.p, t.len);
    write_rel("stopdir/2.ndjson", t.p, t.len);
    char p[1024];
    path_of(p, sizeof p, "stopdir");
    g.n = 0;
    g.stop_after = 3;
    g.stop_rc = 1;
    CHECK_INT(th__reader_read_path(r, p, NULL), 1);
    CHECK_INT(g.n, 3);
    CHECK_INT(th__reader_stats(r)->files, 3); /* 2 buffers + the first file */
    /* A reader without a callback just counts. */
    struct th_reader *r2 = NULL;
    CHECK_INT(th__reader_new(NULL, NULL, NULL, &r2), 0);
    CHECK_INT(th__reader_read_buffer(r2, "count", t.p, t.len), 0);
    CHECK_INT(th__reader_stats(r2)->events, 5);
    th__reader_free(r2);
    th__reader_free(NULL);
    th__reader_free(r);
    free(t.p);
}

/* Lines of many sizes, so that they straddle every refill and inflate boundary. */
static void test_streaming(void)
{
    struct sb t = {0};
    size_t n = 0;
    unsigned x = 12345;
    while (t.len < (size_t)6 << 20) {
        x = x * 1103515245u + 12345u;
        size_t pad = (x >> 8) % 4000;
        sb_addf(&t, "{\"eventTime\":\"" T0 "\",\"eventName\":\"s%zu\",\"pad\":\"", n++);
        for (size_t i = 0; i < pad; i++)
            sb_add(&t, &"abcdefghijklmnopqrstuvwxyz"[(i + n) % 26], 1);
        sb_addf(&t, "\"}\n");
        if (n % 97 == 0)
            sb_addf(&t, "\n");
    }
    size_t zl;
    unsigned char *z = gz(t.p, t.len, &zl);
    write_rel("stream.ndjson", t.p, t.len);
    write_rel("stream.ndjson.gz", z, zl);
    for (int mode = 0; mode < 3; mode++) {
        struct got g;
        struct th_reader *r = new_reader(&g, 8192, 0, 0);
        g.seq = 1;
        char p[1024];
        path_of(p, sizeof p, mode == 1 ? "stream.ndjson.gz" : "stream.ndjson");
        if (mode == 2)
            CHECK_INT(th__reader_read_buffer(r, "stream", z, zl), 0);
        else
            CHECK_INT(th__reader_read_path(r, p, NULL), 0);
        CHECK_INT(g.n, n);
        CHECK_INT(g.seq_errors, 0);
        CHECK_INT(g.raw_mismatch, 0);
        CHECK_INT(rejected_total(th__reader_stats(r)), 0);
        CHECK_INT(th__reader_stats(r)->bytes, t.len);
        th__reader_free(r);
    }
    free(z);
    free(t.p);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_reader.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    CHECK_STR(th__reject_name(TH_REJECT_MALFORMED), "malformed_json");
    CHECK_STR(th__reject_name(TH_REJECT_BAD_PAYLOAD), "bad_envelope");
    CHECK_STR(th__reject_name(TH_REJECT__COUNT), "unknown");

    test_formats();
    test_gzip();
    test_digest();
    test_ndjson_robustness();
    test_truncated_lines();
    test_concatenated();
    test_limits();
    test_walk();
    test_unreadable();
    test_stdin();
    test_stop();
    test_streaming();

    rm_tree(tmpdir);
    return CHECK_DONE();
}
