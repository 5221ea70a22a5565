#include "replay.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"slowdown", "delay", "crash",
                                         "recover"};

const char *tr_kind_name(tr_kind k)
{
    return kind_names[k];
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && strchr(" \t\r\n", s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(d))
        return -1;
    *out = d;
    return 0;
}

/* Stable by time: equal times keep file order (index as tie-break). */
static int cmp_rows(const void *a, const void *b)
{
    const tr_row *x = a, *y = b;
    if (x->time_s != y->time_s)
        return x->time_s < y->time_s ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

int tr_load(const char *path, int workers, tr_row **rows, size_t *n,
            sim_err *err)
{
    *rows = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return sim_err_set(err, SIM_EIO, "%s: cannot read: %s", path,
                           strerror(errno));
    char line[512];
    size_t cap = 0, lineno = 0;
    tr_row *r = NULL;
    int rc = 0, seen_header = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        if (!seen_header) {
            seen_header = 1;
            if (strcmp(s, "time,worker,event,value") != 0) {
                rc = sim_err_set(err, SIM_EDATA,
                                 "%s:%zu: expected the header "
                                 "\"time,worker,event,value\"",
                                 path, lineno);
                break;
            }
            continue;
        }
        char *field[4] = {0};
        int nf = 0;
        for (char *p = s; nf < 4;) {
            field[nf++] = p;
            char *comma = strchr(p, ',');
            if (!comma)
                break;
            *comma = '\0';
            p = comma + 1;
        }
        if (nf < 3 || (nf == 4 && strchr(field[3], ','))) {
            rc = sim_err_set(err, SIM_EDATA,
                             "%s:%zu: expected 4 columns "
                             "(time,worker,event,value)",
                             path, lineno);
            break;
        }
        tr_row row = {0};
        double w;
        const char *value = nf == 4 ? trim(field[3]) : "";
        if (parse_double(trim(field[0]), &row.time_s) || row.time_s < 0) {
            rc = sim_err_set(err, SIM_EDATA,
                             "%s:%zu: time: expected seconds >= 0, got '%s'",
                             path, lineno, field[0]);
            break;
        }
        if (parse_double(trim(field[1]), &w) || w != floor(w) || w < 0 ||
            w >= workers) {
            rc = sim_err_set(err, SIM_EDATA,
                             "%s:%zu: worker: expected an integer in [0, %d], "
                             "got '%s'",
                             path, lineno, workers - 1, field[1]);
            break;
        }
        row.worker = (int)w;
        const char *ev = trim(field[2]);
        int kind = -1;
        for (int k = 0; k < 4; k++)
            if (strcmp(ev, kind_names[k]) == 0)
                kind = k;
        if (kind < 0) {
            rc = sim_err_set(err, SIM_EDATA,
                             "%s:%zu: event: expected slowdown, delay, crash "
                             "or recover, got '%s'",
                             path, lineno, ev);
            break;
        }
        row.kind = (tr_kind)kind;
        row.line = lineno;
        if (row.kind == TR_SLOWDOWN || row.kind == TR_DELAY) {
            double lo = row.kind == TR_SLOWDOWN ? 1 : 0;
            if (parse_double(value, &row.value) || row.value < lo) {
                rc = sim_err_set(
                    err, SIM_EDATA, "%s:%zu: value: expected %s, got '%s'",
                    path, lineno,
                    row.kind == TR_SLOWDOWN ? "a factor >= 1" : "seconds >= 0",
                    value);
                break;
            }
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            tr_row *p = realloc(r, cap * sizeof *p);
            if (!p) {
                rc = sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
                break;
            }
            r = p;
        }
        r[(*n)++] = row;
    }
    if (rc == 0 && ferror(f))
        rc = sim_err_set(err, SIM_EIO, "%s: read error", path);
    if (rc == 0 && !seen_header)
        rc = sim_err_set(err, SIM_EDATA, "%s: empty trace file", path);
    fclose(f);
    if (rc) {
        free(r);
        *n = 0;
        return rc;
    }
    if (*n > 1) /* a header alone leaves r NULL, which qsort may not take */
        qsort(r, *n, sizeof *r, cmp_rows);
    *rows = r;
    return 0;
}
