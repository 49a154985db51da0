/*  cluster: a zkv cluster of real zkvd processes on 127.0.0.1, for the
    integration tests and the fault driver.

    A cluster owns a temporary directory (one data directory and one stdout
    and stderr file per node) and a block of free ports. Nodes are started
    with fork/exec and controlled by pid only: stop (SIGTERM, wait), kill
    (SIGKILL), pause (SIGSTOP), resume (SIGCONT), restart on the same data
    directory. Every node still running when the process exits is killed and
    the directory removed, from an atexit handler (and, for the node
    processes, by PR_SET_PDEATHSIG should the test process die on a signal).

    Not thread-safe: one thread owns a cluster. Node ids are 1..nodes. */
#ifndef ZKV_CLUSTER_H
#define ZKV_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "zkv.h"

#define ZKV_CLUSTER_NODES_MAX 9
/*  How long one status request may take before the node counts as silent. */
#define ZKV_CLUSTER_STATUS_MS 500

typedef struct zkv_cluster_t zkv_cluster_t;

typedef struct {
    const char *name;          /* part of the temporary directory's name */
    size_t nodes;              /* 1..ZKV_CLUSTER_NODES_MAX; 0: 3 */
    uint64_t snapshot_entries; /* 0: zkvd's default, for this and the fields below */
    uint32_t tick_ms;
    uint32_t election_ticks;
    uint32_t heartbeat_ticks;
    const char *const *args; /* more zkvd flags for every node, NULL-terminated, or NULL */
    const char *const *env;  /* NAME=VALUE for every node, NULL-terminated, or NULL */
    const char *zkvd;        /* the program; NULL: $ZKV_ZKVD, else the one built with the tests */
    /*  0: every node on 127.0.0.1. Else node i binds and is named by its own
        loopback address 127.0.0.<host_base + i>, so a test can cut the link
        between two nodes with a firewall rule on their two addresses;
        clients still reach them from 127.0.0.1. */
    uint8_t host_base;
    /*  0: every node is a member from the start. Else nodes 1..initial start
        the cluster (their --peers name only them) and the others join it
        (--join, --peers naming every node): a test adds them first. */
    size_t initial;
    /*  false: CURVE on every socket, with certificates made for the cluster
        (cluster_certs.h); true: plaintext nodes (--insecure). */
    bool insecure;
} zkv_cluster_config_t;

typedef enum {
    ZKV_NODE_DOWN = 0, /* never started, stopped, killed or exited on its own */
    ZKV_NODE_RUNNING,
    ZKV_NODE_PAUSED, /* SIGSTOP */
} zkv_node_state_t;

typedef struct {
    uint16_t pub;
    uint16_t router;
    uint16_t client;
    uint16_t trace;
    uint16_t watch;
    uint16_t metrics; /* HTTP: /metrics and /health */
} zkv_node_ports_t;

/*  One node's answer to a status request. */
typedef struct {
    uint32_t id;
    char role[16]; /* leader, follower, candidate, pre-candidate */
    uint64_t term;
    uint32_t leader; /* 0: unknown */
    uint64_t commit;
    uint64_t applied;
    uint64_t keys;
} zkv_node_status_t;

/*  Make the directory, the certificates and pick the ports; no node runs
    yet. The process's ZKV_CERT and ZKV_SERVER_KEY (or ZKV_INSECURE) are set
    to this cluster's, for the zkv programs a test runs. NULL with a message
    in err. */
zkv_cluster_t *zkv_cluster_new(const zkv_cluster_config_t *config, char *err, size_t err_size);

/*  Kill (SIGKILL) every node still running, reap it, remove the directory
    (kept when the environment has ZKV_KEEP_TEST_DIRS=1). */
void zkv_cluster_destroy(zkv_cluster_t **self_p);

/*  Destroy every cluster still alive, as at exit: for a test that stops with
    _exit, past the atexit handlers. */
void zkv_cluster_cleanup(void);

/*  Start a node that is down. 0, or -1 (already running, fork failed). The
    process runs once this returns; whether it serves is for the waits below. */
int zkv_cluster_start(zkv_cluster_t *self, uint32_t id);
int zkv_cluster_start_all(zkv_cluster_t *self);
/*  Start a node that is down on another data directory (another node's, to
    see that it is refused). */
int zkv_cluster_start_on(zkv_cluster_t *self, uint32_t id, const char *data_dir);

/*  SIGTERM (and SIGCONT, for a paused node), then wait up to timeout_ms for it
    to exit. 0 and its wait status in *wstatus (may be NULL), or -1 when it did
    not exit in time: it is then killed (after gdb wrote its threads' stacks to
    its stderr file, unless ZKV_STACKS_ON_HANG=0), and *wstatus says so. */
int zkv_cluster_stop(zkv_cluster_t *self, uint32_t id, int64_t timeout_ms, int *wstatus);

/*  Send any signal to a node that is up. 0, or -1 when it is down. */
int zkv_cluster_signal(zkv_cluster_t *self, uint32_t id, int sig);

/*  Wait up to timeout_ms for a node to exit (after a signal, or on its own).
    0 and its wait status in *wstatus (may be NULL), or -1 when it is still up.
    An exit waited for is the caller's to judge: it no longer counts as one
    on its own (zkv_cluster_find_exited). */
int zkv_cluster_wait_exit(zkv_cluster_t *self, uint32_t id, int64_t timeout_ms, int *wstatus);

/*  SIGKILL and reap. 0, or -1 when the node was not running. */
int zkv_cluster_kill(zkv_cluster_t *self, uint32_t id);

/*  SIGSTOP / SIGCONT. 0, or -1 when the node is not running / not paused. */
int zkv_cluster_pause(zkv_cluster_t *self, uint32_t id);
int zkv_cluster_resume(zkv_cluster_t *self, uint32_t id);

/*  Stop (as zkv_cluster_stop; nothing when down) and start again on the same
    data directory. 0, or -1 when it did not stop in time or cannot start. */
int zkv_cluster_restart(zkv_cluster_t *self, uint32_t id, int64_t timeout_ms, int *wstatus);

/*  The node's state; a node found to have exited on its own is reaped and
    reported down, its wait status kept for zkv_cluster_wstatus. */
zkv_node_state_t zkv_cluster_state(zkv_cluster_t *self, uint32_t id);

/*  The wait status of the node's last exit, or -1 when it has not exited. */
int zkv_cluster_wstatus(const zkv_cluster_t *self, uint32_t id);

/*  The id of a node that exited without being told to, or 0. */
uint32_t zkv_cluster_find_exited(zkv_cluster_t *self);

/*  Wait status as text: "exit 0", "signal 9 (Killed)", ... Borrowed until the next call. */
const char *zkv_cluster_wstatus_text(int wstatus);

pid_t zkv_cluster_pid(const zkv_cluster_t *self, uint32_t id); /* 0 when down */
size_t zkv_cluster_size(const zkv_cluster_t *self);
const char *zkv_cluster_dir(const zkv_cluster_t *self); /* certificates in certs/ */
const char *zkv_cluster_data_dir(const zkv_cluster_t *self, uint32_t id);
const char *zkv_cluster_stderr_path(const zkv_cluster_t *self, uint32_t id);
const char *zkv_cluster_stdout_path(const zkv_cluster_t *self, uint32_t id);
zkv_node_ports_t zkv_cluster_ports(const zkv_cluster_t *self, uint32_t id);
/*  The --peers value the nodes that start the cluster are started with,
    and the one naming every node. */
const char *zkv_cluster_peers(const zkv_cluster_t *self);
const char *zkv_cluster_peers_all(const zkv_cluster_t *self);
/*  A node's endpoints as zkv member add takes them: "HOST:PUB:ROUTER" and
    "HOST:CLIENT". Borrowed until the next call. */
const char *zkv_cluster_peer_endpoint(const zkv_cluster_t *self, uint32_t id);
const char *zkv_cluster_client_address(const zkv_cluster_t *self, uint32_t id);
/*  The address a node binds and is named by: "127.0.0.1", or its own with host_base. */
const char *zkv_cluster_host(const zkv_cluster_t *self, uint32_t id);
/*  "tcp://HOST:PORT" of one node's client port, of its trace PUB. */
const char *zkv_cluster_client_endpoint(const zkv_cluster_t *self, uint32_t id);
const char *zkv_cluster_trace_endpoint(const zkv_cluster_t *self, uint32_t id);
/*  Every node's client endpoint, comma-separated, node 1 first. */
/*  The security flags node id starts with, quoted for a shell command line
    (" --insecure" for an insecure cluster), into buf. */
void zkv_cluster_security_args(const zkv_cluster_t *self, uint32_t id, char *buf, size_t size);

/*  The credentials of the cluster's admin client, for a zkv_client_config_t
    or zkv_watcher_config_t (paths owned by the cluster; NULL when insecure). */
zkv_curve_t zkv_cluster_curve(const zkv_cluster_t *self);

const char *zkv_cluster_endpoints(const zkv_cluster_t *self);

/*  Ask one node for its status (at most ZKV_CLUSTER_STATUS_MS). 0, or -1 when
    it did not answer. */
int zkv_cluster_status(zkv_cluster_t *self, uint32_t id, zkv_node_status_t *status);

/*  Wait for a leader that a majority answer to (of the nodes that started
    the cluster, or of the nodes running if more), asking every running node
    that is not paused. Its id, or 0 after timeout_ms (0: one round of
    questions). */
uint32_t zkv_cluster_wait_leader(zkv_cluster_t *self, int64_t timeout_ms);

/*  Wait until the node has applied index. 0, or -1 after timeout_ms. */
int zkv_cluster_wait_applied(zkv_cluster_t *self, uint32_t id, uint64_t index, int64_t timeout_ms);

/*  Scan the node's stderr file for sanitizer reports ("ERROR: AddressSanitizer",
    "LeakSanitizer", "runtime error"). 0 when there is none, 1 with the first
    such line in line, -1 when the file cannot be read. */
int zkv_cluster_stderr_check(const zkv_cluster_t *self, uint32_t id, char *line, size_t size);

/*  Print every node's state and the tail of its stderr, for a failed test. */
void zkv_cluster_dump(zkv_cluster_t *self, FILE *out);

#endif
