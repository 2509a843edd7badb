/*
 * sample_attacks.h - the attacks mixed into the sample, at fixed times on 2024-03-05 whatever
 * the seed (tests/sample/README.md tells each story).
 */
#ifndef TH_SAMPLE_ATTACKS_H
#define TH_SAMPLE_ATTACKS_H

#include "sample_util.h"

/* Appends the attack events to g: a leaked key checked with TruffleHog and quarantined by AWS,
 * Bedrock with a long-term key, a burst of secret reads, console changes ("ClickOps") and one
 * key used from two continents within an hour. */
void th__sample_attacks(struct th__gen *g);

#endif
