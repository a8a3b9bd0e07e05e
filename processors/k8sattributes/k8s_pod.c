/* Kubernetes objects (as jansson parsed them from the API) to the compact pod
 * records the cache holds. Only what the configuration extracts is kept: the
 * record is one allocation with its strings, typically a few hundred bytes. */
#include "k8s.h"

#include "error.h"
#include "mem.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

const char *const vg_k8s_attr_names[K8S_A_COUNT + 1] = {
    [K8S_A_NAMESPACE] = "k8s.namespace.name",
    [K8S_A_POD_NAME] = "k8s.pod.name",
    [K8S_A_POD_UID] = "k8s.pod.uid",
    [K8S_A_POD_START] = "k8s.pod.start_time",
    [K8S_A_POD_IP] = "k8s.pod.ip",
    [K8S_A_NODE] = "k8s.node.name",
    [K8S_A_DEPLOYMENT] = "k8s.deployment.name",
    [K8S_A_DEPLOYMENT_UID] = "k8s.deployment.uid",
    [K8S_A_RS] = "k8s.replicaset.name",
    [K8S_A_RS_UID] = "k8s.replicaset.uid",
    [K8S_A_STS] = "k8s.statefulset.name",
    [K8S_A_STS_UID] = "k8s.statefulset.uid",
    [K8S_A_DS] = "k8s.daemonset.name",
    [K8S_A_DS_UID] = "k8s.daemonset.uid",
    [K8S_A_JOB] = "k8s.job.name",
    [K8S_A_JOB_UID] = "k8s.job.uid",
    [K8S_A_CRONJOB] = "k8s.cronjob.name",
    [K8S_A_CONT_NAME] = "k8s.container.name",
    [K8S_A_CONT_ID] = "container.id",
    [K8S_A_IMAGE_NAME] = "container.image.name",
    [K8S_A_IMAGE_TAG] = "container.image.tag",
    [K8S_A_COUNT] = NULL,
};

k8s_attr_t vg_k8s_attr_find(const char *name)
{
    for (int i = 0; i < K8S_A_COUNT; i++)
        if (strcmp(vg_k8s_attr_names[i], name) == 0) return (k8s_attr_t)i;
    return K8S_A_COUNT;
}

/* ---- the scratch pool of tags -------------------------------------------- */

void vg_k8s_kvbuf_reset(k8s_kvbuf_t *b) { b->len = 0; b->n = 0; }

void vg_k8s_kvbuf_free(k8s_kvbuf_t *b)
{
    vg_free(b->buf);
    vg_free(b->koff);
    vg_free(b->voff);
    memset(b, 0, sizeof *b);
}

static int pool_put(k8s_kvbuf_t *b, const char *s, size_t n, size_t *off)
{
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > ncap) ncap *= 2;
        char *nb = vg_realloc(b->buf, ncap);
        if (!nb) return VG_ENOMEM;
        b->buf = nb;
        b->cap = ncap;
    }
    memcpy(b->buf + b->len, s, n);
    b->buf[b->len + n] = '\0';
    *off = b->len;
    b->len += n + 1;
    return 0;
}

static int kv_push(k8s_kvbuf_t *b, const char *k, size_t kn, const char *v, size_t vn)
{
    if (b->n == b->ncap) {
        size_t nc = b->ncap ? b->ncap * 2 : 8;
        size_t *nk = vg_realloc(b->koff, nc * sizeof *nk);
        if (!nk) return VG_ENOMEM;
        b->koff = nk;
        size_t *nv = vg_realloc(b->voff, nc * sizeof *nv);
        if (!nv) return VG_ENOMEM;
        b->voff = nv;
        b->ncap = nc;
    }
    size_t ko, vo;
    if (pool_put(b, k, kn, &ko) || pool_put(b, v, vn, &vo)) return VG_ENOMEM;
    b->koff[b->n] = ko;
    b->voff[b->n] = vo;
    b->n++;
    return 0;
}

static const char *default_prefix(int from, bool annotation)
{
    if (from == K8S_FROM_NAMESPACE) return annotation ? "k8s.namespace.annotations." : "k8s.namespace.labels.";
    return annotation ? "k8s.pod.annotations." : "k8s.pod.labels.";
}

/* tag_name with $1..$9 replaced by the key's capture groups ("$$" is a '$'). */
static int expand_tag(const char *tmpl, const char *key, const regmatch_t *m, char *out, size_t cap, size_t *olen)
{
    size_t o = 0;
    for (const char *p = tmpl; *p; p++) {
        const char *src = p;
        size_t n = 1;
        if (p[0] == '$' && p[1] == '$') { p++; }
        else if (p[0] == '$' && p[1] >= '1' && p[1] <= '9') {
            const regmatch_t *g = &m[p[1] - '0'];
            p++;
            if (g->rm_so < 0) continue;
            src = key + g->rm_so;
            n = (size_t)(g->rm_eo - g->rm_so);
        }
        if (o + n >= cap) return VG_ETOOBIG;
        memcpy(out + o, src, n);
        o += n;
    }
    out[o] = '\0';
    *olen = o;
    return 0;
}

int vg_k8s_rules_apply(const k8s_extract_t *x, int from, bool annotation, json_t *map, k8s_kvbuf_t *out)
{
    if (!json_is_object(map)) return 0;
    char tag[512];
    for (size_t i = 0; i < x->nrules; i++) {
        const k8s_rule_t *r = &x->rules[i];
        if (r->from != from || r->annotation != annotation) continue;
        if (r->key) {
            json_t *v = json_object_get(map, r->key);
            if (!json_is_string(v)) continue;
            int n = r->tag_name ? snprintf(tag, sizeof tag, "%s", r->tag_name)
                                : snprintf(tag, sizeof tag, "%s%s", default_prefix(from, annotation), r->key);
            if (n < 0 || (size_t)n >= sizeof tag) continue;
            if (kv_push(out, tag, (size_t)n, json_string_value(v), json_string_length(v))) return VG_ENOMEM;
            continue;
        }
        const char *k;
        json_t *v;
        json_object_foreach(map, k, v) {
            if (!json_is_string(v)) continue;
            regmatch_t m[10];
            if (regexec(&r->re, k, 10, m, 0) != 0 || m[0].rm_so != 0 || (size_t)m[0].rm_eo != strlen(k)) continue;
            size_t n;
            if (r->tag_name) {
                if (expand_tag(r->tag_name, k, m, tag, sizeof tag, &n) || n == 0) continue;
            } else {
                int w = snprintf(tag, sizeof tag, "%s%s", default_prefix(from, annotation), k);
                if (w < 0 || (size_t)w >= sizeof tag) continue;
                n = (size_t)w;
            }
            if (kv_push(out, tag, n, json_string_value(v), json_string_length(v))) return VG_ENOMEM;
        }
    }
    return 0;
}

/* ---- records --------------------------------------------------------------- */

void vg_k8s_image_split(const char *image, const char **name, size_t *nlen, const char **tag, size_t *tlen)
{
    *name = image ? image : "";
    size_t len = strlen(*name);
    const char *at = memchr(*name, '@', len); /* a digest is not a tag */
    if (at) len = (size_t)(at - *name);
    const char *colon = NULL; /* a ':' before the last '/' is a registry port, not a tag */
    for (size_t i = 0; i < len; i++) {
        if ((*name)[i] == '/') colon = NULL;
        else if ((*name)[i] == ':') colon = *name + i;
    }
    if (colon) {
        *nlen = (size_t)(colon - *name);
        *tag = colon + 1;
        *tlen = len - *nlen - 1;
    } else {
        *nlen = len;
        *tag = "";
        *tlen = 0;
    }
}

size_t vg_k8s_cronjob_from_job(const char *job)
{
    if (!job) return 0;
    size_t n = strlen(job), i = n;
    while (i > 0 && isdigit((unsigned char)job[i - 1])) i--;
    if (i == n || i < 2 || job[i - 1] != '-') return 0;
    return i - 1;
}

const k8s_container_t *vg_k8s_pod_container_by_name(const k8s_pod_t *p, const char *name)
{
    for (size_t i = 0; i < p->ncont; i++)
        if (strcmp(p->cont[i].name, name) == 0) return &p->cont[i];
    return NULL;
}

static size_t sl(const char *s) { return s && *s ? strlen(s) + 1 : 0; }

static const char *put(char **pool, const char *s, size_t n)
{
    if (!s || !n) return "";
    char *d = *pool;
    memcpy(d, s, n);
    d[n] = '\0';
    *pool += n + 1;
    return d;
}

static const char *puts0(char **pool, const char *s) { return s && *s ? put(pool, s, strlen(s)) : ""; }

k8s_pod_t *vg_k8s_pod_new(const k8s_pod_spec_t *s)
{
    if (!s->uid || !*s->uid) return NULL;
    size_t nkv = s->kv ? s->kv->n : 0;
    size_t cron = vg_k8s_cronjob_from_job(s->job);
    size_t strs = sl(s->uid) + sl(s->name) + sl(s->ns) + sl(s->node) + sl(s->start_time) + sl(s->ip[0]) +
                  sl(s->ip[1]) + sl(s->rs) + sl(s->rs_uid) + sl(s->sts) + sl(s->sts_uid) + sl(s->ds) +
                  sl(s->ds_uid) + sl(s->job) + sl(s->job_uid) + (cron ? cron + 1 : 0) + (s->kv ? s->kv->len : 0);
    for (size_t i = 0; i < s->ncont; i++) strs += sl(s->cont[i].name) + sl(s->cont[i].id) + sl(s->cont[i].image) + 1;
    size_t size = sizeof(k8s_pod_t) + s->ncont * sizeof(k8s_container_t) + nkv * sizeof(k8s_kv_t) + strs;
    if (size > UINT32_MAX || s->ncont > UINT16_MAX || nkv > UINT16_MAX) return NULL;
    k8s_pod_t *p = vg_malloc(size);
    if (!p) return NULL;
    memset(p, 0, sizeof *p);
    p->bytes = (uint32_t)size;
    p->cont = (k8s_container_t *)(p + 1);
    p->kv = (k8s_kv_t *)(p->cont + s->ncont);
    char *pool = (char *)(p->kv + nkv);
    p->uid = puts0(&pool, s->uid);
    p->name = puts0(&pool, s->name);
    p->ns = puts0(&pool, s->ns);
    p->node = puts0(&pool, s->node);
    p->start_time = puts0(&pool, s->start_time);
    p->ip[0] = puts0(&pool, s->ip[0]);
    p->ip[1] = puts0(&pool, s->ip[1]);
    p->rs = puts0(&pool, s->rs);
    p->rs_uid = puts0(&pool, s->rs_uid);
    p->sts = puts0(&pool, s->sts);
    p->sts_uid = puts0(&pool, s->sts_uid);
    p->ds = puts0(&pool, s->ds);
    p->ds_uid = puts0(&pool, s->ds_uid);
    p->job = puts0(&pool, s->job);
    p->job_uid = puts0(&pool, s->job_uid);
    p->cronjob = put(&pool, s->job, cron);
    for (size_t i = 0; i < s->ncont; i++) {
        const k8s_cont_spec_t *cs = &s->cont[i];
        k8s_container_t *c = &p->cont[i];
        c->name = puts0(&pool, cs->name);
        c->id = puts0(&pool, cs->id);
        const char *in, *it;
        size_t nl, tl;
        vg_k8s_image_split(cs->image, &in, &nl, &it, &tl);
        c->image_name = put(&pool, in, nl);
        c->image_tag = put(&pool, it, tl);
    }
    if (nkv) {
        memcpy(pool, s->kv->buf, s->kv->len);
        for (size_t i = 0; i < nkv; i++) p->kv[i] = (k8s_kv_t){ pool + s->kv->koff[i], pool + s->kv->voff[i] };
    }
    p->ncont = (uint16_t)s->ncont;
    p->nkv = (uint16_t)nkv;
    p->host_network = s->host_network;
    p->local = s->local;
    return p;
}

/* ---- from JSON ------------------------------------------------------------- */

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) && json_string_length(v) ? json_string_value(v) : NULL;
}

/* "containerd://<id>" -> "<id>". */
static const char *strip_runtime(const char *id)
{
    if (!id) return NULL;
    const char *p = strstr(id, "://");
    return p ? p + 3 : id;
}

#define MAX_CONTAINERS 64

static size_t cont_find_or_add(k8s_cont_spec_t *cs, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(cs[i].name, name) == 0) return i;
    if (*n == MAX_CONTAINERS) return MAX_CONTAINERS;
    cs[*n] = (k8s_cont_spec_t){ .name = name };
    return (*n)++;
}

int vg_k8s_pod_from_json(const k8s_extract_t *x, json_t *pod, k8s_kvbuf_t *tmp, k8s_pod_t **out)
{
    *out = NULL;
    json_t *md = json_object_get(pod, "metadata"), *spec = json_object_get(pod, "spec"),
           *status = json_object_get(pod, "status");
    const char *uid = jstr(md, "uid");
    if (!uid) return 0;
    json_t *ann = json_object_get(md, "annotations");
    const char *ign = jstr(ann, "opentelemetry.io/k8s-processor-ignore");
    if (ign) {
        while (isspace((unsigned char)*ign)) ign++;
        if (strncasecmp(ign, "true", 4) == 0) return 0;
    }
    const bool *a = x->attr;
    k8s_pod_spec_t s = {
        .uid = uid,
        .name = jstr(md, "name"),
        .ns = jstr(md, "namespace"),
        .start_time = jstr(md, "creationTimestamp"),
        .node = a[K8S_A_NODE] ? jstr(spec, "nodeName") : NULL,
        .host_network = json_is_true(json_object_get(spec, "hostNetwork")),
    };
    s.ip[0] = jstr(status, "podIP");
    json_t *ips = json_object_get(status, "podIPs"), *it;
    size_t i;
    json_array_foreach(ips, i, it) {
        const char *ip = jstr(it, "ip");
        if (ip && (!s.ip[0] || strcmp(ip, s.ip[0]) != 0)) {
            if (!s.ip[0]) s.ip[0] = ip;
            else { s.ip[1] = ip; break; }
        }
    }
    json_t *owners = json_object_get(md, "ownerReferences");
    json_array_foreach(owners, i, it) {
        const char *kind = jstr(it, "kind"), *name = jstr(it, "name"), *ouid = jstr(it, "uid");
        if (!kind) continue;
        if (strcmp(kind, "ReplicaSet") == 0 && !s.rs) {
            if (a[K8S_A_RS] || a[K8S_A_DEPLOYMENT]) s.rs = name;
            if (a[K8S_A_RS_UID] || x->need_rs) s.rs_uid = ouid;
        } else if (strcmp(kind, "StatefulSet") == 0 && !s.sts) {
            if (a[K8S_A_STS]) s.sts = name;
            if (a[K8S_A_STS_UID]) s.sts_uid = ouid;
        } else if (strcmp(kind, "DaemonSet") == 0 && !s.ds) {
            if (a[K8S_A_DS]) s.ds = name;
            if (a[K8S_A_DS_UID]) s.ds_uid = ouid;
        } else if (strcmp(kind, "Job") == 0 && !s.job) {
            if (a[K8S_A_JOB] || a[K8S_A_CRONJOB]) s.job = name;
            if (a[K8S_A_JOB_UID]) s.job_uid = ouid;
        }
    }
    k8s_cont_spec_t cs[MAX_CONTAINERS];
    size_t nc = 0;
    if (x->containers) {
        bool images = a[K8S_A_IMAGE_NAME] || a[K8S_A_IMAGE_TAG];
        static const char *const specs[] = { "containers", "initContainers" };
        for (int k = 0; k < 2; k++) {
            json_array_foreach(json_object_get(spec, specs[k]), i, it) {
                const char *name = jstr(it, "name");
                if (!name) continue;
                size_t j = cont_find_or_add(cs, &nc, name);
                if (j < MAX_CONTAINERS && images) cs[j].image = jstr(it, "image");
            }
        }
        static const char *const stats[] = { "containerStatuses", "initContainerStatuses" };
        for (int k = 0; k < 2; k++) {
            json_array_foreach(json_object_get(status, stats[k]), i, it) {
                const char *name = jstr(it, "name");
                if (!name) continue;
                size_t j = cont_find_or_add(cs, &nc, name);
                if (j == MAX_CONTAINERS) continue;
                cs[j].id = strip_runtime(jstr(it, "containerID"));
                if (images && !cs[j].image) cs[j].image = jstr(it, "image");
            }
        }
    }
    s.cont = cs;
    s.ncont = nc;
    vg_k8s_kvbuf_reset(tmp);
    if (x->pod_labels && vg_k8s_rules_apply(x, K8S_FROM_POD, false, json_object_get(md, "labels"), tmp))
        return VG_ENOMEM;
    if (x->pod_annotations && vg_k8s_rules_apply(x, K8S_FROM_POD, true, ann, tmp)) return VG_ENOMEM;
    s.kv = tmp;
    *out = vg_k8s_pod_new(&s);
    return *out ? 0 : VG_ENOMEM;
}

k8s_pod_t *vg_k8s_pod_dup(const k8s_pod_t *p)
{
    k8s_pod_t *n = vg_malloc(p->bytes);
    if (!n) return NULL;
    memcpy(n, p, p->bytes);
    const char *lo = (const char *)p, *hi = lo + p->bytes;
#define RELOC(f) do { if ((const char *)(f) >= lo && (const char *)(f) < hi) \
        (f) = (void *)((char *)n + ((const char *)(f) - lo)); } while (0)
    RELOC(n->uid); RELOC(n->name); RELOC(n->ns); RELOC(n->node); RELOC(n->start_time);
    RELOC(n->ip[0]); RELOC(n->ip[1]); RELOC(n->rs); RELOC(n->rs_uid); RELOC(n->sts); RELOC(n->sts_uid);
    RELOC(n->ds); RELOC(n->ds_uid); RELOC(n->job); RELOC(n->job_uid); RELOC(n->cronjob);
    RELOC(n->cont);
    RELOC(n->kv);
    for (size_t i = 0; i < n->ncont; i++) {
        RELOC(n->cont[i].name); RELOC(n->cont[i].id); RELOC(n->cont[i].image_name); RELOC(n->cont[i].image_tag);
    }
    for (size_t i = 0; i < n->nkv; i++) { RELOC(n->kv[i].key); RELOC(n->kv[i].val); }
#undef RELOC
    n->prev = n->next = NULL;
    return n;
}
