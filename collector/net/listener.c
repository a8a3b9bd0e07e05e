/* Listeners: bind, accept, max_connections, peer info; see conn.h. */
#include "net/conn_int.h"

#include "error.h"
#include "log.h"
#include "mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int map_errno(int e)
{
    switch (e) {
    case EADDRINUSE: return VG_EEXISTS;
    case EACCES: case EPERM: return VG_EAUTH;
    case EADDRNOTAVAIL: case EINVAL: case EAFNOSUPPORT: return VG_EINVAL;
    case ENOMEM: case ENOBUFS: return VG_ENOMEM;
    default: return VG_EIO;
    }
}

void vg__listener_maybe_free(vg_listener_t *l)
{
    if (!l->handle_closed || l->conns) return;
    if (l->close_cb) l->close_cb(l, l->close_arg);
    if (l->ssl_ctx) SSL_CTX_free(l->ssl_ctx);
    vg_free(l->alpn_wire);
    vg_free(l);
}

static void on_listener_closed(uv_handle_t *h)
{
    vg_listener_t *l = h->data;
    l->handle_closed = 1;
    if (l->own_file) unlink(l->path);
    vg__listener_maybe_free(l);
}

/* A refused or unmanageable connection still has to be accepted (libuv stops
 * polling the listener until it is); it is accepted into a scratch handle and
 * closed at once. */
static void on_reject_closed(uv_handle_t *h) { vg_free(h); }

static void reject(vg_listener_t *l)
{
    stream_u *r = vg_malloc(sizeof *r);
    if (!r) {
        VG_ERROR("net", "out of memory refusing a connection; listener paused");
        return;
    }
    if (l->is_unix) uv_pipe_init(l->loop, &r->pipe, 0);
    else uv_tcp_init(l->loop, &r->tcp);
    if (uv_accept(&l->u.s, &r->s) != 0) l->stats.accept_errors++;
    uv_close(&r->h, on_reject_closed);
}

static void peer_fill(vg_conn_t *c)
{
    vg_peer_t *p = &c->peer;
    memset(p, 0, sizeof *p);
    p->pid = p->uid = p->gid = -1;
    if (c->l->is_unix) {
        p->family = AF_UNIX;
#ifdef SO_PEERCRED
        uv_os_fd_t fd;
        struct ucred uc;
        socklen_t len = sizeof uc;
        if (uv_fileno(&c->u.h, &fd) == 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0) {
            p->pid = (int)uc.pid;
            p->uid = (int)uc.uid;
            p->gid = (int)uc.gid;
        }
#endif
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->u.tcp, (struct sockaddr *)&ss, &len) != 0) return;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        p->family = AF_INET;
        inet_ntop(AF_INET, &a->sin_addr, p->addr, sizeof p->addr);
        p->port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        p->port = ntohs(a->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            p->family = AF_INET;
            inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], p->addr, sizeof p->addr);
        } else {
            p->family = AF_INET6;
            inet_ntop(AF_INET6, &a->sin6_addr, p->addr, sizeof p->addr);
        }
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    vg_listener_t *l = server->data;
    if (status < 0) {
        l->stats.accept_errors++;
        VG_WARN("net", "accept failed: %s", uv_strerror(status));
        return;
    }
    if (l->opts.max_connections > 0 && l->stats.active >= l->opts.max_connections) {
        l->stats.refused++;
        reject(l);
        return;
    }
    vg_conn_t *c = vg_calloc(1, sizeof *c);
    if (!c) {
        l->stats.accept_errors++;
        reject(l);
        return;
    }
    c->l = l;
    if (l->is_unix) uv_pipe_init(l->loop, &c->u.pipe, 0);
    else uv_tcp_init(l->loop, &c->u.tcp);
    uv_timer_init(l->loop, &c->idle);
    uv_timer_init(l->loop, &c->defer);
    c->u.h.data = c;
    c->idle.data = c;
    c->defer.data = c;
    c->idle_ms = l->opts.idle_timeout_ms;
    c->next = l->conns;
    if (l->conns) l->conns->prev = c;
    l->conns = c;
    l->stats.active++;
    c->ended = 1; /* nobody to tell until vg_conn_start */

    int r = uv_accept(server, &c->u.s);
    if (r != 0) {
        l->stats.accept_errors++;
        VG_WARN("net", "accept failed: %s", uv_strerror(r));
        vg__conn_hard_close(c);
        return;
    }
    peer_fill(c);
    if (!l->is_unix) uv_tcp_nodelay(&c->u.tcp, 1);
    if (l->ssl_ctx) {
        c->ssl = SSL_new(l->ssl_ctx);
        c->rbio = BIO_new(BIO_s_mem());
        c->wbio = BIO_new(BIO_s_mem());
        if (!c->ssl || !c->rbio || !c->wbio) {
            if (c->ssl) SSL_free(c->ssl);
            c->ssl = NULL;
            BIO_free(c->rbio);
            BIO_free(c->wbio);
            ERR_clear_error();
            l->stats.accept_errors++;
            vg__conn_hard_close(c);
            return;
        }
        SSL_set_bio(c->ssl, c->rbio, c->wbio);
        SSL_set_accept_state(c->ssl);
        SSL_set_app_data(c->ssl, c);
    }
    l->stats.accepted++;
    l->accept_cb(l, c, l->accept_arg);
}

static int build_alpn(vg_listener_t *l, const char *const *alpn, char *err, size_t errlen)
{
    size_t total = 0;
    for (const char *const *p = alpn; *p; p++) {
        size_t n = strlen(*p);
        if (n == 0 || n >= ALPN_MAX) {
            vg__set_err(err, errlen, "alpn protocol \"%s\" must be 1..%d bytes", *p, ALPN_MAX - 1);
            return VG_EINVAL;
        }
        total += 1 + n;
    }
    if (total == 0) return 0;
    if (total > 65535) {
        vg__set_err(err, errlen, "alpn list too long");
        return VG_EINVAL;
    }
    l->alpn_wire = vg_malloc(total);
    if (!l->alpn_wire) return VG_ENOMEM;
    size_t o = 0;
    for (const char *const *p = alpn; *p; p++) {
        size_t n = strlen(*p);
        l->alpn_wire[o++] = (unsigned char)n;
        memcpy(l->alpn_wire + o, *p, n);
        o += n;
    }
    l->alpn_len = (unsigned)total;
    return 0;
}

static void addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(buf, len, "%s:%d", ip, port);
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(buf, len, "[%s]:%d", ip, port);
    }
}

/* Creates, binds and listens a TCP socket; returns the fd or a negative vg code. */
static int tcp_socket(const struct sockaddr *sa, socklen_t salen, int backlog, int reuseport,
                      char *err, size_t errlen)
{
    char at[80];
    addr_text(sa, at, sizeof at);
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        vg__set_err(err, errlen, "socket for %s: %s", at, strerror(e));
        return map_errno(e);
    }
    int on = 1, off = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
#ifdef SO_REUSEPORT
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
        int e = errno;
        vg__set_err(err, errlen, "SO_REUSEPORT on %s: %s", at, strerror(e));
        close(fd);
        return map_errno(e);
    }
#else
    (void)reuseport;
#endif
    if (sa->sa_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    if (bind(fd, sa, salen) != 0 || listen(fd, backlog) != 0) {
        int e = errno;
        vg__set_err(err, errlen, "listen on %s: %s", at, strerror(e));
        close(fd);
        return map_errno(e);
    }
    return fd;
}

static int unix_socket(vg_listener_t *l, int backlog, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, l->path, strlen(l->path) + 1);
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            int e = errno;
            vg__set_err(err, errlen, "socket for unix:%s: %s", l->path, strerror(e));
            return map_errno(e);
        }
        if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0) {
            if (listen(fd, backlog) != 0) {
                int e = errno;
                vg__set_err(err, errlen, "listen on unix:%s: %s", l->path, strerror(e));
                close(fd);
                unlink(l->path);
                return map_errno(e);
            }
            return fd;
        }
        int e = errno;
        close(fd);
        struct stat st;
        if (e == EADDRINUSE && attempt == 0 && stat(l->path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            /* Replace a stale socket file, never one somebody still accepts on. */
            int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            int live = probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof sun) == 0;
            int pe = errno;
            if (probe >= 0) close(probe);
            if (!live && (pe == ECONNREFUSED || pe == ENOENT) && unlink(l->path) == 0) continue;
        }
        vg__set_err(err, errlen, "listen on unix:%s: %s", l->path, strerror(e));
        return map_errno(e);
    }
    vg__set_err(err, errlen, "listen on unix:%s: address in use", l->path);
    return VG_EEXISTS;
}

static void on_listener_failed_close(uv_handle_t *h)
{
    vg_listener_t *l = h->data;
    if (l->ssl_ctx) SSL_CTX_free(l->ssl_ctx);
    vg_free(l->alpn_wire);
    vg_free(l);
}

int vg_listener_start(uv_loop_t *loop, const vg_endpoint_t *ep, const vg_listener_opts_t *opts,
                      vg_accept_cb cb, void *arg, vg_listener_t **out, char *err, size_t errlen)
{
    if (!loop || !ep || !cb || !out) return VG_EINVAL;
    *out = NULL;
    vg_listener_t *l = vg_calloc(1, sizeof *l);
    if (!l) return VG_ENOMEM;
    l->loop = loop;
    if (opts) l->opts = *opts;
    l->opts.alpn = NULL;
    if (l->opts.backlog <= 0) l->opts.backlog = 511;
    l->accept_cb = cb;
    l->accept_arg = arg;
    int rc = 0;
    if (opts && opts->alpn && (rc = build_alpn(l, opts->alpn, err, errlen)) != 0) {
        vg_free(l);
        return rc;
    }

    int fd = -1;
    if (ep->kind == VG_EP_UNIX) {
        l->is_unix = 1;
        snprintf(l->path, sizeof l->path, "%s", ep->path);
        fd = unix_socket(l, l->opts.backlog, err, errlen);
        if (fd >= 0) {
            l->own_file = 1;
            if (l->opts.unix_mode && chmod(l->path, (mode_t)l->opts.unix_mode) != 0) {
                int e = errno;
                vg__set_err(err, errlen, "chmod unix:%s: %s", l->path, strerror(e));
                close(fd);
                unlink(l->path);
                fd = map_errno(e);
            }
        }
    } else {
        struct sockaddr_storage addrs[8];
        int n = 0;
        rc = vg_endpoint_resolve(ep, addrs, 8, &n, err, errlen);
        if (rc) {
            vg_free(l->alpn_wire);
            vg_free(l);
            return rc;
        }
        fd = VG_EIO;
        for (int i = 0; i < n && fd < 0; i++) {
            socklen_t len = addrs[i].ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                                           : sizeof(struct sockaddr_in6);
            fd = tcp_socket((struct sockaddr *)&addrs[i], len, l->opts.backlog, l->opts.reuseport,
                            err, errlen);
        }
    }
    if (fd < 0) {
        vg_free(l->alpn_wire);
        vg_free(l);
        return fd;
    }

    if (l->is_unix) {
        uv_pipe_init(loop, &l->u.pipe, 0);
        rc = uv_pipe_open(&l->u.pipe, fd);
    } else {
        uv_tcp_init(loop, &l->u.tcp);
        rc = uv_tcp_open(&l->u.tcp, fd);
    }
    l->u.h.data = l;
    if (rc == 0) rc = uv_listen(&l->u.s, l->opts.backlog, on_connection);
    if (rc != 0) {
        vg__set_err(err, errlen, "listen: %s", uv_strerror(rc));
        if (l->is_unix) unlink(l->path);
        uv_close(&l->u.h, on_listener_failed_close); /* frees l; closes fd */
        return vg__map_uv(rc) == VG_ENOMEM ? VG_ENOMEM : VG_EIO;
    }
    if (!l->is_unix) {
        struct sockaddr_storage ss;
        int len = sizeof ss;
        if (uv_tcp_getsockname(&l->u.tcp, (struct sockaddr *)&ss, &len) == 0)
            l->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    if (l->opts.tls) {
        SSL_CTX_up_ref(l->opts.tls);
        l->ssl_ctx = l->opts.tls;
    }
    *out = l;
    return 0;
}

void vg_listener_close(vg_listener_t *l, vg_listener_close_cb cb, void *arg)
{
    if (!l || l->closing) return;
    l->closing = 1;
    l->close_cb = cb;
    l->close_arg = arg;
    uv_close(&l->u.h, on_listener_closed);
}

void vg_listener_close_conns(vg_listener_t *l, int abort)
{
    if (!l) return;
    for (vg_conn_t *c = l->conns, *next; c; c = next) {
        next = c->next;
        if (abort) vg_conn_abort(c);
        else vg_conn_close(c);
    }
}

int vg_listener_port(const vg_listener_t *l) { return l ? l->port : 0; }
const vg_listener_stats_t *vg_listener_stats(const vg_listener_t *l) { return &l->stats; }
uv_loop_t *vg_listener_loop(const vg_listener_t *l) { return l->loop; }
