/* Fuzzes the CSV loader. The first byte chooses the options (header or
 * not, label column, delimiter), the rest is the file. On success the data
 * set must have the promised shape, finite features and integer labels. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "sim/ml/dataset.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char delims[] = {',', ';', '\t', ' ', '|', 'x', '.', 0};
    uint8_t o = data[0];
    ml_csv_opts opts = {.header = o & 1,
                        .label_column = ((o >> 1) & 7) == 7 ? -1 : (o >> 1) & 7,
                        .delimiter = delims[(o >> 4) & 7]};
    const char *path = fuzz_write_input(".csv", data + 1, size - 1);
    ml_dataset *ds = NULL;
    sim_err err = {0};
    int rc = ml_csv_load(path, &opts, &ds, &err);
    if (rc == 0) {
        if (!ds || ds->n == 0 || ds->d == 0 || ds->X->size1 != ds->n ||
            ds->X->size2 != ds->d)
            abort();
        for (size_t i = 0; i < ds->n; i++) {
            if (!(ds->y[i] >= 0) || ds->y[i] != floor(ds->y[i]))
                abort();
            for (size_t j = 0; j < ds->d; j++)
                if (!isfinite(gsl_matrix_get(ds->X, i, j)))
                    abort();
        }
    } else if (ds || !err.msg[0]) {
        abort(); /* a failure leaves *out NULL and says why */
    }
    ml_dataset_free(ds);
    return 0;
}
