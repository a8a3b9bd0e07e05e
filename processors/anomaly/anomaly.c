/* anomaly processor: scores data in place. Spans and log records get the
 * double attribute anomaly.score (0..1); metric points feed per-series
 * detectors and, with emit_score_metrics, an anomaly.score gauge point per
 * scored series is added in a scope "vigil/processor/anomaly". What is scored
 * how: anomaly_core.h and docs/anomaly-components.md. Events are the
 * `anomaly` connector's job (connectors/anomaly). */
#include "anomaly_core.h"

#include "component.h"
#include "error.h"
#include "log.h"
#include "mem.h"
#include "telemetry.h"

#include <stdio.h>

typedef struct {
    vg_anl_cfg_t common;
    bool emit_score_metrics;
} anomaly_proc_cfg_t;

static const vg_option_t anomaly_proc_opts[] = {
    VG_ANL_COMMON_OPTIONS(anomaly_proc_cfg_t, common),
    { .name = "emit_score_metrics", .type = VG_OPT_BOOL, .offset = offsetof(anomaly_proc_cfg_t, emit_score_metrics),
      .def = "false",
      .doc = "Add an anomaly.score gauge point (attributes: the point's own plus anomaly.metric and "
             "anomaly.detector) for every scored metric point. Off by default: it doubles the series count." },
    { 0 },
};

typedef struct {
    vg_component_t *c;
    vg_anl_t *anl;
    uv_timer_t timer;
    bool timer_open, closing;
    bool oom_logged;
} anomaly_proc_t;

static int proc_validate(const void *cfgp, const char *path, vg_errs_t *errs)
{
    return vg_anl_validate(&((const anomaly_proc_cfg_t *)cfgp)->common, path, errs);
}

static int proc_create(vg_component_t *c)
{
    const anomaly_proc_cfg_t *cfg = c->cfg;
    anomaly_proc_t *st = vg_calloc(1, sizeof *st);
    if (!st) return VG_ENOMEM;
    st->c = c;
    int rc = vg_anl_new(&st->anl, &cfg->common, NULL);
    if (rc) {
        vg_free(st);
        return rc;
    }
    c->state = st;
    return 0;
}

static void on_tick(uv_timer_t *t)
{
    anomaly_proc_t *st = t->data;
    vg_anl_tick(st->anl, vg_anl_now());
}

static int proc_start(vg_component_t *c)
{
    anomaly_proc_t *st = c->state;
    const anomaly_proc_cfg_t *cfg = c->cfg;
    if (!vg_anl_needs_tick(st->anl)) return 0;
    uv_timer_init(c->loop, &st->timer);
    st->timer.data = st;
    st->timer_open = true;
    uint64_t ms = (uint64_t)(cfg->common.window / 1000000);
    uv_timer_start(&st->timer, on_tick, ms, ms);
    return 0;
}

static int proc_consume(vg_component_t *c, vg_batch_t *b)
{
    anomaly_proc_t *st = c->state;
    const anomaly_proc_cfg_t *cfg = c->cfg;
    vg_signal_t s = b->signal;
    size_t items = b->items;
    ProtobufCMessage *m = vg_batch_writable(b);
    if (!m) return vg_component_refuse(c, b, vg_batch_err(b));
    c->stats.accepted[s] += items;
    int64_t now = vg_anl_now();
    int rc;
    if (s == VG_SIG_TRACES) rc = vg_anl_traces(st->anl, (vg_traces_req_t *)m, b->arena, now);
    else if (s == VG_SIG_LOGS) rc = vg_anl_logs(st->anl, (vg_logs_req_t *)m, b->arena, now);
    else rc = vg_anl_metrics(st->anl, (vg_metrics_req_t *)m, cfg->emit_score_metrics ? b : NULL, now);
    if (rc && !st->oom_logged) {
        /* the data is still valid, only not every item got its score: pass it on */
        VG_ERROR(c->id, "out of memory while scoring; some items were passed on without anomaly.score");
        st->oom_logged = true;
    }
    if (s == VG_SIG_METRICS && cfg->emit_score_metrics) vg_batch_recount(b);
    rc = vg_component_emit(c, b);
    if (rc) c->stats.refused[s] += items;
    return rc;
}

static void timer_closed(uv_handle_t *h)
{
    anomaly_proc_t *st = h->data;
    st->timer_open = false;
}

static void proc_shutdown(vg_component_t *c)
{
    anomaly_proc_t *st = c->state;
    if (!st || st->closing) return;
    st->closing = true;
    if (st->timer_open) uv_close((uv_handle_t *)&st->timer, timer_closed);
}

static bool proc_busy(vg_component_t *c)
{
    anomaly_proc_t *st = c->state;
    return st && st->timer_open;
}

static void proc_destroy(vg_component_t *c)
{
    anomaly_proc_t *st = c->state;
    if (!st) return;
    vg_anl_free(st->anl);
    vg_free(st);
    c->state = NULL;
}

static void proc_telemetry(vg_component_t *c, vg_telemetry_t *t)
{
    anomaly_proc_t *st = c->state;
    if (!st) return;
    char labels[512];
    snprintf(labels, sizeof labels, "processor=\"%s\",pipeline=\"%s\"", c->id, c->pipeline ? c->pipeline : "");
    vg_anl_telemetry(st->anl, t, labels);
}

const vg_factory_t vg_anomaly_processor_factory = {
    .type = "anomaly",
    .kind = VG_KIND_PROCESSOR,
    .description = "Scores telemetry for anomalies in place: spans (duration per service and span name, error "
                   "bursts) and log records (rate per source, novelty of the message template) get an "
                   "anomaly.score attribute (0..1); metric points (gauges by value, sums by rate, histograms by "
                   "count rate and mean) feed streaming per-series detectors, optionally emitting an "
                   "anomaly.score gauge. Bounded state: capped series, sources and templates, LRU eviction.",
    .signals = VG_SIGBITS_ALL,
    .mutates = true,
    .options = anomaly_proc_opts,
    .config_size = sizeof(anomaly_proc_cfg_t),
    .validate = proc_validate,
    .create = proc_create,
    .start = proc_start,
    .consume = proc_consume,
    .shutdown = proc_shutdown,
    .busy = proc_busy,
    .destroy = proc_destroy,
    .telemetry = proc_telemetry,
};
