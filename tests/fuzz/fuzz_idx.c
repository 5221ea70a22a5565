/* Fuzzes the IDX (MNIST family) loader. The first byte chooses raw bytes or
 * scaled features; the next two give where the input splits into the image
 * file and the label file. On success every feature lies in the promised
 * range and every label is an integer >= 0. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "sim/ml/loaders.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    ml_idx_opts opts = {.raw = data[0] & 1};
    size_t cut = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (cut > size)
        cut = size;
    /* Two files: the .csv and .json names are just two distinct paths. */
    char images[128], labels[128];
    snprintf(images, sizeof images, "%s", fuzz_write_input(".csv", data, cut));
    snprintf(labels, sizeof labels, "%s",
             fuzz_write_input(".json", data + cut, size - cut));
    ml_dataset *ds = NULL;
    sim_err err = {0};
    int rc = ml_idx_load(images, labels, &opts, &ds, &err);
    if (rc == 0) {
        double hi = opts.raw ? 255 : 1;
        if (!ds || ds->X->size1 != ds->n || ds->X->size2 != ds->d)
            abort();
        for (size_t i = 0; i < ds->n; i++) {
            if (!(ds->y[i] >= 0) || ds->y[i] != floor(ds->y[i]))
                abort();
            for (size_t j = 0; j < ds->d; j++) {
                double v = gsl_matrix_get(ds->X, i, j);
                if (!(v >= 0 && v <= hi))
                    abort();
            }
        }
    } else if (ds || !err.msg[0]) {
        abort();
    }
    ml_dataset_free(ds);
    return 0;
}
