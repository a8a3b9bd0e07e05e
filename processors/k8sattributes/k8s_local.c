/* Node-local pod names, with no API at all: the kubelet's log layout.
 *
 *   /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log
 *   /var/log/containers/<pod>_<namespace>_<container>-<container id>.log
 *                      -> symlink to the file above
 *
 * Namespace and pod names are DNS labels/subdomains and container names DNS
 * labels: none contains '_', so the split is unambiguous. The two folders are
 * read into pod records (uid, namespace, name, containers with ids) held in a
 * k8s_cache; a lookup that misses reads them again, at most every rescan_ms, so
 * a flood of unknown ids costs one scan per period. */
#include "k8s.h"

#include "error.h"
#include "mem.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool is_uidish(const char *s, size_t n)
{
    if (n < 8 || n > 64) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-')) return false;
    }
    return true;
}

int vg_k8s_parse_pod_dir(const char *name, k8s_str_t *ns, k8s_str_t *pod, k8s_str_t *uid)
{
    if (!name) return VG_EPARSE;
    const char *first = strchr(name, '_'), *last = strrchr(name, '_');
    if (!first || first == last || first == name) return VG_EPARSE;
    size_t n = strlen(name);
    *ns = (k8s_str_t){ name, (size_t)(first - name) };
    *pod = (k8s_str_t){ first + 1, (size_t)(last - first - 1) };
    *uid = (k8s_str_t){ last + 1, n - (size_t)(last + 1 - name) };
    if (!pod->n || !is_uidish(uid->p, uid->n)) return VG_EPARSE;
    return 0;
}

int vg_k8s_parse_container_log(const char *name, k8s_str_t *pod, k8s_str_t *ns, k8s_str_t *container,
                               k8s_str_t *id)
{
    if (!name) return VG_EPARSE;
    size_t n = strlen(name);
    if (n < 4 + 1 + 64 || strcmp(name + n - 4, ".log") != 0) return VG_EPARSE;
    size_t end = n - 4;
    const char *dash = NULL;
    for (size_t i = end; i-- > 0;)
        if (name[i] == '-') { dash = name + i; break; }
    if (!dash) return VG_EPARSE;
    size_t idlen = end - (size_t)(dash + 1 - name);
    if (idlen < 12 || idlen > VG_CG_ID_MAX) return VG_EPARSE;
    for (size_t i = 0; i < idlen; i++) {
        char c = dash[1 + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return VG_EPARSE;
    }
    const char *u1 = memchr(name, '_', (size_t)(dash - name));
    if (!u1 || u1 == name) return VG_EPARSE;
    const char *u2 = memchr(u1 + 1, '_', (size_t)(dash - u1 - 1));
    if (!u2 || u2 == u1 + 1 || memchr(u2 + 1, '_', (size_t)(dash - u2 - 1)) || dash == u2 + 1) return VG_EPARSE;
    *pod = (k8s_str_t){ name, (size_t)(u1 - name) };
    *ns = (k8s_str_t){ u1 + 1, (size_t)(u2 - u1 - 1) };
    *container = (k8s_str_t){ u2 + 1, (size_t)(dash - u2 - 1) };
    *id = (k8s_str_t){ dash + 1, idlen };
    return 0;
}

/* ---- the snapshot ---------------------------------------------------------- */

struct k8s_local {
    char *pods_dir, *containers_dir;
    int64_t rescan_ms, last_scan_ms;
    bool scanned;
    uint32_t gen;
    uint64_t scans;
    k8s_cache_t cache; /* local records by uid and container id */
};

int vg_k8s_local_new(const k8s_local_opts_t *o, k8s_local_t **out)
{
    k8s_local_t *l = vg_calloc(1, sizeof *l);
    if (!l) return VG_ENOMEM;
    l->pods_dir = vg_strdup(o->pods_dir ? o->pods_dir : "/var/log/pods");
    l->containers_dir = vg_strdup(o->containers_dir ? o->containers_dir : "/var/log/containers");
    if (!l->pods_dir || !l->containers_dir) { vg_k8s_local_free(l); return VG_ENOMEM; }
    l->rescan_ms = o->rescan_ms;
    vg_k8s_cache_init(&l->cache, o->max_pods ? o->max_pods : 4096, 0, K8S_IDX_CID);
    *out = l;
    return 0;
}

void vg_k8s_local_free(k8s_local_t *l)
{
    if (!l) return;
    vg_k8s_cache_free(&l->cache);
    vg_free(l->pods_dir);
    vg_free(l->containers_dir);
    vg_free(l);
}

uint64_t vg_k8s_local_scans(const k8s_local_t *l) { return l->scans; }
size_t vg_k8s_local_bytes(const k8s_local_t *l) { return l->cache.bytes; }

/* One /var/log/containers entry. */
typedef struct {
    char pod[254], ns[64], container[64], id[VG_CG_ID_MAX + 1], uid[65];
} clog_t;

static void copy_str(char *dst, size_t cap, k8s_str_t s)
{
    size_t n = s.n < cap - 1 ? s.n : cap - 1;
    memcpy(dst, s.p, n);
    dst[n] = '\0';
}

/* Reads the containers folder into a growing array. */
static int read_containers(k8s_local_t *l, clog_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(l->containers_dir);
    if (!d) return 0;
    size_t cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        k8s_str_t pod, ns, cn, id;
        if (vg_k8s_parse_container_log(e->d_name, &pod, &ns, &cn, &id)) continue;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            clog_t *na = vg_realloc(*out, nc * sizeof *na);
            if (!na) { rc = VG_ENOMEM; break; }
            *out = na;
            cap = nc;
        }
        clog_t *c = &(*out)[(*n)++];
        copy_str(c->pod, sizeof c->pod, pod);
        copy_str(c->ns, sizeof c->ns, ns);
        copy_str(c->container, sizeof c->container, cn);
        copy_str(c->id, sizeof c->id, id);
        c->uid[0] = '\0';
        /* The symlink names the pod folder, hence the uid. */
        char path[PATH_MAX], target[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", l->containers_dir, e->d_name);
        ssize_t tl = readlink(path, target, sizeof target - 1);
        if (tl > 0) {
            target[tl] = '\0';
            /* .../<ns>_<pod>_<uid>/<container>/<n>.log */
            char *s2 = strrchr(target, '/');
            if (s2) {
                *s2 = '\0';
                char *s1 = strrchr(target, '/');
                if (s1) {
                    *s1 = '\0';
                    char *s0 = strrchr(target, '/');
                    k8s_str_t a, b, u;
                    if (!vg_k8s_parse_pod_dir(s0 ? s0 + 1 : target, &a, &b, &u)) copy_str(c->uid, sizeof c->uid, u);
                }
            }
        }
    }
    closedir(d);
    return rc;
}

static int put_pod(k8s_local_t *l, const char *uid, const char *ns, const char *pod, k8s_cont_spec_t *cs, size_t nc,
                   int64_t now_ms)
{
    k8s_pod_spec_t s = { .uid = uid, .name = pod, .ns = ns, .local = true, .cont = cs, .ncont = nc };
    k8s_pod_t *p = vg_k8s_pod_new(&s);
    if (!p) return VG_ENOMEM;
    p->gen = l->gen;
    return vg_k8s_cache_put(&l->cache, p, now_ms);
}

#define MAX_LOCAL_CONTAINERS 64

static int rescan(k8s_local_t *l, int64_t now_ms)
{
    l->scans++;
    l->gen++;
    l->last_scan_ms = now_ms;
    l->scanned = true;
    clog_t *cl;
    size_t ncl;
    int rc = read_containers(l, &cl, &ncl);
    if (rc) { vg_free(cl); return rc; }
    bool *used = vg_calloc(ncl ? ncl : 1, sizeof *used);
    if (!used) { vg_free(cl); return VG_ENOMEM; }
    DIR *d = opendir(l->pods_dir);
    struct dirent *e;
    while (d && !rc && (e = readdir(d))) {
        k8s_str_t ns, pod, uid;
        if (vg_k8s_parse_pod_dir(e->d_name, &ns, &pod, &uid)) continue;
        char sns[64], spod[254], suid[65];
        copy_str(sns, sizeof sns, ns);
        copy_str(spod, sizeof spod, pod);
        copy_str(suid, sizeof suid, uid);
        char sub[MAX_LOCAL_CONTAINERS][64];
        size_t nsub = 0;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", l->pods_dir, e->d_name);
        DIR *pd = opendir(path);
        struct dirent *ce;
        while (pd && nsub < MAX_LOCAL_CONTAINERS && (ce = readdir(pd)))
            if (ce->d_name[0] != '.') snprintf(sub[nsub++], sizeof sub[0], "%s", ce->d_name);
        if (pd) closedir(pd);
        /* One entry per id the containers folder has for a container (restarts), else one without. */
        k8s_cont_spec_t cs[MAX_LOCAL_CONTAINERS];
        size_t nc = 0;
        for (size_t k = 0; k < nsub && nc < MAX_LOCAL_CONTAINERS; k++) {
            bool any = false;
            for (size_t i = 0; i < ncl && nc < MAX_LOCAL_CONTAINERS; i++) {
                if (strcmp(cl[i].ns, sns) || strcmp(cl[i].pod, spod) || strcmp(cl[i].container, sub[k])) continue;
                if (cl[i].uid[0] && strcmp(cl[i].uid, suid)) continue;
                used[i] = true;
                cs[nc++] = (k8s_cont_spec_t){ .name = sub[k], .id = cl[i].id };
                any = true;
            }
            if (!any && nc < MAX_LOCAL_CONTAINERS) cs[nc++] = (k8s_cont_spec_t){ .name = sub[k] };
        }
        rc = put_pod(l, suid, sns, spod, cs, nc, now_ms);
    }
    if (d) closedir(d);
    /* Container logs whose pod folder we did not see (other log root): uid from the link. */
    for (size_t i = 0; i < ncl && !rc; i++) {
        if (used[i] || !cl[i].uid[0]) continue;
        k8s_cont_spec_t cs = { .name = cl[i].container, .id = cl[i].id };
        const k8s_pod_t *have = vg_k8s_cache_by_uid(&l->cache, cl[i].uid, now_ms);
        if (have && have->gen == l->gen) continue; /* first one wins; rare */
        rc = put_pod(l, cl[i].uid, cl[i].ns, cl[i].pod, &cs, 1, now_ms);
    }
    vg_free(used);
    vg_free(cl);
    if (!rc) vg_k8s_cache_sweep_gen(&l->cache, l->gen, now_ms);
    return rc;
}

static const k8s_pod_t *find(k8s_local_t *l, const char *uid, const char *cid, int64_t now_ms, size_t *cidx)
{
    if (cid && *cid) {
        const k8s_pod_t *p = vg_k8s_cache_by_cid(&l->cache, cid, now_ms, cidx);
        if (p && (!uid || !*uid || strcmp(p->uid, uid) == 0)) return p;
    }
    if (uid && *uid) {
        const k8s_pod_t *p = vg_k8s_cache_by_uid(&l->cache, uid, now_ms);
        if (p) { *cidx = SIZE_MAX; return p; }
    }
    return NULL;
}

const k8s_pod_t *vg_k8s_local_lookup(k8s_local_t *l, const char *uid, const char *cid, int64_t now_ms, size_t *cidx)
{
    *cidx = SIZE_MAX;
    const k8s_pod_t *p = find(l, uid, cid, now_ms, cidx);
    /* A known pod but an unknown container of it also asks for a scan (a restart). */
    bool partial = p && cid && *cid && *cidx == SIZE_MAX;
    if ((p && !partial) || (l->scanned && now_ms - l->last_scan_ms < l->rescan_ms)) return p;
    if (rescan(l, now_ms)) return NULL;
    return find(l, uid, cid, now_ms, cidx);
}
