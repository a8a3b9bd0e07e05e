/* otlp exporter: OTLP over gRPC (HTTP/2 through libcurl on the loop), with the
 * OpenTelemetry Collector's options and defaults. The engine (queue, retry,
 * transport) is shared with otlphttp: see otlpexp.h. */
#include "otlpexp.h"

#include "collector/error.h"

#include <stdio.h>
#include <string.h>

static const vg_option_t otlp_opts[] = {
    { .name = "endpoint", .type = VG_OPT_STRING, .offset = offsetof(oe_cfg_t, endpoint), .flags = VG_OPT_REQUIRED,
      .doc = "gRPC target host:port (e.g. backend:4317). A http:// or https:// prefix is allowed (https forces "
             "TLS); unix:///path sends over a unix socket." },
    { .name = "tls", .type = VG_OPT_TABLE, .offset = offsetof(oe_cfg_t, tls), .sub = oe_tls_opts,
      .doc = "TLS settings. TLS (ALPN h2) is used unless tls.insecure is true." },
    { .name = "headers", .type = VG_OPT_MAP, .offset = offsetof(oe_cfg_t, headers), .flags = VG_OPT_SECRET,
      .doc = "Metadata sent with every request (e.g. authorization). Values may hold credentials." },
    { .name = "compression", .type = VG_OPT_ENUM, .offset = offsetof(oe_cfg_t, compression), .def = "gzip",
      .values = oe_compressions, .doc = "grpc-encoding of the messages." },
    { .name = "timeout", .type = VG_OPT_DURATION, .offset = offsetof(oe_cfg_t, timeout), .def = "5s", .min = "1ms",
      .doc = "Time limit of one attempt (connection included); sent as grpc-timeout." },
    { .name = "retry_on_failure", .type = VG_OPT_TABLE, .offset = offsetof(oe_cfg_t, retry), .sub = oe_retry_opts,
      .doc = "Retries with exponential backoff; RetryInfo from the server raises the wait." },
    { .name = "sending_queue", .type = VG_OPT_TABLE, .offset = offsetof(oe_cfg_t, queue), .sub = oe_queue_opts,
      .doc = "The bounded in-memory queue in front of the consumers." },
    { 0 },
};

static int otlp_validate(const void *cfgp, const char *path, vg_errs_t *errs)
{
    const oe_cfg_t *cfg = cfgp;
    int rc = oe_validate_common(cfg, path, errs);
    const char *ep = cfg->endpoint ? cfg->endpoint : "";
    char p[512];
    snprintf(p, sizeof p, "%s.endpoint", path);
    if (strncmp(ep, "unix:", 5) == 0) {
        if (!ep[5]) { vg_errs_add(errs, NULL, p, "unix: needs a socket path"); rc = VG_ECONFIG; }
        return rc;
    }
    if (strncmp(ep, "dns:///", 7) == 0) ep += 7;
    else if (strncmp(ep, "http://", 7) == 0) ep += 7;
    else if (strncmp(ep, "https://", 8) == 0) ep += 8;
    char hp[1024], host[1024];
    snprintf(hp, sizeof hp, "%s", ep);
    size_t l = strlen(hp);
    while (l && hp[l - 1] == '/') hp[--l] = '\0';
    int port;
    if (vg_parse_endpoint(hp, host, sizeof host, &port) || !*host || port == 0) {
        vg_errs_add(errs, NULL, p, "expected host:port (IPv6 in brackets), got '%s'", cfg->endpoint ? cfg->endpoint : "");
        rc = VG_ECONFIG;
    }
    return rc;
}

static int otlp_create(vg_component_t *c) { return oe_create(c, OE_PROTO_GRPC); }

const vg_factory_t vg_otlp_exporter_factory = {
    .type = "otlp",
    .kind = VG_KIND_EXPORTER,
    .description = "Sends traces, metrics and logs over OTLP/gRPC (HTTP/2, many exports multiplexed on one "
                   "connection) with gzip or zstd, a bounded sending queue that refuses upstream when full, and "
                   "retries with backoff for retryable errors only.",
    .signals = VG_SIGBITS_ALL,
    .options = otlp_opts,
    .config_size = sizeof(oe_cfg_t),
    .validate = otlp_validate,
    .create = otlp_create,
    .start = oe_start,
    .consume = oe_consume,
    .ready = oe_ready,
    .shutdown = oe_shutdown,
    .busy = oe_busy,
    .destroy = oe_destroy,
    .telemetry = oe_telemetry,
};
