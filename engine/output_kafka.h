/*
 * output_kafka.h - signals to Kafka (SPEC §13): an idempotent producer that writes each
 * signal line to one topic with the signal id as the message key, so that a signal
 * produced twice (a replay, a restart) lands in the same partition with the same key and
 * a consumer can drop duplicates by id.
 *
 * Nothing is ever dropped: a signal stays "pending" until its delivery is reported. A
 * failed delivery (a timeout while the topic has no leader, a broker error) is counted,
 * reported once per outage through the log hook, and the signal is sent again (after a
 * back-off, from a copy kept by this module); a full local queue keeps the signal here
 * too. A fatal producer error (the idempotent producer cannot guarantee order any more)
 * purges librdkafka's queues into the same retry list and starts a new producer. The
 * caller watches `pending` and `stalled` to pause its input (back-pressure) and to decide
 * when the signals written so far are durable.
 *
 * All callbacks run from th__kafka_producer_poll in the caller's thread.
 */
#ifndef TH_OUTPUT_KAFKA_H
#define TH_OUTPUT_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source_kafka.h"

struct th_kafka_producer;

/* Counters of a producer. */
struct th_kafka_producer_stats {
    uint64_t sent;       /* signals handed to send */
    uint64_t delivered;  /* deliveries reported */
    uint64_t errors;     /* failed deliveries (each retried) */
    uint64_t retries;    /* sends of a signal again */
    uint64_t restarts;   /* producers started again after a fatal error */
};

/* Hooks of a producer, called from th__kafka_producer_poll. */
struct th_kafka_producer_hooks {
    void *ctx;
    /* A signal was delivered; origin_ms is what send was given with it. */
    void (*delivered)(void *ctx, int64_t origin_ms);
    /* A warning or error for a person, one line, secrets already removed. */
    void (*log)(void *ctx, const char *msg);
};

/*
 * Creates a producer for an output URL (one topic). props (borrowed; must outlive the
 * producer) are applied over the defaults (client.id trailhound); enable.idempotence is
 * forced on. Nothing is sent yet, so an unreachable broker is not an error here.
 * Returns 0, or TH_ECONFIG / TH_ENOMEM with err filled.
 */
int th__kafka_producer_new(const struct th_kafka_url *url, const struct th_kafka_props *props,
                           const struct th_kafka_producer_hooks *hooks,
                           struct th_kafka_producer **out, struct th_err *err);

/*
 * Sends one signal (val, len bytes) with key (klen bytes). Never blocks and never drops:
 * when librdkafka's queue is full the signal waits here. origin_ms is handed back to the
 * delivered hook (the time of the message the signal came from, for latency). Returns 0
 * or TH_ENOMEM (then the signal was not taken).
 */
int th__kafka_producer_send(struct th_kafka_producer *p, const char *key, size_t klen,
                            const void *val, size_t len, int64_t origin_ms);

/*
 * Serves delivery reports and errors for up to timeout_ms (returning early once nothing
 * is pending), and sends again what failed once its back-off has passed. Returns the
 * number of signals not delivered yet.
 */
size_t th__kafka_producer_poll(struct th_kafka_producer *p, int timeout_ms);

/* Signals sent and not delivered yet. */
size_t th__kafka_producer_pending(const struct th_kafka_producer *p);

/* True when a delivery failed (or the local queue was full) and nothing has been
 * delivered since: the output is down, the caller should stop feeding it. */
bool th__kafka_producer_stalled(const struct th_kafka_producer *p);

void th__kafka_producer_stats(const struct th_kafka_producer *p,
                              struct th_kafka_producer_stats *out);

/* Destroys the producer. Signals still pending are lost: flush first (poll until
 * pending is 0) and never commit input whose signals were not delivered. NULL is fine. */
void th__kafka_producer_free(struct th_kafka_producer *p);

/*
 * The key of a signal line: the "id" of a JSON signal, or finding_info.uid of an OCSF
 * finding. Writes it (NUL-terminated) to buf and returns its length, or 0 when the line
 * has neither (then the message goes without a key).
 */
size_t th__kafka_signal_key(const char *line, size_t len, char *buf, size_t size);

#endif
