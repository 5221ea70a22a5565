/* partition.h: how the training rows are shared among K workers.
 *
 * A partition is a permutation of the training rows plus K + 1 offsets:
 * worker k holds rows perm[offset[k] .. offset[k + 1]). The engine reorders
 * the training set once by perm (ml_dataset_subset(train, perm, n)) and then
 * gives worker k the contiguous rows [offset[k], offset[k + 1]), which is all
 * the batch samplers (batch.h) and the models' consecutive-row fast path
 * need. Every row appears exactly once in perm.
 *
 * The contiguous partition is the identity permutation with Spark's cuts
 * (ml_partition_contiguous in dataset.h), so a run that asks for it is
 * unchanged by the reordering. Every other kind draws only from the rng it is
 * given (the engine's partition stream), so a seed fixes the partition.
 * Ownership: ml_partition_make fills a caller-provided struct whose arrays
 * ml_partition_deinit frees. */
#ifndef DTSIM_PARTITION_H
#define DTSIM_PARTITION_H

#include <gsl/gsl_rng.h>
#include <stddef.h>

#include "../core/err.h"

typedef enum ml_partition_kind {
    ML_PART_CONTIGUOUS = 0, /* the post: rows in file order, Spark's cuts */
    ML_PART_IID = 1,        /* a uniform shuffle, then Spark's cuts */
    /* Each worker gets `shards` classes; each class's rows are shuffled and
     * split evenly among the workers holding it. Classes are dealt round-robin
     * over a random order of the classes, so every class is held when
     * K * shards >= n_classes. */
    ML_PART_SHARDS = 2,
    /* For each class c, proportions p ~ Dirichlet(alpha, ..., alpha) over the
     * K workers; class c's shuffled rows are cut at round(n_c * cumsum(p)).
     * Small alpha gives each worker few classes, large alpha approaches IID
     * (Hsu, Qi and Brown, 2019). */
    ML_PART_DIRICHLET = 3,
} ml_partition_kind;

typedef struct ml_partition_opts {
    ml_partition_kind kind;
    size_t shards; /* ML_PART_SHARDS: classes per worker, >= 1 */
    double alpha;  /* ML_PART_DIRICHLET: concentration, > 0 */
    /* ML_PART_DIRICHLET: redraw until every worker has at least min_rows rows
     * (0: no minimum); SIM_EDATA after 1000 draws fail. */
    size_t min_rows;
} ml_partition_opts;

typedef struct ml_partition {
    int K;
    size_t n;
    size_t *perm;   /* n row indices */
    size_t *offset; /* K + 1: worker k holds perm[offset[k]..offset[k+1]) */
} ml_partition;

/* Partitions rows 0..n-1 with labels y[0..n-1] (integers 0..n_classes-1;
 * only the label-based kinds read them, and y may be NULL for the others)
 * over K >= 1 workers. Errors: SIM_EINVAL for K < 1, a bad kind or option, a
 * label outside 0..n_classes-1, or K * shards < n_classes (classes nobody
 * would hold); SIM_EDATA when min_rows cannot be met; SIM_ENOMEM. On failure
 * *p is empty (safe to deinit). */
int ml_partition_make(ml_partition *p, const ml_partition_opts *opts,
                      const double *y, size_t n, size_t n_classes, int K,
                      gsl_rng *rng, sim_err *err);

void ml_partition_deinit(ml_partition *p); /* NULL-safe, idempotent */

/* Config names of the kinds, indexed by ml_partition_kind: "contiguous",
 * "iid", "shards", "dirichlet"; NULL-terminated. */
extern const char *const ml_partition_kind_names[];

/* The kind named `name`: 0, or -1 when no kind has that name. */
int ml_partition_kind_from_name(const char *name, ml_partition_kind *out);

/* hist[k * n_classes + c] = rows of class c held by worker k (K x n_classes,
 * caller-allocated), for recording a run's data skew. */
void ml_partition_histogram(const ml_partition *p, const double *y,
                            size_t n_classes, size_t *hist);

#endif
