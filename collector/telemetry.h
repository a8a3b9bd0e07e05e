/* Self-telemetry: samples gathered from the components' counters (and their
 * telemetry callbacks) and rendered as Prometheus text. */
#ifndef VIGIL_TELEMETRY_H
#define VIGIL_TELEMETRY_H

#include <stddef.h>
#include <uv.h>

typedef struct vg_service vg_service_t;
typedef struct vg_telemetry vg_telemetry_t;
typedef struct vg_telemetry_server vg_telemetry_server_t;

/* Adds one sample. type: "counter", "gauge" or "histogram"-style lines written
 * by the caller as gauges/counters with le labels. labels is the inside of
 * {...} without braces (may be NULL); copied. */
void vg_tm_add(vg_telemetry_t *t, const char *name, const char *type, const char *help, const char *labels,
               double value);

vg_telemetry_t *vg_tm_new(void);
void vg_tm_free(vg_telemetry_t *t);
/* Prometheus text exposition (families grouped, HELP and TYPE once each). */
char *vg_tm_render(vg_telemetry_t *t, size_t *len);

/* Gathers the standard counters of every component plus process figures. */
void vg_tm_collect(vg_telemetry_t *t, vg_service_t *svc);

/* GET /metrics on `endpoint` (host:port). */
int vg_telemetry_server_start(uv_loop_t *loop, vg_service_t *svc, const char *endpoint, vg_telemetry_server_t **out);
void vg_telemetry_server_close(vg_telemetry_server_t *s); /* NULL is fine */

/* Process figures read from /proc/self. */
int vg_process_stats(double *rss_bytes, double *peak_rss_bytes, double *cpu_seconds);

#endif
