/*  histogram: latency histogram in fixed memory, in the manner of HdrHistogram.

    Log-linear buckets: values below 2 * ZKV_HISTOGRAM_SUB_BUCKETS are counted
    exactly; above, every power-of-two range is split into
    ZKV_HISTOGRAM_SUB_BUCKETS equal buckets, so a reported value is within
    1/ZKV_HISTOGRAM_SUB_BUCKETS (0.8%) of a recorded one. Covers all of
    uint64_t in under 60 KiB; recording is a few instructions, no allocation. */
#ifndef ZKV_HISTOGRAM_H
#define ZKV_HISTOGRAM_H

#include <stdint.h>

#define ZKV_HISTOGRAM_SUB_BUCKETS 128

typedef struct zkv_histogram_t zkv_histogram_t;

zkv_histogram_t *zkv_histogram_new(void);
void zkv_histogram_destroy(zkv_histogram_t **self_p);

void zkv_histogram_record(zkv_histogram_t *self, uint64_t value);
/*  Add every count of other to self. */
void zkv_histogram_merge(zkv_histogram_t *self, const zkv_histogram_t *other);
void zkv_histogram_reset(zkv_histogram_t *self);

uint64_t zkv_histogram_count(const zkv_histogram_t *self);
/*  Exact smallest and largest recorded values; 0 when empty. */
uint64_t zkv_histogram_min(const zkv_histogram_t *self);
uint64_t zkv_histogram_max(const zkv_histogram_t *self);
/*  Exact mean; 0 when empty. */
double zkv_histogram_mean(const zkv_histogram_t *self);

/*  The value at or below which percentile (0..100) of the recorded values lie:
    the highest value of its bucket, never above the maximum. 0 when empty. */
uint64_t zkv_histogram_percentile(const zkv_histogram_t *self, double percentile);

#endif
