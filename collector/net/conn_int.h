/* Internal to collector/net: the listener and connection structs shared by
 * listener.c, conn.c and tls.c, and the few functions they call across files
 * (vg__ prefix: not part of the public API). */
#ifndef VIGIL_NET_CONN_INT_H
#define VIGIL_NET_CONN_INT_H

#include "error.h"
#include "net/conn.h"

#include <stdarg.h>

#define READ_CHUNK (64 * 1024)
#define TLS_CHUNK (16 * 1024)
#define LINGER_MS 2000
#define LINGER_MAX_BYTES (1024 * 1024)
#define DRAIN_DEFAULT_MS 5000
#define ALPN_MAX 64

enum { C_OPEN = 0, C_CLOSING, C_LINGER, C_CLOSED };

typedef union {
    uv_handle_t h;
    uv_stream_t s;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
} stream_u;

struct vg_listener {
    uv_loop_t *loop;
    stream_u u;
    int is_unix;
    char path[VG_EP_PATH_MAX];
    int own_file;
    int port;
    vg_listener_opts_t opts;   /* alpn field cleared; see alpn_wire */
    SSL_CTX *ssl_ctx;          /* own reference */
    unsigned char *alpn_wire;  /* length-prefixed list, server preference order */
    unsigned alpn_len;
    vg_accept_cb accept_cb;
    void *accept_arg;
    vg_listener_close_cb close_cb;
    void *close_arg;
    vg_conn_t *conns;          /* every conn not yet freed */
    vg_listener_stats_t stats;
    int closing;
    int handle_closed;
};

struct vg_conn {
    stream_u u;
    uv_timer_t idle;           /* idle timeout; drain / linger deadline */
    uv_timer_t defer;          /* TLS: deliver buffered plaintext after read_start */
    uv_shutdown_t shutdown_req;
    vg_listener_t *l;
    vg_conn_t *prev, *next;
    vg_peer_t peer;
    vg_conn_handler_t h;
    void *arg;
    SSL *ssl;
    BIO *rbio, *wbio;          /* owned by ssl */
    char alpn[ALPN_MAX];
    int state;
    int started;
    int want_read;             /* the owner wants bytes */
    int reading;               /* uv_read_start is in effect */
    int hs_done;
    int ssl_fatal;             /* no SSL_shutdown after a fatal SSL error */
    int eof_seen;
    int ended;                 /* on_end delivered or no longer due */
    int pending_closes;
    uint64_t idle_ms;
    uint64_t last_activity;
    size_t queued;
    size_t lingered;
};

/* conn.c: uv_close the stream and both timers; memory goes in the last callback. */
void vg__conn_hard_close(vg_conn_t *c);
/* listener.c: frees a closed listener once its last conn is gone. */
void vg__listener_maybe_free(vg_listener_t *l);
/* tls.c: the reason text of the newest OpenSSL error. */
const char *vg__ssl_reason(char *buf, size_t len);
/* tls.c: snprintf into an optional error buffer. */
void vg__set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static inline int vg__map_uv(int e)
{
    if (e == UV_ENOMEM || e == UV_ENOBUFS) return VG_ENOMEM;
    if (e == UV_ECANCELED || e == UV_EPIPE) return VG_ESHUTDOWN;
    return VG_EIO;
}


#endif
