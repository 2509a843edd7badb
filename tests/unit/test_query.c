/*
 * test_query.c - the query language (engine/query_parse.c, engine/query_eval.c): the tree
 * the parser builds (precedence, default fields, matcher kinds), matching against events
 * (wildcards, quoting, escapes, reserved fields and tags, numbers, ranges, arrays, existence,
 * CIDR, regex and its limits, free text), the ClickOps query of SPEC §5, lint warnings, a
 * table of syntax errors with their columns, nesting limits, and a check that matching
 * allocates nothing (through the sanitizer allocator's hooks when built with ASan).
 */
#include "query.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "query_ast.h"

/* ------------------------------------------------------------------------------------ */
/* Helpers */

struct warns {
    int n;
    unsigned col;  /* of the first warning */
    char msg[512]; /* of the first warning */
};

static void on_warn(void *ctx, unsigned col, const char *msg)
{
    struct warns *w = ctx;
    if (w->n++ == 0) {
        w->col = col;
        snprintf(w->msg, sizeof w->msg, "%s", msg);
    }
}

static struct th_query *compile_w(const char *text, struct warns *w)
{
    struct th_query *q = NULL;
    unsigned col = 0;
    struct th_err err = {{0}, {0}};
    int rc = th__query_compile(text, strlen(text), w ? on_warn : NULL, w, &q, &col, &err);
    if (rc != 0) {
        fprintf(stderr, "compile failed: %s: col %u: %s\n", text, col, err.msg);
        return NULL;
    }
    return q;
}

static struct th_query *compile(const char *text)
{
    return compile_w(text, NULL);
}

/* Holds one parsed event. */
struct tev {
    json_object *root;
    struct th_event ev;
};

static void tev_init(struct tev *t, const char *json)
{
    t->root = json_tokener_parse(json);
    if (!t->root)
        fprintf(stderr, "bad test JSON: %s\n", json);
    th__event_reset(&t->ev, t->root, 0, "test", 1, NULL, 0);
}

static void tev_fini(struct tev *t)
{
    json_object_put(t->root);
    t->root = NULL;
}

/* 1 match, 0 no match, -1 compile error. */
static int qmatch(const char *text, const char *json, struct th_match_ctx *ctx)
{
    struct th_query *q = compile(text);
    if (!q)
        return -1;
    struct tev t;
    tev_init(&t, json);
    int r = t.root ? th__query_match(q, &t.ev, ctx) : -2;
    tev_fini(&t);
    th__query_free(q);
    return r;
}

static const char *dump(const char *text, char *buf, size_t size)
{
    struct th_query *q = compile(text);
    if (!q)
        return "(compile error)";
    th__query_dump(q, buf, size);
    th__query_free(q);
    return buf;
}

/* ------------------------------------------------------------------------------------ */
/* Events */

static const char *const EV_MAIN =
    "{\"eventVersion\":\"1.08\",\"eventSource\":\"s3.amazonaws.com\","
    "\"eventName\":\"PutBucketPolicy\",\"awsRegion\":\"us-east-1\","
    "\"sourceIPAddress\":\"203.0.113.7\","
    "\"userAgent\":\"[S3Console/0.4, aws-internal/3 aws-sdk-java/1.11.1030]\","
    "\"recipientAccountId\":\"111122223333\",\"readOnly\":false,"
    "\"eventTime\":\"2024-01-31T12:00:00Z\","
    "\"userIdentity\":{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::111122223333:user/alice\","
    "\"accountId\":\"111122223333\",\"userName\":\"alice\"},"
    "\"requestParameters\":{\"bucketName\":\"my-bucket\",\"count\":3,\"ratio\":0.5,"
    "\"size\":\"1024\",\"maxItems\":\"12.5e1\",\"notNum\":\"12abc\",\"tags\":[\"prod\",\"pci\"],"
    "\"empty\":[],\"nothing\":null,\"obj\":{\"k\":\"v\"},\"uniq\":98765,"
    "\"ipPermissions\":{\"items\":["
    "{\"ipProtocol\":\"tcp\",\"fromPort\":22,\"ipRanges\":{\"items\":["
    "{\"cidrIp\":\"10.0.0.0/8\"},{\"cidrIp\":\"0.0.0.0/0\"}]}},"
    "{\"ipProtocol\":\"udp\",\"fromPort\":53,\"ipRanges\":{\"items\":["
    "{\"cidrIp\":\"192.168.0.0/16\"}]}}]}},"
    "\"responseElements\":null,"
    "\"additionalEventData\":{\"note\":\"a*b\",\"path\":\"/var/log\",\"colon\":\"a:b\","
    "\"quote\":\"say \\\"hi\\\"\",\"back\":\"c:\\\\dir\",\"space\":\"AWS Internal\","
    "\"utf\":\"caf\\u00e9\",\"plus\":\"a+b\",\"dash\":\"aws-sdk-go\",\"q\":\"what?\"}}";

static const char *const EV_V6 =
    "{\"eventName\":\"RunInstances\",\"sourceIPAddress\":\"2001:db8::10\","
    "\"errorCode\":\"AccessDenied\",\"userIdentity\":{\"type\":\"AssumedRole\","
    "\"arn\":\"arn:aws:sts::111122223333:assumed-role/Admin/bob\"}}";

static const char *const EV_AWS_INTERNAL =
    "{\"eventName\":\"Decrypt\",\"sourceIPAddress\":\"AWS Internal\",\"numIp\":167772161}";

static const char *const EV_MAPPED = "{\"sourceIPAddress\":\"::ffff:10.1.2.3\"}";

/* ------------------------------------------------------------------------------------ */
/* Tree shape: precedence, groups, matcher kinds */

static void test_dump(void)
{
    static const struct {
        const char *q;
        const char *want;
    } cases[] = {
        {"a b OR c", "(OR (AND TEXT:substr:\"a\" TEXT:substr:\"b\") TEXT:substr:\"c\")"},
        {"a OR b c", "(OR TEXT:substr:\"a\" (AND TEXT:substr:\"b\" TEXT:substr:\"c\"))"},
        {"a AND b OR c AND d",
         "(OR (AND TEXT:substr:\"a\" TEXT:substr:\"b\") (AND TEXT:substr:\"c\" "
         "TEXT:substr:\"d\"))"},
        {"a (b OR c)", "(AND TEXT:substr:\"a\" (OR TEXT:substr:\"b\" TEXT:substr:\"c\"))"},
        {"NOT a b", "(AND (NOT TEXT:substr:\"a\") TEXT:substr:\"b\")"},
        {"-a OR b", "(OR (NOT TEXT:substr:\"a\") TEXT:substr:\"b\")"},
        {"NOT (a OR b)", "(NOT (OR TEXT:substr:\"a\" TEXT:substr:\"b\"))"},
        {"--a", "(NOT (NOT TEXT:substr:\"a\"))"},
        {"((a))", "TEXT:substr:\"a\""},
        {"and or not", "(AND TEXT:substr:\"and\" TEXT:substr:\"or\" TEXT:substr:\"not\")"},
        {"ANDROID", "TEXT:substr:\"ANDROID\""},
        {"@evt.name:(Get* OR Describe*)",
         "(OR @evt.name:prefix:\"Get\" @evt.name:prefix:\"Describe\")"},
        {"-@evt.name:(A OR B)", "(NOT (OR @evt.name:exact:\"A\" @evt.name:exact:\"B\"))"},
        {"@a:(x (y OR -z))", "(AND @a:exact:\"x\" (OR @a:exact:\"y\" (NOT @a:exact:\"z\")))"},
        {"@a:(x OR @b:y)", "(OR @a:exact:\"x\" @b:exact:\"y\")"},
        {"@a:*", "@a:*"},
        {"@a:**", "@a:*"},
        {"-@a:*", "(NOT @a:*)"},
        {"@a:(* OR x)", "(OR @a:* @a:exact:\"x\")"},
        {"*", "TRUE"},
        {"@a:>5", "@a:{5 TO *}"},
        {"@a:>=5", "@a:[5 TO *}"},
        {"@a:<-1.5", "@a:{* TO -1.5}"},
        {"@a:<=1e3", "@a:{* TO 1000]"},
        {"@a:[1 TO 5]", "@a:[1 TO 5]"},
        {"@a:{1 TO 5}", "@a:{1 TO 5}"},
        {"@a:[1 TO 5}", "@a:[1 TO 5}"},
        {"@a:[ 1 TO * ]", "@a:[1 TO *]"},
        {"@a:[* TO *]", "@a:*"},
        {"@a:[a TO c]", "@a:[\"a\" TO \"c\"]"},
        {"@a:[1 TO c]", "@a:[\"1\" TO \"c\"]"},
        {"@a:[\"x y\" TO \"z\"]", "@a:[\"x y\" TO \"z\"]"},
        {"@a:>abc", "@a:{\"abc\" TO *}"},
        {"@a:/x\\/y\\d/", "@a:/x/y\\d/"},
        {"/err.r/", "TEXT:/err.r/"},
        {"CIDR(@a, 10.0.0.0/8, 2001:db8::/32)", "@a:CIDR(10.0.0.0/8,2001:db8::/32)"},
        {"CIDR( @a ,10.0.0.0/8 )", "@a:CIDR(10.0.0.0/8)"},
        {"-CIDR(@a,10.0.0.0/8)", "(NOT @a:CIDR(10.0.0.0/8))"},
        {"source:cloudtrail", "source:exact:\"cloudtrail\""},
        {"\"a b\"", "TEXT:substr:\"a b\""},
        {"a?b", "TEXT:glob:*a?b*"},
        {"a\\?b", "TEXT:substr:\"a?b\""},
        {"@a:x\\*y*", "@a:prefix:\"x*y\""},
        {"@a:x\\ y", "@a:exact:\"x y\""},
        {"@a:\"x*\"", "@a:exact:\"x*\""},
        {"@a:\"\"", "@a:exact:\"\""},
        {"@a:*x*", "@a:substr:\"x\""},
        {"@a:*x", "@a:suffix:\"x\""},
        {"@a:x*y", "@a:glob:x*y"},
        {"@a:-5", "@a:exact:\"-5\""},
        {"@a:aws-sdk-go", "@a:exact:\"aws-sdk-go\""},
        {"@a:S3Console/*", "@a:prefix:\"S3Console/\""},
        {"@a:\\[S3Console*", "@a:prefix:\"[S3Console\""},
        {"@a:onsole.*.amazonaws.com", "@a:glob:onsole.*.amazonaws.com"},
        {"@a:a+b", "@a:exact:\"a+b\""},
        {"@a:\\/x", "@a:exact:\"/x\""},
        {"@a:x/y", "@a:exact:\"x/y\""},
        {" \t@a:x\n", "@a:exact:\"x\""},
        {"@a:(x)", "@a:exact:\"x\""},
    };
    char buf[512];
    for (size_t i = 0; i < TH_ARRAY_LEN(cases); i++) {
        const char *got = dump(cases[i].q, buf, sizeof buf);
        if (strcmp(got, cases[i].want) != 0)
            fprintf(stderr, "  query: %s\n", cases[i].q);
        CHECK_STR(got, cases[i].want);
    }

    /* Truncation keeps the buffer terminated and reports the full length. */
    struct th_query *q = compile("@evt.name:(Get* OR Describe*)");
    char small[8];
    size_t n = th__query_dump(q, small, sizeof small);
    CHECK_INT(n, strlen("(OR @evt.name:prefix:\"Get\" @evt.name:prefix:\"Describe\")"));
    CHECK_STR(small, "(OR @ev");
    CHECK_STR(th__query_text(q), "@evt.name:(Get* OR Describe*)");
    th__query_free(q);
    th__query_free(NULL);

    /* The text is copied: len bytes, not up to the NUL. */
    const char *t = "@a:x trailing";
    q = NULL;
    unsigned col = 0;
    struct th_err err = {{0}, {0}};
    CHECK_INT(th__query_compile(t, 4, NULL, NULL, &q, &col, &err), 0);
    CHECK(q != NULL);
    if (q) {
        CHECK_STR(th__query_text(q), "@a:x");
        th__query_dump(q, buf, sizeof buf);
        CHECK_STR(buf, "@a:exact:\"x\"");
    }
    th__query_free(q);
}

/* ------------------------------------------------------------------------------------ */
/* Matching */

static void test_match(struct th_match_ctx *ctx)
{
    enum { MAIN, V6, AWSI, MAPPED };
    const char *events[] = {EV_MAIN, EV_V6, EV_AWS_INTERNAL, EV_MAPPED};
    static const struct {
        const char *q;
        int ev;
        int want;
    } cases[] = {
        /* Plain values, aliases, case sensitivity, anchoring. */
        {"@eventName:PutBucketPolicy", MAIN, 1},
        {"@evt.name:PutBucketPolicy", MAIN, 1},
        {"@evt.name:putbucketpolicy", MAIN, 0},
        {"@evt.name:Put", MAIN, 0},
        {"@evt.name:Policy", MAIN, 0},
        {"@evt.name:Put*", MAIN, 1},
        {"@evt.name:*Policy", MAIN, 1},
        {"@evt.name:*Bucket*", MAIN, 1},
        {"@evt.name:Put?ucket*", MAIN, 1},
        {"@evt.name:Put?Bucket*", MAIN, 0},
        {"@evt.name:P*t*y", MAIN, 1},
        {"@evt.name:P*x*y", MAIN, 0},
        {"@usr.name:alice", MAIN, 1},
        {"@userIdentity.userName:alice", MAIN, 1},
        {"@userIdentity.userName:bob", MAIN, 0},
        {"@no.such.attr:x", MAIN, 0},
        {"@eventName.sub:x", MAIN, 0},
        /* Quoted values are exact. */
        {"@evt.name:\"Put*\"", MAIN, 0},
        {"@evt.name:\"PutBucketPolicy\"", MAIN, 1},
        {"@additionalEventData.note:\"a*b\"", MAIN, 1},
        {"@additionalEventData.note:\"a?b\"", MAIN, 0},
        {"@additionalEventData.space:\"AWS Internal\"", MAIN, 1},
        {"@additionalEventData.space:\"AWS\"", MAIN, 0},
        {"@additionalEventData.quote:\"say \\\"hi\\\"\"", MAIN, 1},
        {"@additionalEventData.back:\"c:\\\\dir\"", MAIN, 1},
        /* Escapes in bare terms. */
        {"@additionalEventData.note:a\\*b", MAIN, 1},
        {"@additionalEventData.note:a*b", MAIN, 1},
        {"@additionalEventData.q:what\\?", MAIN, 1},
        {"@additionalEventData.q:what?", MAIN, 1},
        {"@additionalEventData.q:wha\\?", MAIN, 0},
        {"@additionalEventData.colon:a\\:b", MAIN, 1},
        {"@additionalEventData.space:AWS\\ Internal", MAIN, 1},
        {"@additionalEventData.back:c\\:\\\\dir", MAIN, 1},
        {"@additionalEventData.path:\\/var/log", MAIN, 1},
        {"@additionalEventData.plus:a+b", MAIN, 1},
        {"@additionalEventData.dash:aws-sdk-go", MAIN, 1},
        {"@http.useragent:\\[S3Console*", MAIN, 1},
        {"@http.useragent:S3Console*", MAIN, 0},
        {"@additionalEventData.utf:caf?", MAIN, 1},
        {"@additionalEventData.utf:caf??", MAIN, 0},
        /* Numbers and booleans compared as text by plain values. */
        {"@readOnly:false", MAIN, 1},
        {"@readOnly:true", MAIN, 0},
        {"@requestParameters.count:3", MAIN, 1},
        {"@requestParameters.count:4", MAIN, 0},
        {"@requestParameters.ratio:0.5", MAIN, 1},
        {"@requestParameters.count:\"3\"", MAIN, 1},
        /* Arrays and paths through arrays of objects. */
        {"@requestParameters.tags:pci", MAIN, 1},
        {"@requestParameters.tags:dev", MAIN, 0},
        {"@requestParameters.tags:p*", MAIN, 1},
        {"@requestParameters.ipPermissions.items.ipRanges.items.cidrIp:\"0.0.0.0/0\"", MAIN, 1},
        {"@requestParameters.ipPermissions.items.ipRanges.items.cidrIp:\"192.168.0.0/16\"", MAIN,
         1},
        {"@requestParameters.ipPermissions.items.ipRanges.items.cidrIp:\"1.1.1.1/32\"", MAIN, 0},
        {"@requestParameters.ipPermissions.items.ipProtocol:udp", MAIN, 1},
        {"@requestParameters.ipPermissions.items.fromPort:53", MAIN, 1},
        {"@requestParameters.ipPermissions.items.fromPort:[50 TO 60]", MAIN, 1},
        {"@requestParameters.ipPermissions.items.fromPort:[23 TO 52]", MAIN, 0},
        {"-@requestParameters.ipPermissions.items.fromPort:22", MAIN, 0},
        /* Existence: null, missing and empty arrays are absent; objects exist. */
        {"@requestParameters.bucketName:*", MAIN, 1},
        {"@requestParameters.nothing:*", MAIN, 0},
        {"-@requestParameters.nothing:*", MAIN, 1},
        {"@requestParameters.empty:*", MAIN, 0},
        {"-@requestParameters.empty:*", MAIN, 1},
        {"@missing.attr:*", MAIN, 0},
        {"-@missing.attr:*", MAIN, 1},
        {"@requestParameters.obj:*", MAIN, 1},
        {"@responseElements:*", MAIN, 0},
        {"@requestParameters.tags:*", MAIN, 1},
        {"@requestParameters.obj:v", MAIN, 0},
        {"@requestParameters.obj:*v*", MAIN, 0},
        {"@requestParameters.obj.k:v", MAIN, 1},
        {"@requestParameters.count:[* TO *]", MAIN, 1},
        {"@requestParameters.nothing:[* TO *]", MAIN, 0},
        /* Reserved fields, tags, derived attributes. */
        {"source:cloudtrail", MAIN, 1},
        {"source:cloud*", MAIN, 1},
        {"source:other", MAIN, 0},
        {"status:info", MAIN, 1},
        {"status:error", MAIN, 0},
        {"status:error", V6, 1},
        {"@level:Error", V6, 1},
        {"@level:Error", MAIN, 0},
        {"service:cloudtrail", MAIN, 1},
        {"account:111122223333", MAIN, 1},
        {"account:999", MAIN, 0},
        {"region:us-east-1", MAIN, 1},
        {"region:us-west-2", MAIN, 0},
        {"host:x", MAIN, 0},
        {"host:*", MAIN, 0},
        {"team:x", MAIN, 0},
        {"-team:x", MAIN, 1},
        {"@userIdentity.assumed_role:Admin", V6, 1},
        {"@userIdentity.session_name:bob", V6, 1},
        {"@userIdentity.session_name:bob", MAIN, 0},
        {"@network.client.ip_class:public", MAIN, 1},
        {"@network.client.ip_class:aws_internal", AWSI, 1},
        /* Numeric comparisons: ints, doubles, numeric strings; never booleans. */
        {"@requestParameters.count:>2", MAIN, 1},
        {"@requestParameters.count:>3", MAIN, 0},
        {"@requestParameters.count:>=3", MAIN, 1},
        {"@requestParameters.count:<3", MAIN, 0},
        {"@requestParameters.count:<=3", MAIN, 1},
        {"@requestParameters.count:<4", MAIN, 1},
        {"@requestParameters.count:>-1", MAIN, 1},
        {"@requestParameters.count:>2.5", MAIN, 1},
        {"@requestParameters.count:>1e0", MAIN, 1},
        {"@requestParameters.count:>+3", MAIN, 0},
        {"@requestParameters.ratio:>0.4", MAIN, 1},
        {"@requestParameters.ratio:<0.5", MAIN, 0},
        {"@requestParameters.ratio:<=0.5", MAIN, 1},
        {"@requestParameters.ratio:>=.5", MAIN, 1},
        {"@requestParameters.size:>1000", MAIN, 1},
        {"@requestParameters.size:<1000", MAIN, 0},
        {"@requestParameters.size:>=1024", MAIN, 1},
        {"@requestParameters.maxItems:>=125", MAIN, 1},
        {"@requestParameters.maxItems:>125", MAIN, 0},
        {"@requestParameters.notNum:>1", MAIN, 0},
        {"@requestParameters.notNum:<100", MAIN, 0},
        {"@requestParameters.bucketName:>5", MAIN, 0},
        {"@readOnly:<1", MAIN, 0},
        {"@readOnly:>=0", MAIN, 0},
        {"@missing:>0", MAIN, 0},
        {"-@missing:>0", MAIN, 1},
        /* Ranges: inclusive, exclusive, mixed, open ends, strings. */
        {"@requestParameters.count:[3 TO 5]", MAIN, 1},
        {"@requestParameters.count:{3 TO 5]", MAIN, 0},
        {"@requestParameters.count:[1 TO 3]", MAIN, 1},
        {"@requestParameters.count:[1 TO 3}", MAIN, 0},
        {"@requestParameters.count:{2 TO 4}", MAIN, 1},
        {"@requestParameters.count:[* TO 3]", MAIN, 1},
        {"@requestParameters.count:[4 TO *]", MAIN, 0},
        {"@requestParameters.count:[-10 TO 2.9999]", MAIN, 0},
        {"@requestParameters.size:[1000 TO 2000]", MAIN, 1},
        {"@requestParameters.size:[\"1000\" TO \"2000\"]", MAIN, 1},
        {"@awsRegion:[us-east-1 TO us-west-2]", MAIN, 1},
        {"@awsRegion:{us-east-1 TO us-west-2]", MAIN, 0},
        {"@eventName:[A TO Q]", MAIN, 1},
        {"@eventName:[A TO P]", MAIN, 0},
        {"@eventName:[Pu TO Pv]", MAIN, 1},
        {"@awsRegion:>us", MAIN, 1},
        {"@awsRegion:<us", MAIN, 0},
        {"@requestParameters.count:[a TO z]", MAIN, 0}, /* strings only in string mode */
        /* Groups with a default field. */
        {"@evt.name:(Get* OR Put*)", MAIN, 1},
        {"@evt.name:(Get* OR Describe*)", MAIN, 0},
        {"-@evt.name:(Get* OR Describe*)", MAIN, 1},
        {"NOT @evt.name:(Get* OR Describe*)", MAIN, 1},
        {"-@evt.name:(Get* OR Put*)", MAIN, 0},
        {"@evt.name:(Put* AND *Policy)", MAIN, 1},
        {"@evt.name:(Put* *Policy)", MAIN, 1},
        {"@evt.name:(Put* -*Policy)", MAIN, 0},
        {"@evt.name:(Put* NOT *Acl)", MAIN, 1},
        {"@evt.name:(Get* OR (Put* AND *Policy))", MAIN, 1},
        {"@evt.name:(Get* OR (Put* AND *Acl))", MAIN, 0},
        {"@evt.name:(\"PutBucketPolicy\" OR x)", MAIN, 1},
        {"@evt.name:(/^Put/ OR x)", MAIN, 1},
        {"@requestParameters.count:(>5 OR [1 TO 3])", MAIN, 1},
        {"@requestParameters.count:(>5 OR [1 TO 2])", MAIN, 0},
        {"@evt.name:(Get* OR @awsRegion:us-east-1)", MAIN, 1},
        {"@evt.name:(*)", MAIN, 1},
        /* Boolean structure. */
        {"NOT @evt.name:Put*", MAIN, 0},
        {"NOT NOT @evt.name:Put*", MAIN, 1},
        {"--@evt.name:Put*", MAIN, 1},
        {"@evt.name:Put* AND source:cloudtrail", MAIN, 1},
        {"@evt.name:Put* source:other", MAIN, 0},
        {"@evt.name:Get* OR source:cloudtrail", MAIN, 1},
        {"@evt.name:Get* OR source:other", MAIN, 0},
        {"(@evt.name:Get* OR @evt.name:Put*) @awsRegion:us-east-1", MAIN, 1},
        {"@evt.name:Get* @awsRegion:us-east-1 OR @awsRegion:eu-west-1", MAIN, 0},
        {"@evt.name:Put* @awsRegion:eu-west-1 OR @awsRegion:us-east-1", MAIN, 1},
        {"NOT (@evt.name:Get* OR @awsRegion:eu-west-1)", MAIN, 1},
        /* Free text: a substring of any scalar leaf, numbers included. */
        {"PutBucketPolicy", MAIN, 1},
        {"BucketPol", MAIN, 1},
        {"bucketpol", MAIN, 0},
        {"\"my-bucket\"", MAIN, 1},
        {"\"my bucket\"", MAIN, 0},
        {"Put*Policy", MAIN, 1},
        {"Put?Policy", MAIN, 0},
        {"98765", MAIN, 1},
        {"8765", MAIN, 1},
        {"nonexistentword", MAIN, 0},
        {"alice PutBucket", MAIN, 1},
        {"alice nobody", MAIN, 0},
        {"*", MAIN, 1},
        {"-*", MAIN, 0},
        {"/Bucket/", MAIN, 1},
        {"/^Bucket/", MAIN, 0},
        /* CIDR. */
        {"CIDR(@network.client.ip, 203.0.113.0/24)", MAIN, 1},
        {"CIDR(@network.client.ip, 10.0.0.0/8, 2001:db8::/32)", MAIN, 0},
        {"CIDR(@network.client.ip, 10.0.0.0/8, 2001:db8::/32)", V6, 1},
        {"CIDR(@network.client.ip, 2001:db9::/32)", V6, 0},
        {"CIDR(@network.client.ip, 10.0.0.0/8)", V6, 0},
        {"-CIDR(@network.client.ip, 10.0.0.0/8)", MAIN, 1},
        {"NOT CIDR(@network.client.ip,203.0.113.0/24)", MAIN, 0},
        {"CIDR(@sourceIPAddress, 203.0.113.7)", MAIN, 1},
        {"CIDR(@network.client.ip, 0.0.0.0/0, ::/0)", AWSI, 0},
        {"CIDR(@numIp, 0.0.0.0/0)", AWSI, 0},
        {"CIDR(@network.client.ip, 10.0.0.0/8)", MAPPED, 1},
        {"CIDR(@requestParameters.ipPermissions.items.ipRanges.items.cidrIp, 0.0.0.0/0)", MAIN, 0},
        {"CIDR(@missing, 0.0.0.0/0)", MAIN, 0},
        {"@evt.name:Put* CIDR(@network.client.ip, 203.0.113.0/24)", MAIN, 1},
        /* Regex: PCRE2, unanchored, on the text form. */
        {"@evt.name:/^Put.*Policy$/", MAIN, 1},
        {"@evt.name:/^Get/", MAIN, 0},
        {"@evt.name:/Bucket/", MAIN, 1},
        {"@evt.name:/bucket/", MAIN, 0},
        {"@evt.name:/(?i)bucket/", MAIN, 1},
        {"@additionalEventData.path:/^\\/var\\/log$/", MAIN, 1},
        {"@requestParameters.count:/^3$/", MAIN, 1},
        {"@readOnly:/^f/", MAIN, 1},
        {"@requestParameters.tags:/^pc/", MAIN, 1},
        {"@additionalEventData.utf:/^caf.$/", MAIN, 1},
        {"@requestParameters.obj:/./", MAIN, 0},
        {"-@evt.name:/^Put/", MAIN, 0},
    };
    for (size_t i = 0; i < TH_ARRAY_LEN(cases); i++) {
        int got = qmatch(cases[i].q, events[cases[i].ev], ctx);
        if (got != cases[i].want)
            fprintf(stderr, "  query #%zu: %s (event %d)\n", i, cases[i].q, cases[i].ev);
        CHECK_INT(got, cases[i].want);
    }
    CHECK_INT(ctx->regex_errors, 0);
}

/* ------------------------------------------------------------------------------------ */
/* The ClickOps query of SPEC §5, verbatim. */

static const char *const CLICKOPS =
    "source:cloudtrail @http.useragent:(\"console.amazonaws.com\" OR \"Coral/Jakarta\" OR "
    "\"Coral/Netty4\" OR \"AWS CloudWatch Console\" OR S3Console/* OR \\[S3Console* OR "
    "Mozilla/* OR onsole.*.amazonaws.com OR aws-internal*AWSLambdaConsole/*) "
    "-@evt.name:(Get* OR Describe* OR List* OR Head* OR DownloadDBLogFilePortion OR "
    "TestScheduleExpression OR TestEventPattern OR LookupEvents OR listDnssec OR Decrypt OR "
    "REST.GET.OBJECT_LOCK_CONFIGURATION OR ConsoleLogin) "
    "-@userIdentity.invokedBy:\"AWS Internal\"";

static int clickops(struct th_query *q, struct th_match_ctx *ctx, const char *name, const char *ua,
                    const char *invoked_by)
{
    char json[1024];
    if (invoked_by)
        snprintf(json, sizeof json,
                 "{\"eventName\":\"%s\",\"userAgent\":\"%s\",\"userIdentity\":"
                 "{\"type\":\"AWSService\",\"invokedBy\":\"%s\"}}",
                 name, ua, invoked_by);
    else
        snprintf(json, sizeof json,
                 "{\"eventName\":\"%s\",\"userAgent\":\"%s\",\"userIdentity\":"
                 "{\"type\":\"IAMUser\",\"userName\":\"alice\"}}",
                 name, ua);
    struct tev t;
    tev_init(&t, json);
    int r = t.root ? th__query_match(q, &t.ev, ctx) : -1;
    tev_fini(&t);
    return r;
}

static void test_clickops(struct th_match_ctx *ctx)
{
    struct warns w = {0, 0, ""};
    struct th_query *q = compile_w(CLICKOPS, &w);
    CHECK(q != NULL);
    if (!q)
        return;
    CHECK_INT(w.n, 0);
    /* Console actions that mutate: match. */
    CHECK_INT(clickops(q, ctx, "PutBucketPolicy", "S3Console/0.4", NULL), 1);
    CHECK_INT(clickops(q, ctx, "RunInstances", "console.amazonaws.com", NULL), 1);
    CHECK_INT(clickops(q, ctx, "PutBucketPolicy",
                       "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.11.1030]", NULL),
              1);
    CHECK_INT(clickops(q, ctx, "CreateUser",
                       "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36", NULL),
              1);
    CHECK_INT(clickops(q, ctx, "UpdateFunctionCode20150331v2",
                       "aws-internal/3 aws-sdk-java/1.12.1 AWSLambdaConsole/2.0", NULL),
              1);
    CHECK_INT(clickops(q, ctx, "PutMetricAlarm", "AWS CloudWatch Console", NULL), 1);
    CHECK_INT(clickops(q, ctx, "PutMetricAlarm", "Coral/Jakarta", NULL), 1);
    CHECK_INT(clickops(q, ctx, "ModifyInstance", "onsole.ec2.amazonaws.com", NULL), 1);
    CHECK_INT(clickops(q, ctx, "PutObjectLockConfiguration", "S3Console/0.4", NULL), 1);
    /* A user agent that only resembles a console one: no match (quoted is exact). */
    CHECK_INT(clickops(q, ctx, "PutMetricAlarm", "Coral/Jakartax", NULL), 0);
    CHECK_INT(clickops(q, ctx, "PutMetricAlarm", "AWS CloudWatch Console 2", NULL), 0);
    /* Reads, console logins, AWS-internal calls and SDK calls: no match. */
    CHECK_INT(clickops(q, ctx, "GetBucketPolicy", "S3Console/0.4", NULL), 0);
    CHECK_INT(clickops(q, ctx, "DescribeInstances", "console.amazonaws.com", NULL), 0);
    CHECK_INT(clickops(q, ctx, "ListBuckets", "S3Console/0.4", NULL), 0);
    CHECK_INT(clickops(q, ctx, "HeadObject", "S3Console/0.4", NULL), 0);
    CHECK_INT(clickops(q, ctx, "ConsoleLogin", "Mozilla/5.0 (X11; Linux x86_64)", NULL), 0);
    CHECK_INT(clickops(q, ctx, "Decrypt", "console.amazonaws.com", NULL), 0);
    CHECK_INT(clickops(q, ctx, "REST.GET.OBJECT_LOCK_CONFIGURATION", "S3Console/0.4", NULL), 0);
    CHECK_INT(clickops(q, ctx, "PutBucketPolicy", "console.amazonaws.com", "AWS Internal"), 0);
    CHECK_INT(clickops(q, ctx, "PutBucketPolicy", "console.amazonaws.com", "ec2.amazonaws.com"), 1);
    CHECK_INT(clickops(q, ctx, "PutBucketPolicy", "aws-sdk-go/1.44.0 (go1.20; linux; amd64)", NULL),
              0);
    CHECK_INT(clickops(q, ctx, "PutBucketPolicy", "aws-cli/2.13.5 Python/3.11.4", NULL), 0);
    CHECK_INT(clickops(q, ctx, "PutBucketPolicy", "Boto3/1.28.0", NULL), 0);
    th__query_free(q);
}

/* ------------------------------------------------------------------------------------ */
/* Regex limits */

static void test_regex_limits(void)
{
    struct th_match_ctx ctx;
    CHECK_INT(th__match_ctx_init(&ctx, 10000, 100), 0);
    char json[256];
    char as[101];
    memset(as, 'a', 100);
    as[100] = '\0';
    snprintf(json, sizeof json, "{\"v\":\"%sb\",\"w\":\"aaa\"}", as);

    struct th_query *q = compile("@v:/(a+)+$/");
    struct th_query *ok = compile("@w:/(a+)+$/");
    CHECK(q && ok);
    if (q && ok) {
        struct tev t;
        tev_init(&t, json);
        clock_t t0 = clock();
        CHECK(!th__query_match(q, &t.ev, &ctx));
        double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
        CHECK(secs < 1.0);
        CHECK_INT(ctx.regex_errors, 1);
        /* A negated catastrophic match is still "no match" inside, so NOT is true. */
        struct th_query *nq = compile("-@v:/(a+)+$/");
        CHECK(nq && th__query_match(nq, &t.ev, &ctx));
        CHECK_INT(ctx.regex_errors, 2);
        th__query_free(nq);
        /* The same pattern on a short value matches and counts nothing. */
        CHECK(th__query_match(ok, &t.ev, &ctx));
        CHECK_INT(ctx.regex_errors, 2);
        /* Without a ctx, regexes never match (and nothing is counted). */
        CHECK(!th__query_match(ok, &t.ev, NULL));
        tev_fini(&t);
    }
    th__query_free(q);
    th__query_free(ok);
    th__match_ctx_fini(&ctx);
    CHECK(ctx.match_data == NULL && ctx.match_context == NULL);
    th__match_ctx_fini(&ctx); /* twice is fine */
}

/* ------------------------------------------------------------------------------------ */
/* Warnings */

static void test_warnings(void)
{
    static const struct {
        const char *q;
        int n;
        unsigned col;
        const char *msg;
    } cases[] = {
        {"a b OR c", 1, 5, "AND and OR mixed without parentheses"},
        {"a AND b OR c", 1, 9, "add parentheses"},
        {"a OR b c", 1, 3, "AND and OR mixed"},
        {"a OR b AND c OR d", 1, 3, "AND and OR mixed"},
        {"@a:(x y OR z)", 1, 9, "AND and OR mixed"},
        {"(a b) OR c", 0, 0, NULL},
        {"a (b OR c)", 0, 0, NULL},
        {"a OR b", 0, 0, NULL},
        {"a b", 0, 0, NULL},
        {"NOT a OR -b", 0, 0, NULL},
        {"@a:(x OR y) @b:(z OR w)", 0, 0, NULL},
        {"(a b OR c) d", 1, 6, "AND and OR mixed"},
        {"foo:bar", 1, 1, "unknown tag 'foo'"},
        {"x -team:a", 1, 4, "unknown tag 'team'"},
        {"host:x", 0, 0, NULL},
        {"account:1 region:x source:y status:z service:w", 0, 0, NULL},
        {"CIDR(@a, 10.1.2.3/8)", 1, 10, "host bits set; it matches 10.0.0.0/8"},
        {"CIDR(@a, 10.0.0.0/8)", 0, 0, NULL},
    };
    for (size_t i = 0; i < TH_ARRAY_LEN(cases); i++) {
        struct warns w = {0, 0, ""};
        struct th_query *q = compile_w(cases[i].q, &w);
        CHECK(q != NULL);
        if (w.n != cases[i].n)
            fprintf(stderr, "  query: %s (warning: %s)\n", cases[i].q, w.msg);
        CHECK_INT(w.n, cases[i].n);
        if (cases[i].n) {
            CHECK_INT(w.col, cases[i].col);
            CHECK_CONTAINS(w.msg, cases[i].msg);
        }
        th__query_free(q);
    }
    /* No callback: no crash, and the query still compiles. */
    struct th_query *q = compile("a b OR c");
    CHECK(q != NULL);
    th__query_free(q);
}

/* ------------------------------------------------------------------------------------ */
/* Syntax errors */

static void check_error(const char *text, size_t len, unsigned want_col, const char *want_msg)
{
    struct th_query *q = (struct th_query *)1;
    unsigned col = 0;
    struct th_err err;
    memset(&err, 'x', sizeof err);
    err.where[sizeof err.where - 1] = '\0';
    err.msg[sizeof err.msg - 1] = '\0';
    int rc = th__query_compile(text, len, NULL, NULL, &q, &col, &err);
    if (rc != TH_EPARSE || col != want_col || !strstr(err.msg, want_msg))
        fprintf(stderr, "  query: %.*s\n", (int)(len > 200 ? 200 : len), text);
    CHECK_INT(rc, TH_EPARSE);
    CHECK(q == NULL);
    CHECK_INT(col, want_col);
    CHECK_CONTAINS(err.msg, want_msg);
    CHECK_STR(err.where, "");
    CHECK(strchr(err.msg, '\n') == NULL);
}

static void test_errors(void)
{
    static const struct {
        const char *q;
        unsigned col;
        const char *msg;
    } cases[] = {
        {"", 1, "empty query"},
        {"   \t", 1, "empty query"},
        {"(a", 1, "unbalanced parenthesis: '(' is never closed"},
        {"a)", 2, "unbalanced parenthesis: unexpected ')'"},
        {")", 1, "unbalanced parenthesis: unexpected ')'"},
        {"(a OR b", 1, "unbalanced parenthesis"},
        {"a (b (c)", 3, "unbalanced parenthesis"},
        {"@a:(x OR y", 4, "unbalanced parenthesis"},
        {"@a:", 4, "expected a value after ':'"},
        {"@a: b", 4, "expected a value after ':'"},
        {"@a:)", 4, "expected a value after ':'"},
        {"a:", 3, "expected a value after ':'"},
        {":a", 1, "expected a field name before ':'"},
        {"@a:\"abc", 4, "unterminated quoted value"},
        {"\"abc\\\"", 1, "unterminated quoted value"},
        {"@a:\"x\"y", 7, "expected white space or ')' after the quoted value"},
        {"FOO(x)", 1, "unknown function FOO; only CIDR is supported"},
        {"a cidr(@a, 1.2.3.4)", 3, "unknown function cidr; only CIDR is supported"},
        {"a AND", 6, "expected a clause after AND"},
        {"a OR", 5, "expected a clause after OR"},
        {"NOT", 4, "expected a clause after NOT"},
        {"a AND )", 7, "expected a clause after AND"},
        {"a - b", 3, "expected a clause right after '-'"},
        {"a -", 3, "expected a clause right after '-'"},
        {"OR a", 1, "unexpected OR"},
        {"AND a", 1, "unexpected AND"},
        {"a AND OR b", 7, "unexpected OR; expected a clause after AND"},
        {"()", 2, "empty parentheses"},
        {"@a:()", 5, "empty parentheses"},
        {"(a)b", 4, "expected white space or ')' after ')'"},
        {"@:x", 2, "expected an attribute name after '@'"},
        {"@", 2, "expected an attribute name after '@'"},
        {"@a", 3, "expected ':' after the attribute name"},
        {"@a b", 3, "expected ':' after the attribute name"},
        {"@a.b*:x", 1, "wildcards are not allowed in an attribute name"},
        {"a*:x", 1, "wildcards are not allowed in a field name"},
        {"@a..b:x", 1, "empty segment"},
        {"@a:b:c", 5, "unescaped ':'"},
        {"@a:x(y)", 5, "unexpected '('"},
        {"a\\", 2, "dangling backslash"},
        {"a&&b", 2, "unexpected '&&'"},
        {"a || b", 3, "unexpected '||'"},
        {"a=b", 2, "unexpected '='"},
        {"@a:x~", 5, "unexpected '~'"},
        {"@a:x^2", 5, "unexpected '^'"},
        {"@a:x]", 5, "unexpected ']'"},
        {"!a", 1, "unexpected '!'"},
        {"#a", 1, "unexpected '#'"},
        {"a\"b\"", 2, "unexpected '\"'"},
        {"+a", 1, "unexpected '+'"},
        {"@a:+b", 4, "unexpected '+'"},
        {"[1 TO 2]", 1, "a range needs an attribute"},
        {">5", 1, "a comparison needs an attribute"},
        {"@a:[1 TO 2", 4, "unterminated range"},
        {"@a:[1 2]", 7, "expected 'TO'"},
        {"@a:[1 to 2]", 7, "expected 'TO'"},
        {"@a:[1]", 6, "expected ' TO '"},
        {"@a:[1 TO 2)", 11, "unexpected ')' in the range"},
        {"@a:[1 TO 2] x", 0, ""}, /* placeholder: valid, skipped below */
        {"@a:[1 TO 2]x", 12, "expected white space or ')' after the range"},
        {"@a:[1* TO 2]", 5, "wildcards are not allowed in the range"},
        {"@a:[ TO 2]", 9, "expected 'TO'"},
        {"@a:>", 5, "expected a value after '>'"},
        {"@a:>=", 6, "expected a value after '>='"},
        {"@a:< 5", 5, "expected a value after '<'"},
        {"@a:>*", 5, "not '*'"},
        {"@a:>5*", 5, "wildcards are not allowed in '>'"},
        {"@a:/abc", 4, "unterminated regex"},
        {"@a:/abc\\/", 4, "unterminated regex"},
        {"@a://", 4, "empty regex"},
        {"@a:/x/y", 7, "expected white space or ')' after the regex"},
        {"@a:/(abc/", 9, "invalid regex: missing closing parenthesis at offset 4"},
        {"@a:/a\\/b(/", 10, "invalid regex: missing closing parenthesis at offset 4"},
        {"@a:/x{2,1}/", 10, "invalid regex:"},
        {"CIDR(@a)", 8, "expected ',' and an IP prefix"},
        {"CIDR(@a, 300.0.0.0/8)", 10, "invalid IP prefix '300.0.0.0/8' in CIDR"},
        {"CIDR(@a, 10.0.0.0/33)", 10, "invalid IP prefix '10.0.0.0/33'"},
        {"CIDR(a, 1.2.3.4)", 6, "expected an attribute (@name)"},
        {"CIDR(@, 1.2.3.4)", 7, "expected an attribute name after '@'"},
        {"CIDR(@a, 1.2.3.4", 5, "'CIDR(' is never closed"},
        {"CIDR(@a", 5, "'CIDR(' is never closed"},
        {"CIDR(@a, 1.2.3.4 5.6.7.8)", 18, "expected ',' or ')' in CIDR"},
        {"CIDR(@a, )", 10, "expected an IP prefix in CIDR"},
        {"CIDR(@a, 1.2.3.4,)", 18, "expected an IP prefix in CIDR"},
        {"CIDR(@a, 1.2.3.4)x", 18, "expected white space or ')' after CIDR(...)"},
        {"a AND (b OR", 12, "expected a clause after OR"},
        {"NOT )", 5, "expected a clause after NOT"},
    };
    for (size_t i = 0; i < TH_ARRAY_LEN(cases); i++) {
        if (cases[i].col == 0)
            continue;
        check_error(cases[i].q, strlen(cases[i].q), cases[i].col, cases[i].msg);
    }
    /* A NUL byte inside the given length. */
    check_error("a\0b", 3, 2, "NUL byte in the query");
    /* NULL text is an empty query. */
    check_error(NULL, 0, 1, "empty query");

    /* Length limit. */
    size_t big = TH_QUERY_MAX_LEN + 1;
    char *s = malloc(big + 1);
    memset(s, 'a', big);
    s[big] = '\0';
    check_error(s, big, 1, "query too long");
    /* At the limit it compiles. */
    struct th_query *q = NULL;
    unsigned col;
    struct th_err err = {{0}, {0}};
    CHECK_INT(th__query_compile(s, TH_QUERY_MAX_LEN, NULL, NULL, &q, &col, &err), 0);
    th__query_free(q);
    free(s);

    /* A query that is valid stays valid with err_col NULL too. */
    q = NULL;
    CHECK_INT(th__query_compile("@a:[1 TO 2] x", 13, NULL, NULL, &q, NULL, NULL), 0);
    th__query_free(q);
    CHECK_INT(th__query_compile("(", 1, NULL, NULL, &q, NULL, NULL), TH_EPARSE);
    CHECK(q == NULL);
}

/* Deep nesting: bounded, reported, never a stack overflow. */
static void test_depth(struct th_match_ctx *ctx)
{
    size_t n = 200;
    char *s = malloc(4 * 1024);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        s[k++] = '(';
    memcpy(s + k, "@evt.name:Put*", 14);
    k += 14;
    for (size_t i = 0; i < n; i++)
        s[k++] = ')';
    s[k] = '\0';
    CHECK_INT(qmatch(s, EV_MAIN, ctx), 1);

    k = 0;
    for (size_t i = 0; i < 300; i++)
        s[k++] = '(';
    s[k++] = 'a';
    for (size_t i = 0; i < 300; i++)
        s[k++] = ')';
    s[k] = '\0';
    check_error(s, k, TH_QUERY_MAX_DEPTH, "nested too deeply");

    /* A chain of NOTs: 200 (an even number) is fine, 1000 is too deep. */
    k = 0;
    for (size_t i = 0; i < 200; i++) {
        memcpy(s + k, "NOT ", 4);
        k += 4;
    }
    memcpy(s + k, "@evt.name:Put*", 15);
    CHECK_INT(qmatch(s, EV_MAIN, ctx), 1);
    k = 0;
    for (size_t i = 0; i < 1000; i++)
        s[k++] = '-';
    s[k++] = 'a';
    s[k] = '\0';
    check_error(s, k, TH_QUERY_MAX_DEPTH, "nested too deeply");
    /* Field groups count too. */
    k = 0;
    memcpy(s, "@a:", 3);
    k = 3;
    for (size_t i = 0; i < 300; i++)
        s[k++] = '(';
    s[k++] = 'x';
    for (size_t i = 0; i < 300; i++)
        s[k++] = ')';
    s[k] = '\0';
    check_error(s, k, 3 + TH_QUERY_MAX_DEPTH, "nested too deeply");
    free(s);
}

/* ------------------------------------------------------------------------------------ */
/* No allocation while matching (ASan builds: the sanitizer allocator's hooks see every
 * malloc of the process, json-c and PCRE2 included). */

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ALLOC_HOOKS 1
int __sanitizer_install_malloc_and_free_hooks(void (*m)(const volatile void *, size_t),
                                              void (*f)(const volatile void *));
static volatile int counting;
static volatile long allocs;
static void on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    (void)n;
    if (counting)
        allocs++;
}
static void on_free(const volatile void *p)
{
    (void)p;
}
#endif

static void test_no_alloc(struct th_match_ctx *ctx)
{
#ifdef HAVE_ALLOC_HOOKS
    static const char *const queries[] = {
        CLICKOPS,
        "@evt.name:/^Put.*Policy$/ OR /Bucket/",
        "CIDR(@network.client.ip, 10.0.0.0/8, 203.0.113.0/24) @usr.name:alice",
        "@requestParameters.size:[1000 TO 2000] @requestParameters.count:>=3 "
        "@awsRegion:[a TO z]",
        "@requestParameters.ipPermissions.items.ipRanges.items.cidrIp:\"0.0.0.0/0\" "
        "-@requestParameters.nothing:* status:info account:111122223333 team:x",
        "alice nonexistent* OR P?tBucket*y OR 98765",
        "@network.client.ip_class:public @userIdentity.session_name:* @level:Info",
    };
    struct th_query *q[TH_ARRAY_LEN(queries)];
    for (size_t i = 0; i < TH_ARRAY_LEN(queries); i++)
        q[i] = compile(queries[i]);
    struct tev t;
    tev_init(&t, EV_MAIN);
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
    int matched = 0;
    counting = 1;
    for (int round = 0; round < 3; round++) {
        th__event_reset(&t.ev, t.root, 0, "test", 1, NULL, 0);
        for (size_t i = 0; i < TH_ARRAY_LEN(queries); i++)
            if (q[i])
                matched += th__query_match(q[i], &t.ev, ctx);
    }
    counting = 0;
    CHECK_INT(allocs, 0);
    CHECK(matched > 0);
    /* The counter works: an allocation while counting is seen. */
    counting = 1;
    void *volatile probe = malloc(16);
    counting = 0;
    free(probe);
    CHECK_INT(allocs, 1);
    tev_fini(&t);
    for (size_t i = 0; i < TH_ARRAY_LEN(queries); i++)
        th__query_free(q[i]);
#else
    (void)ctx;
    printf("test_no_alloc: skipped (not an ASan build)\n");
#endif
}

int main(void)
{
    struct th_match_ctx ctx;
    if (th__match_ctx_init(&ctx, 100000, 1000) != 0)
        return 1;
    test_dump();
    test_match(&ctx);
    test_clickops(&ctx);
    test_regex_limits();
    test_warnings();
    test_errors();
    test_depth(&ctx);
    test_no_alloc(&ctx);
    th__match_ctx_fini(&ctx);
    return CHECK_DONE();
}
