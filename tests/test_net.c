/* test_net.c: transfer times against closed forms, the max-min solver
 * against hand-solved examples, byte accounting and delivery order. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/net/net.h"

#define REL_TOL 1e-9

#define assert_rel(got, want)                                                  \
    do {                                                                       \
        double got_ = (got), want_ = (want);                                   \
        cr_assert(epsilon_eq(dbl, got_, want_, REL_TOL *fabs(want_)),          \
                  "%s: got %.17g, want %.17g", #got, got_, want_);             \
    } while (0)

/* Every delivery, in order, with the clock at that moment. */
typedef struct recorder {
    sim_loop *loop;
    int n, cap;
    double *at;
    net_msg *msg;
} recorder;

static void record(void *user, const net_msg *m)
{
    recorder *r = user;
    cr_assert_lt(r->n, r->cap, "more deliveries than expected");
    r->at[r->n] = sim_loop_now(r->loop);
    r->msg[r->n] = *m;
    r->n++;
}

static void recorder_init(recorder *r, sim_loop *loop, int cap)
{
    r->loop = loop;
    r->n = 0;
    r->cap = cap;
    r->at = calloc((size_t)cap, sizeof *r->at);
    r->msg = calloc((size_t)cap, sizeof *r->msg);
    cr_assert(r->at && r->msg);
}

static void recorder_deinit(recorder *r)
{
    free(r->at);
    free(r->msg);
}

/* A loop, a star over `links` and a recorder, built and torn down together. */
typedef struct bench {
    sim_loop *loop;
    net *net;
    recorder rec;
} bench;

static void bench_init(bench *b, int n_nodes, const net_link_cfg *links,
                       int contention, int cap)
{
    b->loop = sim_loop_create();
    cr_assert_not_null(b->loop);
    recorder_init(&b->rec, b->loop, cap);
    sim_err err = {0};
    b->net = net_create_star(b->loop, n_nodes, links, contention, record,
                             &b->rec, &err);
    cr_assert_not_null(b->net, "%s", err.msg);
}

static void bench_deinit(bench *b)
{
    net_destroy(b->net);
    sim_loop_destroy(b->loop);
    recorder_deinit(&b->rec);
}

static void send(bench *b, int src, int dst, uint64_t bytes, int64_t tag)
{
    net_msg m = {.src = src, .dst = dst, .kind = 7, .tag = tag, .bytes = bytes};
    cr_assert_eq(net_send(b->net, &m), 0);
}

/* Finds the delivery with this tag. */
static double delivered_at(const bench *b, int64_t tag)
{
    for (int i = 0; i < b->rec.n; i++)
        if (b->rec.msg[i].tag == tag)
            return b->rec.at[i];
    cr_assert(0, "message %lld was never delivered", (long long)tag);
    return NAN;
}

/* ---- transfer times on idle routes -------------------------------------- */

Test(net, a_message_over_an_idle_route_takes_latency_plus_size_over_bandwidth)
{
    const uint64_t sizes[] = {1, 1000, 123456789, UINT64_C(40000000000)};
    const net_link_cfg pairs[][2] = {
        {{.latency_s = 1e-3, .bandwidth_Bps = 1e9},
         {.latency_s = 1e-3, .bandwidth_Bps = 1e9}},
        {{.latency_s = 5e-6, .bandwidth_Bps = 12.5e9},
         {.latency_s = 0.0, .bandwidth_Bps = 3e8}},
        {{.latency_s = 0.25, .bandwidth_Bps = 7.0},
         {.latency_s = 0.5, .bandwidth_Bps = 1e6}},
    };
    for (int contention = 0; contention <= 1; contention++)
        for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++)
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
                bench b;
                bench_init(&b, 2, pairs[p], contention, 1);
                send(&b, 1, 0, sizes[s], 1);
                sim_loop_run(b.loop, INFINITY);
                cr_assert_eq(b.rec.n, 1);
                double bw =
                    fmin(pairs[p][0].bandwidth_Bps, pairs[p][1].bandwidth_Bps);
                assert_rel(b.rec.at[0], pairs[p][0].latency_s +
                                            pairs[p][1].latency_s +
                                            (double)sizes[s] / bw);
                cr_assert_eq(b.rec.msg[0].sent_at, 0.0);
                bench_deinit(&b);
            }
}

Test(net, a_zero_byte_message_takes_exactly_the_route_latency)
{
    const net_link_cfg links[2] = {{.latency_s = 2e-3, .bandwidth_Bps = 1e9},
                                   {.latency_s = 3e-3, .bandwidth_Bps = 1e9}};
    for (int contention = 0; contention <= 1; contention++) {
        bench b;
        bench_init(&b, 2, links, contention, 1);
        send(&b, 0, 1, 0, 1);
        cr_assert_eq(net_flows_active(b.net), 0);
        sim_loop_run(b.loop, INFINITY);
        cr_assert_eq(b.rec.n, 1);
        assert_rel(b.rec.at[0], 5e-3);
        bench_deinit(&b);
    }
}

/* ---- sharing ------------------------------------------------------------ */

/* Nodes 1 and 2 send to node 0, so both flows cross switch>node0. */
static const net_link_cfg three_equal[3] = {
    {.latency_s = 1e-4, .bandwidth_Bps = 1e9},
    {.latency_s = 2e-4, .bandwidth_Bps = 1e9},
    {.latency_s = 2e-4, .bandwidth_Bps = 1e9},
};

Test(net, two_equal_flows_sharing_a_link_both_finish_after_twice_the_time)
{
    const double S = 3e6, B = 1e9, L = 3e-4;
    bench b;
    bench_init(&b, 3, three_equal, 1, 2);
    send(&b, 1, 0, (uint64_t)S, 1);
    send(&b, 2, 0, (uint64_t)S, 2);
    cr_assert_eq(net_flows_active(b.net), 2);
    sim_loop_run(b.loop, INFINITY);
    cr_assert_eq(b.rec.n, 2);
    assert_rel(delivered_at(&b, 1), L + 2 * S / B);
    assert_rel(delivered_at(&b, 2), L + 2 * S / B);
    cr_assert_eq(net_flows_active(b.net), 0);
    bench_deinit(&b);
}

Test(net, two_unequal_flows_sharing_a_link_finish_at_their_max_min_times)
{
    /* Both get B/2 until the small one is done at 2*S1/B; the big one then
     * has S2 - S1 left at rate B, so it is done at (S1 + S2)/B. */
    const double S1 = 2e6, S2 = 7e6, B = 1e9, L = 3e-4;
    bench b;
    bench_init(&b, 3, three_equal, 1, 2);
    send(&b, 1, 0, (uint64_t)S2, 2);
    send(&b, 2, 0, (uint64_t)S1, 1);
    sim_loop_run(b.loop, INFINITY);
    cr_assert_eq(b.rec.n, 2);
    assert_rel(delivered_at(&b, 1), L + 2 * S1 / B);
    assert_rel(delivered_at(&b, 2), L + (S1 + S2) / B);
    cr_assert_eq(b.rec.msg[0].tag, 1, "the small message arrives first");
    bench_deinit(&b);
}

Test(net, flows_of_sizes_s_to_ns_on_one_link_finish_in_a_staircase)
{
    /* Flow k (1-based) has k*S bytes. While j flows are done, N - j share
     * the link, so each phase lasts (N - j) * S / B and flow k is done at
     * S/B * sum_{j<k} (N - j). */
    enum { N = 10 };
    const double S = 1e5, B = 1e9, L = 1e-4 + 2e-4;
    net_link_cfg links[N + 1];
    for (int i = 0; i <= N; i++)
        links[i] = (net_link_cfg){.latency_s = i == 0 ? 1e-4 : 2e-4,
                                  .bandwidth_Bps = B};
    bench b;
    bench_init(&b, N + 1, links, 1, N);
    for (int k = 1; k <= N; k++)
        send(&b, k, 0, (uint64_t)(k * S), k);
    sim_loop_run(b.loop, INFINITY);
    cr_assert_eq(b.rec.n, N);
    double phases = 0.0;
    for (int k = 1; k <= N; k++) {
        phases += N - (k - 1);
        assert_rel(delivered_at(&b, k), L + phases * S / B);
        cr_assert_eq(b.rec.msg[k - 1].tag, k);
    }
    bench_deinit(&b);
}

/* Sends ctx->m when it fires, to start a flow mid-way through another. */
typedef struct later {
    net *net;
    net_msg m;
} later;

static void send_later(sim_loop *loop, const sim_event *ev)
{
    (void)loop;
    later *l = ev->obj;
    cr_assert_eq(net_send(l->net, &l->m), 0);
}

Test(net, a_flow_started_mid_transfer_slows_the_first_to_a_fair_share)
{
    /* A (1 -> 0, 3 MB) runs alone at 1 GB/s until t1 = 1 ms, leaving 2 MB.
     * B (2 -> 0, 5 MB) then shares switch>node0 at 0.5 GB/s each, so A is
     * done 4 ms later, at 5 ms. B has sent 2 MB by then; its last 3 MB go
     * at the full 1 GB/s, so it is done at 8 ms. Route latency 0.3 ms. */
    bench b;
    bench_init(&b, 3, three_equal, 1, 2);
    send(&b, 1, 0, 3000000, 1);
    later l = {.net = b.net,
               .m = {.src = 2, .dst = 0, .tag = 2, .bytes = 5000000}};
    cr_assert_neq(sim_loop_schedule(b.loop, 1e-3, send_later, &l, 0, 0, NULL),
                  0);
    sim_loop_run(b.loop, INFINITY);
    cr_assert_eq(b.rec.n, 2);
    assert_rel(delivered_at(&b, 1), 3e-4 + 5e-3);
    assert_rel(delivered_at(&b, 2), 3e-4 + 8e-3);
    assert_rel(b.rec.msg[1].sent_at, 1e-3);
    bench_deinit(&b);
}

Test(net, a_late_flow_held_back_by_its_own_uplink_leaves_the_rest_to_another)
{
    /* As above, but node 2's link carries only 0.25 GB/s: B is limited to
     * that, A gets the remaining 0.75 GB/s of switch>node0 for its last
     * 2 MB (done at 1 ms + 8/3 ms), and B's rate never changes (done at
     * 1 ms + 5 MB / 0.25 GB/s = 21 ms). */
    const net_link_cfg links[3] = {
        {.latency_s = 1e-4, .bandwidth_Bps = 1e9},
        {.latency_s = 2e-4, .bandwidth_Bps = 1e9},
        {.latency_s = 5e-4, .bandwidth_Bps = 0.25e9},
    };
    bench b;
    bench_init(&b, 3, links, 1, 2);
    send(&b, 1, 0, 3000000, 1);
    later l = {.net = b.net,
               .m = {.src = 2, .dst = 0, .tag = 2, .bytes = 5000000}};
    cr_assert_neq(sim_loop_schedule(b.loop, 1e-3, send_later, &l, 0, 0, NULL),
                  0);
    sim_loop_run(b.loop, INFINITY);
    cr_assert_eq(b.rec.n, 2);
    assert_rel(delivered_at(&b, 1), 3e-4 + 1e-3 + 2e6 / 0.75e9);
    assert_rel(delivered_at(&b, 2), 6e-4 + 21e-3);
    bench_deinit(&b);
}

/* ---- the max-min solver ------------------------------------------------- */

Test(net, maxmin_gives_a_flow_crossing_two_links_the_tighter_share)
{
    /* A (cap 1) carries flows 0 and 1, B (cap 2) flows 0 and 2: A is the
     * bottleneck at 1/2; B's remaining 1.5 goes to flow 2. */
    const double cap[2] = {1.0, 2.0};
    const int r0[] = {0, 1}, r1[] = {0}, r2[] = {1};
    const int *routes[] = {r0, r1, r2};
    const int lens[] = {2, 1, 1};
    double rates[3];
    cr_assert_eq(net_maxmin_rates(2, cap, 3, routes, lens, rates), 0);
    assert_rel(rates[0], 0.5);
    assert_rel(rates[1], 0.5);
    assert_rel(rates[2], 1.5);
}

Test(net, maxmin_lets_others_share_what_a_flow_limited_elsewhere_leaves)
{
    /* Link C (cap 10) carries flows 0, 1, 2; flow 0 also crosses D (cap 1),
     * which holds it to 1, so flows 1 and 2 split the other 9. */
    const double cap[2] = {10.0, 1.0};
    const int r0[] = {1, 0}, r1[] = {0}, r2[] = {0};
    const int *routes[] = {r0, r1, r2};
    const int lens[] = {2, 1, 1};
    double rates[3];
    cr_assert_eq(net_maxmin_rates(2, cap, 3, routes, lens, rates), 0);
    assert_rel(rates[0], 1.0);
    assert_rel(rates[1], 4.5);
    assert_rel(rates[2], 4.5);
}

Test(net, maxmin_solves_a_five_session_example_in_the_style_of_bertsekas)
{
    /* After the example in Bertsekas & Gallager, Data Networks, sec. 6.5.2
     * (unit-capacity links, a long session crossing a chain, short sessions
     * on each link): links 0 -> 1 -> 2 form a chain of capacity 1 and link 3
     * stands apart with capacity 1.
     *   session 0: links 0, 1, 2    sessions 1, 2: link 1
     *   session 3: link 2           session 4: link 3
     * Link 1 saturates first at 1/3 (sessions 0, 1, 2); link 2 then gives
     * session 3 the 2/3 that session 0 leaves; session 4 has link 3 alone. */
    const double cap[4] = {1.0, 1.0, 1.0, 1.0};
    const int r0[] = {0, 1, 2}, r1[] = {1}, r2[] = {1}, r3[] = {2}, r4[] = {3};
    const int *routes[] = {r0, r1, r2, r3, r4};
    const int lens[] = {3, 1, 1, 1, 1};
    double rates[5];
    cr_assert_eq(net_maxmin_rates(4, cap, 5, routes, lens, rates), 0);
    assert_rel(rates[0], 1.0 / 3);
    assert_rel(rates[1], 1.0 / 3);
    assert_rel(rates[2], 1.0 / 3);
    assert_rel(rates[3], 2.0 / 3);
    assert_rel(rates[4], 1.0);
}

Test(net, maxmin_fills_several_rounds_of_distinct_bottlenecks)
{
    /* Flows 0..3 all cross link 0 (cap 10); flow k also crosses link k+1 of
     * capacity 1, 2, 4, 100. Rounds: link 1 -> 1, link 2 -> 2, then link 0
     * has 7 left for flows 2 and 3 (3.5 each), below link 3's 4. */
    const double cap[5] = {10.0, 1.0, 2.0, 4.0, 100.0};
    const int r0[] = {0, 1}, r1[] = {0, 2}, r2[] = {3, 0}, r3[] = {0, 4};
    const int *routes[] = {r0, r1, r2, r3};
    const int lens[] = {2, 2, 2, 2};
    double rates[4];
    cr_assert_eq(net_maxmin_rates(5, cap, 4, routes, lens, rates), 0);
    assert_rel(rates[0], 1.0);
    assert_rel(rates[1], 2.0);
    assert_rel(rates[2], 3.5);
    assert_rel(rates[3], 3.5);
}

Test(net, maxmin_handles_flows_without_links_and_rejects_bad_links)
{
    const double cap[1] = {5.0};
    const int r0[] = {0}, bad[] = {1};
    const int *routes[] = {r0, NULL};
    const int lens[] = {1, 0};
    double rates[2] = {-1.0, -1.0};
    cr_assert_eq(net_maxmin_rates(1, cap, 2, routes, lens, rates), 0);
    assert_rel(rates[0], 5.0);
    cr_assert(isinf(rates[1]));

    const int *bad_routes[] = {bad};
    const int one[] = {1};
    rates[0] = -1.0;
    cr_assert_eq(net_maxmin_rates(1, cap, 1, bad_routes, one, rates),
                 SIM_EINVAL);
    cr_assert_eq(rates[0], -1.0);
    cr_assert_eq(net_maxmin_rates(1, cap, 0, NULL, NULL, NULL), 0);
}

/* A small deterministic generator, so random cases are the same each run. */
static double uniform(uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*state >> 11) / 9007199254740992.0;
}

Test(net, maxmin_rates_are_feasible_and_every_flow_has_a_bottleneck)
{
    /* The characterisation of max-min fairness: rates fit the capacities,
     * and each flow crosses a saturated link on which no flow gets more. */
    enum { LINKS = 12, FLOWS = 40, MAXLEN = 4 };
    uint64_t state = 12345;
    for (int round = 0; round < 200; round++) {
        double cap[LINKS], rates[FLOWS], load[LINKS] = {0};
        int route[FLOWS][MAXLEN], lens[FLOWS];
        const int *routes[FLOWS];
        for (int l = 0; l < LINKS; l++)
            cap[l] = 1.0 + 99.0 * uniform(&state);
        int n_flows = 1 + (int)(uniform(&state) * FLOWS);
        for (int f = 0; f < n_flows; f++) {
            lens[f] = 1 + (int)(uniform(&state) * MAXLEN);
            for (int k = 0; k < lens[f]; k++)
                route[f][k] = (int)(uniform(&state) * LINKS);
            routes[f] = route[f];
        }
        cr_assert_eq(net_maxmin_rates(LINKS, cap, n_flows, routes, lens, rates),
                     0);
        for (int f = 0; f < n_flows; f++)
            for (int k = 0; k < lens[f]; k++)
                load[route[f][k]] += rates[f];
        for (int l = 0; l < LINKS; l++)
            cr_assert_leq(load[l], cap[l] * (1 + REL_TOL), "link %d", l);
        for (int f = 0; f < n_flows; f++) {
            int has_bottleneck = 0;
            for (int k = 0; k < lens[f] && !has_bottleneck; k++) {
                int l = route[f][k];
                if (load[l] < cap[l] * (1 - REL_TOL))
                    continue;
                int biggest = 1;
                for (int g = 0; g < n_flows; g++)
                    for (int j = 0; j < lens[g]; j++)
                        if (route[g][j] == l &&
                            rates[g] > rates[f] * (1 + REL_TOL))
                            biggest = 0;
                has_bottleneck = biggest;
            }
            cr_assert(has_bottleneck, "round %d: flow %d (rate %g) has none",
                      round, f, rates[f]);
        }
    }
}

/* ---- random traffic against a reference --------------------------------- */

typedef struct planned {
    int src, dst;
    double start_s, bytes;
    double remaining, done_s;
} planned;

static void send_planned(sim_loop *loop, const sim_event *ev)
{
    (void)loop;
    const planned *p = ev->ptr;
    net_msg m = {.src = p->src,
                 .dst = p->dst,
                 .tag = ev->a,
                 .bytes = (uint64_t)p->bytes};
    cr_assert_eq(net_send(ev->obj, &m), 0);
}

/* The flow model replayed the slow obvious way: from one start or finish
 * to the next, rates from the solver held constant. Fills done_s. */
static void replay(planned *p, int n, const double *cap)
{
    int started = 0, live[64], n_live;
    const int *routes[64];
    int route[64][2], lens[64];
    double rates[64], t = 0.0;
    for (int i = 0; i < n; i++)
        p[i].remaining = p[i].bytes;
    for (;;) {
        n_live = 0;
        for (int i = 0; i < started; i++)
            if (p[i].remaining > 0) {
                route[n_live][0] = 2 * p[i].src;
                route[n_live][1] = 2 * p[i].dst + 1;
                routes[n_live] = route[n_live];
                lens[n_live] = 2;
                live[n_live++] = i;
            }
        if (n_live == 0 && started == n)
            return;
        cr_assert_eq(net_maxmin_rates(12, cap, n_live, routes, lens, rates), 0);
        double dt = started < n ? p[started].start_s - t : INFINITY;
        for (int j = 0; j < n_live; j++)
            dt = fmin(dt, p[live[j]].remaining / rates[j]);
        t += dt;
        for (int j = 0; j < n_live; j++) {
            planned *q = &p[live[j]];
            q->remaining -= rates[j] * dt;
            if (q->remaining <= 1e-9 * q->bytes) {
                q->remaining = 0;
                q->done_s = t;
            }
        }
        while (started < n && p[started].start_s <= t)
            started++;
    }
}

Test(net, random_traffic_matches_a_step_by_step_replay_of_the_flow_model)
{
    enum { NODES = 6, MSGS = 60 };
    uint64_t state = 777;
    for (int round = 0; round < 20; round++) {
        net_link_cfg links[NODES];
        double cap[2 * NODES];
        for (int k = 0; k < NODES; k++) {
            links[k] =
                (net_link_cfg){.latency_s = 1e-4 * uniform(&state),
                               .bandwidth_Bps = 1e8 + 1e9 * uniform(&state)};
            cap[2 * k] = cap[2 * k + 1] = links[k].bandwidth_Bps;
        }
        planned p[MSGS];
        double t = 0.0;
        for (int i = 0; i < MSGS; i++) {
            t += 1e-3 * uniform(&state) * (uniform(&state) < 0.3 ? 0 : 1);
            p[i].src = (int)(uniform(&state) * NODES);
            p[i].dst =
                (p[i].src + 1 + (int)(uniform(&state) * (NODES - 1))) % NODES;
            p[i].start_s = t;
            p[i].bytes = (double)(uint64_t)(1 + 2e6 * uniform(&state));
        }
        replay(p, MSGS, cap);

        bench b;
        bench_init(&b, NODES, links, 1, MSGS);
        for (int i = 0; i < MSGS; i++)
            cr_assert_neq(sim_loop_schedule(b.loop, p[i].start_s, send_planned,
                                            b.net, i, 0, &p[i]),
                          0);
        sim_loop_run(b.loop, INFINITY);
        cr_assert_eq(b.rec.n, MSGS);
        for (int i = 0; i < MSGS; i++)
            assert_rel(delivered_at(&b, i), p[i].done_s +
                                                links[p[i].src].latency_s +
                                                links[p[i].dst].latency_s);
        bench_deinit(&b);
    }
}

/* ---- a parameter server ------------------------------------------------- */

/* Node 0 is the server; workers 1..N push S bytes each at time 0. */
static void push_to_server(int N, double B_server, double B_worker)
{
    const double S = 1e6, L_server = 1e-4, L_worker = 5e-5;
    net_link_cfg *links = calloc((size_t)N + 1, sizeof *links);
    cr_assert_not_null(links);
    links[0] = (net_link_cfg){.latency_s = L_server, .bandwidth_Bps = B_server};
    for (int k = 1; k <= N; k++)
        links[k] =
            (net_link_cfg){.latency_s = L_worker, .bandwidth_Bps = B_worker};
    bench b;
    bench_init(&b, N + 1, links, 1, N);
    for (int k = 1; k <= N; k++)
        send(&b, k, 0, (uint64_t)S, k);
    sim_loop_run(b.loop, INFINITY);
    cr_assert_eq(b.rec.n, N);
    /* The server's downlink carries N flows; a worker's uplink one. */
    double rate = fmin(B_server / N, B_worker);
    for (int k = 1; k <= N; k++) {
        cr_assert_eq(b.rec.msg[k - 1].tag, k, "delivered in send order");
        assert_rel(b.rec.at[k - 1], L_server + L_worker + S / rate);
    }
    cr_assert_eq(net_bytes_received(b.net, 0), (uint64_t)(N * S));
    bench_deinit(&b);
    free(links);
}

Test(net, workers_pushing_through_the_server_downlink_finish_after_n_times)
{
    /* B_server / N < B_worker: all finish at L + N*S/B_server. */
    push_to_server(8, 1e9, 1e10);
}

Test(net, a_faster_server_link_removes_the_bottleneck)
{
    /* B_server / N > B_worker: each finishes at L + S/B_worker. */
    push_to_server(8, 1e11, 1e9);
}

Test(net, a_thousand_workers_push_to_one_server_quickly, .timeout = 20)
{
    push_to_server(1024, 1e10, 1e9);
    push_to_server(1024, 1e13, 1e9);
}

static void push_staggered(sim_loop *loop, const sim_event *ev)
{
    (void)loop;
    net_msg m = {.src = (int)ev->a, .dst = 0, .tag = ev->a, .bytes = 1000000};
    cr_assert_eq(net_send(ev->obj, &m), 0);
}

Test(net, staggered_pushes_from_a_thousand_workers_keep_every_byte,
     .timeout = 20)
{
    /* Every send and every completion reshares the server's link; the run
     * must stay fast and lose no message. */
    enum { N = 1024 };
    net_link_cfg links[N + 1];
    for (int k = 0; k <= N; k++)
        links[k] = (net_link_cfg){.latency_s = 1e-5,
                                  .bandwidth_Bps = k == 0 ? 4e10 : 1e10};
    bench b;
    bench_init(&b, N + 1, links, 1, N);
    for (int k = 1; k <= N; k++)
        cr_assert_neq(sim_loop_schedule(b.loop, 1e-6 * (k % 97), push_staggered,
                                        b.net, k, 0, NULL),
                      0);
    sim_loop_run(b.loop, INFINITY);
    cr_assert_eq(b.rec.n, N);
    cr_assert_eq(net_bytes_received(b.net, 0), UINT64_C(1000000) * N);
    cr_assert_eq(net_flows_active(b.net), 0);
    /* No schedule can beat the server link running flat out. */
    cr_assert_geq(sim_loop_now(b.loop),
                  (2e-5 + N * 1e6 / 4e10) * (1 - REL_TOL));
    bench_deinit(&b);
}

/* ---- without contention ------------------------------------------------- */

Test(net, without_contention_simultaneous_messages_each_take_the_idle_time)
{
    enum { N = 6 };
    const double S = 4e6, B = 1e9;
    net_link_cfg links[N + 1];
    for (int k = 0; k <= N; k++)
        links[k] = (net_link_cfg){.latency_s = 1e-4, .bandwidth_Bps = B};
    bench b;
    bench_init(&b, N + 1, links, 0, N);
    for (int k = 1; k <= N; k++)
        send(&b, k, 0, (uint64_t)S, k);
    cr_assert_eq(net_flows_active(b.net), 0);
    sim_loop_run(b.loop, INFINITY);
    cr_assert_eq(b.rec.n, N);
    for (int k = 0; k < N; k++)
        assert_rel(b.rec.at[k], 2e-4 + S / B);
    bench_deinit(&b);
}

/* ---- accounting, errors, order ----------------------------------------- */

Test(net, every_byte_is_counted_per_node_per_link_and_in_total)
{
    const net_link_cfg links[3] = {
        {.latency_s = 1e-4, .bandwidth_Bps = 1e9},
        {.latency_s = 1e-4, .bandwidth_Bps = 2e9},
        {.latency_s = 1e-4, .bandwidth_Bps = 3e9},
    };
    for (int contention = 0; contention <= 1; contention++) {
        bench b;
        bench_init(&b, 3, links, contention, 4);
        send(&b, 0, 1, 100, 1);
        send(&b, 1, 2, 2000, 2);
        send(&b, 2, 0, 30000, 3);
        send(&b, 0, 2, 400000, 4);
        cr_assert_eq(net_total_messages(b.net), 4);
        cr_assert_eq(net_total_bytes(b.net), 432100);
        cr_assert_eq(net_bytes_sent(b.net, 0), 400100);
        cr_assert_eq(net_bytes_sent(b.net, 1), 2000);
        cr_assert_eq(net_bytes_sent(b.net, 2), 30000);
        cr_assert_eq(net_bytes_received(b.net, 2), 0, "nothing arrived yet");
        /* Links are charged at send time: uplink 2i, downlink 2i+1. */
        cr_assert_eq(net_link_bytes(b.net, 0), 400100);
        cr_assert_eq(net_link_bytes(b.net, 1), 30000);
        cr_assert_eq(net_link_bytes(b.net, 2), 2000);
        cr_assert_eq(net_link_bytes(b.net, 3), 100);
        cr_assert_eq(net_link_bytes(b.net, 4), 30000);
        cr_assert_eq(net_link_bytes(b.net, 5), 402000);

        sim_loop_run(b.loop, INFINITY);
        cr_assert_eq(b.rec.n, 4);
        cr_assert_eq(net_bytes_received(b.net, 0), 30000);
        cr_assert_eq(net_bytes_received(b.net, 1), 100);
        cr_assert_eq(net_bytes_received(b.net, 2), 402000);
        uint64_t sent = 0, received = 0;
        for (int i = 0; i < 3; i++) {
            sent += net_bytes_sent(b.net, i);
            received += net_bytes_received(b.net, i);
        }
        cr_assert_eq(sent, received);
        cr_assert_eq(received, net_total_bytes(b.net));
        cr_assert_eq(net_bytes_sent(b.net, 3), 0);
        cr_assert_eq(net_link_bytes(b.net, 6), 0);
        bench_deinit(&b);
    }
}

Test(net, bad_node_ids_give_einval_and_change_nothing)
{
    const int bad[][2] = {{-1, 0}, {0, -1}, {3, 0},
                          {0, 3},  {1, 1},  {INT32_MAX, 0}};
    for (int contention = 0; contention <= 1; contention++) {
        bench b;
        bench_init(&b, 3, three_equal, contention, 1);
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            net_msg m = {.src = bad[i][0], .dst = bad[i][1], .bytes = 10};
            cr_assert_eq(net_send(b.net, &m), SIM_EINVAL);
        }
        cr_assert_eq(net_total_messages(b.net), 0);
        cr_assert_eq(net_total_bytes(b.net), 0);
        for (int k = 0; k < 3; k++)
            cr_assert_eq(net_bytes_sent(b.net, k), 0);
        for (int l = 0; l < 6; l++)
            cr_assert_eq(net_link_bytes(b.net, l), 0);
        cr_assert_eq(net_flows_active(b.net), 0);
        cr_assert_eq(sim_loop_pending(b.loop), 0);
        cr_assert_eq(sim_loop_run(b.loop, INFINITY), 0);
        cr_assert_eq(b.rec.n, 0);
        bench_deinit(&b);
    }
}

Test(net, simultaneous_deliveries_arrive_in_send_order)
{
    /* Three disjoint routes with identical links: all deliveries fall at
     * the same instant, and must come out in send order, not node order. */
    net_link_cfg links[6];
    for (int k = 0; k < 6; k++)
        links[k] = (net_link_cfg){.latency_s = 1e-3, .bandwidth_Bps = 1e9};
    for (int contention = 0; contention <= 1; contention++) {
        bench b;
        bench_init(&b, 6, links, contention, 3);
        send(&b, 5, 4, 1000000, 0);
        send(&b, 1, 0, 1000000, 1);
        send(&b, 3, 2, 1000000, 2);
        sim_loop_run(b.loop, INFINITY);
        cr_assert_eq(b.rec.n, 3);
        for (int i = 0; i < 3; i++) {
            cr_assert_eq(b.rec.msg[i].tag, i);
            cr_assert_eq(b.rec.at[i], b.rec.at[0]);
        }
        assert_rel(b.rec.at[0], 2e-3 + 1e-3);
        bench_deinit(&b);
    }
}

Test(net, a_delivered_message_is_a_copy_with_the_payload_untouched)
{
    int payload = 42;
    bench b;
    bench_init(&b, 3, three_equal, 1, 1);
    net_msg m = {.src = 2,
                 .dst = 1,
                 .kind = 3,
                 .tag = -9,
                 .bytes = 77,
                 .payload = &payload,
                 .sent_at = 123.0};
    cr_assert_eq(net_send(b.net, &m), 0);
    m.bytes = 1; /* the network must not read the caller's struct again */
    m.tag = 0;
    sim_loop_run(b.loop, INFINITY);
    cr_assert_eq(b.rec.n, 1);
    const net_msg *got = &b.rec.msg[0];
    cr_assert_eq(got->src, 2);
    cr_assert_eq(got->dst, 1);
    cr_assert_eq(got->kind, 3);
    cr_assert_eq(got->tag, -9);
    cr_assert_eq(got->bytes, 77);
    cr_assert_eq(got->payload, &payload);
    cr_assert_eq(got->sent_at, 0.0);
    bench_deinit(&b);
}

/* Bounces a message between nodes 0 and 1 until `left` runs out. */
typedef struct pingpong {
    net *net;
    sim_loop *loop;
    int left;
    double last_at;
} pingpong;

static void bounce(void *user, const net_msg *m)
{
    pingpong *p = user;
    p->last_at = sim_loop_now(p->loop);
    if (--p->left == 0)
        return;
    net_msg reply = *m;
    reply.src = m->dst;
    reply.dst = m->src;
    cr_assert_eq(net_send(p->net, &reply), 0);
}

Test(net, a_reply_sent_from_the_delivery_callback_starts_at_delivery)
{
    const net_link_cfg links[2] = {{.latency_s = 1e-3, .bandwidth_Bps = 1e8},
                                   {.latency_s = 2e-3, .bandwidth_Bps = 5e8}};
    for (int contention = 0; contention <= 1; contention++) {
        sim_loop *loop = sim_loop_create();
        pingpong p = {.loop = loop, .left = 100};
        sim_err err = {0};
        p.net = net_create_star(loop, 2, links, contention, bounce, &p, &err);
        cr_assert_not_null(p.net, "%s", err.msg);
        net_msg m = {.src = 0, .dst = 1, .bytes = 1000000};
        cr_assert_eq(net_send(p.net, &m), 0);
        sim_loop_run(loop, INFINITY);
        cr_assert_eq(p.left, 0);
        assert_rel(p.last_at, 100 * (3e-3 + 1e6 / 1e8));
        cr_assert_eq(net_total_messages(p.net), 100);
        net_destroy(p.net);
        sim_loop_destroy(loop);
    }
}

Test(net, destroying_the_network_cancels_its_pending_events)
{
    for (int contention = 0; contention <= 1; contention++) {
        bench b;
        bench_init(&b, 3, three_equal, contention, 4);
        send(&b, 1, 0, 1000000, 1);
        send(&b, 2, 0, 0, 2);
        send(&b, 0, 2, 5000, 3);
        sim_loop_run(b.loop, 1e-9); /* a step, maybe, but no delivery */
        cr_assert_eq(b.rec.n, 0);
        net_destroy(b.net);
        b.net = NULL;
        cr_assert_eq(sim_loop_run(b.loop, INFINITY), 0);
        cr_assert_eq(b.rec.n, 0);
        bench_deinit(&b);
    }
}

/* ---- construction and names --------------------------------------------- */

Test(net, star_links_are_named_after_their_direction)
{
    bench b;
    bench_init(&b, 3, three_equal, 1, 1);
    cr_assert_eq(net_node_count(b.net), 3);
    cr_assert_eq(net_link_count(b.net), 6);
    cr_assert_str_eq(net_link_name(b.net, 0), "node0>switch");
    cr_assert_str_eq(net_link_name(b.net, 1), "switch>node0");
    cr_assert_str_eq(net_link_name(b.net, 4), "node2>switch");
    cr_assert_str_eq(net_link_name(b.net, 5), "switch>node2");
    cr_assert_null(net_link_name(b.net, 6));
    cr_assert_null(net_link_name(b.net, -1));
    bench_deinit(&b);
}

Test(net, a_star_with_a_bad_link_is_refused_with_the_link_named)
{
    sim_loop *loop = sim_loop_create();
    const net_link_cfg bad[][2] = {
        {{.latency_s = 0, .bandwidth_Bps = 1},
         {.latency_s = 0, .bandwidth_Bps = 0}},
        {{.latency_s = -1, .bandwidth_Bps = 1},
         {.latency_s = 0, .bandwidth_Bps = 1}},
        {{.latency_s = 0, .bandwidth_Bps = NAN},
         {.latency_s = 0, .bandwidth_Bps = 1}},
        {{.latency_s = 0, .bandwidth_Bps = 1},
         {.latency_s = INFINITY, .bandwidth_Bps = 1}},
    };
    const char *want[] = {
        "node_links[1].bandwidth_Bps", "node_links[0].latency_s",
        "node_links[0].bandwidth_Bps", "node_links[1].latency_s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sim_err err = {0};
        cr_assert_null(net_create_star(loop, 2, bad[i], 1, NULL, NULL, &err));
        cr_assert_eq(err.code, SIM_EINVAL);
        cr_assert(strstr(err.msg, want[i]) != NULL, "message: %s", err.msg);
    }
    sim_err err = {0};
    cr_assert_null(net_create_star(loop, 0, bad[0], 1, NULL, NULL, &err));
    cr_assert_eq(err.code, SIM_EINVAL);
    sim_loop_destroy(loop);
}
