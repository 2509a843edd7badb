/*
 * detect.c - the table of detection methods, and what all of them share: group keys.
 */
#include "detect.h"

static const struct th_detector_ops *const methods[TH_METHOD__COUNT] = {
    [TH_METHOD_THRESHOLD] = &th__threshold_ops,
    [TH_METHOD_NEW_VALUE] = &th__new_value_ops,
    [TH_METHOD_ANOMALY] = &th__anomaly_ops,
    [TH_METHOD_TRAVEL] = &th__travel_ops,
};

const struct th_detector_ops *th__detector_ops(enum th_method m)
{
    return (unsigned)m < TH_METHOD__COUNT ? methods[m] : NULL;
}

bool th__group_key(struct th_detector *d, const struct th_rule_query *q, struct th_event *ev)
{
    th__sb_reset(&d->key);
    th__sb_add(&d->key, "", 0); /* a key exists even with no group_by */
    for (size_t i = 0; i < q->ngroup_by; i++) {
        struct th_value v;
        if (!th__attr_first(&q->group_by[i], ev, &v))
            return false;
        if (i)
            th__sb_addc(&d->key, TH_GROUP_SEP);
        th__group_key_add(&d->key, v.s, v.len);
    }
    return !d->key.oom;
}
