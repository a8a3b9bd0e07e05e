/* Listener and connection layer (collector/net/conn.h): back-pressure that
 * reaches the sender, idle timeout, write accounting, idempotent close,
 * listener lifetime, SO_REUSEPORT, TLS read stop/start.
 *
 * The loop runs in the main thread, a blocking client in a second thread;
 * every test ends with uv_loop_close() == 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "error.h"
#include "net/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct ctx {
    uv_loop_t loop;
    uv_async_t async;
    vg_listener_t *l;
    vg_conn_t *c;
    int port;
    void *(*client)(void *);
    /* loop side */
    size_t read_total, read_at_stop, read_at_resume;
    int stopped, ends, end_err, closes, listener_closed, writes_done, write_status;
    size_t queued_after_write, queued_in_cb;
    int write_after_close_rc;
    int async_calls;
    uv_timer_t restart;
    int restarts;
    /* client side */
    size_t written;
    int hit_eagain;
    char got[64];
    char fail[200];
    SSL_CTX *tls;
} ctx_t;

static void set_timeouts(int fd, int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int connect_port(int port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    set_timeouts(fd, 5000);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void on_listener_closed(vg_listener_t *l, void *arg)
{
    (void)l;
    ctx_t *t = arg;
    t->listener_closed++;
}

static void on_conn_close(vg_conn_t *c, void *arg)
{
    (void)c;
    ctx_t *t = arg;
    t->closes++;
    t->c = NULL;
    vg_listener_close(t->l, on_listener_closed, t);
    vg_listener_close(t->l, on_listener_closed, t); /* idempotent */
    if (!uv_is_closing((uv_handle_t *)&t->async)) uv_close((uv_handle_t *)&t->async, NULL);
}

static void on_end(vg_conn_t *c, int err, void *arg)
{
    (void)c;
    ctx_t *t = arg;
    t->ends++;
    t->end_err = err;
}

static void start_listener(ctx_t *t, const vg_listener_opts_t *opts, vg_accept_cb cb, uv_async_cb acb)
{
    char err[256] = "";
    vg_endpoint_t ep;
    assert_int_equal(uv_loop_init(&t->loop), 0);
    assert_int_equal(uv_async_init(&t->loop, &t->async, acb), 0);
    t->async.data = t;
    assert_int_equal(vg_endpoint_parse(&ep, NULL, "127.0.0.1:0", err, sizeof err), 0);
    int rc = vg_listener_start(&t->loop, &ep, opts, cb, t, &t->l, err, sizeof err);
    if (rc) fail_msg("listen: %s", err);
    t->port = vg_listener_port(t->l);
    assert_true(t->port > 0);
}

static void run_client(ctx_t *t)
{
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, t->client, t), 0);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    assert_int_equal(t->listener_closed, 1);
    assert_int_equal(uv_loop_close(&t->loop), 0);
    if (t->fail[0]) fail_msg("client: %s", t->fail);
}

/* ---- back-pressure ------------------------------------------------------------------ */

#define STOP_AFTER (256 * 1024)

static void bp_read(vg_conn_t *c, const char *data, size_t len, void *arg)
{
    (void)data;
    ctx_t *t = arg;
    t->read_total += len;
    if (!t->stopped && t->read_total >= STOP_AFTER) {
        t->stopped = 1;
        vg_conn_read_stop(c);
        vg_conn_read_stop(c); /* idempotent */
        t->read_at_stop = t->read_total;
    }
}

static void bp_accept(vg_listener_t *l, vg_conn_t *c, void *arg)
{
    (void)l;
    ctx_t *t = arg;
    static const vg_conn_handler_t h = { .on_read = bp_read, .on_end = on_end, .on_close = on_conn_close };
    t->c = c;
    assert_int_equal(vg_conn_start(c, &h, t), 0);
}

static void bp_resume(uv_async_t *a)
{
    ctx_t *t = a->data;
    t->async_calls++;
    t->read_at_resume = t->read_total;
    assert_int_equal(vg_conn_read_start(t->c), 0);
}

static void *bp_client(void *arg)
{
    ctx_t *t = arg;
    int fd = connect_port(t->port);
    if (fd < 0) {
        snprintf(t->fail, sizeof t->fail, "connect");
        uv_async_send(&t->async);
        return NULL;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    static char chunk[64 * 1024];
    memset(chunk, 'p', sizeof chunk);
    /* Write until the kernel refuses for a while: that is the server not reading. */
    while (t->written < (size_t)512 * 1024 * 1024) {
        ssize_t n = send(fd, chunk, sizeof chunk, MSG_NOSIGNAL);
        if (n > 0) {
            t->written += (size_t)n;
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) break;
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        if (poll(&p, 1, 300) == 0) {
            t->hit_eagain = 1;
            break;
        }
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    uv_async_send(&t->async); /* server: read again */
    shutdown(fd, SHUT_WR);
    char b[16];
    ssize_t n = recv(fd, b, sizeof b, 0); /* server closes after EOF */
    if (n != 0) snprintf(t->fail, sizeof t->fail, "expected EOF, got %zd", n);
    close(fd);
    return NULL;
}

static void backpressure(void **state)
{
    (void)state;
    ctx_t t;
    memset(&t, 0, sizeof t);
    vg_listener_opts_t o = { .idle_timeout_ms = 10000 };
    start_listener(&t, &o, bp_accept, bp_resume);
    t.client = bp_client;
    run_client(&t);
    assert_true(t.hit_eagain);                    /* the sender was held back */
    assert_int_equal(t.read_at_resume, t.read_at_stop); /* nothing read while stopped */
    assert_int_equal(t.read_total, t.written);    /* and nothing lost after resuming */
    assert_int_equal(t.ends, 1);
    assert_int_equal(t.end_err, 0);
    assert_int_equal(t.closes, 1);
}

/* ---- idle timeout ----------------------------------------------------------------------- */

static void idle_accept(vg_listener_t *l, vg_conn_t *c, void *arg)
{
    (void)l;
    ctx_t *t = arg;
    static const vg_conn_handler_t h = { .on_end = on_end, .on_close = on_conn_close };
    assert_int_equal(vg_conn_start(c, &h, t), 0);
}

static void noop_async(uv_async_t *a) { (void)a; }

static void *idle_client(void *arg)
{
    ctx_t *t = arg;
    int fd = connect_port(t->port);
    char b[8];
    if (fd < 0 || recv(fd, b, sizeof b, 0) != 0) snprintf(t->fail, sizeof t->fail, "no EOF on idle");
    if (fd >= 0) close(fd);
    return NULL;
}

static void idle_timeout(void **state)
{
    (void)state;
    ctx_t t;
    memset(&t, 0, sizeof t);
    vg_listener_opts_t o = { .idle_timeout_ms = 100 };
    start_listener(&t, &o, idle_accept, noop_async);
    t.client = idle_client;
    run_client(&t);
    assert_int_equal(t.ends, 1);
    assert_int_equal(t.end_err, VG_ETIMEOUT);
    assert_int_equal(vg_err_class(VG_ETIMEOUT), VG_CLASS_RETRYABLE);
}

/* ---- writes and close --------------------------------------------------------------------- */

static void wr_done(vg_conn_t *c, int status, void *arg)
{
    ctx_t *t = arg;
    t->writes_done++;
    t->write_status = status;
    t->queued_in_cb = vg_conn_write_queued(c);
}

static void wr_accept(vg_listener_t *l, vg_conn_t *c, void *arg)
{
    (void)l;
    ctx_t *t = arg;
    static const vg_conn_handler_t h = { .on_end = on_end, .on_close = on_conn_close };
    assert_int_equal(vg_conn_start(c, &h, t), 0);
    assert_int_equal(vg_conn_is_tls(c), 0);
    assert_null(vg_conn_alpn(c));
    assert_int_equal(vg_conn_peer(c)->family, AF_INET);
    assert_ptr_equal(vg_conn_listener(c), t->l);
    assert_ptr_equal(vg_conn_loop(c), &t->loop);
    assert_int_equal(vg_conn_write(c, "hello", 5, wr_done, t), 0);
    t->queued_after_write = vg_conn_write_queued(c);
    assert_int_equal(vg_conn_write(c, "x", 0, wr_done, t), VG_EINVAL);
    vg_conn_close(c);
    vg_conn_close(c);
    vg_conn_abort(c); /* after close: still fine, just faster */
    assert_true(vg_conn_is_closing(c));
    t->write_after_close_rc = vg_conn_write(c, "late", 4, wr_done, t);
}

static void *wr_client(void *arg)
{
    ctx_t *t = arg;
    int fd = connect_port(t->port);
    size_t n = 0;
    ssize_t r;
    while (fd >= 0 && n < sizeof t->got - 1 && (r = recv(fd, t->got + n, sizeof t->got - 1 - n, 0)) > 0)
        n += (size_t)r;
    if (fd >= 0) close(fd);
    return NULL;
}

static void write_and_close(void **state)
{
    (void)state;
    ctx_t t;
    memset(&t, 0, sizeof t);
    start_listener(&t, NULL, wr_accept, noop_async);
    t.client = wr_client;
    run_client(&t);
    assert_int_equal(t.queued_after_write, 5);
    assert_int_equal(t.writes_done, 1);
    assert_int_equal(t.queued_in_cb, 0);
    assert_int_equal(t.write_after_close_rc, VG_ESHUTDOWN);
    assert_int_equal(t.ends, 0); /* we closed: no on_end */
    assert_int_equal(t.closes, 1);
    /* aborted right after queueing: the bytes may or may not have made it */
    assert_true(t.write_status == 0 || t.write_status == VG_ESHUTDOWN);
}

/* ---- listener lifetime ---------------------------------------------------------------------- */

static void lt_close_cb(vg_conn_t *c, void *arg)
{
    (void)c;
    ctx_t *t = arg;
    t->closes++;
    assert_int_equal(t->listener_closed, 0); /* the listener outlives its conns */
}

static void lt_accept(vg_listener_t *l, vg_conn_t *c, void *arg)
{
    ctx_t *t = arg;
    static const vg_conn_handler_t h = { .on_close = lt_close_cb };
    assert_int_equal(vg_conn_start(c, &h, t), 0);
    vg_listener_close(l, on_listener_closed, t); /* conn still open */
    t->c = c;
    uv_async_send(&t->async);
}

static void lt_async(uv_async_t *a)
{
    ctx_t *t = a->data;
    t->async_calls++;
    assert_int_equal(t->listener_closed, 0);
    vg_listener_close_conns(t->l, 0);
    uv_close((uv_handle_t *)a, NULL);
}

static void *lt_client(void *arg)
{
    ctx_t *t = arg;
    int fd = connect_port(t->port);
    char b[4];
    if (fd < 0 || recv(fd, b, sizeof b, 0) != 0) snprintf(t->fail, sizeof t->fail, "expected EOF");
    if (fd >= 0) close(fd);
    return NULL;
}

static void listener_lifetime(void **state)
{
    (void)state;
    ctx_t t;
    memset(&t, 0, sizeof t);
    start_listener(&t, NULL, lt_accept, lt_async);
    t.client = lt_client;
    run_client(&t);
    assert_int_equal(t.closes, 1);
    assert_int_equal(t.async_calls, 1);
}

/* ---- SO_REUSEPORT ------------------------------------------------------------------------------ */

static void never_accept(vg_listener_t *l, vg_conn_t *c, void *arg)
{
    (void)l;
    (void)arg;
    vg_conn_abort(c);
}

static void reuseport(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[256], text[64];
    vg_endpoint_t ep;
    vg_listener_t *a = NULL, *b = NULL, *c = NULL;
    vg_listener_opts_t o = { .reuseport = 1, .backlog = 16 };
    assert_int_equal(vg_endpoint_parse(&ep, NULL, "127.0.0.1:0", err, sizeof err), 0);
    assert_int_equal(vg_listener_start(&loop, &ep, &o, never_accept, NULL, &a, err, sizeof err), 0);
    snprintf(text, sizeof text, "127.0.0.1:%d", vg_listener_port(a));
    assert_int_equal(vg_endpoint_parse(&ep, NULL, text, err, sizeof err), 0);
    assert_int_equal(vg_listener_start(&loop, &ep, &o, never_accept, NULL, &b, err, sizeof err), 0);
    assert_int_equal(vg_listener_port(b), vg_listener_port(a));
    o.reuseport = 0;
    assert_int_equal(vg_listener_start(&loop, &ep, &o, never_accept, NULL, &c, err, sizeof err), VG_EEXISTS);
    assert_null(c);
    vg_listener_close(a, NULL, NULL);
    vg_listener_close(b, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- TLS: stop and restart reading with decrypted data pending -------------------------------- */

static void tls_restart(uv_timer_t *tm)
{
    ctx_t *t = tm->data;
    t->restarts++;
    if (t->c) assert_int_equal(vg_conn_read_start(t->c), 0);
}

static void tls_read(vg_conn_t *c, const char *data, size_t len, void *arg)
{
    ctx_t *t = arg;
    size_t n = strlen(t->got);
    if (n + len < sizeof t->got) memcpy(t->got + n, data, len), t->got[n + len] = '\0';
    t->read_total += len;
    vg_conn_read_stop(c); /* one record at a time, 20 ms apart */
    uv_timer_start(&t->restart, tls_restart, 20, 0);
}

static void tls_close(vg_conn_t *c, void *arg)
{
    ctx_t *t = arg;
    uv_close((uv_handle_t *)&t->restart, NULL);
    on_conn_close(c, arg);
}

static void tls_accept(vg_listener_t *l, vg_conn_t *c, void *arg)
{
    (void)l;
    ctx_t *t = arg;
    static const vg_conn_handler_t h = { .on_read = tls_read, .on_end = on_end, .on_close = tls_close };
    t->c = c;
    assert_true(vg_conn_is_tls(c));
    assert_int_equal(vg_conn_write(c, "x", 1, NULL, NULL), VG_ESTATE); /* before the handshake */
    assert_int_equal(vg_conn_start(c, &h, t), 0);
}

static void *tls_client(void *arg)
{
    ctx_t *t = arg;
    int fd = connect_port(t->port);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        snprintf(t->fail, sizeof t->fail, "handshake");
    } else {
        /* three records back to back: they arrive in one read on the server */
        SSL_write(ssl, "one,", 4);
        SSL_write(ssl, "two,", 4);
        SSL_write(ssl, "three", 5);
        SSL_shutdown(ssl);
        char b[16];
        int n = SSL_read(ssl, b, sizeof b); /* server's close_notify / EOF */
        if (n > 0) snprintf(t->fail, sizeof t->fail, "unexpected data");
    }
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return NULL;
}

static void tls_read_stop_start(void **state)
{
    (void)state;
    char dir[] = "/tmp/vg_net_conn_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cert[64], key[64];
    snprintf(cert, sizeof cert, "%s/c.pem", dir);
    snprintf(key, sizeof key, "%s/k.pem", dir);
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"t", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_sign(x, k, EVP_sha256());
    FILE *f = fopen(cert, "w");
    PEM_write_X509(f, x);
    fclose(f);
    f = fopen(key, "w");
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);

    ctx_t t;
    memset(&t, 0, sizeof t);
    vg_tls_config_t cfg = { .cert_file = cert, .key_file = key, .min_version = "1.3" };
    char err[256];
    assert_int_equal(vg_tls_server_ctx_new(&cfg, &t.tls, err, sizeof err), 0);
    vg_listener_opts_t o = { .tls = t.tls, .idle_timeout_ms = 5000 };
    start_listener(&t, &o, tls_accept, noop_async);
    SSL_CTX_free(t.tls); /* the listener holds its own reference */
    uv_timer_init(&t.loop, &t.restart);
    t.restart.data = &t;
    t.client = tls_client;
    run_client(&t);
    unlink(cert);
    unlink(key);
    rmdir(dir);
    assert_string_equal(t.got, "one,two,three");
    assert_true(t.restarts >= 2);
    assert_int_equal(t.ends, 1);
    assert_int_equal(t.end_err, 0); /* close_notify is an orderly end */
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backpressure),
        cmocka_unit_test(idle_timeout),
        cmocka_unit_test(write_and_close),
        cmocka_unit_test(listener_lifetime),
        cmocka_unit_test(reuseport),
        cmocka_unit_test(tls_read_stop_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
