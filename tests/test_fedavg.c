/* FedAvg and FedProx through the binary: one client doing one step a round
 * is SGD, client sampling, and the parameters' errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

static char *db_in(const char *dir, const char *name)
{
    char *p = malloc(512);
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static void run_ok(const char *const *args)
{
    ts_result r;
    ts_run_dtsim(&r, args);
    cr_assert_eq(r.exit_code, 0, "dtsim failed: %s", r.err);
}

static const char metrics_sql[] =
    "SELECT step, sim_time, bytes, messages, test_accuracy, test_loss, "
    "train_loss FROM metrics ORDER BY step";

Test(fedavg, one_client_one_step_a_round_is_sgd, .timeout = 60)
{
    const char *dir = ts_tmpdir();
    char *a = db_in(dir, "a.db"), *b = db_in(dir, "b.db");
    run_ok((const char *[]){"run", "configs/examples/softmax_ssgd.json",
                            "--set", "cluster.workers=1", "--set",
                            "algorithm.rounds=40", "--out", a, "--quiet",
                            NULL});
    run_ok((const char *[]){"run", "configs/examples/softmax_ssgd.json",
                            "--set", "cluster.workers=1", "--set",
                            "algorithm={\"name\": \"fedavg\", \"rounds\": 40, "
                            "\"lr\": 0.5, \"local_steps\": 1, \"fraction\": 1}",
                            "--out", b, "--quiet", NULL});
    char *x = ts_sql_dump(a, metrics_sql), *y = ts_sql_dump(b, metrics_sql);
    cr_assert(x && y && strlen(x) > 0);
    cr_assert_str_eq(x, y);
    free(x);
    free(y);
    free(a);
    free(b);
}

Test(fedavg, samples_a_fraction_of_the_clients_each_round, .timeout = 60)
{
    char *db = db_in(ts_tmpdir(), "r.db");
    run_ok((const char *[]){
        "run", "configs/examples/mlp_ma.json", "--set",
        "algorithm={\"name\": \"fedavg\", \"rounds\": 30, \"lr\": 0.1, "
        "\"fraction\": 0.5, \"epochs\": 1, \"mu\": 0.01}",
        "--set", "data.partition={\"kind\": \"dirichlet\", \"alpha\": 0.5}",
        "--out", db, "--quiet", NULL});
    /* 2 of the 4 clients a round, one update each. */
    cr_assert_eq(ts_sql_count(db, "SELECT SUM(updates) FROM workers"), 60);
    cr_assert_gt(ts_sql_count(db, "SELECT COUNT(*) FROM workers WHERE "
                                  "updates > 0"),
                 2, "the same clients every round");
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM runs WHERE status = "
                                  "'done' AND final_accuracy > 0.8"),
                 1);
    free(db);
}

Test(fedavg, rejects_a_fraction_of_zero)
{
    ts_result r;
    ts_run_dtsim(&r, (const char *[]){"check", "configs/examples/mlp_ma.json",
                                      "--set",
                                      "algorithm={\"name\": \"fedavg\", "
                                      "\"fraction\": 0}",
                                      NULL});
    cr_assert_eq(r.exit_code, 2, "exit %d: %s", r.exit_code, r.err);
    cr_assert(strstr(r.err, "mlp_ma.json: $.algorithm.fraction: expected a "
                            "number in") != NULL,
              "%s", r.err);
}
