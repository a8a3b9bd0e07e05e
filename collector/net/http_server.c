/* HTTP/1.1 server: binds http_session (the protocol engine) to vg_listener /
 * vg_conn and the loop's timers. One `hconn` per connection:
 *
 *   accept -> hconn + session, conn reading
 *   conn on_close -> session freed (cancelling the request with the handler),
 *                    timers closed, hconn freed in the last close callback
 *   h2 preface  -> conn handed to on_h2, hconn torn down, conn left open
 *
 * The server is freed once the listener reports every conn closed, every
 * hconn is freed and the drain timer is closed. */
#include "net/http_server.h"

#include "error.h"
#include "log.h"
#include "mem.h"
#include "net/http_session.h"

#include <string.h>

typedef struct hconn hconn_t;

struct vg_http_server {
    uv_loop_t *loop;
    vg_listener_t *l;
    vg_http_server_opts_t opts;
    vg_http_session_cfg_t scfg;
    vg_http_stats_t stats;
    hconn_t *conns;
    int live;                 /* hconns not yet freed */
    uv_timer_t drain_timer;
    int closing;
    int listener_done;
    int timer_closed;
    int port;
    vg_http_server_close_cb close_cb;
    void *close_arg;
};

struct hconn {
    vg_http_server_t *srv;
    vg_conn_t *conn;          /* NULL once closed or handed off */
    vg_http_session_t *sess;
    uv_timer_t req_timer;
    uv_timer_t resume_timer;
    hconn_t *prev, *next;
    int handed_off;
    int pending_closes;
    int torn_down;
};

static void server_maybe_free(vg_http_server_t *srv)
{
    if (!srv->listener_done || !srv->timer_closed || srv->live > 0) return;
    if (srv->close_cb) srv->close_cb(srv, srv->close_arg);
    vg_free(srv);
}

/* ---- hconn lifetime ------------------------------------------------------ */

static void on_hconn_timer_closed(uv_handle_t *h)
{
    hconn_t *hc = h->data;
    if (--hc->pending_closes > 0) return;
    vg_http_server_t *srv = hc->srv;
    vg_free(hc);
    srv->live--;
    server_maybe_free(srv);
}

static void hconn_teardown(hconn_t *hc)
{
    if (hc->torn_down) return;
    hc->torn_down = 1;
    vg_http_session_t *s = hc->sess;
    hc->sess = NULL;
    vg_http_session_free(s); /* may run on_cancel */
    vg_http_server_t *srv = hc->srv;
    if (hc->prev) hc->prev->next = hc->next;
    else srv->conns = hc->next;
    if (hc->next) hc->next->prev = hc->prev;
    hc->pending_closes = 2;
    uv_close((uv_handle_t *)&hc->req_timer, on_hconn_timer_closed);
    uv_close((uv_handle_t *)&hc->resume_timer, on_hconn_timer_closed);
}

/* ---- io operations for the session ------------------------------------------ */

static void on_written(vg_conn_t *c, int status, void *arg)
{
    (void)c;
    (void)status;
    hconn_t *hc = arg;
    if (hc->sess) vg_http_session_resume(hc->sess); /* output may be below the limit now */
}

static int io_write(void *io, const uv_buf_t *bufs, unsigned nbufs)
{
    hconn_t *hc = io;
    if (!hc->conn) return VG_ESHUTDOWN;
    return vg_conn_writev(hc->conn, bufs, nbufs, on_written, hc);
}

static size_t io_queued(void *io)
{
    hconn_t *hc = io;
    return hc->conn ? vg_conn_write_queued(hc->conn) : 0;
}

static void io_read_enable(void *io, int on)
{
    hconn_t *hc = io;
    if (!hc->conn) return;
    if (on) vg_conn_read_start(hc->conn);
    else vg_conn_read_stop(hc->conn);
}

static void on_req_timer(uv_timer_t *t)
{
    hconn_t *hc = t->data;
    if (hc->sess) vg_http_session_timeout(hc->sess);
}

static void io_timer(void *io, uint64_t ms)
{
    hconn_t *hc = io;
    if (ms) uv_timer_start(&hc->req_timer, on_req_timer, ms, 0);
    else uv_timer_stop(&hc->req_timer);
}

static void on_resume_timer(uv_timer_t *t)
{
    hconn_t *hc = t->data;
    if (hc->sess) vg_http_session_resume(hc->sess);
}

static void io_defer(void *io)
{
    hconn_t *hc = io;
    uv_timer_start(&hc->resume_timer, on_resume_timer, 0, 0);
}

static void io_busy(void *io, int busy)
{
    hconn_t *hc = io;
    if (hc->conn) vg_conn_set_idle_timeout(hc->conn, busy ? 0 : hc->srv->opts.idle_timeout_ms);
}

static void io_close(void *io)
{
    hconn_t *hc = io;
    uv_timer_stop(&hc->req_timer);
    if (hc->conn) vg_conn_close(hc->conn);
}

static void io_h2(void *io, const char *data, size_t len)
{
    hconn_t *hc = io;
    vg_http_server_t *srv = hc->srv;
    vg_conn_t *c = hc->conn;
    hc->conn = NULL;
    hc->handed_off = 1;
    vg_conn_set_handler(c, NULL, NULL);
    vg_conn_set_idle_timeout(c, srv->opts.idle_timeout_ms);
    srv->opts.on_h2(c, data, len, srv->opts.arg);
}

static const vg_http_io_t io_ops = {
    .write = io_write,
    .queued = io_queued,
    .read_enable = io_read_enable,
    .timer = io_timer,
    .defer = io_defer,
    .busy = io_busy,
    .close = io_close,
    .h2 = io_h2,
};

/* ---- conn callbacks ------------------------------------------------------------ */

static void conn_on_read(vg_conn_t *c, const char *data, size_t len, void *arg)
{
    (void)c;
    hconn_t *hc = arg;
    if (!hc->sess) return;
    vg_http_session_feed(hc->sess, data, len);
    if (hc->handed_off) hconn_teardown(hc);
}

static void conn_on_close(vg_conn_t *c, void *arg)
{
    (void)c;
    hconn_t *hc = arg;
    hc->conn = NULL;
    hconn_teardown(hc);
}

static const vg_conn_handler_t conn_handler = {
    .on_read = conn_on_read,
    .on_end = NULL,
    .on_close = conn_on_close,
};

static void on_accept(vg_listener_t *l, vg_conn_t *c, void *arg)
{
    (void)l;
    vg_http_server_t *srv = arg;
    if (srv->closing) {
        vg_conn_abort(c);
        return;
    }
    hconn_t *hc = vg_calloc(1, sizeof *hc);
    if (!hc) {
        vg_conn_abort(c);
        return;
    }
    hc->srv = srv;
    hc->conn = c;
    if (vg_http_session_new(&srv->scfg, &io_ops, hc, vg_conn_peer(c), &hc->sess) != 0) {
        vg_free(hc);
        vg_conn_abort(c);
        return;
    }
    uv_timer_init(srv->loop, &hc->req_timer);
    uv_timer_init(srv->loop, &hc->resume_timer);
    hc->req_timer.data = hc;
    hc->resume_timer.data = hc;
    hc->next = srv->conns;
    if (srv->conns) srv->conns->prev = hc;
    srv->conns = hc;
    srv->live++;
    if (vg_conn_start(c, &conn_handler, hc) != 0) vg_conn_abort(c); /* on_close tears down */
}

/* ---- server ------------------------------------------------------------------- */

int vg_http_server_start(uv_loop_t *loop, const vg_endpoint_t *ep, const vg_http_server_opts_t *opts,
                         vg_http_server_t **out, char *err, size_t errlen)
{
    if (!loop || !ep || !opts || !out || !opts->on_request) return VG_EINVAL;
    *out = NULL;
    vg_http_server_t *srv = vg_calloc(1, sizeof *srv);
    if (!srv) return VG_ENOMEM;
    srv->loop = loop;
    srv->opts = *opts;
    if (!srv->opts.idle_timeout_ms) srv->opts.idle_timeout_ms = 120000;
    srv->opts.listen.idle_timeout_ms = srv->opts.idle_timeout_ms;
    vg_http_session_cfg_t *c = &srv->scfg;
    c->max_request_body_size = opts->max_request_body_size;
    c->max_header_size = opts->max_header_size;
    c->request_timeout_ms = opts->request_timeout_ms;
    c->max_pipeline_buffer = opts->max_pipeline_buffer;
    c->max_output_buffer = opts->max_output_buffer;
    vg_http_session_cfg_defaults(c);
    c->h2_enabled = opts->on_h2 != NULL;
    c->on_request = opts->on_request;
    c->on_cancel = opts->on_cancel;
    c->arg = opts->arg;
    c->stats = &srv->stats;
    srv->opts.listen.alpn = opts->listen.alpn; /* copied by the listener */
    int rc = vg_listener_start(loop, ep, &srv->opts.listen, on_accept, srv, &srv->l, err, errlen);
    if (rc != 0) {
        vg_free(srv);
        return rc;
    }
    srv->opts.listen.alpn = NULL;
    srv->port = vg_listener_port(srv->l);
    uv_timer_init(loop, &srv->drain_timer);
    srv->drain_timer.data = srv;
    *out = srv;
    return 0;
}

static void on_drain_timer_closed(uv_handle_t *h)
{
    vg_http_server_t *srv = h->data;
    srv->timer_closed = 1;
    server_maybe_free(srv);
}

static void on_listener_closed(vg_listener_t *l, void *arg)
{
    (void)l;
    vg_http_server_t *srv = arg;
    srv->l = NULL;
    srv->listener_done = 1;
    uv_close((uv_handle_t *)&srv->drain_timer, on_drain_timer_closed);
}

static void on_drain_deadline(uv_timer_t *t)
{
    vg_http_server_t *srv = t->data;
    if (srv->l) vg_listener_close_conns(srv->l, 1);
}

void vg_http_server_close(vg_http_server_t *srv, uint64_t drain_ms, vg_http_server_close_cb cb, void *arg)
{
    if (!srv || srv->closing) return;
    srv->closing = 1;
    srv->close_cb = cb;
    srv->close_arg = arg;
    vg_listener_t *l = srv->l;
    for (hconn_t *hc = srv->conns; hc; hc = hc->next)
        if (hc->sess) vg_http_session_drain(hc->sess);
    if (drain_ms == 0) vg_listener_close_conns(l, 1);
    else uv_timer_start(&srv->drain_timer, on_drain_deadline, drain_ms, 0);
    vg_listener_close(l, on_listener_closed, srv);
}

int vg_http_server_port(const vg_http_server_t *srv) { return srv ? srv->port : 0; }
const vg_http_stats_t *vg_http_server_stats(const vg_http_server_t *srv) { return &srv->stats; }
const vg_listener_t *vg_http_server_listener(const vg_http_server_t *srv) { return srv->closing ? NULL : srv->l; }
