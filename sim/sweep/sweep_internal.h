/* sweep_internal.h: what the sweep's files share (not for other modules).
 *
 * - A run's result travels from the process that ran it to the one that
 *   writes the database as one byte string: the worker runs it with the
 *   runner (rn_job_run) into a sink store (store.h), and wire.c encodes the
 *   final status and rows the sink receives; the writer decodes them and
 *   stores them with db_run_finish, as `dtsim run` does.
 * - The sweep tables (sweeps, sweep_runs) live in the results database next
 *   to the store's own; sw__db_tables creates them when missing.
 * - An executor hands run indices to slots (worker processes or MPI ranks)
 *   and returns their results; the coordinator in sweep.c does not care
 *   which. */
#ifndef DTSIM_SWEEP_INTERNAL_H
#define DTSIM_SWEEP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../../algorithms/alg.h"
#include "../core/err.h"
#include "../io/config.h"
#include "../io/store.h"
#include "../run/engine.h"

struct sqlite3;

/* One prepared run: what a worker needs to run it. */
typedef struct sw__job {
    cfg_experiment *cfg;
    const alg_ops *ops;
    const eng_data *data; /* shared between jobs with the same data */
    char *config_json;
} sw__job;

typedef struct sw__buf {
    unsigned char *p;
    size_t len, cap;
} sw__buf;

/* A run's outcome as received: the encoded run (its final status and
 * rows), or, when there is none (the worker died), the reason. */
typedef struct sw__result {
    unsigned char *run; /* NULL when failed before storing; malloc'd */
    size_t len;
    char error[512];
} sw__result;

/* Runs job j and encodes its outcome into b (emptied first). Returns 0 or
 * SIM_ENOMEM. */
int sw__run_encode(const sw__job *j, sw__buf *b);
/* Takes the encoded bytes (p, len; p is taken over and freed). */
int sw__result_decode(unsigned char *p, size_t len, sw__result *r,
                      sim_err *err);
/* A failed result carrying only a message (a worker that died). */
void sw__result_failed(sw__result *r, const char *msg);
void sw__result_free(sw__result *r);
void sw__buf_free(sw__buf *b);

/* The writer's side: copies a result's run into the results database.
 * sw__writer_put fills run run_id (which must be 'running') with the run's
 * final status and all its rows, in one transaction, and sets *status (and
 * r->error to the run's error, if any). SIM_EDB on failure, with nothing
 * changed. */
typedef struct sw__writer sw__writer;
int sw__writer_create(db_store *store, const char *path, sw__writer **out,
                      sim_err *err);
int sw__writer_put(sw__writer *w, int64_t run_id, sw__result *r,
                   db_status *status, sim_err *err);
void sw__writer_destroy(sw__writer *w); /* NULL-safe */

/* The tables of schema ("main", "src") whose rows belong to a run (a
 * run_id column), other than runs and sweep_runs: metrics, workers, events
 * and whatever the store adds. Returns how many (at most cap) or -1. */
#define SW__MAX_RUN_TABLES 16
int sw__run_tables(struct sqlite3 *db, const char *schema, char (*names)[64],
                   int cap);

/* Creates the sweep tables when missing. SIM_EDB on failure. */
int sw__db_tables(struct sqlite3 *db, const char *path, sim_err *err);

/* Executors. submit hands run idx to an idle slot; wait blocks until some
 * slot finishes and returns it with the result (a failure result when the
 * slot's process died; the executor then replaces it). A negative return is
 * an error that ends the sweep. ready says whether wait would return at
 * once (a result, or a slot's death, is waiting), so the writer can take
 * every result that is there before it writes them in one transaction. */
typedef struct sw__exec {
    int n_slots;
    int (*submit)(struct sw__exec *x, int slot, size_t idx, sim_err *err);
    int (*wait)(struct sw__exec *x, int *slot, sw__result *res, sim_err *err);
    int (*ready)(struct sw__exec *x);
    void (*shutdown)(struct sw__exec *x);
    void *state;
} sw__exec;

int sw__fork_exec(sw__exec *x, int n, const sw__job *jobs, size_t n_jobs,
                  unsigned timeout_s, sim_err *err);

#ifdef DTSIM_HAVE_MPI
/* Whether this process was started by mpirun with more than one rank. */
int sw__mpi_active(void);
int sw__mpi_rank(void);
/* Rank 0: an executor whose slots are ranks 1..n-1. Other ranks: serve runs
 * until told to stop, then return. */
int sw__mpi_exec(sw__exec *x, sim_err *err);
int sw__mpi_serve(const sw__job *jobs, size_t n_jobs);
void sw__mpi_finalize(void);
#endif

#endif
