#include "arena.h"

#include "error.h"
#include "mem.h"

#include <stdint.h>
#include <string.h>

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} chunk_t;

struct vg_arena {
    chunk_t *head;
    size_t reserved;
    ProtobufCAllocator pbc;
};

#define ARENA_FIRST 4096u
#define ARENA_MAX_CHUNK (1u << 20)

static void *pbc_alloc(void *ud, size_t n) { return vg_arena_alloc(ud, n); }
static void pbc_free(void *ud, void *p) { (void)ud; (void)p; }

vg_arena_t *vg_arena_new(void)
{
    vg_arena_t *a = vg_calloc(1, sizeof *a);
    if (!a) return NULL;
    a->pbc.alloc = pbc_alloc;
    a->pbc.free = pbc_free;
    a->pbc.allocator_data = a;
    return a;
}

void vg_arena_destroy(vg_arena_t *a)
{
    if (!a) return;
    chunk_t *c = a->head;
    while (c) {
        chunk_t *n = c->next;
        vg_free(c);
        c = n;
    }
    vg_free(a);
}

void *vg_arena_alloc(vg_arena_t *a, size_t n)
{
    if (n > SIZE_MAX / 2) return NULL;
    size_t need = (n + 15u) & ~(size_t)15u;
    if (need == 0) need = 16;
    chunk_t *c = a->head;
    if (!c || c->size - c->used < need) {
        size_t size = c ? c->size * 2 : ARENA_FIRST;
        if (size > ARENA_MAX_CHUNK) size = ARENA_MAX_CHUNK;
        if (size < need) size = need;
        chunk_t *nc = vg_malloc(sizeof *nc + size);
        if (!nc) return NULL;
        nc->size = size;
        nc->used = 0;
        /* A big one-off block goes behind the current chunk so the space left in
         * the current chunk stays usable. */
        if (c && need > c->size && c->size - c->used > 256) {
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            a->head = nc;
        }
        a->reserved += size;
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += need;
    return p;
}

void *vg_arena_zalloc(vg_arena_t *a, size_t n)
{
    void *p = vg_arena_alloc(a, n);
    if (p) memset(p, 0, n);
    return p;
}

char *vg_arena_strndup(vg_arena_t *a, const char *s, size_t n)
{
    char *d = vg_arena_alloc(a, n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *vg_arena_strdup(vg_arena_t *a, const char *s) { return vg_arena_strndup(a, s, strlen(s)); }

void *vg_arena_memdup(vg_arena_t *a, const void *p, size_t n)
{
    void *d = vg_arena_alloc(a, n);
    if (d && n) memcpy(d, p, n);
    return d;
}

int vg_arena_grow(vg_arena_t *a, void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t ncap = *cap ? *cap * 2 : 4;
    while (ncap < need) ncap *= 2;
    if (elem && ncap > SIZE_MAX / elem) return VG_ENOMEM;
    void *n = vg_arena_alloc(a, ncap * elem);
    if (!n) return VG_ENOMEM;
    if (*arr && *cap) memcpy(n, *arr, *cap * elem);
    *arr = n;
    *cap = ncap;
    return 0;
}

size_t vg_arena_bytes(const vg_arena_t *a) { return a->reserved; }
ProtobufCAllocator *vg_arena_pbc(vg_arena_t *a) { return &a->pbc; }
