/*
 * test_reader_fast.c - the reader's fast path (reader.c, th_reader_fast) against its
 * ordinary path: over generated NDJSON of every awkward shape (lines straddling refills,
 * CRLF, trailing blanks, blank lines, objects over two lines, junk or a second object after
 * one, invalid and oversized lines, envelopes, odd event times, \u escapes, a last line
 * without a newline), read from a file, a gzipped file and a buffer, the fast path must
 * accept, reject and hand over exactly what the ordinary path does: the same events in the
 * same order with the same lines, times and bytes, and the same reject counters. Only
 * whether an event came as a tree, a tape or a skip may differ, as wanted() said.
 * A FIFO written in pieces that end right after an object makes the window end there,
 * before what follows on its line is known.
 */
#include "reader.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "common.h"
#include "sbuf.h"
#include "tape.h"

#define T0 "2024-01-31T12:00:00Z"
#define MAX_EVENT (64 * 1024)

static unsigned rnd(unsigned *x)
{
    *x = *x * 1103515245u + 12345u;
    return *x >> 8;
}

/* An ordinary event with k bytes of padding (no newline). */
static void event(struct sb *b, size_t i, size_t k)
{
    sb_addf(b, "{\"eventTime\":\"" T0 "\",\"eventName\":\"e%zu\",\"pad\":\"", i);
    for (size_t j = 0; j < k; j++)
        sb_add(b, &"abcdefghijklmnopqrstuvwxyz"[(i + j) % 26], 1);
    sb_add(b, "\"}", 2);
}

/* A stream of n lines of random shapes; the last line's ending is chosen by `ending`. */
static void make_stream(struct sb *b, unsigned seed, size_t n, int ending)
{
    unsigned x = seed;
    for (size_t i = 0; i < n; i++) {
        unsigned shape = rnd(&x) % 20;
        size_t pad = rnd(&x) % 3000;
        switch (shape) {
        case 0: /* CRLF */
            event(b, i, pad);
            sb_add(b, "\r", 1);
            break;
        case 1: /* trailing blanks */
            event(b, i, pad);
            sb_add(b, "  \t ", 4);
            break;
        case 2: /* blank lines, leading blanks */
            sb_add(b, "\n \t\n   ", 7);
            event(b, i, pad);
            break;
        case 3: /* one object over two lines */
            sb_addf(b, "{\"eventTime\":\"" T0 "\",\n \"eventName\":\"two%zu\"}", i);
            break;
        case 4: /* junk after the object */
            event(b, i, pad);
            sb_add(b, " x", 2);
            break;
        case 5: /* two objects on one line */
            event(b, i, 3);
            event(b, i + 1, 3);
            break;
        case 6: /* cut short */
            sb_addf(b, "{\"eventTime\":\"" T0 "\",\"eventName\":");
            break;
        case 7: /* an envelope */
            sb_add(b, "{\"detail-type\":\"AWS API Call via CloudTrail\",\"detail\":", 54);
            event(b, i, pad);
            sb_add(b, "}", 1);
            break;
        case 8: /* an odd event time, then a missing one */
            sb_addf(b, "{\"eventTime\":17,\"eventName\":\"n%zu\"}\n", i);
            sb_addf(b, "{\"eventName\":\"none%zu\"}", i);
            break;
        case 9: /* \u escapes */
            sb_addf(b, "{\"eventTime\":\"" T0 "\",\"eventName\":\"u\\u00e9%zu\"}", i);
            break;
        case 10: /* too long */
            if (rnd(&x) % 4 == 0) {
                event(b, i, MAX_EVENT + 10);
                break;
            }
            /* fall through */
        case 11: /* a long one that fits */
            event(b, i, MAX_EVENT - 200 - rnd(&x) % 100);
            break;
        case 12: /* a time with an escape */
            sb_addf(b, "{\"eventTime\":\"2024-01-31T12:00:00\\u005a\",\"eventName\":\"t%zu\"}", i);
            break;
        default:
            event(b, i, pad);
            break;
        }
        if (i + 1 < n || ending == 0)
            sb_add(b, "\n", 1);
        else if (ending == 1)
            sb_add(b, "  ", 2); /* blanks, no newline */
        /* ending 2: the object is the input's last byte */
    }
}

/* What one read saw: a text trace of every event and skip, in order. */
struct trace {
    struct sb t;
    int mode; /* 0: ordinary; 1: every event wanted; 2: by a hash; 3: wanted, then not */
    size_t asked, tapes, skipped;
};

static int on_event(void *ctx, const struct th_read_event *ev)
{
    struct trace *tr = ctx;
    sb_addf(&tr->t, "%s:%llu %lld ", ev->file, (unsigned long long)ev->line,
            (long long)ev->time_ms);
    if (ev->raw)
        sb_add(&tr->t, ev->raw, ev->raw_len);
    else
        sb_add(&tr->t, "-", 1);
    sb_add(&tr->t, "\n", 1);
    if (ev->tape) {
        tr->tapes++;
        CHECK(ev->obj == NULL && ev->tape->ok && ev->src == ev->raw);
    }
    return 0;
}

static bool wanted(void *ctx, const char *p, size_t n, const struct th_jscan *js)
{
    struct trace *tr = ctx;
    (void)js;
    tr->asked++;
    bool w = true;
    if (tr->mode == 2)
        w = (crc32(0, (const Bytef *)p, (uInt)n) & 3) != 0;
    else if (tr->mode == 3)
        w = tr->asked < 300;
    return w;
}

static int skipped(void *ctx, int64_t time_ms, const char *file, uint64_t line)
{
    struct trace *tr = ctx;
    tr->skipped++;
    /* The event's bytes are not handed over: the ordinary path's are left out of the
     * comparison by compare(). */
    sb_addf(&tr->t, "%s:%llu %lld ?\n", file, (unsigned long long)line, (long long)time_ms);
    return 0;
}

/* Reads input (how: 0 a file, 1 a gzipped file, 2 a buffer) in the trace's mode. */
static void read_with(struct trace *tr, int how, const char *path, const char *gzpath,
                      const struct sb *text)
{
    struct th_reader_limits lim = {MAX_EVENT, 0, 0};
    struct th_reader *r = NULL;
    CHECK_INT(th__reader_new(&lim, on_event, tr, &r), 0);
    if (tr->mode) {
        struct th_reader_fast f = {wanted, skipped, tr, true};
        th__reader_set_fast(r, &f);
    }
    if (how == 2)
        CHECK_INT(th__reader_read_buffer(r, "buf", text->p, text->len), 0);
    else
        CHECK_INT(th__reader_read_path(r, how ? gzpath : path, NULL), 0);
    const struct th_reader_stats *st = th__reader_stats(r);
    sb_addf(&tr->t, "events %llu bytes %llu rejected", (unsigned long long)st->events,
            (unsigned long long)st->bytes);
    for (int i = 0; i < TH_REJECT__COUNT; i++)
        sb_addf(&tr->t, " %llu", (unsigned long long)st->rejected[i]);
    sb_add(&tr->t, "\n", 1);
    for (size_t i = 0; i < st->nsamples; i++)
        sb_addf(&tr->t, "%s\n", st->samples[i]);
    th__reader_free(r);
}

/* The ordinary trace against a fast one: line by line, a skip standing for any bytes. */
static void compare(const struct trace *ord, const struct trace *fast, const char *label)
{
    const char *a = ord->t.p, *b = fast->t.p;
    size_t lineno = 1;
    while (*a && *b) {
        const char *ae = strchr(a, '\n'), *be = strchr(b, '\n');
        if (!ae || !be)
            break;
        size_t an = (size_t)(ae - a), bn = (size_t)(be - b);
        bool same = an == bn && memcmp(a, b, an) == 0;
        if (!same && bn >= 2 && b[bn - 1] == '?' && b[bn - 2] == ' ') {
            /* a skip: the same file, line and time as the ordinary event */
            const char *sp = memchr(a, ' ', an);
            sp = sp ? memchr(sp + 1, ' ', (size_t)(ae - sp - 1)) : NULL;
            same = sp && (size_t)(sp - a) + 2 == bn && memcmp(a, b, bn - 1) == 0;
        }
        if (!same) {
            fprintf(stderr, "%s: trace line %zu differs:\n  ordinary: %.*s\n  fast:     %.*s\n",
                    label, lineno, (int)(an > 300 ? 300 : an), a, (int)(bn > 300 ? 300 : bn), b);
            CHECK(same);
            return;
        }
        a = ae + 1;
        b = be + 1;
        lineno++;
    }
    CHECK(*a == '\0' && *b == '\0');
}

static void test_stream(unsigned seed, size_t n, int ending)
{
    struct sb text = {0};
    make_stream(&text, seed, n, ending);
    char path[] = "/tmp/test_reader_fast.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, text.p, text.len) == (ssize_t)text.len);
    close(fd);
    char gzpath[sizeof path + 3];
    snprintf(gzpath, sizeof gzpath, "%s.gz", path);
    gzFile z = gzopen(gzpath, "wb");
    CHECK(z && gzwrite(z, text.p, (unsigned)text.len) == (int)text.len);
    gzclose(z);

    for (int how = 0; how < 3; how++) {
        struct trace ord = {.mode = 0};
        read_with(&ord, how, path, gzpath, &text);
        for (int mode = 1; mode <= 3; mode++) {
            struct trace fast = {.mode = mode};
            read_with(&fast, how, path, gzpath, &text);
            char label[96];
            snprintf(label, sizeof label, "seed %u, ending %d, input %d, mode %d", seed, ending,
                     how, mode);
            compare(&ord, &fast, label);
            /* The fast path took part: it asked, and handed over tapes or skipped. */
            CHECK(fast.asked > n / 2);
            CHECK(mode == 1 ? fast.skipped == 0 : fast.skipped > 0);
            CHECK(fast.tapes > 0);
            free(fast.t.p);
        }
        free(ord.t.p);
    }
    unlink(path);
    unlink(gzpath);
    free(text.p);
}

/* The FIFO's writer: each piece written alone, the reader given time to take it. */
struct pieces {
    const char *path;
    const char *const *piece;
    size_t n;
};

static void *write_pieces(void *arg)
{
    const struct pieces *pc = arg;
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 3000; tries++) { /* no reader yet: ENXIO */
        fd = open(pc->path, O_WRONLY | O_NONBLOCK);
        if (fd < 0)
            nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    if (fd < 0 || fcntl(fd, F_SETFL, 0) != 0) /* a reader that never came: no hang */
        return NULL;
    for (size_t i = 0; i < pc->n; i++) {
        size_t len = strlen(pc->piece[i]);
        if (write(fd, pc->piece[i], len) != (ssize_t)len)
            break;
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    close(fd);
    return NULL;
}

/* Windows that end just after an object: what follows on its line decides (a scan that
 * took the window's end for the line's end would accept `{...} x`). The reader waits for
 * 64 bytes before it looks at a value: the objects are longer. */
#define PAD ",\"pad\":\"0123456789012345678901234567890123456789\""
static void test_window_ends_after_object(void)
{
    static const char *const piece[] = {
        "{\"eventTime\":\"" T0 "\",\"eventName\":\"a\"" PAD "}",
        " x\n{\"eventTime\":\"" T0 "\",\"eventName\":\"b\"" PAD "}",
        "{\"eventTime\":\"" T0 "\",\"eventName\":\"c\"" PAD "}\n",
        "{\"eventTime\":\"" T0 "\",\"eventName\":\"d\"" PAD "}  ",
        "\t\r\n{\"eventTime\":\"" T0 "\",\"eventName\":\"e\"" PAD "}",
        "  ",
    };
    char dir[] = "/tmp/test_reader_fast.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char fifo[64];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    CHECK_INT(mkfifo(fifo, 0600), 0);
    for (int mode = 0; mode <= 2; mode++) {
        struct trace tr = {.mode = mode};
        struct pieces pc = {fifo, piece, TH_ARRAY_LEN(piece)};
        pthread_t th;
        CHECK_INT(pthread_create(&th, NULL, write_pieces, &pc), 0);
        struct th_reader_limits lim = {MAX_EVENT, 0, 0};
        struct th_reader *r = NULL;
        CHECK_INT(th__reader_new(&lim, on_event, &tr, &r), 0);
        if (mode) {
            struct th_reader_fast f = {wanted, skipped, &tr, true};
            th__reader_set_fast(r, &f);
        }
        CHECK_INT(th__reader_read_path(r, fifo, NULL), 0);
        pthread_join(th, NULL);
        const struct th_reader_stats *st = th__reader_stats(r);
        /* a (junk after it) and b+c (two objects on a line) are rejected; d and e read */
        CHECK_INT(st->events, 2);
        CHECK_INT(st->rejected[TH_REJECT_MALFORMED], 2);
        CHECK_CONTAINS(tr.t.p,
                       ":4 1706702400000 {\"eventTime\":\"" T0 "\",\"eventName\":\"e\"" PAD "}");
        th__reader_free(r);
        free(tr.t.p);
    }
    unlink(fifo);
    rmdir(dir);
}

int main(void)
{
    test_window_ends_after_object();
    for (unsigned seed = 1; seed <= 4; seed++)
        for (int ending = 0; ending < 3; ending++)
            test_stream(seed, 600, ending);
    test_stream(99, 6000, 0); /* several megabytes: refills at every offset */
    return CHECK_DONE();
}
