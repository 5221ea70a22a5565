/* Whole runs through the binary: determinism, the post's equivalences and
 * accuracies, and what a run leaves in the database. */
#include <criterion/criterion.h>
#include <math.h>
#include <sqlite3.h>
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

/* Every column that depends only on config and seed (wall-clock columns
 * and the start time are left out). */
static const char runs_sql[] =
    "SELECT name, algorithm, config_json, seed, status, error, sim_seconds, "
    "total_bytes, total_messages, steps, final_accuracy, final_loss FROM runs "
    "ORDER BY run_id";
static const char metrics_sql[] =
    "SELECT run_id, step, sim_time, bytes, messages, test_accuracy, "
    "test_loss, train_loss FROM metrics ORDER BY run_id, step";
static const char workers_sql[] =
    "SELECT * FROM workers ORDER BY run_id, worker";
static const char events_sql[] = "SELECT * FROM events ORDER BY rowid";

Test(run, same_config_and_seed_give_identical_rows, .timeout = 120)
{
    const char *dir = ts_tmpdir();
    char *a = db_in(dir, "a.db"), *b = db_in(dir, "b.db");
    run_ok((const char *[]){"run", "configs/tiny.json",
                            "configs/seed/bmuf.json", "--out", a, "--quiet",
                            NULL});
    run_ok((const char *[]){"run", "configs/tiny.json",
                            "configs/seed/bmuf.json", "--out", b, "--quiet",
                            NULL});
    const char *queries[] = {runs_sql, metrics_sql, workers_sql, events_sql};
    for (size_t q = 0; q < 4; q++) {
        char *x = ts_sql_dump(a, queries[q]), *y = ts_sql_dump(b, queries[q]);
        cr_assert(x && y);
        cr_assert(strlen(x) > 0, "query %zu returned no rows", q);
        /* Row by row, so that a failure names the first differing row. */
        char *sx, *sy;
        char *lx = strtok_r(x, "\n", &sx), *ly = strtok_r(y, "\n", &sy);
        size_t row = 0;
        while (lx || ly) {
            cr_assert(lx && ly, "query %zu: row counts differ at %zu", q, row);
            cr_assert_str_eq(lx, ly, "query %zu row %zu differs", q, row);
            lx = strtok_r(NULL, "\n", &sx);
            ly = strtok_r(NULL, "\n", &sy);
            row++;
        }
        free(x);
        free(y);
    }
    cr_assert_gt(ts_sql_count(a, "SELECT COUNT(*) FROM events"), 100,
                 "tiny.json records its timeline");
    free(a);
    free(b);
}

Test(run, a_different_seed_gives_a_different_run)
{
    const char *dir = ts_tmpdir();
    char *a = db_in(dir, "a.db");
    run_ok((const char *[]){"run", "configs/tiny.json", "--out", a, "--quiet",
                            NULL});
    run_ok((const char *[]){"run", "configs/tiny.json", "--seed", "8", "--out",
                            a, "--quiet", NULL});
    cr_assert_eq(ts_sql_count(a, "SELECT COUNT(DISTINCT sim_seconds) FROM "
                                 "runs"),
                 2, "the straggler delays differ between seeds");
    free(a);
}

Test(run, the_stored_config_repeats_the_run)
{
    /* config_json has every default filled and paths resolved: running it
     * again must give the same rows. */
    const char *dir = ts_tmpdir();
    char *a = db_in(dir, "a.db");
    run_ok((const char *[]){"run", "configs/seed/easgd.json", "--set",
                            "algorithm.rounds=50", "--out", a, "--quiet",
                            NULL});
    char *json = ts_sql_dump(a, "SELECT config_json FROM runs");
    cr_assert(json);
    /* From another directory: the stored paths are absolute. */
    char *cfg = ts_write_file(dir, "repeat.json", json);
    cr_assert(cfg);
    run_ok((const char *[]){"run", cfg, "--out", a, "--quiet", NULL});
    char *first = ts_sql_dump(a, "SELECT step, sim_time, bytes, "
                                 "test_accuracy, test_loss FROM metrics "
                                 "WHERE run_id = 1 ORDER BY step");
    char *second = ts_sql_dump(a, "SELECT step, sim_time, bytes, "
                                  "test_accuracy, test_loss FROM metrics "
                                  "WHERE run_id = 2 ORDER BY step");
    cr_assert_str_eq(first, second);
    free(json);
    free(cfg);
    free(first);
    free(second);
    free(a);
}

typedef struct row {
    long long step, bytes, messages;
    double sim_time, acc, loss;
} row;

static size_t read_metrics(const char *db_path, long long run_id, row *rows,
                           size_t cap)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT step, bytes, messages, sim_time, "
                                    "test_accuracy, test_loss FROM metrics "
                                    "WHERE run_id = ? ORDER BY step",
                                    -1, &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_int64(st, 1, run_id);
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW && n < cap) {
        rows[n] =
            (row){sqlite3_column_int64(st, 0),  sqlite3_column_int64(st, 1),
                  sqlite3_column_int64(st, 2),  sqlite3_column_double(st, 3),
                  sqlite3_column_double(st, 4), sqlite3_column_double(st, 5)};
        n++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

Test(run, ma_with_one_local_step_follows_the_ssgd_trajectory, .timeout = 120)
{
    /* With M = 1, mean_k(w - lr g_k) = w - lr mean_k(g_k): the same model,
     * computed in a different order, so it may differ in the last bits. Both
     * draw the same batches from the same streams, send as many bytes and
     * take the same time. Over 300 rounds the rounding differences stay
     * below 1e-9 relative on the loss, and no test prediction flips. */
    const char *dir = ts_tmpdir();
    char *a = db_in(dir, "a.db");
    run_ok((const char *[]){"run", "configs/seed/ssgd.json", "--set",
                            "algorithm.rounds=300", "--out", a, "--quiet",
                            NULL});
    run_ok((const char *[]){
        "run", "configs/seed/ma.json", "--set", "algorithm.local_steps=1",
        "--set", "algorithm.batch_reuse=false", "--out", a, "--quiet", NULL});
    static row s[400], m[400];
    size_t ns = read_metrics(a, 1, s, 400), nm = read_metrics(a, 2, m, 400);
    cr_assert_eq(ns, 301);
    cr_assert_eq(nm, ns);
    for (size_t i = 0; i < ns; i++) {
        cr_assert_eq(s[i].step, m[i].step);
        cr_assert_eq(s[i].bytes, m[i].bytes, "step %lld", s[i].step);
        cr_assert_eq(s[i].messages, m[i].messages);
        cr_assert_eq(s[i].sim_time, m[i].sim_time, "step %lld", s[i].step);
        cr_assert_eq(s[i].acc, m[i].acc, "step %lld", s[i].step);
        cr_assert_leq(
            fabs(s[i].loss - m[i].loss), 1e-9 * fmax(1.0, fabs(s[i].loss)),
            "step %lld: %.17g %.17g", s[i].step, s[i].loss, m[i].loss);
    }
    free(a);
}

/* The post's single reported figure for each seed config. */
static const struct {
    const char *config, *algorithm;
    double post;
} seed_runs[] = {
    {"configs/seed/ssgd.json", "ssgd", 0.929825},
    {"configs/seed/ma.json", "ma", 0.853801},
    {"configs/seed/bmuf.json", "bmuf", 0.929825},
    {"configs/seed/easgd.json", "easgd", 0.929825},
};

Test(run, seed_configs_reach_the_posts_accuracy_over_many_seeds, .timeout = 300)
{
    /* With raw features and lr = 0.1 one run's final accuracy swings by
     * several points between seeds, so we judge the distribution over 20
     * seeds:
     * - the mean must be well above the majority-class baseline (108 of 171
     *   test rows are benign: 0.632) and at least 0.85, the lowest accuracy
     *   the post reports;
     * - the post's one reported run must be a plausible draw from dtsim's
     *   distribution: within 3 standard deviations of the mean (the sd
     *   floored at one test row, 1/171, since accuracy moves in such
     *   steps). A systematic error in the algorithm (a wrong sign, a missing
     *   average) moves the mean by far more than that. */
    const char *dir = ts_tmpdir();
    char *db = db_in(dir, "seeds.db");
    for (int seed = 1; seed <= 20; seed++) {
        char s[16];
        snprintf(s, sizeof s, "%d", seed);
        run_ok((const char *[]){"run", seed_runs[0].config, seed_runs[1].config,
                                seed_runs[2].config, seed_runs[3].config,
                                "--seed", s, "--out", db, "--quiet", NULL});
    }
    for (size_t i = 0; i < 4; i++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT final_accuracy FROM runs WHERE algorithm = '%s' AND "
                 "status = 'done'",
                 seed_runs[i].algorithm);
        char *vals = ts_sql_dump(db, sql);
        double sum = 0, sumsq = 0;
        int n = 0;
        for (char *t = strtok(vals, "\n"); t; t = strtok(NULL, "\n")) {
            double v = atof(t);
            sum += v;
            sumsq += v * v;
            n++;
        }
        free(vals);
        cr_assert_eq(n, 20, "%s: %d done runs", seed_runs[i].algorithm, n);
        double mean = sum / n;
        double sd = sqrt(fmax(0.0, (sumsq - n * mean * mean) / (n - 1)));
        cr_assert_geq(mean, 0.85, "%s: mean %.4f", seed_runs[i].algorithm,
                      mean);
        cr_assert_leq(fabs(seed_runs[i].post - mean), 3 * fmax(sd, 1.0 / 171),
                      "%s: post %.4f vs mean %.4f sd %.4f",
                      seed_runs[i].algorithm, seed_runs[i].post, mean, sd);
    }
    free(db);
}

Test(run, bytes_and_time_follow_the_network_model)
{
    /* SSGD over a star without contention: each round the server sends the
     * 31-value model to each of 2 workers and each sends a gradient back.
     * With no compute cost and no contention a round is exactly two
     * message times: 2 * (2 L + S / B). */
    const char *dir = ts_tmpdir();
    char *db = db_in(dir, "net.db");
    run_ok((const char *[]){
        "run", "configs/seed/ssgd.json", "--set", "algorithm.rounds=10",
        "--set", "cluster.workers=2", "--set", "network.contention=false",
        "--set", "network.latency=0.001", "--set", "network.bandwidth=1000",
        "--set", "cluster.compute.seconds_per_sample=1e-12", "--out", db,
        "--quiet", NULL});
    char *v = ts_sql_dump(db, "SELECT total_bytes, total_messages, "
                              "sim_seconds FROM runs");
    long long bytes, msgs;
    double t;
    cr_assert_eq(sscanf(v, "%lld|%lld|%lf", &bytes, &msgs, &t), 3);
    cr_assert_eq(bytes, 10 * 4 * 31 * 8);
    cr_assert_eq(msgs, 10 * 4);
    double s = 31 * 8;
    double expect = 10 * 2 * (2 * 0.001 + s / 1000);
    /* The compute time (at most 1e-12 s per sample) is the only slack. */
    cr_assert_leq(fabs(t - expect), 1e-6, "%.12g vs %.12g", t, expect);
    free(v);
    free(db);
}

Test(run, the_links_table_accounts_for_every_byte)
{
    /* On a star every message crosses exactly one link into the switch and
     * one out of it, so each side's bytes add up to the run's total; a link
     * is busy for part of the run, never longer than it. */
    const char *dir = ts_tmpdir();
    char *db = db_in(dir, "links.db");
    run_ok((const char *[]){"run", "configs/seed/ssgd.json", "--set",
                            "algorithm.rounds=50", "--out", db, "--quiet",
                            NULL});
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM links"), 10,
                 "two directed links for each of 4 workers and the server");
    long total = ts_sql_count(db, "SELECT total_bytes FROM runs");
    cr_assert_gt(total, 0);
    cr_assert_eq(ts_sql_count(db, "SELECT SUM(bytes) FROM links WHERE name "
                                  "LIKE '%>switch'"),
                 total);
    cr_assert_eq(ts_sql_count(db, "SELECT SUM(bytes) FROM links WHERE name "
                                  "LIKE 'switch>%'"),
                 total);
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM links, runs WHERE "
                                  "busy_seconds > 0 AND busy_seconds <= "
                                  "sim_seconds"),
                 10);
    free(db);
}
