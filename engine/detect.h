/*
 * detect.h - the detection methods behind one uniform ops table (SPEC §7).
 *
 * Each method is one file (detect_threshold.c, ...) exporting a const th_detector_ops; the
 * table in detect.c maps enum th_method to it. A detector is one rule's live state. The
 * pipeline evaluates the rule's queries and calls on_event with the set of queries that
 * matched; the detector updates its groups and hands signals to the signal env. Detectors
 * never know about outputs or sources.
 */
#ifndef TH_DETECT_H
#define TH_DETECT_H

#include <stdbool.h>
#include <stdint.h>

#include "event.h"
#include "groups.h"
#include "rule.h"
#include "signals.h"
#include "state.h"
#include "strbuf.h"

struct th_detector;

struct th_detector_ops {
    enum th_method method;
    /* Sets up d->impl for d->rule. Returns 0 or a negative code with err filled. */
    int (*init)(struct th_detector *d, struct th_err *err);
    void (*fini)(struct th_detector *d);
    /* An event matched the rule's queries in the bit set `matched` (bit i: query i). */
    void (*on_event)(struct th_detector *d, struct th_event *ev, uint32_t matched);
    /* Event time has advanced: the watermark is the time below which nothing more is
     * expected; close signals and drop state that is due. */
    void (*advance)(struct th_detector *d, int64_t watermark);
    /* The detector's group table, for counters (may be NULL). */
    const struct th_group_table *(*groups)(const struct th_detector *d);
    /* Writes the detector's whole state (groups in LRU order, oldest first, their windows,
     * learned values, baselines and open signals) so that load() restores exactly the same
     * behaviour: a run split in two with --state must give the signals of one run. */
    void (*save)(const struct th_detector *d, struct th_state_writer *w);
    /* Replaces the (empty) state with a saved one. Returns 0, or TH_ESTATE with err filled
     * when the data is malformed (the detector is then left empty, never half-loaded). */
    int (*load)(struct th_detector *d, struct th_state_reader *r, struct th_err *err);
};

struct th_detector {
    const struct th_detector_ops *ops;
    const struct th_rule *rule;          /* borrowed */
    const struct th_signal_env *sigenv;  /* borrowed */
    size_t max_groups;
    struct th_strbuf key;                /* scratch for group keys */
    void *impl;
};

/* The ops of method m, or NULL when this build has no detector for it. */
const struct th_detector_ops *th__detector_ops(enum th_method m);

/*
 * Builds the group key of ev for q's group_by into d->key (values joined by TH_GROUP_SEP).
 * Returns false when some group-by attribute is absent (the event is then ignored).
 */
bool th__group_key(struct th_detector *d, const struct th_rule_query *q, struct th_event *ev);

extern const struct th_detector_ops th__threshold_ops;
extern const struct th_detector_ops th__new_value_ops;
extern const struct th_detector_ops th__anomaly_ops;
extern const struct th_detector_ops th__travel_ops;
/* Matching events an impossible_travel detector skipped because their source could not be
 * located (th_stats.travel_unlocated); 0 for a detector of another method. */
uint64_t th__travel_unlocated(const struct th_detector *d);

#endif
