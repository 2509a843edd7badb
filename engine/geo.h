/*
 * geo.h - GeoIP and ASN lookups with libmaxminddb (SPEC §4): a City database (GeoLite2-City,
 * DB-IP City Lite, ...) and an ASN database (GeoLite2-ASN, DB-IP ASN Lite), each opened
 * once with MMDB_MODE_MMAP, and a bounded cache so each distinct IP is looked up once.
 *
 * Only public addresses are located: private, loopback, link-local, CGNAT and unique-local
 * addresses, AWS service names and "AWS Internal" never are. Results are copied out of the
 * database into the cache, so they stay valid while the databases are open.
 */
#ifndef TH_GEO_H
#define TH_GEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct th_geo;

struct th_geo_opts {
    const char *city_path; /* NULL: no City database */
    const char *asn_path;  /* NULL: no ASN database */
    size_t cache_size;     /* distinct IPs kept (default 65,536) */
};

/*
 * Opens the databases. A missing, unreadable or corrupt file, or a database of the wrong
 * type (a Country database given as City, a City database given as ASN), is an error with
 * err naming the file and MMDB_strerror()'s text or the type found. Returns 0 or a negative
 * TH_E* code; *out is NULL on failure.
 */
int th__geo_open(const struct th_geo_opts *o, struct th_geo **out, struct th_err *err);
void th__geo_free(struct th_geo *g);

bool th__geo_has_city(const struct th_geo *g);
bool th__geo_has_asn(const struct th_geo *g);

enum th_geo_status {
    TH_GEO_LOCATED,    /* a public address found in the City database */
    TH_GEO_NOT_IP,     /* not an IP address ("AWS Internal", a service name, garbage) */
    TH_GEO_NOT_PUBLIC, /* private, loopback, link-local, CGNAT, unique-local */
    TH_GEO_NOT_FOUND,  /* public, but not in the database (or no City database) */
};

/* What is known of one address. Strings are NULL when the database has no such field. */
struct th_geo_info {
    enum th_geo_status status;
    const char *country_iso;   /* "US" */
    const char *country_name;  /* English name */
    const char *continent_code;
    const char *subdivision;   /* first subdivision's English name */
    const char *city;
    bool has_location;
    double latitude, longitude;
    int accuracy_radius_km;    /* 0 when unknown */
    bool has_asn;
    uint32_t asn;
    const char *asn_org;
};

/*
 * Looks up an address (text, not NUL-terminated). Never NULL. The result is borrowed: it
 * stays valid until the next call to th__geo_lookup on g (the cache may reuse the slot).
 */
const struct th_geo_info *th__geo_lookup(struct th_geo *g, const char *ip, size_t len);

/* Lookups served from the cache, and done in the databases, for --stats. */
void th__geo_counters(const struct th_geo *g, uint64_t *hits, uint64_t *misses);

/* Lookups that met a damaged database (counted once per address while it is cached;
 * answered as TH_GEO_NOT_FOUND), for --stats. */
uint64_t th__geo_failures(const struct th_geo *g);

/* Great-circle distance in km between two points (haversine, mean Earth radius). */
double th__geo_distance_km(double lat1, double lon1, double lat2, double lon2);

#endif
