/*
 * test_signals.c - the signal lifecycle (signals.c): deterministic ids (literal values
 * pinned: ids are part of the output contract), open / update / close by keep_alive / close
 * by max_signal_duration / reopen with a new id, the exact boundaries of both limits,
 * "update" and "closed" emitted only with env.updates, caps on samples and event ids, the
 * message rendered once from the opening event, details kept and replaced, and forced
 * closes. Rules are built by hand: one rule, two cases, a compiled message template.
 */
#include "signals.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "groups.h"
#include "template.h"

#define MIN (60 * INT64_C(1000))
#define T0 INT64_C(1709546400000) /* 2024-03-04T10:00:00Z */

/* ---- what the emit callback saw ------------------------------------------------------- */

#define MAXEMITS 64

struct emitted {
    enum th_signal_status status;
    char id[33];
    int case_idx;
    uint64_t events_matched;
    int64_t first_seen, last_seen;
    size_t nsamples, nevent_ids;
    char first_event_id[32], last_event_id[32];
    char message[256];
    char details[128];
    char key[64];
    size_t key_len;
    const struct th_rule *rule;
};

struct sink {
    size_t n;
    struct emitted e[MAXEMITS];
};

static void on_emit(void *ctx, const struct th_signal *s)
{
    struct sink *k = ctx;
    if (k->n >= MAXEMITS) {
        k->n++;
        return;
    }
    struct emitted *e = &k->e[k->n++];
    memset(e, 0, sizeof *e);
    e->status = s->status;
    e->rule = s->rule;
    memcpy(e->id, s->st->id, 33);
    e->case_idx = s->st->case_idx;
    e->events_matched = s->st->events_matched;
    e->first_seen = s->st->first_seen;
    e->last_seen = s->st->last_seen;
    e->nsamples = s->st->nsamples;
    e->nevent_ids = s->st->nevent_ids;
    if (s->st->nevent_ids) {
        snprintf(e->first_event_id, sizeof e->first_event_id, "%s", s->st->event_ids[0]);
        snprintf(e->last_event_id, sizeof e->last_event_id, "%s",
                 s->st->event_ids[s->st->nevent_ids - 1]);
    }
    snprintf(e->message, sizeof e->message, "%s", s->st->message ? s->st->message : "(null)");
    snprintf(e->details, sizeof e->details, "%s", s->st->details ? s->st->details : "(null)");
    e->key_len = s->group_key_len < sizeof e->key ? s->group_key_len : sizeof e->key - 1;
    memcpy(e->key, s->group_key, e->key_len);
}

/* The statuses seen so far, e.g. "new update closed new". */
static const char *statuses(const struct sink *k)
{
    static char out[1024];
    static const char *const names[] = {"new", "update", "closed"};
    out[0] = '\0';
    for (size_t i = 0; i < k->n && i < MAXEMITS; i++) {
        size_t l = strlen(out);
        snprintf(out + l, sizeof out - l, "%s%s", i ? " " : "", names[k->e[i].status]);
    }
    return out;
}

/* ---- a rule and events ---------------------------------------------------------------- */

static struct th_rule_case cases[2];
static struct th_rule rule;

static void make_rule(const char *message)
{
    memset(&rule, 0, sizeof rule);
    memset(cases, 0, sizeof cases);
    cases[0].name = "burst";
    cases[0].severity = TH_SEVERITY_HIGH;
    cases[1].name = "";
    cases[1].severity = TH_SEVERITY_LOW;
    rule.id = "test-signals";
    rule.name = "Signals under test";
    rule.version = 1;
    rule.cases = cases;
    rule.ncases = 2;
    rule.evaluation_window_ms = 5 * MIN;
    rule.keep_alive_ms = 10 * MIN;
    rule.max_signal_duration_ms = 60 * MIN;
    if (message) {
        unsigned col = 0;
        struct th_err err = {{0}, {0}};
        CHECK_INT(th__template_compile(message, strlen(message), &rule.message, &col, &err), 0);
    }
}

static void free_rule(void)
{
    th__template_free(rule.message);
    rule.message = NULL;
}

/* One event, parsed and reset for evaluation; its text is kept as the raw line. */
struct evt {
    json_object *obj;
    char text[256];
    struct th_event ev;
};

static struct evt *event(struct evt *e, int64_t t, const char *id, const char *name)
{
    if (id)
        snprintf(e->text, sizeof e->text,
                 "{\"eventTime\":\"x\",\"eventID\":\"%s\",\"eventName\":\"%s\"}", id, name);
    else
        snprintf(e->text, sizeof e->text, "{\"eventTime\":\"x\",\"eventName\":\"%s\"}", name);
    e->obj = json_tokener_parse(e->text);
    CHECK(e->obj != NULL);
    th__event_reset(&e->ev, e->obj, t, "test", 1, e->text, strlen(e->text));
    return e;
}

static void event_done(struct evt *e)
{
    json_object_put(e->obj);
    e->obj = NULL;
}

/* A match of case c at time t, with a fresh event; returns the status. */
static enum th_signal_status match(struct th_sigstate *st, const struct th_signal_env *env,
                                   const char *key, int c, int64_t t, const char *id,
                                   const char *name, int64_t first_seen, uint64_t events,
                                   const char *details)
{
    struct evt e;
    event(&e, t, id, name);
    enum th_signal_status s = th__sig_match(st, env, &rule, key, strlen(key), c, &e.ev,
                                            first_seen, events, details);
    event_done(&e);
    return s;
}

/* ---- ids ------------------------------------------------------------------------------ */

static void test_ids(void)
{
    char a[33], b[33];
    const char *arn = "arn:aws:iam::111122223333:user/alice";
    th__sig_id("aws-trufflehog-user-agent", arn, strlen(arn), INT64_C(1706704496000), a);
    /* These literals were computed once, and cross-checked with an independent
     * implementation of hash.h's FNV-1a + splitmix64 finaliser. Signal ids are part of the
     * output contract (consumers drop duplicates by id, state snapshots hold them): if
     * this check fails, ids changed for every user, which needs a state format version
     * bump and a release note, never a silent update of this literal. */
    CHECK_STR(a, "ed5866e4426300a743eb12e28cf0f1b9");
    th__sig_id("r", "", 0, 0, b);
    CHECK_STR(b, "06bc32d0c3c4c769674c1f12d8f0da5f");
    /* The id of the golden case fixtures/engine/threshold-count-window. */
    const char *bob = "arn:aws:iam::111122223333:user/bob";
    th__sig_id("test-count-window", bob, strlen(bob), INT64_C(1709546410000), b);
    CHECK_STR(b, "1b017bb20da179f3a36d40ffdb847116");

    /* 32 lowercase hex digits, NUL-terminated. */
    CHECK_INT(strlen(a), 32);
    CHECK_INT(strspn(a, "0123456789abcdef"), 32);

    /* Deterministic: the same inputs give the same id, every time. */
    th__sig_id("aws-trufflehog-user-agent", arn, strlen(arn), INT64_C(1706704496000), b);
    CHECK_STR(b, a);

    /* Sensitive to each input. */
    char base[33];
    th__sig_id("rule-a", "k", 1, 1000, base);
    th__sig_id("rule-b", "k", 1, 1000, b);
    CHECK(strcmp(b, base) != 0);
    th__sig_id("rule-a", "j", 1, 1000, b);
    CHECK(strcmp(b, base) != 0);
    th__sig_id("rule-a", "k", 1, 1001, b);
    CHECK(strcmp(b, base) != 0);
    th__sig_id("rule-a", "k", 1, -1000, b);
    CHECK(strcmp(b, base) != 0);
    /* The key is taken by its length, NUL bytes and all. */
    th__sig_id("rule-a", "k\0x", 3, 1000, b);
    CHECK(strcmp(b, base) != 0);
    char other[33];
    th__sig_id("rule-a", "k\0y", 3, 1000, other);
    CHECK(strcmp(b, other) != 0);
    th__sig_id("rule-a", "kx", 1, 1000, b); /* only key_len bytes count */
    CHECK_STR(b, base);
    /* Boundaries between the parts are not ambiguous. */
    th__sig_id("ab", "c", 1, 5, b);
    th__sig_id("a", "bc", 2, 5, other);
    CHECK(strcmp(b, other) != 0);
    th__sig_id("r", "k1", 2, 2, b); /* "k1" + "2" vs "k" + "12" */
    th__sig_id("r", "k", 1, 12, other);
    CHECK(strcmp(b, other) != 0);
    /* The two halves are independent hashes, not one value twice. */
    CHECK(strncmp(a, a + 16, 16) != 0);
    /* Extreme times. */
    th__sig_id("r", "k", 1, INT64_MIN, b);
    th__sig_id("r", "k", 1, INT64_MAX, other);
    CHECK_INT(strlen(b), 32);
    CHECK(strcmp(b, other) != 0);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static void test_lifecycle(void)
{
    make_rule("{{@eventName}} {{events_matched}} {{case_name}}");
    struct sink k = {0};
    struct th_signal_env env = {on_emit, &k, true, 3, 20};
    struct th_sigstate st;
    memset(&st, 0, sizeof st);
    const char *key = "alice";

    /* Open at T0. first_seen may reach back (the window's evidence) and events counts it. */
    CHECK_INT(match(&st, &env, key, 0, T0, "e1", "Open", T0 - 2 * MIN, 3, "{\"v\":1}"),
              TH_SIGNAL_NEW);
    CHECK_STR(statuses(&k), "new");
    CHECK(st.open);
    CHECK_INT(st.first_seen, T0 - 2 * MIN);
    CHECK_INT(st.last_seen, T0);
    CHECK_INT(st.last_match, T0);
    CHECK_INT(st.events_matched, 3);
    char want[33];
    th__sig_id("test-signals", key, 5, T0 - 2 * MIN, want);
    CHECK_STR(st.id, want);
    CHECK_STR(k.e[0].id, want);
    CHECK_STR(k.e[0].key, "alice");
    CHECK_INT(k.e[0].key_len, 5);
    CHECK(k.e[0].rule == &rule);
    CHECK_STR(k.e[0].message, "Open 3 burst");
    CHECK_STR(k.e[0].details, "{\"v\":1}");
    CHECK_INT(k.e[0].nsamples, 1);
    CHECK_STR(st.samples[0], "{\"eventTime\":\"x\",\"eventID\":\"e1\",\"eventName\":\"Open\"}");
    CHECK_STR(k.e[0].first_event_id, "e1");
    /* Closes when idle for keep_alive, or at max_signal_duration after first_seen. */
    CHECK_INT(th__sig_close_at(&st, &rule), T0 + 10 * MIN);

    /* An update 5 minutes later: same id, the message is not re-rendered, details replaced,
     * the case may change. */
    CHECK_INT(match(&st, &env, key, 1, T0 + 5 * MIN, "e2", "Other", T0 + 5 * MIN, 1,
                    "{\"v\":2}"),
              TH_SIGNAL_UPDATE);
    CHECK_STR(statuses(&k), "new update");
    CHECK_STR(k.e[1].id, want);
    CHECK_INT(k.e[1].events_matched, 4);
    CHECK_INT(k.e[1].first_seen, T0 - 2 * MIN);
    CHECK_INT(k.e[1].last_seen, T0 + 5 * MIN);
    CHECK_INT(k.e[1].case_idx, 1);
    CHECK_STR(k.e[1].message, "Open 3 burst");
    CHECK_STR(k.e[1].details, "{\"v\":2}");
    CHECK_INT(k.e[1].nevent_ids, 2);
    CHECK_STR(k.e[1].last_event_id, "e2");
    CHECK_INT(th__sig_close_at(&st, &rule), T0 + 15 * MIN);

    /* NULL details keep the previous ones; an event older than last_seen does not move it
     * back, and an event without eventID adds a sample but no id. */
    CHECK_INT(match(&st, &env, key, 0, T0 + 1 * MIN, NULL, "Late", T0, 1, NULL),
              TH_SIGNAL_UPDATE);
    CHECK_STR(k.e[2].details, "{\"v\":2}");
    CHECK_INT(k.e[2].last_seen, T0 + 5 * MIN);
    CHECK_INT(st.last_match, T0 + 5 * MIN);
    CHECK_INT(k.e[2].nevent_ids, 2);
    CHECK_INT(k.e[2].nsamples, 3);
    CHECK_INT(k.e[2].events_matched, 5);

    /* Not due exactly at close_at: the limit is inclusive of its last millisecond. */
    int64_t due = th__sig_close_at(&st, &rule);
    CHECK_INT(due, T0 + 15 * MIN);
    CHECK(!th__sig_close(&st, &env, &rule, key, 5, due, false));
    CHECK(st.open);
    CHECK_INT(k.n, 3);
    /* A match exactly at close_at still updates. */
    CHECK_INT(match(&st, &env, key, 0, due, "e4", "AtEdge", due, 1, NULL), TH_SIGNAL_UPDATE);
    CHECK_STR(k.e[3].id, want);
    due = th__sig_close_at(&st, &rule);
    CHECK_INT(due, T0 + 25 * MIN);

    /* One millisecond later it closes: "closed" carries the last state, then st is empty. */
    CHECK(th__sig_close(&st, &env, &rule, key, 5, due + 1, false));
    CHECK_STR(statuses(&k), "new update update update closed");
    CHECK_STR(k.e[4].id, want);
    CHECK_INT(k.e[4].events_matched, 6);
    CHECK_INT(k.e[4].last_seen, T0 + 15 * MIN);
    CHECK(!st.open);
    CHECK_STR(st.id, "");
    CHECK(st.samples == NULL && st.event_ids == NULL && st.message == NULL);
    CHECK(st.details == NULL);
    /* Closing a closed signal does nothing, forced or not. */
    CHECK(!th__sig_close(&st, &env, &rule, key, 5, due + 2, false));
    CHECK(!th__sig_close(&st, &env, &rule, key, 5, due + 2, true));
    CHECK_INT(k.n, 5);

    /* A match after closing opens a new signal with a new id; first_seen later than the
     * event is clamped to the event; events 0 counts as 1. */
    CHECK_INT(match(&st, &env, key, 0, T0 + 30 * MIN, "e5", "Again", T0 + 40 * MIN, 0, NULL),
              TH_SIGNAL_NEW);
    CHECK_STR(statuses(&k), "new update update update closed new");
    CHECK_INT(st.first_seen, T0 + 30 * MIN);
    CHECK_INT(st.events_matched, 1);
    char want2[33];
    th__sig_id("test-signals", key, 5, T0 + 30 * MIN, want2);
    CHECK_STR(st.id, want2);
    CHECK(strcmp(want2, want) != 0);
    CHECK_STR(k.e[5].message, "Again 1 burst");
    CHECK_STR(k.e[5].details, "(null)"); /* the closed signal's details did not survive */
    CHECK_INT(k.e[5].nevent_ids, 1);
    CHECK_STR(k.e[5].first_event_id, "e5");

    /* A match after keep_alive closes the old signal first (a "closed" line), then opens. */
    int64_t t = T0 + 30 * MIN + 10 * MIN + 1;
    CHECK_INT(match(&st, &env, key, 0, t, "e6", "Gap", t, 1, "{\"v\":3}"), TH_SIGNAL_NEW);
    CHECK_STR(statuses(&k), "new update update update closed new closed new");
    CHECK_STR(k.e[6].id, want2);
    CHECK_STR(k.e[7].message, "Gap 1 burst");
    CHECK_STR(k.e[7].details, "{\"v\":3}");
    char want3[33];
    th__sig_id("test-signals", key, 5, t, want3);
    CHECK_STR(k.e[7].id, want3);

    /* A forced close (state dropped) closes a signal that is not due. */
    CHECK(th__sig_close(&st, &env, &rule, key, 5, t, true));
    CHECK_INT(k.e[8].status, TH_SIGNAL_CLOSED);
    CHECK_STR(k.e[8].id, want3);
    CHECK(!st.open);
    th__sig_fini(&st);
    free_rule();
}

static void test_max_duration(void)
{
    make_rule(NULL);
    struct sink k = {0};
    struct th_signal_env env = {on_emit, &k, true, 3, 20};
    struct th_sigstate st;
    memset(&st, 0, sizeof st);
    /* A match every 9 minutes keeps the signal alive (keep_alive 10m) until it is 60
     * minutes old: 0, 9, ..., 54 update; 60 is exactly at the limit (still open); 63 is past
     * it: the signal closes and a new one opens. */
    CHECK_INT(match(&st, &env, "g", 0, T0, "m0", "M", T0, 1, NULL), TH_SIGNAL_NEW);
    for (int m = 9; m <= 54; m += 9)
        CHECK_INT(match(&st, &env, "g", 0, T0 + m * MIN, "m", "M", T0, 1, NULL),
                  TH_SIGNAL_UPDATE);
    CHECK_INT(th__sig_close_at(&st, &rule), T0 + 60 * MIN); /* min(54+10, 0+60) */
    CHECK_INT(match(&st, &env, "g", 0, T0 + 60 * MIN, "m", "M", T0, 1, NULL), TH_SIGNAL_UPDATE);
    CHECK_INT(th__sig_close_at(&st, &rule), T0 + 60 * MIN);
    char first[33];
    memcpy(first, st.id, 33);
    CHECK_INT(match(&st, &env, "g", 0, T0 + 63 * MIN, "m", "M", T0 + 63 * MIN, 1, NULL),
              TH_SIGNAL_NEW);
    CHECK_STR(statuses(&k), "new update update update update update update update closed new");
    CHECK_STR(k.e[8].id, first);
    CHECK_INT(k.e[8].events_matched, 8);
    CHECK_INT(k.e[8].last_seen, T0 + 60 * MIN);
    CHECK_INT(st.first_seen, T0 + 63 * MIN);
    CHECK_INT(st.events_matched, 1);
    char want[33];
    th__sig_id("test-signals", "g", 1, T0 + 63 * MIN, want);
    CHECK_STR(st.id, want);
    CHECK(strcmp(st.id, first) != 0);
    /* Updates never move first_seen, whatever the caller offers. */
    CHECK_INT(match(&st, &env, "g", 0, T0 + 64 * MIN, "m", "M", T0, 1, NULL), TH_SIGNAL_UPDATE);
    CHECK_INT(st.first_seen, T0 + 63 * MIN);
    CHECK_STR(st.id, want);
    th__sig_fini(&st);
    free_rule();
}

static void test_updates_off(void)
{
    make_rule(NULL);
    struct sink k = {0};
    struct th_signal_env env = {on_emit, &k, false, 3, 20};
    struct th_sigstate st;
    memset(&st, 0, sizeof st);
    CHECK_INT(match(&st, &env, "g", 0, T0, "a", "A", T0, 1, NULL), TH_SIGNAL_NEW);
    CHECK_INT(match(&st, &env, "g", 0, T0 + MIN, "b", "B", T0, 1, NULL), TH_SIGNAL_UPDATE);
    CHECK_INT(st.events_matched, 2); /* the state is updated even when nothing is written */
    CHECK(th__sig_close(&st, &env, &rule, "g", 1, T0 + 12 * MIN, false));
    CHECK_INT(match(&st, &env, "g", 0, T0 + 13 * MIN, "c", "C", T0 + 13 * MIN, 1, NULL),
              TH_SIGNAL_NEW);
    CHECK_INT(match(&st, &env, "g", 0, T0 + 30 * MIN, "d", "D", T0 + 30 * MIN, 1, NULL),
              TH_SIGNAL_NEW);
    CHECK_STR(statuses(&k), "new new new");
    CHECK(k.e[0].message[0] == '(' && strcmp(k.e[0].message, "(null)") == 0); /* no template */
    th__sig_fini(&st);
    free_rule();
}

static void test_caps(void)
{
    make_rule("first {{@eventName}}");
    struct sink k = {0};
    struct th_signal_env env = {on_emit, &k, true, 2, 3};
    struct th_sigstate st;
    memset(&st, 0, sizeof st);
    const char *ids[] = {"i1", "i2", "i3", "i4", "i5"};
    for (int i = 0; i < 5; i++)
        match(&st, &env, "g", 0, T0 + i * MIN, ids[i], ids[i], T0, 1, NULL);
    CHECK_INT(st.nsamples, 2);
    CHECK_INT(st.nevent_ids, 3);
    CHECK_STR(st.event_ids[0], "i1");
    CHECK_STR(st.event_ids[2], "i3");
    CHECK_CONTAINS(st.samples[0], "\"eventID\":\"i1\"");
    CHECK_CONTAINS(st.samples[1], "\"eventID\":\"i2\"");
    CHECK_INT(st.events_matched, 5);
    CHECK_STR(st.message, "first i1");
    CHECK_INT(k.e[4].nsamples, 2);
    CHECK_INT(k.e[4].nevent_ids, 3);
    th__sig_fini(&st);
    CHECK(st.samples == NULL && st.nsamples == 0 && !st.open);

    /* Caps of 0 keep nothing. */
    struct th_signal_env none = {on_emit, &k, false, 0, 0};
    match(&st, &none, "g", 0, T0, "z", "Z", T0, 1, NULL);
    match(&st, &none, "g", 0, T0 + 1, "z2", "Z", T0, 1, NULL);
    CHECK_INT(st.nsamples, 0);
    CHECK_INT(st.nevent_ids, 0);
    CHECK(st.open);
    th__sig_fini(&st);

    /* An event without raw text is sampled through json-c's serialization. */
    struct evt e;
    event(&e, T0, "raw-less", "R");
    th__event_reset(&e.ev, e.obj, T0, "test", 1, NULL, 0);
    th__sig_match(&st, &env, &rule, "g", 1, 0, &e.ev, T0, 1, NULL);
    CHECK_INT(st.nsamples, 1);
    json_object *back = json_tokener_parse(st.samples[0]), *id = NULL;
    CHECK(back && json_object_object_get_ex(back, "eventID", &id));
    CHECK_STR(id ? json_object_get_string(id) : NULL, "raw-less");
    json_object_put(back);
    event_done(&e);
    th__sig_fini(&st);
    free_rule();
}

/* A message that renders to nothing is "", not NULL; a group key with NUL and separator
 * bytes reaches the emit callback whole. */
static void test_edges(void)
{
    make_rule("{{@absent.attribute}}");
    struct sink k = {0};
    struct th_signal_env env = {on_emit, &k, false, 3, 20};
    struct th_sigstate st;
    memset(&st, 0, sizeof st);
    const char key[] = {'a', '\0', TH_GROUP_SEP, 'b'};
    struct evt e;
    event(&e, T0, "x", "X");
    th__sig_match(&st, &env, &rule, key, sizeof key, 0, &e.ev, T0, 1, NULL);
    event_done(&e);
    CHECK(st.message != NULL);
    CHECK_STR(st.message, "");
    CHECK_INT(k.e[0].key_len, 4);
    CHECK(memcmp(k.e[0].key, key, 4) == 0);
    char want[33];
    th__sig_id("test-signals", key, sizeof key, T0, want);
    CHECK_STR(st.id, want);
    th__sig_fini(&st);
    th__sig_fini(&st); /* twice is harmless */
    free_rule();
}

int main(void)
{
    test_ids();
    test_lifecycle();
    test_max_duration();
    test_updates_off();
    test_caps();
    test_edges();
    return CHECK_DONE();
}
