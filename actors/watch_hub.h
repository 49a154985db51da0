/*  watch_hub: the watch actor's handler. Keeps the node's history of recent
    changes (core/watch_history), publishes each change as it arrives from
    storage (EVENTS) on the node's watch port, acknowledges subscriptions, and
    answers watchers' catch-up requests (SERVE, answered by REPLY to the
    client actor) from the history.

    A subscriber whose queue is full blocks publishing (the port refuses a
    message rather than drop it for anyone): what is not published waits in
    the history, and once it has waited ZKV_WATCH_BLOCKED_MS_MAX, or would be
    evicted first, every subscriber is cut off and catches up again. So a slow
    watcher delays the stream by a bounded time, never the writes, and a node
    never holds more than its history for watchers. */
#ifndef ZKV_WATCH_HUB_H
#define ZKV_WATCH_HUB_H

#include <stdint.h>

#include "config.h"
#include "msg.h"
#include "port.h"
#include "trace.h"
#include "watch_history.h"

/*  How long a full subscriber may hold the stream up before every
    subscriber is cut off. */
#define ZKV_WATCH_BLOCKED_MS_MAX 1000
/*  How often a held-up stream is tried again. */
#define ZKV_WATCH_RETRY_MS 5
/*  Events and key + value bytes in one catch-up reply, at most. */
#define ZKV_WATCH_REPLY_EVENTS_MAX 1000
#define ZKV_WATCH_REPLY_BYTES_MAX (4u * 1024 * 1024)
/*  The first message of every new connection to the watch port (one frame). */
#define ZKV_WATCH_WELCOME "\x00zkv-watch-welcome"
#define ZKV_WATCH_WELCOME_SIZE (sizeof ZKV_WATCH_WELCOME - 1)

typedef struct zkv_watch_hub_t zkv_watch_hub_t;

/*  NULL when out of memory. port needs send, now_ms, publish and cut_off. */
zkv_watch_hub_t *zkv_watch_hub_new(const zkv_config_t *config, const zkv_port_t *port,
                                   zkv_tracer_t *tracer);
void zkv_watch_hub_destroy(zkv_watch_hub_t **self_p);

/*  EVENTS from storage, SERVE from the client actor. */
void zkv_watch_hub_handle(zkv_watch_hub_t *self, const zkv_msg_t *msg);

/*  A subscription (subscribe: true) or its end arrived on the watch port;
    prefix is borrowed. */
void zkv_watch_hub_subscription(zkv_watch_hub_t *self, const uint8_t *prefix, size_t size,
                                bool subscribe);

/*  Try again what is held up; the most the next call may wait, in ms (-1: none due). */
int64_t zkv_watch_hub_tick(zkv_watch_hub_t *self);

/*  For tests and the simulation: the history. */
const zkv_watch_history_t *zkv_watch_hub_history(const zkv_watch_hub_t *self);

#endif
