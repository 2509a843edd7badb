/*
 * engine.c - the pipeline (th_engine): reader -> event -> queries -> detectors -> signals
 * -> output format -> the caller's line callback.
 *
 * Event time is the clock. The engine keeps the newest event time seen; the watermark is
 * that minus max_lateness, and it is what detectors use to close signals and expire state.
 * An event older than the watermark is still evaluated (its rules see whatever state is
 * left) and is counted as late. Each event is parsed once by the reader and evaluated in
 * place: per rule, each query is matched (no allocation), and the detector gets the set of
 * queries that matched.
 *
 * With options.state_dir (--state), th_engine_new takes the directory's lock and loads the
 * snapshot (state.c) into the detectors and the clock; th_engine_state_save writes it back.
 *
 * A hunt engine has no rules: one query, and matching events go out in their original form.
 */
#include "trailhound.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detect.h"
#include "event.h"
#include "geo.h"
#include "output.h"
#include "pipeline.h"
#include "prefilter.h"
#include "query.h"
#include "reader.h"
#include "ruleset.h"
#include "state.h"
#include "strbuf.h"
#include "timeutil.h"

struct th_engine {
    const struct th_ruleset *rs;
    struct th_options opts;
    th_line_fn out;
    void *out_ctx;
    int stopped;                /* the line callback's non-zero answer */

    struct th_reader *reader;
    const char *source;         /* the path being read, for progress */
    struct th_match_ctx mctx;
    struct th_event ev;

    struct th_detector *det;    /* one per usable rule */
    size_t ndet;
    struct th_signal_env sigenv;
    const struct th_output_ops *format;
    struct th_strbuf line;

    bool have_time;
    int64_t newest;             /* newest event time seen */
    int64_t advanced_to;        /* last watermark handed to the detectors */

    struct th_query *hunt;      /* hunt mode */
    struct th_geo *geo;         /* GeoIP/ASN databases (possibly none: then only
                                   invalidAddress is known) */
    struct th_stats st;         /* the engine's own counters (the reader keeps its own) */
    struct th_prefilter *pf;    /* units: the detectors (or hunt's query); NULL when off */
    struct th_pf_scratch pfs;
    uint64_t *pf_mask;          /* the units the last wanted() event may match */
    uint64_t seen;              /* accepted events the engine has handled (progress) */
    struct th_reader_stats rst_view; /* the reader's counters as of the events handled, */
    bool rst_view_on;           /* ...while a threaded read runs (the reader's are live) */
    int state_lock;             /* --state: the directory's flock'd lock file, or -1 */
};

void th_options_init(struct th_options *o)
{
    memset(o, 0, sizeof *o);
    o->format = TH_FORMAT_JSON;
    o->max_lateness_ms = 15 * TH_MS_PER_MIN;
    o->max_event_size = 1 << 20;
    o->max_depth = 64;
    o->max_samples = 3;
    o->max_event_ids = 20;
    o->max_groups = 1000000;
    o->regex_match_limit = 100000;
    o->regex_depth_limit = 1000;
    o->progress_every = 65536;
}

const char *th_reject_reason_name(int i)
{
    return i >= 0 && i < TH_REJECT__COUNT ? th__reject_name((enum th_reject)i) : NULL;
}

static void logf_(struct th_engine *e, const char *fmt, ...) TH_PRINTF(2, 3);
static void logf_(struct th_engine *e, const char *fmt, ...)
{
    if (!e->opts.log)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    e->opts.log(e->opts.log_ctx, msg);
}

static void put_line(struct th_engine *e, const char *p, size_t len)
{
    if (e->stopped || !e->out)
        return;
    e->stopped = e->out(e->out_ctx, p, len);
}

static void emit_signal(void *ctx, const struct th_signal *s)
{
    struct th_engine *e = ctx;
    switch (s->status) {
    case TH_SIGNAL_NEW:
        e->st.signals++;
        break;
    case TH_SIGNAL_UPDATE:
        e->st.updates++;
        break;
    case TH_SIGNAL_CLOSED:
        e->st.closed++;
        break;
    }
    th__sb_reset(&e->line);
    e->format->format(s, &e->line);
    if (e->line.oom) {
        logf_(e, "out of memory writing a signal of rule %s", s->rule->id);
        return;
    }
    put_line(e, e->line.p, e->line.len);
}

static void advance(struct th_engine *e, int64_t watermark)
{
    for (size_t i = 0; i < e->ndet; i++)
        e->det[i].ops->advance(&e->det[i], watermark);
    e->advanced_to = watermark;
}

/* Evaluates every rule, or only those whose bit is set in mask (the prefilter's answer:
 * the others cannot match this event). */
static void evaluate_rules(struct th_engine *e, const uint64_t *mask)
{
    bool any = false;
    for (size_t i = 0; i < e->ndet; i++) {
        if (mask && !((mask[i / 64] >> (i % 64)) & 1))
            continue;
        struct th_detector *d = &e->det[i];
        const struct th_rule *r = d->rule;
        uint32_t matched = 0;
        for (size_t q = 0; q < r->nqueries; q++)
            if (th__query_match(r->queries[q].query, &e->ev, &e->mctx))
                matched |= UINT32_C(1) << q;
        if (matched) {
            any = true;
            d->ops->on_event(d, &e->ev, matched);
        }
    }
    e->st.matched += any;
}

/* Event time moves on with each accepted event; returns the watermark. */
static int64_t clock_tick(struct th_engine *e, int64_t time_ms)
{
    if (!e->have_time || time_ms > e->newest) {
        e->newest = time_ms;
        if (!e->have_time)
            e->advanced_to = time_ms - e->opts.max_lateness_ms;
        e->have_time = true;
    }
    int64_t watermark = e->newest - e->opts.max_lateness_ms;
    if (time_ms < watermark)
        e->st.late++;
    e->seen++;
    return watermark;
}

/* After each accepted event: the progress callback; the reader's stop value. */
static int after_event(struct th_engine *e)
{
    if (e->opts.progress && e->opts.progress_every && e->seen % e->opts.progress_every == 0) {
        struct th_stats s;
        th_engine_stats(e, &s);
        e->opts.progress(e->opts.progress_ctx, &s, e->source);
    }
    /* 1, not the callback's own value: the reader returns it, and a negative one would
     * pass for a TH_E* code. */
    return e->stopped ? 1 : 0;
}

/* th_reader_fast: may any unit match the event in p[0..n)? Remembers which, for
 * on_event (the reader then parses it and flags it as checked). */
static bool pf_wanted(void *ctx, const char *p, size_t n, const struct th_jscan *js)
{
    struct th_engine *e = ctx;
    if (TH_UNLIKELY(th__prefilter_learning(e->pf)))
        th__prefilter_learn(e->pf, p, n);
    return th__prefilter_check(e->pf, &e->pfs, p, n, js, e->pf_mask) != 0;
}

/* th_reader_fast: an event no unit can match, accepted without parsing. It still moves
 * event time on (lateness, expiry, signals closing) exactly as if it had been evaluated:
 * evaluating it would have changed nothing else. */
static int pf_skipped(void *ctx, int64_t time_ms, const char *file, uint64_t line)
{
    struct th_engine *e = ctx;
    TH_UNUSED(file);
    TH_UNUSED(line);
    e->st.prefiltered++;
    int64_t watermark = clock_tick(e, time_ms);
    if (!e->hunt && watermark >= e->advanced_to + TH_MS_PER_SEC)
        advance(e, watermark);
    return after_event(e);
}

/* Builds the prefilter over the detectors' rules (or the hunt query) and hands the reader
 * its fast path. Returns 0 or TH_ENOMEM. */
static int prefilter_setup(struct th_engine *e)
{
    if (e->opts.no_prefilter)
        return 0;
    size_t nq = e->hunt ? 1 : 0, nunits = e->hunt ? 1 : e->ndet;
    for (size_t i = 0; i < e->ndet; i++)
        nq += e->det[i].rule->nqueries;
    const struct th_query **qs = calloc(nq ? nq : 1, sizeof *qs);
    size_t *unit_of = calloc(nq ? nq : 1, sizeof *unit_of);
    int rc = TH_ENOMEM;
    if (!qs || !unit_of)
        goto done;
    size_t k = 0;
    if (e->hunt)
        qs[k++] = e->hunt;
    for (size_t i = 0; i < e->ndet; i++)
        for (size_t q = 0; q < e->det[i].rule->nqueries; q++) {
            unit_of[k] = i;
            qs[k++] = e->det[i].rule->queries[q].query;
        }
    if ((rc = th__prefilter_new(qs, unit_of, nq, nunits, &e->pf)) < 0)
        goto done;
    e->pf_mask = calloc(th__prefilter_mask_words(e->pf) + 1, sizeof *e->pf_mask);
    if (!e->pf_mask) {
        rc = TH_ENOMEM;
        goto done;
    }
    struct th_reader_fast f = {pf_wanted, pf_skipped, e, true};
    th__reader_set_fast(e->reader, &f);
    rc = 0;
done:
    free(qs);
    free(unit_of);
    return rc;
}

/* Evaluates one accepted event; mask: the prefilter's units for it, or NULL (all). */
static int evaluate_event(struct th_engine *e, const struct th_read_event *re,
                          const uint64_t *mask)
{
    th__event_reset(&e->ev, re->obj, re->time_ms, re->file, re->line, re->raw, re->raw_len);
    if (re->tape)
        th__event_set_tape(&e->ev, re->tape, re->src, re->src_len);
    e->ev.geo = e->geo;
    int64_t watermark = clock_tick(e, re->time_ms);

    if (e->hunt) {
        if (th__query_match(e->hunt, &e->ev, &e->mctx)) {
            e->st.matched++;
            struct th_str text = th__event_text(&e->ev);
            put_line(e, text.p, text.len);
        }
    } else {
        evaluate_rules(e, mask);
        /* Detectors expire state in steps of a second of event time, not per event. */
        if (watermark >= e->advanced_to + TH_MS_PER_SEC)
            advance(e, watermark);
    }
    return after_event(e);
}

static int on_event(void *ctx, const struct th_read_event *re)
{
    struct th_engine *e = ctx;
    return evaluate_event(e, re, re->checked && e->pf ? e->pf_mask : NULL);
}

/* The pipeline's side of the engine (pipeline.h): wanted runs on the reader's thread and
 * touches only the prefilter, its scratch and the learning; the rest on the caller's. */
static bool pipe_wanted(void *ctx, const char *p, size_t n, const struct th_jscan *js,
                        uint64_t *mask)
{
    struct th_engine *e = ctx;
    if (TH_UNLIKELY(th__prefilter_learning(e->pf)))
        th__prefilter_learn(e->pf, p, n);
    return th__prefilter_check(e->pf, &e->pfs, p, n, js, mask) != 0;
}

static int pipe_event(void *ctx, const struct th_read_event *re, const uint64_t *mask)
{
    return evaluate_event(ctx, re, mask);
}

static void pipe_stats(void *ctx, const struct th_reader_stats *st)
{
    struct th_engine *e = ctx;
    e->rst_view = *st;
}

static int engine_common_new(const struct th_options *opts, th_line_fn out, void *out_ctx,
                             struct th_engine **eng, struct th_err *err)
{
    struct th_engine *e = calloc(1, sizeof *e);
    if (!e)
        return th__err(err, TH_ENOMEM, NULL, "out of memory");
    if (opts)
        e->opts = *opts;
    else
        th_options_init(&e->opts);
    e->state_lock = -1;
    e->out = out;
    e->out_ctx = out_ctx;
    th__sb_init(&e->line);
    struct th_reader_limits lim = {e->opts.max_event_size, 512u << 20, e->opts.max_depth};
    if (th__reader_new(&lim, on_event, e, &e->reader) < 0 ||
        th__match_ctx_init(&e->mctx, e->opts.regex_match_limit, e->opts.regex_depth_limit) < 0) {
        th_engine_free(e);
        return th__err(err, TH_ENOMEM, NULL, "out of memory");
    }
    struct th_geo_opts go = {e->opts.geoip_path, e->opts.asn_path, 0};
    int rc = th__geo_open(&go, &e->geo, err);
    if (rc < 0) {
        th_engine_free(e);
        return rc;
    }
    *eng = e;
    return 0;
}

/*
 * Why rule r cannot run with the databases at hand, or NULL when it can: impossible travel
 * and the geoip attributes (in queries, group_by, distinct or fields) need a City database;
 * the asn attributes need an ASN database.
 */
static const char *geo_missing(const struct th_engine *e, const struct th_rule *r)
{
    uint32_t used = 0;
    for (size_t q = 0; q < r->nqueries; q++) {
        const struct th_rule_query *rq = &r->queries[q];
        used |= th__query_derived_used(rq->query);
        const struct th_attr *lists[3] = {rq->group_by, rq->distinct, rq->fields};
        size_t counts[3] = {rq->ngroup_by, rq->ndistinct, rq->nfields};
        for (int l = 0; l < 3; l++)
            for (size_t i = 0; i < counts[l]; i++)
                if (lists[l][i].kind == TH_ATTR_DERIVED)
                    used |= UINT32_C(1) << lists[l][i].derived;
    }
    if (!th__geo_has_city(e->geo)) {
        if (r->method == TH_METHOD_TRAVEL)
            return "impossible travel needs a GeoIP City database (--geoip FILE)";
        if (used & TH_DERIVED_CITY_MASK)
            return "it uses @network.client.geoip attributes, which need a GeoIP City database "
                   "(--geoip FILE)";
    }
    if (!th__geo_has_asn(e->geo) && (used & TH_DERIVED_ASN_MASK))
        return "it uses @network.client.asn attributes, which need an ASN database (--asn FILE)";
    return NULL;
}

static void log_line(void *ctx, const char *msg)
{
    logf_(ctx, "%s", msg);
}

/* --state: takes the directory and loads its snapshot (unless reset_state): the detectors'
 * groups and the clock, so the run goes on where the last one stopped. */
static int state_open(struct th_engine *e, struct th_err *err)
{
    int rc = th__state_open_dir(e->opts.state_dir, &e->state_lock, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < e->ndet; i++)
        if (!e->det[i].ops->save || !e->det[i].ops->load)
            logf_(e, "rule %s: detection method %s cannot persist its state yet; --state "
                  "keeps nothing for it", e->det[i].rule->id,
                  th__method_name(e->det[i].rule->method));
    if (e->opts.reset_state)
        return 0;
    struct th_state_clock clock = {e->have_time, e->newest, e->advanced_to};
    rc = th__state_load(e->opts.state_dir, &clock, e->det, e->ndet, log_line, e,
                        &e->st.state_loaded_bytes, err);
    if (rc < 0)
        return rc;
    e->have_time = clock.have_time;
    e->newest = clock.newest;
    e->advanced_to = clock.watermark;
    return 0;
}

int th_engine_state_save(struct th_engine *e, struct th_err *err)
{
    if (!e->opts.state_dir || e->hunt)
        return 0;
    struct th_state_clock clock = {e->have_time, e->newest, e->advanced_to};
    return th__state_save(e->opts.state_dir, &clock, e->det, e->ndet,
                          &e->st.state_saved_bytes, err);
}

int th_engine_new(const struct th_ruleset *rs, const struct th_options *opts, th_line_fn out,
                  void *out_ctx, struct th_engine **eng, struct th_err *err)
{
    *eng = NULL;
    struct th_engine *e;
    int rc = engine_common_new(opts, out, out_ctx, &e, err);
    if (rc < 0)
        return rc;
    e->rs = rs;
    e->format = th__output_ops(e->opts.format);
    if (!e->format) {
        th_engine_free(e);
        return th__err(err, TH_EUNSUPPORTED, NULL, "this output format is not supported yet");
    }
    e->sigenv = (struct th_signal_env){emit_signal, e, e->opts.signal_updates != 0,
                                       e->opts.max_samples, e->opts.max_event_ids};
    e->det = calloc(rs->n ? rs->n : 1, sizeof *e->det);
    if (!e->det) {
        th_engine_free(e);
        return th__err(err, TH_ENOMEM, NULL, "out of memory");
    }
    for (size_t i = 0; i < rs->n; i++) {
        const struct th_rule *r = rs->rules[i];
        const struct th_detector_ops *ops = th__detector_ops(r->method);
        if (!ops) {
            logf_(e, "rule %s: detection method %s is not supported by this build; rule disabled",
                  r->id, th__method_name(r->method));
            continue;
        }
        const char *why = geo_missing(e, r);
        if (why) {
            logf_(e, "rule %s: %s; rule disabled", r->id, why);
            continue;
        }
        struct th_detector *d = &e->det[e->ndet];
        d->ops = ops;
        d->rule = r;
        d->sigenv = &e->sigenv;
        d->max_groups = e->opts.max_groups;
        th__sb_init(&d->key);
        rc = ops->init(d, err);
        if (rc < 0) {
            th__sb_fini(&d->key);
            th_engine_free(e);
            return rc;
        }
        e->ndet++;
    }
    if (e->opts.state_dir && (rc = state_open(e, err)) < 0) {
        th_engine_free(e);
        return rc;
    }
    if (prefilter_setup(e) < 0) {
        th_engine_free(e);
        return th__err(err, TH_ENOMEM, NULL, "out of memory");
    }
    *eng = e;
    return 0;
}

int th_engine_new_hunt(const char *query, const struct th_options *opts, th_line_fn out,
                       void *out_ctx, struct th_engine **eng, struct th_err *err)
{
    *eng = NULL;
    struct th_engine *e;
    int rc = engine_common_new(opts, out, out_ctx, &e, err);
    if (rc < 0)
        return rc;
    unsigned col = 0;
    rc = th__query_compile(query, strlen(query), NULL, NULL, &e->hunt, &col, err);
    if (rc < 0) {
        if (err)
            snprintf(err->where, sizeof err->where, "query:%u", col);
        th_engine_free(e);
        return rc;
    }
    /* The query is the whole job: one that needs a database that is missing would quietly
     * match nothing (or everything, negated), so it is an error. */
    uint32_t used = th__query_derived_used(e->hunt);
    const char *missing = NULL;
    if ((used & TH_DERIVED_CITY_MASK) && !th__geo_has_city(e->geo))
        missing = "the query uses @network.client.geoip attributes, which need a GeoIP City "
                  "database (--geoip FILE)";
    else if ((used & TH_DERIVED_ASN_MASK) && !th__geo_has_asn(e->geo))
        missing = "the query uses @network.client.asn attributes, which need an ASN database "
                  "(--asn FILE)";
    if (missing) {
        th_engine_free(e);
        return th__err(err, TH_ECONFIG, NULL, "%s", missing);
    }
    if (prefilter_setup(e) < 0) {
        th_engine_free(e);
        return th__err(err, TH_ENOMEM, NULL, "out of memory");
    }
    *eng = e;
    return 0;
}

void th_engine_free(struct th_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->ndet; i++) {
        e->det[i].ops->fini(&e->det[i]);
        th__sb_fini(&e->det[i].key);
    }
    free(e->det);
    th__query_free(e->hunt);
    th__prefilter_free(e->pf);
    th__pf_scratch_fini(&e->pfs);
    free(e->pf_mask);
    th__geo_free(e->geo);
    th__match_ctx_fini(&e->mctx);
    th__reader_free(e->reader);
    th__sb_fini(&e->line);
    if (e->state_lock >= 0)
        close(e->state_lock);
    free(e);
}

int th_engine_read_path(struct th_engine *e, const char *path, struct th_err *err)
{
    e->source = path;
    int rc = TH_EUNSUPPORTED;
    if (e->opts.threads > 1) {
        struct th_reader_fast f = {pf_wanted, pf_skipped, e, true};
        struct th_pipe_ops ops = {pipe_wanted, pipe_event, pf_skipped, pipe_stats, e,
                                  e->pf ? th__prefilter_mask_words(e->pf) : 0, true};
        e->rst_view = *th__reader_stats(e->reader);
        e->rst_view_on = true;
        rc = th__pipeline_read(e->reader, on_event, e, e->pf ? &f : NULL, &ops, path, err);
        e->rst_view_on = false;
    }
    if (rc == TH_EUNSUPPORTED) /* one thread, or no second one to be had */
        rc = th__reader_read_path(e->reader, path, err);
    e->source = NULL;
    return rc > 0 ? 0 : rc; /* a positive value only says the line callback stopped us */
}

int th_engine_read_buffer(struct th_engine *e, const char *name, const void *data, size_t len)
{
    e->source = name;
    int rc = th__reader_read_buffer(e->reader, name, data, len);
    e->source = NULL;
    return rc > 0 ? 0 : rc;
}

int th_engine_finish(struct th_engine *e)
{
    /* Signals still open stay open: their closing is decided by later events (or a later
     * run with the same state), never by the end of this input. */
    TH_UNUSED(e);
    return 0;
}

void th_engine_stats(const struct th_engine *e, struct th_stats *out)
{
    *out = e->st;
    const struct th_reader_stats *r = e->rst_view_on ? &e->rst_view : th__reader_stats(e->reader);
    out->files = r->files;
    out->files_unreadable = r->files_unreadable;
    out->bytes = r->bytes;
    out->events = r->events;
    out->skipped_digest = r->skipped_digest;
    out->skipped_control = r->skipped_control;
    out->rejected = 0;
    for (int i = 0; i < TH_REJECT__COUNT && i < (int)TH_ARRAY_LEN(out->rejected_by); i++) {
        out->rejected_by[i] = r->rejected[i];
        out->rejected += r->rejected[i];
    }
    out->regex_errors = e->mctx.regex_errors;
    th__geo_counters(e->geo, &out->geo_cached, &out->geo_lookups);
    out->geo_failures = th__geo_failures(e->geo);
    for (size_t i = 0; i < e->ndet; i++) {
        const struct th_group_table *g = e->det[i].ops->groups(&e->det[i]);
        if (g) {
            out->groups += g->count;
            out->groups_expired += g->expired;
            out->groups_evicted += g->evicted;
        }
        out->travel_unlocated += th__travel_unlocated(&e->det[i]);
    }
}

const char *th_engine_reject_sample(const struct th_engine *e, size_t i)
{
    const struct th_reader_stats *r = th__reader_stats(e->reader);
    return i < r->nsamples ? r->samples[i] : NULL;
}
