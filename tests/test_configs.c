/* Every config the repository ships is valid: `dtsim check` accepts each
 * experiment config (with its data files), and `dtsim sweep --dry-run`
 * expands each sweep spec. The table below names them all, and a test
 * walks configs/ so that a new file cannot be added without joining it. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "support.h"

typedef struct shipped {
    const char *path; /* relative to the source directory */
    int sweep;        /* 1: a sweep spec (dry run), 0: a config (check) */
} shipped;

static const shipped shipped_configs[] = {
    {"configs/tiny.json", 0},
    {"configs/seed/ssgd.json", 0},
    {"configs/seed/ma.json", 0},
    {"configs/seed/bmuf.json", 0},
    {"configs/seed/easgd.json", 0},
    {"configs/examples/softmax_ssgd.json", 0},
    {"configs/examples/mlp_ssgd.json", 0},
    {"configs/examples/mlp_ma.json", 0},
    {"configs/examples/mlp_bmuf.json", 0},
    {"configs/examples/mlp_easgd.json", 0},
    {"configs/examples/dpsgd_ring.json", 0},
    /* Fashion-MNIST: tools/setup.sh installs dataset-fashion-mnist. */
    {"configs/examples/fmnist_mlp_ssgd.json", 0},
    {"configs/sweeps/comm.json", 1},
    {"configs/sweeps/post_seeds.json", 1},
    {"configs/teaching/comm_vs_comp.json", 0},
    {"configs/teaching/averaging/ma.json", 0},
    {"configs/teaching/averaging/bmuf.json", 0},
    {"configs/teaching/averaging/easgd.json", 0},
    {"configs/teaching/local_steps.json", 0},
    {"configs/teaching/stragglers_ssgd.json", 0},
    {"configs/teaching/stragglers_asgd.json", 0},
    {"configs/teaching/stragglers_backup.json", 0},
    {"configs/teaching/compression.json", 0},
    {"configs/teaching/non-iid.json", 1},
    {"configs/teaching/non-iid/ma.json", 0},
    {"configs/teaching/non-iid-fmnist.json", 1},
    {"configs/teaching/non-iid/fmnist-ma.json", 0},
    {"configs/teaching/ps-vs-allreduce.json", 0},
    {"configs/teaching/crash_wait.json", 0},
    {"configs/teaching/crash_drop.json", 0},
    {"configs/teaching/replay.json", 0},
};

#define N_SHIPPED (sizeof shipped_configs / sizeof shipped_configs[0])

/* Indices, not pointers: Criterion may run each instance in a fresh
 * process image. */
ParameterizedTestParameters(configs, every_shipped_config_is_valid)
{
    static size_t idx[N_SHIPPED];
    for (size_t i = 0; i < N_SHIPPED; i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, N_SHIPPED);
}

ParameterizedTest(size_t *i, configs, every_shipped_config_is_valid,
                  .timeout = 60)
{
    const shipped *c = &shipped_configs[*i];
    ts_result r;
    if (c->sweep)
        ts_run_dtsim(&r, (const char *[]){"sweep", c->path, "--dry-run", NULL});
    else
        ts_run_dtsim(&r, (const char *[]){"check", c->path, NULL});
    cr_assert_eq(r.exit_code, 0, "%s: exit %d, stderr: %s", c->path,
                 r.exit_code, r.err);
    cr_assert_eq(r.err[0], '\0', "%s: stderr: %s", c->path, r.err);
    if (c->sweep) {
        /* A header line "# NAME: N runs (base ...)", then one line per
         * run, "INDEX<TAB>label<TAB>overrides", run 0 first. */
        cr_assert(strncmp(r.out, "# ", 2) == 0 && strstr(r.out, " runs (base "),
                  "%s: %s", c->path, r.out);
        cr_assert(strstr(r.out, "\n0\t"), "%s: %s", c->path, r.out);
    } else {
        char ok[512];
        snprintf(ok, sizeof ok, "%s: ok: ", c->path);
        cr_assert(strstr(r.out, ok), "%s: stdout: %s", c->path, r.out);
    }
}

static int listed(const char *path)
{
    for (size_t i = 0; i < N_SHIPPED; i++)
        if (strcmp(shipped_configs[i].path, path) == 0)
            return 1;
    return 0;
}

/* Counts the .json files under dir (schema.json aside) and fails on the
 * first one the table does not name. */
static size_t walk(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s", dir);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        cr_assert_eq(stat(path, &st), 0, "cannot stat %s", path);
        if (S_ISDIR(st.st_mode)) {
            n += walk(path);
            continue;
        }
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".json") != 0 ||
            strcmp(path, "configs/schema.json") == 0)
            continue;
        cr_assert(listed(path),
                  "%s is not in shipped_configs of tests/test_configs.c: add "
                  "it, so that the suite checks it",
                  path);
        n++;
    }
    closedir(d);
    return n;
}

Test(configs, the_table_names_every_config_in_the_repository)
{
    /* Every file found is listed, and every listed file was found. */
    cr_assert_eq(walk("configs"), N_SHIPPED);
}
