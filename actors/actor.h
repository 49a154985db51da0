/*  actor: the start handshake every zkv actor follows.

    zactor_new returns once the actor signals, but drops the signal's status.
    A zkv actor therefore signals twice: once for zactor_new, once with its
    outcome (0: running; otherwise it has given up and returns). */
#ifndef ZKV_ACTOR_H
#define ZKV_ACTOR_H

#include <czmq.h>

/*  In the actor: name its thread "zkv-<name>", as top -H, perf and gdb show it. */
void zkv_actor_name(const char *name);

/*  In the actor: report the outcome of its start. */
void zkv_actor_ready(zsock_t *pipe, int status);

/*  Start fn(pipe, args) and wait for its outcome: the actor, or NULL when it
    could not start. args must stay valid until this returns. */
zactor_t *zkv_actor_start(zactor_fn *fn, void *args);

/*  Inproc endpoint shared by two actors of one node, e.g. "log" ->
    inproc://zkv-<node>-log. */
void zkv_actor_endpoint(char *buf, size_t size, uint32_t node_id, const char *name);

/*  A PAIR socket bound (bind true) or connected to the node's inproc endpoint
    name, without a high-water mark: the senders bound their own queues. */
zsock_t *zkv_actor_pair(uint32_t node_id, const char *name, bool bind);

#endif
