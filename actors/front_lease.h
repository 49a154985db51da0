/*  front_lease: the client actor's part in leases. It keeps the lessor
    (lessor.h) up to date from the lease changes storage applies, promotes it
    when this node becomes leader, proposes the revoke of every lease past
    its deadline while it leads, and answers zkv lease list. */
#ifndef ZKV_FRONT_LEASE_H
#define ZKV_FRONT_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "inproc.h"
#include "msg.h"
#include "zkv.pb-c.h"

typedef struct zkv_front_leases_t zkv_front_leases_t;

zkv_front_leases_t *zkv_front_leases_new(const zkv_config_t *config);
void zkv_front_leases_destroy(zkv_front_leases_t **self_p);

/*  The shortest ttl granted, in seconds: twice the longest election timeout,
    rounded up (a shorter one is raised to it, as etcd does). */
uint64_t zkv_front_leases_min_ttl(const zkv_front_leases_t *self);

/*  LEASES from storage. */
void zkv_front_leases_update(zkv_front_leases_t *self, const zkv_msg_t *msg, int64_t now_ms);

/*  The node's role, at every STATE: becoming leader promotes the lessor. */
void zkv_front_leases_role(zkv_front_leases_t *self, bool leader, int64_t now_ms);

/*  While leading: a revoke command for each lease past its deadline, packed
    into batch. The most the next round may wait for the next deadline (-1:
    none). */
int64_t zkv_front_leases_round(zkv_front_leases_t *self, zkv_packer_t *batch, int64_t now_ms);

/*  Every lease into r (its arrays live in self until the next call). */
void zkv_front_leases_list(zkv_front_leases_t *self, Zkv__Response *r, int64_t now_ms);

#endif
