/* test_net_fast.c: the network's fast paths against its general path.
 *
 * Some answers the network knows without the max-min solver (a star whose
 * hub is the bottleneck, say). Each scenario here runs twice on identical
 * networks, once with the fast paths and once without
 * (net__set_fast_paths), and every delivery (order, time, tag) and every
 * link's busy time and carried bytes must agree to the bit. The traffic is
 * made to hit the fast paths and their edges: broadcasts and gathers at one
 * instant, worker links exactly at, just above and below the hub's share,
 * links changing bandwidth or going down in mid-transfer, and other
 * topologies' routes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/net/net.h"
#include "sim/net/net_internal.h"

enum { MAX_MSGS = 4096 };

typedef struct log_ {
    sim_loop *loop;
    int n;
    double at[MAX_MSGS];
    int64_t tag[MAX_MSGS];
} log_;

static void record(void *user, const net_msg *m)
{
    log_ *l = user;
    cr_assert_lt(l->n, MAX_MSGS);
    l->at[l->n] = sim_loop_now(l->loop);
    l->tag[l->n] = m->tag;
    l->n++;
}

static double uniform(uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*state >> 11) / 9007199254740992.0;
}

/* What a scenario does at one instant: `n` sends, or a link change. */
typedef struct action {
    double at;
    int n;
    int src[16], dst[16];
    uint64_t bytes[16];
    int link; /* >= 0: set this link's bandwidth (0: down, then up) */
    double bw;
} action;

typedef struct scenario {
    int n_nodes;
    int topo; /* 0 star, 1 ring, 2 full, 3 tree */
    net_link_cfg links[16];
    int n_actions;
    action act[400];
} scenario;

typedef struct run_ {
    net *net;
    int64_t next_tag;
} run_;

static void fire(sim_loop *loop, const sim_event *ev)
{
    (void)loop;
    run_ *r = ev->obj;
    const action *a = ev->ptr;
    if (a->link >= 0) {
        if (a->bw > 0) {
            cr_assert_eq(net_link_set_up(r->net, a->link, 1), 0);
            cr_assert_eq(net_link_set_bandwidth(r->net, a->link, a->bw), 0);
        } else {
            cr_assert_eq(net_link_set_up(r->net, a->link, 0), 0);
        }
        return;
    }
    for (int i = 0; i < a->n; i++) {
        net_msg m = {.src = a->src[i],
                     .dst = a->dst[i],
                     .tag = r->next_tag++,
                     .bytes = a->bytes[i]};
        cr_assert_eq(net_send(r->net, &m), 0);
    }
}

typedef struct outcome {
    log_ log;
    int n_links;
    double busy[64], carried[64];
    uint64_t bytes[64];
} outcome;

static void play(const scenario *s, int fast, outcome *o)
{
    sim_loop *loop = sim_loop_create();
    cr_assert_not_null(loop);
    memset(o, 0, sizeof *o);
    o->log.loop = loop;
    sim_err err = {0};
    net_opts opts = {.contention = 1, .deliver = record, .user = &o->log};
    net *n = NULL;
    switch (s->topo) {
    case 0:
        n = net_create_star(loop, s->n_nodes, s->links, 1, record, &o->log,
                            &err);
        break;
    case 1:
        n = net_create_ring(loop, s->n_nodes, s->links[0], &opts, &err);
        break;
    case 2:
        n = net_create_full(loop, s->n_nodes, s->links[0], &opts, &err);
        break;
    default:
        n = net_create_tree(loop, s->n_nodes, 2, s->links[0], &opts, &err);
        break;
    }
    cr_assert_not_null(n, "%s", err.msg);
    net__set_fast_paths(n, fast);
    run_ r = {.net = n};
    for (int i = 0; i < s->n_actions; i++)
        cr_assert_neq(sim_loop_schedule(loop, s->act[i].at, fire, &r, 0, 0,
                                        (void *)&s->act[i]),
                      0);
    sim_loop_run(loop, INFINITY);
    o->n_links = net_link_count(n);
    cr_assert_leq(o->n_links, 64);
    for (int l = 0; l < o->n_links; l++) {
        o->busy[l] = net_link_busy_s(n, l);
        o->carried[l] = net_link_carried_bytes(n, l);
        o->bytes[l] = net_link_bytes(n, l);
    }
    net_destroy(n);
    sim_loop_destroy(loop);
}

static void assert_same(const scenario *s, const char *what, int round)
{
    static outcome fast, slow;
    play(s, 1, &fast);
    play(s, 0, &slow);
    cr_assert_eq(fast.log.n, slow.log.n, "%s %d: deliveries", what, round);
    for (int i = 0; i < fast.log.n; i++) {
        cr_assert_eq(fast.log.tag[i], slow.log.tag[i],
                     "%s %d: delivery %d's message", what, round, i);
        cr_assert(memcmp(&fast.log.at[i], &slow.log.at[i], sizeof(double)) == 0,
                  "%s %d: delivery %d at %.17g, not %.17g", what, round, i,
                  fast.log.at[i], slow.log.at[i]);
    }
    for (int l = 0; l < fast.n_links; l++) {
        cr_assert(memcmp(&fast.busy[l], &slow.busy[l], sizeof(double)) == 0,
                  "%s %d: link %d busy %.17g, not %.17g", what, round, l,
                  fast.busy[l], slow.busy[l]);
        cr_assert(memcmp(&fast.carried[l], &slow.carried[l], sizeof(double)) ==
                      0,
                  "%s %d: link %d carried %.17g, not %.17g", what, round, l,
                  fast.carried[l], slow.carried[l]);
        cr_assert_eq(fast.bytes[l], slow.bytes[l]);
    }
}

/* Worker links relative to the hub's share: equal to it for some fan-in,
 * a hair above or below, well above, or slower than the hub. */
static double worker_bandwidth(uint64_t *st, double hub, int K)
{
    int fan = 1 + (int)(uniform(st) * K);
    double share = hub / fan;
    switch ((int)(uniform(st) * 6)) {
    case 0:
        return share;
    case 1:
        return nextafter(share, INFINITY);
    case 2:
        return nextafter(share, 0);
    case 3:
        return hub;
    case 4:
        return hub * (0.05 + 0.3 * uniform(st));
    default:
        return hub * (1 + 3 * uniform(st));
    }
}

static uint64_t size_of(uint64_t *st)
{
    switch ((int)(uniform(st) * 4)) {
    case 0:
        return 1000;
    case 1:
        return 1 + (uint64_t)(1e5 * uniform(st));
    case 2:
        return 248;
    default:
        return (uint64_t)(1e6 * uniform(st));
    }
}

/* A parameter server's rounds (broadcast, then gathers at random
 * instants), with other traffic and link changes mixed in. */
static void make_star(scenario *s, uint64_t *st, int round)
{
    int K = 2 + (int)(uniform(st) * 12);
    s->n_nodes = K + 1;
    s->topo = 0;
    double hub = uniform(st) < 0.5 ? 1.25e8 : 1e7 + 1e9 * uniform(st);
    s->links[0] = (net_link_cfg){.latency_s = 5e-5, .bandwidth_Bps = hub};
    for (int k = 1; k <= K; k++)
        s->links[k] =
            (net_link_cfg){.latency_s = 1e-5 * uniform(st),
                           .bandwidth_Bps = worker_bandwidth(st, hub, K)};
    double t = 0;
    s->n_actions = 0;
    while (s->n_actions < 390) {
        action *a = &s->act[s->n_actions++];
        memset(a, 0, sizeof *a);
        a->at = t;
        a->link = -1;
        double u = uniform(st);
        if (u < 0.3) { /* broadcast, maybe to a subset */
            for (int k = 1; k <= K && a->n < 16; k++)
                if (uniform(st) < 0.9) {
                    a->src[a->n] = 0;
                    a->dst[a->n] = k;
                    a->bytes[a->n++] = round % 2 ? 248 : size_of(st);
                }
        } else if (u < 0.6) { /* gradients in at one instant */
            for (int k = 1; k <= K && a->n < 16; k++)
                if (uniform(st) < 0.5) {
                    a->src[a->n] = k;
                    a->dst[a->n] = 0;
                    a->bytes[a->n++] = size_of(st);
                }
        } else if (u < 0.95) { /* one message, anywhere */
            a->src[0] = (int)(uniform(st) * (K + 1));
            a->dst[0] = (a->src[0] + 1 + (int)(uniform(st) * K)) % (K + 1);
            a->bytes[0] = size_of(st);
            a->n = 1;
        } else { /* a link changes */
            a->link = (int)(uniform(st) * 2 * (K + 1));
            a->bw = uniform(st) < 0.3 ? 0 : worker_bandwidth(st, hub, K);
        }
        /* Often the same instant, often mid-transfer, sometimes idle. */
        double v = uniform(st);
        t += v < 0.3 ? 0 : v < 0.8 ? 2e-6 * uniform(st) : 1e-3 * uniform(st);
    }
    /* Every link back up at the end, so that every message arrives. */
    for (int l = 0; l < 2 * (K + 1) && s->n_actions < 400; l++) {
        action *a = &s->act[s->n_actions++];
        memset(a, 0, sizeof *a);
        a->at = t + 1;
        a->link = l;
        a->bw = hub;
    }
}

Test(net_fast, star_traffic_is_the_same_with_and_without_fast_paths,
     .timeout = 60)
{
    uint64_t st = 2024;
    static scenario s;
    for (int round = 0; round < 40; round++) {
        make_star(&s, &st, round);
        assert_same(&s, "star", round);
    }
}

Test(net_fast, other_topologies_are_the_same_with_and_without_fast_paths,
     .timeout = 60)
{
    uint64_t st = 99;
    static scenario s;
    for (int round = 0; round < 30; round++) {
        int N = 3 + (int)(uniform(&st) * 6);
        s.n_nodes = N;
        s.topo = 1 + round % 3;
        s.links[0] = (net_link_cfg){.latency_s = 1e-5, .bandwidth_Bps = 1e8};
        s.n_actions = 0;
        double t = 0;
        while (s.n_actions < 200) {
            action *a = &s.act[s.n_actions++];
            memset(a, 0, sizeof *a);
            a->at = t;
            a->link = -1;
            int hub = (int)(uniform(&st) * N);
            int in = uniform(&st) < 0.5;
            for (int k = 0; k < N && a->n < 16; k++)
                if (k != hub && uniform(&st) < 0.7) {
                    a->src[a->n] = in ? k : hub;
                    a->dst[a->n] = in ? hub : k;
                    a->bytes[a->n++] = size_of(&st);
                }
            double v = uniform(&st);
            t += v < 0.3 ? 0 : 1e-4 * uniform(&st);
        }
        assert_same(&s, "graph", round);
    }
}
