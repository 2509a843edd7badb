/*
 * signals.c - the signal lifecycle (signals.h): open, update, close, and ids.
 *
 * Samples are copies of the events' text taken when they match, starting with the event
 * that opened the signal; event ids likewise. Both are capped, so a long-running signal
 * holds bounded memory. The message is rendered once, from the opening event.
 */
#include "signals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "strbuf.h"

void th__sig_id(const char *rule_id, const char *key, size_t key_len, int64_t first_seen,
                char out[33])
{
    char ts[24];
    int n = snprintf(ts, sizeof ts, "%lld", (long long)first_seen);
    uint64_t h[2];
    for (int i = 0; i < 2; i++) {
        uint64_t x = th__hash_init((uint64_t)i + 1);
        x = th__hash_add(x, rule_id, strlen(rule_id) + 1);
        x = th__hash_add(x, key, key_len);
        x = th__hash_add(x, "", 1);
        x = th__hash_add(x, ts, (size_t)n);
        h[i] = th__hash_mix(x);
    }
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h[0], (unsigned long long)h[1]);
}

void th__sig_fini(struct th_sigstate *st)
{
    for (size_t i = 0; i < st->nevent_ids; i++)
        free(st->event_ids[i]);
    for (size_t i = 0; i < st->nsamples; i++)
        free(st->samples[i]);
    free(st->event_ids);
    free(st->samples);
    free(st->message);
    free(st->details);
    memset(st, 0, sizeof *st);
}

int64_t th__sig_close_at(const struct th_sigstate *st, const struct th_rule *r)
{
    int64_t by_idle = st->last_match + r->keep_alive_ms;
    int64_t by_age = st->first_seen + r->max_signal_duration_ms;
    return by_idle < by_age ? by_idle : by_age;
}

static void emit(const struct th_signal_env *env, const struct th_rule *r,
                 const struct th_sigstate *st, const char *key, size_t key_len,
                 enum th_signal_status status)
{
    struct th_signal s = {r, status, st, key, key_len};
    env->emit(env->emit_ctx, &s);
}

/* Keeps a copy of the event's id and text while there is room. */
static void remember(struct th_sigstate *st, const struct th_signal_env *env,
                     struct th_event *ev)
{
    struct th_str id = th__event_str(ev, "eventID");
    if (id.p && st->nevent_ids < env->max_event_ids) {
        if (!st->event_ids)
            st->event_ids = calloc(env->max_event_ids, sizeof *st->event_ids);
        if (st->event_ids && (st->event_ids[st->nevent_ids] = th__strndup(id.p, id.len)))
            st->nevent_ids++;
    }
    if (st->nsamples < env->max_samples) {
        if (!st->samples)
            st->samples = calloc(env->max_samples, sizeof *st->samples);
        struct th_str text = th__event_text(ev);
        if (st->samples && text.p && (st->samples[st->nsamples] = th__strndup(text.p, text.len)))
            st->nsamples++;
    }
}

bool th__sig_close(struct th_sigstate *st, const struct th_signal_env *env,
                   const struct th_rule *r, const char *key, size_t key_len, int64_t now,
                   bool force)
{
    if (!st->open || (!force && now <= th__sig_close_at(st, r)))
        return false;
    st->open = false;
    if (env->updates)
        emit(env, r, st, key, key_len, TH_SIGNAL_CLOSED);
    th__sig_fini(st);
    return true;
}

enum th_signal_status th__sig_match(struct th_sigstate *st, const struct th_signal_env *env,
                                    const struct th_rule *r, const char *key, size_t key_len,
                                    int case_idx, struct th_event *ev, int64_t first_seen,
                                    uint64_t events, const char *details)
{
    th__sig_close(st, env, r, key, key_len, ev->time_ms, false);
    if (details) {
        free(st->details);
        st->details = th__strdup(details);
    }
    if (st->open) {
        st->events_matched++;
        if (ev->time_ms > st->last_seen)
            st->last_seen = ev->time_ms;
        if (ev->time_ms > st->last_match)
            st->last_match = ev->time_ms;
        st->case_idx = case_idx;
        remember(st, env, ev);
        if (env->updates)
            emit(env, r, st, key, key_len, TH_SIGNAL_UPDATE);
        return TH_SIGNAL_UPDATE;
    }
    char *keep_details = st->details;
    st->details = NULL;
    th__sig_fini(st);
    st->details = keep_details;
    st->open = true;
    st->case_idx = case_idx;
    st->first_seen = first_seen < ev->time_ms ? first_seen : ev->time_ms;
    st->last_seen = ev->time_ms;
    st->last_match = ev->time_ms;
    st->events_matched = events ? events : 1;
    th__sig_id(r->id, key, key_len, st->first_seen, st->id);
    remember(st, env, ev);
    if (r->message) {
        struct th_strbuf sb;
        th__sb_init(&sb);
        struct th_template_vars vars = {r->name, r->cases[case_idx].name, st->events_matched,
                                        st->first_seen, st->last_seen};
        th__template_render(r->message, ev, &vars, &sb);
        while (sb.len && (sb.p[sb.len - 1] == '\n' || sb.p[sb.len - 1] == ' '))
            sb.p[--sb.len] = '\0'; /* a YAML block scalar ends with a newline */
        st->message = sb.p ? sb.p : th__strdup("");
    }
    emit(env, r, st, key, key_len, TH_SIGNAL_NEW);
    return TH_SIGNAL_NEW;
}
