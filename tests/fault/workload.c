/*  workload: see workload.h. One zkv_client per logical client, all driven
    from the driver's single zmq_poll loop. */
#include "workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zkv.h"

#define WL_VALUE_SIZE 48
#define WL_ATTEMPT_MS 1000
/*  Weights of the operations, in percent. */
#define WL_GET_PERCENT 40
#define WL_PUT_PERCENT 25
#define WL_CAS_PERCENT 20

typedef struct {
    struct workload_t *wl;
    zkv_client_t *client;
    int64_t process;
    uint32_t home; /* node id */
    bool busy;
    uint64_t counter;
    wl_f_t f;
    int key;
    bool home_read;
    bool expect_absent;
    char value[WL_VALUE_SIZE];
    char expected[WL_VALUE_SIZE];
} s_slot_t;

struct workload_t {
    const fault_options_t *options;
    const target_t *target;
    record_t *record;
    fault_rng_t rng;
    s_slot_t slots[FAULT_CLIENTS_MAX];
    int clients;
    char keys[FAULT_KEYS_MAX][16];
    char last[FAULT_KEYS_MAX][WL_VALUE_SIZE]; /* a value recently seen on the key */
    bool last_present[FAULT_KEYS_MAX];
    bool stopping;
    size_t inflight;
    workload_stats_t stats;
};

static const char *s_f_names[WL_KINDS] = {"put", "get", "delete", "cas"};
static const char *s_outcome_names[WL_OUTCOMES] = {"ok", "fail", "info"};

const char *workload_f_name(wl_f_t f)
{
    return s_f_names[f];
}

const char *workload_outcome_name(wl_outcome_t outcome)
{
    return s_outcome_names[outcome];
}

const char *workload_key(const workload_t *self, int key)
{
    return self->keys[key];
}

workload_t *workload_new(const fault_options_t *options, const target_t *target, record_t *record,
                         char *err, size_t err_size)
{
    workload_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    self->options = options;
    self->target = target;
    self->record = record;
    self->clients = options->clients;
    fault_rng_seed(&self->rng, options->seed ^ UINT64_C(0x776f726b6c6f6164));
    for (int k = 0; k < options->keys; k++)
        snprintf(self->keys[k], sizeof self->keys[k], "k%d", k);
    for (int i = 0; i < self->clients; i++) {
        s_slot_t *slot = &self->slots[i];
        slot->wl = self;
        slot->process = i;
        slot->home = (uint32_t) (i % (int) target->nodes) + 1;
        zkv_client_config_t config = {.curve = target_curve(target),
                                      .endpoints = target->endpoints,
                                      .timeout_ms = options->op_timeout_ms,
                                      .attempt_timeout_ms = WL_ATTEMPT_MS,
                                      .home = slot->home - 1,
                                      .inflight_max = 4};
        slot->client = zkv_client_new(&config, err, err_size);
        if (!slot->client) {
            workload_destroy(&self);
            return NULL;
        }
    }
    return self;
}

void workload_destroy(workload_t **self_p)
{
    workload_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < self->clients; i++)
        zkv_client_destroy(&self->slots[i].client);
    free(self);
    *self_p = NULL;
}

/* ---------------------------------------------------------------- completions */

static record_str_t s_str(const char *text)
{
    return text ? (record_str_t){text, strlen(text)} : RECORD_NULL;
}

/*  What the history says an operation wrote and expected. */
static record_str_t s_written(const s_slot_t *slot)
{
    return slot->f == WL_PUT || slot->f == WL_CAS ? s_str(slot->value) : RECORD_NULL;
}

static record_str_t s_expected(const s_slot_t *slot)
{
    return slot->f == WL_CAS && !slot->expect_absent ? s_str(slot->expected) : RECORD_NULL;
}

/*  A value now known to be on the key, for later cas expectations. */
static void s_learn(workload_t *self, int key, record_str_t value)
{
    self->last_present[key] = value.data != NULL;
    if (value.data)
        snprintf(self->last[key], sizeof self->last[key], "%.*s", (int) value.size, value.data);
}

/*  Outcome of a final answer (rc 0). */
static wl_outcome_t s_outcome(s_slot_t *slot, const Zkv__Response *reply, record_str_t *read)
{
    int status = reply->status;
    bool write = slot->f != WL_GET;
    if (status == ZKV__STATUS__OK && slot->f == WL_GET)
        *read = (record_str_t){(const char *) reply->value.data, reply->value.len};
    if (status == ZKV__STATUS__OK ||
        (status == ZKV__STATUS__NOT_FOUND && (slot->f == WL_GET || slot->f == WL_DELETE)))
        return WL_OK;
    if (status == ZKV__STATUS__CAS_FAILED && slot->f == WL_CAS)
        return WL_FAIL;
    if (status == ZKV__STATUS__NOT_LEADER && slot->home_read) {
        slot->wl->stats.home_not_leader++;
        return WL_FAIL;
    }
    fault_error("client %lld: %s %s answered %s (%s): must not happen", (long long) slot->process,
                s_f_names[slot->f], slot->wl->keys[slot->key], zkv_client_status_name(status),
                reply->error ? reply->error : "");
    return write ? WL_INFO : WL_FAIL;
}

/*  Outcome of an error (rc < 0): the client library gave up. */
static wl_outcome_t s_outcome_error(s_slot_t *slot, int rc)
{
    if (rc != ZKV_CLIENT_ETIMEDOUT && rc != ZKV_CLIENT_ECANCELED && rc != ZKV_CLIENT_ESESSION)
        fault_error("client %lld: %s %s: %s", (long long) slot->process, s_f_names[slot->f],
                    slot->wl->keys[slot->key], zkv_client_strerror(rc));
    slot->wl->stats.timeouts++;
    /* A read that got no answer had no effect; a write's effect is unknown. */
    return slot->f == WL_GET ? WL_FAIL : WL_INFO;
}

static void s_done(void *arg, int rc, const Zkv__Response *reply)
{
    s_slot_t *slot = arg;
    workload_t *self = slot->wl;
    record_str_t read = RECORD_NULL;
    wl_outcome_t outcome = rc == 0 ? s_outcome(slot, reply, &read) : s_outcome_error(slot, rc);
    record_str_t value = slot->f == WL_GET ? read : s_written(slot);
    record_event(self->record, slot->process, s_outcome_names[outcome], s_f_names[slot->f],
                 self->keys[slot->key], value, s_expected(slot));
    if (outcome == WL_OK && slot->f != WL_DELETE)
        s_learn(self, slot->key, value);
    else if (outcome == WL_OK)
        s_learn(self, slot->key, RECORD_NULL);
    self->stats.count[slot->f][outcome]++;
    if (outcome == WL_INFO)
        slot->process += self->clients; /* Jepsen's rule: a crashed process never comes back */
    slot->busy = false;
    self->inflight--;
}

/* ---------------------------------------------------------------- operations */

static zkv_bytes_t s_bytes(const char *text)
{
    return (zkv_bytes_t){(const uint8_t *) text, strlen(text)};
}

static wl_f_t s_pick_f(workload_t *self)
{
    uint64_t r = fault_rng_below(&self->rng, 100);
    if (r < WL_GET_PERCENT)
        return WL_GET;
    if (r < WL_GET_PERCENT + WL_PUT_PERCENT)
        return WL_PUT;
    if (r < WL_GET_PERCENT + WL_PUT_PERCENT + WL_CAS_PERCENT)
        return WL_CAS;
    return WL_DELETE;
}

/*  Choose the next operation of a slot and fill op (borrowing the slot's buffers). */
static void s_prepare(workload_t *self, s_slot_t *slot, zkv_op_t *op)
{
    slot->f = s_pick_f(self);
    slot->key = (int) fault_rng_below(&self->rng, (uint64_t) self->options->keys);
    slot->home_read = false;
    slot->expect_absent = false;
    snprintf(slot->value, sizeof slot->value, "p%lld-%llu", (long long) slot->process,
             (unsigned long long) ++slot->counter);
    const char *key = self->keys[slot->key];
    *op = (zkv_op_t){.key = s_bytes(key)};
    static const zkv_op_type_t types[WL_KINDS] = {ZKV_OP_PUT, ZKV_OP_GET, ZKV_OP_DELETE,
                                                  ZKV_OP_CAS};
    op->type = types[slot->f];
    if (slot->f == WL_PUT || slot->f == WL_CAS)
        op->value = s_bytes(slot->value);
    if (slot->f == WL_CAS) {
        slot->expect_absent = !self->last_present[slot->key];
        snprintf(slot->expected, sizeof slot->expected, "%s", self->last[slot->key]);
        op->expect_absent = slot->expect_absent;
        op->expected = s_bytes(slot->expected);
        self->stats.cas_absent += slot->expect_absent;
    }
    if (slot->f == WL_GET &&
        (int) fault_rng_below(&self->rng, 100) < self->options->home_read_percent) {
        slot->home_read = true;
        op->endpoint = self->target->endpoint[slot->home];
        self->stats.home_reads++;
    }
}

static void s_issue(workload_t *self, s_slot_t *slot)
{
    zkv_op_t op;
    s_prepare(self, slot, &op);
    record_event(self->record, slot->process, "invoke", s_f_names[slot->f], self->keys[slot->key],
                 s_written(slot), s_expected(slot));
    slot->busy = true;
    self->inflight++;
    int rc = zkv_client_submit(slot->client, &op, s_done, slot);
    if (rc == 0)
        return;
    /* Refused before anything was sent: it certainly did not happen. */
    fault_error("client %lld: submit %s: %s", (long long) slot->process, s_f_names[slot->f],
                zkv_client_strerror(rc));
    record_event(self->record, slot->process, "fail", s_f_names[slot->f], self->keys[slot->key],
                 s_written(slot), s_expected(slot));
    self->stats.count[slot->f][WL_FAIL]++;
    slot->busy = false;
    self->inflight--;
}

void workload_issue(workload_t *self)
{
    for (int i = 0; i < self->clients && !self->stopping; i++)
        if (!self->slots[i].busy)
            s_issue(self, &self->slots[i]);
}

void workload_stop(workload_t *self)
{
    self->stopping = true;
}

void workload_cancel(workload_t *self)
{
    for (int i = 0; i < self->clients; i++)
        zkv_client_cancel(self->slots[i].client);
}

size_t workload_pollitems(workload_t *self, zmq_pollitem_t *items, size_t capacity)
{
    size_t n = 0;
    for (int i = 0; i < self->clients; i++)
        n += zkv_client_pollitems(self->slots[i].client, items + n, capacity - n);
    return n;
}

int64_t workload_wait_ms(workload_t *self)
{
    int64_t wait = -1;
    for (int i = 0; i < self->clients; i++) {
        int64_t w = zkv_client_wait_ms(self->slots[i].client);
        if (w >= 0 && (wait < 0 || w < wait))
            wait = w;
    }
    return wait;
}

void workload_dispatch(workload_t *self)
{
    for (int i = 0; i < self->clients; i++)
        zkv_client_dispatch(self->slots[i].client);
}

size_t workload_inflight(const workload_t *self)
{
    return self->inflight;
}

const workload_stats_t *workload_stats(const workload_t *self)
{
    return &self->stats;
}
