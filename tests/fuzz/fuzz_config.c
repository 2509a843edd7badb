/*
 * fuzz_config.c - libFuzzer target for the `-c FILE` settings loader (config.c, over the
 * document parser doc.c and libyaml): a table with a key of every kind (bool, string, words,
 * duration, size, integer range, list, map), spelled as the CLI spells its options.
 *
 * Findings, besides crashes, leaks and hangs: a failure without a one-line reason and a
 * location; a success whose items break the table (a value the loader's own check refuses,
 * a position of 0, a map item without '='); and any message that quotes a secret: the seeds
 * carry `kafka: {sasl.password: hunter2}`, and no error may contain "hunter2" unless it
 * also occurs outside the values of the `kafka` map (a key may be quoted back; SPEC:
 * secrets such as -X sasl.password are never printed).
 *
 * Ignores: what the CLI does with the items (its option parser; tests/cli cover it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "doc.h"
#include "fuzz_common.h"

static const char *const formats[] = {"json", "ocsf", NULL};

static const struct th_config_key keys[] = {
    {"rules", TH_CONFIG_LIST, 1, 0, 0, NULL},
    {"output", TH_CONFIG_STRING, 2, 0, 0, NULL},
    {"format", TH_CONFIG_STRING, 3, 0, 0, formats},
    {"signal_updates", TH_CONFIG_BOOL, 4, 0, 0, NULL},
    {"max_lateness", TH_CONFIG_DURATION, 5, 0, 0, NULL},
    {"max_event_size", TH_CONFIG_SIZE, 6, 0, 0, NULL},
    {"max_depth", TH_CONFIG_INT, 7, 2, 10000, NULL},
    {"max_groups", TH_CONFIG_SIZE, 8, 0, 0, NULL},
    {"regex_match_limit", TH_CONFIG_INT, 9, 1, 4294967295LL, NULL},
    {"kafka", TH_CONFIG_MAP, 10, 0, 0, NULL},
    {"sources", TH_CONFIG_LIST, 11, 0, 0, NULL},
    {"stats_interval", TH_CONFIG_DURATION, 12, 0, 0, NULL},
};

/* True when "hunter2" occurs in a scalar of n that is not a secret: anything but the
 * values of the root's `kafka` map (keys are never secrets, and may be quoted back). */
static bool marker_outside_secrets(const struct th_doc_node *n, bool in_kafka_values)
{
    if (!n)
        return false;
    if (n->kind == TH_DOC_SCALAR)
        return !in_kafka_values && n->s && strstr(n->s, "hunter2");
    size_t nitems = n->kind == TH_DOC_MAP ? 2 * n->n : n->n; /* a map's n counts pairs */
    for (size_t i = 0; i < nitems; i++) {
        bool is_value = n->kind == TH_DOC_MAP && i % 2 == 1;
        bool kafka = false;
        if (is_value && n->items[i - 1]->kind == TH_DOC_SCALAR && n->items[i - 1]->s)
            kafka = strcmp(n->items[i - 1]->s, "kafka") == 0;
        if (marker_outside_secrets(n->items[i], (in_kafka_values && is_value) || kafka))
            return true;
    }
    return false;
}

/* True when an error quoting "hunter2" would be quoting a secret. */
static bool secret_only(const uint8_t *data, size_t size)
{
    struct th_doc *d = NULL;
    struct th_err err;
    memset(&err, 0, sizeof err);
    if (th__doc_parse("fuzz.yaml", (const char *)data, size, false, &d, &err) < 0)
        return !strstr(err.msg, "duplicate key"); /* only that YAML error quotes: a key */
    bool r = !marker_outside_secrets(th__doc_root(d), false);
    th__doc_free(d);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    struct th_config *c = NULL;
    struct th_err err;
    memset(&err, 0, sizeof err);
    size_t nkeys = sizeof keys / sizeof keys[0];
    int rc = th__config_parse("fuzz.yaml", (const char *)data, size, keys, nkeys, &c, &err);
    if (rc < 0) {
        if (c || !err.msg[0] || strchr(err.msg, '\n') || strchr(err.where, '\n') ||
            ((strstr(err.msg, "hunter2") || strstr(err.where, "hunter2")) &&
             secret_only(data, size))) {
            fprintf(stderr, "fuzz_config: bad error: %s: %s\n", err.where, err.msg);
            abort();
        }
        return 0;
    }
    if (!c)
        abort();
    for (size_t i = 0; i < c->n; i++) {
        const struct th_config_item *it = &c->items[i];
        char why[160];
        if (!it->key || !it->value || it->line == 0 || it->col == 0)
            abort();
        if (it->key->type == TH_CONFIG_MAP) {
            if (!strchr(it->value, '=') || it->value[0] == '=')
                abort();
        } else if (it->key->type == TH_CONFIG_BOOL) {
            if (strcmp(it->value, "true"))
                abort();
        } else if (!th__config_value_ok(it->key, it->value, why, sizeof why)) {
            fprintf(stderr, "fuzz_config: item %s='%s' refused by its own check: %s\n",
                    it->key->key, it->value, why);
            abort();
        }
        if (it->key->type == TH_CONFIG_DURATION) {
            long long ms;
            if (!th__config_duration(it->value, &ms) || ms < 0)
                abort();
        }
    }
    th__config_free(c);
    return 0;
}
