/*
 * test_template.c - message templates (template.c): literal text, attribute placeholders
 * (raw paths, Datadog aliases, derived attributes, absent values, numbers), the five signal
 * variables, spaces inside braces, and every compile error with its column.
 */
#include "template.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

static json_object *ev_json;
static struct th_event ev;
static struct th_strbuf sb;

static void load(const char *json)
{
    if (ev_json)
        json_object_put(ev_json);
    ev_json = json_tokener_parse(json);
    th__event_reset(&ev, ev_json, 0, "test", 1, NULL, 0);
}

/* Compiles and renders text against the current event; returns the text or "ERR". */
static const char *render(const char *text, const struct th_template_vars *vars)
{
    struct th_template *t = NULL;
    struct th_err err = {{0}, {0}};
    unsigned col = 99;
    th__sb_reset(&sb);
    int rc = th__template_compile(text, strlen(text), &t, &col, &err);
    if (rc < 0) {
        th__sb_adds(&sb, "ERR");
        return sb.p;
    }
    CHECK_INT(col, 0);
    th__template_render(t, ev_json ? &ev : NULL, vars, &sb);
    th__template_free(t);
    return sb.p ? sb.p : "";
}

/* Compiles text expecting an error; returns the message and stores the column. */
static char errmsg[512];
static const char *compile_error(const char *text, unsigned *col)
{
    struct th_template *t = NULL;
    struct th_err err = {{0}, {0}};
    int rc = th__template_compile(text, strlen(text), &t, col, &err);
    CHECK_INT(rc, TH_EPARSE);
    CHECK(t == NULL);
    snprintf(errmsg, sizeof errmsg, "%s", err.msg);
    return errmsg;
}

int main(void)
{
    th__sb_init(&sb);
    load("{\"eventName\":\"GetCallerIdentity\",\"sourceIPAddress\":\"203.0.113.7\","
         "\"userIdentity\":{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::111122223333:user/alice\","
         "\"userName\":\"alice\"},\"requestParameters\":{\"n\":42,\"list\":[\"x\",\"y\"],"
         "\"nothing\":null,\"flag\":true}}");
    struct th_template_vars v = {"TruffleHog seen", "high case", 7, INT64_C(1706704496000),
                                 INT64_C(1706704496250)};

    /* Literal text only, including lone braces. */
    CHECK_STR(render("plain text", &v), "plain text");
    CHECK_STR(render("", &v), "");
    CHECK_STR(render("a { b } c }} d", &v), "a { b } c }} d");
    CHECK_STR(render("{", &v), "{");
    CHECK_STR(render("x{", &v), "x{");

    /* Attributes: raw paths, aliases, derived, numbers, bools, arrays, absent, null. */
    CHECK_STR(render("{{@userIdentity.arn}} ran it", &v),
              "arn:aws:iam::111122223333:user/alice ran it");
    CHECK_STR(render("from {{@network.client.ip}}.", &v), "from 203.0.113.7.");
    CHECK_STR(render("{{@evt.name}}", &v), "GetCallerIdentity");
    CHECK_STR(render("user={{@usr.name}}", &v), "user=alice");
    CHECK_STR(render("n={{@requestParameters.n}} f={{@requestParameters.flag}}", &v),
              "n=42 f=true");
    CHECK_STR(render("[{{@requestParameters.list}}]", &v), "[x]");
    CHECK_STR(render("[{{@requestParameters.nothing}}][{{@no.such.thing}}]", &v), "[][]");
    CHECK_STR(render("{{ @eventName }}|{{  rule_name\t}}", &v),
              "GetCallerIdentity|TruffleHog seen");
    CHECK_STR(render("{{@eventName}}{{@eventName}}", &v), "GetCallerIdentityGetCallerIdentity");
    CHECK_STR(render("{{{@eventName}}", &v), "ERR"); /* `{@eventName` is no variable */

    /* Signal variables. */
    CHECK_STR(render("{{rule_name}} / {{case_name}} / {{events_matched}}", &v),
              "TruffleHog seen / high case / 7");
    CHECK_STR(render("{{first_seen}} .. {{last_seen}}", &v),
              "2024-01-31T12:34:56Z .. 2024-01-31T12:34:56.250Z");
    struct th_template_vars big = {NULL, NULL, UINT64_C(18446744073709551615), 0, 0};
    CHECK_STR(render("[{{rule_name}}][{{case_name}}] {{events_matched}} {{first_seen}}", &big),
              "[][] 18446744073709551615 1970-01-01T00:00:00Z");

    /* No event: attributes render empty, variables still render. */
    json_object_put(ev_json);
    ev_json = NULL;
    CHECK_STR(render("<{{@eventName}}> {{events_matched}}", &v), "<> 7");
    load("{\"eventName\":\"X\"}");

    /* Compile errors, with the 1-based column of the problem. */
    unsigned col = 0;
    CHECK_CONTAINS(compile_error("abc {{@eventName", &col), "unclosed '{{'");
    CHECK_INT(col, 5);
    CHECK_CONTAINS(compile_error("{{", &col), "unclosed '{{'");
    CHECK_INT(col, 1);
    CHECK_CONTAINS(compile_error("ab{{@x}", &col), "unclosed");
    CHECK_INT(col, 3);
    CHECK_CONTAINS(compile_error("hi {{ user }}", &col), "unknown template variable 'user'");
    CHECK_INT(col, 7);
    CHECK_CONTAINS(compile_error("{{eventName}}", &col), "unknown template variable");
    CHECK_INT(col, 3);
    CHECK_CONTAINS(compile_error("x {{}}", &col), "empty '{{}}'");
    CHECK_INT(col, 5);
    CHECK_CONTAINS(compile_error("{{#is_match \"a\" \"b\"}}x{{/is_match}}", &col), "sections");
    CHECK_INT(col, 3);
    CHECK_CONTAINS(compile_error("{{@}}", &col), "empty attribute");
    CHECK_INT(col, 3);
    CHECK_CONTAINS(compile_error("ok {{@a..b}}", &col), "empty segment");
    CHECK_INT(col, 6);
    CHECK_CONTAINS(compile_error("{{@a b}}", &col), "bad attribute '@a b'");
    CHECK_CONTAINS(compile_error("{{@x}} then {{rule_namex}}", &col), "rule_namex");
    CHECK_INT(col, 15);

    json_object_put(ev_json);
    th__sb_fini(&sb);
    return CHECK_DONE();
}
