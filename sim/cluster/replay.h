/* replay.h: a straggler/failure trace file, to replay a measured cluster.
 *
 * CSV with a header line "time,worker,event,value" and one row per event:
 *   time    simulated seconds (>= 0; rows may come in any order and are
 *           replayed in time order, ties in file order)
 *   worker  0..K-1
 *   event   slowdown  value = factor >= 1 multiplying the worker's compute
 *                     time for steps starting from then on (1 = normal)
 *           delay     value = seconds added once to the worker's next step
 *           crash     the worker crashes (value ignored, may be empty)
 *           recover   the worker comes back (value ignored)
 * Blank lines and lines starting with '#' are skipped.
 * Ownership: tr_load allocates *rows; the caller frees it with free(). */
#ifndef DTSIM_REPLAY_H
#define DTSIM_REPLAY_H

#include <stddef.h>

#include "../core/err.h"

typedef enum tr_kind { TR_SLOWDOWN, TR_DELAY, TR_CRASH, TR_RECOVER } tr_kind;

typedef struct tr_row {
    double time_s;
    int worker;
    tr_kind kind;
    double value;
    size_t line; /* in the file, for messages and to keep ties in order */
} tr_row;

/* Reads path for a cluster of `workers` workers. Returns 0, SIM_EIO when the
 * file cannot be read, SIM_EDATA naming path:line for a bad row, or
 * SIM_ENOMEM; *rows is NULL then. Rows come back sorted by time (stable). */
int tr_load(const char *path, int workers, tr_row **rows, size_t *n,
            sim_err *err);

const char *tr_kind_name(tr_kind k);

#endif
