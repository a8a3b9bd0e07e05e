/* cgroup filesystem access for container metrics: mode detection, discovery
 * of container cgroups, per-container stats, and a cumulative-counter helper.
 *
 * Threading: a vg_cg_root_t is immutable after vg_cg_root_open (directory
 * descriptors used only as openat() bases), so vg_cg_walk and vg_cg_read may
 * run on it from several threads at once; close it when none is running.
 * Nothing here touches a uv loop, and the calls block on file I/O: run them
 * in uv_queue_work.
 *
 * Paths passed in and out are cgroup paths relative to the hierarchy root,
 * starting with '/', exactly as /proc/<pid>/cgroup shows them
 * ("/kubepods.slice/.../cri-containerd-<id>.scope"). */
#ifndef VIGIL_CGROUP_CGROUP_H
#define VIGIL_CGROUP_CGROUP_H

#include "cgpath.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG_CG_DEFAULT_ROOT "/sys/fs/cgroup"
#define VG_CG_PATH_MAX     1024 /* longest cgroup path the walk follows */

typedef enum {
    VG_CG_MODE_NONE = 0,
    VG_CG_MODE_V1,     /* controllers in <root>/<controller>/ */
    VG_CG_MODE_V2,     /* unified hierarchy at <root> */
    VG_CG_MODE_HYBRID, /* v1 controllers plus the unified tree at <root>/unified */
} vg_cg_mode_t;

const char *vg_cg_mode_name(vg_cg_mode_t m); /* "none", "v1", "v2", "hybrid" */

/* Look at the files under root (NULL = VG_CG_DEFAULT_ROOT): <root>/cgroup.controllers
 * means v2; <root>/{memory,cpuacct,cpu,cpu,cpuacct,pids,blkio}/cgroup.procs
 * mean v1, and with <root>/unified/cgroup.controllers too, hybrid. Returns 0,
 * VG_ENOTFOUND (no cgroup filesystem there), VG_EINVAL. */
int vg_cg_detect_mode(const char *root, vg_cg_mode_t *mode);

/* ---- root handle ---------------------------------------------------------- */

typedef struct vg_cg_root vg_cg_root_t;

/* Detect the mode and open the hierarchy roots (directory descriptors kept
 * open until close). The caller owns *out and frees it with vg_cg_root_close.
 * Returns 0, VG_ENOTFOUND (no cgroup filesystem at root), VG_ENOMEM, VG_EIO,
 * VG_EINVAL. */
int vg_cg_root_open(const char *root, vg_cg_root_t **out);
void vg_cg_root_close(vg_cg_root_t *r); /* NULL is fine */
vg_cg_mode_t vg_cg_root_mode(const vg_cg_root_t *r);
/* The hierarchy the walk lists: "<root>" (v2) or "<root>/memory" etc. (v1,
 * hybrid: memory, else cpuacct, cpu, pids, blkio). Valid until close. */
const char *vg_cg_root_index_dir(const vg_cg_root_t *r);

/* ---- discovery --------------------------------------------------------------- */

typedef struct {
    /* fnmatch(3) globs (flags 0: '*' also matches '/') on the cgroup path.
     * A cgroup is reported if it matches some include (or includes is empty)
     * and no exclude. They do not limit the descent. */
    const char *const *include;
    size_t n_include;
    const char *const *exclude;
    size_t n_exclude;
    unsigned max_depth;    /* path components below the root; 0 = 16 */
    size_t max_count;      /* stop after reporting this many; 0 = 10000 */
    bool include_services; /* also report systemd services (KIND_SERVICE) */
} vg_cg_walk_opts_t;

typedef struct {
    size_t reported;     /* callbacks made */
    size_t dirs;         /* cgroup directories visited */
    bool depth_capped;   /* some directory was not entered because of max_depth */
    bool count_capped;   /* stopped at max_count */
} vg_cg_walk_result_t;

/* path is NUL-terminated and valid only during the call; id likewise. Return
 * 0 to go on; anything else stops the walk and is returned by vg_cg_walk. */
typedef int (*vg_cg_walk_cb)(void *ud, const char *path, const vg_cg_ident_t *id);

/* Walk the index hierarchy depth-first and call cb for each container cgroup
 * (vg_cg_path_parse kind CONTAINER, plus SERVICE if opts->include_services).
 * A container's sub-cgroups are not entered. Directories that vanish during
 * the walk are skipped silently. opts and res may be NULL. One allocation per
 * walk (the directory-listing buffers). Returns 0, the callback's non-zero
 * value, VG_ENOMEM, VG_EIO (the root itself cannot be listed), VG_EINVAL. */
int vg_cg_walk(vg_cg_root_t *r, const vg_cg_walk_opts_t *opts, vg_cg_walk_cb cb, void *ud,
               vg_cg_walk_result_t *res);

/* ---- stats -------------------------------------------------------------------- */

#define VG_CG_UNLIMITED UINT64_MAX /* value of a limit that is not set ("max", -1, huge) */
#define VG_CG_IO_MAX_DEV 32

/* Bits of vg_cg_stats_t.present; test with VG_CG_HAS(st, bit). */
enum {
    VG_CGS_CPU_USAGE = 0,      /* cpu_usage_ns */
    VG_CGS_CPU_USER,           /* cpu_user_ns */
    VG_CGS_CPU_SYSTEM,         /* cpu_system_ns */
    VG_CGS_CPU_PERIODS,        /* cpu_periods */
    VG_CGS_CPU_THROTTLED,      /* cpu_throttled_periods */
    VG_CGS_CPU_THROTTLED_TIME, /* cpu_throttled_ns */
    VG_CGS_CPU_LIMIT,          /* cpu_quota_us (VG_CG_UNLIMITED if none) and cpu_period_us */
    VG_CGS_MEM_USAGE,          /* mem_usage */
    VG_CGS_MEM_WORKING_SET,    /* mem_working_set */
    VG_CGS_MEM_RSS,            /* mem_rss */
    VG_CGS_MEM_CACHE,          /* mem_cache */
    VG_CGS_MEM_SWAP,           /* mem_swap */
    VG_CGS_MEM_LIMIT,          /* mem_limit (VG_CG_UNLIMITED if none) */
    VG_CGS_MEM_OOM,            /* mem_oom (v2 only) */
    VG_CGS_MEM_OOM_KILL,       /* mem_oom_kill */
    VG_CGS_MEM_FAILCNT,        /* mem_failcnt */
    VG_CGS_IO_BYTES,           /* io[].rbytes, io[].wbytes */
    VG_CGS_IO_OPS,             /* io[].rios, io[].wios */
    VG_CGS_PIDS_CURRENT,       /* pids_current */
    VG_CGS_PIDS_LIMIT,         /* pids_limit (VG_CG_UNLIMITED if none) */
    VG_CGS_PSI_BASE,           /* psi[res][kind]: bit VG_CGS_PSI_BASE + 2 * res + kind */
    VG_CGS_COUNT = VG_CGS_PSI_BASE + 6
};
#define VG_CG_HAS(st, bit) ((((st)->present) >> (bit)) & 1u)
#define VG_CG_PSI_BIT(res, kind) (VG_CGS_PSI_BASE + 2 * (res) + (kind))

enum { VG_CG_PSI_CPU = 0, VG_CG_PSI_MEM = 1, VG_CG_PSI_IO = 2 };
enum { VG_CG_PSI_SOME = 0, VG_CG_PSI_FULL = 1 };

typedef struct {
    double avg10;      /* percent of wall time stalled, 10 s average */
    uint64_t total_us; /* cumulative stall time, microseconds */
} vg_cg_psi_t;

typedef struct {
    uint32_t major, minor;
    uint64_t rbytes, wbytes, rios, wios;
} vg_cg_io_dev_t;

/* What vg_cg_read reads. */
#define VG_CG_READ_CPU  0x01u
#define VG_CG_READ_MEM  0x02u
#define VG_CG_READ_IO   0x04u
#define VG_CG_READ_PIDS 0x08u
#define VG_CG_READ_PSI  0x10u
#define VG_CG_READ_LIMITS 0x20u /* cpu, memory and pids limits: they rarely change, a
                                   receiver may read them less often */
#define VG_CG_READ_ALL  0x3fu

/* One container's values. Times in nanoseconds, sizes in bytes, unless named
 * otherwise. A value is meaningful only if its present bit is set: a missing
 * or empty file is normal and leaves it absent.
 *
 * Sources (v2 | v1):
 *   cpu usage/user/system  cpu.stat usage_usec/user_usec/system_usec
 *                          | cpuacct.usage (ns), cpuacct.stat user/system (USER_HZ ticks);
 *                          hybrid falls back to the unified cpu.stat if cpuacct lacks them
 *   throttling             cpu.stat nr_periods/nr_throttled/throttled_usec
 *                          | cpu.stat nr_periods/nr_throttled/throttled_time (ns)
 *   cpu limit              cpu.max | cpu.cfs_quota_us + cpu.cfs_period_us
 *   memory usage           memory.current | memory.usage_in_bytes
 *   working set            usage - inactive_file (memory.stat; v1 total_inactive_file
 *                          preferred), clamped at 0
 *   rss, cache             memory.stat anon, file | total_rss, total_cache (else rss, cache)
 *   swap                   memory.swap.current | memory.memsw.usage_in_bytes - usage
 *   limit                  memory.max | memory.limit_in_bytes (>= 2^62: unlimited)
 *   oom, oom_kill          memory.events oom, oom_kill | memory.oom_control oom_kill
 *   failcnt                memory.events max | memory.failcnt
 *   io                     io.stat rbytes/wbytes/rios/wios
 *                          | blkio.throttle.io_service_bytes[_recursive] and
 *                            io_serviced[_recursive] Read/Write lines
 *   pids                   pids.current, pids.max
 *   psi                    cpu.pressure, memory.pressure, io.pressure (v2 and the
 *                          unified tree of hybrid hosts) */
typedef struct {
    uint64_t present; /* VG_CGS_* bits */
    uint64_t cg_id;   /* inode of the index cgroup directory: a new value under the
                         same path means the cgroup was recreated (restart) */
    uint64_t cpu_usage_ns, cpu_user_ns, cpu_system_ns;
    uint64_t cpu_periods, cpu_throttled_periods, cpu_throttled_ns;
    uint64_t cpu_quota_us, cpu_period_us;
    uint64_t mem_usage, mem_working_set, mem_rss, mem_cache, mem_swap, mem_limit;
    uint64_t mem_oom, mem_oom_kill, mem_failcnt;
    uint64_t pids_current, pids_limit;
    vg_cg_psi_t psi[3][2]; /* [VG_CG_PSI_CPU..IO][VG_CG_PSI_SOME/FULL] */
    uint32_t io_ndev;      /* entries used in io[] */
    uint32_t io_dropped;   /* devices beyond VG_CG_IO_MAX_DEV, not reported */
    vg_cg_io_dev_t io[VG_CG_IO_MAX_DEV];
    uint32_t read_errors;  /* files that exist but could not be read (EACCES, EIO ...) */
} vg_cg_stats_t;

/* Read the stats selected by `what` (VG_CG_READ_*; the limit values come
 * only with VG_CG_READ_LIMITS) for the cgroup at path
 * into *out (overwritten). Files are read with open/read into one stack
 * buffer: no stdio, no allocation. Returns
 *   0             *out filled (some values may be absent)
 *   VG_ENOTFOUND  the cgroup does not exist or vanished while being read
 *                 (ENOENT/ENODEV); *out is all absent, never half-filled
 *   VG_EIO        the cgroup's directory exists but cannot be opened (EACCES ...)
 *   VG_EINVAL     bad arguments or path too long
 * Unreadable files (EACCES, EIO ...) do not fail the call; they are counted
 * in out->read_errors. Nothing is logged above debug level. */
int vg_cg_read(vg_cg_root_t *r, const char *path, unsigned what, vg_cg_stats_t *out);

/* ---- cumulative counters ------------------------------------------------------- */

/* Per-series state for a cumulative counter (CPU time, IO bytes, OOM kills).
 * Caller-owned, zero-initialisable; keep one per (container, metric) across
 * scrapes. */
typedef struct {
    uint64_t last;     /* last value seen */
    uint64_t last_ns;  /* when it was seen */
    uint64_t start_ns; /* start time of the current series */
    uint8_t primed;    /* a value has been seen */
    uint8_t restart;   /* vg_cg_counter_restart was called */
} vg_cg_counter_t;

typedef struct {
    uint64_t start_ns; /* start time to report with this point */
    uint64_t delta;    /* increase since the previous update; after a reset the
                          value itself (it counted from 0 since the reset) */
    double rate;       /* delta per second over (previous update, now]; if has_rate */
    bool has_rate;     /* false on the first update or if time did not advance */
    bool reset;        /* a reset was detected (value went down, or restart()) */
} vg_cg_counter_out_t;

/* Set the series' start time before the first update (e.g. the container's
 * creation time). Without it the first update's time is the start time. */
void vg_cg_counter_init(vg_cg_counter_t *c, uint64_t start_ns);

/* Feed one observation taken at now_ns (any monotonic-enough clock in ns; the
 * same one every time). A value lower than the previous one is a reset (the
 * container restarted under the same path): the series restarts with
 * start_ns = the previous observation's time, so consecutive series never
 * overlap. out may be NULL. */
void vg_cg_counter_update(vg_cg_counter_t *c, uint64_t value, uint64_t now_ns, vg_cg_counter_out_t *out);

/* Force the next update to be treated as a reset (use when the cgroup's cg_id
 * changed: a restart whose new counter is already above the old one). */
void vg_cg_counter_restart(vg_cg_counter_t *c);

#endif
