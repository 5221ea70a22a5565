/* blas.c: run-time identification of the linked CBLAS (see blas.h). */
#define _GNU_SOURCE /* dladdr */
#include "blas.h"

#include <dlfcn.h>
#include <gsl/gsl_cblas.h>
#include <stdio.h>

typedef void (*set_threads_fn)(int);
typedef int (*get_threads_fn)(void);
typedef char *(*get_config_fn)(void);

/* A symbol of the running process, or NULL. */
static void *symbol(const char *name)
{
    void *self = dlopen(NULL, RTLD_NOW);
    if (!self)
        return NULL;
    void *p = dlsym(self, name);
    dlclose(self);
    return p;
}

const char *ml_blas_describe(char *buf, size_t len)
{
    Dl_info info;
    const char *so = "unknown";
    if (dladdr((void *)cblas_dgemm, &info) && info.dli_fname) {
        so = info.dli_fname;
        /* A static archive's CBLAS lives in the program itself. */
        Dl_info self;
        if (dladdr((void *)ml_blas_describe, &self) &&
            self.dli_fbase == info.dli_fbase)
            so = "linked into the binary";
    }
    /* POSIX's dlsym returns void *: the cast to a function pointer is the
     * documented way to use it. */
    get_config_fn cfg = (get_config_fn)symbol("openblas_get_config");
    get_threads_fn get = (get_threads_fn)symbol("openblas_get_num_threads");
    if (cfg && get)
        snprintf(buf, len, "%s, %d thread%s (%s)", cfg(), get(),
                 get() == 1 ? "" : "s", so);
    else
        snprintf(buf, len, "reference CBLAS, 1 thread (%s)", so);
    return buf;
}

int ml_blas_set_threads(int n)
{
    set_threads_fn set = (set_threads_fn)symbol("openblas_set_num_threads");
    if (!set)
        return -1;
    set(n < 1 ? 1 : n);
    return 0;
}
