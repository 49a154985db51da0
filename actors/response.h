/*  response: building the replies clients get. */
#ifndef ZKV_RESPONSE_H
#define ZKV_RESPONSE_H

#include <czmq.h>

#include "zkv.pb-c.h"

/*  The client-facing status for a ZKV_E* code. */
Zkv__Status zkv_status_from_error(int code);

/*  Encode a response as one frame (NULL when out of memory). */
zframe_t *zkv_response_frame(const Zkv__Response *response);

#endif
