/* otlp receiver: OTLP over gRPC (protocols.grpc, default localhost:4317) and
 * over HTTP (protocols.http, default localhost:4318: HTTP/1.1 and h2c on the
 * same port), with the OpenTelemetry Collector's option names and defaults.
 * Differences from the Collector's receiver are in docs/receivers-otlp.md.
 *
 * This file: the option table, cross-field validation, the lifecycle (one
 * timer for session deadlines; listeners closed upstream-first at shutdown,
 * busy until every connection has closed) and self-telemetry. The protocol
 * work is in otlp_grpc.c, otlp_http.c, otlp_h2.c, otlp_decode.c and the answer
 * mapping in otlp_status.c (see otlp_int.h). */
#include "otlp_int.h"

#include "error.h"
#include "log.h"
#include "mem.h"
#include "service.h"
#include "telemetry.h"

#include <stdio.h>
#include <string.h>

/* ---- options -------------------------------------------------------------------- */

static const char *const transports[] = { "tcp", "tcp4", "tcp6", "unix", NULL };
static const char *const tls_versions[] = { "1.2", "1.3", NULL };

static const vg_option_t tls_opts[] = {
    { .name = "cert_file", .type = VG_OPT_STRING, .offset = offsetof(otlp_tls_cfg_t, cert_file),
      .doc = "PEM certificate chain the server presents. Required with tls." },
    { .name = "key_file", .type = VG_OPT_STRING, .offset = offsetof(otlp_tls_cfg_t, key_file),
      .doc = "PEM private key of cert_file. Required with tls." },
    { .name = "client_ca_file", .type = VG_OPT_STRING, .offset = offsetof(otlp_tls_cfg_t, client_ca_file),
      .doc = "PEM CA bundle; when set, clients must present a certificate it verifies (mTLS)." },
    { .name = "min_version", .type = VG_OPT_ENUM, .offset = offsetof(otlp_tls_cfg_t, min_version), .def = "1.2",
      .values = tls_versions, .doc = "Oldest TLS version accepted (1.0 and 1.1 are not offered)." },
    { 0 },
};

static const vg_option_t ka_server_opts[] = {
    { .name = "max_connection_idle", .type = VG_OPT_DURATION,
      .offset = offsetof(otlp_ka_server_cfg_t, max_connection_idle), .def = "0", .min = "0",
      .doc = "A connection without calls for this long gets GOAWAY and is closed. 0: never (gRPC-Go's default)." },
    { .name = "max_connection_age", .type = VG_OPT_DURATION,
      .offset = offsetof(otlp_ka_server_cfg_t, max_connection_age), .def = "0", .min = "0",
      .doc = "A connection this old gets GOAWAY (calls in flight finish). 0: no limit." },
    { .name = "max_connection_age_grace", .type = VG_OPT_DURATION,
      .offset = offsetof(otlp_ka_server_cfg_t, max_connection_age_grace), .def = "0", .min = "0",
      .doc = "After max_connection_age's GOAWAY, calls still running get this long before the connection is "
             "closed. 0: no limit." },
    { .name = "time", .type = VG_OPT_DURATION, .offset = offsetof(otlp_ka_server_cfg_t, time), .def = "2h",
      .min = "1s", .doc = "After this long without a frame from the client, the server sends a PING." },
    { .name = "timeout", .type = VG_OPT_DURATION, .offset = offsetof(otlp_ka_server_cfg_t, timeout), .def = "20s",
      .min = "1ms", .doc = "A PING not answered within this long closes the connection." },
    { 0 },
};

static const vg_option_t ka_policy_opts[] = {
    { .name = "min_time", .type = VG_OPT_DURATION, .offset = offsetof(otlp_ka_policy_cfg_t, min_time),
      .def = "5m", .min = "0",
      .doc = "Clients pinging more often than this get GOAWAY ENHANCE_YOUR_CALM (\"too_many_pings\") after three "
             "strikes." },
    { .name = "permit_without_stream", .type = VG_OPT_BOOL,
      .offset = offsetof(otlp_ka_policy_cfg_t, permit_without_stream), .def = "false",
      .doc = "Allow keepalive pings while the connection has no calls (otherwise one every 2h at most)." },
    { 0 },
};

static const vg_option_t ka_opts[] = {
    { .name = "server_parameters", .type = VG_OPT_TABLE, .offset = offsetof(otlp_keepalive_cfg_t, server_parameters),
      .sub = ka_server_opts, .doc = "gRPC-Go's keepalive.ServerParameters, same defaults." },
    { .name = "enforcement_policy", .type = VG_OPT_TABLE,
      .offset = offsetof(otlp_keepalive_cfg_t, enforcement_policy), .sub = ka_policy_opts,
      .doc = "gRPC-Go's keepalive.EnforcementPolicy, same defaults." },
    { 0 },
};

static const vg_option_t grpc_opts[] = {
    { .name = "endpoint", .type = VG_OPT_STRING, .offset = offsetof(otlp_grpc_cfg_t, endpoint),
      .def = "localhost:4317",
      .doc = "host:port to listen on (\":4317\" for all interfaces), or with transport unix the socket path." },
    { .name = "transport", .type = VG_OPT_ENUM, .offset = offsetof(otlp_grpc_cfg_t, transport), .def = "tcp",
      .values = transports, .doc = "tcp (IPv4 and IPv6), tcp4, tcp6, or unix (endpoint is a socket path)." },
    { .name = "tls", .type = VG_OPT_TABLE, .offset = offsetof(otlp_grpc_cfg_t, tls), .sub = tls_opts,
      .present = VG_OPT_PRESENT(otlp_grpc_cfg_t, tls_set),
      .doc = "Serve TLS (ALPN h2) instead of plaintext h2c." },
    { .name = "max_recv_msg_size_mib", .type = VG_OPT_INT, .offset = offsetof(otlp_grpc_cfg_t, max_recv_msg_size_mib),
      .def = "4", .min = "1", .max = "1024",
      .doc = "Largest request message in MiB, checked on the wire and again after decompression." },
    { .name = "max_concurrent_streams", .type = VG_OPT_INT,
      .offset = offsetof(otlp_grpc_cfg_t, max_concurrent_streams), .def = "0", .min = "0", .max = "10000",
      .doc = "Calls in flight per connection (SETTINGS_MAX_CONCURRENT_STREAMS). 0: 100 (gRPC-Go: unlimited)." },
    { .name = "read_buffer_size", .type = VG_OPT_SIZE, .offset = offsetof(otlp_grpc_cfg_t, read_buffer_size),
      .def = "512KiB", .doc = "Accepted for compatibility with Collector configurations; no effect." },
    { .name = "write_buffer_size", .type = VG_OPT_SIZE, .offset = offsetof(otlp_grpc_cfg_t, write_buffer_size),
      .def = "0", .doc = "Accepted for compatibility with Collector configurations; no effect." },
    { .name = "keepalive", .type = VG_OPT_TABLE, .offset = offsetof(otlp_grpc_cfg_t, keepalive), .sub = ka_opts,
      .doc = "Keepalive and connection age settings." },
    { .name = "max_connections", .type = VG_OPT_INT, .offset = offsetof(otlp_grpc_cfg_t, max_connections),
      .def = "4096", .min = "0",
      .doc = "Open connections at once; more are closed at accept and counted. 0: no limit. Vigil-specific." },
    { .name = "request_timeout", .type = VG_OPT_DURATION, .offset = offsetof(otlp_grpc_cfg_t, request_timeout),
      .def = "30s", .min = "1ms",
      .doc = "A call whose request is not complete this long after its headers (or a new connection silent that "
             "long) is answered DEADLINE_EXCEEDED and freed; a client not reading answers that long is "
             "disconnected. A shorter grpc-timeout wins. Vigil-specific." },
    { 0 },
};

static const vg_option_t http_opts[] = {
    { .name = "endpoint", .type = VG_OPT_STRING, .offset = offsetof(otlp_http_cfg_t, endpoint),
      .def = "localhost:4318",
      .doc = "host:port to listen on (\":4318\" for all interfaces), or with transport unix the socket path." },
    { .name = "transport", .type = VG_OPT_ENUM, .offset = offsetof(otlp_http_cfg_t, transport), .def = "tcp",
      .values = transports, .doc = "tcp (IPv4 and IPv6), tcp4, tcp6, or unix (endpoint is a socket path)." },
    { .name = "tls", .type = VG_OPT_TABLE, .offset = offsetof(otlp_http_cfg_t, tls), .sub = tls_opts,
      .present = VG_OPT_PRESENT(otlp_http_cfg_t, tls_set),
      .doc = "Serve HTTPS (ALPN h2 and http/1.1)." },
    { .name = "max_request_body_size", .type = VG_OPT_SIZE, .offset = offsetof(otlp_http_cfg_t, max_request_body_size),
      .def = "20MiB", .min = "1KiB", .max = "1GiB",
      .doc = "Largest request body, checked as received and again after decompression (413 beyond it)." },
    { .name = "traces_url_path", .type = VG_OPT_STRING, .offset = offsetof(otlp_http_cfg_t, traces_url_path),
      .def = "/v1/traces", .doc = "Path of trace exports (a missing leading / is added)." },
    { .name = "metrics_url_path", .type = VG_OPT_STRING, .offset = offsetof(otlp_http_cfg_t, metrics_url_path),
      .def = "/v1/metrics", .doc = "Path of metric exports (a missing leading / is added)." },
    { .name = "logs_url_path", .type = VG_OPT_STRING, .offset = offsetof(otlp_http_cfg_t, logs_url_path),
      .def = "/v1/logs", .doc = "Path of log exports (a missing leading / is added)." },
    { .name = "read_timeout", .type = VG_OPT_DURATION, .offset = offsetof(otlp_http_cfg_t, read_timeout),
      .def = "30s", .min = "1ms",
      .doc = "A request not complete this long after its first byte gets 408 (HTTP/2: per stream). The "
             "Collector's default is no limit." },
    { .name = "idle_timeout", .type = VG_OPT_DURATION, .offset = offsetof(otlp_http_cfg_t, idle_timeout),
      .def = "1m", .min = "1ms", .doc = "Keep-alive connections without requests are closed after this long." },
    { .name = "max_connections", .type = VG_OPT_INT, .offset = offsetof(otlp_http_cfg_t, max_connections),
      .def = "4096", .min = "0",
      .doc = "Open connections at once; more are closed at accept and counted. 0: no limit. Vigil-specific." },
    { .name = "max_concurrent_streams", .type = VG_OPT_INT,
      .offset = offsetof(otlp_http_cfg_t, max_concurrent_streams), .def = "0", .min = "0", .max = "10000",
      .doc = "HTTP/2 requests in flight per connection. 0: 100. Vigil-specific." },
    { 0 },
};

static const vg_option_t protocols_opts[] = {
    { .name = "grpc", .type = VG_OPT_TABLE, .offset = offsetof(otlp_protocols_cfg_t, grpc), .sub = grpc_opts,
      .present = VG_OPT_PRESENT(otlp_protocols_cfg_t, grpc_set),
      .doc = "Serve OTLP/gRPC. Listed (even empty, `grpc:`) = enabled." },
    { .name = "http", .type = VG_OPT_TABLE, .offset = offsetof(otlp_protocols_cfg_t, http), .sub = http_opts,
      .present = VG_OPT_PRESENT(otlp_protocols_cfg_t, http_set),
      .doc = "Serve OTLP/HTTP (HTTP/1.1 and h2c). Listed (even empty, `http:`) = enabled." },
    { 0 },
};

static const vg_option_t otlp_opts[] = {
    { .name = "protocols", .type = VG_OPT_TABLE, .offset = offsetof(otlp_cfg_t, protocols), .sub = protocols_opts,
      .doc = "The protocols to serve; at least one." },
    { 0 },
};

/* ---- helpers shared by the files ---------------------------------------------------- */

uint64_t otlp_now_ms(const otlp_recv_t *r)
{
    if (r->loop) return uv_now(r->loop);
    return uv_hrtime() / 1000000;
}

int otlp_endpoint(const char *text, int transport, vg_endpoint_t *ep, char *err, size_t errlen)
{
    if (!text || !*text) {
        snprintf(err, errlen, "endpoint is empty");
        return VG_ECONFIG;
    }
    int rc = vg_endpoint_parse(ep, transports[transport], text, err, errlen);
    return rc ? VG_ECONFIG : 0;
}

int otlp_tls_ctx(const otlp_tls_cfg_t *t, SSL_CTX **out, char *err, size_t errlen)
{
    vg_tls_config_t tc = { t->cert_file, t->key_file, t->client_ca_file, tls_versions[t->min_version] };
    return vg_tls_server_ctx_new(&tc, out, err, errlen);
}

static char *norm_path(const char *p)
{
    if (!p) p = "";
    size_t n = strlen(p);
    char *s = vg_malloc(n + 2);
    if (!s) return NULL;
    if (p[0] == '/') memcpy(s, p, n + 1);
    else {
        s[0] = '/';
        memcpy(s + 1, p, n + 1);
    }
    return s;
}

int otlp_recv_init(otlp_recv_t *r, vg_component_t *c)
{
    const otlp_cfg_t *cfg = c->cfg;
    r->c = c;
    r->cfg = cfg;
    r->loop = c->loop;
    r->grpc_limit = (size_t)cfg->protocols.grpc.max_recv_msg_size_mib << 20;
    const otlp_http_cfg_t *h = &cfg->protocols.http;
    const char *p[VG_SIG_COUNT] = { h->traces_url_path, h->metrics_url_path, h->logs_url_path };
    for (int i = 0; i < VG_SIG_COUNT; i++)
        if (!(r->paths[i] = norm_path(p[i]))) return VG_ENOMEM;
    return 0;
}

void otlp_recv_free_paths(otlp_recv_t *r)
{
    for (int i = 0; i < VG_SIG_COUNT; i++) {
        vg_free(r->paths[i]);
        r->paths[i] = NULL;
    }
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static int otlp_validate(const void *cfgp, const char *path, vg_errs_t *errs)
{
    const otlp_cfg_t *cfg = cfgp;
    const otlp_protocols_cfg_t *p = &cfg->protocols;
    char at[512], err[256];
    int rc = 0;
    if (!p->grpc_set && !p->http_set) {
        snprintf(at, sizeof at, "%s.protocols", path);
        vg_errs_add(errs, NULL, at, "must specify at least one protocol (grpc or http) when using the otlp receiver");
        return VG_ECONFIG;
    }
    struct { bool set; const char *name, *endpoint; int transport; bool tls; const otlp_tls_cfg_t *t; } pr[2] = {
        { p->grpc_set, "grpc", p->grpc.endpoint, p->grpc.transport, p->grpc.tls_set, &p->grpc.tls },
        { p->http_set, "http", p->http.endpoint, p->http.transport, p->http.tls_set, &p->http.tls },
    };
    for (int i = 0; i < 2; i++) {
        if (!pr[i].set) continue;
        vg_endpoint_t ep;
        if (otlp_endpoint(pr[i].endpoint, pr[i].transport, &ep, err, sizeof err)) {
            snprintf(at, sizeof at, "%s.protocols.%s.endpoint", path, pr[i].name);
            vg_errs_add(errs, NULL, at, "%s", err);
            rc = VG_ECONFIG;
        }
        if (pr[i].tls) {
            if (!pr[i].t->cert_file || !*pr[i].t->cert_file) {
                snprintf(at, sizeof at, "%s.protocols.%s.tls.cert_file", path, pr[i].name);
                vg_errs_add(errs, NULL, at, "required when tls is set");
                rc = VG_ECONFIG;
            }
            if (!pr[i].t->key_file || !*pr[i].t->key_file) {
                snprintf(at, sizeof at, "%s.protocols.%s.tls.key_file", path, pr[i].name);
                vg_errs_add(errs, NULL, at, "required when tls is set");
                rc = VG_ECONFIG;
            }
        }
    }
    if (p->http_set) {
        const char *names[VG_SIG_COUNT] = { "traces_url_path", "metrics_url_path", "logs_url_path" };
        const char *v[VG_SIG_COUNT] = { p->http.traces_url_path, p->http.metrics_url_path, p->http.logs_url_path };
        for (int i = 0; i < VG_SIG_COUNT; i++) {
            const char *a = v[i] ? v[i] + (v[i][0] == '/') : "";
            if (!*a && !(v[i] && v[i][0] == '/')) {
                snprintf(at, sizeof at, "%s.protocols.http.%s", path, names[i]);
                vg_errs_add(errs, NULL, at, "must not be empty");
                rc = VG_ECONFIG;
                continue;
            }
            for (int j = 0; j < i; j++) {
                const char *b = v[j] ? v[j] + (v[j][0] == '/') : "";
                if (strcmp(a, b) == 0) {
                    snprintf(at, sizeof at, "%s.protocols.http.%s", path, names[i]);
                    vg_errs_add(errs, NULL, at, "same path as %s", names[j]);
                    rc = VG_ECONFIG;
                }
            }
        }
    }
    return rc;
}

static int otlp_create(vg_component_t *c)
{
    otlp_recv_t *r = vg_calloc(1, sizeof *r);
    if (!r) return VG_ENOMEM;
    int rc = otlp_recv_init(r, c);
    if (rc) {
        otlp_recv_free_paths(r);
        vg_free(r);
        return rc;
    }
    c->state = r;
    return 0;
}

static void on_tick_closed(uv_handle_t *h)
{
    otlp_recv_t *r = h->data;
    r->tick_open = false;
}

void otlp_recv_maybe_done(otlp_recv_t *r)
{
    if (r->shutting && !r->grpc_open && !r->http_open && r->h2_live == 0 && r->tick_open &&
        !uv_is_closing((uv_handle_t *)&r->tick)) {
        uv_timer_stop(&r->tick);
        uv_close((uv_handle_t *)&r->tick, on_tick_closed);
    }
}

static void on_tick(uv_timer_t *t)
{
    otlp_recv_t *r = t->data;
    uint64_t now = uv_now(r->loop);
    /* Sessions never free themselves synchronously, so the list is stable. */
    for (otlp_h2_t *h = r->h2s; h;) {
        otlp_h2_t *next = otlp_h2_next(h);
        otlp_h2_tick(h, now);
        h = next;
    }
    otlp_recv_maybe_done(r);
}

static void stop_all(otlp_recv_t *r)
{
    r->shutting = true;
    r->shutdown_ms = r->loop ? uv_now(r->loop) : 0;
    /* Calls in flight may finish for 5 s, but within half the service's drain
     * deadline, so that everything has closed before the graph gives up. */
    r->drain_ms = 5000;
    const vg_config_t *sc = r->c->svc ? vg_service_config(r->c->svc) : NULL;
    if (sc && sc->service.drain_timeout >= 0 && (uint64_t)(sc->service.drain_timeout / 2000000) < r->drain_ms)
        r->drain_ms = (uint64_t)(sc->service.drain_timeout / 2000000);
    for (otlp_h2_t *h = r->h2s; h; h = otlp_h2_next(h)) otlp_h2_shutdown(h);
    otlp_grpc_stop(r);
    otlp_http_stop(r);
}

static int otlp_start(vg_component_t *c)
{
    otlp_recv_t *r = c->state;
    const otlp_cfg_t *cfg = c->cfg;
    r->loop = c->loop;
    /* One timer for every session deadline: a quarter of the shortest one. */
    uint64_t t = UINT64_MAX;
    int64_t d[8] = { 0 };
    if (cfg->protocols.grpc_set) {
        const otlp_ka_server_cfg_t *ka = &cfg->protocols.grpc.keepalive.server_parameters;
        d[0] = cfg->protocols.grpc.request_timeout;
        d[1] = ka->max_connection_idle;
        d[2] = ka->max_connection_age;
        d[3] = ka->max_connection_age_grace;
        d[4] = ka->time;
        d[5] = ka->timeout;
    }
    if (cfg->protocols.http_set) {
        d[6] = cfg->protocols.http.read_timeout;
        d[7] = cfg->protocols.http.idle_timeout;
    }
    for (int i = 0; i < 8; i++)
        if (d[i] > 0 && (uint64_t)(d[i] / 1000000) < t) t = (uint64_t)(d[i] / 1000000);
    r->tick_ms = t / 4 < 50 ? 50 : t / 4 > 1000 ? 1000 : t / 4;
    uv_timer_init(c->loop, &r->tick);
    r->tick.data = r;
    r->tick_open = true;
    uv_timer_start(&r->tick, on_tick, r->tick_ms, r->tick_ms);
    char err[512] = "";
    int rc = 0;
    if (cfg->protocols.grpc_set && (rc = otlp_grpc_start(r, err, sizeof err)) != 0)
        VG_ERROR(c->id, "cannot serve gRPC on %s: %s", cfg->protocols.grpc.endpoint, err);
    if (rc == 0 && cfg->protocols.http_set && (rc = otlp_http_start(r, err, sizeof err)) != 0)
        VG_ERROR(c->id, "cannot serve HTTP on %s: %s", cfg->protocols.http.endpoint, err);
    if (rc) {
        stop_all(r); /* busy() until what started has closed */
        return rc;
    }
    return 0;
}

static void otlp_shutdown(vg_component_t *c)
{
    otlp_recv_t *r = c->state;
    if (!r || r->shutting) return;
    stop_all(r);
    otlp_recv_maybe_done(r);
}

static bool otlp_busy(vg_component_t *c)
{
    otlp_recv_t *r = c->state;
    return r && (r->grpc_open || r->http_open || r->tick_open || r->h2_live > 0);
}

static void otlp_destroy(vg_component_t *c)
{
    otlp_recv_t *r = c->state;
    if (!r) return;
    otlp_recv_free_paths(r);
    vg_free(r);
    c->state = NULL;
}

/* ---- self-telemetry -------------------------------------------------------------------- */

static void otlp_telemetry(vg_component_t *c, vg_telemetry_t *t)
{
    otlp_recv_t *r = c->state;
    if (!r) return;
    static const char *const proto_name[OTLP_PROTO_COUNT] = { "grpc", "http" };
    static const char *const outcome[OTLP_OUT_COUNT] = { "accepted", "refused", "rejected" };
    const bool on[OTLP_PROTO_COUNT] = { r->cfg->protocols.grpc_set, r->cfg->protocols.http_set };
    char l[512], lb[640];
    for (int p = 0; p < OTLP_PROTO_COUNT; p++) {
        if (!on[p]) continue;
        for (int s = 0; s < VG_SIG_COUNT; s++) {
            if (!c->next[s]) continue;
            const otlp_pstats_t *ps = &r->st[p][s];
            for (int o = 0; o < OTLP_OUT_COUNT; o++) {
                snprintf(l, sizeof l, "receiver=\"%s\",protocol=\"%s\",signal=\"%s\",outcome=\"%s\"", c->id,
                         proto_name[p], vg_signal_name((vg_signal_t)s), outcome[o]);
                vg_tm_add(t, "vigil_receiver_otlp_requests", "counter",
                          "Export requests by protocol, signal and outcome (accepted, refused = told to retry, "
                          "rejected = malformed, too large or refused for good).", l, (double)ps->requests[o]);
                vg_tm_add(t, "vigil_receiver_otlp_items", "counter",
                          "Spans, data points or log records by protocol, signal and outcome (items of requests that "
                          "could not be decoded are not known and not counted).", l, (double)ps->items[o]);
            }
            snprintf(l, sizeof l, "receiver=\"%s\",protocol=\"%s\",signal=\"%s\"", c->id, proto_name[p],
                     vg_signal_name((vg_signal_t)s));
            vg_tm_add(t, "vigil_receiver_otlp_request_wire_bytes", "counter",
                      "Request message bytes as received (compressed when the client compressed).", l,
                      (double)ps->wire_bytes);
            uint64_t cum = 0;
            for (int i = 0; i <= OTLP_SIZE_BUCKETS; i++) {
                cum += ps->size_hist[i];
                if (i < OTLP_SIZE_BUCKETS) snprintf(lb, sizeof lb, "%s,le=\"%g\"", l, otlp_size_buckets[i]);
                else snprintf(lb, sizeof lb, "%s,le=\"+Inf\"", l);
                vg_tm_add(t, "vigil_receiver_otlp_request_size_bytes_bucket", "counter",
                          "Requests by decompressed size in bytes.", lb, (double)cum);
            }
            vg_tm_add(t, "vigil_receiver_otlp_request_size_bytes_sum", "counter",
                      "Decompressed bytes of all requests.", l, (double)ps->body_bytes);
            vg_tm_add(t, "vigil_receiver_otlp_request_size_bytes_count", "counter",
                      "Requests that decompressed within the limit.", l, (double)cum);
            vg_tm_add(t, "vigil_receiver_otlp_requests_shed", "counter",
                      "Requests refused before decoding because the pipeline was pushing back (also counted as "
                      "outcome=\"refused\"; their items are not counted, they were never decoded).",
                      l, (double)ps->shed);
        }
        snprintf(l, sizeof l, "receiver=\"%s\",protocol=\"%s\"", c->id, proto_name[p]);
        vg_tm_add(t, "vigil_receiver_otlp_requests_unrouted", "counter",
                  "Requests for an unknown path or gRPC method.", l, (double)r->unrouted[p]);
        vg_tm_add(t, "vigil_receiver_otlp_h2_connections", "counter", "HTTP/2 connections served.", l,
                  (double)r->h2_conns[p]);
        const vg_listener_t *lis = p == OTLP_PROTO_GRPC ? r->grpc_l
                                   : r->http_srv       ? vg_http_server_listener(r->http_srv)
                                                       : NULL;
        if (lis) {
            const vg_listener_stats_t *ls = vg_listener_stats(lis);
            vg_tm_add(t, "vigil_receiver_otlp_connections", "gauge", "Open connections.", l, (double)ls->active);
            vg_tm_add(t, "vigil_receiver_otlp_connections_accepted", "counter", "Connections accepted.", l,
                      (double)ls->accepted);
            vg_tm_add(t, "vigil_receiver_otlp_connections_refused", "counter",
                      "Connections closed at accept because of max_connections.", l, (double)ls->refused);
            vg_tm_add(t, "vigil_receiver_otlp_tls_failures", "counter", "TLS handshakes that failed.", l,
                      (double)ls->tls_failures);
        }
    }
    snprintf(l, sizeof l, "receiver=\"%s\"", c->id);
    vg_tm_add(t, "vigil_receiver_otlp_request_timeouts", "counter",
              "HTTP/2 requests answered DEADLINE_EXCEEDED / 408 because the client did not finish them.", l,
              (double)r->stream_timeouts);
    vg_tm_add(t, "vigil_receiver_otlp_keepalive_closes", "counter",
              "Connections closed by keepalive rules (idle, unanswered ping, too many pings).", l,
              (double)r->keepalive_closes);
    vg_tm_add(t, "vigil_receiver_otlp_h2_errors", "counter", "HTTP/2 sessions ended by a protocol error.", l,
              (double)r->h2_errors);
}

const vg_factory_t vg_otlp_receiver_factory = {
    .type = "otlp",
    .kind = VG_KIND_RECEIVER,
    .description = "Receives OTLP over gRPC (protocols.grpc, default localhost:4317) and HTTP (protocols.http, "
                   "default localhost:4318; HTTP/1.1 and h2c; protobuf and JSON), with TLS/mTLS, unix sockets, "
                   "gzip/zstd/deflate, size limits after decompression and retryable answers when the pipeline "
                   "pushes back; each request becomes one batch carrying the peer's address or unix pid/uid. "
                   "Differences from the Collector: [receivers-otlp.md](../receivers-otlp.md).",
    .signals = VG_SIGBITS_ALL,
    .options = otlp_opts,
    .config_size = sizeof(otlp_cfg_t),
    .validate = otlp_validate,
    .create = otlp_create,
    .start = otlp_start,
    .shutdown = otlp_shutdown,
    .busy = otlp_busy,
    .destroy = otlp_destroy,
    .telemetry = otlp_telemetry,
};
