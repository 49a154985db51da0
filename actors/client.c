/*  client actor: the front handler (front.h) on a ROUTER and two inproc pairs. */
#include "client.h"

#include "acl_file.h"
#include "actor.h"
#include "front.h"
#include "loop.h"
#include "security.h"
#include "zkv_limits.h"

/*  Replies a connection may hold in libzmq: past it the ROUTER drops. The
    front's byte budgets bound the larger ones. */
#define CLIENT_REPLY_HWM 4096
#define CLIENT_DRAIN_MAX 1024 /* messages read per socket and poll round */
/*  Largest request frame read from the network: well above the largest valid
    request (a CAS with a 4 KiB key and two 1 MiB values), so a request just
    over a limit still gets its error reply; past it libzmq drops the
    connection instead of allocating whatever a frame header claims. */
#define CLIENT_REQUEST_SIZE_MAX (8 * 1024 * 1024)
_Static_assert(CLIENT_REQUEST_SIZE_MAX > ZKV_ENTRY_SIZE_MAX, "a request just over a limit fits");

typedef struct {
    zsock_t *router;
    zsock_t *replication;
    zsock_t *storage;
    zsock_t *watch;
    zkv_tracer_t *tracer;
    zkv_front_t *front;
    const zkv_config_t *config;
} shell_t;

static int s_port_send(void *ctx, zkv_actor_id_t to, zkv_msg_t *msg)
{
    shell_t *self = ctx;
    assert(to == ZKV_ACTOR_REPLICATION || to == ZKV_ACTOR_STORAGE || to == ZKV_ACTOR_WATCH);
    zsock_t *sock = to == ZKV_ACTOR_REPLICATION ? self->replication
                    : to == ZKV_ACTOR_WATCH     ? self->watch
                                                : self->storage;
    return zkv_msg_send(msg, sock);
}

static void s_port_reply(void *ctx, zframe_t *routing, zframe_t **body_p)
{
    shell_t *self = ctx;
    zkv_reply_queue_send(zkv_front_replies(self->front), self->router, routing, body_p);
}

static int64_t s_port_now(void *ctx)
{
    (void) ctx;
    return zclock_mono();
}

/*  One request from a client; its writes join this round's proposal batch. */
static bool s_on_router(void *arg)
{
    shell_t *self = arg;
    zmsg_t *msg = zmsg_recv(self->router); /* does not block: NULL when none is left */
    if (!msg)
        return false;
    zframe_t *routing = zmsg_pop(msg);
    zframe_t *body = zmsg_pop(msg);
    if (routing)
        zkv_front_request(self->front, routing, zmsg_size(msg) == 0 ? body : NULL);
    zframe_destroy(&routing);
    zframe_destroy(&body);
    zmsg_destroy(&msg);
    return true;
}

static bool s_on_pair(shell_t *self, zsock_t *pair)
{
    zkv_msg_t msg;
    if (!zkv_msg_recv(pair, &msg))
        return false;
    zkv_front_handle(self->front, &msg);
    zkv_msg_clear(&msg);
    return true;
}

static bool s_on_replication(void *arg)
{
    shell_t *self = arg;
    return s_on_pair(self, self->replication);
}

static bool s_on_storage(void *arg)
{
    shell_t *self = arg;
    return s_on_pair(self, self->storage);
}

static bool s_on_watch(void *arg)
{
    shell_t *self = arg;
    return s_on_pair(self, self->watch);
}

static int64_t s_on_round(void *arg)
{
    shell_t *self = arg;
    return zkv_front_round(self->front);
}

static void s_shell_destroy(shell_t *self)
{
    zkv_front_destroy(&self->front);
    zkv_tracer_destroy(&self->tracer);
    zsock_destroy(&self->router);
    zsock_destroy(&self->replication);
    zsock_destroy(&self->storage);
    zsock_destroy(&self->watch);
}

typedef struct {
    const zkv_config_t *config;
    zkv_metrics_t *metrics;
} client_args_t;

static int s_shell_init(shell_t *self, const client_args_t *args)
{
    const zkv_config_t *config = args->config;
    const zkv_member_t *me = zkv_config_member(config, config->id);
    self->router = zsock_new(ZMQ_ROUTER);
    self->replication = zkv_actor_pair(config->id, "client-replication", false);
    self->storage = zkv_actor_pair(config->id, "client-storage", false);
    self->watch = zkv_actor_pair(config->id, "client-watch", false);
    self->tracer = zkv_tracer_new(config->id);
    zkv_port_t port = {.ctx = self,
                       .metrics = args->metrics,
                       .send = s_port_send,
                       .reply = s_port_reply,
                       .now_ms = s_port_now};
    self->front = zkv_front_new(config, &port, self->tracer);
    self->config = config;
    if (!self->router || !self->replication || !self->storage || !self->watch || !self->front ||
        !me)
        return -1;
    zsock_set_router_mandatory(self->router, 0);
    zsock_set_sndhwm(self->router, CLIENT_REPLY_HWM);
    zsock_set_rcvhwm(self->router, 100000);
    zsock_set_linger(self->router, 0);
    zsock_set_maxmsgsize(self->router, CLIENT_REQUEST_SIZE_MAX);
    /* Every socket is read until it is empty (a receive then says none). */
    zsock_set_rcvtimeo(self->router, 0);
    zsock_set_rcvtimeo(self->replication, 0);
    zsock_set_rcvtimeo(self->storage, 0);
    zsock_set_rcvtimeo(self->watch, 0);
    zsock_set_sndtimeo(self->watch, 0);
    if (zkv_security_server(config, self->router, ZKV_ZAP_CLIENT) != 0)
        return -1;
    return zsock_bind(self->router, "tcp://%s:%u", config->listen, me->client_port) < 0 ? -1 : 0;
}

/*  --acl, at start and on RELOAD (SIGHUP). A file that no longer parses
    leaves the rules as they were, and says why. */
static int s_load_acl(shell_t *self)
{
    const char *path = self->config->acl_path;
    zkv_acl_t *acl = NULL;
    int rc = zkv_acl_file_reload(path, "client", &acl);
    if (rc == 1) {
        zsys_info("zkvd: %zu authorization rules from %s", zkv_acl_rules(acl), path);
        zkv_front_set_acl(self->front, &acl);
    }
    return rc < 0 ? -1 : 0;
}

static void s_on_command(void *arg, const char *command)
{
    if (streq(command, "RELOAD"))
        s_load_acl(arg);
}

static void s_client_actor(zsock_t *pipe, void *arg)
{
    zkv_actor_name("client");
    shell_t self = {0};
    if (s_shell_init(&self, arg) != 0 || s_load_acl(&self) != 0) {
        s_shell_destroy(&self);
        zkv_actor_ready(pipe, 1);
        return;
    }
    zkv_msg_t count = {.type = ZKV_MSG_COUNT};
    zkv_msg_send(&count, self.storage);
    zkv_loop_t *loop = zkv_loop_new(pipe, &self);
    /* State and results first: a request of this round sees the newest role. */
    zkv_loop_reader(loop, self.replication, s_on_replication, CLIENT_DRAIN_MAX);
    zkv_loop_reader(loop, self.storage, s_on_storage, CLIENT_DRAIN_MAX);
    zkv_loop_reader(loop, self.watch, s_on_watch, CLIENT_DRAIN_MAX);
    zkv_loop_reader(loop, self.router, s_on_router, CLIENT_DRAIN_MAX);
    zkv_loop_on_round(loop, s_on_round, ZKV_FRONT_SWEEP_MS);
    zkv_loop_on_command(loop, s_on_command);
    zkv_actor_ready(pipe, 0);
    zkv_loop_run(loop);
    zkv_loop_destroy(&loop);
    s_shell_destroy(&self);
}

zactor_t *zkv_client_actor_new(const zkv_config_t *config, zkv_metrics_t *metrics)
{
    client_args_t args = {config, metrics};
    return zkv_actor_start(s_client_actor, &args);
}
