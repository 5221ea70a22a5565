/* spec.c: reading a sweep spec and expanding it (see spec.h).
 *
 * Every value an axis sets is printed to JSON text once and shared by all
 * the runs that use it; the strings live in a pool the spec frees. Checks
 * follow config.c's rules: unknown and duplicate keys are errors, and every
 * message names the spec file and the JSON path of the offending value. */
#include "spec.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SW_MAX_RUNS (spec.h), as a double for the counts below. */
#define MAX_RUNS ((double)SW_MAX_RUNS)

typedef struct axis {
    char *name, *path, *where; /* where: "$.grid[1]" */
    size_t n;
    char **value_text;  /* [n] JSON */
    char **value_label; /* [n] */
    char **value_where; /* [n] "$.grid[1].values[2]" */
    int hidden;         /* a fixed "set" value: not part of labels */
} axis;

/* A dimension of the expansion: one grid axis, or every axis of a zip. */
typedef struct dim {
    axis **axes;
    size_t n_axes, n;
} dim;

typedef struct pool {
    char **s;
    size_t n, cap;
} pool;

typedef struct loader {
    const char *file;
    sim_err *err;
    pool strings;
    axis *axes;
    size_t n_axes, cap_axes;
} loader;

static int fail(loader *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(loader *l, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sim_err_set(l->err, SIM_ECONFIG, "%s: %s", l->file, what);
}

static int nomem(loader *l)
{
    return sim_err_set(l->err, SIM_ENOMEM, "%s: out of memory", l->file);
}

/* Takes ownership of s (which may be NULL, meaning out of memory). */
static char *keep(loader *l, char *s)
{
    if (!s)
        return NULL;
    if (l->strings.n == l->strings.cap) {
        size_t cap = l->strings.cap ? 2 * l->strings.cap : 256;
        char **p = realloc(l->strings.s, cap * sizeof *p);
        if (!p) {
            free(s);
            return NULL;
        }
        l->strings.s = p;
        l->strings.cap = cap;
    }
    l->strings.s[l->strings.n++] = s;
    return s;
}

static char *keepf(loader *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static char *keepf(loader *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return keep(l, s);
}

/* cJSON allocates with its own hooks; copy into malloc'd memory. */
static char *keep_json(loader *l, const cJSON *v)
{
    char *t = cJSON_PrintUnformatted(v);
    char *s = t ? strdup(t) : NULL;
    cJSON_free(t);
    return keep(l, s);
}

static int check_keys(loader *l, const cJSON *o, const char *where,
                      const char *const *known)
{
    for (const cJSON *c = o->child; c; c = c->next) {
        int ok = 0;
        for (size_t i = 0; known[i]; i++)
            ok |= strcmp(c->string, known[i]) == 0;
        if (!ok) {
            char list[200] = "";
            for (size_t i = 0; known[i]; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list),
                         "%s%s", i ? ", " : "", known[i]);
            return fail(l, "%s.%s: unknown key (expected one of: %s)", where,
                        c->string, list);
        }
        for (const cJSON *d = o->child; d != c; d = d->next)
            if (strcmp(d->string, c->string) == 0)
                return fail(l, "%s.%s: duplicate key", where, c->string);
    }
    return 0;
}

static const char *type_name(const cJSON *v)
{
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsArray(v))
        return "an array";
    return "an object";
}

static const char *norm_path(const char *p)
{
    return strncmp(p, "$.", 2) == 0 ? p + 2 : p;
}

/* The label of one value when the axis gives none: strings as they are,
 * numbers and booleans as JSON, objects by their "name" member. */
static char *value_label(loader *l, const cJSON *v, size_t i)
{
    if (cJSON_IsString(v))
        return keep(l, strdup(v->valuestring));
    if (cJSON_IsNumber(v) || cJSON_IsBool(v))
        return keep_json(l, v);
    const cJSON *nm =
        cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "name") : NULL;
    if (cJSON_IsString(nm))
        return keep(l, strdup(nm->valuestring));
    return keepf(l, "#%zu", i);
}

static int label_ok(const char *s)
{
    return *s && !strpbrk(s, "=,\n");
}

static int parse_axis(loader *l, const cJSON *a, const char *where)
{
    static const char *const known[] = {"name", "path", "values", "labels",
                                        NULL};
    if (!cJSON_IsObject(a))
        return fail(l,
                    "%s: expected an axis object {\"name\", \"path\", "
                    "\"values\"}, got %s",
                    where, type_name(a));
    int rc = check_keys(l, a, where, known);
    if (rc)
        return rc;
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(a, "path");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(a, "name");
    const cJSON *values = cJSON_GetObjectItemCaseSensitive(a, "values");
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(a, "labels");
    if (!path)
        return fail(l,
                    "%s: missing key \"path\" (a config path such as "
                    "\"algorithm.lr\")",
                    where);
    if (!cJSON_IsString(path) || !*norm_path(path->valuestring))
        return fail(l,
                    "%s.path: expected a config path such as "
                    "\"algorithm.lr\"",
                    where);
    const char *p = norm_path(path->valuestring);
    if (strcmp(p, "name") == 0 || strcmp(p, "seed") == 0)
        return fail(l,
                    "%s.path: \"%s\" is set by the sweep itself (use "
                    "\"seeds\" for seeds)",
                    where, p);
    if (name && (!cJSON_IsString(name) || !label_ok(name->valuestring)))
        return fail(l,
                    "%s.name: expected a non-empty string without '=', "
                    "',' or newlines",
                    where);
    if (!values)
        return fail(l, "%s: missing key \"values\"", where);
    if (!cJSON_IsArray(values) || cJSON_GetArraySize(values) == 0)
        return fail(l, "%s.values: expected a non-empty array, got %s", where,
                    cJSON_IsArray(values) ? "[]" : type_name(values));
    size_t n = (size_t)cJSON_GetArraySize(values);
    if (labels &&
        (!cJSON_IsArray(labels) || (size_t)cJSON_GetArraySize(labels) != n))
        return fail(l,
                    "%s.labels: expected an array of %zu strings, one per "
                    "value",
                    where, n);

    if (l->n_axes == l->cap_axes) {
        size_t cap = l->cap_axes ? 2 * l->cap_axes : 16;
        axis *x = realloc(l->axes, cap * sizeof *x);
        if (!x)
            return nomem(l);
        l->axes = x;
        l->cap_axes = cap;
    }
    axis *x = &l->axes[l->n_axes];
    memset(x, 0, sizeof *x);
    const char *last = strrchr(p, '.');
    x->name = keep(l, strdup(name ? name->valuestring : last ? last + 1 : p));
    x->path = keep(l, strdup(path->valuestring));
    x->where = keep(l, strdup(where));
    x->n = n;
    x->value_text = calloc(n, sizeof *x->value_text);
    x->value_label = calloc(n, sizeof *x->value_label);
    x->value_where = calloc(n, sizeof *x->value_where);
    if (!x->value_text || !x->value_label || !x->value_where || !x->name ||
        !x->path || !x->where) {
        free(x->value_text);
        free(x->value_label);
        free(x->value_where);
        return nomem(l);
    }
    l->n_axes++;
    if (!label_ok(x->name))
        return fail(l,
                    "%s.name: the axis needs a name without '=', ',' or "
                    "newlines",
                    where);
    size_t i = 0;
    for (const cJSON *v = values->child; v; v = v->next, i++) {
        x->value_where[i] = keepf(l, "%s.values[%zu]", where, i);
        if (cJSON_IsNull(v))
            return fail(l, "%s: null is not a config value", x->value_where[i]);
        x->value_text[i] = keep_json(l, v);
        if (labels) {
            const cJSON *lb = cJSON_GetArrayItem(labels, (int)i);
            if (!cJSON_IsString(lb) || !label_ok(lb->valuestring))
                return fail(l,
                            "%s.labels[%zu]: expected a non-empty string "
                            "without '=', ',' or newlines",
                            where, i);
            x->value_label[i] = keep(l, strdup(lb->valuestring));
        } else {
            x->value_label[i] = value_label(l, v, i);
        }
        if (!x->value_where[i] || !x->value_text[i] || !x->value_label[i])
            return nomem(l);
        if (!label_ok(x->value_label[i]))
            return fail(l,
                        "%s: its label \"%s\" may not be empty or contain "
                        "'=', ',' or newlines: give the axis \"labels\"",
                        x->value_where[i], x->value_label[i]);
    }
    return 0;
}

/* "set": {"path": value, ...}, values every run takes; each becomes an
 * axis of one value that labels leave out. */
static int parse_set(loader *l, const cJSON *o, size_t *first, size_t *count)
{
    *first = l->n_axes;
    *count = 0;
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(o, "set");
    if (!set)
        return 0;
    if (!cJSON_IsObject(set))
        return fail(l,
                    "$.set: expected an object of config paths and values "
                    "({\"algorithm.rounds\": 30}), got %s",
                    type_name(set));
    for (const cJSON *c = set->child; c; c = c->next) {
        for (const cJSON *d = set->child; d != c; d = d->next)
            if (strcmp(d->string, c->string) == 0)
                return fail(l, "$.set.%s: duplicate key", c->string);
        char w[200];
        snprintf(w, sizeof w, "$.set[\"%s\"]", c->string);
        /* The same checks as an axis, by building its JSON form. */
        cJSON *a = cJSON_CreateObject(), *vals = cJSON_CreateArray();
        cJSON *v = cJSON_Duplicate(c, 1);
        if (!a || !vals || !v || !cJSON_AddItemToArray(vals, v) ||
            !cJSON_AddStringToObject(a, "path", c->string) ||
            !cJSON_AddItemToObject(a, "values", vals)) {
            cJSON_Delete(a);
            return nomem(l);
        }
        int rc = parse_axis(l, a, w);
        cJSON_Delete(a);
        if (rc) {
            /* Messages name the value by its place in "set". */
            return rc;
        }
        axis *x = &l->axes[l->n_axes - 1];
        x->hidden = 1;
        x->value_where[0] = x->where;
        (*count)++;
    }
    return 0;
}

/* Parses a list of axes at key in o; appends their indices to *first..,
 * returning how many were read in *count. */
static int parse_axes(loader *l, const cJSON *o, const char *key,
                      const char *where, size_t *first, size_t *count)
{
    *first = l->n_axes;
    *count = 0;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr))
        return fail(l, "%s.%s: expected an array of axes, got %s", where, key,
                    type_name(arr));
    size_t i = 0;
    for (const cJSON *a = arr->child; a; a = a->next, i++) {
        char w[96];
        snprintf(w, sizeof w, "%s.%s[%zu]", where, key, i);
        int rc = parse_axis(l, a, w);
        if (rc)
            return rc;
    }
    *count = i;
    return 0;
}

typedef struct seed_at {
    uint64_t seed;
    size_t i;
} seed_at;

static int cmp_seed_at(const void *a, const void *b)
{
    const seed_at *x = a, *y = b;
    if (x->seed != y->seed)
        return x->seed < y->seed ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* The smallest index i such that v[i] equals an earlier v[j] (what a
 * pairwise scan finds first), or n when all differ, in O(n log n). n also
 * when out of memory: then the duplicate goes unnoticed until the labels
 * are checked (check_unique_labels). */
static size_t first_duplicate(const uint64_t *v, size_t n)
{
    seed_at *t = malloc(n * sizeof *t);
    if (!t)
        return n;
    for (size_t i = 0; i < n; i++)
        t[i] = (seed_at){v[i], i};
    qsort(t, n, sizeof *t, cmp_seed_at);
    size_t best = n;
    for (size_t i = 1; i < n; i++)
        if (t[i].seed == t[i - 1].seed && t[i].i < best &&
            (i < 2 || t[i - 2].seed != t[i].seed))
            best = t[i].i;
    free(t);
    return best;
}

static int parse_seeds(loader *l, const cJSON *s, uint64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!s)
        return 0;
    const double max_seed = 9007199254740992.0; /* 2^53 */
    uint64_t first = 1;
    double count = 0;
    if (cJSON_IsNumber(s)) {
        count = s->valuedouble;
        if (count != floor(count) || count < 1)
            return fail(l,
                        "$.seeds: expected a count in 1..%.0f (seeds "
                        "1..N), a list of seeds or {\"first\", \"count\"}",
                        MAX_RUNS);
        if (count > MAX_RUNS)
            return fail(l,
                        "$.seeds: %.15g seeds, more than the %.0f runs a "
                        "sweep may have",
                        count, MAX_RUNS);
    } else if (cJSON_IsObject(s)) {
        static const char *const known[] = {"first", "count", NULL};
        int rc = check_keys(l, s, "$.seeds", known);
        if (rc)
            return rc;
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(s, "first");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(s, "count");
        if (!cJSON_IsNumber(c) || c->valuedouble != floor(c->valuedouble) ||
            c->valuedouble < 1)
            return fail(l, "$.seeds.count: expected an integer in 1..%.0f",
                        MAX_RUNS);
        if (c->valuedouble > MAX_RUNS)
            return fail(l,
                        "$.seeds.count: %.15g seeds, more than the %.0f runs "
                        "a sweep may have",
                        c->valuedouble, MAX_RUNS);
        if (f &&
            (!cJSON_IsNumber(f) || f->valuedouble != floor(f->valuedouble) ||
             f->valuedouble < 0 || f->valuedouble + c->valuedouble > max_seed))
            return fail(l, "$.seeds.first: expected an integer >= 0 (and "
                           "first + count <= 2^53)");
        first = f ? (uint64_t)f->valuedouble : 1;
        count = c->valuedouble;
    } else if (cJSON_IsArray(s) && cJSON_GetArraySize(s) > 0) {
        count = cJSON_GetArraySize(s);
        if (count > MAX_RUNS)
            return fail(l,
                        "$.seeds: a list of %.0f seeds, more than the %.0f "
                        "runs a sweep may have",
                        count, MAX_RUNS);
    } else {
        return fail(l, "$.seeds: expected a count >= 1 (seeds 1..N), a "
                       "non-empty list of seeds or {\"first\", \"count\"}");
    }
    uint64_t *v = calloc((size_t)count, sizeof *v);
    if (!v)
        return nomem(l);
    if (cJSON_IsArray(s)) {
        size_t i = 0;
        for (const cJSON *e = s->child; e; e = e->next, i++) {
            if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) ||
                e->valuedouble < 0 || e->valuedouble > max_seed) {
                free(v);
                return fail(l, "$.seeds[%zu]: expected an integer in 0..2^53",
                            i);
            }
            v[i] = (uint64_t)e->valuedouble;
        }
        /* Sorted, not pairwise: a list may hold SW_MAX_RUNS seeds. */
        size_t dup = first_duplicate(v, (size_t)count);
        if (dup < (size_t)count) {
            unsigned long long seed = v[dup];
            free(v);
            return fail(l, "$.seeds[%zu]: seed %llu is already listed", dup,
                        seed);
        }
    } else {
        for (size_t i = 0; i < (size_t)count; i++)
            v[i] = first + i;
    }
    *out = v;
    *n = (size_t)count;
    return 0;
}

/* Builds the dimensions of one block: top-level grid axes, the top-level
 * zip, the block's grid axes, the block's zip. */
static int make_dims(loader *l, size_t s0, size_t sn, size_t tg0, size_t tgn,
                     size_t tz0, size_t tzn, size_t bg0, size_t bgn, size_t bz0,
                     size_t bzn, dim *d, size_t *nd)
{
    *nd = 0;
    size_t ranges[5][2] = {
        {s0, sn}, {tg0, tgn}, {tz0, tzn}, {bg0, bgn}, {bz0, bzn}};
    for (int r = 0; r < 5; r++) {
        size_t a0 = ranges[r][0], an = ranges[r][1];
        if (an == 0)
            continue;
        int zip = r == 2 || r == 4;
        for (size_t k = 0; k < (zip ? 1 : an); k++) {
            dim *x = &d[(*nd)++];
            x->n_axes = zip ? an : 1;
            x->axes = calloc(x->n_axes, sizeof *x->axes);
            if (!x->axes)
                return nomem(l);
            for (size_t j = 0; j < x->n_axes; j++)
                x->axes[j] = &l->axes[a0 + (zip ? j : k)];
            x->n = x->axes[0]->n;
            for (size_t j = 1; j < x->n_axes; j++)
                if (x->axes[j]->n != x->n)
                    return fail(l,
                                "%s: zip axis \"%s\" has %zu values but "
                                "\"%s\" (%s) has %zu: zipped axes advance "
                                "together",
                                x->axes[j]->where, x->axes[j]->name,
                                x->axes[j]->n, x->axes[0]->name,
                                x->axes[0]->where, x->n);
        }
    }
    /* Overrides apply in dimension order. A later axis may set a path
     * inside an earlier one's value (an "algorithm" object, then its
     * local_steps), but setting the same path, or a parent that replaces an
     * earlier axis's value, would make one silently undo the other. */
    for (size_t i = 0; i < *nd; i++)
        for (size_t a = 0; a < d[i].n_axes; a++)
            for (size_t j = 0; j <= i; j++)
                for (size_t b = 0; b < (j == i ? a : d[j].n_axes); b++) {
                    const axis *x = d[i].axes[a], *y = d[j].axes[b];
                    const char *p = norm_path(x->path), *q = norm_path(y->path);
                    size_t np = strlen(p), nq = strlen(q);
                    size_t m = np < nq ? np : nq;
                    if (strncmp(p, q, m) == 0 && np <= nq &&
                        (np == nq || strchr(".[", q[m])))
                        return fail(l,
                                    "%s: axis \"%s\" sets %s, which axis "
                                    "\"%s\" (%s) also sets",
                                    x->where, x->name, x->path, y->name,
                                    y->where);
                    if (!x->hidden && !y->hidden &&
                        strcmp(x->name, y->name) == 0)
                        return fail(l,
                                    "%s: axis name \"%s\" is already used "
                                    "by %s",
                                    x->where, x->name, y->where);
                }
    return 0;
}

/* "NAME/LABEL" as a JSON string, escaped exactly as cJSON_PrintUnformatted
 * prints a string (the quote, the backslash, \b \f \n \r \t, other
 * bytes below 32 as \u00xx, the rest as they are), in one allocation: a
 * spec of 100,000 runs makes as many. NULL when out of memory. The fuzz
 * harness checks it against cJSON. */
static char *name_string(const char *name, const char *label)
{
    size_t n = 3;
    for (const char *parts[2] = {name, label}, **p = parts; p < parts + 2; p++)
        for (const unsigned char *c = (const unsigned char *)*p; *c; c++)
            n += *c == '"' || *c == '\\' || *c == '\b' || *c == '\f' ||
                         *c == '\n' || *c == '\r' || *c == '\t'
                     ? 2
                 : *c < 32 ? 6
                           : 1;
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    *o++ = '"';
    for (int part = 0; part < 2; part++) {
        if (part == 1)
            *o++ = '/';
        for (const unsigned char *c =
                 (const unsigned char *)(part ? label : name);
             *c; c++) {
            const char *esc = *c == '"'    ? "\\\""
                              : *c == '\\' ? "\\\\"
                              : *c == '\b' ? "\\b"
                              : *c == '\f' ? "\\f"
                              : *c == '\n' ? "\\n"
                              : *c == '\r' ? "\\r"
                              : *c == '\t' ? "\\t"
                                           : NULL;
            if (esc) {
                memcpy(o, esc, 2);
                o += 2;
            } else if (*c < 32) {
                o += sprintf(o, "\\u%04x", *c);
            } else {
                *o++ = (char)*c;
            }
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

static int add_runs(loader *l, sw_spec *s, const dim *d, size_t nd,
                    const uint64_t *seeds, size_t n_seeds, size_t *cap)
{
    /* Count before expanding anything, and name the axis whose values take
     * the count past the maximum (seeds count first: they multiply every
     * block). */
    double per_block = n_seeds ? (double)n_seeds : 1;
    double total = (double)s->n_runs + per_block;
    if (total > MAX_RUNS)
        return fail(l,
                    "$.seeds: %zu seeds take the sweep to %.15g runs, more "
                    "than the %.0f a sweep may have",
                    n_seeds, total, MAX_RUNS);
    for (size_t i = 0; i < nd; i++) {
        per_block *= (double)d[i].n;
        total = (double)s->n_runs + per_block;
        if (total > MAX_RUNS) {
            const axis *x = d[i].axes[0];
            return fail(l,
                        "%s: axis \"%s\" (%zu values) takes the sweep to "
                        "%.15g runs, more than the %.0f a sweep may have",
                        x->where, x->name, d[i].n, total, MAX_RUNS);
        }
    }
    size_t n_ov = 1 + (n_seeds ? 1 : 0);
    for (size_t i = 0; i < nd; i++)
        n_ov += d[i].n_axes;
    size_t ctr[64] = {0};
    size_t seed_i = 0;
    for (size_t k = 0; k < (size_t)per_block; k++) {
        if (s->n_runs == *cap) {
            size_t c = *cap ? 2 * *cap : 64;
            sw_run *r = realloc(s->runs, c * sizeof *r);
            if (!r)
                return nomem(l);
            s->runs = r;
            *cap = c;
        }
        sw_run *r = &s->runs[s->n_runs];
        memset(r, 0, sizeof *r);
        r->idx = s->n_runs++;
        /* One block: the overrides, then their origins (sw_spec_free). */
        r->ov = calloc(n_ov, sizeof *r->ov + sizeof *r->origin);
        if (!r->ov)
            return nomem(l);
        r->origin = (sw_origin *)(r->ov + n_ov);
        size_t len = 0, cap_label = 64;
        char *label = malloc(cap_label);
        if (!label)
            return nomem(l);
        label[0] = '\0';
        for (size_t i = 0; i < nd; i++)
            for (size_t a = 0; a < d[i].n_axes; a++) {
                const axis *x = d[i].axes[a];
                size_t v = ctr[i];
                r->ov[r->n_ov] =
                    (cfg_override){.path = x->path, .value = x->value_text[v]};
                r->origin[r->n_ov++] =
                    (sw_origin){.axis = x->hidden ? "set" : x->name,
                                .where = x->value_where[v],
                                .label = x->hidden ? NULL : x->value_label[v]};
                if (x->hidden)
                    continue;
                size_t need =
                    len + strlen(x->name) + strlen(x->value_label[v]) + 3;
                if (need > cap_label) {
                    cap_label = 2 * need;
                    char *b = realloc(label, cap_label);
                    if (!b) {
                        free(label);
                        return nomem(l);
                    }
                    label = b;
                }
                len += (size_t)sprintf(label + len, "%s%s=%s", len ? "," : "",
                                       x->name, x->value_label[v]);
            }
        if (n_seeds) {
            char *val = keepf(l, "%llu", (unsigned long long)seeds[seed_i]);
            r->ov[r->n_ov] = (cfg_override){.path = "seed", .value = val};
            r->origin[r->n_ov++] =
                (sw_origin){.axis = "seeds", .where = "$.seeds", .label = val};
            char *b = realloc(label, len + 32);
            if (!b || !val) {
                free(b ? b : label);
                return nomem(l);
            }
            label = b;
            len +=
                (size_t)sprintf(label + len, "%sseed=%s", len ? "," : "", val);
        }
        if (!len) {
            free(label);
            label = strdup("base");
        }
        r->label = keep(l, label);
        char *name_json =
            r->label ? keep(l, name_string(s->name, r->label)) : NULL;
        if (!r->label || !name_json)
            return nomem(l);
        r->ov[r->n_ov] = (cfg_override){.path = "name", .value = name_json};
        r->origin[r->n_ov++] = (sw_origin){.axis = "name", .where = "$.name"};

        /* Advance: seeds fastest, then the last dimension. */
        if (n_seeds && ++seed_i < n_seeds)
            continue;
        seed_i = 0;
        for (size_t i = nd; i-- > 0;) {
            if (++ctr[i] < d[i].n)
                break;
            ctr[i] = 0;
        }
    }
    return 0;
}

static int cmp_label(const void *a, const void *b)
{
    const sw_run *x = *(const sw_run *const *)a, *y = *(const sw_run *const *)b;
    int c = strcmp(x->label, y->label);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static int check_unique_labels(loader *l, const sw_spec *s)
{
    const sw_run **v = malloc(s->n_runs * sizeof *v);
    if (!v)
        return nomem(l);
    for (size_t i = 0; i < s->n_runs; i++)
        v[i] = &s->runs[i];
    qsort(v, s->n_runs, sizeof *v, cmp_label);
    int rc = 0;
    for (size_t i = 1; i < s->n_runs && !rc; i++)
        if (strcmp(v[i - 1]->label, v[i]->label) == 0)
            rc = fail(l,
                      "runs %zu and %zu have the same label \"%s\": "
                      "name the axes or blocks apart",
                      v[i - 1]->idx, v[i]->idx, v[i]->label);
    free(v);
    return rc;
}

static char *read_text(const char *path, sim_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        sim_err_set(err, SIM_EIO, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - 1 - len, f);
        if (ferror(f) || len < cap - 1)
            break;
        char *b = realloc(buf, cap *= 2);
        if (!b)
            free(buf);
        buf = b;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        sim_err_set(err, buf ? SIM_EIO : SIM_ENOMEM, "%s: cannot read", path);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

static int syntax_error(loader *l, const char *text, const char *at)
{
    size_t off = at ? (size_t)(at - text) : 0, line = 1, col = 1;
    for (size_t i = 0; i < off && text[i]; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    return sim_err_set(l->err, SIM_ECONFIG, "%s:%zu:%zu: JSON syntax error",
                       l->file, line, col);
}

static char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 5 && strcmp(b + n - 5, ".json") == 0)
        n -= 5;
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, b, n);
        s[n] = '\0';
    }
    return s;
}

static int load(loader *l, sw_spec *s)
{
    s->text = read_text(s->path, l->err);
    if (!s->text)
        return l->err->code;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(s->text, &end, 1);
    if (!root)
        return syntax_error(l, s->text, end);
    int rc = 0;
    dim *dims = NULL;
    uint64_t *seeds = NULL;
    size_t n_seeds = 0, cap = 0;
    static const char *const known[] = {
        "$schema", "name", "description", "base",   "set",
        "grid",    "zip",  "seeds",       "blocks", NULL};
    if (!cJSON_IsObject(root)) {
        rc = fail(l, "$: expected a sweep object, got %s", type_name(root));
        goto done;
    }
    if ((rc = check_keys(l, root, "$", known)))
        goto done;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (name && (!cJSON_IsString(name) || !*name->valuestring ||
                 strchr(name->valuestring, '\n'))) {
        rc = fail(l, "$.name: expected a non-empty string");
        goto done;
    }
    s->name = name ? strdup(name->valuestring) : base_name(s->path);

    /* The base: a path relative to the spec's directory, or inline. */
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(root, "base");
    if (!base) {
        rc = fail(l, "$: missing key \"base\" (a config path relative to this "
                     "file, or an inline config object)");
        goto done;
    }
    if (cJSON_IsString(base) && *base->valuestring) {
        const char *slash = strrchr(s->path, '/');
        size_t dl = base->valuestring[0] == '/' || !slash
                        ? 0
                        : (size_t)(slash - s->path) + 1;
        s->base_source = malloc(dl + strlen(base->valuestring) + 1);
        if (!s->base_source) {
            rc = nomem(l);
            goto done;
        }
        memcpy(s->base_source, s->path, dl);
        strcpy(s->base_source + dl, base->valuestring);
        sim_err e = {0};
        s->base_text = read_text(s->base_source, &e);
        if (!s->base_text) {
            rc = fail(l, "$.base: %s", e.msg);
            goto done;
        }
    } else if (cJSON_IsObject(base)) {
        s->base_source = strdup(s->path);
        char *t = cJSON_PrintUnformatted(base);
        s->base_text = t ? strdup(t) : NULL;
        cJSON_free(t);
    } else {
        rc = fail(l,
                  "$.base: expected a config path or an inline config "
                  "object, got %s",
                  type_name(base));
        goto done;
    }
    if (!s->name || !s->base_source || !s->base_text) {
        rc = nomem(l);
        goto done;
    }

    size_t s0, sn, tg0, tgn, tz0, tzn;
    if ((rc = parse_set(l, root, &s0, &sn)) ||
        (rc = parse_axes(l, root, "grid", "$", &tg0, &tgn)) ||
        (rc = parse_axes(l, root, "zip", "$", &tz0, &tzn)) ||
        (rc = parse_seeds(l, cJSON_GetObjectItemCaseSensitive(root, "seeds"),
                          &seeds, &n_seeds)))
        goto done;

    const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(root, "blocks");
    if (blocks && (!cJSON_IsArray(blocks) || !cJSON_GetArraySize(blocks))) {
        rc = fail(l, "$.blocks: expected a non-empty array of {\"grid\", "
                     "\"zip\"} objects");
        goto done;
    }
    size_t n_blocks = blocks ? (size_t)cJSON_GetArraySize(blocks) : 1;
    for (size_t b = 0; b < n_blocks; b++) {
        size_t bg0 = 0, bgn = 0, bz0 = 0, bzn = 0;
        if (blocks) {
            const cJSON *bl = cJSON_GetArrayItem(blocks, (int)b);
            char w[48];
            snprintf(w, sizeof w, "$.blocks[%zu]", b);
            static const char *const bknown[] = {"grid", "zip", NULL};
            if (!cJSON_IsObject(bl)) {
                rc = fail(l, "%s: expected an object {\"grid\", \"zip\"}", w);
                goto done;
            }
            if ((rc = check_keys(l, bl, w, bknown)) ||
                (rc = parse_axes(l, bl, "grid", w, &bg0, &bgn)) ||
                (rc = parse_axes(l, bl, "zip", w, &bz0, &bzn)))
                goto done;
        }
        size_t max_dims = sn + tgn + bgn + 2;
        if (max_dims > 64) {
            rc = fail(l, "more than 62 grid axes");
            goto done;
        }
        dims = calloc(max_dims, sizeof *dims);
        size_t nd = 0;
        if (!dims) {
            rc = nomem(l);
            goto done;
        }
        rc = make_dims(l, s0, sn, tg0, tgn, tz0, tzn, bg0, bgn, bz0, bzn, dims,
                       &nd);
        if (!rc)
            rc = add_runs(l, s, dims, nd, seeds, n_seeds, &cap);
        for (size_t i = 0; i < max_dims; i++)
            free(dims[i].axes);
        free(dims);
        dims = NULL;
        if (rc)
            goto done;
    }
    rc = check_unique_labels(l, s);
done:
    free(seeds);
    cJSON_Delete(root);
    return rc;
}

/* The spec owns the loader's string pool and axes through this tail. */
typedef struct spec_impl {
    sw_spec pub;
    pool strings;
    axis *axes;
    size_t n_axes;
} spec_impl;

int sw_spec_load(const char *path, sw_spec **out, sim_err *err)
{
    *out = NULL;
    spec_impl *si = calloc(1, sizeof *si);
    if (!si || !(si->pub.path = strdup(path))) {
        free(si);
        return sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
    }
    loader l = {.file = path, .err = err};
    int rc = load(&l, &si->pub);
    si->strings = l.strings;
    si->axes = l.axes;
    si->n_axes = l.n_axes;
    if (rc) {
        sw_spec_free(&si->pub);
        return rc;
    }
    *out = &si->pub;
    return 0;
}

void sw_spec_free(sw_spec *s)
{
    if (!s)
        return;
    spec_impl *si = (spec_impl *)s;
    for (size_t i = 0; i < s->n_runs; i++) {
        free(s->runs[i].ov); /* and origin, in the same block */
    }
    free(s->runs);
    for (size_t i = 0; i < si->n_axes; i++) {
        free(si->axes[i].value_text);
        free(si->axes[i].value_label);
        free(si->axes[i].value_where);
    }
    free(si->axes);
    for (size_t i = 0; i < si->strings.n; i++)
        free(si->strings.s[i]);
    free(si->strings.s);
    free(s->path);
    free(s->name);
    free(s->text);
    free(s->base_source);
    free(s->base_text);
    free(si);
}

/* Whether msg names path p as a whole JSON path (not a prefix of a longer
 * key): "$.p" followed by a separator, or "--set p:" from an override that
 * could not be applied. */
static int names_path(const char *msg, const char *prefix, const char *p)
{
    size_t lp = strlen(prefix), n = strlen(p);
    for (const char *at = strstr(msg, prefix); at; at = strstr(at + 1, prefix))
        if (strncmp(at + lp, p, n) == 0 && strchr(".[: ", at[lp + n]))
            return 1;
    return 0;
}

int sw_run_blame(const sw_run *r, const char *msg)
{
    int best = -1;
    size_t best_len = 0;
    for (size_t k = 0; k < r->n_ov; k++) {
        const char *p = norm_path(r->ov[k].path);
        size_t n = strlen(p);
        if (n > best_len && (names_path(msg, "$.", p) ||
                             names_path(msg, "--set ", r->ov[k].path))) {
            best = (int)k;
            best_len = n;
        }
    }
    return best;
}
