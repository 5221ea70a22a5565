/* test_dataset.c: CSV loading, splits, partitions and feature scaling. */
#include <criterion/criterion.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/ml/dataset.h"
#include "support.h"

static const ml_csv_opts csv_plain = {
    .header = 0, .label_column = -1, .delimiter = ','};
static const ml_csv_opts csv_with_header = {
    .header = 1, .label_column = -1, .delimiter = ','};

static double at(const ml_dataset *ds, size_t i, size_t j)
{
    return gsl_matrix_get(ds->X, i, j);
}

/* Writes text to a fresh file and loads it; the caller frees *path. */
static int load_text(const char *text, const ml_csv_opts *opts, char **path,
                     ml_dataset **ds, sim_err *err)
{
    *path = ts_write_file(ts_tmpdir(), "data.csv", text);
    cr_assert_not_null(*path);
    return ml_csv_load(*path, opts, ds, err);
}

/* Loads text and requires code and the message "PATH<suffix>". */
static void expect_csv_error(const char *text, const ml_csv_opts *opts,
                             int code, const char *suffix)
{
    char *path;
    ml_dataset *ds = (ml_dataset *)1;
    sim_err err = {0};
    int rc = load_text(text, opts, &path, &ds, &err);
    char want[600];
    snprintf(want, sizeof want, "%s%s", path, suffix);
    cr_assert_eq(rc, code, "rc %d for %s", rc, want);
    cr_assert_eq(err.code, code);
    cr_assert_null(ds);
    cr_assert_str_eq(err.msg, want);
    free(path);
}

Test(ml_dataset, loads_the_breast_cancer_csv)
{
    ml_dataset *ds = NULL;
    sim_err err = {0};
    cr_assert_eq(
        ml_csv_load("data/breast_cancer.csv", &csv_with_header, &ds, &err), 0,
        "%s", err.msg);
    cr_assert_eq(ds->n, 569);
    cr_assert_eq(ds->d, 30);
    cr_assert_eq(ds->X->size1, 569);
    cr_assert_eq(ds->X->size2, 30);
    cr_assert_eq(at(ds, 0, 0), 17.99);
    cr_assert_eq(at(ds, 0, 29), 0.1189);
    cr_assert_eq(ds->y[0], 0.0);
    size_t ones = 0;
    for (size_t i = 0; i < ds->n; i++) {
        cr_assert(ds->y[i] == 0.0 || ds->y[i] == 1.0);
        ones += ds->y[i] == 1.0;
    }
    cr_assert_eq(ones, 357); /* benign rows in the UCI data */
    ml_dataset_free(ds);
}

Test(ml_dataset, round_trips_a_small_csv_with_crlf_and_no_final_newline)
{
    char *path;
    ml_dataset *ds = NULL;
    sim_err err = {0};
    cr_assert_eq(load_text("a,b,label\r\n1.5,2,0\r\n-3e2, 4.25 ,1\r\n"
                           "0.1,-0,1",
                           &csv_with_header, &path, &ds, &err),
                 0, "%s", err.msg);
    cr_assert_eq(ds->n, 3);
    cr_assert_eq(ds->d, 2);
    double want[3][3] = {{1.5, 2, 0}, {-300, 4.25, 1}, {0.1, 0, 1}};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(at(ds, i, 0), want[i][0]);
        cr_assert_eq(at(ds, i, 1), want[i][1]);
        cr_assert_eq(ds->y[i], want[i][2]);
    }
    ml_dataset_free(ds);
    free(path);
}

Test(ml_dataset, parses_numbers_exactly_as_strtod)
{
    /* Both the fast decimal path and the strtod fallback. */
    const char *nums[] = {"0.006399",
                          "1001",
                          "17.99",
                          "-0.5",
                          "+2.25",
                          "1e-3",
                          "0x1p-2",
                          "123456789012345",
                          "0.1",
                          "9.999999999999999999",
                          ".5",
                          "5.",
                          "3.14159265358979323846"};
    size_t n = sizeof nums / sizeof nums[0];
    char text[1024] = "";
    for (size_t i = 0; i < n; i++) {
        strcat(text, nums[i]);
        strcat(text, ",1\n");
    }
    char *path;
    ml_dataset *ds = NULL;
    sim_err err = {0};
    cr_assert_eq(load_text(text, &csv_plain, &path, &ds, &err), 0, "%s",
                 err.msg);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(at(ds, i, 0), strtod(nums[i], NULL), "%s", nums[i]);
    ml_dataset_free(ds);
    free(path);
}

Test(ml_dataset, parses_random_decimals_exactly_as_strtod)
{
    /* Up to 17 significant digits, 25 decimals and 26 digits in all, so
     * both sides of the fast path's limits (a mantissa of 2^53, about 16
     * digits; 22 decimals; 19 digits) are exercised. */
    enum { ROWS = 3000 };
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    char *text = malloc(ROWS * 64), *end = text;
    char nums[ROWS][48];
    for (size_t i = 0; i < ROWS; i++) {
        int digits = 1 + (int)gsl_rng_uniform_int(r, 17);
        int decimals = (int)gsl_rng_uniform_int(r, 26);
        char *q = nums[i];
        if (gsl_rng_uniform(r) < 0.3)
            *q++ = '-';
        if (decimals >= digits) { /* 0.000ddd */
            q += sprintf(q, "0.");
            for (int z = 0; z < decimals - digits; z++)
                *q++ = '0';
        }
        for (int k = 0; k < digits; k++) {
            if (decimals < digits && k == digits - decimals)
                *q++ = '.';
            *q++ = (char)('0' + gsl_rng_uniform_int(r, 10));
        }
        *q = '\0';
        end += sprintf(end, "%s,1\n", nums[i]);
    }
    char *path;
    ml_dataset *ds = NULL;
    sim_err err = {0};
    cr_assert_eq(load_text(text, &csv_plain, &path, &ds, &err), 0, "%s",
                 err.msg);
    for (size_t i = 0; i < ROWS; i++)
        cr_assert_eq(at(ds, i, 0), strtod(nums[i], NULL), "%s", nums[i]);
    ml_dataset_free(ds);
    free(path);
    free(text);
    gsl_rng_free(r);
}

Test(ml_dataset, takes_the_label_from_any_column_and_delimiter)
{
    ml_csv_opts opts = {.header = 0, .label_column = 0, .delimiter = ';'};
    char *path;
    ml_dataset *ds = NULL;
    sim_err err = {0};
    cr_assert_eq(load_text("1;2;3\n0;4;5\n\n\n", &opts, &path, &ds, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(ds->n, 2);
    cr_assert_eq(ds->y[0], 1.0);
    cr_assert_eq(ds->y[1], 0.0);
    cr_assert_eq(at(ds, 1, 0), 4.0);
    cr_assert_eq(at(ds, 1, 1), 5.0);
    ml_dataset_free(ds);
    free(path);
}

Test(ml_dataset, rejects_a_row_with_the_wrong_column_count)
{
    expect_csv_error("h\n1,2,0\n1,2\n", &csv_with_header, SIM_EDATA,
                     ":3: expected 3 columns, got 2");
    expect_csv_error("1,2,0\n1,2,0,1\n", &csv_plain, SIM_EDATA,
                     ":2: expected 3 columns, got 4");
}

Test(ml_dataset, rejects_a_bad_number)
{
    expect_csv_error("1,2,0\n1,x2,1\n", &csv_plain, SIM_EDATA,
                     ":2: column 2: not a finite number: 'x2'");
    expect_csv_error("1,2.5abc,0\n", &csv_plain, SIM_EDATA,
                     ":1: column 2: not a finite number: '2.5abc'");
    expect_csv_error("nan,1,0\n", &csv_plain, SIM_EDATA,
                     ":1: column 1: not a finite number: 'nan'");
    expect_csv_error("1e999,1,0\n", &csv_plain, SIM_EDATA,
                     ":1: column 1: not a finite number: '1e999'");
    expect_csv_error("-inf,1,0\n", &csv_plain, SIM_EDATA,
                     ":1: column 1: not a finite number: '-inf'");
    expect_csv_error("1.2.3,1,0\n", &csv_plain, SIM_EDATA,
                     ":1: column 1: not a finite number: '1.2.3'");
    expect_csv_error("1,,0\n", &csv_plain, SIM_EDATA, ":1: column 2: empty");
    expect_csv_error("1,2,0\n\n1,2,0\n", &csv_plain, SIM_EDATA,
                     ":2: empty line");
}

Test(ml_dataset, rejects_a_label_that_is_not_a_non_negative_integer)
{
    expect_csv_error("1,2,0\n1,2,0.5\n", &csv_plain, SIM_EDATA,
                     ":2: column 3: label must be an integer >= 0, got '0.5'");
    expect_csv_error("1,2,-1\n", &csv_plain, SIM_EDATA,
                     ":1: column 3: label must be an integer >= 0, got '-1'");
    expect_csv_error("1,2,yes\n", &csv_plain, SIM_EDATA,
                     ":1: column 3: not a finite number: 'yes'");
}

Test(ml_dataset, rejects_an_empty_file_and_a_header_without_rows)
{
    expect_csv_error("", &csv_plain, SIM_EDATA, ": no data rows");
    expect_csv_error("\n\r\n", &csv_plain, SIM_EDATA, ": no data rows");
    expect_csv_error("569,30,malignant,benign\n", &csv_with_header, SIM_EDATA,
                     ": no data rows");
    expect_csv_error("1\n2\n", &csv_plain, SIM_EDATA,
                     ":1: need at least 2 columns (features and a label), got "
                     "1");
    ml_csv_opts far = {.header = 0, .label_column = 5, .delimiter = ','};
    expect_csv_error("1,2\n", &far, SIM_EDATA,
                     ":1: label column 5 out of range (2 columns)");
}

Test(ml_dataset, reports_a_directory_as_unreadable)
{
    const char *dir = ts_tmpdir();
    ml_dataset *ds = NULL;
    sim_err err = {0};
    cr_assert_eq(ml_csv_load(dir, &csv_plain, &ds, &err), SIM_EIO);
    char want[600];
    snprintf(want, sizeof want, "%s: cannot read: Is a directory", dir);
    cr_assert_str_eq(err.msg, want);
    cr_assert_null(ds);
}

Test(ml_dataset, reports_a_missing_file_as_unreadable)
{
    ml_dataset *ds = NULL;
    sim_err err = {0};
    cr_assert_eq(ml_csv_load("data/no-such-file.csv", &csv_plain, &ds, &err),
                 SIM_EIO);
    cr_assert_str_eq(err.msg, "data/no-such-file.csv: cannot read: No such "
                              "file or directory");
    cr_assert_null(ds);
}

/* ------------------------------------------------------------- splits */

static void assert_partition_of(const size_t *a, size_t na, const size_t *b,
                                size_t nb, size_t n)
{
    cr_assert_eq(na + nb, n);
    char *seen = calloc(n, 1);
    for (size_t i = 0; i < na; i++) {
        cr_assert_lt(a[i], n);
        cr_assert_eq(seen[a[i]]++, 0, "row %zu twice", a[i]);
    }
    for (size_t i = 0; i < nb; i++) {
        cr_assert_lt(b[i], n);
        cr_assert_eq(seen[b[i]]++, 0, "row %zu twice", b[i]);
    }
    free(seen);
}

Test(ml_dataset, loads_the_posts_split_file)
{
    size_t *train, *test, n_train, n_test;
    sim_err err = {0};
    cr_assert_eq(ml_split_from_file("data/breast_cancer_split.json", 569,
                                    &train, &n_train, &test, &n_test, &err),
                 0, "%s", err.msg);
    cr_assert_eq(n_train, 398);
    cr_assert_eq(n_test, 171);
    assert_partition_of(train, n_train, test, n_test, 569);
    free(train);
    free(test);
}

/* Writes a split file and requires SIM_EDATA with "PATH<suffix>". */
static void expect_split_error(const char *json, size_t n_rows,
                               const char *suffix)
{
    char *path = ts_write_file(ts_tmpdir(), "split.json", json);
    size_t *train = (size_t *)1, *test = (size_t *)1, n_train = 7, n_test = 7;
    sim_err err = {0};
    int rc = ml_split_from_file(path, n_rows, &train, &n_train, &test, &n_test,
                                &err);
    char want[600];
    snprintf(want, sizeof want, "%s%s", path, suffix);
    cr_assert_eq(rc, SIM_EDATA, "rc %d for %s", rc, want);
    cr_assert_str_eq(err.msg, want);
    cr_assert_null(train);
    cr_assert_null(test);
    cr_assert_eq(n_train + n_test, 0);
    free(path);
}

Test(ml_dataset, split_file_errors_name_the_json_path)
{
    expect_split_error("{\"train\": [0, 600], \"test\": [1]}", 569,
                       ": $.train[1]: index 600 out of range (569 rows)");
    expect_split_error("{\"train\": [0, 3], \"test\": [1, 3]}", 10,
                       ": $.test[1]: index 3 already listed at $.train[1]");
    expect_split_error("{\"train\": [0, 0], \"test\": []}", 10,
                       ": $.train[1]: index 0 already listed at $.train[0]");
    expect_split_error("{\"train\": [0]}", 10, ": $.test: missing");
    expect_split_error("{\"Train\": [0], \"test\": [1]}", 10,
                       ": $.train: missing");
    expect_split_error("{\"train\": [0], \"train\": [2], \"test\": [1]}", 10,
                       ": $.train: duplicate key");
    expect_split_error("{\"train\": 3, \"test\": [1]}", 10,
                       ": $.train: expected an array of row indices");
    expect_split_error("{\"train\": [0, 1.5], \"test\": [2]}", 10,
                       ": $.train[1]: expected a row index (integer >= 0), "
                       "got 1.5");
    expect_split_error("{\"train\": [0], \"test\": [\"2\"]}", 10,
                       ": $.test[0]: expected a row index (integer >= 0)");
    expect_split_error("[1, 2]", 10, ": $: expected an object");
    expect_split_error("{\"train\": [0],\n \"test\": [1,]}", 10,
                       ":2:13: invalid JSON near ']}'");
    expect_split_error("{\"train\": [0], \"test\": [1]} x\n", 10,
                       ":1:29: invalid JSON near 'x'");
    expect_split_error("{\"train\": [0], \n", 10,
                       ":2:1: invalid JSON at end of file");
}

Test(ml_dataset, split_file_ignores_other_keys)
{
    char *path = ts_write_file(ts_tmpdir(), "split.json",
                               "{\"description\": \"x\", \"test\": [2, 0], "
                               "\"train\": [1]}");
    size_t *train, *test, n_train, n_test;
    sim_err err = {0};
    cr_assert_eq(
        ml_split_from_file(path, 3, &train, &n_train, &test, &n_test, &err), 0,
        "%s", err.msg);
    cr_assert_eq(n_train, 1);
    cr_assert_eq(train[0], 1);
    cr_assert_eq(n_test, 2);
    cr_assert_eq(test[0], 2);
    cr_assert_eq(test[1], 0);
    free(train);
    free(test);
    free(path);
}

Test(ml_dataset, split_file_that_is_missing_is_an_io_error)
{
    size_t *train, *test, n_train, n_test;
    sim_err err = {0};
    cr_assert_eq(ml_split_from_file("data/none.json", 3, &train, &n_train,
                                    &test, &n_test, &err),
                 SIM_EIO);
    cr_assert_str_eq(err.msg,
                     "data/none.json: cannot read: No such file or directory");
}

Test(ml_dataset, random_split_has_the_right_sizes_and_is_disjoint)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    struct {
        size_t n;
        double frac;
        size_t n_test;
    } cases[] = {{569, 0.3, 171},
                 {10, 0.25, 3},
                 {2, 0.01, 1},
                 {2, 0.99, 1},
                 {100, 0.999, 99}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t *train, *test, n_train, n_test;
        sim_err err = {0};
        cr_assert_eq(ml_split_random(cases[c].n, cases[c].frac, r, &train,
                                     &n_train, &test, &n_test, &err),
                     0, "%s", err.msg);
        cr_assert_eq(n_test, cases[c].n_test, "n %zu", cases[c].n);
        assert_partition_of(train, n_train, test, n_test, cases[c].n);
        free(train);
        free(test);
    }
    size_t *train, *test, n_train, n_test;
    sim_err err = {0};
    cr_assert_eq(
        ml_split_random(1, 0.3, r, &train, &n_train, &test, &n_test, &err),
        SIM_EDATA);
    cr_assert_eq(
        ml_split_random(10, 1.0, r, &train, &n_train, &test, &n_test, &err),
        SIM_EINVAL);
    gsl_rng_free(r);
}

Test(ml_dataset, random_split_is_determined_by_the_seed)
{
    size_t *a[2], *b[2], na, nb;
    for (int k = 0; k < 2; k++) {
        gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(r, 42);
        cr_assert_eq(ml_split_random(569, 0.3, r, &a[k], &na, &b[k], &nb, NULL),
                     0);
        gsl_rng_free(r);
    }
    cr_assert_arr_eq(a[0], a[1], na * sizeof(size_t));
    cr_assert_arr_eq(b[0], b[1], nb * sizeof(size_t));
    for (int k = 0; k < 2; k++) {
        free(a[k]);
        free(b[k]);
    }
}

Test(ml_dataset, partition_contiguous_cuts_as_spark_does)
{
    size_t want[5] = {0, 99, 199, 298, 398};
    for (int k = 0; k < 4; k++) {
        size_t b, e;
        ml_partition_contiguous(398, 4, k, &b, &e);
        cr_assert_eq(b, want[k], "worker %d begins at %zu", k, b);
        cr_assert_eq(e, want[k + 1], "worker %d ends at %zu", k, e);
    }
}

Test(ml_dataset, partition_contiguous_covers_every_row_exactly_once)
{
    for (size_t n = 0; n <= 300; n++) {
        for (int K = 1; K <= 33; K++) {
            size_t prev_end = 0;
            for (int k = 0; k < K; k++) {
                size_t b, e;
                ml_partition_contiguous(n, K, k, &b, &e);
                cr_assert_eq(b, prev_end, "n %zu K %d k %d", n, K, k);
                cr_assert_leq(b, e);
                /* floor cuts: shares differ by at most one row */
                cr_assert_leq(e - b, n / (size_t)K + 1);
                cr_assert_geq(e - b, n / (size_t)K);
                prev_end = e;
            }
            cr_assert_eq(prev_end, n, "n %zu K %d", n, K);
        }
    }
    /* No overflow in k * n for huge n. */
    size_t b, e, big = (size_t)-1 / 2;
    ml_partition_contiguous(big, 7, 6, &b, &e);
    cr_assert_eq(e, big);
}

/* ----------------------------------------------------- subset, features */

static ml_dataset *load_cancer(void)
{
    ml_dataset *ds = NULL;
    sim_err err = {0};
    cr_assert_eq(
        ml_csv_load("data/breast_cancer.csv", &csv_with_header, &ds, &err), 0,
        "%s", err.msg);
    return ds;
}

Test(ml_dataset, subset_copies_rows_in_the_given_order)
{
    ml_dataset *all = load_cancer();
    size_t idx[] = {5, 0, 568};
    ml_dataset *s = ml_dataset_subset(all, idx, 3);
    cr_assert_eq(s->n, 3);
    cr_assert_eq(s->d, 30);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(s->y[i], all->y[idx[i]]);
        for (size_t j = 0; j < 30; j++)
            cr_assert_eq(at(s, i, j), at(all, idx[i], j));
    }
    ml_dataset *none = ml_dataset_subset(all, idx, 0);
    cr_assert_not_null(none);
    cr_assert_eq(none->n, 0);
    cr_assert_eq(none->X->size1, 0);
    ml_dataset_free(none);
    ml_dataset_free(s);
    ml_dataset_free(all);
}

static ml_dataset *copy_of(const ml_dataset *src)
{
    size_t *id = malloc(src->n * sizeof *id);
    for (size_t i = 0; i < src->n; i++)
        id[i] = i;
    ml_dataset *c = ml_dataset_subset(src, id, src->n);
    free(id);
    return c;
}

/* In-place reordering must give exactly what a reordered copy gives: random
 * permutations (many cycles of all lengths), the identity, one cycle through
 * every row, and the empty and one-row data sets. */
Test(ml_dataset, permute_in_place_equals_subset)
{
    ml_dataset *all = load_cancer();
    size_t n = all->n, *perm = malloc(n * sizeof *perm);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    for (int trial = 0; trial < 22; trial++) {
        for (size_t i = 0; i < n; i++)
            perm[i] = i;
        if (trial == 1)
            for (size_t i = 0; i < n; i++)
                perm[i] = (i + 1) % n;
        else if (trial > 1)
            gsl_ran_shuffle(r, perm, n, sizeof *perm);
        ml_dataset *want = ml_dataset_subset(all, perm, n);
        ml_dataset *got = copy_of(all);
        cr_assert_eq(ml_dataset_permute(got, perm), 0);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(got->y[i], want->y[i], "trial %d row %zu", trial, i);
            cr_assert_eq(memcmp(got->X->data + i * got->X->tda,
                                want->X->data + i * want->X->tda,
                                all->d * sizeof(double)),
                         0, "trial %d row %zu", trial, i);
        }
        ml_dataset_free(got);
        ml_dataset_free(want);
    }
    ml_dataset *none = ml_dataset_subset(all, perm, 0);
    cr_assert_eq(ml_dataset_permute(none, perm), 0);
    cr_assert_eq(none->n, 0);
    ml_dataset_free(none);
    size_t zero = 0, row = 7;
    ml_dataset *one = ml_dataset_subset(all, &row, 1);
    cr_assert_eq(ml_dataset_permute(one, &zero), 0);
    cr_assert_eq(one->y[0], all->y[7]);
    cr_assert_eq(at(one, 0, 4), at(all, 7, 4));
    ml_dataset_free(one);
    gsl_rng_free(r);
    free(perm);
    ml_dataset_free(all);
}

Test(ml_dataset, standardize_gives_train_columns_mean_0_and_sd_1)
{
    ml_dataset *all = load_cancer();
    size_t *train, *test, n_train, n_test;
    cr_assert_eq(ml_split_from_file("data/breast_cancer_split.json", 569,
                                    &train, &n_train, &test, &n_test, NULL),
                 0);
    ml_dataset *tr = ml_dataset_subset(all, train, n_train);
    ml_dataset *te = ml_dataset_subset(all, test, n_test);
    /* Predicted test values from the raw train statistics. */
    double raw_test = at(te, 0, 3), mean = 0, var = 0;
    for (size_t i = 0; i < tr->n; i++)
        mean += at(tr, i, 3) / (double)tr->n;
    for (size_t i = 0; i < tr->n; i++)
        var += pow(at(tr, i, 3) - mean, 2) / (double)tr->n;

    ml_dataset_standardize(tr, te);
    for (size_t j = 0; j < tr->d; j++) {
        double m = 0, v = 0;
        for (size_t i = 0; i < tr->n; i++)
            m += at(tr, i, j);
        m /= (double)tr->n;
        for (size_t i = 0; i < tr->n; i++)
            v += pow(at(tr, i, j) - m, 2);
        v /= (double)tr->n;
        cr_assert_lt(fabs(m), 1e-12, "column %zu mean %g", j, m);
        cr_assert_lt(fabs(sqrt(v) - 1), 1e-12, "column %zu sd %g", j, sqrt(v));
    }
    double want = (raw_test - mean) / sqrt(var);
    cr_assert_lt(fabs(at(te, 0, 3) - want), 1e-12 * fabs(want));
    ml_dataset_free(tr);
    ml_dataset_free(te);
    ml_dataset_free(all);
    free(train);
    free(test);
}

Test(ml_dataset, standardize_only_centres_a_constant_column)
{
    char *path;
    ml_dataset *ds = NULL;
    cr_assert_eq(
        load_text("0.1,1,0\n0.1,3,1\n0.1,5,0\n", &csv_plain, &path, &ds, NULL),
        0);
    ml_dataset_standardize(ds, NULL);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(at(ds, i, 0), 0.0);
    double sd = sqrt(8.0 / 3.0);
    cr_assert_lt(fabs(at(ds, 0, 1) + 2 / sd), 1e-15);
    cr_assert_eq(at(ds, 1, 1), 0.0);
    ml_dataset_free(ds);
    free(path);
}

Test(ml_dataset, add_bias_appends_a_column_of_ones)
{
    ml_dataset *ds = load_cancer();
    double first = at(ds, 7, 29);
    cr_assert_eq(ml_dataset_add_bias(ds, NULL), 0);
    cr_assert_eq(ds->d, 31);
    cr_assert_eq(ds->X->size2, 31);
    cr_assert_eq(at(ds, 7, 29), first);
    for (size_t i = 0; i < ds->n; i++)
        cr_assert_eq(at(ds, i, 30), 1.0);
    ml_dataset_free(ds);
}
