/* The one place where the otlp receiver turns an outcome into an answer.
 *
 * An outcome is a vg_errno_t (0 = success) plus where it happened
 * (otlp_origin_t). The table below gives the gRPC status code, the HTTP status
 * and whether the client should retry (RetryInfo in grpc-status-details-bin /
 * Retry-After), following the OTLP specification and DESIGN.md:
 *
 *   retryable (pipeline pushed back, memory, shutting down)
 *                                  -> UNAVAILABLE + RetryInfo   / 503 + Retry-After
 *   request too large              -> RESOURCE_EXHAUSTED (no RetryInfo, so
 *                                     clients do not retry)     / 413
 *   malformed request              -> INVALID_ARGUMENT          / 400
 *   request not complete in time   -> DEADLINE_EXCEEDED         / 408
 *   unknown path or method name,
 *   no pipeline for the signal     -> UNIMPLEMENTED             / 404
 *   HTTP method other than POST    -> UNIMPLEMENTED (:status 405) / 405
 *   unsupported Content-Type       -> INTERNAL (:status 415)    / 415
 *   unsupported compression        -> UNIMPLEMENTED             / 415
 *   pipeline said permanently no   -> INVALID_ARGUMENT          / 400
 *                                     (PERMISSION_DENIED / 403 for VG_EAUTH,
 *                                      INTERNAL / 500 for fatal errors)
 *
 * It also encodes what goes with an error answer: the percent-encoded
 * grpc-message, the google.rpc.Status with RetryInfo for
 * grpc-status-details-bin, and the google.rpc.Status body of OTLP/HTTP error
 * answers (protobuf or JSON, like the request). Field numbers:
 * google.rpc.Status {int32 code = 1; string message = 2; repeated Any details = 3}
 * google.protobuf.Any {string type_url = 1; bytes value = 2}
 * google.rpc.RetryInfo {Duration retry_delay = 1}
 * google.protobuf.Duration {int64 seconds = 1; int32 nanos = 2} */
#include "otlp_int.h"

#include "error.h"
#include "mem.h"

#include <stdio.h>
#include <string.h>

otlp_status_t otlp_status_map(int err, otlp_origin_t at)
{
    otlp_status_t s = { OTLP_GRPC_OK, 200, 0, false };
    if (err == 0) return s;
    switch (at) {
    case OTLP_AT_PATH:
        s.grpc = OTLP_GRPC_UNIMPLEMENTED;
        s.http = 404;
        return s;
    case OTLP_AT_METHOD:
        s.grpc = OTLP_GRPC_UNIMPLEMENTED;
        s.http = 405;
        s.grpc_http = true;
        return s;
    case OTLP_AT_MEDIA_TYPE:
        s.grpc = OTLP_GRPC_INTERNAL;
        s.http = 415;
        s.grpc_http = true;
        return s;
    case OTLP_AT_ENCODING:
        s.grpc = OTLP_GRPC_UNIMPLEMENTED;
        s.http = 415;
        return s;
    case OTLP_AT_BODY:
    case OTLP_AT_PIPELINE:
    default:
        break;
    }
    switch (err) {
    case VG_ETOOBIG:
        s.grpc = OTLP_GRPC_RESOURCE_EXHAUSTED;
        s.http = 413;
        return s;
    case VG_EAUTH:
        s.grpc = OTLP_GRPC_PERMISSION_DENIED;
        s.http = 403;
        return s;
    case VG_EUNSUPPORTED:
        if (at == OTLP_AT_PIPELINE) { /* no pipeline takes this signal */
            s.grpc = OTLP_GRPC_UNIMPLEMENTED;
            s.http = 404;
            return s;
        }
        s.grpc = OTLP_GRPC_INVALID_ARGUMENT;
        s.http = 400;
        return s;
    case VG_ETIMEOUT:
        if (at == OTLP_AT_BODY) { /* the client did not finish its request in time */
            s.grpc = OTLP_GRPC_DEADLINE_EXCEEDED;
            s.http = 408;
            return s;
        }
        break;
    case VG_ENOMEM: /* memory pressure: come back later */
        s.grpc = OTLP_GRPC_UNAVAILABLE;
        s.http = 503;
        s.retry_after_s = OTLP_RETRY_AFTER_S;
        return s;
    default:
        break;
    }
    switch (vg_err_class(err)) {
    case VG_CLASS_RETRYABLE:
        s.grpc = OTLP_GRPC_UNAVAILABLE;
        s.http = 503;
        s.retry_after_s = OTLP_RETRY_AFTER_S;
        return s;
    case VG_CLASS_PERMANENT:
        s.grpc = OTLP_GRPC_INVALID_ARGUMENT;
        s.http = 400;
        return s;
    default:
        s.grpc = OTLP_GRPC_INTERNAL;
        s.http = 500;
        return s;
    }
}

const char *otlp_grpc_code_name(int code)
{
    static const char *const n[] = { "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                     "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                     "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
                                     "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED" };
    return code >= 0 && code <= 16 ? n[code] : "?";
}

const char *otlp_origin_name(otlp_origin_t at)
{
    static const char *const n[] = { "path", "method", "media_type", "encoding", "body", "pipeline" };
    return (unsigned)at < OTLP_AT_COUNT ? n[at] : "?";
}

size_t otlp_grpc_message_encode(const char *msg, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (!len) return 0;
    for (const unsigned char *p = (const unsigned char *)(msg ? msg : ""); *p; p++) {
        if (*p >= 0x20 && *p <= 0x7e && *p != '%') {
            if (o + 1 >= len) break;
            out[o++] = (char)*p;
        } else {
            if (o + 3 >= len) break;
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return o;
}

/* ---- a tiny protobuf writer --------------------------------------------------- */

typedef struct {
    uint8_t *b;
    size_t n, cap;
    bool fail;
} pbw_t;

static void pbw_byte(pbw_t *w, uint8_t c)
{
    if (w->fail) return;
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 128;
        uint8_t *p = vg_realloc(w->b, nc);
        if (!p) { w->fail = true; return; }
        w->b = p;
        w->cap = nc;
    }
    w->b[w->n++] = c;
}

static void pbw_varint(pbw_t *w, uint64_t v)
{
    while (v >= 0x80) {
        pbw_byte(w, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    pbw_byte(w, (uint8_t)v);
}

static void pbw_bytes(pbw_t *w, unsigned field, const void *data, size_t len)
{
    pbw_varint(w, (uint64_t)field << 3 | 2);
    pbw_varint(w, len);
    for (size_t i = 0; i < len; i++) pbw_byte(w, ((const uint8_t *)data)[i]);
}

/* google.rpc.Status; with delay_s > 0 one RetryInfo detail. */
static void status_pb(pbw_t *w, int code, const char *msg, int delay_s)
{
    if (code) {
        pbw_varint(w, 1 << 3 | 0);
        pbw_varint(w, (uint64_t)(int64_t)code);
    }
    if (msg && *msg) pbw_bytes(w, 2, msg, strlen(msg));
    if (delay_s > 0) {
        pbw_t dur = { 0 }, ri = { 0 }, any = { 0 };
        pbw_varint(&dur, 1 << 3 | 0);
        pbw_varint(&dur, (uint64_t)delay_s);
        pbw_bytes(&ri, 1, dur.b, dur.n);
        static const char type_url[] = "type.googleapis.com/google.rpc.RetryInfo";
        pbw_bytes(&any, 1, type_url, sizeof type_url - 1);
        pbw_bytes(&any, 2, ri.b, ri.n);
        if (dur.fail || ri.fail || any.fail) w->fail = true;
        else pbw_bytes(w, 3, any.b, any.n);
        vg_free(dur.b);
        vg_free(ri.b);
        vg_free(any.b);
    }
}

char *otlp_grpc_status_details(int code, const char *msg, int delay_s)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    pbw_t w = { 0 };
    status_pb(&w, code, msg, delay_s);
    if (w.fail) { vg_free(w.b); return NULL; }
    char *out = vg_malloc((w.n + 2) / 3 * 4 + 1);
    if (!out) { vg_free(w.b); return NULL; }
    size_t o = 0, i = 0;
    for (; i + 3 <= w.n; i += 3) {
        uint32_t v = (uint32_t)w.b[i] << 16 | (uint32_t)w.b[i + 1] << 8 | w.b[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (w.n - i == 1) {
        uint32_t v = (uint32_t)w.b[i] << 16;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
    } else if (w.n - i == 2) {
        uint32_t v = (uint32_t)w.b[i] << 16 | (uint32_t)w.b[i + 1] << 8;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
    }
    out[o] = '\0';
    vg_free(w.b);
    return out;
}

char *otlp_http_status_body(otlp_enc_t enc, int code, const char *msg, size_t *len)
{
    if (enc == OTLP_ENC_PROTO) {
        pbw_t w = { 0 };
        status_pb(&w, code, msg, 0);
        if (w.fail) { vg_free(w.b); return NULL; }
        if (!w.b) w.b = vg_malloc(1); /* an empty Status is a valid, empty body */
        *len = w.n;
        return (char *)w.b;
    }
    /* JSON: {"code":N,"message":"..."} with the message escaped. */
    size_t ml = msg ? strlen(msg) : 0;
    char *out = vg_malloc(ml * 6 + 48);
    if (!out) return NULL;
    size_t o = (size_t)sprintf(out, "{\"code\":%d,\"message\":\"", code);
    for (size_t i = 0; i < ml; i++) {
        unsigned char c = (unsigned char)msg[i];
        if (c == '"' || c == '\\') { out[o++] = '\\'; out[o++] = (char)c; }
        else if (c < 0x20) o += (size_t)sprintf(out + o, "\\u%04x", c);
        else out[o++] = (char)c;
    }
    memcpy(out + o, "\"}", 3);
    *len = o + 2;
    return out;
}
