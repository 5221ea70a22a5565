/* Results safety: a run killed with SIGKILL at any moment (loading, the
 * begin transaction, the simulation, the final transaction, closing) leaves
 * the database consistent (PRAGMA integrity_check), the killed run either
 * not done and without rows or, when the kill came after its final commit,
 * done with every row; the runs already in the file are untouched and the
 * file still takes new runs.
 *
 * The kill times are spread over the length of a whole run, measured first
 * on this machine and build (sanitizers make it several times slower), so
 * the kills land in every phase. The run writes one metrics row per round
 * and its event timeline, so the final transaction is long enough to be hit. */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#define KILLS 20

/* Runs with every row the config asks for: 4001 metrics rows (rounds 0 to
 * 4000), 4 workers rows and a timeline. */
#define COMPLETE_RUNS                                                          \
    "SELECT COUNT(*) FROM runs r WHERE (SELECT COUNT(*) FROM metrics m "       \
    "WHERE m.run_id = r.run_id) = 4001 AND (SELECT COUNT(*) FROM workers w "   \
    "WHERE w.run_id = r.run_id) = 4 AND EXISTS (SELECT 1 FROM events e "       \
    "WHERE e.run_id = r.run_id)"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Starts dtsim run cfg --out db; kills it after delay seconds when delay >=
 * 0. Returns the exit status, or -1 when it was killed. */
static int run_and_kill(const char *cfg, const char *db, double delay)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execl(DTSIM_BIN, DTSIM_BIN, "run", cfg, "--out", db, "--quiet",
              (char *)NULL);
        _exit(127);
    }
    if (delay >= 0) {
        struct timespec ts = {
            .tv_sec = (time_t)delay,
            .tv_nsec = (long)((delay - (double)(time_t)delay) * 1e9)};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *integrity(const char *db)
{
    /* Read-write: opening replays a write-ahead log the killed process
     * left, as any later reader would. */
    sqlite3 *h;
    cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL),
                 SQLITE_OK);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL),
                 SQLITE_OK);
    char *out = NULL;
    if (sqlite3_step(st) == SQLITE_ROW)
        out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return out;
}

static char *first_run(const char *db)
{
    char *a = ts_sql_dump(db, "SELECT * FROM runs WHERE run_id = 1");
    char *b = ts_sql_dump(db, "SELECT * FROM metrics WHERE run_id = 1 "
                              "ORDER BY step");
    char *c = ts_sql_dump(db, "SELECT * FROM workers WHERE run_id = 1 "
                              "ORDER BY worker");
    char *d = ts_sql_dump(db, "SELECT * FROM events WHERE run_id = 1 "
                              "ORDER BY rowid");
    cr_assert(a && b && c && d);
    size_t n = strlen(a) + strlen(b) + strlen(c) + strlen(d) + 1;
    char *all = malloc(n);
    snprintf(all, n, "%s%s%s%s", a, b, c, d);
    free(a);
    free(b);
    free(c);
    free(d);
    return all;
}

Test(kill, sigkill_at_random_moments_leaves_a_consistent_database,
     .timeout = 600)
{
    const char *dir = ts_tmpdir();
    char text[1024];
    snprintf(text, sizeof text,
             "{\"name\": \"long\", \"algorithm\": {\"name\": \"ssgd\", "
             "\"rounds\": 4000}, \"data\": {\"path\": \"%s/data/"
             "breast_cancer.csv\"}, \"evaluation\": {\"every\": 1, "
             "\"train_loss\": false}, \"output\": {\"events\": true}}",
             DTSIM_SOURCE_DIR);
    char *cfg = ts_write_file(dir, "long.json", text);
    char db[256];
    snprintf(db, sizeof db, "%s/runs.db", dir);

    /* Run 1 completes: the run that must survive everything below. It and
     * a second complete run measure how long a whole run takes here; the
     * shorter, since a run slowed by other work on the machine would put
     * most kills after the end. */
    double t0 = now();
    cr_assert_eq(run_and_kill(cfg, db, -1), 0);
    double t1 = now();
    cr_assert_eq(run_and_kill(cfg, db, -1), 0);
    double whole = fmin(t1 - t0, now() - t1);
    char *kept = first_run(db);
    cr_assert_eq(ts_sql_count(db, COMPLETE_RUNS), 2);

    unsigned seed = 8;
    int killed = 0, finished = 0;
    for (int i = 0; i < KILLS; i++) {
        double delay = whole * 1.1 * rand_r(&seed) / RAND_MAX;
        int rc = run_and_kill(cfg, db, delay);
        cr_assert(rc == -1 || rc == 0, "kill %d after %.3f s: exit %d", i,
                  delay, rc);
        if (rc == 0)
            finished++;
        else
            killed++;
        char *ok = integrity(db);
        cr_assert(ok && strcmp(ok, "ok") == 0,
                  "kill %d after %.3f s: integrity_check: %s", i, delay, ok);
        free(ok);
        /* A kill after the final commit (while closing) leaves a run that
         * is done, and complete: what must never be is a done run with
         * missing rows. */
        long done = ts_sql_count(db, "SELECT COUNT(*) FROM runs WHERE "
                                     "status = 'done'");
        cr_assert_geq(done, 2 + finished);
        cr_assert_eq(ts_sql_count(db, COMPLETE_RUNS), done,
                     "kill %d after %.3f s: a run is done with rows missing", i,
                     delay);
        cr_assert_eq(ts_sql_count(db, "SELECT (SELECT COUNT(*) FROM metrics "
                                      "WHERE run_id IN (SELECT run_id FROM "
                                      "runs WHERE status != 'done')) + "
                                      "(SELECT COUNT(*) FROM workers WHERE "
                                      "run_id IN (SELECT run_id FROM runs "
                                      "WHERE status != 'done')) + (SELECT "
                                      "COUNT(*) FROM events WHERE run_id IN "
                                      "(SELECT run_id FROM runs WHERE status "
                                      "!= 'done'))"),
                     0, "kill %d after %.3f s: rows of an unfinished run", i,
                     delay);
        cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM runs WHERE "
                                      "status NOT IN ('done', 'running')"),
                     0);
        char *now_first = first_run(db);
        cr_assert_str_eq(now_first, kept, "kill %d: run 1 changed", i);
        free(now_first);
    }
    /* Most kills must have hit a live process, or this tested nothing. */
    cr_assert_geq(killed, KILLS / 2, "only %d of %d kills hit a running run",
                  killed, KILLS);

    /* The file still takes runs, and each finished run has all its rows. */
    long done = ts_sql_count(db, "SELECT COUNT(*) FROM runs WHERE status = "
                                 "'done'");
    cr_assert_eq(run_and_kill(cfg, db, -1), 0);
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM runs WHERE status = "
                                  "'done'"),
                 done + 1);
    cr_assert_eq(ts_sql_count(db, COMPLETE_RUNS), done + 1);
    char *ok = integrity(db);
    cr_assert_str_eq(ok, "ok");
    free(ok);
    free(kept);
    free(cfg);
}
