/* The event core: (time, seq) order, cancellation, clock monotonicity. */
#include <criterion/criterion.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>

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
