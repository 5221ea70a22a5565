/* net.h: links, routes and messages as flows on the simulated clock.
 *
 * A network is a set of nodes joined by directed links (each with latency in
 * seconds and bandwidth in bytes/s); a full-duplex cable is two links. A
 * message of S bytes from a to b follows a fixed route of links. With
 * contention, every message in transmission is a flow, and flows get
 * max-min fair rates over the links they share (progressive filling, the
 * flow-level model of SimGrid), recomputed whenever a flow starts or ends
 * (for the flows connected to it through shared links only); a message is
 * delivered when its last byte has been sent plus the route's total
 * latency. Without contention a message takes exactly
 * route latency + S / (smallest bandwidth on the route), whatever else is
 * in flight (unless a link on its route is down: see dynamic links). Over
 * an idle route both models agree.
 * Bytes flow from the moment of sending and the latency comes after the
 * last byte; SimGrid's CM02 model waits the latency first. The two give the
 * same times whenever flows that share a link have routes of equal
 * latency (a star of equal links, a ring), and may differ slightly
 * otherwise.
 *
 * The network knows nothing of models or algorithms: a message carries an
 * opaque payload pointer that is handed back on delivery.
 * Ownership: the network borrows the loop and the payloads. The loop must
 * outlive the network; net_destroy cancels the network's pending events, so
 * the loop may go on running without it. */
#ifndef DTSIM_NET_H
#define DTSIM_NET_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "../core/event.h"

typedef struct net net;

typedef struct net_link_cfg {
    double latency_s;
    double bandwidth_Bps;
} net_link_cfg;

typedef struct net_msg {
    int src, dst;   /* node ids */
    int kind;       /* the sender's message type, opaque here */
    int64_t tag;    /* opaque (e.g. round number) */
    uint64_t bytes; /* bytes charged on the wire */
    void *payload;  /* opaque, borrowed */
    double sent_at; /* filled by net_send */
} net_msg;

/* Called at delivery time, inside the event loop. */
typedef void (*net_deliver_fn)(void *user, const net_msg *m);

/* A star: n_nodes nodes, each with a full-duplex link to one switch, so node
 * i owns link 2i (i -> switch) and link 2i+1 (switch -> i), both with
 * node_links[i]. A message from a to b crosses link 2a then link 2b+1.
 * Latencies must be finite and >= 0, bandwidths finite and > 0; deliver may
 * be NULL. NULL on bad arguments or when out of memory (err says which). */
net *net_create_star(sim_loop *loop, int n_nodes,
                     const net_link_cfg *node_links, int contention,
                     net_deliver_fn deliver, void *user, sim_err *err);
void net_destroy(net *n); /* NULL-safe */

/* Starts sending a copy of m (its sent_at is set to now). src != dst.
 * Returns 0, or SIM_EINVAL for a bad node id or src == dst, SIM_ENOMEM;
 * nothing changes on failure. */
int net_send(net *n, const net_msg *m);

int net_node_count(const net *n);
sim_loop *net_loop(const net *n); /* the loop it was created on */
int net_link_count(const net *n);
/* A name such as "node3>switch" for link i; NULL for a bad link id. */
const char *net_link_name(const net *n, int link);

/* Accounting, all cumulative since creation. A message counts as sent when
 * net_send accepts it and as received when it is delivered; each link on its
 * route is charged its bytes at send time. Bad ids give 0. */
uint64_t net_bytes_sent(const net *n, int node);
uint64_t net_bytes_received(const net *n, int node);
uint64_t net_link_bytes(const net *n, int link);
uint64_t net_total_bytes(const net *n);    /* sent by all nodes */
uint64_t net_total_messages(const net *n); /* sent by all nodes */
/* Messages still transmitting under contention (always 0 without). */
size_t net_flows_active(const net *n);

/* The max-min fair rates (progressive filling) for n_flows flows, flow f
 * crossing route_len[f] links listed in routes[f][...], links of the given
 * capacities. Writes rates[f] (INFINITY for a flow crossing no link).
 * Exposed so the solver can be tested on textbook examples without a clock.
 * Returns 0, SIM_EINVAL for a link index out of range or a negative count,
 * or SIM_ENOMEM. */
int net_maxmin_rates(int n_links, const double *capacity, int n_flows,
                     const int *const *routes, const int *route_len,
                     double *rates);

/* ---- topologies --------------------------------------------------------- */

/* Options shared by the topology constructors; deliver may be NULL, and
 * opts itself NULL means contention on and no deliver callback. */
typedef struct net_opts {
    int contention; /* 0: every message takes its idle-route time */
    net_deliver_fn deliver;
    void *user;
} net_opts;

/* A full-duplex cable between nodes a and b: two directed links, a -> b and
 * b -> a, each with its own capacity. bandwidth_rev_Bps is the b -> a
 * bandwidth, 0 meaning the same as a -> b. */
typedef struct net_cable {
    int a, b;
    double latency_s;
    double bandwidth_Bps;
    double bandwidth_rev_Bps;
} net_cable;

/* An explicit graph: n_nodes nodes (hosts and switches alike: any node may
 * send) and n_cables cables; cable c owns link 2c (a -> b) and link 2c+1
 * (b -> a). Routes are shortest paths by hop count, each computed once, the
 * first time a message goes to that destination (a breadth-first search from
 * the destination; among equally short paths the one whose links were found
 * first, scanning links in index order, wins, so routes are deterministic).
 * NULL on bad arguments (a node out of range, a cable from a node to itself,
 * a bad latency or bandwidth) or out of memory; err names the cable. A
 * message between nodes with no path is refused by net_send (SIM_EINVAL). */
net *net_create_graph(sim_loop *loop, int n_nodes, const net_cable *cables,
                      int n_cables, const net_opts *opts, sim_err *err);

/* Ring: cable i joins node i and node (i+1) % n (n >= 2; one cable for 2). */
net *net_create_ring(sim_loop *loop, int n_nodes, net_link_cfg link,
                     const net_opts *opts, sim_err *err);
/* k-ary tree of nodes: node i > 0 hangs below node (i-1)/arity; cable i-1
 * joins node i to its parent. */
net *net_create_tree(sim_loop *loop, int n_nodes, int arity, net_link_cfg link,
                     const net_opts *opts, sim_err *err);
/* Fully connected: one cable per pair (i < j), in lexicographic order. */
net *net_create_full(sim_loop *loop, int n_nodes, net_link_cfg link,
                     const net_opts *opts, sim_err *err);
/* Hierarchical: n_racks racks of hosts_per_rack hosts. Host h (0 <= h <
 * n_racks*hosts_per_rack) sits in rack h / hosts_per_rack on a host cable to
 * the rack's switch, node n_racks*hosts_per_rack + r; every rack switch has
 * a WAN cable to one core switch, the last node. Cables: hosts first (cable
 * h), then the WAN cables (cable H + r). Host to host in one rack: 2 host
 * links; across racks: host, WAN, WAN, host. */
net *net_create_hier(sim_loop *loop, int n_racks, int hosts_per_rack,
                     net_link_cfg host_link, net_link_cfg wan_link,
                     const net_opts *opts, sim_err *err);

/* One description for every topology, for a config loader to fill:
 *   STAR  n_nodes, links[n_nodes] (per node), or link for all if NULL;
 *   RING, FULL  n_nodes, link;   TREE  n_nodes, arity, link;
 *   HIER  n_racks, hosts_per_rack, link (hosts), wan_link;
 *   GRAPH n_nodes, cables[n_cables].
 * Hosts (the nodes workers and servers live on) are 0 .. hosts - 1: every
 * node except in HIER, whose switches come after its hosts. */
typedef enum net_topo_kind {
    NET_TOPO_STAR,
    NET_TOPO_RING,
    NET_TOPO_TREE,
    NET_TOPO_FULL,
    NET_TOPO_HIER,
    NET_TOPO_GRAPH,
} net_topo_kind;

typedef struct net_topo {
    net_topo_kind kind;
    int n_nodes;
    net_link_cfg link;
    const net_link_cfg *links; /* STAR: per node, may be NULL */
    int arity;                 /* TREE */
    int n_racks, hosts_per_rack;
    net_link_cfg wan_link; /* HIER */
    const net_cable *cables;
    int n_cables; /* GRAPH */
} net_topo;

/* Builds the topology (see the constructors above); NULL with err set on
 * bad arguments or out of memory. */
net *net_create_topo(sim_loop *loop, const net_topo *t, const net_opts *opts,
                     sim_err *err);
/* How many hosts it has, or SIM_EINVAL for a bad description. */
int net_topo_hosts(const net_topo *t);

/* As net_send, but delivery calls fn(user, m) instead of the network's
 * deliver callback (fn NULL: no callback at all). Lets a collective or an
 * algorithm own its messages without a dispatcher. */
int net_send_to(net *n, const net_msg *m, net_deliver_fn fn, void *user);

/* The route from src to dst: its total latency, its smallest bandwidth
 * (0 if a link on it is down) and its hop count, any pointer may be NULL.
 * Returns 0, or SIM_EINVAL (bad ids, src == dst, no path). */
int net_route_info(net *n, int src, int dst, double *latency_s,
                   double *bandwidth_Bps, int *hops);
/* Writes up to cap link ids of the route into out; returns the route's
 * length (possibly > cap), or a negative SIM_E* code. */
int net_route_links(net *n, int src, int dst, int *out, int cap);

/* The nodes a link joins (from -> to); SIM_EINVAL for a bad link. */
int net_link_ends(const net *n, int link, int *from, int *to);

/* ---- dynamic links ------------------------------------------------------ */

/* Changes take effect now (call them from an event handler, or use the
 * _at variants, which schedule that event after delay_s; net_destroy
 * cancels those still pending). Bandwidth: flows crossing the
 * link are reshared at once, each keeping the bytes it has sent. Latency:
 * applies to messages sent from now on; messages already on their way keep
 * the latency they were sent with.
 * Down: the link carries nothing; flows crossing it keep their place and
 * wait at rate 0 (they are not re-routed: routes are fixed), messages sent
 * over it wait too, and all resume, with the bytes they had left, when the
 * link comes up. A message already past its last byte (propagating) still
 * arrives. Without contention, a message sent over a down route waits the
 * same way and then takes its idle-route time from the moment the route is
 * up again.
 * Return 0, SIM_EINVAL (bad link, bandwidth not finite > 0, latency not
 * finite >= 0, negative delay) or SIM_ENOMEM; nothing changes on failure. */
int net_link_set_bandwidth(net *n, int link, double bandwidth_Bps);
int net_link_set_latency(net *n, int link, double latency_s);
int net_link_set_up(net *n, int link, int up);
int net_link_is_up(const net *n, int link);
double net_link_bandwidth(const net *n, int link);
double net_link_latency(const net *n, int link);
int net_link_set_bandwidth_at(net *n, double delay_s, int link,
                              double bandwidth_Bps);
int net_link_set_latency_at(net *n, double delay_s, int link, double latency_s);
int net_link_set_up_at(net *n, double delay_s, int link, int up);

/* ---- utilisation -------------------------------------------------------- */

/* Bytes the link has actually carried so far (the integral of its flows'
 * rates up to now) and the time it has been busy (carrying at a rate > 0).
 * Sampling them gives a utilisation series: carried bytes between t0 and
 * t1 over bandwidth * (t1 - t0). Tracked for flows (contention, or messages
 * that waited for a down link); without contention the other messages are
 * only charged, as every message, in net_link_bytes. */
double net_link_carried_bytes(const net *n, int link);
double net_link_busy_s(const net *n, int link);
/* Messages accepted but not yet delivered. */
size_t net_messages_in_flight(const net *n);

#endif
