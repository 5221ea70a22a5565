/* test_mlp.c: the multi-layer perceptron: gradients against finite
 * differences, initialisation, and learning XOR. */
#include <criterion/criterion.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/ml/blas.h"
#include "sim/ml/dataset.h"
#include "sim/ml/model.h"

static mdl *make(const mdl_opts *o)
{
    mdl *m = NULL;
    sim_err err = {0};
    cr_assert_eq(mdl_create("mlp", o, &m, &err), 0, "%s", err.msg);
    return m;
}

static ml_dataset *random_dataset(gsl_rng *r, size_t n, size_t d, size_t C)
{
    ml_dataset *ds = ml_dataset_alloc(n, d);
    cr_assert_not_null(ds);
    for (size_t i = 0; i < n * d; i++)
        ds->X->data[i] = gsl_ran_gaussian(r, 1.0);
    for (size_t i = 0; i < n; i++)
        ds->y[i] = (double)gsl_rng_uniform_int(r, C);
    return ds;
}

static double objective(mdl *m, const double *w, const ml_dataset *ds,
                        const size_t *rows, size_t n)
{
    ml_dataset *sub = ml_dataset_subset(ds, rows, n);
    double f = m->ops->evaluate(m, w, sub).loss + mdl_penalty(m, w);
    ml_dataset_free(sub);
    return f;
}

/* Central differences with h = 1e-5, as in test_softmax.c: a correct
 * gradient agrees to ~1e-10 where the objective is smooth. ReLU and |w| have
 * kinks; the parameters are drawn at random (nonzero, and no pre-activation
 * within h of 0 for these fixed seeds), so no difference straddles one. The
 * tolerance 1e-7 + 1e-6 |fd| sits three orders above the expected error and
 * far below any wrong term. */
static void check_gradient(mdl *m, const ml_dataset *ds, const size_t *rows,
                           size_t n, gsl_rng *r)
{
    size_t P = m->ops->n_params(m);
    double *w = malloc(P * sizeof *w), *g = malloc(P * sizeof *g);
    for (size_t k = 0; k < P; k++)
        w[k] = gsl_ran_gaussian(r, 0.7);
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
                  "param %zu of %zu: gradient %.12g, differences %.12g", k, P,
                  g[k], fd);
    }
    free(w);
    free(g);
}

Test(mdl_mlp, is_created_by_name_with_the_layer_shapes)
{
    mdl *m = make(
        &(mdl_opts){.d = 784, .n_classes = 10, .n_hidden = 1, .hidden = {128}});
    cr_assert_eq(m->ops, &mdl_mlp_ops);
    cr_assert_eq(m->ops->n_params(m), 128 * 785 + 10 * 129);
    /* forward + weight gradient on both layers, input gradient on the top */
    cr_assert_eq(m->ops->flops_per_sample(m), 4.0 * 784 * 128 + 6.0 * 128 * 10);
    mdl_destroy(m);
    /* No hidden layers given: one of MDL_DEFAULT_HIDDEN units. */
    m = make(&(mdl_opts){.d = 5, .n_classes = 3});
    cr_assert_eq(m->ops->n_params(m),
                 MDL_DEFAULT_HIDDEN * 6 + 3 * (MDL_DEFAULT_HIDDEN + 1));
    mdl_destroy(m);
    m = make(&(mdl_opts){.d = 4, .n_hidden = 3, .hidden = {5, 6, 7}});
    cr_assert_eq(m->ops->n_params(m), 5 * 5 + 6 * 6 + 7 * 7 + 2 * 8);
    mdl_destroy(m);
}

Test(mdl_mlp, create_rejects_bad_options)
{
    mdl *m = (mdl *)1;
    sim_err err = {0};
    cr_assert_eq(mdl_create("mlp",
                            &(mdl_opts){.d = 3, .n_hidden = 2, .hidden = {4}},
                            &m, &err),
                 SIM_ECONFIG);
    cr_assert(strstr(err.msg, "hidden layer 2 has 0 units"), "%s", err.msg);
    cr_assert_eq(mdl_create("mlp",
                            &(mdl_opts){.d = 3, .n_hidden = MDL_MAX_HIDDEN + 1},
                            &m, &err),
                 SIM_ECONFIG);
    cr_assert_eq(
        mdl_create("mlp", &(mdl_opts){.d = 3, .activation = 7}, &m, &err),
        SIM_ECONFIG);
    cr_assert_eq(mdl_create("mlp", &(mdl_opts){.d = 3, .init = 9}, &m, &err),
                 SIM_ECONFIG);
    cr_assert_eq(
        mdl_create("mlp", &(mdl_opts){.d = 3, .n_classes = 1}, &m, &err),
        SIM_ECONFIG);
    cr_assert_null(m);
}

Test(mdl_mlp, gradient_matches_central_differences_in_several_shapes)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 21);
    struct {
        size_t n, d, C, n_hidden, hidden[3];
        mdl_act act;
        double l2, l1;
    } cases[] = {
        {1, 2, 2, 1, {3}, MDL_ACT_RELU, 0, 0},
        {6, 3, 2, 1, {4}, MDL_ACT_TANH, 0, 0},
        {8, 5, 3, 2, {6, 4}, MDL_ACT_TANH, 0.1, 0.01},
        {7, 4, 4, 2, {5, 3}, MDL_ACT_RELU, 0.05, 0},
        {10, 3, 5, 3, {4, 4, 4}, MDL_ACT_TANH, 0, 0.03},
        {5, 6, 3, 3, {5, 4, 6}, MDL_ACT_RELU, 0.2, 0.02},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        ml_dataset *ds =
            random_dataset(r, cases[t].n + 4, cases[t].d, cases[t].C);
        size_t rows[32];
        for (size_t i = 0; i < cases[t].n; i++)
            rows[i] = (i * 5 + 3) % (cases[t].n + 4);
        mdl_opts o = {.d = cases[t].d,
                      .n_classes = cases[t].C,
                      .n_hidden = cases[t].n_hidden,
                      .activation = cases[t].act,
                      .l2 = cases[t].l2,
                      .l1 = cases[t].l1};
        memcpy(o.hidden, cases[t].hidden, sizeof cases[t].hidden);
        mdl *m = make(&o);
        check_gradient(m, ds, rows, cases[t].n, r);
        mdl_destroy(m);
        ml_dataset_free(ds);
    }
    gsl_rng_free(r);
}

Test(mdl_mlp, gradient_over_several_blocks_matches_central_differences)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 22);
    ml_dataset *ds = random_dataset(r, 700, 3, 3);
    size_t rows[520];
    for (size_t i = 0; i < 520; i++)
        rows[i] = (i * 3) % 700; /* gathered, three blocks */
    mdl *m = make(&(mdl_opts){.d = 3,
                              .n_classes = 3,
                              .n_hidden = 1,
                              .hidden = {4},
                              .activation = MDL_ACT_TANH,
                              .l2 = 0.01});
    check_gradient(m, ds, rows, 520, r);
    mdl_destroy(m);
    ml_dataset_free(ds);
    gsl_rng_free(r);
}

Test(mdl_mlp, xavier_and_he_init_have_their_scales_and_zero_biases)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 23);
    /* 200 inputs, 300 hidden, 10 outputs: W1 at 0, b1 at 60000, W2 at
     * 60300, b2 at 63300. */
    mdl_opts o = {.d = 200, .n_classes = 10, .n_hidden = 1, .hidden = {300}};
    o.init = MDL_INIT_XAVIER;
    mdl *m = make(&o);
    size_t P = m->ops->n_params(m);
    cr_assert_eq(P, 63310);
    double *w = malloc(P * sizeof *w);
    mdl_init_params(m, w, r);
    double a1 = sqrt(6.0 / 500), a2 = sqrt(6.0 / 310), mx = 0;
    for (size_t k = 0; k < 60000; k++) {
        cr_assert(fabs(w[k]) <= a1);
        mx = fmax(mx, fabs(w[k]));
    }
    cr_assert_gt(mx, 0.99 * a1);
    for (size_t k = 60300; k < 63300; k++)
        cr_assert(fabs(w[k]) <= a2);
    for (size_t k = 60000; k < 60300; k++)
        cr_assert_eq(w[k], 0.0);
    mdl_destroy(m);

    /* He (the ReLU default): W1 Gaussian with variance 2 / 200. Over 60000
     * draws the sample variance has relative sd sqrt(2 / 60000) = 0.6%;
     * 5% is 8 sd. */
    o.init = MDL_INIT_DEFAULT;
    m = make(&o);
    mdl_init_params(m, w, r);
    double ss = 0;
    for (size_t k = 0; k < 60000; k++)
        ss += w[k] * w[k];
    cr_assert(fabs(ss / 60000 / (2.0 / 200) - 1) < 0.05, "var %g", ss / 60000);
    for (size_t k = 63300; k < 63310; k++)
        cr_assert_eq(w[k], 0.0);
    /* The same stream state gives the same parameters. */
    double *w2 = malloc(P * sizeof *w2);
    gsl_rng_set(r, 5);
    mdl_init_params(m, w, r);
    gsl_rng_set(r, 5);
    mdl_init_params(m, w2, r);
    cr_assert_eq(memcmp(w, w2, P * sizeof *w), 0);
    free(w2);
    free(w);
    mdl_destroy(m);
    gsl_rng_free(r);
}

Test(mdl_mlp, learns_xor)
{
    ml_dataset *ds = ml_dataset_alloc(4, 2);
    double x[8] = {0, 0, 0, 1, 1, 0, 1, 1}, y[4] = {0, 1, 1, 0};
    memcpy(ds->X->data, x, sizeof x);
    memcpy(ds->y, y, sizeof y);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 24);
    mdl *m = make(&(mdl_opts){.d = 2,
                              .n_classes = 2,
                              .n_hidden = 1,
                              .hidden = {8},
                              .activation = MDL_ACT_TANH});
    size_t P = m->ops->n_params(m), rows[4] = {0, 1, 2, 3};
    double *w = malloc(P * sizeof *w), *g = malloc(P * sizeof *g);
    mdl_init_params(m, w, r);
    /* A linear model cannot beat 3/4 on XOR; the hidden layer must. */
    for (int step = 0; step < 3000; step++) {
        m->ops->gradient(m, g, w, ds, rows, 4);
        for (size_t k = 0; k < P; k++)
            w[k] -= 0.5 * g[k];
    }
    mdl_eval e = m->ops->evaluate(m, w, ds);
    cr_assert_eq(e.accuracy, 1.0);
    cr_assert_lt(e.loss, 0.05, "loss %g", e.loss);
    free(w);
    free(g);
    mdl_destroy(m);
    ml_dataset_free(ds);
    gsl_rng_free(r);
}

Test(mdl_mlp, creating_a_model_leaves_the_cblas_on_one_thread)
{
    mdl *m = make(&(mdl_opts){.d = 3});
    char desc[512];
    ml_blas_describe(desc, sizeof desc);
    /* GSL's reference CBLAS has no threads; OpenBLAS must be pinned. */
    cr_assert(strstr(desc, "reference CBLAS, 1 thread") ||
                  (strstr(desc, "OpenBLAS") && strstr(desc, ", 1 thread (")),
              "%s", desc);
    cr_assert(strstr(desc, ".so") || strstr(desc, "(linked into the binary)"),
              "names the shared object, or says there is none: %s", desc);
    mdl_destroy(m);
}

Test(mdl_mlp, activations_and_inits_are_named_for_configs)
{
    cr_assert_eq(mdl_name_index(mdl_act_names, "relu"), MDL_ACT_RELU);
    cr_assert_eq(mdl_name_index(mdl_act_names, "tanh"), MDL_ACT_TANH);
    cr_assert_eq(mdl_name_index(mdl_act_names, "sigmoid"), -1);
    cr_assert_eq(mdl_name_index(mdl_init_names, "default"), MDL_INIT_DEFAULT);
    cr_assert_eq(mdl_name_index(mdl_init_names, "uniform"), MDL_INIT_UNIFORM);
    cr_assert_eq(mdl_name_index(mdl_init_names, "xavier"), MDL_INIT_XAVIER);
    cr_assert_eq(mdl_name_index(mdl_init_names, "he"), MDL_INIT_HE);
}
