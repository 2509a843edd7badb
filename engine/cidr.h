/*
 * cidr.h - IPv4 and IPv6 addresses and prefixes for the query language's
 * `CIDR(@attr, 10.0.0.0/8, 2001:db8::/32)`: prefixes parsed once at compile time, values
 * parsed and tested per event without allocating.
 *
 * An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is treated as the IPv4 address it
 * carries, so IPv4 prefixes match it; otherwise IPv4 prefixes match only IPv4 addresses and
 * IPv6 prefixes only IPv6 addresses.
 */
#ifndef TH_CIDR_H
#define TH_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct th_cidr {
    uint8_t family;   /* 4 or 6 */
    uint8_t bits;     /* prefix length: 0..32 or 0..128 */
    uint8_t addr[16]; /* network address, host bits cleared; IPv4 uses the first 4 bytes */
};

/*
 * Parses an address in text form (len bytes, not necessarily NUL-terminated) into addr
 * (IPv4: 4 bytes used) and *family (4 or 6). Returns false for anything that is not a
 * plain IPv4 dotted quad or an IPv6 address (no zone ids, no brackets, no port).
 * An IPv4-mapped IPv6 address yields its IPv4 address with family 4.
 */
bool th__ip_parse(const char *s, size_t len, uint8_t addr[16], int *family);

/*
 * Parses "ADDR/BITS" or a bare address (a host prefix, /32 or /128) into out. Host bits
 * set beyond the prefix length are cleared and reported through *host_bits (may be NULL).
 * Returns true on success; false for a malformed address or prefix length.
 */
bool th__cidr_parse(const char *s, size_t len, struct th_cidr *out, bool *host_bits);

/* True when the address (as th__ip_parse gives it) lies inside c. */
bool th__cidr_contains(const struct th_cidr *c, const uint8_t addr[16], int family);

/* True when the text s is an IP address inside any of the n prefixes. Never allocates. */
bool th__cidr_match_any(const struct th_cidr *c, size_t n, const char *s, size_t len);

/* Writes c as "ADDR/BITS" into buf (at least 64 bytes are enough); returns buf. */
const char *th__cidr_format(const struct th_cidr *c, char *buf, size_t size);

#endif
