/* spec.h: a sweep spec (JSON) expanded into a list of runs.
 *
 * A spec names a base config (a path relative to the spec file, or an
 * inline object) and axes that vary it:
 *
 *   {"name": "lr-sweep", "base": "../seed/ma.json",
 *    "set": {"algorithm.rounds": 100},
 *    "grid": [{"name": "K", "path": "cluster.workers", "values": [2, 4]},
 *             {"name": "lr", "path": "algorithm.lr", "values": [0.1, 0.01]}],
 *    "zip":  [{"name": "bw", "path": "network.bandwidth",
 *              "values": ["100Mbps", "1Gbps"]},
 *             {"name": "lat", "path": "network.latency",
 *              "values": ["5ms", "50us"]}],
 *    "seeds": 3,
 *    "blocks": [{"grid": [...], "zip": [...]}, ...]}
 *
 * "set" fixes values for every run (they stay out of the labels); grid axes
 * multiply (the first varies slowest), the zip axes advance
 * together as one more dimension, seeds vary fastest. With "blocks", each
 * block's own grid and zip are crossed with the top-level ones and the
 * blocks' runs follow one another, so one spec can vary parameters that only
 * some algorithms have. Run j is therefore a pure function of the spec: its
 * index, label and overrides never depend on how the sweep is executed.
 *
 * Each run is a list of cfg_override entries (values as JSON text) applied to
 * the base by cfg_load_string; the last two set the run's name (the sweep
 * name and label) and, with seeds, its seed.
 * Ownership: sw_spec_load returns a spec the caller frees with sw_spec_free;
 * every string in it is owned by the spec. */
#ifndef DTSIM_SWEEP_SPEC_H
#define DTSIM_SWEEP_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "../io/config.h"

/* The most runs a spec may expand to. A spec over it (seeds, or a grid
 * whose product is larger) is refused before anything is expanded, naming
 * the JSON path of the seeds or of the axis that takes the count past it.
 * Every run is expanded and prepared (its config loaded and kept, its data
 * read) before the first starts: measured on the release build, a sweep of
 * 99,999 seeds over synthetic data (a data set per run) takes 7 s and
 * 0.7 GB to prepare, so 100,000 keeps preparing within seconds and below a
 * gigabyte; more runs than that are a typo, or a sweep to split into
 * shards (--shard) or several specs. */
#define SW_MAX_RUNS 100000

/* Where one override of a run came from, for messages. */
typedef struct sw_origin {
    const char *axis;  /* the axis name, or "seeds" / "name" */
    const char *where; /* its place in the spec: "$.grid[1].values[2]" */
    const char *label; /* the value's label; NULL for "set" and the name */
} sw_origin;

typedef struct sw_run {
    size_t idx;
    char *label; /* "K=4,lr=0.1,seed=2" */
    cfg_override *ov;
    sw_origin *origin; /* [n_ov], parallel to ov */
    size_t n_ov;
} sw_run;

typedef struct sw_spec {
    char *path;        /* the spec file, as given */
    char *name;        /* default: the file's base name without .json */
    char *text;        /* the spec file's text, stored with the sweep */
    char *base_source; /* the base config's path, or the spec's for inline */
    char *base_text;   /* the base config's JSON text */
    sw_run *runs;
    size_t n_runs;
} sw_spec;

/* Reads, checks and expands path. Returns 0, or SIM_ECONFIG (a bad spec,
 * with file and JSON path in the message), SIM_EIO (unreadable), SIM_ENOMEM;
 * *out is NULL on failure. Runs are not validated against the config format
 * here (see sweep.c, which loads each one). */
int sw_spec_load(const char *path, sw_spec **out, sim_err *err);
void sw_spec_free(sw_spec *s); /* NULL-safe */

/* The override of run r that a config error message is about: the one whose
 * path is the longest prefix of the JSON path the message names. -1 when the
 * message names none of them. */
int sw_run_blame(const sw_run *r, const char *msg);

#endif
