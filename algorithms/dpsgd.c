/* dpsgd.c: decentralised parallel SGD, D-PSGD (Lian et al., 2017).
 *
 * There is no server. The workers sit on a gossip graph
 * ($.algorithm.graph: "ring", "complete", or "network": the workers joined
 * by a direct link in $.network) and each exchanges models with its
 * neighbours only. Round r of worker k: draw a mini-batch, compute g_k at
 * x_k and the stepped model y_k = x_k - lr g_k, a computation on the clock;
 * send y_k to every neighbour; once it holds the round-r y_j of every
 * neighbour, mix
 *   x_k = sum_j W_kj y_j   (j over k and its neighbours, in worker order)
 * and start round r + 1 at once. There is no barrier: a worker waits only
 * for its neighbours, so a slow worker holds up its neighbours directly and
 * a worker d hops away by at most d rounds. A neighbour can be one round
 * ahead (it has mixed round r and sent its round r + 1 model), so received
 * models are kept per round parity, two slots per neighbour.
 *
 * Formulation: step, then mix the stepped models. Lian et al. mix the
 * models and subtract the gradient taken at the unmixed model,
 * x_k = sum_j W_kj x_j - lr g_k(x_k); the two agree in expectation, but only
 * step-then-mix is exactly model averaging with one local step on a complete
 * graph with uniform weights: every worker then holds the mean of the
 * stepped models, as MA's server does (tested row for row).
 *
 * Weights ($.algorithm.weights): "metropolis" (Metropolis-Hastings),
 * W_kj = 1 / (1 + max(deg_k, deg_j)) and W_kk = 1 - the others, symmetric
 * and doubly stochastic on any graph; or "uniform", 1 / (deg_k + 1) for k
 * and each neighbour, doubly stochastic only on a regular graph (refused on
 * others). A uniform mix is summed, then divided by deg_k + 1, as MA's
 * server averages.
 *
 * The global model (evaluated as step r): the mean of the workers' models
 * as each was right after it mixed round r, taken once every worker has
 * mixed round r (some may be rounds ahead by then). It is accumulated as
 * the workers mix, as x_ref + mean_k (x_k - x_ref), x_ref the first model of
 * the round, so that it is exactly the common model when the workers agree.
 *
 * Failures. A crashed worker holds up its neighbours at the round they need
 * it for; with on_crash "wait" and no recovery the run ends failed,
 * stalled. A recovered worker resumes from the state it had (as from a
 * checkpoint): it computes the interrupted step again, and the models lost
 * while it was down are sent again by their senders, as a reliable
 * transport would (it also sends again what its neighbours lack). With
 * on_crash "drop", after the timeout it leaves the graph for the rest of
 * the run (also if it comes back): its neighbours stop waiting for it, the
 * weights are recomputed over the workers left, and the global model is
 * their mean. */
#include <stdlib.h>
#include <string.h>

#include "alg.h"
#include "gossip.h"

enum { GRAPH_RING, GRAPH_COMPLETE, GRAPH_NETWORK };

static const char *const graph_choices[] = {"ring", "complete", "network",
                                            NULL};
/* In gossip_weights_kind order. */
static const char *const weights_choices[] = {"metropolis", "uniform", NULL};

static const cfg_param_spec dpsgd_params[] = {
    {.name = "graph",
     .type = CFG_PARAM_CHOICE,
     .def = GRAPH_RING,
     .choices = graph_choices,
     .help = "gossip graph: \"ring\" (k with k - 1 and k + 1), \"complete\", "
             "or \"network\" (the workers joined by a direct link)"},
    {.name = "weights",
     .type = CFG_PARAM_CHOICE,
     .def = GOSSIP_METROPOLIS,
     .choices = weights_choices,
     .help = "\"metropolis\" (1 / (1 + max(deg_i, deg_j))) or \"uniform\" "
             "(1 / (deg_i + 1), regular graphs only)"},
};

enum { COMPUTING, WAITING, DONE };

struct alg {
    int K;
    size_t n;
    long rounds;
    double lr;
    gossip_weights_kind kind;
    gossip_graph g;
    int nnz;              /* entries of the adjacency lists */
    double *wt, *self;    /* [nnz], [K] mixing weights */
    unsigned char *gone;  /* [K] dropped: out of the graph */
    double *x;            /* K x n: the models */
    double *own;          /* K x 2 x n: own stepped model by round parity */
    int64_t *own_round;   /* [2K] the round each own slot holds, 0: none */
    int64_t *sent;        /* [K] last round whose step was done and sent */
    double *recv;         /* 2 x nnz x n: neighbours' models by parity */
    unsigned char *have;  /* [2 nnz] */
    int64_t *round;       /* [K] round being worked on; rounds + 1: done */
    unsigned char *phase; /* [K] */
    size_t *batch_n;      /* [K] */
    double *grad;         /* n */
    /* The global model of rounds next_eval .. next_eval + cap - 1, round t
     * in slot t % cap: reference, sum of differences, who mixed it. */
    int cap;
    int64_t next_eval;
    double *ref, *diff; /* cap x n */
    unsigned char *in;  /* cap x K */
    int *count;         /* [cap] */
    double *mean;       /* n */
};

static const char *const topology_names[] = {"star", "ring", "tree",
                                             "full", "hier", "graph"};

/* A graph from a function that lists worker k's neighbours into out (room
 * for K - 1) and returns how many. Two passes: count, then fill. */
typedef int (*neighbours_fn)(void *user, int k, int *out);

static int graph_from(gossip_graph *g, int K, neighbours_fn nb, void *user)
{
    int *scratch = malloc((size_t)K * sizeof *scratch);
    int *deg = malloc((size_t)K * sizeof *deg);
    const int **lists = malloc((size_t)K * sizeof *lists);
    int *all = NULL, rc = -1;
    if (!scratch || !deg || !lists)
        goto done;
    size_t total = 0;
    for (int k = 0; k < K; k++)
        total += (size_t)(deg[k] = nb(user, k, scratch));
    if (!(all = malloc((total ? total : 1) * sizeof *all)))
        goto done;
    for (size_t k = 0, at = 0; k < (size_t)K; at += (size_t)deg[k], k++) {
        lists[k] = all + at;
        nb(user, (int)k, all + at);
    }
    rc = gossip_graph_lists(g, K, lists, deg);
done:
    free(scratch);
    free(deg);
    free(lists);
    free(all);
    return rc;
}

static int config_neighbours(void *user, int k, int *out)
{
    const cfg_experiment *cfg = user;
    return cfg_network_neighbours(cfg, k, out, cfg->cluster.workers);
}

static int network_neighbours(void *user, int k, int *out)
{
    return alg_ctx_neighbours(user, k, out);
}

static int check(const cfg_experiment *cfg, sim_err *err)
{
    const char *src = cfg->source_path;
    if (cfg->network.compression.codec != CFG_CODEC_NONE)
        return sim_err_set(err, SIM_ECONFIG,
                           "%s: $.network.compression: dpsgd sends whole "
                           "models between neighbours; compression is for "
                           "a parameter server's messages",
                           src);
    int graph = (int)cfg_algorithm_param(cfg, "graph");
    int uniform = (int)cfg_algorithm_param(cfg, "weights") == GOSSIP_UNIFORM;
    if (graph != GRAPH_NETWORK)
        return 0; /* rings and complete graphs are regular and connected */
    cfg_topology t = cfg->network.topology;
    if (t == CFG_TOPOLOGY_STAR || t == CFG_TOPOLOGY_HIER)
        return sim_err_set(err, SIM_ECONFIG,
                           "%s: $.algorithm.graph: \"network\" gossips over "
                           "direct links between workers, and topology "
                           "\"%s\" joins them only through switches (use "
                           "topology ring, tree, full or graph, or graph "
                           "\"ring\" or \"complete\")",
                           src, topology_names[t]);
    gossip_graph g = {0};
    if (graph_from(&g, cfg->cluster.workers, config_neighbours, (void *)cfg))
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    int cut = 0, rc = 0, conn = gossip_connected(&g, &cut);
    if (conn < 0) {
        rc = sim_err_set(err, SIM_ENOMEM, "out of memory");
    } else if (!conn) {
        rc = sim_err_set(err, SIM_ECONFIG,
                         "%s: $.algorithm.graph: the direct links of "
                         "$.network leave worker %d cut off from worker 0, "
                         "so their models would never mix",
                         src, cut);
    } else if (uniform && !gossip_regular(&g)) {
        int k = 1;
        while (g.off[k + 1] - g.off[k] == g.off[1] - g.off[0])
            k++;
        rc = sim_err_set(err, SIM_ECONFIG,
                         "%s: $.algorithm.weights: \"uniform\" (1 / (deg + "
                         "1)) is doubly stochastic only on a regular graph, "
                         "and worker 0 has %d neighbours, worker %d %d; use "
                         "\"metropolis\"",
                         src, g.off[1] - g.off[0], k, g.off[k + 1] - g.off[k]);
    }
    gossip_graph_free(&g);
    return rc;
}

static void destroy(alg *a)
{
    if (!a)
        return;
    gossip_graph_free(&a->g);
    free(a->wt);
    free(a->self);
    free(a->gone);
    free(a->x);
    free(a->own);
    free(a->own_round);
    free(a->sent);
    free(a->recv);
    free(a->have);
    free(a->round);
    free(a->phase);
    free(a->batch_n);
    free(a->grad);
    free(a->ref);
    free(a->diff);
    free(a->in);
    free(a->count);
    free(a->mean);
    free(a);
}

/* The graph of "network" as the simulator built it; it must be the one
 * the config describes (which check validated). */
static int graph_of_network(alg *a, alg_ctx *ctx, sim_err *err)
{
    gossip_graph want = {0};
    int K = a->K, rc = 0;
    if (graph_from(&want, K, config_neighbours, (void *)alg_ctx_config(ctx)) ||
        graph_from(&a->g, K, network_neighbours, ctx)) {
        gossip_graph_free(&want);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    if (memcmp(a->g.off, want.off, ((size_t)K + 1) * sizeof *want.off) ||
        memcmp(a->g.adj, want.adj, (size_t)want.off[K] * sizeof *want.adj))
        rc = sim_err_set(err, SIM_EINTERNAL,
                         "the network's direct links between workers differ "
                         "from the topology's description");
    gossip_graph_free(&want);
    return rc;
}

static int make_slots(alg *a, int cap)
{
    size_t n = a->n, K = (size_t)a->K;
    double *ref = malloc((size_t)cap * n * sizeof *ref);
    double *diff = malloc((size_t)cap * n * sizeof *diff);
    unsigned char *in = calloc((size_t)cap * K, 1);
    int *count = calloc((size_t)cap, sizeof *count);
    if (!ref || !diff || !in || !count) {
        free(ref);
        free(diff);
        free(in);
        free(count);
        return -1;
    }
    /* Move the rounds in progress to their slots in the larger ring. */
    for (int i = 0; i < a->cap; i++) {
        int64_t t = a->next_eval + i;
        size_t from = (size_t)(t % a->cap), to = (size_t)(t % cap);
        memcpy(ref + to * n, a->ref + from * n, n * sizeof *ref);
        memcpy(diff + to * n, a->diff + from * n, n * sizeof *diff);
        memcpy(in + to * K, a->in + from * K, K);
        count[to] = a->count[from];
    }
    free(a->ref);
    free(a->diff);
    free(a->in);
    free(a->count);
    a->ref = ref;
    a->diff = diff;
    a->in = in;
    a->count = count;
    a->cap = cap;
    return 0;
}

static int create(alg **out, alg_ctx *ctx, sim_err *err)
{
    const cfg_experiment *cfg = alg_ctx_config(ctx);
    alg *a = calloc(1, sizeof *a);
    if (!a)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    a->K = alg_ctx_workers(ctx);
    a->n = alg_ctx_n_params(ctx);
    a->rounds = cfg->algorithm.rounds;
    a->lr = cfg->algorithm.lr;
    a->kind = (gossip_weights_kind)(int)alg_ctx_param(ctx, "weights");
    int graph = (int)alg_ctx_param(ctx, "graph"), rc = 0;
    if (graph == GRAPH_NETWORK)
        rc = graph_of_network(a, ctx, err);
    else if ((graph == GRAPH_RING ? gossip_graph_ring(&a->g, a->K)
                                  : gossip_graph_complete(&a->g, a->K)))
        rc = sim_err_set(err, SIM_ENOMEM, "out of memory");
    if (rc) {
        destroy(a);
        return rc;
    }
    size_t K = (size_t)a->K, n = a->n;
    a->nnz = a->g.off[a->K];
    size_t nnz = (size_t)a->nnz + 1;
    a->wt = malloc(nnz * sizeof *a->wt);
    a->self = malloc(K * sizeof *a->self);
    a->gone = calloc(K, 1);
    a->x = malloc(K * n * sizeof *a->x);
    a->own = malloc(2 * K * n * sizeof *a->own);
    a->own_round = calloc(2 * K, sizeof *a->own_round);
    a->sent = calloc(K, sizeof *a->sent);
    a->recv = malloc(2 * nnz * n * sizeof *a->recv);
    a->have = calloc(2 * nnz, 1);
    a->round = calloc(K, sizeof *a->round);
    a->phase = calloc(K, 1);
    a->batch_n = calloc(K, sizeof *a->batch_n);
    a->grad = malloc(n * sizeof *a->grad);
    a->mean = malloc(n * sizeof *a->mean);
    a->next_eval = 1;
    if (!a->wt || !a->self || !a->gone || !a->x || !a->own || !a->own_round ||
        !a->sent || !a->recv || !a->have || !a->round || !a->phase ||
        !a->batch_n || !a->grad || !a->mean || make_slots(a, 4) ||
        gossip_weights(&a->g, a->kind, NULL, a->wt, a->self)) {
        destroy(a);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    /* Every worker starts from the same model. */
    alg_ctx_init_model(ctx, a->x, ALG_STREAM_INIT, 0);
    for (size_t k = 1; k < K; k++)
        memcpy(a->x + k * n, a->x, n * sizeof *a->x);
    *out = a;
    return 0;
}

static double *own_slot(alg *a, int k, int64_t r)
{
    return a->own + ((size_t)k * 2 + (size_t)(r & 1)) * a->n;
}

static double *recv_slot(alg *a, int e, int64_t r)
{
    return a->recv + ((size_t)(r & 1) * (size_t)a->nnz + (size_t)e) * a->n;
}

static unsigned char *have_flag(alg *a, int e, int64_t r)
{
    return a->have + (size_t)(r & 1) * (size_t)a->nnz + (size_t)e;
}

/* Worker k starts its round: the math now, its time on the clock. */
static void begin_round(alg *a, alg_ctx *ctx, int k)
{
    int64_t r = a->round[k];
    const double *x = a->x + (size_t)k * a->n;
    double *y = own_slot(a, k, r);
    a->batch_n[k] = alg_ctx_sample_batch(ctx, k);
    alg_ctx_gradient(ctx, k, x, a->grad);
    for (size_t i = 0; i < a->n; i++)
        y[i] = x[i] - a->lr * a->grad[i];
    a->own_round[2 * k + (r & 1)] = r;
    a->phase[k] = COMPUTING;
    alg_ctx_compute(ctx, k, a->batch_n[k], r);
}

/* Evaluates every round that all the workers still in have mixed. */
static void close_rounds(alg *a, alg_ctx *ctx)
{
    while (a->next_eval <= a->rounds) {
        int64_t t = a->next_eval;
        size_t s = (size_t)(t % a->cap);
        unsigned char *in = a->in + s * (size_t)a->K;
        for (int k = 0; k < a->K; k++)
            if (!a->gone[k] && !in[k])
                return;
        if (a->count[s] == 0)
            return; /* every worker gone: the run stalls */
        const double *ref = a->ref + s * a->n, *diff = a->diff + s * a->n;
        for (size_t i = 0; i < a->n; i++)
            a->mean[i] = ref[i] + diff[i] / a->count[s];
        memset(in, 0, (size_t)a->K);
        a->count[s] = 0;
        a->next_eval++;
        int last = t == a->rounds;
        alg_ctx_evaluate(ctx, t, a->mean, last);
        if (last) {
            alg_ctx_finish(ctx);
            return;
        }
    }
}

/* Worker k's model after mixing round r joins round r's global model. */
static void contribute(alg *a, int k, int64_t r)
{
    if (r - a->next_eval >= a->cap && make_slots(a, 2 * a->cap))
        SIM_PANIC("out of memory for D-PSGD's rounds in progress");
    size_t s = (size_t)(r % a->cap);
    const double *x = a->x + (size_t)k * a->n;
    double *ref = a->ref + s * a->n, *diff = a->diff + s * a->n;
    if (a->count[s] == 0) {
        memcpy(ref, x, a->n * sizeof *x);
        memset(diff, 0, a->n * sizeof *diff);
    } else {
        for (size_t i = 0; i < a->n; i++)
            diff[i] += x[i] - ref[i];
    }
    a->in[s * (size_t)a->K + (size_t)k] = 1;
    a->count[s]++;
}

/* x_k = sum_j W_kj y_j over k and its neighbours still in, in worker
 * order; uniform weights sum first and divide once. */
static void mix(alg *a, int k, int64_t r)
{
    double *x = a->x + (size_t)k * a->n;
    int first = 1, terms = 0;
    int e = a->g.off[k], end = a->g.off[k + 1];
    for (;;) {
        int self = e == end || a->g.adj[e] > k;
        if (!self && a->gone[a->g.adj[e]]) {
            e++;
            continue;
        }
        const double *y = self ? own_slot(a, k, r) : recv_slot(a, e, r);
        double w = a->kind == GOSSIP_UNIFORM ? 1.0
                   : self                    ? a->self[k]
                                             : a->wt[e];
        if (first)
            for (size_t i = 0; i < a->n; i++)
                x[i] = w * y[i];
        else
            for (size_t i = 0; i < a->n; i++)
                x[i] += w * y[i];
        first = 0;
        terms++;
        if (self)
            break;
        e++;
    }
    /* The neighbours after k. */
    for (; e < end; e++) {
        if (a->gone[a->g.adj[e]])
            continue;
        const double *y = recv_slot(a, e, r);
        double w = a->kind == GOSSIP_UNIFORM ? 1.0 : a->wt[e];
        for (size_t i = 0; i < a->n; i++)
            x[i] += w * y[i];
        terms++;
    }
    if (a->kind == GOSSIP_UNIFORM)
        for (size_t i = 0; i < a->n; i++)
            x[i] /= terms;
}

/* Mixes worker k's round when it has its own step and every neighbour's,
 * and goes on to the next round. */
static void try_mix(alg *a, alg_ctx *ctx, int k)
{
    if (a->phase[k] != WAITING || a->gone[k] || alg_ctx_worker_down(ctx, k))
        return;
    int64_t r = a->round[k];
    for (int e = a->g.off[k]; e < a->g.off[k + 1]; e++)
        if (!a->gone[a->g.adj[e]] && !*have_flag(a, e, r))
            return;
    mix(a, k, r);
    for (int e = a->g.off[k]; e < a->g.off[k + 1]; e++)
        *have_flag(a, e, r) = 0;
    alg_ctx_count_update(ctx, k, 0);
    contribute(a, k, r);
    a->round[k] = r + 1;
    if (r == a->rounds)
        a->phase[k] = DONE;
    else
        begin_round(a, ctx, k);
    close_rounds(a, ctx);
}

static void start(alg *a, alg_ctx *ctx)
{
    alg_ctx_evaluate(ctx, 0, a->x, 0);
    for (int k = 0; k < a->K; k++) {
        a->round[k] = 1;
        begin_round(a, ctx, k);
    }
}

static void on_compute_done(alg *a, alg_ctx *ctx, int k, int64_t tag)
{
    if (a->phase[k] != COMPUTING || tag != a->round[k])
        SIM_PANIC("worker %d finished round %lld while in round %lld", k,
                  (long long)tag, (long long)a->round[k]);
    a->phase[k] = WAITING;
    a->sent[k] = tag;
    for (int e = a->g.off[k]; e < a->g.off[k + 1]; e++)
        if (!a->gone[a->g.adj[e]])
            alg_ctx_send(ctx, k, a->g.adj[e], ALG_MSG_PARAMS, tag,
                         own_slot(a, k, tag), a->n);
    try_mix(a, ctx, k);
}

static void on_message(alg *a, alg_ctx *ctx, const alg_msg *m)
{
    int k = m->dst, j = m->src;
    if (a->gone[k] || a->gone[j])
        return;
    int e = gossip_edge(&a->g, k, j);
    if (e < 0)
        SIM_PANIC("worker %d got a model from worker %d, not a neighbour", k,
                  j);
    /* Only this round's and the next; anything else, and a second copy,
     * is a copy sent again after a crash. */
    int64_t r = a->round[k], t = m->tag;
    if (t < r || t > r + 1 || *have_flag(a, e, t))
        return;
    memcpy(recv_slot(a, e, t), m->data, a->n * sizeof *m->data);
    *have_flag(a, e, t) = 1;
    if (t == r)
        try_mix(a, ctx, k);
}

/* Sends again the models of worker `from` that worker `to` needs (its
 * round and the next) and does not hold. */
static void resend(alg *a, alg_ctx *ctx, int from, int to)
{
    if (alg_ctx_worker_down(ctx, from) || alg_ctx_worker_down(ctx, to))
        return;
    int e = gossip_edge(&a->g, to, from);
    for (int64_t t = a->round[to]; t <= a->round[to] + 1; t++)
        if (t <= a->sent[from] && a->own_round[2 * from + (t & 1)] == t &&
            !*have_flag(a, e, t))
            alg_ctx_send(ctx, from, to, ALG_MSG_PARAMS, t, own_slot(a, from, t),
                         a->n);
}

static void on_recover(alg *a, alg_ctx *ctx, int k)
{
    if (a->gone[k])
        return; /* dropped: out of the graph for good */
    /* The step's math was done; the time it takes was lost. */
    if (a->phase[k] == COMPUTING)
        alg_ctx_compute(ctx, k, a->batch_n[k], a->round[k]);
    for (int e = a->g.off[k]; e < a->g.off[k + 1]; e++) {
        int j = a->g.adj[e];
        if (a->gone[j])
            continue;
        resend(a, ctx, j, k);
        resend(a, ctx, k, j);
    }
    try_mix(a, ctx, k);
}

static void on_worker_lost(alg *a, alg_ctx *ctx, int k)
{
    if (a->gone[k])
        return;
    a->gone[k] = 1;
    if (gossip_weights(&a->g, a->kind, a->gone, a->wt, a->self))
        SIM_PANIC("out of memory for D-PSGD's weights");
    for (int e = a->g.off[k]; e < a->g.off[k + 1]; e++)
        try_mix(a, ctx, a->g.adj[e]);
    close_rounds(a, ctx);
}

/* create's arrays: x (K), the own slots (2K), two receive slots per
 * directed edge, grad and mean, and the evaluation window's reference and
 * difference pairs, which grow while the slowest worker is rounds behind
 * the fastest: at most the graph's diameter, bounded by K/2 on a ring (and
 * taken as K for a network graph), 1 on a complete one. */
static void cost(const cfg_experiment *cfg, double rows, alg_cost *c)
{
    (void)rows;
    int K = cfg->cluster.workers,
        graph = (int)cfg_algorithm_param(cfg, "graph");
    double edges = 0, window = 4;
    if (graph == GRAPH_COMPLETE) {
        edges = (double)K * (K - 1);
    } else if (graph == GRAPH_RING) {
        edges = K > 2 ? 2.0 * K : (K == 2 ? 2 : 0);
        window += K / 2.0;
    } else {
        int *out = malloc(((size_t)K + 1) * sizeof *out);
        for (int w = 0; out && w < K; w++) {
            int d = cfg_network_neighbours(cfg, w, out, K);
            edges += d > 0 ? d : 0;
        }
        free(out);
        if (!out)
            edges = (double)K * (K - 1); /* the most there can be */
        window += K;
    }
    *c = (alg_cost){.copies = 3.0 * K + 2 * edges + 2 + 2 * 2 * window,
                    .computes = K,
                    .messages = edges};
}

const alg_ops alg_dpsgd_ops = {
    .name = "dpsgd",
    .summary = "decentralised gossip SGD (D-PSGD): each worker steps, sends "
               "its model to its neighbours and mixes theirs; no server",
    .params = dpsgd_params,
    .n_params = sizeof dpsgd_params / sizeof dpsgd_params[0],
    .serverless = 1,
    .check = check,
    .create = create,
    .start = start,
    .on_compute_done = on_compute_done,
    .on_message = on_message,
    .destroy = destroy,
    .on_recover = on_recover,
    .on_worker_lost = on_worker_lost,
    .cost = cost,
};
