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
    vg_arena_t *a = vg_arena_new();
    if (!a) return NULL;
    ProtobufCMessage *m;
    if (vg_otlp_new_request(sig, a, &m)) { vg_arena_destroy(a); return NULL; }
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
    vg_arena_t *a = vg_arena_new();
    if (!a) return NULL;
    ProtobufCMessage *m;
    if (vg_otlp_clone(b->signal, b->req, a, &m)) { vg_arena_destroy(a); return NULL; }
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
    b->items = vg_otlp_count_items(b->signal, b->req);
    size_t bytes = b->arena ? vg_arena_bytes(b->arena) : 0;
    for (size_t i = 0; i < b->ndeps; i++) bytes += b->deps[i]->bytes;
    b->bytes = bytes + sizeof *b;
}

