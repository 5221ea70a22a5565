/* bench_asgd.c: ASGD at scale. 10,000 workers train logistic regression
 * through a parameter server until it has applied 10^6 updates; prints the
 * wall time, events per second, server updates per second and the peak
 * resident memory of the whole process.
 *
 * The data are synthetic (the breast-cancer set has fewer rows than there
 * are workers): 40,000 rows of 30 standard normal features and a label
 * drawn from a fixed logistic model, written to a CSV file in /tmp at
 * each start.
 * Each worker holds 2 or 3 of the 28,000 training rows and draws batches
 * of 2. Compute takes 1 ms per sample with exponential
 * straggler delays of mean 1 ms, so workers run out of step and staleness
 * emerges (about K = 10,000 updates, as the test on equal-speed workers
 * predicts). The model is evaluated on the 12,000 test rows every 100,000
 * updates.
 *
 * Usage: bench_asgd [updates] [workers] [contention 0|1]
 * (defaults 1000000 10000 1). */
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "sim/core/rng.h"
#include "sim/run/engine.h"
#include "sim/run/runner.h"

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int write_data(const char *path, int rows, int d)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    gsl_rng *r = rng_stream_create(2024, RNG_INIT, 99);
    double *wt = malloc((size_t)d * sizeof *wt),
           *x = malloc((size_t)d * sizeof *x);
    for (int j = 0; j < d; j++)
        wt[j] = gsl_ran_gaussian(r, 1.0);
    for (int j = 0; j < d; j++)
        fprintf(f, "x%d,", j);
    fprintf(f, "y\n");
    for (int i = 0; i < rows; i++) {
        double z = 0;
        for (int j = 0; j < d; j++) {
            x[j] = gsl_ran_gaussian(r, 1.0);
            z += wt[j] * x[j];
        }
        int y = gsl_rng_uniform(r) < 1 / (1 + exp(-z));
        for (int j = 0; j < d; j++)
            fprintf(f, "%.6f,", x[j]);
        fprintf(f, "%d\n", y);
    }
    free(wt);
    free(x);
    gsl_rng_free(r);
    return fclose(f);
}

int main(int argc, char **argv)
{
    long updates = argc > 1 ? atol(argv[1]) : 1000000;
    int workers = argc > 2 ? atoi(argv[2]) : 10000;
    int contention = argc > 3 ? atoi(argv[3]) : 1;
    const char *csv = "/tmp/dtsim_bench_asgd.csv";
    if (write_data(csv, 40000, 30)) {
        fprintf(stderr, "bench_asgd: cannot write %s\n", csv);
        return 1;
    }
    char text[2048];
    snprintf(
        text, sizeof text,
        "{\"seed\": 1,"
        " \"algorithm\": {\"name\": \"asgd\", \"rounds\": %ld, \"lr\": 0.05},"
        " \"data\": {\"path\": \"%s\", \"standardize\": true},"
        " \"batch\": {\"size\": 2},"
        " \"cluster\": {\"workers\": %d,"
        "  \"compute\": {\"seconds_per_sample\": \"1ms\"},"
        "  \"delay\": {\"distribution\": \"exponential\", \"mean\": \"1ms\"}},"
        " \"network\": {\"latency\": \"50us\", \"bandwidth\": \"10Gbps\","
        "  \"contention\": %s},"
        " \"evaluation\": {\"every\": 100000, \"train_loss\": false}}",
        updates, csv, workers, contention ? "true" : "false");

    double t0 = wall_now();
    size_t n;
    const cfg_algorithm_spec *specs = rn_algorithm_specs(&n);
    cfg_experiment *cfg;
    sim_err err = {0};
    eng_data data;
    eng_output out;
    if (cfg_load_string(text, "bench.json", specs, n, NULL, 0, &cfg, &err) ||
        eng_data_load(cfg, &data, &err)) {
        fprintf(stderr, "bench_asgd: %s\n", err.msg);
        return 1;
    }
    double t1 = wall_now();
    if (eng_run(cfg, alg_find("asgd"), &data, &out, &err)) {
        fprintf(stderr, "bench_asgd: %s\n", err.msg);
        return 1;
    }
    double t2 = wall_now();

    double stale_sum = 0;
    int64_t stale_max = 0, total = 0;
    for (size_t k = 0; k < out.n_workers; k++) {
        stale_sum += out.workers[k].mean_staleness * out.workers[k].updates;
        total += out.workers[k].updates;
        if (out.workers[k].max_staleness > stale_max)
            stale_max = out.workers[k].max_staleness;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("ASGD, %d workers, logistic regression (31 parameters), %s\n",
           workers, contention ? "max-min fair network" : "no contention");
    printf("status              %s\n", db_status_name(out.status));
    printf("server updates      %lld\n", (long long)out.steps);
    printf("simulated time      %.3f s\n", out.sim_seconds);
    printf("final accuracy      %.4f\n", out.final_accuracy);
    printf("mean staleness      %.1f (max %lld)\n",
           total ? stale_sum / (double)total : NAN, (long long)stale_max);
    printf("events              %llu\n", (unsigned long long)out.events_fired);
    printf("setup (data)        %.3f s wall\n", t1 - t0);
    printf("run                 %.3f s wall\n", t2 - t1);
    printf("events per second   %.3g\n", (double)out.events_fired / (t2 - t1));
    printf("updates per second  %.3g\n", (double)out.steps / (t2 - t1));
    printf("peak memory         %.1f MB (max resident set)\n",
           (double)ru.ru_maxrss / 1024.0);
    eng_output_free(&out);
    eng_data_free(&data);
    cfg_experiment_free(cfg);
    return 0;
}
