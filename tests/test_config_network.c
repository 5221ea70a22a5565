/* test_config_network.c: $.network topologies, link events and
 * $.algorithm.collective: defaults, the JSON round trip, and one test per
 * class of error (file and JSON path named, one line). */
#include "sim/io/config.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A registry of our own: one algorithm with the collective parameter, one
 * without. */
static const cfg_param_spec ssgd_params[] = {
    {.name = "collective",
     .type = CFG_PARAM_CHOICE,
     .def = CFG_COLLECTIVE_PS,
     .choices = cfg_collective_names,
     .help = "ps or an all-reduce"},
};

static const cfg_algorithm_spec algs[] = {
    {.name = "ssgd",
     .summary = "synchronous SGD",
     .params = ssgd_params,
     .n_params = 1},
    {.name = "asgd", .summary = "asynchronous SGD"},
};
#define N_ALGS (sizeof algs / sizeof *algs)

static cfg_experiment *load_ok(const char *text)
{
    cfg_experiment *e = NULL;
    sim_err err = {0};
    int rc = cfg_load_string(text, "configs/net.json", algs, N_ALGS, NULL, 0,
                             &e, &err);
    cr_assert(eq(int, rc, 0), "load failed: %s", err.msg);
    return e;
}

static void round_trip(const char *text)
{
    cfg_experiment *a = load_ok(text);
    char *ja = cfg_experiment_to_json(a);
    cr_assert_not_null(ja);
    cfg_experiment *b = load_ok(ja);
    char *jb = cfg_experiment_to_json(b);
    cr_assert(eq(str, ja, jb));
    free(ja);
    free(jb);
    cfg_experiment_free(a);
    cfg_experiment_free(b);
}

#define CFG(alg, net)                                                          \
    "{\"algorithm\": " alg ", \"data\": {\"path\": \"d.csv\"}, "               \
    "\"cluster\": {\"workers\": 4}, \"network\": " net "}"
#define PS "{\"name\": \"ssgd\"}"
#define RING "{\"name\": \"ssgd\", \"collective\": \"ring\"}"
#define HIER "{\"name\": \"ssgd\", \"collective\": \"hier\"}"

static const char hier_config[] =
    CFG(HIER, "{\"topology\": \"hier\", \"racks\": 2, \"latency\": \"10us\","
              " \"wan\": {\"latency\": \"2ms\", \"bandwidth\": \"100Mbps\"},"
              " \"events\": [{\"at\": \"1ms\", \"link\": 3, \"bandwidth\": "
              "\"1Mbps\"}, {\"at\": 0.5, \"link\": 10, \"up\": false},"
              " {\"at\": 0.75, \"link\": 10, \"up\": true},"
              " {\"at\": 2, \"link\": 0, \"latency\": \"1ms\"}]}");

static const char graph_config[] =
    CFG(PS, "{\"topology\": \"graph\", \"nodes\": 6, \"bandwidth\": 1e6,"
            " \"cables\": [{\"a\": 0, \"b\": 5}, {\"a\": 1, \"b\": 5},"
            " {\"a\": 2, \"b\": 5, \"latency\": \"1ms\"},"
            " {\"a\": 3, \"b\": 5, \"reverse_bandwidth\": 2e6},"
            " {\"a\": 4, \"b\": 5, \"bandwidth\": 1e9}]}");

Test(cfg_net, star_is_the_default_and_needs_a_server_host)
{
    cfg_experiment *e = load_ok(CFG(PS, "{}"));
    cr_assert(eq(int, e->network.topology, CFG_TOPOLOGY_STAR));
    cr_assert(eq(int, cfg_algorithm_collective(e), CFG_COLLECTIVE_PS));
    cr_assert(eq(int, cfg_network_hosts(e), 5));
    cr_assert(eq(int, cfg_network_links(e), 10));
    cr_assert(eq(sz, e->network.n_events, 0));
    /* The default collective is not printed: star configs print as they
     * did before collectives existed. */
    char *j = cfg_experiment_to_json(e);
    cr_assert(strstr(j, "collective") == NULL);
    cr_assert(strstr(j, "\"link\"") == NULL);
    free(j);
    cfg_experiment_free(e);
}

Test(cfg_net, fills_hier_defaults_and_counts_links)
{
    cfg_experiment *e = load_ok(hier_config);
    cr_assert(eq(int, e->network.topology, CFG_TOPOLOGY_HIER));
    cr_assert(eq(int, cfg_algorithm_collective(e), CFG_COLLECTIVE_HIER));
    /* No server with an all-reduce: 4 hosts, 2 per rack by default. */
    cr_assert(eq(int, cfg_network_hosts(e), 4));
    cr_assert(eq(int, e->network.hosts_per_rack, 2));
    cr_assert(eq(dbl, e->network.wan.latency_s, 2e-3));
    cr_assert(eq(dbl, e->network.link.latency_s, 1e-5));
    cr_assert(eq(int, cfg_network_links(e), 2 * (4 + 2)));
    cr_assert(eq(sz, e->network.n_events, 4));
    cr_assert(eq(int, e->network.events[0].what, CFG_LINK_BANDWIDTH));
    cr_assert(eq(dbl, e->network.events[0].value, 125000));
    cr_assert(eq(int, e->network.events[1].what, CFG_LINK_UP));
    cr_assert(eq(dbl, e->network.events[1].value, 0));
    cr_assert(eq(dbl, e->network.events[2].value, 1));
    cr_assert(eq(int, e->network.events[3].what, CFG_LINK_LATENCY));
    cfg_experiment_free(e);
}

Test(cfg_net, loads_an_explicit_graph)
{
    cfg_experiment *e = load_ok(graph_config);
    cr_assert(eq(int, e->network.graph_nodes, 6));
    cr_assert(eq(sz, e->network.n_cables, 5));
    cr_assert(eq(dbl, e->network.cables[0].bandwidth_Bps, 1e6));
    cr_assert(eq(dbl, e->network.cables[2].latency_s, 1e-3));
    cr_assert(eq(dbl, e->network.cables[3].bandwidth_rev_Bps, 2e6));
    cr_assert(eq(dbl, e->network.cables[4].bandwidth_Bps, 1e9));
    cr_assert(eq(int, cfg_network_links(e), 10));
    cfg_experiment_free(e);
}

Test(cfg_net, round_trips_every_topology)
{
    round_trip(hier_config);
    round_trip(graph_config);
    round_trip(
        CFG(RING, "{\"topology\": \"ring\", \"bandwidth\": \"10Gbps\"}"));
    round_trip(CFG(PS, "{\"topology\": \"tree\", \"arity\": 3}"));
    round_trip(CFG("{\"name\": \"ssgd\", \"collective\": \"tree\"}",
                   "{\"topology\": \"full\"}"));
    round_trip(CFG(PS, "{\"compression\": {\"codec\": \"topk\", "
                       "\"fraction\": 0.25}}"));
    round_trip(CFG(PS, "{\"compression\": {\"codec\": \"randk\", "
                       "\"k\": 3}}"));
    round_trip(CFG(PS, "{\"compression\": {\"codec\": \"qsgd\", "
                       "\"levels\": 7}}"));
    round_trip(CFG(PS, "{\"compression\": {\"codec\": \"fp16\"}}"));
    round_trip(CFG(PS, "{\"compression\": {\"codec\": \"fp16\", "
                       "\"direction\": \"both\"}}"));
    round_trip(CFG(PS, "{\"servers\": 3, \"topology\": \"tree\"}"));
    round_trip(CFG(RING, "{\"events\": [{\"at\": 0, \"link\": 7, "
                         "\"bandwidth\": 5}]}"));
}

Test(cfg_net, counts_the_links_of_each_topology)
{
    struct {
        const char *json;
        int links;
    } cases[] = {
        {CFG(RING, "{\"topology\": \"ring\"}"), 8},
        {CFG(PS, "{\"topology\": \"ring\"}"), 10},
        {CFG(PS, "{\"topology\": \"tree\"}"), 8},
        {CFG(RING, "{\"topology\": \"full\"}"), 12},
        {CFG(PS, "{\"servers\": 3}"), 14},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cfg_experiment *e = load_ok(cases[i].json);
        cr_assert(eq(int, cfg_network_links(e), cases[i].links), "case %zu", i);
        cfg_experiment_free(e);
    }
}

typedef struct bad_case {
    char json[400];
    char want[200];
} bad_case;

#define AT "configs/bad.json: "

ParameterizedTestParameters(cfg_net, rejects_a_bad_network_naming_the_path)
{
    static bad_case cases[] = {
        /* topology names and keys foreign to the topology */
        {CFG(PS, "{\"topology\": \"torus\"}"),
         AT "$.network.topology: expected one of \"star\", \"ring\", "
            "\"tree\", \"full\", \"hier\", \"graph\", got \"torus\""},
        {CFG(PS, "{\"topology\": \"ring\", \"arity\": 2}"),
         AT "$.network.arity: not used with topology \"ring\""},
        {CFG(PS, "{\"topology\": \"tree\", \"server\": {}}"),
         AT "$.network.server: not used with topology \"tree\""},
        {CFG(PS, "{\"racks\": 2}"),
         AT "$.network.racks: not used with topology \"star\""},
        {CFG(PS, "{\"topology\": \"tree\", \"arity\": 0}"),
         AT "$.network.arity: expected an integer in [1, 1000], got 0"},
        /* hier */
        {CFG(PS, "{\"topology\": \"hier\"}"),
         AT "$.network: missing required key \"racks\""},
        {CFG(PS, "{\"topology\": \"hier\", \"racks\": 2, "
                 "\"hosts_per_rack\": 2}"),
         AT "$.network.hosts_per_rack: 2 racks of 2 hosts cannot hold the "
            "workers and the server (5 hosts)"},
        {CFG(PS, "{\"topology\": \"hier\", \"racks\": 2, \"wan\": "
                 "{\"bandwidth\": 0}}"),
         AT "$.network.wan.bandwidth: expected a bandwidth > 0"},
        {CFG(PS, "{\"topology\": \"hier\", \"racks\": 2, \"wan\": "
                 "{\"speed\": 1}}"),
         AT "$.network.wan.speed: unknown key (known: latency, bandwidth)"},
        /* graph */
        {CFG(PS, "{\"topology\": \"graph\", \"cables\": []}"),
         AT "$.network: missing required key \"nodes\""},
        {CFG(PS, "{\"topology\": \"graph\", \"nodes\": 5}"),
         AT "$.network: missing required key \"cables\""},
        {CFG(PS, "{\"topology\": \"graph\", \"nodes\": 4, \"cables\": []}"),
         AT "$.network.nodes: 4 nodes cannot hold the workers and the server "
            "(5 hosts)"},
        {CFG(PS, "{\"topology\": \"graph\", \"nodes\": 5, \"cables\": []}"),
         AT "$.network.cables: expected a non-empty array of cables, got an "
            "array"},
        {CFG(PS, "{\"topology\": \"graph\", \"nodes\": 5, \"cables\": "
                 "[{\"a\": 0, \"b\": 5}]}"),
         AT "$.network.cables[0].b: expected an integer in [0, 4], got 5"},
        {CFG(PS, "{\"topology\": \"graph\", \"nodes\": 5, \"cables\": "
                 "[{\"a\": 1, \"b\": 1}]}"),
         AT "$.network.cables[0].b: a cable from node 1 to itself"},
        {CFG(PS, "{\"topology\": \"graph\", \"nodes\": 5, \"cables\": "
                 "[{\"a\": 1}]}"),
         AT "$.network.cables[0]: missing required key \"b\""},
        {CFG(PS, "{\"topology\": \"graph\", \"nodes\": 5, \"cables\": "
                 "[{\"a\": 0, \"b\": 1, \"reverse_bandwidth\": -1}]}"),
         AT "$.network.cables[0].reverse_bandwidth: expected a bandwidth > 0"},
        /* link events */
        {CFG(PS, "{\"events\": [{\"at\": 1, \"link\": 10, \"up\": false}]}"),
         AT "$.network.events[0].link: expected an integer in [0, 9], got 10"},
        {CFG(PS, "{\"events\": [{\"at\": 1, \"link\": 0}]}"),
         AT "$.network.events[0]: expected exactly one of \"bandwidth\", "
            "\"latency\" or \"up\", got 0"},
        {CFG(PS, "{\"events\": [{\"at\": 1, \"link\": 0, \"up\": true, "
                 "\"latency\": 0}]}"),
         AT "$.network.events[0]: expected exactly one of \"bandwidth\", "
            "\"latency\" or \"up\", got 2"},
        {CFG(PS, "{\"events\": [{\"link\": 0, \"up\": true}]}"),
         AT "$.network.events[0]: missing required key \"at\""},
        {CFG(PS, "{\"events\": [{\"at\": -1, \"link\": 0, \"up\": true}]}"),
         AT "$.network.events[0].at: expected a duration >= 0"},
        {CFG(PS, "{\"events\": [{\"at\": 0, \"link\": 0, \"up\": 1}]}"),
         AT "$.network.events[0].up: expected true or false, got 1"},
        {CFG(PS, "{\"events\": [{\"at\": 0, \"link\": 0, \"bandwidth\": 0}]}"),
         AT "$.network.events[0].bandwidth: expected a bandwidth > 0"},
        {CFG(PS, "{\"events\": {}}"),
         AT "$.network.events: expected an array of objects, got an object"},
        /* compression */
        {CFG(PS, "{\"compression\": {}}"),
         AT "$.network.compression: missing required key \"codec\""},
        {CFG(PS, "{\"compression\": {\"codec\": \"zip\"}}"),
         AT "$.network.compression.codec: expected one of \"none\", "
            "\"fp16\", \"topk\", \"randk\", \"qsgd\", got \"zip\""},
        {CFG(PS, "{\"compression\": {\"codec\": \"fp16\", \"k\": 2}}"),
         AT "$.network.compression.k: not used with codec \"fp16\""},
        {CFG(PS, "{\"compression\": {\"codec\": \"topk\"}}"),
         AT "$.network.compression: expected exactly one of \"k\" or "
            "\"fraction\", got neither"},
        {CFG(PS, "{\"compression\": {\"codec\": \"randk\", \"fraction\": "
                 "0}}"),
         AT "$.network.compression.fraction: expected a number in (0, 1], "
            "got 0"},
        {CFG(PS, "{\"compression\": {\"codec\": \"topk\", \"k\": 0}}"),
         AT "$.network.compression.k: expected an integer >= 1, got 0"},
        {CFG(PS, "{\"compression\": {\"codec\": \"qsgd\"}}"),
         AT "$.network.compression: missing required key \"levels\""},
        {CFG(PS, "{\"compression\": {\"codec\": \"qsgd\", \"levels\": "
                 "1, \"fraction\": 0.5}}"),
         AT "$.network.compression.fraction: not used with codec \"qsgd\""},
        {CFG(PS, "{\"compression\": {\"codec\": \"fp16\", \"direction\": "
                 "\"down\"}}"),
         AT "$.network.compression.direction: expected one of \"up\", "
            "\"both\", got \"down\""},
        {CFG(PS, "{\"compression\": {\"codec\": \"none\", \"direction\": "
                 "\"both\"}}"),
         AT "$.network.compression.direction: not used with codec \"none\""},
        {CFG(RING, "{\"compression\": {\"codec\": \"fp16\"}}"),
         AT "$.network.compression.codec: compresses the parameter server's "
            "messages; $.algorithm.collective \"ring\" sends none"},
        /* sharded servers */
        {CFG(PS, "{\"servers\": 0}"),
         AT "$.network.servers: expected an integer in [1, 1024], got 0"},
        {CFG(RING, "{\"servers\": 2}"),
         AT "$.network.servers: parameter servers with "
            "$.algorithm.collective \"ring\", which has none"},
        {CFG("{\"name\": \"asgd\"}", "{\"servers\": 2}"),
         AT "$.network.servers: sharded parameter servers need an algorithm "
            "with a \"collective\" (ssgd, ma, bmuf, easgd), not \"asgd\""},
        {CFG(PS, "{\"servers\": 2, \"compression\": {\"codec\": "
                 "\"fp16\"}}"),
         AT "$.network.compression.codec: compresses whole-model messages; "
            "$.network.servers 2 shards the model"},
        /* collectives */
        {CFG("{\"name\": \"ssgd\", \"collective\": \"mesh\"}", "{}"),
         AT "$.algorithm.collective: expected one of \"ps\", \"ring\", "
            "\"tree\", \"hier\", got \"mesh\""},
        {CFG("{\"name\": \"asgd\", \"collective\": \"ring\"}", "{}"),
         AT "$.algorithm.collective: unknown key for algorithm 'asgd'"},
        {CFG(HIER, "{\"topology\": \"ring\"}"),
         AT "$.algorithm.collective: \"hier\" needs $.network.topology "
            "\"hier\" (its racks are the groups), got \"ring\""},
        {"{\"algorithm\": " RING ", \"data\": {\"path\": \"d.csv\"}, "
         "\"cluster\": {\"workers\": 1}, \"network\": {\"topology\": "
         "\"ring\"}}",
         AT "$.network.topology: topology \"ring\" needs at least 2 hosts, "
            "got 1"},
    };
    return cr_make_param_array(bad_case, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(bad_case *c, cfg_net, rejects_a_bad_network_naming_the_path)
{
    cfg_experiment *e = (cfg_experiment *)1;
    sim_err err = {0};
    int rc = cfg_load_string(c->json, "configs/bad.json", algs, N_ALGS, NULL, 0,
                             &e, &err);
    cr_assert(eq(int, rc, SIM_ECONFIG), "rc %d for %s", rc, c->json);
    cr_assert_null(e);
    cr_assert(strstr(err.msg, c->want) != NULL, "message:\n  %s\nwanted:\n  %s",
              err.msg, c->want);
    cr_assert(strchr(err.msg, '\n') == NULL, "not one line: %s", err.msg);
}
