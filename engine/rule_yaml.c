/*
 * rule_yaml.c - the SPEC §6 rule format: one rule per YAML file, Datadog's rule model in
 * snake_case, plus an optional free-text `description` for people (accepted, type-checked
 * and otherwise ignored). This file only walks the document (doc.h): it checks the shape (maps
 * where maps belong, lists where lists belong), rejects unknown keys at every level, parses
 * durations ("0", "30s", "5m", "1h", "1d", "1w") and hands the nodes to th__rl_build
 * (rule_load.c), which does the rest of the validation and the compiling.
 */
#include "rule_load.h"

#include <stdio.h>
#include <string.h>

#include "timeutil.h"

static const struct th_rl_keys keys = {
    .json = false,
    .id = "id",
    .name = "name",
    .version = "version",
    .enabled = "enabled",
    .tags = "tags",
    .queries = "queries",
    .query = "query",
    .qname = "name",
    .group_by = "group_by",
    .distinct = "distinct",
    .fields = "fields",
    .aggregation = "aggregation",
    .cases = "cases",
    .status = "status",
    .condition = "condition",
    .message = "message",
    .options = "options",
    .detection_method = "detection_method",
    .evaluation_window = "evaluation_window",
    .keep_alive = "keep_alive",
    .max_signal_duration = "max_signal_duration",
    .new_value = "new_value",
    .anomaly = "anomaly_detection",
    .travel = "impossible_travel",
    .forget_after = "forget_after",
    .nv_learning_duration = "learning_duration",
    .learning_method = "learning_method",
    .learning_threshold = "learning_threshold",
    .bucket_duration = "bucket_duration",
    .an_learning_duration = "learning_duration",
    .detection_tolerance = "detection_tolerance",
    .baseline_user_locations = "baseline_user_locations",
    .baseline_duration = "baseline_duration",
    .speed_kmh = "speed_kmh",
    .min_distance_km = "min_distance_km",
};

enum {
    T_ID,
    T_NAME,
    T_VERSION,
    T_ENABLED,
    T_DESCRIPTION,
    T_TAGS,
    T_QUERIES,
    T_OPTIONS,
    T_CASES,
    T_MESSAGE,
    T__N
};
static const struct th_rl_key top_keys[] = {
    {"id", T_ID},
    {"name", T_NAME},
    {"version", T_VERSION},
    {"enabled", T_ENABLED},
    {"tags", T_TAGS},
    {"queries", T_QUERIES},
    {"options", T_OPTIONS},
    {"cases", T_CASES},
    {"message", T_MESSAGE},
    /* Documentation for people (what it detects, false positives); not compiled. */
    {"description", T_DESCRIPTION},
};

enum { Q_NAME, Q_QUERY, Q_GROUP_BY, Q_AGG, Q_DISTINCT, Q_FIELDS, Q__N };
static const struct th_rl_key query_keys[] = {
    {"name", Q_NAME},       {"query", Q_QUERY},       {"group_by", Q_GROUP_BY},
    {"aggregation", Q_AGG}, {"distinct", Q_DISTINCT}, {"fields", Q_FIELDS},
};

static const struct th_rl_key case_keys[] = {
    {"name", TH_RL_C_NAME}, {"condition", TH_RL_C_CONDITION}, {"status", TH_RL_C_STATUS}};

enum { O_METHOD, O_WINDOW, O_KEEP_ALIVE, O_MAX_SIGNAL, O_NV, O_AN, O_TR, O__N };
static const struct th_rl_key option_keys[] = {
    {"detection_method", O_METHOD},
    {"evaluation_window", O_WINDOW},
    {"keep_alive", O_KEEP_ALIVE},
    {"max_signal_duration", O_MAX_SIGNAL},
    {"new_value", O_NV},
    {"anomaly_detection", O_AN},
    {"impossible_travel", O_TR},
};

enum { NV_FORGET, NV_LEARNING, NV_METHOD, NV_THRESHOLD, NV__N };
static const struct th_rl_key nv_keys[] = {
    {"forget_after", NV_FORGET},
    {"learning_duration", NV_LEARNING},
    {"learning_method", NV_METHOD},
    {"learning_threshold", NV_THRESHOLD},
};

enum { AN_BUCKET, AN_LEARNING, AN_TOLERANCE, AN__N };
static const struct th_rl_key an_keys[] = {
    {"bucket_duration", AN_BUCKET},
    {"learning_duration", AN_LEARNING},
    {"detection_tolerance", AN_TOLERANCE},
};

enum { TR_BASELINE, TR_BASELINE_DUR, TR_SPEED, TR_MIN_DISTANCE, TR__N };
static const struct th_rl_key tr_keys[] = {
    {"baseline_user_locations", TR_BASELINE},
    {"baseline_duration", TR_BASELINE_DUR},
    {"speed_kmh", TR_SPEED},
    {"min_distance_km", TR_MIN_DISTANCE},
};

/* A duration written "5m": into out (node stays NULL when absent or bad, bad reported). */
static void duration(struct th_rl_ctx *c, const struct th_doc_node *n, const char *key,
                     struct th_rl_dur *out)
{
    if (th__doc_is_null(n))
        return;
    int64_t ms;
    if (n->kind != TH_DOC_SCALAR) {
        th__rl_error(c, n->line, n->col, "'%s' must be a duration such as 5m, not %s", key,
                     th__doc_kind_name(n));
        return;
    }
    if (!th__duration_parse(n->s, n->len, &ms)) {
        th__rl_error(c, n->line, n->col,
                     "bad duration '%.40s' for '%s' (a whole number and a unit: s, m, h, d or "
                     "w, e.g. 5m; or 0)",
                     n->s, key);
        return;
    }
    out->node = n;
    out->ms = ms;
}

int th__rule_load_yaml(struct th_rl_ctx *c, const struct th_doc *doc, struct th_rule **out,
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
        th__rl_error(c, root->line, root->col, "a rule file must hold a map, not %s",
                     th__doc_kind_name(root));
        return TH_ERULE;
    }
    /* Name the rule in diagnostics from the start when its id is usable. */
    const struct th_doc_node *idn = th__doc_get(root, "id");
    if (idn && idn->kind == TH_DOC_SCALAR && th__rl_id_ok(idn->s, idn->len))
        c->rule_id = idn->s;

    struct th_rl_src src;
    memset(&src, 0, sizeof src);
    src.k = &keys;
    src.doc = doc;
    src.root = root;
    const struct th_doc_node *t[T__N] = {0};
    th__rl_map(c, root, "the rule", top_keys, TH_ARRAY_LEN(top_keys), t);
    src.id = t[T_ID];
    src.name = t[T_NAME];
    src.version = t[T_VERSION];
    src.enabled = t[T_ENABLED];
    src.tags = t[T_TAGS];
    src.message = t[T_MESSAGE];
    const struct th_doc_node *desc = t[T_DESCRIPTION];
    if (!th__doc_is_null(desc) && desc->kind != TH_DOC_SCALAR)
        th__rl_error(c, desc->line, desc->col, "'description' must be a string, not %s",
                     th__doc_kind_name(desc));

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
                struct th_rl_query *q = &src.q[src.nq++];
                q->at = qn;
                q->name = s[Q_NAME];
                q->query = s[Q_QUERY];
                q->group_by = s[Q_GROUP_BY];
                q->aggregation = s[Q_AGG];
                q->distinct = s[Q_DISTINCT];
                q->fields = s[Q_FIELDS];
            }
        }
    }

    th__rl_cases(c, t[T_CASES], case_keys, TH_ARRAY_LEN(case_keys), &src);

    /* options */
    const struct th_doc_node *o[O__N] = {0};
    src.options = t[T_OPTIONS] && !th__doc_is_null(t[T_OPTIONS]) ? t[T_OPTIONS] : root;
    th__rl_map(c, t[T_OPTIONS], "options", option_keys, TH_ARRAY_LEN(option_keys), o);
    src.method = o[O_METHOD];
    duration(c, o[O_WINDOW], "evaluation_window", &src.window);
    duration(c, o[O_KEEP_ALIVE], "keep_alive", &src.keep_alive);
    duration(c, o[O_MAX_SIGNAL], "max_signal_duration", &src.max_signal);

    const struct th_doc_node *nv[NV__N] = {0}, *an[AN__N] = {0}, *tr[TR__N] = {0};
    src.nv_block = o[O_NV];
    src.an_block = o[O_AN];
    src.tr_block = o[O_TR];
    th__rl_map(c, o[O_NV], "options.new_value", nv_keys, TH_ARRAY_LEN(nv_keys), nv);
    th__rl_map(c, o[O_AN], "options.anomaly_detection", an_keys, TH_ARRAY_LEN(an_keys), an);
    th__rl_map(c, o[O_TR], "options.impossible_travel", tr_keys, TH_ARRAY_LEN(tr_keys), tr);
    duration(c, nv[NV_FORGET], "forget_after", &src.nv_forget);
    duration(c, nv[NV_LEARNING], "learning_duration", &src.nv_learning);
    src.nv_method = nv[NV_METHOD];
    src.nv_threshold = nv[NV_THRESHOLD];
    duration(c, an[AN_BUCKET], "bucket_duration", &src.an_bucket);
    duration(c, an[AN_LEARNING], "learning_duration", &src.an_learning);
    src.an_tolerance = an[AN_TOLERANCE];
    src.tr_baseline = tr[TR_BASELINE];
    duration(c, tr[TR_BASELINE_DUR], "baseline_duration", &src.tr_baseline_dur);
    src.tr_speed = tr[TR_SPEED];
    src.tr_min_distance = tr[TR_MIN_DISTANCE];

    return th__rl_build(c, &src, out, id_line, id_col);
}
