/*
 * signals.c - the signal lifecycle (signals.h): open, update, close, and ids.
 *
 * Samples are copies of the events' text taken when they match, starting with the event
 * that opened the signal; event ids likewise. Both are capped, so a long-running signal
 * holds bounded memory. The message is rendered once, from the opening event.
 *
 * For --state, th__sig_save writes a signal state whole (one byte when it is empty, as
 * every closed one is) and th__sig_load reads it back exactly.
 */
#include "signals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "state.h"
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
    /* The arrays grow one slot at a time (at most max_event_ids + max_samples times per
     * signal): their capacity is then always their count, which is what th__sig_load
     * restores without knowing the limits. */
    struct th_str id = th__event_str(ev, "eventID");
    if (id.p && st->nevent_ids < env->max_event_ids) {
        char **p = realloc(st->event_ids, (st->nevent_ids + 1) * sizeof *p);
        if (p) {
            st->event_ids = p;
            if ((p[st->nevent_ids] = th__strndup(id.p, id.len)))
                st->nevent_ids++;
        }
    }
    struct th_str text = {NULL, 0};
    if (st->nsamples < env->max_samples)
        text = th__event_text(ev);
    if (text.p) {
        char **p = realloc(st->samples, (st->nsamples + 1) * sizeof *p);
        if (p) {
            st->samples = p;
            if ((p[st->nsamples] = th__strndup(text.p, text.len)))
                st->nsamples++;
        }
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

/* True when st holds nothing (a closed signal is wiped by th__sig_fini). */
static bool sig_empty(const struct th_sigstate *st)
{
    return !st->open && st->case_idx == 0 && st->first_seen == 0 && st->last_seen == 0 &&
           st->last_match == 0 && st->events_matched == 0 && !st->id[0] && !st->nevent_ids &&
           !st->nsamples && !st->message && !st->details;
}

static void save_strs(struct th_state_writer *w, char *const *v, size_t n)
{
    th__sw_u64(w, n);
    for (size_t i = 0; i < n; i++)
        th__sw_str(w, v[i]);
}

void th__sig_save(const struct th_sigstate *st, struct th_state_writer *w)
{
    if (sig_empty(st)) {
        th__sw_u8(w, 0);
        return;
    }
    th__sw_u8(w, 1);
    th__sw_bool(w, st->open);
    th__sw_u32(w, (uint32_t)st->case_idx);
    th__sw_i64(w, st->first_seen);
    th__sw_i64(w, st->last_seen);
    th__sw_i64(w, st->last_match);
    th__sw_u64(w, st->events_matched);
    th__sw_str(w, st->id);
    save_strs(w, st->event_ids, st->nevent_ids);
    save_strs(w, st->samples, st->nsamples);
    th__sw_str(w, st->message);
    th__sw_str(w, st->details);
}

/* Reads a list of non-NULL strings into *v (owned, exactly *n slots). */
static bool load_strs(struct th_state_reader *r, char ***v, size_t *n)
{
    uint64_t count = th__sr_count(r, 1u << 20, 4);
    if (r->bad || count == 0)
        return !r->bad;
    *v = calloc((size_t)count, sizeof **v);
    if (!*v)
        return false;
    while (*n < count) {
        char *s = th__sr_str(r);
        if (!s)
            return false;
        (*v)[(*n)++] = s;
    }
    return true;
}

bool th__sig_load(struct th_sigstate *st, struct th_state_reader *r)
{
    memset(st, 0, sizeof *st);
    uint8_t kind = th__sr_u8(r);
    if (r->bad || kind > 1) {
        r->bad = true;
        return false;
    }
    if (kind == 0)
        return true;
    st->open = th__sr_bool(r);
    uint32_t case_idx = th__sr_u32(r);
    st->first_seen = th__sr_i64(r);
    st->last_seen = th__sr_i64(r);
    st->last_match = th__sr_i64(r);
    st->events_matched = th__sr_u64(r);
    size_t id_len;
    const char *id = th__sr_bytes(r, &id_len);
    if (r->bad || case_idx > INT32_MAX || id_len >= sizeof st->id)
        goto fail;
    st->case_idx = (int)case_idx;
    memcpy(st->id, id, id_len);
    st->id[id_len] = '\0';
    if (!load_strs(r, &st->event_ids, &st->nevent_ids) ||
        !load_strs(r, &st->samples, &st->nsamples))
        goto fail;
    st->message = th__sr_str(r);
    st->details = th__sr_str(r);
    if (r->bad)
        goto fail;
    return true;
fail:
    r->bad = true;
    th__sig_fini(st);
    return false;
}
