/* collective.h: collective operations built on network messages.
 *
 * A collective moves a model of S bytes between members (node ids of a
 * network) by sending real messages through net_send_to, so that its time
 * comes from the links, their sharing with any other traffic, and their
 * changes, and every byte is counted by the network like any other.
 *
 * Members are given as an array of node ids; "member i" is the i-th entry.
 *   PS_PUSH   every member sends shard j of the model to server j (the model
 *             split as evenly as bytes allow over n_servers: sharded
 *             parameter servers; one server holds it whole);
 *   PS_PULL   every server sends its shard to every member;
 *   PS_ROUND  push, then each server, once it has all K pushes of its
 *             shard, sends the shard to every member (one synchronous
 *             round of a parameter server);
 *   BROADCAST member 0 sends S to its children in a k-ary tree over member
 *             indices (children of i: k*i+1 .. k*i+k), each member
 *             forwarding on receipt;
 *   REDUCE    the reverse: a member sends S to its parent once it has all
 *             its children's messages;
 *   ALLREDUCE_TREE  reduce, then broadcast from member 0;
 *   ALLREDUCE_RING  reduce-scatter then all-gather: 2(K-1) steps in which
 *             member i sends one chunk (S/K bytes, the remainder spread over
 *             the first chunks) to member (i+1) % K, step s+1 once step s
 *             has arrived from member i-1;
 *   ALLREDUCE_HIER  members grouped (group[i]; a group's leader is its
 *             first member in member order): members send S to their leader,
 *             leaders run a ring all-reduce among themselves, then each
 *             leader sends S to its group.
 *
 * Closed form and exactness. A ring all-reduce over many members would be
 * 2K(K-1) messages; while none of the ring's links is shared with other
 * traffic, every one of those messages takes exactly latency + bytes /
 * bandwidth of its route, so the whole schedule follows from a recurrence
 * (send time of member i at step s = arrival of member i-1's step s-1)
 * costing a few arithmetic operations per message instead of events. The
 * ring claims its links for that; the moment anything else would use or
 * change one of them, the collective replays the recurrence up to now and
 * turns its state into real messages (those in transmission with the bytes
 * they still have to send, those propagating with their arrival time), and
 * goes on message by message. The result is the same as simulating every
 * message, to rounding. In closed form a member's bytes are counted when it
 * finishes (all at once), not message by message.
 *
 * Ownership: a collective is owned by the net_colls it was started in and
 * freed after its done callback returns. Destroy the network before the
 * net_colls (net_destroy cancels the messages still addressed to them). */
#ifndef DTSIM_COLLECTIVE_H
#define DTSIM_COLLECTIVE_H

#include <stdint.h>

#include "net.h"

typedef struct net_colls net_colls;
typedef struct net_coll net_coll;

typedef enum net_coll_kind {
    NET_COLL_PS_PUSH,
    NET_COLL_PS_PULL,
    NET_COLL_PS_ROUND,
    NET_COLL_BROADCAST,
    NET_COLL_REDUCE,
    NET_COLL_ALLREDUCE_TREE,
    NET_COLL_ALLREDUCE_RING,
    NET_COLL_ALLREDUCE_HIER,
} net_coll_kind;

/* member: the index in members[] of the member that now holds its result
 * (PS_PUSH: all its shards have arrived; PS_PULL, PS_ROUND: it has every
 * shard; BROADCAST: it has the data, the root at the start; REDUCE: only
 * the root, when the sum is complete; all-reduces: it has the sum). */
typedef void (*net_coll_member_fn)(void *user, int64_t tag, int member);
/* Everything has arrived; the collective is freed once this returns. */
typedef void (*net_coll_done_fn)(void *user, int64_t tag);

typedef struct net_coll_cfg {
    net_coll_kind kind;
    const int *members; /* node ids, copied */
    int n_members;
    const int *servers; /* PS kinds: node ids, copied */
    int n_servers;
    const int *group; /* ALLREDUCE_HIER: group of each member, copied */
    uint64_t bytes;   /* the model, S */
    int arity;        /* tree kinds; 0 means 2 */
    int64_t tag;      /* handed back to the callbacks, and set on messages */
    net_coll_member_fn on_member; /* may be NULL */
    net_coll_done_fn on_done;     /* may be NULL */
    void *user;
} net_coll_cfg;

/* NULL when out of memory. */
net_colls *net_colls_create(net *n);
void net_colls_destroy(net_colls *c); /* NULL-safe; frees running ones */

/* Starts a collective now. Returns 0, SIM_EINVAL (no members, a node id out
 * of range or repeated, a PS kind without servers, no route between two
 * nodes that must talk, a server that is also a member) or SIM_ENOMEM;
 * nothing is sent on failure. The first messages leave in an event at the
 * current time. Messages carry kind NET_COLL_MSG_KIND and a tag private to
 * the collective, and are delivered to the collective only. */
int net_coll_start(net_colls *c, const net_coll_cfg *cfg);

/* Whether ring all-reduces started from now on may use the closed form
 * (default 1). 0 simulates every message: the reference the closed form is
 * tested against, and a way to time it. */
void net_colls_set_closed_form(net_colls *c, int allowed);

/* Collectives started and not yet done. */
int net_colls_running(const net_colls *c);
/* Ring all-reduces that are still (or were until done) in closed form. */
uint64_t net_colls_closed_form(const net_colls *c);

#define NET_COLL_MSG_KIND 0x434f4c4c /* "COLL" */

#endif
