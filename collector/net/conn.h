/* Listeners and stream connections (TCP, unix stream) on libuv, optionally TLS.
 *
 * One loop owns a listener and every connection accepted from it; all calls
 * and callbacks happen on that loop's thread.
 *
 * TLS runs over OpenSSL memory BIOs: the uv stream reads ciphertext into the
 * SSL read BIO and writes whatever the SSL write BIO produces. Callers only
 * ever see plaintext.
 *
 * Lifetimes
 *   - A listener is freed after its close callback returns. That callback runs
 *     once the listening socket is closed AND every connection accepted from it
 *     has been closed (vg_listener_close_conns() helps at shutdown).
 *   - A connection is freed right after its handler's on_close returns; that is
 *     the last callback for it and runs from the uv close callback.
 *   - vg_conn_close() / vg_conn_abort() / vg_listener_close() may be called any
 *     number of times; only the first has an effect. */
#ifndef VIGIL_NET_CONN_H
#define VIGIL_NET_CONN_H

#include "net/endpoint.h"
#include "net/peer.h"

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct vg_listener vg_listener_t;
typedef struct vg_conn vg_conn_t;

/* ---- TLS ---------------------------------------------------------------- */

/* Option-like fields, as they come from a receiver's `tls:` block. */
typedef struct {
    const char *cert_file;      /* PEM certificate chain (required) */
    const char *key_file;       /* PEM private key matching cert_file (required) */
    const char *client_ca_file; /* PEM CA bundle; when set, clients must present a
                                 * certificate that verifies against it (mTLS) */
    const char *min_version;    /* "1.2" (default when NULL/"") or "1.3" */
} vg_tls_config_t;

/* Builds a server SSL_CTX. On success *out holds one reference the caller
 * releases with SSL_CTX_free() (listeners take their own reference, so it may be
 * freed right after vg_listener_start). Returns 0, or VG_ECONFIG with a message
 * such as "cannot read key_file \"/x.pem\": No such file or directory" or
 * "key_file \"k.pem\" does not match cert_file \"c.pem\"". The context installs
 * the ALPN selection callback that listeners' `alpn` lists rely on. */
int vg_tls_server_ctx_new(const vg_tls_config_t *cfg, SSL_CTX **out, char *err, size_t errlen);

/* ---- listener ----------------------------------------------------------- */

typedef struct {
    int backlog;                /* listen(2) backlog; <= 0 means 511 */
    int max_connections;        /* open connections at once; 0 = unlimited. Accepts
                                 * beyond it are closed at once and counted. */
    uint64_t idle_timeout_ms;   /* initial idle timeout of each conn; 0 = none */
    int reuseport;              /* set SO_REUSEPORT (N loops sharing a port) */
    int unix_mode;              /* chmod of a unix socket file; 0 = leave umask's */
    SSL_CTX *tls;               /* NULL: plaintext. From vg_tls_server_ctx_new(). */
    const char *const *alpn;    /* NULL-terminated protocols the server offers in
                                 * preference order, e.g. {"h2","http/1.1",NULL};
                                 * copied. Only meaningful with tls. */
} vg_listener_opts_t;

typedef struct {
    uint64_t accepted;          /* connections handed to the accept callback */
    uint64_t refused;           /* closed at accept because of max_connections */
    uint64_t accept_errors;     /* accept(2) or setup failures */
    uint64_t tls_failures;      /* handshakes that failed (incl. missing client cert) */
    uint64_t idle_timeouts;     /* conns closed by the idle timer */
    int active;                 /* conns open now */
} vg_listener_stats_t;

/* Called for each accepted connection. The conn is fully set up (peer recorded,
 * TLS object created) but not reading: call vg_conn_start() to take it, or
 * vg_conn_close(). A conn left alone is never read and leaks until the listener
 * closes its conns. */
typedef void (*vg_accept_cb)(vg_listener_t *l, vg_conn_t *c, void *arg);
typedef void (*vg_listener_close_cb)(vg_listener_t *l, void *arg);

/* Resolves (blocking, start-time) and binds `ep` with SO_REUSEADDR (and
 * SO_REUSEPORT if asked), then listens. For names resolving to several
 * addresses the first that binds is used (IPv4 preferred; ":port" binds the
 * dual-stack IPv6 wildcard, falling back to 0.0.0.0). A stale unix socket file
 * (nobody accepting on it) is replaced; the file is removed again on close.
 * Returns 0 and *out, or a negative code with the uv / resolver text in err:
 * VG_EEXISTS (address in use), VG_EAUTH (permission), VG_ENOTFOUND (resolve),
 * VG_EINVAL, VG_ENOMEM, VG_EIO. On failure nothing is left on the loop, except
 * when uv_listen itself fails on the prepared socket: then one closing handle
 * remains until the loop next runs (it frees itself). */
int vg_listener_start(uv_loop_t *loop, const vg_endpoint_t *ep, const vg_listener_opts_t *opts,
                      vg_accept_cb cb, void *arg, vg_listener_t **out, char *err, size_t errlen);

/* Stops accepting and closes the listening socket; see Lifetimes above. */
void vg_listener_close(vg_listener_t *l, vg_listener_close_cb cb, void *arg);

/* Closes every open conn of this listener: gracefully (vg_conn_close) or not. */
void vg_listener_close_conns(vg_listener_t *l, int abort);

/* The bound TCP port (useful after binding port 0); 0 for unix sockets. */
int vg_listener_port(const vg_listener_t *l);
const vg_listener_stats_t *vg_listener_stats(const vg_listener_t *l);
uv_loop_t *vg_listener_loop(const vg_listener_t *l);

/* ---- connection --------------------------------------------------------- */

typedef struct {
    /* Decrypted bytes; valid only during the call. The callee may call
     * vg_conn_read_stop/close/write from inside. */
    void (*on_read)(vg_conn_t *c, const char *data, size_t len, void *arg);
    /* The peer is gone: err 0 = orderly EOF (or TLS close_notify), VG_EIO = reset
     * or read error, VG_EAUTH = TLS handshake failed, VG_ETIMEOUT = idle timeout.
     * The conn closes itself after this returns (gracefully for EOF, so writes
     * queued from inside still go out). Optional. */
    void (*on_end)(vg_conn_t *c, int err, void *arg);
    /* Last call; the conn's memory is freed when it returns. Optional. */
    void (*on_close)(vg_conn_t *c, void *arg);
} vg_conn_handler_t;

/* status 0 once the bytes are handed to the kernel; VG_EIO on write error,
 * VG_ESHUTDOWN when the conn closed before they could be written. Runs before
 * the conn's on_close. */
typedef void (*vg_conn_write_cb)(vg_conn_t *c, int status, void *arg);

/* Installs the handler (copied) and starts reading (for TLS: the handshake).
 * Returns 0 or VG_ESTATE if the conn is closing. */
int vg_conn_start(vg_conn_t *c, const vg_conn_handler_t *h, void *arg);
/* Replaces the handler, e.g. to hand a conn over to another protocol. */
void vg_conn_set_handler(vg_conn_t *c, const vg_conn_handler_t *h, void *arg);

/* Back-pressure: stop really stops reading the socket (uv_read_stop) so the
 * kernel buffers fill and TCP flow control reaches the sender; start resumes
 * (TLS plaintext already decrypted-but-undelivered is delivered from the next
 * loop iteration, never from inside this call). Both are idempotent. While
 * stopped and with nothing to write, the idle timer is paused: waiting on the
 * application is not the peer's fault. */
void vg_conn_read_stop(vg_conn_t *c);
int vg_conn_read_start(vg_conn_t *c);

/* Queues bytes (copied; TLS-encrypted first). cb (may be NULL) runs once they
 * are written or failed. Returns 0, or VG_EINVAL for zero bytes, VG_ETOOBIG
 * over 1 GiB in one call, VG_ESHUTDOWN if the conn is closing, VG_ESTATE
 * before the TLS handshake finished, VG_ENOMEM, VG_EIO; on error cb is never
 * called. */
int vg_conn_write(vg_conn_t *c, const void *data, size_t len, vg_conn_write_cb cb, void *arg);
int vg_conn_writev(vg_conn_t *c, const uv_buf_t *bufs, unsigned nbufs, vg_conn_write_cb cb, void *arg);
/* Bytes queued and not yet written to the kernel (ciphertext for TLS). */
size_t vg_conn_write_queued(const vg_conn_t *c);

/* Graceful close: stop reading, (TLS) send close_notify, flush queued writes,
 * shut down the write side, briefly drain the peer's leftover input so it sees
 * our last response instead of a reset, then close. Bounded by the idle timeout
 * (or 5 s if none). */
void vg_conn_close(vg_conn_t *c);
/* Immediate close; queued writes fail with VG_ESHUTDOWN. */
void vg_conn_abort(vg_conn_t *c);

/* No bytes moving for ms while the conn waits on the peer -> on_end(VG_ETIMEOUT)
 * and abort. 0 disables. During a TLS handshake the timer is not reset by
 * traffic, so the whole handshake must finish within it. */
void vg_conn_set_idle_timeout(vg_conn_t *c, uint64_t ms);

const vg_peer_t *vg_conn_peer(const vg_conn_t *c);
int vg_conn_is_tls(const vg_conn_t *c);
/* ALPN protocol the TLS handshake selected ("h2"), or NULL (none / plaintext /
 * handshake not finished). */
const char *vg_conn_alpn(const vg_conn_t *c);
vg_listener_t *vg_conn_listener(const vg_conn_t *c);
uv_loop_t *vg_conn_loop(const vg_conn_t *c);
/* 1 once vg_conn_close/abort ran or the peer went away. */
int vg_conn_is_closing(const vg_conn_t *c);

#endif
