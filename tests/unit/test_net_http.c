/* HTTP/1.1 server (collector/net/http_server.h) against real clients.
 *
 * Each test runs the server on its own loop in the main thread and a client
 * in a second thread using plain blocking sockets (and OpenSSL for TLS). The
 * client records what it saw in the test context; the main thread asserts
 * after joining it, counts the server-side callbacks, and ends by checking
 * that the loop closes with no handle left behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "error.h"
#include "mem.h"
#include "net/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

typedef struct tctx tctx_t;

/* ---- fixture: certificates generated at test time ------------------------------ */

typedef struct {
    char dir[64];
    char ca_cert[128], server_cert[128], server_key[128], client_cert[128], client_key[128];
} certs_t;

static EVP_PKEY *gen_key(void) { return EVP_EC_gen("P-256"); }

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int ca, long serial)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    if (!ca) {
        e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
    return x;
}

static void write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (x) PEM_write_X509(f, x);
    if (k) PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
}

static int group_setup(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    certs_t *c = calloc(1, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "/tmp/vg_net_http_XXXXXX");
    if (!mkdtemp(c->dir)) return -1;
    snprintf(c->ca_cert, sizeof c->ca_cert, "%s/ca.pem", c->dir);
    snprintf(c->server_cert, sizeof c->server_cert, "%s/server.pem", c->dir);
    snprintf(c->server_key, sizeof c->server_key, "%s/server.key", c->dir);
    snprintf(c->client_cert, sizeof c->client_cert, "%s/client.pem", c->dir);
    snprintf(c->client_key, sizeof c->client_key, "%s/client.key", c->dir);
    EVP_PKEY *cak = gen_key(), *sk = gen_key(), *ck = gen_key();
    X509 *ca = make_cert(cak, "vigil test CA", NULL, NULL, 1, 1);
    X509 *srv = make_cert(sk, "localhost", NULL, NULL, 0, 2); /* self-signed */
    X509 *cli = make_cert(ck, "vigil test client", ca, cak, 0, 3);
    write_pem(c->ca_cert, ca, NULL);
    write_pem(c->server_cert, srv, NULL);
    write_pem(c->server_key, NULL, sk);
    write_pem(c->client_cert, cli, NULL);
    write_pem(c->client_key, NULL, ck);
    X509_free(ca);
    X509_free(srv);
    X509_free(cli);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(sk);
    EVP_PKEY_free(ck);
    *state = c;
    return 0;
}

static int group_teardown(void **state)
{
    certs_t *c = *state;
    unlink(c->ca_cert);
    unlink(c->server_cert);
    unlink(c->server_key);
    unlink(c->client_cert);
    unlink(c->client_key);
    rmdir(c->dir);
    free(c);
    return 0;
}

/* ---- the test context ------------------------------------------------------------ */

struct tctx {
    uv_loop_t loop;
    uv_async_t done;          /* client thread -> loop: close the server */
    vg_http_server_t *srv;
    vg_http_server_opts_t opts;
    vg_endpoint_t ep;
    int port;
    char unix_path[108];
    const certs_t *certs;
    void *(*client)(void *);
    uint64_t drain_ms;
    /* server side, loop thread only */
    int requests, cancels, outstanding, max_outstanding, deferred, server_closed;
    int respond_after_cancel_rc;
    int h2_calls;
    size_t h2_len;
    int h2_preface_ok;
    vg_peer_t peer;
    vg_http_stats_t stats;
    vg_listener_stats_t lstats;
    /* client side, written by the client thread, read after join */
    char fail[256];
    char log[2048];
    int client_tls_alpn_ok;
};

typedef struct {
    uv_timer_t timer;
    vg_http_request_t *req;
    tctx_t *t;
    char body[256];
} deferred_t;

static void deferred_closed(uv_handle_t *h) { free(h->data); }

static void deferred_fire(uv_timer_t *tm)
{
    deferred_t *d = tm->data;
    tctx_t *t = d->t;
    int cancelled = vg_http_request_cancelled(d->req);
    int rc = vg_http_respond(d->req, 200, "text/plain", NULL, d->body, strlen(d->body));
    if (cancelled) t->respond_after_cancel_rc = rc;
    t->outstanding--;
    uv_close((uv_handle_t *)&d->timer, deferred_closed);
}

static long query_num(const char *q, const char *key)
{
    const char *p = strstr(q, key);
    return p ? strtol(p + strlen(key), NULL, 10) : 0;
}

static void on_request(vg_http_request_t *req, void *arg)
{
    tctx_t *t = arg;
    t->requests++;
    if (++t->outstanding > t->max_outstanding) t->max_outstanding = t->outstanding;
    const char *path = vg_http_request_path(req);
    const char *query = vg_http_request_query(req);
    char body[1024];
    if (strcmp(path, "/slow") == 0) {
        deferred_t *d = calloc(1, sizeof *d);
        d->req = req;
        d->t = t;
        snprintf(d->body, sizeof d->body, "%s", query);
        uv_timer_init(&t->loop, &d->timer);
        d->timer.data = d;
        uv_timer_start(&d->timer, deferred_fire, (uint64_t)query_num(query, "d="), 0);
        t->deferred++;
        return;
    }
    if (strcmp(path, "/peer") == 0) {
        t->peer = *vg_http_request_peer(req);
        snprintf(body, sizeof body, "pid=%d", t->peer.pid);
    } else if (strcmp(path, "/head") == 0) {
        snprintf(body, sizeof body, "hello");
    } else if (strcmp(path, "/echo") == 0) {
        size_t blen;
        const char *b = vg_http_request_body(req, &blen);
        const char *h = vg_http_request_header(req, "X-TEST");
        snprintf(body, sizeof body, "%s %s q=%s b=%.*s h=%s", vg_http_request_method(req), path, query,
                 (int)blen, b, h ? h : "-");
    } else {
        t->outstanding--;
        vg_http_respond(req, 404, "text/plain", "X-Why: nothing here", "no\n", 3);
        return;
    }
    t->outstanding--;
    int rc = vg_http_respond(req, 200, "text/plain", "X-Extra: 1\r\n", body, strlen(body));
    assert_int_equal(rc, 0);
}

static void on_cancel(vg_http_request_t *req, void *arg)
{
    (void)req;
    tctx_t *t = arg;
    t->cancels++;
}

static void on_h2(vg_conn_t *conn, const char *data, size_t len, void *arg)
{
    tctx_t *t = arg;
    t->h2_calls++;
    t->h2_len = len;
    t->h2_preface_ok = len >= 24 && memcmp(data, H2_PREFACE, 24) == 0;
    assert_int_equal(vg_conn_write(conn, "h2!", 3, NULL, NULL), 0);
    vg_conn_close(conn);
}

static void on_server_closed(vg_http_server_t *srv, void *arg)
{
    (void)srv;
    tctx_t *t = arg;
    t->server_closed++;
}

static void on_done(uv_async_t *a)
{
    tctx_t *t = a->data;
    if (t->srv) {
        t->stats = *vg_http_server_stats(t->srv);
        t->lstats = *vg_listener_stats(vg_http_server_listener(t->srv));
        vg_http_server_close(t->srv, t->drain_ms, on_server_closed, t);
        vg_http_server_close(t->srv, t->drain_ms, on_server_closed, t); /* idempotent */
        t->srv = NULL;
    }
    uv_close((uv_handle_t *)&t->done, NULL);
}

static void tctx_init(tctx_t *t, const certs_t *certs)
{
    memset(t, 0, sizeof *t);
    t->certs = certs;
    t->opts.on_request = on_request;
    t->opts.on_cancel = on_cancel;
    t->opts.arg = t;
    t->drain_ms = 2000;
    char err[256];
    assert_int_equal(vg_endpoint_parse(&t->ep, NULL, "127.0.0.1:0", err, sizeof err), 0);
}

/* Starts the server, runs the client thread against it, stops everything. */
static void run(tctx_t *t)
{
    char err[256] = "";
    assert_int_equal(uv_loop_init(&t->loop), 0);
    assert_int_equal(uv_async_init(&t->loop, &t->done, on_done), 0);
    t->done.data = t;
    int rc = vg_http_server_start(&t->loop, &t->ep, &t->opts, &t->srv, err, sizeof err);
    if (rc != 0) fail_msg("server start: %s", err);
    t->port = vg_http_server_port(t->srv);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, t->client, t), 0);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    assert_int_equal(t->server_closed, 1);
    assert_int_equal(uv_loop_close(&t->loop), 0); /* no handle left behind */
    if (t->fail[0]) fail_msg("client: %s", t->fail);
}

/* ---- blocking client ----------------------------------------------------------------- */

typedef struct {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char buf[1 << 16];
    size_t len;
} cli_t;

typedef struct {
    int status;
    int close;
    size_t clen;
    char head[4096];
    char body[8192];
} resp_t;

#define CHECK(t, cond, ...)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            if (!(t)->fail[0]) snprintf((t)->fail, sizeof (t)->fail, __VA_ARGS__);         \
            goto out;                                                                      \
        }                                                                                  \
    } while (0)

static void logf_(tctx_t *t, const char *fmt, ...)
{
    size_t n = strlen(t->log);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->log + n, sizeof t->log - n, fmt, ap);
    va_end(ap);
}

static void set_timeouts(int fd, int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int cli_open(cli_t *c, tctx_t *t)
{
    memset(c, 0, sizeof *c);
    if (t->unix_path[0]) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        snprintf(sun.sun_path, sizeof sun.sun_path, "%s", t->unix_path);
        c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
        set_timeouts(c->fd, 5000);
        return connect(c->fd, (struct sockaddr *)&sun, sizeof sun);
    }
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)t->port) };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    set_timeouts(c->fd, 5000);
    return connect(c->fd, (struct sockaddr *)&sin, sizeof sin);
}

/* TLS on top of cli_open. cert/key may be NULL. Returns 0 when the handshake
 * completed from the client's point of view. */
static int cli_tls(cli_t *c, const char *cert, const char *key, const char *alpn_wire, unsigned alpn_len)
{
    c->ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    if (cert) {
        SSL_CTX_use_certificate_file(c->ctx, cert, SSL_FILETYPE_PEM);
        SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM);
    }
    c->ssl = SSL_new(c->ctx);
    if (alpn_wire) SSL_set_alpn_protos(c->ssl, (const unsigned char *)alpn_wire, alpn_len);
    SSL_set_fd(c->ssl, c->fd);
    int r = SSL_connect(c->ssl);
    ERR_clear_error();
    return r == 1 ? 0 : -1;
}

static int cli_send(cli_t *c, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = c->ssl ? SSL_write(c->ssl, p, (int)len) : send(c->fd, p, len, MSG_NOSIGNAL);
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int cli_sends(cli_t *c, const char *s) { return cli_send(c, s, strlen(s)); }

/* More bytes into the buffer: >0 read, 0 EOF, -1 error or timeout. */
static ssize_t cli_fill(cli_t *c)
{
    if (c->len == sizeof c->buf) return -1;
    ssize_t n;
    if (c->ssl) {
        n = SSL_read(c->ssl, c->buf + c->len, (int)(sizeof c->buf - c->len));
        if (n <= 0) {
            int e = SSL_get_error(c->ssl, (int)n);
            ERR_clear_error();
            return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
        }
    } else {
        n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (n < 0) return errno == ECONNRESET ? 0 : -1;
    }
    c->len += (size_t)n;
    return n;
}

/* Next complete response (1xx skipped). head_req: the request was HEAD. */
static int cli_response(cli_t *c, resp_t *r, int head_req)
{
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (!end) {
            if (cli_fill(c) <= 0) return -1;
            continue;
        }
        size_t hlen = (size_t)(end - c->buf) + 4;
        memset(r, 0, sizeof *r);
        memcpy(r->head, c->buf, hlen < sizeof r->head - 1 ? hlen : sizeof r->head - 1);
        if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1) return -1;
        if (r->status >= 100 && r->status < 200) {
            memmove(c->buf, c->buf + hlen, c->len - hlen);
            c->len -= hlen;
            continue;
        }
        const char *cl = strcasestr(r->head, "\r\nContent-Length:");
        r->clen = cl ? strtoul(cl + 17, NULL, 10) : 0;
        r->close = strcasestr(r->head, "\r\nConnection: close") != NULL;
        size_t blen = head_req ? 0 : r->clen;
        while (c->len < hlen + blen)
            if (cli_fill(c) <= 0) return -1;
        memcpy(r->body, c->buf + hlen, blen < sizeof r->body - 1 ? blen : sizeof r->body - 1);
        memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
        c->len -= hlen + blen;
        return 0;
    }
}

/* 1 if the server closes (EOF or reset) with no further bytes. */
static int cli_eof(cli_t *c)
{
    if (c->len) return 0;
    return cli_fill(c) == 0;
}

static void cli_close(cli_t *c)
{
    if (c->ssl) SSL_free(c->ssl);
    if (c->ctx) SSL_CTX_free(c->ctx);
    if (c->fd > 0) close(c->fd);
    c->ssl = NULL;
    c->ctx = NULL;
    c->fd = -1;
}

static void done(tctx_t *t) { uv_async_send(&t->done); }

/* ---- tests -------------------------------------------------------------------------------- */

static void *cl_get_post(void *arg)
{
    tctx_t *t = arg;
    cli_t c;
    resp_t r;
    CHECK(t, cli_open(&c, t) == 0, "connect");
    CHECK(t, cli_sends(&c, "GET /echo?x=1&y=2 HTTP/1.1\r\nHost: a\r\nx-test:  v1  \r\n\r\n") == 0, "send");
    CHECK(t, cli_response(&c, &r, 0) == 0, "response 1");
    logf_(t, "%d:%s|", r.status, r.body);
    CHECK(t, strstr(r.head, "X-Extra: 1\r\n") && strstr(r.head, "Content-Type: text/plain\r\n"), "headers: %s", r.head);
    CHECK(t, !r.close, "keep-alive expected");
    CHECK(t, cli_sends(&c, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello") == 0, "send");
    CHECK(t, cli_response(&c, &r, 0) == 0, "response 2");
    logf_(t, "%d:%s|", r.status, r.body);
    CHECK(t, cli_sends(&c, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "3\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n") == 0, "send");
    CHECK(t, cli_response(&c, &r, 0) == 0, "response 3");
    logf_(t, "%d:%s|", r.status, r.body);
    CHECK(t, cli_sends(&c, "GET /nothing HTTP/1.0\r\n\r\n") == 0, "send");
    CHECK(t, cli_response(&c, &r, 0) == 0, "response 4");
    logf_(t, "%d:%s", r.status, r.body);
    CHECK(t, r.close && strstr(r.head, "X-Why: nothing here\r\n"), "HTTP/1.0 answer closes: %s", r.head);
    CHECK(t, cli_eof(&c), "EOF after HTTP/1.0 answer");
out:
    cli_close(&c);
    done(t);
    return NULL;
}

static void get_post(void **state)
{
    tctx_t t;
    tctx_init(&t, *state);
    t.client = cl_get_post;
    run(&t);
    assert_string_equal(t.log, "200:GET /echo q=x=1&y=2 b= h=v1|200:POST /echo q= b=hello h=-|"
                               "200:POST /echo q= b=abcde h=-|404:no\n");
    assert_int_equal(t.requests, 4);
    assert_int_equal(t.stats.requests, 4);
    assert_int_equal(t.stats.responses, 4);
    assert_int_equal(t.lstats.accepted, 1);
}

static void *cl_keepalive(void *arg)
{
    tctx_t *t = arg;
    cli_t c;
    resp_t r;
    CHECK(t, cli_open(&c, t) == 0, "connect");
    for (int i = 0; i < 5; i++) {
        char req[128];
        snprintf(req, sizeof req, "GET /echo?i=%d HTTP/1.1\r\nHost: a\r\n\r\n", i);
        CHECK(t, cli_sends(&c, req) == 0, "send");
        CHECK(t, cli_response(&c, &r, 0) == 0, "response %d", i);
        logf_(t, "%s|", r.body + 10);
    }
    /* HEAD: Content-Length of the GET answer, no body; the conn stays usable */
    CHECK(t, cli_sends(&c, "HEAD /head HTTP/1.1\r\nHost: a\r\n\r\n") == 0, "send");
    CHECK(t, cli_response(&c, &r, 1) == 0, "HEAD response");
    CHECK(t, r.status == 200 && r.clen == 5, "HEAD: %s", r.head);
    CHECK(t, cli_sends(&c, "GET /head HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n") == 0, "send");
    CHECK(t, cli_response(&c, &r, 0) == 0, "GET after HEAD");
    CHECK(t, strcmp(r.body, "hello") == 0 && r.close, "GET after HEAD: %s", r.body);
    CHECK(t, cli_eof(&c), "EOF after Connection: close");
out:
    cli_close(&c);
    done(t);
    return NULL;
}

static void keepalive(void **state)
{
    tctx_t t;
    tctx_init(&t, *state);
    t.client = cl_keepalive;
    run(&t);
    assert_string_equal(t.log, "q=i=0 b= h=-|q=i=1 b= h=-|q=i=2 b= h=-|q=i=3 b= h=-|q=i=4 b= h=-|");
    assert_int_equal(t.requests, 7);
    assert_int_equal(t.lstats.accepted, 1);
}

static void *cl_pipeline(void *arg)
{
    tctx_t *t = arg;
    cli_t c;
    resp_t r;
    CHECK(t, cli_open(&c, t) == 0, "connect");
    /* one write, three requests; the first is answered last by the handler's clock */
    CHECK(t, cli_sends(&c, "GET /slow?d=150&n=a HTTP/1.1\r\nHost: a\r\n\r\n"
                           "POST /slow?d=5&n=b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"
                           "GET /echo?n=c HTTP/1.1\r\nHost: a\r\n\r\n") == 0, "send");
    for (int i = 0; i < 3; i++) {
        CHECK(t, cli_response(&c, &r, 0) == 0, "response %d", i);
        logf_(t, "%s|", r.body);
    }
out:
    cli_close(&c);
    done(t);
    return NULL;
}

static void pipelining(void **state)
{
    tctx_t t;
    tctx_init(&t, *state);
    t.client = cl_pipeline;
    run(&t);
    assert_string_equal(t.log, "d=150&n=a|d=5&n=b|GET /echo q=n=c b= h=-|");
    assert_int_equal(t.requests, 3);
    assert_int_equal(t.max_outstanding, 1); /* one request with the handler at a time */
    assert_int_equal(t.deferred, 2);
}

static void *cl_async(void *arg)
{
    tctx_t *t = arg;
    cli_t c;
    resp_t r;
    struct timespec a, b;
    CHECK(t, cli_open(&c, t) == 0, "connect");
    clock_gettime(CLOCK_MONOTONIC, &a);
    CHECK(t, cli_sends(&c, "GET /slow?d=120 HTTP/1.1\r\nHost: a\r\n\r\n") == 0, "send");
    CHECK(t, cli_response(&c, &r, 0) == 0, "response");
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    CHECK(t, r.status == 200 && strcmp(r.body, "d=120") == 0, "body %s", r.body);
    CHECK(t, ms >= 100, "answered too early: %ld ms", ms);
out:
    cli_close(&c);
    done(t);
    return NULL;
}

static void async_respond(void **state)
{
    tctx_t t;
    tctx_init(&t, *state);
    t.client = cl_async;
    t.opts.idle_timeout_ms = 50; /* shorter than the handler: must not cut the request */
    run(&t);
    assert_int_equal(t.deferred, 1);
    assert_int_equal(t.cancels, 0);
}

static void *cl_too_large(void *arg)
{
    tctx_t *t = arg;
    cli_t c;
    resp_t r;
    /* declared length over the limit: refused before the body is read */
    CHECK(t, cli_open(&c, t) == 0, "connect");
    CHECK(t, cli_sends(&c, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n") == 0, "send");
    char junk[2048];
    memset(junk, 'x', sizeof junk);
    cli_send(&c, junk, sizeof junk); /* may fail once the server closed */
    CHECK(t, cli_response(&c, &r, 0) == 0, "413 response");
    logf_(t, "%d:%d|", r.status, r.close);
    CHECK(t, cli_eof(&c), "EOF after 413");
    cli_close(&c);
    /* chunked body growing over the limit while being read */
    CHECK(t, cli_open(&c, t) == 0, "connect");
    CHECK(t, cli_sends(&c, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n") == 0, "send");
    for (int i = 0; i < 3; i++) {
        CHECK(t, cli_sends(&c, "190\r\n") == 0, "send"); /* 400 bytes per chunk */
        char chunk[402];
        memset(chunk, 'y', 400);
        memcpy(chunk + 400, "\r\n", 2);
        if (cli_send(&c, chunk, sizeof chunk) != 0) break;
    }
    CHECK(t, cli_response(&c, &r, 0) == 0, "413 response (chunked)");
    logf_(t, "%d:%d|", r.status, r.close);
    CHECK(t, cli_eof(&c), "EOF after chunked 413");
    cli_close(&c);
    /* exactly at the limit is fine */
    CHECK(t, cli_open(&c, t) == 0, "connect");
    CHECK(t, cli_sends(&c, "POST /nothing HTTP/1.1\r\nHost: a\r\nContent-Length: 1024\r\n\r\n") == 0, "send");
    char ok[1024];
    memset(ok, 'z', sizeof ok);
    CHECK(t, cli_send(&c, ok, sizeof ok) == 0, "send");
    CHECK(t, cli_response(&c, &r, 0) == 0, "response at limit");
    logf_(t, "%d", r.status);
out:
    cli_close(&c);
    done(t);
    return NULL;
}

static void body_too_large(void **state)
{
    tctx_t t;
    tctx_init(&t, *state);
    t.client = cl_too_large;
    t.opts.max_request_body_size = 1024;
    run(&t);
    assert_string_equal(t.log, "413:1|413:1|404");
    assert_int_equal(t.requests, 1);
    assert_int_equal(t.stats.too_large, 2);
}

static void *cl_stall(void *arg)
{
    tctx_t *t = arg;
    cli_t c;
    resp_t r;
    CHECK(t, cli_open(&c, t) == 0, "connect");
    CHECK(t, cli_sends(&c, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc") == 0, "send");
    CHECK(t, cli_response(&c, &r, 0) == 0, "408 response");
    logf_(t, "%d:%d|", r.status, r.close);
    CHECK(t, cli_eof(&c), "EOF after 408");
    cli_close(&c);
    /* slow headers (one byte at a time, never finishing) hit the same timer */
    CHECK(t, cli_open(&c, t) == 0, "connect");
    const char *part = "GET /echo HTTP/1.1\r\nHost: a\r\nX-Slow: ";
    for (const char *p = part; *p; p++) CHECK(t, cli_send(&c, p, 1) == 0, "send");
    int got = cli_response(&c, &r, 0);
    CHECK(t, got == 0, "408 for slow headers");
    logf_(t, "%d", r.status);
out:
    cli_close(&c);
    done(t);
    return NULL;
}

static void request_timeout(void **state)
{
    tctx_t t;
    tctx_init(&t, *state);
    t.client = cl_stall;
    t.opts.request_timeout_ms = 200;
    run(&t);
    assert_string_equal(t.log, "408:1|408");
    assert_int_equal(t.requests, 0);
    assert_int_equal(t.stats.timeouts, 2);
}

static void *cl_idle(void *arg)
{
    tctx_t *t = arg;
    cli_t c;
    resp_t r;
    CHECK(t, cli_open(&c, t) == 0, "connect");
    CHECK(t, cli_sends(&c, "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n") == 0, "send");
    CHECK(t, cli_response(&c, &r, 0) == 0, "response");
    CHECK(t, cli_eof(&c), "idle keep-alive connection must be closed by the server");
    logf_(t, "idle-closed");
out:
    cli_close(&c);
    done(t);
    return NULL;
}

static void idle_timeout(void **state)
{
    tctx_t t;
    tctx_init(&t, *state);
    t.client = cl_idle;
    t.opts.idle_timeout_ms = 100;
    run(&t);
    assert_string_equal(t.log, "idle-closed");
    assert_int_equal(t.lstats.idle_timeouts, 1);
}

static void *cl_disconnect(void *arg)
{
    tctx_t *t = arg;
    cli_t c;
    CHECK(t, cli_open(&c, t) == 0, "connect");
    CHECK(t, cli_sends(&c, "GET /slow?d=300 HTTP/1.1\r\nHost: a\r\n\r\n") == 0, "send");
    usleep(50 * 1000);
out:
    cli_close(&c); /* gone before the answer */
    usleep(400 * 1000); /* let the handler answer into the void */
    done(t);
    return NULL;
}

static void client_disconnect(void **state)
{
    tctx_t t;
    tctx_init(&t, *state);
    t.client = cl_disconnect;
    t.respond_after_cancel_rc = 1;
    run(&t);
    assert_int_equal(t.requests, 1);
    assert_int_equal(t.cancels, 1);
    assert_int_equal(t.respond_after_cancel_rc, VG_ESHUTDOWN);
    assert_int_equal(t.stats.cancelled, 1);
    assert_int_equal(t.outstanding, 0);
}

static void *cl_drain(void *arg)
{
    tctx_t *t = arg;
    cli_t c, idle;
    resp_t r;
    CHECK(t, cli_open(&idle, t) == 0, "connect idle");
    CHECK(t, cli_open(&c, t) == 0, "connect");
    CHECK(t, cli_sends(&c, "GET /slow?d=200 HTTP/1.1\r\nHost: a\r\n\r\n") == 0, "send");
    usleep(50 * 1000);
    done(t); /* server closes while the request is with the handler */
    CHECK(t, cli_eof(&idle), "idle conn closed at shutdown");
    CHECK(t, cli_response(&c, &r, 0) == 0, "answer during drain");
    logf_(t, "%d:%d:%s", r.status, r.close, r.body);
    CHECK(t, cli_eof(&c), "closed after the drained answer");
out:
    cli_close(&idle);
    cli_close(&c);
    return NULL;
}

static void drain_on_close(void **state)
{
    tctx_t t;
    tctx_init(&t, *state);
    t.client = cl_drain;
    run(&t);
    assert_string_equal(t.log, "200:1:d=200");
    assert_int_equal(t.cancels, 0);
}

static void *cl_max_conns(void *arg)
{
    tctx_t *t = arg;
    cli_t a, b, c;
    resp_t r;
    memset(&c, 0, sizeof c);
    CHECK(t, cli_open(&a, t) == 0, "connect a");
    CHECK(t, cli_open(&b, t) == 0, "connect b");
    CHECK(t, cli_sends(&a, "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n") == 0 && cli_response(&a, &r, 0) == 0, "a works");
    CHECK(t, cli_sends(&b, "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n") == 0 && cli_response(&b, &r, 0) == 0, "b works");
    CHECK(t, cli_open(&c, t) == 0, "connect c (kernel accepts)");
    cli_sends(&c, "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(t, cli_eof(&c), "third connection must be closed at once");
    cli_close(&c);
    cli_close(&b);
    usleep(100 * 1000); /* the server notices b is gone */
    CHECK(t, cli_open(&c, t) == 0, "connect c again");
    CHECK(t, cli_sends(&c, "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n") == 0 && cli_response(&c, &r, 0) == 0,
          "a slot is free again");
    logf_(t, "ok");
out:
    cli_close(&a);
    cli_close(&b);
    cli_close(&c);
    done(t);
    return NULL;
}

static void max_connections(void **state)
{
    tctx_t t;
    tctx_init(&t, *state);
    t.client = cl_max_conns;
    t.opts.listen.max_connections = 2;
    run(&t);
    assert_string_equal(t.log, "ok");
    assert_int_equal(t.lstats.refused, 1);
    assert_int_equal(t.lstats.accepted, 3);
}

static void *cl_malformed(void *arg)
{
    tctx_t *t = arg;
    static const char *bad[] = {
        "GET / HTTP/1.1\r\nHost a\r\n\r\n",                  /* header without colon */
        "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n",              /* control byte in URL */
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",       /* TLS hello on plaintext */
        "BREW /pot HTTP/1.1\r\n\r\n",                         /* unknown method */
        "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nX-Big: ",                          /* header over max_header_size */
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",                   /* h2 preface without h2 */
    };
    cli_t c;
    resp_t r;
    memset(&c, 0, sizeof c);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(t, cli_open(&c, t) == 0, "connect");
        CHECK(t, cli_sends(&c, bad[i]) == 0, "send");
        if (strstr(bad[i], "X-Big")) {
            char big[3000];
            memset(big, 'b', sizeof big);
            cli_send(&c, big, sizeof big);
        }
        CHECK(t, cli_response(&c, &r, 0) == 0, "response to bad input %zu", i);
        logf_(t, "%d%s|", r.status, r.close ? "" : "!");
        CHECK(t, cli_eof(&c), "EOF after bad input %zu", i);
        cli_close(&c);
    }
out:
    cli_close(&c);
    done(t);
    return NULL;
}

static void malformed(void **state)
{
    tctx_t t;
    tctx_init(&t, *state);
    t.client = cl_malformed;
    t.opts.max_header_size = 1024;
    run(&t);
    assert_string_equal(t.log, "400|400|400|400|400|501|505|431|505|");
    assert_int_equal(t.requests, 0);
    assert_int_equal(t.lstats.accepted, 9);
}

static void *cl_h2(void *arg)
{
    tctx_t *t = arg;
    cli_t c;
    CHECK(t, cli_open(&c, t) == 0, "connect");
    /* the preface in two pieces, then frame bytes */
    CHECK(t, cli_sends(&c, "PRI * HTTP/2.0\r\n") == 0, "send");
    usleep(20 * 1000);
    CHECK(t, cli_send(&c, "\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0", 17) == 0, "send");
    while (c.len < 3 && cli_fill(&c) > 0) {}
    CHECK(t, c.len == 3 && memcmp(c.buf, "h2!", 3) == 0, "h2 handler answer");
    c.len = 0;
    CHECK(t, cli_eof(&c), "h2 handler closed");
    logf_(t, "ok");
out:
    cli_close(&c);
    done(t);
    return NULL;
}

static void h2_handoff(void **state)
{
    tctx_t t;
    tctx_init(&t, *state);
    t.client = cl_h2;
    t.opts.on_h2 = on_h2;
    run(&t);
    assert_string_equal(t.log, "ok");
    assert_int_equal(t.h2_calls, 1);
    assert_true(t.h2_preface_ok);
    assert_true(t.h2_len >= 24);
    assert_int_equal(t.stats.h2_handoffs, 1);
}

static void *cl_unix(void *arg)
{
    tctx_t *t = arg;
    cli_t c;
    resp_t r;
    CHECK(t, cli_open(&c, t) == 0, "connect unix");
    CHECK(t, cli_sends(&c, "GET /peer HTTP/1.1\r\nHost: a\r\n\r\n") == 0, "send");
    CHECK(t, cli_response(&c, &r, 0) == 0, "response");
    logf_(t, "%s", r.body);
out:
    cli_close(&c);
    done(t);
    return NULL;
}

static void unix_socket(void **state)
{
    tctx_t t;
    tctx_init(&t, *state);
    t.client = cl_unix;
    snprintf(t.unix_path, sizeof t.unix_path, "/tmp/vg_net_http_%d.sock", (int)getpid());
    char err[256];
    assert_int_equal(vg_endpoint_parse(&t.ep, "unix", t.unix_path, err, sizeof err), 0);
    /* a stale socket file from an earlier run is replaced */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", t.unix_path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    close(fd);
    t.opts.listen.unix_mode = 0600;
    run(&t);
    char want[64];
    snprintf(want, sizeof want, "pid=%d", (int)getpid());
    assert_string_equal(t.log, want);
    assert_int_equal(t.peer.family, AF_UNIX);
    assert_int_equal(t.peer.pid, getpid());
    assert_int_equal(t.peer.uid, (int)getuid());
    assert_int_equal(t.peer.gid, (int)getgid());
    struct stat st;
    assert_int_equal(stat(t.unix_path, &st), -1); /* removed on close */
}

static void *cl_peer_tcp(void *arg)
{
    tctx_t *t = arg;
    cli_t c;
    resp_t r;
    CHECK(t, cli_open(&c, t) == 0, "connect");
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    getsockname(c.fd, (struct sockaddr *)&me, &len);
    logf_(t, "%d", ntohs(me.sin_port));
    CHECK(t, cli_sends(&c, "GET /peer HTTP/1.1\r\nHost: a\r\n\r\n") == 0 && cli_response(&c, &r, 0) == 0, "request");
out:
    cli_close(&c);
    done(t);
    return NULL;
}

static void peer_tcp(void **state)
{
    tctx_t t;
    tctx_init(&t, *state);
    t.client = cl_peer_tcp;
    run(&t);
    assert_int_equal(t.peer.family, AF_INET);
    assert_string_equal(t.peer.addr, "127.0.0.1");
    assert_int_equal(t.peer.port, atoi(t.log));
    assert_int_equal(t.peer.pid, -1);
}

static void *cl_tls(void *arg)
{
    tctx_t *t = arg;
    const certs_t *k = t->certs;
    cli_t c;
    resp_t r;
    memset(&c, 0, sizeof c);
    CHECK(t, cli_open(&c, t) == 0, "connect");
    CHECK(t, cli_tls(&c, NULL, NULL, "\x08http/1.1", 9) == 0, "TLS handshake");
    const unsigned char *sel;
    unsigned sl;
    SSL_get0_alpn_selected(c.ssl, &sel, &sl);
    t->client_tls_alpn_ok = sl == 8 && memcmp(sel, "http/1.1", 8) == 0;
    CHECK(t, cli_sends(&c, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc") == 0, "send");
    CHECK(t, cli_response(&c, &r, 0) == 0, "response over TLS");
    logf_(t, "%s|", r.body);
    CHECK(t, cli_sends(&c, "GET /slow?d=30 HTTP/1.1\r\nHost: a\r\n\r\nGET /echo HTTP/1.1\r\nHost: a\r\n\r\n") == 0, "send");
    CHECK(t, cli_response(&c, &r, 0) == 0 && cli_response(&c, &r, 0) == 0, "pipelined over TLS");
    logf_(t, "%s|", r.body);
    cli_close(&c);
    (void)k;
out:
    cli_close(&c);
    done(t);
    return NULL;
}

static SSL_CTX *server_ctx(const certs_t *k, int mtls)
{
    vg_tls_config_t cfg = { .cert_file = k->server_cert, .key_file = k->server_key,
                            .client_ca_file = mtls ? k->ca_cert : NULL, .min_version = "1.2" };
    SSL_CTX *ctx = NULL;
    char err[256] = "";
    int rc = vg_tls_server_ctx_new(&cfg, &ctx, err, sizeof err);
    if (rc != 0) fail_msg("tls ctx: %s", err);
    return ctx;
}

static void tls(void **state)
{
    tctx_t t;
    tctx_init(&t, *state);
    t.client = cl_tls;
    static const char *const alpn[] = { "h2", "http/1.1", NULL };
    t.opts.listen.tls = server_ctx(*state, 0);
    t.opts.listen.alpn = alpn;
    run(&t);
    SSL_CTX_free(t.opts.listen.tls);
    assert_string_equal(t.log, "POST /echo q= b=abc h=-|GET /echo q= b= h=-|");
    assert_true(t.client_tls_alpn_ok);
    assert_int_equal(t.lstats.tls_failures, 0);
}

static void *cl_mtls(void *arg)
{
    tctx_t *t = arg;
    const certs_t *k = t->certs;
    cli_t c;
    resp_t r;
    memset(&c, 0, sizeof c);
    /* without a client certificate: no answer, whatever the TLS version */
    CHECK(t, cli_open(&c, t) == 0, "connect");
    if (cli_tls(&c, NULL, NULL, NULL, 0) == 0) {
        cli_sends(&c, "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n");
        CHECK(t, cli_response(&c, &r, 0) != 0, "answered a client without certificate");
    }
    logf_(t, "refused|");
    cli_close(&c);
    /* plaintext client on a TLS port */
    CHECK(t, cli_open(&c, t) == 0, "connect");
    cli_sends(&c, "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(t, cli_response(&c, &r, 0) != 0, "answered plaintext on a TLS port");
    cli_close(&c);
    /* with a certificate signed by the CA */
    CHECK(t, cli_open(&c, t) == 0, "connect");
    CHECK(t, cli_tls(&c, k->client_cert, k->client_key, NULL, 0) == 0, "mTLS handshake");
    CHECK(t, cli_sends(&c, "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n") == 0, "send");
    CHECK(t, cli_response(&c, &r, 0) == 0, "response over mTLS");
    logf_(t, "%d", r.status);
out:
    cli_close(&c);
    done(t);
    return NULL;
}

static void mtls(void **state)
{
    tctx_t t;
    tctx_init(&t, *state);
    t.client = cl_mtls;
    t.opts.listen.tls = server_ctx(*state, 1);
    run(&t);
    SSL_CTX_free(t.opts.listen.tls);
    assert_string_equal(t.log, "refused|200");
    assert_int_equal(t.requests, 1);
    assert_true(t.lstats.tls_failures >= 2);
}

static void tls_config_errors(void **state)
{
    const certs_t *k = *state;
    SSL_CTX *ctx = NULL;
    char err[256];
    vg_tls_config_t cfg = { .cert_file = "/nonexistent/cert.pem", .key_file = k->server_key };
    assert_int_equal(vg_tls_server_ctx_new(&cfg, &ctx, err, sizeof err), VG_ECONFIG);
    assert_non_null(strstr(err, "/nonexistent/cert.pem"));
    assert_non_null(strstr(err, "No such file"));
    cfg.cert_file = k->server_cert;
    cfg.key_file = k->client_key; /* another key */
    assert_int_equal(vg_tls_server_ctx_new(&cfg, &ctx, err, sizeof err), VG_ECONFIG);
    assert_non_null(strstr(err, "does not match"));
    cfg.key_file = k->server_cert; /* not a key at all */
    assert_int_equal(vg_tls_server_ctx_new(&cfg, &ctx, err, sizeof err), VG_ECONFIG);
    assert_non_null(strstr(err, "key_file"));
    cfg.key_file = k->server_key;
    cfg.min_version = "1.1";
    assert_int_equal(vg_tls_server_ctx_new(&cfg, &ctx, err, sizeof err), VG_ECONFIG);
    assert_non_null(strstr(err, "min_version"));
    cfg.min_version = "1.3";
    cfg.client_ca_file = k->server_key; /* no certificate in it */
    assert_int_equal(vg_tls_server_ctx_new(&cfg, &ctx, err, sizeof err), VG_ECONFIG);
    assert_non_null(strstr(err, "client_ca_file"));
    cfg.client_ca_file = k->ca_cert;
    assert_int_equal(vg_tls_server_ctx_new(&cfg, &ctx, err, sizeof err), 0);
    assert_non_null(ctx);
    SSL_CTX_free(ctx);
}

static void start_errors(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    tctx_t t;
    tctx_init(&t, NULL);
    vg_http_server_t *a = NULL, *b = NULL;
    char err[256];
    assert_int_equal(vg_http_server_start(&loop, &t.ep, &t.opts, &a, err, sizeof err), 0);
    vg_endpoint_t same;
    snprintf(err, sizeof err, "127.0.0.1:%d", vg_http_server_port(a));
    char text[64];
    snprintf(text, sizeof text, "%s", err);
    assert_int_equal(vg_endpoint_parse(&same, NULL, text, err, sizeof err), 0);
    assert_int_equal(vg_http_server_start(&loop, &same, &t.opts, &b, err, sizeof err), VG_EEXISTS);
    assert_non_null(strstr(err, "in use"));
    assert_null(b);
    vg_http_server_opts_t no_handler = t.opts;
    no_handler.on_request = NULL;
    assert_int_equal(vg_http_server_start(&loop, &t.ep, &no_handler, &b, err, sizeof err), VG_EINVAL);
    vg_http_server_close(a, 0, on_server_closed, &t);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(t.server_closed, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(get_post),
        cmocka_unit_test(keepalive),
        cmocka_unit_test(pipelining),
        cmocka_unit_test(async_respond),
        cmocka_unit_test(body_too_large),
        cmocka_unit_test(request_timeout),
        cmocka_unit_test(idle_timeout),
        cmocka_unit_test(client_disconnect),
        cmocka_unit_test(drain_on_close),
        cmocka_unit_test(max_connections),
        cmocka_unit_test(malformed),
        cmocka_unit_test(h2_handoff),
        cmocka_unit_test(unix_socket),
        cmocka_unit_test(peer_tcp),
        cmocka_unit_test(tls),
        cmocka_unit_test(mtls),
        cmocka_unit_test(tls_config_errors),
        cmocka_unit_test(start_errors),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
