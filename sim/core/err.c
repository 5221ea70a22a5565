#include "err.h"

#include <stdio.h>
#include <stdlib.h>

int sim_err_set(sim_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void sim_format_bytes(double b, char *buf, size_t cap)
{
    static const char *const unit[] = {"bytes", "KiB", "MiB",
                                       "GiB",   "TiB", "PiB"};
    int u = 0;
    while (b >= 1024 && u < 5) {
        b /= 1024;
        u++;
    }
    snprintf(buf, cap, u ? "%.3g %s" : "%.0f %s", b, unit[u]);
}

const char *sim_strerror(int code)
{
    switch (code) {
#define SIM_ERR_CASE(name, value, desc)                                        \
    case value:                                                                \
        return desc;
        SIM_ERRNO_MAP(SIM_ERR_CASE)
#undef SIM_ERR_CASE
    }
    return "unknown error";
}

int sim_err_is_input(int code)
{
    return code == SIM_ECONFIG || code == SIM_EDATA || code == SIM_EINVAL;
}

void sim_panic_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "dtsim: internal error at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
