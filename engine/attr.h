/*
 * attr.h - attribute references: what `@userIdentity.arn`, `@evt.name` or `status` in a
 * query means, resolved once at rule load, then walked per event without allocating.
 *
 * A reference is one of: a raw path through the event (Datadog's standard attributes are
 * aliases for raw paths, e.g. `@evt.name` is `eventName`), a derived attribute computed by
 * event.c, or a name that can never exist (an unknown tag), which matches nothing.
 *
 * Paths cross arrays: at an array, every element is walked, so a query matches when any
 * element matches (`@requestParameters.ipPermissions.items.ipRanges.items.cidrIp`).
 * JSON null and empty arrays count as absent.
 */
#ifndef TH_ATTR_H
#define TH_ATTR_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "event.h"

enum th_attr_ns {
    TH_NS_ATTR, /* written `@name` */
    TH_NS_BARE  /* written `name:` without @: a reserved field (source, status, service,
                   host) or a tag (account, region, anything else) */
};

enum th_attr_kind { TH_ATTR_RAW, TH_ATTR_DERIVED, TH_ATTR_NEVER };

#define TH_ATTR_MAX_SEGS 16

struct th_attr {
    enum th_attr_kind kind;
    enum th_attr_ns ns;       /* as written: `@name` or a bare name */
    enum th_derived derived;  /* kind DERIVED */
    unsigned nseg;            /* kind RAW: the path's keys, NUL-terminated */
    const char *seg[TH_ATTR_MAX_SEGS];
    char *buf;                /* owned storage behind seg[] */
    char *name;               /* owned: the name as written, for messages and output */
};

/*
 * Resolves a name (without the leading `@`) into out. Returns 0, or TH_EINVAL with err
 * filled for a malformed name (empty segment, too many segments). Unknown tags resolve to
 * kind NEVER with *unknown_tag set, so the caller can warn. out is zeroed on failure.
 */
int th__attr_compile(enum th_attr_ns ns, const char *name, size_t len, struct th_attr *out,
                     bool *unknown_tag, struct th_err *err);
void th__attr_fini(struct th_attr *a);
/* Deep copy; returns 0 or TH_ENOMEM. */
int th__attr_copy(struct th_attr *dst, const struct th_attr *src);

enum th_vtype { TH_V_STRING, TH_V_INT, TH_V_DOUBLE, TH_V_BOOL, TH_V_OBJECT };

/* One leaf value met while walking an attribute. Borrowed for the visit only. */
struct th_value {
    enum th_vtype type;
    const char *s; /* text form: the string, or the number or bool as text (not OBJECT) */
    size_t len;
    double num;    /* INT, DOUBLE, BOOL (0/1): the number; STRING: NAN */
    json_object *obj; /* the json-c value, or NULL for derived values */
    char buf[40];  /* backing for the text of numbers */
};

/* Called per leaf value; return true to stop walking (a match was found). */
typedef bool (*th_visit_fn)(void *ctx, const struct th_value *v);

/* Walks every non-null leaf value of a in ev; returns true when fn stopped the walk. */
bool th__attr_any(const struct th_attr *a, struct th_event *ev, th_visit_fn fn, void *ctx);

/* True when a has at least one non-null value in ev (objects count). */
bool th__attr_exists(const struct th_attr *a, struct th_event *ev);

/* The first non-null scalar value of a in ev, into *out; false when there is none. */
bool th__attr_first(const struct th_attr *a, struct th_event *ev, struct th_value *out);

/* Walks every non-null scalar leaf of the whole event (free-text search). */
bool th__event_any_leaf(struct th_event *ev, th_visit_fn fn, void *ctx);

/* Fills v from a json-c scalar; returns false for null, objects and arrays. */
bool th__value_from_json(json_object *o, struct th_value *v);

#endif
