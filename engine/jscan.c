/*
 * jscan.c - the strict JSON scanner of jscan.h: validates an object (or a CloudTrail
 * `Records` document) in one pass without building anything, and notes the top-level
 * eventTime and the few facts the prefilter needs to trust the raw bytes.
 *
 * Design. An iterative state machine with an explicit stack of open containers (one byte
 * each, at most STACK deep), so hostile nesting cannot exhaust the C stack. Strings, which
 * are most of a CloudTrail event's bytes, are skipped sixteen bytes at a time with SSE2
 * when the compiler targets it (a quote, a backslash or a control byte stops the skip), else
 * one byte at a time through a table. Numbers follow RFC 8259's grammar exactly.
 *
 * State: none (pure functions). Ignores: UTF-8 validity (json-c does not check it either,
 * so both accept the same bytes), and the meaning of any key but the top-level ones the
 * reader cares about.
 */
#include "jscan.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "tape.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define STACK 256 /* deepest nesting handled here; deeper values go to json-c */
#define MEMBERS_PER_ELEM 64 /* top-level members recorded per Records element */

/* 1 for the bytes that end a run of plain string content: '"', '\\' and controls. */
static const unsigned char str_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 0, 0, 1, ['\\'] = 1,
};

static inline bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static inline bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Skips JSON white space, counting newlines. */
static inline const char *skip_ws(const char *p, const char *e, unsigned *lines)
{
    if (TH_LIKELY(p < e && (unsigned char)*p > ' ')) /* compact JSON: nothing to skip */
        return p;
    while (p < e) {
        char c = *p;
        if (c == ' ' || c == '\t' || c == '\r') {
            p++;
        } else if (c == '\n') {
            (*lines)++;
            p++;
        } else {
            break;
        }
    }
    return p;
}

/*
 * p is just after an opening quote. Returns a pointer to the closing quote, or NULL when
 * the string is invalid or unterminated. *esc is set when it holds any escape.
 */
static inline __attribute__((always_inline)) const char *string_end(const char *p, const char *e,
                                                                    unsigned *flags, bool *esc)
{
    for (;;) {
#if defined(__SSE2__)
        const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
        const __m128i ctl = _mm_set1_epi8(0x1f);
        while (e - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
            __m128i m = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash));
            m = _mm_or_si128(m, _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v)); /* v <= 0x1f */
            unsigned bits = (unsigned)_mm_movemask_epi8(m);
            if (bits) {
                p += __builtin_ctz(bits);
                goto stop;
            }
            p += 16;
        }
#endif
        while (p < e && !str_stop[(unsigned char)*p])
            p++;
#if defined(__SSE2__)
    stop:
#endif
        if (p >= e)
            return NULL;
        if (*p == '"')
            return p;
        if (*p != '\\')
            return NULL; /* a raw control byte */
        *esc = true;
        if (++p >= e)
            return NULL;
        switch (*p) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            p++;
            break;
        case 'u':
            if (e - p < 5 || !is_hex(p[1]) || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]))
                return NULL;
            *flags |= TH_JSCAN_ESCAPE_U;
            p += 5;
            break;
        default:
            return NULL;
        }
    }
}

/* A number at p (its first byte is '-' or a digit); returns its end or NULL. */
static inline const char *number_end(const char *p, const char *e, unsigned *flags)
{
    const char *s = p;
    bool neg = *p == '-';
    if (neg)
        p++;
    if (p >= e)
        return NULL;
    if (*p == '0') {
        p++;
        if (neg)
            *flags |= TH_JSCAN_ODD_NUMBER; /* -0 renders as 0 */
    } else if (*p >= '1' && *p <= '9') {
        while (p < e && is_digit(*p))
            p++;
    } else {
        return NULL;
    }
    if (p - s - neg >= 16)
        *flags |= TH_JSCAN_ODD_NUMBER;
    if (p < e && *p == '.') {
        p++;
        if (p >= e || !is_digit(*p))
            return NULL;
        while (p < e && is_digit(*p))
            p++;
        *flags |= TH_JSCAN_ODD_NUMBER;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (p >= e || !is_digit(*p))
            return NULL;
        while (p < e && is_digit(*p))
            p++;
        *flags |= TH_JSCAN_ODD_NUMBER;
    }
    return p;
}

/* What a top-level key means to the reader. */
enum key_kind { KEY_OTHER, KEY_TIME, KEY_ENVELOPE };

static enum key_kind classify_key(const char *k, size_t n)
{
    switch (n) { /* by length first: most keys are none of these */
    case 9:
        return memcmp(k, "eventTime", 9) == 0 ? KEY_TIME : KEY_OTHER;
    case 7:
        return memcmp(k, "Records", 7) == 0 ? KEY_ENVELOPE : KEY_OTHER;
    case 6:
        return memcmp(k, "detail", 6) == 0 ? KEY_ENVELOPE : KEY_OTHER;
    case 11:
        return memcmp(k, "detail-type", 11) == 0 || memcmp(k, "messageType", 11) == 0
                   ? KEY_ENVELOPE
                   : KEY_OTHER;
    case 24:
        return memcmp(k, "digestSignatureAlgorithm", 24) == 0 ? KEY_ENVELOPE : KEY_OTHER;
    case 26:
        return memcmp(k, "digestPublicKeyFingerprint", 26) == 0 ? KEY_ENVELOPE : KEY_OTHER;
    default:
        return KEY_OTHER;
    }
}

/* ---------------------------------------------------------------------------------------
 * Recording a tape (tape.h)
 * ------------------------------------------------------------------------------------- */

#define TAPE_NUM_MAX 40 /* longer numbers are left to json-c */

/* Makes room for more nodes; false (the tape marked unusable) on out of memory. */
static bool tape_grow(struct th_tape *t)
{
    size_t ncap = t->cap ? 2 * t->cap : 256;
    void *np = realloc(t->n, ncap * sizeof *t->n);
    if (!np) {
        t->ok = false;
        return false;
    }
    t->n = np;
    t->cap = ncap;
    return true;
}

/* Appends a node; on out of memory the tape is marked unusable and NULL returned. */
static inline struct th_tnode *tape_add(struct th_tape *t, enum th_tkind kind, size_t off,
                                        size_t len)
{
    if (!t->ok || (t->count == t->cap && !tape_grow(t)))
        return NULL;
    struct th_tnode *nd = &t->n[t->count];
    nd->off = (uint32_t)off;
    nd->len = (uint32_t)len;
    nd->next = (uint32_t)++t->count;
    nd->kind = (uint8_t)kind;
    nd->dec = 0;
    return nd;
}

/* A scalar value (not a string) at off; parent is the enclosing array's node, or
 * UINT32_MAX inside an object (whose member was counted at its key). */
static inline void scalar_node(struct th_tape *t, uint32_t parent, enum th_tkind kind, size_t off,
                               size_t len)
{
    if (parent != UINT32_MAX && t->ok)
        t->n[parent].len++;
    tape_add(t, kind, off, len);
}

/* Records the escaped string s[0..len) (between its quotes), decoded: its escapes are all
 * simple ones. */
static void tape_escaped(struct th_tape *t, struct th_tnode *nd, const char *s, size_t len);

/* Records the string s[0..len) (between its quotes). */
static inline void tape_string(struct th_tape *t, const char *base, const char *s, size_t len,
                               bool esc)
{
    struct th_tnode *nd = tape_add(t, TH_T_STR, (size_t)(s - base), len);
    if (nd && esc)
        tape_escaped(t, nd, s, len);
}

static void tape_escaped(struct th_tape *t, struct th_tnode *nd, const char *s, size_t len)
{
    if (t->dec_cap - t->dec_len < len) {
        size_t ncap = t->dec_cap ? t->dec_cap : 1024;
        while (ncap - t->dec_len < len)
            ncap *= 2;
        char *np = realloc(t->dec, ncap);
        if (!np) {
            t->ok = false;
            return;
        }
        t->dec = np;
        t->dec_cap = ncap;
    }
    char *d = t->dec + t->dec_len;
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\\') {
            switch (s[++i]) {
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            default: c = s[i]; break; /* '"', '\\', '/' (\u never gets here) */
            }
        }
        d[k++] = c;
    }
    nd->off = (uint32_t)t->dec_len;
    nd->len = (uint32_t)k;
    nd->dec = 1;
    t->dec_len += k;
}

bool th__jscan_object(const char *p0, size_t n, int max_depth, struct th_jscan *out,
                      struct th_tape *tape)
{
    const char *p = p0, *e = p0 + n;
    unsigned char stack[STACK];
    uint32_t nodes[STACK]; /* with a tape: each open container's node */
    int depth = 0;
    unsigned flags = 0, lines = 0;
    const char *tval = NULL;
    size_t tlen = 0;
    unsigned nmem = 0;
    bool mem_open = false; /* the last member's end is still to come */
    enum key_kind key = KEY_OTHER; /* of the member whose value comes next, at depth 1 */
    bool time_odd = false;

    if (max_depth > STACK)
        max_depth = STACK;
    if (n == 0 || *p != '{' || max_depth < 1)
        return false;
    if (tape) {
        if (tape->tree) {
            json_object_put(tape->tree);
            tape->tree = NULL;
        }
        tape->text = p0;
        tape->count = 0;
        tape->dec_len = 0;
        tape->ok = true;
        tape->root_built = false;
        nodes[0] = 0;
        tape_add(tape, TH_T_OBJ, 0, 0);
    }
    stack[depth++] = '{';
    p++;
    goto object;

value:
    /* p: at a value (white space skipped). */
    if (p >= e)
        return false;
    switch (*p) {
    case '"': {
        bool esc = false;
        const char *q = string_end(p + 1, e, &flags, &esc);
        if (!q)
            return false;
        if (tape) {
            if (stack[depth - 1] == '[' && tape->ok)
                tape->n[nodes[depth - 1]].len++;
            tape_string(tape, p0, p + 1, (size_t)(q - p - 1), esc);
        }
        if (depth == 1 && key == KEY_TIME) {
            time_odd = esc;
            tval = esc ? NULL : p + 1;
            tlen = esc ? 0 : (size_t)(q - p - 1);
        }
        p = q + 1;
        goto after;
    }
    case '{':
    case '[':
        if (depth == 1 && key == KEY_TIME)
            time_odd = true, tval = NULL;
        if (depth >= max_depth)
            return false;
        if (tape) {
            if (stack[depth - 1] == '[' && tape->ok)
                tape->n[nodes[depth - 1]].len++;
            nodes[depth] = (uint32_t)tape->count;
            tape_add(tape, *p == '{' ? TH_T_OBJ : TH_T_ARR, (size_t)(p - p0), 0);
        }
        stack[depth++] = (unsigned char)*p;
        if (*p == '{') {
            p++;
            goto object;
        }
        p = skip_ws(p + 1, e, &lines);
        if (p < e && *p == ']') {
            depth--;
            p++;
            goto after;
        }
        goto value;
    case 't':
    case 'f':
    case 'n': { /* true, false, null */
        const char *word = *p == 't' ? "true" : *p == 'f' ? "false" : "null";
        enum th_tkind kind = *p == 't' ? TH_T_TRUE : *p == 'f' ? TH_T_FALSE : TH_T_NULL;
        size_t wn = *p == 'f' ? 5 : 4;
        if ((size_t)(e - p) < wn || memcmp(p, word, wn) != 0)
            return false;
        if (tape)
            scalar_node(tape, stack[depth - 1] == '[' ? nodes[depth - 1] : UINT32_MAX, kind,
                        (size_t)(p - p0), wn);
        p += wn;
        break;
    }
    default: {
        if (*p != '-' && !is_digit(*p))
            return false;
        const char *s0 = p;
        unsigned nf = 0;
        p = number_end(p, e, &nf);
        if (!p)
            return false;
        flags |= nf;
        if (tape) {
            bool dbl = false;
            for (const char *c = s0; c < p && !dbl; c++)
                dbl = *c == '.' || *c == 'e' || *c == 'E';
            if (p - s0 > TAPE_NUM_MAX)
                tape->ok = false;
            scalar_node(tape, stack[depth - 1] == '[' ? nodes[depth - 1] : UINT32_MAX,
                        dbl ? TH_T_DBL : TH_T_INT, (size_t)(s0 - p0), (size_t)(p - s0));
        }
        break;
    }
    }
    if (depth == 1 && key == KEY_TIME)
        time_odd = true, tval = NULL;
    /* fall through to after */

after:
    /* p: just after a value inside the container stack[depth - 1]. */
    if (depth == 1 && mem_open) {
        out->mem[nmem - 1].end = (uint32_t)(p - p0);
        mem_open = false;
    }
    p = skip_ws(p, e, &lines);
    if (p >= e)
        return false;
    if (*p == ',') {
        p = skip_ws(p + 1, e, &lines);
        if (stack[depth - 1] == '{')
            goto member;
        goto value;
    }
    if (*p != (stack[depth - 1] == '{' ? '}' : ']'))
        return false;
    p++;
    if (tape && tape->ok)
        tape->n[nodes[depth - 1]].next = (uint32_t)tape->count;
    if (--depth == 0)
        goto done;
    goto after;

object:
    /* p: just after '{'. */
    p = skip_ws(p, e, &lines);
    if (p < e && *p == '}') {
        p++;
        if (tape && tape->ok)
            tape->n[nodes[depth - 1]].next = (uint32_t)tape->count;
        if (--depth == 0)
            goto done;
        goto after;
    }
    /* fall through to member */

member:
    /* p: at a member's key. */
    if (p >= e || *p != '"')
        return false;
    {
        bool esc = false;
        const char *q = string_end(p + 1, e, &flags, &esc);
        if (!q)
            return false;
        if (depth == 1) {
            key = esc ? KEY_OTHER : classify_key(p + 1, (size_t)(q - p - 1));
            if (key == KEY_ENVELOPE)
                flags |= TH_JSCAN_ENVELOPE;
            if (out->mem && (esc || nmem == out->mem_cap)) {
                flags |= TH_JSCAN_MEMBERS_ODD;
            } else if (out->mem) {
                struct th_jmember *m = &out->mem[nmem++];
                m->key = (uint32_t)(p + 1 - p0);
                m->key_len = (uint32_t)(q - p - 1);
                mem_open = true;
            }
        }
        if (tape) {
            if (tape->ok)
                tape->n[nodes[depth - 1]].len++;
            tape_string(tape, p0, p + 1, (size_t)(q - p - 1), esc);
        }
        p = skip_ws(q + 1, e, &lines);
    }
    if (p >= e || *p != ':')
        return false;
    p = skip_ws(p + 1, e, &lines);
    if (mem_open && depth == 1)
        out->mem[nmem - 1].start = (uint32_t)(p - p0);
    goto value;

done:
    if (time_odd)
        flags |= TH_JSCAN_TIME_ODD;
    if (tape && (flags & TH_JSCAN_ESCAPE_U))
        tape->ok = false; /* json-c's \u decoding is not reproduced */
    out->end = (size_t)(p - p0);
    out->time = tval;
    out->time_len = tlen;
    out->flags = flags;
    out->lines = lines;
    out->nmem = nmem;
    return true;
}

bool th__jscan_records(const char *p0, size_t n, int max_depth, struct th_jscan_elem **elems,
                       size_t *cap, struct th_jmember **mems, size_t *mcap, size_t *count,
                       size_t *end, unsigned *lines)
{
    const char *p = p0, *e = p0 + n;
    unsigned nl = 0;
    size_t k = 0, used = 0; /* members recorded so far */

    *count = 0;
    if (max_depth < 3 || n == 0 || *p != '{')
        return false;
    p = skip_ws(p + 1, e, &nl);
    if (e - p < 9 || memcmp(p, "\"Records\"", 9) != 0)
        return false;
    p = skip_ws(p + 9, e, &nl);
    if (p >= e || *p != ':')
        return false;
    p = skip_ws(p + 1, e, &nl);
    if (p >= e || *p != '[')
        return false;
    p = skip_ws(p + 1, e, &nl);
    if (p < e && *p == ']') {
        p++;
    } else {
        for (;;) {
            if (p >= e || *p != '{')
                return false;
            if (k == *cap) {
                size_t ncap = *cap ? *cap * 2 : 256;
                void *np = realloc(*elems, ncap * sizeof **elems);
                if (!np)
                    return false;
                *elems = np;
                *cap = ncap;
            }
            if (*mcap - used < MEMBERS_PER_ELEM) {
                size_t ncap = *mcap ? *mcap * 2 : 4096;
                void *np = realloc(*mems, ncap * sizeof **mems);
                if (!np)
                    return false;
                *mems = np;
                *mcap = ncap;
            }
            struct th_jscan_elem *el = &(*elems)[k];
            el->info.mem = *mems + used;
            el->info.mem_cap = MEMBERS_PER_ELEM;
            if (!th__jscan_object(p, (size_t)(e - p), max_depth - 2, &el->info, NULL))
                return false;
            el->mem_first = used;
            used += el->info.nmem;
            el->start = (size_t)(p - p0);
            el->end = el->start + el->info.end;
            nl += el->info.lines;
            k++;
            p = skip_ws(p0 + el->end, e, &nl);
            if (p < e && *p == ',') {
                p = skip_ws(p + 1, e, &nl);
                continue;
            }
            if (p < e && *p == ']') {
                p++;
                break;
            }
            return false;
        }
    }
    p = skip_ws(p, e, &nl);
    if (p >= e || *p != '}')
        return false;
    for (size_t i = 0; i < k; i++) /* the member buffer no longer moves */
        (*elems)[i].info.mem = *mems + (*elems)[i].mem_first;
    *count = k;
    *end = (size_t)(p + 1 - p0);
    *lines = nl;
    return true;
}
