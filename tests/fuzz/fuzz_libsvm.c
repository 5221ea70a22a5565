/* Fuzzes the LIBSVM loader. The first byte chooses the options (zero-based
 * indices, labels kept or renumbered, a fixed width of 1-7 columns or the
 * file's), the rest is the file. On success the shape is as promised, the
 * dense matrix within the memory limit given, and every value finite.
 *
 * The loader refuses an index above ML_LIBSVM_MAX_FEATURES and a dense
 * matrix above opts.max_bytes (here 64 MB, far below the fuzzer's RSS
 * limit), so a huge index is an error the fuzzer sees, not an allocation
 * (once a 27-byte file asked for 2.5 GB). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "sim/ml/loaders.h"
#include "tests/fuzz/fuzz_util.h"

#define FUZZ_MAX_BYTES (64.0 * 1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    ml_libsvm_opts opts = {.zero_based = data[0] & 1,
                           .keep_labels = (data[0] >> 1) & 1,
                           .n_features = (data[0] >> 2) & 7,
                           .max_bytes = FUZZ_MAX_BYTES};
    const char *path = fuzz_write_input(".csv", data + 1, size - 1);
    ml_dataset *ds = NULL;
    sim_err err = {0};
    int rc = ml_libsvm_load(path, &opts, &ds, &err);
    if (rc == 0) {
        if (!ds || ds->X->size1 != ds->n || ds->X->size2 != ds->d ||
            (opts.n_features && ds->d != opts.n_features) ||
            ds->d > ML_LIBSVM_MAX_FEATURES ||
            (double)ds->n * (double)ds->d * sizeof(double) > FUZZ_MAX_BYTES)
            abort();
        for (size_t i = 0; i < ds->n; i++) {
            if (!(ds->y[i] >= 0) || ds->y[i] != floor(ds->y[i]))
                abort();
            for (size_t j = 0; j < ds->d; j++)
                if (!isfinite(gsl_matrix_get(ds->X, i, j)))
                    abort();
        }
    } else if (ds || !err.msg[0]) {
        abort();
    }
    ml_dataset_free(ds);
    return 0;
}
