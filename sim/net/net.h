/* net.h: links, routes and messages as flows on the simulated clock.
 *
 * A network is a set of nodes joined by directed links (each with latency in
 * seconds and bandwidth in bytes/s); a full-duplex cable is two links. A
 * message of S bytes from a to b follows a fixed route of links. With
 * contention, every message in transmission is a flow, and flows get
 * max-min fair rates over the links they share (progressive filling, the
 * flow-level model of SimGrid), recomputed whenever a flow starts or ends;
 * a message is delivered when its last byte has been sent plus the route's
 * total latency. Without contention a message takes exactly
 * route latency + S / (smallest bandwidth on the route), whatever else is
 * in flight. Over an idle route both models agree.
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

#endif
