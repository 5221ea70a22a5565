/* Fuzzes the config reader and validator with the real algorithm specs.
 *
 * Beyond "no crash": a config that loads must survive the round trip the
 * database relies on (a run is repeated from its stored config_json):
 * cfg_experiment_to_json must give text that loads again and prints the
 * same. The source names a directory that does not exist, so resolving
 * data paths never depends on the machine's files. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/io/config.h"
#include "sim/run/runner.h"
#include "tests/fuzz/fuzz_util.h"

#define SOURCE "/nonexistent-dtsim-fuzz/cfg.json"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n_specs;
    const cfg_algorithm_spec *specs = rn_algorithm_specs(&n_specs);
    char *text = fuzz_cstring(data, size);
    cfg_experiment *e = NULL;
    sim_err err = {0};
    int rc = cfg_load_string(text, SOURCE, specs, n_specs, NULL, 0, &e, &err);
    free(text);
    if (rc) {
        if (e || !err.msg[0])
            abort();
        return 0;
    }
    char *json = cfg_experiment_to_json(e);
    if (!json)
        abort();
    cfg_experiment *again = NULL;
    if (cfg_load_string(json, SOURCE, specs, n_specs, NULL, 0, &again, &err)) {
        fprintf(stderr, "round trip fails: %s\n%s\n", err.msg, json);
        abort();
    }
    char *json2 = cfg_experiment_to_json(again);
    if (!json2 || strcmp(json, json2) != 0) {
        fprintf(stderr, "round trip differs:\n%s\n%s\n", json,
                json2 ? json2 : "(null)");
        abort();
    }
    free(json2);
    free(json);
    cfg_experiment_free(again);
    cfg_experiment_free(e);
    return 0;
}
