/*
 * hash.h - non-cryptographic hashing for group tables and deterministic signal ids.
 * FNV-1a over the bytes, finished with a 64-bit avalanche (splitmix64's finaliser), so
 * nearby keys spread over the table. Stable across platforms and runs: signal ids depend
 * on it, so never change it without changing the state format version.
 */
#ifndef TH_HASH_H
#define TH_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t th__hash_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

/* Continues a hash h over len bytes (start with th__hash_init(seed)). */
static inline uint64_t th__hash_add(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static inline uint64_t th__hash_init(uint64_t seed)
{
    return UINT64_C(0xcbf29ce484222325) ^ th__hash_mix(seed);
}

static inline uint64_t th__hash64(const void *data, size_t len, uint64_t seed)
{
    return th__hash_mix(th__hash_add(th__hash_init(seed), data, len));
}

#endif
