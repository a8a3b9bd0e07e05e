/* batch processor: groups items into batches by size and time, like the
 * OpenTelemetry Collector's (send_batch_size 8192, timeout 200ms,
 * send_batch_max_size 0 = unlimited), counting spans, metric data points and
 * log records.
 *
 * Zero copy: an output batch is built of small "view" structs (resource,
 * scope, metric) in its own arena that point at the items of the input
 * batches; the inputs stay alive as dependencies of the output. A cursor per
 * queued input records how much of it has been sent, so an input can be split
 * over several outputs without being changed. When an output is made of
 * whole inputs that are all still in wire form (as the otlp receiver made
 * them), it is just their list of encoded segments: nothing is decoded and
 * the exporter sends the bytes as they came.
 *
 * Back-pressure: when the next consumer refuses an output batch (retryable),
 * the batch is kept and retried every 50 ms; while it waits, new input is
 * refused with VG_EREFUSED so receivers push back. Nothing is dropped except
 * at the drain deadline (counted). */
#include "component.h"
#include "error.h"
#include "log.h"
#include "mem.h"
#include "otlp.h"
#include "telemetry.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    int64_t send_batch_size;
    int64_t timeout;
    int64_t send_batch_max_size;
} batch_cfg_t;

static const vg_option_t batch_opts[] = {
    { .name = "send_batch_size", .type = VG_OPT_INT, .offset = offsetof(batch_cfg_t, send_batch_size),
      .def = "8192", .min = "0",
      .doc = "Items (spans, data points, log records) that trigger sending a batch, regardless of the timeout." },
    { .name = "timeout", .type = VG_OPT_DURATION, .offset = offsetof(batch_cfg_t, timeout), .def = "200ms",
      .min = "0", .doc = "Time after which a non-empty batch is sent regardless of its size. 0 sends at once." },
    { .name = "send_batch_max_size", .type = VG_OPT_INT, .offset = offsetof(batch_cfg_t, send_batch_max_size),
      .def = "0", .min = "0",
      .doc = "Upper bound on a batch's items: larger ones are split. 0 means no limit. Must be 0 or at least "
             "send_batch_size." },
    { 0 },
};

static int batch_validate(const void *cfgp, const char *path, vg_errs_t *errs)
{
    const batch_cfg_t *cfg = cfgp;
    if (cfg->send_batch_max_size > 0 && cfg->send_batch_max_size < cfg->send_batch_size) {
        char p[512];
        snprintf(p, sizeof p, "%s.send_batch_max_size", path);
        vg_errs_add(errs, NULL, p, "must be 0 or greater than or equal to send_batch_size (%lld)",
                    (long long)cfg->send_batch_size);
        return VG_ECONFIG;
    }
    return 0;
}

typedef struct {
    vg_batch_t *b;
    size_t r, s, m, i; /* resource, scope, metric (metrics only), item */
} pend_t;

typedef struct {
    pend_t *q;
    size_t head, n, cap; /* ring buffer */
    size_t items;
    vg_batch_t *blocked; /* refused by the next consumer, waiting for a retry */
} sigq_t;

static const double size_buckets[] = { 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2000, 3000, 4000, 5000, 6000,
                                       7000, 8000, 9000, 10000, 20000, 30000, 50000, 100000 };
#define NBUCKETS (sizeof size_buckets / sizeof *size_buckets)

typedef struct {
    vg_component_t *c;
    sigq_t sq[VG_SIG_COUNT];
    uv_timer_t flush_timer, retry_timer;
    int open_timers;
    bool started, shutting;
    uint64_t size_trigger, timeout_trigger;
    uint64_t hist[NBUCKETS + 1];
    double hist_sum;
    uint64_t hist_count;
} batch_state_t;

/* ---- taking items from the queue into an output request ------------------- */

static int push_ptr(vg_arena_t *a, void ***arr, size_t *n, size_t *cap, void *p)
{
    if (vg_arena_grow(a, (void **)arr, cap, *n + 1, sizeof(void *))) return VG_ENOMEM;
    (*arr)[(*n)++] = p;
    return 0;
}

/* Traces and logs share a shape: request → resources → scopes → items. */
#define TAKE3(NAME, REQ_T, RES_T, SCOPE_T, NRES, RES, NSCOPE, SCOPE, NITEMS, ITEMS)                              \
    static int NAME(vg_batch_t *out, pend_t *p, size_t want, size_t *took, size_t *rcap)                         \
    {                                                                                                             \
        const REQ_T *in = (const REQ_T *)vg_batch_req(p->b);                                                      \
        REQ_T *o = (REQ_T *)vg_batch_writable(out);                                                               \
        if (!in || !o) return VG_ENOMEM; /* or undecodable: see purge_undecodable */                              \
        vg_arena_t *a = out->arena;                                                                               \
        while (*took < want && p->r < in->NRES) {                                                                 \
            const RES_T *rs = in->RES[p->r];                                                                      \
            RES_T *ors = vg_arena_alloc(a, sizeof *ors);                                                          \
            if (!ors) return VG_ENOMEM;                                                                           \
            *ors = *rs;                                                                                           \
            ors->NSCOPE = 0;                                                                                      \
            ors->SCOPE = NULL;                                                                                    \
            size_t scap = 0;                                                                                      \
            while (*took < want && p->s < rs->NSCOPE) {                                                           \
                const SCOPE_T *ss = rs->SCOPE[p->s];                                                              \
                size_t avail = ss->NITEMS - p->i;                                                                 \
                size_t k = avail < want - *took ? avail : want - *took;                                           \
                if (k > 0) {                                                                                      \
                    SCOPE_T *oss = vg_arena_alloc(a, sizeof *oss);                                                \
                    if (!oss) return VG_ENOMEM;                                                                   \
                    *oss = *ss;                                                                                   \
                    oss->ITEMS = ss->ITEMS + p->i;                                                                \
                    oss->NITEMS = k;                                                                              \
                    if (push_ptr(a, (void ***)&ors->SCOPE, &ors->NSCOPE, &scap, oss)) return VG_ENOMEM;           \
                    p->i += k;                                                                                    \
                    *took += k;                                                                                   \
                }                                                                                                 \
                if (p->i >= ss->NITEMS) { p->s++; p->i = 0; }                                                     \
            }                                                                                                     \
            if (ors->NSCOPE && push_ptr(a, (void ***)&o->RES, &o->NRES, rcap, ors)) return VG_ENOMEM;              \
            if (p->s >= rs->NSCOPE) { p->r++; p->s = 0; p->i = 0; }                                               \
        }                                                                                                         \
        return 0;                                                                                                 \
    }

TAKE3(take_traces, vg_traces_req_t, vg_resource_spans_t, vg_scope_spans_t, n_resource_spans, resource_spans,
      n_scope_spans, scope_spans, n_spans, spans)
TAKE3(take_logs, vg_logs_req_t, vg_resource_logs_t, vg_scope_logs_t, n_resource_logs, resource_logs, n_scope_logs,
      scope_logs, n_log_records, log_records)

/* Metrics count data points, so a metric itself may be split. */
static size_t metric_points(const vg_metric_t *m)
{
    switch (m->data_case) {
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE: return m->gauge ? m->gauge->n_data_points : 0;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM: return m->sum ? m->sum->n_data_points : 0;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM: return m->histogram ? m->histogram->n_data_points : 0;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM:
        return m->exponential_histogram ? m->exponential_histogram->n_data_points : 0;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY: return m->summary ? m->summary->n_data_points : 0;
    default: return 0;
    }
}

#define SLICE(FIELD, T)                                                                   \
    do {                                                                                  \
        T *d = vg_arena_alloc(a, sizeof *d);                                              \
        if (!d) return NULL;                                                              \
        *d = *m->FIELD;                                                                   \
        d->data_points = m->FIELD->data_points + from;                                    \
        d->n_data_points = k;                                                             \
        om->FIELD = d;                                                                    \
    } while (0)

static vg_metric_t *slice_metric(vg_arena_t *a, vg_metric_t *m, size_t from, size_t k)
{
    if (from == 0 && k == metric_points(m)) return m;
    vg_metric_t *om = vg_arena_alloc(a, sizeof *om);
    if (!om) return NULL;
    *om = *m;
    switch (m->data_case) {
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE: SLICE(gauge, Opentelemetry__Proto__Metrics__V1__Gauge); break;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM: SLICE(sum, Opentelemetry__Proto__Metrics__V1__Sum); break;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
        SLICE(histogram, Opentelemetry__Proto__Metrics__V1__Histogram);
        break;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM:
        SLICE(exponential_histogram, Opentelemetry__Proto__Metrics__V1__ExponentialHistogram);
        break;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY:
        SLICE(summary, Opentelemetry__Proto__Metrics__V1__Summary);
        break;
    default: break;
    }
    return om;
}

static int take_metrics(vg_batch_t *out, pend_t *p, size_t want, size_t *took, size_t *rcap)
{
    const vg_metrics_req_t *in = (const vg_metrics_req_t *)vg_batch_req(p->b);
    vg_metrics_req_t *o = (vg_metrics_req_t *)vg_batch_writable(out);
    if (!in || !o) return VG_ENOMEM;
    vg_arena_t *a = out->arena;
    while (*took < want && p->r < in->n_resource_metrics) {
        const vg_resource_metrics_t *rm = in->resource_metrics[p->r];
        vg_resource_metrics_t *orm = vg_arena_alloc(a, sizeof *orm);
        if (!orm) return VG_ENOMEM;
        *orm = *rm;
        orm->n_scope_metrics = 0;
        orm->scope_metrics = NULL;
        size_t scap = 0;
        while (*took < want && p->s < rm->n_scope_metrics) {
            const vg_scope_metrics_t *sm = rm->scope_metrics[p->s];
            vg_scope_metrics_t *osm = vg_arena_alloc(a, sizeof *osm);
            if (!osm) return VG_ENOMEM;
            *osm = *sm;
            osm->n_metrics = 0;
            osm->metrics = NULL;
            size_t mcap = 0;
            while (*took < want && p->m < sm->n_metrics) {
                vg_metric_t *m = sm->metrics[p->m];
                size_t total = metric_points(m), avail = total - p->i;
                size_t k = avail < want - *took ? avail : want - *took;
                if (k > 0) {
                    vg_metric_t *om = slice_metric(a, m, p->i, k);
                    if (!om || push_ptr(a, (void ***)&osm->metrics, &osm->n_metrics, &mcap, om)) return VG_ENOMEM;
                    p->i += k;
                    *took += k;
                }
                if (p->i >= total) { p->m++; p->i = 0; }
            }
            if (osm->n_metrics && push_ptr(a, (void ***)&orm->scope_metrics, &orm->n_scope_metrics, &scap, osm))
                return VG_ENOMEM;
            if (p->m >= sm->n_metrics) { p->s++; p->m = 0; p->i = 0; }
        }
        if (orm->n_scope_metrics &&
            push_ptr(a, (void ***)&o->resource_metrics, &o->n_resource_metrics, rcap, orm))
            return VG_ENOMEM;
        if (p->s >= rm->n_scope_metrics) { p->r++; p->s = 0; p->m = 0; p->i = 0; }
    }
    return 0;
}

/* Called after a take, so the input is decoded. */
static bool fully_taken(vg_signal_t sig, const pend_t *p)
{
    const ProtobufCMessage *m = vg_batch_req(p->b);
    if (sig == VG_SIG_TRACES) return p->r >= ((const vg_traces_req_t *)m)->n_resource_spans;
    if (sig == VG_SIG_LOGS) return p->r >= ((const vg_logs_req_t *)m)->n_resource_logs;
    return p->r >= ((const vg_metrics_req_t *)m)->n_resource_metrics;
}

/* How many inputs from the front make the output as whole requests in wire
 * form: all those within `want` items, or, when the next one would go over
 * `want` (send_batch_max_size, an upper bound), those before it. 0 when the
 * output must be built from messages: an input among them is decoded or
 * partly sent, or the first one alone is over `want` and must be split. */
static size_t whole_wire_inputs(const sigq_t *sq, size_t want)
{
    size_t took = 0, k = 0;
    while (took < want && k < sq->n) {
        const pend_t *p = &sq->q[(sq->head + k) % sq->cap];
        if (!vg_batch_has_wire(p->b) || p->r || p->s || p->m || p->i) return 0;
        if (took + p->b->items > want) break;
        took += p->b->items;
        k++;
    }
    return k;
}

/* The output as the inputs' encoded segments: no decoding, no re-encoding. */
static vg_batch_t *build_wire(sigq_t *sq, vg_signal_t sig, size_t k)
{
    vg_batch_t *out = vg_batch_new_wire(sig);
    if (!out) return NULL;
    for (size_t i = 0; i < k; i++)
        if (vg_batch_concat(out, sq->q[(sq->head + i) % sq->cap].b)) {
            vg_batch_unref(out);
            return NULL;
        }
    for (size_t i = 0; i < k; i++) {
        vg_batch_unref(sq->q[sq->head].b);
        sq->head = (sq->head + 1) % sq->cap;
        sq->n--;
    }
    sq->items -= out->items;
    vg_batch_recount(out);
    return out;
}

/* Builds an output batch of up to `want` items from the front of the queue.
 * Two phases: the output is built from copies of the cursors, and the queue is
 * changed only once it is complete, so a failed allocation loses nothing. */
static vg_batch_t *build(sigq_t *sq, vg_signal_t sig, size_t want)
{
    size_t whole = whole_wire_inputs(sq, want);
    if (whole) return build_wire(sq, sig, whole);
    vg_batch_t *out = vg_batch_new(sig);
    if (!out) return NULL;
    size_t took = 0, rcap = 0, done = 0;
    pend_t cur = { 0 };
    bool partial = false;
    while (took < want && done < sq->n) {
        pend_t *p = &sq->q[(sq->head + done) % sq->cap];
        cur = *p;
        size_t before = took;
        int rc = sig == VG_SIG_TRACES  ? take_traces(out, &cur, want, &took, &rcap)
                 : sig == VG_SIG_LOGS ? take_logs(out, &cur, want, &took, &rcap)
                                      : take_metrics(out, &cur, want, &took, &rcap);
        if (rc || (took > before && vg_batch_depend(out, p->b))) {
            vg_batch_unref(out);
            return NULL;
        }
        if (!fully_taken(sig, &cur)) { partial = true; break; }
        done++;
    }
    for (size_t i = 0; i < done; i++) {
        vg_batch_unref(sq->q[sq->head].b);
        sq->head = (sq->head + 1) % sq->cap;
        sq->n--;
    }
    if (partial) sq->q[sq->head] = cur;
    sq->items -= took;
    out->items = took;
    vg_batch_recount(out);
    return out;
}

static void record_size(batch_state_t *st, size_t n)
{
    size_t i = 0;
    while (i < NBUCKETS && (double)n > size_buckets[i]) i++;
    st->hist[i]++;
    st->hist_sum += (double)n;
    st->hist_count++;
}

/* Hands `out` to the next consumer. 0 when it is gone (sent or rejected for good),
 * or a retryable error when it must be kept for later. */
static int deliver(batch_state_t *st, vg_batch_t *out)
{
    vg_component_t *c = st->c;
    vg_signal_t s = out->signal;
    size_t items = out->items;
    int rc = vg_component_emit(c, vg_batch_ref(out));
    if (rc == 0) {
        record_size(st, items);
        vg_batch_unref(out);
        return 0;
    }
    if (vg_err_retryable(rc) || rc == VG_ENOMEM) {
        c->stats.refused[s] += items;
        return rc;
    }
    VG_ERROR(c->id, "next consumer rejected %zu %s: %s", items, vg_signal_items(s), vg_strerror(rc));
    c->stats.dropped[s] += items;
    vg_batch_unref(out);
    return 0;
}

static void on_retry(uv_timer_t *t);

static void arm_retry(batch_state_t *st)
{
    if (!uv_is_active((uv_handle_t *)&st->retry_timer)) uv_timer_start(&st->retry_timer, on_retry, 50, 0);
}

/* Inputs whose wire form turned out not to decode at all (a permanent
 * vg_batch_err found by a build; the receiver's check should rule it out)
 * would make every build fail and hold the queue for ever: drop them, counted
 * and logged. Decodes nothing itself. Returns how many. */
static size_t purge_undecodable(batch_state_t *st, sigq_t *sq, vg_signal_t s)
{
    size_t kept = 0, dropped = 0;
    for (size_t k = 0; k < sq->n; k++) {
        pend_t p = sq->q[(sq->head + k) % sq->cap];
        if (vg_batch_undecodable(p.b)) {
            VG_ERROR(st->c->id, "dropping %zu %s that cannot be decoded: %s", p.b->items, vg_signal_items(s),
                     vg_strerror(vg_batch_err(p.b)));
            st->c->stats.dropped[s] += p.b->items;
            sq->items -= p.b->items;
            vg_batch_unref(p.b);
            dropped++;
            continue;
        }
        sq->q[(sq->head + kept++) % sq->cap] = p;
    }
    sq->n = kept;
    return dropped;
}

/* Sends from queue `s` while it holds at least `threshold` items. */
static void send_while(batch_state_t *st, vg_signal_t s, size_t threshold)
{
    const batch_cfg_t *cfg = st->c->cfg;
    sigq_t *sq = &st->sq[s];
    while (!sq->blocked && sq->items > 0 && sq->items >= threshold) {
        size_t want = sq->items;
        if (cfg->send_batch_max_size > 0 && want > (size_t)cfg->send_batch_max_size)
            want = (size_t)cfg->send_batch_max_size;
        vg_batch_t *out = build(sq, s, want);
        if (!out) {
            if (purge_undecodable(st, sq, s)) continue;
            VG_ERROR(st->c->id, "out of memory building a batch; will retry");
            break;
        }
        if (deliver(st, out)) sq->blocked = out;
    }
    if (sq->blocked) arm_retry(st);
}

static void flush_all(batch_state_t *st)
{
    for (int s = 0; s < VG_SIG_COUNT; s++) send_while(st, (vg_signal_t)s, 1);
}

static void on_flush(uv_timer_t *t)
{
    batch_state_t *st = t->data;
    bool any = false;
    for (int s = 0; s < VG_SIG_COUNT; s++) any |= st->sq[s].items > 0;
    if (any) st->timeout_trigger++;
    flush_all(st);
}

static void on_retry(uv_timer_t *t)
{
    batch_state_t *st = t->data;
    for (int s = 0; s < VG_SIG_COUNT; s++) {
        sigq_t *sq = &st->sq[s];
        if (!sq->blocked) continue;
        vg_batch_t *b = sq->blocked;
        sq->blocked = NULL;
        if (deliver(st, b)) sq->blocked = b;
    }
    bool blocked = false;
    for (int s = 0; s < VG_SIG_COUNT; s++) blocked |= st->sq[s].blocked != NULL;
    if (blocked) { arm_retry(st); return; }
    /* Unblocked: send what piled up (during shutdown, everything). */
    const batch_cfg_t *cfg = st->c->cfg;
    for (int s = 0; s < VG_SIG_COUNT; s++)
        send_while(st, (vg_signal_t)s, st->shutting ? 1 : (size_t)(cfg->send_batch_size ? cfg->send_batch_size : 1));
}

static int batch_create(vg_component_t *c)
{
    batch_state_t *st = vg_calloc(1, sizeof *st);
    if (!st) return VG_ENOMEM;
    st->c = c;
    c->state = st;
    return 0;
}

static int batch_start(vg_component_t *c)
{
    batch_state_t *st = c->state;
    uv_timer_init(c->loop, &st->flush_timer);
    uv_timer_init(c->loop, &st->retry_timer);
    st->flush_timer.data = st->retry_timer.data = st;
    st->open_timers = 2;
    st->started = true;
    return 0;
}

/* Refuses exactly when batch_consume would (a held output, shutting down). */
static bool batch_ready(vg_component_t *c, vg_signal_t sig)
{
    batch_state_t *st = c->state;
    return st && !st->sq[sig].blocked && !st->shutting && st->open_timers > 0;
}

static int batch_consume(vg_component_t *c, vg_batch_t *b)
{
    batch_state_t *st = c->state;
    const batch_cfg_t *cfg = c->cfg;
    vg_signal_t s = b->signal;
    sigq_t *sq = &st->sq[s];
    if (b->items == 0) { vg_batch_unref(b); return 0; }
    if (sq->blocked || st->shutting || st->open_timers == 0) {
        c->stats.refused[s] += b->items;
        vg_batch_unref(b);
        return sq->blocked ? VG_EREFUSED : VG_ESHUTDOWN;
    }
    if (sq->n == sq->cap) {
        size_t nc = sq->cap ? sq->cap * 2 : 16;
        pend_t *q = vg_malloc(nc * sizeof *q);
        if (!q) { c->stats.refused[s] += b->items; vg_batch_unref(b); return VG_ENOMEM; }
        for (size_t i = 0; i < sq->n; i++) q[i] = sq->q[(sq->head + i) % (sq->cap ? sq->cap : 1)];
        vg_free(sq->q);
        sq->q = q;
        sq->head = 0;
        sq->cap = nc;
    }
    c->stats.accepted[s] += b->items;
    sq->q[(sq->head + sq->n) % sq->cap] = (pend_t){ .b = b };
    sq->n++;
    sq->items += b->items;
    if (cfg->timeout == 0) {
        send_while(st, s, 1);
        return 0;
    }
    if (cfg->send_batch_size > 0 && sq->items >= (size_t)cfg->send_batch_size) {
        st->size_trigger++;
        send_while(st, s, (size_t)cfg->send_batch_size);
    }
    if (sq->items > 0 && !uv_is_active((uv_handle_t *)&st->flush_timer))
        uv_timer_start(&st->flush_timer, on_flush, (uint64_t)(cfg->timeout / 1000000), 0);
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    batch_state_t *st = h->data;
    st->open_timers--;
}

static bool pending_any(const batch_state_t *st)
{
    for (int s = 0; s < VG_SIG_COUNT; s++)
        if (st->sq[s].items || st->sq[s].blocked) return true;
    return false;
}

static void maybe_close(batch_state_t *st)
{
    if (!st->shutting || !st->started || pending_any(st)) return;
    if (!uv_is_closing((uv_handle_t *)&st->flush_timer)) uv_close((uv_handle_t *)&st->flush_timer, timer_closed);
    if (!uv_is_closing((uv_handle_t *)&st->retry_timer)) uv_close((uv_handle_t *)&st->retry_timer, timer_closed);
}

/* The drain deadline passed: drop what is held (counted) so the timers can close. */
static void drop_all(batch_state_t *st)
{
    vg_component_t *c = st->c;
    for (int s = 0; s < VG_SIG_COUNT; s++) {
        sigq_t *sq = &st->sq[s];
        size_t lost = sq->items + (sq->blocked ? sq->blocked->items : 0);
        if (!lost) continue;
        c->stats.dropped[s] += lost;
        VG_ERROR(c->id, "drain deadline passed: dropping %zu %s the next consumer would not take", lost,
                 vg_signal_items(s));
        for (size_t i = 0; i < sq->n; i++) vg_batch_unref(sq->q[(sq->head + i) % sq->cap].b);
        vg_batch_unref(sq->blocked);
        sq->blocked = NULL;
        sq->n = sq->head = sq->items = 0;
    }
}

static void batch_shutdown(vg_component_t *c)
{
    batch_state_t *st = c->state;
    if (st && c->abandoned) {
        drop_all(st);
        maybe_close(st);
        return;
    }
    if (!st || st->shutting) return;
    st->shutting = true;
    if (st->open_timers == 0) return; /* never started */
    uv_timer_stop(&st->flush_timer);
    flush_all(st);
    maybe_close(st);
}

static bool batch_busy(vg_component_t *c)
{
    batch_state_t *st = c->state;
    maybe_close(st);
    return st->open_timers > 0;
}

static void batch_destroy(vg_component_t *c)
{
    batch_state_t *st = c->state;
    if (!st) return;
    for (int s = 0; s < VG_SIG_COUNT; s++) {
        sigq_t *sq = &st->sq[s];
        if (sq->items || sq->blocked) {
            size_t lost = sq->items + (sq->blocked ? sq->blocked->items : 0);
            c->stats.dropped[s] += lost;
            VG_ERROR(c->id, "dropping %zu %s still held at exit (drain deadline passed)", lost, vg_signal_items(s));
        }
        for (size_t i = 0; i < sq->n; i++) vg_batch_unref(sq->q[(sq->head + i) % sq->cap].b);
        vg_batch_unref(sq->blocked);
        vg_free(sq->q);
    }
    vg_free(st);
}

static void batch_telemetry(vg_component_t *c, vg_telemetry_t *t)
{
    batch_state_t *st = c->state;
    char labels[512], bl[600];
    snprintf(labels, sizeof labels, "processor=\"%s\",pipeline=\"%s\"", c->id, c->pipeline ? c->pipeline : "");
    vg_tm_add(t, "vigil_processor_batch_batch_size_trigger_send", "counter",
              "Batches sent because send_batch_size was reached.", labels, (double)st->size_trigger);
    vg_tm_add(t, "vigil_processor_batch_timeout_trigger_send", "counter", "Batches sent because the timeout fired.",
              labels, (double)st->timeout_trigger);
    uint64_t cum = 0;
    for (size_t i = 0; i <= NBUCKETS; i++) {
        cum += st->hist[i];
        if (i < NBUCKETS) snprintf(bl, sizeof bl, "%s,le=\"%g\"", labels, size_buckets[i]);
        else snprintf(bl, sizeof bl, "%s,le=\"+Inf\"", labels);
        vg_tm_add(t, "vigil_processor_batch_batch_send_size_bucket", "counter", "Items per batch sent.", bl,
                  (double)cum);
    }
    vg_tm_add(t, "vigil_processor_batch_batch_send_size_sum", "counter", "Items in all batches sent.", labels,
              st->hist_sum);
    vg_tm_add(t, "vigil_processor_batch_batch_send_size_count", "counter", "Batches sent.", labels,
              (double)st->hist_count);
}

const vg_factory_t vg_batch_processor_factory = {
    .type = "batch",
    .kind = VG_KIND_PROCESSOR,
    .description = "Groups spans, data points and log records into batches by size and time, splitting batches "
                   "over send_batch_max_size, without copying the data. Refuses new data (back-pressure) while "
                   "the next consumer refuses its output.",
    .signals = VG_SIGBITS_ALL,
    .options = batch_opts,
    .config_size = sizeof(batch_cfg_t),
    .validate = batch_validate,
    .create = batch_create,
    .start = batch_start,
    .consume = batch_consume,
    .ready = batch_ready,
    .shutdown = batch_shutdown,
    .busy = batch_busy,
    .destroy = batch_destroy,
    .telemetry = batch_telemetry,
};
