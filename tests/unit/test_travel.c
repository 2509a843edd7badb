/*
 * test_travel.c - the impossible_travel method (detect_travel.c), driven through the public
 * API: rules are YAML files in a mkdtemp directory loaded with th_ruleset_load, the engine
 * gets the test City database (tests/geoip/trailhound-City-Test.mmdb, found from this
 * file's path) as th_options.geoip_path, events are NDJSON built here and fed with
 * th_engine_read_buffer, and signal lines are parsed back.
 *
 * The database places (tests/geoip/city.tsv): 203.0.113.0/24 New York (radius 20 km),
 * 192.0.2.0/26 London (10), 175.41.128.0/18 Singapore (50), 54.79.0.0/16 Sydney (20),
 * 177.71.128.0/17 São Paulo (20), 185.220.101.0/24 Germany at country level (1000),
 * 90.0/16 Paris (10), 90.1/16 and 90.2/16 two of its suburbs (5), 91.183.0.0/16 Brussels
 * (10), 2001:db8:1::/48 New York, 2406:da18::/32 Singapore; 1.1.1.1 is not in it,
 * 91.198.174.0/24 has a country and no coordinates, 10/8 and fd00::/8 are in it but private.
 *
 * Covered: a pair that fires (the signal line: method, group, first_seen from the earlier
 * event, events_matched, event_ids, the details text byte for byte, the id); the same pair
 * replayed and delivered in reverse order giving the same id; nearby moves, distant but
 * slow moves, and fast but short ones staying quiet; the distance and speed boundaries
 * (strict), equal times (infinite speed, null in details); accuracy radii subtracted (and
 * floored at 0); every kind of unlocatable source skipped and counted, events without the
 * group value or not matching ignored and not counted; IPv6 and IPv4-mapped addresses;
 * the baseline (silent learning, its exact end, duration 0, known locations, transitions
 * alerting once either way round); the lifecycle (updates, closing at the watermark, a new
 * id after closing); group expiry without and with the baseline; the LRU cap; a rule
 * without a City database disabled; a run split in two with --state giving the signals of
 * one run, a corrupt snapshot refused; and, through the detector's ops with made-up
 * locations, the caps on learned locations and remembered transitions, and a saved state
 * that loads back to the same bytes while every truncation of it is refused.
 */
#include "trailhound.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "check.h"
#include "sbuf.h"
#include "detect.h"
#include "event.h"
#include "geo.h"
#include "ruleset.h"
#include "signals.h"
#include "state.h"
#include "timeutil.h"

#define T0 INT64_C(1709632800000) /* 2024-03-05T10:00:00Z */
#define SEC INT64_C(1000)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

#define NY "203.0.113.10"
#define NY2 "203.0.113.77"
#define LONDON "192.0.2.10"
#define SINGAPORE "175.41.150.27"
#define SYDNEY "54.79.1.2"
#define SAOPAULO "177.71.200.13"
#define GERMANY "185.220.101.34"
#define PARIS "90.0.12.7"
#define BOULOGNE "90.1.40.9"
#define VINCENNES "90.2.3.4"
#define BRUSSELS "91.183.7.7"

static char dir[256];
static char city_db[1100];

/* ---- text building -------------------------------------------------------------------- */

/*
 * Appends one NDJSON event at T0 + ms by access key `key` (NULL: no userIdentity) from
 * `ip` (NULL: no sourceIPAddress), with `members` (NULL, or more members after a comma).
 * eventIDs are e1, e2, ... in the order built (evseq resets with each test).
 */
static int evseq;
static void ev_m(struct sb *b, int64_t ms, const char *key, const char *ip, const char *members)
{
    char t[40];
    th__time_format(T0 + ms, t, sizeof t);
    sb_addf(b, "{\"eventTime\":\"%s\",\"eventID\":\"e%d\",\"eventName\":\"GetObject\"", t, ++evseq);
    if (ip)
        sb_addf(b, ",\"sourceIPAddress\":\"%s\"", ip);
    if (key)
        sb_addf(b, ",\"userIdentity\":{\"type\":\"IAMUser\",\"accessKeyId\":\"%s\"}", key);
    sb_addf(b, "%s}\n", members ? members : "");
}

static void ev(struct sb *b, int64_t ms, const char *key, const char *ip)
{
    ev_m(b, ms, key, ip, NULL);
}

/* ---- rules and runs ------------------------------------------------------------------- */

static void on_diag(void *ctx, const struct th_diag *d)
{
    (void)ctx;
    fprintf(stderr, "diag: %s: %s: %s\n", d->is_error ? "error" : "warning", d->where, d->msg);
}

static int nrule;
static struct th_ruleset *load_rule(const char *yaml)
{
    char path[512];
    snprintf(path, sizeof path, "%s/rule%d.yaml", dir, ++nrule);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        exit(2);
    fputs(yaml, f);
    fclose(f);
    const char *paths[] = {path};
    struct th_ruleset *rs = NULL;
    CHECK_INT(th_ruleset_load(paths, 1, 0, on_diag, NULL, &rs), 0);
    CHECK_INT(th_ruleset_count(rs), 1);
    return rs;
}

/* A travel rule over GetObject calls grouped by the access key, with `options` (indented
 * lines under options:, the impossible_travel block included). */
static struct th_ruleset *travel_rule(const char *options)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "id: t-travel\n"
             "name: Travel under test\n"
             "tags: [source:cloudtrail, tactic:TA0001-initial-access, "
             "technique:T1078.004-cloud-accounts]\n"
             "queries:\n"
             "  - query: '@evt.name:GetObject'\n"
             "    group_by: ['@userIdentity.accessKeyId']\n"
             "options:\n"
             "  detection_method: impossible_travel\n"
             "%s"
             "cases:\n"
             "  - name: far\n"
             "    status: high\n"
             "message: '{{@userIdentity.accessKeyId}} used from {{@network.client.ip}}'\n",
             options);
    return load_rule(yaml);
}

#define MAXLINES 256

struct run {
    size_t n;
    char *line[MAXLINES];
    struct th_stats st;
    char log[1024];
};

static int on_line(void *ctx, const char *line, size_t len)
{
    struct run *r = ctx;
    if (r->n < MAXLINES)
        r->line[r->n] = strndup(line, len);
    r->n++;
    return 0;
}

static void on_log(void *ctx, const char *msg)
{
    struct run *r = ctx;
    size_t l = strlen(r->log);
    snprintf(r->log + l, sizeof r->log - l, "%s\n", msg);
}

static void run_free(struct run *r)
{
    for (size_t i = 0; i < r->n && i < MAXLINES; i++)
        free(r->line[i]);
    memset(r, 0, sizeof *r);
}

static void opts_default(struct th_options *o, bool updates)
{
    th_options_init(o);
    o->signal_updates = updates;
    o->geoip_path = city_db;
}

/* Runs the events through a fresh engine over rs; opts NULL: defaults with updates on. */
static void run(struct th_ruleset *rs, const struct th_options *opts, const struct sb *events,
                struct run *r)
{
    memset(r, 0, sizeof *r);
    struct th_options o;
    if (opts)
        o = *opts;
    else
        opts_default(&o, true);
    o.log = on_log;
    o.log_ctx = r;
    struct th_engine *e = NULL;
    struct th_err err = {{0}, {0}};
    CHECK_INT(th_engine_new(rs, &o, on_line, r, &e, &err), 0);
    if (!e) {
        fprintf(stderr, "engine: %s %s\n", err.where, err.msg);
        return;
    }
    CHECK_INT(th_engine_read_buffer(e, "events.ndjson", events->p, events->len), 0);
    CHECK_INT(th_engine_finish(e), 0);
    th_engine_stats(e, &r->st);
    th_engine_free(e);
}

static json_object *member(json_object *o, const char *a, const char *b)
{
    json_object *x = NULL, *y = NULL;
    if (!o || !json_object_object_get_ex(o, a, &x))
        return NULL;
    if (!b)
        return x;
    return json_object_object_get_ex(x, b, &y) ? y : NULL;
}

static const char *str_or(json_object *o, const char *dflt)
{
    return o && json_object_get_type(o) == json_type_string ? json_object_get_string(o) : dflt;
}

/* "status key from>to" per line, joined by "; "; from and to are the details' cities
 * ("?" when null). */
static const char *summary(const struct run *r)
{
    static char out[8192];
    out[0] = '\0';
    for (size_t i = 0; i < r->n && i < MAXLINES; i++) {
        json_object *o = json_tokener_parse(r->line[i]);
        size_t l = strlen(out);
        if (!o) {
            snprintf(out + l, sizeof out - l, "%sUNPARSEABLE", i ? "; " : "");
            continue;
        }
        json_object *dt = member(o, "details", NULL);
        snprintf(out + l, sizeof out - l, "%s%s %s %s>%s", i ? "; " : "",
                 str_or(member(o, "status", NULL), "?"),
                 str_or(member(o, "group", "@userIdentity.accessKeyId"), "-"),
                 str_or(member(member(dt, "from", NULL), "city", NULL), "?"),
                 str_or(member(member(dt, "to", NULL), "city", NULL), "?"));
        json_object_put(o);
    }
    return out;
}

/* A member of line i as json-c prints it ("" when absent). */
static const char *field(const struct run *r, size_t i, const char *a, const char *b)
{
    static char out[4096];
    out[0] = '\0';
    if (i >= r->n || i >= MAXLINES)
        return "(no such line)";
    json_object *o = json_tokener_parse(r->line[i]);
    json_object *v = o ? member(o, a, b) : NULL;
    snprintf(out, sizeof out, "%s",
             v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : "");
    json_object_put(o);
    return out;
}

/* The details object of line i exactly as written (the text between "details": and
 * ,"samples"). */
static const char *raw_details(const struct run *r, size_t i)
{
    static char out[4096];
    out[0] = '\0';
    if (i >= r->n || i >= MAXLINES)
        return "(no such line)";
    const char *s = strstr(r->line[i], "\"details\":");
    const char *e = s ? strstr(s, ",\"samples\":") : NULL;
    if (!s || !e)
        return "(no details)";
    s += strlen("\"details\":");
    snprintf(out, sizeof out, "%.*s", (int)(e - s), s);
    return out;
}

/* Distance minus both radii, floored at 0: what the detector compares. */
static double km_between(double la1, double lo1, int r1, double la2, double lo2, int r2)
{
    double km = th__geo_distance_km(la1, lo1, la2, lo2) - r1 - r2;
    return km > 0 ? km : 0;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_fires(void)
{
    struct th_ruleset *rs = travel_rule("");
    struct sb e = {0};
    struct run r;
    evseq = 0;
    ev(&e, 0, "K1", NY);               /* e1: the first located event */
    ev(&e, 55 * MIN, "K1", SINGAPORE); /* e2: 15,270 km in 55 minutes */
    ev(&e, 56 * MIN, "K1", SINGAPORE); /* e3: same place: nothing */
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 New York>Singapore");
    CHECK_STR(field(&r, 0, "method", NULL), "\"impossible_travel\"");
    CHECK_STR(field(&r, 0, "severity", NULL), "\"high\"");
    CHECK_STR(field(&r, 0, "case", NULL), "\"far\"");
    CHECK_STR(field(&r, 0, "group", NULL), "{\"@userIdentity.accessKeyId\":\"K1\"}");
    CHECK_STR(field(&r, 0, "first_seen", NULL), "\"2024-03-05T10:00:00Z\"");
    CHECK_STR(field(&r, 0, "last_seen", NULL), "\"2024-03-05T10:55:00Z\"");
    CHECK_STR(field(&r, 0, "events_matched", NULL), "2");
    CHECK_STR(field(&r, 0, "event_ids", NULL), "[\"e2\"]");
    CHECK_STR(field(&r, 0, "message", NULL), "\"K1 used from 175.41.150.27\"");
    double km = km_between(40.7128, -74.0060, 20, 1.2897, 103.8501, 50);
    CHECK(km > 15260 && km < 15280);
    char want[2048];
    snprintf(want, sizeof want,
             "{\"from\":{\"ip\":\"203.0.113.10\",\"city\":\"New York\",\"country\":\"US\","
             "\"lat\":40.7128,\"lon\":-74.006,\"accuracy_radius_km\":20,"
             "\"time\":\"2024-03-05T10:00:00Z\",\"event_id\":\"e1\"},"
             "\"to\":{\"ip\":\"175.41.150.27\",\"city\":\"Singapore\",\"country\":\"SG\","
             "\"lat\":1.2897,\"lon\":103.8501,\"accuracy_radius_km\":50,"
             "\"time\":\"2024-03-05T10:55:00Z\",\"event_id\":\"e2\"},"
             "\"distance_km\":%.1f,\"speed_kmh\":%.1f}",
             km, km / (55.0 / 60.0));
    CHECK_STR(raw_details(&r, 0), want);
    /* The id is the one of the rule, the group and the earlier event's time. */
    char id[33], quoted[40];
    th__sig_id("t-travel", "K1", 2, T0, id);
    snprintf(quoted, sizeof quoted, "\"%s\"", id);
    CHECK_STR(field(&r, 0, "id", NULL), quoted);
    CHECK_INT(r.st.signals, 1);
    CHECK_INT(r.st.groups, 1);
    CHECK_INT(r.st.travel_unlocated, 0);
    run_free(&r);

    /* Replayed: the same line, byte for byte. */
    struct run r2;
    run(rs, NULL, &e, &r);
    run(rs, NULL, &e, &r2);
    CHECK_INT(r2.n, 1);
    CHECK(r.n == 1 && r2.n == 1 && strcmp(r.line[0], r2.line[0]) == 0);
    run_free(&r2);
    run_free(&r);
    sb_free(&e);

    /* The same pair delivered in reverse order (New York late, still evaluated): the same
     * from and to, the same id; the older event does not replace the newest, so Singapore
     * again is no travel. */
    struct sb e2 = {0};
    evseq = 1;
    ev(&e2, 55 * MIN, "K1", SINGAPORE); /* e2 */
    evseq = 0;
    ev(&e2, 0, "K1", NY); /* e1, late */
    evseq = 2;
    ev(&e2, 57 * MIN, "K1", SINGAPORE); /* e3 */
    run(rs, NULL, &e2, &r);
    CHECK_STR(summary(&r), "new K1 New York>Singapore");
    CHECK_STR(field(&r, 0, "id", NULL), quoted);
    CHECK_STR(field(&r, 0, "first_seen", NULL), "\"2024-03-05T10:00:00Z\"");
    CHECK_STR(field(&r, 0, "event_ids", NULL), "[\"e1\"]"); /* the evaluated event */
    CHECK_STR(raw_details(&r, 0), want);
    CHECK_INT(r.st.late, 1);
    run_free(&r);
    sb_free(&e2);

    /* Without updates only the new line; a second group has its own history. */
    evseq = 0;
    ev(&e, 0, "K1", NY);
    ev(&e, 0, "K2", LONDON);
    ev(&e, HOUR, "K2", SINGAPORE);
    ev(&e, 2 * HOUR, "K1", NY2);
    struct th_options o;
    opts_default(&o, false);
    run(rs, &o, &e, &r);
    CHECK_STR(summary(&r), "new K2 London>Singapore");
    CHECK_INT(r.st.groups, 2);
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

static void test_quiet_moves(void)
{
    struct th_ruleset *rs = travel_rule("");
    struct sb e = {0};
    struct run r;
    /* Paris and its suburbs, minutes apart: a few km. */
    ev(&e, 0, "K1", PARIS);
    ev(&e, MIN, "K1", BOULOGNE);
    ev(&e, 2 * MIN, "K1", VINCENNES);
    /* Brussels in 3 hours: 244 km, under min_distance_km. */
    ev(&e, 3 * HOUR, "K1", BRUSSELS);
    /* Then Paris one minute later: 244 km at 14,640 km/h, still too short to count. */
    ev(&e, 3 * HOUR + MIN, "K1", PARIS);
    /* New York to London in 10 hours: 5,540 km at 554 km/h, a flight. */
    ev(&e, 0, "K2", NY);
    ev(&e, 10 * HOUR, "K2", LONDON);
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "");
    CHECK_INT(r.st.groups, 2);
    run_free(&r);

    /* The same moves with min_distance_km 0: Brussels-Paris in a minute fires (and
     * closes when K2's flight moves the clock 7 hours on), the suburbs are within their
     * radii (0 km) or slow, the flight is still slow. */
    struct th_ruleset *rs0 = travel_rule("  impossible_travel:\n    min_distance_km: 0\n");
    run(rs0, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 Brussels>Paris; closed K1 Brussels>Paris");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs0);
    th_ruleset_free(rs);
}

/* A rule with min_distance_km and speed_kmh written to the last bit. */
static struct th_ruleset *threshold_rule(double min_km, double speed)
{
    char opts[256];
    snprintf(opts, sizeof opts,
             "  impossible_travel:\n    min_distance_km: %.17g\n    speed_kmh: %.17g\n", min_km,
             speed);
    return travel_rule(opts);
}

static void test_boundaries(void)
{
    /* Paris to Brussels in exactly one hour: distance D, speed D km/h. */
    double d = km_between(48.8566, 2.3522, 10, 50.8503, 4.3517, 10);
    CHECK(d > 243 && d < 245);
    struct sb e = {0};
    struct run r;
    ev(&e, 0, "K1", PARIS);
    ev(&e, HOUR, "K1", BRUSSELS);

    struct th_ruleset *rs = threshold_rule(d, 1); /* distance == min: not more */
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "");
    run_free(&r);
    th_ruleset_free(rs);
    rs = threshold_rule(nextafter(d, 0), 1); /* just under: fires */
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 Paris>Brussels");
    run_free(&r);
    th_ruleset_free(rs);

    rs = threshold_rule(0, d); /* speed == speed_kmh: not more */
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "");
    run_free(&r);
    th_ruleset_free(rs);
    rs = threshold_rule(0, nextafter(d, 0)); /* just under: fires */
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 Paris>Brussels");
    char want[64];
    snprintf(want, sizeof want, "\"distance_km\":%.1f,\"speed_kmh\":%.1f}", d, d);
    CHECK_CONTAINS(raw_details(&r, 0), want);
    run_free(&r);
    th_ruleset_free(rs);
    sb_free(&e);

    /* Equal times: an infinite speed, whatever speed_kmh; null in details. */
    rs = threshold_rule(500, 1e12);
    ev(&e, 0, "K1", NY);
    ev(&e, 0, "K1", LONDON);
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 New York>London");
    CHECK_CONTAINS(raw_details(&r, 0), "\"speed_kmh\":null}");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);

    /* Accuracy radii are subtracted: Germany (a country-level record, radius 1000 km) is
     * 577 km from Paris, so 0 km apart at once; New York to Germany is 6,300 km less
     * 1,020. */
    rs = threshold_rule(0, 1000);
    ev(&e, 0, "K1", PARIS);
    ev(&e, 0, "K1", GERMANY);
    ev(&e, 0, "K2", NY);
    ev(&e, 5 * HOUR, "K2", GERMANY);
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K2 New York>?");
    double ny_de = km_between(40.7128, -74.0060, 20, 51.2993, 9.4910, 1000);
    CHECK(ny_de > 5000 && ny_de < 5500); /* 1,000 km/h * 5 h: only just */
    snprintf(want, sizeof want, "\"distance_km\":%.1f,\"speed_kmh\":%.1f}", ny_de, ny_de / 5);
    CHECK_CONTAINS(raw_details(&r, 0), want);
    CHECK_CONTAINS(raw_details(&r, 0),
                   "\"to\":{\"ip\":\"185.220.101.34\",\"city\":null,\"country\":\"DE\","
                   "\"lat\":51.2993,\"lon\":9.491,\"accuracy_radius_km\":1000,");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

static void test_unlocated(void)
{
    struct th_ruleset *rs = travel_rule("");
    struct sb e = {0};
    struct run r;
    ev(&e, 0, "K1", NY);
    ev(&e, MIN, "K1", "10.20.17.43");          /* private (in the database, never located) */
    ev(&e, 2 * MIN, "K1", "192.168.1.1");      /* private */
    ev(&e, 3 * MIN, "K1", "100.64.0.1");       /* CGNAT */
    ev(&e, 4 * MIN, "K1", "127.0.0.1");        /* loopback */
    ev(&e, 5 * MIN, "K1", "fd00::1");          /* unique-local IPv6, in the database */
    ev(&e, 6 * MIN, "K1", "AWS Internal");     /* not an IP address */
    ev(&e, 7 * MIN, "K1", "s3.amazonaws.com"); /* a service name */
    ev(&e, 8 * MIN, "K1", "1.1.1.1");          /* public, not in the database */
    ev(&e, 9 * MIN, "K1", "91.198.174.10");    /* a country and no coordinates */
    ev(&e, 10 * MIN, "K1", NULL);              /* no sourceIPAddress */
    ev_m(&e, 11 * MIN, "K1", NULL, ",\"sourceIPAddress\":7"); /* not a string */
    ev(&e, 12 * MIN, "K1", "not an address");
    /* Not counted: no group value, or not matching the query. */
    ev(&e, 13 * MIN, NULL, "10.0.0.1");
    sb_addf(&e, "{\"eventTime\":\"2024-03-05T10:14:00Z\",\"eventName\":\"PutObject\","
                "\"sourceIPAddress\":\"10.0.0.1\",\"userIdentity\":{\"accessKeyId\":\"K1\"}}\n");
    /* A group never located creates no group. */
    ev(&e, 15 * MIN, "K9", "AWS Internal");
    /* The skipped events do not break the comparison with New York. */
    ev(&e, 30 * MIN, "K1", SINGAPORE);
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 New York>Singapore");
    CHECK_INT(r.st.travel_unlocated, 13);
    CHECK_INT(r.st.groups, 1);
    CHECK_INT(r.st.matched, 16);
    run_free(&r);
    sb_free(&e);

    /* Without a City database the rule is disabled with one warning. */
    struct th_options o;
    opts_default(&o, true);
    o.geoip_path = NULL;
    ev(&e, 0, "K1", NY);
    ev(&e, MIN, "K1", SINGAPORE);
    run(rs, &o, &e, &r);
    CHECK_INT(r.n, 0);
    CHECK_INT(r.st.matched, 0);
    CHECK_CONTAINS(r.log, "rule t-travel: impossible travel needs a GeoIP City database");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

static void test_ipv6(void)
{
    struct th_ruleset *rs = travel_rule("");
    struct sb e = {0};
    struct run r;
    ev(&e, 0, "K1", "2001:db8:1::5");        /* New York */
    ev(&e, HOUR, "K1", "2406:da18::1");      /* Singapore */
    ev(&e, 0, "K2", "::ffff:203.0.113.10");  /* IPv4-mapped: New York */
    ev(&e, 30 * MIN, "K2", "2001:db8:2::1"); /* London */
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 New York>Singapore; new K2 New York>London");
    CHECK_CONTAINS(raw_details(&r, 0), "{\"from\":{\"ip\":\"2001:db8:1::5\",");
    CHECK_CONTAINS(raw_details(&r, 0), "\"to\":{\"ip\":\"2406:da18::1\",");
    CHECK_CONTAINS(raw_details(&r, 1), "{\"from\":{\"ip\":\"::ffff:203.0.113.10\",");
    CHECK_INT(r.st.travel_unlocated, 0);
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

static void test_baseline(void)
{
    struct th_ruleset *rs = travel_rule("  keep_alive: 10m\n"
                                        "  impossible_travel:\n"
                                        "    baseline_user_locations: true\n"
                                        "    baseline_duration: 1d\n");
    struct sb e = {0};
    struct run r;
    /* Learning: New York, Singapore an hour later (impossible, silent) and Paris, all in
     * the day that starts with K1's first located event. */
    ev(&e, 0, "K1", NY);
    ev(&e, HOUR, "K1", SINGAPORE);
    ev(&e, 2 * HOUR, "K1", NY2);  /* another New York address: same place */
    ev(&e, DAY - 1, "K1", PARIS); /* the last millisecond of the baseline */
    /* After it: known places never alert, impossible or not. */
    ev(&e, DAY, "K1", NY);               /* exactly at the end: Paris>NY, NY known */
    ev(&e, DAY + HOUR, "K1", SINGAPORE); /* known */
    ev(&e, DAY + 2 * HOUR, "K1", PARIS); /* known */
    /* London is new: Paris>London is short (324 km), New York>London is not. */
    ev(&e, DAY + 3 * HOUR, "K1", LONDON);
    ev(&e, DAY + 4 * HOUR, "K1", NY);        /* back: known */
    ev(&e, DAY + 5 * HOUR, "K1", LONDON);    /* NY>London: fires */
    ev(&e, DAY + 6 * HOUR, "K1", NY);        /* known */
    ev(&e, DAY + 7 * HOUR, "K1", LONDON);    /* NY>London again: alerted already */
    ev(&e, DAY + 8 * HOUR, "K1", SYDNEY);    /* London>Sydney: new, fires */
    ev(&e, DAY + 9 * HOUR, "K1", LONDON);    /* Sydney>London: the same transition */
    ev(&e, DAY + 10 * HOUR, "K1", SAOPAULO); /* London>Sao Paulo: 9,500 km in 1 h */
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 New York>London; closed K1 New York>London; "
                           "new K1 London>Sydney; closed K1 London>Sydney; "
                           "new K1 London>São Paulo");
    CHECK_INT(r.st.signals, 3);
    run_free(&r);
    sb_free(&e);

    /* baseline_duration 0: only the first location is learned. */
    th_ruleset_free(rs);
    rs = travel_rule("  impossible_travel:\n"
                     "    baseline_user_locations: true\n"
                     "    baseline_duration: 0\n");
    ev(&e, 0, "K1", NY);
    ev(&e, HOUR, "K1", SINGAPORE); /* unknown: fires */
    ev(&e, 2 * HOUR, "K1", NY);    /* known */
    ev(&e, 0, "K2", LONDON);
    ev(&e, 0, "K2", NY); /* unknown, the same instant: fires */
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 New York>Singapore; new K2 London>New York");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);

    /* The default baseline_duration is 1d; the baseline starts with the earliest located
     * event, even one that arrives late. */
    rs = travel_rule("  impossible_travel:\n    baseline_user_locations: true\n");
    ev(&e, HOUR, "K1", NY);
    ev(&e, 50 * MIN, "K1", PARIS);            /* late: the baseline ends at 1d50m */
    ev(&e, DAY + 50 * MIN, "K1", SINGAPORE);  /* NY>Singapore in 23h50m: 640 km/h */
    ev(&e, DAY + 51 * MIN, "K1", SYDNEY);     /* Singapore>Sydney in a minute: fires */
    ev(&e, DAY + 52 * MIN, "K2", "10.0.0.1"); /* unlocated: no group, no baseline */
    ev(&e, DAY + 53 * MIN, "K2", NY);         /* K2's first located event: learning */
    ev(&e, DAY + 54 * MIN, "K2", SYDNEY);
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 Singapore>Sydney");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

static void test_lifecycle(void)
{
    struct th_ruleset *rs = travel_rule("  keep_alive: 10m\n  max_signal_duration: 1h\n");
    struct sb e = {0};
    struct run r;
    evseq = 0;
    ev(&e, 0, "K1", NY);            /* e1 */
    ev(&e, MIN, "K1", LONDON);      /* e2: opens */
    ev(&e, 5 * MIN, "K1", NY);      /* e3: updates (London>New York) */
    ev(&e, 6 * MIN, "K1", NY2);     /* e4: same place, nothing */
    ev(&e, 31 * MIN, "K2", PARIS);  /* watermark 16m: K1's signal (due 15m) closes */
    ev(&e, 40 * MIN, "K1", LONDON); /* e6: a new signal, a new id */
    run(rs, NULL, &e, &r);
    CHECK_STR(summary(&r), "new K1 New York>London; update K1 London>New York; "
                           "closed K1 London>New York; new K1 New York>London");
    CHECK_STR(field(&r, 1, "events_matched", NULL), "3");
    CHECK_STR(field(&r, 1, "event_ids", NULL), "[\"e2\",\"e3\"]");
    CHECK_STR(field(&r, 1, "first_seen", NULL), "\"2024-03-05T10:00:00Z\"");
    CHECK_STR(field(&r, 1, "last_seen", NULL), "\"2024-03-05T10:05:00Z\"");
    CHECK_STR(field(&r, 1, "id", NULL), field(&r, 0, "id", NULL));
    char first_id[64];
    snprintf(first_id, sizeof first_id, "%s", field(&r, 0, "id", NULL));
    CHECK(strcmp(field(&r, 3, "id", NULL), first_id) != 0);
    CHECK_STR(field(&r, 3, "first_seen", NULL), "\"2024-03-05T10:06:00Z\"");
    CHECK_INT(r.st.signals, 2);
    CHECK_INT(r.st.updates, 1);
    CHECK_INT(r.st.closed, 1);
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);

    /* Expiry: at 1000 km/h no pair can be impossible 20.016 h (20h0m57.6s) after the
     * newest located event, so the group goes once the watermark (newest - 15m) is past
     * that. */
    rs = travel_rule("");
    ev(&e, 0, "K1", NY);
    ev(&e, 20 * HOUR + 15 * MIN + 57 * SEC, "K2", NY); /* watermark 20h0m57s: not yet */
    run(rs, NULL, &e, &r);
    CHECK_INT(r.st.groups_expired, 0);
    CHECK_INT(r.st.groups, 2);
    run_free(&r);
    ev(&e, 20 * HOUR + 15 * MIN + 58 * SEC, "K2", NY); /* watermark 20h0m58s: K1 expires */
    run(rs, NULL, &e, &r);
    CHECK_INT(r.st.groups_expired, 1);
    CHECK_INT(r.st.groups, 1);
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);

    /* A slower speed keeps groups longer: at 100 km/h, 200.16 h (at 1000 km/h K1 would
     * be gone by 200h). */
    rs = travel_rule("  impossible_travel:\n    speed_kmh: 100\n");
    ev(&e, 0, "K1", NY);
    ev(&e, 200 * HOUR, "K2", NY);
    ev(&e, 200 * HOUR + 10 * MIN, "K1", LONDON); /* 5,540 km in 200 h: slow */
    ev(&e, 201 * HOUR, "K1", SINGAPORE);         /* London>Singapore in 50 minutes: fires */
    run(rs, NULL, &e, &r);
    CHECK_INT(r.st.groups_expired, 0);
    CHECK_STR(summary(&r), "new K1 London>Singapore");
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);

    /* With the baseline, groups are kept 30 days. */
    rs = travel_rule("  impossible_travel:\n    baseline_user_locations: true\n");
    ev(&e, 0, "K1", NY);
    ev(&e, 30 * DAY, "K2", NY);
    ev(&e, 30 * DAY + 15 * MIN, "K2", NY); /* watermark 30d: not past it */
    run(rs, NULL, &e, &r);
    CHECK_INT(r.st.groups_expired, 0);
    run_free(&r);
    ev(&e, 30 * DAY + 15 * MIN + SEC, "K2", NY);
    run(rs, NULL, &e, &r);
    CHECK_INT(r.st.groups_expired, 1);
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);

    /* The LRU cap: an evicted group closes its signal and starts again. */
    rs = travel_rule("");
    struct th_options o;
    opts_default(&o, true);
    o.max_groups = 1;
    ev(&e, 0, "K1", NY);
    ev(&e, MIN, "K1", LONDON);     /* opens */
    ev(&e, 2 * MIN, "K2", PARIS);  /* evicts K1 */
    ev(&e, 3 * MIN, "K1", SYDNEY); /* K1's first located event again: nothing */
    run(rs, &o, &e, &r);
    CHECK_STR(summary(&r), "new K1 New York>London; closed K1 New York>London");
    CHECK_INT(r.st.groups_evicted, 2);
    run_free(&r);
    sb_free(&e);
    th_ruleset_free(rs);
}

/* ---- --state -------------------------------------------------------------------------- */

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", path, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rm_tree(p);
        else
            unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(path);
}

/* One engine over rs with state in sdir: loads, reads events, saves. */
static void run_with_state(struct th_ruleset *rs, const char *sdir, const struct sb *events,
                           struct run *r)
{
    memset(r, 0, sizeof *r);
    struct th_options o;
    opts_default(&o, true);
    o.state_dir = sdir;
    struct th_engine *e = NULL;
    struct th_err err = {{0}, {0}};
    CHECK_INT(th_engine_new(rs, &o, on_line, r, &e, &err), 0);
    if (!e) {
        fprintf(stderr, "engine: %s %s\n", err.where, err.msg);
        return;
    }
    CHECK_INT(th_engine_read_buffer(e, "part", events->p, events->len), 0);
    CHECK_INT(th_engine_finish(e), 0);
    CHECK_INT(th_engine_state_save(e, &err), 0);
    th_engine_stats(e, &r->st);
    th_engine_free(e);
}

static void test_state_round_trip(void)
{
    struct th_ruleset *rs = travel_rule("  keep_alive: 30m\n"
                                        "  impossible_travel:\n"
                                        "    baseline_user_locations: true\n"
                                        "    baseline_duration: 2h\n");
    /* Part one: learning (New York, Paris), a transition that alerts and stays open at
     * the split, a second group. Part two: an update, the same transition again (quiet),
     * a known place, closing, a new transition. */
    struct sb a = {0}, b = {0}, all = {0};
    evseq = 0;
    ev(&a, 0, "K1", NY);
    ev(&a, HOUR, "K1", PARIS);
    ev(&a, 3 * HOUR, "K1", NY2);
    ev(&a, 4 * HOUR, "K1", SINGAPORE); /* NY>Singapore: opens */
    ev(&a, 4 * HOUR, "K2", LONDON);
    ev(&b, 4 * HOUR + 10 * MIN, "K1", SYDNEY);    /* Singapore>Sydney: update */
    ev(&b, 4 * HOUR + 20 * MIN, "K1", NY);        /* known */
    ev(&b, 4 * HOUR + 30 * MIN, "K1", SINGAPORE); /* NY>Singapore again: quiet */
    ev(&b, 5 * HOUR + 30 * MIN, "K2", SYDNEY);    /* K2 still learning; K1's signal closes */
    ev(&b, 6 * HOUR, "K1", LONDON);               /* Singapore>London: new */
    sb_addf(&all, "%s%s", a.p, b.p);

    struct run one, p1, p2;
    char sdir[300];
    snprintf(sdir, sizeof sdir, "%s/state-one", dir);
    run_with_state(rs, sdir, &all, &one);
    CHECK_STR(summary(&one), "new K1 New York>Singapore; update K1 Singapore>Sydney; "
                             "closed K1 Singapore>Sydney; new K1 Singapore>London");

    snprintf(sdir, sizeof sdir, "%s/state-split", dir);
    run_with_state(rs, sdir, &a, &p1);
    run_with_state(rs, sdir, &b, &p2);
    CHECK_INT(p1.n + p2.n, one.n);
    for (size_t i = 0; i < one.n && i < MAXLINES; i++) {
        const char *got = i < p1.n ? p1.line[i] : p2.line[i - p1.n];
        CHECK_STR(got, one.line[i]);
    }
    CHECK_INT(p2.st.groups, one.st.groups);

    /* A damaged snapshot is refused (checksum). */
    char file[400];
    snprintf(file, sizeof file, "%s/trailhound.state", sdir);
    FILE *f = fopen(file, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, size / 2, SEEK_SET);
        int c = fgetc(f);
        fseek(f, size / 2, SEEK_SET);
        fputc(c ^ 0x55, f);
        fclose(f);
        struct th_options o;
        opts_default(&o, true);
        o.state_dir = sdir;
        struct th_engine *e = NULL;
        struct th_err err = {{0}, {0}};
        struct run dummy = {0};
        CHECK_INT(th_engine_new(rs, &o, on_line, &dummy, &e, &err), TH_ESTATE);
        CHECK(e == NULL);
        th_engine_free(e);
        run_free(&dummy);
    }
    run_free(&one);
    run_free(&p1);
    run_free(&p2);
    sb_free(&a);
    sb_free(&b);
    sb_free(&all);
    th_ruleset_free(rs);
}

/* ---- the ops directly, with made-up locations ---------------------------------------- */

static void count_emit(void *ctx, const struct th_signal *s)
{
    (void)s;
    (*(int *)ctx)++;
}

static bool det_init(struct th_detector *d, const struct th_rule *r,
                     const struct th_signal_env *env)
{
    memset(d, 0, sizeof *d);
    d->ops = th__detector_ops(TH_METHOD_TRAVEL);
    d->rule = r;
    d->sigenv = env;
    d->max_groups = 100;
    th__sb_init(&d->key);
    struct th_err err = {{0}, {0}};
    CHECK(d->ops != NULL);
    if (!d->ops)
        return false;
    CHECK_INT(d->ops->init(d, &err), 0);
    return d->impl != NULL;
}

static void det_fini(struct th_detector *d)
{
    d->ops->fini(d);
    th__sb_fini(&d->key);
}

/* Feeds the detector one event of key at T0 + ms located at (lat, lon) in city `city`
 * (NULL: none) of country "ZZ", radius 0. */
static void feed(struct th_detector *d, const char *key, int64_t ms, const char *city, double lat,
                 double lon)
{
    static struct th_event event;
    char text[512];
    char t[40];
    th__time_format(T0 + ms, t, sizeof t);
    snprintf(text, sizeof text,
             "{\"eventTime\":\"%s\",\"eventID\":\"x%lld\",\"eventName\":\"GetObject\","
             "\"sourceIPAddress\":\"198.18.0.1\",\"userIdentity\":{\"accessKeyId\":\"%s\"}}",
             t, (long long)ms, key);
    json_object *o = json_tokener_parse(text);
    struct th_geo_info gi = {0};
    gi.status = TH_GEO_LOCATED;
    gi.country_iso = "ZZ";
    gi.city = city;
    gi.has_location = true;
    gi.latitude = lat;
    gi.longitude = lon;
    memset(&event, 0, sizeof event);
    th__event_reset(&event, o, T0 + ms, "mem", 1, text, strlen(text));
    event.geo_done = true; /* what th__event_geo answers, without a database */
    event.geo_info = &gi;
    d->ops->on_event(d, &event, 1);
    json_object_put(o);
}

/* Saves d into a malloc'd buffer (*len bytes). */
static char *det_save(const struct th_detector *d, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    CHECK(f != NULL);
    if (!f)
        return NULL;
    struct th_state_writer w;
    th__sw_init(&w, f);
    d->ops->save(d, &w);
    CHECK(!w.failed);
    fclose(f);
    return buf;
}

static void test_caps(void)
{
    struct th_ruleset *rs = travel_rule("  impossible_travel:\n"
                                        "    baseline_user_locations: true\n"
                                        "    baseline_duration: 1h\n");
    int emitted = 0;
    struct th_signal_env env = {count_emit, &emitted, false, 3, 20};
    struct th_detector d;
    if (!det_init(&d, rs->rules[0], &env)) {
        th_ruleset_free(rs);
        return;
    }
    /* 40 places along the equator, 1,000 km apart (about 9 degrees), learned within the
     * hour of baseline: only the first 32 are. */
    char names[40][8];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof names[i], "c%d", i);
        feed(&d, "K1", i * SEC, names[i], 0, i * 9.0 - 180);
    }
    CHECK_INT(emitted, 0);
    /* After the baseline, coming back to place 31 (known) from 39 is quiet; to place 32
     * (seen, but past the cap) fires. */
    feed(&d, "K1", 2 * HOUR, names[31], 0, 31 * 9.0 - 180);
    CHECK_INT(emitted, 0);
    feed(&d, "K1", 2 * HOUR + SEC, names[32], 0, 32 * 9.0 - 180);
    CHECK_INT(emitted, 1);

    /* The transitions (a signal env with updates, so every match emits): after the
     * baseline, a0 b0 a1 b1 ... a16 b16, places 9,800 km apart one second after the
     * other, each with its own name: home>a0 is slow (1,100 km in 2 h), then 33 new
     * transitions, a0>b0 the first of them. */
    det_fini(&d);
    emitted = 0;
    struct th_signal_env envu = {count_emit, &emitted, true, 3, 20};
    if (!det_init(&d, rs->rules[0], &envu)) {
        th_ruleset_free(rs);
        return;
    }
    feed(&d, "K1", 0, "home", 0, 0);
    int64_t t = 2 * HOUR;
    char pa[17][8], pb[17][8];
    for (int i = 0; i < 17; i++) {
        snprintf(pa[i], sizeof pa[i], "a%d", i);
        snprintf(pb[i], sizeof pb[i], "b%d", i);
        feed(&d, "K1", t += SEC, pa[i], 10, 0);
        feed(&d, "K1", t += SEC, pb[i], 10, 90);
    }
    CHECK_INT(emitted, 33); /* one new signal, then 32 updates */
    /* b16>a16 is a16>b16 backwards, the newest remembered: quiet. a16>a0: no distance. */
    feed(&d, "K1", t += SEC, pa[16], 10, 0);
    feed(&d, "K1", t += SEC, pa[0], 10, 0);
    CHECK_INT(emitted, 33);
    /* a0>b0 was the oldest of 33 in a ring of 32: forgotten, it alerts again. */
    feed(&d, "K1", t += SEC, pb[0], 10, 90);
    CHECK_INT(emitted, 34);
    det_fini(&d);
    th_ruleset_free(rs);
}

static void test_load_malformed(void)
{
    struct th_ruleset *rs = travel_rule("  impossible_travel:\n"
                                        "    baseline_user_locations: true\n"
                                        "    baseline_duration: 1h\n");
    int emitted = 0;
    struct th_signal_env env = {count_emit, &emitted, true, 3, 20};
    struct th_detector d;
    if (!det_init(&d, rs->rules[0], &env)) {
        th_ruleset_free(rs);
        return;
    }
    feed(&d, "K1", 0, "Here", 10, 10);
    feed(&d, "K1", MIN, NULL, 10, 10.5);       /* a place without a city, learned */
    feed(&d, "K1", 2 * HOUR, "There", 10, 60); /* opens */
    feed(&d, "K2", 3 * HOUR, "Elsewhere", -10, -10);
    CHECK_INT(emitted, 1);
    CHECK_INT(d.ops->groups(&d)->count, 2);
    size_t len = 0;
    char *buf = det_save(&d, &len);
    det_fini(&d);
    if (!buf) {
        th_ruleset_free(rs);
        return;
    }

    /* The whole buffer loads, is consumed exactly, and saves back to the same bytes. */
    struct th_state_reader rd;
    struct th_err err = {{0}, {0}};
    if (det_init(&d, rs->rules[0], &env)) {
        th__sr_init(&rd, buf, len);
        CHECK_INT(d.ops->load(&d, &rd, &err), 0);
        CHECK(rd.p == rd.end);
        CHECK_INT(d.ops->groups(&d)->count, 2);
        size_t len2 = 0;
        char *buf2 = det_save(&d, &len2);
        CHECK_INT(len2, len);
        CHECK(buf2 && memcmp(buf, buf2, len) == 0);
        free(buf2);
        /* The loaded signal goes on: another transition updates it. */
        feed(&d, "K1", 2 * HOUR + MIN, "Far", 10, 120);
        CHECK_INT(emitted, 2);
        det_fini(&d);
    }
    /* Every truncation is refused, leaving the detector empty (and nothing leaks). */
    int refused = 0;
    for (size_t cut = 0; cut < len; cut++) {
        if (!det_init(&d, rs->rules[0], &env))
            break;
        th__sr_init(&rd, buf, cut);
        refused += d.ops->load(&d, &rd, &err) == TH_ESTATE && d.ops->groups(&d)->count == 0;
        det_fini(&d);
    }
    CHECK_INT(refused, (long long)len);
    CHECK_CONTAINS(err.msg, "t-travel");
    /* A rule without the baseline refuses a group holding learned locations. */
    struct th_ruleset *rs2 = travel_rule("");
    if (det_init(&d, rs2->rules[0], &env)) {
        th__sr_init(&rd, buf, len);
        CHECK_INT(d.ops->load(&d, &rd, &err), TH_ESTATE);
        CHECK_INT(d.ops->groups(&d)->count, 0);
        det_fini(&d);
    }
    CHECK_INT(emitted, 2); /* the update above; loading and freeing emit nothing */
    free(buf);
    th_ruleset_free(rs2);
    th_ruleset_free(rs);
}

int main(void)
{
    /* __FILE__ is .../tests/unit/test_travel.c; the databases are in .../tests/geoip. */
    char src[1024];
    snprintf(src, sizeof src, "%s", __FILE__);
    for (int i = 0; i < 2; i++) {
        char *slash = strrchr(src, '/');
        if (slash)
            *slash = '\0';
    }
    snprintf(city_db, sizeof city_db, "%s/geoip/trailhound-City-Test.mmdb", src);
    snprintf(dir, sizeof dir, "/tmp/test_travel.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_fires();
    test_quiet_moves();
    test_boundaries();
    test_unlocated();
    test_ipv6();
    test_baseline();
    test_lifecycle();
    test_state_round_trip();
    test_caps();
    test_load_malformed();
    rm_tree(dir);
    return CHECK_DONE();
}
