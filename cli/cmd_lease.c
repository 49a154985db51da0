/*  cmd_lease: zkv lease grant | revoke | keepalive | list. A lease's id is the
    log index of its grant unless one was asked for: a decimal number. */
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

/*  A lease id: a decimal number, nonzero; false after saying why. */
bool zkv_lease_id_parse(const char *text, uint64_t *id)
{
    char *end;
    errno = 0;
    unsigned long long v = text && *text ? strtoull(text, &end, 10) : 0;
    if (!text || !*text || *end || errno || v == 0 || text[0] == '-') {
        zkv_output_error("'%.40s' is not a lease id (a number, as lease grant prints it)",
                         text ? text : "");
        return false;
    }
    *id = v;
    return true;
}

static int s_grant_print(const zkv_globals_t *g, const zkv_op_t *op, const Zkv__Response *r)
{
    (void) op;
    if (r->status != ZKV__STATUS__OK)
        return zkv_command_refused(r);
    if (g->format == ZKV_FORMAT_JSON) {
        json_t *doc = json_object();
        if (doc && (json_object_set_new(doc, "id", zkv_output_json_u64(r->lease_id)) ||
                    json_object_set_new(doc, "ttl", zkv_output_json_u64(r->ttl)) ||
                    json_object_set_new(doc, "revision", zkv_output_json_u64(r->revision)))) {
            json_decref(doc);
            doc = NULL;
        }
        return zkv_command_json(doc);
    }
    printf("lease %" PRIu64 " granted with TTL(%" PRIu64 "s)\n", r->lease_id, r->ttl);
    return ZKV_EXIT_OK;
}

static int s_grant(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    const char *id_text = NULL;
    const zkv_flag_t flags[] = {
        {"id", 0, ZKV_FLAG_STRING, &id_text, "ID", "this id instead of the grant's log index"},
        {NULL},
    };
    zkv_args_t args;
    int code;
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 1, 1, &args, &code))
        return code;
    char *end;
    unsigned long long ttl = strtoull(args.positional[0], &end, 10);
    if (*end || ttl == 0 || args.positional[0][0] == '-') {
        zkv_output_error("lease grant: TTL is a number of seconds, not '%.40s'",
                         args.positional[0]);
        return ZKV_EXIT_USAGE;
    }
    zkv_op_t op = {.type = ZKV_OP_LEASE_GRANT, .ttl_s = ttl};
    if (id_text && !zkv_lease_id_parse(id_text, &op.lease))
        return ZKV_EXIT_USAGE;
    return zkv_command_execute(g, &op, s_grant_print);
}

static int s_revoke_print(const zkv_globals_t *g, const zkv_op_t *op, const Zkv__Response *r)
{
    if (r->status != ZKV__STATUS__OK)
        return zkv_command_refused(r);
    if (g->format == ZKV_FORMAT_JSON) {
        json_t *doc = json_object();
        if (doc && (json_object_set_new(doc, "id", zkv_output_json_u64(op->lease)) ||
                    json_object_set_new(doc, "deleted", zkv_output_json_u64(r->deleted)))) {
            json_decref(doc);
            doc = NULL;
        }
        return zkv_command_json(doc);
    }
    printf("lease %" PRIu64 " revoked (%" PRIu64 " keys deleted)\n", op->lease, r->deleted);
    return ZKV_EXIT_OK;
}

static int s_revoke(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    const zkv_flag_t flags[] = {{NULL}};
    zkv_args_t args;
    int code;
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 1, 1, &args, &code))
        return code;
    zkv_op_t op = {.type = ZKV_OP_LEASE_REVOKE};
    if (!zkv_lease_id_parse(args.positional[0], &op.lease))
        return ZKV_EXIT_USAGE;
    return zkv_command_execute(g, &op, s_revoke_print);
}

/*  Keep the lease alive every third of its ttl; one line per renewal. */
static int s_keep_alive(zkv_globals_t *g, uint64_t id, bool once)
{
    zkv_client_t *client = zkv_command_client(g, 0, 0);
    if (!client)
        return ZKV_EXIT_USAGE;
    int code = ZKV_EXIT_OK;
    while (!zsys_interrupted) {
        zkv_op_t op = {.type = ZKV_OP_LEASE_KEEPALIVE, .lease = id};
        const Zkv__Response *r;
        int rc = zkv_client_call(client, &op, &r);
        if (rc) {
            code = zkv_command_failed(client, rc);
            break;
        }
        if (r->status != ZKV__STATUS__OK) {
            code = zkv_command_refused(r);
            break;
        }
        if (g->format == ZKV_FORMAT_JSON)
            printf("{\"id\":%" PRIu64 ",\"ttl\":%" PRIu64 "}\n", id, r->ttl);
        else
            printf("lease %" PRIu64 " keepalived with TTL(%" PRIu64 ")\n", id, r->ttl);
        fflush(stdout);
        if (once)
            break;
        int64_t wait = (int64_t) r->ttl * 1000 / 3, until = zclock_mono() + wait;
        while (!zsys_interrupted && zclock_mono() < until)
            zclock_sleep(50);
    }
    zkv_client_destroy(&client);
    return code == ZKV_EXIT_OK && zsys_interrupted && !once ? ZKV_EXIT_INTERRUPTED : code;
}

static int s_keepalive(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    bool once = false;
    const zkv_flag_t flags[] = {
        {"once", 0, ZKV_FLAG_BOOL, &once, NULL, "renew once and exit"},
        {NULL},
    };
    zkv_args_t args;
    int code;
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 1, 1, &args, &code))
        return code;
    uint64_t id;
    if (!zkv_lease_id_parse(args.positional[0], &id))
        return ZKV_EXIT_USAGE;
    return s_keep_alive(g, id, once);
}

static int s_list_print(const zkv_globals_t *g, const zkv_op_t *op, const Zkv__Response *r)
{
    (void) op;
    if (r->status != ZKV__STATUS__OK)
        return zkv_command_refused(r);
    if (g->format == ZKV_FORMAT_JSON) {
        json_t *doc = json_object(), *list = json_array();
        bool failed = !doc || !list;
        for (size_t i = 0; !failed && i < r->n_leases; i++) {
            json_t *item = json_object();
            failed = !item ||
                     json_object_set_new(item, "id", zkv_output_json_u64(r->leases[i]->id)) ||
                     json_object_set_new(item, "ttl", zkv_output_json_u64(r->leases[i]->ttl)) ||
                     json_object_set_new(item, "remaining_ms",
                                         json_integer(r->leases[i]->remaining_ms)) ||
                     json_array_append_new(list, item);
        }
        if (!failed && json_object_set(doc, "leases", list))
            failed = true;
        json_decref(list);
        if (failed) {
            json_decref(doc);
            doc = NULL;
        }
        return zkv_command_json(doc);
    }
    for (size_t i = 0; i < r->n_leases; i++) {
        const Zkv__LeaseStatus *l = r->leases[i];
        printf("lease %" PRIu64 " TTL(%" PRIu64 "s) remaining(%.1fs)\n", l->id, l->ttl,
               (double) (l->remaining_ms > 0 ? l->remaining_ms : 0) / 1000);
    }
    return ZKV_EXIT_OK;
}

static int s_list(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    const zkv_flag_t flags[] = {{NULL}};
    zkv_args_t args;
    int code;
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 0, 0, &args, &code))
        return code;
    zkv_op_t op = {.type = ZKV_OP_LEASE_LIST};
    return zkv_command_execute(g, &op, s_list_print);
}

static const zkv_command_t s_lease_grant = {
    "lease grant",
    "lease grant TTL [--id ID]",
    "Grant a lease",
    "Prints 'lease ID granted with TTL(Ns)'; ID is the grant's log index unless\n"
    "--id asked for another. TTL is in seconds; a\n"
    "shorter one than twice the longest election timeout is raised to it (1s with\n"
    "zkvd's defaults). Keys put with --lease ID are deleted when the lease is\n"
    "revoked or expires: when no keepalive came for TTL, as the leader reckons it.\n\n"
    "Example:\n  zkv lease grant 10\n",
    s_grant,
};

static const zkv_command_t s_lease_revoke = {
    "lease revoke",
    "lease revoke ID",
    "Revoke a lease and delete its keys",
    "Prints 'lease ID revoked (N keys deleted)'; a lease that is gone already\n"
    "says 'lease not found' and exits 1.\n\nExample:\n  zkv lease revoke 42\n",
    s_revoke,
};

static const zkv_command_t s_lease_keepalive = {
    "lease keepalive",
    "lease keepalive ID [--once]",
    "Keep a lease alive",
    "Renews the lease every third of its TTL until interrupted (exit 130), a line\n"
    "each time; exits 1 when the lease is gone. --once renews once.\n\n"
    "Example:\n  zkv lease keepalive 42\n",
    s_keepalive,
};

static const zkv_command_t s_lease_list = {
    "lease list",
    "lease list",
    "List the leases",
    "Every lease with its TTL and the time it has left, as the leader reckons it.\n\n"
    "Example:\n  zkv lease list -w json\n",
    s_list,
};

static const zkv_command_t *const s_subcommands[] = {
    &s_lease_grant, &s_lease_revoke, &s_lease_keepalive, &s_lease_list, NULL,
};

static int s_lease(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    return zkv_command_dispatch(cmd, s_subcommands, g, argc, argv);
}

const zkv_command_t zkv_cmd_lease = {
    "lease",
    "lease grant TTL | revoke ID | keepalive ID [--once] | list",
    "Grant, revoke, keep alive or list leases",
    "Subcommands:\n"
    "  grant      a new lease of TTL seconds\n"
    "  revoke     revoke a lease and delete its keys\n"
    "  keepalive  keep a lease alive\n"
    "  list       every lease and its time left\n"
    "See 'zkv lease SUBCOMMAND --help' for each.\n\n"
    "Example:\n  zkv lease grant 10        # lease 42 granted with TTL(10s)\n"
    "  zkv put service/a up --lease 42\n  zkv lease keepalive 42\n",
    s_lease,
};
