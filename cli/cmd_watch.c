/*  cmd_watch: zkv watch, the changes of a key or a prefix as they happen. */
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "zkv.h"

typedef struct {
    const zkv_globals_t *g;
    uint64_t count, limit;
    bool failed;
} s_watch_t;

static int s_print_json(const Zkv__WatchEvent *e)
{
    json_t *doc = json_object();
    const Zkv__KeyValue *kv = e->kv;
    bool put = e->type == ZKV__WATCH_EVENT__TYPE__PUT;
    if (!doc || json_object_set_new(doc, "type", json_string(put ? "PUT" : "DELETE")) ||
        zkv_output_json_bytes(doc, "key", kv->key.data, kv->key.len) ||
        (put && zkv_output_json_bytes(doc, "value", kv->value.data, kv->value.len)) ||
        json_object_set_new(doc, "revision", zkv_output_json_u64(e->revision)) ||
        json_object_set_new(doc, "seq", zkv_output_json_u64(e->seq)) ||
        (put && zkv_command_json_meta(doc, kv->create_revision, kv->mod_revision, kv->version,
                                      kv->lease))) {
        json_decref(doc);
        return -1;
    }
    return zkv_command_json(doc) == ZKV_EXIT_OK ? 0 : -1;
}

/*  As etcdctl watch: PUT or DELETE, the key, and a put's value, a line each. */
static void s_on_event(void *arg, const Zkv__WatchEvent *e)
{
    s_watch_t *w = arg;
    if (w->g->format == ZKV_FORMAT_JSON) {
        w->failed |= s_print_json(e) != 0;
    } else {
        bool put = e->type == ZKV__WATCH_EVENT__TYPE__PUT;
        printf("%s\n", put ? "PUT" : "DELETE");
        zkv_output_line(stdout, e->kv->key.data, e->kv->key.len);
        if (put)
            zkv_output_line(stdout, e->kv->value.data, e->kv->value.len);
    }
    fflush(stdout);
    if (++w->count == w->limit)
        zsys_interrupted = 1; /* stops the run: the count is reached */
}

static void s_on_note(void *arg, const char *note)
{
    (void) arg;
    zkv_output_error("%s", note);
}

static int s_watch(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    const char *prefix = NULL;
    uint64_t rev = 0, count = 0;
    int64_t for_ms = 0;
    const zkv_flag_t flags[] = {
        {"prefix", 0, ZKV_FLAG_STRING, &prefix, "P", "every key that begins with P"},
        {"rev", 0, ZKV_FLAG_U64, &rev, "R", "start at revision R (default: now)", 1, 0},
        {"count", 0, ZKV_FLAG_U64, &count, "N", "exit after N events", 1, 0},
        {"for", 0, ZKV_FLAG_DURATION, &for_ms, "DURATION", "exit after this long"},
        {NULL},
    };
    zkv_args_t args;
    int code;
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 0, 1, &args, &code))
        return code;
    if ((prefix != NULL) == (args.count == 1)) {
        zkv_output_error("watch: give KEY or --prefix P; usage: zkv %s", cmd->usage);
        return ZKV_EXIT_USAGE;
    }
    uint8_t end[ZKV_KEY_SIZE_MAX];
    zkv_watcher_config_t wc = {.endpoints = g->endpoints,
                               .start_revision = rev,
                               .timeout_ms = g->attempt_timeout_ms,
                               .curve = g->curve};
    if (prefix) {
        wc.key = zkv_command_bytes(prefix);
        wc.range = true;
        if (wc.key.size <= ZKV_KEY_SIZE_MAX &&
            zkv_prefix_end(wc.key.data, wc.key.size, end, &wc.end.size))
            wc.end.data = end;
    } else
        wc.key = zkv_command_bytes(args.positional[0]);
    if (wc.key.size > ZKV_KEY_SIZE_MAX) {
        zkv_output_error("watch: key of %zu bytes is over the limit of %d", wc.key.size,
                         ZKV_KEY_SIZE_MAX);
        return ZKV_EXIT_USAGE;
    }
    char err[256];
    zkv_watcher_t *watcher = zkv_watcher_new(&wc, err, sizeof err);
    if (!watcher) {
        zkv_output_error("%s", err);
        return ZKV_EXIT_USAGE;
    }
    s_watch_t w = {.g = g, .limit = count};
    int rc = zkv_watcher_run(watcher, for_ms ? for_ms : -1, s_on_event, s_on_note, &w);
    if (rc == ZKV_CLIENT_EINTR && count && w.count == count)
        rc = 0;
    if (rc == ZKV_ECOMPACTED)
        zkv_output_error("watch: %s", zkv_watcher_error(watcher));
    else if (rc && rc != ZKV_CLIENT_EINTR)
        zkv_output_error("watch: %s", zkv_watcher_error(watcher));
    zkv_watcher_destroy(&watcher);
    if (w.failed)
        return ZKV_EXIT_ERROR;
    if (rc == ZKV_ECOMPACTED)
        return ZKV_EXIT_NEGATIVE;
    return rc ? zkv_command_exit_code(rc) : ZKV_EXIT_OK;
}

const zkv_command_t zkv_cmd_watch = {
    "watch",
    "watch KEY | watch --prefix P [--rev R] [--count N] [--for DURATION]",
    "Print the changes of a key or a prefix as they happen",
    "Prints every change, once and in order, as etcdctl watch does: PUT, the key\n"
    "and the value, or DELETE and the key, a line each (-w json: one object per\n"
    "line with type, key, value, revision, seq and the key's metadata). From now,\n"
    "or with --rev R from revision R on: the node keeps a bounded history of\n"
    "recent changes (zkvd --watch-history-events, --watch-history-bytes); a\n"
    "revision older than every node's history is refused with 'compacted' and\n"
    "exit 1. It follows one node at a time and goes on at another when that one\n"
    "fails, from the last change it printed; a node that drops its watchers (one\n"
    "of them too slow) or restarts is caught up with, a line on stderr says so.\n"
    "Runs until interrupted, --count N changes or --for DURATION (exit 0).\n\n"
    "Examples:\n  zkv watch greeting\n  zkv watch --prefix config/ --rev 1200 -w json\n",
    s_watch,
};
