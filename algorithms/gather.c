#include "gather.h"

#include <stdlib.h>
#include <string.h>

#include "../sim/core/err.h"

int gather_init(gather *g, int K, size_t n)
{
    g->K = K;
    g->n = n;
    g->count = 0;
    g->vals = malloc((size_t)K * n * sizeof *g->vals);
    g->have = calloc((size_t)K, 1);
    if (!g->vals || !g->have) {
        gather_deinit(g);
        return -1;
    }
    return 0;
}

void gather_deinit(gather *g)
{
    free(g->vals);
    free(g->have);
    g->vals = NULL;
    g->have = NULL;
}

int gather_add(gather *g, int k, const double *v)
{
    if (k < 0 || k >= g->K || g->have[k])
        SIM_PANIC("worker %d reported twice in one round", k);
    memcpy(g->vals + (size_t)k * g->n, v, g->n * sizeof *v);
    g->have[k] = 1;
    return ++g->count == g->K;
}

void gather_mean(gather *g, double *out)
{
    memcpy(out, g->vals, g->n * sizeof *out);
    for (int k = 1; k < g->K; k++) {
        const double *v = g->vals + (size_t)k * g->n;
        for (size_t i = 0; i < g->n; i++)
            out[i] += v[i];
    }
    for (size_t i = 0; i < g->n; i++)
        out[i] /= g->K;
    memset(g->have, 0, (size_t)g->K);
    g->count = 0;
}
