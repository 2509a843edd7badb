/*
 * coverage.c - the ATT&CK coverage of a rule set (coverage.h): pairs of (tactic,
 * technique, rule) collected from each rule's attack refs, sorted and deduplicated, then
 * written as a text table, a Markdown table or an ATT&CK Navigator layer.
 *
 * The tables list every tactic of the Enterprise matrix in matrix order, the uncovered ones
 * too (a gap is what a coverage table is for), with under each the techniques covered, by
 * id, and the ids of the rules covering them; a tactic named by a rule without a technique
 * of that tactic is a "tactic only" row. The layer follows the ATT&CK Navigator layer
 * format 4.5 (github.com/mitre-attack/attack-navigator, layers/spec/v4.5/layerformat.md):
 * one technique entry per (technique, tactic) covered, score = the number of rules,
 * comment = their ids; a tactic alone has no place in a layer and is left out.
 * versions.attack is the major ATT&CK version ("16"), which is how the Navigator names
 * its data versions. Nothing here reads the clock, so output is byte-identical per rule set.
 */
#include "coverage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruleset.h"

static int cmp_pair(const void *pa, const void *pb)
{
    const struct th_cov_pair *a = pa, *b = pb;
    if (a->tactic != b->tactic)
        return a->tactic < b->tactic ? -1 : 1;
    if (a->tech != b->tech) {
        if (!a->tech || !b->tech) /* the tactic alone comes last */
            return a->tech ? -1 : 1;
        int c = strcmp(a->tech->id, b->tech->id);
        if (c)
            return c;
    }
    return strcmp(a->rule->id, b->rule->id);
}

static int cmp_rule(const void *a, const void *b)
{
    return strcmp((*(const struct th_rule *const *)a)->id, (*(const struct th_rule *const *)b)->id);
}

static int add_pair(struct th_coverage *cov, size_t *cap, size_t tactic,
                    const struct th_technique *tech, const struct th_rule *r)
{
    if (th__grow((void **)&cov->pairs, cap, cov->npairs + 1, sizeof *cov->pairs) < 0)
        return TH_ENOMEM;
    cov->pairs[cov->npairs++] = (struct th_cov_pair){tactic, tech, r};
    return 0;
}

/* Adds the pairs of one rule; returns how many refs it had that the table knows. */
static int add_rule(struct th_coverage *cov, size_t *cap, const struct th_rule *r)
{
    int known = 0;
    for (size_t i = 0; i < r->nattack; i++) {
        const struct th_attack_ref *a = &r->attack[i];
        const struct th_tactic *ta = a->tactic[0] ? th__tactic_find(a->tactic) : NULL;
        const struct th_technique *te = a->technique[0] ? th__technique_find(a->technique) : NULL;
        if (ta) {
            if (add_pair(cov, cap, (size_t)ta->index, te, r) < 0)
                return TH_ENOMEM;
            known++;
        } else if (te && !a->tactic[0]) {
            /* No tactic tag at all: every tactic of the technique, as in the Navigator. */
            for (size_t t = 0; t < TH_TA_COUNT; t++)
                if (th__technique_has_tactic(te, t)) {
                    if (add_pair(cov, cap, t, te, r) < 0)
                        return TH_ENOMEM;
                    known++;
                }
        }
    }
    return known;
}

int th__coverage_build(const struct th_ruleset *rs, struct th_coverage *cov)
{
    memset(cov, 0, sizeof *cov);
    size_t cap = 0;
    cov->nrules = rs ? rs->n : 0;
    if (cov->nrules && !(cov->untagged = calloc(cov->nrules, sizeof *cov->untagged)))
        return TH_ENOMEM;
    for (size_t i = 0; i < cov->nrules; i++) {
        int known = add_rule(cov, &cap, rs->rules[i]);
        if (known < 0) {
            th__coverage_fini(cov);
            return TH_ENOMEM;
        }
        if (known)
            cov->nmapped++;
        else
            cov->untagged[cov->nuntagged++] = rs->rules[i];
    }
    if (cov->nuntagged)
        qsort(cov->untagged, cov->nuntagged, sizeof *cov->untagged, cmp_rule);
    if (cov->npairs)
        qsort(cov->pairs, cov->npairs, sizeof *cov->pairs, cmp_pair);
    /* Drop duplicates (a rule tagged twice the same way). */
    size_t n = 0;
    for (size_t i = 0; i < cov->npairs; i++)
        if (n == 0 || cmp_pair(&cov->pairs[n - 1], &cov->pairs[i]) != 0)
            cov->pairs[n++] = cov->pairs[i];
    cov->npairs = n;
    /* Tactics covered, and distinct techniques (the same id under two tactics counts
     * once: collect the ids, sort, count). */
    bool tactic_seen[TH_TA_COUNT] = {false};
    const struct th_technique **ids = n ? malloc(n * sizeof *ids) : NULL;
    if (n && !ids) {
        th__coverage_fini(cov);
        return TH_ENOMEM;
    }
    size_t nids = 0;
    for (size_t i = 0; i < n; i++) {
        tactic_seen[cov->pairs[i].tactic] = true;
        if (cov->pairs[i].tech)
            ids[nids++] = cov->pairs[i].tech;
    }
    for (size_t t = 0; t < TH_TA_COUNT; t++)
        cov->ntactics += tactic_seen[t];
    /* Techniques point into one static table: equal ids are equal pointers. */
    for (size_t i = 0; i < nids; i++) {
        bool dup = false;
        for (size_t k = 0; k < i && !dup; k++)
            dup = ids[k] == ids[i];
        if (!dup) {
            cov->ntechniques++;
            cov->nsub += th__technique_is_sub(ids[i]);
        }
    }
    free(ids);
    return 0;
}

void th__coverage_fini(struct th_coverage *cov)
{
    free(cov->pairs);
    free(cov->untagged);
    memset(cov, 0, sizeof *cov);
}

void th__coverage_summary(const struct th_coverage *cov, struct th_strbuf *sb)
{
    th__sb_addf(sb, "ATT&CK Enterprise v%s: %zu of %zu tactics and %zu technique%s",
                th__attack_version(), cov->ntactics, th__tactic_count(), cov->ntechniques,
                cov->ntechniques == 1 ? "" : "s");
    if (cov->nsub)
        th__sb_addf(sb, " (%zu of them sub-technique%s)", cov->nsub, cov->nsub == 1 ? "" : "s");
    th__sb_addf(sb, " covered by %zu rule%s", cov->nmapped, cov->nmapped == 1 ? "" : "s");
    if (cov->nuntagged)
        th__sb_addf(sb, "; %zu rule%s without ATT&CK tags", cov->nuntagged,
                    cov->nuntagged == 1 ? "" : "s");
}

/* The end of the run of pairs starting at i that share its tactic and technique. */
static size_t cell_end(const struct th_coverage *cov, size_t i)
{
    size_t k = i;
    while (k < cov->npairs && cov->pairs[k].tactic == cov->pairs[i].tactic &&
           cov->pairs[k].tech == cov->pairs[i].tech)
        k++;
    return k;
}

static void add_rule_ids(struct th_strbuf *sb, const struct th_coverage *cov, size_t i, size_t end,
                         const char *quote)
{
    for (size_t k = i; k < end; k++) {
        if (k > i)
            th__sb_adds(sb, ", ");
        th__sb_adds(sb, quote);
        th__sb_adds(sb, cov->pairs[k].rule->id);
        th__sb_adds(sb, quote);
    }
}

static void full_name(const struct th_technique *t, char *buf, size_t size)
{
    if (t)
        th__technique_full_name(t, buf, size);
    else
        snprintf(buf, size, "(the tactic, no technique)");
}

static void format_text(const struct th_coverage *cov, struct th_strbuf *sb)
{
    /* Column widths from the rows shown. */
    int wname = 20;
    for (size_t i = 0; i < cov->npairs; i++) {
        char name[320];
        full_name(cov->pairs[i].tech, name, sizeof name);
        if ((int)strlen(name) > wname)
            wname = (int)strlen(name);
    }
    th__sb_addf(sb, "MITRE ATT&CK Enterprise v%s coverage of %zu rule%s\n\n", th__attack_version(),
                cov->nrules, cov->nrules == 1 ? "" : "s");
    size_t i = 0;
    for (size_t t = 0; t < th__tactic_count(); t++) {
        const struct th_tactic *ta = th__tactic_at(t);
        th__sb_addf(sb, "%s %s\n", ta->id, ta->name);
        if (i >= cov->npairs || cov->pairs[i].tactic != t)
            th__sb_adds(sb, "  (no rule)\n");
        while (i < cov->npairs && cov->pairs[i].tactic == t) {
            size_t end = cell_end(cov, i);
            char name[320];
            full_name(cov->pairs[i].tech, name, sizeof name);
            th__sb_addf(sb, "  %-10s %-*s  ", cov->pairs[i].tech ? cov->pairs[i].tech->id : "-",
                        wname, name);
            add_rule_ids(sb, cov, i, end, "");
            th__sb_addc(sb, '\n');
            i = end;
        }
    }
    th__sb_addc(sb, '\n');
    if (cov->nuntagged) {
        th__sb_adds(sb, "Rules without ATT&CK tags: ");
        for (size_t k = 0; k < cov->nuntagged; k++)
            th__sb_addf(sb, "%s%s", k ? ", " : "", cov->untagged[k]->id);
        th__sb_addc(sb, '\n');
    }
    th__coverage_summary(cov, sb);
    th__sb_addc(sb, '\n');
}

/* Appends s for a Markdown table cell: '|' escaped, newlines as spaces. */
static void md_cell(struct th_strbuf *sb, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            th__sb_adds(sb, "\\|");
        else if (*s == '\n' || *s == '\r')
            th__sb_addc(sb, ' ');
        else
            th__sb_addc(sb, *s);
    }
}

static void format_markdown(const struct th_coverage *cov, struct th_strbuf *sb)
{
    th__sb_adds(sb, "| Tactic | Technique | Rules |\n|---|---|---|\n");
    size_t i = 0;
    for (size_t t = 0; t < th__tactic_count(); t++) {
        const struct th_tactic *ta = th__tactic_at(t);
        bool first = true;
        if (i >= cov->npairs || cov->pairs[i].tactic != t) {
            th__sb_addf(sb, "| %s %s | (none) | |\n", ta->id, ta->name);
            continue;
        }
        while (i < cov->npairs && cov->pairs[i].tactic == t) {
            size_t end = cell_end(cov, i);
            char name[320];
            full_name(cov->pairs[i].tech, name, sizeof name);
            th__sb_adds(sb, "| ");
            if (first) {
                th__sb_addf(sb, "%s ", ta->id);
                md_cell(sb, ta->name);
            }
            th__sb_adds(sb, " | ");
            if (cov->pairs[i].tech)
                th__sb_addf(sb, "%s ", cov->pairs[i].tech->id);
            md_cell(sb, name);
            th__sb_adds(sb, " | ");
            add_rule_ids(sb, cov, i, end, "`");
            th__sb_adds(sb, " |\n");
            first = false;
            i = end;
        }
    }
    th__sb_addc(sb, '\n');
    if (cov->nuntagged) {
        th__sb_adds(sb, "Rules without ATT&CK tags: ");
        for (size_t k = 0; k < cov->nuntagged; k++)
            th__sb_addf(sb, "%s`%s`", k ? ", " : "", cov->untagged[k]->id);
        th__sb_adds(sb, "\n\n");
    }
    th__coverage_summary(cov, sb);
    th__sb_adds(sb, ".\n");
}

static void json_str(struct th_strbuf *sb, const char *s)
{
    th__sb_add_json_str(sb, s, strlen(s));
}

static void format_navigator(const struct th_coverage *cov, struct th_strbuf *sb)
{
    char major[16];
    snprintf(major, sizeof major, "%s", th__attack_version());
    major[strcspn(major, ".")] = '\0';
    size_t max_score = 1;
    for (size_t i = 0; i < cov->npairs; i = cell_end(cov, i))
        if (cov->pairs[i].tech && cell_end(cov, i) - i > max_score)
            max_score = cell_end(cov, i) - i;

    th__sb_adds(sb, "{\n  \"name\": \"trailhound rules\",\n  \"versions\": {\n    \"attack\": ");
    json_str(sb, major);
    th__sb_adds(sb, ",\n    \"navigator\": ");
    json_str(sb, TH_ATTACK_NAVIGATOR_VERSION);
    th__sb_adds(sb, ",\n    \"layer\": ");
    json_str(sb, TH_ATTACK_LAYER_VERSION);
    th__sb_adds(sb, "\n  },\n  \"domain\": ");
    json_str(sb, TH_ATTACK_DOMAIN);
    struct th_strbuf desc;
    th__sb_init(&desc);
    th__sb_adds(&desc, "ATT&CK coverage of trailhound rules (score: the number of rules; comment: "
                       "their ids). ");
    th__coverage_summary(cov, &desc);
    th__sb_adds(&desc, ".");
    th__sb_adds(sb, ",\n  \"description\": ");
    th__sb_add_json_str(sb, desc.p ? desc.p : "", desc.len);
    th__sb_fini(&desc);
    th__sb_adds(sb, ",\n  \"sorting\": 3,\n  \"layout\": {\n    \"layout\": \"side\",\n"
                    "    \"showID\": true,\n    \"showName\": true,\n"
                    "    \"showAggregateScores\": false,\n    \"countUnscored\": false,\n"
                    "    \"aggregateFunction\": \"average\",\n"
                    "    \"expandedSubtechniques\": \"annotated\"\n  },\n"
                    "  \"hideDisabled\": false,\n  \"techniques\": [");
    bool first = true;
    for (size_t i = 0; i < cov->npairs;) {
        size_t end = cell_end(cov, i);
        const struct th_cov_pair *p = &cov->pairs[i];
        if (!p->tech) {
            i = end;
            continue;
        }
        /* A technique whose sub-techniques are covered under the same tactic opens on them
         * (showSubtechniques only belongs on a technique that has sub-techniques). */
        bool has_sub = false;
        for (size_t k = end; k < cov->npairs && cov->pairs[k].tactic == p->tactic && !has_sub;
             k++)
            has_sub = cov->pairs[k].tech && th__technique_parent(cov->pairs[k].tech) == p->tech;
        th__sb_adds(sb, first ? "\n    {\n      \"techniqueID\": "
                              : ",\n    {\n      \"techniqueID\": ");
        first = false;
        json_str(sb, p->tech->id);
        th__sb_adds(sb, ",\n      \"tactic\": ");
        json_str(sb, th__tactic_at(p->tactic)->shortname);
        th__sb_addf(sb, ",\n      \"score\": %zu,\n      \"comment\": ", end - i);
        struct th_strbuf ids;
        th__sb_init(&ids);
        add_rule_ids(&ids, cov, i, end, "");
        th__sb_add_json_str(sb, ids.p ? ids.p : "", ids.len);
        th__sb_fini(&ids);
        th__sb_adds(sb, ",\n      \"enabled\": true");
        if (has_sub)
            th__sb_adds(sb, ",\n      \"showSubtechniques\": true");
        th__sb_adds(sb, "\n    }");
        i = end;
    }
    th__sb_adds(sb, first ? "],\n" : "\n  ],\n");
    th__sb_addf(sb,
                "  \"gradient\": {\n    \"colors\": [\n      \"#ffffff\",\n      \"#66b1ff\"\n"
                "    ],\n    \"minValue\": 0,\n    \"maxValue\": %zu\n  },\n"
                "  \"legendItems\": [],\n  \"metadata\": [\n    {\n      \"name\": \"generator\",\n"
                "      \"value\": \"trailhound %s\"\n    }\n  ],\n  \"links\": [],\n"
                "  \"showTacticRowBackground\": false,\n  \"tacticRowBackground\": \"#dddddd\",\n"
                "  \"selectTechniquesAcrossTactics\": true,\n"
                "  \"selectSubtechniquesWithParent\": false,\n"
                "  \"selectVisibleTechniques\": false\n}\n",
                max_score, TH_VERSION);
}

void th__coverage_format(const struct th_coverage *cov, enum th_coverage_format f,
                         struct th_strbuf *sb)
{
    switch (f) {
    case TH_COVERAGE_TEXT:
        format_text(cov, sb);
        return;
    case TH_COVERAGE_MARKDOWN:
        format_markdown(cov, sb);
        return;
    case TH_COVERAGE_NAVIGATOR:
        format_navigator(cov, sb);
        return;
    }
    format_text(cov, sb);
}

int th_coverage_write(const struct th_ruleset *rs, enum th_coverage_format f, FILE *fp,
                      struct th_err *err)
{
    struct th_coverage cov;
    if (th__coverage_build(rs, &cov) < 0)
        return th__err(err, TH_ENOMEM, NULL, "out of memory");
    struct th_strbuf sb;
    th__sb_init(&sb);
    th__coverage_format(&cov, f, &sb);
    th__coverage_fini(&cov);
    int rc = 0;
    if (sb.oom)
        rc = th__err(err, TH_ENOMEM, NULL, "out of memory");
    else if (fwrite(sb.p, 1, sb.len, fp) != sb.len || fflush(fp) != 0 || ferror(fp))
        rc = th__err(err, TH_EIO, NULL, "cannot write the coverage");
    th__sb_fini(&sb);
    return rc;
}
