#include "rng.h"

uint64_t rng_splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t rng_stream_seed(uint64_t master, rng_kind kind, uint64_t index)
{
    /* Chaining the mix keeps (kind, index) pairs from colliding the way a
     * plain sum or xor of the three would. */
    uint64_t s = rng_splitmix64(master);
    s = rng_splitmix64(s ^ (uint64_t)kind);
    return rng_splitmix64(s ^ index);
}

gsl_rng *rng_stream_create(uint64_t master, rng_kind kind, uint64_t index)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r)
        return NULL;
    /* mt19937 takes an unsigned long seed and treats 0 as its default 4357;
     * fold to 32 bits the way GSL would and avoid the 0 alias. */
    unsigned long s =
        (unsigned long)(rng_stream_seed(master, kind, index) & 0xffffffffUL);
    gsl_rng_set(r, s ? s : 1);
    return r;
}
