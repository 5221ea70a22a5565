/* mlp.c: softmax regression and the multi-layer perceptron.
 *
 * Softmax regression is the MLP with no hidden layer, so both models share
 * this code and differ only in their option checks and default init: one
 * forward and one backward pass to test, and the two cannot drift apart.
 *
 * Parameters are one flat block (llm.c style) of named views, layer by layer
 * from the input side: W_l (out x in, row-major), then b_l (out). Averaging
 * and updates in the algorithms stay flat loops over n_params.
 *
 * Rows are processed in blocks of at most BLOCK rows, whose activations live
 * in scratch allocated once at create time: gradient and evaluate never
 * allocate, cannot fail, and their memory does not grow with the batch. The
 * matrix products go through cblas_dgemm, so linking an optimised CBLAS in
 * place of GSL's reference one speeds them up without a code change.
 *
 * Determinism: every reduction over rows is either inside one dgemm or an
 * explicit loop in row order here, and blocks are added in row order, so
 * the result is a function of (w, data, rows) for a given CBLAS build and
 * thread count. Creating a model pins OpenBLAS to one thread (blas.h),
 * because its rounding changes with the thread count. Different CBLAS
 * builds (reference vs OpenBLAS, or OpenBLAS's kernels for different CPUs)
 * round differently: runs are reproducible on one machine and build. */
#include <gsl/gsl_cblas.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "model.h"

/* Rows per block. With OpenBLAS on 784-128-10, blocks of 64 rows ran the
 * gradient of 256 and 1024 rows at 1.3-2x the speed of blocks of 256
 * (tools/bench_mlp): a 64-row input block (400 KB) and its activations stay
 * in L2 cache between the forward and the backward products. */
#define BLOCK 64

typedef struct layer {
    size_t in, out;
    size_t w_off; /* W: out x in, row-major, at w + w_off */
    size_t b_off; /* b: out, at w + b_off */
} layer;

typedef struct mlp {
    mdl base; /* first, so an mdl * is an mlp * */
    size_t n_layers;
    layer L[MDL_MAX_HIDDEN + 1];
    size_t n_params, d, C, max_width;
    mdl_act act;
    double l1, l2;
    int is_softmax;
    /* Scratch: A[0] the gathered input block (BLOCK x d), A[l + 1] the
     * output of layer l (BLOCK x L[l].out, activated except the last, which
     * holds logits and then probabilities); dz, dz2 BLOCK x max_width. */
    double *A[MDL_MAX_HIDDEN + 2];
    double *dz, *dz2;
    double *scratch; /* the one allocation behind A, dz, dz2 */
} mlp;

static size_t label_of(const mlp *m, const ml_dataset *ds, size_t row)
{
    double y = ds->y[row];
    if (!(y >= 0 && y < (double)m->C && y == floor(y)))
        SIM_PANIC("%s with %zu classes given label %g (row %zu)",
                  m->base.ops->name, m->C, y, row);
    return (size_t)y;
}

/* Forward pass of B rows at X (leading dimension ldx) through every layer:
 * leaves the logits in A[n_layers]. */
static void forward(mlp *m, const double *w, const double *X, size_t ldx,
                    size_t B)
{
    const double *in = X;
    size_t ld = ldx;
    for (size_t l = 0; l < m->n_layers; l++) {
        const layer *ly = &m->L[l];
        double *out = m->A[l + 1];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B,
                    (int)ly->out, (int)ly->in, 1.0, in, (int)ld, w + ly->w_off,
                    (int)ly->in, 0.0, out, (int)ly->out);
        const double *b = w + ly->b_off;
        int hidden = l + 1 < m->n_layers;
        for (size_t i = 0; i < B; i++) {
            double *o = out + i * ly->out;
            for (size_t j = 0; j < ly->out; j++)
                o[j] += b[j];
            if (!hidden)
                continue;
            if (m->act == MDL_ACT_TANH)
                for (size_t j = 0; j < ly->out; j++)
                    o[j] = tanh(o[j]);
            else
                for (size_t j = 0; j < ly->out; j++)
                    o[j] = o[j] > 0 ? o[j] : 0.0;
        }
        in = out;
        ld = ly->out;
    }
}

/* log sum exp of z[0..C-1], shifted by the max so exp never overflows. */
static double log_sum_exp(const double *z, size_t C)
{
    double mx = z[0];
    for (size_t c = 1; c < C; c++)
        mx = z[c] > mx ? z[c] : mx;
    double s = 0;
    for (size_t c = 0; c < C; c++)
        s += exp(z[c] - mx);
    return mx + log(s);
}

/* The input block of rows[0..B-1]: ds's own rows when they are consecutive
 * (a contiguous batch or partition), else a copy gathered into A[0]. */
static const double *input_block(mlp *m, const ml_dataset *ds,
                                 const size_t *rows, size_t B, size_t *ld)
{
    size_t tda = ds->X->tda;
    int consecutive = 1;
    for (size_t i = 1; i < B && consecutive; i++)
        consecutive = rows[i] == rows[0] + i;
    for (size_t i = 0; i < B; i++)
        if (rows[i] >= ds->n)
            SIM_PANIC("row %zu of %zu rows", rows[i], ds->n);
    if (consecutive) {
        *ld = tda;
        return ds->X->data + rows[0] * tda;
    }
    for (size_t i = 0; i < B; i++)
        memcpy(m->A[0] + i * m->d, ds->X->data + rows[i] * tda,
               m->d * sizeof(double));
    *ld = m->d;
    return m->A[0];
}

static void check_dim(const mlp *m, const ml_dataset *ds)
{
    if (ds->d != m->d)
        SIM_PANIC("%s of dimension %zu given data of dimension %zu",
                  m->base.ops->name, m->d, ds->d);
}

static void mlp_gradient(mdl *base, double *grad, const double *w,
                         const ml_dataset *ds, const size_t *rows,
                         size_t n_rows)
{
    mlp *m = (mlp *)base;
    check_dim(m, ds);
    memset(grad, 0, m->n_params * sizeof *grad);
    if (n_rows == 0)
        return;
    double inv_n = 1.0 / (double)n_rows;
    size_t C = m->C, top = m->n_layers - 1;
    for (size_t i0 = 0; i0 < n_rows; i0 += BLOCK) {
        size_t B = n_rows - i0 < BLOCK ? n_rows - i0 : BLOCK;
        size_t ldx;
        const double *X = input_block(m, ds, rows + i0, B, &ldx);
        forward(m, w, X, ldx, B);
        /* dLoss/dlogits of the mean loss: (softmax - one-hot) / n. */
        double *z = m->A[m->n_layers], *dz = m->dz, *dz2 = m->dz2;
        for (size_t i = 0; i < B; i++) {
            const double *zi = z + i * C;
            double *gi = dz + i * C;
            double lse = log_sum_exp(zi, C);
            for (size_t c = 0; c < C; c++)
                gi[c] = exp(zi[c] - lse) * inv_n;
            gi[label_of(m, ds, rows[i0 + i])] -= inv_n;
        }
        for (size_t l = top + 1; l-- > 0;) {
            const layer *ly = &m->L[l];
            const double *in = l ? m->A[l] : X;
            size_t ld_in = l ? ly->in : ldx;
            /* gW += dz^T in; gb += column sums of dz. */
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)ly->out,
                        (int)ly->in, (int)B, 1.0, dz, (int)ly->out, in,
                        (int)ld_in, 1.0, grad + ly->w_off, (int)ly->in);
            double *gb = grad + ly->b_off;
            for (size_t i = 0; i < B; i++)
                for (size_t j = 0; j < ly->out; j++)
                    gb[j] += dz[i * ly->out + j];
            if (l == 0)
                break;
            /* dz of the layer below: (dz W) times the activation's slope,
             * which both activations give from their output alone. */
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B,
                        (int)ly->in, (int)ly->out, 1.0, dz, (int)ly->out,
                        w + ly->w_off, (int)ly->in, 0.0, dz2, (int)ly->in);
            const double *a = m->A[l];
            size_t cnt = B * ly->in;
            if (m->act == MDL_ACT_TANH)
                for (size_t k = 0; k < cnt; k++)
                    dz2[k] *= 1.0 - a[k] * a[k];
            else
                for (size_t k = 0; k < cnt; k++)
                    dz2[k] = a[k] > 0 ? dz2[k] : 0.0;
            double *t = dz;
            dz = dz2;
            dz2 = t;
        }
    }
    if (m->l1 == 0 && m->l2 == 0)
        return;
    for (size_t l = 0; l < m->n_layers; l++) {
        const layer *ly = &m->L[l];
        const double *W = w + ly->w_off;
        double *g = grad + ly->w_off;
        for (size_t k = 0; k < ly->in * ly->out; k++) {
            /* The subgradient of |x| at 0 is taken as 0. */
            double s = (W[k] > 0) - (W[k] < 0);
            g[k] += m->l2 * W[k] + m->l1 * s;
        }
    }
}

static mdl_eval mlp_evaluate(mdl *base, const double *w, const ml_dataset *ds)
{
    mlp *m = (mlp *)base;
    check_dim(m, ds);
    if (ds->n == 0)
        return (mdl_eval){.accuracy = 0.0, .loss = 0.0};
    size_t C = m->C, tda = ds->X->tda, correct = 0;
    double loss = 0;
    for (size_t i0 = 0; i0 < ds->n; i0 += BLOCK) {
        size_t B = ds->n - i0 < BLOCK ? ds->n - i0 : BLOCK;
        forward(m, w, ds->X->data + i0 * tda, tda, B);
        const double *z = m->A[m->n_layers];
        for (size_t i = 0; i < B; i++) {
            const double *zi = z + i * C;
            size_t y = label_of(m, ds, i0 + i), best = 0;
            /* Ties go to the lowest class, as numpy's argmax. */
            for (size_t c = 1; c < C; c++)
                best = zi[c] > zi[best] ? c : best;
            correct += best == y;
            loss += log_sum_exp(zi, C) - zi[y];
        }
    }
    return (mdl_eval){.accuracy = (double)correct / (double)ds->n,
                      .loss = loss / (double)ds->n};
}

static double mlp_penalty(const mdl *base, const double *w)
{
    const mlp *m = (const mlp *)base;
    if (m->l1 == 0 && m->l2 == 0)
        return 0.0;
    double sq = 0, abs_sum = 0;
    for (size_t l = 0; l < m->n_layers; l++) {
        const layer *ly = &m->L[l];
        const double *W = w + ly->w_off;
        for (size_t k = 0; k < ly->in * ly->out; k++) {
            sq += W[k] * W[k];
            abs_sum += fabs(W[k]);
        }
    }
    return 0.5 * m->l2 * sq + m->l1 * abs_sum;
}

static void mlp_init(const mdl *base, double *w, gsl_rng *rng)
{
    const mlp *m = (const mlp *)base;
    mdl_init_kind kind = m->base.opts.init;
    double lo = m->base.opts.init_low, hi = m->base.opts.init_high;
    if (lo == 0 && hi == 0)
        lo = -0.05, hi = 0.05;
    if (kind == MDL_INIT_DEFAULT)
        kind = m->is_softmax            ? MDL_INIT_UNIFORM
               : m->act == MDL_ACT_TANH ? MDL_INIT_XAVIER
                                        : MDL_INIT_HE;
    if (kind == MDL_INIT_UNIFORM) {
        mdl_init_uniform(w, m->n_params, lo, hi, rng);
        return;
    }
    for (size_t l = 0; l < m->n_layers; l++) {
        const layer *ly = &m->L[l];
        double *W = w + ly->w_off;
        size_t n = ly->in * ly->out;
        if (kind == MDL_INIT_XAVIER) {
            double a = sqrt(6.0 / (double)(ly->in + ly->out));
            mdl_init_uniform(W, n, -a, a, rng);
        } else {
            double sd = sqrt(2.0 / (double)ly->in);
            for (size_t k = 0; k < n; k++)
                W[k] = gsl_ran_gaussian_ziggurat(rng, sd);
        }
        memset(w + ly->b_off, 0, ly->out * sizeof *w);
    }
}

static size_t mlp_n_params(const mdl *base)
{
    return ((const mlp *)base)->n_params;
}

/* The matrix products, 2 FLOPs per multiply-add: forward in x out per layer,
 * the weight gradient in x out per layer, and the input gradient in x out per
 * layer but the first (no gradient flows into the data). The elementwise
 * work is O(sum of widths), under 1% of that for 784-128-10, and left out. */
static double mlp_flops_per_sample(const mdl *base)
{
    const mlp *m = (const mlp *)base;
    double f = 0;
    for (size_t l = 0; l < m->n_layers; l++) {
        double mac = (double)m->L[l].in * (double)m->L[l].out;
        f += (l ? 6.0 : 4.0) * mac;
    }
    return f;
}

static void mlp_destroy(mdl *base)
{
    mlp *m = (mlp *)base;
    if (!m)
        return;
    free(m->scratch);
    free(m);
}

static int create(const mdl_opts *o, int is_softmax, mdl **out, sim_err *err)
{
    *out = NULL;
    const char *name = is_softmax ? "softmax" : "mlp";
    size_t C = o->n_classes ? o->n_classes : 2;
    if (C < 2)
        return sim_err_set(err, SIM_ECONFIG,
                           "model %s: n_classes must be >= 2, got %zu", name,
                           C);
    if (!(isfinite(o->l2) && o->l2 >= 0 && isfinite(o->l1) && o->l1 >= 0))
        return sim_err_set(err, SIM_ECONFIG,
                           "model %s: l1 and l2 must be finite and >= 0, got "
                           "%g and %g",
                           name, o->l1, o->l2);
    if (o->init < MDL_INIT_DEFAULT || o->init > MDL_INIT_HE)
        return sim_err_set(err, SIM_ECONFIG, "model %s: unknown init %d", name,
                           (int)o->init);
    size_t hidden[MDL_MAX_HIDDEN], n_hidden = 0;
    if (is_softmax) {
        if (o->n_hidden)
            return sim_err_set(err, SIM_ECONFIG,
                               "model softmax: has no hidden layers (got %zu; "
                               "use mlp)",
                               o->n_hidden);
    } else {
        if (o->activation != MDL_ACT_RELU && o->activation != MDL_ACT_TANH)
            return sim_err_set(err, SIM_ECONFIG,
                               "model mlp: unknown activation %d",
                               (int)o->activation);
        if (o->n_hidden > MDL_MAX_HIDDEN)
            return sim_err_set(err, SIM_ECONFIG,
                               "model mlp: at most %d hidden layers, got %zu",
                               MDL_MAX_HIDDEN, o->n_hidden);
        n_hidden = o->n_hidden ? o->n_hidden : 1;
        for (size_t l = 0; l < n_hidden; l++) {
            hidden[l] = o->n_hidden ? o->hidden[l] : MDL_DEFAULT_HIDDEN;
            if (hidden[l] == 0)
                return sim_err_set(err, SIM_ECONFIG,
                                   "model mlp: hidden layer %zu has 0 units",
                                   l + 1);
        }
    }
    mlp *m = calloc(1, sizeof *m);
    if (!m)
        return sim_err_set(err, SIM_ENOMEM, "out of memory creating %s", name);
    /* Results must not depend on the CBLAS's thread count (blas.h). */
    ml_blas_set_threads(1);
    m->base.ops = is_softmax ? &mdl_softmax_ops : &mdl_mlp_ops;
    m->is_softmax = is_softmax;
    m->d = o->d;
    m->C = C;
    m->act = o->activation;
    m->l1 = o->l1;
    m->l2 = o->l2;
    m->n_layers = n_hidden + 1;
    size_t in = o->d, off = 0, widths = o->d;
    m->max_width = C;
    for (size_t l = 0; l < m->n_layers; l++) {
        size_t w = l < n_hidden ? hidden[l] : C;
        m->L[l] =
            (layer){.in = in, .out = w, .w_off = off, .b_off = off + in * w};
        off += (in + 1) * w;
        widths += w;
        m->max_width = w > m->max_width ? w : m->max_width;
        in = w;
    }
    m->n_params = off;
    m->scratch = malloc((widths + 2 * m->max_width) * BLOCK * sizeof(double));
    if (!m->scratch) {
        free(m);
        return sim_err_set(err, SIM_ENOMEM, "out of memory creating %s", name);
    }
    double *p = m->scratch;
    m->A[0] = p;
    p += BLOCK * o->d;
    for (size_t l = 0; l < m->n_layers; l++) {
        m->A[l + 1] = p;
        p += BLOCK * m->L[l].out;
    }
    m->dz = p;
    m->dz2 = p + BLOCK * m->max_width;
    *out = &m->base;
    return 0;
}

static int softmax_create(const mdl_opts *o, mdl **out, sim_err *err)
{
    return create(o, 1, out, err);
}

static int mlp_create(const mdl_opts *o, mdl **out, sim_err *err)
{
    return create(o, 0, out, err);
}

const mdl_ops mdl_softmax_ops = {
    .name = "softmax",
    .summary = "softmax regression (labels 0..n_classes-1), cross-entropy",
    .create = softmax_create,
    .n_params = mlp_n_params,
    .flops_per_sample = mlp_flops_per_sample,
    .gradient = mlp_gradient,
    .evaluate = mlp_evaluate,
    .destroy = mlp_destroy,
    .init = mlp_init,
    .penalty = mlp_penalty,
};

const mdl_ops mdl_mlp_ops = {
    .name = "mlp",
    .summary = "multi-layer perceptron (ReLU or tanh), softmax cross-entropy",
    .create = mlp_create,
    .n_params = mlp_n_params,
    .flops_per_sample = mlp_flops_per_sample,
    .gradient = mlp_gradient,
    .evaluate = mlp_evaluate,
    .destroy = mlp_destroy,
    .init = mlp_init,
    .penalty = mlp_penalty,
};
