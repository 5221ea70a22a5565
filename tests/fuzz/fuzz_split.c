/* Fuzzes the split-file loader. The first two bytes give the number of
 * rows of the data set, the rest is the JSON file. On success every index
 * is below that number and appears at most once across both lists. */
#include <stdint.h>
#include <stdlib.h>

#include "sim/ml/dataset.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t n_rows = (size_t)data[0] | (size_t)data[1] << 8;
    const char *path = fuzz_write_input(".json", data + 2, size - 2);
    size_t *train = NULL, *test = NULL, n_train = 0, n_test = 0;
    sim_err err = {0};
    int rc = ml_split_from_file(path, n_rows, &train, &n_train, &test, &n_test,
                                &err);
    if (rc == 0) {
        unsigned char *seen = calloc(n_rows ? n_rows : 1, 1);
        if (!seen)
            abort();
        for (size_t i = 0; i < n_train + n_test; i++) {
            size_t r = i < n_train ? train[i] : test[i - n_train];
            if (r >= n_rows || seen[r]++)
                abort();
        }
        free(seen);
    } else if (train || test || !err.msg[0]) {
        abort();
    }
    free(train);
    free(test);
    return 0;
}
