/*
 * source_kafka.h - the Kafka source (SPEC §2, §13): kafka:// URLs, librdkafka properties
 * (-X KEY=VALUE, also used by the Kafka output), and a high-level consumer in a consumer
 * group with manual commits.
 *
 * The consumer knows nothing of events, state or outputs. It keeps a table of the
 * partitions assigned to this member, each with the offset after the last message it
 * handed out (`next`) and the offset last committed, and a slot for the pipeline's own
 * per-partition object. The pipeline decides when its work is durable and then asks the
 * consumer to commit; on a rebalance the consumer calls the pipeline's hooks: `assigned`
 * for each new partition (which may choose where consumption starts), and `revoking`
 * before partitions go, so that the pipeline can make their work durable and save their
 * state first; only when it says so are their offsets committed.
 *
 * Offsets are never committed automatically (enable.auto.commit is forced off). Every
 * librdkafka callback (rebalance, errors, logs) is served from th__kafka_consumer_poll in
 * the caller's thread: logs go through a queue rather than librdkafka's own threads.
 * Secret property values (passwords, keys) are never copied into messages.
 */
#ifndef TH_SOURCE_KAFKA_H
#define TH_SOURCE_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

/* ---- URLs ----------------------------------------------------------------------------- */

/* A parsed kafka:// URL; every string is owned. */
struct th_kafka_url {
    char *brokers;   /* "host:port[,host:port...]", for bootstrap.servers */
    char **topics;   /* at least one; an output URL has exactly one */
    size_t ntopics;
    char *group;     /* source: the consumer group (required); output: NULL */
    bool latest;     /* source: offset=latest (a new group starts at the end); default
                        earliest */
    bool offset_set; /* source: the URL gave offset= */
};

enum th_kafka_url_kind { TH_KAFKA_SOURCE, TH_KAFKA_OUTPUT };

/* True when s starts with "kafka://". */
bool th__kafka_is_url(const char *s);

/*
 * Parses `kafka://HOST:PORT[,HOST:PORT...]/TOPIC[,TOPIC...]?group=NAME[&offset=earliest|
 * latest]` (a source) or `kafka://HOST:PORT[,HOST:PORT...]/TOPIC` (an output). Hosts may be
 * names, IPv4 addresses or bracketed IPv6 addresses; ports 1-65535; topics as Kafka takes
 * them ([A-Za-z0-9._-], at most 249 characters). The group may be percent-encoded.
 * Returns 0 with *out filled (release with th__kafka_url_fini), or TH_ECONFIG with err
 * saying what is wrong (the URL is quoted; URLs hold no secrets: credentials go in -X).
 */
int th__kafka_url_parse(const char *url, enum th_kafka_url_kind kind, struct th_kafka_url *out,
                        struct th_err *err);
void th__kafka_url_fini(struct th_kafka_url *u);

/* ---- properties (-X) ------------------------------------------------------------------ */

struct th_kafka_prop {
    char *key, *value; /* owned */
};

/* librdkafka properties in the order given; a key given twice keeps its last value. */
struct th_kafka_props {
    struct th_kafka_prop *v;
    size_t n, cap;
};

void th__kafka_props_init(struct th_kafka_props *p);
void th__kafka_props_fini(struct th_kafka_props *p);

/*
 * Adds "KEY=VALUE" (a later value of the same key replaces the earlier one). Refuses, with
 * TH_ECONFIG and err, a missing '=' or key, and the properties trailhound owns: the
 * brokers and the group (from the URL), enable.auto.commit and enable.auto.offset.store
 * (offsets are committed only once the signals are durable), enable.idempotence (the
 * output is always idempotent) and transactional.id. Returns 0, TH_ECONFIG or TH_ENOMEM.
 */
int th__kafka_props_add(struct th_kafka_props *p, const char *kv, struct th_err *err);

/* The value of key (borrowed), or NULL. */
const char *th__kafka_props_get(const struct th_kafka_props *p, const char *key);

/* True for properties whose values are secrets: passwords, private keys, client secrets
 * and the like (never printed). */
bool th__kafka_prop_is_secret(const char *key);

/*
 * Copies msg into buf (size bytes, always NUL-terminated) with every occurrence of a
 * secret property's value (of at least 4 bytes) replaced by "***". Returns buf.
 */
char *th__kafka_redact(const struct th_kafka_props *p, const char *msg, char *buf, size_t size);

/*
 * Sets every property of p on conf. A property librdkafka does not know or refuses is
 * TH_ECONFIG with err naming it and librdkafka's reason, except that a secret's value is
 * never shown. Returns 0 or TH_ECONFIG.
 */
int th__kafka_conf_apply(rd_kafka_conf_t *conf, const struct th_kafka_props *p,
                         struct th_err *err);

/*
 * librdkafka warns when a property meant for the other kind of client is set (-X applies
 * to the consumer and to the producer alike). True for such a warning, which is dropped.
 */
bool th__kafka_log_is_noise(const char *fac, const char *msg);

/* ---- the consumer --------------------------------------------------------------------- */

/* A partition assigned to this member. */
struct th_kafka_part {
    char *topic;        /* owned */
    int32_t partition;
    int64_t next;       /* the offset after the last message handed out, or -1 */
    int64_t committed;  /* the group's committed offset as last known, or -1 */
    bool eof;           /* at the end of the partition, nothing handed out since */
    bool leaving;       /* set while it is being revoked */
    void *user;         /* the pipeline's object for this partition */
};

struct th_kafka_consumer;

/* The pipeline's side of a rebalance; every hook is called from th__kafka_consumer_poll
 * or th__kafka_consumer_close, in the caller's thread. */
struct th_kafka_hooks {
    void *ctx;
    /*
     * p was just assigned: set p->user. p->committed holds the group's committed offset
     * (-1: none, or it could not be fetched). Return the offset to start from, or -1 for
     * the committed one (a new group: the URL's offset=). Any other negative value means
     * the pipeline cannot take the partition: it is not consumed (the pipeline stops).
     */
    int64_t (*assigned)(void *ctx, struct th_kafka_part *p);
    /*
     * The partitions marked `leaving` are about to go. lost: they already belong to
     * another member (the session expired), so nothing of theirs may be committed. Return
     * true when their work is durable (signals written, state saved): their offsets are
     * then committed before they go.
     */
    bool (*revoking)(void *ctx, bool lost);
    /* p is gone: release p->user. */
    void (*released)(void *ctx, struct th_kafka_part *p);
    /* A warning or error for a person, one line, secrets already removed. */
    void (*log)(void *ctx, const char *msg);
};

/* Counters of a consumer. */
struct th_kafka_consumer_stats {
    uint64_t messages;       /* messages handed out */
    uint64_t commits;        /* successful commits */
    uint64_t commit_errors;  /* commits that failed */
    uint64_t rebalances;     /* assignments received */
    uint64_t errors;         /* consumer errors reported (transport, broker, topic) */
};

/* One message, borrowed for the duration of the callback. */
struct th_kafka_msg {
    const void *data;
    size_t len;
    struct th_kafka_part *part;
    int64_t offset;
    int64_t timestamp_ms; /* the message's timestamp (CreateTime or LogAppendTime), or -1 */
};

typedef void (*th_kafka_msg_fn)(void *ctx, const struct th_kafka_msg *m);

/*
 * Creates a consumer for a source URL and subscribes to its topics. props (borrowed; must
 * outlive the consumer) are applied over trailhound's defaults (client.id trailhound,
 * partition.assignment.strategy cooperative-sticky); then the URL's brokers, group and
 * offset, and manual commits, are set. Returns 0, or TH_ECONFIG / TH_ENOMEM / TH_EIO
 * with err filled.
 */
int th__kafka_consumer_new(const struct th_kafka_url *url, const struct th_kafka_props *props,
                           const struct th_kafka_hooks *hooks, struct th_kafka_consumer **out,
                           struct th_err *err);

/*
 * Waits up to timeout_ms for a message and hands it to fn (at most one per call), then
 * destroys it and advances its partition's `next`. Serves rebalances, errors and logs.
 * Returns 1 when a message was handed out, 0 when none was, or TH_EIO with err filled on
 * a fatal consumer error (the consumer cannot go on).
 */
int th__kafka_consumer_poll(struct th_kafka_consumer *c, int timeout_ms, th_kafka_msg_fn fn,
                            void *ctx, struct th_err *err);

/*
 * Commits, synchronously, the `next` offset of every assigned partition that moved past
 * its committed offset (only those marked `leaving` when only_leaving). Returns the number
 * of partitions committed (0: nothing to do), or TH_EIO with err holding librdkafka's
 * reason; the committed offsets then stay as they were.
 */
int th__kafka_consumer_commit(struct th_kafka_consumer *c, bool only_leaving,
                              struct th_err *err);

/* Pauses (or resumes) fetching on every assigned partition, and on partitions assigned
 * later while paused. Messages already fetched are dropped by librdkafka and fetched
 * again on resume, from `next`. */
void th__kafka_consumer_pause(struct th_kafka_consumer *c, bool pause);
bool th__kafka_consumer_paused(const struct th_kafka_consumer *c);

/* The assigned partitions: i < th__kafka_consumer_nparts(c). Borrowed until the next
 * poll. */
size_t th__kafka_consumer_nparts(const struct th_kafka_consumer *c);
struct th_kafka_part *th__kafka_consumer_part(struct th_kafka_consumer *c, size_t i);

/* Messages between `next` (or the committed offset) and the partition's end, as last
 * seen by the fetcher (no request is made); 0 at the end; -1 when not known yet (nothing
 * read and nothing committed). */
int64_t th__kafka_consumer_lag(struct th_kafka_consumer *c, const struct th_kafka_part *p);

/* True when partitions are assigned and every one of them is at its end. */
bool th__kafka_consumer_at_end(const struct th_kafka_consumer *c);

void th__kafka_consumer_stats(const struct th_kafka_consumer *c,
                              struct th_kafka_consumer_stats *out);

/*
 * Leaves the group: the assigned partitions are revoked through the hooks (and committed
 * when the pipeline says their work is durable). Call once, before th__kafka_consumer_free.
 */
void th__kafka_consumer_close(struct th_kafka_consumer *c);

/* Destroys the consumer (closing it first if th__kafka_consumer_close was not called);
 * NULL is fine. */
void th__kafka_consumer_free(struct th_kafka_consumer *c);

#endif
