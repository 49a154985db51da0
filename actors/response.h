/*  response: building the replies clients get. */
#ifndef ZKV_RESPONSE_H
#define ZKV_RESPONSE_H

#include <czmq.h>

#include "zkv.pb-c.h"

/*  The client-facing status for a ZKV_E* code. */
Zkv__Status zkv_status_from_error(int code);

/*  Encode a response as one frame (NULL when out of memory). */
zframe_t *zkv_response_frame(const Zkv__Response *response);

/*  frame (taken) with leader_endpoint set to endpoint, without decoding it:
    a field appended to an encoded message is merged into it, as protobuf
    defines, and the replies this is for carry none. The old frame when out
    of memory. */
zframe_t *zkv_response_add_leader(zframe_t *frame, const char *endpoint);

/*  The status of an encoded response, without decoding the rest (a scan's
    can be megabytes): protobuf-c writes fields in number order, so status
    (3) follows only client_id and sequence. UNSPECIFIED when not found. */
Zkv__Status zkv_response_status(const uint8_t *data, size_t size);

/*  The arrays a transaction's response points into. */
typedef struct {
    Zkv__TxnResult *results;
    Zkv__TxnResult **ptrs;
    Zkv__KeyValue *kvs;
} zkv_txn_response_t;

/*  Fill r->results from a transaction's encoded results (borrowing their
    bytes), into arrays kept in txn. ZKV_OK, ZKV_ECORRUPT or ZKV_ENOMEM. */
int zkv_response_txn(Zkv__Response *r, const uint8_t *data, size_t size, zkv_txn_response_t *txn);

void zkv_response_txn_free(zkv_txn_response_t *txn);

#endif
