/*  nemesis: see nemesis.h. */
#include "nemesis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  Longest wait for an action (a stop, a docker command) to finish. */
#define NEMESIS_SETTLE_MS 60000
#define NEMESIS_IDLE_MS 50

typedef enum { S_QUIET, S_ACTIVE, S_REPAIRING } s_phase_t;

struct nemesis_t {
    target_t *target;
    const fault_options_t *options;
    fault_rng_t rng;
    s_phase_t phase;
    int64_t next_ms; /* quiet: when the next fault starts; active: when it is repaired */
    fault_kind_t round[FAULT_KINDS];
    size_t round_size, round_at;
    fault_kind_t kind; /* the fault in force */
    uint32_t node;     /* its node, for kill, stop, pause */
    nemesis_stats_t stats;
};

nemesis_t *nemesis_new(target_t *target, const fault_options_t *options)
{
    nemesis_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->target = target;
    self->options = options;
    fault_rng_seed(&self->rng, options->seed ^ UINT64_C(0x6e656d65736973));
    self->next_ms =
        fault_now_ms() + fault_rng_range(&self->rng, options->gap_min_ms, options->gap_max_ms);
    return self;
}

void nemesis_destroy(nemesis_t **self_p)
{
    free(*self_p);
    *self_p = NULL;
}

const nemesis_stats_t *nemesis_stats(const nemesis_t *self)
{
    return &self->stats;
}

/* ---------------------------------------------------------------- choices */

static bool s_enabled(const nemesis_t *self, fault_kind_t kind)
{
    if (!(self->options->faults & (1u << kind)))
        return false;
    if (kind == FAULT_MEMBER)
        return self->target->ops->grow != NULL;
    return !fault_kind_is_partition(kind) || self->target->partitions;
}

/*  A new round: every enabled kind once, shuffled. */
static void s_new_round(nemesis_t *self)
{
    self->round_size = self->round_at = 0;
    for (int k = 0; k < FAULT_KINDS; k++)
        if (s_enabled(self, (fault_kind_t) k))
            self->round[self->round_size++] = (fault_kind_t) k;
    for (size_t i = self->round_size; i > 1; i--) {
        size_t j = (size_t) fault_rng_below(&self->rng, i);
        fault_kind_t t = self->round[i - 1];
        self->round[i - 1] = self->round[j];
        self->round[j] = t;
    }
}

/*  A node that is up: the leader half the time when it is up, else any. */
static uint32_t s_pick_node(nemesis_t *self, uint32_t leader, bool prefer_leader)
{
    const target_t *t = self->target;
    if (leader && t->state[leader] == TARGET_NODE_UP &&
        (prefer_leader || fault_rng_below(&self->rng, 2) == 0))
        return leader;
    uint32_t up[FAULT_NODES_MAX];
    size_t n = 0;
    for (uint32_t id = 1; id <= t->nodes; id++)
        if (t->state[id] == TARGET_NODE_UP)
            up[n++] = id;
    return n ? up[fault_rng_below(&self->rng, n)] : 0;
}

static void s_shuffle_ids(nemesis_t *self, uint32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ids[i] = (uint32_t) i + 1;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t) fault_rng_below(&self->rng, i);
        uint32_t t = ids[i - 1];
        ids[i - 1] = ids[j];
        ids[j] = t;
    }
}

static void s_append_ids(char *what, size_t size, const uint32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(what);
        snprintf(what + used, size - used, " %u", ids[i]);
    }
}

static void s_cut_pair(target_links_t *links, uint32_t a, uint32_t b)
{
    links->cut[a][b] = links->cut[b][a] = true;
}

/*  One node against the rest. */
static void s_isolate(target_links_t *links, size_t n, uint32_t node)
{
    for (uint32_t id = 1; id <= n; id++)
        if (id != node)
            s_cut_pair(links, node, id);
}

/*  The ring: with three nodes one link is cut (the third node bridges the
    two); with more, each node keeps its nearest neighbours on a shuffled
    ring, enough for a majority, and no two nodes see the same majority. */
static void s_ring(nemesis_t *self, target_links_t *links, size_t n, char *what, size_t size)
{
    uint32_t ids[FAULT_NODES_MAX];
    s_shuffle_ids(self, ids, n);
    if (n == 3) {
        s_cut_pair(links, ids[0], ids[1]);
        snprintf(what, size, "link %u-%u cut, node %u bridges", ids[0], ids[1], ids[2]);
        return;
    }
    size_t reach = (n / 2 + 1) / 2; /* neighbours kept on each side */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            size_t d = j - i < n - (j - i) ? j - i : n - (j - i);
            if (d > reach)
                s_cut_pair(links, ids[i], ids[j]);
        }
    snprintf(what, size, "ring");
    s_append_ids(what, size, ids, n);
}

/*  The links a partition fault cuts, described in what. */
static void s_partition(nemesis_t *self, fault_kind_t kind, uint32_t leader, target_links_t *links,
                        char *what, size_t size)
{
    size_t n = self->target->nodes;
    memset(links, 0, sizeof *links);
    if (kind == FAULT_PARTITION_RING) {
        s_ring(self, links, n, what, size);
    } else if (kind == FAULT_PARTITION_MAJORITY) {
        uint32_t ids[FAULT_NODES_MAX];
        s_shuffle_ids(self, ids, n);
        size_t minority = n / 2;
        for (size_t i = 0; i < minority; i++)
            for (size_t j = minority; j < n; j++)
                s_cut_pair(links, ids[i], ids[j]);
        snprintf(what, size, "minority");
        s_append_ids(what, size, ids, minority);
        snprintf(what + strlen(what), size - strlen(what), " | majority");
        s_append_ids(what, size, ids + minority, n - minority);
    } else {
        bool by_leader = kind == FAULT_PARTITION_LEADER && leader;
        uint32_t node = by_leader ? leader : (uint32_t) fault_rng_below(&self->rng, n) + 1;
        s_isolate(links, n, node);
        snprintf(what, size, "node %u cut off%s", node,
                 by_leader                        ? " (the leader)"
                 : kind == FAULT_PARTITION_LEADER ? " (leader unknown: a random node)"
                                                  : "");
    }
}

/* ---------------------------------------------------------------- acting */

static int s_begin_node_fault(nemesis_t *self, fault_kind_t kind, uint32_t leader)
{
    target_t *t = self->target;
    uint32_t node = s_pick_node(self, leader, false);
    if (!node) {
        fault_log("nemesis: %s skipped: no node is up", fault_kind_name(kind));
        return -1;
    }
    self->node = node;
    static const char *verbs[] = {"kill -9", "stop (SIGTERM)", "pause (SIGSTOP)"};
    fault_log("nemesis: %s node %u%s", verbs[kind], node, node == leader ? " (the leader)" : "");
    if (kind == FAULT_KILL)
        return t->ops->kill(t, node);
    if (kind == FAULT_STOP)
        return t->ops->stop(t, node);
    return t->ops->pause(t, node);
}

/*  A node joins for the hold; the one that leaves at the repair is it. */
static int s_begin_member(nemesis_t *self)
{
    fault_log("nemesis: member: a new node joins");
    int rc = self->target->ops->grow(self->target, &self->node);
    if (rc == 0)
        fault_log("nemesis: member: node %u joined and was promoted", self->node);
    return rc;
}

static int s_begin(nemesis_t *self, fault_kind_t kind, uint32_t leader)
{
    if (kind == FAULT_MEMBER)
        return s_begin_member(self);
    if (!fault_kind_is_partition(kind))
        return s_begin_node_fault(self, kind, leader);
    target_links_t links;
    char what[256];
    s_partition(self, kind, leader, &links, what, sizeof what);
    fault_log("nemesis: %s: %s", fault_kind_name(kind), what);
    return self->target->ops->cut(self->target, &links);
}

static void s_repair(nemesis_t *self)
{
    target_t *t = self->target;
    if (self->kind == FAULT_MEMBER) {
        bool lead = fault_rng_below(&self->rng, 2) == 0;
        fault_log("nemesis: member: remove node %u%s", self->node,
                  lead ? " after moving the leadership to it" : "");
        t->ops->shrink(t, self->node, lead);
    } else if (fault_kind_is_partition(self->kind)) {
        target_links_t none = {0};
        fault_log("nemesis: heal %s", fault_kind_name(self->kind));
        t->ops->cut(t, &none);
    } else if (self->kind == FAULT_PAUSE) {
        fault_log("nemesis: resume (SIGCONT) node %u", self->node);
        t->ops->resume(t, self->node);
    } else if (t->state[self->node] == TARGET_NODE_DOWN) {
        fault_log("nemesis: start node %u", self->node);
        t->ops->start(t, self->node);
    }
}

static void s_start_next(nemesis_t *self, uint32_t leader)
{
    if (self->round_at == self->round_size)
        s_new_round(self);
    if (self->round_size == 0) {
        self->next_ms = INT64_MAX; /* nothing enabled */
        return;
    }
    self->kind = self->round[self->round_at++];
    int64_t now = fault_now_ms();
    if (s_begin(self, self->kind, leader) == 0) {
        self->stats.injected[self->kind]++;
        self->phase = S_ACTIVE;
        self->next_ms = now + fault_rng_range(&self->rng, self->options->hold_min_ms,
                                              self->options->hold_max_ms);
    } else {
        self->next_ms = now + self->options->gap_min_ms;
    }
}

int64_t nemesis_step(nemesis_t *self, uint32_t leader)
{
    target_t *t = self->target;
    int64_t now = fault_now_ms();
    bool settled = t->ops->settled(t);
    if (self->phase == S_REPAIRING && settled) {
        self->phase = S_QUIET;
        self->next_ms =
            now + fault_rng_range(&self->rng, self->options->gap_min_ms, self->options->gap_max_ms);
    }
    if (now >= self->next_ms && settled) {
        if (self->phase == S_QUIET)
            s_start_next(self, leader);
        else if (self->phase == S_ACTIVE) {
            s_repair(self);
            self->phase = S_REPAIRING;
        }
    }
    if (self->phase == S_REPAIRING || !settled)
        return NEMESIS_IDLE_MS;
    int64_t wait = self->next_ms - fault_now_ms();
    return wait < 0 ? 0 : wait > NEMESIS_IDLE_MS ? NEMESIS_IDLE_MS : wait;
}

void nemesis_end(nemesis_t *self)
{
    target_t *t = self->target;
    if (target_wait_settled(t, NEMESIS_SETTLE_MS) != 0)
        fault_error("nemesis: the last action did not finish within %d ms", NEMESIS_SETTLE_MS);
    if (self->phase == S_ACTIVE)
        s_repair(self);
    self->phase = S_QUIET;
    if (target_wait_settled(t, NEMESIS_SETTLE_MS) != 0)
        fault_error("nemesis: the repair did not finish within %d ms", NEMESIS_SETTLE_MS);
}
