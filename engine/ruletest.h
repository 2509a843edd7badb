/*
 * ruletest.h - the rule test runner behind `trailhound test` (the public th_ruletest_run and
 * th_junit_* of trailhound.h), and the pieces of it the unit tests reach directly: the
 * expected-versus-got diff, the splitting of a case's `args` file into words, and XML
 * escaping for JUnit reports.
 *
 * The runner keeps no state between calls and allocates only while it runs; everything it
 * reports is borrowed by the callback for the duration of the call.
 */
#ifndef TH_RULETEST_H
#define TH_RULETEST_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"
#include "trailhound.h"

/* Lines of diff shown at most, beyond the two header lines and the closing note. */
#define TH_RULETEST_DIFF_LINES 20
/* Bytes of one long line shown in a diff, around its first difference. */
#define TH_RULETEST_DIFF_WIDTH 160

/*
 * Appends to out a unified-style line diff of a (named aname) against b (named bname):
 * "--- aname", "+++ bname", then for each block of changed lines "@@ line N @@" (N is the
 * line of a where the block starts) and the lines, "-" for a's and "+" for b's, at most
 * max_lines of them, then "... N more differing lines" when some were left out. A line
 * longer than TH_RULETEST_DIFF_WIDTH bytes is cut to a window around its first difference
 * from the line it replaces, with "..." where it was cut. Every line ends in '\n'. Appends
 * nothing when a and b have the same lines. Nothing is kept; out owns what was appended.
 */
void th__ruletest_diff(const char *a, size_t alen, const char *aname, const char *b, size_t blen,
                       const char *bname, size_t max_lines, struct th_strbuf *out);

/*
 * Splits s in place into at most max words separated by white space; single quotes group
 * literally, double quotes group with backslash escapes, a backslash outside quotes escapes
 * the next character. argv[i] point into s. Returns the number of words, or -1 on an
 * unbalanced quote or more than max words.
 */
int th__ruletest_split_args(char *s, char **argv, int max);

/*
 * Appends s (len bytes) escaped for XML 1.0: & < > " ' as entities, invalid UTF-8 and the
 * characters XML cannot carry (controls other than tab, newline and carriage return,
 * U+FFFE, U+FFFF) as U+FFFD; in an attribute (attr set) tab, newline and carriage return
 * become character references so they survive attribute normalisation.
 */
void th__xml_escape(struct th_strbuf *sb, const char *s, size_t len, bool attr);

#endif
