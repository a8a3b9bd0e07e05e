#include "attrs.h"

#include "error.h"
#include "otlp_build.h"

#include <string.h>

vg_anyvalue_t *vg_attr_get(vg_kv_t *const *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (kv[i] && kv[i]->key && strcmp(kv[i]->key, key) == 0) return kv[i]->value;
    return NULL;
}

const char *vg_attr_get_str(vg_kv_t *const *kv, size_t n, const char *key)
{
    vg_anyvalue_t *v = vg_attr_get(kv, n, key);
    if (!v || v->value_case != OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE) return NULL;
    return v->string_value;
}

int vg_attr_set_value(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, vg_anyvalue_t *v)
{
    for (size_t i = 0; i < *n; i++) {
        if ((*kv)[i] && (*kv)[i]->key && strcmp((*kv)[i]->key, key) == 0) {
            /* Replace the KeyValue rather than editing it: it may be shared with other batches. */
            vg_kv_t *nkv = vg_arena_alloc(a, sizeof *nkv);
            if (!nkv) return VG_ENOMEM;
            *nkv = *(*kv)[i];
            nkv->value = v;
            (*kv)[i] = nkv;
            return 0;
        }
    }
    vg_kv_t **arr = vg_arena_alloc(a, (*n + 1) * sizeof *arr);
    vg_kv_t *nkv = vg_arena_alloc(a, sizeof *nkv);
    char *k = vg_arena_strdup(a, key);
    if (!arr || !nkv || !k) return VG_ENOMEM;
    opentelemetry__proto__common__v1__key_value__init(nkv);
    nkv->key = k;
    nkv->value = v;
    if (*n) memcpy(arr, *kv, *n * sizeof *arr);
    arr[(*n)++] = nkv;
    *kv = arr;
    return 0;
}

int vg_attr_set_str(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, const char *value)
{
    vg_anyvalue_t *v = vg_build_value_str(a, value, strlen(value));
    return v ? vg_attr_set_value(a, kv, n, key, v) : VG_ENOMEM;
}

int vg_attr_set_int(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, int64_t value)
{
    vg_anyvalue_t *v = vg_build_value_int(a, value);
    return v ? vg_attr_set_value(a, kv, n, key, v) : VG_ENOMEM;
}

int vg_attr_set_bool(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, bool value)
{
    vg_anyvalue_t *v = vg_build_value_bool(a, value);
    return v ? vg_attr_set_value(a, kv, n, key, v) : VG_ENOMEM;
}

int vg_attr_set_double(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, double value)
{
    vg_anyvalue_t *v = vg_build_value_double(a, value);
    return v ? vg_attr_set_value(a, kv, n, key, v) : VG_ENOMEM;
}

size_t vg_attr_delete(vg_kv_t **kv, size_t *n, const char *key)
{
    size_t w = 0, removed = 0;
    for (size_t i = 0; i < *n; i++) {
        if (kv[i] && kv[i]->key && strcmp(kv[i]->key, key) == 0) { removed++; continue; }
        kv[w++] = kv[i];
    }
    *n = w;
    return removed;
}

int vg_resource_writable(vg_arena_t *a, vg_resource_t **r)
{
    vg_resource_t *nr = vg_arena_alloc(a, sizeof *nr);
    if (!nr) return VG_ENOMEM;
    if (!*r) {
        opentelemetry__proto__resource__v1__resource__init(nr);
        *r = nr;
        return 0;
    }
    *nr = **r;
    if (nr->n_attributes) {
        nr->attributes = vg_arena_memdup(a, (*r)->attributes, nr->n_attributes * sizeof *nr->attributes);
        if (!nr->attributes) return VG_ENOMEM;
    }
    *r = nr;
    return 0;
}
