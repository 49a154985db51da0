/*  acl_file: read --acl and parse it (acl_file.h). */
#include "acl_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <czmq.h>

#define ACL_FILE_SIZE_MAX (16u << 20)

zkv_acl_t *zkv_acl_file_load(const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "--acl %s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = malloc(ACL_FILE_SIZE_MAX);
    size_t size = text ? fread(text, 1, ACL_FILE_SIZE_MAX, f) : 0;
    bool bad = !text || ferror(f) || size == ACL_FILE_SIZE_MAX;
    fclose(f);
    zkv_acl_t *acl = NULL;
    char why[256] = "";
    if (bad)
        snprintf(err, err_size, "--acl %s: %s", path,
                 size == ACL_FILE_SIZE_MAX ? "larger than 16 MiB" : "cannot read it");
    else if (!(acl = zkv_acl_parse(text, size, why, sizeof why)))
        snprintf(err, err_size, "--acl %s: %s", path, why);
    free(text);
    return acl;
}

int zkv_acl_file_reload(const char *path, const char *who, zkv_acl_t **acl_p)
{
    if (!path[0])
        return 0;
    char err[512];
    zkv_acl_t *acl = zkv_acl_file_load(path, err, sizeof err);
    if (!acl) {
        zsys_error("zkvd: %s; the %s rules stay as they were", err, who);
        return -1;
    }
    zkv_acl_destroy(acl_p);
    *acl_p = acl;
    return 1;
}
