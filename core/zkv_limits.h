/*  zkv_limits: the sizes the whole node agrees on, each defined once, below
    every module that checks it (btree, kvstore, raft, wal, the actors and
    the client library). What one layer accepts the next must be able to
    hold: an entry the Raft core takes from a peer is one the WAL can write,
    and the largest command a client may send fits in one entry. */
#ifndef ZKV_LIMITS_H
#define ZKV_LIMITS_H

#include "zkv_types.h" /* ZKV_KEY_SIZE_MAX, ZKV_VALUE_SIZE_MAX: the client's too */

/*  Room in an entry beyond one key and two values: a command's ids,
    sequences, flags and protobuf tags and lengths (well under 100 bytes),
    or a cluster configuration of ZKV_MEMBERS_MAX members. */
#define ZKV_ENTRY_OVERHEAD_MAX (64u * 1024)
/*  Largest entry data: the largest command, a compare-and-swap with a key
    and two values (expected and new) at their limits. The Raft core refuses
    a bigger entry from a peer or a proposal; the WAL writes any up to it. */
#define ZKV_ENTRY_SIZE_MAX                                                                         \
    ((unsigned) ZKV_KEY_SIZE_MAX + 2u * ZKV_VALUE_SIZE_MAX + ZKV_ENTRY_OVERHEAD_MAX)

/*  Members of one cluster: voters in --peers, and voters or learners each in
    the Raft core's configuration. */
#define ZKV_MEMBERS_MAX 9
/*  A member's host name or address, with its terminating zero. */
#define ZKV_HOST_SIZE_MAX 256
/*  The data directory's path with its terminating zero; a subdirectory of
    ours in it ("/wal", "/snap"); a file of ours in one of those. */
#define ZKV_DATA_DIR_SIZE_MAX 1024
#define ZKV_DATA_SUBDIR_SIZE_MAX (ZKV_DATA_DIR_SIZE_MAX + 64)
#define ZKV_DATA_PATH_SIZE_MAX (ZKV_DATA_SUBDIR_SIZE_MAX + 128)

#endif
