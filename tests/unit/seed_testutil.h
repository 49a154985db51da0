/*  seed_testutil: the seed of a unit test's randomized run: ZKV_SEED from
    the environment replays another one, the default otherwise; printed, so
    that a failure names the seed that replays it. */
#ifndef ZKV_SEED_TESTUTIL_H
#define ZKV_SEED_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static inline uint64_t t_seed(uint64_t fallback)
{
    const char *env = getenv("ZKV_SEED");
    uint64_t seed = env != NULL ? strtoull(env, NULL, 0) : fallback;
    printf("[ seed     ] ZKV_SEED=%llu\n", (unsigned long long) seed);
    return seed;
}

#endif
