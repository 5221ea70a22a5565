/* test_stragglers.c: straggler delay distributions, slow periods, crashes
 * and recoveries, the trace file, and the config errors of all of these. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/cluster/replay.h"
#include "sim/cluster/worker.h"
#include "sim/core/rng.h"
#include "sim/run/engine.h"
#include "sim/run/runner.h"
#include "tests/support.h"

/* ---- delay distributions ---- */

typedef struct moments {
    double mean, var, se_mean, se_var;
} moments;

/* Sample mean and variance of n draws, with their standard errors: sd /
 * sqrt(n) for the mean, and sqrt((m4 - var^2) / n) for the variance, m4
 * being the sample's fourth central moment. */
static moments sample(const wk_delay_params *d, size_t n, uint64_t seed)
{
    gsl_rng *r = rng_stream_create(seed, RNG_STRAGGLER, 0);
    double *x = malloc(n * sizeof *x);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += x[i] = wk_delay_draw(d, r);
    double mean = sum / (double)n, m2 = 0, m4 = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (x[i] - mean) * (x[i] - mean);
        m2 += e;
        m4 += e * e;
    }
    m2 /= (double)(n - 1);
    m4 /= (double)n;
    free(x);
    gsl_rng_free(r);
    return (moments){mean, m2, sqrt(m2 / (double)n),
                     sqrt(fmax(m4 - m2 * m2, 0) / (double)n)};
}

/* The configured mean and variance must lie within 5 standard errors of
 * the sample's: a correct sampler fails this with probability below 1e-6
 * per check (normal approximation, good at n = 400,000 for these tails),
 * while a wrong parameterisation (sd used as variance, the Pareto scale
 * off by the factor (a-1)/a, a swapped mixture) is off by many times that.
 * The Pareto shape is 5, so that its fourth moment, and with it the
 * standard error of the variance, is finite. */
static void check_moments(const char *name, const wk_delay_params *d,
                          double mean, double var)
{
    for (uint64_t seed = 1; seed <= 3; seed++) {
        moments m = sample(d, 400000, seed);
        cr_assert_leq(fabs(m.mean - mean), 5 * m.se_mean,
                      "%s seed %llu: mean %.6g, configured %.6g (se %.3g)",
                      name, (unsigned long long)seed, m.mean, mean, m.se_mean);
        cr_assert_leq(fabs(m.var - var), 5 * m.se_var,
                      "%s seed %llu: variance %.6g, configured %.6g (se %.3g)",
                      name, (unsigned long long)seed, m.var, var, m.se_var);
        /* And the tolerance is tight enough to mean something. */
        cr_assert_lt(5 * m.se_mean, 0.05 * mean, "%s", name);
        cr_assert_lt(5 * m.se_var, 0.25 * var, "%s", name);
    }
}

Test(delay, each_distribution_has_the_configured_mean_and_variance,
     .timeout = 60)
{
    double m = 2e-3, sd = 1e-3;
    wk_delay_params d = {.dist = WK_DELAY_EXPONENTIAL, .mean_s = m};
    check_moments("exponential", &d, m, m * m);

    d = (wk_delay_params){.dist = WK_DELAY_LOGNORMAL, .mean_s = m, .sd_s = sd};
    check_moments("lognormal", &d, m, sd * sd);

    d = (wk_delay_params){.dist = WK_DELAY_GAMMA, .mean_s = m, .sd_s = sd};
    check_moments("gamma", &d, m, sd * sd);

    /* Pareto(shape a, scale x_m): mean a x_m / (a - 1), variance
     * x_m^2 a / ((a - 1)^2 (a - 2)). */
    double a = 5, xm = m * (a - 1) / a;
    d = (wk_delay_params){.dist = WK_DELAY_PARETO, .mean_s = m, .shape = a};
    check_moments("pareto", &d, m, xm * xm * a / ((a - 1) * (a - 1) * (a - 2)));

    /* Two points: long with probability p. */
    double p = 0.05, lo = 1e-4, hi = 0.05;
    d = (wk_delay_params){
        .dist = WK_DELAY_MIXTURE, .p = p, .short_s = lo, .long_s = hi};
    check_moments("mixture", &d, p * hi + (1 - p) * lo,
                  p * (1 - p) * (hi - lo) * (hi - lo));
}

Test(slow_periods, stretch_work_by_the_time_spent_slow)
{
    /* An on/off process with mean slow 1 s, mean normal 3 s: a quarter of
     * the time is slow, where work goes 4x slower. Per unit of work the
     * clock then advances 1 / (3/4 + 1/4 * 1/4) = 16/13 seconds on average.
     * Over 20,000 s of simulated time (about 5000 periods of each kind) the
     * fraction of slow time has a relative standard error of about 1.5%,
     * which moves 16/13 by about 0.5%; 3% is 6 of those. */
    wk_params p = {.seconds_per_sample = 1e-3,
                   .speed = 1,
                   .slowdown = 1,
                   .slow = {.factor = 4, .mean_slow_s = 1, .mean_normal_s = 3}};
    wk_worker w;
    cr_assert_eq(wk_init(&w, 0, &p, 42), 0);
    double t = 0, work = 0;
    while (t < 20000) {
        t += wk_step_seconds(&w, 100, t); /* 0.1 s of work */
        work += 0.1;
    }
    double ratio = t / work;
    cr_assert_leq(fabs(ratio - 16.0 / 13.0), 0.03 * 16.0 / 13.0, "%.5f", ratio);
    wk_deinit(&w);

    /* Without slow periods, work is never stretched. */
    p.slow.factor = 1;
    cr_assert_eq(wk_init(&w, 0, &p, 42), 0);
    cr_assert_eq(wk_step_seconds(&w, 100, 5.0), 0.1);
    wk_deinit(&w);
}

/* ---- runs with failures, through the engine ---- */

typedef struct run {
    cfg_experiment *cfg;
    eng_data data;
    eng_output out;
} run;

static const char base_fmt[] =
    "{\"seed\": 5, \"algorithm\": %s,"
    " \"data\": {\"path\": \"../data/breast_cancer.csv\","
    "  \"standardize\": true},"
    " \"batch\": {\"size\": 8},"
    " \"cluster\": %s,"
    " \"evaluation\": {\"every\": 10, \"train_loss\": false},"
    " \"output\": {\"events\": true}}";

static void run_config(run *r, const char *alg, const char *cluster)
{
    char text[4096];
    snprintf(text, sizeof text, base_fmt, alg, cluster);
    size_t n;
    const cfg_algorithm_spec *specs = rn_algorithm_specs(&n);
    sim_err err = {0};
    cr_assert_eq(cfg_load_string(text, "configs/test.json", specs, n, NULL, 0,
                                 &r->cfg, &err),
                 0, "%s", err.msg);
    const alg_ops *ops = alg_find(r->cfg->algorithm.name);
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

/* The last time worker k sent or started a computation, and how many
 * times it did after t. */
static size_t activity_after(const eng_output *o, const char *entity, double t,
                             double *last)
{
    size_t n = 0;
    *last = -1;
    for (size_t i = 0; i < o->n_events; i++) {
        const db_event *e = &o->events[i];
        if (strcmp(e->entity, entity) != 0 ||
            (strcmp(e->kind, "send") != 0 && strcmp(e->kind, "compute") != 0))
            continue;
        if (e->time > *last)
            *last = e->time;
        n += e->time > t;
    }
    return n;
}

Test(crash, a_crashed_worker_sends_nothing_after_its_crash_time)
{
    run r;
    run_config(&r, "{\"name\": \"asgd\", \"rounds\": 1000}",
               "{\"workers\": 4, \"crash\": [{\"worker\": 1, \"at\": "
               "\"3ms\"}]}");
    cr_assert_eq(r.out.status, DB_STATUS_DONE, "%s", r.out.error);
    cr_assert_gt(r.out.sim_seconds, 0.01, "the run goes on well after");
    double last;
    cr_assert_eq(activity_after(&r.out, "worker1", 0.003, &last), 0,
                 "worker1 active at %g s", last);
    cr_assert_gt(last, 0.0, "it did work before the crash");
    /* The others carry on: ASGD does not wait for anyone. */
    cr_assert_gt(activity_after(&r.out, "worker0", 0.003, &last), 100);
    cr_assert_lt(r.out.workers[1].updates, r.out.workers[0].updates / 3);
    int crashes = 0;
    for (size_t i = 0; i < r.out.n_events; i++)
        crashes += strcmp(r.out.events[i].kind, "crash") == 0;
    cr_assert_eq(crashes, 1);
    run_free(&r);
}

Test(crash, a_recovered_worker_pulls_a_fresh_model_and_works_again)
{
    run r;
    run_config(&r, "{\"name\": \"asgd\", \"rounds\": 1000}",
               "{\"workers\": 4, \"crash\": [{\"worker\": 1, \"at\": "
               "\"3ms\", \"recover_after\": \"2ms\"}]}");
    cr_assert_eq(r.out.status, DB_STATUS_DONE, "%s", r.out.error);
    double last;
    /* Silent while down, active again after. */
    size_t after = activity_after(&r.out, "worker1", 0.005, &last);
    cr_assert_gt(after, 50);
    for (size_t i = 0; i < r.out.n_events; i++) {
        const db_event *e = &r.out.events[i];
        if (strcmp(e->entity, "worker1") == 0 && strcmp(e->kind, "send") == 0)
            cr_assert(e->time <= 0.003 || e->time >= 0.005,
                      "sent at %g s while down", e->time);
    }
    run_free(&r);
}

Test(crash, a_synchronous_run_waiting_forever_fails_with_a_clear_error)
{
    run r;
    run_config(&r, "{\"name\": \"ssgd\", \"rounds\": 1000}",
               "{\"workers\": 4, \"crash\": [{\"worker\": 2, \"at\": "
               "\"3ms\"}]}");
    cr_assert_eq(r.out.status, DB_STATUS_FAILED);
    cr_assert(strstr(r.out.error, "waiting for worker 2"), "%s", r.out.error);
    cr_assert(strstr(r.out.error, "crashed at 0.003 s"), "%s", r.out.error);
    cr_assert_lt(r.out.steps, 1000);
    cr_assert_gt(r.out.steps, 0);
    run_free(&r);
}

Test(crash, a_synchronous_run_waits_for_a_worker_that_recovers)
{
    const char *algs[] = {"{\"name\": \"ssgd\", \"rounds\": 100}",
                          "{\"name\": \"ssp\", \"rounds\": 100, "
                          "\"staleness\": 2}",
                          "{\"name\": \"easgd\", \"rounds\": 100}",
                          "{\"name\": \"ma\", \"rounds\": 20}"};
    for (size_t i = 0; i < 4; i++) {
        run r;
        run_config(&r, algs[i],
                   "{\"workers\": 4, \"crash\": [{\"worker\": 2, \"at\": "
                   "\"3ms\", \"recover_after\": \"50ms\"}]}");
        cr_assert_eq(r.out.status, DB_STATUS_DONE, "%s: %s",
                     r.cfg->algorithm.name, r.out.error);
        cr_assert_eq(r.out.steps, r.cfg->algorithm.rounds);
        cr_assert_gt(r.out.sim_seconds, 0.053, "%s: a round waited 50 ms",
                     r.cfg->algorithm.name);
        run_free(&r);
    }
}

Test(crash, dropping_a_crashed_worker_lets_synchronous_runs_finish)
{
    const char *algs[] = {"{\"name\": \"ssgd\", \"rounds\": 200}",
                          "{\"name\": \"easgd\", \"rounds\": 200}",
                          "{\"name\": \"ma\", \"rounds\": 40}",
                          "{\"name\": \"bmuf\", \"rounds\": 40}",
                          "{\"name\": \"ssp\", \"rounds\": 200, "
                          "\"staleness\": 1}"};
    for (size_t i = 0; i < 5; i++) {
        run r;
        run_config(&r, algs[i],
                   "{\"workers\": 4, \"crash\": [{\"worker\": 2, \"at\": "
                   "\"3ms\"}], \"on_crash\": \"drop\", \"drop_timeout\": "
                   "\"10ms\"}");
        cr_assert_eq(r.out.status, DB_STATUS_DONE, "%s: %s",
                     r.cfg->algorithm.name, r.out.error);
        double last;
        cr_assert_eq(activity_after(&r.out, "worker2", 0.003, &last), 0);
        /* After the drop the rounds go on without it. */
        cr_assert_gt(r.out.sim_seconds, 0.013);
        cr_assert_gt(r.out.final_accuracy, 0.9, "%s", r.cfg->algorithm.name);
        run_free(&r);
    }
}

Test(crash, backup_workers_absorb_a_crash)
{
    run r;
    run_config(&r, "{\"name\": \"backup\", \"rounds\": 200, \"backup\": 1}",
               "{\"workers\": 4, \"crash\": [{\"worker\": 2, \"at\": "
               "\"3ms\"}]}");
    cr_assert_eq(r.out.status, DB_STATUS_DONE, "%s", r.out.error);
    run_free(&r);
    /* Two crashes are one more than one backup worker absorbs: waiting
     * fails, dropping finishes with the two left. */
    const char *two = "{\"workers\": 4, \"crash\": [{\"worker\": 2, \"at\": "
                      "\"3ms\"}, {\"worker\": 0, \"at\": \"4ms\"}]%s}";
    char cluster[512];
    snprintf(cluster, sizeof cluster, two, "");
    run_config(&r, "{\"name\": \"backup\", \"rounds\": 200, \"backup\": 1}",
               cluster);
    cr_assert_eq(r.out.status, DB_STATUS_FAILED);
    cr_assert(strstr(r.out.error, "waiting for worker 0"), "%s", r.out.error);
    run_free(&r);
    snprintf(cluster, sizeof cluster, two,
             ", \"on_crash\": \"drop\", \"drop_timeout\": \"5ms\"");
    run_config(&r, "{\"name\": \"backup\", \"rounds\": 200, \"backup\": 1}",
               cluster);
    cr_assert_eq(r.out.status, DB_STATUS_DONE, "%s", r.out.error);
    cr_assert_eq(r.out.steps, 200);
    /* Workers 1 and 3 carry nearly every round. */
    cr_assert_gt(r.out.workers[1].updates, 150);
    cr_assert_gt(r.out.workers[3].updates, 150);
    run_free(&r);
}

Test(crash, random_crashes_at_a_rate_are_reproducible)
{
    const char *cluster = "{\"workers\": 4, \"crash\": [{\"worker\": 0, "
                          "\"rate\": 200, \"recover_after\": \"2ms\"}]}";
    run a, b;
    run_config(&a, "{\"name\": \"asgd\", \"rounds\": 2000}", cluster);
    run_config(&b, "{\"name\": \"asgd\", \"rounds\": 2000}", cluster);
    int crashes = 0, recoveries = 0;
    for (size_t i = 0; i < a.out.n_events; i++) {
        crashes += strcmp(a.out.events[i].kind, "crash") == 0;
        recoveries += strcmp(a.out.events[i].kind, "recover") == 0;
    }
    /* 200 per second of up time, 2 ms down each: over the run's time
     * (tens of ms) several crashes, each followed by a recovery. */
    cr_assert_geq(crashes, 3, "%d crashes in %g s", crashes, a.out.sim_seconds);
    cr_assert(recoveries == crashes || recoveries == crashes - 1);
    cr_assert_eq(a.out.n_events, b.out.n_events);
    for (size_t i = 0; i < a.out.n_events; i++)
        cr_assert_eq(a.out.events[i].time, b.out.events[i].time);
    cr_assert_eq(a.out.final_loss, b.out.final_loss);
    run_free(&a);
    run_free(&b);
}

/* ---- the trace file ---- */

Test(trace, replays_crashes_recoveries_slowdowns_and_delays)
{
    const char *dir = ts_tmpdir();
    char *path = ts_write_file(dir, "cluster.csv",
                               "time,worker,event,value\n"
                               "# worker 3 slows down, then recovers\n"
                               "0.002,3,slowdown,10\n"
                               "0.004,1,crash,\n"
                               "0.008,1,recover,\n"
                               "0.001,0,delay,0.005\n");
    char cluster[1024];
    snprintf(cluster, sizeof cluster, "{\"workers\": 4, \"trace\": \"%s\"}",
             path);
    run r;
    run_config(&r, "{\"name\": \"asgd\", \"rounds\": 1000}", cluster);
    cr_assert_eq(r.out.status, DB_STATUS_DONE, "%s", r.out.error);
    for (size_t i = 0; i < r.out.n_events; i++) {
        const db_event *e = &r.out.events[i];
        if (strcmp(e->entity, "worker1") == 0 && strcmp(e->kind, "send") == 0)
            cr_assert(e->time <= 0.004 || e->time >= 0.008,
                      "worker1 sent at %g s while down", e->time);
        /* Steps starting after 2 ms on worker 3 take 10x as long. */
        if (strcmp(e->entity, "worker3") == 0 &&
            strcmp(e->kind, "compute") == 0 && e->time > 0.002)
            cr_assert_eq(e->duration, 8 * 1e-5 * 10);
        /* Worker 0's first step after 1 ms carries the 5 ms delay. */
    }
    int slowed = 0, delayed = 0;
    for (size_t i = 0; i < r.out.n_events; i++) {
        const db_event *e = &r.out.events[i];
        slowed += strcmp(e->kind, "slowdown") == 0;
        delayed += strcmp(e->entity, "worker0") == 0 &&
                   strcmp(e->kind, "compute") == 0 &&
                   fabs(e->duration - (8e-5 + 0.005)) < 1e-12;
    }
    cr_assert_eq(slowed, 1);
    cr_assert_eq(delayed, 1);
    run_free(&r);
    free(path);
}

Test(trace, bad_rows_are_named_by_file_and_line)
{
    const char *dir = ts_tmpdir();
    struct {
        const char *text, *msg;
    } cases[] = {
        {"time,worker,event,value\n0.1,9,crash,\n",
         "cluster.csv:2: worker: expected an integer in [0, 3], got '9'"},
        {"time,worker,event,value\n\n0.1,1,explode,\n",
         "cluster.csv:3: event: expected slowdown, delay, crash or recover, "
         "got 'explode'"},
        {"time,worker,event,value\n-1,1,crash,\n",
         "cluster.csv:2: time: expected seconds >= 0, got '-1'"},
        {"time,worker,event,value\n1,1,slowdown,0.5\n",
         "cluster.csv:2: value: expected a factor >= 1, got '0.5'"},
        {"when,who,what\n", "cluster.csv:1: expected the header"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = ts_write_file(dir, "cluster.csv", cases[i].text);
        tr_row *rows;
        size_t n;
        sim_err err = {0};
        cr_assert_eq(tr_load(path, 4, &rows, &n, &err), SIM_EDATA, "case %zu",
                     i);
        cr_assert(strstr(err.msg, cases[i].msg), "case %zu: %s", i, err.msg);
        cr_assert_null(rows);
        free(path);
    }
}

/* ---- config errors, through the binary ---- */

Test(config, straggler_and_failure_errors_name_the_file_and_path)
{
    const char *dir = ts_tmpdir();
    struct {
        const char *cluster, *eval, *msg;
    } cases[] = {
        {"{\"delay\": {\"distribution\": \"lognormal\", \"mean\": \"1ms\"}}",
         "{}",
         "$.cluster.delay: missing required key \"sd\" (for \"lognormal\")"},
        {"{\"delay\": {\"distribution\": \"pareto\", \"mean\": \"1ms\", "
         "\"shape\": 1}}",
         "{}", "$.cluster.delay.shape: expected a number > 1, got 1"},
        {"{\"delay\": {\"distribution\": \"gamma\", \"mean\": \"1ms\", "
         "\"shape\": 3, \"sd\": \"1ms\"}}",
         "{}", "$.cluster.delay.shape: not used with distribution \"gamma\""},
        {"{\"delay\": {\"distribution\": \"mixture\", \"p\": 0.1, \"short\": "
         "\"2ms\", \"long\": \"1ms\"}}",
         "{}", "$.cluster.delay.long: expected a duration > short (0.002 s)"},
        {"{\"delay\": {\"distribution\": \"weibull\"}}", "{}",
         "$.cluster.delay.distribution: expected one of \"none\", "
         "\"exponential\", \"lognormal\", \"pareto\", \"gamma\", \"mixture\""},
        {"{\"crash\": [{\"worker\": 1, \"at\": \"1s\", \"rate\": 2}]}", "{}",
         "$.cluster.crash[0]: expected exactly one of \"at\" or \"rate\", got "
         "both"},
        {"{\"crash\": [{\"worker\": 4, \"at\": \"1s\"}]}", "{}",
         "$.cluster.crash[0].worker: expected a worker index in [0, 3]"},
        {"{\"drop_timeout\": \"1s\"}", "{}",
         "$.cluster.drop_timeout: only used with \"on_crash\": \"drop\""},
        {"{\"slow_periods\": {\"factor\": 3, \"mean_slow\": \"1s\"}}", "{}",
         "$.cluster.slow_periods: missing required key \"mean_normal\""},
        {"{}", "{\"every\": 0}",
         "$.evaluation.every: expected \"every\" >= 1 or \"every_seconds\" > "
         "0"},
        {"{\"trace\": \"nonexistent.csv\"}", "{}", "nonexistent.csv"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[2048];
        snprintf(text, sizeof text,
                 "{\"algorithm\": {\"name\": \"asgd\"}, \"data\": {\"path\": "
                 "\"%s/data/breast_cancer.csv\"}, \"cluster\": %s, "
                 "\"evaluation\": %s}",
                 DTSIM_SOURCE_DIR, cases[i].cluster, cases[i].eval);
        char *cfg = ts_write_file(dir, "bad.json", text);
        char db[600];
        snprintf(db, sizeof db, "%s/out.db", dir);
        ts_result r;
        ts_run_dtsim(&r, (const char *[]){"run", cfg, "--out", db, NULL});
        cr_assert_eq(r.exit_code, 2, "case %zu: %s", i, r.err);
        cr_assert(strstr(r.err, "bad.json") || strstr(r.err, ".csv"),
                  "case %zu: %s", i, r.err);
        cr_assert(strstr(r.err, cases[i].msg), "case %zu: %s", i, r.err);
        cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1,
                     "one line: %s", r.err);
        FILE *f = fopen(db, "r");
        cr_assert_null(f, "case %zu: a database was written", i);
        free(cfg);
    }
}

Test(config, the_stored_config_keeps_every_straggler_setting)
{
    /* config_json must run the same experiment again: load the JSON the
     * loader writes and compare what it reads. */
    size_t n;
    const cfg_algorithm_spec *specs = rn_algorithm_specs(&n);
    const char *text =
        "{\"algorithm\": {\"name\": \"asgd\"}, \"data\": {\"path\": "
        "\"x.csv\"}, \"cluster\": {\"workers\": 3, \"delay\": "
        "{\"distribution\": \"mixture\", \"p\": 0.25, \"long\": \"3ms\"}, "
        "\"slow_periods\": {\"factor\": 2, \"mean_slow\": \"1s\", "
        "\"mean_normal\": \"4s\"}, \"crash\": [{\"worker\": 2, \"rate\": 0.5, "
        "\"recover_after\": \"1s\"}, {\"worker\": 0, \"at\": 7}], "
        "\"on_crash\": \"drop\", \"drop_timeout\": \"250ms\"}, "
        "\"evaluation\": {\"every_seconds\": \"1s\"}}";
    cfg_experiment *a, *b;
    sim_err err = {0};
    cr_assert_eq(cfg_load_string(text, "c.json", specs, n, NULL, 0, &a, &err),
                 0, "%s", err.msg);
    char *json = cfg_experiment_to_json(a);
    cr_assert_eq(cfg_load_string(json, "c.json", specs, n, NULL, 0, &b, &err),
                 0, "%s", err.msg);
    cr_assert_eq(b->cluster.delay, CFG_DELAY_MIXTURE);
    cr_assert_eq(b->cluster.delay_p, 0.25);
    cr_assert_eq(b->cluster.delay_short_s, 0);
    cr_assert_eq(b->cluster.delay_long_s, 0.003);
    cr_assert_eq(b->cluster.slow_periods.factor, 2);
    cr_assert_eq(b->cluster.slow_periods.mean_normal_s, 4);
    cr_assert_eq(b->cluster.n_crashes, 2);
    cr_assert_eq(b->cluster.crashes[0].worker, 2);
    cr_assert_eq(b->cluster.crashes[0].rate, 0.5);
    cr_assert_eq(b->cluster.crashes[0].recover_after_s, 1);
    cr_assert_eq(b->cluster.crashes[1].at_s, 7);
    cr_assert_eq(b->cluster.crashes[1].recover_after_s, -1);
    cr_assert_eq(b->cluster.on_crash, CFG_ON_CRASH_DROP);
    cr_assert_eq(b->cluster.drop_timeout_s, 0.25);
    cr_assert_eq(b->evaluation.every, 0);
    cr_assert_eq(b->evaluation.every_seconds, 1);
    char *again = cfg_experiment_to_json(b);
    cr_assert_str_eq(json, again);
    free(json);
    free(again);
    cfg_experiment_free(a);
    cfg_experiment_free(b);
}

Test(crash, the_teaching_configs_fail_clearly_or_finish, .timeout = 60)
{
    /* Through the binary: a waiting SSGD run is stored as failed with the
     * reason, and exits like any stored run; dropping the worker finishes;
     * the trace replay runs. */
    const char *dir = ts_tmpdir();
    char db[512];
    snprintf(db, sizeof db, "%s/c.db", dir);
    ts_result r;
    ts_run_dtsim(&r, (const char *[]){"run", "configs/teaching/crash_wait.json",
                                      "configs/teaching/crash_drop.json",
                                      "configs/teaching/replay.json", "--out",
                                      db, "--quiet", NULL});
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    char *v = ts_sql_dump(db, "SELECT name, status, error FROM runs ORDER BY "
                              "run_id");
    cr_assert_not_null(v);
    cr_assert(strstr(v, "crash-wait|failed|stalled at 0.100"), "%s", v);
    cr_assert(strstr(v, "waiting for worker 2, which crashed at 0.1 s and "
                        "never recovered"),
              "%s", v);
    cr_assert(strstr(v, "crash-drop|done|"), "%s", v);
    cr_assert(strstr(v, "replay-asgd|done|"), "%s", v);
    free(v);
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM events WHERE run_id = "
                                  "3 AND kind IN ('crash', 'recover', "
                                  "'slowdown')"),
                 4);
}
