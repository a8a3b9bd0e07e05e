/* cgroup hierarchy: mode detection, root handle, discovery walk, and the
 * cumulative-counter helper. Stats reading is in cgstat.c. */
#include "cgroup.h"
#include "cgroup_int.h"

#include "error.h"
#include "log.h"
#include "mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOGC "cgroup"

const char *vg_cg_mode_name(vg_cg_mode_t m)
{
    switch (m) {
    case VG_CG_MODE_V1: return "v1";
    case VG_CG_MODE_V2: return "v2";
    case VG_CG_MODE_HYBRID: return "hybrid";
    default: return "none";
    }
}

/* v1 controller directory names to try, per source. */
static const char *const v1_names[CG_SRC_COUNT][4] = {
    [CG_SRC_V2] = { NULL },
    [CG_SRC_CPU] = { "cpu", "cpu,cpuacct", "cpuacct,cpu", NULL },
    [CG_SRC_CPUACCT] = { "cpuacct", "cpu,cpuacct", "cpuacct,cpu", NULL },
    [CG_SRC_MEMORY] = { "memory", NULL },
    [CG_SRC_BLKIO] = { "blkio", "blkio,io", NULL },
    [CG_SRC_PIDS] = { "pids", NULL },
};

/* The walk's index preference for v1 and hybrid. */
static const int v1_index_order[] = { CG_SRC_MEMORY, CG_SRC_CPUACCT, CG_SRC_CPU, CG_SRC_PIDS, CG_SRC_BLKIO };

static int has_file(int dfd, const char *rel)
{
    return faccessat(dfd, rel, F_OK, 0) == 0;
}

/* Opens the v1 controller directory for source s under rootfd; -1 if none. */
static int open_v1(int rootfd, int s, const char **name_out)
{
    for (int i = 0; v1_names[s][i]; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "%s/cgroup.procs", v1_names[s][i]);
        if (!has_file(rootfd, rel))
            continue;
        int fd = openat(rootfd, v1_names[s][i], O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            if (name_out)
                *name_out = v1_names[s][i];
            return fd;
        }
    }
    return -1;
}

static int detect_fd(int rootfd, vg_cg_mode_t *mode)
{
    if (has_file(rootfd, "cgroup.controllers")) {
        *mode = VG_CG_MODE_V2;
        return 0;
    }
    int v1 = 0;
    for (int s = CG_SRC_CPU; s < CG_SRC_COUNT && !v1; s++) {
        int fd = open_v1(rootfd, s, NULL);
        if (fd >= 0) {
            close(fd);
            v1 = 1;
        }
    }
    if (!v1) {
        *mode = VG_CG_MODE_NONE;
        return VG_ENOTFOUND;
    }
    *mode = has_file(rootfd, "unified/cgroup.controllers") ? VG_CG_MODE_HYBRID : VG_CG_MODE_V1;
    return 0;
}

int vg_cg_detect_mode(const char *root, vg_cg_mode_t *mode)
{
    if (!mode)
        return VG_EINVAL;
    *mode = VG_CG_MODE_NONE;
    int fd = open(root ? root : VG_CG_DEFAULT_ROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return VG_ENOTFOUND;
    int rc = detect_fd(fd, mode);
    close(fd);
    return rc;
}

void vg_cg_root_close(vg_cg_root_t *r)
{
    if (!r)
        return;
    for (int s = 0; s < CG_SRC_COUNT; s++)
        if (r->fd[s] >= 0)
            close(r->fd[s]);
    vg_free(r->root);
    vg_free(r->index_dir);
    vg_free(r);
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = b ? strlen(b) : 0;
    char *s = vg_malloc(la + lb + 2);
    if (!s)
        return NULL;
    memcpy(s, a, la);
    if (lb) {
        s[la] = '/';
        memcpy(s + la + 1, b, lb);
        s[la + 1 + lb] = '\0';
    } else {
        s[la] = '\0';
    }
    return s;
}

int vg_cg_root_open(const char *root, vg_cg_root_t **out)
{
    if (!out)
        return VG_EINVAL;
    *out = NULL;
    if (!root)
        root = VG_CG_DEFAULT_ROOT;
    vg_cg_root_t *r = vg_calloc(1, sizeof *r);
    if (!r)
        return VG_ENOMEM;
    for (int s = 0; s < CG_SRC_COUNT; s++) {
        r->fd[s] = -1;
        r->alias[s] = s;
    }
    r->index = -1;
    int rc = VG_ENOMEM;
    if (!(r->root = vg_strdup(root)))
        goto fail;
    int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        rc = (errno == ENOENT || errno == ENOTDIR) ? VG_ENOTFOUND : VG_EIO;
        goto fail;
    }
    rc = detect_fd(rootfd, &r->mode);
    if (rc < 0) {
        close(rootfd);
        goto fail;
    }
    const char *index_name = NULL;
    if (r->mode == VG_CG_MODE_V2) {
        r->fd[CG_SRC_V2] = rootfd;
        r->index = CG_SRC_V2;
    } else {
        const char *names[CG_SRC_COUNT] = { 0 };
        for (int s = CG_SRC_CPU; s < CG_SRC_COUNT; s++)
            r->fd[s] = open_v1(rootfd, s, &names[s]);
        if (r->mode == VG_CG_MODE_HYBRID)
            r->fd[CG_SRC_V2] = openat(rootfd, "unified", O_PATH | O_DIRECTORY | O_CLOEXEC);
        close(rootfd);
        for (size_t i = 0; i < sizeof v1_index_order / sizeof v1_index_order[0]; i++) {
            if (r->fd[v1_index_order[i]] >= 0) {
                r->index = v1_index_order[i];
                index_name = names[r->index];
                break;
            }
        }
        if (r->index < 0) {
            rc = VG_ENOTFOUND;
            goto fail;
        }
        /* co-mounted controllers: read the shared directory once */
        struct stat st[CG_SRC_COUNT];
        for (int s = 0; s < CG_SRC_COUNT; s++) {
            if (r->fd[s] < 0 || fstat(r->fd[s], &st[s]) != 0)
                continue;
            for (int t = 0; t < s; t++) {
                if (r->fd[t] >= 0 && r->alias[t] == t && st[t].st_dev == st[s].st_dev &&
                    st[t].st_ino == st[s].st_ino) {
                    r->alias[s] = t;
                    break;
                }
            }
        }
    }
    r->index_dir = join(root, index_name);
    if (!r->index_dir) {
        rc = VG_ENOMEM;
        goto fail;
    }
    long tck = sysconf(_SC_CLK_TCK);
    r->ns_per_tick = tck > 0 ? (uint64_t)(1000000000L / tck) : 10000000u;
    VG_DEBUG(LOGC, "opened %s mode=%s index=%s", root, vg_cg_mode_name(r->mode), r->index_dir);
    *out = r;
    return 0;
fail:
    vg_cg_root_close(r);
    return rc;
}

vg_cg_mode_t vg_cg_root_mode(const vg_cg_root_t *r) { return r ? r->mode : VG_CG_MODE_NONE; }

const char *vg_cg_root_index_dir(const vg_cg_root_t *r) { return r ? r->index_dir : NULL; }

/* ---- walk ------------------------------------------------------------------ */

#define WALK_BUF 8192

typedef struct {
    const vg_cg_walk_opts_t *o;
    vg_cg_walk_cb cb;
    void *ud;
    vg_cg_walk_result_t *res;
    unsigned max_depth;
    size_t max_count;
    char *bufs; /* max_depth * WALK_BUF */
    size_t plen;
    char path[VG_CG_PATH_MAX];
} walk_t;

static int wanted(const walk_t *w)
{
    const vg_cg_walk_opts_t *o = w->o;
    if (!o)
        return 1;
    if (o->n_include) {
        int hit = 0;
        for (size_t i = 0; i < o->n_include && !hit; i++)
            hit = o->include[i] && fnmatch(o->include[i], w->path, 0) == 0;
        if (!hit)
            return 0;
    }
    for (size_t i = 0; i < o->n_exclude; i++)
        if (o->exclude[i] && fnmatch(o->exclude[i], w->path, 0) == 0)
            return 0;
    return 1;
}

/* Lists the directory dfd at depth `depth` (0 = root); its sub-cgroups are at
 * depth + 1. Returns 0, or a non-zero value that stops the walk. */
static int walk_dir(walk_t *w, int dfd, unsigned depth)
{
    char *buf = w->bufs + (size_t)depth * WALK_BUF;
    for (;;) {
        ssize_t n = getdents64(dfd, buf, WALK_BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return depth == 0 ? VG_EIO : 0; /* vanished below the root: skip */
        if (n == 0)
            return 0;
        for (ssize_t off = 0; off < n;) {
            struct dirent64 *de = (struct dirent64 *)(buf + off);
            off += de->d_reclen;
            const char *name = de->d_name;
            if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
                continue;
            if (de->d_type != DT_DIR) {
                if (de->d_type != DT_UNKNOWN)
                    continue;
                struct stat st;
                if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
                    continue;
            }
            size_t nl = strlen(name);
            size_t saved = w->plen;
            if (saved + 1 + nl >= sizeof w->path)
                continue;
            w->path[saved] = '/';
            memcpy(w->path + saved + 1, name, nl + 1);
            w->plen = saved + 1 + nl;
            if (w->res)
                w->res->dirs++;

            vg_cg_ident_t id;
            vg_cg_path_parse(w->path, w->plen, &id);
            int report = id.kind == VG_CG_KIND_CONTAINER ||
                         (id.kind == VG_CG_KIND_SERVICE && w->o && w->o->include_services);
            int rc = 0;
            if (report && wanted(w)) {
                if (w->res && w->res->reported >= w->max_count) {
                    w->res->count_capped = true;
                    rc = 1;
                } else {
                    if (w->res)
                        w->res->reported++;
                    rc = w->cb(w->ud, w->path, &id);
                }
            }
            if (rc == 0 && id.kind != VG_CG_KIND_CONTAINER) {
                if (depth + 2 > w->max_depth) {
                    if (w->res)
                        w->res->depth_capped = true;
                } else {
                    int cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                    if (cfd >= 0) {
                        rc = walk_dir(w, cfd, depth + 1);
                        close(cfd);
                    }
                }
            }
            w->plen = saved;
            w->path[saved] = '\0';
            if (rc)
                return rc;
        }
    }
}

int vg_cg_walk(vg_cg_root_t *r, const vg_cg_walk_opts_t *opts, vg_cg_walk_cb cb, void *ud,
               vg_cg_walk_result_t *res)
{
    if (!r || !cb || r->index < 0)
        return VG_EINVAL;
    vg_cg_walk_result_t local;
    walk_t w = { .o = opts, .cb = cb, .ud = ud, .res = res ? res : &local };
    memset(w.res, 0, sizeof *w.res);
    w.max_depth = opts && opts->max_depth ? opts->max_depth : 16;
    w.max_count = opts && opts->max_count ? opts->max_count : 10000;
    if (w.max_depth > VG_CG_PATH_MAX / 2)
        w.max_depth = VG_CG_PATH_MAX / 2;
    w.bufs = vg_malloc((size_t)w.max_depth * WALK_BUF);
    if (!w.bufs)
        return VG_ENOMEM;
    int dfd = openat(r->fd[r->index], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;
    if (dfd < 0) {
        rc = VG_EIO;
    } else {
        rc = walk_dir(&w, dfd, 0);
        close(dfd);
        if (rc == 1 && w.res->count_capped)
            rc = 0;
    }
    if (rc == VG_EIO)
        VG_WARN(LOGC, "cannot list cgroup hierarchy %s", r->index_dir);
    vg_free(w.bufs);
    return rc;
}

/* ---- cumulative counters ------------------------------------------------------ */

void vg_cg_counter_init(vg_cg_counter_t *c, uint64_t start_ns)
{
    memset(c, 0, sizeof *c);
    c->start_ns = start_ns;
}

void vg_cg_counter_restart(vg_cg_counter_t *c) { c->restart = 1; }

void vg_cg_counter_update(vg_cg_counter_t *c, uint64_t value, uint64_t now_ns, vg_cg_counter_out_t *out)
{
    vg_cg_counter_out_t o = { 0 };
    if (!c->primed) {
        if (!c->start_ns || c->start_ns > now_ns)
            c->start_ns = now_ns;
        c->primed = 1;
        c->restart = 0;
    } else {
        if (value < c->last || c->restart) {
            o.reset = true;
            o.delta = value;
            c->start_ns = c->last_ns;
            c->restart = 0;
        } else {
            o.delta = value - c->last;
        }
        if (now_ns > c->last_ns) {
            o.has_rate = true;
            o.rate = (double)o.delta * 1e9 / (double)(now_ns - c->last_ns);
        }
    }
    c->last = value;
    c->last_ns = now_ns;
    o.start_ns = c->start_ns;
    if (out)
        *out = o;
}
