/* cpus.h: how many cores this process may use, and keeping a helper thread
 * off the core of the thread it helps.
 *
 * A run uses helper threads (evaluation, the database) only when it has a
 * core to spare, and they help only if they run beside the simulation, not
 * in turns with it on one core. Some schedulers place a thread that was
 * just woken on its waker's core (to share its cache), which for a helper
 * woken thousands of times a second by a busy simulation means taking
 * turns: such a helper is told to avoid the simulation's core. */
#ifndef DTSIM_CORE_CPUS_H
#define DTSIM_CORE_CPUS_H

/* The cores this process may run on (its affinity mask, which a container
 * or taskset may narrow), at least 1. */
int cpus_available(void);

/* The core the calling thread runs on now, or -1 when unknown. */
int cpus_current(void);

/* Keeps the calling thread off core `avoid` (from cpus_current of the
 * thread it helps) when another core is allowed; otherwise, or for -1,
 * nothing changes. Best effort: a refusal is not an error. */
void cpus_avoid(int avoid);

#endif
