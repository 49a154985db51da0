/*  wal_index: the in-memory map from entry index to segment and offset, and
    the terms of the entries as runs. Recovery and the live WAL change it
    through the same calls, so a reopened WAL holds what the running one did. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "wal_private.h"
#include "zkv_error.h"

int wal_index_grow_segments(zkv_wal_t *w)
{
    if (w->seg_count < w->seg_cap)
        return ZKV_OK;
    size_t cap = w->seg_cap ? 2 * w->seg_cap : 8;
    wal_segment_t *segs = realloc(w->segs, cap * sizeof *segs);
    if (!segs)
        return ZKV_ENOMEM;
    w->segs = segs;
    w->seg_cap = cap;
    return ZKV_OK;
}

static int s_add_run(zkv_wal_t *w, uint64_t index, uint64_t term)
{
    if (w->run_count > 0 && w->runs[w->run_count - 1].term == term)
        return ZKV_OK;
    if (w->run_count == w->run_cap) {
        size_t cap = w->run_cap ? 2 * w->run_cap : 16;
        wal_term_run_t *runs = realloc(w->runs, cap * sizeof *runs);
        if (!runs)
            return ZKV_ENOMEM;
        w->runs = runs;
        w->run_cap = cap;
    }
    w->runs[w->run_count++] = (wal_term_run_t){.start = index, .term = term};
    return ZKV_OK;
}

int wal_index_add(zkv_wal_t *w, wal_segment_t *seg, uint64_t offset, uint64_t index, uint64_t term)
{
    assert(index == w->next);
    assert(offset <= UINT32_MAX);
    assert(seg->live_count == 0 || seg->live_first + seg->live_count == index);
    if (seg->live_count == seg->offsets_cap) {
        size_t cap = seg->offsets_cap ? 2 * seg->offsets_cap : 256;
        uint32_t *offsets = realloc(seg->offsets, cap * sizeof *offsets);
        if (!offsets)
            return ZKV_ENOMEM;
        seg->offsets = offsets;
        seg->offsets_cap = cap;
    }
    if (s_add_run(w, index, term) != ZKV_OK)
        return ZKV_ENOMEM;
    if (seg->live_count == 0)
        seg->live_first = index;
    seg->offsets[seg->live_count++] = (uint32_t) offset;
    w->next = index + 1;
    return ZKV_OK;
}

void wal_index_truncate(zkv_wal_t *w, uint64_t index)
{
    assert(index <= w->next);
    for (size_t i = w->seg_count; i-- > 0;) {
        wal_segment_t *seg = &w->segs[i];
        if (seg->live_count == 0)
            continue;
        if (seg->live_first >= index)
            seg->live_count = 0;
        else if (seg->live_first + seg->live_count > index)
            seg->live_count = (size_t) (index - seg->live_first);
        else
            break;
    }
    while (w->run_count > 0 && w->runs[w->run_count - 1].start >= index)
        w->run_count--;
    w->next = index;
}

void wal_index_reset(zkv_wal_t *w, uint64_t next)
{
    for (size_t i = 0; i < w->seg_count; i++)
        w->segs[i].live_count = 0;
    w->run_count = 0;
    w->next = next;
}

uint64_t wal_index_first(const zkv_wal_t *w)
{
    for (size_t i = 0; i < w->seg_count; i++)
        if (w->segs[i].live_count > 0)
            return w->segs[i].live_first;
    return w->next;
}

const wal_segment_t *wal_index_find(const zkv_wal_t *w, uint64_t index, uint64_t *offset)
{
    /*  Newest first: reads are mostly of recent entries. */
    for (size_t i = w->seg_count; i-- > 0;) {
        const wal_segment_t *seg = &w->segs[i];
        if (seg->live_count == 0 || index < seg->live_first)
            continue;
        if (index - seg->live_first >= seg->live_count)
            return NULL;
        *offset = seg->offsets[index - seg->live_first];
        return seg;
    }
    return NULL;
}

uint64_t wal_index_last_term(const zkv_wal_t *w)
{
    return w->run_count ? w->runs[w->run_count - 1].term : 0;
}

int wal_index_term(const zkv_wal_t *w, uint64_t index, uint64_t *term)
{
    if (index >= w->next)
        return ZKV_ENOTFOUND;
    if (index < wal_index_first(w) || w->run_count == 0)
        return ZKV_ECOMPACTED;
    size_t lo = 0, hi = w->run_count; /* the answer is the last run with start <= index */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->runs[mid].start <= index)
            lo = mid;
        else
            hi = mid;
    }
    assert(w->runs[lo].start <= index);
    *term = w->runs[lo].term;
    return ZKV_OK;
}

void wal_index_drop_segments(zkv_wal_t *w, size_t count)
{
    assert(count < w->seg_count);
    memmove(w->segs, w->segs + count, (w->seg_count - count) * sizeof *w->segs);
    w->seg_count -= count;
    uint64_t first = wal_index_first(w);
    if (first == w->next) {
        w->run_count = 0;
        return;
    }
    size_t drop = 0;
    while (drop + 1 < w->run_count && w->runs[drop + 1].start <= first)
        drop++;
    memmove(w->runs, w->runs + drop, (w->run_count - drop) * sizeof *w->runs);
    w->run_count -= drop;
    if (w->run_count > 0 && w->runs[0].start < first)
        w->runs[0].start = first;
}
