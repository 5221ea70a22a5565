/* worker.h: how long a worker takes to compute, and what it has done.
 *
 * A step's compute time is its work divided by the worker's speed:
 *   base  = n_samples * seconds_per_sample            (or)
 *           n_samples * flops_per_sample / flops_per_second
 *   time  = base / speed * slowdown * trace_factor, stretched by slow
 *           periods, + extra
 * where speed is the worker's heterogeneity factor, slowdown a fixed factor
 * for named stragglers, trace_factor the factor a trace file last set, and
 * extra a random delay per step drawn from the worker's own straggler stream
 * (see wk_delay) plus any delay a trace file queued for the next step.
 *
 * Transient slow periods are an on/off Markov process per worker: normal
 * periods last Exp(mean_normal) seconds, slow periods Exp(mean_slow), and in
 * a slow period work progresses `factor` times slower. The process starts in
 * a normal period at time 0 and its switching times are drawn lazily from a
 * stream of its own, so it depends on simulated time only, never on how
 * often the worker happens to compute. A step that spans a switch is
 * stretched exactly by the part of it that falls in slow time.
 *
 * The worker knows nothing of networks or algorithms; the engine turns the
 * time into an event on the clock.
 * Ownership: wk_init allocates the streams; wk_deinit frees them. A
 * wk_worker holds its generators by value: it is initialised in place and
 * never copied. */
#ifndef DTSIM_WORKER_H
#define DTSIM_WORKER_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

typedef enum wk_delay {
    WK_DELAY_NONE,
    WK_DELAY_EXPONENTIAL, /* mean */
    WK_DELAY_LOGNORMAL,   /* mean, sd */
    WK_DELAY_PARETO,      /* mean, shape > 1 (scale = mean (shape-1)/shape) */
    WK_DELAY_GAMMA,       /* mean, sd */
    WK_DELAY_MIXTURE      /* two points: long_s with probability p, else
                             short_s (rare long stalls) */
} wk_delay;

/* A delay distribution, parameterised by the moments users think in. */
typedef struct wk_delay_params {
    wk_delay dist;
    double mean_s;          /* exponential, lognormal, pareto, gamma */
    double sd_s;            /* lognormal, gamma: > 0 */
    double shape;           /* pareto: > 1 */
    double p;               /* mixture: probability of the long value */
    double short_s, long_s; /* mixture */
} wk_delay_params;

typedef struct wk_slow_params {
    double mean_slow_s, mean_normal_s; /* both > 0 when enabled */
    double factor;                     /* >= 1; 0 or 1 disables */
} wk_slow_params;

typedef struct wk_params {
    double seconds_per_sample; /* > 0, or 0 when flops are used */
    double flops_per_sample;   /* used when seconds_per_sample == 0 */
    double flops_per_second;
    double speed;    /* > 0 */
    double slowdown; /* >= 1 */
    wk_delay_params delay;
    wk_slow_params slow;
} wk_params;

/* What every step, delivery and update touches comes first, then the
 * parameters (whose per-step fields lead wk_params): with thousands of
 * workers each one is cold whenever it is touched, and this order spans
 * about two cache lines fewer than grouping the fields by topic. */
typedef struct wk_worker {
    /* Held here, not pointed to, to save a cache miss per draw (see
     * rng_stream_init); owned. */
    gsl_rng straggler_rng; /* per-step delays */
    gsl_rng slow_rng;      /* state NULL without slow periods */

    /* Set by a trace file. */
    double trace_factor;  /* multiplies compute time; 1 by default */
    double trace_extra_s; /* added to the next step, then cleared */

    /* Accounting, seconds of simulated time. */
    double busy_until; /* end of the computation in progress */
    double compute_s;
    double comm_s;
    int64_t steps;
    int64_t updates;
    double staleness_sum;
    int64_t staleness_max;

    wk_params p;
    int id;

    /* The slow-period process: state in [period_start, period_end). */
    int slow;
    double period_start, period_end;
} wk_worker;

/* Returns 0, or -1 when a stream cannot be allocated. */
int wk_init(wk_worker *w, int id, const wk_params *p, uint64_t master_seed);
void wk_deinit(wk_worker *w);

/* The simulated seconds of one step over n_samples examples that starts at
 * simulated time `start`; draws the random extra delay, if any, from the
 * worker's stream. Calls must come with non-decreasing start times. */
double wk_step_seconds(wk_worker *w, size_t n_samples, double start);

/* Starts fetching what the worker's next wk_step_seconds reads first (its
 * straggler generator's state), for a caller that knows a step is coming
 * and has other work to do meanwhile: with thousands of workers it is a
 * cache miss otherwise. Changes nothing. */
static inline void wk_prefetch(const wk_worker *w)
{
    __builtin_prefetch(w->straggler_rng.state);
}

/* One draw of the delay distribution (0 for WK_DELAY_NONE). */
double wk_delay_draw(const wk_delay_params *d, gsl_rng *r);

/* The stream index of worker id's slow-period process within the straggler
 * kind: far above any worker index, so it never meets a delay stream. */
#define WK_SLOW_STREAM_BASE ((uint64_t)1 << 40)

#endif
