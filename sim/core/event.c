#include "event.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* A heap key packs the scheduling sequence number (high bits) with the slot
 * index of the event body (low bits). Comparing keys compares sequence
 * numbers, since those are unique, so (time, key) is the (time, seq) order. */
#define SLOT_BITS 28
#define SLOT_MASK ((UINT64_C(1) << SLOT_BITS) - 1)
#define MAX_SLOTS (UINT64_C(1) << SLOT_BITS)

typedef struct heap_key {
    uint64_t time; /* the time's bits: see time_bits */
    uint64_t key;
} heap_key;

/* Event times are finite and >= +0 (schedule checks the delay, and the
 * clock starts at +0), and for such doubles the IEEE bit patterns, read as
 * unsigned integers, are in the same order as the values. Comparing
 * integers spares the ordered/unordered handling of a double comparison,
 * which was most of the instructions of a heap level. */
static inline uint64_t time_bits(double t)
{
    uint64_t u;
    memcpy(&u, &t, sizeof u);
    return u;
}

static inline double bits_time(uint64_t u)
{
    double t;
    memcpy(&t, &u, sizeof t);
    return t;
}

/* An event body: one 64-byte cache line. Popping an event reads a slot
 * written long before, so it is a likely cache miss; one line, not two, per
 * event. The time lives only in the heap key. */
typedef struct slot {
    _Alignas(64) void *obj;
    void *ptr;
    int64_t a, b;
    sim_event_fn fn; /* NULL once cancelled */
    sim_free_fn free_fn;
    uint64_t seq; /* of the event in the slot; 0 when free */
    uint32_t next_free;
} slot;

_Static_assert(sizeof(slot) == 64, "a slot is one cache line");

struct sim_loop {
    sim_loop_clock clock; /* first: see sim_loop_now */
    uint64_t next_seq;
    uint64_t dispatched;
    int stopped;

    heap_key *heap;     /* HEAP_PAD keys into heap_mem */
    heap_key *heap_mem; /* what was allocated */
    size_t heap_len, heap_cap;

    /* Events scheduled with no delay, in scheduling order: a ring of
     * heap_cap keys, all at time `now` and hence in (time, seq) order
     * already. A delay of 0 is how a component asks to act later in the
     * same instant (the network batches the sends of one instant so), and
     * such an event would otherwise be sifted up to the root and back down
     * through the whole heap, the bottom levels of which are cold. */
    heap_key *now_q;
    size_t now_head, now_len;

    slot *slots;
    size_t slots_cap;
    uint32_t free_head; /* UINT32_MAX when empty */
};

_Static_assert(offsetof(struct sim_loop, clock) == 0,
               "the clock comes first (sim_loop_now)");

#define NO_SLOT UINT32_MAX

/* A 4-ary heap: half the levels of a binary one, and a node's four
 * children share one cache line (the array starts HEAP_PAD keys past a
 * 64-byte boundary, so children 4i+1..4i+4 are line-aligned). A pop in a
 * queue of 10^4 touches 7 lines instead of 14. */
#define ARITY 4
#define HEAP_PAD 3

sim_loop *sim_loop_create(void)
{
    sim_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return NULL;
    loop->next_seq = 1;
    loop->free_head = NO_SLOT;
    return loop;
}

void sim_loop_destroy(sim_loop *loop)
{
    if (!loop)
        return;
    for (size_t i = 0; i < loop->heap_len + loop->now_len; i++) {
        const heap_key *k =
            i < loop->heap_len
                ? &loop->heap[i]
                : &loop->now_q[(loop->now_head + i - loop->heap_len) &
                               (loop->heap_cap - 1)];
        slot *s = &loop->slots[k->key & SLOT_MASK];
        if (s->fn && s->free_fn && s->ptr)
            s->free_fn(s->ptr);
    }
    free(loop->heap_mem);
    free(loop->now_q);
    free(loop->slots);
    free(loop);
}

size_t sim_loop_pending(const sim_loop *loop)
{
    return loop->heap_len + loop->now_len;
}
uint64_t sim_loop_dispatched(const sim_loop *loop)
{
    return loop->dispatched;
}
void sim_loop_stop(sim_loop *loop)
{
    loop->stopped = 1;
}

/* Choosing the smaller child is a coin flip per heap level, and a
 * mispredicted branch there costs more than evaluating the whole key, so
 * the comparison has no branch (bitwise, not short-circuit, operators
 * where there is no 128-bit type). */
static inline int key_less(const heap_key *x, const heap_key *y)
{
#if defined(__SIZEOF_INT128__)
    /* One 128-bit comparison (time bits high, key low): a compare and a
     * subtract-with-borrow, and no branch. */
    __extension__ typedef unsigned __int128 u128;
    return (((u128)x->time << 64) | x->key) < (((u128)y->time << 64) | y->key);
#else
    return (x->time < y->time) | ((x->time == y->time) & (x->key < y->key));
#endif
}

static int grow(sim_loop *loop)
{
    size_t cap = loop->slots_cap ? 2 * loop->slots_cap : 64;
    if (cap > MAX_SLOTS)
        cap = MAX_SLOTS;
    if (cap <= loop->slots_cap)
        return -1;
    void *mem;
    if (posix_memalign(&mem, 64, cap * sizeof(slot)))
        return -1;
    slot *s = mem;
    if (loop->slots_cap)
        memcpy(s, loop->slots, loop->slots_cap * sizeof *s);
    free(loop->slots);
    loop->slots = s;
    heap_key *h;
    if (posix_memalign(&mem, 64, (cap + HEAP_PAD) * sizeof *h))
        return -1;
    h = mem;
    if (loop->heap_len)
        memcpy(h + HEAP_PAD, loop->heap, loop->heap_len * sizeof *h);
    free(loop->heap_mem);
    loop->heap_mem = h;
    loop->heap = h + HEAP_PAD;
    /* Every pending event holds a slot, so cap keys always suffice; cap is
     * a power of two, so the ring wraps with a mask. */
    heap_key *q = malloc(cap * sizeof *q);
    if (!q)
        return -1;
    for (size_t i = 0; i < loop->now_len; i++)
        q[i] = loop->now_q[(loop->now_head + i) & (loop->heap_cap - 1)];
    free(loop->now_q);
    loop->now_q = q;
    loop->now_head = 0;
    loop->heap_cap = cap;
    /* Chain the new slots so that lower indices are handed out first. */
    for (size_t i = cap; i-- > loop->slots_cap;) {
        s[i].seq = 0;
        s[i].next_free = loop->free_head;
        loop->free_head = (uint32_t)i;
    }
    loop->slots_cap = cap;
    return 0;
}

static void sift_up(heap_key *h, size_t i, heap_key k)
{
    while (i > 0) {
        size_t parent = (i - 1) / ARITY;
        if (!key_less(&k, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = k;
}

/* Fills the hole at the root with k, moving smallest children up. A full
 * set of children is compared as a tournament of bitwise comparisons
 * (pairs, then winners), with no data-dependent branch until the end.
 * Which line the next level reads depends on this level's comparisons, so
 * the lower, cold levels would cost one cache miss after another; the
 * grandchildren of a node are the next four lines (children of adjacent
 * siblings are adjacent), all fetched at once instead. */
static void sift_down(heap_key *h, size_t n, heap_key k)
{
    size_t i = 0;
    for (;;) {
        size_t c = ARITY * i + 1, m;
        size_t g = ARITY * c + 1;
        if (g < n) {
            __builtin_prefetch(&h[g]);
            __builtin_prefetch(&h[g + 4]);
            __builtin_prefetch(&h[g + 8]);
            __builtin_prefetch(&h[g + 12]);
        }
        if (c + ARITY <= n) {
            size_t a = c + (size_t)key_less(&h[c + 1], &h[c]);
            size_t b = c + 2 + (size_t)key_less(&h[c + 3], &h[c + 2]);
            m = key_less(&h[b], &h[a]) ? b : a;
        } else if (c < n) {
            m = c;
            for (size_t j = c + 1; j < n; j++)
                if (key_less(&h[j], &h[m]))
                    m = j;
        } else {
            break;
        }
        if (!key_less(&h[m], &k))
            break;
        h[i] = h[m];
        i = m;
    }
    h[i] = k;
}

/* The body of both schedule calls, inlined into each: the plain one is
 * called for nearly every event, and a call from one to the other was a
 * tenth of its cost. */
static inline __attribute__((always_inline)) sim_event_id
schedule(sim_loop *loop, double delay_s, sim_event_fn fn, void *obj, int64_t a,
         int64_t b, void *ptr, sim_free_fn free_fn)
{
    if (!(delay_s >= 0.0) || !isfinite(delay_s) || !fn)
        return 0;
    if (loop->free_head == NO_SLOT && grow(loop) != 0)
        return 0;
    uint32_t idx = loop->free_head;
    slot *s = &loop->slots[idx];
    loop->free_head = s->next_free;

    uint64_t seq = loop->next_seq++;
    double t = loop->clock.now + delay_s;
    s->obj = obj;
    s->ptr = ptr;
    s->a = a;
    s->b = b;
    s->fn = fn;
    s->free_fn = free_fn;
    s->seq = seq;

    heap_key k = {.time = time_bits(t), .key = (seq << SLOT_BITS) | idx};
    if (t == loop->clock.now)
        loop->now_q[(loop->now_head + loop->now_len++) & (loop->heap_cap - 1)] =
            k;
    else
        sift_up(loop->heap, loop->heap_len++, k);
    return k.key;
}

sim_event_id sim_loop_schedule_owned(sim_loop *loop, double delay_s,
                                     sim_event_fn fn, void *obj, int64_t a,
                                     int64_t b, void *ptr, sim_free_fn free_fn)
{
    return schedule(loop, delay_s, fn, obj, a, b, ptr, free_fn);
}

sim_event_id sim_loop_schedule(sim_loop *loop, double delay_s, sim_event_fn fn,
                               void *obj, int64_t a, int64_t b, void *ptr)
{
    return schedule(loop, delay_s, fn, obj, a, b, ptr, NULL);
}

int sim_loop_cancel(sim_loop *loop, sim_event_id id)
{
    uint64_t idx = id & SLOT_MASK;
    if (id == 0 || idx >= loop->slots_cap)
        return 0;
    slot *s = &loop->slots[idx];
    if (s->seq != (id >> SLOT_BITS) || !s->fn)
        return 0;
    /* The key stays in the heap and is discarded when popped: removing it
     * now would need a position index kept up to date on every swap. */
    s->fn = NULL;
    if (s->free_fn && s->ptr)
        s->free_fn(s->ptr);
    return 1;
}

uint64_t sim_loop_run(sim_loop *loop, double until_s)
{
    uint64_t fired = 0;
    loop->stopped = 0;
    while (loop->heap_len + loop->now_len > 0 && !loop->stopped) {
        /* The next event is the earlier of the heap's top and the queue's
         * head, by (time, seq) as everywhere. */
        int from_q = loop->now_len > 0 &&
                     (loop->heap_len == 0 ||
                      key_less(&loop->now_q[loop->now_head], &loop->heap[0]));
        heap_key top = from_q ? loop->now_q[loop->now_head] : loop->heap[0];
        double time = bits_time(top.time);
        if (time > until_s)
            break;

        uint32_t idx = (uint32_t)(top.key & SLOT_MASK);
        slot *s = &loop->slots[idx];
        sim_event ev = {
            .time = time, .obj = s->obj, .ptr = s->ptr, .a = s->a, .b = s->b};
        sim_event_fn fn = s->fn;
        s->seq = 0;
        s->next_free = loop->free_head;
        loop->free_head = idx;
        /* A payload (a message in flight, say) was written long ago: fetch
         * it while the heap is repaired. */
        if (ev.ptr)
            __builtin_prefetch(ev.ptr);

        if (from_q) {
            loop->now_head = (loop->now_head + 1) & (loop->heap_cap - 1);
            loop->now_len--;
        } else if (--loop->heap_len > 0) {
            sift_down(loop->heap, loop->heap_len, loop->heap[loop->heap_len]);
            /* The new top is most likely the next event to fire, and its
             * body was written long ago: fetch it while this one runs. */
            __builtin_prefetch(&loop->slots[loop->heap[0].key & SLOT_MASK]);
        }
        if (!fn)
            continue;

        if (time < loop->clock.now)
            SIM_PANIC("clock moved backwards: %.17g < %.17g", time,
                      loop->clock.now);
        loop->clock.now = time;
        loop->dispatched++;
        fired++;
        fn(loop, &ev);
    }
    return fired;
}
