/* event.h: the simulated clock and the event queue.
 *
 * Simulated time is a double in seconds. Events are ordered by (time, seq),
 * seq being a counter taken when the event is scheduled, so events at equal
 * times fire in the order they were scheduled and a run is deterministic.
 *
 * The queue is a 4-ary min-heap of 16-byte keys, plus a FIFO ring for events
 * scheduled at the current instant (no delay), which are in (time, seq)
 * order as they come; the loop fires the earlier of the two heads. Event
 * bodies live in a slot array recycled through a free list, so the steady
 * state allocates nothing. The arrays only grow (by doubling) while the
 * number of pending events reaches a new high.
 *
 * Ownership: the loop borrows `obj` and `ptr`; it never frees them. An event
 * that owns its payload must be given a free_fn, which the loop calls if the
 * event is cancelled or still pending when the loop is destroyed. */
#ifndef DTSIM_EVENT_H
#define DTSIM_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct sim_loop sim_loop;

/* What a handler receives: a copy of the event as scheduled. */
typedef struct sim_event {
    double time;  /* when it fires, seconds */
    void *obj;    /* the entity that reacts (borrowed) */
    void *ptr;    /* optional payload */
    int64_t a, b; /* small payload by value */
} sim_event;

typedef void (*sim_event_fn)(sim_loop *loop, const sim_event *ev);
typedef void (*sim_free_fn)(void *ptr);

/* Identifies a pending event for sim_loop_cancel. 0 is never a valid id. */
typedef uint64_t sim_event_id;

/* NULL when out of memory. */
sim_loop *sim_loop_create(void);
void sim_loop_destroy(sim_loop *loop); /* NULL-safe; frees pending payloads */

/* The loop begins with its clock, so that reading it (the commonest call
 * of all, a few per event) is a load, not a call across files. Nothing
 * but sim_loop_now reads this. */
typedef struct sim_loop_clock {
    double now;
} sim_loop_clock;

static inline double sim_loop_now(const sim_loop *loop)
{
    return ((const sim_loop_clock *)(const void *)loop)->now;
}
size_t sim_loop_pending(const sim_loop *loop);
uint64_t sim_loop_dispatched(const sim_loop *loop); /* events fired so far */

/* Schedules fn(obj, ...) at now + delay_s. Returns the event's id, or 0 when
 * delay_s is negative or not finite (nothing is scheduled then) or memory is
 * exhausted. */
sim_event_id sim_loop_schedule(sim_loop *loop, double delay_s, sim_event_fn fn,
                               void *obj, int64_t a, int64_t b, void *ptr);

/* As sim_loop_schedule, with a finaliser for ptr if the event never fires. */
sim_event_id sim_loop_schedule_owned(sim_loop *loop, double delay_s,
                                     sim_event_fn fn, void *obj, int64_t a,
                                     int64_t b, void *ptr, sim_free_fn free_fn);

/* Cancels a pending event. Returns 1 if it was pending, 0 if it had already
 * fired or been cancelled. Safe to call from inside any handler. */
int sim_loop_cancel(sim_loop *loop, sim_event_id id);

/* Fires events in (time, seq) order until the queue is empty, sim_loop_stop
 * is called, or the next event lies beyond until_s (left pending; the clock
 * then stays at the last fired event). Returns the number fired. */
uint64_t sim_loop_run(sim_loop *loop, double until_s);

/* Makes sim_loop_run return after the current handler. */
void sim_loop_stop(sim_loop *loop);

#endif
