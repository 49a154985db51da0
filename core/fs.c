/*  fs: helpers written once over any zkv_fs_t. */
#include "fs.h"
#include "zkv_error.h"

int zkv_fs_read_exact(const zkv_fs_t *fs, int fd, void *buf, size_t size, uint64_t offset,
                      size_t *got)
{
    size_t n = 0;
    int rc = zkv_fs_pread(fs, fd, buf, size, offset, &n);
    if (got)
        *got = n;
    if (rc != ZKV_OK)
        return rc;
    return n == size ? ZKV_OK : ZKV_ETORN;
}
