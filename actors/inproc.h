/*  inproc: the messages the actors of one node exchange, and their framing.

    Every message is a zmsg whose first frame is the command; numbers travel
    as 8-byte little-endian frames. A batch (entries, commands, results)
    travels packed in one frame, each record a 4-byte length and its bytes:
    one allocation per batch rather than one per record. Actor pairs talk
    over PAIR sockets:

    replication -> log      PERSIST  ready-id, flags, hard-state, snapshot, entries
                            DROP     index            (segments before it are unneeded)
    log -> replication      DURABLE  ready-id         (every PERSIST up to it is on disk)
                            FATAL    text             (the disk failed: the node stops)
    replication -> storage  APPLY    entries
                            SERVE    context, index, request    (a read that may be served)
                            CHUNK    snapshot-index, term, offset, bytes
                            INSTALL  index, term, size  (answered by INSTALLED)
                            PRUNE    path   (the log restarts after it: older snapshots go)
    storage -> replication  APPLIED  index
                            SNAPSHOT index, term, size, path   (a new snapshot is durable)
                            INSTALLED index, status, path  (status 0 done, 1 failed: asked
                                      again, 2 our disk failed: the node stops)
    client -> replication   PROPOSE  commands         (each an encoded zkv.Command)
                            READ     context, request
    replication -> client   STATE    role, term, leader, commit, applied
                            READFAIL context, status
                            REJECTED status, commands  (proposals refused)
    client -> storage       SERVE    context, 0, request         (serializable reads)
                            COUNT    (at start: answered by RESULTS without results)
    storage -> client       RESULTS  applied, keys, results
                            REPLY    context, response
*/
#ifndef ZKV_INPROC_H
#define ZKV_INPROC_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "raft.h"

/*  Records packed into one buffer, reused from batch to batch. */
typedef struct {
    uint8_t *data;
    size_t size;
    size_t capacity;
} zkv_packer_t;

/*  Room for one record of size bytes; NULL when out of memory. */
uint8_t *zkv_pack_record(zkv_packer_t *self, size_t size);

/*  The records packed so far as one frame (empty when none; NULL when out of
    memory); the packer is then empty again and keeps its buffer unless it
    grew past a large batch. */
zframe_t *zkv_packer_frame(zkv_packer_t *self);
void zkv_packer_free(zkv_packer_t *self);

typedef struct {
    const uint8_t *at;
    const uint8_t *end;
} zkv_unpacker_t;

/*  Read the records of a packed frame (none when frame is NULL). */
void zkv_unpacker_init(zkv_unpacker_t *self, zframe_t *frame);

/*  The next record: 1, 0 at the end, -1 when the frame is malformed. */
int zkv_unpack_record(zkv_unpacker_t *self, const uint8_t **data, size_t *size);

/*  An entry as a record: index, term, type (20 bytes), then its data. */
bool zkv_pack_entry(zkv_packer_t *self, const zkv_raft_entry_t *entry);

/*  The next entry, its data pointing into the frame: 1, 0 at the end, -1
    when the frame or the record is malformed. */
int zkv_unpack_entry(zkv_unpacker_t *self, zkv_raft_entry_t *entry);

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

bool zkv_pack_result(zkv_packer_t *self, const zkv_write_result_t *result);

/*  The next result, as zkv_unpack_entry. */
int zkv_unpack_result(zkv_unpacker_t *self, zkv_write_result_t *result);

#endif
