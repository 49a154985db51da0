/*  slab: where the B+ tree's records live. Small blocks of one size class
    (a multiple of 8 bytes) are carved from 64 KiB slabs, with no header of
    their own: a malloc chunk adds 8 bytes and rounds up to 16 (a 280-byte
    record takes 288), a slab slot rounds up to 8 and adds nothing. Blocks
    above ZKV_SLAB_OBJECT_MAX bytes go to malloc.

    Any thread: a record is freed by whichever holder lets go last (btree.h),
    so one lock guards the slabs, the core's only one. Under AddressSanitizer
    free blocks are poisoned and every slot is followed by a poisoned gap, so
    a use after free or a write past a record is still reported; a record
    never freed is not (the live count is: zkv_slab_live). */
#ifndef ZKV_SLAB_H
#define ZKV_SLAB_H

#include <stddef.h>

#define ZKV_SLAB_OBJECT_MAX 1024

/*  size bytes (0 is taken as 1); NULL when out of memory. */
void *zkv_slab_alloc(size_t size);
/*  Free p (NULL: nothing), allocated with the same size. */
void zkv_slab_free(void *p, size_t size);

/*  Blocks handed out by the slabs and not freed, process-wide. */
size_t zkv_slab_live(void);
/*  Bytes of slabs held, process-wide. */
size_t zkv_slab_bytes(void);

#endif
