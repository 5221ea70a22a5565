/* bench_mlp: the MLP gradient kernel against the machine's dgemm peak, and
 * the Fashion-MNIST load time.
 *
 * Prints, in order:
 * - which CBLAS the binary runs (ml_blas_describe: the shared object
 *   cblas_dgemm resolves to, and OpenBLAS's configuration);
 * - the dgemm peak: best of 3 square N x N x N products (N = 1024 unless
 *   given), 2 N^3 FLOPs each, on one thread (as the models run it) and, with
 *   OpenBLAS, on every CPU;
 * - the Fashion-MNIST train set (60k images) load time from the gzip IDX
 *   files when the build has zlib and dataset-fashion-mnist is installed,
 *   else a synthetic data set of the same shape is used and that is said;
 * - mdl_mlp 784-128-10 (ReLU) gradient: time per batch, GFLOP/s from the
 *   model's flops_per_sample, and the fraction of the dgemm peak, for
 *   batches of 32..1024 random rows;
 * - one epoch of synchronous SGD over 8 workers (each gradient on a batch of
 *   64 of its own rows, then the average and the update), as wall time of
 *   the math alone, which is what a simulated run spends on it;
 * - with OpenBLAS, the gradient on every CPU's thread and whether it equals
 *   the 1-thread one bit for bit.
 *
 * usage: bench_mlp [DGEMM_N] */
#include <gsl/gsl_cblas.h>
#include <gsl/gsl_rng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim/ml/batch.h"
#include "sim/ml/blas.h"
#include "sim/ml/loaders.h"
#include "sim/ml/model.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double dgemm_gflops(int n)
{
    double *a = malloc((size_t)n * n * sizeof *a);
    double *b = malloc((size_t)n * n * sizeof *b);
    double *c = malloc((size_t)n * n * sizeof *c);
    if (!a || !b || !c)
        exit(1);
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = (double)(i % 7) - 3.0;
        b[i] = (double)(i % 5) - 2.0;
    }
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_s();
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a,
                    n, b, n, 0.0, c, n);
        double t = now_s() - t0;
        best = t < best ? t : best;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * n * (double)n * n / best / 1e9;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1024;
    int cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    char desc[512];
    printf("CBLAS: %s\n", ml_blas_describe(desc, sizeof desc));
    printf("cpus online: %d\n", cpus);
    /* The models run the CBLAS on one thread (blas.h): that is the peak
     * they can reach. With OpenBLAS the all-threads peak is shown too. */
    int has_threads = ml_blas_set_threads(1) == 0;
    double peak = dgemm_gflops(n);
    printf("dgemm peak, 1 thread (%d^3, best of 3): %.2f GFLOP/s\n", n, peak);
    if (has_threads && cpus > 1) {
        ml_blas_set_threads(cpus);
        printf("dgemm peak, %d threads: %.2f GFLOP/s\n", cpus, dgemm_gflops(n));
        ml_blas_set_threads(1);
    }

    /* ---- data */
    sim_err err = {0};
    ml_dataset *train = NULL;
    const char *im = "/usr/share/datasets/fashion-mnist/"
                     "train-images-idx3-ubyte.gz";
    const char *lb = "/usr/share/datasets/fashion-mnist/"
                     "train-labels-idx1-ubyte.gz";
    double t0 = now_s(), c0 = cpu_s();
    if (ml_idx_load(im, lb, NULL, &train, &err) == 0) {
        printf("Fashion-MNIST train load (60000 x 784, gzip IDX): %.3f s wall, "
               "%.3f s CPU\n",
               now_s() - t0, cpu_s() - c0);
    } else {
        printf("Fashion-MNIST not loaded (%s); synthetic 60000 x 784 data "
               "instead\n",
               err.msg);
        gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
        train = ml_dataset_alloc(60000, 784);
        if (!r || !train)
            return 1;
        for (size_t i = 0; i < 60000 * 784; i++)
            train->X->data[i] = gsl_rng_uniform(r);
        for (size_t i = 0; i < 60000; i++)
            train->y[i] = (double)gsl_rng_uniform_int(r, 10);
        gsl_rng_free(r);
    }

    /* ---- gradient kernel */
    mdl *m = NULL;
    mdl_opts o = {.d = 784, .n_classes = 10, .n_hidden = 1, .hidden = {128}};
    if (mdl_create("mlp", &o, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    size_t P = m->ops->n_params(m);
    double fps = m->ops->flops_per_sample(m);
    double *w = malloc(P * sizeof *w), *g = malloc(P * sizeof *g);
    double *avg = malloc(P * sizeof *avg);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!w || !g || !avg || !r)
        return 1;
    mdl_init_params(m, w, r);
    printf("mlp 784-128-10 relu: %zu parameters, %.0f FLOPs per sample\n", P,
           fps);
    printf("%6s %12s %10s %8s\n", "batch", "us/batch", "GFLOP/s", "of peak");
    size_t sizes[] = {32, 64, 128, 256, 512, 1024};
    ml_batch b = {0};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        if (ml_batch_fixed(&b, 0, train->n, sizes[s], r))
            return 1;
        m->ops->gradient(m, g, w, train, b.rows, b.n); /* warm up */
        size_t reps = 0;
        double start = now_s(), el;
        do {
            m->ops->gradient(m, g, w, train, b.rows, b.n);
            reps++;
        } while ((el = now_s() - start) < 0.5);
        double per = el / (double)reps, gf = fps * (double)b.n / per / 1e9;
        printf("%6zu %12.1f %10.2f %7.1f%%\n", sizes[s], per * 1e6, gf,
               100 * gf / peak);
    }

    /* ---- one epoch of SSGD math over 8 workers */
    {
        int K = 8;
        size_t B = 64, steps = train->n / (size_t)K / B;
        double start = now_s();
        for (size_t step = 0; step < steps; step++) {
            memset(avg, 0, P * sizeof *avg);
            for (int k = 0; k < K; k++) {
                size_t lo = (size_t)k * train->n / (size_t)K;
                size_t hi = (size_t)(k + 1) * train->n / (size_t)K;
                if (ml_batch_fixed(&b, lo, hi, B, r))
                    return 1;
                m->ops->gradient(m, g, w, train, b.rows, b.n);
                for (size_t j = 0; j < P; j++)
                    avg[j] += g[j];
            }
            for (size_t j = 0; j < P; j++)
                w[j] -= 0.1 / K * avg[j];
        }
        printf("one epoch of SSGD math, 8 workers x batch 64 (%zu steps): "
               "%.2f s\n",
               steps, now_s() - start);
    }

    /* ---- thread-count independence */
    if (has_threads && cpus > 1) {
        double *g1 = malloc(P * sizeof *g1);
        if (ml_batch_fixed(&b, 0, train->n, 1024, r) || !g1)
            return 1;
        m->ops->gradient(m, g1, w, train, b.rows, b.n);
        ml_blas_set_threads(cpus);
        double start = now_s();
        m->ops->gradient(m, g, w, train, b.rows, b.n);
        double el = now_s() - start;
        ml_blas_set_threads(1);
        printf("batch 1024 on %d OpenBLAS threads: %.1f us, gradient %s the "
               "1-thread one\n",
               cpus, el * 1e6,
               memcmp(g, g1, P * sizeof *g) ? "DIFFERS from" : "equals");
        free(g1);
    }
    ml_batch_deinit(&b);
    gsl_rng_free(r);
    free(w);
    free(g);
    free(avg);
    mdl_destroy(m);
    ml_dataset_free(train);
    return 0;
}
