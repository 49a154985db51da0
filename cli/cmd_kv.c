/*  cmd_kv: the data commands put, get and scan. Each makes one
    client, runs its request through zkv_client_call (retries and redirects
    happen there) and prints the answer in the chosen format. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"

/* ---------------------------------------------------------------- helpers */

static bool s_consistency(const char *text, bool *serializable)
{
    if (!text || strcmp(text, "l") == 0 || strcmp(text, "linearizable") == 0)
        *serializable = false;
    else if (strcmp(text, "s") == 0 || strcmp(text, "serializable") == 0)
        *serializable = true;
    else {
        zkv_output_error("--consistency wants l (linearizable) or s (serializable), not '%.32s'",
                         text);
        return false;
    }
    return true;
}

static zkv_bytes_t s_bin(ProtobufCBinaryData bin)
{
    zkv_bytes_t bytes = {bin.data, bin.len};
    return bytes;
}

/*  Bytes left in a stream, read and dropped: the size of an oversized value. */
static size_t s_count_rest(FILE *in)
{
    char sink[65536];
    size_t total = 0, n;
    while ((n = fread(sink, 1, sizeof sink, in)) > 0)
        total += n;
    return total;
}

/*  Read a value from a file or stdin ("-"). 0, or the exit code after an error:
    one that cannot be read, or one over the limit, reported with its whole size. */
static int s_read_value(const char *path, uint8_t **data, size_t *size)
{
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!in) {
        zkv_output_error("cannot open %.200s: %m", path);
        return ZKV_EXIT_USAGE;
    }
    *data = malloc(ZKV_VALUE_SIZE_MAX + 1);
    *size = *data ? fread(*data, 1, ZKV_VALUE_SIZE_MAX + 1, in) : 0;
    if (*size > ZKV_VALUE_SIZE_MAX)
        *size += s_count_rest(in);
    bool failed = !*data || ferror(in);
    if (in != stdin)
        fclose(in);
    int code = ZKV_EXIT_OK;
    if (failed) {
        zkv_output_error("cannot read %.200s", path);
        code = ZKV_EXIT_USAGE;
    } else if (*size > ZKV_VALUE_SIZE_MAX) {
        zkv_output_error("value of %zu bytes (%.200s) is over the limit of %d", *size, path,
                         ZKV_VALUE_SIZE_MAX);
        code = ZKV_EXIT_USAGE;
    }
    if (code) {
        free(*data);
        *data = NULL;
    }
    return code;
}

/*  A KEY/VALUE table of rows; 0 or -1. */
static int s_table_row(zkv_table_t *table, zkv_bytes_t key, const zkv_bytes_t *value)
{
    char *k = zkv_output_escape(key.data, key.size, ZKV_OUTPUT_CELL_MAX);
    char *v = value ? zkv_output_escape(value->data, value->size, ZKV_OUTPUT_CELL_MAX) : NULL;
    const char *cells[] = {k, v};
    int rc = k && (v || !value) ? zkv_table_add(table, cells) : -1;
    free(k);
    free(v);
    return rc;
}

static int s_print_table(zkv_table_t *table)
{
    if (!table) {
        zkv_output_error("out of memory");
        return ZKV_EXIT_ERROR;
    }
    zkv_table_print(table, stdout, true);
    return ZKV_EXIT_OK;
}

/* ---------------------------------------------------------------- put */

static int s_put_print(const zkv_globals_t *g, const zkv_op_t *op, const Zkv__Response *reply)
{
    if (reply->status != ZKV__STATUS__OK)
        return zkv_command_refused(reply);
    bool prev = op->return_previous && reply->found;
    if (g->format == ZKV_FORMAT_JSON) {
        json_t *doc = zkv_command_json_key(op->key, reply->revision);
        if (doc && op->return_previous) {
            json_object_set_new(doc, "prev_found", json_boolean(prev));
            if (prev &&
                zkv_output_json_bytes(doc, "prev_value", reply->value.data, reply->value.len)) {
                json_decref(doc);
                doc = NULL;
            }
        }
        return zkv_command_json(doc);
    }
    printf("OK\n");
    if (prev) {
        zkv_output_line(stdout, op->key.data, op->key.size);
        zkv_output_line(stdout, reply->value.data, reply->value.len);
    }
    return ZKV_EXIT_OK;
}

static int s_put(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    bool prev = false;
    const char *file = NULL, *lease = NULL;
    const zkv_flag_t flags[] = {
        {"prev", 0, ZKV_FLAG_BOOL, &prev, NULL, "also print the value it replaced"},
        {"lease", 0, ZKV_FLAG_STRING, &lease, "ID",
         "attach the key to this lease: deleted with it"},
        {"file", 0, ZKV_FLAG_STRING, &file, "PATH",
         "read the value from a file ('-': stdin) instead of VALUE"},
        {NULL},
    };
    zkv_args_t args;
    int code;
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 1, 2, &args, &code))
        return code;
    if ((args.count == 2) == (file != NULL)) {
        zkv_output_error("put: give VALUE or --file, %s; usage: zkv %s",
                         file ? "not both" : "missing VALUE", cmd->usage);
        return ZKV_EXIT_USAGE;
    }
    zkv_op_t op = {
        .type = ZKV_OP_PUT, .key = zkv_command_bytes(args.positional[0]), .return_previous = prev};
    if (lease && !zkv_lease_id_parse(lease, &op.lease))
        return ZKV_EXIT_USAGE;
    uint8_t *data = NULL;
    if (file) {
        code = s_read_value(file, &data, &op.value.size);
        if (code)
            return code;
        op.value.data = data;
    } else {
        op.value = zkv_command_bytes(args.positional[1]);
    }
    code = zkv_command_execute(g, &op, s_put_print);
    free(data);
    return code;
}

const zkv_command_t zkv_cmd_put = {
    "put",
    "put KEY VALUE [--prev] [--lease ID] | put KEY --file PATH [--prev] [--lease ID]",
    "Write a value",
    "Prints OK once a majority of the cluster has the write. With --prev it also\n"
    "prints the key and the value it replaced (nothing more if the key was new).\n"
    "A retry after a lost reply reuses the request's sequence number, so the\n"
    "write is applied once. With --lease the key is deleted when the lease is\n"
    "revoked or expires (zkv lease); a put without it detaches the key.\n\n"
    "Examples:\n  zkv put greeting hello\n  zkv put blob --file picture.png --prev\n"
    "  zkv put -- -dashed-key value\n",
    s_put,
};

/* ---------------------------------------------------------------- get */

static int s_get_print(const zkv_globals_t *g, const zkv_op_t *op, const Zkv__Response *reply)
{
    bool found = reply->status == ZKV__STATUS__OK;
    if (!found && reply->status != ZKV__STATUS__NOT_FOUND)
        return zkv_command_refused(reply);
    int code = ZKV_EXIT_OK;
    if (g->format == ZKV_FORMAT_JSON) {
        json_t *doc = zkv_command_json_key(op->key, reply->revision);
        if (doc && found &&
            zkv_output_json_bytes(doc, "value", reply->value.data, reply->value.len)) {
            json_decref(doc);
            doc = NULL;
        }
        if (doc && found &&
            zkv_command_json_meta(doc, reply->create_revision, reply->mod_revision, reply->version,
                                  reply->lease)) {
            json_decref(doc);
            doc = NULL;
        }
        if (doc && !found)
            json_object_set_new(doc, "value", json_null());
        if (doc)
            json_object_set_new(doc, "found", json_boolean(found));
        code = zkv_command_json(doc);
    } else if (found && g->format == ZKV_FORMAT_TABLE) {
        const char *headers[] = {"KEY", "VALUE"};
        zkv_table_t *table = zkv_table_new(2, headers);
        zkv_bytes_t value = s_bin(reply->value);
        if (table && s_table_row(table, op->key, &value))
            zkv_table_destroy(&table);
        code = s_print_table(table);
        zkv_table_destroy(&table);
    } else if (found && isatty(STDOUT_FILENO)) {
        zkv_output_line(stdout, reply->value.data, reply->value.len);
    } else if (found && reply->value.len) {
        /* Into a file or a pipe: the value's bytes alone, a binary one intact. */
        fwrite(reply->value.data, 1, reply->value.len, stdout);
    }
    if (code == ZKV_EXIT_OK && !found) {
        char *key = zkv_output_escape(op->key.data, op->key.size, 200);
        zkv_output_error("key not found: %s", key ? key : "");
        free(key);
        code = ZKV_EXIT_NEGATIVE;
    }
    return code;
}

/*  get --file: the value into PATH, nothing on stdout (but for -w json or
    table); an absent key leaves PATH alone. */
static int s_get_to_file(const zkv_globals_t *g, const zkv_op_t *op, const Zkv__Response *reply,
                         const char *path)
{
    if (reply->status != ZKV__STATUS__OK || g->format != ZKV_FORMAT_SIMPLE) {
        int code = s_get_print(g, op, reply);
        if (code || reply->status != ZKV__STATUS__OK)
            return code;
    }
    FILE *out = fopen(path, "wb");
    size_t size = reply->value.len;
    bool ok = out && (size == 0 || fwrite(reply->value.data, 1, size, out) == size);
    int saved = errno;
    if (out && fclose(out) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        zkv_output_error("cannot write %.200s: %s", path, strerror(saved));
        return ZKV_EXIT_ERROR;
    }
    return ZKV_EXIT_OK;
}

static int s_get(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    const char *consistency = NULL, *file = NULL;
    const zkv_flag_t flags[] = {
        {"consistency", 0, ZKV_FLAG_STRING, &consistency, "l|s",
         "l: linearizable, through the leader (default); s: serializable, any node"},
        {"file", 0, ZKV_FLAG_STRING, &file, "PATH",
         "write the value to PATH, byte for byte, instead of stdout"},
        {NULL},
    };
    zkv_args_t args;
    int code;
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 1, 1, &args, &code))
        return code;
    zkv_op_t op = {.type = ZKV_OP_GET, .key = zkv_command_bytes(args.positional[0])};
    if (!s_consistency(consistency, &op.serializable))
        return ZKV_EXIT_USAGE;
    if (!file)
        return zkv_command_execute(g, &op, s_get_print);
    zkv_client_t *client = zkv_command_client(g, 0, 0);
    if (!client)
        return ZKV_EXIT_USAGE;
    const Zkv__Response *reply;
    int rc = zkv_client_call(client, &op, &reply);
    code = rc ? zkv_command_failed(client, rc) : s_get_to_file(g, &op, reply, file);
    zkv_client_destroy(&client);
    return code;
}

const zkv_command_t zkv_cmd_get = {
    "get",
    "get KEY [--consistency l|s] [--file PATH]",
    "Read a value",
    "Prints the value as stored, byte for byte, and a newline when stdout is a\n"
    "terminal (none into a file or a pipe, so that binary values stay intact);\n"
    "--file PATH writes it to PATH instead. An absent key prints nothing on\n"
    "stdout, 'zkv: key not found: KEY' on stderr and exits 1 (-w json still\n"
    "prints {\"found\":false,...}). A linearizable read (the default) is served\n"
    "by the leader after confirming its leadership; a serializable one by any\n"
    "node from its own, possibly stale, state.\n\n"
    "Examples:\n  zkv get greeting\n  zkv get greeting -w json\n"
    "  zkv get greeting --consistency s\n  zkv get picture --file picture.png\n",
    s_get,
};

/* ---------------------------------------------------------------- scan */

typedef struct {
    zkv_globals_t *g;
    bool keys_only;
    uint64_t count;
    uint64_t revision;
    json_t *kvs;         /* -w json */
    zkv_table_t *table;  /* -w table */
    uint8_t *next_start; /* owned bounds of the next page */
    uint8_t *next_end;
    uint8_t *prefix_end; /* first key past the prefix, when there is one */
    size_t prefix_end_size;
} s_scan_t;

static int s_scan_emit(s_scan_t *s, const Zkv__KeyValue *kv)
{
    zkv_bytes_t key = s_bin(kv->key), value = s_bin(kv->value);
    if (s->g->format == ZKV_FORMAT_JSON) {
        json_t *item = json_object();
        if (!item || zkv_output_json_bytes(item, "key", key.data, key.size) ||
            (!s->keys_only && zkv_output_json_bytes(item, "value", value.data, value.size)) ||
            zkv_command_json_meta(item, kv->create_revision, kv->mod_revision, kv->version,
                                  kv->lease) ||
            json_array_append_new(s->kvs, item)) {
            json_decref(item);
            return -1;
        }
    } else if (s->g->format == ZKV_FORMAT_TABLE) {
        return s_table_row(s->table, key, s->keys_only ? NULL : &value);
    } else {
        zkv_output_line(stdout, key.data, key.size);
        if (!s->keys_only)
            zkv_output_line(stdout, value.data, value.size);
    }
    return 0;
}

/*  Point op at the page after the one that ended with last. false: no key can follow. */
static bool s_scan_next(s_scan_t *s, zkv_op_t *op, zkv_bytes_t last)
{
    bool had_prefix = op->prefix.size > 0;
    if (had_prefix) {
        op->start = op->prefix;
        op->end.data = s->prefix_end;
        op->end.size = s->prefix_end_size;
        op->prefix.size = 0;
    }
    if (op->reverse) {
        if (last.size == 0)
            return false; /* the empty key is the smallest */
        memcpy(s->next_end, last.data, last.size);
        op->end.data = s->next_end;
        op->end.size = last.size;
        return true;
    }
    size_t size = last.size + 1;
    if (last.size < ZKV_KEY_SIZE_MAX) {
        if (last.size) /* an empty key's data may be NULL */
            memcpy(s->next_start, last.data, last.size);
        s->next_start[last.size] = 0;
    } else if (!zkv_prefix_end(last.data, last.size, s->next_start, &size)) {
        return false;
    }
    op->start.data = s->next_start;
    op->start.size = size;
    return true;
}

static int s_scan_print(s_scan_t *s, bool more)
{
    if (s->g->format == ZKV_FORMAT_JSON) {
        json_t *doc = json_object();
        if (doc) {
            json_object_set(doc, "kvs", s->kvs);
            json_object_set_new(doc, "count", zkv_output_json_u64(s->count));
            json_object_set_new(doc, "more", json_boolean(more));
            json_object_set_new(doc, "revision", zkv_output_json_u64(s->revision));
        }
        return zkv_command_json(doc);
    }
    if (s->g->format == ZKV_FORMAT_TABLE)
        return s_print_table(s->table);
    return ZKV_EXIT_OK;
}

/*  Page through the range until the limit or its end; each page is a request. */
static int s_scan_pages(s_scan_t *s, zkv_client_t *client, zkv_op_t *op, uint64_t limit)
{
    for (;;) {
        if (limit)
            op->limit = (uint32_t) (limit - s->count > UINT32_MAX ? UINT32_MAX : limit - s->count);
        const Zkv__Response *reply;
        int rc = zkv_client_call(client, op, &reply);
        if (rc)
            return zkv_command_failed(client, rc);
        if (reply->status != ZKV__STATUS__OK && reply->status != ZKV__STATUS__NOT_FOUND)
            return zkv_command_refused(reply);
        if (s->count == 0)
            s->revision = reply->revision;
        for (size_t i = 0; i < reply->n_kvs; i++)
            if (s_scan_emit(s, reply->kvs[i])) {
                zkv_output_error("out of memory");
                return ZKV_EXIT_ERROR;
            }
        s->count += reply->n_kvs;
        bool more = reply->status == ZKV__STATUS__OK && reply->more;
        if (more && reply->n_kvs == 0) {
            zkv_output_error("bad reply: scan page says more but holds no keys");
            return ZKV_EXIT_ERROR;
        }
        if (!more || (limit && s->count >= limit) ||
            !s_scan_next(s, op, s_bin(reply->kvs[reply->n_kvs - 1]->key)))
            return s_scan_print(s, more);
    }
}

static int s_scan_run(s_scan_t *s, zkv_op_t *op, uint64_t limit)
{
    const char *headers[] = {"KEY", "VALUE"};
    s->next_start = malloc(ZKV_KEY_SIZE_MAX + 1);
    s->next_end = malloc(ZKV_KEY_SIZE_MAX + 1);
    s->prefix_end = malloc(ZKV_KEY_SIZE_MAX + 1);
    s->kvs = s->g->format == ZKV_FORMAT_JSON ? json_array() : NULL;
    s->table =
        s->g->format == ZKV_FORMAT_TABLE ? zkv_table_new(s->keys_only ? 1 : 2, headers) : NULL;
    if (!s->next_start || !s->next_end || !s->prefix_end ||
        (s->g->format == ZKV_FORMAT_JSON && !s->kvs) ||
        (s->g->format == ZKV_FORMAT_TABLE && !s->table)) {
        zkv_output_error("out of memory");
        return ZKV_EXIT_ERROR;
    }
    if (op->prefix.size <= ZKV_KEY_SIZE_MAX &&
        !zkv_prefix_end(op->prefix.data, op->prefix.size, s->prefix_end, &s->prefix_end_size))
        s->prefix_end_size = 0;
    zkv_client_t *client = zkv_command_client(s->g, 0, 0);
    if (!client)
        return ZKV_EXIT_USAGE;
    int code = s_scan_pages(s, client, op, limit);
    zkv_client_destroy(&client);
    return code;
}

static int s_scan(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    const char *prefix = NULL, *from = NULL, *to = NULL, *consistency = NULL;
    uint64_t limit = 0;
    bool reverse = false, keys_only = false;
    const zkv_flag_t flags[] = {
        {"prefix", 0, ZKV_FLAG_STRING, &prefix, "P", "keys that begin with P"},
        {"from", 0, ZKV_FLAG_STRING, &from, "A", "keys from A on (inclusive)"},
        {"to", 0, ZKV_FLAG_STRING, &to, "B", "keys before B (exclusive); needs --from"},
        {"limit", 0, ZKV_FLAG_U64, &limit, "N", "at most N keys (default: all)"},
        {"reverse", 0, ZKV_FLAG_BOOL, &reverse, NULL, "in descending order"},
        {"keys-only", 0, ZKV_FLAG_BOOL, &keys_only, NULL, "keys without values"},
        {"consistency", 0, ZKV_FLAG_STRING, &consistency, "l|s",
         "l: linearizable (default); s: serializable"},
        {NULL},
    };
    zkv_args_t args;
    int code;
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 0, 0, &args, &code))
        return code;
    if ((prefix && (from || to)) || (to && !from)) {
        zkv_output_error("scan: use --prefix P, or --from A [--to B]");
        return ZKV_EXIT_USAGE;
    }
    zkv_op_t op = {.type = ZKV_OP_SCAN,
                   .prefix = zkv_command_bytes(prefix),
                   .start = zkv_command_bytes(from),
                   .end = zkv_command_bytes(to),
                   .reverse = reverse,
                   .keys_only = keys_only};
    if (!s_consistency(consistency, &op.serializable))
        return ZKV_EXIT_USAGE;
    s_scan_t s = {.g = g, .keys_only = keys_only};
    code = s_scan_run(&s, &op, limit);
    json_decref(s.kvs);
    zkv_table_destroy(&s.table);
    free(s.next_start);
    free(s.next_end);
    free(s.prefix_end);
    return code;
}

const zkv_command_t zkv_cmd_scan = {
    "scan",
    "scan [--prefix P | --from A [--to B]] [--limit N] [--reverse] [--keys-only]",
    "List keys in order",
    "Prints each key and its value on lines of their own (keys only with\n"
    "--keys-only), in key order: bytes compared as unsigned, a shorter key before\n"
    "a longer one it begins. Without --limit every matching key is listed: when\n"
    "the node stops a page at its own maximum, zkv asks for the next page after\n"
    "the last key it got (pages are read one after another, not at one instant).\n"
    "-w json prints {\"kvs\":[{\"key\":..,\"value\":..}],\"count\":N,\"more\":bool,\n"
    "\"revision\":R}; more is true when --limit stopped the listing early.\n\n"
    "Examples:\n  zkv scan --prefix user/\n  zkv scan --from a --to m --limit 10 --reverse\n"
    "  zkv scan --keys-only -w table\n",
    s_scan,
};
