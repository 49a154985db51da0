/*  front_lease: lessor upkeep, expiry proposals and the lease list. */
#include "front_lease.h"

#include <assert.h>
#include <stdlib.h>

#include "lessor.h"
#include "zkv_limits.h"

struct zkv_front_leases_t {
    zkv_lessor_t *lessor;
    bool leader;
    int64_t election_max_ms; /* the longest election timeout */
    Zkv__LeaseStatus *list;  /* the last list answered */
    Zkv__LeaseStatus **list_ptrs;
    size_t list_n;
};

zkv_front_leases_t *zkv_front_leases_new(const zkv_config_t *config)
{
    zkv_front_leases_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->lessor = zkv_lessor_new();
    /* Election timeouts are drawn from [ticks, 2 ticks). */
    self->election_max_ms = 2 * (int64_t) config->election_ticks * config->tick_ms;
    return self;
}

void zkv_front_leases_destroy(zkv_front_leases_t **self_p)
{
    zkv_front_leases_t *self = *self_p;
    if (!self)
        return;
    zkv_lessor_destroy(&self->lessor);
    free(self->list);
    free(self->list_ptrs);
    free(self);
    *self_p = NULL;
}

uint64_t zkv_front_leases_min_ttl(const zkv_front_leases_t *self)
{
    return (uint64_t) (2 * self->election_max_ms + 999) / 1000;
}

void zkv_front_leases_update(zkv_front_leases_t *self, const zkv_msg_t *msg, int64_t now_ms)
{
    if (msg->leases.reset) {
        zkv_lessor_destroy(&self->lessor);
        self->lessor = zkv_lessor_new();
    }
    zkv_unpacker_t in;
    zkv_unpacker_init(&in, msg->body);
    int change;
    uint64_t id, ttl_s;
    int more;
    while ((more = zkv_unpack_lease(&in, &change, &id, &ttl_s)) == 1)
        zkv_lessor_update(self->lessor, (zkv_lease_change_t) change, id, ttl_s, now_ms);
    assert(more == 0); /* our own actor's */
    /* A leader's reckoning after a reset (an install) starts over as a new leader's. */
    if (msg->leases.reset && self->leader)
        zkv_lessor_promote(self->lessor, now_ms, self->election_max_ms);
}

void zkv_front_leases_role(zkv_front_leases_t *self, bool leader, int64_t now_ms)
{
    if (leader && !self->leader)
        zkv_lessor_promote(self->lessor, now_ms, self->election_max_ms);
    self->leader = leader;
}

static bool s_pack_revoke(zkv_packer_t *batch, uint64_t id)
{
    Zkv__LeaseRevokeRequest revoke = ZKV__LEASE_REVOKE_REQUEST__INIT;
    revoke.id = id;
    Zkv__Command cmd = ZKV__COMMAND__INIT;
    cmd.op_case = ZKV__COMMAND__OP_LEASE_REVOKE;
    cmd.lease_revoke = &revoke;
    size_t size = zkv__command__get_packed_size(&cmd);
    uint8_t *packed = zkv_pack_record(batch, size);
    if (!packed)
        return false; /* out of memory: proposed again after the retry time */
    zkv__command__pack(&cmd, packed);
    return true;
}

int64_t zkv_front_leases_round(zkv_front_leases_t *self, zkv_packer_t *batch, int64_t now_ms)
{
    if (!self->leader)
        return -1;
    uint64_t id;
    while (zkv_lessor_expired(self->lessor, now_ms, &id))
        s_pack_revoke(batch, id);
    return zkv_lessor_next_ms(self->lessor, now_ms);
}

static void s_list_one(void *arg, uint64_t id, uint64_t ttl_s, int64_t remaining_ms)
{
    zkv_front_leases_t *self = arg;
    Zkv__LeaseStatus *st = &self->list[self->list_n];
    zkv__lease_status__init(st);
    st->id = id;
    st->ttl = ttl_s;
    st->remaining_ms = remaining_ms;
    self->list_ptrs[self->list_n++] = st;
}

void zkv_front_leases_list(zkv_front_leases_t *self, Zkv__Response *r, int64_t now_ms)
{
    size_t n = zkv_lessor_count(self->lessor);
    free(self->list);
    free(self->list_ptrs);
    self->list = calloc(n + 1, sizeof *self->list);
    self->list_ptrs = calloc(n + 1, sizeof *self->list_ptrs);
    self->list_n = 0;
    if (!self->list || !self->list_ptrs) {
        r->status = ZKV__STATUS__INTERNAL;
        r->error = "out of memory";
        return;
    }
    zkv_lessor_each(self->lessor, now_ms, s_list_one, self);
    r->n_leases = self->list_n;
    r->leases = self->list_ptrs;
    r->status = ZKV__STATUS__OK;
}
