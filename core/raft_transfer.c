/*  raft_transfer: leadership transfer (§3.10 of the Raft thesis).

    The leader stops taking proposals, brings the target's log up to its own
    (ordinary replication), then sends TimeoutNow; the target campaigns at
    once, skipping pre-vote, and its vote requests carry force so that voters
    ignore their leader lease. The leader gives up after an election timeout
    (raft_leader_tick). */
#include "raft_int.h"

int zkv_raft_transfer_leadership(zkv_raft_t *raft, uint32_t to)
{
    assert(!raft->in_ready);
    if (raft->role != ZKV_RAFT_LEADER)
        return ZKV_ENOTLEADER;
    if (to == raft->id)
        return ZKV_OK;
    raft_peer_t *pr = raft_peer(raft, to);
    if (!pr || !pr->voter)
        return ZKV_EINVAL;
    raft->transferee = to;
    raft->election_elapsed = 0;
    raft_transfer_check(raft, pr);
    raft_send_appends(raft, pr);
    return ZKV_OK;
}

/*  The target holds our whole log durably: tell it to campaign. */
void raft_transfer_check(zkv_raft_t *raft, raft_peer_t *pr)
{
    if (raft->transferee != pr->id || pr->match != raft_log_last(&raft->log))
        return;
    zkv_raft_msg_t m = {.type = ZKV_RAFT_MSG_TIMEOUT_NOW, .to = pr->id};
    raft_send(raft, &m, NULL, 0, 0);
}

void raft_handle_timeout_now(zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    (void) m;
    if (raft_promotable(raft))
        raft_campaign(raft, false, true);
}
