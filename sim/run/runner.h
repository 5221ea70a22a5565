/* runner.h: one experiment, from its config file to rows in a database.
 *
 * The steps every front end needs (run, check, and later sweeps): load and
 * validate the config against the algorithm registry, run the algorithm's
 * own checks, read the data; then, separately, run the experiment and store
 * it as one run. Preparing never touches a database, so a front end can
 * prepare every job before it writes anything.
 * Ownership: a job owns its config and data; rn_job_free releases them. */
#ifndef DTSIM_RUNNER_H
#define DTSIM_RUNNER_H

#include <stdint.h>

#include "../../algorithms/alg.h"
#include "../core/err.h"
#include "../io/config.h"
#include "../io/store.h"
#include "engine.h"
#include "limits.h"

typedef struct rn_job {
    cfg_experiment *cfg;
    const alg_ops *ops;
    eng_data data;
    rn_estimate est; /* what the run will cost (limits.h) */
} rn_job;

typedef struct rn_summary {
    int64_t run_id;
    const char *name, *algorithm; /* borrowed from the job's config */
    db_status status;
    double final_accuracy, sim_seconds;
    int64_t steps;
    uint64_t bytes;
} rn_summary;

/* The registry's parameter tables in the form cfg_load takes (static). */
const cfg_algorithm_spec *rn_algorithm_specs(size_t *n);

/* Loads path with the overrides and reads its data into *j. Returns 0, or
 * SIM_ECONFIG / SIM_EDATA for bad input (a file that cannot be read counts
 * as bad input), SIM_ENOMEM; *j is then empty. */
int rn_job_prepare(rn_job *j, const char *path, const cfg_override *ov,
                   size_t n_ov, sim_err *err);

/* As rn_job_prepare, under limits (NULL: the defaults, which
 * rn_job_prepare applies too): the data is estimated before it is read
 * and refused when over the memory limit, then the run is estimated
 * (j->est) and refused when over either limit, SIM_ECONFIG naming the
 * config file. */
int rn_job_prepare_limited(rn_job *j, const char *path, const cfg_override *ov,
                           size_t n_ov, const rn_limits *limits, sim_err *err);

/* The limit checks of a job whose config is loaded, for front ends that
 * load data their own way (sweeps share it): rn_check_data before the data
 * is read, then this with the data to fill *est and check it. */
int rn_job_estimate(const cfg_experiment *cfg, const alg_ops *ops,
                    const eng_data *d, const rn_limits *limits,
                    rn_estimate *est, sim_err *err);
void rn_job_free(rn_job *j); /* NULL-safe fields */

/* Runs the job and stores it as one run of db. Returns 0 when the run was
 * stored (done or diverged, see s->status), or the error that stopped it
 * (the run is then stored as failed where the database allows). */
int rn_job_run(rn_job *j, db_store *db, const char *version, rn_summary *s,
               sim_err *err);

/* As rn_job_run, and when trace_path is not NULL also writes the run's
 * timeline there in the Chrome trace-event format (io/trace.h). The
 * timeline is recorded for the trace even when the config does not ask for
 * events; the database then gets no events rows and the stored config is
 * the one given. A trace that cannot be written is SIM_EIO after the run
 * was stored. hooks (NULL for none) observe the run as it goes. */
int rn_job_run_traced(rn_job *j, db_store *db, const char *version,
                      const char *trace_path, const eng_hooks *hooks,
                      rn_summary *s, sim_err *err);

/* rn_job_run_traced in its three steps, for a front end that gets the
 * database ready while the run simulates (dtsim run):
 *   rn_job_info: the runs row, from config_json (the job's config as
 *     cfg_experiment_to_json gives it, taken before the run starts);
 *   db_run_begin with it, on any thread;
 *   rn_job_simulate: the run itself, touching no database;
 *   rn_job_store: its rows, the trace and the summary, as
 *     rn_job_run_traced stores them; frees r. */
typedef struct rn_result {
    int rc;      /* 0, or the error that kept the run from starting */
    sim_err err; /* with rc */
    eng_output out;
    double wall_seconds;
    int events_asked; /* the config's own output.events */
    /* The first rows of out.metrics, already written by the caller
     * (db_run_add_metrics), which rn_job_store then leaves out. */
    size_t metrics_written;
} rn_result;

db_run_info rn_job_info(const rn_job *j, const char *version,
                        const char *config_json);
void rn_job_simulate(rn_job *j, int trace, const eng_hooks *hooks,
                     rn_result *r);
int rn_job_store(rn_job *j, db_store *db, int64_t run_id, rn_result *r,
                 const char *trace_path, rn_summary *s, sim_err *err);

#endif
