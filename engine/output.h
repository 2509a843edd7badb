/*
 * output.h - signal formats behind one ops table: each turns a th_signal into one line.
 * Where the line goes (stdout, a file, Kafka) is the caller's business.
 */
#ifndef TH_OUTPUT_H
#define TH_OUTPUT_H

#include "signals.h"
#include "strbuf.h"

struct th_output_ops {
    const char *name; /* as given to --format */
    /* Appends the signal as one line of text (no newline) to sb. */
    void (*format)(const struct th_signal *s, struct th_strbuf *sb);
};

/* The format of f, or NULL when this build has none. */
const struct th_output_ops *th__output_ops(enum th_format f);

extern const struct th_output_ops th__output_json;
/* OCSF Detection Finding objects (class_uid 2004), following OCSF schema TH_OCSF_VERSION. */
extern const struct th_output_ops th__output_ocsf;
#define TH_OCSF_VERSION "1.3.0"

/* Shared by formats: appends the group object {"@attr": "value", ...} of s. */
void th__output_group(const struct th_signal *s, struct th_strbuf *sb);

/* Shared by formats: the text name of a signal status ("new", "update", "closed"). */
const char *th__signal_status_name(enum th_signal_status st);

#endif
