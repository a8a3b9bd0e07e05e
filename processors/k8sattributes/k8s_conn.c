/* Who is behind a local connection, as the kernel says (not the client):
 *
 *   unix socket  the SO_PEERCRED pid the receiver recorded -> /proc/<pid>/cgroup
 *   loopback TCP the peer's socket in /proc/net/tcp (or tcp6): its local end is
 *                the peer's address and port -> the socket inode -> the process
 *                holding socket:[inode] among /proc/<pid>/fd -> its cgroup
 *
 * The cgroup path names the container and pod (collector/cgroup/cgpath.h).
 *
 * Cost: reading /proc/net/tcp makes the kernel walk its whole connection hash
 * table (262,144 buckets on a 24 GiB host: about 1 ms, whatever the number of
 * sockets), and the fd scan reads every descriptor of every process in our
 * network namespace. Both run once per new connection. A connection seen
 * before is re-checked with one readlink: does the owner still hold
 * socket:[inode] at the same descriptor? A closed connection whose port was
 * reused fails that check and is resolved afresh, so it never inherits the old
 * identity. Processes in another network namespace are skipped without reading
 * their fds. Results are cached (bounded, TTL). Everything here is synchronous:
 * it runs on the loop while the peer still holds its socket — on a worker
 * thread it would race with clients that close right after their request. */
#include "k8s.h"

#include "error.h"
#include "mem.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- /proc/net/tcp ------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The kernel prints each 32-bit word of the address as the integer it is in
 * memory (%08X), so converting the hex to a native integer and copying its
 * bytes gives network order on little- and big-endian hosts alike. */
static bool parse_addr(const char *p, size_t n, unsigned char *out, size_t alen)
{
    if (n != alen * 2) return false;
    for (size_t w = 0; w < alen / 4; w++) {
        uint32_t v = 0;
        for (size_t i = 0; i < 8; i++) {
            int h = hexval(p[w * 8 + i]);
            if (h < 0) return false;
            v = v << 4 | (uint32_t)h;
        }
        memcpy(out + w * 4, &v, 4);
    }
    return true;
}

/* One table line. Returns 1 on a match, 0 otherwise. */
static int match_line(const char *line, size_t len, const unsigned char *addr, size_t alen, int port,
                      unsigned long *inode, unsigned *uid)
{
    const char *tok[12];
    size_t tl[12], nt = 0;
    for (size_t i = 0; i < len && nt < 12;) {
        while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
        if (i >= len) break;
        size_t s = i;
        while (i < len && line[i] != ' ' && line[i] != '\t') i++;
        tok[nt] = line + s;
        tl[nt++] = i - s;
    }
    if (nt < 10) return 0;
    /* tok[1] = "ADDR:PORT" of the local end */
    const char *colon = memchr(tok[1], ':', tl[1]);
    if (!colon) return 0;
    unsigned char a[16];
    if (!parse_addr(tok[1], (size_t)(colon - tok[1]), a, alen) || memcmp(a, addr, alen) != 0) return 0;
    char buf[32];
    size_t pl = tl[1] - (size_t)(colon + 1 - tok[1]);
    if (pl == 0 || pl >= sizeof buf) return 0;
    memcpy(buf, colon + 1, pl);
    buf[pl] = '\0';
    if (strtol(buf, NULL, 16) != port) return 0;
    if (tl[9] >= sizeof buf || tl[7] >= sizeof buf) return 0;
    memcpy(buf, tok[9], tl[9]);
    buf[tl[9]] = '\0';
    unsigned long ino = strtoul(buf, NULL, 10);
    if (ino == 0) return 0; /* TIME_WAIT and friends: nobody holds it */
    memcpy(buf, tok[7], tl[7]);
    buf[tl[7]] = '\0';
    *inode = ino;
    *uid = (unsigned)strtoul(buf, NULL, 10);
    return 1;
}

static bool is_header(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && line[i] == ' ') i++;
    return len - i >= 2 && line[i] == 's' && line[i + 1] == 'l';
}

int vg_k8s_tcp_find(const char *text, size_t len, const unsigned char *addr, size_t alen, int port,
                    unsigned long *inode, unsigned *uid)
{
    if (alen != 4 && alen != 16) return VG_EINVAL;
    bool first = true;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t ll = nl ? (size_t)(nl - (text + i)) : len - i;
        if (first) {
            if (!is_header(text + i, ll)) return VG_EPARSE;
            first = false;
        } else if (match_line(text + i, ll, addr, alen, port, inode, uid)) {
            return 0;
        }
        i += ll + 1;
    }
    return first ? VG_EPARSE : VG_ENOTFOUND;
}

int vg_k8s_tcp_find_file(const char *path, const unsigned char *addr, size_t alen, int port, unsigned long *inode,
                         unsigned *uid)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? VG_ENOTFOUND : VG_EIO;
    char buf[65536];
    size_t have = 0;
    bool first = true;
    int rc = VG_ENOTFOUND;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof buf - have);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { rc = VG_EIO; break; }
        have += (size_t)r;
        size_t i = 0;
        for (;;) {
            const char *nl = memchr(buf + i, '\n', have - i);
            if (!nl && r > 0) break;         /* wait for the rest of the line */
            size_t ll = nl ? (size_t)(nl - (buf + i)) : have - i;
            if (!nl && ll == 0) break;
            if (first) {
                if (!is_header(buf + i, ll)) { rc = VG_EPARSE; goto out; }
                first = false;
            } else if (match_line(buf + i, ll, addr, alen, port, inode, uid)) {
                rc = 0;
                goto out;
            }
            i += ll + (nl ? 1 : 0);
            if (!nl) break;
        }
        memmove(buf, buf + i, have - i);
        have -= i;
        if (r == 0) break;
        if (have == sizeof buf) { rc = VG_EPARSE; break; } /* a 64 KiB line is not this table */
    }
    if (first && rc == VG_ENOTFOUND) rc = VG_EPARSE;
out:
    close(fd);
    return rc;
}

/* ---- socket owner ---------------------------------------------------------- */

static bool numeric(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

int vg_k8s_socket_owner(const char *proc_root, unsigned long inode, int *pid, int *fd, uint64_t *fds_scanned)
{
    char want[64], path[PATH_MAX], target[64];
    int wl = snprintf(want, sizeof want, "socket:[%lu]", inode);
    struct stat st;
    snprintf(path, sizeof path, "%s/self/ns/net", proc_root);
    ino_t my_ns = stat(path, &st) == 0 ? st.st_ino : 0;
    int self = (int)getpid();
    DIR *d = opendir(proc_root);
    if (!d) return VG_EIO;
    struct dirent *e;
    int rc = VG_ENOTFOUND;
    while (rc && (e = readdir(d))) {
        if (!numeric(e->d_name)) continue;
        int p = atoi(e->d_name);
        if (p == self) continue;
        if (my_ns) {
            snprintf(path, sizeof path, "%s/%s/ns/net", proc_root, e->d_name);
            if (stat(path, &st) != 0 || st.st_ino != my_ns) continue;
        }
        snprintf(path, sizeof path, "%s/%s/fd", proc_root, e->d_name);
        int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) continue;
        DIR *fdd = fdopendir(dfd);
        if (!fdd) { close(dfd); continue; }
        struct dirent *f;
        while ((f = readdir(fdd))) {
            if (f->d_name[0] == '.') continue;
            if (fds_scanned) (*fds_scanned)++;
            ssize_t n = readlinkat(dfd, f->d_name, target, sizeof target - 1);
            if (n == wl && memcmp(target, want, (size_t)wl) == 0) {
                *pid = p;
                if (fd) *fd = atoi(f->d_name);
                rc = 0;
                break;
            }
        }
        closedir(fdd);
    }
    closedir(d);
    return rc;
}

/* ---- the resolver and its cache -------------------------------------------- */

enum { KEY_PID = 1, KEY_PEER = 2 };

typedef struct {
    uint64_t key;          /* 0 = empty */
    int64_t expires_ms;
    int pid;
    int fd;                /* KEY_PEER: the owner's descriptor of the socket */
    unsigned long inode;   /* KEY_PEER: the socket */
    uint8_t kind;          /* vg_cg_kind_t */
    char id[VG_CG_ID_MAX + 1];
    char pod_uid[VG_CG_UID_MAX + 1];
} conn_ent_t;

struct k8s_conn {
    char *proc_root;
    int64_t ttl_ms;
    size_t max, n, cap;
    conn_ent_t *tab;
    k8s_conn_stats_t st;
};

int vg_k8s_conn_new(const k8s_conn_opts_t *o, k8s_conn_t **out)
{
    k8s_conn_t *c = vg_calloc(1, sizeof *c);
    if (!c) return VG_ENOMEM;
    c->proc_root = vg_strdup(o->proc_root && *o->proc_root ? o->proc_root : "/proc");
    c->ttl_ms = o->ttl_ms;
    c->max = o->max_entries ? o->max_entries : 1024;
    c->cap = 16;
    while (c->cap < c->max * 2) c->cap *= 2;
    c->tab = vg_calloc(c->cap, sizeof *c->tab);
    if (!c->proc_root || !c->tab) { vg_k8s_conn_free(c); return VG_ENOMEM; }
    *out = c;
    return 0;
}

void vg_k8s_conn_free(k8s_conn_t *c)
{
    if (!c) return;
    vg_free(c->proc_root);
    vg_free(c->tab);
    vg_free(c);
}

const k8s_conn_stats_t *vg_k8s_conn_stats(const k8s_conn_t *c) { return &c->st; }

static uint64_t mkkey(int kind, uint64_t v) { return (uint64_t)kind << 60 | (v & ((1ull << 60) - 1)); }

static size_t slot_of(const k8s_conn_t *c, uint64_t key)
{
    uint64_t h = key * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 20) & (c->cap - 1);
}

static conn_ent_t *cache_get(k8s_conn_t *c, uint64_t key, int64_t now_ms)
{
    for (size_t j = slot_of(c, key);; j = (j + 1) & (c->cap - 1)) {
        conn_ent_t *e = &c->tab[j];
        if (!e->key) return NULL;
        if (e->key == key) return e->expires_ms > now_ms ? e : NULL;
    }
}

static void cache_rebuild(k8s_conn_t *c, int64_t now_ms, bool keep)
{
    conn_ent_t *old = c->tab;
    size_t ocap = c->cap;
    conn_ent_t *nt = vg_calloc(c->cap, sizeof *nt);
    if (!nt) { memset(c->tab, 0, c->cap * sizeof *c->tab); c->n = 0; return; }
    c->tab = nt;
    c->n = 0;
    for (size_t i = 0; keep && i < ocap; i++) {
        if (!old[i].key || old[i].expires_ms <= now_ms) continue;
        size_t j = slot_of(c, old[i].key);
        while (nt[j].key) j = (j + 1) & (c->cap - 1);
        nt[j] = old[i];
        c->n++;
    }
    vg_free(old);
}

static conn_ent_t *cache_put(k8s_conn_t *c, uint64_t key, int64_t now_ms)
{
    for (size_t j = slot_of(c, key);; j = (j + 1) & (c->cap - 1)) {
        conn_ent_t *e = &c->tab[j];
        if (e->key == key) { e->expires_ms = now_ms + c->ttl_ms; return e; }
        if (!e->key) break;
    }
    if (c->n >= c->max) {
        cache_rebuild(c, now_ms, true);   /* drop what expired */
        if (c->n >= c->max) cache_rebuild(c, now_ms, false);
    }
    size_t j = slot_of(c, key);
    while (c->tab[j].key) j = (j + 1) & (c->cap - 1);
    conn_ent_t *e = &c->tab[j];
    memset(e, 0, sizeof *e);
    e->key = key;
    e->expires_ms = now_ms + c->ttl_ms;
    c->n++;
    return e;
}

static void fill(const conn_ent_t *e, k8s_peer_ident_t *out)
{
    memset(out, 0, sizeof *out);
    out->pid = e->pid;
    out->cg.kind = (vg_cg_kind_t)e->kind;
    memcpy(out->cg.id, e->id, sizeof e->id);
    memcpy(out->cg.pod_uid, e->pod_uid, sizeof e->pod_uid);
}

int vg_k8s_conn_pid(k8s_conn_t *c, int pid, int64_t now_ms, k8s_peer_ident_t *out)
{
    if (pid <= 0) return VG_ENOTFOUND;
    c->st.lookups++;
    uint64_t key = mkkey(KEY_PID, (uint64_t)pid);
    conn_ent_t *e = cache_get(c, key, now_ms);
    if (e) {
        c->st.cache_hits++;
        fill(e, out);
        return 0;
    }
    vg_cg_ident_t cg;
    int rc = vg_cg_proc_read(c->proc_root, pid, &cg, NULL, 0);
    if (rc && rc != VG_EPARSE) { c->st.failures++; return VG_ENOTFOUND; }
    e = cache_put(c, key, now_ms);
    e->pid = pid;
    e->kind = (uint8_t)(rc ? VG_CG_KIND_NONE : cg.kind);
    if (!rc) {
        memcpy(e->id, cg.id, sizeof e->id);
        memcpy(e->pod_uid, cg.pod_uid, sizeof e->pod_uid);
    }
    fill(e, out);
    return 0;
}

bool vg_k8s_is_loopback(int family, const char *addr)
{
    unsigned char b[16];
    if (family == AF_INET) return inet_pton(AF_INET, addr, b) == 1 && b[0] == 127;
    if (family == AF_INET6) {
        if (inet_pton(AF_INET6, addr, b) != 1) return false;
        static const unsigned char lo[16] = { [15] = 1 };
        static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };
        return memcmp(b, lo, 16) == 0 || (memcmp(b, mapped, 12) == 0 && b[12] == 127);
    }
    return false;
}

/* The inode of the peer's socket: IPv4 peers live in tcp (or, from an IPv6
 * socket, in tcp6 as ::ffff:a.b.c.d), IPv6 peers in tcp6. */
static int peer_inode(k8s_conn_t *c, int family, const char *addr, int port, unsigned long *inode)
{
    unsigned char b[16];
    unsigned uid;
    char path[PATH_MAX];
    c->st.tcp_reads++;
    if (family == AF_INET) {
        if (inet_pton(AF_INET, addr, b) != 1) return VG_EINVAL;
        snprintf(path, sizeof path, "%s/net/tcp", c->proc_root);
        int rc = vg_k8s_tcp_find_file(path, b, 4, port, inode, &uid);
        if (rc != VG_ENOTFOUND) return rc;
        unsigned char m[16] = { [10] = 0xff, [11] = 0xff };
        memcpy(m + 12, b, 4);
        snprintf(path, sizeof path, "%s/net/tcp6", c->proc_root);
        return vg_k8s_tcp_find_file(path, m, 16, port, inode, &uid);
    }
    if (inet_pton(AF_INET6, addr, b) != 1) return VG_EINVAL;
    snprintf(path, sizeof path, "%s/net/tcp6", c->proc_root);
    return vg_k8s_tcp_find_file(path, b, 16, port, inode, &uid);
}

/* A key naming a loopback peer's address and port (unique: 127/8 or ::1 or ::ffff:127/104). */
static uint64_t peer_key(int family, const char *addr, int port)
{
    unsigned char b[16];
    uint64_t v4 = 0;
    if (family == AF_INET && inet_pton(AF_INET, addr, b) == 1) v4 = (uint64_t)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3];
    else if (family == AF_INET6 && inet_pton(AF_INET6, addr, b) == 1 && b[10] == 0xff)
        v4 = (uint64_t)b[12] << 24 | b[13] << 16 | b[14] << 8 | b[15];
    return mkkey(KEY_PEER, (uint64_t)(family == AF_INET6) << 48 | v4 << 16 | (uint64_t)(port & 0xffff));
}

/* Does pid still hold socket:[inode] at descriptor fd? One readlink. */
static bool still_owner(const k8s_conn_t *c, const conn_ent_t *e)
{
    char path[PATH_MAX], target[64], want[64];
    snprintf(path, sizeof path, "%s/%d/fd/%d", c->proc_root, e->pid, e->fd);
    int wl = snprintf(want, sizeof want, "socket:[%lu]", e->inode);
    ssize_t n = readlink(path, target, sizeof target);
    return n == wl && memcmp(target, want, (size_t)wl) == 0;
}

int vg_k8s_conn_resolve(k8s_conn_t *c, int family, const char *addr, int port, int unix_pid, int64_t now_ms,
                        k8s_peer_ident_t *out)
{
    if (family == AF_UNIX) return vg_k8s_conn_pid(c, unix_pid, now_ms, out);
    if (family != AF_INET && family != AF_INET6) return VG_ENOTFOUND;
    if (!vg_k8s_is_loopback(family, addr)) return VG_EUNSUPPORTED;
    uint64_t key = peer_key(family, addr, port);
    conn_ent_t *e = cache_get(c, key, now_ms);
    int pid;
    if (e && still_owner(c, e)) {
        c->st.peer_hits++;
        pid = e->pid;
    } else {
        unsigned long inode;
        int fd = -1;
        if (peer_inode(c, family, addr, port, &inode)) { c->st.failures++; return VG_ENOTFOUND; }
        c->st.scans++;
        if (vg_k8s_socket_owner(c->proc_root, inode, &pid, &fd, &c->st.fds_scanned)) {
            c->st.failures++;
            return VG_ENOTFOUND;
        }
        e = cache_put(c, key, now_ms);
        e->pid = pid;
        e->fd = fd;
        e->inode = inode;
    }
    int rc = vg_k8s_conn_pid(c, pid, now_ms, out);
    if (rc) {
        /* The owner is gone: forget it so that the next call resolves again. */
        e = cache_get(c, key, now_ms);
        if (e) e->expires_ms = 0;
    }
    return rc;
}
