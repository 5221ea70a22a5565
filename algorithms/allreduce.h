/* allreduce.h: what the synchronous algorithms that can run over an
 * all-reduce ($.algorithm.collective) share. */
#ifndef DTSIM_ALLREDUCE_H
#define DTSIM_ALLREDUCE_H

#include "alg.h"

/* An alg_ops check: an all-reduce (or a sharded server round) does not
 * model crashes (a member that stops would hold every other worker
 * forever, and dropping it would need a new ring), so a config asking for
 * both is refused. Returns 0 or SIM_ECONFIG naming the file and the JSON
 * path ($.algorithm.collective or $.network.servers). */
int alg_check_allreduce(const cfg_experiment *cfg, sim_err *err);

#endif
