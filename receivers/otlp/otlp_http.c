/* OTLP/HTTP: POST <traces|metrics|logs>_url_path with application/x-protobuf
 * or application/json, optionally Content-Encoding gzip, zstd or deflate; the
 * answer is the Export*ServiceResponse in the request's content type, or on
 * failure a google.rpc.Status in that type (text/plain for 404, 405 and 415,
 * where the type is unknown or beside the point), with Retry-After when the
 * client should retry (otlp_status.c decides).
 *
 * HTTP/1.1 (keep-alive, pipelining) runs on collector/net/http_server.h; a
 * connection that starts with the HTTP/2 preface (h2c prior knowledge, or
 * TLS with ALPN h2) is handed to otlp_h2.c and its streams get the same
 * treatment through otlp_http_h2_proto. */
#include "otlp_int.h"

#include "error.h"
#include "log.h"
#include "mem.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static void sanitize(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    for (; src && *src && o + 1 < cap; src++) dst[o++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
    dst[o] = '\0';
}

/* The media type without parameters, lowercased and trimmed. */
static void media_type(const char *ct, char *out, size_t cap)
{
    size_t o = 0;
    if (!ct) ct = "";
    while (*ct == ' ' || *ct == '\t') ct++;
    for (; *ct && *ct != ';' && o + 1 < cap; ct++) out[o++] = (char)tolower((unsigned char)*ct);
    while (o && (out[o - 1] == ' ' || out[o - 1] == '\t')) o--;
    out[o] = '\0';
}

int otlp_http_route(otlp_recv_t *r, const char *method, const char *path, const char *ctype, const char *cenc,
                    otlp_route_t *rt, otlp_origin_t *at, char *msg, size_t msglen)
{
    char a[160];
    int sig = -1;
    for (int i = 0; i < VG_SIG_COUNT; i++)
        if (path && r->paths[i] && strcmp(path, r->paths[i]) == 0) sig = i;
    rt->sig = sig >= 0 ? (vg_signal_t)sig : VG_SIG_TRACES;
    if (sig < 0) {
        sanitize(a, sizeof a, path);
        snprintf(msg, msglen, "404 page not found: %s (OTLP/HTTP paths: %s %s %s)", a, r->paths[0], r->paths[1],
                 r->paths[2]);
        *at = OTLP_AT_PATH;
        return VG_ENOTFOUND;
    }
    if (!method || strcmp(method, "POST") != 0) {
        snprintf(msg, msglen, "405 method not allowed, supported: [POST]");
        *at = OTLP_AT_METHOD;
        return VG_EUNSUPPORTED;
    }
    char mt[96];
    media_type(ctype, mt, sizeof mt);
    if (strcmp(mt, "application/x-protobuf") == 0) rt->enc = OTLP_ENC_PROTO;
    else if (strcmp(mt, "application/json") == 0) rt->enc = OTLP_ENC_JSON;
    else {
        snprintf(msg, msglen, "415 unsupported media type, supported: [application/json, application/x-protobuf]");
        *at = OTLP_AT_MEDIA_TYPE;
        return VG_EUNSUPPORTED;
    }
    if (otlp_comp_parse(cenc, &rt->comp) != 0) {
        sanitize(a, sizeof a, cenc);
        snprintf(msg, msglen, "415 unsupported Content-Encoding \"%s\", supported: [gzip, zstd, deflate, identity]",
                 a);
        *at = OTLP_AT_ENCODING;
        return VG_EUNSUPPORTED;
    }
    if (!r->c->next[sig]) {
        snprintf(msg, msglen, "404 no %s pipeline takes data from this receiver", vg_signal_name((vg_signal_t)sig));
        *at = OTLP_AT_PATH;
        return VG_EUNSUPPORTED;
    }
    return 0;
}

/* ---- answers, for both HTTP versions ----------------------------------------------- */

typedef struct {
    int status;
    const char *ctype;
    char retry_after[16]; /* value, or "" */
    bool allow_post;
    char *body;           /* vg_malloc'd; may be NULL */
    size_t len;
    const char *static_body;
} answer_t;

static const char *enc_type(otlp_enc_t e) { return e == OTLP_ENC_JSON ? "application/json" : "application/x-protobuf"; }

static void build_error(answer_t *a, bool have_enc, otlp_enc_t enc, int err, otlp_origin_t at, const char *msg)
{
    memset(a, 0, sizeof *a);
    otlp_status_t st = otlp_status_map(err, at);
    a->status = st.http;
    if (st.retry_after_s) snprintf(a->retry_after, sizeof a->retry_after, "%d", st.retry_after_s);
    a->allow_post = at == OTLP_AT_METHOD;
    if (!have_enc || at == OTLP_AT_PATH || at == OTLP_AT_METHOD || at == OTLP_AT_MEDIA_TYPE ||
        at == OTLP_AT_ENCODING) {
        a->ctype = "text/plain; charset=utf-8";
        size_t ml = strlen(msg);
        a->body = vg_malloc(ml + 2);
        if (a->body) {
            memcpy(a->body, msg, ml);
            a->body[ml] = '\n';
            a->len = ml + 1;
        }
        return;
    }
    a->ctype = enc_type(enc);
    a->body = otlp_http_status_body(enc, st.grpc, msg, &a->len);
}

static void build_success(answer_t *a, otlp_enc_t enc)
{
    memset(a, 0, sizeof *a);
    a->status = 200;
    a->ctype = enc_type(enc);
    /* An empty Export*ServiceResponse: nothing was rejected. */
    if (enc == OTLP_ENC_JSON) {
        a->static_body = "{}";
        a->len = 2;
    }
}

static const void *answer_body(const answer_t *a) { return a->body ? (const void *)a->body : a->static_body; }

/* ---- HTTP/1.1 ---------------------------------------------------------------------------- */

static void h1_send(vg_http_request_t *req, answer_t *a)
{
    char extra[96] = "";
    size_t n = 0;
    if (a->retry_after[0]) n += (size_t)snprintf(extra + n, sizeof extra - n, "Retry-After: %s\r\n", a->retry_after);
    if (a->allow_post) snprintf(extra + n, sizeof extra - n, "Allow: POST\r\n");
    const void *body = answer_body(a);
    vg_http_respond(req, a->status, a->ctype, extra[0] ? extra : NULL, body, body ? a->len : 0);
    vg_free(a->body);
}

static void h1_request(vg_http_request_t *req, void *arg)
{
    otlp_recv_t *r = arg;
    otlp_route_t rt;
    otlp_origin_t at = OTLP_AT_PATH;
    char msg[320];
    answer_t a;
    int rc = otlp_http_route(r, vg_http_request_method(req), vg_http_request_path(req),
                             vg_http_request_header(req, "content-type"),
                             vg_http_request_header(req, "content-encoding"), &rt, &at, msg, sizeof msg);
    if (rc) {
        otlp_count_early(r, OTLP_PROTO_HTTP, at == OTLP_AT_PATH && rc == VG_ENOTFOUND ? -1 : (int)rt.sig);
        build_error(&a, false, OTLP_ENC_PROTO, rc, at, msg);
        h1_send(req, &a);
        return;
    }
    size_t len;
    const char *body = vg_http_request_body(req, &len);
    otlp_req_t q = { OTLP_PROTO_HTTP, rt.sig, rt.enc, rt.comp, (const uint8_t *)body, len,
                     (size_t)r->cfg->protocols.http.max_request_body_size, vg_http_request_peer(req) };
    otlp_res_t res;
    otlp_handle(r, &q, &res);
    if (res.err) build_error(&a, true, rt.enc, res.err, res.at, res.msg);
    else build_success(&a, rt.enc);
    h1_send(req, &a);
}

static void h1_cancel(vg_http_request_t *req, void *arg)
{
    (void)arg;
    (void)req; /* answered synchronously: never pending, nothing to cancel */
}

/* ---- HTTP/2 streams ---------------------------------------------------------------------- */

static void h2_send(otlp_h2_t *h, otlp_stream_t *s, answer_t *a)
{
    char status[8];
    snprintf(status, sizeof status, "%d", a->status);
    nghttp2_nv hdrs[4];
    size_t n = 0;
    hdrs[n++] = (nghttp2_nv)OTLP_NV(":status", status);
    hdrs[n++] = (nghttp2_nv)OTLP_NV("content-type", a->ctype);
    if (a->retry_after[0]) hdrs[n++] = (nghttp2_nv)OTLP_NV("retry-after", a->retry_after);
    if (a->allow_post) hdrs[n++] = (nghttp2_nv)OTLP_NV("allow", "POST");
    const void *body = answer_body(a);
    otlp_h2_respond(h, s, hdrs, n, body, body ? a->len : 0, NULL, 0);
    vg_free(a->body);
}

static void h2_error(otlp_h2_t *h, otlp_stream_t *s, int err, otlp_origin_t at, const char *msg)
{
    otlp_stream_req_t *q = otlp_stream_req(s);
    otlp_count_early(otlp_h2_recv(h), OTLP_PROTO_HTTP, q->routed ? (int)q->sig : -1);
    answer_t a;
    build_error(&a, q->routed, q->enc, err, at, msg);
    h2_send(h, s, &a);
}

static int h2_headers(otlp_h2_t *h, otlp_stream_t *s, const otlp_h2_headers_t *hd)
{
    otlp_recv_t *r = otlp_h2_recv(h);
    otlp_stream_req_t *q = otlp_stream_req(s);
    char path[sizeof hd->path], msg[320];
    snprintf(path, sizeof path, "%s", hd->path);
    char *qm = strchr(path, '?');
    if (qm) *qm = '\0';
    otlp_route_t rt;
    otlp_origin_t at = OTLP_AT_PATH;
    int rc = otlp_http_route(r, hd->method, hd->path_long ? "" : path, hd->ctype, hd->cenc, &rt, &at, msg, sizeof msg);
    if (rc) {
        otlp_count_early(r, OTLP_PROTO_HTTP, at == OTLP_AT_PATH && rc == VG_ENOTFOUND ? -1 : (int)rt.sig);
        answer_t a;
        build_error(&a, false, OTLP_ENC_PROTO, rc, at, msg);
        h2_send(h, s, &a);
        return 1;
    }
    q->routed = true;
    q->sig = rt.sig;
    q->enc = rt.enc;
    q->comp = rt.comp;
    q->limit = (size_t)r->cfg->protocols.http.max_request_body_size;
    if (hd->content_length > 0 && (uint64_t)hd->content_length > q->limit) {
        snprintf(msg, sizeof msg, "request body of %lld bytes is over the limit of %zu bytes",
                 (long long)hd->content_length, q->limit);
        h2_error(h, s, VG_ETOOBIG, OTLP_AT_BODY, msg);
        return 1;
    }
    q->need = hd->content_length > 0 ? (size_t)hd->content_length : 0;
    return 0;
}

static void h2_request(otlp_h2_t *h, otlp_stream_t *s, const uint8_t *body, size_t len)
{
    otlp_recv_t *r = otlp_h2_recv(h);
    otlp_stream_req_t *q = otlp_stream_req(s);
    otlp_req_t rq = { OTLP_PROTO_HTTP, q->sig, q->enc, q->comp, body, len,
                      (size_t)r->cfg->protocols.http.max_request_body_size, otlp_h2_peer(h) };
    otlp_res_t res;
    otlp_handle(r, &rq, &res);
    answer_t a;
    if (res.err) build_error(&a, true, q->enc, res.err, res.at, res.msg);
    else build_success(&a, q->enc);
    h2_send(h, s, &a);
}

const otlp_h2_proto_t otlp_http_h2_proto = { h2_headers, NULL, h2_request, h2_error };

/* ---- server ---------------------------------------------------------------------------- */

static void on_h2(vg_conn_t *conn, const char *data, size_t len, void *arg)
{
    otlp_recv_t *r = arg;
    if (r->shutting) {
        vg_conn_abort(conn);
        return;
    }
    otlp_h2_attach(r, OTLP_PROTO_HTTP, conn, data, len);
}

int otlp_http_start(otlp_recv_t *r, char *err, size_t errlen)
{
    const otlp_http_cfg_t *t = &r->cfg->protocols.http;
    vg_endpoint_t ep;
    int rc = otlp_endpoint(t->endpoint, t->transport, &ep, err, errlen);
    if (rc) return rc;
    SSL_CTX *tls = NULL;
    if (t->tls_set && (rc = otlp_tls_ctx(&t->tls, &tls, err, errlen)) != 0) return rc;
    static const char *const alpn[] = { "h2", "http/1.1", NULL };
    vg_http_server_opts_t o = {
        .listen = { .max_connections = (int)t->max_connections, .tls = tls, .alpn = tls ? alpn : NULL },
        .max_request_body_size = (size_t)t->max_request_body_size,
        .request_timeout_ms = (uint64_t)(t->read_timeout / 1000000),
        .idle_timeout_ms = (uint64_t)(t->idle_timeout / 1000000),
        .on_request = h1_request,
        .on_cancel = h1_cancel,
        .on_h2 = on_h2,
        .arg = r,
    };
    if (!o.request_timeout_ms) o.request_timeout_ms = 1;
    if (!o.idle_timeout_ms) o.idle_timeout_ms = 1;
    rc = vg_http_server_start(r->loop, &ep, &o, &r->http_srv, err, errlen);
    if (tls) SSL_CTX_free(tls);
    if (rc) return rc;
    r->http_open = true;
    char where[160];
    vg_endpoint_format(&ep, where, sizeof where);
    if (ep.kind == VG_EP_TCP && ep.port == 0) {
        size_t n = strlen(where);
        snprintf(where + (n > 0 ? n - 1 : 0), sizeof where - (n > 0 ? n - 1 : 0), "%d",
                 vg_http_server_port(r->http_srv));
    }
    VG_INFO(r->c->id, "HTTP listening on %s%s", where, tls ? " (TLS)" : "");
    return 0;
}

static void on_http_closed(vg_http_server_t *srv, void *arg)
{
    (void)srv;
    otlp_recv_t *r = arg;
    r->http_srv = NULL;
    r->http_open = false;
    otlp_recv_maybe_done(r);
}

void otlp_http_stop(otlp_recv_t *r)
{
    if (r->http_srv) vg_http_server_close(r->http_srv, r->drain_ms ? r->drain_ms : 1, on_http_closed, r);
}
