/* Editing OTLP attribute lists (KeyValue arrays) inside a batch's arena.
 * Callers must own the batch writably (vg_batch_writable). */
#ifndef VIGIL_ATTRS_H
#define VIGIL_ATTRS_H

#include "arena.h"
#include "otlp.h"

#include <stdbool.h>
#include <stdint.h>

/* The value of `key`, or NULL. */
vg_anyvalue_t *vg_attr_get(vg_kv_t *const *kv, size_t n, const char *key);
/* The string value of `key`, or NULL when absent or not a string. */
const char *vg_attr_get_str(vg_kv_t *const *kv, size_t n, const char *key);

/* Sets key to a copy of the string value (insert or overwrite). 0 or VG_ENOMEM.
 * `*kv` may be replaced by a larger array from the arena. */
int vg_attr_set_str(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, const char *value);
int vg_attr_set_int(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, int64_t value);
int vg_attr_set_bool(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, bool value);
int vg_attr_set_double(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, double value);
/* Sets key to `v` (shared, not copied). */
int vg_attr_set_value(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, vg_anyvalue_t *v);
/* Removes every entry with this key; returns how many. */
size_t vg_attr_delete(vg_kv_t **kv, size_t *n, const char *key);

/* Copy-on-write: replaces *r with a private copy (the struct and its attribute
 * pointer array, in the arena; the KeyValues stay shared and are never edited
 * in place by the setters above), or a new empty resource when *r is NULL.
 * Call once per resource before editing it. 0 or VG_ENOMEM. */
int vg_resource_writable(vg_arena_t *a, vg_resource_t **r);

#endif
