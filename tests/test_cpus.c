/* Counting the cores a process may use, and keeping a helper thread off a
 * core (core/cpus.h). */
#ifdef __linux__
#define _GNU_SOURCE
#include <sched.h>
#endif

#include <criterion/criterion.h>
#include <pthread.h>
#include <unistd.h>

#include "sim/core/cpus.h"

Test(cpus, counts_the_cores_the_process_may_use)
{
    int n = cpus_available();
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    cr_assert_geq(n, 1);
    if (online > 0)
        cr_assert_leq(n, online);
}

#ifdef __linux__
typedef struct probe {
    int avoid;
    cpu_set_t before, after;
} probe;

static void *helper(void *arg)
{
    probe *p = arg;
    sched_getaffinity(0, sizeof p->before, &p->before);
    cpus_avoid(p->avoid);
    sched_getaffinity(0, sizeof p->after, &p->after);
    return NULL;
}

static probe run_helper(int avoid)
{
    probe p = {.avoid = avoid};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, helper, &p), 0);
    pthread_join(t, NULL);
    return p;
}

Test(cpus, a_helper_leaves_the_core_it_avoids_when_it_has_another)
{
    int here = cpus_current();
    cr_assert_geq(here, 0);
    probe p = run_helper(here);
    if (CPU_COUNT(&p.before) > 1) {
        cr_assert(!CPU_ISSET(here, &p.after), "still allowed on core %d", here);
        cr_assert_eq(CPU_COUNT(&p.after), CPU_COUNT(&p.before) - 1);
    } else {
        cr_assert(CPU_EQUAL(&p.before, &p.after),
                  "the only core was taken away");
    }
    /* Unknown core: nothing changes. */
    p = run_helper(-1);
    cr_assert(CPU_EQUAL(&p.before, &p.after));
}

Test(cpus, the_only_allowed_core_is_kept)
{
    /* A process narrowed to one core (taskset 1 core) keeps it. */
    cpu_set_t one;
    CPU_ZERO(&one);
    int here = cpus_current();
    CPU_SET(here, &one);
    cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
    cr_assert_eq(cpus_available(), 1);
    probe p = run_helper(here);
    cr_assert(CPU_ISSET(here, &p.after));
    cr_assert_eq(CPU_COUNT(&p.after), 1);
}
#endif
