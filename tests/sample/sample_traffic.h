/*
 * sample_traffic.h - the sample's normal traffic: what three real AWS accounts look like over
 * two days (the mix is described in tests/sample/README.md).
 */
#ifndef TH_SAMPLE_TRAFFIC_H
#define TH_SAMPLE_TRAFFIC_H

#include "sample_util.h"

/* Appends the fixed routine (nightly backups, a key rotation, a root sign-in), then traffic
 * drawn from the weighted table of event kinds until g holds at least target events. */
void th__sample_traffic(struct th__gen *g, size_t target);

#endif
