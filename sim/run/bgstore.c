#include "bgstore.h"

#include "../core/cpus.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Rows per hand-over (a lock and a wake-up each, and one INSERT statement):
 * few enough for a run that records thousands of rows a millisecond, and
 * the rows reach the file while the run goes on rather than at its end. */
#define BLOCK_ROWS 64

typedef struct block {
    struct block *next;
    db_metric rows[BLOCK_ROWS];
} block;

/* What the caller has said of the run's input. */
enum { WAITING, BEGIN, ABANDON };

struct bg_store {
    /* What to open: read by the thread. */
    const char *path;
    unsigned flags;
    int avoid; /* the caller's core (cpus.h) */

    /* The thread's results, read after pthread_join. */
    db_store *db;
    int created; /* the thread created the file at path */
    int begun;   /* the run's row is committed */
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

    /* Under lock: the caller's word on the input (and, with BEGIN, the run
     * to begin), and the full blocks not yet taken by the thread, oldest
     * first. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int input;
    db_run_info info;
    block *head, *tail;
    int closing;

    pthread_t thread;
};

static void fail(bg_store *b, int rc)
{
    b->rc = rc;
    atomic_store(&b->failed, 1);
}

static void open_db(bg_store *b)
{
    int rc = db_open_with(b->path, b->flags, &b->db, &b->err);
    if (rc)
        fail(b, rc);
}

static void begin(bg_store *b)
{
    int rc = db_run_begin(b->db, &b->info, &b->run_id, &b->err);
    b->begun = rc == 0;
    if (rc == 0)
        rc = db_batch_begin(b->db, &b->err);
    if (rc)
        fail(b, rc);
}

static void remove_created(bg_store *b)
{
    if (!b->created)
        return;
    /* Closing the last connection removed the journal files already; these
     * are for a close that could not. */
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        char p[4096];
        if (snprintf(p, sizeof p, "%s%s", b->path, suffix[i]) < (int)sizeof p)
            (void)unlink(p);
    }
}

static int wait_for_input(bg_store *b)
{
    pthread_mutex_lock(&b->lock);
    while (b->input == WAITING)
        pthread_cond_wait(&b->cond, &b->lock);
    int input = b->input;
    pthread_mutex_unlock(&b->lock);
    return input;
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
    cpus_avoid(b->avoid);
    /* Only a file that does not exist yet is written before the input is
     * known good: the thread created it, so nothing is lost by removing it
     * should the input be bad. */
    int fd = open(b->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
        close(fd);
        b->created = 1;
        open_db(b);
    }
    if (wait_for_input(b) == ABANDON)
        return NULL;
    if (!b->created)
        open_db(b);
    if (b->rc == 0)
        begin(b);
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

bg_store *bg_store_start(const char *path, unsigned flags)
{
    bg_store *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->path = path;
    b->flags = flags;
    b->avoid = cpus_current();
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

void bg_store_begin(bg_store *b, const db_run_info *info)
{
    pthread_mutex_lock(&b->lock);
    b->info = *info;
    b->input = BEGIN;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

/* Joins the thread and releases what only the thread and b held. */
static void finish(bg_store *b)
{
    pthread_join(b->thread, NULL);
    free(b->filling);
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->lock);
}

void bg_store_abandon(bg_store *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    b->input = ABANDON;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
    finish(b);
    db_close(b->db);
    remove_created(b);
    free(b);
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
    finish(b);

    int rc = b->rc;
    *db = NULL;
    if (rc) {
        *err = b->err;
        db_batch_rollback(b->db);
        db_close(b->db);
        /* A run begun stays in the file, 'running', as it would had the
         * writing failed in line. */
        if (!b->begun)
            remove_created(b);
    } else {
        *db = b->db;
        *run_id = b->run_id;
        *written = b->written;
    }
    free(b);
    return rc;
}
