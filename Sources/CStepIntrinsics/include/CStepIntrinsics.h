#ifndef STEPD_CSTEPINTRINSICS_H
#define STEPD_CSTEPINTRINSICS_H
/*
 * Swift's SIMD8<Float>.squareRoot() lowers to eight scalar square roots on x86-64, which halves
 * the speed of every optimizer kernel (see shared/notes/swift-simd.md). Clang turns this into
 * two `sqrtps` (or one `vsqrtps` with AVX) without any CPU-specific flags, so the binary stays
 * portable. The ext_vector type imports into Swift as SIMD8<Float>.
 */
#include "stepd_crc32c.h"
#include "stepd_writeback.h"

typedef float stepd_float8 __attribute__((ext_vector_type(8)));

static inline __attribute__((always_inline)) stepd_float8 stepd_sqrt8(stepd_float8 x) {
    return __builtin_elementwise_sqrt(x);
}

/*
 * a*b + c rounded once, as ATen's `add_(x, alpha=a)`, `addcmul_` and `lerp_` compute it. In a
 * module compiled for x86-64-v3 this is one `vfmadd`; in the portable copy LLVM calls the C
 * library's `fmaf` per lane: slower, but correctly rounded, so both copies give the same bits.
 */
static inline __attribute__((always_inline)) stepd_float8 stepd_fma8(stepd_float8 a, stepd_float8 b, stepd_float8 c) {
    return __builtin_elementwise_fma(a, b, c);
}

/*
 * Whether this CPU and OS run x86-64-v3 code (AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE): the level
 * StepKernelsAVX2 is compiled for. Swift has no CPU-feature query of its own. Always 0 elsewhere.
 */
static inline int stepd_cpu_runs_x86_64_v3(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("x86-64-v3");
#else
    return 0;
#endif
}
#endif
