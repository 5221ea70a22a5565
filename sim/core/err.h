/* err.h: status codes and error details shared by every layer.
 *
 * Functions return 0 on success or a negative SIM_E* code, and write a
 * human-readable one-line message into a caller-provided sim_err. Only the
 * command-line front end turns a code into an exit status. Invariant
 * violations (a clock moving backwards, a corrupted heap) are not errors but
 * bugs: they go to SIM_PANIC, which aborts even in release builds. */
#ifndef DTSIM_ERR_H
#define DTSIM_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* X(name, value, description). Input errors are the user's to fix (exit 2);
 * the rest are ours or the system's (exit 1). */
#define SIM_ERRNO_MAP(X)                                                       \
    X(OK, 0, "success")                                                        \
    X(EINVAL, -1, "invalid argument")                                          \
    X(ECONFIG, -2, "bad configuration")                                        \
    X(EDATA, -3, "bad data file")                                              \
    X(EIO, -4, "input/output error")                                           \
    X(ENOMEM, -5, "out of memory")                                             \
    X(EDB, -6, "database error")                                               \
    X(EDIVERGED, -7, "training diverged")                                      \
    X(EINTERNAL, -8, "internal error")

enum {
#define SIM_ERR_ENUM(name, value, desc) SIM_##name = value,
    SIM_ERRNO_MAP(SIM_ERR_ENUM)
#undef SIM_ERR_ENUM
};

typedef struct sim_err {
    int code;
    char msg[512];
} sim_err;

/* Sets err->code and formats err->msg; returns code so callers can write
 * `return sim_err_set(err, SIM_ECONFIG, ...)`. err may be NULL. */
int sim_err_set(sim_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "1.5 GiB", "512 bytes": a size in binary units, for messages. */
void sim_format_bytes(double bytes, char *buf, size_t cap);

/* The static description of a code ("bad configuration"). */
const char *sim_strerror(int code);

/* Whether a code means the user's input was bad (exit 2) rather than an
 * internal or I/O failure (exit 1). */
int sim_err_is_input(int code);

_Noreturn void sim_panic_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define SIM_PANIC(...) sim_panic_at(__FILE__, __LINE__, __VA_ARGS__)

#endif
