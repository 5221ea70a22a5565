/* The pictures end to end: the real binary fills a real database, then the
 * plot tool draws curves and a timeline from it, `dtsim report` writes the
 * HTML page, and headless Chromium loads that page, lays out its charts and
 * logs no error. Needs Debian's python3-matplotlib and chromium
 * (tools/setup.sh installs both); without chromium the browser test skips
 * with a message. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

#define PYTHON "/usr/bin/python3"
#define PLOT DTSIM_SOURCE_DIR "/tools/dtsim_plot.py"
#define CHROMIUM "/usr/bin/chromium"

typedef struct cmd_result {
    int exit_code;
    char *out, *err; /* whole output; free() */
} cmd_result;

static char *read_fd(int fd)
{
    lseek(fd, 0, SEEK_SET);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    ssize_t got;
    while ((got = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)got;
        if (cap - len < 2)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    return buf;
}

/* Runs argv (argv[0] a path) with stdout and stderr captured. */
static cmd_result run(const char *const *argv)
{
    char out_path[] = "/tmp/dtsim-rep-outXXXXXX";
    char err_path[] = "/tmp/dtsim-rep-errXXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    cmd_result r = {.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                    .out = read_fd(out_fd),
                    .err = read_fd(err_fd)};
    close(out_fd);
    close(err_fd);
    unlink(out_path);
    unlink(err_path);
    return r;
}

static void cmd_free(cmd_result *r)
{
    free(r->out);
    free(r->err);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static char *slurp(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    char *s = read_fd(fd);
    close(fd);
    return s;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void assert_png(const char *path)
{
    char *s = slurp(path);
    cr_assert_not_null(s, "%s was not written", path);
    cr_assert(memcmp(s, "\x89PNG", 4) == 0, "%s is a PNG", path);
    cr_assert_gt(file_size(path), 10000, "%s has a picture in it", path);
    free(s);
}

static void assert_svg(const char *path, const char *text)
{
    char *s = slurp(path);
    cr_assert_not_null(s, "%s was not written", path);
    cr_assert(strstr(s, "<svg"), "%s is an SVG", path);
    cr_assert(strstr(s, text), "%s shows '%s'", path, text);
    free(s);
}

/* A database of two experiments over two seeds (a short MA and BMUF) and
 * one SSGD run with its timeline. */
static const char *make_db(void)
{
    static char db[256];
    const char *dir = ts_tmpdir();
    snprintf(db, sizeof db, "%s/r.db", dir);
    for (const char *seed = "1"; seed; seed = seed[0] == '1' ? "2" : NULL) {
        ts_result r;
        ts_run_dtsim(&r, (const char *[]){"run", "configs/seed/ma.json",
                                          "configs/seed/bmuf.json", "--set",
                                          "algorithm.rounds=40", "--seed", seed,
                                          "--out", db, "--quiet", NULL});
        cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    }
    ts_result r;
    ts_run_dtsim(&r, (const char *[]){"run", "configs/tiny.json", "--out", db,
                                      "--quiet", NULL});
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    return db;
}

Test(plots, draws_curves_over_seeds_and_a_timeline)
{
    const char *db = make_db();
    char prefix[300], png[310], svg[310];
    snprintf(prefix, sizeof prefix, "%s-curves", db);
    cmd_result r = run(
        (const char *[]){PYTHON, PLOT, "curves", db, "--out", prefix, NULL});
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    snprintf(png, sizeof png, "%s.png", prefix);
    snprintf(svg, sizeof svg, "%s.svg", prefix);
    assert_png(png);
    /* The legend names each experiment with its number of seeds. */
    assert_svg(svg, "post-ma (n=2)");
    assert_svg(svg, "post-bmuf (n=2)");
    assert_svg(svg, "simulated time");
    assert_svg(svg, "bytes sent");
    cmd_free(&r);

    snprintf(prefix, sizeof prefix, "%s-timeline", db);
    r = run(
        (const char *[]){PYTHON, PLOT, "timeline", db, "--out", prefix, NULL});
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    snprintf(png, sizeof png, "%s.png", prefix);
    snprintf(svg, sizeof svg, "%s.svg", prefix);
    assert_png(png);
    assert_svg(svg, "worker3");
    assert_svg(svg, "idle");
    assert_svg(svg, "utilisation");
    cmd_free(&r);

    snprintf(prefix, sizeof prefix, "%s-scaling", db);
    r = run((const char *[]){PYTHON, PLOT, "scaling", db, "--x",
                             "cluster.workers", "--by", "algorithm.name",
                             "--out", prefix, NULL});
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    snprintf(png, sizeof png, "%s.png", prefix);
    snprintf(svg, sizeof svg, "%s.svg", prefix);
    assert_png(png);
    assert_svg(svg, "bmuf");
    assert_svg(svg, "computation against communication");
    cmd_free(&r);
}

Test(plots, draws_a_tradeoff_label_counts_and_stacked_timelines)
{
    const char *db = make_db();
    char prefix[300], png[310], svg[310];
    /* Run 6: a second run with a timeline, to stack under run 5's. */
    ts_result t;
    ts_run_dtsim(&t,
                 (const char *[]){"run", "configs/tiny.json", "--out", db,
                                  "--set", "name=tiny-again", "--quiet", NULL});
    cr_assert_eq(t.exit_code, 0, "stderr: %s", t.err);

    snprintf(prefix, sizeof prefix, "%s-tradeoff", db);
    cmd_result r =
        run((const char *[]){PYTHON, PLOT, "tradeoff", db, "--by",
                             "algorithm.name", "--out", prefix, NULL});
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    snprintf(png, sizeof png, "%s.png", prefix);
    snprintf(svg, sizeof svg, "%s.svg", prefix);
    assert_png(png);
    assert_svg(svg, "final test accuracy");
    assert_svg(svg, "post-bmuf");
    assert_svg(svg, "bytes sent in the run");
    cmd_free(&r);

    snprintf(prefix, sizeof prefix, "%s-labels", db);
    r = run((const char *[]){PYTHON, PLOT, "labels", db, "--run", "1,5",
                             "--out", prefix, NULL});
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    snprintf(png, sizeof png, "%s.png", prefix);
    snprintf(svg, sizeof svg, "%s.svg", prefix);
    assert_png(png);
    assert_svg(svg, "training rows");
    assert_svg(svg, "run 5: tiny");
    cmd_free(&r);

    snprintf(prefix, sizeof prefix, "%s-timelines", db);
    r = run((const char *[]){PYTHON, PLOT, "timeline", db, "--run", "5,6",
                             "--until", "0.002", "--out", prefix, NULL});
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    snprintf(png, sizeof png, "%s.png", prefix);
    snprintf(svg, sizeof svg, "%s.svg", prefix);
    assert_png(png);
    assert_svg(svg, "run 5: tiny (ssgd)");
    assert_svg(svg, "run 6: tiny-again (ssgd)");
    cmd_free(&r);

    /* A run without events among several is refused like a single one. */
    r = run(
        (const char *[]){PYTHON, PLOT, "timeline", db, "--run", "5,1", NULL});
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "output.events=true"), "stderr: %s", r.err);
    cmd_free(&r);
}

Test(plots, a_sweeps_seeds_are_one_experiment)
{
    /* A sweep names its runs NAME/LABEL with ",seed=N" last: the curves
     * drop it and draw the seeds as one line with a band. */
    const char *dir = ts_tmpdir();
    char spec_text[1024], db[300], prefix[320], svg[330];
    snprintf(spec_text, sizeof spec_text,
             "{\"name\": \"sw\", \"base\": \"%s/configs/tiny.json\","
             " \"grid\": [{\"name\": \"lr\", \"path\": \"algorithm.lr\","
             " \"values\": [0.05, 0.1]}], \"seeds\": 2}",
             DTSIM_SOURCE_DIR);
    char *spec = ts_write_file(dir, "sw.json", spec_text);
    snprintf(db, sizeof db, "%s/sw.db", dir);
    ts_result t;
    ts_run_dtsim(&t, (const char *[]){"sweep", spec, "--out", db, "--jobs", "1",
                                      "--quiet", NULL});
    cr_assert_eq(t.exit_code, 0, "stderr: %s", t.err);
    snprintf(prefix, sizeof prefix, "%s-curves", db);
    cmd_result r = run(
        (const char *[]){PYTHON, PLOT, "curves", db, "--out", prefix, NULL});
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    snprintf(svg, sizeof svg, "%s.svg", prefix);
    assert_svg(svg, "sw/lr=0.05 (n=2)");
    assert_svg(svg, "sw/lr=0.1 (n=2)");
    cmd_free(&r);
    free(spec);
}

Test(plots, bad_input_is_one_line_and_exit_2)
{
    const char *db = make_db();
    cmd_result r =
        run((const char *[]){PYTHON, PLOT, "curves", "/nonexistent.db", NULL});
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "/nonexistent.db"), "stderr: %s", r.err);
    cr_assert_eq(count(r.err, "\n"), 1, "stderr: %s", r.err);
    cmd_free(&r);
    /* Run 1 is MA, which recorded no events. */
    r = run((const char *[]){PYTHON, PLOT, "timeline", db, "--run", "1", NULL});
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "output.events=true"), "stderr: %s", r.err);
    cmd_free(&r);
    r = run(
        (const char *[]){PYTHON, PLOT, "curves", db, "--runs", "999", NULL});
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "run 999"), "stderr: %s", r.err);
    cmd_free(&r);
}

Test(report, writes_one_self_contained_page)
{
    const char *db = make_db();
    char html[300];
    snprintf(html, sizeof html, "%s.html", db);
    ts_result r;
    ts_run_dtsim(&r, (const char *[]){"report", db, "--html", html, NULL});
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    char *page = slurp(html);
    cr_assert_not_null(page);
    cr_assert_eq(count(page, "<svg"), 2, "the curves and the timeline");
    cr_assert(strstr(page, "post-bmuf"), "the run table");
    /* Nothing to fetch: no external scripts, styles, images or fonts. */
    cr_assert_null(strstr(page, "src=\"http"));
    cr_assert_null(strstr(page, "href=\"http"));
    cr_assert_null(strstr(page, "<link"));
    cr_assert_null(strstr(page, "@import"));
    free(page);

    ts_run_dtsim(&r, (const char *[]){"report", db, NULL});
    cr_assert_eq(r.exit_code, 2, "--html is required");
    ts_run_dtsim(&r, (const char *[]){"report", "/nonexistent.db", "--html",
                                      html, NULL});
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "/nonexistent.db"), "stderr: %s", r.err);
}

Test(report, renders_in_headless_chromium_without_errors)
{
    if (access(CHROMIUM, X_OK) != 0) {
        cr_skip_test("chromium is not installed (tools/setup.sh installs it): "
                     "the report was not checked in a browser");
    }
    const char *db = make_db();
    char html[300], url[320], shot[310], shot_arg[330], profile[300],
        profile_arg[320];
    snprintf(html, sizeof html, "%s.html", db);
    snprintf(url, sizeof url, "file://%s", html);
    snprintf(shot, sizeof shot, "%s.png", db);
    snprintf(shot_arg, sizeof shot_arg, "--screenshot=%s", shot);
    snprintf(profile, sizeof profile, "%s-profile", db);
    snprintf(profile_arg, sizeof profile_arg, "--user-data-dir=%s", profile);
    ts_result t;
    ts_run_dtsim(&t, (const char *[]){"report", db, "--html", html, NULL});
    cr_assert_eq(t.exit_code, 0, "stderr: %s", t.err);

    /* --dump-dom prints the page after its load handler ran; the page's
     * script counts the charts with a laid-out size and any script error.
     * Console messages go to stderr with --enable-logging. */
    cmd_result r = run((const char *[]){
        "/usr/bin/timeout", "60", CHROMIUM, "--headless", "--no-sandbox",
        "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        profile_arg, "--enable-logging=stderr", "--v=0",
        "--window-size=1300,2400", shot_arg, "--dump-dom", url, NULL});
    cr_assert_eq(r.exit_code, 0, "chromium failed: %s", r.err);
    cr_assert(strstr(r.out, "data-charts=\"2\""),
              "both charts laid out; body: %.200s",
              strstr(r.out, "<body") ? strstr(r.out, "<body") : r.out);
    cr_assert(strstr(r.out, "data-errors=\"0\""));
    cr_assert_null(strstr(r.err, ":CONSOLE"),
                   "the page logged to the console: %s",
                   strstr(r.err, ":CONSOLE"));
    assert_png(shot);
    cmd_free(&r);
}
