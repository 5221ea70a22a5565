/* Replays the fuzzing corpora through the fuzz harnesses, in the normal
 * test suite and so under the sanitizers in CI: every input under
 * tests/fuzz/corpus/<harness>/ (seeds and inputs kept from fuzzing runs) and
 * tests/fuzz/regress/<harness>/ (inputs that once crashed a parser; see
 * tests/fuzz/README.md). A harness aborts when a property it checks fails,
 * which fails the test. No libFuzzer is involved: each harness's entry point
 * is compiled here under its own name. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LLVMFuzzerTestOneInput fuzz_units_one
#include "fuzz/fuzz_units.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_csv_one
#include "fuzz/fuzz_csv.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_split_one
#include "fuzz/fuzz_split.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_config_one
#include "fuzz/fuzz_config.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_libsvm_one
#include "fuzz/fuzz_libsvm.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_idx_one
#include "fuzz/fuzz_idx.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_trace_one
#include "fuzz/fuzz_trace.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_sweep_one
#include "fuzz/fuzz_sweep.c"
#undef LLVMFuzzerTestOneInput

typedef int (*harness_fn)(const uint8_t *, size_t);

/* Feeds every file of tests/fuzz/<kind>/<name>/ to fn; returns how many. */
static size_t replay_dir(const char *kind, const char *name, harness_fn fn)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/%s/%s", DTSIM_SOURCE_DIR, kind,
             name);
    DIR *d = opendir(dir);
    if (!d)
        return 0; /* no regressions yet for this harness */
    size_t n = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        FILE *f = fopen(path, "rb");
        cr_assert(f, "cannot read %s", path);
        uint8_t *buf = malloc(1 << 20);
        size_t len = fread(buf, 1, 1 << 20, f);
        fclose(f);
        fn(buf, len);
        free(buf);
        n++;
    }
    closedir(d);
    return n;
}

static void replay(const char *name, harness_fn fn)
{
    size_t n = replay_dir("corpus", name, fn);
    cr_assert_gt(n, 0, "no corpus for %s", name);
    replay_dir("regress", name, fn);
    /* the harnesses' scratch files */
    unlink(fuzz_input_path(".csv"));
    unlink(fuzz_input_path(".json"));
}

Test(fuzz_corpus, units)
{
    replay("units", fuzz_units_one);
}

Test(fuzz_corpus, csv)
{
    replay("csv", fuzz_csv_one);
}

Test(fuzz_corpus, split)
{
    replay("split", fuzz_split_one);
}

Test(fuzz_corpus, config)
{
    replay("config", fuzz_config_one);
}

Test(fuzz_corpus, libsvm)
{
    replay("libsvm", fuzz_libsvm_one);
}

Test(fuzz_corpus, idx)
{
    replay("idx", fuzz_idx_one);
}

Test(fuzz_corpus, trace)
{
    replay("trace", fuzz_trace_one);
}

Test(fuzz_corpus, sweep)
{
    replay("sweep", fuzz_sweep_one);
}

/* Found by fuzz_trace: a trace with its header and no rows handed qsort a
 * NULL array (undefined behaviour, which the sanitizer build turns into an
 * abort). It is a valid trace of no events. */
Test(fuzz_corpus, trace_with_a_header_and_no_rows_is_no_events)
{
    static const char text[] = "time,worker,event,value\n";
    const char *path =
        fuzz_write_input(".csv", (const uint8_t *)text, sizeof text - 1);
    tr_row *rows = NULL;
    size_t n = 1;
    sim_err err = {0};
    cr_assert_eq(tr_load(path, 4, &rows, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 0);
    free(rows);
    unlink(path);
}
