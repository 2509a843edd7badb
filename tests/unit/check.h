/*
 * check.h - the unit tests' assertions: each prints both sides on failure, counts it, and
 * lets the test go on; CHECK_DONE() prints "N passed, N failed" and is main's return value.
 */
#ifndef TH_CHECK_H
#define TH_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_pass, check_fail;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (cond) {                                                                            \
            check_pass++;                                                                      \
        } else {                                                                               \
            check_fail++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                                      \
    } while (0)

#define CHECK_INT(a, b)                                                                        \
    do {                                                                                       \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                        \
        if (check_a_ == check_b_) {                                                            \
            check_pass++;                                                                      \
        } else {                                                                               \
            check_fail++;                                                                      \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, \
                    #b, check_a_, check_b_);                                                   \
        }                                                                                      \
    } while (0)

#define CHECK_STR(a, b)                                                                        \
    do {                                                                                       \
        const char *check_a_ = (a), *check_b_ = (b);                                           \
        if (check_a_ && check_b_ && strcmp(check_a_, check_b_) == 0) {                         \
            check_pass++;                                                                      \
        } else {                                                                               \
            check_fail++;                                                                      \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__,  \
                    #a, #b, check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)");   \
        }                                                                                      \
    } while (0)

/* Substring check: a contains b. */
#define CHECK_CONTAINS(a, b)                                                                   \
    do {                                                                                       \
        const char *check_a_ = (a), *check_b_ = (b);                                           \
        if (check_a_ && check_b_ && strstr(check_a_, check_b_)) {                              \
            check_pass++;                                                                      \
        } else {                                                                               \
            check_fail++;                                                                      \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,     \
                    check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)");           \
        }                                                                                      \
    } while (0)

#define CHECK_DONE()                                                                           \
    (printf("%d passed, %d failed\n", check_pass, check_fail), check_fail ? 1 : 0)

#endif
