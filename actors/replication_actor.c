/*  replication actor: the replication handler (replication.c) on a czmq
    actor, with the node's peer sockets and the core's clock. */
#include "replication.h"

#include <inttypes.h>

#include "security.h"
#include "actor.h"
#include "loop.h"
#include "peer_codec.h"
#include "peer_socket.h"
#include "zkv_error.h"

#define PEER_PUB_HWM 100000
#define PEER_DEALER_HWM 10000
/*  Without heartbeats: how long TCP's retransmission backoff can keep a dead
    connection looking alive after repeated cuts (seen: rto 52 s, backoff 8). */
#define PEER_TCP_BACKOFF_MS 120000
#define DRAIN_MAX 4096 /* messages taken from one socket before the others get a turn */
#define PROPOSE_BATCH_MAX 4096
#define TICK_CATCH_UP_MAX 10 /* after a stall, tick at most this often at once */
/*  Protobuf framing of one entry in a PeerMessage: tag, length, term,
    index, type. */
#define PEER_ENTRY_FRAMING_MAX 40u
/*  The largest append: max_msg_bytes at its limit, the one entry that may
    pass it, and the framing of as many entries as a message may hold. */
#define PEER_APPEND_SIZE_MAX                                                                       \
    (ZKV_RAFT_MSG_BYTES_MAX + ZKV_ENTRY_SIZE_MAX +                                                 \
     ZKV_RAFT_MSG_ENTRIES_MAX * PEER_ENTRY_FRAMING_MAX)
/*  Largest peer frame read from the network: a snapshot chunk at its limit
    or the largest append, with room for the rest of the message. libzmq
    drops a connection whose frame header claims more, instead of
    allocating it. */
#define PEER_MSG_SIZE_MAX                                                                          \
    ((PEER_APPEND_SIZE_MAX > ZKV_RAFT_CHUNK_SIZE_MAX ? PEER_APPEND_SIZE_MAX                        \
                                                     : ZKV_RAFT_CHUNK_SIZE_MAX) +                  \
     1024 * 1024)

typedef struct {
    uint32_t id;
    zsock_t *dealer;
    char sub_endpoint[ZKV_HOST_SIZE_MAX * 2 + 64]; /* what the SUB connected to */
} peer_t;

typedef struct {
    zsock_t *pipe;
    zkv_config_t config;
    zkv_repl_t *repl;
    zkv_tracer_t *tracer;
    zsock_t *log;
    zsock_t *storage;
    zsock_t *client;
    zsock_t *pub;
    zsock_t *sub;
    zsock_t *router;
    peer_t peers[2 * ZKV_MEMBERS_MAX];
    size_t peer_count;
    zkv_loop_t *loop;
    bool paused; /* every reader but storage's, while the handler installs */
    int64_t next_tick;
} shell_t;

static zsock_t *s_dealer_for(shell_t *self, uint32_t id)
{
    for (size_t i = 0; i < self->peer_count; i++)
        if (self->peers[i].id == id)
            return self->peers[i].dealer;
    return NULL;
}

static int s_send(void *ctx, zkv_actor_id_t to, zkv_msg_t *msg)
{
    shell_t *self = ctx;
    zsock_t *sock = to == ZKV_ACTOR_LOG       ? self->log
                    : to == ZKV_ACTOR_STORAGE ? self->storage
                                              : self->client;
    assert(to != ZKV_ACTOR_REPLICATION);
    return zkv_msg_send(msg, sock);
}

/*  Never block on a peer: a dropped message is a lost one, and Raft copes.
    A node we keep no DEALER for (no member: removed, or not yet known) is
    reached over PUB, which it still hears while we are in its membership. */
static void s_peer(void *ctx, const zkv_raft_msg_t *msg, uint64_t cluster_id)
{
    shell_t *self = ctx;
    zsock_t *to = msg->to == ZKV_RAFT_BROADCAST ? self->pub : s_dealer_for(self, msg->to);
    if (!to)
        to = self->pub;
    zframe_t *frame = to ? zkv_peer_encode(msg, cluster_id) : NULL;
    if (!frame)
        return;
    zframe_send(&frame, to, ZFRAME_DONTWAIT);
    zframe_destroy(&frame);
}

/*  While the handler installs a snapshot it takes only storage's messages. */
static void s_follow_install(shell_t *self)
{
    bool installing = zkv_repl_installing(self->repl);
    if (installing == self->paused)
        return;
    self->paused = installing;
    zsock_t *others[] = {self->client, self->log, self->sub, self->router};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        zkv_loop_pause(self->loop, others[i], installing);
}

static bool s_read(shell_t *self, zsock_t *sock, zkv_actor_id_t from)
{
    zkv_msg_t msg;
    if (!zkv_msg_recv(sock, &msg))
        return false;
    zkv_repl_handle(self->repl, from, &msg);
    zkv_msg_clear(&msg);
    s_follow_install(self);
    return true;
}

static bool s_on_client(void *arg)
{
    shell_t *self = arg;
    return s_read(self, self->client, ZKV_ACTOR_CLIENT);
}

static bool s_on_log(void *arg)
{
    shell_t *self = arg;
    return s_read(self, self->log, ZKV_ACTOR_LOG);
}

static bool s_on_storage(void *arg)
{
    shell_t *self = arg;
    return s_read(self, self->storage, ZKV_ACTOR_STORAGE);
}

static bool s_on_sub(void *arg)
{
    shell_t *self = arg;
    zframe_t *frame = zframe_recv(self->sub);
    if (!frame)
        return false;
    zkv_repl_peer(self->repl, zframe_data(frame), zframe_size(frame), 0);
    zframe_destroy(&frame);
    return true;
}

static bool s_on_router(void *arg)
{
    shell_t *self = arg;
    zmsg_t *msg = zmsg_recv(self->router);
    if (!msg)
        return false;
    if (zmsg_size(msg) == 2) {
        /* With CURVE the auth actor named the connection's key "node-<id>". */
        zframe_t *body = zmsg_last(msg);
        const char *user = self->config.insecure ? NULL : zframe_meta(body, "User-Id");
        uint32_t sender =
            user && strncmp(user, "node-", 5) == 0 ? (uint32_t) strtoul(user + 5, NULL, 10) : 0;
        zkv_repl_peer(self->repl, zframe_data(body), zframe_size(body), sender);
    }
    zmsg_destroy(&msg);
    return true;
}

/* ---------------------------------------------------------------- setup */

uint64_t zkv_repl_dead_link_ms(const zkv_config_t *config)
{
#if ZKV_NODE_PLANTED_BUG == 7
    /* TEST-ONLY planted bug (sim_node_planted_no_heartbeat): no heartbeats,
       so a dead connection waits for TCP's retransmission backoff. */
    (void) config;
    return PEER_TCP_BACKOFF_MS;
#else
    int ms = zkv_peer_election_ms(config);
    return (uint64_t) ZKV_PEER_DEAD_ELECTIONS * (uint64_t) ms + (uint64_t) ms;
#endif
}

/*  Stop a socket's monitor before the socket closes: libzmq leaks an event it
    cannot deliver while closing (zkv_tracer_unmonitor says more). */
static void s_close_monitored(zsock_t **sock_p)
{
    zkv_tracer_unmonitor(*sock_p);
    zsock_destroy(sock_p);
}

/*  A member to reach: its broadcasts on our SUB, a DEALER to its ROUTER. */
static int s_add_peer(shell_t *self, const zkv_member_t *m)
{
    if (self->peer_count == sizeof self->peers / sizeof self->peers[0])
        return -1;
    peer_t *p = &self->peers[self->peer_count];
    memset(p, 0, sizeof *p);
    p->id = m->id;
    p->dealer = zsock_new(ZMQ_DEALER);
    if (!p->dealer)
        return -1;
    self->peer_count++;
    zsock_set_sndhwm(p->dealer, PEER_DEALER_HWM);
    zsock_set_maxmsgsize(p->dealer, PEER_MSG_SIZE_MAX);
    zsock_set_immediate(p->dealer, 1);
    zsock_set_sndtimeo(p->dealer, 0);
    zkv_peer_socket_liveness(&self->config, p->dealer);
    char name[32], endpoint[sizeof p->sub_endpoint];
    snprintf(name, sizeof name, "peer-%u", m->id);
    zkv_tracer_monitor(self->tracer, p->dealer, name);
    char err[512];
    if (zkv_security_peer_client(&self->config, self->sub, m->id, err, sizeof err) != 0 ||
        zkv_security_peer_client(&self->config, p->dealer, m->id, err, sizeof err) != 0) {
        zsys_error("zkvd: not connecting to member %u: %s", m->id, err);
        return 0;
    }
    zkv_peer_socket_connect(&self->config, self->sub, m->host, m->pub_port, p->sub_endpoint,
                            sizeof p->sub_endpoint);
    zkv_peer_socket_connect(&self->config, p->dealer, m->host, m->router_port, endpoint,
                            sizeof endpoint);
    zkv_tracer_emit(self->tracer, "socket", 0, 0, m->id, 0, "peer %u connected (%s:%u/%u)", m->id,
                    m->host, m->pub_port, m->router_port);
    return 0;
}

static void s_remove_peer(shell_t *self, size_t i)
{
    peer_t *p = &self->peers[i];
    zsock_disconnect(self->sub, "%s", p->sub_endpoint);
    s_close_monitored(&p->dealer);
    zkv_tracer_emit(self->tracer, "socket", 0, 0, p->id, 0, "peer %u disconnected", p->id);
    self->peers[i] = self->peers[--self->peer_count];
}

/*  The peer sockets follow the membership in effect. An empty one (a node
    that joins and has not heard from the leader yet) keeps --peers. */
static void s_members(void *ctx, const zkv_membership_t *m)
{
    shell_t *self = ctx;
    if (m->count == 0)
        return;
    for (size_t i = self->peer_count; i-- > 0;)
        if (!zkv_membership_find(m, self->peers[i].id))
            s_remove_peer(self, i);
    for (size_t i = 0; i < m->count; i++)
        if (m->members[i].id != self->config.id && !s_dealer_for(self, m->members[i].id) &&
            s_add_peer(self, &m->members[i]) != 0)
            zsys_error("zkvd: cannot connect to member %u", m->members[i].id);
}

static int s_bind_peers(shell_t *self)
{
    const zkv_member_t *me = zkv_config_member(&self->config, self->config.id);
    self->pub = zsock_new(ZMQ_PUB);
    self->sub = zsock_new(ZMQ_SUB);
    self->router = zsock_new(ZMQ_ROUTER);
    if (!self->pub || !self->sub || !self->router)
        return -1;
    zsock_set_sndhwm(self->pub, PEER_PUB_HWM);
    zsock_set_rcvhwm(self->sub, PEER_PUB_HWM);
    zsock_set_rcvhwm(self->router, PEER_PUB_HWM);
    zsock_set_maxmsgsize(self->pub, PEER_MSG_SIZE_MAX);
    zsock_set_maxmsgsize(self->sub, PEER_MSG_SIZE_MAX);
    zsock_set_maxmsgsize(self->router, PEER_MSG_SIZE_MAX);
    zsock_set_subscribe(self->sub, "");
    zkv_peer_socket_liveness(&self->config, self->pub);
    zkv_peer_socket_liveness(&self->config, self->sub);
    zkv_peer_socket_liveness(&self->config, self->router);
    if (zkv_security_server(&self->config, self->pub, ZKV_ZAP_PEER) != 0 ||
        zkv_security_server(&self->config, self->router, ZKV_ZAP_PEER) != 0)
        return -1;
    zkv_tracer_monitor(self->tracer, self->sub, "peer-sub");
    zkv_tracer_monitor(self->tracer, self->router, "peer-router");
    if (zsock_bind(self->pub, "tcp://%s:%u", self->config.listen, me->pub_port) < 0 ||
        zsock_bind(self->router, "tcp://%s:%u", self->config.listen, me->router_port) < 0)
        return -1;
    for (size_t i = 0; i < self->config.member_count; i++)
        if (self->config.members[i].id != self->config.id &&
            s_add_peer(self, &self->config.members[i]) != 0)
            return -1;
    return 0;
}

static void s_shell_destroy(shell_t *self)
{
    zkv_loop_destroy(&self->loop);
    for (size_t i = 0; i < self->peer_count; i++)
        s_close_monitored(&self->peers[i].dealer);
    zsock_destroy(&self->pub);
    s_close_monitored(&self->sub);
    s_close_monitored(&self->router);
    zsock_destroy(&self->log);
    zsock_destroy(&self->storage);
    zsock_destroy(&self->client);
    zkv_repl_destroy(&self->repl);
    zkv_tracer_destroy(&self->tracer);
}

typedef struct {
    const zkv_config_t *config;
    zkv_raft_t *raft;
    const char *snapshot_path;
    const zkv_cluster_file_t *cluster;
    zkv_metrics_t *metrics;
} repl_args_t;

static int s_shell_init(shell_t *self, repl_args_t *args)
{
    self->config = *args->config;
    self->tracer = zkv_tracer_new(self->config.id);
    zkv_port_t port = {.ctx = self,
                       .metrics = args->metrics,
                       .send = s_send,
                       .peer = s_peer,
                       .members = s_members};
    self->repl = zkv_repl_new(&self->config, zkv_fs_posix(), &args->raft, args->snapshot_path,
                              args->cluster, &port, self->tracer);
    self->log = zkv_actor_pair(self->config.id, "log", false);
    self->storage = zkv_actor_pair(self->config.id, "storage", false);
    self->client = zkv_actor_pair(self->config.id, "client-replication", true);
    if (!self->log || !self->storage || !self->client || s_bind_peers(self) != 0)
        return -1;
    zsock_set_sndtimeo(self->client, 0); /* the client actor stops first */
    zsock_t *inputs[] = {self->client, self->log, self->storage, self->sub, self->router};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
        zsock_set_rcvtimeo(inputs[i], 0);
    zsock_t *peers[] = {self->pub};
    for (size_t i = 0; i < sizeof peers / sizeof peers[0]; i++)
        zsock_set_sndtimeo(peers[i], 0);
    /* Everything waiting on every socket is taken before the next Ready, so
       that one round batches as much as it can. */
    self->loop = zkv_loop_new(self->pipe, self);
    zkv_loop_reader(self->loop, self->client, s_on_client, DRAIN_MAX);
    zkv_loop_reader(self->loop, self->log, s_on_log, DRAIN_MAX);
    zkv_loop_reader(self->loop, self->storage, s_on_storage, DRAIN_MAX);
    zkv_loop_reader(self->loop, self->sub, s_on_sub, DRAIN_MAX);
    zkv_loop_reader(self->loop, self->router, s_on_router, DRAIN_MAX);
    return 0;
}

static void s_tick(shell_t *self)
{
    int64_t now = zclock_mono();
    if (now - self->next_tick > (int64_t) self->config.tick_ms * TICK_CATCH_UP_MAX)
        self->next_tick = now - (int64_t) self->config.tick_ms * TICK_CATCH_UP_MAX;
    while (self->next_tick <= now) {
        zkv_repl_tick(self->repl);
        self->next_tick += self->config.tick_ms;
    }
}

/*  After each round: the core's ticks that are due, then its Ready; the next
    round waits for input at most until the next tick. */
static int64_t s_on_round(void *arg)
{
    shell_t *self = arg;
    if (zkv_repl_installing(self->repl))
        return -1; /* only INSTALLED (or $TERM) moves things on */
    s_tick(self);
    zkv_repl_ready(self->repl);
    s_follow_install(self);
    if (zkv_repl_fatal(self->repl) || zkv_repl_removed(self->repl))
        return ZKV_LOOP_STOP;
    int64_t wait = self->next_tick - zclock_mono();
    return wait > 0 ? wait : 0;
}

static void s_repl_actor(zsock_t *pipe, void *arg)
{
    zkv_actor_name("replication");
    shell_t self = {.pipe = pipe};
    if (s_shell_init(&self, arg) != 0) {
        s_shell_destroy(&self);
        zkv_actor_ready(pipe, 1);
        return;
    }
    zkv_actor_ready(pipe, 0);
    self.next_tick = zclock_mono() + self.config.tick_ms;
    zkv_loop_on_round(self.loop, s_on_round, self.config.tick_ms);
    if (zkv_loop_run(self.loop) == 1)
        zstr_send(pipe, zkv_repl_removed(self.repl) ? "REMOVED" : "FATAL");
    s_shell_destroy(&self);
}

zactor_t *zkv_replication_actor_new(const zkv_config_t *config, zkv_raft_t **raft_p,
                                    const char *snapshot_path, const zkv_cluster_file_t *cluster,
                                    zkv_metrics_t *metrics)
{
    repl_args_t args = {config, *raft_p, snapshot_path, cluster, metrics};
    zactor_t *actor = zkv_actor_start(s_repl_actor, &args);
    /* Started or not, the actor has taken the core (and destroyed it on failure). */
    *raft_p = NULL;
    return actor;
}
