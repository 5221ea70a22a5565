#ifdef __linux__
#define _GNU_SOURCE /* sched_getaffinity, sched_getcpu, CPU_* */
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

void cpus_avoid(int avoid)
{
#ifdef __linux__
    cpu_set_t set;
    if (avoid < 0 || avoid >= CPU_SETSIZE ||
        sched_getaffinity(0, sizeof set, &set) != 0 || !CPU_ISSET(avoid, &set))
        return;
    CPU_CLR(avoid, &set);
    if (CPU_COUNT(&set) > 0)
        (void)sched_setaffinity(0, sizeof set, &set);
#else
    (void)avoid;
#endif
}
