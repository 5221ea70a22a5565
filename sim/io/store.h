/* store.h: results in one SQLite file.
 *
 * The schema is a contract with users' scripts (see README "Results
 * database"): tables runs, metrics, workers, staleness, label_histogram and
 * events, with the columns named in DESIGN.md plus a few documented extras.
 * A database may hold many runs; opening an existing dtsim database appends.
 * A database made by
 * another program (tables of ours missing columns, or not SQLite at all) is
 * refused with SIM_EDB.
 *
 * A run is written in two transactions: db_run_begin inserts its runs row with
 * status 'running'; db_run_finish inserts all its metrics, workers and events
 * rows and sets the final status in one transaction (or both go into a
 * batch, below). A process killed in between leaves a 'running' row and
 * nothing else, never a run marked done with missing rows. All SQL uses
 * prepared statements with bound values.
 *
 * Ownership: db_open returns a store the caller closes with db_close; the
 * row arrays passed in are only read. A store may be used by one thread at a
 * time; concurrent writers (several `dtsim run` on one file) each open their
 * own store on the file. */
#ifndef DTSIM_STORE_H
#define DTSIM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"

typedef struct db_store db_store;

typedef struct db_run_info {
    const char *name;
    const char *algorithm;
    const char *config_json;
    uint64_t seed;
    const char *dtsim_version;
} db_run_info;

typedef enum db_status {
    DB_STATUS_RUNNING,
    DB_STATUS_DONE,
    DB_STATUS_DIVERGED,
    DB_STATUS_FAILED
} db_status;

typedef struct db_run_result {
    db_status status;
    const char *error; /* NULL unless failed or diverged */
    double wall_seconds;
    double sim_seconds;
    uint64_t total_bytes;
    uint64_t total_messages;
    int64_t steps;
    double final_accuracy;       /* NaN -> NULL */
    double final_loss;           /* NaN -> NULL */
    const struct db_link *links; /* rows of table links, may be NULL */
    size_t n_links;
} db_run_result;

/* One directed link of the run's network: what crossed it and how long it
 * was transmitting (busy_seconds / sim_seconds is its mean utilisation). */
typedef struct db_link {
    int link;
    const char *name; /* "node3>switch" */
    uint64_t bytes;
    double busy_seconds;
} db_link;

typedef struct db_metric {
    int64_t step;
    double sim_time;
    uint64_t bytes;                              /* cumulative */
    uint64_t messages;                           /* cumulative */
    double test_accuracy, test_loss, train_loss; /* NaN -> NULL */
} db_metric;

/* One bar of a worker's staleness histogram. */
typedef struct db_staleness {
    int64_t staleness; /* server version at the update minus the version the
                          contribution was computed on */
    int64_t updates;   /* updates of the worker with that staleness */
} db_staleness;

typedef struct db_worker {
    int worker;
    double compute_seconds, comm_seconds, idle_seconds;
    int64_t updates;
    uint64_t bytes_sent, bytes_received;
    double mean_staleness; /* NaN -> NULL */
    int64_t max_staleness;
    /* The worker's staleness histogram, by increasing staleness, no zero
     * counts: the rows of table staleness. May be NULL. */
    const db_staleness *staleness;
    size_t n_staleness;
    /* label_rows[c] = training rows of label c the worker holds, c in
     * 0..n_labels-1: the rows of table label_histogram. May be NULL. */
    const int64_t *label_rows;
    size_t n_labels;
} db_worker;

typedef struct db_event {
    double time;
    const char *entity; /* "worker3", "server", "link:worker3>switch" */
    const char *kind;   /* "compute", "send", "recv", "update", ... */
    double duration;
    uint64_t bytes;
} db_event;

/* Opens or creates path (":memory:" works) and makes sure the schema is
 * there. SIM_EDB or SIM_EIO with the path and SQLite's message on failure. */
int db_open(const char *path, db_store **out, sim_err *err);

/* db_open's options. */
enum {
    /* A file this call creates is written without fsync for as long as it
     * stays open (synchronous=OFF), where db_open syncs at checkpoints.
     * For a short command whose results are reproducible by running it
     * again: an OS crash or power loss soon after may lose or damage the
     * new file, which held nothing else, and the wait for the disk, several
     * times the post's whole run, is gone. An existing file is opened as by
     * db_open. */
    DB_OPEN_NEW_UNSYNCED = 1,
};

/* As db_open, with DB_OPEN_* flags. */
int db_open_with(const char *path, unsigned flags, db_store **out,
                 sim_err *err);

void db_close(db_store *db); /* NULL-safe */

/* Inserts the runs row (status running, started_at now in UTC ISO 8601) and
 * commits it. */
int db_run_begin(db_store *db, const db_run_info *info, int64_t *run_id,
                 sim_err *err);

/* Writes the run's rows and final status in one transaction; on failure the
 * transaction is rolled back and the run stays 'running'. */
int db_run_finish(db_store *db, int64_t run_id, const db_run_result *res,
                  const db_metric *metrics, size_t n_metrics,
                  const db_worker *workers, size_t n_workers,
                  const db_event *events, size_t n_events, sim_err *err);

/* Several runs' writes in one transaction, for a process that writes many
 * (a sweep's writer): between db_batch_begin and db_batch_commit,
 * db_run_begin and db_run_finish write without committing, so a commit
 * (and its write-ahead log frames for the pages every run touches) is
 * paid once per batch. Each run's rows still become visible together with
 * its final status. When any write in the batch fails, the caller must
 * call db_batch_rollback, which undoes the whole batch: runs begun in it
 * are gone, runs finished in it are running again. A failed commit rolls
 * back by itself. */
int db_batch_begin(db_store *db, sim_err *err);
int db_batch_commit(db_store *db, sim_err *err);
void db_batch_rollback(db_store *db);

/* Inserts metrics rows of run_id, begun and not yet finished, ahead of
 * db_run_finish, which then gets the rows after them: for a caller that
 * writes rows while the run is still going. Only inside a batch, so that
 * the rows become visible with the run's final status as ever; a failure
 * leaves the batch to be rolled back (db_batch_rollback). Not for a sink. */
int db_run_add_metrics(db_store *db, int64_t run_id, const db_metric *metrics,
                       size_t n, sim_err *err);

/* A store that keeps nothing itself: db_run_begin numbers runs 1, 2, ...
 * and db_run_finish checks its arguments as a database store would, then
 * hands them to fn, which must not keep the pointers. A sweep's worker runs
 * its run with the runner, exactly as `dtsim run` does, into such a store
 * and sends what fn receives to the process that writes the database, which
 * passes it to db_run_finish: no SQLite in the worker, and the rows are
 * bound by the very same code. fn returns 0 or an error code, with err
 * set. db_handle of a sink is NULL. */
typedef int (*db_finish_fn)(void *ctx, const db_run_result *res,
                            const db_metric *metrics, size_t n_metrics,
                            const db_worker *workers, size_t n_workers,
                            const db_event *events, size_t n_events,
                            sim_err *err);
int db_open_sink(db_finish_fn fn, void *ctx, db_store **out, sim_err *err);

/* The underlying handle, for tests and tools that read back. */
struct sqlite3 *db_handle(db_store *db);

const char *db_status_name(db_status s);

#endif
