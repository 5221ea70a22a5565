/* exec_fork.c: runs on forked worker processes of this machine.
 *
 * Workers are forked after every job has been prepared, so each inherits
 * the configs and data and reads no file. Each worker has two pipes: run
 * indices in (4 bytes each), results out (an 8-byte length, then the
 * encoded result). A worker that dies (a crash, or SIGALRM from --timeout)
 * costs only its run: the parent reports it failed and forks a new worker.
 * A parent that dies closes the pipes, and its workers exit on the next read
 * or write. */
#include "sweep_internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct slot {
    pid_t pid;
    int cmd_fd, res_fd; /* -1 when closed */
} slot;

typedef struct fork_state {
    slot *slots;
    int n;
    const sw__job *jobs;
    size_t n_jobs;
    unsigned timeout_s;
    int next_poll; /* round-robin start, so no worker is starved */
} fork_state;

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* 1 read, 0 end of file before any byte, -1 error or short. */
static int read_all(int fd, void *p, size_t n)
{
    char *c = p;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, c + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return got == 0 ? 0 : -1;
        got += (size_t)r;
    }
    return 1;
}

static _Noreturn void worker_loop(fork_state *s, int cmd_fd, int res_fd)
{
    sw__buf b = {0};
    uint32_t idx;
    while (read_all(cmd_fd, &idx, sizeof idx) == 1) {
        if (idx >= s->n_jobs || !s->jobs[idx].cfg)
            _exit(3);
        alarm(s->timeout_s);
        int rc = sw__run_encode(&s->jobs[idx], &b);
        alarm(0);
        uint64_t len = b.len;
        if (rc || write_all(res_fd, &len, sizeof len) ||
            write_all(res_fd, b.p, b.len))
            _exit(1);
    }
    /* _exit: stdio buffers and the database handle belong to the parent. */
    _exit(0);
}

static int spawn(fork_state *s, int k, sim_err *err)
{
    int cmd[2], res[2];
    if (pipe(cmd))
        return sim_err_set(err, SIM_EIO, "cannot create a pipe: %s",
                           strerror(errno));
    if (pipe(res)) {
        close(cmd[0]);
        close(cmd[1]);
        return sim_err_set(err, SIM_EIO, "cannot create a pipe: %s",
                           strerror(errno));
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(cmd[0]);
        close(cmd[1]);
        close(res[0]);
        close(res[1]);
        return sim_err_set(err, SIM_EIO, "cannot fork a worker: %s",
                           strerror(errno));
    }
    if (pid == 0) {
        /* Another worker's pipe ends held here would keep that worker from
         * ever seeing end of file. */
        for (int i = 0; i < s->n; i++) {
            if (s->slots[i].cmd_fd >= 0)
                close(s->slots[i].cmd_fd);
            if (s->slots[i].res_fd >= 0)
                close(s->slots[i].res_fd);
        }
        close(cmd[1]);
        close(res[0]);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        worker_loop(s, cmd[0], res[1]);
    }
    close(cmd[0]);
    close(res[1]);
    s->slots[k] = (slot){.pid = pid, .cmd_fd = cmd[1], .res_fd = res[0]};
    return 0;
}

static void reap(slot *sl, char *why, size_t cap, unsigned timeout_s)
{
    if (sl->cmd_fd >= 0)
        close(sl->cmd_fd);
    if (sl->res_fd >= 0)
        close(sl->res_fd);
    sl->cmd_fd = sl->res_fd = -1;
    int status = 0;
    while (waitpid(sl->pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM && timeout_s)
        snprintf(why, cap, "run exceeded --timeout %u s", timeout_s);
    else if (WIFSIGNALED(status))
        snprintf(why, cap, "worker process killed by signal %d (%s)",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(why, cap, "worker process exited with status %d",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    sl->pid = -1;
}

static int fork_submit(sw__exec *x, int k, size_t idx, sim_err *err)
{
    fork_state *s = x->state;
    uint32_t v = (uint32_t)idx;
    if (s->slots[k].pid < 0) {
        int rc = spawn(s, k, err);
        if (rc)
            return rc;
    }
    /* A worker that died since its last result shows up in wait. */
    if (write_all(s->slots[k].cmd_fd, &v, sizeof v) && errno != EPIPE)
        return sim_err_set(err, SIM_EIO, "cannot reach worker: %s",
                           strerror(errno));
    return 0;
}

static int fork_ready(sw__exec *x)
{
    fork_state *s = x->state;
    struct pollfd p[64];
    for (int base = 0; base < s->n; base += 64) {
        int m = s->n - base < 64 ? s->n - base : 64;
        for (int i = 0; i < m; i++)
            p[i] = (struct pollfd){.fd = s->slots[base + i].res_fd,
                                   .events = POLLIN};
        if (poll(p, (nfds_t)m, 0) > 0)
            return 1;
    }
    return 0;
}

static int fork_wait(sw__exec *x, int *k_out, sw__result *res, sim_err *err)
{
    fork_state *s = x->state;
    struct pollfd *p = calloc((size_t)s->n, sizeof *p);
    if (!p)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    for (int i = 0; i < s->n; i++)
        p[i] = (struct pollfd){.fd = s->slots[i].res_fd, .events = POLLIN};
    int rc;
    while ((rc = poll(p, (nfds_t)s->n, -1)) < 0 && errno == EINTR)
        ;
    if (rc < 0) {
        free(p);
        return sim_err_set(err, SIM_EIO, "poll: %s", strerror(errno));
    }
    int k = -1;
    for (int j = 0; j < s->n && k < 0; j++) {
        int i = (s->next_poll + j) % s->n;
        if (p[i].fd >= 0 && p[i].revents)
            k = i;
    }
    free(p);
    if (k < 0)
        return sim_err_set(err, SIM_EINTERNAL, "poll returned no worker");
    s->next_poll = (k + 1) % s->n;
    *k_out = k;
    slot *sl = &s->slots[k];
    uint64_t len = 0;
    int got = read_all(sl->res_fd, &len, sizeof len);
    unsigned char *buf = NULL;
    if (got == 1 && len < ((uint64_t)1 << 40) && (buf = malloc(len + 1)) &&
        read_all(sl->res_fd, buf, len) == 1 && len > 0)
        return sw__result_decode(buf, len, res, err);
    free(buf);
    char why[160];
    reap(sl, why, sizeof why, s->timeout_s);
    sw__result_failed(res, why);
    return 0;
}

static void fork_shutdown(sw__exec *x)
{
    fork_state *s = x->state;
    if (!s)
        return;
    for (int i = 0; i < s->n; i++) {
        slot *sl = &s->slots[i];
        if (sl->pid < 0)
            continue;
        /* Closing its command pipe is how a worker learns it is done; one
         * still running a run is not waited for. */
        close(sl->cmd_fd);
        close(sl->res_fd);
        kill(sl->pid, SIGTERM);
        while (waitpid(sl->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    free(s->slots);
    free(s);
    x->state = NULL;
}

int sw__fork_exec(sw__exec *x, int n, const sw__job *jobs, size_t n_jobs,
                  unsigned timeout_s, sim_err *err)
{
    fork_state *s = calloc(1, sizeof *s);
    if (!s || !(s->slots = calloc((size_t)n, sizeof *s->slots))) {
        free(s);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    s->n = n;
    s->jobs = jobs;
    s->n_jobs = n_jobs;
    s->timeout_s = timeout_s;
    for (int i = 0; i < n; i++)
        s->slots[i] = (slot){.pid = -1, .cmd_fd = -1, .res_fd = -1};
    /* A worker that dies turns the next write to it into EPIPE, not a
     * signal that would end the whole sweep. */
    signal(SIGPIPE, SIG_IGN);
    *x = (sw__exec){.n_slots = n,
                    .submit = fork_submit,
                    .wait = fork_wait,
                    .ready = fork_ready,
                    .shutdown = fork_shutdown,
                    .state = s};
    return 0;
}
