/* anomaly connector: consumes metrics, logs or traces, scores them with the
 * same module as the anomaly processor (processors/anomaly/anomaly_core.h)
 * and emits anomaly EVENTS as log records into logs pipelines: one when an
 * incident opens, one when it resolves, one per never-seen log template,
 * rate-limited per series and globally.
 *
 * Back-pressure: the connector never refuses its input (scoring cannot fail
 * the data, and a refusal would make receivers resend to every pipeline).
 * When the logs pipeline refuses an event batch (retryable), the batch is
 * kept and retried every retry_interval; later events queue behind it, up to
 * max_pending_events, beyond which new events are dropped and counted
 * (vigil_connector_dropped_log_records). At shutdown pending events are
 * offered every 50 ms for at most SHUTDOWN_TRIES tries (1 s), then dropped
 * and counted, so the connector never outlives the drain with open timers. */
#include "processors/anomaly/anomaly_core.h"

#include "component.h"
#include "error.h"
#include "log.h"
#include "mem.h"
#include "telemetry.h"

#include <stdio.h>

#define SHUTDOWN_RETRY_MS 50
#define SHUTDOWN_TRIES 20

typedef struct {
    vg_anl_cfg_t common;
    vg_anl_events_cfg_t events;
    int64_t max_pending_events;
    int64_t retry_interval;
} anomaly_conn_cfg_t;

static const vg_option_t anomaly_conn_opts[] = {
    VG_ANL_COMMON_OPTIONS(anomaly_conn_cfg_t, common),
    { .name = "events", .type = VG_OPT_TABLE, .offset = offsetof(anomaly_conn_cfg_t, events),
      .sub = vg_anl_events_options,
      .doc = "Incidents and events: when a series' incident opens and resolves, severity, rate limits." },
    { .name = "max_pending_events", .type = VG_OPT_INT, .offset = offsetof(anomaly_conn_cfg_t, max_pending_events),
      .def = "1000", .min = "1", .max = "10000000",
      .doc = "Events kept while the logs pipeline refuses them (retryable); beyond this new events are dropped "
             "and counted." },
    { .name = "retry_interval", .type = VG_OPT_DURATION, .offset = offsetof(anomaly_conn_cfg_t, retry_interval),
      .def = "1s", .min = "10ms", .max = "1h", .doc = "How often refused events are offered again." },
    { 0 },
};

typedef struct {
    vg_component_t *c;
    vg_anl_t *anl;
    uv_timer_t tick, retry;
    int open_handles, shutdown_tries;
    bool started, closing;
    vg_batch_t **q; /* ring of refused event batches, oldest first */
    size_t qhead, qn, qcap, qitems;
} anomaly_conn_t;

static int conn_validate(const void *cfgp, const char *path, vg_errs_t *errs)
{
    const anomaly_conn_cfg_t *cfg = cfgp;
    int rc = vg_anl_validate(&cfg->common, path, errs);
    if (cfg->events.resolve_threshold > cfg->common.threshold) {
        char p[600];
        snprintf(p, sizeof p, "%s.events.resolve_threshold", path);
        vg_errs_add(errs, NULL, p, "must not be above threshold (%g)", cfg->common.threshold);
        rc = VG_ECONFIG;
    }
    return rc;
}

static int conn_create(vg_component_t *c)
{
    const anomaly_conn_cfg_t *cfg = c->cfg;
    anomaly_conn_t *st = vg_calloc(1, sizeof *st);
    if (!st) return VG_ENOMEM;
    st->c = c;
    int rc = vg_anl_new(&st->anl, &cfg->common, &cfg->events);
    if (rc) {
        vg_free(st);
        return rc;
    }
    c->state = st;
    return 0;
}

/* ---- delivery ---------------------------------------------------------------------- */

static void on_retry(uv_timer_t *t);

static void arm_retry(anomaly_conn_t *st)
{
    const anomaly_conn_cfg_t *cfg = st->c->cfg;
    uint64_t ms = st->closing ? SHUTDOWN_RETRY_MS : (uint64_t)(cfg->retry_interval / 1000000);
    if (st->open_handles && !uv_is_active((uv_handle_t *)&st->retry) && !uv_is_closing((uv_handle_t *)&st->retry))
        uv_timer_start(&st->retry, on_retry, ms, 0);
}

static void drop(anomaly_conn_t *st, vg_batch_t *b, const char *why)
{
    st->c->stats.dropped[VG_SIG_LOGS] += b->items;
    VG_WARN(st->c->id, "dropping %zu anomaly events: %s", b->items, why);
    vg_batch_unref(b);
}

/* Keeps b (taken over) at the end of the queue, or drops it when full. */
static void enqueue(anomaly_conn_t *st, vg_batch_t *b)
{
    const anomaly_conn_cfg_t *cfg = st->c->cfg;
    if (st->qitems + b->items > (size_t)cfg->max_pending_events) {
        drop(st, b, "max_pending_events reached while the logs pipeline refuses");
        return;
    }
    if (st->qn == st->qcap) {
        size_t nc = st->qcap ? st->qcap * 2 : 8;
        vg_batch_t **q = vg_malloc(nc * sizeof *q);
        if (!q) {
            drop(st, b, "out of memory");
            return;
        }
        for (size_t i = 0; i < st->qn; i++) q[i] = st->q[(st->qhead + i) % st->qcap];
        vg_free(st->q);
        st->q = q;
        st->qhead = 0;
        st->qcap = nc;
    }
    st->q[(st->qhead + st->qn) % st->qcap] = b;
    st->qn++;
    st->qitems += b->items;
    st->c->stats.queue_size = (int64_t)st->qitems;
    arm_retry(st);
}

/* Offers b (taken over) downstream: 0 when it is gone (sent or rejected for
 * good), else the retryable error (b is then still the caller's). */
static int offer(anomaly_conn_t *st, vg_batch_t *b)
{
    vg_component_t *c = st->c;
    size_t items = b->items;
    int rc = vg_component_emit(c, vg_batch_ref(b));
    if (rc == 0) {
        c->stats.sent[VG_SIG_LOGS] += items;
        vg_batch_unref(b);
        return 0;
    }
    if (vg_err_retryable(rc) || rc == VG_ENOMEM) return rc;
    c->stats.send_failed[VG_SIG_LOGS] += items;
    VG_ERROR(c->id, "logs pipeline rejected %zu anomaly events: %s", items, vg_strerror(rc));
    vg_batch_unref(b);
    return 0;
}

static void deliver(anomaly_conn_t *st, vg_batch_t *b)
{
    if (!b) return;
    if (st->qn || offer(st, b) != 0) enqueue(st, b);
}

static void flush_events(anomaly_conn_t *st) { deliver(st, vg_anl_take_events(st->anl)); }

static void maybe_close(anomaly_conn_t *st);

static void on_retry(uv_timer_t *t)
{
    anomaly_conn_t *st = t->data;
    while (st->qn) {
        vg_batch_t *b = st->q[st->qhead];
        size_t items = b->items;
        if (offer(st, b) != 0) break;
        st->qhead = (st->qhead + 1) % st->qcap;
        st->qn--;
        st->qitems -= items;
    }
    if (st->qn && st->closing && ++st->shutdown_tries >= SHUTDOWN_TRIES) {
        VG_ERROR(st->c->id, "the logs pipeline still refuses at shutdown; dropping %zu pending anomaly events",
                 st->qitems);
        st->c->stats.dropped[VG_SIG_LOGS] += st->qitems;
        for (size_t i = 0; i < st->qn; i++) vg_batch_unref(st->q[(st->qhead + i) % st->qcap]);
        st->qn = st->qitems = 0;
    }
    st->c->stats.queue_size = (int64_t)st->qitems;
    if (st->qn) arm_retry(st);
    maybe_close(st);
}

static void on_tick(uv_timer_t *t)
{
    anomaly_conn_t *st = t->data;
    vg_anl_tick(st->anl, vg_anl_now());
    flush_events(st);
}

static int conn_start(vg_component_t *c)
{
    anomaly_conn_t *st = c->state;
    const anomaly_conn_cfg_t *cfg = c->cfg;
    uv_timer_init(c->loop, &st->tick);
    uv_timer_init(c->loop, &st->retry);
    st->tick.data = st->retry.data = st;
    st->open_handles = 2;
    st->started = true;
    c->stats.queue_capacity = cfg->max_pending_events;
    if (vg_anl_needs_tick(st->anl)) {
        uint64_t ms = (uint64_t)(cfg->common.window / 1000000);
        uv_timer_start(&st->tick, on_tick, ms, ms);
    }
    return 0;
}

static int conn_consume(vg_component_t *c, vg_batch_t *b)
{
    anomaly_conn_t *st = c->state;
    int64_t now = vg_anl_now();
    /* read only: the batch may be shared with other pipelines */
    ProtobufCMessage *m = vg_batch_req(b);
    if (!m) {
        int err = vg_batch_err(b);
        vg_batch_unref(b);
        return err;
    }
    if (b->signal == VG_SIG_TRACES) vg_anl_traces(st->anl, (vg_traces_req_t *)m, NULL, now);
    else if (b->signal == VG_SIG_LOGS) vg_anl_logs(st->anl, (vg_logs_req_t *)m, NULL, now);
    else vg_anl_metrics(st->anl, (vg_metrics_req_t *)m, NULL, now);
    vg_batch_unref(b);
    if (st->started) flush_events(st);
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static void handle_closed(uv_handle_t *h)
{
    anomaly_conn_t *st = h->data;
    st->open_handles--;
}

static void maybe_close(anomaly_conn_t *st)
{
    if (!st->closing || !st->started || st->qn) return;
    if (!uv_is_closing((uv_handle_t *)&st->tick)) uv_close((uv_handle_t *)&st->tick, handle_closed);
    if (!uv_is_closing((uv_handle_t *)&st->retry)) uv_close((uv_handle_t *)&st->retry, handle_closed);
}

static void conn_shutdown(vg_component_t *c)
{
    anomaly_conn_t *st = c->state;
    if (!st || st->closing) return;
    st->closing = true;
    if (!st->started) return;
    uv_timer_stop(&st->tick);
    flush_events(st);
    if (st->qn) { /* offer what waits more often from now on */
        uv_timer_stop(&st->retry);
        arm_retry(st);
    }
    maybe_close(st);
}

static bool conn_busy(vg_component_t *c)
{
    anomaly_conn_t *st = c->state;
    if (!st) return false;
    maybe_close(st);
    return st->open_handles > 0;
}

static void conn_destroy(vg_component_t *c)
{
    anomaly_conn_t *st = c->state;
    if (!st) return;
    if (st->qn) {
        c->stats.dropped[VG_SIG_LOGS] += st->qitems;
        VG_ERROR(c->id, "dropping %zu anomaly events still pending at exit (drain deadline passed)", st->qitems);
    }
    for (size_t i = 0; i < st->qn; i++) vg_batch_unref(st->q[(st->qhead + i) % st->qcap]);
    vg_free(st->q);
    vg_anl_free(st->anl);
    vg_free(st);
    c->state = NULL;
}

static void conn_telemetry(vg_component_t *c, vg_telemetry_t *t)
{
    anomaly_conn_t *st = c->state;
    if (!st) return;
    char labels[512];
    snprintf(labels, sizeof labels, "connector=\"%s\"", c->id);
    vg_anl_telemetry(st->anl, t, labels);
    vg_tm_add(t, "vigil_anomaly_events_pending", "gauge", "Events waiting for the logs pipeline to accept them.",
              labels, (double)st->qitems);
}

const vg_factory_t vg_anomaly_connector_factory = {
    .type = "anomaly",
    .kind = VG_KIND_CONNECTOR,
    .description = "Scores metrics, logs or traces for anomalies (same detectors as the anomaly processor) and "
                   "emits anomaly events as log records (event.name vigil.anomaly) into logs pipelines: one "
                   "when a series' incident opens, one when it resolves, one per never-seen log template; "
                   "severity by score, a one-sentence body naming the container, pod, service or host, "
                   "rate-limited per series and globally.",
    .connects = { [VG_SIG_TRACES] = VG_SIGBIT(VG_SIG_LOGS), [VG_SIG_METRICS] = VG_SIGBIT(VG_SIG_LOGS),
                  [VG_SIG_LOGS] = VG_SIGBIT(VG_SIG_LOGS) },
    .options = anomaly_conn_opts,
    .config_size = sizeof(anomaly_conn_cfg_t),
    .validate = conn_validate,
    .create = conn_create,
    .start = conn_start,
    .consume = conn_consume,
    .shutdown = conn_shutdown,
    .busy = conn_busy,
    .destroy = conn_destroy,
    .telemetry = conn_telemetry,
};
