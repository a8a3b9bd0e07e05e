/* cgroupstats: one scrape. Walks the hierarchy (collector/cgroup), reads each
 * container's files, keeps per-container counter state, and builds one
 * metrics batch with one ResourceMetrics per container.
 *
 * Per-container state is keyed by the cgroup path and checked against the
 * cgroup's inode (cg_id): a new inode under a known path is a container
 * recreated under the same name, and every counter of it restarts (new start
 * time, rates from the new values). Counter start times are the cgroup
 * directory's creation time (kernfs keeps it as mtime), so they survive a
 * collector restart too; when that is unknown, the first observation's time.
 *
 * Runs off the loop (uv_queue_work): no logging above debug, no loop calls. */
#include "cgroupstats_int.h"

#include "error.h"
#include "mem.h"
#include "otlp_build.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef VIGIL_VERSION
#define VIGIL_VERSION "0"
#endif

const cgs_metric_def_t cgs_metric_defs[CGS_M_COUNT] = {
#define CGS_X_DEF(id, name_, kind_, unit_, reads_, desc_) \
    [CGS_M_##id] = { .name = name_, .unit = unit_, .desc = desc_, .kind = CGS_##kind_, .reads = reads_ },
    CGS_METRICS(CGS_X_DEF)
#undef CGS_X_DEF
};

/* Cumulative counters kept per container. */
enum {
    CNT_CPU_USAGE = 0, CNT_CPU_USER, CNT_CPU_SYSTEM,
    CNT_PERIODS, CNT_THROTTLED, CNT_THROTTLED_TIME,
    CNT_OOM, CNT_OOM_KILL, CNT_LIMIT_HITS,
    CNT_PSI_BASE, /* + 2 * resource + level */
    CNT_COUNT = CNT_PSI_BASE + 6
};

enum { IO_RBYTES = 0, IO_WBYTES, IO_RIOS, IO_WIOS, IO_NCNT };

typedef struct {
    uint32_t major, minor;
    uint32_t gen;
    vg_cg_counter_t c[IO_NCNT];
} cgs_iodev_t;

struct cgs_entry {
    cgs_entry_t *next;
    uint64_t hash;
    char *path;
    uint64_t cg_id;
    uint64_t created_ns;   /* cgroup creation time; 0 unknown */
    uint32_t gen;
    /* limits, cached between reads (VG_CG_READ_LIMITS) */
    uint64_t lim_present; /* VG_CGS_CPU_LIMIT, MEM_LIMIT, PIDS_LIMIT bits */
    uint64_t cpu_quota_us, cpu_period_us, mem_limit, pids_limit;
    uint64_t lim_read_ns;  /* 0: never read */
    vg_cg_counter_t cnt[CNT_COUNT];
    cgs_iodev_t *io;
    uint32_t nio, capio;
};

#define LIMIT_BITS (((uint64_t)1 << VG_CGS_CPU_LIMIT) | ((uint64_t)1 << VG_CGS_MEM_LIMIT) | \
                    ((uint64_t)1 << VG_CGS_PIDS_LIMIT))

/* ---- clock, params, core ---------------------------------------------------------- */

static uint64_t wall_ns(void *ud)
{
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cgs_params_free(cgs_params_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_include; i++)
        vg_free(p->include[i]);
    for (size_t i = 0; i < p->n_exclude; i++)
        vg_free(p->exclude[i]);
    vg_free(p->include);
    vg_free(p->exclude);
    vg_free(p->host_name);
    vg_free(p->host_id);
    memset(p, 0, sizeof *p);
}

int cgs_core_new(cgs_params_t *p, cgs_core_t **out)
{
    *out = NULL;
    cgs_core_t *core = vg_calloc(1, sizeof *core);
    if (!core) {
        cgs_params_free(p);
        return VG_ENOMEM;
    }
    core->p = *p;
    memset(p, 0, sizeof *p);
    core->index_fd = -1;
    core->clock = wall_ns;
    for (int m = 0; m < CGS_M_COUNT; m++) {
        if (!(core->p.enabled & ((uint64_t)1 << m)))
            continue;
        core->read_mask |= cgs_metric_defs[m].reads & ~CGS_R_LIM;
        if (cgs_metric_defs[m].reads & CGS_R_LIM)
            core->want_limits = true;
    }
    core->nbuckets = 64;
    core->buckets = vg_calloc(core->nbuckets, sizeof *core->buckets);
    if (!core->buckets) {
        cgs_core_free(core);
        return VG_ENOMEM;
    }
    *out = core;
    return 0;
}

int cgs_core_open(cgs_core_t *core, const char *root)
{
    if (core->root)
        return 0;
    int rc = vg_cg_root_open(root, &core->root);
    if (rc)
        return rc;
    core->index_fd = open(vg_cg_root_index_dir(core->root), O_PATH | O_DIRECTORY | O_CLOEXEC);
    return 0;
}

static void entry_free(cgs_entry_t *e)
{
    vg_free(e->path);
    vg_free(e->io);
    vg_free(e);
}

void cgs_core_free(cgs_core_t *core)
{
    if (!core)
        return;
    for (size_t i = 0; core->buckets && i < core->nbuckets; i++) {
        for (cgs_entry_t *e = core->buckets[i], *nx; e; e = nx) {
            nx = e->next;
            entry_free(e);
        }
    }
    vg_free(core->buckets);
    if (core->index_fd >= 0)
        close(core->index_fd);
    vg_cg_root_close(core->root);
    cgs_params_free(&core->p);
    vg_free(core);
}

/* ---- per-container state ------------------------------------------------------------ */

static uint64_t hash_path(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static cgs_entry_t *lookup(cgs_core_t *core, const char *path, uint64_t h)
{
    for (cgs_entry_t *e = core->buckets[h & (core->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->path, path) == 0)
            return e;
    return NULL;
}

static void unlink_entry(cgs_core_t *core, cgs_entry_t *e)
{
    cgs_entry_t **pp = &core->buckets[e->hash & (core->nbuckets - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = e->next;
        core->n--;
    }
}

/* Doubles the bucket array when the chains get long; failing is harmless. */
static void maybe_grow(cgs_core_t *core)
{
    if (core->n < core->nbuckets)
        return;
    size_t nb = core->nbuckets * 2;
    cgs_entry_t **b = vg_calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < core->nbuckets; i++) {
        for (cgs_entry_t *e = core->buckets[i], *nx; e; e = nx) {
            nx = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    }
    vg_free(core->buckets);
    core->buckets = b;
    core->nbuckets = nb;
}

/* Creation time of the cgroup directory: kernfs sets all three times at
 * mkdir and later changes only ctime (chown, chmod), so the older of mtime
 * and ctime. 0 when unknown or in the future. */
static uint64_t created_ns(const cgs_core_t *core, const char *path, uint64_t now)
{
    if (core->index_fd < 0)
        return 0;
    while (*path == '/')
        path++;
    struct stat sb;
    if (fstatat(core->index_fd, *path ? path : ".", &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return 0;
    uint64_t m = (uint64_t)sb.st_mtim.tv_sec * 1000000000u + (uint64_t)sb.st_mtim.tv_nsec;
    uint64_t c = (uint64_t)sb.st_ctim.tv_sec * 1000000000u + (uint64_t)sb.st_ctim.tv_nsec;
    uint64_t t = m < c ? m : c;
    return t && t <= now ? t : 0;
}

static void entry_reset(cgs_entry_t *e, uint64_t created)
{
    e->created_ns = created;
    for (int i = 0; i < CNT_COUNT; i++)
        vg_cg_counter_init(&e->cnt[i], created);
    e->nio = 0;
    e->lim_present = 0;
    e->lim_read_ns = 0;
}

static cgs_entry_t *entry_new(cgs_core_t *core, const char *path, uint64_t h)
{
    cgs_entry_t *e = vg_calloc(1, sizeof *e);
    if (!e)
        return NULL;
    if (!(e->path = vg_strdup(path))) {
        vg_free(e);
        return NULL;
    }
    e->hash = h;
    maybe_grow(core);
    size_t b = h & (core->nbuckets - 1);
    e->next = core->buckets[b];
    core->buckets[b] = e;
    core->n++;
    return e;
}

/* The container was recreated under the same path: every series restarts. */
static void entry_restart(cgs_entry_t *e, uint64_t created)
{
    e->created_ns = created;
    for (int i = 0; i < CNT_COUNT; i++)
        vg_cg_counter_restart(&e->cnt[i]);
    for (uint32_t i = 0; i < e->nio; i++)
        for (int k = 0; k < IO_NCNT; k++)
            vg_cg_counter_restart(&e->io[i].c[k]);
    e->lim_present = 0;
    e->lim_read_ns = 0;
}

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
    for (int k = 0; k < IO_NCNT; k++)
        vg_cg_counter_init(&d->c[k], e->created_ns);
    return d;
}

/* ---- building -------------------------------------------------------------------------- */

/* Strings every container repeats, copied into the batch's arena once per
 * batch and shared by all its containers (metric names, descriptions, units,
 * attribute keys and values): most of a scrape's bytes otherwise. */
enum {
    STR_CONTAINER_ID = 0, STR_RUNTIME, STR_POD_UID, STR_QOS, STR_UNIT_NAME, STR_CGROUP_PATH, STR_HOST_NAME,
    STR_HOST_ID, STR_HOST_NAME_V, STR_HOST_ID_V, STR_CPU_MODE, STR_USER, STR_SYSTEM, STR_DIRECTION, STR_READ,
    STR_WRITE, STR_DEVICE, STR_LEVEL, STR_SOME, STR_FULL, STR_SCOPE, STR_VERSION, STR_COUNT
};

typedef struct {
    cgs_core_t *core;
    vg_batch_t *b;
    cgs_result_t *res;
    vg_scope_metrics_t *sm;
    uint64_t now;
    size_t seen;   /* containers taken (bounded by max_containers) */
    size_t points; /* data points built */
    char *str[STR_COUNT];
    char *mname[CGS_M_COUNT], *mdesc[CGS_M_COUNT], *munit[CGS_M_COUNT];
} scrape_t;

static const char *str_text(const scrape_t *s, int i)
{
    static const char *const t[STR_COUNT] = {
        [STR_CONTAINER_ID] = "container.id", [STR_RUNTIME] = "container.runtime.name",
        [STR_POD_UID] = "k8s.pod.uid", [STR_QOS] = "k8s.pod.qos_class", [STR_UNIT_NAME] = "systemd.unit.name",
        [STR_CGROUP_PATH] = "cgroup.path", [STR_HOST_NAME] = "host.name", [STR_HOST_ID] = "host.id",
        [STR_CPU_MODE] = "cpu.mode", [STR_USER] = "user", [STR_SYSTEM] = "system",
        [STR_DIRECTION] = "disk.io.direction", [STR_READ] = "read", [STR_WRITE] = "write",
        [STR_DEVICE] = "system.device", [STR_LEVEL] = "pressure.level", [STR_SOME] = "some", [STR_FULL] = "full",
        [STR_SCOPE] = CGS_SCOPE_NAME, [STR_VERSION] = VIGIL_VERSION,
    };
    if (i == STR_HOST_NAME_V)
        return s->core->p.host_name;
    if (i == STR_HOST_ID_V)
        return s->core->p.host_id;
    return t[i];
}

/* The batch's copy of string i; NULL when out of memory. */
static char *sstr(scrape_t *s, int i)
{
    if (!s->str[i])
        s->str[i] = vg_arena_strdup(s->b->arena, str_text(s, i));
    return s->str[i];
}

/* An attribute whose key and value already live in the batch's arena. */
static int kv_shared(scrape_t *s, vg_kv_t ***kv, size_t *n, char *key, char *val)
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

static int res_attr(scrape_t *s, vg_resource_metrics_t *rm, int key, char *val)
{
    return kv_shared(s, &rm->resource->attributes, &rm->resource->n_attributes, sstr(s, key), val);
}

#define ON(core, m) (((core)->p.enabled >> (m)) & 1u)
#define HAS(st, bit) VG_CG_HAS(st, bit)

static vg_metric_t *metric(scrape_t *s, int id)
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

static vg_number_point_t *point_int(scrape_t *s, vg_metric_t *m, uint64_t start, uint64_t v)
{
    vg_number_point_t *p = vg_build_point_int(s->b, m, start, s->now, v > INT64_MAX ? INT64_MAX : (int64_t)v);
    s->points += p != NULL;
    return p;
}

static vg_number_point_t *point_double(scrape_t *s, vg_metric_t *m, uint64_t start, double v)
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

static int attr(scrape_t *s, vg_number_point_t *p, int key, char *val)
{
    return kv_shared(s, &p->attributes, &p->n_attributes, sstr(s, key), val);
}

static int gauge_int(scrape_t *s, int id, uint64_t v)
{
    vg_metric_t *m = metric(s, id);
    TRY(m);
    TRY(point_int(s, m, 0, v));
    return 0;
}

static int gauge_double(scrape_t *s, int id, double v)
{
    vg_metric_t *m = metric(s, id);
    TRY(m);
    TRY(point_double(s, m, 0, v));
    return 0;
}

/* A cumulative sum with one point from counter c. scale != 0: double value * scale. */
static int sum_one(scrape_t *s, const cgs_entry_t *e, int id, vg_cg_counter_t *c, uint64_t v, double scale)
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

static int build_cpu(scrape_t *s, cgs_entry_t *e, const vg_cg_stats_t *st)
{
    cgs_core_t *core = s->core;
    vg_cg_counter_out_t ou = { 0 };
    bool have_usage = HAS(st, VG_CGS_CPU_USAGE);
    if (have_usage)
        count(e, &e->cnt[CNT_CPU_USAGE], st->cpu_usage_ns, s->now, &ou);
    if (ON(core, CGS_M_CPU_TIME)) {
        bool user = HAS(st, VG_CGS_CPU_USER), sys = HAS(st, VG_CGS_CPU_SYSTEM);
        if (user || sys) {
            vg_metric_t *m = metric(s, CGS_M_CPU_TIME);
            TRY(m);
            static const int modes[2] = { STR_USER, STR_SYSTEM };
            const uint64_t vals[2] = { st->cpu_user_ns, st->cpu_system_ns };
            const bool have[2] = { user, sys };
            for (int i = 0; i < 2; i++) {
                if (!have[i])
                    continue;
                vg_cg_counter_out_t o;
                count(e, &e->cnt[CNT_CPU_USER + i], vals[i], s->now, &o);
                vg_number_point_t *p = point_double(s, m, o.start_ns, (double)vals[i] / 1e9);
                TRY(p);
                if (attr(s, p, STR_CPU_MODE, sstr(s, modes[i])))
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
        sum_one(s, e, CGS_M_CPU_PERIODS, &e->cnt[CNT_PERIODS], st->cpu_periods, 0))
        return VG_ENOMEM;
    if (ON(core, CGS_M_CPU_THROTTLED_PERIODS) && HAS(st, VG_CGS_CPU_THROTTLED) &&
        sum_one(s, e, CGS_M_CPU_THROTTLED_PERIODS, &e->cnt[CNT_THROTTLED], st->cpu_throttled_periods, 0))
        return VG_ENOMEM;
    if (ON(core, CGS_M_CPU_THROTTLED_TIME) && HAS(st, VG_CGS_CPU_THROTTLED_TIME) &&
        sum_one(s, e, CGS_M_CPU_THROTTLED_TIME, &e->cnt[CNT_THROTTLED_TIME], st->cpu_throttled_ns, 1e-9))
        return VG_ENOMEM;
    if (ON(core, CGS_M_CPU_LIMIT) && HAS(st, VG_CGS_CPU_LIMIT) && st->cpu_quota_us != VG_CG_UNLIMITED &&
        st->cpu_period_us > 0 &&
        gauge_double(s, CGS_M_CPU_LIMIT, (double)st->cpu_quota_us / (double)st->cpu_period_us))
        return VG_ENOMEM;
    return 0;
}

static int build_mem(scrape_t *s, cgs_entry_t *e, const vg_cg_stats_t *st)
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
        sum_one(s, e, CGS_M_MEM_OOM, &e->cnt[CNT_OOM], st->mem_oom, 0))
        return VG_ENOMEM;
    if (ON(core, CGS_M_MEM_OOM_KILL) && HAS(st, VG_CGS_MEM_OOM_KILL) &&
        sum_one(s, e, CGS_M_MEM_OOM_KILL, &e->cnt[CNT_OOM_KILL], st->mem_oom_kill, 0))
        return VG_ENOMEM;
    if (ON(core, CGS_M_MEM_LIMIT_HITS) && HAS(st, VG_CGS_MEM_FAILCNT) &&
        sum_one(s, e, CGS_M_MEM_LIMIT_HITS, &e->cnt[CNT_LIMIT_HITS], st->mem_failcnt, 0))
        return VG_ENOMEM;
    return 0;
}

static int build_io(scrape_t *s, cgs_entry_t *e, const vg_cg_stats_t *st)
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
        const uint64_t v[IO_NCNT] = { dv->rbytes, dv->wbytes, dv->rios, dv->wios };
        for (int k = 0; k < IO_NCNT; k++) {
            vg_metric_t *m = k < IO_RIOS ? mb : mo;
            if (!m)
                continue;
            vg_cg_counter_out_t o;
            count(e, &d->c[k], v[k], s->now, &o);
            vg_number_point_t *p = point_int(s, m, o.start_ns, v[k]);
            TRY(p);
            if (attr(s, p, STR_DIRECTION, sstr(s, (k == IO_RBYTES || k == IO_RIOS) ? STR_READ : STR_WRITE)) ||
                attr(s, p, STR_DEVICE, dev))
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

static int build_psi(scrape_t *s, cgs_entry_t *e, const vg_cg_stats_t *st)
{
    static const int levels[2] = { STR_SOME, STR_FULL };
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
                count(e, &e->cnt[CNT_PSI_BASE + 2 * r + k], us, s->now, &o);
                vg_number_point_t *p = point_double(s, m, o.start_ns, (double)us / 1e6);
                TRY(p);
                if (attr(s, p, STR_LEVEL, sstr(s, levels[k])))
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
                if (attr(s, p, STR_LEVEL, sstr(s, levels[k])))
                    return VG_ENOMEM;
            }
        }
    }
    return 0;
}

static int build_resource(scrape_t *s, const char *path, const vg_cg_ident_t *id)
{
    vg_resource_metrics_t *rm = vg_build_resource_metrics(s->b);
    TRY(rm);
    vg_arena_t *a = s->b->arena;
    const cgs_params_t *p = &s->core->p;
    if (id->id[0] && res_attr(s, rm, STR_CONTAINER_ID, vg_arena_strdup(a, id->id)))
        return VG_ENOMEM;
    if (id->runtime != VG_CG_RT_UNKNOWN &&
        res_attr(s, rm, STR_RUNTIME, vg_arena_strdup(a, vg_cg_runtime_name(id->runtime))))
        return VG_ENOMEM;
    if (id->pod_uid[0] && res_attr(s, rm, STR_POD_UID, vg_arena_strdup(a, id->pod_uid)))
        return VG_ENOMEM;
    if (id->qos != VG_CG_QOS_NONE && res_attr(s, rm, STR_QOS, vg_arena_strdup(a, vg_cg_qos_name(id->qos))))
        return VG_ENOMEM;
    if (id->kind == VG_CG_KIND_SERVICE && res_attr(s, rm, STR_UNIT_NAME, vg_arena_strdup(a, id->service)))
        return VG_ENOMEM;
    if (res_attr(s, rm, STR_CGROUP_PATH, vg_arena_strdup(a, path)))
        return VG_ENOMEM;
    if (p->host_name && p->host_name[0] && res_attr(s, rm, STR_HOST_NAME, sstr(s, STR_HOST_NAME_V)))
        return VG_ENOMEM;
    if (p->host_id && p->host_id[0] && res_attr(s, rm, STR_HOST_ID, sstr(s, STR_HOST_ID_V)))
        return VG_ENOMEM;
    /* the scope, like the strings, is shared by every container of the batch */
    s->sm = vg_build_scope_metrics(s->b, rm, NULL, NULL);
    TRY(s->sm);
    TRY(s->sm->scope->name = sstr(s, STR_SCOPE));
    TRY(s->sm->scope->version = sstr(s, STR_VERSION));
    return 0;
}

/* ---- the walk ------------------------------------------------------------------------------ */

static void limits_update(cgs_entry_t *e, vg_cg_stats_t *st, bool read_now, uint64_t now)
{
    if (read_now) {
        e->lim_present = st->present & LIMIT_BITS;
        e->cpu_quota_us = st->cpu_quota_us;
        e->cpu_period_us = st->cpu_period_us;
        e->mem_limit = st->mem_limit;
        e->pids_limit = st->pids_limit;
        e->lim_read_ns = now ? now : 1;
    } else {
        st->present = (st->present & ~LIMIT_BITS) | e->lim_present;
        st->cpu_quota_us = e->cpu_quota_us;
        st->cpu_period_us = e->cpu_period_us;
        st->mem_limit = e->mem_limit;
        st->pids_limit = e->pids_limit;
    }
}

static int on_container(void *ud, const char *path, const vg_cg_ident_t *id)
{
    scrape_t *s = ud;
    cgs_core_t *core = s->core;
    cgs_result_t *res = s->res;
    if (s->seen >= core->p.max_containers) {
        res->over_limit++;
        return 0;
    }
    s->seen++;
    uint64_t h = hash_path(path);
    cgs_entry_t *e = lookup(core, path, h);
    uint64_t t0 = core->clock(core->clock_ud);
    bool lim = core->want_limits &&
               (!e || !e->lim_read_ns || t0 - e->lim_read_ns >= core->p.limits_refresh_ns || t0 < e->lim_read_ns);
    vg_cg_stats_t *st = &core->st;
    int rc = vg_cg_read(core->root, path, core->read_mask | (lim ? VG_CG_READ_LIMITS : 0), st);
    if (rc == VG_ENOTFOUND) {
        /* gone between the walk and the read: normal */
        res->vanished++;
        if (e) {
            unlink_entry(core, e);
            entry_free(e);
        }
        return 0;
    }
    if (rc) {
        /* the directory exists but cannot be read (EACCES, path too long):
         * not reported this time, state kept */
        res->read_errors++;
        if (e)
            e->gen = core->gen;
        return 0;
    }
    s->now = core->clock(core->clock_ud);
    res->read_errors += st->read_errors;
    res->io_devices_dropped += st->io_dropped;
    if (st->present == 0 && st->read_errors) {
        /* nothing readable at all (e.g. a directory without search permission):
         * skipped like an unopenable one rather than reported empty */
        if (e)
            e->gen = core->gen;
        return 0;
    }
    if (!e) {
        if (!(e = entry_new(core, path, h)))
            return VG_ENOMEM;
        entry_reset(e, created_ns(core, path, s->now));
        e->cg_id = st->cg_id;
        res->new_containers++;
    } else if (e->cg_id != st->cg_id) {
        entry_restart(e, created_ns(core, path, s->now));
        e->cg_id = st->cg_id;
        res->restarts++;
        if (core->want_limits && !lim) {
            /* the recreated container may have other limits */
            vg_cg_stats_t *ls = vg_malloc(sizeof *ls);
            if (!ls)
                return VG_ENOMEM;
            if (vg_cg_read(core->root, path, VG_CG_READ_LIMITS, ls) == 0 && ls->cg_id == st->cg_id) {
                st->present = (st->present & ~LIMIT_BITS) | (ls->present & LIMIT_BITS);
                st->cpu_quota_us = ls->cpu_quota_us;
                st->cpu_period_us = ls->cpu_period_us;
                st->mem_limit = ls->mem_limit;
                st->pids_limit = ls->pids_limit;
                lim = true;
            }
            vg_free(ls);
        }
    }
    e->gen = core->gen;
    if (core->want_limits)
        limits_update(e, st, lim, s->now);

    rc = build_resource(s, path, id);
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
    if (rc)
        return rc;
    res->containers++;
    return 0;
}

/* Frees the state of containers the complete walk did not see. */
static size_t sweep(cgs_core_t *core)
{
    size_t gone = 0;
    for (size_t i = 0; i < core->nbuckets; i++) {
        for (cgs_entry_t **pp = &core->buckets[i]; *pp;) {
            cgs_entry_t *e = *pp;
            if (e->gen != core->gen) {
                *pp = e->next;
                core->n--;
                entry_free(e);
                gone++;
            } else {
                pp = &e->next;
            }
        }
    }
    return gone;
}

void cgs_scrape(cgs_core_t *core, cgs_result_t *res)
{
    memset(res, 0, sizeof *res);
    uint64_t w0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    if (!core->root) {
        res->rc = VG_ESTATE;
        return;
    }
    scrape_t s = { .core = core, .res = res };
    if (!(s.b = vg_batch_new(VG_SIG_METRICS))) {
        res->rc = VG_ENOMEM;
        goto out;
    }
    core->gen++;
    vg_cg_walk_opts_t wo = {
        .include = (const char *const *)core->p.include,
        .n_include = core->p.n_include,
        .exclude = (const char *const *)core->p.exclude,
        .n_exclude = core->p.n_exclude,
        .max_depth = core->p.max_depth,
        .max_count = SIZE_MAX, /* the cap is ours: containers beyond it are counted */
        .include_services = core->p.include_services,
    };
    vg_cg_walk_result_t wr;
    int rc = vg_cg_walk(core->root, &wo, on_container, &s, &wr);
    res->dirs = wr.dirs;
    if (rc) {
        /* incomplete walk: keep every state (a container not seen may still be there) */
        res->rc = rc < 0 ? rc : VG_EIO;
        vg_batch_unref(s.b);
        goto out;
    }
    res->vanished += sweep(core);
    /* vg_batch_recount's figures, known without walking the request again */
    s.b->items = s.points;
    s.b->bytes = vg_arena_bytes(s.b->arena) + sizeof *s.b;
    if (s.b->items == 0 && res->containers == 0) {
        vg_batch_unref(s.b);
    } else {
        s.b->received_ns = (int64_t)core->clock(core->clock_ud);
        res->batch = s.b;
    }
out:
    res->tracked = core->n;
    res->duration_ns = clock_ns(CLOCK_MONOTONIC) - w0;
    res->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
}
