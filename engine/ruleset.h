/*
 * ruleset.h - a loaded rule set (the public th_ruleset_load / th_ruleset_free /
 * th_ruleset_count of trailhound.h): the enabled, usable rules of some files and
 * directories, in load order (paths in the order given, directories walked depth-first in
 * lexical order). The set owns its rules; they are immutable once loaded and may be read
 * by any number of threads.
 */
#ifndef TH_RULESET_H
#define TH_RULESET_H

#include <stddef.h>

#include "rule.h"

/* Rule files larger than this are refused (no rule comes near it). */
#define TH_RULE_FILE_MAX (1024 * 1024)

struct th_ruleset {
    struct th_rule **rules; /* owned, n of them, enabled and without errors */
    size_t n;
    size_t cap;
};

#endif
