/* syslog receiver: datagram sockets.
 *
 * UDP (RFC 5426) through uv_udp with recvmmsg (up to 20 datagrams per system
 * call); unix datagram sockets (/dev/log style) through a socket of our own
 * watched with uv_poll, read with recvmmsg, SO_PASSCRED giving each
 * datagram's sender pid/uid/gid.
 *
 * One datagram is one message, unless one_log_per_packet is false and it
 * holds several separated by the trailer (or octet-counted, with
 * enable_octet_counting): then it is split with a framer reset for each
 * datagram. Records of both sockets go into one builder whose batch is sent
 * once per loop iteration (uv_check) or when it is full; unix datagrams
 * from different senders go into different batches so that batch->peer
 * names the process.
 *
 * Datagram senders cannot be slowed down: a batch the pipeline refuses is
 * dropped and counted (reason "refused"), and what the kernel drops on a
 * full receive buffer is read from the socket (SO_MEMINFO, reason
 * "kernel"). Nothing is lost silently. */
#include "receivers/syslog/syslog_int.h"

#include "error.h"
#include "log.h"
#include "mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif

#define UDP_MMSG_SLOTS 20          /* libuv's recvmmsg width */
#define UDP_SLOT (64 * 1024)       /* libuv's datagram slot */
#define UNIX_BUF_TARGET (1u << 20) /* unix: slots x slot size aims at this */
#define UNIX_MAX_SLOTS 32
#define UNIX_ROUNDS 8              /* recvmmsg calls per readable event */

enum { D_UDP = 0, D_UNIX = 1 };

struct syslog_dgram {
    syslog_rx_t *rx;
    int kind;
    union {
        uv_udp_t udp;
        uv_poll_t poll;
    } h;
    bool open; /* handle not closed yet */
    int fd;    /* unix: our socket (closed after the poll handle) */
    char path[VG_EP_PATH_MAX];
    bool own_file;
    bool add_attrs;
    vg_syslog_framer_t *fr; /* NULL: one message per datagram */
    size_t max_octets;
    char *buf;
    size_t buf_len;
    /* unix: recvmmsg slots */
    size_t slot, nslots;
    struct mmsghdr *msgs;
    struct iovec *iov;
    char *cmsg;
    /* UDP: the last sender, so that its text is made once per burst */
    struct sockaddr_storage last_sa;
    vg_peer_t last_peer;
    bool last_valid;
    int64_t observed;
    uint64_t kdrops; /* kernel drops seen last (the socket's counter ends with it) */
};

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- sending ---------------------------------------------------------------------- */

static void dgram_send(syslog_rx_t *rx)
{
    vg_batch_t *b = vg_syslog_builder_take(rx->dbld);
    if (!b) return;
    size_t items = b->items;
    int rc = syslog_emit(rx, b);
    if (rc == 0) {
        if (rx->dgram_refusing) VG_INFO(rx->c->id, "pipeline accepts datagram messages again");
        rx->dgram_refusing = false;
        return;
    }
    rx->n.dropped_refused += items;
    if (!rx->dgram_refusing)
        VG_WARN(rx->c->id, "pipeline refused %zu datagram messages (%s); datagrams cannot be pushed back, so they "
                           "are dropped and counted until it accepts again", items, vg_strerror(rc));
    rx->dgram_refusing = true;
}

static void on_check(uv_check_t *h) { dgram_send(h->data); }

static int on_frame(void *ud, const vg_syslog_frame_t *f)
{
    syslog_dgram_t *d = ud;
    syslog_rx_t *rx = d->rx;
    int r = vg_syslog_builder_add(rx->dbld, f->data, f->len, f->status, d->observed);
    if (r == 0) rx->c->stats.rejected[VG_SIG_LOGS]++;
    return 0;
}

/* One datagram from `peer`. truncated: the kernel cut it at our buffer. */
static void take_datagram(syslog_dgram_t *d, const char *data, size_t len, bool truncated, const vg_peer_t *peer,
                          vg_syslog_net_t net)
{
    syslog_rx_t *rx = d->rx;
    rx->n.dgram_received++;
    if (len == 0) return;
    vg_syslog_builder_t *bd = rx->dbld;
    /* Unix senders get batches of their own (batch->peer names the process). */
    if (net == VG_SYSLOG_NET_UNIX && vg_syslog_builder_count(bd) && vg_syslog_builder_peer_differs(bd, net, peer))
        dgram_send(rx);
    vg_syslog_builder_set_peer(bd, net, peer, d->add_attrs);
    if (truncated) rx->n.dgram_truncated++;
    if (d->fr && !truncated) {
        vg_syslog_framer_reset(d->fr);
        vg_syslog_framer_feed(d->fr, data, len, on_frame, d);
        vg_syslog_framer_flush(d->fr, on_frame, d);
    } else {
        bool too_long = truncated || len > d->max_octets;
        int r = vg_syslog_builder_add(bd, data, too_long ? (len < d->max_octets ? len : d->max_octets) : len,
                                      too_long ? VG_ETOOBIG : 0, d->observed);
        if (r == 0) rx->c->stats.rejected[VG_SIG_LOGS]++;
    }
    if (vg_syslog_builder_count(bd) >= SYSLOG_BATCH_MAX_RECORDS || vg_syslog_builder_bytes(bd) >= SYSLOG_BATCH_MAX_BYTES)
        dgram_send(rx);
}

/* ---- UDP ---------------------------------------------------------------------------- */

static void sa_peer(const struct sockaddr *sa, vg_peer_t *p)
{
    memset(p, 0, sizeof *p);
    p->pid = p->uid = p->gid = -1;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        p->family = AF_INET;
        inet_ntop(AF_INET, &s4->sin_addr, p->addr, sizeof p->addr);
        p->port = ntohs(s4->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            p->family = AF_INET;
            inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], p->addr, sizeof p->addr);
        } else {
            p->family = AF_INET6;
            inet_ntop(AF_INET6, &s6->sin6_addr, p->addr, sizeof p->addr);
        }
        p->port = ntohs(s6->sin6_port);
    }
}

static size_t sa_len(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
           : sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : 0;
}

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    syslog_dgram_t *d = h->data;
    /* The same buffer every time: datagrams are consumed inside recv_cb. */
    buf->base = d->buf;
    buf->len = d->buf_len;
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr, unsigned flags)
{
    syslog_dgram_t *d = h->data;
    syslog_rx_t *rx = d->rx;
    if (nread < 0) {
        VG_DEBUG(rx->c->id, "udp receive error: %s", uv_strerror((int)nread));
        return;
    }
    if (!addr) { /* end of a burst, or libuv handing the buffer back */
        d->observed = 0;
        return;
    }
    size_t n = sa_len(addr);
    if (!d->last_valid || n == 0 || memcmp(&d->last_sa, addr, n) != 0) {
        sa_peer(addr, &d->last_peer);
        if (n) memcpy(&d->last_sa, addr, n);
        d->last_valid = n != 0;
    }
    if (!d->observed) d->observed = wall_ns(); /* once per burst */
    take_datagram(d, buf->base, (size_t)nread, (flags & UV_UDP_PARTIAL) != 0, &d->last_peer, VG_SYSLOG_NET_UDP);
}

static void set_rcvbuf(syslog_rx_t *rx, int fd, uint64_t want, const char *what)
{
    if (!want) return;
    int v = want > (uint64_t)INT32_MAX ? INT32_MAX : (int)want;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) != 0 &&
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v) != 0)
        VG_WARN(rx->c->id, "%s: cannot set receive_buffer_size: %s", what, strerror(errno));
    int got = 0;
    socklen_t gl = sizeof got;
    if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &gl) == 0 && (uint64_t)got < want)
        VG_INFO(rx->c->id, "%s: receive buffer is %d bytes (asked for %llu; raise net.core.rmem_max or run with "
                           "CAP_NET_ADMIN)", what, got, (unsigned long long)want);
}

static void dgram_closed(uv_handle_t *h)
{
    syslog_dgram_t *d = h->data;
    if (d->fd >= 0) close(d->fd);
    d->fd = -1;
    if (d->own_file) unlink(d->path);
    d->own_file = false;
    d->open = false;
}

static int udp_start(syslog_rx_t *rx, syslog_dgram_t *d, char *err, size_t errlen)
{
    const syslog_udp_cfg_t *u = &rx->cfg->udp;
    vg_endpoint_t ep;
    int rc = vg_endpoint_parse(&ep, "tcp", u->listen_address, err, errlen);
    if (rc) return rc;
    struct sockaddr_storage sa[8];
    int count = 0;
    if ((rc = vg_endpoint_resolve(&ep, sa, 8, &count, err, errlen))) return rc;
    d->buf_len = UDP_MMSG_SLOTS * UDP_SLOT;
    if (!(d->buf = vg_malloc(d->buf_len))) return VG_ENOMEM;
    int r = uv_udp_init_ex(rx->c->loop, &d->h.udp, AF_UNSPEC | UV_UDP_RECVMMSG);
    if (r) {
        snprintf(err, errlen, "udp socket: %s", uv_strerror(r));
        return VG_EIO;
    }
    d->h.udp.data = d;
    d->open = true;
    for (int i = 0; i < count; i++) {
        r = uv_udp_bind(&d->h.udp, (const struct sockaddr *)&sa[i], UV_UDP_REUSEADDR);
        if (r == 0) break;
    }
    if (r) {
        snprintf(err, errlen, "listen on udp %s: %s", u->listen_address, uv_strerror(r));
        return r == UV_EADDRINUSE ? VG_EEXISTS : r == UV_EACCES ? VG_EAUTH : VG_EIO;
    }
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&d->h.udp, &fd) == 0) set_rcvbuf(rx, fd, u->receive_buffer_size, "udp");
    if ((r = uv_udp_recv_start(&d->h.udp, udp_alloc, udp_recv))) {
        snprintf(err, errlen, "udp receive: %s", uv_strerror(r));
        return VG_EIO;
    }
    VG_INFO(rx->c->id, "listening for syslog on udp %s (port %d)", u->listen_address, syslog_dgram_port(d));
    return 0;
}

/* ---- unix datagram --------------------------------------------------------------------- */

static void unix_readable(uv_poll_t *h, int status, int events)
{
    (void)events;
    syslog_dgram_t *d = h->data;
    syslog_rx_t *rx = d->rx;
    if (status < 0) {
        VG_DEBUG(rx->c->id, "unix datagram socket: %s", uv_strerror(status));
        return;
    }
    d->observed = wall_ns();
    for (int round = 0; round < UNIX_ROUNDS && d->fd >= 0; round++) {
        for (size_t i = 0; i < d->nslots; i++) {
            d->iov[i].iov_base = d->buf + i * d->slot;
            d->iov[i].iov_len = d->slot;
            memset(&d->msgs[i].msg_hdr, 0, sizeof d->msgs[i].msg_hdr);
            d->msgs[i].msg_hdr.msg_iov = &d->iov[i];
            d->msgs[i].msg_hdr.msg_iovlen = 1;
            d->msgs[i].msg_hdr.msg_control = d->cmsg + i * CMSG_SPACE(sizeof(struct ucred));
            d->msgs[i].msg_hdr.msg_controllen = CMSG_SPACE(sizeof(struct ucred));
        }
        int n = recvmmsg(d->fd, d->msgs, (unsigned)d->nslots, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                VG_DEBUG(rx->c->id, "unix datagram receive: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            struct msghdr *mh = &d->msgs[i].msg_hdr;
            vg_peer_t peer = { .family = AF_UNIX, .pid = -1, .uid = -1, .gid = -1 };
            for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS &&
                    cm->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
                    struct ucred uc;
                    memcpy(&uc, CMSG_DATA(cm), sizeof uc);
                    peer.pid = (int)uc.pid;
                    peer.uid = (int)uc.uid;
                    peer.gid = (int)uc.gid;
                }
            }
            size_t len = d->msgs[i].msg_len;
            bool trunc = (mh->msg_flags & MSG_TRUNC) != 0;
            if (len > d->slot) len = d->slot;
            take_datagram(d, d->buf + (size_t)i * d->slot, len, trunc, &peer, VG_SYSLOG_NET_UNIX);
        }
        if ((size_t)n < d->nslots) break;
    }
}

static int unix_start(syslog_rx_t *rx, syslog_dgram_t *d, char *err, size_t errlen)
{
    const syslog_unix_cfg_t *u = &rx->cfg->unix_;
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    size_t pl = strlen(u->path);
    if (pl == 0 || pl >= sizeof sun.sun_path) {
        snprintf(err, errlen, "unix socket path too long: %s", u->path);
        return VG_EINVAL;
    }
    memcpy(sun.sun_path, u->path, pl + 1);
    snprintf(d->path, sizeof d->path, "%s", u->path);
    /* Buffers: slots of max_octets + 1 bytes (one more tells a longer datagram). */
    d->slot = d->max_octets + 1;
    d->nslots = UNIX_BUF_TARGET / d->slot;
    if (d->nslots < 1) d->nslots = 1;
    if (d->nslots > UNIX_MAX_SLOTS) d->nslots = UNIX_MAX_SLOTS;
    d->buf_len = d->slot * d->nslots;
    d->buf = vg_malloc(d->buf_len);
    d->msgs = vg_calloc(d->nslots, sizeof *d->msgs);
    d->iov = vg_calloc(d->nslots, sizeof *d->iov);
    d->cmsg = vg_calloc(d->nslots, CMSG_SPACE(sizeof(struct ucred)));
    if (!d->buf || !d->msgs || !d->iov || !d->cmsg) return VG_ENOMEM;

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "unix datagram socket: %s", strerror(errno));
        return VG_EIO;
    }
    /* A stale socket file (nobody reading) is replaced; a live one is an error. */
    struct stat sb;
    if (lstat(u->path, &sb) == 0) {
        if (!S_ISSOCK(sb.st_mode)) {
            close(fd);
            snprintf(err, errlen, "%s exists and is not a socket", u->path);
            return VG_EEXISTS;
        }
        int probe = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int alive = probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof sun) == 0;
        if (probe >= 0) close(probe);
        if (alive) {
            close(fd);
            snprintf(err, errlen, "listen on unix:%s: address in use", u->path);
            return VG_EEXISTS;
        }
        unlink(u->path);
    }
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
        int e = errno;
        close(fd);
        snprintf(err, errlen, "bind unix:%s: %s", u->path, strerror(e));
        return e == EACCES ? VG_EAUTH : e == EADDRINUSE ? VG_EEXISTS : VG_EIO;
    }
    d->own_file = true;
    unsigned long mode = strtoul(u->mode ? u->mode : "0666", NULL, 8);
    if (chmod(u->path, (mode_t)mode) != 0)
        VG_WARN(rx->c->id, "chmod %s: %s", u->path, strerror(errno));
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0)
        VG_WARN(rx->c->id, "SO_PASSCRED on %s: %s (no sender credentials)", u->path, strerror(errno));
    set_rcvbuf(rx, fd, u->receive_buffer_size, "unix");
    d->fd = fd;
    int r = uv_poll_init(rx->c->loop, &d->h.poll, fd);
    if (r) {
        close(fd);
        d->fd = -1;
        unlink(u->path);
        d->own_file = false;
        snprintf(err, errlen, "poll unix:%s: %s", u->path, uv_strerror(r));
        return VG_EIO;
    }
    d->h.poll.data = d;
    d->open = true;
    if ((r = uv_poll_start(&d->h.poll, UV_READABLE, unix_readable))) {
        snprintf(err, errlen, "poll unix:%s: %s", u->path, uv_strerror(r));
        return VG_EIO;
    }
    VG_INFO(rx->c->id, "listening for syslog on unix datagram socket %s", u->path);
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static syslog_dgram_t *dgram_new(syslog_rx_t *rx, int kind, bool split, bool add_attrs)
{
    syslog_dgram_t *d = vg_calloc(1, sizeof *d);
    if (!d) return NULL;
    d->rx = rx;
    d->kind = kind;
    d->fd = -1;
    d->add_attrs = add_attrs;
    d->max_octets = (size_t)rx->cfg->max_octets;
    if (split && vg_syslog_framer_new(&rx->fopts, &d->fr)) {
        vg_free(d);
        return NULL;
    }
    return d;
}

static void dgram_free(syslog_dgram_t *d)
{
    if (!d) return;
    vg_syslog_framer_free(d->fr);
    vg_free(d->buf);
    vg_free(d->msgs);
    vg_free(d->iov);
    vg_free(d->cmsg);
    vg_free(d);
}

static void check_closed(uv_handle_t *h)
{
    syslog_rx_t *rx = h->data;
    rx->check_open = false;
}

int syslog_dgram_start(syslog_rx_t *rx, char *err, size_t errlen)
{
    const syslog_cfg_t *cfg = rx->cfg;
    bool udp = cfg->udp_set, udg = cfg->unix_set && cfg->unix_.type == SYSLOG_UNIX_DGRAM;
    if (!udp && !udg) return 0;
    if (!(rx->dbld = vg_malloc(sizeof *rx->dbld))) return VG_ENOMEM;
    vg_syslog_builder_init(rx->dbld, &rx->mcfg);
    uv_check_init(rx->c->loop, &rx->check);
    rx->check.data = rx;
    rx->check_open = true;
    uv_check_start(&rx->check, on_check);
    int rc;
    if (udp) {
        if (!(rx->udp = dgram_new(rx, D_UDP, !cfg->udp.one_log_per_packet, cfg->udp.add_attributes))) return VG_ENOMEM;
        if ((rc = udp_start(rx, rx->udp, err, errlen))) return rc;
    }
    if (udg) {
        if (!(rx->udg = dgram_new(rx, D_UNIX, !cfg->unix_.one_log_per_packet, cfg->unix_.add_attributes)))
            return VG_ENOMEM;
        if ((rc = unix_start(rx, rx->udg, err, errlen))) return rc;
    }
    return 0;
}

static void dgram_close(syslog_dgram_t *d)
{
    if (d) {
        uint64_t k;
        int64_t rb;
        syslog_dgram_socket_stats(d, &k, &rb); /* keep the final kernel drop count */
    }
    if (!d || !d->open) {
        if (d && d->fd >= 0) { close(d->fd); d->fd = -1; }
        return;
    }
    if (uv_is_closing((uv_handle_t *)&d->h)) return;
    if (d->kind == D_UDP) uv_udp_recv_stop(&d->h.udp);
    else uv_poll_stop(&d->h.poll);
    uv_close((uv_handle_t *)&d->h, dgram_closed);
}

void syslog_dgram_shutdown(syslog_rx_t *rx)
{
    dgram_close(rx->udp);
    dgram_close(rx->udg);
    if (rx->dbld) dgram_send(rx);
    if (rx->check_open && !uv_is_closing((uv_handle_t *)&rx->check)) {
        uv_check_stop(&rx->check);
        uv_close((uv_handle_t *)&rx->check, check_closed);
    }
}

bool syslog_dgram_busy(const syslog_rx_t *rx)
{
    return rx->check_open || (rx->udp && rx->udp->open) || (rx->udg && rx->udg->open);
}

void syslog_dgram_destroy(syslog_rx_t *rx)
{
    if (rx->udg && rx->udg->own_file) unlink(rx->udg->path);
    if (rx->udg && rx->udg->fd >= 0) close(rx->udg->fd);
    dgram_free(rx->udp);
    dgram_free(rx->udg);
    rx->udp = rx->udg = NULL;
    if (rx->dbld) vg_syslog_builder_clear(rx->dbld);
    vg_free(rx->dbld);
    rx->dbld = NULL;
}

int syslog_dgram_port(const syslog_dgram_t *d)
{
    if (!d || d->kind != D_UDP || !d->open) return 0;
    struct sockaddr_storage me;
    int ml = sizeof me;
    if (uv_udp_getsockname(&d->h.udp, (struct sockaddr *)&me, &ml) != 0) return 0;
    return ntohs(me.ss_family == AF_INET ? ((struct sockaddr_in *)&me)->sin_port
                                         : ((struct sockaddr_in6 *)&me)->sin6_port);
}

void syslog_dgram_builder_stats(const syslog_rx_t *rx, vg_syslog_map_stats_t *out)
{
    if (rx->dbld) *out = rx->dbld->st;
    else memset(out, 0, sizeof *out);
}

void syslog_dgram_socket_stats(syslog_dgram_t *d, uint64_t *drops, int64_t *rcvbuf)
{
    *drops = d->kdrops;
    *rcvbuf = 0;
    int fd = -1;
    if (d->kind == D_UDP) {
        uv_os_fd_t f;
        if (d->open && !uv_is_closing((const uv_handle_t *)&d->h.udp) &&
            uv_fileno((const uv_handle_t *)&d->h.udp, &f) == 0)
            fd = f;
    } else {
        fd = d->fd;
    }
    if (fd < 0) return;
    uint32_t mem[SK_MEMINFO_VARS];
    socklen_t ml = sizeof mem;
    if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &ml) == 0 && ml > SK_MEMINFO_DROPS * sizeof(uint32_t))
        *drops = d->kdrops = mem[SK_MEMINFO_DROPS];
    int v = 0;
    socklen_t vl = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &vl) == 0) *rcvbuf = v;
}
