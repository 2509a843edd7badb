/*
 * test_attr.c - attribute references and derived attributes (attr.c, event.c): standard
 * aliases, derived values, paths through arrays of objects, null and empty values.
 */
#include "attr.h"
#include "event.h"

#include <string.h>

#include "check.h"

static json_object *ev_json;
static struct th_event ev;

static void load(const char *json)
{
    if (ev_json)
        json_object_put(ev_json);
    ev_json = json_tokener_parse(json);
    th__event_reset(&ev, ev_json, 0, "test", 1, NULL, 0);
}

struct collect {
    char out[512];
};

static bool collect_fn(void *ctx, const struct th_value *v)
{
    struct collect *c = ctx;
    size_t n = strlen(c->out);
    if (v->type == TH_V_OBJECT)
        snprintf(c->out + n, sizeof c->out - n, "%s{obj}", n ? "|" : "");
    else
        snprintf(c->out + n, sizeof c->out - n, "%s%.*s", n ? "|" : "", (int)v->len, v->s);
    return false;
}

/* All values of a name in the current event, joined by '|'. */
static const char *values(enum th_attr_ns ns, const char *name)
{
    static struct collect c;
    static struct th_err err;
    struct th_attr a;
    c.out[0] = '\0';
    if (th__attr_compile(ns, name, strlen(name), &a, NULL, &err) < 0)
        return err.msg;
    th__attr_any(&a, &ev, collect_fn, &c);
    th__attr_fini(&a);
    return c.out;
}

static bool exists(const char *name)
{
    struct th_attr a;
    if (th__attr_compile(TH_NS_ATTR, name, strlen(name), &a, NULL, NULL) < 0)
        return false;
    bool r = th__attr_exists(&a, &ev);
    th__attr_fini(&a);
    return r;
}

int main(void)
{
    load("{\"eventName\":\"PutObject\",\"userAgent\":\"aws-cli/2\",\"sourceIPAddress\":"
         "\"203.0.113.9\",\"errorCode\":\"AccessDenied\",\"recipientAccountId\":\"111122223333\","
         "\"awsRegion\":\"eu-west-1\",\"userIdentity\":{\"type\":\"AssumedRole\",\"arn\":"
         "\"arn:aws:sts::111122223333:assumed-role/Admin/alice@example.com\",\"accountId\":"
         "\"111122223333\",\"sessionContext\":{\"sessionIssuer\":{\"userName\":\"Admin\"}}},"
         "\"requestParameters\":{\"ipPermissions\":{\"items\":[{\"ipRanges\":{\"items\":[{"
         "\"cidrIp\":\"10.0.0.0/8\"},{\"cidrIp\":\"0.0.0.0/0\"}]}},{\"ipRanges\":{\"items\":[{"
         "\"cidrIp\":\"1.2.3.0/24\"}]}}]},\"count\":3,\"ratio\":0.5,\"flag\":true,\"gone\":null,"
         "\"empty\":[]}}");
    CHECK_STR(values(TH_NS_ATTR, "evt.name"), "PutObject");
    CHECK_STR(values(TH_NS_ATTR, "eventName"), "PutObject");
    CHECK_STR(values(TH_NS_ATTR, "http.useragent"), "aws-cli/2");
    CHECK_STR(values(TH_NS_ATTR, "network.client.ip"), "203.0.113.9");
    CHECK_STR(values(TH_NS_ATTR, "error.kind"), "AccessDenied");
    CHECK_STR(values(TH_NS_ATTR, "usr.account_id"), "111122223333");
    CHECK_STR(values(TH_NS_ATTR, "usr.id"),
              "arn:aws:sts::111122223333:assumed-role/Admin/alice@example.com");
    CHECK_STR(values(TH_NS_ATTR, "usr.name"), "Admin");
    CHECK_STR(values(TH_NS_ATTR, "userIdentity.session_name"), "alice@example.com");
    CHECK_STR(values(TH_NS_ATTR, "userIdentity.assumed_role"), "Admin");
    CHECK_STR(values(TH_NS_ATTR, "network.client.ip_class"), "public");
    CHECK_STR(values(TH_NS_ATTR, "level"), "Error");
    CHECK_STR(values(TH_NS_BARE, "status"), "error");
    CHECK_STR(values(TH_NS_BARE, "source"), "cloudtrail");
    CHECK_STR(values(TH_NS_BARE, "account"), "111122223333");
    CHECK_STR(values(TH_NS_BARE, "region"), "eu-west-1");
    CHECK_STR(values(TH_NS_BARE, "host"), "");
    CHECK_STR(values(TH_NS_ATTR, "requestParameters.ipPermissions.items.ipRanges.items.cidrIp"),
              "10.0.0.0/8|0.0.0.0/0|1.2.3.0/24");
    CHECK_STR(values(TH_NS_ATTR, "requestParameters.count"), "3");
    CHECK_STR(values(TH_NS_ATTR, "requestParameters.ratio"), "0.5");
    CHECK_STR(values(TH_NS_ATTR, "requestParameters.flag"), "true");
    CHECK_STR(values(TH_NS_ATTR, "requestParameters.ipPermissions"), "{obj}");
    CHECK(exists("requestParameters.ipPermissions"));
    CHECK(!exists("requestParameters.gone"));
    CHECK(!exists("requestParameters.empty"));
    CHECK(!exists("requestParameters.missing"));
    CHECK(!exists("eventName.deeper"));
    CHECK_CONTAINS(values(TH_NS_ATTR, "a..b"), "empty segment");

    bool unknown = false;
    struct th_attr a;
    CHECK_INT(th__attr_compile(TH_NS_BARE, "env", 3, &a, &unknown, NULL), 0);
    CHECK(unknown);
    CHECK_INT(a.kind, TH_ATTR_NEVER);
    th__attr_fini(&a);

    /* th__attr_first copies numbers' text into the caller's value. */
    struct th_attr cnt, copy;
    th__attr_compile(TH_NS_ATTR, "requestParameters.count", 23, &cnt, NULL, NULL);
    CHECK_INT(th__attr_copy(&copy, &cnt), 0);
    th__attr_fini(&cnt);
    struct th_value v;
    CHECK(th__attr_first(&copy, &ev, &v));
    CHECK_INT(v.len, 1);
    CHECK(v.s == v.buf && v.s[0] == '3');
    th__attr_fini(&copy);

    /* usr.name precedence and the other ip classes. */
    load("{\"userIdentity\":{\"type\":\"IAMUser\",\"userName\":\"bob\",\"arn\":"
         "\"arn:aws:iam::1:user/bob\"},\"sourceIPAddress\":\"10.1.2.3\"}");
    CHECK_STR(values(TH_NS_ATTR, "usr.name"), "bob");
    CHECK_STR(values(TH_NS_ATTR, "userIdentity.session_name"), "");
    CHECK_STR(values(TH_NS_ATTR, "network.client.ip_class"), "private");
    CHECK_STR(values(TH_NS_ATTR, "level"), "Info");
    CHECK_STR(values(TH_NS_BARE, "status"), "info");
    const struct {
        const char *ip, *cls;
    } classes[] = {
        {"AWS Internal", "aws_internal"}, {"s3.amazonaws.com", "aws_service"},
        {"100.64.0.1", "private"},        {"169.254.1.1", "private"},
        {"172.16.0.1", "private"},        {"172.32.0.1", "public"},
        {"192.168.1.1", "private"},       {"127.0.0.1", "private"},
        {"fd00::1", "private"},           {"fe80::1", "private"},
        {"::1", "private"},               {"2001:db8::1", "public"},
        {"example.com", ""},              {"1.2.3", ""},
    };
    for (size_t i = 0; i < TH_ARRAY_LEN(classes); i++) {
        char json[128];
        snprintf(json, sizeof json, "{\"sourceIPAddress\":\"%s\"}", classes[i].ip);
        load(json);
        CHECK_STR(values(TH_NS_ATTR, "network.client.ip_class"), classes[i].cls);
    }
    /* A session name from the ARN when nothing else names the user. */
    load("{\"userIdentity\":{\"arn\":\"arn:aws:sts::1:assumed-role/R/sess\"}}");
    CHECK_STR(values(TH_NS_ATTR, "usr.name"), "sess");
    json_object_put(ev_json);
    return CHECK_DONE();
}
