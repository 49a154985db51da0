/*  cmd_check: zkv check, as etcdctl endpoint hashkv: every member's state
    machine digest, compared at one applied index. The membership comes from
    the node asked (member list); each member is then asked for its digest at
    the client endpoint the membership gives it, all at once. Members apply the
    same log at slightly different times, so rounds are repeated a few hundred
    milliseconds apart until every member that answers reports the same
    applied index, or --wait passes. Digests taken at one index must be equal:
    a member whose digest differs holds another state. */
#include <czmq.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "zkv_limits.h"

#define S_WAIT_MS_DEFAULT 5000
/*  Between two rounds: long enough for a follower to apply what it lags by. */
#define S_ROUND_INTERVAL_MS 200

typedef struct {
    uint32_t id;
    char endpoint[ZKV_CLIENT_ENDPOINT_SIZE_MAX]; /* empty: the membership gives none usable */
    bool answered;                               /* in the latest round */
    uint64_t revision;                           /* the applied index of the digest */
    uint64_t digest;
    char error[256]; /* why it has no digest */
} s_member_t;

typedef struct {
    zkv_client_t *client;
    s_member_t members[ZKV_MEMBERS_MAX];
    size_t count;
    size_t answered;
    bool lined_up;     /* every member that answered reported index */
    uint64_t index;    /* valid when lined up and some answered */
    uint64_t majority; /* the digest more than half of those that answered hold */
    bool has_majority;
    bool agree; /* every member answered at index with one digest */
} s_check_t;

/* ---------------------------------------------------------------- members */

static void s_member_add(s_check_t *c, const Zkv__Member *m)
{
    s_member_t *row = &c->members[c->count++];
    row->id = m->id;
    const char *name = m->client_endpoint ? m->client_endpoint : "";
    if (zkv_client_endpoint_normalize(name, strlen(name), row->endpoint, sizeof row->endpoint)) {
        row->endpoint[0] = '\0';
        snprintf(row->error, sizeof row->error, "has no usable client endpoint");
    }
}

/*  The membership, from the first node that answers; the exit code. */
static int s_members(s_check_t *c)
{
    zkv_op_t op = {.type = ZKV_OP_MEMBER_LIST};
    const Zkv__Response *reply;
    int rc = zkv_client_call(c->client, &op, &reply);
    if (rc)
        return zkv_command_failed(c->client, rc);
    if (reply->status != ZKV__STATUS__OK)
        return zkv_command_refused(reply);
    if (!reply->config || reply->config->n_members == 0 ||
        reply->config->n_members > ZKV_MEMBERS_MAX) {
        zkv_output_error("bad reply: a membership of %zu members (1 to %d expected)",
                         reply->config ? reply->config->n_members : 0, ZKV_MEMBERS_MAX);
        return ZKV_EXIT_ERROR;
    }
    for (size_t i = 0; i < reply->config->n_members; i++)
        s_member_add(c, reply->config->members[i]);
    return ZKV_EXIT_OK;
}

/* ---------------------------------------------------------------- rounds */

static void s_digest_done(void *arg, int rc, const Zkv__Response *reply)
{
    s_member_t *m = arg;
    if (rc) {
        snprintf(m->error, sizeof m->error, "%s",
                 rc == ZKV_CLIENT_ETIMEDOUT ? "did not answer" : zkv_client_strerror(rc));
    } else if (reply->status != ZKV__STATUS__OK) {
        const char *text = reply->error ? reply->error : "";
        char *detail = zkv_output_escape((const uint8_t *) text, strlen(text), 160);
        snprintf(m->error, sizeof m->error, "answered %s%s%s",
                 zkv_client_status_name((int) reply->status), *text ? ": " : "",
                 detail ? detail : "");
        free(detail);
    } else {
        m->answered = true;
        m->revision = reply->revision;
        m->digest = reply->digest;
    }
}

/*  Ask every member for its digest at once and wait for every answer; 0, or
    ZKV_EXIT_INTERRUPTED. */
static int s_round(s_check_t *c)
{
    for (size_t i = 0; i < c->count; i++) {
        s_member_t *m = &c->members[i];
        m->answered = false;
        if (!m->endpoint[0])
            continue;
        m->error[0] = '\0';
        zkv_op_t op = {.type = ZKV_OP_DIGEST, .endpoint = m->endpoint};
        int rc = zkv_client_submit(c->client, &op, s_digest_done, m);
        if (rc)
            snprintf(m->error, sizeof m->error, "%s", zkv_client_error(c->client));
    }
    while (zkv_client_inflight(c->client) > 0) {
        if (zsys_interrupted) {
            zkv_client_cancel(c->client);
            zkv_output_error("interrupted");
            return ZKV_EXIT_INTERRUPTED;
        }
        zkv_client_poll(c->client, 100);
    }
    return ZKV_EXIT_OK;
}

/*  Whether the members that answered did so at one index; then, whether a
    majority of them holds one digest. */
static void s_judge(s_check_t *c)
{
    c->answered = 0;
    c->lined_up = true;
    c->has_majority = false;
    for (size_t i = 0; i < c->count; i++) {
        const s_member_t *m = &c->members[i];
        if (!m->answered)
            continue;
        if (c->answered++ == 0)
            c->index = m->revision;
        c->lined_up = c->lined_up && m->revision == c->index;
    }
    for (size_t i = 0; c->lined_up && i < c->count; i++) {
        size_t same = 0;
        for (size_t j = 0; c->members[i].answered && j < c->count; j++)
            same += c->members[j].answered && c->members[j].digest == c->members[i].digest;
        if (same * 2 > c->answered) {
            c->has_majority = true;
            c->majority = c->members[i].digest;
        }
    }
    bool one_digest = c->has_majority;
    for (size_t i = 0; i < c->count; i++)
        one_digest = one_digest && c->members[i].answered && c->members[i].digest == c->majority;
    c->agree = c->lined_up && one_digest;
}

/*  Rounds until the answers line up or wait_ms passes; the exit code so far. */
static int s_rounds(s_check_t *c, int64_t wait_ms)
{
    int64_t deadline = zclock_mono() + wait_ms;
    for (;;) {
        int code = s_round(c);
        if (code != ZKV_EXIT_OK)
            return code;
        s_judge(c);
        if (c->lined_up || zclock_mono() + S_ROUND_INTERVAL_MS > deadline)
            return ZKV_EXIT_OK;
        zclock_sleep(S_ROUND_INTERVAL_MS);
        if (zsys_interrupted) {
            zkv_output_error("interrupted");
            return ZKV_EXIT_INTERRUPTED;
        }
    }
}

/* ---------------------------------------------------------------- printing */

static json_t *s_member_json(const s_member_t *m)
{
    char digest[24];
    snprintf(digest, sizeof digest, "%016llx", (unsigned long long) m->digest);
    json_t *o = json_object();
    int rc = json_object_set_new(o, "id", json_integer(m->id));
    rc |= zkv_output_json_bytes(o, "endpoint", (const uint8_t *) m->endpoint, strlen(m->endpoint));
    rc |= json_object_set_new(o, "revision",
                              m->answered ? zkv_output_json_u64(m->revision) : json_null());
    rc |= json_object_set_new(o, "digest", m->answered ? json_string(digest) : json_null());
    if (!m->answered)
        rc |= json_object_set_new(o, "error", json_string(m->error));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int s_print_json(const s_check_t *c)
{
    bool index = c->lined_up && c->answered > 0;
    json_t *doc = json_object(), *members = json_array();
    /* Every set runs: it takes its value even when it fails (doc NULL), so nothing leaks. */
    int rc = json_object_set_new(doc, "index", index ? zkv_output_json_u64(c->index) : json_null());
    rc |= json_object_set_new(doc, "agree", json_boolean(c->agree));
    rc |= json_object_set_new(doc, "members", members);
    for (size_t i = 0; !rc && i < c->count; i++)
        rc = json_array_append_new(members, s_member_json(&c->members[i]));
    if (rc) {
        json_decref(doc);
        doc = NULL;
    }
    return zkv_command_json(doc);
}

static int s_row(zkv_table_t *table, const s_member_t *m)
{
    char id[16], index[24] = "-", digest[24] = "-";
    snprintf(id, sizeof id, "%u", m->id);
    if (m->answered) {
        snprintf(index, sizeof index, "%llu", (unsigned long long) m->revision);
        snprintf(digest, sizeof digest, "%016llx", (unsigned long long) m->digest);
    }
    const char *cells[] = {id, m->endpoint[0] ? m->endpoint : "-", index, digest};
    return zkv_table_add(table, cells);
}

/*  One line when every member agrees, else a row per member. */
static int s_print(const zkv_globals_t *g, const s_check_t *c)
{
    if (g->format == ZKV_FORMAT_JSON)
        return s_print_json(c);
    if (c->agree) {
        printf("%zu members agree at index %llu: digest %016llx\n", c->count,
               (unsigned long long) c->index, (unsigned long long) c->majority);
        return ZKV_EXIT_OK;
    }
    const char *headers[] = {"ID", "ENDPOINT", "INDEX", "DIGEST"};
    zkv_table_t *table = zkv_table_new(4, headers);
    for (size_t i = 0; table && i < c->count; i++)
        if (s_row(table, &c->members[i]))
            zkv_table_destroy(&table);
    if (!table) {
        zkv_output_error("out of memory");
        return ZKV_EXIT_ERROR;
    }
    zkv_table_print(table, stdout, g->format == ZKV_FORMAT_TABLE);
    zkv_table_destroy(&table);
    return ZKV_EXIT_OK;
}

/*  Append a part to the error line, after "; " unless it is the first. */
static void s_say(char *line, size_t size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void s_say(char *line, size_t size, const char *format, ...)
{
    size_t used = strlen(line);
    if (used && used + 2 < size) {
        memcpy(line + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, format);
    vsnprintf(line + used, size - used, format, ap);
    va_end(ap);
}

/*  The members whose digest is not the majority's, as "3" or "3, 4"; their count. */
static size_t s_differing(const s_check_t *c, char *ids, size_t size)
{
    size_t n = 0;
    ids[0] = '\0';
    for (size_t i = 0; i < c->count; i++) {
        const s_member_t *m = &c->members[i];
        if (!m->answered || m->digest == c->majority)
            continue;
        size_t used = strlen(ids);
        snprintf(ids + used, size - used, "%s%u", n++ ? ", " : "", m->id);
    }
    return n;
}

/*  Why the members do not agree, as one line on stderr. */
static void s_report(const s_check_t *c, int64_t wait_ms)
{
    char line[1024] = "", ids[128];
    for (size_t i = 0; i < c->count; i++) {
        const s_member_t *m = &c->members[i];
        if (m->answered)
            continue;
        if (m->endpoint[0])
            s_say(line, sizeof line, "member %u (%.100s) %s", m->id, m->endpoint, m->error);
        else
            s_say(line, sizeof line, "member %u %s", m->id, m->error);
    }
    if (!c->lined_up) {
        char wait[32];
        if (wait_ms % 1000 == 0)
            snprintf(wait, sizeof wait, "%llds", (long long) (wait_ms / 1000));
        else
            snprintf(wait, sizeof wait, "%lldms", (long long) wait_ms);
        s_say(line, sizeof line,
              "members did not reach the same applied index within %s (writes in flight?)", wait);
    } else if (c->answered > 0 && !c->has_majority) {
        s_say(line, sizeof line, "digests differ at index %llu, none held by a majority",
              (unsigned long long) c->index);
    } else if (c->answered > 0) {
        size_t n = s_differing(c, ids, sizeof ids);
        if (n)
            s_say(line, sizeof line, "member%s %s differ%s from the majority at index %llu",
                  n > 1 ? "s" : "", ids, n > 1 ? "" : "s", (unsigned long long) c->index);
    }
    zkv_output_error("%s", line);
}

/* ---------------------------------------------------------------- command */

static int s_check(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    int64_t wait_ms = S_WAIT_MS_DEFAULT;
    const zkv_flag_t flags[] = {
        {"wait", 0, ZKV_FLAG_DURATION, &wait_ms, "DURATION",
         "ask again for up to this long until the members report one index (default 5s)"},
        {NULL},
    };
    zkv_args_t args;
    int code;
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 0, 0, &args, &code))
        return code;
    s_check_t *c = calloc(1, sizeof *c);
    if (!c) {
        zkv_output_error("out of memory");
        return ZKV_EXIT_ERROR;
    }
    c->client = zkv_command_client(g, 0, ZKV_MEMBERS_MAX);
    code = c->client ? s_members(c) : ZKV_EXIT_USAGE;
    if (code == ZKV_EXIT_OK)
        code = s_rounds(c, wait_ms);
    if (code == ZKV_EXIT_OK)
        code = s_print(g, c);
    if (code == ZKV_EXIT_OK && !c->agree) {
        s_report(c, wait_ms);
        code = ZKV_EXIT_NEGATIVE;
    }
    zkv_client_destroy(&c->client);
    free(c);
    return code;
}

const zkv_command_t zkv_cmd_check = {
    "check",
    "check [--wait DURATION]",
    "Compare every member's data at one applied index",
    "Asks the first endpoint that answers for the membership, then every member, at\n"
    "the client endpoint the membership gives it, for the digest of its state\n"
    "machine and the applied index it was taken at. Members apply at slightly\n"
    "different times, so zkv asks again every 200ms, for up to --wait, until every\n"
    "member that answers reports the same index. When every member answered with\n"
    "one digest it prints 'N members agree at index R: digest D' and exits 0.\n"
    "Otherwise it prints a row per member (id, endpoint, index and digest, '-' for\n"
    "a member that did not answer) and exits 1 with a line naming the members whose\n"
    "digest differs from the majority's, the members that did not answer, or the\n"
    "indexes that never lined up (writes in flight). -w json prints\n"
    "{\"index\":R,\"agree\":bool,\"members\":[{\"id\":..,\"endpoint\":..,\"revision\":..,\n"
    "\"digest\":\"<16 hex digits>\"}]} (index is null when the indexes never lined up).\n\n"
    "Examples:\n  zkv check\n  zkv check --wait 30s -w json\n",
    s_check,
};
