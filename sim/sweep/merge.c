/* merge.c: `dtsim merge OUT DB...`: the shards of a sweep in one database.
 *
 * Runs are matched by (sweep fingerprint, run index): shards of one sweep
 * share the fingerprint, so their runs land in one sweep of OUT (shard
 * NULL). For an index OUT already has, a finished run (done or diverged)
 * replaces a failed or unfinished one; two finished runs must agree on every
 * column that depends only on config and seed, or the merge stops with an
 * error (a conflicting duplicate); agreeing duplicates are skipped. So
 * merging the same shard twice changes nothing. Each input is merged in one
 * transaction. Runs that belong to no sweep are not copied (they are not
 * shards of anything); the count is reported.
 *
 * Column lists are read from the databases (PRAGMA table_info), so columns
 * the store adds later are copied too. */
#include "sweep.h"
#include "sweep_internal.h"

#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_INPUT 2
#define EXIT_INTERNAL 1

const char merge_usage[] =
    "usage: dtsim merge OUT DB...\n"
    "\n"
    "Copies the sweep runs of each DB (typically the databases of `dtsim "
    "sweep\n"
    "--shard I/N`) into OUT (created if missing). Runs of the same sweep and\n"
    "index are stored once: a finished run replaces a failed one, identical\n"
    "duplicates are skipped, and conflicting duplicates (the same run with\n"
    "different results) are an error.\n";

typedef struct merger {
    sqlite3 *db;
    const char *out, *in;
    sim_err *err;
    char run_cols[1024], run_cmp[1024];
    char tables[SW__MAX_RUN_TABLES][64]; /* metrics, workers, events, ... */
    int n_tables;
    char cols[SW__MAX_RUN_TABLES][1024]; /* their columns but run_id */
    long copied, same, replaced, incomplete, loose;
} merger;

static int sqlf(merger *m, const char *where)
{
    return sim_err_set(m->err, SIM_EDB, "%s: %s: %s", where, m->out,
                       sqlite3_errmsg(m->db));
}

static int exec(merger *m, const char *sql)
{
    return sqlite3_exec(m->db, sql, NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : sqlf(m, m->in);
}

/* Columns of table in both main and src, minus the excluded, as "a, b". */
static int columns(merger *m, const char *table, const char *const *exclude,
                   char *out, size_t cap)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT name FROM pragma_table_info('%s', 'main') WHERE name IN "
             "(SELECT name FROM pragma_table_info('%s', 'src')) ORDER BY cid",
             table, table);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sqlf(m, m->in);
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(st, 0);
        int skip = 0;
        for (size_t i = 0; exclude[i]; i++)
            skip |= strcmp(c, exclude[i]) == 0;
        if (!skip && strlen(out) + strlen(c) + 8 < cap)
            snprintf(out + strlen(out), cap - strlen(out), "%s\"%s\"",
                     out[0] ? ", " : "", c);
    }
    sqlite3_finalize(st);
    if (!out[0])
        return sim_err_set(m->err, SIM_EDATA, "%s: table %s has no columns",
                           m->in, table);
    return 0;
}

/* The src tables that hold a run's rows; each must exist in OUT. */
static int child_columns(merger *m, const char *const *exclude)
{
    m->n_tables = sw__run_tables(m->db, "src", m->tables, SW__MAX_RUN_TABLES);
    if (m->n_tables < 0)
        return sqlf(m, m->in);
    for (int t = 0; t < m->n_tables; t++) {
        char sql[160];
        snprintf(sql, sizeof sql,
                 "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND "
                 "name = '%s'",
                 m->tables[t]);
        sqlite3_stmt *st;
        int found = 0;
        if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) == SQLITE_OK) {
            found = sqlite3_step(st) == SQLITE_ROW;
            sqlite3_finalize(st);
        }
        if (!found)
            return sim_err_set(m->err, SIM_EDB,
                               "%s: has no table %s, which %s has (made by "
                               "an older dtsim?)",
                               m->out, m->tables[t], m->in);
        int rc =
            columns(m, m->tables[t], exclude, m->cols[t], sizeof m->cols[t]);
        if (rc)
            return rc;
    }
    return 0;
}

static int scalar(merger *m, const char *sql, sqlite3_int64 a, sqlite3_int64 b,
                  sqlite3_int64 *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sqlf(m, m->in);
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? (rc == SQLITE_ROW ? 0 : 1)
                                                 : sqlf(m, m->in);
}

/* Whether src run a and main run b have the same rows in every column that
 * depends only on config and seed. */
static int same_run(merger *m, sqlite3_int64 a, sqlite3_int64 b, int *same)
{
    char sql[8192];
    sqlite3_int64 v = 0;
    *same = 1;
    for (int t = -1; t < m->n_tables && *same; t++) {
        const char *table = t < 0 ? "runs" : m->tables[t];
        const char *cols = t < 0 ? m->run_cmp : m->cols[t];
        snprintf(sql, sizeof sql,
                 "SELECT (SELECT count(*) FROM src.%s WHERE run_id = ?1) = "
                 "(SELECT count(*) FROM main.%s WHERE run_id = ?2) AND NOT "
                 "EXISTS (SELECT %s FROM src.%s WHERE run_id = ?1 EXCEPT "
                 "SELECT %s FROM main.%s WHERE run_id = ?2) AND NOT EXISTS "
                 "(SELECT %s FROM main.%s WHERE run_id = ?2 EXCEPT SELECT %s "
                 "FROM src.%s WHERE run_id = ?1)",
                 table, table, cols, table, cols, table, cols, table, cols,
                 table);
        int rc = scalar(m, sql, a, b, &v);
        if (rc < 0)
            return rc;
        *same = v != 0;
    }
    return 0;
}

static int delete_run(merger *m, sqlite3_int64 id)
{
    char sql[256];
    int rc = 0;
    for (int t = 0; !rc && t < m->n_tables; t++) {
        snprintf(sql, sizeof sql, "DELETE FROM main.\"%s\" WHERE run_id = %lld",
                 m->tables[t], (long long)id);
        rc = exec(m, sql);
    }
    if (!rc) {
        snprintf(sql, sizeof sql,
                 "DELETE FROM main.sweep_runs WHERE run_id = %lld;"
                 "DELETE FROM main.runs WHERE run_id = %lld;",
                 (long long)id, (long long)id);
        rc = exec(m, sql);
    }
    return rc;
}

static int copy_run(merger *m, sqlite3_int64 src_id, sqlite3_int64 sweep,
                    sqlite3_int64 idx, const char *label)
{
    char sql[4096];
    snprintf(sql, sizeof sql,
             "INSERT INTO main.runs(%s) SELECT %s FROM src.runs WHERE run_id "
             "= %lld",
             m->run_cols, m->run_cols, (long long)src_id);
    int rc = exec(m, sql);
    if (rc)
        return rc;
    sqlite3_int64 id = sqlite3_last_insert_rowid(m->db);
    for (int t = 0; t < m->n_tables; t++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO main.\"%s\"(run_id, %s) SELECT %lld, %s FROM "
                 "src.\"%s\" WHERE run_id = %lld ORDER BY rowid",
                 m->tables[t], m->cols[t], (long long)id, m->cols[t],
                 m->tables[t], (long long)src_id);
        if ((rc = exec(m, sql)))
            return rc;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(m->db,
                           "INSERT INTO main.sweep_runs(sweep_id, idx, label, "
                           "run_id) VALUES(?1, ?2, ?3, ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        return sqlf(m, m->in);
    sqlite3_bind_int64(st, 1, sweep);
    sqlite3_bind_int64(st, 2, idx);
    sqlite3_bind_text(st, 3, label, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, id);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sqlf(m, m->in);
    sqlite3_finalize(st);
    return rc;
}

static int finished(const char *status)
{
    return status &&
           (strcmp(status, "done") == 0 || strcmp(status, "diverged") == 0);
}

/* The sweep of OUT that collects src sweep ss: same fingerprint, no shard. */
static int dest_sweep(merger *m, sqlite3_int64 ss, sqlite3_int64 *out)
{
    sqlite3_int64 v = 0;
    int rc = scalar(m,
                    "SELECT d.sweep_id FROM main.sweeps d, src.sweeps s WHERE "
                    "s.sweep_id = ?1 AND d.fingerprint = s.fingerprint AND "
                    "d.shard IS NULL ORDER BY d.sweep_id LIMIT 1",
                    ss, 0, &v);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        *out = v;
        return 0;
    }
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO main.sweeps(name, spec_path, spec_json, "
             "fingerprint, n_runs, shard, created_at) SELECT name, spec_path, "
             "spec_json, fingerprint, n_runs, NULL, created_at FROM "
             "src.sweeps WHERE sweep_id = %lld",
             (long long)ss);
    if ((rc = exec(m, sql)))
        return rc;
    *out = sqlite3_last_insert_rowid(m->db);
    /* Axis values are a function of the spec: every shard has all of them. */
    snprintf(sql, sizeof sql,
             "INSERT INTO main.sweep_values(sweep_id, idx, axis, value) "
             "SELECT %lld, idx, axis, value FROM src.sweep_values WHERE "
             "sweep_id = %lld",
             (long long)*out, (long long)ss);
    return exec(m, sql);
}

static int merge_sweeps(merger *m)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(m->db,
                           "SELECT sr.sweep_id, sr.idx, sr.label, sr.run_id, "
                           "r.status FROM src.sweep_runs sr JOIN src.runs r "
                           "USING (run_id) ORDER BY sr.sweep_id, sr.idx",
                           -1, &st, NULL) != SQLITE_OK)
        return sqlf(m, m->in);
    sqlite3_int64 cur_src = -1, dest = 0;
    int rc = 0, step;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 ss = sqlite3_column_int64(st, 0);
        sqlite3_int64 idx = sqlite3_column_int64(st, 1);
        const char *label = (const char *)sqlite3_column_text(st, 2);
        sqlite3_int64 run = sqlite3_column_int64(st, 3);
        const char *status = (const char *)sqlite3_column_text(st, 4);
        if (ss != cur_src) {
            if ((rc = dest_sweep(m, ss, &dest)))
                break;
            cur_src = ss;
        }
        if (!finished(status) && !(status && strcmp(status, "failed") == 0)) {
            m->incomplete++;
            continue;
        }
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(m->db,
                               "SELECT sr.run_id, r.status FROM "
                               "main.sweep_runs sr JOIN main.runs r USING "
                               "(run_id) WHERE sr.sweep_id = ?1 AND sr.idx = "
                               "?2",
                               -1, &q, NULL) != SQLITE_OK) {
            rc = sqlf(m, m->in);
            break;
        }
        sqlite3_bind_int64(q, 1, dest);
        sqlite3_bind_int64(q, 2, idx);
        int have = sqlite3_step(q) == SQLITE_ROW;
        sqlite3_int64 old = have ? sqlite3_column_int64(q, 0) : 0;
        int old_finished =
            have && finished((const char *)sqlite3_column_text(q, 1));
        sqlite3_finalize(q);
        if (!have) {
            rc = copy_run(m, run, dest, idx, label);
            m->copied += !rc;
        } else if (!old_finished && finished(status)) {
            if (!(rc = delete_run(m, old)) &&
                !(rc = copy_run(m, run, dest, idx, label)))
                m->replaced++;
        } else if (!finished(status) || !old_finished) {
            m->same++; /* a failed run adds nothing to what OUT has */
        } else {
            int same;
            if (!(rc = same_run(m, run, old, &same))) {
                if (!same)
                    rc = sim_err_set(m->err, SIM_EDATA,
                                     "%s: run %lld (sweep index %lld, %s) "
                                     "conflicts with run %lld of %s: same "
                                     "sweep and index, different results",
                                     m->in, (long long)run, (long long)idx,
                                     label ? label : "?", (long long)old,
                                     m->out);
                else
                    m->same++;
            }
        }
    }
    if (!rc && step != SQLITE_DONE)
        rc = sqlf(m, m->in);
    sqlite3_finalize(st);
    return rc;
}

static int merge_one(merger *m)
{
    sqlite3_stmt *st;
    int rc;
    if (access(m->in, R_OK) != 0)
        return sim_err_set(m->err, SIM_EDATA, "%s: cannot read", m->in);
    if (sqlite3_prepare_v2(m->db, "ATTACH DATABASE ?1 AS src", -1, &st, NULL) !=
        SQLITE_OK)
        return sqlf(m, m->in);
    sqlite3_bind_text(st, 1, m->in, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sqlf(m, m->in);
    sqlite3_int64 v = 0;
    rc = scalar(m,
                "SELECT count(*) FROM src.sqlite_master WHERE name = 'meta' "
                "AND type = 'table'",
                0, 0, &v);
    if (rc == 0 && v == 1) {
        char *val = NULL;
        if (sqlite3_prepare_v2(m->db,
                               "SELECT value FROM src.meta WHERE key = "
                               "'schema'",
                               -1, &st, NULL) == SQLITE_OK) {
            if (sqlite3_step(st) == SQLITE_ROW)
                val = strdup((const char *)sqlite3_column_text(st, 0));
            sqlite3_finalize(st);
        }
        v = val && strcmp(val, "dtsim-1") == 0;
        free(val);
    } else if (rc == 0) {
        v = 0;
    }
    if (rc < 0 || !v) {
        if (rc >= 0)
            rc = sim_err_set(m->err, SIM_EDATA, "%s: not a dtsim database",
                             m->in);
        sqlite3_exec(m->db, "DETACH DATABASE src", NULL, NULL, NULL);
        return rc;
    }
    static const char *const run_id[] = {"run_id", NULL};
    static const char *const nondet[] = {"run_id", "started_at", "wall_seconds",
                                         "dtsim_version", NULL};
    sqlite3_int64 has_sweeps = 0;
    if (!(rc = columns(m, "runs", run_id, m->run_cols, sizeof m->run_cols)) &&
        !(rc = columns(m, "runs", nondet, m->run_cmp, sizeof m->run_cmp)) &&
        !(rc = child_columns(m, run_id)) &&
        (rc = scalar(m,
                     "SELECT count(*) FROM src.sqlite_master WHERE name = "
                     "'sweep_runs'",
                     0, 0, &has_sweeps)) >= 0) {
        rc = exec(m, "BEGIN IMMEDIATE");
        if (!rc && has_sweeps)
            rc = merge_sweeps(m);
        sqlite3_int64 loose = 0;
        if (!rc)
            rc = scalar(m,
                        has_sweeps ? "SELECT count(*) FROM src.runs WHERE "
                                     "run_id NOT IN (SELECT run_id FROM "
                                     "src.sweep_runs)"
                                   : "SELECT count(*) FROM src.runs",
                        0, 0, &loose);
        if (rc > 0)
            rc = 0;
        m->loose += loose;
        if (!rc)
            rc = exec(m, "COMMIT");
        if (rc && !sqlite3_get_autocommit(m->db))
            sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_exec(m->db, "DETACH DATABASE src", NULL, NULL, NULL);
    return rc < 0 ? rc : 0;
}

int merge_main(int argc, char **argv)
{
    if (argc > 0 &&
        (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        fputs(merge_usage, stdout);
        return 0;
    }
    for (int i = 0; i < argc; i++)
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "dtsim: merge: unknown option %s\n%s", argv[i],
                    merge_usage);
            return EXIT_INPUT;
        }
    if (argc < 2) {
        fprintf(stderr, "dtsim: merge: expected OUT and at least one DB\n%s",
                merge_usage);
        return EXIT_INPUT;
    }
    const char *out = argv[0];
    char out_real[PATH_MAX], in_real[PATH_MAX];
    int out_exists = realpath(out, out_real) != NULL;
    for (int i = 1; i < argc; i++) {
        if (access(argv[i], R_OK) != 0) {
            fprintf(stderr, "dtsim: %s: cannot read\n", argv[i]);
            return EXIT_INPUT;
        }
        if (out_exists && realpath(argv[i], in_real) &&
            strcmp(in_real, out_real) == 0) {
            fprintf(stderr, "dtsim: merge: %s is OUT itself\n", argv[i]);
            return EXIT_INPUT;
        }
    }
    sim_err err = {0};
    db_store *store = NULL;
    if (db_open(out, &store, &err)) {
        fprintf(stderr, "dtsim: %s\n", err.msg);
        return sim_err_is_input(err.code) ? EXIT_INPUT : EXIT_INTERNAL;
    }
    merger m = {.db = db_handle(store), .out = out, .err = &err};
    int rc = sw__db_tables(m.db, out, &err);
    for (int i = 1; !rc && i < argc; i++) {
        m.in = argv[i];
        rc = merge_one(&m);
    }
    db_close(store);
    if (rc) {
        fprintf(stderr, "dtsim: %s\n", err.msg);
        return sim_err_is_input(err.code) ? EXIT_INPUT : EXIT_INTERNAL;
    }
    printf("merged into %s: %ld runs copied, %ld replaced failed runs, %ld "
           "duplicates skipped, %ld unfinished skipped, %ld runs in no sweep "
           "not copied\n",
           out, m.copied, m.replaced, m.same, m.incomplete, m.loose);
    return 0;
}
