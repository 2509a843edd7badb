/*
 * cidr.c - IP address and prefix parsing and matching (cidr.h).
 *
 * Text is copied into a small stack buffer and handed to inet_pton, which accepts exactly
 * the dotted quad (no octal or hex parts, no leading zeros) and the RFC 4291 IPv6 forms;
 * anything longer than an address can be is rejected before copying. Prefix lengths are
 * 1 to 3 decimal digits. No state, no allocation.
 */
#include "cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool th__ip_parse(const char *s, size_t len, uint8_t addr[16], int *family)
{
    char buf[INET6_ADDRSTRLEN + 1];
    if (len == 0 || len >= sizeof buf || memchr(s, '\0', len))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (memchr(buf, ':', len) == NULL) {
        if (inet_pton(AF_INET, buf, addr) != 1)
            return false;
        memset(addr + 4, 0, 12);
        *family = 4;
        return true;
    }
    uint8_t a6[16];
    if (inet_pton(AF_INET6, buf, a6) != 1)
        return false;
    if (memcmp(a6, v4_mapped, sizeof v4_mapped) == 0) {
        memcpy(addr, a6 + 12, 4);
        memset(addr + 4, 0, 12);
        *family = 4;
        return true;
    }
    memcpy(addr, a6, 16);
    *family = 6;
    return true;
}

bool th__cidr_parse(const char *s, size_t len, struct th_cidr *out, bool *host_bits)
{
    memset(out, 0, sizeof *out);
    if (host_bits)
        *host_bits = false;
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    int family;
    if (!th__ip_parse(s, alen, out->addr, &family))
        return false;
    /* A mapped address written as a prefix stays IPv6 for its length to make sense. */
    bool mapped = memchr(s, ':', alen) != NULL && family == 4;
    unsigned max = (family == 4 && !mapped) ? 32 : 128;
    unsigned bits = max;
    if (slash) {
        const char *d = slash + 1;
        size_t n = len - alen - 1;
        if (n == 0 || n > 3)
            return false;
        bits = 0;
        for (size_t i = 0; i < n; i++) {
            if (d[i] < '0' || d[i] > '9')
                return false;
            bits = bits * 10 + (unsigned)(d[i] - '0');
        }
        if (bits > max)
            return false;
    }
    if (mapped) {
        /* ::ffff:a.b.c.d/N: an IPv4 prefix when N covers the mapping, else plain IPv6. */
        if (bits >= 96) {
            bits -= 96;
            max = 32;
        } else {
            uint8_t a4[4];
            memcpy(a4, out->addr, 4);
            memcpy(out->addr, v4_mapped, 12);
            memcpy(out->addr + 12, a4, 4);
            family = 6;
        }
    }
    out->family = (uint8_t)family;
    out->bits = (uint8_t)bits;
    /* Clear host bits. */
    unsigned nbytes = max / 8;
    for (unsigned i = 0; i < nbytes; i++) {
        unsigned keep = bits >= (i + 1) * 8 ? 8 : (bits > i * 8 ? bits - i * 8 : 0);
        uint8_t mask = (uint8_t)(keep ? 0xFFu << (8 - keep) : 0);
        if (out->addr[i] & (uint8_t)~mask) {
            if (host_bits)
                *host_bits = true;
            out->addr[i] &= mask;
        }
    }
    return true;
}

bool th__cidr_contains(const struct th_cidr *c, const uint8_t addr[16], int family)
{
    if (c->family != family)
        return false;
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, addr, full) != 0)
        return false;
    if (rest) {
        uint8_t mask = (uint8_t)(0xFFu << (8 - rest));
        if ((addr[full] & mask) != c->addr[full])
            return false;
    }
    return true;
}

bool th__cidr_match_any(const struct th_cidr *c, size_t n, const char *s, size_t len)
{
    uint8_t addr[16];
    int family;
    if (!th__ip_parse(s, len, addr, &family))
        return false;
    for (size_t i = 0; i < n; i++)
        if (th__cidr_contains(&c[i], addr, family))
            return true;
    return false;
}

const char *th__cidr_format(const struct th_cidr *c, char *buf, size_t size)
{
    char a[INET6_ADDRSTRLEN];
    if (!inet_ntop(c->family == 4 ? AF_INET : AF_INET6, c->addr, a, sizeof a))
        snprintf(a, sizeof a, "?");
    snprintf(buf, size, "%s/%u", a, (unsigned)c->bits);
    return buf;
}
