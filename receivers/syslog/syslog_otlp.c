/* Syslog messages -> OTLP log records; see syslog_otlp.h. */
#include "receivers/syslog/syslog_otlp.h"

#include "arena.h"
#include "error.h"
#include "otlp_build.h"

#include <stdio.h>
#include <string.h>

static const char *const key_names[VG_SYSLOG_K_COUNT] = {
    [VG_SYSLOG_K_APPNAME] = VG_SYSLOG_ATTR_APPNAME,
    [VG_SYSLOG_K_HOSTNAME] = VG_SYSLOG_ATTR_HOSTNAME,
    [VG_SYSLOG_K_PROC_ID] = VG_SYSLOG_ATTR_PROC_ID,
    [VG_SYSLOG_K_MSG_ID] = VG_SYSLOG_ATTR_MSG_ID,
    [VG_SYSLOG_K_MESSAGE] = VG_SYSLOG_ATTR_MESSAGE,
    [VG_SYSLOG_K_SD] = VG_SYSLOG_ATTR_STRUCTURED_DATA,
    [VG_SYSLOG_K_VERSION] = VG_SYSLOG_ATTR_VERSION,
    [VG_SYSLOG_K_PRIORITY] = VG_SYSLOG_ATTR_PRIORITY,
    [VG_SYSLOG_K_FACILITY] = VG_SYSLOG_ATTR_FACILITY,
    [VG_SYSLOG_K_FACILITY_TEXT] = VG_SYSLOG_ATTR_FACILITY_TEXT,
    [VG_SYSLOG_K_PARSE_ERROR] = VG_SYSLOG_ATTR_PARSE_ERROR,
};

#define TOO_LONG_TEXT "message longer than max_octets; cut there"

/* Records per arena allocation of LogRecord structs. */
#define RECORD_CHUNK 64
#define ATTR_MAX 16 /* syslog attributes of one record, at most */

/* ---- UTF-8 ---------------------------------------------------------------- */

/* Length (2..4) of the sequence a lead byte starts and the range its second
 * byte must be in; 0 for bytes that cannot start a sequence (and ASCII). */
static int lead(unsigned c, unsigned *lo, unsigned *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c == 0xE0) { *lo = 0xA0; return 3; }
    if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return 3;
    if (c == 0xED) { *hi = 0x9F; return 3; }
    if (c == 0xF0) { *lo = 0x90; return 4; }
    if (c >= 0xF1 && c <= 0xF3) return 4;
    if (c == 0xF4) { *hi = 0x8F; return 4; }
    return 0;
}

/* Bytes of the valid sequence at s[i] (1..4), or 0 with *skip = the length
 * of the maximal invalid subpart (>= 1). NUL is invalid here. */
static size_t seq_at(const unsigned char *s, size_t n, size_t i, size_t *skip)
{
    unsigned c = s[i];
    if (c >= 0x01 && c < 0x80) return 1;
    unsigned lo, hi;
    int need = lead(c, &lo, &hi);
    if (need == 0) { *skip = 1; return 0; }
    size_t k = 1;
    for (; k < (size_t)need; k++) {
        if (i + k >= n) break;
        unsigned d = s[i + k];
        if (k == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xBF)) break;
    }
    if (k == (size_t)need) return k;
    *skip = k;
    return 0;
}

bool vg_syslog_utf8_clean(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    for (;;) {
        /* ASCII without NUL, 8 bytes at a time (byte order does not matter). */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ull) || ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull)) break;
            i += 8;
        }
        if (i >= n) return true;
        size_t skip, k = seq_at(s, n, i, &skip);
        if (k == 0) return false;
        i += k;
    }
}

size_t vg_syslog_utf8_repair(const char *str, size_t n, char *out)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, o = 0;
    while (i < n) {
        size_t skip, k = seq_at(s, n, i, &skip);
        if (k) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            out[o++] = (char)0xEF;
            out[o++] = (char)0xBF;
            out[o++] = (char)0xBD;
            i += skip;
        }
    }
    return o;
}

/* ---- arena helpers ----------------------------------------------------------- */

static const vg_kv_t kv_init = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
static const vg_anyvalue_t av_init = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
static const vg_log_record_t rec_init = OPENTELEMETRY__PROTO__LOGS__V1__LOG_RECORD__INIT;

typedef struct {
    vg_kv_t kv;
    vg_anyvalue_t v;
} kvpair_t;

/* A NUL-terminated, valid UTF-8 copy of s[0..n) in the arena; *repaired set
 * when bytes had to be replaced. NULL when out of memory. */
static char *put_str(vg_arena_t *a, const char *s, size_t n, bool *repaired)
{
    if (vg_syslog_utf8_clean(s, n)) return vg_arena_strndup(a, s, n);
    if (n > (SIZE_MAX - 1) / 3) return NULL;
    char *d = vg_arena_alloc(a, 3 * n + 1);
    if (!d) return NULL;
    size_t o = vg_syslog_utf8_repair(s, n, d);
    d[o] = '\0';
    *repaired = true;
    return d;
}

static vg_kv_t *kv_new(vg_arena_t *a, char *key)
{
    kvpair_t *p = vg_arena_alloc(a, sizeof *p);
    if (!p) return NULL;
    p->kv = kv_init;
    p->v = av_init;
    p->kv.key = key;
    p->kv.value = &p->v;
    return &p->kv;
}

static vg_kv_t *kv_cstr(vg_arena_t *a, char *key, char *val)
{
    vg_kv_t *kv = val ? kv_new(a, key) : NULL;
    if (!kv) return NULL;
    kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    kv->value->string_value = val;
    return kv;
}

static vg_kv_t *kv_int(vg_arena_t *a, char *key, int64_t v)
{
    vg_kv_t *kv = kv_new(a, key);
    if (!kv) return NULL;
    kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    kv->value->int_value = v;
    return kv;
}

/* ---- builder ------------------------------------------------------------------ */

void vg_syslog_builder_init(vg_syslog_builder_t *bd, const vg_syslog_map_cfg_t *cfg)
{
    memset(bd, 0, offsetof(vg_syslog_builder_t, msg));
    bd->cfg = *cfg;
}

static void reset_batch_state(vg_syslog_builder_t *bd)
{
    bd->b = NULL;
    bd->sl = NULL;
    bd->cap = 0;
    bd->raw_bytes = 0;
    bd->peer_mixed = false;
    bd->peer_kv_ready = false;
    bd->n_peer_kv = 0;
    bd->extra_kv = NULL;
    bd->n_extra_kv = 0;
    memset(bd->key, 0, sizeof bd->key);
    memset(bd->kv_pri, 0, sizeof bd->kv_pri);
    memset(bd->kv_fac, 0, sizeof bd->kv_fac);
    memset(bd->kv_factext, 0, sizeof bd->kv_factext);
    bd->kv_ver = NULL;
    memset(bd->sev_text, 0, sizeof bd->sev_text);
    memset(bd->last, 0, sizeof bd->last);
}

void vg_syslog_builder_clear(vg_syslog_builder_t *bd)
{
    vg_batch_unref(bd->b);
    reset_batch_state(bd);
}

static bool peer_equal(const vg_peer_t *a, const vg_peer_t *b)
{
    return a->family == b->family && a->port == b->port && a->pid == b->pid && a->uid == b->uid &&
           a->gid == b->gid && strcmp(a->addr, b->addr) == 0;
}

bool vg_syslog_builder_peer_differs(const vg_syslog_builder_t *bd, vg_syslog_net_t net, const vg_peer_t *peer)
{
    return bd->peer_set && (bd->net != net || !peer_equal(&bd->peer, peer));
}

void vg_syslog_builder_set_peer(vg_syslog_builder_t *bd, vg_syslog_net_t net, const vg_peer_t *peer, bool add_attrs)
{
    if (bd->peer_set && add_attrs == bd->add_peer && !vg_syslog_builder_peer_differs(bd, net, peer)) return;
    bd->add_peer = add_attrs;
    if (bd->b && vg_syslog_builder_count(bd) > 0) bd->peer_mixed = true;
    bd->net = net;
    bd->peer = *peer;
    bd->peer_set = true;
    bd->peer_kv_ready = false;
    bd->n_peer_kv = 0;
}

size_t vg_syslog_builder_bytes(const vg_syslog_builder_t *bd) { return bd->b ? vg_arena_bytes(bd->b->arena) : 0; }

static int start_batch(vg_syslog_builder_t *bd)
{
    vg_batch_t *b = vg_batch_new(VG_SIG_LOGS);
    if (!b) return VG_ENOMEM;
    vg_resource_logs_t *rl = vg_build_resource_logs(b);
    vg_scope_logs_t *sl = rl ? vg_build_scope_logs(b, rl, NULL, NULL) : NULL;
    if (!sl) {
        vg_batch_unref(b);
        return VG_ENOMEM;
    }
    for (int k = 0; k < VG_SYSLOG_K_COUNT; k++)
        if (!(bd->key[k] = vg_arena_strdup(b->arena, key_names[k]))) goto fail;
    /* `resource` labels on the batch's resource, `attributes` once per batch, shared by its records. */
    const vg_strmap_t *res = bd->cfg.resource, *ex = bd->cfg.attributes;
    for (size_t i = 0; res && i < res->n; i++)
        if (vg_build_attr_str(b->arena, &rl->resource->attributes, &rl->resource->n_attributes, res->k[i], res->v[i]))
            goto fail;
    bd->n_extra_kv = 0;
    if (ex && ex->n) {
        if (!(bd->extra_kv = vg_arena_alloc(b->arena, ex->n * sizeof *bd->extra_kv))) goto fail;
        for (size_t i = 0; i < ex->n; i++) {
            char *k = vg_arena_strdup(b->arena, ex->k[i]), *v = vg_arena_strdup(b->arena, ex->v[i]);
            if (!k || !v || !(bd->extra_kv[i] = kv_cstr(b->arena, k, v))) goto fail;
        }
        bd->n_extra_kv = ex->n;
    }
    bd->b = b;
    bd->sl = sl;
    return 0;
fail:
    vg_batch_unref(b);
    reset_batch_state(bd);
    return VG_ENOMEM;
}

/* The peer's attributes, made once per batch and peer. */
static int peer_kvs(vg_syslog_builder_t *bd)
{
    if (bd->peer_kv_ready || !bd->peer_set || !bd->add_peer) return 0;
    vg_arena_t *a = bd->b->arena;
    const vg_peer_t *p = &bd->peer;
    vg_kv_t **out = bd->peer_kv;
    size_t n = 0;
    static const char *const transport[] = { "tcp", "udp", "unix" };
    char *k, *v;
#define ADD(KV) do { vg_kv_t *kv_ = (KV); if (!kv_) return VG_ENOMEM; out[n++] = kv_; } while (0)
    if (bd->net != VG_SYSLOG_NET_UNIX && p->addr[0]) {
        char port[16];
        snprintf(port, sizeof port, "%d", p->port);
        char *addr = vg_arena_strdup(a, p->addr);
        if (!addr || !(k = vg_arena_strdup(a, VG_SYSLOG_ATTR_NET_PEER_IP))) return VG_ENOMEM;
        ADD(kv_cstr(a, k, addr));
        if (!(k = vg_arena_strdup(a, VG_SYSLOG_ATTR_NET_PEER_PORT)) || !(v = vg_arena_strdup(a, port))) return VG_ENOMEM;
        ADD(kv_cstr(a, k, v));
        if (!(k = vg_arena_strdup(a, VG_SYSLOG_ATTR_NETWORK_PEER_ADDR))) return VG_ENOMEM;
        ADD(kv_cstr(a, k, addr));
        if (!(k = vg_arena_strdup(a, VG_SYSLOG_ATTR_NETWORK_PEER_PORT))) return VG_ENOMEM;
        ADD(kv_int(a, k, p->port));
    }
    if (!(k = vg_arena_strdup(a, VG_SYSLOG_ATTR_NETWORK_TRANSPORT)) || !(v = vg_arena_strdup(a, transport[bd->net])))
        return VG_ENOMEM;
    ADD(kv_cstr(a, k, v));
    if (bd->net == VG_SYSLOG_NET_UNIX && p->pid >= 0) {
        if (!(k = vg_arena_strdup(a, VG_SYSLOG_ATTR_UNIX_PEER_PID))) return VG_ENOMEM;
        ADD(kv_int(a, k, p->pid));
        if (p->uid >= 0) {
            if (!(k = vg_arena_strdup(a, VG_SYSLOG_ATTR_UNIX_PEER_UID))) return VG_ENOMEM;
            ADD(kv_int(a, k, p->uid));
        }
        if (p->gid >= 0) {
            if (!(k = vg_arena_strdup(a, VG_SYSLOG_ATTR_UNIX_PEER_GID))) return VG_ENOMEM;
            ADD(kv_int(a, k, p->gid));
        }
    }
#undef ADD
    bd->n_peer_kv = n;
    bd->peer_kv_ready = true;
    return 0;
}

/* A string attribute from a slice; reuses the previous record's KeyValue for
 * the same field when the text is the same. NULL when out of memory. */
static vg_kv_t *str_attr(vg_syslog_builder_t *bd, int key, int slot, vg_syslog_str_t s, bool *repaired)
{
    if (slot >= 0) {
        vg_kv_t *prev = bd->last[slot];
        if (prev && bd->last_len[slot] == s.len && memcmp(prev->value->string_value, s.ptr, s.len) == 0)
            return prev;
    }
    char *v = put_str(bd->b->arena, s.ptr, s.len, repaired);
    vg_kv_t *kv = v ? kv_cstr(bd->b->arena, bd->key[key], v) : NULL;
    if (kv && slot >= 0) {
        /* Only an unrepaired copy equals its source bytes. */
        bd->last[slot] = strlen(v) == s.len ? kv : NULL;
        bd->last_len[slot] = s.len;
    }
    return kv;
}

static vg_kv_t *cached_int(vg_syslog_builder_t *bd, vg_kv_t **slot, int key, int64_t v)
{
    if (!*slot) *slot = kv_int(bd->b->arena, bd->key[key], v);
    return *slot;
}

/* structured_data: map sd-id -> map param -> value (unescaped). A repeated
 * SD-ID merges into the first; a repeated param name keeps the last value
 * (the Collector builds Go maps, so the same happens there). */
typedef struct {
    vg_kv_t **v;
    size_t n, cap;
} kvl_t;

static int kvl_push(vg_arena_t *a, kvl_t *l, vg_kv_t *kv)
{
    if (!kv) return VG_ENOMEM;
    if (vg_arena_grow(a, (void **)&l->v, &l->cap, l->n + 1, sizeof *l->v)) return VG_ENOMEM;
    l->v[l->n++] = kv;
    return 0;
}

static vg_kv_t *sd_attr(vg_syslog_builder_t *bd, const vg_syslog_msg_t *m, bool *repaired)
{
    vg_arena_t *a = bd->b->arena;
    kvl_t ids = { 0 };
    kvl_t *params = NULL; /* one per id, parallel to ids */
    size_t pcap = 0;
    vg_syslog_sd_iter_t it;
    vg_syslog_sd_iter_init(&it, m->sd_raw);
    vg_syslog_str_t id;
    while (vg_syslog_sd_iter_element(&it, &id)) {
        size_t e = 0;
        while (e < ids.n && !(strlen(ids.v[e]->key) == id.len && memcmp(ids.v[e]->key, id.ptr, id.len) == 0)) e++;
        if (e == ids.n) {
            char *ks = put_str(a, id.ptr, id.len, repaired);
            vg_kv_t *kv = ks ? kv_new(a, ks) : NULL;
            if (!kv || kvl_push(a, &ids, kv)) return NULL;
            if (vg_arena_grow(a, (void **)&params, &pcap, ids.n, sizeof *params)) return NULL;
            params[e] = (kvl_t){ 0 };
        }
        vg_syslog_sd_param_t p;
        while (vg_syslog_sd_iter_param(&it, &p)) {
            size_t vlen = p.value.len;
            const char *vptr = p.value.ptr ? p.value.ptr : "";
            char *tmp = NULL;
            if (p.escaped) {
                if (!(tmp = vg_arena_alloc(a, vlen ? vlen : 1))) return NULL;
                vlen = vg_syslog_sd_unescape(p.value, tmp);
                vptr = tmp;
            }
            char *val = put_str(a, vptr, vlen, repaired);
            if (!val) return NULL;
            kvl_t *pl = &params[e];
            size_t j = 0;
            while (j < pl->n && !(strlen(pl->v[j]->key) == p.name.len && memcmp(pl->v[j]->key, p.name.ptr, p.name.len) == 0))
                j++;
            if (j < pl->n) {
                pl->v[j]->value->string_value = val; /* our own, fresh KeyValue: editing is fine */
                continue;
            }
            char *ks = put_str(a, p.name.ptr, p.name.len, repaired);
            if (!ks || kvl_push(a, pl, kv_cstr(a, ks, val))) return NULL;
        }
    }
    /* Each id's value: a kvlist of its params. */
    for (size_t e = 0; e < ids.n; e++) {
        Opentelemetry__Proto__Common__V1__KeyValueList *l = vg_arena_alloc(a, sizeof *l);
        if (!l) return NULL;
        opentelemetry__proto__common__v1__key_value_list__init(l);
        l->n_values = params[e].n;
        l->values = params[e].v;
        ids.v[e]->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
        ids.v[e]->value->kvlist_value = l;
    }
    Opentelemetry__Proto__Common__V1__KeyValueList *top = vg_arena_alloc(a, sizeof *top);
    vg_kv_t *kv = top ? kv_new(a, bd->key[VG_SYSLOG_K_SD]) : NULL;
    if (!kv) return NULL;
    opentelemetry__proto__common__v1__key_value_list__init(top);
    top->n_values = ids.n;
    top->values = ids.v;
    kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
    kv->value->kvlist_value = top;
    return kv;
}

/* Appends rec to the scope's records (capacity managed here). */
static int push_record(vg_syslog_builder_t *bd, vg_log_record_t *rec)
{
    vg_scope_logs_t *sl = bd->sl;
    if (vg_arena_grow(bd->b->arena, (void **)&sl->log_records, &bd->cap, sl->n_log_records + 1,
                      sizeof *sl->log_records))
        return VG_ENOMEM;
    sl->log_records[sl->n_log_records++] = rec;
    return 0;
}

static vg_log_record_t *new_record(vg_syslog_builder_t *bd)
{
    vg_log_record_t *r = vg_arena_alloc(bd->b->arena, sizeof *r);
    if (r) *r = rec_init;
    return r;
}

int vg_syslog_builder_add(vg_syslog_builder_t *bd, const char *data, size_t len, int status, int64_t observed_ns)
{
    vg_syslog_map_stats_t *st = &bd->st;
    /* The body is the frame without the trailing bytes the parser ignores. */
    while (len && data && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == '\0')) len--;
    if (status == VG_EPARSE && len == 0) {
        st->frame_errors++;
        return 0;
    }
    vg_syslog_msg_t *m = &bd->msg;
    const char *err = NULL;
    if (status == VG_ETOOBIG) {
        st->too_long++;
        err = TOO_LONG_TEXT;
    } else if (status != 0) {
        st->parse_errors++;
        err = "connection closed inside a frame";
    } else {
        vg_syslog_parse_opts_t po = *bd->cfg.parse;
        po.now_ns = observed_ns;
        if (vg_syslog_parse(data, len, &po, m) != 0) {
            st->parse_errors++;
            err = m->error ? m->error : "malformed message";
        }
    }
    if (err && bd->cfg.drop_errors) {
        st->dropped++;
        return 0;
    }
    if (!bd->b && start_batch(bd)) goto nomem;
    if (peer_kvs(bd)) goto nomem;

    vg_arena_t *a = bd->b->arena;
    vg_log_record_t *r = new_record(bd);
    if (!r) goto nomem;
    bool repaired = false;
    /* Filled on the stack and copied at its exact size (many labels: in the arena). */
    vg_kv_t *local[64], **attrs = local;
    size_t n = 0, cap = ATTR_MAX + VG_SYSLOG_PEER_KV_MAX + bd->n_extra_kv;
    if (cap > sizeof local / sizeof *local && !(attrs = vg_arena_alloc(a, cap * sizeof *attrs))) goto nomem;
    r->observed_time_unix_nano = (uint64_t)observed_ns;
    char *body = put_str(a, data ? data : "", len, &repaired);
    vg_anyvalue_t *bv = vg_arena_alloc(a, sizeof *bv);
    if (!body || !bv) goto nomem;
    *bv = av_init;
    bv->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    bv->string_value = body;
    r->body = bv;
    bool body_copied = !repaired;

    if (err) {
        vg_kv_t *kv = kv_cstr(a, bd->key[VG_SYSLOG_K_PARSE_ERROR], vg_arena_strdup(a, err));
        if (!kv) goto nomem;
        attrs[n++] = kv;
    } else {
        if (m->ts_present) r->time_unix_nano = (uint64_t)m->time_unix_nano;
        if (m->pri_present) {
            unsigned sev = m->severity;
            r->severity_number = (Opentelemetry__Proto__Logs__V1__SeverityNumber)vg_syslog_severity_number(sev);
            if (sev < 8) {
                if (!bd->sev_text[sev] && !(bd->sev_text[sev] = vg_arena_strdup(a, vg_syslog_severity_text(sev))))
                    goto nomem;
                r->severity_text = bd->sev_text[sev];
            }
        }
        vg_kv_t *kv;
#define STR(K, SLOT, FIELD)                                                        \
        if (m->FIELD.ptr) {                                                        \
            if (!(kv = str_attr(bd, K, SLOT, m->FIELD, &repaired))) goto nomem;    \
            attrs[n++] = kv;                                                       \
        }
        STR(VG_SYSLOG_K_APPNAME, 1, appname)
        if (m->pri_present) {
            if (!(kv = cached_int(bd, &bd->kv_fac[m->facility % 24], VG_SYSLOG_K_FACILITY, m->facility))) goto nomem;
            attrs[n++] = kv;
            vg_kv_t **ft = &bd->kv_factext[m->facility % 24];
            if (!*ft) {
                const char *t = vg_syslog_facility_text(m->facility);
                if (t && !(*ft = kv_cstr(a, bd->key[VG_SYSLOG_K_FACILITY_TEXT], vg_arena_strdup(a, t)))) goto nomem;
            }
            if (*ft) attrs[n++] = *ft;
        }
        STR(VG_SYSLOG_K_HOSTNAME, 0, hostname)
        if (m->message.ptr) {
            /* The message is usually the body's tail: share the string. */
            const char *end = data + len;
            if (body_copied && m->message.ptr + m->message.len == end) {
                vg_kv_t *mk = kv_cstr(a, bd->key[VG_SYSLOG_K_MESSAGE], body + (m->message.ptr - data));
                if (!mk) goto nomem;
                attrs[n++] = mk;
            } else {
                STR(VG_SYSLOG_K_MESSAGE, -1, message)
            }
        }
        STR(VG_SYSLOG_K_MSG_ID, 3, msgid)
        if (m->pri_present) {
            if (!(kv = cached_int(bd, &bd->kv_pri[m->priority % 192], VG_SYSLOG_K_PRIORITY, m->priority))) goto nomem;
            attrs[n++] = kv;
        }
        STR(VG_SYSLOG_K_PROC_ID, 2, procid)
#undef STR
        if (m->protocol == VG_SYSLOG_RFC5424) {
            if (m->sd_raw.ptr && m->sd_raw.len) {
                if (!(kv = sd_attr(bd, m, &repaired))) goto nomem;
                attrs[n++] = kv;
            }
            if (!bd->kv_ver || bd->kv_ver->value->int_value != m->version)
                if (!(bd->kv_ver = kv_int(a, bd->key[VG_SYSLOG_K_VERSION], m->version))) goto nomem;
            attrs[n++] = bd->kv_ver;
        }
    }
    for (size_t i = 0; i < bd->n_peer_kv; i++) attrs[n++] = bd->peer_kv[i];
    for (size_t i = 0; i < bd->n_extra_kv; i++) attrs[n++] = bd->extra_kv[i];
    r->attributes = attrs == local ? vg_arena_memdup(a, attrs, n * sizeof *attrs) : attrs;
    if (!r->attributes) goto nomem;
    r->n_attributes = n;
    if (push_record(bd, r)) goto nomem;
    bd->raw_bytes += len;
    st->records++;
    if (repaired) st->utf8_repaired++;
    return 1;

nomem:
    st->nomem++;
    return VG_ENOMEM;
}

vg_batch_t *vg_syslog_builder_take(vg_syslog_builder_t *bd)
{
    vg_batch_t *b = bd->b;
    if (!b) return NULL;
    size_t n = vg_syslog_builder_count(bd);
    if (n == 0) {
        vg_syslog_builder_clear(bd);
        return NULL;
    }
    if (bd->peer_set && !bd->peer_mixed) b->peer = bd->peer;
    b->items = n;
    b->bytes = vg_arena_bytes(b->arena) + sizeof *b;
    reset_batch_state(bd);
    return b;
}
