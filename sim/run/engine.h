/* engine.h: one run of one experiment on the simulated clock.
 *
 * The engine wires the layers below it (event loop, network, workers, data,
 * model) into the context an algorithm sees (algorithms/alg.h), runs the
 * event loop until the algorithm finishes, and collects the rows to store.
 * It never opens a database: the caller stores what it returns.
 *
 * A run ends when the algorithm says so (done), when the model diverges, or
 * when nothing is left to happen before the algorithm finished: then the
 * run is failed and the error says why (for a synchronous algorithm facing
 * a crash: which crashed worker it was waiting for), never a hang.
 *
 * Flow: eng_data_load (reads and prepares the data and the trace file; bad
 * files are SIM_EDATA
 * or SIM_EIO, so the caller can refuse a run before writing anything), then
 * eng_run. Ownership: both fill caller-provided structs that the caller
 * releases with eng_data_free / eng_output_free. */
#ifndef DTSIM_ENGINE_H
#define DTSIM_ENGINE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "../../algorithms/alg.h"
#include "../cluster/replay.h"
#include "../core/err.h"
#include "../io/config.h"
#include "../io/store.h"
#include "../ml/dataset.h"

typedef struct eng_data {
    ml_dataset *train; /* rows in partition order: worker k holds a slice */
    ml_dataset *test;
    tr_row *trace; /* $.cluster.trace, sorted by time; NULL when none */
    size_t n_trace;
    size_t n_classes; /* 1 + the largest label of train and test */
    /* The partition ($.data.partition): worker k holds the training rows
     * [offset[k], offset[k + 1]) (K + 1 entries), and label_rows[k *
     * n_classes + c] of them have label c. */
    int K;
    size_t *offset;
    int64_t *label_rows;
} eng_data;

typedef struct eng_output {
    db_status status;
    char error[256]; /* set when diverged or failed */
    double sim_seconds;
    uint64_t total_bytes, total_messages;
    int64_t steps;
    double final_accuracy, final_loss; /* NaN when never evaluated */
    uint64_t events_fired;             /* by the event loop */

    db_metric *metrics;
    size_t n_metrics;
    db_worker *workers; /* their staleness histograms point into staleness */
    size_t n_workers;
    db_staleness *staleness; /* backing store of the workers' histograms */
    db_event *events;        /* only when the config asks for them */
    size_t n_events;
    char (*entity_names)[24]; /* backing store of events[].entity */
    db_link *links;           /* every directed link of the network */
    size_t n_links;
    char (*link_names)[32]; /* backing store of links[].name */
} eng_output;

int eng_data_load(const cfg_experiment *cfg, eng_data *d, sim_err *err);
/* As eng_data_load; a data set whose dense matrix would take more than
 * max_bytes (0: no limit) is refused where the format allows before it is
 * allocated (LIBSVM, whose width is its largest index). */
int eng_data_load_limited(const cfg_experiment *cfg, double max_bytes,
                          eng_data *d, sim_err *err);
/* The number of model parameters a run of cfg on d has (the model is made
 * and freed: it allocates scratch, never the parameters). */
int eng_model_size(const cfg_experiment *cfg, const eng_data *d,
                   size_t *n_params, sim_err *err);
void eng_data_free(eng_data *d);

/* Runs the experiment. Returns 0 when the run completed or diverged (see
 * out->status); a SIM_E* code when it could not run (out of memory, an
 * algorithm refusing the configuration: SIM_ECONFIG). */
int eng_run(const cfg_experiment *cfg, const alg_ops *ops, const eng_data *d,
            eng_output *out, sim_err *err);

/* Observers of a run in progress (for a progress display), and what the
 * caller lets the run use; any may be NULL or 0. They never change the
 * results. */
typedef struct eng_hooks {
    /* After each recorded evaluation of the global model, in step order
     * (with eval_thread, when its result is collected): m is the metrics
     * row as the output will hold it, valid during the call. */
    void (*on_eval)(void *user, const db_metric *m);
    void *user;
    /* May evaluate on a second thread, for models that allow it
     * (mdl_ops.finite_below): a single run on a machine with a core to
     * spare finishes sooner. Not for processes that already keep every
     * core busy (a sweep's), where the extra thread would only add
     * switching. */
    int eval_thread;
    /* When another thread sets it, the run stops at its next evaluation
     * with status failed: its caller has found it cannot keep the result
     * (dtsim run, when the database it was opening meanwhile fails). */
    const atomic_int *cancel;
} eng_hooks;

/* As eng_run, calling hooks (NULL for none) as the run goes. */
int eng_run_hooked(const cfg_experiment *cfg, const alg_ops *ops,
                   const eng_data *d, const eng_hooks *hooks, eng_output *out,
                   sim_err *err);
void eng_output_free(eng_output *out);

/* The conservation check eng_run makes at the end of every run: with
 * nothing in flight, the bytes all nodes sent must equal the bytes they
 * received. Returns 0, or SIM_EINTERNAL (a bug in the simulator, exit 1)
 * with err saying both totals. */
int eng_check_conservation(uint64_t sent, uint64_t received, size_t in_flight,
                           sim_err *err);

#endif
