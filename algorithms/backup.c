/* backup.c: synchronous SGD with backup workers (Chen et al., 2016).
 *
 * As SSGD, but each round the server waits only for the first k = K - b of
 * the K gradients, b being the number of backup workers:
 *   w -= lr * mean of those k gradients     (summed in worker order)
 * and starts the next round at once. Gradients of an earlier round that
 * arrive late are dropped. A worker computes one thing at a time: a model
 * that arrives while it is still busy with an old round waits, and the
 * worker moves on to the newest model it holds when it is done. With b = 0
 * this is exactly SSGD; with b = 1 one straggler no longer sets the pace.
 * A worker back from a crash pulls the current model if its round is still
 * open. With on_crash "drop", a worker down for the timeout is no longer
 * sent to, and a round needs at most as many gradients as there are
 * workers left. */
#include <stdlib.h>
#include <string.h>

#include "alg.h"

static const cfg_param_spec backup_params[] = {
    {.name = "backup",
     .type = CFG_PARAM_INT,
     .min = 0,
     .max = 1e5,
     .def = 1,
     .help = "b: backup workers; each round uses the first K - b gradients"},
};

struct alg {
    int K, need;
    size_t n;
    long rounds;
    double lr;
    int64_t round;
    double *w, *mean;
    double *grads;       /* K x n: each worker's gradient in progress */
    double *recv;        /* K x n: this round's gradients at the server */
    unsigned char *have; /* [K] */
    int count;
    double *pending;      /* K x n: newest model a busy worker received */
    int64_t *pending_tag; /* [K], -1: none */
    unsigned char *busy;  /* [K] */
    unsigned char *lost;  /* [K] dropped after a crash */
    int n_lost;
};

static void destroy(alg *a)
{
    if (!a)
        return;
    free(a->w);
    free(a->mean);
    free(a->grads);
    free(a->recv);
    free(a->have);
    free(a->pending);
    free(a->pending_tag);
    free(a->busy);
    free(a->lost);
    free(a);
}

static int check(const cfg_experiment *cfg, sim_err *err)
{
    double b = cfg_algorithm_param(cfg, "backup");
    if (b >= cfg->cluster.workers)
        return sim_err_set(err, SIM_ECONFIG,
                           "%s: $.algorithm.backup: expected fewer backup "
                           "workers than workers (%d), got %g",
                           cfg->source_path, cfg->cluster.workers, b);
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
    a->need = a->K - (int)alg_ctx_param(ctx, "backup");
    a->n = alg_ctx_n_params(ctx);
    a->rounds = cfg->algorithm.rounds;
    a->lr = cfg->algorithm.lr;
    size_t kn = (size_t)a->K * a->n;
    a->w = malloc(a->n * sizeof *a->w);
    a->mean = malloc(a->n * sizeof *a->mean);
    a->grads = malloc(kn * sizeof *a->grads);
    a->recv = malloc(kn * sizeof *a->recv);
    a->have = calloc((size_t)a->K, 1);
    a->pending = malloc(kn * sizeof *a->pending);
    a->pending_tag = malloc((size_t)a->K * sizeof *a->pending_tag);
    a->busy = calloc((size_t)a->K, 1);
    a->lost = calloc((size_t)a->K, 1);
    if (!a->lost || !a->w || !a->mean || !a->grads || !a->recv || !a->have ||
        !a->pending || !a->pending_tag || !a->busy) {
        destroy(a);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    for (int k = 0; k < a->K; k++)
        a->pending_tag[k] = -1;
    alg_ctx_init_model(ctx, a->w, ALG_STREAM_INIT, 0);
    *out = a;
    return 0;
}

static void begin_round(alg *a, alg_ctx *ctx)
{
    a->round++;
    for (int k = 0; k < a->K; k++)
        if (!a->lost[k])
            alg_ctx_send(ctx, alg_ctx_server(ctx), k, ALG_MSG_PARAMS, a->round,
                         a->w, a->n);
}

static int enough(const alg *a)
{
    int alive = a->K - a->n_lost;
    return a->count > 0 && a->count >= (a->need < alive ? a->need : alive);
}

static void close_round(alg *a, alg_ctx *ctx);

static void start(alg *a, alg_ctx *ctx)
{
    alg_ctx_evaluate(ctx, 0, a->w, 0);
    begin_round(a, ctx);
}

static void work_on(alg *a, alg_ctx *ctx, int k, const double *w, int64_t tag)
{
    a->busy[k] = 1;
    size_t b = alg_ctx_sample_batch(ctx, k);
    alg_ctx_gradient(ctx, k, w, a->grads + (size_t)k * a->n);
    alg_ctx_compute(ctx, k, b, tag);
}

static void on_compute_done(alg *a, alg_ctx *ctx, int k, int64_t tag)
{
    alg_ctx_send(ctx, k, alg_ctx_server(ctx), ALG_MSG_GRAD, tag,
                 a->grads + (size_t)k * a->n, a->n);
    a->busy[k] = 0;
    if (a->pending_tag[k] >= 0) {
        int64_t t = a->pending_tag[k];
        a->pending_tag[k] = -1;
        work_on(a, ctx, k, a->pending + (size_t)k * a->n, t);
    }
}

static void on_message(alg *a, alg_ctx *ctx, const alg_msg *m)
{
    if (m->kind == ALG_MSG_PARAMS) {
        int k = m->dst;
        if (a->busy[k]) {
            memcpy(a->pending + (size_t)k * a->n, m->data,
                   a->n * sizeof *m->data);
            a->pending_tag[k] = m->tag;
        } else {
            work_on(a, ctx, k, m->data, m->tag);
        }
        return;
    }
    int k = m->src;
    if (m->tag != a->round || a->have[k])
        return; /* a straggler's gradient of a closed round */
    memcpy(a->recv + (size_t)k * a->n, m->data, a->n * sizeof *m->data);
    a->have[k] = 1;
    alg_ctx_count_update(ctx, k, 0);
    a->count++;
    if (enough(a))
        close_round(a, ctx);
}

static void close_round(alg *a, alg_ctx *ctx)
{
    int first = 1;
    for (int j = 0; j < a->K; j++) {
        if (!a->have[j])
            continue;
        const double *g = a->recv + (size_t)j * a->n;
        if (first)
            memcpy(a->mean, g, a->n * sizeof *g);
        else
            for (size_t i = 0; i < a->n; i++)
                a->mean[i] += g[i];
        first = 0;
    }
    for (size_t i = 0; i < a->n; i++)
        a->w[i] -= a->lr * (a->mean[i] / a->count);
    memset(a->have, 0, (size_t)a->K);
    a->count = 0;
    int last = a->round == a->rounds;
    alg_ctx_evaluate(ctx, a->round, a->w, last);
    if (last)
        alg_ctx_finish(ctx);
    else
        begin_round(a, ctx);
}

static void on_worker_lost(alg *a, alg_ctx *ctx, int k)
{
    if (a->lost[k])
        return;
    a->lost[k] = 1;
    a->n_lost++;
    if (enough(a))
        close_round(a, ctx);
}

static void on_recover(alg *a, alg_ctx *ctx, int k)
{
    if (a->lost[k]) {
        a->lost[k] = 0;
        a->n_lost--;
    }
    a->busy[k] = 0;
    a->pending_tag[k] = -1;
    if (!a->have[k])
        alg_ctx_send(ctx, alg_ctx_server(ctx), k, ALG_MSG_PARAMS, a->round,
                     a->w, a->n);
}

/* create: w, mean, and K each of gradients, received and pending vectors. */
static void cost(const cfg_experiment *cfg, double rows, alg_cost *c)
{
    (void)rows;
    double K = cfg->cluster.workers;
    *c = (alg_cost){.copies = 3 * K + 2, .computes = K, .messages = 2 * K};
}

const alg_ops alg_backup_ops = {
    .name = "backup",
    .summary = "synchronous SGD with backup workers: each round uses the "
               "first K - b gradients",
    .params = backup_params,
    .n_params = sizeof backup_params / sizeof backup_params[0],
    .check = check,
    .create = create,
    .start = start,
    .on_compute_done = on_compute_done,
    .on_message = on_message,
    .destroy = destroy,
    .on_recover = on_recover,
    .on_worker_lost = on_worker_lost,
    .cost = cost,
};
