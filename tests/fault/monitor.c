/*  monitor: status requests pinned to each node, one round at a time. */
#include "monitor.h"

#include <stdlib.h>
#include <string.h>

#include "zkv.h"

#define MONITOR_INTERVAL_MS 250
#define MONITOR_TIMEOUT_MS 400

typedef struct {
    struct monitor_t *monitor;
    uint32_t id;
} s_probe_t;

struct monitor_t {
    zkv_client_t *client;
    const target_t *target;
    s_probe_t probes[FAULT_NODES_MAX + 1];
    size_t outstanding;
    int64_t next_round_ms;
    uint32_t leader;
    uint64_t term;
    uint64_t changes;
};

monitor_t *monitor_new(const target_t *target, char *err, size_t err_size)
{
    monitor_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    zkv_client_config_t config = {.curve = target_curve(target),
                                  .endpoints = target->endpoints,
                                  .timeout_ms = MONITOR_TIMEOUT_MS,
                                  .attempt_timeout_ms = MONITOR_TIMEOUT_MS};
    self->client = zkv_client_new(&config, err, err_size);
    if (!self->client) {
        free(self);
        return NULL;
    }
    self->target = target;
    for (uint32_t id = 1; id <= target->nodes; id++)
        self->probes[id] = (s_probe_t){self, id};
    return self;
}

void monitor_destroy(monitor_t **self_p)
{
    monitor_t *self = *self_p;
    if (!self)
        return;
    zkv_client_destroy(&self->client);
    free(self);
    *self_p = NULL;
}

size_t monitor_pollitems(monitor_t *self, zmq_pollitem_t *items, size_t capacity)
{
    return zkv_client_pollitems(self->client, items, capacity);
}

int64_t monitor_wait_ms(monitor_t *self)
{
    int64_t wait = zkv_client_wait_ms(self->client);
    if (self->outstanding)
        return wait;
    int64_t round = self->next_round_ms - fault_now_ms();
    round = round > 0 ? round : 0;
    return wait >= 0 && wait < round ? wait : round;
}

static void s_answer(monitor_t *self, const Zkv__MemberStatus *m)
{
    if (!m->role || strcmp(m->role, "leader") != 0 || m->term <= self->term)
        return;
    if (self->leader)
        self->changes++;
    fault_log("monitor: node %u leads in term %llu%s", m->id, (unsigned long long) m->term,
              self->leader == m->id ? " (again)" : "");
    self->leader = m->id;
    self->term = m->term;
}

static void s_done(void *arg, int rc, const Zkv__Response *reply)
{
    s_probe_t *probe = arg;
    monitor_t *self = probe->monitor;
    self->outstanding--;
    if (rc == 0 && reply->status == ZKV__STATUS__OK && reply->member &&
        reply->member->id == probe->id)
        s_answer(self, reply->member);
}

static void s_round(monitor_t *self)
{
    for (uint32_t id = 1; id <= self->target->nodes; id++) {
        zkv_op_t op = {.type = ZKV_OP_STATUS, .endpoint = self->target->endpoint[id]};
        self->outstanding++;
        if (zkv_client_submit(self->client, &op, s_done, &self->probes[id]) != 0)
            self->outstanding--;
    }
    self->next_round_ms = fault_now_ms() + MONITOR_INTERVAL_MS;
}

void monitor_step(monitor_t *self)
{
    zkv_client_dispatch(self->client);
    if (!self->outstanding && fault_now_ms() >= self->next_round_ms)
        s_round(self);
}

uint32_t monitor_leader(const monitor_t *self)
{
    return self->leader;
}

uint64_t monitor_leader_changes(const monitor_t *self)
{
    return self->changes;
}
