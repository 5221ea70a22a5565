/* The bad-input catalogue: each case is one way a hand-written config, a
 * data file from elsewhere or a results database can be wrong. The binary
 * must answer every one with exit 2 (bad input) or 1 (I/O, database), one
 * line on stderr that names the file and the place (JSON path, line, or
 * the database's path), and no rows: a database that did not exist still
 * does not, and one that held runs is byte-for-byte as it was.
 *
 * Unreadable and unwritable files: root reads and writes any file whatever
 * its mode, so when the tests run as root the child drops to the user
 * nobody before it runs dtsim (the temporary directory is made traversable
 * for it); as an ordinary user the file modes alone do it. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <fcntl.h>
#include <pwd.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

enum db_setup {
    DB_NONE,    /* no database: must still not exist afterwards */
    DB_DTSIM,   /* a dtsim database holding one run: must stay unchanged */
    DB_TEXT,    /* a text file in its place */
    DB_FOREIGN, /* an SQLite database of another program, with a runs table */
    DB_IS_DIR,  /* the path is a directory */
    DB_UNDER_FILE, /* the path's parent is a regular file */
    DB_READONLY,   /* a dtsim database the user may not write */
};

enum cfg_setup {
    CFG_FILE,       /* config holds the file's text */
    CFG_DIR,        /* the config path is a directory */
    CFG_MISSING,    /* no such file */
    CFG_UNREADABLE, /* mode 000 */
};

typedef struct bad_case {
    const char *what;
    const char *config; /* @D: the repository's data/, @T: the test's dir */
    const char *csv;    /* written to @T/d.csv when set */
    const char *split;  /* written to @T/s.json when set */
    const char *set;    /* one --set PATH=VALUE when set */
    enum cfg_setup cfg;
    enum db_setup db;
    int exit_code;
    const char *expect; /* in stderr; @C: config path, @T, @B: database */
} bad_case;

/* Pieces of a valid config. */
#define ALG "\"algorithm\": {\"name\": \"ssgd\", \"rounds\": 2}"
#define DATA "\"data\": {\"path\": \"@D/breast_cancer.csv\"}"
#define CFG(more) "{" ALG ", " DATA more "}"
/* A config reading @T/d.csv (no header, label last, one worker). */
#define CSVCFG                                                                 \
    "{" ALG ", \"data\": {\"path\": \"@T/d.csv\", \"header\": false}, "        \
    "\"cluster\": {\"workers\": 1}}"
#define SPLITCFG                                                               \
    "{" ALG ", \"data\": {\"path\": \"@T/d.csv\", \"header\": false, "         \
    "\"split\": {\"file\": \"@T/s.json\"}}, \"cluster\": {\"workers\": 1}}"
#define GOODCSV "1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,10,0\n"

static const bad_case cases[] = {
    /* ---- config: syntax ---- */
    {"empty config file", "", .exit_code = 2, .expect = "@C: empty file"},
    {"blank config file", " \n\t\n", .exit_code = 2, .expect = "@C: empty"},
    {"truncated JSON", "{\"algorithm\": {\"name\": \"ssgd\"},\n \"data\": {",
     .exit_code = 2, .expect = "@C:2:"},
    {"trailing garbage", CFG("") "\n}", .exit_code = 2, .expect = "@C:2:1"},
    {"garbled bytes", "{\"algorithm\"\x01\xff\xfe: 3}", .exit_code = 2,
     .expect = "@C:1:"},
    {"NaN literal", "{" ALG ",\n" DATA ",\n \"seed\": NaN}", .exit_code = 2,
     .expect = "@C:3:"},
    {"deeply nested arrays",
     "{\"x\": "
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
     .exit_code = 2, .expect = "@C:1:"},
    /* deeper than cJSON's nesting limit; built at run time (see below) */
    {"nesting beyond the parser's limit", NULL, .exit_code = 2,
     .expect = "@C:1:"},
    {"top level is an array", "[" CFG("") "]", .exit_code = 2,
     .expect = "@C: $: expected an object"},
    /* ---- config: keys ---- */
    {"unknown top-level key", CFG(", \"colour\": 1"), .exit_code = 2,
     .expect = "@C: $.colour: unknown key"},
    {"unknown nested key", CFG(", \"network\": {\"colour\": 1}"),
     .exit_code = 2, .expect = "@C: $.network.colour: unknown key"},
    {"unknown algorithm parameter",
     "{\"algorithm\": {\"name\": \"ssgd\", \"mu\": 0.9}, " DATA "}",
     .exit_code = 2, .expect = "@C: $.algorithm.mu: unknown"},
    {"duplicate top-level key", CFG(", \"seed\": 1, \"seed\": 2"),
     .exit_code = 2, .expect = "@C: $.seed: duplicate key"},
    {"duplicate nested key",
     CFG(", \"network\": {\"latency\": 1, \"latency\": 2}"), .exit_code = 2,
     .expect = "@C: $.network.latency: duplicate key"},
    {"missing algorithm", "{" DATA "}", .exit_code = 2,
     .expect = "@C: $: missing required key \"algorithm\""},
    {"missing data path", "{" ALG ", \"data\": {}}", .exit_code = 2,
     .expect = "@C: $.data: missing required key \"path\""},
    {"unknown algorithm", "{\"algorithm\": {\"name\": \"sgdx\"}, " DATA "}",
     .exit_code = 2, .expect = "@C: $.algorithm.name"},
    /* ---- config: types ---- */
    {"rounds as a word",
     "{\"algorithm\": {\"name\": \"ssgd\", \"rounds\": \"many\"}, " DATA "}",
     .exit_code = 2, .expect = "@C: $.algorithm.rounds: expected"},
    {"fractional workers", CFG(", \"cluster\": {\"workers\": 2.5}"),
     .exit_code = 2, .expect = "@C: $.cluster.workers: expected"},
    {"section as an array", CFG(", \"network\": [1, 2]"), .exit_code = 2,
     .expect = "@C: $.network: expected"},
    {"boolean as a string", CFG(", \"output\": {\"events\": \"yes\"}"),
     .exit_code = 2, .expect = "@C: $.output.events: expected"},
    {"null value", CFG(", \"seed\": null"), .exit_code = 2,
     .expect = "@C: $.seed: expected"},
    {"unknown unit", CFG(", \"network\": {\"bandwidth\": \"10 parsecs\"}"),
     .exit_code = 2, .expect = "@C: $.network.bandwidth: expected"},
    {"unknown choice",
     "{\"algorithm\": {\"name\": \"ma\", \"average\": \"sometimes\"}, " DATA
     "}",
     .exit_code = 2, .expect = "@C: $.algorithm.average"},
    /* ---- config: ranges ---- */
    {"zero workers", CFG(", \"cluster\": {\"workers\": 0}"), .exit_code = 2,
     .expect = "@C: $.cluster.workers: expected"},
    {"negative workers", CFG(", \"cluster\": {\"workers\": -4}"),
     .exit_code = 2, .expect = "@C: $.cluster.workers: expected"},
    {"zero rounds",
     "{\"algorithm\": {\"name\": \"ssgd\", \"rounds\": 0}, " DATA "}",
     .exit_code = 2, .expect = "@C: $.algorithm.rounds: expected"},
    {"negative learning rate",
     "{\"algorithm\": {\"name\": \"ssgd\", \"lr\": -0.1}, " DATA "}",
     .exit_code = 2, .expect = "@C: $.algorithm.lr: expected"},
    {"zero bandwidth", CFG(", \"network\": {\"bandwidth\": 0}"), .exit_code = 2,
     .expect = "@C: $.network.bandwidth: expected"},
    {"negative bandwidth with a unit",
     CFG(", \"network\": {\"bandwidth\": \"-5Gbps\"}"), .exit_code = 2,
     .expect = "@C: $.network.bandwidth: expected"},
    {"negative latency", CFG(", \"network\": {\"latency\": \"-1ms\"}"),
     .exit_code = 2, .expect = "@C: $.network.latency: expected"},
    {"zero batch size", CFG(", \"batch\": {\"size\": 0}"), .exit_code = 2,
     .expect = "@C: $.batch.size: expected"},
    {"test fraction of one",
     "{" ALG ", \"data\": {\"path\": \"@D/breast_cancer.csv\", \"split\": "
     "{\"test_fraction\": 1}}}",
     .exit_code = 2, .expect = "@C: $.data.split.test_fraction: expected"},
    {"slowdown for a worker that does not exist",
     CFG(", \"cluster\": {\"workers\": 2, \"slowdown\": [{\"worker\": 7, "
         "\"factor\": 2}]}"),
     .exit_code = 2, .expect = "@C: $.cluster.slowdown[0].worker"},
    {"BMUF momentum of one and a half",
     "{\"algorithm\": {\"name\": \"bmuf\", \"mu\": 1.5}, " DATA "}",
     .exit_code = 2, .expect = "@C: $.algorithm.mu: expected"},
    /* ---- config: NaN, Inf, enormous numbers ---- */
    {"infinite learning rate",
     "{\"algorithm\": {\"name\": \"ssgd\", \"lr\": 1e999}, " DATA "}",
     .exit_code = 2, .expect = "@C: $.algorithm.lr: expected"},
    {"NaN latency as a string", CFG(", \"network\": {\"latency\": \"nan\"}"),
     .exit_code = 2, .expect = "@C: $.network.latency: expected"},
    {"infinite bandwidth as a string",
     CFG(", \"network\": {\"bandwidth\": \"inf Gbps\"}"), .exit_code = 2,
     .expect = "@C: $.network.bandwidth: expected"},
    {"enormous duration", CFG(", \"network\": {\"latency\": \"1e400s\"}"),
     .exit_code = 2, .expect = "@C: $.network.latency: expected"},
    {"rounds beyond any integer",
     "{\"algorithm\": {\"name\": \"ssgd\", \"rounds\": 1e300}, " DATA "}",
     .exit_code = 2, .expect = "@C: $.algorithm.rounds: expected"},
    {"seed beyond 2^53", CFG(", \"seed\": 1e20"), .exit_code = 2,
     .expect = "@C: $.seed: expected"},
    {"NaN through --set", CFG(""), .set = "algorithm.lr=nan", .exit_code = 2,
     .expect = "@C: $.algorithm.lr: expected"},
    {"--set of an unknown key", CFG(""), .set = "network.colour=1",
     .exit_code = 2, .expect = "@C: $.network.colour: unknown key"},
    /* ---- the config file itself ---- */
    {"config is a directory", NULL, .cfg = CFG_DIR, .exit_code = 2,
     .expect = "@C: cannot read"},
    {"config does not exist", NULL, .cfg = CFG_MISSING, .exit_code = 2,
     .expect = "@C: cannot read"},
    {"config is unreadable", CFG(""), .cfg = CFG_UNREADABLE, .exit_code = 2,
     .expect = "@C: cannot read"},
    /* ---- data files ---- */
    {"empty data file", CSVCFG, .csv = "", .exit_code = 2,
     .expect = "@T/d.csv: no data rows"},
    {"only blank lines", CSVCFG, .csv = "\n\n\n", .exit_code = 2,
     .expect = "@T/d.csv: no data rows"},
    {"header and no rows",
     "{" ALG ", \"data\": {\"path\": \"@T/d.csv\"}, \"cluster\": "
     "{\"workers\": 1}}",
     .csv = "a,b,label\n", .exit_code = 2, .expect = "@T/d.csv: no data rows"},
    {"a row with a column too few", CSVCFG, .csv = "1,2,0\n3,4,1\n5,0\n7,8,1\n",
     .exit_code = 2, .expect = "@T/d.csv:3: expected 3 columns, got 2"},
    {"a row with a column too many", CSVCFG,
     .csv = "1,2,0\n3,4,1\n5,6,0\n7,8,9,1\n", .exit_code = 2,
     .expect = "@T/d.csv:4: expected 3 columns, got 4"},
    {"a single column", CSVCFG, .csv = "1\n0\n1\n", .exit_code = 2,
     .expect = "@T/d.csv:1: need at least 2 columns"},
    {"truncated last row", CSVCFG, .csv = "1,2,0\n3,4,1\n5,6,0\n7,",
     .exit_code = 2, .expect = "@T/d.csv:4: column 2: empty"},
    {"a word in a number's place", CSVCFG, .csv = GOODCSV "11,twelve,1\n",
     .exit_code = 2, .expect = "@T/d.csv:6: column 2: not a finite number"},
    {"NaN in the data", CSVCFG, .csv = "1,2,0\nnan,4,1\n5,6,0\n7,8,1\n",
     .exit_code = 2, .expect = "@T/d.csv:2: column 1: not a finite number"},
    {"Inf in the data", CSVCFG, .csv = "1,2,0\n3,-inf,1\n5,6,0\n7,8,1\n",
     .exit_code = 2, .expect = "@T/d.csv:2: column 2: not a finite number"},
    {"a number beyond double", CSVCFG,
     .csv = "1,2,0\n3,1e999,1\n5,6,0\n7,8,1\n", .exit_code = 2,
     .expect = "@T/d.csv:2: column 2: not a finite number"},
    {"a blank line between rows", CSVCFG, .csv = "1,2,0\n3,4,1\n\n5,6,0\n",
     .exit_code = 2, .expect = "@T/d.csv:3: empty line"},
    {"a negative label", CSVCFG, .csv = "1,2,0\n3,4,-1\n5,6,0\n7,8,1\n",
     .exit_code = 2, .expect = "@T/d.csv:2: column 3: label must be"},
    {"a fractional label", CSVCFG, .csv = "1,2,0\n3,4,0.5\n5,6,0\n7,8,1\n",
     .exit_code = 2, .expect = "@T/d.csv:2: column 3: label must be"},
    {"binary data", CSVCFG,
     .csv = "\x7f"
            "ELF\x02\x01\x01\xff\xfe,\x01\n",
     .exit_code = 2, .expect = "@T/d.csv:1:"},
    {"label column out of range",
     "{" ALG ", \"data\": {\"path\": \"@T/d.csv\", \"header\": false, "
     "\"label_column\": 5}, \"cluster\": {\"workers\": 1}}",
     .csv = GOODCSV, .exit_code = 2, .expect = "@T/d.csv:1: label column 5"},
    {"LIBSVM feature index in the billions",
     "{" ALG ", \"data\": {\"format\": \"libsvm\", \"path\": \"@T/d.csv\"}, "
     "\"cluster\": {\"workers\": 1}}",
     .csv = "1 1:0.5\n0 2:1\n1 3:1 4000000000:1\n", .exit_code = 2,
     .expect = "@T/d.csv:3: token 3: index 4000000000 above the limit of "
               "10000000 features"},
    {"data file is a directory", "{" ALG ", \"data\": {\"path\": \"@T\"}}",
     .exit_code = 2, .expect = "@T: cannot read"},
    {"data file does not exist",
     "{" ALG ", \"data\": {\"path\": \"@T/none.csv\"}}", .exit_code = 2,
     .expect = "@T/none.csv: cannot read"},
    /* ---- split files ---- */
    {"split index out of range", SPLITCFG, .csv = GOODCSV,
     .split = "{\"train\": [0, 1, 2], \"test\": [3, 5]}", .exit_code = 2,
     .expect = "@T/s.json: $.test[1]: index 5 out of range"},
    {"split index listed twice", SPLITCFG, .csv = GOODCSV,
     .split = "{\"train\": [0, 1, 2], \"test\": [3, 1]}", .exit_code = 2,
     .expect = "@T/s.json: $.test[1]: index 1 already listed at $.train[1]"},
    {"negative split index", SPLITCFG, .csv = GOODCSV,
     .split = "{\"train\": [0, -1], \"test\": [3]}", .exit_code = 2,
     .expect = "@T/s.json: $.train[1]: expected a row index"},
    {"split without a test list", SPLITCFG, .csv = GOODCSV,
     .split = "{\"train\": [0, 1]}", .exit_code = 2,
     .expect = "@T/s.json: $.test: missing"},
    {"truncated split file", SPLITCFG, .csv = GOODCSV,
     .split = "{\"train\": [0, 1],\n \"test\": [3", .exit_code = 2,
     .expect = "@T/s.json:2:"},
    /* ---- databases; bad input must leave a populated one unchanged ---- */
    {"bad config next to a database with runs", CFG(", \"colour\": 1"),
     .db = DB_DTSIM, .exit_code = 2, .expect = "@C: $.colour: unknown key"},
    {"bad data next to a database with runs", CSVCFG, .csv = "1,2,0\n3,x,1\n",
     .db = DB_DTSIM, .exit_code = 2, .expect = "@T/d.csv:2: column 2"},
    {"database path is a directory", CFG(""), .db = DB_IS_DIR, .exit_code = 1,
     .expect = "@B: cannot open database"},
    {"database path under a regular file", CFG(""), .db = DB_UNDER_FILE,
     .exit_code = 1, .expect = "@B: cannot open database"},
    {"database is a text file", CFG(""), .db = DB_TEXT, .exit_code = 1,
     .expect = "@B: not a dtsim database"},
    {"database of another program", CFG(""), .db = DB_FOREIGN, .exit_code = 1,
     .expect = "@B: not a dtsim database"},
    {"database the user may not write", CFG(""), .db = DB_READONLY,
     .exit_code = 1, .expect = "@B: cannot open database"},
};

#define N_CASES (sizeof cases / sizeof cases[0])

/* ------------------------------------------------------------ helpers */

/* Replaces @D, @T, @C and @B in s; free() the result. */
static char *expand(const char *s, const char *tmp, const char *cfg,
                    const char *db)
{
    size_t cap = strlen(s) + 1;
    for (const char *p = s; (p = strchr(p, '@')); p++)
        cap += 512;
    char *out = malloc(cap), *o = out;
    for (const char *p = s; *p; p++) {
        const char *rep = NULL;
        if (p[0] == '@' && p[1] == 'D')
            rep = DTSIM_SOURCE_DIR "/data";
        else if (p[0] == '@' && p[1] == 'T')
            rep = tmp;
        else if (p[0] == '@' && p[1] == 'C')
            rep = cfg;
        else if (p[0] == '@' && p[1] == 'B')
            rep = db;
        if (rep) {
            o += sprintf(o, "%s", rep);
            p++;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

/* The whole file, or NULL when it cannot be read; *len its size. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *len = n;
    return buf;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Runs dtsim with args, as the user nobody when drop is set and we are
 * root. Returns the exit status (-1 on a signal); stderr goes to err. */
static int run_dtsim(const char *const *args, int drop, char *err, size_t cap)
{
    char errpath[] = "/tmp/dtsim-bad-errXXXXXX";
    int fd = mkstemp(errpath);
    cr_assert(fd >= 0);
    size_t n = 0;
    while (args[n])
        n++;
    const char **argv = calloc(n + 2, sizeof *argv);
    argv[0] = DTSIM_BIN;
    memcpy(argv + 1, args, n * sizeof *argv);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, 2);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        if (drop && geteuid() == 0) {
            struct passwd *pw = getpwnam("nobody");
            if (!pw || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
                _exit(126);
        }
        execv(DTSIM_BIN, (char *const *)argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    free(argv);
    ssize_t got = pread(fd, err, cap - 1, 0);
    err[got > 0 ? got : 0] = '\0';
    close(fd);
    unlink(errpath);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* A dtsim database holding one finished run. */
static void make_dtsim_db(const char *tmp, const char *db)
{
    char cfg[512], text[512];
    snprintf(cfg, sizeof cfg, "%s/good.json", tmp);
    snprintf(text, sizeof text,
             "{\"algorithm\": {\"name\": \"ssgd\", \"rounds\": 2}, \"data\": "
             "{\"path\": \"%s/data/breast_cancer.csv\"}}",
             DTSIM_SOURCE_DIR);
    write_text(cfg, text);
    char err[4096];
    int rc =
        run_dtsim((const char *[]){"run", cfg, "--out", db, "--quiet", NULL}, 0,
                  err, sizeof err);
    cr_assert_eq(rc, 0, "setting up the database: %s", err);
    cr_assert_eq(ts_sql_count(db, "SELECT COUNT(*) FROM runs"), 1);
}

static void make_foreign_db(const char *db)
{
    sqlite3 *h;
    cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h,
                              "CREATE TABLE runs(id INTEGER PRIMARY KEY, "
                              "athlete TEXT, km REAL);"
                              "INSERT INTO runs VALUES (1, 'ann', 5.2);",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(h);
}

/* ------------------------------------------------------------- the test */

ParameterizedTestParameters(badinput, is_refused_with_one_located_line)
{
    static size_t idx[N_CASES];
    for (size_t i = 0; i < N_CASES; i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, N_CASES);
}

ParameterizedTest(size_t *i, badinput, is_refused_with_one_located_line)
{
    const bad_case *c = &cases[*i];
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s", ts_tmpdir());
    /* nobody must reach the files the case puts here */
    chmod(tmp, 0755);
    char cfg[256], db[256], csv[256], split[256];
    snprintf(cfg, sizeof cfg, "%s/bad.json", tmp);
    snprintf(csv, sizeof csv, "%s/d.csv", tmp);
    snprintf(split, sizeof split, "%s/s.json", tmp);
    snprintf(db, sizeof db, "%s/out.db", tmp);

    if (c->csv)
        write_text(csv, c->csv);
    if (c->split)
        write_text(split, c->split);

    switch (c->cfg) {
    case CFG_FILE:
    case CFG_UNREADABLE:
        if (c->config) {
            char *text = expand(c->config, tmp, cfg, db);
            write_text(cfg, text);
            free(text);
        } else {
            /* 5000 open brackets: past cJSON's nesting limit of 1000 */
            char *text = malloc(5000 + 8);
            strcpy(text, "{\"x\": ");
            memset(text + 6, '[', 5000);
            text[5006] = '\0';
            write_text(cfg, text);
            free(text);
        }
        if (c->cfg == CFG_UNREADABLE)
            chmod(cfg, 0);
        break;
    case CFG_DIR:
        cr_assert_eq(mkdir(cfg, 0755), 0);
        break;
    case CFG_MISSING:
        break;
    }

    int drop = c->cfg == CFG_UNREADABLE;
    switch (c->db) {
    case DB_NONE:
        break;
    case DB_DTSIM:
        make_dtsim_db(tmp, db);
        break;
    case DB_TEXT:
        write_text(db, "shopping list\n- milk\n");
        break;
    case DB_FOREIGN:
        make_foreign_db(db);
        break;
    case DB_IS_DIR:
        cr_assert_eq(mkdir(db, 0755), 0);
        break;
    case DB_UNDER_FILE:
        write_text(csv, "not a directory\n");
        snprintf(db, sizeof db, "%s/d.csv/out.db", tmp);
        break;
    case DB_READONLY:
        make_dtsim_db(tmp, db);
        chmod(db, 0444);
        chmod(tmp, 0555);
        drop = 1;
        break;
    }
    size_t before_len = 0;
    char *before = c->db == DB_NONE ? NULL : slurp(db, &before_len);

    const char *args[8] = {"run", cfg, "--out", db};
    size_t n = 4;
    if (c->set) {
        args[n++] = "--set";
        args[n++] = c->set;
    }
    args[n] = NULL;
    char err[8192];
    int rc = run_dtsim(args, drop, err, sizeof err);
    chmod(tmp, 0755);

    cr_assert_eq(rc, c->exit_code, "%s: exit %d, stderr: %s", c->what, rc, err);
    char *expect = expand(c->expect, tmp, cfg, db);
    cr_assert(strncmp(err, "dtsim: ", 7) == 0, "%s: stderr: %s", c->what, err);
    cr_assert(strstr(err, expect), "%s: expected \"%s\" in stderr: %s", c->what,
              expect, err);
    const char *nl = strchr(err, '\n');
    cr_assert(nl && nl[1] == '\0', "%s: not one line: %s", c->what, err);
    free(expect);

    /* No rows: a database that was not there still is not, one that was is
     * unchanged to the byte, and no journal is left beside it. */
    char side[300];
    if (c->db == DB_NONE) {
        cr_assert_not(exists(db), "%s: database created", c->what);
    } else if (before) {
        size_t after_len = 0;
        char *after = slurp(db, &after_len);
        cr_assert(after && after_len == before_len &&
                      memcmp(before, after, before_len) == 0,
                  "%s: database changed", c->what);
        free(after);
    }
    snprintf(side, sizeof side, "%s-journal", db);
    cr_assert_not(exists(side), "%s: %s left behind", c->what, side);
    snprintf(side, sizeof side, "%s-wal", db);
    if (c->db != DB_DTSIM && c->db != DB_READONLY)
        cr_assert_not(exists(side), "%s: %s left behind", c->what, side);
    free(before);
}

/* The catalogue is the list: keep it at least that long. */
Test(badinput, catalogue_has_at_least_40_cases)
{
    cr_assert_geq(N_CASES, 40);
}
