/*  splitmix64: the one seeded pseudo-random generator of the project (election
    jitter in the Raft core, the simulation, tests and benchmarks). Small,
    fast and good enough for all of them; the same seed gives the same stream. */
#ifndef ZKV_SPLITMIX_H
#define ZKV_SPLITMIX_H

#include <stdint.h>

static inline uint64_t zkv_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#endif
