/* evaluator.h: evaluates models on a second thread, in submission order.
 *
 * A run evaluates its model after every round or every few updates, and the
 * evaluation is a pure function of a copy of w: nothing in the simulation
 * waits on its result unless the loss might not be finite (see
 * mdl_ops.finite_below). The engine hands such evaluations here and goes on
 * simulating; results come back in the order they were submitted and are
 * bit-identical to evaluating on the calling thread.
 *
 * One thread submits and collects (the engine's); the evaluator's own thread
 * only evaluates, woken for batches of submissions, so that it costs one
 * system call per batch and no polling. A collector that would have to
 * wait evaluates instead: the oldest evaluation if the thread has not taken
 * it yet, else the newest ones, so that a thread kept from its core (a
 * busy machine, or a scheduler that packs threads onto one core) slows the
 * run no more than evaluating in line would. */
#ifndef DTSIM_RUN_EVALUATOR_H
#define DTSIM_RUN_EVALUATOR_H

#include <stddef.h>

#include "../ml/model.h"

typedef struct evaluator evaluator;

typedef struct ev_result {
    size_t tag;        /* as submitted */
    mdl_eval test;     /* evaluate(w, test) */
    double train_loss; /* evaluate(w, train).loss, or NaN without train */
} ev_result;

/* Starts the thread. train may be NULL (no train loss). The model's
 * evaluate must read nothing the caller writes while the evaluator lives,
 * and may run on both threads at once.
 * Returns NULL when memory or a thread cannot be had; the caller then
 * evaluates on its own thread. */
evaluator *evaluator_create(mdl *model, const ml_dataset *test,
                            const ml_dataset *train, size_t n_params);

/* 1 when every slot holds an evaluation not yet collected: collect one
 * (evaluator_next with wait) before submitting. */
int evaluator_full(const evaluator *e);

/* Copies w[0..n_params-1] and queues its evaluation. Not when full. */
void evaluator_submit(evaluator *e, size_t tag, const double *w);

/* The oldest uncollected result: returns 1 and fills *r when it is ready
 * (or, with wait, once it is), 0 when none is pending (or, without wait,
 * the oldest is not finished yet). */
int evaluator_next(evaluator *e, int wait, ev_result *r);

/* Stops and joins the thread; pending results are dropped. NULL-safe. */
void evaluator_destroy(evaluator *e);

#endif
