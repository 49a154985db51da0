/*  metrics: the shared block and its Prometheus text (metrics.h). */
#include "metrics.h"

#include <czmq.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "zkv.pb-c.h"

/*  Upper bounds: durations in ns (50 us .. 10 s) and sizes (1 .. 65,536), with
    their text in the le label. */
static const uint64_t s_duration_bounds[ZKV_HIST_BOUNDS] = {
    50000,     100000,     250000,     500000,     1000000,    2500000,
    5000000,   10000000,   25000000,   50000000,   100000000,  250000000,
    500000000, 1000000000, 2500000000, 5000000000, 10000000000};
static const char *s_duration_labels[ZKV_HIST_BOUNDS] = {
    "5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05",  "0.1",    "0.25",    "0.5",    "1",     "2.5",    "5",     "10"};
static const char *s_size_labels[ZKV_HIST_BOUNDS] = {
    "1",   "2",    "4",    "8",    "16",   "32",    "64",    "128",  "256",
    "512", "1024", "2048", "4096", "8192", "16384", "32768", "65536"};

zkv_metrics_t *zkv_metrics_new(uint32_t node_id)
{
    zkv_metrics_t *self = calloc(1, sizeof *self);
    if (self) {
        self->node_id = node_id;
        self->started_unix_s = (int64_t) time(NULL);
    }
    return self;
}

void zkv_metrics_destroy(zkv_metrics_t **self_p)
{
    free(*self_p);
    *self_p = NULL;
}

uint64_t zkv_metrics_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

void zkv_hist_duration(zkv_hist_t *h, uint64_t ns)
{
    size_t i = 0;
    while (i < ZKV_HIST_BOUNDS && ns > s_duration_bounds[i])
        i++;
    zkv_metric_add(&h->bucket[i], 1);
    zkv_metric_add(&h->sum, ns);
}

void zkv_hist_size(zkv_hist_t *h, uint64_t n)
{
    size_t i = 0;
    while (i < ZKV_HIST_BOUNDS && n > (1ull << i))
        i++;
    zkv_metric_add(&h->bucket[i], 1);
    zkv_metric_add(&h->sum, n);
}

/*  A slot by id: the one holding it, else the first free one, which is taken. */
static zkv_metric_t *s_slot(zkv_metric_t *first_id, size_t stride, uint32_t id)
{
    zkv_metric_t *free_slot = NULL;
    for (size_t i = 0; i < ZKV_MEMBERS_MAX; i++) {
        zkv_metric_t *slot = (zkv_metric_t *) ((char *) first_id + i * stride);
        uint64_t held = zkv_metric_get(slot);
        if (held == id)
            return slot;
        if (!held && !free_slot)
            free_slot = slot;
    }
    if (free_slot)
        zkv_metric_set(free_slot, id);
    return free_slot;
}

uint64_t zkv_metrics_replies_in_transit(const zkv_metrics_t *self)
{
    /* Taken first: what was passed on is counted before it goes, never after. */
    uint64_t taken = zkv_metric_get(&self->client.replies_taken_bytes);
    return zkv_metric_get(&self->storage.reply_bytes) - taken;
}

zkv_peer_metrics_t *zkv_metrics_peer(zkv_metrics_t *self, uint32_t id)
{
    zkv_metric_t *slot = s_slot(&self->raft.peers[0].id, sizeof self->raft.peers[0], id);
    return slot ? (zkv_peer_metrics_t *) ((char *) slot - offsetof(zkv_peer_metrics_t, id)) : NULL;
}

zkv_link_metrics_t *zkv_metrics_link(zkv_metrics_t *self, uint32_t id)
{
    zkv_metric_t *slot = s_slot(&self->trace.links[0].id, sizeof self->trace.links[0], id);
    return slot ? (zkv_link_metrics_t *) ((char *) slot - offsetof(zkv_link_metrics_t, id)) : NULL;
}

/* ---------------------------------------------------------------- text */

static void s_head(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void s_value(FILE *out, const char *name, const char *type, const char *help, uint64_t value)
{
    s_head(out, name, type, help);
    fprintf(out, "%s %" PRIu64 "\n", name, value);
}

#define S_COUNTER(out, name, help, m) s_value(out, name, "counter", help, zkv_metric_get(m))
#define S_GAUGE(out, name, help, m) s_value(out, name, "gauge", help, zkv_metric_get(m))

/*  One histogram's series; labels "" or `peer="2",` (with the comma). The
    count is the +Inf bucket, so the two always agree within a scrape. */
static void s_hist_series(FILE *out, const char *name, const char *labels, const zkv_hist_t *h,
                          bool duration)
{
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= ZKV_HIST_BOUNDS; i++) {
        cumulative += zkv_metric_get(&h->bucket[i]);
        const char *le = i == ZKV_HIST_BOUNDS ? "+Inf"
                         : duration           ? s_duration_labels[i]
                                              : s_size_labels[i];
        fprintf(out, "%s_bucket{%sle=\"%s\"} %" PRIu64 "\n", name, labels, le, cumulative);
    }
    uint64_t sum = zkv_metric_get(&h->sum);
    size_t cut = strlen(labels);
    cut = cut ? cut - 1 : 0; /* without the trailing comma */
    const char *open = cut ? "{" : "", *close = cut ? "}" : "";
    if (duration)
        fprintf(out, "%s_sum%s%.*s%s %" PRIu64 ".%09" PRIu64 "\n", name, open, (int) cut, labels,
                close, sum / 1000000000u, sum % 1000000000u);
    else
        fprintf(out, "%s_sum%s%.*s%s %" PRIu64 "\n", name, open, (int) cut, labels, close, sum);
    fprintf(out, "%s_count%s%.*s%s %" PRIu64 "\n", name, open, (int) cut, labels, close,
            cumulative);
}

static void s_hist(FILE *out, const char *name, const char *help, const zkv_hist_t *h,
                   bool duration)
{
    s_head(out, name, "histogram", help);
    s_hist_series(out, name, "", h, duration);
}

static void s_raft(FILE *out, const zkv_metrics_t *m)
{
    static const char *states[] = {"follower", "pre_candidate", "candidate", "leader"};
    s_head(out, "zkv_raft_state", "gauge", "1 for the Raft role this node has, 0 for the others.");
    uint64_t role = zkv_metric_get(&m->raft.role);
    for (uint64_t i = 0; i < 4; i++)
        fprintf(out, "zkv_raft_state{state=\"%s\"} %d\n", states[i], role == i);
    S_GAUGE(out, "zkv_raft_term", "Current Raft term.", &m->raft.term);
    S_GAUGE(out, "zkv_raft_leader_id", "Node id of the known leader (0: none known).",
            &m->raft.leader);
    s_value(out, "zkv_raft_has_leader", "gauge", "1 when this node knows a leader.",
            zkv_metric_get(&m->raft.leader) != 0);
    S_COUNTER(out, "zkv_raft_leader_changes_total", "Times this node saw a new leader.",
              &m->raft.leader_changes);
    S_GAUGE(out, "zkv_raft_commit_index", "Highest log index known committed.", &m->raft.commit);
    S_GAUGE(out, "zkv_raft_applied_index", "Highest log index applied to the state machine.",
            &m->raft.applied);
    S_GAUGE(out, "zkv_raft_log_bytes",
            "Memory of the Raft log since the last snapshot: entry data and the entry array.",
            &m->raft.log_bytes);
    S_GAUGE(out, "zkv_raft_leader_commit_index",
            "The leader's commit index as last heard from it (its own on the leader).",
            &m->raft.leader_commit);
    S_COUNTER(out, "zkv_raft_proposals_total", "Commands proposed to the log by this node.",
              &m->raft.proposals);
    S_COUNTER(out, "zkv_raft_proposals_refused_total",
              "Commands the Raft core refused (not the leader, too much uncommitted).",
              &m->raft.proposals_refused);
    s_hist(out, "zkv_raft_proposal_batch_commands", "Commands per proposal batch.",
           &m->raft.proposal_batch, false);
}

static void s_peers(FILE *out, const zkv_metrics_t *m)
{
    S_COUNTER(out, "zkv_peer_refused_messages_total",
              "Peer messages dropped as malformed, over a limit or from another member's key.",
              &m->raft.peer_refused);
    static const char *names[] = {"zkv_peer_messages_sent_total",
                                  "zkv_peer_messages_received_total"};
    static const char *helps[] = {"Raft messages sent to the peer (a broadcast counts once).",
                                  "Raft messages from the peer admitted."};
    for (int k = 0; k < 2; k++) {
        s_head(out, names[k], "counter", helps[k]);
        for (size_t i = 0; i < ZKV_MEMBERS_MAX; i++) {
            const zkv_peer_metrics_t *p = &m->raft.peers[i];
            if (zkv_metric_get(&p->id))
                fprintf(out, "%s{peer=\"%" PRIu64 "\"} %" PRIu64 "\n", names[k],
                        zkv_metric_get(&p->id), zkv_metric_get(k ? &p->received : &p->sent));
        }
    }
    s_head(out, "zkv_peer_round_trip_seconds", "histogram",
           "From an append sent to the peer to its acknowledgement (sampled).");
    for (size_t i = 0; i < ZKV_MEMBERS_MAX; i++) {
        const zkv_peer_metrics_t *p = &m->raft.peers[i];
        char labels[32];
        snprintf(labels, sizeof labels, "peer=\"%" PRIu64 "\",", zkv_metric_get(&p->id));
        if (zkv_metric_get(&p->id))
            s_hist_series(out, "zkv_peer_round_trip_seconds", labels, &p->round_trip, true);
    }
    s_head(out, "zkv_peer_connected", "gauge",
           "1 while the connection to the peer's ROUTER is up (handshake done).");
    for (size_t i = 0; i < ZKV_MEMBERS_MAX; i++) {
        const zkv_link_metrics_t *l = &m->trace.links[i];
        if (zkv_metric_get(&l->id))
            fprintf(out, "zkv_peer_connected{peer=\"%" PRIu64 "\"} %" PRIu64 "\n",
                    zkv_metric_get(&l->id), zkv_metric_get(&l->connected));
    }
}

static void s_storage(FILE *out, const zkv_metrics_t *m)
{
    s_hist(out, "zkv_wal_fsync_duration_seconds", "One sync of the write-ahead log.",
           &m->wal.fsync_seconds, true);
    s_hist(out, "zkv_wal_fsync_entries", "Log entries made durable by one sync.",
           &m->wal.entries_per_fsync, false);
    S_COUNTER(out, "zkv_wal_written_bytes_total", "Bytes appended to the write-ahead log.",
              &m->wal.written_bytes);
    S_GAUGE(out, "zkv_wal_size_bytes", "Bytes of the write-ahead log's segment files.",
            &m->wal.bytes);
    S_GAUGE(out, "zkv_wal_segments", "Segment files of the write-ahead log.", &m->wal.segments);
    S_COUNTER(out, "zkv_storage_applied_entries_total", "Log entries applied.",
              &m->storage.applied_entries);
    S_GAUGE(out, "zkv_storage_keys", "Keys in the state machine.", &m->storage.keys);
    S_GAUGE(out, "zkv_storage_tree_bytes",
            "Memory of the B+ tree: nodes, keys, values and metadata (malloc's own not counted).",
            &m->storage.tree_bytes);
    S_GAUGE(out, "zkv_sessions", "Client sessions the state machine holds.", &m->storage.sessions);
    S_GAUGE(out, "zkv_leases", "Leases granted and not yet revoked.", &m->storage.leases);
    S_COUNTER(out, "zkv_snapshots_total", "Snapshots this node wrote.", &m->storage.snapshots);
    S_COUNTER(out, "zkv_snapshot_failures_total", "Snapshots that could not be written.",
              &m->storage.snapshot_failures);
    s_hist(out, "zkv_snapshot_duration_seconds", "Writing one snapshot.",
           &m->storage.snapshot_seconds, true);
    S_GAUGE(out, "zkv_snapshot_size_bytes", "Size of the newest snapshot.",
            &m->storage.snapshot_bytes);
    S_GAUGE(out, "zkv_snapshot_index", "Log index the newest snapshot holds everything up to.",
            &m->storage.snapshot_index);
    S_COUNTER(out, "zkv_snapshot_installs_total", "Leader snapshots installed.",
              &m->storage.installs);
}

static const char *s_op_name(size_t op)
{
    if (op == 0)
        return "malformed";
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&zkv__request__descriptor, (unsigned) op);
    return f ? f->name : "unknown";
}

static const char *s_status_name(size_t status)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&zkv__status__descriptor, (int) status);
    return v ? v->name : "UNKNOWN";
}

static void s_client(FILE *out, const zkv_metrics_t *m)
{
    s_head(out, "zkv_client_requests_total", "counter",
           "Client requests answered, by operation and status.");
    for (size_t op = 0; op < ZKV_METRICS_OPS; op++)
        for (size_t st = 0; st < ZKV_METRICS_STATUSES; st++) {
            uint64_t n = zkv_metric_get(&m->client.requests[op][st]);
            if (n)
                fprintf(out, "zkv_client_requests_total{op=\"%s\",status=\"%s\"} %" PRIu64 "\n",
                        s_op_name(op), s_status_name(st), n);
        }
    s_head(out, "zkv_client_request_duration_seconds", "histogram",
           "From a request's arrival to its answer, by operation.");
    for (size_t op = 0; op < ZKV_METRICS_OPS; op++) {
        const zkv_hist_t *h = &m->client.latency[op];
        uint64_t count = 0;
        for (size_t i = 0; i <= ZKV_HIST_BOUNDS; i++)
            count += zkv_metric_get(&h->bucket[i]);
        char labels[64];
        snprintf(labels, sizeof labels, "op=\"%s\",", s_op_name(op));
        if (count)
            s_hist_series(out, "zkv_client_request_duration_seconds", labels, h, true);
    }
    S_GAUGE(out, "zkv_client_requests_in_flight", "Requests awaiting their answer.",
            &m->client.in_flight);
    S_GAUGE(out, "zkv_client_reply_bytes",
            "Bytes of replies handed to clients' connections and not yet written out.",
            &m->client.reply_bytes);
    s_value(out, "zkv_client_replies_in_transit_bytes", "gauge",
            "Bytes of read replies the storage actor passed on and the client actor has not "
            "taken yet.",
            zkv_metrics_replies_in_transit(m));
    S_COUNTER(out, "zkv_client_replies_shed_total",
              "Replies dropped because a client, or all of them, held too many bytes unread.",
              &m->client.replies_shed);
    S_COUNTER(out, "zkv_watch_events_total", "Changes published to watchers.", &m->watch.events);
    S_COUNTER(out, "zkv_watch_cut_offs_total",
              "Times the watch port dropped every watcher (one was too slow).", &m->watch.cut_offs);
    S_COUNTER(out, "zkv_watch_catch_ups_total", "Catch-up requests served from the history.",
              &m->watch.catch_ups);
    S_GAUGE(out, "zkv_watch_history_events", "Changes kept for watchers to catch up from.",
            &m->watch.history_events);
    S_GAUGE(out, "zkv_watch_history_bytes",
            "Keys and values of the changes kept, with a fixed 64 bytes each beside them.",
            &m->watch.history_bytes);
}

static void s_auth(FILE *out, const zkv_metrics_t *m)
{
    static const char *const domains[ZKV_METRICS_DOMAINS] = {"peer", "client", "trace"};
    s_head(out, "zkv_auth_handshakes_total", "counter",
           "CURVE handshakes the node's ZAP handler answered, by socket domain and result.");
    for (size_t i = 0; i < ZKV_METRICS_DOMAINS; i++)
        fprintf(out,
                "zkv_auth_handshakes_total{domain=\"%s\",result=\"accepted\"} %" PRIu64 "\n"
                "zkv_auth_handshakes_total{domain=\"%s\",result=\"refused\"} %" PRIu64 "\n",
                domains[i], zkv_metric_get(&m->auth.accepted[i]), domains[i],
                zkv_metric_get(&m->auth.refused[i]));
}

/*  process_*: the names every Prometheus client library uses. */
static void s_process(FILE *out, const zkv_metrics_t *m)
{
    long page = sysconf(_SC_PAGESIZE);
    unsigned long long size = 0, resident = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (statm) {
        if (fscanf(statm, "%llu %llu", &size, &resident) != 2)
            size = resident = 0;
        fclose(statm);
    }
    s_value(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
            (uint64_t) resident * (uint64_t) page);
    s_value(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
            (uint64_t) size * (uint64_t) page);
    struct timespec cpu;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    s_head(out, "process_cpu_seconds_total", "counter", "User and system CPU time in seconds.");
    fprintf(out, "process_cpu_seconds_total %.3f\n", (double) cpu.tv_sec + cpu.tv_nsec / 1e9);
    uint64_t fds = 0;
    DIR *dir = opendir("/proc/self/fd");
    if (dir) {
        for (struct dirent *e; (e = readdir(dir));)
            fds += e->d_name[0] != '.';
        closedir(dir);
    }
    s_value(out, "process_open_fds", "gauge", "Open file descriptors.", fds);
    s_value(out, "process_max_fds", "gauge", "Limit of open file descriptors.",
            (uint64_t) sysconf(_SC_OPEN_MAX));
    s_value(out, "process_start_time_seconds", "gauge",
            "Start time of the process since the Unix epoch in seconds.",
            (uint64_t) m->started_unix_s);
}

char *zkv_metrics_text(const zkv_metrics_t *self, size_t *size_p)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (!out)
        return NULL;
    s_value(out, "zkv_node_id", "gauge", "This node's id in its cluster.", self->node_id);
    s_raft(out, self);
    s_peers(out, self);
    s_storage(out, self);
    s_client(out, self);
    s_auth(out, self);
    s_process(out, self);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    *size_p = size;
    return text;
}
