/*  acl_file: the authorization file (--acl) read and parsed (core/acl.h). */
#ifndef ZKV_ACL_FILE_H
#define ZKV_ACL_FILE_H

#include <stddef.h>

#include "acl.h"

/*  The rules of path, or NULL with one line in err naming the file. */
zkv_acl_t *zkv_acl_file_load(const char *path, char *err, size_t err_size);

/*  An actor's rules, at its start and on RELOAD: path (none when empty)
    replaces *acl_p. 1 when it did, 0 when there is no file, -1 when it does
    not load: *acl_p stays as it was and why is logged, naming who's rules. */
int zkv_acl_file_reload(const char *path, const char *who, zkv_acl_t **acl_p);

#endif
