/*
 * output_ocsf.c - `--format ocsf`: each signal as one OCSF Detection Finding object
 * (class_uid 2004, category Findings), pinned to OCSF schema 1.3.0 (TH_OCSF_VERSION), one
 * JSON line per signal, keys in a fixed order, deterministic like the JSON format.
 *
 * Mapping (the required attributes of class 2004 in OCSF 1.3.0 are activity_id,
 * category_uid, class_uid, finding_info {uid, title}, metadata {product, version},
 * severity_id, time and type_uid; all are always written):
 *   activity_id      1 Create (signal new), 2 Update (update), 3 Close (closed)
 *   type_uid         class_uid * 100 + activity_id
 *   severity_id      info 1 Informational, low 2, medium 3, high 4, critical 5
 *   status_id        1 New while the signal lives; 99 Other with status "Closed" once it
 *                    closed (trailhound does no triage, so Resolved would claim too much)
 *   time             last_seen in ms since the epoch; start_time/end_time first/last seen
 *   count            events_matched
 *   message          the rendered message; finding_info.desc too
 *   finding_info     uid = signal id, title = rule name, first/last_seen_time, types = the
 *                    detection method, analytic {uid rule id, name, type_id 1 "Rule",
 *                    version}, attacks from the rule's tactic/technique tags: tactic {uid,
 *                    name}, technique {uid, name} (for a sub-technique its parent, with
 *                    sub_technique {uid, name}), version = the ATT&CK version
 *   evidences        one {"data": <event>} per sample, the event whole
 *   unmapped         what OCSF has no place for: group, case, method, tags, event_ids,
 *                    details
 * Not written: observables, resources, actor, cloud (they would need field extraction
 * from the events per signal; the events are in evidences).
 */
#include "output.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "attack.h"

#define OCSF_CLASS_UID 2004
#define OCSF_CATEGORY_UID 2

_Static_assert(TH_SEVERITY__COUNT == 5, "one OCSF severity per trailhound severity");

/* OCSF severity_id captions, indexed by enum th_severity (severity_id = index + 1). */
static const char *const severity_caption[TH_SEVERITY__COUNT] = {"Informational", "Low", "Medium",
                                                                 "High", "Critical"};

static void add_str(struct th_strbuf *sb, const char *s)
{
    th__sb_add_json_str(sb, s ? s : "", s ? strlen(s) : 0);
}

/* {"uid":"...","name":"..."} */
static void add_uid_name(struct th_strbuf *sb, const char *uid, const char *name)
{
    th__sb_adds(sb, "{\"uid\":");
    add_str(sb, uid);
    th__sb_adds(sb, ",\"name\":");
    add_str(sb, name);
    th__sb_addc(sb, '}');
}

static void add_attacks(const struct th_rule *r, struct th_strbuf *sb)
{
    th__sb_addc(sb, '[');
    bool first = true;
    for (size_t i = 0; i < r->nattack; i++) {
        const struct th_attack_ref *a = &r->attack[i];
        const struct th_tactic *ta = a->tactic[0] ? th__tactic_find(a->tactic) : NULL;
        const struct th_technique *te = a->technique[0] ? th__technique_find(a->technique) : NULL;
        if (!ta && !te)
            continue; /* the loader refuses unknown ids; nothing to say about one */
        if (!first)
            th__sb_addc(sb, ',');
        first = false;
        th__sb_addc(sb, '{');
        bool any = false;
        if (ta) {
            th__sb_adds(sb, "\"tactic\":");
            add_uid_name(sb, ta->id, ta->name);
            any = true;
        }
        if (te) {
            const struct th_technique *parent = th__technique_parent(te);
            if (any)
                th__sb_addc(sb, ',');
            th__sb_adds(sb, "\"technique\":");
            add_uid_name(sb, parent ? parent->id : te->id, parent ? parent->name : te->name);
            if (parent) {
                th__sb_adds(sb, ",\"sub_technique\":");
                add_uid_name(sb, te->id, te->name);
            }
        }
        th__sb_adds(sb, ",\"version\":");
        add_str(sb, th__attack_version());
        th__sb_addc(sb, '}');
    }
    th__sb_addc(sb, ']');
}

static void format_ocsf(const struct th_signal *s, struct th_strbuf *sb)
{
    const struct th_rule *r = s->rule;
    const struct th_sigstate *st = s->st;
    int activity;
    const char *activity_name;
    switch (s->status) {
    case TH_SIGNAL_UPDATE:
        activity = 2;
        activity_name = "Update";
        break;
    case TH_SIGNAL_CLOSED:
        activity = 3;
        activity_name = "Close";
        break;
    case TH_SIGNAL_NEW:
    default:
        activity = 1;
        activity_name = "Create";
        break;
    }
    enum th_severity sev = r->cases[st->case_idx].severity;
    if ((int)sev < 0 || sev >= TH_SEVERITY__COUNT)
        sev = TH_SEVERITY_INFO;

    th__sb_addf(sb,
                "{\"class_uid\":%d,\"class_name\":\"Detection Finding\",\"category_uid\":%d,"
                "\"category_name\":\"Findings\",\"activity_id\":%d,\"activity_name\":\"%s\","
                "\"type_uid\":%d,\"type_name\":\"Detection Finding: %s\",\"severity_id\":%d,"
                "\"severity\":\"%s\",",
                OCSF_CLASS_UID, OCSF_CATEGORY_UID, activity, activity_name,
                OCSF_CLASS_UID * 100 + activity, activity_name, (int)sev + 1,
                severity_caption[sev]);
    if (s->status == TH_SIGNAL_CLOSED)
        th__sb_adds(sb, "\"status_id\":99,\"status\":\"Closed\",");
    else
        th__sb_adds(sb, "\"status_id\":1,\"status\":\"New\",");
    th__sb_adds(sb, "\"time\":");
    th__sb_add_i64(sb, st->last_seen);
    th__sb_adds(sb, ",\"start_time\":");
    th__sb_add_i64(sb, st->first_seen);
    th__sb_adds(sb, ",\"end_time\":");
    th__sb_add_i64(sb, st->last_seen);
    th__sb_addf(sb, ",\"count\":%llu,\"message\":", (unsigned long long)st->events_matched);
    add_str(sb, st->message);

    th__sb_adds(sb, ",\"metadata\":{\"version\":\"" TH_OCSF_VERSION "\",\"product\":{\"name\":"
                    "\"trailhound\",\"vendor_name\":\"trailhound\",\"version\":\"" TH_VERSION
                    "\"}}");

    th__sb_adds(sb, ",\"finding_info\":{\"uid\":");
    add_str(sb, st->id);
    th__sb_adds(sb, ",\"title\":");
    add_str(sb, r->name);
    th__sb_adds(sb, ",\"desc\":");
    add_str(sb, st->message);
    th__sb_adds(sb, ",\"first_seen_time\":");
    th__sb_add_i64(sb, st->first_seen);
    th__sb_adds(sb, ",\"last_seen_time\":");
    th__sb_add_i64(sb, st->last_seen);
    th__sb_adds(sb, ",\"types\":[");
    add_str(sb, th__method_name(r->method));
    th__sb_adds(sb, "],\"analytic\":{\"uid\":");
    add_str(sb, r->id);
    th__sb_adds(sb, ",\"name\":");
    add_str(sb, r->name);
    th__sb_addf(sb, ",\"type_id\":1,\"type\":\"Rule\",\"version\":\"%d\"},\"attacks\":",
                r->version);
    add_attacks(r, sb);
    th__sb_addc(sb, '}');

    th__sb_adds(sb, ",\"evidences\":[");
    for (size_t i = 0; i < st->nsamples; i++) {
        th__sb_adds(sb, i ? ",{\"data\":" : "{\"data\":");
        th__sb_add_json_text(sb, st->samples[i], strlen(st->samples[i]));
        th__sb_addc(sb, '}');
    }

    th__sb_adds(sb, "],\"unmapped\":{\"group\":");
    th__output_group(s, sb);
    th__sb_adds(sb, ",\"case\":");
    add_str(sb, r->cases[st->case_idx].name);
    th__sb_adds(sb, ",\"method\":");
    add_str(sb, th__method_name(r->method));
    th__sb_adds(sb, ",\"tags\":[");
    for (size_t i = 0; i < r->ntags; i++) {
        if (i)
            th__sb_addc(sb, ',');
        add_str(sb, r->tags[i]);
    }
    th__sb_adds(sb, "],\"event_ids\":[");
    for (size_t i = 0; i < st->nevent_ids; i++) {
        if (i)
            th__sb_addc(sb, ',');
        add_str(sb, st->event_ids[i]);
    }
    th__sb_adds(sb, "],\"details\":");
    th__sb_adds(sb, st->details ? st->details : "{}");
    th__sb_adds(sb, "}}");
}

const struct th_output_ops th__output_ocsf = {"ocsf", format_ocsf};
