/*  histogram: log-linear buckets over uint64_t, see histogram.h. */
#include "histogram.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define S_SUB ZKV_HISTOGRAM_SUB_BUCKETS
#define S_SUB_BITS 7
#define S_EXACT (2 * S_SUB)
/*  Exact values, then S_SUB buckets for each power of two from 2^8 to 2^63. */
#define S_BUCKETS (S_EXACT + (64 - S_SUB_BITS - 1) * S_SUB)

_Static_assert((1 << S_SUB_BITS) == S_SUB, "sub-buckets must be 2^S_SUB_BITS");

struct zkv_histogram_t {
    uint64_t count;
    uint64_t min;
    uint64_t max;
    long double sum;
    uint64_t counts[S_BUCKETS];
};

static size_t s_index(uint64_t value)
{
    if (value < S_EXACT)
        return (size_t) value;
    int msb = 63 - __builtin_clzll(value);
    int shift = msb - S_SUB_BITS;  /* >= 1 */
    uint64_t sub = value >> shift; /* in [S_SUB, 2 * S_SUB) */
    return S_EXACT + (size_t) (shift - 1) * S_SUB + (size_t) (sub - S_SUB);
}

/*  The highest value that falls into bucket index. */
static uint64_t s_highest(size_t index)
{
    if (index < S_EXACT)
        return index;
    size_t shift = (index - S_EXACT) / S_SUB + 1;
    uint64_t sub = (index - S_EXACT) % S_SUB + S_SUB;
    return ((sub + 1) << shift) - 1;
}

zkv_histogram_t *zkv_histogram_new(void)
{
    zkv_histogram_t *self = calloc(1, sizeof *self);
    if (self)
        zkv_histogram_reset(self);
    return self;
}

void zkv_histogram_destroy(zkv_histogram_t **self_p)
{
    free(*self_p);
    *self_p = NULL;
}

void zkv_histogram_reset(zkv_histogram_t *self)
{
    memset(self, 0, sizeof *self);
    self->min = UINT64_MAX;
}

void zkv_histogram_record(zkv_histogram_t *self, uint64_t value)
{
    self->counts[s_index(value)]++;
    self->count++;
    self->sum += value;
    if (value < self->min)
        self->min = value;
    if (value > self->max)
        self->max = value;
}

void zkv_histogram_merge(zkv_histogram_t *self, const zkv_histogram_t *other)
{
    for (size_t i = 0; i < S_BUCKETS; i++)
        self->counts[i] += other->counts[i];
    self->count += other->count;
    self->sum += other->sum;
    if (other->min < self->min)
        self->min = other->min;
    if (other->max > self->max)
        self->max = other->max;
}

uint64_t zkv_histogram_count(const zkv_histogram_t *self)
{
    return self->count;
}

uint64_t zkv_histogram_min(const zkv_histogram_t *self)
{
    return self->count ? self->min : 0;
}

uint64_t zkv_histogram_max(const zkv_histogram_t *self)
{
    return self->max;
}

double zkv_histogram_mean(const zkv_histogram_t *self)
{
    return self->count ? (double) (self->sum / self->count) : 0.0;
}

uint64_t zkv_histogram_percentile(const zkv_histogram_t *self, double percentile)
{
    if (self->count == 0)
        return 0;
    if (percentile < 0)
        percentile = 0;
    if (percentile > 100)
        percentile = 100;
    /* The rank of the value sought, 1-based: at least the first value. The
       epsilon keeps 99.9% of 100000 at rank 99900 despite rounding. */
    uint64_t rank = (uint64_t) ceil(percentile / 100.0 * (double) self->count - 1e-9);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < S_BUCKETS; i++) {
        seen += self->counts[i];
        if (seen >= rank) {
            uint64_t high = s_highest(i);
            return high < self->max ? high : self->max;
        }
    }
    return self->max;
}
