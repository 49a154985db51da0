/*  slab: size classes of 8 bytes up to ZKV_SLAB_OBJECT_MAX. A slab is 64 KiB
    aligned to its size, so a block finds its slab by masking its address;
    the slab's header holds its class, its free blocks (a list through their
    first bytes) and how many blocks are out. A class keeps a list of the
    slabs with room. Slabs are cut from 2 MiB mappings (malloc's aligned
    blocks would leave a touched gap before each); a slab whose last block
    comes back gives its pages to the kernel and waits for the next class
    that needs one. */
#include "slab.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#define S_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define S_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#define S_GAP 16
#else
#define S_POISON(p, n) ((void) (p), (void) (n))
#define S_UNPOISON(p, n) ((void) (p), (void) (n))
#define S_GAP 0
#endif

#define S_SLAB_SIZE (64u << 10)
#define S_EXTENT_SLABS 32u
#define S_PAGE 4096u /* the header's page stays: a spare slab keeps its link there */
#define S_STEP 8u
#define S_CLASSES (ZKV_SLAB_OBJECT_MAX / S_STEP)

typedef struct s_slab_t {
    struct s_slab_t *prev, *next; /* in its class's list of slabs with room */
    void *free;                   /* blocks given back, linked through their first bytes */
    uint32_t out;                 /* blocks handed out */
    uint32_t carved;              /* blocks ever taken from the untouched end */
    uint32_t cls;
    bool listed; /* in its class's list */
} s_slab_t;

/*  The header takes a slot's room at the start of the slab. */
#define S_HEADER ((sizeof(s_slab_t) + 15u) & ~15u)

static struct {
    pthread_mutex_t lock;
    s_slab_t *room[S_CLASSES];
    s_slab_t *spare; /* empty slabs, linked through next */
    uint8_t *extent; /* slabs not yet cut from the newest mapping */
    uint32_t extent_left;
    size_t live;
    size_t slabs; /* in use */
} s_pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static size_t s_class_size(uint32_t cls)
{
    return (size_t) (cls + 1) * S_STEP;
}

static size_t s_stride(uint32_t cls)
{
    return s_class_size(cls) + S_GAP;
}

static uint32_t s_capacity(uint32_t cls)
{
    return (uint32_t) ((S_SLAB_SIZE - S_HEADER) / s_stride(cls));
}

static void s_list(s_slab_t *slab)
{
    assert(!slab->listed);
    slab->prev = NULL;
    slab->next = s_pool.room[slab->cls];
    if (slab->next)
        slab->next->prev = slab;
    s_pool.room[slab->cls] = slab;
    slab->listed = true;
}

static void s_unlist(s_slab_t *slab)
{
    assert(slab->listed);
    if (slab->prev)
        slab->prev->next = slab->next;
    else
        s_pool.room[slab->cls] = slab->next;
    if (slab->next)
        slab->next->prev = slab->prev;
    slab->listed = false;
}

/*  An empty slab: a spare, else the next one of the newest mapping, else a new mapping
    (aligned by mapping one slab more and unmapping the ends). */
static void *s_slab_memory(void)
{
    if (s_pool.spare) {
        s_slab_t *slab = s_pool.spare;
        s_pool.spare = slab->next;
        return slab;
    }
    if (s_pool.extent_left == 0) {
        size_t size = (size_t) S_EXTENT_SLABS * S_SLAB_SIZE;
        uint8_t *map = mmap(NULL, size + S_SLAB_SIZE, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map == MAP_FAILED)
            return NULL;
        uintptr_t at = ((uintptr_t) map + S_SLAB_SIZE - 1) & ~(uintptr_t) (S_SLAB_SIZE - 1);
        size_t head = at - (uintptr_t) map;
        if (head)
            munmap(map, head);
        if (S_SLAB_SIZE - head)
            munmap((uint8_t *) at + size, S_SLAB_SIZE - head);
        s_pool.extent = (uint8_t *) at;
        s_pool.extent_left = S_EXTENT_SLABS;
    }
    void *mem = s_pool.extent;
    s_pool.extent += S_SLAB_SIZE;
    s_pool.extent_left--;
    return mem;
}

static s_slab_t *s_slab_new(uint32_t cls)
{
    s_slab_t *slab = s_slab_memory();
    if (!slab)
        return NULL;
    *slab = (s_slab_t){.cls = cls};
    S_POISON((uint8_t *) slab + S_HEADER, S_SLAB_SIZE - S_HEADER);
    s_pool.slabs++;
    s_list(slab);
    return slab;
}

/*  A slab with no block out: its pages go back to the kernel, its address to the spares. */
static void s_slab_empty(s_slab_t *slab)
{
    if (slab->listed)
        s_unlist(slab);
    s_pool.slabs--;
    S_UNPOISON((uint8_t *) slab + S_HEADER, S_SLAB_SIZE - S_HEADER);
    madvise((uint8_t *) slab + S_PAGE, S_SLAB_SIZE - S_PAGE, MADV_DONTNEED);
    slab->next = s_pool.spare;
    s_pool.spare = slab;
}

static void *s_take(s_slab_t *slab)
{
    void *p = slab->free;
    if (p) {
        S_UNPOISON(p, sizeof(void *));
        slab->free = *(void **) p;
    } else {
        p = (uint8_t *) slab + S_HEADER + (size_t) slab->carved++ * s_stride(slab->cls);
    }
    slab->out++;
    if (!slab->free && slab->carved == s_capacity(slab->cls))
        s_unlist(slab);
    return p;
}

void *zkv_slab_alloc(size_t size)
{
    if (size == 0)
        size = 1;
    if (size > ZKV_SLAB_OBJECT_MAX)
        return malloc(size);
    uint32_t cls = (uint32_t) ((size - 1) / S_STEP);
    pthread_mutex_lock(&s_pool.lock);
    s_slab_t *slab = s_pool.room[cls];
    if (!slab)
        slab = s_slab_new(cls);
    void *p = slab ? s_take(slab) : NULL;
    if (p)
        s_pool.live++;
    pthread_mutex_unlock(&s_pool.lock);
    if (p)
        S_UNPOISON(p, size);
    return p;
}

void zkv_slab_free(void *p, size_t size)
{
    if (!p)
        return;
    if (size == 0)
        size = 1;
    if (size > ZKV_SLAB_OBJECT_MAX) {
        free(p);
        return;
    }
    s_slab_t *slab = (s_slab_t *) ((uintptr_t) p & ~(uintptr_t) (S_SLAB_SIZE - 1));
    pthread_mutex_lock(&s_pool.lock);
    assert(slab->cls == (size - 1) / S_STEP && slab->out > 0);
    assert(s_pool.live > 0);
    s_pool.live--;
    if (--slab->out == 0) {
        s_slab_empty(slab);
        pthread_mutex_unlock(&s_pool.lock);
        return;
    }
    S_UNPOISON(p, sizeof(void *)); /* a block below 8 bytes has only size of them open */
    *(void **) p = slab->free;
    slab->free = p;
    S_POISON(p, s_class_size(slab->cls));
    if (!slab->listed)
        s_list(slab);
    pthread_mutex_unlock(&s_pool.lock);
}

size_t zkv_slab_live(void)
{
    pthread_mutex_lock(&s_pool.lock);
    size_t live = s_pool.live;
    pthread_mutex_unlock(&s_pool.lock);
    return live;
}

size_t zkv_slab_bytes(void)
{
    pthread_mutex_lock(&s_pool.lock);
    size_t bytes = s_pool.slabs * S_SLAB_SIZE;
    pthread_mutex_unlock(&s_pool.lock);
    return bytes;
}
