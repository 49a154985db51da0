/*  replication_cluster: what the replication handler knows of its cluster.

    The membership in effect with its endpoints (from the core's Ready: the
    latest CONFIG entry in the log, or the snapshot's), which the shell's
    peer sockets follow; the cluster id every peer message carries (a
    message of another cluster is dropped, and a node that has never taken
    part in anything stops when its peers belong to another cluster: its
    --peers differ from theirs); this node's standing in the cluster file
    (joining until the leader adds it, removed once a committed change drops
    it, after which it stops and never starts again); and the requests of
    `zkv member` and `zkv move-leader`, one at a time, answered once
    committed (or once the new leader leads). */
#ifndef ZKV_REPLICATION_CLUSTER_H
#define ZKV_REPLICATION_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster_file.h"
#include "config.h"
#include "membership.h"
#include "msg.h"
#include "port.h"
#include "raft.h"
#include "trace.h"

/*  The peer message type that tells a removed node so (zkv.REMOVED). */
#define ZKV_PEER_REMOVED 12

typedef enum { ZKV_RC_IDLE, ZKV_RC_CHANGE, ZKV_RC_MOVE } zkv_rc_pending_t;

typedef struct {
    uint32_t id;
    uint32_t election_ticks;
    const zkv_fs_t *fs;
    char data_dir[ZKV_DATA_DIR_SIZE_MAX];
    zkv_cluster_file_t file;
    zkv_membership_t peers;   /* --peers: whom a joining node trusts for the cluster id */
    zkv_membership_t current; /* in effect */
    uint64_t config_index;
    bool members_unsent; /* the client actor has not heard of current yet */
    uint32_t stop_in;    /* ticks until the node stops (0: it does not) */
    bool stop;           /* removed, or in another cluster: stop now */
    uint64_t dropped;    /* peer messages of another cluster */
    /* The request in flight (one at a time). */
    zkv_rc_pending_t pending;
    uint64_t context[2];  /* the client actor's context, the client's request id */
    uint64_t index, term; /* of the proposed change */
    uint32_t target;      /* of the leadership transfer */
    uint32_t ticks_left;
} zkv_repl_cluster_t;

void zkv_repl_cluster_init(zkv_repl_cluster_t *rc, const zkv_config_t *config, const zkv_fs_t *fs,
                           const zkv_cluster_file_t *file);

/*  After a Ready was acted on: a new membership, a standing that changed,
    requests that completed. */
void zkv_repl_cluster_ready(zkv_repl_cluster_t *rc, const zkv_raft_t *raft,
                            const zkv_raft_ready_t *rd, const zkv_port_t *port,
                            zkv_tracer_t *tracer);

/*  Each tick: requests that take too long, a stop that waits for the last
    messages to leave. */
void zkv_repl_cluster_tick(zkv_repl_cluster_t *rc, const zkv_raft_t *raft, const zkv_port_t *port);

/*  A peer message of cluster cluster_id: true when it is to be stepped. */
bool zkv_repl_cluster_admit(zkv_repl_cluster_t *rc, const zkv_raft_t *raft,
                            const zkv_raft_msg_t *msg, uint64_t cluster_id, const zkv_port_t *port,
                            zkv_tracer_t *tracer);

/*  An ADMIN message from the client actor: a zkv.Request for the
    membership or the leadership. The answer is a REPLY to the client actor. */
void zkv_repl_cluster_request(zkv_repl_cluster_t *rc, zkv_raft_t *raft, const zkv_msg_t *msg,
                              const zkv_port_t *port);

#endif
