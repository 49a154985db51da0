/*  membership: zkv.ClusterConfig <-> zkv_membership_t, and single changes. */
#include "membership.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zkv.pb-c.h"
#include "zkv_error.h"

static int s_fail(char *err, size_t err_size, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, err_size, fmt, args);
    va_end(args);
    return ZKV_EINVAL;
}

static size_t s_count(const zkv_membership_t *m, bool learners)
{
    size_t n = 0;
    for (size_t i = 0; i < m->count; i++)
        n += m->members[i].learner == learners;
    return n;
}

const zkv_member_t *zkv_membership_find(const zkv_membership_t *m, uint32_t id)
{
    for (size_t i = 0; i < m->count; i++)
        if (m->members[i].id == id)
            return &m->members[i];
    return NULL;
}

bool zkv_membership_was_removed(const zkv_membership_t *m, uint32_t id)
{
    for (size_t i = 0; i < m->n_removed; i++)
        if (m->removed[i] == id)
            return true;
    return false;
}

static bool s_member_valid(const zkv_member_t *x)
{
    return x->id != 0 && x->host[0] != '\0' && x->pub_port != 0 && x->router_port != 0 &&
           x->client_port != 0;
}

static bool s_valid(const zkv_membership_t *m)
{
    size_t voters = s_count(m, false), learners = s_count(m, true);
    if (voters > ZKV_MEMBERS_MAX || learners > ZKV_MEMBERS_MAX || (voters == 0 && m->count > 0))
        return false;
    for (size_t i = 0; i < m->count; i++) {
        const zkv_member_t *x = &m->members[i];
        if (!s_member_valid(x) || zkv_membership_was_removed(m, x->id))
            return false;
        for (size_t j = i + 1; j < m->count; j++)
            if (m->members[j].id == x->id)
                return false;
    }
    return true;
}

/* ---------------------------------------------------------------- codec */

static bool s_port(uint32_t port, uint16_t *out)
{
    *out = (uint16_t) port;
    return port > 0 && port <= 65535;
}

static bool s_from_pb(const Zkv__Member *pb, zkv_member_t *x)
{
    memset(x, 0, sizeof *x);
    x->id = pb->id;
    x->learner = pb->learner;
    if (!pb->host || strlen(pb->host) >= sizeof x->host)
        return false;
    strcpy(x->host, pb->host);
    return s_port(pb->pub_port, &x->pub_port) && s_port(pb->router_port, &x->router_port) &&
           s_port(pb->client_port, &x->client_port);
}

int zkv_membership_decode(const uint8_t *data, size_t size, zkv_membership_t *m)
{
    memset(m, 0, sizeof *m);
    Zkv__ClusterConfig *pb = zkv__cluster_config__unpack(NULL, size, data);
    if (!pb)
        return ZKV_EINVAL;
    bool ok = pb->n_members <= 2 * ZKV_MEMBERS_MAX && pb->n_removed <= ZKV_REMOVED_MAX;
    for (size_t i = 0; ok && i < pb->n_members; i++)
        ok = s_from_pb(pb->members[i], &m->members[m->count++]);
    for (size_t i = 0; ok && i < pb->n_removed; i++)
        m->removed[m->n_removed++] = pb->removed[i];
    zkv__cluster_config__free_unpacked(pb, NULL);
    return ok && s_valid(m) ? ZKV_OK : ZKV_EINVAL;
}

void zkv_member_endpoint(const zkv_member_t *member, uint16_t port, char *buf, size_t size)
{
    snprintf(buf, size, "tcp://%s:%u", member->host, port);
}

uint8_t *zkv_membership_encode(const zkv_membership_t *m, size_t *size)
{
    Zkv__ClusterConfig pb = ZKV__CLUSTER_CONFIG__INIT;
    Zkv__Member members[2 * ZKV_MEMBERS_MAX];
    Zkv__Member *ptrs[2 * ZKV_MEMBERS_MAX];
    char endpoints[2 * ZKV_MEMBERS_MAX][2][ZKV_HOST_SIZE_MAX + 32];
    for (size_t i = 0; i < m->count; i++) {
        const zkv_member_t *x = &m->members[i];
        zkv__member__init(&members[i]);
        members[i].id = x->id;
        members[i].learner = x->learner;
        members[i].host = (char *) x->host;
        members[i].pub_port = x->pub_port;
        members[i].router_port = x->router_port;
        members[i].client_port = x->client_port;
        zkv_member_endpoint(x, x->pub_port, endpoints[i][0], sizeof endpoints[i][0]);
        zkv_member_endpoint(x, x->client_port, endpoints[i][1], sizeof endpoints[i][1]);
        members[i].peer_endpoint = endpoints[i][0];
        members[i].client_endpoint = endpoints[i][1];
        ptrs[i] = &members[i];
    }
    pb.n_members = m->count;
    pb.members = ptrs;
    pb.n_removed = m->n_removed;
    pb.removed = (uint32_t *) m->removed;
    *size = zkv__cluster_config__get_packed_size(&pb);
    uint8_t *buf = malloc(*size ? *size : 1);
    if (buf)
        zkv__cluster_config__pack(&pb, buf);
    return buf;
}

void zkv_membership_raft(const zkv_membership_t *m, zkv_raft_members_t *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < m->count; i++) {
        const zkv_member_t *x = &m->members[i];
        if (x->learner && out->n_learners < ZKV_MEMBERS_MAX)
            out->learners[out->n_learners++] = x->id;
        else if (!x->learner && out->n_voters < ZKV_MEMBERS_MAX)
            out->voters[out->n_voters++] = x->id;
    }
}

int zkv_membership_decode_raft(void *ctx, const uint8_t *data, size_t size,
                               zkv_raft_members_t *members)
{
    (void) ctx;
    zkv_membership_t m;
    int rc = zkv_membership_decode(data, size, &m);
    if (rc == ZKV_OK)
        zkv_membership_raft(&m, members);
    return rc;
}

void zkv_membership_from_config(const zkv_config_t *config, zkv_membership_t *m)
{
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < config->member_count && i < ZKV_MEMBERS_MAX; i++) {
        m->members[m->count] = config->members[i];
        m->members[m->count++].learner = false;
    }
}

static uint64_t s_fnv(uint64_t h, const void *data, size_t size)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < size; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

uint64_t zkv_membership_cluster_id(const zkv_membership_t *m)
{
    uint64_t h = 0xcbf29ce484222325ull;
    uint32_t last = 0;
    for (size_t k = 0; k < m->count; k++) { /* in id order, whatever the order given */
        const zkv_member_t *next = NULL;
        for (size_t i = 0; i < m->count; i++)
            if (m->members[i].id > last && (!next || m->members[i].id < next->id))
                next = &m->members[i];
        if (!next)
            break;
        char line[ZKV_HOST_SIZE_MAX + 64];
        int n = snprintf(line, sizeof line, "%u=%s:%u:%u:%u;", next->id, next->host, next->pub_port,
                         next->router_port, next->client_port);
        h = s_fnv(h, line, (size_t) n);
        last = next->id;
    }
    return h ? h : 1;
}

/* ---------------------------------------------------------------- changes */

int zkv_membership_add(zkv_membership_t *m, const zkv_member_t *member, char *err, size_t err_size)
{
    if (!s_member_valid(member))
        return s_fail(err, err_size, "a member needs an id, a host and three ports");
    if (zkv_membership_find(m, member->id))
        return s_fail(err, err_size, "member %u exists", member->id);
    if (zkv_membership_was_removed(m, member->id))
        return s_fail(err, err_size, "id %u was removed from this cluster: give the node a new id",
                      member->id);
    if (s_count(m, member->learner) >= ZKV_MEMBERS_MAX)
        return s_fail(err, err_size, "a cluster has at most %d %s", ZKV_MEMBERS_MAX,
                      member->learner ? "learners" : "voters");
    m->members[m->count++] = *member;
    return ZKV_OK;
}

int zkv_membership_promote(zkv_membership_t *m, uint32_t id, char *err, size_t err_size)
{
    zkv_member_t *x = (zkv_member_t *) zkv_membership_find(m, id);
    if (!x)
        return s_fail(err, err_size, "no member %u", id);
    if (!x->learner)
        return s_fail(err, err_size, "member %u is a voter already", id);
    if (s_count(m, false) >= ZKV_MEMBERS_MAX)
        return s_fail(err, err_size, "a cluster has at most %d voters", ZKV_MEMBERS_MAX);
    x->learner = false;
    return ZKV_OK;
}

int zkv_membership_remove(zkv_membership_t *m, uint32_t id, char *err, size_t err_size)
{
    const zkv_member_t *x = zkv_membership_find(m, id);
    if (!x)
        return s_fail(err, err_size, "no member %u", id);
    if (!x->learner && s_count(m, false) == 1)
        return s_fail(err, err_size, "cannot remove the last voter");
    if (m->n_removed >= ZKV_REMOVED_MAX)
        return s_fail(err, err_size, "this cluster has removed %d ids, its most", ZKV_REMOVED_MAX);
    size_t at = (size_t) (x - m->members);
    memmove(&m->members[at], &m->members[at + 1], (m->count - at - 1) * sizeof *x);
    m->count--;
    m->removed[m->n_removed++] = id;
    return ZKV_OK;
}
