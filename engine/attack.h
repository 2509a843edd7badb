/*
 * attack.h - the MITRE ATT&CK Enterprise names the engine knows: the 14 tactics of the
 * Enterprise matrix and the techniques and sub-techniques that matter for AWS and other
 * cloud platforms (every technique of the IaaS platform plus the cloud-relevant ones of
 * SaaS and Identity Provider, and the Reconnaissance / Resource Development techniques a
 * cloud rule may name), all pinned to one ATT&CK version, TH_ATTACK_VERSION.
 *
 * Everything here is immutable static data: no allocation, no state, safe from any thread.
 * Pointers returned point into static tables and stay valid for the life of the program.
 * Ids are matched exactly and case-sensitively ("T1552.005", "TA0006"); a technique that
 * ATT&CK has but this table does not carry is reported as unknown, exactly like a
 * mistyped id (lint treats both as errors). Platforms, descriptions, data sources and
 * mitigations are not carried.
 */
#ifndef TH_ATTACK_H
#define TH_ATTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The ATT&CK Enterprise release the names and tactic memberships below are taken from. */
#define TH_ATTACK_VERSION "16.1"
/* ATT&CK Navigator layer fields that go with that release ("versions" and "domain"). */
#define TH_ATTACK_DOMAIN "enterprise-attack"
#define TH_ATTACK_LAYER_VERSION "4.5"
#define TH_ATTACK_NAVIGATOR_VERSION "5.1.0"

/*
 * The tactics in the order of the Enterprise matrix columns; th__tactic_at(i) is the tactic
 * of index i, and bit i of th_technique.tactics says whether a technique belongs to it.
 */
enum th_tactic_index {
    TH_TA_RECONNAISSANCE,       /* TA0043 */
    TH_TA_RESOURCE_DEVELOPMENT, /* TA0042 */
    TH_TA_INITIAL_ACCESS,       /* TA0001 */
    TH_TA_EXECUTION,            /* TA0002 */
    TH_TA_PERSISTENCE,          /* TA0003 */
    TH_TA_PRIVILEGE_ESCALATION, /* TA0004 */
    TH_TA_DEFENSE_EVASION,      /* TA0005 */
    TH_TA_CREDENTIAL_ACCESS,    /* TA0006 */
    TH_TA_DISCOVERY,            /* TA0007 */
    TH_TA_LATERAL_MOVEMENT,     /* TA0008 */
    TH_TA_COLLECTION,           /* TA0009 */
    TH_TA_COMMAND_AND_CONTROL,  /* TA0011 */
    TH_TA_EXFILTRATION,         /* TA0010 */
    TH_TA_IMPACT,               /* TA0040 */
    TH_TA_COUNT
};

struct th_tactic {
    const char *id;             /* "TA0006" */
    const char *name;           /* "Credential Access" */
    const char *shortname;      /* "credential-access": tags and Navigator layers */
    enum th_tactic_index index; /* its column in the matrix */
};

struct th_technique {
    const char *id;   /* "T1552" or "T1552.005" */
    const char *name; /* its own name: "Cloud Instance Metadata API" for T1552.005 */
    uint16_t tactics; /* bit th_tactic_index set for each tactic it belongs to; a
                         sub-technique carries exactly its parent's tactics */
};

/* The pinned ATT&CK version, TH_ATTACK_VERSION ("16.1"). Static string. */
const char *th__attack_version(void);

/* Number of tactics (TH_TA_COUNT, 14). */
size_t th__tactic_count(void);

/* The i-th tactic in matrix order (Reconnaissance first, Impact last); NULL if i is out of
 * range. Borrowed from static data. */
const struct th_tactic *th__tactic_at(size_t i);

/* The tactic with this id ("TA0006"); NULL if unknown or id is NULL. Exact, case-sensitive
 * match. Borrowed from static data. */
const struct th_tactic *th__tactic_find(const char *id);
/* The same for an id that is not NUL-terminated (len bytes at p), e.g. inside a tag. */
const struct th_tactic *th__tactic_find_n(const char *p, size_t len);

/* The tactic with this shortname ("credential-access"); NULL if unknown or slug is NULL. */
const struct th_tactic *th__tactic_by_slug(const char *slug);
/* The same for a slug that is not NUL-terminated. */
const struct th_tactic *th__tactic_by_slug_n(const char *p, size_t len);

/* Number of techniques and sub-techniques in the table. */
size_t th__technique_count(void);

/* The i-th technique in id order (a technique is followed by its sub-techniques), for
 * coverage tables; NULL if i is out of range. Borrowed from static data. */
const struct th_technique *th__technique_at(size_t i);

/* The technique or sub-technique with this id ("T1552", "T1552.005"); NULL if it is not
 * in the table or id is NULL. Binary search, exact and case-sensitive. Borrowed. */
const struct th_technique *th__technique_find(const char *id);
/* The same for an id that is not NUL-terminated (len bytes at p). */
const struct th_technique *th__technique_find_n(const char *p, size_t len);

/* True when t is a sub-technique ("T1552.005"). t must not be NULL. */
bool th__technique_is_sub(const struct th_technique *t);

/* The parent of a sub-technique (T1552 for T1552.005); NULL for a technique. Borrowed. */
const struct th_technique *th__technique_parent(const struct th_technique *t);

/* True when t belongs to the tactic with this id ("TA0006"); false when either is NULL or
 * the tactic id is unknown. */
bool th__technique_in_tactic(const struct th_technique *t, const char *tactic_id);

/* True when t belongs to the tactic of index i (false for i out of range). */
static inline bool th__technique_has_tactic(const struct th_technique *t, size_t i)
{
    return i < TH_TA_COUNT && ((t->tactics >> i) & 1u) != 0;
}

/*
 * Writes t's tactics, in matrix order, to out[0..cap) and returns how many t has (which
 * may exceed cap: only the first cap are written). out may be NULL when cap is 0.
 */
size_t th__technique_tactics(const struct th_technique *t, const struct th_tactic **out,
                             size_t cap);

/*
 * Writes the display name into buf (size bytes, always NUL-terminated when size > 0):
 * "Valid Accounts: Cloud Accounts" for a sub-technique, the name alone for a technique.
 * Returns the length of the full name, like snprintf: a result >= size means truncation.
 */
size_t th__technique_full_name(const struct th_technique *t, char *buf, size_t size);

/*
 * Writes the tag slug of a name into buf, like the shortnames of tactics: ASCII letters
 * and digits lower-cased, every run of other characters one '-', none at either end
 * ("Unused/Unsupported Cloud Regions" -> "unused-unsupported-cloud-regions"). Used to
 * check the name part of `technique:T1535-unused-unsupported-cloud-regions`. Always
 * NUL-terminated when size > 0; returns the full slug length like snprintf.
 */
size_t th__attack_slug(const char *name, char *buf, size_t size);

#endif
