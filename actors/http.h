/*  http actor: the node's HTTP port (--metrics-port), a ZMQ_STREAM socket
    serving GET /metrics (the Prometheus text of metrics.h) and GET /health
    (health.h: 200 or 503, one line). One request per connection: the answer
    goes out with "Connection: close" and the connection is closed. */
#ifndef ZKV_HTTP_H
#define ZKV_HTTP_H

#include <czmq.h>

#include "config.h"
#include "metrics.h"

/*  Connections open at once; past it a new one is closed at once. */
#define ZKV_HTTP_CONNECTIONS_MAX 64
/*  A connection that has not sent a whole request by then is closed. */
#define ZKV_HTTP_IDLE_MS 10000

/*  NULL when the port cannot be bound. metrics is borrowed and must outlive
    the actor. */
zactor_t *zkv_http_actor_new(const zkv_config_t *config, const zkv_metrics_t *metrics);

#endif
