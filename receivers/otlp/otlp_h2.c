/* HTTP/2 server sessions for the otlp receiver: one nghttp2 server session per
 * connection (gRPC on the grpc port; h2c and TLS h2 on the http port), with
 * the protocol semantics (otlp_grpc.c, otlp_http.c) plugged in per stream.
 *
 * Memory per connection is bounded:
 *   - at most max_concurrent_streams streams (SETTINGS, enforced by nghttp2);
 *   - each stream buffers at most its protocol's limit (max_recv_msg_size +
 *     5 for gRPC, max_request_body_size for HTTP), refused beyond it;
 *   - flow control: window is given back (nghttp2_session_consume) only when
 *     a request has been through the pipeline, or, for a request larger than
 *     the initial stream window (64 KiB), once it is *admitted*: admitted
 *     requests reserve their size against a per-connection budget of twice
 *     the protocol's limit (one is always admitted, so nothing deadlocks);
 *     others wait in FIFO order with what the initial window let them send.
 *     The connection window is sized so that waiting streams can never starve
 *     admitted ones: streams x 64 KiB + budget.
 *   - output: reading stops while more than 1 MiB of answers wait for the
 *     client to read them.
 * A stream that is not complete within the request timeout is answered
 * (DEADLINE_EXCEEDED / 408) and its buffer freed; a connection whose output
 * does not move for that long is aborted. Keepalive follows gRPC-Go's
 * keepalive.ServerParameters / EnforcementPolicy (pings after `time` of
 * silence, closed after `timeout` without an answer; GOAWAY after
 * max_connection_idle without streams or max_connection_age; GOAWAY
 * ENHANCE_YOUR_CALM "too_many_pings" when the client pings more often than
 * min_time allows).
 *
 * The engine talks to its transport through otlp_h2_io_t only (a vg_conn, or
 * the fuzz target's stub) and never frees itself: the transport's close
 * callback calls otlp_h2_free(). */
#include "otlp_int.h"

#include "error.h"
#include "log.h"
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IW 65535u                   /* initial stream window (the HTTP/2 default) */
#define MAX_HEADER_BYTES (64u * 1024) /* header list, counted as in SETTINGS_MAX_HEADER_LIST_SIZE */
#define OUT_HIGH (1u << 20)         /* answers queued before reading stops */
#define OBUF_FLUSH (64u * 1024)
#define DRAIN_MS 5000               /* a GOAWAY for idleness or too many pings: streams get this long */
#define DEFAULT_STREAMS 100
#define MAX_PING_STRIKES 2
#define NO_STREAM_PING_MS (2u * 3600 * 1000) /* gRPC-Go: pings without streams at most every 2 h */

struct otlp_stream {
    otlp_h2_t *h;
    int32_t id;
    otlp_stream_t *prev, *next;
    otlp_stream_t *wnext;       /* admission queue */
    otlp_h2_headers_t hd;
    size_t hdr_bytes;
    otlp_stream_req_t req;
    uint8_t *buf;
    size_t len, cap;
    size_t unconsumed;          /* received, window not yet given back */
    size_t reserved;            /* admission reservation */
    bool admitted, waiting;
    bool answered, complete, early, rst_now;
    uint64_t started_ms, answered_ms;
    uint8_t *resp;
    size_t resp_len, resp_off;
    nghttp2_nv *trl;
    size_t ntrl;
};

struct otlp_h2 {
    otlp_recv_t *r;
    const otlp_h2_proto_t *proto;
    int kind;
    nghttp2_session *sess;
    const otlp_h2_io_t *io;
    void *io_ctx;
    vg_conn_t *conn;            /* when bound to a vg_conn */
    vg_peer_t peer;
    otlp_stream_t *streams;
    size_t nstreams;
    otlp_stream_t *wq_head, *wq_tail;
    size_t reserved, budget;
    unsigned admitted;
    uint8_t *obuf;
    size_t olen, ocap;
    /* limits, ms */
    uint64_t req_timeout, ka_time, ka_timeout, max_idle, max_age, age_grace, ping_min;
    bool permit_without_stream;
    /* state */
    uint64_t created_ms, last_recv_ms, idle_since_ms, ping_sent_ms, goaway_ms, last_ping_ms, last_out_ms;
    int ping_strikes;
    bool reset_strikes, ping_out, goaway_sent, shutting, closed, in_recv, read_paused, age_goaway, seen_frame;
    bool freeing;
    bool ready;                 /* the peer sent something: output may go out (TLS handshake done) */
    char who[64];
    otlp_h2_t *prev, *next;
};

/* The peer for log lines: "10.0.0.7:51234", "unix pid 42" or "unknown peer". */
static const char *who(otlp_h2_t *h)
{
    if (h->peer.addr[0]) snprintf(h->who, sizeof h->who, "%s:%d", h->peer.addr, h->peer.port);
    else if (h->peer.family) snprintf(h->who, sizeof h->who, "unix pid %d", h->peer.pid);
    else snprintf(h->who, sizeof h->who, "unknown peer");
    return h->who;
}

static uint64_t ns_ms(int64_t ns) { return ns > 0 ? (uint64_t)(ns / 1000000) + (ns % 1000000 ? 1 : 0) : 0; }

otlp_recv_t *otlp_h2_recv(const otlp_h2_t *h) { return h->r; }
const vg_peer_t *otlp_h2_peer(const otlp_h2_t *h) { return &h->peer; }
otlp_stream_req_t *otlp_stream_req(otlp_stream_t *s) { return &s->req; }
int otlp_h2_closing(const otlp_h2_t *h) { return h->closed || h->shutting; }
otlp_h2_t *otlp_h2_next(const otlp_h2_t *h) { return h->next; }

/* ---- memory hooks for nghttp2 -------------------------------------------------- */

static void *m_malloc(size_t n, void *ud) { (void)ud; return vg_malloc(n); }
static void m_free(void *p, void *ud) { (void)ud; vg_free(p); }
static void *m_calloc(size_t n, size_t s, void *ud) { (void)ud; return vg_calloc(n, s); }
static void *m_realloc(void *p, size_t n, void *ud) { (void)ud; return vg_realloc(p, n); }

/* ---- output ---------------------------------------------------------------------- */

static void h2_close(otlp_h2_t *h, int abort_it)
{
    if (h->closed) return;
    h->closed = true;
    h->io->close(h->io_ctx, abort_it);
}

static int out_write(otlp_h2_t *h)
{
    if (!h->olen) return 0;
    int rc = h->io->write(h->io_ctx, h->obuf, h->olen);
    h->olen = 0;
    return rc;
}

static void flush(otlp_h2_t *h)
{
    if (h->closed || h->in_recv || h->freeing || !h->ready) return;
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(h->sess, &data);
        if (n < 0) {
            VG_DEBUG(h->r->c->id, "HTTP/2 send failed: %s", nghttp2_strerror((int)n));
            h->r->h2_errors++;
            h2_close(h, 1);
            return;
        }
        if (n == 0) break;
        if (h->olen + (size_t)n > h->ocap) {
            size_t nc = h->ocap ? h->ocap : 16384;
            while (nc < h->olen + (size_t)n) nc *= 2;
            uint8_t *p = vg_realloc(h->obuf, nc);
            if (!p) {
                h2_close(h, 1);
                return;
            }
            h->obuf = p;
            h->ocap = nc;
        }
        memcpy(h->obuf + h->olen, data, (size_t)n);
        h->olen += (size_t)n;
        if (h->olen >= OBUF_FLUSH && out_write(h) != 0) {
            h2_close(h, 1);
            return;
        }
    }
    if (out_write(h) != 0) {
        h2_close(h, 1);
        return;
    }
    if (h->ocap > 4 * OBUF_FLUSH) { /* do not keep a big buffer around */
        vg_free(h->obuf);
        h->obuf = NULL;
        h->ocap = 0;
    }
    if (!nghttp2_session_want_read(h->sess) && !nghttp2_session_want_write(h->sess)) {
        h2_close(h, 0);
        return;
    }
    size_t q = h->io->queued(h->io_ctx);
    if (q == 0) h->last_out_ms = otlp_now_ms(h->r);
    if (q > OUT_HIGH && !h->read_paused) {
        h->read_paused = true;
        h->io->read_enable(h->io_ctx, 0);
    }
}

void otlp_h2_written(otlp_h2_t *h)
{
    if (h->closed) return;
    h->last_out_ms = otlp_now_ms(h->r);
    if (h->read_paused && h->io->queued(h->io_ctx) <= OUT_HIGH / 2) {
        h->read_paused = false;
        h->io->read_enable(h->io_ctx, 1);
    }
}

/* ---- flow control and admission ---------------------------------------------------- */

static void give_back(otlp_h2_t *h, otlp_stream_t *s, bool stream_open)
{
    if (!s->unconsumed) return;
    if (stream_open) nghttp2_session_consume(h->sess, s->id, s->unconsumed);
    else nghttp2_session_consume_connection(h->sess, s->unconsumed);
    s->unconsumed = 0;
}

static size_t reservation(const otlp_stream_t *s) { return s->req.need ? s->req.need : s->req.limit; }

static void admit(otlp_h2_t *h, otlp_stream_t *s)
{
    s->admitted = true;
    s->reserved = reservation(s);
    h->reserved += s->reserved;
    h->admitted++;
    /* Its memory is reserved: let the client send it at full speed (the
     * stream window grows to the reservation, at most 16 MiB). */
    size_t w = s->reserved < ((size_t)16 << 20) ? s->reserved : ((size_t)16 << 20);
    if (w > IW) nghttp2_session_set_local_window_size(h->sess, NGHTTP2_FLAG_NONE, s->id, (int32_t)w);
    give_back(h, s, true);
}

static void wq_remove(otlp_h2_t *h, otlp_stream_t *s)
{
    if (!s->waiting) return;
    otlp_stream_t **pp = &h->wq_head, *prev = NULL;
    while (*pp && *pp != s) { prev = *pp; pp = &(*pp)->wnext; }
    if (*pp) {
        *pp = s->wnext;
        if (h->wq_tail == s) h->wq_tail = prev;
    }
    s->wnext = NULL;
    s->waiting = false;
}

static void admit_waiting(otlp_h2_t *h)
{
    while (h->wq_head) {
        otlp_stream_t *s = h->wq_head;
        if (h->admitted > 0 && h->reserved + reservation(s) > h->budget) break;
        wq_remove(h, s);
        admit(h, s);
    }
}

static void try_admit(otlp_h2_t *h, otlp_stream_t *s)
{
    if (s->admitted) return;
    if (h->admitted == 0 || h->reserved + reservation(s) <= h->budget) {
        wq_remove(h, s);
        admit(h, s);
        return;
    }
    if (!s->waiting) {
        s->waiting = true;
        s->wnext = NULL;
        if (h->wq_tail) h->wq_tail->wnext = s;
        else h->wq_head = s;
        h->wq_tail = s;
    }
}

/* The body is done with (answered, complete or the stream closed): free it,
 * give the window back, release the reservation. */
static void release(otlp_h2_t *h, otlp_stream_t *s, bool stream_open)
{
    give_back(h, s, stream_open);
    vg_free(s->buf);
    s->buf = NULL;
    s->len = s->cap = 0;
    wq_remove(h, s);
    if (s->admitted) {
        h->reserved -= s->reserved;
        h->admitted--;
        s->admitted = false;
        s->reserved = 0;
        admit_waiting(h);
    }
}

/* ---- answers --------------------------------------------------------------------------- */

static ssize_t resp_read(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    (void)ud;
    otlp_stream_t *s = src->ptr;
    size_t n = s->resp_len - s->resp_off;
    if (n > length) n = length;
    if (n) memcpy(buf, s->resp + s->resp_off, n);
    s->resp_off += n;
    if (s->resp_off == s->resp_len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (s->ntrl) {
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            if (nghttp2_submit_trailer(sess, id, s->trl, s->ntrl) != 0) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
    }
    return (ssize_t)n;
}

/* Copies nv pairs into one allocation. */
static nghttp2_nv *nv_copy(const nghttp2_nv *nv, size_t n)
{
    size_t bytes = n * sizeof *nv;
    for (size_t i = 0; i < n; i++) bytes += nv[i].namelen + nv[i].valuelen + 2;
    nghttp2_nv *out = vg_malloc(bytes ? bytes : 1);
    if (!out) return NULL;
    uint8_t *p = (uint8_t *)(out + n);
    for (size_t i = 0; i < n; i++) {
        out[i] = nv[i];
        out[i].name = p;
        memcpy(p, nv[i].name, nv[i].namelen);
        p[nv[i].namelen] = 0;
        p += nv[i].namelen + 1;
        out[i].value = p;
        memcpy(p, nv[i].value, nv[i].valuelen);
        p[nv[i].valuelen] = 0;
        p += nv[i].valuelen + 1;
        out[i].flags = NGHTTP2_NV_FLAG_NONE;
    }
    return out;
}

int otlp_h2_respond(otlp_h2_t *h, otlp_stream_t *s, const nghttp2_nv *hdrs, size_t nh, const void *body,
                    size_t len, const nghttp2_nv *trl, size_t nt)
{
    if (s->answered) return 0;
    s->answered = true;
    s->answered_ms = otlp_now_ms(h->r);
    s->early = nghttp2_session_get_stream_remote_close(h->sess, s->id) == 0;
    release(h, s, true);
    int rc;
    if (!len && nt) { /* Trailers-Only: one HEADERS frame with everything */
        nghttp2_nv all[16];
        size_t n = 0;
        for (size_t i = 0; i < nh && n < 16; i++) all[n++] = hdrs[i];
        for (size_t i = 0; i < nt && n < 16; i++) all[n++] = trl[i];
        rc = nghttp2_submit_response(h->sess, s->id, all, n, NULL);
    } else if (!len) {
        rc = nghttp2_submit_response(h->sess, s->id, hdrs, nh, NULL);
    } else {
        s->resp = vg_malloc(len);
        if (!s->resp) return VG_ENOMEM;
        memcpy(s->resp, body, len);
        s->resp_len = len;
        s->resp_off = 0;
        if (nt) {
            s->trl = nv_copy(trl, nt);
            if (!s->trl) return VG_ENOMEM;
            s->ntrl = nt;
        }
        nghttp2_data_provider dp = { .source.ptr = s, .read_callback = resp_read };
        rc = nghttp2_submit_response(h->sess, s->id, hdrs, nh, &dp);
    }
    if (rc != 0) {
        VG_DEBUG(h->r->c->id, "cannot answer HTTP/2 stream %d: %s", s->id, nghttp2_strerror(rc));
        nghttp2_submit_rst_stream(h->sess, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        return rc == NGHTTP2_ERR_NOMEM ? VG_ENOMEM : VG_EIO;
    }
    return 0;
}

/* ---- nghttp2 callbacks ------------------------------------------------------------------ */

static otlp_stream_t *stream_of(otlp_h2_t *h, int32_t id)
{
    return id > 0 ? nghttp2_session_get_stream_user_data(h->sess, id) : NULL;
}

static int on_begin_headers(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
    otlp_h2_t *h = ud;
    if (h->freeing || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    otlp_stream_t *s = vg_calloc(1, sizeof *s);
    if (!s) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    s->h = h;
    s->id = f->hd.stream_id;
    s->hd.content_length = -1;
    s->started_ms = otlp_now_ms(h->r);
    if (nghttp2_session_set_stream_user_data(sess, s->id, s) != 0) {
        vg_free(s);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    s->next = h->streams;
    if (h->streams) h->streams->prev = s;
    h->streams = s;
    h->nstreams++;
    return 0;
}

static void copy_hdr(char *dst, size_t cap, const uint8_t *v, size_t n, bool *too_long)
{
    if (n >= cap) {
        if (too_long) *too_long = true;
        n = cap - 1;
    }
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static int on_header(nghttp2_session *sess, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)sess;
    (void)flags;
    otlp_h2_t *h = ud;
    otlp_stream_t *s = stream_of(h, f->hd.stream_id);
    if (!s || h->freeing) return 0;
    s->hdr_bytes += namelen + valuelen + 32;
    if (s->hdr_bytes > MAX_HEADER_BYTES) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0; /* trailers */
#define IS(lit) (namelen == sizeof(lit) - 1 && memcmp(name, lit, namelen) == 0)
    if (IS(":method")) copy_hdr(s->hd.method, sizeof s->hd.method, value, valuelen, NULL);
    else if (IS(":path")) copy_hdr(s->hd.path, sizeof s->hd.path, value, valuelen, &s->hd.path_long);
    else if (IS("content-type")) copy_hdr(s->hd.ctype, sizeof s->hd.ctype, value, valuelen, NULL);
    else if (IS("grpc-timeout")) copy_hdr(s->hd.grpc_timeout, sizeof s->hd.grpc_timeout, value, valuelen, NULL);
    else if (h->kind == OTLP_PROTO_GRPC ? IS("grpc-encoding") : IS("content-encoding"))
        copy_hdr(s->hd.cenc, sizeof s->hd.cenc, value, valuelen, NULL);
    else if (IS("content-length")) {
        int64_t v = 0;
        for (size_t i = 0; i < valuelen && v < ((int64_t)1 << 52); i++) v = v * 10 + (value[i] - '0');
        s->hd.content_length = v;
    }
#undef IS
    return 0;
}

static void answer_error(otlp_h2_t *h, otlp_stream_t *s, int err, otlp_origin_t at, const char *msg)
{
    if (s->answered) return;
    /* A client that stalled is told to stop at once; others may finish
     * sending what they started (discarded) before the stream is reset. */
    s->rst_now = err == VG_ETIMEOUT;
    h->proto->on_error(h, s, err, at, msg);
    if (!s->answered) { /* the protocol could not answer: reset */
        s->answered = true;
        release(h, s, true);
        nghttp2_submit_rst_stream(h->sess, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    }
}

static void complete(otlp_h2_t *h, otlp_stream_t *s)
{
    if (s->answered || s->complete) return;
    s->complete = true;
    h->proto->on_request(h, s, s->buf ? s->buf : (const uint8_t *)"", s->len);
    if (!s->answered) answer_error(h, s, VG_ESTATE, OTLP_AT_BODY, "internal error: request not answered");
}

static void ping_received(otlp_h2_t *h)
{
    uint64_t now = otlp_now_ms(h->r);
    uint64_t last = h->last_ping_ms;
    bool first = last == 0;
    h->last_ping_ms = now;
    if (h->reset_strikes) {
        h->reset_strikes = false;
        h->ping_strikes = 0;
        return;
    }
    if (first) return;
    uint64_t min = (h->nstreams == 0 && !h->permit_without_stream) ? NO_STREAM_PING_MS : h->ping_min;
    if (now - last < min) h->ping_strikes++;
    if (h->ping_strikes > MAX_PING_STRIKES && !h->goaway_sent) {
        static const char dbg[] = "too_many_pings";
        VG_INFO(h->r->c->id, "closing connection from %s: too many pings", who(h));
        nghttp2_submit_goaway(h->sess, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->sess),
                              NGHTTP2_ENHANCE_YOUR_CALM, (const uint8_t *)dbg, sizeof dbg - 1);
        h->goaway_sent = true;
        h->shutting = true;
        h->goaway_ms = now;
        h->r->keepalive_closes++;
    }
}

static int on_frame_recv(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
    (void)sess;
    otlp_h2_t *h = ud;
    if (h->freeing) return 0;
    h->last_recv_ms = otlp_now_ms(h->r);
    h->ping_out = false; /* any frame shows the peer is alive */
    if (!h->seen_frame) {
        h->seen_frame = true;
        if (h->conn) vg_conn_set_idle_timeout(h->conn, 0); /* the tick takes over */
    }
    otlp_stream_t *s;
    switch (f->hd.type) {
    case NGHTTP2_HEADERS:
        s = stream_of(h, f->hd.stream_id);
        if (!s) break;
        if (f->headers.cat == NGHTTP2_HCAT_REQUEST) {
            if (h->proto->on_headers(h, s, &s->hd) != 0 && !s->answered)
                answer_error(h, s, VG_ESTATE, OTLP_AT_BODY, "internal error: request refused without an answer");
            if (!s->answered && !s->req.deadline_ms) s->req.deadline_ms = s->started_ms + h->req_timeout;
            if (!s->answered && s->req.need > IW) try_admit(h, s);
        }
        if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) complete(h, s);
        break;
    case NGHTTP2_DATA:
        s = stream_of(h, f->hd.stream_id);
        if (s && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) complete(h, s);
        break;
    case NGHTTP2_PING:
        if (!(f->hd.flags & NGHTTP2_FLAG_ACK)) ping_received(h);
        break;
    default:
        break;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *sess, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
    (void)flags;
    otlp_h2_t *h = ud;
    otlp_stream_t *s = h->freeing ? NULL : stream_of(h, id);
    if (!s) {
        nghttp2_session_consume_connection(sess, len);
        return 0;
    }
    if (s->answered || s->complete) {
        nghttp2_session_consume(sess, id, len);
        return 0;
    }
    if (len > s->req.limit - s->len) {
        nghttp2_session_consume(sess, id, len);
        char msg[160];
        snprintf(msg, sizeof msg, "request body over the limit of %zu bytes", s->req.limit);
        answer_error(h, s, VG_ETOOBIG, OTLP_AT_BODY, msg);
        return 0;
    }
    if (s->len + len > s->cap) {
        size_t nc = s->cap ? s->cap * 2 : (s->req.need && s->req.need <= s->req.limit ? s->req.need : 16384);
        while (nc < s->len + len) nc *= 2;
        if (nc > s->req.limit) nc = s->req.limit;
        uint8_t *p = vg_realloc(s->buf, nc);
        if (!p) {
            nghttp2_session_consume(sess, id, len);
            answer_error(h, s, VG_ENOMEM, OTLP_AT_BODY, "out of memory; retry later");
            return 0;
        }
        s->buf = p;
        s->cap = nc;
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    s->unconsumed += len;
    if (h->proto->on_data && h->proto->on_data(h, s, s->buf, s->len) != 0) {
        if (!s->answered) answer_error(h, s, VG_ESTATE, OTLP_AT_BODY, "internal error");
        return 0;
    }
    if (!s->admitted && ((s->req.need && s->req.need > IW) || s->unconsumed >= IW / 2)) try_admit(h, s);
    if (s->admitted) give_back(h, s, true);
    return 0;
}

static int on_frame_send(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
    otlp_h2_t *h = ud;
    if (h->freeing) return 0;
    if (f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) h->reset_strikes = true;
    if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        otlp_stream_t *s = stream_of(h, f->hd.stream_id);
        /* Answered a stalled client before it finished sending: tell it to stop. */
        if (s && s->early && s->rst_now && nghttp2_session_get_stream_remote_close(sess, s->id) == 0)
            nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
    }
    return 0;
}

static void stream_free(otlp_stream_t *s)
{
    vg_free(s->buf);
    vg_free(s->resp);
    vg_free(s->trl);
    vg_free(s);
}

static int on_stream_close(nghttp2_session *sess, int32_t id, uint32_t code, void *ud)
{
    (void)code;
    otlp_h2_t *h = ud;
    if (h->freeing) return 0;
    otlp_stream_t *s = stream_of(h, id);
    if (!s) return 0;
    release(h, s, false);
    nghttp2_session_set_stream_user_data(sess, id, NULL);
    if (s->prev) s->prev->next = s->next;
    else h->streams = s->next;
    if (s->next) s->next->prev = s->prev;
    h->nstreams--;
    if (h->nstreams == 0) h->idle_since_ms = otlp_now_ms(h->r);
    stream_free(s);
    return 0;
}

/* ---- session ------------------------------------------------------------------------------ */

otlp_h2_t *otlp_h2_new(otlp_recv_t *r, int kind, const otlp_h2_io_t *io, void *io_ctx, const vg_peer_t *peer)
{
    otlp_h2_t *h = vg_calloc(1, sizeof *h);
    if (!h) return NULL;
    h->r = r;
    h->kind = kind;
    h->proto = kind == OTLP_PROTO_GRPC ? &otlp_grpc_proto : &otlp_http_h2_proto;
    h->io = io;
    h->io_ctx = io_ctx;
    if (peer) h->peer = *peer;
    else h->peer.pid = h->peer.uid = h->peer.gid = -1;
    const otlp_cfg_t *cfg = r->cfg;
    int64_t streams;
    size_t limit;
    if (kind == OTLP_PROTO_GRPC) {
        const otlp_grpc_cfg_t *g = &cfg->protocols.grpc;
        const otlp_ka_server_cfg_t *ka = &g->keepalive.server_parameters;
        h->req_timeout = ns_ms(g->request_timeout);
        h->ka_time = ns_ms(ka->time);
        h->ka_timeout = ns_ms(ka->timeout);
        h->max_idle = ns_ms(ka->max_connection_idle);
        h->max_age = ns_ms(ka->max_connection_age);
        h->age_grace = ns_ms(ka->max_connection_age_grace);
        h->ping_min = ns_ms(g->keepalive.enforcement_policy.min_time);
        h->permit_without_stream = g->keepalive.enforcement_policy.permit_without_stream;
        streams = g->max_concurrent_streams;
        limit = r->grpc_limit + 5;
    } else {
        const otlp_http_cfg_t *t = &cfg->protocols.http;
        h->req_timeout = ns_ms(t->read_timeout);
        h->max_idle = ns_ms(t->idle_timeout);
        h->ping_min = 0;
        h->permit_without_stream = true;
        streams = t->max_concurrent_streams;
        limit = (size_t)t->max_request_body_size;
    }
    if (!h->req_timeout) h->req_timeout = 30000;
    if (streams <= 0) streams = DEFAULT_STREAMS;
    h->budget = limit > SIZE_MAX / 2 ? limit : 2 * limit;
    uint64_t conn_window = (uint64_t)streams * IW + h->budget;
    if (conn_window > 0x7fffffff) conn_window = 0x7fffffff;

    nghttp2_session_callbacks *cbs = NULL;
    nghttp2_option *opt = NULL;
    nghttp2_mem mem = { NULL, m_malloc, m_free, m_calloc, m_realloc };
    int rc = nghttp2_session_callbacks_new(&cbs);
    if (rc == 0) rc = nghttp2_option_new(&opt);
    if (rc == 0) {
        nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
        nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
        nghttp2_option_set_no_auto_window_update(opt, 1);
        nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
        rc = nghttp2_session_server_new3(&h->sess, cbs, h, opt, &mem);
    }
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    if (rc == 0) {
        nghttp2_settings_entry iv[] = {
            { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)streams },
            { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, IW },
            { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_BYTES },
        };
        rc = nghttp2_submit_settings(h->sess, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof *iv);
        if (rc == 0) rc = nghttp2_session_set_local_window_size(h->sess, NGHTTP2_FLAG_NONE, 0, (int32_t)conn_window);
    }
    if (rc != 0) {
        if (h->sess) nghttp2_session_del(h->sess);
        vg_free(h);
        return NULL;
    }
    uint64_t now = otlp_now_ms(r);
    h->created_ms = h->last_recv_ms = h->idle_since_ms = h->last_out_ms = now;
    h->next = r->h2s;
    if (r->h2s) r->h2s->prev = h;
    r->h2s = h;
    r->h2_live++;
    r->h2_conns[kind]++;
    return h;
}

static void http1_on_grpc_port(otlp_h2_t *h, const uint8_t *data, size_t len)
{
    /* An HTTP/1.x client on the gRPC port: tell it in its own language. */
    size_t i = 0;
    while (i < len && i < 8 && data[i] >= 'A' && data[i] <= 'Z') i++;
    if (i == 0 || i >= len || data[i] != ' ') return;
    static const char msg[] = "HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Type: text/plain\r\n"
                              "Content-Length: 49\r\nConnection: close\r\n\r\n"
                              "this endpoint speaks gRPC over HTTP/2 (h2, h2c)\r\n";
    h->io->write(h->io_ctx, (const uint8_t *)msg, sizeof msg - 1);
}

void otlp_h2_feed(otlp_h2_t *h, const uint8_t *data, size_t len)
{
    if (h->closed || h->freeing || !len) return;
    h->ready = true;
    h->in_recv = true;
    ssize_t n = nghttp2_session_mem_recv(h->sess, data, len);
    h->in_recv = false;
    if (n < 0) {
        h->r->h2_errors++;
        VG_DEBUG(h->r->c->id, "HTTP/2 session with %s ended: %s", who(h),
                 nghttp2_strerror((int)n));
        if (n == NGHTTP2_ERR_BAD_CLIENT_MAGIC && h->kind == OTLP_PROTO_GRPC) {
            http1_on_grpc_port(h, data, len);
            h2_close(h, 0);
            return;
        }
        h2_close(h, 1);
        return;
    }
    flush(h);
}

void otlp_h2_shutdown(otlp_h2_t *h)
{
    if (h->closed || h->shutting) {
        h->shutting = true;
        return;
    }
    h->shutting = true;
    h->goaway_ms = otlp_now_ms(h->r);
    if (!h->goaway_sent) {
        nghttp2_submit_goaway(h->sess, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->sess),
                              NGHTTP2_NO_ERROR, NULL, 0);
        h->goaway_sent = true;
    }
    flush(h);
}

void otlp_h2_tick(otlp_h2_t *h, uint64_t now)
{
    if (h->closed) return;
    uint64_t drain = h->r->shutting ? h->r->drain_ms : DRAIN_MS;
    if (h->shutting && h->goaway_sent && now - h->goaway_ms >= drain && (h->r->shutting || !h->age_goaway)) {
        h2_close(h, 1);
        return;
    }
    for (otlp_stream_t *s = h->streams, *next; s; s = next) {
        next = s->next; /* answering never closes the stream synchronously */
        if (s->answered) {
            /* Answered early; the client still sends (discarded). Not forever. */
            if (s->early && !s->rst_now && now - s->answered_ms >= h->req_timeout &&
                nghttp2_session_get_stream_remote_close(h->sess, s->id) == 0) {
                s->rst_now = true;
                VG_DEBUG(h->r->c->id, "resetting stream %d answered early", s->id);
                nghttp2_submit_rst_stream(h->sess, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
            }
            continue;
        }
        if (!s->req.deadline_ms || now < s->req.deadline_ms) continue;
        h->r->stream_timeouts++;
        char msg[128];
        snprintf(msg, sizeof msg, "request not complete within %llu ms", (unsigned long long)(now - s->started_ms));
        answer_error(h, s, VG_ETIMEOUT, OTLP_AT_BODY, msg);
    }
    if (h->ka_time && !h->ping_out && now - h->last_recv_ms >= h->ka_time) {
        if (nghttp2_submit_ping(h->sess, NGHTTP2_FLAG_NONE, NULL) == 0) {
            h->ping_out = true;
            h->ping_sent_ms = now;
        }
    }
    if (h->ping_out && h->ka_timeout && now - h->ping_sent_ms >= h->ka_timeout) {
        h->r->keepalive_closes++;
        VG_DEBUG(h->r->c->id, "keepalive ping to %s not answered; closing", who(h));
        h2_close(h, 1);
        return;
    }
    if (h->max_idle && !h->goaway_sent && h->nstreams == 0 && now - h->idle_since_ms >= h->max_idle) {
        h->r->keepalive_closes++;
        otlp_h2_shutdown(h);
        return;
    }
    if (h->max_age && !h->goaway_sent && now - h->created_ms >= h->max_age) {
        h->age_goaway = true;
        otlp_h2_shutdown(h);
        h->shutting = true;
    }
    if (h->age_goaway && h->age_grace && now - h->goaway_ms >= h->age_grace) {
        h2_close(h, 1);
        return;
    }
    if (h->io->queued(h->io_ctx) > 0 && now - h->last_out_ms >= h->req_timeout) {
        VG_DEBUG(h->r->c->id, "%s does not read its answers; closing", who(h));
        h2_close(h, 1);
        return;
    }
    flush(h);
}

void otlp_h2_free(otlp_h2_t *h)
{
    if (!h) return;
    h->freeing = true;
    h->closed = true;
    if (h->sess) nghttp2_session_del(h->sess);
    for (otlp_stream_t *s = h->streams, *next; s; s = next) {
        next = s->next;
        stream_free(s);
    }
    otlp_recv_t *r = h->r;
    if (h->prev) h->prev->next = h->next;
    else r->h2s = h->next;
    if (h->next) h->next->prev = h->prev;
    r->h2_live--;
    vg_free(h->obuf);
    vg_free(h);
    if (r->loop) otlp_recv_maybe_done(r);
}

/* ---- binding to a vg_conn --------------------------------------------------------------- */

static void conn_written(vg_conn_t *c, int status, void *arg)
{
    (void)c;
    (void)status;
    otlp_h2_written(arg);
}

static int io_write(void *io, const uint8_t *data, size_t len)
{
    otlp_h2_t *h = io;
    return vg_conn_write(h->conn, data, len, conn_written, h);
}

static size_t io_queued(void *io) { return vg_conn_write_queued(((otlp_h2_t *)io)->conn); }

static void io_read_enable(void *io, int on)
{
    otlp_h2_t *h = io;
    if (on) vg_conn_read_start(h->conn);
    else vg_conn_read_stop(h->conn);
}

static void io_close(void *io, int abort_it)
{
    otlp_h2_t *h = io;
    if (abort_it) vg_conn_abort(h->conn);
    else vg_conn_close(h->conn);
}

static const otlp_h2_io_t conn_io = { io_write, io_queued, io_read_enable, io_close };

static void conn_read(vg_conn_t *c, const char *data, size_t len, void *arg)
{
    (void)c;
    otlp_h2_feed(arg, (const uint8_t *)data, len);
}

static void conn_end(vg_conn_t *c, int err, void *arg)
{
    (void)c;
    otlp_h2_t *h = arg;
    if (err == VG_ETIMEOUT) VG_DEBUG(h->r->c->id, "connection from %s idle; closed", who(h));
    h->closed = true; /* the conn closes itself */
}

static void conn_closed(vg_conn_t *c, void *arg)
{
    (void)c;
    otlp_h2_free(arg);
}

static const vg_conn_handler_t conn_handler = { conn_read, conn_end, conn_closed };

int otlp_h2_attach(otlp_recv_t *r, int kind, vg_conn_t *conn, const char *data, size_t len)
{
    otlp_h2_t *h = otlp_h2_new(r, kind, &conn_io, NULL, vg_conn_peer(conn));
    if (!h) {
        vg_conn_abort(conn);
        return VG_ENOMEM;
    }
    h->io_ctx = h;
    h->conn = conn;
    uint64_t pre = h->req_timeout; /* until the first frame: the client must get going */
    if (data) {
        vg_conn_set_handler(conn, &conn_handler, h);
        vg_conn_set_idle_timeout(conn, pre);
        otlp_h2_feed(h, (const uint8_t *)data, len);
        return 0;
    }
    if (vg_conn_start(conn, &conn_handler, h) != 0) {
        vg_conn_abort(conn); /* on_close frees h */
        return VG_EIO;
    }
    /* Our SETTINGS go out with the first answer to the client's preface
     * (with TLS nothing can be written before the handshake anyway). */
    vg_conn_set_idle_timeout(conn, pre);
    return 0;
}
