/* dataset.c: CSV loading, subsets, feature scaling and train/test splits.
 *
 * The CSV loader reads the whole file with one fread and parses it in place,
 * with a fast path for plain decimals: the 569-row data set loads in about
 * 0.2 ms, so loading never shows up next to a simulated run. Parsing is strict
 * (see dataset.h); every error names the file and the physical line, because
 * the line is what a user opens in an editor. */
#include "dataset.h"

#include "ml_internal.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <gsl/gsl_randist.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef HAVE_ZLIB
#include <zlib.h>
#endif

/* ------------------------------------------------------------- helpers */

/* GSL refuses zero-sized matrices (and its default error handler aborts), yet
 * an empty test list is a legal split. An empty data set therefore keeps a
 * one-row block with size1 = 0: every loop over rows sees no rows, and
 * gsl_matrix_free frees the block as usual. */
static gsl_matrix *matrix_alloc(size_t n, size_t d)
{
    gsl_matrix *m = gsl_matrix_alloc(n ? n : 1, d);
    if (m && n == 0)
        m->size1 = 0;
    return m;
}

ml_dataset *ml_dataset_alloc(size_t n, size_t d)
{
    ml_dataset *ds = malloc(sizeof *ds);
    if (!ds)
        return NULL;
    ds->n = n;
    ds->d = d;
    ds->X = matrix_alloc(n, d);
    ds->y = malloc((n ? n : 1) * sizeof *ds->y);
    if (!ds->X || !ds->y) {
        ml_dataset_free(ds);
        return NULL;
    }
    return ds;
}

void ml_dataset_free(ml_dataset *ds)
{
    if (!ds)
        return;
    if (ds->X)
        gsl_matrix_free(ds->X);
    free(ds->y);
    free(ds);
}

/* Reads a whole file into a NUL-terminated buffer (*len excludes the NUL).
 * A regular file is read by one fread of its size plus one byte, so the read
 * that hits end-of-file is the same call. */
static int read_raw(const char *path, char **out, size_t *len, sim_err *err)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sim_err_set(err, SIM_EIO, "%s: cannot read: %s", path,
                           strerror(errno));
    struct stat st;
    int e = 0;
    if (fstat(fileno(f), &st) != 0)
        e = errno;
    else if (S_ISDIR(st.st_mode))
        e = EISDIR; /* fopen accepts a directory on Linux; only reads fail */
    if (e) {
        fclose(f);
        return sim_err_set(err, SIM_EIO, "%s: cannot read: %s", path,
                           strerror(e));
    }
    size_t cap =
        S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 2 : 4096;
    char *buf = malloc(cap);
    size_t n = 0;
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1)
            break;
        /* The file grew or is not regular (a pipe): keep reading. */
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    if (!buf) {
        fclose(f);
        return sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
    }
    if (ferror(f)) {
        int e = errno;
        free(buf);
        fclose(f);
        return sim_err_set(err, SIM_EIO, "%s: cannot read: %s", path,
                           strerror(e ? e : EIO));
    }
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

#ifdef HAVE_ZLIB
/* Deflate's largest expansion (RFC 1951: a 258-byte match in about two
 * bits, zlib's figure). */
#define GZIP_MAX_RATIO 1032

/* Inflates the gzip member(s) in raw[0..n) into a new NUL-terminated buffer.
 * The whole file is already in memory, so one inflate over it is the fastest
 * way through zlib (gzread adds a copy); the trailer's ISIZE (the length mod
 * 2^32 of the last member) sizes the output, so a single-member file, as
 * every data set here is, inflates without a reallocation. */
static int gunzip(const char *path, const unsigned char *raw, size_t n,
                  char **out, size_t *len, sim_err *err)
{
    size_t cap = n >= 18
                     ? (size_t)raw[n - 4] | (size_t)raw[n - 3] << 8 |
                           (size_t)raw[n - 2] << 16 | (size_t)raw[n - 1] << 24
                     : 0;
    /* The trailer is only a claim: a 32-byte file may say 4 GB. Deflate
     * expands at most 1032-fold, so never believe more than that (the
     * buffer still grows if a file inflates further, as concatenated
     * members may). */
    if (cap / GZIP_MAX_RATIO > n)
        cap = n * GZIP_MAX_RATIO;
    cap = cap + 1 > 4096 ? cap + 1 : 4096;
    char *buf = malloc(cap);
    if (!buf)
        return sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        free(buf);
        return sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
    }
    z.next_in = (unsigned char *)raw;
    size_t used = 0, in_left = n;
    int rc = 0;
    for (;;) {
        /* zlib counts in uInt: feed at most 1 GiB at a time. */
        uInt chunk = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
        z.avail_in = chunk;
        size_t room = cap - 1 - used;
        z.next_out = (unsigned char *)buf + used;
        z.avail_out = room > (1u << 30) ? (1u << 30) : (uInt)room;
        uInt out_before = z.avail_out;
        int zr = inflate(&z, Z_NO_FLUSH);
        used += out_before - z.avail_out;
        in_left -= chunk - z.avail_in;
        if (zr == Z_STREAM_END) {
            /* Concatenated members form one file (gzip -c a b). */
            if (in_left == 0)
                break;
            if (inflateReset(&z) != Z_OK) {
                rc = sim_err_set(err, SIM_EDATA, "%s: corrupt gzip data", path);
                break;
            }
            continue;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = sim_err_set(err, SIM_EDATA, "%s: corrupt gzip data: %s", path,
                             z.msg ? z.msg : "inflate failed");
            break;
        }
        if (zr == Z_BUF_ERROR && in_left == 0 && z.avail_out) {
            rc = sim_err_set(err, SIM_EDATA,
                             "%s: truncated gzip data (after %zu bytes of "
                             "output)",
                             path, used);
            break;
        }
        if (used == cap - 1) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                rc = sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    inflateEnd(&z);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[used] = '\0';
    *out = buf;
    *len = used;
    return 0;
}
#endif

int ml__read_file(const char *path, char **out, size_t *len, sim_err *err)
{
    int rc = read_raw(path, out, len, err);
    if (rc || *len < 2 || (unsigned char)(*out)[0] != 0x1f ||
        (unsigned char)(*out)[1] != 0x8b)
        return rc;
#ifdef HAVE_ZLIB
    char *raw = *out;
    rc = gunzip(path, (const unsigned char *)raw, *len, out, len, err);
    free(raw);
    if (rc) {
        *out = NULL;
        *len = 0;
    }
    return rc;
#else
    free(*out);
    *out = NULL;
    *len = 0;
    return sim_err_set(err, SIM_EIO,
                       "%s: gzip-compressed, and this build has no zlib "
                       "(rebuild with HAVE_ZLIB, or gunzip the file)",
                       path);
#endif
}

/* --------------------------------------------------------------- CSV */

enum { FIELD_OK, FIELD_EMPTY, FIELD_BAD };

static const double pow10_exact[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Clinger's fast path for plain decimals such as "0.006399" or "1001":
 * when the digits form an integer m <= 2^53 and the decimal exponent e has
 * |e| <= 22, both m and 10^|e| are exact doubles, so one IEEE divide gives
 * the correctly rounded value, bit-identical to strtod, at a fraction of its
 * cost. Returns the end of the number, or NULL when the text does not start
 * with a number of that simple form (the caller then falls back to strtod). */
static const char *parse_simple_decimal(const char *p, double *out)
{
    int neg = 0;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    /* At most 19 digits: m stays below 10^19 < 2^64, so it cannot wrap
     * before the test against 2^53. */
    uint64_t m = 0;
    unsigned d;
    const char *digits = p;
    while ((d = (unsigned)(*p - '0')) < 10) {
        m = m * 10 + d;
        p++;
    }
    size_t n = (size_t)(p - digits), frac = 0;
    if (*p == '.') {
        const char *f = ++p;
        while ((d = (unsigned)(*p - '0')) < 10) {
            m = m * 10 + d;
            p++;
        }
        frac = (size_t)(p - f);
        n += frac;
    }
    if (n == 0 || n > 19 || frac > 22 || m > (uint64_t)1 << 53)
        return NULL;
    double v = (double)m;
    if (frac)
        v /= pow10_exact[frac];
    *out = neg ? -v : v;
    return p;
}

/* Parses the field starting at f on a NUL-terminated line; blanks around
 * the number are allowed. *fe receives the end of the field (the delimiter
 * or the line's NUL) in every case. One pass over the text on the fast
 * path. */
static int parse_field(const char *f, char delim, double *out, const char **fe)
{
    while (is_blank(*f) && *f != delim)
        f++;
    const char *e = parse_simple_decimal(f, out);
    if (e) {
        while (is_blank(*e) && *e != delim)
            e++;
        if (*e == delim || *e == '\0') {
            *fe = e;
            return FIELD_OK;
        }
    }
    e = strchr(f, delim);
    *fe = e ? e : f + strlen(f);
    e = *fe;
    while (e > f && is_blank(e[-1]) && e[-1] != delim)
        e--;
    if (e == f)
        return FIELD_EMPTY;
    /* strtod stops at the delimiter, a trailing blank or the line's NUL, so
     * "it ended exactly at the field's end" is the whole validity test. It
     * also accepts "nan" and "inf", and overflows to inf: both rejected. */
    char *stop;
    double v = strtod(f, &stop);
    if (stop != e || !isfinite(v))
        return FIELD_BAD;
    *out = v;
    return FIELD_OK;
}

/* Characters that can be part of a number (or of "nan"/"inf"/hex) cannot
 * separate numbers. */
static int delimiter_ok(char c)
{
    return c && c != '\n' && c != '\r' && !isalnum((unsigned char)c) &&
           !strchr("+-.", c);
}

static size_t count_char(const char *p, const char *end, char c)
{
    size_t n = 0;
    while ((p = memchr(p, c, (size_t)(end - p)))) {
        n++;
        p++;
    }
    return n;
}

/* The widest field text quoted in an error message. */
#define QUOTE_MAX 40

int ml_csv_load(const char *path, const ml_csv_opts *opts, ml_dataset **out,
                sim_err *err)
{
    *out = NULL;
    ml_csv_opts o =
        opts ? *opts
             : (ml_csv_opts){.header = 0, .label_column = -1, .delimiter = ','};
    char delim = o.delimiter ? o.delimiter : ',';
    if (!delimiter_ok(delim))
        return sim_err_set(err, SIM_EINVAL,
                           "%s: delimiter '%c' could be part of a number", path,
                           delim);

    char *buf;
    size_t len;
    int rc = ml__read_file(path, &buf, &len, err);
    if (rc)
        return rc;

    ml_dataset *ds = NULL;
    char *p = buf, *end = buf + len;
    long line = 1;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3; /* a UTF-8 byte order mark, as spreadsheet exports write */
    if (o.header) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
        line = 2;
    }
    /* Trailing blank lines are tolerated (editors add them); a blank line
     * between data rows is an error, caught below as an empty line. */
    char *data_end = end;
    while (data_end > p && (data_end[-1] == '\n' || data_end[-1] == '\r'))
        data_end--;
    if (p == data_end) {
        rc = sim_err_set(err, SIM_EDATA, "%s: no data rows", path);
        goto done;
    }

    size_t n = count_char(p, data_end, '\n') + 1;
    char *first_end = memchr(p, '\n', (size_t)(data_end - p));
    if (!first_end)
        first_end = data_end;
    if (first_end > p && first_end[-1] == '\r')
        first_end--;
    size_t cols = count_char(p, first_end, delim) + 1;
    if (cols < 2) {
        rc = sim_err_set(err, SIM_EDATA,
                         "%s:%ld: need at least 2 columns (features and a "
                         "label), got 1",
                         path, line);
        goto done;
    }
    size_t label = o.label_column < 0 ? cols - 1 : (size_t)o.label_column;
    if (label >= cols) {
        rc = sim_err_set(err, SIM_EDATA,
                         "%s:%ld: label column %d out of range (%zu columns)",
                         path, line, o.label_column, cols);
        goto done;
    }
    ds = ml_dataset_alloc(n, cols - 1);
    if (!ds) {
        rc = sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
        goto done;
    }

    for (size_t i = 0; i < n; i++, line++) {
        char *nl = memchr(p, '\n', (size_t)(data_end - p));
        char *q = nl ? nl : data_end;
        char *next = nl ? nl + 1 : data_end;
        if (q > p && q[-1] == '\r')
            q--;
        *q = '\0'; /* bounds strtod to this line */
        if (q == p) {
            rc = sim_err_set(err, SIM_EDATA, "%s:%ld: empty line", path, line);
            goto done;
        }
        double *x = ds->X->data + i * ds->X->tda;
        const char *f = p;
        for (size_t c = 0;; c++) {
            const char *fe;
            double v = 0;
            int st = parse_field(f, delim, &v, &fe);
            int flen = (int)(fe - f < QUOTE_MAX ? fe - f : QUOTE_MAX);
            if (st == FIELD_EMPTY) {
                rc = sim_err_set(err, SIM_EDATA, "%s:%ld: column %zu: empty",
                                 path, line, c + 1);
                goto done;
            }
            if (st == FIELD_BAD) {
                rc = sim_err_set(err, SIM_EDATA,
                                 "%s:%ld: column %zu: not a finite number: "
                                 "'%.*s'",
                                 path, line, c + 1, flen, f);
                goto done;
            }
            if (c == label) {
                if (!(v >= 0 && v <= INT_MAX && v == floor(v))) {
                    rc = sim_err_set(err, SIM_EDATA,
                                     "%s:%ld: column %zu: label must be an "
                                     "integer >= 0, got '%.*s'",
                                     path, line, c + 1, flen, f);
                    goto done;
                }
                ds->y[i] = v;
            } else {
                *x++ = v;
            }
            int more = *fe == delim;
            if (more != (c + 1 < cols)) {
                size_t got =
                    more ? cols + 1 + count_char(fe + 1, q, delim) : c + 1;
                rc = sim_err_set(err, SIM_EDATA,
                                 "%s:%ld: expected %zu columns, got %zu", path,
                                 line, cols, got);
                goto done;
            }
            if (!more)
                break;
            f = fe + 1;
        }
        p = next;
    }
    rc = 0;
done:
    free(buf);
    if (rc)
        ml_dataset_free(ds);
    else
        *out = ds;
    return rc;
}

/* ---------------------------------------------------- subset, features */

ml_dataset *ml_dataset_subset(const ml_dataset *src, const size_t *idx,
                              size_t n)
{
    ml_dataset *ds = ml_dataset_alloc(n, src->d);
    if (!ds)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (idx[i] >= src->n)
            SIM_PANIC("subset row %zu of %zu rows", idx[i], src->n);
        memcpy(ds->X->data + i * ds->X->tda,
               src->X->data + idx[i] * src->X->tda, src->d * sizeof(double));
        ds->y[i] = src->y[idx[i]];
    }
    return ds;
}

int ml_dataset_permute(ml_dataset *ds, const size_t *perm)
{
    size_t n = ds->n, d = ds->d, tda = ds->X->tda;
    unsigned char *done = calloc(n / 8 + 1, 1);
    double *row = malloc((d ? d : 1) * sizeof *row);
    if (!done || !row) {
        free(done);
        free(row);
        return SIM_ENOMEM;
    }
    /* Follows each cycle of perm once: the first row of a cycle is set
     * aside, every other row moves up from the row it takes its data
     * from, and the set-aside row closes the cycle. */
    double *X = ds->X->data, *y = ds->y;
    for (size_t s = 0; s < n; s++) {
        if (done[s / 8] & (1u << (s % 8)))
            continue;
        memcpy(row, X + s * tda, d * sizeof *row);
        double label = y[s];
        size_t i = s;
        for (;;) {
            done[i / 8] |= (unsigned char)(1u << (i % 8));
            size_t j = perm[i];
            if (j >= n || (j != s && (done[j / 8] & (1u << (j % 8)))))
                SIM_PANIC("row %zu of a reordering of %zu rows is not a "
                          "permutation",
                          i, n);
            if (j == s)
                break;
            memcpy(X + i * tda, X + j * tda, d * sizeof *row);
            y[i] = y[j];
            i = j;
        }
        memcpy(X + i * tda, row, d * sizeof *row);
        y[i] = label;
    }
    free(done);
    free(row);
    return 0;
}

int ml_dataset_add_bias(ml_dataset *ds, sim_err *err)
{
    gsl_matrix *X = matrix_alloc(ds->n, ds->d + 1);
    if (!X)
        return sim_err_set(err, SIM_ENOMEM,
                           "out of memory adding a bias "
                           "column");
    for (size_t i = 0; i < ds->n; i++) {
        double *row = X->data + i * X->tda;
        memcpy(row, ds->X->data + i * ds->X->tda, ds->d * sizeof(double));
        row[ds->d] = 1.0;
    }
    gsl_matrix_free(ds->X);
    ds->X = X;
    ds->d++;
    return 0;
}

static void scale_columns(ml_dataset *ds, const double *mean,
                          const double *inv_sd)
{
    if (!ds)
        return;
    for (size_t i = 0; i < ds->n; i++) {
        double *row = ds->X->data + i * ds->X->tda;
        for (size_t j = 0; j < ds->d; j++)
            row[j] = (row[j] - mean[j]) * inv_sd[j];
    }
}

/* Two passes (mean, then squared deviations) rather than sum of squares,
 * which cancels badly for columns like "area" (values near 1000, spread
 * near 300). A column is constant when all its values are equal, tested
 * exactly: a computed sd of 1e-17 from rounding would otherwise blow the
 * column up to +-1; such a column becomes exactly 0. Run it before
 * ml_dataset_add_bias, or the bias column, being constant, is centred to zero.
 */
void ml_dataset_standardize(ml_dataset *train, ml_dataset *test)
{
    size_t n = train->n, d = train->d;
    if (n == 0)
        return;
    double *mean = calloc(2 * d, sizeof *mean);
    if (!mean)
        SIM_PANIC("out of memory standardising %zu columns", d);
    double *inv_sd = mean + d;
    const double *first = train->X->data;
    int *varies = calloc(d, sizeof *varies);
    if (!varies)
        SIM_PANIC("out of memory standardising %zu columns", d);
    for (size_t i = 0; i < n; i++) {
        const double *row = train->X->data + i * train->X->tda;
        for (size_t j = 0; j < d; j++) {
            mean[j] += row[j];
            varies[j] |= row[j] != first[j];
        }
    }
    /* A constant column's mean is its value, exactly: the rounded sum
     * divided by n need not be (3 x 0.1 / 3 is not 0.1). */
    for (size_t j = 0; j < d; j++)
        mean[j] = varies[j] ? mean[j] / (double)n : first[j];
    for (size_t i = 0; i < n; i++) {
        const double *row = train->X->data + i * train->X->tda;
        for (size_t j = 0; j < d; j++) {
            double dev = row[j] - mean[j];
            inv_sd[j] += dev * dev;
        }
    }
    for (size_t j = 0; j < d; j++)
        inv_sd[j] = varies[j] ? 1.0 / sqrt(inv_sd[j] / (double)n) : 1.0;
    scale_columns(train, mean, inv_sd);
    if (test && test->d == d)
        scale_columns(test, mean, inv_sd);
    else if (test)
        SIM_PANIC("standardize: test has %zu columns, train %zu", test->d, d);
    free(varies);
    free(mean);
}

/* Min-max scaling with train's per-column range, as for standardising:
 * x' = (x - min) / (max - min), so train lands in [0, 1] and test values
 * outside train's range land outside it. A constant column becomes 0. */
void ml_dataset_scale_minmax(ml_dataset *train, ml_dataset *test)
{
    size_t n = train->n, d = train->d;
    if (test && test->d != d)
        SIM_PANIC("scale_minmax: test has %zu columns, train %zu", test->d, d);
    if (n == 0)
        return;
    double *lo = malloc(2 * d * sizeof *lo);
    if (!lo)
        SIM_PANIC("out of memory scaling %zu columns", d);
    double *inv = lo + d;
    memcpy(lo, train->X->data, d * sizeof *lo);
    memcpy(inv, train->X->data, d * sizeof *inv); /* the max, for now */
    for (size_t i = 1; i < n; i++) {
        const double *row = train->X->data + i * train->X->tda;
        for (size_t j = 0; j < d; j++) {
            lo[j] = row[j] < lo[j] ? row[j] : lo[j];
            inv[j] = row[j] > inv[j] ? row[j] : inv[j];
        }
    }
    for (size_t j = 0; j < d; j++)
        inv[j] = inv[j] > lo[j] ? 1.0 / (inv[j] - lo[j]) : 0.0;
    scale_columns(train, lo, inv);
    scale_columns(test, lo, inv);
    free(lo);
}

int ml_dataset_n_classes(const ml_dataset *ds, size_t *n_classes, sim_err *err)
{
    double mx = -1;
    for (size_t i = 0; i < ds->n; i++) {
        double y = ds->y[i];
        if (!(y >= 0 && y <= INT_MAX && y == floor(y)))
            return sim_err_set(err, SIM_EDATA,
                               "row %zu: label %g is not an integer >= 0", i,
                               y);
        mx = y > mx ? y : mx;
    }
    *n_classes = (size_t)(mx + 1);
    return 0;
}

gsl_matrix *ml_dataset_one_hot(const ml_dataset *ds, size_t n_classes)
{
    gsl_matrix *Y = n_classes ? matrix_alloc(ds->n, n_classes) : NULL;
    if (!Y)
        return NULL;
    for (size_t i = 0; i < ds->n; i++) {
        double *row = Y->data + i * Y->tda;
        memset(row, 0, n_classes * sizeof *row);
        double y = ds->y[i];
        if (!(y >= 0 && y < (double)n_classes && y == floor(y)))
            SIM_PANIC("one-hot of label %g with %zu classes (row %zu)", y,
                      n_classes, i);
        row[(size_t)y] = 1.0;
    }
    return Y;
}

/* --------------------------------------------------------------- splits */

/* "LINE:COL" of a byte offset, for JSON syntax errors. */
static void line_col(const char *buf, const char *at, long *line, long *col)
{
    *line = 1;
    *col = 1;
    for (const char *p = buf; p < at && *p; p++) {
        if (*p == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* The one member named key, compared case-sensitively; cJSON's own getter
 * would return the first of duplicates silently, so count them. */
static const cJSON *member(const cJSON *obj, const char *key, int *count)
{
    const cJSON *found = NULL;
    *count = 0;
    for (const cJSON *it = obj->child; it; it = it->next) {
        if (it->string && strcmp(it->string, key) == 0) {
            if (!found)
                found = it;
            (*count)++;
        }
    }
    return found;
}

/* Where an index was first seen, to name both places in a duplicate error. */
typedef struct seen_at {
    const char *list; /* NULL when not seen */
    size_t pos;
} seen_at;

static int read_index_list(const char *path, const cJSON *root, const char *key,
                           size_t n_rows, seen_at *seen, size_t **out,
                           size_t *n_out, sim_err *err)
{
    int count;
    const cJSON *arr = member(root, key, &count);
    if (!arr)
        return sim_err_set(err, SIM_EDATA, "%s: $.%s: missing", path, key);
    if (count > 1)
        return sim_err_set(err, SIM_EDATA, "%s: $.%s: duplicate key", path,
                           key);
    if (!cJSON_IsArray(arr))
        return sim_err_set(err, SIM_EDATA,
                           "%s: $.%s: expected an array of row indices", path,
                           key);
    size_t n = (size_t)cJSON_GetArraySize(arr);
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    if (!idx)
        return sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
    size_t i = 0;
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        double v = it->valuedouble;
        if (!cJSON_IsNumber(it) || !(v >= 0) || v != floor(v)) {
            free(idx);
            if (cJSON_IsNumber(it))
                return sim_err_set(err, SIM_EDATA,
                                   "%s: $.%s[%zu]: expected a row index "
                                   "(integer >= 0), got %.17g",
                                   path, key, i, v);
            return sim_err_set(err, SIM_EDATA,
                               "%s: $.%s[%zu]: expected a row index "
                               "(integer >= 0)",
                               path, key, i);
        }
        if (v >= (double)n_rows) {
            free(idx);
            return sim_err_set(err, SIM_EDATA,
                               "%s: $.%s[%zu]: index %.17g out of range (%zu "
                               "rows)",
                               path, key, i, v, n_rows);
        }
        size_t r = (size_t)v;
        if (seen[r].list) {
            int rc = sim_err_set(err, SIM_EDATA,
                                 "%s: $.%s[%zu]: index %zu already listed at "
                                 "$.%s[%zu]",
                                 path, key, i, r, seen[r].list, seen[r].pos);
            free(idx);
            return rc;
        }
        seen[r] = (seen_at){.list = key, .pos = i};
        idx[i] = r;
    }
    *out = idx;
    *n_out = n;
    return 0;
}

int ml_split_from_file(const char *path, size_t n_rows, size_t **train,
                       size_t *n_train, size_t **test, size_t *n_test,
                       sim_err *err)
{
    *train = *test = NULL;
    *n_train = *n_test = 0;
    char *buf;
    size_t len;
    int rc = ml__read_file(path, &buf, &len, err);
    if (rc)
        return rc;
    seen_at *seen = NULL;
    const char *stop = NULL;
    /* require_null_terminated = 1 makes trailing garbage an error. */
    cJSON *root = cJSON_ParseWithOpts(buf, &stop, 1);
    if (!root) {
        /* cJSON may stop on the blank before the offending token. */
        const char *at = stop && stop >= buf && stop <= buf + len ? stop : buf;
        while (*at && isspace((unsigned char)*at))
            at++;
        long ln, col;
        line_col(buf, at, &ln, &col);
        int near = (int)strcspn(at, "\r\n");
        if (*at)
            rc = sim_err_set(err, SIM_EDATA,
                             "%s:%ld:%ld: invalid JSON near '%.*s'", path, ln,
                             col, near < QUOTE_MAX ? near : QUOTE_MAX, at);
        else
            rc = sim_err_set(err, SIM_EDATA,
                             "%s:%ld:%ld: invalid JSON at end of file", path,
                             ln, col);
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        rc = sim_err_set(err, SIM_EDATA, "%s: $: expected an object", path);
        goto done;
    }
    seen = calloc(n_rows ? n_rows : 1, sizeof *seen);
    if (!seen) {
        rc = sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    rc =
        read_index_list(path, root, "train", n_rows, seen, train, n_train, err);
    if (!rc)
        rc = read_index_list(path, root, "test", n_rows, seen, test, n_test,
                             err);
done:
    if (rc) {
        free(*train);
        *train = NULL;
        *n_train = 0;
    }
    free(seen);
    cJSON_Delete(root);
    free(buf);
    return rc;
}

int ml_split_random(size_t n_rows, double test_fraction, gsl_rng *rng,
                    size_t **train, size_t *n_train, size_t **test,
                    size_t *n_test, sim_err *err)
{
    *train = *test = NULL;
    *n_train = *n_test = 0;
    if (n_rows < 2)
        return sim_err_set(err, SIM_EDATA,
                           "a train/test split needs at least 2 rows, got %zu",
                           n_rows);
    if (!(test_fraction > 0 && test_fraction < 1))
        return sim_err_set(err, SIM_EINVAL,
                           "test fraction must be in (0, 1), got %g",
                           test_fraction);
    size_t nt = (size_t)round(test_fraction * (double)n_rows);
    nt = nt < 1 ? 1 : nt > n_rows - 1 ? n_rows - 1 : nt;
    size_t *all = malloc(n_rows * sizeof *all);
    size_t *tr = malloc((n_rows - nt) * sizeof *tr);
    if (!all || !tr) {
        free(all);
        free(tr);
        return sim_err_set(err, SIM_ENOMEM, "out of memory splitting %zu rows",
                           n_rows);
    }
    for (size_t i = 0; i < n_rows; i++)
        all[i] = i;
    gsl_ran_shuffle(rng, all, n_rows, sizeof *all);
    memcpy(tr, all + nt, (n_rows - nt) * sizeof *tr);
    /* The test rows are the shuffled prefix: shrink the block to them. */
    size_t *te = realloc(all, nt * sizeof *te);
    *test = te ? te : all;
    *n_test = nt;
    *train = tr;
    *n_train = n_rows - nt;
    return 0;
}

/* Spark's ParallelCollectionRDD slices at i * n / K in integer arithmetic.
 * Writing n = qK + r gives k n / K = k q + (k r) / K exactly, with no
 * overflow since k r < K^2. */
static size_t cut(size_t n, size_t K, size_t k)
{
    return k * (n / K) + k * (n % K) / K;
}

void ml_partition_contiguous(size_t n, int K, int k, size_t *begin, size_t *end)
{
    if (K < 1 || k < 0 || k >= K)
        SIM_PANIC("partition %d of %d workers", k, K);
    *begin = cut(n, (size_t)K, (size_t)k);
    *end = cut(n, (size_t)K, (size_t)k + 1);
}
