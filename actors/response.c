#include "response.h"

#include "zkv_error.h"

Zkv__Status zkv_status_from_error(int code)
{
    switch (code) {
    case ZKV_OK: return ZKV__STATUS__OK;
    case ZKV_ENOTFOUND: return ZKV__STATUS__NOT_FOUND;
    case ZKV_EMISMATCH: return ZKV__STATUS__CAS_FAILED;
    case ZKV_ENOTLEADER: return ZKV__STATUS__NOT_LEADER;
    case ZKV_EKEYSIZE: return ZKV__STATUS__KEY_TOO_LARGE;
    case ZKV_EVALSIZE: return ZKV__STATUS__VALUE_TOO_LARGE;
    case ZKV_EINVAL: return ZKV__STATUS__BAD_REQUEST;
    case ZKV_ESESSION: return ZKV__STATUS__SESSION_EXPIRED;
    case ZKV_EBUSY:
    case ZKV_ESTOPPED: return ZKV__STATUS__UNAVAILABLE;
    default: return ZKV__STATUS__INTERNAL;
    }
}

zframe_t *zkv_response_frame(const Zkv__Response *response)
{
    zframe_t *frame = zframe_new(NULL, zkv__response__get_packed_size(response));
    if (frame)
        zkv__response__pack(response, zframe_data(frame));
    return frame;
}
