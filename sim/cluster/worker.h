/* worker.h: how long a worker takes to compute, and what it has done.
 *
 * A step's compute time is its work divided by the worker's speed:
 *   base  = n_samples * seconds_per_sample            (or)
 *           n_samples * flops_per_sample / flops_per_second
 *   time  = base / speed * slowdown + extra
 * where speed is the worker's heterogeneity factor, slowdown a fixed factor
 * for named stragglers, and extra a random delay per step drawn from the
 * worker's own straggler stream (none, or exponential with a given mean).
 * The worker knows nothing of networks or algorithms; the engine turns the
 * time into an event on the clock.
 * Ownership: wk_init allocates the straggler stream; wk_deinit frees it. */
#ifndef DTSIM_WORKER_H
#define DTSIM_WORKER_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

typedef enum wk_delay { WK_DELAY_NONE, WK_DELAY_EXPONENTIAL } wk_delay;

typedef struct wk_params {
    double seconds_per_sample; /* > 0, or 0 when flops are used */
    double flops_per_sample;   /* used when seconds_per_sample == 0 */
    double flops_per_second;
    double speed;    /* > 0 */
    double slowdown; /* >= 1 */
    wk_delay delay;
    double delay_mean_s;
} wk_params;

typedef struct wk_worker {
    int id;
    wk_params p;
    gsl_rng *straggler_rng; /* owned */

    /* Accounting, seconds of simulated time. */
    double compute_s;
    double comm_s;
    double busy_until; /* end of the computation in progress */
    int64_t steps;
    int64_t updates;
    double staleness_sum;
    int64_t staleness_max;
} wk_worker;

/* Returns 0, or -1 when the stream cannot be allocated. */
int wk_init(wk_worker *w, int id, const wk_params *p, uint64_t master_seed);
void wk_deinit(wk_worker *w);

/* The simulated seconds of one step over n_samples examples; draws the
 * random extra delay, if any, from the worker's stream. */
double wk_step_seconds(wk_worker *w, size_t n_samples);

#endif
