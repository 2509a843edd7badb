/*
 * template.h - message templates: literal text with `{{@attr.path}}` placeholders and the
 * signal variables {{rule_name}}, {{case_name}}, {{events_matched}}, {{first_seen}} and
 * {{last_seen}}. Compiled once at rule load; rendered when a signal is written.
 * An attribute absent from the event renders as empty text.
 */
#ifndef TH_TEMPLATE_H
#define TH_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "attr.h"
#include "common.h"
#include "event.h"
#include "strbuf.h"

struct th_template;

/* The signal variables a template may use; strings borrowed for the render call. */
struct th_template_vars {
    const char *rule_name;
    const char *case_name;
    uint64_t events_matched;
    int64_t first_seen_ms;
    int64_t last_seen_ms;
};

/*
 * Compiles text. On failure returns TH_EPARSE with err->msg filled and *err_col set to the
 * 1-based offset of the problem (an unclosed `{{`, an unknown variable, a bad attribute).
 */
int th__template_compile(const char *text, size_t len, struct th_template **out,
                         unsigned *err_col, struct th_err *err);
void th__template_free(struct th_template *t);

/* Appends the rendered text to sb (raw, not JSON-escaped). ev may be NULL: attributes
 * then render empty. */
void th__template_render(const struct th_template *t, struct th_event *ev,
                         const struct th_template_vars *vars, struct th_strbuf *sb);

#endif
