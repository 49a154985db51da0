/*  cmd_status: ask every member for its status, in parallel, and print one row
    per member. Members are the listed endpoints plus any member another one
    names (Response.members) by its client endpoint, so one live endpoint is
    enough to see the whole cluster. Each member gets one attempt: a refused
    connection shows at once, silence after the attempt timeout.

    A member named by the others but not answering at a listed endpoint may be
    the one behind a listed endpoint that did not answer either (a container's
    address seen from the host, where the user lists published ports): such a
    pair is shown as one row, at the endpoint the user listed. */
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

typedef struct s_status_t s_status_t;

typedef struct {
    s_status_t *owner;
    char endpoint[ZKV_CLIENT_ENDPOINT_SIZE_MAX];
    bool done;
    bool answered;
    bool id_known;
    uint32_t id;
    char role[64];
    uint64_t term;
    uint64_t commit;
    uint64_t applied;
    uint32_t leader;
    uint64_t keys;
    char error[160];
    char member_endpoint[ZKV_CLIENT_ENDPOINT_SIZE_MAX]; /* the members' name for it, if other */
} s_row_t;

/*  A member the answers name, asked once the listed endpoints are done. */
typedef struct {
    uint32_t id;
    char endpoint[ZKV_CLIENT_ENDPOINT_SIZE_MAX];
} s_named_t;

struct s_status_t {
    zkv_client_t *client;
    s_row_t rows[ZKV_CLIENT_ENDPOINTS_MAX];
    size_t count;
    s_named_t named[ZKV_CLIENT_ENDPOINTS_MAX];
    size_t named_count;
    char refusal[512]; /* why the first member that refused our handshake did */
};

static void s_done(void *arg, int rc, const Zkv__Response *reply);

static void s_copy_text(char *out, size_t size, const char *text)
{
    char *escaped = zkv_output_escape((const uint8_t *) (text ? text : ""), text ? strlen(text) : 0,
                                      (size - 4) / 4);
    snprintf(out, size, "%s", escaped ? escaped : "");
    free(escaped);
}

static s_row_t *s_row(s_status_t *s, const char *name)
{
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->rows[i].endpoint, name) == 0)
            return &s->rows[i];
    return NULL;
}

/*  Query a member by normalised endpoint unless it is known already; its row,
    or NULL. */
static s_row_t *s_query(s_status_t *s, const char *name)
{
    s_row_t *row = s_row(s, name);
    if (row || s->count == ZKV_CLIENT_ENDPOINTS_MAX)
        return row;
    row = &s->rows[s->count];
    memset(row, 0, sizeof *row);
    row->owner = s;
    snprintf(row->endpoint, sizeof row->endpoint, "%s", name);
    zkv_op_t op = {.type = ZKV_OP_STATUS, .endpoint = row->endpoint, .once = true};
    int rc = zkv_client_submit(s->client, &op, s_done, row);
    if (rc) {
        row->done = true;
        snprintf(row->error, sizeof row->error, "%s", zkv_client_strerror(rc));
    }
    s->count++;
    return row;
}

/*  Note each member an answer names: its row's id, or a member to ask later. */
static void s_learn_members(s_status_t *s, const Zkv__Response *reply)
{
    for (size_t i = 0; i < reply->n_members; i++) {
        const Zkv__MemberStatus *m = reply->members[i];
        char name[ZKV_CLIENT_ENDPOINT_SIZE_MAX];
        if (!m || !m->client_endpoint || !m->id ||
            zkv_client_endpoint_normalize(m->client_endpoint, strlen(m->client_endpoint), name,
                                          sizeof name))
            continue;
        s_row_t *row = s_row(s, name);
        if (row && !row->id_known) {
            row->id = m->id;
            row->id_known = true;
        }
        bool known = row != NULL;
        for (size_t j = 0; j < s->named_count && !known; j++)
            known = strcmp(s->named[j].endpoint, name) == 0;
        if (!known && s->named_count < ZKV_CLIENT_ENDPOINTS_MAX) {
            s->named[s->named_count].id = m->id;
            snprintf(s->named[s->named_count++].endpoint, sizeof s->named[0].endpoint, "%s", name);
        }
    }
}

static void s_fill(s_row_t *row, const Zkv__MemberStatus *m)
{
    row->answered = true;
    row->id = m->id;
    row->id_known = m->id != 0;
    s_copy_text(row->role, sizeof row->role, m->role);
    row->term = m->term;
    row->commit = m->commit_index;
    row->applied = m->applied_index;
    row->leader = m->leader_id;
    row->keys = m->keys;
}

static void s_done(void *arg, int rc, const Zkv__Response *reply)
{
    s_row_t *row = arg;
    row->done = true;
    if (rc == ZKV_CLIENT_EHANDSHAKE && !row->owner->refusal[0])
        snprintf(row->owner->refusal, sizeof row->owner->refusal, "%s",
                 zkv_client_error(row->owner->client));
    if (rc) {
        snprintf(row->error, sizeof row->error, "%s",
                 rc == ZKV_CLIENT_ETIMEDOUT ? "unreachable" : zkv_client_strerror(rc));
        return;
    }
    if (reply->status != ZKV__STATUS__OK || !reply->member) {
        snprintf(row->error, sizeof row->error, "answered %s",
                 zkv_client_status_name((int) reply->status));
        return;
    }
    s_fill(row, reply->member);
    s_learn_members(row->owner, reply);
}

/* ---------------------------------------------------------------- named members */

static bool s_answered_id(const s_status_t *s, uint32_t id)
{
    for (size_t i = 0; i < s->count; i++)
        if (s->rows[i].answered && s->rows[i].id_known && s->rows[i].id == id)
            return true;
    return false;
}

static const char *s_port(const char *endpoint)
{
    const char *colon = strrchr(endpoint, ':');
    return colon ? colon + 1 : "";
}

/*  The listed row, silent and of unknown id, that stands for member m: the only
    one on m's port, else the only one left when m is the only member left
    (open: members named that no row answered for). NULL when it is not clear. */
static s_row_t *s_pair(s_status_t *s, const s_named_t *m, size_t open)
{
    s_row_t *on_port = NULL, *any = NULL;
    size_t ports = 0, silent = 0;
    for (size_t i = 0; i < s->count; i++) {
        s_row_t *r = &s->rows[i];
        if (r->answered || r->id_known)
            continue;
        silent++;
        any = r;
        if (strcmp(s_port(r->endpoint), s_port(m->endpoint)) == 0) {
            ports++;
            on_port = r;
        }
    }
    if (ports == 1)
        return on_port;
    return ports == 0 && silent == 1 && open == 1 ? any : NULL;
}

/*  Once the listed endpoints are done: ask each member the answers named that
    no row stands for yet. */
static void s_ask_named(s_status_t *s)
{
    size_t open = 0, count = s->named_count;
    s_named_t named[ZKV_CLIENT_ENDPOINTS_MAX];
    memcpy(named, s->named, count * sizeof named[0]);
    s->named_count = 0;
    for (size_t i = 0; i < count; i++)
        open += !s_answered_id(s, named[i].id);
    for (size_t i = 0; i < count; i++) {
        if (s_answered_id(s, named[i].id))
            continue;
        s_row_t *row = s_pair(s, &named[i], open);
        if (row)
            snprintf(row->member_endpoint, sizeof row->member_endpoint, "%s", named[i].endpoint);
        else
            row = s_query(s, named[i].endpoint);
        if (row && !row->id_known) {
            row->id = named[i].id;
            row->id_known = true;
        }
    }
}

/* ---------------------------------------------------------------- printing */

static int s_compare(const void *a, const void *b)
{
    const s_row_t *x = a, *y = b;
    if (x->id_known != y->id_known)
        return x->id_known ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    if (x->answered != y->answered)
        return x->answered ? -1 : 1;
    return strcmp(x->endpoint, y->endpoint);
}

/*  Sort by id and drop a row for a member already shown under another endpoint
    spelling (a row after an answered one with the same id). Once some member
    answered, its member list names everyone: a listed endpoint that neither
    answered nor was named (a silent member seen through another address, as
    a host port of a container) is not shown twice. Returns the count. */
static size_t s_sort_unique(s_row_t *rows, size_t count)
{
    qsort(rows, count, sizeof *rows, s_compare);
    bool any_answered = false;
    for (size_t i = 0; i < count; i++)
        any_answered = any_answered || rows[i].answered;
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        if (kept > 0 && rows[i].id_known && rows[kept - 1].id_known &&
            rows[kept - 1].id == rows[i].id && rows[kept - 1].answered)
            continue;
        if (any_answered && !rows[i].answered && !rows[i].id_known)
            continue;
        rows[kept++] = rows[i];
    }
    return kept;
}

static json_t *s_row_json(const s_row_t *r)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "id", r->id_known ? json_integer(r->id) : json_null());
    json_object_set_new(o, "endpoint", json_string(r->endpoint));
    json_object_set_new(o, "reachable", json_boolean(r->answered));
    if (r->member_endpoint[0])
        json_object_set_new(o, "member_endpoint", json_string(r->member_endpoint));
    if (!r->answered) {
        json_object_set_new(o, "error", json_string(r->error));
        return o;
    }
    json_object_set_new(o, "role", json_string(r->role));
    json_object_set_new(o, "term", zkv_output_json_u64(r->term));
    json_object_set_new(o, "commit_index", zkv_output_json_u64(r->commit));
    json_object_set_new(o, "applied_index", zkv_output_json_u64(r->applied));
    json_object_set_new(o, "leader_id", r->leader ? json_integer(r->leader) : json_null());
    json_object_set_new(o, "keys", zkv_output_json_u64(r->keys));
    return o;
}

static int s_print_json(const s_row_t *rows, size_t count)
{
    json_t *doc = json_array();
    for (size_t i = 0; doc && i < count; i++)
        if (json_array_append_new(doc, s_row_json(&rows[i]))) {
            json_decref(doc);
            doc = NULL;
        }
    if (zkv_output_json(doc)) {
        zkv_output_error("cannot print JSON (out of memory or stdout closed)");
        return -1;
    }
    return 0;
}

static int s_add_row(zkv_table_t *table, const s_row_t *r)
{
    char id[16] = "?", term[24] = "-", commit[24] = "-", applied[24] = "-", leader[16] = "-",
         keys[24] = "-";
    if (r->id_known)
        snprintf(id, sizeof id, "%u", r->id);
    if (r->answered) {
        snprintf(term, sizeof term, "%llu", (unsigned long long) r->term);
        snprintf(commit, sizeof commit, "%llu", (unsigned long long) r->commit);
        snprintf(applied, sizeof applied, "%llu", (unsigned long long) r->applied);
        if (r->leader)
            snprintf(leader, sizeof leader, "%u", r->leader);
        snprintf(keys, sizeof keys, "%llu", (unsigned long long) r->keys);
    }
    const char *role = r->answered ? r->role : r->error;
    const char *cells[] = {id, r->endpoint, role, term, commit, applied, leader, keys};
    return zkv_table_add(table, cells);
}

static int s_print_table(const s_row_t *rows, size_t count, bool boxed)
{
    const char *headers[] = {"ID",     "ENDPOINT", "ROLE",   "TERM",
                             "COMMIT", "APPLIED",  "LEADER", "KEYS"};
    zkv_table_t *table = zkv_table_new(8, headers);
    for (size_t i = 0; table && i < count; i++)
        if (s_add_row(table, &rows[i]))
            zkv_table_destroy(&table);
    if (!table) {
        zkv_output_error("out of memory");
        return -1;
    }
    zkv_table_print(table, stdout, boxed);
    zkv_table_destroy(&table);
    return 0;
}

/* ---------------------------------------------------------------- command */

static int s_collect(s_status_t *s, const zkv_globals_t *g)
{
    char names[ZKV_CLIENT_ENDPOINTS_MAX][ZKV_CLIENT_ENDPOINT_SIZE_MAX];
    char err[256];
    int listed =
        zkv_client_endpoints_parse(g->endpoints, names, ZKV_CLIENT_ENDPOINTS_MAX, err, sizeof err);
    if (listed < 0) {
        zkv_output_error("%s", err);
        return ZKV_EXIT_USAGE;
    }
    for (int i = 0; i < listed; i++)
        s_query(s, names[i]);
    for (;;) {
        if (zkv_client_inflight(s->client) == 0) {
            if (s->named_count == 0)
                break;
            s_ask_named(s);
            continue;
        }
        if (zsys_interrupted) {
            zkv_client_cancel(s->client);
            zkv_output_error("interrupted");
            return ZKV_EXIT_INTERRUPTED;
        }
        zkv_client_poll(s->client, 100);
    }
    return ZKV_EXIT_OK;
}

/*  Print the rows; the exit code: 3 when no member answered. */
static int s_print(s_status_t *s, const zkv_globals_t *g)
{
    size_t answered = 0;
    char tried[400] = "";
    for (size_t i = 0; i < s->count; i++) {
        answered += s->rows[i].answered;
        size_t used = strlen(tried);
        snprintf(tried + used, sizeof tried - used, "%s%s", used ? ", " : "", s->rows[i].endpoint);
    }
    size_t count = s_sort_unique(s->rows, s->count);
    int rc = g->format == ZKV_FORMAT_JSON
                 ? s_print_json(s->rows, count)
                 : s_print_table(s->rows, count, g->format == ZKV_FORMAT_TABLE);
    if (rc)
        return ZKV_EXIT_ERROR;
    if (answered > 0)
        return ZKV_EXIT_OK;
    if (s->refusal[0]) {
        zkv_output_error("no member answered at %s: %s", tried, s->refusal);
        return ZKV_EXIT_USAGE;
    }
    zkv_output_error("no member answered at %s; %s", tried, ZKV_HINT_NO_CLUSTER);
    return ZKV_EXIT_UNAVAILABLE;
}

static int s_status(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    zkv_args_t args;
    int code;
    const zkv_flag_t flags[] = {{NULL}};
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 0, 0, &args, &code))
        return code;
    s_status_t *s = calloc(1, sizeof *s);
    if (!s) {
        zkv_output_error("out of memory");
        return ZKV_EXIT_ERROR;
    }
    s->client = zkv_command_client(g, 0, ZKV_CLIENT_ENDPOINTS_MAX);
    code = s->client ? s_collect(s, g) : ZKV_EXIT_USAGE;
    if (code == ZKV_EXIT_OK)
        code = s_print(s, g);
    zkv_client_destroy(&s->client);
    free(s);
    return code;
}

const zkv_command_t zkv_cmd_status = {
    "status",
    "status",
    "Show every member: role, term, commit and applied index",
    "Asks every listed endpoint for its status at once, and every member they\n"
    "name that is not listed (by its client endpoint), so one live endpoint is\n"
    "enough. Prints one row per member: id, client endpoint, role, term, commit\n"
    "index, applied index, the leader it follows and its number of keys. Each\n"
    "member gets one attempt: one that refuses the connection, or does not answer\n"
    "within --attempt-timeout, is shown as 'unreachable'; one that refuses our\n"
    "handshake (our key, or CURVE on one side only), as 'handshake refused'. Exits\n"
    "0 if any member answered, else 3 (2 when one refused our handshake). -w json\n"
    "prints an array of objects (unreachable members have \"reachable\":false and\n"
    "an \"error\").\n\n"
    "Examples:\n  zkv status\n  zkv status -w table --attempt-timeout 2s\n"
    "  zkv status --endpoints 127.0.0.1:7102 -w json\n",
    s_status,
};
