/* Option sub-tables shared by the otlp and otlphttp exporters, with the
 * OpenTelemetry Collector's names and defaults (configtls, configretry,
 * exporterhelper's sending_queue). Differences are documented in each doc
 * string and in docs/exporters-otlp.md. */
#include "otlpexp.h"

#include "collector/error.h"

#include <stdio.h>

const char *const oe_compressions[] = { "gzip", "zstd", "none", NULL };
static const char *const sizers[] = { "requests", "items", "bytes", NULL };

const vg_option_t oe_tls_opts[] = {
    { .name = "insecure", .type = VG_OPT_BOOL, .offset = offsetof(oe_tls_cfg_t, insecure), .def = "false",
      .doc = "otlp: send without TLS (HTTP/2 cleartext, prior knowledge) unless ca_file is set. otlphttp: ignored; "
             "the endpoint's scheme (http or https) decides." },
    { .name = "ca_file", .type = VG_OPT_STRING, .offset = offsetof(oe_tls_cfg_t, ca_file),
      .doc = "PEM file of CA certificates that verify the server; the system's CAs when unset." },
    { .name = "cert_file", .type = VG_OPT_STRING, .offset = offsetof(oe_tls_cfg_t, cert_file),
      .doc = "PEM client certificate for mutual TLS (with key_file)." },
    { .name = "key_file", .type = VG_OPT_STRING, .offset = offsetof(oe_tls_cfg_t, key_file),
      .doc = "PEM private key of cert_file." },
    { .name = "insecure_skip_verify", .type = VG_OPT_BOOL, .offset = offsetof(oe_tls_cfg_t, insecure_skip_verify),
      .def = "false", .doc = "Use TLS but do not verify the server's certificate or name." },
    { .name = "server_name_override", .type = VG_OPT_STRING,
      .offset = offsetof(oe_tls_cfg_t, server_name_override),
      .doc = "Name used for SNI and for verifying the server's certificate (and as the request's authority) "
             "instead of the endpoint's host." },
    { 0 },
};

const vg_option_t oe_retry_opts[] = {
    { .name = "enabled", .type = VG_OPT_BOOL, .offset = offsetof(oe_retry_cfg_t, enabled), .def = "true",
      .doc = "Retry failed requests whose error is retryable (gRPC UNAVAILABLE and friends, HTTP 429/502/503/504, "
             "connection errors). Permanent errors are never retried." },
    { .name = "initial_interval", .type = VG_OPT_DURATION, .offset = offsetof(oe_retry_cfg_t, initial_interval),
      .def = "5s", .min = "1ms", .doc = "Wait before the first retry." },
    { .name = "max_interval", .type = VG_OPT_DURATION, .offset = offsetof(oe_retry_cfg_t, max_interval),
      .def = "30s", .min = "1ms", .doc = "Upper bound on the wait between two attempts (before jitter)." },
    { .name = "max_elapsed_time", .type = VG_OPT_DURATION, .offset = offsetof(oe_retry_cfg_t, max_elapsed_time),
      .def = "300s", .min = "0",
      .doc = "Give up on a request this long after its first attempt (counted as send_failed). 0 retries forever." },
    { .name = "multiplier", .type = VG_OPT_DOUBLE, .offset = offsetof(oe_retry_cfg_t, multiplier), .def = "1.5",
      .min = "1", .doc = "Factor by which the wait grows after each retry." },
    { .name = "randomization_factor", .type = VG_OPT_DOUBLE,
      .offset = offsetof(oe_retry_cfg_t, randomization_factor), .def = "0.5", .min = "0", .max = "1",
      .doc = "Jitter: each wait is drawn uniformly from interval × [1 − factor, 1 + factor]. 0 turns jitter off." },
    { 0 },
};

const vg_option_t oe_queue_opts[] = {
    { .name = "enabled", .type = VG_OPT_BOOL, .offset = offsetof(oe_queue_cfg_t, enabled), .def = "true",
      .doc = "Queue requests in memory. When false, a request is accepted only if a consumer is free to send it "
             "at once; otherwise it is refused (retryable) and the pipeline pushes back." },
    { .name = "num_consumers", .type = VG_OPT_INT, .offset = offsetof(oe_queue_cfg_t, num_consumers), .def = "10",
      .min = "1", .max = "1000",
      .doc = "Requests in flight at once (including those waiting to be retried). Over gRPC they share one "
             "HTTP/2 connection." },
    { .name = "queue_size", .type = VG_OPT_INT, .offset = offsetof(oe_queue_cfg_t, queue_size), .def = "1000",
      .min = "1", .doc = "Capacity of the queue in `sizer` units. When full, new data is refused with a retryable "
                         "error so receivers push back." },
    { .name = "sizer", .type = VG_OPT_ENUM, .offset = offsetof(oe_queue_cfg_t, sizer), .def = "requests",
      .values = sizers,
      .doc = "Unit of queue_size: requests, items (spans, data points, log records) or bytes (encoded size before "
             "compression)." },
    { .name = "block_on_overflow", .type = VG_OPT_BOOL, .offset = offsetof(oe_queue_cfg_t, block_on_overflow),
      .def = "false",
      .doc = "Accepted for compatibility. Vigil never blocks its loop: a full queue always refuses with a "
             "retryable error and the data stays upstream (batch processor, receiver's client, file offset)." },
    { .name = "max_bytes", .type = VG_OPT_SIZE, .offset = offsetof(oe_queue_cfg_t, max_bytes), .def = "32MiB",
      .min = "1KiB",
      .doc = "Vigil: bound on the memory of queued and in-flight request bodies, whatever the sizer, so that a few "
             "huge requests cannot exhaust memory. A single larger request is accepted only when nothing else is "
             "held." },
    { 0 },
};

int oe_validate_common(const oe_cfg_t *cfg, const char *path, vg_errs_t *errs)
{
    char p[512];
    int rc = 0;
    if ((cfg->tls.cert_file && *cfg->tls.cert_file) != (cfg->tls.key_file && *cfg->tls.key_file)) {
        snprintf(p, sizeof p, "%s.tls", path);
        vg_errs_add(errs, NULL, p, "cert_file and key_file must be given together");
        rc = VG_ECONFIG;
    }
    if (cfg->retry.max_interval < cfg->retry.initial_interval) {
        snprintf(p, sizeof p, "%s.retry_on_failure.max_interval", path);
        vg_errs_add(errs, NULL, p, "must not be less than initial_interval");
        rc = VG_ECONFIG;
    }
    if (cfg->retry.max_elapsed_time > 0 && cfg->retry.max_elapsed_time < cfg->retry.initial_interval) {
        snprintf(p, sizeof p, "%s.retry_on_failure.max_elapsed_time", path);
        vg_errs_add(errs, NULL, p, "must be 0 or not less than initial_interval");
        rc = VG_ECONFIG;
    }
    for (size_t i = 0; i < cfg->headers.n; i++) {
        const char *k = cfg->headers.k[i], *v = cfg->headers.v[i] ? cfg->headers.v[i] : "";
        bool bad = !*k;
        for (const char *s = k; *s && !bad; s++) bad = *s <= ' ' || *s == ':' || *s >= 0x7f;
        for (const char *s = v; *s && !bad; s++) bad = *s == '\r' || *s == '\n';
        if (bad) {
            snprintf(p, sizeof p, "%s.headers.%s", path, k);
            vg_errs_add(errs, NULL, p, "not a valid header name or value");
            rc = VG_ECONFIG;
        }
    }
    return rc;
}
