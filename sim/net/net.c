/* net.c: links, routes, and messages as max-min fair flows.
 *
 * Layout. A network is an array of directed links plus a routing function
 * that writes the link indices from one node to another: the star computes
 * its routes arithmetically, every other topology is a graph whose routes
 * come from a breadth-first search per destination, done once.
 *
 * Every message in flight is an xfer record taken from a free list (records
 * live in slabs that never move and are only freed by net_destroy). Each
 * record keeps its own copy of the route. A record is either
 *   - a flow: listed on every link of its route and in the finish heap,
 *     transmitting at `rate` (0 while a link on its route is down), or
 *   - propagating: its last byte is sent (or it never was a flow: zero bytes
 *     or no contention over an up route) and a delivery event is pending.
 *
 * Incremental sharing. A start, an end or a link change marks links dirty;
 * one "step" event then recomputes the rates of the flows connected to the
 * dirty links through shared links (the connected component of the
 * flow-link graph), and only those: max-min rates of one component do not
 * depend on any other. A flow's `remaining` bytes are valid as of its own
 * `last_t`, so untouched flows are never visited, and their projected
 * finish times stay in an indexed heap. A flow event hence costs time in
 * the size of its component, not in the number of flows in the network.
 * A send schedules the step at once (delay 0), so that many sends at the
 * same instant share one recomputation. Remaining bytes are only touched at
 * changes, so an uncontended flow is exact to rounding and closed-form tests
 * hold to 1e-9.
 *
 * Ownership: the network borrows the loop (which must outlive it) and the
 * payloads; net_destroy cancels the events it still has in the loop. */
#include "net.h"

#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_internal.h"

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
/* Steps pending at once; more cancel the latest. */
#define MAX_STEPS 8

/* Writes the links of the route src -> dst into out (room for cap) and
 * returns the route's length, which may exceed cap: the caller then grows
 * out and asks again. Returns -1 if there is no route, SIM_ENOMEM if the
 * route table could not be built. */
typedef int (*route_fn)(net *n, int src, int dst, int *out, int cap);

typedef struct xfer xfer;

/* What a message touches on the links of its route comes first: a
 * worker's own links are cold whenever it sends (thousands of others have
 * sent since), and these 128 bytes are two lines that the hardware fetches
 * as a pair (the array is 128-byte aligned), where the fields in any
 * order spread over four or five. */
#define FLOWS_INLINE 2
typedef struct link_state {
    _Alignas(128) double latency_s;
    double cap; /* n->capacity[this link], read here where it is cheap */
    net__claim *claim;
    xfer *member;
    xfer **flows; /* flows_inline, or a heap block once more are needed */
    int n_flows, flows_cap;
    int has_group;
    int dirty;
    uint64_t bytes;
    /* Utilisation, valid as of acc_t: carried bytes and busy time. */
    double carried, busy_s, acc_t;
    double load;   /* sum of the rates of its flows */
    uint64_t mark; /* component search stamp */
    xfer *flows_inline[FLOWS_INLINE];

    double bandwidth_Bps;
    int up;
    int from, to; /* nodes; -1 for the star's switch */
    /* A shared-bottleneck group hosted by this link (see group_form), and,
     * for a link private to a group member (`member` above), that member. */
    double g_v;    /* bytes sent by every member since the group formed */
    double g_t;    /* time g_v is valid for */
    double g_rate; /* every member's rate: capacity / members */
    double g_pmin; /* a lower bound on the members' private capacities */
    xfer **g_heap; /* members by (vfinish, seq) */
    size_t g_len, g_cap;
    xfer *g_listed; /* the member in the finish heap */
    char name[32];
} link_state;

_Static_assert(offsetof(link_state, bandwidth_Bps) <= 128,
               "a message's fields fit in two lines");
_Static_assert(sizeof(link_state) % 128 == 0, "links stay aligned");

struct xfer {
    net_msg msg;
    net_deliver_fn fn; /* delivery callback */
    void *user;
    int *route; /* route_buf or a heap block kept across reuse */
    int *slot;  /* slot[k]: position in links[route[k]].flows */
    int route_len, route_cap;
    int route_buf[2 * ROUTE_INLINE];
    uint64_t seq;     /* start order */
    double latency_s; /* total over the route */
    double remaining; /* bytes not yet sent, as of last_t */
    double last_t;
    double rate;     /* bytes/s */
    double finish_s; /* projected last byte at the current rate */
    size_t hpos;     /* index in the finish heap */
    uint64_t mark;
    /* In a group: its link, and the group's g_v at which the last byte
     * goes; g_v and time when the flow joined (utilisation). */
    int glink;
    double vfinish, v_join, t_join;
    size_t gpos;
    sim_event_id deliver_id;
    xfer *next_free;
};

/* Scratch space for progressive filling, reused across calls. Per-link
 * arrays have n_links entries; between calls cnt is all zero, so a call
 * only touches the links its flows cross. */
typedef struct share_key {
    double share;
    int link;
} share_key;

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
    int slow; /* fast paths off (net__set_fast_paths), for tests */
    net_deliver_fn deliver;
    void *user;

    /* Graph routing: out[first_out[v] .. first_out[v+1]) are v's outgoing
     * links, in_[...] likewise incoming; toward[d] (NULL until first
     * needed) gives, per node, the link to take toward d. */
    int *first_in, *in_;
    int **toward;
    int *bfs_queue;

    uint64_t *sent, *received; /* per node, bytes */
    uint64_t total_bytes, total_messages;
    size_t in_flight;

    xfer **slabs;
    int n_slabs;
    xfer *free_list;

    size_t n_flows;     /* flows (records on links) */
    size_t route_total; /* sum of their route lengths */
    uint64_t next_seq;
    xfer **heap; /* flows by (finish_s, seq), a group only by its first */
    size_t heap_len, heap_cap;
    /* Pending steps, any order; see need_step. */
    sim_event_id step_ids[MAX_STEPS];
    double step_times[MAX_STEPS];
    int64_t step_toks[MAX_STEPS]; /* the event's `a`, to find it on firing */
    int64_t next_tok;
    int n_steps;
    sim_event_id *changes; /* scheduled link changes */
    size_t n_changes, changes_cap;

    int *dirty;
    int n_dirty;
    uint64_t mark;
    int *lqueue;    /* component search, per link */
    size_t *cstart; /* where each component starts in comp */
    xfer **comp;    /* the component's flows, then the finished ones */
    xfer **done;
    const int **routes;
    int *route_lens;
    double *rates;
    double *capacity; /* per link: bandwidth, 0 when down */
    maxmin_ws ws;
};

/* fmin(a, b) without a call into libm (one per link a send crosses):
 * a < b ? a : b when neither is a NaN, which is what glibc's x86-64 fmin
 * (minsd) returns even for zeros of both signs, and libm still decides
 * when one is a NaN. */
static inline double min_d(double a, double b)
{
    if (a == a && b == b)
        return a < b ? a : b;
    return fmin(a, b);
}

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
static int ws_grow(maxmin_ws *ws, size_t n_flows, size_t total_len)
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

/* ws_grow when there is not room already, which is a send's usual case
 * and wants no call. */
static inline int ws_reserve(maxmin_ws *ws, size_t n_flows, size_t total_len)
{
    if (total_len <= ws->by_link_cap && n_flows <= ws->frozen_cap)
        return 0;
    return ws_grow(ws, n_flows, total_len);
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

/* Moves k down from position i to its place. */
static void sift_down_at(maxmin_ws *ws, size_t i, share_key k)
{
    share_key *h = ws->heap;
    size_t n = ws->heap_len;
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
}

static share_key heap_pop(maxmin_ws *ws)
{
    share_key top = ws->heap[0], k = ws->heap[--ws->heap_len];
    sift_down_at(ws, 0, k);
    return top;
}

/* Gives every unfrozen flow of link l the rate `share` and takes it out of
 * every link the flow crosses. */
static int freeze_link(maxmin_ws *ws, int l, double share,
                       const int *const *routes, const int *route_len,
                       double *rates)
{
    int frozen = 0;
    for (int i = ws->first[l]; i < ws->end[l]; i++) {
        int f = ws->by_link[i];
        if (ws->frozen[f])
            continue;
        ws->frozen[f] = 1;
        frozen++;
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
    return frozen;
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
    int n_touched = 0, unfrozen = 0;
    for (int f = 0; f < n_flows; f++) {
        ws->frozen[f] = 0;
        unfrozen += route_len[f] > 0;
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

    /* Built bottom-up in linear time: a star's K uplinks would otherwise
     * cost K log K pushes, on every recomputation. */
    ws->heap_len = (size_t)n_touched;
    for (int i = 0; i < n_touched; i++) {
        int l = ws->touched[i];
        ws->heap[i] = (share_key){.share = ws->rem[l] / ws->cnt[l], .link = l};
    }
    for (size_t i = ws->heap_len / 2; i-- > 0;)
        sift_down_at(ws, i, ws->heap[i]);
    /* Links whose share is within TIE_REL_TOL of the current level freeze
     * at exactly that level, so identical links give identical rates. */
    double level = -INFINITY;
    /* Once every flow is frozen the keys left are all stale. */
    while (ws->heap_len > 0 && unfrozen > 0) {
        share_key k = heap_pop(ws);
        int l = k.link;
        if (ws->cnt[l] == 0 || k.share != ws->rem[l] / ws->cnt[l])
            continue;
        if (!(k.share <= level * (1.0 + TIE_REL_TOL)))
            level = k.share;
        unfrozen -= freeze_link(ws, l, level, routes, route_len, rates);
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
            s[i].slot = s[i].route_buf + ROUTE_INLINE;
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

static int star_route(net *n, int src, int dst, int *out, int cap);

/* Fills x's route from src to dst, growing its buffer if needed. */
static int xfer_route(net *n, xfer *x, int src, int dst)
{
    /* The star's arithmetic route called directly, so that it inlines. */
    int len = n->route == star_route
                  ? star_route(n, src, dst, x->route, x->route_cap)
                  : n->route(n, src, dst, x->route, x->route_cap);
    if (len > x->route_cap) {
        int *p = malloc(2 * (size_t)len * sizeof *p);
        if (!p)
            return SIM_ENOMEM;
        if (x->route != x->route_buf)
            free(x->route);
        x->route = p;
        x->slot = p + len;
        x->route_cap = len;
        len = n->route(n, src, dst, x->route, x->route_cap);
    }
    if (len == SIM_ENOMEM)
        return SIM_ENOMEM;
    if (len < 1)
        return SIM_EINVAL;
    x->route_len = len;
    return 0;
}

/* ---- the finish heap ---------------------------------------------------- */

static inline int flow_before(const xfer *a, const xfer *b)
{
    return a->finish_s < b->finish_s ||
           (a->finish_s == b->finish_s && a->seq < b->seq);
}

static void heap_place(net *n, size_t i, xfer *x)
{
    n->heap[i] = x;
    x->hpos = i;
}

static void fheap_up(net *n, size_t i)
{
    xfer *x = n->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!flow_before(x, n->heap[p]))
            break;
        heap_place(n, i, n->heap[p]);
        i = p;
    }
    heap_place(n, i, x);
}

static void fheap_down(net *n, size_t i)
{
    xfer *x = n->heap[i];
    size_t len = n->heap_len;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= len)
            break;
        if (c + 1 < len && flow_before(n->heap[c + 1], n->heap[c]))
            c++;
        if (!flow_before(n->heap[c], x))
            break;
        heap_place(n, i, n->heap[c]);
        i = c;
    }
    heap_place(n, i, x);
}

/* Restores the heap after x's finish time changed. */
static void fheap_fix(net *n, xfer *x)
{
    size_t i = x->hpos;
    if (i > 0 && flow_before(x, n->heap[(i - 1) / 2]))
        fheap_up(n, i);
    else
        fheap_down(n, i);
}

/* ---- links and flows ---------------------------------------------------- */

/* Brings a link's utilisation up to now at its current load. */
static void link_account(link_state *l, double now)
{
    double dt = now - l->acc_t;
    if (dt > 0.0) {
        l->carried += l->load * dt;
        if (l->load > 0.0)
            l->busy_s += dt;
    }
    l->acc_t = now;
}

static void mark_dirty(net *n, int l)
{
    if (!n->links[l].dirty) {
        n->links[l].dirty = 1;
        n->dirty[n->n_dirty++] = l;
    }
}

#define UNLISTED SIZE_MAX

static void heap_insert(net *n, xfer *x)
{
    heap_place(n, n->heap_len++, x);
    fheap_up(n, x->hpos);
}

static void heap_delete(net *n, xfer *x)
{
    size_t i = x->hpos;
    xfer *last = n->heap[--n->heap_len];
    x->hpos = UNLISTED;
    if (last != x) {
        heap_place(n, i, last);
        fheap_fix(n, last);
    }
}

/* ---- shared-bottleneck groups -------------------------------------------
 *
 * The commonest large component is a star: many flows crossing one link C
 * (a server's link), each otherwise alone on its links, all held to
 * C's fair share. Every start or end there changes every member's rate,
 * which per-flow bookkeeping pays for with the whole component. A group
 * keeps such flows in the virtual time of processor sharing instead: g_v
 * counts the bytes each member has sent since the group formed, a member
 * is done when g_v reaches its vfinish, and only the first to finish sits
 * in the finish heap. A member joining or leaving then costs O(log n) and
 * gives exactly the max-min rates (capacity / members, as long as every
 * member's private links allow that much, which is checked). Anything
 * else touching the group's links (another flow crossing a member's link,
 * a capacity change, a share its private links cannot carry) dissolves it
 * back into ordinary flows first, so the general solver stays in charge
 * of everything that is not a star. */

static inline int member_before(const xfer *a, const xfer *b)
{
    return a->vfinish < b->vfinish ||
           (a->vfinish == b->vfinish && a->seq < b->seq);
}

static void gplace(link_state *c, size_t i, xfer *x)
{
    c->g_heap[i] = x;
    x->gpos = i;
}

static void gheap_up(link_state *c, size_t i)
{
    xfer *x = c->g_heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!member_before(x, c->g_heap[p]))
            break;
        gplace(c, i, c->g_heap[p]);
        i = p;
    }
    gplace(c, i, x);
}

static void gheap_down(link_state *c, size_t i)
{
    xfer *x = c->g_heap[i];
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= c->g_len)
            break;
        if (k + 1 < c->g_len && member_before(c->g_heap[k + 1], c->g_heap[k]))
            k++;
        if (!member_before(c->g_heap[k], x))
            break;
        gplace(c, i, c->g_heap[k]);
        i = k;
    }
    gplace(c, i, x);
}

static int group_room(link_state *c, size_t len)
{
    if (len <= c->g_cap)
        return 1;
    size_t cap = c->g_cap ? c->g_cap : 16;
    while (cap < len)
        cap *= 2;
    xfer **h = realloc(c->g_heap, cap * sizeof *h);
    if (!h)
        return 0;
    c->g_heap = h;
    c->g_cap = cap;
    return 1;
}

/* Brings g_v, and C's utilisation, up to now. */
static void group_advance(link_state *c, double now)
{
    link_account(c, now);
    c->g_v += c->g_rate * (now - c->g_t);
    c->g_t = now;
}

/* Lists the group's first finisher in the finish heap, at its time. */
static void group_sync(net *n, link_state *c)
{
    xfer *m = c->g_heap[0];
    double left = m->vfinish - c->g_v;
    m->finish_s = c->g_t + (left > 0.0 ? left : 0.0) / c->g_rate;
    m->rate = c->g_rate;
    if (c->g_listed != m) {
        if (c->g_listed && c->g_listed->hpos != UNLISTED)
            heap_delete(n, c->g_listed);
        c->g_listed = m;
        heap_insert(n, m);
    } else {
        fheap_fix(n, m);
    }
}

/* Counts what x's private links carried while it was a member. */
static void member_account(net *n, const link_state *c, xfer *x, double now)
{
    for (int k = 0; k < x->route_len; k++) {
        if (x->route[k] == x->glink)
            continue;
        link_state *l = &n->links[x->route[k]];
        l->carried += c->g_v - x->v_join;
        l->busy_s += now - x->t_join;
        l->acc_t = now;
        l->member = NULL;
    }
}

/* Turns every member back into an ordinary flow at its current rate and
 * leaves C dirty for the general solver. The caller makes sure a step
 * follows. */
static void group_dissolve(net *n, int cl, double now)
{
    link_state *c = &n->links[cl];
    group_advance(c, now);
    for (size_t i = 0; i < c->g_len; i++) {
        xfer *x = c->g_heap[i];
        member_account(n, c, x, now);
        x->remaining = x->vfinish - c->g_v;
        if (x->remaining < 0.0)
            x->remaining = 0.0;
        x->last_t = now;
        x->rate = c->g_rate;
        x->finish_s = now + x->remaining / x->rate;
        for (int k = 0; k < x->route_len; k++)
            if (x->route[k] != cl)
                n->links[x->route[k]].load = x->rate;
        x->glink = -1;
        if (x->hpos == UNLISTED)
            heap_insert(n, x);
        else
            fheap_fix(n, x);
    }
    c->g_len = 0;
    c->has_group = 0;
    c->g_listed = NULL;
    mark_dirty(n, cl);
}

/* Dissolves any group whose links x's route crosses. */
static void break_groups(net *n, const xfer *x, double now)
{
    for (int k = 0; k < x->route_len; k++) {
        link_state *l = &n->links[x->route[k]];
        if (l->has_group)
            group_dissolve(n, x->route[k], now);
        else if (l->member)
            group_dissolve(n, l->member->glink, now);
    }
}

/* Lets x (on its links already) join the group of one link on its route,
 * if its other links are its own and can carry the new share. */
static int group_join(net *n, xfer *x, double now)
{
    if (!n->contention)
        return 0;
    int cl = -1;
    double p = INFINITY;
    for (int k = 0; k < x->route_len; k++) {
        const link_state *l = &n->links[x->route[k]];
        if (l->has_group) {
            if (cl >= 0)
                return 0;
            cl = x->route[k];
            continue;
        }
        if (l->n_flows != 1 || l->member)
            return 0;
        p = min_d(p, l->cap);
    }
    if (cl < 0)
        return 0;
    link_state *c = &n->links[cl];
    double rate = n->capacity[cl] / (double)(c->g_len + 1);
    if (!(min_d(p, c->g_pmin) >= rate) || !group_room(c, c->g_len + 1))
        return 0;
    group_advance(c, now);
    c->g_rate = rate;
    c->g_pmin = min_d(p, c->g_pmin);
    c->load = rate * (double)(c->g_len + 1);
    x->glink = cl;
    x->vfinish = c->g_v + x->remaining;
    x->v_join = c->g_v;
    x->t_join = now;
    x->last_t = now;
    x->hpos = UNLISTED;
    for (int k = 0; k < x->route_len; k++)
        if (x->route[k] != cl) {
            link_account(&n->links[x->route[k]], now);
            n->links[x->route[k]].member = x;
        }
    gplace(c, c->g_len++, x);
    gheap_up(c, x->gpos);
    group_sync(n, c);
    return 1;
}

/* x, its group's first finisher, is done. */
static void group_leave(net *n, xfer *x, double now)
{
    int cl = x->glink;
    link_state *c = &n->links[cl];
    group_advance(c, now);
    size_t i = x->gpos;
    xfer *last = c->g_heap[--c->g_len];
    if (last != x) {
        gplace(c, i, last);
        gheap_up(c, i);
        gheap_down(c, last->gpos);
    }
    if (c->g_listed == x) {
        if (x->hpos != UNLISTED)
            heap_delete(n, x);
        c->g_listed = NULL;
    }
    member_account(n, c, x, now);
    x->glink = -1;
    if (c->g_len == 0) {
        c->has_group = 0;
        c->load = 0.0;
        return;
    }
    c->g_rate = n->capacity[cl] / (double)c->g_len;
    c->load = c->g_rate * (double)c->g_len;
    if (!(c->g_pmin >= c->g_rate)) {
        group_dissolve(n, cl, now);
        return;
    }
    group_sync(n, c);
}

/* After a recomputation: makes a group of the component comp[0..len) if
 * it is a star held to its hub's fair share. */
static void group_form(net *n, xfer **comp, size_t len, double now)
{
    if (!n->contention || len < 2)
        return;
    int cl = -1;
    for (int k = 0; k < comp[0]->route_len && cl < 0; k++)
        if ((size_t)n->links[comp[0]->route[k]].n_flows == len)
            cl = comp[0]->route[k];
    if (cl < 0)
        return;
    link_state *c = &n->links[cl];
    double rate = n->capacity[cl] / (double)len, pmin = INFINITY;
    for (size_t i = 0; i < len; i++) {
        const xfer *x = comp[i];
        if (x->rate != rate)
            return;
        for (int k = 0; k < x->route_len; k++) {
            if (x->route[k] == cl)
                continue;
            if (n->links[x->route[k]].n_flows != 1)
                return;
            pmin = min_d(pmin, n->capacity[x->route[k]]);
        }
    }
    if (!(rate > 0.0) || !(pmin >= rate) || !group_room(c, len))
        return;
    c->has_group = 1;
    c->g_v = 0.0;
    c->g_t = now;
    c->g_rate = rate;
    c->g_pmin = pmin;
    c->g_len = 0;
    c->g_listed = NULL;
    for (size_t i = 0; i < len; i++) {
        xfer *x = comp[i];
        x->glink = cl;
        x->vfinish = x->remaining;
        x->v_join = 0.0;
        x->t_join = now;
        heap_delete(n, x);
        for (int k = 0; k < x->route_len; k++)
            if (x->route[k] != cl) {
                n->links[x->route[k]].member = x;
                n->links[x->route[k]].load = 0.0;
            }
        gplace(c, c->g_len++, x);
    }
    for (size_t i = c->g_len / 2; i-- > 0;)
        gheap_down(c, i);
    group_sync(n, c);
}

/* Puts x on its links and in the heap (or in a group); room was reserved
 * (reserve_flow). */
static void flow_add(net *n, xfer *x)
{
    double now = sim_loop_now(n->loop);
    for (int k = 0; k < x->route_len; k++) {
        link_state *l = &n->links[x->route[k]];
        x->slot[k] = l->n_flows;
        l->flows[l->n_flows++] = x;
    }
    x->seq = n->next_seq++;
    x->rate = 0.0;
    x->finish_s = INFINITY;
    x->glink = -1;
    x->hpos = UNLISTED;
    n->n_flows++;
    n->route_total += (size_t)x->route_len;
    if (group_join(n, x, now))
        return;
    break_groups(n, x, now);
    for (int k = 0; k < x->route_len; k++)
        mark_dirty(n, x->route[k]);
    heap_insert(n, x);
}

/* Whether x would be alone on every link of its route, which crosses no
 * link twice: then max-min sharing gives it the route's smallest capacity
 * and changes no other flow's rate, so there is nothing to recompute. Most
 * messages of a parameter-server run are short and meet no other. */
static int alone(const net *n, const xfer *x)
{
    for (int k = 0; k < x->route_len; k++) {
        const link_state *l = &n->links[x->route[k]];
        if (l->n_flows != 0 || l->has_group || l->member || l->dirty)
            return 0;
        for (int j = 0; j < k; j++)
            if (x->route[j] == x->route[k])
                return 0;
    }
    return x->route_len > 0;
}

/* flow_add for a flow alone on its route (alone()): what a recomputation
 * at this instant would set, without one. */
static void flow_add_alone(net *n, xfer *x, double rate)
{
    double now = x->last_t;
    for (int k = 0; k < x->route_len; k++) {
        link_state *l = &n->links[x->route[k]];
        x->slot[k] = l->n_flows;
        l->flows[l->n_flows++] = x;
        link_account(l, now);
        l->load = rate;
    }
    x->seq = n->next_seq++;
    x->rate = rate;
    x->finish_s = now + x->remaining / rate;
    x->glink = -1;
    x->hpos = UNLISTED;
    n->n_flows++;
    n->route_total += (size_t)x->route_len;
    heap_insert(n, x);
}

static void flow_remove(net *n, xfer *x)
{
    int grouped = x->glink >= 0;
    if (grouped)
        group_leave(n, x, sim_loop_now(n->loop));
    for (int k = 0; k < x->route_len; k++) {
        link_state *l = &n->links[x->route[k]];
        int s = x->slot[k];
        xfer *last = l->flows[--l->n_flows];
        if (last != x) {
            l->flows[s] = last;
            for (int j = 0; j < last->route_len; j++)
                if (last->route[j] == x->route[k]) {
                    last->slot[j] = s;
                    break;
                }
        }
        if (grouped)
            continue;
        if (l->n_flows == 0 && !l->has_group && !l->member && !l->dirty) {
            /* Left empty: all a recomputation would do is account for
             * the load until now and clear it. */
            link_account(l, sim_loop_now(n->loop));
            l->load = 0.0;
        } else {
            mark_dirty(n, x->route[k]);
        }
    }
    if (!grouped)
        heap_delete(n, x);
    n->n_flows--;
    n->route_total -= (size_t)x->route_len;
}

/* Room for one more flow of route length len, so that nothing can fail
 * once a send is committed. */
static int reserve_flow(net *n, const int *route, int len)
{
    for (int k = 0; k < len; k++) {
        link_state *l = &n->links[route[k]];
        if (l->n_flows == l->flows_cap) {
            int cap = 2 * l->flows_cap;
            xfer **p;
            if (l->flows == l->flows_inline) {
                p = malloc((size_t)cap * sizeof *p);
                if (p)
                    memcpy(p, l->flows, (size_t)l->n_flows * sizeof *p);
            } else {
                p = realloc(l->flows, (size_t)cap * sizeof *p);
            }
            if (!p)
                return SIM_ENOMEM;
            l->flows = p;
            l->flows_cap = cap;
        }
    }
    size_t need = n->n_flows + 1;
    if (need > n->heap_cap) {
        size_t cap = n->heap_cap ? 2 * n->heap_cap : 64;
        xfer **h = realloc(n->heap, cap * sizeof *h);
        if (!h)
            return SIM_ENOMEM;
        n->heap = h;
        xfer **c = realloc(n->comp, cap * sizeof *c);
        if (!c)
            return SIM_ENOMEM;
        n->comp = c;
        c = realloc(n->done, cap * sizeof *c);
        if (!c)
            return SIM_ENOMEM;
        n->done = c;
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
        n->heap_cap = cap;
    }
    return ws_reserve(&n->ws, need, n->route_total + (size_t)len);
}

/* ---- the clock ---------------------------------------------------------- */

static void on_step(sim_loop *loop, const sim_event *ev);

/* Starts fetching what a send from src to dst reads first, its links'
 * state, which with thousands of nodes is cold. Only where a route is
 * arithmetic (the star): a graph's route may still have to be built.
 * Changes nothing. */
static void prefetch_route(const net *n, int src, int dst)
{
    if (n->route != star_route || src < 0 || src >= n->n_nodes || dst < 0 ||
        dst >= n->n_nodes)
        return;
    const link_state *up = &n->links[2 * src], *down = &n->links[2 * dst + 1];
    __builtin_prefetch(up);
    __builtin_prefetch((const char *)up + 64);
    __builtin_prefetch(down);
    __builtin_prefetch((const char *)down + 64);
}

static void on_deliver(sim_loop *loop, const sim_event *ev)
{
    (void)loop;
    net *n = ev->obj;
    xfer *x = ev->ptr;
    /* Recycle first: the callback may well send the reply at once. */
    net_msg m = x->msg;
    net_deliver_fn fn = x->fn;
    void *user = x->user;
    xfer_put(n, x);
    n->received[m.dst] += m.bytes;
    n->in_flight--;
    /* A delivery is often answered at once (a pull after a push), over
     * links idle, and so cold, since the last message. */
    prefetch_route(n, m.dst, m.src);
    if (fn)
        fn(user, &m);
}

static sim_event_id schedule_delivery(net *n, xfer *x, double delay_s)
{
    x->deliver_id = sim_loop_schedule(n->loop, delay_s, on_deliver, n, 0, 0, x);
    return x->deliver_id;
}

/* Makes sure a step fires at time t (>= now) or earlier. A step that
 * fires before anything is due does no harm: it finds nothing done and
 * asks for the next one. So a step pending later than t is kept, not
 * cancelled: the loop cancels by leaving the key in its heap until its
 * time, and a long flow's far step would otherwise leave one such key per
 * earlier step until then. Only when MAX_STEPS are pending is the latest
 * cancelled. Returns 0, or SIM_ENOMEM with nothing changed. */
static void drop_step(net *n, int i)
{
    n->n_steps--;
    n->step_ids[i] = n->step_ids[n->n_steps];
    n->step_toks[i] = n->step_toks[n->n_steps];
    n->step_times[i] = n->step_times[n->n_steps];
}

static int need_step(net *n, double t)
{
    if (t == INFINITY) {
        /* Nothing is due until something changes: spare steps would move
         * the clock past the last real event, so they go (a cancelled
         * event never moves the clock). */
        for (int i = 0; i < n->n_steps; i++)
            sim_loop_cancel(n->loop, n->step_ids[i]);
        n->n_steps = 0;
        return 0;
    }
    int latest = -1;
    for (int i = 0; i < n->n_steps; i++) {
        if (n->step_times[i] <= t)
            return 0;
        if (latest < 0 || n->step_times[i] > n->step_times[latest])
            latest = i;
    }
    double now = sim_loop_now(n->loop);
    int64_t bits;
    memcpy(&bits, &t, sizeof bits);
    int64_t tok = ++n->next_tok;
    sim_event_id id = sim_loop_schedule(n->loop, t > now ? t - now : 0.0,
                                        on_step, n, tok, bits, NULL);
    if (!id)
        return SIM_ENOMEM;
    if (n->n_steps == MAX_STEPS) {
        sim_loop_cancel(n->loop, n->step_ids[latest]);
        drop_step(n, latest);
    }
    n->step_ids[n->n_steps] = id;
    n->step_toks[n->n_steps] = tok;
    n->step_times[n->n_steps++] = t;
    return 0;
}

/* Whether a route of at least one link crosses no link twice (shortest
 * paths never do), so that a flow alone on it is limited by its smallest
 * capacity, not by a share of one. */
static int distinct_links(const int *route, int len)
{
    if (len < 1)
        return 0;
    for (int i = 1; i < len; i++)
        for (int j = 0; j < i; j++)
            if (route[i] == route[j])
                return 0;
    return 1;
}

/* Progressive filling's answer, without running it, for the component
 * comp[0..n_comp) (routes and route_lens filled) when it is a star whose
 * hub is the strict bottleneck: every flow crosses one link, the hub, once,
 * its other links are its own (no other flow, crossed once), and each of
 * those has more capacity than the hub's fair share c / n_comp. The solver
 * then pops the hub first (its share is the strictly smallest key) and
 * freezes every flow at that share, which leaves nothing unfrozen: so every
 * rate is c / n_comp, computed as the solver does. Returns 1 with the rates
 * set, or 0 having changed nothing. A broadcast from a server, or gradients
 * meeting on its downlink, is this case. */
static int star_rates(net *n, size_t n_comp)
{
    if (n->slow || n_comp < 2 || n_comp > INT_MAX)
        return 0;
    int hub = -1;
    for (int k = 0; k < n->route_lens[0] && hub < 0; k++)
        if ((size_t)n->links[n->routes[0][k]].n_flows == n_comp)
            hub = n->routes[0][k];
    if (hub < 0)
        return 0;
    /* The solver's key: remaining capacity / unfrozen crossings (an int). */
    int cnt = (int)n_comp;
    double rate = n->capacity[hub] / cnt;
    if (!(rate > 0.0))
        return 0;
    for (size_t i = 0; i < n_comp; i++) {
        int crossings = 0;
        for (int k = 0; k < n->route_lens[i]; k++) {
            int m = n->routes[i][k];
            if (m == hub)
                crossings++;
            else if (n->links[m].n_flows != 1 || !(n->capacity[m] > rate))
                return 0;
        }
        if (crossings != 1)
            return 0;
    }
    for (size_t i = 0; i < n_comp; i++)
        n->rates[i] = rate;
    return 1;
}

/* New rates for the flows connected to the dirty links, and only those. */
static void reshare(net *n, double now)
{
    int n_q = 0, n_c = 0;
    size_t n_comp = 0;
    uint64_t stamp = ++n->mark;
    for (int i = 0; i < n->n_dirty; i++) {
        int d = n->dirty[i];
        n->links[d].dirty = 0;
        if (n->links[d].mark == stamp)
            continue;
        n->links[d].mark = stamp;
        n->lqueue[n_q++] = d;
        n->cstart[n_c++] = n_comp;
        /* The queue grows while it is scanned: a breadth-first search of
         * the flow-link graph from this dirty link. */
        for (int q = n_q - 1; q < n_q; q++) {
            link_state *l = &n->links[n->lqueue[q]];
            link_account(l, now);
            for (int j = 0; j < l->n_flows; j++) {
                xfer *x = l->flows[j];
                if (x->mark == stamp)
                    continue;
                if (x->glink >= 0)
                    SIM_PANIC("a grouped flow reached the general solver");
                x->mark = stamp;
                n->comp[n_comp++] = x;
                for (int k = 0; k < x->route_len; k++) {
                    int m = x->route[k];
                    if (n->links[m].mark != stamp) {
                        n->links[m].mark = stamp;
                        n->lqueue[n_q++] = m;
                    }
                }
            }
        }
    }
    n->n_dirty = 0;
    for (size_t i = 0; i < n_comp; i++) {
        xfer *x = n->comp[i];
        x->remaining -= x->rate * (now - x->last_t);
        if (x->remaining < 0.0)
            x->remaining = 0.0;
        x->last_t = now;
        n->routes[i] = x->route;
        n->route_lens[i] = x->route_len;
    }
    if (n->contention && n_comp == 1 &&
        distinct_links(n->routes[0], n->route_lens[0])) {
        /* A flow alone (the commonest case: most messages are short and
         * meet no other) gets what progressive filling would give it, the
         * smallest capacity on its route, without the solver's setup. */
        double r = INFINITY;
        for (int k = 0; k < n->route_lens[0]; k++)
            r = min_d(r, n->capacity[n->routes[0][k]]);
        n->rates[0] = r;
    } else if (n->contention && !star_rates(n, n_comp)) {
        maxmin_solve(&n->ws, n->capacity, (int)n_comp, n->routes, n->route_lens,
                     n->rates);
    } else if (!n->contention) {
        /* Only waiting messages are flows here: each alone on its route. */
        for (size_t i = 0; i < n_comp; i++) {
            double r = INFINITY;
            for (int k = 0; k < n->route_lens[i]; k++)
                r = min_d(r, n->capacity[n->routes[i][k]]);
            n->rates[i] = r;
        }
    }
    for (int q = 0; q < n_q; q++)
        n->links[n->lqueue[q]].load = 0.0;
    for (size_t i = 0; i < n_comp; i++) {
        xfer *x = n->comp[i];
        x->rate = n->rates[i];
        for (int k = 0; k < x->route_len; k++)
            n->links[x->route[k]].load += x->rate;
        x->finish_s = x->rate > 0.0 ? now + x->remaining / x->rate : INFINITY;
        fheap_fix(n, x);
    }
    n->cstart[n_c] = n_comp;
    for (int c = 0; c < n_c; c++)
        group_form(n, n->comp + n->cstart[c], n->cstart[c + 1] - n->cstart[c],
                   now);
}

static int by_seq(const void *a, const void *b)
{
    const xfer *x = *(const xfer *const *)a, *y = *(const xfer *const *)b;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Hands finished flows to propagation in start order, then reshares the
 * links they leave and any other dirty link. */
static void on_step(sim_loop *loop, const sim_event *ev)
{
    net *n = ev->obj;
    double now = sim_loop_now(loop);
    /* The loop adds the delay to its clock, which may round just below the
     * finish time the step was aimed at; the aimed-at flow must finish. */
    double aimed;
    memcpy(&aimed, &ev->b, sizeof aimed);
    double horizon = aimed > now ? aimed : now;
    for (int i = 0; i < n->n_steps; i++)
        if (n->step_toks[i] == ev->a) {
            drop_step(n, i);
            break;
        }

    size_t n_done = 0;
    while (n->heap_len > 0) {
        xfer *x = n->heap[0];
        if (!(x->rate > 0.0))
            break;
        double left_s = x->finish_s - horizon;
        if (left_s > 0.0 &&
            left_s * x->rate > DONE_REL_TOL * (double)x->msg.bytes)
            break;
        flow_remove(n, x);
        n->done[n_done++] = x;
    }
    if (n_done > 16) {
        qsort(n->done, n_done, sizeof *n->done, by_seq);
    } else {
        /* Usually two to four, for which qsort's setup is most of the
         * cost; sequence numbers are unique, so any sort gives one order. */
        for (size_t i = 1; i < n_done; i++) {
            xfer *x = n->done[i];
            size_t j = i;
            for (; j > 0 && n->done[j - 1]->seq > x->seq; j--)
                n->done[j] = n->done[j - 1];
            n->done[j] = x;
        }
    }
    for (size_t i = 0; i < n_done; i++) {
        xfer *x = n->done[i];
        x->remaining = 0.0;
        x->rate = 0.0;
        if (!schedule_delivery(n, x, x->latency_s))
            SIM_PANIC("out of memory scheduling a delivery");
    }
    if (n->n_dirty > 0)
        reshare(n, now);
    if (need_step(n, n->heap_len > 0 ? n->heap[0]->finish_s : INFINITY) != 0)
        SIM_PANIC("out of memory scheduling the next flow completion");
}

/* Something changed on the dirty links: reshare at once (in a step, so
 * that several changes at one instant share one recomputation). */
static int changed(net *n)
{
    return need_step(n, sim_loop_now(n->loop));
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
    n->next_seq = 1;
    void *mem = NULL;
    if (posix_memalign(&mem, 128, (size_t)n_links * sizeof *n->links) == 0) {
        n->links = mem;
        memset(n->links, 0, (size_t)n_links * sizeof *n->links);
    }
    n->capacity = malloc((size_t)n_links * sizeof *n->capacity);
    n->dirty = malloc((size_t)n_links * sizeof *n->dirty);
    n->lqueue = malloc((size_t)n_links * sizeof *n->lqueue);
    n->cstart = malloc(((size_t)n_links + 1) * sizeof *n->cstart);
    n->sent = calloc((size_t)n_nodes, sizeof *n->sent);
    n->received = calloc((size_t)n_nodes, sizeof *n->received);
    if (!n->links || !n->capacity || !n->dirty || !n->lqueue || !n->cstart ||
        !n->sent || !n->received || ws_init(&n->ws, n_links) != 0)
        goto nomem;
    double now = sim_loop_now(loop);
    for (int i = 0; i < n_links; i++) {
        link_state *l = &n->links[i];
        l->latency_s = links[i].latency_s;
        l->bandwidth_Bps = links[i].bandwidth_Bps;
        l->up = 1;
        l->from = l->to = -1;
        l->acc_t = now;
        l->flows = l->flows_inline;
        l->flows_cap = FLOWS_INLINE;
        n->capacity[i] = l->cap = links[i].bandwidth_Bps;
        snprintf(l->name, sizeof l->name, "link%d", i);
    }
    return n;

nomem:
    net_destroy(n);
    sim_err_set(err, SIM_ENOMEM, "network: out of memory");
    return NULL;
}

static int star_route(net *n, int src, int dst, int *out, int cap)
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
        n->links[2 * i].from = n->links[2 * i + 1].to = i;
        snprintf(n->links[2 * i].name, sizeof n->links[2 * i].name,
                 "node%d>switch", i);
        snprintf(n->links[2 * i + 1].name, sizeof n->links[2 * i + 1].name,
                 "switch>node%d", i);
    }
    return n;
}

/* The table of links toward dst: a breadth-first search backwards from
 * dst, scanning each node's incoming links in index order, so that among
 * equally short routes the choice is fixed. Built on first use. */
static const int *toward(net *n, int dst)
{
    if (n->toward[dst])
        return n->toward[dst];
    int *t = malloc((size_t)n->n_nodes * sizeof *t);
    if (!t)
        return NULL;
    for (int v = 0; v < n->n_nodes; v++)
        t[v] = -1;
    int head = 0, tail = 0;
    n->bfs_queue[tail++] = dst;
    t[dst] = -2;
    while (head < tail) {
        int u = n->bfs_queue[head++];
        for (int i = n->first_in[u]; i < n->first_in[u + 1]; i++) {
            int l = n->in_[i];
            int v = n->links[l].from;
            if (t[v] != -1)
                continue;
            t[v] = l;
            n->bfs_queue[tail++] = v;
        }
    }
    n->toward[dst] = t;
    return t;
}

static int graph_route(net *n, int src, int dst, int *out, int cap)
{
    const int *t = toward(n, dst);
    if (!t)
        return SIM_ENOMEM;
    int len = 0;
    for (int v = src; v != dst;) {
        int l = t[v];
        if (l < 0)
            return -1;
        if (len < cap)
            out[len] = l;
        len++;
        v = n->links[l].to;
    }
    return len;
}

net *net_create_graph(sim_loop *loop, int n_nodes, const net_cable *cables,
                      int n_cables, const net_opts *opts, sim_err *err)
{
    if (n_nodes < 2 || n_cables < 1 || n_cables > INT_MAX / 2 || !cables) {
        sim_err_set(err, SIM_EINVAL,
                    "network: need at least 2 nodes and 1 cable");
        return NULL;
    }
    net_link_cfg *links = malloc(2 * (size_t)n_cables * sizeof *links);
    if (!links) {
        sim_err_set(err, SIM_ENOMEM, "network: out of memory");
        return NULL;
    }
    for (int c = 0; c < n_cables; c++) {
        const net_cable *k = &cables[c];
        if (k->a < 0 || k->a >= n_nodes || k->b < 0 || k->b >= n_nodes ||
            k->a == k->b) {
            sim_err_set(err, SIM_EINVAL,
                        "cables[%d]: expected two distinct nodes in [0, %d), "
                        "got %d and %d",
                        c, n_nodes, k->a, k->b);
            free(links);
            return NULL;
        }
        double rev = k->bandwidth_rev_Bps;
        if (rev == 0.0)
            rev = k->bandwidth_Bps;
        links[2 * c] = (net_link_cfg){k->latency_s, k->bandwidth_Bps};
        links[2 * c + 1] = (net_link_cfg){k->latency_s, rev};
        if (check_link(&links[2 * c], "cables", c, err) != 0 ||
            check_link(&links[2 * c + 1], "cables", c, err) != 0) {
            free(links);
            return NULL;
        }
    }
    net *n = net_create_links(loop, n_nodes, 2 * n_cables, links, graph_route,
                              opts ? opts->contention : 1,
                              opts ? opts->deliver : NULL,
                              opts ? opts->user : NULL, err);
    free(links);
    if (!n)
        return NULL;
    n->first_in = calloc((size_t)n_nodes + 1, sizeof *n->first_in);
    n->in_ = malloc(2 * (size_t)n_cables * sizeof *n->in_);
    n->toward = calloc((size_t)n_nodes, sizeof *n->toward);
    n->bfs_queue = malloc((size_t)n_nodes * sizeof *n->bfs_queue);
    if (!n->first_in || !n->in_ || !n->toward || !n->bfs_queue) {
        net_destroy(n);
        sim_err_set(err, SIM_ENOMEM, "network: out of memory");
        return NULL;
    }
    for (int c = 0; c < n_cables; c++) {
        int a = cables[c].a, b = cables[c].b;
        n->links[2 * c].from = a;
        n->links[2 * c].to = b;
        n->links[2 * c + 1].from = b;
        n->links[2 * c + 1].to = a;
        snprintf(n->links[2 * c].name, sizeof n->links[0].name, "%d>%d", a, b);
        snprintf(n->links[2 * c + 1].name, sizeof n->links[0].name, "%d>%d", b,
                 a);
    }
    /* Incoming links per node, in increasing link index (counting sort). */
    for (int l = 0; l < n->n_links; l++)
        n->first_in[n->links[l].to + 1]++;
    for (int v = 0; v < n_nodes; v++)
        n->first_in[v + 1] += n->first_in[v];
    int *fill = n->bfs_queue; /* borrowed as a cursor per node */
    for (int v = 0; v < n_nodes; v++)
        fill[v] = n->first_in[v];
    for (int l = 0; l < n->n_links; l++)
        n->in_[fill[n->links[l].to]++] = l;
    return n;
}

static int check_common(net_link_cfg link, int n_nodes, int min_nodes,
                        const char *what, sim_err *err)
{
    if (n_nodes < min_nodes)
        return sim_err_set(err, SIM_EINVAL,
                           "%s: need at least %d nodes, got %d", what,
                           min_nodes, n_nodes);
    return check_link(&link, what, 0, err);
}

static net_cable cable(int a, int b, net_link_cfg l)
{
    return (net_cable){.a = a,
                       .b = b,
                       .latency_s = l.latency_s,
                       .bandwidth_Bps = l.bandwidth_Bps};
}

net *net_create_ring(sim_loop *loop, int n_nodes, net_link_cfg link,
                     const net_opts *opts, sim_err *err)
{
    if (check_common(link, n_nodes, 2, "ring", err) != 0)
        return NULL;
    int nc = n_nodes == 2 ? 1 : n_nodes;
    net_cable *c = malloc((size_t)nc * sizeof *c);
    if (!c) {
        sim_err_set(err, SIM_ENOMEM, "network: out of memory");
        return NULL;
    }
    for (int i = 0; i < nc; i++)
        c[i] = cable(i, (i + 1) % n_nodes, link);
    net *n = net_create_graph(loop, n_nodes, c, nc, opts, err);
    free(c);
    return n;
}

net *net_create_tree(sim_loop *loop, int n_nodes, int arity, net_link_cfg link,
                     const net_opts *opts, sim_err *err)
{
    if (check_common(link, n_nodes, 2, "tree", err) != 0)
        return NULL;
    if (arity < 1) {
        sim_err_set(err, SIM_EINVAL, "tree: arity must be >= 1, got %d", arity);
        return NULL;
    }
    net_cable *c = malloc((size_t)(n_nodes - 1) * sizeof *c);
    if (!c) {
        sim_err_set(err, SIM_ENOMEM, "network: out of memory");
        return NULL;
    }
    for (int i = 1; i < n_nodes; i++)
        c[i - 1] = cable(i, (i - 1) / arity, link);
    net *n = net_create_graph(loop, n_nodes, c, n_nodes - 1, opts, err);
    free(c);
    return n;
}

net *net_create_full(sim_loop *loop, int n_nodes, net_link_cfg link,
                     const net_opts *opts, sim_err *err)
{
    if (check_common(link, n_nodes, 2, "full", err) != 0)
        return NULL;
    if (n_nodes > 46341) {
        sim_err_set(err, SIM_EINVAL, "full: too many nodes (%d)", n_nodes);
        return NULL;
    }
    int nc = n_nodes * (n_nodes - 1) / 2, k = 0;
    net_cable *c = malloc((size_t)nc * sizeof *c);
    if (!c) {
        sim_err_set(err, SIM_ENOMEM, "network: out of memory");
        return NULL;
    }
    for (int i = 0; i < n_nodes; i++)
        for (int j = i + 1; j < n_nodes; j++)
            c[k++] = cable(i, j, link);
    net *n = net_create_graph(loop, n_nodes, c, nc, opts, err);
    free(c);
    return n;
}

net *net_create_hier(sim_loop *loop, int n_racks, int hosts_per_rack,
                     net_link_cfg host_link, net_link_cfg wan_link,
                     const net_opts *opts, sim_err *err)
{
    if (n_racks < 1 || hosts_per_rack < 1 ||
        n_racks > (INT_MAX / 4) / hosts_per_rack) {
        sim_err_set(err, SIM_EINVAL,
                    "hierarchical: need >= 1 rack and >= 1 host per rack");
        return NULL;
    }
    if (check_link(&host_link, "host_link", 0, err) != 0 ||
        check_link(&wan_link, "wan_link", 0, err) != 0)
        return NULL;
    int H = n_racks * hosts_per_rack, nc = H + n_racks;
    net_cable *c = malloc((size_t)nc * sizeof *c);
    if (!c) {
        sim_err_set(err, SIM_ENOMEM, "network: out of memory");
        return NULL;
    }
    for (int h = 0; h < H; h++)
        c[h] = cable(h, H + h / hosts_per_rack, host_link);
    for (int r = 0; r < n_racks; r++)
        c[H + r] = cable(H + r, H + n_racks, wan_link);
    net *n = net_create_graph(loop, H + n_racks + 1, c, nc, opts, err);
    free(c);
    return n;
}

int net_topo_hosts(const net_topo *t)
{
    if (!t)
        return SIM_EINVAL;
    if (t->kind == NET_TOPO_HIER)
        return t->n_racks >= 1 && t->hosts_per_rack >= 1 &&
                       t->n_racks <= (INT_MAX / 4) / t->hosts_per_rack
                   ? t->n_racks * t->hosts_per_rack
                   : SIM_EINVAL;
    if ((int)t->kind < 0 || t->kind > NET_TOPO_GRAPH || t->n_nodes < 1)
        return SIM_EINVAL;
    return t->n_nodes;
}

net *net_create_topo(sim_loop *loop, const net_topo *t, const net_opts *opts,
                     sim_err *err)
{
    if (!t) {
        sim_err_set(err, SIM_EINVAL, "network: no topology");
        return NULL;
    }
    switch (t->kind) {
    case NET_TOPO_STAR: {
        if (t->links || t->n_nodes < 1)
            return net_create_star(
                loop, t->n_nodes, t->links, opts ? opts->contention : 1,
                opts ? opts->deliver : NULL, opts ? opts->user : NULL, err);
        net_link_cfg *l = malloc((size_t)t->n_nodes * sizeof *l);
        if (!l) {
            sim_err_set(err, SIM_ENOMEM, "network: out of memory");
            return NULL;
        }
        for (int i = 0; i < t->n_nodes; i++)
            l[i] = t->link;
        net *n = net_create_star(
            loop, t->n_nodes, l, opts ? opts->contention : 1,
            opts ? opts->deliver : NULL, opts ? opts->user : NULL, err);
        free(l);
        return n;
    }
    case NET_TOPO_RING:
        return net_create_ring(loop, t->n_nodes, t->link, opts, err);
    case NET_TOPO_TREE:
        return net_create_tree(loop, t->n_nodes, t->arity, t->link, opts, err);
    case NET_TOPO_FULL:
        return net_create_full(loop, t->n_nodes, t->link, opts, err);
    case NET_TOPO_HIER:
        return net_create_hier(loop, t->n_racks, t->hosts_per_rack, t->link,
                               t->wan_link, opts, err);
    case NET_TOPO_GRAPH:
        return net_create_graph(loop, t->n_nodes, t->cables, t->n_cables, opts,
                                err);
    }
    sim_err_set(err, SIM_EINVAL, "network: unknown topology kind %d",
                (int)t->kind);
    return NULL;
}

void net_destroy(net *n)
{
    if (!n)
        return;
    for (int i = 0; i < n->n_steps; i++)
        sim_loop_cancel(n->loop, n->step_ids[i]);
    /* Fired ones are no longer pending: cancelling them does nothing. */
    for (size_t i = 0; i < n->n_changes; i++)
        sim_loop_cancel(n->loop, n->changes[i]);
    free(n->changes);
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
    free(n->heap);
    free(n->comp);
    free(n->done);
    free(n->routes);
    free(n->route_lens);
    free(n->rates);
    free(n->capacity);
    free(n->dirty);
    free(n->lqueue);
    free(n->cstart);
    ws_deinit(&n->ws);
    if (n->links)
        for (int l = 0; l < n->n_links; l++) {
            if (n->links[l].flows != n->links[l].flows_inline)
                free(n->links[l].flows);
            free(n->links[l].g_heap);
        }
    free(n->links);
    if (n->toward)
        for (int v = 0; v < n->n_nodes; v++)
            free(n->toward[v]);
    free(n->toward);
    free(n->first_in);
    free(n->in_);
    free(n->bfs_queue);
    free(n->sent);
    free(n->received);
    free(n);
}

/* ---- sending ------------------------------------------------------------ */

/* Calls the interrupt of every claim on x's route, so that a collective
 * computed in closed form turns into messages before x shares its links. */
static void break_claims(net *n, const int *route, int len)
{
    for (int k = 0; k < len; k++) {
        net__claim *c = n->links[route[k]].claim;
        if (c)
            c->interrupt(c);
    }
}

void net__charge_sent(net *n, int src, int dst, uint64_t bytes,
                      uint64_t messages)
{
    int buf[ROUTE_INLINE * 4];
    n->sent[src] += bytes;
    n->total_bytes += bytes;
    n->total_messages += messages;
    int len = n->route(n, src, dst, buf, (int)(sizeof buf / sizeof *buf));
    if (len > (int)(sizeof buf / sizeof *buf)) {
        int *p = malloc((size_t)len * sizeof *p);
        if (!p)
            SIM_PANIC("out of memory charging a route");
        n->route(n, src, dst, p, len);
        for (int k = 0; k < len; k++)
            n->links[p[k]].bytes += bytes;
        free(p);
        return;
    }
    for (int k = 0; k < len; k++)
        n->links[buf[k]].bytes += bytes;
}

void net__charge_received(net *n, int dst, uint64_t bytes)
{
    n->received[dst] += bytes;
}

/* The common path of sends and injections: x has its message and route. */
static int start(net *n, xfer *x, double remaining, double propagate_s,
                 int charge)
{
    double latency = 0.0, bottleneck = INFINITY;
    for (int k = 0; k < x->route_len; k++) {
        const link_state *l = &n->links[x->route[k]];
        latency += l->latency_s;
        bottleneck = min_d(bottleneck, l->cap);
    }
    x->latency_s = latency;
    x->remaining = remaining;
    x->last_t = sim_loop_now(n->loop);
    x->rate = 0.0;
    x->finish_s = INFINITY;

    int as_flow = remaining > 0.0 && n->contention;
    if (!(bottleneck > 0.0) && propagate_s < 0.0)
        as_flow = 1; /* waits for the route to come up */
    if (!as_flow) {
        double delay =
            propagate_s >= 0.0 ? propagate_s : latency + remaining / bottleneck;
        if (!schedule_delivery(n, x, delay))
            return SIM_ENOMEM;
    } else if (bottleneck > 0.0 && alone(n, x)) {
        int rc = reserve_flow(n, x->route, x->route_len);
        if (rc == 0)
            rc = need_step(n, x->last_t + remaining / bottleneck);
        if (rc != 0)
            return rc;
        flow_add_alone(n, x, bottleneck);
    } else {
        int rc = reserve_flow(n, x->route, x->route_len);
        /* Rates change at the step, which first advances the other flows
         * at their old rates up to now; this flow, at rate 0, stays whole. */
        if (rc == 0)
            rc = changed(n);
        if (rc != 0)
            return rc;
        flow_add(n, x);
    }
    n->in_flight++;
    if (charge) {
        n->sent[x->msg.src] += x->msg.bytes;
        n->total_bytes += x->msg.bytes;
        n->total_messages++;
        for (int k = 0; k < x->route_len; k++)
            n->links[x->route[k]].bytes += x->msg.bytes;
    }
    return 0;
}

int net_send_to(net *n, const net_msg *m, net_deliver_fn fn, void *user)
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
    if (n->contention)
        break_claims(n, x->route, x->route_len);
    x->msg = *m;
    x->msg.sent_at = sim_loop_now(n->loop);
    x->fn = fn;
    x->user = user;
    rc = start(n, x, (double)m->bytes, -1.0, 1);
    if (rc != 0)
        xfer_put(n, x);
    return rc;
}

int net_send(net *n, const net_msg *m)
{
    return net_send_to(n, m, n ? n->deliver : NULL, n ? n->user : NULL);
}

int net__inject(net *n, const net_msg *m, double remaining, double propagate_s,
                net_deliver_fn fn, void *user)
{
    xfer *x = xfer_get(n);
    if (!x)
        return SIM_ENOMEM;
    int rc = xfer_route(n, x, m->src, m->dst);
    if (rc != 0) {
        xfer_put(n, x);
        return rc;
    }
    x->msg = *m;
    x->fn = fn;
    x->user = user;
    rc = start(n, x, remaining, remaining > 0.0 ? -1.0 : propagate_s, 0);
    if (rc != 0)
        xfer_put(n, x);
    return rc;
}

int net__claim_links(net *n, const int *links, int n_links, net__claim *c)
{
    for (int i = 0; i < n_links; i++) {
        const link_state *l = &n->links[links[i]];
        if (l->claim || l->n_flows > 0 || !l->up)
            return 0;
    }
    for (int i = 0; i < n_links; i++)
        n->links[links[i]].claim = c;
    return 1;
}

void net__release(net *n, const int *links, int n_links, const net__claim *c)
{
    for (int i = 0; i < n_links; i++)
        if (n->links[links[i]].claim == c)
            n->links[links[i]].claim = NULL;
}

void net__set_fast_paths(net *n, int on)
{
    n->slow = !on;
}

int net__contention(const net *n)
{
    return n->contention;
}

/* ---- dynamic links ------------------------------------------------------ */

static int link_ok(const net *n, int link)
{
    return n && link >= 0 && link < n->n_links;
}

/* Applies a change of capacity to link l now. */
static int set_capacity(net *n, int l, double bandwidth, int up)
{
    link_state *s = &n->links[l];
    if (s->claim)
        s->claim->interrupt(s->claim);
    double cap = up ? bandwidth : 0.0;
    if (s->n_flows > 0 && cap != n->capacity[l]) {
        /* The step must be in place before anything changes. */
        if (changed(n) != 0)
            return SIM_ENOMEM;
        double now = sim_loop_now(n->loop);
        if (s->has_group)
            group_dissolve(n, l, now);
        else if (s->member)
            group_dissolve(n, s->member->glink, now);
        mark_dirty(n, l);
    }
    s->bandwidth_Bps = bandwidth;
    s->up = up;
    n->capacity[l] = s->cap = cap;
    return 0;
}

int net_link_set_bandwidth(net *n, int link, double bandwidth_Bps)
{
    if (!link_ok(n, link) || !(bandwidth_Bps > 0.0) || !isfinite(bandwidth_Bps))
        return SIM_EINVAL;
    return set_capacity(n, link, bandwidth_Bps, n->links[link].up);
}

int net_link_set_up(net *n, int link, int up)
{
    if (!link_ok(n, link))
        return SIM_EINVAL;
    return set_capacity(n, link, n->links[link].bandwidth_Bps, up != 0);
}

int net_link_set_latency(net *n, int link, double latency_s)
{
    if (!link_ok(n, link) || !(latency_s >= 0.0) || !isfinite(latency_s))
        return SIM_EINVAL;
    link_state *s = &n->links[link];
    if (s->claim)
        s->claim->interrupt(s->claim);
    s->latency_s = latency_s;
    return 0;
}

int net_link_is_up(const net *n, int link)
{
    return link_ok(n, link) ? n->links[link].up : 0;
}

double net_link_bandwidth(const net *n, int link)
{
    return link_ok(n, link) ? n->links[link].bandwidth_Bps : 0.0;
}

double net_link_latency(const net *n, int link)
{
    return link_ok(n, link) ? n->links[link].latency_s : 0.0;
}

/* A scheduled change: a = link, b = what, ptr unused; the value rides in
 * the event as the bits of a double. */
enum { CHANGE_BW, CHANGE_LAT, CHANGE_UP };

static void on_change(sim_loop *loop, const sim_event *ev)
{
    (void)loop;
    net *n = ev->obj;
    int link = (int)(ev->a & 0x7fffffff);
    int what = (int)(ev->a >> 32);
    double v;
    memcpy(&v, &ev->b, sizeof v);
    int rc = what == CHANGE_BW    ? net_link_set_bandwidth(n, link, v)
             : what == CHANGE_LAT ? net_link_set_latency(n, link, v)
                                  : net_link_set_up(n, link, v != 0.0);
    if (rc != 0)
        SIM_PANIC("scheduled change of link %d failed: %d", link, rc);
}

static int schedule_change(net *n, double delay_s, int link, int what, double v)
{
    if (!link_ok(n, link) || !(delay_s >= 0.0) || !isfinite(delay_s))
        return SIM_EINVAL;
    int64_t b;
    memcpy(&b, &v, sizeof b);
    /* Kept so that net_destroy can cancel those still pending; a change
     * schedule is written once per run, so the list only grows. */
    if (n->n_changes == n->changes_cap) {
        size_t cap = n->changes_cap ? 2 * n->changes_cap : 8;
        sim_event_id *p = realloc(n->changes, cap * sizeof *p);
        if (!p)
            return SIM_ENOMEM;
        n->changes = p;
        n->changes_cap = cap;
    }
    sim_event_id id = sim_loop_schedule(n->loop, delay_s, on_change, n,
                                        ((int64_t)what << 32) | link, b, NULL);
    if (!id)
        return SIM_ENOMEM;
    n->changes[n->n_changes++] = id;
    return 0;
}

int net_link_set_bandwidth_at(net *n, double delay_s, int link,
                              double bandwidth_Bps)
{
    if (!(bandwidth_Bps > 0.0) || !isfinite(bandwidth_Bps))
        return SIM_EINVAL;
    return schedule_change(n, delay_s, link, CHANGE_BW, bandwidth_Bps);
}

int net_link_set_latency_at(net *n, double delay_s, int link, double latency_s)
{
    if (!(latency_s >= 0.0) || !isfinite(latency_s))
        return SIM_EINVAL;
    return schedule_change(n, delay_s, link, CHANGE_LAT, latency_s);
}

int net_link_set_up_at(net *n, double delay_s, int link, int up)
{
    return schedule_change(n, delay_s, link, CHANGE_UP, up ? 1.0 : 0.0);
}

/* ---- queries ------------------------------------------------------------ */

int net_node_count(const net *n)
{
    return n->n_nodes;
}

sim_loop *net_loop(const net *n)
{
    return n->loop;
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

int net_link_ends(const net *n, int link, int *from, int *to)
{
    if (!link_ok(n, link))
        return SIM_EINVAL;
    if (from)
        *from = n->links[link].from;
    if (to)
        *to = n->links[link].to;
    return 0;
}

int net_route_links(net *n, int src, int dst, int *out, int cap)
{
    if (!n || src < 0 || src >= n->n_nodes || dst < 0 || dst >= n->n_nodes ||
        src == dst || cap < 0 || (cap > 0 && !out))
        return SIM_EINVAL;
    int len = n->route(n, src, dst, out, cap);
    return len == -1 ? SIM_EINVAL : len;
}

int net_route_info(net *n, int src, int dst, double *latency_s,
                   double *bandwidth_Bps, int *hops)
{
    int len = net_route_links(n, src, dst, NULL, 0);
    if (len < 0)
        return len;
    int *r = malloc((size_t)len * sizeof *r);
    if (!r)
        return SIM_ENOMEM;
    net_route_links(n, src, dst, r, len);
    double lat = 0.0, bw = INFINITY;
    for (int k = 0; k < len; k++) {
        lat += n->links[r[k]].latency_s;
        bw = min_d(bw, n->capacity[r[k]]);
    }
    free(r);
    if (latency_s)
        *latency_s = lat;
    if (bandwidth_Bps)
        *bandwidth_Bps = bw;
    if (hops)
        *hops = len;
    return 0;
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

double net_link_carried_bytes(const net *n, int link)
{
    if (!link_ok(n, link))
        return 0.0;
    const link_state *l = &n->links[link];
    double now = sim_loop_now(n->loop), dt = now - l->acc_t;
    double extra = 0.0;
    if (l->member) {
        const link_state *c = &n->links[l->member->glink];
        extra = c->g_v + c->g_rate * (now - c->g_t) - l->member->v_join;
    }
    return l->carried + extra + (dt > 0.0 ? l->load * dt : 0.0);
}

double net_link_busy_s(const net *n, int link)
{
    if (!link_ok(n, link))
        return 0.0;
    const link_state *l = &n->links[link];
    double now = sim_loop_now(n->loop), dt = now - l->acc_t;
    if (l->member)
        return l->busy_s + (now - l->member->t_join);
    return l->busy_s + (dt > 0.0 && l->load > 0.0 ? dt : 0.0);
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
    return n->n_flows;
}

size_t net_messages_in_flight(const net *n)
{
    return n->in_flight;
}
