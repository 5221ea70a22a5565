/* config.h: one experiment, read from JSON, validated, defaults filled.
 *
 * cfg_load parses a file with cJSON, applies --set overrides, checks every
 * field (type, range, unknown and duplicate keys) and fills a plain
 * cfg_experiment. No cJSON pointer outlives the call. Every error message
 * names the file and the JSON path and says what was expected, e.g.
 *   configs/x.json: $.network.bandwidth: expected a bandwidth > 0 ("10Gbps"),
 * got -5 and a syntax error names file:line:col.
 *
 * The algorithm section is validated against parameter specs that the caller
 * passes in (the algorithm registry), so this layer never includes an
 * algorithm. Ownership: the caller frees a loaded experiment with
 * cfg_experiment_free; strings returned by cfg_experiment_to_json are freed
 * with free(). */
#ifndef DTSIM_CONFIG_H
#define DTSIM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"

/* ---- algorithm parameter specs (supplied by the registry) ---- */

typedef enum cfg_param_type {
    CFG_PARAM_NUMBER, /* double within [min, max] */
    CFG_PARAM_INT,    /* integer within [min, max] */
    CFG_PARAM_BOOL,   /* stored as 0 or 1 */
    CFG_PARAM_CHOICE  /* a string from choices; stored as its index */
} cfg_param_type;

typedef struct cfg_param_spec {
    const char *name;
    cfg_param_type type;
    double min, max;            /* inclusive bounds for NUMBER and INT */
    double def;                 /* default value (index for CHOICE) */
    const char *const *choices; /* NULL-terminated, CHOICE only */
    const char *help;           /* one line for `dtsim list` */
} cfg_param_spec;

typedef struct cfg_algorithm_spec {
    const char *name;
    const char *summary;
    const cfg_param_spec *params;
    size_t n_params;
    /* The algorithm has no parameter server: the network holds the workers
     * only (decentralised algorithms such as D-PSGD). */
    int serverless;
} cfg_algorithm_spec;

#define CFG_MAX_ALG_PARAMS 16

/* ---- the experiment ---- */

typedef enum cfg_split_kind {
    CFG_SPLIT_FRACTION,
    CFG_SPLIT_FILE
} cfg_split_kind;
/* In ml_partition_kind order (sim/ml/partition.h), which the engine relies
 * on. */
typedef enum cfg_partition {
    CFG_PARTITION_CONTIGUOUS,
    CFG_PARTITION_IID,
    CFG_PARTITION_SHARDS,
    CFG_PARTITION_DIRICHLET
} cfg_partition;
typedef enum cfg_data_format {
    CFG_FORMAT_CSV,
    CFG_FORMAT_LIBSVM,
    CFG_FORMAT_IDX,
    CFG_FORMAT_SYNTHETIC
} cfg_data_format;
typedef enum cfg_scale {
    CFG_SCALE_NONE,
    CFG_SCALE_STANDARDIZE,
    CFG_SCALE_MINMAX
} cfg_scale;
/* Synthetic tasks (sim/ml/loaders.h): Gaussian clusters, or a linear or
 * logistic teacher. */
typedef enum cfg_synth_kind {
    CFG_SYNTH_CLUSTERS,
    CFG_SYNTH_LINEAR,
    CFG_SYNTH_LOGISTIC
} cfg_synth_kind;
/* In mdl_init_kind order (sim/ml/model.h). */
typedef enum cfg_init_kind {
    CFG_INIT_DEFAULT,
    CFG_INIT_UNIFORM,
    CFG_INIT_XAVIER,
    CFG_INIT_HE
} cfg_init_kind;
#define CFG_MAX_HIDDEN 8 /* MDL_MAX_HIDDEN */
typedef enum cfg_batch_kind {
    CFG_BATCH_FRACTION,
    CFG_BATCH_SIZE
} cfg_batch_kind;
typedef enum cfg_compute_kind {
    CFG_COMPUTE_SECONDS_PER_SAMPLE,
    CFG_COMPUTE_FLOPS
} cfg_compute_kind;
typedef enum cfg_delay_dist {
    CFG_DELAY_NONE,
    CFG_DELAY_EXPONENTIAL,
    CFG_DELAY_LOGNORMAL,
    CFG_DELAY_PARETO,
    CFG_DELAY_GAMMA,
    CFG_DELAY_MIXTURE
} cfg_delay_dist;
/* What a synchronous algorithm does when a worker it waits for crashed. */
typedef enum cfg_on_crash { CFG_ON_CRASH_WAIT, CFG_ON_CRASH_DROP } cfg_on_crash;

/* A worker's crash: at a fixed time, or after Exp(rate) seconds (again
 * after each recovery); back after recover_after_s, or never (< 0). */
typedef struct cfg_crash {
    int worker;
    double at_s;            /* >= 0, or -1 when rate is used */
    double rate;            /* crashes per second, or 0 when at_s is used */
    double recover_after_s; /* >= 0, or -1: never recovers */
} cfg_crash;
typedef enum cfg_topology {
    CFG_TOPOLOGY_STAR,
    CFG_TOPOLOGY_RING,
    CFG_TOPOLOGY_TREE,
    CFG_TOPOLOGY_FULL,
    CFG_TOPOLOGY_HIER,
    CFG_TOPOLOGY_GRAPH
} cfg_topology;

/* How a synchronous algorithm combines its workers' values each round:
 * through the parameter server's messages, or an all-reduce among the
 * workers (then there is no server node). */
typedef enum cfg_collective {
    CFG_COLLECTIVE_PS,
    CFG_COLLECTIVE_RING,
    CFG_COLLECTIVE_TREE,
    CFG_COLLECTIVE_HIER
} cfg_collective;
/* "ps", "ring", "tree", "hier", NULL: the choices of an algorithm's
 * "collective" parameter, in cfg_collective order. */
extern const char *const cfg_collective_names[];

/* A full-duplex cable of an explicit graph; bandwidth_rev_Bps 0: same as
 * bandwidth_Bps. */
typedef struct cfg_cable {
    int a, b;
    double latency_s, bandwidth_Bps, bandwidth_rev_Bps;
} cfg_cable;

/* $.network.compression.codec (net_codec_kind order, sim/net/compress.h). */
typedef enum cfg_codec {
    CFG_CODEC_NONE,
    CFG_CODEC_FP16,
    CFG_CODEC_TOPK,
    CFG_CODEC_RANDK,
    CFG_CODEC_QSGD
} cfg_codec;

/* $.network.compression.direction: which messages the codec encodes. */
typedef enum cfg_compress_dir {
    CFG_COMPRESS_UP,  /* default: what workers send (gradients, models) */
    CFG_COMPRESS_BOTH /* and what the server sends back */
} cfg_compress_dir;

typedef enum cfg_link_change {
    CFG_LINK_BANDWIDTH,
    CFG_LINK_LATENCY,
    CFG_LINK_UP
} cfg_link_change;

/* $.network.events: link `link` (an index of the built network) changes at
 * simulated time at_s; value is bytes/s, seconds, or 0/1 for down/up. */
typedef struct cfg_link_event {
    double at_s;
    int link;
    cfg_link_change what;
    double value;
} cfg_link_event;

typedef struct cfg_link {
    double latency_s;     /* >= 0 */
    double bandwidth_Bps; /* bytes per second, > 0 */
} cfg_link;

typedef struct cfg_experiment {
    char *source_path; /* the file it was read from, for messages */
    char *name;        /* default: the file's base name without .json */
    uint64_t seed;     /* default 1 */

    struct {
        char *name;                     /* a registry name, e.g. "ssgd" */
        const cfg_algorithm_spec *spec; /* borrowed from the caller's table */
        long rounds;                    /* >= 1 */
        double lr;                      /* > 0 */
        double params[CFG_MAX_ALG_PARAMS]; /* in spec->params order */
    } algorithm;

    struct {
        char *type;         /* "logreg", "softmax" or "mlp" */
        cfg_init_kind init; /* default: the model's own choice */
        /* uniform (and the default of logreg, softmax) initial weights in
         * [init_low, init_high); default [-1, 1) */
        double init_low, init_high;
        double sigmoid_eps; /* logreg: default 0; the post uses 1e-6 */
        /* softmax, mlp: classes; 0 (default) = 1 + the largest label */
        long n_classes;
        size_t n_hidden;             /* mlp: default one layer of 128 */
        long hidden[CFG_MAX_HIDDEN]; /* mlp: units per layer, input first */
        int activation;              /* mlp: 0 relu (default), 1 tanh */
        double l1, l2;               /* softmax, mlp: penalties, default 0 */
    } model;

    struct {
        cfg_data_format format; /* default csv */
        char *path;             /* csv, libsvm: as written in the file */
        char *resolved_path;    /* relative to the config file's directory */
        int header;             /* csv: skip the first line; default 1 */
        int label_column;       /* csv: -1 = last (default) */
        long n_features;        /* libsvm: 0 (default) = the largest index */
        int zero_based;         /* libsvm: default 0 */
        /* idx: as written and resolved; the test pair is optional and, when
         * given, is the test set (no split). */
        char *images, *labels, *test_images, *test_labels;
        char *images_resolved, *labels_resolved, *test_images_resolved,
            *test_labels_resolved;
        struct {
            cfg_synth_kind kind; /* default clusters */
            long n, d;           /* rows >= 2, dimension >= 1 */
            long classes;        /* clusters: >= 2, default 2 */
            double separation;   /* clusters: >= 0, default 3 */
            double noise;        /* teachers: >= 0, default 0 */
        } synth;
        cfg_split_kind split;
        double test_fraction; /* CFG_SPLIT_FRACTION: in (0, 1), default 0.3 */
        char *split_file;     /* CFG_SPLIT_FILE: as written */
        char *split_resolved_path;
        int has_test_set; /* idx with test_images: no split */
        cfg_scale scale;  /* default none */
        int standardize;  /* scale == CFG_SCALE_STANDARDIZE (older key) */
        int bias;         /* append a column of ones; default 1 */
        cfg_partition partition; /* default contiguous */
        double alpha;            /* dirichlet: > 0, default 0.5 */
        long shards;   /* shards: classes per worker >= 1, default 2 */
        long min_rows; /* dirichlet: rows every worker gets, default 0 */
    } data;

    struct {
        cfg_batch_kind kind;
        double fraction; /* Bernoulli inclusion probability in (0, 1] */
        long size;       /* >= 1 */
    } batch;

    struct {
        int workers; /* >= 1 */
        cfg_compute_kind compute;
        double seconds_per_sample; /* > 0 */
        double flops_per_second;   /* > 0 */
        double *speed;             /* [workers], default 1 each, > 0 */
        double *slowdown;          /* [workers], default 1 each, >= 1 */
        cfg_delay_dist delay;
        double delay_mean_s; /* > 0 when delay is not NONE or MIXTURE */
        double delay_sd_s;   /* LOGNORMAL, GAMMA: > 0 */
        double delay_shape;  /* PARETO: > 1 */
        double delay_p;      /* MIXTURE: probability of the long value */
        double delay_short_s, delay_long_s; /* MIXTURE: 0 <= short < long */
        struct {
            double factor; /* >= 1; 1 (default) means no slow periods */
            double mean_slow_s, mean_normal_s; /* > 0 when factor > 1 */
        } slow_periods;
        cfg_crash *crashes; /* n_crashes entries, at most one per worker */
        size_t n_crashes;
        cfg_on_crash on_crash; /* default WAIT */
        double drop_timeout_s; /* DROP: seconds after the crash, >= 0 */
        char *trace;           /* CSV file (time, worker, event, value) */
        char *trace_resolved_path;
    } cluster;

    struct {
        cfg_topology topology;
        cfg_link server;   /* the parameter server's link to the switch */
        cfg_link *workers; /* [workers] each worker's link to the switch */
        cfg_link link;     /* every link of RING, TREE, FULL; HIER's hosts */
        int servers; /* parameter servers (hosts K..K+servers-1), the model
                        sharded over them when > 1; default 1 */
        int arity;   /* TREE: children per node, default 2 */
        int racks, hosts_per_rack; /* HIER; racks * hosts_per_rack >= nodes */
        cfg_link wan;              /* HIER: rack switch to core */
        int graph_nodes;           /* GRAPH: nodes, >= the hosts needed */
        cfg_cable *cables;         /* GRAPH */
        size_t n_cables;
        cfg_link_event *events; /* sorted as given */
        size_t n_events;
        struct {
            cfg_codec codec; /* default NONE: messages as they always were */
            long k;          /* TOPK, RANDK: values sent, or 0 ... */
            double fraction; /* ... this share of them (at least one) */
            int levels;      /* QSGD: s >= 1 */
            cfg_compress_dir direction;
        } compression;
        int contention;    /* default 1: max-min fair sharing */
        int value_bytes;   /* 8 (float64, default) or 4 (float32) */
        long header_bytes; /* per message, default 0 */
    } network;

    struct {
        long every; /* evaluate the global model every N steps; default 1,
                       0 when only every_seconds is used */
        double every_seconds; /* also at the first step at or after each
                                 multiple of T simulated seconds; 0: off */
        int train_loss;       /* also compute the training loss; default 1 */
    } evaluation;

    struct {
        int events; /* record the timeline in the events table; default 0 */
    } output;
} cfg_experiment;

/* One --set override: a dotted path ("algorithm.lr",
 * "network.workers[1].bandwidth", optionally prefixed with "$.") and a value,
 * parsed as JSON when it is valid JSON and taken as a string otherwise. */
typedef struct cfg_override {
    const char *path;
    const char *value;
} cfg_override;

/* Loads and validates path. On success *out owns a new experiment and 0 is
 * returned; on failure *out is NULL and SIM_ECONFIG (bad content), or SIM_EIO
 * (unreadable file) is returned with err filled. Data files are not opened
 * here, only their paths resolved. */
int cfg_load(const char *path, const cfg_algorithm_spec *algorithms,
             size_t n_algorithms, const cfg_override *overrides,
             size_t n_overrides, cfg_experiment **out, sim_err *err);

/* As cfg_load, from text in memory; source names it in messages and its
 * directory anchors relative paths. */
int cfg_load_string(const char *text, const char *source,
                    const cfg_algorithm_spec *algorithms, size_t n_algorithms,
                    const cfg_override *overrides, size_t n_overrides,
                    cfg_experiment **out, sim_err *err);

void cfg_experiment_free(cfg_experiment *e); /* NULL-safe */

/* The experiment as JSON with every default filled and the data paths
 * resolved, such that loading it again gives the same experiment. NULL when
 * out of memory; free() the result. */
char *cfg_experiment_to_json(const cfg_experiment *e);

/* The algorithm's "collective" parameter; PS when it has none. */
cfg_collective cfg_algorithm_collective(const cfg_experiment *e);
/* Hosts the network needs: the workers, plus the servers with PS (unless
 * the algorithm is serverless). */
int cfg_network_hosts(const cfg_experiment *e);
/* The workers joined to worker w by one cable of the network the config
 * describes, ascending and without repeats: ring, tree and full by their
 * construction, graph by its cables between hosts 0..K-1; none on star and
 * hier, where every host hangs off a switch. Writes up to cap of them into
 * out and returns how many there are (-1 for a bad w); a cap of K - 1
 * always suffices (with less, repeats beyond cap may be counted). */
int cfg_network_neighbours(const cfg_experiment *e, int w, int *out, int cap);
/* Directed links of the network the config describes (net.h numbering). */
int cfg_network_links(const cfg_experiment *e);

/* The value of an algorithm parameter by name; aborts (a programming error)
 * when the algorithm has no such parameter. */
double cfg_algorithm_param(const cfg_experiment *e, const char *name);

#endif
