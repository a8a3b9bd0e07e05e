/* otlphttp exporter: OTLP over HTTP (POST <endpoint>/v1/traces|metrics|logs,
 * protobuf or JSON), with the OpenTelemetry Collector's options and defaults.
 * The engine (queue, retry, transport) is shared with the otlp exporter: see
 * exporters/otlp/otlpexp.h. */
#include "exporters/otlp/otlpexp.h"

#include "collector/error.h"

#include <stdio.h>
#include <string.h>

static const char *const encodings[] = { "proto", "json", NULL };

static const vg_option_t otlphttp_opts[] = {
    { .name = "endpoint", .type = VG_OPT_STRING, .offset = offsetof(oe_cfg_t, endpoint),
      .doc = "Base URL (e.g. https://backend:4318); /v1/traces, /v1/metrics or /v1/logs is appended. Required "
             "unless every signal used has its own *_endpoint." },
    { .name = "traces_endpoint", .type = VG_OPT_STRING, .offset = offsetof(oe_cfg_t, signal_endpoint[VG_SIG_TRACES]),
      .doc = "Full URL for traces; overrides endpoint for them." },
    { .name = "metrics_endpoint", .type = VG_OPT_STRING,
      .offset = offsetof(oe_cfg_t, signal_endpoint[VG_SIG_METRICS]),
      .doc = "Full URL for metrics; overrides endpoint for them." },
    { .name = "logs_endpoint", .type = VG_OPT_STRING, .offset = offsetof(oe_cfg_t, signal_endpoint[VG_SIG_LOGS]),
      .doc = "Full URL for logs; overrides endpoint for them." },
    { .name = "encoding", .type = VG_OPT_ENUM, .offset = offsetof(oe_cfg_t, encoding), .def = "proto",
      .values = encodings, .doc = "Body encoding: proto (application/x-protobuf) or json (application/json)." },
    { .name = "tls", .type = VG_OPT_TABLE, .offset = offsetof(oe_cfg_t, tls), .sub = oe_tls_opts,
      .doc = "TLS settings, used for https:// URLs (HTTP/2 by ALPN, else HTTP/1.1)." },
    { .name = "headers", .type = VG_OPT_MAP, .offset = offsetof(oe_cfg_t, headers), .flags = VG_OPT_SECRET,
      .doc = "Headers sent with every request (e.g. authorization). Values may hold credentials." },
    { .name = "compression", .type = VG_OPT_ENUM, .offset = offsetof(oe_cfg_t, compression), .def = "gzip",
      .values = oe_compressions, .doc = "Content-Encoding of the bodies." },
    { .name = "timeout", .type = VG_OPT_DURATION, .offset = offsetof(oe_cfg_t, timeout), .def = "30s", .min = "1ms",
      .doc = "Time limit of one attempt (connection included)." },
    { .name = "retry_on_failure", .type = VG_OPT_TABLE, .offset = offsetof(oe_cfg_t, retry), .sub = oe_retry_opts,
      .doc = "Retries with exponential backoff; Retry-After on 429/503 raises the wait." },
    { .name = "sending_queue", .type = VG_OPT_TABLE, .offset = offsetof(oe_cfg_t, queue), .sub = oe_queue_opts,
      .doc = "The bounded in-memory queue in front of the consumers." },
    { 0 },
};

static int check_url(const char *u, const char *path, const char *name, vg_errs_t *errs)
{
    if (!u || !*u) return 0;
    if (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0) return 0;
    char p[512];
    snprintf(p, sizeof p, "%s.%s", path, name);
    vg_errs_add(errs, NULL, p, "expected an http:// or https:// URL, got '%s'", u);
    return VG_ECONFIG;
}

static int otlphttp_validate(const void *cfgp, const char *path, vg_errs_t *errs)
{
    const oe_cfg_t *cfg = cfgp;
    int rc = oe_validate_common(cfg, path, errs);
    static const char *const names[VG_SIG_COUNT] = { "traces_endpoint", "metrics_endpoint", "logs_endpoint" };
    bool any = cfg->endpoint && *cfg->endpoint;
    if (check_url(cfg->endpoint, path, "endpoint", errs)) rc = VG_ECONFIG;
    for (int s = 0; s < VG_SIG_COUNT; s++) {
        any |= cfg->signal_endpoint[s] && *cfg->signal_endpoint[s];
        if (check_url(cfg->signal_endpoint[s], path, names[s], errs)) rc = VG_ECONFIG;
    }
    if (!any) {
        char p[512];
        snprintf(p, sizeof p, "%s.endpoint", path);
        vg_errs_add(errs, NULL, p, "endpoint (or traces_endpoint, metrics_endpoint, logs_endpoint) is required");
        rc = VG_ECONFIG;
    }
    return rc;
}

static int otlphttp_create(vg_component_t *c) { return oe_create(c, OE_PROTO_HTTP); }

const vg_factory_t vg_otlphttp_exporter_factory = {
    .type = "otlphttp",
    .kind = VG_KIND_EXPORTER,
    .description = "Sends traces, metrics and logs over OTLP/HTTP (protobuf or JSON, gzip or zstd) with a bounded "
                   "sending queue that refuses upstream when full, retries with backoff for 429/502/503/504 and "
                   "connection errors (honouring Retry-After), and partial-success accounting.",
    .signals = VG_SIGBITS_ALL,
    .options = otlphttp_opts,
    .config_size = sizeof(oe_cfg_t),
    .validate = otlphttp_validate,
    .create = otlphttp_create,
    .start = oe_start,
    .consume = oe_consume,
    .shutdown = oe_shutdown,
    .busy = oe_busy,
    .destroy = oe_destroy,
    .telemetry = oe_telemetry,
};
