/* ssp.c: stale-synchronous parallel SGD (Ho et al., 2013) with a
 * parameter server.
 *
 * Each worker has a clock: the number of gradients it has pushed. A worker
 * may run ahead of the slowest one by at most s clocks: it starts clock c
 * only once every worker has finished clock c - s - 1. The server applies
 * the gradients of a clock when all K have arrived,
 *   w -= lr * mean_k(g_k^c)     (summed in worker order),
 * and a worker starting clock c gets the model with every complete clock
 * applied, so what it reads misses at most the last s clocks. With s = 0
 * this is exactly SSGD; as s grows, fast workers stop waiting for slow
 * ones, at the price of staleness (recorded per update: clocks applied
 * when the gradient is applied minus clocks applied in the model it was
 * computed on).
 * One step is one complete clock; algorithm.rounds is the number of
 * clocks.
 * Failures: a recovered worker pulls the model afresh and redoes the clock
 * it had lost (what it pushed before the crash and arrives later is
 * discarded: the server tags each model with the worker's incarnation).
 * With on_crash "drop", a clock completes without the dropped worker, whose
 * pending gradients are discarded; back, it joins at the current clock. */
#include <stdlib.h>
#include <string.h>

#include "alg.h"

static const cfg_param_spec ssp_params[] = {
    {.name = "staleness",
     .type = CFG_PARAM_INT,
     .min = 0,
     .max = 1000,
     .def = 3,
     .help = "s: how many clocks a worker may run ahead of the slowest"},
};

struct alg {
    int K;
    size_t n;
    long clocks;
    double lr;
    int s, slots;
    int64_t applied; /* complete clocks applied to w */
    double *w;
    double *mean;
    double *grads;          /* K x n: each worker's gradient in progress */
    double *acc;            /* slots x K x n: pushed, not yet applied */
    int64_t *ver;           /* slots x K: version each was computed on */
    int *count;             /* [slots] */
    int64_t *clock;         /* [K] the clock worker k computes next */
    int64_t *sent_ver;      /* [K] version of the model worker k holds */
    unsigned char *wants;   /* [K] waiting for a model */
    unsigned char *got;     /* slots x K: gradient of that clock in */
    unsigned char *dropped; /* [K] */
    int n_dropped;
    int64_t *incarnation; /* [K] */
};

/* The tag of a model sent to a worker: its incarnation above bit 40, the
 * clock below. */
#define CLOCK_BITS 40
#define CLOCK_MASK (((int64_t)1 << CLOCK_BITS) - 1)

static void destroy(alg *a)
{
    if (!a)
        return;
    free(a->w);
    free(a->mean);
    free(a->grads);
    free(a->acc);
    free(a->ver);
    free(a->count);
    free(a->clock);
    free(a->sent_ver);
    free(a->wants);
    free(a->got);
    free(a->dropped);
    free(a->incarnation);
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
    a->clocks = cfg->algorithm.rounds;
    a->lr = cfg->algorithm.lr;
    a->s = (int)alg_ctx_param(ctx, "staleness");
    /* Pending clocks lie in [applied, applied + s]. */
    a->slots = a->s + 1;
    size_t K = (size_t)a->K, S = (size_t)a->slots;
    a->w = malloc(a->n * sizeof *a->w);
    a->mean = malloc(a->n * sizeof *a->mean);
    a->grads = malloc(K * a->n * sizeof *a->grads);
    a->acc = malloc(S * K * a->n * sizeof *a->acc);
    a->ver = calloc(S * K, sizeof *a->ver);
    a->count = calloc(S, sizeof *a->count);
    a->clock = calloc(K, sizeof *a->clock);
    a->sent_ver = calloc(K, sizeof *a->sent_ver);
    a->wants = calloc(K, 1);
    a->got = calloc(S * K, 1);
    a->dropped = calloc(K, 1);
    a->incarnation = calloc(K, sizeof *a->incarnation);
    if (!a->got || !a->dropped || !a->incarnation || !a->w || !a->mean ||
        !a->grads || !a->acc || !a->ver || !a->count || !a->clock ||
        !a->sent_ver || !a->wants) {
        destroy(a);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    alg_ctx_init_model(ctx, a->w, ALG_STREAM_INIT, 0);
    *out = a;
    return 0;
}

/* Sends the model to every waiting worker whose next clock the bound
 * allows, in worker order. */
static void release(alg *a, alg_ctx *ctx)
{
    for (int k = 0; k < a->K; k++) {
        if (!a->wants[k] || a->dropped[k] || a->clock[k] >= a->clocks ||
            a->clock[k] - a->s > a->applied)
            continue;
        a->wants[k] = 0;
        a->sent_ver[k] = a->applied;
        alg_ctx_send(ctx, alg_ctx_server(ctx), k, ALG_MSG_PARAMS,
                     a->incarnation[k] << CLOCK_BITS | a->clock[k], a->w, a->n);
    }
}

static void start(alg *a, alg_ctx *ctx)
{
    alg_ctx_evaluate(ctx, 0, a->w, 0);
    memset(a->wants, 1, (size_t)a->K);
    release(a, ctx);
}

static void on_compute_done(alg *a, alg_ctx *ctx, int k, int64_t tag)
{
    alg_ctx_send(ctx, k, alg_ctx_server(ctx), ALG_MSG_GRAD, tag,
                 a->grads + (size_t)k * a->n, a->n);
}

/* Applies complete clocks in order; returns 1 when the run is over. */
static int apply_complete(alg *a, alg_ctx *ctx)
{
    for (;;) {
        int slot = (int)(a->applied % a->slots);
        if (a->count[slot] == 0 || a->count[slot] < a->K - a->n_dropped)
            return 0;
        const double *g = a->acc + (size_t)slot * a->K * a->n;
        unsigned char *got = a->got + (size_t)slot * a->K;
        int first = 1;
        for (int k = 0; k < a->K; k++) {
            if (!got[k])
                continue;
            const double *v = g + (size_t)k * a->n;
            if (first)
                memcpy(a->mean, v, a->n * sizeof *a->mean);
            else
                for (size_t i = 0; i < a->n; i++)
                    a->mean[i] += v[i];
            first = 0;
        }
        for (size_t i = 0; i < a->n; i++)
            a->w[i] -= a->lr * (a->mean[i] / a->count[slot]);
        for (int k = 0; k < a->K; k++)
            if (got[k])
                alg_ctx_count_update(ctx, k,
                                     a->applied - a->ver[slot * a->K + k]);
        memset(got, 0, (size_t)a->K);
        a->count[slot] = 0;
        a->applied++;
        int last = a->applied == a->clocks;
        alg_ctx_evaluate(ctx, a->applied, a->w, last);
        if (last) {
            alg_ctx_finish(ctx);
            return 1;
        }
    }
}

static void on_message(alg *a, alg_ctx *ctx, const alg_msg *m)
{
    if (m->kind == ALG_MSG_PARAMS) {
        int k = m->dst;
        size_t b = alg_ctx_sample_batch(ctx, k);
        alg_ctx_gradient(ctx, k, m->data, a->grads + (size_t)k * a->n);
        alg_ctx_compute(ctx, k, b, m->tag);
        return;
    }
    int k = m->src;
    int64_t c = m->tag & CLOCK_MASK;
    /* From before a crash the worker has recovered from, or from a
     * dropped worker: discarded. */
    if ((m->tag >> CLOCK_BITS) != a->incarnation[k] || a->dropped[k] ||
        c != a->clock[k])
        return;
    int slot = (int)(c % a->slots);
    a->got[(size_t)slot * a->K + (size_t)k] = 1;
    memcpy(a->acc + ((size_t)slot * a->K + (size_t)k) * a->n, m->data,
           a->n * sizeof *m->data);
    a->ver[slot * a->K + k] = a->sent_ver[k];
    a->count[slot]++;
    a->clock[k] = c + 1;
    a->wants[k] = 1;
    if (!apply_complete(a, ctx))
        release(a, ctx);
}

static void on_worker_lost(alg *a, alg_ctx *ctx, int k)
{
    if (a->dropped[k])
        return;
    a->dropped[k] = 1;
    a->n_dropped++;
    for (int slot = 0; slot < a->slots; slot++) {
        unsigned char *got = a->got + (size_t)slot * a->K + (size_t)k;
        if (*got) {
            *got = 0;
            a->count[slot]--;
        }
    }
    if (!apply_complete(a, ctx))
        release(a, ctx);
}

static void on_recover(alg *a, alg_ctx *ctx, int k)
{
    if (a->dropped[k]) {
        a->dropped[k] = 0;
        a->n_dropped--;
        if (a->clock[k] < a->applied)
            a->clock[k] = a->applied;
    }
    a->incarnation[k]++;
    /* Its gradient of the current clock may have been lost in the crash. */
    int slot = (int)(a->clock[k] % a->slots);
    if (!a->got[(size_t)slot * a->K + (size_t)k])
        a->wants[k] = 1;
    release(a, ctx);
}

/* create: w, mean, K gradients and (s + 1) x K pushed accumulators. */
static void cost(const cfg_experiment *cfg, double rows, alg_cost *c)
{
    (void)rows;
    double K = cfg->cluster.workers;
    double slots = cfg_algorithm_param(cfg, "staleness") + 1;
    *c = (alg_cost){
        .copies = (slots + 1) * K + 2, .computes = K, .messages = 2 * K};
}

const alg_ops alg_ssp_ops = {
    .name = "ssp",
    .summary = "stale-synchronous parallel: workers run up to s clocks ahead "
               "of the slowest (s = 0 is SSGD)",
    .params = ssp_params,
    .n_params = sizeof ssp_params / sizeof ssp_params[0],
    .create = create,
    .start = start,
    .on_compute_done = on_compute_done,
    .on_message = on_message,
    .destroy = destroy,
    .on_recover = on_recover,
    .on_worker_lost = on_worker_lost,
    .cost = cost,
};
