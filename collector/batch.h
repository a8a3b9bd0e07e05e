/* A batch: one signal's OTLP export request living in an arena the batch owns.
 *
 * Ownership (DESIGN.md contract 4): vg_consume() hands over one reference; the
 * callee releases it exactly once (vg_batch_unref) whatever it returns, and the
 * caller never touches the batch again. A batch shared by several consumers is
 * read-only: code that changes a batch calls vg_batch_writable() first, which
 * aborts in debug builds when the batch is shared.
 *
 * A batch may point into other batches' arenas (the batch processor merges
 * requests without copying); vg_batch_depend() keeps those alive with it.
 *
 * Two forms of the same request. A batch made by a receiver of protobuf
 * carries the request as it came in ("wire" form: checked bytes, one or more
 * segments whose concatenation is the encoded request, since protobuf appends
 * repeated fields of concatenated messages) and is decoded only when somebody
 * asks for the message (vg_batch_req). A pipeline that only counts, batches
 * and forwards never decodes nor re-encodes: the exporter sends the segments.
 * The wire form is dropped as soon as the message may change
 * (vg_batch_writable). */
#ifndef VIGIL_BATCH_H
#define VIGIL_BATCH_H

#include "arena.h"
#include "net/peer.h"
#include "signal.h"

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One segment of an encoded request; `mem` bounds what protobuf-c allocates
 * to unpack it (computed by the check that accepted the bytes). */
typedef struct {
    const uint8_t *data;
    size_t len, mem;
} vg_wire_t;

typedef struct vg_batch vg_batch_t;
struct vg_batch {
    vg_signal_t signal;
    vg_arena_t *arena;
    /* Export{Trace,Metrics,Logs}ServiceRequest, or NULL while only the wire
     * form exists: never read this field directly, call vg_batch_req(). */
    ProtobufCMessage *msg_;
    vg_wire_t *wire;       /* the wire form (NULL when none): `one` or an array in arena */
    size_t nwire, wirecap;
    vg_wire_t one;         /* a single segment needs no array */
    int decode_err;        /* the wire form cannot be decoded (permanent), see vg_batch_err */
    vg_arena_t *dec_arena; /* where the wire form was decoded (NULL: not, or into arena) */
    size_t wire_len;       /* sum of the segments' lengths */
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
/* A batch in wire form: data[0..len) (which must live in `arena` or outlive
 * the batch) is an encoded request of `items` items that passed the
 * receiver's check, `mem` bounds its unpacked size. Takes the arena (also on
 * failure). NULL on allocation failure. */
vg_batch_t *vg_batch_wrap_wire(vg_signal_t sig, vg_arena_t *arena, const uint8_t *data, size_t len, size_t items,
                               size_t mem);
/* A new, empty batch in wire form, for vg_batch_concat. */
vg_batch_t *vg_batch_new_wire(vg_signal_t sig);
/* Appends the whole of `in` (which must be in wire form) to `out` (wire form,
 * never decoded): its segments and items; `out` keeps `in` alive. 0 or
 * VG_ENOMEM (out unchanged). */
int vg_batch_concat(vg_batch_t *out, vg_batch_t *in);
/* True when the batch carries its request in wire form. */
static inline bool vg_batch_has_wire(const vg_batch_t *b) { return b->wire != NULL; }
/* The request for reading (may be shared: do not change it), decoded from the
 * wire form on first use. NULL when decoding failed: vg_batch_err() says why. */
ProtobufCMessage *vg_batch_req(vg_batch_t *b);
/* Why vg_batch_req/vg_batch_writable returned NULL: VG_ENOMEM (retryable:
 * try again later), or a permanent error (VG_EPARSE, VG_ETOOBIG) when the
 * bytes cannot be decoded at all — which the receiver's check is there to
 * rule out; a consumer drops such a batch (counted) rather than retrying it. */
int vg_batch_err(const vg_batch_t *b);
/* True once decoding failed for good (without trying to decode). */
static inline bool vg_batch_undecodable(const vg_batch_t *b) { return b->decode_err != 0; }
/* Unpacks one encoded request with protobuf-c into `arena`, allocating at
 * most `cap` bytes. 0, VG_ETOOBIG (needs more than cap), VG_ENOMEM or
 * VG_EPARSE (not a valid encoding of d). */
int vg_otlp_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len, size_t cap,
                   vg_arena_t *arena, ProtobufCMessage **out);
vg_batch_t *vg_batch_ref(vg_batch_t *b);
void vg_batch_unref(vg_batch_t *b); /* NULL is fine */
/* b keeps dep alive (takes a new reference to dep). 0 or VG_ENOMEM. */
int vg_batch_depend(vg_batch_t *b, vg_batch_t *dep);
/* A writable copy in a new arena (a batch in wire form shares the bytes and
 * is decoded into the copy when written). NULL on failure. */
vg_batch_t *vg_batch_clone(vg_batch_t *b);
/* Recount items and bytes after the request changed. */
void vg_batch_recount(vg_batch_t *b);
/* The request, for writing: decoded if needed, and the wire form dropped.
 * Aborts when the batch is shared read-only; NULL when decoding failed
 * (vg_batch_err). */
ProtobufCMessage *vg_batch_writable(vg_batch_t *b);

#endif
