#include "block.h"

#include <stdlib.h>
#include <string.h>

#include "gather.h"

struct block {
    block_opts o;
    block_filter_fn filter;
    void *self;
    int K;
    size_t n;
    long rounds;
    double lr;
    int64_t round;
    double *w;        /* global model */
    double *wk;       /* K x n local models */
    double *grad;     /* n, scratch */
    double *mean;     /* n, scratch */
    long *steps_left; /* [K] local steps left in the block */
    size_t *batch_n;  /* [K] size of the worker's current batch */
    gather g;
    int allreduce; /* the collective is not the parameter server */
    int reduced;   /* all-reduce: workers holding the round's mean */
};

void block_destroy(block *b)
{
    if (!b)
        return;
    gather_deinit(&b->g);
    free(b->w);
    free(b->wk);
    free(b->grad);
    free(b->mean);
    free(b->steps_left);
    free(b->batch_n);
    free(b);
}

int block_create(block **out, alg_ctx *ctx, const block_opts *o,
                 block_filter_fn filter, void *self, sim_err *err)
{
    const cfg_experiment *cfg = alg_ctx_config(ctx);
    block *b = calloc(1, sizeof *b);
    if (!b)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    b->o = *o;
    b->filter = filter;
    b->self = self;
    b->K = alg_ctx_workers(ctx);
    b->n = alg_ctx_n_params(ctx);
    b->rounds = cfg->algorithm.rounds;
    b->lr = cfg->algorithm.lr;
    b->w = malloc(b->n * sizeof *b->w);
    b->wk = malloc((size_t)b->K * b->n * sizeof *b->wk);
    b->grad = malloc(b->n * sizeof *b->grad);
    b->mean = malloc(b->n * sizeof *b->mean);
    b->steps_left = calloc((size_t)b->K, sizeof *b->steps_left);
    b->batch_n = calloc((size_t)b->K, sizeof *b->batch_n);
    if (!b->w || !b->wk || !b->grad || !b->mean || !b->steps_left ||
        !b->batch_n || gather_init(&b->g, b->K, b->n)) {
        block_destroy(b);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    b->allreduce = alg_ctx_combines(ctx);
    *out = b;
    return 0;
}

double *block_global(block *b)
{
    return b->w;
}

static void send_global(block *b, alg_ctx *ctx)
{
    for (int k = 0; k < b->K; k++)
        if (!b->g.dropped[k])
            alg_ctx_send(ctx, alg_ctx_server(ctx), k, ALG_MSG_PARAMS, b->round,
                         b->w, b->n);
}

static void local_step(block *b, alg_ctx *ctx, int k, int64_t tag);

/* Worker k starts a block from model w (as received, or its replica). */
static void begin_block(block *b, alg_ctx *ctx, int k, const double *w,
                        int64_t tag)
{
    memcpy(b->wk + (size_t)k * b->n, w, b->n * sizeof *w);
    b->steps_left[k] =
        b->o.once ? b->rounds * b->o.local_steps : b->o.local_steps;
    local_step(b, ctx, k, tag);
}

void block_start(block *b, alg_ctx *ctx)
{
    alg_ctx_evaluate(ctx, 0, b->w, 0);
    b->round = b->o.once ? b->rounds : 1;
    if (!b->allreduce) {
        send_global(b, ctx);
        return;
    }
    for (int k = 0; k < b->K; k++)
        begin_block(b, ctx, k, b->w, b->round);
}

/* One local SGD step of worker k: the math now, its time on the clock. */
static void local_step(block *b, alg_ctx *ctx, int k, int64_t tag)
{
    double *wk = b->wk + (size_t)k * b->n;
    long steps = b->o.once ? b->rounds * b->o.local_steps : b->o.local_steps;
    if (!b->o.batch_reuse || b->steps_left[k] == steps)
        b->batch_n[k] = alg_ctx_sample_batch(ctx, k);
    alg_ctx_gradient(ctx, k, wk, b->grad);
    for (size_t i = 0; i < b->n; i++)
        wk[i] -= b->lr * b->grad[i];
    b->steps_left[k]--;
    alg_ctx_compute(ctx, k, b->batch_n[k], tag);
}

void block_on_compute_done(block *b, alg_ctx *ctx, int k, int64_t tag)
{
    if (b->steps_left[k] > 0) {
        local_step(b, ctx, k, tag);
    } else if (b->allreduce) {
        alg_ctx_count_update(ctx, k, 0);
        /* The last worker of the round starts the all-reduce. */
        if (gather_add(&b->g, k, b->wk + (size_t)k * b->n))
            alg_ctx_allreduce(ctx, tag);
    } else {
        alg_ctx_send(ctx, k, alg_ctx_server(ctx), ALG_MSG_PARAMS, tag,
                     b->wk + (size_t)k * b->n, b->n);
    }
}

static void close_round(block *b, alg_ctx *ctx);

void block_on_message(block *b, alg_ctx *ctx, const alg_msg *m)
{
    if (m->dst != alg_ctx_server(ctx)) {
        begin_block(b, ctx, m->dst, m->data, m->tag);
        return;
    }
    alg_ctx_count_update(ctx, m->src, 0);
    if (gather_add(&b->g, m->src, m->data))
        close_round(b, ctx);
}

void block_on_worker_lost(block *b, alg_ctx *ctx, int k)
{
    if (gather_drop(&b->g, k))
        close_round(b, ctx);
}

void block_on_recover(block *b, alg_ctx *ctx, int k)
{
    gather_restore(&b->g, k);
    if (!b->g.have[k])
        alg_ctx_send(ctx, alg_ctx_server(ctx), k, ALG_MSG_PARAMS, b->round,
                     b->w, b->n);
}

static void close_round(block *b, alg_ctx *ctx)
{
    gather_mean(&b->g, b->mean);
    b->filter(b->self, b->w, b->mean, b->n);
    int last = b->round == b->rounds;
    alg_ctx_evaluate(ctx, b->round, b->w, last);
    if (last) {
        alg_ctx_finish(ctx);
    } else {
        b->round++;
        send_global(b, ctx);
    }
}

void block_on_reduced(block *b, alg_ctx *ctx, int k, int64_t tag)
{
    if (b->reduced++ == 0) {
        gather_mean(&b->g, b->mean);
        b->filter(b->self, b->w, b->mean, b->n);
    }
    int last = tag == b->rounds;
    if (!last)
        begin_block(b, ctx, k, b->w, tag + 1);
    if (b->reduced < b->K)
        return;
    /* The round ends when the last worker has the mean. */
    b->reduced = 0;
    b->round = tag + 1;
    alg_ctx_evaluate(ctx, tag, b->w, last);
    if (last)
        alg_ctx_finish(ctx);
}
