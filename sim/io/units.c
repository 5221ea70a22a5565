/* units.c: numbers with units, as written in configs.
 *
 * A quantity is a decimal number, optional spaces or tabs, and a unit from a
 * fixed table; nothing may precede or follow it. The number grammar is our
 * own rather than strtod's alone, because strtod also takes "nan", "inf",
 * hex floats and leading whitespace, none of which belong in a config.
 * Range checks (> 0, >= 0) are the caller's, which knows what the field
 * means and words the error. */
#include "units.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A unit's factor is mult * 10^p10. Powers of ten are applied to the
 * decimal text before conversion, so "100us" reads as the double nearest to
 * 1e-4 rather than 100 * 1e-6, which is one ulp off; only the remaining
 * mult (60, 1024, 1/8) costs a rounding, and powers of two cost none. */
typedef struct unit {
    const char *name;
    int p10;
    double mult;
} unit;

static const unit duration_units[] = {
    {"ns", -9, 1.0},  {"us", -6, 1.0}, {"\xc2\xb5s", -6, 1.0}, /* µs */
    {"ms", -3, 1.0},  {"s", 0, 1.0},   {"min", 0, 60.0},
    {"h", 0, 3600.0}, {NULL, 0, 0.0},
};

/* Sizes in bytes. Bits are written "b" or "bit"; only the "b" forms combine
 * with "ps" below, since "Mbitps" is nobody's spelling. */
typedef struct size_unit {
    const char *name;
    int p10;
    double mult;
    int ps_ok; /* may be followed by "ps" to make a bandwidth */
} size_unit;

static const size_unit size_units[] = {
    {"B", 0, 1.0, 1},
    {"kB", 3, 1.0, 1},
    {"KB", 3, 1.0, 1},
    {"MB", 6, 1.0, 1},
    {"GB", 9, 1.0, 1},
    {"TB", 12, 1.0, 1},
    {"KiB", 0, 1024.0, 1},
    {"MiB", 0, 1048576.0, 1},
    {"GiB", 0, 1073741824.0, 1},
    {"TiB", 0, 1099511627776.0, 1},
    {"b", 0, 0.125, 1},
    {"kb", 3, 0.125, 1},
    {"Kb", 3, 0.125, 1},
    {"Mb", 6, 0.125, 1},
    {"Gb", 9, 0.125, 1},
    {"Tb", 12, 0.125, 1},
    {"bit", 0, 0.125, 0},
    {"kbit", 3, 0.125, 0},
    {"Kbit", 3, 0.125, 0},
    {"Mbit", 6, 0.125, 0},
    {"Gbit", 9, 0.125, 0},
    {"Tbit", 12, 0.125, 0},
    {NULL, 0, 0.0, 0},
};

static const unit rate_prefixes[] = {
    {"", 0, 1.0},   {"k", 3, 1.0},  {"M", 6, 1.0},  {"G", 9, 1.0},
    {"T", 12, 1.0}, {"P", 15, 1.0}, {NULL, 0, 0.0},
};

/* A number split into its decimal mantissa text and its exponent. */
typedef struct number {
    char mantissa[96];
    long exp;
} number;

/* Scans the number at the start of s. Returns the number of bytes it spans,
 * 0 when there is none. */
static size_t scan_number(const char *s, number *n)
{
    size_t i = 0, digits = 0;
    if (s[i] == '+' || s[i] == '-')
        i++;
    while (s[i] >= '0' && s[i] <= '9') {
        i++;
        digits++;
    }
    if (s[i] == '.') {
        i++;
        while (s[i] >= '0' && s[i] <= '9') {
            i++;
            digits++;
        }
    }
    if (digits == 0 || i >= sizeof n->mantissa)
        return 0;
    memcpy(n->mantissa, s, i);
    n->mantissa[i] = '\0';
    n->exp = 0;
    /* An 'e' counts as an exponent only when digits follow, so that a unit
     * starting with 'e' would stay parseable. */
    if (s[i] == 'e' || s[i] == 'E') {
        size_t j = i + 1;
        int neg = s[j] == '-';
        if (s[j] == '+' || s[j] == '-')
            j++;
        if (s[j] >= '0' && s[j] <= '9') {
            for (; s[j] >= '0' && s[j] <= '9'; j++)
                if (n->exp < 100000) /* far past any double; no overflow */
                    n->exp = n->exp * 10 + (s[j] - '0');
            n->exp = neg ? -n->exp : n->exp;
            i = j;
        }
    }
    return i;
}

/* Splits s into number and unit text; NULL when there is no number. */
static const char *split(const char *s, number *n)
{
    if (!s)
        return NULL;
    size_t len = scan_number(s, n);
    if (len == 0)
        return NULL;
    const char *u = s + len;
    while (*u == ' ' || *u == '\t')
        u++;
    /* Space is allowed between number and unit, not after the number. */
    if (u != s + len && !*u)
        return NULL;
    return u;
}

static int finish(const number *n, int p10, double mult, double *out)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%se%ld", n->mantissa, n->exp + p10);
    char *end;
    double r = strtod(buf, &end) * mult;
    /* A locale whose decimal point is not '.' would stop strtod early;
     * refuse rather than misread. */
    if (*end || !isfinite(r))
        return -1;
    *out = r;
    return 0;
}

static const unit *lookup(const unit *table, const char *u)
{
    for (const unit *t = table; t->name; t++)
        if (strcmp(t->name, u) == 0)
            return t;
    return NULL;
}

int units_parse_duration(const char *s, double *seconds)
{
    number n;
    const char *u = split(s, &n);
    if (!u)
        return -1;
    if (!*u)
        return finish(&n, 0, 1.0, seconds);
    const unit *t = lookup(duration_units, u);
    return t ? finish(&n, t->p10, t->mult, seconds) : -1;
}

int units_parse_size(const char *s, double *bytes)
{
    number n;
    const char *u = split(s, &n);
    if (!u)
        return -1;
    if (!*u)
        return finish(&n, 0, 1.0, bytes);
    for (const size_unit *t = size_units; t->name; t++)
        if (strcmp(t->name, u) == 0)
            return finish(&n, t->p10, t->mult, bytes);
    return -1;
}

int units_parse_bandwidth(const char *s, double *bytes_per_second)
{
    number n;
    const char *u = split(s, &n);
    if (!u)
        return -1;
    if (!*u)
        return finish(&n, 0, 1.0, bytes_per_second);
    /* A bandwidth is a size unit per second: "/s" after any of them, or
     * "ps" after the short ones ("Gbps", "MBps"). */
    for (const size_unit *t = size_units; t->name; t++) {
        size_t len = strlen(t->name);
        if (strncmp(t->name, u, len) != 0)
            continue;
        const char *rest = u + len;
        if (strcmp(rest, "/s") == 0 || (t->ps_ok && strcmp(rest, "ps") == 0))
            return finish(&n, t->p10, t->mult, bytes_per_second);
    }
    return -1;
}

int units_parse_rate(const char *s, double *per_second)
{
    number n;
    const char *u = split(s, &n);
    if (!u)
        return -1;
    for (const unit *p = rate_prefixes; p->name; p++) {
        size_t len = strlen(p->name);
        if (strncmp(p->name, u, len) != 0)
            continue;
        const char *rest = u + len;
        if (strcmp(rest, "") == 0 || strcmp(rest, "FLOPS") == 0 ||
            strcmp(rest, "FLOP/s") == 0)
            return finish(&n, p->p10, p->mult, per_second);
    }
    return -1;
}
