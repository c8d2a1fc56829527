/* SPDX-License-Identifier: MIT */
/* crc32c: Castagnoli CRC (iSCSI, ext4, btrfs), for journal frames. */
#ifndef FST_CRC32C_H
#define FST_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: crc32c(0, ...) starts one. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
