/* model.c: the model registry, creation by name and parameter init. */
#include "model.h"

#include <stdio.h>
#include <string.h>

const mdl_ops *const mdl_registry[] = {&mdl_logreg_ops, &mdl_softmax_ops,
                                       &mdl_mlp_ops, NULL};

const char *const mdl_act_names[] = {"relu", "tanh", NULL};
const char *const mdl_init_names[] = {"default", "uniform", "xavier", "he",
                                      NULL};

int mdl_name_index(const char *const *names, const char *name)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

int mdl_create(const char *name, const mdl_opts *opts, mdl **out, sim_err *err)
{
    *out = NULL;
    const mdl_ops *ops = NULL;
    for (size_t i = 0; mdl_registry[i] && !ops; i++)
        if (strcmp(mdl_registry[i]->name, name) == 0)
            ops = mdl_registry[i];
    if (!ops) {
        char known[256] = "";
        size_t len = 0;
        for (size_t i = 0; mdl_registry[i] && len < sizeof known; i++)
            len += (size_t)snprintf(known + len, sizeof known - len, "%s%s",
                                    i ? ", " : "", mdl_registry[i]->name);
        return sim_err_set(err, SIM_ECONFIG, "unknown model '%s' (known: %s)",
                           name, known);
    }
    if (!opts || opts->d == 0)
        return sim_err_set(err, SIM_ECONFIG,
                           "model %s: input dimension must be >= 1", name);
    if (!(opts->init_low <= opts->init_high))
        return sim_err_set(err, SIM_ECONFIG,
                           "model %s: init range [%g, %g) is empty", name,
                           opts->init_low, opts->init_high);
    int rc = ops->create(opts, out, err);
    if (rc == 0)
        (*out)->opts = *opts;
    return rc;
}

void mdl_init_params(const mdl *m, double *w, gsl_rng *rng)
{
    if (m->ops->init) {
        m->ops->init(m, w, rng);
        return;
    }
    double lo = m->opts.init_low, hi = m->opts.init_high;
    if (lo == 0 && hi == 0)
        lo = -0.05, hi = 0.05;
    mdl_init_uniform(w, m->ops->n_params(m), lo, hi, rng);
}

double mdl_penalty(const mdl *m, const double *w)
{
    return m->ops->penalty ? m->ops->penalty(m, w) : 0.0;
}

void mdl_destroy(mdl *m)
{
    if (m)
        m->ops->destroy(m);
}

void mdl_init_uniform(double *w, size_t n, double low, double high,
                      gsl_rng *rng)
{
    double span = high - low;
    for (size_t i = 0; i < n; i++)
        w[i] = low + span * gsl_rng_uniform(rng);
}
