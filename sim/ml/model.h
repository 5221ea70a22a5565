/* model.h: the interface every model implements.
 *
 * Models are pure math on a flat parameter block (one contiguous double
 * array of n_params values): no clock, no network. The engine and the
 * algorithms see a model only through mdl_ops.
 * Ownership: a model object is created with mdl_create and freed with
 * mdl_destroy; it borrows nothing after creation. Scratch memory a model needs
 * is its own, so a model object must not be shared between threads. */
#ifndef DTSIM_MODEL_H
#define DTSIM_MODEL_H

#include <gsl/gsl_rng.h>
#include <stddef.h>

#include "../core/err.h"
#include "dataset.h"

typedef struct mdl mdl;

typedef struct mdl_eval {
    double accuracy; /* fraction of rows predicted right */
    double loss;     /* mean loss over the rows */
} mdl_eval;

typedef struct mdl_opts mdl_opts;

typedef struct mdl_ops {
    const char *name;
    const char *summary;
    /* Called by mdl_create once it has checked opts->d >= 1; the same
     * errors and the same *out convention as mdl_create. */
    int (*create)(const mdl_opts *opts, mdl **out, sim_err *err);
    /* Parameters for inputs of dimension d (bias included in d). */
    size_t (*n_params)(const mdl *m);
    /* FLOPs of forward + backward for one example. */
    double (*flops_per_sample)(const mdl *m);
    /* grad = mean gradient of the loss over rows[0..n_rows-1] of ds at w;
     * all zero when n_rows is 0. */
    void (*gradient)(mdl *m, double *grad, const double *w,
                     const ml_dataset *ds, const size_t *rows, size_t n_rows);
    /* Accuracy and mean loss of w over all rows of ds. */
    mdl_eval (*evaluate)(mdl *m, const double *w, const ml_dataset *ds);
    void (*destroy)(mdl *m);
} mdl_ops;

struct mdl {
    const mdl_ops *ops;
};

/* Model options from the config. */
struct mdl_opts {
    size_t d;           /* input dimension, bias column included */
    double sigmoid_eps; /* logreg: sigmoid(z) = 1 / (exp(-z) + 1 + eps) */
};

/* Creates the model named `name` ("logreg"). SIM_ECONFIG for an unknown
 * name (the message lists the known ones) or options the model rejects
 * (d = 0; for logreg a negative or non-finite sigmoid_eps), SIM_ENOMEM when
 * out of memory; *out is NULL then. */
int mdl_create(const char *name, const mdl_opts *opts, mdl **out,
               sim_err *err);
void mdl_destroy(mdl *m); /* NULL-safe */

/* Names of the models, NULL-terminated, for `dtsim list`. */
extern const mdl_ops *const mdl_registry[];

/* Binary logistic regression, as the post: n_params = d. */
extern const mdl_ops mdl_logreg_ops;

/* Fills w[0..n-1] uniformly in [low, high) from rng. */
void mdl_init_uniform(double *w, size_t n, double low, double high,
                      gsl_rng *rng);

/* The logistic regression kernel, exposed for tests. */
double mdl_logreg_sigmoid(double z, double eps);

#endif
