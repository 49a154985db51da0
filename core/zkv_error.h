/*  zkv_error: the one table of error codes shared by every zkv module and
    the client library, defined in include/zkv_types.h. Functions return 0 on
    success or a negative ZKV_E* code; zkv_strerror describes each. */
#ifndef ZKV_ERROR_H
#define ZKV_ERROR_H

#include "zkv_types.h"

#endif
