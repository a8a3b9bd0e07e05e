/* Container identity from cgroup paths. See cgpath.h for the layouts. */
#include "cgpath.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- small string helpers (all take explicit lengths) ------------------- */

static int seq(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && memcmp(s, lit, l) == 0;
}

static int starts(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n >= l && memcmp(s, lit, l) == 0;
}

static int ends(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n >= l && memcmp(s + n - l, lit, l) == 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A container id: 12..64 hex digits. */
static int is_id(const char *s, size_t n)
{
    if (n < 12 || n > VG_CG_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (hexval(s[i]) < 0)
            return 0;
    return 1;
}

static void copy_id(char *dst, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        dst[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
    }
    dst[n] = '\0';
}

/* A pod uid: canonical 8-4-4-4-12 (separators '-' or, in systemd unit names,
 * '_'), or 32 hex digits (static pods: the kubelet's hash of the manifest). */
static int is_uid(const char *s, size_t n)
{
    if (n == 32) {
        for (size_t i = 0; i < n; i++)
            if (hexval(s[i]) < 0)
                return 0;
        return 1;
    }
    if (n != 36)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-' && s[i] != '_')
                return 0;
        } else if (hexval(s[i]) < 0) {
            return 0;
        }
    }
    return 1;
}

static void copy_uid(char *dst, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '_')
            c = '-';
        else if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        dst[i] = c;
    }
    dst[n] = '\0';
}

/* ---- the component state machine ----------------------------------------- */

enum prev { PREV_OTHER = 0, PREV_POD, PREV_DOCKER, PREV_LXC };

typedef struct {
    vg_cg_ident_t *o;
    enum prev prev;
    int have_pod, have_ctr, monitor;
} pstate_t;

static const struct {
    const char *prefix;
    vg_cg_runtime_t rt;
} runtime_prefixes[] = {
    { "cri-containerd", VG_CG_RT_CONTAINERD },
    { "crio", VG_CG_RT_CRIO },
    { "docker", VG_CG_RT_DOCKER },
    { "libpod", VG_CG_RT_PODMAN },
    { "nerdctl", VG_CG_RT_CONTAINERD },
};

static void set_container(pstate_t *st, const char *id, size_t n, vg_cg_runtime_t rt)
{
    copy_id(st->o->id, id, n);
    st->o->runtime = rt;
    st->have_ctr = 1;
    st->monitor = 0;
}

/* "<prefix>-<id>[.scope]" or "<prefix>:<id>" (sep is '-' or ':'). Returns 1 if
 * recognised as a container, 2 if a runtime monitor scope (conmon), 0 else. */
static int try_prefixed(pstate_t *st, const char *s, size_t n)
{
    int scope = ends(s, n, ".scope");
    if (scope)
        n -= 6;
    for (size_t i = 0; i < sizeof runtime_prefixes / sizeof runtime_prefixes[0]; i++) {
        const char *p = runtime_prefixes[i].prefix;
        size_t pl = strlen(p);
        if (n <= pl + 1 || memcmp(s, p, pl) != 0 || (s[pl] != '-' && s[pl] != ':'))
            continue;
        const char *id = s + pl + 1;
        size_t idn = n - pl - 1;
        if (starts(id, idn, "conmon-"))
            return 2;
        if (!is_id(id, idn))
            return 0;
        set_container(st, id, idn, runtime_prefixes[i].rt);
        if (scope)
            st->o->flags |= VG_CG_F_SYSTEMD;
        return 1;
    }
    return 0;
}

static void set_pod(pstate_t *st, const char *uid, size_t n, vg_cg_qos_t qos)
{
    copy_uid(st->o->pod_uid, uid, n);
    st->o->qos = qos;
    st->o->flags |= VG_CG_F_K8S;
    st->o->id[0] = '\0';
    st->o->runtime = VG_CG_RT_UNKNOWN;
    st->have_pod = 1;
    st->have_ctr = 0;
    st->monitor = 0;
}

/* "kubepods-[<qos>-]pod<uid>.slice" (without the ".slice" when called for
 * the ':' form's first part). Returns 1 if it was a pod slice. */
static int try_pod_slice(pstate_t *st, const char *s, size_t n)
{
    if (ends(s, n, ".slice"))
        n -= 6;
    if (!starts(s, n, "kubepods-"))
        return 0;
    s += 9, n -= 9;
    vg_cg_qos_t qos = VG_CG_QOS_GUARANTEED;
    if (starts(s, n, "burstable-"))
        qos = VG_CG_QOS_BURSTABLE, s += 10, n -= 10;
    else if (starts(s, n, "besteffort-"))
        qos = VG_CG_QOS_BESTEFFORT, s += 11, n -= 11;
    if (!starts(s, n, "pod") || !is_uid(s + 3, n - 3))
        return 0;
    set_pod(st, s + 3, n - 3, qos);
    st->o->flags |= VG_CG_F_SYSTEMD;
    return 1;
}

static void reset_k8s(pstate_t *st, unsigned flags)
{
    vg_cg_ident_t *o = st->o;
    unsigned keep = o->flags & VG_CG_F_ROOTLESS;
    memset(o, 0, sizeof *o);
    o->flags = keep | VG_CG_F_K8S | flags;
    st->have_pod = st->have_ctr = st->monitor = 0;
}

static void component(pstate_t *st, const char *s, size_t n, int last)
{
    vg_cg_ident_t *o = st->o;
    enum prev prev = st->prev;
    st->prev = PREV_OTHER;

    if (seq(s, n, "kubepods")) {
        reset_k8s(st, 0);
        return;
    }
    if (seq(s, n, "kubepods.slice")) {
        reset_k8s(st, VG_CG_F_SYSTEMD);
        return;
    }
    if ((o->flags & VG_CG_F_K8S) && !st->have_pod) {
        if (seq(s, n, "burstable") || seq(s, n, "kubepods-burstable.slice")) {
            o->qos = VG_CG_QOS_BURSTABLE;
            return;
        }
        if (seq(s, n, "besteffort") || seq(s, n, "kubepods-besteffort.slice")) {
            o->qos = VG_CG_QOS_BESTEFFORT;
            return;
        }
        if (seq(s, n, "guaranteed")) {
            o->qos = VG_CG_QOS_GUARANTEED;
            return;
        }
        if (starts(s, n, "pod") && is_uid(s + 3, n - 3)) {
            set_pod(st, s + 3, n - 3, o->qos ? o->qos : VG_CG_QOS_GUARANTEED);
            st->prev = PREV_POD;
            return;
        }
    }
    /* containerd with the systemd driver, seen from a v1 hierarchy it does
     * not manage: "kubepods-<qos>-pod<uid>.slice:cri-containerd:<id>" */
    const char *colon = memchr(s, ':', n);
    if (colon) {
        size_t first = (size_t)(colon - s);
        if (try_pod_slice(st, s, first)) {
            int r = try_prefixed(st, colon + 1, n - first - 1);
            if (r == 2)
                st->monitor = 1;
        }
        return;
    }
    if (starts(s, n, "kubepods-") && ends(s, n, ".slice")) {
        if (try_pod_slice(st, s, n))
            st->prev = PREV_POD;
        return;
    }
    int r = try_prefixed(st, s, n);
    if (r == 1)
        return;
    if (r == 2) {
        st->monitor = 1;
        return;
    }
    if (is_id(s, n) && (prev == PREV_POD || prev == PREV_DOCKER || prev == PREV_LXC)) {
        set_container(st, s, n, prev == PREV_DOCKER ? VG_CG_RT_DOCKER : VG_CG_RT_UNKNOWN);
        return;
    }
    if (seq(s, n, "docker")) {
        st->prev = PREV_DOCKER;
        return;
    }
    if (seq(s, n, "lxc")) {
        st->prev = PREV_LXC;
        return;
    }
    if (starts(s, n, "user@") && ends(s, n, ".service"))
        o->flags |= VG_CG_F_ROOTLESS;
    if (last && !st->have_ctr && !st->have_pod && n > 8 && ends(s, n, ".service") &&
        n <= VG_CG_SERVICE_MAX) {
        memcpy(o->service, s, n);
        o->service[n] = '\0';
    }
}

int vg_cg_path_parse(const char *path, size_t len, vg_cg_ident_t *out)
{
    if (!out)
        return VG_EINVAL;
    memset(out, 0, sizeof *out);
    if (!path)
        return VG_EINVAL;
    pstate_t st = { .o = out };
    size_t i = 0;
    while (i < len) {
        while (i < len && path[i] == '/')
            i++;
        size_t b = i;
        while (i < len && path[i] != '/')
            i++;
        size_t n = i - b;
        if (n == 0 || seq(path + b, n, ".") || seq(path + b, n, ".."))
            continue;
        size_t j = i;
        while (j < len && path[j] == '/')
            j++;
        component(&st, path + b, n, j >= len);
    }
    if (st.monitor) {
        memset(out, 0, sizeof *out);
        return 0;
    }
    if (st.have_ctr) {
        out->kind = VG_CG_KIND_CONTAINER;
        out->service[0] = '\0';
    } else if (st.have_pod) {
        out->kind = VG_CG_KIND_POD;
        out->service[0] = '\0';
    } else if (out->service[0]) {
        out->kind = VG_CG_KIND_SERVICE;
    }
    return 0;
}

/* ---- /proc/<pid>/cgroup -------------------------------------------------- */

/* 0 best: the v2 line; then memory, cpu/cpuacct, pids; then anything else. */
static int line_rank(const char *hier, size_t hn, const char *ctl, size_t cn)
{
    if (cn == 0 && seq(hier, hn, "0"))
        return 0;
    int best = 4;
    size_t i = 0;
    while (i < cn) {
        size_t b = i;
        while (i < cn && ctl[i] != ',')
            i++;
        const char *c = ctl + b;
        size_t n = i - b;
        int r = 4;
        if (seq(c, n, "memory"))
            r = 1;
        else if (seq(c, n, "cpu") || seq(c, n, "cpuacct"))
            r = 2;
        else if (seq(c, n, "pids"))
            r = 3;
        if (r < best)
            best = r;
        i++;
    }
    return best;
}

static int kind_prio(vg_cg_kind_t k)
{
    switch (k) {
    case VG_CG_KIND_CONTAINER: return 3;
    case VG_CG_KIND_POD: return 2;
    case VG_CG_KIND_SERVICE: return 1;
    default: return 0;
    }
}

int vg_cg_proc_parse(const char *text, size_t len, vg_cg_ident_t *out, char *path_out, size_t path_cap)
{
    if (!out)
        return VG_EINVAL;
    memset(out, 0, sizeof *out);
    if (path_out && path_cap)
        path_out[0] = '\0';
    if (!text)
        return VG_EINVAL;
    int nlines = 0, best_prio = -1, best_rank = 99;
    const char *best_path = NULL;
    size_t best_plen = 0;
    size_t i = 0;
    while (i < len) {
        size_t b = i;
        while (i < len && text[i] != '\n')
            i++;
        const char *line = text + b;
        size_t ln = i - b;
        i++;
        while (ln && (line[ln - 1] == '\r' || line[ln - 1] == ' '))
            ln--;
        const char *c1 = memchr(line, ':', ln);
        if (!c1)
            continue;
        const char *c2 = memchr(c1 + 1, ':', ln - (size_t)(c1 + 1 - line));
        if (!c2)
            continue;
        const char *p = c2 + 1;
        size_t pn = ln - (size_t)(p - line);
        if (pn == 0 || c1 == line)
            continue;
        nlines++;
        vg_cg_ident_t id;
        vg_cg_path_parse(p, pn, &id);
        int prio = kind_prio(id.kind);
        int rank = line_rank(line, (size_t)(c1 - line), c1 + 1, (size_t)(c2 - c1 - 1));
        if (prio > best_prio || (prio == best_prio && rank < best_rank)) {
            best_prio = prio;
            best_rank = rank;
            *out = id;
            best_path = p;
            best_plen = pn;
        }
    }
    if (nlines == 0)
        return VG_EPARSE;
    if (out->kind == VG_CG_KIND_NONE) {
        memset(out, 0, sizeof *out);
        return 0;
    }
    if (path_out && path_cap && best_path) {
        size_t n = best_plen < path_cap - 1 ? best_plen : path_cap - 1;
        memcpy(path_out, best_path, n);
        path_out[n] = '\0';
    }
    return 0;
}

int vg_cg_proc_read(const char *proc_root, int pid, vg_cg_ident_t *out, char *path_out, size_t path_cap)
{
    if (!out || pid <= 0)
        return VG_EINVAL;
    memset(out, 0, sizeof *out);
    if (path_out && path_cap)
        path_out[0] = '\0';
    char fn[512];
    int k = snprintf(fn, sizeof fn, "%s/%d/cgroup", proc_root ? proc_root : "/proc", pid);
    if (k < 0 || (size_t)k >= sizeof fn)
        return VG_EINVAL;
    int fd = open(fn, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return (errno == ENOENT || errno == ESRCH) ? VG_ENOTFOUND : VG_EIO;
    char buf[16384];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof buf - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            return (e == ESRCH || e == ENOENT) ? VG_ENOTFOUND : VG_EIO;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == sizeof buf) {
            /* keep whole lines only */
            while (len && buf[len - 1] != '\n')
                len--;
            break;
        }
    }
    close(fd);
    if (len == 0)
        return VG_ENOTFOUND; /* a process that exited reads as empty */
    return vg_cg_proc_parse(buf, len, out, path_out, path_cap);
}

const char *vg_cg_runtime_name(vg_cg_runtime_t rt)
{
    switch (rt) {
    case VG_CG_RT_CONTAINERD: return "containerd";
    case VG_CG_RT_CRIO: return "cri-o";
    case VG_CG_RT_DOCKER: return "docker";
    case VG_CG_RT_PODMAN: return "podman";
    default: return "unknown";
    }
}

const char *vg_cg_qos_name(vg_cg_qos_t qos)
{
    switch (qos) {
    case VG_CG_QOS_GUARANTEED: return "Guaranteed";
    case VG_CG_QOS_BURSTABLE: return "Burstable";
    case VG_CG_QOS_BESTEFFORT: return "BestEffort";
    default: return "";
    }
}

const char *vg_cg_kind_name(vg_cg_kind_t kind)
{
    switch (kind) {
    case VG_CG_KIND_CONTAINER: return "container";
    case VG_CG_KIND_POD: return "pod";
    case VG_CG_KIND_SERVICE: return "service";
    default: return "none";
    }
}
