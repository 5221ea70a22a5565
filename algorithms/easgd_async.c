/* easgd_async.c: asynchronous elastic averaging SGD (Zhang, Choromanska
 * and LeCun, 2015, Algorithm 1).
 *
 * Each worker trains its own model w_k with local SGD steps on its own
 * clock, and every tau steps exchanges with the server elastically: it
 * sends w_k; the server, holding the centre w, computes
 *   e = alpha * (w_k - w),     alpha = lr * rho,
 * moves the centre w += e, and replies with the centre as it was, from
 * which the worker takes the same e and moves w_k -= e. The worker waits
 * for the reply before its next local step. No worker waits for another.
 * Staleness of an exchange: centre updates since the worker's previous
 * exchange. One step is one exchange; algorithm.rounds is the number of
 * exchanges. */
#include <stdlib.h>
#include <string.h>

#include "alg.h"

static const cfg_param_spec params[] = {
    {.name = "rho",
     .type = CFG_PARAM_NUMBER,
     .min = 0,
     .max = 1e6,
     .def = 0.1,
     .help = "elastic penalty; alpha = lr * rho (must be < 1)"},
    {.name = "tau",
     .type = CFG_PARAM_INT,
     .min = 1,
     .max = 1e6,
     .def = 1,
     .help = "local steps between two exchanges with the server"},
};

struct alg {
    int K;
    size_t n;
    long exchanges;
    double lr, alpha;
    long tau;
    int64_t version;
    double *w, *old;         /* centre, and the centre before an exchange */
    double *wk;              /* K x n worker models */
    double *grad;            /* n scratch */
    long *left;              /* [K] local steps left before the next exchange */
    unsigned char *awaiting; /* [K] sent its model, waits for the reply */
};

static void destroy(alg *a)
{
    if (!a)
        return;
    free(a->w);
    free(a->old);
    free(a->wk);
    free(a->grad);
    free(a->left);
    free(a->awaiting);
    free(a);
}

/* The elastic move must not overshoot: alpha < 1. */
static int check(const cfg_experiment *cfg, sim_err *err)
{
    double alpha = cfg->algorithm.lr * cfg_algorithm_param(cfg, "rho");
    if (alpha >= 1.0)
        return sim_err_set(err, SIM_ECONFIG,
                           "%s: $.algorithm.rho: expected lr * rho < 1, got "
                           "%g * %g = %g",
                           cfg->source_path, cfg->algorithm.lr,
                           cfg_algorithm_param(cfg, "rho"), alpha);
    return 0;
}

static int create(alg **out, alg_ctx *ctx, sim_err *err)
{
    const cfg_experiment *cfg = alg_ctx_config(ctx);
    int rc = check(cfg, err);
    if (rc)
        return rc;
    alg *a = calloc(1, sizeof *a);
    if (!a)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    a->K = alg_ctx_workers(ctx);
    a->n = alg_ctx_n_params(ctx);
    a->exchanges = cfg->algorithm.rounds;
    a->lr = cfg->algorithm.lr;
    a->alpha = a->lr * alg_ctx_param(ctx, "rho");
    a->tau = (long)alg_ctx_param(ctx, "tau");
    a->w = malloc(a->n * sizeof *a->w);
    a->old = malloc(a->n * sizeof *a->old);
    a->wk = malloc((size_t)a->K * a->n * sizeof *a->wk);
    a->grad = malloc(a->n * sizeof *a->grad);
    a->left = calloc((size_t)a->K, sizeof *a->left);
    a->awaiting = calloc((size_t)a->K, 1);
    if (!a->w || !a->old || !a->wk || !a->grad || !a->left || !a->awaiting) {
        destroy(a);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    alg_ctx_init_model(ctx, a->w, ALG_STREAM_INIT, 0);
    for (int k = 0; k < a->K; k++)
        memcpy(a->wk + (size_t)k * a->n, a->w, a->n * sizeof *a->w);
    *out = a;
    return 0;
}

static void local_step(alg *a, alg_ctx *ctx, int k, int64_t tag)
{
    double *wk = a->wk + (size_t)k * a->n;
    size_t b = alg_ctx_sample_batch(ctx, k);
    alg_ctx_gradient(ctx, k, wk, a->grad);
    for (size_t i = 0; i < a->n; i++)
        wk[i] -= a->lr * a->grad[i];
    a->left[k]--;
    alg_ctx_compute(ctx, k, b, tag);
}

static void start(alg *a, alg_ctx *ctx)
{
    alg_ctx_evaluate(ctx, 0, a->w, 0);
    for (int k = 0; k < a->K; k++) {
        a->left[k] = a->tau;
        local_step(a, ctx, k, 0);
    }
}

static void on_compute_done(alg *a, alg_ctx *ctx, int k, int64_t tag)
{
    if (a->left[k] > 0)
        local_step(a, ctx, k, tag);
    else {
        a->awaiting[k] = 1;
        alg_ctx_send(ctx, k, alg_ctx_server(ctx), ALG_MSG_PARAMS, tag,
                     a->wk + (size_t)k * a->n, a->n);
    }
}

static void on_message(alg *a, alg_ctx *ctx, const alg_msg *m)
{
    if (m->dst != alg_ctx_server(ctx)) {
        int k = m->dst;
        /* A reply to a model sent before a crash: the worker has moved on. */
        if (!a->awaiting[k])
            return;
        a->awaiting[k] = 0;
        double *wk = a->wk + (size_t)k * a->n;
        for (size_t i = 0; i < a->n; i++)
            wk[i] -= a->alpha * (wk[i] - m->data[i]);
        a->left[k] = a->tau;
        local_step(a, ctx, k, m->tag);
        return;
    }
    if (a->version == a->exchanges)
        return;
    int k = m->src;
    memcpy(a->old, a->w, a->n * sizeof *a->w);
    for (size_t i = 0; i < a->n; i++)
        a->w[i] += a->alpha * (m->data[i] - a->old[i]);
    alg_ctx_count_update(ctx, k, a->version - m->tag);
    a->version++;
    int last = a->version == a->exchanges;
    alg_ctx_evaluate(ctx, a->version, a->w, last);
    if (last)
        alg_ctx_finish(ctx);
    else
        alg_ctx_send(ctx, alg_ctx_server(ctx), k, ALG_MSG_PARAMS, a->version,
                     a->old, a->n);
}

/* A worker back from a crash has lost its model: it restarts from the
 * centre. */
static void on_recover(alg *a, alg_ctx *ctx, int k)
{
    if (a->version == a->exchanges)
        return;
    memcpy(a->wk + (size_t)k * a->n, a->w, a->n * sizeof *a->w);
    a->awaiting[k] = 0;
    a->left[k] = a->tau;
    local_step(a, ctx, k, a->version);
}

/* create: w, old, grad and K worker models. A step (an exchange with the
 * centre): tau local steps of one worker, its model up and the centre
 * back. */
static void cost(const cfg_experiment *cfg, double rows, alg_cost *c)
{
    (void)rows;
    double K = cfg->cluster.workers;
    *c = (alg_cost){.copies = K + 3,
                    .computes = cfg_algorithm_param(cfg, "tau"),
                    .messages = 2};
}

const alg_ops alg_easgd_async_ops = {
    .name = "easgd_async",
    .summary = "asynchronous EASGD: each worker exchanges elastically with "
               "the centre every tau local steps; rounds = exchanges",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .check = check,
    .create = create,
    .start = start,
    .on_compute_done = on_compute_done,
    .on_message = on_message,
    .destroy = destroy,
    .on_recover = on_recover,
    .cost = cost,
};
