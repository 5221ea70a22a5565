/* test_topology_run.c: whole runs through the binary over the topologies
 * and collectives of $.network and $.algorithm.collective, against closed
 * forms: a ring all-reduce round, parameter-server against ring bytes, a
 * link event, determinism; and the engine's conservation check. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/run/engine.h"
#include "support.h"

/* Compute is made negligible (one sample of 1e-12 s per round) so that a
 * round is its communication. The header makes a message S = 8 n + H
 * bytes, a multiple of 8 whatever the model's size n, so that S/K is whole
 * for K in 2, 4, 8 and the ring's chunks are equal. */
#define COMPUTE_S 1e-12
#define HEADER 1000000
#define LAT 1e-4
#define BW 1e8

typedef struct run_result {
    double sim_seconds;
    double bytes;
    double accuracy;
} run_result;

static double sql_double(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    double v = NAN;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) ==
            SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Writes a config of K workers and `rounds` rounds of algorithm alg over
 * collective and network (a JSON object), runs it, and reads its totals. */
static run_result run_cfg(const char *alg, const char *collective, int K,
                          int rounds, const char *network)
{
    char cwd[2048], json[4096];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    snprintf(json, sizeof json,
             "{\"seed\": 3,\n"
             " \"algorithm\": {\"name\": \"%s\", \"rounds\": %d, "
             "\"collective\": \"%s\"},\n"
             " \"data\": {\"path\": \"%s/data/breast_cancer.csv\"},\n"
             " \"batch\": {\"size\": 1},\n"
             " \"cluster\": {\"workers\": %d, \"compute\": "
             "{\"seconds_per_sample\": %g}},\n"
             " \"network\": %s}\n",
             alg, rounds, collective, cwd, K, COMPUTE_S, network);
    const char *dir = ts_tmpdir();
    char *cfg = ts_write_file(dir, "c.json", json);
    char db[600];
    snprintf(db, sizeof db, "%s/r.db", dir);
    ts_result r;
    ts_run_dtsim(&r,
                 (const char *[]){"run", cfg, "--out", db, "--quiet", NULL});
    cr_assert(eq(int, r.exit_code, 0), "dtsim failed: %s\n%s", r.err, json);
    cr_assert(eq(long,
                 ts_sql_count(db, "SELECT COUNT(*) FROM runs WHERE "
                                  "status = 'done'"),
                 1));
    run_result res = {
        .sim_seconds = sql_double(db, "SELECT sim_seconds FROM runs"),
        .bytes = sql_double(db, "SELECT total_bytes FROM runs"),
        .accuracy = sql_double(db, "SELECT final_accuracy FROM runs")};
    free(cfg);
    return res;
}

static char *net_json(const char *topology, const char *extra)
{
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"topology\": \"%s\", \"latency\": %g, \"bandwidth\": %g, "
             "\"header_bytes\": %d%s}",
             topology, LAT, BW, HEADER, extra);
    return buf;
}

/* S, the bytes of one model message, from a parameter-server run: each of
 * R rounds moves 2 K messages. */
static double model_bytes(int K, int rounds)
{
    run_result ps = run_cfg("ssgd", "ps", K, rounds, net_json("star", ""));
    return ps.bytes / (2.0 * K * rounds);
}

static void assert_close(double got, double want, double rel, const char *what)
{
    cr_assert(fabs(got - want) <= rel * fabs(want), "%s: got %.12g, want %.12g",
              what, got, want);
}

Test(topology_run, ring_allreduce_round_matches_the_closed_form, .timeout = 120)
{
    const int rounds = 3;
    const int Ks[] = {2, 4, 8};
    for (size_t i = 0; i < sizeof Ks / sizeof Ks[0]; i++) {
        int K = Ks[i];
        double S = model_bytes(K, rounds);
        cr_assert(fmod(S, 8) == 0, "S = %g", S);
        run_result r = run_cfg("ssgd", "ring", K, rounds, net_json("ring", ""));
        double round = 2.0 * (K - 1) * (LAT + S / (K * BW)) + COMPUTE_S;
        assert_close(r.sim_seconds, rounds * round, 1e-9, "ring time");
        /* Each member sends 2 (K - 1) chunks of S / K. */
        assert_close(r.bytes, rounds * 2.0 * (K - 1) * S, 0, "ring bytes");
    }
}

Test(topology_run, ps_moves_2KS_a_round_and_ring_2_K_minus_1_S, .timeout = 120)
{
    const int K = 8, rounds = 2;
    double S = model_bytes(K, rounds);
    run_result ps = run_cfg("ssgd", "ps", K, rounds, net_json("star", ""));
    run_result ring = run_cfg("ssgd", "ring", K, rounds, net_json("star", ""));
    assert_close(ps.bytes, rounds * 2.0 * K * S, 0, "ps bytes");
    assert_close(ring.bytes, rounds * 2.0 * (K - 1) * S, 0, "ring bytes");
    /* The math is the same: only time and bytes depend on the collective. */
    cr_assert(eq(dbl, ps.accuracy, ring.accuracy));
    /* Over a star the server's link carries all K models each way, so the
     * ring is faster by about a factor K / 2 at this size. */
    cr_assert(ring.sim_seconds < ps.sim_seconds / 2, "ring %g, ps %g",
              ring.sim_seconds, ps.sim_seconds);
}

Test(topology_run, sharded_servers_divide_the_server_link_load, .timeout = 120)
{
    /* K workers, P servers on a star: each worker pushes P shards of S/P
     * (its uplink shared P ways), each server's downlink takes K of them
     * at B/K each, and the pull mirrors it: a round is
     * 2 (2L + K S / (P B)) plus compute, and the bytes stay 2 K S. */
    const int K = 8, P = 4, rounds = 2;
    double S = model_bytes(K, rounds);
    char extra[64];
    snprintf(extra, sizeof extra, ", \"servers\": %d", P);
    run_result r = run_cfg("ssgd", "ps", K, rounds, net_json("star", extra));
    double round = 2 * (2 * LAT + K * S / (P * BW)) + COMPUTE_S;
    assert_close(r.sim_seconds, rounds * round, 1e-9, "sharded time");
    assert_close(r.bytes, rounds * 2.0 * K * S, 0, "sharded bytes");
    run_result one = run_cfg("ssgd", "ps", K, rounds, net_json("star", ""));
    cr_assert(eq(dbl, r.accuracy, one.accuracy));
}

Test(topology_run, every_synchronous_algorithm_runs_over_every_allreduce,
     .timeout = 120)
{
    const char *algs[] = {"ssgd", "ma", "bmuf", "easgd"};
    for (size_t a = 0; a < 4; a++) {
        run_result ps = run_cfg(algs[a], "ps", 4, 2, net_json("star", ""));
        run_result ring = run_cfg(algs[a], "ring", 4, 2, net_json("ring", ""));
        run_result tree = run_cfg(algs[a], "tree", 4, 2, net_json("tree", ""));
        run_result hier =
            run_cfg(algs[a], "hier", 4, 2, net_json("hier", ", \"racks\": 2"));
        cr_assert(eq(dbl, ps.accuracy, ring.accuracy), "%s", algs[a]);
        cr_assert(eq(dbl, ps.accuracy, tree.accuracy), "%s", algs[a]);
        cr_assert(eq(dbl, ps.accuracy, hier.accuracy), "%s", algs[a]);
        cr_assert(hier.sim_seconds > 0 && tree.bytes > 0);
    }
}

Test(topology_run, a_slower_link_slows_the_ring_as_the_recurrence_says,
     .timeout = 120)
{
    /* K = 2 on a ring: one cable, link 0 carries 0 -> 1 and link 1 the
     * reverse, each step a chunk c = S / 2. With link 0 at B / 2 from the
     * start, member 0 has its step 1 at L + c/B and sends its step 2 over
     * link 0 while its step 1 is still on it: link 0 carries 2c bytes at
     * B / 2 without a pause, so member 1 has everything at 4c/B + L (its
     * own step 2, sent once step 1 is in at 3c/B, arrives at the same
     * time). Without the event the round is 2(K-1)(L + S/(KB)). */
    const int rounds = 2;
    double S = model_bytes(2, rounds), c = S / 2;
    char extra[128];
    snprintf(extra, sizeof extra,
             ", \"events\": [{\"at\": 0, \"link\": 0, \"bandwidth\": %g}]",
             BW / 2);
    run_result slow =
        run_cfg("ssgd", "ring", 2, rounds, net_json("ring", extra));
    assert_close(slow.sim_seconds, rounds * (LAT + 4 * c / BW + COMPUTE_S),
                 1e-9, "slowed ring");
    run_result fast = run_cfg("ssgd", "ring", 2, rounds, net_json("ring", ""));
    assert_close(fast.sim_seconds, rounds * (2 * LAT + 2 * c / BW + COMPUTE_S),
                 1e-9, "ring");
}

Test(topology_run, a_link_that_goes_down_holds_its_flows_until_it_is_up,
     .timeout = 120)
{
    /* As above with link 0 down from 0 to t1: member 1's chunk arrives at
     * L + c/B, and member 0's two chunks both wait for t1, then share the
     * link (B/2 each) and arrive at t1 + 2c/B + L; member 1 then sends its
     * step 2, which arrives at t1 + 2L + 3c/B. One round only. */
    double S = model_bytes(2, 1), c = S / 2, t1 = 0.05;
    char extra[256];
    snprintf(extra, sizeof extra,
             ", \"events\": [{\"at\": 0, \"link\": 0, \"up\": false}, "
             "{\"at\": %g, \"link\": 0, \"up\": true}]",
             t1);
    run_result r = run_cfg("ssgd", "ring", 2, 1, net_json("ring", extra));
    assert_close(r.sim_seconds, t1 + 2 * LAT + 3 * c / BW, 1e-9, "down/up");
}

Test(topology_run, a_topology_config_gives_identical_rows, .timeout = 120)
{
    const char *net = net_json("hier", ", \"racks\": 2, \"wan\": {\"latency\": "
                                       "\"1ms\", \"bandwidth\": \"100Mbps\"}");
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", net);
    run_result a = run_cfg("bmuf", "hier", 6, 4, saved);
    run_result b = run_cfg("bmuf", "hier", 6, 4, saved);
    cr_assert(eq(dbl, a.sim_seconds, b.sim_seconds));
    cr_assert(eq(dbl, a.bytes, b.bytes));
    cr_assert(eq(dbl, a.accuracy, b.accuracy));
}

Test(topology_run, compression_charges_the_encoded_size, .timeout = 120)
{
    /* Sizes from sim/net/compress.h for n values of 8 bytes, plus the
     * header. Of the 2 K R messages, the K R gradients the workers send
     * are encoded; with "direction": "both" the K R models the server
     * sends are too, and otherwise those go as they are (S bytes). */
    const int K = 4, rounds = 2;
    double S = model_bytes(K, rounds), n = (S - HEADER) / 8;
    struct {
        const char *codec;
        double size;
    } cases[] = {
        {"{\"codec\": \"fp16\"}", 4 + 2 * n},
        {"{\"codec\": \"topk\", \"k\": 3}", 8 + 3 * (4 + 8)},
        {"{\"codec\": \"randk\", \"k\": 3}", 16 + 3 * 8},
        {"{\"codec\": \"qsgd\", \"levels\": 4}", 8 + 8 + ceil(n * (1 + 3) / 8)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char extra[160], codec[128];
        snprintf(extra, sizeof extra, ", \"compression\": %s", cases[i].codec);
        run_result r =
            run_cfg("ssgd", "ps", K, rounds, net_json("star", extra));
        assert_close(r.bytes, rounds * K * (cases[i].size + HEADER + S), 0,
                     cases[i].codec);
        /* The same codec object with "direction": "both" added. */
        snprintf(codec, sizeof codec, "%.*s, \"direction\": \"both\"}",
                 (int)strlen(cases[i].codec) - 1, cases[i].codec);
        snprintf(extra, sizeof extra, ", \"compression\": %s", codec);
        r = run_cfg("ssgd", "ps", K, rounds, net_json("star", extra));
        assert_close(r.bytes, rounds * 2.0 * K * (cases[i].size + HEADER), 0,
                     codec);
    }
}

Test(topology_run, compressed_runs_are_deterministic_and_change_the_math,
     .timeout = 120)
{
    const char *net =
        net_json("star", ", \"compression\": {\"codec\": \"qsgd\", "
                         "\"levels\": 2}");
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", net);
    run_result a = run_cfg("ssgd", "ps", 4, 10, saved);
    run_result b = run_cfg("ssgd", "ps", 4, 10, saved);
    cr_assert(eq(dbl, a.accuracy, b.accuracy));
    cr_assert(eq(dbl, a.sim_seconds, b.sim_seconds));
    /* Fewer bytes on the same links: a shorter run. */
    run_result plain = run_cfg("ssgd", "ps", 4, 10, net_json("star", ""));
    cr_assert(a.sim_seconds < plain.sim_seconds);
}

Test(topology_run, an_allreduce_with_crashes_is_refused_and_nothing_written)
{
    char cwd[2048], json[4096];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    snprintf(json, sizeof json,
             "{\"algorithm\": {\"name\": \"ssgd\", \"collective\": \"ring\"},"
             " \"data\": {\"path\": \"%s/data/breast_cancer.csv\"},"
             " \"cluster\": {\"workers\": 3, \"crash\": [{\"worker\": 1, "
             "\"at\": 0.1}]}}",
             cwd);
    const char *dir = ts_tmpdir();
    char *cfg = ts_write_file(dir, "c.json", json);
    char db[600];
    snprintf(db, sizeof db, "%s/r.db", dir);
    ts_result r;
    ts_run_dtsim(&r,
                 (const char *[]){"run", cfg, "--out", db, "--quiet", NULL});
    cr_assert(eq(int, r.exit_code, 2), "%s", r.err);
    cr_assert(strstr(r.err, "$.algorithm.collective: \"ring\" does not model "
                            "crashes") != NULL,
              "%s", r.err);
    cr_assert(access(db, F_OK) != 0, "a database was written");
    free(cfg);
}

Test(topology_run, conservation_violation_is_an_internal_error)
{
    sim_err err = {0};
    cr_assert(eq(int, eng_check_conservation(100, 100, 0, &err), 0));
    /* Messages in flight: the totals may differ. */
    cr_assert(eq(int, eng_check_conservation(100, 60, 2, &err), 0));
    cr_assert(eq(int, eng_check_conservation(100, 60, 0, &err), SIM_EINTERNAL));
    cr_assert(strstr(err.msg, "100 bytes sent, 60 received") != NULL, "%s",
              err.msg);
}
