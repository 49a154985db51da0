/*  watch actor: the watch hub (watch_hub.h) on the node's watch port (an
    XPUB) and two inproc pairs, from storage (EVENTS) and from the client
    actor (catch-up requests, answered by REPLY). */
#ifndef ZKV_WATCH_H
#define ZKV_WATCH_H

#include <czmq.h>

#include "config.h"
#include "metrics.h"

/*  NULL when the watch port cannot be bound. */
zactor_t *zkv_watch_actor_new(const zkv_config_t *config, zkv_metrics_t *metrics);

#endif
