/*  watcher: follows the changes of a key or a key range, every event once
    and in order, across reconnections, cut-offs and node failures: the
    client side of zkv's watch (proto/zkv.proto, WatchRequest).

    On one node at a time: subscribe to its watch port (PUB) and wait for the
    connection's welcome and the subscription's acknowledgement; catch up
    from its history, through the client port, after the position of the last
    event delivered; then follow the stream, dropping what is at or before
    that position. A new welcome (the connection was dropped: the node cut
    its subscribers off, or it restarted) means catch up again. A second of
    silence is checked with a catch-up request, which also finds whatever a
    lost connection missed; a node that does not answer is left for the next
    one, where the watcher resumes from its position. Used by zkv watch, the
    integration tests and the fault driver. Not thread-safe. */
#ifndef ZKV_WATCHER_H
#define ZKV_WATCHER_H

#include <stdbool.h>
#include <stdint.h>

#include "client.h"

typedef struct zkv_watcher_t zkv_watcher_t;

typedef struct {
    const char *endpoints; /* client endpoints, comma-separated, as for zkv_client_config_t */
    zkv_bytes_t key;       /* borrowed: one key, or with range */
    zkv_bytes_t end;       /* the range [key, end); empty: no upper bound */
    bool range;
    uint64_t start_revision; /* deliver events from this revision on; 0: from now */
    int64_t timeout_ms;      /* one request or one wait for the stream; 0: 5 s */
} zkv_watcher_config_t;

/*  An event, borrowed for the call. */
typedef void(zkv_watcher_fn)(void *arg, const Zkv__WatchEvent *event);

/*  Notes for the user (a resync, a node left): one line, borrowed for the call. */
typedef void(zkv_watcher_note_fn)(void *arg, const char *note);

/*  NULL with a message in err when the configuration is invalid. */
zkv_watcher_t *zkv_watcher_new(const zkv_watcher_config_t *config, char *err, size_t err_size);
void zkv_watcher_destroy(zkv_watcher_t **self_p);

/*  Deliver events for up to run_ms (-1: until interrupted or an error),
    trying node after node while none answers. 0 when the time is up;
    ZKV_CLIENT_EINTR on SIGINT/SIGTERM; ZKV_ECOMPACTED when every node's
    history starts after the position (zkv_watcher_error says which
    revisions); ZKV_ENOMEM. Can be called again to go on. */
int zkv_watcher_run(zkv_watcher_t *self, int64_t run_ms, zkv_watcher_fn *fn,
                    zkv_watcher_note_fn *note, void *arg);

/*  The node followed now: its place in the endpoint list, from 0. */
size_t zkv_watcher_node(const zkv_watcher_t *self);

/*  The position of the last event delivered (revision, seq). */
void zkv_watcher_position(const zkv_watcher_t *self, uint64_t *revision, uint32_t *seq);

/*  Why the last run failed. */
const char *zkv_watcher_error(const zkv_watcher_t *self);

#endif
