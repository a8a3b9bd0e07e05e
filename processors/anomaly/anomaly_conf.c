/* Option tables shared by the anomaly processor and connector. */
#include "anomaly_core.h"

#include "collector/anomaly/engine.h"
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const vg_option_t vg_anl_metrics_options[] = {
    { .name = "enabled", .type = VG_OPT_BOOL, .offset = offsetof(vg_anl_metrics_cfg_t, enabled), .def = "true",
      .doc = "Score metric points." },
    { .name = "include", .type = VG_OPT_LIST, .offset = offsetof(vg_anl_metrics_cfg_t, include),
      .doc = "Only metrics whose name matches one of these globs (fnmatch) are scored; empty: all." },
    { .name = "exclude", .type = VG_OPT_LIST, .offset = offsetof(vg_anl_metrics_cfg_t, exclude),
      .def = "*.uptime,*.limit",
      .doc = "Metrics whose name matches one of these globs are not scored. By default uptimes (they only "
             "grow, so every point would be out of range) and limits (configuration, not behaviour)." },
    { .name = "min_change", .type = VG_OPT_MAP, .offset = offsetof(vg_anl_metrics_cfg_t, min_change),
      .doc = "Smallest change from the expected value that can matter, by metric name or by unit, e.g. "
             "{container.memory.usage: 16777216, \"{cpu}\": 0.1}. Built in: By 1 MiB, {cpu} / s / 1 0.05, ms 50, "
             "% 5, {process} {thread} {task} 2, other {…} counts 1; rates use the same figure per second; "
             "histogram count rates 1/s. A smaller change scores proportionally less." },
    { .name = "relative_change", .type = VG_OPT_DOUBLE, .offset = offsetof(vg_anl_metrics_cfg_t, relative_change),
      .def = "0.1", .min = "0", .max = "100",
      .doc = "A change smaller than this fraction of the expected value scores proportionally less (the larger "
             "of this and min_change applies)." },
    { 0 },
};

const vg_option_t vg_anl_traces_options[] = {
    { .name = "duration", .type = VG_OPT_BOOL, .offset = offsetof(vg_anl_traces_cfg_t, duration), .def = "true",
      .doc = "Score span durations per (service.name, span name), on a log scale." },
    { .name = "errors", .type = VG_OPT_BOOL, .offset = offsetof(vg_anl_traces_cfg_t, errors), .def = "true",
      .doc = "Score the share of spans with status ERROR per service.name and window; an error span in a "
             "burst gets that score." },
    { .name = "min_duration_ratio", .type = VG_OPT_DOUBLE,
      .offset = offsetof(vg_anl_traces_cfg_t, min_duration_ratio), .def = "1.5", .min = "1.01", .max = "1000",
      .doc = "A span only a little slower or faster than expected (less than this factor) scores "
             "proportionally less." },
    { .name = "min_errors", .type = VG_OPT_INT, .offset = offsetof(vg_anl_traces_cfg_t, min_errors), .def = "3",
      .min = "1", .max = "1000000", .doc = "Error spans a window needs before its error ratio can score." },
    { 0 },
};

const vg_option_t vg_anl_logs_options[] = {
    { .name = "rate", .type = VG_OPT_BOOL, .offset = offsetof(vg_anl_logs_cfg_t, rate), .def = "true",
      .doc = "Score the number of records per source and window." },
    { .name = "templates", .type = VG_OPT_BOOL, .offset = offsetof(vg_anl_logs_cfg_t, templates), .def = "true",
      .doc = "Mine message templates (the `message` attribute, else a string body) and score their novelty: "
             "1 for a never-seen template, halving with each earlier match." },
    { .name = "source_attributes", .type = VG_OPT_LIST, .offset = offsetof(vg_anl_logs_cfg_t, source_attributes),
      .def = "hostname,appname",
      .doc = "Record attributes that, with the identifying resource attributes, name a log source (the syslog "
             "receiver's hostname and appname)." },
    { .name = "min_rate_change", .type = VG_OPT_DOUBLE, .offset = offsetof(vg_anl_logs_cfg_t, min_rate_change),
      .def = "5", .min = "0", .max = "1e9",
      .doc = "Smallest change in records per window that can matter." },
    { .name = "relative_change", .type = VG_OPT_DOUBLE, .offset = offsetof(vg_anl_logs_cfg_t, relative_change),
      .def = "0.5", .min = "0", .max = "100",
      .doc = "A change in records per window smaller than this fraction of the expected count scores "
             "proportionally less." },
    { .name = "template_warmup", .type = VG_OPT_INT, .offset = offsetof(vg_anl_logs_cfg_t, template_warmup),
      .def = "500", .min = "0", .max = "1000000000",
      .doc = "Records mined before template novelty may score (at start every template is new)." },
    { .name = "template_similarity", .type = VG_OPT_DOUBLE,
      .offset = offsetof(vg_anl_logs_cfg_t, template_similarity), .def = "0.6", .min = "0.1", .max = "1",
      .doc = "Share of equal tokens (after masking numbers, ids, addresses) for a message to join a template; "
             "the differing tokens become <*>." },
    { 0 },
};

static const vg_option_t ratelimit_options[] = {
    { .name = "per_series_interval", .type = VG_OPT_DURATION,
      .offset = offsetof(vg_anl_ratelimit_cfg_t, series_interval), .def = "5m", .min = "0",
      .doc = "A series (or log source) earns one event token per interval; 0 means no per-series limit." },
    { .name = "per_series_burst", .type = VG_OPT_INT, .offset = offsetof(vg_anl_ratelimit_cfg_t, series_burst),
      .def = "2", .min = "1", .max = "1000", .doc = "Tokens a series can save up (and starts with)." },
    { .name = "global_per_minute", .type = VG_OPT_DOUBLE,
      .offset = offsetof(vg_anl_ratelimit_cfg_t, global_per_minute), .def = "60", .min = "0.01", .max = "1e9",
      .doc = "Events per minute over all series, on average." },
    { .name = "global_burst", .type = VG_OPT_INT, .offset = offsetof(vg_anl_ratelimit_cfg_t, global_burst),
      .def = "20", .min = "1", .max = "1000000", .doc = "Events the global bucket can save up (and starts with)." },
    { 0 },
};

const vg_option_t vg_anl_events_options[] = {
    { .name = "open_points", .type = VG_OPT_INT, .offset = offsetof(vg_anl_events_cfg_t, open_points), .def = "2",
      .min = "1", .max = "255",
      .doc = "Consecutive points at or above threshold that open an incident (metrics, span durations); one "
             "noisy point does not. Windowed series (log rate, span errors) open on one window." },
    { .name = "resolve_threshold", .type = VG_OPT_DOUBLE,
      .offset = offsetof(vg_anl_events_cfg_t, resolve_threshold), .def = "0.3", .min = "0", .max = "1",
      .doc = "Score below which a point of an open incident counts as calm (hysteresis: below threshold)." },
    { .name = "resolve_points", .type = VG_OPT_INT, .offset = offsetof(vg_anl_events_cfg_t, resolve_points),
      .def = "5", .min = "1", .max = "255", .doc = "Consecutive calm points that resolve an incident." },
    { .name = "error_threshold", .type = VG_OPT_DOUBLE, .offset = offsetof(vg_anl_events_cfg_t, error_threshold),
      .def = "0.9", .min = "0", .max = "1",
      .doc = "An incident opening with at least this score is an ERROR event, else WARN; resolutions are INFO." },
    { .name = "rate_limit", .type = VG_OPT_TABLE, .offset = offsetof(vg_anl_events_cfg_t, rate_limit),
      .sub = ratelimit_options,
      .doc = "Token buckets for incident-open and new-template events, per series and over all series. An "
             "incident whose open event was limited is still tracked, silently; resolve events are never "
             "limited (one at most follows each open event)." },
    { 0 },
};

int vg_anl_validate(const vg_anl_cfg_t *cfg, const char *path, vg_errs_t *errs)
{
    int rc = 0;
    vg_anom_config_t ec;
    vg_anom_config_default(&ec);
    for (size_t i = 0; i < cfg->engine.n; i++) {
        char p[600], *end = NULL;
        snprintf(p, sizeof p, "%s.engine.%s", path, cfg->engine.k[i]);
        const char *v = cfg->engine.v[i] ? cfg->engine.v[i] : "";
        double d = strtod(v, &end);
        int r = (!*v || *end) ? VG_EINVAL : vg_anom_config_set(&ec, cfg->engine.k[i], d);
        if (r == VG_ENOTFOUND) {
            vg_errs_add(errs, NULL, p, "unknown engine tunable '%s'", cfg->engine.k[i]);
            rc = VG_ECONFIG;
        } else if (r) {
            vg_errs_add(errs, NULL, p, "bad value '%s'", v);
            rc = VG_ECONFIG;
        } else if (strcmp(cfg->engine.k[i], "warmup") == 0) {
            vg_errs_add(errs, NULL, p, "set warmup at the top level, not in engine");
            rc = VG_ECONFIG;
        }
    }
    for (size_t i = 0; i < cfg->metrics.min_change.n; i++) {
        char p[600], *end = NULL;
        const char *v = cfg->metrics.min_change.v[i] ? cfg->metrics.min_change.v[i] : "";
        double d = strtod(v, &end);
        if (!*v || *end || !(d >= 0)) {
            snprintf(p, sizeof p, "%s.metrics.min_change.%s", path, cfg->metrics.min_change.k[i]);
            vg_errs_add(errs, NULL, p, "expected a number >= 0, got '%s'", v);
            rc = VG_ECONFIG;
        }
    }
    return rc;
}
