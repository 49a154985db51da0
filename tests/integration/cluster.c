/*  cluster: zkvd processes for tests, started by fork/exec and controlled by pid. */
#include "cluster.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster_certs.h"
#include "zkv.h"

#ifndef ZKV_ZKVD_PATH
#define ZKV_ZKVD_PATH "zkvd"
#endif

#define PORTS_PER_NODE 6
/*  Ports come from below Linux's ephemeral range (32768..), so that no
    outgoing connection holds one, and above the developer's own 7101.. cluster. */
#define PORT_LOW 10000
#define PORT_HIGH 32000
#define ARGV_MAX 64
#define ENV_MAX 512
#define CLUSTERS_MAX 8
#define CHILDREN_MAX (CLUSTERS_MAX * ZKV_CLUSTER_NODES_MAX)
#define POLL_MS 10
#define DUMP_TAIL_BYTES 6000

typedef struct {
    uint32_t id;
    zkv_node_ports_t ports;
    pid_t pid;
    zkv_node_state_t state;
    int wstatus;   /* of the last exit; -1 when none */
    bool expected; /* the last exit was asked for (stop, kill) */
    char host[16];
    char data_dir[1024];
    char out_path[1024];
    char err_path[1024];
    char client_endpoint[64];
    char trace_endpoint[64];
} node_t;

struct zkv_cluster_t {
    char dir[512];
    char zkvd[1024];
    size_t n;
    node_t nodes[ZKV_CLUSTER_NODES_MAX];
    char peers[ZKV_CLUSTER_NODES_MAX * 64];     /* of the nodes that start the cluster */
    char peers_all[ZKV_CLUSTER_NODES_MAX * 64]; /* of every node, for those that join */
    size_t initial;
    char endpoints[ZKV_CLUSTER_NODES_MAX * 64];
    char *argv_extra[ARGV_MAX];
    size_t argc_extra;
    char **envp; /* every node's environment, built once */
    zkv_client_t *status_client;
    bool insecure;
    char client_cert[600]; /* the admin client's certificate */
    char server_key[600]; /* certs/server.cert: the clients' server key, the nodes' --server-cert */
};

/* ---------------------------------------------------------------- cleanup at exit */

static zkv_cluster_t *s_clusters[CLUSTERS_MAX];
/*  Children by pid, for the signal handler (which may only call kill). */
static volatile pid_t s_children[CHILDREN_MAX];
static unsigned s_clusters_made;

static void s_child_add(pid_t pid)
{
    for (size_t i = 0; i < CHILDREN_MAX; i++)
        if (s_children[i] == 0) {
            s_children[i] = pid;
            return;
        }
}

static void s_child_remove(pid_t pid)
{
    for (size_t i = 0; i < CHILDREN_MAX; i++)
        if (s_children[i] == pid)
            s_children[i] = 0;
}

void zkv_cluster_cleanup(void)
{
    for (size_t i = 0; i < CLUSTERS_MAX; i++)
        if (s_clusters[i])
            zkv_cluster_destroy(&s_clusters[i]);
}

/*  A fatal signal to the test: take our children down with us, then die of it. */
static void s_on_signal(int sig)
{
    for (size_t i = 0; i < CHILDREN_MAX; i++)
        if (s_children[i] > 0)
            kill(s_children[i], SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void s_install_cleanup(void)
{
    static bool installed;
    if (installed)
        return;
    installed = true;
    /* czmq must not take SIGINT/SIGTERM for itself; its atexit runs after ours. */
    zsys_handler_set(NULL);
    zsys_init();
    atexit(zkv_cluster_cleanup);
    int signals[] = {SIGINT, SIGTERM, SIGHUP, SIGABRT, SIGQUIT};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        struct sigaction sa = {.sa_handler = s_on_signal};
        sigemptyset(&sa.sa_mask);
        sigaction(signals[i], &sa, NULL);
    }
}

static void s_register(zkv_cluster_t *self, bool add)
{
    for (size_t i = 0; i < CLUSTERS_MAX; i++)
        if (add ? s_clusters[i] == NULL : s_clusters[i] == self) {
            s_clusters[i] = add ? self : NULL;
            return;
        }
}

/* ---------------------------------------------------------------- helpers */

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static node_t *s_node(zkv_cluster_t *self, uint32_t id)
{
    assert(id >= 1 && id <= self->n);
    return &self->nodes[id - 1];
}

static const node_t *s_cnode(const zkv_cluster_t *self, uint32_t id)
{
    assert(id >= 1 && id <= self->n);
    return &self->nodes[id - 1];
}

static int s_fail(char *err, size_t err_size, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, err_size, fmt, args);
    va_end(args);
    return -1;
}

/* ---------------------------------------------------------------- ports */

static bool s_port_free(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    /* As libzmq binds: a port left in TIME_WAIT is usable. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *) &addr, sizeof addr) == 0;
    close(fd);
    return ok;
}

static bool s_block_free(uint16_t base, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!s_port_free((uint16_t) (base + i)))
            return false;
    return true;
}

/*  A block of free ports, starting at a place derived from the pid so that
    tests running side by side start apart. */
static int s_pick_ports(zkv_cluster_t *self)
{
    size_t block = PORTS_PER_NODE * self->n;
    size_t slots = (PORT_HIGH - PORT_LOW) / block;
    size_t start = ((size_t) getpid() * 2654435761u + s_clusters_made * 7919u) % slots;
    for (size_t i = 0; i < slots; i++) {
        uint16_t base = (uint16_t) (PORT_LOW + ((start + i) % slots) * block);
        if (!s_block_free(base, block))
            continue;
        for (size_t k = 0; k < self->n; k++) {
            uint16_t p = (uint16_t) (base + k * PORTS_PER_NODE);
            self->nodes[k].ports = (zkv_node_ports_t){p,
                                                      (uint16_t) (p + 1),
                                                      (uint16_t) (p + 2),
                                                      (uint16_t) (p + 3),
                                                      (uint16_t) (p + 4),
                                                      (uint16_t) (p + 5)};
        }
        return 0;
    }
    return -1;
}

/* ---------------------------------------------------------------- setup */

static void s_describe_nodes(zkv_cluster_t *self, uint8_t host_base)
{
    size_t used = 0, eused = 0;
    for (size_t k = 0; k < self->n; k++) {
        node_t *node = &self->nodes[k];
        node->id = (uint32_t) (k + 1);
        node->wstatus = -1;
        if (host_base)
            snprintf(node->host, sizeof node->host, "127.0.0.%u", host_base + node->id);
        else
            snprintf(node->host, sizeof node->host, "127.0.0.1");
        snprintf(node->data_dir, sizeof node->data_dir, "%s/node%u", self->dir, node->id);
        snprintf(node->out_path, sizeof node->out_path, "%s/node%u.out", self->dir, node->id);
        snprintf(node->err_path, sizeof node->err_path, "%s/node%u.err", self->dir, node->id);
        snprintf(node->client_endpoint, sizeof node->client_endpoint, "tcp://%s:%u", node->host,
                 node->ports.client);
        snprintf(node->trace_endpoint, sizeof node->trace_endpoint, "tcp://%s:%u", node->host,
                 node->ports.trace);
        char member[128];
        snprintf(member, sizeof member, "%s%u=%s:%u:%u:%u", k ? "," : "", node->id, node->host,
                 node->ports.pub, node->ports.router, node->ports.client);
        if (k < self->initial)
            used += (size_t) snprintf(self->peers + used, sizeof self->peers - used, "%s", member);
        strncat(self->peers_all, member, sizeof self->peers_all - strlen(self->peers_all) - 1);
        eused += (size_t) snprintf(self->endpoints + eused, sizeof self->endpoints - eused, "%s%s",
                                   k ? "," : "", node->client_endpoint);
    }
}

static void s_add_flag(zkv_cluster_t *self, const char *flag, uint64_t value)
{
    if (!value || self->argc_extra + 2 >= ARGV_MAX)
        return;
    self->argv_extra[self->argc_extra++] = strdup(flag);
    char text[32];
    snprintf(text, sizeof text, "%llu", (unsigned long long) value);
    self->argv_extra[self->argc_extra++] = strdup(text);
}

static size_t s_env_name_length(const char *entry)
{
    const char *eq = strchr(entry, '=');
    return eq ? (size_t) (eq - entry) : strlen(entry);
}

/*  The test's environment with the configured NAME=VALUE entries in place. */
static char **s_build_env(const char *const *overrides)
{
    extern char **environ;
    char **envp = calloc(ENV_MAX + 1, sizeof *envp);
    if (!envp)
        return NULL;
    size_t n = 0;
    for (char **e = environ; *e && n < ENV_MAX; e++) {
        bool replaced = false;
        for (const char *const *o = overrides; o && *o && !replaced; o++)
            replaced = s_env_name_length(*o) == s_env_name_length(*e) &&
                       strncmp(*o, *e, s_env_name_length(*e)) == 0;
        if (!replaced)
            envp[n++] = strdup(*e);
    }
    for (const char *const *o = overrides; o && *o && n < ENV_MAX; o++)
        envp[n++] = strdup(*o);
    return envp;
}

/*  The certificates, and the environment a zkv program run by the test needs. */
static int s_secure(zkv_cluster_t *self, char *err, size_t err_size)
{
    if (self->insecure) {
        unsetenv("ZKV_CERT");
        unsetenv("ZKV_SERVER_KEY");
        setenv("ZKV_INSECURE", "1", 1);
        return 0;
    }
    unsetenv("ZKV_INSECURE");
    if (zkv_cluster_certs_make(self->dir, self->n, err, err_size) != 0)
        return -1;
    snprintf(self->client_cert, sizeof self->client_cert, "%s/certs/clients/admin.cert", self->dir);
    snprintf(self->server_key, sizeof self->server_key, "%s/certs/server.cert", self->dir);
    setenv("ZKV_CERT", self->client_cert, 1);
    setenv("ZKV_SERVER_KEY", self->server_key, 1);
    return 0;
}

/*  Node id's security flags: --insecure, or its certificates (cluster_certs.h). */
typedef struct {
    char peer_cert[600], peer_certs[600], client_certs[600];
    const char *argv[8];
    size_t argc;
} s_security_t;

static void s_security_flags(const zkv_cluster_t *self, uint32_t id, s_security_t *f)
{
    if (self->insecure) {
        f->argv[0] = "--insecure";
        f->argc = 1;
        return;
    }
    snprintf(f->peer_cert, sizeof f->peer_cert, "%s/certs/peers/node%u.cert", self->dir, id);
    snprintf(f->peer_certs, sizeof f->peer_certs, "%s/certs/peers", self->dir);
    snprintf(f->client_certs, sizeof f->client_certs, "%s/certs/clients", self->dir);
    const char *flags[] = {"--server-cert", self->server_key, "--peer-cert",    f->peer_cert,
                           "--peer-certs",  f->peer_certs,    "--client-certs", f->client_certs};
    memcpy(f->argv, flags, sizeof flags);
    f->argc = sizeof flags / sizeof flags[0];
}

static int s_configure(zkv_cluster_t *self, const zkv_cluster_config_t *config, char *err,
                       size_t err_size)
{
    self->insecure = config->insecure;
    if (s_secure(self, err, err_size) != 0)
        return -1;
    const char *zkvd = config->zkvd ? config->zkvd : getenv("ZKV_ZKVD");
    snprintf(self->zkvd, sizeof self->zkvd, "%s", zkvd && *zkvd ? zkvd : ZKV_ZKVD_PATH);
    if (access(self->zkvd, X_OK) != 0)
        return s_fail(err, err_size, "zkvd program %s: %s", self->zkvd, strerror(errno));
    s_add_flag(self, "--snapshot-entries", config->snapshot_entries);
    s_add_flag(self, "--tick-ms", config->tick_ms);
    s_add_flag(self, "--election-ticks", config->election_ticks);
    s_add_flag(self, "--heartbeat-ticks", config->heartbeat_ticks);
    for (const char *const *a = config->args; a && *a; a++) {
        if (self->argc_extra + 1 >= ARGV_MAX)
            return s_fail(err, err_size, "too many zkvd arguments");
        self->argv_extra[self->argc_extra++] = strdup(*a);
    }
    self->envp = s_build_env(config->env);
    if (!self->envp)
        return s_fail(err, err_size, "out of memory");
    return 0;
}

zkv_cluster_t *zkv_cluster_new(const zkv_cluster_config_t *config, char *err, size_t err_size)
{
    s_install_cleanup();
    size_t n = config->nodes ? config->nodes : 3;
    if (n > ZKV_CLUSTER_NODES_MAX) {
        s_fail(err, err_size, "at most %d nodes", ZKV_CLUSTER_NODES_MAX);
        return NULL;
    }
    if (config->host_base && config->host_base + n > 254) {
        s_fail(err, err_size, "host_base %u leaves no address for %zu nodes", config->host_base, n);
        return NULL;
    }
    zkv_cluster_t *self = calloc(1, sizeof *self);
    if (!self) {
        s_fail(err, err_size, "out of memory");
        return NULL;
    }
    self->n = n;
    self->initial = config->initial && config->initial < n ? config->initial : n;
    s_register(self, true);
    s_clusters_made++;
    const char *tmp = getenv("TMPDIR");
    snprintf(self->dir, sizeof self->dir, "%s/zkv-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp",
             config->name ? config->name : "cluster");
    char client_err[256];
    if (!mkdtemp(self->dir)) {
        s_fail(err, err_size, "mkdtemp %s: %s", self->dir, strerror(errno));
        self->dir[0] = 0;
    } else if (s_configure(self, config, err, err_size) != 0) {
    } else if (s_pick_ports(self) != 0)
        s_fail(err, err_size, "no block of %zu free ports in %d..%d", n * PORTS_PER_NODE, PORT_LOW,
               PORT_HIGH);
    else {
        s_describe_nodes(self, config->host_base);
        zkv_client_config_t cc = {.endpoints = self->endpoints,
                                  .timeout_ms = ZKV_CLUSTER_STATUS_MS,
                                  .attempt_timeout_ms = ZKV_CLUSTER_STATUS_MS,
                                  .curve = zkv_cluster_curve(self)};
        self->status_client = zkv_client_new(&cc, client_err, sizeof client_err);
        if (self->status_client)
            return self;
        s_fail(err, err_size, "status client: %s", client_err);
    }
    zkv_cluster_destroy(&self);
    return NULL;
}

static int s_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

void zkv_cluster_destroy(zkv_cluster_t **self_p)
{
    zkv_cluster_t *self = *self_p;
    if (!self)
        return;
    for (uint32_t id = 1; id <= self->n; id++)
        if (self->nodes[id - 1].state != ZKV_NODE_DOWN)
            zkv_cluster_kill(self, id);
    zkv_client_destroy(&self->status_client);
    const char *keep = getenv("ZKV_KEEP_TEST_DIRS");
    if (self->dir[0] && !(keep && streq(keep, "1")))
        nftw(self->dir, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    else if (self->dir[0])
        fprintf(stderr, "cluster: kept %s\n", self->dir);
    for (size_t i = 0; i < self->argc_extra; i++)
        free(self->argv_extra[i]);
    for (char **e = self->envp; e && *e; e++)
        free(*e);
    free(self->envp);
    s_register(self, false);
    free(self);
    *self_p = NULL;
}

/* ---------------------------------------------------------------- processes */

/*  In the child, between fork and exec: async-signal-safe calls only. */
static void s_exec_child(const node_t *node, char **argv, char **envp, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int in = open("/dev/null", O_RDONLY);
    int out = open(node->out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int err = open(node->err_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
        _exit(126);
    execve(argv[0], argv, envp);
    static const char msg[] = "cluster: exec of zkvd failed\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void) ignored;
    _exit(127);
}

static void s_mark_start(const node_t *node)
{
    FILE *f = fopen(node->err_path, "a");
    if (!f)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    fprintf(f, "---- cluster: starting node %u at %lld.%03ld ----\n", node->id,
            (long long) ts.tv_sec, ts.tv_nsec / 1000000);
    fclose(f);
}

int zkv_cluster_start(zkv_cluster_t *self, uint32_t id)
{
    return zkv_cluster_start_on(self, id, s_node(self, id)->data_dir);
}

int zkv_cluster_start_on(zkv_cluster_t *self, uint32_t id, const char *data_dir)
{
    node_t *node = s_node(self, id);
    if (zkv_cluster_state(self, id) != ZKV_NODE_DOWN)
        return -1;
    char id_text[16], trace_text[16], watch_text[16], metrics_text[16];
    snprintf(id_text, sizeof id_text, "%u", id);
    snprintf(trace_text, sizeof trace_text, "%u", node->ports.trace);
    snprintf(watch_text, sizeof watch_text, "%u", node->ports.watch);
    snprintf(metrics_text, sizeof metrics_text, "%u", node->ports.metrics);
    char *argv[ARGV_MAX + 32];
    size_t argc = 0;
    argv[argc++] = self->zkvd;
    argv[argc++] = "--id";
    argv[argc++] = id_text;
    argv[argc++] = "--peers";
    argv[argc++] = id > self->initial ? self->peers_all : self->peers;
    if (id > self->initial)
        argv[argc++] = "--join";
    argv[argc++] = "--data-dir";
    argv[argc++] = (char *) data_dir;
    argv[argc++] = "--trace-port";
    argv[argc++] = trace_text;
    argv[argc++] = "--watch-port";
    argv[argc++] = watch_text;
    argv[argc++] = "--metrics-port";
    argv[argc++] = metrics_text;
    s_security_t security;
    s_security_flags(self, id, &security);
    for (size_t i = 0; i < security.argc; i++)
        argv[argc++] = (char *) security.argv[i];
    for (size_t i = 0; i < self->argc_extra; i++)
        argv[argc++] = self->argv_extra[i];
    argv[argc] = NULL;
    s_mark_start(node);
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        s_exec_child(node, argv, self->envp, parent);
    node->pid = pid;
    node->state = ZKV_NODE_RUNNING;
    node->expected = false;
    s_child_add(pid);
    return 0;
}

int zkv_cluster_start_all(zkv_cluster_t *self)
{
    for (uint32_t id = 1; id <= self->n; id++)
        if (zkv_cluster_start(self, id) != 0)
            return -1;
    return 0;
}

static void s_reaped(node_t *node, int wstatus)
{
    s_child_remove(node->pid);
    node->pid = 0;
    node->state = ZKV_NODE_DOWN;
    node->wstatus = wstatus;
}

/*  Wait for the node's exit until deadline (-1: no deadline). true once reaped. */
static bool s_wait_exit(node_t *node, int64_t deadline)
{
    for (;;) {
        int wstatus;
        pid_t got = waitpid(node->pid, &wstatus, deadline < 0 ? 0 : WNOHANG);
        if (got == node->pid) {
            s_reaped(node, wstatus);
            return true;
        }
        if (got < 0 && errno != EINTR) {
            s_reaped(node, -1);
            return true;
        }
        if (deadline >= 0 && s_now_ms() >= deadline)
            return false;
        if (got == 0)
            s_sleep_ms(POLL_MS);
    }
}

/*  A node that does not stop: every thread's stack into its stderr file,
    unless ZKV_STACKS_ON_HANG=0 (gdb must be there). */
static void s_dump_stacks(const node_t *node)
{
    const char *want = getenv("ZKV_STACKS_ON_HANG");
    if (want && streq(want, "0"))
        return;
    char command[1400];
    snprintf(command, sizeof command,
             "gdb -p %d -batch -ex 'thread apply all bt' >> '%s' 2>&1 </dev/null", (int) node->pid,
             node->err_path);
    if (system(command) != 0)
        fprintf(stderr, "cluster: no stacks of node %u (%s)\n", node->id, command);
}

int zkv_cluster_stop(zkv_cluster_t *self, uint32_t id, int64_t timeout_ms, int *wstatus)
{
    node_t *node = s_node(self, id);
    if (zkv_cluster_state(self, id) == ZKV_NODE_DOWN)
        return -1;
    node->expected = true;
    kill(node->pid, SIGTERM);
    kill(node->pid, SIGCONT);
    bool exited = s_wait_exit(node, s_now_ms() + timeout_ms);
    if (!exited) {
        s_dump_stacks(node);
        kill(node->pid, SIGKILL);
        s_wait_exit(node, -1);
    }
    if (wstatus)
        *wstatus = node->wstatus;
    return exited ? 0 : -1;
}

int zkv_cluster_signal(zkv_cluster_t *self, uint32_t id, int sig)
{
    node_t *node = s_node(self, id);
    if (zkv_cluster_state(self, id) == ZKV_NODE_DOWN || kill(node->pid, sig) != 0)
        return -1;
    /* A node told to stop is expected to go; one paused by hand is paused. */
    if (sig == SIGTERM || sig == SIGINT || sig == SIGKILL)
        node->expected = true;
    else if (sig == SIGSTOP)
        node->state = ZKV_NODE_PAUSED;
    else if (sig == SIGCONT)
        node->state = ZKV_NODE_RUNNING;
    return 0;
}

int zkv_cluster_wait_exit(zkv_cluster_t *self, uint32_t id, int64_t timeout_ms, int *wstatus)
{
    node_t *node = s_node(self, id);
    bool exited = node->state == ZKV_NODE_DOWN || s_wait_exit(node, s_now_ms() + timeout_ms);
    if (wstatus)
        *wstatus = node->wstatus;
    if (exited)
        node->expected = true; /* the test waited for it: its exit is the test's to judge */
    return exited ? 0 : -1;
}

int zkv_cluster_kill(zkv_cluster_t *self, uint32_t id)
{
    node_t *node = s_node(self, id);
    if (zkv_cluster_state(self, id) == ZKV_NODE_DOWN)
        return -1;
    node->expected = true;
    kill(node->pid, SIGKILL);
    s_wait_exit(node, -1);
    return 0;
}

int zkv_cluster_pause(zkv_cluster_t *self, uint32_t id)
{
    node_t *node = s_node(self, id);
    if (zkv_cluster_state(self, id) != ZKV_NODE_RUNNING || kill(node->pid, SIGSTOP) != 0)
        return -1;
    node->state = ZKV_NODE_PAUSED;
    return 0;
}

int zkv_cluster_resume(zkv_cluster_t *self, uint32_t id)
{
    node_t *node = s_node(self, id);
    if (zkv_cluster_state(self, id) != ZKV_NODE_PAUSED || kill(node->pid, SIGCONT) != 0)
        return -1;
    node->state = ZKV_NODE_RUNNING;
    return 0;
}

int zkv_cluster_restart(zkv_cluster_t *self, uint32_t id, int64_t timeout_ms, int *wstatus)
{
    int rc = 0;
    if (zkv_cluster_state(self, id) != ZKV_NODE_DOWN)
        rc = zkv_cluster_stop(self, id, timeout_ms, wstatus);
    else if (wstatus)
        *wstatus = -1;
    return zkv_cluster_start(self, id) == 0 ? rc : -1;
}

zkv_node_state_t zkv_cluster_state(zkv_cluster_t *self, uint32_t id)
{
    node_t *node = s_node(self, id);
    if (node->state != ZKV_NODE_DOWN) {
        int wstatus;
        /* WUNTRACED is not asked for: a paused node stays paused, not gone. */
        if (waitpid(node->pid, &wstatus, WNOHANG) == node->pid)
            s_reaped(node, wstatus);
    }
    return node->state;
}

int zkv_cluster_wstatus(const zkv_cluster_t *self, uint32_t id)
{
    return s_cnode(self, id)->wstatus;
}

uint32_t zkv_cluster_find_exited(zkv_cluster_t *self)
{
    for (uint32_t id = 1; id <= self->n; id++) {
        node_t *node = s_node(self, id);
        zkv_cluster_state(self, id);
        if (node->state == ZKV_NODE_DOWN && node->wstatus != -1 && !node->expected)
            return id;
    }
    return 0;
}

const char *zkv_cluster_wstatus_text(int wstatus)
{
    static char text[64];
    if (wstatus == -1)
        snprintf(text, sizeof text, "not exited");
    else if (WIFEXITED(wstatus))
        snprintf(text, sizeof text, "exit %d", WEXITSTATUS(wstatus));
    else if (WIFSIGNALED(wstatus))
        snprintf(text, sizeof text, "signal %d (%s)", WTERMSIG(wstatus),
                 strsignal(WTERMSIG(wstatus)));
    else
        snprintf(text, sizeof text, "wait status 0x%x", wstatus);
    return text;
}

/* ---------------------------------------------------------------- getters */

pid_t zkv_cluster_pid(const zkv_cluster_t *self, uint32_t id)
{
    return s_cnode(self, id)->pid;
}

size_t zkv_cluster_size(const zkv_cluster_t *self)
{
    return self->n;
}

void zkv_cluster_security_args(const zkv_cluster_t *self, uint32_t id, char *buf, size_t size)
{
    s_security_t security;
    s_security_flags(self, id, &security);
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < security.argc && used < size; i++)
        used += (size_t) snprintf(buf + used, size - used, " '%s'", security.argv[i]);
}

zkv_curve_t zkv_cluster_curve(const zkv_cluster_t *self)
{
    if (self->insecure)
        return (zkv_curve_t){NULL, NULL};
    return (zkv_curve_t){self->client_cert, self->server_key};
}

const char *zkv_cluster_dir(const zkv_cluster_t *self)
{
    return self->dir;
}

const char *zkv_cluster_data_dir(const zkv_cluster_t *self, uint32_t id)
{
    return s_cnode(self, id)->data_dir;
}

const char *zkv_cluster_stderr_path(const zkv_cluster_t *self, uint32_t id)
{
    return s_cnode(self, id)->err_path;
}

const char *zkv_cluster_stdout_path(const zkv_cluster_t *self, uint32_t id)
{
    return s_cnode(self, id)->out_path;
}

zkv_node_ports_t zkv_cluster_ports(const zkv_cluster_t *self, uint32_t id)
{
    return s_cnode(self, id)->ports;
}

const char *zkv_cluster_peers(const zkv_cluster_t *self)
{
    return self->peers;
}

const char *zkv_cluster_peers_all(const zkv_cluster_t *self)
{
    return self->peers_all;
}

const char *zkv_cluster_peer_endpoint(const zkv_cluster_t *self, uint32_t id)
{
    static char buf[128];
    const node_t *node = &self->nodes[id - 1];
    snprintf(buf, sizeof buf, "%s:%u:%u", node->host, node->ports.pub, node->ports.router);
    return buf;
}

const char *zkv_cluster_client_address(const zkv_cluster_t *self, uint32_t id)
{
    static char buf[128];
    const node_t *node = &self->nodes[id - 1];
    snprintf(buf, sizeof buf, "%s:%u", node->host, node->ports.client);
    return buf;
}

const char *zkv_cluster_host(const zkv_cluster_t *self, uint32_t id)
{
    return s_cnode(self, id)->host;
}

const char *zkv_cluster_client_endpoint(const zkv_cluster_t *self, uint32_t id)
{
    return s_cnode(self, id)->client_endpoint;
}

const char *zkv_cluster_trace_endpoint(const zkv_cluster_t *self, uint32_t id)
{
    return s_cnode(self, id)->trace_endpoint;
}

const char *zkv_cluster_endpoints(const zkv_cluster_t *self)
{
    return self->endpoints;
}

/* ---------------------------------------------------------------- status and waits */

int zkv_cluster_status(zkv_cluster_t *self, uint32_t id, zkv_node_status_t *status)
{
    zkv_op_t op = {.type = ZKV_OP_STATUS, .endpoint = s_node(self, id)->client_endpoint};
    const Zkv__Response *reply;
    int rc = zkv_client_call(self->status_client, &op, &reply);
    if (rc != 0 || reply->status != ZKV__STATUS__OK || !reply->member)
        return -1;
    const Zkv__MemberStatus *m = reply->member;
    memset(status, 0, sizeof *status);
    status->id = m->id;
    snprintf(status->role, sizeof status->role, "%s", m->role ? m->role : "");
    status->term = m->term;
    status->leader = m->leader_id;
    status->commit = m->commit_index;
    status->applied = m->applied_index;
    status->keys = m->keys;
    return 0;
}

/*  The leader a majority of the members answer to in its term, or 0. */
static uint32_t s_agreed_leader(const zkv_cluster_t *self, const zkv_node_status_t *st,
                                const bool *ok)
{
    uint32_t best = 0;
    for (size_t k = 0; k < self->n; k++)
        if (ok[k] && streq(st[k].role, "leader") && (!best || st[k].term > st[best - 1].term))
            best = (uint32_t) (k + 1);
    if (!best)
        return 0;
    /* A majority of the first members, or of the nodes up if more have joined. */
    size_t agree = 0, up = 0;
    for (size_t k = 0; k < self->n; k++) {
        up += self->nodes[k].state == ZKV_NODE_RUNNING;
        if (ok[k] && st[k].term == st[best - 1].term && st[k].leader == best)
            agree++;
    }
    size_t base = up > self->initial ? up : self->initial;
    return agree >= base / 2 + 1 ? best : 0;
}

uint32_t zkv_cluster_wait_leader(zkv_cluster_t *self, int64_t timeout_ms)
{
    int64_t deadline = s_now_ms() + timeout_ms;
    do {
        zkv_node_status_t st[ZKV_CLUSTER_NODES_MAX];
        bool ok[ZKV_CLUSTER_NODES_MAX] = {false};
        for (uint32_t id = 1; id <= self->n; id++)
            ok[id - 1] = zkv_cluster_state(self, id) == ZKV_NODE_RUNNING &&
                         zkv_cluster_status(self, id, &st[id - 1]) == 0;
        uint32_t leader = s_agreed_leader(self, st, ok);
        if (leader)
            return leader;
        s_sleep_ms(POLL_MS * 2);
    } while (s_now_ms() < deadline);
    return 0;
}

int zkv_cluster_wait_applied(zkv_cluster_t *self, uint32_t id, uint64_t index, int64_t timeout_ms)
{
    int64_t deadline = s_now_ms() + timeout_ms;
    do {
        zkv_node_status_t st;
        if (zkv_cluster_status(self, id, &st) == 0 && st.applied >= index)
            return 0;
        s_sleep_ms(POLL_MS * 2);
    } while (s_now_ms() < deadline);
    return -1;
}

/* ---------------------------------------------------------------- logs */

static bool s_sanitizer_line(const char *line)
{
    return strstr(line, "ERROR: AddressSanitizer") || strstr(line, "LeakSanitizer") ||
           strstr(line, "runtime error") || strstr(line, "ERROR: ThreadSanitizer") ||
           strstr(line, "WARNING: ThreadSanitizer");
}

int zkv_cluster_stderr_check(const zkv_cluster_t *self, uint32_t id, char *line, size_t size)
{
    FILE *f = fopen(s_cnode(self, id)->err_path, "r");
    if (!f)
        return -1;
    char *buf = NULL;
    size_t cap = 0;
    int found = 0;
    while (!found && getline(&buf, &cap, f) > 0)
        if (s_sanitizer_line(buf)) {
            snprintf(line, size, "%s", buf);
            found = 1;
        }
    free(buf);
    fclose(f);
    return found;
}

static void s_dump_tail(const char *path, FILE *out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(out, "    (no %s)\n", path);
        return;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    if (size > DUMP_TAIL_BYTES) {
        fprintf(out, "    ... (%ld bytes before)\n", size - DUMP_TAIL_BYTES);
        fseek(f, size - DUMP_TAIL_BYTES, SEEK_SET);
    } else
        fseek(f, 0, SEEK_SET);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, out);
    fclose(f);
}

void zkv_cluster_dump(zkv_cluster_t *self, FILE *out)
{
    static const char *states[] = {"down", "running", "paused"};
    fprintf(out, "cluster in %s, peers %s\n", self->dir, self->peers);
    for (uint32_t id = 1; id <= self->n; id++) {
        node_t *node = s_node(self, id);
        zkv_node_state_t state = zkv_cluster_state(self, id);
        fprintf(out, "== node %u: %s, pid %d, last exit: %s; stderr %s:\n", id, states[state],
                (int) node->pid, zkv_cluster_wstatus_text(node->wstatus), node->err_path);
        s_dump_tail(node->err_path, out);
        fprintf(out, "== node %u stdout %s:\n", id, node->out_path);
        s_dump_tail(node->out_path, out);
    }
    fflush(out);
}
