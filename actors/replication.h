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
    applied. See msg.h for the messages. */
#ifndef ZKV_REPLICATION_ACTOR_H
#define ZKV_REPLICATION_ACTOR_H

#include <czmq.h>

#include "cluster_file.h"
#include "config.h"
#include "fs.h"
#include "port.h"
#include "raft.h"
#include "trace.h"

/*  The handler: the Ready loop, without sockets, threads or clock. */
typedef struct zkv_repl_t zkv_repl_t;

/*  With a booted Raft core, which it takes over (*raft_p is NULLed), the
    path on fs of the node's current snapshot ("" for none) and the data
    directory's cluster file (replication_cluster.h). It sends to the other
    actors and to peers through port; tracer is borrowed (NULL: none). */
zkv_repl_t *zkv_repl_new(const zkv_config_t *config, const zkv_fs_t *fs, zkv_raft_t **raft_p,
                         const char *snapshot_path, const zkv_cluster_file_t *cluster,
                         const zkv_port_t *port, zkv_tracer_t *tracer);
void zkv_repl_destroy(zkv_repl_t **self_p);

/*  A message from the node's client, log or storage actor. While the handler
    installs a snapshot (zkv_repl_installing) only storage's may come. The
    message's body may be taken. */
void zkv_repl_handle(zkv_repl_t *self, zkv_actor_id_t from, zkv_msg_t *msg);

/*  An encoded peer message as it came off the network: decoded, validated
    (a bad one is refused and counted) and stepped. sender: the member its
    connection's key belongs to (CURVE, auth.h), or 0 when not known; a
    message whose from is another member is refused. */
void zkv_repl_peer(zkv_repl_t *self, const uint8_t *data, size_t size, uint32_t sender);

/*  One tick of the core's clock (not while installing). */
void zkv_repl_tick(zkv_repl_t *self);

/*  Act on what the core has to say: Ready after Ready, until none is left or
    one waits for its snapshot's install. */
void zkv_repl_ready(zkv_repl_t *self);

bool zkv_repl_installing(const zkv_repl_t *self);

/*  The log or an install failed for good, or the node's peers belong to
    another cluster: the node must stop. */
bool zkv_repl_fatal(const zkv_repl_t *self);

/*  A membership change removed this node: it stops (and never starts again). */
bool zkv_repl_removed(const zkv_repl_t *self);

/*  The cluster this node belongs to (0: joining, not known yet). */
uint64_t zkv_repl_cluster_id(const zkv_repl_t *self);

/*  The core, for inspection. */
const zkv_raft_t *zkv_repl_raft(const zkv_repl_t *self);

/*  How long a peer connection that died without a reset (a cut link) can
    look alive before the actor's sockets drop it and connect again: the
    heartbeat timeout plus one reconnect interval (the simulation's network
    keeps a healed link dead for up to this long). */
uint64_t zkv_repl_dead_link_ms(const zkv_config_t *config);

/*  Start the replication actor with a booted Raft core, which it takes over
    (*raft_p is NULLed), and the path of the node's current snapshot ("" for
    none). NULL when the peer endpoints cannot be bound. */
zactor_t *zkv_replication_actor_new(const zkv_config_t *config, zkv_raft_t **raft_p,
                                    const char *snapshot_path, const zkv_cluster_file_t *cluster,
                                    zkv_metrics_t *metrics);

#endif
