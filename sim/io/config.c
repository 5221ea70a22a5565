/* config.c: JSON experiment files to a validated cfg_experiment.
 *
 * The loader walks the cJSON tree with a JSON-path buffer that is pushed on
 * the way down and popped on the way up, so every message can name the
 * exact spot ($.network.workers[2].bandwidth). Each object's keys are
 * checked against a known list before any value is read, which rejects
 * unknown and duplicate keys: cJSON keeps duplicates and its lookups return
 * the first silently. Defaults are written into the experiment first and
 * overwritten by what the file says, so an absent section and an empty one
 * behave alike. The cJSON tree is freed before cfg_load returns. */
#include "config.h"

#include "units.h"

#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The largest integer a double holds exactly: integer fields above it could
 * not be told apart from their neighbours. */
#define EXACT_INT_MAX 9007199254740992.0

#define TRY(expr)                                                              \
    do {                                                                       \
        int rc_ = (expr);                                                      \
        if (rc_)                                                               \
            return rc_;                                                        \
    } while (0)

typedef struct ctx {
    const char *source; /* for messages */
    sim_err *err;
    char path[256]; /* JSON path of the value being read */
    size_t len;
} ctx;

/* ---- numbers as text ---- */

/* The shortest %g form that reads back as exactly d. cJSON's own printer
 * accepts 15 digits when they are within an epsilon of the value, which can
 * lose the last bit, so to_json prints through this instead. */
static void fmt_exact(double d, char *buf, size_t cap)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

/* As fmt_exact, for humans: 2^53 reads better than its sixteen digits. */
static void fmt_bound(double d, char *buf, size_t cap)
{
    if (d == EXACT_INT_MAX)
        snprintf(buf, cap, "2^53");
    else
        fmt_exact(d, buf, cap);
}

/* ---- the path buffer ---- */

static void path_reset(ctx *cx)
{
    strcpy(cx->path, "$");
    cx->len = 1;
}

static void path_append(ctx *cx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void path_append(ctx *cx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cx->path + cx->len, sizeof cx->path - cx->len, fmt, ap);
    va_end(ap);
    /* A path too long for the buffer is cut; the message stays readable. */
    if (n > 0)
        cx->len += (size_t)n < sizeof cx->path - cx->len
                       ? (size_t)n
                       : sizeof cx->path - 1 - cx->len;
}

static int is_utf8_tail(char c)
{
    return ((unsigned char)c & 0xC0) == 0x80;
}

static int is_identifier(const char *s)
{
    if (!*s || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* Keys a user could not type after a dot (spaces, quotes) are shown in
 * bracket form so that the path stays unambiguous. */
static size_t path_push_key(ctx *cx, const char *key)
{
    size_t saved = cx->len;
    if (is_identifier(key)) {
        path_append(cx, ".%s", key);
    } else {
        path_append(cx, "[\"");
        const char *s = key;
        /* Cut long keys, but never inside a UTF-8 sequence. */
        for (; *s && (s - key < 40 || is_utf8_tail(*s)); s++)
            path_append(cx, (*s == '"' || *s == '\\') ? "\\%c" : "%c",
                        (unsigned char)*s < 0x20 ? '?' : *s);
        path_append(cx, "%s\"]", *s ? "..." : "");
    }
    return saved;
}

static size_t path_push_index(ctx *cx, size_t i)
{
    size_t saved = cx->len;
    path_append(cx, "[%zu]", i);
    return saved;
}

static void path_pop(ctx *cx, size_t saved)
{
    cx->len = saved;
    cx->path[saved] = '\0';
}

/* ---- messages ---- */

static int fail(ctx *cx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(ctx *cx, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sim_err_set(cx->err, SIM_ECONFIG, "%s: %s: %s", cx->source, cx->path,
                       what);
}

static int fail_nomem(ctx *cx)
{
    return sim_err_set(cx->err, SIM_ENOMEM, "%s: out of memory", cx->source);
}

/* What the user wrote, short enough for a one-line message. */
static const char *describe(const cJSON *v, char *buf, size_t cap)
{
    if (!v) {
        snprintf(buf, cap, "nothing");
    } else if (cJSON_IsNumber(v)) {
        if (isfinite(v->valuedouble))
            fmt_exact(v->valuedouble, buf, cap);
        else
            snprintf(buf, cap, "a number out of range");
    } else if (cJSON_IsString(v)) {
        size_t n = 0;
        const char *s = v->valuestring;
        buf[n++] = '"';
        for (; *s && n + 6 < cap && (n < 48 || is_utf8_tail(*s)); s++) {
            if (*s == '"' || *s == '\\')
                buf[n++] = '\\';
            buf[n++] = (unsigned char)*s < 0x20 ? '?' : *s;
        }
        if (*s) {
            memcpy(buf + n, "...", 3);
            n += 3;
        }
        buf[n++] = '"';
        buf[n] = '\0';
    } else if (cJSON_IsTrue(v)) {
        snprintf(buf, cap, "true");
    } else if (cJSON_IsFalse(v)) {
        snprintf(buf, cap, "false");
    } else if (cJSON_IsNull(v)) {
        snprintf(buf, cap, "null");
    } else if (cJSON_IsArray(v)) {
        snprintf(buf, cap, "an array");
    } else {
        snprintf(buf, cap, "an object");
    }
    return buf;
}

static int expected(ctx *cx, const char *what, const cJSON *got)
{
    char buf[80];
    return fail(cx, "expected %s, got %s", what,
                describe(got, buf, sizeof buf));
}

/* Appends `"a", "b", "c"` (quoted) or `a, b, c` to buf. */
static void list_names(char *buf, size_t cap, const char *const *names,
                       size_t n, int quoted)
{
    size_t len = strlen(buf);
    for (size_t i = 0; i < n && len < cap; i++) {
        int w = snprintf(buf + len, cap - len, quoted ? "%s\"%s\"" : "%s%s",
                         i ? ", " : "", names[i]);
        if (w < 0)
            return;
        len += (size_t)w;
    }
}

static size_t count_names(const char *const *names)
{
    size_t n = 0;
    while (names[n])
        n++;
    return n;
}

/* ---- objects and keys ---- */

/* Checks that o is an object whose keys are all in known (n of them) and
 * none repeated. what_unknown words the complaint ("unknown key"). NULL o
 * means the section is absent, which is fine. */
static int check_object(ctx *cx, const cJSON *o, const char *const *known,
                        size_t n, const char *what_unknown)
{
    if (!o)
        return 0;
    if (!cJSON_IsObject(o))
        return expected(cx, "an object", o);
    for (const cJSON *c = o->child; c; c = c->next) {
        int found = 0;
        for (size_t i = 0; i < n && !found; i++)
            found = strcmp(known[i], c->string) == 0;
        size_t saved = path_push_key(cx, c->string);
        if (!found) {
            char list[300] = "";
            list_names(list, sizeof list, known, n, 0);
            int rc = fail(cx, "%s (known: %s)", what_unknown, list);
            path_pop(cx, saved);
            return rc;
        }
        for (const cJSON *p = o->child; p != c; p = p->next) {
            if (strcmp(p->string, c->string) == 0) {
                int rc = fail(cx, "duplicate key");
                path_pop(cx, saved);
                return rc;
            }
        }
        path_pop(cx, saved);
    }
    return 0;
}

static int check_keys(ctx *cx, const cJSON *o, const char *const *known)
{
    return check_object(cx, o, known, count_names(known), "unknown key");
}

static const cJSON *get(const cJSON *o, const char *key)
{
    return o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static int missing(ctx *cx, const char *key)
{
    return fail(cx, "missing required key \"%s\"", key);
}

/* For objects that take exactly one of two keys ({"fraction"} or
 * {"size"}); returns 0 and which one (0 or 1) in *which. */
static int one_of(ctx *cx, const cJSON *o, const char *a, const char *b,
                  int *which)
{
    int has_a = get(o, a) != NULL, has_b = get(o, b) != NULL;
    if (has_a == has_b)
        return fail(cx, "expected exactly one of \"%s\" or \"%s\", got %s", a,
                    b, has_a ? "both" : "neither");
    *which = has_b;
    return 0;
}

/* ---- typed values ---- */

typedef struct range {
    double lo, hi;        /* -INFINITY / INFINITY when unbounded */
    int lo_open, hi_open; /* exclusive bound */
} range;

static const range ANY = {-INFINITY, INFINITY, 0, 0};

static range at_least(double lo)
{
    return (range){lo, INFINITY, 0, 0};
}
static range above(double lo)
{
    return (range){lo, INFINITY, 1, 0};
}
static range closed(double lo, double hi)
{
    return (range){lo, hi, 0, 0};
}

static int in_range(double d, range r)
{
    return (r.lo_open ? d > r.lo : d >= r.lo) &&
           (r.hi_open ? d < r.hi : d <= r.hi);
}

/* "a number in [0, 1)", "an integer >= 1", ... */
static void range_text(char *buf, size_t cap, const char *noun, range r)
{
    char lo[32], hi[32];
    fmt_bound(r.lo, lo, sizeof lo);
    fmt_bound(r.hi, hi, sizeof hi);
    int has_lo = !isinf(r.lo), has_hi = !isinf(r.hi);
    if (has_lo && has_hi)
        snprintf(buf, cap, "%s in %c%s, %s%c", noun, r.lo_open ? '(' : '[', lo,
                 hi, r.hi_open ? ')' : ']');
    else if (has_lo)
        snprintf(buf, cap, "%s %s %s", noun, r.lo_open ? ">" : ">=", lo);
    else if (has_hi)
        snprintf(buf, cap, "%s %s %s", noun, r.hi_open ? "<" : "<=", hi);
    else
        snprintf(buf, cap, "%s", noun);
}

/* Reads a number in r. For integers (integer != 0) the value must also be
 * integral and at most cap in magnitude, cap being what the C field can
 * hold; cap is not part of the advertised range because no one means it. */
static int read_number(ctx *cx, const cJSON *v, const char *noun, int integer,
                       range r, double cap, double *out)
{
    char want[128];
    range_text(want, sizeof want, noun, r);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return expected(cx, want, v);
    double d = v->valuedouble;
    if ((integer && floor(d) != d) || !in_range(d, r))
        return expected(cx, want, v);
    if (integer && fabs(d) > cap) {
        char c[32];
        fmt_bound(cap, c, sizeof c);
        size_t n = strlen(want);
        snprintf(want + n, sizeof want - n, " (at most %s)", c);
        return expected(cx, want, v);
    }
    *out = d + 0.0; /* no -0 */
    return 0;
}

static int field_double(ctx *cx, const cJSON *o, const char *key, range r,
                        double *out)
{
    const cJSON *v = get(o, key);
    if (!v)
        return 0;
    size_t saved = path_push_key(cx, key);
    int rc = read_number(cx, v, "a number", 0, r, 0, out);
    path_pop(cx, saved);
    return rc;
}

static int field_long(ctx *cx, const cJSON *o, const char *key, range r,
                      long *out)
{
    const cJSON *v = get(o, key);
    if (!v)
        return 0;
    size_t saved = path_push_key(cx, key);
    double d;
    double cap =
        (double)LONG_MAX < EXACT_INT_MAX ? (double)LONG_MAX : EXACT_INT_MAX;
    int rc = read_number(cx, v, "an integer", 1, r, cap, &d);
    if (rc == 0)
        *out = (long)d;
    path_pop(cx, saved);
    return rc;
}

static int field_int(ctx *cx, const cJSON *o, const char *key, range r,
                     int *out)
{
    const cJSON *v = get(o, key);
    if (!v)
        return 0;
    size_t saved = path_push_key(cx, key);
    double d;
    int rc = read_number(cx, v, "an integer", 1, r, INT_MAX, &d);
    if (rc == 0)
        *out = (int)d;
    path_pop(cx, saved);
    return rc;
}

static int read_bool(ctx *cx, const cJSON *v, int *out)
{
    if (!cJSON_IsBool(v))
        return expected(cx, "true or false", v);
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return 0;
}

static int field_bool(ctx *cx, const cJSON *o, const char *key, int *out)
{
    const cJSON *v = get(o, key);
    if (!v)
        return 0;
    size_t saved = path_push_key(cx, key);
    int rc = read_bool(cx, v, out);
    path_pop(cx, saved);
    return rc;
}

/* A string from choices (NULL-terminated); its index goes to *out. */
static int read_choice(ctx *cx, const cJSON *v, const char *const *choices,
                       int *out)
{
    size_t n = count_names(choices);
    if (cJSON_IsString(v)) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(choices[i], v->valuestring) == 0) {
                *out = (int)i;
                return 0;
            }
        }
    }
    char want[300] = "one of ";
    list_names(want, sizeof want, choices, n, 1);
    return expected(cx, want, v);
}

static int field_choice(ctx *cx, const cJSON *o, const char *key,
                        const char *const *choices, int *out)
{
    const cJSON *v = get(o, key);
    if (!v)
        return 0;
    size_t saved = path_push_key(cx, key);
    int rc = read_choice(cx, v, choices, out);
    path_pop(cx, saved);
    return rc;
}

/* A non-empty string, copied into *out (freeing what was there). */
static int field_string(ctx *cx, const cJSON *o, const char *key, char **out)
{
    const cJSON *v = get(o, key);
    if (!v)
        return 0;
    size_t saved = path_push_key(cx, key);
    int rc = 0;
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
        rc = expected(cx, "a non-empty string", v);
    } else {
        char *s = strdup(v->valuestring);
        if (!s) {
            rc = fail_nomem(cx);
        } else {
            free(*out);
            *out = s;
        }
    }
    path_pop(cx, saved);
    return rc;
}

typedef enum unit_kind { UNIT_DURATION, UNIT_BANDWIDTH, UNIT_RATE } unit_kind;

/* A quantity with a unit: a plain number in SI base units, or a string such
 * as "10Gbps". Must be > 0, or >= 0 when allow_zero. */
static int read_unit(ctx *cx, const cJSON *v, unit_kind kind, int allow_zero,
                     double *out)
{
    static const char *const nouns[] = {"a duration", "a bandwidth", "a rate"};
    static const char *const examples[] = {"\"1ms\"", "\"10Gbps\"", "\"1G\""};
    double d = NAN;
    if (cJSON_IsNumber(v)) {
        d = v->valuedouble;
    } else if (cJSON_IsString(v)) {
        int rc =
            kind == UNIT_DURATION    ? units_parse_duration(v->valuestring, &d)
            : kind == UNIT_BANDWIDTH ? units_parse_bandwidth(v->valuestring, &d)
                                     : units_parse_rate(v->valuestring, &d);
        if (rc != 0)
            d = NAN;
    }
    if (!isfinite(d) || d < 0 || (d == 0 && !allow_zero)) {
        char want[96];
        snprintf(want, sizeof want, "%s %s 0 (e.g. %s)", nouns[kind],
                 allow_zero ? ">=" : ">", examples[kind]);
        return expected(cx, want, v);
    }
    *out = d + 0.0;
    return 0;
}

static int field_unit(ctx *cx, const cJSON *o, const char *key, unit_kind kind,
                      int allow_zero, double *out)
{
    const cJSON *v = get(o, key);
    if (!v)
        return 0;
    size_t saved = path_push_key(cx, key);
    int rc = read_unit(cx, v, kind, allow_zero, out);
    path_pop(cx, saved);
    return rc;
}

/* Runs fn on the sub-object o[key] (NULL when absent) with the path
 * pointing at it. */
typedef int (*section_fn)(ctx *cx, const cJSON *o, cfg_experiment *e);

static int section(ctx *cx, const cJSON *parent, const char *key, section_fn fn,
                   cfg_experiment *e)
{
    size_t saved = path_push_key(cx, key);
    int rc = fn(cx, get(parent, key), e);
    path_pop(cx, saved);
    return rc;
}

/* ---- paths ---- */

/* p relative to the directory of source ("-" and bare file names anchor at
 * the working directory), made absolute and, when the file exists,
 * canonical. Absolute paths let the config stored with a run be run again
 * from any directory. */
static char *resolve_path(const char *source, const char *p)
{
    const char *slash = strrchr(source, '/');
    size_t dir_len = 0;
    if (p[0] != '/' && strcmp(source, "-") != 0 && slash)
        dir_len = slash == source ? 1 : (size_t)(slash - source);
    char cwd[4096] = "";
    if (p[0] != '/' && (dir_len == 0 || source[0] != '/') &&
        !getcwd(cwd, sizeof cwd))
        cwd[0] = '\0';
    size_t n = strlen(cwd) + 1 + dir_len + 1 + strlen(p) + 1;
    char *r = malloc(n);
    if (!r)
        return NULL;
    snprintf(r, n, "%s%s%.*s%s%s", cwd, cwd[0] ? "/" : "", (int)dir_len, source,
             dir_len ? "/" : "", p);
    char *canon = realpath(r, NULL);
    if (canon) {
        free(r);
        return canon;
    }
    return r;
}

/* ---- sections ---- */

static int parse_algorithm(ctx *cx, const cJSON *o, cfg_experiment *e,
                           const cfg_algorithm_spec *algs, size_t n_algs)
{
    if (!cJSON_IsObject(o))
        return expected(cx, "an object", o);
    /* Duplicates first: which keys are known depends on "name". */
    for (const cJSON *c = o->child; c; c = c->next) {
        for (const cJSON *p = o->child; p != c; p = p->next) {
            if (strcmp(p->string, c->string) == 0) {
                path_push_key(cx, c->string);
                return fail(cx, "duplicate key");
            }
        }
    }
    const cJSON *name = get(o, "name");
    if (!name)
        return missing(cx, "name");
    const cfg_algorithm_spec *spec = NULL;
    for (size_t i = 0; i < n_algs && !spec && cJSON_IsString(name); i++)
        if (strcmp(algs[i].name, name->valuestring) == 0)
            spec = &algs[i];
    if (!spec) {
        char want[400] = "one of ";
        for (size_t i = 0, len = strlen(want); i < n_algs && len < sizeof want;
             i++) {
            int w = snprintf(want + len, sizeof want - len, "%s\"%s\"",
                             i ? ", " : "", algs[i].name);
            len += w > 0 ? (size_t)w : 0;
        }
        path_push_key(cx, "name");
        return expected(cx, want, name);
    }
    if (spec->n_params > CFG_MAX_ALG_PARAMS)
        SIM_PANIC("algorithm '%s' has %zu parameters, at most %d fit",
                  spec->name, spec->n_params, CFG_MAX_ALG_PARAMS);
    e->algorithm.spec = spec;
    e->algorithm.name = strdup(spec->name);
    if (!e->algorithm.name)
        return fail_nomem(cx);

    const char *known[3 + CFG_MAX_ALG_PARAMS] = {"name", "rounds", "lr"};
    for (size_t i = 0; i < spec->n_params; i++)
        known[3 + i] = spec->params[i].name;
    char what[128];
    snprintf(what, sizeof what, "unknown key for algorithm '%s'", spec->name);
    TRY(check_object(cx, o, known, 3 + spec->n_params, what));

    TRY(field_long(cx, o, "rounds", at_least(1), &e->algorithm.rounds));
    TRY(field_double(cx, o, "lr", above(0), &e->algorithm.lr));
    for (size_t i = 0; i < spec->n_params; i++) {
        const cfg_param_spec *p = &spec->params[i];
        double *out = &e->algorithm.params[i];
        *out = p->def;
        const cJSON *v = get(o, p->name);
        if (!v)
            continue;
        size_t saved = path_push_key(cx, p->name);
        int rc = 0, k;
        switch (p->type) {
        case CFG_PARAM_NUMBER:
        case CFG_PARAM_INT:
            rc = read_number(
                cx, v, p->type == CFG_PARAM_INT ? "an integer" : "a number",
                p->type == CFG_PARAM_INT, closed(p->min, p->max), EXACT_INT_MAX,
                out);
            break;
        case CFG_PARAM_BOOL:
            if ((rc = read_bool(cx, v, &k)) == 0)
                *out = k;
            break;
        case CFG_PARAM_CHOICE:
            if ((rc = read_choice(cx, v, p->choices, &k)) == 0)
                *out = k;
            break;
        }
        path_pop(cx, saved);
        TRY(rc);
    }
    return 0;
}

/* Which keys a model type takes beyond "type" and "init". */
static const char *const *model_keys(const char *type)
{
    static const char *const logreg[] = {"type", "init", "sigmoid_eps", NULL};
    static const char *const softmax[] = {"type", "init", "n_classes",
                                          "l1",   "l2",   NULL};
    static const char *const mlp[] = {
        "type", "init", "n_classes", "hidden", "activation", "l1", "l2", NULL};
    return strcmp(type, "logreg") == 0    ? logreg
           : strcmp(type, "softmax") == 0 ? softmax
                                          : mlp;
}

static int parse_init(ctx *cx, const cJSON *o, cfg_experiment *e)
{
    static const char *const known[] = {"kind", "low", "high", NULL};
    static const char *const kinds[] = {"default", "uniform", "xavier", "he",
                                        NULL};
    static const char *const logreg_kinds[] = {"default", "uniform", NULL};
    int kind = CFG_INIT_DEFAULT;
    TRY(check_keys(cx, o, known));
    /* The fan-in rules need layers, which logreg (one weight vector with the
     * bias as a data column) has not. */
    TRY(field_choice(
        cx, o, "kind",
        strcmp(e->model.type, "logreg") == 0 ? logreg_kinds : kinds, &kind));
    e->model.init = (cfg_init_kind)kind;
    if (kind == CFG_INIT_XAVIER || kind == CFG_INIT_HE) {
        const char *bound = get(o, "low") ? "low" : get(o, "high") ? "high" : 0;
        if (bound) {
            path_push_key(cx, bound);
            return fail(cx,
                        "only a uniform init takes a range (kind is "
                        "\"%s\")",
                        kinds[kind]);
        }
        return 0;
    }
    TRY(field_double(cx, o, "low", ANY, &e->model.init_low));
    TRY(field_double(cx, o, "high", ANY, &e->model.init_high));
    if (!(e->model.init_low < e->model.init_high)) {
        /* Blame whichever bound the file gave, high first. */
        const cJSON *high = get(o, "high");
        char want[64], other[32];
        fmt_exact(high ? e->model.init_low : e->model.init_high, other,
                  sizeof other);
        snprintf(want, sizeof want,
                 high ? "a number > low (%s)" : "a number < high (%s)", other);
        path_push_key(cx, high ? "high" : "low");
        return expected(cx, want, high ? high : get(o, "low"));
    }
    return 0;
}

static int parse_hidden(ctx *cx, const cJSON *v, cfg_experiment *e)
{
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (n < 1 || n > CFG_MAX_HIDDEN) {
        char want[96];
        snprintf(want, sizeof want,
                 "an array of 1 to %d layer widths (e.g. [128, 64])",
                 CFG_MAX_HIDDEN);
        return expected(cx, want, v);
    }
    size_t i = 0;
    for (const cJSON *c = v->child; c; c = c->next, i++) {
        size_t saved = path_push_index(cx, i);
        double d;
        int rc = read_number(cx, c, "an integer", 1, closed(1, 1 << 20),
                             EXACT_INT_MAX, &d);
        path_pop(cx, saved);
        TRY(rc);
        e->model.hidden[i] = (long)d;
    }
    e->model.n_hidden = i;
    return 0;
}

static int parse_model(ctx *cx, const cJSON *o, cfg_experiment *e)
{
    static const char *const types[] = {"logreg", "softmax", "mlp", NULL};
    static const char *const acts[] = {"relu", "tanh", NULL};
    int type = 0;
    if (o && !cJSON_IsObject(o))
        return expected(cx, "an object", o);
    /* The type decides which keys are known, so it is read first. */
    TRY(field_choice(cx, o, "type", types, &type));
    e->model.type = strdup(types[type]);
    if (!e->model.type)
        return fail_nomem(cx);
    const char *const *known = model_keys(e->model.type);
    char what[64];
    snprintf(what, sizeof what, "unknown key for model '%s'", types[type]);
    TRY(check_object(cx, o, known, count_names(known), what));
    TRY(section(cx, o, "init", parse_init, e));
    TRY(field_double(cx, o, "sigmoid_eps", (range){0, 1, 0, 1},
                     &e->model.sigmoid_eps));
    TRY(field_long(cx, o, "n_classes", closed(2, 1 << 20),
                   &e->model.n_classes));
    const cJSON *hidden = get(o, "hidden");
    if (hidden) {
        size_t saved = path_push_key(cx, "hidden");
        int rc = parse_hidden(cx, hidden, e);
        path_pop(cx, saved);
        TRY(rc);
    }
    if (strcmp(e->model.type, "mlp") == 0 && e->model.n_hidden == 0) {
        e->model.n_hidden = 1;
        e->model.hidden[0] = 128; /* MDL_DEFAULT_HIDDEN */
    }
    TRY(field_choice(cx, o, "activation", acts, &e->model.activation));
    TRY(field_double(cx, o, "l1", at_least(0), &e->model.l1));
    TRY(field_double(cx, o, "l2", at_least(0), &e->model.l2));
    return 0;
}

static int parse_split(ctx *cx, const cJSON *o, cfg_experiment *e)
{
    static const char *const known[] = {"test_fraction", "file", NULL};
    TRY(check_keys(cx, o, known));
    if (!o)
        return 0;
    int which = 0;
    TRY(one_of(cx, o, "test_fraction", "file", &which));
    if (which == 0) {
        e->data.split = CFG_SPLIT_FRACTION;
        return field_double(cx, o, "test_fraction", (range){0, 1, 1, 1},
                            &e->data.test_fraction);
    }
    e->data.split = CFG_SPLIT_FILE;
    TRY(field_string(cx, o, "file", &e->data.split_file));
    e->data.split_resolved_path =
        resolve_path(e->source_path, e->data.split_file);
    return e->data.split_resolved_path ? 0 : fail_nomem(cx);
}

/* A data file key: read and resolved against the config's directory. */
static int field_path(ctx *cx, const cJSON *o, const char *key,
                      const cfg_experiment *e, char **as_written,
                      char **resolved)
{
    TRY(field_string(cx, o, key, as_written));
    if (!*as_written)
        return 0;
    free(*resolved);
    *resolved = resolve_path(e->source_path, *as_written);
    return *resolved ? 0 : fail_nomem(cx);
}

static int parse_partition(ctx *cx, const cJSON *o, cfg_experiment *e)
{
    static const char *const kinds[] = {"contiguous", "iid", "shards",
                                        "dirichlet", NULL};
    static const char *const known[] = {"kind", "alpha", "shards", "min_rows",
                                        NULL};
    int kind = 0;
    if (!o)
        return 0;
    /* A bare name is short for {"kind": name} with default options. */
    if (cJSON_IsString(o)) {
        TRY(read_choice(cx, o, kinds, &kind));
        e->data.partition = (cfg_partition)kind;
        return 0;
    }
    if (!cJSON_IsObject(o))
        return expected(cx, "a partition name or an object with \"kind\"", o);
    TRY(check_keys(cx, o, known));
    if (!get(o, "kind"))
        return missing(cx, "kind");
    TRY(field_choice(cx, o, "kind", kinds, &kind));
    e->data.partition = (cfg_partition)kind;
    const char *own = kind == CFG_PARTITION_SHARDS      ? "shards"
                      : kind == CFG_PARTITION_DIRICHLET ? "alpha"
                                                        : NULL;
    for (size_t i = 1; known[i]; i++) {
        int takes = (own && strcmp(known[i], own) == 0) ||
                    (kind == CFG_PARTITION_DIRICHLET &&
                     strcmp(known[i], "min_rows") == 0);
        if (get(o, known[i]) && !takes) {
            path_push_key(cx, known[i]);
            return fail(cx, "not an option of a \"%s\" partition", kinds[kind]);
        }
    }
    TRY(field_double(cx, o, "alpha", above(0), &e->data.alpha));
    TRY(field_long(cx, o, "shards", closed(1, 1 << 20), &e->data.shards));
    TRY(field_long(cx, o, "min_rows", closed(0, 1e9), &e->data.min_rows));
    return 0;
}

/* Keys of each format beyond the common ones, in cfg_data_format order. */
static const char *const format_keys[][7] = {
    {"path", "header", "label_column", NULL},
    {"path", "n_features", "zero_based", NULL},
    {"images", "labels", "test_images", "test_labels", NULL},
    {"kind", "n", "d", "classes", "separation", "noise", NULL},
};

static int parse_synthetic(ctx *cx, const cJSON *o, cfg_experiment *e)
{
    static const char *const kinds[] = {"clusters", "linear", "logistic", NULL};
    int kind = 0;
    TRY(field_choice(cx, o, "kind", kinds, &kind));
    e->data.synth.kind = (cfg_synth_kind)kind;
    const char *wrong = kind == CFG_SYNTH_CLUSTERS
                            ? (get(o, "noise") ? "noise" : NULL)
                        : get(o, "classes")    ? "classes"
                        : get(o, "separation") ? "separation"
                                               : NULL;
    if (wrong) {
        path_push_key(cx, wrong);
        return fail(cx, "not an option of synthetic kind \"%s\"", kinds[kind]);
    }
    if (!get(o, "n"))
        return missing(cx, "n");
    if (!get(o, "d"))
        return missing(cx, "d");
    TRY(field_long(cx, o, "n", closed(2, 1e9), &e->data.synth.n));
    TRY(field_long(cx, o, "d", closed(1, 1e6), &e->data.synth.d));
    TRY(field_long(cx, o, "classes", closed(2, 1 << 20),
                   &e->data.synth.classes));
    TRY(field_double(cx, o, "separation", at_least(0),
                     &e->data.synth.separation));
    TRY(field_double(cx, o, "noise", at_least(0), &e->data.synth.noise));
    return 0;
}

static int parse_data(ctx *cx, const cJSON *o, cfg_experiment *e)
{
    static const char *const formats[] = {"csv", "libsvm", "idx", "synthetic",
                                          NULL};
    static const char *const common[] = {"format",      "split", "scale",
                                         "standardize", "bias",  "partition"};
    static const char *const scales[] = {"none", "standardize", "minmax", NULL};
    int format = 0, scale = 0;
    if (!cJSON_IsObject(o))
        return expected(cx, "an object", o);
    /* The format decides which keys are known, so it is read first. */
    TRY(field_choice(cx, o, "format", formats, &format));
    e->data.format = (cfg_data_format)format;
    const char *known[16];
    size_t n = 0;
    for (size_t i = 0; i < sizeof common / sizeof *common; i++)
        known[n++] = common[i];
    for (size_t i = 0; format_keys[format][i]; i++)
        known[n++] = format_keys[format][i];
    char what[64];
    snprintf(what, sizeof what, "unknown key for data format '%s'",
             formats[format]);
    TRY(check_object(cx, o, known, n, what));

    switch (e->data.format) {
    case CFG_FORMAT_CSV:
    case CFG_FORMAT_LIBSVM:
        if (!get(o, "path"))
            return missing(cx, "path");
        TRY(field_path(cx, o, "path", e, &e->data.path,
                       &e->data.resolved_path));
        TRY(field_bool(cx, o, "header", &e->data.header));
        TRY(field_int(cx, o, "label_column", at_least(-1),
                      &e->data.label_column));
        TRY(field_long(cx, o, "n_features", closed(0, 1e7),
                       &e->data.n_features));
        TRY(field_bool(cx, o, "zero_based", &e->data.zero_based));
        break;
    case CFG_FORMAT_IDX:
        if (!get(o, "images"))
            return missing(cx, "images");
        if (!get(o, "labels"))
            return missing(cx, "labels");
        TRY(field_path(cx, o, "images", e, &e->data.images,
                       &e->data.images_resolved));
        TRY(field_path(cx, o, "labels", e, &e->data.labels,
                       &e->data.labels_resolved));
        if (!get(o, "test_images") != !get(o, "test_labels"))
            return missing(cx, get(o, "test_images") ? "test_labels"
                                                     : "test_images");
        TRY(field_path(cx, o, "test_images", e, &e->data.test_images,
                       &e->data.test_images_resolved));
        TRY(field_path(cx, o, "test_labels", e, &e->data.test_labels,
                       &e->data.test_labels_resolved));
        e->data.has_test_set = e->data.test_images != NULL;
        if (e->data.has_test_set && get(o, "split")) {
            path_push_key(cx, "split");
            return fail(cx, "the IDX test set (test_images, test_labels) "
                            "replaces the split: give one or the other");
        }
        break;
    case CFG_FORMAT_SYNTHETIC:
        TRY(parse_synthetic(cx, o, e));
        break;
    }
    TRY(section(cx, o, "split", parse_split, e));
    if (get(o, "scale") && get(o, "standardize")) {
        path_push_key(cx, "standardize");
        return fail(cx, "give \"scale\" or the older \"standardize\", not "
                        "both");
    }
    TRY(field_choice(cx, o, "scale", scales, &scale));
    if (get(o, "scale"))
        e->data.scale = (cfg_scale)scale;
    TRY(field_bool(cx, o, "standardize", &e->data.standardize));
    if (get(o, "standardize"))
        e->data.scale =
            e->data.standardize ? CFG_SCALE_STANDARDIZE : CFG_SCALE_NONE;
    e->data.standardize = e->data.scale == CFG_SCALE_STANDARDIZE;
    TRY(field_bool(cx, o, "bias", &e->data.bias));
    size_t saved = path_push_key(cx, "partition");
    int rc = parse_partition(cx, get(o, "partition"), e);
    path_pop(cx, saved);
    return rc;
}

static int parse_batch(ctx *cx, const cJSON *o, cfg_experiment *e)
{
    static const char *const known[] = {"fraction", "size", NULL};
    TRY(check_keys(cx, o, known));
    if (!o)
        return 0;
    int which = 0;
    TRY(one_of(cx, o, "fraction", "size", &which));
    if (which == 0) {
        e->batch.kind = CFG_BATCH_FRACTION;
        return field_double(cx, o, "fraction", (range){0, 1, 1, 0},
                            &e->batch.fraction);
    }
    e->batch.kind = CFG_BATCH_SIZE;
    e->batch.fraction = 0;
    return field_long(cx, o, "size", at_least(1), &e->batch.size);
}

static int parse_compute(ctx *cx, const cJSON *o, cfg_experiment *e)
{
    static const char *const known[] = {"seconds_per_sample",
                                        "flops_per_second", NULL};
    TRY(check_keys(cx, o, known));
    if (!o)
        return 0;
    int which = 0;
    TRY(one_of(cx, o, "seconds_per_sample", "flops_per_second", &which));
    if (which == 0) {
        e->cluster.compute = CFG_COMPUTE_SECONDS_PER_SAMPLE;
        return field_unit(cx, o, "seconds_per_sample", UNIT_DURATION, 0,
                          &e->cluster.seconds_per_sample);
    }
    e->cluster.compute = CFG_COMPUTE_FLOPS;
    e->cluster.seconds_per_sample = 0;
    return field_unit(cx, o, "flops_per_second", UNIT_RATE, 0,
                      &e->cluster.flops_per_second);
}

static int parse_speed(ctx *cx, const cJSON *v, cfg_experiment *e)
{
    if (!v)
        return 0;
    int n = e->cluster.workers;
    char want[96];
    snprintf(want, sizeof want, "an array of %d numbers > 0 (one per worker)",
             n);
    if (!cJSON_IsArray(v))
        return expected(cx, want, v);
    int got = cJSON_GetArraySize(v);
    if (got != n)
        return fail(cx, "expected %s, got an array of %d", want, got);
    size_t i = 0;
    for (const cJSON *c = v->child; c; c = c->next, i++) {
        size_t saved = path_push_index(cx, i);
        int rc = read_number(cx, c, "a number", 0, above(0), 0,
                             &e->cluster.speed[i]);
        path_pop(cx, saved);
        TRY(rc);
    }
    return 0;
}

/* A worker index within a list entry; checks range and repetition. seen
 * holds, per worker, 1 + the entry that named it (0: none yet). */
static int entry_worker(ctx *cx, const cJSON *entry, int workers, size_t i,
                        size_t *seen, int *out)
{
    const cJSON *v = get(entry, "worker");
    if (!v)
        return missing(cx, "worker");
    size_t saved = path_push_key(cx, "worker");
    double d;
    int rc = read_number(cx, v, "a worker index", 1, closed(0, workers - 1),
                         INT_MAX, &d);
    if (rc == 0 && seen[(int)d]) {
        rc = fail(cx, "worker %d listed twice (also in entry %zu)", (int)d,
                  seen[(int)d] - 1);
    }
    if (rc == 0) {
        seen[(int)d] = i + 1;
        *out = (int)d;
    }
    path_pop(cx, saved);
    return rc;
}

/* Runs one entry of a list of objects through fn, with the path on it. */
typedef int (*entry_fn)(ctx *cx, const cJSON *entry, size_t i, size_t *seen,
                        cfg_experiment *e);

static int parse_list(ctx *cx, const cJSON *parent, const char *key,
                      entry_fn fn, cfg_experiment *e)
{
    const cJSON *v = get(parent, key);
    if (!v)
        return 0;
    size_t saved = path_push_key(cx, key);
    int rc = 0;
    if (!cJSON_IsArray(v)) {
        rc = expected(cx, "an array of objects", v);
    } else {
        size_t *seen = calloc((size_t)e->cluster.workers, sizeof *seen);
        if (!seen)
            rc = fail_nomem(cx);
        size_t i = 0;
        for (const cJSON *c = v->child; c && rc == 0; c = c->next, i++) {
            size_t at = path_push_index(cx, i);
            rc = fn(cx, c, i, seen, e);
            path_pop(cx, at);
        }
        free(seen);
    }
    path_pop(cx, saved);
    return rc;
}

static int slowdown_entry(ctx *cx, const cJSON *o, size_t i, size_t *seen,
                          cfg_experiment *e)
{
    static const char *const known[] = {"worker", "factor", NULL};
    int w;
    double factor = 1;
    if (!cJSON_IsObject(o))
        return expected(cx, "an object", o);
    TRY(check_keys(cx, o, known));
    TRY(entry_worker(cx, o, e->cluster.workers, i, seen, &w));
    if (!get(o, "factor"))
        return missing(cx, "factor");
    TRY(field_double(cx, o, "factor", at_least(1), &factor));
    e->cluster.slowdown[w] = factor;
    return 0;
}

static const char *const delay_names[] = {
    "none", "exponential", "lognormal", "pareto", "gamma", "mixture", NULL};

/* Which keys each distribution takes besides "distribution"; any other is
 * an error, so a misplaced parameter is never silently ignored. */
static const char *const delay_keys[][4] = {
    [CFG_DELAY_NONE] = {NULL},
    [CFG_DELAY_EXPONENTIAL] = {"mean", NULL},
    [CFG_DELAY_LOGNORMAL] = {"mean", "sd", NULL},
    [CFG_DELAY_PARETO] = {"mean", "shape", NULL},
    [CFG_DELAY_GAMMA] = {"mean", "sd", NULL},
    [CFG_DELAY_MIXTURE] = {"p", "short", "long", NULL},
};

static int delay_takes(int dist, const char *key)
{
    for (size_t i = 0; delay_keys[dist][i]; i++)
        if (strcmp(delay_keys[dist][i], key) == 0)
            return 1;
    return 0;
}

static int parse_delay(ctx *cx, const cJSON *o, cfg_experiment *e)
{
    static const char *const known[] = {
        "distribution", "mean", "sd", "shape", "p", "short", "long", NULL};
    int dist = 0;
    TRY(check_keys(cx, o, known));
    if (!o)
        return 0;
    if (!get(o, "distribution"))
        return missing(cx, "distribution");
    TRY(field_choice(cx, o, "distribution", delay_names, &dist));
    e->cluster.delay = (cfg_delay_dist)dist;
    for (const cJSON *c = o->child; c; c = c->next) {
        if (strcmp(c->string, "distribution") == 0 ||
            delay_takes(dist, c->string))
            continue;
        path_push_key(cx, c->string);
        return fail(cx, "not used with distribution \"%s\"", delay_names[dist]);
    }
    for (size_t i = 0; delay_keys[dist][i]; i++) {
        const char *k = delay_keys[dist][i];
        if (!get(o, k) && strcmp(k, "short") != 0)
            return fail(cx, "missing required key \"%s\" (for \"%s\")", k,
                        delay_names[dist]);
    }
    TRY(field_unit(cx, o, "mean", UNIT_DURATION, 0, &e->cluster.delay_mean_s));
    TRY(field_unit(cx, o, "sd", UNIT_DURATION, 0, &e->cluster.delay_sd_s));
    TRY(field_double(cx, o, "shape", above(1), &e->cluster.delay_shape));
    TRY(field_double(cx, o, "p", closed(0, 1), &e->cluster.delay_p));
    TRY(field_unit(cx, o, "short", UNIT_DURATION, 1,
                   &e->cluster.delay_short_s));
    TRY(field_unit(cx, o, "long", UNIT_DURATION, 0, &e->cluster.delay_long_s));
    if (dist == CFG_DELAY_MIXTURE &&
        !(e->cluster.delay_short_s < e->cluster.delay_long_s)) {
        char want[64], other[32];
        fmt_exact(e->cluster.delay_short_s, other, sizeof other);
        snprintf(want, sizeof want, "a duration > short (%s s)", other);
        path_push_key(cx, "long");
        return expected(cx, want, get(o, "long"));
    }
    return 0;
}

static int parse_slow_periods(ctx *cx, const cJSON *o, cfg_experiment *e)
{
    static const char *const known[] = {"factor", "mean_slow", "mean_normal",
                                        NULL};
    TRY(check_keys(cx, o, known));
    if (!o)
        return 0;
    for (size_t i = 0; known[i]; i++)
        if (!get(o, known[i]))
            return missing(cx, known[i]);
    TRY(field_double(cx, o, "factor", at_least(1),
                     &e->cluster.slow_periods.factor));
    TRY(field_unit(cx, o, "mean_slow", UNIT_DURATION, 0,
                   &e->cluster.slow_periods.mean_slow_s));
    TRY(field_unit(cx, o, "mean_normal", UNIT_DURATION, 0,
                   &e->cluster.slow_periods.mean_normal_s));
    return 0;
}

static int crash_entry(ctx *cx, const cJSON *o, size_t i, size_t *seen,
                       cfg_experiment *e)
{
    static const char *const known[] = {"worker", "at", "rate", "recover_after",
                                        NULL};
    cfg_crash *c = &e->cluster.crashes[i];
    int which = 0;
    if (!cJSON_IsObject(o))
        return expected(cx, "an object", o);
    TRY(check_keys(cx, o, known));
    TRY(entry_worker(cx, o, e->cluster.workers, i, seen, &c->worker));
    TRY(one_of(cx, o, "at", "rate", &which));
    c->at_s = -1;
    c->rate = 0;
    c->recover_after_s = -1;
    if (which == 0)
        TRY(field_unit(cx, o, "at", UNIT_DURATION, 1, &c->at_s));
    else
        TRY(field_double(cx, o, "rate", above(0), &c->rate));
    TRY(field_unit(cx, o, "recover_after", UNIT_DURATION, 1,
                   &c->recover_after_s));
    e->cluster.n_crashes = i + 1;
    return 0;
}

static int parse_cluster(ctx *cx, const cJSON *o, cfg_experiment *e)
{
    static const char *const known[] = {"workers",  "compute",  "speed",
                                        "slowdown", "delay",    "slow_periods",
                                        "crash",    "on_crash", "drop_timeout",
                                        "trace",    NULL};
    static const char *const policies[] = {"wait", "drop", NULL};
    TRY(check_keys(cx, o, known));
    TRY(field_int(cx, o, "workers", closed(1, 100000), &e->cluster.workers));
    TRY(section(cx, o, "compute", parse_compute, e));

    size_t n = (size_t)e->cluster.workers;
    e->cluster.speed = malloc(n * sizeof *e->cluster.speed);
    e->cluster.slowdown = malloc(n * sizeof *e->cluster.slowdown);
    if (!e->cluster.speed || !e->cluster.slowdown)
        return fail_nomem(cx);
    for (size_t i = 0; i < n; i++)
        e->cluster.speed[i] = e->cluster.slowdown[i] = 1.0;

    size_t saved = path_push_key(cx, "speed");
    int rc = parse_speed(cx, get(o, "speed"), e);
    path_pop(cx, saved);
    TRY(rc);
    TRY(parse_list(cx, o, "slowdown", slowdown_entry, e));
    TRY(section(cx, o, "delay", parse_delay, e));
    TRY(section(cx, o, "slow_periods", parse_slow_periods, e));

    const cJSON *crash = get(o, "crash");
    if (cJSON_IsArray(crash) && cJSON_GetArraySize(crash) > 0) {
        e->cluster.crashes = calloc((size_t)cJSON_GetArraySize(crash),
                                    sizeof *e->cluster.crashes);
        if (!e->cluster.crashes)
            return fail_nomem(cx);
    }
    TRY(parse_list(cx, o, "crash", crash_entry, e));

    int policy = 0;
    TRY(field_choice(cx, o, "on_crash", policies, &policy));
    e->cluster.on_crash = (cfg_on_crash)policy;
    if (get(o, "drop_timeout") && policy != CFG_ON_CRASH_DROP) {
        path_push_key(cx, "drop_timeout");
        return fail(cx, "only used with \"on_crash\": \"drop\"");
    }
    TRY(field_unit(cx, o, "drop_timeout", UNIT_DURATION, 1,
                   &e->cluster.drop_timeout_s));

    TRY(field_string(cx, o, "trace", &e->cluster.trace));
    if (e->cluster.trace) {
        e->cluster.trace_resolved_path =
            resolve_path(e->source_path, e->cluster.trace);
        if (!e->cluster.trace_resolved_path)
            return fail_nomem(cx);
    }
    return 0;
}

/* A link object ({"latency", "bandwidth"}, each optional) over *link. */
static int link_fields(ctx *cx, const cJSON *o, cfg_link *link)
{
    TRY(field_unit(cx, o, "latency", UNIT_DURATION, 1, &link->latency_s));
    TRY(field_unit(cx, o, "bandwidth", UNIT_BANDWIDTH, 0,
                   &link->bandwidth_Bps));
    return 0;
}

static int parse_server(ctx *cx, const cJSON *o, cfg_experiment *e)
{
    static const char *const known[] = {"latency", "bandwidth", NULL};
    TRY(check_keys(cx, o, known));
    return link_fields(cx, o, &e->network.server);
}

static int worker_link_entry(ctx *cx, const cJSON *o, size_t i, size_t *seen,
                             cfg_experiment *e)
{
    static const char *const known[] = {"worker", "latency", "bandwidth", NULL};
    int w;
    if (!cJSON_IsObject(o))
        return expected(cx, "an object", o);
    TRY(check_keys(cx, o, known));
    TRY(entry_worker(cx, o, e->cluster.workers, i, seen, &w));
    return link_fields(cx, o, &e->network.workers[w]);
}

const char *const cfg_collective_names[] = {"ps", "ring", "tree", "hier", NULL};

cfg_collective cfg_algorithm_collective(const cfg_experiment *e)
{
    const cfg_algorithm_spec *spec = e->algorithm.spec;
    for (size_t i = 0; spec && i < spec->n_params; i++)
        if (strcmp(spec->params[i].name, "collective") == 0)
            return (cfg_collective)(int)e->algorithm.params[i];
    return CFG_COLLECTIVE_PS;
}

int cfg_network_hosts(const cfg_experiment *e)
{
    int serverless = e->algorithm.spec && e->algorithm.spec->serverless;
    return e->cluster.workers +
           (!serverless && cfg_algorithm_collective(e) == CFG_COLLECTIVE_PS
                ? e->network.servers
                : 0);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Adds v to the set of neighbours (no repeats); returns the new count. */
static int add_neighbour(int *out, int cap, int n, int v)
{
    for (int i = 0; i < n && i < cap; i++)
        if (out[i] == v)
            return n;
    if (n < cap)
        out[n] = v;
    return n + 1;
}

int cfg_network_neighbours(const cfg_experiment *e, int w, int *out, int cap)
{
    int K = e->cluster.workers, hosts = cfg_network_hosts(e), n = 0;
    if (w < 0 || w >= K)
        return -1;
    switch (e->network.topology) {
    case CFG_TOPOLOGY_RING:
        if ((w + 1) % hosts < K)
            n = add_neighbour(out, cap, n, (w + 1) % hosts);
        if ((w + hosts - 1) % hosts < K)
            n = add_neighbour(out, cap, n, (w + hosts - 1) % hosts);
        break;
    case CFG_TOPOLOGY_TREE:
        if (w > 0)
            n = add_neighbour(out, cap, n, (w - 1) / e->network.arity);
        for (long c = (long)w * e->network.arity + 1;
             c <= (long)w * e->network.arity + e->network.arity && c < K; c++)
            n = add_neighbour(out, cap, n, (int)c);
        break;
    case CFG_TOPOLOGY_FULL:
        for (int v = 0; v < K; v++)
            if (v != w)
                n = add_neighbour(out, cap, n, v);
        break;
    case CFG_TOPOLOGY_GRAPH:
        for (size_t i = 0; i < e->network.n_cables; i++) {
            const cfg_cable *c = &e->network.cables[i];
            if (c->a == w && c->b < K)
                n = add_neighbour(out, cap, n, c->b);
            else if (c->b == w && c->a < K)
                n = add_neighbour(out, cap, n, c->a);
        }
        break;
    default: /* star, hier: hosts meet only at switches */
        break;
    }
    qsort(out, (size_t)(n < cap ? n : cap), sizeof *out, cmp_int);
    return n;
}

int cfg_network_links(const cfg_experiment *e)
{
    int n = cfg_network_hosts(e);
    switch (e->network.topology) {
    case CFG_TOPOLOGY_STAR:
        return 2 * n;
    case CFG_TOPOLOGY_RING:
        return n == 2 ? 2 : 2 * n;
    case CFG_TOPOLOGY_TREE:
        return 2 * (n - 1);
    case CFG_TOPOLOGY_FULL:
        return n * (n - 1);
    case CFG_TOPOLOGY_HIER:
        return 2 * (e->network.racks * e->network.hosts_per_rack +
                    e->network.racks);
    case CFG_TOPOLOGY_GRAPH:
        return 2 * (int)e->network.n_cables;
    }
    return 0;
}

static const char *const topology_names[] = {"star", "ring",  "tree", "full",
                                             "hier", "graph", NULL};

/* Which keys each topology takes besides the shared ones; any other is an
 * error, so a misplaced key is never silently ignored. */
static const char *const topology_keys[][4] = {
    [CFG_TOPOLOGY_STAR] = {"server", "workers", NULL},
    [CFG_TOPOLOGY_RING] = {NULL},
    [CFG_TOPOLOGY_TREE] = {"arity", NULL},
    [CFG_TOPOLOGY_FULL] = {NULL},
    [CFG_TOPOLOGY_HIER] = {"racks", "hosts_per_rack", "wan", NULL},
    [CFG_TOPOLOGY_GRAPH] = {"nodes", "cables", NULL},
};

static int topology_takes(int topo, const char *key)
{
    for (size_t i = 0; topology_keys[topo][i]; i++)
        if (strcmp(topology_keys[topo][i], key) == 0)
            return 1;
    return 0;
}

static int parse_wan(ctx *cx, const cJSON *o, cfg_experiment *e)
{
    static const char *const known[] = {"latency", "bandwidth", NULL};
    TRY(check_keys(cx, o, known));
    return link_fields(cx, o, &e->network.wan);
}

static int cable_entry(ctx *cx, const cJSON *o, size_t i, size_t *seen,
                       cfg_experiment *e)
{
    static const char *const known[] = {
        "a", "b", "latency", "bandwidth", "reverse_bandwidth", NULL};
    (void)seen;
    cfg_cable *c = &e->network.cables[i];
    cfg_link l = e->network.link;
    if (!cJSON_IsObject(o))
        return expected(cx, "an object", o);
    TRY(check_keys(cx, o, known));
    if (!get(o, "a"))
        return missing(cx, "a");
    if (!get(o, "b"))
        return missing(cx, "b");
    range nodes = closed(0, e->network.graph_nodes - 1);
    TRY(field_int(cx, o, "a", nodes, &c->a));
    TRY(field_int(cx, o, "b", nodes, &c->b));
    if (c->a == c->b) {
        path_push_key(cx, "b");
        return fail(cx, "a cable from node %d to itself", c->a);
    }
    TRY(link_fields(cx, o, &l));
    c->latency_s = l.latency_s;
    c->bandwidth_Bps = l.bandwidth_Bps;
    c->bandwidth_rev_Bps = 0;
    TRY(field_unit(cx, o, "reverse_bandwidth", UNIT_BANDWIDTH, 0,
                   &c->bandwidth_rev_Bps));
    e->network.n_cables = i + 1;
    return 0;
}

static int link_event_entry(ctx *cx, const cJSON *o, size_t i, size_t *seen,
                            cfg_experiment *e)
{
    static const char *const known[] = {"at",      "link", "bandwidth",
                                        "latency", "up",   NULL};
    (void)seen;
    cfg_link_event *ev = &e->network.events[i];
    e->network.n_events = i + 1;
    if (!cJSON_IsObject(o))
        return expected(cx, "an object", o);
    TRY(check_keys(cx, o, known));
    if (!get(o, "at"))
        return missing(cx, "at");
    if (!get(o, "link"))
        return missing(cx, "link");
    TRY(field_unit(cx, o, "at", UNIT_DURATION, 1, &ev->at_s));
    TRY(field_int(cx, o, "link", closed(0, cfg_network_links(e) - 1),
                  &ev->link));
    int n = !!get(o, "bandwidth") + !!get(o, "latency") + !!get(o, "up");
    if (n != 1)
        return fail(cx,
                    "expected exactly one of \"bandwidth\", \"latency\" or "
                    "\"up\", got %d",
                    n);
    if (get(o, "bandwidth")) {
        ev->what = CFG_LINK_BANDWIDTH;
        return field_unit(cx, o, "bandwidth", UNIT_BANDWIDTH, 0, &ev->value);
    }
    if (get(o, "latency")) {
        ev->what = CFG_LINK_LATENCY;
        return field_unit(cx, o, "latency", UNIT_DURATION, 1, &ev->value);
    }
    int up = 0;
    ev->what = CFG_LINK_UP;
    TRY(field_bool(cx, o, "up", &up));
    ev->value = up;
    return 0;
}

/* Allocates room for the entries of list o[key] (none when absent). */
static int alloc_list(ctx *cx, const cJSON *o, const char *key, size_t size,
                      void **out)
{
    const cJSON *v = get(o, key);
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0 &&
        !(*out = calloc((size_t)cJSON_GetArraySize(v), size)))
        return fail_nomem(cx);
    return 0;
}

/* The parts of $.network beyond the star: the topology's own keys, and a
 * network with enough hosts for the workers (and the server). */
static int parse_topology(ctx *cx, const cJSON *o, cfg_experiment *e)
{
    int topo = (int)e->network.topology;
    for (const cJSON *c = o ? o->child : NULL; c; c = c->next) {
        int foreign = 0;
        for (int t = 0;
             t < (int)(sizeof topology_keys / sizeof topology_keys[0]) &&
             !foreign;
             t++)
            foreign = t != topo && topology_takes(t, c->string) &&
                      !topology_takes(topo, c->string);
        if (foreign) {
            path_push_key(cx, c->string);
            return fail(cx, "not used with topology \"%s\"",
                        topology_names[topo]);
        }
    }
    if (cfg_algorithm_collective(e) == CFG_COLLECTIVE_HIER &&
        e->network.topology != CFG_TOPOLOGY_HIER) {
        /* The racks that group the members come from the topology. */
        path_reset(cx);
        path_push_key(cx, "algorithm");
        path_push_key(cx, "collective");
        return fail(cx,
                    "\"hier\" needs $.network.topology \"hier\" (its "
                    "racks are the groups), got \"%s\"",
                    topology_names[topo]);
    }
    int hosts = cfg_network_hosts(e);
    const char *need = cfg_algorithm_collective(e) == CFG_COLLECTIVE_PS
                           ? "the workers and the server"
                           : "the workers";
    switch (e->network.topology) {
    case CFG_TOPOLOGY_TREE:
        TRY(field_int(cx, o, "arity", closed(1, 1000), &e->network.arity));
        break;
    case CFG_TOPOLOGY_HIER:
        if (!get(o, "racks"))
            return missing(cx, "racks");
        TRY(field_int(cx, o, "racks", closed(1, 100000), &e->network.racks));
        e->network.hosts_per_rack =
            (hosts + e->network.racks - 1) / e->network.racks;
        TRY(field_int(cx, o, "hosts_per_rack", closed(1, 100000),
                      &e->network.hosts_per_rack));
        if ((long)e->network.racks * e->network.hosts_per_rack < hosts) {
            path_push_key(cx, "hosts_per_rack");
            return fail(cx, "%d racks of %d hosts cannot hold %s (%d hosts)",
                        e->network.racks, e->network.hosts_per_rack, need,
                        hosts);
        }
        e->network.wan = (cfg_link){5e-3, 1.25e8};
        TRY(section(cx, o, "wan", parse_wan, e));
        break;
    case CFG_TOPOLOGY_GRAPH:
        if (!get(o, "nodes"))
            return missing(cx, "nodes");
        if (!get(o, "cables"))
            return missing(cx, "cables");
        TRY(field_int(cx, o, "nodes", closed(2, 1000000),
                      &e->network.graph_nodes));
        if (e->network.graph_nodes < hosts) {
            path_push_key(cx, "nodes");
            return fail(cx, "%d nodes cannot hold %s (%d hosts)",
                        e->network.graph_nodes, need, hosts);
        }
        TRY(alloc_list(cx, o, "cables", sizeof *e->network.cables,
                       (void **)&e->network.cables));
        TRY(parse_list(cx, o, "cables", cable_entry, e));
        if (e->network.n_cables == 0) {
            path_push_key(cx, "cables");
            return expected(cx, "a non-empty array of cables",
                            get(o, "cables"));
        }
        break;
    default:
        break;
    }
    if (hosts < 2 && e->network.topology != CFG_TOPOLOGY_STAR) {
        path_push_key(cx, "topology");
        return fail(cx, "topology \"%s\" needs at least 2 hosts, got %d",
                    topology_names[topo], hosts);
    }
    TRY(alloc_list(cx, o, "events", sizeof *e->network.events,
                   (void **)&e->network.events));
    return parse_list(cx, o, "events", link_event_entry, e);
}

static const char *const codec_names[] = {"none",  "fp16", "topk",
                                          "randk", "qsgd", NULL};

/* Which keys each codec takes besides "codec". */
static const char *const codec_keys[][3] = {
    [CFG_CODEC_NONE] = {NULL},
    [CFG_CODEC_FP16] = {NULL},
    [CFG_CODEC_TOPK] = {"k", "fraction", NULL},
    [CFG_CODEC_RANDK] = {"k", "fraction", NULL},
    [CFG_CODEC_QSGD] = {"levels", NULL},
};

static int parse_compression(ctx *cx, const cJSON *o, cfg_experiment *e)
{
    static const char *const known[] = {"codec",  "k",         "fraction",
                                        "levels", "direction", NULL};
    static const char *const directions[] = {"up", "both", NULL};
    int codec = 0, direction = CFG_COMPRESS_UP;
    TRY(check_keys(cx, o, known));
    if (!o)
        return 0;
    if (!get(o, "codec"))
        return missing(cx, "codec");
    TRY(field_choice(cx, o, "codec", codec_names, &codec));
    e->network.compression.codec = (cfg_codec)codec;
    for (const cJSON *c = o->child; c; c = c->next) {
        int takes =
            strcmp(c->string, "codec") == 0 ||
            (codec != CFG_CODEC_NONE && strcmp(c->string, "direction") == 0);
        for (size_t i = 0; codec_keys[codec][i] && !takes; i++)
            takes = strcmp(codec_keys[codec][i], c->string) == 0;
        if (!takes) {
            path_push_key(cx, c->string);
            return fail(cx, "not used with codec \"%s\"", codec_names[codec]);
        }
    }
    if (codec != CFG_CODEC_NONE && e->network.servers > 1) {
        /* Shards are summed at their servers, which a sparse or quantised
         * encoding of the whole model does not describe. */
        path_push_key(cx, "codec");
        return fail(cx,
                    "compresses whole-model messages; $.network.servers "
                    "%d shards the model",
                    e->network.servers);
    }
    if (codec != CFG_CODEC_NONE &&
        cfg_algorithm_collective(e) != CFG_COLLECTIVE_PS) {
        /* An all-reduce sums chunks on the way, which a sparse or
         * quantised encoding does not survive without decoding. */
        path_push_key(cx, "codec");
        return fail(cx,
                    "compresses the parameter server's messages; "
                    "$.algorithm.collective \"%s\" sends none",
                    cfg_collective_names[cfg_algorithm_collective(e)]);
    }
    if (codec == CFG_CODEC_TOPK || codec == CFG_CODEC_RANDK) {
        int which = 0;
        TRY(one_of(cx, o, "k", "fraction", &which));
        TRY(field_long(cx, o, "k", at_least(1), &e->network.compression.k));
        TRY(field_double(cx, o, "fraction", (range){0, 1, 1, 0},
                         &e->network.compression.fraction));
    }
    if (codec == CFG_CODEC_QSGD) {
        if (!get(o, "levels"))
            return missing(cx, "levels");
        TRY(field_int(cx, o, "levels", closed(1, 1 << 30),
                      &e->network.compression.levels));
    }
    TRY(field_choice(cx, o, "direction", directions, &direction));
    e->network.compression.direction = (cfg_compress_dir)direction;
    return 0;
}

static int parse_network(ctx *cx, const cJSON *o, cfg_experiment *e)
{
    static const char *const known[] = {
        "topology",   "latency",   "bandwidth",    "server",
        "workers",    "arity",     "racks",        "hosts_per_rack",
        "wan",        "nodes",     "cables",       "events",
        "contention", "precision", "header_bytes", "compression",
        "servers",    NULL};
    static const char *const precisions[] = {"float64", "float32", NULL};
    int topology = 0, precision = 0;
    cfg_link link = {5e-5, 1.25e8};

    TRY(check_keys(cx, o, known));
    TRY(field_choice(cx, o, "topology", topology_names, &topology));
    e->network.topology = (cfg_topology)topology;
    TRY(link_fields(cx, o, &link));
    e->network.link = link;
    e->network.arity = 2;
    e->network.servers = 1;
    TRY(field_int(cx, o, "servers", closed(1, 1024), &e->network.servers));
    int takes_collective = 0;
    for (size_t i = 0; i < e->algorithm.spec->n_params; i++)
        takes_collective |=
            strcmp(e->algorithm.spec->params[i].name, "collective") == 0;
    if (e->network.servers > 1 && !takes_collective) {
        /* Sharding is a collective; the others send whole models. */
        path_push_key(cx, "servers");
        return fail(cx,
                    "sharded parameter servers need an algorithm with "
                    "a \"collective\" (ssgd, ma, bmuf, easgd), not "
                    "\"%s\"",
                    e->algorithm.name);
    }
    if (e->network.servers > 1 &&
        cfg_algorithm_collective(e) != CFG_COLLECTIVE_PS) {
        path_push_key(cx, "servers");
        return fail(cx,
                    "parameter servers with $.algorithm.collective "
                    "\"%s\", which has none",
                    cfg_collective_names[cfg_algorithm_collective(e)]);
    }
    TRY(parse_topology(cx, o, e));

    /* Node links start from the network-wide figures; server and workers
     * entries then override them one by one. */
    size_t n = (size_t)e->cluster.workers;
    e->network.workers = malloc(n * sizeof *e->network.workers);
    if (!e->network.workers)
        return fail_nomem(cx);
    for (size_t i = 0; i < n; i++)
        e->network.workers[i] = link;
    e->network.server = link;
    TRY(section(cx, o, "server", parse_server, e));
    TRY(parse_list(cx, o, "workers", worker_link_entry, e));

    TRY(field_bool(cx, o, "contention", &e->network.contention));
    TRY(field_choice(cx, o, "precision", precisions, &precision));
    e->network.value_bytes = precision == 0 ? 8 : 4;
    TRY(field_long(cx, o, "header_bytes", at_least(0),
                   &e->network.header_bytes));
    return section(cx, o, "compression", parse_compression, e);
}

static int parse_evaluation(ctx *cx, const cJSON *o, cfg_experiment *e)
{
    static const char *const known[] = {"every", "every_seconds", "train_loss",
                                        NULL};
    TRY(check_keys(cx, o, known));
    /* Given alone, every_seconds replaces the default of every step. */
    if (get(o, "every_seconds") && !get(o, "every"))
        e->evaluation.every = 0;
    TRY(field_unit(cx, o, "every_seconds", UNIT_DURATION, 1,
                   &e->evaluation.every_seconds));
    TRY(field_long(cx, o, "every", at_least(0), &e->evaluation.every));
    if (e->evaluation.every == 0 && e->evaluation.every_seconds == 0) {
        path_push_key(cx, get(o, "every") ? "every" : "every_seconds");
        return fail(cx, "expected \"every\" >= 1 or \"every_seconds\" > 0: "
                        "the run would never be evaluated");
    }
    TRY(field_bool(cx, o, "train_loss", &e->evaluation.train_loss));
    return 0;
}

static int parse_output(ctx *cx, const cJSON *o, cfg_experiment *e)
{
    static const char *const known[] = {"events", NULL};
    TRY(check_keys(cx, o, known));
    TRY(field_bool(cx, o, "events", &e->output.events));
    return 0;
}

static void set_defaults(cfg_experiment *e)
{
    e->seed = 1;
    e->algorithm.rounds = 100;
    e->algorithm.lr = 0.1;
    e->model.init_low = -1;
    e->model.init_high = 1;
    e->data.header = 1;
    e->data.label_column = -1;
    e->data.split = CFG_SPLIT_FRACTION;
    e->data.test_fraction = 0.3;
    e->data.bias = 1;
    e->data.partition = CFG_PARTITION_CONTIGUOUS;
    e->data.alpha = 0.5;
    e->data.shards = 2;
    e->data.synth.classes = 2;
    e->data.synth.separation = 3;
    e->batch.kind = CFG_BATCH_FRACTION;
    e->batch.fraction = 0.1;
    e->cluster.workers = 4;
    e->cluster.compute = CFG_COMPUTE_SECONDS_PER_SAMPLE;
    e->cluster.seconds_per_sample = 1e-5;
    e->cluster.delay = CFG_DELAY_NONE;
    e->cluster.slow_periods.factor = 1;
    e->cluster.on_crash = CFG_ON_CRASH_WAIT;
    e->network.topology = CFG_TOPOLOGY_STAR;
    e->network.contention = 1;
    e->network.value_bytes = 8;
    e->evaluation.every = 1;
    e->evaluation.train_loss = 1;
}

/* The file's base name without ".json"; "stdin" for "-". */
static char *default_name(const char *source)
{
    if (strcmp(source, "-") == 0)
        return strdup("stdin");
    const char *base = strrchr(source, '/');
    base = base ? base + 1 : source;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".json") == 0)
        n -= 5;
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, base, n);
        s[n] = '\0';
    }
    return s;
}

static int parse_experiment(ctx *cx, const cJSON *root, cfg_experiment *e,
                            const cfg_algorithm_spec *algs, size_t n_algs)
{
    /* "$schema" lets an editor find configs/schema.json; it is not read. */
    static const char *const known[] = {
        "$schema", "name",    "seed",    "algorithm",  "model",  "data",
        "batch",   "cluster", "network", "evaluation", "output", NULL};
    TRY(check_keys(cx, root, known));

    const cJSON *schema = get(root, "$schema");
    if (schema && !cJSON_IsString(schema)) {
        path_push_key(cx, "$schema");
        return expected(cx, "a string", schema);
    }
    TRY(field_string(cx, root, "name", &e->name));
    if (!e->name && !(e->name = default_name(cx->source)))
        return fail_nomem(cx);
    double seed = (double)e->seed;
    {
        const cJSON *v = get(root, "seed");
        size_t saved = path_push_key(cx, "seed");
        int rc = v ? read_number(cx, v, "an integer", 1,
                                 closed(0, EXACT_INT_MAX), EXACT_INT_MAX, &seed)
                   : 0;
        path_pop(cx, saved);
        TRY(rc);
        e->seed = (uint64_t)seed;
    }

    const cJSON *alg = get(root, "algorithm");
    if (!alg)
        return missing(cx, "algorithm");
    size_t saved = path_push_key(cx, "algorithm");
    int rc = parse_algorithm(cx, alg, e, algs, n_algs);
    path_pop(cx, saved);
    TRY(rc);

    TRY(section(cx, root, "model", parse_model, e));
    if (!get(root, "data"))
        return missing(cx, "data");
    TRY(section(cx, root, "data", parse_data, e));
    TRY(section(cx, root, "batch", parse_batch, e));
    TRY(section(cx, root, "cluster", parse_cluster, e));
    TRY(section(cx, root, "network", parse_network, e));
    TRY(section(cx, root, "evaluation", parse_evaluation, e));
    TRY(section(cx, root, "output", parse_output, e));
    return 0;
}

/* ---- overrides ---- */

static int override_fail(ctx *cx, const cfg_override *ov, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int override_fail(ctx *cx, const cfg_override *ov, const char *fmt, ...)
{
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sim_err_set(cx->err, SIM_ECONFIG, "%s: --set %s: %s", cx->source,
                       ov->path, what);
}

/* Sets one value in the tree. Objects on the way are created when absent;
 * arrays are not, since the index a user means in a missing array is as
 * likely a mistake as an intent. */
static int apply_override(ctx *cx, cJSON *root, const cfg_override *ov)
{
    const char *p = ov->path ? ov->path : "";
    if (strncmp(p, "$.", 2) == 0)
        p += 2;
    if (!ov->value)
        return override_fail(cx, ov, "missing value");
    path_reset(cx);
    cJSON *cur = root;
    char key[128];
    for (;;) {
        /* One step: a key, or an index when p is at '['. */
        int is_index = *p == '[';
        size_t idx = 0;
        if (is_index) {
            p++;
            if (*p < '0' || *p > '9')
                return override_fail(cx, ov, "bad index in path");
            for (; *p >= '0' && *p <= '9'; p++) {
                if (idx > (size_t)INT_MAX / 10)
                    return override_fail(cx, ov, "index out of range");
                idx = idx * 10 + (size_t)(*p - '0');
            }
            if (*p++ != ']')
                return override_fail(cx, ov, "bad index in path");
        } else {
            size_t n = strcspn(p, ".[");
            if (n == 0 || n >= sizeof key)
                return override_fail(cx, ov, "bad key in path");
            memcpy(key, p, n);
            key[n] = '\0';
            p += n;
        }
        if (*p == '.') {
            p++;
            if (*p == '\0' || *p == '[')
                return override_fail(cx, ov, "bad key in path");
        } else if (*p != '[' && *p != '\0') {
            return override_fail(cx, ov, "bad path");
        }
        int last = *p == '\0';

        cJSON *next;
        if (is_index) {
            if (!cJSON_IsArray(cur))
                return override_fail(cx, ov, "%s is not an array", cx->path);
            if (idx >= (size_t)cJSON_GetArraySize(cur))
                return override_fail(cx, ov, "index %zu out of range", idx);
            next = cJSON_GetArrayItem(cur, (int)idx);
        } else {
            if (!cJSON_IsObject(cur))
                return override_fail(cx, ov, "%s is not an object", cx->path);
            next = cJSON_GetObjectItemCaseSensitive(cur, key);
        }

        if (last) {
            const char *end = NULL;
            cJSON *value = cJSON_ParseWithOpts(ov->value, &end, 1);
            if (!value)
                value = cJSON_CreateString(ov->value);
            if (!value)
                return fail_nomem(cx);
            cJSON_bool ok;
            if (is_index)
                ok = cJSON_ReplaceItemViaPointer(cur, next, value);
            else if (next)
                ok = cJSON_ReplaceItemInObjectCaseSensitive(cur, key, value);
            else
                ok = cJSON_AddItemToObject(cur, key, value);
            if (!ok) {
                cJSON_Delete(value);
                return fail_nomem(cx);
            }
            return 0;
        }
        if (!next && *p == '[') {
            path_push_key(cx, key);
            return override_fail(cx, ov, "%s does not exist", cx->path);
        }
        if (!next) {
            next = cJSON_AddObjectToObject(cur, key);
            if (!next)
                return fail_nomem(cx);
        }
        if (is_index)
            path_push_index(cx, idx);
        else
            path_push_key(cx, key);
        cur = next;
    }
}

/* ---- loading ---- */

/* Turns cJSON's byte offset into FILE:LINE:COL and quotes the line. */
static int syntax_error(ctx *cx, const char *text, size_t offset,
                        const char *what, int at_nul)
{
    size_t len = strlen(text);
    if (offset > len)
        offset = len;
    /* At the end of the text cJSON often reports the NUL; the last thing
     * written is the better place to show. */
    if (offset == len && !at_nul) {
        while (offset > 0 && strchr(" \t\r\n", text[offset - 1]))
            offset--;
        if (offset > 0)
            offset--;
    }
    size_t line = 1, start = 0;
    for (size_t i = 0; i < offset; i++) {
        if (text[i] == '\n') {
            line++;
            start = i + 1;
        }
    }
    size_t col = 1;
    for (size_t i = start; i < offset; i++)
        col += !is_utf8_tail(text[i]); /* characters, not bytes */
    size_t end = start + strcspn(text + start, "\r\n");
    while (start < offset && (text[start] == ' ' || text[start] == '\t'))
        start++; /* indentation says nothing */
    /* Long lines: a window around the column. */
    size_t from = start, to = end;
    if (to - from > 60) {
        from = offset > start + 30 ? offset - 30 : start;
        to = from + 60 < end ? from + 60 : end;
        while (from > start && is_utf8_tail(text[from]))
            from--;
        while (to < end && is_utf8_tail(text[to]))
            to++;
    }
    char snippet[80];
    size_t n = 0;
    for (size_t i = from; i < to && n + 1 < sizeof snippet; i++)
        snippet[n++] = (unsigned char)text[i] < 0x20 ? ' ' : text[i];
    snippet[n] = '\0';
    return sim_err_set(cx->err, SIM_ECONFIG, "%s:%zu:%zu: %s near '%s%s%s'",
                       cx->source, line, col, what, from > start ? "..." : "",
                       snippet, to < end ? "..." : "");
}

int cfg_load_string(const char *text, const char *source,
                    const cfg_algorithm_spec *algorithms, size_t n_algorithms,
                    const cfg_override *overrides, size_t n_overrides,
                    cfg_experiment **out, sim_err *err)
{
    ctx cx = {.source = source ? source : "-", .err = err};
    path_reset(&cx);
    *out = NULL;
    if (!text || !text[strspn(text, " \t\r\n")])
        return sim_err_set(err, SIM_ECONFIG, "%s: empty file", cx.source);

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root)
        return syntax_error(&cx, text, end ? (size_t)(end - text) : 0,
                            "JSON syntax error", 0);
    if (!cJSON_IsObject(root)) {
        int rc = expected(&cx, "an object at the top level", root);
        cJSON_Delete(root);
        return rc;
    }
    for (size_t i = 0; i < n_overrides; i++) {
        int rc = apply_override(&cx, root, &overrides[i]);
        if (rc) {
            cJSON_Delete(root);
            return rc;
        }
    }
    path_reset(&cx);

    int rc;
    cfg_experiment *e = calloc(1, sizeof *e);
    if (!e || !(e->source_path = strdup(cx.source))) {
        rc = fail_nomem(&cx);
    } else {
        set_defaults(e);
        rc = parse_experiment(&cx, root, e, algorithms, n_algorithms);
    }
    cJSON_Delete(root);
    if (rc) {
        cfg_experiment_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

int cfg_load(const char *path, const cfg_algorithm_spec *algorithms,
             size_t n_algorithms, const cfg_override *overrides,
             size_t n_overrides, cfg_experiment **out, sim_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    size_t len = 0, cap = 4096;
    char *buf = NULL;
    int saved_errno = 0;
    if (f) {
        buf = malloc(cap);
        while (buf) {
            len += fread(buf + len, 1, cap - 1 - len, f);
            if (ferror(f)) {
                saved_errno = errno ? errno : EIO;
                break;
            }
            if (len < cap - 1)
                break;
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
            }
            buf = bigger;
            cap *= 2;
        }
        fclose(f);
        if (!buf)
            return sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
    } else {
        saved_errno = errno;
    }
    if (!f || saved_errno) {
        char msg[128];
        if (strerror_r(saved_errno, msg, sizeof msg) != 0)
            snprintf(msg, sizeof msg, "error %d", saved_errno);
        free(buf);
        return sim_err_set(err, SIM_EIO, "%s: cannot read: %s", path, msg);
    }
    buf[len] = '\0';
    int rc;
    if (len == 0) {
        rc = sim_err_set(err, SIM_ECONFIG, "%s: empty file", path);
    } else if (strlen(buf) != len) {
        /* cJSON would stop at the NUL and ignore the rest of the file. */
        ctx cx = {.source = path, .err = err};
        rc = syntax_error(&cx, buf, strlen(buf), "NUL byte in file", 1);
    } else {
        rc = cfg_load_string(buf, path, algorithms, n_algorithms, overrides,
                             n_overrides, out, err);
    }
    free(buf);
    return rc;
}

void cfg_experiment_free(cfg_experiment *e)
{
    if (!e)
        return;
    free(e->source_path);
    free(e->name);
    free(e->algorithm.name);
    free(e->model.type);
    free(e->data.path);
    free(e->data.resolved_path);
    free(e->data.split_file);
    free(e->data.split_resolved_path);
    free(e->data.images);
    free(e->data.labels);
    free(e->data.test_images);
    free(e->data.test_labels);
    free(e->data.images_resolved);
    free(e->data.labels_resolved);
    free(e->data.test_images_resolved);
    free(e->data.test_labels_resolved);
    free(e->cluster.speed);
    free(e->cluster.slowdown);
    free(e->cluster.crashes);
    free(e->cluster.trace);
    free(e->cluster.trace_resolved_path);
    free(e->network.workers);
    free(e->network.cables);
    free(e->network.events);
    free(e);
}

/* ---- back to JSON ---- */

/* Numbers go in as raw text from fmt_exact so that they read back
 * bit-identical. Any failed allocation sets *bad; the tree is dropped at
 * the end rather than checked call by call. */
static cJSON *num(double d, int *bad)
{
    char buf[40];
    fmt_exact(d, buf, sizeof buf);
    cJSON *v = cJSON_CreateRaw(buf);
    if (!v)
        *bad = 1;
    return v;
}

static void put(cJSON *o, const char *key, cJSON *v, int *bad)
{
    if (!v || !o) {
        *bad = 1;
        cJSON_Delete(v);
        return;
    }
    if (cJSON_IsArray(o)) {
        if (!cJSON_AddItemToArray(o, v)) {
            cJSON_Delete(v);
            *bad = 1;
        }
    } else if (!cJSON_AddItemToObject(o, key, v)) {
        cJSON_Delete(v);
        *bad = 1;
    }
}

static void put_num(cJSON *o, const char *key, double d, int *bad)
{
    put(o, key, num(d, bad), bad);
}

static void put_str(cJSON *o, const char *key, const char *s, int *bad)
{
    put(o, key, cJSON_CreateString(s ? s : ""), bad);
}

static void put_bool(cJSON *o, const char *key, int b, int *bad)
{
    put(o, key, cJSON_CreateBool(b), bad);
}

/* Adds an empty object or array under key and returns it (NULL on
 * failure, which put and friends then treat as bad). */
static cJSON *put_new(cJSON *o, const char *key, int array, int *bad)
{
    cJSON *v = array ? cJSON_CreateArray() : cJSON_CreateObject();
    put(o, key, v, bad);
    return *bad ? NULL : v;
}

static void put_link(cJSON *o, const cfg_link *l, int *bad)
{
    put_num(o, "latency", l->latency_s, bad);
    put_num(o, "bandwidth", l->bandwidth_Bps, bad);
}

char *cfg_experiment_to_json(const cfg_experiment *e)
{
    int bad = 0;
    cJSON *root = cJSON_CreateObject(), *o, *sub, *arr;
    if (!root)
        return NULL;
    put_str(root, "name", e->name, &bad);
    put_num(root, "seed", (double)e->seed, &bad);

    o = put_new(root, "algorithm", 0, &bad);
    put_str(o, "name", e->algorithm.name, &bad);
    put_num(o, "rounds", (double)e->algorithm.rounds, &bad);
    put_num(o, "lr", e->algorithm.lr, &bad);
    const cfg_algorithm_spec *spec = e->algorithm.spec;
    for (size_t i = 0; spec && i < spec->n_params; i++) {
        const cfg_param_spec *p = &spec->params[i];
        double v = e->algorithm.params[i];
        /* The default collective is left out, so that the configs of runs
         * made before collectives existed print as they always did. */
        if (strcmp(p->name, "collective") == 0 && v == CFG_COLLECTIVE_PS)
            continue;
        if (p->type == CFG_PARAM_BOOL)
            put_bool(o, p->name, v != 0, &bad);
        else if (p->type == CFG_PARAM_CHOICE)
            put_str(o, p->name, p->choices[(int)v], &bad);
        else
            put_num(o, p->name, v, &bad);
    }

    o = put_new(root, "model", 0, &bad);
    put_str(o, "type", e->model.type, &bad);
    static const char *const init_names[] = {"default", "uniform", "xavier",
                                             "he"};
    sub = put_new(o, "init", 0, &bad);
    put_str(sub, "kind", init_names[e->model.init], &bad);
    if (e->model.init == CFG_INIT_DEFAULT ||
        e->model.init == CFG_INIT_UNIFORM) {
        put_num(sub, "low", e->model.init_low, &bad);
        put_num(sub, "high", e->model.init_high, &bad);
    }
    if (strcmp(e->model.type, "logreg") == 0) {
        put_num(o, "sigmoid_eps", e->model.sigmoid_eps, &bad);
    } else {
        if (e->model.n_classes)
            put_num(o, "n_classes", (double)e->model.n_classes, &bad);
        if (strcmp(e->model.type, "mlp") == 0) {
            arr = put_new(o, "hidden", 1, &bad);
            for (size_t i = 0; i < e->model.n_hidden; i++)
                put_num(arr, NULL, (double)e->model.hidden[i], &bad);
            put_str(o, "activation", e->model.activation ? "tanh" : "relu",
                    &bad);
        }
        put_num(o, "l1", e->model.l1, &bad);
        put_num(o, "l2", e->model.l2, &bad);
    }

    static const char *const format_names[] = {"csv", "libsvm", "idx",
                                               "synthetic"};
    static const char *const synth_names[] = {"clusters", "linear", "logistic"};
    static const char *const scale_names[] = {"none", "standardize", "minmax"};
    static const char *const partition_names[] = {"contiguous", "iid", "shards",
                                                  "dirichlet"};
    o = put_new(root, "data", 0, &bad);
    put_str(o, "format", format_names[e->data.format], &bad);
    switch (e->data.format) {
    case CFG_FORMAT_CSV:
        put_str(o, "path", e->data.resolved_path, &bad);
        put_bool(o, "header", e->data.header, &bad);
        put_num(o, "label_column", e->data.label_column, &bad);
        break;
    case CFG_FORMAT_LIBSVM:
        put_str(o, "path", e->data.resolved_path, &bad);
        put_num(o, "n_features", (double)e->data.n_features, &bad);
        put_bool(o, "zero_based", e->data.zero_based, &bad);
        break;
    case CFG_FORMAT_IDX:
        put_str(o, "images", e->data.images_resolved, &bad);
        put_str(o, "labels", e->data.labels_resolved, &bad);
        if (e->data.has_test_set) {
            put_str(o, "test_images", e->data.test_images_resolved, &bad);
            put_str(o, "test_labels", e->data.test_labels_resolved, &bad);
        }
        break;
    case CFG_FORMAT_SYNTHETIC:
        put_str(o, "kind", synth_names[e->data.synth.kind], &bad);
        put_num(o, "n", (double)e->data.synth.n, &bad);
        put_num(o, "d", (double)e->data.synth.d, &bad);
        if (e->data.synth.kind == CFG_SYNTH_CLUSTERS) {
            put_num(o, "classes", (double)e->data.synth.classes, &bad);
            put_num(o, "separation", e->data.synth.separation, &bad);
        } else {
            put_num(o, "noise", e->data.synth.noise, &bad);
        }
        break;
    }
    if (!e->data.has_test_set) {
        sub = put_new(o, "split", 0, &bad);
        if (e->data.split == CFG_SPLIT_FILE)
            put_str(sub, "file", e->data.split_resolved_path, &bad);
        else
            put_num(sub, "test_fraction", e->data.test_fraction, &bad);
    }
    put_str(o, "scale", scale_names[e->data.scale], &bad);
    put_bool(o, "bias", e->data.bias, &bad);
    if (e->data.partition == CFG_PARTITION_CONTIGUOUS) {
        put_str(o, "partition", "contiguous", &bad);
    } else {
        sub = put_new(o, "partition", 0, &bad);
        put_str(sub, "kind", partition_names[e->data.partition], &bad);
        if (e->data.partition == CFG_PARTITION_SHARDS)
            put_num(sub, "shards", (double)e->data.shards, &bad);
        if (e->data.partition == CFG_PARTITION_DIRICHLET) {
            put_num(sub, "alpha", e->data.alpha, &bad);
            put_num(sub, "min_rows", (double)e->data.min_rows, &bad);
        }
    }

    o = put_new(root, "batch", 0, &bad);
    if (e->batch.kind == CFG_BATCH_SIZE)
        put_num(o, "size", (double)e->batch.size, &bad);
    else
        put_num(o, "fraction", e->batch.fraction, &bad);

    o = put_new(root, "cluster", 0, &bad);
    put_num(o, "workers", e->cluster.workers, &bad);
    sub = put_new(o, "compute", 0, &bad);
    if (e->cluster.compute == CFG_COMPUTE_FLOPS)
        put_num(sub, "flops_per_second", e->cluster.flops_per_second, &bad);
    else
        put_num(sub, "seconds_per_sample", e->cluster.seconds_per_sample, &bad);
    arr = put_new(o, "speed", 1, &bad);
    for (int i = 0; i < e->cluster.workers; i++)
        put_num(arr, NULL, e->cluster.speed[i], &bad);
    arr = put_new(o, "slowdown", 1, &bad);
    for (int i = 0; i < e->cluster.workers; i++) {
        if (e->cluster.slowdown[i] == 1.0)
            continue;
        cJSON *s = put_new(arr, NULL, 0, &bad);
        put_num(s, "worker", i, &bad);
        put_num(s, "factor", e->cluster.slowdown[i], &bad);
    }
    sub = put_new(o, "delay", 0, &bad);
    put_str(sub, "distribution", delay_names[e->cluster.delay], &bad);
    for (size_t i = 0; delay_keys[e->cluster.delay][i]; i++) {
        const char *k = delay_keys[e->cluster.delay][i];
        double v = strcmp(k, "mean") == 0    ? e->cluster.delay_mean_s
                   : strcmp(k, "sd") == 0    ? e->cluster.delay_sd_s
                   : strcmp(k, "shape") == 0 ? e->cluster.delay_shape
                   : strcmp(k, "p") == 0     ? e->cluster.delay_p
                   : strcmp(k, "short") == 0 ? e->cluster.delay_short_s
                                             : e->cluster.delay_long_s;
        put_num(sub, k, v, &bad);
    }
    if (e->cluster.slow_periods.factor > 1) {
        sub = put_new(o, "slow_periods", 0, &bad);
        put_num(sub, "factor", e->cluster.slow_periods.factor, &bad);
        put_num(sub, "mean_slow", e->cluster.slow_periods.mean_slow_s, &bad);
        put_num(sub, "mean_normal", e->cluster.slow_periods.mean_normal_s,
                &bad);
    }
    arr = put_new(o, "crash", 1, &bad);
    for (size_t i = 0; i < e->cluster.n_crashes; i++) {
        const cfg_crash *c = &e->cluster.crashes[i];
        cJSON *s = put_new(arr, NULL, 0, &bad);
        put_num(s, "worker", c->worker, &bad);
        if (c->rate > 0)
            put_num(s, "rate", c->rate, &bad);
        else
            put_num(s, "at", c->at_s, &bad);
        if (c->recover_after_s >= 0)
            put_num(s, "recover_after", c->recover_after_s, &bad);
    }
    put_str(o, "on_crash",
            e->cluster.on_crash == CFG_ON_CRASH_DROP ? "drop" : "wait", &bad);
    if (e->cluster.on_crash == CFG_ON_CRASH_DROP)
        put_num(o, "drop_timeout", e->cluster.drop_timeout_s, &bad);
    if (e->cluster.trace)
        put_str(o, "trace", e->cluster.trace_resolved_path, &bad);

    o = put_new(root, "network", 0, &bad);
    put_str(o, "topology", topology_names[e->network.topology], &bad);
    if (e->network.topology == CFG_TOPOLOGY_STAR) {
        sub = put_new(o, "server", 0, &bad);
        put_link(sub, &e->network.server, &bad);
        arr = put_new(o, "workers", 1, &bad);
        for (int i = 0; i < e->cluster.workers; i++) {
            cJSON *w = put_new(arr, NULL, 0, &bad);
            put_num(w, "worker", i, &bad);
            put_link(w, &e->network.workers[i], &bad);
        }
    } else {
        put_link(o, &e->network.link, &bad);
    }
    if (e->network.topology == CFG_TOPOLOGY_TREE)
        put_num(o, "arity", e->network.arity, &bad);
    if (e->network.topology == CFG_TOPOLOGY_HIER) {
        put_num(o, "racks", e->network.racks, &bad);
        put_num(o, "hosts_per_rack", e->network.hosts_per_rack, &bad);
        sub = put_new(o, "wan", 0, &bad);
        put_link(sub, &e->network.wan, &bad);
    }
    if (e->network.topology == CFG_TOPOLOGY_GRAPH) {
        put_num(o, "nodes", e->network.graph_nodes, &bad);
        arr = put_new(o, "cables", 1, &bad);
        for (size_t i = 0; i < e->network.n_cables; i++) {
            const cfg_cable *c = &e->network.cables[i];
            cJSON *w = put_new(arr, NULL, 0, &bad);
            put_num(w, "a", c->a, &bad);
            put_num(w, "b", c->b, &bad);
            put_num(w, "latency", c->latency_s, &bad);
            put_num(w, "bandwidth", c->bandwidth_Bps, &bad);
            if (c->bandwidth_rev_Bps > 0)
                put_num(w, "reverse_bandwidth", c->bandwidth_rev_Bps, &bad);
        }
    }
    /* Absent when empty or none, so that a star config prints as it always
     * did. */
    if (e->network.servers > 1)
        put_num(o, "servers", e->network.servers, &bad);
    if (e->network.compression.codec != CFG_CODEC_NONE) {
        cfg_codec k = e->network.compression.codec;
        sub = put_new(o, "compression", 0, &bad);
        put_str(sub, "codec", codec_names[k], &bad);
        if ((k == CFG_CODEC_TOPK || k == CFG_CODEC_RANDK) &&
            e->network.compression.k > 0)
            put_num(sub, "k", (double)e->network.compression.k, &bad);
        else if (k == CFG_CODEC_TOPK || k == CFG_CODEC_RANDK)
            put_num(sub, "fraction", e->network.compression.fraction, &bad);
        if (k == CFG_CODEC_QSGD)
            put_num(sub, "levels", e->network.compression.levels, &bad);
        put_str(sub, "direction",
                e->network.compression.direction == CFG_COMPRESS_BOTH ? "both"
                                                                      : "up",
                &bad);
    }
    if (e->network.n_events > 0) {
        static const char *const what[] = {"bandwidth", "latency", "up"};
        arr = put_new(o, "events", 1, &bad);
        for (size_t i = 0; i < e->network.n_events; i++) {
            const cfg_link_event *ev = &e->network.events[i];
            cJSON *w = put_new(arr, NULL, 0, &bad);
            put_num(w, "at", ev->at_s, &bad);
            put_num(w, "link", ev->link, &bad);
            if (ev->what == CFG_LINK_UP)
                put_bool(w, "up", ev->value != 0, &bad);
            else
                put_num(w, what[ev->what], ev->value, &bad);
        }
    }
    put_bool(o, "contention", e->network.contention, &bad);
    put_str(o, "precision", e->network.value_bytes == 4 ? "float32" : "float64",
            &bad);
    put_num(o, "header_bytes", (double)e->network.header_bytes, &bad);

    o = put_new(root, "evaluation", 0, &bad);
    put_num(o, "every", (double)e->evaluation.every, &bad);
    put_num(o, "every_seconds", e->evaluation.every_seconds, &bad);
    put_bool(o, "train_loss", e->evaluation.train_loss, &bad);

    o = put_new(root, "output", 0, &bad);
    put_bool(o, "events", e->output.events, &bad);

    char *text = bad ? NULL : cJSON_Print(root);
    cJSON_Delete(root);
    /* Copied so that callers free() it whatever cJSON's allocator is. */
    char *copy = text ? strdup(text) : NULL;
    cJSON_free(text);
    return copy;
}

double cfg_algorithm_param(const cfg_experiment *e, const char *name)
{
    const cfg_algorithm_spec *spec = e->algorithm.spec;
    for (size_t i = 0; spec && i < spec->n_params; i++)
        if (strcmp(spec->params[i].name, name) == 0)
            return e->algorithm.params[i];
    SIM_PANIC("algorithm '%s' has no parameter '%s'",
              spec ? spec->name : "(none)", name);
}
