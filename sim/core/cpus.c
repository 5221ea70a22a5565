#ifdef __linux__
#define _GNU_SOURCE /* affinity calls, sched_getcpu, CPU_* */
#include <sched.h>
#endif

#include "cpus.h"

#include <unistd.h>

int cpus_available(void)
{
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int cpus_current(void)
{
#ifdef __linux__
    return sched_getcpu();
#else
    return -1;
#endif
}

#ifdef __linux__
/* The process's cores without `avoid`, or 0 when that would leave none. */
static int without(int avoid, cpu_set_t *set)
{
    if (avoid < 0 || avoid >= CPU_SETSIZE ||
        sched_getaffinity(0, sizeof *set, set) != 0 || !CPU_ISSET(avoid, set))
        return 0;
    CPU_CLR(avoid, set);
    return CPU_COUNT(set) > 0;
}
#endif

int cpus_start_helper(pthread_t *thread, void *(*fn)(void *), void *arg)
{
#ifdef __linux__
    /* The mask goes in the attributes, not a call in the new thread: a
     * thread starts on its creator's core here, queued behind the busy
     * creator, and was seen to wait there 4 ms before it first ran; glibc
     * applies the attributes' mask before the thread may run, and the
     * kernel moves it at once. */
    cpu_set_t set;
    if (without(cpus_current(), &set)) {
        pthread_attr_t attr;
        if (pthread_attr_init(&attr) == 0) {
            int rc = pthread_attr_setaffinity_np(&attr, sizeof set, &set);
            if (rc == 0)
                rc = pthread_create(thread, &attr, fn, arg);
            pthread_attr_destroy(&attr);
            if (rc == 0)
                return 0;
        }
    }
#endif
    return pthread_create(thread, NULL, fn, arg);
}
