/*
 * rule.h - a detection rule as loaded from YAML (rules/<service>/<id>.yaml) or from
 * Datadog's JSON export, validated and compiled: queries, group-by attributes, cases with
 * compiled conditions, method options and the message template.
 *
 * Rules are immutable after loading and shared by every thread. Durations are in
 * milliseconds of event time.
 */
#ifndef TH_RULE_H
#define TH_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attr.h"
#include "query.h"
#include "template.h"

/* X(enum suffix, name in rule files) */
#define TH_METHOD_MAP(X)                                                                       \
    X(THRESHOLD, "threshold")                                                                  \
    X(NEW_VALUE, "new_value")                                                                  \
    X(ANOMALY, "anomaly_detection")                                                            \
    X(TRAVEL, "impossible_travel")

enum th_method {
#define TH_METHOD_ENUM(e, s) TH_METHOD_##e,
    TH_METHOD_MAP(TH_METHOD_ENUM)
#undef TH_METHOD_ENUM
    TH_METHOD__COUNT
};

#define TH_AGG_MAP(X)                                                                          \
    X(COUNT, "count")                                                                          \
    X(CARDINALITY, "cardinality")                                                              \
    X(SUM, "sum")                                                                              \
    X(MAX, "max")                                                                              \
    X(NEW_VALUE, "new_value")                                                                  \
    X(GEO_DATA, "geo_data")

enum th_agg {
#define TH_AGG_ENUM(e, s) TH_AGG_##e,
    TH_AGG_MAP(TH_AGG_ENUM)
#undef TH_AGG_ENUM
    TH_AGG__COUNT
};

#define TH_SEVERITY_MAP(X)                                                                     \
    X(INFO, "info")                                                                            \
    X(LOW, "low")                                                                              \
    X(MEDIUM, "medium")                                                                        \
    X(HIGH, "high")                                                                            \
    X(CRITICAL, "critical")

enum th_severity {
#define TH_SEVERITY_ENUM(e, s) TH_SEVERITY_##e,
    TH_SEVERITY_MAP(TH_SEVERITY_ENUM)
#undef TH_SEVERITY_ENUM
    TH_SEVERITY__COUNT
};

const char *th__method_name(enum th_method m);
const char *th__agg_name(enum th_agg a);
const char *th__severity_name(enum th_severity s);

#define TH_MAX_GROUP_BY 8
#define TH_MAX_FIELDS 5
#define TH_MAX_QUERIES 8

struct th_rule_query {
    char *name;               /* "a", "b", ...: what conditions refer to */
    char *text;               /* the query as written */
    struct th_query *query;   /* compiled */
    enum th_agg agg;
    size_t ngroup_by;
    struct th_attr group_by[TH_MAX_GROUP_BY];
    size_t ndistinct;         /* cardinality: the counted attribute (0 or 1) */
    struct th_attr distinct[1];
    size_t nfields;           /* new_value (tuple), sum, max, geo_data */
    struct th_attr fields[TH_MAX_FIELDS];
};

/*
 * A case condition, compiled to a tiny expression: comparisons of a query's aggregate
 * with a number, joined by && and || (&& binds tighter), with parentheses.
 */
enum th_cond_op { TH_COND_AND, TH_COND_OR, TH_COND_GT, TH_COND_GE, TH_COND_LT, TH_COND_LE,
                  TH_COND_EQ, TH_COND_NE };

struct th_cond {
    enum th_cond_op op;
    struct th_cond *left, *right; /* AND, OR */
    int query;                    /* comparisons: index into rule->queries */
    double value;                 /* comparisons: the number */
};

/* True when cond holds for the aggregates agg[i] of query i. */
bool th__cond_eval(const struct th_cond *c, const double *agg);

struct th_rule_case {
    char *name;
    enum th_severity severity;
    struct th_cond *cond; /* NULL: always true (the stateful methods) */
};

struct th_attack_ref {
    char tactic[16];    /* "TA0006" */
    char technique[16]; /* "T1552" or "T1552.005", or "" when the tag names none */
};

struct th_rule {
    char *id;
    char *name;
    int version;
    bool enabled;
    char *file;           /* where it was loaded from */
    uint64_t fingerprint; /* hash of the rule file's bytes: --state drops a changed rule's state */
    char **tags;          /* as written, e.g. "tactic:TA0006-credential-access" */
    size_t ntags;
    struct th_attack_ref *attack; /* from the tactic/technique tags, in tag order */
    size_t nattack;

    enum th_method method;
    struct th_rule_query queries[TH_MAX_QUERIES];
    size_t nqueries;
    struct th_rule_case *cases;
    size_t ncases;

    int64_t evaluation_window_ms;
    int64_t keep_alive_ms;
    int64_t max_signal_duration_ms;

    struct {
        int64_t forget_after_ms;
        int64_t learning_duration_ms;
        bool learning_by_threshold; /* learning_method: threshold */
        int64_t learning_threshold;
    } new_value;
    struct {
        int64_t bucket_duration_ms;
        int64_t learning_duration_ms;
        int detection_tolerance; /* 1..5 */
    } anomaly;
    struct {
        bool baseline_user_locations;
        int64_t baseline_duration_ms;
        double speed_kmh;
        double min_distance_km;
    } travel;

    struct th_template *message; /* NULL when the rule has none */
};

void th__rule_free(struct th_rule *r);

#endif
