/* sg_net: the patterns of tools/bench_net.c in SimGrid, for comparison.
 *
 * A star of K (+1 server) hosts, each on a full-duplex private link of
 * 50 us and 1.25 GB/s (a SimGrid cluster without backbone, SPLITDUPLEX),
 * with SimGrid's flow model made ideal (no latency or bandwidth factors,
 * no TCP window, no cross-traffic), which is the model dtsim implements.
 *
 *   ps K S        one parameter-server round: push S to the server, which
 *                 answers everyone once all pushes are in;
 *   spread K S    the same, worker i pushing after a compute time drawn as
 *                 in bench_net (uniform in [0, 100 ms), same generator);
 *   ring K S      ring all-reduce, 2(K-1) steps of S/K bytes.
 * Prints the simulated time and the wall time of the simulation. */
#include <simgrid/actor.h>
#include <simgrid/comm.h>
#include <simgrid/engine.h>
#include <simgrid/host.h>
#include <simgrid/mailbox.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int K;
static double S;
static const char *pattern;
static double *compute_s;
static char dummy;

static sg_mailbox_t box(int i)
{
    char name[32];
    snprintf(name, sizeof name, "mb-%d", i);
    return sg_mailbox_by_name(name);
}

static void worker(int argc, char **argv)
{
    (void)argc;
    int i = atoi(argv[1]);
    if (compute_s && compute_s[i] > 0)
        sg_actor_sleep_for(compute_s[i]);
    sg_mailbox_put(box(K), &dummy, (long)S);
    sg_mailbox_get(box(i));
}

static void server(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    sg_comm_t *c = malloc((size_t)K * sizeof *c);
    void **data = malloc((size_t)K * sizeof *data);
    for (int i = 0; i < K; i++)
        c[i] = sg_mailbox_get_async(box(K), &data[i]);
    sg_comm_wait_all(c, (size_t)K);
    for (int i = 0; i < K; i++)
        c[i] = sg_mailbox_put_async(box(i), &dummy, (long)S);
    sg_comm_wait_all(c, (size_t)K);
    free(c);
    free(data);
}

static void ring_member(int argc, char **argv)
{
    (void)argc;
    int i = atoi(argv[1]);
    long chunk = (long)(S / K);
    for (int s = 0; s < 2 * (K - 1); s++) {
        sg_comm_t c = sg_mailbox_put_async(box((i + 1) % K), &dummy, chunk);
        sg_mailbox_get(box(i));
        sg_comm_wait(c);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: sg_net ps|spread|ring K BYTES\n");
        return 2;
    }
    pattern = argv[1];
    K = atoi(argv[2]);
    S = atof(argv[3]);
    int hosts = strcmp(pattern, "ring") == 0 ? K : K + 1;

    char path[] = "/tmp/sg_net_XXXXXX.xml";
    int fd = mkstemps(path, 4);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f)
        return 1;
    fprintf(f,
            "<?xml version='1.0'?>\n"
            "<!DOCTYPE platform SYSTEM \"https://simgrid.org/simgrid.dtd\">\n"
            "<platform version=\"4.1\">\n"
            "<cluster id=\"star\" prefix=\"node-\" suffix=\"\" "
            "radical=\"0-%d\" speed=\"1Gf\" bw=\"1.25GBps\" lat=\"50us\" "
            "sharing_policy=\"SPLITDUPLEX\"/>\n"
            "</platform>\n",
            hosts - 1);
    fclose(f);

    char *sg_argv[] = {argv[0],
                       "--cfg=network/model:CM02",
                       "--cfg=network/latency-factor:1",
                       "--cfg=network/bandwidth-factor:1",
                       "--cfg=network/weight-S:0",
                       "--cfg=network/TCP-gamma:0",
                       "--cfg=network/crosstraffic:0",
                       "--log=root.thres:critical",
                       NULL};
    int sg_argc = 8;
    double t0 = now_s();
    simgrid_init(&sg_argc, sg_argv);
    simgrid_load_platform(path);

    if (strcmp(pattern, "spread") == 0) {
        compute_s = malloc((size_t)K * sizeof *compute_s);
        uint64_t st = 12345;
        for (int i = 0; i < K; i++) {
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            compute_s[i] = 0.1 * ((double)(st >> 11) / 9007199254740992.0);
        }
    }
    char name[32], idx[32];
    for (int i = 0; i < K; i++) {
        snprintf(name, sizeof name, "node-%d", i);
        snprintf(idx, sizeof idx, "%d", i);
        char *a[] = {name, idx, NULL};
        sg_actor_create(name, sg_host_by_name(name),
                        strcmp(pattern, "ring") == 0 ? ring_member : worker, 2,
                        a);
    }
    if (strcmp(pattern, "ring") != 0) {
        snprintf(name, sizeof name, "node-%d", K);
        char *a[] = {name, NULL};
        sg_actor_create("server", sg_host_by_name(name), server, 1, a);
    }
    simgrid_run();
    double wall = now_s() - t0;
    printf("simgrid %s K=%d S=%.0f: sim %.9g s, wall %.3f ms\n", pattern, K, S,
           simgrid_get_clock(), wall * 1e3);
    unlink(path);
    free(compute_s);
    return 0;
}
