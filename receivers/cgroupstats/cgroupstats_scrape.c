/* cgroupstats: one scrape. Walks the hierarchy (collector/cgroup), reads each
 * container's files, keeps per-container state, and builds one metrics batch
 * with one ResourceMetrics per container (the building is in
 * cgroupstats_build.c).
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

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
    for (int i = 0; i < CGS_CNT_COUNT; i++)
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
    for (int i = 0; i < CGS_CNT_COUNT; i++)
        vg_cg_counter_restart(&e->cnt[i]);
    for (uint32_t i = 0; i < e->nio; i++)
        for (int k = 0; k < CGS_IO_NCNT; k++)
            vg_cg_counter_restart(&e->io[i].c[k]);
    e->lim_present = 0;
    e->lim_read_ns = 0;
}

/* ---- the walk ------------------------------------------------------------------------------ */

static void limits_update(cgs_entry_t *e, vg_cg_stats_t *st, bool read_now, uint64_t now)
{
    if (read_now) {
        e->lim_present = st->present & CGS_LIMIT_BITS;
        e->cpu_quota_us = st->cpu_quota_us;
        e->cpu_period_us = st->cpu_period_us;
        e->mem_limit = st->mem_limit;
        e->pids_limit = st->pids_limit;
        e->lim_read_ns = now ? now : 1;
    } else {
        st->present = (st->present & ~CGS_LIMIT_BITS) | e->lim_present;
        st->cpu_quota_us = e->cpu_quota_us;
        st->cpu_period_us = e->cpu_period_us;
        st->mem_limit = e->mem_limit;
        st->pids_limit = e->pids_limit;
    }
}

static int on_container(void *ud, const char *path, const vg_cg_ident_t *id)
{
    cgs_scrape_ctx_t *s = ud;
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
                st->present = (st->present & ~CGS_LIMIT_BITS) | (ls->present & CGS_LIMIT_BITS);
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

    rc = cgs_build_container(s, e, path, id, st);
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
    cgs_scrape_ctx_t s = { .core = core, .res = res };
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
