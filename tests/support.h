/* support.h: helpers shared by the test programs.
 *
 * Tests run from the source directory (ctest sets it), so repository paths
 * such as "data/breast_cancer.csv" resolve. DTSIM_BIN is the built binary. */
#ifndef DTSIM_TEST_SUPPORT_H
#define DTSIM_TEST_SUPPORT_H

#include <stddef.h>

typedef struct ts_result {
    int exit_code; /* -1 when killed by a signal */
    char out[16384];
    char err[16384];
} ts_result;

/* Runs `DTSIM_BIN args...` (args NULL-terminated) and captures its exit
 * code, stdout and stderr (truncated to the buffers). */
void ts_run_dtsim(ts_result *r, const char *const *args);

/* A fresh empty directory under /tmp, removed with its contents when the
 * test's process exits; the path is static storage, overwritten by the
 * next call. */
const char *ts_tmpdir(void);

/* Writes text to dir/name and returns the full path (static per call index
 * is not kept: copy it if needed). */
char *ts_write_file(const char *dir, const char *name, const char *text);

/* Counts rows of `SELECT COUNT(*) FROM ...` style query on db file; -1 on
 * error. */
long ts_sql_count(const char *db_path, const char *sql);

/* Runs fn on every row of sql and concatenates every column's text with
 * separators into a new string (free() it); NULL on error. Used to compare
 * tables row by row. */
char *ts_sql_dump(const char *db_path, const char *sql);

#endif
