/*  command: a log entry's zkv.Command decoded into the state machine's
    zkv_command_t, transactions included. The decoded command borrows its
    bytes from the protobuf message, which it owns with the arrays a
    transaction needs. */
#ifndef ZKV_COMMAND_H
#define ZKV_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

#include "kvstore.h"
#include "zkv.pb-c.h"

typedef struct {
    zkv_command_t cmd;
    Zkv__Command *pb;
    zkv_txn_t txn;
    zkv_compare_t *compares;
    zkv_txn_op_t *ops; /* success, then failure */
} zkv_decoded_command_t;

/*  false when the bytes are not a command of a known type or memory runs
    out; dc is then cleared. */
bool zkv_command_decode(const void *data, size_t size, zkv_decoded_command_t *dc);

void zkv_command_clear(zkv_decoded_command_t *dc);

/*  Whether a transaction request is one the state machine takes (limits,
    known types, no key written twice): ZKV_OK, or a ZKV_E* code with *why. */
int zkv_command_check_txn(const Zkv__TxnRequest *txn, const char **why);

#endif
