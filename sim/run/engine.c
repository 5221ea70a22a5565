#include "engine.h"
#include "evaluator.h"
#include "staleness.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cluster/worker.h"
#include "../core/event.h"
#include "../core/rng.h"
#include "../ml/batch.h"
#include "../ml/loaders.h"
#include "../ml/model.h"
#include "../ml/partition.h"
#include "../net/collective.h"
#include "../net/compress.h"
#include "../net/net.h"

/* ------------------------------------------------------------------ data */

/* What to call the data in messages: its file, or what makes it. */
static const char *data_name(const cfg_experiment *cfg)
{
    switch (cfg->data.format) {
    case CFG_FORMAT_IDX:
        return cfg->data.images;
    case CFG_FORMAT_SYNTHETIC:
        return "synthetic data";
    default:
        return cfg->data.path;
    }
}

/* The whole data set of the config, and its test set when the format has
 * its own (IDX test files); *test stays NULL otherwise. */
static int read_data(const cfg_experiment *cfg, double max_bytes,
                     ml_dataset **all, ml_dataset **test, sim_err *err)
{
    *test = NULL;
    switch (cfg->data.format) {
    case CFG_FORMAT_CSV: {
        ml_csv_opts o = {.header = cfg->data.header,
                         .label_column = cfg->data.label_column,
                         .delimiter = ','};
        return ml_csv_load(cfg->data.resolved_path, &o, all, err);
    }
    case CFG_FORMAT_LIBSVM: {
        ml_libsvm_opts o = {.n_features = (size_t)cfg->data.n_features,
                            .zero_based = cfg->data.zero_based,
                            .max_bytes = max_bytes};
        return ml_libsvm_load(cfg->data.resolved_path, &o, all, err);
    }
    case CFG_FORMAT_IDX: {
        ml_idx_opts o = {0};
        int rc = ml_idx_load(cfg->data.images_resolved,
                             cfg->data.labels_resolved, &o, all, err);
        if (rc || !cfg->data.has_test_set)
            return rc;
        rc = ml_idx_load(cfg->data.test_images_resolved,
                         cfg->data.test_labels_resolved, &o, test, err);
        if (rc == 0 && (*test)->d != (*all)->d)
            rc = sim_err_set(err, SIM_EDATA,
                             "%s: test items have %zu values, training items "
                             "(%s) %zu",
                             cfg->data.test_images, (*test)->d,
                             cfg->data.images, (*all)->d);
        return rc;
    }
    case CFG_FORMAT_SYNTHETIC: {
        gsl_rng *r = rng_stream_create(cfg->seed, RNG_DATA, 0);
        if (!r)
            return sim_err_set(err, SIM_ENOMEM, "out of memory");
        size_t n = (size_t)cfg->data.synth.n, dim = (size_t)cfg->data.synth.d;
        int rc =
            cfg->data.synth.kind == CFG_SYNTH_CLUSTERS
                ? ml_synth_clusters(n, dim, (size_t)cfg->data.synth.classes,
                                    cfg->data.synth.separation, r, all, err)
                : ml_synth_teacher(n, dim,
                                   cfg->data.synth.kind == CFG_SYNTH_LINEAR
                                       ? ML_TEACHER_LINEAR
                                       : ML_TEACHER_LOGISTIC,
                                   cfg->data.synth.noise, r, NULL, all, err);
        gsl_rng_free(r);
        return rc;
    }
    }
    return sim_err_set(err, SIM_EINVAL, "unknown data format");
}

/* Labels must fit the model: logreg is binary, and softmax and mlp given
 * n_classes take labels 0..n_classes-1. Checked here, before a run is
 * recorded, so that a wrong label is bad input and not a panic in the
 * gradient. */
static int check_labels(const cfg_experiment *cfg, size_t n_classes,
                        sim_err *err)
{
    size_t limit = strcmp(cfg->model.type, "logreg") == 0
                       ? 2
                       : (size_t)cfg->model.n_classes;
    if (limit == 0 || n_classes <= limit)
        return 0;
    return sim_err_set(err, SIM_EDATA,
                       "%s: label %zu is outside the %zu classes of model %s "
                       "(labels must be 0..%zu%s)",
                       data_name(cfg), n_classes - 1, limit, cfg->model.type,
                       limit - 1,
                       strcmp(cfg->model.type, "logreg") == 0
                           ? "; softmax or mlp take more classes"
                           : "; raise $.model.n_classes");
}

/* Shares the training rows among the workers as $.data.partition says,
 * reordering d->train so that each worker's rows are contiguous, and counts
 * each worker's labels. The contiguous partition leaves the rows in place,
 * so runs that ask for it are unchanged. */
static int partition_data(const cfg_experiment *cfg, eng_data *d, sim_err *err)
{
    int K = cfg->cluster.workers;
    size_t n = d->train->n, C = d->n_classes;
    d->K = K;
    d->offset = calloc((size_t)K + 1, sizeof *d->offset);
    d->label_rows = calloc((size_t)K * C, sizeof *d->label_rows);
    if (!d->offset || !d->label_rows)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    if (cfg->data.partition == CFG_PARTITION_CONTIGUOUS) {
        for (int k = 0; k < K; k++)
            ml_partition_contiguous(n, K, k, &d->offset[k], &d->offset[k + 1]);
    } else {
        ml_partition_opts po = {.kind = (ml_partition_kind)cfg->data.partition,
                                .shards = (size_t)cfg->data.shards,
                                .alpha = cfg->data.alpha,
                                .min_rows = (size_t)cfg->data.min_rows};
        ml_partition p;
        gsl_rng *r = rng_stream_create(cfg->seed, RNG_PARTITION, 0);
        int rc = r ? ml_partition_make(&p, &po, d->train->y, n, C, K, r, err)
                   : sim_err_set(err, SIM_ENOMEM, "out of memory");
        gsl_rng_free(r);
        if (rc == SIM_EINVAL || rc == SIM_EDATA) {
            /* Options the data cannot meet are the user's to fix: say where
             * they were given. */
            char why[sizeof err->msg];
            snprintf(why, sizeof why, "%s", err->msg);
            return sim_err_set(err, SIM_EDATA, "%s: $.data.partition: %s",
                               cfg->source_path, why);
        }
        if (rc)
            return rc;
        rc = ml_dataset_permute(d->train, p.perm);
        if (rc == 0)
            memcpy(d->offset, p.offset, ((size_t)K + 1) * sizeof *d->offset);
        ml_partition_deinit(&p);
        if (rc)
            return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    for (int k = 0; k < K; k++)
        for (size_t i = d->offset[k]; i < d->offset[k + 1]; i++)
            d->label_rows[(size_t)k * C + (size_t)d->train->y[i]]++;
    return 0;
}

int eng_data_load(const cfg_experiment *cfg, eng_data *d, sim_err *err)
{
    return eng_data_load_limited(cfg, 0, d, err);
}

int eng_data_load_limited(const cfg_experiment *cfg, double max_bytes,
                          eng_data *d, sim_err *err)
{
    memset(d, 0, sizeof *d);
    ml_dataset *all = NULL, *own_test = NULL;
    size_t *train = NULL, *test = NULL, n_train = 0, n_test = 0;
    int rc = read_data(cfg, max_bytes, &all, &own_test, err);
    if (rc)
        goto done;

    if (own_test) {
        d->train = all;
        d->test = own_test;
        all = own_test = NULL;
    } else {
        if (cfg->data.split == CFG_SPLIT_FILE) {
            rc = ml_split_from_file(cfg->data.split_resolved_path, all->n,
                                    &train, &n_train, &test, &n_test, err);
        } else {
            gsl_rng *r = rng_stream_create(cfg->seed, RNG_SPLIT, 0);
            rc = r ? ml_split_random(all->n, cfg->data.test_fraction, r, &train,
                                     &n_train, &test, &n_test, err)
                   : sim_err_set(err, SIM_ENOMEM, "out of memory");
            gsl_rng_free(r);
        }
        if (rc)
            goto done;
        d->train = ml_dataset_subset(all, train, n_train);
        d->test = ml_dataset_subset(all, test, n_test);
        if (!d->train || !d->test) {
            rc = sim_err_set(err, SIM_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (d->train->n < (size_t)cfg->cluster.workers) {
        rc = sim_err_set(err, SIM_EDATA,
                         "%s: %zu training rows cannot be shared by %d "
                         "workers",
                         data_name(cfg), d->train->n, cfg->cluster.workers);
        goto done;
    }
    size_t c_train = 0, c_test = 0;
    if ((rc = ml_dataset_n_classes(d->train, &c_train, err)) ||
        (rc = ml_dataset_n_classes(d->test, &c_test, err)))
        goto done;
    d->n_classes = c_train > c_test ? c_train : c_test;
    if ((rc = check_labels(cfg, d->n_classes, err)))
        goto done;
    if (cfg->data.scale == CFG_SCALE_STANDARDIZE)
        ml_dataset_standardize(d->train, d->test);
    else if (cfg->data.scale == CFG_SCALE_MINMAX)
        ml_dataset_scale_minmax(d->train, d->test);
    if (cfg->data.bias && ((rc = ml_dataset_add_bias(d->train, err)) ||
                           (rc = ml_dataset_add_bias(d->test, err))))
        goto done;
    if ((rc = partition_data(cfg, d, err)))
        goto done;
    if (cfg->cluster.trace_resolved_path &&
        (rc = tr_load(cfg->cluster.trace_resolved_path, cfg->cluster.workers,
                      &d->trace, &d->n_trace, err)))
        goto done;
done:
    ml_dataset_free(all);
    ml_dataset_free(own_test);
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
    free(d->trace);
    free(d->offset);
    free(d->label_rows);
    d->train = d->test = NULL;
    d->trace = NULL;
    d->offset = NULL;
    d->label_rows = NULL;
    d->n_trace = 0;
}

/* The model options of a run: the config's, with the data's dimension
 * and classes. */
static void model_opts(const cfg_experiment *cfg, const eng_data *d,
                       mdl_opts *mo)
{
    *mo = (mdl_opts){.d = d->train->d,
                     .sigmoid_eps = cfg->model.sigmoid_eps,
                     .n_classes = cfg->model.n_classes
                                      ? (size_t)cfg->model.n_classes
                                      : (d->n_classes > 2 ? d->n_classes : 2),
                     .n_hidden = cfg->model.n_hidden,
                     .activation = (mdl_act)cfg->model.activation,
                     .l2 = cfg->model.l2,
                     .l1 = cfg->model.l1,
                     .init = (mdl_init_kind)cfg->model.init,
                     .init_low = cfg->model.init_low,
                     .init_high = cfg->model.init_high};
    for (size_t i = 0; i < cfg->model.n_hidden && i < MDL_MAX_HIDDEN; i++)
        mo->hidden[i] = (size_t)cfg->model.hidden[i];
}

int eng_model_size(const cfg_experiment *cfg, const eng_data *d,
                   size_t *n_params, sim_err *err)
{
    mdl_opts mo;
    model_opts(cfg, d, &mo);
    mdl *m = NULL;
    int rc = mdl_create(cfg->model.type, &mo, &m, err);
    if (rc == 0)
        *n_params = m->ops->n_params(m);
    mdl_destroy(m);
    return rc;
}

/* --------------------------------------------------------------- context */

struct alg_ctx {
    const cfg_experiment *cfg;
    const alg_ops *ops;
    alg *alg;
    const eng_data *data;
    eng_output *out;
    const eng_hooks *hooks; /* NULL for none */

    sim_loop *loop;
    net *net;
    net_colls *colls;  /* all-reduces; NULL with the parameter server */
    int *coll_members; /* [K] node ids of the workers */
    int *coll_groups;  /* [K] rack of each worker (hier all-reduce) */
    int *coll_servers; /* [servers] node ids of sharded servers */
    /* $.network.compression: a codec and a generator per sending node
     * (K + 1), and top-k's error-feedback residuals per directed pair with
     * the server (worker k up: k; down to worker k: K + k), made on first
     * use. NULL without compression. */
    net_codec **codecs;
    gsl_rng **codec_rngs;
    double **residuals;
    mdl *model;
    int K;
    size_t n_params;

    wk_worker *workers;          /* [K] */
    ml_batch *batches;           /* [K] */
    gsl_rng *samplers;           /* [K], held by value (rng_stream_init) */
    size_t *row_begin, *row_end; /* [K] each worker's training rows */
    gsl_rng *alg_rng;

    /* Message payloads: n_params doubles each, recycled. `owned` lists every
     * buffer ever made, so that those still in flight when a run stops
     * early are freed too; `pool` holds the free ones. */
    double **owned, **pool;
    size_t n_owned, pool_len, pool_cap;

    size_t metrics_cap, events_cap;
    /* Evaluations on a second thread (eng_hooks.eval_thread), taken while
     * every |w_j| <= finite_below; NULL when off. */
    evaluator *ev;
    double finite_below;
    int64_t last_step;
    int64_t last_recorded_step;
    double next_eval_s; /* evaluation.every_seconds: the next due time */
    int stopped;

    /* Failures. A crash bumps the worker's epoch, which voids every
     * computation it had scheduled; what was in flight to it when it
     * crashed is recognised by its send time. */
    unsigned char *down;        /* [K] */
    uint32_t *epoch;            /* [K] */
    double *crashed_at;         /* [K] last crash time, -INFINITY if none */
    const cfg_crash **crash_of; /* [K] the config entry, or NULL */
    gsl_rng **crash_rngs;       /* [K] rate-based crashes only, else NULL */

    /* Workers joined by a direct link, made on first use: worker k's
     * neighbours are nbr[nbr_off[k] .. nbr_off[k + 1]), ascending. */
    int *nbr_off, *nbr;

    /* Staleness histograms: each worker's bars, only the values seen
     * (staleness.h). */
    st_hist *hist;
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
    /* A uniform range (the default of logreg and softmax) is drawn here as
     * it always was, so those runs keep their rows; the fan-in rules and the
     * MLP's default are the model's. The algorithm's own state (BMUF's
     * delta) is not a model and stays uniform. */
    cfg_init_kind kind = c->cfg->model.init;
    if (stream == ALG_STREAM_ALGORITHM || kind == CFG_INIT_UNIFORM ||
        (kind == CFG_INIT_DEFAULT && strcmp(c->cfg->model.type, "mlp") != 0))
        mdl_init_uniform(w, c->n_params, c->cfg->model.init_low,
                         c->cfg->model.init_high, r);
    else
        mdl_init_params(c->model, w, r);
    gsl_rng_free(r);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The workers' adjacency from the links of the built network: worker k's
 * list holds every worker at the other end of a link that leaves k. */
static void make_neighbours(alg_ctx *c)
{
    int L = net_link_count(c->net);
    c->nbr_off = calloc((size_t)c->K + 1, sizeof *c->nbr_off);
    if (!c->nbr_off)
        SIM_PANIC("out of memory for the workers' neighbours");
    for (int pass = 0; pass < 2; pass++) {
        int *fill = pass ? calloc((size_t)c->K, sizeof *fill) : NULL;
        if (pass && !fill)
            SIM_PANIC("out of memory for the workers' neighbours");
        for (int l = 0; l < L; l++) {
            int from, to;
            if (net_link_ends(c->net, l, &from, &to) || from < 0 ||
                from >= c->K || to < 0 || to >= c->K || from == to)
                continue;
            if (pass)
                c->nbr[c->nbr_off[from] + fill[from]++] = to;
            else
                c->nbr_off[from + 1]++;
        }
        if (!pass) {
            for (int k = 0; k < c->K; k++)
                c->nbr_off[k + 1] += c->nbr_off[k];
            c->nbr = malloc(((size_t)c->nbr_off[c->K] + 1) * sizeof *c->nbr);
            if (!c->nbr)
                SIM_PANIC("out of memory for the workers' neighbours");
        }
        free(fill);
    }
    /* Sort each list and drop repeats (parallel cables), compacting. */
    int at = 0;
    for (int k = 0; k < c->K; k++) {
        int *v = c->nbr + c->nbr_off[k];
        int n = c->nbr_off[k + 1] - c->nbr_off[k];
        qsort(v, (size_t)n, sizeof *v, cmp_int);
        int start = at;
        for (int i = 0; i < n; i++)
            if (at == start || c->nbr[at - 1] != v[i])
                c->nbr[at++] = v[i];
        c->nbr_off[k] = start;
    }
    c->nbr_off[c->K] = at;
}

int alg_ctx_neighbours(alg_ctx *c, int k, int *out)
{
    if (k < 0 || k >= c->K)
        SIM_PANIC("neighbours of worker %d of %d", k, c->K);
    if (!c->nbr_off)
        make_neighbours(c);
    int n = c->nbr_off[k + 1] - c->nbr_off[k];
    if (n > 0)
        memcpy(out, c->nbr + c->nbr_off[k], (size_t)n * sizeof *out);
    return n;
}

size_t alg_ctx_worker_rows(const alg_ctx *c, int k)
{
    return c->row_end[k] - c->row_begin[k];
}

size_t alg_ctx_sample_batch(alg_ctx *c, int k)
{
    wk_prefetch(&c->workers[k]);
    const cfg_experiment *cfg = c->cfg;
    int rc =
        cfg->batch.kind == CFG_BATCH_FRACTION
            ? ml_batch_bernoulli(&c->batches[k], c->row_begin[k], c->row_end[k],
                                 cfg->batch.fraction, &c->samplers[k])
            : ml_batch_fixed(&c->batches[k], c->row_begin[k], c->row_end[k],
                             (size_t)cfg->batch.size, &c->samplers[k]);
    if (rc)
        SIM_PANIC("out of memory drawing a mini-batch");
    return c->batches[k].n;
}

void alg_ctx_gradient(alg_ctx *c, int k, const double *w, double *grad)
{
    const ml_batch *b = &c->batches[k];
    c->model->ops->gradient(c->model, grad, w, c->data->train, b->rows, b->n);
}

/* A compute event carries the worker and its epoch in `a`, so that work a
 * crash interrupted is recognised and dropped. */
static int64_t pack_worker(alg_ctx *c, int k)
{
    return (int64_t)((uint64_t)c->epoch[k] << 32 | (uint32_t)k);
}

static void on_compute_event(sim_loop *loop, const sim_event *ev)
{
    (void)loop;
    alg_ctx *c = ev->obj;
    int k = (int)(uint32_t)ev->a;
    if (c->stopped || c->down[k] || (uint32_t)(ev->a >> 32) != c->epoch[k])
        return;
    c->ops->on_compute_done(c->alg, c, k, ev->b);
}

/* Work starts when the worker's previous work ends: one processor each. */
static double work_start(alg_ctx *c, int k)
{
    double now = sim_loop_now(c->loop);
    return c->workers[k].busy_until > now ? c->workers[k].busy_until : now;
}

static void occupy(alg_ctx *c, int k, double start, double t, int64_t tag,
                   const char *kind)
{
    wk_worker *w = &c->workers[k];
    w->busy_until = start + t;
    push_event(c, start, k, kind, t, 0);
    double delay = w->busy_until - sim_loop_now(c->loop);
    if (!sim_loop_schedule(c->loop, delay > 0 ? delay : 0, on_compute_event, c,
                           pack_worker(c, k), tag, NULL))
        SIM_PANIC("cannot schedule a computation of %g s", t);
}

void alg_ctx_compute(alg_ctx *c, int k, size_t n_samples, int64_t tag)
{
    if (c->down[k])
        return;
    wk_worker *w = &c->workers[k];
    double start = work_start(c, k);
    double t = wk_step_seconds(w, n_samples, start);
    w->compute_s += t;
    w->steps++;
    occupy(c, k, start, t, tag, "compute");
}

void alg_ctx_busy(alg_ctx *c, int k, double seconds, int64_t tag)
{
    if (!(seconds >= 0) || !isfinite(seconds))
        SIM_PANIC("worker %d busy for %g s", k, seconds);
    if (c->down[k])
        return;
    c->workers[k].compute_s += seconds;
    occupy(c, k, work_start(c, k), seconds, tag, "memory");
}

int alg_ctx_worker_down(const alg_ctx *c, int k)
{
    return c->down[k];
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

/* Encodes p in place into what the receiver decodes, with the sender's
 * codec, generator and residual; returns the bytes on the wire. */
static uint64_t compress(alg_ctx *c, int src, int dst, double *p)
{
    double *residual = NULL;
    if (c->cfg->network.compression.codec == CFG_CODEC_TOPK) {
        size_t r = src < c->K ? (size_t)src : (size_t)c->K + (size_t)dst;
        if (!c->residuals[r] &&
            !(c->residuals[r] = calloc(c->n_params, sizeof *c->residuals[r])))
            SIM_PANIC("out of memory for a top-k residual");
        residual = c->residuals[r];
    }
    if (net_codec_apply(c->codecs[src], p, p, residual, c->codec_rngs[src]))
        SIM_PANIC("codec refused a vector from node %d", src);
    return net_codec_size(c->codecs[src]) +
           (uint64_t)c->cfg->network.header_bytes;
}

void alg_ctx_send(alg_ctx *c, int src, int dst, alg_msg_kind kind, int64_t tag,
                  const double *data, size_t n)
{
    if (n != c->n_params)
        SIM_PANIC("messages carry a whole model (%zu values), not %zu",
                  c->n_params, n);
    /* A crashed worker sends nothing. */
    if (src < c->K && c->down[src])
        return;
    double *p = pool_get(c);
    if (c->cfg->network.value_bytes == 4) {
        for (size_t i = 0; i < n; i++)
            p[i] = (double)(float)data[i];
    } else {
        memcpy(p, data, n * sizeof *p);
    }
    uint64_t bytes = (uint64_t)n * (uint64_t)c->cfg->network.value_bytes +
                     (uint64_t)c->cfg->network.header_bytes;
    /* By default only what workers send is encoded, as gradient
     * compression does: a server that broadcast a top-k of the model would
     * hand every worker a model with most weights zero. */
    if (c->codecs && (src < c->K || c->cfg->network.compression.direction ==
                                        CFG_COMPRESS_BOTH))
        bytes = compress(c, src, dst, p);
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
    /* With thousands of workers their state is cold: start fetching what
     * the algorithm will likely touch (the receiver's sampler and rows)
     * while this bookkeeping runs. */
    if (m->dst < c->K) {
        __builtin_prefetch(c->samplers[m->dst].state);
        /* A worker's rows, when they are a few lines in all (many
         * workers, a small data set): its mini-batch will read them. */
        const gsl_matrix *X = c->data->train->X;
        const double *p = X->data + c->row_begin[m->dst] * X->tda,
                     *e = X->data + c->row_end[m->dst] * X->tda;
        if (e - p <= 128)
            for (; p < e; p += 8)
                __builtin_prefetch(p);
    }
    double now = sim_loop_now(c->loop);
    double transit = now - m->sent_at;
    if (m->src < c->K)
        c->workers[m->src].comm_s += transit;
    if (m->dst < c->K)
        c->workers[m->dst].comm_s += transit;
    push_event(c, m->sent_at, m->src, "send", transit, m->bytes);
    /* Lost: the receiver is down, or crashed while this was in flight (a
     * recovered worker starts afresh and never sees it). */
    int lost = m->dst < c->K &&
               (c->down[m->dst] || m->sent_at <= c->crashed_at[m->dst]);
    if (!c->stopped && !lost) {
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

static int within(const double *w, size_t n, double bound)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs(w[i]) <= bound))
            return 0;
    return 1;
}

/* The bookkeeping of a recorded evaluation, whichever thread computed it. */
static void record_eval(alg_ctx *c, const db_metric *m)
{
    c->out->final_accuracy = m->test_accuracy;
    c->out->final_loss = m->test_loss;
    if (c->hooks && c->hooks->on_eval)
        c->hooks->on_eval(c->hooks->user, m);
}

/* Fills in the metrics row of the oldest evaluation on the second thread
 * once it is finished (with wait, once it has finished); 0 when there is
 * none (or, without wait, it is still running). */
static int collect_eval(alg_ctx *c, int wait)
{
    ev_result r;
    if (!c->ev || !evaluator_next(c->ev, wait, &r))
        return 0;
    db_metric *m = &c->out->metrics[r.tag];
    m->test_accuracy = r.test.accuracy;
    m->test_loss = r.test.loss;
    m->train_loss = r.train_loss;
    /* Certified finite before it was sent (finite_below). */
    if (!isfinite(r.test.loss) ||
        (c->cfg->evaluation.train_loss && !isfinite(r.train_loss)))
        SIM_PANIC("step %lld: loss not finite within the model's bound",
                  (long long)m->step);
    record_eval(c, m);
    return 1;
}

void alg_ctx_evaluate(alg_ctx *c, int64_t step, const double *w, int final)
{
    if (c->stopped)
        return;
    if (c->hooks && c->hooks->cancel &&
        atomic_load_explicit(c->hooks->cancel, memory_order_relaxed)) {
        stop_run(c, DB_STATUS_FAILED, "cancelled at step %lld",
                 (long long)step);
        return;
    }
    c->last_step = step;
    if (!all_finite(w, c->n_params)) {
        stop_run(c, DB_STATUS_DIVERGED, "model not finite at step %lld",
                 (long long)step);
        return;
    }
    const long every = c->cfg->evaluation.every;
    const double every_s = c->cfg->evaluation.every_seconds;
    double now = sim_loop_now(c->loop);
    int due = (every > 0 && step % every == 0) || final;
    if (every_s > 0 && now >= c->next_eval_s) {
        due = 1;
        c->next_eval_s = (floor(now / every_s) + 1) * every_s;
    }
    if (!due || step == c->last_recorded_step)
        return;

    db_metric m = {.step = step,
                   .sim_time = now,
                   .bytes = net_total_bytes(c->net),
                   .messages = net_total_messages(c->net),
                   .test_accuracy = NAN,
                   .test_loss = NAN,
                   .train_loss = NAN};
    c->last_recorded_step = step;
    if (c->ev && within(w, c->n_params, c->finite_below)) {
        /* The loss is certainly finite, so nothing here depends on the
         * result: the row is filled in when it comes back. */
        while (collect_eval(c, 0))
            ;
        while (evaluator_full(c->ev))
            collect_eval(c, 1);
        if (push_metric(c, &m))
            SIM_PANIC("out of memory recording metrics");
        evaluator_submit(c->ev, c->out->n_metrics - 1, w);
        return;
    }
    /* Results in step order: the earlier ones first. */
    while (collect_eval(c, 1))
        ;
    mdl_eval te = c->model->ops->evaluate(c->model, w, c->data->test);
    m.test_accuracy = te.accuracy;
    m.test_loss = te.loss;
    if (c->cfg->evaluation.train_loss)
        m.train_loss =
            c->model->ops->evaluate(c->model, w, c->data->train).loss;
    if (push_metric(c, &m))
        SIM_PANIC("out of memory recording metrics");
    record_eval(c, &m);
    if (!isfinite(m.test_loss) ||
        (c->cfg->evaluation.train_loss && !isfinite(m.train_loss)))
        stop_run(c, DB_STATUS_DIVERGED, "loss not finite at step %lld",
                 (long long)step);
}

void alg_ctx_count_update(alg_ctx *c, int k, int64_t staleness)
{
    if (staleness < 0)
        SIM_PANIC("worker %d: negative staleness %lld", k,
                  (long long)staleness);
    st_hist_add(c->hist, k, staleness);
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

/* -------------------------------------------------------------- failures */

enum { EV_CRASH, EV_RECOVER, EV_DROP, EV_SLOWDOWN, EV_DELAY };

static void on_failure_event(sim_loop *loop, const sim_event *ev);

static void schedule_failure(alg_ctx *c, double delay, int kind, int k,
                             int64_t b, const tr_row *row)
{
    if (!sim_loop_schedule(c->loop, delay, on_failure_event, c,
                           (int64_t)kind << 32 | (uint32_t)k, b, (void *)row))
        SIM_PANIC("cannot schedule a failure event in %g s", delay);
}

/* The next rate-based crash of worker k, Exp(rate) seconds from now. */
static void schedule_random_crash(alg_ctx *c, int k)
{
    const cfg_crash *cr = c->crash_of[k];
    schedule_failure(c, gsl_ran_exponential(c->crash_rngs[k], 1.0 / cr->rate),
                     EV_CRASH, k, 0, NULL);
}

static void crash(alg_ctx *c, int k, int from_trace)
{
    if (c->down[k])
        return;
    double now = sim_loop_now(c->loop);
    c->down[k] = 1;
    c->epoch[k]++;
    c->crashed_at[k] = now;
    /* Work in progress is lost, and so is the time it would have taken. */
    wk_worker *w = &c->workers[k];
    if (w->busy_until > now) {
        w->compute_s -= w->busy_until - now;
        w->busy_until = now;
    }
    push_event(c, now, k, "crash", 0, 0);
    const cfg_crash *cr = c->crash_of[k];
    if (!from_trace && cr && cr->recover_after_s >= 0)
        schedule_failure(c, cr->recover_after_s, EV_RECOVER, k, 0, NULL);
    if (c->cfg->cluster.on_crash == CFG_ON_CRASH_DROP)
        schedule_failure(c, c->cfg->cluster.drop_timeout_s, EV_DROP, k,
                         c->epoch[k], NULL);
}

static void recover(alg_ctx *c, int k, int from_trace)
{
    if (!c->down[k])
        return;
    c->down[k] = 0;
    push_event(c, sim_loop_now(c->loop), k, "recover", 0, 0);
    if (!from_trace && c->crash_rngs[k])
        schedule_random_crash(c, k);
    if (c->ops->on_recover)
        c->ops->on_recover(c->alg, c, k);
}

static void on_failure_event(sim_loop *loop, const sim_event *ev)
{
    (void)loop;
    alg_ctx *c = ev->obj;
    if (c->stopped)
        return;
    int kind = (int)(ev->a >> 32), k = (int)(uint32_t)ev->a;
    const tr_row *row = ev->ptr;
    switch (kind) {
    case EV_CRASH:
        crash(c, k, row != NULL);
        break;
    case EV_RECOVER:
        recover(c, k, row != NULL);
        break;
    case EV_DROP:
        /* Only if it is still the same outage. */
        if (c->down[k] && c->epoch[k] == (uint32_t)ev->b) {
            push_event(c, sim_loop_now(c->loop), k, "dropped", 0, 0);
            if (c->ops->on_worker_lost)
                c->ops->on_worker_lost(c->alg, c, k);
        }
        break;
    case EV_SLOWDOWN:
        c->workers[k].trace_factor = row->value;
        push_event(c, sim_loop_now(c->loop), k, "slowdown", row->value, 0);
        break;
    case EV_DELAY:
        c->workers[k].trace_extra_s += row->value;
        break;
    }
}

static void schedule_failures(alg_ctx *c)
{
    for (int k = 0; k < c->K; k++) {
        const cfg_crash *cr = c->crash_of[k];
        if (!cr)
            continue;
        if (cr->rate > 0)
            schedule_random_crash(c, k);
        else
            schedule_failure(c, cr->at_s, EV_CRASH, k, 0, NULL);
    }
    static const int of_trace[] = {[TR_SLOWDOWN] = EV_SLOWDOWN,
                                   [TR_DELAY] = EV_DELAY,
                                   [TR_CRASH] = EV_CRASH,
                                   [TR_RECOVER] = EV_RECOVER};
    for (size_t i = 0; i < c->data->n_trace; i++) {
        const tr_row *r = &c->data->trace[i];
        schedule_failure(c, r->time_s, of_trace[r->kind], r->worker, 0, r);
    }
}

/* ------------------------------------------------------------- network */

cfg_collective alg_ctx_collective(const alg_ctx *c)
{
    return cfg_algorithm_collective(c->cfg);
}

int alg_ctx_combines(const alg_ctx *c)
{
    return alg_ctx_collective(c) != CFG_COLLECTIVE_PS ||
           c->cfg->network.servers > 1;
}

static void on_coll_member(void *user, int64_t tag, int member)
{
    alg_ctx *c = user;
    if (c->stopped)
        return;
    if (!c->ops->on_reduced)
        SIM_PANIC("algorithm %s started an all-reduce without on_reduced",
                  c->ops->name);
    c->ops->on_reduced(c->alg, c, member, tag);
}

void alg_ctx_allreduce(alg_ctx *c, int64_t tag)
{
    static const net_coll_kind kinds[] = {
        [CFG_COLLECTIVE_RING] = NET_COLL_ALLREDUCE_RING,
        [CFG_COLLECTIVE_TREE] = NET_COLL_ALLREDUCE_TREE,
        [CFG_COLLECTIVE_HIER] = NET_COLL_ALLREDUCE_HIER};
    cfg_collective which = alg_ctx_collective(c);
    if (!c->colls)
        SIM_PANIC("a collective round in a run of one parameter server");
    net_coll_cfg cc = {
        .kind = which == CFG_COLLECTIVE_PS ? NET_COLL_PS_ROUND : kinds[which],
        .members = c->coll_members,
        .n_members = c->K,
        .group = c->coll_groups,
        .servers = c->coll_servers,
        .n_servers = c->cfg->network.servers,
        .bytes = (uint64_t)c->n_params * (uint64_t)c->cfg->network.value_bytes +
                 (uint64_t)c->cfg->network.header_bytes,
        .tag = tag,
        .on_member = on_coll_member,
        .user = c};
    if (net_coll_start(c->colls, &cc) != 0)
        SIM_PANIC("cannot start an all-reduce among %d workers", c->K);
}

static int make_codecs(alg_ctx *c, sim_err *err);

/* The network of the config: the workers on hosts 0..K-1 and, with the
 * parameter server, the server on host K. A star with a server is built by
 * net_create_star exactly as before topologies existed, so those runs do
 * not change by a bit. */
static int build_network(alg_ctx *c, const net_link_cfg *star_links,
                         sim_err *err)
{
    const cfg_experiment *cfg = c->cfg;
    int hosts = cfg_network_hosts(cfg);
    net_link_cfg link = {.latency_s = cfg->network.link.latency_s,
                         .bandwidth_Bps = cfg->network.link.bandwidth_Bps};
    /* Sharded servers all take the server's link. */
    net_link_cfg *shard_links = NULL;
    if (cfg->network.servers > 1) {
        shard_links = malloc((size_t)hosts * sizeof *shard_links);
        if (!shard_links)
            return sim_err_set(err, SIM_ENOMEM, "out of memory");
        for (int i = 0; i < hosts; i++)
            shard_links[i] = star_links[i < c->K ? i : c->K];
        star_links = shard_links;
    }
    net_cable *cables = NULL;
    if (cfg->network.n_cables) {
        cables = calloc(cfg->network.n_cables, sizeof *cables);
        if (!cables) {
            free(shard_links);
            return sim_err_set(err, SIM_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < cfg->network.n_cables; i++) {
            const cfg_cable *cc = &cfg->network.cables[i];
            cables[i] = (net_cable){.a = cc->a,
                                    .b = cc->b,
                                    .latency_s = cc->latency_s,
                                    .bandwidth_Bps = cc->bandwidth_Bps,
                                    .bandwidth_rev_Bps = cc->bandwidth_rev_Bps};
        }
    }
    static const net_topo_kind kinds[] = {
        [CFG_TOPOLOGY_STAR] = NET_TOPO_STAR,
        [CFG_TOPOLOGY_RING] = NET_TOPO_RING,
        [CFG_TOPOLOGY_TREE] = NET_TOPO_TREE,
        [CFG_TOPOLOGY_FULL] = NET_TOPO_FULL,
        [CFG_TOPOLOGY_HIER] = NET_TOPO_HIER,
        [CFG_TOPOLOGY_GRAPH] = NET_TOPO_GRAPH};
    net_topo t = {.kind = kinds[cfg->network.topology],
                  .n_nodes = cfg->network.topology == CFG_TOPOLOGY_GRAPH
                                 ? cfg->network.graph_nodes
                                 : hosts,
                  .link = link,
                  .links = star_links,
                  .arity = cfg->network.arity,
                  .n_racks = cfg->network.racks,
                  .hosts_per_rack = cfg->network.hosts_per_rack,
                  .wan_link = {.latency_s = cfg->network.wan.latency_s,
                               .bandwidth_Bps = cfg->network.wan.bandwidth_Bps},
                  .cables = cables,
                  .n_cables = (int)cfg->network.n_cables};
    net_opts opts = {.contention = cfg->network.contention,
                     .deliver = on_deliver,
                     .user = c};
    c->net = net_create_topo(c->loop, &t, &opts, err);
    free(cables);
    free(shard_links);
    if (!c->net)
        return err->code ? err->code : SIM_ENOMEM;

    for (size_t i = 0; i < cfg->network.n_events; i++) {
        const cfg_link_event *ev = &cfg->network.events[i];
        int rc =
            ev->what == CFG_LINK_BANDWIDTH
                ? net_link_set_bandwidth_at(c->net, ev->at_s, ev->link,
                                            ev->value)
            : ev->what == CFG_LINK_LATENCY
                ? net_link_set_latency_at(c->net, ev->at_s, ev->link, ev->value)
                : net_link_set_up_at(c->net, ev->at_s, ev->link,
                                     ev->value != 0);
        if (rc)
            return sim_err_set(err, rc == SIM_ENOMEM ? SIM_ENOMEM : SIM_ECONFIG,
                               "%s: $.network.events[%zu]: cannot change "
                               "link %d",
                               cfg->source_path, i, ev->link);
    }

    if (!alg_ctx_combines(c))
        return make_codecs(c, err);
    int P = cfg->network.servers;
    c->colls = net_colls_create(c->net);
    c->coll_members = malloc((size_t)c->K * sizeof *c->coll_members);
    c->coll_groups = malloc((size_t)c->K * sizeof *c->coll_groups);
    c->coll_servers = malloc((size_t)P * sizeof *c->coll_servers);
    if (!c->colls || !c->coll_members || !c->coll_groups || !c->coll_servers)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    for (int s = 0; s < P; s++)
        c->coll_servers[s] = c->K + s;
    int per_rack =
        cfg->network.hosts_per_rack > 0 ? cfg->network.hosts_per_rack : c->K;
    for (int k = 0; k < c->K; k++) {
        c->coll_members[k] = k;
        c->coll_groups[k] = k / per_rack;
    }
    return 0;
}

/* Codecs for $.network.compression, one per sending node, each with its
 * own stream of the compression kind so that a sender's draws do not
 * depend on anyone else's traffic. */
_Static_assert((int)CFG_CODEC_FP16 == (int)NET_CODEC_FP16 &&
                   (int)CFG_CODEC_TOPK == (int)NET_CODEC_TOPK &&
                   (int)CFG_CODEC_RANDK == (int)NET_CODEC_RANDK &&
                   (int)CFG_CODEC_QSGD == (int)NET_CODEC_QSGD,
               "cfg_codec values are net_codec_kind values");

static int make_codecs(alg_ctx *c, sim_err *err)
{
    const cfg_experiment *cfg = c->cfg;
    if (cfg->network.compression.codec == CFG_CODEC_NONE)
        return 0;
    size_t k = (size_t)cfg->network.compression.k;
    if (k == 0) {
        double want = cfg->network.compression.fraction * (double)c->n_params;
        k = want < 1 ? 1 : (size_t)(want + 0.5);
    }
    net_codec_cfg cc = {.kind = (net_codec_kind)cfg->network.compression.codec,
                        .value_bytes = cfg->network.value_bytes,
                        .k = k,
                        .levels = cfg->network.compression.levels};
    c->codecs = calloc((size_t)c->K + 1, sizeof *c->codecs);
    c->codec_rngs = calloc((size_t)c->K + 1, sizeof *c->codec_rngs);
    c->residuals = calloc(2 * (size_t)c->K, sizeof *c->residuals);
    if (!c->codecs || !c->codec_rngs || !c->residuals)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    for (int i = 0; i <= c->K; i++) {
        c->codecs[i] = net_codec_create(&cc, c->n_params);
        c->codec_rngs[i] =
            rng_stream_create(cfg->seed, RNG_COMPRESS, (uint64_t)i);
        if (!c->codecs[i] || !c->codec_rngs[i])
            return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    return 0;
}

/* Every byte sent must have been received once nothing is in flight; a
 * difference is a bug in the network's accounting, never the user's. */
int eng_check_conservation(uint64_t sent, uint64_t received, size_t in_flight,
                           sim_err *err)
{
    if (in_flight > 0 || sent == received)
        return 0;
    return sim_err_set(err, SIM_EINTERNAL,
                       "byte conservation violated: %llu bytes sent, %llu "
                       "received, nothing in flight",
                       (unsigned long long)sent, (unsigned long long)received);
}

/* ------------------------------------------------------------------- run */

static void ctx_deinit(alg_ctx *c)
{
    evaluator_destroy(c->ev); /* it reads the model and the data */
    if (c->alg && c->ops)
        c->ops->destroy(c->alg);
    for (int k = 0; c->workers && k < c->K; k++)
        wk_deinit(&c->workers[k]);
    for (int k = 0; c->batches && k < c->K; k++)
        ml_batch_deinit(&c->batches[k]);
    for (int k = 0; c->samplers && k < c->K; k++)
        rng_stream_deinit(&c->samplers[k]);
    for (int k = 0; c->crash_rngs && k < c->K; k++)
        gsl_rng_free(c->crash_rngs[k]);
    st_hist_destroy(c->hist);
    free(c->nbr_off);
    free(c->nbr);
    free(c->crash_rngs);
    free(c->crash_of);
    free(c->down);
    free(c->epoch);
    free(c->crashed_at);
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
    net_colls_destroy(c->colls);
    free(c->coll_members);
    free(c->coll_groups);
    free(c->coll_servers);
    for (int i = 0; c->codecs && i <= c->K; i++) {
        net_codec_destroy(c->codecs[i]);
        gsl_rng_free(c->codec_rngs[i]);
    }
    for (int i = 0; c->residuals && i < 2 * c->K; i++)
        free(c->residuals[i]);
    free(c->codecs);
    free(c->codec_rngs);
    free(c->residuals);
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

    /* A sweep shares data among runs whose models differ, so the labels
     * are checked against each run's model again. */
    int rc = check_labels(cfg, d->n_classes, err);
    if (rc)
        return rc;
    if (d->K != c->K)
        SIM_PANIC("data partitioned for %d workers, run has %d", d->K, c->K);
    mdl_opts mo;
    model_opts(cfg, d, &mo);
    if ((rc = mdl_create(cfg->model.type, &mo, &c->model, err)))
        return rc;
    c->n_params = c->model->ops->n_params(c->model);

    c->loop = sim_loop_create();
    c->workers = calloc((size_t)c->K, sizeof *c->workers);
    c->batches = calloc((size_t)c->K, sizeof *c->batches);
    c->samplers = calloc((size_t)c->K, sizeof *c->samplers);
    c->row_begin = calloc((size_t)c->K, sizeof *c->row_begin);
    c->row_end = calloc((size_t)c->K, sizeof *c->row_end);
    c->alg_rng = rng_stream_create(cfg->seed, RNG_ALGORITHM, 0);
    c->down = calloc((size_t)c->K, sizeof *c->down);
    c->epoch = calloc((size_t)c->K, sizeof *c->epoch);
    c->crashed_at = calloc((size_t)c->K, sizeof *c->crashed_at);
    c->crash_of = calloc((size_t)c->K, sizeof *c->crash_of);
    c->crash_rngs = calloc((size_t)c->K, sizeof *c->crash_rngs);
    c->hist = st_hist_create(c->K);
    out->entity_names = calloc((size_t)c->K + 1, sizeof *out->entity_names);
    net_link_cfg *links = calloc((size_t)c->K + 1, sizeof *links);
    if (!c->loop || !c->workers || !c->batches || !c->samplers ||
        !c->row_begin || !c->row_end || !c->alg_rng || !out->entity_names ||
        !links || !c->down || !c->epoch || !c->crashed_at || !c->crash_of ||
        !c->crash_rngs || !c->hist) {
        free(links);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }

    double flops = c->model->ops->flops_per_sample(c->model);
    static const wk_delay delays[] = {
        [CFG_DELAY_NONE] = WK_DELAY_NONE,
        [CFG_DELAY_EXPONENTIAL] = WK_DELAY_EXPONENTIAL,
        [CFG_DELAY_LOGNORMAL] = WK_DELAY_LOGNORMAL,
        [CFG_DELAY_PARETO] = WK_DELAY_PARETO,
        [CFG_DELAY_GAMMA] = WK_DELAY_GAMMA,
        [CFG_DELAY_MIXTURE] = WK_DELAY_MIXTURE};
    wk_delay_params delay = {.dist = delays[cfg->cluster.delay],
                             .mean_s = cfg->cluster.delay_mean_s,
                             .sd_s = cfg->cluster.delay_sd_s,
                             .shape = cfg->cluster.delay_shape,
                             .p = cfg->cluster.delay_p,
                             .short_s = cfg->cluster.delay_short_s,
                             .long_s = cfg->cluster.delay_long_s};
    wk_slow_params slow = {.factor = cfg->cluster.slow_periods.factor,
                           .mean_slow_s = cfg->cluster.slow_periods.mean_slow_s,
                           .mean_normal_s =
                               cfg->cluster.slow_periods.mean_normal_s};
    for (size_t i = 0; i < cfg->cluster.n_crashes; i++) {
        const cfg_crash *cr = &cfg->cluster.crashes[i];
        c->crash_of[cr->worker] = cr;
        /* Far above any worker index, so it meets no delay or slow-period
         * stream of the straggler kind. */
        if (cr->rate > 0 &&
            !(c->crash_rngs[cr->worker] = rng_stream_create(
                  cfg->seed, RNG_STRAGGLER,
                  2 * WK_SLOW_STREAM_BASE + (uint64_t)cr->worker))) {
            free(links);
            return sim_err_set(err, SIM_ENOMEM, "out of memory");
        }
    }
    for (int k = 0; k < c->K; k++) {
        c->crashed_at[k] = -INFINITY;
        wk_params p = {.seconds_per_sample =
                           cfg->cluster.compute ==
                                   CFG_COMPUTE_SECONDS_PER_SAMPLE
                               ? cfg->cluster.seconds_per_sample
                               : 0.0,
                       .flops_per_sample = flops,
                       .flops_per_second = cfg->cluster.flops_per_second,
                       .speed = cfg->cluster.speed[k],
                       .slowdown = cfg->cluster.slowdown[k],
                       .delay = delay,
                       .slow = slow};
        if (wk_init(&c->workers[k], k, &p, cfg->seed) ||
            rng_stream_init(&c->samplers[k], cfg->seed, RNG_SAMPLER,
                            (uint64_t)k)) {
            free(links);
            return sim_err_set(err, SIM_ENOMEM, "out of memory");
        }
        c->row_begin[k] = d->offset[k];
        c->row_end[k] = d->offset[k + 1];
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
    rc = build_network(c, links, err);
    free(links);
    if (rc)
        return rc;
    return ops->create(&c->alg, c, err);
}

/* Nothing left to happen and the algorithm has not finished: say what it
 * was most likely waiting for. */
static void stall(alg_ctx *c)
{
    double now = sim_loop_now(c->loop);
    int k = 0;
    while (k < c->K && !c->down[k])
        k++;
    if (k < c->K)
        stop_run(c, DB_STATUS_FAILED,
                 "stalled at %.9g s after step %lld: waiting for worker %d, "
                 "which crashed at %.9g s and never recovered",
                 now, (long long)c->last_step, k, c->crashed_at[k]);
    else
        stop_run(c, DB_STATUS_FAILED,
                 "stalled at %.9g s after step %lld: no event left and the "
                 "algorithm did not finish",
                 now, (long long)c->last_step);
}

static int collect_workers(alg_ctx *c)
{
    eng_output *o = c->out;
    o->workers = calloc((size_t)c->K, sizeof *o->workers);
    if (!o->workers)
        return -1;
    o->n_workers = (size_t)c->K;
    size_t total = 0;
    for (int k = 0; k < c->K; k++) {
        const db_staleness *bars;
        total += st_hist_bars(c->hist, k, &bars);
    }
    o->staleness = calloc(total ? total : 1, sizeof *o->staleness);
    if (!o->staleness)
        return -1;
    size_t at = 0;
    for (int k = 0; k < c->K; k++) {
        const wk_worker *w = &c->workers[k];
        const db_staleness *bars;
        size_t n_bars = st_hist_bars(c->hist, k, &bars);
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
            .max_staleness = w->staleness_max,
            .staleness = o->staleness + at,
            .n_staleness = n_bars,
            .label_rows = c->data->label_rows + (size_t)k * c->data->n_classes,
            .n_labels = c->data->n_classes};
        if (n_bars)
            memcpy(o->staleness + at, bars, n_bars * sizeof *o->staleness);
        at += n_bars;
    }
    return 0;
}

/* Per-link load, copied out because the network dies with the run. */
static int collect_links(alg_ctx *c)
{
    eng_output *o = c->out;
    size_t n = (size_t)net_link_count(c->net);
    o->links = calloc(n ? n : 1, sizeof *o->links);
    o->link_names = calloc(n ? n : 1, sizeof *o->link_names);
    if (!o->links || !o->link_names)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *name = net_link_name(c->net, (int)i);
        snprintf(o->link_names[i], sizeof o->link_names[i], "%s",
                 name ? name : "");
        o->links[i] =
            (db_link){.link = (int)i,
                      .name = o->link_names[i],
                      .bytes = net_link_bytes(c->net, (int)i),
                      .busy_seconds = net_link_busy_s(c->net, (int)i)};
    }
    o->n_links = n;
    return 0;
}

/* Without a bound, or without a thread, evaluations stay on this one. */
static void start_evaluator(alg_ctx *c)
{
    double (*bound)(const mdl *, const ml_dataset *) =
        c->model->ops->finite_below;
    if (!bound)
        return;
    const ml_dataset *train =
        c->cfg->evaluation.train_loss ? c->data->train : NULL;
    double b = bound(c->model, c->data->test);
    if (train) {
        double bt = bound(c->model, train);
        b = bt < b ? bt : b;
    }
    if (!(b > 0))
        return;
    c->finite_below = b;
    c->ev = evaluator_create(c->model, c->data->test, train, c->n_params);
}

int eng_run(const cfg_experiment *cfg, const alg_ops *ops, const eng_data *d,
            eng_output *out, sim_err *err)
{
    return eng_run_hooked(cfg, ops, d, NULL, out, err);
}

int eng_run_hooked(const cfg_experiment *cfg, const alg_ops *ops,
                   const eng_data *d, const eng_hooks *hooks, eng_output *out,
                   sim_err *err)
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
    c.hooks = hooks;
    if (hooks && hooks->eval_thread)
        start_evaluator(&c);

    schedule_failures(&c);
    ops->start(c.alg, &c);
    sim_loop_run(c.loop, INFINITY);
    if (!c.stopped)
        stall(&c);
    while (collect_eval(&c, 1))
        ;

    out->sim_seconds = sim_loop_now(c.loop);
    out->total_bytes = net_total_bytes(c.net);
    out->total_messages = net_total_messages(c.net);
    out->steps = c.last_step;
    out->events_fired = sim_loop_dispatched(c.loop);
    uint64_t sent = 0, received = 0;
    for (int i = 0; i < net_node_count(c.net); i++) {
        sent += net_bytes_sent(c.net, i);
        received += net_bytes_received(c.net, i);
    }
    size_t in_flight = net_messages_in_flight(c.net) +
                       (c.colls ? (size_t)net_colls_running(c.colls) : 0);
    rc = eng_check_conservation(sent, received, in_flight, err);
    if (rc == 0 && (collect_workers(&c) || collect_links(&c)))
        rc = sim_err_set(err, SIM_ENOMEM, "out of memory");
    ctx_deinit(&c);
    if (rc)
        eng_output_free(out);
    return rc;
}

void eng_output_free(eng_output *out)
{
    free(out->metrics);
    free(out->workers);
    free(out->staleness);
    free(out->events);
    free(out->entity_names);
    free(out->links);
    free(out->link_names);
    out->links = NULL;
    out->link_names = NULL;
    out->n_links = 0;
    out->metrics = NULL;
    out->workers = NULL;
    out->staleness = NULL;
    out->events = NULL;
    out->entity_names = NULL;
    out->n_metrics = out->n_workers = out->n_events = 0;
}
