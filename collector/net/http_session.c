/* HTTP/1.1 engine of one connection: http-parser callbacks, limits, request
 * objects, in-order dispatch and answers. See http_session.h / http_server.h.
 *
 * Flow: bytes are parsed straight from the caller's buffer when nothing is in
 * the way; when a request is with the handler (or the output queue is full),
 * input is kept in `in` unparsed. The parser is paused in on_message_complete
 * whenever parsing must stop, and what it did not consume is kept in `in`. */
#include "net/http_session.h"

#include "error.h"
#include "log.h"
#include "mem.h"

#include <http_parser.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24
#define MAX_HEADERS 128
#define BODY_PREALLOC_MAX (1024 * 1024)
#define IN_KEEP_MAX (64 * 1024) /* larger input buffers are released when empty */

enum { M_PREFACE = 0, M_H1, M_DONE };
enum { H_NONE = 0, H_FIELD, H_VALUE };

typedef struct {
    size_t name, value; /* offsets into hbuf of NUL-terminated strings */
} hdr_t;

struct vg_http_request {
    vg_http_session_t *s;  /* NULL once answered or cancelled */
    int method_id;
    int http_minor;
    int keep_alive;
    int close;             /* the connection closes after the answer */
    int cancelled;
    int url_done;
    int hstate;
    int headers_done;
    char *hbuf;            /* url, header names and values, path, query */
    size_t hlen, hcap;
    size_t hbytes;         /* header-section bytes counted against the limit */
    size_t url_off, url_len;
    size_t path_off, query_off;
    size_t trailer_bytes;
    hdr_t *hdrs;
    size_t nhdrs, hdrs_cap;
    char *body;
    size_t body_len, body_cap, body_expect;
    vg_peer_t peer;
    void *user;
};

struct vg_http_session {
    const vg_http_session_cfg_t *cfg;
    const vg_http_io_t *io;
    void *io_ctx;
    vg_peer_t peer;
    http_parser parser;
    int mode;
    vg_http_request_t *cur;     /* being received */
    vg_http_request_t *pending; /* with the handler */
    char *in;                   /* received, not yet parsed */
    size_t in_off, in_len, in_cap;
    int in_parse;
    int dispatching;
    int draining;
    int output_blocked;
    int err_status;             /* answer for a failure found in a callback */
    int read_on;
};

#define STAT(s, f) do { if ((s)->cfg->stats) (s)->cfg->stats->f++; } while (0)

static const char empty[1] = "";

/* ---- requests ---------------------------------------------------------------- */

static vg_http_request_t *req_new(vg_http_session_t *s)
{
    vg_http_request_t *r = vg_calloc(1, sizeof *r);
    if (!r) return NULL;
    r->s = s;
    r->peer = s->peer;
    return r;
}

static void req_free(vg_http_request_t *r)
{
    if (!r) return;
    vg_free(r->hbuf);
    vg_free(r->hdrs);
    vg_free(r->body);
    vg_free(r);
}

static int hb_reserve(vg_http_request_t *r, size_t n)
{
    if (r->hlen + n <= r->hcap) return 0;
    size_t cap = r->hcap ? r->hcap * 2 : 512;
    while (cap < r->hlen + n) cap *= 2;
    char *p = vg_realloc(r->hbuf, cap);
    if (!p) return -1;
    r->hbuf = p;
    r->hcap = cap;
    return 0;
}

/* Appends header-section bytes, counted against max_header_size (the NULs
 * and the path/query copies are not counted). */
static int hb_append(vg_http_session_t *s, vg_http_request_t *r, const char *at, size_t n, int status)
{
    if (n > s->cfg->max_header_size || r->hbytes + n > s->cfg->max_header_size) {
        s->err_status = status;
        return -1;
    }
    if (hb_reserve(r, n + 1) != 0) {
        s->err_status = 500;
        return -1;
    }
    memcpy(r->hbuf + r->hlen, at, n);
    r->hlen += n;
    r->hbytes += n;
    return 0;
}

static int hb_nul(vg_http_session_t *s, vg_http_request_t *r)
{
    if (hb_reserve(r, 1) != 0) {
        s->err_status = 500;
        return -1;
    }
    r->hbuf[r->hlen++] = '\0';
    return 0;
}

static int end_url(vg_http_session_t *s, vg_http_request_t *r)
{
    if (r->url_done) return 0;
    if (hb_nul(s, r) != 0) return -1;
    r->url_done = 1;
    return 0;
}

static int end_value(vg_http_session_t *s, vg_http_request_t *r)
{
    size_t v = r->hdrs[r->nhdrs - 1].value;
    while (r->hlen > v && (r->hbuf[r->hlen - 1] == ' ' || r->hbuf[r->hlen - 1] == '\t')) r->hlen--;
    return hb_nul(s, r);
}

const char *vg_http_request_method(const vg_http_request_t *r)
{
    return http_method_str((enum http_method)r->method_id);
}
const char *vg_http_request_path(const vg_http_request_t *r)
{
    return r->headers_done ? r->hbuf + r->path_off : "/";
}
const char *vg_http_request_query(const vg_http_request_t *r)
{
    return r->headers_done ? r->hbuf + r->query_off : empty;
}

const char *vg_http_request_header(const vg_http_request_t *r, const char *name)
{
    if (!r || !name) return NULL;
    for (size_t i = 0; i < r->nhdrs; i++)
        if (strcasecmp(r->hbuf + r->hdrs[i].name, name) == 0) return r->hbuf + r->hdrs[i].value;
    return NULL;
}

size_t vg_http_request_header_count(const vg_http_request_t *r) { return r->nhdrs; }

int vg_http_request_header_at(const vg_http_request_t *r, size_t i, const char **name, const char **value)
{
    if (!r || i >= r->nhdrs) return VG_ENOTFOUND;
    if (name) *name = r->hbuf + r->hdrs[i].name;
    if (value) *value = r->hbuf + r->hdrs[i].value;
    return 0;
}

const char *vg_http_request_body(const vg_http_request_t *r, size_t *len)
{
    if (len) *len = r->body_len;
    return r->body && r->body_len ? r->body : empty;
}

char *vg_http_request_take_body(vg_http_request_t *r, size_t *len)
{
    char *b = r->body_len ? r->body : NULL;
    if (len) *len = r->body_len;
    if (!b) vg_free(r->body);
    r->body = NULL;
    r->body_len = r->body_cap = 0;
    return b;
}

const vg_peer_t *vg_http_request_peer(const vg_http_request_t *r) { return &r->peer; }
int vg_http_request_version_minor(const vg_http_request_t *r) { return r->http_minor; }
int vg_http_request_cancelled(const vg_http_request_t *r) { return r->cancelled; }
void vg_http_request_set_user(vg_http_request_t *r, void *user) { r->user = user; }
void *vg_http_request_user(const vg_http_request_t *r) { return r->user; }

/* ---- output ------------------------------------------------------------------ */

static const char *reason(int status)
{
    const char *r = http_status_str((enum http_status)status);
    if (r && r[0] != '<') return r;
    return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Client Error" : "Server Error";
}

/* Stops the session for good and asks the io layer to close. */
static void shut(vg_http_session_t *s)
{
    if (s->mode == M_DONE) return;
    s->mode = M_DONE;
    s->io->timer(s->io_ctx, 0);
    req_free(s->cur);
    s->cur = NULL;
    s->io->close(s->io_ctx);
}

static void send_error(vg_http_session_t *s, int status)
{
    char buf[256];
    const char *why = reason(status);
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s\n",
                     status, why, strlen(why) + 1, why);
    uv_buf_t b = uv_buf_init(buf, (unsigned)n);
    if (s->io->write(s->io_ctx, &b, 1) == 0) STAT(s, responses);
    if (status == 408) STAT(s, timeouts);
    else if (status == 413 || status == 414 || status == 431) STAT(s, too_large);
    else if (status != 500) STAT(s, bad_requests);
}

/* A protocol failure: answer (never ahead of an outstanding answer) and close. */
static void fail(vg_http_session_t *s, int status)
{
    if (s->mode == M_DONE) return;
    if (!s->pending) send_error(s, status);
    shut(s);
}

static int can_parse(const vg_http_session_t *s)
{
    return s->mode != M_DONE && !s->pending && !s->output_blocked && !s->draining;
}

static void update_read(vg_http_session_t *s)
{
    int want = s->mode != M_DONE && s->in_len - s->in_off < s->cfg->max_pipeline_buffer;
    if (want != s->read_on) {
        s->read_on = want;
        s->io->read_enable(s->io_ctx, want);
    }
}

int vg_http_respond(vg_http_request_t *req, int status, const char *content_type,
                    const char *extra_headers, const void *body, size_t len)
{
    if (!req) return VG_EINVAL;
    vg_http_session_t *s = req->s;
    if (!s || s->pending != req || s->mode == M_DONE) {
        if (s && s->pending == req) {
            s->pending = NULL;
            s->io->busy(s->io_ctx, 0);
        }
        req_free(req);
        return VG_ESHUTDOWN;
    }
    s->pending = NULL;
    req->s = NULL;
    int rc = 0;
    if (status < 200 || status > 599 ||
        (content_type && strpbrk(content_type, "\r\n"))) {
        status = 500;
        content_type = NULL;
        extra_headers = NULL;
        body = NULL;
        rc = VG_EINVAL;
    }
    if (!body) len = 0;
    int close = req->close || s->draining;
    int nobody = req->method_id == HTTP_HEAD || status == 204 || status == 304;
    size_t elen = extra_headers ? strlen(extra_headers) : 0;
    size_t cap = 192 + (content_type ? strlen(content_type) : 0) + elen;
    char *head = vg_malloc(cap);
    int w = VG_ENOMEM;
    if (head) {
        size_t n = (size_t)snprintf(head, cap, "HTTP/1.1 %d %s\r\n", status, reason(status));
        if (content_type) n += (size_t)snprintf(head + n, cap - n, "Content-Type: %s\r\n", content_type);
        if (status != 204 && status != 304)
            n += (size_t)snprintf(head + n, cap - n, "Content-Length: %zu\r\n", len);
        if (close) n += (size_t)snprintf(head + n, cap - n, "Connection: close\r\n");
        else if (req->http_minor == 0) n += (size_t)snprintf(head + n, cap - n, "Connection: keep-alive\r\n");
        if (elen) {
            memcpy(head + n, extra_headers, elen);
            n += elen;
            if (elen < 2 || memcmp(extra_headers + elen - 2, "\r\n", 2) != 0) {
                memcpy(head + n, "\r\n", 2);
                n += 2;
            }
        }
        memcpy(head + n, "\r\n", 2);
        n += 2;
        uv_buf_t bufs[2] = { uv_buf_init(head, (unsigned)n), uv_buf_init((char *)body, (unsigned)len) };
        w = s->io->write(s->io_ctx, bufs, (!nobody && len) ? 2 : 1);
        vg_free(head);
    }
    req_free(req);
    s->io->busy(s->io_ctx, 0);
    if (w != 0) {
        shut(s);
        return w == VG_ESHUTDOWN ? VG_ESHUTDOWN : (w == VG_ENOMEM ? VG_ENOMEM : VG_EIO);
    }
    STAT(s, responses);
    if (close) {
        shut(s);
        return rc;
    }
    if (s->io->queued(s->io_ctx) > s->cfg->max_output_buffer) s->output_blocked = 1;
    if (!s->dispatching) s->io->defer(s->io_ctx);
    return rc;
}

/* ---- parser callbacks ---------------------------------------------------------- */

static int on_message_begin(http_parser *p)
{
    vg_http_session_t *s = p->data;
    req_free(s->cur);
    s->cur = req_new(s);
    if (!s->cur) {
        s->err_status = 500;
        return -1;
    }
    s->io->timer(s->io_ctx, s->cfg->request_timeout_ms);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    vg_http_session_t *s = p->data;
    vg_http_request_t *r = s->cur;
    if (r->url_len == 0) r->url_off = r->hlen;
    if (hb_append(s, r, at, len, 414) != 0) return -1;
    r->url_len += len;
    if (r->url_len > UINT16_MAX) { /* http_parser_parse_url offsets are 16-bit */
        s->err_status = 414;
        return -1;
    }
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    vg_http_session_t *s = p->data;
    vg_http_request_t *r = s->cur;
    if (r->headers_done) { /* trailers: counted, not kept */
        r->trailer_bytes += len;
        if (r->trailer_bytes > s->cfg->max_header_size) {
            s->err_status = 431;
            return -1;
        }
        return 0;
    }
    if (r->hstate != H_FIELD) {
        if (r->hstate == H_VALUE && end_value(s, r) != 0) return -1;
        if (end_url(s, r) != 0) return -1;
        if (r->nhdrs == MAX_HEADERS) {
            s->err_status = 431;
            return -1;
        }
        if (r->nhdrs == r->hdrs_cap) {
            size_t cap = r->hdrs_cap ? r->hdrs_cap * 2 : 16;
            hdr_t *h = vg_realloc(r->hdrs, cap * sizeof *h);
            if (!h) {
                s->err_status = 500;
                return -1;
            }
            r->hdrs = h;
            r->hdrs_cap = cap;
        }
        r->hdrs[r->nhdrs].name = r->hlen;
        r->hdrs[r->nhdrs].value = r->hlen;
        r->nhdrs++;
        r->hstate = H_FIELD;
    }
    return hb_append(s, r, at, len, 431);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    vg_http_session_t *s = p->data;
    vg_http_request_t *r = s->cur;
    if (r->headers_done) {
        r->trailer_bytes += len;
        if (r->trailer_bytes > s->cfg->max_header_size) {
            s->err_status = 431;
            return -1;
        }
        return 0;
    }
    if (r->hstate == H_NONE) return 0; /* cannot happen: a value follows a field */
    if (r->hstate == H_FIELD) {
        if (hb_nul(s, r) != 0) return -1;
        r->hdrs[r->nhdrs - 1].value = r->hlen;
        r->hstate = H_VALUE;
    }
    return hb_append(s, r, at, len, 431);
}

/* Appends a NUL-terminated copy of hbuf[off, off+len) (or of `lit` when not
 * NULL) and stores its offset in *out. */
static int copy_part(vg_http_session_t *s, vg_http_request_t *r, const char *lit, size_t off, size_t len,
                     size_t *out)
{
    if (hb_reserve(r, len + 1) != 0) {
        s->err_status = 500;
        return -1;
    }
    *out = r->hlen;
    memmove(r->hbuf + r->hlen, lit ? lit : r->hbuf + off, len);
    r->hlen += len;
    r->hbuf[r->hlen++] = '\0';
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    vg_http_session_t *s = p->data;
    vg_http_request_t *r = s->cur;
    if (end_url(s, r) != 0) return -1;
    if (r->hstate == H_FIELD) { /* a name without value (not produced by http-parser) */
        if (hb_nul(s, r) != 0) return -1;
        r->hdrs[r->nhdrs - 1].value = r->hlen - 1;
    } else if (r->hstate == H_VALUE && end_value(s, r) != 0) {
        return -1;
    }
    r->hstate = H_NONE;
    r->method_id = p->method;
    r->http_minor = p->http_minor;
    r->keep_alive = http_should_keep_alive(p);
    if (p->http_major != 1) {
        s->err_status = 505;
        return -1;
    }

    struct http_parser_url u;
    http_parser_url_init(&u);
    if (r->url_len == 0 ||
        http_parser_parse_url(r->hbuf + r->url_off, r->url_len, p->method == HTTP_CONNECT, &u) != 0) {
        s->err_status = 400;
        return -1;
    }
    int rc;
    if (p->method == HTTP_CONNECT)
        rc = copy_part(s, r, NULL, r->url_off, r->url_len, &r->path_off);
    else if (u.field_set & (1 << UF_PATH))
        rc = copy_part(s, r, NULL, r->url_off + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len,
                       &r->path_off);
    else
        rc = copy_part(s, r, "/", 0, 1, &r->path_off);
    if (rc != 0) return -1;
    if (u.field_set & (1 << UF_QUERY))
        rc = copy_part(s, r, NULL, r->url_off + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len,
                       &r->query_off);
    else
        rc = copy_part(s, r, "", 0, 0, &r->query_off);
    if (rc != 0) return -1;
    r->headers_done = 1;

    int chunked = (p->flags & F_CHUNKED) != 0;
    uint64_t cl = p->content_length;
    int has_cl = !chunked && cl != ULLONG_MAX && cl > 0;
    if (has_cl) {
        if (cl > s->cfg->max_request_body_size) {
            s->err_status = 413;
            return -1;
        }
        r->body_expect = (size_t)cl;
        size_t pre = r->body_expect < BODY_PREALLOC_MAX ? r->body_expect : BODY_PREALLOC_MAX;
        r->body = vg_malloc(pre);
        if (!r->body) {
            s->err_status = 500;
            return -1;
        }
        r->body_cap = pre;
    }
    const char *expect = vg_http_request_header(r, "expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && r->http_minor >= 1 && (has_cl || chunked)) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        uv_buf_t b = uv_buf_init((char *)cont, sizeof cont - 1);
        if (s->io->write(s->io_ctx, &b, 1) != 0) {
            s->err_status = 500;
            return -1;
        }
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    vg_http_session_t *s = p->data;
    vg_http_request_t *r = s->cur;
    size_t max = s->cfg->max_request_body_size;
    if (len > max || r->body_len > max - len) {
        s->err_status = 413;
        return -1;
    }
    if (r->body_len + len > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + len) cap = cap > max / 2 ? max : cap * 2;
        if (r->body_expect && cap > r->body_expect && r->body_len + len <= r->body_expect) cap = r->body_expect;
        char *b = vg_realloc(r->body, cap);
        if (!b) {
            s->err_status = 500;
            return -1;
        }
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    vg_http_session_t *s = p->data;
    vg_http_request_t *r = s->cur;
    s->cur = NULL;
    s->io->timer(s->io_ctx, 0);
    if (!r->keep_alive || p->method == HTTP_CONNECT || s->draining) r->close = 1;
    s->pending = r;
    STAT(s, requests);
    s->io->busy(s->io_ctx, 1);
    s->dispatching = 1;
    s->cfg->on_request(r, s->cfg->arg);
    s->dispatching = 0;
    if (!can_parse(s)) http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- input --------------------------------------------------------------------- */

/* `at` is the byte http-parser stopped at. An unknown method token (letters)
 * is 501; binary noise where a method should be (a TLS hello) is just 400. */
static int status_for(vg_http_session_t *s, enum http_errno e, int at)
{
    if (s->err_status) return s->err_status;
    switch (e) {
    case HPE_HEADER_OVERFLOW: return 431;
    case HPE_INVALID_METHOD: return at >= 'A' && at <= 'Z' ? 501 : 400;
    default: return 400;
    }
}

static void handoff_h2(vg_http_session_t *s, const char *data, size_t len)
{
    if (!s->cfg->h2_enabled || !s->io->h2) {
        fail(s, 505);
        return;
    }
    s->mode = M_DONE;
    s->io->timer(s->io_ctx, 0);
    STAT(s, h2_handoffs);
    s->io->h2(s->io_ctx, data, len);
}

/* Parses from data; returns how much was consumed (all of it once the session
 * is done). Stops early when parsing must wait. */
static size_t consume(vg_http_session_t *s, const char *data, size_t len)
{
    if (s->mode == M_PREFACE) {
        size_t n = len < H2_PREFACE_LEN ? len : H2_PREFACE_LEN;
        if (memcmp(data, H2_PREFACE, n) == 0) {
            if (n < H2_PREFACE_LEN) return 0; /* undecided: wait for more */
            handoff_h2(s, data, len);
            return len;
        }
        s->mode = M_H1;
    }
    s->in_parse = 1;
    size_t n = http_parser_execute(&s->parser, &settings, data, len);
    s->in_parse = 0;
    enum http_errno e = HTTP_PARSER_ERRNO(&s->parser);
    if (e == HPE_PAUSED) {
        http_parser_pause(&s->parser, 0);
        return n;
    }
    if (e != HPE_OK) {
        int st = status_for(s, e, n < len ? (unsigned char)data[n] : -1);
        VG_DEBUG("http", "bad request from %s: %s -> %d", s->peer.addr, http_errno_name(e), st);
        fail(s, st);
        return len;
    }
    if (s->mode == M_DONE) return len;
    if (n < len && !s->parser.upgrade) { /* http-parser stopped without saying why */
        fail(s, 400);
        return len;
    }
    return n; /* an Upgrade request ended early: the rest is parsed as HTTP/1.1 */
}

static int in_append(vg_http_session_t *s, const char *data, size_t len)
{
    if (s->in_off == s->in_len) s->in_off = s->in_len = 0;
    if (s->in_len + len > s->in_cap && s->in_off > 0) {
        memmove(s->in, s->in + s->in_off, s->in_len - s->in_off);
        s->in_len -= s->in_off;
        s->in_off = 0;
    }
    if (s->in_len + len > s->in_cap) {
        size_t cap = s->in_cap ? s->in_cap : 4096;
        while (cap < s->in_len + len) cap *= 2;
        char *p = vg_realloc(s->in, cap);
        if (!p) return VG_ENOMEM;
        s->in = p;
        s->in_cap = cap;
    }
    memcpy(s->in + s->in_len, data, len);
    s->in_len += len;
    return 0;
}

/* Parses buffered input as far as allowed. */
static void run(vg_http_session_t *s)
{
    while (!s->in_parse && can_parse(s) && s->in_off < s->in_len) {
        size_t n = consume(s, s->in + s->in_off, s->in_len - s->in_off);
        if (s->mode == M_DONE) {
            s->in_off = s->in_len = 0;
            break;
        }
        s->in_off += n;
        if (n == 0) break;
    }
    if (s->in_off == s->in_len) {
        s->in_off = s->in_len = 0;
        if (s->in_cap > IN_KEEP_MAX) {
            vg_free(s->in);
            s->in = NULL;
            s->in_cap = 0;
        }
    }
    update_read(s);
}

void vg_http_session_feed(vg_http_session_t *s, const char *data, size_t len)
{
    if (!s || s->mode == M_DONE || len == 0 || s->in_parse) return;
    if (s->in_off < s->in_len || !can_parse(s)) {
        if (in_append(s, data, len) != 0) {
            fail(s, 500);
            return;
        }
        run(s);
        return;
    }
    size_t n = consume(s, data, len);
    if (s->mode != M_DONE && n < len && in_append(s, data + n, len - n) != 0) {
        fail(s, 500);
        return;
    }
    run(s);
}

void vg_http_session_resume(vg_http_session_t *s)
{
    if (!s || s->mode == M_DONE || s->in_parse) return;
    if (s->output_blocked && s->io->queued(s->io_ctx) <= s->cfg->max_output_buffer) s->output_blocked = 0;
    run(s);
}

void vg_http_session_timeout(vg_http_session_t *s)
{
    if (!s || s->mode == M_DONE || !s->cur || s->pending) return;
    VG_DEBUG("http", "request from %s timed out", s->peer.addr);
    fail(s, 408);
}

void vg_http_session_drain(vg_http_session_t *s)
{
    if (!s || s->mode == M_DONE) return;
    s->draining = 1;
    if (!s->pending) shut(s);
}

int vg_http_session_done(const vg_http_session_t *s) { return s->mode == M_DONE; }

void vg_http_session_cfg_defaults(vg_http_session_cfg_t *c)
{
    if (!c->max_request_body_size) c->max_request_body_size = 20u * 1024 * 1024;
    if (!c->max_header_size) c->max_header_size = 64 * 1024;
    if (!c->request_timeout_ms) c->request_timeout_ms = 30000;
    if (!c->max_pipeline_buffer) c->max_pipeline_buffer = 64 * 1024;
    if (!c->max_output_buffer) c->max_output_buffer = 1024 * 1024;
}

int vg_http_session_new(const vg_http_session_cfg_t *cfg, const vg_http_io_t *io, void *io_ctx,
                        const vg_peer_t *peer, vg_http_session_t **out)
{
    if (!cfg || !io || !out || !cfg->on_request) return VG_EINVAL;
    vg_http_session_t *s = vg_calloc(1, sizeof *s);
    if (!s) return VG_ENOMEM;
    s->cfg = cfg;
    s->io = io;
    s->io_ctx = io_ctx;
    if (peer) s->peer = *peer;
    else s->peer.pid = s->peer.uid = s->peer.gid = -1;
    http_parser_init(&s->parser, HTTP_REQUEST);
    s->parser.data = s;
    s->read_on = 1;
    *out = s;
    return 0;
}

void vg_http_session_free(vg_http_session_t *s)
{
    if (!s) return;
    vg_http_request_t *r = s->pending;
    s->pending = NULL;
    s->mode = M_DONE;
    req_free(s->cur);
    s->cur = NULL;
    vg_free(s->in);
    s->in = NULL;
    if (r) {
        r->s = NULL;
        r->cancelled = 1;
        STAT(s, cancelled);
        if (s->cfg->on_cancel) s->cfg->on_cancel(r, s->cfg->arg);
    }
    vg_free(s);
}
