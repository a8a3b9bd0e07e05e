/* health_check extension: HTTP status of the collector, like the OpenTelemetry
 * Collector's. 200 with {"status":"Server available",...} while every pipeline
 * runs; 503 with "Server not available" while starting, reloading or
 * draining. */
#include "component.h"
#include "error.h"
#include "log.h"
#include "mem.h"
#include "net/http_server.h"
#include "service.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct {
    char *endpoint;
    char *path;
} hc_cfg_t;

static const vg_option_t hc_opts[] = {
    { .name = "endpoint", .type = VG_OPT_ENDPOINT, .offset = offsetof(hc_cfg_t, endpoint),
      .def = "localhost:13133", .doc = "Where the health endpoint listens." },
    { .name = "path", .type = VG_OPT_STRING, .offset = offsetof(hc_cfg_t, path), .def = "/",
      .doc = "URL path of the health status." },
    { 0 },
};

typedef struct {
    vg_component_t *c;
    vg_http_server_t *http;
    bool closing, closed;
    time_t started;
} hc_state_t;

static void hc_request(vg_http_request_t *req, void *arg)
{
    hc_state_t *st = arg;
    const hc_cfg_t *cfg = st->c->cfg;
    if (strcmp(vg_http_request_path(req), cfg->path) != 0) {
        vg_http_respond(req, 404, "text/plain", NULL, "not found\n", 10);
        return;
    }
    const char *m = vg_http_request_method(req);
    if (strcmp(m, "GET") && strcmp(m, "HEAD")) {
        vg_http_respond(req, 405, "text/plain", "Allow: GET, HEAD\r\n", "method not allowed\n", 19);
        return;
    }
    vg_svc_state_t s = vg_service_state(st->c->svc);
    bool up = s == VG_SVC_RUNNING;
    char since[40], body[256];
    struct tm tm;
    gmtime_r(&st->started, &tm);
    strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int n = snprintf(body, sizeof body, "{\"status\":\"%s\",\"state\":\"%s\",\"upSince\":\"%s\",\"uptime\":\"%.3fs\"}",
                     up ? "Server available" : "Server not available", vg_service_state_name(s), since,
                     (double)vg_service_uptime_ms(st->c->svc) / 1000.0);
    vg_http_respond(req, up ? 200 : 503, "application/json", NULL, body, (size_t)n);
}

static int hc_create(vg_component_t *c)
{
    hc_state_t *st = vg_calloc(1, sizeof *st);
    if (!st) return VG_ENOMEM;
    st->c = c;
    c->state = st;
    return 0;
}

static int hc_start(vg_component_t *c)
{
    hc_state_t *st = c->state;
    const hc_cfg_t *cfg = c->cfg;
    vg_endpoint_t ep;
    char err[256];
    if (vg_endpoint_parse(&ep, "tcp", cfg->endpoint, err, sizeof err)) {
        VG_ERROR(c->id, "%s", err);
        return VG_EINVAL;
    }
    vg_http_server_opts_t o = { .max_request_body_size = 1024, .on_request = hc_request, .arg = st };
    o.listen.max_connections = 64;
    int rc = vg_http_server_start(c->loop, &ep, &o, &st->http, err, sizeof err);
    if (rc) {
        VG_ERROR(c->id, "cannot listen on %s: %s", cfg->endpoint, err);
        return rc;
    }
    st->started = time(NULL);
    VG_INFO(c->id, "health status on http://%s%s", cfg->endpoint, cfg->path);
    return 0;
}

static void hc_closed(vg_http_server_t *srv, void *arg)
{
    (void)srv;
    hc_state_t *st = arg;
    st->closed = true;
}

static void hc_shutdown(vg_component_t *c)
{
    hc_state_t *st = c->state;
    if (!st || st->closing) return;
    st->closing = true;
    if (st->http) vg_http_server_close(st->http, 500, hc_closed, st);
    else st->closed = true;
}

static bool hc_busy(vg_component_t *c) { return !((hc_state_t *)c->state)->closed; }
static void hc_destroy(vg_component_t *c) { vg_free(c->state); }

const vg_factory_t vg_health_check_extension_factory = {
    .type = "health_check",
    .kind = VG_KIND_EXTENSION,
    .description = "HTTP health status: 200 and a JSON body while every pipeline runs, 503 while the collector "
                   "starts, reloads or drains.",
    .options = hc_opts,
    .config_size = sizeof(hc_cfg_t),
    .create = hc_create,
    .start = hc_start,
    .shutdown = hc_shutdown,
    .busy = hc_busy,
    .destroy = hc_destroy,
};
