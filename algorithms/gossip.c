#include "gossip.h"

#include <stdlib.h>
#include <string.h>

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

void gossip_graph_free(gossip_graph *g)
{
    free(g->off);
    free(g->adj);
    g->off = g->adj = NULL;
}

/* Room for K nodes and total adjacency entries; -1 (g empty) when out of
 * memory. */
static int graph_alloc(gossip_graph *g, int K, size_t total)
{
    g->K = K;
    g->off = calloc((size_t)K + 1, sizeof *g->off);
    g->adj = malloc((total ? total : 1) * sizeof *g->adj);
    if (!g->off || !g->adj) {
        gossip_graph_free(g);
        return -1;
    }
    return 0;
}

int gossip_graph_lists(gossip_graph *g, int K, const int *const *nbr,
                       const int *deg)
{
    size_t total = 0;
    for (int k = 0; k < K; k++)
        total += (size_t)deg[k];
    if (graph_alloc(g, K, total))
        return -1;
    int at = 0;
    for (int k = 0; k < K; k++) {
        int start = at;
        memcpy(g->adj + at, nbr[k], (size_t)deg[k] * sizeof *g->adj);
        qsort(g->adj + at, (size_t)deg[k], sizeof *g->adj, cmp_int);
        for (int i = 0; i < deg[k]; i++) {
            int v = g->adj[start + i];
            if (v != k && (at == start || g->adj[at - 1] != v))
                g->adj[at++] = v;
        }
        g->off[k] = start;
        g->off[k + 1] = at;
    }
    return 0;
}

/* Builds a graph where j is k's neighbour when pick(K, k, j). */
static int graph_by(gossip_graph *g, int K, int (*pick)(int, int, int))
{
    size_t total = 0;
    for (int k = 0; k < K; k++)
        for (int j = 0; j < K; j++)
            total += j != k && pick(K, k, j);
    if (graph_alloc(g, K, total))
        return -1;
    int at = 0;
    for (int k = 0; k < K; k++) {
        g->off[k] = at;
        for (int j = 0; j < K; j++)
            if (j != k && pick(K, k, j))
                g->adj[at++] = j;
    }
    g->off[K] = at;
    return 0;
}

static int ring_pick(int K, int k, int j)
{
    return j == (k + 1) % K || j == (k + K - 1) % K;
}

static int complete_pick(int K, int k, int j)
{
    (void)K;
    (void)k;
    (void)j;
    return 1;
}

int gossip_graph_ring(gossip_graph *g, int K)
{
    return graph_by(g, K, ring_pick);
}

int gossip_graph_complete(gossip_graph *g, int K)
{
    return graph_by(g, K, complete_pick);
}

int gossip_edge(const gossip_graph *g, int k, int j)
{
    int lo = g->off[k], hi = g->off[k + 1];
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (g->adj[mid] < j)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < g->off[k + 1] && g->adj[lo] == j ? lo : -1;
}

int gossip_regular(const gossip_graph *g)
{
    for (int k = 1; k < g->K; k++)
        if (g->off[k + 1] - g->off[k] != g->off[1] - g->off[0])
            return 0;
    return 1;
}

int gossip_connected(const gossip_graph *g, int *cut)
{
    if (g->K <= 1)
        return 1;
    unsigned char *seen = calloc((size_t)g->K, 1);
    int *queue = malloc((size_t)g->K * sizeof *queue);
    int ok = -1;
    if (seen && queue) {
        int head = 0, tail = 0;
        queue[tail++] = 0;
        seen[0] = 1;
        while (head < tail) {
            int k = queue[head++];
            for (int e = g->off[k]; e < g->off[k + 1]; e++)
                if (!seen[g->adj[e]]) {
                    seen[g->adj[e]] = 1;
                    queue[tail++] = g->adj[e];
                }
        }
        ok = 1;
        for (int k = 0; k < g->K && ok; k++)
            if (!seen[k]) {
                ok = 0;
                if (cut)
                    *cut = k;
            }
    }
    free(seen);
    free(queue);
    return ok;
}

/* Degree of k among the workers still in. */
static int live_degree(const gossip_graph *g, const unsigned char *gone, int k)
{
    int d = 0;
    for (int e = g->off[k]; e < g->off[k + 1]; e++)
        d += !(gone && gone[g->adj[e]]);
    return d;
}

int gossip_weights(const gossip_graph *g, gossip_weights_kind kind,
                   const unsigned char *gone, double *wt, double *self)
{
    int *deg = malloc(((size_t)g->K + 1) * sizeof *deg);
    if (!deg)
        return -1;
    for (int k = 0; k < g->K; k++)
        deg[k] = gone && gone[k] ? 0 : live_degree(g, gone, k);
    for (int k = 0; k < g->K; k++) {
        int in = !(gone && gone[k]);
        double sum = 0;
        for (int e = g->off[k]; e < g->off[k + 1]; e++) {
            int j = g->adj[e];
            if (!in || (gone && gone[j])) {
                wt[e] = 0;
                continue;
            }
            int d = deg[k] > deg[j] ? deg[k] : deg[j];
            wt[e] = kind == GOSSIP_METROPOLIS ? 1.0 / (1.0 + d)
                                              : 1.0 / (deg[k] + 1.0);
            sum += wt[e];
        }
        self[k] = in ? 1.0 - sum : 1.0;
    }
    free(deg);
    return 0;
}
