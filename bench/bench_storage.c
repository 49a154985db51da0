/*  bench_storage: single-thread figures for the storage core (B+ tree and WAL).
    Usage: bench_storage [--keys N] [--dir DIR]  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_storage.h"

int main(int argc, char **argv)
{
    size_t keys = 1000000;
    const char *dir = "/tmp";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc)
            keys = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else {
            fprintf(stderr, "usage: bench_storage [--keys N] [--dir DIR]\n");
            return 2;
        }
    }
    if (bench_btree_run(keys) != 0)
        return 1;
    if (bench_wal_run(dir) != 0)
        return 1;
    return 0;
}
