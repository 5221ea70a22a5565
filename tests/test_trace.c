/* --trace end to end, and the progress lines of `dtsim run`: the real binary
 * writes a Chrome trace-event file that parses as JSON, has the format's
 * fields, and holds exactly the events the same run stores in the database. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

static int count_newlines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

typedef struct tally {
    long compute, send, recv, flow_s, flow_f, counters, meta;
    long ids_unmatched; /* s without its f or the reverse */
} tally;

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int has_number(const cJSON *o, const char *key)
{
    return cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* Parses the file and checks every event against the format: each has a
 * phase, a pid, and the fields its phase needs. */
static tally check_trace(const char *path)
{
    char *text = slurp(path);
    cr_assert_not_null(text, "%s was not written", path);
    cJSON *root = cJSON_Parse(text);
    cr_assert_not_null(root, "%s is not valid JSON near: %.40s", path,
                       cJSON_GetErrorPtr());
    const cJSON *evs = cJSON_GetObjectItemCaseSensitive(root, "traceEvents");
    cr_assert(cJSON_IsArray(evs), "traceEvents is an array");
    tally t = {0};
    long id_balance[4096] = {0};
    const cJSON *e;
    cJSON_ArrayForEach(e, evs)
    {
        const char *ph = str(e, "ph");
        cr_assert_not_null(ph, "every event has a phase");
        cr_assert(has_number(e, "pid"), "every event has a pid");
        if (strcmp(ph, "M") == 0) {
            const cJSON *args = cJSON_GetObjectItemCaseSensitive(e, "args");
            cr_assert(cJSON_IsObject(args));
            t.meta++;
            continue;
        }
        cr_assert(has_number(e, "ts"), "%s event has a timestamp", ph);
        cr_assert(cJSON_GetObjectItemCaseSensitive(e, "ts")->valuedouble >= 0);
        if (strcmp(ph, "X") == 0) {
            cr_assert(has_number(e, "tid"));
            cr_assert(has_number(e, "dur"));
            cr_assert(cJSON_GetObjectItemCaseSensitive(e, "dur")->valuedouble >=
                      0);
            const char *cat = str(e, "cat");
            cr_assert_not_null(cat);
            if (strcmp(cat, "compute") == 0)
                t.compute++;
            else if (strcmp(cat, "send") == 0)
                t.send++;
            else if (strcmp(cat, "recv") == 0)
                t.recv++;
            else
                cr_assert_fail("unexpected slice category %s", cat);
        } else if (strcmp(ph, "s") == 0 || strcmp(ph, "f") == 0) {
            cr_assert(has_number(e, "id"));
            int id = cJSON_GetObjectItemCaseSensitive(e, "id")->valueint;
            cr_assert(id >= 0 && id < 4096);
            id_balance[id] += ph[0] == 's' ? 1 : -1;
            if (ph[0] == 's') {
                t.flow_s++;
            } else {
                t.flow_f++;
                cr_assert_str_eq(str(e, "bp"), "e");
            }
        } else if (strcmp(ph, "C") == 0) {
            cr_assert(
                cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(e, "args")));
            t.counters++;
        } else {
            cr_assert_fail("unexpected phase %s", ph);
        }
    }
    for (int i = 0; i < 4096; i++)
        t.ids_unmatched += id_balance[i] != 0;
    cJSON_Delete(root);
    free(text);
    return t;
}

Test(trace, holds_every_event_the_database_holds)
{
    const char *dir = ts_tmpdir();
    char db[256], trace[256];
    snprintf(db, sizeof db, "%s/t.db", dir);
    snprintf(trace, sizeof trace, "%s/run.json", dir);
    ts_result r;
    ts_run_dtsim(&r, (const char *[]){"run", "configs/tiny.json", "--out", db,
                                      "--trace", trace, "--quiet", NULL});
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    tally t = check_trace(trace);

    /* tiny.json records events, so the database holds the same timeline. */
    long compute =
        ts_sql_count(db, "SELECT COUNT(*) FROM events WHERE kind = 'compute'");
    long sends =
        ts_sql_count(db, "SELECT COUNT(*) FROM events WHERE kind = 'send'");
    long evals = ts_sql_count(
        db, "SELECT COUNT(*) FROM metrics WHERE test_accuracy IS NOT NULL");
    cr_assert_gt(compute, 0);
    cr_assert_eq(t.compute, compute);
    cr_assert_eq(t.send, sends);
    cr_assert_eq(t.counters, evals);
    /* In SSGD on a star every message's receiver can be told: each gets a
     * recv slice and one arrow (s and f with the same id). */
    cr_assert_eq(t.recv, sends);
    cr_assert_eq(t.flow_s, sends);
    cr_assert_eq(t.flow_f, sends);
    cr_assert_eq(t.ids_unmatched, 0);
    /* 20 rounds of 4 workers: a compute and a reply each, and the model. */
    cr_assert_eq(compute, 20 * 4);
    cr_assert_eq(sends, 2 * 20 * 4);
    cr_assert_gt(t.meta, 5, "process and track names");
}

Test(trace, records_the_timeline_without_storing_it)
{
    const char *dir = ts_tmpdir();
    char db[256], trace[256];
    snprintf(db, sizeof db, "%s/t.db", dir);
    snprintf(trace, sizeof trace, "%s/ma.json", dir);
    ts_result r;
    ts_run_dtsim(&r, (const char *[]){"run", "configs/seed/ma.json", "--set",
                                      "algorithm.rounds=6", "--out", db,
                                      "--trace", trace, "--quiet", NULL});
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    tally t = check_trace(trace);
    /* MA: 6 rounds of 5 local steps on 4 workers; 2 messages per worker and
     * round. */
    cr_assert_eq(t.compute, 6 * 5 * 4);
    cr_assert_eq(t.send, 6 * 2 * 4);
    cr_assert_eq(t.flow_s, t.send);
    cr_assert_eq(t.counters, 7, "rounds 0..6");
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM events"), 0,
                 "the config did not ask for events rows");
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM runs WHERE "
                                  "json_extract(config_json, "
                                  "'$.output.events') = 0"),
                 1, "the stored config is the one given");
}

Test(trace, several_configs_get_numbered_files)
{
    const char *dir = ts_tmpdir();
    char db[256], trace[256], one[256], two[256];
    snprintf(db, sizeof db, "%s/t.db", dir);
    snprintf(trace, sizeof trace, "%s/tr.json", dir);
    snprintf(one, sizeof one, "%s/tr-1.json", dir);
    snprintf(two, sizeof two, "%s/tr-2.json", dir);
    ts_result r;
    ts_run_dtsim(&r, (const char *[]){"run", "configs/tiny.json",
                                      "configs/tiny.json", "--set",
                                      "algorithm.rounds=2", "--out", db,
                                      "--trace", trace, "--quiet", NULL});
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    struct stat st;
    cr_assert_neq(stat(trace, &st), 0, "no unnumbered file");
    cr_assert_eq(check_trace(one).compute, 2 * 4);
    cr_assert_eq(check_trace(two).compute, 2 * 4);
}

Test(trace, an_unwritable_path_is_an_io_error_naming_it)
{
    const char *dir = ts_tmpdir();
    char db[256];
    snprintf(db, sizeof db, "%s/t.db", dir);
    const char *bad = "/nonexistent-dir/x.json";
    ts_result r;
    ts_run_dtsim(&r, (const char *[]){"run", "configs/tiny.json", "--out", db,
                                      "--trace", bad, "--quiet", NULL});
    cr_assert_eq(r.exit_code, 1, "stderr: %s", r.err);
    cr_assert(strstr(r.err, bad), "stderr: %s", r.err);
    cr_assert_eq(count_newlines(r.err), 1);
}

/* The terminal: a line per run while running, only when stdout is one. */
Test(progress, shows_a_line_per_run_on_a_terminal_only)
{
    const char *dir = ts_tmpdir();
    char db[256];
    snprintf(db, sizeof db, "%s/t.db", dir);
    ts_result r;
    ts_run_dtsim(
        &r, (const char *[]){"run", "configs/tiny.json", "--out", db, NULL});
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    cr_assert_null(strstr(r.out, "[1/1]"), "no progress into a file: %s",
                   r.out);
    cr_assert_null(strchr(r.out, '\r'));
    cr_assert(strstr(r.out, "accuracy"), "the summary table");

    int master;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        execl(DTSIM_BIN, DTSIM_BIN, "run", "configs/tiny.json",
              "configs/tiny.json", "--out", db, (char *)NULL);
        _exit(127);
    }
    char out[8192];
    size_t len = 0;
    ssize_t got;
    /* A pty reports EIO once the child has closed it. */
    while (len + 1 < sizeof out &&
           (got = read(master, out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)got;
    out[len] = '\0';
    int status;
    waitpid(pid, &status, 0);
    close(master);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", out);
    cr_assert(strstr(out, "[1/2] tiny (ssgd"), "%s", out);
    cr_assert(strstr(out, "[2/2] tiny (ssgd): done, 20 rounds"), "%s", out);
    cr_assert(strstr(out, "accuracy"), "then the table: %s", out);

    ts_run_dtsim(&r, (const char *[]){"run", "configs/tiny.json", "--out", db,
                                      "--quiet", NULL});
    cr_assert_eq(r.exit_code, 0);
    cr_assert_str_eq(r.out, "", "--quiet prints nothing");
}

/* A long run redraws its line as rounds go by (at most every 100 ms), with
 * the step, the simulated time and the accuracy. */
Test(progress, follows_the_rounds_of_a_long_run, .timeout = 120)
{
    const char *dir = ts_tmpdir();
    char db[256];
    snprintf(db, sizeof db, "%s/t.db", dir);
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        execl(DTSIM_BIN, DTSIM_BIN, "run", "configs/seed/easgd.json", "--set",
              "algorithm.rounds=100000", "--out", db, (char *)NULL);
        _exit(127);
    }
    static char out[1 << 16];
    size_t len = 0;
    ssize_t got;
    while (len + 1 < sizeof out &&
           (got = read(master, out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)got;
    out[len] = '\0';
    int status;
    waitpid(pid, &status, 0);
    close(master);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", out);
    cr_assert(strstr(out, "post-easgd (easgd): step "), "%s", out);
    cr_assert(strstr(out, " of 100000, "), "%s", out);
    cr_assert(strstr(out, "simulated s, accuracy 0."), "%s", out);
}
