/* Fuzzes the straggler/failure trace reader. The first byte gives the
 * number of workers (1-16), the rest is the file. On success the rows are
 * sorted by time, every worker is in range and every value is as
 * replay.h promises. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "sim/cluster/replay.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int workers = 1 + data[0] % 16;
    const char *path = fuzz_write_input(".csv", data + 1, size - 1);
    tr_row *rows = NULL;
    size_t n = 0;
    sim_err err = {0};
    int rc = tr_load(path, workers, &rows, &n, &err);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) {
            const tr_row *r = &rows[i];
            if (!(r->time_s >= 0) || !isfinite(r->time_s) || r->worker < 0 ||
                r->worker >= workers)
                abort();
            if (i > 0 && r->time_s < rows[i - 1].time_s)
                abort();
            if (r->kind == TR_SLOWDOWN &&
                !(r->value >= 1 && isfinite(r->value)))
                abort();
            if (r->kind == TR_DELAY && !(r->value >= 0 && isfinite(r->value)))
                abort();
        }
    } else if (rows || !err.msg[0]) {
        abort();
    }
    free(rows);
    return 0;
}
