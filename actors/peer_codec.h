/*  peer_codec: Raft messages between zkv_raft_msg_t (what the core speaks)
    and zkv.PeerMessage bytes (what crosses the network). Decoding validates
    every field; a malformed message is refused, never trusted. */
#ifndef ZKV_PEER_CODEC_H
#define ZKV_PEER_CODEC_H

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

#include "raft.h"

/*  Encode msg, of cluster cluster_id, as one frame; NULL when out of memory.
    chunk bytes, when the message is a snapshot chunk, are taken from
    msg->chunk. */
zframe_t *zkv_peer_encode(const zkv_raft_msg_t *msg, uint64_t cluster_id);

/*  A decoded message; msg's pointers point into it until it is freed. */
typedef struct zkv_peer_decoded_t zkv_peer_decoded_t;

/*  Decode size bytes; *cluster_id is the sender's cluster. NULL when they
    are not a valid peer message (bad protobuf, unknown type, too many
    entries, inconsistent fields). msg->type may be zkv.REMOVED, which is
    not the core's. */
zkv_peer_decoded_t *zkv_peer_decode(const uint8_t *data, size_t size, zkv_raft_msg_t *msg,
                                    uint64_t *cluster_id);
void zkv_peer_decoded_destroy(zkv_peer_decoded_t **self_p);

#endif
