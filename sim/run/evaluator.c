#include "evaluator.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Enough slots that the submitting side never waits while the evaluator
 * keeps up on average, few enough that the copies stay in cache. */
#define EV_SLOTS 64

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

/* Written by the evaluator thread, read by the submitter once finished. */
typedef struct ev_slot {
    _Alignas(LINE) mdl_eval test;
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
    size_t stride; /* doubles per copy of w, a whole number of lines */
    double *w;     /* EV_SLOTS copies, written by the submitter */
    ev_slot slots[EV_SLOTS];

    /* Counters, never wrapping in practice: slot i % EV_SLOTS. */
    _Alignas(LINE) atomic_size_t submitted; /* written by the submitter */
    _Alignas(LINE) atomic_size_t finished;  /* by the evaluator thread */
    _Alignas(LINE) size_t collected;        /* the submitter's own */
    size_t tags[EV_SLOTS];                  /* the submitter's own */
    _Alignas(LINE) atomic_int stop;

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

static void *run(void *arg)
{
    evaluator *e = arg;
    size_t next = 0;
    for (;;) {
        bell_wait(&e->work, &e->submitted, next, &e->stop, 0);
        if (atomic_load(&e->stop))
            return NULL;
        size_t upto = atomic_load_explicit(&e->submitted, memory_order_acquire);
        for (; next < upto; next++) {
            ev_slot *s = &e->slots[next % EV_SLOTS];
            const double *w = e->w + next % EV_SLOTS * e->stride;
            s->test = e->model->ops->evaluate(e->model, w, e->test);
            s->train_loss =
                e->train ? e->model->ops->evaluate(e->model, w, e->train).loss
                         : NAN;
            atomic_store(&e->finished, next + 1);
            bell_ring(&e->done);
        }
    }
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
    atomic_init(&e->submitted, 0);
    atomic_init(&e->finished, 0);
    atomic_init(&e->stop, 0);
    const size_t per_line = LINE / sizeof(double);
    e->stride = (n_params + per_line - 1) / per_line * per_line;
    if (e->stride == 0)
        e->stride = per_line;
    double *w = aligned_alloc(LINE, EV_SLOTS * e->stride * sizeof *w);
    if (!w)
        goto fail_w;
    e->w = w;
    if (bell_init(&e->work))
        goto fail_work;
    if (bell_init(&e->done))
        goto fail_done;
    if (pthread_create(&e->thread, NULL, run, e))
        goto fail_thread;
    return e;
fail_thread:
    bell_deinit(&e->done);
fail_done:
    bell_deinit(&e->work);
fail_work:
    free(w);
fail_w:
    free(e);
    return NULL;
}

int evaluator_full(const evaluator *e)
{
    return atomic_load_explicit(&e->submitted, memory_order_relaxed) -
               e->collected >=
           EV_SLOTS;
}

void evaluator_submit(evaluator *e, size_t tag, const double *w)
{
    size_t i = atomic_load_explicit(&e->submitted, memory_order_relaxed);
    memcpy(e->w + i % EV_SLOTS * e->stride, w, e->n_params * sizeof *w);
    e->tags[i % EV_SLOTS] = tag;
    atomic_store(&e->submitted, i + 1);
    if ((i + 1) % EV_BATCH == 0)
        bell_ring(&e->work);
}

int evaluator_next(evaluator *e, int wait, ev_result *r)
{
    size_t i = e->collected;
    if (i == atomic_load_explicit(&e->submitted, memory_order_relaxed))
        return 0;
    if (atomic_load_explicit(&e->finished, memory_order_acquire) <= i) {
        if (!wait)
            return 0;
        bell_ring(&e->work); /* the batch may not be full */
        bell_wait(&e->done, &e->finished, i, &e->stop, EV_SPIN_NS);
    }
    const ev_slot *s = &e->slots[i % EV_SLOTS];
    *r = (ev_result){.tag = e->tags[i % EV_SLOTS],
                     .test = s->test,
                     .train_loss = s->train_loss};
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
    free(e->w);
    free(e);
}
