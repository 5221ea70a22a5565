/* mpi.c: sweeps across machines with MPI (built only with DTSIM_HAVE_MPI).
 *
 * Every rank expands the spec and prepares every run itself (the expansion
 * is deterministic, so all ranks agree on run j without exchanging configs).
 * Rank 0 owns the database and a dynamic queue: it sends a run index to each
 * idle rank (TAG_RUN) and takes results from whichever rank finishes first
 * (TAG_RESULT: the same encoded result a forked worker sends through its
 * pipe); TAG_STOP ends a rank. Faster ranks therefore take more runs, and
 * run j's rows do not depend on which rank ran it.
 *
 * Rank 0 does not run simulations. It waits with MPI_Iprobe and a short
 * sleep rather than a blocking receive, because Open MPI's blocking calls
 * poll and would take a core from a worker rank on the same node. */
#ifdef DTSIM_HAVE_MPI

#include "sweep_internal.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { TAG_RUN = 1, TAG_STOP = 2, TAG_RESULT = 3 };

static int initialized;

int sw__mpi_active(void)
{
    /* Set by Open MPI's launcher (and PMI-based ones): a plain start of
     * dtsim never initialises MPI. */
    const char *n = getenv("OMPI_COMM_WORLD_SIZE");
    if (!n)
        n = getenv("PMI_SIZE");
    if (!n || atoi(n) < 2)
        return 0;
    if (!initialized) {
        if (MPI_Init(NULL, NULL) != MPI_SUCCESS)
            return 0;
        initialized = 1;
    }
    return 1;
}

int sw__mpi_rank(void)
{
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

void sw__mpi_finalize(void)
{
    if (initialized)
        MPI_Finalize();
    initialized = 0;
}

static int mpi_submit(sw__exec *x, int slot, size_t idx, sim_err *err)
{
    (void)x;
    unsigned v = (unsigned)idx;
    if (MPI_Send(&v, 1, MPI_UNSIGNED, slot + 1, TAG_RUN, MPI_COMM_WORLD) !=
        MPI_SUCCESS)
        return sim_err_set(err, SIM_EIO, "MPI_Send to rank %d failed",
                           slot + 1);
    return 0;
}

static int mpi_wait(sw__exec *x, int *slot, sw__result *res, sim_err *err)
{
    (void)x;
    MPI_Status st;
    int flag = 0;
    long pause_ns = 10000;
    for (;;) {
        if (MPI_Iprobe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &flag,
                       &st) != MPI_SUCCESS)
            return sim_err_set(err, SIM_EIO, "MPI_Iprobe failed");
        if (flag)
            break;
        struct timespec ts = {0, pause_ns};
        nanosleep(&ts, NULL);
        if (pause_ns < 1000000)
            pause_ns *= 2;
    }
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    unsigned char *buf = malloc((size_t)count + 1);
    if (!buf)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    if (MPI_Recv(buf, count, MPI_BYTE, st.MPI_SOURCE, TAG_RESULT,
                 MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
        free(buf);
        return sim_err_set(err, SIM_EIO, "MPI_Recv from rank %d failed",
                           st.MPI_SOURCE);
    }
    *slot = st.MPI_SOURCE - 1;
    return sw__result_decode(buf, (size_t)count, res, err);
}

static int mpi_ready(sw__exec *x)
{
    (void)x;
    int flag = 0;
    MPI_Status st;
    return MPI_Iprobe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &flag, &st) ==
               MPI_SUCCESS &&
           flag;
}

static void mpi_shutdown(sw__exec *x)
{
    for (int r = 1; r <= x->n_slots; r++)
        MPI_Send(NULL, 0, MPI_BYTE, r, TAG_STOP, MPI_COMM_WORLD);
    x->n_slots = 0;
}

int sw__mpi_exec(sw__exec *x, sim_err *err)
{
    int size = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size < 2)
        return sim_err_set(err, SIM_EINVAL, "MPI needs at least 2 ranks");
    *x = (sw__exec){.n_slots = size - 1,
                    .submit = mpi_submit,
                    .wait = mpi_wait,
                    .ready = mpi_ready,
                    .shutdown = mpi_shutdown};
    return 0;
}

int sw__mpi_serve(const sw__job *jobs, size_t n_jobs)
{
    sw__buf b = {0};
    int rc = 0;
    for (;;) {
        MPI_Status st;
        unsigned idx = 0;
        if (MPI_Recv(&idx, 1, MPI_UNSIGNED, 0, MPI_ANY_TAG, MPI_COMM_WORLD,
                     &st) != MPI_SUCCESS) {
            rc = -1;
            break;
        }
        if (st.MPI_TAG == TAG_STOP)
            break;
        /* Rank 0 waits for this result: failing silently would hang the
         * sweep, so a rank that cannot answer ends the whole job. */
        if (idx >= n_jobs || !jobs[idx].data ||
            sw__run_encode(&jobs[idx], &b) ||
            MPI_Send(b.p, (int)b.len, MPI_BYTE, 0, TAG_RESULT,
                     MPI_COMM_WORLD) != MPI_SUCCESS)
            MPI_Abort(MPI_COMM_WORLD, 1);
    }
    sw__buf_free(&b);
    return rc;
}

#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int sw__mpi_not_built;
#endif
