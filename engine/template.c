/*
 * template.c - signal message templates (template.h).
 *
 * A template compiles into a list of parts: literal slices of the text, attribute
 * references (`{{@userIdentity.arn}}`, resolved once with th__attr_compile) and the five
 * signal variables. Spaces inside the braces are allowed (`{{ @usr.name }}`). A lone `{`
 * or `}}` is literal text; there is no escaping. Mustache sections (`{{#...}}`) and any
 * other name are compile errors with the column of the placeholder.
 *
 * Rendering appends to a strbuf and allocates nothing else; an attribute renders its first
 * scalar value in the event, or nothing when the event has none.
 */
#include "template.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"

enum part_kind {
    P_TEXT,
    P_ATTR,
    P_RULE_NAME,
    P_CASE_NAME,
    P_EVENTS_MATCHED,
    P_FIRST_SEEN,
    P_LAST_SEEN
};

static const struct {
    const char *name;
    enum part_kind kind;
} vars[] = {
    {"rule_name", P_RULE_NAME},   {"case_name", P_CASE_NAME}, {"events_matched", P_EVENTS_MATCHED},
    {"first_seen", P_FIRST_SEEN}, {"last_seen", P_LAST_SEEN},
};

struct part {
    enum part_kind kind;
    size_t off, len;     /* P_TEXT: a slice of the template's text */
    struct th_attr attr; /* P_ATTR */
};

struct th_template {
    char *text;
    struct part *parts;
    size_t nparts;
};

void th__template_free(struct th_template *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].kind == P_ATTR)
            th__attr_fini(&t->parts[i].attr);
    free(t->parts);
    free(t->text);
    free(t);
}

static int add_part(struct th_template *t, size_t *cap, struct part **out)
{
    if (th__grow((void **)&t->parts, cap, t->nparts + 1, sizeof *t->parts) < 0)
        return TH_ENOMEM;
    *out = &t->parts[t->nparts++];
    memset(*out, 0, sizeof **out);
    return 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

int th__template_compile(const char *text, size_t len, struct th_template **out, unsigned *err_col,
                         struct th_err *err)
{
    *out = NULL;
    *err_col = 0;
    int rc = TH_ENOMEM;
    size_t cap = 0;
    struct part *p;
    struct th_template *t = calloc(1, sizeof *t);
    if (!t || !(t->text = th__strndup(text, len)))
        goto fail;
    size_t i = 0, lit = 0;
    while (i < len) {
        if (!(text[i] == '{' && i + 1 < len && text[i + 1] == '{')) {
            i++;
            continue;
        }
        size_t open = i;
        size_t close = open + 2;
        while (close + 1 < len && !(text[close] == '}' && text[close + 1] == '}'))
            close++;
        if (close + 1 >= len) {
            *err_col = (unsigned)open + 1;
            rc = th__err(err, TH_EPARSE, NULL, "unclosed '{{' in message template");
            goto fail;
        }
        if (open > lit) {
            if ((rc = add_part(t, &cap, &p)) < 0)
                goto fail;
            p->kind = P_TEXT;
            p->off = lit;
            p->len = open - lit;
        }
        size_t a = open + 2, b = close;
        while (a < b && is_space(text[a]))
            a++;
        while (b > a && is_space(text[b - 1]))
            b--;
        *err_col = (unsigned)a + 1;
        if (a == b) {
            rc = th__err(err, TH_EPARSE, NULL, "empty '{{}}' in message template");
            goto fail;
        }
        const char *name = text + a;
        size_t nlen = b - a;
        if (name[0] == '#' || name[0] == '^' || name[0] == '/') {
            rc = th__err(err, TH_EPARSE, NULL, "template sections ('{{%.*s}}') are not supported",
                         (int)nlen, name);
            goto fail;
        }
        if ((rc = add_part(t, &cap, &p)) < 0)
            goto fail;
        if (name[0] == '@') {
            for (size_t k = 1; k < nlen; k++)
                if (is_space(name[k]) || name[k] == '{' || name[k] == '}' || name[k] == '\n' ||
                    name[k] == '\r') {
                    rc = th__err(err, TH_EPARSE, NULL, "bad attribute '%.*s' in message template",
                                 (int)nlen, name);
                    t->nparts--;
                    goto fail;
                }
            bool unknown_tag;
            rc = th__attr_compile(TH_NS_ATTR, name + 1, nlen - 1, &p->attr, &unknown_tag, err);
            if (rc < 0) {
                t->nparts--; /* the part holds nothing to free */
                if (rc == TH_EINVAL)
                    rc = TH_EPARSE;
                goto fail;
            }
            p->kind = P_ATTR;
        } else {
            size_t k = 0;
            while (k < TH_ARRAY_LEN(vars) &&
                   !(strlen(vars[k].name) == nlen && memcmp(vars[k].name, name, nlen) == 0))
                k++;
            if (k == TH_ARRAY_LEN(vars)) {
                t->nparts--;
                rc = th__err(err, TH_EPARSE, NULL,
                             "unknown template variable '%.*s' (use {{@attribute}}, "
                             "rule_name, case_name, events_matched, first_seen or last_seen)",
                             (int)(nlen > 64 ? 64 : nlen), name);
                goto fail;
            }
            p->kind = vars[k].kind;
        }
        i = lit = close + 2;
    }
    if (len > lit) {
        if ((rc = add_part(t, &cap, &p)) < 0)
            goto fail;
        p->kind = P_TEXT;
        p->off = lit;
        p->len = len - lit;
    }
    *err_col = 0;
    *out = t;
    return 0;
fail:
    th__template_free(t);
    return rc;
}

static void add_time(struct th_strbuf *sb, int64_t ms)
{
    char buf[32];
    size_t n = th__time_format(ms, buf, sizeof buf);
    th__sb_add(sb, buf, n);
}

void th__template_render(const struct th_template *t, struct th_event *ev,
                         const struct th_template_vars *v, struct th_strbuf *sb)
{
    for (size_t i = 0; i < t->nparts; i++) {
        const struct part *p = &t->parts[i];
        switch (p->kind) {
        case P_TEXT:
            th__sb_add(sb, t->text + p->off, p->len);
            break;
        case P_ATTR: {
            struct th_value val;
            if (ev && th__attr_first(&p->attr, ev, &val))
                th__sb_add(sb, val.s, val.len);
            break;
        }
        case P_RULE_NAME:
            if (v && v->rule_name)
                th__sb_adds(sb, v->rule_name);
            break;
        case P_CASE_NAME:
            if (v && v->case_name)
                th__sb_adds(sb, v->case_name);
            break;
        case P_EVENTS_MATCHED:
            if (v)
                th__sb_addf(sb, "%" PRIu64, v->events_matched);
            break;
        case P_FIRST_SEEN:
            if (v)
                add_time(sb, v->first_seen_ms);
            break;
        case P_LAST_SEEN:
            if (v)
                add_time(sb, v->last_seen_ms);
            break;
        }
    }
}
