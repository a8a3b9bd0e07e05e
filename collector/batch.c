#include "batch.h"

#include "error.h"
#include "mem.h"
#include "otlp.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const ProtobufCMessageDescriptor *req_desc(vg_signal_t sig)
{
    switch (sig) {
    case VG_SIG_TRACES: return &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor;
    case VG_SIG_METRICS: return &opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__descriptor;
    case VG_SIG_LOGS: return &opentelemetry__proto__collector__logs__v1__export_logs_service_request__descriptor;
    default: return NULL;
    }
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

vg_batch_t *vg_batch_wrap(vg_signal_t sig, vg_arena_t *arena, ProtobufCMessage *req)
{
    vg_batch_t *b = vg_calloc(1, sizeof *b);
    if (!b) { vg_arena_destroy(arena); return NULL; }
    b->signal = sig;
    b->arena = arena;
    b->req = req;
    b->refs = 1;
    b->received_ns = now_ns();
    vg_batch_recount(b);
    return b;
}

vg_batch_t *vg_batch_new(vg_signal_t sig)
{
    const ProtobufCMessageDescriptor *d = req_desc(sig);
    if (!d) return NULL;
    vg_arena_t *a = vg_arena_new();
    if (!a) return NULL;
    ProtobufCMessage *m = vg_arena_alloc(a, d->sizeof_message);
    if (!m) { vg_arena_destroy(a); return NULL; }
    d->message_init(m);
    return vg_batch_wrap(sig, a, m);
}

vg_batch_t *vg_batch_ref(vg_batch_t *b)
{
    b->refs++;
    return b;
}

void vg_batch_unref(vg_batch_t *b)
{
    if (!b) return;
    assert(b->refs > 0);
    if (--b->refs > 0) return;
    for (size_t i = 0; i < b->ndeps; i++) vg_batch_unref(b->deps[i]);
    vg_free(b->deps);
    vg_arena_destroy(b->arena);
    vg_free(b);
}

int vg_batch_depend(vg_batch_t *b, vg_batch_t *dep)
{
    if (b->ndeps == b->depcap) {
        size_t nc = b->depcap ? b->depcap * 2 : 4;
        vg_batch_t **d = vg_realloc(b->deps, nc * sizeof *d);
        if (!d) return VG_ENOMEM;
        b->deps = d;
        b->depcap = nc;
    }
    b->deps[b->ndeps++] = vg_batch_ref(dep);
    b->bytes += dep->bytes;
    return 0;
}

vg_batch_t *vg_batch_clone(const vg_batch_t *b)
{
    size_t len = protobuf_c_message_get_packed_size(b->req);
    uint8_t *buf = vg_malloc(len ? len : 1);
    if (!buf) return NULL;
    protobuf_c_message_pack(b->req, buf);
    vg_arena_t *a = vg_arena_new();
    if (!a) { vg_free(buf); return NULL; }
    ProtobufCMessage *m = protobuf_c_message_unpack(req_desc(b->signal), vg_arena_pbc(a), len, buf);
    vg_free(buf);
    if (!m) { vg_arena_destroy(a); return NULL; }
    vg_batch_t *c = vg_batch_wrap(b->signal, a, m);
    if (c) {
        c->peer = b->peer;
        c->received_ns = b->received_ns;
    }
    return c;
}

ProtobufCMessage *vg_batch_writable(vg_batch_t *b)
{
    if (b->readonly || b->refs > 1) {
        /* A shared batch must never be written: that is a bug in the caller. */
        abort();
    }
    return b->req;
}

void vg_batch_recount(vg_batch_t *b)
{
    b->items = vg_request_items(b->signal, b->req);
    size_t bytes = b->arena ? vg_arena_bytes(b->arena) : 0;
    for (size_t i = 0; i < b->ndeps; i++) bytes += b->deps[i]->bytes;
    b->bytes = bytes + sizeof *b;
}

static size_t metric_points(const vg_metric_t *m)
{
    switch (m->data_case) {
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE: return m->gauge ? m->gauge->n_data_points : 0;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM: return m->sum ? m->sum->n_data_points : 0;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
        return m->histogram ? m->histogram->n_data_points : 0;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM:
        return m->exponential_histogram ? m->exponential_histogram->n_data_points : 0;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY: return m->summary ? m->summary->n_data_points : 0;
    default: return 0;
    }
}

size_t vg_request_items(vg_signal_t sig, const ProtobufCMessage *req)
{
    size_t n = 0;
    if (!req) return 0;
    if (sig == VG_SIG_TRACES) {
        const vg_traces_req_t *r = (const vg_traces_req_t *)req;
        for (size_t i = 0; i < r->n_resource_spans; i++)
            for (size_t j = 0; j < r->resource_spans[i]->n_scope_spans; j++)
                n += r->resource_spans[i]->scope_spans[j]->n_spans;
    } else if (sig == VG_SIG_METRICS) {
        const vg_metrics_req_t *r = (const vg_metrics_req_t *)req;
        for (size_t i = 0; i < r->n_resource_metrics; i++)
            for (size_t j = 0; j < r->resource_metrics[i]->n_scope_metrics; j++) {
                const vg_scope_metrics_t *sm = r->resource_metrics[i]->scope_metrics[j];
                for (size_t k = 0; k < sm->n_metrics; k++) n += metric_points(sm->metrics[k]);
            }
    } else if (sig == VG_SIG_LOGS) {
        const vg_logs_req_t *r = (const vg_logs_req_t *)req;
        for (size_t i = 0; i < r->n_resource_logs; i++)
            for (size_t j = 0; j < r->resource_logs[i]->n_scope_logs; j++)
                n += r->resource_logs[i]->scope_logs[j]->n_log_records;
    }
    return n;
}
