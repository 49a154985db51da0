/*  cmd_cas: zkv cas, compare and swap on one key's value, existence,
    version or revisions. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"

static const char *s_failure(const zkv_op_t *op, const Zkv__Response *reply)
{
    if (op->expect_absent)
        return "the key exists";
    switch (op->target) {
    case ZKV__COMPARE__TARGET__VERSION: return "the key's version differs";
    case ZKV__COMPARE__TARGET__MOD: return "the key's mod revision differs";
    case ZKV__COMPARE__TARGET__CREATE: return "the key's create revision differs";
    default: break;
    }
    return reply->found ? "the current value differs from EXPECTED" : "the key is absent";
}

static int s_cas_print(const zkv_globals_t *g, const zkv_op_t *op, const Zkv__Response *reply)
{
    bool ok = reply->status == ZKV__STATUS__OK;
    if (!ok && reply->status != ZKV__STATUS__CAS_FAILED && reply->status != ZKV__STATUS__NOT_FOUND)
        return zkv_command_refused(reply);
    int code = ZKV_EXIT_OK;
    if (g->format == ZKV_FORMAT_JSON) {
        json_t *doc = zkv_command_json_key(op->key, reply->revision);
        if (doc)
            json_object_set_new(doc, "succeeded", json_boolean(ok));
        code = zkv_command_json(doc);
    } else if (ok) {
        printf("OK\n");
    }
    if (code == ZKV_EXIT_OK && !ok) {
        zkv_output_error("compare failed: %s", s_failure(op, reply));
        code = ZKV_EXIT_NEGATIVE;
    }
    return code;
}

/*  At most one of --absent, --version, --mod-rev, --create-rev; 0 or -1. */
static int s_target(zkv_op_t *op, bool absent, const uint64_t numbers[3], const bool given[3])
{
    static const Zkv__Compare__Target targets[] = {
        ZKV__COMPARE__TARGET__VERSION, ZKV__COMPARE__TARGET__MOD, ZKV__COMPARE__TARGET__CREATE};
    int chosen = absent;
    for (int i = 0; i < 3; i++)
        if (given[i]) {
            chosen++;
            op->target = targets[i];
            op->expected_number = numbers[i];
        }
    op->expect_absent = absent;
    return chosen > 1 ? -1 : 0;
}

static int s_cas(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    bool absent = false, given[3] = {false};
    uint64_t numbers[3] = {0};
    const zkv_flag_t flags[] = {
        {"absent", 0, ZKV_FLAG_BOOL, &absent, NULL,
         "succeed only if KEY does not exist (then: cas --absent KEY NEW)"},
        {"version", 0, ZKV_FLAG_U64, &numbers[0], "N",
         "succeed only if KEY's version is N (0: absent)", 0, 0, &given[0]},
        {"mod-rev", 0, ZKV_FLAG_U64, &numbers[1], "R",
         "succeed only if KEY was last changed at revision R", 0, 0, &given[1]},
        {"create-rev", 0, ZKV_FLAG_U64, &numbers[2], "R",
         "succeed only if KEY was created at revision R", 0, 0, &given[2]},
        {NULL},
    };
    zkv_args_t args;
    int code;
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 2, 3, &args, &code))
        return code;
    zkv_op_t op = {.type = ZKV_OP_CAS, .key = zkv_command_bytes(args.positional[0])};
    if (s_target(&op, absent, numbers, given)) {
        zkv_output_error("cas: give at most one of --absent, --version, --mod-rev, --create-rev");
        return ZKV_EXIT_USAGE;
    }
    bool by_value = op.target == ZKV__COMPARE__TARGET__VALUE && !absent;
    if (args.count != (by_value ? 3 : 2)) {
        zkv_output_error("cas: %s; usage: zkv %s",
                         by_value ? "wants KEY EXPECTED NEW" : "wants KEY NEW with that flag",
                         cmd->usage);
        return ZKV_EXIT_USAGE;
    }
    op.value = zkv_command_bytes(args.positional[args.count - 1]);
    if (by_value)
        op.expected = zkv_command_bytes(args.positional[1]);
    return zkv_command_execute(g, &op, s_cas_print);
}

const zkv_command_t zkv_cmd_cas = {
    "cas",
    "cas KEY EXPECTED NEW | cas --absent KEY NEW | cas KEY NEW --version N|--mod-rev R|"
    "--create-rev R",
    "Compare and swap a value",
    "Sets KEY to NEW atomically if its current value is EXPECTED; with --absent,\n"
    "if it does not exist; with --version N, if it has changed N times since its\n"
    "creation (0: absent); with --mod-rev R or --create-rev R, if it was last\n"
    "changed or created at revision R (get -w json shows them). Prints OK;\n"
    "otherwise prints 'zkv: compare failed: ...' on stderr and exits 1.\n\n"
    "Examples:\n  zkv cas counter 41 42\n  zkv cas --absent lock owner-1\n"
    "  zkv cas config v2 --mod-rev 1207\n",
    s_cas,
};
