/* The intrinsics live in include/CStepIntrinsics.h; the hardware CRC-32C, which has tables to set up, in crc32c.c. */
