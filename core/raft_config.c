/*  raft_config: membership changes through the log, one server at a time
    (Raft thesis §4.1-§4.2).

    A membership takes effect on a node as soon as its CONFIG entry is in
    the node's log, committed or not; the membership in effect is the latest
    one in the log, or the snapshot's. A truncation that removes that entry
    brings back the one before. Any two memberships that differ in one voter
    have overlapping majorities, so two leaders of one term cannot each win
    a majority of their own; to keep that true a leader proposes a change
    only when the previous one is committed, and only once it has committed
    an entry of its own term (the fix of the single-server change bug,
    raft-dev 2015: a leader that has not could still hold an uncommitted
    change of an older term that another leader's log lacks).

    A leader whose change removes it (or makes it a learner) leads on
    without counting itself until the change commits, then tells the
    followers the commit, asks the most up-to-date voter to campaign
    (TimeoutNow) and steps down; a node that is no voter never campaigns. */
#include <string.h>

#include "le.h"
#include "raft_int.h"

#define S_ROLE_NONE 0
#define S_ROLE_LEARNER 1
#define S_ROLE_VOTER 2

static bool s_has(const uint32_t *ids, uint32_t n, uint32_t id)
{
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

static int s_role(const zkv_raft_members_t *m, uint32_t id)
{
    if (s_has(m->voters, m->n_voters, id))
        return S_ROLE_VOTER;
    return s_has(m->learners, m->n_learners, id) ? S_ROLE_LEARNER : S_ROLE_NONE;
}

static bool s_ids_valid(const uint32_t *ids, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (ids[i] == ZKV_RAFT_NONE || s_has(ids + i + 1, n - i - 1, ids[i]))
            return false;
    }
    return true;
}

/*  No voters and no learners is the empty membership of a joining node. */
bool raft_members_valid(const zkv_raft_members_t *m)
{
    if (m->n_voters > ZKV_MEMBERS_MAX || m->n_learners > ZKV_MEMBERS_MAX ||
        (m->n_voters == 0 && m->n_learners > 0))
        return false;
    if (!s_ids_valid(m->voters, m->n_voters) || !s_ids_valid(m->learners, m->n_learners))
        return false;
    for (uint32_t i = 0; i < m->n_learners; i++)
        if (s_has(m->voters, m->n_voters, m->learners[i]))
            return false;
    return true;
}

/* ---------------------------------------------------------------- the core's format */

size_t zkv_raft_members_encode(const zkv_raft_members_t *m, uint8_t *buf, size_t cap)
{
    size_t need = 8 + 4 * ((size_t) m->n_voters + m->n_learners);
    if (m->n_voters > ZKV_MEMBERS_MAX || m->n_learners > ZKV_MEMBERS_MAX || cap < need)
        return 0;
    zkv_le32_put(buf, m->n_voters);
    zkv_le32_put(buf + 4, m->n_learners);
    uint8_t *p = buf + 8;
    for (uint32_t i = 0; i < m->n_voters; i++, p += 4)
        zkv_le32_put(p, m->voters[i]);
    for (uint32_t i = 0; i < m->n_learners; i++, p += 4)
        zkv_le32_put(p, m->learners[i]);
    return need;
}

int zkv_raft_members_decode(void *ctx, const uint8_t *data, size_t size, zkv_raft_members_t *m)
{
    (void) ctx;
    memset(m, 0, sizeof *m);
    if (size < 8)
        return ZKV_EINVAL;
    uint32_t nv = zkv_le32_get(data), nl = zkv_le32_get(data + 4);
    if (nv > ZKV_MEMBERS_MAX || nl > ZKV_MEMBERS_MAX || size != 8 + 4 * ((size_t) nv + nl))
        return ZKV_EINVAL;
    const uint8_t *p = data + 8;
    for (uint32_t i = 0; i < nv; i++, p += 4)
        m->voters[i] = zkv_le32_get(p);
    for (uint32_t i = 0; i < nl; i++, p += 4)
        m->learners[i] = zkv_le32_get(p);
    m->n_voters = nv;
    m->n_learners = nl;
    return raft_members_valid(m) ? ZKV_OK : ZKV_EINVAL;
}

int raft_config_decode(const zkv_raft_t *raft, const zkv_raft_entry_t *e, zkv_raft_members_t *m)
{
    if (e->size > ZKV_RAFT_CONFIG_SIZE_MAX)
        return ZKV_EINVAL;
    zkv_raft_decode_config_t decode =
        raft->cfg.decode_config ? raft->cfg.decode_config : zkv_raft_members_decode;
    int rc = decode(raft->cfg.decode_ctx, e->data, e->size, m);
    if (rc == ZKV_OK && !raft_members_valid(m))
        rc = ZKV_EINVAL;
    return rc;
}

/* ---------------------------------------------------------------- peers */

static void s_add_peer(zkv_raft_t *raft, raft_peer_t *old, uint32_t n_old, uint32_t id, int role)
{
    raft_peer_t *pr = &raft->peers[raft->n_peers++];
    raft_peer_t *was = NULL;
    for (uint32_t i = 0; i < n_old && !was; i++)
        if (old[i].id == id)
            was = &old[i];
    if (was) {
        *pr = *was;
        was->infl = NULL; /* moved */
    } else {
        memset(pr, 0, sizeof *pr);
        pr->id = id;
        pr->self = id == raft->id;
        assert(raft->n_infl_free > 0);
        pr->infl = raft->infl_free[--raft->n_infl_free];
        pr->active = true; /* a newcomer gets a round to be heard from */
        pr->match = pr->self ? raft->log.durable : 0;
        raft_progress_probe(raft, pr, raft_log_last(&raft->log) + 1);
    }
    pr->voter = role == S_ROLE_VOTER;
    pr->member = role != S_ROLE_NONE;
    raft->n_voters += pr->voter;
    if (pr->self)
        raft->self = pr;
}

/*  The host's form of m: data, or the core's own encoding without it. */
static void s_keep(uint8_t *dst, size_t *dst_size, const zkv_raft_members_t *m, const uint8_t *data,
                   size_t size)
{
    if (!data) {
        *dst_size = zkv_raft_members_encode(m, dst, ZKV_RAFT_CONFIG_SIZE_MAX);
        return;
    }
    assert(size <= ZKV_RAFT_CONFIG_SIZE_MAX);
    if (dst != data && size)
        memmove(dst, data, size);
    *dst_size = size;
}

void raft_config_use(zkv_raft_t *raft, const zkv_raft_members_t *m, uint64_t index,
                     const uint8_t *data, size_t size)
{
    s_keep(raft->conf_data, &raft->conf_size, m, data, size);
    raft_peer_t old[RAFT_PEERS_MAX];
    uint32_t n_old = raft->n_peers;
    memcpy(old, raft->peers, n_old * sizeof *old);
    raft->n_peers = 0;
    raft->n_voters = 0;
    for (uint32_t i = 0; i < m->n_voters; i++)
        s_add_peer(raft, old, n_old, m->voters[i], S_ROLE_VOTER);
    for (uint32_t i = 0; i < m->n_learners; i++)
        s_add_peer(raft, old, n_old, m->learners[i], S_ROLE_LEARNER);
    if (s_role(m, raft->id) == S_ROLE_NONE)
        s_add_peer(raft, old, n_old, raft->id, S_ROLE_NONE);
    for (uint32_t i = 0; i < n_old; i++)
        if (old[i].infl)
            raft->infl_free[raft->n_infl_free++] = old[i].infl;
    raft->conf = *m;
    raft->conf_index = index;
    raft->conf_version++;
    if (raft->transferee != ZKV_RAFT_NONE && s_role(m, raft->transferee) != S_ROLE_VOTER)
        raft->transferee = ZKV_RAFT_NONE;
}

/*  Latest CONFIG entry at or below hi: its index, or 0 for the snapshot's
    membership; *data_p, *size_p its data (NULL for the snapshot's). */
static uint64_t s_latest(const zkv_raft_t *raft, uint64_t hi, zkv_raft_members_t *m,
                         const uint8_t **data_p, size_t *size_p)
{
    const raft_log_t *log = &raft->log;
    for (uint64_t i = hi; i >= log->data_first; i--) {
        const zkv_raft_entry_t *e = raft_log_entry(log, i);
        if (e->type == ZKV_RAFT_ENTRY_CONFIG && raft_config_decode(raft, e, m) == ZKV_OK) {
            *data_p = e->data;
            *size_p = e->size;
            return i;
        }
    }
    /* Below data_first: the ones kept when their data went. */
    for (size_t k = raft->conf_kept.n; k-- > 0;) {
        const raft_conf_kept_t *c = &raft->conf_kept.v[k];
        if (c->index <= hi) {
            *m = c->members;
            *data_p = c->data;
            *size_p = c->size;
            return c->index;
        }
    }
    *m = raft->conf_snap;
    *data_p = NULL;
    *size_p = 0;
    return 0;
}

static void s_use_latest(zkv_raft_t *raft, uint64_t hi)
{
    zkv_raft_members_t m;
    const uint8_t *data;
    size_t size;
    uint64_t index = s_latest(raft, hi, &m, &data, &size);
    if (data)
        raft_config_use(raft, &m, index, data, size);
    else
        raft_config_use(raft, &m, 0, raft->conf_snap_data, raft->conf_snap_size);
}

bool raft_config_keep(zkv_raft_t *raft, uint64_t lo, uint64_t hi)
{
    for (uint64_t i = lo; i < hi; i++) {
        const zkv_raft_entry_t *e = raft_log_entry(&raft->log, i);
        zkv_raft_members_t m;
        if (e->type != ZKV_RAFT_ENTRY_CONFIG || raft_config_decode(raft, e, &m) != ZKV_OK)
            continue;
        if (!raft_grow((void **) &raft->conf_kept.v, &raft->conf_kept.cap, raft->conf_kept.n + 1,
                       sizeof *raft->conf_kept.v))
            return false;
        /* Filled in place: a kept entry holds 32 KiB of config data. */
        raft_conf_kept_t *kept = &raft->conf_kept.v[raft->conf_kept.n++];
        kept->index = i;
        kept->members = m;
        s_keep(kept->data, &kept->size, &m, e->data, e->size);
    }
    return true;
}

void raft_config_track(zkv_raft_t *raft, uint64_t from)
{
    uint64_t last = raft_log_last(&raft->log);
    if (raft->conf_index >= from) {
        s_use_latest(raft, last);
        return;
    }
    if (from <= raft->log.snap_index)
        from = raft->log.snap_index + 1;
    for (uint64_t i = last; i >= from && i > raft->conf_index; i--) {
        const zkv_raft_entry_t *e = raft_log_entry(&raft->log, i);
        zkv_raft_members_t m;
        if (e->type == ZKV_RAFT_ENTRY_CONFIG && raft_config_decode(raft, e, &m) == ZKV_OK) {
            raft_config_use(raft, &m, i, e->data, e->size);
            return;
        }
    }
}

void raft_config_compacting(zkv_raft_t *raft, uint64_t index)
{
    zkv_raft_members_t m;
    const uint8_t *data;
    size_t size;
    (void) s_latest(raft, index, &m, &data, &size);
    raft->conf_snap = m;
    if (data)
        s_keep(raft->conf_snap_data, &raft->conf_snap_size, &m, data, size);
    size_t keep = 0;
    for (size_t k = 0; k < raft->conf_kept.n; k++)
        if (raft->conf_kept.v[k].index > index)
            raft->conf_kept.v[keep++] = raft->conf_kept.v[k];
    raft->conf_kept.n = keep;
}

void raft_config_reset(zkv_raft_t *raft, const zkv_raft_members_t *m, const uint8_t *data,
                       size_t size)
{
    raft->conf_snap = *m;
    raft->conf_kept.n = 0;
    s_keep(raft->conf_snap_data, &raft->conf_snap_size, m, data, size);
    raft_config_use(raft, m, 0, raft->conf_snap_data, raft->conf_snap_size);
}

int zkv_raft_config_at(const zkv_raft_t *raft, uint64_t index, zkv_raft_members_t *m)
{
    if (index < raft->log.snap_index)
        return ZKV_ECOMPACTED;
    if (index > raft_log_last(&raft->log))
        return ZKV_ENOTFOUND;
    const uint8_t *data;
    size_t size;
    (void) s_latest(raft, index, m, &data, &size);
    return ZKV_OK;
}

/* ---------------------------------------------------------------- changes */

/*  The one id whose role differs between a and b, or 0 if not exactly one. */
static uint32_t s_one_change(const zkv_raft_members_t *a, const zkv_raft_members_t *b)
{
    uint32_t who = 0, n = 0;
    const zkv_raft_members_t *sides[2] = {a, b};
    for (int s = 0; s < 2; s++) {
        const zkv_raft_members_t *m = sides[s];
        for (uint32_t i = 0; i < m->n_voters + m->n_learners; i++) {
            uint32_t id = i < m->n_voters ? m->voters[i] : m->learners[i - m->n_voters];
            if (s_role(a, id) != s_role(b, id) && id != who) {
                who = id;
                n++;
            }
        }
    }
    return n == 1 ? who : 0;
}

static bool s_caught_up(const zkv_raft_t *raft, uint32_t id)
{
    const raft_peer_t *pr = raft_peer_const(raft, id);
    return pr && pr->state == ZKV_RAFT_REPLICATE &&
           pr->match + raft->cfg.max_learner_lag >= raft_log_last(&raft->log);
}

static int s_check_change(const zkv_raft_t *raft, const zkv_raft_members_t *next)
{
    if (!raft_members_valid(next) || next->n_voters == 0)
        return ZKV_EINVAL;
    uint32_t who = s_one_change(&raft->conf, next);
    if (who == 0)
        return ZKV_EINVAL;
    bool pending = raft->conf_index > raft->log.commit;
#if ZKV_RAFT_PLANTED_BUG == 11
    pending = false; /* test-only bug: a second change before the first commits */
#endif
    if (pending || raft->log.commit < raft->term_start)
        return ZKV_EPENDING;
    if (s_role(&raft->conf, who) == S_ROLE_LEARNER && s_role(next, who) == S_ROLE_VOTER &&
        !s_caught_up(raft, who))
        return ZKV_ELAGGING;
    return ZKV_OK;
}

int zkv_raft_propose_config(zkv_raft_t *raft, const void *data, size_t size, uint64_t *index,
                            uint64_t *term)
{
    assert(!raft->in_ready);
    if (raft->role != ZKV_RAFT_LEADER)
        return ZKV_ENOTLEADER;
    if (raft->transferee != ZKV_RAFT_NONE)
        return ZKV_EBUSY;
    if (size > ZKV_ENTRY_SIZE_MAX || (size > 0 && !data))
        return ZKV_EINVAL;
    zkv_raft_entry_t e = {.type = ZKV_RAFT_ENTRY_CONFIG, .size = (uint32_t) size, .data = data};
    zkv_raft_members_t next;
    if (raft_config_decode(raft, &e, &next) != ZKV_OK)
        return ZKV_EINVAL;
    int rc = s_check_change(raft, &next);
    if (rc != ZKV_OK)
        return rc;
    uint64_t last = raft_log_last(&raft->log);
    if (last - raft->log.commit + 1 > raft->cfg.max_uncommitted)
        return ZKV_EBUSY;
    zkv_raft_buf_t buf = {.data = data, .size = size};
    rc = raft_leader_append(raft, &buf, 1, ZKV_RAFT_ENTRY_CONFIG);
    if (rc != ZKV_OK)
        return rc;
    if (index)
        *index = last + 1;
    if (term)
        *term = raft->term;
    return ZKV_OK;
}

/*  The voter that holds the most of our log, if it holds all of it. */
static raft_peer_t *s_successor(zkv_raft_t *raft)
{
    raft_peer_t *best = NULL;
    for (uint32_t i = 0; i < raft->n_peers; i++) {
        raft_peer_t *pr = &raft->peers[i];
        if (pr->voter && !pr->self && (!best || pr->match > best->match))
            best = pr;
    }
    return best && best->match == raft_log_last(&raft->log) ? best : NULL;
}

void raft_config_committed(zkv_raft_t *raft)
{
    if (raft->role != ZKV_RAFT_LEADER || raft->self->voter || raft->log.commit < raft->conf_index)
        return;
    raft_send_heartbeats(raft, 0); /* the followers learn the change committed */
    raft_peer_t *next = s_successor(raft);
    if (next) {
        zkv_raft_msg_t m = {.type = ZKV_RAFT_MSG_TIMEOUT_NOW, .to = next->id};
        raft_send(raft, &m, NULL, 0, 0);
    }
    raft_become_follower(raft, raft->term, ZKV_RAFT_NONE);
}
