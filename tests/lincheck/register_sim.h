/*  register_sim: random histories of a simulated atomic key-value store, in
    the history format of docs/HISTORY.md. Each operation takes effect at one
    instant between its invoke and its completion, so every history is
    linearizable by construction; some clients give up (info) on operations
    that then take effect later or never, some operations fail, some never
    complete. Deterministic for a seed. Used by the checker's tests and by
    zkv-lincheck-gen for measurements. */
#ifndef ZKV_LINCHECK_REGISTER_SIM_H
#define ZKV_LINCHECK_REGISTER_SIM_H

#include <stddef.h>
#include <stdint.h>

#define ZKV_LINCHECK_SIM_PROCESSES_MAX 64
#define ZKV_LINCHECK_SIM_KEYS_MAX 64

typedef struct {
    uint64_t seed;
    int processes;    /* 1..ZKV_LINCHECK_SIM_PROCESSES_MAX */
    int keys;         /* 1..ZKV_LINCHECK_SIM_KEYS_MAX */
    long ticks;       /* each tick moves one random process one step */
    int info_percent; /* roughly the share of operations that end indeterminate */
} zkv_lincheck_sim_params_t;

/*  The history as JSON lines; the caller frees it. NULL when out of memory. */
char *zkv_lincheck_sim_history(const zkv_lincheck_sim_params_t *params, size_t *size_p);

#endif
