/* D-PSGD: its mixing weights as units, and through the binary: on a
 * complete graph with uniform weights it is MA with one local step, the
 * bytes of each gossip graph, a straggler on a ring, crashes, and the
 * configs it refuses. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algorithms/gossip.h"
#include "sim/io/config.h"
#include "sim/run/runner.h"
#include "tests/support.h"

/* ---- helpers ---- */

static char *db_in(const char *dir, const char *name)
{
    char *p = malloc(512);
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static void run_ok(const char *const *args)
{
    ts_result r;
    ts_run_dtsim(&r, args);
    cr_assert_eq(r.exit_code, 0, "dtsim failed: %s", r.err);
}

/* Every column of every row of sql, as doubles in row order (NULL as NaN);
 * returns how many values, at most max. */
static size_t read_reals(const char *db_path, const char *sql, double *out,
                         size_t max)
{
    sqlite3 *db;
    size_t n = 0;
    cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK, "%s", db_path);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(db));
    while (sqlite3_step(st) == SQLITE_ROW)
        for (int c = 0; c < sqlite3_column_count(st) && n < max; c++)
            out[n++] = sqlite3_column_type(st, c) == SQLITE_NULL
                           ? NAN
                           : sqlite3_column_double(st, c);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static double real_of(const char *db, const char *sql)
{
    double v = NAN;
    cr_assert_eq(read_reals(db, sql, &v, 1), 1, "no value: %s", sql);
    return v;
}

/* ---- weights ---- */

static void graph_of(gossip_graph *g, int K, const int (*edges)[2], int n_edges)
{
    int deg[16] = {0}, lists[16][16];
    const int *ptr[16];
    for (int i = 0; i < n_edges; i++) {
        int a = edges[i][0], b = edges[i][1];
        lists[a][deg[a]++] = b;
        lists[b][deg[b]++] = a;
    }
    for (int k = 0; k < K; k++)
        ptr[k] = lists[k];
    cr_assert_eq(gossip_graph_lists(g, K, ptr, deg), 0);
}

/* W as a dense K x K matrix. */
static void dense(const gossip_graph *g, const double *wt, const double *self,
                  double W[16][16])
{
    memset(W, 0, sizeof(double[16][16]));
    for (int k = 0; k < g->K; k++) {
        W[k][k] = self[k];
        for (int e = g->off[k]; e < g->off[k + 1]; e++)
            W[k][g->adj[e]] = wt[e];
    }
}

/* Rows and columns sum to 1, symmetric, non-negative. */
static void assert_doubly_stochastic(const gossip_graph *g, double W[16][16])
{
    for (int i = 0; i < g->K; i++) {
        double row = 0, col = 0;
        for (int j = 0; j < g->K; j++) {
            row += W[i][j];
            col += W[j][i];
            cr_assert_geq(W[i][j], 0.0, "W[%d][%d] = %g", i, j, W[i][j]);
            cr_assert_eq(W[i][j], W[j][i],
                         "W[%d][%d] = %.17g, W[%d][%d] = %.17g", i, j, W[i][j],
                         j, i, W[j][i]);
        }
        cr_assert_float_eq(row, 1.0, 1e-15, "row %d sums to %.17g", i, row);
        cr_assert_float_eq(col, 1.0, 1e-15, "column %d sums to %.17g", i, col);
    }
}

Test(weights, metropolis_on_a_ring_is_a_third_each)
{
    gossip_graph g = {0};
    cr_assert_eq(gossip_graph_ring(&g, 7), 0);
    double wt[14], self[7], W[16][16];
    cr_assert_eq(g.off[7], 14, "two neighbours each");
    cr_assert_eq(gossip_weights(&g, GOSSIP_METROPOLIS, NULL, wt, self), 0);
    dense(&g, wt, self, W);
    assert_doubly_stochastic(&g, W);
    for (int k = 0; k < 7; k++) {
        cr_assert_float_eq(W[k][(k + 1) % 7], 1.0 / 3, 1e-15);
        cr_assert_float_eq(W[k][(k + 6) % 7], 1.0 / 3, 1e-15);
        cr_assert_float_eq(W[k][k], 1.0 / 3, 1e-15);
        cr_assert_eq(W[k][(k + 3) % 7], 0.0);
    }
    gossip_graph_free(&g);
}

/* A hub 0 with five spokes, a path 1-2-3 and a pendant 6 off 5: degrees
 * 5, 2, 3, 2, 1, 2, 1. */
static const int irregular[][2] = {{0, 1}, {0, 2}, {0, 3}, {0, 4},
                                   {0, 5}, {1, 2}, {2, 3}, {5, 6}};

Test(weights, metropolis_on_an_irregular_graph_is_doubly_stochastic)
{
    gossip_graph g = {0};
    graph_of(&g, 7, irregular, 8);
    cr_assert_not(gossip_regular(&g));
    cr_assert_eq(gossip_connected(&g, NULL), 1);
    double wt[16], self[7], W[16][16];
    cr_assert_eq(gossip_weights(&g, GOSSIP_METROPOLIS, NULL, wt, self), 0);
    dense(&g, wt, self, W);
    assert_doubly_stochastic(&g, W);
    /* 1 / (1 + max degree) on each edge */
    cr_assert_float_eq(W[0][1], 1.0 / 6, 1e-15);
    cr_assert_float_eq(W[2][3], 1.0 / 4, 1e-15);
    cr_assert_float_eq(W[5][6], 1.0 / 3, 1e-15);
    cr_assert_float_eq(W[6][6], 2.0 / 3, 1e-15);
    gossip_graph_free(&g);
}

Test(weights, uniform_is_not_symmetric_on_an_irregular_graph)
{
    gossip_graph g = {0};
    graph_of(&g, 7, irregular, 8);
    double wt[16], self[7], W[16][16];
    cr_assert_eq(gossip_weights(&g, GOSSIP_UNIFORM, NULL, wt, self), 0);
    dense(&g, wt, self, W);
    for (int i = 0; i < 7; i++) {
        double row = 0;
        for (int j = 0; j < 7; j++)
            row += W[i][j];
        cr_assert_float_eq(row, 1.0, 1e-15);
    }
    cr_assert_float_eq(W[0][1], 1.0 / 6, 1e-15);
    cr_assert_float_eq(W[1][0], 1.0 / 3, 1e-15, "1 / (deg_1 + 1)");
    gossip_graph_free(&g);
}

Test(weights, a_worker_gone_is_left_out_and_the_rest_renormalised)
{
    gossip_graph g = {0};
    graph_of(&g, 7, irregular, 8);
    unsigned char gone[7] = {0};
    gone[2] = 1;
    double wt[16], self[7], W[16][16];
    cr_assert_eq(gossip_weights(&g, GOSSIP_METROPOLIS, gone, wt, self), 0);
    dense(&g, wt, self, W);
    for (int j = 0; j < 7; j++)
        if (j != 2)
            cr_assert_eq(W[2][j] + W[j][2], 0.0, "edge 2-%d still weighs", j);
    cr_assert_eq(W[2][2], 1.0);
    assert_doubly_stochastic(&g, W);
    /* 0 has 4 neighbours left, 1 has 1, 3 has 1 */
    cr_assert_float_eq(W[0][1], 1.0 / 5, 1e-15);
    cr_assert_float_eq(W[1][1], 4.0 / 5, 1e-15);
    gossip_graph_free(&g);
}

Test(weights, graphs_are_deduplicated_and_connectivity_is_found)
{
    static const int two_parts[][2] = {{0, 1}, {1, 0}, {0, 1}, {2, 3}};
    gossip_graph g = {0};
    graph_of(&g, 4, two_parts, 4);
    cr_assert_eq(g.off[1] - g.off[0], 1, "repeats dropped");
    int cut = -1;
    cr_assert_eq(gossip_connected(&g, &cut), 0);
    cr_assert(cut == 2 || cut == 3);
    cr_assert_eq(gossip_edge(&g, 2, 3), g.off[2]);
    cr_assert_eq(gossip_edge(&g, 2, 0), -1);
    gossip_graph_free(&g);
    cr_assert_eq(gossip_graph_ring(&g, 2), 0);
    cr_assert_eq(g.off[2], 2, "a ring of two is one edge");
    gossip_graph_free(&g);
    cr_assert_eq(gossip_graph_complete(&g, 5), 0);
    cr_assert_eq(g.off[5], 20);
    cr_assert(gossip_regular(&g));
    gossip_graph_free(&g);
}

/* ---- direct neighbours in the config's network ---- */

static cfg_experiment *load(const char *algorithm, int K, const char *network)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"algorithm\": {\"name\": \"%s\"}, \"data\": {\"path\": "
             "\"../data/breast_cancer.csv\"}, \"cluster\": {\"workers\": "
             "%d}, \"network\": %s}",
             algorithm, K, network);
    size_t n;
    const cfg_algorithm_spec *specs = rn_algorithm_specs(&n);
    cfg_experiment *e = NULL;
    sim_err err = {0};
    cr_assert_eq(
        cfg_load_string(text, "configs/t.json", specs, n, NULL, 0, &e, &err), 0,
        "%s", err.msg);
    return e;
}

/* Worker w's neighbours as "a,b,c". */
static const char *neighbours(const cfg_experiment *e, int w)
{
    static char buf[128];
    int out[16];
    int n = cfg_network_neighbours(e, w, out, 16);
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(buf + at, sizeof buf - at, i ? ",%d" : "%d",
                               out[i]);
    return buf;
}

Test(network, a_serverless_ring_joins_the_workers_only)
{
    cfg_experiment *e = load("dpsgd", 5, "{\"topology\": \"ring\"}");
    cr_assert_eq(cfg_network_hosts(e), 5);
    cr_assert_str_eq(neighbours(e, 0), "1,4");
    cr_assert_str_eq(neighbours(e, 4), "0,3");
    cfg_experiment_free(e);
    /* With a server, host 5 sits between workers 4 and 0. */
    e = load("ma", 5, "{\"topology\": \"ring\"}");
    cr_assert_eq(cfg_network_hosts(e), 6);
    cr_assert_str_eq(neighbours(e, 0), "1");
    cr_assert_str_eq(neighbours(e, 4), "3");
    cfg_experiment_free(e);
}

Test(network, neighbours_follow_each_topology)
{
    cfg_experiment *e =
        load("dpsgd", 6, "{\"topology\": \"tree\", \"arity\": 3}");
    cr_assert_str_eq(neighbours(e, 0), "1,2,3");
    cr_assert_str_eq(neighbours(e, 1), "0,4,5");
    cr_assert_str_eq(neighbours(e, 5), "1");
    cfg_experiment_free(e);
    e = load("dpsgd", 4, "{\"topology\": \"full\"}");
    cr_assert_str_eq(neighbours(e, 2), "0,1,3");
    cfg_experiment_free(e);
    e = load("dpsgd", 3, "{\"topology\": \"star\"}");
    cr_assert_str_eq(neighbours(e, 1), "");
    cfg_experiment_free(e);
    e = load("dpsgd", 4, "{\"topology\": \"hier\", \"racks\": 2}");
    cr_assert_str_eq(neighbours(e, 1), "");
    cfg_experiment_free(e);
    e = load("dpsgd", 3,
             "{\"topology\": \"graph\", \"nodes\": 4, \"cables\": "
             "[{\"a\": 2, \"b\": 0}, {\"a\": 0, \"b\": 2}, {\"a\": 1, "
             "\"b\": 3}, {\"a\": 3, \"b\": 0}]}");
    cr_assert_str_eq(neighbours(e, 0), "2", "node 3 is no worker");
    cr_assert_str_eq(neighbours(e, 1), "");
    cr_assert_eq(cfg_network_neighbours(e, 3, NULL, 0), -1);
    cfg_experiment_free(e);
}

/* ---- D-PSGD on a complete graph with uniform weights is MA, M = 1 ---- */

typedef struct same_case {
    const char *config;
    int workers, rounds;
} same_case;

static const same_case same_cases[] = {
    /* three workers: means divide by 3, which rounds */
    {"configs/seed/ma.json", 3, 300},
    {"configs/examples/mlp_ma.json", 8, 100},
};

ParameterizedTestParameters(dpsgd, complete_uniform_is_ma_with_one_local_step)
{
    static size_t idx[sizeof same_cases / sizeof same_cases[0]];
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, sizeof idx / sizeof idx[0]);
}

static const char model_rows[] = "SELECT step, test_accuracy, test_loss, "
                                 "train_loss FROM metrics ORDER BY step";

ParameterizedTest(size_t *i, dpsgd, complete_uniform_is_ma_with_one_local_step,
                  .timeout = 120)
{
    const same_case *c = &same_cases[*i];
    const char *dir = ts_tmpdir();
    char *ma = db_in(dir, "ma.db"), *dp = db_in(dir, "dp.db"),
         *ring = db_in(dir, "ring.db");
    char workers[64], alg_ma[160], alg_dp[160], alg_ring[160];
    snprintf(workers, sizeof workers, "cluster.workers=%d", c->workers);
    snprintf(alg_ma, sizeof alg_ma,
             "algorithm={\"name\": \"ma\", \"rounds\": %d, \"lr\": 0.1, "
             "\"local_steps\": 1}",
             c->rounds);
    snprintf(alg_dp, sizeof alg_dp,
             "algorithm={\"name\": \"dpsgd\", \"rounds\": %d, \"lr\": 0.1, "
             "\"graph\": \"complete\", \"weights\": \"uniform\"}",
             c->rounds);
    snprintf(alg_ring, sizeof alg_ring,
             "algorithm={\"name\": \"dpsgd\", \"rounds\": %d, \"lr\": 0.1}",
             c->rounds);
    const char *algs[] = {alg_ma, alg_dp, alg_ring};
    char *dbs[] = {ma, dp, ring};
    for (int r = 0; r < 3; r++)
        run_ok((const char *[]){"run", c->config, "--set", workers, "--set",
                                algs[r], "--set", "evaluation.train_loss=true",
                                "--set", "evaluation.every=1", "--out", dbs[r],
                                "--quiet", NULL});
    size_t cap = 4 * ((size_t)c->rounds + 1);
    double *x = calloc(cap, sizeof *x), *y = calloc(cap, sizeof *y),
           *z = calloc(cap, sizeof *z);
    size_t nx = read_reals(ma, model_rows, x, cap);
    size_t ny = read_reals(dp, model_rows, y, cap);
    size_t nz = read_reals(ring, model_rows, z, cap);
    cr_assert_eq(nx, cap, "a row per round and round 0");
    cr_assert_eq(ny, nx);
    cr_assert_eq(nz, nx);
    size_t ring_differs = 0;
    for (size_t v = 0; v < nx; v++) {
        cr_assert(x[v] == y[v] || (isnan(x[v]) && isnan(y[v])),
                  "row %zu column %zu: ma %.17g, dpsgd %.17g", v / 4, v % 4,
                  x[v], y[v]);
        ring_differs += x[v] != z[v];
    }
    /* The comparison can fail: a ring mixes differently. */
    cr_assert_gt(ring_differs, 0, "a ring of %d gave MA's rows", c->workers);
    const char final[] = "SELECT final_accuracy FROM runs";
    cr_assert_eq(real_of(ma, final), real_of(dp, final));
    /* Same math, different traffic: K (K - 1) models a round, no server. */
    double bytes_ma = real_of(ma, "SELECT total_bytes FROM runs");
    double bytes_dp = real_of(dp, "SELECT total_bytes FROM runs");
    cr_assert_float_eq(bytes_dp / bytes_ma, (c->workers - 1) / 2.0, 1e-12);
    free(x);
    free(y);
    free(z);
    free(ma);
    free(dp);
    free(ring);
}

Test(dpsgd, one_worker_is_sgd, .timeout = 60)
{
    const char *dir = ts_tmpdir();
    char *a = db_in(dir, "a.db"), *b = db_in(dir, "b.db");
    run_ok((const char *[]){"run", "configs/examples/softmax_ssgd.json",
                            "--set", "cluster.workers=1", "--set",
                            "algorithm.rounds=40", "--out", a, "--quiet",
                            NULL});
    run_ok((const char *[]){"run", "configs/examples/softmax_ssgd.json",
                            "--set", "cluster.workers=1", "--set",
                            "algorithm={\"name\": \"dpsgd\", \"rounds\": 40, "
                            "\"lr\": 0.5}",
                            "--out", b, "--quiet", NULL});
    double x[4 * 64], y[4 * 64];
    size_t nx = read_reals(a, model_rows, x, 4 * 64);
    cr_assert_gt(nx, 4);
    cr_assert_eq(read_reals(b, model_rows, y, 4 * 64), nx);
    for (size_t v = 0; v < nx; v++)
        cr_assert(x[v] == y[v] || (isnan(x[v]) && isnan(y[v])),
                  "value %zu: ssgd %.17g, dpsgd %.17g", v, x[v], y[v]);
    cr_assert_eq(ts_sql_count(b, "SELECT total_bytes FROM runs"), 0,
                 "no neighbour, no message");
    free(a);
    free(b);
}

/* ---- bytes: each round each worker sends its model to each neighbour ---- */

typedef struct bytes_case {
    const char *name;
    const char *algorithm; /* graph and weights */
    const char *network;
    int workers;
    int deg[8]; /* each worker's neighbours, from the graph's definition */
} bytes_case;

static const bytes_case bytes_cases[] = {
    {"ring on a star",
     "\"graph\": \"ring\"",
     "{\"topology\": \"star\"}",
     5,
     {2, 2, 2, 2, 2}},
    {"ring of two",
     "\"graph\": \"ring\"",
     "{\"topology\": \"star\"}",
     2,
     {1, 1}},
    {"complete, uniform",
     "\"graph\": \"complete\", \"weights\": \"uniform\"",
     "{\"topology\": \"star\"}",
     4,
     {3, 3, 3, 3}},
    {"the network's ring",
     "\"graph\": \"network\"",
     "{\"topology\": \"ring\"}",
     6,
     {2, 2, 2, 2, 2, 2}},
    /* node i under (i - 1) / 2: 0 has 1, 2; 1 has 0, 3, 4; 2 has 0, 5, 6 */
    {"the network's tree",
     "\"graph\": \"network\"",
     "{\"topology\": \"tree\", \"arity\": 2}",
     7,
     {2, 3, 3, 1, 1, 1, 1}},
    {"the network's full mesh",
     "\"graph\": \"network\"",
     "{\"topology\": \"full\"}",
     4,
     {3, 3, 3, 3}},
    /* workers 0-4 on a ring of cables plus a chord 0-2, a repeated cable,
     * and cables to a switch (node 5) that join no two workers directly */
    {"an explicit graph",
     "\"graph\": \"network\"",
     "{\"topology\": \"graph\", \"nodes\": 6, \"cables\": [{\"a\": 0, \"b\": "
     "1}, {\"a\": 1, \"b\": 2}, {\"a\": 2, \"b\": 3}, {\"a\": 3, \"b\": 4}, "
     "{\"a\": 4, \"b\": 0}, {\"a\": 2, \"b\": 0}, {\"a\": 1, \"b\": 0}, "
     "{\"a\": 1, \"b\": 5}, {\"a\": 3, \"b\": 5}]}",
     5,
     {3, 2, 3, 2, 2}},
};

ParameterizedTestParameters(dpsgd, sends_each_neighbour_one_model_a_round)
{
    static size_t idx[sizeof bytes_cases / sizeof bytes_cases[0]];
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, sizeof idx / sizeof idx[0]);
}

ParameterizedTest(size_t *i, dpsgd, sends_each_neighbour_one_model_a_round,
                  .timeout = 60)
{
    const bytes_case *c = &bytes_cases[*i];
    const int rounds = 37;
    /* logistic regression on 30 features and a bias: 31 values, float32,
     * plus a 16-byte header */
    const long model_bytes = 31 * 4 + 16;
    char *db = db_in(ts_tmpdir(), "b.db");
    char alg[256], net[1024], workers[64];
    snprintf(alg, sizeof alg,
             "algorithm={\"name\": \"dpsgd\", \"rounds\": %d, \"lr\": 0.1, %s}",
             rounds, c->algorithm);
    snprintf(net, sizeof net, "network=%s", c->network);
    snprintf(workers, sizeof workers, "cluster.workers=%d", c->workers);
    run_ok((const char *[]){
        "run", "configs/seed/ma.json", "--set", alg, "--set", net, "--set",
        workers, "--set", "network.precision=float32", "--set",
        "network.header_bytes=16", "--out", db, "--quiet", NULL});
    long sum_deg = 0;
    for (int k = 0; k < c->workers; k++) {
        sum_deg += c->deg[k];
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT bytes_sent FROM workers WHERE worker = %d", k);
        cr_assert_eq(ts_sql_count(db, sql), rounds * c->deg[k] * model_bytes,
                     "%s: worker %d", c->name, k);
        snprintf(sql, sizeof sql,
                 "SELECT updates FROM workers WHERE worker = %d", k);
        cr_assert_eq(ts_sql_count(db, sql), rounds, "%s: worker %d", c->name,
                     k);
    }
    cr_assert_eq(ts_sql_count(db, "SELECT total_bytes FROM runs WHERE status "
                                  "= 'done'"),
                 rounds * sum_deg * model_bytes, "%s", c->name);
    cr_assert_eq(ts_sql_count(db, "SELECT total_messages FROM runs"),
                 rounds * sum_deg, "%s", c->name);
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM workers"), c->workers,
                 "no server among the workers");
    free(db);
}

/* ---- a straggler on a ring ---- */

/* When each worker ended its last computation. */
static void last_compute_ends(const char *db, int K, double *end)
{
    for (int k = 0; k < K; k++) {
        char sql[160];
        snprintf(sql, sizeof sql,
                 "SELECT MAX(time + duration) FROM events WHERE kind = "
                 "'compute' AND entity = 'worker%d'",
                 k);
        end[k] = real_of(db, sql);
    }
}

Test(dpsgd, a_straggler_on_a_ring_holds_up_its_neighbours_most, .timeout = 60)
{
    /* 8 workers, batches of 8 rows at 10 us a row: 80 us a step, 1.6 ms
     * on worker 0, twenty times slower. */
    const int K = 8, rounds = 40;
    const double slow_step = 8 * 10e-6 * 20;
    const char *dir = ts_tmpdir();
    char *ring = db_in(dir, "ring.db"), *full = db_in(dir, "full.db");
    const char *graphs[] = {"ring", "complete"};
    char *dbs[] = {ring, full};
    for (int g = 0; g < 2; g++) {
        char alg[160];
        snprintf(alg, sizeof alg,
                 "algorithm={\"name\": \"dpsgd\", \"rounds\": %d, \"lr\": "
                 "0.1, \"graph\": \"%s\"}",
                 rounds, graphs[g]);
        run_ok((const char *[]){
            "run", "configs/seed/ma.json", "--set", alg, "--set",
            "cluster.workers=8", "--set",
            "cluster.slowdown=[{\"worker\": 0, \"factor\": 20}]", "--set",
            "batch={\"size\": 8}", "--set", "output.events=true", "--out",
            dbs[g], "--quiet", NULL});
        cr_assert_eq(ts_sql_count(dbs[g], "SELECT COUNT(*) FROM runs WHERE "
                                          "status = 'done'"),
                     1);
        cr_assert_eq(ts_sql_count(dbs[g], "SELECT MIN(updates) FROM workers"),
                     rounds, "every worker mixed every round");
    }
    double end[8];
    /* On the ring a worker d hops away runs up to d rounds ahead: the
     * further from the straggler, the earlier it is through. */
    last_compute_ends(ring, K, end);
    for (int d = 1; d <= K / 2; d++) {
        cr_assert_lt(end[d], end[d - 1], "worker %d ended at %g, %d at %g", d,
                     end[d], d - 1, end[d - 1]);
        cr_assert_lt(end[K - d], end[(K - d + 1) % K],
                     "worker %d ended at %g, %d at %g", K - d, end[K - d],
                     (K - d + 1) % K, end[(K - d + 1) % K]);
    }
    cr_assert_gt(end[0] - end[K / 2], 3 * slow_step,
                 "the far side was only %g s ahead", end[0] - end[K / 2]);
    /* On a complete graph everyone waits for it every round. */
    last_compute_ends(full, K, end);
    for (int k = 1; k < K; k++)
        cr_assert_lt(end[0] - end[k], slow_step, "worker %d ran ahead by %g s",
                     k, end[0] - end[k]);
    free(ring);
    free(full);
}

Test(dpsgd, timing_changes_when_rounds_end_not_what_they_compute, .timeout = 60)
{
    /* With a straggler, neighbours' next-round models arrive before a
     * round is mixed; buffered by round, the math is that of a run without
     * it. Only the order in which the workers' models join the evaluated
     * mean changes (they are added as the workers finish mixing), hence
     * a tolerance of 1e-12 on losses rather than equality. */
    const char *dir = ts_tmpdir();
    char *slow = db_in(dir, "slow.db"), *even = db_in(dir, "even.db");
    const char *slowdown[] = {
        "cluster.slowdown=[{\"worker\": 0, \"factor\": 20}, {\"worker\": "
        "5, \"factor\": 7}]",
        "cluster.slowdown=[]"};
    char *dbs[] = {slow, even};
    for (int r = 0; r < 2; r++)
        run_ok((const char *[]){
            "run", "configs/seed/ma.json", "--set",
            "algorithm={\"name\": \"dpsgd\", \"rounds\": 60, \"lr\": 0.1}",
            "--set", "cluster.workers=8", "--set", slowdown[r], "--set",
            "evaluation.train_loss=true", "--out", dbs[r], "--quiet", NULL});
    double x[4 * 61], y[4 * 61];
    cr_assert_eq(read_reals(slow, model_rows, x, 4 * 61), 4 * 61);
    cr_assert_eq(read_reals(even, model_rows, y, 4 * 61), 4 * 61);
    for (size_t v = 0; v < 4 * 61; v++)
        cr_assert(fabs(x[v] - y[v]) <= 1e-12 * fabs(y[v]),
                  "row %zu column %zu: %.17g with stragglers, %.17g without",
                  v / 4, v % 4, x[v], y[v]);
    const char t[] = "SELECT sim_seconds FROM runs";
    cr_assert_gt(real_of(slow, t), 5 * real_of(even, t));
    free(slow);
    free(even);
}

/* ---- crashes ---- */

static const char crash_alg[] =
    "algorithm={\"name\": \"dpsgd\", \"rounds\": 200, \"lr\": 0.1}";

Test(dpsgd, a_dropped_worker_leaves_the_ring_and_the_rest_go_on, .timeout = 60)
{
    char *db = db_in(ts_tmpdir(), "d.db");
    run_ok((const char *[]){"run", "configs/seed/ma.json", "--set", crash_alg,
                            "--set", "cluster.workers=6", "--set",
                            "cluster.crash=[{\"worker\": 2, \"at\": \"10ms\"}]",
                            "--set", "cluster.on_crash=drop", "--set",
                            "cluster.drop_timeout=5ms", "--out", db, "--quiet",
                            NULL});
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM runs WHERE status = "
                                  "'done'"),
                 1);
    cr_assert_eq(ts_sql_count(db, "SELECT MAX(step) FROM metrics"), 200);
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM workers WHERE worker "
                                  "<> 2 AND updates = 200"),
                 5);
    long crashed = ts_sql_count(db, "SELECT updates FROM workers WHERE worker "
                                    "= 2");
    cr_assert(crashed > 0 && crashed < 200, "worker 2 mixed %ld rounds",
              crashed);
    /* Its neighbours stop sending to it: fewer bytes than the far side. */
    cr_assert_lt(ts_sql_count(db, "SELECT bytes_sent FROM workers WHERE "
                                  "worker = 1"),
                 ts_sql_count(db, "SELECT bytes_sent FROM workers WHERE "
                                  "worker = 4"));
    free(db);
}

Test(dpsgd, a_crash_without_recovery_stalls_the_run, .timeout = 60)
{
    char *db = db_in(ts_tmpdir(), "w.db");
    run_ok((const char *[]){"run", "configs/seed/ma.json", "--set", crash_alg,
                            "--set", "cluster.workers=6", "--set",
                            "cluster.crash=[{\"worker\": 2, \"at\": \"10ms\"}]",
                            "--out", db, "--quiet", NULL});
    char *err = ts_sql_dump(db, "SELECT status, error FROM runs");
    cr_assert(err && strstr(err, "failed") &&
                  strstr(err, "waiting for worker 2, which crashed"),
              "%s", err ? err : "(none)");
    free(err);
    free(db);
}

Test(dpsgd, a_recovered_worker_gets_what_it_missed_and_catches_up,
     .timeout = 60)
{
    const char *dir = ts_tmpdir();
    char *db = db_in(dir, "r.db"), *clean = db_in(dir, "c.db");
    run_ok((const char *[]){
        "run", "configs/seed/ma.json", "--set", crash_alg, "--set",
        "cluster.workers=6", "--set",
        "cluster.crash=[{\"worker\": 2, \"at\": \"10ms\", \"recover_after\": "
        "\"5ms\"}]",
        "--out", db, "--quiet", NULL});
    run_ok((const char *[]){"run", "configs/seed/ma.json", "--set", crash_alg,
                            "--set", "cluster.workers=6", "--out", clean,
                            "--quiet", NULL});
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM runs WHERE status = "
                                  "'done'"),
                 1);
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM workers WHERE updates "
                                  "= 200"),
                 6);
    /* Its neighbours sent again what it lost; nobody else did. */
    const char recv2[] = "SELECT bytes_received FROM workers WHERE worker = 2";
    cr_assert_gt(ts_sql_count(db, recv2), ts_sql_count(clean, recv2));
    const char sent4[] = "SELECT bytes_sent FROM workers WHERE worker = 4";
    cr_assert_eq(ts_sql_count(db, sent4), ts_sql_count(clean, sent4));
    /* and the outage cost time */
    cr_assert_gt(real_of(db, "SELECT sim_seconds FROM runs"),
                 real_of(clean, "SELECT sim_seconds FROM runs") + 0.002);
    free(db);
    free(clean);
}

/* ---- configs it refuses ---- */

typedef struct bad_case {
    const char *set[3]; /* --set values, NULL-terminated */
    const char *where;  /* the JSON path in the message */
    const char *what;   /* and a word of the reason */
} bad_case;

static const bad_case bad_cases[] = {
    {{"algorithm={\"name\": \"dpsgd\", \"graph\": \"network\"}", NULL},
     "$.algorithm.graph",
     "topology \"star\""},
    {{"algorithm={\"name\": \"dpsgd\", \"graph\": \"network\"}",
      "network={\"topology\": \"hier\", \"racks\": 2}", NULL},
     "$.algorithm.graph",
     "topology \"hier\""},
    {{"algorithm={\"name\": \"dpsgd\", \"graph\": \"network\", \"weights\": "
      "\"uniform\"}",
      "network.topology=tree", NULL},
     "$.algorithm.weights",
     "regular"},
    {{"algorithm={\"name\": \"dpsgd\", \"graph\": \"network\"}",
      "network={\"topology\": \"graph\", \"nodes\": 5, \"cables\": [{\"a\": "
      "0, \"b\": 1}, {\"a\": 2, \"b\": 3}, {\"a\": 1, \"b\": 4}, {\"a\": 2, "
      "\"b\": 4}]}",
      NULL},
     "$.algorithm.graph",
     "cut off"},
    {{"algorithm={\"name\": \"dpsgd\"}",
      "network.compression={\"codec\": \"fp16\"}", NULL},
     "$.network.compression",
     "neighbours"},
    {{"algorithm={\"name\": \"dpsgd\", \"graph\": \"torus\"}", NULL},
     "$.algorithm.graph",
     "\"network\""},
    {{"algorithm={\"name\": \"dpsgd\", \"weights\": \"equal\"}", NULL},
     "$.algorithm.weights",
     "\"metropolis\""},
};

ParameterizedTestParameters(dpsgd, refuses_with_one_located_line)
{
    static size_t idx[sizeof bad_cases / sizeof bad_cases[0]];
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, sizeof idx / sizeof idx[0]);
}

ParameterizedTest(size_t *i, dpsgd, refuses_with_one_located_line,
                  .timeout = 60)
{
    const bad_case *c = &bad_cases[*i];
    char *db = db_in(ts_tmpdir(), "never.db");
    const char *args[16] = {"run", "configs/seed/ma.json"};
    int n = 2;
    for (int s = 0; c->set[s]; s++) {
        args[n++] = "--set";
        args[n++] = c->set[s];
    }
    args[n++] = "--out";
    args[n++] = db;
    args[n] = NULL;
    ts_result r;
    ts_run_dtsim(&r, args);
    cr_assert_eq(r.exit_code, 2, "exit %d: %s", r.exit_code, r.err);
    char where[128];
    snprintf(where, sizeof where, "configs/seed/ma.json: %s: ", c->where);
    cr_assert(strncmp(r.err, "dtsim: ", 7) == 0 && strstr(r.err, where) &&
                  strstr(r.err, c->what),
              "case %zu: %s", *i, r.err);
    const char *nl = strchr(r.err, '\n');
    cr_assert(nl && nl[1] == '\0', "one line: %s", r.err);
    FILE *f = fopen(db, "r");
    cr_assert_null(f, "a database was written");
    free(db);
}
