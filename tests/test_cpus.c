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
static void *helper(void *arg)
{
    sched_getaffinity(0, sizeof(cpu_set_t), arg);
    return NULL;
}

/* The mask a helper started from here has when it first runs. */
static cpu_set_t helper_mask(void)
{
    cpu_set_t seen;
    CPU_ZERO(&seen);
    pthread_t t;
    cr_assert_eq(cpus_start_helper(&t, helper, &seen), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    return seen;
}

Test(cpus, a_helper_starts_off_its_creators_core_when_it_has_another)
{
    cpu_set_t process;
    cr_assert_eq(sched_getaffinity(0, sizeof process, &process), 0);
    if (CPU_COUNT(&process) < 2)
        cr_skip_test("one core: covered by the next test");
    int before = cpus_current();
    cpu_set_t seen = helper_mask();
    int after = cpus_current();
    /* Exactly one of the process's cores is left out... */
    cr_assert_eq(CPU_COUNT(&seen), CPU_COUNT(&process) - 1);
    cpu_set_t both;
    CPU_AND(&both, &seen, &process);
    cr_assert(CPU_EQUAL(&both, &seen), "helper allowed beyond the process");
    /* ...the creator's, which is known when it did not move meanwhile. */
    if (before == after)
        cr_assert(!CPU_ISSET(before, &seen), "helper allowed on core %d",
                  before);
}

Test(cpus, a_helper_of_a_one_core_process_keeps_that_core)
{
    /* A process narrowed to one core (taskset 1 core) keeps it. */
    int here = cpus_current();
    cr_assert_geq(here, 0);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(here, &one);
    cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
    cr_assert_eq(cpus_available(), 1);
    cpu_set_t seen = helper_mask();
    cr_assert(CPU_ISSET(here, &seen));
    cr_assert_eq(CPU_COUNT(&seen), 1);
}
#endif
