/*
 * ruleset.c - loading rule sets (trailhound.h: th_ruleset_load, th_ruleset_free,
 * th_ruleset_count): walking files and directories, reading each rule file into a document
 * (doc.h), loading it with the YAML or JSON loader, checking ids for duplicates across
 * files, and reporting every diagnostic through the caller's callback.
 *
 * Directories are walked recursively in lexical (strcmp) order; entries whose names start
 * with '.' are skipped, and only *.yaml, *.yml and *.json files are read. A file named
 * explicitly is read whatever its name (as JSON when it ends in .json, else as YAML).
 * Symbolic links are followed, to a depth of 32 directories.
 *
 * Disabled rules (enabled: false) are validated like the others, and their ids count for
 * duplicates, but they are not part of the set. With skip_bad, rules with errors are left
 * out and the rest load; without it, any error leaves the returned set empty, so a caller
 * that ignores the count can never run half a rule set.
 */
#include "ruleset.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "doc.h"
#include "hash.h"
#include "rule_load.h"

#define MAX_DIR_DEPTH 32

struct seen_id {
    char *id;
    char *where; /* file:line:col of its first definition */
};

struct loader {
    struct th_ruleset *rs;
    th_diag_fn diag;
    void *diag_ctx;
    int errors;
    bool oom;
    struct seen_id *seen;
    size_t nseen, cap_seen;
};

/* An error about a file or path as a whole. */
static void file_error(struct loader *l, const char *path, const char *where, const char *fmt, ...)
    TH_PRINTF(4, 5);

static void file_error(struct loader *l, const char *path, const char *where, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    l->errors++;
    if (l->diag) {
        struct th_diag d = {1, path, where ? where : path, msg};
        l->diag(l->diag_ctx, &d);
    }
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Reads a whole rule file into *buf (owned, NUL-terminated). Returns 0 or reports and
 * fails. */
static int read_file(struct loader *l, const char *path, char **buf, size_t *len)
{
    int rc = th__read_file(path, TH_RULE_FILE_MAX, buf, len);
    if (rc == TH_EIO)
        file_error(l, path, NULL, "cannot read: %s", strerror(errno));
    else if (rc == TH_ELIMIT)
        file_error(l, path, NULL, "rule file larger than %d bytes", TH_RULE_FILE_MAX);
    else if (rc == TH_ENOMEM)
        l->oom = true;
    return rc;
}

static void forward_diag(void *ctx, const struct th_diag *d)
{
    struct loader *l = ctx;
    if (l->diag)
        l->diag(l->diag_ctx, d);
}

static void add_rule(struct loader *l, struct th_rule *r, const char *where)
{
    for (size_t i = 0; i < l->nseen; i++)
        if (strcmp(l->seen[i].id, r->id) == 0) {
            char msg[700];
            snprintf(msg, sizeof msg, "duplicate rule id '%s' (first defined at %s)", r->id,
                     l->seen[i].where);
            l->errors++;
            if (l->diag) {
                struct th_diag d = {1, r->id, where, msg};
                l->diag(l->diag_ctx, &d);
            }
            th__rule_free(r);
            return;
        }
    struct seen_id s = {th__strdup(r->id), th__strdup(where)};
    if (!s.id || !s.where ||
        th__grow((void **)&l->seen, &l->cap_seen, l->nseen + 1, sizeof *l->seen) < 0) {
        free(s.id);
        free(s.where);
        th__rule_free(r);
        l->oom = true;
        return;
    }
    l->seen[l->nseen++] = s;
    if (!r->enabled) {
        th__rule_free(r);
        return;
    }
    struct th_ruleset *rs = l->rs;
    if (th__grow((void **)&rs->rules, &rs->cap, rs->n + 1, sizeof *rs->rules) < 0) {
        th__rule_free(r);
        l->oom = true;
        return;
    }
    rs->rules[rs->n++] = r;
}

static void load_file(struct loader *l, const char *path)
{
    char *buf;
    size_t len;
    if (read_file(l, path, &buf, &len) < 0)
        return;
    bool json = ends_with(path, ".json");
    uint64_t fingerprint = th__hash64(buf, len, 0);
    struct th_doc *doc = NULL;
    struct th_err err = {{0}, {0}};
    int rc = th__doc_parse(path, buf, len, json, &doc, &err);
    free(buf);
    if (rc == TH_ENOMEM) {
        l->oom = true;
        return;
    }
    if (rc < 0) {
        file_error(l, path, err.where, "%s", err.msg);
        return;
    }
    struct th_rl_ctx c = {path, NULL, forward_diag, l, 0, 0};
    struct th_rule *r = NULL;
    unsigned line = 0, col = 0;
    if (json)
        rc = th__rule_load_json(&c, doc, &r, &line, &col);
    else
        rc = th__rule_load_yaml(&c, doc, &r, &line, &col);
    th__doc_free(doc);
    l->errors += (int)c.errors;
    if (rc == TH_ENOMEM)
        l->oom = true;
    if (rc < 0)
        return;
    r->fingerprint = fingerprint;
    char where[600];
    if (line)
        snprintf(where, sizeof where, "%s:%u:%u", path, line, col);
    else
        snprintf(where, sizeof where, "%s", path);
    add_rule(l, r, where);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk(struct loader *l, const char *path, unsigned depth, bool explicit_path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        file_error(l, path, NULL, "cannot read: %s", strerror(errno));
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (explicit_path || ends_with(path, ".yaml") || ends_with(path, ".yml") ||
            ends_with(path, ".json"))
            load_file(l, path);
        return;
    }
    if (depth >= MAX_DIR_DEPTH) {
        file_error(l, path, NULL, "directories nested deeper than %d (a symbolic link loop?)",
                   MAX_DIR_DEPTH);
        return;
    }
    DIR *dir = opendir(path);
    if (!dir) {
        file_error(l, path, NULL, "cannot read directory: %s", strerror(errno));
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.')
            continue;
        char *s = th__strdup(de->d_name);
        if (!s || th__grow((void **)&names, &cap, n + 1, sizeof *names) < 0) {
            free(s);
            l->oom = true;
            break;
        }
        names[n++] = s;
    }
    closedir(dir);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n && !l->oom; i++) {
        size_t plen = strlen(path);
        bool slash = plen && path[plen - 1] == '/';
        size_t need = plen + 1 + strlen(names[i]) + 1;
        char *child = malloc(need);
        if (!child) {
            l->oom = true;
            break;
        }
        snprintf(child, need, "%s%s%s", path, slash ? "" : "/", names[i]);
        walk(l, child, depth + 1, false);
        free(child);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

void th_ruleset_free(struct th_ruleset *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n; i++)
        th__rule_free(rs->rules[i]);
    free(rs->rules);
    free(rs);
}

size_t th_ruleset_count(const struct th_ruleset *rs)
{
    return rs ? rs->n : 0;
}

int th_ruleset_load(const char *const *paths, size_t npaths, int skip_bad, th_diag_fn diag,
                    void *diag_ctx, struct th_ruleset **out)
{
    if (!out || (npaths && !paths))
        return TH_EINVAL;
    *out = NULL;
    struct loader l = {calloc(1, sizeof(struct th_ruleset)), diag, diag_ctx, 0, false, NULL, 0, 0};
    if (!l.rs)
        return TH_ENOMEM;
    for (size_t i = 0; i < npaths && !l.oom; i++)
        walk(&l, paths[i], 0, true);
    for (size_t i = 0; i < l.nseen; i++) {
        free(l.seen[i].id);
        free(l.seen[i].where);
    }
    free(l.seen);
    if (l.oom) {
        th_ruleset_free(l.rs);
        return TH_ENOMEM;
    }
    if (l.errors && !skip_bad) {
        for (size_t i = 0; i < l.rs->n; i++)
            th__rule_free(l.rs->rules[i]);
        l.rs->n = 0;
    }
    *out = l.rs;
    return l.errors;
}
