/* ml_internal.h: helpers shared by the files of sim/ml only. */
#ifndef DTSIM_ML_INTERNAL_H
#define DTSIM_ML_INTERNAL_H

#include <stddef.h>

#include "../core/err.h"

/* Reads a whole file into a new NUL-terminated buffer (*len excludes the
 * NUL; free() it). A gzip file (magic 1f 8b) is inflated when the build
 * defines HAVE_ZLIB and is SIM_EIO otherwise. SIM_EIO when the file cannot
 * be read, SIM_EDATA for corrupt gzip data, SIM_ENOMEM; *out is NULL then. */
int ml__read_file(const char *path, char **out, size_t *len, sim_err *err);

#endif
