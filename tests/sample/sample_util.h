/*
 * sample_util.h - the sample generator's plumbing: the generator state (PRNG, generated events,
 * a reusable JSON buffer), a small streaming JSON writer with escaping, random and stable
 * identifiers, and time formatting. Everything is deterministic: randomness only comes from the
 * splitmix64 state in struct th__gen, seeded from --seed.
 *
 * Failure: allocation failures print one line on stderr and exit(1) (this is a tool, not the
 * library).
 */
#ifndef TH_SAMPLE_UTIL_H
#define TH_SAMPLE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TH_N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Alphabets for identifiers: AWS's base32 (AKIA..., AROA...), hex, mixed alphanumerics. */
#define TH_B32 "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
#define TH_HEX "0123456789abcdef"
#define TH_ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/* A growing JSON text; members are separated and closed by the writer. */
struct th__jw {
    char *s; /* owned, NUL-terminated */
    size_t len, cap;
    int depth;
    bool first[32]; /* no member written yet at this depth */
    char close[32]; /* '}' or ']' */
};

/* One generated event: its sort keys and its JSON text (owned). */
struct th__event {
    int64_t t;
    int acct, reg;
    size_t seq; /* generation order, the last tie-breaker */
    char *json;
    size_t len;
};

/* The generator: PRNG state, the events generated so far, the event being written. */
struct th__gen {
    uint64_t rng;
    struct th__event *ev; /* owned array of n (capacity cap) */
    size_t n, cap;
    struct th__jw w;
};

/* realloc that exits with a message on failure. Returns the (owned) block. */
void *th__xrealloc(void *p, size_t n);

/* Empties w for a new document, keeping its buffer. */
void th__jw_reset(struct th__jw *w);

/* Frees w's buffer; w may be reused after th__jw_reset. */
void th__jw_free(struct th__jw *w);

/* Opens an object / an array as a member named key (NULL inside arrays and at top level). */
void th__jo(struct th__jw *w, const char *key);
void th__ja(struct th__jw *w, const char *key);

/* Closes the innermost object or array. */
void th__je(struct th__jw *w);

/* A string member (escaped); val NULL writes null. */
void th__js(struct th__jw *w, const char *key, const char *val);

/* A string member from a printf format (up to 1023 bytes). */
__attribute__((format(printf, 3, 4))) void th__jsf(struct th__jw *w, const char *key,
                                                   const char *fmt, ...);

/* A number / boolean member. */
void th__jn(struct th__jw *w, const char *key, long long v);
void th__jb(struct th__jw *w, const char *key, bool v);

/* A member whose value is trusted JSON text (from the generator's own tables); NULL: null. */
void th__jraw(struct th__jw *w, const char *key, const char *json);

/* The next 64 random bits of g's PRNG. */
uint64_t th__next(struct th__gen *g);

/* A random integer in [0, n), n > 0. */
unsigned th__rnd(struct th__gen *g, unsigned n);

/* True with probability pct percent. */
bool th__chance(struct th__gen *g, unsigned pct);

/* A random element of a fixed-size array. */
#define TH_PICK(g, arr) ((arr)[th__rnd((g), TH_N_ELEMS(arr))])

/* Writes n random characters of alphabet and a NUL to out (n + 1 bytes). */
void th__rand_chars(struct th__gen *g, char *out, const char *alphabet, int n);

/* Writes prefix + n characters of alphabet + NUL to out: a pure function of the formatted text,
 * so a principal keeps its ids (AROA..., AKIA...) whatever the seed. */
__attribute__((format(printf, 5, 6))) void
th__stable_id(char *out, const char *prefix, const char *alphabet, int n, const char *fmt, ...);

/* Writes a random version-4 UUID (36 characters + NUL). */
void th__uuid(struct th__gen *g, char out[37]);

/* RFC 3339 UTC as CloudTrail writes it: 2024-03-05T14:03:12Z. */
void th__fmt_time(char out[24], int64_t t);

/* The Java-style time of STS and IAM responses: "Mar 5, 2024, 2:09:05 PM". */
void th__fmt_java_time(char out[40], int64_t t);

/* strftime of t (UTC) into out. */
void th__fmt_utc(char *out, size_t size, const char *fmt, int64_t t);

#endif
