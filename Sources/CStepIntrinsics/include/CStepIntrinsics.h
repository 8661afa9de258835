#ifndef STEPD_CSTEPINTRINSICS_H
#define STEPD_CSTEPINTRINSICS_H
/*
 * Swift's SIMD8<Float>.squareRoot() lowers to eight scalar square roots on x86-64, which halves
 * the speed of every optimizer kernel (see shared/notes/swift-simd.md). Clang turns this into
 * two `sqrtps` (or one `vsqrtps` with AVX) without any CPU-specific flags, so the binary stays
 * portable. The ext_vector type imports into Swift as SIMD8<Float>.
 */
typedef float stepd_float8 __attribute__((ext_vector_type(8)));

static inline __attribute__((always_inline)) stepd_float8 stepd_sqrt8(stepd_float8 x) {
    return __builtin_elementwise_sqrt(x);
}
#endif
