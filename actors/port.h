/*  port: where an actor's handler sends what it produces.

    An actor is a handler (its state and what it does with each message,
    with no socket, thread or clock of its own) run by a shell: in zkvd a
    czmq actor whose port sends on inproc PAIR and peer sockets, in the node
    simulation (tests/nodesim) a scheduler whose port appends to queues it
    delivers in an order of its choosing. */
#ifndef ZKV_PORT_H
#define ZKV_PORT_H

#include "membership.h"
#include "metrics.h"
#include "msg.h"
#include "raft.h"

typedef enum {
    ZKV_ACTOR_LOG,
    ZKV_ACTOR_STORAGE,
    ZKV_ACTOR_REPLICATION,
    ZKV_ACTOR_CLIENT,
    ZKV_ACTOR_WATCH,
    ZKV_ACTOR_DISK,
    ZKV_ACTOR_COUNT
} zkv_actor_id_t;

typedef struct {
    void *ctx;
    /*  The node's metrics: each handler writes its own part (metrics.h). */
    zkv_metrics_t *metrics;
    /*  msg to the node's actor to; the message is taken (cleared). 0 when it
        went, -1 when it could not (that actor is gone). */
    int (*send)(void *ctx, zkv_actor_id_t to, zkv_msg_t *msg);
    /*  A message to another node (to == ZKV_RAFT_BROADCAST: every follower),
        with its snapshot chunk attached, of cluster cluster_id; the
        replication handler only. */
    void (*peer)(void *ctx, const zkv_raft_msg_t *msg, uint64_t cluster_id);
    /*  The log handler only: a follower's acknowledgement to the leader,
        whose ROUTER is at host:port, once what it acknowledges is durable. */
    void (*ack)(void *ctx, const zkv_raft_msg_t *msg, uint64_t cluster_id, const char *host,
                uint16_t port);
    /*  The membership in effect changed: connect to the members, drop the
        rest (borrowed). The replication handler only; NULL: no sockets. */
    void (*members)(void *ctx, const zkv_membership_t *members);
    /*  A reply to the client at routing (borrowed); *body_p is taken. The
        client handler only (front.h). */
    void (*reply)(void *ctx, zframe_t *routing, zframe_t **body_p);
    /*  Milliseconds of a monotonic clock; the client and watch handlers. */
    int64_t (*now_ms)(void *ctx);
    /*  The watch handler only: publish one message of two frames, topic and
        body (both taken). 0 when queued for every subscriber it matches, -1
        when one of their queues is full (nothing was sent). */
    int (*publish)(void *ctx, zframe_t **topic, zframe_t **body);
    /*  The watch handler only: drop every subscriber's connection (each comes
        back and catches up). */
    void (*cut_off)(void *ctx);
} zkv_port_t;

static inline int zkv_port_send(const zkv_port_t *port, zkv_actor_id_t to, zkv_msg_t *msg)
{
    return port->send(port->ctx, to, msg);
}

#endif
