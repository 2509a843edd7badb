/*
 * output_json.c - the signal JSON line of SPEC §9, keys in the documented order, and the
 * format table. Everything written is deterministic: the same signal gives the same bytes.
 * Every line is strict JSON in valid UTF-8: strings are escaped, invalid UTF-8 becomes
 * U+FFFD, and the samples (the events' own text, passed on by the reader as json-c accepted
 * them) get the same treatment inside their strings.
 */
#include "output.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "attack.h"
#include "groups.h"

const char *th__signal_status_name(enum th_signal_status st)
{
    switch (st) {
    case TH_SIGNAL_NEW:
        return "new";
    case TH_SIGNAL_UPDATE:
        return "update";
    case TH_SIGNAL_CLOSED:
        return "closed";
    }
    return "new";
}

static void add_str(struct th_strbuf *sb, const char *s)
{
    th__sb_add_json_str(sb, s ? s : "", s ? strlen(s) : 0);
}

void th__output_group(const struct th_signal *s, struct th_strbuf *sb)
{
    const struct th_rule_query *q = &s->rule->queries[0];
    const char *p = s->group_key, *end = s->group_key + s->group_key_len;
    struct th_strbuf value;
    th__sb_init(&value);
    th__sb_addc(sb, '{');
    for (size_t i = 0; i < q->ngroup_by; i++) {
        th__group_key_take(&p, end, &value);
        if (i)
            th__sb_addc(sb, ',');
        th__sb_addc(sb, '"');
        if (q->group_by[i].ns == TH_NS_ATTR)
            th__sb_addc(sb, '@');
        th__sb_adds(sb, q->group_by[i].name); /* names are [A-Za-z0-9_.-]: no escaping */
        th__sb_adds(sb, "\":");
        th__sb_add_json_str(sb, value.p, value.len);
    }
    th__sb_addc(sb, '}');
    th__sb_fini(&value);
}

static void add_attack(const struct th_rule *r, struct th_strbuf *sb)
{
    th__sb_addc(sb, '[');
    for (size_t i = 0; i < r->nattack; i++) {
        const struct th_attack_ref *a = &r->attack[i];
        const struct th_tactic *ta = th__tactic_find(a->tactic);
        if (i)
            th__sb_addc(sb, ',');
        th__sb_adds(sb, "{\"tactic\":");
        add_str(sb, a->tactic);
        th__sb_adds(sb, ",\"tactic_name\":");
        add_str(sb, ta ? ta->name : "");
        if (a->technique[0]) {
            const struct th_technique *te = th__technique_find(a->technique);
            char name[256] = "";
            if (te)
                th__technique_full_name(te, name, sizeof name);
            th__sb_adds(sb, ",\"technique\":");
            add_str(sb, a->technique);
            th__sb_adds(sb, ",\"technique_name\":");
            add_str(sb, name);
        }
        th__sb_addc(sb, '}');
    }
    th__sb_addc(sb, ']');
}

static void format_json(const struct th_signal *s, struct th_strbuf *sb)
{
    const struct th_rule *r = s->rule;
    const struct th_sigstate *st = s->st;
    th__sb_adds(sb, "{\"type\":\"signal\",\"id\":\"");
    th__sb_adds(sb, st->id);
    th__sb_adds(sb, "\",\"status\":\"");
    th__sb_adds(sb, th__signal_status_name(s->status));
    th__sb_adds(sb, "\",\"rule\":{\"id\":");
    add_str(sb, r->id);
    th__sb_adds(sb, ",\"name\":");
    add_str(sb, r->name);
    th__sb_addf(sb, ",\"version\":%d},\"severity\":\"", r->version);
    th__sb_adds(sb, th__severity_name(r->cases[st->case_idx].severity));
    th__sb_adds(sb, "\",\"title\":");
    add_str(sb, r->name);
    th__sb_adds(sb, ",\"case\":");
    add_str(sb, r->cases[st->case_idx].name);
    th__sb_adds(sb, ",\"method\":\"");
    th__sb_adds(sb, th__method_name(r->method));
    th__sb_adds(sb, "\",\"attack\":");
    add_attack(r, sb);
    th__sb_adds(sb, ",\"tags\":[");
    for (size_t i = 0; i < r->ntags; i++) {
        if (i)
            th__sb_addc(sb, ',');
        add_str(sb, r->tags[i]);
    }
    th__sb_adds(sb, "],\"group\":");
    th__output_group(s, sb);
    th__sb_adds(sb, ",\"first_seen\":");
    th__sb_add_time(sb, st->first_seen, true);
    th__sb_adds(sb, ",\"last_seen\":");
    th__sb_add_time(sb, st->last_seen, true);
    th__sb_addf(sb, ",\"events_matched\":%llu,\"event_ids\":[",
                (unsigned long long)st->events_matched);
    for (size_t i = 0; i < st->nevent_ids; i++) {
        if (i)
            th__sb_addc(sb, ',');
        add_str(sb, st->event_ids[i]);
    }
    th__sb_adds(sb, "],\"message\":");
    add_str(sb, st->message);
    th__sb_adds(sb, ",\"details\":");
    th__sb_adds(sb, st->details ? st->details : "{}");
    th__sb_adds(sb, ",\"samples\":[");
    for (size_t i = 0; i < st->nsamples; i++) {
        if (i)
            th__sb_addc(sb, ',');
        /* already JSON: the event's own text */
        th__sb_add_json_text(sb, st->samples[i], strlen(st->samples[i]));
    }
    th__sb_adds(sb, "]}");
}

const struct th_output_ops th__output_json = {"json", format_json};

const struct th_output_ops *th__output_ops(enum th_format f)
{
    switch (f) {
    case TH_FORMAT_JSON:
        return &th__output_json;
    case TH_FORMAT_OCSF:
        return &th__output_ocsf;
    }
    return NULL;
}
