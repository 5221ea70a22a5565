/* bench_net: wall time of the network model on the patterns.
 *
 *   ps       one synchronous parameter-server round (push then pull) of
 *            K workers and S bytes each through one server link, every
 *            flow sharing it (full contention);
 *   spread   the same with each worker's push starting after a random
 *            compute time, so flows start and end one by one and the
 *            server link is reshared at each;
 *   ring     ring all-reduce of S bytes over K workers (closed form), and
 *            message by message for comparison;
 *   curve    the cost of a flow event (start or end) while U unrelated
 *            long flows are in progress elsewhere in the network.
 * Each figure is the best of several repetitions. Simulated times are
 * printed with their closed forms where one exists.
 *
 * usage: bench_net [K [PS_BYTES [RING_BYTES]]]  (defaults 1024, 1e6, 1e8) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sim/net/collective.h"
#include "sim/net/net.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const double LAT = 5e-5, BW = 1.25e9; /* 10 Gb/s, 50 us per link */

static net *star(sim_loop *loop, int n, int contention, net_deliver_fn fn,
                 void *user)
{
    net_link_cfg *l = malloc((size_t)n * sizeof *l);
    for (int i = 0; i < n; i++)
        l[i] = (net_link_cfg){.latency_s = LAT, .bandwidth_Bps = BW};
    sim_err err = {0};
    net *net = net_create_star(loop, n, l, contention, fn, user, &err);
    free(l);
    if (!net) {
        fprintf(stderr, "bench_net: %s\n", err.msg);
        exit(1);
    }
    return net;
}

/* ---- one PS round through a collective ---------------------------------- */

static double ps_round(int K, uint64_t S, double *sim_s)
{
    sim_loop *loop = sim_loop_create();
    double t0 = now_s();
    net *n = star(loop, K + 1, 1, NULL, NULL);
    net_colls *c = net_colls_create(n);
    int *m = malloc((size_t)K * sizeof *m), server = K;
    for (int i = 0; i < K; i++)
        m[i] = i;
    net_coll_cfg cfg = {.kind = NET_COLL_PS_ROUND,
                        .members = m,
                        .n_members = K,
                        .servers = &server,
                        .n_servers = 1,
                        .bytes = S};
    if (net_coll_start(c, &cfg) != 0)
        exit(1);
    sim_loop_run(loop, INFINITY);
    double wall = now_s() - t0;
    *sim_s = sim_loop_now(loop);
    net_destroy(n);
    net_colls_destroy(c);
    sim_loop_destroy(loop);
    free(m);
    return wall;
}

/* ---- a PS round with spread compute times ------------------------------- */

typedef struct spread {
    net *n;
    int K, arrived, pulled;
    uint64_t S;
} spread;

static void spread_deliver(void *user, const net_msg *m)
{
    spread *s = user;
    if (m->dst != s->K) {
        s->pulled++;
        return;
    }
    if (++s->arrived < s->K)
        return;
    for (int i = 0; i < s->K; i++) {
        net_msg p = {.src = s->K, .dst = i, .bytes = s->S};
        net_send(s->n, &p);
    }
}

static void push(sim_loop *loop, const sim_event *ev)
{
    (void)loop;
    spread *s = ev->obj;
    net_msg m = {.src = (int)ev->a, .dst = s->K, .bytes = s->S};
    net_send(s->n, &m);
}

static double ps_spread(int K, uint64_t S, double spread_s, double *sim_s)
{
    sim_loop *loop = sim_loop_create();
    double t0 = now_s();
    spread s = {.K = K, .S = S};
    s.n = star(loop, K + 1, 1, spread_deliver, &s);
    uint64_t st = 12345;
    for (int i = 0; i < K; i++) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(st >> 11) / 9007199254740992.0;
        sim_loop_schedule(loop, spread_s * u, push, &s, i, 0, NULL);
    }
    sim_loop_run(loop, INFINITY);
    double wall = now_s() - t0;
    if (s.pulled != K)
        exit(1);
    *sim_s = sim_loop_now(loop);
    net_destroy(s.n);
    sim_loop_destroy(loop);
    return wall;
}

/* ---- ring all-reduce ---------------------------------------------------- */

static double ring(int K, uint64_t S, int closed, double *sim_s)
{
    sim_loop *loop = sim_loop_create();
    double t0 = now_s();
    net *n = star(loop, K, 1, NULL, NULL);
    net_colls *c = net_colls_create(n);
    net_colls_set_closed_form(c, closed);
    int *m = malloc((size_t)K * sizeof *m);
    for (int i = 0; i < K; i++)
        m[i] = i;
    net_coll_cfg cfg = {.kind = NET_COLL_ALLREDUCE_RING,
                        .members = m,
                        .n_members = K,
                        .bytes = S};
    if (net_coll_start(c, &cfg) != 0)
        exit(1);
    sim_loop_run(loop, INFINITY);
    double wall = now_s() - t0;
    *sim_s = sim_loop_now(loop);
    net_destroy(n);
    net_colls_destroy(c);
    sim_loop_destroy(loop);
    free(m);
    return wall;
}

/* ---- cost of a flow event against unrelated flows ----------------------- */

typedef struct chain {
    net *n;
    int left;
} chain;

/* Each delivery sends the next message between the same two nodes, so
 * the foreground is one flow at a time: a start and an end per message. */
static void chain_deliver(void *user, const net_msg *m)
{
    chain *c = user;
    if (m->src != 0 || c->left == 0)
        return;
    c->left--;
    net_msg next = {.src = 0, .dst = 1, .bytes = 100000};
    net_send(c->n, &next);
}

static double flow_event_cost(int U, int events)
{
    sim_loop *loop = sim_loop_create();
    chain c = {.left = events / 2};
    c.n = star(loop, 2 + 2 * U, 1, chain_deliver, &c);
    /* U long flows, each between its own pair of nodes: none shares a
     * link with another or with the foreground pair (0, 1). */
    for (int u = 0; u < U; u++) {
        net_msg m = {
            .src = 2 + 2 * u, .dst = 3 + 2 * u, .bytes = UINT64_C(1) << 50};
        net_send(c.n, &m);
    }
    sim_loop_run(loop, 0.0); /* the background starts */
    double t0 = now_s();
    net_msg first = {.src = 0, .dst = 1, .bytes = 100000};
    net_send(c.n, &first);
    while (c.left > 0)
        sim_loop_run(loop, sim_loop_now(loop) + 1.0);
    double per = (now_s() - t0) / events;
    net_destroy(c.n);
    sim_loop_destroy(loop);
    return per;
}

int main(int argc, char **argv)
{
    int K = argc > 1 ? atoi(argv[1]) : 1024;
    uint64_t S = argc > 2 ? (uint64_t)atof(argv[2]) : 1000000;
    uint64_t R = argc > 3 ? (uint64_t)atof(argv[3]) : 100000000;
    const int reps = 5;
    double sim, best;

    printf("links: %.0f us latency, %.3g B/s (10 Gb/s); star\n", LAT * 1e6, BW);
    best = INFINITY;
    for (int r = 0; r < reps; r++)
        best = fmin(best, ps_round(K, S, &sim));
    printf("ps round       K=%d S=%llu: sim %.9g s (closed form %.9g), "
           "wall %.3f ms\n",
           K, (unsigned long long)S, sim,
           2 * (2 * LAT + (double)K * (double)S / BW), best * 1e3);

    best = INFINITY;
    for (int r = 0; r < reps; r++)
        best = fmin(best, ps_spread(K, S, 0.1, &sim));
    printf("ps spread      K=%d S=%llu, pushes uniform in [0, 100 ms): "
           "sim %.9g s, wall %.3f ms\n",
           K, (unsigned long long)S, sim, best * 1e3);

    best = INFINITY;
    for (int r = 0; r < reps; r++)
        best = fmin(best, ring(K, R, 1, &sim));
    printf("ring allreduce K=%d S=%llu closed form: sim %.9g s "
           "(2(K-1)(L+S/KB) = %.9g), wall %.3f ms\n",
           K, (unsigned long long)R, sim,
           2.0 * (K - 1) * (2 * LAT + (double)R / K / BW), best * 1e3);
    int km = K > 256 ? 256 : K;
    best = ring(km, R, 0, &sim);
    printf("ring allreduce K=%d S=%llu message by message: sim %.9g s, "
           "wall %.3f ms (%d messages)\n",
           km, (unsigned long long)R, sim, best * 1e3, 2 * km * (km - 1));
    best = ring(K, R, 0, &sim);
    printf("ring allreduce K=%d S=%llu message by message: sim %.9g s, "
           "wall %.3f ms (%d messages)\n",
           K, (unsigned long long)R, sim, best * 1e3, 2 * K * (K - 1));

    printf("flow event cost with U unrelated flows in progress:\n");
    const int Us[] = {0, 10, 100, 1000, 10000, 100000};
    for (size_t i = 0; i < sizeof Us / sizeof Us[0]; i++) {
        double per = INFINITY;
        for (int r = 0; r < 3; r++)
            per = fmin(per, flow_event_cost(Us[i], 20000));
        printf("  U=%6d: %.1f ns per flow event\n", Us[i], per * 1e9);
    }
    return 0;
}
