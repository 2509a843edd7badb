/*
 * fuzz_jscan.c - libFuzzer target for the fast path: the strict scanner (jscan.c), tapes
 * (tape.c) and the prefilter (prefilter.c), each checked against json-c and the query
 * evaluator, which are the reference.
 *
 * An input is `QUERY\n---\nEVENTS` or just EVENTS (NDJSON; the built-in events when there
 * are none). Per line: whatever the scanner accepts, json-c must accept and end at the
 * same place (but for white space it eats); when a tape could be recorded, walking it
 * must visit the same values as walking json-c's tree, for every top-level key and a few
 * deeper paths; and for QUERY (when it compiles) and a fixed set of queries, the prefilter
 * must let through every event the query matches, with and without the member table. The
 * whole EVENTS part is also tried as a Records document: every element it reports must be
 * an object json-c reads the same. Any broken promise aborts.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attr.h"
#include "event.h"
#include "fuzz_common.h"
#include "jscan.h"
#include "prefilter.h"
#include "query.h"
#include "tape.h"

static const char *const fixed[] = {
    "@eventName:GetObject", "@evt.name:Get*", "@userIdentity.type:Root", "@errorCode:*",
    "@readOnly:false", "@a.b:x*y", "@requestParameters.policyArn:*Quarantine*",
    "@n:5 OR @n:1000", "@evt.name:*Object @eventSource:s3.amazonaws.com",
};

static bool trace(void *ctx, const struct th_value *v)
{
    char *t = ctx;
    size_t n = strlen(t);
    if (n < 4000)
        snprintf(t + n, 4096 - n, "%d:%.*s|", (int)v->type, v->type == TH_V_OBJECT ? 0 : (int)v->len,
                 v->type == TH_V_OBJECT ? "" : v->s);
    return false;
}

static void walks_agree(const char *text, size_t n, json_object *root, struct th_tape *tape)
{
    struct th_event a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    th__event_reset(&a, root, 0, "f", 1, NULL, 0);
    th__event_reset(&b, NULL, 0, "f", 1, NULL, 0);
    th__event_set_tape(&b, tape, text, n);
    char paths[40][64];
    size_t np = 0;
    json_object_object_foreach(root, key, val)
    {
        (void)val;
        if (np < 30 && strlen(key) < 60 && !strchr(key, '.') && key[0])
            snprintf(paths[np++], sizeof paths[0], "%s", key);
    }
    static const char *const deep[] = {"userIdentity.type", "a.b", "a.b.c", "requestParameters.x"};
    for (size_t i = 0; i < sizeof deep / sizeof *deep; i++)
        snprintf(paths[np++], sizeof paths[0], "%s", deep[i]);
    for (size_t i = 0; i < np; i++) {
        struct th_attr at;
        struct th_err err = {{0}, {0}};
        if (th__attr_compile(TH_NS_ATTR, paths[i], strlen(paths[i]), &at, NULL, &err))
            continue;
        char ta[4096] = "", tb[4096] = "";
        th__attr_any(&at, &a, trace, ta);
        th__attr_any(&at, &b, trace, tb);
        th__attr_fini(&at);
        if (strcmp(ta, tb) != 0) {
            fprintf(stderr, "tape walk differs on %s: json-c %s, tape %s\n", paths[i], ta, tb);
            abort();
        }
    }
}

static void one_line(const char *line, size_t n, struct th_prefilter *pf, size_t nq,
                     struct th_query **qs, struct th_match_ctx *mctx)
{
    struct th_jmember mem[64];
    struct th_jscan js = {.mem = mem, .mem_cap = 64};
    struct th_tape tape = {0};
    if (!th__jscan_object(line, n, 64, &js, &tape)) {
        th__tape_fini(&tape);
        return;
    }
    json_tokener *tok = json_tokener_new_ex(66);
    json_object *root = json_tokener_parse_ex(tok, line, (int)n);
    size_t end = json_tokener_get_parse_end(tok);
    if (json_tokener_get_error(tok) == json_tokener_continue) {
        root = json_tokener_parse_ex(tok, "", 1);
        end = n;
    }
    bool blanks = end >= js.end && end <= n;
    for (size_t i = js.end; blanks && i < end; i++)
        blanks = line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n';
    if (!root || !json_object_is_type(root, json_type_object) || !blanks) {
        fprintf(stderr, "json-c refuses what the scanner accepted: %.*s\n", (int)n, line);
        abort();
    }
    if (tape.ok)
        walks_agree(line, js.end, root, &tape);
    if (pf) {
        struct th_pf_scratch sc;
        memset(&sc, 0, sizeof sc);
        uint64_t mask[4], mask2[4];
        struct th_jscan nomem = js;
        nomem.mem = NULL;
        th__prefilter_check(pf, &sc, line, js.end, &js, mask);
        th__prefilter_check(pf, &sc, line, js.end, &nomem, mask2);
        struct th_event ev;
        memset(&ev, 0, sizeof ev);
        th__event_reset(&ev, root, 0, "f", 1, line, js.end);
        for (size_t i = 0; i < nq; i++) {
            bool may = (mask[i / 64] >> (i % 64)) & 1, may2 = (mask2[i / 64] >> (i % 64)) & 1;
            if ((!may || !may2) && th__query_match(qs[i], &ev, mctx)) {
                fprintf(stderr, "prefilter ruled out a match of %s: %.*s\n",
                        th__query_text(qs[i]), (int)n, line);
                abort();
            }
        }
        th__pf_scratch_fini(&sc);
    }
    json_object_put(root);
    json_tokener_free(tok);
    th__tape_fini(&tape);
}

static void records(const char *p, size_t n)
{
    struct th_jscan_elem *el = NULL;
    struct th_jmember *mem = NULL;
    size_t cap = 0, mcap = 0, count = 0, end = 0;
    unsigned lines = 0;
    if (th__jscan_records(p, n, 64, &el, &cap, &mem, &mcap, &count, &end, &lines)) {
        json_tokener *tok = json_tokener_new_ex(66);
        for (size_t i = 0; i < count; i++) {
            json_tokener_reset(tok);
            json_object *o =
                json_tokener_parse_ex(tok, p + el[i].start, (int)(el[i].end - el[i].start));
            if (!o || !json_object_is_type(o, json_type_object)) {
                fprintf(stderr, "json-c refuses Records[%zu]\n", i);
                abort();
            }
            json_object_put(o);
        }
        json_tokener_free(tok);
    }
    free(el);
    free(mem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t qlen = 0, elen = 0;
    const char *events = NULL;
    fuzz_split(data, size, FUZZ_SEP, &qlen, &events, &elen);
    struct th_query *qs[16];
    size_t nq = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        unsigned col;
        struct th_err err = {{0}, {0}};
        if (th__query_compile(fixed[i], strlen(fixed[i]), NULL, NULL, &qs[nq], &col, &err) == 0)
            nq++;
    }
    if (events != fuzz_builtin_events && qlen > 0 && qlen < 4096) {
        unsigned col;
        struct th_err err = {{0}, {0}};
        if (th__query_compile((const char *)data, qlen, NULL, NULL, &qs[nq], &col, &err) == 0)
            nq++;
    } else if (events == fuzz_builtin_events) {
        events = (const char *)data; /* no separator: the whole input is events */
        elen = size;
    }
    size_t unit_of[16];
    for (size_t i = 0; i < nq; i++)
        unit_of[i] = i;
    struct th_prefilter *pf = NULL;
    if (th__prefilter_new((const struct th_query *const *)qs, unit_of, nq, nq, &pf) != 0)
        pf = NULL;
    struct th_match_ctx mctx;
    th__match_ctx_init(&mctx, 10000, 100);
    for (size_t i = 0; i < elen;) {
        const char *nl = memchr(events + i, '\n', elen - i);
        size_t n = nl ? (size_t)(nl - events - i) : elen - i;
        if (n && events[i] == '{')
            one_line(events + i, n, pf, nq, qs, &mctx);
        i += n + 1;
    }
    records(events, elen);
    th__match_ctx_fini(&mctx);
    th__prefilter_free(pf);
    for (size_t i = 0; i < nq; i++)
        th__query_free(qs[i]);
    return 0;
}
