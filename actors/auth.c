/*  auth actor: the ZAP handler (auth.h). */
#include "auth.h"

#include "actor.h"
#include "loop.h"
#include "security.h"

#define AUTH_ENDPOINT "inproc://zeromq.zap.01"
#define AUTH_RELOAD_MS 1000 /* an unknown key reads its directory again at most this often */
#define AUTH_LOG_MS 1000    /* refusals logged at most once a second, with a count */

typedef struct {
    const char *domain;
    const char *dir;
    zkv_cert_t *certs; /* sorted by public key */
    size_t count;
    int64_t loaded_ms;
} keyset_t;

typedef struct {
    zsock_t *handler;
    zkv_metrics_t *metrics;
    keyset_t sets[ZKV_METRICS_DOMAINS]; /* peer, client, trace: the metrics' order */
    int64_t logged_ms;
    uint64_t refused_unlogged;
} shell_t;

static int s_by_key(const void *a, const void *b)
{
    return strcmp(((const zkv_cert_t *) a)->public_key, ((const zkv_cert_t *) b)->public_key);
}

static void s_load(keyset_t *set)
{
    zkv_cert_t *certs = NULL;
    size_t count = 0;
    char err[512];
    set->loaded_ms = zclock_mono();
    if (zkv_cert_load_dir(set->dir, &certs, &count, err, sizeof err) != 0) {
        zsys_error("zkvd: %s certificates: %s; keeping the %zu keys read before", set->domain, err,
                   set->count);
        return;
    }
    qsort(certs, count, sizeof *certs, s_by_key);
    free(set->certs);
    set->certs = certs;
    set->count = count;
}

static const zkv_cert_t *s_find(keyset_t *set, const char *key)
{
    zkv_cert_t probe;
    snprintf(probe.public_key, sizeof probe.public_key, "%s", key);
    const zkv_cert_t *c = bsearch(&probe, set->certs, set->count, sizeof probe, s_by_key);
    if (!c && zclock_mono() - set->loaded_ms >= AUTH_RELOAD_MS) {
        s_load(set);
        c = bsearch(&probe, set->certs, set->count, sizeof probe, s_by_key);
    }
    return c;
}

static keyset_t *s_set(shell_t *self, const char *domain)
{
    for (size_t i = 0; i < ZKV_METRICS_DOMAINS; i++)
        if (strcmp(self->sets[i].domain, domain) == 0)
            return &self->sets[i];
    return NULL;
}

static void s_log_refusal(shell_t *self, const char *domain, const char *address, const char *key)
{
    int64_t now = zclock_mono();
    if (now - self->logged_ms < AUTH_LOG_MS) {
        self->refused_unlogged++;
        return;
    }
    zsys_warning("zkvd: refused a %s connection from %s: key %.8s... is not allowed%s", domain,
                 address, key, self->refused_unlogged ? " (and others since the last line)" : "");
    self->logged_ms = now;
    self->refused_unlogged = 0;
}

/*  The verdict on one request: user id into user, or false. */
static bool s_verdict(shell_t *self, zmsg_t *req, char *user, size_t user_size)
{
    char *domain = zmsg_popstr(req), *address = zmsg_popstr(req);
    zframe_t *routing = zmsg_pop(req);
    char *mechanism = zmsg_popstr(req);
    zframe_t *key = zmsg_pop(req);
    bool ok = false;
    keyset_t *set = domain ? s_set(self, domain) : NULL;
    if (set && mechanism && streq(mechanism, "CURVE") && key && zframe_size(key) == 32) {
        char text[ZKV_CERT_KEY_LEN + 1];
        zmq_z85_encode(text, zframe_data(key), 32);
        const zkv_cert_t *c = s_find(set, text);
        if (c && streq(domain, ZKV_ZAP_PEER))
            snprintf(user, user_size, "node-%u", c->node_id);
        else if (c)
            snprintf(user, user_size, "%s", c->name);
        else
            s_log_refusal(self, domain, address ? address : "?", text);
        ok = c != NULL;
        size_t i = (size_t) (set - self->sets);
        zkv_metric_add(ok ? &self->metrics->auth.accepted[i] : &self->metrics->auth.refused[i], 1);
    }
    zstr_free(&domain);
    zstr_free(&address);
    zframe_destroy(&routing);
    zstr_free(&mechanism);
    zframe_destroy(&key);
    return ok;
}

static bool s_on_request(void *arg)
{
    shell_t *self = arg;
    zmsg_t *req = zmsg_recv(self->handler);
    if (!req)
        return false;
    char *version = zmsg_popstr(req);
    zframe_t *id = zmsg_pop(req);
    char user[ZKV_CERT_NAME_MAX] = "";
    bool ok = version && streq(version, "1.0") && id && s_verdict(self, req, user, sizeof user);
    zmsg_t *reply = zmsg_new();
    zmsg_addstr(reply, "1.0");
    zmsg_append(reply, &id);
    zmsg_addstr(reply, ok ? "200" : "400");
    zmsg_addstr(reply, ok ? "OK" : "key not allowed");
    zmsg_addstr(reply, user);
    zmsg_addmem(reply, NULL, 0);
    zmsg_send(&reply, self->handler);
    zstr_free(&version);
    zframe_destroy(&id);
    zmsg_destroy(&req);
    return true;
}

static void s_on_command(void *arg, const char *command)
{
    shell_t *self = arg;
    if (streq(command, "RELOAD"))
        for (size_t i = 0; i < ZKV_METRICS_DOMAINS; i++)
            s_load(&self->sets[i]);
}

typedef struct {
    const zkv_config_t *config;
    zkv_metrics_t *metrics;
} auth_args_t;

static void s_auth_actor(zsock_t *pipe, void *arg)
{
    const auth_args_t *args = arg;
    const zkv_config_t *config = args->config;
    zkv_actor_name("auth");
    shell_t self = {.metrics = args->metrics,
                    .sets = {{ZKV_ZAP_PEER, config->peer_certs},
                             {ZKV_ZAP_CLIENT, config->client_certs},
                             {ZKV_ZAP_TRACE, config->trace_certs}}};
    self.handler = zsock_new(ZMQ_REP);
    bool bound = self.handler && zsock_bind(self.handler, AUTH_ENDPOINT) == 0;
    zkv_loop_t *loop = bound ? zkv_loop_new(pipe, &self) : NULL;
    if (loop) {
        zsock_set_rcvtimeo(self.handler, 0);
        for (size_t i = 0; i < ZKV_METRICS_DOMAINS; i++)
            s_load(&self.sets[i]);
        zkv_loop_reader(loop, self.handler, s_on_request, 64);
        zkv_loop_on_command(loop, s_on_command);
    }
    zkv_actor_ready(pipe, loop ? 0 : 1);
    if (loop)
        zkv_loop_run(loop);
    zkv_loop_destroy(&loop);
    for (size_t i = 0; i < ZKV_METRICS_DOMAINS; i++)
        free(self.sets[i].certs);
    zsock_destroy(&self.handler);
}

zactor_t *zkv_auth_actor_new(const zkv_config_t *config, zkv_metrics_t *metrics)
{
    auth_args_t args = {config, metrics};
    return zkv_actor_start(s_auth_actor, &args);
}
