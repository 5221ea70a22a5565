/* test_evaluator.c: evaluation on a second thread (sim/run/evaluator.c) and
 * the bound that lets the engine use it (mdl_ops.finite_below). The thread
 * may change when a result is computed, never what it is: every comparison
 * here is bit for bit. */
#include <criterion/criterion.h>
#include <float.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/ml/model.h"
#include "sim/run/engine.h"
#include "sim/run/evaluator.h"
#include "sim/run/runner.h"

static mdl *make_logreg(size_t d)
{
    mdl *m = NULL;
    sim_err err = {0};
    mdl_opts o = {.d = d, .sigmoid_eps = 1e-6};
    cr_assert_eq(mdl_create("logreg", &o, &m, &err), 0, "%s", err.msg);
    return m;
}

static ml_dataset *random_dataset(gsl_rng *r, size_t n, size_t d, double scale)
{
    ml_dataset *ds = calloc(1, sizeof *ds);
    ds->n = n;
    ds->d = d;
    ds->X = gsl_matrix_alloc(n, d);
    ds->y = malloc(n * sizeof *ds->y);
    for (size_t i = 0; i < n * d; i++)
        ds->X->data[i] = scale * gsl_ran_gaussian(r, 1.0);
    for (size_t i = 0; i < n; i++)
        ds->y[i] = (double)gsl_rng_uniform_int(r, 2);
    return ds;
}

static int same_double(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* 3000 evaluations through the slots: the ring wraps several times,
 * results come back in order with their tags, and each equals evaluating on
 * this thread. Collecting alternates between waiting and polling, and
 * sometimes lets the ring fill up first, so that the collector evaluates
 * too, the oldest or the newest pending ones, beside the thread. */
Test(evaluator, results_are_in_order_and_equal_the_direct_ones)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    const size_t d = 31, n_evals = 3000;
    ml_dataset *test = random_dataset(r, 171, d, 1.0);
    ml_dataset *train = random_dataset(r, 398, d, 1.0);
    mdl *m = make_logreg(d);
    double *ws = malloc(n_evals * d * sizeof *ws);
    for (size_t i = 0; i < n_evals * d; i++)
        ws[i] = gsl_ran_gaussian(r, 1.0 + (double)(i / d % 7));
    evaluator *e = evaluator_create(m, test, train, d);
    cr_assert_not_null(e);
    size_t next = 0, sent = 0;
    ev_result res;
    while (next < n_evals) {
        if (sent < n_evals && !evaluator_full(e)) {
            evaluator_submit(e, 7 * sent, ws + sent * d);
            sent++;
            if (sent % 5)
                continue;
        }
        int wait = next % 3 == 0 || sent == n_evals;
        if (!evaluator_next(e, wait, &res)) {
            cr_assert(!wait || next == sent, "nothing with wait at %zu", next);
            continue;
        }
        cr_assert_eq(res.tag, 7 * next);
        const double *w = ws + next * d;
        mdl_eval want = m->ops->evaluate(m, w, test);
        double want_train = m->ops->evaluate(m, w, train).loss;
        cr_assert(same_double(res.test.accuracy, want.accuracy));
        cr_assert(same_double(res.test.loss, want.loss), "%zu: %.17g vs %.17g",
                  next, res.test.loss, want.loss);
        cr_assert(same_double(res.train_loss, want_train));
        next++;
    }
    cr_assert_eq(evaluator_next(e, 1, &res), 0, "nothing is pending");
    evaluator_destroy(e);
    free(ws);
    mdl_destroy(m);
    ml_dataset_free(test);
    ml_dataset_free(train);
    gsl_rng_free(r);
}

Test(evaluator, full_after_every_slot_is_taken_and_train_loss_nan_without_train)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    ml_dataset *test = random_dataset(r, 10, 3, 1.0);
    mdl *m = make_logreg(3);
    evaluator *e = evaluator_create(m, test, NULL, 3);
    cr_assert_not_null(e);
    double w[3] = {0.5, -1, 2};
    size_t n = 0;
    while (!evaluator_full(e)) {
        evaluator_submit(e, n++, w);
        cr_assert_lt(n, 100000, "never full");
    }
    cr_assert_geq(n, 2, "one slot is no pipeline");
    ev_result res;
    cr_assert_eq(evaluator_next(e, 1, &res), 1);
    cr_assert(isnan(res.train_loss));
    cr_assert_eq(evaluator_full(e), 0, "a collected slot is free again");
    /* Destroying with results pending drops them. */
    evaluator_destroy(e);
    mdl_destroy(m);
    ml_dataset_free(test);
    gsl_rng_free(r);
}

/* The bound is a promise: at max|w_j| = B, with the signs that make every
 * logit as large as it can be (w_j = +-B along one row, then the other
 * sign), the loss is finite. Data from unit scale to 1e150, 1 to 40
 * features, 1 to 300 rows. */
Test(finite_below, the_loss_is_finite_at_the_bound)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 11);
    double scales[] = {1e-3, 1, 1e3, 1e50, 1e150};
    size_t dims[] = {1, 2, 5, 31, 40}, rows[] = {1, 7, 300};
    for (size_t a = 0; a < 5; a++)
        for (size_t b = 0; b < 5; b++)
            for (size_t c = 0; c < 3; c++) {
                size_t d = dims[b], n = rows[c];
                ml_dataset *ds = random_dataset(r, n, d, scales[a]);
                mdl *m = make_logreg(d);
                double bound = m->ops->finite_below(m, ds);
                cr_assert(bound > 0 && isfinite(bound), "bound %g", bound);
                double *w = malloc(d * sizeof *w);
                for (size_t i = 0; i < n; i++)
                    for (int sign = -1; sign <= 1; sign += 2) {
                        for (size_t j = 0; j < d; j++)
                            w[j] = gsl_matrix_get(ds->X, i, j) >= 0
                                       ? sign * bound
                                       : -sign * bound;
                        mdl_eval ev = m->ops->evaluate(m, w, ds);
                        cr_assert(isfinite(ev.loss),
                                  "scale %g, d %zu, n %zu, row %zu: %g",
                                  scales[a], d, n, i, ev.loss);
                    }
                free(w);
                mdl_destroy(m);
                ml_dataset_free(ds);
            }
    gsl_rng_free(r);
}

/* Not a vacuous bound: on the post's data it allows any weight a run that
 * has not diverged could reach, and a large enough w does make the loss
 * infinite, so a bound is needed at all. */
Test(finite_below, is_far_above_real_weights_and_below_overflow)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    ml_dataset *ds = random_dataset(r, 171, 31, 1000.0);
    mdl *m = make_logreg(31);
    double bound = m->ops->finite_below(m, ds);
    cr_assert_gt(bound, 1e290);
    double w[31];
    for (size_t j = 0; j < 31; j++)
        w[j] = gsl_matrix_get(ds->X, 0, j) >= 0 ? DBL_MAX / 4 : -DBL_MAX / 4;
    cr_assert(!isfinite(m->ops->evaluate(m, w, ds).loss));
    mdl_destroy(m);
    ml_dataset_free(ds);
    gsl_rng_free(r);
}

Test(finite_below, is_zero_for_data_that_is_not_finite)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    double bad[] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++) {
        for (int in_label = 0; in_label < 2; in_label++) {
            ml_dataset *ds = random_dataset(r, 20, 4, 1.0);
            if (in_label)
                ds->y[13] = bad[k];
            else
                gsl_matrix_set(ds->X, 13, 2, bad[k]);
            mdl *m = make_logreg(4);
            cr_assert_eq(m->ops->finite_below(m, ds), 0.0, "%g in %s", bad[k],
                         in_label ? "a label" : "a feature");
            mdl_destroy(m);
            ml_dataset_free(ds);
        }
    }
    gsl_rng_free(r);
}

/* ---- Through the engine -------------------------------------------------- */

typedef struct run {
    rn_job job;
    eng_output out;
} run;

static void run_config(run *r, const char *path, const char *lr,
                       const char *train_loss, int thread)
{
    cfg_override ov[3];
    size_t n_ov = 0;
    if (lr)
        ov[n_ov++] = (cfg_override){"algorithm.lr", lr};
    if (lr)
        ov[n_ov++] = (cfg_override){"algorithm.rounds", "300"};
    if (train_loss)
        ov[n_ov++] = (cfg_override){"evaluation.train_loss", train_loss};
    sim_err err = {0};
    cr_assert_eq(rn_job_prepare(&r->job, path, ov, n_ov, &err), 0, "%s",
                 err.msg);
    eng_hooks hooks = {.eval_thread = thread};
    cr_assert_eq(eng_run_hooked(r->job.cfg, r->job.ops, &r->job.data, &hooks,
                                &r->out, &err),
                 0, "%s", err.msg);
}

static void run_free(run *r)
{
    eng_output_free(&r->out);
    rn_job_free(&r->job);
}

static void assert_same_runs(const run *a, const run *b, const char *what)
{
    cr_assert_eq(a->out.status, b->out.status, "%s", what);
    cr_assert_str_eq(a->out.error, b->out.error, "%s", what);
    cr_assert(same_double(a->out.final_accuracy, b->out.final_accuracy));
    cr_assert(same_double(a->out.final_loss, b->out.final_loss));
    cr_assert_eq(a->out.steps, b->out.steps, "%s", what);
    cr_assert_eq(a->out.n_metrics, b->out.n_metrics, "%s", what);
    cr_assert_eq(memcmp(a->out.metrics, b->out.metrics,
                        a->out.n_metrics * sizeof *a->out.metrics),
                 0, "%s: metrics rows differ", what);
}

/* The post's four runs, with and without the train loss. */
Test(engine_eval_thread, gives_the_rows_of_evaluating_in_line, .timeout = 120)
{
    const char *algs[] = {"ssgd", "ma", "bmuf", "easgd"};
    const char *train[] = {"false", "true"};
    for (size_t a = 0; a < 4; a++)
        for (size_t t = 0; t < 2; t++) {
            char path[64], what[96];
            snprintf(path, sizeof path, "configs/seed/%s.json", algs[a]);
            snprintf(what, sizeof what, "%s, train_loss %s", algs[a], train[t]);
            run in_line, threaded;
            run_config(&in_line, path, NULL, train[t], 0);
            run_config(&threaded, path, NULL, train[t], 1);
            cr_assert_gt(in_line.out.n_metrics, 100, "%s", what);
            assert_same_runs(&in_line, &threaded, what);
            run_free(&in_line);
            run_free(&threaded);
        }
}

/* Runs that diverge, by a model that stops being finite or by a finite
 * model whose loss overflows: the threaded run stops at the same step with
 * the same rows. Learning rates from harmless to absurd reach both. */
Test(engine_eval_thread, stops_a_diverging_run_at_the_same_step, .timeout = 120)
{
    const char *lrs[] = {"0.1",   "1e280", "1e290", "1e295", "1e298",
                         "1e300", "1e302", "1e305", "1e308"};
    int model_nan = 0, loss_inf = 0;
    for (size_t i = 0; i < sizeof lrs / sizeof lrs[0]; i++) {
        for (int t = 0; t < 2; t++) {
            run in_line, threaded;
            run_config(&in_line, "configs/seed/ssgd.json", lrs[i],
                       t ? "true" : "false", 0);
            run_config(&threaded, "configs/seed/ssgd.json", lrs[i],
                       t ? "true" : "false", 1);
            char what[64];
            snprintf(what, sizeof what, "lr %s", lrs[i]);
            assert_same_runs(&in_line, &threaded, what);
            model_nan += strstr(in_line.out.error, "model not finite") != NULL;
            loss_inf += strstr(in_line.out.error, "loss not finite") != NULL;
            run_free(&in_line);
            run_free(&threaded);
        }
    }
    cr_assert_gt(model_nan, 0, "no run had a model that is not finite");
    cr_assert_gt(loss_inf, 0,
                 "no run had a finite model with an infinite loss");
}
