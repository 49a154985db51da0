#include "zkv_error.h"

const char *zkv_strerror(int code)
{
    switch (code) {
    case ZKV_OK: return "ok";
    case ZKV_ENOMEM: return "out of memory";
    case ZKV_EINVAL: return "invalid argument";
    case ZKV_EKEYSIZE: return "key too large";
    case ZKV_EVALSIZE: return "value too large";
    case ZKV_ENOTFOUND: return "not found";
    case ZKV_EIO: return "i/o error";
    case ZKV_ECORRUPT: return "corrupt data";
    case ZKV_ETORN: return "torn record at tail";
    case ZKV_ECOMPACTED: return "index compacted away";
    case ZKV_ENOTLEADER: return "not the leader";
    case ZKV_EBUSY: return "busy, retry later";
    case ZKV_EMISMATCH: return "compare failed";
    case ZKV_ESTOPPED: return "stopped";
    case ZKV_ENOTSUP: return "not supported";
    case ZKV_ESESSION: return "session expired";
    case ZKV_EPENDING: return "a membership change is in progress";
    case ZKV_ELAGGING: return "the learner has not caught up";
    case ZKV_ETOOBIG: return "result too large";
    case ZKV_ENOLEASE: return "lease not found";
    case ZKV_EEXIST: return "already exists";
    case ZKV_EPERM: return "permission denied";
    default: return "unknown error";
    }
}
