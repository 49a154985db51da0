/*  front: what the client actor does, as a handler (port.h).

    Decodes and validates every request (a malformed one gets BAD_REQUEST
    and changes nothing); turns writes into commands proposed to the
    replication actor, batched per round; sends linearizable reads through
    ReadIndex and serializable ones straight to storage; answers each
    request once its result comes back, or with TIMEOUT when it does not in
    time. A follower answers writes and linearizable reads with NOT_LEADER
    and the leader's client endpoint. Replies leave through the port's
    reply; the port's clock times requests out. */
#ifndef ZKV_FRONT_H
#define ZKV_FRONT_H

#include <czmq.h>

#include "acl.h"
#include "config.h"
#include "msg.h"
#include "port.h"
#include "reply_queue.h"
#include "trace.h"

/*  How often requests that waited too long are looked for. */
#define ZKV_FRONT_SWEEP_MS 100

typedef struct zkv_front_t zkv_front_t;

/*  port needs send, reply and now_ms; tracer is borrowed (NULL: none). NULL
    when out of memory or when config has no member of its own id. */
zkv_front_t *zkv_front_new(const zkv_config_t *config, const zkv_port_t *port,
                           zkv_tracer_t *tracer);
void zkv_front_destroy(zkv_front_t **self_p);

/*  Authorize requests by acl from now on (taken; NULL: allow everything).
    The client's name is its request frame's User-Id property (auth.h). */
void zkv_front_set_acl(zkv_front_t *self, zkv_acl_t **acl_p);

/*  One request from the client at routing (both borrowed); body NULL: the
    message was not exactly one frame. */
void zkv_front_request(zkv_front_t *self, zframe_t *routing, zframe_t *body);

/*  A message from the replication or storage actor (a REPLY's body is taken). */
void zkv_front_handle(zkv_front_t *self, zkv_msg_t *msg);

/*  The end of a round: this round's writes leave as one proposal; requests
    that waited too long are answered. Milliseconds until it must run again
    at the latest. */
int64_t zkv_front_round(zkv_front_t *self);

/*  What the node holds of its replies, per connection: requests are counted
    on it, and the shell sends through it. */
zkv_reply_queue_t *zkv_front_replies(zkv_front_t *self);

#endif
