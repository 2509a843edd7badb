/*
 * config.h - the `-c FILE` settings file (SPEC §2): a YAML mapping that holds the same
 * settings as the command line's options, checked against a declarative table of keys.
 *
 * The caller (the CLI) describes each key it accepts: its name as written in the file
 * (snake_case; `max-lateness` is accepted for `max_lateness` too), the kind of value it
 * takes (a boolean, a string, a duration, a size, an integer, one of a few words, a list,
 * a map), and an id of its own (an option code). The loader reads the file, rejects any
 * key the table does not name and any value of the wrong kind with `file:line:col` and a
 * one-line reason, and hands back the settings as a flat list of items in file order, each
 * a string value with its position. What the values mean is the caller's business: the
 * CLI feeds them through its own option parser before the command line's options, so
 * that flags win.
 *
 * State: a loaded config owns its document and the strings of its items; nothing else.
 * Ignored: YAML tags and comments. Aliases, duplicate keys and a second document are
 * errors (th__doc_parse).
 */
#ifndef TH_CONFIG_H
#define TH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

/* The kind of value a key takes. */
enum th_config_type {
    TH_CONFIG_BOOL,     /* true / false; an item only when true (flags cannot be unset) */
    TH_CONFIG_STRING,   /* any scalar, as text (a number stays its text) */
    TH_CONFIG_DURATION, /* 0, or a number and a unit: 250ms, 30s, 15m, 1h, 1d */
    TH_CONFIG_SIZE,     /* a positive number of bytes, optionally with K, M or G (KiB...) */
    TH_CONFIG_INT,      /* a decimal integer in [min, max] */
    TH_CONFIG_LIST,     /* a list of scalars (or one scalar): one item per element */
    TH_CONFIG_MAP,      /* a map of scalar to scalar: one item "key=value" per entry */
};

/* One key of the table. */
struct th_config_key {
    const char *key;              /* snake_case, as written in the file */
    enum th_config_type type;
    int id;                       /* the caller's own identifier, handed back in items */
    long long min, max;           /* TH_CONFIG_INT: the accepted range */
    const char *const *choices;   /* TH_CONFIG_STRING: NULL-terminated accepted words, or NULL */
};

/* One setting read from the file. */
struct th_config_item {
    const struct th_config_key *key; /* borrowed from the caller's table */
    const char *value;               /* "true" for a BOOL; the text of a scalar; "k=v" for
                                        a MAP entry. Owned by the config. */
    unsigned line, col;              /* where the value (the map entry's key) starts */
};

struct th_config {
    char *path;                      /* the file name given, owned */
    struct th_config_item *items;    /* in file order */
    size_t n;
    struct th_doc *doc;              /* owns the scalars the items point to */
    char **joined;                   /* owned "k=v" strings of MAP items */
    size_t njoined, joined_cap;
};

/*
 * Reads the settings file at path against keys[0..nkeys). Returns 0 with *out an owned
 * config (free with th__config_free), or TH_EIO (the file cannot be read), TH_ECONFIG (an
 * unknown key, a value of the wrong kind, a document that is not a map) or TH_EPARSE (bad
 * YAML), with err filled ("file:line:col" and one line); *out is then NULL. An empty file
 * is an empty config.
 */
int th__config_load(const char *path, const struct th_config_key *keys, size_t nkeys,
                    struct th_config **out, struct th_err *err);

/* The same over a buffer (len bytes) named name in messages: for tests and fuzzing. */
int th__config_parse(const char *name, const char *data, size_t len,
                     const struct th_config_key *keys, size_t nkeys, struct th_config **out,
                     struct th_err *err);

/* Frees c; NULL is fine. */
void th__config_free(struct th_config *c);

/*
 * Checks one value against a type, as the loader does: returns true when s is acceptable
 * for key k; otherwise false with why (a phrase such as "a duration such as 30s, 15m or
 * 1h") written to buf.
 */
bool th__config_value_ok(const struct th_config_key *k, const char *s, char *buf, size_t size);

/* Parses a duration as TH_CONFIG_DURATION takes it (also "250ms"), in milliseconds. */
bool th__config_duration(const char *s, long long *ms);

#endif
