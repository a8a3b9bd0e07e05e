/* cgroupstats: one container's OTLP metrics built from its values, its
 * cumulative counters fed on the way (start times, resets, rates). Strings
 * every container repeats are copied into the batch's arena once per batch
 * and shared. Runs in the scrape, off the loop. */
#include "cgroupstats_int.h"

#include "error.h"
#include "mem.h"
#include "otlp_build.h"

#include <stdio.h>
#include <string.h>

#ifndef VIGIL_VERSION
#define VIGIL_VERSION "0"
#endif

const cgs_metric_def_t cgs_metric_defs[CGS_M_COUNT] = {
#define CGS_X_DEF(id, name_, kind_, unit_, reads_, desc_) \
    [CGS_M_##id] = { .name = name_, .unit = unit_, .desc = desc_, .kind = CGS_##kind_, .reads = reads_ },
    CGS_METRICS(CGS_X_DEF)
#undef CGS_X_DEF
};


/* Feeds one counter; after a restart of a recreated cgroup whose creation
 * time is known, that is the new series' start. */
static void count(const cgs_entry_t *e, vg_cg_counter_t *c, uint64_t v, uint64_t now, vg_cg_counter_out_t *o)
{
    vg_cg_counter_update(c, v, now, o);
    if (o->reset && e->created_ns > o->start_ns && e->created_ns <= now) {
        c->start_ns = e->created_ns;
        o->start_ns = e->created_ns;
    }
}

static cgs_iodev_t *iodev(cgs_entry_t *e, uint32_t maj, uint32_t min)
{
    for (uint32_t i = 0; i < e->nio; i++)
        if (e->io[i].major == maj && e->io[i].minor == min)
            return &e->io[i];
    if (e->nio == e->capio) {
        uint32_t nc = e->capio ? e->capio * 2 : 2;
        cgs_iodev_t *n = vg_realloc(e->io, nc * sizeof *n);
        if (!n)
            return NULL;
        e->io = n;
        e->capio = nc;
    }
    cgs_iodev_t *d = &e->io[e->nio++];
    memset(d, 0, sizeof *d);
    d->major = maj;
    d->minor = min;
    for (int k = 0; k < CGS_IO_NCNT; k++)
        vg_cg_counter_init(&d->c[k], e->created_ns);
    return d;
}


static const char *str_text(const cgs_scrape_ctx_t *s, int i)
{
    static const char *const t[CGS_STR_COUNT] = {
        [CGS_STR_CONTAINER_ID] = "container.id", [CGS_STR_RUNTIME] = "container.runtime.name",
        [CGS_STR_POD_UID] = "k8s.pod.uid", [CGS_STR_QOS] = "k8s.pod.qos_class", [CGS_STR_UNIT_NAME] = "systemd.unit.name",
        [CGS_STR_CGROUP_PATH] = "cgroup.path", [CGS_STR_HOST_NAME] = "host.name", [CGS_STR_HOST_ID] = "host.id",
        [CGS_STR_CPU_MODE] = "cpu.mode", [CGS_STR_USER] = "user", [CGS_STR_SYSTEM] = "system",
        [CGS_STR_DIRECTION] = "disk.io.direction", [CGS_STR_READ] = "read", [CGS_STR_WRITE] = "write",
        [CGS_STR_DEVICE] = "system.device", [CGS_STR_LEVEL] = "pressure.level", [CGS_STR_SOME] = "some", [CGS_STR_FULL] = "full",
        [CGS_STR_SCOPE] = CGS_SCOPE_NAME, [CGS_STR_VERSION] = VIGIL_VERSION,
    };
    if (i == CGS_STR_HOST_NAME_V)
        return s->core->p.host_name;
    if (i == CGS_STR_HOST_ID_V)
        return s->core->p.host_id;
    return t[i];
}

/* The batch's copy of string i; NULL when out of memory. */
static char *sstr(cgs_scrape_ctx_t *s, int i)
{
    if (!s->str[i])
        s->str[i] = vg_arena_strdup(s->b->arena, str_text(s, i));
    return s->str[i];
}

/* An attribute whose key and value already live in the batch's arena. */
static int kv_shared(cgs_scrape_ctx_t *s, vg_kv_t ***kv, size_t *n, char *key, char *val)
{
    if (!key || !val)
        return VG_ENOMEM;
    vg_arena_t *a = s->b->arena;
    vg_anyvalue_t *v = vg_arena_alloc(a, sizeof *v);
    vg_kv_t *k = vg_arena_alloc(a, sizeof *k);
    if (!v || !k)
        return VG_ENOMEM;
    opentelemetry__proto__common__v1__any_value__init(v);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = val;
    opentelemetry__proto__common__v1__key_value__init(k);
    k->key = key;
    k->value = v;
    return vg_build_append(a, (void ***)kv, n, k);
}

static int res_attr(cgs_scrape_ctx_t *s, vg_resource_metrics_t *rm, int key, char *val)
{
    return kv_shared(s, &rm->resource->attributes, &rm->resource->n_attributes, sstr(s, key), val);
}

#define ON(core, m) (((core)->p.enabled >> (m)) & 1u)
#define HAS(st, bit) VG_CG_HAS(st, bit)

static vg_metric_t *metric(cgs_scrape_ctx_t *s, int id)
{
    const cgs_metric_def_t *d = &cgs_metric_defs[id];
    vg_arena_t *a = s->b->arena;
    if (!s->mname[id]) {
        s->mname[id] = vg_arena_strdup(a, d->name);
        s->mdesc[id] = vg_arena_strdup(a, d->desc);
        s->munit[id] = vg_arena_strdup(a, d->unit);
        if (!s->mname[id] || !s->mdesc[id] || !s->munit[id]) {
            s->mname[id] = NULL;
            return NULL;
        }
    }
    /* built with an empty name, then pointed at the batch's shared strings */
    vg_metric_t *m = vg_build_metric(s->b, s->sm, "", NULL, NULL,
                                     d->kind == CGS_SUM ? VG_METRIC_SUM_CUMULATIVE : VG_METRIC_GAUGE,
                                     d->kind == CGS_SUM);
    if (m) {
        m->name = s->mname[id];
        m->description = s->mdesc[id];
        m->unit = s->munit[id];
    }
    return m;
}

static vg_number_point_t *point_int(cgs_scrape_ctx_t *s, vg_metric_t *m, uint64_t start, uint64_t v)
{
    vg_number_point_t *p = vg_build_point_int(s->b, m, start, s->now, v > INT64_MAX ? INT64_MAX : (int64_t)v);
    s->points += p != NULL;
    return p;
}

static vg_number_point_t *point_double(cgs_scrape_ctx_t *s, vg_metric_t *m, uint64_t start, double v)
{
    vg_number_point_t *p = vg_build_point_double(s->b, m, start, s->now, v);
    s->points += p != NULL;
    return p;
}

#define TRY(x)                   \
    do {                         \
        if (!(x))                \
            return VG_ENOMEM;    \
    } while (0)

static int attr(cgs_scrape_ctx_t *s, vg_number_point_t *p, int key, char *val)
{
    return kv_shared(s, &p->attributes, &p->n_attributes, sstr(s, key), val);
}

static int gauge_int(cgs_scrape_ctx_t *s, int id, uint64_t v)
{
    vg_metric_t *m = metric(s, id);
    TRY(m);
    TRY(point_int(s, m, 0, v));
    return 0;
}

static int gauge_double(cgs_scrape_ctx_t *s, int id, double v)
{
    vg_metric_t *m = metric(s, id);
    TRY(m);
    TRY(point_double(s, m, 0, v));
    return 0;
}

/* A cumulative sum with one point from counter c. scale != 0: double value * scale. */
static int sum_one(cgs_scrape_ctx_t *s, const cgs_entry_t *e, int id, vg_cg_counter_t *c, uint64_t v, double scale)
{
    vg_cg_counter_out_t o;
    count(e, c, v, s->now, &o);
    vg_metric_t *m = metric(s, id);
    TRY(m);
    if (scale != 0)
        TRY(point_double(s, m, o.start_ns, (double)v * scale));
    else
        TRY(point_int(s, m, o.start_ns, v));
    return 0;
}

static int build_cpu(cgs_scrape_ctx_t *s, cgs_entry_t *e, const vg_cg_stats_t *st)
{
    cgs_core_t *core = s->core;
    vg_cg_counter_out_t ou = { 0 };
    bool have_usage = HAS(st, VG_CGS_CPU_USAGE);
    if (have_usage)
        count(e, &e->cnt[CGS_CNT_CPU_USAGE], st->cpu_usage_ns, s->now, &ou);
    if (ON(core, CGS_M_CPU_TIME)) {
        bool user = HAS(st, VG_CGS_CPU_USER), sys = HAS(st, VG_CGS_CPU_SYSTEM);
        if (user || sys) {
            vg_metric_t *m = metric(s, CGS_M_CPU_TIME);
            TRY(m);
            static const int modes[2] = { CGS_STR_USER, CGS_STR_SYSTEM };
            const uint64_t vals[2] = { st->cpu_user_ns, st->cpu_system_ns };
            const bool have[2] = { user, sys };
            for (int i = 0; i < 2; i++) {
                if (!have[i])
                    continue;
                vg_cg_counter_out_t o;
                count(e, &e->cnt[CGS_CNT_CPU_USER + i], vals[i], s->now, &o);
                vg_number_point_t *p = point_double(s, m, o.start_ns, (double)vals[i] / 1e9);
                TRY(p);
                if (attr(s, p, CGS_STR_CPU_MODE, sstr(s, modes[i])))
                    return VG_ENOMEM;
            }
        } else if (have_usage) {
            /* no split by mode: one point without cpu.mode */
            vg_metric_t *m = metric(s, CGS_M_CPU_TIME);
            TRY(m);
            TRY(point_double(s, m, ou.start_ns, (double)st->cpu_usage_ns / 1e9));
        }
    }
    if (ON(core, CGS_M_CPU_USAGE) && have_usage && ou.has_rate) {
        int rc = gauge_double(s, CGS_M_CPU_USAGE, ou.rate / 1e9);
        if (rc)
            return rc;
    }
    if (ON(core, CGS_M_CPU_PERIODS) && HAS(st, VG_CGS_CPU_PERIODS) &&
        sum_one(s, e, CGS_M_CPU_PERIODS, &e->cnt[CGS_CNT_PERIODS], st->cpu_periods, 0))
        return VG_ENOMEM;
    if (ON(core, CGS_M_CPU_THROTTLED_PERIODS) && HAS(st, VG_CGS_CPU_THROTTLED) &&
        sum_one(s, e, CGS_M_CPU_THROTTLED_PERIODS, &e->cnt[CGS_CNT_THROTTLED], st->cpu_throttled_periods, 0))
        return VG_ENOMEM;
    if (ON(core, CGS_M_CPU_THROTTLED_TIME) && HAS(st, VG_CGS_CPU_THROTTLED_TIME) &&
        sum_one(s, e, CGS_M_CPU_THROTTLED_TIME, &e->cnt[CGS_CNT_THROTTLED_TIME], st->cpu_throttled_ns, 1e-9))
        return VG_ENOMEM;
    if (ON(core, CGS_M_CPU_LIMIT) && HAS(st, VG_CGS_CPU_LIMIT) && st->cpu_quota_us != VG_CG_UNLIMITED &&
        st->cpu_period_us > 0 &&
        gauge_double(s, CGS_M_CPU_LIMIT, (double)st->cpu_quota_us / (double)st->cpu_period_us))
        return VG_ENOMEM;
    return 0;
}

static int build_mem(cgs_scrape_ctx_t *s, cgs_entry_t *e, const vg_cg_stats_t *st)
{
    cgs_core_t *core = s->core;
    static const struct { int id, bit; } g[] = {
        { CGS_M_MEM_USAGE, VG_CGS_MEM_USAGE }, { CGS_M_MEM_WORKING_SET, VG_CGS_MEM_WORKING_SET },
        { CGS_M_MEM_RSS, VG_CGS_MEM_RSS },     { CGS_M_MEM_CACHE, VG_CGS_MEM_CACHE },
        { CGS_M_MEM_SWAP, VG_CGS_MEM_SWAP },
    };
    const uint64_t gv[] = { st->mem_usage, st->mem_working_set, st->mem_rss, st->mem_cache, st->mem_swap };
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
        if (ON(core, g[i].id) && HAS(st, g[i].bit) && gauge_int(s, g[i].id, gv[i]))
            return VG_ENOMEM;
    bool limited = HAS(st, VG_CGS_MEM_LIMIT) && st->mem_limit != VG_CG_UNLIMITED;
    if (ON(core, CGS_M_MEM_LIMIT) && limited && gauge_int(s, CGS_M_MEM_LIMIT, st->mem_limit))
        return VG_ENOMEM;
    if (ON(core, CGS_M_MEM_AVAILABLE) && limited && HAS(st, VG_CGS_MEM_WORKING_SET) &&
        gauge_int(s, CGS_M_MEM_AVAILABLE,
                  st->mem_limit > st->mem_working_set ? st->mem_limit - st->mem_working_set : 0))
        return VG_ENOMEM;
    if (ON(core, CGS_M_MEM_OOM) && HAS(st, VG_CGS_MEM_OOM) &&
        sum_one(s, e, CGS_M_MEM_OOM, &e->cnt[CGS_CNT_OOM], st->mem_oom, 0))
        return VG_ENOMEM;
    if (ON(core, CGS_M_MEM_OOM_KILL) && HAS(st, VG_CGS_MEM_OOM_KILL) &&
        sum_one(s, e, CGS_M_MEM_OOM_KILL, &e->cnt[CGS_CNT_OOM_KILL], st->mem_oom_kill, 0))
        return VG_ENOMEM;
    if (ON(core, CGS_M_MEM_LIMIT_HITS) && HAS(st, VG_CGS_MEM_FAILCNT) &&
        sum_one(s, e, CGS_M_MEM_LIMIT_HITS, &e->cnt[CGS_CNT_LIMIT_HITS], st->mem_failcnt, 0))
        return VG_ENOMEM;
    return 0;
}

static int build_io(cgs_scrape_ctx_t *s, cgs_entry_t *e, const vg_cg_stats_t *st)
{
    cgs_core_t *core = s->core;
    bool bytes = ON(core, CGS_M_DISK_IO) && HAS(st, VG_CGS_IO_BYTES);
    bool ops = ON(core, CGS_M_DISK_OPERATIONS) && HAS(st, VG_CGS_IO_OPS);
    if ((!bytes && !ops) || st->io_ndev == 0) {
        if (bytes || ops)
            e->nio = 0; /* the container has no IO (any more) on any device */
        return 0;
    }
    uint32_t gen = s->core->gen;
    vg_metric_t *mb = NULL, *mo = NULL;
    if (bytes)
        TRY(mb = metric(s, CGS_M_DISK_IO));
    if (ops)
        TRY(mo = metric(s, CGS_M_DISK_OPERATIONS));
    for (uint32_t i = 0; i < st->io_ndev; i++) {
        const vg_cg_io_dev_t *dv = &st->io[i];
        cgs_iodev_t *d = iodev(e, dv->major, dv->minor);
        if (!d)
            return VG_ENOMEM;
        d->gen = gen;
        char devs[32];
        snprintf(devs, sizeof devs, "%u:%u", (unsigned)dv->major, (unsigned)dv->minor);
        char *dev = vg_arena_strdup(s->b->arena, devs); /* shared by the device's points */
        TRY(dev);
        const uint64_t v[CGS_IO_NCNT] = { dv->rbytes, dv->wbytes, dv->rios, dv->wios };
        for (int k = 0; k < CGS_IO_NCNT; k++) {
            vg_metric_t *m = k < CGS_IO_RIOS ? mb : mo;
            if (!m)
                continue;
            vg_cg_counter_out_t o;
            count(e, &d->c[k], v[k], s->now, &o);
            vg_number_point_t *p = point_int(s, m, o.start_ns, v[k]);
            TRY(p);
            if (attr(s, p, CGS_STR_DIRECTION, sstr(s, (k == CGS_IO_RBYTES || k == CGS_IO_RIOS) ? CGS_STR_READ : CGS_STR_WRITE)) ||
                attr(s, p, CGS_STR_DEVICE, dev))
                return VG_ENOMEM;
        }
    }
    /* forget devices that are no longer listed */
    for (uint32_t i = 0; i < e->nio;) {
        if (e->io[i].gen != gen)
            e->io[i] = e->io[--e->nio];
        else
            i++;
    }
    return 0;
}

static int build_psi(cgs_scrape_ctx_t *s, cgs_entry_t *e, const vg_cg_stats_t *st)
{
    static const int levels[2] = { CGS_STR_SOME, CGS_STR_FULL };
    for (int r = 0; r < 3; r++) {
        int tid = CGS_M_CPU_PSI_TIME + 2 * r, rid = CGS_M_CPU_PSI_RATIO + 2 * r;
        bool any = HAS(st, VG_CG_PSI_BIT(r, 0)) || HAS(st, VG_CG_PSI_BIT(r, 1));
        if (!any)
            continue;
        if (ON(s->core, tid)) {
            vg_metric_t *m = metric(s, tid);
            TRY(m);
            for (int k = 0; k < 2; k++) {
                if (!HAS(st, VG_CG_PSI_BIT(r, k)))
                    continue;
                uint64_t us = st->psi[r][k].total_us;
                vg_cg_counter_out_t o;
                count(e, &e->cnt[CGS_CNT_PSI_BASE + 2 * r + k], us, s->now, &o);
                vg_number_point_t *p = point_double(s, m, o.start_ns, (double)us / 1e6);
                TRY(p);
                if (attr(s, p, CGS_STR_LEVEL, sstr(s, levels[k])))
                    return VG_ENOMEM;
            }
        }
        if (ON(s->core, rid)) {
            vg_metric_t *m = metric(s, rid);
            TRY(m);
            for (int k = 0; k < 2; k++) {
                if (!HAS(st, VG_CG_PSI_BIT(r, k)))
                    continue;
                vg_number_point_t *p = point_double(s, m, 0, st->psi[r][k].avg10 / 100.0);
                TRY(p);
                if (attr(s, p, CGS_STR_LEVEL, sstr(s, levels[k])))
                    return VG_ENOMEM;
            }
        }
    }
    return 0;
}

static int build_resource(cgs_scrape_ctx_t *s, const char *path, const vg_cg_ident_t *id)
{
    vg_resource_metrics_t *rm = vg_build_resource_metrics(s->b);
    TRY(rm);
    vg_arena_t *a = s->b->arena;
    const cgs_params_t *p = &s->core->p;
    if (id->id[0] && res_attr(s, rm, CGS_STR_CONTAINER_ID, vg_arena_strdup(a, id->id)))
        return VG_ENOMEM;
    if (id->runtime != VG_CG_RT_UNKNOWN &&
        res_attr(s, rm, CGS_STR_RUNTIME, vg_arena_strdup(a, vg_cg_runtime_name(id->runtime))))
        return VG_ENOMEM;
    if (id->pod_uid[0] && res_attr(s, rm, CGS_STR_POD_UID, vg_arena_strdup(a, id->pod_uid)))
        return VG_ENOMEM;
    if (id->qos != VG_CG_QOS_NONE && res_attr(s, rm, CGS_STR_QOS, vg_arena_strdup(a, vg_cg_qos_name(id->qos))))
        return VG_ENOMEM;
    if (id->kind == VG_CG_KIND_SERVICE && res_attr(s, rm, CGS_STR_UNIT_NAME, vg_arena_strdup(a, id->service)))
        return VG_ENOMEM;
    if (res_attr(s, rm, CGS_STR_CGROUP_PATH, vg_arena_strdup(a, path)))
        return VG_ENOMEM;
    if (p->host_name && p->host_name[0] && res_attr(s, rm, CGS_STR_HOST_NAME, sstr(s, CGS_STR_HOST_NAME_V)))
        return VG_ENOMEM;
    if (p->host_id && p->host_id[0] && res_attr(s, rm, CGS_STR_HOST_ID, sstr(s, CGS_STR_HOST_ID_V)))
        return VG_ENOMEM;
    /* the scope, like the strings, is shared by every container of the batch */
    s->sm = vg_build_scope_metrics(s->b, rm, NULL, NULL);
    TRY(s->sm);
    TRY(s->sm->scope->name = sstr(s, CGS_STR_SCOPE));
    TRY(s->sm->scope->version = sstr(s, CGS_STR_VERSION));
    return 0;
}

int cgs_build_container(cgs_scrape_ctx_t *s, cgs_entry_t *e, const char *path, const vg_cg_ident_t *id,
                        const vg_cg_stats_t *st)
{
    cgs_core_t *core = s->core;
    int rc = build_resource(s, path, id);
    if (!rc)
        rc = build_cpu(s, e, st);
    if (!rc)
        rc = build_mem(s, e, st);
    if (!rc)
        rc = build_io(s, e, st);
    if (!rc && ON(core, CGS_M_PIDS_COUNT) && HAS(st, VG_CGS_PIDS_CURRENT))
        rc = gauge_int(s, CGS_M_PIDS_COUNT, st->pids_current);
    if (!rc && ON(core, CGS_M_PIDS_LIMIT) && HAS(st, VG_CGS_PIDS_LIMIT) && st->pids_limit != VG_CG_UNLIMITED)
        rc = gauge_int(s, CGS_M_PIDS_LIMIT, st->pids_limit);
    if (!rc && (core->read_mask & VG_CG_READ_PSI))
        rc = build_psi(s, e, st);
    if (!rc && ON(core, CGS_M_UPTIME) && e->created_ns && e->created_ns <= s->now)
        rc = gauge_double(s, CGS_M_UPTIME, (double)(s->now - e->created_ns) / 1e9);
    return rc;
}
