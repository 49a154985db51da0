/*  zkv_types: positions and key ranges of watches (include/zkv_types.h),
    compiled into the node and into libzkv. */
#include "zkv_types.h"

#include <string.h>

int zkv_event_pos_cmp(zkv_event_pos_t a, zkv_event_pos_t b)
{
    if (a.revision != b.revision)
        return a.revision < b.revision ? -1 : 1;
    return (a.seq > b.seq) - (a.seq < b.seq);
}

static int s_key_cmp(zkv_bytes_t a, zkv_bytes_t b)
{
    size_t n = a.size < b.size ? a.size : b.size;
    int c = n ? memcmp(a.data, b.data, n) : 0;
    if (c != 0)
        return c;
    return (a.size > b.size) - (a.size < b.size);
}

bool zkv_key_filter_match(const zkv_key_filter_t *filter, zkv_bytes_t key)
{
    if (!filter->range)
        return s_key_cmp(key, filter->start) == 0;
    if (s_key_cmp(key, filter->start) < 0)
        return false;
    return filter->end.size == 0 || s_key_cmp(key, filter->end) < 0;
}
