/* Arena allocator: many allocations, one free.
 *
 * A batch's protobuf-c message tree lives in one arena, so releasing a batch is
 * a single vg_arena_destroy. vg_arena_pbc() gives a ProtobufCAllocator whose free
 * is a no-op, for protobuf_c_message_unpack and the OTLP/JSON decoder.
 * Not thread-safe: an arena belongs to the loop that owns its batch. */
#ifndef VIGIL_ARENA_H
#define VIGIL_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct vg_arena vg_arena_t;

vg_arena_t *vg_arena_new(void);                 /* NULL on allocation failure */
void vg_arena_destroy(vg_arena_t *a);           /* NULL is fine */
void *vg_arena_alloc(vg_arena_t *a, size_t n);  /* 16-byte aligned; NULL on failure */
void *vg_arena_zalloc(vg_arena_t *a, size_t n); /* zeroed */
char *vg_arena_strndup(vg_arena_t *a, const char *s, size_t n);
char *vg_arena_strdup(vg_arena_t *a, const char *s);
void *vg_arena_memdup(vg_arena_t *a, const void *p, size_t n);
/* Grows an array of `*cap` elements of `elem` bytes to hold at least `need`;
 * the old contents are copied (the old block stays in the arena until destroy).
 * Returns 0 or VG_ENOMEM. */
int vg_arena_grow(vg_arena_t *a, void **arr, size_t *cap, size_t need, size_t elem);
size_t vg_arena_bytes(const vg_arena_t *a);     /* bytes reserved from the heap */
ProtobufCAllocator *vg_arena_pbc(vg_arena_t *a);

#endif
