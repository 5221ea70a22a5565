/* RNG streams: independent, reproducible, unaffected by other streams. */
#include <criterion/criterion.h>
#include <math.h>

#include "sim/core/rng.h"

Test(rng, same_stream_gives_the_same_draws)
{
    gsl_rng *a = rng_stream_create(42, RNG_SAMPLER, 3);
    gsl_rng *b = rng_stream_create(42, RNG_SAMPLER, 3);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(gsl_rng_get(a), gsl_rng_get(b));
    gsl_rng_free(a);
    gsl_rng_free(b);
}

Test(rng, adding_a_stream_leaves_existing_streams_unchanged)
{
    /* Stream k's draws depend only on (seed, kind, k): creating and using
     * stream k+1 in between must not change them. */
    unsigned long before[1000];
    gsl_rng *a = rng_stream_create(7, RNG_SAMPLER, 2);
    for (int i = 0; i < 1000; i++)
        before[i] = gsl_rng_get(a);
    gsl_rng_free(a);

    gsl_rng *extra = rng_stream_create(7, RNG_SAMPLER, 3);
    gsl_rng *again = rng_stream_create(7, RNG_SAMPLER, 2);
    for (int i = 0; i < 1000; i++) {
        gsl_rng_get(extra);
        cr_assert_eq(gsl_rng_get(again), before[i]);
    }
    gsl_rng_free(extra);
    gsl_rng_free(again);
}

Test(rng, different_kinds_indices_and_seeds_give_different_seeds)
{
    uint64_t seen[3 * 8 * 8];
    size_t n = 0;
    for (uint64_t seed = 0; seed < 3; seed++)
        for (int kind = 1; kind <= 8; kind++)
            for (uint64_t idx = 0; idx < 8; idx++)
                seen[n++] = rng_stream_seed(seed, (rng_kind)kind, idx);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            cr_assert_neq(seen[i], seen[j]);
}

Test(rng, streams_are_uncorrelated)
{
    /* Correlation of 10^5 uniform pairs from two streams: its standard
     * error is 1/sqrt(n) ~ 0.0032, so |r| < 0.02 is a > 6 sigma bound. */
    gsl_rng *a = rng_stream_create(1, RNG_SAMPLER, 0);
    gsl_rng *b = rng_stream_create(1, RNG_SAMPLER, 1);
    const int n = 100000;
    double sa = 0, sb = 0, sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++) {
        double x = gsl_rng_uniform(a), y = gsl_rng_uniform(b);
        sa += x;
        sb += y;
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    double cov = sab / n - (sa / n) * (sb / n);
    double r = cov / sqrt((saa / n - (sa / n) * (sa / n)) *
                          (sbb / n - (sb / n) * (sb / n)));
    cr_assert_lt(fabs(r), 0.02, "r = %g", r);
    gsl_rng_free(a);
    gsl_rng_free(b);
}
