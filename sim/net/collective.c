/* collective.c: collectives as message-driven state machines.
 *
 * Every collective reacts to the delivery of its own messages (net_send_to
 * with the collective as the receiver); a message's tag says which phase,
 * step and sender it belongs to, so a handler needs no lookup. State is
 * allocated once per collective, never per message.
 *
 * The ring all-reduce also has a closed form (see collective.h and
 * ring_try_closed_form below): the schedule of 2K(K-1) messages is a
 * recurrence over (member, step) as long as the ring owns its links. That
 * is what lets a 1024-member ring of 100 MB cost milliseconds, while any
 * other traffic on those links still sees, and is seen by, every one of
 * the ring's messages (the claim is broken and the ring continues message
 * by message from exactly where the recurrence says it is). */
#include "collective.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "net_internal.h"

enum {
    PH_PUSH,
    PH_PULL,
    PH_UP,   /* tree reduce: child to parent */
    PH_DOWN, /* tree broadcast: parent to child */
    PH_RING,
    PH_HUP,   /* hierarchical: member to leader */
    PH_HDOWN, /* hierarchical: leader to member */
};

#define FIELD_BITS 28
#define FIELD_MASK ((INT64_C(1) << FIELD_BITS) - 1)

static int64_t make_tag(int phase, int step, int who)
{
    return ((int64_t)phase << (2 * FIELD_BITS)) |
           ((int64_t)step << FIELD_BITS) | (int64_t)who;
}

/* A ring over `k` positions; position p is member idx[p] and sends to
 * position (p + 1) % k. */
typedef struct ring {
    int k;
    int *idx;
    int *sent, *recv; /* steps sent / received so far, per position */
    unsigned char *ready;
    /* closed form (k >= 2): per position its route's latency and
     * bandwidth, the claimed links, the pending finish events */
    int closed;
    double t0;
    double *lat, *bw, *cur, *nxt;
    double *dlo, *dhi, *left; /* transmission times of S/k, S/k + 1 bytes */
    int *links;
    int n_links;
    sim_event_id *ev;
} ring;

struct net_coll {
    net_colls *owner;
    net_coll *prev, *next;
    net_coll_cfg cfg;
    net *net;
    sim_loop *loop;
    int K, P, target, n_done;
    int *members, *servers;
    int *cnt_m; /* per member: shards pushed / pulled, children heard */
    int *cnt_s; /* per server: pushes received; per group: heard */
    unsigned char *done;
    int arity;
    /* hierarchical */
    int R;
    int *gidx, *leader, *gsize, *gnext;
    ring rg;
    net__claim claim; /* first member: the claim finds its collective */
    sim_event_id kick_id;
};

struct net_colls {
    net *net;
    net_coll *head;
    int running;
    int no_closed_form;
    uint64_t closed;
};

net_colls *net_colls_create(net *n)
{
    net_colls *c = calloc(1, sizeof *c);
    if (c)
        c->net = n;
    return c;
}

static void coll_free(net_coll *c)
{
    free(c->members);
    free(c->servers);
    free(c->cnt_m);
    free(c->cnt_s);
    free(c->done);
    free(c->gidx);
    free(c->leader);
    free(c->gsize);
    free(c->gnext);
    free(c->rg.idx);
    free(c->rg.sent);
    free(c->rg.recv);
    free(c->rg.ready);
    free(c->rg.lat);
    free(c->rg.bw);
    free(c->rg.cur);
    free(c->rg.nxt);
    free(c->rg.dlo);
    free(c->rg.dhi);
    free(c->rg.left);
    free(c->rg.links);
    free(c->rg.ev);
    free(c);
}

static void coll_unlink(net_coll *c)
{
    net_colls *o = c->owner;
    if (c->prev)
        c->prev->next = c->next;
    else
        o->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    o->running--;
}

static void cancel_events(net_coll *c)
{
    if (c->kick_id)
        sim_loop_cancel(c->loop, c->kick_id);
    if (c->rg.ev)
        for (int p = 0; p < c->rg.k; p++)
            if (c->rg.ev[p])
                sim_loop_cancel(c->loop, c->rg.ev[p]);
    if (c->rg.closed)
        net__release(c->net, c->rg.links, c->rg.n_links, &c->claim);
}

void net_colls_destroy(net_colls *o)
{
    if (!o)
        return;
    while (o->head) {
        net_coll *c = o->head;
        cancel_events(c);
        coll_unlink(c);
        coll_free(c);
    }
    free(o);
}

void net_colls_set_closed_form(net_colls *o, int allowed)
{
    o->no_closed_form = !allowed;
}

int net_colls_running(const net_colls *o)
{
    return o->running;
}

uint64_t net_colls_closed_form(const net_colls *o)
{
    return o->closed;
}

/* ---- sending and finishing ---------------------------------------------- */

static void on_msg(void *user, const net_msg *m);

static void send(net_coll *c, int from, int to, uint64_t bytes, int phase,
                 int step, int who)
{
    net_msg m = {.src = from,
                 .dst = to,
                 .kind = NET_COLL_MSG_KIND,
                 .tag = make_tag(phase, step, who),
                 .bytes = bytes};
    /* Routes were checked at the start; only memory can fail here. */
    if (net_send_to(c->net, &m, on_msg, c) != 0)
        SIM_PANIC("collective: out of memory sending a message");
}

/* Member i holds its result. Must be the last thing a handler does: the
 * collective is freed when the last member is done. */
static void member_done(net_coll *c, int i)
{
    if (c->done[i])
        return;
    c->done[i] = 1;
    if (c->cfg.on_member)
        c->cfg.on_member(c->cfg.user, c->cfg.tag, i);
    if (++c->n_done < c->target)
        return;
    coll_unlink(c);
    if (c->cfg.on_done)
        c->cfg.on_done(c->cfg.user, c->cfg.tag);
    coll_free(c);
}

static uint64_t shard(uint64_t S, int parts, int j)
{
    return S / (uint64_t)parts + ((uint64_t)j < S % (uint64_t)parts);
}

/* ---- ring --------------------------------------------------------------- */

/* The chunk position p sends at step s: reduce-scatter sends chunk p - s,
 * all-gather chunk p + 1 - (s - (k - 1)), both mod k. */
static uint64_t ring_bytes(const net_coll *c, int p, int s)
{
    int k = c->rg.k;
    int chunk = s < k - 1 ? p - s : p + 1 - (s - (k - 1));
    chunk = ((chunk % k) + k) % k;
    return shard(c->cfg.bytes, k, chunk);
}

static int ring_node(const net_coll *c, int p)
{
    return c->members[c->rg.idx[p % c->rg.k]];
}

static void ring_pos_done(net_coll *c, int p);

static void ring_advance(net_coll *c, int p)
{
    ring *r = &c->rg;
    int steps = 2 * (r->k - 1);
    while (r->ready[p] && r->sent[p] < steps && r->recv[p] >= r->sent[p]) {
        int s = r->sent[p]++;
        send(c, ring_node(c, p), ring_node(c, p + 1), ring_bytes(c, p, s),
             PH_RING, s, p);
    }
}

/* Position p may start (its own data is ready). */
static void ring_ready(net_coll *c, int p)
{
    c->rg.ready[p] = 1;
    if (c->rg.k == 1) {
        ring_pos_done(c, p);
        return;
    }
    ring_advance(c, p);
}

/* Bytes position p sends over the whole ring: every chunk but p+1 in the
 * reduce-scatter, every chunk but p+2 in the all-gather. */
static uint64_t ring_sent_total(const net_coll *c, int p)
{
    int k = c->rg.k;
    return 2 * c->cfg.bytes - shard(c->cfg.bytes, k, (p + 1) % k) -
           shard(c->cfg.bytes, k, (p + 2) % k);
}

/* Position p finished in closed form: count its bytes, then finish it. */
static void on_closed_done(sim_loop *loop, const sim_event *ev)
{
    (void)loop;
    net_coll *c = ev->obj;
    ring *r = &c->rg;
    int p = (int)ev->a, k = r->k, q = (p + k - 1) % k;
    r->ev[p] = 0;
    r->recv[p] = r->sent[p] = 2 * (k - 1);
    net__charge_sent(c->net, ring_node(c, p), ring_node(c, p + 1),
                     ring_sent_total(c, p), (uint64_t)(2 * (k - 1)));
    net__charge_received(c->net, ring_node(c, p), ring_sent_total(c, q));
    int last = 1;
    for (int i = 0; i < k && last; i++)
        last = r->ev[i] == 0;
    if (last) {
        net__release(c->net, r->links, r->n_links, &c->claim);
        r->closed = 0;
    }
    ring_pos_done(c, p);
}

/* Runs the recurrence for step s: cur holds the send times of the step;
 * fills nxt with the arrival times at each position (which are the send
 * times of the next step). With check, returns 0 if a member would send
 * its next chunk before the previous one has left its route: the ring's
 * own messages would then share links, and only message by message gives
 * their times. Without overlap every message takes exactly latency +
 * bytes / bandwidth, added in the order the network adds them. */
static int ring_step(net_coll *c, int s, int check)
{
    ring *r = &c->rg;
    int k = r->k;
    /* Chunk of position p at step s is (p + off) mod k (see ring_bytes);
     * the first S % k chunks carry one byte more. */
    int off = s < k - 1 ? -s : k - s;
    off = ((off % k) + k) % k;
    int big = (int)(c->cfg.bytes % (uint64_t)k);
    for (int p = 0, chunk = off; p < k;
         p++, chunk = chunk + 1 == k ? 0 : chunk + 1) {
        double left = r->cur[p] + (chunk < big ? r->dhi[p] : r->dlo[p]);
        r->left[p] = left;
        r->nxt[p + 1 == k ? 0 : p + 1] = left + r->lat[p];
    }
    if (!check || s + 1 >= 2 * (k - 1))
        return 1;
    for (int p = 0; p < k; p++)
        if (r->nxt[p] < r->left[p] * (1.0 - 1e-12))
            return 0;
    return 1;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void ring_interrupt(net__claim *claim);

/* Tries to take the whole ring in closed form; 0 if it must go message by
 * message (links shared with other traffic or with itself, a link down). */
static int ring_try_closed_form(net_coll *c)
{
    ring *r = &c->rg;
    int k = r->k, steps = 2 * (k - 1), total = 0;
    for (int p = 0; p < k; p++) {
        int len = net_route_links(c->net, ring_node(c, p), ring_node(c, p + 1),
                                  NULL, 0);
        if (len < 0)
            return 0;
        total += len;
    }
    r->links = malloc((size_t)total * sizeof *r->links);
    int *sorted = malloc((size_t)total * sizeof *sorted);
    if (!r->links || !sorted) {
        free(sorted);
        return 0;
    }
    int pos = 0;
    for (int p = 0; p < k; p++) {
        int len = net_route_links(c->net, ring_node(c, p), ring_node(c, p + 1),
                                  r->links + pos, total - pos);
        double lat = 0.0, bw = INFINITY;
        for (int j = pos; j < pos + len; j++) {
            lat += net_link_latency(c->net, r->links[j]);
            bw = fmin(bw, net_link_bandwidth(c->net, r->links[j]));
        }
        r->lat[p] = lat;
        r->bw[p] = bw;
        /* As the network divides: bytes / rate, the rate being bw. */
        r->dlo[p] = (double)(c->cfg.bytes / (uint64_t)k) / bw;
        r->dhi[p] = (double)(c->cfg.bytes / (uint64_t)k + 1) / bw;
        pos += len;
    }
    r->n_links = total;
    memcpy(sorted, r->links, (size_t)total * sizeof *sorted);
    qsort(sorted, (size_t)total, sizeof *sorted, cmp_int);
    int distinct = 1;
    for (int j = 1; j < total && distinct; j++)
        distinct = sorted[j] != sorted[j - 1];
    free(sorted);
    if (!distinct || !net__claim_links(c->net, r->links, total, &c->claim))
        return 0;

    int contention = net__contention(c->net);
    r->t0 = sim_loop_now(c->loop);
    for (int p = 0; p < k; p++)
        r->cur[p] = r->t0;
    for (int s = 0; s < steps; s++) {
        if (!ring_step(c, s, contention)) {
            net__release(c->net, r->links, total, &c->claim);
            return 0;
        }
        double *t = r->cur;
        r->cur = r->nxt;
        r->nxt = t;
    }
    for (int p = 0; p < k; p++) {
        r->ev[p] = sim_loop_schedule(c->loop, r->cur[p] - r->t0, on_closed_done,
                                     c, p, 0, NULL);
        if (!r->ev[p])
            SIM_PANIC("collective: out of memory scheduling a ring");
    }
    r->closed = 1;
    c->owner->closed++;
    return 1;
}

/* Something else needs a ring link: replay the recurrence up to now and
 * turn it into messages. Positions whose finish event is due (everything
 * received by now) keep it and are counted by it; every other position's
 * bytes are counted here message by message, and from now on by the
 * network as its messages go. */
static void ring_interrupt(net__claim *claim)
{
    net_coll *c = (net_coll *)((char *)claim - offsetof(net_coll, claim));
    ring *r = &c->rg;
    int k = r->k, steps = 2 * (k - 1);
    double now = sim_loop_now(c->loop);
    net__release(c->net, r->links, r->n_links, &c->claim);
    r->closed = 0;

    for (int pass = 0; pass < 2; pass++) {
        for (int p = 0; p < k; p++) {
            r->cur[p] = r->t0;
            if (pass == 0)
                r->sent[p] = r->recv[p] = 0;
        }
        for (int s = 0; s < steps; s++) {
            int any = 0;
            ring_step(c, s, 0);
            for (int p = 0; p < k; p++) {
                if (r->cur[p] > now)
                    continue;
                any = 1;
                int q = (p + 1) % k;
                double arrive = r->nxt[q];
                if (pass == 0) {
                    r->sent[p] = s + 1;
                    if (arrive <= now)
                        r->recv[q]++;
                    continue;
                }
                if (r->recv[q] >= steps && arrive > now)
                    continue; /* counted by q's finish event */
                uint64_t bytes = ring_bytes(c, p, s);
                if (r->recv[p] < steps)
                    net__charge_sent(c->net, ring_node(c, p), ring_node(c, q),
                                     bytes, 1);
                if (arrive <= now) {
                    if (r->recv[q] < steps)
                        net__charge_received(c->net, ring_node(c, q), bytes);
                    continue;
                }
                net_msg m = {.src = ring_node(c, p),
                             .dst = ring_node(c, q),
                             .kind = NET_COLL_MSG_KIND,
                             .tag = make_tag(PH_RING, s, p),
                             .bytes = bytes,
                             .sent_at = r->cur[p]};
                double left = (double)bytes - r->bw[p] * (now - r->cur[p]);
                if (!(left > 0.0))
                    left = 0.0;
                if (net__inject(c->net, &m, left, arrive - now, on_msg, c))
                    SIM_PANIC("collective: out of memory resuming a ring");
            }
            if (!any)
                break;
            double *t = r->cur;
            r->cur = r->nxt;
            r->nxt = t;
        }
        /* A finish event that fired a rounding error early still stands. */
        for (int p = 0; pass == 0 && p < k; p++)
            if (c->done[r->idx[p]])
                r->sent[p] = r->recv[p] = steps;
    }
    for (int p = 0; p < k; p++)
        if (r->recv[p] < steps && r->ev[p]) {
            sim_loop_cancel(c->loop, r->ev[p]);
            r->ev[p] = 0;
        }
}

/* ---- handlers ----------------------------------------------------------- */

static int n_children(const net_coll *c, int i)
{
    long first = (long)c->arity * i + 1;
    if (first >= c->K)
        return 0;
    long last = first + c->arity;
    return (int)((last > c->K ? c->K : last) - first);
}

static void bcast_from(net_coll *c, int i)
{
    for (int j = 0; j < n_children(c, i); j++) {
        int child = c->arity * i + 1 + j;
        send(c, c->members[i], c->members[child], c->cfg.bytes, PH_DOWN, 0,
             child);
    }
}

static void pull_from(net_coll *c, int j)
{
    for (int i = 0; i < c->K; i++)
        send(c, c->servers[j], c->members[i], shard(c->cfg.bytes, c->P, j),
             PH_PULL, j, i);
}

static void hier_group_reduced(net_coll *c, int g)
{
    ring_ready(c, g);
}

static void ring_pos_done(net_coll *c, int p)
{
    if (c->cfg.kind == NET_COLL_ALLREDUCE_RING) {
        member_done(c, c->rg.idx[p]);
        return;
    }
    /* Hierarchical: the leader of group p has the sum; pass it down. */
    int lead = c->leader[p];
    for (int i = c->gnext[lead]; i >= 0; i = c->gnext[i])
        send(c, c->members[lead], c->members[i], c->cfg.bytes, PH_HDOWN, 0, i);
    member_done(c, lead);
}

static void on_msg(void *user, const net_msg *m)
{
    net_coll *c = user;
    int phase = (int)(m->tag >> (2 * FIELD_BITS));
    int step = (int)((m->tag >> FIELD_BITS) & FIELD_MASK);
    int who = (int)(m->tag & FIELD_MASK);
    switch (phase) {
    case PH_PUSH:
        c->cnt_s[step]++;
        if (c->cfg.kind == NET_COLL_PS_ROUND) {
            if (c->cnt_s[step] == c->K)
                pull_from(c, step);
        } else if (++c->cnt_m[who] == c->P) {
            member_done(c, who);
        }
        break;
    case PH_PULL:
        if (++c->cnt_m[who] == c->P)
            member_done(c, who);
        break;
    case PH_DOWN:
        bcast_from(c, who);
        member_done(c, who);
        break;
    case PH_UP: {
        int parent = (who - 1) / c->arity;
        if (++c->cnt_m[parent] < n_children(c, parent))
            break;
        if (parent > 0) {
            send(c, c->members[parent], c->members[(parent - 1) / c->arity],
                 c->cfg.bytes, PH_UP, 0, parent);
        } else {
            if (c->cfg.kind == NET_COLL_ALLREDUCE_TREE)
                bcast_from(c, 0);
            member_done(c, 0);
        }
        break;
    }
    case PH_RING: {
        ring *r = &c->rg;
        int q = (who + 1) % r->k;
        r->recv[q]++;
        ring_advance(c, q);
        if (r->recv[q] == 2 * (r->k - 1))
            ring_pos_done(c, q);
        break;
    }
    case PH_HUP: {
        int g = c->gidx[who];
        if (++c->cnt_s[g] == c->gsize[g] - 1)
            hier_group_reduced(c, g);
        break;
    }
    case PH_HDOWN:
        member_done(c, who);
        break;
    default:
        SIM_PANIC("collective: message of unknown phase %d", phase);
    }
}

/* The first messages, in an event at the start time. */
static void on_kick(sim_loop *loop, const sim_event *ev)
{
    (void)loop;
    net_coll *c = ev->obj;
    c->kick_id = 0;
    switch (c->cfg.kind) {
    case NET_COLL_PS_PUSH:
    case NET_COLL_PS_ROUND:
        for (int i = 0; i < c->K; i++)
            for (int j = 0; j < c->P; j++)
                send(c, c->members[i], c->servers[j],
                     shard(c->cfg.bytes, c->P, j), PH_PUSH, j, i);
        break;
    case NET_COLL_PS_PULL:
        for (int j = 0; j < c->P; j++)
            pull_from(c, j);
        break;
    case NET_COLL_BROADCAST:
        bcast_from(c, 0);
        member_done(c, 0);
        break;
    case NET_COLL_REDUCE:
    case NET_COLL_ALLREDUCE_TREE:
        if (c->K == 1) {
            member_done(c, 0);
            break;
        }
        for (int i = 1; i < c->K; i++)
            if (n_children(c, i) == 0)
                send(c, c->members[i], c->members[(i - 1) / c->arity],
                     c->cfg.bytes, PH_UP, 0, i);
        break;
    case NET_COLL_ALLREDUCE_RING:
        if (c->K >= 2 && !c->owner->no_closed_form && ring_try_closed_form(c))
            break;
        /* One member's send may complete everything (K = 1), so the last
         * call must not be followed by a use of c. */
        for (int p = 0; p < c->K - 1; p++)
            ring_ready(c, p);
        ring_ready(c, c->K - 1);
        break;
    case NET_COLL_ALLREDUCE_HIER: {
        for (int i = 0; i < c->K; i++)
            if (c->leader[c->gidx[i]] != i)
                send(c, c->members[i], c->members[c->leader[c->gidx[i]]],
                     c->cfg.bytes, PH_HUP, 0, i);
        int singles = 0, last = -1;
        for (int g = 0; g < c->R; g++)
            if (c->gsize[g] == 1)
                singles++, last = g;
        for (int g = 0; g < c->R && singles > 0; g++)
            if (c->gsize[g] == 1 && g != last)
                hier_group_reduced(c, g);
        if (singles > 0)
            hier_group_reduced(c, last);
        break;
    }
    }
}

/* ---- start -------------------------------------------------------------- */

static int *copy_ints(const int *a, int n)
{
    int *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    if (p && n > 0)
        memcpy(p, a, (size_t)n * sizeof *p);
    return p;
}

static int reachable(net *n, int a, int b)
{
    return net_route_links(n, a, b, NULL, 0) >= 0;
}

static int ring_alloc(ring *r, int k)
{
    size_t n = (size_t)k;
    r->k = k;
    r->idx = malloc(n * sizeof *r->idx);
    r->sent = calloc(n, sizeof *r->sent);
    r->recv = calloc(n, sizeof *r->recv);
    r->ready = calloc(n, 1);
    r->lat = malloc(n * sizeof *r->lat);
    r->bw = malloc(n * sizeof *r->bw);
    r->cur = malloc(n * sizeof *r->cur);
    r->nxt = malloc(n * sizeof *r->nxt);
    r->dlo = malloc(n * sizeof *r->dlo);
    r->dhi = malloc(n * sizeof *r->dhi);
    r->left = malloc(n * sizeof *r->left);
    r->ev = calloc(n, sizeof *r->ev);
    return r->idx && r->sent && r->recv && r->ready && r->lat && r->bw &&
                   r->cur && r->nxt && r->dlo && r->dhi && r->left && r->ev
               ? 0
               : SIM_ENOMEM;
}

static int validate(net *n, const net_coll_cfg *cfg)
{
    int nodes = net_node_count(n), K = cfg->n_members;
    int ps = cfg->kind == NET_COLL_PS_PUSH || cfg->kind == NET_COLL_PS_PULL ||
             cfg->kind == NET_COLL_PS_ROUND;
    if (K < 1 || !cfg->members || cfg->arity < 0 ||
        (ps && (cfg->n_servers < 1 || !cfg->servers)) ||
        (cfg->kind == NET_COLL_ALLREDUCE_HIER && !cfg->group) ||
        (int)cfg->kind < 0 || cfg->kind > NET_COLL_ALLREDUCE_HIER ||
        K >= (1 << FIELD_BITS) || cfg->n_servers >= (1 << FIELD_BITS))
        return SIM_EINVAL;
    unsigned char *seen = calloc((size_t)nodes, 1);
    if (!seen)
        return SIM_ENOMEM;
    int rc = 0;
    for (int i = 0; i < K && rc == 0; i++) {
        int v = cfg->members[i];
        if (v < 0 || v >= nodes || seen[v]++ ||
            (cfg->group && cfg->kind == NET_COLL_ALLREDUCE_HIER &&
             cfg->group[i] < 0))
            rc = SIM_EINVAL;
    }
    for (int j = 0; ps && j < cfg->n_servers && rc == 0; j++) {
        int v = cfg->servers[j];
        if (v < 0 || v >= nodes || seen[v]++)
            rc = SIM_EINVAL;
    }
    free(seen);
    return rc;
}

int net_coll_start(net_colls *o, const net_coll_cfg *cfg)
{
    if (!o || !cfg)
        return SIM_EINVAL;
    int rc = validate(o->net, cfg);
    if (rc != 0)
        return rc;
    net_coll *c = calloc(1, sizeof *c);
    if (!c)
        return SIM_ENOMEM;
    c->owner = o;
    c->net = o->net;
    c->cfg = *cfg;
    c->K = cfg->n_members;
    c->P = cfg->n_servers;
    c->arity = cfg->arity > 0 ? cfg->arity : 2;
    c->target = cfg->kind == NET_COLL_REDUCE ? 1 : c->K;
    c->claim.interrupt = ring_interrupt;
    c->members = copy_ints(cfg->members, c->K);
    c->servers = copy_ints(cfg->servers, c->P);
    c->cnt_m = calloc((size_t)c->K, sizeof *c->cnt_m);
    c->cnt_s = calloc((size_t)(c->P > c->K ? c->P : c->K), sizeof *c->cnt_s);
    c->done = calloc((size_t)c->K, 1);
    rc = !c->members || !c->servers || !c->cnt_m || !c->cnt_s || !c->done
             ? SIM_ENOMEM
             : 0;
    const net_coll_cfg *f = cfg;
    net *n = o->net;
    /* Every pair that will talk must be connected. */
    for (int i = 0; rc == 0 && i < c->K; i++) {
        switch (f->kind) {
        case NET_COLL_PS_PUSH:
        case NET_COLL_PS_PULL:
        case NET_COLL_PS_ROUND:
            for (int j = 0; j < c->P && rc == 0; j++)
                if ((f->kind != NET_COLL_PS_PULL &&
                     !reachable(n, c->members[i], c->servers[j])) ||
                    (f->kind != NET_COLL_PS_PUSH &&
                     !reachable(n, c->servers[j], c->members[i])))
                    rc = SIM_EINVAL;
            break;
        case NET_COLL_BROADCAST:
        case NET_COLL_REDUCE:
        case NET_COLL_ALLREDUCE_TREE:
            if (i > 0) {
                int par = c->members[(i - 1) / c->arity];
                if ((f->kind != NET_COLL_REDUCE &&
                     !reachable(n, par, c->members[i])) ||
                    (f->kind != NET_COLL_BROADCAST &&
                     !reachable(n, c->members[i], par)))
                    rc = SIM_EINVAL;
            }
            break;
        case NET_COLL_ALLREDUCE_RING:
            if (c->K > 1 &&
                !reachable(n, c->members[i], c->members[(i + 1) % c->K]))
                rc = SIM_EINVAL;
            break;
        case NET_COLL_ALLREDUCE_HIER:
            break;
        }
    }
    if (rc == 0 && f->kind == NET_COLL_ALLREDUCE_RING) {
        rc = ring_alloc(&c->rg, c->K);
        for (int p = 0; rc == 0 && p < c->K; p++)
            c->rg.idx[p] = p;
    }
    if (rc == 0 && f->kind == NET_COLL_ALLREDUCE_HIER) {
        /* Groups numbered in order of first appearance. */
        size_t K = (size_t)c->K;
        c->gidx = malloc(K * sizeof *c->gidx);
        c->leader = malloc(K * sizeof *c->leader);
        c->gsize = calloc(K, sizeof *c->gsize);
        c->gnext = malloc(K * sizeof *c->gnext);
        int *tail = malloc(K * sizeof *tail);
        if (!c->gidx || !c->leader || !c->gsize || !c->gnext || !tail)
            rc = SIM_ENOMEM;
        for (int i = 0; rc == 0 && i < c->K; i++) {
            int g = 0;
            while (g < c->R && f->group[c->leader[g]] != f->group[i])
                g++;
            if (g == c->R)
                c->leader[c->R++] = tail[g] = i;
            else
                c->gnext[tail[g]] = i, tail[g] = i;
            c->gnext[i] = -1;
            c->gidx[i] = g;
            c->gsize[g]++;
            int lead = c->members[c->leader[g]];
            if (i != c->leader[g] && (!reachable(n, c->members[i], lead) ||
                                      !reachable(n, lead, c->members[i])))
                rc = SIM_EINVAL;
        }
        free(tail);
        if (rc == 0)
            rc = ring_alloc(&c->rg, c->R);
        for (int g = 0; rc == 0 && g < c->R; g++) {
            c->rg.idx[g] = c->leader[g];
            if (c->R > 1 && !reachable(n, c->members[c->leader[g]],
                                       c->members[c->leader[(g + 1) % c->R]]))
                rc = SIM_EINVAL;
        }
    }
    c->loop = net_loop(n);
    if (rc == 0) {
        c->kick_id = sim_loop_schedule(c->loop, 0.0, on_kick, c, 0, 0, NULL);
        if (!c->kick_id)
            rc = SIM_ENOMEM;
    }
    if (rc != 0) {
        coll_free(c);
        return rc;
    }
    c->next = o->head;
    if (o->head)
        o->head->prev = c;
    o->head = c;
    o->running++;
    return 0;
}
