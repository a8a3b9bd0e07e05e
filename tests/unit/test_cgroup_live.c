/* cgroup stats against real cgroups created by the test (needs root).
 *
 * Creates /sys/fs/cgroup/<ctrl>/vigiltest-<pid>/kubepods/burstable/pod<uid>/<64hex>
 * in every v1 controller the reader uses and in the unified tree (or only in
 * the v2 tree on a v2 host), moves a child process in, has it burn ~0.3 s of
 * CPU and touch 32 MiB, and checks the reader sees it. The cgroups are removed
 * in teardown, leaf first, after the child is gone, whatever the outcome. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup/cgpath.h"
#include "cgroup/cgroup.h"
#include "error.h"

#define ROOT "/sys/fs/cgroup"
#define UID  "0b5e3c7a-1d2f-4e6a-9b8c-7d6e5f4a3b2c"
#define CID  "7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de"
#define MIB  (1024ull * 1024ull)
#define NLEVEL 5

typedef struct {
    vg_cg_mode_t mode;
    char base[64];                /* "vigiltest-<pid>" */
    char rel[256];                /* "/vigiltest-<pid>/kubepods/burstable/pod<uid>/<id>" */
    char levels[NLEVEL][256];     /* rel prefixes, shortest first */
    char hier[8][64];             /* hierarchy directories we created under */
    int nhier;
    pid_t child;
    int to_child, from_child;
    char extra[600];              /* one more cgroup to remove first, if set */
    const char *skip_reason;
} live_t;

static int write_str(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, s, strlen(s));
    int e = n < 0 ? -errno : 0;
    close(fd);
    return e;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void cleanup_cgroups(live_t *t)
{
    if (t->extra[0]) {
        for (int i = 0; i < 50 && rmdir(t->extra) != 0 && errno == EBUSY; i++)
            usleep(20000);
    }
    for (int h = 0; h < t->nhier; h++) {
        for (int l = NLEVEL - 1; l >= 0; l--) {
            char p[512];
            snprintf(p, sizeof p, "%s%s", t->hier[h], t->levels[l]);
            /* memcg offlining can make rmdir briefly EBUSY right after the exit */
            for (int i = 0; i < 50 && rmdir(p) != 0 && errno == EBUSY; i++)
                usleep(20000);
        }
    }
}

static void stop_child(live_t *t)
{
    if (t->child > 0) {
        kill(t->child, SIGKILL);
        waitpid(t->child, NULL, 0);
        t->child = 0;
    }
    if (t->to_child >= 0)
        close(t->to_child);
    if (t->from_child >= 0)
        close(t->from_child);
    t->to_child = t->from_child = -1;
}

static int setup(void **state)
{
    live_t *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    t->to_child = t->from_child = -1;
    *state = t;
    if (geteuid() != 0) {
        t->skip_reason = "not running as root: cannot create cgroups";
        return 0;
    }
    if (vg_cg_detect_mode(ROOT, &t->mode) != 0) {
        t->skip_reason = "no cgroup filesystem at " ROOT;
        return 0;
    }
    snprintf(t->base, sizeof t->base, "vigiltest-%d", (int)getpid());
    const char *parts[NLEVEL] = { t->base, "kubepods", "burstable", "pod" UID, CID };
    size_t off = 0;
    for (int l = 0; l < NLEVEL; l++) {
        off += (size_t)snprintf(t->rel + off, sizeof t->rel - off, "/%s", parts[l]);
        snprintf(t->levels[l], sizeof t->levels[l], "%s", t->rel);
    }
    if (t->mode == VG_CG_MODE_V2) {
        snprintf(t->hier[t->nhier++], sizeof t->hier[0], ROOT);
    } else {
        static const char *const ctrls[] = { "memory", "cpu", "cpuacct", "pids", "blkio" };
        for (size_t i = 0; i < sizeof ctrls / sizeof ctrls[0]; i++) {
            char p[64];
            snprintf(p, sizeof p, ROOT "/%s", ctrls[i]);
            if (is_dir(p))
                snprintf(t->hier[t->nhier++], sizeof t->hier[0], "%s", p);
        }
        if (t->mode == VG_CG_MODE_HYBRID)
            snprintf(t->hier[t->nhier++], sizeof t->hier[0], ROOT "/unified");
    }
    for (int h = 0; h < t->nhier; h++) {
        for (int l = 0; l < NLEVEL; l++) {
            char p[512];
            snprintf(p, sizeof p, "%s%s", t->hier[h], t->levels[l]);
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                fprintf(stderr, "mkdir %s: %s\n", p, strerror(errno));
                cleanup_cgroups(t);
                return -1;
            }
            /* v2: let the controllers reach the leaf */
            if (t->mode == VG_CG_MODE_V2 && l < NLEVEL - 1) {
                char sc[600];
                snprintf(sc, sizeof sc, "%s/cgroup.subtree_control", p);
                write_str(sc, "+cpu +memory +pids +io");
            }
        }
    }
    return 0;
}

static int teardown(void **state)
{
    live_t *t = *state;
    stop_child(t);
    cleanup_cgroups(t);
    /* the cgroups must be gone */
    int left = 0;
    for (int h = 0; h < t->nhier; h++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", t->hier[h], t->base);
        if (is_dir(p)) {
            fprintf(stderr, "cgroup %s was not removed\n", p);
            left = 1;
        }
    }
    free(t);
    return left ? -1 : 0;
}

static void skip_loudly(live_t *t)
{
    if (t->skip_reason) {
        print_message("SKIPPED (loudly): live cgroup test: %s\n", t->skip_reason);
        fprintf(stderr, "*** test_cgroup_live SKIPPED: %s ***\n", t->skip_reason);
        skip();
    }
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The child: wait for 'g', burn 0.3 s of CPU, touch 32 MiB, say 'd', wait. */
static void child_main(int in, int out)
{
    char c;
    if (read(in, &c, 1) != 1)
        _exit(2);
    double start = cpu_seconds();
    uint64_t x = 0;
    while (cpu_seconds() - start < 0.3) {
        for (int i = 0; i < 100000; i++)
            x += (uint64_t)i * 2654435761u;
        __asm__ volatile("" : : "r"(x)); /* keep the loop */
    }
    size_t n = 32 * MIB;
    char *p = malloc(n);
    if (!p)
        _exit(3);
    for (size_t i = 0; i < n; i += 4096)
        p[i] = (char)(i >> 12);
    c = 'd';
    if (write(out, &c, 1) != 1)
        _exit(4);
    if (read(in, &c, 1) != 1)
        _exit(5);
    free(p);
    _exit(0);
}

static void start_child_in_cgroups(live_t *t)
{
    int a[2], b[2];
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(a[1]);
        close(b[0]);
        child_main(a[0], b[1]);
    }
    close(a[0]);
    close(b[1]);
    t->child = pid;
    t->to_child = a[1];
    t->from_child = b[0];
    char spid[32];
    snprintf(spid, sizeof spid, "%d", (int)pid);
    for (int h = 0; h < t->nhier; h++) {
        char p[600];
        snprintf(p, sizeof p, "%s%s/cgroup.procs", t->hier[h], t->rel);
        int rc = write_str(p, spid);
        if (rc != 0)
            fail_msg("moving child into %s: %s", p, strerror(-rc));
    }
}

static int find_cb(void *ud, const char *path, const vg_cg_ident_t *id)
{
    live_t *t = ud;
    assert_string_equal(path, t->rel);
    assert_int_equal(id->kind, VG_CG_KIND_CONTAINER);
    assert_string_equal(id->id, CID);
    assert_string_equal(id->pod_uid, UID);
    assert_int_equal(id->qos, VG_CG_QOS_BURSTABLE);
    return 0;
}

static void test_live_child(void **state)
{
    live_t *t = *state;
    skip_loudly(t);
    vg_cg_root_t *r = NULL;
    assert_int_equal(vg_cg_root_open(ROOT, &r), 0);
    print_message("cgroup mode %s, index %s\n", vg_cg_mode_name(vg_cg_root_mode(r)), vg_cg_root_index_dir(r));

    /* discovery finds exactly our container, with its identity */
    char pat[128];
    snprintf(pat, sizeof pat, "/%s/*", t->base);
    const char *inc[] = { pat };
    vg_cg_walk_opts_t o = { .include = inc, .n_include = 1 };
    vg_cg_walk_result_t wr;
    assert_int_equal(vg_cg_walk(r, &o, find_cb, t, &wr), 0);
    assert_int_equal(wr.reported, 1);

    start_child_in_cgroups(t);

    /* /proc/<pid>/cgroup of the child names the container */
    vg_cg_ident_t id;
    char path[512];
    assert_int_equal(vg_cg_proc_read(NULL, t->child, &id, path, sizeof path), 0);
    assert_int_equal(id.kind, VG_CG_KIND_CONTAINER);
    assert_string_equal(id.id, CID);
    assert_string_equal(id.pod_uid, UID);
    assert_string_equal(path, t->rel);

    vg_cg_stats_t s0, s1;
    assert_int_equal(vg_cg_read(r, t->rel, VG_CG_READ_ALL, &s0), 0);
    assert_true(VG_CG_HAS(&s0, VG_CGS_CPU_USAGE));
    assert_true(VG_CG_HAS(&s0, VG_CGS_CPU_USER));
    assert_true(VG_CG_HAS(&s0, VG_CGS_CPU_SYSTEM));
    assert_true(VG_CG_HAS(&s0, VG_CGS_MEM_USAGE));
    assert_true(VG_CG_HAS(&s0, VG_CGS_MEM_RSS));
    assert_true(VG_CG_HAS(&s0, VG_CGS_MEM_WORKING_SET));
    assert_true(VG_CG_HAS(&s0, VG_CGS_PIDS_CURRENT));
    assert_true(VG_CG_HAS(&s0, VG_CGS_PIDS_LIMIT));
    assert_true(VG_CG_HAS(&s0, VG_CGS_CPU_LIMIT));
    assert_true(VG_CG_HAS(&s0, VG_CGS_MEM_LIMIT));
    assert_int_equal(s0.read_errors, 0);
    assert_int_equal(s0.pids_current, 1);
    assert_int_equal(s0.pids_limit, VG_CG_UNLIMITED);
    assert_int_equal(s0.cpu_quota_us, VG_CG_UNLIMITED);
    if (vg_cg_root_mode(r) != VG_CG_MODE_V1)
        assert_true(VG_CG_HAS(&s0, VG_CG_PSI_BIT(VG_CG_PSI_CPU, VG_CG_PSI_SOME)));

    char c = 'g';
    assert_int_equal(write(t->to_child, &c, 1), 1);
    assert_int_equal(read(t->from_child, &c, 1), 1);
    assert_int_equal(c, 'd');
    assert_int_equal(vg_cg_read(r, t->rel, VG_CG_READ_ALL, &s1), 0);

    double dcpu = (double)(s1.cpu_usage_ns - s0.cpu_usage_ns) / 1e9;
    double dus = (double)((s1.cpu_user_ns + s1.cpu_system_ns) - (s0.cpu_user_ns + s0.cpu_system_ns)) / 1e9;
    double dmem = (double)(int64_t)(s1.mem_usage - s0.mem_usage) / (double)MIB;
    double drss = (double)(int64_t)(s1.mem_rss - s0.mem_rss) / (double)MIB;
    print_message("burned 0.3 s: cpu usage +%.3f s, user+system +%.3f s; touched 32 MiB: usage +%.1f MiB, "
                  "rss +%.1f MiB, working set %.1f MiB; pids %llu\n",
                  dcpu, dus, dmem, drss, (double)s1.mem_working_set / (double)MIB,
                  (unsigned long long)s1.pids_current);
    assert_true(dcpu >= 0.28 && dcpu <= 0.6);
    assert_true(dus >= 0.2 && dus <= 0.7); /* USER_HZ ticks: coarse */
    assert_true(dmem >= 30.0 && dmem <= 48.0);
    assert_true(drss >= 30.0 && drss <= 40.0);
    assert_true(s1.mem_working_set >= 30 * MIB);
    assert_int_equal(s1.pids_current, 1);
    assert_true(s1.cg_id == s0.cg_id);

    /* a limit set on the cgroup is read back */
    char p[600];
    const char *pids_dir = NULL;
    for (int h = 0; h < t->nhier; h++)
        if (strstr(t->hier[h], "/pids") || vg_cg_root_mode(r) == VG_CG_MODE_V2)
            pids_dir = t->hier[h];
    assert_non_null(pids_dir);
    snprintf(p, sizeof p, "%s%s/pids.max", pids_dir, t->rel);
    assert_int_equal(write_str(p, "50"), 0);
    assert_int_equal(vg_cg_read(r, t->rel, VG_CG_READ_PIDS | VG_CG_READ_LIMITS, &s1), 0);
    assert_int_equal(s1.pids_limit, 50);

    c = 'x';
    assert_int_equal(write(t->to_child, &c, 1), 1);
    int status = 0;
    assert_int_equal(waitpid(t->child, &status, 0), t->child);
    t->child = 0;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(vg_cg_read(r, t->rel, VG_CG_READ_PIDS, &s1), 0);
    assert_int_equal(s1.pids_current, 0);

    /* removed: reported as vanished, nothing half-filled */
    cleanup_cgroups(t);
    memset(&s1, 0xff, sizeof s1);
    assert_int_equal(vg_cg_read(r, t->rel, VG_CG_READ_ALL, &s1), VG_ENOTFOUND);
    assert_int_equal(s1.present, 0);
    vg_cg_root_close(r);
}

/* A cgroup removed and recreated over and over while being read: every read
 * is either complete or VG_ENOTFOUND. The racer only uses the index hierarchy,
 * so a complete read always has the same set of values. */
static void test_live_vanish_race(void **state)
{
    live_t *t = *state;
    skip_loudly(t);
    vg_cg_root_t *r = NULL;
    assert_int_equal(vg_cg_root_open(ROOT, &r), 0);
    const char *index = vg_cg_root_index_dir(r);
    char leaf[600];
    snprintf(leaf, sizeof leaf, "%s%s/race", index, t->levels[0]);
    char rel[300];
    snprintf(rel, sizeof rel, "%s/race", t->levels[0]);
    assert_int_equal(mkdir(leaf, 0755), 0);
    snprintf(t->extra, sizeof t->extra, "%s", leaf);
    vg_cg_stats_t st;
    assert_int_equal(vg_cg_read(r, rel, VG_CG_READ_ALL, &st), 0);
    uint64_t full = st.present;
    assert_true(full != 0);

    pid_t racer = fork();
    assert_true(racer >= 0);
    if (racer == 0) {
        for (;;) {
            rmdir(leaf);
            mkdir(leaf, 0755);
        }
    }
    t->child = racer; /* teardown kills it if an assertion fails below */
    /* ~1 s of reads: enough for removals to land between two files of one
     * read (without the liveness check some reads come out half-filled) */
    int ok = 0, gone = 0, bad = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 200000; i++) {
        if ((i & 1023) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - t0.tv_sec + (now.tv_nsec - t0.tv_nsec) / 1e9 > 1.0)
                break;
        }
        int rc = vg_cg_read(r, rel, VG_CG_READ_ALL, &st);
        if (rc == 0 && st.present == full)
            ok++;
        else if (rc == VG_ENOTFOUND && st.present == 0)
            gone++;
        else
            bad++;
    }
    stop_child(t);
    print_message("race: %d complete, %d vanished, %d half-filled\n", ok, gone, bad);
    assert_int_equal(bad, 0);
    assert_true(ok > 0);
    assert_true(gone > 0);
    vg_cg_root_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_live_child, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_vanish_race, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
