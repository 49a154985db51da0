/*  client actor: the node's face to clients.

    Binds a ROUTER on the client endpoint; decodes and validates every request
    (a malformed one gets BAD_REQUEST and changes nothing); sends writes to the
    replication actor as proposals, batched per poll round; sends linearizable
    reads through ReadIndex and serializable ones straight to storage; answers
    each request once its result comes back, or with TIMEOUT when it does not
    in time. A follower answers writes and linearizable reads with NOT_LEADER
    and the leader's client endpoint. */
#ifndef ZKV_CLIENT_ACTOR_H
#define ZKV_CLIENT_ACTOR_H

#include <czmq.h>

#include "config.h"
#include "metrics.h"

/*  Start the client actor; NULL when its endpoint cannot be bound. It connects
    to the replication and storage actors' inproc endpoints. */
zactor_t *zkv_client_actor_new(const zkv_config_t *config, zkv_metrics_t *metrics);

#endif
