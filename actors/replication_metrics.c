/*  replication_metrics (replication_metrics.h). */
#include "replication_metrics.h"

#define RTT_SAMPLE_MAX_NS 10000000000ull /* the largest duration bucket */

void zkv_repl_metrics_state(zkv_repl_metrics_t *self, const zkv_raft_status_t *st)
{
    zkv_metrics_t *m = self->m;
    zkv_metric_set(&m->raft.role, (uint64_t) st->role);
    zkv_metric_set(&m->raft.term, st->term);
    zkv_metric_set(&m->raft.leader, st->leader);
    zkv_metric_set(&m->raft.commit, st->commit);
    zkv_metric_set(&m->raft.applied, st->applied);
    zkv_metric_set(&m->raft.log_bytes, st->log_bytes);
    if (st->role == ZKV_RAFT_LEADER)
        zkv_metric_set(&m->raft.leader_commit, st->commit);
    if (st->leader != ZKV_RAFT_NONE && st->leader != self->leader_seen) {
        zkv_metric_add(&m->raft.leader_changes, 1);
        self->leader_seen = st->leader;
    }
}

static void s_sample(zkv_repl_metrics_t *self, size_t slot, uint64_t index, uint64_t now)
{
    if (!self->rtt[slot].index)
        self->rtt[slot] = (zkv_rtt_sample_t){index, now};
}

void zkv_repl_metrics_sent(zkv_repl_metrics_t *self, const zkv_raft_msg_t *msg)
{
    zkv_metrics_t *m = self->m;
    bool append = msg->type == ZKV_RAFT_MSG_APPEND && msg->n_entries > 0;
    uint64_t now = append ? zkv_metrics_now_ns() : 0;
    uint64_t last = msg->index + msg->n_entries;
    if (msg->to == ZKV_RAFT_BROADCAST) {
        for (size_t i = 0; i < ZKV_MEMBERS_MAX; i++)
            if (zkv_metric_get(&m->raft.peers[i].id)) {
                zkv_metric_add(&m->raft.peers[i].sent, 1);
                if (append)
                    s_sample(self, i, last, now);
            }
        return;
    }
    zkv_peer_metrics_t *peer = zkv_metrics_peer(m, msg->to);
    if (!peer)
        return;
    zkv_metric_add(&peer->sent, 1);
    if (append)
        s_sample(self, (size_t) (peer - m->raft.peers), last, now);
}

void zkv_repl_metrics_received(zkv_repl_metrics_t *self, const zkv_raft_msg_t *msg, uint32_t leader)
{
    zkv_metrics_t *m = self->m;
    zkv_peer_metrics_t *peer = zkv_metrics_peer(m, msg->from);
    if (!peer)
        return;
    zkv_metric_add(&peer->received, 1);
    zkv_rtt_sample_t *sample = &self->rtt[peer - m->raft.peers];
    if (msg->type == ZKV_RAFT_MSG_APPEND_RESPONSE && !msg->reject && sample->index &&
        msg->index >= sample->index) {
        uint64_t took = zkv_metrics_now_ns() - sample->sent_ns;
        if (took <= RTT_SAMPLE_MAX_NS)
            zkv_hist_duration(&peer->round_trip, took);
        sample->index = 0;
    } else if (sample->index && zkv_metrics_now_ns() - sample->sent_ns > RTT_SAMPLE_MAX_NS)
        sample->index = 0;
    if ((msg->type == ZKV_RAFT_MSG_APPEND || msg->type == ZKV_RAFT_MSG_HEARTBEAT) &&
        msg->from == leader)
        zkv_metric_set(&m->raft.leader_commit, msg->commit);
}

void zkv_repl_metrics_proposed(zkv_repl_metrics_t *self, size_t commands, bool refused)
{
    zkv_metrics_t *m = self->m;
    zkv_metric_add(refused ? &m->raft.proposals_refused : &m->raft.proposals, commands);
    if (!refused)
        zkv_hist_size(&m->raft.proposal_batch, commands);
}
