/*  storage_read: answering get and scan requests from the state machine. */
#ifndef ZKV_STORAGE_READ_H
#define ZKV_STORAGE_READ_H

#include <czmq.h>

#include "kvstore.h"

/*  Most keys one scan returns; a larger or zero limit is cut to it (more = true). */
#define ZKV_SCAN_LIMIT_MAX 10000
/*  Most key and value bytes in one scan reply (at least one pair is returned),
    so that a reply stays far below what a client accepts. */
#define ZKV_SCAN_BYTES_MAX (4u * 1024 * 1024)

/*  The encoded zkv.Response to a get, scan or digest request (its encoded zkv.Request),
    revision = the applied index it was served at. NULL when out of memory. */
zframe_t *zkv_storage_read(zkv_kvstore_t *kv, const uint8_t *request, size_t size);

#endif
