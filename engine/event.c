/*
 * event.c - the per-event view used while evaluating rules: the json-c tree, event time,
 * and lazily derived attributes (SPEC §4), each computed at most once per event.
 *
 * Derived values are slices of strings inside the json-c tree, static strings, or bytes in
 * the event's fixed arena; nothing is allocated. The arena is a fixed block inside the
 * event (reused from event to event): a value that does not fit is treated as absent.
 */
#include "event.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "geo.h"
#include "tape.h"

void th__event_reset(struct th_event *ev, json_object *root, int64_t time_ms, const char *file,
                     uint64_t line, const char *raw, size_t raw_len)
{
    ev->tape = NULL;
    ev->src = NULL;
    ev->src_len = 0;
    ev->root = root;
    ev->time_ms = time_ms;
    ev->file = file;
    ev->line = line;
    ev->raw = raw;
    ev->raw_len = raw_len;
    ev->derived_done = 0;
    ev->arena_used = 0;
    ev->geo = NULL;
    ev->geo_info = NULL;
    ev->geo_done = false;
}

void th__event_set_tape(struct th_event *ev, const struct th_tape *t, const char *src,
                        size_t len)
{
    ev->tape = t;
    ev->src = src;
    ev->src_len = len;
}

static json_object *get(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v))
        return v;
    return NULL;
}

/*
 * The value at a path of object keys from the event's root, whichever form the event has:
 * *out is the string (a NULL slice for another type); returns false when the path has no
 * value (a missing key, a non-object on the way, or null).
 */
static bool path_get(const struct th_event *ev, const char *const *keys, size_t n,
                     struct th_str *out)
{
    out->p = NULL;
    out->len = 0;
    if (ev->tape) {
        const struct th_tape *t = ev->tape;
        uint32_t i = 0;
        for (size_t k = 0; k < n; k++) {
            if (t->n[i].kind != TH_T_OBJ)
                return false;
            if (!(i = th__tape_member(t, i, keys[k], strlen(keys[k]))))
                return false;
        }
        if (t->n[i].kind == TH_T_NULL)
            return false;
        if (t->n[i].kind == TH_T_STR)
            *out = th__tape_text(t, i);
        return true;
    }
    json_object *o = ev->root;
    for (size_t k = 0; k < n && o; k++)
        o = get(o, keys[k]);
    if (!o)
        return false;
    if (json_object_is_type(o, json_type_string)) {
        out->p = json_object_get_string(o);
        out->len = (size_t)json_object_get_string_len(o);
    }
    return true;
}

/* The string at a path, or a NULL slice. */
static struct th_str path_str(const struct th_event *ev, const char *const *keys, size_t n)
{
    struct th_str s;
    path_get(ev, keys, n, &s);
    return s;
}

struct th_str th__event_str(const struct th_event *ev, const char *key)
{
    return path_str(ev, &key, 1);
}

const char *th__event_arena_copy(struct th_event *ev, const char *p, size_t len)
{
    if (len > sizeof ev->arena - ev->arena_used)
        return NULL;
    char *d = ev->arena + ev->arena_used;
    memcpy(d, p, len);
    ev->arena_used += len;
    return d;
}

struct th_str th__event_text(const struct th_event *ev)
{
    struct th_str s = {ev->raw, ev->raw_len};
    if (!s.p) {
        json_object *root = ev->root;
        if (!root && ev->tape && ev->src) {
            /* A tape event from inside a document: the same tree the document's parse
             * would have given, parsed now that its serialization is wanted. The tree is
             * a cache the tape keeps (a tape is never const in fact: its reader owns it). */
            struct th_tape *t = (struct th_tape *)(uintptr_t)ev->tape;
            if (!t->tree) {
                json_tokener *tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH * 16);
                if (tok) {
                    t->tree = json_tokener_parse_ex(tok, ev->src, (int)ev->src_len);
                    json_tokener_free(tok);
                }
            }
            root = t->tree;
        }
        if (!root)
            return s;
        size_t len = 0;
        /* No `\/`: the same event gives the same bytes whatever format it came in. */
        int flags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
        s.p = json_object_to_json_string_length(root, flags, &len);
        s.len = len;
    }
    return s;
}

static struct th_str lit(const char *s)
{
    struct th_str r = {s, strlen(s)};
    return r;
}

/*
 * An assumed-role ARN is arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION. Returns the role
 * (which == 0) or the session (which == 1), or a NULL slice for any other ARN.
 */
static struct th_str assumed_role_part(struct th_str arn, int which)
{
    struct th_str none = {NULL, 0};
    static const char marker[] = ":assumed-role/";
    const size_t mlen = sizeof marker - 1;
    if (!arn.p || arn.len < mlen)
        return none;
    const char *m = memmem(arn.p, arn.len, marker, mlen);
    if (!m)
        return none;
    const char *role = m + mlen;
    const char *end = arn.p + arn.len;
    const char *slash = memchr(role, '/', (size_t)(end - role));
    if (!slash || slash == role || slash + 1 == end)
        return none;
    if (which == 0) {
        struct th_str r = {role, (size_t)(slash - role)};
        return r;
    }
    struct th_str s = {slash + 1, (size_t)(end - slash - 1)};
    return s;
}

static bool ends_with(struct th_str s, const char *suffix)
{
    size_t n = strlen(suffix);
    return s.len >= n && memcmp(s.p + s.len - n, suffix, n) == 0;
}

/*
 * ip_class of SPEC §4: public, private (RFC 1918, RFC 4193, loopback, link-local, CGNAT),
 * aws_service (a *.amazonaws.com name), aws_internal ("AWS Internal"). Anything else that
 * is not an address (a hostname, garbage) has no class.
 */
static struct th_str ip_class(struct th_str ip)
{
    struct th_str none = {NULL, 0};
    if (!ip.p)
        return none;
    if (th__str_eq(ip, "AWS Internal", 12))
        return lit("aws_internal");
    if (ends_with(ip, ".amazonaws.com"))
        return lit("aws_service");
    char buf[INET6_ADDRSTRLEN];
    if (ip.len >= sizeof buf)
        return none;
    memcpy(buf, ip.p, ip.len);
    buf[ip.len] = '\0';
    unsigned char a[16];
    if (inet_pton(AF_INET, buf, a) == 1) {
        if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xF0) == 16) || (a[0] == 192 && a[1] == 168) ||
            a[0] == 127 || (a[0] == 169 && a[1] == 254) || (a[0] == 100 && (a[1] & 0xC0) == 64))
            return lit("private");
        return lit("public");
    }
    if (inet_pton(AF_INET6, buf, a) == 1) {
        static const unsigned char loopback[16] = {[15] = 1};
        if ((a[0] & 0xFE) == 0xFC || (a[0] == 0xFE && (a[1] & 0xC0) == 0x80) ||
            memcmp(a, loopback, 16) == 0)
            return lit("private");
        return lit("public");
    }
    return none;
}

static const char *const uid_arn[] = {"userIdentity", "arn"};

/* usr.name: userIdentity.userName, else the session issuer's user name, else the session. */
static struct th_str usr_name(struct th_event *ev)
{
    static const char *const user[] = {"userIdentity", "userName"};
    static const char *const issuer[] = {"userIdentity", "sessionContext", "sessionIssuer",
                                         "userName"};
    struct th_str s = path_str(ev, user, 2);
    if (s.p)
        return s;
    s = path_str(ev, issuer, 4);
    if (s.p)
        return s;
    return assumed_role_part(path_str(ev, uid_arn, 2), 1);
}

const struct th_geo_info *th__event_geo(struct th_event *ev)
{
    if (!ev->geo_done) {
        ev->geo_done = true;
        struct th_str ip = th__event_str(ev, "sourceIPAddress");
        ev->geo_info = ev->geo && ip.p ? th__geo_lookup(ev->geo, ip.p, ip.len) : NULL;
    }
    return ev->geo_info;
}

/* A NUL-terminated string of the geo result as a slice, or absent. */
static struct th_str geo_str(const char *s)
{
    struct th_str r = {s, s ? strlen(s) : 0};
    return r;
}

/* A number of the geo result as text in the arena (shortest form that reads back). */
static struct th_str geo_num(struct th_event *ev, bool has, double v, bool integer)
{
    struct th_str r = {NULL, 0};
    if (!has)
        return r;
    char buf[40];
    int n = integer ? snprintf(buf, sizeof buf, "%.0f", v) : snprintf(buf, sizeof buf, "%.10g", v);
    if (n <= 0 || (size_t)n >= sizeof buf)
        return r;
    r.p = th__event_arena_copy(ev, buf, (size_t)n);
    r.len = r.p ? (size_t)n : 0;
    return r;
}

/* The geoip and asn attributes (SPEC §4) from the event's lookup. */
static struct th_str geo_attr(struct th_event *ev, enum th_derived d)
{
    struct th_str none = {NULL, 0};
    const struct th_geo_info *g = th__event_geo(ev);
    if (!g)
        return none;
    if (d == TH_DERIVED_GEO_INVALID)
        return g->status == TH_GEO_NOT_IP ? lit("AWS Internal") : none;
    switch (d) {
    case TH_DERIVED_ASN_NUMBER:
        return geo_num(ev, g->has_asn, g->asn, true);
    case TH_DERIVED_ASN_ORG:
        return geo_str(g->asn_org);
    default:
        break;
    }
    if (g->status != TH_GEO_LOCATED)
        return none;
    switch (d) {
    case TH_DERIVED_GEO_COUNTRY_ISO:
        return geo_str(g->country_iso);
    case TH_DERIVED_GEO_COUNTRY_NAME:
        return geo_str(g->country_name);
    case TH_DERIVED_GEO_CONTINENT:
        return geo_str(g->continent_code);
    case TH_DERIVED_GEO_SUBDIVISION:
        return geo_str(g->subdivision);
    case TH_DERIVED_GEO_CITY:
        return geo_str(g->city);
    case TH_DERIVED_GEO_LATITUDE:
        return geo_num(ev, g->has_location, g->latitude, false);
    case TH_DERIVED_GEO_LONGITUDE:
        return geo_num(ev, g->has_location, g->longitude, false);
    case TH_DERIVED_GEO_ACCURACY:
        return geo_num(ev, g->accuracy_radius_km > 0, g->accuracy_radius_km, true);
    default:
        return none;
    }
}

static struct th_str compute(struct th_event *ev, enum th_derived d)
{
    struct th_str none = {NULL, 0};
    switch (d) {
    case TH_DERIVED_USR_NAME:
        return usr_name(ev);
    case TH_DERIVED_SESSION_NAME:
        return assumed_role_part(path_str(ev, uid_arn, 2), 1);
    case TH_DERIVED_ASSUMED_ROLE:
        return assumed_role_part(path_str(ev, uid_arn, 2), 0);
    case TH_DERIVED_IP_CLASS:
        return ip_class(th__event_str(ev, "sourceIPAddress"));
    case TH_DERIVED_LEVEL:
    case TH_DERIVED_STATUS: {
        static const char *const code[] = {"errorCode"};
        struct th_str unused;
        bool err = path_get(ev, code, 1, &unused);
        if (d == TH_DERIVED_LEVEL)
            return err ? lit("Error") : lit("Info");
        return err ? lit("error") : lit("info");
    }
    case TH_DERIVED_SOURCE:
    case TH_DERIVED_SERVICE:
        return lit("cloudtrail");
    case TH_DERIVED_GEO_COUNTRY_ISO:
    case TH_DERIVED_GEO_COUNTRY_NAME:
    case TH_DERIVED_GEO_CONTINENT:
    case TH_DERIVED_GEO_SUBDIVISION:
    case TH_DERIVED_GEO_CITY:
    case TH_DERIVED_GEO_LATITUDE:
    case TH_DERIVED_GEO_LONGITUDE:
    case TH_DERIVED_GEO_ACCURACY:
    case TH_DERIVED_GEO_INVALID:
    case TH_DERIVED_ASN_NUMBER:
    case TH_DERIVED_ASN_ORG:
        return geo_attr(ev, d);
    case TH_DERIVED__COUNT:
        break;
    }
    return none;
}

struct th_str th__event_derived(struct th_event *ev, enum th_derived d)
{
    uint32_t bit = UINT32_C(1) << d;
    if (!(ev->derived_done & bit)) {
        ev->derived[d] = compute(ev, d);
        ev->derived_done |= bit;
    }
    return ev->derived[d];
}
