/* store.c: the results database (see store.h for the contract).
 *
 * Every statement the run path needs is prepared once in db_open, so writing
 * a run costs one parse-free pass over its rows inside one transaction. The
 * schema version lives in meta('schema'); a database without it is someone
 * else's and is never written to, not even by a journal-mode change. */
#include "store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_VERSION "dtsim-1"

/* Rows per multi-row INSERT (the events table; metrics rows have their own
 * way in, metrics_feed_sql below): 1, 2, 4, ..., 64. Each statement
 * execution has a fixed cost (cursors, statement journal, halt) of several
 * rows' worth, so n rows go in the fewest steps: 64 at a time, then at most
 * one statement of each smaller power of two (1501 rows: 23 x 64, then 16,
 * 8, 4, 1). Each is prepared when first used: a short run, or a store that
 * never writes, prepares only what it needs. 64 * 6 parameters stay below
 * the 999 that older SQLite builds allow. */
enum { BATCH_LEVELS = 7 };

typedef struct batch_insert {
    const char *head, *row; /* "INSERT INTO t(...) VALUES ", "(?, ?)" */
    int cols;
    sqlite3_stmt *st[BATCH_LEVELS]; /* st[l]: 2^l rows; NULL until used */
} batch_insert;

struct db_store {
    sqlite3 *db;
    char *path; /* owned copy, for error messages */
    sqlite3_stmt *begin, *commit, *rollback;
    sqlite3_stmt *run_insert, *run_update;
    sqlite3_stmt *worker_one;
    sqlite3_stmt *metrics_feed; /* INSERT ... SELECT FROM metric_feed */
    batch_insert events;
    sqlite3_stmt *staleness_one;
    sqlite3_stmt *label_one;
    sqlite3_stmt *link_one;
    /* A sink (db_open_sink): db is NULL and finished runs go to sink. */
    db_finish_fn sink;
    void *sink_ctx;
    int64_t sink_last, sink_running; /* 0: none running */
    int in_batch;                    /* db_batch_begin */
};

static int batch_stmt(db_store *s, batch_insert *b, int level,
                      sqlite3_stmt **out);

/* Added after the first release of schema dtsim-1: created when missing, so
 * databases written before it are appended to rather than refused. */
#define STALENESS_TABLE                                                        \
    "CREATE TABLE IF NOT EXISTS staleness("                                    \
    " run_id INTEGER NOT NULL REFERENCES runs(run_id),"                        \
    " worker INTEGER NOT NULL,"                                                \
    " staleness INTEGER NOT NULL,"                                             \
    " updates INTEGER NOT NULL,"                                               \
    " PRIMARY KEY (run_id, worker, staleness));" LABEL_TABLE

/* Added with the non-IID partitions, likewise: the training rows of each
 * label each worker holds, so a run's data skew is on record. */
#define LABEL_TABLE                                                            \
    "CREATE TABLE IF NOT EXISTS label_histogram("                              \
    " run_id INTEGER NOT NULL REFERENCES runs(run_id),"                        \
    " worker INTEGER NOT NULL,"                                                \
    " label INTEGER NOT NULL,"                                                 \
    " rows INTEGER NOT NULL,"                                                  \
    " PRIMARY KEY (run_id, worker, label));" LINK_TABLE

/* Added with the network topologies, likewise: bytes and busy time of
 * every directed link, so per-link load and utilisation are on record. */
#define LINK_TABLE                                                             \
    "CREATE TABLE IF NOT EXISTS links("                                        \
    " run_id INTEGER NOT NULL REFERENCES runs(run_id),"                        \
    " link INTEGER NOT NULL,"                                                  \
    " name TEXT,"                                                              \
    " bytes INTEGER,"                                                          \
    " busy_seconds REAL,"                                                      \
    " PRIMARY KEY (run_id, link));"

/* Extras beyond DESIGN.md (total_messages, steps, final_loss, table meta)
 * are appended so the documented columns keep their documented order. Only
 * keys are NOT NULL: a NaN that slipped into a measured value must not cost
 * the whole run's rows. */
static const char schema_sql[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT INTO meta(key, value) VALUES('schema', '" SCHEMA_VERSION "');"
    "CREATE TABLE runs("
    " run_id INTEGER PRIMARY KEY,"
    " name TEXT,"
    " algorithm TEXT,"
    " config_json TEXT,"
    " seed INTEGER,"
    " status TEXT NOT NULL"
    "  CHECK (status IN ('running', 'done', 'diverged', 'failed')),"
    " error TEXT,"
    " started_at TEXT NOT NULL,"
    " wall_seconds REAL,"
    " sim_seconds REAL,"
    " total_bytes INTEGER,"
    " final_accuracy REAL,"
    " dtsim_version TEXT,"
    " total_messages INTEGER,"
    " steps INTEGER,"
    " final_loss REAL);"
    "CREATE TABLE metrics("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id),"
    " step INTEGER NOT NULL,"
    " sim_time REAL,"
    " bytes INTEGER,"
    " messages INTEGER,"
    " test_accuracy REAL,"
    " test_loss REAL,"
    " train_loss REAL);"
    "CREATE INDEX metrics_run_step ON metrics(run_id, step);"
    "CREATE TABLE workers("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id),"
    " worker INTEGER NOT NULL,"
    " compute_seconds REAL,"
    " comm_seconds REAL,"
    " idle_seconds REAL,"
    " updates INTEGER,"
    " bytes_sent INTEGER,"
    " bytes_received INTEGER,"
    " mean_staleness REAL,"
    " max_staleness INTEGER,"
    " PRIMARY KEY (run_id, worker));"
    "CREATE TABLE events("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id),"
    " time REAL,"
    " entity TEXT,"
    " kind TEXT,"
    " duration REAL,"
    " bytes INTEGER);"
    "CREATE INDEX events_run ON events(run_id);" STALENESS_TABLE;

/* started_at comes from SQLite's clock so the row and its timestamp are made
 * by the same statement, with no libc time zone handling involved. */
static const char run_insert_sql[] =
    "INSERT INTO runs(name, algorithm, config_json, seed, status, started_at,"
    " dtsim_version) VALUES(?1, ?2, ?3, ?4, 'running',"
    " strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), ?5)";

/* The status guard makes finishing a finished or unknown run an error instead
 * of a second set of rows under one run_id. */
static const char run_update_sql[] =
    "UPDATE runs SET status = ?2, error = ?3, wall_seconds = ?4,"
    " sim_seconds = ?5, total_bytes = ?6, total_messages = ?7, steps = ?8,"
    " final_accuracy = ?9, final_loss = ?10"
    " WHERE run_id = ?1 AND status = 'running'";

/* A run's metrics rows go in with one statement that reads them from
 * the caller's array through the virtual table dtsim_metric_feed (below),
 * rather than binding eight values a row into a multi-row INSERT: binding
 * (and clearing) a value costs about as much as SQLite storing it, and one
 * statement per run pays one statement's setup instead of one per 64
 * rows. OR ROLLBACK: on a constraint error SQLite undoes the whole
 * transaction, which every caller does anyway; any other conflict
 * resolution makes SQLite open a statement journal, copying every page the
 * statement touches first (about 4% of writing a row). A foreign key
 * error (dtsim run checks them) still ends only the statement. */
static const char metrics_feed_sql[] =
    "INSERT OR ROLLBACK INTO metrics(run_id, step, sim_time, bytes,"
    " messages, test_accuracy, test_loss, train_loss)"
    " SELECT ?1, step, sim_time, bytes, messages, test_accuracy, test_loss,"
    " train_loss FROM dtsim_metric_feed(?2, ?3)";

static const char worker_one_sql[] =
    "INSERT INTO workers(run_id, worker, compute_seconds, comm_seconds,"
    " idle_seconds, updates, bytes_sent, bytes_received, mean_staleness,"
    " max_staleness) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

#define EVENT_INSERT                                                           \
    "INSERT INTO events(run_id, time, entity, kind, duration, bytes) VALUES "
#define EVENT_ROW "(?, ?, ?, ?, ?, ?)"
enum { EVENT_COLS = 6 };
static const char staleness_one_sql[] =
    "INSERT INTO staleness(run_id, worker, staleness, updates)"
    " VALUES(?, ?, ?, ?)";
static const char label_one_sql[] =
    "INSERT INTO label_histogram(run_id, worker, label, rows)"
    " VALUES(?, ?, ?, ?)";
static const char link_one_sql[] =
    "INSERT INTO links(run_id, link, name, bytes, busy_seconds)"
    " VALUES(?, ?, ?, ?, ?)";

const char *db_status_name(db_status s)
{
    switch (s) {
    case DB_STATUS_RUNNING:
        return "running";
    case DB_STATUS_DONE:
        return "done";
    case DB_STATUS_DIVERGED:
        return "diverged";
    case DB_STATUS_FAILED:
        return "failed";
    }
    return NULL;
}

struct sqlite3 *db_handle(db_store *db)
{
    return db ? db->db : NULL;
}

/* ---------------------------------------------------------------------- */
/* Binding helpers. Each returns an SQLite code so callers can chain them. */

static int bind_real(sqlite3_stmt *st, int i, double v)
{
    return isnan(v) ? sqlite3_bind_null(st, i) : sqlite3_bind_double(st, i, v);
}

/* Counters are below 2^63 by the caller's contract (9.2 EB of traffic), and
 * a seed of 2^63 or more is stored as its two's-complement bit pattern, which
 * a (uint64_t) cast on reading recovers. */
static int bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
    return sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

/* The caller's strings outlive the step, so SQLITE_STATIC saves a copy per
 * row; every path out of a write clears the bindings, so no statement keeps
 * a pointer into the caller's memory once we return. */
static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Runs a statement that returns no rows to completion and makes it reusable
 * at once, so no statement stays active across calls (an active write
 * statement would block ROLLBACK). */
static int step_once(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ---------------------------------------------------------------------- */
/* The metrics feed: an eponymous virtual table of this connection only
 * (nothing of it is in the file) whose rows are a db_metric array, passed
 * with sqlite3_bind_pointer: dtsim_metric_feed(rows, n). NaN reads as NULL,
 * the unsigned counters as their int64 bit patterns: the values the bind
 * helpers above give. */

#define METRIC_FEED_PTR "dtsim_metric_rows"

enum {
    FEED_STEP,
    FEED_SIM_TIME,
    FEED_BYTES,
    FEED_MESSAGES,
    FEED_ACCURACY,
    FEED_LOSS,
    FEED_TRAIN_LOSS,
    FEED_ROWS,
    FEED_N
};

typedef struct feed_cursor {
    sqlite3_vtab_cursor base;
    const db_metric *rows;
    size_t at, n;
} feed_cursor;

static int feed_connect(sqlite3 *db, void *aux, int argc,
                        const char *const *argv, sqlite3_vtab **out,
                        char **errmsg)
{
    (void)aux, (void)argc, (void)argv, (void)errmsg;
    int rc = sqlite3_declare_vtab(
        db, "CREATE TABLE x(step, sim_time, bytes, messages, test_accuracy,"
            " test_loss, train_loss, rows HIDDEN, n HIDDEN)");
    if (rc != SQLITE_OK)
        return rc;
    *out = sqlite3_malloc(sizeof **out);
    if (!*out)
        return SQLITE_NOMEM;
    memset(*out, 0, sizeof **out);
    return SQLITE_OK;
}

static int feed_disconnect(sqlite3_vtab *vt)
{
    sqlite3_free(vt);
    return SQLITE_OK;
}

/* Only a scan with both arguments given is possible. */
static int feed_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    (void)vt;
    int arg[2] = {-1, -1};
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (c->op != SQLITE_INDEX_CONSTRAINT_EQ ||
            (c->iColumn != FEED_ROWS && c->iColumn != FEED_N))
            continue;
        if (!c->usable)
            return SQLITE_CONSTRAINT;
        arg[c->iColumn - FEED_ROWS] = i;
    }
    if (arg[0] < 0 || arg[1] < 0)
        return SQLITE_CONSTRAINT;
    for (int k = 0; k < 2; k++) {
        info->aConstraintUsage[arg[k]].argvIndex = k + 1;
        info->aConstraintUsage[arg[k]].omit = 1;
    }
    info->estimatedCost = 1;
    return SQLITE_OK;
}

static int feed_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    (void)vt;
    feed_cursor *c = sqlite3_malloc(sizeof *c);
    if (!c)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    *out = &c->base;
    return SQLITE_OK;
}

static int feed_close(sqlite3_vtab_cursor *cur)
{
    sqlite3_free(cur);
    return SQLITE_OK;
}

static int feed_filter(sqlite3_vtab_cursor *cur, int idx_num,
                       const char *idx_str, int argc, sqlite3_value **argv)
{
    (void)idx_num, (void)idx_str;
    feed_cursor *c = (feed_cursor *)cur;
    c->at = 0;
    c->rows =
        argc == 2 ? sqlite3_value_pointer(argv[0], METRIC_FEED_PTR) : NULL;
    sqlite3_int64 n = argc == 2 ? sqlite3_value_int64(argv[1]) : 0;
    c->n = c->rows && n > 0 ? (size_t)n : 0;
    return SQLITE_OK;
}

static int feed_next(sqlite3_vtab_cursor *cur)
{
    ((feed_cursor *)cur)->at++;
    return SQLITE_OK;
}

static int feed_eof(sqlite3_vtab_cursor *cur)
{
    const feed_cursor *c = (const feed_cursor *)cur;
    return c->at >= c->n;
}

static void result_real(sqlite3_context *ctx, double v)
{
    if (isnan(v))
        sqlite3_result_null(ctx);
    else
        sqlite3_result_double(ctx, v);
}

static int feed_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    const feed_cursor *c = (const feed_cursor *)cur;
    const db_metric *m = &c->rows[c->at];
    switch (col) {
    case FEED_STEP:
        sqlite3_result_int64(ctx, m->step);
        break;
    case FEED_SIM_TIME:
        result_real(ctx, m->sim_time);
        break;
    case FEED_BYTES:
        sqlite3_result_int64(ctx, (sqlite3_int64)m->bytes);
        break;
    case FEED_MESSAGES:
        sqlite3_result_int64(ctx, (sqlite3_int64)m->messages);
        break;
    case FEED_ACCURACY:
        result_real(ctx, m->test_accuracy);
        break;
    case FEED_LOSS:
        result_real(ctx, m->test_loss);
        break;
    case FEED_TRAIN_LOSS:
        result_real(ctx, m->train_loss);
        break;
    default: /* the hidden arguments are never read back */
        sqlite3_result_null(ctx);
        break;
    }
    return SQLITE_OK;
}

static int feed_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
    *rowid = (sqlite3_int64)((const feed_cursor *)cur)->at;
    return SQLITE_OK;
}

/* xCreate NULL: eponymous only, so no CREATE VIRTUAL TABLE can put it into
 * a file. */
static const sqlite3_module metric_feed_module = {
    .iVersion = 0,
    .xConnect = feed_connect,
    .xBestIndex = feed_best_index,
    .xDisconnect = feed_disconnect,
    .xOpen = feed_open,
    .xClose = feed_close,
    .xFilter = feed_filter,
    .xNext = feed_next,
    .xEof = feed_eof,
    .xColumn = feed_column,
    .xRowid = feed_rowid,
};

/* ---------------------------------------------------------------------- */
/* Opening. */

/* SQLite's code tells "this is not our file" (SIM_EDB) from "cannot reach the
 * file" (SIM_EIO); the caller is told which. */
static int open_error(const char *path, sqlite3 *db, int rc, sim_err *err)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_NOTADB:
        return sim_err_set(err, SIM_EDB, "%s: not a dtsim database (%s)", path,
                           msg);
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_PERM:
    case SQLITE_READONLY:
        /* Not sqlite3_system_errno: after a failed create SQLite retries
         * read-only, so a permission problem would read "No such file". */
        return sim_err_set(err, SIM_EIO, "%s: cannot open database: %s", path,
                           msg);
    case SQLITE_NOMEM:
        return sim_err_set(err, SIM_ENOMEM, "%s: %s", path, msg);
    default:
        return sim_err_set(err, SIM_EDB, "%s: %s", path, msg);
    }
}

/* Sets *fresh when the database holds no schema objects at all; otherwise
 * accepts it only with our meta row. Reads only, so a foreign database or a
 * text file is left byte-for-byte unchanged. */
static int check_identity(db_store *s, int *fresh, sim_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master", -1,
                                &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        /* A text file is only found out here, on the first page read. */
        int code = open_error(s->path, s->db, rc, err);
        sqlite3_finalize(st);
        return code;
    }
    sqlite3_int64 objects = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    *fresh = objects == 0;
    if (*fresh)
        return 0;

    /* A missing meta table fails the prepare; that is the common foreign
     * case, not an I/O error. */
    rc = sqlite3_prepare_v2(
        s->db, "SELECT value FROM meta WHERE key = 'schema'", -1, &st, NULL);
    if (rc == SQLITE_ERROR) {
        sqlite3_finalize(st);
        return sim_err_set(err, SIM_EDB,
                           "%s: not a dtsim database (it has tables but no "
                           "dtsim meta table)",
                           s->path);
    }
    if (rc != SQLITE_OK) {
        int code = open_error(s->path, s->db, rc, err);
        sqlite3_finalize(st);
        return code;
    }
    rc = sqlite3_step(st);
    int code = 0;
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (!v || strcmp(v, SCHEMA_VERSION) != 0)
            code = sim_err_set(err, SIM_EDB,
                               "%s: not a dtsim database (schema '%s', "
                               "expected '" SCHEMA_VERSION "')",
                               s->path, v ? v : "NULL");
    } else if (rc == SQLITE_DONE) {
        code = sim_err_set(err, SIM_EDB,
                           "%s: not a dtsim database (meta has no schema "
                           "entry)",
                           s->path);
    } else {
        code = open_error(s->path, s->db, rc, err);
    }
    sqlite3_finalize(st);
    return code;
}

/* Creates the schema unless another process got there first: the check is
 * repeated under the write lock, so two runs starting on one new file agree
 * on one schema. */
static int ensure_schema(db_store *s, sim_err *err)
{
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return open_error(s->path, s->db, rc, err);
    int fresh = 0;
    int code = check_identity(s, &fresh, err);
    if (code == 0 && fresh) {
        rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            code = sim_err_set(err, SIM_EDB, "%s: cannot create schema: %s",
                               s->path, sqlite3_errmsg(s->db));
    }
    if (code == 0) {
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            code = open_error(s->path, s->db, rc, err);
    }
    /* Its own failure is not reported: the first error is the useful one. */
    if (code != 0 && !sqlite3_get_autocommit(s->db))
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return code;
}

static int prepare_all(db_store *s, sim_err *err)
{
    int mrc = sqlite3_create_module(s->db, "dtsim_metric_feed",
                                    &metric_feed_module, NULL);
    if (mrc != SQLITE_OK)
        return open_error(s->path, s->db, mrc, err);
    struct {
        sqlite3_stmt **st;
        const char *sql;
    } list[] = {
        {&s->begin, "BEGIN IMMEDIATE"},
        {&s->commit, "COMMIT"},
        {&s->rollback, "ROLLBACK"},
        {&s->run_insert, run_insert_sql},
        {&s->run_update, run_update_sql},
        {&s->metrics_feed, metrics_feed_sql},
        {&s->worker_one, worker_one_sql},
        {&s->staleness_one, staleness_one_sql},
        {&s->label_one, label_one_sql},
        {&s->link_one, link_one_sql},
    };
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        /* These live as long as the connection; PERSISTENT keeps them out
         * of the small lookaside pool meant for short-lived statements. */
        int rc =
            sqlite3_prepare_v3(s->db, list[i].sql, -1,
                               SQLITE_PREPARE_PERSISTENT, list[i].st, NULL);
        if (rc != SQLITE_OK)
            /* Our meta row but a column missing: not a database we can
             * append to. */
            return sim_err_set(err, SIM_EDB, "%s: not a dtsim database (%s)",
                               s->path, sqlite3_errmsg(s->db));
    }
    s->events = (batch_insert){
        .head = EVENT_INSERT, .row = EVENT_ROW, .cols = EVENT_COLS};
    /* The one-row statements now, so that a table missing a column is
     * found at open, like the others. */
    sqlite3_stmt *st;
    if (batch_stmt(s, &s->events, 0, &st) != SQLITE_OK)
        return sim_err_set(err, SIM_EDB, "%s: not a dtsim database (%s)",
                           s->path, sqlite3_errmsg(s->db));
    return 0;
}

int db_open(const char *path, db_store **out, sim_err *err)
{
    return db_open_with(path, 0, out, err);
}

int db_open_with(const char *path, unsigned flags, db_store **out, sim_err *err)
{
    if (!out || !path)
        return sim_err_set(err, SIM_EINVAL, "db_open: NULL argument");
    *out = NULL;
    db_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
    }

    int code, fresh = 0;
    /* NOMUTEX: a store is used by one thread at a time (store.h), so the
     * per-call connection lock, taken for every bound value, buys nothing. */
    int rc = sqlite3_open_v2(
        path, &s->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        code = open_error(path, s->db, rc, err);
        goto fail;
    }
    /* SQLite falls back to read-only when the file is not writable; say so
     * now rather than when the first run tries to write. */
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        code = sim_err_set(err, SIM_EIO,
                           "%s: cannot open database: file is read-only", path);
        goto fail;
    }
    /* Several runs may share one file (a sweep); wait for a writer rather
     * than fail at once. */
    rc = sqlite3_busy_timeout(s->db, 10000);
    /* A connection-only setting: it does not touch the file, so it is safe
     * before we know whose file it is. */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        code = open_error(path, s->db, rc, err);
        goto fail;
    }

    code = check_identity(s, &fresh, err);
    if (code != 0)
        goto fail;
    /* Only now may we write: switching to WAL rewrites the header of an
     * existing file. WAL lets readers (tools, a notebook) watch while a sweep
     * writes. The result is not checked: ":memory:" stays "memory" and a
     * file system without shared memory keeps its rollback journal, both of
     * which are correct, only slower with concurrent readers.
     * A fresh file holds nothing to lose, so its switch (a rollback-journal
     * transaction costing three fsyncs) runs unsynced. After it, in WAL
     * mode, synchronous=NORMAL skips the fsync at each commit: a committed
     * run survives the process being killed, and only an OS crash or power
     * loss may drop the last commits (never corrupting the file). */
    rc = sqlite3_exec(s->db,
                      fresh ? "PRAGMA synchronous = OFF"
                            : "PRAGMA synchronous = NORMAL",
                      NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
    if (rc == SQLITE_OK && fresh && !(flags & DB_OPEN_NEW_UNSYNCED))
        rc = sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL", NULL, NULL,
                          NULL);
    if (rc != SQLITE_OK) {
        code = open_error(path, s->db, rc, err);
        goto fail;
    }
    if (fresh && (code = ensure_schema(s, err)) != 0)
        goto fail;
    if (!fresh) {
        rc = sqlite3_exec(s->db, STALENESS_TABLE, NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            code = open_error(path, s->db, rc, err);
            goto fail;
        }
    }
    if ((code = prepare_all(s, err)) != 0)
        goto fail;
    *out = s;
    return 0;

fail:
    db_close(s);
    return code;
}

int db_open_sink(db_finish_fn fn, void *ctx, db_store **out, sim_err *err)
{
    if (!out || !fn)
        return sim_err_set(err, SIM_EINVAL, "db_open_sink: NULL argument");
    db_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup("(run sink)"))) {
        free(s);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    s->sink = fn;
    s->sink_ctx = ctx;
    *out = s;
    return 0;
}

void db_close(db_store *db)
{
    if (!db)
        return;
    sqlite3_stmt *all[] = {db->begin,      db->commit,        db->rollback,
                           db->run_insert, db->run_update,    db->metrics_feed,
                           db->worker_one, db->staleness_one, db->label_one,
                           db->link_one};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]); /* NULL-safe */
    for (int l = 0; l < BATCH_LEVELS; l++) {
        sqlite3_finalize(db->events.st[l]);
    }
    /* Every statement is finalized, so close cannot be refused as busy; its
     * code only reports a failed final WAL checkpoint, which the next open
     * redoes. */
    sqlite3_close(db->db);
    free(db->path);
    free(db);
}

/* ---------------------------------------------------------------------- */
/* Writing runs. */

/* Undoes an open transaction after a failure. SQLite rolls back by itself on
 * some errors (I/O, full disk), hence the autocommit test. A failing ROLLBACK
 * is not reported over the error that caused it; SQLite then rolls back when
 * the connection closes, and the run stays 'running' either way. */
static void rollback(db_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        (void)step_once(s->rollback);
}

int db_batch_begin(db_store *db, sim_err *err)
{
    if (!db || db->sink || db->in_batch)
        return sim_err_set(err, SIM_EINVAL,
                           "db_batch_begin: no store, or "
                           "a batch already open");
    if (step_once(db->begin) != SQLITE_OK)
        return sim_err_set(err, SIM_EDB, "%s: cannot start writing: %s",
                           db->path, sqlite3_errmsg(db->db));
    db->in_batch = 1;
    return 0;
}

int db_batch_commit(db_store *db, sim_err *err)
{
    if (!db || !db->in_batch)
        return sim_err_set(err, SIM_EINVAL, "db_batch_commit: no batch open");
    db->in_batch = 0;
    if (step_once(db->commit) != SQLITE_OK) {
        int code = sim_err_set(err, SIM_EDB, "%s: cannot commit: %s", db->path,
                               sqlite3_errmsg(db->db));
        rollback(db);
        return code;
    }
    return 0;
}

void db_batch_rollback(db_store *db)
{
    if (!db || !db->in_batch)
        return;
    db->in_batch = 0;
    rollback(db);
}

int db_run_begin(db_store *db, const db_run_info *info, int64_t *run_id,
                 sim_err *err)
{
    if (!db || !info || !run_id)
        return sim_err_set(err, SIM_EINVAL, "db_run_begin: NULL argument");
    if (db->sink) {
        *run_id = db->sink_running = ++db->sink_last;
        return 0;
    }
    sqlite3_stmt *st = db->run_insert;
    int rc = db->in_batch ? SQLITE_OK : step_once(db->begin);
    if (rc == SQLITE_OK) {
        (void)(((rc = bind_text(st, 1, info->name)) == SQLITE_OK) &&
               ((rc = bind_text(st, 2, info->algorithm)) == SQLITE_OK) &&
               ((rc = bind_text(st, 3, info->config_json)) == SQLITE_OK) &&
               ((rc = bind_u64(st, 4, info->seed)) == SQLITE_OK) &&
               ((rc = bind_text(st, 5, info->dtsim_version)) == SQLITE_OK) &&
               ((rc = step_once(st)) == SQLITE_OK));
        if (rc != SQLITE_OK)
            sqlite3_clear_bindings(st);
    }
    /* Read before COMMIT: the rowid is per connection, but this keeps it
     * next to the insert it belongs to. */
    sqlite3_int64 id = sqlite3_last_insert_rowid(db->db);
    if (rc == SQLITE_OK && !db->in_batch)
        rc = step_once(db->commit);
    if (rc != SQLITE_OK) {
        int code = sim_err_set(err, SIM_EDB, "%s: cannot record run: %s",
                               db->path, sqlite3_errmsg(db->db));
        if (!db->in_batch)
            rollback(db);
        return code;
    }
    *run_id = id;
    return 0;
}

/* Binds one row's values at parameters base+1.. of a (possibly multi-row)
 * statement. */
typedef int (*bind_row_fn)(sqlite3_stmt *st, int base, int64_t run_id,
                           const void *row);

/* All n rows with one step of the feed statement. */
static int insert_metrics(db_store *s, int64_t run_id, const db_metric *rows,
                          size_t n)
{
    if (n == 0)
        return SQLITE_OK;
    sqlite3_stmt *st = s->metrics_feed;
    int rc;
    (void)(((rc = sqlite3_bind_int64(st, 1, run_id)) == SQLITE_OK) &&
           ((rc = sqlite3_bind_pointer(st, 2, (void *)rows, METRIC_FEED_PTR,
                                       NULL)) == SQLITE_OK) &&
           ((rc = sqlite3_bind_int64(st, 3, (sqlite3_int64)n)) == SQLITE_OK) &&
           ((rc = step_once(st)) == SQLITE_OK));
    if (rc != SQLITE_OK)
        sqlite3_clear_bindings(st);
    return rc;
}

static int bind_worker(sqlite3_stmt *st, int base, int64_t run_id,
                       const void *row)
{
    const db_worker *w = row;
    int rc;
    (void)(((rc = sqlite3_bind_int64(st, base + 1, run_id)) == SQLITE_OK) &&
           ((rc = sqlite3_bind_int(st, base + 2, w->worker)) == SQLITE_OK) &&
           ((rc = bind_real(st, base + 3, w->compute_seconds)) == SQLITE_OK) &&
           ((rc = bind_real(st, base + 4, w->comm_seconds)) == SQLITE_OK) &&
           ((rc = bind_real(st, base + 5, w->idle_seconds)) == SQLITE_OK) &&
           ((rc = sqlite3_bind_int64(st, base + 6, w->updates)) == SQLITE_OK) &&
           ((rc = bind_u64(st, base + 7, w->bytes_sent)) == SQLITE_OK) &&
           ((rc = bind_u64(st, base + 8, w->bytes_received)) == SQLITE_OK) &&
           ((rc = bind_real(st, base + 9, w->mean_staleness)) == SQLITE_OK) &&
           ((rc = sqlite3_bind_int64(st, base + 10, w->max_staleness)) ==
            SQLITE_OK));
    return rc;
}

static int bind_event(sqlite3_stmt *st, int base, int64_t run_id,
                      const void *row)
{
    const db_event *e = row;
    int rc;
    (void)(((rc = sqlite3_bind_int64(st, base + 1, run_id)) == SQLITE_OK) &&
           ((rc = bind_real(st, base + 2, e->time)) == SQLITE_OK) &&
           ((rc = bind_text(st, base + 3, e->entity)) == SQLITE_OK) &&
           ((rc = bind_text(st, base + 4, e->kind)) == SQLITE_OK) &&
           ((rc = bind_real(st, base + 5, e->duration)) == SQLITE_OK) &&
           ((rc = bind_u64(st, base + 6, e->bytes)) == SQLITE_OK));
    return rc;
}

/* The statement of b inserting 2^level rows, prepared on first use. */
static int batch_stmt(db_store *s, batch_insert *b, int level,
                      sqlite3_stmt **out)
{
    if (!b->st[level]) {
        size_t k = (size_t)1 << level, hl = strlen(b->head),
               rl = strlen(b->row);
        char *sql = malloc(hl + k * (rl + 2) + 1);
        if (!sql)
            return SQLITE_NOMEM;
        char *p = sql + hl;
        memcpy(sql, b->head, hl);
        for (size_t i = 0; i < k; i++) {
            if (i) {
                memcpy(p, ", ", 2);
                p += 2;
            }
            memcpy(p, b->row, rl);
            p += rl;
        }
        *p = '\0';
        int rc =
            sqlite3_prepare_v3(s->db, sql, (int)(p - sql),
                               SQLITE_PREPARE_PERSISTENT, &b->st[level], NULL);
        free(sql);
        if (rc != SQLITE_OK)
            return rc;
    }
    *out = b->st[level];
    return SQLITE_OK;
}

/* Inserts n rows of row_size bytes each through b, 64 per step while that
 * many remain, then the rest in at most one step of each smaller power of
 * two. */
static int insert_rows(db_store *s, batch_insert *b, bind_row_fn bind,
                       int64_t run_id, const void *rows, size_t n,
                       size_t row_size)
{
    const char *next = rows;
    size_t left = n;
    int level = BATCH_LEVELS - 1;
    while (left > 0) {
        while (((size_t)1 << level) > left)
            level--;
        size_t k = (size_t)1 << level;
        sqlite3_stmt *st;
        int rc = batch_stmt(s, b, level, &st);
        if (rc != SQLITE_OK)
            return rc;
        for (size_t r = 0; r < k && rc == SQLITE_OK; r++, next += row_size)
            rc = bind(st, (int)r * b->cols, run_id, next);
        if (rc != SQLITE_OK) {
            sqlite3_clear_bindings(st);
            return rc;
        }
        if ((rc = step_once(st)) != SQLITE_OK)
            return rc;
        left -= k;
    }
    return SQLITE_OK;
}

static int insert_workers(db_store *s, int64_t run_id, const db_worker *workers,
                          size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = bind_worker(s->worker_one, 0, run_id, &workers[i]);
        if (rc != SQLITE_OK) {
            sqlite3_clear_bindings(s->worker_one);
            return rc;
        }
        if ((rc = step_once(s->worker_one)) != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

/* One row per (worker, staleness value) with a non-zero count. */
static int insert_staleness(db_store *s, int64_t run_id,
                            const db_worker *workers, size_t n)
{
    sqlite3_stmt *st = s->staleness_one;
    for (size_t i = 0; i < n; i++) {
        const db_worker *w = &workers[i];
        for (size_t v = 0; w->staleness && v < w->n_staleness; v++) {
            const db_staleness *h = &w->staleness[v];
            int rc;
            (void)(((rc = sqlite3_bind_int64(st, 1, run_id)) == SQLITE_OK) &&
                   ((rc = sqlite3_bind_int(st, 2, w->worker)) == SQLITE_OK) &&
                   ((rc = sqlite3_bind_int64(st, 3, h->staleness)) ==
                    SQLITE_OK) &&
                   ((rc = sqlite3_bind_int64(st, 4, h->updates)) == SQLITE_OK));
            if (rc != SQLITE_OK) {
                sqlite3_clear_bindings(st);
                return rc;
            }
            if ((rc = step_once(st)) != SQLITE_OK)
                return rc;
        }
    }
    return SQLITE_OK;
}

/* One row per (worker, label), zeros included: a worker that holds no
 * row of a label is the skew the table is there to show. */
static int insert_labels(db_store *s, int64_t run_id, const db_worker *workers,
                         size_t n)
{
    sqlite3_stmt *st = s->label_one;
    for (size_t i = 0; i < n; i++) {
        const db_worker *w = &workers[i];
        for (size_t c = 0; w->label_rows && c < w->n_labels; c++) {
            int rc;
            (void)(((rc = sqlite3_bind_int64(st, 1, run_id)) == SQLITE_OK) &&
                   ((rc = sqlite3_bind_int(st, 2, w->worker)) == SQLITE_OK) &&
                   ((rc = sqlite3_bind_int64(st, 3, (int64_t)c)) ==
                    SQLITE_OK) &&
                   ((rc = sqlite3_bind_int64(st, 4, w->label_rows[c])) ==
                    SQLITE_OK));
            if (rc != SQLITE_OK) {
                sqlite3_clear_bindings(st);
                return rc;
            }
            if ((rc = step_once(st)) != SQLITE_OK)
                return rc;
        }
    }
    return SQLITE_OK;
}

static int insert_links(db_store *s, int64_t run_id, const db_run_result *r)
{
    sqlite3_stmt *st = s->link_one;
    for (size_t i = 0; r->links && i < r->n_links; i++) {
        const db_link *l = &r->links[i];
        int rc;
        (void)(((rc = sqlite3_bind_int64(st, 1, run_id)) == SQLITE_OK) &&
               ((rc = sqlite3_bind_int(st, 2, l->link)) == SQLITE_OK) &&
               ((rc = sqlite3_bind_text(st, 3, l->name, -1, SQLITE_STATIC)) ==
                SQLITE_OK) &&
               ((rc = sqlite3_bind_int64(st, 4, (int64_t)l->bytes)) ==
                SQLITE_OK) &&
               ((rc = sqlite3_bind_double(st, 5, l->busy_seconds)) ==
                SQLITE_OK));
        if (rc != SQLITE_OK) {
            sqlite3_clear_bindings(st);
            return rc;
        }
        if ((rc = step_once(st)) != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

static int put_result(db_store *s, int64_t run_id, const db_run_result *r)
{
    sqlite3_stmt *st = s->run_update;
    int rc;
    (void)(((rc = sqlite3_bind_int64(st, 1, run_id)) == SQLITE_OK) &&
           ((rc = bind_text(st, 2, db_status_name(r->status))) == SQLITE_OK) &&
           ((rc = bind_text(st, 3, r->error)) == SQLITE_OK) &&
           ((rc = bind_real(st, 4, r->wall_seconds)) == SQLITE_OK) &&
           ((rc = bind_real(st, 5, r->sim_seconds)) == SQLITE_OK) &&
           ((rc = bind_u64(st, 6, r->total_bytes)) == SQLITE_OK) &&
           ((rc = bind_u64(st, 7, r->total_messages)) == SQLITE_OK) &&
           ((rc = sqlite3_bind_int64(st, 8, r->steps)) == SQLITE_OK) &&
           ((rc = bind_real(st, 9, r->final_accuracy)) == SQLITE_OK) &&
           ((rc = bind_real(st, 10, r->final_loss)) == SQLITE_OK) &&
           ((rc = step_once(st)) == SQLITE_OK));
    if (rc != SQLITE_OK)
        sqlite3_clear_bindings(st);
    return rc;
}

int db_run_add_metrics(db_store *db, int64_t run_id, const db_metric *metrics,
                       size_t n, sim_err *err)
{
    if (!db || (n && !metrics))
        return sim_err_set(err, SIM_EINVAL,
                           "db_run_add_metrics: NULL argument");
    if (db->sink || !db->in_batch)
        return sim_err_set(err, SIM_EINVAL,
                           "db_run_add_metrics: needs a database store with "
                           "a batch open");
    if (insert_metrics(db, run_id, metrics, n) != SQLITE_OK)
        return sim_err_set(err, SIM_EDB, "%s: cannot write run %lld: %s",
                           db->path, (long long)run_id, sqlite3_errmsg(db->db));
    return 0;
}

int db_run_finish(db_store *db, int64_t run_id, const db_run_result *res,
                  const db_metric *metrics, size_t n_metrics,
                  const db_worker *workers, size_t n_workers,
                  const db_event *events, size_t n_events, sim_err *err)
{
    if (!db || !res || (n_metrics && !metrics) || (n_workers && !workers) ||
        (n_events && !events))
        return sim_err_set(err, SIM_EINVAL, "db_run_finish: NULL argument");
    if (res->status != DB_STATUS_DONE && res->status != DB_STATUS_DIVERGED &&
        res->status != DB_STATUS_FAILED)
        return sim_err_set(err, SIM_EINVAL,
                           "db_run_finish: run %lld: final status must be "
                           "done, diverged or failed",
                           (long long)run_id);
    if (db->sink) {
        if (run_id != db->sink_running || run_id == 0)
            return sim_err_set(err, SIM_EDB,
                               "%s: run %lld is not running (no such run, or "
                               "already finished)",
                               db->path, (long long)run_id);
        int code = db->sink(db->sink_ctx, res, metrics, n_metrics, workers,
                            n_workers, events, n_events, err);
        if (code == 0)
            db->sink_running = 0;
        return code;
    }

    int code;
    int rc = db->in_batch ? SQLITE_OK : step_once(db->begin);
    if (rc != SQLITE_OK)
        goto fail;
    /* The status row goes first: it rejects an unknown or already finished
     * run before any row is written, with a clearer message than the
     * foreign key would give. */
    if ((rc = put_result(db, run_id, res)) != SQLITE_OK)
        goto fail;
    if (sqlite3_changes(db->db) != 1) {
        if (!db->in_batch)
            rollback(db);
        return sim_err_set(err, SIM_EDB,
                           "%s: run %lld is not running (no such run, or "
                           "already finished)",
                           db->path, (long long)run_id);
    }
    rc = insert_metrics(db, run_id, metrics, n_metrics);
    if (rc == SQLITE_OK)
        rc = insert_workers(db, run_id, workers, n_workers);
    if (rc == SQLITE_OK)
        rc = insert_staleness(db, run_id, workers, n_workers);
    if (rc == SQLITE_OK)
        rc = insert_labels(db, run_id, workers, n_workers);
    if (rc == SQLITE_OK)
        rc = insert_links(db, run_id, res);
    if (rc == SQLITE_OK)
        rc = insert_rows(db, &db->events, bind_event, run_id, events, n_events,
                         sizeof *events);
    if (rc != SQLITE_OK)
        goto fail;
    if (!db->in_batch && (rc = step_once(db->commit)) != SQLITE_OK)
        goto fail;
    return 0;

fail:
    /* The message first: ROLLBACK replaces SQLite's error text. */
    code = sim_err_set(err, SIM_EDB, "%s: cannot write run %lld: %s", db->path,
                       (long long)run_id, sqlite3_errmsg(db->db));
    if (!db->in_batch)
        rollback(db);
    return code;
}
