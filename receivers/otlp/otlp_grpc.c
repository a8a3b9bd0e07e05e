/* OTLP/gRPC: unary Export calls on HTTP/2 streams (otlp_h2.c), and the gRPC
 * listener (TCP or unix socket, plaintext h2c with prior knowledge or TLS with
 * ALPN h2, optionally mTLS).
 *
 * A call: POST /opentelemetry.proto.collector.<signal>.v1.<Signal>Service/Export,
 * content-type application/grpc[+proto], optional grpc-encoding (gzip, zstd,
 * deflate, identity) and grpc-timeout. The body is exactly one
 * length-prefixed message (1 flag byte, 4-byte big-endian length) of at most
 * max_recv_msg_size_mib, compressed (flag 1) or not; the decompressed message
 * is held to the same limit. The answer:
 *   success  HEADERS(:status 200, content-type) DATA(empty Export*ServiceResponse)
 *            HEADERS(grpc-status: 0)
 *   failure  one HEADERS frame (Trailers-Only) with grpc-status, grpc-message
 *            and, when the client should retry, grpc-status-details-bin with
 *            a google.rpc.RetryInfo (otlp_status.c decides which).
 * The declared message length is checked as soon as the first 5 bytes are in,
 * so an oversized call is refused before its body is buffered. */
#include "otlp_int.h"

#include "error.h"
#include "log.h"
#include "mem.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define ACCEPT_ENCODING "gzip, zstd, deflate, identity"

static const char *const grpc_paths[VG_SIG_COUNT] = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
};

/* Printable ASCII copy of client-supplied text for messages. */
static void sanitize(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    for (; src && *src && o + 1 < cap; src++) dst[o++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
    dst[o] = '\0';
}

/* grpc-timeout: up to 8 digits and a unit (H M S m u n). 0 when absent or invalid. */
static uint64_t grpc_timeout_ms(const char *v)
{
    size_t n = strlen(v);
    if (n < 2 || n > 9) return 0;
    uint64_t x = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (v[i] < '0' || v[i] > '9') return 0;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    switch (v[n - 1]) {
    case 'H': return x * 3600000;
    case 'M': return x * 60000;
    case 'S': return x * 1000;
    case 'm': return x;
    case 'u': return (x + 999) / 1000;
    case 'n': return (x + 999999) / 1000000;
    default: return 0;
    }
}

/* Answers a failure without counting it (otlp_handle counted it). */
static void answer(otlp_h2_t *h, otlp_stream_t *s, int err, otlp_origin_t at, const char *msg)
{
    otlp_status_t st = otlp_status_map(err, at);
    char status[8], code[8], gmsg[768];
    snprintf(status, sizeof status, "%d", st.grpc_http ? st.http : 200);
    snprintf(code, sizeof code, "%d", st.grpc);
    otlp_grpc_message_encode(msg, gmsg, sizeof gmsg);
    nghttp2_nv hdrs[3] = {
        OTLP_NV(":status", status),
        OTLP_NV("content-type", "application/grpc"),
        OTLP_NV("grpc-accept-encoding", ACCEPT_ENCODING),
    };
    char *details = st.retry_after_s ? otlp_grpc_status_details(st.grpc, msg, st.retry_after_s) : NULL;
    nghttp2_nv trl[3] = {
        OTLP_NV("grpc-status", code),
        OTLP_NV("grpc-message", gmsg),
    };
    size_t nt = 2;
    if (details) trl[nt++] = (nghttp2_nv)OTLP_NV("grpc-status-details-bin", details);
    otlp_h2_respond(h, s, hdrs, 3, NULL, 0, trl, nt);
    vg_free(details);
}

/* Failures found by the engine or before the body: counted here. */
static void on_error(otlp_h2_t *h, otlp_stream_t *s, int err, otlp_origin_t at, const char *msg)
{
    otlp_stream_req_t *q = otlp_stream_req(s);
    otlp_count_early(otlp_h2_recv(h), OTLP_PROTO_GRPC, q->routed ? (int)q->sig : -1);
    answer(h, s, err, at, msg);
}

static int on_headers(otlp_h2_t *h, otlp_stream_t *s, const otlp_h2_headers_t *hd)
{
    otlp_recv_t *r = otlp_h2_recv(h);
    otlp_stream_req_t *q = otlp_stream_req(s);
    char msg[320], a[200];
    int sig = -1;
    for (int i = 0; i < VG_SIG_COUNT && !hd->path_long; i++)
        if (strcmp(hd->path, grpc_paths[i]) == 0) sig = i;
    if (sig >= 0) {
        q->routed = true;
        q->sig = (vg_signal_t)sig;
    }
    if (strcmp(hd->method, "POST") != 0) {
        sanitize(a, sizeof a, hd->method);
        snprintf(msg, sizeof msg, "method %s not allowed; gRPC calls are POST", a);
        on_error(h, s, VG_EUNSUPPORTED, OTLP_AT_METHOD, msg);
        return 1;
    }
    /* application/grpc or application/grpc+proto, parameters allowed */
    const char *sub = hd->ctype + 16;
    if (strncasecmp(hd->ctype, "application/grpc", 16) != 0 ||
        !(*sub == '\0' || *sub == ';' || (strncasecmp(sub, "+proto", 6) == 0 && (sub[6] == '\0' || sub[6] == ';')))) {
        sanitize(a, sizeof a, hd->ctype);
        snprintf(msg, sizeof msg, "content-type \"%s\" is not application/grpc", a);
        on_error(h, s, VG_EUNSUPPORTED, OTLP_AT_MEDIA_TYPE, msg);
        return 1;
    }
    if (sig < 0) {
        sanitize(a, sizeof a, hd->path);
        snprintf(msg, sizeof msg, "unknown service or method %s%s", a, hd->path_long ? "..." : "");
        on_error(h, s, VG_ENOTFOUND, OTLP_AT_PATH, msg);
        return 1;
    }
    if (!r->c->next[sig]) {
        snprintf(msg, sizeof msg, "no %s pipeline takes data from this receiver", vg_signal_name((vg_signal_t)sig));
        on_error(h, s, VG_EUNSUPPORTED, OTLP_AT_PATH, msg);
        return 1;
    }
    if (otlp_comp_parse(hd->cenc, &q->comp) != 0) {
        sanitize(a, sizeof a, hd->cenc);
        snprintf(msg, sizeof msg, "grpc-encoding \"%s\" is not supported (" ACCEPT_ENCODING ")", a);
        on_error(h, s, VG_EUNSUPPORTED, OTLP_AT_ENCODING, msg);
        return 1;
    }
    q->enc = OTLP_ENC_PROTO;
    q->limit = r->grpc_limit + 5;
    q->need = 0;
    uint64_t t = grpc_timeout_ms(hd->grpc_timeout);
    uint64_t max = (uint64_t)(r->cfg->protocols.grpc.request_timeout / 1000000);
    if (t && (t < max || !max)) q->deadline_ms = otlp_now_ms(r) + t;
    return 0;
}

static int on_data(otlp_h2_t *h, otlp_stream_t *s, const uint8_t *body, size_t len)
{
    otlp_recv_t *r = otlp_h2_recv(h);
    otlp_stream_req_t *q = otlp_stream_req(s);
    char msg[200];
    if (!q->need) {
        size_t l;
        int rc = otlp_grpc_frame_peek(body, len, &l);
        if (rc == 1) return 0;
        if (rc != 0) {
            snprintf(msg, sizeof msg, "invalid gRPC message flag byte 0x%02x", body[0]);
            on_error(h, s, VG_EPARSE, OTLP_AT_BODY, msg);
            return 1;
        }
        if (l > r->grpc_limit) {
            snprintf(msg, sizeof msg, "message of %zu bytes is larger than max_recv_msg_size (%zu bytes)", l,
                     r->grpc_limit);
            on_error(h, s, VG_ETOOBIG, OTLP_AT_BODY, msg);
            return 1;
        }
        q->need = l + 5;
    }
    if (len > q->need) {
        snprintf(msg, sizeof msg, "more than one message in a unary call");
        on_error(h, s, VG_EPARSE, OTLP_AT_BODY, msg);
        return 1;
    }
    return 0;
}

static void on_request(otlp_h2_t *h, otlp_stream_t *s, const uint8_t *body, size_t len)
{
    otlp_recv_t *r = otlp_h2_recv(h);
    otlp_stream_req_t *q = otlp_stream_req(s);
    char msg[320];
    int compressed = 0;
    const uint8_t *m = NULL;
    size_t mlen = 0;
    int rc = otlp_grpc_frame_parse(body, len, r->grpc_limit, &compressed, &m, &mlen, msg, sizeof msg);
    if (rc == 0 && compressed && q->comp == OTLP_COMP_NONE) {
        snprintf(msg, sizeof msg, "message flagged compressed but grpc-encoding is identity");
        rc = VG_EPARSE;
    }
    if (rc) {
        on_error(h, s, rc, OTLP_AT_BODY, msg);
        return;
    }
    otlp_req_t rq = { OTLP_PROTO_GRPC, q->sig, OTLP_ENC_PROTO, compressed ? q->comp : OTLP_COMP_NONE,
                      m, mlen, r->grpc_limit, otlp_h2_peer(h) };
    otlp_res_t res;
    otlp_handle(r, &rq, &res);
    if (res.err) {
        answer(h, s, res.err, res.at, res.msg);
        return;
    }
    /* An empty Export*ServiceResponse: nothing was rejected. */
    uint8_t frame[5];
    otlp_grpc_frame_header(frame, 0, 0);
    nghttp2_nv hdrs[3] = {
        OTLP_NV(":status", "200"),
        OTLP_NV("content-type", "application/grpc"),
        OTLP_NV("grpc-accept-encoding", ACCEPT_ENCODING),
    };
    nghttp2_nv trl[1] = { OTLP_NV("grpc-status", "0") };
    otlp_h2_respond(h, s, hdrs, 3, frame, sizeof frame, trl, 1);
}

const otlp_h2_proto_t otlp_grpc_proto = { on_headers, on_data, on_request, on_error };

/* ---- listener ----------------------------------------------------------------------- */

static void on_accept(vg_listener_t *l, vg_conn_t *conn, void *arg)
{
    (void)l;
    otlp_recv_t *r = arg;
    if (r->shutting) {
        vg_conn_abort(conn);
        return;
    }
    otlp_h2_attach(r, OTLP_PROTO_GRPC, conn, NULL, 0);
}

int otlp_grpc_start(otlp_recv_t *r, char *err, size_t errlen)
{
    const otlp_grpc_cfg_t *g = &r->cfg->protocols.grpc;
    vg_endpoint_t ep;
    int rc = otlp_endpoint(g->endpoint, g->transport, &ep, err, errlen);
    if (rc) return rc;
    SSL_CTX *tls = NULL;
    if (g->tls_set && (rc = otlp_tls_ctx(&g->tls, &tls, err, errlen)) != 0) return rc;
    static const char *const alpn[] = { "h2", NULL };
    vg_listener_opts_t lo = {
        .max_connections = (int)g->max_connections,
        .idle_timeout_ms = (uint64_t)(g->request_timeout / 1000000),
        .tls = tls,
        .alpn = tls ? alpn : NULL,
    };
    rc = vg_listener_start(r->loop, &ep, &lo, on_accept, r, &r->grpc_l, err, errlen);
    if (tls) SSL_CTX_free(tls);
    if (rc) return rc;
    r->grpc_open = true;
    char where[160];
    vg_endpoint_format(&ep, where, sizeof where);
    if (ep.kind == VG_EP_TCP && ep.port == 0) {
        size_t n = strlen(where);
        snprintf(where + (n > 0 ? n - 1 : 0), sizeof where - (n > 0 ? n - 1 : 0), "%d", vg_listener_port(r->grpc_l));
    }
    VG_INFO(r->c->id, "gRPC listening on %s%s", where, tls ? " (TLS)" : "");
    return 0;
}

static void on_grpc_closed(vg_listener_t *l, void *arg)
{
    (void)l;
    otlp_recv_t *r = arg;
    r->grpc_l = NULL;
    r->grpc_open = false;
    otlp_recv_maybe_done(r);
}

void otlp_grpc_stop(otlp_recv_t *r)
{
    if (r->grpc_l) vg_listener_close(r->grpc_l, on_grpc_closed, r);
}
