/* The JSON Schema that editors check configs with (configs/schema.json)
 * must describe the algorithms dtsim has: every registered algorithm is
 * named, and its parameters are exactly the keys the schema allows for it.
 * An algorithm added without its schema would otherwise make an editor flag
 * valid configs (the schema sets additionalProperties: false). */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algorithms/alg.h"

static cJSON *schema;

static void load(void)
{
    FILE *f = fopen("configs/schema.json", "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    char *text = malloc((size_t)len + 1);
    cr_assert_eq(fread(text, 1, (size_t)len, f), (size_t)len);
    text[len] = 0;
    fclose(f);
    schema = cJSON_Parse(text);
    free(text);
    cr_assert_not_null(schema, "configs/schema.json is not JSON");
}

static void unload(void)
{
    cJSON_Delete(schema);
}

static cJSON *algorithm_node(void)
{
    cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
    cJSON *alg = cJSON_GetObjectItemCaseSensitive(props, "algorithm");
    cr_assert_not_null(alg);
    return alg;
}

static int in_array(const cJSON *arr, const char *s)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (cJSON_IsString(e) && strcmp(e->valuestring, s) == 0)
            return 1;
    }
    return 0;
}

/* The propertyNames enum of the allOf block whose "if" names alg. */
static const cJSON *allowed_keys(const char *alg)
{
    const cJSON *block;
    cJSON_ArrayForEach(
        block, cJSON_GetObjectItemCaseSensitive(algorithm_node(), "allOf"))
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(block, "if"),
                    "properties"),
                "name"),
            "const");
        if (cJSON_IsString(c) && strcmp(c->valuestring, alg) == 0)
            return cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(block, "then"),
                    "propertyNames"),
                "enum");
    }
    return NULL;
}

static int is_param(const alg_ops *ops, const char *key)
{
    if (!strcmp(key, "name") || !strcmp(key, "rounds") || !strcmp(key, "lr"))
        return 1;
    for (size_t i = 0; i < ops->n_params; i++)
        if (strcmp(ops->params[i].name, key) == 0)
            return 1;
    return 0;
}

Test(schema, every_algorithm_and_its_parameters_are_described, .init = load,
     .fini = unload)
{
    cJSON *alg = algorithm_node();
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(alg, "properties");
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(props, "name"), "examples");
    int n = 0;
    for (const alg_ops *const *a = alg_registry; *a; a++, n++) {
        const alg_ops *ops = *a;
        cr_expect(in_array(names, ops->name),
                  "algorithm.name.examples lacks %s", ops->name);
        const cJSON *keys = allowed_keys(ops->name);
        cr_assert_not_null(keys, "no allOf block for %s", ops->name);
        for (size_t i = 0; i < ops->n_params; i++) {
            const char *p = ops->params[i].name;
            cr_expect(in_array(keys, p), "%s: key %s not allowed", ops->name,
                      p);
            cr_expect_not_null(cJSON_GetObjectItemCaseSensitive(props, p),
                               "algorithm.properties lacks %s (of %s)", p,
                               ops->name);
        }
        const cJSON *k;
        cJSON_ArrayForEach(k, keys)
        {
            cr_expect(is_param(ops, k->valuestring),
                      "%s: the schema allows %s, which it does not take",
                      ops->name, k->valuestring);
        }
    }
    cr_expect_eq(cJSON_GetArraySize(names), n,
                 "algorithm.name.examples names %d algorithms, dtsim has %d",
                 cJSON_GetArraySize(names), n);
}
