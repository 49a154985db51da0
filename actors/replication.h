/*  replication actor: drives the Raft core and owns the peer sockets.

    Peers: a PUB socket carries this node's broadcast appends and heartbeats
    when it leads; a SUB socket subscribes to every peer's PUB; a ROUTER
    receives everything sent point to point (acks, rejections, votes,
    catch-up appends, snapshot chunks) and one DEALER per peer sends it.
    PUB/SUB may drop: a follower that misses an append finds the gap by the
    log-matching check and the leader catches it up over the DEALER.

    Inside the node it runs the core's Ready loop: entries and hard state to
    the log actor (in parallel with the leader's sends), committed entries and
    ready reads to the storage actor, leadership changes to the client actor;
    and it feeds back what the log actor made durable and the storage actor
    applied. See inproc.h for the messages. */
#ifndef ZKV_REPLICATION_ACTOR_H
#define ZKV_REPLICATION_ACTOR_H

#include <czmq.h>

#include "config.h"
#include "raft.h"

/*  Start the replication actor with a booted Raft core, which it takes over
    (*raft_p is NULLed), and the path of the node's current snapshot ("" for
    none). NULL when the peer endpoints cannot be bound. */
zactor_t *zkv_replication_actor_new(const zkv_config_t *config, zkv_raft_t **raft_p,
                                    const char *snapshot_path);

#endif
