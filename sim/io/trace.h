/* trace.h: one run's timeline in the Chrome trace-event format.
 *
 * The file opens in Perfetto's UI (ui.perfetto.dev, "Open trace file") and in
 * chrome://tracing. Layout:
 *   process 1 "nodes": one track per worker ("worker0"..) and the server,
 *     with a "compute" slice per step and a counter of test accuracy;
 *   process 2 "links": the messages on each node's link to the switch, as
 *     slices on the sender's link ("send") and the receiver's ("recv"). A
 *     link carries several messages at once under fair sharing, so each link
 *     has as many lanes ("server link #2") as it has overlapping messages:
 *     slices on one track must nest, and concurrent messages do not;
 *   flow arrows from each send slice to its recv slice.
 * Timestamps are simulated microseconds.
 *
 * The events the engine records name a message's sender but not its
 * receiver. On the star with one parameter server that every algorithm uses
 * today, a worker's message goes to the server, and a server's message goes
 * to the worker that starts a computation the moment it arrives; a message
 * whose receiver cannot be told so has a send slice and no arrow. */
#ifndef DTSIM_TRACE_H
#define DTSIM_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "store.h"

typedef struct trace_run {
    int64_t run_id;
    const char *name, *algorithm;
    const db_event *events; /* in any order */
    size_t n_events;
    const db_metric *metrics; /* NaN accuracies are skipped */
    size_t n_metrics;
} trace_run;

/* What trace_write wrote, for callers and tests. */
typedef struct trace_counts {
    size_t slices;   /* "X" events: compute, send and recv */
    size_t flows;    /* send-to-recv arrows (one "s" and one "f" each) */
    size_t counters; /* "C" events: accuracy */
    size_t matched;  /* messages whose receiver is known */
} trace_counts;

/* Writes r to path (replacing it). SIM_EIO with the path and the reason when
 * the file cannot be written, SIM_ENOMEM. counts may be NULL. */
int trace_write(const char *path, const trace_run *r, trace_counts *counts,
                sim_err *err);

#endif
