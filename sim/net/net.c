/* net.c: links, routes, and messages as max-min fair flows.
 *
 * Layout. A network is an array of directed links plus a routing function
 * that writes the link indices from one node to another; net_create_star is
 * one such routing, and other topologies (ring, tree, an explicit graph) only
 * need another routing function and a call to net_create_links.
 *
 * Every message in flight is an xfer record taken from a free list (records
 * live in slabs that never move and are only freed by net_destroy). Each
 * record keeps its own copy of the route, so a topology may route however
 * it likes. A record is either
 *   - a flow: in n->active (start order), sharing bandwidth, or
 *   - propagating: its last byte is sent (or it never was a flow: zero bytes,
 *     no contention) and a delivery event is pending (deliver_id != 0).
 *
 * Time with contention. All flows' `remaining` bytes are valid as of
 * n->last_update and decrease linearly at `rate` until the next change; each
 * change (a start or an end) first brings them up to date, then recomputes
 * every rate and re-projects every finish time. Exactly one "step" event is
 * pending in the loop while flows exist: at the earliest projected finish,
 * or at once (delay 0) after a send, so that many sends at the same instant
 * share one recomputation. Remaining bytes are only touched at changes, so an
 * uncontended flow is exact to rounding and closed-form tests hold to 1e-9.
 *
 * Ownership: the network borrows the loop (which must outlive it) and the
 * payloads; net_destroy cancels the events it still has in the loop. */
#include "net.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A flow whose bytes left at the current rate are within this fraction of
 * its size counts as finished: flows that finish together in exact
 * arithmetic then complete in one step, in start order. */
#define DONE_REL_TOL 1e-10
/* Bottleneck links whose fair shares agree to this fraction give their
 * flows the same rate, so N identical links (N workers' uplinks) yield N
 * identical rates instead of rates differing in the last bits. */
#define TIE_REL_TOL 1e-12
#define ROUTE_INLINE 4
#define FIRST_SLAB 16
/* Slab i holds FIRST_SLAB << i records: 2^28 records at most. */
#define MAX_SLABS 24

/* Writes the links of the route src -> dst into out (room for cap) and
 * returns the route's length, which may exceed cap: the caller then grows
 * out and asks again. Returns -1 if there is no route. */
typedef int (*route_fn)(const net *n, int src, int dst, int *out, int cap);

typedef struct link_state {
    double latency_s;
    double bandwidth_Bps;
    uint64_t bytes;
    char name[32];
} link_state;

typedef struct xfer {
    net_msg msg;
    int *route; /* route_buf or a heap block kept across reuse */
    int route_len, route_cap;
    int route_buf[ROUTE_INLINE];
    double latency_s; /* total over the route */
    double remaining; /* bytes not yet sent, as of n->last_update */
    double rate;      /* bytes/s; 0 until the first recomputation */
    double finish_s;  /* projected last byte at the current rate */
    sim_event_id deliver_id;
    struct xfer *next_free;
} xfer;

/* A link's fair share when it was last changed; stale once the link
 * changes again (its current share then differs) or has no flows left. */
typedef struct share_key {
    double share;
    int link;
} share_key;

/* Scratch space for progressive filling, reused across calls. Per-link
 * arrays have n_links entries; between calls cnt is all zero, so a call
 * only touches the links its flows cross. */
typedef struct maxmin_ws {
    int n_links;
    double *rem; /* capacity not yet given out */
    int *cnt;    /* unfrozen flows crossing the link */
    int *first;  /* the link's flows are by_link[first[l] .. end[l]) */
    int *end;
    int *touched; /* links crossed by some flow, in first-touch order */
    int *by_link;
    size_t by_link_cap;
    unsigned char *frozen;
    size_t frozen_cap;
    share_key *heap; /* n_links + by_link_cap entries */
    size_t heap_len;
} maxmin_ws;

struct net {
    sim_loop *loop;
    int n_nodes, n_links;
    link_state *links;
    route_fn route;
    int contention;
    net_deliver_fn deliver;
    void *user;

    uint64_t *sent, *received; /* per node, bytes */
    uint64_t total_bytes, total_messages;

    xfer **slabs;
    int n_slabs;
    xfer *free_list;

    xfer **active; /* flows, in start order */
    size_t n_active, active_cap;
    size_t route_total; /* sum of active route lengths */
    double last_update;
    sim_event_id step_id; /* 0 when no step is pending */
    double step_at;       /* when the pending step fires */

    /* Per active flow, fed to the solver; same capacity as active. */
    const int **routes;
    int *route_lens;
    double *rates;
    double *capacity; /* per link */
    maxmin_ws ws;
};

/* ---- progressive filling ---------------------------------------------- */

static int ws_init(maxmin_ws *ws, int n_links)
{
    memset(ws, 0, sizeof *ws);
    size_t n = n_links > 0 ? (size_t)n_links : 1;
    ws->n_links = n_links;
    ws->rem = malloc(n * sizeof *ws->rem);
    ws->cnt = calloc(n, sizeof *ws->cnt);
    ws->first = malloc(n * sizeof *ws->first);
    ws->end = malloc(n * sizeof *ws->end);
    ws->touched = malloc(n * sizeof *ws->touched);
    ws->heap = malloc(n * sizeof *ws->heap);
    if (!ws->rem || !ws->cnt || !ws->first || !ws->end || !ws->touched ||
        !ws->heap)
        return SIM_ENOMEM;
    return 0;
}

static void ws_deinit(maxmin_ws *ws)
{
    free(ws->rem);
    free(ws->cnt);
    free(ws->first);
    free(ws->end);
    free(ws->touched);
    free(ws->by_link);
    free(ws->frozen);
    free(ws->heap);
}

/* Makes room for n_flows flows crossing total_len links in all. Nothing
 * observable changes on failure. */
static int ws_reserve(maxmin_ws *ws, size_t n_flows, size_t total_len)
{
    if (total_len > ws->by_link_cap) {
        size_t cap = ws->by_link_cap ? ws->by_link_cap : 64;
        while (cap < total_len)
            cap *= 2;
        int *p = realloc(ws->by_link, cap * sizeof *p);
        if (!p)
            return SIM_ENOMEM;
        ws->by_link = p;
        /* Every link is pushed once, then once more per crossing whose
         * freeze changes it. */
        size_t links = ws->n_links > 0 ? (size_t)ws->n_links : 1;
        share_key *h = realloc(ws->heap, (links + cap) * sizeof *h);
        if (!h)
            return SIM_ENOMEM;
        ws->heap = h;
        ws->by_link_cap = cap;
    }
    if (n_flows > ws->frozen_cap) {
        size_t cap = ws->frozen_cap ? ws->frozen_cap : 64;
        while (cap < n_flows)
            cap *= 2;
        unsigned char *p = realloc(ws->frozen, cap);
        if (!p)
            return SIM_ENOMEM;
        ws->frozen = p;
        ws->frozen_cap = cap;
    }
    return 0;
}

/* Ties go to the lower link index, so the solve is deterministic. */
static inline int share_less(const share_key *x, const share_key *y)
{
    return x->share < y->share || (x->share == y->share && x->link < y->link);
}

static void heap_push(maxmin_ws *ws, int l)
{
    share_key k = {.share = ws->rem[l] / ws->cnt[l], .link = l};
    share_key *h = ws->heap;
    size_t i = ws->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!share_less(&k, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = k;
}

static share_key heap_pop(maxmin_ws *ws)
{
    share_key *h = ws->heap;
    share_key top = h[0], k = h[--ws->heap_len];
    size_t n = ws->heap_len, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && share_less(&h[c + 1], &h[c]))
            c++;
        if (!share_less(&h[c], &k))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = k;
    return top;
}

/* Gives every unfrozen flow of link l the rate `share` and takes it out of
 * every link the flow crosses. */
static void freeze_link(maxmin_ws *ws, int l, double share,
                        const int *const *routes, const int *route_len,
                        double *rates)
{
    for (int i = ws->first[l]; i < ws->end[l]; i++) {
        int f = ws->by_link[i];
        if (ws->frozen[f])
            continue;
        ws->frozen[f] = 1;
        rates[f] = share;
        for (int k = 0; k < route_len[f]; k++) {
            int m = routes[f][k];
            ws->cnt[m]--;
            ws->rem[m] -= share;
            /* Rounding can leave a saturated link slightly negative. */
            if (ws->rem[m] < 0.0)
                ws->rem[m] = 0.0;
            /* A share only grows as flows freeze below it, so the link's
             * older keys sink no lower than this one and go stale. */
            if (ws->cnt[m] > 0 && m != l)
                heap_push(ws, m);
        }
    }
}

/* Max-min fair rates by progressive filling: the link with the smallest
 * fair share (remaining capacity / unfrozen flows) is the next bottleneck;
 * its flows freeze at that share, which leaves their other links. Links
 * wait in a min-heap by share, with stale keys skipped when popped, so a
 * solve costs O((links touched + total route length) log of that) however
 * many distinct bottlenecks there are (heterogeneous worker links).
 * Link indices must be valid and ws must have room (ws_reserve). */
static void maxmin_solve(maxmin_ws *ws, const double *capacity, int n_flows,
                         const int *const *routes, const int *route_len,
                         double *rates)
{
    int n_touched = 0;
    for (int f = 0; f < n_flows; f++) {
        ws->frozen[f] = 0;
        for (int k = 0; k < route_len[f]; k++) {
            int l = routes[f][k];
            if (ws->cnt[l]++ == 0) {
                ws->touched[n_touched++] = l;
                ws->rem[l] = capacity[l];
            }
        }
        /* Nothing constrains a flow that crosses no link. */
        if (route_len[f] == 0) {
            ws->frozen[f] = 1;
            rates[f] = INFINITY;
        }
    }
    int pos = 0;
    for (int i = 0; i < n_touched; i++) {
        int l = ws->touched[i];
        ws->first[l] = ws->end[l] = pos;
        pos += ws->cnt[l];
    }
    /* Flows are listed per link in increasing index, so freezing order and
     * hence rounding are deterministic. */
    for (int f = 0; f < n_flows; f++)
        for (int k = 0; k < route_len[f]; k++) {
            int l = routes[f][k];
            ws->by_link[ws->end[l]++] = f;
        }

    ws->heap_len = 0;
    for (int i = 0; i < n_touched; i++)
        heap_push(ws, ws->touched[i]);
    /* Links whose share is within TIE_REL_TOL of the current level freeze
     * at exactly that level, so identical links give identical rates. */
    double level = -INFINITY;
    while (ws->heap_len > 0) {
        share_key k = heap_pop(ws);
        int l = k.link;
        if (ws->cnt[l] == 0 || k.share != ws->rem[l] / ws->cnt[l])
            continue;
        if (!(k.share <= level * (1.0 + TIE_REL_TOL)))
            level = k.share;
        freeze_link(ws, l, level, routes, route_len, rates);
    }
}

int net_maxmin_rates(int n_links, const double *capacity, int n_flows,
                     const int *const *routes, const int *route_len,
                     double *rates)
{
    if (n_links < 0 || n_flows < 0 || (n_links > 0 && !capacity) ||
        (n_flows > 0 && (!routes || !route_len || !rates)))
        return SIM_EINVAL;
    size_t total = 0;
    for (int f = 0; f < n_flows; f++) {
        if (route_len[f] < 0 || (route_len[f] > 0 && !routes[f]))
            return SIM_EINVAL;
        for (int k = 0; k < route_len[f]; k++)
            if (routes[f][k] < 0 || routes[f][k] >= n_links)
                return SIM_EINVAL;
        total += (size_t)route_len[f];
    }
    /* cnt is an int per link; more crossings than that cannot be counted. */
    if (total > INT_MAX)
        return SIM_EINVAL;
    maxmin_ws ws;
    int rc = ws_init(&ws, n_links);
    if (rc == 0)
        rc = ws_reserve(&ws, (size_t)n_flows, total);
    if (rc == 0)
        maxmin_solve(&ws, capacity, n_flows, routes, route_len, rates);
    ws_deinit(&ws);
    return rc;
}

/* ---- records ------------------------------------------------------------ */

static xfer *xfer_get(net *n)
{
    if (!n->free_list) {
        if (n->n_slabs >= MAX_SLABS)
            return NULL;
        size_t count = (size_t)FIRST_SLAB << n->n_slabs;
        xfer **slabs =
            realloc(n->slabs, (size_t)(n->n_slabs + 1) * sizeof *slabs);
        if (!slabs)
            return NULL;
        n->slabs = slabs;
        xfer *s = calloc(count, sizeof *s);
        if (!s)
            return NULL;
        n->slabs[n->n_slabs++] = s;
        for (size_t i = count; i-- > 0;) {
            s[i].route = s[i].route_buf;
            s[i].route_cap = ROUTE_INLINE;
            s[i].next_free = n->free_list;
            n->free_list = &s[i];
        }
    }
    xfer *x = n->free_list;
    n->free_list = x->next_free;
    x->next_free = NULL;
    return x;
}

static void xfer_put(net *n, xfer *x)
{
    x->deliver_id = 0;
    x->msg.payload = NULL;
    x->next_free = n->free_list;
    n->free_list = x;
}

/* Fills x's route from src to dst, growing its buffer if needed. */
static int xfer_route(net *n, xfer *x, int src, int dst)
{
    int len = n->route(n, src, dst, x->route, x->route_cap);
    if (len > x->route_cap) {
        int *p = malloc((size_t)len * sizeof *p);
        if (!p)
            return SIM_ENOMEM;
        if (x->route != x->route_buf)
            free(x->route);
        x->route = p;
        x->route_cap = len;
        len = n->route(n, src, dst, x->route, x->route_cap);
    }
    if (len < 1)
        return SIM_EINVAL;
    x->route_len = len;
    return 0;
}

/* ---- the clock ---------------------------------------------------------- */

static void on_step(sim_loop *loop, const sim_event *ev);

static void on_deliver(sim_loop *loop, const sim_event *ev)
{
    (void)loop;
    net *n = ev->obj;
    xfer *x = ev->ptr;
    /* Recycle first: the callback may well send the reply at once. */
    net_msg m = x->msg;
    xfer_put(n, x);
    n->received[m.dst] += m.bytes;
    if (n->deliver)
        n->deliver(n->user, &m);
}

static sim_event_id schedule_delivery(net *n, xfer *x, double delay_s)
{
    x->deliver_id = sim_loop_schedule(n->loop, delay_s, on_deliver, n, 0, 0, x);
    return x->deliver_id;
}

/* Makes the pending step fire at time t (>= now) instead. Returns 0, or
 * SIM_ENOMEM with the old step left in place. */
static int step_at(net *n, double t)
{
    if (n->step_id && n->step_at == t)
        return 0;
    double now = sim_loop_now(n->loop);
    sim_event_id id = sim_loop_schedule(n->loop, t > now ? t - now : 0.0,
                                        on_step, n, 0, 0, NULL);
    if (!id)
        return SIM_ENOMEM;
    if (n->step_id)
        sim_loop_cancel(n->loop, n->step_id);
    n->step_id = id;
    n->step_at = t;
    return 0;
}

/* New rates for every active flow, then their projected finish times.
 * Recomputing all flows is the simple choice; an incremental version would
 * only revisit the flows connected (through shared links) to the flows that
 * started or ended, and only reschedule if the earliest finish moved. */
static double reshare(net *n, double now)
{
    for (size_t i = 0; i < n->n_active; i++) {
        n->routes[i] = n->active[i]->route;
        n->route_lens[i] = n->active[i]->route_len;
    }
    maxmin_solve(&n->ws, n->capacity, (int)n->n_active, n->routes,
                 n->route_lens, n->rates);
    double first = INFINITY;
    for (size_t i = 0; i < n->n_active; i++) {
        xfer *x = n->active[i];
        x->rate = n->rates[i];
        if (!(x->rate > 0.0))
            SIM_PANIC("flow %d>%d got rate %g", x->msg.src, x->msg.dst,
                      x->rate);
        x->finish_s = now + (x->remaining > 0.0 ? x->remaining : 0.0) / x->rate;
        if (x->finish_s < first)
            first = x->finish_s;
    }
    return first;
}

/* Brings flows up to date, hands finished ones to propagation in start
 * order, and reshares the links among the rest. */
static void on_step(sim_loop *loop, const sim_event *ev)
{
    net *n = ev->obj;
    double now = sim_loop_now(loop);
    /* The loop adds the delay to its clock, which may round just below the
     * finish time the step was aimed at; the aimed-at flow must finish. */
    double horizon = n->step_at > now ? n->step_at : now;
    double dt = now - n->last_update;
    n->step_id = 0;
    n->last_update = now;

    size_t kept = 0;
    for (size_t i = 0; i < n->n_active; i++) {
        xfer *x = n->active[i];
        double left_s = x->finish_s - horizon;
        int done = x->rate > 0.0 &&
                   (left_s <= 0.0 ||
                    left_s * x->rate <= DONE_REL_TOL * (double)x->msg.bytes);
        if (!done) {
            x->remaining -= x->rate * dt;
            n->active[kept++] = x;
            continue;
        }
        x->remaining = 0.0;
        x->rate = 0.0;
        n->route_total -= (size_t)x->route_len;
        if (!schedule_delivery(n, x, x->latency_s))
            SIM_PANIC("out of memory scheduling a delivery");
    }
    n->n_active = kept;
    if (kept == 0)
        return;
    double first = reshare(n, now);
    if (step_at(n, first) != 0)
        SIM_PANIC("out of memory scheduling the next flow completion");
}

/* ---- construction ------------------------------------------------------- */

static int check_link(const net_link_cfg *c, const char *what, int i,
                      sim_err *err)
{
    if (!(c->latency_s >= 0.0) || !isfinite(c->latency_s))
        return sim_err_set(err, SIM_EINVAL,
                           "%s[%d].latency_s: expected a finite number >= 0, "
                           "got %g",
                           what, i, c->latency_s);
    if (!(c->bandwidth_Bps > 0.0) || !isfinite(c->bandwidth_Bps))
        return sim_err_set(err, SIM_EINVAL,
                           "%s[%d].bandwidth_Bps: expected a finite number > "
                           "0, got %g",
                           what, i, c->bandwidth_Bps);
    return 0;
}

/* The general constructor: n_links directed links (named "linkI" until the
 * caller renames them) and a routing function. Topologies build on it. */
static net *net_create_links(sim_loop *loop, int n_nodes, int n_links,
                             const net_link_cfg *links, route_fn route,
                             int contention, net_deliver_fn deliver, void *user,
                             sim_err *err)
{
    if (!loop || !route || n_nodes < 1 || n_links < 1 || !links) {
        sim_err_set(err, SIM_EINVAL,
                    "network: need a loop, a routing, at "
                    "least one node and one link");
        return NULL;
    }
    for (int i = 0; i < n_links; i++)
        if (check_link(&links[i], "links", i, err) != 0)
            return NULL;

    net *n = calloc(1, sizeof *n);
    if (!n)
        goto nomem;
    n->loop = loop;
    n->n_nodes = n_nodes;
    n->n_links = n_links;
    n->route = route;
    n->contention = contention != 0;
    n->deliver = deliver;
    n->user = user;
    n->last_update = sim_loop_now(loop);
    n->links = calloc((size_t)n_links, sizeof *n->links);
    n->capacity = malloc((size_t)n_links * sizeof *n->capacity);
    n->sent = calloc((size_t)n_nodes, sizeof *n->sent);
    n->received = calloc((size_t)n_nodes, sizeof *n->received);
    if (!n->links || !n->capacity || !n->sent || !n->received ||
        ws_init(&n->ws, n_links) != 0)
        goto nomem;
    for (int i = 0; i < n_links; i++) {
        n->links[i].latency_s = links[i].latency_s;
        n->links[i].bandwidth_Bps = links[i].bandwidth_Bps;
        n->capacity[i] = links[i].bandwidth_Bps;
        snprintf(n->links[i].name, sizeof n->links[i].name, "link%d", i);
    }
    return n;

nomem:
    net_destroy(n);
    sim_err_set(err, SIM_ENOMEM, "network: out of memory");
    return NULL;
}

static int star_route(const net *n, int src, int dst, int *out, int cap)
{
    (void)n;
    if (cap >= 2) {
        out[0] = 2 * src;
        out[1] = 2 * dst + 1;
    }
    return 2;
}

net *net_create_star(sim_loop *loop, int n_nodes,
                     const net_link_cfg *node_links, int contention,
                     net_deliver_fn deliver, void *user, sim_err *err)
{
    if (n_nodes < 1 || n_nodes > INT_MAX / 2 || !node_links) {
        sim_err_set(err, SIM_EINVAL, "star network: need 1 to %d nodes",
                    INT_MAX / 2);
        return NULL;
    }
    for (int i = 0; i < n_nodes; i++)
        if (check_link(&node_links[i], "node_links", i, err) != 0)
            return NULL;
    net_link_cfg *links = malloc(2 * (size_t)n_nodes * sizeof *links);
    if (!links) {
        sim_err_set(err, SIM_ENOMEM, "network: out of memory");
        return NULL;
    }
    for (int i = 0; i < n_nodes; i++)
        links[2 * i] = links[2 * i + 1] = node_links[i];
    net *n = net_create_links(loop, n_nodes, 2 * n_nodes, links, star_route,
                              contention, deliver, user, err);
    free(links);
    if (!n)
        return NULL;
    for (int i = 0; i < n_nodes; i++) {
        snprintf(n->links[2 * i].name, sizeof n->links[2 * i].name,
                 "node%d>switch", i);
        snprintf(n->links[2 * i + 1].name, sizeof n->links[2 * i + 1].name,
                 "switch>node%d", i);
    }
    return n;
}

void net_destroy(net *n)
{
    if (!n)
        return;
    if (n->step_id)
        sim_loop_cancel(n->loop, n->step_id);
    for (int s = 0; s < n->n_slabs; s++) {
        size_t count = (size_t)FIRST_SLAB << s;
        for (size_t i = 0; i < count; i++) {
            xfer *x = &n->slabs[s][i];
            if (x->deliver_id)
                sim_loop_cancel(n->loop, x->deliver_id);
            if (x->route != x->route_buf)
                free(x->route);
        }
        free(n->slabs[s]);
    }
    free(n->slabs);
    free(n->active);
    free(n->routes);
    free(n->route_lens);
    free(n->rates);
    free(n->capacity);
    ws_deinit(&n->ws);
    free(n->links);
    free(n->sent);
    free(n->received);
    free(n);
}

/* ---- sending ------------------------------------------------------------ */

/* Room for one more flow of route length len, so that nothing can fail
 * once a send is committed. */
static int reserve_flow(net *n, int len)
{
    size_t need = n->n_active + 1;
    if (need > n->active_cap) {
        size_t cap = n->active_cap ? 2 * n->active_cap : 64;
        xfer **a = realloc(n->active, cap * sizeof *a);
        if (!a)
            return SIM_ENOMEM;
        n->active = a;
        const int **r = realloc(n->routes, cap * sizeof *r);
        if (!r)
            return SIM_ENOMEM;
        n->routes = r;
        int *l = realloc(n->route_lens, cap * sizeof *l);
        if (!l)
            return SIM_ENOMEM;
        n->route_lens = l;
        double *d = realloc(n->rates, cap * sizeof *d);
        if (!d)
            return SIM_ENOMEM;
        n->rates = d;
        n->active_cap = cap;
    }
    return ws_reserve(&n->ws, need, n->route_total + (size_t)len);
}

int net_send(net *n, const net_msg *m)
{
    if (!n || !m || m->src < 0 || m->src >= n->n_nodes || m->dst < 0 ||
        m->dst >= n->n_nodes || m->src == m->dst)
        return SIM_EINVAL;
    xfer *x = xfer_get(n);
    if (!x)
        return SIM_ENOMEM;
    int rc = xfer_route(n, x, m->src, m->dst);
    if (rc != 0) {
        xfer_put(n, x);
        return rc;
    }
    double now = sim_loop_now(n->loop);
    double latency = 0.0, bottleneck = INFINITY;
    for (int k = 0; k < x->route_len; k++) {
        const link_state *l = &n->links[x->route[k]];
        latency += l->latency_s;
        if (l->bandwidth_Bps < bottleneck)
            bottleneck = l->bandwidth_Bps;
    }
    x->msg = *m;
    x->msg.sent_at = now;
    x->latency_s = latency;
    x->remaining = (double)m->bytes;
    x->rate = 0.0;
    x->finish_s = INFINITY;

    if (!n->contention || m->bytes == 0) {
        double delay = latency + (double)m->bytes / bottleneck;
        if (!schedule_delivery(n, x, delay)) {
            xfer_put(n, x);
            return SIM_ENOMEM;
        }
    } else {
        rc = reserve_flow(n, x->route_len);
        /* Rates change at the step, which first advances the other flows
         * at their old rates up to now; this flow, at rate 0, stays whole. */
        if (rc == 0)
            rc = step_at(n, now);
        if (rc != 0) {
            xfer_put(n, x);
            return rc;
        }
        n->active[n->n_active++] = x;
        n->route_total += (size_t)x->route_len;
    }

    n->sent[m->src] += m->bytes;
    n->total_bytes += m->bytes;
    n->total_messages++;
    for (int k = 0; k < x->route_len; k++)
        n->links[x->route[k]].bytes += m->bytes;
    return 0;
}

/* ---- queries ------------------------------------------------------------ */

int net_node_count(const net *n)
{
    return n->n_nodes;
}

int net_link_count(const net *n)
{
    return n->n_links;
}

const char *net_link_name(const net *n, int link)
{
    if (link < 0 || link >= n->n_links)
        return NULL;
    return n->links[link].name;
}

uint64_t net_bytes_sent(const net *n, int node)
{
    return node >= 0 && node < n->n_nodes ? n->sent[node] : 0;
}

uint64_t net_bytes_received(const net *n, int node)
{
    return node >= 0 && node < n->n_nodes ? n->received[node] : 0;
}

uint64_t net_link_bytes(const net *n, int link)
{
    return link >= 0 && link < n->n_links ? n->links[link].bytes : 0;
}

uint64_t net_total_bytes(const net *n)
{
    return n->total_bytes;
}

uint64_t net_total_messages(const net *n)
{
    return n->total_messages;
}

size_t net_flows_active(const net *n)
{
    return n->n_active;
}
