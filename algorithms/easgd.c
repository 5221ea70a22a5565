/* easgd.c: synchronous elastic averaging SGD (Zhang, Choromanska and LeCun,
 * 2015).
 *
 * Worker models are never overwritten by the global (centre) model w; they
 * are pulled towards it. Each round the server sends w to every worker, and
 * worker k takes one step on its own model
 *   w_k = w_k - lr * g_k(w_k) - alpha * (w_k - w),     alpha = lr * rho
 * and sends w_k back; the server then moves the centre towards the workers
 *   w = (1 - beta) * w + beta * mean_k(w_k),           beta = K * alpha.
 * Workers explore on their own data while the elastic term keeps them close.
 * Worker models start equal to w as in the paper; `worker_init: "random"`
 * draws each one independently, as the post does.
 * Over an all-reduce ($.algorithm.collective not "ps") there is no server:
 * every worker keeps a replica of the centre, the workers all-reduce their
 * models w_k each round, and each one, when it holds their mean, applies
 * the centre update above to its replica and takes its next step. This is
 * the symmetric form of synchronous EASGD in the paper (the centre update
 * is the same function of the same mean on every worker, so the replicas
 * never differ and one copy of w stands for them all); the math is that of
 * the server form, only the time and bytes change. */
#include <stdlib.h>
#include <string.h>

#include "alg.h"
#include "allreduce.h"
#include "gather.h"

static const char *const worker_init_choices[] = {"global", "random", NULL};

static const cfg_param_spec easgd_params[] = {
    {.name = "rho",
     .type = CFG_PARAM_NUMBER,
     .min = 0,
     .max = 1e6,
     .def = 0.1,
     .help = "elastic penalty; alpha = lr * rho, beta = K * alpha"},
    {.name = "worker_init",
     .type = CFG_PARAM_CHOICE,
     .def = 0,
     .choices = worker_init_choices,
     .help = "initial worker models: \"global\" (paper) or \"random\" (post)"},
    ALG_PARAM_COLLECTIVE,
};

struct alg {
    int K;
    size_t n;
    long rounds;
    double lr, alpha, beta;
    int64_t round;
    double *w;    /* centre model, at the server */
    double *wk;   /* K x n worker models */
    double *grad; /* n, scratch */
    double *mean; /* n, scratch */
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
    free(a->wk);
    free(a->grad);
    free(a->mean);
    free(a);
}

/* The centre update is a convex combination only while beta <= 1; beyond
 * it the centre overshoots the workers and the run diverges. */
static int check(const cfg_experiment *cfg, sim_err *err)
{
    double rho = cfg_algorithm_param(cfg, "rho");
    double beta = cfg->cluster.workers * cfg->algorithm.lr * rho;
    if (beta > 1.0)
        return sim_err_set(err, SIM_ECONFIG,
                           "%s: $.algorithm.rho: expected workers * lr * rho "
                           "<= 1, got %d * %g * %g = %g",
                           cfg->source_path, cfg->cluster.workers,
                           cfg->algorithm.lr, rho, beta);
    return alg_check_allreduce(cfg, err);
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
    a->alpha = a->lr * alg_ctx_param(ctx, "rho");
    a->beta = a->K * a->alpha;
    int rc = check(cfg, err);
    if (rc) {
        destroy(a);
        return rc;
    }
    a->w = malloc(a->n * sizeof *a->w);
    a->wk = malloc((size_t)a->K * a->n * sizeof *a->wk);
    a->grad = malloc(a->n * sizeof *a->grad);
    a->mean = malloc(a->n * sizeof *a->mean);
    if (!a->w || !a->wk || !a->grad || !a->mean ||
        gather_init(&a->g, a->K, a->n)) {
        destroy(a);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    alg_ctx_init_model(ctx, a->w, ALG_STREAM_INIT, 0);
    a->allreduce = alg_ctx_combines(ctx);
    int random_workers = alg_ctx_param(ctx, "worker_init") == 1;
    for (int k = 0; k < a->K; k++) {
        double *wk = a->wk + (size_t)k * a->n;
        if (random_workers)
            alg_ctx_init_model(ctx, wk, ALG_STREAM_WORKER_INIT, (uint64_t)k);
        else
            memcpy(wk, a->w, a->n * sizeof *wk);
    }
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

/* Worker k's elastic step against centre w; its time on the clock. */
static void worker_step(alg *a, alg_ctx *ctx, int k, const double *w,
                        int64_t tag)
{
    double *wk = a->wk + (size_t)k * a->n;
    size_t b = alg_ctx_sample_batch(ctx, k);
    alg_ctx_gradient(ctx, k, wk, a->grad);
    for (size_t i = 0; i < a->n; i++)
        wk[i] -= a->lr * a->grad[i] + a->alpha * (wk[i] - w[i]);
    alg_ctx_compute(ctx, k, b, tag);
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
        worker_step(a, ctx, k, a->w, a->round);
}

static void on_compute_done(alg *a, alg_ctx *ctx, int k, int64_t tag)
{
    if (a->allreduce) {
        alg_ctx_count_update(ctx, k, 0);
        /* The last worker of the round starts the all-reduce. */
        if (gather_add(&a->g, k, a->wk + (size_t)k * a->n))
            alg_ctx_allreduce(ctx, tag);
        return;
    }
    alg_ctx_send(ctx, k, alg_ctx_server(ctx), ALG_MSG_PARAMS, tag,
                 a->wk + (size_t)k * a->n, a->n);
}

static void close_round(alg *a, alg_ctx *ctx);

static void on_message(alg *a, alg_ctx *ctx, const alg_msg *m)
{
    if (m->dst != alg_ctx_server(ctx)) {
        worker_step(a, ctx, m->dst, m->data, m->tag);
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

/* A worker back from a crash has lost its model: it restarts from the
 * centre, and takes part in the round if it had not yet. */
static void on_recover(alg *a, alg_ctx *ctx, int k)
{
    gather_restore(&a->g, k);
    memcpy(a->wk + (size_t)k * a->n, a->w, a->n * sizeof *a->w);
    if (!a->g.have[k])
        alg_ctx_send(ctx, alg_ctx_server(ctx), k, ALG_MSG_PARAMS, a->round,
                     a->w, a->n);
}

static void close_round(alg *a, alg_ctx *ctx)
{
    gather_mean(&a->g, a->mean);
    for (size_t i = 0; i < a->n; i++)
        a->w[i] = (1.0 - a->beta) * a->w[i] + a->beta * a->mean[i];
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
            a->w[i] = (1.0 - a->beta) * a->w[i] + a->beta * a->mean[i];
    }
    int last = tag == a->rounds;
    if (!last)
        worker_step(a, ctx, k, a->w, tag + 1);
    if (a->reduced < a->K)
        return;
    /* The round ends when the last worker has the mean. */
    a->reduced = 0;
    a->round = tag + 1;
    alg_ctx_evaluate(ctx, tag, a->w, last);
    if (last)
        alg_ctx_finish(ctx);
}

/* create: w, grad, mean, K worker models and the gather's K vectors. */
static void cost(const cfg_experiment *cfg, double rows, alg_cost *c)
{
    (void)rows;
    double K = cfg->cluster.workers;
    *c = (alg_cost){.copies = 2 * K + 3,
                    .computes = K,
                    .messages = 2 * K * (double)cfg->network.servers};
}

const alg_ops alg_easgd_ops = {
    .name = "easgd",
    .summary = "synchronous elastic averaging SGD: workers are pulled towards "
               "a centre model",
    .params = easgd_params,
    .n_params = sizeof easgd_params / sizeof easgd_params[0],
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
