/* compress.c: codecs as encode-then-decode on doubles, with exact sizes.
 *
 * Nothing is actually packed into bytes: the receiver's values follow from
 * the format, so computing them directly is both cheaper and easier to
 * check, and the size is a formula of the format. */
#include "compress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"

typedef struct ranked {
    double mag;
    size_t i;
} ranked;

struct net_codec {
    net_codec_cfg cfg;
    size_t n, k;
    double *work; /* x (+ residual), n values */
    size_t *idx;  /* n indices */
    ranked *rank; /* n (magnitude, index) pairs */
};

static int cfg_ok(const net_codec_cfg *c, size_t n)
{
    if (!c || n < 1)
        return 0;
    int vb_ok = c->value_bytes == 4 || c->value_bytes == 8;
    switch (c->kind) {
    case NET_CODEC_NONE:
        return vb_ok;
    case NET_CODEC_FP16:
        return 1;
    case NET_CODEC_TOPK:
    case NET_CODEC_RANDK:
        return vb_ok && c->k >= 1;
    case NET_CODEC_QSGD:
        return vb_ok && c->levels >= 1;
    }
    return 0;
}

static unsigned level_bits(int s)
{
    unsigned b = 0;
    while ((1ULL << b) < (uint64_t)s + 1)
        b++;
    return b;
}

uint64_t net_codec_size_for(const net_codec_cfg *c, size_t n)
{
    if (!cfg_ok(c, n))
        return 0;
    uint64_t vb = (uint64_t)c->value_bytes, N = n;
    uint64_t k = c->k < n ? c->k : n;
    switch (c->kind) {
    case NET_CODEC_NONE:
        return 4 + N * vb;
    case NET_CODEC_FP16:
        return 4 + 2 * N;
    case NET_CODEC_TOPK:
        return 8 + k * (4 + vb);
    case NET_CODEC_RANDK:
        return 16 + k * vb;
    case NET_CODEC_QSGD:
        return 8 + vb + (N * (1 + level_bits(c->levels)) + 7) / 8;
    }
    return 0;
}

net_codec *net_codec_create(const net_codec_cfg *cfg, size_t n)
{
    if (!cfg_ok(cfg, n))
        return NULL;
    net_codec *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cfg = *cfg;
    c->n = n;
    c->k = cfg->k < n ? cfg->k : n;
    c->work = malloc(n * sizeof *c->work);
    c->idx = malloc(n * sizeof *c->idx);
    c->rank = malloc(n * sizeof *c->rank);
    if (!c->work || !c->idx || !c->rank) {
        net_codec_destroy(c);
        return NULL;
    }
    return c;
}

void net_codec_destroy(net_codec *c)
{
    if (!c)
        return;
    free(c->work);
    free(c->idx);
    free(c->rank);
    free(c);
}

uint64_t net_codec_size(const net_codec *c)
{
    return net_codec_size_for(&c->cfg, c->n);
}

double net_fp16_round(double v)
{
    if (isnan(v) || v == 0.0)
        return v;
    double a = fabs(v);
    /* Halfway between the largest half (65504) and the next power of two
     * rounds up, to infinity. */
    if (a >= 65520.0)
        return copysign(INFINITY, v);
    double quantum;
    if (a < 0x1p-14) {
        quantum = 0x1p-24; /* subnormal halves */
    } else {
        int e;
        frexp(a, &e);                 /* a = m 2^e, m in [0.5, 1) */
        quantum = ldexp(1.0, e - 11); /* 11 significant bits */
    }
    /* nearbyint rounds to nearest, ties to even, in the default mode. */
    return copysign(nearbyint(a / quantum) * quantum, v);
}

/* Value as the wire carries it. */
static double as_wire(double v, int value_bytes)
{
    return value_bytes == 4 ? (double)(float)v : v;
}

/* Larger magnitude first, then lower index: a total order, so the
 * selection never depends on the sort's stability. */
static int by_magnitude(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->mag != y->mag)
        return x->mag > y->mag ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static void top_k(net_codec *c, const double *x, double *out, double *residual)
{
    size_t n = c->n;
    for (size_t i = 0; i < n; i++) {
        c->work[i] = x[i] + (residual ? residual[i] : 0.0);
        c->rank[i] = (ranked){.mag = fabs(c->work[i]), .i = i};
    }
    qsort(c->rank, n, sizeof *c->rank, by_magnitude);
    for (size_t i = 0; i < n; i++)
        out[i] = 0.0;
    for (size_t j = 0; j < c->k; j++) {
        size_t i = c->rank[j].i;
        out[i] = as_wire(c->work[i], c->cfg.value_bytes);
    }
    if (residual)
        for (size_t i = 0; i < n; i++)
            residual[i] = c->work[i] - out[i];
}

static void random_k(net_codec *c, const double *x, double *out, gsl_rng *rng)
{
    size_t n = c->n;
    for (size_t i = 0; i < n; i++) {
        c->work[i] = x[i];
        c->idx[i] = i;
    }
    /* The first k steps of a Fisher-Yates shuffle: k distinct indices. */
    for (size_t j = 0; j < c->k; j++) {
        size_t r = j + (size_t)gsl_rng_uniform_int(rng, n - j);
        size_t t = c->idx[j];
        c->idx[j] = c->idx[r];
        c->idx[r] = t;
    }
    double scale = (double)n / (double)c->k;
    for (size_t i = 0; i < n; i++)
        out[i] = 0.0;
    for (size_t j = 0; j < c->k; j++) {
        size_t i = c->idx[j];
        out[i] = as_wire(c->work[i], c->cfg.value_bytes) * scale;
    }
}

static void qsgd(net_codec *c, const double *x, double *out, gsl_rng *rng)
{
    size_t n = c->n;
    double s = c->cfg.levels, norm2 = 0.0;
    for (size_t i = 0; i < n; i++)
        norm2 += x[i] * x[i];
    double norm = sqrt(norm2);
    double sent = as_wire(norm, c->cfg.value_bytes);
    for (size_t i = 0; i < n; i++) {
        if (norm == 0.0) {
            out[i] = 0.0;
            continue;
        }
        double r = fabs(x[i]) / norm * s;
        double l = floor(r);
        /* The draw is taken for every value, so the stream advances the
         * same way whatever the data. */
        double u = gsl_rng_uniform(rng);
        double xi = l + (u < r - l ? 1.0 : 0.0);
        if (xi > s)
            xi = s;
        out[i] = copysign(sent * xi / s, x[i]);
    }
}

int net_codec_apply(net_codec *c, const double *x, double *out,
                    double *residual, gsl_rng *rng)
{
    switch (c->cfg.kind) {
    case NET_CODEC_NONE:
        for (size_t i = 0; i < c->n; i++)
            out[i] = as_wire(x[i], c->cfg.value_bytes);
        return 0;
    case NET_CODEC_FP16:
        for (size_t i = 0; i < c->n; i++)
            out[i] = net_fp16_round(x[i]);
        return 0;
    case NET_CODEC_TOPK:
        top_k(c, x, out, residual);
        return 0;
    case NET_CODEC_RANDK:
        if (!rng)
            return SIM_EINVAL;
        random_k(c, x, out, rng);
        return 0;
    case NET_CODEC_QSGD:
        if (!rng)
            return SIM_EINVAL;
        qsgd(c, x, out, rng);
        return 0;
    }
    return SIM_EINVAL;
}
