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

/* ---- the compact mt19937 against GSL's, draw by draw ------------------- */

#include <gsl/gsl_randist.h>

#include "sim/core/rng.h"

/* One draw of a kind chosen by `kind`, from r: everything dtsim draws
 * through, so that a difference anywhere in the state, the index, max, min
 * or get_double shows. Returns the value as a double (exact for integers
 * below 2^53) so two generators' draws compare with ==. */
static double draw(gsl_rng *r, unsigned kind)
{
    switch (kind % 12) {
    case 0:
        return (double)gsl_rng_get(r);
    case 1:
        return gsl_rng_uniform(r);
    case 2:
        return gsl_rng_uniform_pos(r);
    case 3:
        return (double)gsl_rng_uniform_int(r, 3);
    case 4:
        return (double)gsl_rng_uniform_int(r, 28000);
    case 5:
        return (double)gsl_rng_uniform_int(r, 0xfffffff0UL);
    case 6:
        return gsl_ran_gaussian(r, 1.5);
    case 7:
        return gsl_ran_gaussian_ziggurat(r, 1.0);
    case 8:
        return gsl_ran_exponential(r, 1e-3);
    case 9:
        return gsl_ran_gamma(r, 0.7, 2.0);
    case 10:
        return gsl_ran_lognormal(r, -7.0, 0.5);
    default:
        return gsl_ran_pareto(r, 3.0, 1e-3);
    }
}

/* Draws n values of pseudo-random kinds from a GSL mt19937 and a compact
 * one seeded alike, and fails at the first difference. */
static void same_draws(gsl_rng *ref, gsl_rng *cmp, unsigned long seed, long n,
                       uint64_t kinds)
{
    gsl_rng_set(ref, seed);
    gsl_rng_set(cmp, seed);
    for (long i = 0; i < n; i++) {
        kinds = rng_splitmix64(kinds);
        double x = draw(ref, (unsigned)(kinds >> 40)),
               y = draw(cmp, (unsigned)(kinds >> 40));
        if (!(x == y || (isnan(x) && isnan(y))))
            cr_assert_fail(
                "seed %lu, draw %ld (kind %u): GSL %.17g, compact %.17g", seed,
                i, (unsigned)((kinds >> 40) % 12), x, y);
    }
}

Test(rng, compact_mt19937_matches_gsl_for_every_kind_of_draw)
{
    gsl_rng *ref = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng *cmp = rng_alloc_compact();
    cr_assert(ref && cmp);
    /* Edge seeds: GSL's 0 alias for 4357, 32-bit overflow (2^32 seeds
     * mt[0] = 0), the largest values; then seeds as streams make them. */
    const unsigned long edge[] = {0,
                                  1,
                                  2,
                                  4357,
                                  0x7fffffffUL,
                                  0x80000000UL,
                                  0xffffffffUL,
                                  0x100000000UL,
                                  0x100001105UL,
                                  ~0UL};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
        same_draws(ref, cmp, edge[i], 5000, i);
    for (uint64_t i = 0; i < 400; i++) {
        unsigned long s =
            (unsigned long)(rng_stream_seed(i % 7, (rng_kind)(1 + i % 10), i) &
                            0xffffffffUL);
        same_draws(ref, cmp, s, 5000, i + 100);
    }
    /* Long runs cross many regenerations of the 624 words. */
    for (unsigned long s = 1; s <= 3; s++)
        same_draws(ref, cmp, s * 7919, 1000000, s);
    gsl_rng_free(ref);
    gsl_rng_free(cmp);
}

Test(rng, compact_mt19937_matches_gsl_through_gsl_rng_alloc_and_clone)
{
    /* Allocated by GSL (16-byte aligned), reseeded mid-stream, cloned. */
    gsl_rng *ref = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng *cmp = gsl_rng_alloc(rng_mt19937_compact);
    cr_assert(ref && cmp);
    cr_assert_eq(gsl_rng_max(cmp), gsl_rng_max(ref));
    cr_assert_eq(gsl_rng_min(cmp), gsl_rng_min(ref));
    for (int i = 0; i < 10000; i++)
        cr_assert_eq(gsl_rng_get(cmp), gsl_rng_get(ref)); /* default seed */
    gsl_rng_set(ref, 12345);
    gsl_rng_set(cmp, 12345);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(gsl_rng_get(cmp), gsl_rng_get(ref));
    gsl_rng *ref2 = gsl_rng_clone(ref), *cmp2 = gsl_rng_clone(cmp);
    cr_assert(ref2 && cmp2);
    for (int i = 0; i < 2000; i++) {
        cr_assert_eq(gsl_rng_get(cmp2), gsl_rng_get(ref2));
        cr_assert_eq(gsl_rng_uniform(cmp), gsl_rng_uniform(ref));
    }
    gsl_rng_free(ref);
    gsl_rng_free(cmp);
    gsl_rng_free(ref2);
    gsl_rng_free(cmp2);
}

Test(rng, streams_draw_what_gsl_mt19937_draws)
{
    /* rng_stream_create's generators are GSL's mt19937 seeded with the low
     * 32 bits of the stream seed (1 for 0). */
    for (uint64_t k = 0; k < 50; k++) {
        gsl_rng *s = rng_stream_create(99, RNG_STRAGGLER, k);
        gsl_rng *ref = gsl_rng_alloc(gsl_rng_mt19937);
        cr_assert(s && ref);
        unsigned long seed =
            (unsigned long)(rng_stream_seed(99, RNG_STRAGGLER, k) &
                            0xffffffffUL);
        gsl_rng_set(ref, seed ? seed : 1);
        for (int i = 0; i < 3000; i++)
            cr_assert_eq(gsl_rng_get(s), gsl_rng_get(ref));
        gsl_rng_free(s);
        gsl_rng_free(ref);
    }
}

Test(rng, a_stream_held_by_value_draws_as_a_created_one)
{
    for (uint64_t k = 0; k < 20; k++) {
        gsl_rng held;
        cr_assert_eq(rng_stream_init(&held, 5, RNG_STRAGGLER, k), 0);
        gsl_rng *made = rng_stream_create(5, RNG_STRAGGLER, k);
        cr_assert(made);
        for (int i = 0; i < 2000; i++)
            cr_assert_eq(gsl_rng_get(&held), gsl_rng_get(made));
        rng_stream_deinit(&held);
        cr_assert_null(held.state);
        rng_stream_deinit(&held); /* a second deinit is harmless */
        gsl_rng_free(made);
    }
}
