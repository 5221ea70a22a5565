/* ma.c: model averaging (McDonald, Hall and Mann, 2010).
 *
 * Each round every worker starts from the global model w, takes M local SGD
 * steps on its own data, w_k -= lr * g_k, and sends w_k to the server, which
 * sets w = mean_k(w_k). Communication is M times rarer than in SSGD; with
 * M = 1 the two are the same algorithm. Variant `average: "once"`: the
 * workers train independently for rounds * M steps and the models are
 * averaged only at the end (guaranteed only for convex problems).
 * The block protocol (messages, barrier, local steps) is in block.c. */
#include <stdlib.h>
#include <string.h>

#include "alg.h"
#include "allreduce.h"
#include "block.h"

static const char *const average_choices[] = {"periodic", "once", NULL};

static const cfg_param_spec ma_params[] = {
    {.name = "local_steps",
     .type = CFG_PARAM_INT,
     .min = 1,
     .max = 1e6,
     .def = 5,
     .help = "M: local SGD steps between two averagings"},
    {.name = "average",
     .type = CFG_PARAM_CHOICE,
     .def = 0,
     .choices = average_choices,
     .help = "\"periodic\" (every round) or \"once\" (only at the end)"},
    {.name = "batch_reuse",
     .type = CFG_PARAM_BOOL,
     .def = 0,
     .help = "the post's quirk: one mini-batch for all M steps of a round"},
    ALG_PARAM_COLLECTIVE,
};

struct alg {
    block *b;
};

static void take_mean(void *self, double *w, const double *mean, size_t n)
{
    (void)self;
    memcpy(w, mean, n * sizeof *w);
}

static void destroy(alg *a)
{
    if (!a)
        return;
    block_destroy(a->b);
    free(a);
}

static int create(alg **out, alg_ctx *ctx, sim_err *err)
{
    alg *a = calloc(1, sizeof *a);
    if (!a)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    block_opts o = {
        .local_steps = (long)alg_ctx_param(ctx, "local_steps"),
        .once = alg_ctx_param(ctx, "average") == 1,
        .batch_reuse = alg_ctx_param(ctx, "batch_reuse") != 0,
    };
    int rc = block_create(&a->b, ctx, &o, take_mean, a, err);
    if (rc) {
        destroy(a);
        return rc;
    }
    alg_ctx_init_model(ctx, block_global(a->b), ALG_STREAM_INIT, 0);
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

/* block.c: w, grad, mean, K worker models and the gather's K vectors. A
 * round: M local steps per worker, the model to and from each. */
static void cost(const cfg_experiment *cfg, double rows, alg_cost *c)
{
    (void)rows;
    double K = cfg->cluster.workers;
    *c = (alg_cost){.copies = 2 * K + 3,
                    .computes = K * cfg_algorithm_param(cfg, "local_steps"),
                    .messages = 2 * K * (double)cfg->network.servers};
}

const alg_ops alg_ma_ops = {
    .name = "ma",
    .summary = "model averaging: M local steps per worker, then the server "
               "averages the models",
    .params = ma_params,
    .n_params = sizeof ma_params / sizeof ma_params[0],
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
