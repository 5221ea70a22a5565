/* test_partition.c: contiguous, IID, label-shard and Dirichlet partitions. */
#include <criterion/criterion.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/ml/dataset.h"
#include "sim/ml/partition.h"

/* n labels, class i mod C, shuffled so classes are interleaved. */
static double *labels(size_t n, size_t C, gsl_rng *r)
{
    double *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++)
        y[i] = (double)(i % C);
    for (size_t i = n; i-- > 1;) {
        size_t j = gsl_rng_uniform_int(r, i + 1);
        double t = y[i];
        y[i] = y[j];
        y[j] = t;
    }
    return y;
}

static gsl_rng *rng(unsigned long seed)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    return r;
}

/* Every row exactly once, offsets from 0 to n, non-decreasing. */
static void assert_partition(const ml_partition *p, size_t n, int K)
{
    cr_assert_eq(p->n, n);
    cr_assert_eq(p->K, K);
    cr_assert_eq(p->offset[0], 0);
    cr_assert_eq(p->offset[K], n);
    for (int k = 0; k < K; k++)
        cr_assert_leq(p->offset[k], p->offset[k + 1]);
    unsigned char *seen = calloc(n ? n : 1, 1);
    for (size_t i = 0; i < n; i++) {
        cr_assert_lt(p->perm[i], n);
        cr_assert_eq(seen[p->perm[i]], 0, "row %zu twice", p->perm[i]);
        seen[p->perm[i]] = 1;
    }
    free(seen);
}

Test(ml_partition, contiguous_is_the_identity_with_sparks_cuts)
{
    ml_partition p;
    sim_err err = {0};
    ml_partition_opts o = {.kind = ML_PART_CONTIGUOUS};
    cr_assert_eq(ml_partition_make(&p, &o, NULL, 398, 0, 4, NULL, &err), 0,
                 "%s", err.msg);
    assert_partition(&p, 398, 4);
    for (size_t i = 0; i < 398; i++)
        cr_assert_eq(p.perm[i], i);
    for (int k = 0; k < 4; k++) {
        size_t b, e;
        ml_partition_contiguous(398, 4, k, &b, &e);
        cr_assert_eq(p.offset[k], b);
        cr_assert_eq(p.offset[k + 1], e);
    }
    ml_partition_deinit(&p);
    ml_partition_deinit(&p); /* idempotent */
}

Test(ml_partition, every_kind_assigns_every_row_exactly_once)
{
    gsl_rng *r = rng(1);
    ml_partition_opts kinds[] = {
        {.kind = ML_PART_CONTIGUOUS},
        {.kind = ML_PART_IID},
        {.kind = ML_PART_SHARDS, .shards = 2},
        {.kind = ML_PART_SHARDS, .shards = 10},
        {.kind = ML_PART_DIRICHLET, .alpha = 0.05},
        {.kind = ML_PART_DIRICHLET, .alpha = 1},
        {.kind = ML_PART_DIRICHLET, .alpha = 1000},
    };
    size_t ns[] = {10, 97, 1000, 1003};
    int Ks[] = {1, 3, 7, 10};
    for (size_t t = 0; t < sizeof kinds / sizeof kinds[0]; t++)
        for (size_t a = 0; a < 4; a++)
            for (size_t b = 0; b < 4; b++) {
                double *y = labels(ns[a], 10, r);
                ml_partition p;
                sim_err err = {0};
                int rc = ml_partition_make(&p, &kinds[t], y, ns[a], 10, Ks[b],
                                           r, &err);
                if (kinds[t].kind == ML_PART_SHARDS &&
                    (size_t)Ks[b] * kinds[t].shards < 10) {
                    cr_assert_eq(rc, SIM_EINVAL);
                    cr_assert(strstr(err.msg, "unheld"), "%s", err.msg);
                } else {
                    cr_assert_eq(rc, 0, "kind %d n %zu K %d: %s", kinds[t].kind,
                                 ns[a], Ks[b], err.msg);
                    assert_partition(&p, ns[a], Ks[b]);
                    size_t *h = malloc((size_t)Ks[b] * 10 * sizeof *h);
                    ml_partition_histogram(&p, y, 10, h);
                    size_t per_class[10] = {0}, want[10] = {0};
                    for (size_t i = 0; i < ns[a]; i++)
                        want[(size_t)y[i]]++;
                    for (int k = 0; k < Ks[b]; k++) {
                        size_t rows = 0;
                        for (size_t c = 0; c < 10; c++) {
                            rows += h[k * 10 + c];
                            per_class[c] += h[k * 10 + c];
                        }
                        cr_assert_eq(rows, p.offset[k + 1] - p.offset[k]);
                    }
                    cr_assert_eq(memcmp(per_class, want, sizeof want), 0);
                    free(h);
                }
                ml_partition_deinit(&p);
                free(y);
            }
    gsl_rng_free(r);
}

Test(ml_partition, iid_is_a_seeded_shuffle)
{
    gsl_rng *r = rng(2);
    ml_partition a, b;
    sim_err err = {0};
    ml_partition_opts o = {.kind = ML_PART_IID};
    cr_assert_eq(ml_partition_make(&a, &o, NULL, 500, 0, 5, r, &err), 0);
    gsl_rng_set(r, 2);
    cr_assert_eq(ml_partition_make(&b, &o, NULL, 500, 0, 5, r, &err), 0);
    cr_assert_eq(memcmp(a.perm, b.perm, 500 * sizeof *a.perm), 0);
    size_t fixed = 0;
    for (size_t i = 0; i < 500; i++)
        fixed += a.perm[i] == i;
    cr_assert_lt(fixed, 10); /* a shuffle has ~1 fixed point */
    ml_partition_deinit(&a);
    ml_partition_deinit(&b);
    gsl_rng_free(r);
}

Test(ml_partition, label_shards_give_each_worker_exactly_its_classes)
{
    gsl_rng *r = rng(3);
    size_t n = 6000, C = 10;
    double *y = labels(n, C, r);
    int Ks[] = {5, 8, 20};
    size_t ss[] = {2, 3, 1};
    for (size_t t = 0; t < 3; t++) {
        ml_partition p;
        sim_err err = {0};
        ml_partition_opts o = {.kind = ML_PART_SHARDS, .shards = ss[t]};
        cr_assert_eq(ml_partition_make(&p, &o, y, n, C, Ks[t], r, &err), 0,
                     "%s", err.msg);
        size_t *h = malloc((size_t)Ks[t] * C * sizeof *h);
        ml_partition_histogram(&p, y, C, h);
        size_t holders[10] = {0};
        for (int k = 0; k < Ks[t]; k++) {
            size_t classes = 0;
            for (size_t c = 0; c < C; c++) {
                classes += h[k * C + c] > 0;
                holders[c] += h[k * C + c] > 0;
            }
            cr_assert_eq(classes, ss[t], "worker %d holds %zu classes", k,
                         classes);
        }
        /* A class is split evenly among its holders: within one row. */
        for (int k = 0; k < Ks[t]; k++)
            for (size_t c = 0; c < C; c++)
                if (h[k * C + c]) {
                    double even = 600.0 / (double)holders[c];
                    cr_assert_leq(fabs((double)h[k * C + c] - even), 1.0);
                }
        free(h);
        ml_partition_deinit(&p);
    }
    ml_partition p;
    sim_err err = {0};
    cr_assert_eq(ml_partition_make(
                     &p,
                     &(ml_partition_opts){.kind = ML_PART_SHARDS, .shards = 11},
                     y, n, C, 4, r, &err),
                 SIM_EINVAL);
    free(y);
    gsl_rng_free(r);
}

/* The Herfindahl index H = sum_k p_k^2 of a class's shares over K workers
 * measures skew: 1/K when even, 1 when one worker has the whole class. For
 * p ~ Dirichlet(alpha 1_K), E[p_k^2] = Var + 1/K^2 with
 * Var = (K - 1) / (K^2 (K alpha + 1)), so
 *     E[H] = 1/K + (K - 1) / (K (K alpha + 1)).
 * The realised shares are n_ck / n_c with n_ck within 1 of n_c p_k, which
 * moves H by at most 2 / n_c + K / n_c^2 = 0.0021 for n_c = 1000. Over 1000
 * (draw, class) samples the mean of H must lie within 4 standard errors plus
 * that rounding allowance of E[H]: a wrong alpha (or ignoring it) misses by
 * far more, e.g. alpha 0.1 vs 1 is 0.55 vs 0.18. */
static void check_dirichlet_skew(double alpha)
{
    gsl_rng *r = rng(4);
    size_t C = 10, n = 10000, draws = 100;
    int K = 10;
    double *y = labels(n, C, r);
    size_t *h = malloc((size_t)K * C * sizeof *h);
    double sum = 0, sum2 = 0;
    for (size_t t = 0; t < draws; t++) {
        ml_partition p;
        sim_err err = {0};
        ml_partition_opts o = {.kind = ML_PART_DIRICHLET, .alpha = alpha};
        cr_assert_eq(ml_partition_make(&p, &o, y, n, C, K, r, &err), 0, "%s",
                     err.msg);
        ml_partition_histogram(&p, y, C, h);
        for (size_t c = 0; c < C; c++) {
            double H = 0;
            for (int k = 0; k < K; k++) {
                double s = (double)h[k * C + c] / 1000.0;
                H += s * s;
            }
            sum += H;
            sum2 += H * H;
        }
        ml_partition_deinit(&p);
    }
    double m = (double)(draws * C), mean = sum / m;
    double se = sqrt((sum2 / m - mean * mean) / (m - 1));
    double want = 1.0 / K + (K - 1.0) / (K * (K * alpha + 1));
    cr_assert(fabs(mean - want) <= 4 * se + 0.0021,
              "alpha %g: mean H %.5f, expected %.5f (se %.5f)", alpha, mean,
              want, se);
    free(h);
    free(y);
    gsl_rng_free(r);
}

Test(ml_partition, dirichlet_small_alpha_is_skewed_as_theory_says)
{
    check_dirichlet_skew(0.1); /* E[H] = 0.55 */
}

Test(ml_partition, dirichlet_alpha_1_is_between)
{
    check_dirichlet_skew(1.0); /* E[H] = 0.182 */
}

Test(ml_partition, dirichlet_large_alpha_is_near_uniform)
{
    check_dirichlet_skew(100.0); /* E[H] = 0.1009 */
}

Test(ml_partition, dirichlet_min_rows_redraws_or_fails_named)
{
    gsl_rng *r = rng(5);
    double *y = labels(2000, 10, r);
    ml_partition p;
    sim_err err = {0};
    ml_partition_opts o = {
        .kind = ML_PART_DIRICHLET, .alpha = 0.1, .min_rows = 20};
    cr_assert_eq(ml_partition_make(&p, &o, y, 2000, 10, 20, r, &err), 0, "%s",
                 err.msg);
    for (int k = 0; k < 20; k++)
        cr_assert_geq(p.offset[k + 1] - p.offset[k], 20);
    ml_partition_deinit(&p);
    o.min_rows = 101; /* 20 x 101 > 2000: impossible */
    cr_assert_eq(ml_partition_make(&p, &o, y, 2000, 10, 20, r, &err),
                 SIM_EDATA);
    cr_assert(strstr(err.msg, "1000"), "%s", err.msg);
    cr_assert_null(p.perm);
    o.alpha = 0;
    cr_assert_eq(ml_partition_make(&p, &o, y, 2000, 10, 20, r, &err),
                 SIM_EINVAL);
    free(y);
    gsl_rng_free(r);
}

Test(ml_partition, rejects_bad_labels_and_workers)
{
    double y[4] = {0, 1, 2.5, 1};
    ml_partition p;
    sim_err err = {0};
    gsl_rng *r = rng(6);
    ml_partition_opts o = {.kind = ML_PART_DIRICHLET, .alpha = 1};
    cr_assert_eq(ml_partition_make(&p, &o, y, 4, 3, 2, r, &err), SIM_EINVAL);
    cr_assert(strstr(err.msg, "row 2"), "%s", err.msg);
    y[2] = 3;
    cr_assert_eq(ml_partition_make(&p, &o, y, 4, 3, 2, r, &err), SIM_EINVAL);
    o.kind = ML_PART_IID;
    cr_assert_eq(ml_partition_make(&p, &o, y, 4, 3, 0, r, &err), SIM_EINVAL);
    gsl_rng_free(r);
}

Test(ml_partition, kinds_are_named_for_configs)
{
    ml_partition_kind k = ML_PART_CONTIGUOUS;
    cr_assert_eq(ml_partition_kind_from_name("dirichlet", &k), 0);
    cr_assert_eq(k, ML_PART_DIRICHLET);
    cr_assert_eq(ml_partition_kind_from_name("shards", &k), 0);
    cr_assert_eq(k, ML_PART_SHARDS);
    cr_assert_eq(ml_partition_kind_from_name("iid", &k), 0);
    cr_assert_eq(k, ML_PART_IID);
    cr_assert_eq(ml_partition_kind_from_name("contiguous", &k), 0);
    cr_assert_eq(k, ML_PART_CONTIGUOUS);
    cr_assert_eq(ml_partition_kind_from_name("Dirichlet", &k), -1);
}
