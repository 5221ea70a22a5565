#include "bgstore.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Rows per hand-over: one multi-row INSERT's worth (store.c), and few
 * enough hand-overs (a lock and a wake-up each) for a run that records
 * thousands of rows a millisecond. */
#define BLOCK_ROWS 64

typedef struct block {
    struct block *next;
    db_metric rows[BLOCK_ROWS];
} block;

struct bg_store {
    /* What to open and begin: read by the thread. */
    const char *path;
    unsigned flags;
    db_run_info info;
    size_t expected;

    /* The thread's results, read after pthread_join. */
    db_store *db;
    int64_t run_id;
    size_t written;
    int rc;
    sim_err err;

    atomic_int failed;

    /* The caller's own: the block being filled; stopped when a block
     * could not be had, so that what was handed over stays the first
     * rows. */
    block *filling;
    size_t n_filling;
    int stopped;

    /* Under lock: full blocks not yet taken by the thread, oldest first. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    block *head, *tail;
    int closing;

    pthread_t thread;
};

static void fail(bg_store *b, int rc)
{
    b->rc = rc;
    atomic_store(&b->failed, 1);
}

static void open_and_begin(bg_store *b)
{
    int rc = db_open_with(b->path, b->flags, &b->db, &b->err);
    if (rc == 0)
        rc = db_run_begin(b->db, &b->info, &b->run_id, &b->err);
    if (rc == 0)
        rc = db_prepare_metrics(b->db, b->expected, &b->err);
    if (rc == 0)
        rc = db_batch_begin(b->db, &b->err);
    if (rc)
        fail(b, rc);
}

/* Takes the blocks handed over so far; NULL once closing with none left. */
static block *take(bg_store *b)
{
    pthread_mutex_lock(&b->lock);
    while (!b->head && !b->closing)
        pthread_cond_wait(&b->cond, &b->lock);
    block *list = b->head;
    b->head = b->tail = NULL;
    pthread_mutex_unlock(&b->lock);
    return list;
}

static void *run(void *arg)
{
    bg_store *b = arg;
    open_and_begin(b);
    for (block *list; (list = take(b));) {
        while (list) {
            block *next = list->next;
            if (b->rc == 0) {
                int rc = db_run_add_metrics(b->db, b->run_id, list->rows,
                                            BLOCK_ROWS, &b->err);
                if (rc)
                    fail(b, rc);
                else
                    b->written += BLOCK_ROWS;
            }
            free(list);
            list = next;
        }
    }
    return NULL;
}

bg_store *bg_store_start(const char *path, unsigned flags,
                         const db_run_info *info, size_t expected_metrics)
{
    bg_store *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->path = path;
    b->flags = flags;
    b->info = *info;
    b->expected = expected_metrics;
    atomic_init(&b->failed, 0);
    if (pthread_mutex_init(&b->lock, NULL))
        goto no_lock;
    if (pthread_cond_init(&b->cond, NULL))
        goto no_cond;
    if (pthread_create(&b->thread, NULL, run, b))
        goto no_thread;
    return b;
no_thread:
    pthread_cond_destroy(&b->cond);
no_cond:
    pthread_mutex_destroy(&b->lock);
no_lock:
    free(b);
    return NULL;
}

const atomic_int *bg_store_failed(const bg_store *b)
{
    return &b->failed;
}

void bg_store_metric(bg_store *b, const db_metric *m)
{
    if (b->stopped || atomic_load_explicit(&b->failed, memory_order_relaxed))
        return; /* nothing more will be written */
    if (!b->filling) {
        b->filling = malloc(sizeof *b->filling);
        if (!b->filling) {
            b->stopped = 1; /* the caller's db_run_finish writes the rest */
            return;
        }
        b->n_filling = 0;
    }
    b->filling->rows[b->n_filling++] = *m;
    if (b->n_filling < BLOCK_ROWS)
        return;
    block *full = b->filling;
    full->next = NULL;
    b->filling = NULL;
    pthread_mutex_lock(&b->lock);
    if (b->tail)
        b->tail->next = full;
    else
        b->head = full;
    b->tail = full;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

int bg_store_join(bg_store *b, db_store **db, int64_t *run_id, size_t *written,
                  sim_err *err)
{
    pthread_mutex_lock(&b->lock);
    b->closing = 1;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
    pthread_join(b->thread, NULL);
    free(b->filling);
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->lock);

    int rc = b->rc;
    *db = NULL;
    if (rc) {
        *err = b->err;
        db_batch_rollback(b->db);
        db_close(b->db);
    } else {
        *db = b->db;
        *run_id = b->run_id;
        *written = b->written;
    }
    free(b);
    return rc;
}
