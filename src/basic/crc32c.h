/* SPDX-License-Identifier: MIT */
/* crc32c: Castagnoli CRC (iSCSI, ext4, btrfs), for journal frames. */
#ifndef FST_CRC32C_H
#define FST_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: crc32c(0, ...) starts one. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
/* The same with tables only (crc32c() uses the CPU's instruction when it has one). */
uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len);
/* Does crc32c() use the CPU's instruction? */
bool crc32c_hardware(void);

#endif
