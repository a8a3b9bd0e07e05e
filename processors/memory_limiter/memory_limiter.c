/* memory_limiter processor: refuses data while the process uses too much
 * memory, so receivers push back (gRPC UNAVAILABLE, HTTP 503, syslog stops
 * reading, files keep their offset) instead of the collector growing until the
 * kernel kills it. Options follow the OpenTelemetry Collector's.
 *
 * Memory in use is the process's resident set (RSS, /proc/self/statm), sampled
 * every check_interval. Soft limit = limit - spike: above it new data is refused
 * with a retryable error; at or above the hard limit Vigil also hands freed
 * heap back to the kernel (malloc_trim). Percentages are of the memory
 * available to the process: the smaller of MemTotal and its own cgroup's memory
 * limit. */
#include "cgroup/cgpath.h"
#include "cgroup/cgroup.h"
#include "component.h"
#include "error.h"
#include "log.h"
#include "mem.h"
#include "telemetry.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    int64_t check_interval;
    int64_t limit_mib, spike_limit_mib;
    int64_t limit_percentage, spike_limit_percentage;
} ml_cfg_t;

static const vg_option_t ml_opts[] = {
    { .name = "check_interval", .type = VG_OPT_DURATION, .offset = offsetof(ml_cfg_t, check_interval),
      .def = "1s", .min = "1ms", .doc = "How often memory use is measured." },
    { .name = "limit_mib", .type = VG_OPT_INT, .offset = offsetof(ml_cfg_t, limit_mib), .def = "0", .min = "0",
      .doc = "Hard limit in MiB of resident memory. Set this or limit_percentage." },
    { .name = "spike_limit_mib", .type = VG_OPT_INT, .offset = offsetof(ml_cfg_t, spike_limit_mib), .def = "0",
      .min = "0",
      .doc = "Headroom in MiB below the hard limit: data is refused above limit - spike. 0 means 20% of the limit." },
    { .name = "limit_percentage", .type = VG_OPT_INT, .offset = offsetof(ml_cfg_t, limit_percentage), .def = "0",
      .min = "0", .max = "100",
      .doc = "Hard limit as a percentage of the memory available (MemTotal, or the process's cgroup limit if lower)." },
    { .name = "spike_limit_percentage", .type = VG_OPT_INT, .offset = offsetof(ml_cfg_t, spike_limit_percentage),
      .def = "0", .min = "0", .max = "100", .doc = "Headroom as a percentage of the memory available." },
    { 0 },
};

static int ml_validate(const void *cfgp, const char *path, vg_errs_t *errs)
{
    const ml_cfg_t *cfg = cfgp;
    char p[512];
    if (cfg->limit_mib == 0 && cfg->limit_percentage == 0) {
        snprintf(p, sizeof p, "%s.limit_mib", path);
        vg_errs_add(errs, NULL, p, "set limit_mib or limit_percentage");
        return VG_ECONFIG;
    }
    if (cfg->limit_mib && cfg->limit_percentage) {
        snprintf(p, sizeof p, "%s.limit_percentage", path);
        vg_errs_add(errs, NULL, p, "set either limit_mib or limit_percentage, not both");
        return VG_ECONFIG;
    }
    if (cfg->limit_mib && cfg->spike_limit_mib >= cfg->limit_mib) {
        snprintf(p, sizeof p, "%s.spike_limit_mib", path);
        vg_errs_add(errs, NULL, p, "must be below limit_mib (%lld)", (long long)cfg->limit_mib);
        return VG_ECONFIG;
    }
    if (cfg->limit_percentage && cfg->spike_limit_percentage >= cfg->limit_percentage) {
        snprintf(p, sizeof p, "%s.spike_limit_percentage", path);
        vg_errs_add(errs, NULL, p, "must be below limit_percentage (%lld)", (long long)cfg->limit_percentage);
        return VG_ECONFIG;
    }
    return 0;
}

typedef struct {
    vg_component_t *c;
    uv_timer_t timer;
    bool timer_open, closing;
    uint64_t hard, soft;   /* bytes */
    uint64_t used;         /* latest RSS */
    bool refusing;
    uint64_t checks, trims, refusals_started;
} ml_state_t;

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size, res;
    int ok = fscanf(f, "%lu %lu", &size, &res) == 2;
    fclose(f);
    return ok ? (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* MemTotal, lowered to the process's own cgroup memory limit when there is one. */
static uint64_t available_bytes(void)
{
    uint64_t total = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    char path[4096];
    vg_cg_ident_t id;
    vg_cg_root_t *root = NULL;
    if (vg_cg_proc_read(NULL, getpid(), &id, path, sizeof path) == 0 && vg_cg_root_open(NULL, &root) == 0) {
        vg_cg_stats_t st;
        if (vg_cg_read(root, path, VG_CG_READ_MEM | VG_CG_READ_LIMITS, &st) == 0 && VG_CG_HAS(&st, VG_CGS_MEM_LIMIT) &&
            st.mem_limit != VG_CG_UNLIMITED && st.mem_limit < total)
            total = st.mem_limit;
    }
    vg_cg_root_close(root);
    return total;
}

static void check(ml_state_t *st)
{
    st->checks++;
    st->used = rss_bytes();
    bool over = st->used >= st->soft;
    if (over && !st->refusing) {
        st->refusals_started++;
        VG_WARN(st->c->id, "memory use %.1f MiB is above the soft limit %.1f MiB: refusing data",
                (double)st->used / 1048576.0, (double)st->soft / 1048576.0);
    } else if (!over && st->refusing) {
        VG_INFO(st->c->id, "memory use %.1f MiB is below the soft limit again: accepting data",
                (double)st->used / 1048576.0);
    }
    st->refusing = over;
    if (st->used >= st->hard) {
        malloc_trim(0);
        st->trims++;
    }
}

static void on_check(uv_timer_t *t) { check(t->data); }

static int ml_create(vg_component_t *c)
{
    const ml_cfg_t *cfg = c->cfg;
    ml_state_t *st = vg_calloc(1, sizeof *st);
    if (!st) return VG_ENOMEM;
    st->c = c;
    if (cfg->limit_mib) {
        st->hard = (uint64_t)cfg->limit_mib << 20;
        uint64_t spike = cfg->spike_limit_mib ? (uint64_t)cfg->spike_limit_mib << 20 : st->hard / 5;
        st->soft = st->hard - spike;
    } else {
        uint64_t avail = available_bytes();
        st->hard = avail / 100 * (uint64_t)cfg->limit_percentage;
        uint64_t spike = cfg->spike_limit_percentage ? avail / 100 * (uint64_t)cfg->spike_limit_percentage
                                                     : st->hard / 5;
        st->soft = st->hard > spike ? st->hard - spike : 0;
    }
    c->state = st;
    return 0;
}

static int ml_start(vg_component_t *c)
{
    ml_state_t *st = c->state;
    const ml_cfg_t *cfg = c->cfg;
    uv_timer_init(c->loop, &st->timer);
    st->timer.data = st;
    st->timer_open = true;
    check(st);
    uint64_t ms = (uint64_t)(cfg->check_interval / 1000000);
    uv_timer_start(&st->timer, on_check, ms ? ms : 1, ms ? ms : 1);
    VG_INFO(c->id, "limits: soft %.1f MiB, hard %.1f MiB (now %.1f MiB)", (double)st->soft / 1048576.0,
            (double)st->hard / 1048576.0, (double)st->used / 1048576.0);
    return 0;
}

static int ml_consume(vg_component_t *c, vg_batch_t *b)
{
    ml_state_t *st = c->state;
    vg_signal_t s = b->signal;
    size_t items = b->items;
    if (st->refusing) {
        c->stats.refused[s] += items;
        vg_batch_unref(b);
        return VG_EREFUSED;
    }
    c->stats.accepted[s] += items;
    int rc = vg_component_emit(c, b);
    if (rc) c->stats.refused[s] += items;
    return rc;
}

static void timer_closed(uv_handle_t *h)
{
    ml_state_t *st = h->data;
    st->timer_open = false;
}

static void ml_shutdown(vg_component_t *c)
{
    ml_state_t *st = c->state;
    if (!st || st->closing) return;
    st->closing = true;
    if (st->timer_open) uv_close((uv_handle_t *)&st->timer, timer_closed);
}

static bool ml_ready(vg_component_t *c, vg_signal_t sig)
{
    return !((ml_state_t *)c->state)->refusing && vg_component_ready(c, sig);
}

static bool ml_busy(vg_component_t *c) { return ((ml_state_t *)c->state)->timer_open; }
static void ml_destroy(vg_component_t *c) { vg_free(c->state); }

static void ml_telemetry(vg_component_t *c, vg_telemetry_t *t)
{
    ml_state_t *st = c->state;
    char labels[512];
    snprintf(labels, sizeof labels, "processor=\"%s\",pipeline=\"%s\"", c->id, c->pipeline ? c->pipeline : "");
    vg_tm_add(t, "vigil_processor_memory_limiter_refusing", "gauge", "1 while data is refused for memory.", labels,
              st->refusing ? 1 : 0);
    vg_tm_add(t, "vigil_processor_memory_limiter_used_bytes", "gauge", "Resident memory at the last check.", labels,
              (double)st->used);
    vg_tm_add(t, "vigil_processor_memory_limiter_soft_limit_bytes", "gauge", "Refusal threshold.", labels,
              (double)st->soft);
    vg_tm_add(t, "vigil_processor_memory_limiter_hard_limit_bytes", "gauge", "Hard limit.", labels,
              (double)st->hard);
    vg_tm_add(t, "vigil_processor_memory_limiter_trims", "counter", "Times freed heap was returned to the kernel.",
              labels, (double)st->trims);
}

const vg_factory_t vg_memory_limiter_processor_factory = {
    .type = "memory_limiter",
    .kind = VG_KIND_PROCESSOR,
    .description = "Refuses data (retryable, so receivers push back) while the collector's resident memory is above "
                   "limit - spike; above the hard limit it also returns freed heap to the kernel. Put it first in "
                   "every pipeline. Measures RSS (the Collector measures its Go heap).",
    .signals = VG_SIGBITS_ALL,
    .options = ml_opts,
    .config_size = sizeof(ml_cfg_t),
    .validate = ml_validate,
    .create = ml_create,
    .start = ml_start,
    .consume = ml_consume,
    .ready = ml_ready,
    .shutdown = ml_shutdown,
    .busy = ml_busy,
    .destroy = ml_destroy,
    .telemetry = ml_telemetry,
};
