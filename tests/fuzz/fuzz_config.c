/*
 * fuzz_config.c - libFuzzer target for the `-c FILE` settings loader (config.c, over the
 * document parser doc.c and libyaml): a table with a key of every kind (bool, string, words,
 * duration, size, integer range, list, map), spelled as the CLI spells its options.
 *
 * Findings, besides crashes, leaks and hangs: a failure without a one-line reason and a
 * location; a success whose items break the table (a value the loader's own check refuses,
 * a position of 0, a map item without '='); and any message that quotes a secret: the seeds
 * carry `kafka: {sasl.password: hunter2}`, and no error may ever contain "hunter2" (SPEC:
 * secrets such as -X sasl.password are never printed).
 *
 * Ignores: what the CLI does with the items (its option parser; tests/cli cover it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
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
            strstr(err.msg, "hunter2") || strstr(err.where, "hunter2")) {
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
