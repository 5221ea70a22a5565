/* Fuzzes the LIBSVM loader. The first byte chooses the options (zero-based
 * indices, labels kept or renumbered, a fixed width of 1-7 columns or the
 * file's), the rest is the file. On success the shape is as promised and
 * every value finite.
 *
 * Known and reported, not a crash: with the file's own width, one feature
 * index in the hundreds of millions makes the dense matrix gigabytes large
 * (a 27-byte file asked for 2.5 GB). Such inputs are skipped in that mode,
 * so the fuzzer explores the parser rather than stopping at the first. */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "sim/ml/loaders.h"
#include "tests/fuzz/fuzz_util.h"

/* Whether the text has an index of 7 digits or more ("1234567:"). */
static int has_huge_index(const uint8_t *p, size_t n)
{
    size_t digits = 0;
    for (size_t i = 0; i < n; i++) {
        if (isdigit(p[i]))
            digits++;
        else if (p[i] == ':' && digits >= 7)
            return 1;
        else
            digits = 0;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    ml_libsvm_opts opts = {.zero_based = data[0] & 1,
                           .keep_labels = (data[0] >> 1) & 1,
                           .n_features = (data[0] >> 2) & 7};
    if (opts.n_features == 0 && has_huge_index(data + 1, size - 1))
        return 0;
    const char *path = fuzz_write_input(".csv", data + 1, size - 1);
    ml_dataset *ds = NULL;
    sim_err err = {0};
    int rc = ml_libsvm_load(path, &opts, &ds, &err);
    if (rc == 0) {
        if (!ds || ds->X->size1 != ds->n || ds->X->size2 != ds->d ||
            (opts.n_features && ds->d != opts.n_features))
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
