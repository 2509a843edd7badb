/*
 * rule_json.c - Datadog's own JSON rule format, as the Security Monitoring API returns it
 * and as Terraform's datadog_security_monitoring_rule_json holds it: camelCase keys,
 * `isEnabled`, `queries[{query, groupByFields, distinctFields, aggregation, name, metric,
 * metrics}]`, `cases[{name, status, condition}]`, `options{evaluationWindow, keepAlive,
 * maxSignalDuration, detectionMethod, newValueOptions, anomalyDetectionOptions,
 * impossibleTravelOptions}`.
 *
 * Units are Datadog's: evaluationWindow, keepAlive, maxSignalDuration and bucketDuration in
 * seconds; newValueOptions.forgetAfter and learningDuration and
 * impossibleTravelOptions.baselineUserLocationsDuration in days; anomalyDetectionOptions.
 * learningDuration in hours. The rule id is the JSON's `id` when it is slug-like
 * ([a-z0-9-], as Datadog's "abc-def-ghi" ids are), else the file's base name.
 *
 * Option blocks of another detection method (newValueOptions in a threshold rule) get a
 * lint warning rather than an error, as Datadog's API keeps such blocks in its exports.
 * Keys Datadog writes that mean nothing here are accepted and ignored (notifications,
 * hasExtendedTitle, type "log_detection", timestamps and authors, dataSource "logs", ...).
 * Keys that would change what the rule detects and that this engine does not implement
 * (filters with a query, groupSignalsBy, referenceTables, third-party and sequence
 * options, ...) are errors, never silently dropped; anything else unknown is an error as
 * in the YAML format. Like rule_yaml.c, this file only walks the document; th__rl_build
 * does the validation.
 */
#include "rule_load.h"

#include <stdio.h>
#include <string.h>

#include "timeutil.h"

static const struct th_rl_keys keys = {
    .json = true,
    .id = "id",
    .name = "name",
    .version = "version",
    .enabled = "isEnabled",
    .tags = "tags",
    .queries = "queries",
    .query = "query",
    .qname = "name",
    .group_by = "groupByFields",
    .distinct = "distinctFields",
    .fields = "metrics",
    .aggregation = "aggregation",
    .cases = "cases",
    .status = "status",
    .condition = "condition",
    .message = "message",
    .options = "options",
    .detection_method = "detectionMethod",
    .evaluation_window = "evaluationWindow",
    .keep_alive = "keepAlive",
    .max_signal_duration = "maxSignalDuration",
    .new_value = "newValueOptions",
    .anomaly = "anomalyDetectionOptions",
    .travel = "impossibleTravelOptions",
    .forget_after = "forgetAfter",
    .nv_learning_duration = "learningDuration",
    .learning_method = "learningMethod",
    .learning_threshold = "learningThreshold",
    .bucket_duration = "bucketDuration",
    .an_learning_duration = "learningDuration",
    .detection_tolerance = "detectionTolerance",
    .baseline_user_locations = "baselineUserLocations",
    .baseline_duration = "baselineUserLocationsDuration",
    .speed_kmh = "speedKmh",
    .min_distance_km = "minDistanceKm",
};

enum {
    T_ID,
    T_NAME,
    T_VERSION,
    T_ENABLED,
    T_TAGS,
    T_QUERIES,
    T_OPTIONS,
    T_CASES,
    T_MESSAGE,
    T_TYPE,
    T_FILTERS,
    /* Accepted only when empty: they would change what the rule detects. */
    T_GROUP_SIGNALS_BY,
    T_REFERENCE_TABLES,
    T_THIRD_PARTY_CASES,
    T_SIGNAL_QUERIES,
    T_CALCULATED_FIELDS,
    T_SCHEDULING_OPTIONS,
    T__N
};
static const struct th_rl_key top_keys[] = {
    {"id", T_ID},
    {"name", T_NAME},
    {"version", T_VERSION},
    {"isEnabled", T_ENABLED},
    {"tags", T_TAGS},
    {"queries", T_QUERIES},
    {"options", T_OPTIONS},
    {"cases", T_CASES},
    {"message", T_MESSAGE},
    {"type", T_TYPE},
    {"filters", T_FILTERS},
    {"groupSignalsBy", T_GROUP_SIGNALS_BY},
    {"referenceTables", T_REFERENCE_TABLES},
    {"thirdPartyCases", T_THIRD_PARTY_CASES},
    {"signalQueries", T_SIGNAL_QUERIES},
    {"calculatedFields", T_CALCULATED_FIELDS},
    {"schedulingOptions", T_SCHEDULING_OPTIONS},
    /* Datadog's bookkeeping and presentation: no meaning here. */
    {"hasExtendedTitle", -1},
    {"createdAt", -1},
    {"creationAuthorId", -1},
    {"updateAuthorId", -1},
    {"updatedAt", -1},
    {"isDefault", -1},
    {"isDeleted", -1},
    {"isDeprecated", -1},
    {"isBeta", -1},
    {"isPartner", -1},
    {"defaultTags", -1},
    {"deprecationDate", -1},
    {"complianceSignalOptions", -1},
};

enum { Q_NAME, Q_QUERY, Q_GROUP_BY, Q_AGG, Q_DISTINCT, Q_METRIC, Q_METRICS, Q_SOURCE, Q__N };
static const struct th_rl_key query_keys[] = {
    {"name", Q_NAME},
    {"query", Q_QUERY},
    {"groupByFields", Q_GROUP_BY},
    {"aggregation", Q_AGG},
    {"distinctFields", Q_DISTINCT},
    {"metric", Q_METRIC},
    {"metrics", Q_METRICS},
    {"dataSource", Q_SOURCE},
    {"hasOptionalGroupByFields", -1},
    {"index", -1},
    {"indexes", -1},
    {"agentRule", -1},
};

static const struct th_rl_key case_keys[] = {
    {"name", TH_RL_C_NAME},     {"condition", TH_RL_C_CONDITION},
    {"status", TH_RL_C_STATUS}, {"notifications", -1},
    {"actions", -1},
};

enum {
    O_METHOD,
    O_WINDOW,
    O_KEEP_ALIVE,
    O_MAX_SIGNAL,
    O_NV,
    O_AN,
    O_TR,
    O_THIRD_PARTY,
    O_COMPLIANCE,
    O_SEQUENCE,
    O__N
};
static const struct th_rl_key option_keys[] = {
    {"detectionMethod", O_METHOD},
    {"evaluationWindow", O_WINDOW},
    {"keepAlive", O_KEEP_ALIVE},
    {"maxSignalDuration", O_MAX_SIGNAL},
    {"newValueOptions", O_NV},
    {"anomalyDetectionOptions", O_AN},
    {"impossibleTravelOptions", O_TR},
    {"thirdPartyRuleOptions", O_THIRD_PARTY},
    {"complianceRuleOptions", O_COMPLIANCE},
    {"sequenceDetectionOptions", O_SEQUENCE},
    {"decreaseCriticalityBasedOnEnv", -1},
    {"hardcodedEvaluatorType", -1},
};

enum { NV_FORGET, NV_LEARNING, NV_METHOD, NV_THRESHOLD, NV__N };
static const struct th_rl_key nv_keys[] = {
    {"forgetAfter", NV_FORGET},    {"learningDuration", NV_LEARNING},
    {"learningMethod", NV_METHOD}, {"learningThreshold", NV_THRESHOLD},
    {"instantaneousBaseline", -1},
};

enum { AN_BUCKET, AN_LEARNING, AN_TOLERANCE, AN__N };
static const struct th_rl_key an_keys[] = {
    {"bucketDuration", AN_BUCKET},        {"learningDuration", AN_LEARNING},
    {"detectionTolerance", AN_TOLERANCE}, {"learningPeriodBaseline", -1},
    {"instantaneousBaseline", -1},
};

enum { TR_BASELINE, TR_BASELINE_DUR, TR_IP_TRANSITION, TR__N };
static const struct th_rl_key tr_keys[] = {
    {"baselineUserLocations", TR_BASELINE},
    {"baselineUserLocationsDuration", TR_BASELINE_DUR},
    {"detectIpTransition", TR_IP_TRANSITION},
};

/* A whole number of `unit` (seconds, hours, days) into out; bad values are reported. */
static void duration(struct th_rl_ctx *c, const struct th_doc_node *n, const char *key,
                     int64_t unit, const char *unit_name, struct th_rl_dur *out)
{
    if (th__doc_is_null(n))
        return;
    int64_t v;
    if (!th__doc_int(n, &v) || v < 0 || v > INT64_C(100) * 365 * TH_MS_PER_DAY / unit) {
        th__rl_error(c, n->line, n->col, "'%s' must be a whole number of %s >= 0, not %s%.40s", key,
                     unit_name, n->kind == TH_DOC_SCALAR ? "" : th__doc_kind_name(n),
                     n->kind == TH_DOC_SCALAR ? n->s : "");
        return;
    }
    out->node = n;
    out->ms = v * unit;
}

/* True for an absent, null, false, empty list or empty map value. */
static bool is_empty(const struct th_doc_node *n)
{
    bool b;
    if (th__doc_is_null(n))
        return true;
    if (n->kind != TH_DOC_SCALAR)
        return n->n == 0;
    if (th__doc_bool(n, &b))
        return !b;
    return n->len == 0;
}

static void unsupported(struct th_rl_ctx *c, const struct th_doc_node *n, const char *key)
{
    if (!is_empty(n))
        th__rl_error(c, n->line, n->col, "'%s' is not supported by this engine", key);
}

/* Datadog filters: accepted only without queries (they would drop or require events). */
static void check_filters(struct th_rl_ctx *c, const struct th_doc_node *n)
{
    if (th__doc_is_null(n))
        return;
    if (n->kind != TH_DOC_SEQ) {
        th__rl_error(c, n->line, n->col, "'filters' must be a list, not %s", th__doc_kind_name(n));
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct th_doc_node *f = n->items[i];
        const struct th_doc_node *q = th__doc_get(f, "query");
        if (f->kind != TH_DOC_MAP)
            th__rl_error(c, f->line, f->col, "filters items must be maps, not %s",
                         th__doc_kind_name(f));
        else if (!is_empty(q))
            th__rl_error(c, f->line, f->col,
                         "filters are not supported: fold this filter into the queries "
                         "(suppress: add -(...); require: add (...))");
    }
}

int th__rule_load_json(struct th_rl_ctx *c, const struct th_doc *doc, struct th_rule **out,
                       unsigned *id_line, unsigned *id_col)
{
    *out = NULL;
    *id_line = *id_col = 0;
    const struct th_doc_node *root = th__doc_root(doc);
    if (!root || th__doc_is_null(root)) {
        th__rl_error(c, 0, 0, "empty rule file");
        return TH_ERULE;
    }
    if (root->kind != TH_DOC_MAP) {
        th__rl_error(c, root->line, root->col, "a rule file must hold a JSON object, not %s",
                     th__doc_kind_name(root));
        return TH_ERULE;
    }

    struct th_rl_src src;
    memset(&src, 0, sizeof src);
    src.k = &keys;
    src.doc = doc;
    src.root = root;

    /* The id: a slug-like `id`, else the file's base name without its extension. */
    char base[256];
    const struct th_doc_node *idn = th__doc_get(root, "id");
    if (idn && idn->kind == TH_DOC_SCALAR && th__rl_id_ok(idn->s, idn->len)) {
        src.id = idn;
        c->rule_id = idn->s;
    } else {
        const char *file = th__doc_name(doc);
        const char *slash = strrchr(file, '/');
        const char *b = slash ? slash + 1 : file;
        const char *dot = strrchr(b, '.');
        size_t n = dot && dot != b ? (size_t)(dot - b) : strlen(b);
        snprintf(base, sizeof base, "%.*s", (int)(n < sizeof base ? n : sizeof base - 1), b);
        src.id_text = base;
        if (th__rl_id_ok(base, strlen(base)))
            c->rule_id = base;
    }

    const struct th_doc_node *t[T__N] = {0};
    th__rl_map(c, root, "the rule", top_keys, TH_ARRAY_LEN(top_keys), t);
    src.name = t[T_NAME];
    src.version = t[T_VERSION];
    src.enabled = t[T_ENABLED];
    src.tags = t[T_TAGS];
    src.message = t[T_MESSAGE];
    const struct th_doc_node *type = t[T_TYPE];
    if (!th__doc_is_null(type) &&
        !(type->kind == TH_DOC_SCALAR && strcmp(type->s, "log_detection") == 0))
        th__rl_error(c, type->line, type->col,
                     "rule type '%.40s' is not supported (only log_detection)",
                     type->kind == TH_DOC_SCALAR ? type->s : th__doc_kind_name(type));
    check_filters(c, t[T_FILTERS]);
    unsupported(c, t[T_GROUP_SIGNALS_BY], "groupSignalsBy");
    unsupported(c, t[T_REFERENCE_TABLES], "referenceTables");
    unsupported(c, t[T_THIRD_PARTY_CASES], "thirdPartyCases");
    unsupported(c, t[T_SIGNAL_QUERIES], "signalQueries");
    unsupported(c, t[T_CALCULATED_FIELDS], "calculatedFields");
    unsupported(c, t[T_SCHEDULING_OPTIONS], "schedulingOptions");

    /* queries */
    src.queries = t[T_QUERIES];
    if (src.queries && !th__doc_is_null(src.queries)) {
        if (src.queries->kind != TH_DOC_SEQ) {
            th__rl_error(c, src.queries->line, src.queries->col, "'queries' must be a list, not %s",
                         th__doc_kind_name(src.queries));
        } else {
            for (size_t i = 0; i < src.queries->n; i++) {
                const struct th_doc_node *qn = src.queries->items[i];
                if (i == TH_MAX_QUERIES) {
                    th__rl_error(c, qn->line, qn->col, "more than %d queries", TH_MAX_QUERIES);
                    break;
                }
                char what[32];
                snprintf(what, sizeof what, "query %zu", i + 1);
                const struct th_doc_node *s[Q__N] = {0};
                if (!th__rl_map(c, qn, what, query_keys, TH_ARRAY_LEN(query_keys), s) ||
                    th__doc_is_null(qn)) {
                    if (th__doc_is_null(qn))
                        th__rl_error(c, qn->line, qn->col, "query %zu is empty", i + 1);
                    continue;
                }
                const struct th_doc_node *ds = s[Q_SOURCE];
                if (!th__doc_is_null(ds) &&
                    !(ds->kind == TH_DOC_SCALAR && strcmp(ds->s, "logs") == 0))
                    th__rl_error(c, ds->line, ds->col,
                                 "dataSource '%.40s' is not supported (only logs)",
                                 ds->kind == TH_DOC_SCALAR ? ds->s : th__doc_kind_name(ds));
                struct th_rl_query *q = &src.q[src.nq++];
                q->at = qn;
                q->name = s[Q_NAME];
                q->query = s[Q_QUERY];
                q->group_by = s[Q_GROUP_BY];
                q->aggregation = s[Q_AGG];
                q->distinct = s[Q_DISTINCT];
                q->fields = s[Q_METRICS];
                q->metric = s[Q_METRIC];
            }
        }
    }

    th__rl_cases(c, t[T_CASES], case_keys, TH_ARRAY_LEN(case_keys), &src);

    /* options */
    const struct th_doc_node *o[O__N] = {0};
    src.options = t[T_OPTIONS] && !th__doc_is_null(t[T_OPTIONS]) ? t[T_OPTIONS] : root;
    th__rl_map(c, t[T_OPTIONS], "options", option_keys, TH_ARRAY_LEN(option_keys), o);
    src.method = o[O_METHOD];
    duration(c, o[O_WINDOW], "evaluationWindow", TH_MS_PER_SEC, "seconds", &src.window);
    duration(c, o[O_KEEP_ALIVE], "keepAlive", TH_MS_PER_SEC, "seconds", &src.keep_alive);
    duration(c, o[O_MAX_SIGNAL], "maxSignalDuration", TH_MS_PER_SEC, "seconds", &src.max_signal);
    unsupported(c, o[O_THIRD_PARTY], "thirdPartyRuleOptions");
    unsupported(c, o[O_COMPLIANCE], "complianceRuleOptions");
    unsupported(c, o[O_SEQUENCE], "sequenceDetectionOptions");

    const struct th_doc_node *nv[NV__N] = {0}, *an[AN__N] = {0}, *tr[TR__N] = {0};
    src.nv_block = o[O_NV];
    src.an_block = o[O_AN];
    src.tr_block = o[O_TR];
    th__rl_map(c, o[O_NV], "options.newValueOptions", nv_keys, TH_ARRAY_LEN(nv_keys), nv);
    th__rl_map(c, o[O_AN], "options.anomalyDetectionOptions", an_keys, TH_ARRAY_LEN(an_keys), an);
    th__rl_map(c, o[O_TR], "options.impossibleTravelOptions", tr_keys, TH_ARRAY_LEN(tr_keys), tr);
    duration(c, nv[NV_FORGET], "forgetAfter", TH_MS_PER_DAY, "days", &src.nv_forget);
    duration(c, nv[NV_LEARNING], "learningDuration", TH_MS_PER_DAY, "days", &src.nv_learning);
    src.nv_method = nv[NV_METHOD];
    src.nv_threshold = nv[NV_THRESHOLD];
    duration(c, an[AN_BUCKET], "bucketDuration", TH_MS_PER_SEC, "seconds", &src.an_bucket);
    duration(c, an[AN_LEARNING], "learningDuration", TH_MS_PER_HOUR, "hours", &src.an_learning);
    src.an_tolerance = an[AN_TOLERANCE];
    src.tr_baseline = tr[TR_BASELINE];
    duration(c, tr[TR_BASELINE_DUR], "baselineUserLocationsDuration", TH_MS_PER_DAY, "days",
             &src.tr_baseline_dur);
    unsupported(c, tr[TR_IP_TRANSITION], "detectIpTransition");

    int rc = th__rl_build(c, &src, out, id_line, id_col);
    if (c->rule_id == base)
        c->rule_id = NULL; /* base dies with this frame */
    return rc;
}
