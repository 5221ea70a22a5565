/* The event core: (time, seq) order, cancellation, clock monotonicity. */
#include <criterion/criterion.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/core/event.h"

typedef struct trace {
    double times[8192];
    int64_t ids[8192];
    size_t n;
    sim_loop *loop;
} trace;

static void record(sim_loop *loop, const sim_event *ev)
{
    trace *t = ev->obj;
    cr_assert_eq(sim_loop_now(loop), ev->time);
    t->times[t->n] = ev->time;
    t->ids[t->n] = ev->a;
    t->n++;
}

Test(sim_loop, pops_equal_times_in_schedule_order)
{
    sim_loop *loop = sim_loop_create();
    static trace t;
    t.n = 0;
    for (int64_t i = 0; i < 1000; i++)
        cr_assert(sim_loop_schedule(loop, 1.5, record, &t, i, 0, NULL));
    cr_assert_eq(sim_loop_run(loop, INFINITY), 1000);
    cr_assert_eq(t.n, 1000);
    for (size_t i = 0; i < t.n; i++)
        cr_assert_eq(t.ids[i], (int64_t)i, "event %zu fired as %lld", i,
                     (long long)t.ids[i]);
    sim_loop_destroy(loop);
}

Test(sim_loop, pops_shuffled_times_in_time_then_schedule_order)
{
    sim_loop *loop = sim_loop_create();
    static trace t;
    t.n = 0;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    /* Few distinct times, so that many events tie. */
    for (int64_t i = 0; i < 4000; i++) {
        double when = (double)gsl_rng_uniform_int(r, 20) * 0.25;
        cr_assert(sim_loop_schedule(loop, when, record, &t, i, 0, NULL));
    }
    cr_assert_eq(sim_loop_run(loop, INFINITY), 4000);
    for (size_t i = 1; i < t.n; i++) {
        cr_assert(t.times[i - 1] <= t.times[i]);
        if (t.times[i - 1] == t.times[i])
            cr_assert_lt(t.ids[i - 1], t.ids[i]);
    }
    gsl_rng_free(r);
    sim_loop_destroy(loop);
}

static void reschedule(sim_loop *loop, const sim_event *ev)
{
    trace *t = ev->obj;
    record(loop, ev);
    if (ev->b > 0)
        sim_loop_schedule(loop, 0.5, reschedule, t, ev->a, ev->b - 1, NULL);
}

Test(sim_loop, never_moves_the_clock_backwards_while_handlers_schedule)
{
    sim_loop *loop = sim_loop_create();
    static trace t;
    t.n = 0;
    for (int64_t i = 0; i < 10; i++)
        sim_loop_schedule(loop, (double)i * 0.3, reschedule, &t, i, 20, NULL);
    sim_loop_run(loop, INFINITY);
    cr_assert_eq(t.n, 210);
    for (size_t i = 1; i < t.n; i++)
        cr_assert(t.times[i - 1] <= t.times[i]);
    sim_loop_destroy(loop);
}

Test(sim_loop, refuses_negative_and_non_finite_delays)
{
    sim_loop *loop = sim_loop_create();
    static trace t;
    cr_assert_eq(sim_loop_schedule(loop, -1e-9, record, &t, 0, 0, NULL), 0);
    cr_assert_eq(sim_loop_schedule(loop, NAN, record, &t, 0, 0, NULL), 0);
    cr_assert_eq(sim_loop_schedule(loop, INFINITY, record, &t, 0, 0, NULL), 0);
    cr_assert_eq(sim_loop_pending(loop), 0);
    sim_loop_destroy(loop);
}

Test(sim_loop, cancelled_events_do_not_fire)
{
    sim_loop *loop = sim_loop_create();
    static trace t;
    t.n = 0;
    sim_event_id a = sim_loop_schedule(loop, 1.0, record, &t, 1, 0, NULL);
    sim_event_id b = sim_loop_schedule(loop, 2.0, record, &t, 2, 0, NULL);
    cr_assert_eq(sim_loop_cancel(loop, a), 1);
    cr_assert_eq(sim_loop_cancel(loop, a), 0, "a second cancel is a no-op");
    sim_loop_run(loop, INFINITY);
    cr_assert_eq(t.n, 1);
    cr_assert_eq(t.ids[0], 2);
    cr_assert_eq(sim_loop_cancel(loop, b), 0,
                 "fired events cannot be "
                 "cancelled");
    sim_loop_destroy(loop);
}

static int freed;
static void count_free(void *p)
{
    (void)p;
    freed++;
}

Test(sim_loop, frees_payloads_of_events_that_never_fire)
{
    sim_loop *loop = sim_loop_create();
    static trace t;
    static int payload[3];
    freed = 0;
    sim_event_id a = sim_loop_schedule_owned(loop, 1.0, record, &t, 0, 0,
                                             &payload[0], count_free);
    sim_loop_schedule_owned(loop, 2.0, record, &t, 0, 0, &payload[1],
                            count_free);
    sim_loop_schedule_owned(loop, 3.0, record, &t, 0, 0, &payload[2],
                            count_free);
    sim_loop_cancel(loop, a);
    cr_assert_eq(freed, 1);
    sim_loop_run(loop, 2.5);
    cr_assert_eq(sim_loop_now(loop), 2.0, "stops before the event at 3");
    cr_assert_eq(sim_loop_pending(loop), 1);
    sim_loop_destroy(loop);
    cr_assert_eq(freed, 2, "the pending event's payload is freed");
}

static void stopper(sim_loop *loop, const sim_event *ev)
{
    record(loop, ev);
    sim_loop_stop(loop);
}

Test(sim_loop, stop_returns_after_the_current_handler)
{
    sim_loop *loop = sim_loop_create();
    static trace t;
    t.n = 0;
    sim_loop_schedule(loop, 1.0, stopper, &t, 0, 0, NULL);
    sim_loop_schedule(loop, 2.0, record, &t, 1, 0, NULL);
    cr_assert_eq(sim_loop_run(loop, INFINITY), 1);
    cr_assert_eq(sim_loop_pending(loop), 1);
    cr_assert_eq(sim_loop_run(loop, INFINITY), 1);
    cr_assert_eq(t.n, 2);
    sim_loop_destroy(loop);
}

Test(sim_loop, reuses_slots_without_growing_in_the_steady_state)
{
    /* Hold model: the pending count never exceeds 100, so after warm-up the
     * loop must keep working through many more events than slots. */
    sim_loop *loop = sim_loop_create();
    static trace t;
    t.n = 0;
    for (int i = 0; i < 100; i++)
        sim_loop_schedule(loop, i, reschedule, &t, i, 30, NULL);
    sim_loop_run(loop, INFINITY);
    cr_assert_eq(sim_loop_dispatched(loop), 100 * 31);
    sim_loop_destroy(loop);
}

Test(sim_loop, a_cancelled_payload_is_freed_exactly_once)
{
    sim_loop *loop = sim_loop_create();
    static trace t;
    static int payload;
    freed = 0;
    sim_event_id a = sim_loop_schedule_owned(loop, 1.0, record, &t, 0, 0,
                                             &payload, count_free);
    cr_assert_eq(sim_loop_cancel(loop, a), 1);
    sim_loop_destroy(loop); /* the cancelled key is still queued */
    cr_assert_eq(freed, 1);
}

/* ---- events in the same instant ----------------------------------------
 *
 * Events scheduled with no delay take a shortcut past the heap; whatever
 * mix of zero delays, delays that land on the same time as others, delays
 * too small to move the clock, cancellations and queue growth, the events
 * must still fire in exactly (time, scheduling order). */

typedef struct mixed {
    sim_loop *loop;
    gsl_rng *r;
    int64_t scheduled; /* ids are handed out in scheduling order */
    int64_t budget;
    sim_event_id ids[20000];
    unsigned char cancelled[20000], fired[20000];
    double fire_time[20000];
    int64_t order[20000];
    size_t n_fired;
} mixed;

static void mixed_fire(sim_loop *loop, const sim_event *ev);

static void mixed_schedule(mixed *m)
{
    if (m->scheduled >= m->budget)
        return;
    double delay;
    unsigned long kind = gsl_rng_uniform_int(m->r, 10);
    if (kind < 4)
        delay = 0.0;
    else if (kind < 7)
        delay = 0.25 * (double)gsl_rng_uniform_int(m->r, 4); /* ties */
    else if (kind < 8)
        delay = 1e-300; /* too small to move a clock past 0 */
    else
        delay = gsl_rng_uniform(m->r);
    int64_t id = m->scheduled++;
    m->ids[id] = sim_loop_schedule(m->loop, delay, mixed_fire, m, id, 0, NULL);
    cr_assert(m->ids[id]);
}

static void mixed_fire(sim_loop *loop, const sim_event *ev)
{
    mixed *m = ev->obj;
    cr_assert_eq(sim_loop_now(loop), ev->time);
    cr_assert(!m->cancelled[ev->a] && !m->fired[ev->a]);
    m->fired[ev->a] = 1;
    m->fire_time[ev->a] = ev->time;
    m->order[m->n_fired++] = ev->a;
    unsigned long children = gsl_rng_uniform_int(m->r, 3);
    for (unsigned long i = 0; i < children; i++)
        mixed_schedule(m);
    /* Now and then cancel an event scheduled earlier, pending or not. */
    if (m->scheduled > 0 && gsl_rng_uniform(m->r) < 0.1) {
        int64_t victim =
            (int64_t)gsl_rng_uniform_int(m->r, (unsigned long)m->scheduled);
        if (sim_loop_cancel(loop, m->ids[victim]))
            m->cancelled[victim] = 1;
    }
}

Test(sim_loop, zero_delays_ties_and_cancellations_keep_time_then_seq_order)
{
    static mixed m;
    for (unsigned long seed = 1; seed <= 20; seed++) {
        memset(&m, 0, sizeof m);
        m.loop = sim_loop_create();
        m.r = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(m.r, seed);
        m.budget = 20000;
        for (int i = 0; i < 50; i++)
            mixed_schedule(&m);
        sim_loop_run(m.loop, INFINITY);
        cr_assert_eq(sim_loop_pending(m.loop), 0);
        /* Every event fired or was cancelled, never both... */
        for (int64_t i = 0; i < m.scheduled; i++)
            cr_assert_eq(m.fired[i] + m.cancelled[i], 1, "event %lld",
                         (long long)i);
        /* ...and the firing sequence is sorted by (time, id), which, keys
         * being unique, makes it the one (time, seq) order. */
        for (size_t i = 1; i < m.n_fired; i++) {
            int64_t a = m.order[i - 1], b = m.order[i];
            cr_assert(m.fire_time[a] < m.fire_time[b] ||
                          (m.fire_time[a] == m.fire_time[b] && a < b),
                      "seed %lu: event %lld at %.17g fired before %lld at "
                      "%.17g",
                      seed, (long long)a, m.fire_time[a], (long long)b,
                      m.fire_time[b]);
        }
        gsl_rng_free(m.r);
        sim_loop_destroy(m.loop);
    }
}

Test(sim_loop, frees_payloads_of_zero_delay_events_left_pending)
{
    sim_loop *loop = sim_loop_create();
    static trace t;
    static int payload[200];
    freed = 0;
    /* Enough to grow the loop while some wait in the zero-delay queue. */
    for (int i = 0; i < 200; i++)
        sim_loop_schedule_owned(loop, i % 2 ? 0.0 : 1.0, record, &t, i, 0,
                                &payload[i], count_free);
    cr_assert_eq(sim_loop_pending(loop), 200);
    sim_loop_destroy(loop);
    cr_assert_eq(freed, 200);
}

Test(sim_loop, run_until_leaves_zero_delay_events_of_a_later_instant)
{
    /* Zero-delay events scheduled at a time beyond `until` (the clock is
     * already there) are left pending like any other. */
    sim_loop *loop = sim_loop_create();
    static trace t;
    t.n = 0;
    sim_loop_schedule(loop, 2.0, record, &t, 0, 0, NULL);
    sim_loop_run(loop, INFINITY);
    sim_loop_schedule(loop, 0.0, record, &t, 1, 0, NULL);
    cr_assert_eq(sim_loop_run(loop, 1.0), 0);
    cr_assert_eq(sim_loop_pending(loop), 1);
    cr_assert_eq(sim_loop_run(loop, INFINITY), 1);
    cr_assert_eq(t.ids[1], 1);
    sim_loop_destroy(loop);
}
