/* Scrape cost of collector/cgroup: discovery walk + vg_cg_read(ALL) of every
 * container, repeated; prints CPU milliseconds per scrape (getrusage) and
 * peak RSS. Built and run by tests/bench/cgroup_scrape.sh.
 *
 *   bench_cgroup_scrape gen <dir> <containers>        write a v2 systemd-driver fixture
 *   bench_cgroup_scrape live <name> <containers>      create real cgroups (root) under
 *                                                     /sys/fs/cgroup/.../<name>/kubepods.slice
 *   bench_cgroup_scrape unlive <name> <containers>    remove them
 *   bench_cgroup_scrape scrape <root> [iterations] [include-glob] [what-mask]
 */
#include "cgroup/cgroup.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void put(const char *dir, const char *name, const char *text)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        perror(p);
        exit(1);
    }
    close(fd);
}

static void mk(const char *p)
{
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
        perror(p);
        exit(1);
    }
}

static void pod_names(int i, char *uid, size_t un, char *id, size_t idn)
{
    snprintf(uid, un, "%08x_%04x_4%03x_8%03x_%012x", 0x1000000u + (unsigned)i, (unsigned)i & 0xffff,
             (unsigned)i & 0xfff, (unsigned)(i * 7) & 0xfff, (unsigned)i * 2654435761u);
    for (size_t k = 0; k + 1 < idn && k < 64; k++)
        id[k] = "0123456789abcdef"[((unsigned)i * 31u + (unsigned)k * 17u + (unsigned)(i >> (k % 8))) & 15];
    id[idn < 65 ? idn - 1 : 64] = '\0';
}

static const char memstat_fmt[] =
    "anon %llu\nfile %llu\nkernel 5242880\nkernel_stack 491520\npagetables 1310720\nsec_pagetables 0\n"
    "percpu 0\nsock 0\nvmalloc 0\nshmem 0\nzswap 0\nzswapped 0\nfile_mapped 8388608\nfile_dirty 4096\n"
    "file_writeback 0\nswapcached 0\nanon_thp 0\nfile_thp 0\nshmem_thp 0\ninactive_anon %llu\n"
    "active_anon 3145728\ninactive_file %llu\nactive_file 10485760\nunevictable 0\nslab_reclaimable 2097152\n"
    "slab_unreclaimable 1048576\nslab 3145728\nworkingset_refault_anon 0\nworkingset_refault_file 12\n"
    "workingset_activate_anon 0\nworkingset_activate_file 3\nworkingset_restore_anon 0\n"
    "workingset_restore_file 0\nworkingset_nodereclaim 0\npgscan 0\npgsteal 0\npgscan_kswapd 0\n"
    "pgscan_direct 0\npgsteal_kswapd 0\npgsteal_direct 0\npgfault 123456\npgmajfault 12\npgrefill 0\n"
    "pgactivate 5\npgdeactivate 0\npglazyfree 0\npglazyfreed 0\nthp_fault_alloc 0\nthp_collapse_alloc 0\n";

static void gen_container(const char *d, int i)
{
    char b[4096];
    unsigned long long base = 1000000ull * (unsigned)(i + 1);
    mk(d);
    put(d, "cgroup.procs", "4211\n");
    put(d, "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    put(d, "cgroup.events", "populated 1\nfrozen 0\n");
    snprintf(b, sizeof b,
             "usage_usec %llu\nuser_usec %llu\nsystem_usec %llu\ncore_sched.force_idle_usec 0\n"
             "nr_periods 1520\nnr_throttled 37\nthrottled_usec 912345\nnr_bursts 0\nburst_usec 0\n",
             base * 3, base * 2, base);
    put(d, "cpu.stat", b);
    put(d, "cpu.max", i % 3 ? "max 100000\n" : "50000 100000\n");
    put(d, "cpu.weight", "100\n");
    snprintf(b, sizeof b, "%llu\n", base * 200);
    put(d, "memory.current", b);
    snprintf(b, sizeof b, memstat_fmt, base * 150, base * 40, base * 140, base * 30);
    put(d, "memory.stat", b);
    put(d, "memory.swap.current", "0\n");
    put(d, "memory.max", i % 2 ? "max\n" : "268435456\n");
    put(d, "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n");
    put(d, "io.stat", "8:0 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n"
                      "253:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n");
    put(d, "pids.current", "7\n");
    put(d, "pids.max", "max\n");
    const char *psi = "some avg10=0.12 avg60=0.05 avg300=0.01 total=123456\n"
                      "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
    put(d, "cpu.pressure", psi);
    put(d, "memory.pressure", psi);
    put(d, "io.pressure", psi);
}

static int gen(const char *root, int n)
{
    char p[1024], q[2048];
    mk(root);
    put(root, "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    put(root, "cgroup.procs", "1\n");
    snprintf(p, sizeof p, "%s/system.slice", root);
    mk(p);
    put(p, "cgroup.procs", "");
    for (int s = 0; s < 40; s++) {
        snprintf(q, sizeof q, "%s/system.slice/svc%02d.service", root, s);
        mk(q);
        put(q, "cgroup.procs", "100\n");
        put(q, "memory.current", "4096\n");
    }
    snprintf(p, sizeof p, "%s/kubepods.slice", root);
    mk(p);
    put(p, "cgroup.procs", "");
    snprintf(p, sizeof p, "%s/kubepods.slice/kubepods-burstable.slice", root);
    mk(p);
    put(p, "cgroup.procs", "");
    for (int i = 0; i < n; i += 2) { /* two containers per pod */
        char uid[64], id[65];
        pod_names(i, uid, sizeof uid, id, sizeof id);
        snprintf(p, sizeof p, "%s/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice",
                 root, uid);
        mk(p);
        put(p, "cgroup.procs", "");
        put(p, "memory.current", "1\n");
        for (int k = i; k < i + 2 && k < n; k++) {
            pod_names(k, uid, sizeof uid, id, sizeof id);
            snprintf(q, sizeof q, "%s/cri-containerd-%s.scope", p, id);
            gen_container(q, k);
        }
    }
    return 0;
}

/* Real cgroups: v2 root, or every v1 controller plus unified (hybrid). */
static int live(const char *name, int n, int remove)
{
    vg_cg_mode_t mode;
    if (vg_cg_detect_mode(NULL, &mode) != 0)
        return fprintf(stderr, "no cgroup fs\n"), 1;
    const char *v1[] = { "memory", "cpu", "cpuacct", "pids", "blkio", "unified" };
    const char *v2[] = { "." };
    const char **h = mode == VG_CG_MODE_V2 ? v2 : v1;
    size_t nh = mode == VG_CG_MODE_V2 ? 1 : (mode == VG_CG_MODE_HYBRID ? 6 : 5);
    for (size_t k = 0; k < nh; k++) {
        char base[512], p[1024];
        snprintf(base, sizeof base, "/sys/fs/cgroup/%s/%s", h[k], name);
        if (remove) {
            for (int i = 0; i < n; i++) {
                char uid[64], id[65], unused[65];
                pod_names(i - i % 2, uid, sizeof uid, unused, sizeof unused);
                pod_names(i, unused, sizeof unused, id, sizeof id);
                snprintf(p, sizeof p, "%s/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice"
                         "/cri-containerd-%s.scope", base, uid, id);
                rmdir(p);
                if (i % 2 == 1 || i == n - 1) {
                    *strrchr(p, '/') = '\0';
                    rmdir(p);
                }
            }
            snprintf(p, sizeof p, "%s/kubepods.slice/kubepods-burstable.slice", base);
            rmdir(p);
            snprintf(p, sizeof p, "%s/kubepods.slice", base);
            rmdir(p);
            rmdir(base);
            continue;
        }
        mk(base);
        snprintf(p, sizeof p, "%s/kubepods.slice", base);
        mk(p);
        snprintf(p, sizeof p, "%s/kubepods.slice/kubepods-burstable.slice", base);
        mk(p);
        for (int i = 0; i < n; i++) {
            char uid[64], id[65], pod[2048];
            pod_names(i - i % 2, uid, sizeof uid, id, sizeof id);
            snprintf(pod, sizeof pod, "%s/kubepods-burstable-pod%s.slice", p, uid);
            mk(pod);
            pod_names(i, uid, sizeof uid, id, sizeof id);
            char c[2200];
            snprintf(c, sizeof c, "%s/cri-containerd-%s.scope", pod, id);
            mk(c);
        }
    }
    return 0;
}

typedef struct {
    vg_cg_root_t *r;
    unsigned what;
    size_t read, vanished, values;
} scrape_t;

static int on_container(void *ud, const char *path, const vg_cg_ident_t *id)
{
    (void)id;
    scrape_t *s = ud;
    vg_cg_stats_t st;
    int rc = vg_cg_read(s->r, path, s->what, &st);
    if (rc == 0) {
        s->read++;
        s->values += (size_t)__builtin_popcountll(st.present);
    } else {
        s->vanished++;
    }
    return 0;
}

static double tv(struct timeval t) { return (double)t.tv_sec * 1e3 + (double)t.tv_usec / 1e3; }

static int scrape(const char *root, int iters, const char *include, unsigned what)
{
    vg_cg_root_t *r = NULL;
    int rc = vg_cg_root_open(root, &r);
    if (rc != 0)
        return fprintf(stderr, "open %s: %s\n", root, vg_strerror(rc)), 1;
    const char *inc[] = { include };
    vg_cg_walk_opts_t o = { .include = inc, .n_include = include ? 1 : 0 };
    scrape_t s = { .r = r, .what = what };
    vg_cg_walk(r, &o, on_container, &s, NULL); /* warm-up (dentry cache) */
    struct rusage a, b;
    struct timespec w0, w1;
    getrusage(RUSAGE_SELF, &a);
    clock_gettime(CLOCK_MONOTONIC, &w0);
    size_t containers = 0;
    for (int i = 0; i < iters; i++) {
        s.read = s.vanished = s.values = 0;
        vg_cg_walk_result_t res;
        rc = vg_cg_walk(r, &o, on_container, &s, &res);
        if (rc != 0)
            return fprintf(stderr, "walk: %s\n", vg_strerror(rc)), 1;
        containers = res.reported;
    }
    clock_gettime(CLOCK_MONOTONIC, &w1);
    getrusage(RUSAGE_SELF, &b);
    double user = tv(b.ru_utime) - tv(a.ru_utime), sys = tv(b.ru_stime) - tv(a.ru_stime);
    double wall = (double)(w1.tv_sec - w0.tv_sec) * 1e3 + (double)(w1.tv_nsec - w0.tv_nsec) / 1e6;
    printf("root=%s mode=%s containers=%zu read=%zu vanished=%zu values/scrape=%zu iterations=%d\n", root,
           vg_cg_mode_name(vg_cg_root_mode(r)), containers, s.read, s.vanished, s.values, iters);
    printf("cpu_ms_per_scrape=%.2f (user %.2f + sys %.2f)  wall_ms_per_scrape=%.2f  peak_rss_kib=%ld\n",
           (user + sys) / iters, user / iters, sys / iters, wall / iters, b.ru_maxrss);
    vg_cg_root_close(r);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "gen") == 0)
        return gen(argv[2], atoi(argv[3]));
    if (argc >= 4 && strcmp(argv[1], "live") == 0)
        return live(argv[2], atoi(argv[3]), 0);
    if (argc >= 4 && strcmp(argv[1], "unlive") == 0)
        return live(argv[2], atoi(argv[3]), 1);
    if (argc >= 3 && strcmp(argv[1], "scrape") == 0)
        return scrape(argv[2], argc >= 4 ? atoi(argv[3]) : 50, argc >= 5 && *argv[4] ? argv[4] : NULL,
                      argc >= 6 ? (unsigned)strtoul(argv[5], NULL, 0) : VG_CG_READ_ALL);
    fprintf(stderr, "usage: %s gen <dir> <n> | live <name> <n> | unlive <name> <n> | scrape <root> [iters] [include]\n",
            argv[0]);
    return 2;
}
