/*  inproc: batches packed into one frame, the bodies of the actors' messages
    (msg.h): entries, commands and write results travel packed in one frame,
    each record a 4-byte length and its bytes, so that a batch costs one
    allocation rather than one per record. */
#ifndef ZKV_INPROC_H
#define ZKV_INPROC_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "raft.h"
#include "watch_history.h"

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
/*  Drop the records packed so far, as zkv_packer_frame without the frame. */
void zkv_packer_clear(zkv_packer_t *self);
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

/*  A write's outcome, storage -> client: client id, sequence, status, found,
    whether data follows, index, count, command type, then the data (a put's
    previous value, a transaction's results). */
typedef struct {
    uint64_t client_id;
    uint64_t sequence;
    int32_t status; /* ZKV_E* */
    bool found;
    bool has_data;
    uint64_t index;
    uint64_t count;   /* delete: keys removed */
    uint8_t cmd_type; /* zkv_cmd_type_t */
    const uint8_t *data;
    size_t data_size;
} zkv_write_result_t;

bool zkv_pack_result(zkv_packer_t *self, const zkv_write_result_t *result);

/*  The next result, as zkv_unpack_entry. */
int zkv_unpack_result(zkv_unpacker_t *self, zkv_write_result_t *result);

/*  A lease change, storage -> client: change, id, ttl in seconds. */
bool zkv_pack_lease(zkv_packer_t *self, int change, uint64_t id, uint64_t ttl_s);
int zkv_unpack_lease(zkv_unpacker_t *self, int *change, uint64_t *id, uint64_t *ttl_s);

/*  A change, storage -> watch: type, revision, seq, metadata, key size, then
    the key and the value; for a put with a record (event->rec), type, revision
    and seq, then the record, which the packed bytes then hold (shared) until
    zkv_events_release. */
bool zkv_pack_event(zkv_packer_t *self, const zkv_event_t *event);

/*  The next change, its bytes pointing into the frame or its record (borrowed
    from the frame), as zkv_unpack_entry. */
int zkv_unpack_event(zkv_unpacker_t *self, zkv_event_t *event);

/*  Let go of the records packed events hold: an EVENTS body's, when the
    message is cleared (handled or dropped: zkv_msg_clear), or a packer's
    never sent. */
void zkv_events_release(const uint8_t *data, size_t size);

#endif
