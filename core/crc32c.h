/*  crc32c: CRC-32C (Castagnoli), the checksum of every WAL record and snapshot.
    Uses the SSE4.2 crc32 instruction when the CPU has it, a table otherwise. */
#ifndef ZKV_CRC32C_H
#define ZKV_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*  Extend crc (0 to start) over size bytes of data. */
uint32_t zkv_crc32c(uint32_t crc, const void *data, size_t size);

#endif
