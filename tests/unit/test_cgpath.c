/* Container identity from cgroup paths and /proc/<pid>/cgroup texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup/cgpath.h"
#include "error.h"

#define ID   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ID2  "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define UID  "6f0c6b1b-3b4e-4a7a-9d2e-1f2a3b4c5d6e"
#define UIDS "6f0c6b1b_3b4e_4a7a_9d2e_1f2a3b4c5d6e" /* systemd unit-name spelling */
#define SUID "0123456789abcdef0123456789abcdef"     /* static pod: manifest hash */

#define K8S  VG_CG_F_K8S
#define SD   VG_CG_F_SYSTEMD
#define RL   VG_CG_F_ROOTLESS

#define NONE  VG_CG_KIND_NONE
#define CTR   VG_CG_KIND_CONTAINER
#define POD   VG_CG_KIND_POD
#define SVC   VG_CG_KIND_SERVICE

#define RT_U  VG_CG_RT_UNKNOWN
#define RT_CD VG_CG_RT_CONTAINERD
#define RT_CO VG_CG_RT_CRIO
#define RT_D  VG_CG_RT_DOCKER
#define RT_P  VG_CG_RT_PODMAN

#define Q0 VG_CG_QOS_NONE
#define QG VG_CG_QOS_GUARANTEED
#define QB VG_CG_QOS_BURSTABLE
#define QE VG_CG_QOS_BESTEFFORT

typedef struct {
    const char *path;
    vg_cg_kind_t kind;
    vg_cg_runtime_t rt;
    vg_cg_qos_t qos;
    unsigned flags;
    const char *id, *uid, *service;
} pcase_t;

static const pcase_t cases[] = {
    /* Kubernetes, cgroupfs driver */
    { "/kubepods/burstable/pod" UID "/" ID, CTR, RT_U, QB, K8S, ID, UID, "" },
    { "/kubepods/besteffort/pod" UID "/" ID, CTR, RT_U, QE, K8S, ID, UID, "" },
    { "/kubepods/pod" UID "/" ID, CTR, RT_U, QG, K8S, ID, UID, "" },
    { "/kubepods/pod" SUID "/" ID, CTR, RT_U, QG, K8S, ID, SUID, "" },
    { "/kubepods/burstable/pod" UID "/crio-" ID, CTR, RT_CO, QB, K8S, ID, UID, "" },
    { "/kubepods/burstable/pod" UID "/" ID "/sub", CTR, RT_U, QB, K8S, ID, UID, "" },
    { "/kubepods/burstable/pod" UID, POD, RT_U, QB, K8S, "", UID, "" },
    { "/kubepods/pod" UID, POD, RT_U, QG, K8S, "", UID, "" },
    { "/kubepods/burstable", NONE, RT_U, QB, K8S, "", "", "" },
    { "/kubepods", NONE, RT_U, Q0, K8S, "", "", "" },
    { "/kubepods/burstable/podnot-a-uid/" ID, NONE, RT_U, QB, K8S, "", "", "" },
    /* Kubernetes, systemd driver */
    { "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDS ".slice/cri-containerd-" ID ".scope",
      CTR, RT_CD, QB, K8S | SD, ID, UID, "" },
    { "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UIDS ".slice/crio-" ID ".scope",
      CTR, RT_CO, QE, K8S | SD, ID, UID, "" },
    { "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDS ".slice/docker-" ID ".scope",
      CTR, RT_D, QB, K8S | SD, ID, UID, "" },
    { "/kubepods.slice/kubepods-pod" UIDS ".slice/cri-containerd-" ID ".scope", CTR, RT_CD, QG, K8S | SD, ID, UID, "" },
    { "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDS ".slice", POD, RT_U, QB, K8S | SD, "", UID, "" },
    { "/kubepods.slice/kubepods-besteffort.slice", NONE, RT_U, QE, K8S | SD, "", "", "" },
    /* CRI-O's monitor scope is not the container */
    { "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDS ".slice/crio-conmon-" ID ".scope",
      NONE, RT_U, Q0, 0, "", "", "" },
    /* containerd's systemd-driver name seen in a v1 hierarchy it does not manage */
    { "/system.slice/containerd.service/kubepods-burstable-pod" UIDS ".slice:cri-containerd:" ID,
      CTR, RT_CD, QB, K8S | SD, ID, UID, "" },
    /* kind: a Kubernetes node inside a Docker container */
    { "/docker/" ID2 "/kubepods/besteffort/pod" UID "/" ID, CTR, RT_U, QE, K8S, ID, UID, "" },
    { "/docker/" ID2 "/kubepods/besteffort/pod" UID, POD, RT_U, QE, K8S, "", UID, "" },
    /* Docker */
    { "/docker/" ID, CTR, RT_D, Q0, 0, ID, "", "" },
    { "/system.slice/docker-" ID ".scope", CTR, RT_D, Q0, SD, ID, "", "" },
    { "/docker/0123456789ab", CTR, RT_D, Q0, 0, "0123456789ab", "", "" },
    { "/docker/0123456789a", NONE, RT_U, Q0, 0, "", "", "" },
    { "/docker/E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", CTR, RT_D, Q0, 0, ID, "", "" },
    { "/docker/" ID "/docker/" ID2, CTR, RT_D, Q0, 0, ID2, "", "" }, /* docker in docker: innermost */
    { "/docker", NONE, RT_U, Q0, 0, "", "", "" },
    { "/lxc/" ID, CTR, RT_U, Q0, 0, ID, "", "" },
    /* Podman */
    { "/machine.slice/libpod-" ID ".scope", CTR, RT_P, Q0, SD, ID, "", "" },
    { "/machine.slice/libpod-" ID ".scope/container", CTR, RT_P, Q0, SD, ID, "", "" },
    { "/machine.slice/libpod-conmon-" ID ".scope", NONE, RT_U, Q0, 0, "", "", "" },
    { "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID ".scope", CTR, RT_P, Q0, RL | SD, ID, "", "" },
    { "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID ".scope/container",
      CTR, RT_P, Q0, RL | SD, ID, "", "" },
    { "/libpod_parent/libpod-" ID, CTR, RT_P, Q0, 0, ID, "", "" },
    /* nerdctl */
    { "/system.slice/nerdctl-" ID ".scope", CTR, RT_CD, Q0, SD, ID, "", "" },
    /* systemd services */
    { "/system.slice/sshd.service", SVC, RT_U, Q0, 0, "", "", "sshd.service" },
    { "/system.slice/docker.service", SVC, RT_U, Q0, 0, "", "", "docker.service" },
    { "/system.slice/system-getty.slice/getty@tty1.service", SVC, RT_U, Q0, 0, "", "", "getty@tty1.service" },
    { "/user.slice/user-1000.slice/user@1000.service", SVC, RT_U, Q0, RL, "", "", "user@1000.service" },
    { "/system.slice/foo.service/payload", NONE, RT_U, Q0, 0, "", "", "" },
    { "/system.slice/.service", NONE, RT_U, Q0, 0, "", "", "" },
    /* not containers */
    { "/", NONE, RT_U, Q0, 0, "", "", "" },
    { "", NONE, RT_U, Q0, 0, "", "", "" },
    { "/init.scope", NONE, RT_U, Q0, 0, "", "", "" },
    { "/user.slice/user-1000.slice/session-3.scope", NONE, RT_U, Q0, 0, "", "", "" },
    { "/process_api/ca02032a58994dce47fd3121d8359930", NONE, RT_U, Q0, 0, "", "", "" },
    { "/" ID, NONE, RT_U, Q0, 0, "", "", "" }, /* a bare id with no runtime parent */
    { "/system.slice/docker-notanid.scope", NONE, RT_U, Q0, 0, "", "", "" },
    { "//docker//" ID "/", CTR, RT_D, Q0, 0, ID, "", "" },
    { "/../../docker/" ID, CTR, RT_D, Q0, 0, ID, "", "" }, /* seen from another cgroup namespace */
};

static void expect(const vg_cg_ident_t *got, const pcase_t *c)
{
    if (got->kind != c->kind || got->runtime != c->rt || got->qos != c->qos || got->flags != c->flags ||
        strcmp(got->id, c->id) || strcmp(got->pod_uid, c->uid) || strcmp(got->service, c->service)) {
        print_error("path %s\n  got  kind=%s rt=%s qos=%s flags=%#x id=%s uid=%s svc=%s\n"
                    "  want kind=%s rt=%s qos=%s flags=%#x id=%s uid=%s svc=%s\n",
                    c->path, vg_cg_kind_name(got->kind), vg_cg_runtime_name(got->runtime),
                    vg_cg_qos_name(got->qos), got->flags, got->id, got->pod_uid, got->service,
                    vg_cg_kind_name(c->kind), vg_cg_runtime_name(c->rt), vg_cg_qos_name(c->qos), c->flags,
                    c->id, c->uid, c->service);
        fail();
    }
}

static void test_path_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vg_cg_ident_t id;
        memset(&id, 0xa5, sizeof id); /* must be fully overwritten */
        assert_int_equal(vg_cg_path_parse(cases[i].path, strlen(cases[i].path), &id), 0);
        expect(&id, &cases[i]);
    }
}

static void test_path_len_bounds(void **state)
{
    (void)state;
    /* len, not the NUL, ends the path: a container path cut before its id */
    const char *p = "/docker/" ID;
    vg_cg_ident_t id;
    assert_int_equal(vg_cg_path_parse(p, 7, &id), 0);
    assert_int_equal(id.kind, VG_CG_KIND_NONE);
    assert_int_equal(vg_cg_path_parse(p, 8 + 12, &id), 0); /* a 12-digit prefix is a short id */
    assert_int_equal(id.kind, VG_CG_KIND_CONTAINER);
    assert_string_equal(id.id, "e3b0c44298fc");
    /* ids longer than 64 digits are not ids */
    assert_int_equal(vg_cg_path_parse("/docker/" ID "0", strlen("/docker/" ID "0"), &id), 0);
    assert_int_equal(id.kind, VG_CG_KIND_NONE);
    assert_int_equal(vg_cg_path_parse(NULL, 0, &id), VG_EINVAL);
    assert_int_equal(vg_cg_path_parse("/", 1, NULL), VG_EINVAL);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(vg_cg_runtime_name(VG_CG_RT_CONTAINERD), "containerd");
    assert_string_equal(vg_cg_runtime_name(VG_CG_RT_CRIO), "cri-o");
    assert_string_equal(vg_cg_runtime_name(VG_CG_RT_DOCKER), "docker");
    assert_string_equal(vg_cg_runtime_name(VG_CG_RT_PODMAN), "podman");
    assert_string_equal(vg_cg_runtime_name(VG_CG_RT_UNKNOWN), "unknown");
    assert_string_equal(vg_cg_qos_name(VG_CG_QOS_GUARANTEED), "Guaranteed");
    assert_string_equal(vg_cg_qos_name(VG_CG_QOS_BURSTABLE), "Burstable");
    assert_string_equal(vg_cg_qos_name(VG_CG_QOS_BESTEFFORT), "BestEffort");
    assert_string_equal(vg_cg_qos_name(VG_CG_QOS_NONE), "");
    assert_string_equal(vg_cg_kind_name(VG_CG_KIND_SERVICE), "service");
}

/* ---- /proc/<pid>/cgroup ----------------------------------------------------- */

#define KPATH "/kubepods/burstable/pod" UID "/" ID
#define SPATH "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UIDS \
              ".slice/cri-containerd-" ID ".scope"

static void test_proc_v1(void **state)
{
    (void)state;
    const char *t = "12:hugetlb:" KPATH "\n"
                    "11:pids:" KPATH "\n"
                    "9:memory:" KPATH "\n"
                    "7:cpu,cpuacct:" KPATH "\n"
                    "2:rdma:/\n"
                    "1:name=systemd:" KPATH "\n";
    vg_cg_ident_t id;
    char path[256];
    assert_int_equal(vg_cg_proc_parse(t, strlen(t), &id, path, sizeof path), 0);
    assert_int_equal(id.kind, VG_CG_KIND_CONTAINER);
    assert_string_equal(id.id, ID);
    assert_string_equal(id.pod_uid, UID);
    assert_int_equal(id.qos, VG_CG_QOS_BURSTABLE);
    assert_string_equal(path, KPATH);
}

static void test_proc_v2(void **state)
{
    (void)state;
    const char *t = "0::" SPATH "\n";
    vg_cg_ident_t id;
    char path[512];
    assert_int_equal(vg_cg_proc_parse(t, strlen(t), &id, path, sizeof path), 0);
    assert_int_equal(id.kind, VG_CG_KIND_CONTAINER);
    assert_int_equal(id.runtime, VG_CG_RT_CONTAINERD);
    assert_int_equal(id.qos, VG_CG_QOS_BESTEFFORT);
    assert_string_equal(id.id, ID);
    assert_string_equal(id.pod_uid, UID);
    assert_string_equal(path, SPATH);
    /* no trailing newline, CRLF tolerated */
    t = "0::/system.slice/docker-" ID ".scope\r\n";
    assert_int_equal(vg_cg_proc_parse(t, strlen(t), &id, path, sizeof path), 0);
    assert_int_equal(id.runtime, VG_CG_RT_DOCKER);
    assert_string_equal(path, "/system.slice/docker-" ID ".scope");
    /* truncated output buffer */
    char small[8];
    assert_int_equal(vg_cg_proc_parse(t, strlen(t), &id, small, sizeof small), 0);
    assert_string_equal(small, "/system");
}

static void test_proc_hybrid(void **state)
{
    (void)state;
    vg_cg_ident_t id;
    char path[512];
    /* container in the v1 controllers, v2 line at the root (this host's shape):
     * the memory line wins among equals */
    const char *t = "9:name=systemd:/system.slice/docker-" ID ".scope\n"
                    "8:pids:/docker/" ID "\n"
                    "4:memory:/docker/" ID "\n"
                    "0::/\n";
    assert_int_equal(vg_cg_proc_parse(t, strlen(t), &id, path, sizeof path), 0);
    assert_int_equal(id.kind, VG_CG_KIND_CONTAINER);
    assert_int_equal(id.runtime, VG_CG_RT_DOCKER);
    assert_string_equal(path, "/docker/" ID);
    /* the v2 line wins when it names the container too */
    t = "4:memory:/docker/" ID "\n"
        "0::/system.slice/docker-" ID ".scope\n";
    assert_int_equal(vg_cg_proc_parse(t, strlen(t), &id, path, sizeof path), 0);
    assert_string_equal(path, "/system.slice/docker-" ID ".scope");
    /* a container beats a pod, a pod beats a service, whatever the line */
    t = "0::/system.slice/kubelet.service\n"
        "4:memory:/kubepods/besteffort/pod" UID "\n"
        "1:name=systemd:/system.slice/containerd.service/kubepods-besteffort-pod" UIDS ".slice:cri-containerd:" ID "\n";
    assert_int_equal(vg_cg_proc_parse(t, strlen(t), &id, path, sizeof path), 0);
    assert_int_equal(id.kind, VG_CG_KIND_CONTAINER);
    assert_int_equal(id.runtime, VG_CG_RT_CONTAINERD);
    assert_string_equal(id.pod_uid, UID);
    assert_string_equal(path, "/system.slice/containerd.service/kubepods-besteffort-pod" UIDS
                              ".slice:cri-containerd:" ID);
}

static void test_proc_not_container(void **state)
{
    (void)state;
    vg_cg_ident_t id;
    char path[64] = "junk";
    const char *t = "9:name=systemd:/\n4:memory:/process_api/ca02032a58994dce47fd3121d8359930\n0::/\n";
    assert_int_equal(vg_cg_proc_parse(t, strlen(t), &id, path, sizeof path), 0);
    assert_int_equal(id.kind, VG_CG_KIND_NONE);
    assert_string_equal(path, "");
    t = "0::/system.slice/sshd.service\n";
    assert_int_equal(vg_cg_proc_parse(t, strlen(t), &id, path, sizeof path), 0);
    assert_int_equal(id.kind, VG_CG_KIND_SERVICE);
    assert_string_equal(id.service, "sshd.service");
    /* malformed */
    assert_int_equal(vg_cg_proc_parse("", 0, &id, NULL, 0), VG_EPARSE);
    t = "hello\nworld\n";
    assert_int_equal(vg_cg_proc_parse(t, strlen(t), &id, NULL, 0), VG_EPARSE);
    t = "garbage\n0::/docker/" ID "\n";
    assert_int_equal(vg_cg_proc_parse(t, strlen(t), &id, NULL, 0), 0);
    assert_int_equal(id.kind, VG_CG_KIND_CONTAINER);
}

static void test_proc_read_fixture(void **state)
{
    (void)state;
    vg_cg_ident_t id;
    char path[512];
    const char *root = "../fixtures/cgroup/proc";
    assert_int_equal(vg_cg_proc_read(root, 4242, &id, path, sizeof path), 0);
    assert_int_equal(id.kind, VG_CG_KIND_CONTAINER);
    assert_int_equal(id.qos, VG_CG_QOS_BURSTABLE);
    assert_string_equal(id.id, ID);
    assert_string_equal(id.pod_uid, UID);
    assert_string_equal(path, KPATH); /* the memory line */
    assert_int_equal(vg_cg_proc_read(root, 4343, &id, path, sizeof path), 0);
    assert_int_equal(id.runtime, VG_CG_RT_CONTAINERD);
    assert_int_equal(id.qos, VG_CG_QOS_BESTEFFORT);
    assert_string_equal(path, SPATH);
    assert_int_equal(vg_cg_proc_read(root, 99999, &id, path, sizeof path), VG_ENOTFOUND);
    assert_int_equal(id.kind, VG_CG_KIND_NONE);
    assert_int_equal(vg_cg_proc_read(root, 0, &id, path, sizeof path), VG_EINVAL);
    /* the real /proc: this process is not necessarily in a container, but
     * the file must read and parse */
    assert_int_equal(vg_cg_proc_read(NULL, (int)getpid(), &id, path, sizeof path), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_table),
        cmocka_unit_test(test_path_len_bounds),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_proc_v1),
        cmocka_unit_test(test_proc_v2),
        cmocka_unit_test(test_proc_hybrid),
        cmocka_unit_test(test_proc_not_container),
        cmocka_unit_test(test_proc_read_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
