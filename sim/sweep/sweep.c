/* sweep.c: `dtsim sweep SPEC`: many runs, in parallel, into one database.
 *
 * The order of things is what makes a sweep safe to kill and to repeat:
 * 1. expand the spec and prepare every run (config, algorithm checks, data)
 *    before the database is opened, so a bad value in any run writes nothing;
 * 2. fork the workers (or use the MPI ranks), which inherit the prepared
 *    runs;
 * 3. hand out runs in index order; only this process writes the database:
 *    a run's runs row ('running') when it is handed out, then all its rows
 *    with its final status in one transaction when its result comes back.
 * Since runs are handed out in index order, a sweep into a new database
 * numbers its runs (run_id) in index order whatever --jobs is; what a run
 * computes depends only on its config and seed.
 *
 * Every runs row a sweep makes is linked to the sweep in sweep_runs by a
 * temporary trigger, inside the same INSERT statement, so no crash can leave
 * a run of the sweep that the sweep does not know about. --resume finds the
 * sweep by its fingerprint (every run's label and full config), keeps the
 * runs that finished (done or diverged) and deletes and reruns the others. */
#include "sweep.h"

#include "../core/cpus.h"
#include "../io/units.h"
#include "../run/runner.h"
#include "spec.h"
#include "sweep_internal.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef DTSIM_VERSION
#define DTSIM_VERSION "unknown"
#endif

#define EXIT_INPUT 2
#define EXIT_INTERNAL 1
#define DEFAULT_DB "results/dtsim.db"

const char sweep_usage[] =
    "usage: dtsim sweep SPEC [--out DB] [--jobs N] [--resume] [--shard I/N]\n"
    "                        [--timeout SECONDS] [--max-memory SIZE] "
    "[--force]\n"
    "                        [--dry-run] [--quiet]\n"
    "\n"
    "Expands the sweep spec SPEC (a base config and axes: grid, zip, seeds,\n"
    "blocks), validates every run and reads its data, then runs them in "
    "parallel\n"
    "and stores every run in DB (default " DEFAULT_DB
    "), linked to the sweep in\n"
    "the sweeps and sweep_runs tables.\n"
    "\n"
    "  --out DB         results database (created if missing; appended to)\n"
    "  --jobs N         worker processes (default: the cores this process may "
    "use)\n"
    "  --resume         continue this sweep in DB: keep the runs that "
    "finished,\n"
    "                   run the rest (those left running or failed) again\n"
    "  --shard I/N      run only the runs whose index is I modulo N; merge "
    "the\n"
    "                   shards' databases with `dtsim merge`\n"
    "  --timeout S      a run taking more than S wall seconds is stopped and\n"
    "                   stored as failed\n"
    "  --max-memory SIZE  refuse the sweep when a run is estimated to need "
    "more\n"
    "                   memory (e.g. 4GiB; default half the physical "
    "memory;\n"
    "                   per run: --jobs N runs N at once)\n"
    "  --force          allow runs estimated at more than 1e10 events\n"
    "  --dry-run        list the runs (index, label, overrides); write "
    "nothing\n"
    "  --quiet          no progress output\n"
    "\n"
    "Under mpirun (when built with MPI), rank 0 writes DB and hands runs to\n"
    "the other ranks.\n"
    "exit status: 0 every run done or diverged, 1 a run failed (or an I/O\n"
    "error), 2 bad input (nothing was run)\n";

typedef struct opts {
    const char *spec, *out;
    int jobs, resume, dry_run, quiet, help;
    long shard_i, shard_n; /* shard_n 0: the whole sweep */
    unsigned timeout_s;
    rn_limits limits;
} opts;

static int usage_error(const char *fmt, const char *arg)
{
    fputs("dtsim: sweep: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    fputs(sweep_usage, stderr);
    return EXIT_INPUT;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_opts(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->out = DEFAULT_DB;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        long v;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = 1;
        } else if (strcmp(a, "--out") == 0) {
            if (!has)
                return usage_error("%s needs a database path", a);
            o->out = argv[++i];
        } else if (strcmp(a, "--jobs") == 0 || strcmp(a, "-j") == 0) {
            if (!has || parse_long(argv[++i], 1, 4096, &v))
                return usage_error("%s: expected a number of jobs in 1..4096",
                                   a);
            o->jobs = (int)v;
        } else if (strcmp(a, "--timeout") == 0) {
            if (!has || parse_long(argv[++i], 1, 86400 * 365, &v))
                return usage_error("%s: expected whole seconds >= 1", a);
            o->timeout_s = (unsigned)v;
        } else if (strcmp(a, "--shard") == 0) {
            if (!has)
                return usage_error("%s needs I/N", a);
            const char *s = argv[++i];
            char buf[64];
            const char *slash = strchr(s, '/');
            if (!slash || (size_t)(slash - s) >= sizeof buf)
                return usage_error("--shard %s: expected I/N with 0 <= I < N",
                                   s);
            memcpy(buf, s, (size_t)(slash - s));
            buf[slash - s] = '\0';
            if (parse_long(slash + 1, 1, 1000000, &o->shard_n) ||
                parse_long(buf, 0, o->shard_n - 1, &o->shard_i))
                return usage_error("--shard %s: expected I/N with 0 <= I < N",
                                   s);
        } else if (strcmp(a, "--resume") == 0) {
            o->resume = 1;
        } else if (strcmp(a, "--dry-run") == 0) {
            o->dry_run = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = 1;
        } else if (strcmp(a, "--max-memory") == 0) {
            double b;
            if (!has || units_parse_size(argv[++i], &b) || !(b > 0))
                return usage_error("%s: expected a size > 0 (e.g. 512MB, "
                                   "4GiB)",
                                   a);
            o->limits.max_memory = b;
        } else if (strcmp(a, "--force") == 0) {
            o->limits.force = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option %s", a);
        } else if (o->spec) {
            return usage_error("one SPEC only (got a second: %s)", a);
        } else {
            o->spec = a;
        }
    }
    if (!o->help && !o->spec)
        return usage_error("%s", "no SPEC given");
    return 0;
}

/* ---------------------------------------------------------- preparation */

/* Data sets shared by runs that read the same file the same way. */
typedef struct data_entry {
    char *key;
    uint64_t hash; /* of key */
    eng_data data;
} data_entry;

typedef struct prepared {
    sw__job *jobs; /* [n_runs] */
    data_entry *data;
    size_t n_data, cap_data;
    /* An open-addressing table over data by key: index + 1, or 0 when
     * free; a power of two at least twice cap_data. A sweep over seeds of
     * synthetic data has a data set per run, and a linear search made
     * preparing 20,000 runs take 4 s (quadratic). */
    size_t *slot, n_slot;
} prepared;

static uint64_t hash_key(const char *k)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    return h;
}

/* Whether a stored config's data cannot depend on the seed: read from
 * files (no generator), split by a file, partitioned contiguously, and no
 * data option this function does not know (it might draw random numbers). */
static int data_is_seedless(const cJSON *data)
{
    static const char *const known[] = {
        "path",        "format",      "header", "label_column",
        "split",       "images",      "labels", "test_images",
        "test_labels", "standardize", "bias",   "partition",
        "n_features",  "zero_based",  "scale",  NULL};
    for (const cJSON *c = data ? data->child : NULL; c; c = c->next) {
        int ok = 0;
        for (size_t i = 0; known[i]; i++)
            ok |= strcmp(c->string, known[i]) == 0;
        if (!ok)
            return 0;
    }
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(data, "format");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(data, "partition");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(data, "split");
    return data && cJSON_GetObjectItemCaseSensitive(s, "file") &&
           (!f ||
            (cJSON_IsString(f) && (strcmp(f->valuestring, "csv") == 0 ||
                                   strcmp(f->valuestring, "libsvm") == 0 ||
                                   strcmp(f->valuestring, "idx") == 0))) &&
           (!p ||
            (cJSON_IsString(p) && strcmp(p->valuestring, "contiguous") == 0));
}

/* The part of a run's full config that its data can depend on: the config
 * minus the sections known to play no part in reading, splitting and
 * partitioning data, and minus the seed when the data cannot depend on it.
 * Anything new in the config format stays in the key, so at worst it keeps
 * two runs from sharing data, never makes them share the wrong data. */
static char *data_key(const char *config_json)
{
    static const char *const unrelated[] = {"name",   "algorithm", "model",
                                            "batch",  "network",   "evaluation",
                                            "output", NULL};
    cJSON *root = cJSON_Parse(config_json);
    if (!root)
        return NULL;
    for (size_t i = 0; unrelated[i]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(root, unrelated[i]);
    if (data_is_seedless(cJSON_GetObjectItemCaseSensitive(root, "data")))
        cJSON_DeleteItemFromObjectCaseSensitive(root, "seed");
    char *t = cJSON_PrintUnformatted(root);
    char *k = t ? strdup(t) : NULL;
    cJSON_free(t);
    cJSON_Delete(root);
    return k;
}

static int get_data(prepared *p, const cfg_experiment *c,
                    const char *config_json, const rn_limits *limits,
                    const eng_data **out, sim_err *err)
{
    char *key = data_key(config_json);
    if (!key)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    uint64_t h = hash_key(key);
    size_t at = (size_t)h & (p->n_slot - 1);
    for (; p->slot[at]; at = (at + 1) & (p->n_slot - 1)) {
        data_entry *e = &p->data[p->slot[at] - 1];
        if (e->hash == h && strcmp(e->key, key) == 0) {
            free(key);
            *out = &e->data;
            return 0;
        }
    }
    if (p->n_data == p->cap_data) {
        /* Jobs point into this array: grow it only while none do. */
        free(key);
        return sim_err_set(err, SIM_EINTERNAL, "data cache full");
    }
    data_entry *d = &p->data[p->n_data];
    int rc = rn_check_data(c, limits, err);
    if (!rc)
        rc = eng_data_load_limited(c, rn_max_memory(limits), &d->data, err);
    if (rc) {
        free(key);
        return rc == SIM_EIO ? (err->code = SIM_EDATA) : rc;
    }
    d->key = key;
    d->hash = h;
    p->slot[at] = ++p->n_data;
    *out = &d->data;
    return 0;
}

static void prepared_free(prepared *p, size_t n_runs)
{
    for (size_t i = 0; p->jobs && i < n_runs; i++) {
        cfg_experiment_free(p->jobs[i].cfg);
        free(p->jobs[i].config_json);
    }
    free(p->jobs);
    for (size_t i = 0; i < p->n_data; i++) {
        eng_data_free(&p->data[i].data);
        free(p->data[i].key);
    }
    free(p->data);
    free(p->slot);
}

/* The message for a run that failed validation: the spec, the run, and
 * (when the config error names a path an axis sets) the axis and value. */
static void blame(const sw_spec *s, const sw_run *r, const sim_err *e,
                  sim_err *out)
{
    int k = sw_run_blame(r, e->msg);
    if (k >= 0)
        sim_err_set(out, e->code,
                    "%s: run %zu (%s): axis \"%s\" (%s) sets %s = %s: %s",
                    s->path, r->idx, r->label, r->origin[k].axis,
                    r->origin[k].where, r->ov[k].path, r->ov[k].value, e->msg);
    else
        sim_err_set(out, e->code, "%s: run %zu (%s): %s", s->path, r->idx,
                    r->label, e->msg);
}

/* Loads every run's config, runs the algorithm's checks and reads the data
 * (once per distinct data set). Data is read only for the runs this process
 * may run (need[i]); every config is checked. */
static int prepare_all(const sw_spec *s, const unsigned char *need,
                       const rn_limits *limits, prepared *p, sim_err *err)
{
    memset(p, 0, sizeof *p);
    p->jobs = calloc(s->n_runs, sizeof *p->jobs);
    p->cap_data = s->n_runs;
    p->data = calloc(p->cap_data, sizeof *p->data);
    for (p->n_slot = 16; p->n_slot < 2 * p->cap_data;)
        p->n_slot *= 2;
    p->slot = calloc(p->n_slot, sizeof *p->slot);
    if (!p->jobs || !p->data || !p->slot)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    size_t n_specs;
    const cfg_algorithm_spec *specs = rn_algorithm_specs(&n_specs);
    for (size_t i = 0; i < s->n_runs; i++) {
        const sw_run *r = &s->runs[i];
        sw__job *j = &p->jobs[i];
        sim_err e = {0};
        int rc = cfg_load_string(s->base_text, s->base_source, specs, n_specs,
                                 r->ov, r->n_ov, &j->cfg, &e);
        if (!rc) {
            j->ops = alg_find(j->cfg->algorithm.name);
            if (!j->ops)
                SIM_PANIC("validated algorithm %s is not registered",
                          j->cfg->algorithm.name);
            if (j->ops->check)
                rc = j->ops->check(j->cfg, &e);
        }
        if (!rc && !(j->config_json = cfg_experiment_to_json(j->cfg)))
            rc = sim_err_set(&e, SIM_ENOMEM, "out of memory");
        if (!rc && need[i])
            rc = get_data(p, j->cfg, j->config_json, limits, &j->data, &e);
        rn_estimate est;
        if (!rc && need[i])
            rc = rn_job_estimate(j->cfg, j->ops, j->data, limits, &est, &e);
        if (rc) {
            if (rc == SIM_EIO)
                e.code = SIM_EDATA;
            blame(s, r, &e, err);
            return err->code;
        }
    }
    return 0;
}

/* FNV-1a over every run's label and full config: equal fingerprints mean
 * the same runs with the same configs, whatever the spec's text. */
static void fingerprint(const sw_spec *s, const prepared *p, char out[17])
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < s->n_runs; i++) {
        const char *parts[2] = {s->runs[i].label, p->jobs[i].config_json};
        for (int k = 0; k < 2; k++)
            for (const unsigned char *c = (const unsigned char *)parts[k];;
                 c++) {
                h = (h ^ *c) * 1099511628211ULL;
                if (!*c)
                    break;
            }
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* ------------------------------------------------------------- database */

static int sql_fail(sqlite3 *db, const char *path, sim_err *err)
{
    return sim_err_set(err, SIM_EDB, "%s: %s", path, sqlite3_errmsg(db));
}

static int exec(sqlite3 *db, const char *path, const char *sql, sim_err *err)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : sql_fail(db, path, err);
}

/* The temporary trigger that links each new runs row to the sweep run
 * waiting in temp.sweep_next, in the same statement as the insert. Other
 * connections (another `dtsim run` on the same file) do not see it. */
static const char link_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS sweep_next(sweep_id INTEGER, idx "
    "INTEGER, label TEXT);"
    "CREATE TEMP TRIGGER IF NOT EXISTS sweep_link AFTER INSERT ON main.runs"
    " WHEN EXISTS (SELECT 1 FROM sweep_next) BEGIN"
    " INSERT INTO sweep_runs(sweep_id, idx, label, run_id)"
    "  SELECT sweep_id, idx, label, NEW.run_id FROM sweep_next;"
    " DELETE FROM sweep_next;"
    " END;";

typedef struct sweep_db {
    db_store *store;
    sqlite3 *db;
    const char *path;
    int64_t sweep_id;
    sqlite3_stmt *next_insert, *next_clear;
    double write_s, write_cpu_s; /* spent writing runs: wall, CPU */
} sweep_db;

static int prep(sweep_db *d, const char *sql, sqlite3_stmt **st, sim_err *err)
{
    return sqlite3_prepare_v2(d->db, sql, -1, st, NULL) == SQLITE_OK
               ? 0
               : sql_fail(d->db, d->path, err);
}

/* Every run's axis values into sweep_values (see wire.c). */
static int put_values(sweep_db *d, const sw_spec *s, sim_err *err)
{
    sqlite3_stmt *st;
    int rc = prep(d,
                  "INSERT INTO sweep_values(sweep_id, idx, axis, value) "
                  "VALUES(?1, ?2, ?3, ?4)",
                  &st, err);
    for (size_t i = 0; !rc && i < s->n_runs; i++) {
        const sw_run *r = &s->runs[i];
        for (size_t k = 0; !rc && k < r->n_ov; k++) {
            const sw_origin *o = &r->origin[k];
            if (!o->label)
                continue;
            sqlite3_bind_int64(st, 1, d->sweep_id);
            sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
            sqlite3_bind_text(st, 3,
                              strcmp(o->axis, "seeds") == 0 ? "seed" : o->axis,
                              -1, SQLITE_STATIC);
            const char *v = r->ov[k].value;
            char *end;
            double x = strtod(v, &end);
            if (end != v && !*end && x == (double)(sqlite3_int64)x &&
                fabs(x) < 9007199254740992.0)
                sqlite3_bind_int64(st, 4, (sqlite3_int64)x);
            else if (end != v && !*end)
                sqlite3_bind_double(st, 4, x);
            else
                sqlite3_bind_text(st, 4, o->label, -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = sql_fail(d->db, d->path, err);
            sqlite3_reset(st);
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* Finds the sweep to resume (same fingerprint and shard) or makes a new
 * one. On resume, marks done[idx] for the runs that finished and deletes
 * every other run of the sweep, rows and all, so each index ends with
 * exactly one run. */
static int open_sweep(sweep_db *d, const sw_spec *s, const char *fp,
                      const char *shard, int resume, unsigned char *done,
                      size_t *n_kept, sim_err *err)
{
    int rc = exec(d->db, d->path, "BEGIN IMMEDIATE", err);
    if (rc)
        return rc;
    sqlite3_stmt *st = NULL;
    d->sweep_id = 0;
    *n_kept = 0;
    if (resume) {
        if ((rc = prep(d,
                       "SELECT sweep_id FROM sweeps WHERE fingerprint = ?1 "
                       "AND shard IS ?2 ORDER BY sweep_id DESC LIMIT 1",
                       &st, err)))
            goto fail;
        sqlite3_bind_text(st, 1, fp, -1, SQLITE_STATIC);
        if (shard)
            sqlite3_bind_text(st, 2, shard, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            d->sweep_id = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        st = NULL;
    }
    if (d->sweep_id) {
        if ((rc = prep(d,
                       "SELECT sr.idx FROM sweep_runs sr JOIN runs r USING "
                       "(run_id) WHERE sr.sweep_id = ?1 AND r.status IN "
                       "('done', 'diverged')",
                       &st, err)))
            goto fail;
        sqlite3_bind_int64(st, 1, d->sweep_id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            sqlite3_int64 idx = sqlite3_column_int64(st, 0);
            if (idx >= 0 && (size_t)idx < s->n_runs && !done[idx]) {
                done[idx] = 1;
                (*n_kept)++;
            }
        }
        if (sqlite3_errcode(d->db) != SQLITE_DONE &&
            sqlite3_errcode(d->db) != SQLITE_OK) {
            rc = sql_fail(d->db, d->path, err);
            goto fail;
        }
        sqlite3_finalize(st);
        st = NULL;
        char tables[SW__MAX_RUN_TABLES][64];
        int nt = sw__run_tables(d->db, "main", tables, SW__MAX_RUN_TABLES);
        if (nt < 0) {
            rc = sql_fail(d->db, d->path, err);
            goto fail;
        }
        char sql[4096];
        int len = snprintf(
            sql, sizeof sql,
            "CREATE TEMP TABLE IF NOT EXISTS sweep_stale(run_id INTEGER "
            "PRIMARY KEY);"
            "DELETE FROM sweep_stale;"
            "INSERT INTO sweep_stale SELECT sr.run_id FROM sweep_runs sr "
            "JOIN runs r USING (run_id) WHERE sr.sweep_id = %lld AND "
            "r.status NOT IN ('done', 'diverged');",
            (long long)d->sweep_id);
        for (int t = 0; t < nt; t++)
            len += snprintf(sql + len, sizeof sql - (size_t)len,
                            "DELETE FROM main.\"%s\" WHERE run_id IN "
                            "sweep_stale;",
                            tables[t]);
        snprintf(sql + len, sizeof sql - (size_t)len,
                 "DELETE FROM sweep_runs WHERE run_id IN sweep_stale;"
                 "DELETE FROM runs WHERE run_id IN sweep_stale;"
                 "DELETE FROM sweep_stale;");
        if ((rc = exec(d->db, d->path, sql, err)))
            goto fail;
    } else {
        /* Worth saying: an edited spec or base config is another sweep. */
        if (resume)
            fprintf(stderr,
                    "sweep: %s holds no sweep with these runs (same labels "
                    "and configs%s): starting a new one\n",
                    d->path, shard ? ", same shard" : "");
        if ((rc = prep(d,
                       "INSERT INTO sweeps(name, spec_path, spec_json, "
                       "fingerprint, n_runs, shard, created_at) VALUES(?1, "
                       "?2, ?3, ?4, ?5, ?6, strftime('%Y-%m-%dT%H:%M:%SZ', "
                       "'now'))",
                       &st, err)))
            goto fail;
        sqlite3_bind_text(st, 1, s->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, s->path, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, s->text, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, fp, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)s->n_runs);
        if (shard)
            sqlite3_bind_text(st, 6, shard, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = sql_fail(d->db, d->path, err);
            goto fail;
        }
        d->sweep_id = sqlite3_last_insert_rowid(d->db);
        sqlite3_finalize(st);
        st = NULL;
        if ((rc = put_values(d, s, err)))
            goto fail;
    }
    return exec(d->db, d->path, "COMMIT", err);
fail:
    sqlite3_finalize(st);
    if (!sqlite3_get_autocommit(d->db))
        sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int begin_run(sweep_db *d, const sw_spec *s, const sw__job *j,
                     size_t idx, int64_t *run_id, sim_err *err)
{
    sqlite3_stmt *st = d->next_insert;
    sqlite3_bind_int64(st, 1, d->sweep_id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)idx);
    sqlite3_bind_text(st, 3, s->runs[idx].label, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return sql_fail(d->db, d->path, err);
    db_run_info info = {.name = j->cfg->name,
                        .algorithm = j->cfg->algorithm.name,
                        .config_json = j->config_json,
                        .seed = j->cfg->seed,
                        .dtsim_version = DTSIM_VERSION};
    rc = db_run_begin(d->store, &info, run_id, err);
    /* After a failed insert the link is still waiting; it must not attach
     * itself to some later row. */
    sqlite3_step(d->next_clear);
    sqlite3_reset(d->next_clear);
    return rc;
}

/* ------------------------------------------------------------- progress */

typedef struct progress {
    int tty, quiet;
    size_t total, finished, failed, diverged;
    double t0;
} progress;

static double clock_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now_s(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

/* This process's CPU time: it is single-threaded, so around a write this
 * is the CPU the write took, whatever else the machine runs. */
static double cpu_s(void)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static void fmt_duration(double s, char *buf, size_t cap)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, cap, "?");
    else if (s < 60)
        snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, cap, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

static void progress_update(progress *pg, const char *label, db_status status,
                            const char *error)
{
    pg->finished++;
    pg->failed += status == DB_STATUS_FAILED;
    pg->diverged += status == DB_STATUS_DIVERGED;
    if (pg->quiet)
        return;
    double el = now_s() - pg->t0;
    char eta[32];
    fmt_duration(el / (double)pg->finished * (double)(pg->total - pg->finished),
                 eta, sizeof eta);
    if (pg->tty) {
        char bar[31];
        size_t fill = pg->total ? 30 * pg->finished / pg->total : 30;
        for (size_t i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr,
                "\r[%s] %zu/%zu done, %zu failed, %zu diverged, ETA %s   ", bar,
                pg->finished, pg->total, pg->failed, pg->diverged, eta);
        if (pg->finished == pg->total)
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "sweep: %zu/%zu %s: %s%s%s (failed %zu, ETA %s)\n",
                pg->finished, pg->total, label, db_status_name(status),
                *error ? ": " : "", error, pg->failed, eta);
    }
    fflush(stderr);
}

/* ------------------------------------------------------------- the run */

typedef struct queue {
    const size_t *todo;
    size_t n_todo, next, in_flight;
    long *busy;       /* [slot] run index, or -1 */
    int64_t *run_ids; /* [slot] */
} queue;

/* Gives every idle slot the next run, recording each as 'running' first
 * (inside the caller's batch). */
static int fill(sweep_db *d, const sw_spec *s, const prepared *p, queue *q,
                sw__exec *x, sim_err *err)
{
    for (int k = 0; k < x->n_slots && q->next < q->n_todo; k++) {
        if (q->busy[k] >= 0)
            continue;
        size_t idx = q->todo[q->next];
        int rc = begin_run(d, s, &p->jobs[idx], idx, &q->run_ids[k], err);
        if (rc || (rc = x->submit(x, k, idx, err)))
            return rc;
        q->busy[k] = (long)idx;
        q->next++;
        q->in_flight++;
    }
    return 0;
}

/* A result taken from a slot, waiting to be written. */
typedef struct taken {
    sw__result res;
    size_t idx;
    int64_t run_id;
    db_status status;
} taken;

/* One transaction: the runs rows of the runs handed out to idle slots, then
 * the results in t[] with their final status. The idle slots get their
 * runs before the results are written, so writing overlaps the workers'
 * computing; their runs rows are committed with the results, which changes
 * nothing for a kill (a killed writer loses the runs in flight either way,
 * and a resume runs them again). The results are freed. */
static int write_batch(sweep_db *d, const sw_spec *s, const prepared *p,
                       queue *q, sw__exec *x, sw__writer *w, taken *t, size_t n,
                       progress *pg, sim_err *err)
{
    double t0 = now_s(), c0 = cpu_s();
    int rc = db_batch_begin(d->store, err);
    if (!rc)
        rc = fill(d, s, p, q, x, err);
    for (size_t i = 0; !rc && i < n; i++)
        rc = sw__writer_put(w, t[i].run_id, &t[i].res, &t[i].status, err);
    if (!rc)
        rc = db_batch_commit(d->store, err);
    else
        db_batch_rollback(d->store);
    d->write_s += now_s() - t0;
    d->write_cpu_s += cpu_s() - c0;
    for (size_t i = 0; i < n; i++) {
        if (!rc)
            progress_update(pg, s->runs[t[i].idx].label, t[i].status,
                            t[i].res.error);
        sw__result_free(&t[i].res);
    }
    return rc;
}

/* Hands out todo[] in order and stores results as they come back: every
 * result that is there when the writer gets to it goes into one batch. A
 * slot that returns a result gets its next run in that batch, before the
 * result is written. Returns 0, or the database or executor error that
 * stopped the sweep. */
static int coordinate(sweep_db *d, const sw_spec *s, const prepared *p,
                      const size_t *todo, size_t n_todo, sw__exec *x,
                      progress *pg, sim_err *err)
{
    sw__writer *w = NULL;
    int rc = sw__writer_create(d->store, d->path, &w, err);
    if (rc)
        return rc;
    /* The writer makes sure of every row's parent itself: a run's rows go
     * in with the UPDATE that finds its runs row 'running' (db_run_finish
     * refuses the run otherwise), and a sweep_runs row is made from the new
     * runs row by the link trigger. Checking the foreign keys again costs
     * a search of runs per metrics row, a sixth of the writer's CPU. The
     * setting is this connection's only; it is restored below. */
    sqlite3_exec(d->db, "PRAGMA foreign_keys = OFF", NULL, NULL, NULL);
    int n = x->n_slots;
    queue q = {.todo = todo,
               .n_todo = n_todo,
               .busy = malloc((size_t)n * sizeof *q.busy),
               .run_ids = malloc((size_t)n * sizeof *q.run_ids)};
    taken *t = malloc((size_t)n * sizeof *t);
    if (!q.busy || !q.run_ids || !t)
        rc = sim_err_set(err, SIM_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < n; i++)
        q.busy[i] = -1;
    if (!rc)
        rc = write_batch(d, s, p, &q, x, w, NULL, 0, pg, err);
    while (!rc && q.in_flight > 0) {
        size_t got = 0;
        do {
            int k;
            sw__result *res = &t[got].res;
            if ((rc = x->wait(x, &k, res, err)))
                break;
            if (k < 0 || k >= n) {
                sw__result_free(res);
                rc = sim_err_set(err, SIM_EINTERNAL, "result from no worker");
                break;
            }
            if (q.busy[k] < 0) {
                /* An idle worker that died (killed from outside): it had
                 * no run to lose, and the slot gets a new worker with its
                 * next run. */
                sw__result_free(res);
                continue;
            }
            t[got].idx = (size_t)q.busy[k];
            t[got].run_id = q.run_ids[k];
            t[got].status = DB_STATUS_FAILED;
            got++;
            q.busy[k] = -1;
            q.in_flight--;
        } while (got < (size_t)n && x->ready && x->ready(x));
        if (rc) {
            for (size_t i = 0; i < got; i++)
                sw__result_free(&t[i].res);
            break;
        }
        if (got)
            rc = write_batch(d, s, p, &q, x, w, t, got, pg, err);
    }
    sqlite3_exec(d->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    free(t);
    free(q.busy);
    free(q.run_ids);
    sw__writer_destroy(w);
    return rc;
}

static void dry_run(const sw_spec *s, const unsigned char *mine)
{
    printf("# %s: %zu runs (base %s)\n", s->name, s->n_runs, s->base_source);
    for (size_t i = 0; i < s->n_runs; i++) {
        if (!mine[i])
            continue;
        const sw_run *r = &s->runs[i];
        printf("%zu\t%s\t", r->idx, r->label);
        int first = 1;
        for (size_t k = 0; k < r->n_ov; k++) {
            if (strcmp(r->ov[k].path, "name") == 0)
                continue;
            printf("%s%s=%s", first ? "" : " ", r->ov[k].path, r->ov[k].value);
            first = 0;
        }
        putchar('\n');
    }
}

static int fail_msg(const sim_err *err, int quiet_rank)
{
    if (!quiet_rank)
        fprintf(stderr, "dtsim: %s\n", err->msg);
    return sim_err_is_input(err->code) ? EXIT_INPUT : EXIT_INTERNAL;
}

int sweep_main(int argc, char **argv)
{
    opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc || o.help) {
        if (o.help)
            fputs(sweep_usage, stdout);
        return rc;
    }
    int rank = 0, use_mpi = 0;
#ifdef DTSIM_HAVE_MPI
    use_mpi = sw__mpi_active();
    rank = use_mpi ? sw__mpi_rank() : 0;
    if (use_mpi && o.timeout_s) {
        if (rank == 0)
            fputs("dtsim: sweep: --timeout is not available under mpirun\n",
                  stderr);
        sw__mpi_finalize();
        return EXIT_INPUT;
    }
#endif
    (void)use_mpi;
    sim_err err = {0};
    sw_spec *s = NULL;
    prepared p = {0};
    unsigned char *mine = NULL, *done = NULL;
    size_t *todo = NULL;
    sweep_db d = {.path = o.out};
    sw__exec x = {0};
    int exit_code = 0;

    if (sw_spec_load(o.spec, &s, &err)) {
        exit_code = fail_msg(&err, rank != 0);
        goto out;
    }
    mine = calloc(s->n_runs, 1);
    done = calloc(s->n_runs, 1);
    todo = calloc(s->n_runs, sizeof *todo);
    if (!mine || !done || !todo) {
        sim_err_set(&err, SIM_ENOMEM, "out of memory");
        exit_code = fail_msg(&err, rank != 0);
        goto out;
    }
    for (size_t i = 0; i < s->n_runs; i++)
        mine[i] = o.shard_n == 0 || (long)(i % (size_t)o.shard_n) == o.shard_i;
    if (prepare_all(s, mine, &o.limits, &p, &err)) {
        exit_code = fail_msg(&err, rank != 0);
        goto out;
    }
    if (o.dry_run) {
        if (rank == 0)
            dry_run(s, mine);
        goto out;
    }
#ifdef DTSIM_HAVE_MPI
    if (use_mpi && rank != 0) {
        exit_code = sw__mpi_serve(p.jobs, s->n_runs) ? EXIT_INTERNAL : 0;
        goto out;
    }
#endif

    char fp[17], shard[48];
    fingerprint(s, &p, fp);
    snprintf(shard, sizeof shard, "%ld/%ld", o.shard_i, o.shard_n);
#ifdef DTSIM_HAVE_MPI
    /* First, so that every way out below releases the serving ranks. */
    if (use_mpi && sw__mpi_exec(&x, &err)) {
        exit_code = fail_msg(&err, 0);
        goto out;
    }
#endif
    if (db_open(o.out, &d.store, &err)) {
        exit_code = fail_msg(&err, 0);
        goto out;
    }
    d.db = db_handle(d.store);
    size_t n_kept = 0;
    /* A sweep commits a run every few milliseconds; checkpointing the
     * write-ahead log every 1000 pages (SQLite's default) would copy the
     * pages that every commit touches (the runs table, the indexes) back
     * into the file, and wait for an fsync, every few runs. 8192 pages (32
     * MiB of log) cut the writer's wall time by a quarter. A failure only
     * keeps the default. */
    sqlite3_exec(d.db, "PRAGMA wal_autocheckpoint = 8192", NULL, NULL, NULL);
    /* Debian's SQLite is built with secure_delete on, which zeroes every
     * byte a page gives up, among them the cells each B-tree split moves
     * (1.5% of the writer's instructions). The sweep deletes nothing worth
     * zeroing (only a resume's stale runs, which it writes again). This
     * connection's setting only; a failure keeps it on. */
    sqlite3_exec(d.db, "PRAGMA secure_delete = OFF", NULL, NULL, NULL);
    if (sw__db_tables(d.db, o.out, &err) || exec(d.db, o.out, link_sql, &err) ||
        open_sweep(&d, s, fp, o.shard_n ? shard : NULL, o.resume, done, &n_kept,
                   &err) ||
        prep(&d, "INSERT INTO temp.sweep_next VALUES(?1, ?2, ?3)",
             &d.next_insert, &err) ||
        prep(&d, "DELETE FROM temp.sweep_next", &d.next_clear, &err)) {
        exit_code = fail_msg(&err, 0);
        goto out;
    }
    size_t n_todo = 0, n_mine = 0;
    for (size_t i = 0; i < s->n_runs; i++) {
        n_mine += mine[i];
        if (mine[i] && !done[i])
            todo[n_todo++] = i;
    }

    int jobs = o.jobs;
    if (jobs == 0)
        jobs = cpus_available();
    if ((size_t)jobs > n_todo)
        jobs = n_todo ? (int)n_todo : 1;
    rc = use_mpi
             ? 0
             : sw__fork_exec(&x, jobs, p.jobs, s->n_runs, o.timeout_s, &err);
    if (rc) {
        exit_code = fail_msg(&err, 0);
        goto out;
    }
    progress pg = {
        .tty = isatty(2), .quiet = o.quiet, .total = n_todo, .t0 = now_s()};
    if (!o.quiet && n_kept)
        fprintf(stderr,
                "sweep: resuming sweep %lld: %zu of %zu runs already "
                "finished\n",
                (long long)d.sweep_id, n_kept, n_mine);
    rc = coordinate(&d, s, &p, todo, n_todo, &x, &pg, &err);
    if (x.shutdown)
        x.shutdown(&x);
    x.shutdown = NULL;
    if (rc) {
        exit_code = fail_msg(&err, 0);
        goto out;
    }
    /* Closing copies the write-ahead log into the database file (the last
     * checkpoint): part of writing the database, so it is counted. */
    double t0 = now_s(), c0 = cpu_s();
    sqlite3_finalize(d.next_insert);
    sqlite3_finalize(d.next_clear);
    d.next_insert = d.next_clear = NULL;
    db_close(d.store);
    d.store = NULL;
    d.write_s += now_s() - t0;
    d.write_cpu_s += cpu_s() - c0;
    if (!o.quiet)
        printf("sweep %s (sweep_id %lld): %zu runs: %zu done, %zu diverged, "
               "%zu failed, %zu kept from before; %.2f s (writing the "
               "database %.2f s, CPU %.2f s); %s\n",
               s->name, (long long)d.sweep_id, n_mine,
               pg.finished - pg.failed - pg.diverged, pg.diverged, pg.failed,
               n_kept, now_s() - pg.t0, d.write_s, d.write_cpu_s, o.out);
    exit_code = pg.failed ? EXIT_INTERNAL : 0;
out:
    if (x.shutdown)
        x.shutdown(&x);
    sqlite3_finalize(d.next_insert);
    sqlite3_finalize(d.next_clear);
    db_close(d.store);
#ifdef DTSIM_HAVE_MPI
    if (use_mpi)
        sw__mpi_finalize();
#endif
    if (s)
        prepared_free(&p, s->n_runs);
    sw_spec_free(s);
    free(mine);
    free(done);
    free(todo);
    return exit_code;
}
