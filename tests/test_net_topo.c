/* test_net_topo.c: topologies and their routes, full-duplex links, sharing
 * on a graph, the independence of unrelated flows (incremental sharing),
 * dynamic links and utilisation. */
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

enum { CAP = 512 };

typedef struct rec {
    sim_loop *loop;
    int n;
    double at[CAP];
    int64_t tag[CAP];
} rec;

static void record(void *user, const net_msg *m)
{
    rec *r = user;
    cr_assert_lt(r->n, CAP);
    r->at[r->n] = sim_loop_now(r->loop);
    r->tag[r->n++] = m->tag;
}

static double at(const rec *r, int64_t tag)
{
    for (int i = 0; i < r->n; i++)
        if (r->tag[i] == tag)
            return r->at[i];
    cr_assert(0, "message %lld never arrived", (long long)tag);
    return NAN;
}

static void send(net *n, int src, int dst, uint64_t bytes, int64_t tag)
{
    net_msg m = {.src = src, .dst = dst, .tag = tag, .bytes = bytes};
    cr_assert_eq(net_send(n, &m), 0);
}

static const net_link_cfg L1 = {.latency_s = 1e-4, .bandwidth_Bps = 1e9};

/* ---- routes ------------------------------------------------------------- */

Test(topo, ring_routes_are_shortest_with_a_fixed_tie_break)
{
    sim_loop *loop = sim_loop_create();
    net_opts o = {.contention = 1};
    sim_err err = {0};
    net *n = net_create_ring(loop, 6, L1, &o, &err);
    cr_assert_not_null(n, "%s", err.msg);
    cr_assert_eq(net_node_count(n), 6);
    cr_assert_eq(net_link_count(n), 12);
    int r[8];
    /* 0 -> 3 is three hops either way; the search from 3 meets link 2>3
     * (index 4) before 4>3 (index 7), so the route goes 0, 1, 2, 3. */
    cr_assert_eq(net_route_links(n, 0, 3, r, 8), 3);
    cr_assert_eq(r[0], 0);
    cr_assert_eq(r[1], 2);
    cr_assert_eq(r[2], 4);
    cr_assert_eq(net_route_links(n, 0, 5, r, 8), 1);
    cr_assert_eq(r[0], 11, "5>0 is the reverse link of cable 5");
    int from, to;
    cr_assert_eq(net_link_ends(n, 11, &from, &to), 0);
    cr_assert_eq(from, 0);
    cr_assert_eq(to, 5);
    cr_assert_str_eq(net_link_name(n, 11), "0>5");
    double lat, bw;
    int hops;
    cr_assert_eq(net_route_info(n, 1, 4, &lat, &bw, &hops), 0);
    cr_assert_eq(hops, 3);
    assert_rel(lat, 3e-4);
    cr_assert_eq(bw, 1e9);
    cr_assert_eq(net_route_info(n, 1, 1, &lat, &bw, &hops), SIM_EINVAL);
    net_destroy(n);
    sim_loop_destroy(loop);
}

Test(topo, tree_full_and_hierarchical_routes_have_the_expected_hops)
{
    sim_loop *loop = sim_loop_create();
    net_opts o = {.contention = 1};
    sim_err err = {0};
    int hops;
    net *t = net_create_tree(loop, 15, 2, L1, &o, &err);
    cr_assert_not_null(t, "%s", err.msg);
    cr_assert_eq(net_route_info(t, 5, 6, NULL, NULL, &hops), 0);
    cr_assert_eq(hops, 2);
    cr_assert_eq(net_route_info(t, 3, 6, NULL, NULL, &hops), 0);
    cr_assert_eq(hops, 4);
    cr_assert_eq(net_route_info(t, 7, 14, NULL, NULL, &hops), 0);
    cr_assert_eq(hops, 6);
    net_destroy(t);

    net *f = net_create_full(loop, 7, L1, &o, &err);
    cr_assert_not_null(f, "%s", err.msg);
    cr_assert_eq(net_link_count(f), 42);
    for (int a = 0; a < 7; a++)
        for (int b = 0; b < 7; b++)
            if (a != b) {
                cr_assert_eq(net_route_info(f, a, b, NULL, NULL, &hops), 0);
                cr_assert_eq(hops, 1);
            }
    net_destroy(f);

    const net_link_cfg wan = {.latency_s = 0.02, .bandwidth_Bps = 1e8};
    net *h = net_create_hier(loop, 3, 4, L1, wan, &o, &err);
    cr_assert_not_null(h, "%s", err.msg);
    cr_assert_eq(net_node_count(h), 12 + 3 + 1);
    double lat, bw;
    cr_assert_eq(net_route_info(h, 0, 3, &lat, &bw, &hops), 0);
    cr_assert_eq(hops, 2);
    assert_rel(lat, 2e-4);
    cr_assert_eq(bw, 1e9);
    cr_assert_eq(net_route_info(h, 1, 9, &lat, &bw, &hops), 0);
    cr_assert_eq(hops, 4);
    assert_rel(lat, 2e-4 + 0.04);
    cr_assert_eq(bw, 1e8);
    net_destroy(h);
    sim_loop_destroy(loop);
}

Test(topo, unreachable_nodes_and_bad_cables_are_refused)
{
    sim_loop *loop = sim_loop_create();
    sim_err err = {0};
    const net_cable c[2] = {{.a = 0, .b = 1, .bandwidth_Bps = 1e9},
                            {.a = 2, .b = 3, .bandwidth_Bps = 1e9}};
    net *n = net_create_graph(loop, 4, c, 2, NULL, &err);
    cr_assert_not_null(n, "%s", err.msg);
    net_msg m = {.src = 0, .dst = 3, .bytes = 10};
    cr_assert_eq(net_send(n, &m), SIM_EINVAL);
    cr_assert_eq(net_total_messages(n), 0);
    m.dst = 1;
    cr_assert_eq(net_send(n, &m), 0);
    net_destroy(n);

    const net_cable loopy = {.a = 1, .b = 1, .bandwidth_Bps = 1e9};
    cr_assert_null(net_create_graph(loop, 4, &loopy, 1, NULL, &err));
    cr_assert(strstr(err.msg, "cables[0]") != NULL, "%s", err.msg);
    const net_cable slow = {.a = 0, .b = 1, .bandwidth_Bps = -1};
    cr_assert_null(net_create_graph(loop, 4, &slow, 1, NULL, &err));
    cr_assert(strstr(err.msg, "bandwidth") != NULL, "%s", err.msg);
    sim_loop_destroy(loop);
}

/* ---- sharing on graphs -------------------------------------------------- */

Test(topo, a_cable_is_full_duplex_with_a_capacity_per_direction)
{
    const double S = 2e6;
    const net_cable c = {.a = 0,
                         .b = 1,
                         .latency_s = 1e-4,
                         .bandwidth_Bps = 1e9,
                         .bandwidth_rev_Bps = 0.5e9};
    sim_loop *loop = sim_loop_create();
    rec r = {.loop = loop};
    net_opts o = {.contention = 1, .deliver = record, .user = &r};
    sim_err err = {0};
    net *n = net_create_graph(loop, 2, &c, 1, &o, &err);
    cr_assert_not_null(n, "%s", err.msg);
    send(n, 0, 1, (uint64_t)S, 1);
    send(n, 1, 0, (uint64_t)S, 2);
    sim_loop_run(loop, INFINITY);
    assert_rel(at(&r, 1), 1e-4 + S / 1e9);
    assert_rel(at(&r, 2), 1e-4 + S / 0.5e9);
    cr_assert_eq(net_link_bytes(n, 0), (uint64_t)S);
    cr_assert_eq(net_link_bytes(n, 1), (uint64_t)S);
    net_destroy(n);
    sim_loop_destroy(loop);
}

Test(topo, a_parking_lot_gives_every_flow_half_of_each_link)
{
    /* Chain 0-1-2-3 of equal links; a long flow 0 -> 3 and one short flow
     * per link: every link carries two flows, so all get B/2 (the classic
     * max-min example where proportional fairness would differ). */
    const double S = 1e6, B = 1e9, l = 1e-5;
    const net_cable c[3] = {{0, 1, l, B, 0}, {1, 2, l, B, 0}, {2, 3, l, B, 0}};
    sim_loop *loop = sim_loop_create();
    rec r = {.loop = loop};
    net_opts o = {.contention = 1, .deliver = record, .user = &r};
    sim_err err = {0};
    net *n = net_create_graph(loop, 4, c, 3, &o, &err);
    cr_assert_not_null(n, "%s", err.msg);
    send(n, 0, 3, (uint64_t)S, 0);
    for (int i = 0; i < 3; i++)
        send(n, i, i + 1, (uint64_t)S, i + 1);
    sim_loop_run(loop, INFINITY);
    assert_rel(at(&r, 0), 3 * l + 2 * S / B);
    for (int i = 1; i <= 3; i++)
        assert_rel(at(&r, i), l + 2 * S / B);
    net_destroy(n);
    sim_loop_destroy(loop);
}

/* Random traffic on one half of a graph; the other half either idle or
 * busy with its own random traffic. Sharing is recomputed per connected
 * component, so the first half's times must be identical, bit for bit. */
static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 17;
}

typedef struct plan {
    net *n;
    int src, dst;
    uint64_t bytes;
    int64_t tag;
} plan;

static void go(sim_loop *loop, const sim_event *ev)
{
    (void)loop;
    plan *p = ev->obj;
    send(p->n, p->src, p->dst, p->bytes, p->tag);
}

static void two_halves(int busy_other, double *out)
{
    enum { HALF = 8, MSGS = 120 };
    sim_loop *loop = sim_loop_create();
    rec r = {.loop = loop};
    net_opts o = {.contention = 1, .deliver = record, .user = &r};
    /* Two rings of HALF nodes with random link speeds: routes of up to
     * HALF / 2 hops, so flows meet on many links. */
    net_cable c[2 * HALF];
    uint64_t s = 42;
    int k = 0;
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < HALF; i++)
            c[k++] = (net_cable){h * HALF + i, h * HALF + (i + 1) % HALF,
                                 1e-6 * (double)(lcg(&s) % 100),
                                 1e8 * (double)(1 + lcg(&s) % 50), 0};
    sim_err err = {0};
    net *n = net_create_graph(loop, 2 * HALF, c, k, &o, &err);
    cr_assert_not_null(n, "%s", err.msg);
    static plan p[2 * MSGS];
    uint64_t s1 = 7, s2 = 8;
    for (int i = 0; i < 2 * MSGS; i++) {
        int h = i % 2;
        uint64_t *st = h ? &s2 : &s1;
        int a = (int)(lcg(st) % HALF), b = (int)(lcg(st) % (HALF - 1));
        if (b >= a)
            b++;
        p[i] = (plan){n, h * HALF + a, h * HALF + b, 1 + lcg(st) % 3000000, i};
        double t = 1e-5 * (double)(lcg(st) % 1000);
        if (h == 0 || busy_other)
            sim_loop_schedule(loop, t, go, &p[i], 0, 0, NULL);
    }
    sim_loop_run(loop, INFINITY);
    for (int i = 0; i < 2 * MSGS; i += 2)
        out[i / 2] = at(&r, i);
    net_destroy(n);
    sim_loop_destroy(loop);
}

Test(topo, unrelated_traffic_changes_nothing_not_even_rounding)
{
    double alone[120], busy[120];
    two_halves(0, alone);
    two_halves(1, busy);
    for (int i = 0; i < 120; i++)
        cr_assert_eq(alone[i], busy[i], "message %d: %.17g vs %.17g", 2 * i,
                     alone[i], busy[i]);
}

/* ---- dynamic links ------------------------------------------------------ */

typedef struct fixture {
    sim_loop *loop;
    net *n;
    rec r;
} fixture;

/* Two nodes, one cable (links 0: 0>1, 1: 1>0). */
static void pair(fixture *f, int contention)
{
    f->loop = sim_loop_create();
    f->r = (rec){.loop = f->loop};
    net_opts o = {.contention = contention, .deliver = record, .user = &f->r};
    const net_cable c = {0, 1, 1e-4, 1e9, 0};
    sim_err err = {0};
    f->n = net_create_graph(f->loop, 2, &c, 1, &o, &err);
    cr_assert_not_null(f->n, "%s", err.msg);
}

static void unpair(fixture *f)
{
    net_destroy(f->n);
    sim_loop_destroy(f->loop);
}

Test(topo, a_bandwidth_change_mid_transfer_reshapes_the_rest)
{
    const double S = 4e6, t1 = 1e-3;
    fixture f;
    pair(&f, 1);
    send(f.n, 0, 1, (uint64_t)S, 1);
    cr_assert_eq(net_link_set_bandwidth_at(f.n, t1, 0, 0.5e9), 0);
    sim_loop_run(f.loop, INFINITY);
    assert_rel(at(&f.r, 1), 1e-4 + t1 + (S - 1e9 * t1) / 0.5e9);
    cr_assert_eq(net_link_bandwidth(f.n, 0), 0.5e9);
    assert_rel(net_link_carried_bytes(f.n, 0), S);
    assert_rel(net_link_busy_s(f.n, 0), t1 + (S - 1e9 * t1) / 0.5e9);
    unpair(&f);
}

static void send_at_event(sim_loop *loop, const sim_event *ev)
{
    (void)loop;
    send(ev->obj, (int)ev->a, 1 - (int)ev->a, (uint64_t)ev->b, ev->b);
}

Test(topo, a_latency_change_applies_to_messages_sent_after_it)
{
    fixture f;
    pair(&f, 1);
    send(f.n, 0, 1, 1000000, 1);
    cr_assert_eq(net_link_set_latency_at(f.n, 1e-4, 0, 5e-3), 0);
    sim_loop_schedule(f.loop, 2e-3, send_at_event, f.n, 0, 2000000, NULL);
    sim_loop_run(f.loop, INFINITY);
    assert_rel(at(&f.r, 1), 1e-4 + 1e-3);
    assert_rel(at(&f.r, 2000000), 2e-3 + 5e-3 + 2e-3);
    cr_assert_eq(net_link_latency(f.n, 0), 5e-3);
    unpair(&f);
}

Test(topo, a_link_that_goes_down_holds_its_flows_until_it_comes_back)
{
    /* Documented behaviour: no re-routing; flows wait with the bytes they
     * have left, and messages sent meanwhile wait from the start. */
    const double S = 3e6, down = 1e-3, up = 4.5e-3;
    for (int contention = 0; contention <= 1; contention++) {
        fixture f;
        pair(&f, contention);
        send(f.n, 0, 1, (uint64_t)S, 1);
        cr_assert_eq(net_link_set_up_at(f.n, down, 0, 0), 0);
        cr_assert_eq(net_link_set_up_at(f.n, up, 0, 1), 0);
        sim_loop_schedule(f.loop, 2e-3, send_at_event, f.n, 0, 1000000, NULL);
        sim_loop_schedule(f.loop, 2e-3, send_at_event, f.n, 1, 7, NULL);
        sim_loop_run(f.loop, 3e-3);
        cr_assert_eq(net_link_is_up(f.n, 0), 0);
        cr_assert_eq(f.r.n, 1, "only the other direction got through");
        assert_rel(at(&f.r, 7), 2e-3 + 1e-4 + 7 / 1e9);
        sim_loop_run(f.loop, INFINITY);
        cr_assert_eq(f.r.n, 3);
        if (contention) {
            /* Message 1 resumes with 2 MB left and shares with the 1 MB
             * message at B/2 each until that one is done, 2 ms later;
             * message 1 then sends its last 1 MB alone. */
            assert_rel(at(&f.r, 1000000), up + 2e6 / 1e9 + 1e-4);
            assert_rel(at(&f.r, 1), up + 3e6 / 1e9 + 1e-4);
        } else {
            /* Without contention message 1 was scheduled when it was sent
             * (the route was up), so it keeps its time; the message sent
             * over the down link waits and then takes its idle time. */
            assert_rel(at(&f.r, 1), 1e-4 + S / 1e9);
            assert_rel(at(&f.r, 1000000), up + 1e-4 + 1e6 / 1e9);
        }
        unpair(&f);
    }
}

Test(topo, dynamic_changes_reject_bad_values_and_change_nothing)
{
    fixture f;
    pair(&f, 1);
    cr_assert_eq(net_link_set_bandwidth(f.n, 0, 0.0), SIM_EINVAL);
    cr_assert_eq(net_link_set_bandwidth(f.n, 2, 1e9), SIM_EINVAL);
    cr_assert_eq(net_link_set_latency(f.n, 0, -1.0), SIM_EINVAL);
    cr_assert_eq(net_link_set_bandwidth_at(f.n, -1.0, 0, 1e9), SIM_EINVAL);
    cr_assert_eq(net_link_set_up(f.n, 5, 0), SIM_EINVAL);
    cr_assert_eq(net_link_bandwidth(f.n, 0), 1e9);
    cr_assert_eq(net_link_latency(f.n, 0), 1e-4);
    cr_assert_eq(net_link_is_up(f.n, 0), 1);
    cr_assert_eq(sim_loop_pending(f.loop), 0);
    unpair(&f);
}

static void noop(sim_loop *loop, const sim_event *ev)
{
    (void)loop;
    (void)ev;
}

/* ---- utilisation -------------------------------------------------------- */

Test(topo, utilisation_counts_carried_bytes_and_busy_time_per_direction)
{
    fixture f;
    pair(&f, 1);
    send(f.n, 0, 1, 2000000, 1);
    send(f.n, 0, 1, 1000000, 2);
    sim_loop_schedule(f.loop, 1e-3, noop, NULL, 0, 0, NULL);
    sim_loop_run(f.loop, 1e-3);
    /* Halfway through: both at B/2 for 1 ms. */
    assert_rel(net_link_carried_bytes(f.n, 0), 1e6);
    assert_rel(net_link_busy_s(f.n, 0), 1e-3);
    sim_loop_run(f.loop, INFINITY);
    assert_rel(net_link_carried_bytes(f.n, 0), 3e6);
    assert_rel(net_link_busy_s(f.n, 0), 3e-3);
    cr_assert_eq(net_link_carried_bytes(f.n, 1), 0.0);
    cr_assert_eq(net_link_busy_s(f.n, 1), 0.0);
    cr_assert_eq(net_messages_in_flight(f.n), 0);
    cr_assert_eq(net_bytes_sent(f.n, 0), net_bytes_received(f.n, 1));
    unpair(&f);
}

/* ---- shared-bottleneck groups against a plain replay -------------------- */

/* Star traffic made of the patterns groups are built for (many workers
 * pushing to one server at random times, the server answering) mixed with
 * what must dissolve them (a worker sending twice at once, a worker slower
 * than its share, worker-to-worker messages, a capacity change of the
 * server's link), replayed the slow obvious way: from one event to the
 * next with every rate from net_maxmin_rates over all flows. */
enum { SN = 24, SMSG = 160 };

typedef struct sflow {
    int src, dst;
    double start, bytes, left, done;
} sflow;

static void replay_star(sflow *f, int n, double *cap, double t_change,
                        int change_link, double new_cap)
{
    double t = 0.0;
    int changed = 0;
    for (int i = 0; i < n; i++)
        f[i].left = f[i].bytes, f[i].done = -1;
    for (;;) {
        int live[SMSG], n_live = 0, r[SMSG][2], lens[SMSG];
        const int *routes[SMSG];
        double rates[SMSG];
        for (int i = 0; i < n; i++)
            if (f[i].start <= t && f[i].done < 0) {
                r[n_live][0] = 2 * f[i].src;
                r[n_live][1] = 2 * f[i].dst + 1;
                routes[n_live] = r[n_live];
                lens[n_live] = 2;
                live[n_live++] = i;
            }
        double next = INFINITY;
        for (int i = 0; i < n; i++)
            if (f[i].start > t)
                next = fmin(next, f[i].start);
        if (!changed)
            next = fmin(next, t_change);
        if (n_live == 0 && next == INFINITY)
            return;
        cr_assert_eq(
            net_maxmin_rates(2 * (SN + 1), cap, n_live, routes, lens, rates),
            0);
        double dt = next - t;
        for (int j = 0; j < n_live; j++)
            dt = fmin(dt, f[live[j]].left / rates[j]);
        t += dt;
        for (int j = 0; j < n_live; j++) {
            sflow *q = &f[live[j]];
            q->left -= rates[j] * dt;
            if (q->left <= 1e-9 * q->bytes)
                q->done = t;
        }
        if (!changed && t >= t_change) {
            cap[change_link] = new_cap;
            changed = 1;
        }
    }
}

static void go_flow(sim_loop *loop, const sim_event *ev)
{
    (void)loop;
    const sflow *f = ev->ptr;
    send(ev->obj, f->src, f->dst, (uint64_t)f->bytes, ev->a);
}

Test(topo, star_traffic_with_groups_matches_a_plain_replay)
{
    for (int round = 0; round < 10; round++) {
        uint64_t st = 1000 + round;
        net_link_cfg links[SN + 1];
        double cap[2 * (SN + 1)];
        for (int k = 0; k <= SN; k++) {
            /* The server (node SN) is fast; a few workers are slow. */
            double bw = k == SN ? 2e9 : (lcg(&st) % 8 == 0 ? 5e7 : 1e9);
            links[k] = (net_link_cfg){1e-6 * (double)(lcg(&st) % 50), bw};
            cap[2 * k] = cap[2 * k + 1] = bw;
        }
        sflow f[SMSG];
        for (int i = 0; i < SMSG; i++) {
            int kind = (int)(lcg(&st) % 10);
            int w = (int)(lcg(&st) % SN);
            f[i].src = kind < 6 ? w : kind < 9 ? SN : w;
            f[i].dst = kind < 6 ? SN : kind < 9 ? w : (w + 1) % SN;
            f[i].start = 1e-5 * (double)(lcg(&st) % 3000);
            f[i].bytes = (double)(1 + lcg(&st) % 4000000);
        }
        const double t_change = 1.7e-2, new_cap = 0.7e9;
        const int change_link = 2 * SN + 1; /* switch>server */
        replay_star(f, SMSG, cap, t_change, change_link, new_cap);

        sim_loop *loop = sim_loop_create();
        static rec r;
        r = (rec){.loop = loop};
        sim_err err = {0};
        net *n = net_create_star(loop, SN + 1, links, 1, record, &r, &err);
        cr_assert_not_null(n, "%s", err.msg);
        for (int i = 0; i < SMSG; i++)
            sim_loop_schedule(loop, f[i].start, go_flow, n, i, 0, &f[i]);
        cr_assert_eq(
            net_link_set_bandwidth_at(n, t_change, change_link, new_cap), 0);
        sim_loop_run(loop, INFINITY);
        cr_assert_eq(r.n, SMSG);
        for (int i = 0; i < SMSG; i++) {
            double want = f[i].done + links[f[i].src].latency_s +
                          links[f[i].dst].latency_s;
            double got = at(&r, i);
            cr_assert(fabs(got - want) <= 1e-9 * want,
                      "round %d message %d: got %.17g want %.17g", round, i,
                      got, want);
        }
        /* Every byte carried, whichever way it was accounted. */
        double carried = 0;
        for (int k = 0; k <= SN; k++)
            carried += net_link_carried_bytes(n, 2 * k);
        double sent = (double)net_total_bytes(n);
        cr_assert(fabs(carried - sent) <= 1e-9 * sent, "%.17g vs %.17g",
                  carried, sent);
        net_destroy(n);
        sim_loop_destroy(loop);
    }
}

Test(topo, destroying_the_network_cancels_its_scheduled_link_changes)
{
    fixture f;
    pair(&f, 1);
    cr_assert_eq(net_link_set_up_at(f.n, 1.0, 0, 0), 0);
    cr_assert_eq(net_link_set_bandwidth_at(f.n, 2.0, 1, 5e8), 0);
    cr_assert_eq(sim_loop_pending(f.loop), 2);
    net_destroy(f.n);
    /* Nothing fires into the freed network. */
    cr_assert_eq(sim_loop_run(f.loop, INFINITY), 0);
    sim_loop_destroy(f.loop);
}

Test(topo, one_description_builds_every_topology)
{
    sim_loop *loop = sim_loop_create();
    net_opts o = {.contention = 1};
    sim_err err = {0};
    const net_cable cab[2] = {{0, 1, 1e-4, 1e9, 0}, {1, 2, 1e-4, 1e9, 0}};
    const net_topo topos[] = {
        {.kind = NET_TOPO_STAR, .n_nodes = 5, .link = L1},
        {.kind = NET_TOPO_RING, .n_nodes = 5, .link = L1},
        {.kind = NET_TOPO_TREE, .n_nodes = 5, .arity = 3, .link = L1},
        {.kind = NET_TOPO_FULL, .n_nodes = 5, .link = L1},
        {.kind = NET_TOPO_HIER,
         .n_racks = 2,
         .hosts_per_rack = 3,
         .link = L1,
         .wan_link = {.latency_s = 1e-2, .bandwidth_Bps = 1e8}},
        {.kind = NET_TOPO_GRAPH, .n_nodes = 3, .cables = cab, .n_cables = 2},
    };
    const int links[] = {10, 10, 8, 20, 16, 4}, hosts[] = {5, 5, 5, 5, 6, 3};
    const int hops_0_2[] = {2, 2, 1, 1, 2, 2};
    for (size_t i = 0; i < sizeof topos / sizeof topos[0]; i++) {
        net *n = net_create_topo(loop, &topos[i], &o, &err);
        cr_assert_not_null(n, "topology %zu: %s", i, err.msg);
        cr_assert_eq(net_link_count(n), links[i], "topology %zu", i);
        cr_assert_eq(net_topo_hosts(&topos[i]), hosts[i]);
        int hops;
        cr_assert_eq(net_route_info(n, 0, 2, NULL, NULL, &hops), 0);
        cr_assert_eq(hops, hops_0_2[i], "topology %zu", i);
        net_destroy(n);
    }
    net_topo bad = {.kind = NET_TOPO_RING, .n_nodes = 1, .link = L1};
    cr_assert_null(net_create_topo(loop, &bad, &o, &err));
    bad.kind = (net_topo_kind)42;
    cr_assert_null(net_create_topo(loop, &bad, &o, &err));
    cr_assert_eq(net_topo_hosts(&bad), SIM_EINVAL);
    sim_loop_destroy(loop);
}

/* ---- steps -------------------------------------------------------------- */

typedef struct relay {
    net *n;
    int left;
} relay;

static void relay_next(void *user, const net_msg *m)
{
    relay *r = user;
    if (m->src != 0 || r->left == 0)
        return;
    r->left--;
    send(r->n, 0, 1, 100000, 0);
}

Test(topo, short_flows_beside_a_long_one_leave_no_cancelled_events_behind)
{
    /* One long flow (3 <-> 2) keeps a far step pending while a chain of
     * short messages (0 -> 1) comes and goes; the loop must not fill up
     * with one cancelled far step per short message. */
    sim_loop *loop = sim_loop_create();
    relay r = {.left = 2000};
    net_link_cfg links[4] = {L1, L1, L1, L1};
    sim_err err = {0};
    r.n = net_create_star(loop, 4, links, 1, relay_next, &r, &err);
    cr_assert_not_null(r.n, "%s", err.msg);
    send(r.n, 3, 2, UINT64_C(1) << 40, 99);
    send(r.n, 0, 1, 100000, 0);
    while (r.left > 0) {
        sim_loop_run(loop, sim_loop_now(loop) + 1e-3);
        cr_assert_leq(sim_loop_pending(loop), 12);
    }
    net_destroy(r.n);
    sim_loop_destroy(loop);
}

Test(topo, the_clock_ends_at_the_last_delivery_after_a_flow_speeds_up)
{
    /* The flow's first finish time (1000 s at 1 GB/s) is left behind when
     * its link gets faster; nothing may keep the loop running to it. */
    fixture f;
    pair(&f, 1);
    send(f.n, 0, 1, UINT64_C(1000000000000), 1);
    cr_assert_eq(net_link_set_bandwidth_at(f.n, 1.0, 0, 1e12), 0);
    sim_loop_run(f.loop, INFINITY);
    double want = 1.0 + 1e-4 + (1e12 - 1e9) / 1e12;
    assert_rel(at(&f.r, 1), want);
    assert_rel(sim_loop_now(f.loop), want);
    unpair(&f);
}
