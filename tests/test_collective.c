/* test_collective.c: collectives against their closed forms, the ring's
 * closed form against message-by-message simulation (alone and with other
 * traffic on its links), and byte conservation. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/net/collective.h"
#include "sim/net/net.h"

#define REL_TOL 1e-9

#define assert_rel(got, want)                                                  \
    do {                                                                       \
        double got_ = (got), want_ = (want);                                   \
        cr_assert(epsilon_eq(dbl, got_, want_, REL_TOL *fabs(want_)),          \
                  "%s: got %.17g, want %.17g", #got, got_, want_);             \
    } while (0)

/* When each member got its result, and when the whole collective ended. */
typedef struct watch {
    sim_loop *loop;
    double member_at[2048];
    int n_members_done;
    double done_at;
    int n_done;
} watch;

static void on_member(void *user, int64_t tag, int member)
{
    (void)tag;
    watch *w = user;
    cr_assert_lt(member, 2048);
    w->member_at[member] = sim_loop_now(w->loop);
    w->n_members_done++;
}

static void on_done(void *user, int64_t tag)
{
    (void)tag;
    watch *w = user;
    w->done_at = sim_loop_now(w->loop);
    w->n_done++;
}

typedef struct setup {
    sim_loop *loop;
    net *net;
    net_colls *colls;
    watch w;
} setup;

static void setup_star(setup *s, int n_nodes, const net_link_cfg *links,
                       int contention)
{
    memset(s, 0, sizeof *s);
    s->loop = sim_loop_create();
    sim_err err = {0};
    s->net =
        net_create_star(s->loop, n_nodes, links, contention, NULL, NULL, &err);
    cr_assert_not_null(s->net, "%s", err.msg);
    s->colls = net_colls_create(s->net);
    cr_assert_not_null(s->colls);
    s->w.loop = s->loop;
}

static void setup_uniform_star(setup *s, int n_nodes, double lat, double bw,
                               int contention)
{
    net_link_cfg *links = malloc((size_t)n_nodes * sizeof *links);
    for (int i = 0; i < n_nodes; i++)
        links[i] = (net_link_cfg){.latency_s = lat, .bandwidth_Bps = bw};
    setup_star(s, n_nodes, links, contention);
    free(links);
}

static void teardown(setup *s)
{
    net_destroy(s->net);
    net_colls_destroy(s->colls);
    sim_loop_destroy(s->loop);
}

static int *iota(int n, int first)
{
    int *a = malloc((size_t)n * sizeof *a);
    for (int i = 0; i < n; i++)
        a[i] = first + i;
    return a;
}

static void start(setup *s, net_coll_kind kind, const int *members, int K,
                  const int *servers, int P, uint64_t bytes, int arity)
{
    net_coll_cfg cfg = {.kind = kind,
                        .members = members,
                        .n_members = K,
                        .servers = servers,
                        .n_servers = P,
                        .bytes = bytes,
                        .arity = arity,
                        .on_member = on_member,
                        .on_done = on_done,
                        .user = &s->w};
    cr_assert_eq(net_coll_start(s->colls, &cfg), 0);
}

/* Bytes sent equal bytes received, node by node summed, and the total. */
static void assert_conserved(const net *n)
{
    uint64_t sent = 0, received = 0;
    for (int i = 0; i < net_node_count(n); i++) {
        sent += net_bytes_sent(n, i);
        received += net_bytes_received(n, i);
    }
    cr_assert_eq(sent, received);
    cr_assert_eq(sent, net_total_bytes(n));
}

/* ---- ring all-reduce ---------------------------------------------------- */

static double ring_time(int K, double S, double L, double B)
{
    return 2.0 * (K - 1) * (L + S / (K * B));
}

Test(coll, ring_allreduce_takes_2_k_minus_1_steps_of_s_over_k)
{
    const int Ks[] = {2, 3, 8, 17, 64};
    const double Ss[] = {6.4e7, 1e6 * 17 * 8 * 3};
    const double ls[] = {0.0, 5e-6, 1e-3};
    const double bs[] = {1.25e8, 1.25e9, 1e10};
    for (size_t a = 0; a < 5; a++)
        for (size_t b = 0; b < 2; b++)
            for (size_t c = 0; c < 3; c++)
                for (size_t d = 0; d < 3; d++)
                    for (int closed = 0; closed <= 1; closed++) {
                        int K = Ks[a];
                        /* S divisible by K, so every chunk is S/K. */
                        uint64_t S = (uint64_t)Ss[b] / (uint64_t)K * K;
                        setup s;
                        setup_uniform_star(&s, K, ls[c], bs[d], 1);
                        net_colls_set_closed_form(s.colls, closed);
                        int *m = iota(K, 0);
                        start(&s, NET_COLL_ALLREDUCE_RING, m, K, NULL, 0, S, 0);
                        sim_loop_run(s.loop, INFINITY);
                        cr_assert_eq(s.w.n_done, 1);
                        cr_assert_eq(s.w.n_members_done, K);
                        /* A star route crosses two links. */
                        double want = ring_time(K, (double)S, 2 * ls[c], bs[d]);
                        assert_rel(s.w.done_at, want);
                        for (int i = 0; i < K; i++)
                            assert_rel(s.w.member_at[i], want);
                        cr_assert_eq(net_colls_closed_form(s.colls),
                                     (uint64_t)closed);
                        cr_assert_eq(net_total_messages(s.net),
                                     (uint64_t)(2 * K * (K - 1)));
                        cr_assert_eq(net_total_bytes(s.net),
                                     2 * (uint64_t)(K - 1) * S);
                        assert_conserved(s.net);
                        cr_assert_eq(net_colls_running(s.colls), 0);
                        free(m);
                        teardown(&s);
                    }
}

Test(coll, ring_allreduce_on_a_ring_topology_uses_one_hop_routes)
{
    const int K = 12;
    const double l = 2e-5, b = 1e9;
    const uint64_t S = 12000000;
    for (int closed = 0; closed <= 1; closed++) {
        setup s;
        memset(&s, 0, sizeof s);
        s.loop = sim_loop_create();
        net_opts o = {.contention = 1};
        sim_err err = {0};
        s.net = net_create_ring(
            s.loop, K, (net_link_cfg){.latency_s = l, .bandwidth_Bps = b}, &o,
            &err);
        cr_assert_not_null(s.net, "%s", err.msg);
        s.colls = net_colls_create(s.net);
        net_colls_set_closed_form(s.colls, closed);
        s.w.loop = s.loop;
        int *m = iota(K, 0);
        start(&s, NET_COLL_ALLREDUCE_RING, m, K, NULL, 0, S, 0);
        sim_loop_run(s.loop, INFINITY);
        assert_rel(s.w.done_at, ring_time(K, (double)S, l, b));
        /* Only the clockwise links carried anything. */
        for (int c = 0; c < K; c++) {
            cr_assert_eq(net_link_bytes(s.net, 2 * c), 2 * (K - 1) * S / K);
            cr_assert_eq(net_link_bytes(s.net, 2 * c + 1), 0);
        }
        free(m);
        teardown(&s);
    }
}

/* A heterogeneous star, a ring of uneven chunks, and a burst of other
 * traffic that starts halfway and crosses ring links: the closed form
 * (broken by the traffic) must give what messages give. */
typedef struct burst {
    net *net;
    int src, dst;
    uint64_t bytes;
} burst;

static void fire_burst(sim_loop *loop, const sim_event *ev)
{
    (void)loop;
    burst *b = ev->obj;
    net_msg m = {.src = b->src, .dst = b->dst, .bytes = b->bytes};
    cr_assert_eq(net_send(b->net, &m), 0);
}

static void run_hetero(int closed, int with_burst, int contention,
                       double *member_at, uint64_t *counts)
{
    enum { K = 9 };
    net_link_cfg links[K + 1];
    uint64_t st = 99;
    for (int i = 0; i <= K; i++) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(st >> 11) / 9007199254740992.0;
        links[i] = (net_link_cfg){.latency_s = 1e-5 * (1 + i % 3),
                                  .bandwidth_Bps = 1e9 * (1 + 3 * u)};
    }
    setup s;
    setup_star(&s, K + 1, links, contention);
    net_colls_set_closed_form(s.colls, closed);
    int *m = iota(K, 0);
    start(&s, NET_COLL_ALLREDUCE_RING, m, K, NULL, 0, 10000003, 0);
    burst b = {.net = s.net, .src = K, .dst = 4, .bytes = 30000000};
    burst b2 = {.net = s.net, .src = 2, .dst = K, .bytes = 1000000};
    if (with_burst) {
        sim_loop_schedule(s.loop, 7.3e-3, fire_burst, &b, 0, 0, NULL);
        sim_loop_schedule(s.loop, 9.1e-3, fire_burst, &b2, 0, 0, NULL);
    }
    sim_loop_run(s.loop, INFINITY);
    cr_assert_eq(s.w.n_done, 1);
    for (int i = 0; i < K; i++)
        member_at[i] = s.w.member_at[i];
    for (int i = 0; i <= K; i++) {
        counts[3 * i] = net_bytes_sent(s.net, i);
        counts[3 * i + 1] = net_bytes_received(s.net, i);
        counts[3 * i + 2] = net_link_bytes(s.net, 2 * i) ^
                            (net_link_bytes(s.net, 2 * i + 1) << 1);
    }
    counts[3 * (K + 1)] = net_total_messages(s.net);
    assert_conserved(s.net);
    free(m);
    teardown(&s);
}

Test(coll, ring_closed_form_matches_messages_even_when_traffic_breaks_in)
{
    for (int contention = 0; contention <= 1; contention++)
        for (int with_burst = 0; with_burst <= 1; with_burst++) {
            double a[9], b[9];
            uint64_t ca[31], cb[31];
            run_hetero(0, with_burst, contention, a, ca);
            run_hetero(1, with_burst, contention, b, cb);
            for (int i = 0; i < 9; i++)
                assert_rel(b[i], a[i]);
            for (int i = 0; i < 31; i++)
                cr_assert_eq(cb[i], ca[i], "count %d: %llu vs %llu", i,
                             (unsigned long long)cb[i],
                             (unsigned long long)ca[i]);
        }
}

Test(coll, traffic_on_a_ring_link_slows_the_ring_down)
{
    double alone[9], shared[9];
    uint64_t c[31];
    run_hetero(1, 0, 1, alone, c);
    run_hetero(1, 1, 1, shared, c);
    double ta = 0, tb = 0;
    for (int i = 0; i < 9; i++) {
        ta = fmax(ta, alone[i]);
        tb = fmax(tb, shared[i]);
    }
    cr_assert_gt(tb, ta * (1 + 1e-3), "%.9g vs %.9g", tb, ta);
}

/* ---- parameter servers -------------------------------------------------- */

static void ps(net_coll_kind kind, int K, int P, double Bw, double Bs,
               double *done_at, uint64_t S)
{
    const double lw = 5e-5, ls = 1e-4;
    net_link_cfg *links = malloc((size_t)(K + P) * sizeof *links);
    for (int i = 0; i < K + P; i++)
        links[i] = i < K ? (net_link_cfg){lw, Bw} : (net_link_cfg){ls, Bs};
    setup s;
    setup_star(&s, K + P, links, 1);
    int *m = iota(K, 0), *sv = iota(P, K);
    start(&s, kind, m, K, sv, P, S, 0);
    sim_loop_run(s.loop, INFINITY);
    cr_assert_eq(s.w.n_done, 1);
    *done_at = s.w.done_at;
    assert_conserved(s.net);
    uint64_t want =
        kind == NET_COLL_PS_ROUND ? 2 * (uint64_t)K * S : (uint64_t)K * S;
    cr_assert_eq(net_total_bytes(s.net), want);
    free(m);
    free(sv);
    free(links);
    teardown(&s);
}

Test(coll, workers_pushing_to_one_server_finish_at_latency_plus_n_s_over_b)
{
    const double L = 1.5e-4, S = 1e6;
    double t;
    ps(NET_COLL_PS_PUSH, 16, 1, 1e10, 1e9, &t, (uint64_t)S);
    assert_rel(t, L + 16 * S / 1e9);
    /* A faster server link: each worker's own link is the limit. */
    ps(NET_COLL_PS_PUSH, 16, 1, 1e9, 1e11, &t, (uint64_t)S);
    assert_rel(t, L + S / 1e9);
    /* Pull is the mirror image. */
    ps(NET_COLL_PS_PULL, 16, 1, 1e10, 1e9, &t, (uint64_t)S);
    assert_rel(t, L + 16 * S / 1e9);
    /* A round is a push, then a pull once everything is in. */
    ps(NET_COLL_PS_ROUND, 16, 1, 1e10, 1e9, &t, (uint64_t)S);
    assert_rel(t, 2 * (L + 16 * S / 1e9));
}

Test(coll, sharding_the_model_over_p_servers_divides_the_bottleneck)
{
    const double L = 1.5e-4;
    const uint64_t S = 4000000;
    for (int P = 1; P <= 4; P *= 2) {
        double t;
        ps(NET_COLL_PS_ROUND, 32, P, 1e11, 1e9, &t, S);
        assert_rel(t, 2 * (L + 32.0 * (double)(S / P) / 1e9));
    }
}

/* ---- trees -------------------------------------------------------------- */

Test(coll, tree_broadcast_reduce_and_allreduce_take_depth_times_a_level)
{
    /* A full k-ary tree of depth d on a star: at each level a parent's
     * link carries its k children's messages at once. */
    const double l = 2e-5, b = 1e9;
    const uint64_t S = 3000000;
    const int shapes[][2] = {{2, 3}, {3, 2}, {4, 2}, {1, 5}};
    for (size_t i = 0; i < 4; i++) {
        int k = shapes[i][0], d = shapes[i][1], K = 1, width = 1;
        for (int j = 0; j < d; j++)
            K += (width *= k);
        double level = 2 * l + k * (double)S / b;
        const net_coll_kind kinds[] = {NET_COLL_BROADCAST, NET_COLL_REDUCE,
                                       NET_COLL_ALLREDUCE_TREE};
        for (int kd = 0; kd < 3; kd++) {
            setup s;
            setup_uniform_star(&s, K, l, b, 1);
            int *m = iota(K, 0);
            start(&s, kinds[kd], m, K, NULL, 0, S, k);
            sim_loop_run(s.loop, INFINITY);
            cr_assert_eq(s.w.n_done, 1);
            assert_rel(s.w.done_at, (kd == 2 ? 2 : 1) * d * level);
            cr_assert_eq(net_total_messages(s.net),
                         (uint64_t)((kd == 2 ? 2 : 1) * (K - 1)));
            if (kd == 0)
                assert_rel(s.w.member_at[1], level);
            assert_conserved(s.net);
            free(m);
            teardown(&s);
        }
    }
}

/* ---- hierarchical ------------------------------------------------------- */

Test(coll, hierarchical_allreduce_reduces_in_racks_rings_leaders_then_fans_out)
{
    const int R = 4, M = 5;
    const double lh = 1e-5, bh = 1.25e9, lw = 5e-3, bw = 1.25e8;
    const uint64_t S = 8000000;
    setup s;
    memset(&s, 0, sizeof s);
    s.loop = sim_loop_create();
    s.w.loop = s.loop;
    net_opts o = {.contention = 1};
    sim_err err = {0};
    s.net = net_create_hier(s.loop, R, M, (net_link_cfg){lh, bh},
                            (net_link_cfg){lw, bw}, &o, &err);
    cr_assert_not_null(s.net, "%s", err.msg);
    s.colls = net_colls_create(s.net);
    int *m = iota(R * M, 0), group[20];
    for (int i = 0; i < R * M; i++)
        group[i] = i / M;
    net_coll_cfg cfg = {.kind = NET_COLL_ALLREDUCE_HIER,
                        .members = m,
                        .n_members = R * M,
                        .group = group,
                        .bytes = S,
                        .on_member = on_member,
                        .on_done = on_done,
                        .user = &s.w};
    cr_assert_eq(net_coll_start(s.colls, &cfg), 0);
    sim_loop_run(s.loop, INFINITY);
    cr_assert_eq(s.w.n_done, 1);
    double in_rack = 2 * lh + (M - 1) * (double)S / bh;
    double across = ring_time(R, (double)S, 2 * lh + 2 * lw, fmin(bh, bw));
    assert_rel(s.w.done_at, 2 * in_rack + across);
    /* Leaders have the sum before their racks do. */
    assert_rel(s.w.member_at[0], in_rack + across);
    assert_conserved(s.net);
    free(m);
    teardown(&s);
}

/* ---- edges and errors --------------------------------------------------- */

Test(coll, a_single_member_finishes_at_once_and_bad_configs_are_refused)
{
    setup s;
    setup_uniform_star(&s, 4, 1e-5, 1e9, 1);
    int one = 2;
    for (int kind = NET_COLL_BROADCAST; kind <= NET_COLL_ALLREDUCE_RING; kind++)
        start(&s, (net_coll_kind)kind, &one, 1, NULL, 0, 1000, 0);
    sim_loop_run(s.loop, INFINITY);
    cr_assert_eq(s.w.n_done, 4);
    cr_assert_eq(s.w.done_at, 0.0);
    cr_assert_eq(net_total_bytes(s.net), 0);

    int dup[2] = {1, 1}, bad[2] = {0, 9}, ok[2] = {0, 1}, srv = 1;
    net_coll_cfg cfg = {.kind = NET_COLL_ALLREDUCE_RING,
                        .members = dup,
                        .n_members = 2,
                        .bytes = 10};
    cr_assert_eq(net_coll_start(s.colls, &cfg), SIM_EINVAL);
    cfg.members = bad;
    cr_assert_eq(net_coll_start(s.colls, &cfg), SIM_EINVAL);
    cfg.members = ok;
    cfg.kind = NET_COLL_PS_PUSH;
    cr_assert_eq(net_coll_start(s.colls, &cfg), SIM_EINVAL, "no server");
    cfg.servers = &srv;
    cfg.n_servers = 1;
    cr_assert_eq(net_coll_start(s.colls, &cfg), SIM_EINVAL, "server member");
    cfg.kind = NET_COLL_ALLREDUCE_HIER;
    cr_assert_eq(net_coll_start(s.colls, &cfg), SIM_EINVAL, "no groups");
    cr_assert_eq(net_colls_running(s.colls), 0);
    cr_assert_eq(net_total_messages(s.net), 0);
    teardown(&s);
}

Test(coll, destroying_mid_collective_leaks_nothing)
{
    setup s;
    setup_uniform_star(&s, 8, 1e-5, 1e9, 1);
    int *m = iota(8, 0);
    start(&s, NET_COLL_ALLREDUCE_RING, m, 8, NULL, 0, 8000000, 0);
    start(&s, NET_COLL_ALLREDUCE_TREE, m, 8, NULL, 0, 8000000, 2);
    sim_loop_run(s.loop, 1e-3);
    cr_assert_eq(net_colls_running(s.colls), 2);
    free(m);
    teardown(&s);
}

Test(coll, hierarchical_allreduce_with_uneven_groups_counts_every_byte)
{
    /* Groups {0}, {1, 2, 3}, {4, 5} in member order, on a plain star:
     * 3 non-leaders send up and receive down S each, and the 3 leaders'
     * ring moves 2 (3 - 1) S in all. */
    const uint64_t S = 3000000;
    setup s;
    setup_uniform_star(&s, 6, 1e-5, 1e9, 1);
    int m[6] = {5, 0, 1, 2, 3, 4}, group[6] = {7, 3, 3, 3, 9, 9};
    net_coll_cfg cfg = {.kind = NET_COLL_ALLREDUCE_HIER,
                        .members = m,
                        .n_members = 6,
                        .group = group,
                        .bytes = S,
                        .on_member = on_member,
                        .on_done = on_done,
                        .user = &s.w};
    cr_assert_eq(net_coll_start(s.colls, &cfg), 0);
    sim_loop_run(s.loop, INFINITY);
    cr_assert_eq(s.w.n_done, 1);
    cr_assert_eq(s.w.n_members_done, 6);
    cr_assert_eq(net_total_bytes(s.net), 2 * 3 * S + 2 * 2 * S);
    cr_assert_eq(net_total_messages(s.net), 6 + 2 * 3 * 2);
    /* The singleton leader (member 0, node 5) is done when the ring is. */
    cr_assert_leq(s.w.member_at[0], s.w.done_at);
    assert_conserved(s.net);
    teardown(&s);
}
