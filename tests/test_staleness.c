/* test_staleness.c: the per-worker staleness histograms (sim/run/staleness.c)
 * against counting every update directly. */
#include <criterion/criterion.h>
#include <gsl/gsl_rng.h>
#include <signal.h>
#include <stdlib.h>

#include "sim/run/staleness.h"

/* Counts per (worker, staleness) the plain way: a dense table. */
typedef struct naive {
    int workers;
    int64_t values;
    int64_t *count; /* [workers * values] */
} naive;

static void check_against(st_hist *h, const naive *n)
{
    for (int k = 0; k < n->workers; k++) {
        const db_staleness *bars;
        size_t len = st_hist_bars(h, k, &bars);
        size_t want = 0;
        for (int64_t s = 0; s < n->values; s++) {
            int64_t c = n->count[(size_t)k * (size_t)n->values + (size_t)s];
            if (!c)
                continue;
            cr_assert_lt(want, len, "worker %d: too few bars", k);
            cr_assert_eq(bars[want].staleness, s, "worker %d, bar %zu", k,
                         want);
            cr_assert_eq(bars[want].updates, c, "worker %d, staleness %lld", k,
                         (long long)s);
            want++;
        }
        cr_assert_eq(len, want, "worker %d: %zu bars, %zu values seen", k, len,
                     want);
    }
}

/* 2.5 million updates: the buffer (a million keys) fills and is merged
 * twice, and a look at the bars in between merges early; the bars always
 * equal the direct count. Staleness values spread over a wide range with a
 * few values very common, as in an asynchronous run. */
Test(staleness, equals_counting_every_update)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    naive n = {.workers = 257, .values = 3000};
    n.count = calloc((size_t)n.workers * (size_t)n.values, sizeof *n.count);
    st_hist *h = st_hist_create(n.workers);
    cr_assert_not_null(h);
    for (int i = 0; i < 2500000; i++) {
        int k = (int)gsl_rng_uniform_int(r, (unsigned long)n.workers);
        int64_t s =
            gsl_rng_uniform(r) < 0.5
                ? (int64_t)gsl_rng_uniform_int(r, 5)
                : (int64_t)gsl_rng_uniform_int(r, (unsigned long)n.values);
        st_hist_add(h, k, s);
        n.count[(size_t)k * (size_t)n.values + (size_t)s]++;
        if (i == 1234567)
            check_against(h, &n);
    }
    check_against(h, &n);
    st_hist_destroy(h);
    free(n.count);
    gsl_rng_free(r);
}

Test(staleness, large_values_and_the_last_worker_keep_their_place)
{
    st_hist *h = st_hist_create(ST_MAX_WORKERS);
    cr_assert_not_null(h);
    int64_t big = ((int64_t)1 << 46) - 1;
    st_hist_add(h, ST_MAX_WORKERS - 1, big);
    st_hist_add(h, ST_MAX_WORKERS - 1, 0);
    st_hist_add(h, ST_MAX_WORKERS - 1, big);
    st_hist_add(h, 0, big);
    const db_staleness *bars;
    cr_assert_eq(st_hist_bars(h, ST_MAX_WORKERS - 1, &bars), 2);
    cr_assert_eq(bars[0].staleness, 0);
    cr_assert_eq(bars[0].updates, 1);
    cr_assert_eq(bars[1].staleness, big);
    cr_assert_eq(bars[1].updates, 2);
    cr_assert_eq(st_hist_bars(h, 0, &bars), 1);
    cr_assert_eq(bars[0].staleness, big);
    cr_assert_eq(st_hist_bars(h, 1, &bars), 0);
    st_hist_destroy(h);
}

Test(staleness, too_many_workers_is_refused)
{
    cr_assert_null(st_hist_create(ST_MAX_WORKERS + 1));
    cr_assert_null(st_hist_create(-1));
}

Test(staleness, a_value_beyond_the_key_aborts, .signal = SIGABRT)
{
    st_hist *h = st_hist_create(2);
    st_hist_add(h, 1, (int64_t)1 << 46);
}
