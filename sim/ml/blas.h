/* blas.h: which CBLAS this process runs, and its thread count.
 *
 * The models call cblas_dgemm through GSL's gsl_cblas.h, so whichever CBLAS
 * the binary links provides it: GSL's reference libgslcblas by default, or
 * an optimised one (OpenBLAS) linked ahead of it. Both are found at run time
 * (dladdr, dlsym), so these functions need no build option.
 *
 * Determinism: OpenBLAS splits a dgemm over threads by output blocks, and a
 * block's edge rows go through different micro-kernels than its interior,
 * so the rounding of a gradient can change with the thread count (measured:
 * tools/bench_mlp prints whether 1 and N threads agree). The softmax and MLP
 * models therefore pin OpenBLAS to one thread when they are created; a
 * simulated run is single-threaded anyway, and a sweep gets its parallelism
 * from running several runs at once. */
#ifndef DTSIM_BLAS_H
#define DTSIM_BLAS_H

#include <stddef.h>

/* Writes a one-line description of the CBLAS in use into buf (the shared
 * object cblas_dgemm comes from, and OpenBLAS's configuration and thread
 * count when it is OpenBLAS); returns buf. */
const char *ml_blas_describe(char *buf, size_t len);

/* Sets the CBLAS's thread count: 0 when it has one to set (OpenBLAS), -1
 * when it has none (GSL's reference CBLAS is single-threaded). */
int ml_blas_set_threads(int n);

#endif
