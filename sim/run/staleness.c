#include "staleness.h"

#include <stdlib.h>
#include <string.h>

#include "../core/err.h"

/* An update is one key: the worker in the top 18 bits, the staleness in the
 * low 46, so that keys sort by worker, then staleness. */
#define ST_SHIFT 46
#define ST_LOW_MASK ((UINT64_C(1) << ST_SHIFT) - 1)

/* The buffer grows to this many keys (8 MiB), then is merged when full. */
#define ST_MAX_BUF ((size_t)1 << 20)

/* Radix digits of the sort: 11 bits, 2048 counters. */
#define RADIX_BITS 11
#define RADIX (1u << RADIX_BITS)

typedef struct st_bars {
    db_staleness *bar; /* ascending by staleness */
    size_t len;
} st_bars;

struct st_hist {
    int n;
    st_bars *w;      /* [n] */
    uint64_t *buf;   /* keys not yet merged */
    uint64_t *tmp;   /* the sort's second buffer */
    size_t len, cap; /* of buf (and tmp) */
};

st_hist *st_hist_create(int n_workers)
{
    if (n_workers < 0 || n_workers > ST_MAX_WORKERS)
        return NULL;
    st_hist *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->n = n_workers;
    h->w = calloc(n_workers ? (size_t)n_workers : 1, sizeof *h->w);
    if (!h->w) {
        free(h);
        return NULL;
    }
    return h;
}

void st_hist_destroy(st_hist *h)
{
    if (!h)
        return;
    for (int k = 0; k < h->n; k++)
        free(h->w[k].bar);
    free(h->w);
    free(h->buf);
    free(h->tmp);
    free(h);
}

/* Least significant digit first, skipping the digits every key shares (the
 * high ones, mostly): a stable counting sort per digit, between a and tmp.
 * Returns whichever holds the sorted keys. */
static const uint64_t *radix_sort(uint64_t *a, uint64_t *tmp, size_t n)
{
    uint64_t all_or = 0, all_and = ~UINT64_C(0);
    for (size_t i = 0; i < n; i++) {
        all_or |= a[i];
        all_and &= a[i];
    }
    uint64_t varies = all_or ^ all_and;
    size_t count[RADIX];
    for (int shift = 0; shift < 64; shift += RADIX_BITS) {
        if (!((varies >> shift) & (RADIX - 1)))
            continue;
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++)
            count[(a[i] >> shift) & (RADIX - 1)]++;
        size_t sum = 0;
        for (size_t d = 0; d < RADIX; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[(a[i] >> shift) & (RADIX - 1)]++] = a[i];
        uint64_t *t = a;
        a = tmp;
        tmp = t;
    }
    return a;
}

/* Merges the sorted keys[0..n) of worker k into its bars. */
static void merge_worker(st_bars *b, const uint64_t *keys, size_t n)
{
    /* New bars: run lengths of equal keys. */
    size_t n_new = 0;
    for (size_t i = 0; i < n; i++)
        n_new += i == 0 || keys[i] != keys[i - 1];
    db_staleness *out = malloc((b->len + n_new) * sizeof *out);
    if (!out)
        SIM_PANIC("out of memory for the staleness histogram");
    size_t i = 0, j = 0, m = 0;
    while (i < b->len || j < n) {
        int64_t s_new = j < n ? (int64_t)(keys[j] & ST_LOW_MASK) : INT64_MAX;
        int64_t s_old = i < b->len ? b->bar[i].staleness : INT64_MAX;
        int64_t s = s_new < s_old ? s_new : s_old;
        int64_t count = 0;
        if (s_old == s)
            count += b->bar[i++].updates;
        for (; j < n && (int64_t)(keys[j] & ST_LOW_MASK) == s; j++)
            count++;
        out[m++] = (db_staleness){.staleness = s, .updates = count};
    }
    free(b->bar);
    b->bar = out;
    b->len = m;
}

static void flush(st_hist *h)
{
    if (h->len == 0)
        return;
    const uint64_t *keys = radix_sort(h->buf, h->tmp, h->len);
    for (size_t i = 0; i < h->len;) {
        size_t k = keys[i] >> ST_SHIFT, e = i + 1;
        while (e < h->len && keys[e] >> ST_SHIFT == k)
            e++;
        merge_worker(&h->w[k], keys + i, e - i);
        i = e;
    }
    h->len = 0;
}

void st_hist_add(st_hist *h, int k, int64_t staleness)
{
    if (k < 0 || k >= h->n || staleness < 0 ||
        (uint64_t)staleness > ST_LOW_MASK)
        SIM_PANIC("staleness histogram: worker %d, staleness %lld", k,
                  (long long)staleness);
    if (h->len == h->cap) {
        if (h->cap < ST_MAX_BUF) {
            size_t cap = h->cap ? 2 * h->cap : 4096;
            uint64_t *b = realloc(h->buf, cap * sizeof *b);
            if (!b)
                SIM_PANIC("out of memory for the staleness histogram");
            h->buf = b;
            uint64_t *t = realloc(h->tmp, cap * sizeof *t);
            if (!t)
                SIM_PANIC("out of memory for the staleness histogram");
            h->tmp = t;
            h->cap = cap;
        } else {
            flush(h);
        }
    }
    h->buf[h->len++] = (uint64_t)k << ST_SHIFT | (uint64_t)staleness;
}

size_t st_hist_bars(st_hist *h, int k, const db_staleness **bars)
{
    flush(h);
    *bars = h->w[k].bar;
    return h->w[k].len;
}
