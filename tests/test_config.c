/* test_config.c: loading, defaults, overrides, errors and the JSON round
 * trip of experiment configs. */
#include "sim/io/config.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <criterion/redirect.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Resolved paths are absolute: the working directory (the source tree
 * under ctest) joined with the relative path. */
static char *abs_of(const char *rel)
{
    static char buf[4][4096];
    static int next;
    char *b = buf[next++ % 4];
    char cwd[2048];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    snprintf(b, sizeof buf[0], "%s/%s", cwd, rel);
    return b;
}

/* A small registry of our own, so these tests do not depend on which
 * algorithms exist. */
static const char *const delta_inits[] = {"zero", "uniform", NULL};

static const cfg_param_spec bmuf_params[] = {
    {.name = "mu",
     .type = CFG_PARAM_NUMBER,
     .min = 0,
     .max = 1,
     .def = 0.9,
     .help = "block momentum"},
    {.name = "delta_init",
     .type = CFG_PARAM_CHOICE,
     .def = 0,
     .choices = delta_inits,
     .help = "initial block update"},
};

static const cfg_param_spec ma_params[] = {
    {.name = "local_steps",
     .type = CFG_PARAM_INT,
     .min = 1,
     .max = 1e6,
     .def = 5,
     .help = "local steps between averages"},
    {.name = "batch_reuse",
     .type = CFG_PARAM_BOOL,
     .def = 0,
     .help = "one mini-batch for all local steps"},
};

static const cfg_algorithm_spec algs[] = {
    {.name = "ssgd", .summary = "synchronous SGD"},
    {.name = "bmuf",
     .summary = "block momentum",
     .params = bmuf_params,
     .n_params = 2},
    {.name = "ma",
     .summary = "model averaging",
     .params = ma_params,
     .n_params = 2},
};
#define N_ALGS (sizeof algs / sizeof *algs)

static const char full_config[] =
    "{\n"
    "  \"name\": \"post-bmuf\",\n"
    "  \"seed\": 42,\n"
    "  \"algorithm\": {\"name\": \"bmuf\", \"rounds\": 300, \"lr\": 0.05,\n"
    "                \"mu\": 0.5, \"delta_init\": \"uniform\"},\n"
    "  \"model\": {\"type\": \"logreg\", \"init\": {\"low\": -0.5, \"high\": "
    "0.5},\n"
    "            \"sigmoid_eps\": 1e-6},\n"
    "  \"data\": {\"path\": \"data/breast_cancer.csv\", \"format\": \"csv\",\n"
    "           \"header\": false, \"label_column\": 0,\n"
    "           \"split\": {\"file\": \"data/split.json\"},\n"
    "           \"standardize\": true, \"bias\": false,\n"
    "           \"partition\": \"contiguous\"},\n"
    "  \"batch\": {\"size\": 32},\n"
    "  \"cluster\": {\"workers\": 4,\n"
    "              \"compute\": {\"flops_per_second\": \"2GFLOPS\"},\n"
    "              \"speed\": [1, 1, 0.5, 1],\n"
    "              \"slowdown\": [{\"worker\": 3, \"factor\": 5}],\n"
    "              \"delay\": {\"distribution\": \"exponential\", "
    "\"mean\": \"1ms\"}},\n"
    "  \"network\": {\"topology\": \"star\", \"latency\": \"100us\",\n"
    "              \"bandwidth\": \"1Gbps\",\n"
    "              \"server\": {\"bandwidth\": \"10Gbps\"},\n"
    "              \"workers\": [{\"worker\": 2, \"latency\": \"1ms\",\n"
    "                           \"bandwidth\": \"100Mbit/s\"}],\n"
    "              \"contention\": false, \"precision\": \"float32\",\n"
    "              \"header_bytes\": 64},\n"
    "  \"evaluation\": {\"every\": 10, \"train_loss\": false},\n"
    "  \"output\": {\"events\": true}\n"
    "}\n";

static const char minimal_config[] =
    "{\"algorithm\": {\"name\": \"ma\"}, \"data\": {\"path\": \"d.csv\"}}";

static cfg_experiment *load_ok(const char *text, const char *source,
                               const cfg_override *ov, size_t n_ov)
{
    cfg_experiment *e = NULL;
    sim_err err = {0};
    int rc = cfg_load_string(text, source, algs, N_ALGS, ov, n_ov, &e, &err);
    cr_assert(eq(int, rc, 0), "load failed: %s", err.msg);
    cr_assert_not_null(e);
    return e;
}

/* Expects a failure with code and a message containing want. */
static void load_bad(const char *text, const cfg_override *ov, size_t n_ov,
                     const char *want)
{
    cfg_experiment *e = (cfg_experiment *)1;
    sim_err err = {0};
    int rc = cfg_load_string(text, "configs/bad.json", algs, N_ALGS, ov, n_ov,
                             &e, &err);
    cr_assert(eq(int, rc, SIM_ECONFIG), "rc %d for %s", rc, text);
    cr_assert(eq(int, err.code, SIM_ECONFIG));
    cr_assert_null(e);
    cr_assert(strstr(err.msg, want) != NULL, "message:\n  %s\nwanted:\n  %s",
              err.msg, want);
    cr_assert(strchr(err.msg, '\n') == NULL, "not one line: %s", err.msg);
}

Test(cfg, loads_every_field_of_a_full_config)
{
    cfg_experiment *e = load_ok(full_config, "configs/seed/full.json", NULL, 0);
    cr_assert(eq(str, e->source_path, "configs/seed/full.json"));
    cr_assert(eq(str, e->name, "post-bmuf"));
    cr_assert(eq(u64, e->seed, 42));
    cr_assert(eq(str, e->algorithm.name, "bmuf"));
    cr_assert(eq(ptr, (void *)e->algorithm.spec, (void *)&algs[1]));
    cr_assert(eq(long, e->algorithm.rounds, 300));
    cr_assert(eq(dbl, e->algorithm.lr, 0.05));
    cr_assert(eq(dbl, cfg_algorithm_param(e, "mu"), 0.5));
    cr_assert(eq(dbl, cfg_algorithm_param(e, "delta_init"), 1));
    cr_assert(eq(str, e->model.type, "logreg"));
    cr_assert(eq(dbl, e->model.init_low, -0.5));
    cr_assert(eq(dbl, e->model.init_high, 0.5));
    cr_assert(eq(dbl, e->model.sigmoid_eps, 1e-6));
    cr_assert(eq(str, e->data.path, "data/breast_cancer.csv"));
    cr_assert(eq(str, e->data.resolved_path,
                 abs_of("configs/seed/data/breast_cancer.csv")));
    cr_assert(eq(int, e->data.header, 0));
    cr_assert(eq(int, e->data.label_column, 0));
    cr_assert(eq(int, e->data.split, CFG_SPLIT_FILE));
    cr_assert(eq(str, e->data.split_file, "data/split.json"));
    cr_assert(eq(str, e->data.split_resolved_path,
                 abs_of("configs/seed/data/split.json")));
    cr_assert(eq(int, e->data.standardize, 1));
    cr_assert(eq(int, e->data.bias, 0));
    cr_assert(eq(int, e->batch.kind, CFG_BATCH_SIZE));
    cr_assert(eq(long, e->batch.size, 32));
    cr_assert(eq(int, e->cluster.workers, 4));
    cr_assert(eq(int, e->cluster.compute, CFG_COMPUTE_FLOPS));
    cr_assert(eq(dbl, e->cluster.flops_per_second, 2e9));
    cr_assert(eq(dbl, e->cluster.speed[2], 0.5));
    cr_assert(eq(dbl, e->cluster.speed[3], 1));
    cr_assert(eq(dbl, e->cluster.slowdown[3], 5));
    cr_assert(eq(dbl, e->cluster.slowdown[0], 1));
    cr_assert(eq(int, e->cluster.delay, CFG_DELAY_EXPONENTIAL));
    cr_assert(eq(dbl, e->cluster.delay_mean_s, 1e-3));
    cr_assert(eq(int, e->network.topology, CFG_TOPOLOGY_STAR));
    cr_assert(eq(dbl, e->network.server.latency_s, 100e-6));
    cr_assert(eq(dbl, e->network.server.bandwidth_Bps, 1.25e9));
    cr_assert(eq(dbl, e->network.workers[0].latency_s, 100e-6));
    cr_assert(eq(dbl, e->network.workers[0].bandwidth_Bps, 1.25e8));
    cr_assert(eq(dbl, e->network.workers[2].latency_s, 1e-3));
    cr_assert(eq(dbl, e->network.workers[2].bandwidth_Bps, 1.25e7));
    cr_assert(eq(int, e->network.contention, 0));
    cr_assert(eq(int, e->network.value_bytes, 4));
    cr_assert(eq(long, e->network.header_bytes, 64));
    cr_assert(eq(long, e->evaluation.every, 10));
    cr_assert(eq(int, e->evaluation.train_loss, 0));
    cr_assert(eq(int, e->output.events, 1));
    cfg_experiment_free(e);
}

Test(cfg, fills_every_default_for_a_minimal_config)
{
    cfg_experiment *e = load_ok(minimal_config, "configs/tiny.json", NULL, 0);
    cr_assert(eq(str, e->name, "tiny"));
    cr_assert(eq(u64, e->seed, 1));
    cr_assert(eq(long, e->algorithm.rounds, 100));
    cr_assert(eq(dbl, e->algorithm.lr, 0.1));
    cr_assert(eq(dbl, cfg_algorithm_param(e, "local_steps"), 5));
    cr_assert(eq(dbl, cfg_algorithm_param(e, "batch_reuse"), 0));
    cr_assert(eq(str, e->model.type, "logreg"));
    cr_assert(eq(dbl, e->model.init_low, -1));
    cr_assert(eq(dbl, e->model.init_high, 1));
    cr_assert(eq(dbl, e->model.sigmoid_eps, 0));
    cr_assert(eq(str, e->data.resolved_path, abs_of("configs/d.csv")));
    cr_assert(eq(int, e->data.header, 1));
    cr_assert(eq(int, e->data.label_column, -1));
    cr_assert(eq(int, e->data.split, CFG_SPLIT_FRACTION));
    cr_assert(eq(dbl, e->data.test_fraction, 0.3));
    cr_assert_null(e->data.split_file);
    cr_assert(eq(int, e->data.standardize, 0));
    cr_assert(eq(int, e->data.bias, 1));
    cr_assert(eq(int, e->data.partition, CFG_PARTITION_CONTIGUOUS));
    cr_assert(eq(int, e->batch.kind, CFG_BATCH_FRACTION));
    cr_assert(eq(dbl, e->batch.fraction, 0.1));
    cr_assert(eq(int, e->cluster.workers, 4));
    cr_assert(eq(int, e->cluster.compute, CFG_COMPUTE_SECONDS_PER_SAMPLE));
    cr_assert(eq(dbl, e->cluster.seconds_per_sample, 1e-5));
    for (int i = 0; i < 4; i++) {
        cr_assert(eq(dbl, e->cluster.speed[i], 1));
        cr_assert(eq(dbl, e->cluster.slowdown[i], 1));
        cr_assert(eq(dbl, e->network.workers[i].latency_s, 5e-5));
        cr_assert(eq(dbl, e->network.workers[i].bandwidth_Bps, 1.25e8));
    }
    cr_assert(eq(int, e->cluster.delay, CFG_DELAY_NONE));
    cr_assert(eq(dbl, e->network.server.latency_s, 5e-5));
    cr_assert(eq(dbl, e->network.server.bandwidth_Bps, 1.25e8));
    cr_assert(eq(int, e->network.contention, 1));
    cr_assert(eq(int, e->network.value_bytes, 8));
    cr_assert(eq(long, e->network.header_bytes, 0));
    cr_assert(eq(long, e->evaluation.every, 1));
    cr_assert(eq(int, e->evaluation.train_loss, 1));
    cr_assert(eq(int, e->output.events, 0));
    cfg_experiment_free(e);
}

Test(cfg, anchors_paths_at_the_working_directory_for_bare_sources)
{
    cfg_experiment *e = load_ok(minimal_config, "-", NULL, 0);
    cr_assert(eq(str, e->data.resolved_path, abs_of("d.csv")));
    cr_assert(eq(str, e->name, "stdin"));
    cfg_experiment_free(e);
    e = load_ok(minimal_config, "tiny.json", NULL, 0);
    cr_assert(eq(str, e->data.resolved_path, abs_of("d.csv")));
    cfg_experiment_free(e);
    e = load_ok("{\"algorithm\": {\"name\": \"ssgd\"},"
                " \"data\": {\"path\": \"/abs/d.csv\"}}",
                "configs/x.json", NULL, 0);
    cr_assert(eq(str, e->data.resolved_path, "/abs/d.csv"));
    cfg_experiment_free(e);
}

/* Loads text, prints it, loads the print from "-" and prints again: both
 * prints must match, and so must the numbers, bit for bit. */
static void check_round_trip(const char *text, const char *source)
{
    cfg_experiment *a = load_ok(text, source, NULL, 0);
    char *ja = cfg_experiment_to_json(a);
    cr_assert_not_null(ja);
    cfg_experiment *b = load_ok(ja, "-", NULL, 0);
    char *jb = cfg_experiment_to_json(b);
    cr_assert_not_null(jb);
    cr_assert(eq(str, ja, jb));
    cr_assert(eq(str, a->data.resolved_path, b->data.resolved_path));
    cr_assert(eq(dbl, a->algorithm.lr, b->algorithm.lr));
    cr_assert(eq(u64, a->seed, b->seed));
    for (int i = 0; i < a->cluster.workers; i++)
        cr_assert(eq(dbl, a->network.workers[i].bandwidth_Bps,
                     b->network.workers[i].bandwidth_Bps));
    free(ja);
    free(jb);
    cfg_experiment_free(a);
    cfg_experiment_free(b);
}

Test(cfg, round_trips_a_full_config_through_to_json)
{
    check_round_trip(full_config, "configs/seed/full.json");
}

Test(cfg, round_trips_a_minimal_config_through_to_json)
{
    check_round_trip(minimal_config, "configs/tiny.json");
}

Test(cfg, round_trips_numbers_that_need_seventeen_digits)
{
    /* 0.1 + 0.2 printed with 15 digits reads back one ulp off. */
    check_round_trip("{\"seed\": 9007199254740992,"
                     " \"algorithm\": {\"name\": \"ssgd\","
                     " \"lr\": 0.30000000000000004},"
                     " \"data\": {\"path\": \"d.csv\"},"
                     " \"network\": {\"bandwidth\": 123456789.12345678}}",
                     "x.json");
}

Test(cfg, prints_parameters_by_type_and_every_default)
{
    cfg_experiment *e = load_ok(minimal_config, "configs/tiny.json", NULL, 0);
    char *j = cfg_experiment_to_json(e);
    cr_assert_not_null(j);
    const char *wants[] = {
        "\"local_steps\":\t5,",      "\"batch_reuse\":\tfalse",
        "configs/d.csv\"",           "\"speed\":\t[1, 1, 1, 1]",
        "\"slowdown\":\t[]",         "\"seconds_per_sample\":\t1e-05",
        "\"bandwidth\":\t125000000", "\"precision\":\t\"float64\"",
    };
    for (size_t i = 0; i < sizeof wants / sizeof *wants; i++)
        cr_assert(strstr(j, wants[i]) != NULL, "no %s in\n%s", wants[i], j);
    free(j);
    cfg_experiment_free(e);
}

Test(cfg, loads_a_file_and_resolves_paths_against_its_directory)
{
    const char *dir = ts_tmpdir();
    cr_assert_not_null(dir);
    char *path = ts_write_file(dir, "exp.json", minimal_config);
    cfg_experiment *e = NULL;
    sim_err err = {0};
    int rc = cfg_load(path, algs, N_ALGS, NULL, 0, &e, &err);
    cr_assert(eq(int, rc, 0), "%s", err.msg);
    char want[256];
    snprintf(want, sizeof want, "%s/d.csv", dir);
    cr_assert(eq(str, e->data.resolved_path, want));
    cr_assert(eq(str, e->name, "exp"));
    cr_assert(eq(str, e->source_path, path));
    cfg_experiment_free(e);
    unlink(path);
    rmdir(dir);
    free(path);
}

Test(cfg, reports_an_unreadable_file_as_an_io_error)
{
    cfg_experiment *e = (cfg_experiment *)1;
    sim_err err = {0};
    int rc = cfg_load("/nonexistent/x.json", algs, N_ALGS, NULL, 0, &e, &err);
    cr_assert(eq(int, rc, SIM_EIO));
    cr_assert_null(e);
    cr_assert(
        eq(str, err.msg,
           "/nonexistent/x.json: cannot read: No such file or directory"));
}

Test(cfg, reports_a_directory_as_an_io_error)
{
    const char *dir = ts_tmpdir();
    cfg_experiment *e = NULL;
    sim_err err = {0};
    cr_assert(eq(int, cfg_load(dir, algs, N_ALGS, NULL, 0, &e, &err), SIM_EIO));
    char want[256];
    snprintf(want, sizeof want, "%s: cannot read: Is a directory", dir);
    cr_assert(eq(str, err.msg, want));
    rmdir(dir);
}

Test(cfg, reports_an_empty_file)
{
    const char *dir = ts_tmpdir();
    char *path = ts_write_file(dir, "empty.json", "");
    cfg_experiment *e = NULL;
    sim_err err = {0};
    cr_assert(
        eq(int, cfg_load(path, algs, N_ALGS, NULL, 0, &e, &err), SIM_ECONFIG));
    char want[256];
    snprintf(want, sizeof want, "%s: empty file", path);
    cr_assert(eq(str, err.msg, want));
    unlink(path);
    rmdir(dir);
    free(path);
}

Test(cfg, reports_a_nul_byte_inside_a_file)
{
    const char *dir = ts_tmpdir();
    char path[256];
    snprintf(path, sizeof path, "%s/nul.json", dir);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fwrite("{}\n\0{", 1, 5, f);
    fclose(f);
    cfg_experiment *e = NULL;
    sim_err err = {0};
    cr_assert(
        eq(int, cfg_load(path, algs, N_ALGS, NULL, 0, &e, &err), SIM_ECONFIG));
    cr_assert(strstr(err.msg, "nul.json:2:1: NUL byte in file") != NULL, "%s",
              err.msg);
    unlink(path);
    rmdir(dir);
}

Test(cfg, names_file_line_and_column_of_a_syntax_error)
{
    load_bad("{\n  \"seed\": 1,\n  \"name\": x\n}", NULL, 0,
             "configs/bad.json:3:11: JSON syntax error near '\"name\": x'");
    load_bad("{\"seed\": 1} trailing", NULL, 0,
             "configs/bad.json:1:13: JSON syntax error near "
             "'{\"seed\": 1} trailing'");
    /* Cut short: the error is shown where the text stops. */
    load_bad("{\n  \"seed\": 1,\n  \"name\": \"x\"\n\n", NULL, 0,
             "configs/bad.json:3:13: JSON syntax error near '\"name\": \"x\"'");
}

Test(cfg, applies_an_override_to_a_nested_array_element)
{
    cfg_override ov[] = {{"network.workers[0].bandwidth", "1Gbps"},
                         {"$.algorithm.local_steps", "7"},
                         {"name", "hello world"},
                         {"seed", "\"7\""}};
    cfg_experiment *e = NULL;
    sim_err err = {0};
    /* "seed" as a JSON string must stay a string, and fail as one. */
    int rc = cfg_load_string("{\"algorithm\": {\"name\": \"ma\"},"
                             " \"data\": {\"path\": \"d.csv\"},"
                             " \"network\": {\"workers\": [{\"worker\": 1}]}}",
                             "configs/x.json", algs, N_ALGS, ov, 4, &e, &err);
    cr_assert(eq(int, rc, SIM_ECONFIG));
    cr_assert(strstr(err.msg, "configs/x.json: $.seed: expected an integer "
                              "in [0, 2^53], got \"7\"") != NULL,
              "%s", err.msg);

    e = load_ok("{\"algorithm\": {\"name\": \"ma\"},"
                " \"data\": {\"path\": \"d.csv\"},"
                " \"network\": {\"workers\": [{\"worker\": 1}]}}",
                "configs/x.json", ov, 3);
    cr_assert(eq(dbl, e->network.workers[1].bandwidth_Bps, 1.25e8));
    cr_assert(eq(dbl, e->network.workers[0].bandwidth_Bps, 1.25e8));
    cr_assert(eq(dbl, cfg_algorithm_param(e, "local_steps"), 7));
    cr_assert(eq(str, e->name, "hello world"));
    cfg_experiment_free(e);
}

Test(cfg, replaces_a_value_already_in_the_file)
{
    cfg_override ov[] = {{"cluster.workers", "2"}, {"algorithm.lr", "0.5"}};
    cfg_experiment *e =
        load_ok("{\"algorithm\": {\"name\": \"ssgd\", \"lr\": 0.1},"
                " \"data\": {\"path\": \"d.csv\"},"
                " \"cluster\": {\"workers\": 8}}",
                "x.json", ov, 2);
    cr_assert(eq(int, e->cluster.workers, 2));
    cr_assert(eq(dbl, e->algorithm.lr, 0.5));
    cfg_experiment_free(e);
}

Test(cfg, creates_missing_objects_for_an_override)
{
    cfg_override ov[] = {{"cluster.delay.distribution", "exponential"},
                         {"cluster.delay.mean", "2ms"}};
    cfg_experiment *e = load_ok(minimal_config, "x.json", ov, 2);
    cr_assert(eq(int, e->cluster.delay, CFG_DELAY_EXPONENTIAL));
    cr_assert(eq(dbl, e->cluster.delay_mean_s, 2e-3));
    cfg_experiment_free(e);
}

Test(cfg, rejects_an_override_index_out_of_range)
{
    cfg_override ov[] = {{"network.workers[3].bandwidth", "1Gbps"}};
    load_bad("{\"algorithm\": {\"name\": \"ssgd\"},"
             " \"data\": {\"path\": \"d.csv\"},"
             " \"network\": {\"workers\": [{\"worker\": 1}]}}",
             ov, 1, "--set network.workers[3].bandwidth: index 3 out of range");
}

Test(cfg, rejects_an_override_through_a_missing_array)
{
    cfg_override ov[] = {{"cluster.speed[0]", "2"}};
    load_bad(minimal_config, ov, 1,
             "--set cluster.speed[0]: $.cluster.speed does not exist");
}

Test(cfg, rejects_an_override_through_a_plain_value)
{
    cfg_override ov[] = {{"seed.x", "2"}};
    load_bad("{\"seed\": 3, \"algorithm\": {\"name\": \"ssgd\"},"
             " \"data\": {\"path\": \"d.csv\"}}",
             ov, 1, "--set seed.x: $.seed is not an object");
}

Test(cfg, rejects_a_malformed_override_path)
{
    const char *paths[] = {"", "$.", "a..b", "a.", "a[x]", "a[1", "a[1]b"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        cfg_override ov[] = {{paths[i], "1"}};
        load_bad(minimal_config, ov, 1, "--set ");
    }
}

Test(cfg, names_the_json_path_of_a_bad_overridden_value)
{
    cfg_override ov[] = {{"network.bandwidth", "-5"}};
    load_bad(minimal_config, ov, 1,
             "configs/bad.json: $.network.bandwidth: expected a bandwidth > 0 "
             "(e.g. \"10Gbps\"), got -5");
}

Test(cfg, looks_up_algorithm_parameters_by_name)
{
    cfg_experiment *e = load_ok("{\"algorithm\": {\"name\": \"ma\","
                                " \"local_steps\": 3, \"batch_reuse\": true},"
                                " \"data\": {\"path\": \"d.csv\"}}",
                                "x.json", NULL, 0);
    cr_assert(eq(dbl, cfg_algorithm_param(e, "local_steps"), 3));
    cr_assert(eq(dbl, cfg_algorithm_param(e, "batch_reuse"), 1));
    cfg_experiment_free(e);
}

Test(cfg, aborts_on_an_unknown_algorithm_parameter, .signal = SIGABRT,
     .init = cr_redirect_stderr)
{
    cfg_experiment *e = load_ok(minimal_config, "x.json", NULL, 0);
    cfg_algorithm_param(e, "mu");
}

Test(cfg, frees_null_quietly)
{
    cfg_experiment_free(NULL);
}

/* ---- bad configs: one mistake each ---- */

typedef struct bad_case {
    char json[400];
    char want[200];
} bad_case;

/* A valid config around one section under test. */
#define WITH(alg, rest)                                                        \
    "{\"algorithm\": " alg ", \"data\": {\"path\": \"d.csv\"}" rest "}"
#define SSGD "{\"name\": \"ssgd\"}"
#define AT "configs/bad.json: "

ParameterizedTestParameters(cfg, rejects_a_bad_config_naming_file_and_path)
{
    static bad_case cases[] = {
        {WITH(SSGD, ", \"nmae\": \"x\""),
         AT "$.nmae: unknown key (known: $schema, name, seed, algorithm, "
            "model, data, batch, cluster, network, evaluation, output)"},
        {WITH(SSGD, ", \"network\": {\"foo\": 1}"),
         AT "$.network.foo: unknown key (known: topology, latency, bandwidth, "
            "server, workers, arity, racks, hosts_per_rack, wan, nodes, "
            "cables, events, contention, precision, header_bytes, "},
        {WITH(SSGD, ", \"network\": {\"workers\": [{\"worker\": 0, "
                    "\"bw\": 1}]}"),
         AT "$.network.workers[0].bw: unknown key (known: worker, latency, "
            "bandwidth)"},
        {WITH(SSGD, ", \"model\": {\"init\": {\"lo\": 0}}"),
         AT "$.model.init.lo: unknown key (known: kind, low, high)"},
        {WITH(SSGD, ", \"my key\": 1"), AT "$[\"my key\"]: unknown key"},
        {WITH("{\"name\": \"ssgd\", \"mu\": 0.5}", ""),
         AT "$.algorithm.mu: unknown key for algorithm 'ssgd' (known: name, "
            "rounds, lr)"},
        {WITH("{\"name\": \"ma\", \"Local_steps\": 2}", ""),
         AT "$.algorithm.Local_steps: unknown key for algorithm 'ma' (known: "
            "name, rounds, lr, local_steps, batch_reuse)"},
        {WITH(SSGD, ", \"seed\": \"42\""),
         AT "$.seed: expected an integer in [0, 2^53], got \"42\""},
        {WITH(SSGD, ", \"seed\": -1"),
         AT "$.seed: expected an integer in [0, 2^53], got -1"},
        {WITH(SSGD, ", \"output\": {\"events\": 1}"),
         AT "$.output.events: expected true or false, got 1"},
        {WITH(SSGD, ", \"cluster\": []"),
         AT "$.cluster: expected an object, got an array"},
        {WITH(SSGD, ", \"name\": \"\""),
         AT "$.name: expected a non-empty string, got \"\""},
        {WITH(SSGD, ", \"network\": {\"bandwidth\": -5}"),
         AT "$.network.bandwidth: expected a bandwidth > 0 (e.g. \"10Gbps\"), "
            "got -5"},
        {WITH(SSGD, ", \"network\": {\"server\": {\"bandwidth\": 0}}"),
         AT "$.network.server.bandwidth: expected a bandwidth > 0"},
        {WITH(SSGD, ", \"network\": {\"latency\": \"NaN\"}"),
         AT "$.network.latency: expected a duration >= 0 (e.g. \"1ms\"), got "
            "\"NaN\""},
        {WITH(SSGD, ", \"network\": {\"bandwidth\": \"infGbps\"}"),
         AT "$.network.bandwidth: expected a bandwidth > 0 (e.g. \"10Gbps\"), "
            "got \"infGbps\""},
        {WITH(SSGD, ", \"network\": {\"bandwidth\": \"10 Gbpsx\"}"),
         AT "$.network.bandwidth: expected a bandwidth > 0 (e.g. \"10Gbps\"), "
            "got \"10 Gbpsx\""},
        {WITH(SSGD, ", \"cluster\": {\"compute\": {\"seconds_per_sample\": "
                    "\"10 parsecs\"}}"),
         AT "$.cluster.compute.seconds_per_sample: expected a duration > 0 "
            "(e.g. \"1ms\"), got \"10 parsecs\""},
        {WITH(SSGD, ", \"cluster\": {\"compute\": {\"flops_per_second\": "
                    "\"-1G\"}}"),
         AT "$.cluster.compute.flops_per_second: expected a rate > 0 (e.g. "
            "\"1G\"), got \"-1G\""},
        {WITH(SSGD, ", \"cluster\": {\"workers\": 0}"),
         AT "$.cluster.workers: expected an integer in [1, 100000], got 0"},
        {WITH(SSGD, ", \"cluster\": {\"workers\": 2.5}"),
         AT "$.cluster.workers: expected an integer in [1, 100000], got 2.5"},
        {WITH("{\"name\": \"sgd\"}", ""),
         AT "$.algorithm.name: expected one of \"ssgd\", \"bmuf\", \"ma\", "
            "got \"sgd\""},
        {WITH("{\"name\": \"SSGD\"}", ""),
         AT "$.algorithm.name: expected one of \"ssgd\", \"bmuf\", \"ma\", "
            "got \"SSGD\""},
        {WITH("{\"rounds\": 3}", ""),
         AT "$.algorithm: missing required key \"name\""},
        {"{\"data\": {\"path\": \"d.csv\"}}",
         AT "$: missing required key \"algorithm\""},
        {"{\"algorithm\": " SSGD "}", AT "$: missing required key \"data\""},
        {"{\"algorithm\": " SSGD ", \"data\": {\"header\": true}}",
         AT "$.data: missing required key \"path\""},
        {WITH(SSGD, ", \"seed\": 1, \"seed\": 2"), AT "$.seed: duplicate key"},
        {WITH("{\"name\": \"ssgd\", \"lr\": 1, \"lr\": 2}", ""),
         AT "$.algorithm.lr: duplicate key"},
        {"{\"algorithm\": " SSGD ", \"data\": {\"path\": \"d.csv\", "
         "\"split\": {\"test_fraction\": 0.3, \"file\": \"s.json\"}}}",
         AT "$.data.split: expected exactly one of \"test_fraction\" or "
            "\"file\", got both"},
        {"{\"algorithm\": " SSGD ", \"data\": {\"path\": \"d.csv\", "
         "\"split\": {\"test_fraction\": 1}}}",
         AT "$.data.split.test_fraction: expected a number in (0, 1), got 1"},
        {WITH(SSGD, ", \"batch\": {}"),
         AT "$.batch: expected exactly one of \"fraction\" or \"size\", got "
            "neither"},
        {WITH(SSGD, ", \"cluster\": {\"workers\": 2, \"speed\": [1, 1, 1]}"),
         AT "$.cluster.speed: expected an array of 2 numbers > 0 (one per "
            "worker), got an array of 3"},
        {WITH(SSGD, ", \"cluster\": {\"workers\": 2, \"speed\": [1, "
                    "\"fast\"]}"),
         AT "$.cluster.speed[1]: expected a number > 0, got \"fast\""},
        {WITH(SSGD, ", \"cluster\": {\"slowdown\": [{\"worker\": 4, "
                    "\"factor\": 2}]}"),
         AT "$.cluster.slowdown[0].worker: expected a worker index in [0, 3], "
            "got 4"},
        {WITH(SSGD, ", \"cluster\": {\"slowdown\": [{\"worker\": 3, "
                    "\"factor\": 2}, {\"worker\": 3, \"factor\": 3}]}"),
         AT "$.cluster.slowdown[1].worker: worker 3 listed twice"},
        {WITH(SSGD, ", \"cluster\": {\"slowdown\": [{\"worker\": 1, "
                    "\"factor\": 0.5}]}"),
         AT "$.cluster.slowdown[0].factor: expected a number >= 1, got 0.5"},
        {WITH(SSGD, ", \"cluster\": {\"delay\": {\"distribution\": "
                    "\"exponential\"}}"),
         AT "$.cluster.delay: missing required key \"mean\""},
        {WITH(SSGD, ", \"network\": {\"workers\": [{\"worker\": 0}, "
                    "{\"worker\": 0}]}"),
         AT "$.network.workers[1].worker: worker 0 listed twice"},
        {WITH(SSGD, ", \"network\": {\"precision\": \"float16\"}"),
         AT "$.network.precision: expected one of \"float64\", \"float32\", "
            "got \"float16\""},
        {WITH(SSGD, ", \"network\": {\"precision\": \"float64float64float64"
                    "float64float64float64float64float64\"}"),
         AT "$.network.precision: expected one of \"float64\", \"float32\", "
            "got \"float64float64float64float64float64float64float...\""},
        {WITH(SSGD, ", \"model\": {\"init\": {\"low\": 2, \"high\": 1}}"),
         AT "$.model.init.high: expected a number > low (2), got 1"},
        {WITH(SSGD, ", \"model\": {\"init\": {\"low\": 1}}"),
         AT "$.model.init.low: expected a number < high (1), got 1"},
        {WITH("{\"name\": \"ssgd\", \"lr\": 1e999}", ""),
         AT "$.algorithm.lr: expected a number > 0, got a number out of "
            "range"},
        {WITH("{\"name\": \"ssgd\", \"rounds\": 1e300}", ""),
         AT "$.algorithm.rounds: expected an integer >= 1 (at most 2^53), got "
            "1e+300"},
        {WITH("{\"name\": \"bmuf\", \"mu\": 1.5}", ""),
         AT "$.algorithm.mu: expected a number in [0, 1], got 1.5"},
        {WITH("{\"name\": \"bmuf\", \"delta_init\": \"random\"}", ""),
         AT "$.algorithm.delta_init: expected one of \"zero\", \"uniform\", "
            "got \"random\""},
        {WITH("{\"name\": \"ma\", \"local_steps\": 2.5}", ""),
         AT "$.algorithm.local_steps: expected an integer in [1, 1000000], "
            "got 2.5"},
        {WITH("{\"name\": \"ma\", \"batch_reuse\": \"yes\"}", ""),
         AT "$.algorithm.batch_reuse: expected true or false, got \"yes\""},
        {WITH(SSGD, ", \"$schema\": 3"),
         AT "$[\"$schema\"]: expected a string, got 3"},
        {"[1, 2]", AT "$: expected an object at the top level, got an array"},
        {"", "configs/bad.json: empty file"},
        {" \n\t ", "configs/bad.json: empty file"},
        {"{\"seed\": 1,}", "configs/bad.json:1:"},
        /* models */
        {WITH(SSGD, ", \"model\": {\"type\": \"cnn\"}"),
         AT "$.model.type: expected one of \"logreg\", \"softmax\", "
            "\"mlp\", got \"cnn\""},
        {WITH(SSGD, ", \"model\": {\"type\": \"logreg\", \"hidden\": [8]}"),
         AT "$.model.hidden: unknown key for model 'logreg' (known: type, "
            "init, sigmoid_eps)"},
        {WITH(SSGD, ", \"model\": {\"type\": \"softmax\", \"activation\": "
                    "\"tanh\"}"),
         AT "$.model.activation: unknown key for model 'softmax'"},
        {WITH(SSGD, ", \"model\": {\"type\": \"mlp\", \"hidden\": [16, 0]}"),
         AT "$.model.hidden[1]: expected an integer in [1, 1048576], got 0"},
        {WITH(SSGD, ", \"model\": {\"type\": \"mlp\", \"hidden\": []}"),
         AT "$.model.hidden: expected an array of 1 to 8 layer widths"},
        {WITH(SSGD, ", \"model\": {\"type\": \"mlp\", \"activation\": "
                    "\"sigmoid\"}"),
         AT "$.model.activation: expected one of \"relu\", \"tanh\", got "
            "\"sigmoid\""},
        {WITH(SSGD, ", \"model\": {\"type\": \"mlp\", \"init\": {\"kind\": "
                    "\"xavier\", \"low\": 0}}"),
         AT "$.model.init.low: only a uniform init takes a range"},
        {WITH(SSGD, ", \"model\": {\"init\": {\"kind\": \"he\"}}"),
         AT "$.model.init.kind: expected one of \"default\", \"uniform\", "
            "got \"he\""},
        {WITH(SSGD, ", \"model\": {\"type\": \"softmax\", \"l2\": -1}"),
         AT "$.model.l2: expected a number >= 0, got -1"},
        {WITH(SSGD, ", \"model\": {\"type\": \"softmax\", \"n_classes\": 1}"),
         AT "$.model.n_classes: expected an integer in [2, 1048576], got 1"},
    /* data */
#define DATA(d) "{\"algorithm\": " SSGD ", \"data\": " d "}"
        {DATA("{\"format\": \"parquet\", \"path\": \"d\"}"),
         AT "$.data.format: expected one of \"csv\", \"libsvm\", \"idx\", "
            "\"synthetic\", got \"parquet\""},
        {DATA("{\"format\": \"idx\", \"images\": \"i.gz\"}"),
         AT "$.data: missing required key \"labels\""},
        {DATA("{\"format\": \"idx\", \"images\": \"i\", \"labels\": \"l\", "
              "\"test_images\": \"ti\"}"),
         AT "$.data: missing required key \"test_labels\""},
        {DATA("{\"format\": \"idx\", \"images\": \"i\", \"labels\": \"l\", "
              "\"test_images\": \"ti\", \"test_labels\": \"tl\", "
              "\"split\": {\"test_fraction\": 0.2}}"),
         AT "$.data.split: the IDX test set (test_images, test_labels) "
            "replaces the split"},
        {DATA("{\"format\": \"idx\", \"path\": \"x\"}"),
         AT "$.data.path: unknown key for data format 'idx'"},
        {DATA("{\"format\": \"libsvm\", \"path\": \"x\", \"header\": true}"),
         AT "$.data.header: unknown key for data format 'libsvm'"},
        {DATA("{\"format\": \"libsvm\", \"path\": \"x\", \"n_features\": "
              "-1}"),
         AT "$.data.n_features: expected an integer in [0, 10000000], got -1"},
        {DATA("{\"format\": \"synthetic\", \"d\": 4}"),
         AT "$.data: missing required key \"n\""},
        {DATA("{\"format\": \"synthetic\", \"kind\": \"linear\", \"n\": 10, "
              "\"d\": 2, \"classes\": 3}"),
         AT "$.data.classes: not an option of synthetic kind \"linear\""},
        {DATA("{\"format\": \"synthetic\", \"kind\": \"spiral\", \"n\": 10, "
              "\"d\": 2}"),
         AT "$.data.kind: expected one of \"clusters\", \"linear\", "
            "\"logistic\", got \"spiral\""},
        {DATA("{\"path\": \"d\", \"scale\": \"none\", \"standardize\": true}"),
         AT "$.data.standardize: give \"scale\" or the older \"standardize\", "
            "not both"},
        {DATA("{\"path\": \"d\", \"scale\": \"zscore\"}"),
         AT "$.data.scale: expected one of \"none\", \"standardize\", "
            "\"minmax\", got \"zscore\""},
        {DATA("{\"path\": \"d\", \"partition\": \"random\"}"),
         AT "$.data.partition: expected one of \"contiguous\", \"iid\", "
            "\"shards\", \"dirichlet\", got \"random\""},
        {DATA("{\"path\": \"d\", \"partition\": 3}"),
         AT "$.data.partition: expected a partition name or an object with "
            "\"kind\", got 3"},
        {DATA("{\"path\": \"d\", \"partition\": {\"alpha\": 1}}"),
         AT "$.data.partition: missing required key \"kind\""},
        {DATA("{\"path\": \"d\", \"partition\": {\"kind\": \"dirichlet\", "
              "\"alpha\": 0}}"),
         AT "$.data.partition.alpha: expected a number > 0, got 0"},
        {DATA("{\"path\": \"d\", \"partition\": {\"kind\": \"iid\", "
              "\"alpha\": 1}}"),
         AT "$.data.partition.alpha: not an option of a \"iid\" partition"},
        {DATA("{\"path\": \"d\", \"partition\": {\"kind\": \"shards\", "
              "\"shards\": 0}}"),
         AT "$.data.partition.shards: expected an integer in [1, 1048576], "
            "got 0"},
        {DATA("{\"path\": \"d\", \"partition\": {\"kind\": \"dirichlet\", "
              "\"seed\": 1}}"),
         AT "$.data.partition.seed: unknown key (known: kind, alpha, shards, "
            "min_rows)"},
#undef DATA
    };
    return cr_make_param_array(bad_case, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(bad_case *c, cfg, rejects_a_bad_config_naming_file_and_path)
{
    load_bad(c->json, NULL, 0, c->want);
}

/* ---- models, data formats and partitions ---- */

static const char models_config[] =
    "{\"algorithm\": {\"name\": \"ssgd\"},\n"
    " \"model\": {\"type\": \"mlp\", \"hidden\": [32, 16],\n"
    "           \"activation\": \"tanh\", \"l2\": 1e-4, \"l1\": 0.5,\n"
    "           \"n_classes\": 10, \"init\": {\"kind\": \"xavier\"}},\n"
    " \"data\": {\"path\": \"d.csv.gz\", \"header\": false,\n"
    "          \"scale\": \"minmax\",\n"
    "          \"partition\": {\"kind\": \"dirichlet\", \"alpha\": 0.1,\n"
    "                        \"min_rows\": 5}}}";

Test(cfg, loads_an_mlp_and_a_dirichlet_partition)
{
    cfg_experiment *e = load_ok(models_config, "configs/m.json", NULL, 0);
    cr_assert(eq(str, e->model.type, "mlp"));
    cr_assert(eq(sz, e->model.n_hidden, 2));
    cr_assert(eq(long, e->model.hidden[0], 32));
    cr_assert(eq(long, e->model.hidden[1], 16));
    cr_assert(eq(int, e->model.activation, 1));
    cr_assert(eq(dbl, e->model.l2, 1e-4));
    cr_assert(eq(dbl, e->model.l1, 0.5));
    cr_assert(eq(long, e->model.n_classes, 10));
    cr_assert(eq(int, e->model.init, CFG_INIT_XAVIER));
    cr_assert(eq(int, e->data.scale, CFG_SCALE_MINMAX));
    cr_assert(eq(int, e->data.standardize, 0));
    cr_assert(eq(int, e->data.partition, CFG_PARTITION_DIRICHLET));
    cr_assert(eq(dbl, e->data.alpha, 0.1));
    cr_assert(eq(long, e->data.min_rows, 5));
    cfg_experiment_free(e);
}

Test(cfg, fills_model_and_data_defaults)
{
    cfg_experiment *e = load_ok("{\"algorithm\": {\"name\": \"ssgd\"}, "
                                "\"model\": {\"type\": \"mlp\"}, "
                                "\"data\": {\"path\": \"d.csv\"}}",
                                "x.json", NULL, 0);
    cr_assert(eq(sz, e->model.n_hidden, 1));
    cr_assert(eq(long, e->model.hidden[0], 128));
    cr_assert(eq(int, e->model.activation, 0));
    cr_assert(eq(int, e->model.init, CFG_INIT_DEFAULT));
    cr_assert(eq(long, e->model.n_classes, 0));
    cr_assert(eq(int, e->data.format, CFG_FORMAT_CSV));
    cr_assert(eq(int, e->data.scale, CFG_SCALE_NONE));
    cr_assert(eq(int, e->data.partition, CFG_PARTITION_CONTIGUOUS));
    cfg_experiment_free(e);
}

Test(cfg, keeps_the_older_standardize_key)
{
    cfg_experiment *e = load_ok("{\"algorithm\": {\"name\": \"ssgd\"}, "
                                "\"data\": {\"path\": \"d.csv\", "
                                "\"standardize\": true}}",
                                "x.json", NULL, 0);
    cr_assert(eq(int, e->data.scale, CFG_SCALE_STANDARDIZE));
    cr_assert(eq(int, e->data.standardize, 1));
    cfg_experiment_free(e);
}

/* Prints, reloads the print and prints again: the prints must match. */
static void check_print_round_trip(const char *text)
{
    cfg_experiment *a = load_ok(text, "configs/x.json", NULL, 0);
    char *ja = cfg_experiment_to_json(a);
    cr_assert_not_null(ja);
    cfg_experiment *b = load_ok(ja, "-", NULL, 0);
    char *jb = cfg_experiment_to_json(b);
    cr_assert_not_null(jb);
    cr_assert(eq(str, ja, jb));
    free(ja);
    free(jb);
    cfg_experiment_free(a);
    cfg_experiment_free(b);
}

Test(cfg, round_trips_models_formats_and_partitions)
{
    check_print_round_trip(models_config);
    check_print_round_trip(
        "{\"algorithm\": {\"name\": \"ssgd\"}, \"model\": {\"type\": "
        "\"softmax\", \"init\": {\"kind\": \"uniform\", \"low\": -0.1, "
        "\"high\": 0.1}}, \"data\": {\"format\": \"idx\", \"images\": "
        "\"/i.gz\", \"labels\": \"/l.gz\", \"test_images\": \"/ti.gz\", "
        "\"test_labels\": \"/tl.gz\", \"partition\": {\"kind\": "
        "\"shards\", \"shards\": 3}}}");
    check_print_round_trip(
        "{\"algorithm\": {\"name\": \"ssgd\"}, \"model\": {\"type\": "
        "\"softmax\"}, \"data\": {\"format\": \"synthetic\", \"n\": 100, "
        "\"d\": 5, \"classes\": 4, \"separation\": 2.5, \"partition\": "
        "\"iid\"}}");
    check_print_round_trip(
        "{\"algorithm\": {\"name\": \"ssgd\"}, \"data\": {\"format\": "
        "\"synthetic\", \"kind\": \"logistic\", \"noise\": 0.5, \"n\": 100, "
        "\"d\": 5}}");
    check_print_round_trip(
        "{\"algorithm\": {\"name\": \"ssgd\"}, \"data\": {\"format\": "
        "\"libsvm\", \"path\": \"/x.svm\", \"n_features\": 20, "
        "\"zero_based\": true}}");
}
