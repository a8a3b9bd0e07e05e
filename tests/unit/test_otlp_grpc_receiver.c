/* The otlp receiver in-process, on a real loop, with real clients (curl,
 * spawned on the loop) and a consumer that captures what arrives:
 *   - every batch carries the peer: a unix socket client's pid, uid and gid
 *     (SO_PEERCRED; the pid is the spawned curl's), a TCP client's address and
 *     port - over gRPC, HTTP/1.1 and h2c;
 *   - a pipeline that refuses (retryable) -> HTTP 503 + Retry-After, gRPC
 *     UNAVAILABLE + grpc-status-details-bin (RetryInfo); a permanent refusal
 *     -> 400 / INVALID_ARGUMENT naming the pipeline's error; the answer comes
 *     after the consumer returned (one call per request);
 *   - configuration: protocols listed empty are enabled, none is an error,
 *     unix endpoints, path normalisation;
 *   - lifecycle: shutdown twice, busy until closed, the loop closes cleanly.
 * This is how the unix peer pid is checked (the debug exporter does not print
 * peers): the consumer sees b->peer exactly as a downstream processor such as
 * k8sattributes does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/component.h"
#include "collector/config.h"
#include "collector/error.h"
#include "collector/mem.h"
#include "collector/ydoc.h"
#include "receivers/otlp/otlp_int.h"

extern const vg_factory_t vg_otlp_receiver_factory;
static const vg_factory_t *F = &vg_otlp_receiver_factory;

typedef struct {
    int calls;
    int rc;            /* what the consumer answers */
    vg_peer_t peer;
    size_t items;
    vg_signal_t sig;
} cap_t;

typedef struct {
    uv_loop_t loop;
    vg_component_t c;
    cap_t cap;
    vg_consumer_t cons;
    char dir[64];
    char body_pb[128], body_grpc[128];
} fx_t;

static int cap_consume(vg_consumer_t *self, vg_batch_t *b)
{
    cap_t *c = self->ud;
    c->calls++;
    c->peer = b->peer;
    c->items = b->items;
    c->sig = b->signal;
    vg_batch_unref(b);
    return c->rc;
}

/* ExportTraceServiceRequest with one span, as protobuf and as a gRPC frame. */
static void write_bodies(fx_t *fx)
{
    static const uint8_t span[] = {
        0x0a, 16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, /* trace_id */
        0x12, 8, 1, 2, 3, 4, 5, 6, 7, 8,                                 /* span_id */
        0x2a, 4, 'p', 'e', 'e', 'r',                                     /* name */
    };
    uint8_t req[64];
    size_t n = 0;
    req[n++] = 0x0a; req[n++] = (uint8_t)(sizeof span + 4);             /* resource_spans */
    req[n++] = 0x12; req[n++] = (uint8_t)(sizeof span + 2);             /* scope_spans */
    req[n++] = 0x12; req[n++] = (uint8_t)sizeof span;                   /* spans */
    memcpy(req + n, span, sizeof span);
    n += sizeof span;
    snprintf(fx->body_pb, sizeof fx->body_pb, "%s/req.pb", fx->dir);
    snprintf(fx->body_grpc, sizeof fx->body_grpc, "%s/req.grpc", fx->dir);
    FILE *f = fopen(fx->body_pb, "wb");
    assert_non_null(f);
    fwrite(req, 1, n, f);
    fclose(f);
    uint8_t hdr[5];
    otlp_grpc_frame_header(hdr, 0, (uint32_t)n);
    f = fopen(fx->body_grpc, "wb");
    fwrite(hdr, 1, 5, f);
    fwrite(req, 1, n, f);
    fclose(f);
}

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/vigil-otlpr-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    write_bodies(fx);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", fx->dir);
    free(fx);
    return 0;
}

/* Parses the receiver's YAML options (the part under `otlp:`); 0 or VG_ECONFIG. */
static int configure(fx_t *fx, const char *yaml, bool expect_ok)
{
    vg_errs_t errs;
    vg_errs_init(&errs);
    vg_ydoc_t *doc = NULL;
    assert_int_equal(vg_ydoc_load_string("test", yaml, strlen(yaml), &doc, &errs), 0);
    fx->c.cfg = vg_calloc(1, F->config_size);
    int rc = vg_options_parse(F->options, fx->c.cfg, doc->root, "receivers.otlp", &errs);
    if (rc == 0) rc = F->validate(fx->c.cfg, "receivers.otlp", &errs);
    if (expect_ok && rc) {
        for (size_t i = 0; i < errs.n; i++) fprintf(stderr, "%s\n", errs.msgs[i]);
    }
    if (!expect_ok && rc) assert_true(errs.n > 0);
    vg_errs_free(&errs);
    vg_ydoc_free(doc);
    return rc;
}

static void unconfigure(fx_t *fx)
{
    vg_options_free(F->options, fx->c.cfg);
    vg_free(fx->c.cfg);
    fx->c.cfg = NULL;
}

static void start(fx_t *fx, const char *yaml)
{
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    memset(&fx->c, 0, sizeof fx->c);
    memset(&fx->cap, 0, sizeof fx->cap);
    fx->c.f = F;
    fx->c.id = "otlp";
    fx->c.loop = &fx->loop;
    assert_int_equal(configure(fx, yaml, true), 0);
    fx->cons.consume = cap_consume;
    fx->cons.ud = &fx->cap;
    for (int s = 0; s < VG_SIG_COUNT; s++) fx->c.next[s] = &fx->cons;
    assert_int_equal(F->create(&fx->c), 0);
    assert_int_equal(F->start(&fx->c), 0);
}

static void stop(fx_t *fx)
{
    F->shutdown(&fx->c);
    F->shutdown(&fx->c); /* idempotent */
    for (int i = 0; i < 2000 && F->busy(&fx->c); i++) uv_run(&fx->loop, UV_RUN_ONCE);
    assert_false(F->busy(&fx->c));
    F->destroy(&fx->c);
    unconfigure(fx);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
}

/* ---- a client process on the loop --------------------------------------------- */

typedef struct {
    uv_process_t proc;
    uv_pipe_t out;
    char buf[8192];
    size_t len;
    int exited, out_closed;
    int64_t status;
} child_t;

static void on_alloc(uv_handle_t *h, size_t sug, uv_buf_t *b)
{
    (void)sug;
    child_t *ch = h->data;
    b->base = ch->buf + ch->len;
    b->len = sizeof ch->buf - 1 - ch->len;
}
static void on_out_closed(uv_handle_t *h) { ((child_t *)h->data)->out_closed = 1; }
static void on_out(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    child_t *ch = s->data;
    if (n > 0) ch->len += (size_t)n;
    else if (n < 0) uv_close((uv_handle_t *)s, on_out_closed);
}
static void on_proc_closed(uv_handle_t *h) { ((child_t *)h->data)->exited++; }
static void on_child_exit(uv_process_t *p, int64_t status, int sig)
{
    (void)sig;
    child_t *ch = p->data;
    ch->status = status;
    uv_close((uv_handle_t *)p, on_proc_closed);
}

/* Runs curl with args on fx's loop; returns its pid; output in ch->buf. */
static int run_curl(fx_t *fx, child_t *ch, char **args)
{
    memset(ch, 0, sizeof *ch);
    uv_pipe_init(&fx->loop, &ch->out, 0);
    ch->out.data = ch;
    ch->proc.data = ch;
    uv_stdio_container_t stdio[3] = {
        { .flags = UV_IGNORE },
        { .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&ch->out },
        { .flags = UV_INHERIT_FD, .data.fd = 2 },
    };
    uv_process_options_t o = { .exit_cb = on_child_exit, .file = "curl", .args = args, .stdio = stdio, .stdio_count = 3 };
    int rc = uv_spawn(&fx->loop, &ch->proc, &o);
    if (rc) fail_msg("cannot run curl: %s", uv_strerror(rc));
    uv_read_start((uv_stream_t *)&ch->out, on_alloc, on_out);
    int pid = ch->proc.pid;
    for (int i = 0; i < 20000 && !(ch->exited && ch->out_closed); i++) uv_run(&fx->loop, UV_RUN_ONCE);
    assert_true(ch->exited && ch->out_closed);
    ch->buf[ch->len] = '\0';
    return pid;
}

static otlp_recv_t *R(fx_t *fx) { return fx->c.state; }

/* ---- tests ------------------------------------------------------------------- */

static void test_unix_peer_grpc(void **state)
{
    fx_t *fx = *state;
    char yaml[512], sock[128];
    snprintf(sock, sizeof sock, "%s/grpc.sock", fx->dir);
    snprintf(yaml, sizeof yaml, "protocols:\n  grpc:\n    transport: unix\n    endpoint: %s\n", sock);
    start(fx, yaml);
    char data[160];
    snprintf(data, sizeof data, "@%s", fx->body_grpc);
    char *args[] = { "curl", "-sS", "--unix-socket", sock, "--http2-prior-knowledge", "-o", "/dev/null", "-D", "-",
                     "-H", "content-type: application/grpc", "--data-binary", data,
                     "http://localhost/opentelemetry.proto.collector.trace.v1.TraceService/Export", NULL };
    child_t ch;
    int pid = run_curl(fx, &ch, args);
    assert_non_null(strstr(ch.buf, "grpc-status: 0"));
    assert_int_equal(fx->cap.calls, 1);
    assert_int_equal(fx->cap.items, 1);
    assert_int_equal(fx->cap.peer.family, AF_UNIX);
    assert_int_equal(fx->cap.peer.pid, pid);
    assert_int_equal(fx->cap.peer.uid, (int)getuid());
    assert_int_equal(fx->cap.peer.gid, (int)getgid());
    assert_string_equal(fx->cap.peer.addr, "");
    assert_int_equal(fx->c.stats.accepted[VG_SIG_TRACES], 1);
    assert_int_equal(R(fx)->st[OTLP_PROTO_GRPC][VG_SIG_TRACES].requests[OTLP_OUT_ACCEPTED], 1);
    stop(fx);
    struct stat st;
    assert_int_equal(stat(sock, &st), -1); /* the socket file is removed at shutdown */
}

static void test_unix_peer_http(void **state)
{
    fx_t *fx = *state;
    char yaml[512], sock[128];
    snprintf(sock, sizeof sock, "%s/http.sock", fx->dir);
    snprintf(yaml, sizeof yaml, "protocols:\n  http:\n    transport: unix\n    endpoint: %s\n", sock);
    start(fx, yaml);
    char data[160];
    snprintf(data, sizeof data, "@%s", fx->body_pb);
    for (int h2 = 0; h2 < 2; h2++) {
        char *args[] = { "curl", "-sS", "--unix-socket", sock, h2 ? "--http2-prior-knowledge" : "--http1.1", "-o",
                         "/dev/null", "-w", "%{http_code}", "-H", "content-type: application/x-protobuf",
                         "--data-binary", data, "http://localhost/v1/traces", NULL };
        child_t ch;
        int pid = run_curl(fx, &ch, args);
        assert_string_equal(ch.buf, "200");
        assert_int_equal(fx->cap.calls, h2 + 1);
        assert_int_equal(fx->cap.peer.family, AF_UNIX);
        assert_int_equal(fx->cap.peer.pid, pid);
        assert_int_equal(fx->cap.peer.uid, (int)getuid());
    }
    stop(fx);
}

static void test_tcp_peer_and_refusals(void **state)
{
    fx_t *fx = *state;
    start(fx, "protocols:\n  grpc: { endpoint: \"127.0.0.1:0\" }\n  http: { endpoint: \"127.0.0.1:0\" }\n");
    char hurl[128], gurl[160], pb[160], grpc[160];
    snprintf(hurl, sizeof hurl, "http://127.0.0.1:%d/v1/traces", vg_http_server_port(R(fx)->http_srv));
    snprintf(gurl, sizeof gurl, "http://127.0.0.1:%d/opentelemetry.proto.collector.trace.v1.TraceService/Export",
             vg_listener_port(R(fx)->grpc_l));
    snprintf(pb, sizeof pb, "@%s", fx->body_pb);
    snprintf(grpc, sizeof grpc, "@%s", fx->body_grpc);
    char *http_args[] = { "curl", "-sS", "-D", "-", "-o", "/dev/null", "-H", "content-type: application/x-protobuf",
                          "--data-binary", pb, hurl, NULL };
    char *grpc_args[] = { "curl", "-sS", "--http2-prior-knowledge", "-D", "-", "-o", "/dev/null", "-H",
                          "content-type: application/grpc", "--data-binary", grpc, gurl, NULL };
    child_t ch;

    /* accepted over TCP: address and port recorded */
    run_curl(fx, &ch, http_args);
    assert_non_null(strstr(ch.buf, "HTTP/1.1 200"));
    assert_int_equal(fx->cap.peer.family, AF_INET);
    assert_string_equal(fx->cap.peer.addr, "127.0.0.1");
    assert_true(fx->cap.peer.port > 0);
    assert_int_equal(fx->cap.peer.pid, -1);

    /* the pipeline pushes back */
    fx->cap.rc = VG_EFULL;
    run_curl(fx, &ch, http_args);
    assert_non_null(strstr(ch.buf, "HTTP/1.1 503"));
    assert_non_null(strstr(ch.buf, "Retry-After: 1\r\n"));
    run_curl(fx, &ch, grpc_args);
    assert_non_null(strstr(ch.buf, "grpc-status: 14\r\n"));
    assert_non_null(strstr(ch.buf, "grpc-message: the pipeline refused the data (queue full); retry later"));
    char *d = strstr(ch.buf, "grpc-status-details-bin: ");
    assert_non_null(d);
    char *want = otlp_grpc_status_details(OTLP_GRPC_UNAVAILABLE,
                                          "the pipeline refused the data (queue full); retry later",
                                          OTLP_RETRY_AFTER_S);
    assert_memory_equal(d + 25, want, strlen(want));
    vg_free(want);
    assert_int_equal(fx->c.stats.refused[VG_SIG_TRACES], 2);
    assert_int_equal(R(fx)->st[OTLP_PROTO_GRPC][VG_SIG_TRACES].requests[OTLP_OUT_REFUSED], 1);
    assert_int_equal(R(fx)->st[OTLP_PROTO_HTTP][VG_SIG_TRACES].requests[OTLP_OUT_REFUSED], 1);

    /* the pipeline refuses for good */
    fx->cap.rc = VG_EPARSE;
    run_curl(fx, &ch, http_args);
    assert_non_null(strstr(ch.buf, "HTTP/1.1 400"));
    assert_null(strstr(ch.buf, "Retry-After"));
    run_curl(fx, &ch, grpc_args);
    assert_non_null(strstr(ch.buf, "grpc-status: 3\r\n"));
    assert_non_null(strstr(ch.buf, "grpc-message: the pipeline rejected 1 spans: malformed data"));
    assert_null(strstr(ch.buf, "grpc-status-details-bin"));
    assert_int_equal(fx->c.stats.rejected[VG_SIG_TRACES], 2);
    assert_int_equal(fx->cap.calls, 5); /* one consumer call per request, answered after it returned */
    stop(fx);
}

static void test_no_pipeline_for_signal(void **state)
{
    fx_t *fx = *state;
    start(fx, "protocols:\n  http: { endpoint: \"127.0.0.1:0\" }\n");
    fx->c.next[VG_SIG_LOGS] = NULL;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/logs", vg_http_server_port(R(fx)->http_srv));
    char *args[] = { "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "content-type: application/json",
                     "--data-binary", "{}", url, NULL };
    child_t ch;
    run_curl(fx, &ch, args);
    assert_string_equal(ch.buf, "404");
    assert_int_equal(fx->cap.calls, 0);
    stop(fx);
}

static void test_config(void **state)
{
    fx_t *fx = *state;
    /* listed empty = enabled with the Collector's defaults */
    assert_int_equal(configure(fx, "protocols:\n  grpc:\n  http:\n", true), 0);
    const otlp_cfg_t *cfg = fx->c.cfg;
    assert_true(cfg->protocols.grpc_set && cfg->protocols.http_set);
    assert_string_equal(cfg->protocols.grpc.endpoint, "localhost:4317");
    assert_string_equal(cfg->protocols.http.endpoint, "localhost:4318");
    assert_int_equal(cfg->protocols.grpc.max_recv_msg_size_mib, 4);
    assert_int_equal(cfg->protocols.http.max_request_body_size, 20u << 20);
    assert_string_equal(cfg->protocols.http.traces_url_path, "/v1/traces");
    assert_false(cfg->protocols.grpc.tls_set);
    unconfigure(fx);
    /* no protocol at all */
    assert_int_equal(configure(fx, "protocols: {}\n", false), VG_ECONFIG);
    unconfigure(fx);
    /* tls without a key; a unix endpoint that is not a path; two signals on one path */
    assert_int_equal(configure(fx, "protocols:\n  grpc: { tls: { cert_file: /x.pem } }\n", false), VG_ECONFIG);
    unconfigure(fx);
    assert_int_equal(configure(fx, "protocols:\n  http: { traces_url_path: /a, logs_url_path: a }\n", false),
                     VG_ECONFIG);
    unconfigure(fx);
    assert_int_equal(configure(fx, "protocols:\n  grpc: { endpoint: \"localhost\" }\n", false), VG_ECONFIG);
    unconfigure(fx);
    assert_int_equal(configure(fx, "protocols:\n  grpc: { keepalive: { server_parameters: { time: 1ms } } }\n",
                               false), VG_ECONFIG);
    unconfigure(fx);
    /* a missing leading slash is added, as the Collector does */
    vg_component_t c;
    memset(&c, 0, sizeof c);
    assert_int_equal(configure(fx, "protocols:\n  http: { traces_url_path: v2/t }\n", true), 0);
    c.cfg = fx->c.cfg;
    c.f = F;
    c.id = "otlp";
    assert_int_equal(F->create(&c), 0);
    assert_string_equal(((otlp_recv_t *)c.state)->paths[VG_SIG_TRACES], "/v2/t");
    F->shutdown(&c);
    assert_false(F->busy(&c));
    F->destroy(&c);
    unconfigure(fx);
}

static void test_start_failure_cleans_up(void **state)
{
    fx_t *fx = *state;
    /* HTTP cannot start (missing certificate): gRPC, which started, is closed again. */
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    memset(&fx->c, 0, sizeof fx->c);
    fx->c.f = F;
    fx->c.id = "otlp";
    fx->c.loop = &fx->loop;
    assert_int_equal(configure(fx, "protocols:\n  grpc: { endpoint: \"127.0.0.1:0\" }\n  http: { endpoint: "
                                   "\"127.0.0.1:0\", tls: { cert_file: /nonexistent.pem, key_file: /nonexistent.key } }\n",
                               true), 0);
    for (int s = 0; s < VG_SIG_COUNT; s++) fx->c.next[s] = &fx->cons;
    assert_int_equal(F->create(&fx->c), 0);
    assert_int_not_equal(F->start(&fx->c), 0);
    stop(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unix_peer_grpc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unix_peer_http, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_peer_and_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_pipeline_for_signal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_failure_cleans_up, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
