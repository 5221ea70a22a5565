/* bgstore.h: a run's database work on a thread of its own.
 *
 * Creating a database file and its schema, and inserting a run's metrics
 * rows, take a fifth of a short run such as the post's. None of it needs
 * the simulation's results until the rows exist, so a machine with a core
 * to spare does it while the run simulates: the thread opens the
 * database, begins the run's row (committed, as db_run_begin does), opens
 * a batch (store.h) and inserts the metrics rows handed to it as they are
 * recorded, 64 at a time. After bg_store_join the caller finishes the run
 * with the rows not yet written (rn_result.metrics_written) and commits
 * the batch, so a run's rows still become visible with its final status
 * and a killed process leaves it 'running'. The rows written are those
 * db_run_finish alone would write, in the same order.
 *
 * One thread (the run's) calls everything here; the writing thread only
 * writes. */
#ifndef DTSIM_RUN_BGSTORE_H
#define DTSIM_RUN_BGSTORE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "../io/store.h"

typedef struct bg_store bg_store;

/* Starts the thread, which opens path (db_open_with, flags) and begins the
 * run described by info (its strings must outlive bg_store_join), ready
 * for about expected_metrics rows (0: unknown). Returns NULL when memory
 * or a thread cannot be had: the caller then does the same in line. */
bg_store *bg_store_start(const char *path, unsigned flags,
                         const db_run_info *info, size_t expected_metrics);

/* Becomes 1 when the thread has failed, to opening or to writing: the run
 * may as well stop (eng_hooks.cancel). */
const atomic_int *bg_store_failed(const bg_store *b);

/* The run's next metrics row, in order: all of them, from the first. */
void bg_store_metric(bg_store *b, const db_metric *m);

/* Waits for the thread to write what it was given and frees b. Returns 0
 * with *db open in a batch, *run_id begun, and the first *written rows
 * inserted; or an error code with err set, *db NULL and nothing left
 * open. */
int bg_store_join(bg_store *b, db_store **db, int64_t *run_id, size_t *written,
                  sim_err *err);

#endif
