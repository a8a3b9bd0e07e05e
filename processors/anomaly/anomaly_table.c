/* Capped LRU hash table of fixed-size entries (anomaly_int.h) and the
 * hashes that make series ids. */
#include "anomaly_int.h"

#include "error.h"
#include "mem.h"

#include <string.h>

static inline anl_hdr_t *slot(const anl_table_t *t, uint32_t i)
{
    return (anl_hdr_t *)(t->chunks[i / ANL_CHUNK] + (size_t)(i % ANL_CHUNK) * t->esz);
}

static inline size_t bucket_of(const anl_table_t *t, uint64_t key)
{
    return (size_t)(anl_mix(key) & (t->nbuckets - 1));
}

int anl_table_init(anl_table_t *t, size_t esz, size_t cap, anl_evict_fn on_evict, void *ud)
{
    memset(t, 0, sizeof *t);
    if (cap == 0 || cap >= ANL_NIL || esz < sizeof(anl_hdr_t)) return VG_EINVAL;
    t->esz = esz;
    t->cap = cap;
    t->on_evict = on_evict;
    t->ud = ud;
    t->head = t->tail = ANL_NIL;
    t->nchunks = (cap + ANL_CHUNK - 1) / ANL_CHUNK;
    t->nbuckets = 64; /* grows with the entries (load factor <= 1), up to the cap */
    t->chunks = vg_calloc(t->nchunks, sizeof *t->chunks);
    t->buckets = vg_malloc(t->nbuckets * sizeof *t->buckets);
    if (!t->chunks || !t->buckets) {
        anl_table_free(t);
        return VG_ENOMEM;
    }
    for (size_t i = 0; i < t->nbuckets; i++) t->buckets[i] = ANL_NIL;
    return 0;
}

void anl_table_free(anl_table_t *t)
{
    for (size_t i = 0; t->chunks && i < t->nchunks; i++) vg_free(t->chunks[i]);
    vg_free(t->chunks);
    vg_free(t->buckets);
    memset(t, 0, sizeof *t);
}

void *anl_table_find(const anl_table_t *t, uint64_t key)
{
    for (uint32_t i = t->buckets[bucket_of(t, key)]; i != ANL_NIL;) {
        anl_hdr_t *h = slot(t, i);
        if (h->key == key) return h;
        i = h->hnext;
    }
    return NULL;
}

void *anl_table_next_same(const anl_table_t *t, const void *e)
{
    const anl_hdr_t *h = e;
    for (uint32_t i = h->hnext; i != ANL_NIL;) {
        anl_hdr_t *n = slot(t, i);
        if (n->key == h->key) return n;
        i = n->hnext;
    }
    return NULL;
}

static void lru_unlink(anl_table_t *t, anl_hdr_t *h)
{
    if (h->prev != ANL_NIL) slot(t, h->prev)->next = h->next;
    else t->head = h->next;
    if (h->next != ANL_NIL) slot(t, h->next)->prev = h->prev;
    else t->tail = h->prev;
    h->prev = h->next = ANL_NIL;
}

static void lru_front(anl_table_t *t, anl_hdr_t *h)
{
    h->prev = ANL_NIL;
    h->next = t->head;
    if (t->head != ANL_NIL) slot(t, t->head)->prev = h->idx;
    t->head = h->idx;
    if (t->tail == ANL_NIL) t->tail = h->idx;
}

static void bucket_unlink(anl_table_t *t, anl_hdr_t *h)
{
    uint32_t *p = &t->buckets[bucket_of(t, h->key)];
    while (*p != ANL_NIL && *p != h->idx) p = &slot(t, *p)->hnext;
    if (*p == h->idx) *p = h->hnext;
    h->hnext = ANL_NIL;
}

/* Doubles the bucket array and relinks every entry. VG_ENOMEM leaves it as it was. */
static int grow_buckets(anl_table_t *t)
{
    size_t nb = t->nbuckets * 2;
    uint32_t *b = vg_malloc(nb * sizeof *b);
    if (!b) return VG_ENOMEM;
    for (size_t i = 0; i < nb; i++) b[i] = ANL_NIL;
    vg_free(t->buckets);
    t->buckets = b;
    t->nbuckets = nb;
    for (uint32_t i = 0; i < t->count; i++) {
        anl_hdr_t *h = slot(t, i);
        size_t k = bucket_of(t, h->key);
        h->hnext = t->buckets[k];
        t->buckets[k] = i;
    }
    return 0;
}

void *anl_table_insert(anl_table_t *t, uint64_t key)
{
    anl_hdr_t *h;
    if (t->count < t->cap && t->count >= t->nbuckets && grow_buckets(t)) return NULL;
    if (t->count < t->cap) {
        uint32_t i = (uint32_t)t->count;
        size_t c = i / ANL_CHUNK;
        if (!t->chunks[c]) {
            size_t n = t->cap - c * ANL_CHUNK < ANL_CHUNK ? t->cap - c * ANL_CHUNK : ANL_CHUNK;
            if (!(t->chunks[c] = vg_malloc(n * t->esz))) return NULL;
        }
        t->count++;
        h = slot(t, i);
        memset(h, 0, t->esz);
        h->idx = i;
    } else {
        h = slot(t, t->tail);
        if (t->on_evict) t->on_evict(t->ud, h);
        lru_unlink(t, h);
        bucket_unlink(t, h);
        t->evictions++;
        uint32_t i = h->idx;
        memset(h, 0, t->esz);
        h->idx = i;
    }
    h->key = key;
    size_t b = bucket_of(t, key);
    h->hnext = t->buckets[b];
    t->buckets[b] = h->idx;
    lru_front(t, h);
    return h;
}

void anl_table_touch(anl_table_t *t, void *e)
{
    anl_hdr_t *h = e;
    if (t->head == h->idx) return;
    lru_unlink(t, h);
    lru_front(t, h);
}

void *anl_table_at(const anl_table_t *t, size_t i) { return i < t->count ? slot(t, (uint32_t)i) : NULL; }

size_t anl_table_bytes(const anl_table_t *t)
{
    size_t b = t->nchunks * sizeof *t->chunks + t->nbuckets * sizeof *t->buckets;
    for (size_t c = 0; c < t->nchunks; c++)
        if (t->chunks[c]) {
            size_t n = t->cap - c * ANL_CHUNK < ANL_CHUNK ? t->cap - c * ANL_CHUNK : ANL_CHUNK;
            b += n * t->esz;
        }
    return b;
}

/* ---- hashing: FNV-1a over bytes, finished with a 64-bit mixer ------------- */

uint64_t anl_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint64_t anl_hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    if (!h) h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t anl_hash_str(uint64_t h, const char *s)
{
    /* the terminating NUL is hashed too, so ("ab","c") != ("a","bc") */
    return anl_hash_bytes(h, s ? s : "", (s ? strlen(s) : 0) + 1);
}

uint64_t anl_hash_value(const vg_anyvalue_t *v, int depth)
{
    uint64_t h = anl_hash_bytes(0, "v", 1);
    if (!v) return h;
    unsigned char tag = (unsigned char)v->value_case;
    h = anl_hash_bytes(h, &tag, 1);
    switch (v->value_case) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE: return anl_hash_str(h, v->string_value);
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE: {
        unsigned char b = v->bool_value ? 1 : 0;
        return anl_hash_bytes(h, &b, 1);
    }
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE: {
        /* byte by byte: no endianness assumption */
        uint64_t x = (uint64_t)v->int_value;
        for (int i = 0; i < 8; i++) {
            unsigned char c = (unsigned char)(x >> (8 * i));
            h = anl_hash_bytes(h, &c, 1);
        }
        return h;
    }
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE: {
        double d = v->double_value == 0 ? 0.0 : v->double_value; /* -0 == 0 */
        uint64_t x;
        memcpy(&x, &d, sizeof x);
        for (int i = 0; i < 8; i++) {
            unsigned char c = (unsigned char)(x >> (8 * i));
            h = anl_hash_bytes(h, &c, 1);
        }
        return h;
    }
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
        return anl_hash_bytes(h, v->bytes_value.data, v->bytes_value.len);
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
        if (depth < 8 && v->array_value)
            for (size_t i = 0; i < v->array_value->n_values; i++)
                h = anl_mix(h ^ anl_hash_value(v->array_value->values[i], depth + 1));
        return h;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE:
        if (depth < 8 && v->kvlist_value) {
            uint64_t sum = 0;
            for (size_t i = 0; i < v->kvlist_value->n_values; i++) {
                const vg_kv_t *kv = v->kvlist_value->values[i];
                sum += anl_mix(anl_hash_str(0, kv->key) ^ anl_hash_value(kv->value, depth + 1));
            }
            h = anl_mix(h ^ sum);
        }
        return h;
    default: return h;
    }
}

uint64_t anl_hash_attrs(vg_kv_t *const *kv, size_t n)
{
    /* a sum of per-pair hashes: the order of the attributes does not matter */
    uint64_t sum = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < n; i++) {
        if (!kv[i] || !kv[i]->key) continue;
        sum += anl_mix(anl_hash_str(0, kv[i]->key) ^ anl_hash_value(kv[i]->value, 0));
    }
    return sum;
}
