#include "worker.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <string.h>

#include "../core/rng.h"

static int slow_enabled(const wk_slow_params *s)
{
    return s->factor > 1 && s->mean_slow_s > 0 && s->mean_normal_s > 0;
}

int wk_init(wk_worker *w, int id, const wk_params *p, uint64_t master_seed)
{
    memset(w, 0, sizeof *w);
    w->id = id;
    w->p = *p;
    w->trace_factor = 1;
    if (rng_stream_init(&w->straggler_rng, master_seed, RNG_STRAGGLER,
                        (uint64_t)id))
        return -1;
    if (slow_enabled(&p->slow)) {
        if (rng_stream_init(&w->slow_rng, master_seed, RNG_STRAGGLER,
                            WK_SLOW_STREAM_BASE + (uint64_t)id))
            return -1;
        w->period_end =
            gsl_ran_exponential(&w->slow_rng, p->slow.mean_normal_s);
    }
    return 0;
}

void wk_deinit(wk_worker *w)
{
    rng_stream_deinit(&w->straggler_rng);
    rng_stream_deinit(&w->slow_rng);
}

double wk_delay_draw(const wk_delay_params *d, gsl_rng *r)
{
    switch (d->dist) {
    case WK_DELAY_NONE:
        return 0;
    case WK_DELAY_EXPONENTIAL:
        return gsl_ran_exponential(r, d->mean_s);
    case WK_DELAY_LOGNORMAL: {
        /* From the mean m and sd s of the delay to the parameters of the
         * underlying normal: sigma^2 = ln(1 + s^2/m^2), mu = ln m - sigma^2/2
         */
        double cv2 = (d->sd_s / d->mean_s) * (d->sd_s / d->mean_s);
        double sigma2 = log1p(cv2);
        return gsl_ran_lognormal(r, log(d->mean_s) - sigma2 / 2, sqrt(sigma2));
    }
    case WK_DELAY_PARETO:
        return gsl_ran_pareto(r, d->shape,
                              d->mean_s * (d->shape - 1) / d->shape);
    case WK_DELAY_GAMMA: {
        /* shape k = m^2/s^2, scale theta = s^2/m */
        double k = (d->mean_s / d->sd_s) * (d->mean_s / d->sd_s);
        return gsl_ran_gamma(r, k, d->sd_s * d->sd_s / d->mean_s);
    }
    case WK_DELAY_MIXTURE:
        return gsl_rng_uniform(r) < d->p ? d->long_s : d->short_s;
    }
    return 0;
}

/* Moves the slow-period process forward until t lies in the current
 * period. */
static void slow_advance(wk_worker *w, double t)
{
    while (t >= w->period_end) {
        w->slow = !w->slow;
        w->period_start = w->period_end;
        w->period_end += gsl_ran_exponential(&w->slow_rng,
                                             w->slow ? w->p.slow.mean_slow_s
                                                     : w->p.slow.mean_normal_s);
    }
}

/* Wall time to get `work` seconds of normal-speed work done from `start`,
 * walking across slow and normal periods. */
static double stretched(wk_worker *w, double start, double work)
{
    double t = start;
    slow_advance(w, t);
    for (;;) {
        double rate = w->slow ? 1.0 / w->p.slow.factor : 1.0;
        double span = w->period_end - t;
        if (work <= span * rate)
            return t + work / rate - start;
        work -= span * rate;
        t = w->period_end;
        slow_advance(w, t);
    }
}

double wk_step_seconds(wk_worker *w, size_t n_samples, double start)
{
    const wk_params *p = &w->p;
    double base =
        p->seconds_per_sample > 0
            ? (double)n_samples * p->seconds_per_sample
            : (double)n_samples * p->flops_per_sample / p->flops_per_second;
    double t = base / p->speed * p->slowdown * w->trace_factor;
    if (w->slow_rng.state && t > 0)
        t = stretched(w, start, t);
    t += wk_delay_draw(&p->delay, &w->straggler_rng) + w->trace_extra_s;
    w->trace_extra_s = 0;
    return t;
}
