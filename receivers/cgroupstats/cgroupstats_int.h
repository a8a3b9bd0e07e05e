/* cgroupstats receiver, internal: the metric table, the scrape core shared by
 * cgroupstats.c (options, lifecycle, timer, emit, self-telemetry) and
 * cgroupstats_scrape.c (walk, read, per-container state, OTLP building).
 *
 * Threading: a scrape (cgs_scrape) runs in uv_queue_work, off the loop; it
 * touches only its cgs_core_t, which the loop leaves alone while the scrape
 * is in flight (the timer does not start another one, and nothing else
 * mutates the core). The loop reads the scrape's cgs_result_t in the
 * after-work callback. The core holds copies of everything it needs from the
 * configuration, so that it can outlive the component if the component is
 * destroyed with a scrape still running (drain deadline on reload). */
#ifndef VIGIL_RECEIVERS_CGROUPSTATS_INT_H
#define VIGIL_RECEIVERS_CGROUPSTATS_INT_H

#include "batch.h"
#include "cgroup/cgroup.h"
#include "component.h"
#include "otlp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reading groups a metric needs (VG_CG_READ_* bits). */
#define CGS_R_NONE 0u
#define CGS_R_CPU VG_CG_READ_CPU
#define CGS_R_MEM VG_CG_READ_MEM
#define CGS_R_IO VG_CG_READ_IO
#define CGS_R_PIDS VG_CG_READ_PIDS
#define CGS_R_PSI VG_CG_READ_PSI
#define CGS_R_LIM VG_CG_READ_LIMITS

/* Every metric the receiver can emit, once. docs/metrics-cgroupstats.md has
 * the full table with sources.
 *   X(ID, name, kind (GAUGE | SUM), unit (UCUM), reads, description) */
#define CGS_METRICS(X)                                                                                               \
    X(CPU_TIME, "container.cpu.time", SUM, "s", CGS_R_CPU,                                                           \
      "CPU time consumed by the container's tasks, by cpu.mode (user, system).")                                     \
    X(CPU_USAGE, "container.cpu.usage", GAUGE, "{cpu}", CGS_R_CPU,                                                   \
      "CPUs in use, averaged over the time since the previous scrape.")                                              \
    X(CPU_PERIODS, "container.cpu.throttling_data.periods", SUM, "{period}", CGS_R_CPU,                              \
      "CPU bandwidth enforcement periods that elapsed while the container had runnable tasks.")                      \
    X(CPU_THROTTLED_PERIODS, "container.cpu.throttling_data.throttled_periods", SUM, "{period}", CGS_R_CPU,           \
      "Enforcement periods in which the container ran out of CPU quota and was throttled.")                          \
    X(CPU_THROTTLED_TIME, "container.cpu.throttling_data.throttled_time", SUM, "s", CGS_R_CPU,                       \
      "Total time the container's tasks spent throttled.")                                                           \
    X(CPU_LIMIT, "container.cpu.limit", GAUGE, "{cpu}", CGS_R_LIM,                                                   \
      "CPU limit: quota divided by period. Not reported when no quota is set.")                                      \
    X(MEM_USAGE, "container.memory.usage", GAUGE, "By", CGS_R_MEM,                                                   \
      "Memory charged to the container, page cache included.")                                                       \
    X(MEM_WORKING_SET, "container.memory.working_set", GAUGE, "By", CGS_R_MEM,                                       \
      "Memory usage minus inactive file-backed memory (what the kubelet compares with the limit).")                  \
    X(MEM_RSS, "container.memory.rss", GAUGE, "By", CGS_R_MEM, "Anonymous memory (cgroup v2 anon, v1 total_rss).")   \
    X(MEM_CACHE, "container.memory.cache", GAUGE, "By", CGS_R_MEM, "Page cache (cgroup v2 file, v1 total_cache).")   \
    X(MEM_SWAP, "container.memory.swap", GAUGE, "By", CGS_R_MEM, "Swap space used by the container.")                \
    X(MEM_LIMIT, "container.memory.limit", GAUGE, "By", CGS_R_LIM,                                                   \
      "Memory limit. Not reported when unlimited.")                                                                  \
    X(MEM_AVAILABLE, "container.memory.available", GAUGE, "By", CGS_R_LIM | CGS_R_MEM,                               \
      "Memory limit minus working set (0 at or above the limit). Not reported when unlimited.")                      \
    X(MEM_OOM, "container.memory.oom.events", SUM, "{event}", CGS_R_MEM,                                             \
      "Times the memory limit could not be met and the OOM killer was invoked (cgroup v2 only).")                    \
    X(MEM_OOM_KILL, "container.memory.oom.kills", SUM, "{process}", CGS_R_MEM,                                       \
      "Processes of the container killed by the OOM killer.")                                                        \
    X(MEM_LIMIT_HITS, "container.memory.limit_hits", SUM, "{event}", CGS_R_MEM,                                      \
      "Times memory usage reached the limit (v2 memory.events max, v1 memory.failcnt).")                             \
    X(DISK_IO, "container.disk.io", SUM, "By", CGS_R_IO,                                                             \
      "Bytes read and written by the container, by device (system.device) and disk.io.direction.")                   \
    X(DISK_OPERATIONS, "container.disk.operations", SUM, "{operation}", CGS_R_IO,                                    \
      "Block IO operations of the container, by device (system.device) and disk.io.direction.")                      \
    X(PIDS_COUNT, "container.pids.count", GAUGE, "{process}", CGS_R_PIDS,                                            \
      "Tasks (processes and threads) in the container.")                                                             \
    X(PIDS_LIMIT, "container.pids.limit", GAUGE, "{process}", CGS_R_LIM,                                             \
      "Most tasks the container may have. Not reported when unlimited.")                                             \
    X(CPU_PSI_TIME, "container.cpu.pressure.stall_time", SUM, "s", CGS_R_PSI,                                        \
      "Time some (pressure.level=some) or all (full) of the container's runnable tasks waited for a CPU (PSI, "     \
      "cgroup v2 and hybrid hosts).")                                                                                \
    X(CPU_PSI_RATIO, "container.cpu.pressure.stall_ratio", GAUGE, "1", CGS_R_PSI,                                    \
      "Share of the last 10 seconds the container's tasks stalled on CPU, by pressure.level (PSI avg10 / 100).")     \
    X(MEM_PSI_TIME, "container.memory.pressure.stall_time", SUM, "s", CGS_R_PSI,                                     \
      "Time the container's tasks stalled waiting for memory (reclaim, refaults, swap-in), by pressure.level.")     \
    X(MEM_PSI_RATIO, "container.memory.pressure.stall_ratio", GAUGE, "1", CGS_R_PSI,                                 \
      "Share of the last 10 seconds the container's tasks stalled on memory, by pressure.level.")                    \
    X(IO_PSI_TIME, "container.io.pressure.stall_time", SUM, "s", CGS_R_PSI,                                          \
      "Time the container's tasks stalled waiting for IO, by pressure.level.")                                       \
    X(IO_PSI_RATIO, "container.io.pressure.stall_ratio", GAUGE, "1", CGS_R_PSI,                                      \
      "Share of the last 10 seconds the container's tasks stalled on IO, by pressure.level.")                        \
    X(UPTIME, "container.uptime", GAUGE, "s", CGS_R_NONE, "Time since the container's cgroup was created.")

typedef enum {
#define CGS_X_ENUM(id, name, kind, unit, reads, desc) CGS_M_##id,
    CGS_METRICS(CGS_X_ENUM)
#undef CGS_X_ENUM
    CGS_M_COUNT
} cgs_metric_id_t;

typedef enum { CGS_GAUGE = 0, CGS_SUM } cgs_kind_t;

typedef struct {
    const char *name, *unit, *desc;
    cgs_kind_t kind;
    unsigned reads;
} cgs_metric_def_t;

extern const cgs_metric_def_t cgs_metric_defs[CGS_M_COUNT];

#define CGS_SCOPE_NAME "vigil/receiver/cgroupstats"

/* What the scrape needs from the configuration (copies, owned by the core). */
typedef struct {
    char **include, **exclude;
    size_t n_include, n_exclude;
    bool include_services;
    size_t max_containers;
    unsigned max_depth;
    uint64_t limits_refresh_ns; /* re-read limits at most this often; 0 = every scrape */
    uint64_t enabled;           /* bit per cgs_metric_id_t */
    char *host_name, *host_id;  /* "" or NULL: not reported */
} cgs_params_t;

typedef struct cgs_entry cgs_entry_t;
typedef uint64_t (*cgs_clock_fn)(void *ud);

typedef struct cgs_core {
    cgs_params_t p;
    unsigned read_mask;   /* VG_CG_READ_* the enabled metrics need, without LIMITS */
    bool want_limits;     /* some enabled metric needs the limits */
    vg_cg_root_t *root;   /* NULL until cgs_core_open */
    int index_fd;         /* the index hierarchy, for creation times; -1 */
    cgs_entry_t **buckets; /* per-container state, chained hash on the path */
    size_t nbuckets, n;
    uint32_t gen;         /* scrape generation: entries not seen in a complete walk are gone */
    cgs_clock_fn clock;   /* wall clock in ns (tests replace it) */
    void *clock_ud;
    vg_cg_stats_t st;     /* one container's values, reused */
} cgs_core_t;

/* What one scrape did; the loop adds it to the component's self-telemetry. */
typedef struct {
    vg_batch_t *batch;    /* the metrics (NULL when nothing to send or the scrape failed) */
    int rc;               /* 0, or why the scrape failed (VG_ENOMEM, VG_EIO: root not listable) */
    size_t containers;    /* containers reported */
    size_t new_containers;
    size_t restarts;      /* containers recreated under the same path (new cgroup inode) */
    size_t vanished;      /* containers that disappeared (state freed) */
    size_t over_limit;    /* containers found beyond max_containers, not reported */
    size_t read_errors;   /* files or cgroups that exist but could not be read */
    size_t io_devices_dropped;
    size_t dirs;          /* cgroup directories the walk visited */
    size_t tracked;       /* containers with state after the scrape */
    uint64_t duration_ns; /* wall time of the scrape */
    uint64_t cpu_ns;      /* CPU time of the scraping thread */
} cgs_result_t;

/* ---- shared by the scrape (cgroupstats_scrape.c) and the building
 * (cgroupstats_build.c) -------------------------------------------------------- */

/* Cumulative counters kept per container. */
enum {
    CGS_CNT_CPU_USAGE = 0, CGS_CNT_CPU_USER, CGS_CNT_CPU_SYSTEM,
    CGS_CNT_PERIODS, CGS_CNT_THROTTLED, CGS_CNT_THROTTLED_TIME,
    CGS_CNT_OOM, CGS_CNT_OOM_KILL, CGS_CNT_LIMIT_HITS,
    CGS_CNT_PSI_BASE, /* + 2 * resource + level */
    CGS_CNT_COUNT = CGS_CNT_PSI_BASE + 6
};

enum { CGS_IO_RBYTES = 0, CGS_IO_WBYTES, CGS_IO_RIOS, CGS_IO_WIOS, CGS_IO_NCNT };

typedef struct {
    uint32_t major, minor;
    uint32_t gen;
    vg_cg_counter_t c[CGS_IO_NCNT];
} cgs_iodev_t;

/* One container's state across scrapes. */
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
    vg_cg_counter_t cnt[CGS_CNT_COUNT];
    cgs_iodev_t *io;
    uint32_t nio, capio;
};

#define CGS_LIMIT_BITS (((uint64_t)1 << VG_CGS_CPU_LIMIT) | ((uint64_t)1 << VG_CGS_MEM_LIMIT) | \
                    ((uint64_t)1 << VG_CGS_PIDS_LIMIT))

/* Strings every container repeats, copied into the batch's arena once per
 * batch and shared by all its containers (metric names, descriptions, units,
 * attribute keys and values): most of a scrape's bytes otherwise. */
enum {
    CGS_STR_CONTAINER_ID = 0, CGS_STR_RUNTIME, CGS_STR_POD_UID, CGS_STR_QOS, CGS_STR_UNIT_NAME, CGS_STR_CGROUP_PATH, CGS_STR_HOST_NAME,
    CGS_STR_HOST_ID, CGS_STR_HOST_NAME_V, CGS_STR_HOST_ID_V, CGS_STR_CPU_MODE, CGS_STR_USER, CGS_STR_SYSTEM, CGS_STR_DIRECTION, CGS_STR_READ,
    CGS_STR_WRITE, CGS_STR_DEVICE, CGS_STR_LEVEL, CGS_STR_SOME, CGS_STR_FULL, CGS_STR_SCOPE, CGS_STR_VERSION, CGS_STR_COUNT
};

typedef struct {
    cgs_core_t *core;
    vg_batch_t *b;
    cgs_result_t *res;
    vg_scope_metrics_t *sm;
    uint64_t now;
    size_t seen;   /* containers taken (bounded by max_containers) */
    size_t points; /* data points built */
    char *str[CGS_STR_COUNT];
    char *mname[CGS_M_COUNT], *mdesc[CGS_M_COUNT], *munit[CGS_M_COUNT];
} cgs_scrape_ctx_t; /* one scrape in progress */

/* Feeds container e's counters with the values in st and appends its
 * ResourceMetrics to s->b. 0 or VG_ENOMEM (the batch then holds a partial
 * resource and must be dropped). */
int cgs_build_container(cgs_scrape_ctx_t *s, cgs_entry_t *e, const char *path, const vg_cg_ident_t *id,
                        const vg_cg_stats_t *st);

/* Params → a core (takes ownership of p's allocations, also on failure). */
int cgs_core_new(cgs_params_t *p, cgs_core_t **out);
/* Opens the hierarchy at root (I/O). 0, VG_ENOTFOUND, VG_EIO, VG_ENOMEM. */
int cgs_core_open(cgs_core_t *core, const char *root);
void cgs_core_free(cgs_core_t *core); /* NULL is fine */
void cgs_params_free(cgs_params_t *p);

/* One scrape: walk, read, update state, build the batch. Never touches a loop. */
void cgs_scrape(cgs_core_t *core, cgs_result_t *res);

/* The core of a created cgroupstats component (tests). */
cgs_core_t *cgs_component_core(vg_component_t *c);
/* A scrape of the component is in the thread pool (tests). */
bool cgs_component_in_flight(vg_component_t *c);

#endif
