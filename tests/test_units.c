/* test_units.c: quantities with units, good and bad. */
#include "sim/io/units.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <math.h>

typedef enum kind { DURATION, SIZE, BANDWIDTH, RATE } kind;

/* Text is held by value: Criterion copies parameters into each test's
 * process, where pointers into the parent need not be valid. */
typedef struct unit_case {
    kind kind;
    char text[32];
    double want;
} unit_case;

static int parse(kind k, const char *s, double *out)
{
    switch (k) {
    case DURATION:
        return units_parse_duration(s, out);
    case SIZE:
        return units_parse_size(s, out);
    case BANDWIDTH:
        return units_parse_bandwidth(s, out);
    case RATE:
        return units_parse_rate(s, out);
    }
    return -1;
}

ParameterizedTestParameters(units, parses_every_documented_unit)
{
    static unit_case cases[] = {
        {DURATION, "250us", 250e-6},
        {DURATION, "1.5ms", 1.5e-3},
        {DURATION, "2s", 2},
        {DURATION, "1min", 60},
        {DURATION, "1h", 3600},
        {DURATION, "10ns", 10e-9},
        {DURATION, "5\xc2\xb5s", 5e-6},
        {DURATION, "3 ms", 3e-3},
        {DURATION, "3\tms", 3e-3},
        {DURATION, "1e-3s", 1e-3},
        {DURATION, "2.5E2ms", 0.25},
        {DURATION, ".5s", 0.5},
        {DURATION, "0.5", 0.5},
        {DURATION, "0s", 0},
        {DURATION, "+1s", 1},
        {DURATION, "-5ms", -5e-3}, /* range is the caller's to check */
        {SIZE, "1.5MB", 1.5e6},
        {SIZE, "4KiB", 4096},
        {SIZE, "512B", 512},
        {SIZE, "512", 512},
        {SIZE, "8b", 1},
        {SIZE, "1kB", 1e3},
        {SIZE, "1KB", 1e3},
        {SIZE, "1GB", 1e9},
        {SIZE, "2GiB", 2147483648.0},
        {SIZE, "3MiB", 3145728},
        {SIZE, "1Mb", 125000},
        {SIZE, "1kb", 125},
        {SIZE, "16 bit", 2},
        {BANDWIDTH, "10Gbps", 1.25e9},
        {BANDWIDTH, "1 Gbps", 1.25e8},
        {BANDWIDTH, "100Mbps", 1.25e7},
        {BANDWIDTH, "100Mbit/s", 1.25e7},
        {BANDWIDTH, "8bps", 1},
        {BANDWIDTH, "8bit/s", 1},
        {BANDWIDTH, "1kbps", 125},
        {BANDWIDTH, "1Tbps", 1.25e11},
        {BANDWIDTH, "125MB/s", 1.25e8},
        {BANDWIDTH, "125MBps", 1.25e8},
        {BANDWIDTH, "1GB/s", 1e9},
        {BANDWIDTH, "1GBps", 1e9},
        {BANDWIDTH, "1kB/s", 1e3},
        {BANDWIDTH, "1B/s", 1},
        {BANDWIDTH, "1Bps", 1},
        {BANDWIDTH, "1KiB/s", 1024},
        {BANDWIDTH, "1MiB/s", 1048576},
        {BANDWIDTH, "1e3", 1e3},
        {RATE, "2G", 2e9},
        {RATE, "2GFLOPS", 2e9},
        {RATE, "2 GFLOPS", 2e9},
        {RATE, "3kFLOP/s", 3e3},
        {RATE, "1.5T", 1.5e12},
        {RATE, "4M", 4e6},
        {RATE, "100", 100},
        {RATE, "7FLOPS", 7},
    };
    return cr_make_param_array(unit_case, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(unit_case *c, units, parses_every_documented_unit)
{
    double got = NAN;
    cr_assert(eq(int, parse(c->kind, c->text, &got), 0), "\"%s\" rejected",
              c->text);
    cr_assert(fabs(got - c->want) <= 1e-12 * fabs(c->want),
              "\"%s\": got %.17g, want %.17g", c->text, got, c->want);
}

ParameterizedTestParameters(units, rejects_malformed_quantities)
{
    static unit_case cases[] = {
        {DURATION, "", 0},          {DURATION, "ms", 0},
        {DURATION, "nan", 0},       {DURATION, "NaN", 0},
        {DURATION, "inf", 0},       {DURATION, "Infinity", 0},
        {DURATION, "-inf", 0},      {DURATION, "nanms", 0},
        {DURATION, "0x10s", 0},     {DURATION, "1e999s", 0},
        {DURATION, "1e400h", 0},    {DURATION, "10MS", 0},
        {DURATION, "10 s s", 0},    {DURATION, "1.2.3s", 0},
        {DURATION, " 5s", 0},       {DURATION, "5s ", 0},
        {DURATION, "5 ", 0},        {DURATION, "s5", 0},
        {DURATION, "--5s", 0},      {DURATION, "+-5s", 0},
        {DURATION, "5e", 0},        {DURATION, "5kb", 0},
        {DURATION, "10Gbps", 0},    {SIZE, "1.5mB", 0},
        {SIZE, "1KIB", 0},          {SIZE, "1Gbps", 0},
        {SIZE, "1e308GB", 0},       {BANDWIDTH, "10 Gbpsx", 0},
        {BANDWIDTH, "10Gbitps", 0}, {BANDWIDTH, "10mbps", 0},
        {BANDWIDTH, "10GBit/s", 0}, {BANDWIDTH, "10Gb", 0},
        {BANDWIDTH, "10Gbps/s", 0}, {BANDWIDTH, "1e306Tbps", 0},
        {BANDWIDTH, "Gbps", 0},     {RATE, "2g", 0},
        {RATE, "2KFLOPS", 0},       {RATE, "2Gflops", 0},
        {RATE, "2 G FLOPS", 0},     {RATE, "1e300T", 0},
    };
    return cr_make_param_array(unit_case, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(unit_case *c, units, rejects_malformed_quantities)
{
    double got = 0;
    cr_assert(eq(int, parse(c->kind, c->text, &got), -1),
              "\"%s\" accepted as %.17g", c->text, got);
}

Test(units, reads_decimal_prefixes_to_the_nearest_double)
{
    /* 100 * 1e-6 would be one ulp below 1e-4. */
    double got;
    cr_assert(eq(int, units_parse_duration("100us", &got), 0));
    cr_assert(eq(dbl, got, 1e-4));
    cr_assert(eq(int, units_parse_duration("1.5ms", &got), 0));
    cr_assert(eq(dbl, got, 1.5e-3));
    cr_assert(eq(int, units_parse_duration("0.3s", &got), 0));
    cr_assert(eq(dbl, got, 0.3));
    cr_assert(eq(int, units_parse_bandwidth("0.3Gbps", &got), 0));
    cr_assert(eq(dbl, got, 0.3e9 / 8));
    cr_assert(eq(int, units_parse_rate("2.5e-3G", &got), 0));
    cr_assert(eq(dbl, got, 2.5e6));
}

Test(units, rejects_a_null_string)
{
    double got;
    cr_assert(eq(int, units_parse_duration(NULL, &got), -1));
    cr_assert(eq(int, units_parse_size(NULL, &got), -1));
    cr_assert(eq(int, units_parse_bandwidth(NULL, &got), -1));
    cr_assert(eq(int, units_parse_rate(NULL, &got), -1));
}
