/* fuzz_util.h: what the libFuzzer harnesses share.
 *
 * The data loaders take a path, not a buffer (that is their whole API), so
 * the harnesses for them write each input to a file on tmpfs first: one
 * open/write/close costs a few microseconds, small next to the parse. */
#ifndef DTSIM_FUZZ_UTIL_H
#define DTSIM_FUZZ_UTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A per-process file name, so parallel fuzzing jobs (-jobs=N) do not share
 * one input file. /dev/shm is tmpfs on Linux; fall back to /tmp. The text
 * is static storage, rewritten by each call. */
static inline const char *fuzz_input_path(const char *suffix)
{
    static const char *dir;
    static char path[128];
    if (!dir)
        dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/dtsim-fuzz-%ld%s", dir, (long)getpid(),
             suffix);
    return path;
}

static inline void fuzz_remove_inputs(void)
{
    unlink(fuzz_input_path(".csv"));
    unlink(fuzz_input_path(".json"));
}

static inline const char *
fuzz_write_input(const char *suffix, const unsigned char *data, size_t size)
{
    static int registered;
    if (!registered)
        registered = atexit(fuzz_remove_inputs) == 0;
    const char *path = fuzz_input_path(suffix);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        abort(); /* the harness, not the code under test, is broken */
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n <= 0)
            abort();
        data += n;
        size -= (size_t)n;
    }
    close(fd);
    return path;
}

/* A NUL-terminated copy of the input (free() it). */
static inline char *fuzz_cstring(const unsigned char *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
