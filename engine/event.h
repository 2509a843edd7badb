/*
 * event.h - one CloudTrail event while it is being evaluated.
 *
 * An event is a parsed json-c tree (borrowed from the reader), its event time, where it
 * came from, and a cache of derived attributes computed lazily, at most once each, when a
 * query first asks for them. Everything derived from an event lives in the event itself
 * (slices of the json-c strings, or bytes in its small arena) and dies with it: the hot path
 * allocates nothing beyond what json-c allocates to parse. An event is reused: reset it for
 * each new tree with th__event_reset().
 */
#ifndef TH_EVENT_H
#define TH_EVENT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "common.h"

/*
 * Derived attributes: one list drives the slot enum and the names queries use.
 * X(enum suffix, namespace, name). Namespace ATTR is `@name`; BARE is a reserved field or
 * tag written without `@` (`status:error`, `account:123`).
 */
#define TH_DERIVED_MAP(X)                                                                      \
    X(USR_NAME, ATTR, "usr.name")                                                              \
    X(SESSION_NAME, ATTR, "userIdentity.session_name")                                         \
    X(ASSUMED_ROLE, ATTR, "userIdentity.assumed_role")                                         \
    X(IP_CLASS, ATTR, "network.client.ip_class")                                               \
    X(LEVEL, ATTR, "level")                                                                    \
    X(STATUS, BARE, "status")                                                                  \
    X(SOURCE, BARE, "source")                                                                  \
    X(SERVICE, BARE, "service")                                                                \
    X(GEO_COUNTRY_ISO, ATTR, "network.client.geoip.country.iso_code")                          \
    X(GEO_COUNTRY_NAME, ATTR, "network.client.geoip.country.name")                             \
    X(GEO_CONTINENT, ATTR, "network.client.geoip.continent.code")                              \
    X(GEO_SUBDIVISION, ATTR, "network.client.geoip.subdivision.name")                          \
    X(GEO_CITY, ATTR, "network.client.geoip.city.name")                                        \
    X(GEO_LATITUDE, ATTR, "network.client.geoip.location.latitude")                            \
    X(GEO_LONGITUDE, ATTR, "network.client.geoip.location.longitude")                          \
    X(GEO_ACCURACY, ATTR, "network.client.geoip.accuracy_radius")                              \
    X(GEO_INVALID, ATTR, "network.client.geoip.invalidAddress")                                \
    X(ASN_NUMBER, ATTR, "network.client.asn.number")                                           \
    X(ASN_ORG, ATTR, "network.client.asn.organization")

enum th_derived {
#define TH_DERIVED_ENUM(name, ns, text) TH_DERIVED_##name,
    TH_DERIVED_MAP(TH_DERIVED_ENUM)
#undef TH_DERIVED_ENUM
    TH_DERIVED__COUNT
};
_Static_assert(TH_DERIVED__COUNT <= 32, "derived_done is a 32-bit mask");

#define TH_DERIVED_BIT(d) (UINT32_C(1) << TH_DERIVED_##d)
/* The derived attributes that need the City database (invalidAddress needs none). */
#define TH_DERIVED_CITY_MASK                                                                   \
    (TH_DERIVED_BIT(GEO_COUNTRY_ISO) | TH_DERIVED_BIT(GEO_COUNTRY_NAME) |                      \
     TH_DERIVED_BIT(GEO_CONTINENT) | TH_DERIVED_BIT(GEO_SUBDIVISION) |                         \
     TH_DERIVED_BIT(GEO_CITY) | TH_DERIVED_BIT(GEO_LATITUDE) | TH_DERIVED_BIT(GEO_LONGITUDE) |  \
     TH_DERIVED_BIT(GEO_ACCURACY))
/* The derived attributes that need the ASN database. */
#define TH_DERIVED_ASN_MASK (TH_DERIVED_BIT(ASN_NUMBER) | TH_DERIVED_BIT(ASN_ORG))

struct th_geo;
struct th_geo_info;
struct th_tape;

#define TH_EVENT_ARENA 2048

struct th_event {
    json_object *root; /* borrowed: owned by the reader until the callback returns; NULL
                          when the event comes as a tape */
    const struct th_tape *tape; /* borrowed, or NULL: the event as a tape (tape.h), read
                                   instead of root (th__event_set_tape) */
    const char *src;   /* with a tape: the event's JSON bytes (borrowed, as the tape) */
    size_t src_len;
    const char *raw;   /* the event's original bytes when it was one whole line, else NULL */
    size_t raw_len;
    int64_t time_ms;   /* eventTime, milliseconds since the epoch (UTC) */
    const char *file;  /* borrowed: the source name */
    uint64_t line;     /* 1-based line where the event (or its enclosing document) starts */

    struct th_geo *geo; /* borrowed: the GeoIP/ASN databases, or NULL; set after each reset */
    const struct th_geo_info *geo_info; /* th__event_geo's answer, once geo_done */
    bool geo_done;

    uint32_t derived_done;                 /* bit i: slot i has been computed */
    struct th_str derived[TH_DERIVED__COUNT]; /* p == NULL: the attribute is absent */
    size_t arena_used;
    char arena[TH_EVENT_ARENA]; /* bytes for derived values that are not slices */
};

/* Starts evaluating a new tree in ev (cheap: clears the derived cache only). ev->geo is
 * reset to NULL: a caller with databases sets it again after each reset. */
void th__event_reset(struct th_event *ev, json_object *root, int64_t time_ms, const char *file,
                     uint64_t line, const char *raw, size_t raw_len);

/* After a reset with a NULL root: the event is the tape t, built from src[0..len) (both
 * borrowed until the next reset). Attributes are then read from the tape; only
 * th__event_text, for an event without raw bytes, parses src with json-c (once, kept by
 * the tape until it is rebuilt). */
void th__event_set_tape(struct th_event *ev, const struct th_tape *t, const char *src,
                        size_t len);

/*
 * The derived attribute d of ev, computed on first use. Returns a slice into the json-c
 * tree or a static string or the arena (all borrowed until the next reset); p == NULL
 * when the attribute does not apply to this event.
 */
struct th_str th__event_derived(struct th_event *ev, enum th_derived d);

/*
 * What ev->geo knows of the event's sourceIPAddress, looked up once per event (the first
 * call; later calls return the same answer). NULL when the event has no sourceIPAddress
 * string or ev->geo is NULL. Otherwise never NULL: status says whether it was located
 * (TH_GEO_NOT_IP for "AWS Internal" and service names, TH_GEO_NOT_PUBLIC, TH_GEO_NOT_FOUND
 * also when there is no City database). Borrowed from ev->geo's cache: valid until the
 * next reset of ev, provided nothing else calls th__geo_lookup on ev->geo meanwhile; copy
 * the strings to keep them longer.
 */
const struct th_geo_info *th__event_geo(struct th_event *ev);

/* A top-level string field of the event (e.g. "eventName"), or a NULL slice. */
struct th_str th__event_str(const struct th_event *ev, const char *key);

/*
 * Copies len bytes into the event's arena, returning a borrowed pointer, or NULL when the
 * arena is full (the caller treats the attribute as absent and says so in stats).
 */
const char *th__event_arena_copy(struct th_event *ev, const char *p, size_t len);

/* The event's serialized form: raw bytes when known, else json-c's plain serialization
 * (owned by the tree; for a tape event, of src parsed by json-c then; a NULL slice if that
 * fails for want of memory). */
struct th_str th__event_text(const struct th_event *ev);

#endif
