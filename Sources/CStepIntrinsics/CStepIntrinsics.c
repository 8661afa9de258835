/* The intrinsics live in include/CStepIntrinsics.h; the hardware CRC-32C, which has tables to set up, in crc32c.c; sync_file_range, which needs _GNU_SOURCE, in writeback.c. */
