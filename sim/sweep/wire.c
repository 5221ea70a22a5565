/* wire.c: a run's outcome as bytes, and writing it into the results
 * database; the sweep tables.
 *
 * A worker runs its run with the runner, exactly as `dtsim run` would, into
 * a sink store (store.h) that hands over the run's final status and rows
 * instead of writing them; they are encoded here, field by field, and the
 * writer decodes them and gives them to db_run_finish on the results
 * database. So the worker does no SQLite at all, and the writer binds each
 * value through the same code as `dtsim run`, with statements the store
 * prepared once; no schema is read and nothing is parsed per run. (The
 * earlier wire format, a serialized in-memory SQLite database per run,
 * cost the workers about a tenth of their CPU to build and the writer a
 * schema read and an INSERT ... SELECT per table to copy.)
 *
 * Both ends are the same binary (forked workers, or MPI ranks running one
 * build), so numbers travel in the machine's byte order. Every field of
 * db_run_finish's arguments must be in encode_run and decode_run: the test
 * "a_run_through_the_wire_gives_the_rows_of_dtsim_run" compares every table
 * with a direct store. */
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
#define KIND_RUN 'R'
#define KIND_ERROR 'E'
/* A NULL string, as its length. */
#define NO_STRING UINT32_MAX

static int buf_grow(sw__buf *b, size_t n)
{
    if (b->len + n <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
        cap *= 2;
    unsigned char *q = realloc(b->p, cap);
    if (!q)
        return SIM_ENOMEM;
    b->p = q;
    b->cap = cap;
    return 0;
}

static int buf_put(sw__buf *b, const void *p, size_t n)
{
    if (buf_grow(b, n))
        return SIM_ENOMEM;
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

/* ------------------------------------------------------------ encoding */

/* The put_ functions write into room made beforehand (enc_room), so the
 * loops over rows check capacity once per row, not once per field. */
typedef struct enc {
    sw__buf *b;
    int failed; /* out of memory */
} enc;

static int enc_room(enc *e, size_t n)
{
    if (!e->failed && buf_grow(e->b, n))
        e->failed = 1;
    return !e->failed;
}

static void put_u64(enc *e, uint64_t v)
{
    memcpy(e->b->p + e->b->len, &v, sizeof v);
    e->b->len += sizeof v;
}

static void put_i64(enc *e, int64_t v)
{
    put_u64(e, (uint64_t)v);
}

static void put_f64(enc *e, double v)
{
    memcpy(e->b->p + e->b->len, &v, sizeof v);
    e->b->len += sizeof v;
}

/* Length, then the bytes and their NUL, so the decoder can point into the
 * buffer instead of copying. */
static void put_str(enc *e, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n >= NO_STRING) /* no string of ours is 4 GB long */
        n = NO_STRING - 1;
    if (!enc_room(e, 8 + n + 1))
        return;
    put_u64(e, s ? (uint64_t)n : NO_STRING);
    if (s) {
        memcpy(e->b->p + e->b->len, s, n);
        e->b->p[e->b->len + n] = '\0';
        e->b->len += n + 1;
    }
}

static int encode_run(void *ctx, const db_run_result *res,
                      const db_metric *metrics, size_t n_metrics,
                      const db_worker *workers, size_t n_workers,
                      const db_event *events, size_t n_events, sim_err *err)
{
    enc e = {.b = ctx};
    e.b->len = 0;
    if (enc_room(&e, 1 + 9 * 8)) {
        e.b->p[e.b->len++] = KIND_RUN;
        put_u64(&e, (uint64_t)res->status);
        put_f64(&e, res->wall_seconds);
        put_f64(&e, res->sim_seconds);
        put_u64(&e, res->total_bytes);
        put_u64(&e, res->total_messages);
        put_i64(&e, res->steps);
        put_f64(&e, res->final_accuracy);
        put_f64(&e, res->final_loss);
        put_u64(&e, res->links ? res->n_links : 0);
    }
    put_str(&e, res->error);
    for (size_t i = 0; res->links && i < res->n_links; i++) {
        const db_link *l = &res->links[i];
        if (!enc_room(&e, 3 * 8))
            break;
        put_i64(&e, l->link);
        put_u64(&e, l->bytes);
        put_f64(&e, l->busy_seconds);
        put_str(&e, l->name);
    }
    if (enc_room(&e, 8 + n_metrics * 7 * 8)) {
        put_u64(&e, n_metrics);
        for (size_t i = 0; i < n_metrics; i++) {
            const db_metric *m = &metrics[i];
            put_i64(&e, m->step);
            put_f64(&e, m->sim_time);
            put_u64(&e, m->bytes);
            put_u64(&e, m->messages);
            put_f64(&e, m->test_accuracy);
            put_f64(&e, m->test_loss);
            put_f64(&e, m->train_loss);
        }
    }
    if (enc_room(&e, 8))
        put_u64(&e, n_workers);
    for (size_t i = 0; i < n_workers; i++) {
        const db_worker *w = &workers[i];
        size_t ns = w->staleness ? w->n_staleness : 0;
        size_t nl = w->label_rows ? w->n_labels : 0;
        if (!enc_room(&e, (11 + 2 * ns + nl) * 8))
            break;
        put_i64(&e, w->worker);
        put_f64(&e, w->compute_seconds);
        put_f64(&e, w->comm_seconds);
        put_f64(&e, w->idle_seconds);
        put_i64(&e, w->updates);
        put_u64(&e, w->bytes_sent);
        put_u64(&e, w->bytes_received);
        put_f64(&e, w->mean_staleness);
        put_i64(&e, w->max_staleness);
        put_u64(&e, ns);
        for (size_t k = 0; k < ns; k++) {
            put_i64(&e, w->staleness[k].staleness);
            put_i64(&e, w->staleness[k].updates);
        }
        put_u64(&e, nl);
        for (size_t k = 0; k < nl; k++)
            put_i64(&e, w->label_rows[k]);
    }
    if (enc_room(&e, 8))
        put_u64(&e, n_events);
    for (size_t i = 0; i < n_events; i++) {
        const db_event *v = &events[i];
        if (!enc_room(&e, 3 * 8))
            break;
        put_f64(&e, v->time);
        put_f64(&e, v->duration);
        put_u64(&e, v->bytes);
        put_str(&e, v->entity);
        put_str(&e, v->kind);
    }
    if (e.failed) {
        e.b->len = 0;
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    return 0;
}

int sw__run_encode(const sw__job *j, sw__buf *b)
{
    b->len = 0;
    sim_err err = {0};
    db_store *sink = NULL;
    int rc = db_open_sink(encode_run, b, &sink, &err);
    if (!rc) {
        /* A shallow copy: the job's data is shared and outlives the run. */
        rn_job job = {.cfg = j->cfg, .ops = j->ops, .data = *j->data};
        rn_summary sum;
        /* A run that could not start is still stored, as failed: what the
         * sink received is the run, whatever rn_job_run returns. */
        (void)rn_job_run(&job, sink, DTSIM_VERSION, &sum, &err);
    }
    db_close(sink);
    if (b->len > 0)
        return 0;
    char kind = KIND_ERROR;
    if (!err.msg[0])
        snprintf(err.msg, sizeof err.msg, "run not stored");
    rc = buf_put(b, &kind, 1);
    return rc ? rc : buf_put(b, err.msg, strlen(err.msg));
}

int sw__result_decode(unsigned char *p, size_t len, sw__result *r, sim_err *err)
{
    memset(r, 0, sizeof *r);
    if (len < 1 || (p[0] != KIND_RUN && p[0] != KIND_ERROR)) {
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
    r->run = p;
    r->len = len;
    return 0;
}

void sw__result_failed(sw__result *r, const char *msg)
{
    memset(r, 0, sizeof *r);
    snprintf(r->error, sizeof r->error, "%s", msg);
}

void sw__result_free(sw__result *r)
{
    free(r->run);
    r->run = NULL;
    r->len = 0;
}

/* ------------------------------------------------------------ decoding */

typedef struct dec {
    const unsigned char *p, *end;
    int bad; /* ran past the end, or a malformed field */
} dec;

static int dec_room(dec *d, size_t n)
{
    if (!d->bad && (size_t)(d->end - d->p) < n)
        d->bad = 1;
    return !d->bad;
}

static uint64_t get_u64(dec *d)
{
    uint64_t v = 0;
    if (dec_room(d, sizeof v)) {
        memcpy(&v, d->p, sizeof v);
        d->p += sizeof v;
    }
    return v;
}

static int64_t get_i64(dec *d)
{
    return (int64_t)get_u64(d);
}

static double get_f64(dec *d)
{
    double v = 0;
    if (dec_room(d, sizeof v)) {
        memcpy(&v, d->p, sizeof v);
        d->p += sizeof v;
    }
    return v;
}

/* Points into the buffer, which outlives the write. */
static const char *get_str(dec *d)
{
    uint64_t n = get_u64(d);
    if (d->bad || n == NO_STRING)
        return NULL;
    if (n >= NO_STRING || !dec_room(d, (size_t)n + 1) || d->p[n] != '\0') {
        d->bad = 1;
        return NULL;
    }
    const char *s = (const char *)d->p;
    d->p += n + 1;
    return s;
}

/* A count of items of at least min_size bytes each that the rest of the
 * buffer can hold; anything larger is malformed (and would be a huge
 * allocation). */
static size_t get_count(dec *d, size_t min_size)
{
    uint64_t n = get_u64(d);
    if (!d->bad && n > (uint64_t)(d->end - d->p) / min_size)
        d->bad = 1;
    return d->bad ? 0 : (size_t)n;
}

/* Grows *arr (of *cap items of size bytes) to hold n items. */
static int grow(void *arr, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap)
        return 0;
    void *q = realloc(*(void **)arr, n * size);
    if (!q)
        return SIM_ENOMEM;
    *(void **)arr = q;
    *cap = n;
    return 0;
}

/* ---------------------------------------------------------- the writer */

/* Decoded rows, reused from run to run. */
struct sw__writer {
    db_store *store;
    const char *path;
    db_link *links;
    db_metric *metrics;
    db_worker *workers;
    db_staleness *staleness; /* all workers' histograms, one after another */
    int64_t *labels;         /* likewise */
    db_event *events;
    size_t cap_links, cap_metrics, cap_workers, cap_staleness, cap_labels,
        cap_events;
};

int sw__writer_create(db_store *store, const char *path, sw__writer **out,
                      sim_err *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    (*out)->store = store;
    (*out)->path = path;
    return 0;
}

void sw__writer_destroy(sw__writer *w)
{
    if (!w)
        return;
    free(w->links);
    free(w->metrics);
    free(w->workers);
    free(w->staleness);
    free(w->labels);
    free(w->events);
    free(w);
}

/* Decodes a KIND_RUN result into res and w's arrays. SIM_EINTERNAL when
 * malformed, SIM_ENOMEM. */
static int decode_run(sw__writer *w, const sw__result *r, db_run_result *res,
                      size_t *n_metrics, size_t *n_workers, size_t *n_events)
{
    dec d = {.p = r->run + 1, .end = r->run + r->len};
    uint64_t status = get_u64(&d);
    *res = (db_run_result){.status = status == DB_STATUS_DONE ? DB_STATUS_DONE
                                     : status == DB_STATUS_DIVERGED
                                         ? DB_STATUS_DIVERGED
                                         : DB_STATUS_FAILED,
                           .wall_seconds = get_f64(&d),
                           .sim_seconds = get_f64(&d),
                           .total_bytes = get_u64(&d),
                           .total_messages = get_u64(&d),
                           .steps = get_i64(&d),
                           .final_accuracy = get_f64(&d),
                           .final_loss = get_f64(&d)};
    if (status != DB_STATUS_DONE && status != DB_STATUS_DIVERGED &&
        status != DB_STATUS_FAILED)
        d.bad = 1;
    size_t n_links = get_count(&d, 4 * 8);
    res->error = get_str(&d);
    if (grow(&w->links, &w->cap_links, n_links, sizeof *w->links))
        return SIM_ENOMEM;
    for (size_t i = 0; !d.bad && i < n_links; i++) {
        db_link *l = &w->links[i];
        l->link = (int)get_i64(&d);
        l->bytes = get_u64(&d);
        l->busy_seconds = get_f64(&d);
        l->name = get_str(&d);
    }
    res->links = n_links ? w->links : NULL;
    res->n_links = n_links;

    *n_metrics = get_count(&d, 7 * 8);
    if (grow(&w->metrics, &w->cap_metrics, *n_metrics, sizeof *w->metrics))
        return SIM_ENOMEM;
    for (size_t i = 0; !d.bad && i < *n_metrics; i++) {
        db_metric *m = &w->metrics[i];
        m->step = get_i64(&d);
        m->sim_time = get_f64(&d);
        m->bytes = get_u64(&d);
        m->messages = get_u64(&d);
        m->test_accuracy = get_f64(&d);
        m->test_loss = get_f64(&d);
        m->train_loss = get_f64(&d);
    }

    /* The histograms go into one array each; a worker's pointer is set
     * once all are read, since the arrays may move as they grow. */
    *n_workers = get_count(&d, 11 * 8);
    if (grow(&w->workers, &w->cap_workers, *n_workers, sizeof *w->workers))
        return SIM_ENOMEM;
    size_t n_stale = 0, n_labels = 0;
    for (size_t i = 0; !d.bad && i < *n_workers; i++) {
        db_worker *k = &w->workers[i];
        *k = (db_worker){.worker = (int)get_i64(&d),
                         .compute_seconds = get_f64(&d),
                         .comm_seconds = get_f64(&d),
                         .idle_seconds = get_f64(&d),
                         .updates = get_i64(&d),
                         .bytes_sent = get_u64(&d),
                         .bytes_received = get_u64(&d),
                         .mean_staleness = get_f64(&d),
                         .max_staleness = get_i64(&d)};
        k->n_staleness = get_count(&d, 2 * 8);
        if (grow(&w->staleness, &w->cap_staleness, n_stale + k->n_staleness,
                 sizeof *w->staleness))
            return SIM_ENOMEM;
        for (size_t v = 0; !d.bad && v < k->n_staleness; v++) {
            w->staleness[n_stale + v].staleness = get_i64(&d);
            w->staleness[n_stale + v].updates = get_i64(&d);
        }
        n_stale += k->n_staleness;
        k->n_labels = get_count(&d, 8);
        if (grow(&w->labels, &w->cap_labels, n_labels + k->n_labels,
                 sizeof *w->labels))
            return SIM_ENOMEM;
        for (size_t c = 0; !d.bad && c < k->n_labels; c++)
            w->labels[n_labels + c] = get_i64(&d);
        n_labels += k->n_labels;
    }
    n_stale = n_labels = 0;
    for (size_t i = 0; !d.bad && i < *n_workers; i++) {
        db_worker *k = &w->workers[i];
        k->staleness = k->n_staleness ? w->staleness + n_stale : NULL;
        k->label_rows = k->n_labels ? w->labels + n_labels : NULL;
        n_stale += k->n_staleness;
        n_labels += k->n_labels;
    }

    *n_events = get_count(&d, 5 * 8);
    if (grow(&w->events, &w->cap_events, *n_events, sizeof *w->events))
        return SIM_ENOMEM;
    for (size_t i = 0; !d.bad && i < *n_events; i++) {
        db_event *v = &w->events[i];
        v->time = get_f64(&d);
        v->duration = get_f64(&d);
        v->bytes = get_u64(&d);
        v->entity = get_str(&d);
        v->kind = get_str(&d);
    }
    return d.bad || d.p != d.end ? SIM_EINTERNAL : 0;
}

int sw__writer_put(sw__writer *w, int64_t run_id, sw__result *r,
                   db_status *status, sim_err *err)
{
    if (!r->run) {
        db_run_result res = {.status = DB_STATUS_FAILED,
                             .error = r->error,
                             .final_accuracy = NAN,
                             .final_loss = NAN};
        *status = DB_STATUS_FAILED;
        return db_run_finish(w->store, run_id, &res, NULL, 0, NULL, 0, NULL, 0,
                             err);
    }
    db_run_result res;
    size_t n_metrics = 0, n_workers = 0, n_events = 0;
    int rc = decode_run(w, r, &res, &n_metrics, &n_workers, &n_events);
    if (rc == SIM_ENOMEM)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    if (rc)
        return sim_err_set(err, SIM_EINTERNAL,
                           "%s: run %lld: malformed result from its worker",
                           w->path, (long long)run_id);
    *status = res.status;
    snprintf(r->error, sizeof r->error, "%s", res.error ? res.error : "");
    return db_run_finish(w->store, run_id, &res, w->metrics, n_metrics,
                         w->workers, n_workers, w->events, n_events, err);
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
