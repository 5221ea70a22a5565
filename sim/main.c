/* main.c: the command-line front end.
 *
 * The only place that prints for the user and chooses an exit status:
 * 0 success, 2 bad input (config, data, command line), 1 internal or I/O
 * error. Every input is validated, and every data file read, before the
 * database is opened, so bad input never leaves rows behind. */
#include <errno.h>
#include <gsl/gsl_errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../algorithms/alg.h"
#include "core/cpus.h"
#include "core/err.h"
#include "io/config.h"
#include "io/store.h"
#include "io/units.h"
#include "ml/model.h"
#include "run/bgstore.h"
#include "run/runner.h"
#include "sweep/sweep.h"

#ifndef DTSIM_VERSION
#define DTSIM_VERSION "unknown"
#endif

#define EXIT_INPUT 2
#define EXIT_INTERNAL 1
#define DEFAULT_DB "results/dtsim.db"

static const char usage_main[] =
    "usage: dtsim <command> [options]\n"
    "\n"
    "Simulates distributed training: real SGD math, simulated time and "
    "bytes.\n"
    "\n"
    "commands:\n"
    "  run CONFIG... [--out DB] [--seed N] [--set PATH=VALUE]... [--trace "
    "FILE]\n"
    "      [--max-memory SIZE] [--force] [--quiet]\n"
    "                 run experiments and store the results in SQLite\n"
    "  check CONFIG... [--set PATH=VALUE]... [--max-memory SIZE] [--force]\n"
    "                 validate configs and their data files, print what "
    "each\n"
    "                 run will cost, run nothing\n"
    "  list           algorithms and their parameters, models, options\n"
    "  report DB --html FILE\n"
    "                 one self-contained HTML page: runs, curves, timeline\n"
    "  sweep SPEC [--out DB] [--jobs N] [--resume] [--shard I/N] [--dry-run]\n"
    "                 run a sweep spec's runs in parallel into one database\n"
    "  merge OUT DB...  combine sweep shards' databases into OUT\n"
    "  help [COMMAND] this text, or a command's\n"
    "  version        print the version\n"
    "\n"
    "exit status: 0 success, 2 bad input, 1 internal or I/O error\n";

/* The resource-limit options, which run and check share. */
#define LIMIT_OPTIONS_HELP                                                     \
    "  --max-memory SIZE   refuse a run estimated to need more memory "        \
    "(e.g. 512MB,\n"                                                           \
    "                      4GiB; default half the physical memory)\n"          \
    "  --force             run even a config estimated at more than 1e10 "     \
    "events\n"                                                                 \
    "                      (hours to days of computing)\n"

static const char usage_run[] =
    "usage: dtsim run CONFIG... [--out DB] [--seed N] [--set PATH=VALUE]... "
    "[--trace FILE]\n"
    "                 [--max-memory SIZE] [--force] [--quiet]\n"
    "\n"
    "Runs each CONFIG (a JSON experiment) and appends one run per config to "
    "the\n"
    "SQLite database DB (default " DEFAULT_DB
    "). Every config and data file is\n"
    "checked before anything is written. Prints a table of the results.\n"
    "\n"
    "  --out DB            results database (created if missing; appended "
    "to)\n"
    "  --seed N            override the configs' seed\n"
    "  --set PATH=VALUE    override a config value, e.g. --set "
    "algorithm.lr=0.05\n"
    "                      or --set network.bandwidth=10Gbps (repeatable)\n"
    "  --trace FILE        write each run's timeline in the Chrome "
    "trace-event\n"
    "                      format (open in ui.perfetto.dev or "
    "chrome://tracing);\n"
    "                      with several configs FILE gets -1, -2, ... before "
    "its\n"
    "                      extension, one file per config in order\n"
    "  --quiet             print nothing on success (on a terminal, run "
    "prints a\n"
    "                      line per run as it goes)\n" LIMIT_OPTIONS_HELP;

static const char usage_report[] =
    "usage: dtsim report DB --html FILE [--run ID]\n"
    "\n"
    "Writes one self-contained HTML page (no network needed) from the results\n"
    "database DB: the table of runs, test accuracy against simulated time,\n"
    "bytes and rounds (mean and band over seeds), and the timeline of one run\n"
    "that recorded events (the last, or --run ID). Draws with the plotting\n"
    "tool tools/dtsim_report.py, which needs Python 3 with matplotlib "
    "(Debian:\n"
    "python3-matplotlib); DTSIM_TOOLS names another tools directory.\n";

static const char usage_check[] =
    "usage: dtsim check CONFIG... [--set PATH=VALUE]... [--max-memory SIZE] "
    "[--force]\n"
    "\n"
    "Validates each CONFIG and reads its data files; runs nothing, writes "
    "nothing.\n"
    "Prints each run's estimated memory and events, and refuses them over "
    "the\n"
    "limits as run would. Exit 0 when every config is valid, 2 otherwise.\n"
    "\n" LIMIT_OPTIONS_HELP;

static const char usage_list[] =
    "usage: dtsim list\n"
    "\n"
    "Lists the algorithms with their parameters, the models, data formats,\n"
    "partitions, topologies and straggler models.\n";

static int exit_code_for(int code)
{
    return sim_err_is_input(code) ? EXIT_INPUT : EXIT_INTERNAL;
}

static int fail(const sim_err *err)
{
    fprintf(stderr, "dtsim: %s\n", err->msg);
    return exit_code_for(err->code);
}

static int usage_error(const char *usage, const char *fmt, const char *arg)
{
    fputs("dtsim: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    fputs(usage, stderr);
    return EXIT_INPUT;
}

typedef struct cli {
    const char **configs;
    size_t n_configs;
    cfg_override *overrides;
    size_t n_overrides;
    const char *out;
    const char *seed;
    const char *trace;
    int quiet;
    int help;
    rn_limits limits;
} cli;

/* Parses the options shared by run and check. Returns 0 or an exit code. */
static int parse_args(int argc, char **argv, int allow_run_opts,
                      const char *usage, cli *c)
{
    memset(c, 0, sizeof *c);
    c->out = DEFAULT_DB;
    c->configs = calloc((size_t)argc + 1, sizeof *c->configs);
    /* Room for every --set plus --seed. */
    c->overrides = calloc((size_t)argc + 1, sizeof *c->overrides);
    if (!c->configs || !c->overrides) {
        fputs("dtsim: out of memory\n", stderr);
        return EXIT_INTERNAL;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            c->help = 1;
        } else if (strcmp(a, "--set") == 0) {
            if (!has_value)
                return usage_error(usage, "%s needs PATH=VALUE", a);
            char *kv = argv[++i];
            char *eq = strchr(kv, '=');
            if (!eq || eq == kv)
                return usage_error(usage, "--set %s: expected PATH=VALUE", kv);
            *eq = '\0';
            c->overrides[c->n_overrides++] =
                (cfg_override){.path = kv, .value = eq + 1};
        } else if (allow_run_opts && strcmp(a, "--out") == 0) {
            if (!has_value)
                return usage_error(usage, "%s needs a database path", a);
            c->out = argv[++i];
        } else if (allow_run_opts && strcmp(a, "--seed") == 0) {
            if (!has_value)
                return usage_error(usage, "%s needs a number", a);
            c->seed = argv[++i];
            char *end;
            errno = 0;
            unsigned long long v = strtoull(c->seed, &end, 10);
            if (errno || *end || !*c->seed || c->seed[0] == '-' ||
                v > (1ULL << 53))
                return usage_error(usage,
                                   "--seed %s: expected an integer in 0..2^53",
                                   c->seed);
        } else if (allow_run_opts && strcmp(a, "--trace") == 0) {
            if (!has_value || !*argv[i + 1])
                return usage_error(usage, "%s needs a file path", a);
            c->trace = argv[++i];
        } else if (allow_run_opts && strcmp(a, "--quiet") == 0) {
            c->quiet = 1;
        } else if (strcmp(a, "--max-memory") == 0) {
            double v;
            if (!has_value)
                return usage_error(usage, "%s needs a size (e.g. 4GiB)", a);
            if (units_parse_size(argv[++i], &v) || !(v > 0))
                return usage_error(usage,
                                   "--max-memory %s: expected a size > 0 "
                                   "(e.g. 512MB, 4GiB)",
                                   argv[i]);
            c->limits.max_memory = v;
        } else if (strcmp(a, "--force") == 0) {
            c->limits.force = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error(usage, "unknown option %s", a);
        } else {
            c->configs[c->n_configs++] = a;
        }
    }
    /* --seed is applied last so that it wins over a --set seed=... */
    if (c->seed)
        c->overrides[c->n_overrides++] =
            (cfg_override){.path = "seed", .value = c->seed};
    if (!c->help && c->n_configs == 0)
        return usage_error(usage, "%s", "no CONFIG given");
    return 0;
}

static void cli_free(cli *c)
{
    free(c->configs);
    free(c->overrides);
}

/* Prepares every config before anything runs. Returns 0 or an exit code,
 * having printed the error. */
static int prepare(const cli *c, rn_job *jobs)
{
    sim_err err = {0};
    for (size_t i = 0; i < c->n_configs; i++)
        if (rn_job_prepare_limited(&jobs[i], c->configs[i], c->overrides,
                                   c->n_overrides, &c->limits, &err))
            return fail(&err);
    return 0;
}

static void jobs_free(rn_job *jobs, size_t n)
{
    for (size_t i = 0; jobs && i < n; i++)
        rn_job_free(&jobs[i]);
    free(jobs);
}

static void print_table(const rn_summary *s, size_t n)
{
    printf("%-6s %-22s %-9s %-9s %8s %8s %12s %14s\n", "run", "name",
           "algorithm", "status", "accuracy", "rounds", "sim_seconds",
           "bytes_sent");
    for (size_t i = 0; i < n; i++) {
        char acc[32];
        if (isnan(s[i].final_accuracy))
            snprintf(acc, sizeof acc, "-");
        else
            snprintf(acc, sizeof acc, "%.6f", s[i].final_accuracy);
        printf("%-6lld %-22s %-9s %-9s %8s %8lld %12.6f %14llu\n",
               (long long)s[i].run_id, s[i].name, s[i].algorithm,
               db_status_name(s[i].status), acc, (long long)s[i].steps,
               s[i].sim_seconds, (unsigned long long)s[i].bytes);
    }
}

/* FILE for one config; FILE-N.ext (N from 1) for the i-th of several, so
 * that no run's trace overwrites another's. NULL when out of memory. */
static char *trace_path(const char *path, size_t i, size_t n)
{
    size_t len = strlen(path) + 32;
    char *p = malloc(len);
    if (!p || n == 1) {
        if (p)
            snprintf(p, len, "%s", path);
        return p;
    }
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash) || dot == path || dot[-1] == '/')
        dot = path + strlen(path);
    snprintf(p, len, "%.*s-%zu%s", (int)(dot - path), path, i + 1, dot);
    return p;
}

/* Progress on a terminal: a line per run, rewritten as evaluations come
 * in and when the run ends. */
typedef struct progress_state {
    const rn_job *job;
    size_t i, n;
    int show;             /* on a terminal */
    struct timespec last; /* wall clock of the last redraw */
    bg_store *bg;         /* where metrics rows go as they come, or NULL */
} progress_state;

static void progress_start(const rn_job *j, size_t i, size_t n)
{
    printf("\r\033[K[%zu/%zu] %s (%s, %ld rounds): running", i + 1, n,
           j->cfg->name, j->cfg->algorithm.name, j->cfg->algorithm.rounds);
    fflush(stdout);
}

/* Redraws at most every 100 ms of wall time: a run evaluates thousands of
 * times a second, and the terminal need not. */
static void progress_eval(progress_state *p, const db_metric *m)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double dt = (double)(now.tv_sec - p->last.tv_sec) +
                1e-9 * (double)(now.tv_nsec - p->last.tv_nsec);
    if (dt < 0.1)
        return;
    p->last = now;
    printf("\r\033[K[%zu/%zu] %s (%s): step %lld of %ld, %.6g simulated s, "
           "accuracy %.4f",
           p->i + 1, p->n, p->job->cfg->name, p->job->cfg->algorithm.name,
           (long long)m->step, p->job->cfg->algorithm.rounds, m->sim_time,
           m->test_accuracy);
    fflush(stdout);
}

/* eng_hooks.on_eval: the row to the database thread, if any, and to the
 * terminal. */
static void run_eval(void *user, const db_metric *m)
{
    progress_state *p = user;
    if (p->bg)
        bg_store_metric(p->bg, m);
    if (p->show)
        progress_eval(p, m);
}

static void progress_end(const rn_summary *s, size_t i, size_t n,
                         const char *trace)
{
    if (!s) {
        printf("\r\033[K");
        fflush(stdout);
        return;
    }
    printf("\r\033[K[%zu/%zu] %s (%s): %s, %lld rounds, %.6g simulated s, "
           "accuracy %.4f%s%s\n",
           i + 1, n, s->name, s->algorithm, db_status_name(s->status),
           (long long)s->steps, s->sim_seconds, s->final_accuracy,
           trace ? ", trace " : "", trace ? trace : "");
    fflush(stdout);
}

/* Opens the database into *db and runs jobs[0] into it. With a database
 * thread (*bgp, which this takes over: bgstore.h), the run's row is begun
 * and its metrics rows written there while the run simulates; should that
 * fail, the run is cancelled at its next evaluation and the error reported
 * as if opening had come first. When the database cannot be had, *db is
 * NULL and the return value is the exit code, with the error in *err (not
 * yet printed); otherwise *db is open and the return value is
 * rn_job_store's. */
static int open_and_run_first(const cli *c, rn_job *jobs, bg_store **bgp,
                              const char *trace, eng_hooks *hooks,
                              progress_state *pr, db_store **db,
                              rn_summary *sum, sim_err *err)
{
    *db = NULL;
    char *json = cfg_experiment_to_json(jobs[0].cfg);
    if (!json) {
        sim_err_set(err, SIM_ENOMEM, "out of memory");
        return EXIT_INTERNAL;
    }
    db_run_info info = rn_job_info(&jobs[0], DTSIM_VERSION, json);
    bg_store *bg = *bgp;
    *bgp = NULL;
    if (bg)
        bg_store_begin(bg, &info);
    int64_t run_id = 0;
    int rc = 0;
    if (!bg) {
        rc = db_open_with(c->out, DB_OPEN_NEW_UNSYNCED, db, err);
        if (rc == 0)
            rc = db_run_begin(*db, &info, &run_id, err);
    }
    rn_result res = {0};
    if (rc == 0) {
        pr->bg = bg;
        if (bg)
            hooks->on_eval = run_eval; /* with or without a terminal */
        hooks->cancel = bg ? bg_store_failed(bg) : NULL;
        rn_job_simulate(&jobs[0], trace != NULL, hooks, &res);
        hooks->cancel = NULL;
        pr->bg = NULL;
    }
    if (bg)
        rc = bg_store_join(bg, db, &run_id, &res.metrics_written, err);
    free(json);
    if (rc) {
        eng_output_free(&res.out);
        db_close(*db);
        *db = NULL;
        return exit_code_for(err->code);
    }
    rc = rn_job_store(&jobs[0], *db, run_id, &res, trace, sum, err);
    if (bg) {
        /* A database error left the batch half-written; any other (the
         * run could not start, the trace could not be written) comes after
         * the run was stored, as it would be without the batch. */
        if (rc && err->code == SIM_EDB) {
            db_batch_rollback(*db);
        } else {
            sim_err cerr = {0};
            int crc = db_batch_commit(*db, &cerr);
            if (crc && !rc) {
                rc = crc;
                *err = cerr;
            }
        }
    }
    return rc;
}

static int cmd_run(int argc, char **argv)
{
    cli c;
    int rc = parse_args(argc, argv, 1, usage_run, &c);
    if (rc || c.help) {
        if (c.help)
            fputs(usage_run, stdout);
        cli_free(&c);
        return rc;
    }
    rn_job *jobs = calloc(c.n_configs, sizeof *jobs);
    rn_summary *sums = calloc(c.n_configs, sizeof *sums);
    db_store *db = NULL;
    bg_store *bg = NULL;
    sim_err err = {0};
    if (!jobs || !sums) {
        rc = EXIT_INTERNAL;
        fputs("dtsim: out of memory\n", stderr);
        goto done;
    }
    int spare_core = cpus_available() > 1;
    /* Started before the input is read, to create a new database file
     * meanwhile (removed again should the input be bad). */
    bg = spare_core ? bg_store_start(c.out, DB_OPEN_NEW_UNSYNCED) : NULL;
    if ((rc = prepare(&c, jobs)))
        goto done;
    int progress = !c.quiet && isatty(STDOUT_FILENO);
    for (size_t i = 0; i < c.n_configs; i++) {
        char *trace = NULL;
        if (c.trace && !(trace = trace_path(c.trace, i, c.n_configs))) {
            rc = EXIT_INTERNAL;
            fputs("dtsim: out of memory\n", stderr);
            goto done;
        }
        progress_state pr = {
            .job = &jobs[i], .i = i, .n = c.n_configs, .show = progress};
        eng_hooks hooks = {.on_eval = progress ? run_eval : NULL,
                           .user = &pr,
                           .eval_thread = spare_core};
        if (progress) {
            progress_start(&jobs[i], i, c.n_configs);
            clock_gettime(CLOCK_MONOTONIC, &pr.last);
        }
        int run_rc;
        if (i == 0) {
            run_rc = open_and_run_first(&c, jobs, &bg, trace, &hooks, &pr, &db,
                                        &sums[0], &err);
            if (!db) {
                if (progress)
                    progress_end(NULL, 0, c.n_configs, trace);
                free(trace);
                fprintf(stderr, "dtsim: %s\n", err.msg);
                rc = run_rc;
                goto done;
            }
        } else {
            run_rc = rn_job_run_traced(&jobs[i], db, DTSIM_VERSION, trace,
                                       &hooks, &sums[i], &err);
        }
        if (progress)
            progress_end(run_rc ? NULL : &sums[i], i, c.n_configs, trace);
        free(trace);
        if (run_rc) {
            fprintf(stderr, "dtsim: %s: %s\n", c.configs[i], err.msg);
            rc = exit_code_for(err.code);
            goto done;
        }
    }
    if (!c.quiet)
        print_table(sums, c.n_configs);
done:
    bg_store_abandon(bg); /* not taken over: the input was bad */
    db_close(db);
    jobs_free(jobs, c.n_configs);
    free(sums);
    cli_free(&c);
    return rc;
}

static int cmd_check(int argc, char **argv)
{
    cli c;
    int rc = parse_args(argc, argv, 0, usage_check, &c);
    if (rc || c.help) {
        if (c.help)
            fputs(usage_check, stdout);
        cli_free(&c);
        return rc;
    }
    rn_job *jobs = calloc(c.n_configs, sizeof *jobs);
    if (!jobs) {
        cli_free(&c);
        return EXIT_INTERNAL;
    }
    rc = prepare(&c, jobs);
    for (size_t i = 0; rc == 0 && i < c.n_configs; i++) {
        const cfg_experiment *e = jobs[i].cfg;
        const rn_estimate *est = &jobs[i].est;
        char mem[32], lim[32], model[32], data[32];
        sim_format_bytes(est->total_bytes, mem, sizeof mem);
        sim_format_bytes(rn_max_memory(&c.limits), lim, sizeof lim);
        sim_format_bytes(est->model_bytes, model, sizeof model);
        sim_format_bytes(est->data_bytes, data, sizeof data);
        printf("%s: ok: %s, %s, %d workers, %ld rounds, %zu train / %zu test "
               "rows\n",
               c.configs[i], e->name, e->algorithm.name, e->cluster.workers,
               e->algorithm.rounds, jobs[i].data.train->n,
               jobs[i].data.test->n);
        printf("  estimate: memory %s (limit %s; models %s: %zu parameters x "
               "%.0f copies; data %s), %.3g events%s\n",
               mem, lim, model, est->n_params, est->copies, data, est->events,
               est->events > RN_MAX_EVENTS ? " (over 1e10: --force given)"
                                           : "");
    }
    jobs_free(jobs, c.n_configs);
    cli_free(&c);
    return rc;
}

static void print_param(const cfg_param_spec *p)
{
    char def[64];
    switch (p->type) {
    case CFG_PARAM_CHOICE:
        snprintf(def, sizeof def, "\"%s\"", p->choices[(int)p->def]);
        break;
    case CFG_PARAM_BOOL:
        snprintf(def, sizeof def, "%s", p->def != 0 ? "true" : "false");
        break;
    default:
        snprintf(def, sizeof def, "%g", p->def);
    }
    printf("      %-12s (default %s) %s\n", p->name, def, p->help);
}

static int cmd_list(int argc, char **argv)
{
    if (argc > 0 &&
        (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        fputs(usage_list, stdout);
        return 0;
    }
    if (argc > 0)
        return usage_error(usage_list, "unexpected argument %s", argv[0]);
    puts("algorithms (algorithm.name; every one takes rounds and lr):");
    for (size_t i = 0; alg_registry[i]; i++) {
        const alg_ops *a = alg_registry[i];
        printf("  %-8s %s\n", a->name, a->summary);
        for (size_t p = 0; p < a->n_params; p++)
            print_param(&a->params[p]);
    }
    puts("models (model.type):");
    for (size_t i = 0; mdl_registry[i]; i++)
        printf("  %-8s %s\n", mdl_registry[i]->name, mdl_registry[i]->summary);
    puts("data formats (data.format):\n"
         "  csv         numbers, one example per line, label column "
         "configurable (.gz read directly)\n"
         "  libsvm      sparse LIBSVM text, made dense\n"
         "  idx         the MNIST family (images + labels, own test set)\n"
         "  synthetic   Gaussian clusters, or a linear / logistic teacher\n"
         "scaling (data.scale): none, standardize, minmax\n"
         "partitions (data.partition):\n"
         "  contiguous  worker k holds training rows [k n/K, (k+1) n/K)\n"
         "  iid         a uniform shuffle, then contiguous shares\n"
         "  shards      each worker gets rows of `shards` classes\n"
         "  dirichlet   class proportions per worker ~ Dirichlet(alpha)\n"
         "batches (batch):\n"
         "  fraction    every row joins with probability p (the post)\n"
         "  size        a fixed number of distinct rows\n"
         "topologies (network.topology):\n"
         "  star        every node on one switch, one full-duplex link each\n"
         "  ring, tree, full, hier (racks joined by WAN links), graph "
         "(explicit cables)\n"
         "collectives (algorithm.collective): ps, ring, tree, hier\n"
         "compression (network.compression.codec): none, fp16, topk, "
         "randk, qsgd\n"
         "straggler and failure models (cluster):\n"
         "  speed         per-worker speed factors\n"
         "  slowdown      a fixed slow-down factor for named workers\n"
         "  delay         a random extra delay per step: none, exponential,\n"
         "                lognormal, pareto, gamma, mixture\n"
         "  slow_periods  on/off slow periods (a Markov process per worker)\n"
         "  crash         crashes at a time or a rate, optional recovery;\n"
         "                on_crash: wait or drop (after drop_timeout)\n"
         "  trace         a CSV of (time, worker, event, value) to replay");
    return 0;
}

/* The tools directory: $DTSIM_TOOLS, else tools/ beside the directory of
 * the binary (build/dtsim -> tools/), which holds in a checkout. */
static int tools_dir(char *buf, size_t cap)
{
    const char *env = getenv("DTSIM_TOOLS");
    if (env && *env) {
        snprintf(buf, cap, "%s", env);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    /* Truncation would name a wrong directory: refuse instead. */
    int len = snprintf(buf, cap, "%.*s/../tools", (int)(cap - 16), exe);
    return len < 0 || (size_t)len >= cap ? -1 : 0;
}

/* The report is drawn by a Python tool rather than in C: it shares its
 * plots with tools/dtsim_plot.py, and the simulator needs no plotting
 * library. The tool's exit status (0, 1, 2) passes through. */
static int cmd_report(int argc, char **argv)
{
    const char *db = NULL, *html = NULL, *run = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_report, stdout);
            return 0;
        } else if (strcmp(a, "--html") == 0 || strcmp(a, "--run") == 0) {
            if (i + 1 >= argc)
                return usage_error(usage_report, "%s needs a value", a);
            *(a[2] == 'h' ? &html : &run) = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error(usage_report, "unknown option %s", a);
        } else if (!db) {
            db = a;
        } else {
            return usage_error(usage_report, "unexpected argument %s", a);
        }
    }
    if (!db)
        return usage_error(usage_report, "%s", "no DB given");
    if (!html)
        return usage_error(usage_report, "%s", "--html FILE is required");
    struct stat st;
    if (stat(db, &st) != 0) {
        fprintf(stderr, "dtsim: %s: no such database\n", db);
        return EXIT_INPUT;
    }
    char dir[PATH_MAX], script[PATH_MAX + 32];
    if (tools_dir(dir, sizeof dir)) {
        fputs("dtsim: cannot locate the tools directory; set DTSIM_TOOLS\n",
              stderr);
        return EXIT_INTERNAL;
    }
    snprintf(script, sizeof script, "%s/dtsim_report.py", dir);
    if (access(script, R_OK) != 0) {
        fprintf(stderr, "dtsim: %s: report tool not found; set DTSIM_TOOLS\n",
                script);
        return EXIT_INTERNAL;
    }
    const char *python = getenv("DTSIM_PYTHON");
    /* Debian's interpreter, where python3-matplotlib installs. */
    if (!python || !*python)
        python = "/usr/bin/python3";
    char *args[] = {(char *)python, script,       (char *)db,
                    "--html",       (char *)html, run ? "--run" : NULL,
                    (char *)run,    NULL};
    fflush(NULL);
    execv(python, args);
    fprintf(stderr, "dtsim: %s: cannot run the report tool: %s\n", python,
            strerror(errno));
    return EXIT_INTERNAL;
}

int main(int argc, char **argv)
{
    gsl_set_error_handler_off();
    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_INPUT;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 2, argv + 2);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc - 2, argv + 2);
    if (strcmp(cmd, "list") == 0)
        return cmd_list(argc - 2, argv + 2);
    if (strcmp(cmd, "report") == 0)
        return cmd_report(argc - 2, argv + 2);
    if (strcmp(cmd, "sweep") == 0)
        return sweep_main(argc - 2, argv + 2);
    if (strcmp(cmd, "merge") == 0)
        return merge_main(argc - 2, argv + 2);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("dtsim %s\n", DTSIM_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
        strcmp(cmd, "-h") == 0) {
        const char *topic = argc > 2 ? argv[2] : "";
        fputs(strcmp(topic, "run") == 0      ? usage_run
              : strcmp(topic, "check") == 0  ? usage_check
              : strcmp(topic, "list") == 0   ? usage_list
              : strcmp(topic, "report") == 0 ? usage_report
                                             : usage_main,
              stdout);
        return 0;
    }
    return usage_error(usage_main, "unknown command '%s'", cmd);
}
