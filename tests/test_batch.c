/* test_batch.c: Bernoulli and fixed-size mini-batches.
 *
 * The statistical tests use fixed seeds, so they are deterministic; their
 * tolerances are still set so that a correct sampler would fail them with
 * negligible probability under any seed, which keeps them meaningful when
 * the generator or the seed changes. */
#include <criterion/criterion.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>

#include "sim/core/rng.h"
#include "sim/ml/batch.h"

static gsl_rng *seeded(unsigned long seed)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    cr_assert_not_null(r);
    gsl_rng_set(r, seed);
    return r;
}

static void assert_sorted_in_range(const ml_batch *b, size_t begin, size_t end)
{
    for (size_t i = 0; i < b->n; i++) {
        cr_assert_geq(b->rows[i], begin);
        cr_assert_lt(b->rows[i], end);
        if (i)
            cr_assert_lt(b->rows[i - 1], b->rows[i], "not increasing at %zu",
                         i);
    }
}

Test(ml_batch, bernoulli_with_p_1_takes_every_row_in_order)
{
    gsl_rng *r = seeded(1);
    ml_batch b = {0};
    cr_assert_eq(ml_batch_bernoulli(&b, 5, 25, 1.0, r), 0);
    cr_assert_eq(b.n, 20);
    for (size_t i = 0; i < b.n; i++)
        cr_assert_eq(b.rows[i], 5 + i);
    ml_batch_deinit(&b);
    gsl_rng_free(r);
}

Test(ml_batch, bernoulli_with_p_0_or_no_rows_is_empty)
{
    gsl_rng *r = seeded(1);
    ml_batch b = {0};
    cr_assert_eq(ml_batch_bernoulli(&b, 0, 100, 0.0, r), 0);
    cr_assert_eq(b.n, 0);
    cr_assert_eq(ml_batch_bernoulli(&b, 7, 7, 0.5, r), 0);
    cr_assert_eq(b.n, 0);
    ml_batch_deinit(&b);
    gsl_rng_free(r);
}

Test(ml_batch, bernoulli_rows_are_sorted_unique_and_in_range)
{
    gsl_rng *r = seeded(7);
    ml_batch b = {0};
    size_t total = 0;
    for (int t = 0; t < 2000; t++) {
        cr_assert_eq(ml_batch_bernoulli(&b, 100, 1100, 0.01, r), 0);
        assert_sorted_in_range(&b, 100, 1100);
        total += b.n;
    }
    cr_assert_gt(total, 0);
    ml_batch_deinit(&b);
    gsl_rng_free(r);
}

/* 20000 batches of 100 rows with p = 0.1.
 * Batch size: Binomial(100, 0.1), variance 9, so the mean over 20000 batches
 * has standard error 3 / sqrt(20000) = 0.0212; we allow 4 of them.
 * Row inclusion: each row's frequency has mean 0.1 and standard error
 * sqrt(0.1 * 0.9 / 20000) = 0.00212. We allow 5 standard errors (0.0106):
 * the chance that any of the 100 rows strays that far by luck is about
 * 100 * 5.7e-7 = 6e-5, while a sampler that skips one row too many or too few
 * after each pick shifts frequencies by ~0.01 and row 0's by much more. */
Test(ml_batch, bernoulli_matches_its_distribution_over_many_draws)
{
    enum { ROWS = 100, DRAWS = 20000 };
    const double p = 0.1;
    gsl_rng *r = seeded(2024);
    ml_batch b = {0};
    size_t count[ROWS] = {0};
    double sum = 0;
    for (int t = 0; t < DRAWS; t++) {
        cr_assert_eq(ml_batch_bernoulli(&b, 0, ROWS, p, r), 0);
        sum += (double)b.n;
        for (size_t i = 0; i < b.n; i++)
            count[b.rows[i]]++;
    }
    double se_mean = sqrt(ROWS * p * (1 - p) / DRAWS);
    double mean = sum / DRAWS;
    cr_assert_lt(fabs(mean - ROWS * p), 4 * se_mean, "mean batch size %g",
                 mean);
    double se_row = sqrt(p * (1 - p) / DRAWS);
    for (size_t i = 0; i < ROWS; i++) {
        double f = (double)count[i] / DRAWS;
        cr_assert_lt(fabs(f - p), 5 * se_row, "row %zu frequency %g", i, f);
    }
    ml_batch_deinit(&b);
    gsl_rng_free(r);
}

Test(ml_batch, fixed_size_gives_distinct_sorted_rows)
{
    gsl_rng *r = seeded(3);
    ml_batch b = {0};
    /* Small batches from a large range (Floyd) and large ones (scan). */
    size_t sizes[] = {1, 5, 40, 90, 99, 100};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int t = 0; t < 200; t++) {
            cr_assert_eq(ml_batch_fixed(&b, 1000, 1100, sizes[s], r), 0);
            cr_assert_eq(b.n, sizes[s]);
            assert_sorted_in_range(&b, 1000, 1100);
        }
    }
    cr_assert_eq(ml_batch_fixed(&b, 10, 15, 8, r), 0);
    cr_assert_eq(b.n, 5, "a size beyond the range takes every row");
    cr_assert_eq(ml_batch_fixed(&b, 10, 15, 0, r), 0);
    cr_assert_eq(b.n, 0);
    ml_batch_deinit(&b);
    gsl_rng_free(r);
}

/* Row frequency size/N over DRAWS batches, standard error
 * sqrt(q (1 - q) / DRAWS); 5 standard errors as for Bernoulli above. */
static void check_uniform_inclusion(size_t N, size_t size)
{
    enum { DRAWS = 20000 };
    gsl_rng *r = seeded(99 + size);
    ml_batch b = {0};
    size_t *count = calloc(N, sizeof *count);
    for (int t = 0; t < DRAWS; t++) {
        cr_assert_eq(ml_batch_fixed(&b, 0, N, size, r), 0);
        for (size_t i = 0; i < b.n; i++)
            count[b.rows[i]]++;
    }
    double q = (double)size / (double)N, se = sqrt(q * (1 - q) / DRAWS);
    for (size_t i = 0; i < N; i++) {
        double f = (double)count[i] / DRAWS;
        cr_assert_lt(fabs(f - q), 5 * se, "N %zu size %zu row %zu: %g", N, size,
                     i, f);
    }
    free(count);
    ml_batch_deinit(&b);
    gsl_rng_free(r);
}

Test(ml_batch, fixed_size_includes_every_row_equally_often)
{
    check_uniform_inclusion(40, 4);  /* Floyd */
    check_uniform_inclusion(40, 30); /* selection scan */
}

/* Marginal frequencies can be right while the joint law is wrong, so count
 * whole subsets: each of the C(N, size) subsets has probability 1/C, and
 * with DRAWS draws each count's standard error is sqrt(DRAWS (1/C)(1-1/C)).
 * 5 standard errors, as above. */
static void check_uniform_subsets(size_t N, size_t size)
{
    enum { DRAWS = 40000 };
    gsl_rng *r = seeded(5 + N);
    ml_batch b = {0};
    size_t count[1 << 10] = {0}, n_subsets = 0;
    for (int t = 0; t < DRAWS; t++) {
        cr_assert_eq(ml_batch_fixed(&b, 0, N, size, r), 0);
        unsigned mask = 0;
        for (size_t i = 0; i < b.n; i++)
            mask |= 1u << b.rows[i];
        count[mask]++;
    }
    for (unsigned m = 0; m < (1u << N); m++)
        n_subsets += (size_t)__builtin_popcount(m) == size;
    double p = 1.0 / (double)n_subsets, se = sqrt(DRAWS * p * (1 - p));
    for (unsigned m = 0; m < (1u << N); m++) {
        if ((size_t)__builtin_popcount(m) != size) {
            cr_assert_eq(count[m], 0);
            continue;
        }
        cr_assert_lt(fabs((double)count[m] - DRAWS * p), 5 * se,
                     "subset %#x drawn %zu times", m, count[m]);
    }
    ml_batch_deinit(&b);
    gsl_rng_free(r);
}

Test(ml_batch, fixed_size_draws_every_subset_equally_often)
{
    check_uniform_subsets(6, 3);  /* Floyd: 20 subsets */
    check_uniform_subsets(10, 9); /* selection scan: 10 subsets */
}

Test(ml_batch, same_seed_gives_the_same_batches)
{
    gsl_rng *r1 = seeded(11), *r2 = seeded(11);
    ml_batch a = {0}, b = {0};
    for (int t = 0; t < 100; t++) {
        cr_assert_eq(ml_batch_bernoulli(&a, 3, 503, 0.1, r1), 0);
        cr_assert_eq(ml_batch_bernoulli(&b, 3, 503, 0.1, r2), 0);
        cr_assert_eq(a.n, b.n);
        cr_assert_arr_eq(a.rows, b.rows, a.n * sizeof *a.rows);
        cr_assert_eq(ml_batch_fixed(&a, 3, 503, 1 + t, r1), 0);
        cr_assert_eq(ml_batch_fixed(&b, 3, 503, 1 + t, r2), 0);
        cr_assert_eq(a.n, b.n);
        cr_assert_arr_eq(a.rows, b.rows, a.n * sizeof *a.rows);
    }
    ml_batch_deinit(&a);
    ml_batch_deinit(&b);
    gsl_rng_free(r1);
    gsl_rng_free(r2);
}

/* ---------------------------------------------------------------------- */
/* Bernoulli's table of gaps: with the compact generator, sampling looks the
 * gap up rather than computing floor(log(u) / log(1 - p)), and must give
 * exactly that value for every draw, or the rows would change. A table
 * that is off by one anywhere is off only for the draws at an entry's edge,
 * which random draws almost never hit, so those edges are tested one by
 * one. */

static double log_gap(uint32_t k, double p)
{
    return floor(log((double)k / 4294967296.0) / log1p(-p));
}

static void check_gap(ml_batch *b, double p, uint64_t k)
{
    if (k == 0 || k > UINT32_MAX)
        return;
    double got = ml_batch__gap(b, p, (uint32_t)k),
           want = log_gap((uint32_t)k, p);
    cr_assert(got == want, "p %.17g, k %llu: gap %.17g, the log's %.17g", p,
              (unsigned long long)k, got, want);
}

static void check_gaps(double p, gsl_rng *r)
{
    ml_batch b = {0};
    check_gap(&b, p, 1);
    /* Every entry's edge... */
    for (size_t s = 0; s < b.gap_n; s++)
        for (int d = -2; d <= 2; d++)
            check_gap(&b, p, (uint64_t)b.gap_last[s] + (uint64_t)(int64_t)d);
    /* ...every bucket's edges (k's leading bits)... */
    for (int lz = 0; lz < 32; lz++)
        for (uint64_t mant = 0; mant < 64; mant++) {
            uint64_t top = ((UINT64_C(1) << 31 | mant << 25) >> lz);
            for (int d = -1; d <= 1; d++)
                check_gap(&b, p, top + (uint64_t)(int64_t)d);
        }
    check_gap(&b, p, UINT32_MAX);
    /* ...and random draws. */
    for (int i = 0; i < 20000; i++)
        check_gap(&b, p, gsl_rng_get(r));
    ml_batch_deinit(&b);
}

Test(ml_batch, bernoulli_gaps_from_the_table_are_the_logs_gaps)
{
    const double ps[] = {0.1,  0.5,   0.9,  0.01, 0.001,  1e-4,     0.3,
                         0.75, 0.999, 0.05, 1e-9, 1e-300, 1 - 1e-7, 0.2};
    gsl_rng *r = seeded(5);
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        check_gaps(ps[i], r);
    /* And p spread log-uniformly over (1e-6, 1). */
    for (int i = 0; i < 40; i++)
        check_gaps(exp(log(1e-6) * gsl_rng_uniform_pos(r)), r);
    gsl_rng_free(r);
}

/* The inversion itself, one uniform per row taken, as it was before the
 * table. */
static void reference_bernoulli(ml_batch *b, size_t begin, size_t end, double p,
                                gsl_rng *r)
{
    b->n = 0;
    double log_q = log1p(-p);
    size_t pos = begin;
    for (;;) {
        double skip = floor(log(gsl_rng_uniform_pos(r)) / log_q);
        if (skip >= (double)(end - pos))
            return;
        pos += (size_t)skip;
        b->rows[b->n++] = pos++;
    }
}

Test(ml_batch, bernoulli_with_the_compact_generator_takes_the_inversions_rows)
{
    gsl_rng *fast = rng_stream_create(7, RNG_SAMPLER, 0),
            *ref = rng_stream_create(7, RNG_SAMPLER, 0);
    cr_assert(fast && ref);
    ml_batch b = {0}, want = {0};
    want.rows = malloc(2000 * sizeof *want.rows);
    cr_assert_not_null(want.rows);
    /* p changes on the way (the table starts again); the rows are many
     * (gaps past the table's end) or few. */
    const struct {
        double p;
        size_t begin, end;
        int batches;
    } runs[] = {{0.1, 0, 114, 3000},   {0.5, 7, 2000, 200},
                {0.1, 0, 114, 100},    {1e-4, 0, 2000, 3000},
                {0.02, 10, 1500, 500}, {0.999, 0, 50, 200}};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        for (int t = 0; t < runs[i].batches; t++) {
            cr_assert_eq(ml_batch_bernoulli(&b, runs[i].begin, runs[i].end,
                                            runs[i].p, fast),
                         0);
            reference_bernoulli(&want, runs[i].begin, runs[i].end, runs[i].p,
                                ref);
            cr_assert_eq(b.n, want.n, "p %g batch %d", runs[i].p, t);
            cr_assert_arr_eq(b.rows, want.rows, b.n * sizeof *b.rows);
        }
        /* The first is long enough to have built the table. */
        if (i == 0)
            cr_assert_gt(b.gap_n, 0, "p %g: no table", runs[i].p);
    }
    ml_batch_deinit(&b);
    free(want.rows);
    gsl_rng_free(fast);
    gsl_rng_free(ref);
}
