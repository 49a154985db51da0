/*  leases: the replicated table of leases and the keys attached to each.

    A lease is an id and a time to live in seconds. Only the table is
    replicated state: when a lease expires is each node's own reckoning from
    when it applied the grant or the last keepalive (actors/lessor.c), and
    only the leader acts on it, by proposing the revoke. The keys of a lease
    are kept in one B+ tree keyed by the lease id (8 bytes, big-endian) and
    the key, so a revoke finds its keys in one range scan.

    Deterministic and pure, like the state machine that owns it. */
#ifndef ZKV_LEASES_H
#define ZKV_LEASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btree.h"

/*  Leases held at once; a grant past it is refused (ZKV_EBUSY). */
#define ZKV_LEASES_MAX 1000000
/*  Longest time to live, in seconds (a year). */
#define ZKV_LEASE_TTL_MAX (365u * 24 * 3600)

typedef struct zkv_leases_t zkv_leases_t;

zkv_leases_t *zkv_leases_new(void);
void zkv_leases_destroy(zkv_leases_t **self_p);

/*  A new lease. ZKV_OK, ZKV_EEXIST (id in use), ZKV_EINVAL (id 0, ttl 0 or
    over ZKV_LEASE_TTL_MAX), ZKV_EBUSY (ZKV_LEASES_MAX held), ZKV_ENOMEM. */
int zkv_leases_grant(zkv_leases_t *self, uint64_t id, uint64_t ttl_s);

/*  ZKV_OK with *ttl_s (if not NULL) set, or ZKV_ENOLEASE. */
int zkv_leases_find(const zkv_leases_t *self, uint64_t id, uint64_t *ttl_s);

/*  Attach key to (detach it from) the lease id, which must exist. ZKV_OK or
    ZKV_ENOMEM; the state is unchanged on error. */
int zkv_leases_attach(zkv_leases_t *self, uint64_t id, zkv_bytes_t key);
void zkv_leases_detach(zkv_leases_t *self, uint64_t id, zkv_bytes_t key);

/*  The first key attached to id (a revoke deletes them one at a time), into
    key (room for ZKV_KEY_SIZE_MAX bytes): true, or false when none is left. */
bool zkv_leases_first_key(const zkv_leases_t *self, uint64_t id, uint8_t *key, size_t *size);

/*  Forget the lease; its keys must have been detached. ZKV_OK or ZKV_ENOLEASE. */
int zkv_leases_remove(zkv_leases_t *self, uint64_t id);

size_t zkv_leases_count(const zkv_leases_t *self);
/*  Keys attached, over every lease. */
size_t zkv_leases_keys(const zkv_leases_t *self);

/*  Visit every lease in id order; return false to stop. */
typedef bool (*zkv_leases_visit_fn)(uint64_t id, uint64_t ttl_s, void *arg);
void zkv_leases_each(const zkv_leases_t *self, zkv_leases_visit_fn visit, void *arg);

/*  The table (not the keys: they are in the store's tree, each with its
    lease) as bytes: count u64, then id u64 and ttl u64 each, little-endian.
    A malloc'd buffer, or NULL when out of memory. */
uint8_t *zkv_leases_encode(const zkv_leases_t *self, size_t *size);

/*  A table from zkv_leases_encode, without keys (attach them from the tree);
    NULL when the bytes are malformed (ids not increasing, a bad ttl) or
    memory runs out. */
zkv_leases_t *zkv_leases_decode(const uint8_t *data, size_t size);

#endif
