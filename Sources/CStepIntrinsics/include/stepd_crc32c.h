#ifndef STEPD_CRC32C_H
#define STEPD_CRC32C_H
#include <stddef.h>
#include <stdint.h>
/*
 * CRC-32C (Castagnoli) with the CPU's own instruction: SSE4.2 `crc32` on x86-64, the ARMv8 CRC
 * extension's `crc32c*` on arm64. StepTensors' CRC32C picks this at run time where
 * stepd_crc32c_hardware_available() says so and keeps its table version for the rest.
 *
 * `crc` is the raw register (what the standard's pre-inversion makes 0xFFFFFFFF at the start and
 * its post-inversion turns into the checksum at the end); the function returns the register after
 * `length` more bytes, so calls chain exactly like the table version's.
 */
int stepd_crc32c_hardware_available(void);
uint32_t stepd_crc32c_hardware(uint32_t crc, const void *data, size_t length);
#endif
