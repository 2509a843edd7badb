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

#endif
