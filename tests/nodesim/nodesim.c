/*  nodesim: the nodes, their network, the scheduler and the checks (nodesim.h). */
#include "nodesim_int.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>

#include "inproc.h"
#include "peer_codec.h"
#include "splitmix.h"
#include "zkv_error.h"

/* ---------------------------------------------------------------- world */

uint64_t ns_random(ns_world_t *w, uint64_t n)
{
    return n ? zkv_splitmix64(&w->rng) % n : 0;
}

void ns_fail(ns_world_t *w, const char *fmt, ...)
{
    if (w->failed)
        return;
    w->failed = true;
    va_list args;
    va_start(args, fmt);
    int at = snprintf(w->why, sizeof w->why, "t=%" PRId64 "ms: ", w->now);
    vsnprintf(w->why + at, sizeof w->why - (size_t) at, fmt, args);
    va_end(args);
}

void ns_note(ns_world_t *w, const char *fmt, ...)
{
    if (!w->opt.trace)
        return;
    va_list args;
    va_start(args, fmt);
    fprintf(w->out, "%8" PRId64 " ", w->now);
    vfprintf(w->out, fmt, args);
    fputc('\n', w->out);
    va_end(args);
}

static bool s_chance(ns_world_t *w, uint64_t per_mille)
{
    return ns_random(w, 1000) < per_mille;
}

/* ---------------------------------------------------------------- queues */

void ns_enqueue(ns_node_t *n, zkv_actor_id_t to, zkv_actor_id_t from, zkv_msg_t *msg)
{
    ns_item_t *item = zmalloc(sizeof *item);
    item->msg = *msg;
    *msg = (zkv_msg_t){0};
    ns_queue_t *q = &n->q[to][from];
    if (q->tail)
        q->tail->next = item;
    else
        q->head = item;
    q->tail = item;
    q->n++;
}

static ns_item_t *s_dequeue(ns_queue_t *q)
{
    ns_item_t *item = q->head;
    q->head = item->next;
    if (!q->head)
        q->tail = NULL;
    q->n--;
    return item;
}

static void s_queue_clear(ns_queue_t *q)
{
    while (q->n) {
        ns_item_t *item = s_dequeue(q);
        zkv_msg_clear(&item->msg);
        free(item);
    }
}

static void s_requests_clear(ns_node_t *n)
{
    while (n->requests) {
        ns_request_t *r = n->requests;
        n->requests = r->next;
        zframe_destroy(&r->routing);
        zframe_destroy(&r->body);
        free(r);
    }
    n->requests_end = &n->requests;
}

void ns_request_enqueue(ns_node_t *n, ns_request_t *r)
{
    if (!n->requests_end)
        n->requests_end = &n->requests;
    r->next = NULL;
    *n->requests_end = r;
    n->requests_end = &r->next;
}

/*  The next request to node n's client actor, as its ROUTER would read it. */
static void s_deliver_request(ns_node_t *n)
{
    ns_request_t *r = n->requests;
    n->requests = r->next;
    if (!n->requests)
        n->requests_end = &n->requests;
    zkv_front_request(n->front, r->routing, r->body);
    zframe_destroy(&r->routing);
    zframe_destroy(&r->body);
    free(r);
}

/* ---------------------------------------------------------------- ports */

static int s_port_send(void *ctx, zkv_actor_id_t to, zkv_msg_t *msg)
{
    ns_ctx_t *c = ctx;
    /* A large snapshot takes a while to write: storage goes on meanwhile. */
    if (to == ZKV_ACTOR_DISK && msg->type == ZKV_MSG_WRITE_SNAPSHOT)
        c->n->disk_ready_at = c->w->now + (int64_t) ns_random(c->w, 600);
    ns_enqueue(c->n, to, c->from, msg);
    return 0;
}

static void s_send_packet(ns_world_t *w, const zkv_raft_msg_t *msg, uint32_t from, uint32_t to,
                          zframe_t *frame)
{
    if (w->links[from][to] != NS_LINK_UP) {
        zframe_destroy(&frame);
        return;
    }
    ns_packet_t *p = zmalloc(sizeof *p);
    p->from = from;
    p->to = to;
    p->at = w->now + 1 + (int64_t) ns_random(w, 15);
    if (s_chance(w, 5)) /* a slow path: a deposed leader's message arrives late */
        p->at += 100 + (int64_t) ns_random(w, 900);
    p->frame = frame;
    p->last_chunk = msg->type == ZKV_RAFT_MSG_SNAPSHOT && msg->chunk_last;
    p->next = w->net;
    w->net = p;
}

static void s_port_reply(void *ctx, zframe_t *routing, zframe_t **body_p)
{
    ns_ctx_t *c = ctx;
    ns_client_reply(c->w, c->n, routing, *body_p);
    zframe_destroy(body_p);
}

static int64_t s_port_now(void *ctx)
{
    ns_ctx_t *c = ctx;
    return c->w->now;
}

/*  Broadcasts go over PUB, which may drop; point-to-point messages only
    die with their link. */
static void s_port_peer(void *ctx, const zkv_raft_msg_t *msg, uint64_t cluster_id)
{
    ns_ctx_t *c = ctx;
    ns_world_t *w = c->w;
    zframe_t *frame = zkv_peer_encode(msg, cluster_id);
    if (!frame)
        return;
    for (uint32_t to = 1; to <= w->opt.nodes; to++) {
        bool mine = msg->to == to || (msg->to == ZKV_RAFT_BROADCAST && to != c->n->id);
        if (mine && !(msg->to == ZKV_RAFT_BROADCAST && s_chance(w, 20)))
            s_send_packet(w, msg, c->n->id, to, zframe_dup(frame));
    }
    zframe_destroy(&frame);
}

/*  The log handler's acknowledgements travel as the replication handler's do. */
static void s_port_ack(void *ctx, const zkv_raft_msg_t *msg, uint64_t cluster_id, const char *host,
                       uint16_t port)
{
    (void) host;
    (void) port;
    s_port_peer(ctx, msg, cluster_id);
}

/* ---------------------------------------------------------------- nodes */

static void s_node_config(ns_world_t *w, ns_node_t *n)
{
    zkv_config_t *c = &n->config;
    memset(c, 0, sizeof *c);
    c->id = n->id;
    for (uint32_t i = 0; i < w->opt.nodes; i++) {
        c->members[i].id = i + 1;
        snprintf(c->members[i].host, sizeof c->members[i].host, "node%u", i + 1);
        c->members[i].pub_port = 7201;
        c->members[i].router_port = 7301;
        c->members[i].client_port = 7101;
    }
    c->member_count = w->opt.nodes;
    snprintf(c->data_dir, sizeof c->data_dir, "data");
    c->snapshot_entries = NS_SNAPSHOT_ENTRIES;
    c->watch_history_events = 500; /* small: histories evict while watched */
    c->watch_history_bytes = 64 * 1024;
    c->snapshot_bytes = UINT64_MAX;
    c->log_memory_bytes = 512; /* small: lagging followers get entries read back */
    c->wal_segment_bytes = 16 * 1024;
    c->tick_ms = NS_TICK_MS;
    c->election_ticks = NS_ELECTION_TICKS;
    c->heartbeat_ticks = NS_HEARTBEAT_TICKS;
    c->snapshot_chunk_bytes = 64; /* transfers of many chunks, interleaved */
}

/*  A node stopped on its full or failing disk, as it must; the operator
    frees space or mends the disk and starts it again a little later. */
static void s_mend_disk(ns_world_t *w, ns_node_t *n)
{
    zkv_fs_mem_set_capacity(n->fs, UINT64_MAX);
    zkv_fs_mem_disarm(n->fs);
    n->disk_full = n->disk_failing = false;
    n->back_at = w->now + 50 + (int64_t) ns_random(w, 200);
    w->stats->disk_stops++;
    ns_note(w, "node %u stopped on its disk; space is freed, the disk mended", n->id);
}

/*  Whether err is the cause a full or failing disk of n gives. */
static bool s_disk_cause(const ns_node_t *n, const char *err)
{
    return (n->disk_full && strstr(err, strerror(ENOSPC))) ||
           (n->disk_failing && strstr(err, strerror(EIO)));
}

/*  Boot from whatever the disk holds and start the handlers. A boot on a
    full or failing disk may stop, saying why. */
static void s_node_start(ns_world_t *w, ns_node_t *n)
{
    zkv_boot_t boot;
    char err[512];
    const zkv_fs_t *fs = zkv_fs_mem_fs(n->fs);
    uint64_t seed = w->opt.seed * 31 + n->id * 7 + n->booted++ + 1;
    if (zkv_boot_on(&n->config, fs, seed, &boot, err, sizeof err) != 0) {
        if (s_disk_cause(n, err))
            s_mend_disk(w, n);
        else
            ns_fail(w, "node %u cannot boot from what its disk kept: %s", n->id, err);
        return;
    }
    for (int a = 0; a < ZKV_ACTOR_COUNT; a++)
        n->ctx[a] = (ns_ctx_t){w, n, (zkv_actor_id_t) a};
    if (!n->metrics)
        n->metrics = zkv_metrics_new(n->id);
    zkv_metrics_t *m = n->metrics;
    zkv_port_t log_port = {
        .ctx = &n->ctx[ZKV_ACTOR_LOG], .metrics = m, .send = s_port_send, .ack = s_port_ack};
    zkv_port_t storage_port = {
        .ctx = &n->ctx[ZKV_ACTOR_STORAGE], .metrics = m, .send = s_port_send};
    zkv_port_t repl_port = {.ctx = &n->ctx[ZKV_ACTOR_REPLICATION],
                            .metrics = m,
                            .send = s_port_send,
                            .peer = s_port_peer};
    zkv_port_t client_port = {.ctx = &n->ctx[ZKV_ACTOR_CLIENT],
                              .metrics = m,
                              .send = s_port_send,
                              .reply = s_port_reply,
                              .now_ms = s_port_now};
    n->disk = (zkv_disk_t){
        .fs = fs, .port = {.ctx = &n->ctx[ZKV_ACTOR_DISK], .metrics = m, .send = s_port_send}};
    n->log = zkv_log_new(&boot.wal, &log_port, NULL);
    zkv_storage_start_t start = {boot.snapshot_term, boot.members, boot.members_size,
                                 boot.snapshot_path};
    n->storage = zkv_storage_new(&n->config, fs, &boot.kv, &start, &storage_port, NULL);
    ns_watch_start(w, n);
    zkv_storage_announce(n->storage);
    n->repl = zkv_repl_new(&n->config, fs, &boot.raft, boot.snapshot_path, &boot.cluster,
                           &repl_port, NULL);
    n->front = zkv_front_new(&n->config, &client_port, NULL);
    zkv_boot_clear(&boot);
    n->up = true;
    n->leads = false;
    n->busy_until = 0;
    n->next_tick = w->now + NS_TICK_MS;
    zkv_msg_t count = {.type = ZKV_MSG_COUNT};
    ns_enqueue(n, ZKV_ACTOR_STORAGE, ZKV_ACTOR_CLIENT, &count);
}

/*  kill -9: what the disk had not synced is lost (a torn tail, sometimes);
    so is everything in the node's queues and on its way to it. */
static void s_node_crash(ns_world_t *w, ns_node_t *n)
{
    bool torn = s_chance(w, 300);
    zkv_fs_mem_crash(n->fs, torn ? ZKV_FS_MEM_TORN : ZKV_FS_MEM_LOSE_UNSYNCED, &w->rng);
    zkv_log_destroy(&n->log); /* its last sync fails: the handles died with the crash */
    zkv_storage_destroy(&n->storage);
    zkv_repl_destroy(&n->repl);
    zkv_front_destroy(&n->front);
    zkv_watch_hub_destroy(&n->watch);
    for (int to = 0; to < ZKV_ACTOR_COUNT; to++)
        for (int from = 0; from < ZKV_ACTOR_COUNT; from++)
            s_queue_clear(&n->q[to][from]);
    s_requests_clear(n);
    n->up = false;
    w->stats->crashes++;
    w->stats->torn += torn;
    ns_note(w, "node %u crashes%s", n->id, torn ? " (torn tail)" : "");
}

static uint32_t s_down(const ns_world_t *w)
{
    uint32_t down = 0;
    for (uint32_t i = 0; i < w->opt.nodes; i++)
        down += !w->nodes[i].up;
    return down;
}

static void s_node_free(ns_node_t *n)
{
    zkv_log_destroy(&n->log);
    zkv_storage_destroy(&n->storage);
    zkv_repl_destroy(&n->repl);
    zkv_front_destroy(&n->front);
    zkv_watch_hub_destroy(&n->watch);
    zkv_metrics_destroy(&n->metrics);
    free(n->pub);
    for (int to = 0; to < ZKV_ACTOR_COUNT; to++)
        for (int from = 0; from < ZKV_ACTOR_COUNT; from++)
            s_queue_clear(&n->q[to][from]);
    s_requests_clear(n);
    zkv_fs_mem_destroy(&n->fs);
}

/* ---------------------------------------------------------------- checks */

static uint64_t s_hash(const uint8_t *data, size_t size)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 0x100000001b3ull;
    return h;
}

/*  State machine safety, across the whole node: no two nodes ever apply
    different entries at one index. */
static void s_check_apply(ns_world_t *w, ns_node_t *n, const zkv_msg_t *msg)
{
    zkv_unpacker_t in;
    zkv_unpacker_init(&in, msg->body);
    zkv_raft_entry_t e;
    while (zkv_unpack_entry(&in, &e) == 1) {
        if (e.index >= w->applied_cap) {
            size_t cap = e.index * 2 + 1024;
            w->applied_term = realloc(w->applied_term, cap * sizeof *w->applied_term);
            w->applied_hash = realloc(w->applied_hash, cap * sizeof *w->applied_hash);
            memset(w->applied_term + w->applied_cap, 0, (cap - w->applied_cap) * sizeof(uint64_t));
            memset(w->applied_hash + w->applied_cap, 0, (cap - w->applied_cap) * sizeof(uint64_t));
            w->applied_cap = cap;
        }
        uint64_t h = s_hash(e.data, e.size) ^ e.type;
        if (w->applied_term[e.index] == 0) {
            w->applied_term[e.index] = e.term;
            w->applied_hash[e.index] = h;
        } else if (w->applied_term[e.index] != e.term || w->applied_hash[e.index] != h)
            ns_fail(w,
                    "node %u applies entry %" PRIu64 " of term %" PRIu64
                    " where another node applied one of term %" PRIu64,
                    n->id, e.index, e.term, w->applied_term[e.index]);
    }
}

/*  Election safety: one leader per term. */
static void s_check_leaders(ns_world_t *w)
{
    for (uint32_t i = 0; i < w->opt.nodes; i++) {
        ns_node_t *n = &w->nodes[i];
        if (!n->up)
            continue;
        zkv_raft_status_t st;
        zkv_raft_status(zkv_repl_raft(n->repl), &st);
        if (st.role != ZKV_RAFT_LEADER || st.term >= NS_TERMS_MAX)
            continue;
        if (w->term_leader[st.term] == 0) {
            w->term_leader[st.term] = n->id;
            w->stats->leaders++;
            ns_note(w, "node %u leads term %" PRIu64, n->id, st.term);
        } else if (w->term_leader[st.term] != n->id)
            ns_fail(w, "two leaders in term %" PRIu64 ": nodes %u and %u", st.term,
                    w->term_leader[st.term], n->id);
    }
}

/*  A snapshot the core accepted in full was stored by the host: installing
    it fails only on a disk fault (status 2, which stops the node). A failed
    transfer (1) means the host lost or mislabelled chunks, or took its full
    disk for the leader's fault. */
static void s_check_installed(ns_world_t *w, ns_node_t *n, const zkv_msg_t *msg)
{
    if (msg->type != ZKV_MSG_INSTALLED || msg->installed.status != 1)
        return;
    if (n->disk_failing)
        return; /* a call failed on purpose: the transfer may well have */
    if (n->disk_full)
        ns_fail(w, "node %u reports its full disk as a failed transfer of snapshot %" PRIu64, n->id,
                msg->installed.index);
    else
        ns_fail(w,
                "node %u could not install snapshot %" PRIu64
                " that it received in full, on a disk that works",
                n->id, msg->installed.index);
}

/* ---------------------------------------------------------------- scheduling */

/*  The node's log holds entries past the snapshot it installs, of another
    history than the snapshot's: the one point where a crash tests that boot
    throws them away. */
static bool s_log_diverges(const ns_node_t *n, uint64_t index, uint64_t term)
{
    const zkv_wal_t *wal = zkv_log_wal(n->log);
    uint64_t held;
    return zkv_wal_last_index(wal) > index && zkv_wal_term(wal, index, &held) == ZKV_OK &&
           held != term;
}

/*  One message from one of the node's queues to its actor. While the
    replication handler installs a snapshot, its shell reads only storage. */
static void s_deliver(ns_world_t *w, ns_node_t *n, zkv_actor_id_t to, zkv_actor_id_t from)
{
    ns_item_t *item = s_dequeue(&n->q[to][from]);
    zkv_msg_t *msg = &item->msg;
    w->stats->delivered++;
    if (to == ZKV_ACTOR_LOG)
        zkv_log_handle(n->log, msg);
    else if (to == ZKV_ACTOR_STORAGE) {
        if (msg->type == ZKV_MSG_APPLY)
            s_check_apply(w, n, msg);
        bool install = msg->type == ZKV_MSG_INSTALL;
        bool stale = install && s_log_diverges(n, msg->install.index, msg->install.term);
        w->stats->installs += install;
        w->stats->stale_installs += stale;
        zkv_storage_handle(n->storage, msg);
        /* The snapshot is in place; the log's restart after it is not
           durable yet: a crash here must leave a directory that boots. Over
           a stale log, the node restarts at once, also once the faults end. */
        bool crash = stale ? s_chance(w, 500)
                           : w->faults && s_chance(w, 100) && s_down(w) < (w->opt.nodes - 1) / 2;
        if (crash) {
            zkv_msg_clear(msg);
            free(item);
            s_node_crash(w, n);
            if (stale)
                s_node_start(w, n);
            return;
        }
    } else if (to == ZKV_ACTOR_REPLICATION) {
        if (from == ZKV_ACTOR_CLIENT && msg->type == ZKV_MSG_PROPOSE)
            ns_lease_check_proposal(w, n, msg);
        s_check_installed(w, n, msg);
        zkv_repl_handle(n->repl, from, msg);
    } else if (to == ZKV_ACTOR_WATCH) {
        ns_watch_handle(w, n, msg);
    } else if (to == ZKV_ACTOR_DISK) {
        /* A snapshot is written only now, from a view of the tree as it was
           when asked: storage may have applied (or installed) much since. */
        if (msg->type == ZKV_MSG_WRITE_SNAPSHOT) {
            const zkv_snapshot_job_t *job = zkv_snapshot_job_of(msg);
            w->stats->snapshots++;
            w->stats->late_snapshots +=
                zkv_kvstore_applied(zkv_storage_kv(n->storage)) != job->meta.index;
        }
        zkv_disk_handle(&n->disk, msg);
    } else {
        ns_client_actor_sees(w, n, msg);
        zkv_front_handle(n->front, msg);
    }
    zkv_msg_clear(msg);
    free(item);
}

static bool s_may_deliver(const ns_node_t *n, int64_t now, zkv_actor_id_t to, zkv_actor_id_t from)
{
    if (n->q[to][from].n == 0)
        return false;
    if (to == ZKV_ACTOR_DISK && now < n->disk_ready_at)
        return false;
    return to != ZKV_ACTOR_REPLICATION || !zkv_repl_installing(n->repl) ||
           from == ZKV_ACTOR_STORAGE;
}

#define NS_QUEUES (ZKV_ACTOR_COUNT * ZKV_ACTOR_COUNT + 1) /* per node; the last: requests */

/*  Pick a queue with something deliverable, at random. */
static bool s_deliver_any(ns_world_t *w)
{
    uint32_t choices[NS_NODES_MAX * NS_QUEUES];
    uint32_t k = 0;
    for (uint32_t i = 0; i < w->opt.nodes; i++) {
        if (!w->nodes[i].up)
            continue;
        for (int to = 0; to < ZKV_ACTOR_COUNT; to++)
            for (int from = 0; from < ZKV_ACTOR_COUNT; from++)
                if (s_may_deliver(&w->nodes[i], w->now, (zkv_actor_id_t) to, (zkv_actor_id_t) from))
                    choices[k++] =
                        i * NS_QUEUES + (uint32_t) to * ZKV_ACTOR_COUNT + (uint32_t) from;
        if (w->nodes[i].requests)
            choices[k++] = i * NS_QUEUES + NS_QUEUES - 1;
    }
    if (k == 0)
        return false;
    uint32_t c = choices[ns_random(w, k)];
    ns_node_t *n = &w->nodes[c / NS_QUEUES];
    c %= NS_QUEUES;
    if (c == NS_QUEUES - 1) {
        s_deliver_request(n);
        return true;
    }
    s_deliver(w, n, (zkv_actor_id_t) (c / ZKV_ACTOR_COUNT % ZKV_ACTOR_COUNT),
              (zkv_actor_id_t) (c % ZKV_ACTOR_COUNT));
    return true;
}

/*  An actor ends its round: the log syncs, replication acts on its Ready,
    the client actor proposes the writes it took and times requests out. */
static void s_round(ns_world_t *w, ns_node_t *n)
{
    uint64_t r = ns_random(w, 3);
    if (r == 0)
        zkv_log_round(n->log);
    else if (r == 1 && w->now >= n->busy_until)
        zkv_repl_ready(n->repl);
    else if (r == 2)
        zkv_front_round(n->front);
}

static void s_ticks(ns_world_t *w)
{
    for (uint32_t i = 0; i < w->opt.nodes; i++) {
        ns_node_t *n = &w->nodes[i];
        while (n->up && n->next_tick <= w->now && !zkv_repl_installing(n->repl)) {
            zkv_repl_tick(n->repl);
            n->next_tick += NS_TICK_MS;
        }
    }
}

static void s_trace_packet(ns_world_t *w, const ns_packet_t *p)
{
    zkv_raft_msg_t m;
    uint64_t cluster_id;
    zkv_peer_decoded_t *d =
        zkv_peer_decode(zframe_data(p->frame), zframe_size(p->frame), &m, &cluster_id);
    if (!d)
        return;
    ns_note(w, "%u -> %u %s term %" PRIu64 " index %" PRIu64 " entries %zu commit %" PRIu64 "%s",
            p->from, p->to, zkv_raft_msg_type_name(m.type), m.term, m.index, m.n_entries, m.commit,
            m.reject ? " reject" : "");
    zkv_peer_decoded_destroy(&d);
}

/*  Packets whose time has come, unless their link died on the way or their
    node is down; a node installing a snapshot leaves them in its socket. */
static void s_network(ns_world_t *w)
{
    ns_packet_t **link = &w->net;
    while (*link && !w->failed) {
        ns_packet_t *p = *link;
        ns_node_t *to = &w->nodes[p->to - 1];
        bool wait = p->at > w->now || (to->up && zkv_repl_installing(to->repl));
        if (wait) {
            link = &p->next;
            continue;
        }
        *link = p->next;
        if (to->up && w->links[p->from][p->to] == NS_LINK_UP) {
            if (w->opt.trace)
                s_trace_packet(w, p);
            zkv_repl_peer(to->repl, zframe_data(p->frame), zframe_size(p->frame), 0);
            w->stats->packets++;
            /* A snapshot just arrived in full: the replication actor is
               sometimes busy a while before its Ready, so more (another
               snapshot's chunks, say) comes into that Ready, as zkvd steps
               up to 4,096 messages into one. */
            if (p->last_chunk && s_chance(w, 300))
                to->busy_until = w->now + 10 + (int64_t) ns_random(w, 400);
        }
        zframe_destroy(&p->frame);
        free(p);
    }
}

/* ---------------------------------------------------------------- faults */

/*  A cut link stays dead after the heal until the connection is made again,
    as long as the peer sockets may take to notice (zkv_repl_dead_link_ms). */
static void s_links(ns_world_t *w)
{
    for (uint32_t a = 1; a <= w->opt.nodes; a++)
        for (uint32_t b = 1; b <= w->opt.nodes; b++)
            if (w->links[a][b] == NS_LINK_DEAD && w->now >= w->link_back[a][b])
                w->links[a][b] = NS_LINK_UP;
}

/*  A leader cut off keeps taking writes until it learns it was deposed:
    often a burst of them, which its log keeps past the index where the
    others go on (and past their next snapshot) until the new leader
    replaces them. */
static void s_cut(ns_world_t *w, ns_node_t *n)
{
    for (uint32_t o = 1; o <= w->opt.nodes; o++)
        if (o != n->id)
            w->links[n->id][o] = w->links[o][n->id] = NS_LINK_CUT;
    w->stats->cuts++;
    ns_note(w, "node %u cut off", n->id);
    if (n->up && n->leads && s_chance(w, 500))
        ns_clients_burst(w, n, 1 + (uint32_t) ns_random(w, 12 * NS_SNAPSHOT_ENTRIES));
}

static void s_heal(ns_world_t *w)
{
    int64_t bound = (int64_t) zkv_repl_dead_link_ms(&w->nodes[0].config);
    for (uint32_t a = 1; a <= w->opt.nodes; a++)
        for (uint32_t b = 1; b <= w->opt.nodes; b++)
            if (w->links[a][b] == NS_LINK_CUT) {
                w->links[a][b] = NS_LINK_DEAD;
                w->link_back[a][b] = w->now + (int64_t) ns_random(w, (uint64_t) bound + 1);
            }
    ns_note(w, "links healed");
}

/*  A peer sends what no node of ours would: an append, in the term and
    name of the node's leader, whose entry is one byte over the limit. It
    must be refused and counted; the node goes on. */
static void s_oversized_append(ns_world_t *w, ns_node_t *n)
{
    zkv_raft_status_t st;
    zkv_raft_status(zkv_repl_raft(n->repl), &st);
    uint64_t prev_term = 0;
    if (st.leader == 0 || st.leader == n->id || zkv_repl_installing(n->repl) ||
        zkv_raft_term_at(zkv_repl_raft(n->repl), st.last_index, &prev_term) != ZKV_OK)
        return;
    size_t size = ZKV_ENTRY_SIZE_MAX + 1;
    uint8_t *data = calloc(1, size);
    zkv_raft_entry_t e = {
        .index = st.last_index + 1, .term = st.term, .data = data, .size = (uint32_t) size};
    zkv_raft_msg_t m = {.type = ZKV_RAFT_MSG_APPEND,
                        .from = st.leader,
                        .to = n->id,
                        .term = st.term,
                        .index = st.last_index,
                        .log_term = prev_term,
                        .entries = &e,
                        .n_entries = 1,
                        .commit = 0};
    zframe_t *frame = zkv_peer_encode(&m, zkv_repl_cluster_id(n->repl));
    if (frame)
        zkv_repl_peer(n->repl, zframe_data(frame), zframe_size(frame), 0);
    zframe_destroy(&frame);
    free(data);
    w->stats->bad_peer++;
    ns_note(w, "node %u gets an append with an entry of %zu bytes", n->id, size);
}

/*  The disk fills: little room is left beside what the node holds now. */
static void s_fill_disk(ns_world_t *w, ns_node_t *n)
{
    uint64_t used = zkv_fs_mem_used(n->fs);
    zkv_fs_mem_set_capacity(n->fs, used + ns_random(w, 8192));
    n->disk_full = true;
    w->stats->full_disks++;
    ns_note(w, "node %u's disk fills (%" PRIu64 " bytes used)", n->id, used);
}

/*  A disk fails: a later call of one kind fails with EIO, and sometimes
    every one after it. The node must stop or go on, never ack what is not
    durable nor lose what it acknowledged. */
static void s_fail_disk(ns_world_t *w, ns_node_t *n)
{
    static const zkv_fs_op_t ops[] = {ZKV_FS_OP_PWRITE, ZKV_FS_OP_DATASYNC, ZKV_FS_OP_SYNC_DIR,
                                      ZKV_FS_OP_RENAME, ZKV_FS_OP_ALLOCATE, ZKV_FS_OP_PREAD};
    zkv_fs_op_t op = ops[ns_random(w, sizeof ops / sizeof ops[0])];
    bool sticky = s_chance(w, 500);
    zkv_fs_mem_fail(n->fs, op, ns_random(w, 50), EIO, sticky);
    n->disk_failing = true;
    w->stats->failing_disks++;
    ns_note(w, "node %u's disk will fail a call of kind %d%s", n->id, (int) op,
            sticky ? " and every one after it" : "");
}

/*  A node that stopped must have had a full or failing disk (it says why);
    the operator mends it and starts it again a little later. */
static void s_check_stops(ns_world_t *w)
{
    for (uint32_t i = 0; i < w->opt.nodes && !w->failed; i++) {
        ns_node_t *n = &w->nodes[i];
        if (n->up && zkv_fs_mem_stopped(n->fs)) {
            /* The process died inside a file system call: what that call
               and the ones before it did not make durable is lost. */
            s_node_crash(w, n);
            w->stats->mid_call++;
        } else if (n->up && zkv_repl_fatal(n->repl)) {
            if (!n->disk_full && !n->disk_failing) {
                ns_fail(w, "node %u stopped on a fatal error with a disk that works", n->id);
                return;
            }
            s_node_crash(w, n);
            s_mend_disk(w, n);
        } else if (!n->up && n->back_at && w->now >= n->back_at) {
            n->back_at = 0;
            s_node_start(w, n);
        }
    }
}

/*  A node that says it leads (the one with the highest term), or NULL. */
static ns_node_t *s_leader(ns_world_t *w)
{
    ns_node_t *leader = NULL;
    uint64_t term = 0;
    for (uint32_t i = 0; i < w->opt.nodes; i++) {
        ns_node_t *n = &w->nodes[i];
        zkv_raft_status_t st;
        if (!n->up || !n->leads)
            continue;
        zkv_raft_status(zkv_repl_raft(n->repl), &st);
        if (!leader || st.term > term) {
            leader = n;
            term = st.term;
        }
    }
    return leader;
}

static void s_fault(ns_world_t *w)
{
    ns_node_t *n = &w->nodes[ns_random(w, w->opt.nodes)];
    uint64_t r = ns_random(w, 100);
    uint32_t down = s_down(w);
    if (r < 20 && n->up && down < (w->opt.nodes - 1) / 2)
        s_node_crash(w, n);
    else if (r < 30 && n->up && down < (w->opt.nodes - 1) / 2)
        zkv_fs_mem_stop_after(n->fs, ns_random(w, 30)); /* a crash inside a later call */
    else if (r < 60 && !n->up && !n->back_at)
        s_node_start(w, n);
    else if (r < 72)
        s_cut(w, s_chance(w, 500) && s_leader(w) ? s_leader(w) : n);
    else if (r < 80 && n->up && !n->disk_full)
        s_fill_disk(w, n);
    else if (r < 84 && n->up)
        s_oversized_append(w, n);
    else if (r < 88 && n->up && !n->disk_failing)
        s_fail_disk(w, n);
    else
        s_heal(w);
}

/* ---------------------------------------------------------------- run */

static void s_step(ns_world_t *w)
{
    w->stats->steps++;
    /* About seven actions a millisecond: a node acts far faster than its
       election timeout, as Raft's liveness needs (broadcast time much
       shorter than the election timeout). */
    w->now += s_chance(w, 150);
    s_links(w);
    if (w->faults && s_chance(w, 1))
        s_fault(w);
    s_ticks(w);
    s_network(w);
    uint64_t r = ns_random(w, 100);
    ns_node_t *n = &w->nodes[ns_random(w, w->opt.nodes)];
    if (r < 15)
        ns_clients_step(w);
    else if (r < 17)
        ns_lease_step(w);
    else if (r < 40 && n->up)
        s_round(w, n);
    else
        s_deliver_any(w);
    s_check_stops(w);
    s_check_leaders(w);
}

/*  Every node up, at the same applied index as the commit, with equal state. */
static bool s_converged(ns_world_t *w, const zkv_kvstore_t **final)
{
    uint64_t applied = 0, digest = 0;
    for (uint32_t i = 0; i < w->opt.nodes; i++) {
        ns_node_t *n = &w->nodes[i];
        if (!n->up || zkv_repl_installing(n->repl) ||
            n->q[ZKV_ACTOR_STORAGE][ZKV_ACTOR_REPLICATION].n)
            return false;
        zkv_raft_status_t st;
        zkv_raft_status(zkv_repl_raft(n->repl), &st);
        const zkv_kvstore_t *kv = zkv_storage_kv(n->storage);
        if (st.applied != st.commit || zkv_kvstore_applied(kv) != st.applied ||
            (i > 0 && (st.applied != applied || zkv_kvstore_digest(kv) != digest)))
            return false;
        applied = st.applied;
        digest = zkv_kvstore_digest(kv);
        *final = kv;
    }
    return applied > 0;
}

/* ---------------------------------------------------------------- a lost tail */

typedef struct {
    char newest[64];
} s_newest_t;

static bool s_newest_segment(const char *name, void *arg)
{
    s_newest_t *n = arg;
    size_t len = strlen(name);
    if (len > 4 && !strcmp(name + len - 4, ".wal") && strcmp(name, n->newest) > 0)
        snprintf(n->newest, sizeof n->newest, "%s", name);
    return true;
}

/*  The last bytes of the newest WAL segment's last record turn to zeros, as
    a bit flip found at boot makes it cut like a torn tail: the node has lost
    records it had acknowledged. Outside Raft's fault model, so done only
    once every node holds every entry (docs/RAFT.md): the leader must repair
    it. */
static void s_lose_tail(ns_world_t *w, ns_node_t *n)
{
    const zkv_fs_t *fs = zkv_fs_mem_fs(n->fs);
    s_newest_t newest = {""};
    zkv_fs_list(fs, "data/wal", s_newest_segment, &newest);
    char path[128];
    snprintf(path, sizeof path, "data/wal/%s", newest.newest);
    int fd;
    uint64_t size = 0;
    if (!newest.newest[0] || zkv_fs_open(fs, path, ZKV_FS_WRITE, &fd) != ZKV_OK)
        return;
    fs->size(fs->ctx, fd, &size);
    uint8_t *data = calloc(1, size ? size : 1);
    size_t got = 0;
    zkv_fs_pread(fs, fd, data, size, 0, &got);
    size_t end = got;
    while (end > 0 && data[end - 1] == 0)
        end--;
    size_t cut = 1 + ns_random(w, 24);
    if (end > cut + 64) {
        memset(data + end - cut, 0, cut);
        zkv_fs_pwrite(fs, fd, data + end - cut, cut, end - cut);
        zkv_fs_datasync(fs, fd);
        ns_note(w, "node %u loses the last %zu bytes of %s", n->id, cut, newest.newest);
    }
    zkv_fs_close(fs, fd);
    free(data);
}

/*  With nothing on its way from storage to the client handler, nothing is
    counted as on its way: the bound on read replies in transit never
    refuses reads for bytes already taken. */
static void s_check_replies_taken(ns_world_t *w)
{
    for (uint32_t i = 0; i < w->opt.nodes; i++) {
        ns_node_t *n = &w->nodes[i];
        uint64_t transit = n->up ? zkv_storage_replies_in_transit(n->storage) : 0;
        if (n->up && n->q[ZKV_ACTOR_CLIENT][ZKV_ACTOR_STORAGE].n == 0 && transit != 0)
            ns_fail(w, "node %u counts %" PRIu64 " reply bytes in transit with none on the way",
                    n->id, transit);
    }
}

/*  Run until every node agrees (and the clients are idle) or until end. */
static const zkv_kvstore_t *s_until_converged(ns_world_t *w, int64_t end, int64_t stop_clients)
{
    const zkv_kvstore_t *final = NULL;
    while (!w->failed && w->now < end) {
        w->clients_stop = w->now >= stop_clients;
        s_step(w);
        if (w->clients_stop && ns_clients_idle(w) && s_converged(w, &final)) {
            s_check_replies_taken(w);
            return final;
        }
    }
    if (!w->failed) {
        char state[900] = "";
        size_t at = 0;
        for (uint32_t i = 0; i < w->opt.nodes && at < sizeof state; i++) {
            ns_node_t *n = &w->nodes[i];
            zkv_raft_status_t st = {0};
            if (n->up)
                zkv_raft_status(zkv_repl_raft(n->repl), &st);
            at += (size_t) snprintf(state + at, sizeof state - at,
                                    " [node %u %s %s term %" PRIu64 " commit %" PRIu64
                                    " applied %" PRIu64 " last %" PRIu64 "%s]",
                                    n->id, n->up ? "up" : "down", zkv_raft_role_name(st.role),
                                    st.term, st.commit, st.applied, st.last_index,
                                    n->up && zkv_repl_installing(n->repl) ? " installing" : "");
        }
        for (uint32_t i = 0; i < w->opt.nodes; i++) {
            ns_node_t *n = &w->nodes[i];
            zkv_raft_status_t st;
            if (!n->up)
                continue;
            zkv_raft_status(zkv_repl_raft(n->repl), &st);
            for (uint32_t p = 1; st.role == ZKV_RAFT_LEADER && p <= w->opt.nodes; p++) {
                zkv_raft_progress_t pr = {0};
                zkv_raft_progress(zkv_repl_raft(n->repl), p, &pr);
                at += (size_t) snprintf(state + at, sizeof state - at,
                                        " [%u's view of %u: state %d match %" PRIu64
                                        " next %" PRIu64 " inflight %u]",
                                        n->id, p, pr.state, pr.match, pr.next, pr.inflight);
            }
        }
        ns_fail(w, "the nodes did not agree within %d ms of the faults' end (clients %s):%s",
                NS_QUIET_MS, ns_clients_idle(w) ? "idle" : "busy", state);
    }
    return NULL;
}

/*  A follower of a converged cluster restarts without its last records. */
static const zkv_kvstore_t *s_follower_loses_tail(ns_world_t *w)
{
    ns_node_t *n = &w->nodes[ns_random(w, w->opt.nodes)];
    if (n->leads)
        n = &w->nodes[n->id % w->opt.nodes];
    s_node_crash(w, n);
    s_lose_tail(w, n);
    s_node_start(w, n);
    w->stats->lost_tails++;
    return s_until_converged(w, w->now + NS_QUIET_MS, w->now);
}

/*  Faults off, links healed, every node started: clients finish, and the
    nodes must agree within NS_QUIET_MS. */
static const zkv_kvstore_t *s_quiet(ns_world_t *w)
{
    w->faults = false;
    s_heal(w);
    for (uint32_t i = 0; i < w->opt.nodes && !w->failed; i++) {
        zkv_fs_mem_stop_after(w->nodes[i].fs, ULONG_MAX); /* no crash left armed */
        zkv_fs_mem_disarm(w->nodes[i].fs);                /* nor a failing call */
        w->nodes[i].disk_failing = false;
        if (!w->nodes[i].up)
            s_node_start(w, &w->nodes[i]);
    }
    const zkv_kvstore_t *final =
        s_until_converged(w, w->now + NS_QUIET_MS, w->now + NS_QUIET_MS / 3);
    if (final && s_chance(w, 500))
        final = s_follower_loses_tail(w);
    return final;
}

static void s_world_free(ns_world_t *w)
{
    for (uint32_t i = 0; i < w->opt.nodes; i++)
        s_node_free(&w->nodes[i]);
    while (w->net) {
        ns_packet_t *p = w->net;
        w->net = p->next;
        zframe_destroy(&p->frame);
        free(p);
    }
    free(w->hist);
    free(w->effects);
    free(w->applied_term);
    free(w->applied_hash);
    free(w->watch_ref);
}

static void s_world_init(ns_world_t *w, const ns_options_t *options, ns_stats_t *stats, FILE *out)
{
    memset(w, 0, sizeof *w);
    w->opt = *options;
    w->stats = stats;
    w->out = out;
    w->rng = options->seed;
    w->faults = true;
    w->hist = calloc(NS_HISTORY_MAX, sizeof *w->hist);
    w->effects = calloc(NS_EFFECTS_MAX, sizeof *w->effects);
    for (uint32_t i = 0; i < options->nodes; i++) {
        ns_node_t *n = &w->nodes[i];
        n->id = i + 1;
        n->fs = zkv_fs_mem_new();
        const zkv_fs_t *fs = zkv_fs_mem_fs(n->fs);
        zkv_fs_mkdir(fs, "data");
        zkv_fs_sync_dir(fs, "");
        s_node_config(w, n);
        s_node_start(w, n);
    }
    ns_clients_init(w);
}

int ns_run(const ns_options_t *options, ns_stats_t *stats, FILE *out)
{
    assert(options->nodes >= 1 && options->nodes <= NS_NODES_MAX);
    memset(stats, 0, sizeof *stats);
    ns_world_t *w = zmalloc(sizeof *w);
    s_world_init(w, options, stats, out);
    for (uint32_t i = 0; i < options->steps && !w->failed; i++)
        s_step(w);
    const zkv_kvstore_t *final = w->failed ? NULL : s_quiet(w);
    if (final && ns_history_check(w, final) != 0 && !w->failed)
        ns_fail(w, "history check failed");
    if (!w->failed)
        ns_watch_check(w);
    int rc = w->failed ? 1 : 0;
    if (rc)
        fprintf(out, "VIOLATION seed %" PRIu64 ": %s\n", options->seed, w->why);
    s_world_free(w);
    free(w);
    return rc;
}
