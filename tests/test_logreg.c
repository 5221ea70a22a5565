/* test_logreg.c: the post's logistic regression and the model registry. */
#include <criterion/criterion.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/ml/model.h"

static mdl *make(size_t d, double eps)
{
    mdl *m = NULL;
    sim_err err = {0};
    mdl_opts o = {.d = d, .sigmoid_eps = eps};
    cr_assert_eq(mdl_create("logreg", &o, &m, &err), 0, "%s", err.msg);
    return m;
}

/* A data set from row-major values and labels. */
static ml_dataset *dataset(size_t n, size_t d, const double *x, const double *y)
{
    ml_dataset *ds = malloc(sizeof *ds);
    ds->n = n;
    ds->d = d;
    ds->X = gsl_matrix_alloc(n, d);
    ds->y = malloc(n * sizeof *ds->y);
    memcpy(ds->X->data, x, n * d * sizeof *x);
    memcpy(ds->y, y, n * sizeof *y);
    return ds;
}

static ml_dataset *random_dataset(gsl_rng *r, size_t n, size_t d)
{
    double *x = malloc(n * d * sizeof *x), *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n * d; i++)
        x[i] = gsl_ran_gaussian(r, 1.0);
    for (size_t i = 0; i < n; i++)
        y[i] = (double)gsl_rng_uniform_int(r, 2);
    ml_dataset *ds = dataset(n, d, x, y);
    free(x);
    free(y);
    return ds;
}

static ml_dataset *load_cancer_with_bias(void)
{
    ml_csv_opts o = {.header = 1, .label_column = -1, .delimiter = ','};
    ml_dataset *ds = NULL;
    sim_err err = {0};
    cr_assert_eq(ml_csv_load("data/breast_cancer.csv", &o, &ds, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(ml_dataset_add_bias(ds, &err), 0);
    return ds;
}

Test(mdl_logreg, is_created_by_name_with_d_parameters)
{
    mdl *m = make(31, 1e-6);
    cr_assert_eq(m->ops, &mdl_logreg_ops);
    cr_assert_str_eq(m->ops->name, "logreg");
    cr_assert_eq(m->ops->n_params(m), 31);
    cr_assert_eq(m->ops->flops_per_sample(m), 4.0 * 31);
    mdl_destroy(m);
    mdl_destroy(NULL);
}

Test(mdl_logreg, registry_lists_logreg_and_ends_with_null)
{
    size_t n = 0, found = 0;
    for (; mdl_registry[n]; n++)
        found += strcmp(mdl_registry[n]->name, "logreg") == 0;
    cr_assert_geq(n, 1);
    cr_assert_eq(found, 1);
}

Test(mdl_logreg, create_rejects_unknown_names_and_bad_options)
{
    mdl *m = (mdl *)1;
    sim_err err = {0};
    mdl_opts o = {.d = 3, .sigmoid_eps = 0};
    cr_assert_eq(mdl_create("svm", &o, &m, &err), SIM_ECONFIG);
    cr_assert_null(m);
    cr_assert(strstr(err.msg, "unknown model 'svm'"), "%s", err.msg);
    cr_assert(strstr(err.msg, "logreg"), "known names listed: %s", err.msg);
    o.sigmoid_eps = -1e-6;
    cr_assert_eq(mdl_create("logreg", &o, &m, &err), SIM_ECONFIG);
    o.sigmoid_eps = NAN;
    cr_assert_eq(mdl_create("logreg", &o, &m, &err), SIM_ECONFIG);
    o.sigmoid_eps = 0;
    o.d = 0;
    cr_assert_eq(mdl_create("logreg", &o, &m, &err), SIM_ECONFIG);
    cr_assert_null(m);
}

Test(mdl_logreg, sigmoid_with_eps_is_the_posts_formula)
{
    double zs[] = {-800, -40, -3, -1e-7, 0, 5e-7, 1, 2.5, 36, 800};
    for (size_t i = 0; i < sizeof zs / sizeof zs[0]; i++) {
        double z = zs[i];
        cr_assert_eq(mdl_logreg_sigmoid(z, 1e-6), 1 / (exp(-z) + 1 + 1e-6),
                     "z = %g", z);
        cr_assert_eq(mdl_logreg_sigmoid(z, 0), 1 / (exp(-z) + 1), "z = %g", z);
    }
    /* The eps keeps the sigmoid below 1 and shifts the 0.5 point to
     * z = -log(1 - eps) ~ 1e-6. */
    cr_assert_lt(mdl_logreg_sigmoid(50, 1e-6), 1.0);
    cr_assert_lt(mdl_logreg_sigmoid(5e-7, 1e-6), 0.5);
    cr_assert_geq(mdl_logreg_sigmoid(5e-7, 0), 0.5);
}

/* One row x = 1: the logit is w itself, so the prediction can be probed at
 * any z. */
static double accuracy_at(mdl *m, double z, double label)
{
    double x = 1, y = label;
    ml_dataset *ds = dataset(1, 1, &x, &y);
    double acc = m->ops->evaluate(m, &z, ds).accuracy;
    ml_dataset_free(ds);
    return acc;
}

Test(mdl_logreg, prediction_reproduces_the_posts_threshold)
{
    double eps_list[] = {0, 1e-6, 0.3, 0.7, 1.0};
    for (size_t e = 0; e < sizeof eps_list / sizeof eps_list[0]; e++) {
        double eps = eps_list[e];
        mdl *m = make(1, eps);
        double z_star = eps < 1 ? -log1p(-eps) : 0;
        double offsets[] = {-1e3,   -1,     -1e-6, -1e-9, -1e-10,
                            -1e-13, -1e-16, 0,     1e-16, 1e-13,
                            1e-10,  1e-9,   1e-6,  1,     1e3};
        for (size_t k = 0; k < sizeof offsets / sizeof offsets[0]; k++) {
            for (int s = -2; s <= 2; s++) {
                double z = z_star + offsets[k];
                for (int u = 0; u < abs(s); u++)
                    z = nextafter(z, s > 0 ? INFINITY : -INFINITY);
                double want = mdl_logreg_sigmoid(z, eps) < 0.5 ? 0 : 1;
                cr_assert_eq(accuracy_at(m, z, 1.0), want, "eps %g z %.17g",
                             eps, z);
            }
        }
        mdl_destroy(m);
    }
    mdl *m = make(1, 1e-6);
    cr_assert_eq(accuracy_at(m, 5e-7, 1.0), 0.0, "eps moves the threshold");
    mdl_destroy(m);
    m = make(1, 0);
    cr_assert_eq(accuracy_at(m, 0.0, 1.0), 1.0, "sigmoid(0) = 0.5 is a 1");
    mdl_destroy(m);
}

Test(mdl_logreg, evaluates_a_tiny_data_set_to_known_values)
{
    /* w = (1, 0) on (feature, bias): logits 1, -1, 2, 0, predictions
     * 1, 0, 1, 1 against labels 1, 0, 0, 0: two right. */
    double x[] = {1, 1, -1, 1, 2, 1, 0, 1}, y[] = {1, 0, 0, 0};
    double w[] = {1, 0};
    ml_dataset *ds = dataset(4, 2, x, y);
    mdl *m = make(2, 0);
    mdl_eval ev = m->ops->evaluate(m, w, ds);
    cr_assert_eq(ev.accuracy, 0.5);
    double want = (2 * log(1 + exp(-1.0)) + log(1 + exp(2.0)) + log(2.0)) / 4;
    cr_assert_lt(fabs(ev.loss - want), 1e-15 * want, "loss %.17g want %.17g",
                 ev.loss, want);
    mdl_destroy(m);
    ml_dataset_free(ds);
}

Test(mdl_logreg, evaluate_agrees_with_the_naive_formulas)
{
    /* Weights from small to huge, so logits fall on every shortcut. */
    ml_dataset *ds = load_cancer_with_bias();
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    double scales[] = {1e-5, 1e-3, 1e-2, 0.1, 1, 100};
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
        for (int eps_i = 0; eps_i < 2; eps_i++) {
            double eps = eps_i ? 1e-6 : 0;
            mdl *m = make(31, eps);
            double w[31];
            mdl_init_uniform(w, 31, -scales[s], scales[s], r);
            mdl_eval ev = m->ops->evaluate(m, w, ds);
            size_t right = 0;
            double loss = 0;
            for (size_t i = 0; i < ds->n; i++) {
                double z = 0;
                for (size_t j = 0; j < 31; j++)
                    z += gsl_matrix_get(ds->X, i, j) * w[j];
                double p = 1 / (exp(-z) + 1 + eps) < 0.5 ? 0 : 1;
                right += p == ds->y[i];
                double t = ds->y[i] == 1 ? -z : z;
                loss += fmax(t, 0) + log1p(exp(-fabs(t)));
            }
            cr_assert_eq(ev.accuracy, (double)right / (double)ds->n);
            loss /= (double)ds->n;
            cr_assert_lt(fabs(ev.loss - loss), 1e-12 * loss,
                         "scale %g: %.17g vs %.17g", scales[s], ev.loss, loss);
            mdl_destroy(m);
        }
    }
    gsl_rng_free(r);
    ml_dataset_free(ds);
}

/* The mean loss over some rows, through evaluate on their subset. */
static double batch_loss(mdl *m, const double *w, const ml_dataset *ds,
                         const size_t *rows, size_t n)
{
    ml_dataset *sub = ml_dataset_subset(ds, rows, n);
    double loss = m->ops->evaluate(m, w, sub).loss;
    ml_dataset_free(sub);
    return loss;
}

/* Central differences with step h have truncation error h^2 |L'''| / 6 and
 * rounding error ~ 1e-16 |L| / h. With unit-scale features and weights,
 * |L|, |L'''| = O(1), and h = 1e-5 both are ~1e-11, four orders of
 * magnitude below the tolerance of 1e-6 relative to the gradient's largest
 * component (~0.1 here); a wrong sign, factor or missing mean would be off
 * by O(1). */
Test(mdl_logreg, gradient_matches_central_finite_differences)
{
    enum { N = 60, D = 6 };
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    ml_dataset *ds = random_dataset(r, N, D);
    mdl *m = make(D, 0);
    size_t rows[N];
    for (int trial = 0; trial < 10; trial++) {
        size_t n = 0;
        for (size_t i = 0; i < N; i++)
            if (gsl_rng_uniform(r) < 0.4)
                rows[n++] = i;
        double w[D], g[D];
        mdl_init_uniform(w, D, -1.5, 1.5, r);
        m->ops->gradient(m, g, w, ds, rows, n);
        double gmax = 0;
        for (size_t j = 0; j < D; j++)
            gmax = fmax(gmax, fabs(g[j]));
        cr_assert_gt(gmax, 1e-3);
        for (size_t j = 0; j < D; j++) {
            const double h = 1e-5;
            double wp[D], wm[D];
            memcpy(wp, w, sizeof w);
            memcpy(wm, w, sizeof w);
            wp[j] += h;
            wm[j] -= h;
            double fd = (batch_loss(m, wp, ds, rows, n) -
                         batch_loss(m, wm, ds, rows, n)) /
                        (wp[j] - wm[j]);
            cr_assert_lt(fabs(fd - g[j]), 1e-6 * gmax,
                         "trial %d component %zu: analytic %.12g, fd %.12g",
                         trial, j, g[j], fd);
        }
    }
    mdl_destroy(m);
    ml_dataset_free(ds);
    gsl_rng_free(r);
}

Test(mdl_logreg, gradient_is_the_posts_formula_at_extreme_logits)
{
    const double eps = 1e-6;
    mdl *m = make(1, eps);
    double x = 1, y = 1, g;
    ml_dataset *ds = dataset(1, 1, &x, &y);
    size_t row = 0;
    double zs[] = {-1e5, -800, -709.9, -30, 0, 30, 745.5, 800, 1e5};
    for (size_t i = 0; i < sizeof zs / sizeof zs[0]; i++) {
        for (int label = 0; label <= 1; label++) {
            ds->y[0] = label;
            m->ops->gradient(m, &g, &zs[i], ds, &row, 1);
            double want = -(label - 1 / (exp(-zs[i]) + 1 + eps)) * x;
            cr_assert_eq(g, want, "z %g label %d: %.17g vs %.17g", zs[i], label,
                         g, want);
        }
    }
    mdl_destroy(m);
    ml_dataset_free(ds);
}

Test(mdl_logreg, huge_weights_give_a_finite_loss)
{
    ml_dataset *ds = load_cancer_with_bias();
    mdl *m = make(31, 1e-6);
    double w[31], g[31];
    size_t rows[100];
    for (size_t i = 0; i < 100; i++)
        rows[i] = i * 5;
    for (int sign = -1; sign <= 1; sign += 2) {
        for (size_t j = 0; j < 31; j++)
            w[j] = sign * (j % 2 ? 1e4 : -1e4);
        mdl_eval ev = m->ops->evaluate(m, w, ds);
        cr_assert(isfinite(ev.loss) && ev.loss > 0, "loss %g", ev.loss);
        cr_assert(ev.accuracy >= 0 && ev.accuracy <= 1);
        m->ops->gradient(m, g, w, ds, rows, 100);
        for (size_t j = 0; j < 31; j++)
            cr_assert(isfinite(g[j]));
    }
    mdl_destroy(m);
    ml_dataset_free(ds);
}

Test(mdl_logreg, nan_weights_give_a_nan_loss)
{
    /* The engine detects divergence from the loss; a NaN must not be
     * swallowed by the shortcuts. The post's np.where(s < 0.5, 0, 1)
     * predicts 1 for a NaN. */
    double x[] = {1, 2, 3, 4}, y[] = {1, 0}, w[] = {NAN, 1};
    ml_dataset *ds = dataset(2, 2, x, y);
    mdl *m = make(2, 1e-6);
    mdl_eval ev = m->ops->evaluate(m, w, ds);
    cr_assert(isnan(ev.loss));
    cr_assert_eq(ev.accuracy, 0.5);
    mdl_destroy(m);
    ml_dataset_free(ds);
}

Test(mdl_logreg, empty_batch_gives_a_zero_gradient)
{
    double x[] = {1, 2}, y[] = {1}, w[] = {0.5, -0.5};
    double g[2] = {NAN, 42};
    ml_dataset *ds = dataset(1, 2, x, y);
    mdl *m = make(2, 1e-6);
    m->ops->gradient(m, g, w, ds, NULL, 0);
    cr_assert_eq(g[0], 0.0);
    cr_assert_eq(g[1], 0.0);
    mdl_destroy(m);
    ml_dataset_free(ds);
}

Test(mdl_logreg, gradient_is_the_mean_over_the_batch_rows)
{
    double x[] = {1, 2, 3, -1, 0.5, 4}, y[] = {1, 0, 1}, w[] = {0.2, -0.1};
    ml_dataset *ds = dataset(3, 2, x, y);
    mdl *m = make(2, 1e-6);
    size_t rows[] = {0, 2};
    double g[2];
    m->ops->gradient(m, g, w, ds, rows, 2);
    for (size_t j = 0; j < 2; j++) {
        double want = 0;
        for (size_t k = 0; k < 2; k++) {
            const double *xi = x + 2 * rows[k];
            double z = xi[0] * w[0] + xi[1] * w[1];
            want += -(y[rows[k]] - 1 / (exp(-z) + 1 + 1e-6)) * xi[j] / 2;
        }
        cr_assert_lt(fabs(g[j] - want), 1e-15, "%zu: %g vs %g", j, g[j], want);
    }
    mdl_destroy(m);
    ml_dataset_free(ds);
}

Test(mdl_logreg, init_uniform_draws_in_the_half_open_range)
{
    gsl_rng *r1 = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng *r2 = gsl_rng_alloc(gsl_rng_mt19937);
    double w[1000];
    mdl_init_uniform(w, 1000, -1, 1, r1);
    double lo = 1, hi = -1;
    for (size_t i = 0; i < 1000; i++) {
        cr_assert(w[i] >= -1 && w[i] < 1);
        cr_assert_eq(w[i], -1 + 2 * gsl_rng_uniform(r2));
        lo = fmin(lo, w[i]);
        hi = fmax(hi, w[i]);
    }
    cr_assert(lo < -0.9 && hi > 0.9);
    gsl_rng_free(r1);
    gsl_rng_free(r2);
}

Test(mdl_logreg, init_params_is_init_uniform_over_the_options_range)
{
    gsl_rng *r1 = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng *r2 = gsl_rng_alloc(gsl_rng_mt19937);
    mdl *m = NULL;
    sim_err err = {0};
    mdl_opts o = {.d = 31, .sigmoid_eps = 1e-6, .init_low = -1, .init_high = 1};
    cr_assert_eq(mdl_create("logreg", &o, &m, &err), 0, "%s", err.msg);
    cr_assert_null(m->ops->init);
    cr_assert_eq(mdl_penalty(m, NULL), 0.0);
    double a[31], b[31];
    mdl_init_params(m, a, r1);
    mdl_init_uniform(b, 31, -1, 1, r2);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    mdl_destroy(m);
    /* The engine's designated initialiser names d and sigmoid_eps only:
     * the range then defaults to [-0.05, 0.05). */
    m = make(31, 1e-6);
    mdl_init_params(m, a, r1);
    for (size_t i = 0; i < 31; i++)
        cr_assert(a[i] >= -0.05 && a[i] < 0.05);
    mdl_destroy(m);
    gsl_rng_free(r1);
    gsl_rng_free(r2);
}

/* A row's logit in the model's order: four running sums over the columns
 * taken four at a time, the last columns into the first sum, then the sums
 * in pairs. */
static double reference_logit(const double *x, const double *w, size_t d)
{
    double s[4] = {0, 0, 0, 0};
    size_t j = 0;
    for (; j + 4 <= d; j += 4)
        for (int l = 0; l < 4; l++)
            s[l] += x[j + l] * w[j + l];
    for (; j < d; j++)
        s[0] += x[j] * w[j];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

/* The gradient, written as the plainest loop in the order the model
 * promises: each logit summed in four partial sums over j mod 4 (the tail
 * into the first) and added as (s0 + s1) + (s2 + s3); then, row after row,
 * grad_j += c x_j. The model works on blocks of rows with SIMD, which must
 * change nothing. */
static void reference_gradient(double *g, const double *w, const ml_dataset *ds,
                               const size_t *rows, size_t n, size_t d,
                               double eps)
{
    for (size_t j = 0; j < d; j++)
        g[j] = 0;
    for (size_t k = 0; k < n; k++) {
        const double *x = ds->X->data + rows[k] * ds->X->tda;
        double z = reference_logit(x, w, d);
        double c = 1.0 / (exp(-z) + 1.0 + eps) - ds->y[rows[k]];
        for (size_t j = 0; j < d; j++)
            g[j] += c * x[j];
    }
    double inv = 1.0 / (double)n;
    for (size_t j = 0; j < d; j++)
        g[j] *= inv;
}

Test(mdl_logreg, gradient_is_bit_identical_to_the_row_by_row_loop)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    size_t dims[] = {1, 2, 3, 4, 5, 7, 8, 31, 33};
    for (size_t a = 0; a < sizeof dims / sizeof dims[0]; a++) {
        size_t d = dims[a];
        ml_dataset *ds = random_dataset(r, 50, d);
        mdl *m = make(d, 1e-6);
        double w[33], g[33], want[33];
        size_t rows[50];
        /* Every block length 1..4 at the end, and batches with repeats. */
        for (size_t n = 1; n <= 13; n++) {
            for (size_t j = 0; j < d; j++)
                w[j] = gsl_ran_gaussian(r, n % 2 ? 0.3 : 30);
            for (size_t k = 0; k < n; k++)
                rows[k] = gsl_rng_uniform_int(r, 50);
            m->ops->gradient(m, g, w, ds, rows, n);
            reference_gradient(want, w, ds, rows, n, d, 1e-6);
            cr_assert_eq(memcmp(g, want, d * sizeof *g), 0, "d %zu, %zu rows",
                         d, n);
        }
        mdl_destroy(m);
        ml_dataset_free(ds);
    }
    gsl_rng_free(r);
}

/* evaluate's loss, written row by row in the order the model sums: the
 * logits as the gradient's reference takes them, max(t, 0) of rows labelled
 * 0 or 1 into one sum in row order, their softplus tails into another, the
 * whole row loss of other labels into the first. */
static double ref_tail(double a)
{
    if (a >= 746.0)
        return 0.0;
    return a >= 37.0 ? exp(-a) : log1p(exp(-a));
}

static mdl_eval reference_evaluate(const double *w, const ml_dataset *ds,
                                   size_t d, double eps)
{
    size_t right = 0;
    double loss = 0.0, tails = 0.0;
    for (size_t i = 0; i < ds->n; i++) {
        const double *x = ds->X->data + i * ds->X->tda;
        double z = reference_logit(x, w, d), y = ds->y[i];
        int pred = !(mdl_logreg_sigmoid(z, eps) < 0.5);
        right += (pred ? 1.0 : 0.0) == y;
        if (y == 0.0 || y == 1.0) {
            double t = y == 1.0 ? -z : z;
            loss += t > 0.0 ? t : 0.0;
            if (!(fabs(z) >= 746.0))
                tails += ref_tail(fabs(z));
        } else {
            double tail = ref_tail(fabs(z));
            double sp_neg = (z < 0 ? -z : 0.0) + tail;
            double sp_pos = (z > 0 ? z : 0.0) + tail;
            loss += y * sp_neg + (1.0 - y) * sp_pos;
        }
    }
    return (mdl_eval){.accuracy = (double)right / (double)ds->n,
                      .loss = (loss + tails) / (double)ds->n};
}

Test(mdl_logreg, evaluate_is_bit_identical_to_the_row_by_row_loop)
{
    /* Row counts around the four-row blocks and the 256-row blocks; logits
     * from tiny to past the exp shortcuts; some rows exactly on the
     * prediction window (z = z*), some NaN, some labelled neither 0 nor 1,
     * so that every path of the four-row pass and its fallback is taken. */
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    size_t ns[] = {1, 3, 4, 5, 8, 171, 255, 256, 257, 513};
    double scales[] = {1e-3, 0.3, 30, 3000};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
        for (size_t sc = 0; sc < sizeof scales / sizeof scales[0]; sc++) {
            for (int eps_i = 0; eps_i < 2; eps_i++) {
                double eps = eps_i ? 1e-6 : 0.0;
                size_t n = ns[a], d = 5;
                ml_dataset *ds = random_dataset(r, n, d);
                double w[5];
                for (size_t j = 0; j < d; j++)
                    w[j] = gsl_ran_gaussian(r, scales[sc]);
                for (size_t i = 0; i < n; i++) {
                    double u = gsl_rng_uniform(r);
                    double *x = ds->X->data + i * ds->X->tda;
                    if (u < 0.05) { /* z = z* exactly: x = (z*, 0, ...) */
                        for (size_t j = 0; j < d; j++)
                            x[j] = 0.0;
                        x[0] = -log1p(-eps) / w[0];
                    } else if (u < 0.08 && a % 2) {
                        x[1] = NAN; /* half the sizes: the loss is NaN */
                    } else if (u < 0.12) {
                        ds->y[i] = u < 0.10 ? 0.25 : 2.0;
                    }
                }
                mdl *m = make(d, eps);
                mdl_eval got = m->ops->evaluate(m, w, ds);
                mdl_eval want = reference_evaluate(w, ds, d, eps);
                cr_assert_eq(
                    memcmp(&got.accuracy, &want.accuracy, sizeof got.accuracy),
                    0, "n %zu scale %g eps %g: accuracy %.17g vs %.17g", n,
                    scales[sc], eps, got.accuracy, want.accuracy);
                cr_assert_eq(memcmp(&got.loss, &want.loss, sizeof got.loss), 0,
                             "n %zu scale %g eps %g: loss %.17g vs %.17g", n,
                             scales[sc], eps, got.loss, want.loss);
                mdl_destroy(m);
                ml_dataset_free(ds);
            }
        }
    }
    gsl_rng_free(r);
}
