/* Fuzzes the sweep spec reader. The base config must be inline (a path
 * would name a file the fuzzer does not control). On success every run has
 * a label and overrides with a path and a value, the run indices count up
 * from 0, and the run's name override is "NAME/LABEL" printed exactly as
 * cJSON prints that string (the reader escapes it itself). */
#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sweep/spec.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_input(".json", data, size);
    sw_spec *s = NULL;
    sim_err err = {0};
    int rc = sw_spec_load(path, &s, &err);
    if (rc == 0) {
        if (!s || !s->base_text)
            abort();
        for (size_t i = 0; i < s->n_runs; i++) {
            const sw_run *r = &s->runs[i];
            if (r->idx != i || !r->label)
                abort();
            for (size_t k = 0; k < r->n_ov; k++) {
                if (!r->ov[k].path || !r->ov[k].value)
                    abort();
                /* The first runs and the last: every name is made the same
                 * way, and checking all would cost as much as expanding. */
                if (strcmp(r->ov[k].path, "name") != 0 ||
                    (i >= 64 && i + 1 < s->n_runs))
                    continue;
                size_t n = strlen(s->name) + strlen(r->label) + 2;
                char *full = malloc(n);
                snprintf(full, n, "%s/%s", s->name, r->label);
                cJSON *str = cJSON_CreateString(full);
                char *want = cJSON_PrintUnformatted(str);
                if (!want || strcmp(want, r->ov[k].value) != 0)
                    abort();
                cJSON_free(want);
                cJSON_Delete(str);
                free(full);
            }
        }
    } else if (s || !err.msg[0]) {
        abort();
    }
    sw_spec_free(s);
    return 0;
}
