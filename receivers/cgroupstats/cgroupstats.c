/* cgroupstats receiver: per-container resource metrics read straight from the
 * cgroup filesystem (v2, v1 and hybrid hosts), with no runtime socket or
 * kubelet. Discovery, identity and file parsing are collector/cgroup's; this
 * file holds the options, the timer, the hand-off of each scrape to the
 * thread pool (the reads block on file I/O), emitting, and self-telemetry.
 * The scrape itself is in cgroupstats_scrape.c.
 *
 * Timing: the first scrape runs after initial_delay plus a random share of
 * start_jitter, then every collection_interval. A scrape still running when
 * the timer fires again makes that tick count as skipped (never two at once).
 *
 * Back-pressure: a scrape's batch that the pipeline refuses (retryable) is
 * counted as refused and dropped; the next scrape sends fresh cumulative
 * values, so counters lose nothing but resolution. Nothing is queued.
 *
 * A root without a cgroup filesystem is an error at start (the collector does
 * not start); see docs/metrics-cgroupstats.md. */
#include "cgroupstats_int.h"

#include "error.h"
#include "log.h"
#include "mem.h"
#include "telemetry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    bool enabled;
} cgs_metric_cfg_t;

typedef struct {
    cgs_metric_cfg_t m[CGS_M_COUNT];
} cgs_metrics_cfg_t;

typedef struct {
    char *root;
    int64_t collection_interval, initial_delay, start_jitter, limits_refresh;
    vg_strlist_t include, exclude;
    bool include_services;
    int64_t max_containers, max_depth;
    char *host_name, *host_id_file;
    cgs_metrics_cfg_t metrics;
} cgs_cfg_t;

static const vg_option_t metric_enabled_opts[] = {
    { .name = "enabled", .type = VG_OPT_BOOL, .offset = 0, .def = "true",
      .doc = "Emit this metric. Reading a group of files is skipped when no metric needs it." },
    { 0 },
};

#define CGS_KIND_DOC_SUM "Cumulative sum"
#define CGS_KIND_DOC_GAUGE "Gauge"
#define CGS_X_OPT(id, name_, kind_, unit_, reads_, desc_)                                                           \
    { .name = name_, .type = VG_OPT_TABLE,                                                                         \
      .offset = offsetof(cgs_metrics_cfg_t, m) + CGS_M_##id * sizeof(cgs_metric_cfg_t),                            \
      .sub = metric_enabled_opts, .doc = CGS_KIND_DOC_##kind_ ", " unit_ ": " desc_ },
static const vg_option_t metrics_opts[] = {
    CGS_METRICS(CGS_X_OPT)
    { 0 },
};
#undef CGS_X_OPT

static const vg_option_t cgs_opts[] = {
    { .name = "root", .type = VG_OPT_STRING, .offset = offsetof(cgs_cfg_t, root), .def = VG_CG_DEFAULT_ROOT,
      .doc = "Where the cgroup filesystem is mounted (a node agent in a container: the host's, e.g. "
             "/host/sys/fs/cgroup). v2, v1 and hybrid layouts are detected from the files there. A root "
             "without a cgroup filesystem stops the collector's start with an error." },
    { .name = "collection_interval", .type = VG_OPT_DURATION, .offset = offsetof(cgs_cfg_t, collection_interval),
      .def = "10s", .min = "10ms", .max = "24h", .doc = "How often the containers are scraped." },
    { .name = "initial_delay", .type = VG_OPT_DURATION, .offset = offsetof(cgs_cfg_t, initial_delay), .def = "1s",
      .min = "0s", .max = "1h", .doc = "Delay before the first scrape." },
    { .name = "start_jitter", .type = VG_OPT_DURATION, .offset = offsetof(cgs_cfg_t, start_jitter), .def = "1s",
      .min = "0s", .max = "1h",
      .doc = "The first scrape waits a random extra time up to this much (at most collection_interval), so that "
             "agents started together do not scrape in step. Vigil-specific." },
    { .name = "include", .type = VG_OPT_LIST, .offset = offsetof(cgs_cfg_t, include),
      .doc = "Glob patterns (fnmatch, '*' also matches '/') on the cgroup path, e.g. "
             "\"/kubepods.slice/*\". A container is reported if it matches one (or the list is empty) and no "
             "exclude pattern." },
    { .name = "exclude", .type = VG_OPT_LIST, .offset = offsetof(cgs_cfg_t, exclude),
      .doc = "Glob patterns of cgroup paths to leave out, e.g. \"*/crio-conmon-*\"." },
    { .name = "include_services", .type = VG_OPT_BOOL, .offset = offsetof(cgs_cfg_t, include_services),
      .def = "false",
      .doc = "Also report systemd services (/system.slice/<name>.service) as if they were containers, with a "
             "systemd.unit.name resource attribute." },
    { .name = "max_containers", .type = VG_OPT_INT, .offset = offsetof(cgs_cfg_t, max_containers), .def = "10000",
      .min = "1", .max = "1000000",
      .doc = "Most containers reported (and tracked) per scrape, in walk order; the rest are counted "
             "(vigil_receiver_cgroupstats_containers_over_limit) and not reported. Bounds memory." },
    { .name = "max_depth", .type = VG_OPT_INT, .offset = offsetof(cgs_cfg_t, max_depth), .def = "16", .min = "1",
      .max = "64", .doc = "Deepest cgroup (path components below the root) the discovery walk enters." },
    { .name = "limits_refresh", .type = VG_OPT_DURATION, .offset = offsetof(cgs_cfg_t, limits_refresh),
      .def = "1m", .min = "0s", .max = "24h",
      .doc = "CPU, memory and pids limits change rarely: they are read when a container first appears and then "
             "at most this often (0s: every scrape). Saves three file reads per container per scrape." },
    { .name = "host_name", .type = VG_OPT_STRING, .offset = offsetof(cgs_cfg_t, host_name),
      .doc = "host.name resource attribute; empty: this machine's hostname (in a DaemonSet pod set it to the "
             "node name, e.g. ${env:K8S_NODE_NAME})." },
    { .name = "host_id_file", .type = VG_OPT_STRING, .offset = offsetof(cgs_cfg_t, host_id_file),
      .def = "/etc/machine-id",
      .doc = "File whose first line is the host.id resource attribute (the host's machine-id); not reported "
             "when the file cannot be read or the option is empty." },
    { .name = "metrics", .type = VG_OPT_TABLE, .offset = offsetof(cgs_cfg_t, metrics), .sub = metrics_opts,
      .doc = "Per-metric switches, as in the Collector's scrapers: metrics.<name>.enabled. Every metric is on by "
             "default. Names, units, attributes and sources: docs/metrics-cgroupstats.md." },
    { 0 },
};

/* The timer and the scrape job handed to the thread pool. Separate from the
 * state so that a component destroyed with a scrape in flight or its timer
 * still closing (reload after the drain deadline) can leave the job to free
 * itself and the core once the loop hands both back. */
typedef struct cgs_job {
    uv_work_t req;
    uv_timer_t timer;
    bool timer_open, in_flight;
    cgs_core_t *core;
    cgs_result_t res;
    struct cgs_state *owner; /* NULL once orphaned */
} cgs_job_t;

typedef struct cgs_state {
    vg_component_t *c;
    cgs_job_t *job;
    bool closing, first_done;
    int last_rc;          /* last scrape failure logged (log on change) */
    int last_emit_rc;     /* last pipeline refusal logged */
    size_t last_over;     /* over-limit count last logged */
    /* self-telemetry */
    uint64_t scrapes, scrapes_failed, scrapes_skipped;
    uint64_t vanished, new_containers, restarts, read_errors, io_devices_dropped;
    uint64_t points_refused, points_rejected;
    size_t containers, tracked, over_limit, dirs;
    double duration_s, duration_sum_s, cpu_sum_s;
} cgs_state_t;

cgs_core_t *cgs_component_core(vg_component_t *c)
{
    cgs_state_t *st = c ? c->state : NULL;
    return st && st->job ? st->job->core : NULL;
}

bool cgs_component_in_flight(vg_component_t *c)
{
    cgs_state_t *st = c ? c->state : NULL;
    return st && st->job->in_flight;
}

/* ---- create / destroy --------------------------------------------------------------- */

static int dup_list(const vg_strlist_t *l, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!l->n)
        return 0;
    char **v = vg_calloc(l->n, sizeof *v);
    if (!v)
        return VG_ENOMEM;
    *out = v;
    for (size_t i = 0; i < l->n; i++) {
        if (!(v[i] = vg_strdup(l->v[i])))
            return VG_ENOMEM;
        (*n)++;
    }
    return 0;
}

static int make_params(const cgs_cfg_t *cfg, cgs_params_t *p)
{
    memset(p, 0, sizeof *p);
    if (dup_list(&cfg->include, &p->include, &p->n_include) || dup_list(&cfg->exclude, &p->exclude, &p->n_exclude))
        return VG_ENOMEM;
    p->include_services = cfg->include_services;
    p->max_containers = (size_t)cfg->max_containers;
    p->max_depth = (unsigned)cfg->max_depth;
    p->limits_refresh_ns = (uint64_t)cfg->limits_refresh;
    for (int m = 0; m < CGS_M_COUNT; m++)
        if (cfg->metrics.m[m].enabled)
            p->enabled |= (uint64_t)1 << m;
    if (cfg->host_name && cfg->host_name[0]) {
        if (!(p->host_name = vg_strdup(cfg->host_name)))
            return VG_ENOMEM;
    } else {
        char hn[256];
        if (gethostname(hn, sizeof hn) == 0) {
            hn[sizeof hn - 1] = '\0';
            if (!(p->host_name = vg_strdup(hn)))
                return VG_ENOMEM;
        }
    }
    return 0;
}

static int cgs_validate(const void *cfgp, const char *path, vg_errs_t *errs)
{
    const cgs_cfg_t *cfg = cfgp;
    char sub[300];
    if (!cfg->root || !cfg->root[0]) {
        snprintf(sub, sizeof sub, "%s.root", path);
        vg_errs_add(errs, NULL, sub, "root must name the cgroup filesystem's mount point");
        return VG_ECONFIG;
    }
    for (size_t i = 0; i < cfg->include.n + cfg->exclude.n; i++) {
        const char *pat = i < cfg->include.n ? cfg->include.v[i] : cfg->exclude.v[i - cfg->include.n];
        if (!pat[0]) {
            snprintf(sub, sizeof sub, "%s.%s", path, i < cfg->include.n ? "include" : "exclude");
            vg_errs_add(errs, NULL, sub, "empty pattern");
            return VG_ECONFIG;
        }
    }
    return 0;
}

static int cgs_create(vg_component_t *c)
{
    const cgs_cfg_t *cfg = c->cfg;
    cgs_state_t *st = vg_calloc(1, sizeof *st);
    if (!st)
        return VG_ENOMEM;
    st->c = c;
    st->job = vg_calloc(1, sizeof *st->job);
    cgs_params_t p;
    int rc = st->job ? make_params(cfg, &p) : VG_ENOMEM;
    if (st->job) {
        if (rc)
            cgs_params_free(&p);
        else
            rc = cgs_core_new(&p, &st->job->core);
    }
    if (rc) {
        vg_free(st->job);
        vg_free(st);
        return rc;
    }
    st->job->owner = st;
    st->job->req.data = st->job;
    st->job->timer.data = st->job;
    c->state = st;
    return 0;
}

static void job_free(cgs_job_t *job);

static void timer_closed(uv_handle_t *h)
{
    cgs_job_t *job = h->data;
    job->timer_open = false;
    if (!job->owner && !job->in_flight)
        job_free(job);
}

static void job_free(cgs_job_t *job)
{
    if (!job)
        return;
    vg_batch_unref(job->res.batch);
    cgs_core_free(job->core);
    vg_free(job);
}

static void cgs_destroy(vg_component_t *c)
{
    cgs_state_t *st = c->state;
    if (!st)
        return;
    cgs_job_t *job = st->job;
    if (job->in_flight || job->timer_open) {
        /* the drain deadline passed with a scrape running or the timer closing:
         * the job frees itself when the loop hands them back */
        job->owner = NULL;
        if (job->timer_open && !uv_is_closing((uv_handle_t *)&job->timer))
            uv_close((uv_handle_t *)&job->timer, timer_closed);
    } else {
        job_free(job);
    }
    vg_free(st);
    c->state = NULL;
}

/* ---- scraping ---------------------------------------------------------------------------- */

static void work_cb(uv_work_t *req)
{
    cgs_job_t *job = req->data;
    cgs_scrape(job->core, &job->res);
}

static void emit(cgs_state_t *st, vg_batch_t *b)
{
    vg_component_t *c = st->c;
    size_t items = b->items;
    if (!c->next[VG_SIG_METRICS]) {
        vg_batch_unref(b);
        return;
    }
    int rc = vg_component_emit(c, b);
    if (rc == 0) {
        c->stats.accepted[VG_SIG_METRICS] += items;
        if (st->last_emit_rc)
            VG_INFO(c->id, "the pipeline accepts scrapes again");
        st->last_emit_rc = 0;
        return;
    }
    if (vg_err_retryable(rc) || rc == VG_ENOMEM) {
        /* a scraper cannot push back on the kernel: this scrape is dropped */
        c->stats.refused[VG_SIG_METRICS] += items;
        st->points_refused += items;
    } else {
        c->stats.rejected[VG_SIG_METRICS] += items;
        st->points_rejected += items;
    }
    if (rc != st->last_emit_rc)
        VG_WARN(c->id, "pipeline %s a scrape of %zu points (%s); dropped, counted as %s; later scrapes carry the "
                       "cumulative values on", vg_err_retryable(rc) ? "refused" : "rejected", items,
                vg_strerror(rc), vg_err_retryable(rc) || rc == VG_ENOMEM ? "refused" : "rejected");
    st->last_emit_rc = rc;
}

static void after_work_cb(uv_work_t *req, int status)
{
    cgs_job_t *job = req->data;
    cgs_state_t *st = job->owner;
    job->in_flight = false;
    if (!st) {
        if (!job->timer_open)
            job_free(job);
        return;
    }
    cgs_result_t *r = &job->res;
    vg_batch_t *b = r->batch;
    r->batch = NULL;
    if (status == UV_ECANCELED) {
        vg_batch_unref(b);
        return;
    }
    vg_component_t *c = st->c;
    st->scrapes++;
    st->duration_s = (double)r->duration_ns / 1e9;
    st->duration_sum_s += st->duration_s;
    st->cpu_sum_s += (double)r->cpu_ns / 1e9;
    st->vanished += r->vanished;
    st->new_containers += r->new_containers;
    st->restarts += r->restarts;
    st->read_errors += r->read_errors;
    st->io_devices_dropped += r->io_devices_dropped;
    st->tracked = r->tracked;
    st->dirs = r->dirs;
    if (r->rc) {
        st->scrapes_failed++;
        if (r->rc != st->last_rc)
            VG_WARN(c->id, "scrape failed: %s%s", vg_strerror(r->rc),
                    r->rc == VG_EIO ? " (the cgroup hierarchy cannot be listed)" : "");
        st->last_rc = r->rc;
        vg_batch_unref(b);
        return;
    }
    if (st->last_rc)
        VG_INFO(c->id, "scrapes work again");
    st->last_rc = 0;
    st->containers = r->containers;
    st->over_limit = r->over_limit;
    if (r->over_limit && r->over_limit != st->last_over)
        VG_WARN(c->id, "%zu containers over max_containers (%lld) are not reported", r->over_limit,
                (long long)((const cgs_cfg_t *)c->cfg)->max_containers);
    st->last_over = r->over_limit;
    if (!st->first_done) {
        st->first_done = true;
        if (r->containers)
            VG_INFO(c->id, "first scrape: %zu containers in %.1f ms", r->containers, st->duration_s * 1e3);
        else
            VG_INFO(c->id, "first scrape: no container cgroups under %s (%zu cgroups looked at; the layouts "
                           "recognised are Kubernetes, Docker, Podman, CRI-O, containerd%s)",
                    ((const cgs_cfg_t *)c->cfg)->root, r->dirs,
                    ((const cgs_cfg_t *)c->cfg)->include_services ? " and systemd services"
                                                                   : "; include_services adds systemd services");
    }
    if (b)
        emit(st, b);
}

static void on_timer(uv_timer_t *t)
{
    cgs_job_t *job = t->data;
    cgs_state_t *st = job->owner;
    if (!st || st->closing)
        return;
    if (job->in_flight) {
        st->scrapes_skipped++;
        return;
    }
    int rc = uv_queue_work(st->c->loop, &st->job->req, work_cb, after_work_cb);
    if (rc) {
        st->scrapes_failed++;
        VG_WARN(st->c->id, "cannot queue a scrape: %s", uv_strerror(rc));
        return;
    }
    job->in_flight = true;
}

static void read_host_id(const char *file, char **out)
{
    if (!file || !file[0])
        return;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    size_t len = strcspn(buf, "\r\n");
    while (len && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
        len--;
    if (len)
        *out = vg_strndup(buf, len);
}

static int cgs_start(vg_component_t *c)
{
    cgs_state_t *st = c->state;
    const cgs_cfg_t *cfg = c->cfg;
    cgs_core_t *core = st->job->core;
    int rc = cgs_core_open(core, cfg->root);
    if (rc) {
        if (rc == VG_ENOTFOUND)
            VG_ERROR(c->id, "no cgroup filesystem at root %s (no cgroup.controllers, no v1 controller "
                            "directories with cgroup.procs); set root to where cgroupfs is mounted", cfg->root);
        else
            VG_ERROR(c->id, "cannot open the cgroup filesystem at %s: %s", cfg->root, vg_strerror(rc));
        return rc;
    }
    if (!core->p.host_id)
        read_host_id(cfg->host_id_file, &core->p.host_id);
    uint64_t interval_ms = (uint64_t)cfg->collection_interval / 1000000u;
    if (!interval_ms)
        interval_ms = 1;
    uint64_t jitter_ms = (uint64_t)cfg->start_jitter / 1000000u;
    if (jitter_ms > interval_ms)
        jitter_ms = interval_ms;
    uint64_t delay_ms = (uint64_t)cfg->initial_delay / 1000000u;
    if (jitter_ms) {
        uint64_t r = 0;
        if (uv_random(NULL, NULL, &r, sizeof r, 0, NULL) != 0)
            r = (uint64_t)uv_hrtime() ^ (uint64_t)(uintptr_t)st;
        delay_ms += r % (jitter_ms + 1);
    }
    cgs_job_t *job = st->job;
    if (job->timer_open)
        return VG_ESTATE;
    rc = uv_timer_init(c->loop, &job->timer);
    if (rc)
        return VG_EIO;
    job->timer_open = true;
    uv_timer_start(&job->timer, on_timer, delay_ms, interval_ms);
    VG_INFO(c->id, "scraping %s (cgroup %s, walking %s) every %.3g s, first in %llu ms", cfg->root,
            vg_cg_mode_name(vg_cg_root_mode(core->root)), vg_cg_root_index_dir(core->root),
            (double)cfg->collection_interval / 1e9, (unsigned long long)delay_ms);
    return 0;
}


static void cgs_shutdown(vg_component_t *c)
{
    cgs_state_t *st = c->state;
    if (!st || st->closing)
        return;
    st->closing = true;
    cgs_job_t *job = st->job;
    if (job->timer_open && !uv_is_closing((uv_handle_t *)&job->timer)) {
        uv_timer_stop(&job->timer);
        uv_close((uv_handle_t *)&job->timer, timer_closed);
    }
    /* a scrape not yet started is cancelled; a running one finishes and is sent */
    if (job->in_flight)
        uv_cancel((uv_req_t *)&job->req);
}

static bool cgs_busy(vg_component_t *c)
{
    cgs_state_t *st = c->state;
    return st && (st->job->timer_open || st->job->in_flight);
}

/* ---- self-telemetry ------------------------------------------------------------------------ */

static void cgs_telemetry(vg_component_t *c, vg_telemetry_t *t)
{
    cgs_state_t *st = c->state;
    if (!st)
        return;
    char l[300];
    snprintf(l, sizeof l, "receiver=\"%s\"", c->id);
    static const char *const P = "vigil_receiver_cgroupstats_";
    char n[128];
#define TM(name, type, help, v)                          \
    do {                                                 \
        snprintf(n, sizeof n, "%s%s", P, name);          \
        vg_tm_add(t, n, type, help, l, (double)(v));     \
    } while (0)
    TM("scrapes", "counter", "Scrapes completed (failed ones included).", st->scrapes);
    TM("scrapes_failed", "counter", "Scrapes that produced nothing (out of memory, hierarchy not listable).",
       st->scrapes_failed);
    TM("scrapes_skipped", "counter", "Timer ticks skipped because the previous scrape was still running.",
       st->scrapes_skipped);
    TM("scrape_duration_seconds", "gauge", "Wall time of the last scrape.", st->duration_s);
    TM("scrape_duration_seconds_total", "counter", "Wall time of all scrapes.", st->duration_sum_s);
    TM("scrape_cpu_seconds_total", "counter", "CPU time the scraping thread spent in all scrapes.", st->cpu_sum_s);
    TM("containers", "gauge", "Containers reported by the last scrape.", st->containers);
    TM("containers_tracked", "gauge", "Containers with counter state after the last scrape.", st->tracked);
    TM("containers_new", "counter", "Containers seen for the first time.", st->new_containers);
    TM("containers_restarted", "counter", "Containers recreated under the same cgroup path (new start time).",
       st->restarts);
    TM("containers_vanished", "counter", "Containers that disappeared; their state was freed.", st->vanished);
    TM("containers_over_limit", "gauge", "Containers the last scrape found beyond max_containers (not reported).",
       st->over_limit);
    TM("cgroups_walked", "gauge", "Cgroup directories the last discovery walk visited.", st->dirs);
    TM("read_errors", "counter", "cgroup files or directories that exist but could not be read.",
       st->read_errors);
    TM("io_devices_dropped", "counter", "Block devices beyond the per-container limit (32), not reported.",
       st->io_devices_dropped);
    TM("points_dropped", "counter",
       "Points of scrapes the pipeline refused or rejected, dropped (also in vigil_receiver_refused_*).",
       st->points_refused + st->points_rejected);
#undef TM
}

const vg_factory_t vg_cgroupstats_receiver_factory = {
    .type = "cgroupstats",
    .kind = VG_KIND_RECEIVER,
    .description = "Per-container CPU, memory, block IO, pids and pressure (PSI) metrics read from the cgroup "
                   "filesystem (v2, v1, hybrid), with container.id, k8s.pod.uid and QoS class from the cgroup "
                   "path: no runtime socket or kubelet needed. Metric list: "
                   "[metrics-cgroupstats.md](../metrics-cgroupstats.md).",
    .signals = VG_SIGBIT(VG_SIG_METRICS),
    .options = cgs_opts,
    .config_size = sizeof(cgs_cfg_t),
    .validate = cgs_validate,
    .create = cgs_create,
    .start = cgs_start,
    .shutdown = cgs_shutdown,
    .busy = cgs_busy,
    .destroy = cgs_destroy,
    .telemetry = cgs_telemetry,
};
