/*  front_acl: whether a client may make a request, by the authorization file
    (core/acl.h) and the name its key was let in under (auth.h).

    get, scan, watch and a transaction's compares and gets read their keys;
    put, delete and a transaction's puts and deletes write them; cas does both;
    a backup, a digest and the membership and leader changes need admin. Status,
    member list, sessions and leases are any authenticated client's. */
#ifndef ZKV_FRONT_ACL_H
#define ZKV_FRONT_ACL_H

#include <stdbool.h>

#include "acl.h"
#include "zkv.pb-c.h"

/*  True when allowed; else false with what names the refused part, borrowed. */
bool zkv_front_acl_allows(const zkv_acl_t *acl, const char *user, const Zkv__Request *req,
                          const char **what);

#endif
