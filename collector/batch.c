#include "batch.h"

#include "error.h"
#include "mem.h"
#include "otlp_json.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static vg_batch_t *alloc_batch(vg_signal_t sig, vg_arena_t *arena)
{
    vg_batch_t *b = vg_calloc(1, sizeof *b);
    if (!b) { vg_arena_destroy(arena); return NULL; }
    b->signal = sig;
    b->arena = arena;
    b->refs = 1;
    b->received_ns = now_ns();
    return b;
}

vg_batch_t *vg_batch_wrap(vg_signal_t sig, vg_arena_t *arena, ProtobufCMessage *req)
{
    vg_batch_t *b = alloc_batch(sig, arena);
    if (!b) return NULL;
    b->msg_ = req;
    vg_batch_recount(b);
    return b;
}

vg_batch_t *vg_batch_new(vg_signal_t sig)
{
    vg_arena_t *a = vg_arena_new();
    if (!a) return NULL;
    ProtobufCMessage *m;
    if (vg_otlp_new_request(sig, a, &m)) { vg_arena_destroy(a); return NULL; }
    return vg_batch_wrap(sig, a, m);
}

static int add_segments(vg_batch_t *b, const vg_wire_t *segs, size_t n)
{
    if (vg_arena_grow(b->arena, (void **)&b->wire, &b->wirecap, b->nwire + n, sizeof *b->wire)) return VG_ENOMEM;
    memcpy(b->wire + b->nwire, segs, n * sizeof *segs);
    b->nwire += n;
    for (size_t i = 0; i < n; i++) b->wire_len += segs[i].len;
    return 0;
}

vg_batch_t *vg_batch_new_wire(vg_signal_t sig)
{
    vg_arena_t *a = vg_arena_new();
    if (!a) return NULL;
    vg_batch_t *b = alloc_batch(sig, a);
    if (!b) return NULL;
    /* An empty segment list: the wire form of an empty request. */
    if (vg_arena_grow(a, (void **)&b->wire, &b->wirecap, 4, sizeof *b->wire)) { vg_batch_unref(b); return NULL; }
    vg_batch_recount(b);
    return b;
}

vg_batch_t *vg_batch_wrap_wire(vg_signal_t sig, vg_arena_t *arena, const uint8_t *data, size_t len, size_t items,
                               size_t mem)
{
    vg_batch_t *b = alloc_batch(sig, arena);
    if (!b) return NULL;
    b->one = (vg_wire_t){ data, len, mem };
    b->wire = &b->one;
    b->nwire = b->wirecap = 1;
    b->wire_len = len;
    b->items = items;
    vg_batch_recount(b);
    return b;
}

int vg_batch_concat(vg_batch_t *out, vg_batch_t *in)
{
    assert(out->wire && !out->msg_ && in->wire);
    size_t n0 = out->nwire, l0 = out->wire_len;
    if (add_segments(out, in->wire, in->nwire)) return VG_ENOMEM;
    if (vg_batch_depend(out, in)) {
        out->nwire = n0;
        out->wire_len = l0;
        return VG_ENOMEM;
    }
    out->items += in->items;
    return 0;
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
    vg_arena_destroy(b->dec_arena);
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

/* ---- decoding the wire form --------------------------------------------------------------- */

typedef struct {
    ProtobufCAllocator a;
    ProtobufCAllocator *arena;
    size_t used, cap;
    bool over, oom;
} capped_t;

static void *capped_alloc(void *ud, size_t n)
{
    capped_t *c = ud;
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n || c->used + need > c->cap) {
        c->over = true;
        return NULL;
    }
    void *p = c->arena->alloc(c->arena->allocator_data, n);
    if (p) c->used += need;
    else c->oom = true;
    return p;
}

static void capped_free(void *ud, void *p)
{
    capped_t *c = ud;
    c->arena->free(c->arena->allocator_data, p);
}

int vg_otlp_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len, size_t cap,
                   vg_arena_t *arena, ProtobufCMessage **out)
{
    *out = NULL;
    capped_t ca = { { capped_alloc, capped_free, NULL }, vg_arena_pbc(arena), 0, cap, false, false };
    ca.a.allocator_data = &ca;
    ProtobufCMessage *m = protobuf_c_message_unpack(d, &ca.a, len, data ? data : (const uint8_t *)"");
    if (!m) return ca.over ? VG_ETOOBIG : ca.oom ? VG_ENOMEM : VG_EPARSE;
    *out = m;
    return 0;
}

/* Every Export*ServiceRequest is one repeated message field (number 1):
 * decoding several segments is unpacking each and joining those arrays. */
static int decode(const vg_batch_t *b, vg_arena_t *arena, ProtobufCMessage **out)
{
    const ProtobufCMessageDescriptor *d = vg_otlp_request_descriptor(b->signal);
    if (!d) return VG_EINVAL;
    assert(d->n_fields == 1 && d->fields[0].label == PROTOBUF_C_LABEL_REPEATED);
    const ProtobufCFieldDescriptor *f = &d->fields[0];
    if (b->nwire == 1) return vg_otlp_unpack(d, b->wire[0].data, b->wire[0].len, b->wire[0].mem, arena, out);
    ProtobufCMessage *m = NULL;
    if (vg_otlp_new_request(b->signal, arena, &m)) return VG_ENOMEM;
    size_t *n = (size_t *)((char *)m + f->quantifier_offset);
    void ***arr = (void ***)((char *)m + f->offset);
    size_t cap = 0;
    for (size_t i = 0; i < b->nwire; i++) {
        ProtobufCMessage *part;
        int rc = vg_otlp_unpack(d, b->wire[i].data, b->wire[i].len, b->wire[i].mem, arena, &part);
        if (rc) return rc;
        size_t pn = *(size_t *)((char *)part + f->quantifier_offset);
        void **parr = *(void ***)((char *)part + f->offset);
        if (!pn) continue;
        if (vg_arena_grow(arena, (void **)arr, &cap, *n + pn, sizeof(void *))) return VG_ENOMEM;
        memcpy(*arr + *n, parr, pn * sizeof(void *));
        *n += pn;
    }
    *out = m;
    return 0;
}

static void recount_bytes(vg_batch_t *b)
{
    size_t bytes = (b->arena ? vg_arena_bytes(b->arena) : 0) + (b->dec_arena ? vg_arena_bytes(b->dec_arena) : 0);
    for (size_t i = 0; i < b->ndeps; i++) bytes += b->deps[i]->bytes;
    b->bytes = bytes + sizeof *b;
}

ProtobufCMessage *vg_batch_req(vg_batch_t *b)
{
    if (!b->msg_ && b->wire && !b->decode_err) {
        /* Into an arena of its own: a failed attempt leaves nothing behind
         * (a batch retried under memory pressure must not grow each time). */
        vg_arena_t *a = vg_arena_new();
        ProtobufCMessage *m = NULL;
        int rc = a ? decode(b, a, &m) : VG_ENOMEM;
        if (rc == 0) {
            b->msg_ = m;
            b->dec_arena = a;
        } else {
            vg_arena_destroy(a);
            if (rc != VG_ENOMEM) b->decode_err = rc; /* would fail again: remember */
        }
        recount_bytes(b);
    }
    return b->msg_;
}

int vg_batch_err(const vg_batch_t *b) { return b->decode_err ? b->decode_err : VG_ENOMEM; }

vg_batch_t *vg_batch_clone(vg_batch_t *b)
{
    vg_batch_t *c;
    if (b->wire) {
        /* The bytes, copied into one segment: the copy holds no reference to
         * the original, which may then still be written by its own consumer. */
        vg_arena_t *a = vg_arena_new();
        if (!a) return NULL;
        uint8_t *p = vg_arena_alloc(a, b->wire_len ? b->wire_len : 1);
        if (!p) { vg_arena_destroy(a); return NULL; }
        size_t off = 0, mem = 0;
        for (size_t i = 0; i < b->nwire; i++) {
            if (b->wire[i].len) memcpy(p + off, b->wire[i].data, b->wire[i].len);
            off += b->wire[i].len;
            mem += b->wire[i].mem;
        }
        /* one segment now: room for the joined top-level array too */
        if (!(c = vg_batch_wrap_wire(b->signal, a, p, off, b->items, mem + (1u << 16)))) return NULL;
    } else {
        vg_arena_t *a = vg_arena_new();
        if (!a) return NULL;
        ProtobufCMessage *m;
        if (vg_otlp_clone(b->signal, b->msg_, a, &m)) { vg_arena_destroy(a); return NULL; }
        if (!(c = vg_batch_wrap(b->signal, a, m))) return NULL;
    }
    c->peer = b->peer;
    c->received_ns = b->received_ns;
    recount_bytes(c);
    return c;
}

ProtobufCMessage *vg_batch_writable(vg_batch_t *b)
{
    if (b->readonly || b->refs > 1) {
        /* A shared batch must never be written: that is a bug in the caller. */
        abort();
    }
    ProtobufCMessage *m = vg_batch_req(b);
    if (m) {
        /* From here on the bytes may no longer say what the message says. */
        b->wire = NULL;
        b->nwire = b->wirecap = b->wire_len = 0;
    }
    return m;
}

void vg_batch_recount(vg_batch_t *b)
{
    if (b->msg_) b->items = vg_otlp_count_items(b->signal, b->msg_);
    recount_bytes(b);
}
