/* Fuzzes the unit parsers. The first byte picks the parser, the rest is the
 * text. Every parser must either reject the text or return a value that is
 * not NaN and not negative: callers compare the value with their bounds, and
 * a NaN would slip through every `v < min` test. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "sim/io/units.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static int (*const parsers[])(const char *, double *) = {
        units_parse_duration, units_parse_size, units_parse_bandwidth,
        units_parse_rate};
    int (*parse)(const char *, double *) = parsers[data[0] % 4];
    char *s = fuzz_cstring(data + 1, size - 1);
    double v = -1;
    if (parse(s, &v) == 0 && isnan(v))
        abort();
    free(s);
    return 0;
}
