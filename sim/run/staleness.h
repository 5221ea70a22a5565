/* staleness.h: the per-worker staleness histograms of a run.
 *
 * An asynchronous run counts every server update by (worker, staleness),
 * up to millions of them over thousands of workers. Counting straight into
 * each worker's bars touches that worker's cold memory on every update; here
 * an update is one store into a buffer, and the buffer is sorted (radix, by
 * worker and staleness) and merged into the workers' bars only when it is
 * full and at the end. The bars come out the same either way. */
#ifndef DTSIM_RUN_STALENESS_H
#define DTSIM_RUN_STALENESS_H

#include <stdint.h>

#include "../io/store.h"

typedef struct st_hist st_hist;

/* For workers 0..n_workers-1 (at most ST_MAX_WORKERS). NULL when out of
 * memory. */
#define ST_MAX_WORKERS (1 << 17)
st_hist *st_hist_create(int n_workers);
void st_hist_destroy(st_hist *h); /* NULL-safe */

/* One update of worker k with the given staleness (0 <= staleness <
 * 2^46). Panics when out of memory, like the rest of a run's bookkeeping. */
void st_hist_add(st_hist *h, int k, int64_t staleness);

/* Worker k's bars, ascending by staleness, each with its count of updates;
 * returns how many. Valid until the next st_hist_add. */
size_t st_hist_bars(st_hist *h, int k, const db_staleness **bars);

#endif
