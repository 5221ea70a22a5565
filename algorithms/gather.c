#include "gather.h"

#include <stdlib.h>
#include <string.h>

#include "../sim/core/err.h"

int gather_init(gather *g, int K, size_t n)
{
    g->K = K;
    g->n = n;
    g->count = 0;
    g->missing = K;
    g->n_dropped = 0;
    g->vals = malloc((size_t)K * n * sizeof *g->vals);
    g->have = calloc((size_t)K, 1);
    g->dropped = calloc((size_t)K, 1);
    if (!g->vals || !g->have || !g->dropped) {
        gather_deinit(g);
        return -1;
    }
    return 0;
}

void gather_deinit(gather *g)
{
    free(g->vals);
    free(g->have);
    free(g->dropped);
    g->vals = NULL;
    g->have = NULL;
    g->dropped = NULL;
}

int gather_add(gather *g, int k, const double *v)
{
    if (k < 0 || k >= g->K || g->have[k])
        SIM_PANIC("worker %d reported twice in one round", k);
    memcpy(g->vals + (size_t)k * g->n, v, g->n * sizeof *v);
    g->have[k] = 1;
    g->count++;
    if (!g->dropped[k])
        g->missing--;
    return g->missing == 0;
}

int gather_drop(gather *g, int k)
{
    if (g->dropped[k])
        return 0;
    g->dropped[k] = 1;
    g->n_dropped++;
    if (!g->have[k])
        g->missing--;
    return g->count > 0 && g->missing == 0;
}

void gather_restore(gather *g, int k)
{
    if (!g->dropped[k])
        return;
    g->dropped[k] = 0;
    g->n_dropped--;
    if (!g->have[k])
        g->missing++;
}

void gather_mean(gather *g, double *out)
{
    int first = 1;
    for (int k = 0; k < g->K; k++) {
        if (!g->have[k])
            continue;
        const double *v = g->vals + (size_t)k * g->n;
        if (first)
            memcpy(out, v, g->n * sizeof *out);
        else
            for (size_t i = 0; i < g->n; i++)
                out[i] += v[i];
        first = 0;
    }
    for (size_t i = 0; i < g->n; i++)
        out[i] /= g->count;
    memset(g->have, 0, (size_t)g->K);
    g->count = 0;
    g->missing = g->K - g->n_dropped;
}
