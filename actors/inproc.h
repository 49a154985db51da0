/*  inproc: the messages the actors of one node exchange, and their framing.

    Every message is a zmsg whose first frame is the command; numbers travel
    as 8-byte little-endian frames. Actor pairs talk over PAIR sockets:

    replication -> log      PERSIST  ready-id, flags, hard-state, snapshot, entry...
                            DROP     index            (segments before it are unneeded)
    log -> replication      DURABLE  ready-id         (every PERSIST up to it is on disk)
                            FATAL    text             (the disk failed: the node stops)
    replication -> storage  APPLY    entry...
                            SERVE    context, index, request    (a read that may be served)
                            CHUNK    snapshot-index, term, offset, bytes
                            INSTALL  index, term, size  (answered by INSTALLED)
    storage -> replication  APPLIED  index
                            SNAPSHOT index, term, size, path   (a new snapshot is durable)
                            INSTALLED index, status, path
    client -> replication   PROPOSE  command...       (encoded zkv.Command, one frame each)
                            READ     context, request
    replication -> client   STATE    role, term, leader, commit, applied
                            READFAIL context, status
                            REJECTED status, command...  (proposals refused)
    client -> storage       SERVE    context, 0, request         (serializable reads)
                            COUNT    (at start: answered by RESULTS without results)
    storage -> client       RESULTS  applied, keys, result...
                            REPLY    context, response
*/
#ifndef ZKV_INPROC_H
#define ZKV_INPROC_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "raft.h"

/*  An entry as a frame: index, term, type (20 bytes), then its data. */
#define ZKV_ENTRY_FRAME_HEADER 20

zframe_t *zkv_entry_frame(const zkv_raft_entry_t *entry);

/*  Read an entry frame; entry->data points into the frame. false if malformed. */
bool zkv_entry_unframe(zframe_t *frame, zkv_raft_entry_t *entry);

void zkv_msg_add_u64(zmsg_t *msg, uint64_t value);

/*  Pop an 8-byte number frame; false if the next frame is missing or not 8 bytes. */
bool zkv_msg_pop_u64(zmsg_t *msg, uint64_t *value);

/*  Send to an actor that may be gone (stopped first at shutdown, or after a
    fatal error), on a socket whose send timeout is 0: a PAIR without its peer
    would block forever. A message that cannot go is dropped; 0 when sent. */
int zkv_msg_send_or_drop(zmsg_t **msg_p, zsock_t *sock);

/*  A write's outcome, storage -> client: client id, sequence, status, found,
    index, then the previous value when there is one. */
typedef struct {
    uint64_t client_id;
    uint64_t sequence;
    int32_t status; /* ZKV_E* */
    bool found;
    bool has_previous;
    uint64_t index;
    const uint8_t *previous;
    size_t previous_size;
} zkv_write_result_t;

zframe_t *zkv_result_frame(const zkv_write_result_t *result);
bool zkv_result_unframe(zframe_t *frame, zkv_write_result_t *result);

#endif
