/* test_store.c: the results database, read back through SQLite itself.
 *
 * Each test gets a fresh directory (the fixture) and removes it afterwards.
 * Values are compared exactly: a REAL column holds a double losslessly. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dirent.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sim/io/store.h"
#include "tests/support.h"

static char dir[64];
static char path[128];

static void setup(void)
{
    const char *d = ts_tmpdir();
    cr_assert(d != NULL, "cannot make a temporary directory");
    snprintf(dir, sizeof dir, "%s", d);
    snprintf(path, sizeof path, "%s/results.db", dir);
}

/* Leaves nothing behind even when an assertion cut the test short. */
static void teardown(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char file[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(file, sizeof file, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(file, &sb) == 0 && S_ISDIR(sb.st_mode))
            rmdir(file);
        else
            unlink(file);
    }
    closedir(d);
    rmdir(dir);
}

TestSuite(db, .init = setup, .fini = teardown, .timeout = 30);

/* ---------------------------------------------------------------------- */
/* Helpers. */

static db_store *open_ok(const char *p)
{
    db_store *s = NULL;
    sim_err err = {0};
    int rc = db_open(p, &s, &err);
    cr_assert(eq(int, rc, 0), "db_open(%s): %s", p, err.msg);
    cr_assert(s != NULL);
    return s;
}

static db_run_info sample_info(const char *name)
{
    return (db_run_info){.name = name,
                         .algorithm = "easgd",
                         .config_json = "{\"workers\": 4, \"lr\": 0.05}",
                         .seed = 42,
                         .dtsim_version = "0.1.0+abc123"};
}

static int64_t begin_ok(db_store *s, const db_run_info *info)
{
    int64_t id = -1;
    sim_err err = {0};
    int rc = db_run_begin(s, info, &id, &err);
    cr_assert(eq(int, rc, 0), "db_run_begin: %s", err.msg);
    cr_assert(gt(i64, id, 0));
    return id;
}

enum { N_METRICS = 3, N_WORKERS = 2, N_EVENTS = 2 };

/* Row arrays whose values all depend on k, so two runs differ everywhere. */
typedef struct sample_rows {
    db_metric metrics[N_METRICS];
    db_worker workers[N_WORKERS];
    db_event events[N_EVENTS];
    db_run_result result;
} sample_rows;

static sample_rows sample(int k)
{
    sample_rows r;
    for (int i = 0; i < N_METRICS; i++)
        r.metrics[i] = (db_metric){.step = 10 * i + k,
                                   .sim_time = 0.25 * i + k,
                                   .bytes = (uint64_t)1000 * (i + 1) + k,
                                   .messages = (uint64_t)4 * (i + 1) + k,
                                   .test_accuracy = 0.5 + 0.1 * i,
                                   .test_loss = 0.7 - 0.1 * i + k,
                                   .train_loss = 0.8 - 0.1 * i + k};
    for (int w = 0; w < N_WORKERS; w++)
        r.workers[w] = (db_worker){.worker = w,
                                   .compute_seconds = 1.5 + w + k,
                                   .comm_seconds = 0.5 + w,
                                   .idle_seconds = 0.125 * w,
                                   .updates = 100 + w + k,
                                   .bytes_sent = (uint64_t)1 << (40 + w),
                                   .bytes_received = 12345 + w + k,
                                   .mean_staleness = 1.25 + w,
                                   .max_staleness = 3 + w};
    r.events[0] = (db_event){.time = 0.0,
                             .entity = "worker0",
                             .kind = "compute",
                             .duration = 0.01 + k,
                             .bytes = 0};
    r.events[1] = (db_event){.time = 0.01,
                             .entity = "link:worker0>switch",
                             .kind = "send",
                             .duration = 0.002,
                             .bytes = 4096 + k};
    r.result = (db_run_result){.status = DB_STATUS_DONE,
                               .error = NULL,
                               .wall_seconds = 0.75 + k,
                               .sim_seconds = 12.5 + k,
                               .total_bytes = (uint64_t)1 << 50,
                               .total_messages = 4000 + k,
                               .steps = 300 + k,
                               .final_accuracy = 0.9375,
                               .final_loss = 0.1875 + k};
    return r;
}

static void finish_ok(db_store *s, int64_t id, const sample_rows *r)
{
    sim_err err = {0};
    int rc = db_run_finish(s, id, &r->result, r->metrics, N_METRICS, r->workers,
                           N_WORKERS, r->events, N_EVENTS, &err);
    cr_assert(eq(int, rc, 0), "db_run_finish: %s", err.msg);
}

/* Steps sql on the store's own connection to its first row; the caller
 * reads columns and finalizes. */
static sqlite3_stmt *row(db_store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db_handle(s), sql, -1, &st, NULL);
    cr_assert(eq(int, rc, SQLITE_OK), "%s: %s", sql,
              sqlite3_errmsg(db_handle(s)));
    cr_assert(eq(int, sqlite3_step(st), SQLITE_ROW), "%s: no row", sql);
    return st;
}

static long long count(db_store *s, const char *sql)
{
    sqlite3_stmt *st = row(s, sql);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void assert_text(sqlite3_stmt *st, int col, const char *want)
{
    const char *got = (const char *)sqlite3_column_text(st, col);
    cr_assert(got != NULL, "column %s is NULL, want %s",
              sqlite3_column_name(st, col), want);
    cr_assert(eq(str, (char *)got, (char *)want), "column %s",
              sqlite3_column_name(st, col));
}

static void assert_real(sqlite3_stmt *st, int col, double want)
{
    cr_assert(eq(int, sqlite3_column_type(st, col), SQLITE_FLOAT),
              "column %s is not REAL", sqlite3_column_name(st, col));
    cr_assert(eq(dbl, sqlite3_column_double(st, col), want), "column %s",
              sqlite3_column_name(st, col));
}

static void assert_int(sqlite3_stmt *st, int col, int64_t want)
{
    cr_assert(eq(int, sqlite3_column_type(st, col), SQLITE_INTEGER),
              "column %s is not INTEGER", sqlite3_column_name(st, col));
    cr_assert(eq(i64, sqlite3_column_int64(st, col), want), "column %s",
              sqlite3_column_name(st, col));
}

static void assert_null(sqlite3_stmt *st, int col)
{
    cr_assert(eq(int, sqlite3_column_type(st, col), SQLITE_NULL),
              "column %s is not NULL", sqlite3_column_name(st, col));
}

static char *read_bytes(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    cr_assert(f != NULL, "cannot read %s", p);
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *len = n;
    return buf;
}

static int entries_in(const char *d)
{
    DIR *dp = opendir(d);
    cr_assert(dp != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(dp);
    return n;
}

/* SQLite reads the precise clock; time() reads the kernel's coarse one, which
 * can still show the previous second a few milliseconds after SQLite has
 * moved on, so the bounds must come from the same clock as the row. */
static void utc_now(char *buf, size_t cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Every row a run owns, in a fixed order, as text. */
static char *dump_run(const char *p, int64_t id)
{
    static const char *const queries[] = {
        "SELECT * FROM runs WHERE run_id = %lld",
        "SELECT * FROM metrics WHERE run_id = %lld ORDER BY step",
        "SELECT * FROM workers WHERE run_id = %lld ORDER BY worker",
        "SELECT * FROM events WHERE run_id = %lld ORDER BY time",
    };
    char *all = calloc(1, 1);
    size_t len = 0;
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, queries[i], (long long)id);
        char *part = ts_sql_dump(p, sql);
        cr_assert(part != NULL, "%s", sql);
        size_t n = strlen(part);
        all = realloc(all, len + n + 1);
        memcpy(all + len, part, n + 1);
        len += n;
        free(part);
    }
    return all;
}

/* ---------------------------------------------------------------------- */
/* Creating and recognising databases. */

Test(db, a_fresh_file_gets_the_schema_and_the_meta_row)
{
    db_store *s = open_ok(path);

    sqlite3_stmt *st = row(s, "SELECT value FROM meta WHERE key = 'schema'");
    assert_text(st, 0, "dtsim-1");
    sqlite3_finalize(st);

    /* The documented columns, in order, then the extras. */
    static const struct {
        const char *table, *columns;
    } want[] = {
        {"runs", "run_id,name,algorithm,config_json,seed,status,error,"
                 "started_at,wall_seconds,sim_seconds,total_bytes,"
                 "final_accuracy,dtsim_version,total_messages,steps,"
                 "final_loss"},
        {"metrics", "run_id,step,sim_time,bytes,messages,test_accuracy,"
                    "test_loss,train_loss"},
        {"workers", "run_id,worker,compute_seconds,comm_seconds,idle_seconds,"
                    "updates,bytes_sent,bytes_received,mean_staleness,"
                    "max_staleness"},
        {"events", "run_id,time,entity,kind,duration,bytes"},
        {"meta", "key,value"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT group_concat(name, ',') FROM "
                 "(SELECT name FROM pragma_table_info('%s') ORDER BY cid)",
                 want[i].table);
        st = row(s, sql);
        assert_text(st, 0, want[i].columns);
        sqlite3_finalize(st);
    }

    /* Per-run lookups must not scan every run's rows. */
    st = row(s, "SELECT group_concat(name, ',') FROM "
                "(SELECT name FROM pragma_index_info('metrics_run_step') "
                "ORDER BY seqno)");
    assert_text(st, 0, "run_id,step");
    sqlite3_finalize(st);
    st = row(s, "SELECT group_concat(name, ',') FROM "
                "pragma_index_info('events_run')");
    assert_text(st, 0, "run_id");
    sqlite3_finalize(st);
    st = row(s, "SELECT group_concat(name, ',') FROM "
                "(SELECT name FROM pragma_table_info('workers') "
                "WHERE pk > 0 ORDER BY pk)");
    assert_text(st, 0, "run_id,worker");
    sqlite3_finalize(st);

    st = row(s, "PRAGMA journal_mode");
    assert_text(st, 0, "wal");
    sqlite3_finalize(st);
    cr_assert(eq(i64, count(s, "PRAGMA foreign_keys"), 1));
    cr_assert(eq(i64, count(s, "PRAGMA synchronous"), 1)); /* NORMAL */
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM runs"), 0));
    db_close(s);
}

Test(db, an_in_memory_database_works)
{
    db_store *s = open_ok(":memory:");
    db_run_info info = sample_info("mem");
    int64_t id = begin_ok(s, &info);
    sample_rows r = sample(0);
    finish_ok(s, id, &r);
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM metrics"), N_METRICS));
    db_close(s);
}

Test(db, reopening_a_dtsim_database_appends_to_it)
{
    db_store *s = open_ok(path);
    db_run_info info = sample_info("first");
    int64_t first = begin_ok(s, &info);
    sample_rows r1 = sample(1);
    finish_ok(s, first, &r1);
    db_close(s);
    char *before = dump_run(path, first);

    s = open_ok(path);
    info.name = "second";
    int64_t second = begin_ok(s, &info);
    cr_assert(ne(i64, second, first));
    sample_rows r2 = sample(2);
    finish_ok(s, second, &r2);
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM runs"), 2));
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM meta"), 1));
    db_close(s);

    char *after = dump_run(path, first);
    cr_assert(eq(str, after, before));
    free(before);
    free(after);
}

Test(db, a_text_file_is_refused_and_left_unchanged)
{
    const char *text = "step,accuracy\n1,0.5\n2,0.75\n";
    char *p = ts_write_file(dir, "notes.csv", text);
    cr_assert(p != NULL);

    db_store *s = NULL;
    sim_err err = {0};
    int rc = db_open(p, &s, &err);
    cr_assert(eq(int, rc, SIM_EDB), "%s", err.msg);
    cr_assert(eq(int, err.code, SIM_EDB));
    cr_assert(s == NULL);
    cr_assert(strstr(err.msg, p) != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "not a dtsim database") != NULL, "%s", err.msg);

    size_t len;
    char *now = read_bytes(p, &len);
    cr_assert(eq(sz, len, strlen(text)));
    cr_assert(eq(int, memcmp(now, text, len), 0));
    cr_assert(eq(int, entries_in(dir), 1), "a journal or WAL file was left");
    free(now);
    free(p);
}

Test(db, a_database_made_by_another_program_is_refused_and_left_unchanged)
{
    sqlite3 *other;
    cr_assert(eq(int, sqlite3_open(path, &other), SQLITE_OK));
    cr_assert(eq(int,
                 sqlite3_exec(other,
                              "CREATE TABLE foo(x INTEGER, y TEXT);"
                              "INSERT INTO foo VALUES(1, 'a'), (2, 'b');",
                              NULL, NULL, NULL),
                 SQLITE_OK));
    sqlite3_close(other);
    size_t len_before;
    char *before = read_bytes(path, &len_before);

    db_store *s = NULL;
    sim_err err = {0};
    int rc = db_open(path, &s, &err);
    cr_assert(eq(int, rc, SIM_EDB), "%s", err.msg);
    cr_assert(s == NULL);
    cr_assert(strstr(err.msg, path) != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "not a dtsim database") != NULL, "%s", err.msg);

    size_t len_after;
    char *after = read_bytes(path, &len_after);
    cr_assert(eq(sz, len_after, len_before));
    /* Byte equality also proves the journal mode was not switched to WAL,
     * which would rewrite the header. */
    cr_assert(eq(int, memcmp(after, before, len_before), 0));
    cr_assert(eq(int, entries_in(dir), 1), "a journal or WAL file was left");
    free(before);
    free(after);
}

Test(db, a_dtsim_database_of_another_schema_version_is_refused)
{
    db_store *s = open_ok(path);
    db_close(s);
    sqlite3 *other;
    cr_assert(eq(int, sqlite3_open(path, &other), SQLITE_OK));
    cr_assert(eq(int,
                 sqlite3_exec(other,
                              "UPDATE meta SET value = 'dtsim-99' "
                              "WHERE key = 'schema'",
                              NULL, NULL, NULL),
                 SQLITE_OK));
    sqlite3_close(other);

    sim_err err = {0};
    cr_assert(eq(int, db_open(path, &s, &err), SIM_EDB));
    cr_assert(strstr(err.msg, "dtsim-99") != NULL, "%s", err.msg);
}

Test(db, a_database_with_our_meta_but_missing_columns_is_refused)
{
    sqlite3 *other;
    cr_assert(eq(int, sqlite3_open(path, &other), SQLITE_OK));
    cr_assert(eq(int,
                 sqlite3_exec(other,
                              "CREATE TABLE meta(key TEXT PRIMARY KEY, value);"
                              "INSERT INTO meta VALUES('schema', 'dtsim-1');"
                              "CREATE TABLE runs(run_id INTEGER PRIMARY KEY);",
                              NULL, NULL, NULL),
                 SQLITE_OK));
    sqlite3_close(other);

    db_store *s = NULL;
    sim_err err = {0};
    cr_assert(eq(int, db_open(path, &s, &err), SIM_EDB), "%s", err.msg);
    cr_assert(s == NULL);
    cr_assert(strstr(err.msg, "not a dtsim database") != NULL, "%s", err.msg);
}

Test(db, a_directory_path_is_an_io_error)
{
    db_store *s = NULL;
    sim_err err = {0};
    int rc = db_open(dir, &s, &err);
    cr_assert(eq(int, rc, SIM_EIO), "%s", err.msg);
    cr_assert(s == NULL);
    cr_assert(strstr(err.msg, dir) != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "cannot open database") != NULL, "%s", err.msg);
}

Test(db, a_path_in_a_missing_directory_is_an_io_error)
{
    char p[256];
    snprintf(p, sizeof p, "%s/no/such/dir/results.db", dir);
    db_store *s = NULL;
    sim_err err = {0};
    cr_assert(eq(int, db_open(p, &s, &err), SIM_EIO), "%s", err.msg);
    cr_assert(strstr(err.msg, p) != NULL, "%s", err.msg);
}

Test(db, a_file_without_write_permission_is_an_io_error)
{
    if (geteuid() == 0) {
        teardown(); /* a skipped test's .fini is not run */
        cr_skip_test("root ignores file permissions");
    }
    db_store *s = open_ok(path);
    db_close(s);
    cr_assert(eq(int, chmod(path, 0444), 0));
    sim_err err = {0};
    cr_assert(eq(int, db_open(path, &s, &err), SIM_EIO), "%s", err.msg);
    cr_assert(strstr(err.msg, path) != NULL, "%s", err.msg);
}

/* ---------------------------------------------------------------------- */
/* Writing runs. */

Test(db, begin_and_finish_round_trip_every_column)
{
    db_store *s = open_ok(path);
    db_run_info info = sample_info("ring8-easgd");
    info.seed = UINT64_MAX; /* above 2^63: stored as its bit pattern */
    char lo[32], hi[32];
    utc_now(lo, sizeof lo);
    int64_t id = begin_ok(s, &info);
    utc_now(hi, sizeof hi);

    sqlite3_stmt *st = row(s, "SELECT status, started_at, error, "
                              "wall_seconds FROM runs");
    assert_text(st, 0, "running");
    const char *at = (const char *)sqlite3_column_text(st, 1);
    int y, mo, d, h, mi, sec;
    char z;
    cr_assert(eq(int,
                 sscanf(at, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi,
                        &sec, &z),
                 7),
              "started_at %s", at);
    cr_assert(eq(int, z, 'Z'));
    cr_assert(eq(sz, strlen(at), 20), "started_at %s", at);
    cr_assert(strcmp(at, lo) >= 0 && strcmp(at, hi) <= 0,
              "started_at %s not in [%s, %s]", at, lo, hi);
    assert_null(st, 2);
    assert_null(st, 3);
    sqlite3_finalize(st);

    sample_rows r = sample(0);
    r.result.status = DB_STATUS_DIVERGED;
    r.result.error = "loss became NaN at step 17";
    r.result.final_loss = NAN;
    r.metrics[2].test_loss = NAN;
    r.metrics[2].train_loss = NAN;
    r.workers[1].mean_staleness = NAN;
    finish_ok(s, id, &r);

    st = row(s, "SELECT run_id, name, algorithm, config_json, seed, status, "
                "error, wall_seconds, sim_seconds, total_bytes, "
                "final_accuracy, dtsim_version, total_messages, steps, "
                "final_loss FROM runs");
    assert_int(st, 0, id);
    assert_text(st, 1, "ring8-easgd");
    assert_text(st, 2, "easgd");
    assert_text(st, 3, info.config_json);
    cr_assert(eq(u64, (uint64_t)sqlite3_column_int64(st, 4), UINT64_MAX));
    assert_text(st, 5, "diverged");
    assert_text(st, 6, "loss became NaN at step 17");
    assert_real(st, 7, r.result.wall_seconds);
    assert_real(st, 8, r.result.sim_seconds);
    assert_int(st, 9, (int64_t)r.result.total_bytes);
    assert_real(st, 10, r.result.final_accuracy);
    assert_text(st, 11, "0.1.0+abc123");
    assert_int(st, 12, (int64_t)r.result.total_messages);
    assert_int(st, 13, r.result.steps);
    assert_null(st, 14);
    sqlite3_finalize(st);

    cr_assert(eq(i64, count(s, "SELECT count(*) FROM metrics"), N_METRICS));
    sqlite3_stmt *q;
    cr_assert(eq(int,
                 sqlite3_prepare_v2(db_handle(s),
                                    "SELECT run_id, step, sim_time, bytes, "
                                    "messages, test_accuracy, test_loss, "
                                    "train_loss FROM metrics ORDER BY step",
                                    -1, &q, NULL),
                 SQLITE_OK));
    for (int i = 0; i < N_METRICS; i++) {
        const db_metric *m = &r.metrics[i];
        cr_assert(eq(int, sqlite3_step(q), SQLITE_ROW));
        assert_int(q, 0, id);
        assert_int(q, 1, m->step);
        assert_real(q, 2, m->sim_time);
        assert_int(q, 3, (int64_t)m->bytes);
        assert_int(q, 4, (int64_t)m->messages);
        assert_real(q, 5, m->test_accuracy);
        if (isnan(m->test_loss)) {
            assert_null(q, 6);
            assert_null(q, 7);
        } else {
            assert_real(q, 6, m->test_loss);
            assert_real(q, 7, m->train_loss);
        }
    }
    sqlite3_finalize(q);

    cr_assert(eq(i64, count(s, "SELECT count(*) FROM workers"), N_WORKERS));
    cr_assert(eq(int,
                 sqlite3_prepare_v2(db_handle(s),
                                    "SELECT run_id, worker, compute_seconds, "
                                    "comm_seconds, idle_seconds, updates, "
                                    "bytes_sent, bytes_received, "
                                    "mean_staleness, max_staleness "
                                    "FROM workers ORDER BY worker",
                                    -1, &q, NULL),
                 SQLITE_OK));
    for (int i = 0; i < N_WORKERS; i++) {
        const db_worker *w = &r.workers[i];
        cr_assert(eq(int, sqlite3_step(q), SQLITE_ROW));
        assert_int(q, 0, id);
        assert_int(q, 1, w->worker);
        assert_real(q, 2, w->compute_seconds);
        assert_real(q, 3, w->comm_seconds);
        assert_real(q, 4, w->idle_seconds);
        assert_int(q, 5, w->updates);
        assert_int(q, 6, (int64_t)w->bytes_sent);
        assert_int(q, 7, (int64_t)w->bytes_received);
        if (isnan(w->mean_staleness))
            assert_null(q, 8);
        else
            assert_real(q, 8, w->mean_staleness);
        assert_int(q, 9, w->max_staleness);
    }
    sqlite3_finalize(q);

    cr_assert(eq(i64, count(s, "SELECT count(*) FROM events"), N_EVENTS));
    cr_assert(eq(int,
                 sqlite3_prepare_v2(db_handle(s),
                                    "SELECT run_id, time, entity, kind, "
                                    "duration, bytes FROM events "
                                    "ORDER BY time",
                                    -1, &q, NULL),
                 SQLITE_OK));
    for (int i = 0; i < N_EVENTS; i++) {
        const db_event *e = &r.events[i];
        cr_assert(eq(int, sqlite3_step(q), SQLITE_ROW));
        assert_int(q, 0, id);
        assert_real(q, 1, e->time);
        assert_text(q, 2, e->entity);
        assert_text(q, 3, e->kind);
        assert_real(q, 4, e->duration);
        assert_int(q, 5, (int64_t)e->bytes);
    }
    sqlite3_finalize(q);
    db_close(s);
}

Test(db, a_second_run_appends_without_touching_the_first)
{
    db_store *s = open_ok(path);
    db_run_info info = sample_info("first");
    int64_t first = begin_ok(s, &info);
    sample_rows r1 = sample(1);
    finish_ok(s, first, &r1);
    char *before = dump_run(path, first);

    info.name = "second";
    int64_t second = begin_ok(s, &info);
    cr_assert(ne(i64, second, first));
    sample_rows r2 = sample(2);
    r2.result.status = DB_STATUS_FAILED;
    r2.result.error = "worker 3 crashed";
    finish_ok(s, second, &r2);

    char *after = dump_run(path, first);
    cr_assert(eq(str, after, before));
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM runs"), 2));
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM metrics"), 2 * N_METRICS));
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM workers"), 2 * N_WORKERS));
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM events"), 2 * N_EVENTS));

    char sql[128];
    snprintf(sql, sizeof sql,
             "SELECT status, error FROM runs WHERE run_id = %lld",
             (long long)second);
    sqlite3_stmt *st = row(s, sql);
    assert_text(st, 0, "failed");
    assert_text(st, 1, "worker 3 crashed");
    sqlite3_finalize(st);
    free(before);
    free(after);
    db_close(s);
}

Test(db, two_stores_on_one_file_both_append)
{
    db_store *a = open_ok(path);
    db_store *b = open_ok(path);
    db_run_info info = sample_info("a");
    int64_t ia = begin_ok(a, &info);
    info.name = "b";
    int64_t ib = begin_ok(b, &info);
    cr_assert(ne(i64, ia, ib));
    sample_rows r = sample(0);
    finish_ok(b, ib, &r);
    finish_ok(a, ia, &r);
    db_close(a);
    db_close(b);
    cr_assert(eq(long,
                 ts_sql_count(path, "SELECT count(*) FROM runs "
                                    "WHERE status = 'done'"),
                 2));
    cr_assert(eq(long, ts_sql_count(path, "SELECT count(*) FROM metrics"),
                 2 * N_METRICS));
}

Test(db, finishing_an_unknown_run_writes_nothing)
{
    db_store *s = open_ok(path);
    db_run_info info = sample_info("real");
    int64_t id = begin_ok(s, &info);
    sample_rows r = sample(0);
    sim_err err = {0};
    int rc = db_run_finish(s, id + 100, &r.result, r.metrics, N_METRICS,
                           r.workers, N_WORKERS, r.events, N_EVENTS, &err);
    cr_assert(eq(int, rc, SIM_EDB));
    cr_assert(strstr(err.msg, path) != NULL, "%s", err.msg);
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM metrics"), 0));
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM workers"), 0));
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM events"), 0));
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM runs"), 1));
    cr_assert(eq(i64,
                 count(s, "SELECT count(*) FROM runs "
                          "WHERE status = 'running' AND steps IS NULL"),
                 1));
    db_close(s);
}

/* A constraint failing after the metrics went in: everything written in the
 * transaction must go, and the run must still be finishable. */
Test(db, a_failed_finish_rolls_back_every_row_and_leaves_the_run_running)
{
    db_store *s = open_ok(path);
    db_run_info info = sample_info("dup");
    int64_t id = begin_ok(s, &info);
    sample_rows r = sample(0);
    r.workers[1].worker = r.workers[0].worker; /* primary key clash */
    sim_err err = {0};
    int rc = db_run_finish(s, id, &r.result, r.metrics, N_METRICS, r.workers,
                           N_WORKERS, r.events, N_EVENTS, &err);
    cr_assert(eq(int, rc, SIM_EDB));
    cr_assert(strstr(err.msg, "UNIQUE") != NULL, "%s", err.msg);
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM metrics"), 0));
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM workers"), 0));
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM events"), 0));
    sqlite3_stmt *st = row(s, "SELECT status, error, wall_seconds, steps, "
                              "total_bytes FROM runs");
    assert_text(st, 0, "running");
    for (int c = 1; c < 5; c++)
        assert_null(st, c);
    sqlite3_finalize(st);
    cr_assert(sqlite3_get_autocommit(db_handle(s)), "transaction left open");

    r.workers[1].worker = 1;
    finish_ok(s, id, &r);
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM metrics"), N_METRICS));
    db_close(s);
}

/* A batch commits its runs together; one that fails is undone whole. */
Test(db, a_batch_commits_its_runs_together_or_not_at_all)
{
    db_store *s = open_ok(path);
    db_run_info info = sample_info("b");
    int64_t done = begin_ok(s, &info);
    sample_rows r = sample(0);
    sim_err err = {0};
    cr_assert(eq(int, db_batch_begin(s, &err), 0), "%s", err.msg);
    cr_assert(eq(int, db_batch_begin(s, &err), SIM_EINVAL));
    int64_t next = begin_ok(s, &info);
    finish_ok(s, done, &r);
    cr_assert(eq(int, db_batch_commit(s, &err), 0), "%s", err.msg);
    cr_assert(sqlite3_get_autocommit(db_handle(s)), "transaction left open");
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM metrics"), N_METRICS));
    cr_assert(eq(i64,
                 count(s, "SELECT count(*) FROM runs WHERE status = "
                          "'running'"),
                 1));

    /* next finished, a third run begun, then a write that fails. */
    cr_assert(eq(int, db_batch_begin(s, &err), 0), "%s", err.msg);
    begin_ok(s, &info);
    finish_ok(s, next, &r);
    int rc = db_run_finish(s, next + 100, &r.result, r.metrics, N_METRICS,
                           r.workers, N_WORKERS, r.events, N_EVENTS, &err);
    cr_assert(eq(int, rc, SIM_EDB));
    db_batch_rollback(s);
    cr_assert(sqlite3_get_autocommit(db_handle(s)), "transaction left open");
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM runs"), 2));
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM metrics"), N_METRICS));
    cr_assert(eq(i64,
                 count(s, "SELECT count(*) FROM runs WHERE run_id = "
                          "2 AND status = 'running'"),
                 1));
    /* Outside a batch, each write commits on its own again. */
    finish_ok(s, next, &r);
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM metrics"), 2 * N_METRICS));
    db_close(s);
}

Test(db, finishing_a_run_twice_is_refused)
{
    db_store *s = open_ok(path);
    db_run_info info = sample_info("twice");
    int64_t id = begin_ok(s, &info);
    sample_rows r = sample(0);
    finish_ok(s, id, &r);
    char *before = dump_run(path, id);

    r.result.status = DB_STATUS_FAILED;
    sim_err err = {0};
    int rc = db_run_finish(s, id, &r.result, r.metrics, N_METRICS, r.workers,
                           N_WORKERS, r.events, N_EVENTS, &err);
    cr_assert(eq(int, rc, SIM_EDB));
    cr_assert(strstr(err.msg, "not running") != NULL, "%s", err.msg);
    char *after = dump_run(path, id);
    cr_assert(eq(str, after, before));
    free(before);
    free(after);
    db_close(s);
}

Test(db, a_final_status_of_running_is_invalid)
{
    db_store *s = open_ok(":memory:");
    db_run_info info = sample_info("x");
    int64_t id = begin_ok(s, &info);
    sample_rows r = sample(0);
    r.result.status = DB_STATUS_RUNNING;
    sim_err err = {0};
    cr_assert(eq(
        int, db_run_finish(s, id, &r.result, NULL, 0, NULL, 0, NULL, 0, &err),
        SIM_EINVAL));
    cr_assert(eq(i64,
                 count(s, "SELECT count(*) FROM runs "
                          "WHERE status = 'running'"),
                 1));
    db_close(s);
}

Test(db, integrity_check_is_ok_after_writes)
{
    db_store *s = open_ok(path);
    db_run_info info = sample_info("many");
    db_metric many[1500];
    for (int i = 0; i < 1500; i++)
        many[i] = (db_metric){.step = i,
                              .sim_time = 0.01 * i,
                              .bytes = (uint64_t)i * 4096,
                              .messages = (uint64_t)i * 8,
                              .test_accuracy = i % 10 ? NAN : 0.5,
                              .test_loss = i % 10 ? NAN : 0.6,
                              .train_loss = 1.0 / (i + 1)};
    sample_rows r = sample(0);
    for (int k = 0; k < 3; k++) {
        int64_t id = begin_ok(s, &info);
        sim_err err = {0};
        cr_assert(eq(int,
                     db_run_finish(s, id, &r.result, many, 1500, r.workers,
                                   N_WORKERS, r.events, N_EVENTS, &err),
                     0),
                  "%s", err.msg);
    }
    /* One run left unfinished, as a killed process would leave it. */
    begin_ok(s, &info);
    db_close(s);

    char *check = ts_sql_dump(path, "PRAGMA integrity_check");
    cr_assert(eq(str, check, "ok\n"));
    free(check);
    cr_assert(eq(long,
                 ts_sql_count(path, "SELECT count(*) FROM "
                                    "pragma_foreign_key_check"),
                 0));
    cr_assert(
        eq(long, ts_sql_count(path, "SELECT count(*) FROM metrics"), 3 * 1500));
    cr_assert(eq(long,
                 ts_sql_count(path, "SELECT count(*) FROM runs "
                                    "WHERE status = 'running'"),
                 1));
}

Test(db, status_names_match_the_schema_check)
{
    cr_assert(eq(str, (char *)db_status_name(DB_STATUS_RUNNING), "running"));
    cr_assert(eq(str, (char *)db_status_name(DB_STATUS_DONE), "done"));
    cr_assert(eq(str, (char *)db_status_name(DB_STATUS_DIVERGED), "diverged"));
    cr_assert(eq(str, (char *)db_status_name(DB_STATUS_FAILED), "failed"));
    cr_assert(db_status_name((db_status)42) == NULL);
}

/* ---------------------------------------------------------------------- */
/* The staleness histogram. */

static void finish_with_staleness(db_store *s, int64_t id)
{
    static const db_staleness h0[] = {{0, 5}, {3, 2}, {1000000, 1}};
    static const db_staleness h1[] = {{1, 7}};
    sample_rows r = sample(0);
    r.workers[0].staleness = h0;
    r.workers[0].n_staleness = 3;
    r.workers[1].staleness = h1;
    r.workers[1].n_staleness = 1;
    sim_err err = {0};
    int rc = db_run_finish(s, id, &r.result, r.metrics, N_METRICS, r.workers,
                           N_WORKERS, r.events, N_EVENTS, &err);
    cr_assert(eq(int, rc, 0), "db_run_finish: %s", err.msg);
}

Test(db, staleness_histograms_are_stored_one_row_per_worker_and_value)
{
    db_store *s = open_ok(path);
    sqlite3_stmt *st = row(
        s, "SELECT group_concat(name, ',') FROM "
           "(SELECT name FROM pragma_table_info('staleness') ORDER BY cid)");
    assert_text(st, 0, "run_id,worker,staleness,updates");
    sqlite3_finalize(st);
    db_run_info info = sample_info("stale");
    int64_t id = begin_ok(s, &info);
    finish_with_staleness(s, id);
    st = row(s, "SELECT group_concat(worker || ':' || staleness || '=' || "
                "updates, ' ') FROM (SELECT * FROM staleness ORDER BY worker, "
                "staleness)");
    assert_text(st, 0, "0:0=5 0:3=2 0:1000000=1 1:1=7");
    sqlite3_finalize(st);
    /* A worker without a histogram (a synchronous run) adds no rows. */
    int64_t id2 = begin_ok(s, &info);
    sample_rows plain = sample(2);
    finish_ok(s, id2, &plain);
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM staleness"), 4));
    db_close(s);
}

Test(db, a_database_from_before_the_staleness_table_gets_it_and_keeps_its_runs)
{
    db_store *s = open_ok(path);
    db_run_info info = sample_info("old");
    int64_t id = begin_ok(s, &info);
    sample_rows r = sample(1);
    finish_ok(s, id, &r);
    db_close(s);
    sqlite3 *raw;
    cr_assert(eq(int, sqlite3_open(path, &raw), SQLITE_OK));
    cr_assert(eq(int,
                 sqlite3_exec(raw, "DROP TABLE staleness", NULL, NULL, NULL),
                 SQLITE_OK));
    sqlite3_close(raw);

    s = open_ok(path);
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM runs"), 1));
    int64_t id2 = begin_ok(s, &info);
    finish_with_staleness(s, id2);
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM staleness"), 4));
    db_close(s);
}

Test(db, writes_label_histograms_and_adds_the_table_to_an_older_database)
{
    db_store *s = open_ok(path);
    db_run_info info = sample_info("labels");
    int64_t id = begin_ok(s, &info);
    sample_rows r = sample(1);
    finish_ok(s, id, &r);
    db_close(s);
    sqlite3 *raw;
    cr_assert(eq(int, sqlite3_open(path, &raw), SQLITE_OK));
    cr_assert(eq(
        int, sqlite3_exec(raw, "DROP TABLE label_histogram", NULL, NULL, NULL),
        SQLITE_OK));
    sqlite3_close(raw);

    s = open_ok(path);
    int64_t id2 = begin_ok(s, &info);
    sample_rows h = sample(2);
    const int64_t w0[] = {3, 0, 5}, w1[] = {0, 7, 1};
    h.workers[0].label_rows = w0;
    h.workers[0].n_labels = 3;
    h.workers[1].label_rows = w1;
    h.workers[1].n_labels = 3;
    finish_ok(s, id2, &h);
    sqlite3_stmt *st = row(
        s, "SELECT group_concat(worker || ':' || label || '=' || rows, ' ') "
           "FROM (SELECT * FROM label_histogram ORDER BY worker, label)");
    assert_text(st, 0, "0:0=3 0:1=0 0:2=5 1:0=0 1:1=7 1:2=1");
    sqlite3_finalize(st);
    cr_assert(eq(i64, count(s, "SELECT count(*) FROM runs"), 2));
    db_close(s);
}

/* dtsim run writes a file it creates without fsync; a file that was there
 * before (it may hold other results) and every file db_open makes keep
 * synced checkpoints, and the data is the same either way. */
Test(db, only_a_new_file_opened_unsynced_goes_without_fsync)
{
    const char *dir = ts_tmpdir();
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/new.db", dir);
    snprintf(b, sizeof b, "%s/plain.db", dir);
    sim_err err = {0};
    db_store *s = NULL;
    cr_assert(eq(int, db_open_with(a, DB_OPEN_NEW_UNSYNCED, &s, &err), 0), "%s",
              err.msg);
    cr_assert(eq(i64, count(s, "PRAGMA synchronous"), 0));
    db_run_info info = sample_info("unsynced");
    int64_t id;
    cr_assert(eq(int, db_run_begin(s, &info, &id, &err), 0), "%s", err.msg);
    db_close(s);
    cr_assert(eq(int, db_open_with(a, DB_OPEN_NEW_UNSYNCED, &s, &err), 0), "%s",
              err.msg);
    cr_assert(eq(i64, count(s, "PRAGMA synchronous"), 1),
              "an existing file stays synced");
    db_close(s);
    s = open_ok(b);
    cr_assert(eq(i64, count(s, "PRAGMA synchronous"), 1));
    db_close(s);
    cr_assert(eq(long, ts_sql_count(a, "SELECT COUNT(*) FROM runs"), 1));
}

/* Metrics rows go in through a virtual table reading the caller's array
 * (store.c, metrics_feed_sql): every value lands in its own column, the
 * rows keep their order (consecutive rowids), NaN is NULL, and an unsigned
 * counter keeps its bit pattern, as a bound value would. 1501 rows: more
 * than any one multi-row statement held before. */
Test(db, metrics_rows_keep_every_value_and_their_order)
{
    enum { N = 1501 };
    static db_metric m[N];
    for (int i = 0; i < N; i++)
        m[i] = (db_metric){.step = 3 * i + 1,
                           .sim_time = 0.125 * i + 1e-9,
                           .bytes = ((uint64_t)1 << 62) + (uint64_t)i,
                           .messages = UINT64_MAX - (uint64_t)i,
                           .test_accuracy = i % 7 ? 1.0 / (i + 2) : NAN,
                           .test_loss = i % 5 ? 2.0 + i : NAN,
                           .train_loss = i % 3 ? -0.5 * i : NAN};
    db_store *s = open_ok(path);
    db_run_info info = sample_info("feed");
    int64_t first = begin_ok(s, &info);
    int64_t id = begin_ok(s, &info);
    sample_rows r = sample(0);
    finish_ok(s, first, &r); /* rows before, so rowids do not start at 1 */
    sim_err err = {0};
    cr_assert(eq(int,
                 db_run_finish(s, id, &r.result, m, N, r.workers, N_WORKERS,
                               r.events, N_EVENTS, &err),
                 0),
              "%s", err.msg);
    sqlite3_stmt *st;
    cr_assert(eq(int,
                 sqlite3_prepare_v2(db_handle(s),
                                    "SELECT rowid, step, sim_time, bytes, "
                                    "messages, test_accuracy, test_loss, "
                                    "train_loss FROM metrics WHERE run_id = ?"
                                    " ORDER BY rowid",
                                    -1, &st, NULL),
                 SQLITE_OK));
    sqlite3_bind_int64(st, 1, id);
    int n = 0;
    sqlite3_int64 rowid0 = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        cr_assert(lt(int, n, N));
        const db_metric *w = &m[n];
        if (n == 0)
            rowid0 = sqlite3_column_int64(st, 0);
        cr_assert(eq(i64, sqlite3_column_int64(st, 0), rowid0 + n));
        assert_int(st, 1, w->step);
        assert_real(st, 2, w->sim_time);
        cr_assert(eq(u64, (uint64_t)sqlite3_column_int64(st, 3), w->bytes));
        cr_assert(eq(u64, (uint64_t)sqlite3_column_int64(st, 4), w->messages));
        double want[3] = {w->test_accuracy, w->test_loss, w->train_loss};
        for (int c = 0; c < 3; c++) {
            if (isnan(want[c]))
                assert_null(st, 5 + c);
            else
                assert_real(st, 5 + c, want[c]);
        }
        n++;
    }
    sqlite3_finalize(st);
    cr_assert(eq(int, n, N));
    cr_assert(gt(i64, rowid0, N_METRICS));
    db_close(s);
}

/* The feed is this connection's own: nothing of it is in the file, it
 * reads no rows without the array it is handed, and it cannot be scanned
 * without its arguments. */
Test(db, the_metrics_feed_is_not_in_the_file_and_reads_only_what_it_is_given)
{
    db_store *s = open_ok(path);
    cr_assert(eq(i64,
                 count(s, "SELECT count(*) FROM sqlite_master WHERE sql LIKE "
                          "'%feed%' OR name LIKE '%feed%'"),
                 0));
    cr_assert(eq(
        i64, count(s, "SELECT count(*) FROM dtsim_metric_feed(x'00', 5)"), 0));
    sqlite3_stmt *st = NULL;
    cr_assert(ne(int,
                 sqlite3_prepare_v2(db_handle(s),
                                    "SELECT count(*) FROM dtsim_metric_feed",
                                    -1, &st, NULL),
                 SQLITE_OK));
    sqlite3_finalize(st);
    cr_assert(ne(int,
                 sqlite3_exec(db_handle(s),
                              "CREATE VIRTUAL TABLE f USING "
                              "dtsim_metric_feed",
                              NULL, NULL, NULL),
                 SQLITE_OK),
              "an eponymous-only module makes no table");
    db_close(s);
    cr_assert(eq(long,
                 ts_sql_count(path, "SELECT count(*) FROM sqlite_master "
                                    "WHERE name LIKE '%feed%'"),
                 0));
}

/* A metrics row refused midway (here by a trigger; a constraint error does
 * the same) leaves none of the run's rows, whether SQLite ends only the
 * statement (ABORT) or undoes the transaction itself (ROLLBACK, as the
 * metrics statement's own conflict resolution does): alone, the run stays
 * running; in a batch, the whole batch is undone. */
Test(db, a_metrics_row_refused_midway_leaves_no_rows_of_the_run)
{
    const char *how[2] = {"ABORT", "ROLLBACK"};
    for (int k = 0; k < 2; k++) {
        char file[160];
        snprintf(file, sizeof file, "%s/refused%d.db", dir, k);
        db_store *s = open_ok(file);
        char sql[200];
        snprintf(sql, sizeof sql,
                 "CREATE TRIGGER refuse BEFORE INSERT ON metrics WHEN "
                 "NEW.step = 21 BEGIN SELECT RAISE(%s, 'step 21 refused'); "
                 "END",
                 how[k]);
        cr_assert(eq(int, sqlite3_exec(db_handle(s), sql, NULL, NULL, NULL),
                     SQLITE_OK));
        db_run_info info = sample_info("refused");
        int64_t ok = begin_ok(s, &info), bad = begin_ok(s, &info);
        sample_rows r = sample(1); /* steps 1, 11, 21 */
        sim_err err = {0};
        int rc = db_run_finish(s, bad, &r.result, r.metrics, N_METRICS,
                               r.workers, N_WORKERS, r.events, N_EVENTS, &err);
        cr_assert(eq(int, rc, SIM_EDB), "%s", how[k]);
        cr_assert(strstr(err.msg, "step 21 refused") != NULL, "%s", err.msg);
        cr_assert(sqlite3_get_autocommit(db_handle(s)), "transaction open");
        cr_assert(eq(i64, count(s, "SELECT count(*) FROM metrics"), 0));
        cr_assert(eq(i64, count(s, "SELECT count(*) FROM workers"), 0));

        cr_assert(eq(int, db_batch_begin(s, &err), 0), "%s", err.msg);
        sample_rows fine = sample(0);
        finish_ok(s, ok, &fine);
        rc = db_run_finish(s, bad, &r.result, r.metrics, N_METRICS, r.workers,
                           N_WORKERS, r.events, N_EVENTS, &err);
        cr_assert(eq(int, rc, SIM_EDB), "%s", how[k]);
        db_batch_rollback(s);
        cr_assert(sqlite3_get_autocommit(db_handle(s)), "transaction open");
        cr_assert(eq(i64, count(s, "SELECT count(*) FROM metrics"), 0));
        cr_assert(eq(i64,
                     count(s, "SELECT count(*) FROM runs WHERE status = "
                              "'running'"),
                     2));
        /* The store goes on writing afterwards. */
        finish_ok(s, ok, &fine);
        cr_assert(eq(i64, count(s, "SELECT count(*) FROM metrics"), N_METRICS));
        db_close(s);
        remove(file);
        snprintf(sql, sizeof sql, "%s-wal", file);
        remove(sql);
        snprintf(sql, sizeof sql, "%s-shm", file);
        remove(sql);
    }
}
