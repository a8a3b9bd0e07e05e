/* Listeners and connections: see conn.h for the contract.
 *
 * Connection states:
 *   OPEN     normal; reading as the owner wants, writes accepted
 *   CLOSING  vg_conn_close ran: close_notify queued, uv_shutdown pending (it
 *            completes once queued writes are flushed); the idle timer is the
 *            deadline
 *   LINGER   write side shut down; discarding the peer's leftover input until
 *            EOF, a byte cap or a short timer, so our last response is read
 *            rather than destroyed by a reset
 *   CLOSED   uv_close called on the stream and both timers; memory is freed
 *            when the third close callback has run */
#include "net/conn.h"

#include "error.h"
#include "log.h"
#include "mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)
#define TLS_CHUNK (16 * 1024)
#define LINGER_MS 2000
#define LINGER_MAX_BYTES (1024 * 1024)
#define DRAIN_DEFAULT_MS 5000
#define ALPN_MAX 64

enum { C_OPEN = 0, C_CLOSING, C_LINGER, C_CLOSED };

typedef union {
    uv_handle_t h;
    uv_stream_t s;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
} stream_u;

struct vg_listener {
    uv_loop_t *loop;
    stream_u u;
    int is_unix;
    char path[VG_EP_PATH_MAX];
    int own_file;
    int port;
    vg_listener_opts_t opts;   /* alpn field cleared; see alpn_wire */
    SSL_CTX *ssl_ctx;          /* own reference */
    unsigned char *alpn_wire;  /* length-prefixed list, server preference order */
    unsigned alpn_len;
    vg_accept_cb accept_cb;
    void *accept_arg;
    vg_listener_close_cb close_cb;
    void *close_arg;
    vg_conn_t *conns;          /* every conn not yet freed */
    vg_listener_stats_t stats;
    int closing;
    int handle_closed;
};

struct vg_conn {
    stream_u u;
    uv_timer_t idle;           /* idle timeout; drain / linger deadline */
    uv_timer_t defer;          /* TLS: deliver buffered plaintext after read_start */
    uv_shutdown_t shutdown_req;
    vg_listener_t *l;
    vg_conn_t *prev, *next;
    vg_peer_t peer;
    vg_conn_handler_t h;
    void *arg;
    SSL *ssl;
    BIO *rbio, *wbio;          /* owned by ssl */
    char alpn[ALPN_MAX];
    int state;
    int started;
    int want_read;             /* the owner wants bytes */
    int reading;               /* uv_read_start is in effect */
    int hs_done;
    int ssl_fatal;             /* no SSL_shutdown after a fatal SSL error */
    int eof_seen;
    int ended;                 /* on_end delivered or no longer due */
    int pending_closes;
    uint64_t idle_ms;
    uint64_t last_activity;
    size_t queued;
    size_t lingered;
};

typedef struct {
    uv_write_t req;
    vg_conn_t *c;
    vg_conn_write_cb cb;
    void *arg;
    size_t len;
    char data[];
} wreq_t;

static void hard_close(vg_conn_t *c);
static void idle_update(vg_conn_t *c);
static void tls_deliver(vg_conn_t *c);
static int tls_flush(vg_conn_t *c, vg_conn_write_cb cb, void *arg);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

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

static int map_uv(int e)
{
    if (e == UV_ENOMEM || e == UV_ENOBUFS) return VG_ENOMEM;
    if (e == UV_ECANCELED || e == UV_EPIPE) return VG_ESHUTDOWN;
    return VG_EIO;
}

static uint64_t now_ms(vg_conn_t *c) { return uv_now(c->l->loop); }

/* ---- TLS context ---------------------------------------------------------- */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)arg;
    vg_conn_t *c = SSL_get_app_data(ssl);
    if (!c || !c->l->alpn_wire) return SSL_TLSEXT_ERR_NOACK;
    unsigned char *sel = NULL;
    unsigned char sellen = 0;
    if (SSL_select_next_proto(&sel, &sellen, c->l->alpn_wire, c->l->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    *outlen = sellen;
    return SSL_TLSEXT_ERR_OK;
}

static const char *ssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    snprintf(buf, len, "%s", r ? r : (e ? "unknown OpenSSL error" : "no detail"));
    return buf;
}

static int readable(const char *what, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        set_err(err, errlen, "tls: cannot read %s \"%s\": %s", what, path, strerror(errno));
        return 0;
    }
    fclose(f);
    return 1;
}

int vg_tls_server_ctx_new(const vg_tls_config_t *cfg, SSL_CTX **out, char *err, size_t errlen)
{
    char why[160];
    if (!cfg || !out) return VG_EINVAL;
    *out = NULL;
    if (!cfg->cert_file || !*cfg->cert_file) {
        set_err(err, errlen, "tls: cert_file is required");
        return VG_ECONFIG;
    }
    if (!cfg->key_file || !*cfg->key_file) {
        set_err(err, errlen, "tls: key_file is required");
        return VG_ECONFIG;
    }
    int minv = TLS1_2_VERSION;
    if (cfg->min_version && *cfg->min_version) {
        if (strcmp(cfg->min_version, "1.2") == 0) minv = TLS1_2_VERSION;
        else if (strcmp(cfg->min_version, "1.3") == 0) minv = TLS1_3_VERSION;
        else {
            set_err(err, errlen, "tls: min_version \"%s\" not supported (use \"1.2\" or \"1.3\")",
                    cfg->min_version);
            return VG_ECONFIG;
        }
    }
    if (!readable("cert_file", cfg->cert_file, err, errlen)) return VG_ECONFIG;
    if (!readable("key_file", cfg->key_file, err, errlen)) return VG_ECONFIG;
    if (cfg->client_ca_file && *cfg->client_ca_file &&
        !readable("client_ca_file", cfg->client_ca_file, err, errlen))
        return VG_ECONFIG;

    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        set_err(err, errlen, "tls: cannot create context: %s", ssl_reason(why, sizeof why));
        return VG_ENOMEM;
    }
    SSL_CTX_set_min_proto_version(ctx, minv);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"vigil", 5);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);

    int rc = VG_ECONFIG;
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1) {
        set_err(err, errlen, "tls: cert_file \"%s\" is not a usable PEM certificate: %s",
                cfg->cert_file, ssl_reason(why, sizeof why));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
            set_err(err, errlen, "tls: key_file \"%s\" does not match cert_file \"%s\"",
                    cfg->key_file, cfg->cert_file);
        else
            set_err(err, errlen, "tls: key_file \"%s\" is not a usable PEM private key: %s",
                    cfg->key_file, ssl_reason(why, sizeof why));
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        set_err(err, errlen, "tls: key_file \"%s\" does not match cert_file \"%s\"", cfg->key_file,
                cfg->cert_file);
        goto fail;
    }
    if (cfg->client_ca_file && *cfg->client_ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, cfg->client_ca_file, NULL) != 1) {
            set_err(err, errlen, "tls: client_ca_file \"%s\" has no usable PEM certificate: %s",
                    cfg->client_ca_file, ssl_reason(why, sizeof why));
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->client_ca_file);
        if (names) SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    ERR_clear_error();
    *out = ctx;
    return 0;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return rc;
}

/* ---- listener ------------------------------------------------------------- */

static void listener_maybe_free(vg_listener_t *l)
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
    listener_maybe_free(l);
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
        hard_close(c);
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
            hard_close(c);
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
            set_err(err, errlen, "alpn protocol \"%s\" must be 1..%d bytes", *p, ALPN_MAX - 1);
            return VG_EINVAL;
        }
        total += 1 + n;
    }
    if (total == 0) return 0;
    if (total > 65535) {
        set_err(err, errlen, "alpn list too long");
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
        set_err(err, errlen, "socket for %s: %s", at, strerror(e));
        return map_errno(e);
    }
    int on = 1, off = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
#ifdef SO_REUSEPORT
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
        int e = errno;
        set_err(err, errlen, "SO_REUSEPORT on %s: %s", at, strerror(e));
        close(fd);
        return map_errno(e);
    }
#else
    (void)reuseport;
#endif
    if (sa->sa_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    if (bind(fd, sa, salen) != 0 || listen(fd, backlog) != 0) {
        int e = errno;
        set_err(err, errlen, "listen on %s: %s", at, strerror(e));
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
            set_err(err, errlen, "socket for unix:%s: %s", l->path, strerror(e));
            return map_errno(e);
        }
        if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0) {
            if (listen(fd, backlog) != 0) {
                int e = errno;
                set_err(err, errlen, "listen on unix:%s: %s", l->path, strerror(e));
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
        set_err(err, errlen, "listen on unix:%s: %s", l->path, strerror(e));
        return map_errno(e);
    }
    set_err(err, errlen, "listen on unix:%s: address in use", l->path);
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
                set_err(err, errlen, "chmod unix:%s: %s", l->path, strerror(e));
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
        set_err(err, errlen, "listen: %s", uv_strerror(rc));
        if (l->is_unix) unlink(l->path);
        uv_close(&l->u.h, on_listener_failed_close); /* frees l; closes fd */
        return map_uv(rc) == VG_ENOMEM ? VG_ENOMEM : VG_EIO;
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

/* ---- connection: closing ------------------------------------------------- */

static void conn_finish(vg_conn_t *c)
{
    vg_listener_t *l = c->l;
    if (c->h.on_close) c->h.on_close(c, c->arg);
    if (c->prev) c->prev->next = c->next;
    else l->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    l->stats.active--;
    if (c->ssl) SSL_free(c->ssl);
    vg_free(c);
    listener_maybe_free(l);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    vg_conn_t *c = h->data;
    if (--c->pending_closes == 0) conn_finish(c);
}

static void hard_close(vg_conn_t *c)
{
    if (c->state == C_CLOSED) return;
    c->state = C_CLOSED;
    c->ended = 1;
    c->reading = 0;
    c->pending_closes = 3;
    uv_close(&c->u.h, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->idle, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->defer, on_conn_handle_closed);
}

/* The peer went away (or timed out): tell the owner once, then close. */
static void conn_end(vg_conn_t *c, int err)
{
    if (c->state != C_OPEN) return;
    if (!c->ended) {
        c->ended = 1;
        if (c->h.on_end) c->h.on_end(c, err, c->arg);
    }
    if (err == 0 || err == VG_EAUTH) vg_conn_close(c);
    else vg_conn_abort(c);
}

static void on_idle(uv_timer_t *t)
{
    vg_conn_t *c = t->data;
    if (c->state != C_OPEN) { /* drain or linger deadline */
        hard_close(c);
        return;
    }
    int handshaking = c->ssl && !c->hs_done;
    uint64_t idle = now_ms(c) - c->last_activity;
    if (!handshaking && idle < c->idle_ms) {
        uv_timer_start(&c->idle, on_idle, c->idle_ms - idle, 0);
        return;
    }
    c->l->stats.idle_timeouts++;
    VG_DEBUG("net", "closing idle connection from %s", c->peer.addr);
    conn_end(c, VG_ETIMEOUT);
}

/* Arms the idle timer while the conn waits on its peer (handshake, reading,
 * or writes the peer has not taken yet); pauses it otherwise. */
static void idle_update(vg_conn_t *c)
{
    if (c->state != C_OPEN) return;
    int handshaking = c->ssl && !c->hs_done && c->started;
    int waiting = handshaking || c->reading || c->queued > 0;
    if (!c->idle_ms || !waiting) {
        uv_timer_stop(&c->idle);
        return;
    }
    if (!uv_is_active((uv_handle_t *)&c->idle)) {
        c->last_activity = now_ms(c);
        uv_timer_start(&c->idle, on_idle, c->idle_ms, 0);
    }
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    vg_conn_t *c = req->data;
    if (c->state != C_CLOSING) return; /* aborted meanwhile */
    if (status < 0 || c->eof_seen) {
        hard_close(c);
        return;
    }
    c->state = C_LINGER;
    c->reading = 0;
    if (uv_read_start(&c->u.s, on_alloc, on_read_cb) != 0) {
        hard_close(c);
        return;
    }
    uv_timer_start(&c->idle, on_idle, LINGER_MS, 0);
}

void vg_conn_close(vg_conn_t *c)
{
    if (!c || c->state != C_OPEN) return;
    c->state = C_CLOSING;
    c->ended = 1;
    if (c->reading) uv_read_stop(&c->u.s);
    c->reading = 0;
    uv_timer_stop(&c->defer);
    if (c->ssl) {
        if (c->hs_done && !c->ssl_fatal) {
            ERR_clear_error();
            SSL_shutdown(c->ssl);
            ERR_clear_error();
        }
        tls_flush(c, NULL, NULL); /* close_notify, or the alert of a failed handshake */
    }
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, &c->u.s, on_shutdown) != 0) {
        hard_close(c);
        return;
    }
    uv_timer_start(&c->idle, on_idle, c->idle_ms ? c->idle_ms : DRAIN_DEFAULT_MS, 0);
}

void vg_conn_abort(vg_conn_t *c)
{
    if (c) hard_close(c);
}

/* ---- connection: writing --------------------------------------------------- */

static void on_written(uv_write_t *req, int status)
{
    wreq_t *w = (wreq_t *)req;
    vg_conn_t *c = w->c;
    c->queued -= w->len;
    if (status == 0) c->last_activity = now_ms(c);
    vg_conn_write_cb cb = w->cb;
    void *arg = w->arg;
    vg_free(w);
    int st = status == 0 ? 0 : status == UV_ECANCELED ? VG_ESHUTDOWN : VG_EIO;
    if (cb) cb(c, st, arg);
    if (status < 0 && c->state == C_OPEN) {
        VG_DEBUG("net", "write to %s failed: %s", c->peer.addr, uv_strerror(status));
        conn_end(c, VG_EIO);
    } else {
        idle_update(c);
    }
}

static int submit(vg_conn_t *c, wreq_t *w)
{
    uv_buf_t b = uv_buf_init(w->data, (unsigned)w->len);
    w->c = c;
    int r = uv_write(&w->req, &c->u.s, &b, 1, on_written);
    if (r != 0) {
        vg_free(w);
        return map_uv(r);
    }
    c->queued += w->len;
    idle_update(c);
    return 0;
}

/* Sends whatever the SSL engine has produced. */
static int tls_flush(vg_conn_t *c, vg_conn_write_cb cb, void *arg)
{
    size_t n = BIO_ctrl_pending(c->wbio);
    if (n == 0) return 0;
    if (n > (size_t)INT_MAX) return VG_ETOOBIG;
    wreq_t *w = vg_malloc(sizeof *w + n);
    if (!w) return VG_ENOMEM;
    int got = BIO_read(c->wbio, w->data, (int)n);
    if (got <= 0) {
        vg_free(w);
        return VG_EIO;
    }
    w->len = (size_t)got;
    w->cb = cb;
    w->arg = arg;
    return submit(c, w);
}

#define WRITE_MAX ((size_t)1 << 30) /* one write call: 1 GiB */

int vg_conn_writev(vg_conn_t *c, const uv_buf_t *bufs, unsigned nbufs, vg_conn_write_cb cb, void *arg)
{
    if (!c || (!bufs && nbufs)) return VG_EINVAL;
    if (c->state != C_OPEN) return VG_ESHUTDOWN;
    size_t total = 0;
    for (unsigned i = 0; i < nbufs; i++) {
        if (bufs[i].len > WRITE_MAX - total) return VG_ETOOBIG;
        total += bufs[i].len;
    }
    if (total == 0) return VG_EINVAL;
    if (c->ssl) {
        if (!c->hs_done) return VG_ESTATE;
        if (c->ssl_fatal) return VG_EIO;
        for (unsigned i = 0; i < nbufs; i++) {
            if (bufs[i].len == 0) continue;
            ERR_clear_error();
            int r = SSL_write(c->ssl, bufs[i].base, (int)bufs[i].len);
            if (r <= 0 || (size_t)r != bufs[i].len) {
                c->ssl_fatal = 1;
                ERR_clear_error();
                return VG_EIO;
            }
        }
        return tls_flush(c, cb, arg);
    }
    wreq_t *w = vg_malloc(sizeof *w + total);
    if (!w) return VG_ENOMEM;
    size_t o = 0;
    for (unsigned i = 0; i < nbufs; i++) {
        if (bufs[i].len) memcpy(w->data + o, bufs[i].base, bufs[i].len);
        o += bufs[i].len;
    }
    w->len = total;
    w->cb = cb;
    w->arg = arg;
    return submit(c, w);
}

int vg_conn_write(vg_conn_t *c, const void *data, size_t len, vg_conn_write_cb cb, void *arg)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    if (len > WRITE_MAX) return VG_ETOOBIG;
    return vg_conn_writev(c, &b, 1, cb, arg);
}

size_t vg_conn_write_queued(const vg_conn_t *c) { return c ? c->queued : 0; }

/* ---- connection: reading --------------------------------------------------- */

static void reading_update(vg_conn_t *c)
{
    if (c->state != C_OPEN || !c->started) return;
    int want = (c->want_read || (c->ssl && !c->hs_done)) && !c->eof_seen;
    if (want && !c->reading) {
        int r = uv_read_start(&c->u.s, on_alloc, on_read_cb);
        if (r != 0) {
            VG_DEBUG("net", "read start failed: %s", uv_strerror(r));
            conn_end(c, VG_EIO);
            return;
        }
        c->reading = 1;
    } else if (!want && c->reading) {
        uv_read_stop(&c->u.s);
        c->reading = 0;
    }
    idle_update(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = vg_malloc(READ_CHUNK);
    buf->len = buf->base ? READ_CHUNK : 0;
}

static void tls_failed(vg_conn_t *c, const char *what)
{
    char why[160];
    ssl_reason(why, sizeof why);
    ERR_clear_error();
    c->ssl_fatal = 1;
    if (!c->hs_done) {
        c->l->stats.tls_failures++;
        VG_INFO("net", "TLS handshake with %s%s%d failed: %s", c->peer.addr, c->peer.port ? ":" : "",
                c->peer.port, why);
    } else {
        VG_DEBUG("net", "TLS %s error from %s: %s", what, c->peer.addr, why);
    }
    /* Gracefully, so the alert OpenSSL queued reaches the peer. */
    conn_end(c, c->hs_done ? VG_EIO : VG_EAUTH);
}

/* Feeds SSL_read output to the owner while it wants bytes. */
static void tls_deliver(vg_conn_t *c)
{
    char buf[TLS_CHUNK];
    while (c->state == C_OPEN && c->want_read) {
        ERR_clear_error();
        int r = SSL_read(c->ssl, buf, sizeof buf);
        if (r > 0) {
            if (c->h.on_read) c->h.on_read(c, buf, (size_t)r, c->arg);
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ) break;
        tls_flush(c, NULL, NULL);
        if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify */
            conn_end(c, 0);
            return;
        }
        tls_failed(c, "read");
        return;
    }
    if (c->state == C_OPEN) tls_flush(c, NULL, NULL); /* key updates, tickets */
}

static void tls_input(vg_conn_t *c, const char *data, size_t len)
{
    if (BIO_write(c->rbio, data, (int)len) != (int)len) {
        ERR_clear_error();
        conn_end(c, VG_EIO);
        return;
    }
    if (!c->hs_done) {
        ERR_clear_error();
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            tls_flush(c, NULL, NULL);
            if (e == SSL_ERROR_WANT_READ) return;
            tls_failed(c, "handshake");
            return;
        }
        c->hs_done = 1;
        const unsigned char *p = NULL;
        unsigned plen = 0;
        SSL_get0_alpn_selected(c->ssl, &p, &plen);
        if (p && plen > 0 && plen < ALPN_MAX) {
            memcpy(c->alpn, p, plen);
            c->alpn[plen] = '\0';
        }
        tls_flush(c, NULL, NULL);
        /* Handshake over: the timer now measures idleness, not the handshake. */
        uv_timer_stop(&c->idle);
        reading_update(c);
    }
    tls_deliver(c);
}

static void on_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    vg_conn_t *c = s->data;
    if (c->state == C_LINGER) {
        if (nread > 0) c->lingered += (size_t)nread;
        if (nread < 0 || c->lingered > LINGER_MAX_BYTES) hard_close(c);
    } else if (c->state == C_OPEN) {
        if (nread > 0) {
            if (c->hs_done || !c->ssl) c->last_activity = now_ms(c);
            if (c->ssl) tls_input(c, buf->base, (size_t)nread);
            else if (c->h.on_read) c->h.on_read(c, buf->base, (size_t)nread, c->arg);
        } else if (nread == UV_EOF) {
            c->eof_seen = 1;
            reading_update(c);
            conn_end(c, 0);
        } else if (nread < 0) {
            VG_DEBUG("net", "read from %s failed: %s", c->peer.addr, uv_strerror((int)nread));
            conn_end(c, nread == UV_ENOBUFS ? VG_ENOMEM : VG_EIO);
        }
    }
    vg_free(buf->base);
}

static void on_defer(uv_timer_t *t)
{
    vg_conn_t *c = t->data;
    if (c->state == C_OPEN && c->want_read && c->hs_done) tls_deliver(c);
}

int vg_conn_start(vg_conn_t *c, const vg_conn_handler_t *h, void *arg)
{
    if (!c) return VG_EINVAL;
    if (c->state != C_OPEN) return VG_ESTATE;
    vg_conn_set_handler(c, h, arg);
    c->ended = 0;
    c->started = 1;
    c->want_read = 1;
    reading_update(c);
    return c->state == C_OPEN ? 0 : VG_EIO;
}

void vg_conn_set_handler(vg_conn_t *c, const vg_conn_handler_t *h, void *arg)
{
    if (!c) return;
    if (h) c->h = *h;
    else memset(&c->h, 0, sizeof c->h);
    c->arg = arg;
}

void vg_conn_read_stop(vg_conn_t *c)
{
    if (!c || !c->want_read) return;
    c->want_read = 0;
    reading_update(c);
}

int vg_conn_read_start(vg_conn_t *c)
{
    if (!c) return VG_EINVAL;
    if (c->state != C_OPEN) return VG_ESHUTDOWN;
    if (!c->started) return VG_ESTATE;
    if (c->want_read) return 0;
    c->want_read = 1;
    reading_update(c);
    if (c->state == C_OPEN && c->ssl && c->hs_done &&
        (SSL_pending(c->ssl) > 0 || BIO_ctrl_pending(c->rbio) > 0))
        uv_timer_start(&c->defer, on_defer, 0, 0);
    return 0;
}

void vg_conn_set_idle_timeout(vg_conn_t *c, uint64_t ms)
{
    if (!c || c->state != C_OPEN) return;
    c->idle_ms = ms;
    int handshaking = c->ssl && !c->hs_done && c->started;
    if (!handshaking) uv_timer_stop(&c->idle);
    idle_update(c);
}

const vg_peer_t *vg_conn_peer(const vg_conn_t *c) { return &c->peer; }
int vg_conn_is_tls(const vg_conn_t *c) { return c->ssl != NULL; }
const char *vg_conn_alpn(const vg_conn_t *c) { return c->alpn[0] ? c->alpn : NULL; }
vg_listener_t *vg_conn_listener(const vg_conn_t *c) { return c->l; }
uv_loop_t *vg_conn_loop(const vg_conn_t *c) { return c->l->loop; }
int vg_conn_is_closing(const vg_conn_t *c) { return c->state != C_OPEN; }
