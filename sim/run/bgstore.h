/* bgstore.h: a run's database work on a thread of its own.
 *
 * Creating a database file and its schema, and inserting a run's metrics
 * rows, take a fifth of a short run such as the post's. None of it needs
 * the simulation's results until the rows exist, so a machine with a core
 * to spare does it on a second thread, in two steps:
 *  - while the caller reads the run's config and data (bg_store_start): a
 *    database file that does not exist yet is created with its schema and
 *    its statements prepared. Nothing else is touched before the input is known
 * good, and should it be bad (bg_store_abandon) the new file is removed: bad
 * input leaves no database behind, as ever;
 *  - once the input is good and while the run simulates (bg_store_begin):
 *    an existing file is opened, the run's row begun (committed, as
 *    db_run_begin does), a batch opened (store.h), and the metrics rows
 *    handed over (bg_store_metric) inserted as they are recorded, 64 at a
 *    time.
 * After bg_store_join the caller finishes the run with the rows not yet
 * written (rn_result.metrics_written) and commits the batch, so a run's
 * rows still become visible with its final status and a killed process
 * leaves it 'running'. The rows written are those db_run_finish alone
 * would write, in the same order.
 *
 * One thread (the run's) calls everything here; the second thread only
 * opens and writes. */
#ifndef DTSIM_RUN_BGSTORE_H
#define DTSIM_RUN_BGSTORE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "../io/store.h"

typedef struct bg_store bg_store;

/* Starts the thread for the database at path (db_open_with, flags). Returns
 * NULL when memory or a thread cannot be had: the caller then opens and
 * writes in line. */
bg_store *bg_store_start(const char *path, unsigned flags);

/* The input is good: begin the run described by info (its strings must
 * outlive bg_store_join). */
void bg_store_begin(bg_store *b, const db_run_info *info);

/* The input is bad, no run will be begun: stops the thread, removes the
 * database file if the thread created it, and frees b. NULL-safe. */
void bg_store_abandon(bg_store *b);

/* Becomes 1 when the thread has failed, to opening or to writing: the run
 * may as well stop (eng_hooks.cancel). */
const atomic_int *bg_store_failed(const bg_store *b);

/* The run's next metrics row, in order: all of them, from the first. */
void bg_store_metric(bg_store *b, const db_metric *m);

/* After bg_store_begin: waits for the thread to write what it was given and
 * frees b. Returns 0 with *db open in a batch, *run_id begun, and the
 * first *written rows inserted; or an error code with err set, *db NULL
 * and nothing left open. */
int bg_store_join(bg_store *b, db_store **db, int64_t *run_id, size_t *written,
                  sim_err *err);

#endif
