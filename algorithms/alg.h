/* alg.h: the one interface between a synchronisation algorithm and the
 * simulator.
 *
 * An algorithm is a set of reactions to events on the simulated clock. It
 * never loops over rounds on its own: it asks the simulator to compute (which
 * takes simulated time on a worker) and to send (which takes simulated time
 * and bytes on the network), and it reacts when those complete. Nodes are
 * numbered 0..K-1 for the workers and K for the parameter server.
 *
 * The algorithm owns its models (flat double arrays of alg_ctx_n_params
 * values). It hands the global model to alg_ctx_evaluate whenever the
 * global model is defined (end of a round, a server update), and the
 * simulator decides whether that step is an evaluation point.
 *
 * Everything an algorithm may call is declared here; it includes no other
 * simulator header. */
#ifndef DTSIM_ALG_H
#define DTSIM_ALG_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

#include "../sim/core/err.h"
#include "../sim/io/config.h"

typedef struct alg alg;         /* an algorithm's private state */
typedef struct alg_ctx alg_ctx; /* the simulator, as an algorithm sees it */

/* Message kinds. Control flow uses these, never magic payload values. */
typedef enum alg_msg_kind {
    ALG_MSG_PARAMS = 1, /* a model (global or a worker's) */
    ALG_MSG_GRAD = 2    /* a gradient */
} alg_msg_kind;

typedef struct alg_msg {
    int src, dst;
    alg_msg_kind kind;
    int64_t tag;        /* the sender's round/step, echoed */
    const double *data; /* n_params decoded values; valid during the call */
    size_t n;
} alg_msg;

/* What a run of the algorithm costs, for the estimate made before it runs
 * (sim/run/limits.h): memory in model-sized arrays, and per step (a round,
 * or a server update for the asynchronous algorithms) the computations and
 * the model-sized messages of all workers together. */
typedef struct alg_cost {
    double copies;   /* arrays of n_params doubles the algorithm allocates */
    double computes; /* alg_ctx_compute / alg_ctx_busy calls per step */
    double messages; /* model-sized messages (or all-reduce shares) per step */
} alg_cost;

typedef struct alg_ops {
    const char *name;             /* the key in configs: "easgd" */
    const char *summary;          /* one line for `dtsim list` */
    const cfg_param_spec *params; /* algorithm-specific config keys */
    size_t n_params;
    /* Nonzero: no parameter server. The network holds the workers only
     * (hosts 0..K-1) and nothing may be sent to alg_ctx_server. */
    int serverless;
    /* Optional (NULL: the parameter ranges suffice). Checks constraints
     * that span several config values, before anything runs or is written.
     * Returns 0 or SIM_ECONFIG naming the file and the JSON path. */
    int (*check)(const cfg_experiment *cfg, sim_err *err);
    /* Allocates the state; may draw initial values. Returns 0 or a SIM_E*
     * code with err filled (then *out is NULL). */
    int (*create)(alg **out, alg_ctx *ctx, sim_err *err);
    /* Called once at simulated time 0. */
    void (*start)(alg *a, alg_ctx *ctx);
    /* Worker `worker` finished the computation it asked for with `tag`. */
    void (*on_compute_done)(alg *a, alg_ctx *ctx, int worker, int64_t tag);
    /* A message arrived at m->dst. */
    void (*on_message)(alg *a, alg_ctx *ctx, const alg_msg *m);
    void (*destroy)(alg *a); /* NULL-safe */

    /* Failures (config $.cluster.crash). A crashed worker's pending
     * computation is lost, it sends nothing and what is sent to it (or was
     * in flight when it crashed) is lost; the algorithm hears nothing of
     * the crash itself, exactly as a server would not. */
    /* Optional (NULL: the worker stays idle until someone sends to it).
     * The worker is back with no state; the algorithm decides what it
     * pulls (typically a fresh copy of the global model). */
    void (*on_recover)(alg *a, alg_ctx *ctx, int worker);
    /* Optional (NULL: the algorithm keeps waiting, and a run that cannot go
     * on ends as failed). Called when $.cluster.on_crash is "drop" and the
     * worker has stayed down for drop_timeout: the algorithm should stop
     * waiting for it. It may come back later (on_recover). */
    void (*on_worker_lost)(alg *a, alg_ctx *ctx, int worker);

    /* Required when the algorithm calls alg_ctx_allreduce: worker now
     * holds the result of the all-reduce started with tag. Called once per
     * worker, in the order the network delivers, each at its own time. */
    void (*on_reduced)(alg *a, alg_ctx *ctx, int worker, int64_t tag);

    /* Optional (NULL: the conservative general figure of sim/run/limits.c,
     * 4K + 4 copies, K computes and 2K messages per step). What create
     * allocates and what a step does for cfg, counted from the code: keep
     * it in step with create. */
    void (*cost)(const cfg_experiment *cfg, double rows_per_worker,
                 alg_cost *c);
} alg_ops;

/* The "collective" parameter of the synchronous algorithms that can run
 * over an all-reduce: "ps" (default: the server's messages), "ring",
 * "tree" or "hier" (cfg_collective values). */
#define ALG_PARAM_COLLECTIVE                                                   \
    {                                                                          \
        .name = "collective", .type = CFG_PARAM_CHOICE,                        \
        .def = CFG_COLLECTIVE_PS, .choices = cfg_collective_names,             \
        .help = "ps (parameter server), or an all-reduce among the workers: "  \
                "ring, tree, hier (racks, then across)"                        \
    }

/* ---- the registry ---- */

extern const alg_ops *const alg_registry[]; /* NULL-terminated */
const alg_ops *alg_find(const char *name);  /* NULL when unknown */

/* ---- what the simulator offers ---- */

const cfg_experiment *alg_ctx_config(const alg_ctx *ctx);
int alg_ctx_workers(const alg_ctx *ctx); /* K */
int alg_ctx_server(const alg_ctx *ctx);  /* node id of the server: K */
size_t alg_ctx_n_params(const alg_ctx *ctx);
double alg_ctx_now(const alg_ctx *ctx);
/* A config value of this algorithm, by name (rounds and lr are in config). */
double alg_ctx_param(const alg_ctx *ctx, const char *name);

/* Random streams an algorithm may draw its initial values from; each
 * (stream, index) pair is independent of every other stream of the run. */
typedef enum alg_stream {
    ALG_STREAM_INIT = 1,       /* the global model */
    ALG_STREAM_ALGORITHM = 5,  /* the algorithm's own state (BMUF's delta) */
    ALG_STREAM_WORKER_INIT = 7 /* worker k's own model (index k) */
} alg_stream;

/* Fills w with the configured initial model (uniform in the config's
 * model.init range), drawn from stream (stream, index) of the run. */
void alg_ctx_init_model(alg_ctx *ctx, double *w, alg_stream stream,
                        uint64_t index);
/* A generator owned by the simulator for the algorithm's own draws. */
gsl_rng *alg_ctx_rng(alg_ctx *ctx);

/* The workers joined to worker by a direct link (one cable, no switch)
 * in the run's network, ascending: ring, tree, full and graph topologies
 * have them, star and hier none. Writes them into out, which has room for
 * K - 1, and returns how many there are. */
int alg_ctx_neighbours(alg_ctx *ctx, int worker, int *out);

/* Training rows worker holds ($.data.partition): FedAvg weighs by it. */
size_t alg_ctx_worker_rows(const alg_ctx *ctx, int worker);
/* Draws worker's next mini-batch from its own sampling stream; returns its
 * size (Bernoulli batches may be empty). */
size_t alg_ctx_sample_batch(alg_ctx *ctx, int worker);
/* grad = mean gradient of the loss at w over worker's current batch (zero
 * when the batch is empty). Pure math: takes no simulated time. */
void alg_ctx_gradient(alg_ctx *ctx, int worker, const double *w, double *grad);

/* Occupies worker for the time n_samples examples take (plus its straggler
 * delays), then calls on_compute_done(worker, tag). A worker computes one
 * thing at a time: work asked for while it is busy starts when the work
 * before it ends. */
void alg_ctx_compute(alg_ctx *ctx, int worker, size_t n_samples, int64_t tag);

/* Occupies worker for `seconds` of simulated time (no straggler delays:
 * a fixed cost such as a memory access), then calls on_compute_done(worker,
 * tag). Queues behind work the worker already has, like alg_ctx_compute. */
void alg_ctx_busy(alg_ctx *ctx, int worker, double seconds, int64_t tag);

/* Whether worker is down (crashed and not yet recovered). */
int alg_ctx_worker_down(const alg_ctx *ctx, int worker);

/* Sends a copy of data[0..n-1] from node src to node dst; the bytes charged
 * are n times the configured value size plus the header. The receiver sees
 * the values as transmitted (rounded to float32 when so configured). */
void alg_ctx_send(alg_ctx *ctx, int src, int dst, alg_msg_kind kind,
                  int64_t tag, const double *data, size_t n);

/* The config's collective (CFG_COLLECTIVE_PS when the algorithm has none).
 * With an all-reduce there is no server node: alg_ctx_server is not a node
 * and nothing may be sent to it. */
cfg_collective alg_ctx_collective(const alg_ctx *ctx);

/* Whether the algorithm's rounds go through alg_ctx_allreduce (an
 * all-reduce, or parameter servers sharding the model: $.network.servers
 * > 1) rather than its own messages to the server. */
int alg_ctx_combines(const alg_ctx *ctx);

/* Starts an all-reduce of one model (n_params values: the bytes of a
 * message) among all the workers, over the config's collective, now; with
 * sharded servers, a parameter-server round instead (every worker pushes
 * its shards and pulls them back). The network carries bytes only: the
 * algorithm does the averaging itself, and learns when each worker holds
 * the result through on_reduced(worker, tag). Workers must all be up
 * (collective rounds do not model crashes). */
void alg_ctx_allreduce(alg_ctx *ctx, int64_t tag);

/* Offers the global model after `step` rounds/updates. The simulator records
 * a metrics row when step is an evaluation point (every N steps, and/or the
 * first step at or after each multiple of T simulated seconds; or final !=
 * 0) and stops the run if the model has diverged (non-finite values or
 * loss). Asynchronous algorithms call it after every server update. */
void alg_ctx_evaluate(alg_ctx *ctx, int64_t step, const double *w, int final);

/* Counts one model update contributed by worker, with its staleness: the
 * server's model version when the update is applied minus the version the
 * contribution was computed on (0 for synchronous algorithms). Feeds the
 * workers table and the staleness histogram. */
void alg_ctx_count_update(alg_ctx *ctx, int worker, int64_t staleness);

/* Ends the run after the current event. */
void alg_ctx_finish(alg_ctx *ctx);

#endif
