/*  trace: what a node does, published on one PUB endpoint for anyone to watch.

    The trace actor binds the node's public trace endpoint (tcp) and an inproc
    PULL socket. Every other actor holds a zkv_tracer_t, a PUSH socket into that
    PULL, and emits events through it; the trace actor publishes them as two
    frames, the topic "<kind> <node>" and a zkv.TraceEvent. It also turns the
    events of ZeroMQ socket monitors on peer sockets into "socket" events.

    Tracing never slows the node down: a full queue drops events. */
#ifndef ZKV_TRACE_H
#define ZKV_TRACE_H

#include <czmq.h>
#include <stdint.h>

#include "cert.h"
#include "metrics.h"

/*  Start the trace actor: node id and the tcp endpoint to bind, e.g.
    "tcp://127.0.0.1:7401" (port * for any). NULL when the endpoint cannot be
    bound. Command "ENDPOINT" answers with the bound endpoint. The monitor
    events of the sockets named "peer-<id>" set metrics' peer links (metrics.h;
    NULL: none). With cert, the endpoint is a CURVE server of ZAP domain
    "trace" (security.h); NULL: plaintext. */
zactor_t *zkv_trace_actor_new(uint32_t node_id, const char *endpoint, zkv_metrics_t *metrics,
                              const zkv_cert_t *cert);

typedef struct zkv_tracer_t zkv_tracer_t;

/*  A sending handle for one actor (use it only from that actor's thread). */
zkv_tracer_t *zkv_tracer_new(uint32_t node_id);
void zkv_tracer_destroy(zkv_tracer_t **self_p);

/*  Emit one event (none when self is NULL). kind is a short word (role,
    vote, append, ack, commit, apply, snapshot, client, socket); term, index,
    peer and latency_us are 0 when they do not apply; detail is
    printf-formatted text. */
void zkv_tracer_emit(zkv_tracer_t *self, const char *kind, uint64_t term, uint64_t index,
                     uint32_t peer, uint64_t latency_us, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/*  Watch a socket owned by the calling thread: its connects, disconnects and
    handshake failures become "socket" events named after name. */
int zkv_tracer_monitor(zkv_tracer_t *self, zsock_t *socket, const char *name);

/*  Stop socket's monitor: before the socket closes and before the trace
    actor stops. libzmq sends some monitor events from its I/O thread, and a
    send to a monitor nobody reads any more blocks that thread for good
    (every TCP socket of the process then stalls). */
void zkv_tracer_unmonitor(zsock_t *socket);

#endif
