/*
 * reader.c - bytes to CloudTrail events: sources (stdin, files, directory walks, buffers),
 * gzip by magic bytes, format detection per top-level JSON value, and the checks that turn
 * a JSON value into an accepted or a rejected event.
 *
 * Design. Every source becomes a stream of decompressed bytes seen through a window
 * (struct src): either the caller's buffer read in place, or the reader's own buffer
 * refilled from a file descriptor, directly or through zlib (inflate with windowBits 15+32,
 * members after the first one restarted by hand, zero padding after the last one ignored).
 * Positions are absolute stream offsets, so the window slides and compacts without
 * invalidating the parser's positions. The parser reads one top-level JSON value after
 * another with one reused json_tokener, feeding it at most one line per call so that the
 * line of an error is always known. A value whose first bytes say it is a document (`[`,
 * or an object whose first key is "Records", "messageType" or "logEvents") may be as large
 * as max_document_size and is fed through the window without being kept in it; any other
 * value is an event line, whose first line must fit max_event_size (checked before any
 * parsing) and which is kept whole in the window so its original bytes can be handed out.
 * After a parse error in an event the parser resynchronises right after the event's first
 * line, so a truncated line can never take good lines after it down with it (a broken
 * pretty-printed event then costs one reject per line, but no good event); in a document
 * it resynchronises at the start of the line where the error was detected when that is a
 * later line than the value's first, else at the next line.
 * Each parsed value is then unwrapped (Records, EventBridge, CloudWatch Logs, digests,
 * arrays) into events, which must be objects with an eventTime th__time_parse accepts.
 *
 * State: the limits, the callback, one tokener, the statistics, the window buffer and the
 * compressed-input buffer (both allocated on first use and reused), one z_stream, and the
 * current read_path call's error sink. Directory walks collect every file path of the tree
 * before sorting (one arena of paths), then read the files one at a time.
 *
 * Ignores: a UTF-8 byte order mark at the start of a stream (skipped); zero bytes after the
 * last gzip member; the size of one element inside a Records or array document (only the
 * document's size is limited: the element's bytes are not known after parsing); UTF-8
 * validity (json-c accepts invalid sequences in strings; they reach the callback as is).
 */
#include "reader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZLIB_CONST
#include <zlib.h>
#ifdef TH_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

#include "jscan.h"
#include "tape.h"
#include "timeutil.h"

#define DEFAULT_MAX_EVENT ((size_t)1 << 20)
#define DEFAULT_MAX_DOCUMENT ((size_t)512 << 20)
#define DEFAULT_MAX_DEPTH 64
#define MAX_EVENT_LIMIT ((size_t)1 << 30) /* keeps every chunk below json-c's INT_MAX */
/* The fuzz build (tests/fuzz, TH_FUZZ) makes both tiny, so that small inputs cross every
 * refill, compaction and inflate boundary that large archives do. */
#ifndef TH_READER_CHUNK
#define TH_READER_CHUNK (128 * 1024)
#endif
#ifndef TH_READER_ZCHUNK
#define TH_READER_ZCHUNK (128 * 1024)
#endif
#define CHUNK ((size_t)TH_READER_CHUNK)   /* the least free room the window refills into */
#define ZCHUNK ((size_t)TH_READER_ZCHUNK) /* compressed input read per call */
#define PEEK 64                           /* bytes looked at to classify a value */
#define MAX_ENVELOPES 16                  /* arrays and messages nested in each other */
#define FAST_DOC_MAX ((size_t)64 << 20)   /* largest Records document the fast path takes */
#define WHOLE_GZ_IN_MAX ((size_t)8 << 20)   /* gzip files up to this are inflated in one go */
#define WHOLE_GZ_OUT_MAX ((size_t)32 << 20) /* ...when they inflate to at most this */

struct th_reader {
    struct th_reader_limits lim;
    th_event_fn fn;
    void *ctx;
    json_tokener *tok;
    struct th_reader_stats st;
    char *buf; /* the window's storage when the reader owns it */
    size_t cap;
    unsigned char *zin; /* compressed input, ZCHUNK bytes */
    z_stream zs;
    bool zs_ready;
    int stop;           /* the callback's non-zero value: unwind and return it */
    struct th_err *err; /* the current read_path call's, may be NULL */
    bool io_failed;     /* the current read_path call met an unreadable file */
    struct th_reader_fast fast; /* the fast path, when fast.wanted is set */
    bool checked;               /* the next emitted event is the one wanted() accepted */
    struct th_jscan_elem *elems; /* a Records document's elements (fast path) */
    size_t elems_cap;
    struct th_jmember *mems;     /* their top-level members */
    size_t mems_cap;
    struct th_jmember mem[64];   /* a line's top-level members */
    struct th_tape tape;         /* the fast path's tape, reused */
    unsigned char *gzall;        /* a whole gzip file, and what it inflated to */
    size_t gzall_cap;
    char *inflated;
    size_t inflated_cap;
#ifdef TH_HAVE_LIBDEFLATE
    struct libdeflate_decompressor *ld;
#endif
    unsigned wanted_avg;         /* share of events wanted lately, out of 1024 */
};

enum gz_state { GZ_MEMBER, GZ_BETWEEN, GZ_DONE };

/* One source being read: its raw input and the window of decompressed bytes. */
struct src {
    const char *name;
    int fd;                   /* -1: a memory buffer */
    const unsigned char *mem; /* gzip memory input */
    size_t mem_len, mem_pos;  /* mem_pos: end of what was handed to zlib */
    bool gz;
    bool raw_eof; /* no more raw input */
    enum gz_state gzs;
    const char *w; /* the window: stream bytes [woff, wend) start at w */
    uint64_t woff, wend;
    bool eof; /* no more decompressed bytes */
    int ioerr;
    bool damaged, damage_reported;
    char damage[96];
    bool digest_counted;
};

/* A parse position and its 1-based line. */
struct cur {
    uint64_t pos, line;
};

const char *th__reject_name(enum th_reject r)
{
    static const char *const names[] = {
#define TH_REJECT_NAME(e, s) s,
        TH_REJECT_MAP(TH_REJECT_NAME)
#undef TH_REJECT_NAME
    };
    return (unsigned)r < TH_ARRAY_LEN(names) ? names[r] : "unknown";
}

/* ---------------------------------------------------------------------------------------
 * Counting
 * ------------------------------------------------------------------------------------- */

static void reject(struct th_reader *r, const struct src *s, uint64_t line, enum th_reject why,
                   const char *fmt, ...) TH_PRINTF(5, 6);

static void reject(struct th_reader *r, const struct src *s, uint64_t line, enum th_reject why,
                   const char *fmt, ...)
{
    r->st.rejected[why]++;
    if (r->st.nsamples >= TH_REJECT_SAMPLES)
        return;
    char detail[240];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    /* A long path keeps its tail: the file name says more than the top directories. */
    const char *name = s->name, *dots = "";
    size_t nl = strlen(name);
    if (nl > 150) {
        name += nl - 147;
        dots = "...";
    }
    char *out = r->st.samples[r->st.nsamples++];
    if (snprintf(out, sizeof r->st.samples[0], "%s%s:%" PRIu64 ": %s: %s", dots, name, line,
                 th__reject_name(why), detail) < 0)
        out[0] = '\0';
    /* A sample is one printable line whatever the input held. */
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
}

static void unreadable(struct th_reader *r, const char *path, int e)
{
    r->st.files_unreadable++;
    if (!r->io_failed)
        th__err(r->err, TH_EIO, path, "%s", strerror(e));
    r->io_failed = true;
}

static void damage(struct src *s, const char *msg)
{
    if (s->damaged)
        return;
    s->damaged = true;
    snprintf(s->damage, sizeof s->damage, "%s", msg);
}

/* ---------------------------------------------------------------------------------------
 * Bytes: raw input, gzip, the window
 * ------------------------------------------------------------------------------------- */

static bool ensure_bufs(struct th_reader *r)
{
    if (!r->zin && !(r->zin = malloc(ZCHUNK)))
        return false;
    if (r->cap < 2 * CHUNK) {
        char *b = realloc(r->buf, 2 * CHUNK);
        if (!b)
            return false;
        r->buf = b;
        r->cap = 2 * CHUNK;
    }
    return true;
}

static bool gz_start(struct th_reader *r)
{
    if (r->zs_ready)
        return inflateReset(&r->zs) == Z_OK;
    memset(&r->zs, 0, sizeof r->zs);
    if (inflateInit2(&r->zs, 15 + 32) != Z_OK)
        return false;
    r->zs_ready = true;
    return true;
}

/* Hands zlib more raw input, keeping what it has not consumed yet. */
static void raw_more(struct th_reader *r, struct src *s)
{
    z_stream *z = &r->zs;
    if (s->raw_eof)
        return;
    if (s->fd < 0) {
        size_t start = s->mem_pos - z->avail_in;
        size_t n = s->mem_len - start;
        if (n > (size_t)1 << 30)
            n = (size_t)1 << 30;
        z->next_in = s->mem + start;
        z->avail_in = (uInt)n;
        s->mem_pos = start + n;
        s->raw_eof = s->mem_pos == s->mem_len;
        return;
    }
    size_t have = z->avail_in;
    if (have && z->next_in != r->zin)
        memmove(r->zin, z->next_in, have);
    for (;;) {
        ssize_t n = read(s->fd, r->zin + have, ZCHUNK - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            s->ioerr = errno;
            s->raw_eof = true;
        } else if (n == 0) {
            s->raw_eof = true;
        } else {
            have += (size_t)n;
        }
        break;
    }
    z->next_in = r->zin;
    z->avail_in = (uInt)have;
}

/* Inflates into dst; returns the bytes produced, 0 at the end (clean or damaged). */
static size_t gz_produce(struct th_reader *r, struct src *s, char *dst, size_t room)
{
    z_stream *z = &r->zs;
    while (s->gzs != GZ_DONE) {
        if (z->avail_in == 0)
            raw_more(r, s);
        if (s->gzs == GZ_BETWEEN) {
            /* After a member: another member, zero padding, or garbage. */
            while (z->avail_in && *z->next_in == 0) {
                z->next_in++;
                z->avail_in--;
            }
            if (z->avail_in == 0 && s->raw_eof) {
                s->gzs = GZ_DONE;
                break;
            }
            if (z->avail_in < 2 && !s->raw_eof) {
                raw_more(r, s);
                continue;
            }
            if (z->avail_in >= 2 && z->next_in[0] == 0x1f && z->next_in[1] == 0x8b &&
                inflateReset(z) == Z_OK) {
                s->gzs = GZ_MEMBER;
            } else {
                damage(s, "trailing garbage after gzip data");
                s->gzs = GZ_DONE;
                break;
            }
        }
        z->next_out = (Bytef *)dst;
        z->avail_out = (uInt)room;
        int zr = inflate(z, Z_NO_FLUSH);
        size_t got = room - z->avail_out;
        if (zr == Z_STREAM_END) {
            s->gzs = GZ_BETWEEN;
        } else if (zr == Z_OK || zr == Z_BUF_ERROR) {
            if (got == 0 && z->avail_in == 0 && s->raw_eof) {
                /* A read error is reported as such, not as damage. */
                if (!s->ioerr)
                    damage(s, "unexpected end of gzip data");
                s->gzs = GZ_DONE;
            } else if (got == 0 && z->avail_in != 0 && zr == Z_BUF_ERROR) {
                damage(s, "gzip data makes no progress");
                s->gzs = GZ_DONE;
            }
        } else {
            damage(s, z->msg ? z->msg : "corrupt gzip data");
            s->gzs = GZ_DONE;
        }
        if (got)
            return got;
    }
    return 0;
}

static size_t plain_produce(struct src *s, char *dst, size_t room)
{
    while (!s->raw_eof) {
        ssize_t n = read(s->fd, dst, room);
        if (n > 0)
            return (size_t)n;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            s->ioerr = errno;
        s->raw_eof = true;
    }
    return 0;
}

/*
 * Makes more bytes available after s->wend, keeping [keep, wend) in the window (keep is at
 * or after woff). Returns the number of new bytes, 0 at the end of input. A caller's
 * buffer is complete from the start, so this only ever refills the reader's own buffer.
 */
static size_t fill(struct th_reader *r, struct src *s, uint64_t keep)
{
    if (s->eof)
        return 0;
    if (keep < s->woff)
        keep = s->woff;
    size_t used = (size_t)(s->wend - keep);
    if (keep > s->woff) {
        memmove(r->buf, r->buf + (keep - s->woff), used);
        s->woff = keep;
    }
    if (r->cap - used < CHUNK) {
        void *p = r->buf;
        size_t ncap = r->cap;
        if (th__grow(&p, &ncap, used + CHUNK, 1) != 0) {
            s->ioerr = ENOMEM;
            s->eof = true;
            return 0;
        }
        r->buf = p;
        r->cap = ncap;
    }
    s->w = r->buf;
    size_t room = r->cap - used;
    if (room > (size_t)1 << 30)
        room = (size_t)1 << 30;
    size_t got =
        s->gz ? gz_produce(r, s, r->buf + used, room) : plain_produce(s, r->buf + used, room);
    if (!got) {
        s->eof = true;
        return 0;
    }
    s->wend += got;
    r->st.bytes += got;
    return got;
}

static inline const char *at(const struct src *s, uint64_t off)
{
    return s->w + (size_t)(off - s->woff);
}

/* Fills until n bytes from keep are in the window or the input ends; returns how many. */
static size_t have(struct th_reader *r, struct src *s, uint64_t keep, size_t n)
{
    while (s->wend - keep < n && fill(r, s, keep))
        ;
    return (size_t)(s->wend - keep);
}

/* ---------------------------------------------------------------------------------------
 * Events and envelopes
 * ------------------------------------------------------------------------------------- */

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *type_name(json_object *v)
{
    return json_type_to_name(json_object_get_type(v));
}

static void emit(struct th_reader *r, struct src *s, json_object *ev, uint64_t line,
                 const char *raw, size_t raw_len, const char *label, size_t idx)
{
    char pre[48] = "";
    json_object *t = NULL;
    int64_t ms = 0;
    const char *why = NULL;
    bool show_time = false;
    enum th_reject code = TH_REJECT_BAD_TIME;

    if (!json_object_is_type(ev, json_type_object)) {
        code = TH_REJECT_NOT_OBJECT;
        why = "not an object";
    } else if (!json_object_object_get_ex(ev, "eventTime", &t)) {
        why = "missing eventTime";
    } else if (!json_object_is_type(t, json_type_string)) {
        why = "eventTime is not a string";
    } else if (!th__time_parse(json_object_get_string(t), (size_t)json_object_get_string_len(t),
                               &ms)) {
        why = "bad eventTime";
        show_time = true;
    }
    if (why) {
        if (label)
            snprintf(pre, sizeof pre, "%s[%zu]: ", label, idx);
        if (code == TH_REJECT_NOT_OBJECT)
            reject(r, s, line, code, "%sa JSON %s is not an event", pre, type_name(ev));
        else if (show_time)
            reject(r, s, line, code, "%s%s \"%.40s\"", pre, why, json_object_get_string(t));
        else
            reject(r, s, line, code, "%s%s", pre, why);
        return;
    }
    r->st.events++;
    if (!r->fn)
        return;
    struct th_read_event e = {
        .obj = ev,
        .time_ms = ms,
        .raw = raw,
        .raw_len = raw ? raw_len : 0,
        .file = s->name,
        .line = line,
        .checked = r->checked,
    };
    r->checked = false;
    int rc = r->fn(r->ctx, &e);
    if (rc)
        r->stop = rc;
}

/* Bytes p[0..n) look like the start of a document (may exceed max_event_size). */
static bool is_document(const char *p, size_t n)
{
    static const char *const keys[] = {"Records", "messageType", "logEvents"};
    if (n == 0)
        return false;
    if (p[0] == '[')
        return true;
    if (p[0] != '{')
        return false;
    size_t i = 1;
    while (i < n && is_ws(p[i]))
        i++;
    if (i >= n || p[i] != '"')
        return false;
    i++;
    for (size_t k = 0; k < TH_ARRAY_LEN(keys); k++) {
        size_t kl = strlen(keys[k]);
        if (n - i > kl && memcmp(p + i, keys[k], kl) == 0 && p[i + kl] == '"')
            return true;
    }
    return false;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static void unwrap(struct th_reader *r, struct src *s, json_object *v, uint64_t line,
                   const char *raw, size_t raw_len, int depth);

/* Parses one CloudWatch Logs message (a JSON text in a string) and unwraps it. */
static void read_message(struct th_reader *r, struct src *s, const char *p, size_t n, uint64_t line,
                         int depth, size_t idx)
{
    size_t i = 0;
    while (i < n && is_ws(p[i]))
        i++;
    size_t limit = is_document(p + i, n - i < PEEK ? n - i : PEEK) ? r->lim.max_document_size
                                                                   : r->lim.max_event_size;
    if (n > limit || n >= INT_MAX) {
        reject(r, s, line, TH_REJECT_TOO_LARGE, "logEvents[%zu]: message longer than %zu bytes",
               idx, limit);
        return;
    }
    json_tokener_reset(r->tok);
    json_object *obj = json_tokener_parse_ex(r->tok, p, (int)n);
    enum json_tokener_error jerr = json_tokener_get_error(r->tok);
    size_t end = json_tokener_get_parse_end(r->tok);
    if (jerr == json_tokener_continue) {
        /* The end of the text: a NUL tells json-c so (a number needs it). */
        obj = json_tokener_parse_ex(r->tok, "", 1);
        jerr = json_tokener_get_error(r->tok);
        end = n;
    }
    if (jerr != json_tokener_success) {
        reject(r, s, line,
               jerr == json_tokener_error_depth ? TH_REJECT_TOO_DEEP : TH_REJECT_MALFORMED,
               "logEvents[%zu]: %s", idx, json_tokener_error_desc(jerr));
        return;
    }
    while (end < n && is_ws(p[end]))
        end++;
    if (end < n)
        reject(r, s, line, TH_REJECT_MALFORMED,
               "logEvents[%zu]: trailing characters after the JSON value", idx);
    else
        unwrap(r, s, obj, line, NULL, 0, depth + 1);
    json_object_put(obj);
}

static void read_cloudwatch(struct th_reader *r, struct src *s, json_object *v, json_object *type,
                            uint64_t line, int depth)
{
    const char *mt = json_object_get_string(type);
    json_object *events;
    if (strcmp(mt, "CONTROL_MESSAGE") == 0) {
        r->st.skipped_control++;
        return;
    }
    if (strcmp(mt, "DATA_MESSAGE") != 0) {
        reject(r, s, line, TH_REJECT_BAD_PAYLOAD, "unknown CloudWatch Logs messageType \"%.40s\"",
               mt);
        return;
    }
    if (!json_object_object_get_ex(v, "logEvents", &events) ||
        !json_object_is_type(events, json_type_array)) {
        reject(r, s, line, TH_REJECT_BAD_PAYLOAD, "DATA_MESSAGE without a logEvents array");
        return;
    }
    size_t n = json_object_array_length(events);
    for (size_t i = 0; i < n && !r->stop; i++) {
        json_object *e = json_object_array_get_idx(events, i), *m;
        if (!json_object_object_get_ex(e, "message", &m) ||
            !json_object_is_type(m, json_type_string)) {
            reject(r, s, line, TH_REJECT_BAD_PAYLOAD, "logEvents[%zu] has no message string", i);
            continue;
        }
        read_message(r, s, json_object_get_string(m), (size_t)json_object_get_string_len(m), line,
                     depth, i);
    }
}

/* Turns one JSON value into events: envelopes are opened, anything else is an event. */
static void unwrap(struct th_reader *r, struct src *s, json_object *v, uint64_t line,
                   const char *raw, size_t raw_len, int depth)
{
    json_object *x, *d;
    if (depth > MAX_ENVELOPES) {
        reject(r, s, line, TH_REJECT_TOO_DEEP, "envelopes nested more than %d deep", MAX_ENVELOPES);
        return;
    }
    if (json_object_is_type(v, json_type_array)) {
        size_t n = json_object_array_length(v);
        for (size_t i = 0; i < n && !r->stop; i++)
            unwrap(r, s, json_object_array_get_idx(v, i), line, NULL, 0, depth + 1);
        return;
    }
    if (!json_object_is_type(v, json_type_object)) {
        emit(r, s, v, line, NULL, 0, NULL, 0);
        return;
    }
    if (json_object_object_get_ex(v, "Records", &x)) {
        if (!json_object_is_type(x, json_type_array)) {
            reject(r, s, line, TH_REJECT_BAD_PAYLOAD, "\"Records\" is a JSON %s, not an array",
                   type_name(x));
            return;
        }
        size_t n = json_object_array_length(x);
        for (size_t i = 0; i < n && !r->stop; i++)
            emit(r, s, json_object_array_get_idx(x, i), line, NULL, 0, "Records", i);
        return;
    }
    if (json_object_object_get_ex(v, "detail-type", &x) &&
        json_object_object_get_ex(v, "detail", &d)) {
        const char *dt = json_object_get_string(x);
        if (!json_object_is_type(x, json_type_string) ||
            !ends_with(dt, (size_t)json_object_get_string_len(x), "via CloudTrail"))
            reject(r, s, line, TH_REJECT_BAD_PAYLOAD,
                   "EventBridge detail-type \"%.60s\" is not from CloudTrail", dt ? dt : "");
        else if (!json_object_is_type(d, json_type_object))
            reject(r, s, line, TH_REJECT_BAD_PAYLOAD, "EventBridge detail is a JSON %s",
                   type_name(d));
        else
            emit(r, s, d, line, NULL, 0, NULL, 0);
        return;
    }
    if (json_object_object_get_ex(v, "messageType", &x) &&
        json_object_is_type(x, json_type_string)) {
        read_cloudwatch(r, s, v, x, line, depth);
        return;
    }
    if (json_object_object_get_ex(v, "digestSignatureAlgorithm", NULL) ||
        json_object_object_get_ex(v, "digestPublicKeyFingerprint", NULL)) {
        if (!s->digest_counted)
            r->st.skipped_digest++;
        s->digest_counted = true;
        return;
    }
    emit(r, s, v, line, raw, raw_len, NULL, 0);
}

/* ---------------------------------------------------------------------------------------
 * The value parser
 * ------------------------------------------------------------------------------------- */

/* Skips white space; false at the end of input. */
static bool skip_ws(struct th_reader *r, struct src *s, struct cur *c)
{
    for (;;) {
        if (c->pos == s->wend && !fill(r, s, c->pos))
            return false;
        const char *p = at(s, c->pos), *e = at(s, s->wend);
        while (p < e && is_ws(*p)) {
            if (*p == '\n')
                c->line++;
            p++;
        }
        c->pos = s->wend - (uint64_t)(e - p);
        if (p < e)
            return true;
    }
}

/* Moves c just past the first newline at or after from (on line `line`), or to the end. */
static void skip_line(struct th_reader *r, struct src *s, struct cur *c, uint64_t from,
                      uint64_t line)
{
    c->line = line;
    for (;;) {
        if (from == s->wend && !fill(r, s, from)) {
            c->pos = from;
            return;
        }
        const char *p = at(s, from);
        const char *q = memchr(p, '\n', (size_t)(s->wend - from));
        if (q) {
            c->pos = from + (uint64_t)(q - p) + 1;
            c->line = line + 1;
            return;
        }
        from = s->wend;
    }
}

/* The length of the line starting at vs, brought whole into the window, or SIZE_MAX when
 * it is longer than max. */
static size_t first_line_len(struct th_reader *r, struct src *s, uint64_t vs, size_t max)
{
    uint64_t scan = vs;
    for (;;) {
        const char *p = at(s, scan);
        const char *q = memchr(p, '\n', (size_t)(s->wend - scan));
        if (q) {
            size_t n = (size_t)(scan - vs) + (size_t)(q - p);
            return n > max ? SIZE_MAX : n;
        }
        scan = s->wend;
        if (scan - vs > max)
            return SIZE_MAX;
        if (!fill(r, s, vs))
            return (size_t)(s->wend - vs);
    }
}

/* The value's input ended early: count it once, as damage when the gzip data was. */
static void value_cut(struct th_reader *r, struct src *s, uint64_t line,
                      enum json_tokener_error jerr)
{
    if (s->damaged) {
        s->damage_reported = true;
        reject(r, s, line, TH_REJECT_BAD_GZIP, "%s", s->damage);
    } else if (!s->ioerr) {
        reject(r, s, line,
               jerr == json_tokener_error_depth ? TH_REJECT_TOO_DEEP : TH_REJECT_MALFORMED, "%s",
               json_tokener_error_desc(jerr));
    }
}

/* ---------------------------------------------------------------------------------------
 * The fast path (th_reader_fast): events the scanner validates skip json-c when unwanted
 * ------------------------------------------------------------------------------------- */

/* Hands over a wanted event as the tape r->tape of src[0..n) (raw: its whole line). */
static void fast_emit_tape(struct th_reader *r, const struct src *s, int64_t ms, uint64_t line,
                           const char *src, size_t n, bool raw)
{
    r->st.events++;
    if (!r->fn)
        return;
    struct th_read_event e = {
        .obj = NULL,
        .tape = &r->tape,
        .src = src,
        .src_len = n,
        .time_ms = ms,
        .raw = raw ? src : NULL,
        .raw_len = raw ? n : 0,
        .file = s->name,
        .line = line,
        .checked = true,
    };
    int rc = r->fn(r->ctx, &e);
    if (rc)
        r->stop = rc;
}

/* Counts an event accepted without parsing and hands its time over. */
static void fast_skip(struct th_reader *r, const struct src *s, int64_t ms, uint64_t line)
{
    r->st.events++;
    int rc = r->fast.skipped(r->fast.ctx, ms, s->name, line);
    if (rc)
        r->stop = rc;
}

/*
 * A value that is one line of len bytes at vs: true when it was handled here (an unwanted
 * event, counted and skipped; c is then past its line), false when the ordinary path must
 * parse it (wanted, or anything unusual).
 */
static bool fast_line(struct th_reader *r, struct src *s, struct cur *c, uint64_t vs,
                      uint64_t vline, size_t len)
{
    const char *p = at(s, vs);
    struct th_jscan js = {.mem = r->mem, .mem_cap = TH_ARRAY_LEN(r->mem)};
    int64_t ms;
    /* When most events are wanted, the tape is recorded in the pass that validates; when
     * few are, a second pass records it for those only. */
    struct th_tape *tape = r->fast.tapes && r->wanted_avg >= 256 ? &r->tape : NULL;
    if (*p != '{' || !th__jscan_object(p, len, r->lim.max_depth - 1, &js, tape))
        return false;
    for (size_t i = js.end; i < len; i++) /* as the ordinary path: only blanks may follow */
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    if ((js.flags & (TH_JSCAN_ENVELOPE | TH_JSCAN_TIME_ODD)) || !js.time ||
        !th__time_parse(js.time, js.time_len, &ms))
        return false;
    bool want = r->fast.wanted(r->fast.ctx, p, js.end, &js);
    r->wanted_avg += (want ? 32 : 0) - r->wanted_avg / 32;
    if (want && !tape && r->fast.tapes) {
        struct th_jscan again = {0};
        tape = &r->tape;
        if (!th__jscan_object(p, js.end, r->lim.max_depth - 1, &again, tape))
            tape->ok = false;
    }
    if (want && !(tape && tape->ok)) {
        r->checked = true;
        return false;
    }
    c->pos = vs + len;
    c->line = vline;
    if (c->pos < s->wend) { /* its newline */
        c->pos++;
        c->line++;
    }
    if (want)
        fast_emit_tape(r, s, ms, vline, p, js.end, true);
    else
        fast_skip(r, s, ms, vline);
    return true;
}

/*
 * A document at vs: when it is a Records document the scanner validates whole (read into
 * the window, at most FAST_DOC_MAX bytes) and only blanks and a newline or another
 * document follow it, its elements are handled here one by one (unwanted ones skipped, the
 * others parsed alone and emitted as the ordinary path would) and true is returned; else
 * false, with the window still holding everything from vs for the ordinary path.
 */
static bool fast_records(struct th_reader *r, struct src *s, struct cur *c, uint64_t vs,
                         uint64_t vline)
{
    size_t maxlen = r->lim.max_document_size < FAST_DOC_MAX ? r->lim.max_document_size
                                                            : FAST_DOC_MAX;
    size_t count = 0, end = 0, next_try = 0;
    unsigned lines = 0;
    for (;;) {
        size_t avail = (size_t)(s->wend - vs);
        if (avail > maxlen)
            return false;
        const char *p = at(s, vs), *q = p + avail;
        while (q > p && is_ws(q[-1]))
            q--;
        /* Scan when the input ended, or when the bytes so far may end the document (and
         * are twice what the last failed try saw, so the scans cost linear time). */
        if (s->eof || (q > p && q[-1] == '}' && avail >= next_try)) {
            if (th__jscan_records(p, avail, r->lim.max_depth - 1, &r->elems, &r->elems_cap,
                                  &r->mems, &r->mems_cap, &count, &end, &lines))
                break;
            if (s->eof)
                return false;
            next_try = 2 * avail;
        }
        fill(r, s, vs);
    }
    /* What follows, as the ordinary path demands: blanks, then a newline, the end, or the
     * next document. The window keeps the document meanwhile. */
    uint64_t pos = vs + end, line = vline + lines;
    bool refilled = false; /* fill() may move the window: the elements' times then dangle */
    for (;;) {
        if (pos == s->wend) {
            refilled = true;
            if (!fill(r, s, vs))
                break;
        }
        const char *p = at(s, pos), *e = at(s, s->wend);
        while (p < e && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++;
        pos = s->wend - (uint64_t)(e - p);
        if (p == e)
            continue;
        if (*p == '\n') {
            pos++;
            line++;
            break;
        }
        if (*p == '{')
            break;
        return false;
    }
    const char *doc = at(s, vs);
    size_t end2;
    unsigned lines2;
    if (refilled && !th__jscan_records(doc, end, r->lim.max_depth - 1, &r->elems, &r->elems_cap,
                                       &r->mems, &r->mems_cap, &count, &end2, &lines2))
        return false; /* cannot happen: the same bytes scanned again, where they are now */
    c->pos = pos;
    c->line = line;
    for (size_t i = 0; i < count && !r->stop; i++) {
        const struct th_jscan_elem *el = &r->elems[i];
        const char *ep = doc + el->start;
        size_t en = el->end - el->start;
        int64_t ms;
        bool plain = !(el->info.flags & TH_JSCAN_TIME_ODD) && el->info.time &&
                     th__time_parse(el->info.time, el->info.time_len, &ms);
        if (plain && !r->fast.wanted(r->fast.ctx, ep, en, &el->info)) {
            fast_skip(r, s, ms, vline);
            continue;
        }
        struct th_jscan again = {0};
        if (plain && r->fast.tapes &&
            th__jscan_object(ep, en, r->lim.max_depth - 1, &again, &r->tape) && r->tape.ok) {
            fast_emit_tape(r, s, ms, vline, ep, en, false);
            continue;
        }
        json_tokener_reset(r->tok);
        json_object *obj = json_tokener_parse_ex(r->tok, ep, (int)en);
        if (!obj) { /* out of memory: json-c accepts everything the scanner does */
            reject(r, s, vline, TH_REJECT_MALFORMED, "Records[%zu]: %s", i,
                   json_tokener_error_desc(json_tokener_get_error(r->tok)));
            continue;
        }
        r->checked = plain;
        emit(r, s, obj, vline, NULL, 0, "Records", i);
        r->checked = false;
        json_object_put(obj);
    }
    return true;
}

/* Reads the value starting at c->pos (not white space) and leaves c where the next begins. */
static void read_value(struct th_reader *r, struct src *s, struct cur *c)
{
    const uint64_t vs = c->pos, vline = c->line;
    size_t peek = have(r, s, vs, PEEK);
    const bool doc = is_document(at(s, vs), peek < PEEK ? peek : PEEK);
    const size_t limit = doc ? r->lim.max_document_size : r->lim.max_event_size;
    size_t line_len = 0;

    r->checked = false;
    if (!doc && (line_len = first_line_len(r, s, vs, limit)) == SIZE_MAX) {
        reject(r, s, vline, TH_REJECT_TOO_LARGE, "line longer than %zu bytes", limit);
        skip_line(r, s, c, vs, vline);
        return;
    }
    if (r->fast.wanted &&
        (doc ? fast_records(r, s, c, vs, vline) : fast_line(r, s, c, vs, vline, line_len)))
        return;

    json_tokener_reset(r->tok);
    uint64_t fpos = vs, fline = vline, lstart = vs, end;
    json_object *obj;
    enum json_tokener_error jerr;
    bool eol_eaten = false;
    for (;;) {
        if (fpos == s->wend) {
            /* An event is kept whole; a document keeps only its current line, if short. */
            uint64_t keep = vs;
            if (doc)
                keep = s->wend - lstart <= r->lim.max_event_size ? lstart : fpos;
            if (!fill(r, s, keep)) {
                obj = json_tokener_parse_ex(r->tok, "", 1);
                jerr = json_tokener_get_error(r->tok);
                if (jerr == json_tokener_success) {
                    end = fpos;
                    break;
                }
                value_cut(r, s, vline, jerr);
                if (!doc && fline > vline) {
                    /* An event cut short by the end of input may have swallowed good
                     * lines after its first: read them again. */
                    skip_line(r, s, c, vs, vline);
                    return;
                }
                c->pos = fpos;
                c->line = fline;
                return;
            }
        }
        const char *p = at(s, fpos);
        size_t n = (size_t)(s->wend - fpos);
        const char *q = memchr(p, '\n', n);
        if (q)
            n = (size_t)(q - p) + 1;
        /* Never feed more than one byte past the limit: a whole buffer is one chunk. */
        size_t room = limit - (size_t)(fpos - vs) + 1;
        if (room > INT_MAX)
            room = INT_MAX;
        if (n > room) {
            n = room;
            q = NULL;
        }
        obj = json_tokener_parse_ex(r->tok, p, (int)n);
        jerr = json_tokener_get_error(r->tok);
        if (jerr == json_tokener_continue) {
            fpos += n;
            if (q) {
                fline++;
                lstart = fpos;
            }
            if (fpos - vs > limit) {
                reject(r, s, vline, TH_REJECT_TOO_LARGE, "%s longer than %zu bytes",
                       doc ? "document" : "event", limit);
                if (!doc) {
                    skip_line(r, s, c, vs, vline); /* its later lines may be good events */
                } else if (q) {
                    c->pos = fpos;
                    c->line = fline;
                } else {
                    skip_line(r, s, c, fpos, fline);
                }
                return;
            }
            continue;
        }
        size_t pe = json_tokener_get_parse_end(r->tok);
        if (jerr == json_tokener_success) {
            end = fpos + pe;
            eol_eaten = q && pe == n; /* json-c ate the white space up to the newline */
            break;
        }
        reject(r, s, vline,
               jerr == json_tokener_error_depth ? TH_REJECT_TOO_DEEP : TH_REJECT_MALFORMED, "%s",
               json_tokener_error_desc(jerr));
        if (!doc && fline > vline) {
            /* A bad event that ran over several lines may have taken good lines for its
             * own (a line cut after `"key":` swallows the next line as the value): start
             * again right after its first line, so no good line is lost. */
            skip_line(r, s, c, vs, vline);
        } else if (fline > vline && lstart >= s->woff) {
            c->pos = lstart;
            c->line = fline;
        } else if (q) {
            c->pos = fpos + n;
            c->line = fline + 1;
        } else {
            skip_line(r, s, c, fpos + n, fline);
        }
        return;
    }

    /* Only white space may follow the value on its last line. */
    const bool single = !doc && fline == vline;
    c->pos = end;
    c->line = fline + (eol_eaten ? 1 : 0);
    if (!eol_eaten) {
        for (;;) {
            if (c->pos == s->wend && !fill(r, s, single ? vs : c->pos))
                break;
            const char *p = at(s, c->pos), *e = at(s, s->wend);
            while (p < e && (*p == ' ' || *p == '\t' || *p == '\r'))
                p++;
            c->pos = s->wend - (uint64_t)(e - p);
            if (p == e)
                continue;
            if (*p == '\n') {
                c->pos++;
                c->line++;
                break;
            }
            if (*p == '{' && !single)
                break; /* concatenated documents, as Firehose writes them: `{...}{...}` */
            reject(r, s, vline, TH_REJECT_MALFORMED, "trailing characters after the JSON value");
            json_object_put(obj);
            skip_line(r, s, c, c->pos, fline);
            return;
        }
    }
    const char *raw = NULL;
    size_t raw_len = 0;
    if (single) {
        raw = at(s, vs);
        raw_len = (size_t)(end - vs);
        while (raw_len && is_ws(raw[raw_len - 1]))
            raw_len--;
    }
    unwrap(r, s, obj, vline, raw, raw_len, 0);
    json_object_put(obj);
}

static void parse(struct th_reader *r, struct src *s)
{
    struct cur c = {s->woff, 1};
    if (have(r, s, c.pos, 3) >= 3 && memcmp(at(s, c.pos), "\xEF\xBB\xBF", 3) == 0)
        c.pos += 3;
    while (!r->stop && skip_ws(r, s, &c))
        read_value(r, s, &c);
    if (!r->stop && s->damaged && !s->damage_reported) {
        s->damage_reported = true;
        reject(r, s, c.line, TH_REJECT_BAD_GZIP, "%s", s->damage);
    }
}

/* ---------------------------------------------------------------------------------------
 * Sources
 * ------------------------------------------------------------------------------------- */

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static bool is_digest_name(const char *name)
{
    return strstr(base_name(name), "CloudTrail-Digest") != NULL;
}

#ifdef TH_HAVE_LIBDEFLATE
/* Inflates the members of gz[0..n) into r->inflated with libdeflate; false when anything
 * is unusual (damage, garbage after a member, more than WHOLE_GZ_OUT_MAX), so that zlib,
 * which reports those exactly as it always did, takes the file. */
static bool inflate_whole(struct th_reader *r, const unsigned char *gz, size_t n, size_t *out)
{
    if (!r->ld && !(r->ld = libdeflate_alloc_decompressor()))
        return false;
    uint32_t isize = (uint32_t)gz[n - 4] | (uint32_t)gz[n - 3] << 8 |
                     (uint32_t)gz[n - 2] << 16 | (uint32_t)gz[n - 1] << 24;
    size_t want = isize > 4 * n ? isize : 4 * n;
    size_t pos = 0, used = 0;
    while (pos < n) {
        if (r->inflated_cap - used < want / 2 + 1024) {
            size_t ncap = r->inflated_cap ? r->inflated_cap : 1 << 16;
            while (ncap - used < want + 1024)
                ncap *= 2;
            if (ncap > WHOLE_GZ_OUT_MAX + 1024)
                return false;
            char *np = realloc(r->inflated, ncap);
            if (!np)
                return false;
            r->inflated = np;
            r->inflated_cap = ncap;
        }
        size_t in_used = 0, out_used = 0;
        enum libdeflate_result res = libdeflate_gzip_decompress_ex(
            r->ld, gz + pos, n - pos, r->inflated + used, r->inflated_cap - used, &in_used,
            &out_used);
        if (res == LIBDEFLATE_INSUFFICIENT_SPACE) {
            want = 2 * (r->inflated_cap - used);
            continue;
        }
        if (res != LIBDEFLATE_SUCCESS)
            return false;
        pos += in_used;
        used += out_used;
        if (used > WHOLE_GZ_OUT_MAX)
            return false;
        while (pos < n && gz[pos] == 0) /* zero padding after the last member */
            pos++;
        if (pos < n && (n - pos < 2 || gz[pos] != 0x1f || gz[pos + 1] != 0x8b))
            return false; /* garbage: zlib reports it */
    }
    *out = used;
    return true;
}
#endif

/*
 * A regular gzip file of at most WHOLE_GZ_IN_MAX bytes is read whole and inflated in one
 * call (libdeflate, about twice zlib's speed), then parsed in place; when libdeflate
 * declines, zlib inflates the same bytes from memory, exactly as it would have from the
 * file. Returns true when the file was handled so, false (the descriptor back where it
 * was) to stream it as usual: not a regular file, too large, not gzip, a read error.
 */
static bool read_whole_gz(struct th_reader *r, int fd, const char *name)
{
#ifdef TH_HAVE_LIBDEFLATE
    struct stat st;
    off_t start = lseek(fd, 0, SEEK_CUR);
    if (start < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < start ||
        (size_t)(st.st_size - start) < 18 || (size_t)(st.st_size - start) > WHOLE_GZ_IN_MAX)
        return false;
    size_t n = (size_t)(st.st_size - start), got = 0;
    if (r->gzall_cap < n) {
        unsigned char *np = realloc(r->gzall, n);
        if (!np)
            return false;
        r->gzall = np;
        r->gzall_cap = n;
    }
    while (got < n) {
        ssize_t k = read(fd, r->gzall + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    if (got != n || r->gzall[0] != 0x1f || r->gzall[1] != 0x8b) {
        if (lseek(fd, start, SEEK_SET) != start)
            unreadable(r, name, errno);
        return lseek(fd, 0, SEEK_CUR) != start; /* could not go back: handled (as unreadable) */
    }
    struct src s;
    memset(&s, 0, sizeof s);
    s.name = name;
    s.fd = -1;
    size_t out = 0;
    if (inflate_whole(r, r->gzall, n, &out)) {
        s.w = r->inflated;
        s.wend = out;
        s.eof = true;
        r->st.bytes += out;
    } else if (gz_start(r)) {
        s.gz = true;
        s.mem = r->gzall;
        s.mem_len = n;
        s.w = r->buf;
        r->zs.next_in = NULL;
        r->zs.avail_in = 0;
    } else {
        unreadable(r, name, ENOMEM);
        return true;
    }
    parse(r, &s);
    return true;
#else
    TH_UNUSED(r);
    TH_UNUSED(fd);
    TH_UNUSED(name);
    return false;
#endif
}

/* Reads an open descriptor to its end; the caller closes it. */
static void read_fd(struct th_reader *r, int fd, const char *name)
{
    struct src s;
    memset(&s, 0, sizeof s);
    s.name = name;
    s.fd = fd;
    if (!ensure_bufs(r)) {
        unreadable(r, name, ENOMEM);
        return;
    }
    r->st.files++;
    if (read_whole_gz(r, fd, name))
        return;
    /* Gzip or not is decided by the first two bytes. */
    size_t got = 0;
    while (got < 2 && !s.raw_eof) {
        ssize_t n = read(fd, r->zin + got, ZCHUNK - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            s.ioerr = errno;
            s.raw_eof = true;
        } else if (n == 0) {
            s.raw_eof = true;
        } else {
            got += (size_t)n;
        }
    }
    s.w = r->buf;
    if (got >= 2 && r->zin[0] == 0x1f && r->zin[1] == 0x8b) {
        if (!gz_start(r)) {
            unreadable(r, name, ENOMEM);
            return;
        }
        s.gz = true;
        r->zs.next_in = r->zin;
        r->zs.avail_in = (uInt)got;
    } else {
        memcpy(r->buf, r->zin, got);
        s.wend = got;
        r->st.bytes += got;
    }
    parse(r, &s);
    if (s.ioerr)
        unreadable(r, name, s.ioerr);
}

static void read_file(struct th_reader *r, const char *path)
{
    if (is_digest_name(path)) {
        r->st.skipped_digest++;
        return;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        unreadable(r, path, errno);
        return;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        unreadable(r, path, EISDIR);
        return;
    }
    read_fd(r, fd, path);
    close(fd);
}

/* A file found by a walk; off is its path in the arena until the walk ends. */
struct fent {
    const char *path;
    size_t off;
    bool ct;     /* named like a CloudTrail S3 object */
    char ts[14]; /* then its YYYYMMDDTHHMM */
};

struct walk {
    char *names; /* file paths, NUL-terminated */
    size_t nlen, ncap;
    struct fent *f;
    size_t nf, fcap;
    char *dirs; /* directories still to scan, NUL-terminated, a stack */
    size_t dlen, dcap;
    size_t *dstack;
    size_t nd, dscap;
    char *pb; /* the directory being scanned, then each entry's path */
    size_t pcap;
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* <acct>_CloudTrail_<region>_<YYYYMMDDTHHMM>Z_<unique>.json[.gz]: copies the stamp. */
static bool ct_stamp(const char *base, char ts[14])
{
    const char *p = base, *q;
    if (!is_digit(*p))
        return false;
    while (is_digit(*p))
        p++;
    if (strncmp(p, "_CloudTrail_", 12) != 0)
        return false;
    p += 12;
    for (q = p; (*q >= 'a' && *q <= 'z') || is_digit(*q) || *q == '-'; q++)
        ;
    if (q == p || *q != '_')
        return false;
    p = q + 1;
    for (int i = 0; i < 13; i++)
        if (i == 8 ? p[i] != 'T' : !is_digit(p[i]))
            return false;
    if (p[13] != 'Z' || p[14] != '_')
        return false;
    memcpy(ts, p, 13);
    ts[13] = '\0';
    q = p + 15;
    size_t n = strlen(q);
    return (n > 5 && strcmp(q + n - 5, ".json") == 0) ||
           (n > 8 && strcmp(q + n - 8, ".json.gz") == 0);
}

static int push_dir(struct walk *w, const char *path, size_t len)
{
    void *p = w->dirs;
    if (th__grow(&p, &w->dcap, w->dlen + len + 1, 1))
        return TH_ENOMEM;
    w->dirs = p;
    p = w->dstack;
    if (th__grow(&p, &w->dscap, w->nd + 1, sizeof *w->dstack))
        return TH_ENOMEM;
    w->dstack = p;
    memcpy(w->dirs + w->dlen, path, len + 1);
    w->dstack[w->nd++] = w->dlen;
    w->dlen += len + 1;
    return 0;
}

static int add_file(struct walk *w, const char *path, size_t len, const char *base)
{
    void *p = w->names;
    if (th__grow(&p, &w->ncap, w->nlen + len + 1, 1))
        return TH_ENOMEM;
    w->names = p;
    p = w->f;
    if (th__grow(&p, &w->fcap, w->nf + 1, sizeof *w->f))
        return TH_ENOMEM;
    w->f = p;
    struct fent *e = &w->f[w->nf++];
    memset(e, 0, sizeof *e);
    e->off = w->nlen;
    e->ct = ct_stamp(base, e->ts);
    memcpy(w->names + w->nlen, path, len + 1);
    w->nlen += len + 1;
    return 0;
}

/* Lists the directory in w->pb (len bytes): files are collected, directories pushed. */
static int scan_dir(struct th_reader *r, struct walk *w, size_t len)
{
    DIR *d = opendir(w->pb);
    int rc = 0;
    if (!d) {
        unreadable(r, w->pb, errno);
        return 0;
    }
    const bool slash = len > 0 && w->pb[len - 1] == '/';
    while (!rc) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                unreadable(r, w->pb, errno);
            break;
        }
        const char *nm = de->d_name;
        if (nm[0] == '.') /* hidden files, "." and ".." */
            continue;
        size_t nl = strlen(nm), full = len + (slash ? 0 : 1) + nl;
        void *p = w->pb;
        if (th__grow(&p, &w->pcap, full + 1, 1)) {
            rc = TH_ENOMEM;
            break;
        }
        w->pb = p;
        if (!slash)
            w->pb[len] = '/';
        memcpy(w->pb + full - nl, nm, nl + 1);

        unsigned char t = de->d_type;
        struct stat st;
        if (t == DT_UNKNOWN) {
            if (lstat(w->pb, &st) != 0) {
                unreadable(r, w->pb, errno);
                t = DT_UNKNOWN;
            } else {
                t = S_ISDIR(st.st_mode)   ? DT_DIR
                    : S_ISREG(st.st_mode) ? DT_REG
                    : S_ISLNK(st.st_mode) ? DT_LNK
                                          : DT_UNKNOWN;
            }
        }
        if (t == DT_LNK) {
            /* Symlinked files are read; symlinked directories are not followed. */
            if (stat(w->pb, &st) != 0) {
                unreadable(r, w->pb, errno);
                t = DT_UNKNOWN;
            } else {
                t = S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
            }
        }
        if (t == DT_DIR)
            rc = push_dir(w, w->pb, full);
        else if (t == DT_REG)
            rc = add_file(w, w->pb, full, w->pb + full - nl);
        w->pb[len] = '\0';
    }
    closedir(d);
    return rc;
}

static int fent_cmp(const void *a, const void *b)
{
    const struct fent *x = a, *y = b;
    if (x->ct != y->ct)
        return x->ct ? 1 : -1;
    if (x->ct) {
        int c = memcmp(x->ts, y->ts, 13);
        if (c)
            return c;
    }
    return strcmp(x->path, y->path);
}

static int walk(struct th_reader *r, const char *root)
{
    struct walk w;
    memset(&w, 0, sizeof w);
    int rc = push_dir(&w, root, strlen(root));
    while (!rc && w.nd) {
        size_t off = w.dstack[--w.nd], len = w.dlen - off - 1;
        void *p = w.pb;
        if (th__grow(&p, &w.pcap, len + 1, 1)) {
            rc = TH_ENOMEM;
            break;
        }
        w.pb = p;
        memcpy(w.pb, w.dirs + off, len + 1);
        w.dlen = off;
        rc = scan_dir(r, &w, len);
    }
    if (!rc) {
        for (size_t i = 0; i < w.nf; i++)
            w.f[i].path = w.names + w.f[i].off;
        if (w.nf > 1)
            qsort(w.f, w.nf, sizeof *w.f, fent_cmp);
        for (size_t i = 0; i < w.nf && !r->stop; i++)
            read_file(r, w.f[i].path);
    } else {
        th__err(r->err, rc, root, "out of memory while walking the directory");
    }
    free(w.names);
    free(w.f);
    free(w.dirs);
    free(w.dstack);
    free(w.pb);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * API
 * ------------------------------------------------------------------------------------- */

int th__reader_new(const struct th_reader_limits *lim, th_event_fn fn, void *ctx,
                   struct th_reader **out)
{
    *out = NULL;
    struct th_reader *r = calloc(1, sizeof *r);
    if (!r)
        return TH_ENOMEM;
    r->lim.max_event_size = lim && lim->max_event_size ? lim->max_event_size : DEFAULT_MAX_EVENT;
    r->lim.max_document_size =
        lim && lim->max_document_size ? lim->max_document_size : DEFAULT_MAX_DOCUMENT;
    r->lim.max_depth = lim && lim->max_depth > 0 ? lim->max_depth : DEFAULT_MAX_DEPTH;
    if (r->lim.max_event_size > MAX_EVENT_LIMIT)
        r->lim.max_event_size = MAX_EVENT_LIMIT;
    if (r->lim.max_document_size < r->lim.max_event_size)
        r->lim.max_document_size = r->lim.max_event_size;
    if (r->lim.max_depth > INT_MAX - 1)
        r->lim.max_depth = INT_MAX - 1;
    r->fn = fn;
    r->ctx = ctx;
    /* json-c's depth counts the top level: depth d allows d - 1 nested containers. */
    r->tok = json_tokener_new_ex(r->lim.max_depth + 1);
    if (!r->tok) {
        free(r);
        return TH_ENOMEM;
    }
    *out = r;
    return 0;
}

void th__reader_free(struct th_reader *r)
{
    if (!r)
        return;
    if (r->tok)
        json_tokener_free(r->tok);
    if (r->zs_ready)
        inflateEnd(&r->zs);
    free(r->buf);
    free(r->zin);
    free(r->elems);
    free(r->mems);
    free(r->gzall);
    free(r->inflated);
#ifdef TH_HAVE_LIBDEFLATE
    if (r->ld)
        libdeflate_free_decompressor(r->ld);
#endif
    th__tape_fini(&r->tape);
    free(r);
}

int th__reader_read_path(struct th_reader *r, const char *path, struct th_err *err)
{
    int rc = 0;
    r->stop = 0;
    r->err = err;
    r->io_failed = false;
    if (strcmp(path, "-") == 0) {
        read_fd(r, STDIN_FILENO, "<stdin>");
    } else {
        struct stat st;
        if (stat(path, &st) != 0)
            unreadable(r, path, errno);
        else if (S_ISDIR(st.st_mode))
            rc = walk(r, path);
        else
            read_file(r, path);
    }
    r->err = NULL;
    if (r->stop)
        return r->stop;
    if (rc)
        return rc;
    return r->io_failed ? TH_EIO : 0;
}

int th__reader_read_buffer(struct th_reader *r, const char *name, const void *data, size_t len)
{
    struct src s;
    memset(&s, 0, sizeof s);
    s.name = name;
    s.fd = -1;
    r->stop = 0;
    if (is_digest_name(name)) {
        r->st.skipped_digest++;
        return 0;
    }
    r->st.files++;
    if (len == 0)
        return 0;
    const unsigned char *d = data;
    if (len >= 2 && d[0] == 0x1f && d[1] == 0x8b) {
        if (!ensure_bufs(r) || !gz_start(r))
            return TH_ENOMEM;
        s.gz = true;
        s.mem = d;
        s.mem_len = len;
        s.w = r->buf;
        r->zs.next_in = NULL;
        r->zs.avail_in = 0;
    } else {
        s.w = data;
        s.wend = len;
        s.eof = true;
        r->st.bytes += len;
    }
    parse(r, &s);
    if (r->stop)
        return r->stop;
    return s.ioerr ? TH_ENOMEM : 0;
}

const struct th_reader_stats *th__reader_stats(const struct th_reader *r)
{
    return &r->st;
}

void th__reader_set_callback(struct th_reader *r, th_event_fn fn, void *ctx)
{
    r->fn = fn;
    r->ctx = ctx;
}

void th__reader_set_fast(struct th_reader *r, const struct th_reader_fast *f)
{
    if (f)
        r->fast = *f;
    else
        memset(&r->fast, 0, sizeof r->fast);
}
