/*
 * fuzz_rule.c - libFuzzer target for the rule loaders: the document parser (doc.c, libyaml),
 * the YAML loader (rule_yaml.c) or, built with TH_FUZZ_RULE_JSON=1, the Datadog JSON loader
 * (rule_json.c), then validation and compilation (rule_load.c, rule.c: conditions, ATT&CK
 * tags, queries, templates). A rule that loads is run: through every detector, the signal
 * lifecycle, the JSON and OCSF formats and a --state save and load.
 *
 * An input is `RULE` or `RULE\n#events\nEVENTS` (the built-in events when it has none).
 * Findings, besides crashes, leaks and hangs:
 *   - an output line that is not one strict JSON object (RFC 8259, valid UTF-8);
 *   - a failed load that reported no error, a diagnostic without a location, or one that
 *     is not one line;
 *   - two runs of the same rule over the same events whose output differs (the output
 *     must be deterministic);
 *   - a run split in two at a line of the events, the state saved after the first part
 *     and loaded before the second, whose output differs from the whole run's (SPEC §10:
 *     Monday then Tuesday gives the signals of one run over both), when both read the same
 *     events.
 * Options are tight so that limits are reached: 3 groups per rule (eviction), 2 samples and
 * 3 event ids per signal, small PCRE2 limits, --signal-updates; the format is OCSF for
 * inputs of odd length. The test GeoIP databases are open, so travel and geoip rules run.
 *
 * Ignores: rule files on disk (ruleset.c's walk), duplicate ids across files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "doc.h"
#include "fuzz_common.h"
#include "rule_load.h"
#include "ruleset.h"
#include "trailhound.h"

#ifndef TH_FUZZ_RULE_JSON
#define TH_FUZZ_RULE_JSON 0
#endif
#ifndef TH_FUZZ_GEOIP_DIR
#define TH_FUZZ_GEOIP_DIR "tests/geoip"
#endif

#define EVENTS_SEP "\n#events\n"

struct diags {
    unsigned errors;
};

static void on_diag(void *ctx, const struct th_diag *d)
{
    struct diags *ds = ctx;
    if (!d->where || !d->where[0] || !d->msg || !d->msg[0] || strchr(d->msg, '\n') ||
        !d->rule || !d->rule[0]) {
        fprintf(stderr, "fuzz_rule: bad diagnostic: where '%s' msg '%s'\n",
                d->where ? d->where : "(null)", d->msg ? d->msg : "(null)");
        abort();
    }
    if (d->is_error)
        ds->errors++;
}

/* The output of a run: a running hash and a line count. */
struct out {
    uint64_t hash;
    uint64_t lines;
};

static int on_line(void *ctx, const char *line, size_t len)
{
    struct out *o = ctx;
    if (len == 0 || line[0] != '{' || line[len - 1] != '}' || memchr(line, '\n', len) ||
        !fuzz_strict_json(line, len)) {
        fprintf(stderr, "fuzz_rule: not one strict JSON object: %.*s\n", (int)len, line);
        abort(); /* one JSON object per line, strict JSON (RFC 8259) in valid UTF-8 */
    }
    for (size_t i = 0; i < len; i++)
        o->hash = (o->hash ^ (unsigned char)line[i]) * 0x100000001b3ULL;
    o->hash = (o->hash ^ '\n') * 0x100000001b3ULL;
    o->lines++;
    return 0;
}

static void on_log(void *ctx, const char *msg)
{
    (void)ctx;
    if (!msg || strchr(msg, '\n'))
        abort();
}

static void options(struct th_options *o, size_t size, const char *state_dir)
{
    th_options_init(o);
    o->format = size & 1 ? TH_FORMAT_OCSF : TH_FORMAT_JSON;
    o->signal_updates = 1;
    o->max_groups = 3;
    o->max_samples = 2;
    o->max_event_ids = 3;
    o->regex_match_limit = 5000;
    o->regex_depth_limit = 100;
    o->geoip_path = TH_FUZZ_GEOIP_DIR "/trailhound-City-Test.mmdb";
    o->asn_path = TH_FUZZ_GEOIP_DIR "/trailhound-ASN-Test.mmdb";
    o->log = on_log;
    o->state_dir = state_dir;
}

/* Runs rs over parts of events (each read as its own buffer) with a fresh engine; with
 * state_dir, saves at the end. Adds to *o and *st. Returns false when the engine could
 * not start (a rule the engine refuses, e.g. one needing what the build lacks). */
static bool run(const struct th_ruleset *rs, size_t size, const char *state_dir,
                const char *ev, size_t len, struct out *o, struct th_stats *st)
{
    struct th_options opts;
    options(&opts, size, state_dir);
    struct th_engine *eng = NULL;
    struct th_err err;
    memset(&err, 0, sizeof err);
    if (th_engine_new(rs, &opts, on_line, o, &eng, &err) < 0) {
        if (!err.msg[0] || strchr(err.msg, '\n'))
            abort();
        return false;
    }
    th_engine_read_buffer(eng, "events.json", ev, len);
    th_engine_finish(eng);
    if (state_dir && th_engine_state_save(eng, &err) < 0) {
        fprintf(stderr, "fuzz_rule: state save failed: %s\n", err.msg);
        abort();
    }
    struct th_stats s;
    th_engine_stats(eng, &s);
    st->events += s.events;
    st->rejected += s.rejected;
    th_engine_free(eng);
    return true;
}

static void rm_state(const char *dir)
{
    char p[256];
    snprintf(p, sizeof p, "%s/trailhound.state", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/trailhound.lock", dir);
    unlink(p);
    rmdir(dir);
}

/* Runs the rule whole, twice, then split at a line of the events with state in between. */
static void exercise(struct th_rule *r, size_t size, const char *ev, size_t len)
{
    struct th_ruleset rs = {&r, 1, 1};
    struct out a = {0xcbf29ce484222325ULL, 0}, b = a, c = a;
    struct th_stats sa, sb, sc;
    memset(&sa, 0, sizeof sa);
    memset(&sb, 0, sizeof sb);
    memset(&sc, 0, sizeof sc);
    if (!run(&rs, size, NULL, ev, len, &a, &sa))
        return;
    run(&rs, size, NULL, ev, len, &b, &sb);
    if (a.hash != b.hash || a.lines != b.lines) {
        fprintf(stderr, "fuzz_rule: two runs over the same events differ\n");
        abort();
    }
    /* Split after the newline nearest the middle. */
    size_t cut = len / 2;
    while (cut < len && ev[cut] != '\n')
        cut++;
    if (cut >= len)
        return;
    cut++;
    char dir[128];
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/th-fuzz-rule-%ld", base, (long)getpid());
    rm_state(dir);
    bool ok = run(&rs, size, dir, ev, cut, &c, &sc) &&
              run(&rs, size, dir, ev + cut, len - cut, &c, &sc);
    rm_state(dir);
    if (ok && sc.events == sa.events && sc.rejected == sa.rejected &&
        (c.hash != a.hash || c.lines != a.lines)) {
        fprintf(stderr, "fuzz_rule: a run split at byte %zu with --state in between gives %llu "
                        "lines, the whole run %llu (or their bytes differ)\n",
                cut, (unsigned long long)c.lines, (unsigned long long)a.lines);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    size_t rlen, elen;
    const char *events;
    fuzz_split(data, size, EVENTS_SEP, &rlen, &events, &elen);
    const char *name = TH_FUZZ_RULE_JSON ? "fuzz-rule.json" : "fuzz-rule.yaml";
    struct th_doc *doc = NULL;
    struct th_err err;
    memset(&err, 0, sizeof err);
    int rc = th__doc_parse(name, (const char *)data, rlen, TH_FUZZ_RULE_JSON, &doc, &err);
    if (rc < 0) {
        if (doc || !err.msg[0] || strchr(err.msg, '\n'))
            abort();
        return 0;
    }
    struct diags ds = {0};
    struct th_rl_ctx c = {name, NULL, on_diag, &ds, 0, 0};
    struct th_rule *r = NULL;
    unsigned line = 0, col = 0;
    rc = TH_FUZZ_RULE_JSON ? th__rule_load_json(&c, doc, &r, &line, &col)
                           : th__rule_load_yaml(&c, doc, &r, &line, &col);
    th__doc_free(doc);
    if (rc < 0) {
        if (r || (rc == TH_ERULE && ds.errors == 0))
            abort(); /* a rule refused without a reason */
        return 0;
    }
    if (!r || ds.errors || c.errors)
        abort();
    r->fingerprint = 1;
    if (r->enabled)
        exercise(r, size, events, elen);
    th__rule_free(r);
    return 0;
}
