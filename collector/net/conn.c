/* Connections: reading, writing, TLS over memory BIOs, idle timer, close.
 * See conn.h for the contract; listener.c accepts them, tls.c builds contexts.
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
#include "net/conn_int.h"

#include "error.h"
#include "log.h"
#include "mem.h"

#include <limits.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

#define WRITE_MAX ((size_t)1 << 30) /* one write call: 1 GiB */

typedef struct {
    uv_write_t req;
    vg_conn_t *c;
    vg_conn_write_cb cb;
    void *arg;
    size_t len;
    char data[];
} wreq_t;

static void idle_update(vg_conn_t *c);
static void tls_deliver(vg_conn_t *c);
static int tls_flush(vg_conn_t *c, vg_conn_write_cb cb, void *arg);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static uint64_t now_ms(vg_conn_t *c) { return uv_now(c->l->loop); }

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
    vg__listener_maybe_free(l);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    vg_conn_t *c = h->data;
    if (--c->pending_closes == 0) conn_finish(c);
}

void vg__conn_hard_close(vg_conn_t *c)
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
        vg__conn_hard_close(c);
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
        vg__conn_hard_close(c);
        return;
    }
    c->state = C_LINGER;
    c->reading = 0;
    if (uv_read_start(&c->u.s, on_alloc, on_read_cb) != 0) {
        vg__conn_hard_close(c);
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
        vg__conn_hard_close(c);
        return;
    }
    uv_timer_start(&c->idle, on_idle, c->idle_ms ? c->idle_ms : DRAIN_DEFAULT_MS, 0);
}

void vg_conn_abort(vg_conn_t *c)
{
    if (c) vg__conn_hard_close(c);
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
        return vg__map_uv(r);
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
    vg__ssl_reason(why, sizeof why);
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
        if (nread < 0 || c->lingered > LINGER_MAX_BYTES) vg__conn_hard_close(c);
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
