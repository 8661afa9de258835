#include "CBLAS.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef void (*ssyrk_fn)(int, int, int, int, int, float, const float *, int, float, float *, int);
typedef void (*ssymm_fn)(int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
typedef void (*somatcopy_fn)(int, int, int, int, float, const float *, int, float *, int);
typedef void (*set_threads_fn)(int);
typedef char *(*corename_fn)(void);

static ssyrk_fn ssyrk;
static ssymm_fn ssymm;
static somatcopy_fn somatcopy;
static corename_fn corename;
static int wanted_threads = 1;
static char load_error[512];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *symbol(void *library, const char *name) {
    void *p = dlsym(library, name);
    if (!p && !load_error[0]) snprintf(load_error, sizeof load_error, "OpenBLAS has no %s", name);
    return p;
}

static void load(void) {
    /* STEPD_OPENBLAS names another build (a newer OpenBLAS knows more CPUs' kernels); otherwise
     * the runtime package's name first (libopenblas0-pthread), then the -dev symlink. */
    const char *chosen = getenv("STEPD_OPENBLAS");
    if (chosen && !chosen[0]) chosen = NULL;
    void *library = dlopen(chosen ? chosen : "libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!library && !chosen) library = dlopen("libopenblas.so", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        const char *why = dlerror();
        if (chosen)
            snprintf(load_error, sizeof load_error, "cannot load OpenBLAS from STEPD_OPENBLAS=%s: %s", chosen, why ? why : "not found");
        else
            snprintf(load_error, sizeof load_error, "cannot load OpenBLAS (libopenblas.so.0, Debian's libopenblas0-pthread): %s",
                     why ? why : "not found");
        return;
    }
    ssyrk = (ssyrk_fn)symbol(library, "cblas_ssyrk");
    ssymm = (ssymm_fn)symbol(library, "cblas_ssymm");
    somatcopy = (somatcopy_fn)symbol(library, "cblas_somatcopy");
    corename = (corename_fn)symbol(library, "openblas_get_corename");
    set_threads_fn set_threads = (set_threads_fn)symbol(library, "openblas_set_num_threads");
    if (load_error[0]) return;
    set_threads(wanted_threads);
}

const char *stepd_blas_load(int threads) {
    wanted_threads = threads;  /* read by load() only, inside the once */
    pthread_once(&once, load);
    return load_error[0] ? load_error : NULL;
}

const char *stepd_blas_corename(void) {
    const char *name = corename ? corename() : NULL;
    return name ? name : "?";
}

void stepd_blas_ssyrk(int order, int uplo, int trans, int n, int k, float alpha, const float *a, int lda,
                      float beta, float *c, int ldc) {
    ssyrk(order, uplo, trans, n, k, alpha, a, lda, beta, c, ldc);
}

void stepd_blas_ssymm(int order, int side, int uplo, int m, int n, float alpha, const float *a, int lda,
                      const float *b, int ldb, float beta, float *c, int ldc) {
    ssymm(order, side, uplo, m, n, alpha, a, lda, b, ldb, beta, c, ldc);
}

void stepd_blas_somatcopy(int order, int trans, int rows, int cols, float alpha, const float *a, int lda,
                          float *b, int ldb) {
    somatcopy(order, trans, rows, cols, alpha, a, lda, b, ldb);
}
