/*
 * fuzz_template.c - libFuzzer target for message templates (template.c): `{{@attr}}`
 * placeholders, the signal variables, spaces inside braces, lone braces.
 *
 * An input is `TEMPLATE` or `TEMPLATE\n---\nEVENTS`: the template is compiled and, when it
 * compiles, rendered against each event (the built-in events when the input has none) and
 * once without an event, with the event's time as first_seen and last_seen (so hostile
 * eventTime values such as year 0000 or 9999 reach the time formatter). A template without
 * `{{` must render as itself, and every rendering, JSON-escaped as a signal's message is,
 * must be a strict JSON string; a failed compile must say where and why, within the text.
 *
 * Ignores: the rest of a signal (fuzz_rule writes whole signals).
 */
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "fuzz_common.h"
#include "reader.h"
#include "strbuf.h"
#include "template.h"

struct run {
    struct th_template *t;
    const char *text;
    size_t len;
    bool literal;
    struct th_strbuf sb, js;
    struct th_event ev;
};

static void render(struct run *r, struct th_event *ev, int64_t t)
{
    struct th_template_vars v = {"rule {{name}}", "", 7, t, t};
    th__sb_reset(&r->sb);
    th__template_render(r->t, ev, &v, &r->sb);
    if (r->sb.oom)
        abort();
    if (r->literal && (r->sb.len != r->len || (r->len && memcmp(r->sb.p, r->text, r->len))))
        abort();
    /* As the signal writes it: a strict JSON string whatever the event held. */
    th__sb_reset(&r->js);
    th__sb_add_json_str(&r->js, r->sb.p ? r->sb.p : "", r->sb.len);
    if (r->js.oom || !fuzz_strict_json(r->js.p, r->js.len))
        abort();
}

static int on_event(void *ctx, const struct th_read_event *re)
{
    struct run *r = ctx;
    th__event_reset(&r->ev, re->obj, re->time_ms, re->file, re->line, re->raw, re->raw_len);
    render(r, &r->ev, re->time_ms);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    size_t tlen, elen;
    const char *events;
    fuzz_split(data, size, FUZZ_SEP, &tlen, &events, &elen);
    static struct run r; /* the event's arena is large: not on the stack */
    memset(&r, 0, sizeof r);
    r.text = (const char *)data;
    r.len = tlen;
    r.literal = true;
    for (size_t i = 0; i + 1 < tlen; i++)
        if (data[i] == '{' && data[i + 1] == '{')
            r.literal = false;
    struct th_err err;
    memset(&err, 0, sizeof err);
    unsigned col = 0;
    if (th__template_compile(r.text, tlen, &r.t, &col, &err) < 0) {
        if (r.t || r.literal || !err.msg[0] || col == 0 || col > tlen + 1)
            abort();
        return 0;
    }
    th__sb_init(&r.sb);
    th__sb_init(&r.js);
    render(&r, NULL, 0);
    struct th_reader *rd = NULL;
    if (th__reader_new(NULL, on_event, &r, &rd) < 0)
        abort();
    th__reader_read_buffer(rd, "fuzz.json", events, elen);
    th__reader_free(rd);
    th__sb_fini(&r.sb);
    th__sb_fini(&r.js);
    th__template_free(r.t);
    return 0;
}
