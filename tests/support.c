#include "support.h"

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void read_all(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    ssize_t got;
    char sink[4096];
    while ((got = read(fd, len + 1 < cap ? buf + len : sink,
                       len + 1 < cap ? cap - 1 - len : sizeof sink)) > 0) {
        if (len + 1 < cap)
            len += (size_t)got;
    }
    buf[len] = '\0';
}

void ts_run_dtsim(ts_result *r, const char *const *args)
{
    char out_path[] = "/tmp/dtsim-test-outXXXXXX";
    char err_path[] = "/tmp/dtsim-test-errXXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    size_t n = 0;
    while (args[n])
        n++;
    const char **argv = calloc(n + 2, sizeof *argv);
    argv[0] = DTSIM_BIN;
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = args[i];

    pid_t pid = fork();
    if (pid == 0) {
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        execv(DTSIM_BIN, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    free(argv);
    r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    lseek(out_fd, 0, SEEK_SET);
    lseek(err_fd, 0, SEEK_SET);
    read_all(out_fd, r->out, sizeof r->out);
    read_all(err_fd, r->err, sizeof r->err);
    close(out_fd);
    close(err_fd);
    unlink(out_path);
    unlink(err_path);
}

/* The directories ts_tmpdir made, removed with everything in them when the
 * test's process exits (Criterion runs each test in a process of its own,
 * and exit handlers run whether it passes, fails or is skipped). Only by
 * the process that made them: a forked child that exits leaves them. */
#define TS_MAX_DIRS 16
static char made[TS_MAX_DIRS][64];
static int n_made;
static pid_t made_by;

static int remove_one(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_made(void)
{
    if (getpid() != made_by)
        return;
    for (int i = 0; i < n_made; i++)
        nftw(made[i], remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *ts_tmpdir(void)
{
    static char path[64];
    strcpy(path, "/tmp/dtsim-testXXXXXX");
    if (!mkdtemp(path))
        return NULL;
    if (n_made == 0) {
        made_by = getpid();
        atexit(remove_made);
    }
    if (n_made < TS_MAX_DIRS)
        strcpy(made[n_made++], path);
    return path;
}

char *ts_write_file(const char *dir, const char *name, const char *text)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *path = malloc(len);
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        free(path);
        return NULL;
    }
    fputs(text, f);
    fclose(f);
    return path;
}

long ts_sql_count(const char *db_path, const char *sql)
{
    sqlite3 *db;
    long n = -1;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) !=
        SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            n = (long)sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

char *ts_sql_dump(const char *db_path, const char *sql)
{
    sqlite3 *db;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) !=
        SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    buf[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        int cols = sqlite3_column_count(st);
        for (int c = 0; c < cols; c++) {
            const char *v = (const char *)sqlite3_column_text(st, c);
            if (!v)
                v = "NULL";
            size_t need = strlen(v) + 2;
            if (len + need + 1 > cap) {
                while (len + need + 1 > cap)
                    cap *= 2;
                buf = realloc(buf, cap);
            }
            memcpy(buf + len, v, need - 2);
            len += need - 2;
            buf[len++] = c + 1 < cols ? '|' : '\n';
            buf[len] = '\0';
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return buf;
}
