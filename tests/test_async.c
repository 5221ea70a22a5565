/* test_async.c: the asynchronous algorithms and their relatives (ASGD,
 * DC-ASGD, SSP, backup workers, Hogwild!, asynchronous EASGD), staleness
 * emerging from timing, evaluation schedules and determinism. Runs go
 * through the engine directly, so that the rows can be compared in full
 * precision. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/core/rng.h"
#include "sim/ml/batch.h"
#include "sim/ml/model.h"
#include "sim/run/engine.h"
#include "sim/run/runner.h"
#include "tests/support.h"

/* The post's data, standardised, fixed-size batches (so that equal-speed
 * workers really take equal time), no straggler delays. %s is spliced in
 * at the top level to vary the rest. */
static const char base_fmt[] =
    "{\"seed\": 3, \"algorithm\": %s,"
    " \"data\": {\"path\": \"../data/breast_cancer.csv\","
    "  \"standardize\": true},"
    " \"batch\": {\"size\": 8},"
    " \"cluster\": %s,"
    " \"evaluation\": %s}";

typedef struct run {
    cfg_experiment *cfg;
    eng_data data;
    eng_output out;
} run;

static void run_config(run *r, const char *alg, const char *cluster,
                       const char *evaluation)
{
    char text[4096];
    snprintf(text, sizeof text, base_fmt, alg, cluster,
             evaluation ? evaluation : "{\"every\": 1, \"train_loss\": false}");
    size_t n;
    const cfg_algorithm_spec *specs = rn_algorithm_specs(&n);
    sim_err err = {0};
    cr_assert_eq(cfg_load_string(text, "configs/test.json", specs, n, NULL, 0,
                                 &r->cfg, &err),
                 0, "%s", err.msg);
    const alg_ops *ops = alg_find(r->cfg->algorithm.name);
    cr_assert_not_null(ops);
    if (ops->check)
        cr_assert_eq(ops->check(r->cfg, &err), 0, "%s", err.msg);
    cr_assert_eq(eng_data_load(r->cfg, &r->data, &err), 0, "%s", err.msg);
    cr_assert_eq(eng_run(r->cfg, ops, &r->data, &r->out, &err), 0, "%s",
                 err.msg);
}

static void run_free(run *r)
{
    eng_output_free(&r->out);
    eng_data_free(&r->data);
    cfg_experiment_free(r->cfg);
}

static int64_t hist_at(const db_worker *w, int64_t s)
{
    for (size_t i = 0; i < w->n_staleness; i++)
        if (w->staleness[i].staleness == s)
            return w->staleness[i].updates;
    return 0;
}

Test(asgd, one_worker_without_delay_is_sequential_sgd)
{
    /* One worker, nothing to be stale against: every update is applied at
     * the model the gradient was computed on. Redo the same SGD by hand,
     * from the same streams, and compare every evaluation bit for bit. */
    run r;
    run_config(&r, "{\"name\": \"asgd\", \"rounds\": 200, \"lr\": 0.1}",
               "{\"workers\": 1}", NULL);
    cr_assert_eq(r.out.status, DB_STATUS_DONE);
    cr_assert_eq(r.out.n_metrics, 201);

    sim_err err = {0};
    mdl *m;
    mdl_opts mo = {.d = r.data.train->d};
    cr_assert_eq(mdl_create("logreg", &mo, &m, &err), 0);
    size_t n = m->ops->n_params(m);
    double *w = malloc(n * sizeof *w), *g = malloc(n * sizeof *g);
    gsl_rng *init = rng_stream_create(3, RNG_INIT, 0);
    gsl_rng *sampler = rng_stream_create(3, RNG_SAMPLER, 0);
    mdl_init_uniform(w, n, -1, 1, init);
    ml_batch b = {0};
    for (size_t step = 0; step <= 200; step++) {
        mdl_eval e = m->ops->evaluate(m, w, r.data.test);
        const db_metric *row = &r.out.metrics[step];
        cr_assert_eq(row->step, (int64_t)step);
        cr_assert_eq(row->test_loss, e.loss, "step %zu: %.17g vs %.17g", step,
                     row->test_loss, e.loss);
        cr_assert_eq(row->test_accuracy, e.accuracy);
        cr_assert_eq(ml_batch_fixed(&b, 0, r.data.train->n, 8, sampler), 0);
        m->ops->gradient(m, g, w, r.data.train, b.rows, b.n);
        for (size_t i = 0; i < n; i++)
            w[i] -= 0.1 * g[i];
    }
    cr_assert_eq(r.out.workers[0].max_staleness, 0);
    cr_assert_eq(hist_at(&r.out.workers[0], 0), 200);
    ml_batch_deinit(&b);
    gsl_rng_free(init);
    gsl_rng_free(sampler);
    free(w);
    free(g);
    mdl_destroy(m);
    run_free(&r);
}

Test(asgd, equal_speed_workers_settle_at_staleness_k_minus_one)
{
    /* K workers of equal speed with equal batches take turns: between a
     * worker's pull and its push, each of the other K-1 pushes once. The
     * first round of pushes (all computed on version 0) has staleness
     * 0, 1, ..., K-1; every later update must have exactly K-1. */
    for (int K = 2; K <= 8; K *= 2) {
        char cluster[64];
        snprintf(cluster, sizeof cluster, "{\"workers\": %d}", K);
        run r;
        run_config(&r, "{\"name\": \"asgd\", \"rounds\": 400}", cluster,
                   "{\"every\": 100}");
        int64_t total = 0, at_k1 = 0, above = 0;
        for (int k = 0; k < K; k++) {
            const db_worker *w = &r.out.workers[k];
            for (size_t i = 0; i < w->n_staleness; i++) {
                const db_staleness *h = &w->staleness[i];
                total += h->updates;
                if (h->staleness == K - 1)
                    at_k1 += h->updates;
                if (h->staleness > K - 1)
                    above += h->updates;
                if (i > 0)
                    cr_assert_gt(h->staleness, w->staleness[i - 1].staleness);
            }
        }
        cr_assert_eq(total, 400);
        cr_assert_eq(above, 0, "K=%d: staleness above K-1", K);
        cr_assert_eq(at_k1, 400 - (K - 1), "K=%d: %lld of 400 at K-1", K,
                     (long long)at_k1);
        run_free(&r);
    }
}

static void same_trajectory(const eng_output *a, const eng_output *b)
{
    cr_assert_eq(a->n_metrics, b->n_metrics);
    for (size_t i = 0; i < a->n_metrics; i++) {
        const db_metric *x = &a->metrics[i], *y = &b->metrics[i];
        cr_assert_eq(x->step, y->step);
        cr_assert_eq(x->sim_time, y->sim_time, "row %zu", i);
        cr_assert_eq(x->bytes, y->bytes, "row %zu", i);
        cr_assert_eq(x->messages, y->messages, "row %zu", i);
        cr_assert_eq(x->test_accuracy, y->test_accuracy, "row %zu", i);
        cr_assert_eq(x->test_loss, y->test_loss, "row %zu: %.17g vs %.17g", i,
                     x->test_loss, y->test_loss);
    }
    cr_assert_eq(a->sim_seconds, b->sim_seconds);
    cr_assert_eq(a->total_bytes, b->total_bytes);
}

/* Stragglers make the equivalences below non-trivial: rounds are set by
 * the slowest worker, which changes from round to round. */
static const char straggly[] =
    "{\"workers\": 4, \"slowdown\": [{\"worker\": 2, \"factor\": 3}],"
    " \"delay\": {\"distribution\": \"exponential\", \"mean\": \"100us\"}}";

Test(ssp, zero_staleness_gives_the_ssgd_trajectory)
{
    run s, p;
    run_config(&s, "{\"name\": \"ssgd\", \"rounds\": 150}", straggly, NULL);
    run_config(&p, "{\"name\": \"ssp\", \"rounds\": 150, \"staleness\": 0}",
               straggly, NULL);
    same_trajectory(&s.out, &p.out);
    for (int k = 0; k < 4; k++)
        cr_assert_eq(p.out.workers[k].max_staleness, 0);
    run_free(&s);
    run_free(&p);
}

Test(ssp, a_bound_lets_fast_workers_run_ahead_within_it)
{
    /* With s = 2 the fast workers no longer wait each clock for the slow
     * one: the run is faster than SSGD's, and no update is staler than the
     * bound allows (a gradient of clock c is computed on a model with at
     * least c - s clocks and applied at c, so staleness <= s). */
    run s, p;
    run_config(&s, "{\"name\": \"ssgd\", \"rounds\": 150}", straggly, NULL);
    run_config(&p, "{\"name\": \"ssp\", \"rounds\": 150, \"staleness\": 2}",
               straggly, NULL);
    cr_assert_lt(p.out.sim_seconds, s.out.sim_seconds);
    int64_t max = 0;
    for (int k = 0; k < 4; k++)
        max = p.out.workers[k].max_staleness > max
                  ? p.out.workers[k].max_staleness
                  : max;
    cr_assert_leq(max, 2);
    cr_assert_geq(max, 1, "the fast workers did run ahead");
    run_free(&s);
    run_free(&p);
}

Test(backup, no_backup_workers_gives_the_ssgd_trajectory)
{
    run s, b;
    run_config(&s, "{\"name\": \"ssgd\", \"rounds\": 150}", straggly, NULL);
    run_config(&b, "{\"name\": \"backup\", \"rounds\": 150, \"backup\": 0}",
               straggly, NULL);
    same_trajectory(&s.out, &b.out);
    run_free(&s);
    run_free(&b);
}

Test(backup, one_backup_worker_stops_waiting_for_the_straggler)
{
    /* Worker 2 is 3x slower (240 us a step instead of 80 us), and a round
     * also costs about 205 us of messages: SSGD's rounds take at least
     * 445 us plus the largest of four delays, backup's about 285 us plus
     * the third smallest. Whatever the draws, that is well below 85%. The
     * straggler's gradients are mostly dropped. */
    run s, b;
    run_config(&s, "{\"name\": \"ssgd\", \"rounds\": 150}", straggly, NULL);
    run_config(&b, "{\"name\": \"backup\", \"rounds\": 150, \"backup\": 1}",
               straggly, NULL);
    cr_assert_lt(b.out.sim_seconds, 0.85 * s.out.sim_seconds, "%g vs %g s",
                 b.out.sim_seconds, s.out.sim_seconds);
    int64_t used = 0;
    for (int k = 0; k < 4; k++)
        used += b.out.workers[k].updates;
    cr_assert_eq(used, 150 * 3, "three gradients per round");
    cr_assert_lt(b.out.workers[2].updates, 150 / 2);
    run_free(&s);
    run_free(&b);
}

Test(evaluation, every_seconds_evaluates_once_per_period)
{
    /* An asynchronous run evaluated every T simulated seconds: one row at
     * the first update at or after each multiple of T, plus the last. */
    run r;
    run_config(&r, "{\"name\": \"asgd\", \"rounds\": 2000}", "{\"workers\": 4}",
               "{\"every_seconds\": \"2ms\", \"train_loss\": false}");
    double T = 0.002;
    cr_assert_geq(r.out.n_metrics, 3);
    for (size_t i = 1; i + 1 < r.out.n_metrics; i++) {
        double prev = r.out.metrics[i - 1].sim_time,
               now = r.out.metrics[i].sim_time;
        cr_assert_gt(floor(now / T), floor(prev / T),
                     "rows %zu and %zu in one period", i - 1, i);
    }
    size_t expect = (size_t)floor(r.out.sim_seconds / T) + 1;
    cr_assert(r.out.n_metrics == expect || r.out.n_metrics == expect + 1,
              "%zu rows for %.6g s", r.out.n_metrics, r.out.sim_seconds);
    cr_assert_eq(r.out.metrics[r.out.n_metrics - 1].step, 2000);
    run_free(&r);
}

Test(hogwild, reads_are_stale_by_the_writes_in_between)
{
    /* No network: no bytes. One worker is never stale; with 4 workers the
     * writes interleave, so some reads miss writes, and the run trains. */
    run one, four;
    run_config(&one, "{\"name\": \"hogwild\", \"rounds\": 300}",
               "{\"workers\": 1}", "{\"every\": 300}");
    run_config(&four, "{\"name\": \"hogwild\", \"rounds\": 300}",
               "{\"workers\": 4, \"delay\": {\"distribution\": "
               "\"exponential\", \"mean\": \"50us\"}}",
               "{\"every\": 300}");
    cr_assert_eq(one.out.total_bytes, 0);
    cr_assert_eq(four.out.total_bytes, 0);
    cr_assert_eq(one.out.workers[0].max_staleness, 0);
    int64_t max = 0;
    for (int k = 0; k < 4; k++)
        if (four.out.workers[k].max_staleness > max)
            max = four.out.workers[k].max_staleness;
    cr_assert_geq(max, 1);
    cr_assert_gt(four.out.final_accuracy, 0.9);
    run_free(&one);
    run_free(&four);
}

Test(hogwild, memory_bandwidth_is_charged_per_read_and_write)
{
    /* One worker: a step is read + compute + write, so the run takes
     * steps * (2 * n * 8 / bandwidth + batch * seconds_per_sample). */
    run r;
    run_config(&r,
               "{\"name\": \"hogwild\", \"rounds\": 50, "
               "\"memory_bandwidth\": 1000}",
               "{\"workers\": 1, \"compute\": {\"seconds_per_sample\": "
               "\"1ms\"}}",
               "{\"every\": 50}");
    double n = 31, expect = 50 * (2 * n * 8 / 1000 + 8 * 0.001);
    cr_assert_leq(fabs(r.out.sim_seconds - expect), 1e-9 * expect,
                  "%.12g vs %.12g", r.out.sim_seconds, expect);
    run_free(&r);
}

Test(easgd_async, trains_and_exchanges_on_each_workers_clock)
{
    run r;
    run_config(&r,
               "{\"name\": \"easgd_async\", \"rounds\": 600, \"tau\": 2, "
               "\"rho\": 0.5}",
               straggly, "{\"every\": 600}");
    cr_assert_eq(r.out.status, DB_STATUS_DONE);
    cr_assert_gt(r.out.final_accuracy, 0.9);
    /* The slow worker exchanges less often than the others. */
    cr_assert_lt(r.out.workers[2].updates, r.out.workers[0].updates);
    /* Every exchange is two messages of one model. */
    cr_assert_leq(r.out.total_messages, 2 * 600 + 8);
    run_free(&r);
}

Test(dcasgd, no_compensation_is_asgd)
{
    run a, d;
    run_config(&a, "{\"name\": \"asgd\", \"rounds\": 300}", straggly, NULL);
    run_config(&d, "{\"name\": \"dcasgd\", \"rounds\": 300, \"lambda\": 0}",
               straggly, NULL);
    same_trajectory(&a.out, &d.out);
    run_free(&a);
    run_free(&d);
}

Test(dcasgd, compensation_changes_the_trajectory_only_when_stale)
{
    run one, d1, d4;
    run_config(&one, "{\"name\": \"asgd\", \"rounds\": 100}",
               "{\"workers\": 1}", NULL);
    run_config(&d1, "{\"name\": \"dcasgd\", \"rounds\": 100, \"lambda\": 1}",
               "{\"workers\": 1}", NULL);
    /* With one worker w - w_pulled is 0 at every update. */
    same_trajectory(&one.out, &d1.out);
    run_config(&d4, "{\"name\": \"dcasgd\", \"rounds\": 100, \"lambda\": 1}",
               "{\"workers\": 4}", NULL);
    run a4;
    run_config(&a4, "{\"name\": \"asgd\", \"rounds\": 100}", "{\"workers\": 4}",
               NULL);
    cr_assert_neq(d4.out.metrics[100].test_loss, a4.out.metrics[100].test_loss);
    run_free(&one);
    run_free(&d1);
    run_free(&d4);
    run_free(&a4);
}

/* ---- through the binary: determinism of an asynchronous run ---- */

static void run_ok(const char *const *args)
{
    ts_result r;
    ts_run_dtsim(&r, args);
    cr_assert_eq(r.exit_code, 0, "dtsim failed: %s", r.err);
}

Test(async_run, same_config_and_seed_give_identical_rows, .timeout = 120)
{
    const char *dir = ts_tmpdir();
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/a.db", dir);
    snprintf(b, sizeof b, "%s/b.db", dir);
    const char *const args_a[] = {
        "run",
        "configs/teaching/stragglers_asgd.json",
        "--set",
        "algorithm.rounds=300",
        "--set",
        "output.events=true",
        "--set",
        "cluster.delay={\"distribution\": \"lognormal\", \"mean\": \"1ms\", "
        "\"sd\": \"2ms\"}",
        "--out",
        a,
        "--quiet",
        NULL};
    const char *const args_b[] = {
        "run",
        "configs/teaching/stragglers_asgd.json",
        "--set",
        "algorithm.rounds=300",
        "--set",
        "output.events=true",
        "--set",
        "cluster.delay={\"distribution\": \"lognormal\", \"mean\": \"1ms\", "
        "\"sd\": \"2ms\"}",
        "--out",
        b,
        "--quiet",
        NULL};
    run_ok(args_a);
    run_ok(args_b);
    const char *queries[] = {
        "SELECT name, algorithm, config_json, seed, status, error, "
        "sim_seconds, total_bytes, total_messages, steps, final_accuracy, "
        "final_loss FROM runs ORDER BY run_id",
        "SELECT * FROM metrics ORDER BY run_id, step",
        "SELECT * FROM workers ORDER BY run_id, worker",
        "SELECT * FROM staleness ORDER BY run_id, worker, staleness",
        "SELECT * FROM events ORDER BY rowid"};
    for (size_t q = 0; q < 5; q++) {
        char *x = ts_sql_dump(a, queries[q]), *y = ts_sql_dump(b, queries[q]);
        cr_assert(x && y);
        cr_assert_gt(strlen(x), 0, "query %zu returned no rows", q);
        cr_assert_str_eq(x, y, "query %zu differs", q);
        free(x);
        free(y);
    }
    cr_assert_gt(ts_sql_count(a, "SELECT COUNT(*) FROM runs WHERE algorithm "
                                 "= 'asgd'"),
                 0);
}

Test(async_run, the_stragglers_lesson_holds_over_seeds, .timeout = 120)
{
    /* configs/teaching/stragglers_*.json: 4 workers, one 5x slower. Time
     * to 90% test accuracy: ASGD must beat SSGD on every seed (SSGD's
     * rounds last as long as the straggler's step, ASGD's updates come at
     * the pace of the fast workers), and backup workers (b = 1, so k =
     * K - 1 = 3) must close most of the gap on average: at least 60% of
     * SSGD's extra time over ASGD (the README reports about 80%). */
    const char *dir = ts_tmpdir();
    char db[512];
    snprintf(db, sizeof db, "%s/teach.db", dir);
    for (int seed = 1; seed <= 5; seed++) {
        char s[8];
        snprintf(s, sizeof s, "%d", seed);
        run_ok((const char *[]){"run", "configs/teaching/stragglers_ssgd.json",
                                "configs/teaching/stragglers_asgd.json",
                                "configs/teaching/stragglers_backup.json",
                                "--seed", s, "--out", db, "--quiet", NULL});
    }
    double sum[3] = {0};
    static const char *const algs[] = {"ssgd", "asgd", "backup"};
    for (int seed = 1; seed <= 5; seed++) {
        double t[3];
        for (int a = 0; a < 3; a++) {
            char sql[512];
            snprintf(sql, sizeof sql,
                     "SELECT min(m.sim_time) FROM metrics m JOIN runs r USING "
                     "(run_id) WHERE r.seed = %d AND r.algorithm = '%s' AND "
                     "m.test_accuracy >= 0.9",
                     seed, algs[a]);
            char *v = ts_sql_dump(db, sql);
            cr_assert(v && v[0] && v[0] != '\n', "%s seed %d never got to 90%%",
                      algs[a], seed);
            t[a] = atof(v);
            sum[a] += t[a];
            free(v);
        }
        cr_assert_lt(t[1], t[0], "seed %d: asgd %g s, ssgd %g s", seed, t[1],
                     t[0]);
    }
    double closed = (sum[0] - sum[2]) / (sum[0] - sum[1]);
    cr_assert_geq(closed, 0.6, "backup closes %.0f%% of the gap", 100 * closed);
}
