/* bmuf.c: block-wise model-update filtering (Chen and Huo, 2016).
 *
 * The rounds are those of model averaging (block.c: M local steps, then the
 * mean of the workers' models), but the server treats the mean as the end of
 * a block and filters the block's update with momentum:
 *   delta = mu * delta + zeta * (mean_k(w_k) - w);   w = w + delta
 * (block momentum mu, block learning rate zeta). The momentum carries the
 * history of past blocks into each global update, which recovers much of the
 * accuracy that plain averaging loses. delta starts at zero as in the paper;
 * `delta_init: "uniform"` reproduces the post, which draws it uniformly in
 * [-1, 1) like the weights. */
#include <stdlib.h>
#include <string.h>

#include "alg.h"
#include "allreduce.h"
#include "block.h"

static const char *const delta_init_choices[] = {"zero", "uniform", NULL};

static const cfg_param_spec bmuf_params[] = {
    {.name = "local_steps",
     .type = CFG_PARAM_INT,
     .min = 1,
     .max = 1e6,
     .def = 5,
     .help = "M: local SGD steps per block"},
    {.name = "mu",
     .type = CFG_PARAM_NUMBER,
     .min = 0,
     .max = 0.999999,
     .def = 0.9,
     .help = "block momentum, in [0, 1)"},
    {.name = "zeta",
     .type = CFG_PARAM_NUMBER,
     .min = 0,
     .max = 100,
     .def = 0.1,
     .help = "block learning rate"},
    {.name = "delta_init",
     .type = CFG_PARAM_CHOICE,
     .def = 0,
     .choices = delta_init_choices,
     .help = "initial block update: \"zero\" (paper) or \"uniform\" (post)"},
    {.name = "batch_reuse",
     .type = CFG_PARAM_BOOL,
     .def = 0,
     .help = "the post's quirk: one mini-batch for all M steps of a block"},
    ALG_PARAM_COLLECTIVE,
};

struct alg {
    block *b;
    double mu, zeta;
    double *delta;
};

static void block_momentum(void *self, double *w, const double *mean, size_t n)
{
    alg *a = self;
    for (size_t i = 0; i < n; i++) {
        a->delta[i] = a->mu * a->delta[i] + a->zeta * (mean[i] - w[i]);
        w[i] += a->delta[i];
    }
}

static void destroy(alg *a)
{
    if (!a)
        return;
    block_destroy(a->b);
    free(a->delta);
    free(a);
}

static int create(alg **out, alg_ctx *ctx, sim_err *err)
{
    alg *a = calloc(1, sizeof *a);
    if (!a)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    a->mu = alg_ctx_param(ctx, "mu");
    a->zeta = alg_ctx_param(ctx, "zeta");
    block_opts o = {
        .local_steps = (long)alg_ctx_param(ctx, "local_steps"),
        .once = 0,
        .batch_reuse = alg_ctx_param(ctx, "batch_reuse") != 0,
    };
    size_t n = alg_ctx_n_params(ctx);
    a->delta = calloc(n, sizeof *a->delta);
    int rc = a->delta ? block_create(&a->b, ctx, &o, block_momentum, a, err)
                      : sim_err_set(err, SIM_ENOMEM, "out of memory");
    if (rc) {
        destroy(a);
        return rc;
    }
    alg_ctx_init_model(ctx, block_global(a->b), ALG_STREAM_INIT, 0);
    if (alg_ctx_param(ctx, "delta_init") == 1)
        alg_ctx_init_model(ctx, a->delta, ALG_STREAM_ALGORITHM, 0);
    *out = a;
    return 0;
}

static void start(alg *a, alg_ctx *ctx)
{
    block_start(a->b, ctx);
}

static void on_compute_done(alg *a, alg_ctx *ctx, int k, int64_t tag)
{
    block_on_compute_done(a->b, ctx, k, tag);
}

static void on_recover(alg *a, alg_ctx *ctx, int k)
{
    block_on_recover(a->b, ctx, k);
}

static void on_worker_lost(alg *a, alg_ctx *ctx, int k)
{
    block_on_worker_lost(a->b, ctx, k);
}

static void on_message(alg *a, alg_ctx *ctx, const alg_msg *m)
{
    block_on_message(a->b, ctx, m);
}

static void on_reduced(alg *a, alg_ctx *ctx, int k, int64_t tag)
{
    block_on_reduced(a->b, ctx, k, tag);
}

/* block.c's 2K + 3 (see ma.c) and delta. */
static void cost(const cfg_experiment *cfg, double rows, alg_cost *c)
{
    (void)rows;
    double K = cfg->cluster.workers;
    *c = (alg_cost){.copies = 2 * K + 4,
                    .computes = K * cfg_algorithm_param(cfg, "local_steps"),
                    .messages = 2 * K * (double)cfg->network.servers};
}

const alg_ops alg_bmuf_ops = {
    .name = "bmuf",
    .summary = "block-wise model-update filtering: model averaging with "
               "block momentum",
    .params = bmuf_params,
    .n_params = sizeof bmuf_params / sizeof bmuf_params[0],
    .check = alg_check_allreduce,
    .create = create,
    .start = start,
    .on_compute_done = on_compute_done,
    .on_message = on_message,
    .destroy = destroy,
    .on_recover = on_recover,
    .on_worker_lost = on_worker_lost,
    .on_reduced = on_reduced,
    .cost = cost,
};
