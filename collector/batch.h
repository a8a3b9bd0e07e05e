/* A batch: one signal's OTLP export request living in an arena the batch owns.
 *
 * Ownership (DESIGN.md contract 4): vg_consume() hands over one reference; the
 * callee releases it exactly once (vg_batch_unref) whatever it returns, and the
 * caller never touches the batch again. A batch shared by several consumers is
 * read-only: code that changes a batch calls vg_batch_writable() first, which
 * aborts in debug builds when the batch is shared.
 *
 * A batch may point into other batches' arenas (the batch processor merges
 * requests without copying); vg_batch_depend() keeps those alive with it. */
#ifndef VIGIL_BATCH_H
#define VIGIL_BATCH_H

#include "arena.h"
#include "net/peer.h"
#include "signal.h"

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vg_batch vg_batch_t;
struct vg_batch {
    vg_signal_t signal;
    vg_arena_t *arena;
    ProtobufCMessage *req; /* Export{Trace,Metrics,Logs}ServiceRequest */
    size_t items;          /* spans, metric data points or log records */
    size_t bytes;          /* estimate of the memory held (arena + deps) */
    int refs;
    bool readonly;
    vg_peer_t peer;        /* who sent it (family 0 when unknown) */
    int64_t received_ns;   /* wall clock when it entered the collector */
    vg_batch_t **deps;
    size_t ndeps, depcap;
};

/* A new batch with an empty request. NULL on allocation failure. */
vg_batch_t *vg_batch_new(vg_signal_t sig);
/* A batch around an existing request; takes ownership of the arena (also on failure). */
vg_batch_t *vg_batch_wrap(vg_signal_t sig, vg_arena_t *arena, ProtobufCMessage *req);
vg_batch_t *vg_batch_ref(vg_batch_t *b);
void vg_batch_unref(vg_batch_t *b); /* NULL is fine */
/* b keeps dep alive (takes a new reference to dep). 0 or VG_ENOMEM. */
int vg_batch_depend(vg_batch_t *b, vg_batch_t *dep);
/* A deep, writable copy in a new arena. NULL on failure. */
vg_batch_t *vg_batch_clone(const vg_batch_t *b);
/* Recount items and bytes after the request changed. */
void vg_batch_recount(vg_batch_t *b);
/* The request, for writing. Aborts when the batch is shared read-only. */
ProtobufCMessage *vg_batch_writable(vg_batch_t *b);

#endif
