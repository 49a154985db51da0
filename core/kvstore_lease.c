/*  kvstore_lease: grants, revokes and keepalives applied to the lease table
    (leases.h), and what the node's lessor hears of them. */
#include <assert.h>
#include <stdlib.h>

#include "kvstore_int.h"
#include "le.h"
#include "zkv_error.h"

static void s_lease_changed(zkv_kvstore_t *self, zkv_lease_change_t change, uint64_t id,
                            uint64_t ttl_s)
{
    if (self->on_lease)
        self->on_lease(self->lease_arg, change, id, ttl_s);
}

/*  A lease's ttl as a result's data. */
static int s_ttl_data(zkv_result_t *result, uint64_t ttl_s)
{
    result->data = malloc(8);
    if (!result->data)
        return ZKV_ENOMEM;
    zkv_le64_put(result->data, ttl_s);
    result->data_size = 8;
    return ZKV_OK;
}

int kvstore_lease_grant(zkv_kvstore_t *self, const zkv_command_t *cmd, zkv_result_t *result)
{
    uint64_t id = cmd->lease;
    if (!id) /* the entry's index, or the next free id after it (one a client chose) */
        for (id = self->applied; zkv_leases_find(self->leases, id, NULL) == ZKV_OK; id++)
            ;
    int rc = zkv_leases_grant(self->leases, id, cmd->ttl_s);
    if (rc != ZKV_OK)
        return rc;
    result->count = id;
    s_lease_changed(self, ZKV_LEASE_GRANTED, id, cmd->ttl_s);
    return s_ttl_data(result, cmd->ttl_s);
}

/*  Every key of the lease deleted (each a change watchers see), then the lease. */
int kvstore_lease_revoke(zkv_kvstore_t *self, uint64_t id, zkv_result_t *result)
{
    if (zkv_leases_find(self->leases, id, NULL) != ZKV_OK)
        return ZKV_ENOLEASE;
    size_t size;
    while (zkv_leases_first_key(self->leases, id, self->scratch, &size)) {
        int rc = kvstore_delete_key(self, (zkv_bytes_t){self->scratch, size});
        assert(rc == ZKV_OK); /* a key of the lease holds it */
        result->count++;
    }
    zkv_leases_remove(self->leases, id);
    s_lease_changed(self, ZKV_LEASE_REVOKED, id, 0);
    return ZKV_OK;
}

int kvstore_lease_keepalive(zkv_kvstore_t *self, uint64_t id, zkv_result_t *result)
{
    uint64_t ttl_s;
    if (zkv_leases_find(self->leases, id, &ttl_s) != ZKV_OK)
        return ZKV_ENOLEASE;
    s_lease_changed(self, ZKV_LEASE_RENEWED, id, ttl_s);
    return s_ttl_data(result, ttl_s);
}

void zkv_kvstore_on_lease(zkv_kvstore_t *self, zkv_kvstore_lease_fn fn, void *arg)
{
    self->on_lease = fn;
    self->lease_arg = arg;
}

static bool s_each_lease(uint64_t id, uint64_t ttl_s, void *arg)
{
    s_lease_changed(arg, ZKV_LEASE_GRANTED, id, ttl_s);
    return true;
}

void zkv_kvstore_each_lease(zkv_kvstore_t *self)
{
    zkv_leases_each(self->leases, s_each_lease, self);
}

const zkv_leases_t *zkv_kvstore_leases(const zkv_kvstore_t *self)
{
    return self->leases;
}
