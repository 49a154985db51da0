/*  target: what both kinds of cluster share: healing and waiting. */
#include "target.h"

#include <stdlib.h>
#include <time.h>

#define TARGET_POLL_MS 20

static void s_sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

int target_wait_settled(target_t *self, int64_t timeout_ms)
{
    int64_t deadline = fault_now_ms() + timeout_ms;
    while (!self->ops->settled(self)) {
        if (fault_now_ms() >= deadline)
            return -1;
        s_sleep_ms(TARGET_POLL_MS);
    }
    return 0;
}

/*  One action, then wait for it; errors are reported by the caller's message. */
static int s_act(target_t *self, int (*action)(target_t *, uint32_t), uint32_t id,
                 int64_t timeout_ms, const char *what)
{
    if (action(self, id) != 0 || target_wait_settled(self, timeout_ms) != 0) {
        fault_error("heal: %s node %u failed", what, id);
        return -1;
    }
    return 0;
}

int target_heal_all(target_t *self, int64_t timeout_ms)
{
    int rc = 0;
    if (target_wait_settled(self, timeout_ms) != 0) {
        fault_error("heal: the last nemesis action did not finish within %lld ms",
                    (long long) timeout_ms);
        rc = -1;
    }
    target_links_t none = {0};
    if (self->partitions && self->ops->cut(self, &none) != 0) {
        fault_error("heal: removing the cuts failed");
        rc = -1;
    }
    self->ops->check(self, false);
    for (uint32_t id = 1; id <= self->nodes; id++) {
        if (self->state[id] == TARGET_NODE_PAUSED &&
            s_act(self, self->ops->resume, id, timeout_ms, "resume") != 0)
            rc = -1;
        if (self->state[id] == TARGET_NODE_DOWN &&
            s_act(self, self->ops->start, id, timeout_ms, "start") != 0)
            rc = -1;
    }
    return rc;
}

zkv_curve_t target_curve(const target_t *self)
{
    if (!self->cert[0])
        return (zkv_curve_t){NULL, NULL};
    return (zkv_curve_t){self->cert, self->server_key};
}

void target_destroy(target_t **self_p)
{
    target_t *self = *self_p;
    if (!self)
        return;
    self->ops->destroy(self);
    free(self);
    *self_p = NULL;
}
