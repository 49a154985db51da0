/*  loop: the one poll loop every actor runs, in the manner of czmq's zloop,
    reduced to what the actors need.

    Readers are read in the order they were added, each until its socket is
    empty or its drain limit, so that one round takes everything waiting and
    the actor can batch it; then the round hook runs (a proposal batch, a log
    sync, the Raft core's Ready) and says how long the next round may wait
    without input. A paused reader is not polled: its messages wait in its
    socket (the replication actor reads only storage while it installs a
    snapshot). $TERM on the actor's pipe ends the loop; other commands on it
    go to the command hook (RELOAD, on SIGHUP). */
#ifndef ZKV_LOOP_H
#define ZKV_LOOP_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

/*  Handle one message from the reader's socket: false when none was waiting
    (the socket's receive timeout must be 0). */
typedef bool(zkv_loop_read_fn)(void *self);

/*  After every round: the most the next round may wait for input, in ms
    (-1: no limit), or ZKV_LOOP_STOP to end the loop. */
typedef int64_t(zkv_loop_round_fn)(void *self);
#define ZKV_LOOP_STOP (-2)

/*  A command other than $TERM on the actor's pipe. */
typedef void(zkv_loop_command_fn)(void *self, const char *command);

#define ZKV_LOOP_READERS_MAX 8

typedef struct zkv_loop_t zkv_loop_t;

/*  A loop for the actor whose pipe this is; self is handed to every callback. */
zkv_loop_t *zkv_loop_new(zsock_t *pipe, void *self);
void zkv_loop_destroy(zkv_loop_t **self_p);

/*  Read sock with fn, at most drain_max messages a round. */
void zkv_loop_reader(zkv_loop_t *self, zsock_t *sock, zkv_loop_read_fn *fn, int drain_max);

/*  Stop or resume polling and reading sock. */
void zkv_loop_pause(zkv_loop_t *self, zsock_t *sock, bool paused);

/*  The round hook (none by default: wait for input without limit). */
void zkv_loop_on_round(zkv_loop_t *self, zkv_loop_round_fn *fn, int64_t first_wait_ms);

/*  The command hook (none by default: other commands are dropped). */
void zkv_loop_on_command(zkv_loop_t *self, zkv_loop_command_fn *fn);

/*  Run until $TERM (0) or the round hook says stop (1). */
int zkv_loop_run(zkv_loop_t *self);

#endif
