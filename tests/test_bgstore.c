/* The database thread of `dtsim run` (run/bgstore.h) and the store call it
 * relies on (db_run_add_metrics): rows written while a run goes on must be
 * the rows db_run_finish alone writes, and a failure must leave nothing
 * open and the run cancelled. */
#include <criterion/criterion.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "sim/io/store.h"
#include "sim/run/bgstore.h"
#include "support.h"

static db_metric metric(size_t i)
{
    return (db_metric){.step = (int64_t)i,
                       .sim_time = 1e-3 * (double)i + 1.0 / 3.0,
                       .bytes = 1000u * i,
                       .messages = 8u * i,
                       .test_accuracy = (double)(i % 171) / 171.0,
                       .test_loss = 1.0 / (double)(i + 1),
                       .train_loss = i % 2 ? NAN : 0.5};
}

static db_metric *metrics(size_t n)
{
    db_metric *m = malloc(n * sizeof *m);
    cr_assert_not_null(m);
    for (size_t i = 0; i < n; i++)
        m[i] = metric(i);
    return m;
}

static const db_run_info info = {.name = "bg",
                                 .algorithm = "ssgd",
                                 .config_json = "{}",
                                 .seed = 7,
                                 .dtsim_version = "test"};

static const db_run_result done = {
    .status = DB_STATUS_DONE, .final_accuracy = 0.5, .final_loss = 0.25};

/* Writes n rows the plain way: begin, finish with all rows. */
static void write_plain(const char *path, const db_metric *m, size_t n)
{
    db_store *db;
    sim_err err = {0};
    int64_t id;
    cr_assert_eq(db_open(path, &db, &err), 0, "%s", err.msg);
    cr_assert_eq(db_run_begin(db, &info, &id, &err), 0, "%s", err.msg);
    cr_assert_eq(db_run_finish(db, id, &done, m, n, NULL, 0, NULL, 0, &err), 0,
                 "%s", err.msg);
    db_close(db);
}

/* Begins a run through the thread and hands it n rows, as dtsim run does;
 * returns the database, in its batch, once the thread is joined. */
static db_store *hand_over(const char *path, const db_metric *m, size_t n,
                           int64_t *id, size_t *written)
{
    bg_store *bg = bg_store_start(path, 0);
    cr_assert_not_null(bg);
    bg_store_begin(bg, &info);
    for (size_t i = 0; i < n; i++)
        bg_store_metric(bg, &m[i]);
    db_store *db;
    sim_err err = {0};
    cr_assert_eq(bg_store_join(bg, &db, id, written, &err), 0, "%s", err.msg);
    cr_assert_leq(*written, n);
    return db;
}

/* Writes n rows through the thread as dtsim run does: every row handed
 * over, the rest finished after the join, the batch committed. */
static size_t write_threaded(const char *path, const db_metric *m, size_t n)
{
    int64_t id;
    size_t written;
    db_store *db = hand_over(path, m, n, &id, &written);
    sim_err err = {0};
    cr_assert_eq(db_run_finish(db, id, &done, m + written, n - written, NULL, 0,
                               NULL, 0, &err),
                 0, "%s", err.msg);
    cr_assert_eq(db_batch_commit(db, &err), 0, "%s", err.msg);
    db_close(db);
    return written;
}

static const char metrics_sql[] =
    "SELECT rowid, run_id, step, sim_time, bytes, messages, test_accuracy,"
    " test_loss, train_loss FROM metrics ORDER BY rowid";
static const char runs_sql[] =
    "SELECT run_id, name, algorithm, seed, status, final_accuracy FROM runs";

/* 0 rows, fewer than one hand-over, exactly one, and a ragged tail. */
static const size_t sizes[] = {0, 1, 63, 64, 65, 1501, 4096};

Test(bgstore, writes_the_rows_db_run_finish_writes)
{
    const char *dir = ts_tmpdir();
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        db_metric *m = metrics(n);
        char plain[512], threaded[512];
        snprintf(plain, sizeof plain, "%s/plain%zu.db", dir, n);
        snprintf(threaded, sizeof threaded, "%s/threaded%zu.db", dir, n);
        write_plain(plain, m, n);
        size_t written = write_threaded(threaded, m, n);
        /* Every full hand-over is written by the thread. */
        cr_assert_eq(written, n / 64 * 64, "n %zu: %zu written", n, written);
        char *a = ts_sql_dump(plain, metrics_sql);
        char *b = ts_sql_dump(threaded, metrics_sql);
        cr_assert(a && b);
        cr_assert_str_eq(a, b, "n %zu: metrics differ", n);
        free(a);
        free(b);
        a = ts_sql_dump(plain, runs_sql);
        b = ts_sql_dump(threaded, runs_sql);
        cr_assert(a && b);
        cr_assert_str_eq(a, b, "n %zu: runs differ", n);
        free(a);
        free(b);
        cr_assert_eq(ts_sql_count(threaded, "SELECT COUNT(*) FROM metrics"),
                     (long)n);
        free(m);
    }
}

Test(bgstore, a_run_never_joined_in_time_is_left_running_without_rows)
{
    /* The thread has written some rows in its batch; the process stops
     * before the batch commits (here: the batch is rolled back, as closing
     * the connection does). The run is 'running' and has no rows. */
    const char *dir = ts_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/open.db", dir);
    size_t n = 640;
    db_metric *m = metrics(n);
    int64_t id;
    size_t written;
    db_store *db = hand_over(path, m, n, &id, &written);
    cr_assert_eq(written, n);
    db_close(db); /* no commit */
    cr_assert_eq(ts_sql_count(path, "SELECT COUNT(*) FROM metrics"), 0);
    cr_assert_eq(ts_sql_count(path, "SELECT COUNT(*) FROM runs WHERE "
                                    "status = 'running'"),
                 1);
    free(m);
}

Test(bgstore, a_database_that_cannot_be_opened_fails_the_run)
{
    /* A directory is no database: the thread fails, says so through the
     * flag the run polls, and the join reports the error. */
    const char *dir = ts_tmpdir();
    bg_store *bg = bg_store_start(dir, 0);
    cr_assert_not_null(bg);
    bg_store_begin(bg, &info);
    const atomic_int *failed = bg_store_failed(bg);
    const struct timespec ms = {.tv_nsec = 1000000};
    for (int i = 0; i < 5000 && !atomic_load(failed); i++)
        nanosleep(&ms, NULL);
    cr_assert_eq(atomic_load(failed), 1, "no failure after 5 s");
    db_metric m = metric(0);
    for (int i = 0; i < 200; i++)
        bg_store_metric(bg, &m); /* ignored from now on */
    db_store *db = (db_store *)1;
    int64_t id = -1;
    size_t written = 99;
    sim_err err = {0};
    int rc = bg_store_join(bg, &db, &id, &written, &err);
    cr_assert_neq(rc, 0);
    cr_assert_null(db);
    cr_assert_eq(err.code, rc);
    cr_assert(strstr(err.msg, dir), "message names the file: %s", err.msg);
}

Test(bgstore, bad_input_leaves_no_new_file_and_an_old_one_untouched)
{
    const char *dir = ts_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/new.db", dir);
    /* A new file is created with its schema while the input is read... */
    bg_store *bg = bg_store_start(path, DB_OPEN_NEW_UNSYNCED);
    cr_assert_not_null(bg);
    const struct timespec ms = {.tv_nsec = 1000000};
    struct stat st;
    int i = 0;
    while (i++ < 5000 &&
           ts_sql_count(path, "SELECT COUNT(*) FROM sqlite_schema WHERE "
                              "name = 'metrics'") != 1)
        nanosleep(&ms, NULL);
    cr_assert_lt(i, 5000, "no schema after 5 s");
    /* ...and removed, journal files too, when the input is bad. */
    bg_store_abandon(bg);
    const char *left[] = {"", "-wal", "-shm"};
    for (size_t k = 0; k < 3; k++) {
        char p[600];
        snprintf(p, sizeof p, "%s%s", path, left[k]);
        cr_assert_neq(stat(p, &st), 0, "%s is left", p);
    }

    /* An existing database is not touched before the input is known
     * good. */
    db_metric *m = metrics(100);
    write_plain(path, m, 100);
    char *before = ts_sql_dump(path, metrics_sql);
    cr_assert_not_null(before);
    cr_assert_eq(stat(path, &st), 0);
    struct timespec mtime = st.st_mtim;
    bg = bg_store_start(path, DB_OPEN_NEW_UNSYNCED);
    cr_assert_not_null(bg);
    nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
    bg_store_abandon(bg);
    cr_assert_eq(stat(path, &st), 0, "the old file was removed");
    cr_assert(st.st_mtim.tv_sec == mtime.tv_sec &&
                  st.st_mtim.tv_nsec == mtime.tv_nsec,
              "the old file was written");
    char *after = ts_sql_dump(path, metrics_sql);
    cr_assert_not_null(after);
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
    free(m);
    bg_store_abandon(NULL);
}

Test(store, rows_ahead_of_the_finish_need_a_batch)
{
    const char *dir = ts_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/x.db", dir);
    db_store *db;
    sim_err err = {0};
    int64_t id;
    cr_assert_eq(db_open(path, &db, &err), 0, "%s", err.msg);
    cr_assert_eq(db_run_begin(db, &info, &id, &err), 0, "%s", err.msg);
    db_metric m = metric(3);
    cr_assert_eq(db_run_add_metrics(db, id, &m, 1, &err), SIM_EINVAL);
    cr_assert(strstr(err.msg, "batch"), "%s", err.msg);
    cr_assert_eq(db_batch_begin(db, &err), 0, "%s", err.msg);
    cr_assert_eq(db_run_add_metrics(db, id, &m, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(db_run_finish(db, id, &done, NULL, 0, NULL, 0, NULL, 0, &err),
                 0, "%s", err.msg);
    cr_assert_eq(db_batch_commit(db, &err), 0, "%s", err.msg);
    db_close(db);
    cr_assert_eq(ts_sql_count(path, "SELECT COUNT(*) FROM metrics WHERE "
                                    "step = 3"),
                 1);
}
