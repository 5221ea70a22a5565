/* asgd.c: asynchronous SGD with a parameter server, and DC-ASGD.
 *
 * The global model w lives at the server. Each worker, on its own clock,
 * pulls w, computes a mini-batch gradient g_k at it and pushes g_k; the
 * server applies every gradient the moment it arrives,
 *   w -= lr * g_k          (with server momentum mu: v = mu v + g_k,
 *                           w -= lr v)
 * and sends the new w back to that worker alone. Nobody waits for anybody,
 * so a slow worker slows only its own contributions. The price is
 * staleness: g_k was computed at the version of w the worker pulled, and
 * by the time it arrives other workers' gradients have moved w on. The
 * staleness of an update (server version now minus the version the
 * gradient was computed on) is whatever the timing makes it; it is
 * recorded, never drawn.
 *
 * DC-ASGD (Zheng et al., 2017) compensates the delay with a cheap
 * approximation of the Hessian: the server keeps the model w_bak(k) it last
 * sent to worker k and applies
 *   g' = g_k + lambda * g_k (.) g_k (.) (w - w_bak(k))
 * instead of g_k.
 *
 * One step is one server update; algorithm.rounds is the number of server
 * updates. A worker that recovers from a crash pulls a fresh model; the
 * server's replies carry the worker's incarnation in the tag, so a gradient
 * sent before the crash is still applied but not answered twice. */
#include <stdlib.h>
#include <string.h>

#include "alg.h"

static const cfg_param_spec asgd_params[] = {
    {.name = "momentum",
     .type = CFG_PARAM_NUMBER,
     .min = 0,
     .max = 0.999,
     .def = 0,
     .help = "server momentum mu: v = mu v + g, w -= lr v (0: plain)"},
};

static const cfg_param_spec dcasgd_params[] = {
    {.name = "lambda",
     .type = CFG_PARAM_NUMBER,
     .min = 0,
     .max = 1e6,
     .def = 0.04,
     .help = "delay compensation: g + lambda g*g*(w - w_pulled)"},
};

/* The tag of a model sent to a worker: its incarnation above bit 40, the
 * model's version below. */
#define VERSION_BITS 40
#define VERSION_MASK (((int64_t)1 << VERSION_BITS) - 1)

struct alg {
    int K;
    size_t n;
    long updates;
    double lr, mu, lambda;
    int dc;
    int64_t version;
    double *w;
    double *v; /* momentum, n (NULL without) */
    /* Worker k's rows start at k * stride, a whole number of cache lines:
     * each is cold when touched, and a row of n doubles at any offset would
     * straddle one line more. */
    size_t stride;
    double *grads; /* K rows: each worker's gradient in progress */
    double *wbak;  /* K rows: the model last sent to each worker (DC only) */
    double *g;     /* n, scratch */
    int64_t *incarnation; /* [K] */
    int recovered;        /* some incarnation is above 0 */
};

static void destroy(alg *a)
{
    if (!a)
        return;
    free(a->w);
    free(a->v);
    free(a->grads);
    free(a->wbak);
    free(a->g);
    free(a->incarnation);
    free(a);
}

static double *aligned_rows(size_t count)
{
    void *p = NULL;
    return posix_memalign(&p, 64, count * sizeof(double)) ? NULL : p;
}

static int create_common(alg **out, alg_ctx *ctx, int dc, sim_err *err)
{
    const cfg_experiment *cfg = alg_ctx_config(ctx);
    alg *a = calloc(1, sizeof *a);
    if (!a)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    a->K = alg_ctx_workers(ctx);
    a->n = alg_ctx_n_params(ctx);
    a->updates = cfg->algorithm.rounds;
    a->lr = cfg->algorithm.lr;
    a->dc = dc;
    a->mu = dc ? 0 : alg_ctx_param(ctx, "momentum");
    a->lambda = dc ? alg_ctx_param(ctx, "lambda") : 0;
    a->stride = (a->n + 7) / 8 * 8;
    size_t kn = (size_t)a->K * a->stride;
    a->w = malloc(a->n * sizeof *a->w);
    a->v = a->mu > 0 ? calloc(a->n, sizeof *a->v) : NULL;
    a->grads = aligned_rows(kn);
    a->wbak = dc ? aligned_rows(kn) : NULL;
    a->g = malloc(a->n * sizeof *a->g);
    a->incarnation = calloc((size_t)a->K, sizeof *a->incarnation);
    if (!a->w || (a->mu > 0 && !a->v) || !a->grads || (dc && !a->wbak) ||
        !a->g || !a->incarnation) {
        destroy(a);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    alg_ctx_init_model(ctx, a->w, ALG_STREAM_INIT, 0);
    *out = a;
    return 0;
}

static int create_asgd(alg **out, alg_ctx *ctx, sim_err *err)
{
    return create_common(out, ctx, 0, err);
}

static int create_dcasgd(alg **out, alg_ctx *ctx, sim_err *err)
{
    return create_common(out, ctx, 1, err);
}

/* Before any recovery every incarnation is 0: the worker's entry, a cache
 * miss with many workers, need not be read. */
static int64_t incarnation(const alg *a, int k)
{
    return a->recovered ? a->incarnation[k] : 0;
}

static void send_model(alg *a, alg_ctx *ctx, int k)
{
    if (a->dc)
        memcpy(a->wbak + (size_t)k * a->stride, a->w, a->n * sizeof *a->w);
    alg_ctx_send(ctx, alg_ctx_server(ctx), k, ALG_MSG_PARAMS,
                 incarnation(a, k) << VERSION_BITS | a->version, a->w, a->n);
}

static void start(alg *a, alg_ctx *ctx)
{
    alg_ctx_evaluate(ctx, 0, a->w, 0);
    for (int k = 0; k < a->K; k++)
        send_model(a, ctx, k);
}

static void on_compute_done(alg *a, alg_ctx *ctx, int k, int64_t tag)
{
    alg_ctx_send(ctx, k, alg_ctx_server(ctx), ALG_MSG_GRAD, tag,
                 a->grads + (size_t)k * a->stride, a->n);
}

static void apply(alg *a, int k, const double *grad)
{
    const double *g = grad;
    if (a->dc) {
        const double *bak = a->wbak + (size_t)k * a->stride;
        for (size_t i = 0; i < a->n; i++)
            a->g[i] =
                grad[i] + a->lambda * grad[i] * grad[i] * (a->w[i] - bak[i]);
        g = a->g;
    }
    if (a->v) {
        for (size_t i = 0; i < a->n; i++) {
            a->v[i] = a->mu * a->v[i] + g[i];
            a->w[i] -= a->lr * a->v[i];
        }
    } else {
        for (size_t i = 0; i < a->n; i++)
            a->w[i] -= a->lr * g[i];
    }
}

static void on_message(alg *a, alg_ctx *ctx, const alg_msg *m)
{
    if (m->kind == ALG_MSG_PARAMS) {
        int k = m->dst;
        /* The worker's gradient row is cold (thousands of workers); fetch
         * it while the mini-batch is drawn. */
        const double *row = a->grads + (size_t)k * a->stride;
        for (size_t i = 0; i < a->n; i += 8)
            __builtin_prefetch(row + i, 1);
        size_t b = alg_ctx_sample_batch(ctx, k);
        alg_ctx_gradient(ctx, k, m->data, a->grads + (size_t)k * a->stride);
        alg_ctx_compute(ctx, k, b, m->tag);
        return;
    }
    if (a->version == a->updates)
        return; /* late arrivals after the last update */
    int k = m->src;
    int64_t computed_on = m->tag & VERSION_MASK;
    apply(a, k, m->data);
    alg_ctx_count_update(ctx, k, a->version - computed_on);
    a->version++;
    int last = a->version == a->updates;
    alg_ctx_evaluate(ctx, a->version, a->w, last);
    if (last)
        alg_ctx_finish(ctx);
    else if ((m->tag >> VERSION_BITS) == incarnation(a, k))
        send_model(a, ctx, k);
}

static void on_recover(alg *a, alg_ctx *ctx, int k)
{
    a->incarnation[k]++;
    a->recovered = 1;
    if (a->version < a->updates)
        send_model(a, ctx, k);
}

/* create: w, g and K gradients; momentum adds v, delay compensation K
 * models pulled. An update: one worker's gradient, pushed, and the model
 * pulled. */
static void cost_common(const cfg_experiment *cfg, int dc, alg_cost *c)
{
    double K = cfg->cluster.workers;
    double momentum = !dc && cfg_algorithm_param(cfg, "momentum") > 0;
    *c = (alg_cost){.copies = K + 2 + momentum + (dc ? K : 0),
                    .computes = 1,
                    .messages = 2};
}

static void cost_asgd(const cfg_experiment *cfg, double rows, alg_cost *c)
{
    (void)rows;
    cost_common(cfg, 0, c);
}

static void cost_dcasgd(const cfg_experiment *cfg, double rows, alg_cost *c)
{
    (void)rows;
    cost_common(cfg, 1, c);
}

const alg_ops alg_asgd_ops = {
    .name = "asgd",
    .summary = "asynchronous SGD: the server applies each worker's gradient "
               "as it arrives; rounds = server updates",
    .params = asgd_params,
    .n_params = sizeof asgd_params / sizeof asgd_params[0],
    .create = create_asgd,
    .start = start,
    .on_compute_done = on_compute_done,
    .on_message = on_message,
    .destroy = destroy,
    .on_recover = on_recover,
    .cost = cost_asgd,
};

const alg_ops alg_dcasgd_ops = {
    .name = "dcasgd",
    .summary = "delay-compensated ASGD: stale gradients corrected by "
               "lambda g*g*(w - w_pulled); rounds = server updates",
    .params = dcasgd_params,
    .n_params = sizeof dcasgd_params / sizeof dcasgd_params[0],
    .create = create_dcasgd,
    .start = start,
    .on_compute_done = on_compute_done,
    .on_message = on_message,
    .destroy = destroy,
    .on_recover = on_recover,
    .cost = cost_dcasgd,
};
