/*  hex: the 16-hex-digit numbers in WAL segment and snapshot file names. */
#ifndef ZKV_HEX_H
#define ZKV_HEX_H

#include <stdbool.h>
#include <stdint.h>

/*  Parse exactly 16 lowercase hex digits at s; false if any is not one. */
static inline bool zkv_hex16_parse(const char *s, uint64_t *value)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            v = (v << 4) | (uint64_t) (c - '0');
        else if (c >= 'a' && c <= 'f')
            v = (v << 4) | (uint64_t) (c - 'a' + 10);
        else
            return false;
    }
    *value = v;
    return true;
}

#endif
