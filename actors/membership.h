/*  membership: a cluster's members with their endpoints and the ids it has
    removed, in the forms a node needs: zkv.ClusterConfig (CONFIG entries,
    snapshots, replies), the Raft core's ids (zkv_raft_members_t), and one
    change at a time for `zkv member add|promote|remove`.

    Ids are never reused: a removed id stays in the removed list, so a node
    that comes back with an old data directory cannot pass for a new one. */
#ifndef ZKV_MEMBERSHIP_H
#define ZKV_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "raft.h"

/*  Ids a cluster remembers as removed; a removal past this is refused. */
#define ZKV_REMOVED_MAX 1024

typedef struct {
    zkv_member_t members[2 * ZKV_MEMBERS_MAX]; /* voters and learners (learner set) */
    size_t count;
    uint32_t removed[ZKV_REMOVED_MAX];
    size_t n_removed;
} zkv_membership_t;

/*  Decode and check a zkv.ClusterConfig (ids unique and non-zero, at most
    ZKV_MEMBERS_MAX voters and learners each, at least one voter unless
    empty, hosts and ports valid). ZKV_OK or ZKV_EINVAL. */
int zkv_membership_decode(const uint8_t *data, size_t size, zkv_membership_t *m);

/*  m as a zkv.ClusterConfig, malloc'd (NULL when out of memory). */
uint8_t *zkv_membership_encode(const zkv_membership_t *m, size_t *size);

/*  The Raft core's view: ids of voters and learners. */
void zkv_membership_raft(const zkv_membership_t *m, zkv_raft_members_t *out);

/*  The core's zkv_raft_decode_config_t for CONFIG entries. */
int zkv_membership_decode_raft(void *ctx, const uint8_t *data, size_t size,
                               zkv_raft_members_t *members);

/*  The members of --peers, all voters. */
void zkv_membership_from_config(const zkv_config_t *config, zkv_membership_t *m);

/*  A cluster's id from its first membership: the same on every node started
    with the same --peers (as etcd's from --initial-cluster), never 0. */
uint64_t zkv_membership_cluster_id(const zkv_membership_t *m);

const zkv_member_t *zkv_membership_find(const zkv_membership_t *m, uint32_t id);
bool zkv_membership_was_removed(const zkv_membership_t *m, uint32_t id);

/*  One change to m, checked: ZKV_OK, or ZKV_EINVAL with one line in err
    (a member that exists, an id removed before, no such member, a voter
    already, the last voter, limits). */
int zkv_membership_add(zkv_membership_t *m, const zkv_member_t *member, char *err, size_t err_size);
int zkv_membership_promote(zkv_membership_t *m, uint32_t id, char *err, size_t err_size);
int zkv_membership_remove(zkv_membership_t *m, uint32_t id, char *err, size_t err_size);

/*  "tcp://HOST:PORT". */
void zkv_member_endpoint(const zkv_member_t *member, uint16_t port, char *buf, size_t size);

#endif
