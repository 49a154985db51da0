/*  config: a node's configuration from flags and environment variables.

    Every flag --some-name has the environment variable ZKV_SOME_NAME; a flag
    wins over the variable. A member of the cluster is written
    ID=HOST:PUB_PORT:ROUTER_PORT:CLIENT_PORT, members separated by commas. */
#ifndef ZKV_CONFIG_H
#define ZKV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cert.h"
#include "zkv_limits.h"

typedef struct {
    uint32_t id;
    char host[ZKV_HOST_SIZE_MAX];
    uint16_t pub_port;    /* the leader's broadcast appends and heartbeats */
    uint16_t router_port; /* acks, votes, catch-up, snapshot chunks */
    uint16_t client_port;
    bool learner; /* in a membership: receives the log, does not vote */
} zkv_member_t;

typedef struct {
    uint32_t id;
    zkv_member_t members[ZKV_MEMBERS_MAX];
    size_t member_count;
    char listen[ZKV_HOST_SIZE_MAX]; /* address to bind; default: this member's host */
    char data_dir[ZKV_DATA_DIR_SIZE_MAX];
    uint16_t trace_port;
    uint16_t metrics_port;         /* HTTP: GET /metrics and /health */
    uint64_t health_max_lag;       /* /health: most entries applied behind the leader's commit */
    uint16_t watch_port;           /* PUB of the changes applied, for watchers */
    uint64_t watch_history_events; /* changes kept for watchers to catch up from ... */
    uint64_t watch_history_bytes;  /* ... and their bytes */
    uint32_t watch_queue;          /* messages queued per watcher before the stream waits */
    uint64_t snapshot_entries;     /* take a snapshot after this many applied entries */
    uint64_t snapshot_bytes;       /* ... or this many bytes of log */
    uint64_t log_memory_bytes;     /* applied entry data the Raft log keeps (0: all) */
    uint64_t wal_segment_bytes;    /* preallocated size of a WAL segment file */
    uint32_t tick_ms;
    uint32_t election_ticks;
    uint32_t heartbeat_ticks;
    uint32_t snapshot_chunk_bytes; /* 0: the Raft core's default (the simulation sets it small) */
    /* Join a running cluster (added first with zkv member add): --peers
       names the members to reach; the membership comes from the leader. */
    bool join;
    /* CURVE on every TCP socket but the metrics port (security.h): the
       files named, and the key pairs loaded from them at parse time. */
    bool insecure;                               /* plaintext, said loudly */
    char cert_path[ZKV_DATA_PATH_SIZE_MAX];      /* --server-cert: client, watch, trace */
    char peer_cert_path[ZKV_DATA_PATH_SIZE_MAX]; /* this node's peer sockets */
    char peer_certs[ZKV_DATA_PATH_SIZE_MAX];     /* members' public peer certificates */
    char client_certs[ZKV_DATA_PATH_SIZE_MAX];   /* clients allowed */
    char trace_certs[ZKV_DATA_PATH_SIZE_MAX];    /* trace subscribers; default client_certs */
    char acl_path[ZKV_DATA_PATH_SIZE_MAX];       /* rights on key prefixes; none: all */
    zkv_cert_t cert;
    zkv_cert_t peer_cert;
    /* Make the data directory from a backup (zkv snapshot save) and exit. */
    char restore[ZKV_DATA_PATH_SIZE_MAX];
} zkv_config_t;

/*  Fill config from argv and the environment (env may be NULL for none; it is
    searched like environ). 0 on success; 1 when --help was asked (usage already
    printed to out); -1 with one line in err on a bad configuration. */
int zkv_config_parse(zkv_config_t *config, int argc, char **argv, char **env, FILE *out, char *err,
                     size_t err_size);

/*  One line, formatted, into err; -1 (for `return zkv_config_fail(...)`). */
int zkv_config_fail(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*  The member entry for id, or NULL. */
const zkv_member_t *zkv_config_member(const zkv_config_t *config, uint32_t id);

/*  Print the usage text, every flag with its environment variable. */
void zkv_config_usage(FILE *out);

#endif
