/* test_softmax.c: softmax regression, against finite differences and on the
 * 8x8 digits. */
#include <criterion/criterion.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/ml/dataset.h"
#include "sim/ml/model.h"
#include "support.h"

static mdl *make(const mdl_opts *o)
{
    mdl *m = NULL;
    sim_err err = {0};
    cr_assert_eq(mdl_create("softmax", o, &m, &err), 0, "%s", err.msg);
    return m;
}

static ml_dataset *random_dataset(gsl_rng *r, size_t n, size_t d, size_t C)
{
    ml_dataset *ds = malloc(sizeof *ds);
    ds->n = n;
    ds->d = d;
    ds->X = gsl_matrix_alloc(n, d);
    ds->y = malloc(n * sizeof *ds->y);
    for (size_t i = 0; i < n * d; i++)
        ds->X->data[i] = gsl_ran_gaussian(r, 1.0);
    for (size_t i = 0; i < n; i++)
        ds->y[i] = (double)gsl_rng_uniform_int(r, C);
    return ds;
}

/* The objective whose gradient `gradient` returns: mean loss over rows plus
 * the penalty. */
static double objective(mdl *m, const double *w, const ml_dataset *ds,
                        const size_t *rows, size_t n)
{
    ml_dataset *sub = ml_dataset_subset(ds, rows, n);
    double f = m->ops->evaluate(m, w, sub).loss + mdl_penalty(m, w);
    ml_dataset_free(sub);
    return f;
}

/* Central differences with h = 1e-5: the truncation error is h^2 f'''/6,
 * ~1e-11 for these O(1) smooth objectives, and the rounding error
 * ~1e-16 |f| / h ~ 1e-11, so a correct gradient agrees to ~1e-10. A wrong
 * term (a missing 1/n, a transposed view, a dropped penalty) is off by
 * O(0.01..1). Tolerance 1e-7 absolute + 1e-6 relative leaves three orders of
 * margin on both sides. */
static void check_gradient(mdl *m, const ml_dataset *ds, const size_t *rows,
                           size_t n, gsl_rng *r)
{
    size_t P = m->ops->n_params(m);
    double *w = malloc(P * sizeof *w), *g = malloc(P * sizeof *g);
    for (size_t k = 0; k < P; k++)
        w[k] = gsl_ran_gaussian(r, 0.5);
    m->ops->gradient(m, g, w, ds, rows, n);
    const double h = 1e-5;
    for (size_t k = 0; k < P; k++) {
        double keep = w[k];
        w[k] = keep + h;
        double fp = objective(m, w, ds, rows, n);
        w[k] = keep - h;
        double fm = objective(m, w, ds, rows, n);
        w[k] = keep;
        double fd = (fp - fm) / (2 * h);
        cr_assert(fabs(fd - g[k]) <= 1e-7 + 1e-6 * fabs(fd),
                  "%s param %zu of %zu: gradient %.12g, differences %.12g",
                  m->ops->name, k, P, g[k], fd);
    }
    free(w);
    free(g);
}

Test(mdl_softmax, is_created_by_name_with_c_times_d_plus_1_parameters)
{
    mdl *m = make(&(mdl_opts){.d = 64, .n_classes = 10});
    cr_assert_eq(m->ops, &mdl_softmax_ops);
    cr_assert_eq(m->ops->n_params(m), 10 * 65);
    cr_assert_eq(m->ops->flops_per_sample(m), 4.0 * 64 * 10);
    mdl_destroy(m);
    m = make(&(mdl_opts){.d = 3}); /* n_classes 0 means 2 */
    cr_assert_eq(m->ops->n_params(m), 2 * 4);
    mdl_destroy(m);
}

Test(mdl_softmax, create_rejects_bad_options)
{
    mdl *m = (mdl *)1;
    sim_err err = {0};
    cr_assert_eq(
        mdl_create("softmax", &(mdl_opts){.d = 3, .n_classes = 1}, &m, &err),
        SIM_ECONFIG);
    cr_assert_null(m);
    cr_assert(strstr(err.msg, "n_classes"), "%s", err.msg);
    cr_assert_eq(mdl_create("softmax", &(mdl_opts){.d = 3, .l2 = -1}, &m, &err),
                 SIM_ECONFIG);
    cr_assert_eq(
        mdl_create("softmax", &(mdl_opts){.d = 3, .l1 = NAN}, &m, &err),
        SIM_ECONFIG);
    cr_assert_eq(mdl_create("softmax",
                            &(mdl_opts){.d = 3, .n_hidden = 1, .hidden = {4}},
                            &m, &err),
                 SIM_ECONFIG);
    cr_assert(strstr(err.msg, "hidden"), "%s", err.msg);
    cr_assert_eq(mdl_create("softmax",
                            &(mdl_opts){.d = 3, .init_low = 1, .init_high = 0},
                            &m, &err),
                 SIM_ECONFIG);
    cr_assert_eq(mdl_create("logreg", &(mdl_opts){.d = 3, .l2 = 0.1}, &m, &err),
                 SIM_ECONFIG);
    cr_assert_null(m);
}

Test(mdl_softmax, gradient_matches_central_differences_in_several_shapes)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 11);
    struct {
        size_t n, d, C;
        double l2, l1;
    } cases[] = {{1, 1, 2, 0, 0},
                 {7, 3, 2, 0, 0},
                 {9, 5, 4, 0.3, 0},
                 {6, 4, 3, 0, 0.2},
                 {12, 6, 10, 0.1, 0.05}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        ml_dataset *ds =
            random_dataset(r, cases[t].n + 3, cases[t].d, cases[t].C);
        /* Rows out of order and not consecutive: the gathered path. */
        size_t rows[32];
        for (size_t i = 0; i < cases[t].n; i++)
            rows[i] = (i * 7 + 2) % (cases[t].n + 3);
        mdl *m = make(&(mdl_opts){.d = cases[t].d,
                                  .n_classes = cases[t].C,
                                  .l2 = cases[t].l2,
                                  .l1 = cases[t].l1});
        check_gradient(m, ds, rows, cases[t].n, r);
        mdl_destroy(m);
        ml_dataset_free(ds);
    }
    gsl_rng_free(r);
}

Test(mdl_softmax, gradient_over_several_blocks_matches_central_differences)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 12);
    /* Several blocks (of 64 rows), consecutive: ds's own rows. */
    ml_dataset *ds = random_dataset(r, 600, 3, 3);
    size_t rows[600];
    for (size_t i = 0; i < 600; i++)
        rows[i] = i;
    mdl *m = make(&(mdl_opts){.d = 3, .n_classes = 3, .l2 = 0.01});
    check_gradient(m, ds, rows, 600, r);
    mdl_destroy(m);
    ml_dataset_free(ds);
    gsl_rng_free(r);
}

Test(mdl_softmax, gathered_and_consecutive_rows_give_the_same_gradient)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 13);
    ml_dataset *ds = random_dataset(r, 40, 5, 4);
    mdl *m = make(&(mdl_opts){.d = 5, .n_classes = 4});
    size_t P = m->ops->n_params(m);
    double w[24], g1[24], g2[24];
    cr_assert_eq(P, 24);
    for (size_t k = 0; k < P; k++)
        w[k] = gsl_ran_gaussian(r, 1);
    size_t rows[20], rev[20];
    for (size_t i = 0; i < 20; i++) {
        rows[i] = 10 + i;
        rev[i] = 29 - i;
    }
    m->ops->gradient(m, g1, w, ds, rows, 20);
    m->ops->gradient(m, g2, w, ds, rev, 20);
    for (size_t k = 0; k < P; k++)
        cr_assert(fabs(g1[k] - g2[k]) <= 1e-14, "param %zu: %.17g vs %.17g", k,
                  g1[k], g2[k]);
    m->ops->gradient(m, g1, w, ds, rows, 0);
    for (size_t k = 0; k < P; k++)
        cr_assert_eq(g1[k], 0.0);
    mdl_destroy(m);
    ml_dataset_free(ds);
    gsl_rng_free(r);
}

Test(mdl_softmax, zero_weights_give_log_c_loss_and_predict_class_0)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 14);
    ml_dataset *ds = random_dataset(r, 500, 4, 5);
    mdl *m = make(&(mdl_opts){.d = 4, .n_classes = 5});
    double w[25] = {0};
    mdl_eval e = m->ops->evaluate(m, w, ds);
    size_t zeros = 0;
    for (size_t i = 0; i < ds->n; i++)
        zeros += ds->y[i] == 0;
    cr_assert(fabs(e.loss - log(5.0)) < 1e-12, "loss %.17g", e.loss);
    cr_assert_eq(e.accuracy, (double)zeros / 500.0);
    mdl_destroy(m);
    ml_dataset_free(ds);
    gsl_rng_free(r);
}

Test(mdl_softmax, default_init_is_uniform_in_the_given_range)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 15);
    mdl *m = make(&(mdl_opts){.d = 10, .n_classes = 3});
    double w[33];
    mdl_init_params(m, w, r);
    for (size_t k = 0; k < 33; k++)
        cr_assert(w[k] >= -0.05 && w[k] < 0.05, "w[%zu] = %g", k, w[k]);
    mdl_destroy(m);
    m = make(
        &(mdl_opts){.d = 10, .n_classes = 3, .init_low = 2, .init_high = 3});
    mdl_init_params(m, w, r);
    for (size_t k = 0; k < 33; k++)
        cr_assert(w[k] >= 2 && w[k] < 3, "w[%zu] = %g", k, w[k]);
    mdl_destroy(m);
    gsl_rng_free(r);
}

/* The digits ship gzip-compressed; a build without zlib reads them through
 * the gzip tool instead, so this test runs either way. */
static ml_dataset *load_digits(void)
{
    ml_csv_opts o = {.header = 0, .label_column = -1, .delimiter = ','};
    ml_dataset *ds = NULL;
    sim_err err = {0};
#ifdef HAVE_ZLIB
    cr_assert_eq(ml_csv_load("data/digits.csv.gz", &o, &ds, &err), 0, "%s",
                 err.msg);
#else
    char cmd[600];
    const char *dir = ts_tmpdir();
    snprintf(cmd, sizeof cmd, "gzip -dc data/digits.csv.gz > %s/digits.csv",
             dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "%s/digits.csv", dir);
    cr_assert_eq(ml_csv_load(cmd, &o, &ds, &err), 0, "%s", err.msg);
#endif
    cr_assert_eq(ds->n, 1797);
    cr_assert_eq(ds->d, 64);
    return ds;
}

Test(mdl_softmax, reaches_90_percent_test_accuracy_on_the_digits,
     .timeout = 120)
{
    ml_dataset *all = load_digits();
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 2026);
    size_t *tr, *te, ntr, nte;
    sim_err err = {0};
    cr_assert_eq(ml_split_random(all->n, 0.3, r, &tr, &ntr, &te, &nte, &err),
                 0);
    ml_dataset *train = ml_dataset_subset(all, tr, ntr);
    ml_dataset *test = ml_dataset_subset(all, te, nte);
    ml_dataset_scale_minmax(train, test);
    mdl *m = make(&(mdl_opts){.d = 64, .n_classes = 10, .l2 = 1e-4});
    size_t P = m->ops->n_params(m);
    double *w = malloc(P * sizeof *w), *g = malloc(P * sizeof *g);
    mdl_init_params(m, w, r);
    mdl_eval before = m->ops->evaluate(m, w, test);
    /* Plain mini-batch SGD: 20 epochs of shuffled batches of 32. */
    size_t *order = malloc(ntr * sizeof *order);
    for (size_t i = 0; i < ntr; i++)
        order[i] = i;
    for (int epoch = 0; epoch < 20; epoch++) {
        gsl_ran_shuffle(r, order, ntr, sizeof *order);
        for (size_t i0 = 0; i0 < ntr; i0 += 32) {
            size_t b = ntr - i0 < 32 ? ntr - i0 : 32;
            m->ops->gradient(m, g, w, train, order + i0, b);
            for (size_t k = 0; k < P; k++)
                w[k] -= 0.5 * g[k];
        }
    }
    mdl_eval after = m->ops->evaluate(m, w, test);
    cr_assert_lt(before.accuracy, 0.3);
    cr_assert_geq(after.accuracy, 0.90, "test accuracy %.4f", after.accuracy);
    cr_assert_lt(after.loss, before.loss);
    free(order);
    free(w);
    free(g);
    free(tr);
    free(te);
    mdl_destroy(m);
    ml_dataset_free(train);
    ml_dataset_free(test);
    ml_dataset_free(all);
    gsl_rng_free(r);
}
