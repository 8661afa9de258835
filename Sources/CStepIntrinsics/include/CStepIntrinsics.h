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

/*
 * Low-precision optimizer state (StepLanes' LaneFormula). Swift's SIMD element access in a loop
 * goes through the stack lane by lane (a store-forwarding stall per lane); these are the same
 * operations as plain C loops and vector casts, which clang keeps in registers (and gathers on
 * x86-64-v3). Integer and correctly rounded float operations only, so both compiled copies give
 * the same bits.
 */
#include <stdint.h>
typedef uint16_t stepd_u16x8 __attribute__((ext_vector_type(8)));
typedef uint32_t stepd_u32x8 __attribute__((ext_vector_type(8)));
typedef int32_t stepd_i32x8 __attribute__((ext_vector_type(8)));

/* bfloat16 to float32: the 16 bits become the top half. */
static inline __attribute__((always_inline)) stepd_float8 stepd_bf16_widen8(const void *p) {
    stepd_u16x8 h;
    __builtin_memcpy(&h, p, 16);
    stepd_u32x8 w = __builtin_convertvector(h, stepd_u32x8) << 16;
    stepd_float8 f;
    __builtin_memcpy(&f, &w, 32);
    return f;
}

/* float32 to bfloat16, rounding to nearest even; a NaN stays a quiet NaN. */
static inline __attribute__((always_inline)) void stepd_bf16_narrow8(stepd_float8 x, void *p) {
    stepd_u32x8 bits;
    __builtin_memcpy(&bits, &x, 32);
    stepd_u32x8 rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
    stepd_u32x8 quiet = (bits >> 16) | 0x40u;
    stepd_i32x8 nan = (stepd_i32x8)(x != x);
    stepd_u32x8 out = (quiet & (stepd_u32x8)nan) | (rounded & ~(stepd_u32x8)nan);
    stepd_u16x8 h = __builtin_convertvector(out, stepd_u16x8);
    __builtin_memcpy(p, &h, 16);
}

/* Eight q8 values: map[code] * scale. */
static inline __attribute__((always_inline)) stepd_float8 stepd_q8_dequantize8(const uint8_t *codes, const float *map, float scale) {
    stepd_float8 v = {map[codes[0]], map[codes[1]], map[codes[2]], map[codes[3]],
                      map[codes[4]], map[codes[5]], map[codes[6]], map[codes[7]]};
    return v * scale;
}

/*
 * The nearest codes of values[i] / d for i < n (QuantizationMap): the bucket of each normalized
 * value's order-preserving key (top 16 bits, from `base`, clamped to `count` buckets) holds the
 * code of its lowest value (bits 16 and up) and the low key bits of the one midpoint inside it
 * (0xFFFF if none); a key above that midpoint's is one code higher. Eight at a time (a vector
 * division, integer lanes, one table read per lane), then one at a time for the tail: the same
 * operations, so the same codes. The reads are scalar loads: this machine's vpgatherdd is
 * slower than eight of them.
 */
typedef uint8_t stepd_u8x8 __attribute__((ext_vector_type(8)));
static inline __attribute__((always_inline)) void stepd_q8_quantize(const float *values, long n, float d, const uint32_t *table,
                                                                     int32_t base, int32_t count, uint8_t *codes) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        stepd_float8 x;
        __builtin_memcpy(&x, values + i, 32);
        x = x / d;
        stepd_u32x8 bits;
        __builtin_memcpy(&bits, &x, 32);
        stepd_u32x8 negative = (stepd_u32x8)((stepd_i32x8)bits >> 31);
        stepd_u32x8 key = (bits ^ 0x80000000u) ^ (negative & 0x7FFFFFFFu);
        stepd_i32x8 b = (stepd_i32x8)(key >> 16) - base;
        b = __builtin_elementwise_min(__builtin_elementwise_max(b, (stepd_i32x8)0), (stepd_i32x8)(count - 1));
        stepd_u32x8 e = {table[b[0]], table[b[1]], table[b[2]], table[b[3]],
                         table[b[4]], table[b[5]], table[b[6]], table[b[7]]};
        stepd_i32x8 c = (stepd_i32x8)(e >> 16) - (stepd_i32x8)((key & 0xFFFFu) > (e & 0xFFFFu));
        stepd_u8x8 out = __builtin_convertvector(c, stepd_u8x8);
        __builtin_memcpy(codes + i, &out, 8);
    }
    for (; i < n; i++) {
        float x = values[i] / d;
        uint32_t bits;
        __builtin_memcpy(&bits, &x, 4);
        uint32_t key = (bits & 0x80000000u) ? ~bits : (bits ^ 0x80000000u);
        int32_t b = (int32_t)(key >> 16) - base;
        b = b < 0 ? 0 : (b >= count ? count - 1 : b);
        uint32_t e = table[b];
        codes[i] = (uint8_t)((e >> 16) + ((key & 0xFFFFu) > (e & 0xFFFFu)));
    }
}
#endif
