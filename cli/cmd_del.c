/*  cmd_del: zkv del, one key or a range (--prefix, --from/--to), through one
    log entry whatever the number of keys. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"

static int s_del_print(const zkv_globals_t *g, const zkv_op_t *op, const Zkv__Response *reply)
{
    if (reply->status != ZKV__STATUS__OK && reply->status != ZKV__STATUS__NOT_FOUND)
        return zkv_command_refused(reply);
    uint64_t deleted = reply->status == ZKV__STATUS__OK ? reply->deleted : 0;
    if (g->format == ZKV_FORMAT_JSON) {
        json_t *doc = zkv_command_json_key(op->key, reply->revision);
        if (doc)
            json_object_set_new(doc, "deleted", zkv_output_json_u64(deleted));
        return zkv_command_json(doc);
    }
    printf("%llu\n", (unsigned long long) deleted);
    return ZKV_EXIT_OK;
}

/*  The range op deletes: a prefix is [P, its end), or to the last key. */
static void s_range(zkv_op_t *op, const char *prefix, const char *from, const char *to,
                    uint8_t *end_buf)
{
    op->range = true;
    if (prefix) {
        op->key = zkv_command_bytes(prefix);
        if (op->key.size <= ZKV_KEY_SIZE_MAX &&
            zkv_prefix_end(op->key.data, op->key.size, end_buf, &op->end.size))
            op->end.data = end_buf;
    } else {
        op->key = zkv_command_bytes(from);
        op->end = zkv_command_bytes(to);
    }
}

static int s_del(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    const char *prefix = NULL, *from = NULL, *to = NULL;
    const zkv_flag_t flags[] = {
        {"prefix", 0, ZKV_FLAG_STRING, &prefix, "P", "every key that begins with P"},
        {"from", 0, ZKV_FLAG_STRING, &from, "A", "every key from A on (inclusive)"},
        {"to", 0, ZKV_FLAG_STRING, &to, "B", "... and before B (exclusive); needs --from"},
        {NULL},
    };
    zkv_args_t args;
    int code;
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 0, 1, &args, &code))
        return code;
    bool range = prefix || from;
    if ((prefix && (from || to)) || (to && !from) || range == (args.count == 1)) {
        zkv_output_error("del: give KEY, --prefix P, or --from A [--to B]; usage: zkv %s",
                         cmd->usage);
        return ZKV_EXIT_USAGE;
    }
    zkv_op_t op = {.type = ZKV_OP_DELETE};
    uint8_t *end_buf = malloc(ZKV_KEY_SIZE_MAX);
    if (!end_buf) {
        zkv_output_error("out of memory");
        return ZKV_EXIT_ERROR;
    }
    if (range)
        s_range(&op, prefix, from, to, end_buf);
    else
        op.key = zkv_command_bytes(args.positional[0]);
    code = zkv_command_execute(g, &op, s_del_print);
    free(end_buf);
    return code;
}

const zkv_command_t zkv_cmd_del = {
    "del",
    "del KEY | del --prefix P | del --from A [--to B]",
    "Delete a key or a range of keys",
    "Prints the number of keys deleted, like etcdctl; deleting an absent key is\n"
    "not an error (0). A range is deleted atomically, in one log entry: every\n"
    "key that begins with P, or from A (inclusive) to B (exclusive; without\n"
    "--to, to the last key). --prefix '' deletes every key.\n\n"
    "Examples:\n  zkv del greeting\n  zkv del --prefix user/\n  zkv del --from a --to m\n",
    s_del,
};
