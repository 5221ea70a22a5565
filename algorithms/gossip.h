/* gossip.h: gossip graphs and their mixing weights, for decentralised
 * algorithms (D-PSGD).
 *
 * A graph over K workers is kept as adjacency lists in one array: worker
 * k's neighbours are adj[off[k] .. off[k + 1]), ascending, without k itself
 * and without repeats; every edge appears in both lists. Weights follow the
 * same layout (wt[e] is W_kj for the e-th entry of k's list) plus a self
 * weight W_kk per worker, so each row sums to 1.
 * Ownership: gossip_graph_* fill a gossip_graph whose arrays the caller
 * frees with gossip_graph_free. */
#ifndef DTSIM_GOSSIP_H
#define DTSIM_GOSSIP_H

#include <stddef.h>

typedef struct gossip_graph {
    int K;
    int *off; /* [K + 1] */
    int *adj; /* [off[K]] */
} gossip_graph;

typedef enum gossip_weights_kind {
    /* W_kj = 1 / (1 + max(deg_k, deg_j)) for neighbours: symmetric and
     * doubly stochastic on any graph (Metropolis-Hastings). */
    GOSSIP_METROPOLIS,
    /* W_kj = 1 / (deg_k + 1) for neighbours and k itself: symmetric (hence
     * doubly stochastic) only on a regular graph. */
    GOSSIP_UNIFORM
} gossip_weights_kind;

/* A ring 0-1-..-(K-1)-0 (K = 2: one edge; K = 1: no edge). 0 or -1 when
 * out of memory. */
int gossip_graph_ring(gossip_graph *g, int K);
/* Every pair of workers joined. */
int gossip_graph_complete(gossip_graph *g, int K);
/* From lists nbr[k][0 .. deg[k]) (any order, possibly with repeats; each
 * edge must be listed from both ends). */
int gossip_graph_lists(gossip_graph *g, int K, const int *const *nbr,
                       const int *deg);
void gossip_graph_free(gossip_graph *g); /* NULL-safe on its arrays */

/* Index of j in k's list, or -1. */
int gossip_edge(const gossip_graph *g, int k, int j);

/* Whether every worker has the same degree. */
int gossip_regular(const gossip_graph *g);
/* Whether the graph is connected; if not, *cut is a worker that worker 0
 * cannot reach. */
int gossip_connected(const gossip_graph *g, int *cut);

/* Mixing weights over the workers still in (gone[k] == 0; gone may be
 * NULL): degrees count the neighbours still in, the weight of an edge to
 * a worker gone is 0, and a worker gone keeps only itself (self 1).
 * wt has off[K] entries, self K. Returns 0, or -1 when out of memory. */
int gossip_weights(const gossip_graph *g, gossip_weights_kind kind,
                   const unsigned char *gone, double *wt, double *self);

#endif
