/*
 * ruletest.c - the rule test runner (trailhound.h: th_ruletest_run, th_junit_*): runs each
 * rule's fixtures (SPEC §11, the fixture format in the project README) and reports one
 * result per case, plus verdicts on rules and fixture directories as a whole.
 *
 * Layout: fixtures/<rule-id>/<case>/ holds either events.* (any input the reader accepts,
 * read in lexical order) with expected.jsonl and optionally `args`, or an error case:
 * rule.yaml / rule.yml / rule.json with expected_error. A case runs in isolation: only its
 * rule's file is loaded (rule->file, loaded again on its own), a fresh engine is created,
 * the events are read and finished, and the output lines (each plus '\n') must equal
 * expected.jsonl byte for byte. The runner is stricter than `trailhound run` where a lax
 * fixture would prove nothing: an event the reader rejects, an events file with no event,
 * or an engine warning (such as a rule disabled for lack of a detector or a database)
 * fails the case, since a quiet case could otherwise pass without its rule ever running.
 *
 * The order of results is deterministic: rules that do not load (by the name the loader
 * gives), then loaded rules by id with their cases by name and then the verdicts on the
 * rule, then fixture directories named after no rule. Nothing is kept between runs; no
 * global state; the library never prints: results go to the caller's callback.
 */
#include "ruletest.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ruleset.h"

#define MAX_ARGS 64

/* ---- small file helpers ------------------------------------------------------------- */

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Joins a/b into buf; false when it does not fit. */
static bool join(char *buf, size_t size, const char *a, const char *b)
{
    int n = snprintf(buf, size, "%s/%s", a, b);
    return n > 0 && (size_t)n < size;
}

/* Reads a whole fixture file into *buf (owned, NUL-terminated). */
static int slurp(const char *path, char **buf, size_t *len)
{
    return th__read_file(path, SIZE_MAX, buf, len);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/*
 * Lists the entries of dir that are directories (dirs set) or regular files (symbolic
 * links followed), hidden ones skipped, sorted by name. Returns 0, TH_EIO or TH_ENOMEM.
 */
static int list_dir(const char *dir, bool dirs, char ***out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    DIR *d = opendir(dir);
    if (!d)
        return TH_EIO;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        if (!join(path, sizeof path, dir, de->d_name))
            continue;
        if (dirs ? !is_dir(path) : !is_file(path))
            continue;
        char *s = th__strdup(de->d_name);
        if (!s || th__grow((void **)&names, &cap, n + 1, sizeof *names) < 0) {
            free(s);
            rc = TH_ENOMEM;
            break;
        }
        names[n++] = s;
    }
    closedir(d);
    if (rc < 0) {
        free_names(names, n);
        return rc;
    }
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    *out = names;
    *nout = n;
    return 0;
}

/* ---- diff ---------------------------------------------------------------------------- */

struct line {
    const char *p;
    size_t len;
};

/* Splits s into lines (without their '\n'); a last line without '\n' counts when not
 * empty. Returns the count, or (size_t)-1 when out of memory. */
static size_t split_lines(const char *s, size_t len, struct line **out)
{
    *out = NULL;
    size_t n = 0, cap = 0;
    struct line *v = NULL;
    const char *p = s, *end = s + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (th__grow((void **)&v, &cap, n + 1, sizeof *v) < 0) {
            free(v);
            return (size_t)-1;
        }
        v[n++] = (struct line){p, (size_t)(le - p)};
        p = nl ? nl + 1 : end;
    }
    *out = v;
    return n;
}

static bool line_eq(struct line a, struct line b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* Appends one diff line: tag, then the line or a window of it around byte focus. */
static void add_clipped(struct th_strbuf *sb, char tag, struct line l, size_t focus)
{
    const size_t width = TH_RULETEST_DIFF_WIDTH;
    size_t start = 0, end = l.len;
    if (l.len > width) {
        /* The window starts a quarter width before the difference, the same place in
         * both lines of a pair, so that they read one above the other. */
        start = focus > width / 4 ? focus - width / 4 : 0;
        if (start > l.len)
            start = l.len;
        end = start + width < l.len ? start + width : l.len;
        /* Never cut a UTF-8 sequence in two. */
        while (start > 0 && start < l.len && ((unsigned char)l.p[start] & 0xC0) == 0x80)
            start++;
        while (end < l.len && end > start && ((unsigned char)l.p[end] & 0xC0) == 0x80)
            end--;
    }
    th__sb_addc(sb, tag);
    if (start)
        th__sb_adds(sb, "...");
    th__sb_add(sb, l.p + start, end - start);
    if (end < l.len)
        th__sb_adds(sb, "...");
    th__sb_addc(sb, '\n');
}

static size_t common_prefix(struct line a, struct line b)
{
    size_t i = 0;
    while (i < a.len && i < b.len && a.p[i] == b.p[i])
        i++;
    return i;
}

/* Diff operations over the middle part of a and b: '=' keep, '-' a only, '+' b only. */
static char *diff_ops(const struct line *a, size_t na, const struct line *b, size_t nb,
                      size_t *nops)
{
    char *ops = malloc(na + nb + 1);
    if (!ops)
        return NULL;
    size_t n = 0;
    /* The longest common subsequence when the table is small enough (fixtures are); else
     * everything of a is removed and everything of b added. */
    if (na && nb && (na + 1) * (nb + 1) <= (size_t)1 << 18) {
        uint32_t *dp = calloc((na + 1) * (nb + 1), sizeof *dp);
        if (!dp) {
            free(ops);
            return NULL;
        }
#define DP(i, j) dp[(i) * (nb + 1) + (j)]
        for (size_t i = na; i-- > 0;)
            for (size_t j = nb; j-- > 0;)
                DP(i, j) = line_eq(a[i], b[j]) ? DP(i + 1, j + 1) + 1
                           : DP(i + 1, j) >= DP(i, j + 1) ? DP(i + 1, j)
                                                          : DP(i, j + 1);
        size_t i = 0, j = 0;
        while (i < na || j < nb) {
            if (i < na && j < nb && line_eq(a[i], b[j])) {
                ops[n++] = '=';
                i++;
                j++;
            } else if (j >= nb || (i < na && DP(i + 1, j) >= DP(i, j + 1))) {
                ops[n++] = '-';
                i++;
            } else {
                ops[n++] = '+';
                j++;
            }
        }
#undef DP
        free(dp);
    } else {
        for (size_t i = 0; i < na; i++)
            ops[n++] = '-';
        for (size_t j = 0; j < nb; j++)
            ops[n++] = '+';
    }
    *nops = n;
    return ops;
}

void th__ruletest_diff(const char *a, size_t alen, const char *aname, const char *b, size_t blen,
                       const char *bname, size_t max_lines, struct th_strbuf *out)
{
    struct line *la = NULL, *lb = NULL;
    size_t na = split_lines(a, alen, &la), nb = split_lines(b, blen, &lb);
    char *ops = NULL;
    if (na == (size_t)-1 || nb == (size_t)-1) {
        th__sb_adds(out, "(out of memory computing the diff)\n");
        goto done;
    }
    size_t pre = 0, suf = 0;
    while (pre < na && pre < nb && line_eq(la[pre], lb[pre]))
        pre++;
    while (suf < na - pre && suf < nb - pre && line_eq(la[na - 1 - suf], lb[nb - 1 - suf]))
        suf++;
    size_t ma = na - pre - suf, mb = nb - pre - suf;
    if (ma == 0 && mb == 0)
        goto done;
    size_t nops;
    if (!(ops = diff_ops(la + pre, ma, lb + pre, mb, &nops))) {
        th__sb_adds(out, "(out of memory computing the diff)\n");
        goto done;
    }
    th__sb_addf(out, "--- %s\n+++ %s\n", aname, bname);
    size_t shown = 0, left = 0, i = 0, j = 0, k = 0;
    while (k < nops) {
        if (ops[k] == '=') {
            i++;
            j++;
            k++;
            continue;
        }
        /* A block of changes: its removed lines, then its added lines, paired in order
         * so that each long line is shown around where it differs from its partner. */
        size_t del0 = i, add0 = j;
        while (k < nops && ops[k] != '=') {
            if (ops[k] == '-')
                i++;
            else
                j++;
            k++;
        }
        size_t ndel = i - del0, nadd = j - add0;
        if (shown >= max_lines) {
            left += ndel + nadd;
            continue;
        }
        th__sb_addf(out, "@@ line %zu @@\n", pre + del0 + 1);
        for (size_t d = 0; d < ndel; d++) {
            struct line l = la[pre + del0 + d];
            size_t focus = d < nadd ? common_prefix(l, lb[pre + add0 + d]) : 0;
            if (shown < max_lines) {
                add_clipped(out, '-', l, focus);
                shown++;
            } else {
                left++;
            }
        }
        for (size_t d = 0; d < nadd; d++) {
            struct line l = lb[pre + add0 + d];
            size_t focus = d < ndel ? common_prefix(l, la[pre + del0 + d]) : 0;
            if (shown < max_lines) {
                add_clipped(out, '+', l, focus);
                shown++;
            } else {
                left++;
            }
        }
    }
    if (left)
        th__sb_addf(out, "... %zu more differing line%s\n", left, left == 1 ? "" : "s");
done:
    free(ops);
    free(la);
    free(lb);
}

/* ---- args ---------------------------------------------------------------------------- */

int th__ruletest_split_args(char *s, char **argv, int max)
{
    int n = 0;
    char *r = s;
    for (;;) {
        while (*r == ' ' || *r == '\t' || *r == '\n' || *r == '\r')
            r++;
        if (!*r)
            return n;
        if (n == max)
            return -1;
        /* The word is compacted in place: w (writing) never passes r (reading). */
        char *w = r;
        argv[n++] = w;
        while (*r && *r != ' ' && *r != '\t' && *r != '\n' && *r != '\r') {
            if (*r == '\'') {
                char *q = strchr(r + 1, '\'');
                if (!q)
                    return -1;
                size_t len = (size_t)(q - r - 1);
                memmove(w, r + 1, len);
                w += len;
                r = q + 1;
            } else if (*r == '"') {
                r++;
                while (*r && *r != '"') {
                    if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
                        r++;
                    *w++ = *r++;
                }
                if (*r != '"')
                    return -1;
                r++;
            } else {
                if (*r == '\\' && r[1])
                    r++;
                *w++ = *r++;
            }
        }
        /* r is at the separator or the end; w <= r, so the terminator overwrites nothing
         * unread. */
        bool at_end = !*r;
        *w = '\0';
        if (at_end)
            return n;
        r++;
    }
}

/* ---- XML ----------------------------------------------------------------------------- */

/* The code point of the valid UTF-8 sequence at p and its length in *n, or -1 when the
 * bytes are not valid UTF-8 (overlong forms and surrogates included). */
static long utf8_decode(const unsigned char *p, size_t avail, size_t *n)
{
    unsigned char c = p[0];
    long cp;
    size_t len;
    if (c < 0x80) {
        *n = 1;
        return c;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return -1;
    }
    if (avail < len)
        return -1;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return -1;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return -1;
    *n = len;
    return cp;
}

void th__xml_escape(struct th_strbuf *sb, const char *s, size_t len, bool attr)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = 1;
        long cp = utf8_decode(p + i, len - i, &n);
        const char *rep = NULL;
        char ref[24];
        if (cp < 0 || cp == 0xFFFE || cp == 0xFFFF ||
            (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r')) {
            rep = "\xEF\xBF\xBD";
            if (cp < 0)
                n = 1;
        } else if (cp == '&') {
            rep = "&amp;";
        } else if (cp == '<') {
            rep = "&lt;";
        } else if (cp == '>') {
            rep = "&gt;";
        } else if (cp == '"') {
            rep = "&quot;";
        } else if (cp == '\'') {
            rep = "&apos;";
        } else if (attr && (cp == '\t' || cp == '\n' || cp == '\r')) {
            snprintf(ref, sizeof ref, "&#%ld;", cp);
            rep = ref;
        }
        if (rep)
            th__sb_adds(sb, rep);
        else
            th__sb_add(sb, s + i, n);
        i += n;
    }
}

/* ---- JUnit --------------------------------------------------------------------------- */

struct junit_case {
    enum th_ruletest_status status;
    char *rule, *name, *reason, *diff;
};

struct th_junit {
    struct junit_case *v;
    size_t n, cap;
};

int th_junit_new(struct th_junit **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : TH_ENOMEM;
}

static char *dup_or_null(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = th__strdup(s);
    if (!d)
        *oom = true;
    return d;
}

int th_junit_add(struct th_junit *j, const struct th_ruletest_result *r)
{
    if (th__grow((void **)&j->v, &j->cap, j->n + 1, sizeof *j->v) < 0)
        return TH_ENOMEM;
    bool oom = false;
    struct junit_case c = {r->status, dup_or_null(r->rule ? r->rule : "", &oom),
                           dup_or_null(r->name, &oom), dup_or_null(r->reason, &oom),
                           dup_or_null(r->diff, &oom)};
    if (oom) {
        free(c.rule);
        free(c.name);
        free(c.reason);
        free(c.diff);
        return TH_ENOMEM;
    }
    j->v[j->n++] = c;
    return 0;
}

void th_junit_free(struct th_junit *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->n; i++) {
        free(j->v[i].rule);
        free(j->v[i].name);
        free(j->v[i].reason);
        free(j->v[i].diff);
    }
    free(j->v);
    free(j);
}

static void xml_attr(struct th_strbuf *sb, const char *name, const char *value)
{
    th__sb_addf(sb, " %s=\"", name);
    th__xml_escape(sb, value, strlen(value), true);
    th__sb_addc(sb, '"');
}

int th_junit_write(const struct th_junit *j, FILE *fp)
{
    struct th_strbuf sb;
    th__sb_init(&sb);
    size_t fails = 0, skips = 0;
    for (size_t i = 0; i < j->n; i++) {
        fails += j->v[i].status == TH_RULETEST_FAIL;
        skips += j->v[i].status == TH_RULETEST_SKIP;
    }
    th__sb_adds(&sb, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    th__sb_addf(&sb,
                "<testsuites name=\"trailhound test\" tests=\"%zu\" failures=\"%zu\" "
                "errors=\"0\" skipped=\"%zu\">\n",
                j->n, fails, skips);
    /* One testsuite per rule, in the order rules first appear. */
    for (size_t i = 0; i < j->n; i++) {
        bool first = true;
        for (size_t k = 0; k < i && first; k++)
            first = strcmp(j->v[k].rule, j->v[i].rule) != 0;
        if (!first)
            continue;
        size_t tests = 0, f = 0, s = 0;
        for (size_t k = i; k < j->n; k++)
            if (!strcmp(j->v[k].rule, j->v[i].rule)) {
                tests++;
                f += j->v[k].status == TH_RULETEST_FAIL;
                s += j->v[k].status == TH_RULETEST_SKIP;
            }
        th__sb_adds(&sb, "  <testsuite");
        xml_attr(&sb, "name", j->v[i].rule);
        th__sb_addf(&sb, " tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\">\n", tests,
                    f, s);
        for (size_t k = i; k < j->n; k++) {
            const struct junit_case *c = &j->v[k];
            if (strcmp(c->rule, j->v[i].rule))
                continue;
            th__sb_adds(&sb, "    <testcase");
            xml_attr(&sb, "classname", c->rule);
            xml_attr(&sb, "name", c->name ? c->name : "(rule)");
            if (c->status == TH_RULETEST_PASS) {
                th__sb_adds(&sb, "/>\n");
                continue;
            }
            th__sb_adds(&sb, ">\n");
            const char *reason = c->reason ? c->reason : "";
            if (c->status == TH_RULETEST_SKIP) {
                th__sb_adds(&sb, "      <skipped");
                xml_attr(&sb, "message", reason);
                th__sb_adds(&sb, "/>\n");
            } else {
                th__sb_adds(&sb, "      <failure");
                xml_attr(&sb, "message", reason);
                th__sb_adds(&sb, " type=\"failure\">");
                th__xml_escape(&sb, reason, strlen(reason), false);
                if (c->diff) {
                    th__sb_addc(&sb, '\n');
                    th__xml_escape(&sb, c->diff, strlen(c->diff), false);
                }
                th__sb_adds(&sb, "</failure>\n");
            }
            th__sb_adds(&sb, "    </testcase>\n");
        }
        th__sb_adds(&sb, "  </testsuite>\n");
    }
    th__sb_adds(&sb, "</testsuites>\n");
    int rc = 0;
    if (sb.oom)
        rc = TH_ENOMEM;
    else if (fwrite(sb.p, 1, sb.len, fp) != sb.len || fflush(fp) != 0 || ferror(fp))
        rc = TH_EIO;
    th__sb_fini(&sb);
    return rc;
}

/* ---- the runner ---------------------------------------------------------------------- */

struct run {
    const struct th_ruletest_config *cfg;
    struct th_ruletest_summary sum;
    struct th_strbuf diff;   /* scratch: the diff of one result */
    bool oom;
};

static void report(struct run *r, enum th_ruletest_status st, const char *rule, const char *name,
                   const char *reason, const char *diff)
{
    if (st == TH_RULETEST_PASS)
        r->sum.passed++;
    else if (st == TH_RULETEST_FAIL)
        r->sum.failed++;
    else
        r->sum.skipped++;
    if (r->cfg->report) {
        struct th_ruletest_result res = {st, rule, name, reason, diff && *diff ? diff : NULL};
        r->cfg->report(r->cfg->report_ctx, &res);
    }
}

static void verdict(struct run *r, enum th_ruletest_status st, const char *rule,
                    const char *name, const struct th_strbuf *diff, const char *fmt, ...)
    TH_PRINTF(6, 7);

static void verdict(struct run *r, enum th_ruletest_status st, const char *rule,
                    const char *name, const struct th_strbuf *diff, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One line: a newline from a loader or engine message becomes a space. */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    report(r, st, rule, name, msg, diff && diff->len ? diff->p : NULL);
}

#define FAIL(r, rule, name, diff, ...) verdict(r, TH_RULETEST_FAIL, rule, name, diff, __VA_ARGS__)

/* Diagnostics of a rule set that did not load cleanly: the first error of each rule. */
struct bad_rule {
    char *name;
    char *first; /* "where: msg" */
    unsigned more;
};

struct bad_rules {
    struct bad_rule *v;
    size_t n, cap;
    bool oom;
};

static void collect_bad(void *ctx, const struct th_diag *d)
{
    struct bad_rules *b = ctx;
    if (!d->is_error)
        return;
    const char *name = d->rule && d->rule[0] ? d->rule : d->where ? d->where : "?";
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->v[i].name, name)) {
            b->v[i].more++;
            return;
        }
    char text[1200];
    snprintf(text, sizeof text, "%s%s%s", d->where && d->where[0] ? d->where : "",
             d->where && d->where[0] ? ": " : "", d->msg ? d->msg : "");
    struct bad_rule e = {th__strdup(name), th__strdup(text), 0};
    if (!e.name || !e.first || th__grow((void **)&b->v, &b->cap, b->n + 1, sizeof *b->v) < 0) {
        free(e.name);
        free(e.first);
        b->oom = true;
        return;
    }
    b->v[b->n++] = e;
}

static void free_bad(struct bad_rules *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->v[i].name);
        free(b->v[i].first);
    }
    free(b->v);
}

static int cmp_bad(const void *a, const void *b)
{
    return strcmp(((const struct bad_rule *)a)->name, ((const struct bad_rule *)b)->name);
}

static int cmp_rule(const void *a, const void *b)
{
    return strcmp((*(struct th_rule *const *)a)->id, (*(struct th_rule *const *)b)->id);
}

static bool wanted(const struct run *r, const char *name)
{
    return !r->cfg->filter || strstr(name, r->cfg->filter) != NULL;
}

/* Every diagnostic of a load, one "where: error|warning: rule: msg" line each. */
static void collect_all(void *ctx, const struct th_diag *d)
{
    struct th_strbuf *sb = ctx;
    th__sb_addf(sb, "%s: %s: %s: %s\n", d->where && d->where[0] ? d->where : "-",
                d->is_error ? "error" : "warning", d->rule ? d->rule : "", d->msg ? d->msg : "");
}

static int collect_line(void *ctx, const char *line, size_t len)
{
    struct th_strbuf *sb = ctx;
    th__sb_add(sb, line, len);
    th__sb_addc(sb, '\n');
    return 0;
}

static void collect_log(void *ctx, const char *msg)
{
    struct th_strbuf *sb = ctx;
    if (sb->len == 0) /* the first warning is the one reported */
        th__sb_adds(sb, msg);
}

static size_t count_lines(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] == '\n';
    return n + (len && s[len - 1] != '\n');
}

/*
 * An error case: the rule file must fail to load, and every non-empty line of
 * expected_error must appear in the diagnostics.
 */
static void error_case(struct run *r, const char *rule_id, const char *casedir,
                       const char *cname, const char *rulefile)
{
    char path[4096], rpath[4096];
    char *want = NULL;
    size_t wlen;
    struct th_strbuf diags;
    th__sb_init(&diags);
    th__sb_reset(&r->diff);
    if (!join(path, sizeof path, casedir, "expected_error") ||
        !join(rpath, sizeof rpath, casedir, rulefile)) {
        FAIL(r, rule_id, cname, NULL, "path too long");
        goto done;
    }
    int rc = slurp(path, &want, &wlen);
    if (rc < 0) {
        FAIL(r, rule_id, cname, NULL,
             "an error case (%s) needs an expected_error file with the text of the error",
             rulefile);
        goto done;
    }
    const char *paths[] = {rpath};
    struct th_ruleset *rs = NULL;
    rc = th_ruleset_load(paths, 1, 0, collect_all, &diags, &rs);
    th_ruleset_free(rs);
    if (rc < 0) {
        FAIL(r, rule_id, cname, NULL, "cannot load %s: %s", rulefile, th_strerror(rc));
        goto done;
    }
    /* The expected lines, each trimmed of white space at both ends; empty ones are
     * skipped. */
    size_t nwant = 0, nmissing = 0;
    const char *first_missing = NULL;
    size_t first_len = 0;
    for (char *p = want; p && *p;) {
        char *nl = strchr(p, '\n');
        char *end = nl ? nl : p + strlen(p);
        char *next = nl ? nl + 1 : end;
        while (end > p && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
            end--;
        *end = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p) {
            nwant++;
            if (!diags.p || !strstr(diags.p, p)) {
                if (!nmissing++) {
                    th__sb_adds(&r->diff, "--- expected_error\n+++ load diagnostics\n");
                    first_missing = p;
                    first_len = strlen(p);
                }
                if (nmissing <= TH_RULETEST_DIFF_LINES / 2)
                    add_clipped(&r->diff, '-', (struct line){p, strlen(p)}, 0);
            }
        }
        p = next;
    }
    if (nwant == 0) {
        FAIL(r, rule_id, cname, NULL, "expected_error is empty: write the error text to expect");
        goto done;
    }
    if (rc == 0) {
        FAIL(r, rule_id, cname, NULL, "%s loaded without error; expected: %s", rulefile,
             first_missing ? first_missing : want);
        goto done;
    }
    if (nmissing) {
        size_t shown = 0;
        for (const char *p = diags.p; p && *p && shown < TH_RULETEST_DIFF_LINES / 2; shown++) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            add_clipped(&r->diff, '+', (struct line){p, len}, 0);
            p = nl ? nl + 1 : p + len;
        }
        FAIL(r, rule_id, cname, &r->diff, "the load error lacks %zu of %zu expected line%s: %.*s",
             nmissing, nwant, nwant == 1 ? "" : "s", (int)(first_len > 200 ? 200 : first_len),
             first_missing);
        goto done;
    }
    report(r, TH_RULETEST_PASS, rule_id, cname, NULL, NULL);
done:
    free(want);
    th__sb_fini(&diags);
}

/* p as seen from dir: p itself when absolute, else dir/p written into buf (NULL when it
 * does not fit). */
static const char *case_path(const char *dir, const char *p, char *buf, size_t size)
{
    if (p[0] == '/')
        return p;
    return join(buf, size, dir, p) ? buf : NULL;
}

/*
 * A case with events: run them through a fresh engine over rs (the rule alone) and compare
 * the output with expected.jsonl. *fires is set to 1 when expected.jsonl is not empty, 0
 * when it is, and left alone when there is none.
 */
static void run_case(struct run *r, const struct th_ruleset *rs, const char *rule_id,
                     const char *casedir, const char *cname, char **files, size_t nfiles,
                     int *fires)
{
    char path[4096], geoip[4096], asn[4096];
    char *want = NULL, *args = NULL;
    size_t wlen = 0, alen;
    struct th_strbuf got, warn;
    struct th_engine *eng = NULL;
    th__sb_init(&got);
    th__sb_init(&warn);
    th__sb_reset(&r->diff);

    if (!join(path, sizeof path, casedir, "expected.jsonl") || slurp(path, &want, &wlen) < 0) {
        FAIL(r, rule_id, cname, NULL,
             "no expected.jsonl (write the expected signals; an empty file means must not fire)");
        goto done;
    }
    *fires = wlen > 0;

    struct th_options opts;
    th_options_init(&opts);
    if (join(path, sizeof path, casedir, "args") && is_file(path)) {
        char *argv[MAX_ARGS + 1];
        int argc;
        if (slurp(path, &args, &alen) < 0) {
            FAIL(r, rule_id, cname, NULL, "cannot read args");
            goto done;
        }
        argv[0] = "args";
        if ((argc = th__ruletest_split_args(args, argv + 1, MAX_ARGS)) < 0) {
            FAIL(r, rule_id, cname, NULL, "args: an unbalanced quote or more than %d words",
                 MAX_ARGS);
            goto done;
        }
        if (!r->cfg->args) {
            FAIL(r, rule_id, cname, NULL, "args: this runner takes no options");
            goto done;
        }
        argv[argc + 1] = NULL;
        struct th_err aerr = {{0}, {0}};
        if (r->cfg->args(r->cfg->args_ctx, argc + 1, argv, &opts, &aerr) < 0) {
            FAIL(r, rule_id, cname, NULL, "args: %s", aerr.msg[0] ? aerr.msg : "not valid");
            goto done;
        }
        /* A case starts empty: persisted state would tie it to other runs. */
        if (opts.state_dir) {
            FAIL(r, rule_id, cname, NULL, "args: --state has no place in a fixture (every case "
                                          "starts with empty state)");
            goto done;
        }
        /* Database paths are relative to the case directory, as when the case is run by
         * hand from inside it. */
        if ((opts.geoip_path && !(opts.geoip_path = case_path(casedir, opts.geoip_path, geoip,
                                                              sizeof geoip))) ||
            (opts.asn_path &&
             !(opts.asn_path = case_path(casedir, opts.asn_path, asn, sizeof asn)))) {
            FAIL(r, rule_id, cname, NULL, "args: path too long");
            goto done;
        }
    }
    opts.log = collect_log;
    opts.log_ctx = &warn;
    opts.progress = NULL;

    struct th_err err = {{0}, {0}};
    if (th_engine_new(rs, &opts, collect_line, &got, &eng, &err) < 0) {
        char buf[1100];
        FAIL(r, rule_id, cname, NULL, "cannot start the engine: %s",
             th_err_format(&err, buf, sizeof buf));
        goto done;
    }
    for (size_t i = 0; i < nfiles; i++) {
        if (!join(path, sizeof path, casedir, files[i])) {
            FAIL(r, rule_id, cname, NULL, "path too long");
            goto done;
        }
        memset(&err, 0, sizeof err);
        if (th_engine_read_path(eng, path, &err) < 0) {
            char buf[1100];
            FAIL(r, rule_id, cname, NULL, "cannot read %s: %s", files[i],
                 th_err_format(&err, buf, sizeof buf));
            goto done;
        }
    }
    th_engine_finish(eng);
    struct th_stats st;
    th_engine_stats(eng, &st);
    if (warn.len) {
        FAIL(r, rule_id, cname, NULL, "the engine warned: %s", warn.p);
        goto done;
    }
    if (st.rejected) {
        const char *where = th_engine_reject_sample(eng, 0);
        FAIL(r, rule_id, cname, NULL, "%llu event%s rejected by the reader (%s)",
             (unsigned long long)st.rejected, st.rejected == 1 ? "" : "s", where ? where : "?");
        goto done;
    }
    if (st.events == 0) {
        FAIL(r, rule_id, cname, NULL, "the events file%s hold%s no event", nfiles == 1 ? "" : "s",
             nfiles == 1 ? "s" : "");
        goto done;
    }
    if (got.oom || r->diff.oom) {
        r->oom = true;
        FAIL(r, rule_id, cname, NULL, "out of memory");
        goto done;
    }
    if (got.len == wlen && (wlen == 0 || memcmp(got.p, want, wlen) == 0)) {
        report(r, TH_RULETEST_PASS, rule_id, cname, NULL, NULL);
        goto done;
    }
    const char *g = got.p ? got.p : "";
    size_t nw = count_lines(want, wlen), ng = count_lines(g, got.len);
    th__ruletest_diff(want, wlen, "expected.jsonl", g, got.len, "got", TH_RULETEST_DIFF_LINES,
                      &r->diff);
    if (wlen == 0)
        FAIL(r, rule_id, cname, &r->diff, "expected no signal, got %zu line%s", ng,
             ng == 1 ? "" : "s");
    else if (got.len == 0)
        FAIL(r, rule_id, cname, &r->diff, "expected %zu line%s, got none", nw, nw == 1 ? "" : "s");
    else if (r->diff.len == 0)
        FAIL(r, rule_id, cname, NULL,
             "the output differs from expected.jsonl only in its final newline");
    else
        FAIL(r, rule_id, cname, &r->diff,
             "the output differs from expected.jsonl (expected %zu line%s, got %zu)", nw,
             nw == 1 ? "" : "s", ng);
done:
    th_engine_free(eng);
    free(want);
    free(args);
    th__sb_fini(&got);
    th__sb_fini(&warn);
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Runs every case of one loaded rule, then the verdicts on the rule as a whole. */
static void test_rule(struct run *r, const struct th_rule *rule)
{
    char fixdir[4096];
    char **cases = NULL;
    size_t ncases = 0;
    struct th_ruleset *alone = NULL;
    if (!join(fixdir, sizeof fixdir, r->cfg->fixtures, rule->id) || !is_dir(fixdir)) {
        if (r->cfg->allow_untested)
            verdict(r, TH_RULETEST_SKIP, rule->id, NULL, NULL, "no fixtures (%s/%s/)",
                    r->cfg->fixtures, rule->id);
        else
            FAIL(r, rule->id, NULL, NULL,
                 "no fixtures: add %s/%s/ with a case that fires and one that stays quiet",
                 r->cfg->fixtures, rule->id);
        return;
    }
    /* Isolation: the rule's own file, loaded again on its own. */
    const char *paths[] = {rule->file ? rule->file : ""};
    int rc = th_ruleset_load(paths, 1, 0, NULL, NULL, &alone);
    if (rc != 0 || th_ruleset_count(alone) != 1 || strcmp(alone->rules[0]->id, rule->id)) {
        FAIL(r, rule->id, NULL, NULL, "%s does not load on its own as rule %s", paths[0],
             rule->id);
        goto done;
    }
    if (list_dir(fixdir, true, &cases, &ncases) < 0) {
        FAIL(r, rule->id, NULL, NULL, "cannot read %s", fixdir);
        goto done;
    }
    if (ncases == 0) {
        FAIL(r, rule->id, NULL, NULL, "%s/ has no case directories", fixdir);
        goto done;
    }
    bool any_fires = false, any_quiet = false;
    for (size_t c = 0; c < ncases; c++) {
        char casedir[4096];
        char **files = NULL;
        size_t nfiles = 0;
        if (!join(casedir, sizeof casedir, fixdir, cases[c]) ||
            list_dir(casedir, false, &files, &nfiles) < 0) {
            FAIL(r, rule->id, cases[c], NULL, "cannot read the case directory");
            continue;
        }
        const char *rulefile = NULL;
        static const char *const rule_names[] = {"rule.yaml", "rule.yml", "rule.json"};
        for (size_t k = 0; k < TH_ARRAY_LEN(rule_names) && !rulefile; k++)
            for (size_t i = 0; i < nfiles && !rulefile; i++)
                if (!strcmp(files[i], rule_names[k]))
                    rulefile = rule_names[k];
        /* The events: every events.* file, in lexical order (list_dir sorts). */
        size_t nev = 0;
        for (size_t i = 0; i < nfiles; i++)
            if (has_prefix(files[i], "events.")) {
                char *t = files[nev];
                files[nev++] = files[i];
                files[i] = t;
            }
        if (rulefile) {
            error_case(r, rule->id, casedir, cases[c], rulefile);
        } else if (nev) {
            int fires = -1;
            run_case(r, alone, rule->id, casedir, cases[c], files, nev, &fires);
            any_fires |= fires == 1;
            any_quiet |= fires == 0;
        } else {
            FAIL(r, rule->id, cases[c], NULL,
                 "nothing to run: no events file (events.ndjson) and no rule file (rule.yaml)");
        }
        free_names(files, nfiles);
    }
    if (!any_fires)
        FAIL(r, rule->id, NULL, NULL,
             "no case that fires (a case whose expected.jsonl holds the expected signals)");
    if (!any_quiet)
        FAIL(r, rule->id, NULL, NULL,
             "no quiet case (a near miss whose expected.jsonl is empty: must not fire)");
done:
    free_names(cases, ncases);
    th_ruleset_free(alone);
}

int th_ruletest_run(const struct th_ruletest_config *cfg, struct th_ruletest_summary *sum,
                    struct th_err *err)
{
    if (sum)
        memset(sum, 0, sizeof *sum);
    if (!cfg || !cfg->fixtures || (cfg->nrule_paths && !cfg->rule_paths))
        return th__err(err, TH_EINVAL, NULL, "no fixtures directory given");
    for (size_t i = 0; i < cfg->nrule_paths; i++) {
        struct stat st;
        if (stat(cfg->rule_paths[i], &st) != 0)
            return th__err(err, TH_ENOTFOUND, cfg->rule_paths[i], "cannot read rules: %s",
                           strerror(errno));
    }
    if (!is_dir(cfg->fixtures))
        return th__err(err, TH_ENOTFOUND, cfg->fixtures, "no fixtures directory here");

    struct run run = {cfg, {0, 0, 0}, {0}, false};
    struct run *r = &run;
    th__sb_init(&r->diff);
    struct bad_rules bad = {NULL, 0, 0, false};
    struct th_ruleset *rs = NULL;
    struct th_rule **sorted = NULL;
    char **dirs = NULL;
    size_t ndirs = 0;
    int rc = th_ruleset_load(cfg->rule_paths, cfg->nrule_paths, 1, collect_bad, &bad, &rs);
    if (rc < 0 || bad.oom) {
        rc = th__err(err, rc < 0 ? rc : TH_ENOMEM, NULL, "cannot load the rules: %s",
                     th_strerror(rc < 0 ? rc : TH_ENOMEM));
        goto done;
    }
    if (rs->n && !(sorted = malloc(rs->n * sizeof *sorted))) {
        rc = th__err(err, TH_ENOMEM, NULL, "out of memory");
        goto done;
    }
    size_t nwanted = 0;
    for (size_t i = 0; i < rs->n; i++)
        if (wanted(r, rs->rules[i]->id))
            sorted[nwanted++] = rs->rules[i];
    if (nwanted)
        qsort(sorted, nwanted, sizeof *sorted, cmp_rule);
    size_t nbad_wanted = 0;
    for (size_t i = 0; i < bad.n; i++)
        nbad_wanted += wanted(r, bad.v[i].name);
    if (nwanted == 0 && nbad_wanted == 0) {
        if (cfg->filter)
            rc = th__err(err, TH_ENOTFOUND, NULL, "no rule id contains '%s'", cfg->filter);
        else
            rc = th__err(err, TH_ENOTFOUND, NULL, "no rules to test");
        goto done;
    }

    /* Rules that do not load: one failure each, with their first error. */
    if (bad.n)
        qsort(bad.v, bad.n, sizeof *bad.v, cmp_bad);
    for (size_t i = 0; i < bad.n; i++)
        if (wanted(r, bad.v[i].name))
            FAIL(r, bad.v[i].name, NULL, NULL, "the rule does not load: %s%s", bad.v[i].first,
                 bad.v[i].more ? " (and more errors: see trailhound lint)" : "");

    for (size_t i = 0; i < nwanted; i++)
        test_rule(r, sorted[i]);

    /* Fixture directories named after no rule: a typo in a directory name (or a rule id)
     * would otherwise leave both the rule and its fixtures untested. */
    if (list_dir(cfg->fixtures, true, &dirs, &ndirs) < 0) {
        rc = th__err(err, TH_EIO, cfg->fixtures, "cannot read the fixtures directory");
        goto done;
    }
    for (size_t d = 0; d < ndirs; d++) {
        if (!wanted(r, dirs[d]))
            continue;
        bool known = false;
        for (size_t i = 0; i < rs->n && !known; i++)
            known = !strcmp(rs->rules[i]->id, dirs[d]);
        for (size_t i = 0; i < bad.n && !known; i++)
            known = !strcmp(bad.v[i].name, dirs[d]);
        if (!known)
            FAIL(r, dirs[d], NULL, NULL,
                 "%s/%s/ is named after no loaded rule (a typo, or a disabled rule?)",
                 cfg->fixtures, dirs[d]);
    }
    rc = r->oom ? th__err(err, TH_ENOMEM, NULL, "out of memory") : (int)r->sum.failed;
done:
    if (sum)
        *sum = r->sum;
    free_names(dirs, ndirs);
    free(sorted);
    th_ruleset_free(rs);
    free_bad(&bad);
    th__sb_fini(&r->diff);
    return rc;
}
