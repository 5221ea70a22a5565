#include "engine.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cluster/worker.h"
#include "../core/event.h"
#include "../core/rng.h"
#include "../ml/batch.h"
#include "../ml/model.h"
#include "../net/net.h"

/* ------------------------------------------------------------------ data */

int eng_data_load(const cfg_experiment *cfg, eng_data *d, sim_err *err)
{
    memset(d, 0, sizeof *d);
    ml_csv_opts opts = {.header = cfg->data.header,
                        .label_column = cfg->data.label_column,
                        .delimiter = ','};
    ml_dataset *all = NULL;
    size_t *train = NULL, *test = NULL, n_train = 0, n_test = 0;
    int rc = ml_csv_load(cfg->data.resolved_path, &opts, &all, err);
    if (rc)
        return rc;

    if (cfg->data.split == CFG_SPLIT_FILE) {
        rc = ml_split_from_file(cfg->data.split_resolved_path, all->n, &train,
                                &n_train, &test, &n_test, err);
    } else {
        gsl_rng *r = rng_stream_create(cfg->seed, RNG_SPLIT, 0);
        rc = r ? ml_split_random(all->n, cfg->data.test_fraction, r, &train,
                                 &n_train, &test, &n_test, err)
               : sim_err_set(err, SIM_ENOMEM, "out of memory");
        gsl_rng_free(r);
    }
    if (rc)
        goto done;
    if (n_train < (size_t)cfg->cluster.workers) {
        rc = sim_err_set(err, SIM_EDATA,
                         "%s: %zu training rows cannot be shared by %d "
                         "workers",
                         cfg->data.path, n_train, cfg->cluster.workers);
        goto done;
    }
    d->train = ml_dataset_subset(all, train, n_train);
    d->test = ml_dataset_subset(all, test, n_test);
    if (!d->train || !d->test) {
        rc = sim_err_set(err, SIM_ENOMEM, "out of memory");
        goto done;
    }
    if (cfg->data.standardize)
        ml_dataset_standardize(d->train, d->test);
    if (cfg->data.bias && ((rc = ml_dataset_add_bias(d->train, err)) ||
                           (rc = ml_dataset_add_bias(d->test, err))))
        goto done;
done:
    ml_dataset_free(all);
    free(train);
    free(test);
    if (rc)
        eng_data_free(d);
    return rc;
}

void eng_data_free(eng_data *d)
{
    ml_dataset_free(d->train);
    ml_dataset_free(d->test);
    d->train = d->test = NULL;
}

/* --------------------------------------------------------------- context */

struct alg_ctx {
    const cfg_experiment *cfg;
    const alg_ops *ops;
    alg *alg;
    const eng_data *data;
    eng_output *out;

    sim_loop *loop;
    net *net;
    mdl *model;
    int K;
    size_t n_params;

    wk_worker *workers;          /* [K] */
    ml_batch *batches;           /* [K] */
    gsl_rng **samplers;          /* [K] */
    size_t *row_begin, *row_end; /* [K] each worker's training rows */
    gsl_rng *alg_rng;

    /* Message payloads: n_params doubles each, recycled. `owned` lists every
     * buffer ever made, so that those still in flight when a run stops
     * early are freed too; `pool` holds the free ones. */
    double **owned, **pool;
    size_t n_owned, pool_len, pool_cap;

    size_t metrics_cap, events_cap;
    int64_t last_step;
    int64_t last_recorded_step;
    int stopped;
};

static int push_metric(alg_ctx *c, const db_metric *m)
{
    eng_output *o = c->out;
    if (o->n_metrics == c->metrics_cap) {
        size_t cap = c->metrics_cap ? 2 * c->metrics_cap : 256;
        db_metric *p = realloc(o->metrics, cap * sizeof *p);
        if (!p)
            return -1;
        o->metrics = p;
        c->metrics_cap = cap;
    }
    o->metrics[o->n_metrics++] = *m;
    return 0;
}

/* Entities of the timeline: "worker0".."workerK-1", then "server". */
static const char *entity_name(alg_ctx *c, int node)
{
    return c->out->entity_names[node];
}

static void push_event(alg_ctx *c, double time, int node, const char *kind,
                       double duration, uint64_t bytes)
{
    eng_output *o = c->out;
    if (!c->cfg->output.events)
        return;
    if (o->n_events == c->events_cap) {
        size_t cap = c->events_cap ? 2 * c->events_cap : 1024;
        db_event *p = realloc(o->events, cap * sizeof *p);
        if (!p)
            SIM_PANIC("out of memory recording the timeline");
        o->events = p;
        c->events_cap = cap;
    }
    o->events[o->n_events++] = (db_event){.time = time,
                                          .entity = entity_name(c, node),
                                          .kind = kind,
                                          .duration = duration,
                                          .bytes = bytes};
}

static void stop_run(alg_ctx *c, db_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void stop_run(alg_ctx *c, db_status status, const char *fmt, ...)
{
    if (c->stopped)
        return;
    c->stopped = 1;
    c->out->status = status;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->out->error, sizeof c->out->error, fmt, ap);
        va_end(ap);
    }
    sim_loop_stop(c->loop);
}

const cfg_experiment *alg_ctx_config(const alg_ctx *c)
{
    return c->cfg;
}
int alg_ctx_workers(const alg_ctx *c)
{
    return c->K;
}
int alg_ctx_server(const alg_ctx *c)
{
    return c->K;
}
size_t alg_ctx_n_params(const alg_ctx *c)
{
    return c->n_params;
}
double alg_ctx_now(const alg_ctx *c)
{
    return sim_loop_now(c->loop);
}
gsl_rng *alg_ctx_rng(alg_ctx *c)
{
    return c->alg_rng;
}

double alg_ctx_param(const alg_ctx *c, const char *name)
{
    return cfg_algorithm_param(c->cfg, name);
}

_Static_assert((int)ALG_STREAM_INIT == (int)RNG_INIT &&
                   (int)ALG_STREAM_ALGORITHM == (int)RNG_ALGORITHM &&
                   (int)ALG_STREAM_WORKER_INIT == (int)RNG_WORKER_INIT,
               "alg_stream values are rng_kind values");

void alg_ctx_init_model(alg_ctx *c, double *w, alg_stream stream,
                        uint64_t index)
{
    gsl_rng *r = rng_stream_create(c->cfg->seed, (rng_kind)stream, index);
    if (!r)
        SIM_PANIC("out of memory creating an RNG stream");
    mdl_init_uniform(w, c->n_params, c->cfg->model.init_low,
                     c->cfg->model.init_high, r);
    gsl_rng_free(r);
}

size_t alg_ctx_sample_batch(alg_ctx *c, int k)
{
    const cfg_experiment *cfg = c->cfg;
    int rc =
        cfg->batch.kind == CFG_BATCH_FRACTION
            ? ml_batch_bernoulli(&c->batches[k], c->row_begin[k], c->row_end[k],
                                 cfg->batch.fraction, c->samplers[k])
            : ml_batch_fixed(&c->batches[k], c->row_begin[k], c->row_end[k],
                             (size_t)cfg->batch.size, c->samplers[k]);
    if (rc)
        SIM_PANIC("out of memory drawing a mini-batch");
    return c->batches[k].n;
}

void alg_ctx_gradient(alg_ctx *c, int k, const double *w, double *grad)
{
    const ml_batch *b = &c->batches[k];
    c->model->ops->gradient(c->model, grad, w, c->data->train, b->rows, b->n);
}

static void on_compute_event(sim_loop *loop, const sim_event *ev)
{
    (void)loop;
    alg_ctx *c = ev->obj;
    if (c->stopped)
        return;
    c->ops->on_compute_done(c->alg, c, (int)ev->a, ev->b);
}

void alg_ctx_compute(alg_ctx *c, int k, size_t n_samples, int64_t tag)
{
    wk_worker *w = &c->workers[k];
    double t = wk_step_seconds(w, n_samples);
    w->compute_s += t;
    w->steps++;
    push_event(c, sim_loop_now(c->loop), k, "compute", t, 0);
    if (!sim_loop_schedule(c->loop, t, on_compute_event, c, k, tag, NULL))
        SIM_PANIC("cannot schedule a computation of %g s", t);
}

static double *pool_get(alg_ctx *c)
{
    if (c->pool_len > 0)
        return c->pool[--c->pool_len];
    if (c->n_owned == c->pool_cap) {
        size_t cap = c->pool_cap ? 2 * c->pool_cap : 16;
        double **o = realloc(c->owned, cap * sizeof *o);
        double **q = o ? realloc(c->pool, cap * sizeof *q) : NULL;
        if (o)
            c->owned = o;
        if (!q)
            SIM_PANIC("out of memory for message payloads");
        c->pool = q;
        c->pool_cap = cap;
    }
    double *p = malloc(c->n_params * sizeof *p);
    if (!p)
        SIM_PANIC("out of memory for a message payload");
    c->owned[c->n_owned++] = p;
    return p;
}

/* pool has room for every owned buffer, so this cannot fail. */
static void pool_put(alg_ctx *c, double *p)
{
    c->pool[c->pool_len++] = p;
}

void alg_ctx_send(alg_ctx *c, int src, int dst, alg_msg_kind kind, int64_t tag,
                  const double *data, size_t n)
{
    if (n != c->n_params)
        SIM_PANIC("messages carry a whole model (%zu values), not %zu",
                  c->n_params, n);
    double *p = pool_get(c);
    if (c->cfg->network.value_bytes == 4) {
        for (size_t i = 0; i < n; i++)
            p[i] = (double)(float)data[i];
    } else {
        memcpy(p, data, n * sizeof *p);
    }
    uint64_t bytes = (uint64_t)n * (uint64_t)c->cfg->network.value_bytes +
                     (uint64_t)c->cfg->network.header_bytes;
    net_msg m = {.src = src,
                 .dst = dst,
                 .kind = (int)kind,
                 .tag = tag,
                 .bytes = bytes,
                 .payload = p};
    if (net_send(c->net, &m) != 0)
        SIM_PANIC("cannot send from node %d to node %d", src, dst);
}

static void on_deliver(void *user, const net_msg *m)
{
    alg_ctx *c = user;
    double now = sim_loop_now(c->loop);
    double transit = now - m->sent_at;
    if (m->src < c->K)
        c->workers[m->src].comm_s += transit;
    if (m->dst < c->K)
        c->workers[m->dst].comm_s += transit;
    push_event(c, m->sent_at, m->src, "send", transit, m->bytes);
    if (!c->stopped) {
        alg_msg am = {.src = m->src,
                      .dst = m->dst,
                      .kind = (alg_msg_kind)m->kind,
                      .tag = m->tag,
                      .data = m->payload,
                      .n = c->n_params};
        c->ops->on_message(c->alg, c, &am);
    }
    pool_put(c, m->payload);
}

static int all_finite(const double *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(w[i]))
            return 0;
    return 1;
}

void alg_ctx_evaluate(alg_ctx *c, int64_t step, const double *w, int final)
{
    if (c->stopped)
        return;
    c->last_step = step;
    if (!all_finite(w, c->n_params)) {
        stop_run(c, DB_STATUS_DIVERGED, "model not finite at step %lld",
                 (long long)step);
        return;
    }
    int due = step % c->cfg->evaluation.every == 0 || final;
    if (!due || step == c->last_recorded_step)
        return;

    mdl_eval te = c->model->ops->evaluate(c->model, w, c->data->test);
    double train_loss = NAN;
    if (c->cfg->evaluation.train_loss)
        train_loss = c->model->ops->evaluate(c->model, w, c->data->train).loss;
    db_metric m = {.step = step,
                   .sim_time = sim_loop_now(c->loop),
                   .bytes = net_total_bytes(c->net),
                   .messages = net_total_messages(c->net),
                   .test_accuracy = te.accuracy,
                   .test_loss = te.loss,
                   .train_loss = train_loss};
    if (push_metric(c, &m))
        SIM_PANIC("out of memory recording metrics");
    c->last_recorded_step = step;
    c->out->final_accuracy = te.accuracy;
    c->out->final_loss = te.loss;
    if (!isfinite(te.loss) ||
        (c->cfg->evaluation.train_loss && !isfinite(train_loss)))
        stop_run(c, DB_STATUS_DIVERGED, "loss not finite at step %lld",
                 (long long)step);
}

void alg_ctx_count_update(alg_ctx *c, int k, int64_t staleness)
{
    wk_worker *w = &c->workers[k];
    w->updates++;
    w->staleness_sum += (double)staleness;
    if (staleness > w->staleness_max)
        w->staleness_max = staleness;
}

void alg_ctx_finish(alg_ctx *c)
{
    if (!c->stopped)
        stop_run(c, DB_STATUS_DONE, NULL);
}

/* ------------------------------------------------------------------- run */

static void ctx_deinit(alg_ctx *c)
{
    if (c->alg && c->ops)
        c->ops->destroy(c->alg);
    for (int k = 0; c->workers && k < c->K; k++)
        wk_deinit(&c->workers[k]);
    for (int k = 0; c->batches && k < c->K; k++)
        ml_batch_deinit(&c->batches[k]);
    for (int k = 0; c->samplers && k < c->K; k++)
        gsl_rng_free(c->samplers[k]);
    free(c->workers);
    free(c->batches);
    free(c->samplers);
    free(c->row_begin);
    free(c->row_end);
    gsl_rng_free(c->alg_rng);
    for (size_t i = 0; i < c->n_owned; i++)
        free(c->owned[i]);
    free(c->owned);
    free(c->pool);
    net_destroy(c->net);
    sim_loop_destroy(c->loop);
    mdl_destroy(c->model);
}

static int ctx_init(alg_ctx *c, const cfg_experiment *cfg, const alg_ops *ops,
                    const eng_data *d, eng_output *out, sim_err *err)
{
    memset(c, 0, sizeof *c);
    c->cfg = cfg;
    c->ops = ops;
    c->data = d;
    c->out = out;
    c->K = cfg->cluster.workers;
    c->last_recorded_step = -1;

    mdl_opts mo = {.d = d->train->d, .sigmoid_eps = cfg->model.sigmoid_eps};
    int rc = mdl_create(cfg->model.type, &mo, &c->model, err);
    if (rc)
        return rc;
    c->n_params = c->model->ops->n_params(c->model);

    c->loop = sim_loop_create();
    c->workers = calloc((size_t)c->K, sizeof *c->workers);
    c->batches = calloc((size_t)c->K, sizeof *c->batches);
    c->samplers = calloc((size_t)c->K, sizeof *c->samplers);
    c->row_begin = calloc((size_t)c->K, sizeof *c->row_begin);
    c->row_end = calloc((size_t)c->K, sizeof *c->row_end);
    c->alg_rng = rng_stream_create(cfg->seed, RNG_ALGORITHM, 0);
    out->entity_names = calloc((size_t)c->K + 1, sizeof *out->entity_names);
    net_link_cfg *links = calloc((size_t)c->K + 1, sizeof *links);
    if (!c->loop || !c->workers || !c->batches || !c->samplers ||
        !c->row_begin || !c->row_end || !c->alg_rng || !out->entity_names ||
        !links) {
        free(links);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }

    double flops = c->model->ops->flops_per_sample(c->model);
    for (int k = 0; k < c->K; k++) {
        wk_params p = {.seconds_per_sample =
                           cfg->cluster.compute ==
                                   CFG_COMPUTE_SECONDS_PER_SAMPLE
                               ? cfg->cluster.seconds_per_sample
                               : 0.0,
                       .flops_per_sample = flops,
                       .flops_per_second = cfg->cluster.flops_per_second,
                       .speed = cfg->cluster.speed[k],
                       .slowdown = cfg->cluster.slowdown[k],
                       .delay = cfg->cluster.delay == CFG_DELAY_EXPONENTIAL
                                    ? WK_DELAY_EXPONENTIAL
                                    : WK_DELAY_NONE,
                       .delay_mean_s = cfg->cluster.delay_mean_s};
        c->samplers[k] = rng_stream_create(cfg->seed, RNG_SAMPLER, (uint64_t)k);
        if (wk_init(&c->workers[k], k, &p, cfg->seed) || !c->samplers[k]) {
            free(links);
            return sim_err_set(err, SIM_ENOMEM, "out of memory");
        }
        ml_partition_contiguous(d->train->n, c->K, k, &c->row_begin[k],
                                &c->row_end[k]);
        snprintf(out->entity_names[k], sizeof out->entity_names[k], "worker%d",
                 k);
        links[k] = (net_link_cfg){
            .latency_s = cfg->network.workers[k].latency_s,
            .bandwidth_Bps = cfg->network.workers[k].bandwidth_Bps};
    }
    snprintf(out->entity_names[c->K], sizeof out->entity_names[c->K], "server");
    links[c->K] =
        (net_link_cfg){.latency_s = cfg->network.server.latency_s,
                       .bandwidth_Bps = cfg->network.server.bandwidth_Bps};
    c->net = net_create_star(c->loop, c->K + 1, links, cfg->network.contention,
                             on_deliver, c, err);
    free(links);
    if (!c->net)
        return err->code ? err->code : SIM_ENOMEM;
    return ops->create(&c->alg, c, err);
}

static int collect_workers(alg_ctx *c)
{
    eng_output *o = c->out;
    o->workers = calloc((size_t)c->K, sizeof *o->workers);
    if (!o->workers)
        return -1;
    o->n_workers = (size_t)c->K;
    for (int k = 0; k < c->K; k++) {
        const wk_worker *w = &c->workers[k];
        double idle = o->sim_seconds - w->compute_s - w->comm_s;
        o->workers[k] = (db_worker){
            .worker = k,
            .compute_seconds = w->compute_s,
            .comm_seconds = w->comm_s,
            .idle_seconds = idle > 0 ? idle : 0,
            .updates = w->updates,
            .bytes_sent = net_bytes_sent(c->net, k),
            .bytes_received = net_bytes_received(c->net, k),
            .mean_staleness =
                w->updates ? w->staleness_sum / (double)w->updates : NAN,
            .max_staleness = w->staleness_max};
    }
    return 0;
}

int eng_run(const cfg_experiment *cfg, const alg_ops *ops, const eng_data *d,
            eng_output *out, sim_err *err)
{
    memset(out, 0, sizeof *out);
    out->final_accuracy = out->final_loss = NAN;
    alg_ctx c;
    int rc = ctx_init(&c, cfg, ops, d, out, err);
    if (rc) {
        ctx_deinit(&c);
        eng_output_free(out);
        return rc;
    }

    ops->start(c.alg, &c);
    sim_loop_run(c.loop, INFINITY);
    if (!c.stopped)
        stop_run(&c, DB_STATUS_DONE, NULL);

    out->sim_seconds = sim_loop_now(c.loop);
    out->total_bytes = net_total_bytes(c.net);
    out->total_messages = net_total_messages(c.net);
    out->steps = c.last_step;
    out->events_fired = sim_loop_dispatched(c.loop);
    rc =
        collect_workers(&c) ? sim_err_set(err, SIM_ENOMEM, "out of memory") : 0;
    ctx_deinit(&c);
    if (rc)
        eng_output_free(out);
    return rc;
}

void eng_output_free(eng_output *out)
{
    free(out->metrics);
    free(out->workers);
    free(out->events);
    free(out->entity_names);
    out->metrics = NULL;
    out->workers = NULL;
    out->events = NULL;
    out->entity_names = NULL;
    out->n_metrics = out->n_workers = out->n_events = 0;
}
