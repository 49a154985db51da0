/*  cluster_file: "ZKVC", the payload's length (4 bytes), a zkv.ClusterFile,
    then the CRC32C of the payload (4 bytes), little-endian. */
#include "cluster_file.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "le.h"
#include "zkv.pb-c.h"
#include "zkv_error.h"

#define S_MAGIC "ZKVC"
#define S_HEADER 8
#define S_PAYLOAD_MAX (1024u * 1024)

static int s_fail(int rc, char *err, size_t err_size, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, err_size, fmt, args);
    va_end(args);
    return rc;
}

const char *zkv_cluster_state_name(zkv_cluster_state_t state)
{
    switch (state) {
    case ZKV_CLUSTER_MEMBER: return "member";
    case ZKV_CLUSTER_JOINING: return "joining";
    case ZKV_CLUSTER_REMOVED: return "removed";
    }
    return "?";
}

static int s_parse(const uint8_t *buf, size_t size, zkv_cluster_file_t *file)
{
    if (size < S_HEADER + 4 || memcmp(buf, S_MAGIC, 4) != 0)
        return ZKV_ECORRUPT;
    uint32_t len = zkv_le32_get(buf + 4);
    if (len != size - S_HEADER - 4 ||
        zkv_crc32c(0, buf + S_HEADER, len) != zkv_le32_get(buf + S_HEADER + len))
        return ZKV_ECORRUPT;
    Zkv__ClusterFile *pb = zkv__cluster_file__unpack(NULL, len, buf + S_HEADER);
    if (!pb)
        return ZKV_ECORRUPT;
    memset(file, 0, sizeof *file);
    file->cluster_id = pb->cluster_id;
    file->state = (zkv_cluster_state_t) pb->state;
    int rc = (int) pb->state <= (int) ZKV_CLUSTER_REMOVED ? ZKV_OK : ZKV_ECORRUPT;
    if (rc == ZKV_OK && pb->initial) {
        size_t n = zkv__cluster_config__get_packed_size(pb->initial);
        uint8_t *packed = malloc(n ? n : 1);
        rc = packed ? ZKV_OK : ZKV_ENOMEM;
        if (packed) {
            zkv__cluster_config__pack(pb->initial, packed);
            if (zkv_membership_decode(packed, n, &file->initial) != ZKV_OK)
                rc = ZKV_ECORRUPT;
        }
        free(packed);
    }
    zkv__cluster_file__free_unpacked(pb, NULL);
    return rc;
}

int zkv_cluster_file_load(const zkv_fs_t *fs, const char *dir, zkv_cluster_file_t *file, char *err,
                          size_t err_size)
{
    char path[ZKV_DATA_PATH_SIZE_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, ZKV_CLUSTER_FILE_NAME);
    int fd;
    int rc = zkv_fs_open(fs, path, ZKV_FS_READ, &fd);
    if (rc == ZKV_ENOTFOUND)
        return rc;
    if (rc != ZKV_OK)
        return s_fail(ZKV_EIO, err, err_size, "cannot open %s", path);
    uint64_t size = 0;
    uint8_t *buf = NULL;
    size_t got = 0;
    rc = zkv_fs_size(fs, fd, &size);
    if (rc == ZKV_OK && size > S_PAYLOAD_MAX + S_HEADER + 4)
        rc = ZKV_ECORRUPT;
    if (rc == ZKV_OK)
        rc = (buf = malloc(size ? size : 1)) ? ZKV_OK : ZKV_ENOMEM;
    if (rc == ZKV_OK)
        rc = zkv_fs_pread(fs, fd, buf, (size_t) size, 0, &got);
    zkv_fs_close(fs, fd);
    if (rc == ZKV_OK)
        rc = got == size ? s_parse(buf, (size_t) size, file) : ZKV_ECORRUPT;
    free(buf);
    if (rc == ZKV_ECORRUPT)
        return s_fail(rc, err, err_size,
                      "%s is damaged (bad magic, length or checksum): which cluster this node "
                      "belongs to is unknown",
                      path);
    if (rc != ZKV_OK)
        return s_fail(rc, err, err_size, "cannot read %s: %s", path, zkv_strerror(rc));
    return ZKV_OK;
}

static uint8_t *s_encode(const zkv_cluster_file_t *file, size_t *size)
{
    size_t config_size = 0;
    uint8_t *config = zkv_membership_encode(&file->initial, &config_size);
    if (!config)
        return NULL;
    Zkv__ClusterConfig *initial = zkv__cluster_config__unpack(NULL, config_size, config);
    free(config);
    if (!initial)
        return NULL;
    Zkv__ClusterFile pb = ZKV__CLUSTER_FILE__INIT;
    pb.cluster_id = file->cluster_id;
    pb.state = (Zkv__ClusterFile__State) file->state;
    pb.initial = initial;
    size_t len = zkv__cluster_file__get_packed_size(&pb);
    uint8_t *buf = malloc(S_HEADER + len + 4);
    if (buf) {
        memcpy(buf, S_MAGIC, 4);
        zkv_le32_put(buf + 4, (uint32_t) len);
        zkv__cluster_file__pack(&pb, buf + S_HEADER);
        zkv_le32_put(buf + S_HEADER + len, zkv_crc32c(0, buf + S_HEADER, len));
        *size = S_HEADER + len + 4;
    }
    zkv__cluster_config__free_unpacked(initial, NULL);
    return buf;
}

int zkv_cluster_file_save(const zkv_fs_t *fs, const char *dir, const zkv_cluster_file_t *file)
{
    char path[ZKV_DATA_PATH_SIZE_MAX], tmp[ZKV_DATA_PATH_SIZE_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, ZKV_CLUSTER_FILE_NAME);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, ZKV_CLUSTER_FILE_NAME);
    size_t size = 0;
    uint8_t *buf = s_encode(file, &size);
    if (!buf)
        return ZKV_ENOMEM;
    int fd;
    int rc = zkv_fs_open(fs, tmp, ZKV_FS_WRITE | ZKV_FS_CREATE | ZKV_FS_TRUNC, &fd);
    if (rc == ZKV_OK) {
        rc = zkv_fs_pwrite(fs, fd, buf, size, 0);
        if (rc == ZKV_OK)
            rc = zkv_fs_sync(fs, fd);
        zkv_fs_close(fs, fd);
    }
    free(buf);
    if (rc == ZKV_OK)
        rc = zkv_fs_rename(fs, tmp, path);
    if (rc == ZKV_OK)
        rc = zkv_fs_sync_dir(fs, dir);
    return rc == ZKV_OK ? ZKV_OK : ZKV_EIO;
}
