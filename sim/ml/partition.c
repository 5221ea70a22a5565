/* partition.c: contiguous, IID, label-shard and Dirichlet partitions (see
 * partition.h).
 *
 * The label-based kinds first sort the rows by class (a counting sort, so
 * rows of one class keep file order) and shuffle each class, then decide how
 * many rows of each class each worker gets, and finally lay the rows out
 * worker by worker, classes in increasing order within a worker. */
#include "partition.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"

const char *const ml_partition_kind_names[] = {"contiguous", "iid", "shards",
                                               "dirichlet", NULL};

int ml_partition_kind_from_name(const char *name, ml_partition_kind *out)
{
    for (int k = 0; ml_partition_kind_names[k]; k++)
        if (strcmp(ml_partition_kind_names[k], name) == 0) {
            *out = (ml_partition_kind)k;
            return 0;
        }
    return -1;
}

void ml_partition_deinit(ml_partition *p)
{
    if (!p)
        return;
    free(p->perm);
    free(p->offset);
    p->perm = p->offset = NULL;
    p->n = 0;
    p->K = 0;
}

/* Spark's cut, as ml_partition_contiguous: k * n / K without overflow. */
static size_t cut(size_t n, size_t K, size_t k)
{
    return k * (n / K) + k * (n % K) / K;
}

/* Rows grouped by class: rows of class c are by_class[start[c]..start[c+1]),
 * each class shuffled by rng. */
static int group_by_class(const double *y, size_t n, size_t C, gsl_rng *rng,
                          size_t **by_class, size_t **start, sim_err *err)
{
    *by_class = malloc((n ? n : 1) * sizeof **by_class);
    *start = calloc(C + 1, sizeof **start);
    if (!*by_class || !*start)
        return sim_err_set(err, SIM_ENOMEM, "out of memory partitioning");
    for (size_t i = 0; i < n; i++)
        (*start)[(size_t)y[i] + 1]++;
    for (size_t c = 0; c < C; c++)
        (*start)[c + 1] += (*start)[c];
    size_t *at = malloc((C ? C : 1) * sizeof *at);
    if (!at)
        return sim_err_set(err, SIM_ENOMEM, "out of memory partitioning");
    memcpy(at, *start, C * sizeof *at);
    for (size_t i = 0; i < n; i++)
        (*by_class)[at[(size_t)y[i]]++] = i;
    free(at);
    for (size_t c = 0; c < C; c++) {
        size_t nc = (*start)[c + 1] - (*start)[c];
        if (nc > 1)
            gsl_ran_shuffle(rng, *by_class + (*start)[c], nc, sizeof(size_t));
    }
    return 0;
}

/* Lays out the rows given cuts: class c's rows by_class[start[c] +
 * cuts[c (K+1) + k] .. + cuts[c (K+1) + k + 1]) go to worker k. */
static void lay_out(ml_partition *p, const size_t *by_class,
                    const size_t *start, const size_t *cuts, size_t C)
{
    size_t K = (size_t)p->K, pos = 0;
    for (size_t k = 0; k < K; k++) {
        p->offset[k] = pos;
        for (size_t c = 0; c < C; c++) {
            const size_t *cc = cuts + c * (K + 1);
            size_t len = cc[k + 1] - cc[k];
            memcpy(p->perm + pos, by_class + start[c] + cc[k],
                   len * sizeof *p->perm);
            pos += len;
        }
    }
    p->offset[K] = pos;
}

static int make_shards(ml_partition *p, const ml_partition_opts *o,
                       const size_t *start, size_t C, gsl_rng *rng,
                       size_t *cuts, sim_err *err)
{
    size_t K = (size_t)p->K, s = o->shards;
    if (s < 1 || s > C)
        return sim_err_set(err, SIM_EINVAL,
                           "label shards: classes per worker must be in 1..%zu "
                           "(the classes), got %zu",
                           C, s);
    if (K * s < C)
        return sim_err_set(err, SIM_EINVAL,
                           "label shards: %zu workers x %zu classes each "
                           "leave %zu of the %zu classes unheld",
                           K, s, C - K * s, C);
    size_t *order = malloc(C * sizeof *order);
    size_t *holders = calloc(C, sizeof *holders);
    if (!order || !holders) {
        free(order);
        free(holders);
        return sim_err_set(err, SIM_ENOMEM, "out of memory partitioning");
    }
    for (size_t c = 0; c < C; c++)
        order[c] = c;
    gsl_ran_shuffle(rng, order, C, sizeof *order);
    /* held[c][k] marks, via cuts used as scratch, which workers hold c. */
    for (size_t k = 0; k < K; k++)
        for (size_t j = 0; j < s; j++) {
            size_t c = order[(k * s + j) % C];
            cuts[c * (K + 1) + k + 1] = 1;
            holders[c]++;
        }
    /* Class c's rows are split evenly among its holders, in worker order:
     * the i-th holder gets [cut(n_c, m, i), cut(n_c, m, i + 1)). */
    for (size_t c = 0; c < C; c++) {
        size_t *cc = cuts + c * (K + 1), nc = start[c + 1] - start[c], i = 0;
        cc[0] = 0;
        for (size_t k = 0; k < K; k++) {
            int holds = cc[k + 1] == 1;
            if (holds)
                i++;
            cc[k + 1] = cut(nc, holders[c], i);
        }
    }
    free(order);
    free(holders);
    return 0;
}

static int make_dirichlet(ml_partition *p, const ml_partition_opts *o,
                          const size_t *start, size_t C, gsl_rng *rng,
                          size_t *cuts, sim_err *err)
{
    size_t K = (size_t)p->K;
    if (!(o->alpha > 0) || !isfinite(o->alpha))
        return sim_err_set(err, SIM_EINVAL,
                           "dirichlet: alpha must be finite and > 0, got %g",
                           o->alpha);
    double *alpha = malloc(K * sizeof *alpha), *q = malloc(K * sizeof *q);
    size_t *rows = malloc(K * sizeof *rows);
    if (!alpha || !q || !rows) {
        free(alpha);
        free(q);
        free(rows);
        return sim_err_set(err, SIM_ENOMEM, "out of memory partitioning");
    }
    for (size_t k = 0; k < K; k++)
        alpha[k] = o->alpha;
    int rc = 0, tries = 0;
    for (;;) {
        memset(rows, 0, K * sizeof *rows);
        for (size_t c = 0; c < C; c++) {
            size_t *cc = cuts + c * (K + 1), nc = start[c + 1] - start[c];
            gsl_ran_dirichlet(rng, K, alpha, q);
            double cum = 0;
            cc[0] = 0;
            for (size_t k = 0; k < K; k++) {
                cum += q[k];
                /* Rounded cumulative cuts: the counts add up to n_c exactly
                 * and each is within 1 of n_c q_k. */
                double at = round(cum * (double)nc);
                size_t ck = at >= (double)nc ? nc : (size_t)at;
                cc[k + 1] = k + 1 == K ? nc : ck < cc[k] ? cc[k] : ck;
                rows[k] += cc[k + 1] - cc[k];
            }
        }
        size_t fewest = rows[0];
        for (size_t k = 1; k < K; k++)
            fewest = rows[k] < fewest ? rows[k] : fewest;
        if (fewest >= o->min_rows)
            break;
        if (++tries == 1000) {
            rc = sim_err_set(err, SIM_EDATA,
                             "dirichlet(%g): no draw in 1000 gave every one "
                             "of %zu workers %zu rows",
                             o->alpha, K, o->min_rows);
            break;
        }
    }
    free(alpha);
    free(q);
    free(rows);
    return rc;
}

int ml_partition_make(ml_partition *p, const ml_partition_opts *opts,
                      const double *y, size_t n, size_t n_classes, int K,
                      gsl_rng *rng, sim_err *err)
{
    memset(p, 0, sizeof *p);
    ml_partition_kind kind = opts ? opts->kind : ML_PART_CONTIGUOUS;
    if (K < 1)
        return sim_err_set(err, SIM_EINVAL, "partition over %d workers", K);
    if (kind < ML_PART_CONTIGUOUS || kind > ML_PART_DIRICHLET)
        return sim_err_set(err, SIM_EINVAL, "unknown partition kind %d",
                           (int)kind);
    int by_label = kind == ML_PART_SHARDS || kind == ML_PART_DIRICHLET;
    if (by_label) {
        if (!y || n_classes < 1)
            return sim_err_set(err, SIM_EINVAL,
                               "a label partition needs labels and classes");
        for (size_t i = 0; i < n; i++)
            if (!(y[i] >= 0 && y[i] < (double)n_classes && y[i] == floor(y[i])))
                return sim_err_set(err, SIM_EINVAL,
                                   "row %zu: label %g outside 0..%zu", i, y[i],
                                   n_classes - 1);
    }
    p->K = K;
    p->n = n;
    p->perm = malloc((n ? n : 1) * sizeof *p->perm);
    p->offset = malloc(((size_t)K + 1) * sizeof *p->offset);
    if (!p->perm || !p->offset) {
        ml_partition_deinit(p);
        return sim_err_set(err, SIM_ENOMEM, "out of memory partitioning");
    }
    if (!by_label) {
        for (size_t i = 0; i < n; i++)
            p->perm[i] = i;
        if (kind == ML_PART_IID && n > 1)
            gsl_ran_shuffle(rng, p->perm, n, sizeof *p->perm);
        for (int k = 0; k <= K; k++)
            p->offset[k] = cut(n, (size_t)K, (size_t)k);
        return 0;
    }
    size_t *by_class = NULL, *start = NULL;
    size_t *cuts = calloc(n_classes * ((size_t)K + 1), sizeof *cuts);
    int rc = cuts ? group_by_class(y, n, n_classes, rng, &by_class, &start, err)
                  : sim_err_set(err, SIM_ENOMEM, "out of memory partitioning");
    if (!rc)
        rc = kind == ML_PART_SHARDS
                 ? make_shards(p, opts, start, n_classes, rng, cuts, err)
                 : make_dirichlet(p, opts, start, n_classes, rng, cuts, err);
    if (!rc)
        lay_out(p, by_class, start, cuts, n_classes);
    free(by_class);
    free(start);
    free(cuts);
    if (rc)
        ml_partition_deinit(p);
    return rc;
}

void ml_partition_histogram(const ml_partition *p, const double *y,
                            size_t n_classes, size_t *hist)
{
    memset(hist, 0, (size_t)p->K * n_classes * sizeof *hist);
    for (int k = 0; k < p->K; k++)
        for (size_t i = p->offset[k]; i < p->offset[k + 1]; i++) {
            double c = y[p->perm[i]];
            if (!(c >= 0 && c < (double)n_classes))
                SIM_PANIC("histogram: label %g with %zu classes", c, n_classes);
            hist[(size_t)k * n_classes + (size_t)c]++;
        }
}
