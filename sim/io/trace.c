#include "trace.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Process ids of the two groups of tracks. */
#define PID_NODES 1
#define PID_LINKS 2
/* A link's lanes get thread ids node * LANE_STRIDE + lane; more lanes than
 * this share the last one (slices then overlap, which viewers tolerate). */
#define LANE_STRIDE 4096

typedef struct msg {
    int src, dst; /* node indices; dst -1 when unknown */
    double start, end;
    uint64_t bytes;
    int send_lane, recv_lane;
} msg;

typedef struct start_key {
    double t;
    int node;
    int used;
} start_key;

typedef struct lanes {
    double *ends; /* per lane: when its last message ends */
    int n, cap;
} lanes;

typedef struct tracer {
    FILE *f;
    int n_nodes; /* workers 0..n_workers-1, then others */
    int n_workers;
    char **names; /* [n_nodes] */
    int first;    /* no event written yet: no comma before the next */
} tracer;

static int parse_worker(const char *s)
{
    if (strncmp(s, "worker", 6) != 0 || !s[6])
        return -1;
    char *end;
    long v = strtol(s + 6, &end, 10);
    return (*end || v < 0 || v > 1000000) ? -1 : (int)v;
}

static int node_of(const tracer *t, const char *entity)
{
    int w = parse_worker(entity);
    if (w >= 0)
        return w;
    for (int i = t->n_workers; i < t->n_nodes; i++)
        if (strcmp(t->names[i], entity) == 0)
            return i;
    return -1;
}

/* Nodes: every worker up to the highest index seen (a worker that never
 * appears still gets its empty track), then the other entities in order of
 * first appearance (the server). */
static int collect_nodes(tracer *t, const trace_run *r)
{
    int max_w = -1;
    size_t others = 0;
    for (size_t i = 0; i < r->n_events; i++) {
        int w = parse_worker(r->events[i].entity);
        if (w > max_w)
            max_w = w;
        others += w < 0;
    }
    t->n_workers = max_w + 1;
    t->names = calloc((size_t)t->n_workers + others + 1, sizeof *t->names);
    if (!t->names)
        return -1;
    for (int k = 0; k < t->n_workers; k++) {
        char buf[32];
        snprintf(buf, sizeof buf, "worker%d", k);
        if (!(t->names[k] = strdup(buf)))
            return -1;
        t->n_nodes = k + 1; /* so that a failure frees what was made */
    }
    t->n_nodes = t->n_workers;
    for (size_t i = 0; i < r->n_events; i++) {
        const char *e = r->events[i].entity;
        if (parse_worker(e) >= 0 || node_of(t, e) >= 0)
            continue;
        if (!(t->names[t->n_nodes] = strdup(e)))
            return -1;
        t->n_nodes++;
    }
    return 0;
}

static int cmp_start(const void *a, const void *b)
{
    const start_key *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->node > y->node) - (x->node < y->node);
}

static int cmp_msg(const void *a, const void *b)
{
    const msg *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return (x->src > y->src) - (x->src < y->src);
}

/* Arrival (send time + transit) and the start of the computation it
 * triggers are the same instant computed along two paths: equal up to
 * rounding. */
static int same_time(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b)) + 1e-15;
}

/* The first unused computation start at time t, or NULL. */
static start_key *find_start(start_key *s, size_t n, double t)
{
    size_t lo = 0, hi = n;
    double low = t - (1e-9 * fabs(t) + 1e-15);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s[mid].t < low)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < n && same_time(s[lo].t, t); lo++)
        if (!s[lo].used)
            return &s[lo];
    return NULL;
}

static int lane_take(lanes *l, double start, double end)
{
    for (int i = 0; i < l->n; i++)
        if (l->ends[i] <= start) {
            l->ends[i] = end;
            return i;
        }
    if (l->n == LANE_STRIDE) {
        l->ends[l->n - 1] = fmax(l->ends[l->n - 1], end);
        return l->n - 1;
    }
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 4;
        double *p = realloc(l->ends, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        l->ends = p;
        l->cap = cap;
    }
    l->ends[l->n] = end;
    return l->n++;
}

static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* Starts the next element of traceEvents. */
static FILE *ev(tracer *t)
{
    fputs(t->first ? "\n" : ",\n", t->f);
    t->first = 0;
    return t->f;
}

static double us(double seconds)
{
    return isfinite(seconds) ? seconds * 1e6 : 0.0;
}

static void meta(tracer *t, int pid, int tid, const char *what,
                 const char *name, int sort)
{
    fprintf(ev(t),
            "{\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"name\":\"%s\","
            "\"args\":{\"name\":",
            pid, tid, what);
    put_string(t->f, name);
    fputs("}}", t->f);
    if (sort >= 0)
        fprintf(ev(t),
                "{\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
                "\"name\":\"thread_sort_index\",\"args\":{\"sort_index\":%d}}",
                pid, tid, sort);
}

static void link_slice(tracer *t, const msg *m, int node, int lane, int is_send)
{
    int peer = is_send ? m->dst : m->src;
    fprintf(ev(t),
            "{\"ph\":\"X\",\"cat\":\"%s\",\"pid\":%d,\"tid\":%d,"
            "\"ts\":%.6f,\"dur\":%.6f,\"name\":",
            is_send ? "send" : "recv", PID_LINKS, node * LANE_STRIDE + lane,
            us(m->start), us(m->end - m->start));
    char name[96];
    snprintf(name, sizeof name, "%s %s", is_send ? "send to" : "recv from",
             peer >= 0 ? t->names[peer] : "?");
    put_string(t->f, name);
    fprintf(t->f, ",\"args\":{\"bytes\":%llu}}", (unsigned long long)m->bytes);
}

static int write_all(tracer *t, const trace_run *r, trace_counts *c)
{
    size_t n_starts = 0, n_msgs = 0;
    for (size_t i = 0; i < r->n_events; i++) {
        n_starts += strcmp(r->events[i].kind, "compute") == 0;
        n_msgs += strcmp(r->events[i].kind, "send") == 0;
    }
    start_key *starts = calloc(n_starts + 1, sizeof *starts);
    msg *msgs = calloc(n_msgs + 1, sizeof *msgs);
    lanes *ln = calloc((size_t)t->n_nodes + 1, sizeof *ln);
    int rc = -1;
    if (!starts || !msgs || !ln)
        goto out;
    int server = node_of(t, "server");
    size_t s = 0, m = 0;
    for (size_t i = 0; i < r->n_events; i++) {
        const db_event *e = &r->events[i];
        if (strcmp(e->kind, "compute") == 0)
            starts[s++] =
                (start_key){.t = e->time, .node = node_of(t, e->entity)};
        else if (strcmp(e->kind, "send") == 0)
            msgs[m++] = (msg){.src = node_of(t, e->entity),
                              .dst = -1,
                              .start = e->time,
                              .end = e->time + e->duration,
                              .bytes = e->bytes};
    }
    qsort(starts, n_starts, sizeof *starts, cmp_start);
    qsort(msgs, n_msgs, sizeof *msgs, cmp_msg);

    /* Receivers first, then lanes in order of send time, so that lane
     * numbers do not depend on the order the engine recorded events in. */
    for (size_t i = 0; i < n_msgs; i++) {
        msg *g = &msgs[i];
        if (g->src < t->n_workers) {
            g->dst = server;
        } else {
            start_key *k = find_start(starts, n_starts, g->end);
            if (k && k->node < t->n_workers) {
                k->used = 1;
                g->dst = k->node;
            }
        }
    }
    for (size_t i = 0; i < n_msgs; i++) {
        msg *g = &msgs[i];
        g->send_lane = lane_take(&ln[g->src], g->start, g->end);
        g->recv_lane =
            g->dst >= 0 ? lane_take(&ln[g->dst], g->start, g->end) : 0;
        if (g->send_lane < 0 || g->recv_lane < 0)
            goto out;
    }

    char title[256];
    snprintf(title, sizeof title, "run %lld: %s (%s)", (long long)r->run_id,
             r->name ? r->name : "?", r->algorithm ? r->algorithm : "?");
    meta(t, PID_NODES, 0, "process_name", title, -1);
    meta(t, PID_LINKS, 0, "process_name", "links to the switch", -1);
    fprintf(ev(t),
            "{\"ph\":\"M\",\"pid\":%d,\"name\":\"process_sort_index\","
            "\"args\":{\"sort_index\":%d}}",
            PID_LINKS, 2);
    for (int k = 0; k < t->n_nodes; k++) {
        meta(t, PID_NODES, k, "thread_name", t->names[k], k);
        for (int l = 0; l < ln[k].n; l++) {
            char name[96];
            if (l == 0)
                snprintf(name, sizeof name, "%s link", t->names[k]);
            else
                snprintf(name, sizeof name, "%s link #%d", t->names[k], l + 1);
            meta(t, PID_LINKS, k * LANE_STRIDE + l, "thread_name", name,
                 k * LANE_STRIDE + l);
        }
    }
    for (size_t i = 0; i < r->n_events; i++) {
        const db_event *e = &r->events[i];
        if (strcmp(e->kind, "send") == 0)
            continue;
        int node = node_of(t, e->entity);
        fprintf(ev(t),
                "{\"ph\":\"X\",\"cat\":\"%s\",\"pid\":%d,\"tid\":%d,"
                "\"ts\":%.6f,\"dur\":%.6f,\"name\":",
                e->kind, PID_NODES, node, us(e->time), us(e->duration));
        put_string(t->f, e->kind);
        fputc('}', t->f);
        c->slices++;
    }
    for (size_t i = 0; i < n_msgs; i++) {
        const msg *g = &msgs[i];
        link_slice(t, g, g->src, g->send_lane, 1);
        c->slices++;
        if (g->dst < 0)
            continue;
        link_slice(t, g, g->dst, g->recv_lane, 0);
        c->slices++;
        c->matched++;
        /* The arrow leaves the send slice at its start and ends on the recv
         * slice ("bp":"e": bound to the slice that encloses it), just
         * inside its end: viewers differ on whether a slice encloses its
         * own end. */
        fprintf(ev(t),
                "{\"ph\":\"s\",\"cat\":\"msg\",\"name\":\"message\","
                "\"id\":%zu,\"pid\":%d,\"tid\":%d,\"ts\":%.6f}",
                i, PID_LINKS, g->src * LANE_STRIDE + g->send_lane,
                us(g->start));
        fprintf(ev(t),
                "{\"ph\":\"f\",\"bp\":\"e\",\"cat\":\"msg\","
                "\"name\":\"message\",\"id\":%zu,\"pid\":%d,\"tid\":%d,"
                "\"ts\":%.6f}",
                i, PID_LINKS, g->dst * LANE_STRIDE + g->recv_lane,
                us(g->end) - 1e-3 * us(g->end - g->start));
        c->flows++;
    }
    for (size_t i = 0; i < r->n_metrics; i++) {
        const db_metric *x = &r->metrics[i];
        if (!isfinite(x->test_accuracy))
            continue;
        fprintf(ev(t),
                "{\"ph\":\"C\",\"pid\":%d,\"tid\":0,\"ts\":%.6f,"
                "\"name\":\"test accuracy\",\"args\":{\"accuracy\":%.6f}}",
                PID_NODES, us(x->sim_time), x->test_accuracy);
        c->counters++;
    }
    rc = 0;
out:
    for (int k = 0; ln && k < t->n_nodes; k++)
        free(ln[k].ends);
    free(ln);
    free(starts);
    free(msgs);
    return rc;
}

int trace_write(const char *path, const trace_run *r, trace_counts *counts,
                sim_err *err)
{
    trace_counts c = {0};
    tracer t = {.first = 1};
    int rc = 0;
    if (collect_nodes(&t, r)) {
        rc = sim_err_set(err, SIM_ENOMEM, "out of memory writing a trace");
        goto out;
    }
    t.f = fopen(path, "w");
    if (!t.f) {
        rc = sim_err_set(err, SIM_EIO, "%s: cannot write the trace: %s", path,
                         strerror(errno));
        goto out;
    }
    fprintf(t.f,
            "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"run_id\":%lld,"
            "\"time\":\"simulated microseconds\"},\"traceEvents\":[",
            (long long)r->run_id);
    if (write_all(&t, r, &c)) {
        fclose(t.f);
        rc = sim_err_set(err, SIM_ENOMEM, "out of memory writing a trace");
        goto out;
    }
    fputs("\n]}\n", t.f);
    int bad = ferror(t.f);
    if (fclose(t.f) != 0 || bad)
        rc = sim_err_set(err, SIM_EIO, "%s: cannot write the trace: %s", path,
                         strerror(errno ? errno : EIO));
out:
    for (int k = 0; t.names && k < t.n_nodes; k++)
        free(t.names[k]);
    free(t.names);
    if (counts)
        *counts = c;
    return rc;
}
