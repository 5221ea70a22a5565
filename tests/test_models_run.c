/* Softmax and MLP runs through the binary on the shipped digits data: the
 * accuracy they reach, the partitions and label histograms they store,
 * determinism, and the data errors a config can cause. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* digits.csv.gz has 1797 rows; the 0.3 split tests round(539.1) of them. */
#define DIGITS_TRAIN 1258

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

/* The one value of a one-row, one-column query. */
static double sql_number(const char *db, const char *sql)
{
    char *s = ts_sql_dump(db, sql);
    cr_assert_not_null(s, "%s", sql);
    double v = atof(s);
    free(s);
    return v;
}

Test(models_run, softmax_on_digits_reaches_90_percent_with_ssgd, .timeout = 60)
{
    char *db = db_in(ts_tmpdir(), "r.db");
    run_ok((const char *[]){"run", "configs/examples/softmax_ssgd.json",
                            "--out", db, "--quiet", NULL});
    double acc = sql_number(db, "SELECT final_accuracy FROM runs");
    cr_assert_geq(acc, 0.90, "softmax on digits: test accuracy %g", acc);
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM runs WHERE status "
                                  "= 'done' AND config_json LIKE "
                                  "'%\"softmax\"%'"),
                 1);
    free(db);
}

Test(models_run, every_post_algorithm_trains_an_mlp_on_digits, .timeout = 120)
{
    char *db = db_in(ts_tmpdir(), "r.db");
    run_ok((const char *[]){
        "run", "configs/examples/mlp_ssgd.json", "configs/examples/mlp_ma.json",
        "configs/examples/mlp_bmuf.json", "configs/examples/mlp_easgd.json",
        "--out", db, "--quiet", NULL});
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM runs WHERE status = "
                                  "'done' AND final_accuracy >= 0.9"),
                 4, "an MLP run stayed below 90%%");
    free(db);
}

Test(models_run, an_mlp_run_is_deterministic, .timeout = 60)
{
    const char *dir = ts_tmpdir();
    char *a = db_in(dir, "a.db"), *b = db_in(dir, "b.db");
    const char *set =
        "data.partition={\"kind\": \"dirichlet\", \"alpha\": 0.3}";
    run_ok((const char *[]){"run", "configs/examples/mlp_ma.json", "--set", set,
                            "--out", a, "--quiet", NULL});
    run_ok((const char *[]){"run", "configs/examples/mlp_ma.json", "--set", set,
                            "--out", b, "--quiet", NULL});
    const char *queries[] = {
        "SELECT step, sim_time, bytes, test_accuracy, test_loss, train_loss "
        "FROM metrics ORDER BY step",
        "SELECT worker, label, rows FROM label_histogram ORDER BY worker, "
        "label",
        "SELECT config_json, final_accuracy, final_loss FROM runs"};
    for (size_t q = 0; q < 3; q++) {
        char *x = ts_sql_dump(a, queries[q]), *y = ts_sql_dump(b, queries[q]);
        cr_assert(x && y && strlen(x) > 0);
        cr_assert_str_eq(x, y, "query %zu differs", q);
        free(x);
        free(y);
    }
    free(a);
    free(b);
}

/* Runs the softmax example with the partition p and checks the histogram:
 * every worker has a row for each of the 10 labels, and they add up to the
 * training rows, each worker's to its share. Returns the largest share any
 * worker's most frequent label has of its rows. */
static double check_histogram(const char *db, const char *p)
{
    char set[200];
    snprintf(set, sizeof set, "data.partition=%s", p);
    run_ok((const char *[]){"run", "configs/examples/softmax_ssgd.json",
                            "--set", set, "--set", "algorithm.rounds=5",
                            "--out", db, "--quiet", NULL});
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM label_histogram"),
                 4 * 10);
    cr_assert_eq(ts_sql_count(db, "SELECT SUM(rows) FROM label_histogram"),
                 DIGITS_TRAIN);
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM label_histogram "
                                  "WHERE rows < 0"),
                 0);
    return sql_number(db, "SELECT MAX(top) FROM (SELECT 1.0 * MAX(rows) / "
                          "SUM(rows) AS top FROM label_histogram GROUP BY "
                          "worker)");
}

Test(models_run, stores_label_histograms_that_sum_to_the_training_rows,
     .timeout = 60)
{
    const char *dir = ts_tmpdir();
    char *a = db_in(dir, "c.db"), *b = db_in(dir, "i.db"),
         *c = db_in(dir, "d.db"), *d = db_in(dir, "s.db");
    check_histogram(a, "\"contiguous\"");
    /* The contiguous partition: worker k holds rows [k n/4, (k+1) n/4). */
    cr_assert_eq(ts_sql_count(a, "SELECT SUM(rows) FROM label_histogram "
                                 "WHERE worker = 0"),
                 DIGITS_TRAIN / 4);
    double iid = check_histogram(b, "\"iid\"");
    double dir01 = check_histogram(
        c, "{\"kind\": \"dirichlet\", \"alpha\": 0.1, \"min_rows\": 10}");
    cr_assert_lt(iid, 0.2, "IID: a worker has %g of one label", iid);
    cr_assert_gt(dir01, 0.3, "Dirichlet(0.1): at most %g of one label", dir01);
    check_histogram(d, "{\"kind\": \"shards\", \"shards\": 3}");
    /* Each worker holds 3 classes, so 7 of its 10 counts are 0. */
    cr_assert_eq(ts_sql_count(d, "SELECT COUNT(*) FROM label_histogram "
                                 "WHERE rows = 0"),
                 4 * 7);
    free(a);
    free(b);
    free(c);
    free(d);
}

Test(models_run, softmax_learns_synthetic_clusters, .timeout = 60)
{
    char *db = db_in(ts_tmpdir(), "r.db");
    run_ok((const char *[]){
        "run", "configs/examples/softmax_ssgd.json", "--set",
        "data={\"format\": \"synthetic\", \"n\": 600, \"d\": 5, "
        "\"classes\": 3, \"separation\": 4, \"bias\": false}",
        "--set", "algorithm.rounds=100", "--out", db, "--quiet", NULL});
    double acc = sql_number(db, "SELECT final_accuracy FROM runs");
    cr_assert_geq(acc, 0.8, "synthetic clusters: accuracy %g", acc);
    free(db);
}

/* Runs a bad run and expects exit 2, want in the one-line message, and no
 * database written. */
static void expect_bad(const char *const *args, const char *db,
                       const char *want)
{
    ts_result r;
    ts_run_dtsim(&r, args);
    cr_assert_eq(r.exit_code, 2, "exit %d: %s", r.exit_code, r.err);
    cr_assert(strstr(r.err, want) != NULL, "stderr: %s\nwanted: %s", r.err,
              want);
    cr_assert(strchr(r.err, '\n') == strrchr(r.err, '\n'), "not one line: %s",
              r.err);
    FILE *f = fopen(db, "r");
    cr_assert_null(f, "a database was written");
}

Test(models_run, rejects_labels_the_model_cannot_take, .timeout = 60)
{
    char *db = db_in(ts_tmpdir(), "r.db");
    expect_bad((const char *[]){"run", "configs/examples/softmax_ssgd.json",
                                "--set", "model={\"type\": \"logreg\"}",
                                "--out", db, NULL},
               db,
               "digits.csv.gz: label 9 is outside the 2 classes of model "
               "logreg");
    expect_bad((const char *[]){"run", "configs/examples/mlp_ssgd.json",
                                "--set", "model.n_classes=5", "--out", db,
                                NULL},
               db, "label 9 is outside the 5 classes of model mlp");
    free(db);
}

Test(models_run, rejects_bad_model_data_and_partition_keys, .timeout = 60)
{
    char *db = db_in(ts_tmpdir(), "r.db");
    expect_bad((const char *[]){"run", "configs/examples/mlp_ma.json", "--set",
                                "model.hidden=[0]", "--out", db, NULL},
               db, "mlp_ma.json: $.model.hidden[0]: expected an integer");
    expect_bad((const char *[]){"run", "configs/examples/mlp_ma.json", "--set",
                                "data.partition={\"kind\": \"dirichlet\", "
                                "\"alpha\": -1}",
                                "--out", db, NULL},
               db,
               "mlp_ma.json: $.data.partition.alpha: expected a number > 0");
    expect_bad((const char *[]){"run", "configs/examples/mlp_ma.json", "--set",
                                "data.format=\"idx\"", "--out", db, NULL},
               db,
               "mlp_ma.json: $.data.path: unknown key for data format 'idx'");
    /* More classes per worker than the data has: the partition cannot be
     * made, and that is the data's fault, not a crash. */
    expect_bad((const char *[]){"run", "configs/examples/mlp_ma.json", "--set",
                                "data.partition={\"kind\": \"shards\", "
                                "\"shards\": 11}",
                                "--out", db, NULL},
               db, "mlp_ma.json: $.data.partition: label shards");
    free(db);
}
