/* limits.h: what a run will cost, estimated before it runs, and the limits
 * that refuse a config that would not fit or would run for days.
 *
 * Memory: the process itself, the data as loaded, the model-sized arrays
 * (n_params doubles each) that the algorithm allocates (its alg_ops cost:
 * counted from each algorithm's create) plus the engine's (message payloads,
 * compression state), per-worker state, the network's links, and the rows a
 * run keeps until it is stored. Meant as an upper bound of the peak
 * resident memory; tests/test_limits.c checks it against a measured peak.
 *
 * Events: steps x (computations + messages x events per message), from the
 * algorithm's cost; within a factor of 2 of the events the loop fires for
 * every algorithm (tested). The default memory limit is half the physical
 * memory; the event threshold RN_MAX_EVENTS. Both refusals are bad input
 * (SIM_ECONFIG) naming the config file. */
#ifndef DTSIM_LIMITS_H
#define DTSIM_LIMITS_H

#include <stddef.h>

#include "../../algorithms/alg.h"
#include "../core/err.h"
#include "../io/config.h"
#include "engine.h"

/* More events than this and a run is refused unless forced. The fastest
 * whole run measured (the post's SSGD, a 31-parameter model, README
 * "Speed") fires 2.4 million events per second, a 10,000-worker ASGD 0.2 to
 * 0.9 million: 10^10 events is over an hour at the very best and half a
 * day or more with a real model, far beyond any lesson or sweep. */
#define RN_MAX_EVENTS 1e10

typedef struct rn_limits {
    double max_memory; /* bytes; <= 0: rn_default_max_memory() */
    int force;         /* run even above RN_MAX_EVENTS */
} rn_limits;

typedef struct rn_estimate {
    size_t n_params;
    double copies;       /* model-sized arrays, the algorithm's and engine's */
    double model_bytes;  /* copies x n_params x 8, plus model scratch */
    double data_bytes;   /* the data set as loaded (peak of loading) */
    double worker_bytes; /* per-worker state x K */
    double net_bytes;    /* the network's links */
    double output_bytes; /* metrics rows and the timeline, kept to the end */
    double base_bytes;   /* the process: code, libraries, SQLite */
    double total_bytes;
    double steps;  /* rounds, or server updates */
    double events; /* events the loop will fire */
} rn_estimate;

/* Physical memory in bytes (sysconf), or 0 when unknown. */
double rn_physical_memory(void);
/* Half of it (8 GiB when unknown). */
double rn_default_max_memory(void);
/* l's memory limit, the default filled in. */
double rn_max_memory(const rn_limits *l);

/* Before any data is read: a cheap estimate of the memory that loading
 * cfg's data takes, from the config (synthetic), the files' headers (IDX)
 * or their size and first lines (CSV, LIBSVM). Checked against the limit
 * so that a data set too big is refused before it is loaded. Returns 0, or
 * SIM_ECONFIG naming the config and the data file when over the limit. */
int rn_check_data(const cfg_experiment *cfg, const rn_limits *l, sim_err *err);

/* The estimate for a run of cfg with ops on the loaded data d. Returns 0
 * or the model's error (cannot happen for a config that loaded). */
int rn_estimate_run(const cfg_experiment *cfg, const alg_ops *ops,
                    const eng_data *d, rn_estimate *e, sim_err *err);

/* Refuses e above the limits: SIM_ECONFIG, one line naming cfg's file, the
 * estimate, the limit and the option that changes it. */
int rn_check_estimate(const cfg_experiment *cfg, const rn_estimate *e,
                      const rn_limits *l, sim_err *err);

#endif
