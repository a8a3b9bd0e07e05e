/* The running collector: one loop, the current graph, signals, reload,
 * self-telemetry and health state. */
#ifndef VIGIL_SERVICE_H
#define VIGIL_SERVICE_H

#include "component.h"
#include "config.h"
#include "graph.h"

#include <uv.h>

typedef enum { VG_SVC_STARTING = 0, VG_SVC_RUNNING, VG_SVC_RELOADING, VG_SVC_DRAINING, VG_SVC_STOPPED } vg_svc_state_t;

/* Runs until SIGTERM/SIGINT and the drain finish. Returns the exit code:
 * 0 after a clean drain, 1 when the configuration or the start failed. */
int vg_service_run(const char *const *files, size_t nfiles);

vg_svc_state_t vg_service_state(const vg_service_t *s);
const char *vg_service_state_name(vg_svc_state_t st);
const vg_graph_t *vg_service_graph(const vg_service_t *s);
const vg_config_t *vg_service_config(const vg_service_t *s);
uint64_t vg_service_uptime_ms(const vg_service_t *s);
uint64_t vg_service_reloads(const vg_service_t *s, uint64_t *failed);
/* Renders the self-telemetry in Prometheus text format (vg_malloc'd, NUL-terminated). */
char *vg_service_metrics_text(vg_service_t *s, size_t *len);

#endif
