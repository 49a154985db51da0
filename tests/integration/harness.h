/*  harness: what the integration tests share beside the cluster fixture.

    CHECK stops a test at the first thing that is wrong, printing where, what
    and every node's stderr, then kills the nodes and removes the directory. Also: clients on a
   cluster, many writes and reads at once, and a node's trace stream. Every wait has a deadline. */
#ifndef ZKV_HARNESS_H
#define ZKV_HARNESS_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "zkv.h"
#include "cluster.h"

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            h_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                        \
    } while (0)

/*  Stop after writing bounds for whole phases; single requests have their own. */
#define H_LEADER_MS 15000
#define H_STOP_MS 15000
#define H_CATCH_UP_MS 30000
#define H_KEY_SIZE 64
#define H_VALUE_SIZE 128

_Noreturn void h_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*  Run fn when a CHECK fails, before the nodes are killed: to undo what the
    test changed outside its directory (firewall rules). One at a time. */
void h_at_fail(void (*fn)(void));

/*  A progress line with the time since the test started. */
void h_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int64_t h_now_ms(void);

/*  A new cluster, no node started; its nodes' stderr is printed when a CHECK fails. */
zkv_cluster_t *h_cluster_new(const zkv_cluster_config_t *config);

/*  A peer message packed into one frame, as a member sends it. */
zframe_t *h_peer_frame(const Zkv__PeerMessage *pm);

/*  A raw socket of the test becomes a CURVE client with the cluster's admin
    key (nothing when the cluster is insecure); before its connect. */
void h_secure(const zkv_cluster_t *cluster, zsock_t *sock);

/*  h_cluster_new, every node started, a leader elected. */
zkv_cluster_t *h_cluster_start(const zkv_cluster_config_t *config, uint32_t *leader);

/*  Forget a cluster destroyed by the test. */
void h_cluster_forget(zkv_cluster_t *cluster);

/*  The end of a test that passed: no node exited on its own, every node is
    stopped with h_stop_clean, the cluster destroyed and forgotten. */
void h_cluster_finish(zkv_cluster_t **cluster_p);

/*  The agreed leader, waiting up to H_LEADER_MS. */
uint32_t h_leader(zkv_cluster_t *cluster);

/*  A counter or gauge without labels from node id's /metrics; -1 when it
    cannot be read. */
double h_metric(zkv_cluster_t *cluster, uint32_t id, const char *name);

/*  A follower that is running (not paused), other than leader. */
uint32_t h_follower(zkv_cluster_t *cluster, uint32_t leader);

/*  SIGTERM, then: it exited within H_STOP_MS with status 0 and its stderr has
    no sanitizer report. */
void h_stop_clean(zkv_cluster_t *cluster, uint32_t id);

/*  The node's stderr has no sanitizer report. */
void h_check_stderr(zkv_cluster_t *cluster, uint32_t id);

/*  No node has exited without being told to. */
void h_check_alive(zkv_cluster_t *cluster);

/*  A client of every node, trying home first. */
zkv_client_t *h_client(zkv_cluster_t *cluster, uint32_t home, int64_t timeout_ms,
                       size_t inflight_max);

/*  One operation; the status (ZKV__STATUS__*) or the client's negative error. */
int h_put(zkv_client_t *client, const char *key, const char *value);
int h_del(zkv_client_t *client, const char *key, bool *found);
/*  value receives the value, NUL-terminated, when found. endpoint: pinned, or NULL. */
int h_get(zkv_client_t *client, const char *key, bool serializable, const char *endpoint,
          char *value, size_t size);

/*  Keys and values of the bulk helpers: "<prefix><i>" -> "value-<prefix><i>-<pad>". */
void h_key(char *buf, const char *prefix, size_t i);
void h_value(char *buf, const char *prefix, size_t i);

/*  Put keys first..first+count-1 with up to window in flight; every one must be OK. */
void h_put_many(zkv_client_t *client, const char *prefix, size_t first, size_t count,
                size_t window);

/*  Get the same keys back (serializable and pinned to endpoint, or
    linearizable through any node when endpoint is NULL); the number that
    are present with the right value. */
size_t h_count_many(zkv_client_t *client, const char *prefix, size_t first, size_t count,
                    const char *endpoint, size_t window);

/*  h_count_many, repeated until every key is there (a follower catching up)
    or timeout_ms has passed; CHECKs that they all are. */
void h_expect_many(zkv_client_t *client, const char *prefix, size_t first, size_t count,
                   const char *endpoint, int64_t timeout_ms);

/*  A node's trace stream. */
typedef struct h_trace_t h_trace_t;

typedef struct {
    uint32_t node;
    char kind[32];
    char detail[512];
    uint64_t term;
    uint64_t index;
    uint32_t peer;
} h_event_t;

/*  Subscribe to the node's events whose topic ("<kind> <node>") starts with
    topic ("" for all). The subscription is only known to work once an event
    has come through (h_trace_wait). */
h_trace_t *h_trace_open(zkv_cluster_t *cluster, uint32_t id, const char *topic);
/*  Follow one more node's events on the same subscription. */
void h_trace_add(h_trace_t *self, zkv_cluster_t *cluster, uint32_t id);
void h_trace_close(h_trace_t **self_p);

/*  Wait for an event of kind (NULL: any) whose detail contains text (NULL: any) and, when
    peer is not 0, whose peer is that. true with it in event (may be NULL),
    false after timeout_ms. */
bool h_trace_wait(h_trace_t *self, const char *kind, const char *text, uint32_t peer,
                  int64_t timeout_ms, h_event_t *event);

#endif
