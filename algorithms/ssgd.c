/* ssgd.c: synchronous SGD with a parameter server.
 *
 * Each round the server sends the global model w to every worker; worker k
 * draws a mini-batch, computes the mean gradient g_k at w and sends it back;
 * when all K gradients are in, the server sets w -= lr * mean_k(g_k) and the
 * next round begins. The round is a barrier: it lasts as long as the slowest
 * worker's compute plus its messages.
 * Failures: a crashed worker holds the barrier until it recovers (it then
 * pulls the round's model afresh), unless on_crash is "drop": then after
 * the timeout the server averages the others' gradients, and stops sending
 * to the worker until it is back.
 * Over an all-reduce ($.algorithm.collective "ring", "tree" or "hier")
 * there is no server: every worker holds a replica of w, computes its
 * gradient at it, and once all K gradients are ready the workers
 * all-reduce them; each worker applies the mean (summed in worker order,
 * exactly as the server would) when the all-reduce hands it the result,
 * and starts its next round at once. The replicas are identical, so one
 * copy of w stands for them all. Crashes are not modelled there. */
#include <stdlib.h>
#include <string.h>

#include "alg.h"
#include "allreduce.h"
#include "gather.h"

struct alg {
    int K;
    size_t n;
    long rounds;
    double lr;
    int64_t round;
    double *w;     /* global model, at the server */
    double *grads; /* K x n: each worker's gradient of the round */
    double *mean;
    gather g;
    int allreduce; /* the collective is not the parameter server */
    int reduced;   /* all-reduce: workers holding the round's mean */
};

static void destroy(alg *a)
{
    if (!a)
        return;
    gather_deinit(&a->g);
    free(a->w);
    free(a->grads);
    free(a->mean);
    free(a);
}

static int create(alg **out, alg_ctx *ctx, sim_err *err)
{
    const cfg_experiment *cfg = alg_ctx_config(ctx);
    alg *a = calloc(1, sizeof *a);
    if (!a)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    a->K = alg_ctx_workers(ctx);
    a->n = alg_ctx_n_params(ctx);
    a->rounds = cfg->algorithm.rounds;
    a->lr = cfg->algorithm.lr;
    a->w = malloc(a->n * sizeof *a->w);
    a->grads = malloc((size_t)a->K * a->n * sizeof *a->grads);
    a->mean = malloc(a->n * sizeof *a->mean);
    if (!a->w || !a->grads || !a->mean || gather_init(&a->g, a->K, a->n)) {
        destroy(a);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    alg_ctx_init_model(ctx, a->w, ALG_STREAM_INIT, 0);
    a->allreduce = alg_ctx_combines(ctx);
    *out = a;
    return 0;
}

static void begin_round(alg *a, alg_ctx *ctx)
{
    a->round++;
    for (int k = 0; k < a->K; k++)
        if (!a->g.dropped[k])
            alg_ctx_send(ctx, alg_ctx_server(ctx), k, ALG_MSG_PARAMS, a->round,
                         a->w, a->n);
}

/* All-reduce: worker k computes its gradient of round `round` at w. */
static void worker_round(alg *a, alg_ctx *ctx, int k, int64_t round)
{
    size_t b = alg_ctx_sample_batch(ctx, k);
    alg_ctx_gradient(ctx, k, a->w, a->grads + (size_t)k * a->n);
    alg_ctx_compute(ctx, k, b, round);
}

static void start(alg *a, alg_ctx *ctx)
{
    alg_ctx_evaluate(ctx, 0, a->w, 0);
    if (!a->allreduce) {
        begin_round(a, ctx);
        return;
    }
    a->round = 1;
    for (int k = 0; k < a->K; k++)
        worker_round(a, ctx, k, a->round);
}

static void on_compute_done(alg *a, alg_ctx *ctx, int k, int64_t tag)
{
    if (a->allreduce) {
        alg_ctx_count_update(ctx, k, 0);
        /* The last worker of the round starts the all-reduce. */
        if (gather_add(&a->g, k, a->grads + (size_t)k * a->n))
            alg_ctx_allreduce(ctx, tag);
        return;
    }
    alg_ctx_send(ctx, k, alg_ctx_server(ctx), ALG_MSG_GRAD, tag,
                 a->grads + (size_t)k * a->n, a->n);
}

static void close_round(alg *a, alg_ctx *ctx);

static void on_message(alg *a, alg_ctx *ctx, const alg_msg *m)
{
    if (m->kind == ALG_MSG_PARAMS) {
        /* The gradient is taken at the model as received; the compute time
         * is charged before the worker may send it. */
        size_t b = alg_ctx_sample_batch(ctx, m->dst);
        alg_ctx_gradient(ctx, m->dst, m->data,
                         a->grads + (size_t)m->dst * a->n);
        alg_ctx_compute(ctx, m->dst, b, m->tag);
        return;
    }
    alg_ctx_count_update(ctx, m->src, 0);
    if (gather_add(&a->g, m->src, m->data))
        close_round(a, ctx);
}

static void on_worker_lost(alg *a, alg_ctx *ctx, int k)
{
    if (gather_drop(&a->g, k))
        close_round(a, ctx);
}

static void on_recover(alg *a, alg_ctx *ctx, int k)
{
    gather_restore(&a->g, k);
    if (!a->g.have[k])
        alg_ctx_send(ctx, alg_ctx_server(ctx), k, ALG_MSG_PARAMS, a->round,
                     a->w, a->n);
}

static void close_round(alg *a, alg_ctx *ctx)
{
    gather_mean(&a->g, a->mean);
    for (size_t i = 0; i < a->n; i++)
        a->w[i] -= a->lr * a->mean[i];
    int last = a->round == a->rounds;
    alg_ctx_evaluate(ctx, a->round, a->w, last);
    if (last)
        alg_ctx_finish(ctx);
    else
        begin_round(a, ctx);
}

static void on_reduced(alg *a, alg_ctx *ctx, int k, int64_t tag)
{
    if (a->reduced++ == 0) {
        gather_mean(&a->g, a->mean);
        for (size_t i = 0; i < a->n; i++)
            a->w[i] -= a->lr * a->mean[i];
    }
    int last = tag == a->rounds;
    if (!last)
        worker_round(a, ctx, k, tag + 1);
    if (a->reduced < a->K)
        return;
    /* The round ends when the last worker has the mean. */
    a->reduced = 0;
    a->round = tag + 1;
    alg_ctx_evaluate(ctx, tag, a->w, last);
    if (last)
        alg_ctx_finish(ctx);
}

static int check(const cfg_experiment *cfg, sim_err *err)
{
    return alg_check_allreduce(cfg, err);
}

static const cfg_param_spec params[] = {ALG_PARAM_COLLECTIVE};

/* create: w, mean, the K gradients and the gather's K vectors. A round: K
 * gradients, the model to and a gradient from each worker (per server
 * shard). */
static void cost(const cfg_experiment *cfg, double rows, alg_cost *c)
{
    (void)rows;
    double K = cfg->cluster.workers;
    *c = (alg_cost){.copies = 2 * K + 2,
                    .computes = K,
                    .messages = 2 * K * (double)cfg->network.servers};
}

const alg_ops alg_ssgd_ops = {
    .name = "ssgd",
    .summary = "synchronous SGD: the server averages one gradient per worker "
               "each round",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .check = check,
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
