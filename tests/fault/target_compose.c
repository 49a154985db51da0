/*  target_compose: the three containers of a compose project that the
    caller brought up (tests/fault/fault_compose.sh) from the project's
    docker-compose.yml. Faults are docker kill/stop/start/pause/unpause, run
    in the background; a partition is iptables DROP rules in each container's
    own network namespace (nsenter), on the nodes' fixed addresses. The
    caller takes the project down afterwards, which also drops the rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netcut.h"
#include "spawn.h"
#include "target.h"

#define COMPOSE_NODES 3
#define COMPOSE_CMD_MS 60000
#define COMPOSE_ID_SIZE 80
#define COMPOSE_CHAIN "ZKVF"

typedef struct {
    char container[FAULT_NODES_MAX + 1][COMPOSE_ID_SIZE];
    char host[FAULT_NODES_MAX + 1][FAULT_HOST_SIZE];
    int chain_pid[FAULT_NODES_MAX + 1]; /* the container process whose namespace has our chain */
    spawn_t running;                    /* the docker command of the last action */
    bool busy;
    bool stopping; /* the running command is a docker stop: check the exit code after */
    uint32_t busy_id;
} compose_t;

static compose_t *s_compose(target_t *self)
{
    return self->impl;
}

/*  The output of a short docker command, trimmed, in out; -1 when it failed. */
static int s_docker(char *out, size_t size, char *const argv[])
{
    spawn_t sp;
    int code = spawn_run(&sp, argv, NULL, COMPOSE_CMD_MS);
    size_t n = strlen(sp.out);
    while (n > 0 && (sp.out[n - 1] == '\n' || sp.out[n - 1] == ' '))
        sp.out[--n] = 0;
    snprintf(out, size, "%s", code == 0 ? sp.out : spawn_describe(&sp));
    return code == 0 ? 0 : -1;
}

static int s_inspect(target_t *self, uint32_t id, const char *format, char *out, size_t size)
{
    char *argv[] = {"docker", "inspect", "-f", (char *) format, s_compose(self)->container[id],
                    NULL};
    return s_docker(out, size, argv);
}

/*  Start "docker VERB [FLAG VALUE] CONTAINER" in the background. */
static int s_begin(target_t *self, uint32_t id, const char *verb, const char *flag,
                   const char *value, target_node_t after)
{
    compose_t *c = s_compose(self);
    char *argv[8] = {"docker", (char *) verb};
    size_t n = 2;
    if (flag) {
        argv[n++] = (char *) flag;
        argv[n++] = (char *) value;
    }
    argv[n++] = c->container[id];
    argv[n] = NULL;
    if (spawn_start(&c->running, argv, NULL, COMPOSE_CMD_MS) != 0) {
        fault_error("docker %s node %u: %s", verb, id, c->running.out);
        return -1;
    }
    c->busy = true;
    c->stopping = strcmp(verb, "stop") == 0;
    c->busy_id = id;
    self->state[id] = after;
    return 0;
}

static int s_kill(target_t *self, uint32_t id)
{
    return s_begin(self, id, "kill", NULL, NULL, TARGET_NODE_DOWN);
}

static int s_stop(target_t *self, uint32_t id)
{
    return s_begin(self, id, "stop", "-t", "10", TARGET_NODE_DOWN);
}

static int s_start(target_t *self, uint32_t id)
{
    return s_begin(self, id, "start", NULL, NULL, TARGET_NODE_UP);
}

static int s_pause(target_t *self, uint32_t id)
{
    return s_begin(self, id, "pause", NULL, NULL, TARGET_NODE_PAUSED);
}

static int s_resume(target_t *self, uint32_t id)
{
    return s_begin(self, id, "unpause", NULL, NULL, TARGET_NODE_UP);
}

/*  The chain in the node's namespace, (re)made for each new container
    process. 0; 1 when the node is not running (no namespace, nothing to cut);
    -1 with why in err. */
static int s_chain(target_t *self, uint32_t id, netcut_t *net, char *err, size_t err_size)
{
    compose_t *c = s_compose(self);
    if (s_inspect(self, id, "{{.State.Pid}}", err, err_size) != 0)
        return -1;
    *net = (netcut_t){.netns_pid = atoi(err)};
    snprintf(net->chain, sizeof net->chain, "%s", COMPOSE_CHAIN);
    if (net->netns_pid <= 0)
        return 1;
    if (c->chain_pid[id] != net->netns_pid && netcut_install(net, err, err_size) != 0)
        return -1;
    c->chain_pid[id] = net->netns_pid;
    return 0;
}

static int s_cut(target_t *self, const target_links_t *links)
{
    compose_t *c = s_compose(self);
    int rc = 0;
    for (uint32_t a = 1; a <= self->nodes; a++) {
        netcut_t net;
        char err[FAULT_ERROR_SIZE];
        int got = s_chain(self, a, &net, err, sizeof err);
        if (got < 0) {
            fault_error("node %u: iptables in its namespace: %s", a, err);
            rc = -1;
        }
        if (got != 0)
            continue;
        netcut_rule_t rules[FAULT_NODES_MAX];
        size_t n = 0;
        for (uint32_t b = 1; b <= self->nodes; b++)
            if (a != b && links->cut[a][b])
                rules[n++] = (netcut_rule_t){c->host[b], NULL};
        if (netcut_set(&net, rules, n, err, sizeof err) != 0) {
            fault_error("node %u: iptables: %s", a, err);
            rc = -1;
        }
    }
    return rc;
}

static bool s_settled(target_t *self)
{
    compose_t *c = s_compose(self);
    int code;
    if (!c->busy || spawn_poll(&c->running, &code) == 1)
        return !c->busy;
    c->busy = false;
    if (code != 0) {
        fault_error("node %u: %s", c->busy_id, spawn_describe(&c->running));
        return true;
    }
    char out[FAULT_ERROR_SIZE];
    if (c->stopping && (s_inspect(self, c->busy_id, "{{.State.ExitCode}}", out, sizeof out) != 0 ||
                        strcmp(out, "0") != 0))
        fault_error("node %u: docker stop: exit code %s (want 0)", c->busy_id, out);
    return true;
}

static void s_check(target_t *self, bool final)
{
    static const char *want[] = {"running", "exited", "paused"};
    (void) final;
    for (uint32_t id = 1; id <= self->nodes; id++) {
        char out[FAULT_ERROR_SIZE];
        if (s_compose(self)->busy && s_compose(self)->busy_id == id)
            continue;
        if (s_inspect(self, id, "{{.State.Status}}", out, sizeof out) != 0)
            fault_error("node %u: %s", id, out);
        else if (strcmp(out, want[self->state[id]]) != 0) {
            fault_error("node %u: container %s, expected %s", id, out, want[self->state[id]]);
            if (strcmp(out, "exited") == 0 || strcmp(out, "dead") == 0)
                self->state[id] = TARGET_NODE_DOWN;
        }
    }
}

static void s_destroy(target_t *self)
{
    compose_t *c = s_compose(self);
    int code;
    while (c->busy && spawn_poll(&c->running, &code) == 1) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    free(c);
}

/*  No spare containers: the membership fault is left out here. */
static const target_ops_t s_ops = {s_kill, s_stop, s_start,   s_pause, s_resume, s_cut,
                                   NULL,   NULL,   s_settled, s_check, s_destroy};

static int s_find_containers(target_t *self, const fault_options_t *options, char *err,
                             size_t err_size)
{
    compose_t *c = s_compose(self);
    for (uint32_t id = 1; id <= self->nodes; id++) {
        char project[128], service[128], out[FAULT_ERROR_SIZE];
        snprintf(project, sizeof project, "label=com.docker.compose.project=%s", options->project);
        snprintf(service, sizeof service, "label=com.docker.compose.service=zkv%u", id);
        char *argv[] = {"docker", "ps", "-aq", "--filter", project, "--filter", service, NULL};
        if (s_docker(out, sizeof out, argv) != 0 || !out[0] || strchr(out, '\n') ||
            strlen(out) >= COMPOSE_ID_SIZE) {
            snprintf(err, err_size, "project %s: no single container for zkv%u: %s",
                     options->project, id, out[0] ? out : "none");
            return -1;
        }
        snprintf(c->container[id], sizeof c->container[id], "%s", out);
    }
    return 0;
}

static void s_describe(target_t *self, const fault_options_t *options)
{
    compose_t *c = s_compose(self);
    size_t used = 0;
    for (uint32_t id = 1; id <= self->nodes; id++) {
        snprintf(c->host[id], sizeof c->host[id], "%s.%u", options->net_prefix, 10 + id);
        snprintf(self->endpoint[id], sizeof self->endpoint[id], "tcp://127.0.0.1:%d",
                 options->port_base + (int) id);
        used += (size_t) snprintf(self->endpoints + used, sizeof self->endpoints - used, "%s%s",
                                  id > 1 ? "," : "", self->endpoint[id]);
    }
}

static void s_setup_partitions(target_t *self)
{
    netcut_t net;
    char err[FAULT_ERROR_SIZE];
    int got = s_chain(self, 1, &net, err, sizeof err);
    if (got > 0)
        snprintf(err, sizeof err, "node 1 is not running");
    if (got == 0 && netcut_available(&net, err, sizeof err) == 0)
        self->partitions = true;
    else
        snprintf(self->partitions_why, sizeof self->partitions_why,
                 "iptables in a container's namespace (nsenter) unusable: %.400s", err);
}

target_t *target_compose_new(const fault_options_t *options, char *err, size_t err_size)
{
    target_t *self = calloc(1, sizeof *self);
    compose_t *c = calloc(1, sizeof *c);
    if (!self || !c) {
        free(self);
        free(c);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    self->ops = &s_ops;
    self->impl = c;
    self->nodes = COMPOSE_NODES;
    s_describe(self, options);
    /* The compose cluster's client credentials, as tests/cluster/compose_lib.sh exports them. */
    const char *cert = getenv("ZKV_CERT"), *server_key = getenv("ZKV_SERVER_KEY");
    snprintf(self->cert, sizeof self->cert, "%s", cert ? cert : "");
    snprintf(self->server_key, sizeof self->server_key, "%s", server_key ? server_key : "");
    if (s_find_containers(self, options, err, err_size) != 0) {
        target_destroy(&self);
        return NULL;
    }
    s_setup_partitions(self);
    fault_log("compose: project %s, nodes %s.11-.13, client endpoints %s", options->project,
              options->net_prefix, self->endpoints);
    return self;
}
