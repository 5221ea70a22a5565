#include "evaluator.h"

#include "../core/cpus.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Slots: enough that the submitting side seldom waits while the thread
 * keeps up on average (a thread just woken may take a while to be given a
 * core), few enough that the copies of w stay in cache: as many as fit in
 * EV_COPY_BYTES, a power of two between EV_MIN_SLOTS and EV_MAX_SLOTS. */
#define EV_MIN_SLOTS 16
#define EV_MAX_SLOTS 512
#define EV_COPY_BYTES (256 * 1024)

/* The thread is woken once per EV_BATCH submissions (or when the submitter
 * waits for a result), not per evaluation: evaluations come every few
 * microseconds in a fast run, too often for a system call each, and a
 * thread polling for them would take a whole core from whatever else the
 * machine runs. In bursts, it sleeps most of the time. */
#define EV_BATCH 16

/* How long the submitter polls for a result before it sleeps: about one
 * evaluation of a small model. */
#define EV_SPIN_NS 20000

/* The two threads write different cache lines: a line written by one and
 * read by the other moves between cores at every write, and two unrelated
 * values sharing a line would move it for nothing. */
#define LINE 64

/* A slot's state, with the number of the evaluation it holds, so that a
 * claim can never take a later evaluation in the same slot for the one it
 * meant: SUBMITTED, then CLAIMED by whichever thread evaluates it, then
 * DONE. Either thread may evaluate any submitted slot: the thread takes
 * them oldest first, the submitter (when it would otherwise wait) takes
 * the oldest if the thread has not yet, else the newest. */
enum { SUBMITTED = 1, CLAIMED = 2, DONE = 3 };
#define STATE(i, st) ((i) << 2 | (size_t)(st))

/* Written by whichever thread evaluated it, read by the submitter once
 * DONE. */
typedef struct ev_slot {
    _Alignas(LINE) atomic_size_t state;
    mdl_eval test;
    double train_loss;
} ev_slot;

/* Where a side sleeps when polling found nothing: a flag the other side
 * checks after it publishes, and a condition it signals under the lock. */
typedef struct ev_bell {
    _Alignas(LINE) atomic_int sleeping;
    pthread_mutex_t lock;
    pthread_cond_t cond;
} ev_bell;

struct evaluator {
    mdl *model;
    const ml_dataset *test, *train;
    size_t n_params;
    size_t stride;  /* doubles per copy of w, a whole number of lines */
    size_t n_slots; /* a power of two */
    double *w;      /* n_slots copies, written by the submitter */
    ev_slot *slots;
    size_t *tags; /* the submitter's own */

    /* Counters, never wrapping in practice: slot i % n_slots. */
    _Alignas(LINE) atomic_size_t submitted; /* written by the submitter */
    _Alignas(LINE) atomic_size_t finished;  /* evaluations the thread did */
    _Alignas(LINE) size_t collected;        /* the submitter's own */
    _Alignas(LINE) atomic_int stop;

    int avoid;    /* the submitter's core (cpus.h) */
    ev_bell work; /* the thread waits here for submissions */
    ev_bell done; /* the submitter waits here for results */
    pthread_t thread;
};

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int bell_init(ev_bell *b)
{
    atomic_init(&b->sleeping, 0);
    if (pthread_mutex_init(&b->lock, NULL))
        return -1;
    if (pthread_cond_init(&b->cond, NULL)) {
        pthread_mutex_destroy(&b->lock);
        return -1;
    }
    return 0;
}

static void bell_deinit(ev_bell *b)
{
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->lock);
}

/* Called after publishing: the sequentially consistent store before it and
 * the load here pair with bell_wait's store of `sleeping` and re-check, so
 * a sleeper either sees what was published or is woken. */
static void bell_ring(ev_bell *b)
{
    if (atomic_load(&b->sleeping)) {
        pthread_mutex_lock(&b->lock);
        pthread_cond_signal(&b->cond);
        pthread_mutex_unlock(&b->lock);
    }
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Waits until *counter > seen or stop is set. */
static void bell_wait(ev_bell *b, atomic_size_t *counter, size_t seen,
                      atomic_int *stop, int64_t spin_ns)
{
    int64_t until = now_ns() + spin_ns;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(counter, memory_order_acquire) > seen ||
            atomic_load_explicit(stop, memory_order_relaxed))
            return;
        cpu_relax();
        if (i % 64 == 0 && now_ns() > until)
            break;
    }
    pthread_mutex_lock(&b->lock);
    atomic_store(&b->sleeping, 1);
    while (atomic_load(counter) <= seen && !atomic_load(stop))
        pthread_cond_wait(&b->cond, &b->lock);
    atomic_store(&b->sleeping, 0);
    pthread_mutex_unlock(&b->lock);
}

static ev_slot *slot(evaluator *e, size_t i)
{
    return &e->slots[i & (e->n_slots - 1)];
}

/* Takes evaluation i if nobody has yet. */
static int claim(evaluator *e, size_t i)
{
    size_t want = STATE(i, SUBMITTED);
    return atomic_compare_exchange_strong_explicit(
        &slot(e, i)->state, &want, STATE(i, CLAIMED), memory_order_acquire,
        memory_order_relaxed);
}

/* Evaluates a claimed evaluation i and publishes it. */
static void evaluate(evaluator *e, size_t i)
{
    ev_slot *s = slot(e, i);
    const double *w = e->w + (i & (e->n_slots - 1)) * e->stride;
    s->test = e->model->ops->evaluate(e->model, w, e->test);
    s->train_loss =
        e->train ? e->model->ops->evaluate(e->model, w, e->train).loss : NAN;
    atomic_store_explicit(&s->state, STATE(i, DONE), memory_order_release);
}

static int is_done(evaluator *e, size_t i)
{
    return atomic_load_explicit(&slot(e, i)->state, memory_order_acquire) ==
           STATE(i, DONE);
}

static void *run(void *arg)
{
    evaluator *e = arg;
    cpus_avoid(e->avoid);
    size_t next = 0;
    for (;;) {
        bell_wait(&e->work, &e->submitted, next, &e->stop, 0);
        if (atomic_load(&e->stop))
            return NULL;
        size_t upto = atomic_load_explicit(&e->submitted, memory_order_acquire);
        for (; next < upto; next++) {
            if (!claim(e, next))
                continue; /* the submitter took it */
            evaluate(e, next);
            atomic_fetch_add(&e->finished, 1);
            bell_ring(&e->done);
        }
    }
}

static size_t slots_for(size_t stride)
{
    size_t n = EV_MAX_SLOTS;
    while (n > EV_MIN_SLOTS && n * stride * sizeof(double) > EV_COPY_BYTES)
        n /= 2;
    return n;
}

evaluator *evaluator_create(mdl *model, const ml_dataset *test,
                            const ml_dataset *train, size_t n_params)
{
    /* aligned_alloc wants a multiple of the alignment. */
    size_t size = (sizeof(evaluator) + LINE - 1) / LINE * LINE;
    evaluator *e = aligned_alloc(LINE, size);
    if (!e)
        return NULL;
    memset(e, 0, size);
    e->model = model;
    e->test = test;
    e->train = train;
    e->n_params = n_params;
    e->avoid = cpus_current();
    atomic_init(&e->submitted, 0);
    atomic_init(&e->finished, 0);
    atomic_init(&e->stop, 0);
    const size_t per_line = LINE / sizeof(double);
    e->stride = (n_params + per_line - 1) / per_line * per_line;
    if (e->stride == 0)
        e->stride = per_line;
    e->n_slots = slots_for(e->stride);
    double *w = aligned_alloc(LINE, e->n_slots * e->stride * sizeof *w);
    if (!w)
        goto fail_w;
    e->w = w;
    e->slots = aligned_alloc(LINE, e->n_slots * sizeof *e->slots);
    e->tags = malloc(e->n_slots * sizeof *e->tags);
    if (!e->slots || !e->tags)
        goto fail_slots;
    for (size_t i = 0; i < e->n_slots; i++)
        atomic_init(&e->slots[i].state, 0);
    if (bell_init(&e->work))
        goto fail_slots;
    if (bell_init(&e->done))
        goto fail_done;
    if (pthread_create(&e->thread, NULL, run, e))
        goto fail_thread;
    return e;
fail_thread:
    bell_deinit(&e->done);
fail_done:
    bell_deinit(&e->work);
fail_slots:
    free(e->tags);
    free(e->slots);
    free(w);
fail_w:
    free(e);
    return NULL;
}

int evaluator_full(const evaluator *e)
{
    return atomic_load_explicit(&e->submitted, memory_order_relaxed) -
               e->collected >=
           e->n_slots;
}

void evaluator_submit(evaluator *e, size_t tag, const double *w)
{
    size_t i = atomic_load_explicit(&e->submitted, memory_order_relaxed);
    size_t k = i & (e->n_slots - 1);
    memcpy(e->w + k * e->stride, w, e->n_params * sizeof *w);
    e->tags[k] = tag;
    atomic_store_explicit(&e->slots[k].state, STATE(i, SUBMITTED),
                          memory_order_relaxed);
    atomic_store(&e->submitted, i + 1);
    if ((i + 1) % EV_BATCH == 0)
        bell_ring(&e->work);
}

/* Waits for evaluation i, evaluating on this thread rather than idling:
 * i itself when the thread has not taken it yet (it is behind, or has no
 * core), else the newest ones the thread has not reached. */
static void finish(evaluator *e, size_t i)
{
    if (claim(e, i)) {
        evaluate(e, i);
        return;
    }
    size_t newest = atomic_load_explicit(&e->submitted, memory_order_relaxed);
    while (!is_done(e, i)) {
        while (newest > i + 1 && !claim(e, newest - 1))
            newest--;
        if (newest > i + 1) {
            evaluate(e, --newest);
            continue;
        }
        bell_ring(&e->work); /* the batch may not be full */
        size_t seen = atomic_load(&e->finished);
        if (!is_done(e, i))
            bell_wait(&e->done, &e->finished, seen, &e->stop, EV_SPIN_NS);
    }
}

int evaluator_next(evaluator *e, int wait, ev_result *r)
{
    size_t i = e->collected;
    if (i == atomic_load_explicit(&e->submitted, memory_order_relaxed))
        return 0;
    if (!is_done(e, i)) {
        if (!wait)
            return 0;
        finish(e, i);
    }
    size_t k = i & (e->n_slots - 1);
    const ev_slot *s = &e->slots[k];
    *r = (ev_result){
        .tag = e->tags[k], .test = s->test, .train_loss = s->train_loss};
    e->collected = i + 1;
    return 1;
}

void evaluator_destroy(evaluator *e)
{
    if (!e)
        return;
    atomic_store(&e->stop, 1);
    pthread_mutex_lock(&e->work.lock);
    pthread_cond_signal(&e->work.cond);
    pthread_mutex_unlock(&e->work.lock);
    pthread_join(e->thread, NULL);
    bell_deinit(&e->done);
    bell_deinit(&e->work);
    free(e->tags);
    free(e->slots);
    free(e->w);
    free(e);
}
