/*  reply_queue: what a node holds for its clients' replies, per connection
    and in total, in bytes, so that a client that never reads cannot grow
    the node without bound.

    A reply handed to the ROUTER stays in libzmq (its pipe to the connection,
    then the encoder) until it is written to the kernel or dropped. Each
    reply goes out as a zero-copy frame whose free callback, called by libzmq
    in whichever thread releases it, gives its bytes back; so the counts are
    exact and also fall when a connection closes and libzmq drops its queue.
    A reply that would take its connection or the node past its budget is
    shed (the client times out and retries). */
#ifndef ZKV_REPLY_QUEUE_H
#define ZKV_REPLY_QUEUE_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct zkv_reply_queue_t zkv_reply_queue_t;

/*  One client connection (a ROUTER routing id), owned by the queue. */
typedef struct zkv_reply_conn_t zkv_reply_conn_t;

/*  Budgets in bytes of replies held: per connection, and for all. */
zkv_reply_queue_t *zkv_reply_queue_new(size_t conn_bytes_max, size_t total_bytes_max);
void zkv_reply_queue_destroy(zkv_reply_queue_t **self_p);

/*  The connection of routing, made on first use; NULL when out of memory. */
zkv_reply_conn_t *zkv_reply_queue_conn(zkv_reply_queue_t *self, zframe_t *routing);

/*  Requests of conn awaiting their reply: counted by the caller, so that an
    idle connection can be forgotten. */
uint32_t zkv_reply_conn_pending(const zkv_reply_conn_t *conn);
void zkv_reply_conn_hold(zkv_reply_conn_t *conn);
void zkv_reply_conn_release(zkv_reply_conn_t *conn);

/*  Send *body_p (taken) to routing on router, or shed it when over budget:
    0 sent (or dropped by libzmq at the high-water mark), -1 shed. */
int zkv_reply_queue_send(zkv_reply_queue_t *self, zsock_t *router, zframe_t *routing,
                         zframe_t **body_p);

/*  Forget connections with nothing pending or queued; after a large drop of
    the bytes held, hand free heap back to the system. */
void zkv_reply_queue_sweep(zkv_reply_queue_t *self);

size_t zkv_reply_queue_bytes(const zkv_reply_queue_t *self);
uint64_t zkv_reply_queue_shed(const zkv_reply_queue_t *self);
size_t zkv_reply_queue_conns(const zkv_reply_queue_t *self);

#endif
