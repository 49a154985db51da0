/*  lessor: when this node reckons each lease expires. The lease table is
    replicated (core/leases.h); expiry is not: every node counts a lease's
    ttl from when it applied the grant or the last keepalive, on its own
    monotonic clock, and only the leader acts, proposing the revoke of a
    lease past its deadline. A node that becomes leader first gives every
    lease its whole ttl again plus an election timeout, so that no lease ends
    early because leadership moved (etcd's lessor Promote does the same).

    Part of the client actor's handler (front.c), which proposes; driven by
    the leases storage applies and by the front's clock. */
#ifndef ZKV_LESSOR_H
#define ZKV_LESSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvstore.h"

/*  A revoke proposed and not applied is proposed again after this. */
#define ZKV_LESSOR_RETRY_MS 1000

typedef struct zkv_lessor_t zkv_lessor_t;

zkv_lessor_t *zkv_lessor_new(void);
void zkv_lessor_destroy(zkv_lessor_t **self_p);

/*  A lease granted or renewed (its deadline is now + ttl), or revoked. */
void zkv_lessor_update(zkv_lessor_t *self, zkv_lease_change_t change, uint64_t id, uint64_t ttl_s,
                       int64_t now_ms);

/*  This node became leader: every deadline is now + ttl + extend_ms. */
void zkv_lessor_promote(zkv_lessor_t *self, int64_t now_ms, int64_t extend_ms);

/*  A lease past its deadline, to revoke: true with *id set (asked again after
    ZKV_LESSOR_RETRY_MS unless revoked by then), false when none is due. */
bool zkv_lessor_expired(zkv_lessor_t *self, int64_t now_ms, uint64_t *id);

/*  Milliseconds until the next deadline; -1 with no lease. */
int64_t zkv_lessor_next_ms(zkv_lessor_t *self, int64_t now_ms);

size_t zkv_lessor_count(const zkv_lessor_t *self);

/*  Deadlines held, stale ones included (each renewal leaves one): at most
    twice the leases and 64, whoever calls what. For tests. */
size_t zkv_lessor_deadlines(const zkv_lessor_t *self);

/*  Every lease in id order, with the time it has left. */
typedef void (*zkv_lessor_visit_fn)(void *arg, uint64_t id, uint64_t ttl_s, int64_t remaining_ms);
void zkv_lessor_each(const zkv_lessor_t *self, int64_t now_ms, zkv_lessor_visit_fn visit,
                     void *arg);

#endif
