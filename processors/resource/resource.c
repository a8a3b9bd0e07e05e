/* resource processor: edits resource attributes, with the OpenTelemetry
 * Collector's options (attributes: key, value, from_attribute, action:
 * insert | update | upsert | delete). Values from YAML are strings; an int,
 * double or bool literal is stored with that type, as the Collector does. */
#include "attrs.h"
#include "component.h"
#include "error.h"
#include "mem.h"
#include "otlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ACT_INSERT, ACT_UPDATE, ACT_UPSERT, ACT_DELETE };
static const char *const actions[] = { "insert", "update", "upsert", "delete", NULL };

typedef struct {
    char *key;
    char *value;
    char *from_attribute;
    int action;
} action_cfg_t;

typedef struct {
    vg_tablelist_t attributes; /* action_cfg_t */
} resource_cfg_t;

static const vg_option_t action_opts[] = {
    { .name = "key", .type = VG_OPT_STRING, .offset = offsetof(action_cfg_t, key), .flags = VG_OPT_REQUIRED,
      .doc = "Attribute to act on." },
    { .name = "value", .type = VG_OPT_STRING, .offset = offsetof(action_cfg_t, value),
      .doc = "Value to set (insert, update, upsert). Integer, float and true/false literals keep their type." },
    { .name = "from_attribute", .type = VG_OPT_STRING, .offset = offsetof(action_cfg_t, from_attribute),
      .doc = "Take the value from this other resource attribute instead of `value`." },
    { .name = "action", .type = VG_OPT_ENUM, .offset = offsetof(action_cfg_t, action), .values = actions,
      .flags = VG_OPT_REQUIRED,
      .doc = "insert: only when absent; update: only when present; upsert: always; delete: remove." },
    { 0 },
};

static const vg_option_t resource_opts[] = {
    { .name = "attributes", .type = VG_OPT_TABLE_LIST, .offset = offsetof(resource_cfg_t, attributes),
      .sub = action_opts, .elem_size = sizeof(action_cfg_t), .flags = VG_OPT_REQUIRED,
      .doc = "Actions applied in order to every resource." },
    { 0 },
};

static int resource_validate(const void *cfgp, const char *path, vg_errs_t *errs)
{
    const resource_cfg_t *cfg = cfgp;
    int rc = 0;
    for (size_t i = 0; i < cfg->attributes.n; i++) {
        const action_cfg_t *a = (const action_cfg_t *)cfg->attributes.items + i;
        if (a->action != ACT_DELETE && !a->value && !a->from_attribute) {
            char p[600];
            snprintf(p, sizeof p, "%s.attributes[%zu]", path, i);
            vg_errs_add(errs, NULL, p, "%s needs value or from_attribute", actions[a->action]);
            rc = VG_ECONFIG;
        }
    }
    return rc;
}

static int set_literal(vg_arena_t *ar, vg_resource_t *r, const char *key, const char *text)
{
    char *end;
    long long iv = strtoll(text, &end, 10);
    if (*text && !*end) return vg_attr_set_int(ar, &r->attributes, &r->n_attributes, key, iv);
    double dv = strtod(text, &end);
    if (*text && !*end) return vg_attr_set_double(ar, &r->attributes, &r->n_attributes, key, dv);
    if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)
        return vg_attr_set_bool(ar, &r->attributes, &r->n_attributes, key, text[0] == 't');
    return vg_attr_set_str(ar, &r->attributes, &r->n_attributes, key, text);
}

static int apply(const resource_cfg_t *cfg, vg_arena_t *ar, vg_resource_t **rp)
{
    int rc = vg_resource_writable(ar, rp);
    if (rc) return rc;
    vg_resource_t *r = *rp;
    for (size_t i = 0; i < cfg->attributes.n; i++) {
        const action_cfg_t *a = (const action_cfg_t *)cfg->attributes.items + i;
        bool present = vg_attr_get(r->attributes, r->n_attributes, a->key) != NULL;
        if (a->action == ACT_DELETE) { vg_attr_delete(r->attributes, &r->n_attributes, a->key); continue; }
        if ((a->action == ACT_INSERT && present) || (a->action == ACT_UPDATE && !present)) continue;
        if (a->from_attribute) {
            vg_anyvalue_t *v = vg_attr_get(r->attributes, r->n_attributes, a->from_attribute);
            if (v && (rc = vg_attr_set_value(ar, &r->attributes, &r->n_attributes, a->key, v))) return rc;
        } else if ((rc = set_literal(ar, r, a->key, a->value))) {
            return rc;
        }
    }
    return 0;
}

static int resource_consume(vg_component_t *c, vg_batch_t *b)
{
    const resource_cfg_t *cfg = c->cfg;
    ProtobufCMessage *m = vg_batch_writable(b);
    if (!m) return vg_component_refuse(c, b, vg_batch_err(b));
    int rc = 0;
    c->stats.accepted[b->signal] += b->items;
    if (b->signal == VG_SIG_TRACES) {
        vg_traces_req_t *r = (vg_traces_req_t *)m;
        for (size_t i = 0; i < r->n_resource_spans && !rc; i++) rc = apply(cfg, b->arena, &r->resource_spans[i]->resource);
    } else if (b->signal == VG_SIG_METRICS) {
        vg_metrics_req_t *r = (vg_metrics_req_t *)m;
        for (size_t i = 0; i < r->n_resource_metrics && !rc; i++)
            rc = apply(cfg, b->arena, &r->resource_metrics[i]->resource);
    } else {
        vg_logs_req_t *r = (vg_logs_req_t *)m;
        for (size_t i = 0; i < r->n_resource_logs && !rc; i++) rc = apply(cfg, b->arena, &r->resource_logs[i]->resource);
    }
    if (rc) {
        c->stats.refused[b->signal] += b->items;
        vg_batch_unref(b);
        return rc;
    }
    vg_signal_t s = b->signal;
    size_t items = b->items;
    rc = vg_component_emit(c, b);
    if (rc) c->stats.refused[s] += items;
    return rc;
}

const vg_factory_t vg_resource_processor_factory = {
    .type = "resource",
    .kind = VG_KIND_PROCESSOR,
    .description = "Inserts, updates, upserts or deletes resource attributes.",
    .signals = VG_SIGBITS_ALL,
    .mutates = true,
    .options = resource_opts,
    .config_size = sizeof(resource_cfg_t),
    .validate = resource_validate,
    .consume = resource_consume,
};
