/*  watch actor: the watch hub on an XPUB and two inproc pairs. */
#include "watch.h"

#include "acl_file.h"
#include "actor.h"
#include "loop.h"
#include "security.h"
#include "watch_hub.h"
#include "zkv_limits.h"

#define WATCH_DRAIN_MAX 1024
/*  A subscription is a flag byte and a prefix, at most a key. */
#define WATCH_SUBSCRIPTION_SIZE_MAX (ZKV_KEY_SIZE_MAX + 1)

typedef struct {
    zsock_t *xpub;
    zsock_t *storage; /* PAIR, bound: "watch" */
    zsock_t *client;  /* PAIR, bound: "client-watch" */
    char endpoint[ZKV_HOST_SIZE_MAX + 32];
    bool unbound; /* cut off: the endpoint waits to be bound again */
    zkv_tracer_t *tracer;
    zkv_watch_hub_t *hub;
    const zkv_config_t *config;
    zkv_acl_t *acl; /* --acl: which prefixes a watcher may subscribe to; NULL: any */
} shell_t;

static int s_port_send(void *ctx, zkv_actor_id_t to, zkv_msg_t *msg)
{
    shell_t *self = ctx;
    assert(to == ZKV_ACTOR_CLIENT);
    return zkv_msg_send(msg, self->client);
}

static int64_t s_port_now(void *ctx)
{
    (void) ctx;
    return zclock_mono();
}

static int s_port_publish(void *ctx, zframe_t **topic, zframe_t **body)
{
    shell_t *self = ctx;
    int rc = -1;
    /* The pipes count whole messages: once the first frame goes, the second does. */
    if (!self->unbound && zframe_send(topic, self->xpub, ZFRAME_MORE | ZFRAME_DONTWAIT) == 0) {
        rc = zframe_send(body, self->xpub, ZFRAME_DONTWAIT);
        assert(rc == 0);
    }
    zframe_destroy(topic);
    zframe_destroy(body);
    return self->unbound ? 0 : rc;
}

/*  Unbinding closes every connection accepted on the endpoint. */
static void s_port_cut_off(void *ctx)
{
    shell_t *self = ctx;
    if (!self->unbound)
        zsock_unbind(self->xpub, "%s", self->endpoint);
    self->unbound = zsock_bind(self->xpub, "%s", self->endpoint) < 0;
}

/*  With CURVE the XPUB is manual: a subscription takes effect only here, when
    the watcher's key may read the prefix. One without a User-Id comes from
    libzmq itself, for a connection gone: its pipe is already out of the trie.
    The hub counts every subscription, refused ones too: it then only
    publishes what nobody receives. */
static void s_authorize(shell_t *self, zframe_t *frame)
{
    const char *user = self->config->insecure ? NULL : zframe_meta(frame, "User-Id");
    if (!user)
        return;
    const uint8_t *data = zframe_data(frame);
    size_t size = zframe_size(frame);
    zkv_bytes_t prefix = {data + 1, size - 1};
    bool subscribe = data[0] == 1;
    if (subscribe && !zkv_acl_allows_prefix(self->acl, user, prefix, ZKV_ACL_READ)) {
        zkv_tracer_emit(self->tracer, "watch", 0, 0, 0, 0,
                        "refused a subscription of client '%.64s': no read right on it", user);
        return;
    }
    zmq_setsockopt(zsock_resolve(self->xpub), subscribe ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE,
                   prefix.data, prefix.size);
}

static bool s_on_xpub(void *arg)
{
    shell_t *self = arg;
    zframe_t *frame = zframe_recv(self->xpub);
    if (!frame)
        return false;
    const uint8_t *data = zframe_data(frame);
    size_t size = zframe_size(frame);
    if (size >= 1 && data[0] <= 1) {
        s_authorize(self, frame);
        zkv_watch_hub_subscription(self->hub, data + 1, size - 1, data[0] == 1);
    }
    zframe_destroy(&frame);
    return true;
}

static bool s_on_pair(shell_t *self, zsock_t *pair)
{
    zkv_msg_t msg;
    if (!zkv_msg_recv(pair, &msg))
        return false;
    zkv_watch_hub_handle(self->hub, &msg);
    zkv_msg_clear(&msg);
    return true;
}

static bool s_on_storage(void *arg)
{
    shell_t *self = arg;
    return s_on_pair(self, self->storage);
}

static bool s_on_client(void *arg)
{
    shell_t *self = arg;
    return s_on_pair(self, self->client);
}

static int64_t s_on_round(void *arg)
{
    shell_t *self = arg;
    if (self->unbound) /* a cut-off's bind found the port still closing */
        self->unbound = zsock_bind(self->xpub, "%s", self->endpoint) < 0;
    int64_t wait = zkv_watch_hub_tick(self->hub);
    return self->unbound ? ZKV_WATCH_RETRY_MS : wait;
}

static void s_shell_destroy(shell_t *self)
{
    /* Storage stopped first: what it sent and nobody read lets go of its records. */
    if (self->storage)
        zsock_set_rcvtimeo(self->storage, 0);
    zkv_msg_t msg;
    while (self->storage && zkv_msg_recv(self->storage, &msg))
        zkv_msg_clear(&msg);
    zkv_watch_hub_destroy(&self->hub);
    zkv_acl_destroy(&self->acl);
    zkv_tracer_destroy(&self->tracer);
    zsock_destroy(&self->xpub);
    zsock_destroy(&self->storage);
    zsock_destroy(&self->client);
}

static int s_set_xpub(zsock_t *xpub, const zkv_config_t *config)
{
    zsock_set_xpub_nodrop(xpub, 1);
    zsock_set_xpub_verboser(xpub, 1);
    zmq_setsockopt(zsock_resolve(xpub), ZMQ_XPUB_WELCOME_MSG, ZKV_WATCH_WELCOME,
                   ZKV_WATCH_WELCOME_SIZE);
    zsock_set_sndhwm(xpub,
                     (int) (config->watch_queue > INT32_MAX ? INT32_MAX : config->watch_queue));
    zsock_set_linger(xpub, 0);
    zsock_set_maxmsgsize(xpub, WATCH_SUBSCRIPTION_SIZE_MAX);
    /* No ZMTP heartbeats (libzmq 4.3.4 asserts on one due while a connection's
       input is stopped): a watcher that vanished without closing fills its
       queue, holds the stream up and is cut off with every other. */
    zsock_set_rcvtimeo(xpub, 0);
    if (config->insecure)
        return 0;
    zsock_set_xpub_manual(xpub, 1);
    return zkv_security_server(config, xpub, ZKV_ZAP_CLIENT);
}

/*  --acl, at start and on RELOAD; a file that no longer parses keeps the rules. */
static int s_load_acl(shell_t *self)
{
    return zkv_acl_file_reload(self->config->acl_path, "watch", &self->acl) < 0 ? -1 : 0;
}

typedef struct {
    const zkv_config_t *config;
    zkv_metrics_t *metrics;
} watch_args_t;

static int s_shell_init(shell_t *self, const watch_args_t *args)
{
    const zkv_config_t *config = args->config;
    self->xpub = zsock_new(ZMQ_XPUB);
    self->storage = zkv_actor_pair(config->id, "watch", true);
    self->client = zkv_actor_pair(config->id, "client-watch", true);
    self->tracer = zkv_tracer_new(config->id);
    zkv_port_t port = {.ctx = self,
                       .metrics = args->metrics,
                       .send = s_port_send,
                       .now_ms = s_port_now,
                       .publish = s_port_publish,
                       .cut_off = s_port_cut_off};
    self->hub = zkv_watch_hub_new(config, &port, self->tracer);
    if (!self->xpub || !self->storage || !self->client || !self->hub)
        return -1;
    if (s_set_xpub(self->xpub, config) != 0)
        return -1;
    self->config = config;
    if (s_load_acl(self) != 0)
        return -1;
    /* The storage and client actors stop first: never block on them. */
    zsock_set_rcvtimeo(self->storage, 0);
    zsock_set_rcvtimeo(self->client, 0);
    zsock_set_sndtimeo(self->client, 0);
    snprintf(self->endpoint, sizeof self->endpoint, "tcp://%s:%u", config->listen,
             config->watch_port);
    return zsock_bind(self->xpub, "%s", self->endpoint) < 0 ? -1 : 0;
}

static void s_on_command(void *arg, const char *command)
{
    if (streq(command, "RELOAD"))
        s_load_acl(arg);
}

static void s_watch_actor(zsock_t *pipe, void *arg)
{
    zkv_actor_name("watch");
    shell_t self = {0};
    if (s_shell_init(&self, arg) != 0) {
        s_shell_destroy(&self);
        zkv_actor_ready(pipe, 1);
        return;
    }
    zkv_loop_t *loop = zkv_loop_new(pipe, &self);
    zkv_loop_reader(loop, self.storage, s_on_storage, WATCH_DRAIN_MAX);
    zkv_loop_reader(loop, self.xpub, s_on_xpub, WATCH_DRAIN_MAX);
    zkv_loop_reader(loop, self.client, s_on_client, WATCH_DRAIN_MAX);
    zkv_loop_on_round(loop, s_on_round, -1);
    zkv_loop_on_command(loop, s_on_command);
    zkv_actor_ready(pipe, 0);
    zkv_loop_run(loop);
    zkv_loop_destroy(&loop);
    s_shell_destroy(&self);
}

zactor_t *zkv_watch_actor_new(const zkv_config_t *config, zkv_metrics_t *metrics)
{
    watch_args_t args = {config, metrics};
    return zkv_actor_start(s_watch_actor, &args);
}
