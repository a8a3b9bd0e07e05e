#include "telemetry.h"

#include "component.h"
#include "error.h"
#include "graph.h"
#include "mem.h"
#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef struct {
    char *name, *labels;
    const char *type, *help;
    double value;
    size_t seq;
} sample_t;

struct vg_telemetry {
    sample_t *s;
    size_t n, cap;
    bool oom;
};

vg_telemetry_t *vg_tm_new(void) { return vg_calloc(1, sizeof(vg_telemetry_t)); }

void vg_tm_free(vg_telemetry_t *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) { vg_free(t->s[i].name); vg_free(t->s[i].labels); }
    vg_free(t->s);
    vg_free(t);
}

void vg_tm_add(vg_telemetry_t *t, const char *name, const char *type, const char *help, const char *labels,
               double value)
{
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        sample_t *s = vg_realloc(t->s, nc * sizeof *s);
        if (!s) { t->oom = true; return; }
        t->s = s;
        t->cap = nc;
    }
    sample_t *s = &t->s[t->n];
    s->name = vg_strdup(name);
    s->labels = labels ? vg_strdup(labels) : NULL;
    if (!s->name || (labels && !s->labels)) { vg_free(s->name); vg_free(s->labels); t->oom = true; return; }
    s->type = type;
    s->help = help;
    s->value = value;
    s->seq = t->n++;
}

static int cmp_sample(const void *a, const void *b)
{
    const sample_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

char *vg_tm_render(vg_telemetry_t *t, size_t *len)
{
    qsort(t->s, t->n, sizeof *t->s, cmp_sample);
    char *buf = NULL;
    size_t sz = 0;
    FILE *f = open_memstream(&buf, &sz);
    if (!f) return NULL;
    for (size_t i = 0; i < t->n; i++) {
        sample_t *s = &t->s[i];
        if (i == 0 || strcmp(s->name, t->s[i - 1].name) != 0)
            fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", s->name, s->help, s->name, s->type);
        if (s->labels && *s->labels) fprintf(f, "%s{%s} %.17g\n", s->name, s->labels, s->value);
        else fprintf(f, "%s %.17g\n", s->name, s->value);
    }
    fclose(f);
    /* open_memstream uses malloc; hand back vg_malloc memory as promised. */
    char *out = buf ? vg_strndup(buf, sz) : NULL;
    free(buf);
    if (out && len) *len = sz;
    return out;
}

int vg_process_stats(double *rss, double *peak, double *cpu)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
    *peak = (double)ru.ru_maxrss * 1024.0;
    *rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return VG_EIO;
    unsigned long size, res;
    int ok = fscanf(f, "%lu %lu", &size, &res) == 2;
    fclose(f);
    if (!ok) return VG_EIO;
    *rss = (double)res * (double)sysconf(_SC_PAGESIZE);
    return 0;
}

static void add_sig(vg_telemetry_t *t, const char *kind, const char *what, vg_signal_t s, const char *help,
                    const char *labels, uint64_t v)
{
    char name[160];
    snprintf(name, sizeof name, "vigil_%s_%s_%s", kind, what, vg_signal_items(s));
    vg_tm_add(t, name, "counter", help, labels, (double)v);
}

void vg_tm_collect(vg_telemetry_t *t, vg_service_t *svc)
{
    const vg_graph_t *g = vg_service_graph(svc);
    for (size_t i = 0; g && i < vg_graph_count(g); i++) {
        vg_component_t *c = vg_graph_node(g, i);
        const vg_stats_t *st = &c->stats;
        char labels[512];
        const char *kind = vg_kind_name(c->f->kind);
        if (c->pipeline) snprintf(labels, sizeof labels, "%s=\"%s\",pipeline=\"%s\"", kind, c->id, c->pipeline);
        else snprintf(labels, sizeof labels, "%s=\"%s\"", kind, c->id);
        unsigned sigs = c->in_signals | c->out_signals;
        for (int s = 0; s < VG_SIG_COUNT; s++) {
            if (!(sigs & VG_SIGBIT(s))) continue;
            switch (c->f->kind) {
            case VG_KIND_RECEIVER:
                add_sig(t, kind, "accepted", s, "Items accepted into the pipeline.", labels, st->accepted[s]);
                add_sig(t, kind, "refused", s, "Items the pipeline refused (sender told to retry).", labels,
                        st->refused[s]);
                add_sig(t, kind, "rejected", s, "Items rejected as malformed or too large.", labels, st->rejected[s]);
                break;
            case VG_KIND_PROCESSOR:
                add_sig(t, kind, "accepted", s, "Items that entered the processor.", labels, st->accepted[s]);
                add_sig(t, kind, "refused", s, "Items the next consumer refused.", labels, st->refused[s]);
                add_sig(t, kind, "dropped", s, "Items the processor dropped.", labels, st->dropped[s]);
                break;
            case VG_KIND_EXPORTER:
            case VG_KIND_CONNECTOR:
                add_sig(t, kind, "sent", s, "Items sent successfully.", labels, st->sent[s]);
                add_sig(t, kind, "send_failed", s, "Items that could not be sent (given up).", labels,
                        st->send_failed[s]);
                add_sig(t, kind, "enqueue_failed", s, "Items refused because the sending queue was full.", labels,
                        st->enqueue_failed[s]);
                add_sig(t, kind, "dropped", s, "Items dropped without being sent (shutdown deadline).", labels,
                        st->dropped[s]);
                break;
            default:
                break;
            }
        }
        if (c->f->kind == VG_KIND_EXPORTER) {
            vg_tm_add(t, "vigil_exporter_queue_size", "gauge", "Items waiting in the sending queue.", labels,
                      (double)st->queue_size);
            vg_tm_add(t, "vigil_exporter_queue_capacity", "gauge", "Capacity of the sending queue.", labels,
                      (double)st->queue_capacity);
        }
        if (c->f->telemetry) c->f->telemetry(c, t);
    }
    double rss, peak, cpu;
    if (vg_process_stats(&rss, &peak, &cpu) == 0) {
        vg_tm_add(t, "vigil_process_memory_rss", "gauge", "Resident set size in bytes.", NULL, rss);
        vg_tm_add(t, "vigil_process_memory_rss_peak", "gauge", "Peak resident set size in bytes.", NULL, peak);
        vg_tm_add(t, "vigil_process_cpu_seconds", "counter", "CPU time (user + system) in seconds.", NULL, cpu);
    }
    vg_tm_add(t, "vigil_process_uptime", "counter", "Seconds since the collector started.", NULL,
              (double)vg_service_uptime_ms(svc) / 1000.0);
    uint64_t failed, reloads = vg_service_reloads(svc, &failed);
    vg_tm_add(t, "vigil_service_reloads", "counter", "Configuration reloads applied.", NULL, (double)reloads);
    vg_tm_add(t, "vigil_service_reloads_failed", "counter", "Configuration reloads refused (bad config).", NULL,
              (double)failed);
}

char *vg_service_metrics_text(vg_service_t *s, size_t *len)
{
    vg_telemetry_t *t = vg_tm_new();
    if (!t) return NULL;
    vg_tm_collect(t, s);
    char *out = vg_tm_render(t, len);
    vg_tm_free(t);
    return out;
}

/* ---- the /metrics endpoint ----------------------------------------------------- */

#include "log.h"
#include "net/http_server.h"

struct vg_telemetry_server {
    vg_service_t *svc;
    vg_http_server_t *http;
};

static void metrics_request(vg_http_request_t *req, void *arg)
{
    vg_telemetry_server_t *ts = arg;
    const char *m = vg_http_request_method(req);
    if (strcmp(m, "GET") && strcmp(m, "HEAD")) {
        vg_http_respond(req, 405, "text/plain", "Allow: GET, HEAD\r\n", "method not allowed\n", 19);
        return;
    }
    if (strcmp(vg_http_request_path(req), "/metrics") != 0) {
        vg_http_respond(req, 404, "text/plain", NULL, "not found: try /metrics\n", 24);
        return;
    }
    size_t len = 0;
    char *text = vg_service_metrics_text(ts->svc, &len);
    if (!text) {
        vg_http_respond(req, 500, "text/plain", NULL, "out of memory\n", 14);
        return;
    }
    vg_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, text, len);
    vg_free(text);
}

int vg_telemetry_server_start(uv_loop_t *loop, vg_service_t *svc, const char *endpoint, vg_telemetry_server_t **out)
{
    *out = NULL;
    vg_endpoint_t ep;
    char err[256];
    if (vg_endpoint_parse(&ep, "tcp", endpoint, err, sizeof err)) {
        VG_ERROR("telemetry", "%s", err);
        return VG_EINVAL;
    }
    vg_telemetry_server_t *ts = vg_calloc(1, sizeof *ts);
    if (!ts) return VG_ENOMEM;
    ts->svc = svc;
    vg_http_server_opts_t o = { .max_request_body_size = 4096, .on_request = metrics_request, .arg = ts };
    o.listen.max_connections = 64;
    int rc = vg_http_server_start(loop, &ep, &o, &ts->http, err, sizeof err);
    if (rc) {
        VG_ERROR("telemetry", "cannot listen on %s: %s", endpoint, err);
        vg_free(ts);
        return rc;
    }
    VG_INFO("telemetry", "self-telemetry on http://%s/metrics", endpoint);
    *out = ts;
    return 0;
}

static void metrics_closed(vg_http_server_t *srv, void *arg)
{
    (void)srv;
    vg_free(arg);
}

void vg_telemetry_server_close(vg_telemetry_server_t *ts)
{
    if (!ts) return;
    vg_http_server_close(ts->http, 1000, metrics_closed, ts);
}
