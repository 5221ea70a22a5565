/* dataset.h: labelled examples in memory, and how they are split.
 *
 * A data set is an n x d GSL matrix of features (row-major, one example per
 * row) and n labels stored as doubles (0/1 for binary tasks). It knows nothing
 * of time, workers or networks. Ownership: every function that returns a
 * data set or an index array hands the caller a new object to free with
 * ml_dataset_free / free(). */
#ifndef DTSIM_DATASET_H
#define DTSIM_DATASET_H

#include <gsl/gsl_matrix.h>
#include <gsl/gsl_rng.h>
#include <stddef.h>

#include "../core/err.h"

typedef struct ml_dataset {
    size_t n, d;
    gsl_matrix *X; /* n x d */
    double *y;     /* n labels */
} ml_dataset;

typedef struct ml_csv_opts {
    int header;       /* skip the first line */
    int label_column; /* 0-based; -1 = last column */
    char delimiter;   /* ',' */
} ml_csv_opts;

/* Reads a CSV file of numbers, plain or gzip-compressed (recognised by its
 * magic bytes; a build without HAVE_ZLIB gives SIM_EIO for those). Every row
 * must have the same number of columns; every label must be an integer >= 0.
 * Errors: SIM_EIO when the file cannot be read (or is a directory), SIM_EDATA
 * for bad content, with a message "FILE:LINE: what" (e.g. "data/x.csv:17:
 * expected 31 columns, got 30"). *out is NULL on failure. */
int ml_csv_load(const char *path, const ml_csv_opts *opts, ml_dataset **out,
                sim_err *err);

void ml_dataset_free(ml_dataset *ds); /* NULL-safe */

/* An n x d data set with uninitialised features and labels (n may be 0);
 * NULL when out of memory. */
ml_dataset *ml_dataset_alloc(size_t n, size_t d);

/* A new data set made of rows idx[0..n-1] of src, in that order; NULL when
 * out of memory. */
ml_dataset *ml_dataset_subset(const ml_dataset *src, const size_t *idx,
                              size_t n);

/* Reorders the rows in place so that row i holds what row perm[i] held:
 * the result of ml_dataset_subset(ds, perm, ds->n) without a second copy
 * of the data (a data set of images is the largest block a run holds).
 * perm must be a permutation of 0..n-1. Returns 0, or SIM_ENOMEM (for a
 * bitmap of n bits and one row) with ds unchanged. */
int ml_dataset_permute(ml_dataset *ds, const size_t *perm);

/* Appends a column of ones (the bias feature). SIM_ENOMEM on failure, in
 * which case ds is unchanged. */
int ml_dataset_add_bias(ml_dataset *ds, sim_err *err);

/* Standardises every column of train and test with train's mean and
 * standard deviation (population); constant columns are only centred. */
void ml_dataset_standardize(ml_dataset *train, ml_dataset *test);

/* Scales every column of train and test to [0, 1] by train's minimum and
 * maximum (test values may fall outside); constant columns become 0. For
 * images whose pixels are all in 0..255, the IDX loader's own /255 keeps the
 * pixel scale instead (see loaders.h). */
void ml_dataset_scale_minmax(ml_dataset *train, ml_dataset *test);

/* 1 + the largest label: SIM_EDATA naming the row when a label is not an
 * integer >= 0. With labels 0..C-1 this is the n_classes of softmax/mlp. */
int ml_dataset_n_classes(const ml_dataset *ds, size_t *n_classes, sim_err *err);

/* The n x n_classes one-hot matrix of ds's labels (row i has a 1 in column
 * y[i]), for code that wants targets as vectors; the models here take the
 * labels directly. NULL when out of memory. Panics on a label outside
 * 0..n_classes-1 (check with ml_dataset_n_classes first). */
gsl_matrix *ml_dataset_one_hot(const ml_dataset *ds, size_t n_classes);

/* Row indices of a train/test split.
 * From a JSON file {"train": [...], "test": [...]} of 0-based row indices
 * (other keys ignored); every index must be < n_rows and appear at most once
 * across both lists (SIM_EDATA naming the file and the JSON path otherwise). */
int ml_split_from_file(const char *path, size_t n_rows, size_t **train,
                       size_t *n_train, size_t **test, size_t *n_test,
                       sim_err *err);

/* A random split: a uniform shuffle of 0..n_rows-1 drawn from rng, the first
 * round(test_fraction * n_rows) rows (at least 1, at most n_rows - 1) as test,
 * the rest as train, each list in shuffled order. */
int ml_split_random(size_t n_rows, double test_fraction, gsl_rng *rng,
                    size_t **train, size_t *n_train, size_t **test,
                    size_t *n_test, sim_err *err);

/* Worker k's contiguous share [*begin, *end) of n rows over K workers, cut
 * at floor(k n / K) as Spark's parallelize does (so the post's partitions
 * are reproduced exactly). */
void ml_partition_contiguous(size_t n, int K, int k, size_t *begin,
                             size_t *end);

#endif
