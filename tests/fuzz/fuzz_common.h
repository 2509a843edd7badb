/*
 * fuzz_common.h - what the libFuzzer targets of tests/fuzz/ share: the entry point's
 * prototype (so the targets also build with -Wmissing-prototypes when they are compiled into
 * the plain replay driver), the split of an input into a text part and an events part, and
 * a set of built-in events that exercise every kind of attribute (arrays of objects,
 * numbers, booleans, nulls, assumed-role ARNs, service names, IPv6).
 *
 * Header-only (static functions): each target is its own executable. Nothing here keeps
 * state between inputs, so a crash found by the fuzzer replays from its input file alone.
 */
#ifndef TH_FUZZ_COMMON_H
#define TH_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Events that the targets run texts against when the input carries none; NDJSON. */
static const char fuzz_builtin_events[] =
    "{\"eventVersion\":\"1.08\",\"eventTime\":\"2024-03-04T10:00:00Z\",\"eventSource\":"
    "\"iam.amazonaws.com\",\"eventName\":\"AttachUserPolicy\",\"awsRegion\":\"us-east-1\","
    "\"sourceIPAddress\":\"203.0.113.7\",\"userAgent\":\"TruffleHog\",\"userIdentity\":{"
    "\"type\":\"AssumedRole\",\"arn\":\"arn:aws:sts::111122223333:assumed-role/Admin/alice\","
    "\"accountId\":\"111122223333\",\"accessKeyId\":\"AKIAEXAMPLE\",\"sessionContext\":{"
    "\"sessionIssuer\":{\"userName\":\"Admin\"}}},\"requestParameters\":{\"policyArn\":"
    "\"arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV2\",\"ipPermissions\":{\"items\":"
    "[{\"ipRanges\":{\"items\":[{\"cidrIp\":\"0.0.0.0/0\"},{\"cidrIp\":\"10.0.0.0/8\"}]},"
    "\"fromPort\":22},{\"fromPort\":\"443\"}]}},\"readOnly\":false,\"responseElements\":null,"
    "\"eventID\":\"e1\",\"recipientAccountId\":\"111122223333\",\"errorCode\":\"AccessDenied\","
    "\"errorMessage\":\"no\",\"resources\":[],\"additionalEventData\":{\"bytes\":1.5e3}}\n"
    "{\"eventTime\":\"2024-03-04T10:01:00.123Z\",\"eventName\":\"ConsoleLogin\","
    "\"sourceIPAddress\":\"s3.amazonaws.com\",\"userIdentity\":{\"type\":\"IAMUser\","
    "\"userName\":\"bob\",\"arn\":\"arn:aws:iam::111122223333:user/bob\",\"invokedBy\":"
    "\"AWS Internal\"},\"eventID\":\"e2\",\"awsRegion\":\"eu-west-1\"}\n"
    "{\"eventTime\":\"2024-03-04T10:02:00Z\",\"eventName\":\"GetSecretValue\","
    "\"sourceIPAddress\":\"2001:db8::1\",\"userIdentity\":\"not an object\",\"eventID\":3,"
    "\"requestParameters\":{\"secretId\":[\"a\",\"b\",7,true,null,{\"x\":[]}]}}\n"
    "{\"eventTime\":\"2024-03-05T10:02:00Z\",\"eventName\":\"GetSecretValue\","
    "\"sourceIPAddress\":\"AWS Internal\",\"userIdentity\":{\"type\":\"IAMUser\","
    "\"arn\":\"arn:aws:iam::111122223333:user/bob\",\"sessionContext\":{}},"
    "\"eventID\":\"e4\",\"requestParameters\":{\"secretId\":\"c\"}}\n"
    "{\"eventTime\":\"2024-03-05T10:03:00Z\",\"eventName\":\"ConsoleLogin\","
    "\"sourceIPAddress\":\"192.168.1.1\",\"userIdentity\":{\"type\":\"IAMUser\","
    "\"userName\":\"bob\",\"arn\":\"arn:aws:iam::111122223333:user/bob\"},\"eventID\":\"e5\","
    "\"awsRegion\":\"eu-west-1\",\"errorCode\":\"\"}\n";

/* The line that separates a text (a query, a template, a rule) from events to run it on. */
#define FUZZ_SEP "\n---\n"

/*
 * Splits data at the first separator sep: *text_len gets the bytes before it, *events and
 * *events_len what follows it. Without the separator the whole input is text and the
 * events are the built-in ones.
 */
static inline void fuzz_split(const uint8_t *data, size_t size, const char *sep,
                              size_t *text_len, const char **events, size_t *events_len)
{
    size_t sl = strlen(sep);
    for (size_t i = 0; i + sl <= size; i++)
        if (memcmp(data + i, sep, sl) == 0) {
            *text_len = i;
            *events = (const char *)data + i + sl;
            *events_len = size - i - sl;
            return;
        }
    *text_len = size;
    *events = fuzz_builtin_events;
    *events_len = sizeof fuzz_builtin_events - 1;
}

/*
 * A strict JSON (RFC 8259) validator, independent of json-c (which is lenient), for what
 * the engine writes: one value, nothing but white space around it, strings in valid UTF-8
 * without raw control bytes and without lone surrogate escapes, no NaN or Infinity.
 * Nesting is bounded by an explicit depth (the engine's own output is shallow; events may
 * be as deep as --max-depth).
 */
struct fuzz_json {
    const unsigned char *p, *end;
    int depth;
};

static inline void fj_ws(struct fuzz_json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static inline int fj_hex4(const unsigned char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], h = c >= '0' && c <= '9'   ? c - '0'
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                 : -1;
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static inline bool fj_string(struct fuzz_json *j)
{
    j->p++; /* the opening quote */
    while (j->p < j->end && *j->p != '"') {
        unsigned c = *j->p;
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (j->end - j->p < 2)
                return false;
            unsigned e = j->p[1];
            if (e == 'u') {
                if (j->end - j->p < 6)
                    return false;
                int u = fj_hex4(j->p + 2);
                if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
                    return false;
                if (u >= 0xD800 && u <= 0xDBFF) {
                    if (j->end - j->p < 12 || j->p[6] != '\\' || j->p[7] != 'u')
                        return false;
                    int lo = fj_hex4(j->p + 8);
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return false;
                    j->p += 6;
                }
                j->p += 6;
            } else if (e && strchr("\"\\/bfnrt", (int)e)) {
                j->p += 2;
            } else {
                return false;
            }
            continue;
        }
        if (c < 0x80) {
            j->p++;
            continue;
        }
        /* UTF-8: the shortest form, no surrogates, at most U+10FFFF. */
        size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (!n || (size_t)(j->end - j->p) < n)
            return false;
        unsigned cp = c & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
        for (size_t i = 1; i < n; i++) {
            if ((j->p[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (j->p[i] & 0x3F);
        }
        if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        j->p += n;
    }
    if (j->p >= j->end)
        return false;
    j->p++;
    return true;
}

static inline bool fj_value(struct fuzz_json *j);

static inline bool fj_container(struct fuzz_json *j, unsigned char close)
{
    if (++j->depth > 20000)
        return false;
    j->p++;
    fj_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        j->depth--;
        return true;
    }
    for (;;) {
        if (close == '}') {
            if (j->p >= j->end || *j->p != '"' || !fj_string(j))
                return false;
            fj_ws(j);
            if (j->p >= j->end || *j->p++ != ':')
                return false;
        }
        if (!fj_value(j))
            return false;
        fj_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            fj_ws(j);
            continue;
        }
        if (j->p < j->end && *j->p == close) {
            j->p++;
            j->depth--;
            return true;
        }
        return false;
    }
}

static inline bool fj_number(struct fuzz_json *j)
{
    const unsigned char *p = j->p, *e = j->end;
    if (p < e && *p == '-')
        p++;
    if (p < e && *p == '0')
        p++;
    else if (p < e && *p >= '1' && *p <= '9')
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    else
        return false;
    if (p < e && *p == '.') {
        const unsigned char *d = ++p;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
        if (p == d)
            return false;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        const unsigned char *d = p;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
        if (p == d)
            return false;
    }
    j->p = p;
    return true;
}

static inline bool fj_lit(struct fuzz_json *j, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n))
        return false;
    j->p += n;
    return true;
}

static inline bool fj_value(struct fuzz_json *j)
{
    fj_ws(j);
    if (j->p >= j->end)
        return false;
    switch (*j->p) {
    case '{':
        return fj_container(j, '}');
    case '[':
        return fj_container(j, ']');
    case '"':
        return fj_string(j);
    case 't':
        return fj_lit(j, "true");
    case 'f':
        return fj_lit(j, "false");
    case 'n':
        return fj_lit(j, "null");
    default:
        return fj_number(j);
    }
}

/* True when text[0..len) is exactly one strict JSON value (white space around allowed). */
static inline bool fuzz_strict_json(const char *text, size_t len)
{
    struct fuzz_json j = {(const unsigned char *)text, (const unsigned char *)text + len, 0};
    if (!fj_value(&j))
        return false;
    fj_ws(&j);
    return j.p == j.end;
}

#endif
