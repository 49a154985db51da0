/*  kvstore_int: the state machine's struct and the helpers its files share
    (kvstore.c: commands and sessions; kvstore_lease.c: the lease commands;
    kvstore_state.c: snapshots' state and the digest). Private to kvstore. */
#ifndef ZKV_KVSTORE_INT_H
#define ZKV_KVSTORE_INT_H

#include "kvstore.h"
#include "sessions.h"

struct zkv_kvstore_t {
    zkv_btree_t *tree;
    zkv_sessions_t *sessions;
    zkv_leases_t *leases;
    uint64_t applied;                  /* last log index applied */
    uint8_t scratch[ZKV_KEY_SIZE_MAX]; /* the key a range delete or a revoke is at */
    zkv_kvstore_event_fn on_event;
    void *event_arg;
    zkv_kvstore_lease_fn on_lease;
    void *lease_arg;
    uint32_t event_seq; /* changes made so far at applied */
};

/*  Delete one key that may exist, with its lease link and its event.
    ZKV_OK or ZKV_ENOTFOUND. */
int kvstore_delete_key(zkv_kvstore_t *self, zkv_bytes_t key);

/*  The lease commands (kvstore_lease.c); result->count and data as
    kvstore.h says. */
int kvstore_lease_grant(zkv_kvstore_t *self, const zkv_command_t *cmd, zkv_result_t *result);
int kvstore_lease_revoke(zkv_kvstore_t *self, uint64_t id, zkv_result_t *result);
int kvstore_lease_keepalive(zkv_kvstore_t *self, uint64_t id, zkv_result_t *result);

#endif
