/* Building OTLP requests inside a batch's arena, for receivers and connectors
 * that make telemetry (syslog, cgroupstats, anomaly events).
 *
 * Arrays built here grow by doubling without a stored capacity, so only use
 * the append functions on arrays these functions created (for attributes of
 * decoded data, use attrs.h). Every function returns NULL / VG_ENOMEM when the
 * arena cannot allocate; nothing is then half-appended. */
#ifndef VIGIL_OTLP_BUILD_H
#define VIGIL_OTLP_BUILD_H

#include "batch.h"
#include "otlp.h"

#include <stdbool.h>
#include <stdint.h>

typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint vg_number_point_t;

/* Appends `item` to a (n, array) pair built by this module. 0 or VG_ENOMEM. */
int vg_build_append(vg_arena_t *a, void ***arr, size_t *n, void *item);

/* Attributes: append without looking for duplicates (the builder's own lists). */
int vg_build_attr_str(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, const char *val);
int vg_build_attr_strn(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, const char *val, size_t len);
int vg_build_attr_int(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, int64_t val);
int vg_build_attr_double(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, double val);
int vg_build_attr_bool(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, bool val);
int vg_build_attr_value(vg_arena_t *a, vg_kv_t ***kv, size_t *n, const char *key, vg_anyvalue_t *val);
/* Values in the arena (NULL when it cannot allocate). */
vg_anyvalue_t *vg_build_value_str(vg_arena_t *a, const char *s, size_t len);
vg_anyvalue_t *vg_build_value_int(vg_arena_t *a, int64_t v);
vg_anyvalue_t *vg_build_value_double(vg_arena_t *a, double v);
vg_anyvalue_t *vg_build_value_bool(vg_arena_t *a, bool v);

/* Metrics: batch must be a metrics batch. */
vg_resource_metrics_t *vg_build_resource_metrics(vg_batch_t *b);
vg_scope_metrics_t *vg_build_scope_metrics(vg_batch_t *b, vg_resource_metrics_t *rm, const char *name,
                                           const char *version);
typedef enum { VG_METRIC_GAUGE, VG_METRIC_SUM_CUMULATIVE, VG_METRIC_SUM_DELTA } vg_metric_kind_t;
/* monotonic applies to sums. */
vg_metric_t *vg_build_metric(vg_batch_t *b, vg_scope_metrics_t *sm, const char *name, const char *description,
                             const char *unit, vg_metric_kind_t kind, bool monotonic);
/* A point with a double (vg_build_point_double) or integer value. start_ns 0 for gauges. */
vg_number_point_t *vg_build_point_double(vg_batch_t *b, vg_metric_t *m, uint64_t start_ns, uint64_t ts_ns, double v);
vg_number_point_t *vg_build_point_int(vg_batch_t *b, vg_metric_t *m, uint64_t start_ns, uint64_t ts_ns, int64_t v);

/* Logs: batch must be a logs batch. */
vg_resource_logs_t *vg_build_resource_logs(vg_batch_t *b);
vg_scope_logs_t *vg_build_scope_logs(vg_batch_t *b, vg_resource_logs_t *rl, const char *name, const char *version);
vg_log_record_t *vg_build_log_record(vg_batch_t *b, vg_scope_logs_t *sl);

/* After building, set b->items and bytes (vg_batch_recount). */

#endif
