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
 * P(skip >= k) = P(u <= (1 - p)^k) = (1 - p)^k. One uniform per row taken,
 * instead of one per row considered. */
static double gap_at(double u, double log_q)
{
    return floor(log(u) / log_q);
}

/* gap_at for the compact generator's 32-bit draw k (u = k / 2^32). */
static double gap_exact(uint32_t k, double log_q)
{
    return gap_at((double)k / 4294967296.0, log_q);
}

/* The log above was most of a mini-batch's cost. With the compact
 * generator, u = k / 2^32 for a 32-bit draw k, and the gap is a
 * non-increasing step function of k: consecutive k are 2^-32 apart in u,
 * so their logs at least 2^-32 apart, far more than log's error (under 1
 * ulp, at most 2^-48 for |log u| < 32); so the computed logs increase with
 * k, and dividing by log_q < 0 with rounding and taking the floor keep the
 * order. Hence gap_exact(k) = s exactly when last[s] < k <= last[s - 1],
 * where last[s] is the largest k whose gap exceeds s: a table of those,
 * each found with gap_exact itself, gives the very same gaps without the
 * log. To find s quickly, k's leading bits (a coarse log2) pick a bucket,
 * and from[bucket], the smallest gap in that bucket, is where a short
 * scan up the table starts.
 *
 * The table holds the gaps up to the one drawn less than once in 10^6
 * draws, and no more than the batch has rows or GAP_MAX; a larger gap is
 * computed directly. Building it costs a few logs per entry, so it is
 * built only once the batch has made GAP_DRAWS_PER_ENTRY draws per entry:
 * a short run never pays for it. */
#define GAP_MAX 4096
#define GAP_DRAWS_PER_ENTRY 8
#define GAP_BUCKET_BITS 5 /* bits after k's leading one */
/* Buckets for k with fewer than GAP_LZ leading zeros: a smaller k (drawn
 * once in 2^(32 - GAP_LZ)) has its gap computed directly, which keeps the
 * buckets of a worker's batch to 1 KiB. */
#define GAP_LZ 16
#define GAP_BUCKETS (GAP_LZ << GAP_BUCKET_BITS)

static int gap_exceeds(uint32_t k, double log_q, size_t s)
{
    return k == 0 || gap_exact(k, log_q) > (double)s;
}

/* last[s]: the largest k whose gap exceeds s, searched for from where the
 * real-valued threshold, u = (1 - p)^(s + 1), puts it. */
static uint32_t gap_last(double log_q, size_t s)
{
    const uint64_t top = UINT64_C(1) << 32; /* gap_exceeds is false there */
    double est = ldexp(exp((double)(s + 1) * log_q), 32);
    uint64_t at = est < 0               ? 0
                  : est >= 4294967295.0 ? 4294967295u
                                        : (uint64_t)est;
    uint64_t lo, hi; /* gap_exceeds(lo) holds, gap_exceeds(hi) does not */
    if (gap_exceeds((uint32_t)at, log_q, s)) {
        lo = at;
        hi = top;
        for (uint64_t step = 1; lo + step < top; step *= 2) {
            if (!gap_exceeds((uint32_t)(lo + step), log_q, s)) {
                hi = lo + step;
                break;
            }
            lo += step;
        }
    } else {
        hi = at;
        lo = 0;
        for (uint64_t step = 1; step < hi; step *= 2) {
            if (gap_exceeds((uint32_t)(hi - step), log_q, s)) {
                lo = hi - step;
                break;
            }
            hi -= step;
        }
    }
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (gap_exceeds((uint32_t)mid, log_q, s))
            lo = mid;
        else
            hi = mid;
    }
    return (uint32_t)lo;
}

/* k's bucket: its leading zeros and the GAP_BUCKET_BITS bits after its
 * leading one. */
static size_t gap_bucket(uint32_t k)
{
    int lz = __builtin_clz(k); /* k > 0 */
    return (size_t)lz << GAP_BUCKET_BITS |
           ((k << lz) >> (31 - GAP_BUCKET_BITS) &
            ((1u << GAP_BUCKET_BITS) - 1));
}

/* The gaps below the one drawn less than once in 10^6 draws, at most
 * GAP_MAX: 0 when the table would be empty. */
static size_t gap_entries(double log_q)
{
    double n = ceil(log(1e-6) / log_q);
    return n >= 1 && n <= GAP_MAX ? (size_t)n : n > GAP_MAX ? GAP_MAX : 0;
}

static int gap_build(ml_batch *b, size_t n)
{
    uint32_t *last = malloc(n * sizeof *last);
    uint16_t *from = malloc(GAP_BUCKETS * sizeof *from);
    if (!last || !from) {
        free(last);
        free(from);
        return -1;
    }
    for (size_t s = 0; s < n; s++)
        last[s] = gap_last(b->gap_log_q, s);
    /* from[i] = min(gap of the bucket's largest k, n - 1): buckets in the
     * order of their largest k, whose gaps only fall. */
    size_t s = n - 1;
    for (int lz = GAP_LZ - 1; lz >= 0; lz--)
        for (uint32_t mant = 0; mant < (1u << GAP_BUCKET_BITS); mant++) {
            uint32_t top = (UINT32_C(1) << 31 | mant << (31 - GAP_BUCKET_BITS) |
                            ((UINT32_C(1) << (31 - GAP_BUCKET_BITS)) - 1)) >>
                           lz;
            while (s > 0 && last[s - 1] < top)
                s--;
            from[(size_t)lz << GAP_BUCKET_BITS | mant] = (uint16_t)s;
        }
    b->gap_last = last;
    b->gap_from = from;
    b->gap_n = n;
    /* 2^32, answering for no draw, when even the largest draw's gap is
     * past the table. */
    uint64_t past = (uint64_t)last[n - 1] + 1;
    b->gap_k_min = past > (UINT64_C(1) << (32 - GAP_LZ))
                       ? past
                       : UINT64_C(1) << (32 - GAP_LZ);
    return 0;
}

static inline double gap_of(ml_batch *b, uint32_t k, size_t rows);

/* gap_of's other cases: no table yet (built here once it pays), or a gap
 * past its end. A table is built for at most `rows` gaps, since a batch of
 * that many rows has no use for a larger one. */
static double gap_off_table(ml_batch *b, uint32_t k, size_t rows)
{
    if (b->gap_n == 0) {
        size_t want = gap_entries(b->gap_log_q);
        if (want > rows)
            want = rows;
        if (want > 0 && ++b->gap_draws >= want * GAP_DRAWS_PER_ENTRY &&
            gap_build(b, want) == 0)
            return gap_of(b, k, rows);
    }
    return gap_exact(k, b->gap_log_q);
}

/* gap_exact(k, log_q), through the table where it reaches: from gap_k_min
 * on, which is 0 while there is no table. */
static inline double gap_of(ml_batch *b, uint32_t k, size_t rows)
{
    if (k < b->gap_k_min || b->gap_n == 0)
        return gap_off_table(b, k, rows);
    const uint32_t *last = b->gap_last;
    size_t s = b->gap_from[gap_bucket(k)];
    while (k <= last[s])
        s++;
    return (double)s;
}

/* Starts the table afresh when p changed. */
static void gap_for(ml_batch *b, double log_q)
{
    if (b->gap_log_q == log_q)
        return;
    free(b->gap_last);
    free(b->gap_from);
    b->gap_last = NULL;
    b->gap_from = NULL;
    b->gap_n = 0;
    b->gap_k_min = 0;
    b->gap_draws = 0;
    b->gap_log_q = log_q;
}

double ml_batch__gap(ml_batch *b, double p, uint32_t k)
{
    double log_q = log1p(-p);
    gap_for(b, log_q);
    size_t want = gap_entries(log_q);
    if (b->gap_n == 0 && want > 0 && gap_build(b, want) != 0)
        return NAN;
    return gap_of(b, k, GAP_MAX);
}

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
    int compact = rng->type == rng_mt19937_compact;
    if (compact)
        gap_for(b, log_q);
    size_t pos = begin;
    for (;;) {
        double skip;
        if (compact) {
            uint32_t k;
            do /* as gsl_rng_uniform_pos: u = 0 is drawn again */
                k = rng_mt_u32(rng->state);
            while (k == 0);
            skip = gap_of(b, k, N);
        } else {
            skip = gap_at(gsl_rng_uniform_pos(rng), log_q);
        }
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
    free(b->gap_last);
    free(b->gap_from);
    *b = (ml_batch){0};
}
