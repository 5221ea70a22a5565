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
    /* Length of the flat parameter block: d for logreg, whose bias is a data
     * column; sum over layers of out (in + 1) for softmax and mlp, which keep
     * their own biases. */
    size_t (*n_params)(const mdl *m);
    /* FLOPs of forward + backward for one example. */
    double (*flops_per_sample)(const mdl *m);
    /* grad = mean gradient of the loss over rows[0..n_rows-1] of ds at w,
     * plus the penalty's gradient; all zero when n_rows is 0. Never
     * allocates. Panics (a bug, not an input error) when ds's dimension is
     * not the model's or a label is outside 0..n_classes-1: the caller
     * checks labels once, at load (ml_dataset_n_classes). */
    void (*gradient)(mdl *m, double *grad, const double *w,
                     const ml_dataset *ds, const size_t *rows, size_t n_rows);
    /* Accuracy and mean loss of w over all rows of ds. */
    mdl_eval (*evaluate)(mdl *m, const double *w, const ml_dataset *ds);
    void (*destroy)(mdl *m);
    /* Optional (NULL: uniform in [init_low, init_high) of the options, or
     * [-0.05, 0.05) when both are 0). Fills w[0..n_params-1] as the options'
     * init asks, drawing only from rng. Call through mdl_init_params. */
    void (*init)(const mdl *m, double *w, gsl_rng *rng);
    /* Optional (NULL: no penalty). The regularisation term that gradient
     * adds the gradient of and evaluate leaves out, so the objective whose
     * gradient `gradient` returns is evaluate(rows).loss + penalty(w). */
    double (*penalty)(const mdl *m, const double *w);
    /* Optional (NULL: none). A bound B such that evaluate(w, ds) certainly
     * returns a finite loss whenever every |w_j| <= B; 0 when there is no
     * such bound (ds holds a value that is not finite). A model that has it
     * also promises that evaluate reads nothing that gradient or init
     * writes and may run on two threads at once, so the engine may evaluate
     * copies of w on another thread while the run goes on and still stop a
     * diverging run at the exact step: it waits for the loss only when w is
     * beyond the bound. */
    double (*finite_below)(const mdl *m, const ml_dataset *ds);
} mdl_ops;

/* Hidden-layer activation of the MLP. */
typedef enum mdl_act {
    MDL_ACT_RELU = 0, /* max(z, 0); the default */
    MDL_ACT_TANH = 1,
} mdl_act;

/* How mdl_init_params fills a parameter block. */
typedef enum mdl_init_kind {
    /* The model's own choice: logreg and softmax uniform in
     * [init_low, init_high); the MLP He for ReLU, Xavier for tanh. */
    MDL_INIT_DEFAULT = 0,
    MDL_INIT_UNIFORM = 1, /* weights and biases in [init_low, init_high) */
    /* Weights uniform in +-sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio,
     * 2010), biases 0. */
    MDL_INIT_XAVIER = 2,
    /* Weights Gaussian with sd sqrt(2 / fan_in) (He et al., 2015), biases 0. */
    MDL_INIT_HE = 3,
} mdl_init_kind;

/* Hidden layers an MLP may have. */
#define MDL_MAX_HIDDEN 8

/* Model options from the config. Every field beyond d has a default at 0, so
 * a designated initialiser that names only d and sigmoid_eps (as the engine
 * does for logreg) keeps its meaning. */
struct mdl_opts {
    size_t d;           /* input dimension, bias column included */
    double sigmoid_eps; /* logreg: sigmoid(z) = 1 / (exp(-z) + 1 + eps) */
    /* softmax, mlp: labels are 0..n_classes-1; 0 means 2. */
    size_t n_classes;
    /* mlp: hidden[0..n_hidden-1] units per hidden layer, input side first;
     * n_hidden = 0 means one layer of MDL_DEFAULT_HIDDEN units. */
    size_t n_hidden;
    size_t hidden[MDL_MAX_HIDDEN];
    mdl_act activation; /* mlp */
    /* softmax, mlp: penalty l2/2 |W|^2 + l1 |W|_1 over the weights (never
     * the biases) added to the mean loss; 0 = none. logreg rejects them. */
    double l2, l1;
    mdl_init_kind init;
    /* MDL_INIT_UNIFORM (and the default of logreg and softmax): the range;
     * both 0 means [-0.05, 0.05). */
    double init_low, init_high;
};

#define MDL_DEFAULT_HIDDEN 128

struct mdl {
    const mdl_ops *ops;
    mdl_opts opts; /* as given to mdl_create, which fills it in */
};

/* Creates the model named `name` ("logreg", "softmax", "mlp"). SIM_ECONFIG
 * for an unknown name (the message lists the known ones) or options the model
 * rejects (d = 0; for logreg a negative or non-finite sigmoid_eps, or l1/l2;
 * for softmax and mlp n_classes = 1, a negative or non-finite l1/l2, an
 * unknown activation or init, a hidden layer of 0 units or more than
 * MDL_MAX_HIDDEN layers; init_low > init_high), SIM_ENOMEM when
 * out of memory; *out is NULL then. */
int mdl_create(const char *name, const mdl_opts *opts, mdl **out, sim_err *err);
void mdl_destroy(mdl *m); /* NULL-safe */

/* Names of the models, NULL-terminated, for `dtsim list`. */
extern const mdl_ops *const mdl_registry[];

/* Binary logistic regression, as the post: n_params = d. */
extern const mdl_ops mdl_logreg_ops;

/* Softmax regression over n_classes: n_params = n_classes (d + 1). */
extern const mdl_ops mdl_softmax_ops;
/* Multi-layer perceptron, softmax cross-entropy output. */
extern const mdl_ops mdl_mlp_ops;

/* Config names, indexed by the enums and NULL-terminated: "relu", "tanh";
 * "default", "uniform", "xavier", "he". */
extern const char *const mdl_act_names[];
extern const char *const mdl_init_names[];

/* Index of name in a NULL-terminated names table, or -1. */
int mdl_name_index(const char *const *names, const char *name);

/* Initialises w[0..n_params-1] as m's options ask (see mdl_init_kind). The
 * draws come from rng only, so a stream gives the same parameters on every
 * machine. */
void mdl_init_params(const mdl *m, double *w, gsl_rng *rng);

/* The penalty of w (0 for a model without one). */
double mdl_penalty(const mdl *m, const double *w);

/* Fills w[0..n-1] uniformly in [low, high) from rng. */
void mdl_init_uniform(double *w, size_t n, double low, double high,
                      gsl_rng *rng);

/* The logistic regression kernel, exposed for tests. */
double mdl_logreg_sigmoid(double z, double eps);

#endif
