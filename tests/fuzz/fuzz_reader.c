/*
 * fuzz_reader.c - libFuzzer target for event reading (reader.c, event.c, attr.c): any
 * bytes, in every input format the reader detects (Records objects, NDJSON, arrays,
 * EventBridge and CloudWatch Logs payloads, concatenated values), plain or gzipped.
 *
 * Each input is read four ways, and the ways must agree:
 *   1. as a buffer (th__reader_read_buffer), default limits;
 *   2. gzipped here (when the input is not gzip already), as a buffer: the same events,
 *      the same rejects by reason and the same bytes as 1, so the inflate window, its
 *      compaction and the member handling can never change what is read;
 *   3. as a file (a memfd, through th__reader_read_path): again the same as 1;
 *   4. as a buffer with tight limits (small events, shallow nesting, small documents), and
 *      the gzipped copy cut in half (a truncated archive): no agreement asked, only no
 *      crash, no leak and counters that add up.
 * Every accepted event is also turned into a th_event whose derived attributes are all
 * computed, whose leaves are all walked and whose text is taken, so hostile trees
 * (userIdentity as a string, eventID as a number, arrays where objects belong) go through
 * the attribute code too, and its text is made into what a signal's samples hold
 * (th__sb_add_json_text), which must be strict JSON (fuzz_strict_json) and, for a text that
 * was strict JSON already, the same bytes. A disagreement or a broken invariant aborts: it
 * is a finding.
 *
 * Ignores: GeoIP (fuzz_query covers lookups); the order of files in a directory walk.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "attr.h"
#include "event.h"
#include "fuzz_common.h"
#include "reader.h"
#include "strbuf.h"

/* What one read saw, to compare reads of the same bytes. */
struct seen {
    uint64_t events;
    uint64_t hash; /* FNV-1a over each event's time, line and text */
    struct th_event ev;
    struct th_strbuf sb;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static bool count_leaf(void *ctx, const struct th_value *v)
{
    size_t *n = ctx;
    if (v->type != TH_V_OBJECT && v->len && v->s[0] == '\x01')
        (*n)++; /* touch the text: ASan checks that it is readable */
    (*n)++;
    return false;
}

static int on_event(void *ctx, const struct th_read_event *re)
{
    struct seen *s = ctx;
    if (!re->obj || !json_object_is_type(re->obj, json_type_object))
        abort(); /* the reader hands out objects only */
    s->events++;
    s->hash = fnv(s->hash, &re->time_ms, sizeof re->time_ms);
    s->hash = fnv(s->hash, &re->line, sizeof re->line);
    th__event_reset(&s->ev, re->obj, re->time_ms, re->file, re->line, re->raw, re->raw_len);
    struct th_str t = th__event_text(&s->ev);
    if (!t.p)
        abort();
    s->hash = fnv(s->hash, t.p, t.len);
    /* What a signal's samples would hold: strict JSON, and the very bytes when the event's
     * text was strict JSON already. */
    th__sb_reset(&s->sb);
    th__sb_add_json_text(&s->sb, t.p, t.len);
    if (s->sb.oom || !fuzz_strict_json(s->sb.p, s->sb.len) ||
        (fuzz_strict_json(t.p, t.len) && (s->sb.len != t.len || memcmp(s->sb.p, t.p, t.len)))) {
        fprintf(stderr, "fuzz_reader: a sample is not strict JSON, or was changed: %.*s\n",
                (int)(s->sb.len < 300 ? s->sb.len : 300), s->sb.p);
        abort();
    }
    for (int d = 0; d < TH_DERIVED__COUNT; d++) {
        struct th_str v = th__event_derived(&s->ev, (enum th_derived)d);
        if (v.p && v.len)
            s->hash = fnv(s->hash, v.p, v.len);
    }
    size_t leaves = 0;
    th__event_any_leaf(&s->ev, count_leaf, &leaves);
    struct th_str name = th__event_str(&s->ev, "eventName");
    if (name.p)
        s->hash = fnv(s->hash, name.p, name.len);
    return 0;
}

/* Reads data one way; fills *seen and *st (copied, the reader is freed). */
static void read_once(const struct th_reader_limits *lim, const void *data, size_t len,
                      int memfd, struct seen *seen, struct th_reader_stats *st)
{
    struct th_strbuf sb = seen->sb; /* kept across reads: its memory is reused */
    memset(seen, 0, sizeof *seen);
    seen->sb = sb;
    seen->hash = 0xcbf29ce484222325ULL;
    struct th_reader *r = NULL;
    if (th__reader_new(lim, on_event, seen, &r) < 0)
        abort();
    if (memfd >= 0) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
        struct th_err err;
        memset(&err, 0, sizeof err);
        th__reader_read_path(r, path, &err);
    } else {
        th__reader_read_buffer(r, "fuzz.json", data, len);
    }
    *st = *th__reader_stats(r);
    th__reader_free(r);
    uint64_t rej = 0;
    for (int i = 0; i < TH_REJECT__COUNT; i++)
        rej += st->rejected[i];
    if (st->events != seen->events || st->nsamples > TH_REJECT_SAMPLES ||
        (rej == 0) != (st->nsamples == 0))
        abort();
}

/* Aborts unless two reads of the same bytes saw the same thing. */
static void same(const struct seen *a, const struct th_reader_stats *sa, const struct seen *b,
                 const struct th_reader_stats *sb, const char *how)
{
    bool ok = a->events == b->events && a->hash == b->hash && sa->bytes == sb->bytes &&
              sa->skipped_digest == sb->skipped_digest &&
              sa->skipped_control == sb->skipped_control;
    for (int i = 0; i < TH_REJECT__COUNT; i++)
        ok = ok && sa->rejected[i] == sb->rejected[i];
    if (!ok) {
        fprintf(stderr, "fuzz_reader: %s disagrees with the buffer read: events %llu vs %llu, "
                        "bytes %llu vs %llu\n",
                how, (unsigned long long)a->events, (unsigned long long)b->events,
                (unsigned long long)sa->bytes, (unsigned long long)sb->bytes);
        for (int i = 0; i < TH_REJECT__COUNT; i++)
            fprintf(stderr, "  %s: %llu vs %llu\n", th__reject_name((enum th_reject)i),
                    (unsigned long long)sa->rejected[i], (unsigned long long)sb->rejected[i]);
        abort();
    }
}

/* Gzips data into a new buffer (*out owned), level 1. Returns its length, 0 on failure. */
static size_t gzip(const uint8_t *data, size_t size, unsigned char **out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    uLong cap = deflateBound(&zs, (uLong)size);
    unsigned char *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&zs);
        return 0;
    }
    zs.next_in = (unsigned char *)(uintptr_t)data;
    zs.avail_in = (uInt)size;
    zs.next_out = buf;
    zs.avail_out = (uInt)cap;
    int rc = deflate(&zs, Z_FINISH);
    size_t n = cap - zs.avail_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(buf);
        return 0;
    }
    *out = buf;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (4u << 20))
        return 0;
    static struct seen a, b; /* large (an event arena each): not on the stack */
    struct th_reader_stats sa, sb;
    struct th_reader_limits lim = {0, 0, 0};
    read_once(&lim, data, size, -1, &a, &sa);

    bool is_gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    unsigned char *gz = NULL;
    size_t gzlen = is_gzip ? 0 : gzip(data, size, &gz);
    if (gzlen) {
        read_once(&lim, gz, gzlen, -1, &b, &sb);
        same(&a, &sa, &b, &sb, "the gzipped copy");
    }

    int fd = memfd_create("fuzz", 0);
    if (fd >= 0) {
        if (write(fd, data, size) == (ssize_t)size && lseek(fd, 0, SEEK_SET) == 0) {
            read_once(&lim, NULL, 0, fd, &b, &sb);
            same(&a, &sa, &b, &sb, "the file read");
        }
        close(fd);
    }

    struct th_reader_limits tight = {300, 4000, 5};
    read_once(&tight, data, size, -1, &b, &sb);
    if (gzlen) {
        read_once(&tight, gz, gzlen / 2, -1, &b, &sb);
        read_once(&lim, gz, gzlen - gzlen / 8, -1, &b, &sb);
    }
    free(gz);
    return 0;
}
