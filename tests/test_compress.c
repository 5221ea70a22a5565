/* test_compress.c: exact encoded sizes, the decoded values of each codec,
 * unbiasedness of the random codecs, and top-k with error feedback on a
 * least-squares problem. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>

#include "sim/core/err.h"
#include "sim/net/compress.h"

static net_codec *make(net_codec_kind kind, int vb, size_t k, int s, size_t n)
{
    net_codec_cfg cfg = {.kind = kind, .value_bytes = vb, .k = k, .levels = s};
    net_codec *c = net_codec_create(&cfg, n);
    cr_assert_not_null(c);
    return c;
}

Test(compress, encoded_sizes_are_exact_for_every_codec)
{
    const size_t ns[] = {1, 7, 31, 1000, 1000003};
    for (size_t i = 0; i < 5; i++) {
        size_t n = ns[i];
        for (int vb = 4; vb <= 8; vb += 4) {
            net_codec_cfg none = {.kind = NET_CODEC_NONE, .value_bytes = vb};
            cr_assert_eq(net_codec_size_for(&none, n), 4 + n * vb);
            net_codec_cfg half = {.kind = NET_CODEC_FP16};
            cr_assert_eq(net_codec_size_for(&half, n), 4 + 2 * n);
            for (size_t k = 1; k <= 64; k *= 4) {
                size_t kk = k < n ? k : n;
                net_codec_cfg top = {
                    .kind = NET_CODEC_TOPK, .value_bytes = vb, .k = k};
                cr_assert_eq(net_codec_size_for(&top, n), 8 + kk * (4 + vb));
                net_codec_cfg rnd = {
                    .kind = NET_CODEC_RANDK, .value_bytes = vb, .k = k};
                cr_assert_eq(net_codec_size_for(&rnd, n), 16 + kk * vb);
            }
            /* s levels: a sign bit and ceil(log2(s + 1)) bits a value. */
            const int levels[] = {1, 2, 3, 4, 7, 8, 255, 256};
            const unsigned bits[] = {1, 2, 2, 3, 3, 4, 8, 9};
            for (size_t j = 0; j < 8; j++) {
                net_codec_cfg q = {.kind = NET_CODEC_QSGD,
                                   .value_bytes = vb,
                                   .levels = levels[j]};
                cr_assert_eq(net_codec_size_for(&q, n),
                             8 + vb + (n * (1 + bits[j]) + 7) / 8, "n %zu s %d",
                             n, levels[j]);
            }
        }
    }
    /* A codec reports the size of its own length. */
    net_codec *c = make(NET_CODEC_TOPK, 4, 3, 0, 31);
    cr_assert_eq(net_codec_size(c), 8 + 3 * 8);
    net_codec_destroy(c);
}

Test(compress, bad_configurations_are_refused)
{
    const net_codec_cfg bad[] = {
        {.kind = NET_CODEC_NONE, .value_bytes = 2},
        {.kind = NET_CODEC_TOPK, .value_bytes = 4, .k = 0},
        {.kind = NET_CODEC_RANDK, .value_bytes = 3, .k = 2},
        {.kind = NET_CODEC_QSGD, .value_bytes = 8, .levels = 0},
        {.kind = (net_codec_kind)99, .value_bytes = 8},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_null(net_codec_create(&bad[i], 10));
        cr_assert_eq(net_codec_size_for(&bad[i], 10), 0);
    }
    net_codec_cfg ok = {.kind = NET_CODEC_FP16};
    cr_assert_null(net_codec_create(&ok, 0));
    net_codec *q = make(NET_CODEC_QSGD, 8, 0, 4, 3);
    double x[3] = {1, 2, 3};
    cr_assert_eq(net_codec_apply(q, x, x, NULL, NULL), SIM_EINVAL);
    net_codec_destroy(q);
}

Test(compress, fp16_rounds_to_nearest_even_with_overflow_and_subnormals)
{
    cr_assert_eq(net_fp16_round(1.0), 1.0);
    cr_assert_eq(net_fp16_round(-2.5), -2.5);
    cr_assert_eq(net_fp16_round(0.1), 0.0999755859375);
    cr_assert_eq(net_fp16_round(65504.0), 65504.0);
    cr_assert_eq(net_fp16_round(65519.0), 65504.0);
    cr_assert(isinf(net_fp16_round(65520.0)));
    cr_assert(isinf(net_fp16_round(-1e6)) && net_fp16_round(-1e6) < 0);
    cr_assert_eq(net_fp16_round(0x1p-24), 0x1p-24);
    cr_assert_eq(net_fp16_round(0x1p-25), 0.0, "a tie goes to even (zero)");
    cr_assert_eq(net_fp16_round(3 * 0x1p-26), 0x1p-24);
    /* 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties to even. */
    cr_assert_eq(net_fp16_round(1.0 + 0x1p-11), 1.0);
    cr_assert_eq(net_fp16_round(1.0 + 3 * 0x1p-11), 1.0 + 0x1p-9);
    net_codec *c = make(NET_CODEC_FP16, 0, 0, 0, 4);
    double x[4] = {0.1, -0.2, 3e5, 1e-9}, y[4];
    cr_assert_eq(net_codec_apply(c, x, y, NULL, NULL), 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(y[i], net_fp16_round(x[i]));
    net_codec_destroy(c);
}

Test(compress, top_k_keeps_the_largest_magnitudes_ties_to_lower_index)
{
    double x[8] = {0.5, -3.0, 2.0, -2.0, 0.0, 1.0, 3.0, -0.25}, y[8];
    net_codec *c = make(NET_CODEC_TOPK, 8, 3, 0, 8);
    cr_assert_eq(net_codec_apply(c, x, y, NULL, NULL), 0);
    const double want[8] = {0, -3.0, 2.0, 0, 0, 0, 3.0, 0};
    for (int i = 0; i < 8; i++)
        cr_assert_eq(y[i], want[i], "index %d", i);
    net_codec_destroy(c);
    /* float32 values decode as float32. */
    double z[2] = {0.1, 0.2};
    c = make(NET_CODEC_TOPK, 4, 1, 0, 2);
    cr_assert_eq(net_codec_apply(c, z, z, NULL, NULL), 0);
    cr_assert_eq(z[1], (double)0.2f);
    cr_assert_eq(z[0], 0.0);
    net_codec_destroy(c);
}

Test(compress, error_feedback_keeps_exactly_what_was_not_sent)
{
    enum { N = 50, ROUNDS = 40 };
    net_codec *c = make(NET_CODEC_TOPK, 8, 5, 0, N);
    double e[N] = {0}, x[N], y[N], sent[N] = {0}, total[N] = {0};
    uint64_t st = 3;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < N; i++) {
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            x[i] = (double)(st >> 11) / 9007199254740992.0 - 0.5;
            total[i] += x[i];
        }
        double before[N];
        for (int i = 0; i < N; i++)
            before[i] = x[i] + e[i];
        cr_assert_eq(net_codec_apply(c, x, y, e, NULL), 0);
        int nonzero = 0;
        for (int i = 0; i < N; i++) {
            cr_assert(fabs(y[i] + e[i] - before[i]) <= 1e-15,
                      "round %d index %d", r, i);
            nonzero += y[i] != 0.0;
            sent[i] += y[i];
        }
        cr_assert_eq(nonzero, 5);
    }
    /* Everything offered is sent eventually or still owed. */
    for (int i = 0; i < N; i++)
        cr_assert(fabs(sent[i] + e[i] - total[i]) <= 1e-12);
    net_codec_destroy(c);
}

Test(compress, qsgd_is_unbiased_and_lands_on_its_grid)
{
    /* Each decoded value is norm/s times l or l + 1, a two-point variable
     * of variance at most (norm/s)^2 / 4, so the mean of D draws has a
     * standard deviation at most norm / (2 s sqrt(D)). A tolerance of 5 of
     * those fails a correct codec with probability below 1e-5 for these
     * 8 coordinates (and the seed is fixed, so the run is the same each
     * time); rounding down instead of randomly would be off by up to
     * norm / (2 s), some 300 standard deviations here. */
    enum { N = 8, D = 200000 };
    const double x[N] = {0.3, -1.2, 0.05, 2.0, -0.7, 0.0, 0.11, -0.013};
    const int s = 4;
    double norm = 0, mean[N] = {0}, y[N];
    for (int i = 0; i < N; i++)
        norm += x[i] * x[i];
    norm = sqrt(norm);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 2024);
    net_codec *c = make(NET_CODEC_QSGD, 8, 0, s, N);
    for (int d = 0; d < D; d++) {
        cr_assert_eq(net_codec_apply(c, x, y, NULL, rng), 0);
        for (int i = 0; i < N; i++) {
            double level = fabs(y[i]) / norm * s;
            if (d < 100)
                cr_assert(fabs(level - nearbyint(level)) < 1e-9 && level <= s &&
                          (y[i] == 0 || (y[i] > 0) == (x[i] > 0)));
            mean[i] += y[i];
        }
    }
    double tol = 5 * norm / (2 * s * sqrt((double)D));
    for (int i = 0; i < N; i++) {
        mean[i] /= D;
        cr_assert(fabs(mean[i] - x[i]) <= tol, "coordinate %d: %.6g vs %.6g", i,
                  mean[i], x[i]);
    }
    cr_assert_eq(mean[5], 0.0);
    net_codec_destroy(c);
    gsl_rng_free(rng);
}

Test(compress, random_k_sends_k_values_scaled_to_stay_unbiased)
{
    /* Value i decodes to x_i n/k with probability k/n, else 0: variance
     * x_i^2 (n/k - 1), so the mean of D draws is within 5 standard
     * deviations, |x_i| sqrt((n/k - 1) / D) each, of x_i. */
    enum { N = 10, K = 3, D = 200000 };
    const double x[N] = {1, -2, 3, -4, 5, 0.5, -0.25, 7, 8, -9};
    double mean[N] = {0}, y[N];
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 7);
    net_codec *c = make(NET_CODEC_RANDK, 8, K, 0, N);
    for (int d = 0; d < D; d++) {
        cr_assert_eq(net_codec_apply(c, x, y, NULL, rng), 0);
        int nonzero = 0;
        for (int i = 0; i < N; i++) {
            nonzero += y[i] != 0.0;
            mean[i] += y[i];
        }
        cr_assert_eq(nonzero, K);
    }
    for (int i = 0; i < N; i++) {
        mean[i] /= D;
        double tol = 5 * fabs(x[i]) * sqrt((N / (double)K - 1) / D);
        cr_assert(fabs(mean[i] - x[i]) <= tol, "coordinate %d: %.6g vs %.6g", i,
                  mean[i], x[i]);
    }
    net_codec_destroy(c);
    gsl_rng_free(rng);
}

Test(compress, top_k_with_error_feedback_solves_least_squares)
{
    /* Gradient descent on f(w) = |A w - b|^2 / (2 m), b = A w_true, the
     * gradient sent through top-2 of 10 with error feedback. */
    enum { M = 40, N = 10, K = 2 };
    static double A[M][N];
    double w_true[N], b[M], w[N] = {0}, g[N], gs[N], e[N] = {0};
    uint64_t st = 11;
    double frob = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            A[i][j] = (double)(st >> 11) / 9007199254740992.0 - 0.5 +
                      (i % N == j ? 1.0 : 0.0);
            frob += A[i][j] * A[i][j];
        }
    for (int j = 0; j < N; j++)
        w_true[j] = j - 4.5;
    for (int i = 0; i < M; i++) {
        b[i] = 0;
        for (int j = 0; j < N; j++)
            b[i] += A[i][j] * w_true[j];
    }
    /* The gradient's Lipschitz constant is at most |A|_F^2 / m. */
    double lr = 0.5 * M / frob;
    net_codec *c = make(NET_CODEC_TOPK, 8, K, 0, N);
    for (int it = 0; it < 20000; it++) {
        for (int j = 0; j < N; j++)
            g[j] = 0;
        for (int i = 0; i < M; i++) {
            double r = -b[i];
            for (int j = 0; j < N; j++)
                r += A[i][j] * w[j];
            for (int j = 0; j < N; j++)
                g[j] += A[i][j] * r / M;
        }
        cr_assert_eq(net_codec_apply(c, g, gs, e, NULL), 0);
        for (int j = 0; j < N; j++)
            w[j] -= lr * gs[j];
    }
    double err = 0;
    for (int j = 0; j < N; j++)
        err = fmax(err, fabs(w[j] - w_true[j]));
    cr_assert(err < 1e-8, "max error %g", err);
    net_codec_destroy(c);
}
