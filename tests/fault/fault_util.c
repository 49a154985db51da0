/*  fault_util: clock, log lines, run errors and the seeded generator. */
#include <stdio.h>
#include <time.h>

#include "fault.h"
#include "splitmix.h"

static const char *s_kind_names[FAULT_KINDS] = {"kill",
                                                "stop",
                                                "pause",
                                                "member",
                                                "partition-one",
                                                "partition-leader",
                                                "partition-majority",
                                                "partition-ring"};

static int64_t s_start_ms;
static int s_errors;

const char *fault_kind_name(fault_kind_t kind)
{
    return kind < FAULT_KINDS ? s_kind_names[kind] : "?";
}

bool fault_kind_is_partition(fault_kind_t kind)
{
    return kind >= FAULT_PARTITION_ONE && kind < FAULT_KINDS;
}

int64_t fault_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t fault_now_ms(void)
{
    return fault_now_ns() / 1000000;
}

void fault_log_start(void)
{
    s_start_ms = fault_now_ms();
}

static void s_vlog(const char *prefix, const char *fmt, va_list args)
{
    int64_t ms = fault_now_ms() - s_start_ms;
    printf("[%4lld.%03lld] %s", (long long) (ms / 1000), (long long) (ms % 1000), prefix);
    vprintf(fmt, args);
    putchar('\n');
    fflush(stdout);
}

void fault_log(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    s_vlog("", fmt, args);
    va_end(args);
}

void fault_error(const char *fmt, ...)
{
    s_errors++;
    va_list args;
    va_start(args, fmt);
    s_vlog("ERROR: ", fmt, args);
    va_end(args);
}

int fault_error_count(void)
{
    return s_errors;
}

void fault_rng_seed(fault_rng_t *rng, uint64_t seed)
{
    rng->state = seed;
}

uint64_t fault_rng_next(fault_rng_t *rng)
{
    return zkv_splitmix64(&rng->state);
}

uint64_t fault_rng_below(fault_rng_t *rng, uint64_t n)
{
    return n ? fault_rng_next(rng) % n : 0;
}

int64_t fault_rng_range(fault_rng_t *rng, int64_t lo, int64_t hi)
{
    return hi <= lo ? lo : lo + (int64_t) fault_rng_below(rng, (uint64_t) (hi - lo) + 1);
}
