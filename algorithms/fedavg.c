/* fedavg.c: federated averaging (McMahan et al., 2017), with FedProx's
 * proximal term (Li et al., 2020) as an option.
 *
 * Each round the server samples m = max(1, round(C K)) of the K clients
 * (without replacement, from the algorithm's stream) and sends them the
 * global model w. Client k copies it into w_k and takes S_k local SGD steps,
 *   w_k -= lr * (g_k + mu (w_k - w)),
 * where S_k is local_steps, or with epochs E > 0 enough steps to pass over
 * its n_k rows E times (E n_k / batch, rounded up). It sends w_k back; when
 * all m are in, the server sets w = sum_k p_k w_k with p_k = n_k / sum n_j
 * over the sampled clients. With C = 1, one client and one step, this is
 * SGD; with mu = 0 it is FedAvg, with mu > 0 FedProx.
 * Clients not sampled idle; a crashed client holds the round (no drop). */
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alg.h"

static const cfg_param_spec fedavg_params[] = {
    {.name = "fraction",
     .type = CFG_PARAM_NUMBER,
     .min = 1e-9,
     .max = 1,
     .def = 1,
     .help = "C: fraction of the clients sampled each round"},
    {.name = "local_steps",
     .type = CFG_PARAM_INT,
     .min = 1,
     .max = 1e6,
     .def = 5,
     .help = "M: local SGD steps per round (when epochs is 0)"},
    {.name = "epochs",
     .type = CFG_PARAM_NUMBER,
     .min = 0,
     .max = 1e6,
     .def = 0,
     .help = "E: local passes over a client's rows per round (0: use "
             "local_steps)"},
    {.name = "mu",
     .type = CFG_PARAM_NUMBER,
     .min = 0,
     .max = 1e6,
     .def = 0,
     .help = "FedProx proximal weight (0: plain FedAvg)"},
};

struct alg {
    int K, m;
    size_t n;
    long rounds;
    double lr, mu;
    int64_t round;
    double *w;         /* global model, at the server */
    double *local;     /* K x n: client models */
    double *anchor;    /* K x n: the global model each client received */
    double *grad;      /* n */
    long *steps;       /* [K] local steps of a round */
    long *done;        /* [K] steps taken this round */
    int *all, *chosen; /* [K] 0..K-1; this round's clients, ascending */
    unsigned char *in; /* [K] client model received this round */
    int received;
};

static void destroy(alg *a)
{
    if (!a)
        return;
    free(a->w);
    free(a->local);
    free(a->anchor);
    free(a->grad);
    free(a->steps);
    free(a->done);
    free(a->all);
    free(a->chosen);
    free(a->in);
    free(a);
}

static int check(const cfg_experiment *cfg, sim_err *err)
{
    if (cfg->network.servers > 1)
        return sim_err_set(err, SIM_ECONFIG,
                           "%s: $.network.servers: fedavg averages at one "
                           "parameter server, got %d",
                           cfg->source_path, cfg->network.servers);
    return 0;
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
    a->mu = alg_ctx_param(ctx, "mu");
    long m = lround(alg_ctx_param(ctx, "fraction") * a->K);
    a->m = m < 1 ? 1 : m > a->K ? a->K : (int)m;
    size_t K = (size_t)a->K;
    a->w = malloc(a->n * sizeof *a->w);
    a->local = malloc(K * a->n * sizeof *a->local);
    a->anchor = malloc(K * a->n * sizeof *a->anchor);
    a->grad = malloc(a->n * sizeof *a->grad);
    a->steps = calloc(K, sizeof *a->steps);
    a->done = calloc(K, sizeof *a->done);
    a->all = calloc(K, sizeof *a->all);
    a->chosen = calloc(K, sizeof *a->chosen);
    a->in = calloc(K, sizeof *a->in);
    if (!a->w || !a->local || !a->anchor || !a->grad || !a->steps || !a->done ||
        !a->all || !a->chosen || !a->in) {
        destroy(a);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    double epochs = alg_ctx_param(ctx, "epochs");
    long local_steps = (long)alg_ctx_param(ctx, "local_steps");
    for (int k = 0; k < a->K; k++) {
        a->all[k] = k;
        double rows = (double)alg_ctx_worker_rows(ctx, k);
        double batch = cfg->batch.kind == CFG_BATCH_SIZE
                           ? (double)cfg->batch.size
                           : cfg->batch.fraction * rows;
        if (batch > rows)
            batch = rows;
        double s = epochs > 0 && batch > 0 ? ceil(epochs * rows / batch)
                                           : (double)local_steps;
        a->steps[k] = s < 1 ? 1 : (long)s;
    }
    alg_ctx_init_model(ctx, a->w, ALG_STREAM_INIT, 0);
    *out = a;
    return 0;
}

static void begin_round(alg *a, alg_ctx *ctx)
{
    a->round++;
    a->received = 0;
    memset(a->in, 0, (size_t)a->K);
    /* gsl_ran_choose keeps the input order, so the clients come out
     * ascending and the average sums in a fixed order. */
    if (a->m < a->K)
        gsl_ran_choose(alg_ctx_rng(ctx), a->chosen, (size_t)a->m, a->all,
                       (size_t)a->K, sizeof *a->all);
    else
        memcpy(a->chosen, a->all, (size_t)a->K * sizeof *a->all);
    for (int i = 0; i < a->m; i++)
        alg_ctx_send(ctx, alg_ctx_server(ctx), a->chosen[i], ALG_MSG_PARAMS,
                     a->round, a->w, a->n);
}

/* One local step of client k, charged on its clock. */
static void local_step(alg *a, alg_ctx *ctx, int k, int64_t tag)
{
    double *wk = a->local + (size_t)k * a->n;
    const double *w0 = a->anchor + (size_t)k * a->n;
    size_t b = alg_ctx_sample_batch(ctx, k);
    alg_ctx_gradient(ctx, k, wk, a->grad);
    for (size_t i = 0; i < a->n; i++)
        wk[i] -= a->lr * (a->grad[i] + a->mu * (wk[i] - w0[i]));
    alg_ctx_compute(ctx, k, b, tag);
}

static void start(alg *a, alg_ctx *ctx)
{
    alg_ctx_evaluate(ctx, 0, a->w, 0);
    begin_round(a, ctx);
}

static void on_compute_done(alg *a, alg_ctx *ctx, int k, int64_t tag)
{
    if (++a->done[k] < a->steps[k]) {
        local_step(a, ctx, k, tag);
        return;
    }
    alg_ctx_send(ctx, k, alg_ctx_server(ctx), ALG_MSG_PARAMS, tag,
                 a->local + (size_t)k * a->n, a->n);
}

static void close_round(alg *a, alg_ctx *ctx)
{
    double total = 0;
    for (int i = 0; i < a->m; i++)
        total += (double)alg_ctx_worker_rows(ctx, a->chosen[i]);
    memset(a->w, 0, a->n * sizeof *a->w);
    for (int i = 0; i < a->m; i++) {
        int k = a->chosen[i];
        /* An empty client (a skewed partition) still counts, equally. */
        double p = total > 0 ? (double)alg_ctx_worker_rows(ctx, k) / total
                             : 1.0 / a->m;
        const double *wk = a->local + (size_t)k * a->n;
        for (size_t j = 0; j < a->n; j++)
            a->w[j] += p * wk[j];
    }
    int last = a->round == a->rounds;
    alg_ctx_evaluate(ctx, a->round, a->w, last);
    if (last)
        alg_ctx_finish(ctx);
    else
        begin_round(a, ctx);
}

static void on_message(alg *a, alg_ctx *ctx, const alg_msg *m)
{
    if (m->dst < a->K) {
        /* A client starts its round from the model as received. */
        int k = m->dst;
        memcpy(a->local + (size_t)k * a->n, m->data, a->n * sizeof *m->data);
        memcpy(a->anchor + (size_t)k * a->n, m->data, a->n * sizeof *m->data);
        a->done[k] = 0;
        local_step(a, ctx, k, m->tag);
        return;
    }
    int k = m->src;
    if (m->tag != a->round || a->in[k])
        return;
    memcpy(a->local + (size_t)k * a->n, m->data, a->n * sizeof *m->data);
    a->in[k] = 1;
    alg_ctx_count_update(ctx, k, 0);
    if (++a->received == a->m)
        close_round(a, ctx);
}

/* create: w, grad, K local models and K anchors. A round: the sampled
 * clients (fraction C of K) each take M local steps, or E epochs of their
 * rows in batches, and exchange the model once each way. */
static void cost(const cfg_experiment *cfg, double rows, alg_cost *c)
{
    double K = cfg->cluster.workers;
    double clients = ceil(cfg_algorithm_param(cfg, "fraction") * K);
    double epochs = cfg_algorithm_param(cfg, "epochs");
    double batch = cfg->batch.kind == CFG_BATCH_SIZE
                       ? (double)cfg->batch.size
                       : cfg->batch.fraction * rows;
    double steps = epochs > 0 ? epochs * ceil(rows / (batch >= 1 ? batch : 1))
                              : cfg_algorithm_param(cfg, "local_steps");
    *c = (alg_cost){.copies = 2 * K + 2,
                    .computes = clients * steps,
                    .messages = 2 * clients};
}

const alg_ops alg_fedavg_ops = {
    .name = "fedavg",
    .summary = "federated averaging: a fraction C of the clients runs local "
               "SGD each round, averaged by their rows (FedProx with mu)",
    .params = fedavg_params,
    .n_params = sizeof fedavg_params / sizeof fedavg_params[0],
    .check = check,
    .create = create,
    .start = start,
    .on_compute_done = on_compute_done,
    .on_message = on_message,
    .destroy = destroy,
    .cost = cost,
};
