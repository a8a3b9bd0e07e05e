/* HTTP/1.1 server over vg_conn, parsing with http-parser (Debian libhttp-parser).
 *
 * Requests on one connection are handled one at a time, in order: the handler
 * gets a request, and the next pipelined request is parsed only after
 * vg_http_respond() answered the current one, so responses always go out in
 * request order. Bytes that arrive meanwhile are buffered up to
 * max_pipeline_buffer; beyond that the server stops reading the socket.
 * Output is bounded the same way: while more than max_output_buffer bytes of
 * responses wait for the client to read them, no further request is parsed.
 *
 * Limits answer and close: body over max_request_body_size -> 413 (checked
 * against Content-Length before any body byte is read, and while reading
 * chunked bodies - nothing beyond the limit is buffered); request line or
 * headers over max_header_size -> 414 / 431; a request not complete within
 * request_timeout_ms of its first byte -> 408; unparsable input -> 400; method
 * tokens http-parser does not know -> 501. Every other method (HEAD, OPTIONS,
 * PUT...) is the handler's business; the server only makes sure a HEAD
 * response carries no body.
 *
 * The HTTP/2 prior-knowledge preface at the start of a connection hands the
 * connection to on_h2 (or answers 505 and closes when there is none).
 *
 * Requests and disconnects - the rule: every request passed to on_request
 * must be answered exactly once with vg_http_respond(), even if the client has
 * gone. When the connection closes before the answer, on_cancel (optional)
 * runs with the request, which stays valid; the later vg_http_respond() then
 * sends nothing, frees the request and returns VG_ESHUTDOWN. Requests never
 * point at the server or connection once cancelled, so answering after the
 * server closed is safe too. */
#ifndef VIGIL_NET_HTTP_SERVER_H
#define VIGIL_NET_HTTP_SERVER_H

#include "net/conn.h"

#include <stddef.h>
#include <stdint.h>

typedef struct vg_http_server vg_http_server_t;
typedef struct vg_http_request vg_http_request_t;

/* A request is ready (headers and whole body). Runs on the server's loop;
 * may answer at once or later. */
typedef void (*vg_http_handler_cb)(vg_http_request_t *req, void *arg);
/* The client left before the answer; req is still valid and still must be
 * answered (which then only frees it). May call vg_http_respond() itself. */
typedef void (*vg_http_cancel_cb)(vg_http_request_t *req, void *arg);
/* The connection starts with the HTTP/2 preface. The callee owns conn from now
 * on (install a handler with vg_conn_set_handler; the conn is reading);
 * data/len are the bytes read so far, preface included, valid during the call. */
typedef void (*vg_http_h2_cb)(vg_conn_t *conn, const char *data, size_t len, void *arg);
typedef void (*vg_http_server_close_cb)(vg_http_server_t *srv, void *arg);

typedef struct {
    vg_listener_opts_t listen;      /* backlog, max_connections, tls, alpn, reuseport...;
                                     * its idle_timeout_ms is replaced by the one below */
    size_t max_request_body_size;   /* 0 -> 20 MiB (the Collector's confighttp default) */
    size_t max_header_size;         /* request line + headers (+ trailers); 0 -> 64 KiB;
                                     * http-parser itself stops at 80 KiB */
    uint64_t request_timeout_ms;    /* first byte of a request to its last; 0 -> 30 s */
    uint64_t idle_timeout_ms;       /* keep-alive idle / stalled peer; 0 -> 120 s. Not
                                     * running while the handler holds a request. */
    size_t max_pipeline_buffer;     /* unparsed input kept while busy; 0 -> 64 KiB */
    size_t max_output_buffer;       /* unread response bytes before parsing pauses; 0 -> 1 MiB */
    vg_http_handler_cb on_request;  /* required */
    vg_http_cancel_cb on_cancel;    /* optional */
    vg_http_h2_cb on_h2;            /* optional */
    void *arg;                      /* passed to the three callbacks */
} vg_http_server_opts_t;

typedef struct {
    uint64_t requests;     /* handed to on_request */
    uint64_t responses;    /* answers written, handler's and the server's own */
    uint64_t bad_requests; /* 400, 501, 505 */
    uint64_t too_large;    /* 413, 414, 431 */
    uint64_t timeouts;     /* 408 */
    uint64_t cancelled;    /* client gone before the answer */
    uint64_t h2_handoffs;
} vg_http_stats_t;

/* Binds and listens (see vg_listener_start for errors and err text). */
int vg_http_server_start(uv_loop_t *loop, const vg_endpoint_t *ep, const vg_http_server_opts_t *opts,
                         vg_http_server_t **out, char *err, size_t errlen);

/* Stops accepting; idle connections close now; a connection whose request is
 * with the handler gets its answer (with "Connection: close") and then closes.
 * After drain_ms every connection still open - including ones handed to on_h2 -
 * is aborted (their pending requests are cancelled). cb runs when everything
 * is closed; the server is freed after it returns. Idempotent. */
void vg_http_server_close(vg_http_server_t *srv, uint64_t drain_ms, vg_http_server_close_cb cb, void *arg);

int vg_http_server_port(const vg_http_server_t *srv);
const vg_http_stats_t *vg_http_server_stats(const vg_http_server_t *srv);
/* NULL once the server is closing its listener. */
const vg_listener_t *vg_http_server_listener(const vg_http_server_t *srv);

/* ---- requests (valid from on_request until vg_http_respond) ------------- */

const char *vg_http_request_method(const vg_http_request_t *req); /* "GET" */
/* Raw (not percent-decoded) path without the query: "/v1/traces"; "/" when an
 * absolute-form URL has none. */
const char *vg_http_request_path(const vg_http_request_t *req);
const char *vg_http_request_query(const vg_http_request_t *req);  /* after '?', or "" */
/* First header with this name (case-insensitive), value trimmed; NULL if none. */
const char *vg_http_request_header(const vg_http_request_t *req, const char *name);
size_t vg_http_request_header_count(const vg_http_request_t *req);
/* Returns 0 and sets *name / *value for i < count, else VG_ENOTFOUND. */
int vg_http_request_header_at(const vg_http_request_t *req, size_t i, const char **name,
                              const char **value);
/* Body bytes (never NULL; "" when empty) and their count. */
const char *vg_http_request_body(const vg_http_request_t *req, size_t *len);
/* Moves the body out: the caller owns the returned buffer (vg_free). NULL when
 * the body is empty. The request's body is empty afterwards. */
char *vg_http_request_take_body(vg_http_request_t *req, size_t *len);
const vg_peer_t *vg_http_request_peer(const vg_http_request_t *req); /* copied at accept */
int vg_http_request_version_minor(const vg_http_request_t *req);     /* 1 for HTTP/1.1 */
/* 1 once the client has gone (vg_http_respond will only free the request). */
int vg_http_request_cancelled(const vg_http_request_t *req);
void vg_http_request_set_user(vg_http_request_t *req, void *user);
void *vg_http_request_user(const vg_http_request_t *req);

/* Answers req and frees it (req must not be used afterwards, whatever the
 * result). status 200..599; content_type may be NULL (no header);
 * extra_headers NULL or "Name: value\r\n" lines (the final CRLF is added if
 * missing); body (may be NULL when len is 0) is copied. Content-Length is
 * always sent (not for 204/304); a HEAD answer gets no body; "Connection:
 * close" is added when the connection will close after it.
 * Returns 0; VG_ESHUTDOWN if the client had gone (nothing sent); VG_EINVAL
 * for a bad status (a 500 is sent instead); VG_ENOMEM / VG_EIO if the answer
 * could not be queued (the connection is then closed). Never calls back into
 * on_request from inside: the next pipelined request is dispatched from a later
 * loop iteration. */
int vg_http_respond(vg_http_request_t *req, int status, const char *content_type,
                    const char *extra_headers, const void *body, size_t len);

#endif
