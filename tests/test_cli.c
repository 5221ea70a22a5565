/* The command line end to end: exit codes, one-line messages that name the
 * file and the place, and nothing written on bad input. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"

/* A valid config; each bad-input case replaces one piece of it. */
#define DATA_DIR DTSIM_SOURCE_DIR "/data"
static const char base_config[] =
    "{\"name\": \"cli\", \"algorithm\": {\"name\": \"ssgd\", \"rounds\": 3},"
    " \"data\": {\"path\": \"" DATA_DIR "/breast_cancer.csv\"},"
    " \"cluster\": {\"workers\": 2}}";

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

Test(cli, runs_a_valid_config_and_prints_the_table)
{
    const char *dir = ts_tmpdir();
    char *cfg = ts_write_file(dir, "ok.json", base_config);
    char db[256];
    snprintf(db, sizeof db, "%s/out.db", dir);
    ts_result r;
    ts_run_dtsim(&r, (const char *[]){"run", cfg, "--out", db, NULL});
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "accuracy"));
    cr_assert(strstr(r.out, "cli"));
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM runs WHERE status = "
                                  "'done'"),
                 1);
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM metrics"), 4,
                 "steps 0..3");
    free(cfg);
}

typedef struct bad_case {
    const char *config;   /* file content */
    const char *extra[4]; /* extra arguments after the config */
    int exit_code;
    const char *expect; /* substring of stderr; "@" stands for the file */
} bad_case;

static bad_case bad_cases[] = {
    /* unknown key */
    {"{\"algorithm\": {\"name\": \"ssgd\"}, \"data\": {\"path\": \"" DATA_DIR
     "/breast_cancer.csv\"}, \"colour\": 1}",
     {NULL},
     2,
     "@: $.colour: unknown key"},
    /* wrong type */
    {"{\"algorithm\": {\"name\": \"ssgd\", \"rounds\": \"many\"}, \"data\": "
     "{\"path\": \"" DATA_DIR "/breast_cancer.csv\"}}",
     {NULL},
     2,
     "@: $.algorithm.rounds: expected"},
    /* negative bandwidth */
    {"{\"algorithm\": {\"name\": \"ssgd\"}, \"data\": {\"path\": \"" DATA_DIR
     "/breast_cancer.csv\"}, \"network\": {\"bandwidth\": -5}}",
     {NULL},
     2,
     "@: $.network.bandwidth: expected"},
    /* zero workers */
    {"{\"algorithm\": {\"name\": \"ssgd\"}, \"data\": {\"path\": \"" DATA_DIR
     "/breast_cancer.csv\"}, \"cluster\": {\"workers\": 0}}",
     {NULL},
     2,
     "@: $.cluster.workers: expected"},
    /* unknown algorithm: the message lists the known ones */
    {"{\"algorithm\": {\"name\": \"sgdx\"}, \"data\": {\"path\": \"" DATA_DIR
     "/breast_cancer.csv\"}}",
     {NULL},
     2,
     "@: $.algorithm.name"},
    /* missing data file */
    {"{\"algorithm\": {\"name\": \"ssgd\"}, \"data\": {\"path\": "
     "\"no/such/file.csv\"}}",
     {NULL},
     2,
     "no/such/file.csv: cannot read"},
    /* syntax error: file, line and column */
    {"{\"algorithm\": {\"name\": \"ssgd\"},\n \"data\": {\"path\": }}",
     {NULL},
     2,
     "@:2:"},
    /* a bad --set value names the JSON path */
    {base_config,
     {"--set", "algorithm.lr=-1", NULL},
     2,
     "@: $.algorithm.lr: expected"},
    /* a --set that is not PATH=VALUE */
    {base_config, {"--set", "algorithm.lr", NULL}, 2, "expected PATH=VALUE"},
    /* an unknown option */
    {base_config, {"--frobnicate", NULL}, 2, "unknown option --frobnicate"},
    /* EASGD whose centre update would overshoot */
    {"{\"algorithm\": {\"name\": \"easgd\", \"lr\": 1, \"rho\": 1}, \"data\": "
     "{\"path\": \"" DATA_DIR "/breast_cancer.csv\"}}",
     {NULL},
     2,
     "$.algorithm.rho"},
};

#define N_BAD (sizeof bad_cases / sizeof bad_cases[0])

/* Criterion may run each instance in a fresh process image, where pointers
 * into this one are meaningless: pass indices into bad_cases instead. */
ParameterizedTestParameters(cli, bad_input_exits_2_with_a_located_message)
{
    static size_t idx[N_BAD];
    for (size_t i = 0; i < N_BAD; i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, N_BAD);
}

ParameterizedTest(size_t *i, cli, bad_input_exits_2_with_a_located_message)
{
    const bad_case *c = &bad_cases[*i];
    const char *dir = ts_tmpdir();
    char *cfg = ts_write_file(dir, "bad.json", c->config);
    char db[256];
    snprintf(db, sizeof db, "%s/out.db", dir);
    const char *args[12] = {"run", cfg, "--out", db};
    size_t n = 4;
    for (size_t i = 0; c->extra[i]; i++)
        args[n++] = c->extra[i];
    args[n] = NULL;

    ts_result r;
    ts_run_dtsim(&r, args);
    cr_assert_eq(r.exit_code, c->exit_code, "exit %d, stderr: %s", r.exit_code,
                 r.err);
    char expect[512];
    const char *at = strchr(c->expect, '@');
    if (at)
        snprintf(expect, sizeof expect, "%.*s%s%s", (int)(at - c->expect),
                 c->expect, cfg, at + 1);
    else
        snprintf(expect, sizeof expect, "%s", c->expect);
    cr_assert(strstr(r.err, expect), "expected \"%s\" in stderr: %s", expect,
              r.err);
    cr_assert(strncmp(r.err, "dtsim: ", 7) == 0);
    /* One line, unless a usage text follows a command-line error. */
    if (!strstr(r.err, "usage:"))
        cr_assert_eq(count_lines(r.err), 1, "stderr: %s", r.err);
    cr_assert_not(exists(db), "nothing may be written on bad input");
    free(cfg);
}

Test(cli, malformed_data_names_file_and_line_and_writes_nothing)
{
    const char *dir = ts_tmpdir();
    char *csv =
        ts_write_file(dir, "d.csv", "1,2,0\n3,4,1\n5,6,0\n7,x,1\n9,10,0\n");
    char cfgtext[512];
    snprintf(cfgtext, sizeof cfgtext,
             "{\"algorithm\": {\"name\": \"ssgd\"}, \"data\": {\"path\": "
             "\"%s\", \"header\": false}, \"cluster\": {\"workers\": 1}}",
             csv);
    char *cfg = ts_write_file(dir, "c.json", cfgtext);
    char db[256];
    snprintf(db, sizeof db, "%s/out.db", dir);
    /* An existing database with a run in it must be left as it was. */
    char *good = ts_write_file(dir, "good.json", base_config);
    ts_result r;
    ts_run_dtsim(&r, (const char *[]){"run", good, "--out", db, NULL});
    cr_assert_eq(r.exit_code, 0, "%s", r.err);

    ts_run_dtsim(&r, (const char *[]){"run", good, cfg, "--out", db, NULL});
    cr_assert_eq(r.exit_code, 2);
    char expect[300];
    snprintf(expect, sizeof expect, "%s:4:", csv);
    cr_assert(strstr(r.err, expect), "stderr: %s", r.err);
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM runs"), 1,
                 "the valid config before the bad one must not run either");
    free(csv);
    free(cfg);
    free(good);
}

Test(cli, an_unwritable_database_is_an_io_error)
{
    const char *dir = ts_tmpdir();
    char *cfg = ts_write_file(dir, "ok.json", base_config);
    ts_result r;
    /* A directory cannot be a database file. */
    ts_run_dtsim(&r, (const char *[]){"run", cfg, "--out", dir, NULL});
    cr_assert_eq(r.exit_code, 1, "stderr: %s", r.err);
    cr_assert(strstr(r.err, dir), "stderr: %s", r.err);
    free(cfg);
}

Test(cli, a_database_from_another_program_is_refused)
{
    const char *dir = ts_tmpdir();
    char *cfg = ts_write_file(dir, "ok.json", base_config);
    char *notdb = ts_write_file(dir, "notes.db", "shopping list\n");
    ts_result r;
    ts_run_dtsim(&r, (const char *[]){"run", cfg, "--out", notdb, NULL});
    cr_assert_eq(r.exit_code, 1, "stderr: %s", r.err);
    cr_assert(strstr(r.err, notdb), "stderr: %s", r.err);
    FILE *f = fopen(notdb, "r");
    char buf[64] = {0};
    cr_assert(fgets(buf, sizeof buf, f));
    fclose(f);
    cr_assert_str_eq(buf, "shopping list\n", "the file is left untouched");
    free(cfg);
    free(notdb);
}

/* The database is opened while the first run simulates; when it cannot
 * be, the run stops at its next evaluation instead of finishing its (here
 * some minutes of) work first, and the error is the same. Criterion's
 * timeout catches a run that goes on. */
Test(cli, a_database_that_fails_while_the_first_run_simulates_stops_it,
     .timeout = 60)
{
    const char *dir = ts_tmpdir();
    char *notdb = ts_write_file(dir, "notes.db", "shopping list\n");
    ts_result r;
    ts_run_dtsim(&r, (const char *[]){"run", "configs/seed/ssgd.json", "--set",
                                      "algorithm.rounds=100000000", "--out",
                                      notdb, NULL});
    cr_assert_eq(r.exit_code, 1, "stderr: %s", r.err);
    cr_assert(strstr(r.err, "not a dtsim database"), "stderr: %s", r.err);
    cr_assert_str_eq(r.out, "", "no table for a run that was not stored");
    free(notdb);
}

Test(cli, check_validates_without_writing)
{
    ts_result r;
    ts_run_dtsim(&r, (const char *[]){"check", "configs/seed/ssgd.json",
                                      "configs/seed/ma.json", NULL});
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "398 train / 171 test"), "stdout: %s", r.out);
}

Test(cli, list_names_every_algorithm)
{
    ts_result r;
    ts_run_dtsim(&r, (const char *[]){"list", NULL});
    cr_assert_eq(r.exit_code, 0);
    const char *names[] = {"ssgd", "ma", "bmuf", "easgd", "logreg"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        cr_assert(strstr(r.out, names[i]), "missing %s", names[i]);
}

Test(cli, help_is_available_for_every_command)
{
    const char *cmds[] = {"run", "check", "list"};
    for (size_t i = 0; i < 3; i++) {
        ts_result r;
        ts_run_dtsim(&r, (const char *[]){cmds[i], "--help", NULL});
        cr_assert_eq(r.exit_code, 0);
        cr_assert(strstr(r.out, "usage: dtsim"), "%s", cmds[i]);
    }
    ts_result r;
    ts_run_dtsim(&r, (const char *[]){"frobnicate", NULL});
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "unknown command"));
}
