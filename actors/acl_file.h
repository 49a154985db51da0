/*  acl_file: the authorization file (--acl) read and parsed (core/acl.h). */
#ifndef ZKV_ACL_FILE_H
#define ZKV_ACL_FILE_H

#include <stddef.h>

#include "acl.h"

/*  The rules of path, or NULL with one line in err naming the file. */
zkv_acl_t *zkv_acl_file_load(const char *path, char *err, size_t err_size);

#endif
