/*  The two halves of bench_storage, each printing its own table. 0 on success. */
#ifndef ZKV_BENCH_STORAGE_H
#define ZKV_BENCH_STORAGE_H

#include <stddef.h>

int bench_btree_run(size_t keys);
int bench_wal_run(const char *dir);

#endif
