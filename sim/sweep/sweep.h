/* sweep.h: the `dtsim sweep` and `dtsim merge` commands.
 *
 * sweep_main expands a sweep spec (spec.h), validates every run and reads
 * its data before anything is written, then runs the runs on worker
 * processes (or MPI ranks) while this process alone writes the database.
 * merge_main combines the databases of shards into one. Both take the
 * arguments after the command name and return the process exit status:
 * 0 success, 1 a run failed or an internal or I/O error, 2 bad input. */
#ifndef DTSIM_SWEEP_H
#define DTSIM_SWEEP_H

int sweep_main(int argc, char **argv);
int merge_main(int argc, char **argv);

extern const char sweep_usage[];
extern const char merge_usage[];

#endif
