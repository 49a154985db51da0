/*  slab: blocks of every size class come back intact, never overlap, are
    reused once freed, and a slab whose blocks all came back is given up;
    blocks above the largest class go to malloc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "slab.h"
#include "splitmix.h"

#define BLOCKS 20000
#ifdef __SANITIZE_ADDRESS__
#define S_ASAN_GAP 16
#else
#define S_ASAN_GAP 0
#endif

typedef struct {
    uint8_t *p;
    size_t size;
    uint8_t fill;
} s_block_t;

static void s_check(const s_block_t *b)
{
    for (size_t i = 0; i < b->size; i++)
        if (b->p[i] != (uint8_t) (b->fill + i))
            fail_msg("a block of %zu bytes changed at byte %zu", b->size, i);
}

static void s_fill(s_block_t *b, size_t size, uint8_t fill)
{
    b->p = zkv_slab_alloc(size);
    assert_non_null(b->p);
    b->size = size;
    b->fill = fill;
    for (size_t i = 0; i < size; i++)
        b->p[i] = (uint8_t) (fill + i);
}

/*  Random sizes (every class, some past the largest), freed and allocated again in random
    order: every block keeps its bytes, and at the end nothing is live or held. */
static void test_blocks_stay_intact(void **state)
{
    (void) state;
    size_t live = zkv_slab_live();
    s_block_t *blocks = calloc(BLOCKS, sizeof *blocks);
    assert_non_null(blocks);
    uint64_t rng = 0x51ab;
    for (size_t i = 0; i < BLOCKS; i++)
        s_fill(&blocks[i], zkv_splitmix64(&rng) % (ZKV_SLAB_OBJECT_MAX + 64),
               (uint8_t) zkv_splitmix64(&rng));
    for (size_t round = 0; round < 4 * BLOCKS; round++) {
        s_block_t *b = &blocks[zkv_splitmix64(&rng) % BLOCKS];
        s_check(b);
        zkv_slab_free(b->p, b->size);
        s_fill(b, zkv_splitmix64(&rng) % (ZKV_SLAB_OBJECT_MAX + 64),
               (uint8_t) zkv_splitmix64(&rng));
    }
    size_t small = 0;
    for (size_t i = 0; i < BLOCKS; i++) {
        s_check(&blocks[i]);
        small += blocks[i].size <= ZKV_SLAB_OBJECT_MAX;
    }
    assert_int_equal(zkv_slab_live(), live + small);
    for (size_t i = 0; i < BLOCKS; i++)
        zkv_slab_free(blocks[i].p, blocks[i].size);
    assert_int_equal(zkv_slab_live(), live);
    assert_int_equal(zkv_slab_bytes(), 0);
    free(blocks);
}

/*  One class: a freed block is the next one handed out; a slab emptied is given up, and the
    slabs hold about the bytes asked for (no header per block). */
static void test_reuse_and_give_up(void **state)
{
    (void) state;
    enum { N = 5000, SIZE = 280 };
    static uint8_t *p[N];
    for (size_t i = 0; i < N; i++)
        assert_non_null(p[i] = zkv_slab_alloc(SIZE));
    assert_int_equal(zkv_slab_live(), N);
    size_t held = zkv_slab_bytes();
    assert_true(held >= (size_t) N * SIZE);
    /* Less than malloc's chunks (SIZE + 8, rounded to 16) and one slab; ASan adds its gaps. */
    assert_true(held <= (size_t) N * (SIZE + 8 + S_ASAN_GAP) + (64u << 10));
    uint8_t *again = p[N / 2];
    zkv_slab_free(again, SIZE);
    p[N / 2] = zkv_slab_alloc(SIZE);
    assert_ptr_equal(p[N / 2], again);
    for (size_t i = 0; i < N; i++)
        zkv_slab_free(p[i], SIZE);
    assert_int_equal(zkv_slab_live(), 0);
    assert_int_equal(zkv_slab_bytes(), 0);
    zkv_slab_free(NULL, SIZE);
    uint8_t *zero = zkv_slab_alloc(0);
    assert_non_null(zero);
    zkv_slab_free(zero, 0);
    assert_int_equal(zkv_slab_live(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks_stay_intact),
        cmocka_unit_test(test_reuse_and_give_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
