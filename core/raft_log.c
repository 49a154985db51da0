/*  raft_log: the in-memory log since the last snapshot.

    Entries sit in one contiguous array (so a Ready can hand out a slice) whose
    front is dropped by compaction; their data is copied into large blocks, so
    appending a batch costs no allocation per entry. Marks: unstable (first
    entry not handed out for persistence), durable (last reported durable),
    commit, applying (handed out to apply) and applied. */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

static size_t s_block_bytes(const raft_block_t *b)
{
    return sizeof *b + b->cap;
}

void raft_log_init(raft_log_t *log, uint64_t snap_index, uint64_t snap_term, size_t memory)
{
    memset(log, 0, sizeof *log);
    log->block_size = memory && memory / 4 < RAFT_BLOCK_SIZE ? memory / 4 : RAFT_BLOCK_SIZE;
    if (log->block_size < RAFT_BLOCK_SIZE_MIN)
        log->block_size = RAFT_BLOCK_SIZE_MIN;
    log->snap_index = snap_index;
    log->snap_term = snap_term;
    log->unstable = snap_index + 1;
    log->durable = snap_index;
    log->commit = snap_index;
    log->applying = snap_index;
    log->applied = snap_index;
    log->data_first = snap_index + 1;
}

void raft_log_free(raft_log_t *log)
{
    raft_block_t *b = log->head;
    while (b) {
        raft_block_t *next = b->next;
        free(b);
        b = next;
    }
    free(log->ents);
    memset(log, 0, sizeof *log);
}

uint64_t raft_log_last(const raft_log_t *log)
{
    return log->snap_index + log->len;
}

uint64_t raft_log_last_term(const raft_log_t *log)
{
    return log->len ? log->ents[log->off + log->len - 1].term : log->snap_term;
}

int raft_log_term(const raft_log_t *log, uint64_t index, uint64_t *term)
{
    if (index == log->snap_index) {
        *term = log->snap_term;
        return ZKV_OK;
    }
    if (index < log->snap_index)
        return ZKV_ECOMPACTED;
    if (index > raft_log_last(log))
        return ZKV_ENOTFOUND;
    *term = log->ents[log->off + (index - log->snap_index - 1)].term;
    return ZKV_OK;
}

uint64_t raft_log_term_or0(const raft_log_t *log, uint64_t index)
{
    uint64_t term = 0;
    if (raft_log_term(log, index, &term) != ZKV_OK)
        return 0;
    return term;
}

const zkv_raft_entry_t *raft_log_entry(const raft_log_t *log, uint64_t index)
{
    assert(index > log->snap_index && index <= raft_log_last(log));
    return &log->ents[log->off + (index - log->snap_index - 1)];
}

/*  The fewest entries the array holds once it exists. */
#define RAFT_LOG_CAP_MIN 256

/*  The live entries moved down to the front of the array. */
static void s_slide(raft_log_t *log)
{
    memmove(log->ents, log->ents + log->off, log->len * sizeof *log->ents);
    log->off = 0;
}

/*  Room for one more entry at the end: slide the live entries down to the
    front when they fill at most half of it, else grow it by half (a dead
    front left by compactions would otherwise keep growing it). */
static int s_reserve(raft_log_t *log)
{
    if (log->off + log->len < log->cap)
        return ZKV_OK;
    if (log->off > 0 && log->len <= log->cap / 2) {
        s_slide(log);
        return ZKV_OK;
    }
    size_t cap = log->cap ? log->cap + log->cap / 2 : RAFT_LOG_CAP_MIN;
    zkv_raft_entry_t *ents = realloc(log->ents, cap * sizeof *ents);
    if (!ents)
        return ZKV_ENOMEM;
    log->ents = ents;
    log->cap = cap;
    return ZKV_OK;
}

/*  After a compaction the live entries may fill a third of the array or less:
    it is cut to half again their number, so that the array follows the log
    and not its longest moment. */
static void s_shrink(raft_log_t *log)
{
    if (log->cap <= RAFT_LOG_CAP_MIN || log->len > log->cap / 3)
        return;
    size_t cap = log->len + log->len / 2;
    cap = cap > RAFT_LOG_CAP_MIN ? cap : RAFT_LOG_CAP_MIN;
    s_slide(log);
    zkv_raft_entry_t *ents = realloc(log->ents, cap * sizeof *ents);
    if (!ents)
        return; /* it keeps the larger array */
    log->ents = ents;
    log->cap = cap;
}

static uint8_t *s_data_alloc(raft_log_t *log, size_t size, uint64_t index)
{
    raft_block_t *b = log->tail;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > log->block_size ? size : log->block_size;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        log->block_bytes += sizeof *b + cap;
        b->next = NULL;
        b->cap = cap;
        b->used = 0;
        b->max_index = 0;
        if (log->tail)
            log->tail->next = b;
        else
            log->head = b;
        log->tail = b;
    }
    uint8_t *p = b->data + b->used;
    b->used += size;
    if (index > b->max_index)
        b->max_index = index;
    return p;
}

int raft_log_append(raft_log_t *log, const zkv_raft_entry_t *e)
{
    assert(e->index == raft_log_last(log) + 1);
    int rc = s_reserve(log);
    if (rc != ZKV_OK)
        return rc;
    zkv_raft_entry_t copy = *e;
    if (e->size > 0) {
        uint8_t *p = s_data_alloc(log, e->size, e->index);
        if (!p)
            return ZKV_ENOMEM;
        memcpy(p, e->data, e->size);
        copy.data = p;
    } else {
        copy.data = NULL;
    }
    log->ents[log->off + log->len++] = copy;
    return ZKV_OK;
}

void raft_log_truncate(raft_log_t *log, uint64_t from)
{
    assert(from > log->snap_index);
    if (from > raft_log_last(log))
        return;
    log->len = from - log->snap_index - 1;
    if (log->unstable > from)
        log->unstable = from;
    if (log->durable >= from)
        log->durable = from - 1;
}

void raft_log_compact(raft_log_t *log, uint64_t index)
{
    assert(index > log->snap_index && index <= raft_log_last(log));
    uint64_t drop = index - log->snap_index;
    log->snap_term = raft_log_entry(log, index)->term;
    log->off += drop;
    log->len -= drop;
    log->snap_index = index;
    if (log->data_first <= index)
        log->data_first = index + 1;
    if (log->durable < index)
        log->durable = index;
    if (log->unstable <= index)
        log->unstable = index + 1;
}

void raft_log_reset(raft_log_t *log, uint64_t index, uint64_t term)
{
    log->off = 0;
    log->len = 0;
    log->snap_index = index;
    log->snap_term = term;
    log->unstable = index + 1;
    log->data_first = index + 1;
    if (log->durable > index)
        log->durable = index;
}

/*  Free the blocks that hold no live entry. Called at advance, when nothing
    handed out may still point into them. */
void raft_log_release(raft_log_t *log)
{
    while (log->head && log->head != log->tail && log->head->max_index <= log->snap_index) {
        raft_block_t *b = log->head;
        log->head = b->next;
        log->block_bytes -= s_block_bytes(b);
        free(b);
    }
    if (log->tail && log->tail == log->head && log->tail->max_index <= log->snap_index) {
        log->tail->used = 0;
        log->tail->max_index = 0;
    }
    s_shrink(log);
}

/*  The data_first that dropping the oldest blocks would give: blocks whose
    entries are all below keep, while those left hold at least window bytes.
    The tail block stays: appends go on into it. */
uint64_t raft_log_droppable(const raft_log_t *log, uint64_t keep, size_t window)
{
    uint64_t first = log->data_first;
    size_t bytes = log->block_bytes;
    for (const raft_block_t *b = log->head; b && b != log->tail && b->max_index < keep;
         b = b->next) {
        if (bytes - s_block_bytes(b) < window)
            break;
        bytes -= s_block_bytes(b);
        if (b->max_index >= first)
            first = b->max_index + 1;
    }
    return first;
}

/*  Let go of the data of the entries before first (from raft_log_droppable).
    Called at advance, like raft_log_release. */
void raft_log_drop_data(raft_log_t *log, uint64_t first)
{
    assert(first >= log->data_first && first <= log->applied + 1 && first <= log->durable + 1);
    while (log->head && log->head != log->tail && log->head->max_index < first) {
        raft_block_t *b = log->head;
        log->head = b->next;
        log->block_bytes -= s_block_bytes(b);
        free(b);
    }
    log->data_first = first;
}

/*  The largest index <= index whose term is <= term, or the snapshot index
    if none is left in memory (§5.3 fast backtracking, as etcd-io/raft's
    findConflictByTerm). Terms never decrease along a log, so bisect. */
uint64_t raft_log_find_conflict_by_term(const raft_log_t *log, uint64_t index, uint64_t term,
                                        uint64_t *found_term)
{
    uint64_t last = raft_log_last(log);
    if (index > last)
        index = last;
    uint64_t lo = log->snap_index;
    if (index <= lo || log->snap_term > term) {
        *found_term = log->snap_term;
        return lo;
    }
    uint64_t t = raft_log_entry(log, index)->term;
    if (t <= term) {
        *found_term = t;
        return index;
    }
    uint64_t hi = index; /* term(lo) <= term < term(hi) */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (raft_log_entry(log, mid)->term <= term)
            lo = mid;
        else
            hi = mid;
    }
    *found_term = raft_log_term_or0(log, lo);
    return lo;
}

/*  §5.4.1: a candidate's log is at least as up to date as ours. */
bool raft_log_up_to_date(const raft_log_t *log, uint64_t last_index, uint64_t last_term)
{
    uint64_t our_term = raft_log_last_term(log);
    return last_term > our_term || (last_term == our_term && last_index >= raft_log_last(log));
}

size_t raft_log_span(const raft_log_t *log, uint64_t index, size_t max_n, size_t max_bytes)
{
    uint64_t last = raft_log_last(log);
    if (index > last || index <= log->snap_index)
        return 0;
    size_t avail = (size_t) (last - index + 1);
    size_t n = avail < max_n ? avail : max_n;
    const zkv_raft_entry_t *e = raft_log_entry(log, index);
    size_t bytes = e[0].size;
    size_t k = 1;
    while (k < n && bytes + e[k].size <= max_bytes)
        bytes += e[k++].size;
    return k;
}

void raft_log_commit_to(raft_log_t *log, uint64_t index)
{
    if (index <= log->commit)
        return;
    assert(index <= raft_log_last(log));
    log->commit = index;
}
