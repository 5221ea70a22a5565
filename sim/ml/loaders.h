/* loaders.h: data sets beyond CSV: LIBSVM text, IDX (the MNIST family) and
 * synthetic tasks drawn from a GSL RNG.
 *
 * Every loader returns a new ml_dataset (free with ml_dataset_free) with
 * labels 0..C-1 as doubles, ready for softmax and mlp (logreg wants C = 2).
 * Errors follow dataset.h: SIM_EIO when a file cannot be read, SIM_EDATA for
 * bad content with "FILE:LINE: what" (text formats) or "FILE: what" naming
 * the header field or record (IDX), SIM_EINVAL for bad arguments,
 * SIM_ENOMEM; *out is NULL on failure. Files may be gzip-compressed when the
 * build defines HAVE_ZLIB (dataset.h). */
#ifndef DTSIM_LOADERS_H
#define DTSIM_LOADERS_H

#include <gsl/gsl_rng.h>
#include <stddef.h>

#include "../core/err.h"
#include "dataset.h"

/* ------------------------------------------------------------- LIBSVM */

/* The widest data set ml_libsvm_load makes: an index that would make more
 * columns is refused (file:line, token). Rows are made dense, so a single
 * line "1 4000000000:1" would otherwise ask for 32 GB per row. 10^7 is
 * also the largest $.data.n_features a config may give; LIBSVM's own
 * collections that fit in memory dense stay well below it (rcv1 47,236,
 * news20 1,355,191, url 3,231,961 features). */
#define ML_LIBSVM_MAX_FEATURES 10000000

/* Options of ml_libsvm_load; {0} is LIBSVM's own convention. */
typedef struct ml_libsvm_opts {
    /* Columns of the dense matrix; 0 means the largest index in the file.
     * Give it to load a test file with the train file's width. At most
     * ML_LIBSVM_MAX_FEATURES. */
    size_t n_features;
    int zero_based; /* 0: the first feature is index 1, as LIBSVM writes */
    /* 0: the distinct labels, sorted, become 0..C-1 (so -1/+1 become 0/1 and
     * 1..10 become 0..9); 1: keep them (each must be an integer >= 0). */
    int keep_labels;
    /* 0: no limit beyond ML_LIBSVM_MAX_FEATURES. Otherwise the dense matrix
     * (rows x columns x 8 bytes) may not exceed it: the error names the
     * line and token of the index that set the width. The caller passes its
     * memory limit (dtsim: --max-memory). */
    double max_bytes;
} ml_libsvm_opts;

/* Reads "LABEL INDEX:VALUE ..." lines, indices increasing within a line;
 * absent features are 0. An index above ML_LIBSVM_MAX_FEATURES (or the
 * width opts->max_bytes allows) is SIM_EDATA naming FILE:LINE and the
 * token, before the dense matrix is allocated. Blank lines, "qid:N" tokens and
 * "#" comments are skipped. */
int ml_libsvm_load(const char *path, const ml_libsvm_opts *opts,
                   ml_dataset **out, sim_err *err);

/* ---------------------------------------------------------------- IDX */

typedef struct ml_idx_opts {
    int raw; /* 0: features = bytes / 255, in [0, 1]; 1: the bytes 0..255 */
} ml_idx_opts;

/* Reads an unsigned-byte IDX file of n items of any shape (n x 28 x 28 for
 * the MNIST family: each item becomes a row of 784 features, row-major) and
 * an IDX label file of n bytes. Fashion-MNIST's train set (60k images) loads
 * from its gzip files in well under a second (tools/bench_mlp). */
int ml_idx_load(const char *images_path, const char *labels_path,
                const ml_idx_opts *opts, ml_dataset **out, sim_err *err);

/* ---------------------------------------------------------- synthetic */

/* n points in d dimensions from n_classes Gaussian clusters: class centres
 * drawn once from N(0, separation^2 I), each point's class uniform, the point
 * its centre plus N(0, I). separation >= 0 sets the difficulty (0: labels
 * are noise; 3: nearly separable in a few dimensions). */
int ml_synth_clusters(size_t n, size_t d, size_t n_classes, double separation,
                      gsl_rng *rng, ml_dataset **out, sim_err *err);

typedef enum ml_teacher {
    /* y = 1 when x.w* + noise * N(0, 1) > 0: a linear separator whose labels
     * flip near the boundary. */
    ML_TEACHER_LINEAR = 0,
    /* y ~ Bernoulli(sigmoid(x.w* / noise)): the model logreg assumes;
     * noise = 0 is the noiseless linear teacher. */
    ML_TEACHER_LOGISTIC = 1,
} ml_teacher;

/* n points x ~ N(0, I_d) labelled 0/1 by a teacher w* ~ N(0, I / d) (so
 * x.w* ~ N(0, 1)). w_true, when not NULL, receives w* (d values). */
int ml_synth_teacher(size_t n, size_t d, ml_teacher kind, double noise,
                     gsl_rng *rng, double *w_true, ml_dataset **out,
                     sim_err *err);

#endif
