/*
 * test_config.c - the settings file (engine/config.c): every type of the declarative key
 * table, its checks and their file:line:col errors, key spelling, file reading limits.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

enum { K_STATS, K_OUTPUT, K_FORMAT, K_LATE, K_SIZE, K_DEPTH, K_RULES, K_KAFKA };

static const char *const formats[] = {"json", "ocsf", NULL};
static const struct th_config_key keys[] = {
    {"stats", TH_CONFIG_BOOL, K_STATS, 0, 0, NULL},
    {"output", TH_CONFIG_STRING, K_OUTPUT, 0, 0, NULL},
    {"format", TH_CONFIG_STRING, K_FORMAT, 0, 0, formats},
    {"max_lateness", TH_CONFIG_DURATION, K_LATE, 0, 0, NULL},
    {"max_event_size", TH_CONFIG_SIZE, K_SIZE, 0, 0, NULL},
    {"max_depth", TH_CONFIG_INT, K_DEPTH, 2, 10000, NULL},
    {"rules", TH_CONFIG_LIST, K_RULES, 0, 0, NULL},
    {"kafka", TH_CONFIG_MAP, K_KAFKA, 0, 0, NULL},
};
#define NKEYS (sizeof keys / sizeof keys[0])

static struct th_config *parse_ok(const char *text)
{
    struct th_config *c = NULL;
    struct th_err err = {0};
    int rc = th__config_parse("cfg.yaml", text, strlen(text), keys, NKEYS, &c, &err);
    CHECK_INT(rc, 0);
    if (rc)
        fprintf(stderr, "  unexpected error: %s: %s\n", err.where, err.msg);
    return c;
}

/* Parses text that must fail with code and err "where: msg" containing want. */
static void parse_bad(const char *text, int code, const char *where, const char *want)
{
    struct th_config *c = (struct th_config *)1;
    struct th_err err = {0};
    int rc = th__config_parse("cfg.yaml", text, strlen(text), keys, NKEYS, &c, &err);
    CHECK_INT(rc, code);
    CHECK(c == NULL);
    CHECK_STR(err.where, where);
    CHECK_CONTAINS(err.msg, want);
}

static void test_types(void)
{
    struct th_config *c = parse_ok("# settings\n"
                                   "stats: true\n"
                                   "output: signals.jsonl\n"
                                   "format: ocsf\n"
                                   "max-lateness: 250ms\n"
                                   "max_event_size: 2M\n"
                                   "max_depth: 100\n"
                                   "rules: [a/, b.yaml]\n"
                                   "kafka:\n"
                                   "  security.protocol: SASL_SSL\n"
                                   "  sasl.password: 'p=a:s s'\n");
    if (!c)
        return;
    CHECK_INT(c->n, 10);
    CHECK_INT(c->items[0].key->id, K_STATS);
    CHECK_STR(c->items[0].value, "true");
    CHECK_INT(c->items[0].line, 2);
    CHECK_INT(c->items[0].col, 8);
    CHECK_STR(c->items[1].value, "signals.jsonl");
    CHECK_STR(c->items[2].value, "ocsf");
    CHECK_INT(c->items[3].key->id, K_LATE); /* "max-lateness" spells max_lateness */
    CHECK_STR(c->items[3].value, "250ms");
    CHECK_STR(c->items[4].value, "2M");
    CHECK_STR(c->items[5].value, "100");
    CHECK_INT(c->items[6].key->id, K_RULES);
    CHECK_STR(c->items[6].value, "a/");
    CHECK_STR(c->items[7].value, "b.yaml");
    CHECK_INT(c->items[7].line, 8);
    CHECK_INT(c->items[7].col, 13);
    CHECK_INT(c->items[8].key->id, K_KAFKA);
    CHECK_STR(c->items[8].value, "security.protocol=SASL_SSL");
    CHECK_INT(c->items[8].line, 10);
    CHECK_INT(c->items[8].col, 3);
    CHECK_STR(c->items[9].value, "sasl.password=p=a:s s");
    th__config_free(c);

    /* The last map entry, with '=' and spaces in its value, in file order. */
    c = parse_ok("kafka: {a.b: 1, sasl.password: \"x=y z\"}\nrules: one.yaml\nstats: false\n");
    if (c) {
        CHECK_INT(c->n, 3); /* stats: false adds nothing */
        CHECK_STR(c->items[0].value, "a.b=1");
        CHECK_STR(c->items[1].value, "sasl.password=x=y z");
        CHECK_STR(c->items[2].value, "one.yaml"); /* a scalar is a one-element list */
        CHECK_INT(c->items[2].key->id, K_RULES);
    }
    th__config_free(c);

    /* Empty files and documents of comments only are empty settings. */
    c = parse_ok("");
    CHECK(c && c->n == 0);
    th__config_free(c);
    c = parse_ok("# nothing here\n");
    CHECK(c && c->n == 0);
    th__config_free(c);
    c = parse_ok("rules: []\nkafka: {}\n");
    CHECK(c && c->n == 0);
    th__config_free(c);
}

static void test_errors(void)
{
    parse_bad("stats: true\nbogus: 1\n", TH_ECONFIG, "cfg.yaml:2:1", "unknown setting 'bogus'");
    parse_bad("max__lateness: 1m\n", TH_ECONFIG, "cfg.yaml:1:1", "unknown setting");
    parse_bad("stats: yes\n", TH_ECONFIG, "cfg.yaml:1:8", "stats: expected true or false");
    parse_bad("stats: 'true'\n", TH_ECONFIG, "cfg.yaml:1:8", "expected true or false");
    parse_bad("output:\n", TH_ECONFIG, "cfg.yaml:1:8",
              "output: expected a single value, not nothing");
    parse_bad("output: [a, b]\n", TH_ECONFIG, "cfg.yaml:1:9",
              "output: expected a single value, not a list");
    parse_bad("format: xml\n", TH_ECONFIG, "cfg.yaml:1:9",
              "format: expected one of json, ocsf, not 'xml'");
    parse_bad("max_lateness: 15\n", TH_ECONFIG, "cfg.yaml:1:15", "expected a duration");
    parse_bad("max_lateness: 1y\n", TH_ECONFIG, "cfg.yaml:1:15", "expected a duration");
    parse_bad("max_lateness: ms\n", TH_ECONFIG, "cfg.yaml:1:15", "expected a duration");
    parse_bad("max_event_size: 0\n", TH_ECONFIG, "cfg.yaml:1:17", "expected a size");
    parse_bad("max_event_size: 1T\n", TH_ECONFIG, "cfg.yaml:1:17", "expected a size");
    parse_bad("max_event_size: -1\n", TH_ECONFIG, "cfg.yaml:1:17", "expected a size");
    parse_bad("max_depth: 1\n", TH_ECONFIG, "cfg.yaml:1:12", "an integer from 2 to 10000");
    parse_bad("max_depth: 10001\n", TH_ECONFIG, "cfg.yaml:1:12", "an integer from 2 to 10000");
    parse_bad("max_depth: 5x\n", TH_ECONFIG, "cfg.yaml:1:12", "an integer from 2 to 10000");
    parse_bad("rules: {a: b}\n", TH_ECONFIG, "cfg.yaml:1:8", "rules: expected a list, not a map");
    parse_bad("rules: [a, [b]]\n", TH_ECONFIG, "cfg.yaml:1:12",
              "rules: expected a value, not a list");
    parse_bad("rules: [a, ~]\n", TH_ECONFIG, "cfg.yaml:1:12", "expected a value, not nothing");
    parse_bad("kafka: [a=b]\n", TH_ECONFIG, "cfg.yaml:1:8",
              "kafka: expected a map of names to values");
    parse_bad("kafka:\n  a=b: c\n", TH_ECONFIG, "cfg.yaml:2:3", "expected a property name");
    parse_bad("[1, 2]\n", TH_ECONFIG, "cfg.yaml:1:1", "a settings file is a map");
    parse_bad("just words\n", TH_ECONFIG, "cfg.yaml:1:1", "a settings file is a map");
    parse_bad("stats: true\nstats: false\n", TH_EPARSE, "cfg.yaml:2:1", "stats");
    parse_bad("a: [\n", TH_EPARSE, "cfg.yaml:2:1", "");

    /* A map value that is not a value is reported without quoting it: it may be a secret. */
    struct th_config *c = NULL;
    struct th_err err = {0};
    const char *t = "kafka:\n  sasl.password: {hunter2: x}\n";
    CHECK_INT(th__config_parse("cfg.yaml", t, strlen(t), keys, NKEYS, &c, &err), TH_ECONFIG);
    CHECK_STR(err.where, "cfg.yaml:2:18");
    CHECK_STR(err.msg, "kafka: sasl.password: expected a single value");
    CHECK(!strstr(err.msg, "hunter2"));
}

static void test_value_ok(void)
{
    char why[160];
    const struct th_config_key *dur = &keys[3], *size = &keys[4], *depth = &keys[5];
    CHECK(th__config_value_ok(dur, "0", why, sizeof why));
    CHECK(th__config_value_ok(dur, "15m", why, sizeof why));
    CHECK(th__config_value_ok(dur, "1w", why, sizeof why));
    CHECK(th__config_value_ok(dur, "250ms", why, sizeof why));
    CHECK(!th__config_value_ok(dur, "1.5s", why, sizeof why));
    CHECK_CONTAINS(why, "250ms, 30s");
    CHECK(th__config_value_ok(size, "1KiB", why, sizeof why));
    CHECK(th__config_value_ok(size, "3G", why, sizeof why));
    CHECK(th__config_value_ok(size, "4096", why, sizeof why));
    CHECK(!th__config_value_ok(size, "+5", why, sizeof why));
    CHECK(!th__config_value_ok(size, "99999999999999999999999", why, sizeof why));
    CHECK(th__config_value_ok(depth, "2", why, sizeof why));
    CHECK(!th__config_value_ok(depth, "", why, sizeof why));
    long long ms = -1;
    CHECK(th__config_duration("1h", &ms) && ms == 3600000);
    CHECK(th__config_duration("7ms", &ms) && ms == 7);
    CHECK(!th__config_duration("7 ms", &ms));
    CHECK(!th__config_duration("", &ms));
}

static void test_load(void)
{
    struct th_config *c = NULL;
    struct th_err err = {0};
    CHECK_INT(th__config_load("/nonexistent/trailhound.yaml", keys, NKEYS, &c, &err), TH_EIO);
    CHECK(c == NULL);
    CHECK_STR(err.where, "/nonexistent/trailhound.yaml");
    CHECK_CONTAINS(err.msg, "cannot open the settings file");

    char dir[] = "/tmp/test_config.XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/ok.yaml", dir);
    FILE *f = fopen(path, "w");
    fputs("output: x.jsonl\nrules:\n  - a\n  - b\n", f);
    fclose(f);
    memset(&err, 0, sizeof err);
    CHECK_INT(th__config_load(path, keys, NKEYS, &c, &err), 0);
    if (c) {
        CHECK_INT(c->n, 3);
        CHECK_STR(c->path, path);
        CHECK_STR(c->items[2].value, "b");
        CHECK_INT(c->items[2].line, 4);
    }
    th__config_free(c);
    c = NULL;
    /* A directory cannot be read as a file. */
    memset(&err, 0, sizeof err);
    CHECK(th__config_load(dir, keys, NKEYS, &c, &err) < 0);
    CHECK(c == NULL);
    /* Larger than 1 MiB: refused before parsing. */
    snprintf(path, sizeof path, "%s/big.yaml", dir);
    f = fopen(path, "w");
    for (int i = 0; i < (1 << 20) / 16 + 1; i++)
        fputs("# padding......\n", f);
    fclose(f);
    memset(&err, 0, sizeof err);
    CHECK_INT(th__config_load(path, keys, NKEYS, &c, &err), TH_ECONFIG);
    CHECK_CONTAINS(err.msg, "at most 1 MiB");
    unlink(path);
    snprintf(path, sizeof path, "%s/ok.yaml", dir);
    unlink(path);
    rmdir(dir);
    th__config_free(NULL);
}

int main(void)
{
    test_types();
    test_errors();
    test_value_ok();
    test_load();
    return CHECK_DONE();
}
