/* hogwild.c: Hogwild! (Niu et al., 2011): lock-free SGD on one
 * shared-memory machine.
 *
 * K workers share one model w in memory; there is no server and no
 * network. Each step a worker reads w (which takes n * 8 bytes /
 * memory_bandwidth seconds; what it holds is w as it stood when the read
 * completed), computes a mini-batch gradient at what it read, and writes
 * its update coordinate by coordinate, w[i] -= lr * g[i], without a lock
 * (another n * 8 / memory_bandwidth seconds). The write lands when it
 * completes: coordinate-wise adds never lose an update, but a read sees
 * only the writes that landed before it, so it is stale by every write
 * that landed between its read and its own write (recorded as the
 * update's staleness). Everything is events on the clock, so a run is
 * reproducible, unlike real threads.
 * One step is one write; algorithm.rounds is the number of writes. */
#include <stdlib.h>
#include <string.h>

#include "alg.h"

static const cfg_param_spec hogwild_params[] = {
    {.name = "memory_bandwidth",
     .type = CFG_PARAM_NUMBER,
     .min = 1,
     .max = 1e15,
     .def = 1e10,
     .help = "bytes/s of a worker's reads and writes of the shared model"},
};

enum { PHASE_READ = 1, PHASE_COMPUTE = 2, PHASE_WRITE = 3 };

struct alg {
    int K;
    size_t n;
    long writes;
    double lr, access_s;
    int64_t version;
    double *w;
    double *grads;    /* K x n */
    int64_t *read_at; /* [K] version each worker read */
};

static void destroy(alg *a)
{
    if (!a)
        return;
    free(a->w);
    free(a->grads);
    free(a->read_at);
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
    a->writes = cfg->algorithm.rounds;
    a->lr = cfg->algorithm.lr;
    a->access_s = (double)(a->n * sizeof(double)) /
                  alg_ctx_param(ctx, "memory_bandwidth");
    a->w = malloc(a->n * sizeof *a->w);
    a->grads = malloc((size_t)a->K * a->n * sizeof *a->grads);
    a->read_at = calloc((size_t)a->K, sizeof *a->read_at);
    if (!a->w || !a->grads || !a->read_at) {
        destroy(a);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    alg_ctx_init_model(ctx, a->w, ALG_STREAM_INIT, 0);
    *out = a;
    return 0;
}

static void start(alg *a, alg_ctx *ctx)
{
    alg_ctx_evaluate(ctx, 0, a->w, 0);
    for (int k = 0; k < a->K; k++)
        alg_ctx_busy(ctx, k, a->access_s, PHASE_READ);
}

static void on_compute_done(alg *a, alg_ctx *ctx, int k, int64_t phase)
{
    double *g = a->grads + (size_t)k * a->n;
    switch (phase) {
    case PHASE_READ: {
        /* The read has completed: the gradient is taken at w as it is now;
         * the math is done here, its time charged next. */
        a->read_at[k] = a->version;
        size_t b = alg_ctx_sample_batch(ctx, k);
        alg_ctx_gradient(ctx, k, a->w, g);
        alg_ctx_compute(ctx, k, b, PHASE_COMPUTE);
        break;
    }
    case PHASE_COMPUTE:
        alg_ctx_busy(ctx, k, a->access_s, PHASE_WRITE);
        break;
    case PHASE_WRITE: {
        if (a->version == a->writes)
            return;
        for (size_t i = 0; i < a->n; i++)
            a->w[i] -= a->lr * g[i];
        alg_ctx_count_update(ctx, k, a->version - a->read_at[k]);
        a->version++;
        int last = a->version == a->writes;
        alg_ctx_evaluate(ctx, a->version, a->w, last);
        if (last)
            alg_ctx_finish(ctx);
        else
            alg_ctx_busy(ctx, k, a->access_s, PHASE_READ);
        break;
    }
    }
}

static void on_message(alg *a, alg_ctx *ctx, const alg_msg *m)
{
    (void)a;
    (void)ctx;
    SIM_PANIC("hogwild sends no messages, yet one arrived from node %d",
              m->src);
}

/* Back from a crash, the worker starts a fresh step. */
static void on_recover(alg *a, alg_ctx *ctx, int k)
{
    if (a->version < a->writes)
        alg_ctx_busy(ctx, k, a->access_s, PHASE_READ);
}

/* create: the shared w and K gradients. An update: a read, a gradient and
 * a write, each a busy period of one worker; no messages. */
static void cost(const cfg_experiment *cfg, double rows, alg_cost *c)
{
    (void)rows;
    double K = cfg->cluster.workers;
    *c = (alg_cost){.copies = K + 1, .computes = 3, .messages = 0};
}

const alg_ops alg_hogwild_ops = {
    .name = "hogwild",
    .summary = "Hogwild!: lock-free SGD on a shared-memory model, with a "
               "memory cost per read and write; rounds = writes",
    .params = hogwild_params,
    .n_params = sizeof hogwild_params / sizeof hogwild_params[0],
    .create = create,
    .start = start,
    .on_compute_done = on_compute_done,
    .on_message = on_message,
    .destroy = destroy,
    .on_recover = on_recover,
    .cost = cost,
};
