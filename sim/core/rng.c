#include "rng.h"

#include <stddef.h>
#include <stdlib.h>

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

/* ---- MT19937, compact -----------------------------------------------------
 *
 * GSL's mt19937 keeps its 624 words as unsigned long (8 bytes each on LP64)
 * with the index after them: 5 KB per generator, and a draw reads the index
 * from the last line and the word from another. A run with thousands of
 * workers owns thousands of generators, each drawn a few times between long
 * pauses, so every draw was two cache misses. Here the words are 32-bit (the
 * algorithm never sets a higher bit), and the first cache line holds the
 * index and the next few tempered outputs: a draw reads that one line, and
 * the words are read a line at a time when the outputs run out. Seeding is
 * deferred to the first draw, where the words are generated anyway, so a
 * generator never drawn from costs no seeding and the fresh state is still
 * in cache when it is first regenerated. Outputs are the same as GSL's for
 * every seed (tests/test_rng.c checks them draw by draw). */

/* MT_N, MT_OUT and the state (mt_state) are in rng.h, for the inline draw
 * there. */
#define MT_M 397
/* mti of a generator whose seed waits in out[0]. */
#define MT_UNSEEDED UINT32_MAX

_Static_assert(offsetof(mt_state, mt) == 64, "the header is one line");

static void mt_set(void *vs, unsigned long s)
{
    mt_state *st = vs;
    /* As GSL: 0 stands for its default seed 4357, and only the low 32 bits
     * of any other seed count. */
    st->out[0] = (uint32_t)(s ? s : 4357);
    st->mti = MT_UNSEEDED;
    st->next = MT_OUT;
}

static void mt_seed(mt_state *st)
{
    uint32_t *mt = st->mt;
    mt[0] = st->out[0];
    for (uint32_t i = 1; i < MT_N; i++)
        mt[i] = 1812433253u * (mt[i - 1] ^ (mt[i - 1] >> 30)) + i;
}

static inline uint32_t twist(uint32_t a, uint32_t b, uint32_t far)
{
    uint32_t y = (a & 0x80000000u) | (b & 0x7fffffffu);
    return far ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
}

static void mt_generate(uint32_t *mt)
{
    int k = 0;
    for (; k < MT_N - MT_M; k++)
        mt[k] = twist(mt[k], mt[k + 1], mt[k + MT_M]);
    for (; k < MT_N - 1; k++)
        mt[k] = twist(mt[k], mt[k + 1], mt[k + MT_M - MT_N]);
    mt[MT_N - 1] = twist(mt[MT_N - 1], mt[0], mt[MT_M - 1]);
}

static inline uint32_t temper(uint32_t k)
{
    k ^= k >> 11;
    k ^= (k << 7) & 0x9d2c5680u;
    k ^= (k << 15) & 0xefc60000u;
    return k ^ (k >> 18);
}

/* Tempers the next words into the end of out, never past the end of a
 * generation, so that out[next] continues the sequence. */
void rng_mt_refill(mt_state *st)
{
    if (st->mti == MT_UNSEEDED) {
        mt_seed(st);
        st->mti = MT_N;
    }
    if (st->mti == MT_N) {
        mt_generate(st->mt);
        st->mti = 0;
    }
    uint32_t n = MT_N - st->mti < MT_OUT ? MT_N - st->mti : MT_OUT;
    uint32_t first = MT_OUT - n;
    for (uint32_t i = 0; i < n; i++)
        st->out[first + i] = temper(st->mt[st->mti + i]);
    st->mti += n;
    st->next = first;
}

static unsigned long mt_get(void *vs)
{
    mt_state *st = vs;
    if (st->next == MT_OUT)
        rng_mt_refill(st);
    return st->out[st->next++];
}

static double mt_get_double(void *vs)
{
    return rng_mt_double(vs);
}

static const gsl_rng_type mt_type = {
    .name = "mt19937 (compact)",
    .max = 0xffffffffUL,
    .min = 0,
    .size = sizeof(mt_state),
    .set = mt_set,
    .get = mt_get,
    .get_double = mt_get_double,
};

const gsl_rng_type *rng_mt19937_compact = &mt_type;

/* The compact state, aligned so that its header is one cache line. */
static void *state_alloc(void)
{
    void *state = NULL;
    return posix_memalign(&state, 64, sizeof(mt_state)) ? NULL : state;
}

gsl_rng *rng_alloc_compact(void)
{
    /* Not gsl_rng_alloc, whose calloc aligns to 16 only. gsl_rng_free
     * frees the state and then the generator with free(), which suits
     * this allocation too. */
    gsl_rng *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    if (!(r->state = state_alloc())) {
        free(r);
        return NULL;
    }
    r->type = &mt_type;
    gsl_rng_set(r, gsl_rng_default_seed);
    return r;
}

/* mt19937 takes an unsigned long seed and treats 0 as its default 4357;
 * fold to 32 bits the way GSL would and avoid the 0 alias. */
static unsigned long stream_seed32(uint64_t master, rng_kind kind,
                                   uint64_t index)
{
    unsigned long s =
        (unsigned long)(rng_stream_seed(master, kind, index) & 0xffffffffUL);
    return s ? s : 1;
}

gsl_rng *rng_stream_create(uint64_t master, rng_kind kind, uint64_t index)
{
    gsl_rng *r = rng_alloc_compact();
    if (r)
        gsl_rng_set(r, stream_seed32(master, kind, index));
    return r;
}

int rng_stream_init(gsl_rng *r, uint64_t master, rng_kind kind, uint64_t index)
{
    r->type = &mt_type;
    if (!(r->state = state_alloc()))
        return -1;
    gsl_rng_set(r, stream_seed32(master, kind, index));
    return 0;
}

void rng_stream_deinit(gsl_rng *r)
{
    free(r->state);
    r->state = NULL;
}
