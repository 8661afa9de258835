// The entry point of stepd-fuzz. SwiftPM links a Swift executable with `--defsym main=<module>_main`;
// a harness module built as a library (no top-level code) never defines `stepd_fuzz_main`, so this
// file does, and hands control to libFuzzer through LLVMFuzzerRunDriver with the Swift harness's
// LLVMFuzzerTestOneInput. Usage: stepd-fuzz <harness> [libFuzzer flags] [corpus dirs or files].
#define _GNU_SOURCE
#include "StepFuzzDriver.h"
#include <sys/mman.h>
#include <stdio.h>
#include <string.h>

// Defined in Swift, Fuzz/Harnesses/Entry.swift.
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int stepd_fuzz_select(const char *name);
int stepd_fuzz_tool(int argc, char **argv);
int stepd_fuzz_replay(int argc, char **argv);

// libFuzzer's. Weak, so that a plain `swift build` (no -sanitize=fuzzer, as scripts/test and the
// sanitizer builds do) still links; that binary replays its inputs once each instead of fuzzing.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *, size_t)) __attribute__((weak));
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size) __attribute__((weak));

size_t stepd_fuzz_default_mutate(uint8_t *data, size_t size, size_t max_size) {
    return LLVMFuzzerMutate ? LLVMFuzzerMutate(data, size, max_size) : size;
}

int stepd_fuzz_has_libfuzzer(void) { return LLVMFuzzerRunDriver != 0; }

int stepd_fuzz_memfd(void) { return memfd_create("stepd-fuzz", MFD_CLOEXEC); }

static char harness_flag[128];

int stepd_fuzz_main(int argc, char **argv) {
    // `list`, `seeds DIR`, `help`: commands that do not fuzz.
    int tool = stepd_fuzz_tool(argc, argv);
    if (tool >= 0) return tool;

    const char *name = argv[1];
    if (strncmp(name, "--harness=", 10) == 0) name += 10;
    if (stepd_fuzz_select(name) != 0) return 2;
    // libFuzzer ignores arguments that start with "--" (it prints one INFO line), so the harness
    // stays on the command line as --harness=NAME: -jobs/-fork workers re-run this command line
    // and so select the same harness.
    snprintf(harness_flag, sizeof harness_flag, "--harness=%s", name);
    argv[1] = harness_flag;
    if (LLVMFuzzerRunDriver) return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput);
    return stepd_fuzz_replay(argc - 2, argv + 2);
}
