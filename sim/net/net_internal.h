/* net_internal.h: what collective.c needs from net.c and no one else.
 *
 * A claim lets a collective compute a stretch of its schedule in closed
 * form instead of message by message, which is exact only while nothing
 * else touches its links. The network calls the claim's interrupt before
 * anything else would use or change a claimed link (a send crossing it, a
 * bandwidth, latency or up/down change); the interrupt must release its
 * links (net__release) and turn its schedule into real messages as of now
 * (net__inject), after which the network carries on with what it was
 * doing. */
#ifndef DTSIM_NET_INTERNAL_H
#define DTSIM_NET_INTERNAL_H

#include "net.h"

typedef struct net__claim net__claim;
struct net__claim {
    void (*interrupt)(net__claim *c);
};

/* Claims n_links links if every one is up, unclaimed and idle (no flow in
 * progress); returns 1 and claims them all, or 0 and claims none. */
int net__claim_links(net *n, const int *links, int n_links, net__claim *c);
/* Releases the claimed links among these. */
void net__release(net *n, const int *links, int n_links, const net__claim *c);
/* Turns the network's fast paths (answers known without the general
 * solver, exactly as it would give them) off or back on; for tests that
 * compare the two. On by default. */
void net__set_fast_paths(net *n, int on);
/* Whether the network shares bandwidth between flows. */
int net__contention(const net *n);

/* Starts m (already charged as sent: no byte is counted again) as if it
 * had been sent at m->sent_at, with `remaining` bytes still to transmit
 * (0 < remaining <= m->bytes), delivery calling fn(user, m). With
 * remaining == 0 the message only propagates and arrives after
 * `propagate_s`. SIM_ENOMEM or SIM_EINVAL (bad route). */
int net__inject(net *n, const net_msg *m, double remaining, double propagate_s,
                net_deliver_fn fn, void *user);

/* Byte accounting for messages a collective moved in closed form: as
 * net_send (sent, per link, totals; `messages` messages of `bytes` bytes in
 * all) and as a delivery. */
void net__charge_sent(net *n, int src, int dst, uint64_t bytes,
                      uint64_t messages);
void net__charge_received(net *n, int dst, uint64_t bytes);

#endif
