#include "otlp_build.h"

#include "error.h"

#include <string.h>

/* Implicit capacity: 0 → 0; 1..4 → 4; n > 4 → next power of two. */
static bool is_full(size_t n) { return n == 0 || (n >= 4 && (n & (n - 1)) == 0); }

int vg_build_append(vg_arena_t *a, void ***arr, size_t *n, void *item)
{
    if (is_full(*n)) {
        size_t ncap = *n == 0 ? 4 : *n * 2;
        void **na = vg_arena_alloc(a, ncap * sizeof *na);
        if (!na) return VG_ENOMEM;
        if (*n) memcpy(na, *arr, *n * sizeof *na);
        *arr = na;
    }
    (*arr)[(*n)++] = item;
    return 0;
}

vg_anyvalue_t *vg_build_value_str(vg_arena_t *a, const char *s, size_t len)
{
    vg_anyvalue_t *v = vg_arena_alloc(a, sizeof *v);
    char *c = vg_arena_strndup(a, s, len);
    if (!v || !c) return NULL;
    opentelemetry__proto__common__v1__any_value__init(v);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = c;
    return v;
}

int vg_build_attr_value(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, vg_anyvalue_t *val)
{
    if (!val) return VG_ENOMEM;
    vg_kv_t *k = vg_arena_alloc(a, sizeof *k);
    char *ks = vg_arena_strdup(a, key);
    if (!k || !ks) return VG_ENOMEM;
    opentelemetry__proto__common__v1__key_value__init(k);
    k->key = ks;
    k->value = val;
    return vg_build_append(a, (void ***)kv, n, k);
}

int vg_build_attr_strn(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, const char *val, size_t len)
{
    return vg_build_attr_value(a, kv, n, key, vg_build_value_str(a, val, len));
}

int vg_build_attr_str(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, const char *val)
{
    return vg_build_attr_strn(a, kv, n, key, val, strlen(val));
}

static vg_anyvalue_t *scalar(vg_arena_t *a, int which)
{
    vg_anyvalue_t *v = vg_arena_alloc(a, sizeof *v);
    if (!v) return NULL;
    opentelemetry__proto__common__v1__any_value__init(v);
    v->value_case = which;
    return v;
}

vg_anyvalue_t *vg_build_value_int(vg_arena_t *a, int64_t val)
{
    vg_anyvalue_t *v = scalar(a, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE);
    if (v) v->int_value = val;
    return v;
}

vg_anyvalue_t *vg_build_value_double(vg_arena_t *a, double val)
{
    vg_anyvalue_t *v = scalar(a, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE);
    if (v) v->double_value = val;
    return v;
}

vg_anyvalue_t *vg_build_value_bool(vg_arena_t *a, bool val)
{
    vg_anyvalue_t *v = scalar(a, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE);
    if (v) v->bool_value = val;
    return v;
}

int vg_build_attr_int(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, int64_t val)
{
    return vg_build_attr_value(a, kv, n, key, vg_build_value_int(a, val));
}

int vg_build_attr_double(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, double val)
{
    return vg_build_attr_value(a, kv, n, key, vg_build_value_double(a, val));
}

int vg_build_attr_bool(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, bool val)
{
    return vg_build_attr_value(a, kv, n, key, vg_build_value_bool(a, val));
}

static vg_scope_t *new_scope(vg_arena_t *a, const char *name, const char *version)
{
    vg_scope_t *s = vg_arena_alloc(a, sizeof *s);
    if (!s) return NULL;
    opentelemetry__proto__common__v1__instrumentation_scope__init(s);
    if (name && !(s->name = vg_arena_strdup(a, name))) return NULL;
    if (version && !(s->version = vg_arena_strdup(a, version))) return NULL;
    return s;
}

static vg_resource_t *new_resource(vg_arena_t *a)
{
    vg_resource_t *r = vg_arena_alloc(a, sizeof *r);
    if (r) opentelemetry__proto__resource__v1__resource__init(r);
    return r;
}

vg_resource_metrics_t *vg_build_resource_metrics(vg_batch_t *b)
{
    vg_metrics_req_t *req = (vg_metrics_req_t *)vg_batch_writable(b);
    if (!req) return NULL;
    vg_resource_metrics_t *rm = vg_arena_alloc(b->arena, sizeof *rm);
    if (!rm) return NULL;
    opentelemetry__proto__metrics__v1__resource_metrics__init(rm);
    if (!(rm->resource = new_resource(b->arena))) return NULL;
    if (vg_build_append(b->arena, (void ***)&req->resource_metrics, &req->n_resource_metrics, rm)) return NULL;
    return rm;
}

vg_scope_metrics_t *vg_build_scope_metrics(vg_batch_t *b, vg_resource_metrics_t *rm, const char *name,
                                           const char *version)
{
    vg_scope_metrics_t *sm = vg_arena_alloc(b->arena, sizeof *sm);
    if (!sm) return NULL;
    opentelemetry__proto__metrics__v1__scope_metrics__init(sm);
    if (!(sm->scope = new_scope(b->arena, name, version))) return NULL;
    if (vg_build_append(b->arena, (void ***)&rm->scope_metrics, &rm->n_scope_metrics, sm)) return NULL;
    return sm;
}

vg_metric_t *vg_build_metric(vg_batch_t *b, vg_scope_metrics_t *sm, const char *name, const char *description,
                             const char *unit, vg_metric_kind_t kind, bool monotonic)
{
    vg_arena_t *a = b->arena;
    vg_metric_t *m = vg_arena_alloc(a, sizeof *m);
    if (!m) return NULL;
    opentelemetry__proto__metrics__v1__metric__init(m);
    if (!(m->name = vg_arena_strdup(a, name))) return NULL;
    if (description && !(m->description = vg_arena_strdup(a, description))) return NULL;
    if (unit && !(m->unit = vg_arena_strdup(a, unit))) return NULL;
    if (kind == VG_METRIC_GAUGE) {
        Opentelemetry__Proto__Metrics__V1__Gauge *g = vg_arena_alloc(a, sizeof *g);
        if (!g) return NULL;
        opentelemetry__proto__metrics__v1__gauge__init(g);
        m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
        m->gauge = g;
    } else {
        Opentelemetry__Proto__Metrics__V1__Sum *s = vg_arena_alloc(a, sizeof *s);
        if (!s) return NULL;
        opentelemetry__proto__metrics__v1__sum__init(s);
        s->aggregation_temporality = kind == VG_METRIC_SUM_CUMULATIVE
                                         ? OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE
                                         : OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA;
        s->is_monotonic = monotonic;
        m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
        m->sum = s;
    }
    if (vg_build_append(a, (void ***)&sm->metrics, &sm->n_metrics, m)) return NULL;
    return m;
}

static vg_number_point_t *new_point(vg_batch_t *b, vg_metric_t *m, uint64_t start_ns, uint64_t ts_ns)
{
    vg_number_point_t *p = vg_arena_alloc(b->arena, sizeof *p);
    if (!p) return NULL;
    opentelemetry__proto__metrics__v1__number_data_point__init(p);
    p->start_time_unix_nano = start_ns;
    p->time_unix_nano = ts_ns;
    int rc;
    if (m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE)
        rc = vg_build_append(b->arena, (void ***)&m->gauge->data_points, &m->gauge->n_data_points, p);
    else
        rc = vg_build_append(b->arena, (void ***)&m->sum->data_points, &m->sum->n_data_points, p);
    return rc ? NULL : p;
}

vg_number_point_t *vg_build_point_double(vg_batch_t *b, vg_metric_t *m, uint64_t start_ns, uint64_t ts_ns, double v)
{
    vg_number_point_t *p = new_point(b, m, start_ns, ts_ns);
    if (p) {
        p->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
        p->as_double = v;
    }
    return p;
}

vg_number_point_t *vg_build_point_int(vg_batch_t *b, vg_metric_t *m, uint64_t start_ns, uint64_t ts_ns, int64_t v)
{
    vg_number_point_t *p = new_point(b, m, start_ns, ts_ns);
    if (p) {
        p->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
        p->as_int = v;
    }
    return p;
}

vg_resource_logs_t *vg_build_resource_logs(vg_batch_t *b)
{
    vg_logs_req_t *req = (vg_logs_req_t *)vg_batch_writable(b);
    if (!req) return NULL;
    vg_resource_logs_t *rl = vg_arena_alloc(b->arena, sizeof *rl);
    if (!rl) return NULL;
    opentelemetry__proto__logs__v1__resource_logs__init(rl);
    if (!(rl->resource = new_resource(b->arena))) return NULL;
    if (vg_build_append(b->arena, (void ***)&req->resource_logs, &req->n_resource_logs, rl)) return NULL;
    return rl;
}

vg_scope_logs_t *vg_build_scope_logs(vg_batch_t *b, vg_resource_logs_t *rl, const char *name, const char *version)
{
    vg_scope_logs_t *sl = vg_arena_alloc(b->arena, sizeof *sl);
    if (!sl) return NULL;
    opentelemetry__proto__logs__v1__scope_logs__init(sl);
    if (!(sl->scope = new_scope(b->arena, name, version))) return NULL;
    if (vg_build_append(b->arena, (void ***)&rl->scope_logs, &rl->n_scope_logs, sl)) return NULL;
    return sl;
}

vg_log_record_t *vg_build_log_record(vg_batch_t *b, vg_scope_logs_t *sl)
{
    vg_log_record_t *r = vg_arena_alloc(b->arena, sizeof *r);
    if (!r) return NULL;
    opentelemetry__proto__logs__v1__log_record__init(r);
    if (vg_build_append(b->arena, (void ***)&sl->log_records, &sl->n_log_records, r)) return NULL;
    return r;
}
