/* The pod cache of the k8sattributes processor.
 *
 * A pod is one allocation (record + strings, see vg_k8s_pod_new) reachable
 * through open-addressing indexes by uid (always), IP, container id and
 * namespace/name (only those the pod_association rules use). Slots hold a
 * 32-bit hash and the record; keys are compared against the record's own
 * strings, so an index costs 16 bytes a slot and nothing per key.
 *
 * Deletion keeps the pod for the grace period (late data from a pod that just
 * went away is still tagged): it moves from the live list to the dead list and
 * stays in the indexes until it expires. A live pod that takes over an IP from
 * a dead one (or from an older live one: IPs are reused) replaces it in that
 * index only. The cache is bounded by max_pods: a full cache evicts expired,
 * then deleted, then the least recently updated live pod, and counts it. */
#include "k8s.h"

#include "error.h"
#include "mem.h"

#include <string.h>

#define MAX_LOAD_NUM 3 /* grow past 3/4 full */
#define MAX_LOAD_DEN 4

uint32_t vg_k8s_hash(const char *s, size_t n, uint32_t seed)
{
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (uint32_t)h;
}

static uint32_t hstr(const char *s) { return vg_k8s_hash(s, strlen(s), 0); }

static uint32_t hname(const char *ns, const char *name)
{
    return vg_k8s_hash(name, strlen(name), hstr(ns));
}

/* ---- index ------------------------------------------------------------- */

typedef bool (*k8s_eq_fn)(const k8s_slot_t *s, const void *key);

static int idx_grow(k8s_index_t *x, uint64_t *bytes)
{
    size_t ncap = x->cap ? x->cap * 2 : 64;
    k8s_slot_t *ns = vg_calloc(ncap, sizeof *ns);
    if (!ns) return VG_ENOMEM;
    for (size_t i = 0; i < x->cap; i++) {
        if (!x->slots[i].rec) continue;
        size_t j = x->slots[i].h & (ncap - 1);
        while (ns[j].rec) j = (j + 1) & (ncap - 1);
        ns[j] = x->slots[i];
    }
    *bytes += (ncap - x->cap) * sizeof *ns;
    vg_free(x->slots);
    x->slots = ns;
    x->cap = ncap;
    return 0;
}

static int idx_insert(k8s_index_t *x, uint32_t h, void *rec, uint32_t aux, uint64_t *bytes)
{
    if ((x->n + 1) * MAX_LOAD_DEN > x->cap * MAX_LOAD_NUM) {
        int rc = idx_grow(x, bytes);
        if (rc) return rc;
    }
    size_t j = h & (x->cap - 1);
    while (x->slots[j].rec) j = (j + 1) & (x->cap - 1);
    x->slots[j] = (k8s_slot_t){ .h = h, .aux = aux, .rec = rec };
    x->n++;
    return 0;
}

static k8s_slot_t *idx_find(const k8s_index_t *x, uint32_t h, k8s_eq_fn eq, const void *key)
{
    if (!x->cap) return NULL;
    for (size_t j = h & (x->cap - 1);; j = (j + 1) & (x->cap - 1)) {
        k8s_slot_t *s = &x->slots[j];
        if (!s->rec) return NULL;
        if (s->h == h && eq(s, key)) return s;
    }
}

/* Removes the slot naming exactly (rec, aux); backward-shift keeps probe chains whole. */
static void idx_remove(k8s_index_t *x, uint32_t h, const void *rec, uint32_t aux)
{
    if (!x->cap) return;
    size_t mask = x->cap - 1, j = h & mask;
    for (;; j = (j + 1) & mask) {
        if (!x->slots[j].rec) return;
        if (x->slots[j].rec == rec && x->slots[j].aux == aux) break;
    }
    size_t hole = j;
    for (size_t k = (hole + 1) & mask; x->slots[k].rec; k = (k + 1) & mask) {
        size_t home = x->slots[k].h & mask;
        /* Move k into the hole unless its home lies cyclically in (hole, k]. */
        bool stays = hole <= k ? (home > hole && home <= k) : (home > hole || home <= k);
        if (!stays) {
            x->slots[hole] = x->slots[k];
            hole = k;
        }
    }
    x->slots[hole] = (k8s_slot_t){ 0 };
    x->n--;
}

/* ---- key comparisons ------------------------------------------------------ */

static bool eq_uid(const k8s_slot_t *s, const void *key) { return strcmp(((k8s_pod_t *)s->rec)->uid, key) == 0; }
static bool eq_ip(const k8s_slot_t *s, const void *key)
{
    return strcmp(((k8s_pod_t *)s->rec)->ip[s->aux], key) == 0;
}
static bool eq_cid(const k8s_slot_t *s, const void *key)
{
    return strcmp(((k8s_pod_t *)s->rec)->cont[s->aux].id, key) == 0;
}
typedef struct { const char *ns, *name; } nskey_t;
static bool eq_name(const k8s_slot_t *s, const void *key)
{
    const k8s_pod_t *p = s->rec;
    const nskey_t *k = key;
    return strcmp(p->name, k->name) == 0 && strcmp(p->ns, k->ns) == 0;
}
static bool eq_obj(const k8s_slot_t *s, const void *key) { return strcmp(((k8s_obj_t *)s->rec)->key, key) == 0; }

/* ---- lists ---------------------------------------------------------------- */

static void list_unlink(k8s_pod_t **head, k8s_pod_t **tail, k8s_pod_t *p)
{
    if (p->prev) p->prev->next = p->next; else *head = p->next;
    if (p->next) p->next->prev = p->prev; else *tail = p->prev;
    p->prev = p->next = NULL;
}

static void list_append(k8s_pod_t **head, k8s_pod_t **tail, k8s_pod_t *p)
{
    p->prev = *tail;
    p->next = NULL;
    if (*tail) (*tail)->next = p; else *head = p;
    *tail = p;
}

static void unlink_pod(k8s_cache_t *c, k8s_pod_t *p)
{
    if (p->expires_ms) { list_unlink(&c->dead_head, &c->dead_tail, p); c->ndead--; }
    else list_unlink(&c->live_head, &c->live_tail, p);
}

/* ---- cache ---------------------------------------------------------------- */

void vg_k8s_cache_init(k8s_cache_t *c, size_t max_pods, int64_t grace_ms, unsigned indexes)
{
    memset(c, 0, sizeof *c);
    c->max_pods = max_pods ? max_pods : 1;
    c->grace_ms = grace_ms;
    c->indexes = indexes;
}

/* Drops every index slot naming p. */
static void deindex(k8s_cache_t *c, k8s_pod_t *p)
{
    idx_remove(&c->by_uid, hstr(p->uid), p, 0);
    if (c->indexes & K8S_IDX_IP)
        for (uint32_t i = 0; i < 2; i++)
            if (*p->ip[i]) idx_remove(&c->by_ip, hstr(p->ip[i]), p, i);
    if (c->indexes & K8S_IDX_CID)
        for (uint32_t i = 0; i < p->ncont; i++)
            if (*p->cont[i].id) idx_remove(&c->by_cid, hstr(p->cont[i].id), p, i);
    if (c->indexes & K8S_IDX_NAME) idx_remove(&c->by_name, hname(p->ns, p->name), p, 0);
}

static void drop(k8s_cache_t *c, k8s_pod_t *p)
{
    deindex(c, p);
    unlink_pod(c, p);
    c->npods--;
    c->bytes -= p->bytes;
    vg_free(p);
}

/* p wins a shared key over q when q is deleted, or both live and p is not older. */
static bool wins(const k8s_pod_t *p, const k8s_pod_t *q)
{
    if (q->expires_ms) return true;
    if (p->expires_ms) return false;
    return strcmp(p->start_time, q->start_time) >= 0;
}

/* Index p under a key shared with other pods (IP, container id, name): the
 * newer live pod keeps the slot. */
static int index_shared(k8s_cache_t *c, k8s_index_t *x, uint32_t h, k8s_eq_fn eq, const void *key, k8s_pod_t *p,
                        uint32_t aux)
{
    k8s_slot_t *s = idx_find(x, h, eq, key);
    if (s) {
        if (!wins(p, s->rec)) return 0;
        idx_remove(x, h, s->rec, s->aux);
    }
    return idx_insert(x, h, p, aux, &c->bytes);
}

static int index_pod(k8s_cache_t *c, k8s_pod_t *p)
{
    int rc = idx_insert(&c->by_uid, hstr(p->uid), p, 0, &c->bytes);
    if (!rc && (c->indexes & K8S_IDX_IP) && !p->host_network)
        for (uint32_t i = 0; i < 2 && !rc; i++)
            if (*p->ip[i]) rc = index_shared(c, &c->by_ip, hstr(p->ip[i]), eq_ip, p->ip[i], p, i);
    if (!rc && (c->indexes & K8S_IDX_CID))
        for (uint32_t i = 0; i < p->ncont && !rc; i++)
            if (*p->cont[i].id) rc = index_shared(c, &c->by_cid, hstr(p->cont[i].id), eq_cid, p->cont[i].id, p, i);
    if (!rc && (c->indexes & K8S_IDX_NAME)) {
        nskey_t k = { p->ns, p->name };
        rc = index_shared(c, &c->by_name, hname(p->ns, p->name), eq_name, &k, p, 0);
    }
    return rc;
}

void vg_k8s_cache_expire(k8s_cache_t *c, int64_t now_ms)
{
    while (c->dead_head && c->dead_head->expires_ms <= now_ms) {
        drop(c, c->dead_head);
        c->st.expired++;
    }
}

static void evict_one(k8s_cache_t *c)
{
    k8s_pod_t *v = c->dead_head ? c->dead_head : c->live_head;
    if (!v) return;
    drop(c, v);
    c->st.evictions++;
}

int vg_k8s_cache_put(k8s_cache_t *c, k8s_pod_t *p, int64_t now_ms)
{
    if (!p) return VG_ENOMEM;
    vg_k8s_cache_expire(c, now_ms);
    k8s_slot_t *s = idx_find(&c->by_uid, hstr(p->uid), eq_uid, p->uid);
    if (s) {
        drop(c, s->rec);
        c->st.updated++;
    } else {
        c->st.added++;
        while (c->npods >= c->max_pods) evict_one(c);
    }
    p->expires_ms = 0;
    p->prev = p->next = NULL;
    int rc = index_pod(c, p);
    if (rc) {
        deindex(c, p);
        vg_free(p);
        return rc;
    }
    list_append(&c->live_head, &c->live_tail, p);
    c->npods++;
    c->bytes += p->bytes;
    return 0;
}

static void mark_deleted(k8s_cache_t *c, k8s_pod_t *p, int64_t now_ms)
{
    if (c->grace_ms <= 0) { drop(c, p); return; }
    list_unlink(&c->live_head, &c->live_tail, p);
    p->expires_ms = now_ms + c->grace_ms;
    if (p->expires_ms <= 0) p->expires_ms = 1;
    /* Expiry times only grow (one grace for all), so appending keeps the order. */
    list_append(&c->dead_head, &c->dead_tail, p);
    c->ndead++;
}

int vg_k8s_cache_delete(k8s_cache_t *c, const char *uid, int64_t now_ms)
{
    k8s_slot_t *s = idx_find(&c->by_uid, hstr(uid), eq_uid, uid);
    if (!s) return VG_ENOTFOUND;
    k8s_pod_t *p = s->rec;
    c->st.deleted++;
    if (!p->expires_ms) mark_deleted(c, p, now_ms);
    vg_k8s_cache_expire(c, now_ms);
    return 0;
}

size_t vg_k8s_cache_sweep_gen(k8s_cache_t *c, uint32_t gen, int64_t now_ms)
{
    size_t n = 0;
    for (k8s_pod_t *p = c->live_head, *next; p; p = next) {
        next = p->next;
        if (p->gen != gen) {
            mark_deleted(c, p, now_ms);
            c->st.deleted++;
            n++;
        }
    }
    return n;
}

void vg_k8s_cache_free(k8s_cache_t *c)
{
    for (k8s_pod_t *p = c->live_head, *n; p; p = n) { n = p->next; vg_free(p); }
    for (k8s_pod_t *p = c->dead_head, *n; p; p = n) { n = p->next; vg_free(p); }
    vg_free(c->by_uid.slots);
    vg_free(c->by_ip.slots);
    vg_free(c->by_cid.slots);
    vg_free(c->by_name.slots);
    memset(c, 0, sizeof *c);
}

static const k8s_pod_t *alive(const k8s_slot_t *s, int64_t now_ms)
{
    if (!s) return NULL;
    const k8s_pod_t *p = s->rec;
    return p->expires_ms && p->expires_ms <= now_ms ? NULL : p;
}

const k8s_pod_t *vg_k8s_cache_by_uid(const k8s_cache_t *c, const char *uid, int64_t now_ms)
{
    return alive(idx_find(&c->by_uid, hstr(uid), eq_uid, uid), now_ms);
}

const k8s_pod_t *vg_k8s_cache_by_ip(const k8s_cache_t *c, const char *ip, int64_t now_ms)
{
    return alive(idx_find(&c->by_ip, hstr(ip), eq_ip, ip), now_ms);
}

const k8s_pod_t *vg_k8s_cache_by_name(const k8s_cache_t *c, const char *ns, const char *name, int64_t now_ms)
{
    nskey_t k = { ns, name };
    return alive(idx_find(&c->by_name, hname(ns, name), eq_name, &k), now_ms);
}

const k8s_pod_t *vg_k8s_cache_by_cid(const k8s_cache_t *c, const char *cid, int64_t now_ms, size_t *cidx)
{
    k8s_slot_t *s = idx_find(&c->by_cid, hstr(cid), eq_cid, cid);
    const k8s_pod_t *p = alive(s, now_ms);
    if (p && cidx) *cidx = s->aux;
    return p;
}

/* ---- namespace / ReplicaSet maps ------------------------------------------ */

void vg_k8s_objmap_init(k8s_objmap_t *m, size_t max)
{
    memset(m, 0, sizeof *m);
    m->max = max ? max : 1;
}

void vg_k8s_objmap_free(k8s_objmap_t *m)
{
    for (size_t i = 0; i < m->idx.cap; i++) vg_free(m->idx.slots[i].rec);
    vg_free(m->idx.slots);
    memset(m, 0, sizeof *m);
}

static size_t slen0(const char *s) { return s ? strlen(s) + 1 : 0; }

k8s_obj_t *vg_k8s_obj_new(const char *key, const char *dep_name, const char *dep_uid, const k8s_kvbuf_t *kv)
{
    size_t nkv = kv ? kv->n : 0;
    size_t size = sizeof(k8s_obj_t) + nkv * sizeof(k8s_kv_t) + slen0(key) + slen0(dep_name) + slen0(dep_uid) +
                  (kv ? kv->len : 0);
    k8s_obj_t *o = vg_malloc(size);
    if (!o) return NULL;
    memset(o, 0, sizeof *o);
    o->bytes = size;
    o->kv = (k8s_kv_t *)(o + 1);
    char *s = (char *)(o->kv + nkv);
#define PUT(dst, src) do { if (src) { size_t l_ = strlen(src) + 1; memcpy(s, src, l_); dst = s; s += l_; } } while (0)
    PUT(o->key, key);
    PUT(o->dep_name, dep_name);
    PUT(o->dep_uid, dep_uid);
#undef PUT
    if (nkv) {
        memcpy(s, kv->buf, kv->len);
        for (size_t i = 0; i < nkv; i++) o->kv[i] = (k8s_kv_t){ s + kv->koff[i], s + kv->voff[i] };
    }
    o->nkv = (uint16_t)nkv;
    return o;
}

int vg_k8s_objmap_put(k8s_objmap_t *m, k8s_obj_t *o)
{
    if (!o) return VG_ENOMEM;
    uint32_t h = hstr(o->key);
    k8s_slot_t *s = idx_find(&m->idx, h, eq_obj, o->key);
    if (s) {
        k8s_obj_t *old = s->rec;
        m->bytes -= old->bytes;
        m->bytes += o->bytes;
        vg_free(old);
        s->rec = o;
        return 0;
    }
    if (m->n >= m->max) {
        /* Rare (a bound against runaway clusters): drop an arbitrary entry. */
        for (size_t i = 0; i < m->idx.cap; i++) {
            k8s_obj_t *v = m->idx.slots[i].rec;
            if (v) { vg_k8s_objmap_delete(m, v->key); m->evictions++; break; }
        }
    }
    int rc = idx_insert(&m->idx, h, o, 0, &m->bytes);
    if (rc) { vg_free(o); return rc; }
    m->n++;
    m->bytes += o->bytes;
    return 0;
}

void vg_k8s_objmap_delete(k8s_objmap_t *m, const char *key)
{
    uint32_t h = hstr(key);
    k8s_slot_t *s = idx_find(&m->idx, h, eq_obj, key);
    if (!s) return;
    k8s_obj_t *o = s->rec;
    idx_remove(&m->idx, h, o, 0);
    m->n--;
    m->bytes -= o->bytes;
    vg_free(o);
}

size_t vg_k8s_objmap_sweep_gen(k8s_objmap_t *m, uint32_t gen)
{
    size_t n = 0;
    for (size_t i = 0; i < m->idx.cap;) {
        k8s_obj_t *o = m->idx.slots[i].rec;
        if (o && o->gen != gen) {
            vg_k8s_objmap_delete(m, o->key); /* may shift a later slot into i: look at i again */
            n++;
            continue;
        }
        i++;
    }
    return n;
}

const k8s_obj_t *vg_k8s_objmap_get(const k8s_objmap_t *m, const char *key)
{
    k8s_slot_t *s = idx_find(&m->idx, hstr(key), eq_obj, key);
    return s ? s->rec : NULL;
}

