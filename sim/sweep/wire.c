/* wire.c: a run's outcome as bytes, and writing it into the results
 * database; the sweep tables.
 *
 * A worker stores its run with the runner, exactly as `dtsim run` would,
 * into a private in-memory database, and sends the serialized image of that
 * database. The writer attaches the image and copies the run's row and every
 * row that references it (any table with a run_id column) into the results
 * database with column lists read from the schema, in one transaction. The
 * cost is one in-memory schema per run in the worker and one INSERT ...
 * SELECT per table in the writer; what it buys is that no layout of a row
 * struct crosses a pipe or the network, and that every table the store
 * writes now or later reaches the results database. */
#include "sweep_internal.h"

#include "../run/runner.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef DTSIM_VERSION
#define DTSIM_VERSION "unknown"
#endif

/* First byte of an encoded result. */
#define KIND_IMAGE 'D'
#define KIND_ERROR 'E'
#define IN_SCHEMA "sweep_in"

static int buf_put(sw__buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q)
            return SIM_ENOMEM;
        b->p = q;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

void sw__buf_free(sw__buf *b)
{
    free(b->p);
    *b = (sw__buf){0};
}

/* Whether the in-memory database holds one finished run. */
static int has_finished_run(sqlite3 *db)
{
    sqlite3_stmt *st;
    int n = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM runs WHERE status <> "
                           "'running'",
                           -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    return n == 1;
}

int sw__run_encode(const sw__job *j, sw__buf *b)
{
    b->len = 0;
    sim_err err = {0};
    db_store *mem = NULL;
    int rc = db_open(":memory:", &mem, &err);
    if (!rc) {
        /* A shallow copy: the job's data is shared and outlives the run. */
        rn_job job = {.cfg = j->cfg, .ops = j->ops, .data = *j->data};
        rn_summary sum;
        rc = rn_job_run(&job, mem, DTSIM_VERSION, &sum, &err);
        /* A run that could not start is still stored, as failed. */
        if (has_finished_run(db_handle(mem))) {
            sqlite3_int64 size = 0;
            unsigned char *img =
                sqlite3_serialize(db_handle(mem), "main", &size, 0);
            if (img) {
                char kind = KIND_IMAGE;
                rc = buf_put(b, &kind, 1);
                if (!rc)
                    rc = buf_put(b, img, (size_t)size);
                sqlite3_free(img);
                db_close(mem);
                return rc;
            }
            sim_err_set(&err, SIM_ENOMEM, "cannot serialize the run");
        }
    }
    db_close(mem);
    b->len = 0;
    char kind = KIND_ERROR;
    if (!err.msg[0])
        snprintf(err.msg, sizeof err.msg, "run not stored");
    rc = buf_put(b, &kind, 1);
    return rc ? rc : buf_put(b, err.msg, strlen(err.msg));
}

int sw__result_decode(unsigned char *p, size_t len, sw__result *r, sim_err *err)
{
    memset(r, 0, sizeof *r);
    if (len < 1 || (p[0] != KIND_IMAGE && p[0] != KIND_ERROR)) {
        free(p);
        return sim_err_set(err, SIM_EINTERNAL, "malformed run result");
    }
    if (p[0] == KIND_ERROR) {
        size_t n =
            len - 1 < sizeof r->error - 1 ? len - 1 : sizeof r->error - 1;
        memcpy(r->error, p + 1, n);
        r->error[n] = '\0';
        free(p);
        return 0;
    }
    /* SQLite frees what it is given with sqlite3_free. */
    r->image = sqlite3_malloc64(len - 1);
    if (!r->image) {
        free(p);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    memcpy(r->image, p + 1, len - 1);
    r->len = len - 1;
    free(p);
    return 0;
}

void sw__result_failed(sw__result *r, const char *msg)
{
    memset(r, 0, sizeof *r);
    snprintf(r->error, sizeof r->error, "%s", msg);
}

void sw__result_free(sw__result *r)
{
    sqlite3_free(r->image);
    r->image = NULL;
    r->len = 0;
}

/* ----------------------------------------------------------- the writer */

struct sw__writer {
    db_store *store;
    sqlite3 *db;
    const char *path;
    char *update_sql;  /* the runs row: every column but run_id */
    char **insert_sql; /* one per table that references runs */
    size_t n_tables;
};

static int wfail(sw__writer *w, sim_err *err)
{
    return sim_err_set(err, SIM_EDB, "%s: cannot store a sweep run: %s",
                       w->path, sqlite3_errmsg(w->db));
}

/* The columns of table in both the image and the results database, minus
 * run_id, as "\"a\", \"b\"". NULL when out of memory or none. */
static char *common_columns(sqlite3 *db, const char *table)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT name FROM pragma_table_info(?1, '" IN_SCHEMA
                           "') WHERE name <> 'run_id' AND name IN (SELECT "
                           "name FROM pragma_table_info(?1, 'main')) ORDER "
                           "BY cid",
                           -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_TRANSIENT);
    size_t len = 0, cap = 256;
    char *s = malloc(cap);
    if (s)
        s[0] = '\0';
    while (s && sqlite3_step(st) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(st, 0);
        size_t need = len + strlen(c) + 5;
        if (need > cap) {
            char *t = realloc(s, cap = 2 * need);
            if (!t)
                free(s);
            s = t;
            if (!s)
                break;
        }
        len += (size_t)sprintf(s + len, "%s\"%s\"", len ? ", " : "", c);
    }
    sqlite3_finalize(st);
    if (s && !len) {
        free(s);
        s = NULL;
    }
    return s;
}

static char *sql_printf(const char *fmt, const char *a, const char *b,
                        const char *c)
{
    int n = snprintf(NULL, 0, fmt, a, b, c);
    char *s = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (s)
        snprintf(s, (size_t)n + 1, fmt, a, b, c);
    return s;
}

/* Reads the image's tables once, from the first image: every image comes
 * from this binary's store, so they all have the same schema. */
static int plan(sw__writer *w, sim_err *err)
{
    char *cols = common_columns(w->db, "runs");
    if (!cols)
        return sim_err_set(err, SIM_EDB, "%s: no runs columns in common",
                           w->path);
    w->update_sql = sql_printf("UPDATE main.runs SET (%s) = (SELECT %s FROM "
                               "%s.runs) WHERE run_id = ?1 AND status = "
                               "'running'",
                               cols, cols, IN_SCHEMA);
    free(cols);
    if (!w->update_sql)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(w->db,
                           "SELECT m.name, (SELECT count(*) FROM "
                           "main.sqlite_master d WHERE d.type = 'table' AND "
                           "d.name = m.name) FROM " IN_SCHEMA
                           ".sqlite_master m WHERE m.type = 'table' AND "
                           "m.name NOT IN ('runs', 'meta') AND EXISTS (SELECT "
                           "1 FROM pragma_table_info(m.name, '" IN_SCHEMA
                           "') WHERE name = 'run_id') ORDER BY m.name",
                           -1, &st, NULL) != SQLITE_OK)
        return wfail(w, err);
    int rc = 0;
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (sqlite3_column_int(st, 1) == 0) {
            rc = sim_err_set(err, SIM_EDB,
                             "%s: has no table %s (made by an older dtsim?)",
                             w->path, t);
            break;
        }
        char *c = common_columns(w->db, t);
        char **v = realloc(w->insert_sql, (w->n_tables + 1) * sizeof *v);
        if (!c || !v) {
            free(c);
            if (v)
                w->insert_sql = v;
            rc = sim_err_set(err, SIM_ENOMEM, "out of memory");
            break;
        }
        w->insert_sql = v;
        /* %s thrice: table, columns, columns; the table name comes from
         * our own schema. */
        char *sql = malloc(strlen(t) * 2 + strlen(c) * 2 + 128);
        if (sql)
            sprintf(sql,
                    "INSERT INTO main.\"%s\"(run_id, %s) SELECT ?1, %s FROM "
                    "%s.\"%s\" ORDER BY rowid",
                    t, c, c, IN_SCHEMA, t);
        free(c);
        if (!sql) {
            rc = sim_err_set(err, SIM_ENOMEM, "out of memory");
            break;
        }
        w->insert_sql[w->n_tables++] = sql;
    }
    sqlite3_finalize(st);
    return rc;
}

int sw__writer_create(db_store *store, const char *path, sw__writer **out,
                      sim_err *err)
{
    *out = NULL;
    sw__writer *w = calloc(1, sizeof *w);
    if (!w)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    w->store = store;
    w->db = db_handle(store);
    w->path = path;
    if (sqlite3_exec(w->db, "ATTACH DATABASE ':memory:' AS " IN_SCHEMA, NULL,
                     NULL, NULL) != SQLITE_OK) {
        int rc = wfail(w, err);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void sw__writer_destroy(sw__writer *w)
{
    if (!w)
        return;
    sqlite3_exec(w->db, "DETACH DATABASE " IN_SCHEMA, NULL, NULL, NULL);
    free(w->update_sql);
    for (size_t i = 0; i < w->n_tables; i++)
        free(w->insert_sql[i]);
    free(w->insert_sql);
    free(w);
}

static int step_bound(sw__writer *w, const char *sql, int64_t run_id,
                      int *changes)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(w->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (changes)
        *changes = sqlite3_changes(w->db);
    return rc == SQLITE_DONE ? 0 : -1;
}

static db_status status_of(const char *s)
{
    if (s && strcmp(s, "done") == 0)
        return DB_STATUS_DONE;
    if (s && strcmp(s, "diverged") == 0)
        return DB_STATUS_DIVERGED;
    return DB_STATUS_FAILED;
}

int sw__writer_put(sw__writer *w, int64_t run_id, sw__result *r,
                   db_status *status, sim_err *err)
{
    if (!r->image) {
        db_run_result res = {.status = DB_STATUS_FAILED,
                             .error = r->error,
                             .final_accuracy = NAN,
                             .final_loss = NAN};
        *status = DB_STATUS_FAILED;
        return db_run_finish(w->store, run_id, &res, NULL, 0, NULL, 0, NULL, 0,
                             err);
    }
    unsigned char *img = r->image;
    r->image = NULL; /* SQLite owns it from here, even on failure */
    if (sqlite3_deserialize(w->db, IN_SCHEMA, img, (sqlite3_int64)r->len,
                            (sqlite3_int64)r->len,
                            SQLITE_DESERIALIZE_FREEONCLOSE) != SQLITE_OK)
        return wfail(w, err);
    if (!w->update_sql) {
        int rc = plan(w, err);
        if (rc)
            return rc;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(w->db,
                           "SELECT status, error FROM " IN_SCHEMA ".runs", -1,
                           &st, NULL) != SQLITE_OK)
        return wfail(w, err);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *status = status_of((const char *)sqlite3_column_text(st, 0));
        const char *e = (const char *)sqlite3_column_text(st, 1);
        snprintf(r->error, sizeof r->error, "%s", e ? e : "");
    }
    sqlite3_finalize(st);

    if (sqlite3_exec(w->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return wfail(w, err);
    int changes = 0;
    int rc = step_bound(w, w->update_sql, run_id, &changes);
    if (!rc && changes != 1) {
        sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
        return sim_err_set(err, SIM_EDB,
                           "%s: run %lld is not running (no such run, or "
                           "already finished)",
                           w->path, (long long)run_id);
    }
    for (size_t i = 0; !rc && i < w->n_tables; i++)
        rc = step_bound(w, w->insert_sql[i], run_id, NULL);
    if (!rc && sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = -1;
    if (rc) {
        int code = wfail(w, err);
        if (!sqlite3_get_autocommit(w->db))
            sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
        return code;
    }
    return 0;
}

/* ------------------------------------------------------- sweep tables */

/* sweeps: one row per sweep started (a resumed sweep keeps its row);
 * fingerprint identifies the expansion (every run's label and full config),
 * so a resume only ever continues the very same runs. sweep_runs maps each
 * run of a sweep to its runs row; (sweep_id, idx) is its key, so a sweep
 * never holds two runs for one index. sweep_values holds each run's value
 * of each axis (and its seed) under the axis name, numbers as numbers and
 * anything else as its label, so queries can group by axis. */
static const char tables_sql[] =
    "CREATE TABLE IF NOT EXISTS sweeps("
    " sweep_id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " spec_path TEXT,"
    " spec_json TEXT,"
    " fingerprint TEXT NOT NULL,"
    " n_runs INTEGER NOT NULL,"
    " shard TEXT,"
    " created_at TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sweep_runs("
    " sweep_id INTEGER NOT NULL REFERENCES sweeps(sweep_id),"
    " idx INTEGER NOT NULL,"
    " label TEXT NOT NULL,"
    " run_id INTEGER NOT NULL UNIQUE REFERENCES runs(run_id),"
    " PRIMARY KEY (sweep_id, idx));"
    "CREATE TABLE IF NOT EXISTS sweep_values("
    " sweep_id INTEGER NOT NULL REFERENCES sweeps(sweep_id),"
    " idx INTEGER NOT NULL,"
    " axis TEXT NOT NULL,"
    " value,"
    " PRIMARY KEY (sweep_id, idx, axis));";

int sw__run_tables(struct sqlite3 *db, const char *schema, char (*names)[64],
                   int cap)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT m.name FROM \"%s\".sqlite_master m WHERE m.type = "
             "'table' AND m.name NOT IN ('runs', 'sweep_runs') AND EXISTS "
             "(SELECT 1 FROM pragma_table_info(m.name, '%s') WHERE name = "
             "'run_id') ORDER BY m.name",
             schema, schema);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (n == cap || strlen(t) >= 64) {
            rc = SQLITE_ERROR;
            break;
        }
        strcpy(names[n++], t);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -1;
}

int sw__db_tables(struct sqlite3 *db, const char *path, sim_err *err)
{
    if (sqlite3_exec(db, tables_sql, NULL, NULL, NULL) != SQLITE_OK)
        return sim_err_set(err, SIM_EDB, "%s: cannot create sweep tables: %s",
                           path, sqlite3_errmsg(db));
    return 0;
}
