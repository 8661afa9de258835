#ifndef STEPD_CBLAS_SHIM_H
#define STEPD_CBLAS_SHIM_H
/* OpenBLAS's cblas.h (pkg-config openblas puts its directory first on the include path): the
 * CBLAS interface plus openblas_set_num_threads. */
#include <cblas.h>
#endif
