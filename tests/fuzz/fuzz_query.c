/*
 * fuzz_query.c - libFuzzer target for the query language: the parser (query_parse.c), the
 * evaluator (query_eval.c), attribute references (attr.c), globs, CIDR, PCRE2 regexes
 * under tight match limits, and GeoIP lookups of hostile sourceIPAddress values.
 *
 * An input is `QUERY` or `QUERY\n---\nEVENTS`: the query is compiled (with a warning
 * callback, so the lint paths run too) and, when it compiles, matched against each event
 * (NDJSON or any format the reader takes; the built-in events when the input has none),
 * with the test City and ASN databases of tests/geoip open. For a simple query (no
 * parentheses, quotes, escapes, regexes or ranges), `-(QUERY)` must compile and match
 * exactly the events QUERY does not, unless a regex hit a limit.
 *
 * Ignores: compile errors (expected for most inputs; only crashes, leaks, hangs and broken
 * invariants are findings).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "fuzz_common.h"
#include "geo.h"
#include "query.h"
#include "reader.h"

#ifndef TH_FUZZ_GEOIP_DIR
#define TH_FUZZ_GEOIP_DIR "tests/geoip"
#endif

struct run {
    struct th_query *q, *neg; /* neg: -(q), or NULL */
    struct th_match_ctx mctx;
    struct th_geo *geo;
    struct th_event ev;
};

static struct th_geo *geo; /* opened once: lookups are read-only but for the cache */

static void warn(void *ctx, unsigned col, const char *msg)
{
    (void)ctx;
    if (!msg || !msg[0] || col == 0)
        abort();
}

static int on_event(void *ctx, const struct th_read_event *re)
{
    struct run *r = ctx;
    th__event_reset(&r->ev, re->obj, re->time_ms, re->file, re->line, re->raw, re->raw_len);
    r->ev.geo = r->geo;
    uint64_t errs = r->mctx.regex_errors;
    bool m = th__query_match(r->q, &r->ev, &r->mctx);
    bool again = th__query_match(r->q, &r->ev, &r->mctx); /* derived values now cached */
    if (r->mctx.regex_errors == errs && m != again)
        abort();
    if (r->neg) {
        bool n = th__query_match(r->neg, &r->ev, &r->mctx);
        if (r->mctx.regex_errors == errs && n == m) {
            fprintf(stderr, "fuzz_query: '%s' and '%s' agree (%d) on an event\n",
                    th__query_text(r->q), th__query_text(r->neg), (int)m);
            abort();
        }
    }
    return 0;
}

/* True when text is simple enough that -(text) must be its exact negation. */
static bool simple(const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strchr("()\"\\/[]{}<>", t[i]) || t[i] == '\0')
            return false;
    return n > 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    if (!geo) {
        struct th_geo_opts go = {TH_FUZZ_GEOIP_DIR "/trailhound-City-Test.mmdb",
                                 TH_FUZZ_GEOIP_DIR "/trailhound-ASN-Test.mmdb", 64};
        struct th_err gerr;
        memset(&gerr, 0, sizeof gerr);
        if (th__geo_open(&go, &geo, &gerr) < 0) {
            fprintf(stderr, "fuzz_query: %s: %s\n", gerr.where, gerr.msg);
            abort();
        }
    }
    size_t qlen, elen;
    const char *events;
    fuzz_split(data, size, FUZZ_SEP, &qlen, &events, &elen);
    const char *text = (const char *)data;

    static struct run r; /* the event's arena is large: not on the stack */
    memset(&r, 0, sizeof r);
    r.geo = geo;
    struct th_err err;
    memset(&err, 0, sizeof err);
    unsigned col = 0;
    int rc = th__query_compile(text, qlen, warn, NULL, &r.q, &col, &err);
    if (rc < 0) {
        if (r.q || !err.msg[0] || col == 0 || col > qlen + 1)
            abort(); /* a failure leaves nothing behind and says where and why */
        return 0;
    }
    if (simple(text, qlen)) {
        size_t nlen = qlen + 3;
        char *neg = malloc(nlen + 1);
        if (!neg)
            abort();
        memcpy(neg, "-(", 2);
        memcpy(neg + 2, text, qlen);
        memcpy(neg + 2 + qlen, ")", 2);
        struct th_err nerr;
        memset(&nerr, 0, sizeof nerr);
        unsigned ncol;
        if (th__query_compile(neg, nlen, NULL, NULL, &r.neg, &ncol, &nerr) < 0) {
            fprintf(stderr, "fuzz_query: '%.*s' compiles but '%s' does not: %s\n", (int)qlen,
                    text, neg, nerr.msg);
            abort();
        }
        free(neg);
    }
    if (th__match_ctx_init(&r.mctx, 2000, 50) < 0)
        abort();
    struct th_reader *rd = NULL;
    if (th__reader_new(NULL, on_event, &r, &rd) < 0)
        abort();
    th__reader_read_buffer(rd, "fuzz.json", events, elen);
    th__reader_free(rd);
    th__match_ctx_fini(&r.mctx);
    th__query_free(r.q);
    th__query_free(r.neg);
    return 0;
}
