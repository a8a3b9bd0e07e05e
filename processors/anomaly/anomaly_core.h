/* The OTLP side of anomaly scoring, shared by the `anomaly` processor
 * (processors/anomaly/anomaly.c) and the `anomaly` connector
 * (connectors/anomaly/anomaly.c). The detector itself is the engine in
 * collector/anomaly/engine.h; this module decides what a series is, turns
 * OTLP data into (timestamp, value) points, keeps the per-series state in a
 * capped table, and (for the connector) runs incidents and builds events.
 *
 * What is scored (docs/anomaly-components.md has the details):
 *   metrics  one series per (identifying resource attributes, metric name,
 *            point attributes): gauges by value, sums by rate (cumulative:
 *            difference of successive points; resets and gaps re-prime),
 *            histograms and summaries by count rate and by mean
 *   spans    per (service.name, span name) by log duration; per service.name
 *            the error ratio per window
 *   logs     per source (identifying resource attributes + source record
 *            attributes) the record count per window; per record the
 *            novelty of its message template (streaming template mining)
 *
 * Each point gets a score in [0, 1]: the engine's score, weighed by how big
 * the change is against the series' significance floor, or the deviation
 * from a robust baseline of the series, whichever is higher. With events on
 * (the connector), a series whose score stays at or above `threshold` for
 * `open_points` points opens an incident (one event); after `resolve_points`
 * points below `resolve_threshold` it resolves (one event). Opens are
 * rate-limited per series and globally (token buckets).
 *
 * Bounded memory: at most max_series series, max_sources windowed sources
 * and max_templates templates, each a fixed-size entry; the least recently
 * seen is evicted (counted). vg_anl_bytes() reports the heap held.
 *
 * Not thread-safe: a vg_anl_t belongs to the loop of its component. Times
 * are nanoseconds since the epoch; `now` is passed in so tests control it. */
#ifndef VIGIL_PROCESSORS_ANOMALY_CORE_H
#define VIGIL_PROCESSORS_ANOMALY_CORE_H

#include "batch.h"
#include "options.h"
#include "otlp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- configuration (shared option tables in anomaly_conf.c) ------------- */

typedef struct {
    bool enabled;
    vg_strlist_t include, exclude; /* fnmatch globs on the metric name */
    vg_strmap_t min_change;        /* metric name or unit -> smallest change that matters */
    double relative_change;        /* ... or this fraction of the expected value */
} vg_anl_metrics_cfg_t;

typedef struct {
    bool duration, errors;
    double min_duration_ratio; /* a duration change smaller than this factor never matters */
    int64_t min_errors;        /* errors in a window before an error ratio can matter */
} vg_anl_traces_cfg_t;

typedef struct {
    bool rate, templates;
    vg_strlist_t source_attributes; /* record attributes that name the source (syslog hostname, appname) */
    double min_rate_change;         /* records per window */
    double relative_change;
    int64_t template_warmup;        /* records mined before novelty may score */
    double template_similarity;     /* share of equal tokens to join a template */
} vg_anl_logs_cfg_t;

typedef struct {
    double threshold;
    int64_t warmup;                 /* points per series before it may score */
    int64_t max_series, max_sources, max_templates;
    int64_t window;                 /* ns: log-rate and span-error windows */
    int64_t memory;                 /* ns: least time the baseline remembers */
    vg_strlist_t identity_attributes;
    vg_anl_metrics_cfg_t metrics;
    vg_anl_traces_cfg_t traces;
    vg_anl_logs_cfg_t logs;
    vg_strmap_t engine;             /* engine tunable -> value (vg_anom_config_set) */
} vg_anl_cfg_t;

typedef struct {
    int64_t series_interval; /* ns per token of a series' bucket */
    int64_t series_burst;
    double global_per_minute;
    int64_t global_burst;
} vg_anl_ratelimit_cfg_t;

typedef struct {
    double resolve_threshold, error_threshold;
    int64_t open_points, resolve_points;
    vg_anl_ratelimit_cfg_t rate_limit;
} vg_anl_events_cfg_t;

/* Option tables (relative offsets) and the top-level entries shared by both
 * components: VG_ANL_COMMON_OPTIONS(struct type, member of type vg_anl_cfg_t). */
extern const vg_option_t vg_anl_metrics_options[];
extern const vg_option_t vg_anl_traces_options[];
extern const vg_option_t vg_anl_logs_options[];
extern const vg_option_t vg_anl_events_options[];

#define VG_ANL_DEFAULT_IDENTITY                                                                                   \
    "container.id,k8s.pod.uid,k8s.pod.name,k8s.namespace.name,k8s.container.name,container.name,"                 \
    "systemd.unit.name,service.namespace,service.name,service.instance.id,host.name"

#define VG_ANL_COMMON_OPTIONS(T, F)                                                                               \
    { .name = "threshold", .type = VG_OPT_DOUBLE, .offset = offsetof(T, F.threshold), .def = "0.7", .min = "0.01", \
      .max = "1",                                                                                                 \
      .doc = "Score (0..1) at or above which a point counts as anomalous: spans and log records above it are "   \
             "the ones to look at; the connector opens an incident when a series stays at or above it." },       \
    { .name = "warmup", .type = VG_OPT_INT, .offset = offsetof(T, F.warmup), .def = "60", .min = "2",            \
      .max = "1000000",                                                                                           \
      .doc = "Points a series must have before it may score above 0 (metric points, spans of one span name, "    \
             "windows of a log source). At a 10 s scrape interval 60 points is 10 minutes." },                    \
    { .name = "max_series", .type = VG_OPT_INT, .offset = offsetof(T, F.max_series), .def = "10000", .min = "1",  \
      .max = "10000000",                                                                                          \
      .doc = "Most metric and span-duration series tracked; a new series beyond it evicts the least recently "   \
             "seen one (counted in vigil_anomaly_evictions_total). Under 2 KiB each, engine state included." },      \
    { .name = "max_sources", .type = VG_OPT_INT, .offset = offsetof(T, F.max_sources), .def = "2000",             \
      .min = "1", .max = "10000000",                                                                              \
      .doc = "Most windowed series (log sources, span error ratios per service) tracked, least recently seen "   \
             "evicted. A series entry plus about 290 bytes of stored identity each." },                              \
    { .name = "max_templates", .type = VG_OPT_INT, .offset = offsetof(T, F.max_templates), .def = "1000",         \
      .min = "1", .max = "1000000",                                                                               \
      .doc = "Most log message templates remembered, least recently seen evicted (an evicted template is new "   \
             "again when it comes back). About 300 bytes each." },                                                \
    { .name = "window", .type = VG_OPT_DURATION, .offset = offsetof(T, F.window), .def = "1s", .min = "100ms",    \
      .max = "1h",                                                                                                \
      .doc = "Length of the windows over which log records per source and span errors per service are "          \
             "counted; each closed window is one point of that series." },                                        \
    { .name = "memory", .type = VG_OPT_DURATION, .offset = offsetof(T, F.memory), .def = "1m", .min = "0s",     \
      .max = "30d",                                                                                               \
      .doc = "Least time a series' baseline (expected value and spread) remembers; it also remembers at least "  \
             "20 points. A lasting change becomes the new normal over a few times this (or 20 points), so a "    \
             "series with many points a second (spans) keeps scoring a latency jump high for about this long." }, \
    { .name = "identity_attributes", .type = VG_OPT_LIST, .offset = offsetof(T, F.identity_attributes),          \
      .def = VG_ANL_DEFAULT_IDENTITY,                                                                             \
      .doc = "Resource attributes that identify where data comes from: they (with the metric name and point "    \
             "attributes) make a series, they name the source in event text, and they are copied onto the "      \
             "event's resource. Other resource attributes are ignored." },                                        \
    { .name = "metrics", .type = VG_OPT_TABLE, .offset = offsetof(T, F.metrics), .sub = vg_anl_metrics_options,   \
      .doc = "Metric scoring: gauges by value, sums by rate, histograms and summaries by count rate and mean." }, \
    { .name = "traces", .type = VG_OPT_TABLE, .offset = offsetof(T, F.traces), .sub = vg_anl_traces_options,      \
      .doc = "Span scoring: duration per (service.name, span name), error ratio per service.name." },            \
    { .name = "logs", .type = VG_OPT_TABLE, .offset = offsetof(T, F.logs), .sub = vg_anl_logs_options,            \
      .doc = "Log scoring: records per source per window, novelty of the message template." },                   \
    { .name = "engine", .type = VG_OPT_MAP, .offset = offsetof(T, F.engine),                                      \
      .doc = "Expert: engine tunables by name (bins, suppress, level_alpha, ... see docs/anomaly.md), e.g. "     \
             "{suppress: 50}. The defaults are the ones measured on NAB; warmup is set by the option above." }

/* Cross-field checks shared by both components (the engine map). */
int vg_anl_validate(const vg_anl_cfg_t *cfg, const char *path, vg_errs_t *errs);

/* ---- the scorer ---------------------------------------------------------- */

typedef struct vg_anl vg_anl_t;

typedef struct {
    uint64_t points;          /* metric points, spans, log records scored */
    uint64_t series_evictions, source_evictions, template_evictions;
    uint64_t resets, gaps;    /* cumulative counters that restarted / long silences (re-primed) */
    uint64_t skipped;         /* points not scored (no value, NaN, excluded kinds, no memory) */
    uint64_t incidents_opened, incidents_resolved;
    uint64_t events_open, events_resolved, events_novel; /* events built */
    uint64_t events_suppressed;  /* not built: rate limits */
    uint64_t events_failed;      /* could not be built (memory) */
    uint64_t templates_created;
} vg_anl_stats_t;

/* ev NULL: score only (processor); else incidents and events (connector).
 * cfg and ev must outlive the scorer. 0, VG_ENOMEM, VG_EINVAL. */
int vg_anl_new(vg_anl_t **out, const vg_anl_cfg_t *cfg, const vg_anl_events_cfg_t *ev);
void vg_anl_free(vg_anl_t *a); /* NULL is fine */

/* Score a request. With `ar` (the batch's arena; the caller owns the batch
 * writably) every span / log record gets the double attribute
 * anomaly.score. Returns 0 or VG_ENOMEM (scoring went as far as it could;
 * the data stays valid). */
int vg_anl_traces(vg_anl_t *a, vg_traces_req_t *r, vg_arena_t *ar, int64_t now);
int vg_anl_logs(vg_anl_t *a, vg_logs_req_t *r, vg_arena_t *ar, int64_t now);
/* With `score_into` (the batch r belongs to, writable) a scope
 * "vigil/processor/anomaly" with an anomaly.score gauge point per scored
 * series is added to each resource; the caller recounts the batch. */
int vg_anl_metrics(vg_anl_t *a, vg_metrics_req_t *r, vg_batch_t *score_into, int64_t now);

/* Closes the windows that ended by `now` (call every `window`). */
void vg_anl_tick(vg_anl_t *a, int64_t now);
/* True when windowed detectors are on (the component then runs a timer). */
bool vg_anl_needs_tick(const vg_anl_t *a);

/* The events built since the last call, as one logs batch (the caller owns
 * it), or NULL when there are none. */
vg_batch_t *vg_anl_take_events(vg_anl_t *a);

const vg_anl_stats_t *vg_anl_stats(const vg_anl_t *a);
size_t vg_anl_series_count(const vg_anl_t *a);
size_t vg_anl_sources_count(const vg_anl_t *a);
size_t vg_anl_templates_count(const vg_anl_t *a);
size_t vg_anl_open_incidents(const vg_anl_t *a);
/* Heap bytes held (tables, engine state included). */
size_t vg_anl_bytes(const vg_anl_t *a);
/* Bytes of one series entry (engine state included), one windowed source
 * (the same plus its stored identity) and one template entry. */
size_t vg_anl_series_entry_bytes(void);
size_t vg_anl_source_entry_bytes(void);
size_t vg_anl_template_entry_bytes(void);

/* Wall clock, ns. */
int64_t vg_anl_now(void);

/* Self-telemetry shared by both components: labels is the inside of {...}. */
typedef struct vg_telemetry vg_telemetry_t;
void vg_anl_telemetry(const vg_anl_t *a, vg_telemetry_t *t, const char *labels);

#endif
