/*  cmd_lock: zkv lock NAME -- COMMAND, the lease-backed lock recipe of etcd's
    concurrency package. Each contender puts NAME/<its lease> under its own
    lease; the holder is the key created first. A contender waits for the
    delete of the key created just before its own (so a release wakes one
    waiter, not all), runs COMMAND once it holds the lock, keeps the lease
    alive meanwhile, and revokes it when COMMAND ends, which deletes its key.
    If the process dies, its lease expires and the lock passes on. */
#include <czmq.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "leases.h"
#include "zkv.h"

typedef struct {
    zkv_globals_t *g;
    zkv_client_t *client;
    uint64_t lease, ttl_s;
    int64_t next_keepalive_ms;
    char key[ZKV_KEY_SIZE_MAX + 1], prefix[ZKV_KEY_SIZE_MAX + 1];
    size_t key_size, prefix_size;
    uint64_t my_revision; /* our key's create revision */
    bool deleted;         /* the key waited on is gone */
} s_lock_t;

static int s_call(s_lock_t *l, zkv_op_t *op, const Zkv__Response **r)
{
    int rc = zkv_client_call(l->client, op, r);
    if (rc)
        return zkv_command_failed(l->client, rc);
    if ((*r)->status != ZKV__STATUS__OK && (*r)->status != ZKV__STATUS__NOT_FOUND)
        return zkv_command_refused(*r);
    return ZKV_EXIT_OK;
}

/*  Renew the lease when a third of its ttl has passed; an exit code. */
static int s_keepalive(s_lock_t *l)
{
    if (zclock_mono() < l->next_keepalive_ms)
        return ZKV_EXIT_OK;
    zkv_op_t op = {.type = ZKV_OP_LEASE_KEEPALIVE, .lease = l->lease};
    const Zkv__Response *r;
    int code = s_call(l, &op, &r);
    if (code == ZKV_EXIT_OK && r->status != ZKV__STATUS__OK)
        code = zkv_command_refused(r);
    l->next_keepalive_ms = zclock_mono() + (int64_t) l->ttl_s * 1000 / 3;
    return code;
}

/*  A lease, and our key under it. */
static int s_enter(s_lock_t *l, uint64_t ttl_s)
{
    zkv_op_t grant = {.type = ZKV_OP_LEASE_GRANT, .ttl_s = ttl_s};
    const Zkv__Response *r;
    int code = s_call(l, &grant, &r);
    if (code)
        return code;
    l->lease = r->lease_id;
    l->ttl_s = r->ttl;
    l->next_keepalive_ms = zclock_mono() + (int64_t) l->ttl_s * 1000 / 3;
    int n = snprintf(l->key, sizeof l->key, "%s%020" PRIu64, l->prefix, l->lease);
    if (n < 0 || (size_t) n >= sizeof l->key) {
        zkv_output_error("lock: NAME is too long for a key");
        return ZKV_EXIT_USAGE;
    }
    l->key_size = (size_t) n;
    zkv_op_t put = {
        .type = ZKV_OP_PUT, .key = {(const uint8_t *) l->key, l->key_size}, .lease = l->lease};
    code = s_call(l, &put, &r);
    l->my_revision = code ? 0 : r->revision;
    return code;
}

/*  Of the contenders' keys, the one created last before ours (into pred);
    pred_size 0 when ours was created first: the lock is ours. */
static int s_predecessor(s_lock_t *l, char *pred, size_t *pred_size, uint64_t *revision)
{
    zkv_op_t scan = {.type = ZKV_OP_SCAN,
                     .prefix = {(const uint8_t *) l->prefix, l->prefix_size},
                     .keys_only = true};
    const Zkv__Response *r;
    int code = s_call(l, &scan, &r);
    if (code)
        return code;
    uint64_t best = 0;
    bool mine = false;
    *pred_size = 0;
    for (size_t i = 0; i < r->n_kvs; i++) {
        const Zkv__KeyValue *kv = r->kvs[i];
        mine |= kv->key.len == l->key_size && memcmp(kv->key.data, l->key, l->key_size) == 0;
        if (kv->create_revision < l->my_revision && kv->create_revision > best &&
            kv->key.len <= ZKV_KEY_SIZE_MAX) {
            best = kv->create_revision;
            memcpy(pred, kv->key.data, kv->key.len);
            *pred_size = kv->key.len;
        }
    }
    *revision = r->revision;
    if (!mine) {
        zkv_output_error("lock: %s is gone (its lease expired)", l->key);
        return ZKV_EXIT_ERROR;
    }
    return ZKV_EXIT_OK;
}

static void s_on_event(void *arg, const Zkv__WatchEvent *e)
{
    s_lock_t *l = arg;
    if (e->type == ZKV__WATCH_EVENT__TYPE__DELETE)
        l->deleted = true;
}

/*  Until the key created before ours is deleted, keeping our lease alive. */
static int s_wait_for(s_lock_t *l, const char *pred, size_t pred_size, uint64_t revision)
{
    zkv_watcher_config_t wc = {.endpoints = l->g->endpoints,
                               .key = {(const uint8_t *) pred, pred_size},
                               .start_revision = revision + 1,
                               .timeout_ms = l->g->attempt_timeout_ms,
                               .curve = l->g->curve};
    char err[256];
    zkv_watcher_t *w = zkv_watcher_new(&wc, err, sizeof err);
    if (!w) {
        zkv_output_error("lock: %s", err);
        return ZKV_EXIT_USAGE;
    }
    l->deleted = false;
    int code = ZKV_EXIT_OK;
    while (code == ZKV_EXIT_OK && !l->deleted) {
        int rc = zkv_watcher_run(w, 200, s_on_event, NULL, l);
        if (rc == ZKV_ECOMPACTED)
            break; /* look again: the scan says whether it is still there */
        if (rc) {
            code = zkv_command_exit_code(rc);
            if (rc != ZKV_CLIENT_EINTR)
                zkv_output_error("lock: %s", zkv_watcher_error(w));
        } else
            code = s_keepalive(l);
    }
    zkv_watcher_destroy(&w);
    return code;
}

static int s_acquire(s_lock_t *l)
{
    char *pred = malloc(ZKV_KEY_SIZE_MAX);
    int code = pred ? ZKV_EXIT_OK : ZKV_EXIT_ERROR;
    for (;;) {
        size_t pred_size = 0;
        uint64_t revision = 0;
        if (code == ZKV_EXIT_OK)
            code = s_predecessor(l, pred, &pred_size, &revision);
        if (code != ZKV_EXIT_OK || pred_size == 0)
            break;
        code = s_wait_for(l, pred, pred_size, revision);
    }
    free(pred);
    return code;
}

/*  COMMAND under the lock, the lease kept alive; its exit code. */
static int s_run(s_lock_t *l, char **argv)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        zkv_output_error("lock: fork: %m");
        return ZKV_EXIT_ERROR;
    }
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "zkv: lock: cannot run %s: %m\n", argv[0]);
        _exit(127);
    }
    int status = 0, code = ZKV_EXIT_OK;
    bool signalled = false;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (!signalled && (zsys_interrupted || code != ZKV_EXIT_OK)) {
            kill(pid, SIGTERM); /* interrupted, or the lock is lost */
            signalled = true;
        }
        if (code == ZKV_EXIT_OK && !zsys_interrupted)
            code = s_keepalive(l);
        zclock_sleep(20);
    }
    if (code != ZKV_EXIT_OK) {
        zkv_output_error("lock: lost the lock (the lease could not be kept alive)");
        return code;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*  Give the lock up: the lease and with it our key. */
static void s_release(s_lock_t *l)
{
    if (!l->lease)
        return;
    int interrupted = zsys_interrupted;
    zsys_interrupted = 0; /* the revoke must still go out */
    zkv_op_t op = {.type = ZKV_OP_LEASE_REVOKE, .lease = l->lease};
    const Zkv__Response *r;
    zkv_client_call(l->client, &op, &r);
    zsys_interrupted = interrupted;
}

static int s_lock(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    uint64_t ttl = 10;
    const zkv_flag_t flags[] = {
        {"ttl", 0, ZKV_FLAG_U64, &ttl, "SECONDS",
         "the lease behind the lock: how long it outlives a dead holder (default 10)", 1,
         ZKV_LEASE_TTL_MAX},
        {NULL},
    };
    zkv_args_t args;
    int code;
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 2, ZKV_FLAGS_POSITIONAL_MAX, &args, &code))
        return code;
    s_lock_t *l = calloc(1, sizeof *l);
    l->g = g;
    int n = snprintf(l->prefix, sizeof l->prefix, "%s/", args.positional[0]);
    l->prefix_size = n > 0 && (size_t) n < sizeof l->prefix ? (size_t) n : 0;
    l->client = zkv_command_client(g, 0, 0);
    code = !l->client ? ZKV_EXIT_USAGE : !l->prefix_size ? ZKV_EXIT_USAGE : ZKV_EXIT_OK;
    if (code == ZKV_EXIT_OK)
        code = s_enter(l, ttl);
    if (code == ZKV_EXIT_OK)
        code = s_acquire(l);
    if (code == ZKV_EXIT_OK) {
        args.positional[args.count] = NULL;
        code = s_run(l, &args.positional[1]);
    }
    if (l->client)
        s_release(l);
    zkv_client_destroy(&l->client);
    free(l);
    return code;
}

const zkv_command_t zkv_cmd_lock = {
    "lock",
    "lock NAME [--ttl SECONDS] -- COMMAND [ARGS...]",
    "Run a command while holding a lock",
    "Waits until it holds the lock NAME, runs COMMAND, and releases the lock when\n"
    "COMMAND exits, with COMMAND's exit status. Contenders queue in the order they\n"
    "asked. The lock is a key NAME/<lease> under a lease kept alive while COMMAND\n"
    "runs: if zkv dies, the lease expires after --ttl and the next contender gets\n"
    "the lock; if the lease is lost (the cluster unreachable for --ttl), COMMAND\n"
    "gets SIGTERM and zkv exits 4.\n\n"
    "Example:\n  zkv lock backups -- sh -c 'make-backup && upload-backup'\n",
    s_lock,
};
