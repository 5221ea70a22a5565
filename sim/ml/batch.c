/* batch.c: Bernoulli and fixed-size mini-batches of row indices.
 *
 * Both samplers reuse the batch's storage, so after the first few rounds a
 * run draws batches without allocating. The draws depend only on the rng's
 * state and the arguments, which makes batches reproducible per worker
 * stream. */
#include "batch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"

static int reserve(ml_batch *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 16;
    while (cap < need)
        cap *= 2;
    size_t *rows = realloc(b->rows, cap * sizeof *rows);
    if (!rows) {
        b->n = 0;
        return -1;
    }
    b->rows = rows;
    b->cap = cap;
    return 0;
}

/* Geometric skipping: the number of rows skipped before the next one taken
 * is Geometric(p) on {0, 1, ...}, drawn by inversion as
 * floor(log(u) / log(1 - p)) with u uniform on (0, 1), since
 * P(skip >= k) = P(u <= (1 - p)^k) = (1 - p)^k. One uniform and one log per
 * row taken, instead of one uniform per row considered. */
int ml_batch_bernoulli(ml_batch *b, size_t begin, size_t end, double p,
                       gsl_rng *rng)
{
    b->n = 0;
    if (end <= begin || !(p > 0))
        return 0;
    size_t N = end - begin;
    if (p >= 1) {
        if (reserve(b, N))
            return -1;
        for (size_t i = 0; i < N; i++)
            b->rows[i] = begin + i;
        b->n = N;
        return 0;
    }
    /* Room for the mean plus a few standard deviations up front, so the
     * common case never reallocates inside the loop. */
    double mean = p * (double)N;
    size_t guess = (size_t)(mean + 4 * sqrt(mean) + 8);
    if (reserve(b, guess < N ? guess : N))
        return -1;
    double log_q = log1p(-p);
    size_t pos = begin;
    for (;;) {
        double skip = floor(log(rng_uniform_pos(rng)) / log_q);
        /* Compared as doubles: a huge skip would overflow size_t. */
        if (skip >= (double)(end - pos))
            break;
        pos += (size_t)skip;
        if (b->n == b->cap && reserve(b, b->n + 1))
            return -1;
        b->rows[b->n++] = pos++;
    }
    return 0;
}

/* Index of the first element of a[0..n) (sorted) that is >= v. */
static size_t lower_bound(const size_t *a, size_t n, size_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Two exact methods, chosen by cost. Floyd's algorithm draws one integer per
 * selected row and keeps the rows sorted by insertion, O(size^2) moves at
 * worst; selection sampling (Knuth's Algorithm S) draws one uniform per
 * candidate row, O(N), and emits rows already in order. Floyd's wins for
 * small batches from large partitions, the scan otherwise. */
int ml_batch_fixed(ml_batch *b, size_t begin, size_t end, size_t size,
                   gsl_rng *rng)
{
    b->n = 0;
    size_t N = end > begin ? end - begin : 0;
    if (size > N)
        size = N;
    if (reserve(b, size))
        return -1;
    if (size == N) {
        for (size_t i = 0; i < N; i++)
            b->rows[i] = begin + i;
        b->n = N;
        return 0;
    }
    size_t *r = b->rows;
    if ((double)size * (double)size <= 8.0 * (double)N) {
        /* Floyd: for j = N - size .. N - 1 take t uniform in [0, j]; if t is
         * already taken take j. Every earlier pick is < j, so j goes last. */
        size_t m = 0;
        for (size_t j = N - size; j < N; j++) {
            size_t t = gsl_rng_uniform_int(rng, j + 1);
            size_t at = lower_bound(r, m, t);
            if (at < m && r[at] == t) {
                r[m++] = j;
            } else {
                memmove(r + at + 1, r + at, (m - at) * sizeof *r);
                r[at] = t;
                m++;
            }
        }
        for (size_t i = 0; i < m; i++)
            r[i] += begin;
    } else {
        /* Take row t with probability (rows still wanted) / (rows left). */
        size_t m = 0;
        for (size_t t = 0; m < size; t++) {
            if ((double)(N - t) * gsl_rng_uniform(rng) < (double)(size - m))
                r[m++] = begin + t;
        }
    }
    b->n = size;
    return 0;
}

void ml_batch_deinit(ml_batch *b)
{
    free(b->rows);
    b->rows = NULL;
    b->n = b->cap = 0;
}
