/*  cmd_member: membership and leadership, as etcdctl's member and move-leader
    commands: member list, add, promote and remove, and move-leader. The list
    is the view of whichever node answers; the changes go to the leader (the
    client follows NOT_LEADER as it does for writes) and are answered once
    committed, with the membership they made. Arguments are checked before any
    node is contacted. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "zkv_limits.h"

/*  Longest port number, digits. */
#define S_PORT_DIGITS_MAX 5

/* ---------------------------------------------------------------- arguments */

static bool s_parse_id(const zkv_command_t *cmd, const char *text, uint32_t *id)
{
    uint64_t value;
    if (zkv_u64_parse(text, &value) || value == 0 || value > UINT32_MAX) {
        zkv_output_error("%s: ID wants a whole number from 1 to %u, not '%.64s'", cmd->name,
                         UINT32_MAX, text);
        return false;
    }
    *id = (uint32_t) value;
    return true;
}

/*  A port of size characters at text: 1 to 65535. */
static bool s_parse_port(const char *text, size_t size, uint16_t *port)
{
    char digits[S_PORT_DIGITS_MAX + 1];
    uint64_t value;
    if (size == 0 || size > S_PORT_DIGITS_MAX)
        return false;
    memcpy(digits, text, size);
    digits[size] = '\0';
    if (zkv_u64_parse(digits, &value) || value == 0 || value > UINT16_MAX)
        return false;
    *port = (uint16_t) value;
    return true;
}

/*  HOST followed by count ports, colon-separated. Ports are read from the
    right, so a host may hold colons, as zkvd reads its --peers; a slash means
    a scheme or path, which no host has. */
static bool s_parse_host_ports(const char *text, size_t count, char *host, uint16_t *ports)
{
    size_t end = strlen(text);
    for (size_t i = count; i-- > 0;) {
        size_t colon = end;
        while (colon > 0 && text[colon - 1] != ':')
            colon--;
        if (colon == 0 || !s_parse_port(text + colon, end - colon, &ports[i]))
            return false;
        end = colon - 1;
    }
    if (end == 0 || end >= ZKV_HOST_SIZE_MAX)
        return false;
    for (size_t i = 0; i < end; i++)
        if ((unsigned char) text[i] <= ' ' || text[i] == 0x7f || text[i] == '/')
            return false;
    memcpy(host, text, end);
    host[end] = '\0';
    return true;
}

/*  ID PEER_ENDPOINT CLIENT_ENDPOINT into member; host is its host's storage. */
static bool s_parse_member(const zkv_command_t *cmd, char **positional, zkv_client_member_t *member,
                           char host[ZKV_HOST_SIZE_MAX])
{
    const char *peer = positional[1], *client = positional[2];
    char client_host[ZKV_HOST_SIZE_MAX];
    uint16_t ports[2];
    if (!s_parse_id(cmd, positional[0], &member->id))
        return false;
    if (!s_parse_host_ports(peer, 2, host, ports)) {
        zkv_output_error("%s: PEER_ENDPOINT wants HOST:PUB_PORT:ROUTER_PORT, ports from 1 to "
                         "65535, not '%.200s'",
                         cmd->name, peer);
        return false;
    }
    member->pub_port = ports[0];
    member->router_port = ports[1];
    const char *bare = strncmp(client, "tcp://", 6) == 0 ? client + 6 : client;
    if (!s_parse_host_ports(bare, 1, client_host, &member->client_port)) {
        zkv_output_error("%s: CLIENT_ENDPOINT wants HOST:PORT or tcp://HOST:PORT, port from 1 to "
                         "65535, not '%.200s'",
                         cmd->name, client);
        return false;
    }
    if (strcmp(host, client_host) != 0) {
        zkv_output_error("%s: PEER_ENDPOINT and CLIENT_ENDPOINT name different hosts, '%.100s' "
                         "and '%.100s' (a member has one)",
                         cmd->name, host, client_host);
        return false;
    }
    member->host = host;
    return true;
}

/* ---------------------------------------------------------------- printing */

static uint32_t s_leader_id(const Zkv__Response *reply)
{
    return reply->member ? reply->member->leader_id : 0;
}

static json_t *s_member_json(const Zkv__Member *m)
{
    json_t *o = json_object();
    if (!o || json_object_set_new(o, "id", json_integer(m->id)) ||
        json_object_set_new(o, "learner", json_boolean(m->learner)) ||
        zkv_output_json_bytes(o, "host", (const uint8_t *) m->host, strlen(m->host)) ||
        json_object_set_new(o, "pub_port", json_integer(m->pub_port)) ||
        json_object_set_new(o, "router_port", json_integer(m->router_port)) ||
        json_object_set_new(o, "client_port", json_integer(m->client_port)) ||
        zkv_output_json_bytes(o, "client_endpoint", (const uint8_t *) m->client_endpoint,
                              strlen(m->client_endpoint))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/*  The membership as one JSON object; NULL when memory runs out. */
static json_t *s_config_json(const Zkv__Response *reply)
{
    const Zkv__ClusterConfig *config = reply->config;
    uint32_t leader = s_leader_id(reply);
    char cluster[24];
    snprintf(cluster, sizeof cluster, "%016llx", (unsigned long long) reply->cluster_id);
    json_t *doc = json_object(), *members = json_array(), *removed = json_array();
    /* Every set runs: it takes its value even when it fails (doc NULL), so nothing leaks. */
    int rc = json_object_set_new(doc, "cluster_id", json_string(cluster));
    rc |= json_object_set_new(doc, "config_index", zkv_output_json_u64(reply->config_index));
    rc |= json_object_set_new(doc, "leader", leader ? json_integer(leader) : json_null());
    rc |= json_object_set_new(doc, "members", members);
    rc |= json_object_set_new(doc, "removed", removed);
    for (size_t i = 0; !rc && i < config->n_members; i++)
        rc = json_array_append_new(members, s_member_json(config->members[i]));
    for (size_t i = 0; !rc && i < config->n_removed; i++)
        rc = json_array_append_new(removed, json_integer(config->removed[i]));
    if (rc) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static int s_member_row(zkv_table_t *table, const Zkv__Member *m, uint32_t leader)
{
    char *host = zkv_output_escape((const uint8_t *) m->host, strlen(m->host), ZKV_OUTPUT_CELL_MAX);
    char *client = zkv_output_escape((const uint8_t *) m->client_endpoint,
                                     strlen(m->client_endpoint), ZKV_OUTPUT_CELL_MAX);
    char id[16], peer[4 * ZKV_OUTPUT_CELL_MAX + 16];
    snprintf(id, sizeof id, "%u", m->id);
    snprintf(peer, sizeof peer, "%s:%u:%u", host ? host : "", m->pub_port, m->router_port);
    /* "-": the answering node knows no leader. */
    const char *leads = leader == 0 ? "-" : m->id == leader ? "yes" : "no";
    const char *cells[] = {id, m->learner ? "learner" : "voter", leads, peer, client};
    int rc = host && client ? zkv_table_add(table, cells) : -1;
    free(host);
    free(client);
    return rc;
}

/*  A line with the cluster id and the config index, then a row per member. */
static int s_config_print(const zkv_globals_t *g, const Zkv__Response *reply)
{
    if (g->format == ZKV_FORMAT_JSON)
        return zkv_command_json(s_config_json(reply));
    const char *headers[] = {"ID", "ROLE", "LEADER", "PEER", "CLIENT"};
    zkv_table_t *table = zkv_table_new(5, headers);
    for (size_t i = 0; table && i < reply->config->n_members; i++)
        if (s_member_row(table, reply->config->members[i], s_leader_id(reply)))
            zkv_table_destroy(&table);
    if (!table) {
        zkv_output_error("out of memory");
        return ZKV_EXIT_ERROR;
    }
    printf("cluster %016llx, config index %llu\n", (unsigned long long) reply->cluster_id,
           (unsigned long long) reply->config_index);
    zkv_table_print(table, stdout, g->format == ZKV_FORMAT_TABLE);
    zkv_table_destroy(&table);
    return ZKV_EXIT_OK;
}

/*  OK with a membership, or the exit code of what came instead. */
static int s_config_check(const Zkv__Response *reply)
{
    if (reply->status != ZKV__STATUS__OK)
        return zkv_command_refused(reply);
    if (!reply->config) {
        zkv_output_error("bad reply: OK without the membership");
        return ZKV_EXIT_ERROR;
    }
    return ZKV_EXIT_OK;
}

static int s_list_print(const zkv_globals_t *g, const zkv_op_t *op, const Zkv__Response *reply)
{
    (void) op;
    int code = s_config_check(reply);
    return code == ZKV_EXIT_OK ? s_config_print(g, reply) : code;
}

/*  What changed, then the membership it made (in JSON, the membership alone). */
static int s_change_print(const zkv_globals_t *g, const zkv_op_t *op, const Zkv__Response *reply)
{
    int code = s_config_check(reply);
    if (code != ZKV_EXIT_OK)
        return code;
    uint32_t id = op->member.id;
    if (g->format == ZKV_FORMAT_JSON)
        return s_config_print(g, reply);
    switch (op->type) {
    case ZKV_OP_MEMBER_ADD:
        printf("member %u added as %s\n", id, op->member.learner ? "learner" : "voter");
        break;
    case ZKV_OP_MEMBER_PROMOTE: printf("member %u promoted to voter\n", id); break;
    default: printf("member %u removed\n", id); break;
    }
    return s_config_print(g, reply);
}

static int s_move_print(const zkv_globals_t *g, const zkv_op_t *op, const Zkv__Response *reply)
{
    if (reply->status != ZKV__STATUS__OK)
        return zkv_command_refused(reply);
    if (g->format == ZKV_FORMAT_JSON) {
        json_t *doc = json_object();
        if (doc && json_object_set_new(doc, "leader", json_integer(op->member.id))) {
            json_decref(doc);
            doc = NULL;
        }
        return zkv_command_json(doc);
    }
    printf("leader is now %u\n", op->member.id);
    return ZKV_EXIT_OK;
}

/* ---------------------------------------------------------------- commands */

static int s_list(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    zkv_args_t args;
    int code;
    const zkv_flag_t flags[] = {{NULL}};
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 0, 0, &args, &code))
        return code;
    zkv_op_t op = {.type = ZKV_OP_MEMBER_LIST};
    return zkv_command_execute(g, &op, s_list_print);
}

static int s_add(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    bool learner = false;
    const zkv_flag_t flags[] = {
        {"learner", 0, ZKV_FLAG_BOOL, &learner, NULL,
         "join as a learner: receives the log but does not vote until promoted"},
        {NULL},
    };
    zkv_args_t args;
    int code;
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 3, 3, &args, &code))
        return code;
    char host[ZKV_HOST_SIZE_MAX];
    zkv_op_t op = {.type = ZKV_OP_MEMBER_ADD, .member.learner = learner};
    if (!s_parse_member(cmd, args.positional, &op.member, host))
        return ZKV_EXIT_USAGE;
    return zkv_command_execute(g, &op, s_change_print);
}

/*  A request that names one member by its id. */
static int s_by_id(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv,
                   zkv_op_type_t type, zkv_command_print_fn *print)
{
    zkv_args_t args;
    int code;
    const zkv_flag_t flags[] = {{NULL}};
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 1, 1, &args, &code))
        return code;
    zkv_op_t op = {.type = type};
    if (!s_parse_id(cmd, args.positional[0], &op.member.id))
        return ZKV_EXIT_USAGE;
    return zkv_command_execute(g, &op, print);
}

static int s_promote(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    return s_by_id(cmd, g, argc, argv, ZKV_OP_MEMBER_PROMOTE, s_change_print);
}

static int s_remove(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    return s_by_id(cmd, g, argc, argv, ZKV_OP_MEMBER_REMOVE, s_change_print);
}

static int s_move_leader(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    return s_by_id(cmd, g, argc, argv, ZKV_OP_MOVE_LEADER, s_move_print);
}

#define S_CHANGE_NOTE                                                                              \
    "The change goes to the leader (a follower's NOT_LEADER is followed) and is\n"                 \
    "answered once committed. A change the cluster's state forbids (another change\n"              \
    "in progress, a learner not caught up, the last voter) prints the node's reason\n"             \
    "and exits 1. A retry of a change already in effect (a lost reply) gets OK.\n"

static const zkv_command_t s_member_list = {
    "member list",
    "member list",
    "List the cluster's members",
    "Prints a line with the cluster id (hex) and the log index of the membership,\n"
    "then a row per member: id, role (voter or learner), whether it leads (yes, no,\n"
    "or - when the answering node knows no leader), peer endpoint\n"
    "(HOST:PUB_PORT:ROUTER_PORT) and client endpoint. Any node answers, from its\n"
    "own view. -w json prints {\"cluster_id\":\"<hex>\",\"config_index\":N,\"leader\":ID,\n"
    "\"members\":[{\"id\":..,\"learner\":..,\"host\":..,\"pub_port\":..,\"router_port\":..,\n"
    "\"client_port\":..,\"client_endpoint\":..}],\"removed\":[ids]}.\n\n"
    "Examples:\n  zkv member list\n  zkv member list -w json --endpoints 127.0.0.1:7102\n",
    s_list,
};

static const zkv_command_t s_member_add = {
    "member add",
    "member add ID PEER_ENDPOINT CLIENT_ENDPOINT [--learner]",
    "Add a member",
    "ID is the new member's id (1 to 4294967295, never one used before),\n"
    "PEER_ENDPOINT its HOST:PUB_PORT:ROUTER_PORT and CLIENT_ENDPOINT its HOST:PORT\n"
    "or tcp://HOST:PORT, on the same host: the entry 'ID=HOST:PUB:ROUTER:CLIENT'\n"
    "of zkvd --peers, split in two (a node started with zkvd --join waits to be\n"
    "added). Prints 'member ID added as voter' (or learner) and the new\n"
    "membership as member list does.\n\n" S_CHANGE_NOTE "\n"
    "Example:\n  zkv member add 4 10.0.0.4:7201:7301 10.0.0.4:7101 --learner\n",
    s_add,
};

static const zkv_command_t s_member_promote = {
    "member promote",
    "member promote ID",
    "Make a learner a voter",
    "The leader promotes the learner once it has caught up. Prints\n"
    "'member ID promoted to voter' and the new membership.\n\n" S_CHANGE_NOTE "\n"
    "Example:\n  zkv member promote 4\n",
    s_promote,
};

static const zkv_command_t s_member_remove = {
    "member remove",
    "member remove ID",
    "Remove a member",
    "The id is never used again. Removing the leader makes it hand over\n"
    "leadership and leave. Prints 'member ID removed' and the new membership.\n\n" S_CHANGE_NOTE
    "\n"
    "Example:\n  zkv member remove 3\n",
    s_remove,
};

static const zkv_command_t *const s_subcommands[] = {
    &s_member_list, &s_member_add, &s_member_promote, &s_member_remove, NULL,
};

static int s_member(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    return zkv_command_dispatch(cmd, s_subcommands, g, argc, argv);
}

const zkv_command_t zkv_cmd_member = {
    "member",
    "member list | add ID PEER_ENDPOINT CLIENT_ENDPOINT [--learner] | promote ID | remove ID",
    "List, add, promote or remove members",
    "Subcommands:\n"
    "  list      the members, as the node asked sees them\n"
    "  add       add a member, as a voter or (--learner) a learner\n"
    "  promote   make a learner a voter, once it has caught up\n"
    "  remove    remove a member\n"
    "See 'zkv member SUBCOMMAND --help' for each.\n\n"
    "Examples:\n  zkv member list\n  zkv member add 4 10.0.0.4:7201:7301 10.0.0.4:7101 --learner\n"
    "  zkv member promote 4\n  zkv member remove 3\n",
    s_member,
};

const zkv_command_t zkv_cmd_move_leader = {
    "move-leader",
    "move-leader ID",
    "Hand leadership to another voter",
    "Goes to the leader, which hands leadership to voter ID; the answer comes once\n"
    "ID leads. Prints 'leader is now ID' (-w json: {\"leader\":ID}). A transfer the\n"
    "cluster's state forbids (ID is no voter, say) prints the node's reason and\n"
    "exits 1.\n\n"
    "Example:\n  zkv move-leader 2\n",
    s_move_leader,
};
