/* test_loaders.c: LIBSVM, IDX, gzip, synthetic data and preprocessing. */
#include <criterion/criterion.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef HAVE_ZLIB
#include <zlib.h>
#endif

#include "sim/ml/dataset.h"
#include "sim/ml/loaders.h"
#include "support.h"

static double at(const ml_dataset *ds, size_t i, size_t j)
{
    return gsl_matrix_get(ds->X, i, j);
}

static char *write_bytes(const char *name, const void *b, size_t n)
{
    char *path = ts_write_file(ts_tmpdir(), name, "");
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(b, 1, n, f), n);
    fclose(f);
    return path;
}

/* ------------------------------------------------------------- LIBSVM */

Test(ml_libsvm, round_trips_a_sparse_file_with_comments_and_blank_lines)
{
    char *path = ts_write_file(ts_tmpdir(), "a.svm",
                               "# a comment line\n"
                               "+1 1:0.5 3:-2 # trailing comment\n"
                               "\n"
                               "-1 qid:4 2:1e3\n"
                               "+1\n"
                               "-1 1:7 2:8 3:9");
    ml_dataset *ds = NULL;
    sim_err err = {0};
    cr_assert_eq(ml_libsvm_load(path, NULL, &ds, &err), 0, "%s", err.msg);
    cr_assert_eq(ds->n, 4);
    cr_assert_eq(ds->d, 3);
    double want[4][3] = {{0.5, 0, -2}, {0, 1000, 0}, {0, 0, 0}, {7, 8, 9}};
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 3; j++)
            cr_assert_eq(at(ds, i, j), want[i][j], "(%zu, %zu)", i, j);
    /* -1/+1 become 0/1 */
    double y[4] = {1, 0, 1, 0};
    cr_assert_eq(memcmp(ds->y, y, sizeof y), 0);
    ml_dataset_free(ds);

    /* A wider matrix on request, zero-based indices, labels kept. */
    char *p2 = ts_write_file(ts_tmpdir(), "b.svm", "3 0:1 4:2\n0 1:5\n");
    ml_libsvm_opts o = {.n_features = 6, .zero_based = 1, .keep_labels = 1};
    cr_assert_eq(ml_libsvm_load(p2, &o, &ds, &err), 0, "%s", err.msg);
    cr_assert_eq(ds->d, 6);
    cr_assert_eq(at(ds, 0, 0), 1);
    cr_assert_eq(at(ds, 0, 4), 2);
    cr_assert_eq(at(ds, 1, 1), 5);
    cr_assert_eq(ds->y[0], 3);
    cr_assert_eq(ds->y[1], 0);
    ml_dataset_free(ds);
    free(path);
    free(p2);
}

Test(ml_libsvm, maps_sorted_distinct_labels_to_0_to_c_minus_1)
{
    char *path = ts_write_file(ts_tmpdir(), "c.svm",
                               "10 1:1\n2 1:1\n7 1:1\n2 1:1\n10 1:1\n");
    ml_dataset *ds = NULL;
    sim_err err = {0};
    cr_assert_eq(ml_libsvm_load(path, NULL, &ds, &err), 0, "%s", err.msg);
    double y[5] = {2, 0, 1, 0, 2};
    cr_assert_eq(memcmp(ds->y, y, sizeof y), 0);
    ml_dataset_free(ds);
    free(path);
}

static void expect_libsvm_error(const char *text, const ml_libsvm_opts *o,
                                int code, const char *suffix)
{
    char *path = ts_write_file(ts_tmpdir(), "bad.svm", text);
    ml_dataset *ds = (ml_dataset *)1;
    sim_err err = {0};
    cr_assert_eq(ml_libsvm_load(path, o, &ds, &err), code, "%s", err.msg);
    cr_assert_null(ds);
    char want[600];
    snprintf(want, sizeof want, "%s%s", path, suffix);
    cr_assert_str_eq(err.msg, want);
    free(path);
}

Test(ml_libsvm, malformed_lines_name_file_line_and_token)
{
    expect_libsvm_error("1 2:3 1:4\n", NULL, SIM_EDATA,
                        ":1: token 3: index 1 after 2: indices must increase");
    expect_libsvm_error("1 1:1\n1 0:3\n", NULL, SIM_EDATA,
                        ":2: token 2: index 0, but indices start at 1");
    expect_libsvm_error("x 1:3\n", NULL, SIM_EDATA,
                        ":1: label: not a finite number: 'x'");
    expect_libsvm_error("1 1:3\n0 2:abc\n", NULL, SIM_EDATA,
                        ":2: token 2: value not a finite number: '2:abc'");
    expect_libsvm_error("1 1:3\n\n0 foo\n", NULL, SIM_EDATA,
                        ":3: token 2: expected INDEX:VALUE, got 'foo'");
    expect_libsvm_error("1 1: 5\n", NULL, SIM_EDATA,
                        ":1: token 2: value not a finite number: '1:'");
    expect_libsvm_error("1 -1:5\n", NULL, SIM_EDATA,
                        ":1: token 2: expected INDEX:VALUE, got '-1:5'");
    expect_libsvm_error("1 4:5\n", &(ml_libsvm_opts){.n_features = 3},
                        SIM_EDATA,
                        ":1: token 2: index 4 beyond the 3 features");
    expect_libsvm_error("-1 1:5\n", &(ml_libsvm_opts){.keep_labels = 1},
                        SIM_EDATA,
                        ":1: label must be an integer >= 0, got '-1'");
    expect_libsvm_error("# nothing\n\n", NULL, SIM_EDATA, ": no data rows");
}

Test(ml_libsvm, a_missing_file_is_an_io_error)
{
    ml_dataset *ds = (ml_dataset *)1;
    sim_err err = {0};
    cr_assert_eq(ml_libsvm_load("/nonexistent/x.svm", NULL, &ds, &err),
                 SIM_EIO);
    cr_assert_null(ds);
    cr_assert(strstr(err.msg, "/nonexistent/x.svm: cannot read"), "%s",
              err.msg);
}

/* ---------------------------------------------------------------- IDX */

/* 3 images of 2 x 2 and their labels. */
static const unsigned char idx_images[] = {
    0, 0,   8,  3,   0, 0, 0, 3, 0,   0,   0, 2, 0, 0, 0, 2, /* header */
    0, 255, 51, 102, 1, 2, 3, 4, 255, 255, 0, 0};
static const unsigned char idx_labels[] = {0, 0, 8, 1, 0, 0, 0, 3, 9, 0, 4};

Test(ml_idx, round_trips_images_and_labels)
{
    char *im = write_bytes("im.idx", idx_images, sizeof idx_images);
    char *lb = write_bytes("lb.idx", idx_labels, sizeof idx_labels);
    ml_dataset *ds = NULL;
    sim_err err = {0};
    cr_assert_eq(ml_idx_load(im, lb, NULL, &ds, &err), 0, "%s", err.msg);
    cr_assert_eq(ds->n, 3);
    cr_assert_eq(ds->d, 4);
    cr_assert_eq(at(ds, 0, 1), 1.0);
    cr_assert_eq(at(ds, 0, 2), 51.0 / 255.0);
    cr_assert_eq(at(ds, 1, 3), 4.0 / 255.0);
    cr_assert_eq(ds->y[0], 9);
    cr_assert_eq(ds->y[2], 4);
    ml_dataset_free(ds);
    cr_assert_eq(ml_idx_load(im, lb, &(ml_idx_opts){.raw = 1}, &ds, &err), 0);
    cr_assert_eq(at(ds, 0, 2), 51.0);
    cr_assert_eq(at(ds, 2, 0), 255.0);
    ml_dataset_free(ds);
    free(im);
    free(lb);
}

static void expect_idx_error(const unsigned char *img, size_t ni,
                             const unsigned char *lab, size_t nl,
                             const char *which, const char *suffix)
{
    char *im = write_bytes("im.idx", img, ni);
    char *lb = write_bytes("lb.idx", lab, nl);
    ml_dataset *ds = (ml_dataset *)1;
    sim_err err = {0};
    cr_assert_eq(ml_idx_load(im, lb, NULL, &ds, &err), SIM_EDATA, "%s",
                 err.msg);
    cr_assert_null(ds);
    char want[600];
    /* A message naming both files ends with the images' path. */
    int both = strcmp(suffix + strlen(suffix) - 3, "of ") == 0;
    snprintf(want, sizeof want, "%s%s%s", which[0] == 'i' ? im : lb, suffix,
             both ? im : "");
    cr_assert_str_eq(err.msg, want);
    free(im);
    free(lb);
}

Test(ml_idx, malformed_files_name_the_file_and_the_field_or_record)
{
    unsigned char b[sizeof idx_images];
    memcpy(b, idx_images, sizeof b);
    b[0] = 0x1f; /* not IDX (nor gzip: the next byte is 0) */
    expect_idx_error(b, sizeof b, idx_labels, sizeof idx_labels, "images",
                     ": header: not an IDX file (magic bytes 1f 00 must be "
                     "00 00)");
    memcpy(b, idx_images, sizeof b);
    b[2] = 0x0d; /* float */
    expect_idx_error(b, sizeof b, idx_labels, sizeof idx_labels, "images",
                     ": header: element type 0x0d, only unsigned byte (0x08) "
                     "is supported");
    expect_idx_error(idx_images, sizeof idx_images - 5, idx_labels,
                     sizeof idx_labels, "images",
                     ": record 1: file ends inside it (header promises 3 "
                     "records of 4 bytes)");
    unsigned char longer[sizeof idx_images + 2] = {0};
    memcpy(longer, idx_images, sizeof idx_images);
    expect_idx_error(longer, sizeof longer, idx_labels, sizeof idx_labels,
                     "images",
                     ": 2 bytes after the 3 records the header "
                     "promises");
    unsigned char lab2[] = {0, 0, 8, 1, 0, 0, 0, 2, 1, 2};
    expect_idx_error(idx_images, sizeof idx_images, lab2, sizeof lab2, "labels",
                     ": 2 labels for the 3 records of ");
    expect_idx_error(idx_images, sizeof idx_images, idx_images, 6, "labels",
                     ": header: 3 dimensions need 16 bytes, file has 6");
}

/* ---------------------------------------------------------------- gzip */

#ifdef HAVE_ZLIB
static char *write_gz(const char *name, const void *b, size_t n)
{
    char *path = ts_write_file(ts_tmpdir(), name, "");
    gzFile f = gzopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(gzwrite(f, b, (unsigned)n), (int)n);
    gzclose(f);
    return path;
}

Test(ml_gzip, idx_and_csv_load_the_same_from_gzip)
{
    char *im = write_gz("im.idx.gz", idx_images, sizeof idx_images);
    char *lb = write_gz("lb.idx.gz", idx_labels, sizeof idx_labels);
    ml_dataset *ds = NULL;
    sim_err err = {0};
    cr_assert_eq(ml_idx_load(im, lb, NULL, &ds, &err), 0, "%s", err.msg);
    cr_assert_eq(ds->n, 3);
    cr_assert_eq(at(ds, 0, 2), 51.0 / 255.0);
    ml_dataset_free(ds);
    const char *csv = "1,2,0\n3.5,4,1\n";
    char *c = write_gz("d.csv.gz", csv, strlen(csv));
    ml_csv_opts o = {.label_column = -1, .delimiter = ','};
    cr_assert_eq(ml_csv_load(c, &o, &ds, &err), 0, "%s", err.msg);
    cr_assert_eq(ds->n, 2);
    cr_assert_eq(at(ds, 1, 0), 3.5);
    ml_dataset_free(ds);
    free(im);
    free(lb);
    free(c);
}

Test(ml_gzip, corrupt_and_truncated_gzip_are_named_data_errors)
{
    char *im = write_gz("im.idx.gz", idx_images, sizeof idx_images);
    FILE *f = fopen(im, "rb");
    unsigned char buf[256];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    char *cut = write_bytes("cut.gz", buf, n / 2);
    ml_dataset *ds = (ml_dataset *)1;
    sim_err err = {0};
    ml_csv_opts o = {.label_column = -1, .delimiter = ','};
    cr_assert_eq(ml_csv_load(cut, &o, &ds, &err), SIM_EDATA);
    cr_assert(strstr(err.msg, "gzip data"), "%s", err.msg);
    cr_assert_null(ds);
    buf[12] ^= 0xff; /* inside the deflate stream */
    buf[13] ^= 0xff;
    char *bad = write_bytes("bad.gz", buf, n);
    cr_assert_eq(ml_csv_load(bad, &o, &ds, &err), SIM_EDATA);
    cr_assert(strstr(err.msg, bad) == err.msg, "%s", err.msg);
    free(im);
    free(cut);
    free(bad);
}

/* Fuzzing found it: a gzip trailer claiming 4 GB (its ISIZE field) in a
 * 35-byte file made the reader allocate 4 GB up front. Deflate expands at
 * most 1032-fold, so the claim is capped by the file's size. With the
 * address space limited to 1 GB (not under ASan, which reserves terabytes
 * of shadow), the old code fails with "out of memory" instead of naming
 * the corrupt data. */
Test(ml_gzip,
     a_trailer_claiming_gigabytes_allocates_no_more_than_the_file_can_hold)
{
    unsigned char b[35] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memset(b + 10, 0xff, sizeof b - 14);           /* not a deflate stream */
    b[31] = 0, b[32] = 0, b[33] = 0, b[34] = 0xf0; /* ISIZE 4026531840 */
    char *path = write_bytes("lie.csv.gz", b, sizeof b);
#ifndef __SANITIZE_ADDRESS__
    struct rlimit lim = {.rlim_cur = 1ul << 30, .rlim_max = 1ul << 30};
    cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
#endif
    ml_dataset *ds = (ml_dataset *)1;
    sim_err err = {0};
    ml_csv_opts o = {.label_column = -1, .delimiter = ','};
    cr_assert_eq(ml_csv_load(path, &o, &ds, &err), SIM_EDATA, "%s", err.msg);
    cr_assert(strstr(err.msg, "gzip data"), "%s", err.msg);
    cr_assert_null(ds);
    free(path);
}

Test(ml_gzip, loads_fashion_mnist_when_installed, .timeout = 120)
{
    const char *im = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-"
                     "ubyte.gz";
    const char *lb = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-"
                     "ubyte.gz";
    if (access(im, R_OK) != 0 || access(lb, R_OK) != 0)
        cr_skip_test("dataset-fashion-mnist is not installed");
    ml_dataset *ds = NULL;
    sim_err err = {0};
    cr_assert_eq(ml_idx_load(im, lb, NULL, &ds, &err), 0, "%s", err.msg);
    cr_assert_eq(ds->n, 10000);
    cr_assert_eq(ds->d, 784);
    size_t count[10] = {0};
    for (size_t i = 0; i < ds->n; i++) {
        cr_assert(ds->y[i] >= 0 && ds->y[i] <= 9);
        count[(size_t)ds->y[i]]++;
    }
    for (int c = 0; c < 10; c++)
        cr_assert_eq(count[c], 1000); /* the test set is balanced */
    for (size_t k = 0; k < 784 * 100; k++)
        cr_assert(ds->X->data[k] >= 0 && ds->X->data[k] <= 1);
    ml_dataset_free(ds);
}
#else
Test(ml_gzip, without_zlib_a_gzip_file_is_a_named_io_error)
{
    ml_dataset *ds = (ml_dataset *)1;
    sim_err err = {0};
    ml_csv_opts o = {.label_column = -1, .delimiter = ','};
    cr_assert_eq(ml_csv_load("data/digits.csv.gz", &o, &ds, &err), SIM_EIO);
    cr_assert_null(ds);
    cr_assert_str_eq(err.msg, "data/digits.csv.gz: gzip-compressed, and this "
                              "build has no zlib (rebuild with HAVE_ZLIB, or "
                              "gunzip the file)");
}
#endif

/* ---------------------------------------------------------- synthetic */

Test(ml_synth, clusters_are_seeded_labelled_and_separated)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 7);
    ml_dataset *a = NULL, *b = NULL;
    sim_err err = {0};
    cr_assert_eq(ml_synth_clusters(3000, 5, 3, 10.0, r, &a, &err), 0);
    gsl_rng_set(r, 7);
    cr_assert_eq(ml_synth_clusters(3000, 5, 3, 10.0, r, &b, &err), 0);
    cr_assert_eq(memcmp(a->X->data, b->X->data, 3000 * 5 * sizeof(double)), 0);
    ml_dataset_free(b);
    /* Class means sit at the centres (N(0, 100 I) apart) while the points
     * spread by 1: the within-class sd of each coordinate is ~1. */
    double mean[3][5] = {{0}}, ss = 0;
    size_t cnt[3] = {0};
    for (size_t i = 0; i < 3000; i++) {
        size_t c = (size_t)a->y[i];
        cr_assert_lt(c, 3);
        cnt[c]++;
        for (size_t j = 0; j < 5; j++)
            mean[c][j] += at(a, i, j);
    }
    for (size_t c = 0; c < 3; c++) {
        cr_assert_gt(cnt[c], 800);
        for (size_t j = 0; j < 5; j++)
            mean[c][j] /= (double)cnt[c];
    }
    for (size_t i = 0; i < 3000; i++)
        for (size_t j = 0; j < 5; j++) {
            double dv = at(a, i, j) - mean[(size_t)a->y[i]][j];
            ss += dv * dv;
        }
    cr_assert(fabs(ss / (3000 * 5) - 1) < 0.1, "within var %g",
              ss / (3000 * 5));
    cr_assert_eq(ml_synth_clusters(10, 2, 1, 1.0, r, &b, &err), SIM_EINVAL);
    ml_dataset_free(a);
    gsl_rng_free(r);
}

Test(ml_synth, teachers_label_by_their_weights)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 8);
    double w[10];
    ml_dataset *ds = NULL;
    sim_err err = {0};
    ml_teacher kinds[] = {ML_TEACHER_LINEAR, ML_TEACHER_LOGISTIC};
    for (int t = 0; t < 2; t++) {
        for (int noisy = 0; noisy < 2; noisy++) {
            cr_assert_eq(ml_synth_teacher(4000, 10, kinds[t], noisy ? 0.5 : 0.0,
                                          r, w, &ds, &err),
                         0);
            size_t agree = 0;
            for (size_t i = 0; i < ds->n; i++) {
                double z = 0;
                for (size_t j = 0; j < 10; j++)
                    z += at(ds, i, j) * w[j];
                agree += (z > 0) == (ds->y[i] == 1.0);
            }
            double f = (double)agree / 4000;
            if (noisy)
                cr_assert(f > 0.6 && f < 0.95, "kind %d agree %g", t, f);
            else
                cr_assert_eq(f, 1.0);
            ml_dataset_free(ds);
        }
    }
    cr_assert_eq(
        ml_synth_teacher(10, 3, ML_TEACHER_LINEAR, -1, r, NULL, &ds, &err),
        SIM_EINVAL);
    gsl_rng_free(r);
}

/* ------------------------------------------------------ preprocessing */

Test(ml_preprocess, minmax_scales_train_to_0_1_and_test_alike)
{
    ml_dataset *tr = ml_dataset_alloc(3, 3), *te = ml_dataset_alloc(1, 3);
    double x[9] = {0, 5, 2, 10, 5, 4, 5, 5, 6}, xt[3] = {20, 7, -2};
    memcpy(tr->X->data, x, sizeof x);
    memcpy(te->X->data, xt, sizeof xt);
    ml_dataset_scale_minmax(tr, te);
    double want[9] = {0, 0, 0, 1, 0, 0.5, 0.5, 0, 1};
    for (size_t k = 0; k < 9; k++)
        cr_assert_eq(tr->X->data[k], want[k], "k %zu", k);
    cr_assert_eq(te->X->data[0], 2.0);
    cr_assert_eq(te->X->data[1], 0.0); /* constant column */
    cr_assert_eq(te->X->data[2], -1.0);
    ml_dataset_free(tr);
    ml_dataset_free(te);
}

Test(ml_preprocess, counts_classes_and_one_hot_encodes)
{
    ml_dataset *ds = ml_dataset_alloc(4, 1);
    double y[4] = {2, 0, 1, 2};
    memcpy(ds->y, y, sizeof y);
    size_t C = 0;
    sim_err err = {0};
    cr_assert_eq(ml_dataset_n_classes(ds, &C, &err), 0);
    cr_assert_eq(C, 3);
    gsl_matrix *Y = ml_dataset_one_hot(ds, 3);
    for (size_t i = 0; i < 4; i++)
        for (size_t c = 0; c < 3; c++)
            cr_assert_eq(gsl_matrix_get(Y, i, c), c == (size_t)y[i] ? 1 : 0);
    gsl_matrix_free(Y);
    ds->y[1] = 0.5;
    cr_assert_eq(ml_dataset_n_classes(ds, &C, &err), SIM_EDATA);
    cr_assert(strstr(err.msg, "row 1"), "%s", err.msg);
    ml_dataset_free(ds);
}
