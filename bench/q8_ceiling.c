/*
 * How fast can an 8-bit AdamW step be on this machine? The ceiling study behind the README's
 * q8 figures: one AdamW step over 50M parameters, float32 state against 8-bit state kept five
 * ways, in interleaved rounds (median per variant, ratio to float32 from the same rounds).
 *
 *   clang -O3 -mavx2 -mfma bench/q8_ceiling.c -o /tmp/q8_ceiling -lm -lpthread && /tmp/q8_ceiling 2
 *
 *   f32          the float32 step: 28 bytes per parameter, at the memory wall
 *   q8 gather    bitsandbytes' dynamic map, exact nearest code: dequantize and the one-read code
 *                search (the table stepd uses, QuantizationMap) with vpgatherdd
 *   q8 scalar    the same with eight scalar loads per vector, as stepd's kernels do
 *   q8 no-requant  dequantize (gathered) and update only, codes left as they were: all but the search
 *   int8 linear  a code that is round(x * 127 / absmax): no table at all, the cheapest 8-bit
 *                state there is (not bitsandbytes' format), so the most any 8-bit kernel can gain
 *
 * Map values here are built from bitsandbytes' formula in float (close to, not bit for bit,
 * its table); the speed does not depend on that. Not part of stepd: a measurement.
 */
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 50000000L
#define BS 256
#define VARIANTS 5
static const char *names[VARIANTS] = {"f32", "q8 gather", "q8 scalar", "q8 no-requant", "int8 linear"};

typedef float f8 __attribute__((ext_vector_type(8)));
typedef uint32_t u8v __attribute__((ext_vector_type(8)));
typedef int32_t i8v __attribute__((ext_vector_type(8)));
typedef uint8_t b8v __attribute__((ext_vector_type(8)));

static float smap[256], umap[256];
static uint32_t stab[65536], utab[65536];
static float *P, *G, *M, *V, *AM, *AV;
static uint8_t *CM, *CV;

static void build(float *map, int sign, uint32_t *tab) {
    float d[256]; int n = 0;
    for (int i = 0; i < 7; i++) {
        int items = sign ? (1 << i) + 1 : (1 << (i + 1)) + 1;
        for (int k = 0; k < items - 1; k++) {
            float b0 = 0.1f + 0.9f * k / (items - 1), b1 = 0.1f + 0.9f * (k + 1) / (items - 1);
            float v = (float)(pow(10, -6 + i) * ((b0 + b1) / 2));
            d[n++] = v; if (sign) d[n++] = -v;
        }
    }
    d[n++] = 0; d[n++] = 1;
    while (n < 256) d[n++] = 1;
    for (int a = 0; a < 256; a++) for (int b = a + 1; b < 256; b++) if (d[b] < d[a]) { float t = d[a]; d[a] = d[b]; d[b] = t; }
    memcpy(map, d, sizeof d);
    float mid[256];
    for (int k = 0; k < 255; k++) mid[k] = ((k ? d[k] : -1) + d[k + 1]) / 2;
    mid[255] = INFINITY;
    int below = 0;
    for (uint32_t b = 0; b < 65536; b++) {
        uint32_t key = b << 16, bits = (key & 0x80000000u) ? key ^ 0x80000000u : ~key;
        float lo; memcpy(&lo, &bits, 4);
        if (lo != lo) { tab[b] = (uint32_t)below << 16 | 0xFFFF; continue; }
        while (below < 255 && mid[below] < lo) below++;
        uint32_t mb; memcpy(&mb, &mid[below], 4);
        uint32_t mk = (mb & 0x80000000u) ? ~mb : mb ^ 0x80000000u;
        tab[b] = (uint32_t)below << 16 | ((mk >> 16) == b ? (mk & 0xFFFF) : 0xFFFF);
    }
}

static inline f8 deq_gather(const uint8_t *c, const float *map, float s) {
    __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)c));
    return (f8)_mm256_i32gather_ps(map, idx, 4) * s;
}
static inline f8 deq_scalar(const uint8_t *c, const float *map, float s) {
    f8 v = {map[c[0]], map[c[1]], map[c[2]], map[c[3]], map[c[4]], map[c[5]], map[c[6]], map[c[7]]};
    return v * s;
}
static inline u8v key_of(f8 v) {
    u8v bits; memcpy(&bits, &v, 32);
    u8v neg = (u8v)((i8v)bits >> 31);
    return (bits ^ 0x80000000u) ^ (neg & 0x7FFFFFFFu);
}
static inline void store_codes(u8v key, u8v e, uint8_t *out) {
    i8v c = (i8v)(e >> 16) - (i8v)((key & 0xFFFFu) > (e & 0xFFFFu));
    b8v o = __builtin_convertvector(c, b8v);
    memcpy(out, &o, 8);
}
static void quant_gather(const float *x, float d, const uint32_t *tab, uint8_t *out) {
    for (int i = 0; i < BS; i += 8) {
        f8 v; memcpy(&v, x + i, 32);
        u8v key = key_of(v / d);
        u8v e = (u8v)_mm256_i32gather_epi32((const int *)tab, (__m256i)(key >> 16), 4);
        store_codes(key, e, out + i);
    }
}
static void quant_scalar(const float *x, float d, const uint32_t *tab, uint8_t *out) {
    for (int i = 0; i < BS; i += 8) {
        f8 v; memcpy(&v, x + i, 32);
        u8v key = key_of(v / d), b = key >> 16;
        u8v e = {tab[b[0]], tab[b[1]], tab[b[2]], tab[b[3]], tab[b[4]], tab[b[5]], tab[b[6]], tab[b[7]]};
        store_codes(key, e, out + i);
    }
}
/* Both slots at once: round(x * scale) to int32, packed with saturation to int8 (exp_avg) and uint8. */
static void quant_linear(const float *m, float sm, const float *v, float sv, uint8_t *om, uint8_t *ov) {
    for (int i = 0; i < BS; i += 8) {
        __m256i cm = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(m + i), _mm256_set1_ps(sm)));
        __m256i cv = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(v + i), _mm256_set1_ps(sv)));
        __m256i w = _mm256_packs_epi32(cm, cv);           /* m0-3 v0-3 | m4-7 v4-7 (16-bit) */
        __m256i mb = _mm256_packs_epi16(w, w), vb = _mm256_packus_epi16(w, w);
        uint32_t a = _mm256_extract_epi32(mb, 0), b = _mm256_extract_epi32(mb, 4);
        uint32_t c = _mm256_extract_epi32(vb, 1), d = _mm256_extract_epi32(vb, 5);
        memcpy(om + i, &a, 4); memcpy(om + i + 4, &b, 4); memcpy(ov + i, &c, 4); memcpy(ov + i + 4, &d, 4);
    }
}

static const float beta2 = 0.999f, omb1 = 0.1f, omb2 = 0.001f, eps = 1e-8f, decay = 0.9999f, ib2 = 31.6f, nss = -0.01f;
static inline void adamw(f8 *p, f8 g, f8 *m, f8 *v) {
    *p = *p * decay;
    *m = *m + omb1 * (g - *m);
    *v = *v * beta2 + omb2 * g * g;
    *p = *p + nss * *m / (__builtin_elementwise_sqrt(*v) * ib2 + eps);
}

static void f32range(long lo, long hi) {
    for (long i = lo; i < hi; i += 8) {
        f8 p, g, m, v;
        memcpy(&p, P + i, 32); memcpy(&g, G + i, 32); memcpy(&m, M + i, 32); memcpy(&v, V + i, 32);
        adamw(&p, g, &m, &v);
        memcpy(P + i, &p, 32); memcpy(M + i, &m, 32); memcpy(V + i, &v, 32);
    }
}

static void q8range(long lo, long hi, int variant) {
    f8 tm[BS / 8], tv[BS / 8];
    for (long s = lo; s < hi; s += BS) {
        long blk = s / BS;
        float sm = AM[blk], sv = AV[blk];
        f8 mm = 0, mv = 0;
        for (int j = 0; j < BS / 8; j++) {
            long i = s + 8 * j;
            f8 p, g, m, v;
            memcpy(&p, P + i, 32); memcpy(&g, G + i, 32);
            if (variant == 1 || variant == 3) { m = deq_gather(CM + i, smap, sm); v = deq_gather(CV + i, umap, sv); }
            else if (variant == 4) {
                m = (f8)_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(CM + i)))) * sm;
                v = (f8)_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(CV + i)))) * sv;
            } else { m = deq_scalar(CM + i, smap, sm); v = deq_scalar(CV + i, umap, sv); }
            adamw(&p, g, &m, &v);
            memcpy(P + i, &p, 32);
            tm[j] = m; tv[j] = v;
            mm = __builtin_elementwise_max(mm, __builtin_elementwise_abs(m));
            mv = __builtin_elementwise_max(mv, __builtin_elementwise_abs(v));
        }
        float xm = __builtin_reduce_max(mm), xv = __builtin_reduce_max(mv);
        switch (variant) {
        case 1: quant_gather((float *)tm, xm > 0 ? xm : 1, stab, CM + s); quant_gather((float *)tv, xv > 0 ? xv : 1, utab, CV + s); break;
        case 2: quant_scalar((float *)tm, xm > 0 ? xm : 1, stab, CM + s); quant_scalar((float *)tv, xv > 0 ? xv : 1, utab, CV + s); break;
        case 3: break;
        case 4: quant_linear((float *)tm, xm > 0 ? 127 / xm : 1, (float *)tv, xv > 0 ? 255 / xv : 1, CM + s, CV + s);
                xm /= 127; xv /= 255; break;
        }
        if (variant != 3) { AM[blk] = xm; AV[blk] = xv; }
    }
}

struct job { long lo, hi; int variant; };
static void *run(void *a) {
    struct job *j = a;
    if (j->variant == 0) f32range(j->lo, j->hi); else q8range(j->lo, j->hi, j->variant);
    return 0;
}
static double now(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + ts.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, rounds = argc > 2 ? atoi(argv[2]) : 7;
    if (threads < 1 || threads > 64) threads = 2;
    build(smap, 1, stab); build(umap, 0, utab);
    P = aligned_alloc(64, N * 4); G = aligned_alloc(64, N * 4); M = aligned_alloc(64, N * 4); V = aligned_alloc(64, N * 4);
    CM = aligned_alloc(64, N); CV = aligned_alloc(64, N);
    AM = aligned_alloc(64, (N / BS + 16) * 4); AV = aligned_alloc(64, (N / BS + 16) * 4);
    srand(1);
    for (long i = 0; i < N; i++) {
        P[i] = rand() / (float)RAND_MAX - 0.5f; G[i] = (rand() / (float)RAND_MAX - 0.5f) * 0.01f;
        M[i] = 0; V[i] = 0; CM[i] = 127; CV[i] = 0;
    }
    for (long b = 0; b < N / BS; b++) { AM[b] = 1e-3f; AV[b] = 1e-6f; }
    double t[VARIANTS][64], ratio[VARIANTS][64];
    for (int r = 0; r < rounds; r++)
        for (int v = 0; v < VARIANTS; v++) {
            pthread_t th[64]; struct job jobs[64];
            long per = (N / BS + threads - 1) / threads * BS;
            double t0 = now();
            for (int k = 0; k < threads; k++) {
                jobs[k] = (struct job){k * per, (k + 1) * per < N ? (k + 1) * per : N, v};
                pthread_create(&th[k], 0, run, &jobs[k]);
            }
            for (int k = 0; k < threads; k++) pthread_join(th[k], 0);
            t[v][r] = now() - t0;
        }
    for (int r = 0; r < rounds; r++) for (int v = 0; v < VARIANTS; v++) ratio[v][r] = t[0][r] / t[v][r];
    printf("AdamW step, %ld params, %d threads, median of %d interleaved rounds\n", N, threads, rounds);
    for (int v = 0; v < VARIANTS; v++) {
        qsort(t[v], rounds, sizeof(double), cmp); qsort(ratio[v], rounds, sizeof(double), cmp);
        printf("  %-14s %6.3f Gparam/s   vs f32 %.2fx\n", names[v], N / t[v][rounds / 2] / 1e9, ratio[v][rounds / 2]);
    }
    return 0;
}
