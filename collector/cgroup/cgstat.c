/* Per-container stats from the cgroup filesystem (v2, v1, hybrid).
 *
 * Cost model: per container one O_PATH open of its directory per source
 * (unified tree or v1 controller, co-mounted controllers shared), then
 * openat + read + close per file into a stack buffer. No stdio, no heap.
 *
 * Vanishing containers: ENODEV while opening or reading means the cgroup was
 * removed under us. ENOENT may mean that or just "this kernel/controller does
 * not have that file"; in that case, after reading, the index directory's
 * cgroup.procs (present in every cgroup, v1 and v2) tells which. A vanished
 * cgroup gets VG_ENOTFOUND and an all-absent result. */
#include "cgroup.h"
#include "cgroup_int.h"

#include "error.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOGC "cgroup"
#define RBUF 8192
#define DIR_UNTRIED (-2)

typedef struct {
    vg_cg_root_t *r;
    vg_cg_stats_t *st;
    const char *rel; /* path relative to each hierarchy root ("." for the root) */
    int dfd[CG_SRC_COUNT];
    int saw_enoent, vanished;
    char buf[RBUF];
} rctx_t;

#define SET(st, bit) ((st)->present |= (uint64_t)1 << (bit))

/* ---- file access ------------------------------------------------------------ */

static void note_errno(rctx_t *c, int e)
{
    if (e == ENOENT)
        c->saw_enoent = 1;
    else if (e == ENODEV)
        c->vanished = 1;
    else
        c->st->read_errors++;
}

/* The container's directory in source s, or -1 if absent. */
static int src_dir(rctx_t *c, int s)
{
    vg_cg_root_t *r = c->r;
    if (r->fd[s] < 0)
        return -1;
    int a = r->alias[s];
    if (c->dfd[a] != DIR_UNTRIED)
        return c->dfd[a];
    int fd = openat(r->fd[a], c->rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        note_errno(c, errno);
    c->dfd[a] = fd;
    return fd;
}

/* Reads file `name` of source s into c->buf (NUL-terminated). Returns its
 * length (0 for an empty file), or -1 if it is absent or unreadable. A full
 * buffer keeps whole lines only. */
static ssize_t rd(rctx_t *c, int s, const char *name)
{
    if (c->vanished)
        return -1;
    int d = src_dir(c, s);
    if (d < 0)
        return -1;
    int fd = openat(d, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        note_errno(c, errno);
        return -1;
    }
    size_t len = 0;
    for (;;) {
        ssize_t k = read(fd, c->buf + len, RBUF - 1 - len);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            if (e == ENOENT)
                c->vanished = 1; /* an open file of a removed cgroup */
            else
                note_errno(c, e);
            return -1;
        }
        if (k == 0)
            break;
        size_t asked = RBUF - 1 - len;
        len += (size_t)k;
        /* cgroup files are seq_files: a read stops short only at the end,
         * so a short read saves the read() that would return 0 */
        if ((size_t)k < asked)
            break;
        if (len == RBUF - 1) {
            while (len && c->buf[len - 1] != '\n')
                len--;
            break;
        }
    }
    close(fd);
    c->buf[len] = '\0';
    return (ssize_t)len;
}

/* ---- parsing ------------------------------------------------------------------ */

static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* Decimal u64 at *pp (saturating). Returns 1 and advances on success. */
static int parse_u64(const char **pp, const char *e, uint64_t *v)
{
    const char *p = *pp;
    if (p >= e || !is_digit(*p))
        return 0;
    uint64_t x = 0;
    for (; p < e && is_digit(*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
    }
    *v = x;
    *pp = p;
    return 1;
}

/* "12.34" → 12.34, locale-free. */
static int parse_dec(const char **pp, const char *e, double *v)
{
    uint64_t ip = 0;
    if (!parse_u64(pp, e, &ip))
        return 0;
    double x = (double)ip;
    const char *p = *pp;
    if (p < e && *p == '.') {
        double scale = 0.1;
        for (p++; p < e && is_digit(*p); p++, scale /= 10)
            x += (*p - '0') * scale;
    }
    *pp = p;
    *v = x;
    return 1;
}

static const char *skip_sp(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* A single-value file: a number, "max", or "-1" (the last two: unlimited). */
static int parse_scalar(const char *b, size_t n, uint64_t *v)
{
    const char *p = skip_sp(b, b + n), *e = b + n;
    if (e - p >= 3 && memcmp(p, "max", 3) == 0) {
        *v = VG_CG_UNLIMITED;
        return 1;
    }
    if (e - p >= 2 && p[0] == '-' && p[1] == '1') {
        *v = VG_CG_UNLIMITED;
        return 1;
    }
    return parse_u64(&p, e, v);
}

static int read_scalar(rctx_t *c, int s, const char *name, uint64_t *v)
{
    ssize_t n = rd(c, s, name);
    return n > 0 && parse_scalar(c->buf, (size_t)n, v);
}

/* Flat-keyed files ("key value" lines): fills vals[i] for keys[i]; returns
 * the mask of keys found. */
static unsigned scan_kv(const char *b, size_t n, const char *const *keys, unsigned nkeys, uint64_t *vals)
{
    unsigned found = 0;
    const char *p = b, *e = b + n;
    while (p < e) {
        const char *ks = p;
        while (p < e && *p != ' ' && *p != '\n')
            p++;
        size_t kl = (size_t)(p - ks);
        const char *vp = skip_sp(p, e);
        const char *eol = memchr(vp, '\n', (size_t)(e - vp));
        if (!eol)
            eol = e;
        for (unsigned i = 0; i < nkeys; i++) {
            if (!(found & (1u << i)) && strncmp(keys[i], ks, kl) == 0 && keys[i][kl] == '\0') {
                const char *q = vp;
                if (parse_u64(&q, eol, &vals[i]))
                    found |= 1u << i;
                break;
            }
        }
        p = eol + (eol < e);
    }
    return found;
}

/* ---- CPU --------------------------------------------------------------------- */

static void cpu_v2_stat(rctx_t *c, int basic_only)
{
    static const char *const k[] = { "usage_usec", "user_usec", "system_usec",
                                     "nr_periods", "nr_throttled", "throttled_usec" };
    static const unsigned bits[] = { VG_CGS_CPU_USAGE, VG_CGS_CPU_USER, VG_CGS_CPU_SYSTEM,
                                     VG_CGS_CPU_PERIODS, VG_CGS_CPU_THROTTLED, VG_CGS_CPU_THROTTLED_TIME };
    vg_cg_stats_t *st = c->st;
    ssize_t n = rd(c, CG_SRC_V2, "cpu.stat");
    if (n <= 0)
        return;
    uint64_t v[6];
    unsigned f = scan_kv(c->buf, (size_t)n, k, basic_only ? 3 : 6, v);
    uint64_t *dst[] = { &st->cpu_usage_ns, &st->cpu_user_ns, &st->cpu_system_ns,
                        &st->cpu_periods, &st->cpu_throttled_periods, &st->cpu_throttled_ns };
    for (unsigned i = 0; i < 6; i++) {
        if (!(f & (1u << i)))
            continue;
        int usec = i < 3 || i == 5;
        *dst[i] = usec ? v[i] * 1000u : v[i];
        SET(st, bits[i]);
    }
}

static void limits_v2(rctx_t *c)
{
    vg_cg_stats_t *st = c->st;
    ssize_t n = rd(c, CG_SRC_V2, "cpu.max");
    if (n > 0) {
        const char *p = c->buf, *e = c->buf + n;
        uint64_t q, per;
        if (parse_scalar(p, (size_t)n, &q)) {
            while (p < e && *p != ' ')
                p++;
            p = skip_sp(p, e);
            if (parse_u64(&p, e, &per)) {
                st->cpu_quota_us = q;
                st->cpu_period_us = per;
                SET(st, VG_CGS_CPU_LIMIT);
            }
        }
    }
    if (read_scalar(c, CG_SRC_V2, "memory.max", &st->mem_limit))
        SET(st, VG_CGS_MEM_LIMIT);
    if (read_scalar(c, CG_SRC_V2, "pids.max", &st->pids_limit))
        SET(st, VG_CGS_PIDS_LIMIT);
}

static void limits_v1(rctx_t *c)
{
    vg_cg_stats_t *st = c->st;
    uint64_t quota, period;
    if (read_scalar(c, CG_SRC_CPU, "cpu.cfs_quota_us", &quota) &&
        read_scalar(c, CG_SRC_CPU, "cpu.cfs_period_us", &period)) {
        st->cpu_quota_us = quota;
        st->cpu_period_us = period;
        SET(st, VG_CGS_CPU_LIMIT);
    }
    if (read_scalar(c, CG_SRC_MEMORY, "memory.limit_in_bytes", &st->mem_limit)) {
        if (st->mem_limit >= ((uint64_t)1 << 62))
            st->mem_limit = VG_CG_UNLIMITED;
        SET(st, VG_CGS_MEM_LIMIT);
    }
    if (read_scalar(c, CG_SRC_PIDS, "pids.max", &st->pids_limit))
        SET(st, VG_CGS_PIDS_LIMIT);
}

static void cpu_v1(rctx_t *c)
{
    vg_cg_stats_t *st = c->st;
    uint64_t v[3];
    if (read_scalar(c, CG_SRC_CPUACCT, "cpuacct.usage", &v[0])) {
        st->cpu_usage_ns = v[0];
        SET(st, VG_CGS_CPU_USAGE);
    }
    ssize_t n = rd(c, CG_SRC_CPUACCT, "cpuacct.stat");
    if (n > 0) {
        static const char *const k[] = { "user", "system" };
        unsigned f = scan_kv(c->buf, (size_t)n, k, 2, v);
        if (f & 1) {
            st->cpu_user_ns = v[0] * c->r->ns_per_tick;
            SET(st, VG_CGS_CPU_USER);
        }
        if (f & 2) {
            st->cpu_system_ns = v[1] * c->r->ns_per_tick;
            SET(st, VG_CGS_CPU_SYSTEM);
        }
    }
    n = rd(c, CG_SRC_CPU, "cpu.stat");
    if (n > 0) {
        static const char *const k[] = { "nr_periods", "nr_throttled", "throttled_time" };
        unsigned f = scan_kv(c->buf, (size_t)n, k, 3, v);
        if (f & 1)
            st->cpu_periods = v[0], SET(st, VG_CGS_CPU_PERIODS);
        if (f & 2)
            st->cpu_throttled_periods = v[1], SET(st, VG_CGS_CPU_THROTTLED);
        if (f & 4)
            st->cpu_throttled_ns = v[2], SET(st, VG_CGS_CPU_THROTTLED_TIME);
    }
    /* hybrid: the unified tree always has the basic cpu.stat */
    if (c->r->mode == VG_CG_MODE_HYBRID &&
        !(VG_CG_HAS(st, VG_CGS_CPU_USAGE) && VG_CG_HAS(st, VG_CGS_CPU_USER) && VG_CG_HAS(st, VG_CGS_CPU_SYSTEM))) {
        vg_cg_stats_t keep = *st;
        cpu_v2_stat(c, 1);
        /* v1 values win where both exist */
        if (VG_CG_HAS(&keep, VG_CGS_CPU_USAGE))
            st->cpu_usage_ns = keep.cpu_usage_ns;
        if (VG_CG_HAS(&keep, VG_CGS_CPU_USER))
            st->cpu_user_ns = keep.cpu_user_ns;
        if (VG_CG_HAS(&keep, VG_CGS_CPU_SYSTEM))
            st->cpu_system_ns = keep.cpu_system_ns;
    }
}

/* ---- memory -------------------------------------------------------------------- */

static void mem_finish(vg_cg_stats_t *st, int have_inactive, uint64_t inactive)
{
    if (have_inactive && VG_CG_HAS(st, VG_CGS_MEM_USAGE)) {
        st->mem_working_set = st->mem_usage > inactive ? st->mem_usage - inactive : 0;
        SET(st, VG_CGS_MEM_WORKING_SET);
    }
}

static void mem_v2(rctx_t *c)
{
    vg_cg_stats_t *st = c->st;
    uint64_t v[3];
    if (read_scalar(c, CG_SRC_V2, "memory.current", &st->mem_usage))
        SET(st, VG_CGS_MEM_USAGE);
    int have_inactive = 0;
    uint64_t inactive = 0;
    ssize_t n = rd(c, CG_SRC_V2, "memory.stat");
    if (n > 0) {
        static const char *const k[] = { "anon", "file", "inactive_file" };
        unsigned f = scan_kv(c->buf, (size_t)n, k, 3, v);
        if (f & 1)
            st->mem_rss = v[0], SET(st, VG_CGS_MEM_RSS);
        if (f & 2)
            st->mem_cache = v[1], SET(st, VG_CGS_MEM_CACHE);
        if (f & 4)
            have_inactive = 1, inactive = v[2];
    }
    mem_finish(st, have_inactive, inactive);
    if (read_scalar(c, CG_SRC_V2, "memory.swap.current", &st->mem_swap))
        SET(st, VG_CGS_MEM_SWAP);
    n = rd(c, CG_SRC_V2, "memory.events");
    if (n > 0) {
        static const char *const k[] = { "oom", "oom_kill", "max" };
        unsigned f = scan_kv(c->buf, (size_t)n, k, 3, v);
        if (f & 1)
            st->mem_oom = v[0], SET(st, VG_CGS_MEM_OOM);
        if (f & 2)
            st->mem_oom_kill = v[1], SET(st, VG_CGS_MEM_OOM_KILL);
        if (f & 4)
            st->mem_failcnt = v[2], SET(st, VG_CGS_MEM_FAILCNT);
    }
}

static void mem_v1(rctx_t *c)
{
    vg_cg_stats_t *st = c->st;
    uint64_t v[6];
    if (read_scalar(c, CG_SRC_MEMORY, "memory.usage_in_bytes", &st->mem_usage))
        SET(st, VG_CGS_MEM_USAGE);
    int have_inactive = 0;
    uint64_t inactive = 0;
    ssize_t n = rd(c, CG_SRC_MEMORY, "memory.stat");
    if (n > 0) {
        /* hierarchical totals first: they include sub-cgroups */
        static const char *const k[] = { "total_rss", "rss", "total_cache", "cache",
                                         "total_inactive_file", "inactive_file" };
        unsigned f = scan_kv(c->buf, (size_t)n, k, 6, v);
        if (f & 3) {
            st->mem_rss = (f & 1) ? v[0] : v[1];
            SET(st, VG_CGS_MEM_RSS);
        }
        if (f & 12) {
            st->mem_cache = (f & 4) ? v[2] : v[3];
            SET(st, VG_CGS_MEM_CACHE);
        }
        if (f & 48) {
            have_inactive = 1;
            inactive = (f & 16) ? v[4] : v[5];
        }
    }
    mem_finish(st, have_inactive, inactive);
    uint64_t memsw;
    if (VG_CG_HAS(st, VG_CGS_MEM_USAGE) && read_scalar(c, CG_SRC_MEMORY, "memory.memsw.usage_in_bytes", &memsw)) {
        st->mem_swap = memsw > st->mem_usage ? memsw - st->mem_usage : 0;
        SET(st, VG_CGS_MEM_SWAP);
    }
    n = rd(c, CG_SRC_MEMORY, "memory.oom_control");
    if (n > 0) {
        static const char *const k[] = { "oom_kill" };
        if (scan_kv(c->buf, (size_t)n, k, 1, v) & 1)
            st->mem_oom_kill = v[0], SET(st, VG_CGS_MEM_OOM_KILL);
    }
    if (read_scalar(c, CG_SRC_MEMORY, "memory.failcnt", &st->mem_failcnt))
        SET(st, VG_CGS_MEM_FAILCNT);
}

/* ---- block IO ------------------------------------------------------------------ */

static vg_cg_io_dev_t *io_dev(vg_cg_stats_t *st, uint64_t maj, uint64_t min, int count_drop)
{
    for (uint32_t i = 0; i < st->io_ndev; i++)
        if (st->io[i].major == maj && st->io[i].minor == min)
            return &st->io[i];
    if (st->io_ndev == VG_CG_IO_MAX_DEV) {
        if (count_drop)
            st->io_dropped++;
        return NULL;
    }
    vg_cg_io_dev_t *d = &st->io[st->io_ndev++];
    memset(d, 0, sizeof *d);
    d->major = (uint32_t)maj;
    d->minor = (uint32_t)min;
    return d;
}

static int parse_devno(const char **pp, const char *e, uint64_t *maj, uint64_t *min)
{
    const char *p = *pp;
    if (!parse_u64(&p, e, maj) || p >= e || *p != ':')
        return 0;
    p++;
    if (!parse_u64(&p, e, min))
        return 0;
    *pp = p;
    return 1;
}

/* "8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0" */
static void io_v2(rctx_t *c)
{
    vg_cg_stats_t *st = c->st;
    ssize_t n = rd(c, CG_SRC_V2, "io.stat");
    if (n < 0)
        return;
    const char *p = c->buf, *e = c->buf + n;
    while (p < e) {
        const char *eol = memchr(p, '\n', (size_t)(e - p));
        if (!eol)
            eol = e;
        uint64_t maj, min;
        if (parse_devno(&p, eol, &maj, &min)) {
            vg_cg_io_dev_t *d = io_dev(st, maj, min, 1);
            while (d && p < eol) {
                p = skip_sp(p, eol);
                const char *k = p;
                while (p < eol && *p != '=' && *p != ' ')
                    p++;
                size_t kl = (size_t)(p - k);
                uint64_t v = 0;
                if (p < eol && *p == '=') {
                    p++;
                    if (!parse_u64(&p, eol, &v))
                        v = 0;
                }
                while (p < eol && *p != ' ')
                    p++;
                if (kl == 6 && memcmp(k, "rbytes", 6) == 0)
                    d->rbytes = v;
                else if (kl == 6 && memcmp(k, "wbytes", 6) == 0)
                    d->wbytes = v;
                else if (kl == 4 && memcmp(k, "rios", 4) == 0)
                    d->rios = v;
                else if (kl == 4 && memcmp(k, "wios", 4) == 0)
                    d->wios = v;
            }
        }
        p = eol + 1;
    }
    SET(st, VG_CGS_IO_BYTES);
    SET(st, VG_CGS_IO_OPS);
}

/* "8:0 Read 4096" / "8:0 Write 0" / ... / "Total 4096"; ops selects the
 * io_serviced fields. Returns 1 if the file was there. */
static int io_v1_file(rctx_t *c, const char *name, const char *fallback, int ops)
{
    vg_cg_stats_t *st = c->st;
    if (src_dir(c, CG_SRC_BLKIO) < 0)
        return 0; /* a missing directory still counts towards the liveness check */
    int had_enoent = c->saw_enoent;
    ssize_t n = rd(c, CG_SRC_BLKIO, name);
    if (n < 0 && !c->vanished && fallback) {
        c->saw_enoent = had_enoent; /* the _recursive files are newer: not a vanish sign */
        n = rd(c, CG_SRC_BLKIO, fallback);
    }
    if (n < 0)
        return 0;
    const char *p = c->buf, *e = c->buf + n;
    while (p < e) {
        const char *eol = memchr(p, '\n', (size_t)(e - p));
        if (!eol)
            eol = e;
        uint64_t maj, min, v;
        if (parse_devno(&p, eol, &maj, &min)) {
            p = skip_sp(p, eol);
            const char *k = p;
            while (p < eol && *p != ' ')
                p++;
            size_t kl = (size_t)(p - k);
            p = skip_sp(p, eol);
            int rd_ = kl == 4 && memcmp(k, "Read", 4) == 0;
            int wr_ = kl == 5 && memcmp(k, "Write", 5) == 0;
            if ((rd_ || wr_) && parse_u64(&p, eol, &v)) {
                vg_cg_io_dev_t *d = io_dev(st, maj, min, !ops);
                if (d) {
                    if (ops)
                        *(rd_ ? &d->rios : &d->wios) = v;
                    else
                        *(rd_ ? &d->rbytes : &d->wbytes) = v;
                }
            }
        }
        p = eol + 1;
    }
    return 1;
}

static void io_v1(rctx_t *c)
{
    if (io_v1_file(c, "blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_service_bytes", 0))
        SET(c->st, VG_CGS_IO_BYTES);
    if (io_v1_file(c, "blkio.throttle.io_serviced_recursive", "blkio.throttle.io_serviced", 1))
        SET(c->st, VG_CGS_IO_OPS);
}

/* ---- pids, PSI ----------------------------------------------------------------- */

static void pids(rctx_t *c, int s)
{
    vg_cg_stats_t *st = c->st;
    if (read_scalar(c, s, "pids.current", &st->pids_current))
        SET(st, VG_CGS_PIDS_CURRENT);
}

/* "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" and the same for "full" */
static void psi_file(rctx_t *c, const char *name, int res)
{
    vg_cg_stats_t *st = c->st;
    ssize_t n = rd(c, CG_SRC_V2, name);
    if (n <= 0)
        return;
    const char *p = c->buf, *e = c->buf + n;
    while (p < e) {
        const char *eol = memchr(p, '\n', (size_t)(e - p));
        if (!eol)
            eol = e;
        int kind = -1;
        if (eol - p > 5 && memcmp(p, "some ", 5) == 0)
            kind = VG_CG_PSI_SOME;
        else if (eol - p > 5 && memcmp(p, "full ", 5) == 0)
            kind = VG_CG_PSI_FULL;
        if (kind >= 0) {
            vg_cg_psi_t v = { 0 };
            int have = 0;
            p += 5;
            while (p < eol) {
                p = skip_sp(p, eol);
                if (eol - p > 6 && memcmp(p, "avg10=", 6) == 0) {
                    p += 6;
                    have |= parse_dec(&p, eol, &v.avg10);
                } else if (eol - p > 6 && memcmp(p, "total=", 6) == 0) {
                    p += 6;
                    have |= parse_u64(&p, eol, &v.total_us) << 1;
                }
                while (p < eol && *p != ' ')
                    p++;
            }
            if (have == 3) {
                st->psi[res][kind] = v;
                SET(st, VG_CG_PSI_BIT(res, kind));
            }
        }
        p = eol + 1;
    }
}

static void psi(rctx_t *c)
{
    psi_file(c, "cpu.pressure", VG_CG_PSI_CPU);
    psi_file(c, "memory.pressure", VG_CG_PSI_MEM);
    psi_file(c, "io.pressure", VG_CG_PSI_IO);
}

/* ---- entry point ------------------------------------------------------------------ */

int vg_cg_read(vg_cg_root_t *r, const char *path, unsigned what, vg_cg_stats_t *out)
{
    if (!out)
        return VG_EINVAL;
    memset(out, 0, sizeof *out);
    if (!r || !path || r->index < 0)
        return VG_EINVAL;
    while (*path == '/')
        path++;
    if (strlen(path) >= VG_CG_PATH_MAX)
        return VG_EINVAL;
    rctx_t c;
    c.r = r;
    c.st = out;
    c.rel = *path ? path : ".";
    c.saw_enoent = c.vanished = 0;
    for (int s = 0; s < CG_SRC_COUNT; s++)
        c.dfd[s] = DIR_UNTRIED;

    int rc = 0;
    int idx = src_dir(&c, r->index);
    struct stat sb;
    if (idx < 0) {
        rc = out->read_errors ? VG_EIO : VG_ENOTFOUND;
        goto done;
    }
    if (fstat(idx, &sb) == 0)
        out->cg_id = (uint64_t)sb.st_ino;

    int v2 = r->mode == VG_CG_MODE_V2;
    if (what & VG_CG_READ_CPU)
        v2 ? cpu_v2_stat(&c, 0) : cpu_v1(&c);
    if (what & VG_CG_READ_MEM)
        v2 ? mem_v2(&c) : mem_v1(&c);
    if (what & VG_CG_READ_IO)
        v2 ? io_v2(&c) : io_v1(&c);
    if (what & VG_CG_READ_PIDS)
        pids(&c, v2 ? CG_SRC_V2 : CG_SRC_PIDS);
    if (what & VG_CG_READ_LIMITS)
        v2 ? limits_v2(&c) : limits_v1(&c);
    if ((what & VG_CG_READ_PSI) && r->fd[CG_SRC_V2] >= 0)
        psi(&c);

    if (!c.vanished && c.saw_enoent) {
        /* a file or controller directory was missing: normal, unless the
         * cgroup itself is gone */
        if (faccessat(idx, "cgroup.procs", F_OK, 0) != 0 && (errno == ENOENT || errno == ENODEV))
            c.vanished = 1;
    }
    if (c.vanished)
        rc = VG_ENOTFOUND;
done:
    for (int s = 0; s < CG_SRC_COUNT; s++)
        if (c.dfd[s] >= 0)
            close(c.dfd[s]);
    if (rc < 0) {
        VG_DEBUG(LOGC, "cgroup %s: %s", path, rc == VG_ENOTFOUND ? "vanished or absent" : "cannot open");
        memset(out, 0, sizeof *out);
    }
    return rc;
}
