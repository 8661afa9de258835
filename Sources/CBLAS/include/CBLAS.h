#ifndef STEPD_CBLAS_H
#define STEPD_CBLAS_H
/* The few CBLAS routines Muon's Newton-Schulz uses, reached through OpenBLAS loaded at run time
 * (dlopen on first use, not linked): a server that never runs Muon neither maps OpenBLAS nor
 * starts its thread pool, about 3 MB of resident memory on 2 cores. The constants are the
 * CBLAS standard's enum values, so no OpenBLAS header is needed to build. */

#define StepdBlasRowMajor 101
#define StepdBlasNoTrans 111
#define StepdBlasTrans 112
#define StepdBlasUpper 121
#define StepdBlasLeft 141

/* Loads OpenBLAS once (thread-safe) and sets its thread count to `threads` the first time.
 * Returns NULL when it is usable, else why not (dlopen's or dlsym's message). */
const char *stepd_blas_load(int threads);
/* OpenBLAS's kernel family for this CPU ("Haswell", "SkylakeX", ...); call after a good load. */
const char *stepd_blas_corename(void);

void stepd_blas_ssyrk(int order, int uplo, int trans, int n, int k, float alpha, const float *a, int lda,
                      float beta, float *c, int ldc);
void stepd_blas_ssymm(int order, int side, int uplo, int m, int n, float alpha, const float *a, int lda,
                      const float *b, int ldb, float beta, float *c, int ldc);
/* OpenBLAS's extension: b = alpha * op(a), op transposing or not. */
void stepd_blas_somatcopy(int order, int trans, int rows, int cols, float alpha, const float *a, int lda,
                          float *b, int ldb);
#endif
