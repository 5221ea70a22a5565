/* rng.h: independent random streams derived from one master seed.
 *
 * Every entity that draws random numbers (a worker's sampler, a worker's
 * straggler process, the model initialiser, ...) owns its own gsl_rng, seeded
 * from (master seed, stream kind, index) through splitmix64. Adding a worker
 * therefore leaves every other stream's draws unchanged, and nothing depends
 * on the order in which entities happen to draw. The generator is always
 * mt19937, never taken from the environment: a compact implementation of
 * it whose every output equals GSL's gsl_rng_mt19937 for the same seed, so
 * every gsl_rng_* and gsl_ran_* draw is GSL's too. */
#ifndef DTSIM_RNG_H
#define DTSIM_RNG_H

#include <gsl/gsl_rng.h>
#include <stdint.h>

typedef enum rng_kind {
    RNG_INIT = 1,        /* model parameter initialisation */
    RNG_SAMPLER = 2,     /* a worker's mini-batch sampling */
    RNG_STRAGGLER = 3,   /* a worker's random compute delays */
    RNG_SPLIT = 4,       /* train/test split */
    RNG_ALGORITHM = 5,   /* an algorithm's own draws (e.g. BMUF's delta) */
    RNG_LINK = 6,        /* a link's jitter */
    RNG_WORKER_INIT = 7, /* a worker's own initial model */
    RNG_COMPRESS = 10,   /* a sender's random codec draws (random-k, QSGD) */
    RNG_PARTITION = 8,   /* the training rows' partition over workers */
    RNG_DATA = 9         /* a synthetic data set's draws */
} rng_kind;

/* One step of the splitmix64 generator: a bijective mix of x. */
uint64_t rng_splitmix64(uint64_t x);

/* The seed of stream (kind, index) for a run seeded with master. */
uint64_t rng_stream_seed(uint64_t master, rng_kind kind, uint64_t index);

/* A new mt19937 generator for the stream; NULL when out of memory.
 * The caller frees it with gsl_rng_free. */
gsl_rng *rng_stream_create(uint64_t master, rng_kind kind, uint64_t index);

/* The compact mt19937: the same outputs as gsl_rng_mt19937 for every seed,
 * in 2.5 KB of state instead of 5 KB, and one cache line touched per draw
 * instead of two. gsl_rng_alloc works with it; rng_alloc_compact also
 * aligns the state to a cache line (seeded with gsl_rng_default_seed, as
 * gsl_rng_alloc does; NULL when out of memory; gsl_rng_free frees it). */
extern const gsl_rng_type *rng_mt19937_compact;
gsl_rng *rng_alloc_compact(void);

/* The compact generator's state, here only for the inline draws below (see
 * rng.c): out[next] is the next output, out[MT_OUT] means none is left. */
#define MT_N 624
#define MT_OUT 14
typedef struct mt_state {
    uint32_t next;        /* out[next] is the next output */
    uint32_t mti;         /* mt[mti] is the next word to temper */
    uint32_t out[MT_OUT]; /* tempered, ready to hand out */
    uint32_t mt[MT_N];
} mt_state;

/* Tempers the next outputs into out (seeding or regenerating first when
 * due). */
void rng_mt_refill(mt_state *st);

/* The compact generator's next 32-bit output (GSL's gsl_rng_get). */
static inline uint32_t rng_mt_u32(mt_state *st)
{
    if (st->next == MT_OUT)
        rng_mt_refill(st);
    return st->out[st->next++];
}

/* The compact generator's get_double: its next 32-bit output / 2^32. */
static inline double rng_mt_double(mt_state *st)
{
    return (double)rng_mt_u32(st) / 4294967296.0;
}

/* As rng_stream_create, into a gsl_rng the caller holds, typically inside
 * the entity's own hot state: a draw then reads the entity's line and the
 * generator's, where a separately allocated gsl_rng is one more cache miss
 * on the way. Returns 0, or -1 when out of memory (r->state is then NULL).
 * rng_stream_deinit frees what init allocated (NULL-safe for a zeroed r)
 * and leaves r->state NULL; never gsl_rng_free such a generator. */
int rng_stream_init(gsl_rng *r, uint64_t master, rng_kind kind, uint64_t index);
void rng_stream_deinit(gsl_rng *r);

#endif
