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
 * Whether this CPU and OS run StepKernelsAVX512's code: x86-64-v4 (AVX-512 F, BW, CD, DQ, VL,
 * with the OS saving ZMM state) plus VNNI and BF16, what `-target-cpu cooperlake` may emit.
 */
static inline int stepd_cpu_runs_avx512_bf16(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("x86-64-v4") && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bf16");
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

/* The helpers below pass vectors between always-inlined functions, so no call crosses the ABI
 * that -Wpsabi warns about (in the portable copy, where AVX is off). */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpsabi"

/* The top 16 bits of x rounded to nearest even, unless x is a NaN. */
static inline __attribute__((always_inline)) stepd_u32x8 stepd_bf16_round8(stepd_float8 x) {
    stepd_u32x8 bits;
    __builtin_memcpy(&bits, &x, 32);
    return (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
}

/* Rounding carries a NaN into the exponent or the sign: keep its top half, quietened, instead. */
static inline __attribute__((always_inline)) stepd_u32x8 stepd_bf16_keep_nan8(stepd_float8 x, stepd_u32x8 rounded) {
    stepd_u32x8 bits;
    __builtin_memcpy(&bits, &x, 32);
    stepd_u32x8 quiet = (bits >> 16) | 0x40u;
    stepd_i32x8 nan = (stepd_i32x8)(x != x);
    return (quiet & (stepd_u32x8)nan) | (rounded & ~(stepd_u32x8)nan);
}

/*
 * In a module compiled for AVX512-BF16 (StepKernelsAVX512), `vcvtneps2bf16` does all of the
 * above in one instruction: it rounds to nearest even and quietens a NaN exactly as the integer
 * code does, but reads a denormal as zero, so a vector holding one takes the integer path.
 */
#if defined(__AVX512BF16__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#include <immintrin.h>
#define STEPD_BF16_INSTRUCTION 1
static inline __attribute__((always_inline)) int stepd_bf16_has_denormal8(stepd_float8 x) {
    __m256 v;
    __builtin_memcpy(&v, &x, 32);
    return _mm256_fpclass_ps_mask(v, 0x20) != 0;
}
static inline __attribute__((always_inline)) void stepd_bf16_convert8(stepd_float8 x, void *p) {
    __m256 v;
    __builtin_memcpy(&v, &x, 32);
    __m128bh h = _mm256_cvtneps_pbh(v);
    __builtin_memcpy(p, &h, 16);
}
#endif

/* float32 to bfloat16, rounding to nearest even; a NaN stays a quiet NaN. */
static inline __attribute__((always_inline)) void stepd_bf16_narrow8(stepd_float8 x, void *p) {
#ifdef STEPD_BF16_INSTRUCTION
    if (__builtin_expect(!stepd_bf16_has_denormal8(x), 1)) {
        stepd_bf16_convert8(x, p);
        return;
    }
#endif
    stepd_u16x8 h = __builtin_convertvector(stepd_bf16_keep_nan8(x, stepd_bf16_round8(x)), stepd_u16x8);
    __builtin_memcpy(p, &h, 16);
}

/*
 * Two vectors at once, as the two moments of Adam-like rules are: the bf16 step is bound by
 * instructions, not memory, and the pair takes one NaN test for both (a branch that is never
 * taken in training) and one 16-lane pack instead of two blends and two packs: about 5% more
 * parameters per second on one core. The same bits as stepd_bf16_narrow8 on each.
 */
static inline __attribute__((always_inline)) void stepd_bf16_narrow8x2(stepd_float8 x, stepd_float8 y, void *px, void *py) {
#ifdef STEPD_BF16_INSTRUCTION
    if (__builtin_expect(!(stepd_bf16_has_denormal8(x) | stepd_bf16_has_denormal8(y)), 1)) {
        stepd_bf16_convert8(x, px);
        stepd_bf16_convert8(y, py);
        return;
    }
#endif
    stepd_u32x8 rx = stepd_bf16_round8(x), ry = stepd_bf16_round8(y);
    stepd_i32x8 unordered = (stepd_i32x8)(x != x) | (stepd_i32x8)(y != y);
    if (__builtin_expect(__builtin_reduce_or(unordered) != 0, 0)) {
        rx = stepd_bf16_keep_nan8(x, rx);
        ry = stepd_bf16_keep_nan8(y, ry);
    }
    typedef uint16_t stepd_u16x16 __attribute__((ext_vector_type(16)));
    typedef uint32_t stepd_u32x16 __attribute__((ext_vector_type(16)));
    stepd_u32x16 both = __builtin_shufflevector(rx, ry, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    stepd_u16x16 h = __builtin_convertvector(both, stepd_u16x16);
    __builtin_memcpy(px, &h, 16);
    __builtin_memcpy(py, (const char *)&h + 16, 16);
}

#pragma clang diagnostic pop

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
