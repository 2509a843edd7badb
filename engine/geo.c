/*
 * geo.c - GeoIP and ASN lookups (geo.h) with libmaxminddb, behind a bounded per-IP cache.
 *
 * State: up to two databases opened once with MMDB_MODE_MMAP (a City one, an ASN one),
 * and a cache of the answers for public addresses. The cache is set-associative: a hash of
 * the address text picks a set of TH_GEO_WAYS entries, and a miss replaces the least
 * recently used entry of its set, so it is bounded (cache_size entries, rounded up to a
 * power of two) with no probing and no tombstones. It is allocated on the first miss. Each
 * entry owns one buffer holding the strings copied out of the databases (reused when the
 * entry is replaced), so nothing points into the mmap once a lookup returns.
 *
 * Addresses that are not IP addresses, and addresses that are not public, are answered
 * from constant results without touching the cache or the databases. An IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) is treated as the IPv4 address.
 *
 * Damage met at lookup time (a corrupt search tree, undecodable data) is counted as a
 * failed lookup and answered as TH_GEO_NOT_FOUND (cached, so it is counted once per address
 * while it stays cached); it never aborts anything. Only the English names are read
 * ("names"."en"); a record without a "country" falls back to its "registered_country".
 * Strings longer than TH_GEO_MAX_STR bytes are treated as absent.
 */
#include "geo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hash.h"

#define TH_GEO_WAYS 4
#define TH_GEO_MAX_KEY 45 /* INET6_ADDRSTRLEN - 1: the longest address text */
#define TH_GEO_MAX_STR 255
#define TH_GEO_DEFAULT_CACHE 65536

struct entry {
    uint64_t hash;   /* of the key; meaningful when used */
    uint64_t stamp;  /* last use, for LRU within the set */
    bool used;
    unsigned char keylen;
    char key[TH_GEO_MAX_KEY];
    struct th_geo_info info; /* strings point into blob */
    char *blob;      /* owned */
    size_t blob_cap;
};

struct th_geo {
    bool has_city, has_asn;
    MMDB_s city, asn;
    struct entry *entries; /* nsets * TH_GEO_WAYS, NULL until the first miss */
    size_t nsets;          /* a power of two */
    uint64_t clock;
    uint64_t hits, misses, failures;
};

static const struct th_geo_info info_not_ip = {.status = TH_GEO_NOT_IP};
static const struct th_geo_info info_not_public = {.status = TH_GEO_NOT_PUBLIC};
static const struct th_geo_info info_not_found = {.status = TH_GEO_NOT_FOUND};

/* ---- opening -------------------------------------------------------------------------- */

static bool type_has(const MMDB_s *db, const char *word)
{
    const char *t = db->metadata.database_type;
    return t && strstr(t, word) != NULL;
}

/*
 * Opens one database and checks its type. want_city selects the check: a City database
 * (database_type containing "City", or "Enterprise", which is a superset) or an ASN one
 * ("ASN", or "ISP", which carries the same fields). On failure db is closed.
 */
static int open_one(const char *path, bool want_city, MMDB_s *db, struct th_err *err)
{
    const char *what = want_city ? "GeoIP City database" : "ASN database";
    errno = 0;
    int rc = MMDB_open(path, MMDB_MODE_MMAP, db);
    if (rc != MMDB_SUCCESS) {
        int saved = errno;
        if ((rc == MMDB_FILE_OPEN_ERROR || rc == MMDB_IO_ERROR) && saved)
            return th__err(err, TH_ECONFIG, path, "cannot open the %s: %s (%s)", what,
                           MMDB_strerror(rc), strerror(saved));
        return th__err(err, TH_ECONFIG, path, "cannot open the %s: %s", what,
                       MMDB_strerror(rc));
    }
    const char *type = db->metadata.database_type ? db->metadata.database_type : "(none)";
    bool ok = want_city ? type_has(db, "City") || type_has(db, "Enterprise")
                        : type_has(db, "ASN") || type_has(db, "ISP");
    if (!ok) {
        th__err(err, TH_ECONFIG, path,
                want_city ? "a '%s' database is not a City database (want GeoLite2-City, "
                            "GeoIP2-City or DB-IP City Lite)"
                          : "a '%s' database is not an ASN database (want GeoLite2-ASN or "
                            "DB-IP ASN Lite)",
                type);
        MMDB_close(db);
        return TH_ECONFIG;
    }
    return 0;
}

int th__geo_open(const struct th_geo_opts *o, struct th_geo **out, struct th_err *err)
{
    *out = NULL;
    struct th_geo *g = calloc(1, sizeof *g);
    if (!g)
        return th__err(err, TH_ENOMEM, NULL, "out of memory");
    int rc;
    if (o && o->city_path) {
        if ((rc = open_one(o->city_path, true, &g->city, err)) < 0)
            goto fail;
        g->has_city = true;
    }
    if (o && o->asn_path) {
        if ((rc = open_one(o->asn_path, false, &g->asn, err)) < 0)
            goto fail;
        g->has_asn = true;
    }
    size_t want = o && o->cache_size ? o->cache_size : TH_GEO_DEFAULT_CACHE;
    size_t sets = 1;
    while (sets * TH_GEO_WAYS < want && sets < ((size_t)1 << 40))
        sets <<= 1;
    g->nsets = sets;
    *out = g;
    return 0;
fail:
    th__geo_free(g);
    return rc;
}

void th__geo_free(struct th_geo *g)
{
    if (!g)
        return;
    if (g->has_city)
        MMDB_close(&g->city);
    if (g->has_asn)
        MMDB_close(&g->asn);
    if (g->entries)
        for (size_t i = 0; i < g->nsets * TH_GEO_WAYS; i++)
            free(g->entries[i].blob);
    free(g->entries);
    free(g);
}

bool th__geo_has_city(const struct th_geo *g)
{
    return g && g->has_city;
}

bool th__geo_has_asn(const struct th_geo *g)
{
    return g && g->has_asn;
}

void th__geo_counters(const struct th_geo *g, uint64_t *hits, uint64_t *misses)
{
    *hits = g ? g->hits : 0;
    *misses = g ? g->misses : 0;
}

uint64_t th__geo_failures(const struct th_geo *g)
{
    return g ? g->failures : 0;
}

/* ---- address classes ------------------------------------------------------------------ */

/* Not public: "this network", private, loopback, link-local, CGNAT, multicast, reserved. */
static bool v4_not_public(const unsigned char *a)
{
    return a[0] == 0 || a[0] == 10 || a[0] == 127 || (a[0] == 172 && (a[1] & 0xF0) == 16) ||
           (a[0] == 192 && a[1] == 168) || (a[0] == 169 && a[1] == 254) ||
           (a[0] == 100 && (a[1] & 0xC0) == 64) || a[0] >= 224;
}

/* Not public: unspecified, loopback, unique-local, link-local, multicast. */
static bool v6_not_public(const unsigned char *a)
{
    static const unsigned char zero[15] = {0};
    if (memcmp(a, zero, 15) == 0 && (a[15] == 0 || a[15] == 1))
        return true;
    return (a[0] & 0xFE) == 0xFC || (a[0] == 0xFE && (a[1] & 0xC0) == 0x80) || a[0] == 0xFF;
}

static bool v4_mapped(const unsigned char *a)
{
    static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    return memcmp(a, prefix, 12) == 0;
}

/* ---- reading a record ----------------------------------------------------------------- */

typedef MMDB_entry_data_list_s node_t;

/* The node after the value that starts at n (its whole subtree), or NULL at the end. */
static node_t *skip(node_t *n)
{
    if (!n)
        return NULL;
    uint32_t type = n->entry_data.type;
    uint32_t size = n->entry_data.data_size;
    n = n->next;
    if (type == MMDB_DATA_TYPE_MAP) {
        for (uint32_t i = 0; i < size && n; i++)
            n = skip(skip(n));
    } else if (type == MMDB_DATA_TYPE_ARRAY) {
        for (uint32_t i = 0; i < size && n; i++)
            n = skip(n);
    }
    return n;
}

/* The value of key in the map that starts at n, or NULL. */
static node_t *map_get(node_t *n, const char *key)
{
    if (!n || n->entry_data.type != MMDB_DATA_TYPE_MAP)
        return NULL;
    uint32_t size = n->entry_data.data_size;
    size_t klen = strlen(key);
    n = n->next;
    for (uint32_t i = 0; i < size && n; i++) {
        node_t *value = n->next;
        if (n->entry_data.type == MMDB_DATA_TYPE_UTF8_STRING &&
            n->entry_data.data_size == klen && memcmp(n->entry_data.utf8_string, key, klen) == 0)
            return value;
        n = skip(value);
    }
    return NULL;
}

/* The first element of the array that starts at n, or NULL. */
static node_t *array_first(node_t *n)
{
    if (!n || n->entry_data.type != MMDB_DATA_TYPE_ARRAY || n->entry_data.data_size == 0)
        return NULL;
    return n->next;
}

static node_t *path2(node_t *n, const char *a, const char *b)
{
    return map_get(map_get(n, a), b);
}

/* A string copied later into the entry's blob: a pointer into the mmap and a length. */
struct pending {
    const char *p;
    size_t len;
};

static struct pending str_at(node_t *n)
{
    struct pending s = {NULL, 0};
    if (n && n->entry_data.type == MMDB_DATA_TYPE_UTF8_STRING &&
        n->entry_data.data_size <= TH_GEO_MAX_STR) {
        s.p = n->entry_data.utf8_string;
        s.len = n->entry_data.data_size;
    }
    return s;
}

static bool num_at(node_t *n, double *out)
{
    if (!n)
        return false;
    const MMDB_entry_data_s *d = &n->entry_data;
    switch (d->type) {
    case MMDB_DATA_TYPE_DOUBLE:
        *out = d->double_value;
        break;
    case MMDB_DATA_TYPE_FLOAT:
        *out = d->float_value;
        break;
    case MMDB_DATA_TYPE_UINT16:
        *out = d->uint16;
        break;
    case MMDB_DATA_TYPE_UINT32:
        *out = d->uint32;
        break;
    case MMDB_DATA_TYPE_INT32:
        *out = d->int32;
        break;
    case MMDB_DATA_TYPE_UINT64:
        *out = (double)d->uint64;
        break;
    default:
        return false;
    }
    return isfinite(*out);
}

enum { S_ISO, S_COUNTRY, S_CONTINENT, S_SUBDIV, S_CITY, S_ASN_ORG, S__COUNT };

/*
 * Looks addr up in db. Returns 1 with *list set (the caller frees it) when a record was
 * found, 0 when the address is not in the database, -1 on damage (counted by the caller).
 */
static int db_lookup(const MMDB_s *db, const struct sockaddr *addr, node_t **list)
{
    *list = NULL;
    int mmdb_error = MMDB_SUCCESS;
    MMDB_lookup_result_s res = MMDB_lookup_sockaddr(db, addr, &mmdb_error);
    if (mmdb_error == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR)
        return 0;
    if (mmdb_error != MMDB_SUCCESS)
        return -1;
    if (!res.found_entry)
        return 0;
    if (MMDB_get_entry_data_list(&res.entry, list) != MMDB_SUCCESS) {
        MMDB_free_entry_data_list(*list);
        *list = NULL;
        return -1;
    }
    return *list ? 1 : 0;
}

/* Copies the pending strings into e->blob and points e->info's strings at them. */
static void keep_strings(struct entry *e, struct pending *s)
{
    size_t need = 0;
    for (int i = 0; i < S__COUNT; i++)
        if (s[i].p)
            need += s[i].len + 1;
    if (need > e->blob_cap) {
        char *b = realloc(e->blob, need);
        if (!b) { /* out of memory: keep the numbers, drop the names */
            for (int i = 0; i < S__COUNT; i++)
                s[i].p = NULL;
            need = 0;
        } else {
            e->blob = b;
            e->blob_cap = need;
        }
    }
    const char *out[S__COUNT] = {NULL};
    size_t at = 0;
    for (int i = 0; i < S__COUNT; i++) {
        if (!s[i].p)
            continue;
        memcpy(e->blob + at, s[i].p, s[i].len);
        e->blob[at + s[i].len] = '\0';
        out[i] = e->blob + at;
        at += s[i].len + 1;
    }
    e->info.country_iso = out[S_ISO];
    e->info.country_name = out[S_COUNTRY];
    e->info.continent_code = out[S_CONTINENT];
    e->info.subdivision = out[S_SUBDIV];
    e->info.city = out[S_CITY];
    e->info.asn_org = out[S_ASN_ORG];
}

/* Fills e->info for a public address from both databases. */
static void resolve(struct th_geo *g, struct entry *e, const struct sockaddr *addr)
{
    struct pending s[S__COUNT];
    memset(s, 0, sizeof s);
    memset(&e->info, 0, sizeof e->info);
    e->info.status = TH_GEO_NOT_FOUND;
    bool failed = false;
    node_t *list = NULL;
    int rc;

    if (g->has_city && (rc = db_lookup(&g->city, addr, &list)) != 0) {
        if (rc < 0) {
            failed = true;
        } else {
            node_t *root = list;
            node_t *country = map_get(root, "country");
            if (!country)
                country = map_get(root, "registered_country");
            s[S_ISO] = str_at(map_get(country, "iso_code"));
            s[S_COUNTRY] = str_at(path2(country, "names", "en"));
            s[S_CONTINENT] = str_at(map_get(map_get(root, "continent"), "code"));
            s[S_SUBDIV] =
                str_at(path2(array_first(map_get(root, "subdivisions")), "names", "en"));
            s[S_CITY] = str_at(path2(map_get(root, "city"), "names", "en"));
            node_t *loc = map_get(root, "location");
            double lat, lon, radius;
            if (num_at(map_get(loc, "latitude"), &lat) &&
                num_at(map_get(loc, "longitude"), &lon) && lat >= -90 && lat <= 90 &&
                lon >= -180 && lon <= 180) {
                e->info.has_location = true;
                e->info.latitude = lat;
                e->info.longitude = lon;
            }
            if (num_at(map_get(loc, "accuracy_radius"), &radius) && radius >= 0 &&
                radius <= 20038) /* half the Earth's circumference */
                e->info.accuracy_radius_km = (int)radius;
            e->info.status = TH_GEO_LOCATED;
        }
    }
    /* The pending strings point into the mmap, not into the lists; they are copied into
     * the entry by keep_strings, after which nothing refers to the database. */
    node_t *asn_list = NULL;
    if (g->has_asn && (rc = db_lookup(&g->asn, addr, &asn_list)) != 0) {
        if (rc < 0) {
            failed = true;
        } else {
            double n;
            if (num_at(map_get(asn_list, "autonomous_system_number"), &n) && n >= 0 &&
                n <= UINT32_MAX) {
                e->info.has_asn = true;
                e->info.asn = (uint32_t)n;
            }
            s[S_ASN_ORG] = str_at(map_get(asn_list, "autonomous_system_organization"));
        }
    }
    keep_strings(e, s);
    MMDB_free_entry_data_list(list);
    MMDB_free_entry_data_list(asn_list);
    if (failed)
        g->failures++;
}

/* ---- the cache ------------------------------------------------------------------------ */

const struct th_geo_info *th__geo_lookup(struct th_geo *g, const char *ip, size_t len)
{
    if (!ip || len == 0 || len > TH_GEO_MAX_KEY)
        return &info_not_ip;
    char buf[TH_GEO_MAX_KEY + 1];
    memcpy(buf, ip, len);
    buf[len] = '\0';

    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    memset(&sin, 0, sizeof sin);
    memset(&sin6, 0, sizeof sin6);
    const struct sockaddr *addr;
    if (inet_pton(AF_INET, buf, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        if (v4_not_public((const unsigned char *)&sin.sin_addr))
            return &info_not_public;
        addr = (const struct sockaddr *)&sin;
    } else if (inet_pton(AF_INET6, buf, &sin6.sin6_addr) == 1) {
        const unsigned char *a = sin6.sin6_addr.s6_addr;
        if (v4_mapped(a)) {
            sin.sin_family = AF_INET;
            memcpy(&sin.sin_addr, a + 12, 4);
            if (v4_not_public(a + 12))
                return &info_not_public;
            addr = (const struct sockaddr *)&sin;
        } else {
            if (v6_not_public(a))
                return &info_not_public;
            sin6.sin6_family = AF_INET6;
            addr = (const struct sockaddr *)&sin6;
        }
    } else {
        return &info_not_ip;
    }
    if (!g || (!g->has_city && !g->has_asn))
        return &info_not_found;

    if (!g->entries) {
        g->entries = calloc(g->nsets * TH_GEO_WAYS, sizeof *g->entries);
        if (!g->entries)
            return &info_not_found;
    }
    uint64_t h = th__hash64(ip, len, 0x6e6f);
    struct entry *set = &g->entries[(h & (g->nsets - 1)) * TH_GEO_WAYS];
    struct entry *victim = &set[0];
    for (int w = 0; w < TH_GEO_WAYS; w++) {
        struct entry *e = &set[w];
        if (e->used && e->hash == h && e->keylen == len && memcmp(e->key, ip, len) == 0) {
            e->stamp = ++g->clock;
            g->hits++;
            return &e->info;
        }
        if (!e->used)
            victim = e;
        else if (victim->used && e->stamp < victim->stamp)
            victim = e;
    }
    g->misses++;
    resolve(g, victim, addr);
    victim->used = true;
    victim->hash = h;
    victim->keylen = (unsigned char)len;
    memcpy(victim->key, ip, len);
    victim->stamp = ++g->clock;
    return &victim->info;
}

/* ---- distance ------------------------------------------------------------------------- */

double th__geo_distance_km(double lat1, double lon1, double lat2, double lon2)
{
    const double r = 6371.0088; /* mean Earth radius (IUGG), km */
    const double rad = M_PI / 180.0;
    double dlat = (lat2 - lat1) * rad;
    double dlon = (lon2 - lon1) * rad;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
    if (a > 1)
        a = 1;
    return 2 * r * asin(sqrt(a));
}
