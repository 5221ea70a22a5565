/* registry.c: the name -> algorithm table. A new algorithm is one file and
 * one line here. */
#include <string.h>

#include "alg.h"

extern const alg_ops alg_ssgd_ops;
extern const alg_ops alg_ma_ops;
extern const alg_ops alg_bmuf_ops;
extern const alg_ops alg_easgd_ops;
extern const alg_ops alg_asgd_ops;
extern const alg_ops alg_dcasgd_ops;
extern const alg_ops alg_ssp_ops;
extern const alg_ops alg_backup_ops;
extern const alg_ops alg_hogwild_ops;
extern const alg_ops alg_easgd_async_ops;
extern const alg_ops alg_fedavg_ops;
extern const alg_ops alg_dpsgd_ops;

const alg_ops *const alg_registry[] = {
    &alg_ssgd_ops,
    &alg_ma_ops,
    &alg_bmuf_ops,
    &alg_easgd_ops,
    &alg_asgd_ops,
    &alg_dcasgd_ops,
    &alg_ssp_ops,
    &alg_backup_ops,
    &alg_hogwild_ops,
    &alg_easgd_async_ops,
    &alg_fedavg_ops,
    &alg_dpsgd_ops,
    NULL,
};

const alg_ops *alg_find(const char *name)
{
    for (size_t i = 0; alg_registry[i]; i++)
        if (strcmp(alg_registry[i]->name, name) == 0)
            return alg_registry[i];
    return NULL;
}
