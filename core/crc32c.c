#include "crc32c.h"

#include <stdbool.h>
#include <string.h>

#define POLY 0x82f63b78u /* reflected Castagnoli polynomial */

static uint32_t s_table[8][256];
static bool s_use_hw;

/*  Runs before main, so the table is ready before any thread exists. */
__attribute__((constructor)) static void s_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
        s_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int t = 1; t < 8; t++)
            s_table[t][n] = (s_table[t - 1][n] >> 8) ^ s_table[0][s_table[t - 1][n] & 0xff];
#if defined(__x86_64__)
    __builtin_cpu_init();
    s_use_hw = __builtin_cpu_supports("sse4.2");
#endif
}

/*  Slicing-by-8: eight table lookups per 8 input bytes. */
static uint32_t s_crc_sw(uint32_t crc, const uint8_t *p, size_t size)
{
    while (size >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= crc;
        crc = s_table[7][w & 0xff] ^ s_table[6][(w >> 8) & 0xff] ^ s_table[5][(w >> 16) & 0xff] ^
              s_table[4][(w >> 24) & 0xff] ^ s_table[3][(w >> 32) & 0xff] ^
              s_table[2][(w >> 40) & 0xff] ^ s_table[1][(w >> 48) & 0xff] ^ s_table[0][w >> 56];
        p += 8;
        size -= 8;
    }
    while (size--)
        crc = (crc >> 8) ^ s_table[0][(crc ^ *p++) & 0xff];
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t s_crc_hw(uint32_t crc, const uint8_t *p,
                                                             size_t size)
{
    uint64_t c = crc;
    while (size >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        size -= 8;
    }
    uint32_t c32 = (uint32_t) c;
    while (size--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t zkv_crc32c(uint32_t crc, const void *data, size_t size)
{
    const uint8_t *p = data;
    crc = ~crc;
#if defined(__x86_64__)
    if (s_use_hw)
        return ~s_crc_hw(crc, p, size);
#endif
    return ~s_crc_sw(crc, p, size);
}
