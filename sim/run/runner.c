#include "runner.h"

#include "../io/trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static cfg_algorithm_spec specs[16];
static size_t n_specs;

const cfg_algorithm_spec *rn_algorithm_specs(size_t *n)
{
    if (n_specs == 0) {
        for (size_t i = 0; alg_registry[i]; i++) {
            if (i >= sizeof specs / sizeof specs[0])
                SIM_PANIC("too many algorithms for the spec table");
            const alg_ops *a = alg_registry[i];
            specs[i] = (cfg_algorithm_spec){.name = a->name,
                                            .summary = a->summary,
                                            .params = a->params,
                                            .n_params = a->n_params,
                                            .serverless = a->serverless};
            n_specs = i + 1;
        }
    }
    *n = n_specs;
    return specs;
}

/* A config or data file that cannot be read is the user's to fix, like one
 * that can be read but is wrong: both are bad input. */
static int as_input(sim_err *err, int rc)
{
    if (rc == SIM_EIO)
        rc = err->code = SIM_EDATA;
    return rc;
}

int rn_job_prepare(rn_job *j, const char *path, const cfg_override *ov,
                   size_t n_ov, sim_err *err)
{
    return rn_job_prepare_limited(j, path, ov, n_ov, NULL, err);
}

int rn_job_estimate(const cfg_experiment *cfg, const alg_ops *ops,
                    const eng_data *d, const rn_limits *limits,
                    rn_estimate *est, sim_err *err)
{
    int rc = rn_estimate_run(cfg, ops, d, est, err);
    return rc ? rc : rn_check_estimate(cfg, est, limits, err);
}

int rn_job_prepare_limited(rn_job *j, const char *path, const cfg_override *ov,
                           size_t n_ov, const rn_limits *limits, sim_err *err)
{
    memset(j, 0, sizeof *j);
    size_t n;
    const cfg_algorithm_spec *sp = rn_algorithm_specs(&n);
    int rc = cfg_load(path, sp, n, ov, n_ov, &j->cfg, err);
    if (rc)
        return as_input(err, rc);
    j->ops = alg_find(j->cfg->algorithm.name);
    if (!j->ops)
        SIM_PANIC("validated algorithm %s is not registered",
                  j->cfg->algorithm.name);
    if (j->ops->check && (rc = j->ops->check(j->cfg, err)))
        goto fail;
    if ((rc = rn_check_data(j->cfg, limits, err)))
        goto fail;
    if ((rc = eng_data_load_limited(j->cfg, rn_max_memory(limits), &j->data,
                                    err))) {
        rc = as_input(err, rc);
        goto fail;
    }
    if ((rc = rn_job_estimate(j->cfg, j->ops, &j->data, limits, &j->est, err)))
        goto fail;
    return 0;
fail:
    rn_job_free(j);
    return rc;
}

void rn_job_free(rn_job *j)
{
    eng_data_free(&j->data);
    cfg_experiment_free(j->cfg);
    j->cfg = NULL;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int rn_job_run(rn_job *j, db_store *db, const char *version, rn_summary *s,
               sim_err *err)
{
    return rn_job_run_traced(j, db, version, NULL, NULL, s, err);
}

db_run_info rn_job_info(const rn_job *j, const char *version,
                        const char *config_json)
{
    return (db_run_info){.name = j->cfg->name,
                         .algorithm = j->cfg->algorithm.name,
                         .config_json = config_json,
                         .seed = j->cfg->seed,
                         .dtsim_version = version};
}

void rn_job_simulate(rn_job *j, int trace, const eng_hooks *hooks, rn_result *r)
{
    memset(r, 0, sizeof *r);
    /* Record the timeline for the trace without changing the stored
     * config (serialised before) or the rows the user asked for. */
    r->events_asked = j->cfg->output.events;
    if (trace)
        j->cfg->output.events = 1;
    double t0 = wall_now();
    r->rc = eng_run_hooked(j->cfg, j->ops, &j->data, hooks, &r->out, &r->err);
    r->wall_seconds = wall_now() - t0;
    j->cfg->output.events = r->events_asked;
}

int rn_job_store(rn_job *j, db_store *db, int64_t run_id, rn_result *r,
                 const char *trace_path, rn_summary *s, sim_err *err)
{
    if (r->rc) {
        /* The run could not start; record why, then report it. */
        *err = r->err;
        db_run_result res = {.status = DB_STATUS_FAILED,
                             .error = err->msg,
                             .final_accuracy = NAN,
                             .final_loss = NAN};
        sim_err ignored = {0};
        db_run_finish(db, run_id, &res, NULL, 0, NULL, 0, NULL, 0, &ignored);
        return r->rc;
    }
    eng_output *out = &r->out;
    db_run_result res = {.status = out->status,
                         .error = out->error[0] ? out->error : NULL,
                         .wall_seconds = r->wall_seconds,
                         .sim_seconds = out->sim_seconds,
                         .total_bytes = out->total_bytes,
                         .total_messages = out->total_messages,
                         .steps = out->steps,
                         .final_accuracy = out->final_accuracy,
                         .final_loss = out->final_loss,
                         .links = out->links,
                         .n_links = out->n_links};
    size_t skip = r->metrics_written;
    if (skip > out->n_metrics)
        SIM_PANIC("%zu metrics rows written of %zu", skip, out->n_metrics);
    int rc =
        db_run_finish(db, run_id, &res, out->metrics + skip,
                      out->n_metrics - skip, out->workers, out->n_workers,
                      out->events, r->events_asked ? out->n_events : 0, err);
    if (rc == 0 && trace_path) {
        trace_run tr = {.run_id = run_id,
                        .name = j->cfg->name,
                        .algorithm = j->cfg->algorithm.name,
                        .events = out->events,
                        .n_events = out->n_events,
                        .metrics = out->metrics,
                        .n_metrics = out->n_metrics};
        rc = trace_write(trace_path, &tr, NULL, err);
    }
    *s = (rn_summary){.run_id = run_id,
                      .name = j->cfg->name,
                      .algorithm = j->cfg->algorithm.name,
                      .status = out->status,
                      .final_accuracy = out->final_accuracy,
                      .sim_seconds = out->sim_seconds,
                      .steps = out->steps,
                      .bytes = out->total_bytes};
    eng_output_free(out);
    return rc;
}

int rn_job_run_traced(rn_job *j, db_store *db, const char *version,
                      const char *trace_path, const eng_hooks *hooks,
                      rn_summary *s, sim_err *err)
{
    char *json = cfg_experiment_to_json(j->cfg);
    if (!json)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    db_run_info info = rn_job_info(j, version, json);
    int64_t run_id;
    int rc = db_run_begin(db, &info, &run_id, err);
    free(json);
    if (rc)
        return rc;
    rn_result r;
    rn_job_simulate(j, trace_path != NULL, hooks, &r);
    return rn_job_store(j, db, run_id, &r, trace_path, s, err);
}
