/* Sweeps through the binary: expansion, validation before anything runs,
 * results independent of --jobs, resume after SIGKILL, divergence and
 * failure, shards and merge. Rows are compared keyed by the sweep index
 * (sweep_runs.idx), with every column that depends only on config and seed. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

static char *path_in(const char *dir, const char *name)
{
    char *p = malloc(512);
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

/* A spec over the post's MA config, shortened; extra is spliced into the
 * top-level object. */
static char *write_spec(const char *dir, const char *name, int rounds,
                        const char *extra)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"name\": \"t\", \"base\": \"%s/configs/seed/ma.json\",\n"
             " \"set\": {\"algorithm.rounds\": %d},\n%s}\n",
             DTSIM_SOURCE_DIR, rounds, extra);
    return ts_write_file(dir, name, text);
}

/* 2 x 2 grid, a zip of 2, 2 seeds: 16 runs. */
static const char grid16[] =
    " \"grid\": [{\"name\": \"K\", \"path\": \"cluster.workers\", "
    "\"values\": [2, 4]},\n"
    "          {\"name\": \"M\", \"path\": \"algorithm.local_steps\", "
    "\"values\": [1, 3]}],\n"
    " \"zip\": [{\"name\": \"bw\", \"path\": \"network.bandwidth\", "
    "\"values\": [\"100Mbps\", \"1Gbps\"]},\n"
    "         {\"name\": \"lat\", \"path\": \"network.latency\", \"values\": "
    "[\"5ms\", \"50us\"]}],\n"
    " \"seeds\": 2\n";

static ts_result *run(const char *const *args)
{
    static ts_result r;
    ts_run_dtsim(&r, args);
    return &r;
}

static void run_ok(const char *const *args)
{
    ts_result *r = run(args);
    cr_assert_eq(r->exit_code, 0, "dtsim failed (%d): %s", r->exit_code,
                 r->err);
}

/* Everything but run_id and wall-clock columns, keyed by sweep index. */
static const char *const row_queries[] = {
    "SELECT sr.idx, sr.label, r.name, r.algorithm, r.config_json, r.seed, "
    "r.status, r.error, r.sim_seconds, r.total_bytes, r.total_messages, "
    "r.steps, r.final_accuracy, r.final_loss FROM sweep_runs sr JOIN runs r "
    "USING (run_id) ORDER BY sr.idx",
    "SELECT sr.idx, m.step, m.sim_time, m.bytes, m.messages, "
    "m.test_accuracy, m.test_loss, m.train_loss FROM sweep_runs sr JOIN "
    "metrics m USING (run_id) ORDER BY sr.idx, m.step",
    "SELECT sr.idx, w.worker, w.compute_seconds, w.comm_seconds, "
    "w.idle_seconds, w.updates, w.bytes_sent, w.bytes_received, "
    "w.mean_staleness, w.max_staleness FROM sweep_runs sr JOIN workers w "
    "USING (run_id) ORDER BY sr.idx, w.worker",
};

static void same_rows(const char *a, const char *b, const char *sql)
{
    char *x = ts_sql_dump(a, sql), *y = ts_sql_dump(b, sql);
    cr_assert(x && y, "query failed: %s", sql);
    cr_assert(strlen(x) > 0, "no rows: %s", sql);
    char *sx, *sy;
    char *lx = strtok_r(x, "\n", &sx), *ly = strtok_r(y, "\n", &sy);
    size_t row = 0;
    while (lx || ly) {
        cr_assert(lx && ly, "row counts differ at row %zu of %s", row, sql);
        cr_assert_str_eq(lx, ly, "row %zu differs", row);
        lx = strtok_r(NULL, "\n", &sx);
        ly = strtok_r(NULL, "\n", &sy);
        row++;
    }
    free(x);
    free(y);
}

static void same_sweep_rows(const char *a, const char *b)
{
    for (size_t q = 0; q < sizeof row_queries / sizeof row_queries[0]; q++)
        same_rows(a, b, row_queries[q]);
}

static void assert_clean(const char *db, long n)
{
    char *ok = ts_sql_dump(db, "PRAGMA integrity_check");
    cr_assert(ok);
    cr_assert_str_eq(ok, "ok\n");
    free(ok);
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM runs"), n);
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM sweep_runs"), n);
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(DISTINCT idx) FROM "
                                  "sweep_runs"),
                 n);
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM runs WHERE status "
                                  "NOT IN ('done', 'diverged')"),
                 0);
}

/* Lines of a dry run that list runs. */
static size_t count_runs(const char *out)
{
    size_t n = 0;
    for (const char *l = out; *l; l = strchr(l, '\n') + 1) {
        n += *l != '#' && *l != '\n';
        if (!strchr(l, '\n'))
            break;
    }
    return n;
}

Test(sweep, grid_zip_and_seeds_expand_in_order_with_labels)
{
    const char *dir = ts_tmpdir();
    char *spec = write_spec(dir, "s.json", 10, grid16);
    ts_result *r = run((const char *[]){"sweep", spec, "--dry-run", NULL});
    cr_assert_eq(r->exit_code, 0, "%s", r->err);
    cr_assert_eq(count_runs(r->out), 16, "%s", r->out);
    /* Grid axes vary slowest, the zip next, seeds fastest. */
    cr_assert(strstr(r->out, "\n0\tK=2,M=1,bw=100Mbps,lat=5ms,seed=1\t"), "%s",
              r->out);
    cr_assert(strstr(r->out, "\n1\tK=2,M=1,bw=100Mbps,lat=5ms,seed=2\t"));
    cr_assert(strstr(r->out, "\n2\tK=2,M=1,bw=1Gbps,lat=50us,seed=1\t"));
    cr_assert(strstr(r->out, "\n4\tK=2,M=3,bw=100Mbps,lat=5ms,seed=1\t"));
    cr_assert(strstr(r->out, "\n15\tK=4,M=3,bw=1Gbps,lat=50us,seed=2\t"));
    /* The overrides as the runner will apply them; "set" stays out of the
     * label but not out of the run. */
    cr_assert(strstr(r->out, "algorithm.rounds=10 cluster.workers=4 "
                             "algorithm.local_steps=3 "
                             "network.bandwidth=\"1Gbps\" "
                             "network.latency=\"50us\" seed=2"),
              "%s", r->out);
    free(spec);
}

Test(sweep, blocks_vary_what_only_some_algorithms_have)
{
    const char *dir = ts_tmpdir();
    char *spec = write_spec(
        dir, "b.json", 10,
        " \"grid\": [{\"name\": \"K\", \"path\": \"cluster.workers\", "
        "\"values\": [2, 4]}],\n"
        " \"blocks\": [\n"
        "  {\"grid\": [{\"name\": \"alg\", \"path\": \"algorithm\", "
        "\"values\": [{\"name\": \"ma\", \"rounds\": 10}, {\"name\": "
        "\"bmuf\", \"rounds\": 10}]},\n"
        "             {\"name\": \"M\", \"path\": \"algorithm.local_steps\", "
        "\"values\": [1, 5]}]},\n"
        "  {\"grid\": [{\"name\": \"alg\", \"path\": \"algorithm\", "
        "\"values\": [{\"name\": \"easgd\", \"rounds\": 10}]}]}]\n");
    /* "set" of algorithm.rounds overlaps the "algorithm" axis. */
    ts_result *r = run((const char *[]){"sweep", spec, "--dry-run", NULL});
    cr_assert_eq(r->exit_code, 2);
    cr_assert(strstr(r->err, "sets algorithm, which axis"), "%s", r->err);

    char text[2048];
    snprintf(text, sizeof text,
             "{\"base\": \"%s/configs/seed/ma.json\",\n"
             " \"grid\": [{\"name\": \"K\", \"path\": \"cluster.workers\", "
             "\"values\": [2, 4]}],\n"
             " \"blocks\": [\n"
             "  {\"grid\": [{\"name\": \"alg\", \"path\": \"algorithm\", "
             "\"values\": [{\"name\": \"ma\", \"rounds\": 10}, {\"name\": "
             "\"bmuf\", \"rounds\": 10}]},\n"
             "             {\"name\": \"M\", \"path\": "
             "\"algorithm.local_steps\", \"values\": [1, 5]}]},\n"
             "  {\"grid\": [{\"name\": \"alg\", \"path\": \"algorithm\", "
             "\"values\": [{\"name\": \"easgd\", \"rounds\": 10}]}]}]}\n",
             DTSIM_SOURCE_DIR);
    char *spec2 = ts_write_file(dir, "b2.json", text);
    r = run((const char *[]){"sweep", spec2, "--dry-run", NULL});
    cr_assert_eq(r->exit_code, 0, "%s", r->err);
    cr_assert_eq(count_runs(r->out), 2 * 2 * 2 + 2, "%s", r->out);
    cr_assert(strstr(r->out, "\n0\tK=2,alg=ma,M=1\t"), "%s", r->out);
    cr_assert(strstr(r->out, "\n7\tK=4,alg=bmuf,M=5\t"), "%s", r->out);
    cr_assert(strstr(r->out, "\n8\tK=2,alg=easgd\t"), "%s", r->out);
    cr_assert(strstr(r->out, "\n9\tK=4,alg=easgd\t"), "%s", r->out);
    free(spec);
    free(spec2);
}

Test(sweep, zipped_axes_of_different_lengths_are_refused)
{
    const char *dir = ts_tmpdir();
    char *spec = write_spec(
        dir, "z.json", 10,
        " \"zip\": [{\"name\": \"bw\", \"path\": \"network.bandwidth\", "
        "\"values\": [\"1Gbps\", \"10Gbps\"]},\n"
        "         {\"name\": \"lat\", \"path\": \"network.latency\", "
        "\"values\": [\"5ms\"]}]\n");
    ts_result *r = run((const char *[]){"sweep", spec, "--dry-run", NULL});
    cr_assert_eq(r->exit_code, 2);
    cr_assert(strstr(r->err, spec), "%s", r->err);
    cr_assert(strstr(r->err, "$.zip[1]: zip axis \"lat\" has 1 values"), "%s",
              r->err);
    free(spec);
}

/* Specs that would expand past SW_MAX_RUNS are refused at once, before
 * anything is expanded, naming the spec and the JSON path that does it. */
Test(sweep, a_spec_over_the_run_limit_is_refused_quickly_and_located)
{
    const char *dir = ts_tmpdir();
    char *db = path_in(dir, "big.db");
    char values[4096] = "";
    size_t n = 0;
    for (int v = 1; v <= 400; v++)
        n += (size_t)snprintf(values + n, sizeof values - n, "%s%d",
                              v > 1 ? ", " : "", v);
    char grid[9000];
    /* 400 x 400 = 160,000 runs: the second axis crosses 100,000. */
    snprintf(grid, sizeof grid,
             " \"grid\": [{\"name\": \"a\", \"path\": \"algorithm.lr\", "
             "\"values\": [%s]},\n"
             "          {\"name\": \"b\", \"path\": "
             "\"algorithm.local_steps\", \"values\": [%s]}]\n",
             values, values);
    struct {
        const char *name, *extra, *expect;
    } cases[] = {
        {"seeds.json", " \"seeds\": 999999\n",
         "$.seeds: 999999 seeds, more than the 100000 runs"},
        {"count.json", " \"seeds\": {\"first\": 5, \"count\": 100001}\n",
         "$.seeds.count: 100001 seeds, more than the 100000 runs"},
        {"grid.json", grid,
         "$.grid[1]: axis \"b\" (400 values) takes the sweep to 160000 runs, "
         "more than the 100000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *spec = write_spec(dir, cases[i].name, 10, cases[i].extra);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ts_result *r = run((const char *[]){"sweep", spec, "--out", db, NULL});
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) +
                      1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        cr_assert_eq(r->exit_code, 2, "%s: %s", cases[i].name, r->err);
        char expect[600];
        snprintf(expect, sizeof expect, "%s: %s", spec, cases[i].expect);
        cr_assert(strstr(r->err, expect), "expected \"%s\" in: %s", expect,
                  r->err);
        cr_assert_eq(strchr(r->err, '\n'), r->err + strlen(r->err) - 1,
                     "one line: %s", r->err);
        /* Refused before expanding: far below the 10 s that expanding a
         * million seeds took in the sanitizer build. */
        cr_assert_lt(secs, 2.0, "%s took %.2f s", cases[i].name, secs);
        cr_assert_eq(access(db, F_OK), -1, "the database was created");
        free(spec);
    }
    free(db);
}

Test(sweep, one_bad_axis_value_fails_the_sweep_before_any_row_is_written)
{
    const char *dir = ts_tmpdir();
    char *spec = write_spec(
        dir, "bad.json", 10,
        " \"grid\": [{\"name\": \"K\", \"path\": \"cluster.workers\", "
        "\"values\": [2, 4]},\n"
        "          {\"name\": \"lr\", \"path\": \"algorithm.lr\", "
        "\"values\": [0.1, 0.05, -1]}],\n"
        " \"seeds\": 2\n");
    char *db = path_in(dir, "bad.db");
    ts_result *r = run((const char *[]){"sweep", spec, "--out", db, NULL});
    cr_assert_eq(r->exit_code, 2, "%s", r->err);
    /* The first run with the bad value is run 4 (K=2, lr=-1, seed 1). */
    cr_assert(strstr(r->err, spec), "%s", r->err);
    cr_assert(strstr(r->err, "run 4 (K=2,lr=-1,seed=1)"), "%s", r->err);
    cr_assert(strstr(r->err, "axis \"lr\" ($.grid[1].values[2])"), "%s",
              r->err);
    cr_assert(strstr(r->err, "$.algorithm.lr: expected a number > 0"), "%s",
              r->err);
    cr_assert_eq(access(db, F_OK), -1, "the database was created");
    /* A path that no config has is found the same way. */
    char *spec2 = write_spec(dir, "bad2.json", 10,
                             " \"grid\": [{\"name\": \"x\", \"path\": "
                             "\"algorithm.lrr\", \"values\": [1]}]\n");
    r = run((const char *[]){"sweep", spec2, "--out", db, NULL});
    cr_assert_eq(r->exit_code, 2);
    cr_assert(strstr(r->err, "axis \"x\" ($.grid[0].values[0]) sets "
                             "algorithm.lrr = 1"),
              "%s", r->err);
    cr_assert_eq(access(db, F_OK), -1);
    free(spec);
    free(spec2);
    free(db);
}

Test(sweep, results_do_not_depend_on_jobs, .timeout = 120)
{
    const char *dir = ts_tmpdir();
    char *spec = write_spec(dir, "s.json", 60, grid16);
    char *a = path_in(dir, "j1.db"), *b = path_in(dir, "j2.db");
    run_ok((const char *[]){"sweep", spec, "--out", a, "--jobs", "1", "--quiet",
                            NULL});
    run_ok((const char *[]){"sweep", spec, "--out", b, "--jobs", "2", "--quiet",
                            NULL});
    same_sweep_rows(a, b);
    assert_clean(a, 16);
    assert_clean(b, 16);
    /* Runs are handed out in index order, so a new database numbers them
     * in index order whatever --jobs is. */
    same_rows(a, b, "SELECT idx, run_id FROM sweep_runs ORDER BY idx");
    cr_assert_eq(ts_sql_count(b, "SELECT COUNT(*) FROM sweep_runs WHERE "
                                 "run_id <> idx + 1"),
                 0);
    /* Each run's axis values, numbers as numbers, for queries by axis. */
    same_rows(a, b, "SELECT * FROM sweep_values ORDER BY idx, axis");
    cr_assert_eq(ts_sql_count(b, "SELECT COUNT(*) FROM sweep_values"), 80);
    cr_assert_eq(ts_sql_count(b, "SELECT value FROM sweep_values WHERE idx = "
                                 "15 AND axis = 'K' AND typeof(value) = "
                                 "'integer'"),
                 4);
    char *v = ts_sql_dump(b, "SELECT value FROM sweep_values WHERE idx = 15 "
                             "AND axis = 'bw'");
    cr_assert_str_eq(v, "1Gbps\n");
    free(v);
    /* A sweep run is the run `dtsim run` makes of the same overrides. */
    char *c = path_in(dir, "one.db");
    run_ok((const char *[]){
        "run", "configs/seed/ma.json", "--set", "algorithm.rounds=60", "--set",
        "cluster.workers=4", "--set", "algorithm.local_steps=3", "--set",
        "network.bandwidth=1Gbps", "--set", "network.latency=50us", "--seed",
        "2", "--out", c, "--quiet", NULL});
    char *x = ts_sql_dump(c, "SELECT step, sim_time, bytes, test_accuracy, "
                             "test_loss FROM metrics ORDER BY step");
    char *y = ts_sql_dump(b, "SELECT step, sim_time, bytes, test_accuracy, "
                             "test_loss FROM metrics WHERE run_id = (SELECT "
                             "run_id FROM sweep_runs WHERE idx = 15) ORDER "
                             "BY step");
    cr_assert(x && y && strlen(x) > 0);
    cr_assert_str_eq(x, y);
    free(x);
    free(y);
    free(spec);
    free(a);
    free(b);
    free(c);
}

/* Every row of every table of run_id in db, wall-clock columns aside, in
 * the order the store wrote them. */
static char *run_rows(const char *db, long run_id)
{
    static const char *const q[] = {
        "SELECT name, algorithm, config_json, seed, status, error, "
        "sim_seconds, total_bytes, final_accuracy, dtsim_version, "
        "total_messages, steps, final_loss, typeof(final_accuracy), "
        "typeof(final_loss) FROM runs WHERE run_id = %ld",
        "SELECT step, sim_time, bytes, messages, test_accuracy, test_loss, "
        "train_loss, typeof(train_loss) FROM metrics WHERE run_id = %ld "
        "ORDER BY rowid",
        "SELECT worker, compute_seconds, comm_seconds, idle_seconds, "
        "updates, bytes_sent, bytes_received, mean_staleness, max_staleness, "
        "typeof(mean_staleness) FROM workers WHERE run_id = %ld ORDER BY "
        "rowid",
        "SELECT worker, staleness, updates FROM staleness WHERE run_id = %ld "
        "ORDER BY rowid",
        "SELECT worker, label, rows FROM label_histogram WHERE run_id = %ld "
        "ORDER BY rowid",
        "SELECT link, name, bytes, busy_seconds, typeof(busy_seconds) FROM "
        "links WHERE run_id = %ld ORDER BY rowid",
        "SELECT time, entity, kind, duration, bytes FROM events WHERE "
        "run_id = %ld ORDER BY rowid",
    };
    size_t len = 0;
    char *all = calloc(1, 1);
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        char sql[512];
        snprintf(sql, sizeof sql, q[i], run_id);
        char *t = ts_sql_dump(db, sql);
        cr_assert(t, "query failed: %s", sql);
        cr_assert(strlen(t) > 0, "no rows: %s", sql);
        all = realloc(all, len + strlen(t) + 8);
        len += (size_t)sprintf(all + len, "%s--\n", t);
        free(t);
    }
    return all;
}

/* The worker sends a run's rows to the writer in its own encoding (wire.c):
 * every column of every table must arrive as `dtsim run` stores it, NULLs
 * and types included. ASGD has staleness histograms; the timeline is on;
 * a Dirichlet partition skews the label histograms; an lr of 1e308
 * diverges at once (an error string). */
Test(sweep, a_sweep_run_holds_every_row_dtsim_run_writes, .timeout = 120)
{
    const char *dir = ts_tmpdir();
    char text[2048];
    snprintf(text, sizeof text,
             "{\"name\": \"w\", \"base\": "
             "\"%s/configs/teaching/stragglers_asgd.json\",\n"
             " \"set\": {\"algorithm.rounds\": 150, \"output.events\": true, "
             "\"evaluation.train_loss\": true, \"evaluation.every\": 3},\n"
             " \"zip\": [{\"name\": \"lr\", \"path\": \"algorithm.lr\", "
             "\"values\": [0.05, 1e308]},\n"
             "         {\"name\": \"p\", \"path\": \"data.partition\", "
             "\"values\": [\"contiguous\", {\"kind\": \"dirichlet\", "
             "\"alpha\": 0.5}]}],\n"
             " \"seeds\": [7]}\n",
             DTSIM_SOURCE_DIR);
    char *spec = ts_write_file(dir, "w.json", text);
    char *db = path_in(dir, "w.db");
    run_ok((const char *[]){"sweep", spec, "--out", db, "--jobs", "2",
                            "--quiet", NULL});
    const char *set[2][2] = {{"algorithm.lr=0.05", "data.partition=contiguous"},
                             {"algorithm.lr=1e308",
                              "data.partition={\"kind\": \"dirichlet\", "
                              "\"alpha\": 0.5}"}};
    for (int i = 0; i < 2; i++) {
        char name[32], *one;
        snprintf(name, sizeof name, "one%d.db", i);
        one = path_in(dir, name);
        run_ok((const char *[]){"run",
                                "configs/teaching/stragglers_asgd.json",
                                "--set",
                                "algorithm.rounds=150",
                                "--set",
                                "output.events=true",
                                "--set",
                                "evaluation.train_loss=true",
                                "--set",
                                "evaluation.every=3",
                                "--set",
                                set[i][0],
                                "--set",
                                set[i][1],
                                "--set",
                                i ? "name=\"w/lr=1e+308,p=#1,seed=7\""
                                  : "name=\"w/lr=0.05,p=contiguous,seed=7\"",
                                "--seed",
                                "7",
                                "--out",
                                one,
                                "--quiet",
                                NULL});
        char q[128];
        snprintf(q, sizeof q, "SELECT run_id FROM sweep_runs WHERE idx = %d",
                 i);
        long id = ts_sql_count(db, q);
        char *x = run_rows(one, 1), *y = run_rows(db, id);
        cr_assert_str_eq(x, y, "run %d differs", i);
        free(x);
        free(y);
        free(one);
    }
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM runs WHERE status = "
                                  "'diverged' AND error LIKE 'model not "
                                  "finite%'"),
                 1);
    free(spec);
    free(db);
}

static long finished_runs(const char *db)
{
    return ts_sql_count(db, "SELECT COUNT(*) FROM runs WHERE status IN "
                            "('done', 'diverged')");
}

Test(sweep, a_killed_sweep_resumes_to_the_rows_of_an_uninterrupted_one,
     .timeout = 180)
{
    const char *dir = ts_tmpdir();
    char *spec = write_spec(dir, "s.json", 300, grid16);
    char *whole = path_in(dir, "whole.db"), *db = path_in(dir, "killed.db");
    run_ok((const char *[]){"sweep", spec, "--out", whole, "--jobs", "2",
                            "--quiet", NULL});

    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(DTSIM_BIN, DTSIM_BIN, "sweep", spec, "--out", db, "--jobs", "2",
              (char *)NULL);
        _exit(127);
    }
    /* Kill it once a few runs are stored, while others are under way. */
    struct timespec tick = {0, 2 * 1000 * 1000};
    long done = 0;
    for (int i = 0; i < 30000 && done < 4; i++) {
        nanosleep(&tick, NULL);
        if (access(db, F_OK) == 0)
            done = finished_runs(db);
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFSIGNALED(status), "the sweep ended before it was killed");
    long before = finished_runs(db);
    cr_assert(before >= 4 && before < 16, "%ld runs finished at the kill",
              before);

    ts_result *r = run((const char *[]){"sweep", spec, "--out", db, "--jobs",
                                        "2", "--resume", NULL});
    cr_assert_eq(r->exit_code, 0, "%s", r->err);
    char want[64];
    snprintf(want, sizeof want, "%ld of 16 runs already finished", before);
    cr_assert(strstr(r->err, want), "%s", r->err);
    same_sweep_rows(whole, db);
    assert_clean(db, 16);
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM sweeps"), 1);
    /* Resuming a finished sweep runs nothing and changes nothing. */
    run_ok((const char *[]){"sweep", spec, "--out", db, "--resume", "--quiet",
                            NULL});
    same_sweep_rows(whole, db);
    assert_clean(db, 16);
    free(spec);
    free(whole);
    free(db);
}

Test(sweep, diverging_and_failing_runs_do_not_stop_the_sweep, .timeout = 120)
{
    const char *dir = ts_tmpdir();
    /* lr = 1e308 overflows the weights in the first step: the model is no
     * longer finite and the run diverges. Two million rounds cannot finish
     * within --timeout 1: that run is stopped and fails. */
    char *spec = write_spec(
        dir, "d.json", 20,
        " \"zip\": [{\"name\": \"lr\", \"path\": \"algorithm.lr\", "
        "\"values\": [0.1, 1e308, 0.1, 0.05], \"labels\": [\"ok\", \"huge\", "
        "\"ok2\", \"ok3\"]},\n"
        "         {\"name\": \"R\", \"path\": \"algorithm.rounds\", "
        "\"values\": "
        "[20, 20, 2000000, 20]}]\n");
    /* rounds is in "set" too: the zip may not override it. */
    ts_result *r = run((const char *[]){"sweep", spec, "--dry-run", NULL});
    cr_assert_eq(r->exit_code, 2);
    free(spec);
    char text[2048];
    snprintf(text, sizeof text,
             "{\"base\": \"%s/configs/seed/ma.json\",\n"
             " \"zip\": [{\"name\": \"lr\", \"path\": \"algorithm.lr\", "
             "\"values\": [0.1, 1e308, 0.1, 0.05], \"labels\": [\"ok\", "
             "\"huge\", \"long\", \"ok3\"]},\n"
             "         {\"name\": \"R\", \"path\": \"algorithm.rounds\", "
             "\"values\": [20, 20, 2000000, 20]}]}\n",
             DTSIM_SOURCE_DIR);
    spec = ts_write_file(dir, "d2.json", text);
    char *db = path_in(dir, "d.db");
    r = run((const char *[]){"sweep", spec, "--out", db, "--jobs", "2",
                             "--timeout", "1", NULL});
    cr_assert_eq(r->exit_code, 1, "a failed run must show in the exit code: %s",
                 r->err);
    char *st = ts_sql_dump(db, "SELECT sr.label, r.status, r.error, "
                               "r.steps FROM sweep_runs sr JOIN runs r USING "
                               "(run_id) ORDER BY sr.idx");
    cr_assert(st);
    char *l = strtok(st, "\n");
    cr_assert_str_eq(l, "lr=ok,R=20|done|NULL|20");
    l = strtok(NULL, "\n");
    cr_assert_str_eq(l, "lr=huge,R=20|diverged|model not finite at step 1|1");
    l = strtok(NULL, "\n");
    cr_assert(strstr(l, "lr=long,R=2000000|failed|run exceeded --timeout 1 "
                        "s|"),
              "%s", l);
    l = strtok(NULL, "\n");
    cr_assert_str_eq(l, "lr=ok3,R=20|done|NULL|20");
    free(st);
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM metrics m JOIN "
                                  "sweep_runs sr USING (run_id) WHERE "
                                  "sr.idx = 1"),
                 1, "the diverged run keeps its rows up to the divergence");
    free(spec);
    free(db);
}

/* The worker processes of pid, from /proc. */
static int first_child(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid,
             (int)pid);
    FILE *f = fopen(path, "r");
    int child = 0;
    if (f) {
        if (fscanf(f, "%d", &child) != 1)
            child = 0;
        fclose(f);
    }
    return child;
}

Test(sweep, a_worker_that_dies_fails_its_run_and_the_sweep_goes_on,
     .timeout = 120)
{
    const char *dir = ts_tmpdir();
    char text[2048];
    snprintf(text, sizeof text,
             "{\"base\": \"%s/configs/seed/ma.json\",\n"
             " \"zip\": [{\"name\": \"R\", \"path\": \"algorithm.rounds\", "
             "\"values\": [20, 2000000, 20], \"labels\": [\"a\", \"long\", "
             "\"b\"]}]}\n",
             DTSIM_SOURCE_DIR);
    char *spec = ts_write_file(dir, "k.json", text);
    char *db = path_in(dir, "k.db");
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(DTSIM_BIN, DTSIM_BIN, "sweep", spec, "--out", db, "--jobs", "1",
              (char *)NULL);
        _exit(127);
    }
    /* Once run 0 is stored, the one worker is busy with run 1. */
    struct timespec tick = {0, 5 * 1000 * 1000};
    int worker = 0;
    for (int i = 0; i < 10000 && !worker; i++) {
        nanosleep(&tick, NULL);
        if (access(db, F_OK) == 0 && finished_runs(db) == 1)
            worker = first_child(pid);
    }
    cr_assert_gt(worker, 0, "no worker process found");
    cr_assert_eq(kill(worker, SIGKILL), 0);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1,
              "a failed run must show in the exit code (%d)", status);
    char *st = ts_sql_dump(db, "SELECT sr.label, r.status, r.error FROM "
                               "sweep_runs sr JOIN runs r USING (run_id) "
                               "ORDER BY sr.idx");
    cr_assert(st);
    cr_assert_str_eq(st, "R=a|done|NULL\n"
                         "R=long|failed|worker process killed by signal 9 "
                         "(Killed)\n"
                         "R=b|done|NULL\n");
    free(st);
    free(spec);
    free(db);
}

Test(sweep, shards_merged_equal_the_whole_sweep, .timeout = 120)
{
    const char *dir = ts_tmpdir();
    char *spec = write_spec(dir, "s.json", 40, grid16);
    char *whole = path_in(dir, "whole.db"), *s0 = path_in(dir, "s0.db"),
         *s1 = path_in(dir, "s1.db"), *s2 = path_in(dir, "s2.db"),
         *out = path_in(dir, "merged.db");
    run_ok((const char *[]){"sweep", spec, "--out", whole, "--quiet", NULL});
    const char *shards[3] = {s0, s1, s2};
    for (int i = 0; i < 3; i++) {
        char sh[8];
        snprintf(sh, sizeof sh, "%d/3", i);
        run_ok((const char *[]){"sweep", spec, "--out", shards[i], "--shard",
                                sh, "--quiet", NULL});
    }
    /* A slice is every third run, starting at the shard's number. */
    cr_assert_eq(ts_sql_count(s1, "SELECT COUNT(*) FROM sweep_runs WHERE idx "
                                  "% 3 = 1"),
                 5);
    cr_assert_eq(ts_sql_count(s1, "SELECT COUNT(*) FROM runs"), 5);
    run_ok((const char *[]){"merge", out, s2, s0, s1, NULL});
    same_sweep_rows(whole, out);
    assert_clean(out, 16);
    same_rows(whole, out,
              "SELECT idx, axis, value FROM sweep_values ORDER BY "
              "idx, axis");
    /* Merging a shard again adds nothing. */
    run_ok((const char *[]){"merge", out, s1, NULL});
    assert_clean(out, 16);
    cr_assert_eq(ts_sql_count(out, "SELECT COUNT(*) FROM sweeps"), 1);

    /* The same run with other results is a conflict, not a duplicate. */
    sqlite3 *h;
    cr_assert_eq(sqlite3_open(s0, &h), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h,
                              "UPDATE metrics SET test_accuracy = 0.5 WHERE "
                              "run_id = (SELECT run_id FROM sweep_runs WHERE "
                              "idx = 3) AND step = 7",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(h);
    ts_result *r = run((const char *[]){"merge", out, s0, NULL});
    cr_assert_eq(r->exit_code, 2, "%s", r->err);
    cr_assert(strstr(r->err, "(sweep index 3, K=2,M=1,bw=1Gbps,lat=50us,"
                             "seed=2) conflicts"),
              "%s", r->err);
    assert_clean(out, 16);
    free(spec);
    free(whole);
    free(s0);
    free(s1);
    free(s2);
    free(out);
}

#ifdef DTSIM_HAVE_MPI
Test(sweep, mpi_ranks_give_the_rows_of_one_job, .timeout = 180)
{
    const char *dir = ts_tmpdir();
    char *spec = write_spec(dir, "s.json", 40, grid16);
    char *a = path_in(dir, "j1.db"), *b = path_in(dir, "mpi.db");
    run_ok((const char *[]){"sweep", spec, "--out", a, "--jobs", "1", "--quiet",
                            NULL});
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        /* Open MPI's own allocations are not ours to report. */
        setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
        execlp("mpirun", "mpirun", "--oversubscribe", "-np", "3", DTSIM_BIN,
               "sweep", spec, "--out", b, "--quiet", (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "mpirun failed: %d", status);
    same_sweep_rows(a, b);
    assert_clean(b, 16);
    free(spec);
    free(a);
    free(b);
}
#endif
