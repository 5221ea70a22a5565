/* bench_event: throughput of the event core on the classic hold model.
 *
 * A queue is filled with Q events; each fired event schedules one new event
 * at now + an exponential increment (mean 1), so the queue holds Q events
 * throughout and every event costs one pop and one push. The increments are
 * drawn in advance into a table of 2^16 exponential variates that the
 * handlers cycle through, so that the figure measures the queue, not libm's
 * log; a second figure draws each increment on the spot, log included.
 * Prints events per second of wall time.
 *
 * usage: bench_event [QUEUE_SIZE [EVENTS]]   (defaults 10000, 20000000) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sim/core/event.h"

static uint64_t state = 0x2545f4914f6cdd1dULL;

static double exp_increment(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    double u = (double)(state >> 11) * 0x1.0p-53;
    return -log1p(-u);
}

#define TABLE_SIZE 65536
static double table[TABLE_SIZE];
static uint32_t table_pos;
static uint64_t remaining;

static void hold(sim_loop *loop, const sim_event *ev)
{
    if (remaining == 0)
        return;
    remaining--;
    double inc = table[table_pos++ & (TABLE_SIZE - 1)];
    sim_loop_schedule(loop, inc, hold, ev->obj, 0, 0, NULL);
}

static void hold_live(sim_loop *loop, const sim_event *ev)
{
    if (remaining == 0)
        return;
    remaining--;
    sim_loop_schedule(loop, exp_increment(), hold_live, ev->obj, 0, 0, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs n hold events through a queue of q and returns events per second. */
static double measure(sim_event_fn fn, long q, long n, uint64_t *fired_out)
{
    sim_loop *loop = sim_loop_create();
    for (long i = 0; i < q; i++)
        sim_loop_schedule(loop, exp_increment(), fn, NULL, 0, 0, NULL);
    /* Warm up so that the heap has its steady-state shape. */
    remaining = (uint64_t)q * 10;
    sim_loop_run(loop, INFINITY);
    for (long i = 0; i < q; i++)
        sim_loop_schedule(loop, exp_increment(), fn, NULL, 0, 0, NULL);

    remaining = (uint64_t)n;
    double t0 = now_s();
    uint64_t fired = sim_loop_run(loop, INFINITY);
    double dt = now_s() - t0;
    sim_loop_destroy(loop);
    *fired_out = fired;
    return (double)fired / dt;
}

int main(int argc, char **argv)
{
    long q = argc > 1 ? atol(argv[1]) : 10000;
    long n = argc > 2 ? atol(argv[2]) : 20000000;
    for (size_t i = 0; i < TABLE_SIZE; i++)
        table[i] = exp_increment();
    uint64_t fired;
    double rate = measure(hold, q, n, &fired);
    printf("hold model, queue %ld, %llu events, increments from a table: "
           "%.2f million events/s (%.1f ns per pop+push)\n",
           q, (unsigned long long)fired, rate / 1e6, 1e9 / rate);
    rate = measure(hold_live, q, n, &fired);
    printf("hold model, queue %ld, %llu events, increments drawn live:   "
           "%.2f million events/s (%.1f ns per pop+push)\n",
           q, (unsigned long long)fired, rate / 1e6, 1e9 / rate);
    return 0;
}
