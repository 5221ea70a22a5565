/* limits.c: the cost of a run, estimated before it runs (see limits.h).
 *
 * The figures below were measured on the release build (README,
 * "Resource limits"): the post's SSGD run (a 569-row data set) peaks at
 * about 7 MB; each worker adds about 12 KB (its random streams, its batch,
 * its slot in the network and the output: 16,000 workers took 195 MB more
 * than one); a directed link of a fully connected network about 170 bytes.
 * The estimate rounds each up. */
#include "limits.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef HAVE_ZLIB
#include <zlib.h>
#endif

#include "../io/store.h"

#define BASE_BYTES (8.0 * 1024 * 1024)
#define WORKER_BYTES (16.0 * 1024)
#define LINK_BYTES 256.0
/* Events one model-sized message costs the loop: its arrival, and with
 * max-min sharing the flow's start and end (measured: 1 without
 * contention, 1.3 to 2.5 with it). */
#define EVENTS_PER_MESSAGE 1.0
#define EVENTS_PER_FLOW 2.5
/* Rows of the MLP's scratch (sim/ml/mlp.c BLOCK). */
#define MODEL_BLOCK 64.0
/* What the first bytes of a text file are sampled for. */
#define SAMPLE_BYTES 65536

double rn_physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? (double)pages * (double)size : 0;
}

double rn_default_max_memory(void)
{
    double phys = rn_physical_memory();
    return phys > 0 ? phys / 2 : 8.0 * 1024 * 1024 * 1024;
}

double rn_max_memory(const rn_limits *l)
{
    return l && l->max_memory > 0 ? l->max_memory : rn_default_max_memory();
}

/* Why the limit is what it is, for messages. */
static const char *limit_origin(const rn_limits *l)
{
    return l && l->max_memory > 0 ? "--max-memory" : "half the physical memory";
}

/* ------------------------------------------------------------ data */

/* A file's first bytes (decompressed when gzip) into buf, and the size of
 * its whole content: the file's size, or for gzip the size its trailer
 * gives (modulo 4 GiB, as gzip stores it; never less than what was read).
 * -1 when it cannot be read: the loader then says why. */
static int sample_file(const char *path, unsigned char *buf, size_t cap,
                       size_t *got, double *total)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return -1;
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    unsigned char magic[2] = {0};
    size_t m = fread(magic, 1, 2, f);
    *total = (double)st.st_size;
    int gz = m == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    if (gz && st.st_size >= 18 && fseek(f, -4, SEEK_END) == 0) {
        unsigned char t[4];
        if (fread(t, 1, 4, f) == 4)
            *total = (double)((uint32_t)t[0] | (uint32_t)t[1] << 8 |
                              (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24);
        /* A trailer may lie; deflate expands at most 1032-fold. */
        if (*total > 1032.0 * (double)st.st_size)
            *total = 1032.0 * (double)st.st_size;
    }
    fclose(f);
#ifdef HAVE_ZLIB
    gzFile z = gzopen(path, "rb");
    if (!z)
        return -1;
    int n = gzread(z, buf, (unsigned)cap);
    gzclose(z);
    *got = n > 0 ? (size_t)n : 0;
#else
    f = fopen(path, "rb");
    if (!f)
        return -1;
    *got = fread(buf, 1, cap, f);
    fclose(f);
#endif
    if (*total < (double)*got)
        *total = (double)*got;
    return 0;
}

/* Text data: values (or LIBSVM entries) per byte from the first 64 KB,
 * extrapolated to the whole file. A dense double costs 8 bytes; loading
 * holds the whole data set and its train/test copies at once (twice the
 * matrix) plus the file's text. */
static double text_bytes(const char *path, int libsvm)
{
    static unsigned char buf[SAMPLE_BYTES];
    size_t got = 0;
    double total = 0;
    if (sample_file(path, buf, sizeof buf, &got, &total) || got == 0)
        return 0;
    /* Integer counts and one loop per kind, which the compiler vectorises:
     * this runs before every run, however small. */
    size_t n_lines = 0, n_items = 0;
    for (size_t i = 0; i < got; i++)
        n_lines += buf[i] == '\n';
    if (libsvm) {
        for (size_t i = 0; i < got; i++)
            n_items += buf[i] == ':';
    } else {
        for (size_t i = 0; i < got; i++)
            n_items += buf[i] == ',';
        n_items += n_lines;
    }
    double scale = total / (double)got;
    double items = ((double)n_items + 1) * scale;
    double lines = ((double)n_lines + 1) * scale;
    if (libsvm) /* the sparse entries (index, value) and rows; the dense
                   matrix is the loader's to refuse (opts.max_bytes) */
        return total + items * 16 + lines * 16;
    return total + 2 * items * 8 + lines * 16;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* An IDX file from its header: items x values per item, one byte each on
 * disk, 8 as doubles, held `copies` times at once (twice while a split
 * copies them; once when the data set has its own test set). */
static double idx_bytes(const char *path, double copies)
{
    unsigned char h[4 + 4 * 8];
    size_t got = 0;
    double total = 0;
    if (!path || sample_file(path, h, sizeof h, &got, &total) || got < 8)
        return 0;
    unsigned dims = h[3];
    if (dims == 0 || dims > 8 || got < 4 + 4 * (size_t)dims)
        return 0;
    double values = 1;
    for (unsigned i = 0; i < dims; i++)
        values *= be32(h + 4 + 4 * i);
    return total + copies * values * 8;
}

static double data_bytes(const cfg_experiment *cfg)
{
    switch (cfg->data.format) {
    case CFG_FORMAT_CSV:
        return text_bytes(cfg->data.resolved_path, 0);
    case CFG_FORMAT_LIBSVM:
        return text_bytes(cfg->data.resolved_path, 1);
    case CFG_FORMAT_IDX: {
        double copies = cfg->data.test_images_resolved ? 1 : 2;
        return idx_bytes(cfg->data.images_resolved, copies) +
               idx_bytes(cfg->data.labels_resolved, copies) +
               idx_bytes(cfg->data.test_images_resolved, 1) +
               idx_bytes(cfg->data.test_labels_resolved, 1);
    }
    case CFG_FORMAT_SYNTHETIC: {
        double n = (double)cfg->data.synth.n, d = (double)cfg->data.synth.d;
        return 2 * n * (d + 2) * 8;
    }
    }
    return 0;
}

int rn_check_data(const cfg_experiment *cfg, const rn_limits *l, sim_err *err)
{
    double need = BASE_BYTES + data_bytes(cfg), limit = rn_max_memory(l);
    if (need <= limit)
        return 0;
    char a[32], b[32];
    sim_format_bytes(need, a, sizeof a);
    sim_format_bytes(limit, b, sizeof b);
    const char *file = cfg->data.format == CFG_FORMAT_IDX ? cfg->data.images
                       : cfg->data.path                   ? cfg->data.path
                                                          : "$.data";
    return sim_err_set(err, SIM_ECONFIG,
                       "%s: loading the data (%s) needs about %s of memory, "
                       "above the limit of %s (%s); raise it with "
                       "--max-memory SIZE",
                       cfg->source_path, file, a, b, limit_origin(l));
}

/* ------------------------------------------------------------ a run */

static double dataset_bytes(const ml_dataset *ds)
{
    return ds ? (double)ds->X->size1 * (double)ds->X->tda * 8 +
                    (double)ds->n * 8
              : 0;
}

int rn_estimate_run(const cfg_experiment *cfg, const alg_ops *ops,
                    const eng_data *d, rn_estimate *e, sim_err *err)
{
    memset(e, 0, sizeof *e);
    int rc = eng_model_size(cfg, d, &e->n_params, err);
    if (rc)
        return rc;
    double K = cfg->cluster.workers, n = (double)e->n_params;
    double rows = (double)d->train->n / K;
    alg_cost c = {.copies = 4 * K + 4, .computes = K, .messages = 2 * K};
    if (ops->cost)
        ops->cost(cfg, rows, &c);
    /* The engine's: a payload per message in flight (each node has at most
     * one in flight to each peer it talks to: 2K + 2 bounds them), and with
     * compression a codec per sending node (value, index and rank arrays:
     * 4 copies) and top-k's residuals per directed pair with the server. */
    double engine = c.messages > 0 ? 2 * K + 2 : 0;
    if (cfg->network.compression.codec != CFG_CODEC_NONE)
        engine += 4 * (K + 1);
    if (cfg->network.compression.codec == CFG_CODEC_TOPK)
        engine += 2 * K;
    e->copies = c.copies + engine;
    /* The MLP's scratch: MODEL_BLOCK rows of every layer's width, plus two
     * of the widest. */
    double widths = (double)d->train->d + (double)(d->n_classes + 2),
           widest = widths;
    for (size_t i = 0; i < cfg->model.n_hidden; i++) {
        widths += (double)cfg->model.hidden[i];
        if ((double)cfg->model.hidden[i] > widest)
            widest = (double)cfg->model.hidden[i];
    }
    e->model_bytes =
        e->copies * n * 8 + MODEL_BLOCK * (widths + 2 * widest) * 8;
    /* Splitting one data set holds it and its train/test copies at once;
     * a data set that comes with its own test set (IDX) is not split, and
     * partitions reorder in place. Each worker's batch holds up to its
     * rows' indices. */
    double loaded = dataset_bytes(d->train) + dataset_bytes(d->test);
    int split =
        !(cfg->data.format == CFG_FORMAT_IDX && cfg->data.test_images_resolved);
    e->data_bytes = (split ? 2 : 1) * loaded + (double)d->train->n * 8;
    e->worker_bytes = K * WORKER_BYTES;
    e->net_bytes = (double)cfg_network_links(cfg) * LINK_BYTES;

    e->steps = (double)cfg->algorithm.rounds;
    double per_message =
        cfg->network.contention ? EVENTS_PER_FLOW : EVENTS_PER_MESSAGE;
    e->events = e->steps * (c.computes + c.messages * per_message);
    /* Rows kept until the run is stored, in arrays that grow by doubling:
     * a metrics row per evaluation (with every_seconds alone the number is
     * not known in advance and is not counted), the timeline when asked
     * (about one row per event). */
    double evals = cfg->evaluation.every > 0
                       ? e->steps / (double)cfg->evaluation.every + 2
                       : 2;
    e->output_bytes = 2 * evals * sizeof(db_metric);
    /* The staleness histograms' buffer: two 8-byte keys per update, up to
     * 2^20 updates (staleness.c); at most one update per worker and step. */
    double updates = e->steps * K;
    e->output_bytes += 16 * (updates < 1048576.0 ? updates : 1048576.0);
    if (cfg->output.events)
        e->output_bytes += 2 * e->events * sizeof(db_event);
    e->base_bytes = BASE_BYTES;
    e->total_bytes = e->base_bytes + e->model_bytes + e->data_bytes +
                     e->worker_bytes + e->net_bytes + e->output_bytes;
    return 0;
}

int rn_check_estimate(const cfg_experiment *cfg, const rn_estimate *e,
                      const rn_limits *l, sim_err *err)
{
    double limit = rn_max_memory(l);
    if (e->total_bytes > limit) {
        char total[32], lim[32], model[32], data[32], rows[32];
        sim_format_bytes(e->total_bytes, total, sizeof total);
        sim_format_bytes(limit, lim, sizeof lim);
        sim_format_bytes(e->model_bytes, model, sizeof model);
        sim_format_bytes(e->data_bytes, data, sizeof data);
        /* The rows a run keeps until it is stored can be the whole need
         * (an evaluation every step of a long run), so they are named. */
        sim_format_bytes(e->output_bytes, rows, sizeof rows);
        return sim_err_set(
            err, SIM_ECONFIG,
            "%s: needs about %s of memory (models %s: %d workers, %zu "
            "parameters, %.0f copies; data %s; result rows %s), above the "
            "limit of %s (%s); raise it with --max-memory SIZE",
            cfg->source_path, total, model, cfg->cluster.workers, e->n_params,
            e->copies, data, rows, lim, limit_origin(l));
    }
    if (e->events > RN_MAX_EVENTS && !(l && l->force))
        return sim_err_set(err, SIM_ECONFIG,
                           "%s: about %.3g events (%.15g steps of %d "
                           "workers), more than %.0e: it would run for hours "
                           "to days; --force runs it anyway",
                           cfg->source_path, e->events, e->steps,
                           cfg->cluster.workers, RN_MAX_EVENTS);
    return 0;
}
