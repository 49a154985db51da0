/*  lincheck: the linearizability search for one register.

    Events (calls and returns) sit in one doubly linked list in real-time
    order. The search walks it from the front: a call whose operation fits
    the register state is lifted out (call and return) and pushed on a stack;
    reaching a return means that operation must already have been placed, so
    the last choice is undone. Lowe's memoization skips any (set of placed
    operations, state) pair seen before. INFO operations return at +infinity
    and need not be placed at all, so the search succeeds once every OK
    operation is placed. A get that fits is placed first and undone only
    together with the choice before it (docs/HISTORY.md says why).

    Sets of placed operations are hash-consed binary trees over 64-bit words,
    so each remembered set costs a few tree nodes instead of a whole bitset
    (which made memory grow with the square of the history) and two sets
    compare by node id. */
#include "lincheck.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zkv_error.h"

#define S_NIL (-1)
#define S_ABSENT 0 /* interned value ids start at 1 */
#define S_NEVER UINT64_MAX
#define S_EMPTY_SLOT UINT64_MAX

typedef struct {
    size_t index; /* into the caller's ops */
    zkv_lincheck_f_t f;
    bool info;
    int32_t value;
    int32_t expected;
    uint64_t call;
    uint64_t ret; /* S_NEVER for INFO */
} s_op_t;

typedef struct {
    int32_t prev;
    int32_t next;
    int32_t match; /* a call: its return node; a return: S_NIL */
    int32_t op;
} s_node_t;

typedef struct {
    int32_t node;
    int32_t state; /* before the operation */
    uint32_t set;  /* placed set before the operation */
} s_frame_t;

/*  Open addressing, sized once for every string the ops can hold. */
typedef struct {
    const char **strings; /* id - 1 -> string */
    int32_t *slots;       /* id, 0 = empty */
    size_t mask;
    int32_t count;
} s_intern_t;

typedef enum { S_ADDED, S_PRESENT, S_FULL, S_NOMEM } s_rc_t;

/*  A hash set of 64-bit keys (S_EMPTY_SLOT is never a key); each key may
    carry a 32-bit id. */
typedef struct {
    uint64_t *keys;
    uint32_t *ids;
    size_t mask;
    size_t used;
} s_table_t;

/*  Hash-consed trees: node id -> content, a leaf's 64 bits or, for an inner
    node, left id << 32 | right id. The height tells which. Content 0 is id 0,
    the empty subtree of any height. */
typedef struct {
    uint64_t *content;
    size_t count;
    size_t cap;
    s_table_t index; /* content -> id */
    int height;      /* of the root; leaves are at 0 */
} s_sets_t;

struct zkv_lincheck_result_t {
    zkv_lincheck_verdict_t verdict;
    uint64_t steps;
    bool cache_full; /* UNKNOWN came from the cache limit, not the step budget */
    size_t total;    /* operations considered (not dropped) */
    size_t prefix_length;
    size_t tail[ZKV_LINCHECK_TAIL_MAX];
    size_t tail_count;
    const char *state;
    size_t *stuck;
    size_t stuck_count;
    size_t reader; /* an operation still to place that reads the state; SIZE_MAX: none */
};

typedef struct {
    s_op_t *ops;
    int32_t count;
    size_t definite; /* OK operations: all must be placed */
    s_node_t *nodes; /* [0] is the head sentinel */
    s_frame_t *stack;
    size_t depth;
    s_intern_t intern;
    s_sets_t sets;
    s_table_t memo;     /* (placed set, state) pairs seen */
    uint64_t bytes_max; /* for sets and memo together; 0 = no limit */
    bool have_best;     /* the deepest point where the search got stuck */
    size_t best_depth;
    int32_t best_state;
    uint32_t best_set;
    int32_t best_tail[ZKV_LINCHECK_TAIL_MAX];
    bool nomem; /* the memo could not grow */
    /* By value id, among the operations not placed: how many gets read it
       and cas operations expect it, and how many writes write it. */
    int32_t *readers;
    int32_t *writers;
} s_search_t;

zkv_lincheck_limits_t zkv_lincheck_limits_default(void)
{
    zkv_lincheck_limits_t limits = {ZKV_LINCHECK_STEPS_DEFAULT, ZKV_LINCHECK_CACHE_BYTES_DEFAULT};
    return limits;
}

static uint64_t s_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t s_string_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char) *s) * 0x100000001b3ULL;
    return h;
}

static size_t s_pow2_at_least(size_t n)
{
    size_t p = 16;
    while (p < n)
        p *= 2;
    return p;
}

/* ---- value interning ---------------------------------------------------- */

static int s_intern_init(s_intern_t *self, size_t strings_max)
{
    size_t cap = s_pow2_at_least(2 * strings_max + 1);
    self->slots = calloc(cap, sizeof *self->slots);
    self->strings = calloc(strings_max + 1, sizeof *self->strings);
    self->mask = cap - 1;
    self->count = 0;
    return self->slots && self->strings ? 0 : ZKV_ENOMEM;
}

static int32_t s_intern(s_intern_t *self, const char *s)
{
    if (!s)
        return S_ABSENT;
    size_t i = (size_t) s_string_hash(s) & self->mask;
    while (self->slots[i]) {
        if (strcmp(self->strings[self->slots[i] - 1], s) == 0)
            return self->slots[i];
        i = (i + 1) & self->mask;
    }
    self->strings[self->count] = s;
    self->slots[i] = ++self->count;
    return self->slots[i];
}

static const char *s_intern_string(const s_intern_t *self, int32_t id)
{
    return id == S_ABSENT ? NULL : self->strings[id - 1];
}

/* ---- memory accounting ---------------------------------------------------- */

static uint64_t s_table_bytes(const s_table_t *table)
{
    return (uint64_t) (table->mask + 1) * (sizeof *table->keys + sizeof *table->ids);
}

static uint64_t s_bytes(const s_search_t *self)
{
    return s_table_bytes(&self->memo) + s_table_bytes(&self->sets.index) +
           (uint64_t) self->sets.cap * sizeof *self->sets.content;
}

/*  May the structures grow by this many bytes? */
static s_rc_t s_may_grow(const s_search_t *self, uint64_t more)
{
    return self->bytes_max && s_bytes(self) + more > self->bytes_max ? S_FULL : S_ADDED;
}

/* ---- hash set ------------------------------------------------------------- */

static int s_table_init(s_table_t *self, bool with_ids)
{
    self->mask = 1023;
    self->keys = malloc((self->mask + 1) * sizeof *self->keys);
    self->ids = with_ids ? malloc((self->mask + 1) * sizeof *self->ids) : NULL;
    if (!self->keys || (with_ids && !self->ids))
        return ZKV_ENOMEM;
    memset(self->keys, 0xff, (self->mask + 1) * sizeof *self->keys);
    return 0;
}

static void s_table_free(s_table_t *self)
{
    free(self->keys);
    free(self->ids);
}

static s_rc_t s_table_grow(s_search_t *search, s_table_t *self)
{
    size_t cap = (self->mask + 1) * 2;
    if (s_may_grow(search, s_table_bytes(self)) != S_ADDED)
        return S_FULL;
    uint64_t *keys = malloc(cap * sizeof *keys);
    uint32_t *ids = self->ids ? malloc(cap * sizeof *ids) : NULL;
    if (!keys || (self->ids && !ids)) {
        free(keys);
        free(ids);
        return S_NOMEM;
    }
    memset(keys, 0xff, cap * sizeof *keys);
    for (size_t i = 0; i <= self->mask; i++) {
        if (self->keys[i] == S_EMPTY_SLOT)
            continue;
        size_t j = (size_t) s_mix64(self->keys[i]) & (cap - 1);
        while (keys[j] != S_EMPTY_SLOT)
            j = (j + 1) & (cap - 1);
        keys[j] = self->keys[i];
        if (ids)
            ids[j] = self->ids[i];
    }
    s_table_free(self);
    self->keys = keys;
    self->ids = ids;
    self->mask = cap - 1;
    return S_ADDED;
}

/*  Finds key or adds it with id; *slot_p is where it is. */
static s_rc_t s_table_add(s_search_t *search, s_table_t *self, uint64_t key, uint32_t id,
                          size_t *slot_p)
{
    size_t i = (size_t) s_mix64(key) & self->mask;
    for (; self->keys[i] != S_EMPTY_SLOT; i = (i + 1) & self->mask) {
        if (self->keys[i] == key) {
            *slot_p = i;
            return S_PRESENT;
        }
    }
    if (s_may_grow(search, 0) != S_ADDED)
        return S_FULL;
    if ((self->used + 1) * 2 > self->mask + 1) {
        s_rc_t rc = s_table_grow(search, self);
        return rc == S_ADDED ? s_table_add(search, self, key, id, slot_p) : rc;
    }
    self->keys[i] = key;
    if (self->ids)
        self->ids[i] = id;
    self->used++;
    *slot_p = i;
    return S_ADDED;
}

/* ---- sets of operations ------------------------------------------------------ */

static int s_sets_init(s_sets_t *self, int32_t ops)
{
    size_t leaves = ((size_t) ops + 63) / 64;
    while ((size_t) 1 << self->height < leaves)
        self->height++;
    self->cap = 1024;
    self->content = malloc(self->cap * sizeof *self->content);
    if (!self->content || s_table_init(&self->index, true) != 0)
        return ZKV_ENOMEM;
    self->content[0] = 0;
    self->count = 1;
    size_t slot = (size_t) s_mix64(0) & self->index.mask;
    self->index.keys[slot] = 0;
    self->index.ids[slot] = 0;
    self->index.used = 1;
    return 0;
}

/*  The id of the node with this content, made if new. */
static s_rc_t s_sets_node(s_search_t *search, uint64_t content, uint32_t *id)
{
    s_sets_t *self = &search->sets;
    if (self->count == self->cap) {
        if (s_may_grow(search, self->cap * sizeof *self->content) != S_ADDED ||
            self->cap >= UINT32_MAX / 2)
            return S_FULL;
        uint64_t *grown = realloc(self->content, 2 * self->cap * sizeof *grown);
        if (!grown)
            return S_NOMEM;
        self->content = grown;
        self->cap *= 2;
    }
    size_t slot;
    s_rc_t rc = s_table_add(search, &self->index, content, (uint32_t) self->count, &slot);
    if (rc == S_ADDED)
        self->content[self->count++] = content;
    if (rc == S_ADDED || rc == S_PRESENT)
        *id = self->index.ids[slot];
    return rc == S_PRESENT ? S_ADDED : rc;
}

/*  The set `set` plus operation `op`, by copying the path to its leaf. */
static s_rc_t s_sets_with(s_search_t *search, uint32_t set, int32_t op, uint32_t *out)
{
    const s_sets_t *self = &search->sets;
    uint32_t path[64];
    uint32_t leaf = (uint32_t) op / 64, node = set;
    for (int h = self->height; h > 0; h--) {
        path[h] = node;
        uint64_t c = self->content[node];
        node = leaf >> (h - 1) & 1 ? (uint32_t) c : (uint32_t) (c >> 32);
    }
    s_rc_t rc = s_sets_node(search, self->content[node] | 1ULL << (op % 64), &node);
    for (int h = 1; rc == S_ADDED && h <= self->height; h++) {
        uint64_t c = self->content[path[h]];
        c = leaf >> (h - 1) & 1 ? (c & 0xffffffff00000000ULL) | node
                                : (c & 0xffffffffULL) | (uint64_t) node << 32;
        rc = s_sets_node(search, c, &node);
    }
    *out = node;
    return rc;
}

static bool s_sets_has(const s_sets_t *self, uint32_t set, int32_t op)
{
    uint32_t leaf = (uint32_t) op / 64, node = set;
    for (int h = self->height; h > 0; h--) {
        uint64_t c = self->content[node];
        node = leaf >> (h - 1) & 1 ? (uint32_t) c : (uint32_t) (c >> 32);
    }
    return self->content[node] >> (op % 64) & 1;
}

/* ---- preparing the event list ---------------------------------------------- */

typedef struct {
    uint64_t pos;
    int32_t op;
    bool call;
} s_event_t;

static int s_event_compare(const void *a, const void *b)
{
    const s_event_t *x = a, *y = b;
    if (x->pos != y->pos)
        return x->pos < y->pos ? -1 : 1;
    return x->op < y->op ? -1 : x->op > y->op;
}

/*  Drops what carries no information: FAIL operations and INFO reads. */
static bool s_dropped(const zkv_lincheck_op_t *op)
{
    return op->outcome == ZKV_LINCHECK_FAIL ||
           (op->outcome == ZKV_LINCHECK_INFO && op->f == ZKV_LINCHECK_GET);
}

static bool s_op_valid(const zkv_lincheck_op_t *op)
{
    if ((unsigned) op->f > ZKV_LINCHECK_CAS || (unsigned) op->outcome > ZKV_LINCHECK_INFO)
        return false;
    if (s_dropped(op))
        return true;
    if ((op->f == ZKV_LINCHECK_PUT || op->f == ZKV_LINCHECK_CAS) && !op->value)
        return false;
    if (op->outcome == ZKV_LINCHECK_OK)
        return op->ret_pos > op->call_pos;
    return op->ret_pos == 0 || op->ret_pos > op->call_pos;
}

/*  An INFO put or cas whose value no kept get reads and no kept cas expects
    can be left out: wherever it took effect, nothing between it and the next
    write looked at the register, so the order without it is just as legal.
    Such writes (given up on, never applied) would otherwise sit at the front
    of the list and be rescanned after every placement. */
static int s_drop_unobserved(s_search_t *self)
{
    bool *observed = calloc((size_t) self->intern.count + 1, sizeof *observed);
    if (!observed)
        return ZKV_ENOMEM;
    for (int32_t i = 0; i < self->count; i++) {
        const s_op_t *op = &self->ops[i];
        if (op->f == ZKV_LINCHECK_GET)
            observed[op->value] = true;
        else if (op->f == ZKV_LINCHECK_CAS)
            observed[op->expected] = true;
    }
    int32_t kept = 0;
    for (int32_t i = 0; i < self->count; i++) {
        const s_op_t *op = &self->ops[i];
        bool writes = op->f == ZKV_LINCHECK_PUT || op->f == ZKV_LINCHECK_CAS;
        if (!(op->info && writes && !observed[op->value]))
            self->ops[kept++] = *op;
    }
    self->count = kept;
    free(observed);
    return 0;
}

static int s_load_ops(s_search_t *self, const zkv_lincheck_op_t *ops, size_t count)
{
    self->ops = calloc(count ? count : 1, sizeof *self->ops);
    if (!self->ops || s_intern_init(&self->intern, 2 * count) != 0)
        return ZKV_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        if (!s_op_valid(&ops[i]))
            return ZKV_EINVAL;
        if (s_dropped(&ops[i]))
            continue;
        bool info = ops[i].outcome == ZKV_LINCHECK_INFO;
        s_op_t *op = &self->ops[self->count++];
        *op = (s_op_t){i,
                       ops[i].f,
                       info,
                       s_intern(&self->intern, ops[i].value),
                       s_intern(&self->intern, ops[i].expected),
                       ops[i].call_pos,
                       info ? S_NEVER : ops[i].ret_pos};
        if (!info)
            self->definite++;
    }
    return s_drop_unobserved(self);
}

/*  Builds the list: events sorted by position, each call linked to its return. */
static int s_build_list(s_search_t *self)
{
    size_t n = 2 * (size_t) self->count;
    s_event_t *events = malloc((n ? n : 1) * sizeof *events);
    self->nodes = malloc((n + 1) * sizeof *self->nodes);
    int32_t *call_node = malloc((self->count ? self->count : 1) * sizeof *call_node);
    int rc = events && self->nodes && call_node ? 0 : ZKV_ENOMEM;
    for (int32_t i = 0; rc == 0 && i < self->count; i++) {
        events[2 * i] = (s_event_t){self->ops[i].call, i, true};
        events[2 * i + 1] = (s_event_t){self->ops[i].ret, i, false};
    }
    if (rc == 0)
        qsort(events, n, sizeof *events, s_event_compare);
    for (size_t k = 1; rc == 0 && k < n; k++)
        if (events[k].pos == events[k - 1].pos && events[k].pos != S_NEVER)
            rc = ZKV_EINVAL;
    for (size_t k = 0; rc == 0 && k <= n; k++) {
        self->nodes[k] = (s_node_t){(int32_t) k - 1, k < n ? (int32_t) k + 1 : S_NIL, S_NIL, -1};
        if (k == 0)
            continue;
        self->nodes[k].op = events[k - 1].op;
        if (events[k - 1].call)
            call_node[events[k - 1].op] = (int32_t) k;
        else
            self->nodes[call_node[events[k - 1].op]].match = (int32_t) k;
    }
    free(events);
    free(call_node);
    return rc;
}

/*  Adds delta to what op reads and writes in the counts of unplaced
    operations; an info operation need not be placed, so it reads nothing. */
static void s_count(s_search_t *self, const s_op_t *op, int32_t delta)
{
    switch (op->f) {
    case ZKV_LINCHECK_PUT: self->writers[op->value] += delta; break;
    case ZKV_LINCHECK_DELETE: self->writers[S_ABSENT] += delta; break;
    case ZKV_LINCHECK_GET: self->readers[op->value] += delta; break;
    case ZKV_LINCHECK_CAS:
        self->readers[op->expected] += op->info ? 0 : delta;
        self->writers[op->value] += delta;
        break;
    }
}

static int s_search_init(s_search_t *self, const zkv_lincheck_op_t *ops, size_t count,
                         const zkv_lincheck_limits_t *limits)
{
    if (count > ZKV_LINCHECK_OPS_MAX)
        return ZKV_EINVAL;
    int rc = s_load_ops(self, ops, count);
    if (rc == 0)
        rc = s_build_list(self);
    if (rc == 0)
        rc = s_sets_init(&self->sets, self->count);
    if (rc == 0)
        rc = s_table_init(&self->memo, false);
    self->stack = malloc((self->count ? (size_t) self->count : 1) * sizeof *self->stack);
    self->readers = calloc((size_t) self->intern.count + 1, sizeof *self->readers);
    self->writers = calloc((size_t) self->intern.count + 1, sizeof *self->writers);
    if (rc == 0 && (!self->readers || !self->writers))
        rc = ZKV_ENOMEM;
    for (int32_t i = 0; rc == 0 && i < self->count; i++)
        s_count(self, &self->ops[i], 1);
    self->bytes_max = limits->cache_bytes_max;
    return rc == 0 && !self->stack ? ZKV_ENOMEM : rc;
}

static void s_search_free(s_search_t *self)
{
    free(self->ops);
    free(self->nodes);
    free(self->stack);
    free(self->readers);
    free(self->writers);
    free(self->intern.strings);
    free(self->intern.slots);
    free(self->sets.content);
    s_table_free(&self->sets.index);
    s_table_free(&self->memo);
}

/* ---- the search ------------------------------------------------------------- */

/*  The register's sequential specification. */
static bool s_step(const s_op_t *op, int32_t state, int32_t *next)
{
    switch (op->f) {
    case ZKV_LINCHECK_PUT: *next = op->value; return true;
    case ZKV_LINCHECK_DELETE: *next = S_ABSENT; return true;
    case ZKV_LINCHECK_GET: *next = state; return state == op->value;
    case ZKV_LINCHECK_CAS: *next = op->value; return state == op->expected;
    }
    return false;
}

static void s_lift(s_node_t *nodes, int32_t call)
{
    int32_t ret = nodes[call].match;
    nodes[nodes[call].prev].next = nodes[call].next;
    nodes[nodes[call].next].prev = nodes[call].prev;
    nodes[nodes[ret].prev].next = nodes[ret].next;
    if (nodes[ret].next != S_NIL)
        nodes[nodes[ret].next].prev = nodes[ret].prev;
}

/*  Exactly undoes the matching s_lift; lifts are undone in reverse order. */
static void s_unlift(s_node_t *nodes, int32_t call)
{
    int32_t ret = nodes[call].match;
    if (nodes[ret].next != S_NIL)
        nodes[nodes[ret].next].prev = ret;
    nodes[nodes[ret].prev].next = ret;
    nodes[nodes[call].next].prev = call;
    nodes[nodes[call].prev].next = call;
}

static void s_record_best(s_search_t *self, uint32_t set, int32_t state)
{
    if (self->have_best && self->depth <= self->best_depth)
        return;
    self->have_best = true;
    self->best_depth = self->depth;
    self->best_state = state;
    self->best_set = set;
    size_t tail = self->depth < ZKV_LINCHECK_TAIL_MAX ? self->depth : ZKV_LINCHECK_TAIL_MAX;
    for (size_t k = 0; k < tail; k++)
        self->best_tail[k] = self->nodes[self->stack[self->depth - tail + k].node].op;
}

/*  Whether op can go next from state: it fits the register, and when it
    changes the state, the value it overwrites is not one that an operation
    still to place reads or expects while no write left could bring it back
    (with unique values, a put overwritten before its readers came). Counts
    are those of the unplaced operations, op among them. */
static bool s_fits(const s_search_t *self, const s_op_t *op, int32_t state, int32_t *next)
{
    if (!s_step(op, state, next))
        return false;
    if (*next == state || op->f == ZKV_LINCHECK_GET)
        return true;
    int32_t readers = self->readers[state] - (op->f == ZKV_LINCHECK_CAS && !op->info);
    return readers == 0 || self->writers[state] > 0;
}

/*  Tries to place the operation of call node e; true when it was placed. */
static bool s_try_place(s_search_t *self, int32_t e, int32_t *state, uint32_t *set, s_rc_t *rc)
{
    const s_op_t *op = &self->ops[self->nodes[e].op];
    int32_t next;
    uint32_t next_set;
    size_t slot;
    *rc = S_PRESENT;
    if (!s_fits(self, op, *state, &next))
        return false;
    *rc = s_sets_with(self, *set, self->nodes[e].op, &next_set);
    if (*rc == S_ADDED)
        *rc = s_table_add(self, &self->memo, (uint64_t) next_set << 32 | (uint32_t) next, 0, &slot);
    if (*rc != S_ADDED)
        return false;
    self->stack[self->depth++] = (s_frame_t){e, *state, *set};
    s_count(self, op, -1);
    *state = next;
    *set = next_set;
    s_lift(self->nodes, e);
    return true;
}

static int32_t s_backtrack(s_search_t *self, int32_t *state, uint32_t *set)
{
    s_frame_t frame = self->stack[--self->depth];
    s_unlift(self->nodes, frame.node);
    s_count(self, &self->ops[self->nodes[frame.node].op], 1);
    *state = frame.state;
    *set = frame.set;
    return frame.node;
}

/*  A get that real time allows now and that reads the state, or S_NIL.
    Placing it first loses nothing: it leaves the state as it is, and every
    completion that places it later stays one when it moves up to here. So
    when it is found, it is the only choice worth trying. */
static int32_t s_fitting_get(const s_search_t *self, int32_t state)
{
    for (int32_t e = self->nodes[0].next; e != S_NIL && self->nodes[e].match != S_NIL;
         e = self->nodes[e].next) {
        const s_op_t *op = &self->ops[self->nodes[e].op];
        if (op->f == ZKV_LINCHECK_GET && op->value == state)
            return e;
    }
    return S_NIL;
}

static zkv_lincheck_verdict_t s_search(s_search_t *self, const zkv_lincheck_limits_t *limits,
                                       zkv_lincheck_result_t *result)
{
    int32_t state = S_ABSENT;
    uint32_t set = 0;
    size_t placed_definite = 0;
    int32_t e = self->nodes[0].next;
    while (placed_definite < self->definite) {
        if (limits->steps_max && result->steps >= limits->steps_max)
            return ZKV_LINCHECK_UNKNOWN;
        result->steps++;
        /* At a new placement, a get that fits goes first; the memo having
           seen it placed here means this placement was explored already. */
        int32_t get = e == self->nodes[0].next ? s_fitting_get(self, state) : S_NIL;
        bool dead = false;
        if (get != S_NIL || (e != S_NIL && self->nodes[e].match != S_NIL)) {
            s_rc_t rc;
            int32_t call = get != S_NIL ? get : e;
            if (s_try_place(self, call, &state, &set, &rc)) {
                placed_definite += !self->ops[self->nodes[call].op].info;
                e = self->nodes[0].next;
                continue;
            }
            if (rc == S_FULL || rc == S_NOMEM) {
                result->cache_full = true;
                self->nomem = rc == S_NOMEM;
                return ZKV_LINCHECK_UNKNOWN;
            }
            dead = get != S_NIL;
            if (!dead) {
                e = self->nodes[e].next;
                continue;
            }
        }
        /* A return (its operation had to be placed before anything later),
           or a get's placement seen before: undo, and undo past gets too,
           as nothing else placed where a get fitted can do better. */
        s_record_best(self, set, state);
        do {
            if (self->depth == 0)
                return ZKV_LINCHECK_VIOLATION;
            e = s_backtrack(self, &state, &set);
            placed_definite -= !self->ops[self->nodes[e].op].info;
        } while (self->ops[self->nodes[e].op].f == ZKV_LINCHECK_GET);
        e = self->nodes[e].next;
    }
    return ZKV_LINCHECK_LINEARIZABLE;
}

/* ---- the violation report ----------------------------------------------------- */

/*  Operations real time allows right after the best prefix: not placed, and
    called before the first return of an OK operation not placed. None fits
    the state: one that fitted would have been placed, or its memo entry
    shows an earlier visit one level deeper. */
static int s_fill_stuck(s_search_t *self, zkv_lincheck_result_t *result)
{
    assert(self->depth == 0); /* the counts are of every operation: take the best prefix's out */
    uint64_t first_ret = S_NEVER;
    for (int32_t i = 0; i < self->count; i++)
        if (s_sets_has(&self->sets, self->best_set, i))
            s_count(self, &self->ops[i], -1);
        else if (self->ops[i].ret < first_ret)
            first_ret = self->ops[i].ret;
    result->stuck = malloc((self->count ? self->count : 1) * sizeof *result->stuck);
    if (!result->stuck)
        return ZKV_ENOMEM;
    /* Node numbers follow event order, so this reports in call order. */
    for (size_t k = 1; k <= 2 * (size_t) self->count; k++) {
        const s_node_t *node = &self->nodes[k];
        const s_op_t *op = &self->ops[node->op];
        if (node->match == S_NIL || s_sets_has(&self->sets, self->best_set, node->op) ||
            op->call > first_ret)
            continue;
        /* Had one fitted, the search would have gone deeper than the best. */
        int32_t next;
        assert(!s_fits(self, op, self->best_state, &next));
        result->stuck[result->stuck_count++] = op->index;
    }
    result->reader = SIZE_MAX;
    for (int32_t i = 0; i < self->count && result->reader == SIZE_MAX; i++) {
        const s_op_t *op = &self->ops[i];
        bool reads = op->f == ZKV_LINCHECK_GET ? op->value == self->best_state
                                               : op->f == ZKV_LINCHECK_CAS && !op->info &&
                                                     op->expected == self->best_state;
        if (reads && !s_sets_has(&self->sets, self->best_set, i))
            result->reader = op->index;
    }
    return 0;
}

static int s_fill_violation(s_search_t *self, zkv_lincheck_result_t *result)
{
    assert(self->have_best);
    result->prefix_length = self->best_depth;
    result->tail_count =
        self->best_depth < ZKV_LINCHECK_TAIL_MAX ? self->best_depth : ZKV_LINCHECK_TAIL_MAX;
    for (size_t k = 0; k < result->tail_count; k++)
        result->tail[k] = self->ops[self->best_tail[k]].index;
    result->state = s_intern_string(&self->intern, self->best_state);
    return s_fill_stuck(self, result);
}

int zkv_lincheck_check(const zkv_lincheck_op_t *ops, size_t count,
                       const zkv_lincheck_limits_t *limits, zkv_lincheck_result_t **result_p)
{
    assert(result_p && (ops || count == 0));
    zkv_lincheck_limits_t defaults = zkv_lincheck_limits_default();
    if (!limits)
        limits = &defaults;
    zkv_lincheck_result_t *result = calloc(1, sizeof *result);
    s_search_t search = {0};
    int rc = result ? s_search_init(&search, ops, count, limits) : ZKV_ENOMEM;
    if (rc == 0) {
        result->total = (size_t) search.count;
        result->verdict = s_search(&search, limits, result);
        if (result->verdict == ZKV_LINCHECK_VIOLATION)
            rc = s_fill_violation(&search, result);
        if (search.nomem)
            rc = ZKV_ENOMEM;
    }
    s_search_free(&search);
    if (rc != 0)
        zkv_lincheck_result_destroy(&result);
    *result_p = result;
    return rc;
}

void zkv_lincheck_result_destroy(zkv_lincheck_result_t **self_p)
{
    assert(self_p);
    zkv_lincheck_result_t *self = *self_p;
    if (!self)
        return;
    free(self->stuck);
    free(self);
    *self_p = NULL;
}

zkv_lincheck_verdict_t zkv_lincheck_result_verdict(const zkv_lincheck_result_t *self)
{
    return self->verdict;
}

uint64_t zkv_lincheck_result_steps(const zkv_lincheck_result_t *self)
{
    return self->steps;
}

size_t zkv_lincheck_result_prefix_length(const zkv_lincheck_result_t *self)
{
    return self->prefix_length;
}

size_t zkv_lincheck_result_prefix_tail(const zkv_lincheck_result_t *self, const size_t **ops_p)
{
    *ops_p = self->tail;
    return self->tail_count;
}

const char *zkv_lincheck_result_state(const zkv_lincheck_result_t *self)
{
    return self->state;
}

size_t zkv_lincheck_result_stuck(const zkv_lincheck_result_t *self, const size_t **ops_p)
{
    *ops_p = self->stuck;
    return self->stuck_count;
}

const char *zkv_lincheck_f_name(zkv_lincheck_f_t f)
{
    switch (f) {
    case ZKV_LINCHECK_PUT: return "put";
    case ZKV_LINCHECK_GET: return "get";
    case ZKV_LINCHECK_DELETE: return "delete";
    case ZKV_LINCHECK_CAS: return "cas";
    }
    return "?";
}

const char *zkv_lincheck_outcome_name(zkv_lincheck_outcome_t outcome)
{
    switch (outcome) {
    case ZKV_LINCHECK_OK: return "ok";
    case ZKV_LINCHECK_FAIL: return "fail";
    case ZKV_LINCHECK_INFO: return "info";
    }
    return "?";
}

const char *zkv_lincheck_verdict_name(zkv_lincheck_verdict_t verdict)
{
    switch (verdict) {
    case ZKV_LINCHECK_LINEARIZABLE: return "linearizable";
    case ZKV_LINCHECK_VIOLATION: return "not linearizable";
    case ZKV_LINCHECK_UNKNOWN: return "unknown";
    }
    return "?";
}

/*  A value as a quoted string with control characters escaped, or null. */
static void s_print_value(FILE *out, const char *s)
{
    if (!s) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void s_print_op(FILE *out, const zkv_lincheck_op_t *op, size_t index)
{
    fprintf(out, "    #%zu ", index);
    if (op->process < 0)
        fputs("final state: ", out);
    else
        fprintf(out, "process %lld ", (long long) op->process);
    fputs(zkv_lincheck_f_name(op->f), out);
    if (op->f == ZKV_LINCHECK_CAS) {
        fputc(' ', out);
        s_print_value(out, op->expected);
    }
    if (op->f != ZKV_LINCHECK_DELETE) {
        fputs(op->f == ZKV_LINCHECK_PUT ? " " : " -> ", out);
        s_print_value(out, op->value);
    }
    fprintf(out, " %s", zkv_lincheck_outcome_name(op->outcome));
    if (op->process < 0)
        return;
    fprintf(out, ", lines %llu-", (unsigned long long) op->call_pos);
    if (op->ret_pos)
        fprintf(out, "%llu", (unsigned long long) op->ret_pos);
    else
        fputs("none", out);
    fprintf(out, ", t=%lld..", (long long) op->call_time_ns);
    if (op->ret_time_ns >= 0)
        fprintf(out, "%lld", (long long) op->ret_time_ns);
    fputs(" ns", out);
}

/*  Whether op fits the register holding state and changes it: then it was
    refused for overwriting a value still to be read (s_fits). */
static bool s_overwrites(const zkv_lincheck_op_t *op, const char *state)
{
    bool expected = op->f == ZKV_LINCHECK_CAS &&
                    (op->expected && state ? !strcmp(op->expected, state) : op->expected == state);
    if (op->f == ZKV_LINCHECK_DELETE)
        return state != NULL;
    return (op->f == ZKV_LINCHECK_PUT || expected) && !(state && !strcmp(op->value, state));
}

static void s_describe_violation(FILE *out, const zkv_lincheck_result_t *self,
                                 const zkv_lincheck_op_t *ops, size_t count)
{
    for (size_t k = 0; k < self->stuck_count; k++)
        assert(self->stuck[k] < count);
    fprintf(out,
            "not linearizable: %zu of %zu operations linearized, then none of those real time "
            "allows next fits\n",
            self->prefix_length, self->total);
    if (self->tail_count)
        fputs("  the last linearized operations:\n", out);
    for (size_t k = 0; k < self->tail_count; k++) {
        s_print_op(out, &ops[self->tail[k]], self->tail[k]);
        fputc('\n', out);
    }
    fputs("  the register then holds ", out);
    s_print_value(out, self->state);
    fputs("\n  allowed next by real time, none fitting:\n", out);
    bool overwrites = false;
    for (size_t k = 0; k < self->stuck_count; k++) {
        s_print_op(out, &ops[self->stuck[k]], self->stuck[k]);
        if (s_overwrites(&ops[self->stuck[k]], self->state)) {
            fputs(" (would overwrite the value)", out);
            overwrites = true;
        }
        fputc('\n', out);
    }
    if (overwrites && self->reader < count) {
        fputs("  the value is still to be read, and no write left brings it back:\n", out);
        s_print_op(out, &ops[self->reader], self->reader);
        fputc('\n', out);
    }
}

char *zkv_lincheck_result_describe(const zkv_lincheck_result_t *self, const zkv_lincheck_op_t *ops,
                                   size_t count)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (!out)
        return NULL;
    if (self->verdict == ZKV_LINCHECK_LINEARIZABLE)
        fprintf(out, "linearizable: %zu operations, %llu steps\n", self->total,
                (unsigned long long) self->steps);
    else if (self->verdict == ZKV_LINCHECK_UNKNOWN)
        fprintf(out, "unknown: gave up after %llu steps (%s limit) on %zu operations\n",
                (unsigned long long) self->steps, self->cache_full ? "cache memory" : "step",
                self->total);
    else
        s_describe_violation(out, self, ops, count);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
