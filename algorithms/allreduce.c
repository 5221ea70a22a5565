#include "allreduce.h"

int alg_check_allreduce(const cfg_experiment *cfg, sim_err *err)
{
    cfg_collective c = cfg_algorithm_collective(cfg);
    if (c == CFG_COLLECTIVE_PS && cfg->network.servers <= 1)
        return 0;
    const char *why = cfg->cluster.n_crashes > 0 ? "$.cluster.crash"
                      : cfg->cluster.trace       ? "$.cluster.trace"
                      : cfg->cluster.on_crash == CFG_ON_CRASH_DROP
                          ? "$.cluster.on_crash"
                          : NULL;
    if (!why)
        return 0;
    if (c == CFG_COLLECTIVE_PS)
        return sim_err_set(err, SIM_ECONFIG,
                           "%s: $.network.servers: sharded parameter servers "
                           "do not model crashes; remove %s",
                           cfg->source_path, why);
    return sim_err_set(err, SIM_ECONFIG,
                       "%s: $.algorithm.collective: \"%s\" does not model "
                       "crashes; remove %s or use \"ps\"",
                       cfg->source_path, cfg_collective_names[c], why);
}
