/* logreg.c: binary logistic regression, exactly as the post computes it.
 *
 * The post's sigmoid is 1 / (exp(-z) + 1 + eps) with eps = 1e-6, so a
 * prediction of 1 needs z a little above 0 and the gradient never quite
 * vanishes; the gradient and the prediction reproduce that bit for bit. The
 * loss, which the post never computes, is the plain log-loss of the logit
 * (eps plays no part in it), written with softplus so that the weights in the
 * hundreds the post's raw features produce give finite values instead of
 * log(0).
 *
 * Cost: evaluate runs on the whole test set (and often the train set) every
 * round of every run, so it is one matrix-vector product plus a few compares
 * per row, and never allocates. Transcendentals are called only where they
 * can change the result: exp for the loss when |z| < 746 (log1p too when
 * |z| < 37), exp for the prediction when z is within 1e-9 of the threshold;
 * with the post's raw features most rows need neither. */
#include "model.h"

#include <float.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#if defined(__has_include)
#if __has_include(<sys/platform/x86.h>)
#include <sys/platform/x86.h> /* glibc 2.33 on */
#define HAVE_GLIBC_X86_FEATURES 1
#endif
#endif
#endif
#include <math.h>
#include <stdlib.h>

/* Four dot products of rows r[0..3] with w: see dot4_sse2. */
typedef void (*dot4_fn)(double *out, const double *const r[4], const double *w,
                        size_t d);

/* grad[j] += c[l] * x[l][j] for rows l = 0..len-1 (len <= 4): see
 * axpy4_sse2. */
typedef void (*axpy4_fn)(double *grad, const double c[4],
                         const double *const x[4], size_t len, size_t d);

/* What passes over the blocks of logits give evaluate: the rows predicted
 * right, the running sum in row order of max(t, 0) (t = -z for label 1, z
 * for 0; the whole row loss for other labels), and how many |z| that need
 * the softplus tail a block's pass packed at the front of its z. */
typedef struct tally {
    size_t correct, packed;
    double loss;
} tally;

typedef struct logreg logreg;

struct logreg {
    mdl base; /* first, so an mdl * is a logreg * */
    size_t d;
    double eps;
    double sig_hi; /* the sigmoid where exp(-z) underflows to 0: 1/(1+eps) */
    /* Outside [z_lo, z_hi] the prediction is the sign of z - z*, where
     * sigmoid(z*) = 0.5; inside, the post's formula decides. */
    double z_lo, z_hi;
    dot4_fn dot4; /* the SIMD builds this CPU runs */
    axpy4_fn axpy4;
    void (*tally)(const logreg *m, double *z, const double *y, size_t len,
                  tally *t);
};

/* Beyond these logits exp(-z) is exactly 0 (z > 746) or exactly inf
 * (z < -710) in double precision, so the sigmoid's value is known without
 * calling exp. */
#define Z_EXP_ZERO 746.0
#define Z_EXP_INF -710.0

/* For a >= 37, exp(-a) < 2^-53 and log1p(x) rounds to x; for a >= 746,
 * exp(-a) is 0. Both shortcuts are exact in double precision. */
#define A_LOG1P_ID 37.0

double mdl_logreg_sigmoid(double z, double eps)
{
    return 1.0 / (exp(-z) + 1.0 + eps);
}

static double sigmoid_fast(const logreg *m, double z)
{
    if (z > Z_EXP_ZERO)
        return m->sig_hi;
    if (z < Z_EXP_INF)
        return 0.0;
    return mdl_logreg_sigmoid(z, m->eps);
}

/* The post's prediction, np.where(sigmoid < 0.5, 0, 1): written as
 * !(s < 0.5) so that a NaN logit predicts 1, as numpy does. Only logits in
 * [z_lo, z_hi] need it; elsewhere the sign of z - z* gives the same answer
 * without exp. */
static int predict(const logreg *m, double z)
{
    if (z >= m->z_lo && z <= m->z_hi)
        return !(mdl_logreg_sigmoid(z, m->eps) < 0.5);
    /* A compare, not a branch: the sign of z is a coin flip per row. */
    return !(z < m->z_hi);
}

/* log1p(exp(-a)) for a = |z| >= 0: the non-linear part of softplus. */
static double log1p_exp_neg(double a)
{
    if (a >= Z_EXP_ZERO)
        return 0.0;
    if (a >= A_LOG1P_ID)
        return exp(-a);
    return log1p(exp(-a));
}

/* The log-loss of one row: softplus(-z) for y = 1, softplus(z) for
 * y = 0, with softplus(t) = max(t, 0) + log1p(exp(-|t|)); any other label
 * (not a binary task) gets the cross-entropy y sp(-z) + (1 - y) sp(z). */
static double row_loss(double z, double y)
{
    double tail = log1p_exp_neg(fabs(z));
    if (y == 0.0 || y == 1.0) {
        double t = y == 1.0 ? -z : z;
        return (t > 0.0 ? t : 0.0) + tail;
    }
    double sp_neg = (z < 0 ? -z : 0.0) + tail; /* softplus(-z) */
    double sp_pos = (z > 0 ? z : 0.0) + tail;  /* softplus(z) */
    return y * sp_neg + (1.0 - y) * sp_pos;
}

/* Four partial sums break the add-latency chain of a plain loop (the
 * compiler may not reassociate without -ffast-math); d is ~31 here. */
/* Four partial sums over j mod 4, added as (s0 + s1) + (s2 + s3): a fixed
 * order, so the result does not depend on the instructions that compute it.
 * The sums live in two 2-wide vectors, (s0, s1) and (s2, s3), which every
 * x86-64 has (SSE2); multiply and add stay separate (no fused rounding). */
typedef double v2d __attribute__((vector_size(16), aligned(8)));

static double dot(const double *a, const double *b, size_t d)
{
    v2d lo = {0, 0}, hi = {0, 0};
    size_t j = 0;
    for (; j + 4 <= d; j += 4) {
        lo += *(const v2d *)(a + j) * *(const v2d *)(b + j);
        hi += *(const v2d *)(a + j + 2) * *(const v2d *)(b + j + 2);
    }
    for (; j < d; j++)
        lo[0] += a[j] * b[j];
    return (lo[0] + lo[1]) + (hi[0] + hi[1]);
}

/* dot() of four rows at once, each row with its own partial sums in dot()'s
 * order, so the results are bit-identical to four calls. One row's sums are
 * a chain of dependent additions that waits on adder latency; four rows give
 * the adders independent work. This is most of a run's arithmetic (the test
 * set every round), so it comes in two builds: SSE2, which every x86-64 has,
 * and AVX, where one 4-wide register holds a row's four sums. Both compute
 * the same lanes with separate multiplies and adds (ISO C mode: no fused
 * multiply-add), so the choice never changes a result. */
typedef double v4d __attribute__((vector_size(32), aligned(8)));

static void dot4_sse2(double *out, const double *const r[4], const double *w,
                      size_t d)
{
    v2d lo[4] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
    v2d hi[4] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
    size_t j = 0;
    for (; j + 4 <= d; j += 4) {
        v2d wl = *(const v2d *)(w + j), wh = *(const v2d *)(w + j + 2);
        for (int l = 0; l < 4; l++) {
            lo[l] += *(const v2d *)(r[l] + j) * wl;
            hi[l] += *(const v2d *)(r[l] + j + 2) * wh;
        }
    }
    /* The last d mod 4 columns go to lane 0, as in dot(). Written without
     * a loop: the compiler's vectorisation of a loop of at most 3 steps
     * costs more than the steps. */
    for (int t = 0; t < 3; t++, j++) {
        if (j >= d)
            break;
        lo[0][0] += r[0][j] * w[j];
        lo[1][0] += r[1][j] * w[j];
        lo[2][0] += r[2][j] * w[j];
        lo[3][0] += r[3][j] * w[j];
    }
    for (int l = 0; l < 4; l++)
        out[l] = (lo[l][0] + lo[l][1]) + (hi[l][0] + hi[l][1]);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx"))) static void
dot4_avx(double *out, const double *const r[4], const double *w, size_t d)
{
    v4d s[4] = {{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}};
    size_t j = 0;
    for (; j + 4 <= d; j += 4) {
        v4d wv = *(const v4d *)(w + j);
        for (int l = 0; l < 4; l++)
            s[l] += *(const v4d *)(r[l] + j) * wv;
    }
    for (int t = 0; t < 3; t++, j++) {
        if (j >= d)
            break;
        s[0][0] += r[0][j] * w[j];
        s[1][0] += r[1][j] * w[j];
        s[2][0] += r[2][j] * w[j];
        s[3][0] += r[3][j] * w[j];
    }
    for (int l = 0; l < 4; l++)
        out[l] = (s[l][0] + s[l][1]) + (s[l][2] + s[l][3]);
}
#endif

/* The gradient's accumulation over a block of up to four rows. Each element
 * takes the rows' products in row order, one rounded add each, exactly as a
 * loop over the rows would: the result is the same bit for bit, but grad is
 * loaded and stored once per block instead of once per row, and the AVX
 * build does four elements per instruction. */
static void axpy4_sse2(double *g, const double c[4], const double *const x[4],
                       size_t len, size_t d)
{
    v2d cv[4];
    for (size_t l = 0; l < 4; l++)
        cv[l] = (v2d){c[l], c[l]};
    size_t j = 0;
    for (; j + 2 <= d; j += 2) {
        v2d a = *(v2d *)(g + j);
        for (size_t l = 0; l < len; l++)
            a += cv[l] * *(const v2d *)(x[l] + j);
        *(v2d *)(g + j) = a;
    }
    for (; j < d; j++)
        for (size_t l = 0; l < len; l++)
            g[j] += c[l] * x[l][j];
}

#if defined(__x86_64__) && defined(__GNUC__)
/* axpy4_avx for a block of exactly `len` rows. Always inlined with a
 * constant len, so both row loops unroll; the last d mod 4 elements keep
 * their running sum in a register (grad does not alias the rows) and take
 * the rows' products in row order as before. */
__attribute__((always_inline, target("avx"))) static inline void
axpy_rows_avx(double *g, const double c[4], const double *const x[4],
              size_t len, size_t d)
{
    v4d cv[4];
    for (size_t l = 0; l < len; l++)
        cv[l] = (v4d){c[l], c[l], c[l], c[l]};
    size_t j = 0;
    for (; j + 4 <= d; j += 4) {
        v4d a = *(v4d *)(g + j);
        for (size_t l = 0; l < len; l++)
            a += cv[l] * *(const v4d *)(x[l] + j);
        *(v4d *)(g + j) = a;
    }
    if (j == d)
        return;
    /* The last d mod 4 elements in one masked vector: the same lane-wise
     * operations, and nothing past a row's end is read or written. */
    size_t rem = d - j;
    __m256i mask = _mm256_set_epi64x(0, rem > 2 ? -1 : 0, rem > 1 ? -1 : 0, -1);
    __m256d a = _mm256_maskload_pd(g + j, mask);
    for (size_t l = 0; l < len; l++)
        a += cv[l] * _mm256_maskload_pd(x[l] + j, mask);
    _mm256_maskstore_pd(g + j, mask, a);
}

__attribute__((target("avx"))) static void axpy4_avx(double *g,
                                                     const double c[4],
                                                     const double *const x[4],
                                                     size_t len, size_t d)
{
    /* The common block is 4 rows; the row loop's overhead was as much as
     * its arithmetic. */
    switch (len) {
    case 4:
        axpy_rows_avx(g, c, x, 4, d);
        break;
    case 3:
        axpy_rows_avx(g, c, x, 3, d);
        break;
    case 2:
        axpy_rows_avx(g, c, x, 2, d);
        break;
    case 1:
        axpy_rows_avx(g, c, x, 1, d);
        break;
    default:
        break;
    }
}
#endif

static void check_dim(const logreg *m, const ml_dataset *ds)
{
    if (ds->d != m->d)
        SIM_PANIC("logreg of dimension %zu given data of dimension %zu", m->d,
                  ds->d);
}

static void logreg_gradient(mdl *base, double *grad, const double *w,
                            const ml_dataset *ds, const size_t *rows,
                            size_t n_rows)
{
    logreg *m = (logreg *)base;
    size_t d = m->d;
    check_dim(m, ds);
    for (size_t j = 0; j < d; j++)
        grad[j] = 0.0;
    if (n_rows == 0)
        return;
    const double *X = ds->X->data;
    size_t tda = ds->X->tda;
    for (size_t i0 = 0; i0 < n_rows; i0 += 4) {
        const double *x[4];
        double z[4];
        size_t len = n_rows - i0 < 4 ? n_rows - i0 : 4;
        for (size_t l = 0; l < 4; l++)
            x[l] = X + rows[i0 + (l < len ? l : 0)] * tda;
        m->dot4(z, x, w, d);
        /* The post's -(y - sigmoid(x.w)) x; with eps = 0 exactly the
         * gradient of the log-loss. */
        double c[4] = {0, 0, 0, 0};
        for (size_t l = 0; l < len; l++)
            c[l] = sigmoid_fast(m, z[l]) - ds->y[rows[i0 + l]];
        m->axpy4(grad, c, x, len, d);
    }
    /* Two lanes at a time: each element is multiplied once, as in a plain
     * loop. */
    double inv = 1.0 / (double)n_rows;
    v2d iv = {inv, inv};
    size_t j = 0;
    for (; j + 2 <= d; j += 2)
        *(v2d *)(grad + j) *= iv;
    for (; j < d; j++)
        grad[j] *= inv;
}

/* Rows per block of evaluate: the block's logits live on the stack (2 KiB),
 * so evaluate needs no scratch memory and cannot fail. */
#define EVAL_BLOCK 256

/* Rows [i, end) into *t, packing from t->packed on: the slot written is
 * never ahead of the one read. */
static void tally_rows(const logreg *m, double *z, const double *y, size_t i,
                       size_t end, tally *t)
{
    size_t correct = t->correct, k = t->packed;
    double loss = t->loss;
    for (; i < end; i++) {
        double zi = z[i];
        correct += (predict(m, zi) ? 1.0 : 0.0) == y[i];
        if (y[i] == 0.0 || y[i] == 1.0) {
            double ti = y[i] == 1.0 ? -zi : zi;
            double a = fabs(zi);
            loss += ti > 0.0 ? ti : 0.0;
            z[k] = a;
            k += !(a >= Z_EXP_ZERO); /* a NaN is kept, and propagates */
        } else {
            loss += row_loss(zi, y[i]);
        }
    }
    *t = (tally){.correct = correct, .packed = k, .loss = loss};
}

/* A block's rows into *t, whose sums go on from the blocks before. */
static void tally_scalar(const logreg *m, double *z, const double *y,
                         size_t len, tally *t)
{
    t->packed = 0;
    tally_rows(m, z, y, 0, len, t);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* tally_rows four rows at a time, with the same operations on each row and
 * the losses still added one by one in row order, so the result is the same
 * bit for bit. Four rows with a label other than 0 or 1, or a logit inside
 * the window where the formula decides the prediction, go through
 * tally_rows. */
__attribute__((target("avx"))) static void
tally_avx(const logreg *m, double *z, const double *y, size_t len, tally *out)
{
    const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1.0),
                  sign = _mm256_set1_pd(-0.0),
                  a_max = _mm256_set1_pd(Z_EXP_ZERO),
                  lo = _mm256_set1_pd(m->z_lo), hi = _mm256_set1_pd(m->z_hi);
    tally t = {.correct = out->correct, .packed = 0, .loss = out->loss};
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        __m256d zv = _mm256_loadu_pd(z + i), yv = _mm256_loadu_pd(y + i);
        __m256d y1 = _mm256_cmp_pd(yv, one, _CMP_EQ_OQ);
        __m256d y01 = _mm256_or_pd(_mm256_cmp_pd(yv, zero, _CMP_EQ_OQ), y1);
        __m256d in_window = _mm256_and_pd(_mm256_cmp_pd(zv, lo, _CMP_GE_OQ),
                                          _mm256_cmp_pd(zv, hi, _CMP_LE_OQ));
        if (_mm256_movemask_pd(y01) != 0xF ||
            _mm256_movemask_pd(in_window) != 0) {
            tally_rows(m, z, y, i, i + 4, &t);
            continue;
        }
        /* predict: !(z < z_hi), true for a NaN */
        __m256d pred = _mm256_and_pd(_mm256_cmp_pd(zv, hi, _CMP_NLT_UQ), one);
        t.correct += (size_t)__builtin_popcount(
            _mm256_movemask_pd(_mm256_cmp_pd(pred, yv, _CMP_EQ_OQ)));
        __m256d tv = _mm256_blendv_pd(zv, _mm256_xor_pd(zv, sign), y1);
        /* t > 0 ? t : 0, which is +0 for a NaN or -0 */
        __m256d tpos = _mm256_and_pd(_mm256_cmp_pd(tv, zero, _CMP_GT_OQ), tv);
        __m256d a = _mm256_andnot_pd(sign, zv);
        int keep = _mm256_movemask_pd(_mm256_cmp_pd(a, a_max, _CMP_NGE_UQ));
        double tp[4], av[4];
        _mm256_storeu_pd(tp, tpos);
        _mm256_storeu_pd(av, a);
        for (int l = 0; l < 4; l++)
            t.loss += tp[l];
        for (int l = 0; l < 4; l++) {
            z[t.packed] = av[l];
            t.packed += (size_t)(keep >> l & 1);
        }
    }
    tally_rows(m, z, y, i, len, &t);
    *out = t;
}
#endif

/* Why not gsl_blas_dgemv for X w: the CBLAS this build links is GSL's
 * reference one (no optimised CBLAS is installed), whose single-accumulator
 * loop took 3.0 us for the 171 x 31 test set against 1.0 us for dot() here;
 * evaluate runs twice per round, so that was most of an evaluation. */
static mdl_eval logreg_evaluate(mdl *base, const double *w,
                                const ml_dataset *ds)
{
    logreg *m = (logreg *)base;
    check_dim(m, ds);
    size_t n = ds->n, d = m->d, tda = ds->X->tda;
    /* Mean over no rows is undefined; report zeros rather than NaN, which
     * SQLite would store as NULL. */
    if (n == 0)
        return (mdl_eval){.accuracy = 0.0, .loss = 0.0};
    double z[EVAL_BLOCK];
    tally t = {0, 0, 0.0};
    double tails = 0.0;
    for (size_t i0 = 0; i0 < n; i0 += EVAL_BLOCK) {
        size_t len = n - i0 < EVAL_BLOCK ? n - i0 : EVAL_BLOCK;
        const double *X = ds->X->data + i0 * tda, *y = ds->y + i0;
        size_t i = 0;
        for (; i + 4 <= len; i += 4) {
            const double *r[4] = {X + i * tda, X + (i + 1) * tda,
                                  X + (i + 2) * tda, X + (i + 3) * tda};
            m->dot4(z + i, r, w, d);
        }
        for (; i < len; i++)
            z[i] = dot(X + i * tda, w, d);
        /* softplus(t) = max(t, 0) + log1p(exp(-|z|)). The second term is
         * exactly 0 for |z| >= 746, where the post's large weights put most
         * rows, so the others' |z| are packed at the front of z without a
         * branch, and summed apart. */
        m->tally(m, z, y, len, &t);
        for (size_t j = 0; j < t.packed; j++)
            tails += log1p_exp_neg(z[j]);
    }
    return (mdl_eval){.accuracy = (double)t.correct / (double)n,
                      .loss = (t.loss + tails) / (double)n};
}

/* A row's logit z = sum_j w_j x_j, summed in any order in double precision,
 * has |z| <= max|w| L1(x) (1 + d 2^-53) <= 2 max|w| L1(x), and its loss is
 * at most (|y| + |1 - y|)(|z| + log 2) (row_loss: each softplus is at most
 * |z| + log 2). With max|w| <= B below, the sum over n rows stays under
 * DBL_MAX / 2, and so do the partial sums evaluate forms on the way. */
static double logreg_finite_below(const mdl *base, const ml_dataset *ds)
{
    check_dim((const logreg *)base, ds);
    size_t n = ds->n, d = ((const logreg *)base)->d, tda = ds->X->tda;
    double l1_max = 0.0, y_max = 1.0;
    for (size_t i = 0; i < n; i++) {
        const double *x = ds->X->data + i * tda;
        double l1 = 0.0;
        for (size_t j = 0; j < d; j++)
            l1 += fabs(x[j]);
        double y = fabs(ds->y[i]) + fabs(1.0 - ds->y[i]);
        /* Written so that a NaN fails the test. */
        if (!(l1 <= DBL_MAX && y <= DBL_MAX))
            return 0.0;
        l1_max = l1 > l1_max ? l1 : l1_max;
        y_max = y > y_max ? y : y_max;
    }
    return DBL_MAX / (8.0 * ((double)n + 1.0) * y_max * (l1_max + 1.0));
}

static size_t logreg_n_params(const mdl *base)
{
    return ((const logreg *)base)->d;
}

/* The forward dot product (2d) and the gradient axpy (2d). */
static double logreg_flops_per_sample(const mdl *base)
{
    return 4.0 * (double)((const logreg *)base)->d;
}

static void logreg_destroy(mdl *base)
{
    free(base);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* glibc's loader has asked the processor already, and says what it found.
 * __builtin_cpu_supports would make libgcc ask again at start-up, with up
 * to 13 CPUID instructions, which a virtual machine traps: 9 us each on the
 * machine the README measures, where dropping them took dtsim version from
 * 1.2 to 1.0 ms. */
static int has_avx(void)
{
#ifdef HAVE_GLIBC_X86_FEATURES
    return CPU_FEATURE_ACTIVE(AVX);
#else
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx");
#endif
}
#endif

static int logreg_create(const mdl_opts *opts, mdl **out, sim_err *err)
{
    *out = NULL;
    double eps = opts->sigmoid_eps;
    if (!(isfinite(eps) && eps >= 0))
        return sim_err_set(err, SIM_ECONFIG,
                           "model logreg: sigmoid_eps must be finite and >= "
                           "0, got %g",
                           eps);
    /* The bias is a data column here, indistinguishable from a feature, so
     * a penalty could not leave it out as softmax and mlp do. */
    if (opts->l1 != 0 || opts->l2 != 0)
        return sim_err_set(err, SIM_ECONFIG,
                           "model logreg: l1 and l2 are not supported (use "
                           "softmax with n_classes 2)");
    logreg *m = calloc(1, sizeof *m);
    if (!m)
        return sim_err_set(err, SIM_ENOMEM, "out of memory creating logreg");
    m->base.ops = &mdl_logreg_ops;
    m->d = opts->d;
    m->eps = eps;
#if defined(__x86_64__) && defined(__GNUC__)
    int avx = has_avx();
    m->dot4 = avx ? dot4_avx : dot4_sse2;
    m->axpy4 = avx ? axpy4_avx : axpy4_sse2;
    m->tally = avx ? tally_avx : tally_scalar;
#else
    m->dot4 = dot4_sse2;
    m->axpy4 = axpy4_sse2;
    m->tally = tally_scalar;
#endif
    m->sig_hi = 1.0 / (0.0 + 1.0 + eps);
    if (eps <= 0.5) {
        /* sigmoid(z*) = 0.5 at z* = -log(1 - eps), where the sigmoid's slope
         * is (1 - eps) / 4 >= 1/8: 1e-9 away from z* the sigmoid is ~1e-10
         * from 0.5, far beyond the ~1e-16 rounding of the formula, so the
         * sign test agrees with the formula outside the window. */
        double z_star = -log1p(-eps);
        m->z_lo = z_star - 1e-9;
        m->z_hi = z_star + 1e-9;
    } else {
        /* A flat sigmoid: let the formula decide every row. */
        m->z_lo = -INFINITY;
        m->z_hi = INFINITY;
    }
    *out = &m->base;
    return 0;
}

const mdl_ops mdl_logreg_ops = {
    .name = "logreg",
    .summary = "binary logistic regression (labels 0/1), the post's model",
    .create = logreg_create,
    .n_params = logreg_n_params,
    .flops_per_sample = logreg_flops_per_sample,
    .gradient = logreg_gradient,
    .evaluate = logreg_evaluate,
    .destroy = logreg_destroy,
    .finite_below = logreg_finite_below,
};
