#ifndef STEP_FUZZ_DRIVER_H
#define STEP_FUZZ_DRIVER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's own mutation of `data` in place (with its dictionary and comparison tables), for
/// a custom mutator that wants the usual byte-level mutations; returns the new size. In a build
/// without libFuzzer it leaves the data alone and returns `size`.
size_t stepd_fuzz_default_mutate(uint8_t *data, size_t size, size_t max_size);

/// 1 when libFuzzer is linked in (built with -sanitize=fuzzer), 0 for a plain build.
int stepd_fuzz_has_libfuzzer(void);

/// An anonymous in-memory file (memfd_create, which Swift's Glibc module does not export), or -1.
int stepd_fuzz_memfd(void);

#endif
