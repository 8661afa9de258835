/*
 * CRC-32C with the CPU's instruction (see include/stepd_crc32c.h).
 *
 * x86-64: the `crc32` instruction takes 8 bytes per call with a latency of 3 cycles and a
 * throughput of one per cycle, so one dependent chain runs at a third of the possible speed.
 * Long inputs are therefore cut into three streams checksummed side by side, and the three
 * registers combined with "shift by N zero bytes" operators (multiplication by x^(8N) modulo
 * the polynomial, as four 256-entry tables each), the method of Mark Adler's crc32c.c. The
 * function carries `target("sse4.2")`, so the rest of the binary stays baseline x86-64 and the
 * caller checks the CPU first.
 *
 * arm64: `crc32cx` in one chain (its latency is lower, and this is only the fallback's fallback).
 */
#include "stepd_crc32c.h"

#define STEPD_CRC32C_POLY 0x82f63b78u /* reflected Castagnoli polynomial */

#if defined(__x86_64__)
#include <nmmintrin.h>
#include <pthread.h>

#define STEPD_LONG 8192
#define STEPD_SHORT 256

static uint32_t crc32c_long[4][256];
static uint32_t crc32c_short[4][256];
static pthread_once_t crc32c_tables_once = PTHREAD_ONCE_INIT;

/* The product of a 32x32 GF(2) matrix (one column per bit) and a vector. */
static uint32_t gf2_matrix_times(const uint32_t *mat, uint32_t vec) {
    uint32_t sum = 0;
    while (vec) {
        if (vec & 1) sum ^= *mat;
        vec >>= 1;
        mat++;
    }
    return sum;
}

static void gf2_matrix_square(uint32_t *square, const uint32_t *mat) {
    for (int n = 0; n < 32; n++) square[n] = gf2_matrix_times(mat, mat[n]);
}

/* The operator that appends `len` zero bytes (a power of two) to a raw CRC register. */
static void crc32c_zeros_op(uint32_t *even, size_t len) {
    uint32_t odd[32];
    odd[0] = STEPD_CRC32C_POLY; /* one zero bit */
    uint32_t row = 1;
    for (int n = 1; n < 32; n++) {
        odd[n] = row;
        row <<= 1;
    }
    gf2_matrix_square(even, odd); /* two zero bits */
    gf2_matrix_square(odd, even); /* four */
    /* Each square doubles: the first below gives one zero byte, in `even`. */
    do {
        gf2_matrix_square(even, odd);
        len >>= 1;
        if (len == 0) return;
        gf2_matrix_square(odd, even);
        len >>= 1;
    } while (len);
    for (int n = 0; n < 32; n++) even[n] = odd[n];
}

static void crc32c_zeros(uint32_t zeros[][256], size_t len) {
    uint32_t op[32];
    crc32c_zeros_op(op, len);
    for (uint32_t n = 0; n < 256; n++) {
        zeros[0][n] = gf2_matrix_times(op, n);
        zeros[1][n] = gf2_matrix_times(op, n << 8);
        zeros[2][n] = gf2_matrix_times(op, n << 16);
        zeros[3][n] = gf2_matrix_times(op, n << 24);
    }
}

static void crc32c_init_tables(void) {
    crc32c_zeros(crc32c_long, STEPD_LONG);
    crc32c_zeros(crc32c_short, STEPD_SHORT);
}

static inline uint32_t crc32c_shift(uint32_t zeros[][256], uint32_t crc) {
    return zeros[0][crc & 0xff] ^ zeros[1][(crc >> 8) & 0xff] ^ zeros[2][(crc >> 16) & 0xff] ^ zeros[3][crc >> 24];
}

int stepd_crc32c_hardware_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
}

__attribute__((target("sse4.2")))
uint32_t stepd_crc32c_hardware(uint32_t crc, const void *data, size_t length) {
    const unsigned char *next = data;
    uint64_t crc0 = crc, crc1, crc2;
    pthread_once(&crc32c_tables_once, crc32c_init_tables);

    /* Bytewise up to an 8-byte boundary. */
    while (length && ((uintptr_t)next & 7) != 0) {
        crc0 = _mm_crc32_u8((uint32_t)crc0, *next);
        next++;
        length--;
    }
    /* Three streams of STEPD_LONG bytes side by side, then combined. */
    while (length >= STEPD_LONG * 3) {
        crc1 = 0;
        crc2 = 0;
        const unsigned char *end = next + STEPD_LONG;
        do {
            uint64_t a, b, c;
            __builtin_memcpy(&a, next, 8);
            __builtin_memcpy(&b, next + STEPD_LONG, 8);
            __builtin_memcpy(&c, next + 2 * STEPD_LONG, 8);
            crc0 = _mm_crc32_u64(crc0, a);
            crc1 = _mm_crc32_u64(crc1, b);
            crc2 = _mm_crc32_u64(crc2, c);
            next += 8;
        } while (next < end);
        crc0 = crc32c_shift(crc32c_long, (uint32_t)crc0) ^ (uint32_t)crc1;
        crc0 = crc32c_shift(crc32c_long, (uint32_t)crc0) ^ (uint32_t)crc2;
        next += STEPD_LONG * 2;
        length -= STEPD_LONG * 3;
    }
    /* The same with shorter streams for what is left. */
    while (length >= STEPD_SHORT * 3) {
        crc1 = 0;
        crc2 = 0;
        const unsigned char *end = next + STEPD_SHORT;
        do {
            uint64_t a, b, c;
            __builtin_memcpy(&a, next, 8);
            __builtin_memcpy(&b, next + STEPD_SHORT, 8);
            __builtin_memcpy(&c, next + 2 * STEPD_SHORT, 8);
            crc0 = _mm_crc32_u64(crc0, a);
            crc1 = _mm_crc32_u64(crc1, b);
            crc2 = _mm_crc32_u64(crc2, c);
            next += 8;
        } while (next < end);
        crc0 = crc32c_shift(crc32c_short, (uint32_t)crc0) ^ (uint32_t)crc1;
        crc0 = crc32c_shift(crc32c_short, (uint32_t)crc0) ^ (uint32_t)crc2;
        next += STEPD_SHORT * 2;
        length -= STEPD_SHORT * 3;
    }
    /* One stream, eight bytes at a time, then the last few bytewise. */
    while (length >= 8) {
        uint64_t a;
        __builtin_memcpy(&a, next, 8);
        crc0 = _mm_crc32_u64(crc0, a);
        next += 8;
        length -= 8;
    }
    while (length) {
        crc0 = _mm_crc32_u8((uint32_t)crc0, *next);
        next++;
        length--;
    }
    return (uint32_t)crc0;
}

#elif defined(__aarch64__)
#include <arm_acle.h>
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
#endif

int stepd_crc32c_hardware_available(void) {
#if defined(__APPLE__)
    return 1; /* every Apple arm64 CPU has the CRC extension */
#elif defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
#else
    return 0;
#endif
}

__attribute__((target("crc")))
uint32_t stepd_crc32c_hardware(uint32_t crc, const void *data, size_t length) {
    const unsigned char *next = data;
    while (length && ((uintptr_t)next & 7) != 0) {
        crc = __crc32cb(crc, *next);
        next++;
        length--;
    }
    while (length >= 8) {
        uint64_t a;
        __builtin_memcpy(&a, next, 8);
        crc = __crc32cd(crc, a);
        next += 8;
        length -= 8;
    }
    while (length) {
        crc = __crc32cb(crc, *next);
        next++;
        length--;
    }
    return crc;
}

#else
int stepd_crc32c_hardware_available(void) { return 0; }

uint32_t stepd_crc32c_hardware(uint32_t crc, const void *data, size_t length) {
    /* Never called: the check above says no. Bitwise, so it is still right if it is. */
    const unsigned char *next = data;
    while (length--) {
        crc ^= *next++;
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (STEPD_CRC32C_POLY & (0u - (crc & 1)));
    }
    return crc;
}
#endif
