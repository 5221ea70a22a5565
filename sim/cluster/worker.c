#include "worker.h"

#include <gsl/gsl_randist.h>
#include <string.h>

#include "../core/rng.h"

int wk_init(wk_worker *w, int id, const wk_params *p, uint64_t master_seed)
{
    memset(w, 0, sizeof *w);
    w->id = id;
    w->p = *p;
    w->straggler_rng =
        rng_stream_create(master_seed, RNG_STRAGGLER, (uint64_t)id);
    return w->straggler_rng ? 0 : -1;
}

void wk_deinit(wk_worker *w)
{
    gsl_rng_free(w->straggler_rng);
    w->straggler_rng = NULL;
}

double wk_step_seconds(wk_worker *w, size_t n_samples)
{
    const wk_params *p = &w->p;
    double base =
        p->seconds_per_sample > 0
            ? (double)n_samples * p->seconds_per_sample
            : (double)n_samples * p->flops_per_sample / p->flops_per_second;
    double t = base / p->speed * p->slowdown;
    if (p->delay == WK_DELAY_EXPONENTIAL)
        t += gsl_ran_exponential(w->straggler_rng, p->delay_mean_s);
    return t;
}
