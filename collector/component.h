/* The component model (DESIGN.md contracts 1, 2, 8).
 *
 * Every component registers one const vg_factory_t: its type name, kind,
 * signals, option table and callbacks. The graph creates one vg_component_t per
 * instance (receivers, exporters and connectors once per id; processors once
 * per pipeline), parses its options into `cfg`, wires `next[]`, and then calls:
 *
 *   create   allocate state (c->state); no I/O yet
 *   start    open listeners, timers, files. Downstream starts first.
 *   consume  (processors, exporters, connectors) one batch in. Takes over one
 *            reference whatever it returns: 0 accepted; a retryable error
 *            (VG_EFULL, VG_EREFUSED) asks the sender to push back; a permanent
 *            one (VG_EPARSE…) rejects the data.
 *   shutdown stop taking new work and start draining what is held: flush
 *            buffers downstream, send queued data, close handles. Idempotent
 *            and valid without start. Upstream shuts down first.
 *   busy     true while the drain goes on (in-flight sends, handles closing).
 *            The graph waits (up to the drain deadline) before shutting down
 *            the next component. NULL means never busy. When the deadline
 *            passes, the graph sets c->abandoned and calls shutdown again: the
 *            component must then drop what it still holds (counting it as
 *            dropped) and close its handles at once; the graph waits a short
 *            grace for busy to turn false.
 *   destroy  free everything; called once after shutdown, when busy is false
 *            or the deadline passed, and after the loop closed all handles.
 *
 * A callback that fails returns a negative vg_errno_t and never calls back.
 * All callbacks run on the loop that owns the instance (c->loop). */
#ifndef VIGIL_COMPONENT_H
#define VIGIL_COMPONENT_H

#include "batch.h"
#include "error.h"
#include "options.h"
#include "signal.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef enum { VG_KIND_RECEIVER = 0, VG_KIND_PROCESSOR, VG_KIND_EXPORTER, VG_KIND_CONNECTOR, VG_KIND_EXTENSION,
               VG_KIND_COUNT } vg_kind_t;

typedef struct vg_component vg_component_t;
typedef struct vg_consumer vg_consumer_t;
typedef struct vg_service vg_service_t;
typedef struct vg_telemetry vg_telemetry_t;

/* A place batches go. consume() takes one reference, whatever it returns. */
struct vg_consumer {
    int (*consume)(vg_consumer_t *self, vg_batch_t *b);
    /* False when consume() would refuse a batch of `sig` right now with a
     * retryable error (back-pressure). Cheap, no side effects; NULL = ready. */
    bool (*ready)(vg_consumer_t *self, vg_signal_t sig);
    bool mutates; /* changes batches in place: fan-out gives it a private copy */
    void *ud;
};
static inline int vg_consume(vg_consumer_t *c, vg_batch_t *b) { return c->consume(c, b); }
static inline bool vg_consumer_ready(vg_consumer_t *c, vg_signal_t sig) { return !c->ready || c->ready(c, sig); }

typedef struct vg_factory {
    const char *type;
    vg_kind_t kind;
    const char *description;
    unsigned signals;                   /* bit set: signals taken in (receivers: emitted) */
    unsigned connects[VG_SIG_COUNT];    /* connectors: output signals for each input signal */
    bool mutates;                       /* processors that change batches in place */
    const vg_option_t *options;         /* NULL-name-terminated; may be NULL */
    size_t config_size;
    /* Cross-field checks after the table parsed cleanly; add errors, return 0 or VG_ECONFIG. */
    int (*validate)(const void *cfg, const char *path, vg_errs_t *errs);
    int (*create)(vg_component_t *c);
    int (*start)(vg_component_t *c);
    int (*consume)(vg_component_t *c, vg_batch_t *b);
    void (*shutdown)(vg_component_t *c);
    bool (*busy)(vg_component_t *c);
    /* False when consume would refuse `sig` now (back-pressure); cheap, no
     * side effects. Lets a receiver refuse before decoding (load shedding
     * costs almost nothing). NULL: processors ask their next consumer,
     * exporters and connectors are always ready. */
    bool (*ready)(vg_component_t *c, vg_signal_t sig);
    void (*destroy)(vg_component_t *c);
    /* Component-specific self-telemetry beyond the standard counters. */
    void (*telemetry)(vg_component_t *c, vg_telemetry_t *t);
} vg_factory_t;

/* Standard self-telemetry counters, by signal. Receivers count accepted,
 * refused (pipeline said retry) and rejected (bad data); exporters count sent,
 * send_failed (given up), dropped (never sent: queue overflow, shutdown) and
 * enqueue_failed; processors count what came in and what they dropped. */
typedef struct vg_stats {
    uint64_t accepted[VG_SIG_COUNT];
    uint64_t refused[VG_SIG_COUNT];
    uint64_t rejected[VG_SIG_COUNT];
    uint64_t sent[VG_SIG_COUNT];
    uint64_t send_failed[VG_SIG_COUNT];
    uint64_t dropped[VG_SIG_COUNT];
    uint64_t enqueue_failed[VG_SIG_COUNT];
    int64_t queue_size, queue_capacity;
} vg_stats_t;

struct vg_component {
    const vg_factory_t *f;
    char *id;                          /* "otlp/backup" */
    char *pipeline;                    /* processors: their pipeline id */
    void *cfg;                         /* parsed options, config_size bytes */
    void *state;                       /* the component's own */
    uv_loop_t *loop;
    vg_service_t *svc;
    vg_consumer_t *next[VG_SIG_COUNT]; /* output per signal; NULL = none */
    vg_consumer_t in;                  /* entry point: calls f->consume */
    unsigned in_signals;               /* signals flowing in (from pipelines) */
    unsigned out_signals;              /* signals flowing out */
    vg_stats_t stats;
    /* graph bookkeeping */
    bool created, started, shut_down;
    bool abandoned;                    /* the drain deadline passed: drop and close now */
    int order;                         /* topological position, upstream first */
};

const char *vg_kind_name(vg_kind_t k);
/* The registry: every built-in factory. NULL-terminated. */
const vg_factory_t *const *vg_factories(void);
const vg_factory_t *vg_factory_find(vg_kind_t kind, const char *type);

/* Helpers for components. */
static inline const char *vg_component_name(const vg_component_t *c) { return c->id; }
/* Sends b to c->next[b->signal] and counts it; takes the reference. */
int vg_component_emit(vg_component_t *c, vg_batch_t *b);
/* Refuses b: counts its items as refused (retryable rc, out of memory) or
 * dropped (permanent rc), releases it, returns rc. */
static inline int vg_component_refuse(vg_component_t *c, vg_batch_t *b, int rc)
{
    if (vg_err_retryable(rc) || rc == VG_ENOMEM) c->stats.refused[b->signal] += b->items;
    else c->stats.dropped[b->signal] += b->items;
    vg_batch_unref(b);
    return rc;
}
/* Whether c->next[sig] would take a batch now (see vg_factory_t.ready);
 * true when there is no next consumer (emit then says why). */
bool vg_component_ready(vg_component_t *c, vg_signal_t sig);

#endif
