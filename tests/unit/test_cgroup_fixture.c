/* cgroup mode detection, discovery and stats against recorded fixture trees
 * (tests/fixtures/cgroup/<name>/, file formats from the kernel documentation:
 * admin-guide/cgroup-v2.rst, cgroup-v1/memory.rst, cgroup-v1/blkio-controller.rst,
 * accounting/psi.rst). Also the cumulative-counter helper. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "error.h"
#include "mem.h"

#define FX "../fixtures/cgroup/"

#define A "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define B "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"
#define C "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3"
#define D "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4"
#define E "e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5"
#define F "f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6"
#define J "3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a"
#define K "4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b"
#define L "5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c"
#define M "6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d"
#define U1 "11111111-2222-4333-8444-555555555555"
#define U2 "66666666-7777-4888-9999-aaaaaaaaaaaa"
#define U3 "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff"
#define U1S "11111111_2222_4333_8444_555555555555"
#define U2S "66666666_7777_4888_9999_aaaaaaaaaaaa"
#define U3S "bbbbbbbb_cccc_4ddd_8eee_ffffffffffff"

#define V2_A "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" U1S ".slice/cri-containerd-" A ".scope"
#define V2_E "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" U1S ".slice/cri-containerd-" E ".scope"
#define V2_B "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" U2S ".slice/crio-" B ".scope"
#define V2_C "/kubepods.slice/kubepods-pod" U3S ".slice/docker-" C ".scope"
#define V2_D "/system.slice/docker-" D ".scope"
#define V2_F "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" F ".scope"

#define BIT(b) ((uint64_t)1 << (b))
#define ALL_BITS ((BIT(VG_CGS_COUNT)) - 1)
#define PSI_ALL (BIT(VG_CG_PSI_BIT(0, 0)) | BIT(VG_CG_PSI_BIT(0, 1)) | BIT(VG_CG_PSI_BIT(1, 0)) | \
                 BIT(VG_CG_PSI_BIT(1, 1)) | BIT(VG_CG_PSI_BIT(2, 0)) | BIT(VG_CG_PSI_BIT(2, 1)))

static vg_cg_root_t *open_fx(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, FX "%s", name);
    vg_cg_root_t *r = NULL;
    assert_int_equal(vg_cg_root_open(path, &r), 0);
    assert_non_null(r);
    return r;
}

/* ---- mode ------------------------------------------------------------------- */

static void test_detect_mode(void **state)
{
    (void)state;
    vg_cg_mode_t m;
    assert_int_equal(vg_cg_detect_mode(FX "v2-systemd", &m), 0);
    assert_int_equal(m, VG_CG_MODE_V2);
    assert_int_equal(vg_cg_detect_mode(FX "v1-cgroupfs", &m), 0);
    assert_int_equal(m, VG_CG_MODE_V1);
    assert_int_equal(vg_cg_detect_mode(FX "hybrid", &m), 0);
    assert_int_equal(m, VG_CG_MODE_HYBRID);
    assert_int_equal(vg_cg_detect_mode(FX "proc", &m), VG_ENOTFOUND);
    assert_int_equal(m, VG_CG_MODE_NONE);
    assert_int_equal(vg_cg_detect_mode(FX "does-not-exist", &m), VG_ENOTFOUND);
    assert_string_equal(vg_cg_mode_name(VG_CG_MODE_HYBRID), "hybrid");

    vg_cg_root_t *r = NULL;
    assert_int_equal(vg_cg_root_open(FX "proc", &r), VG_ENOTFOUND);
    assert_null(r);
    r = open_fx("v1-cgroupfs");
    assert_int_equal(vg_cg_root_mode(r), VG_CG_MODE_V1);
    assert_string_equal(vg_cg_root_index_dir(r), FX "v1-cgroupfs/memory");
    vg_cg_root_close(r);
    r = open_fx("v2-systemd");
    assert_string_equal(vg_cg_root_index_dir(r), FX "v2-systemd");
    vg_cg_root_close(r);
    vg_cg_root_close(NULL);
}

static void test_open_nomem(void **state)
{
    (void)state;
    /* every allocation failing in turn gives VG_ENOMEM, never a crash or leak */
    for (long n = 1; n < 10; n++) {
        vg_cg_root_t *r = NULL;
        vg_mem_fail_after(n);
        int rc = vg_cg_root_open(FX "hybrid", &r);
        vg_mem_fail_reset();
        if (rc == 0) {
            vg_cg_root_close(r);
            break;
        }
        assert_int_equal(rc, VG_ENOMEM);
        assert_null(r);
    }
}

/* ---- walk ------------------------------------------------------------------- */

typedef struct {
    size_t n;
    char path[32][300];
    vg_cg_ident_t id[32];
    int stop_with;
} seen_t;

static int collect(void *ud, const char *path, const vg_cg_ident_t *id)
{
    seen_t *s = ud;
    assert_true(s->n < 32);
    snprintf(s->path[s->n], sizeof s->path[0], "%s", path);
    s->id[s->n] = *id;
    s->n++;
    return s->stop_with;
}

static int cmp_str(const void *a, const void *b) { return strcmp(a, b); }

static void sort_seen(seen_t *s)
{
    /* sort paths only (the idents are checked by lookup) */
    qsort(s->path, s->n, sizeof s->path[0], cmp_str);
}

static const vg_cg_ident_t *find(const seen_t *s, const char *path)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->path[i], path) == 0)
            return &s->id[i];
    return NULL;
}

static void test_walk_v2(void **state)
{
    (void)state;
    vg_cg_root_t *r = open_fx("v2-systemd");
    seen_t *s = calloc(1, sizeof *s);
    vg_cg_walk_result_t res;
    assert_int_equal(vg_cg_walk(r, NULL, collect, s, &res), 0);
    assert_int_equal(res.reported, 6);
    assert_false(res.count_capped);
    const vg_cg_ident_t *id = find(s, V2_A);
    assert_non_null(id);
    assert_int_equal(id->runtime, VG_CG_RT_CONTAINERD);
    assert_int_equal(id->qos, VG_CG_QOS_BURSTABLE);
    assert_string_equal(id->pod_uid, U1);
    assert_non_null(id = find(s, V2_B));
    assert_int_equal(id->runtime, VG_CG_RT_CRIO);
    assert_int_equal(id->qos, VG_CG_QOS_BESTEFFORT);
    assert_string_equal(id->pod_uid, U2);
    assert_non_null(id = find(s, V2_C));
    assert_int_equal(id->runtime, VG_CG_RT_DOCKER);
    assert_int_equal(id->qos, VG_CG_QOS_GUARANTEED);
    assert_string_equal(id->pod_uid, U3);
    assert_non_null(id = find(s, V2_D));
    assert_int_equal(id->runtime, VG_CG_RT_DOCKER);
    assert_string_equal(id->pod_uid, "");
    assert_non_null(find(s, V2_E));
    assert_non_null(id = find(s, V2_F));
    assert_int_equal(id->runtime, VG_CG_RT_PODMAN);
    assert_true(id->flags & VG_CG_F_ROOTLESS);
    sort_seen(s);
    assert_string_equal(s->path[0], V2_B); /* kubepods-besteffort < kubepods-burstable */
    assert_string_equal(s->path[5], V2_F);

    /* with services */
    memset(s, 0, sizeof *s);
    vg_cg_walk_opts_t o = { .include_services = true };
    assert_int_equal(vg_cg_walk(r, &o, collect, s, &res), 0);
    assert_int_equal(res.reported, 9);
    assert_non_null(id = find(s, "/system.slice/sshd.service"));
    assert_int_equal(id->kind, VG_CG_KIND_SERVICE);
    assert_non_null(find(s, "/system.slice/containerd.service"));
    assert_non_null(find(s, "/user.slice/user-1000.slice/user@1000.service"));

    /* include / exclude globs */
    const char *inc[] = { "/kubepods.slice/*" };
    const char *exc[] = { "*/crio-*", "*/cri-containerd-" E ".scope" };
    memset(s, 0, sizeof *s);
    o = (vg_cg_walk_opts_t){ .include = inc, .n_include = 1 };
    assert_int_equal(vg_cg_walk(r, &o, collect, s, &res), 0);
    assert_int_equal(res.reported, 4);
    memset(s, 0, sizeof *s);
    o = (vg_cg_walk_opts_t){ .include = inc, .n_include = 1, .exclude = exc, .n_exclude = 2 };
    assert_int_equal(vg_cg_walk(r, &o, collect, s, &res), 0);
    assert_int_equal(res.reported, 2);
    sort_seen(s);
    assert_string_equal(s->path[0], V2_A);
    assert_string_equal(s->path[1], V2_C);

    /* caps */
    memset(s, 0, sizeof *s);
    o = (vg_cg_walk_opts_t){ .max_count = 2 };
    assert_int_equal(vg_cg_walk(r, &o, collect, s, &res), 0);
    assert_int_equal(res.reported, 2);
    assert_int_equal(s->n, 2);
    assert_true(res.count_capped);
    memset(s, 0, sizeof *s);
    o = (vg_cg_walk_opts_t){ .max_depth = 2 };
    assert_int_equal(vg_cg_walk(r, &o, collect, s, &res), 0);
    assert_int_equal(res.reported, 1);
    assert_string_equal(s->path[0], V2_D);
    assert_true(res.depth_capped);

    /* the walk's one allocation failing */
    memset(s, 0, sizeof *s);
    vg_mem_fail_after(1);
    assert_int_equal(vg_cg_walk(r, NULL, collect, s, &res), VG_ENOMEM);
    vg_mem_fail_reset();
    assert_int_equal(s->n, 0);

    /* the callback stops the walk */
    memset(s, 0, sizeof *s);
    s->stop_with = 7;
    assert_int_equal(vg_cg_walk(r, NULL, collect, s, NULL), 7);
    assert_int_equal(s->n, 1);
    free(s);
    vg_cg_root_close(r);
}

static void test_walk_v1_hybrid(void **state)
{
    (void)state;
    seen_t *s = calloc(1, sizeof *s);
    vg_cg_root_t *r = open_fx("v1-cgroupfs");
    vg_cg_walk_result_t res;
    assert_int_equal(vg_cg_walk(r, NULL, collect, s, &res), 0);
    assert_int_equal(res.reported, 3);
    sort_seen(s);
    assert_string_equal(s->path[0], "/docker/" C);
    assert_string_equal(s->path[1], "/kubepods/burstable/pod" U1 "/" A); /* its "sub" is not entered */
    assert_string_equal(s->path[2], "/kubepods/pod" U2 "/" B);
    vg_cg_root_close(r);

    memset(s, 0, sizeof *s);
    r = open_fx("hybrid");
    assert_int_equal(vg_cg_walk(r, NULL, collect, s, &res), 0);
    assert_int_equal(res.reported, 2);
    sort_seen(s);
    assert_string_equal(s->path[0], "/kubepods/besteffort/pod" U3 "/" J);
    assert_string_equal(s->path[1], V2_D);
    vg_cg_root_close(r);
    free(s);
}

/* ---- v2 stats ------------------------------------------------------------------ */

static void assert_psi(const vg_cg_stats_t *st, int res, int kind, double avg10, uint64_t total)
{
    assert_true(VG_CG_HAS(st, VG_CG_PSI_BIT(res, kind)));
    assert_true(fabs(st->psi[res][kind].avg10 - avg10) < 1e-9);
    assert_int_equal(st->psi[res][kind].total_us, total);
}

static void test_read_v2_containerd(void **state)
{
    (void)state;
    vg_cg_root_t *r = open_fx("v2-systemd");
    vg_cg_stats_t st;
    assert_int_equal(vg_cg_read(r, V2_A, VG_CG_READ_ALL, &st), 0);
    assert_int_equal(st.present, ALL_BITS); /* every value present, v2 has them all */
    assert_int_equal(st.read_errors, 0);
    assert_true(st.cg_id != 0);
    assert_int_equal(st.cpu_usage_ns, 8451234000ull);
    assert_int_equal(st.cpu_user_ns, 6120000000ull);
    assert_int_equal(st.cpu_system_ns, 2331234000ull);
    assert_int_equal(st.cpu_periods, 1520);
    assert_int_equal(st.cpu_throttled_periods, 37);
    assert_int_equal(st.cpu_throttled_ns, 912345000ull);
    assert_int_equal(st.cpu_quota_us, 50000);
    assert_int_equal(st.cpu_period_us, 100000);
    assert_int_equal(st.mem_usage, 209715200);
    assert_int_equal(st.mem_working_set, 209715200 - 31457280);
    assert_int_equal(st.mem_rss, 157286400); /* "anon", not "anon_thp" */
    assert_int_equal(st.mem_cache, 41943040); /* "file", not "file_mapped" */
    assert_int_equal(st.mem_swap, 1048576);
    assert_int_equal(st.mem_limit, 268435456);
    assert_int_equal(st.mem_oom, 2);
    assert_int_equal(st.mem_oom_kill, 1);
    assert_int_equal(st.mem_failcnt, 14);
    assert_int_equal(st.io_ndev, 2);
    assert_int_equal(st.io_dropped, 0);
    assert_int_equal(st.io[0].major, 8);
    assert_int_equal(st.io[0].minor, 0);
    assert_int_equal(st.io[0].rbytes, 1459200);
    assert_int_equal(st.io[0].wbytes, 314773504);
    assert_int_equal(st.io[0].rios, 192);
    assert_int_equal(st.io[0].wios, 353);
    assert_int_equal(st.io[1].major, 253);
    assert_int_equal(st.io[1].minor, 0);
    assert_int_equal(st.io[1].rbytes, 4096);
    assert_int_equal(st.io[1].rios, 1);
    assert_int_equal(st.pids_current, 7);
    assert_int_equal(st.pids_limit, 1024);
    assert_psi(&st, VG_CG_PSI_CPU, VG_CG_PSI_SOME, 1.53, 5123456);
    assert_psi(&st, VG_CG_PSI_CPU, VG_CG_PSI_FULL, 0.0, 0);
    assert_psi(&st, VG_CG_PSI_MEM, VG_CG_PSI_SOME, 0.0, 34567);
    assert_psi(&st, VG_CG_PSI_MEM, VG_CG_PSI_FULL, 0.0, 12345);
    assert_psi(&st, VG_CG_PSI_IO, VG_CG_PSI_SOME, 12.5, 987654321);
    assert_psi(&st, VG_CG_PSI_IO, VG_CG_PSI_FULL, 10.25, 876543210);

    /* only what was asked for */
    assert_int_equal(vg_cg_read(r, V2_A, VG_CG_READ_MEM | VG_CG_READ_PIDS, &st), 0);
    assert_int_equal(st.present, BIT(VG_CGS_MEM_USAGE) | BIT(VG_CGS_MEM_WORKING_SET) | BIT(VG_CGS_MEM_RSS) |
                                     BIT(VG_CGS_MEM_CACHE) | BIT(VG_CGS_MEM_SWAP) | BIT(VG_CGS_MEM_OOM) |
                                     BIT(VG_CGS_MEM_OOM_KILL) | BIT(VG_CGS_MEM_FAILCNT) |
                                     BIT(VG_CGS_PIDS_CURRENT));
    assert_int_equal(vg_cg_read(r, V2_A, VG_CG_READ_LIMITS, &st), 0);
    assert_int_equal(st.present, BIT(VG_CGS_CPU_LIMIT) | BIT(VG_CGS_MEM_LIMIT) | BIT(VG_CGS_PIDS_LIMIT));
    assert_int_equal(st.mem_limit, 268435456);
    assert_int_equal(vg_cg_read(r, V2_A, VG_CG_READ_PSI, &st), 0);
    assert_int_equal(st.present, PSI_ALL);
    vg_cg_root_close(r);
}

static void test_read_v2_crio_docker_podman(void **state)
{
    (void)state;
    vg_cg_root_t *r = open_fx("v2-systemd");
    vg_cg_stats_t st;
    /* CRI-O, unlimited, nothing read or written yet */
    assert_int_equal(vg_cg_read(r, V2_B, VG_CG_READ_ALL, &st), 0);
    assert_int_equal(st.present, ALL_BITS);
    assert_int_equal(st.cpu_usage_ns, 120000000000ull);
    assert_int_equal(st.cpu_quota_us, VG_CG_UNLIMITED);
    assert_int_equal(st.cpu_period_us, 100000);
    assert_int_equal(st.mem_usage, 73400320);
    assert_int_equal(st.mem_working_set, 0); /* inactive_file above usage: clamped */
    assert_int_equal(st.mem_limit, VG_CG_UNLIMITED);
    assert_int_equal(st.pids_limit, VG_CG_UNLIMITED);
    assert_int_equal(st.pids_current, 3);
    assert_int_equal(st.io_ndev, 0);
    assert_psi(&st, VG_CG_PSI_CPU, VG_CG_PSI_SOME, 0.1, 1000);

    /* Docker under the systemd driver, Guaranteed */
    assert_int_equal(vg_cg_read(r, V2_C, VG_CG_READ_ALL, &st), 0);
    assert_int_equal(st.present, ALL_BITS);
    assert_int_equal(st.cpu_quota_us, 200000);
    assert_int_equal(st.mem_working_set, 536870912 - 67108864);
    assert_int_equal(st.mem_rss, 402653184);
    assert_int_equal(st.io_ndev, 1);
    assert_int_equal(st.io[0].major, 259);
    assert_int_equal(st.io[0].wios, 4);
    assert_int_equal(st.pids_current, 20);

    /* rootless Podman: only the core files */
    assert_int_equal(vg_cg_read(r, V2_F, VG_CG_READ_ALL, &st), 0);
    assert_int_equal(st.present, BIT(VG_CGS_CPU_USAGE) | BIT(VG_CGS_CPU_USER) | BIT(VG_CGS_CPU_SYSTEM) |
                                     BIT(VG_CGS_MEM_USAGE) | BIT(VG_CGS_MEM_LIMIT) | BIT(VG_CGS_PIDS_CURRENT) |
                                     BIT(VG_CGS_PIDS_LIMIT));
    assert_int_equal(st.cpu_usage_ns, 42000);
    assert_int_equal(st.cpu_user_ns, 40000);
    assert_int_equal(st.cpu_system_ns, 2000);
    assert_int_equal(st.mem_usage, 12288);
    assert_int_equal(st.mem_limit, VG_CG_UNLIMITED);
    assert_int_equal(st.pids_current, 2);
    assert_int_equal(st.read_errors, 0);

    /* the root cgroup itself reads too ("/" and "" are the root) */
    assert_int_equal(vg_cg_read(r, "/", VG_CG_READ_CPU, &st), 0);
    assert_int_equal(st.cpu_usage_ns, 999999999000ull);
    vg_cg_root_close(r);
}

/* ---- v1 stats ------------------------------------------------------------------- */

static void test_read_v1(void **state)
{
    (void)state;
    uint64_t tick = 1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK);
    vg_cg_root_t *r = open_fx("v1-cgroupfs");
    vg_cg_stats_t st;
    assert_int_equal(vg_cg_read(r, "/kubepods/burstable/pod" U1 "/" A, VG_CG_READ_ALL, &st), 0);
    uint64_t v1_all = ALL_BITS & ~PSI_ALL & ~BIT(VG_CGS_MEM_OOM);
    assert_int_equal(st.present, v1_all);
    assert_int_equal(st.read_errors, 0);
    assert_int_equal(st.cpu_usage_ns, 52345678901ull);
    assert_int_equal(st.cpu_user_ns, 4120 * tick);
    assert_int_equal(st.cpu_system_ns, 1010 * tick);
    assert_int_equal(st.cpu_periods, 3000);
    assert_int_equal(st.cpu_throttled_periods, 250);
    assert_int_equal(st.cpu_throttled_ns, 15000000000ull);
    assert_int_equal(st.cpu_quota_us, 200000);
    assert_int_equal(st.cpu_period_us, 100000);
    assert_int_equal(st.mem_usage, 136314880);
    assert_int_equal(st.mem_rss, 109051904);   /* total_rss */
    assert_int_equal(st.mem_cache, 25165824);  /* total_cache */
    assert_int_equal(st.mem_working_set, 136314880 - 12582912); /* total_inactive_file */
    assert_int_equal(st.mem_swap, 140509184 - 136314880);
    assert_int_equal(st.mem_limit, 536870912);
    assert_int_equal(st.mem_oom_kill, 3);
    assert_int_equal(st.mem_failcnt, 17);
    assert_int_equal(st.io_ndev, 2);
    assert_int_equal(st.io[0].major, 8);
    assert_int_equal(st.io[0].minor, 0);
    assert_int_equal(st.io[0].rbytes, 10485760);
    assert_int_equal(st.io[0].wbytes, 2097152);
    assert_int_equal(st.io[0].rios, 2560);
    assert_int_equal(st.io[0].wios, 512);
    assert_int_equal(st.io[1].minor, 16);
    assert_int_equal(st.io[1].rbytes, 4096);
    assert_int_equal(st.io[1].wbytes, 0);
    assert_int_equal(st.io[1].rios, 1);
    assert_int_equal(st.pids_current, 12);
    assert_int_equal(st.pids_limit, 4096);

    /* Guaranteed, no limits, no swap accounting, *_recursive blkio files */
    assert_int_equal(vg_cg_read(r, "/kubepods/pod" U2 "/" B, VG_CG_READ_ALL, &st), 0);
    assert_int_equal(st.present, v1_all & ~BIT(VG_CGS_MEM_SWAP));
    assert_int_equal(st.cpu_quota_us, VG_CG_UNLIMITED);
    assert_int_equal(st.mem_limit, VG_CG_UNLIMITED);
    assert_int_equal(st.pids_limit, VG_CG_UNLIMITED);
    assert_int_equal(st.mem_working_set, 1048576);
    assert_int_equal(st.io_ndev, 0);

    /* plain Docker: only memory and cpu,cpuacct know it; not "vanished" */
    assert_int_equal(vg_cg_read(r, "/docker/" C, VG_CG_READ_ALL, &st), 0);
    assert_int_equal(st.present, BIT(VG_CGS_CPU_USAGE) | BIT(VG_CGS_MEM_USAGE) | BIT(VG_CGS_MEM_LIMIT));
    assert_int_equal(st.cpu_usage_ns, 5);
    assert_int_equal(st.mem_usage, 4096);
    assert_int_equal(st.mem_limit, VG_CG_UNLIMITED);
    assert_int_equal(st.read_errors, 0);

    /* a container that is not there */
    assert_int_equal(vg_cg_read(r, "/docker/" D, VG_CG_READ_ALL, &st), VG_ENOTFOUND);
    assert_int_equal(st.present, 0);
    vg_cg_root_close(r);
}

static void test_read_hybrid(void **state)
{
    (void)state;
    uint64_t tick = 1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK);
    vg_cg_root_t *r = open_fx("hybrid");
    vg_cg_stats_t st;
    assert_int_equal(vg_cg_read(r, V2_D, VG_CG_READ_ALL, &st), 0);
    /* v1 for the controllers, the unified tree for PSI */
    assert_int_equal(st.present, ALL_BITS & ~BIT(VG_CGS_MEM_OOM));
    assert_int_equal(st.cpu_usage_ns, 3000000000ull); /* cpuacct wins over unified cpu.stat */
    assert_int_equal(st.cpu_user_ns, 200 * tick);
    assert_int_equal(st.cpu_system_ns, 100 * tick);
    assert_int_equal(st.cpu_quota_us, VG_CG_UNLIMITED);
    assert_int_equal(st.mem_usage, 10485760);
    assert_int_equal(st.mem_working_set, 10485760 - 1048576);
    assert_int_equal(st.mem_swap, 0);
    assert_int_equal(st.io_ndev, 1);
    assert_int_equal(st.io[0].rbytes, 512);
    assert_int_equal(st.io[0].wbytes, 1024);
    assert_int_equal(st.io[0].rios, 1);
    assert_int_equal(st.io[0].wios, 2);
    assert_int_equal(st.pids_current, 4);
    assert_psi(&st, VG_CG_PSI_CPU, VG_CG_PSI_SOME, 2.0, 200);
    assert_psi(&st, VG_CG_PSI_IO, VG_CG_PSI_FULL, 0.25, 25);

    /* not in the cpu controllers: CPU time from the unified core cpu.stat,
     * but not the throttling fields (those belong to the cpu controller) */
    assert_int_equal(vg_cg_read(r, "/kubepods/besteffort/pod" U3 "/" J, VG_CG_READ_ALL, &st), 0);
    assert_int_equal(st.present, BIT(VG_CGS_CPU_USAGE) | BIT(VG_CGS_CPU_USER) | BIT(VG_CGS_CPU_SYSTEM) |
                                     BIT(VG_CGS_MEM_USAGE) | BIT(VG_CG_PSI_BIT(VG_CG_PSI_CPU, 0)) |
                                     BIT(VG_CG_PSI_BIT(VG_CG_PSI_CPU, 1)));
    assert_int_equal(st.cpu_usage_ns, 777000000ull);
    assert_int_equal(st.cpu_user_ns, 500000000ull);
    assert_int_equal(st.cpu_system_ns, 277000000ull);
    assert_int_equal(st.mem_usage, 65536);
    vg_cg_root_close(r);
}

/* ---- missing, empty, malformed, vanished --------------------------------------- */

static void test_read_missing_empty(void **state)
{
    (void)state;
    vg_cg_root_t *r = open_fx("v2-missing");
    vg_cg_stats_t st;
    /* every file empty: all absent, except io.stat whose empty form means "no IO" */
    assert_int_equal(vg_cg_read(r, "/system.slice/docker-" K ".scope", VG_CG_READ_ALL, &st), 0);
    assert_int_equal(st.present, BIT(VG_CGS_IO_BYTES) | BIT(VG_CGS_IO_OPS));
    assert_int_equal(st.io_ndev, 0);
    assert_int_equal(st.read_errors, 0);

    /* partial, malformed and unreadable files */
    assert_int_equal(vg_cg_read(r, "/system.slice/docker-" L ".scope", VG_CG_READ_ALL, &st), 0);
    assert_int_equal(st.present, BIT(VG_CGS_CPU_USAGE) | BIT(VG_CGS_MEM_USAGE) | BIT(VG_CGS_MEM_LIMIT) |
                                     BIT(VG_CGS_MEM_FAILCNT) | BIT(VG_CGS_IO_BYTES) | BIT(VG_CGS_IO_OPS) |
                                     BIT(VG_CGS_PIDS_LIMIT) | BIT(VG_CG_PSI_BIT(VG_CG_PSI_MEM, 0)) |
                                     BIT(VG_CG_PSI_BIT(VG_CG_PSI_IO, 1)));
    assert_int_equal(st.cpu_usage_ns, 1000000);
    assert_int_equal(st.mem_usage, 1048576);
    assert_int_equal(st.mem_limit, 2097152);
    assert_int_equal(st.mem_failcnt, 0);
    assert_int_equal(st.io_ndev, 2);
    assert_int_equal(st.io[0].rbytes, 1);
    assert_int_equal(st.io[0].wbytes, 2);
    assert_int_equal(st.io[0].rios, 3);
    assert_int_equal(st.io[0].wios, 4);
    assert_int_equal(st.io[1].minor, 16);
    assert_int_equal(st.io[1].rbytes, 5);
    assert_int_equal(st.io[1].wbytes, 0);
    assert_int_equal(st.pids_limit, VG_CG_UNLIMITED);
    assert_psi(&st, VG_CG_PSI_MEM, VG_CG_PSI_SOME, 0.25, 99);
    assert_psi(&st, VG_CG_PSI_IO, VG_CG_PSI_FULL, 1.5, 2);
    assert_int_equal(st.read_errors, 1); /* pids.current is a directory: EISDIR */

    /* a directory without cgroup.procs: the cgroup is gone, files or not */
    memset(&st, 0xff, sizeof st);
    assert_int_equal(vg_cg_read(r, "/system.slice/docker-" M ".scope", VG_CG_READ_ALL, &st), VG_ENOTFOUND);
    vg_cg_stats_t zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&st, &zero, sizeof st); /* never half-filled */

    assert_int_equal(vg_cg_read(r, "/nope", VG_CG_READ_ALL, &st), VG_ENOTFOUND);
    assert_int_equal(vg_cg_read(NULL, "/", VG_CG_READ_ALL, &st), VG_EINVAL);
    assert_int_equal(vg_cg_read(r, NULL, VG_CG_READ_ALL, &st), VG_EINVAL);
    vg_cg_root_close(r);
}

/* ---- counters --------------------------------------------------------------------- */

static void test_counter(void **state)
{
    (void)state;
    const uint64_t S = 1000000000ull;
    vg_cg_counter_t c = { 0 };
    vg_cg_counter_out_t o;

    vg_cg_counter_update(&c, 500, 10 * S, &o); /* first sight: no rate, start = now */
    assert_int_equal(o.start_ns, 10 * S);
    assert_int_equal(o.delta, 0);
    assert_false(o.has_rate);
    assert_false(o.reset);

    vg_cg_counter_update(&c, 2500, 12 * S, &o);
    assert_int_equal(o.start_ns, 10 * S); /* survives across scrapes */
    assert_int_equal(o.delta, 2000);
    assert_true(o.has_rate);
    assert_true(fabs(o.rate - 1000.0) < 1e-9);

    vg_cg_counter_update(&c, 2500, 12 * S, &o); /* time did not advance */
    assert_int_equal(o.delta, 0);
    assert_false(o.has_rate);

    vg_cg_counter_update(&c, 300, 14 * S, &o); /* went down: restarted */
    assert_true(o.reset);
    assert_int_equal(o.start_ns, 12 * S);
    assert_int_equal(o.delta, 300);
    assert_true(fabs(o.rate - 150.0) < 1e-9);

    vg_cg_counter_update(&c, 700, 15 * S, &o);
    assert_false(o.reset);
    assert_int_equal(o.start_ns, 12 * S);
    assert_int_equal(o.delta, 400);
    assert_true(fabs(o.rate - 400.0) < 1e-9);

    /* a restart the value cannot show (new cgroup already above the old count) */
    vg_cg_counter_restart(&c);
    vg_cg_counter_update(&c, 5000, 20 * S, &o);
    assert_true(o.reset);
    assert_int_equal(o.start_ns, 15 * S);
    assert_int_equal(o.delta, 5000);
    assert_true(fabs(o.rate - 1000.0) < 1e-9);
    vg_cg_counter_update(&c, 5100, 21 * S, NULL);
    vg_cg_counter_update(&c, 5200, 22 * S, &o);
    assert_int_equal(o.start_ns, 15 * S);
    assert_int_equal(o.delta, 100);

    /* a known start time (the container's creation) */
    vg_cg_counter_init(&c, 3 * S);
    vg_cg_counter_update(&c, 42, 9 * S, &o);
    assert_int_equal(o.start_ns, 3 * S);
    assert_false(o.has_rate);
    /* a start time in the future is not believed */
    vg_cg_counter_init(&c, 30 * S);
    vg_cg_counter_update(&c, 42, 9 * S, &o);
    assert_int_equal(o.start_ns, 9 * S);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_mode),
        cmocka_unit_test(test_open_nomem),
        cmocka_unit_test(test_walk_v2),
        cmocka_unit_test(test_walk_v1_hybrid),
        cmocka_unit_test(test_read_v2_containerd),
        cmocka_unit_test(test_read_v2_crio_docker_podman),
        cmocka_unit_test(test_read_v1),
        cmocka_unit_test(test_read_hybrid),
        cmocka_unit_test(test_read_missing_empty),
        cmocka_unit_test(test_counter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
