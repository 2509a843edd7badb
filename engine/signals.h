/*
 * signals.h - the life of a signal (SPEC §7, §9), shared by every detection method.
 *
 * A group's signal opens on a match, stays open while its case keeps matching within
 * keep_alive, and closes after keep_alive without a match or max_signal_duration after it
 * opened; a match after closing opens a new one. Time is event time. The signal id is a
 * hash of the rule id, the group values and first_seen, so a replay or a restart after a
 * crash gives the same id.
 *
 * A th_sigstate lives inside a detector's group entry; it owns its strings. Detectors hand
 * the pipeline a th_signal view to write; they never know about outputs.
 */
#ifndef TH_SIGNALS_H
#define TH_SIGNALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "rule.h"

struct th_sigstate {
    bool open;
    int case_idx;
    int64_t first_seen;
    int64_t last_seen;
    int64_t last_match;
    uint64_t events_matched;
    char id[33];
    char **event_ids;  /* owned, up to max_event_ids */
    size_t nevent_ids;
    char **samples;    /* owned serialized events, up to max_samples */
    size_t nsamples;
    char *message;     /* owned, rendered when the signal opened */
    char *details;     /* owned JSON object text, the method's latest details */
};

enum th_signal_status { TH_SIGNAL_NEW, TH_SIGNAL_UPDATE, TH_SIGNAL_CLOSED };

/* What an output needs to write one signal line; everything borrowed for the call. */
struct th_signal {
    const struct th_rule *rule;
    enum th_signal_status status;
    const struct th_sigstate *st;
    const char *group_key; /* group-by values joined by TH_GROUP_SEP, in group_by order */
    size_t group_key_len;
};

typedef void (*th_emit_fn)(void *ctx, const struct th_signal *s);

/* How signals leave a detector, and the limits of what they carry. */
struct th_signal_env {
    th_emit_fn emit;
    void *emit_ctx;
    bool updates;         /* emit "update" and "closed" too */
    size_t max_samples;
    size_t max_event_ids;
};

/*
 * Records a match of case case_idx for the group at event ev: opens a signal (first_seen
 * and events_matched as given: the method knows how far back its evidence goes), or
 * updates the open one, closing it first when it has run past keep_alive or
 * max_signal_duration. details (JSON object text, may be NULL) replaces the previous.
 * Returns the status emitted (TH_SIGNAL_NEW or TH_SIGNAL_UPDATE).
 */
enum th_signal_status th__sig_match(struct th_sigstate *st, const struct th_signal_env *env,
                                    const struct th_rule *r, const char *key, size_t key_len,
                                    int case_idx, struct th_event *ev, int64_t first_seen,
                                    uint64_t events, const char *details);

/* The event time at which the open signal closes when nothing matches again. */
int64_t th__sig_close_at(const struct th_sigstate *st, const struct th_rule *r);

/* Closes the signal when it is open and due at time now (or unconditionally with
 * force); emits "closed" when updates are on. Returns true when it closed. */
bool th__sig_close(struct th_sigstate *st, const struct th_signal_env *env,
                   const struct th_rule *r, const char *key, size_t key_len, int64_t now,
                   bool force);

/* Frees what st owns and zeroes it. */
void th__sig_fini(struct th_sigstate *st);

struct th_state_writer;
struct th_state_reader;
/* Writes / reads back a signal state (open or not) for --state: everything in it, so a
 * loaded signal goes on exactly as the saved one would have (same id, counts, event ids,
 * samples, message and details). load overwrites st (which must own nothing) and returns
 * false on malformed data, leaving st empty and r->bad set. The caller checks that
 * case_idx is below its rule's number of cases. */
void th__sig_save(const struct th_sigstate *st, struct th_state_writer *w);
bool th__sig_load(struct th_sigstate *st, struct th_state_reader *r);

/* The deterministic id of a signal: 32 hex characters and a NUL into out[33]. */
void th__sig_id(const char *rule_id, const char *key, size_t key_len, int64_t first_seen,
                char out[33]);

#endif
