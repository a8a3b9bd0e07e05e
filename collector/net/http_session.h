/* The HTTP/1.1 protocol engine of one connection, without any I/O.
 *
 * http_server.c binds it to a vg_conn; the fuzz target binds it to a stub.
 * The session is fed bytes, parses them with http-parser, dispatches requests
 * and writes answers through the vg_http_io_t operations it was given. It owns
 * no loop handles; timers and deferral are asked of the io layer.
 *
 * Re-entrancy contract for the io layer: none of the operations may call back
 * into the session synchronously, and the session must not be freed from
 * inside an operation (free it after vg_http_session_feed/resume/... return). */
#ifndef VIGIL_NET_HTTP_SESSION_H
#define VIGIL_NET_HTTP_SESSION_H

#include "net/http_server.h"

typedef struct vg_http_session vg_http_session_t;

typedef struct {
    /* Queues bytes for the peer (copied). 0 or a negative code. */
    int (*write)(void *io, const uv_buf_t *bufs, unsigned nbufs);
    /* Bytes queued and not yet taken by the peer. */
    size_t (*queued)(void *io);
    /* Start (1) or stop (0) reading the peer. */
    void (*read_enable)(void *io, int on);
    /* Arm the request timer for ms (0: disarm); on expiry call
     * vg_http_session_timeout(). */
    void (*timer)(void *io, uint64_t ms);
    /* Call vg_http_session_resume() from a later loop iteration. */
    void (*defer)(void *io);
    /* 1: a request is with the handler (suspend the idle timeout); 0: done. */
    void (*busy)(void *io, int busy);
    /* Close after the queued bytes are written. The session stops using the
     * io layer except for free. */
    void (*close)(void *io);
    /* HTTP/2 preface seen (only when cfg->h2_enabled): take the connection.
     * The session is inert afterwards; free it once the feed call returns. */
    void (*h2)(void *io, const char *data, size_t len);
} vg_http_io_t;

typedef struct {
    size_t max_request_body_size;
    size_t max_header_size;
    uint64_t request_timeout_ms;
    size_t max_pipeline_buffer;
    size_t max_output_buffer;
    int h2_enabled;
    vg_http_handler_cb on_request;
    vg_http_cancel_cb on_cancel;
    void *arg;
    vg_http_stats_t *stats;  /* counters to update; may be NULL */
} vg_http_session_cfg_t;

/* cfg and io must outlive the session; peer is copied. cfg holds final
 * values (vg_http_session_cfg_defaults fills zero limits). The io layer is
 * assumed to be reading already. Returns 0 or VG_ENOMEM. */
int vg_http_session_new(const vg_http_session_cfg_t *cfg, const vg_http_io_t *io, void *io_ctx,
                        const vg_peer_t *peer, vg_http_session_t **out);
/* Replaces zero limits with the documented defaults. */
void vg_http_session_cfg_defaults(vg_http_session_cfg_t *cfg);

/* Bytes from the peer; valid during the call only. */
void vg_http_session_feed(vg_http_session_t *s, const char *data, size_t len);
/* After io->defer, or whenever the io layer's output queue shrank. */
void vg_http_session_resume(vg_http_session_t *s);
/* The request timer fired. */
void vg_http_session_timeout(vg_http_session_t *s);
/* Shutting down: answer the request with the handler (then close), close now
 * if there is none. */
void vg_http_session_drain(vg_http_session_t *s);
/* 1 when the session has closed or handed off (it only waits to be freed). */
int vg_http_session_done(const vg_http_session_t *s);
/* The connection is gone: cancels the request with the handler (on_cancel),
 * frees everything else. */
void vg_http_session_free(vg_http_session_t *s);

#endif
