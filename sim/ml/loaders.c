/* loaders.c: LIBSVM text, IDX and synthetic data sets (see loaders.h).
 *
 * Both file formats are read whole into memory (ml__read_file, which also
 * inflates gzip) and parsed in place: Fashion-MNIST's 47 MB of pixels become
 * doubles through a 256-entry table, one load and one store per pixel. */
#include "loaders.h"

#include <ctype.h>
#include <errno.h>
#include <gsl/gsl_randist.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ml_internal.h"

/* The widest token quoted in an error message. */
#define QUOTE_MAX 40

/* ------------------------------------------------------------- LIBSVM */

/* The sparse entries read so far, row by row (CSR). */
typedef struct sparse {
    size_t n_rows, n_nz, cap_rows, cap_nz;
    size_t *row_end; /* entries of row i end at row_end[i] */
    size_t *col;
    double *val, *label;
    /* Where the widest column so far was named: for the message when the
     * width is over the memory limit. */
    size_t max_col, max_tok;
    long max_line;
    unsigned long long max_idx;
} sparse;

/* Makes room for one more row (row_end, label) or entry (col, val); each
 * pair shares a capacity and grows together. */
static int reserve_row(sparse *s)
{
    if (s->n_rows < s->cap_rows)
        return 0;
    size_t c = s->cap_rows ? s->cap_rows * 2 : 1024;
    size_t *re = realloc(s->row_end, c * sizeof *re);
    if (re)
        s->row_end = re;
    double *lb = re ? realloc(s->label, c * sizeof *lb) : NULL;
    if (lb)
        s->label = lb;
    if (!re || !lb)
        return -1;
    s->cap_rows = c;
    return 0;
}

static int reserve_entry(sparse *s)
{
    if (s->n_nz < s->cap_nz)
        return 0;
    size_t c = s->cap_nz ? s->cap_nz * 2 : 4096;
    size_t *col = realloc(s->col, c * sizeof *col);
    if (col)
        s->col = col;
    double *val = col ? realloc(s->val, c * sizeof *val) : NULL;
    if (val)
        s->val = val;
    if (!col || !val)
        return -1;
    s->cap_nz = c;
    return 0;
}

static void sparse_free(sparse *s)
{
    free(s->row_end);
    free(s->col);
    free(s->val);
    free(s->label);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int token_len(const char *t)
{
    size_t n = 0;
    while (t[n] && !isspace((unsigned char)t[n]))
        n++;
    return (int)(n < QUOTE_MAX ? n : QUOTE_MAX);
}

/* Parses one NUL-terminated line into s: 0 for a row, 1 for a line without
 * one, or a negative SIM_E* code. */
static int parse_libsvm_line(const char *path, long line, char *p,
                             const ml_libsvm_opts *o, sparse *s, sim_err *err)
{
    char *hash = strchr(p, '#');
    if (hash)
        *hash = '\0';
    while (isspace((unsigned char)*p))
        p++;
    if (!*p)
        return 1; /* blank or comment only: no row */
    char *end;
    errno = 0;
    double label = strtod(p, &end);
    if (end == p || (*end && !isspace((unsigned char)*end)) || !isfinite(label))
        return sim_err_set(err, SIM_EDATA,
                           "%s:%ld: label: not a finite number: '%.*s'", path,
                           line, token_len(p), p);
    if (o->keep_labels &&
        !(label >= 0 && label <= INT_MAX && label == floor(label)))
        return sim_err_set(err, SIM_EDATA,
                           "%s:%ld: label must be an integer >= 0, got '%.*s'",
                           path, line, token_len(p), p);
    if (reserve_row(s))
        return sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
    p = end;
    size_t prev = 0, tok = 1;
    int any = 0;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        tok++;
        if (strncmp(p, "qid:", 4) == 0) {
            while (*p && !isspace((unsigned char)*p))
                p++;
            continue;
        }
        char *colon;
        errno = 0;
        unsigned long long idx = strtoull(p, &colon, 10);
        if (colon == p || *colon != ':' || *p == '-' || *p == '+' ||
            errno == ERANGE)
            return sim_err_set(err, SIM_EDATA,
                               "%s:%ld: token %zu: expected INDEX:VALUE, got "
                               "'%.*s'",
                               path, line, tok, token_len(p), p);
        double v = strtod(colon + 1, &end);
        /* strtod would skip blanks: "3: 5" must not take the next token. */
        if (end == colon + 1 || isspace((unsigned char)colon[1]) ||
            (*end && !isspace((unsigned char)*end)) || !isfinite(v))
            return sim_err_set(err, SIM_EDATA,
                               "%s:%ld: token %zu: value not a finite number: "
                               "'%.*s'",
                               path, line, tok, token_len(p), p);
        if (!o->zero_based && idx == 0)
            return sim_err_set(err, SIM_EDATA,
                               "%s:%ld: token %zu: index 0, but indices start "
                               "at 1",
                               path, line, tok);
        if (idx - (o->zero_based ? 0 : 1) >= ML_LIBSVM_MAX_FEATURES)
            return sim_err_set(err, SIM_EDATA,
                               "%s:%ld: token %zu: index %llu above the limit "
                               "of %d features: '%.*s'",
                               path, line, tok, idx, ML_LIBSVM_MAX_FEATURES,
                               token_len(p), p);
        size_t c = (size_t)idx - (o->zero_based ? 0 : 1);
        if (any && c <= prev)
            return sim_err_set(err, SIM_EDATA,
                               "%s:%ld: token %zu: index %llu after %zu: "
                               "indices must increase",
                               path, line, tok, idx,
                               prev + (o->zero_based ? 0 : 1));
        if (o->n_features && c >= o->n_features)
            return sim_err_set(err, SIM_EDATA,
                               "%s:%ld: token %zu: index %llu beyond the %zu "
                               "features",
                               path, line, tok, idx, o->n_features);
        if (reserve_entry(s))
            return sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
        s->col[s->n_nz] = c;
        s->val[s->n_nz] = v;
        s->n_nz++;
        if (c >= s->max_col) {
            s->max_col = c;
            s->max_line = line;
            s->max_tok = tok;
            s->max_idx = idx;
        }
        prev = c;
        any = 1;
        p = end;
    }
    s->label[s->n_rows] = label;
    s->row_end[s->n_rows] = s->n_nz;
    s->n_rows++;
    return 0;
}

int ml_libsvm_load(const char *path, const ml_libsvm_opts *opts,
                   ml_dataset **out, sim_err *err)
{
    *out = NULL;
    ml_libsvm_opts o = opts ? *opts : (ml_libsvm_opts){0};
    char *buf;
    size_t len;
    int rc = ml__read_file(path, &buf, &len, err);
    if (rc)
        return rc;
    sparse s = {0};
    double *distinct = NULL;
    ml_dataset *ds = NULL;
    char *p = buf, *end = buf + len;
    for (long line = 1; p < end; line++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *q = nl ? nl : end;
        *q = '\0';
        rc = parse_libsvm_line(path, line, p, &o, &s, err);
        if (rc < 0)
            goto done;
        p = q + 1;
    }
    rc = 0;
    if (s.n_rows == 0) {
        rc = sim_err_set(err, SIM_EDATA, "%s: no data rows", path);
        goto done;
    }
    size_t D = o.n_features;
    for (size_t k = 0; k < s.n_nz && !o.n_features; k++)
        D = s.col[k] + 1 > D ? s.col[k] + 1 : D;
    if (D == 0) {
        rc = sim_err_set(err, SIM_EDATA, "%s: no features in any row", path);
        goto done;
    }
    double dense = (double)s.n_rows * (double)D * sizeof(double);
    if (o.max_bytes > 0 && dense > o.max_bytes) {
        char need[32], lim[32];
        sim_format_bytes(dense, need, sizeof need);
        sim_format_bytes(o.max_bytes, lim, sizeof lim);
        if (o.n_features)
            rc = sim_err_set(err, SIM_EDATA,
                             "%s: %zu rows x %zu features (n_features) need "
                             "%s dense, above the memory limit of %s "
                             "(--max-memory SIZE raises it)",
                             path, s.n_rows, D, need, lim);
        else
            rc = sim_err_set(err, SIM_EDATA,
                             "%s:%ld: token %zu: index %llu makes %zu rows x "
                             "%zu features, %s dense, above the memory limit "
                             "of %s (--max-memory SIZE raises it)",
                             path, s.max_line, s.max_tok, s.max_idx, s.n_rows,
                             D, need, lim);
        goto done;
    }
    ds = ml_dataset_alloc(s.n_rows, D);
    if (!ds) {
        rc = sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0, k = 0; i < s.n_rows; i++) {
        double *row = ds->X->data + i * ds->X->tda;
        memset(row, 0, D * sizeof *row);
        for (; k < s.row_end[i]; k++)
            row[s.col[k]] = s.val[k];
        ds->y[i] = s.label[i];
    }
    if (!o.keep_labels) {
        distinct = malloc(s.n_rows * sizeof *distinct);
        if (!distinct) {
            rc = sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
            goto done;
        }
        memcpy(distinct, ds->y, s.n_rows * sizeof *distinct);
        qsort(distinct, s.n_rows, sizeof *distinct, cmp_double);
        size_t C = 0;
        for (size_t i = 0; i < s.n_rows; i++)
            if (C == 0 || distinct[i] != distinct[C - 1])
                distinct[C++] = distinct[i];
        for (size_t i = 0; i < s.n_rows; i++) {
            double *hit =
                bsearch(&ds->y[i], distinct, C, sizeof *distinct, cmp_double);
            ds->y[i] = (double)(hit - distinct);
        }
    }
done:
    free(distinct);
    sparse_free(&s);
    free(buf);
    if (rc) {
        ml_dataset_free(ds);
        return rc;
    }
    *out = ds;
    return 0;
}

/* ---------------------------------------------------------------- IDX */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* Checks an IDX header of unsigned bytes: *n items of *item bytes each,
 * data at *data. */
static int idx_header(const char *path, const unsigned char *b, size_t len,
                      size_t *n, size_t *item, const unsigned char **data,
                      sim_err *err)
{
    if (len < 4 || b[0] != 0 || b[1] != 0)
        return sim_err_set(err, SIM_EDATA,
                           "%s: header: not an IDX file (magic bytes %02x %02x "
                           "must be 00 00)",
                           path, len > 0 ? b[0] : 0, len > 1 ? b[1] : 0);
    if (b[2] != 0x08)
        return sim_err_set(err, SIM_EDATA,
                           "%s: header: element type 0x%02x, only unsigned "
                           "byte (0x08) is supported",
                           path, b[2]);
    unsigned nd = b[3];
    if (nd < 1)
        return sim_err_set(err, SIM_EDATA, "%s: header: 0 dimensions", path);
    if (len < 4 + 4 * (size_t)nd)
        return sim_err_set(err, SIM_EDATA,
                           "%s: header: %u dimensions need %u bytes, file has "
                           "%zu",
                           path, nd, 4 + 4 * nd, len);
    *n = be32(b + 4);
    size_t sz = 1;
    for (unsigned k = 1; k < nd; k++) {
        uint32_t dk = be32(b + 4 + 4 * k);
        if (dk == 0 || sz > SIZE_MAX / 2 / dk)
            return sim_err_set(err, SIM_EDATA, "%s: header: dimension %u is %u",
                               path, k + 1, dk);
        sz *= dk;
    }
    *item = sz;
    size_t head = 4 + 4 * (size_t)nd, body = len - head;
    if (*n != 0 && sz > body / *n)
        return sim_err_set(err, SIM_EDATA,
                           "%s: record %zu: file ends inside it (header "
                           "promises %zu records of %zu bytes)",
                           path, body / sz, *n, sz);
    if (body != *n * sz)
        return sim_err_set(err, SIM_EDATA,
                           "%s: %zu bytes after the %zu records the header "
                           "promises",
                           path, body - *n * sz, *n);
    *data = b + head;
    return 0;
}

int ml_idx_load(const char *images_path, const char *labels_path,
                const ml_idx_opts *opts, ml_dataset **out, sim_err *err)
{
    *out = NULL;
    int raw = opts ? opts->raw : 0;
    char *ib = NULL, *lb = NULL;
    size_t ilen, llen, n, item, ln, litem;
    const unsigned char *pix, *lab;
    ml_dataset *ds = NULL;
    int rc = ml__read_file(images_path, &ib, &ilen, err);
    if (!rc)
        rc = ml__read_file(labels_path, &lb, &llen, err);
    if (!rc)
        rc = idx_header(images_path, (const unsigned char *)ib, ilen, &n, &item,
                        &pix, err);
    if (!rc)
        rc = idx_header(labels_path, (const unsigned char *)lb, llen, &ln,
                        &litem, &lab, err);
    if (rc)
        goto done;
    if (litem != 1) {
        rc = sim_err_set(err, SIM_EDATA,
                         "%s: header: a label file has one dimension, this "
                         "one %zu bytes per record",
                         labels_path, litem);
        goto done;
    }
    if (ln != n) {
        rc = sim_err_set(err, SIM_EDATA,
                         "%s: %zu labels for the %zu records "
                         "of %s",
                         labels_path, ln, n, images_path);
        goto done;
    }
    if (n == 0) {
        rc = sim_err_set(err, SIM_EDATA, "%s: no records", images_path);
        goto done;
    }
    ds = ml_dataset_alloc(n, item);
    if (!ds) {
        rc = sim_err_set(err, SIM_ENOMEM, "%s: out of memory", images_path);
        goto done;
    }
    double table[256];
    for (int v = 0; v < 256; v++)
        table[v] = raw ? (double)v : (double)v / 255.0;
    for (size_t i = 0; i < n; i++) {
        double *row = ds->X->data + i * ds->X->tda;
        const unsigned char *src = pix + i * item;
        for (size_t j = 0; j < item; j++)
            row[j] = table[src[j]];
        ds->y[i] = (double)lab[i];
    }
done:
    free(ib);
    free(lb);
    if (rc) {
        ml_dataset_free(ds);
        return rc;
    }
    *out = ds;
    return 0;
}

/* ---------------------------------------------------------- synthetic */

int ml_synth_clusters(size_t n, size_t d, size_t n_classes, double separation,
                      gsl_rng *rng, ml_dataset **out, sim_err *err)
{
    *out = NULL;
    if (n == 0 || d == 0 || n_classes < 2 || !(separation >= 0) ||
        !isfinite(separation))
        return sim_err_set(err, SIM_EINVAL,
                           "synthetic clusters: need n, d >= 1, n_classes >= "
                           "2 and a finite separation >= 0 (got %zu, %zu, "
                           "%zu, %g)",
                           n, d, n_classes, separation);
    double *centre = malloc(n_classes * d * sizeof *centre);
    ml_dataset *ds = ml_dataset_alloc(n, d);
    if (!centre || !ds) {
        free(centre);
        ml_dataset_free(ds);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < n_classes * d; k++)
        centre[k] = gsl_ran_gaussian_ziggurat(rng, 1.0) * separation;
    for (size_t i = 0; i < n; i++) {
        size_t c = gsl_rng_uniform_int(rng, n_classes);
        double *row = ds->X->data + i * ds->X->tda;
        for (size_t j = 0; j < d; j++)
            row[j] = centre[c * d + j] + gsl_ran_gaussian_ziggurat(rng, 1.0);
        ds->y[i] = (double)c;
    }
    free(centre);
    *out = ds;
    return 0;
}

int ml_synth_teacher(size_t n, size_t d, ml_teacher kind, double noise,
                     gsl_rng *rng, double *w_true, ml_dataset **out,
                     sim_err *err)
{
    *out = NULL;
    if (n == 0 || d == 0 || !(noise >= 0) || !isfinite(noise) ||
        (kind != ML_TEACHER_LINEAR && kind != ML_TEACHER_LOGISTIC))
        return sim_err_set(err, SIM_EINVAL,
                           "synthetic teacher: need n, d >= 1, a known kind "
                           "and a finite noise >= 0 (got %zu, %zu, %d, %g)",
                           n, d, (int)kind, noise);
    double *w = malloc(d * sizeof *w);
    ml_dataset *ds = ml_dataset_alloc(n, d);
    if (!w || !ds) {
        free(w);
        ml_dataset_free(ds);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    double sd = 1.0 / sqrt((double)d);
    for (size_t j = 0; j < d; j++)
        w[j] = gsl_ran_gaussian_ziggurat(rng, sd);
    for (size_t i = 0; i < n; i++) {
        double *row = ds->X->data + i * ds->X->tda, z = 0;
        for (size_t j = 0; j < d; j++) {
            row[j] = gsl_ran_gaussian_ziggurat(rng, 1.0);
            z += row[j] * w[j];
        }
        int y;
        if (kind == ML_TEACHER_LINEAR)
            y = z + noise * gsl_ran_gaussian_ziggurat(rng, 1.0) > 0;
        else if (noise == 0)
            y = z > 0;
        else
            y = gsl_rng_uniform(rng) < 1.0 / (1.0 + exp(-z / noise));
        ds->y[i] = y;
    }
    if (w_true)
        memcpy(w_true, w, d * sizeof *w);
    free(w);
    *out = ds;
    return 0;
}
