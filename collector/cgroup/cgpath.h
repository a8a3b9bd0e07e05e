/* Container identity from cgroup paths: pure string parsing, no I/O, no
 * allocation (except vg_cg_proc_read, which reads one file into a stack buffer).
 *
 * Recognised layouts (the path may carry any prefix, e.g. a kind node's
 * "/docker/<id>/", and any suffix below the container, e.g. ".../container"):
 *   Kubernetes, cgroupfs driver   /kubepods/<qos>/pod<uid>/<id>
 *                                 /kubepods/pod<uid>/<id>                (Guaranteed)
 *                                 /kubepods/<qos>/pod<uid>/crio-<id>     (CRI-O)
 *   Kubernetes, systemd driver    /kubepods.slice/kubepods-<qos>.slice/
 *                                   kubepods-<qos>-pod<uid_with_underscores>.slice/
 *                                   {cri-containerd,crio,docker}-<id>.scope
 *                                 /kubepods.slice/kubepods-pod<uid>.slice/...  (Guaranteed)
 *   systemd driver, v1 named hierarchy seen by containerd outside its slice
 *                                 .../kubepods-<qos>-pod<uid>.slice:cri-containerd:<id>
 *   Docker                        /docker/<id>, /system.slice/docker-<id>.scope
 *   Podman                        /machine.slice/libpod-<id>.scope, rootless under
 *                                 /user.slice/user-N.slice/user@N.service/..., cgroupfs
 *                                 /libpod_parent/libpod-<id>
 *   nerdctl                       nerdctl-<id>.scope (runtime containerd)
 *   systemd services              /system.slice/<name>.service (leaf component)
 * Monitor scopes (crio-conmon-<id>.scope, libpod-conmon-<id>.scope) are not
 * containers. A pod-level cgroup (no container below it) is reported as
 * VG_CG_KIND_POD.
 *
 * Container ids: 12 to 64 hex digits (64 is what every runtime above writes;
 * shorter ids are accepted for runtimes and tools that truncate). Bare ids
 * (no runtime prefix) are only accepted under a pod or a "docker" / "lxc"
 * parent so that arbitrary hex directory names are not taken for containers. */
#ifndef VIGIL_CGROUP_CGPATH_H
#define VIGIL_CGROUP_CGPATH_H

#include <stddef.h>

typedef enum {
    VG_CG_RT_UNKNOWN = 0,
    VG_CG_RT_CONTAINERD,
    VG_CG_RT_CRIO,
    VG_CG_RT_DOCKER,
    VG_CG_RT_PODMAN,
} vg_cg_runtime_t;

typedef enum {
    VG_CG_QOS_NONE = 0, /* not a Kubernetes path */
    VG_CG_QOS_GUARANTEED,
    VG_CG_QOS_BURSTABLE,
    VG_CG_QOS_BESTEFFORT,
} vg_cg_qos_t;

typedef enum {
    VG_CG_KIND_NONE = 0,  /* nothing recognised */
    VG_CG_KIND_CONTAINER, /* id (and maybe pod) set */
    VG_CG_KIND_POD,       /* a pod's cgroup, above its containers: pod_uid, qos */
    VG_CG_KIND_SERVICE,   /* a systemd service: service set */
} vg_cg_kind_t;

/* flags */
#define VG_CG_F_K8S      0x1u /* under kubepods / kubepods.slice */
#define VG_CG_F_SYSTEMD  0x2u /* systemd unit names (kubepods.slice, <runtime>-<id>.scope) */
#define VG_CG_F_ROOTLESS 0x4u /* under a user slice (user@N.service) */

#define VG_CG_ID_MAX      64  /* hex digits */
#define VG_CG_UID_MAX     36  /* canonical 8-4-4-4-12 */
#define VG_CG_SERVICE_MAX 127

typedef struct {
    vg_cg_kind_t kind;
    vg_cg_runtime_t runtime;
    vg_cg_qos_t qos;
    unsigned flags;
    char id[VG_CG_ID_MAX + 1];           /* container id, lower-case hex; "" if none */
    char pod_uid[VG_CG_UID_MAX + 1];     /* with '-' (systemd '_' converted back); "" if none */
    char service[VG_CG_SERVICE_MAX + 1]; /* "sshd.service" for KIND_SERVICE; "" otherwise */
} vg_cg_ident_t;

/* Parse one cgroup path (len bytes, need not be NUL-terminated). Always fills
 * *out (zeroed first); out->kind says what was found. Returns 0, or VG_EINVAL
 * if path or out is NULL. */
int vg_cg_path_parse(const char *path, size_t len, vg_cg_ident_t *out);

/* Parse the text of /proc/<pid>/cgroup: v1 lines "N:ctrl,ctrl:/path", named
 * hierarchies "N:name=systemd:/path", the v2 line "0::/path", or a mix
 * (hybrid). The most specific identity wins (container > pod > service); on a
 * tie the v2 line, then the memory, cpu/cpuacct and pids lines, then file
 * order. If path_out is not NULL, the winning line's path is copied there
 * (NUL-terminated, truncated to path_cap - 1; "" if nothing was recognised).
 * Returns 0 (out->kind may be VG_CG_KIND_NONE), VG_EPARSE if no line has the
 * "id:controllers:path" shape, VG_EINVAL for NULL arguments. */
int vg_cg_proc_parse(const char *text, size_t len, vg_cg_ident_t *out, char *path_out, size_t path_cap);

/* Read <proc_root>/<pid>/cgroup (proc_root NULL means "/proc") and parse it
 * as vg_cg_proc_parse does. Uses open/read into a stack buffer, no allocation.
 * Returns 0, VG_ENOTFOUND if the process does not exist (any more), VG_EIO on
 * another read error, VG_EPARSE, VG_EINVAL (pid <= 0, NULL out, path too long). */
int vg_cg_proc_read(const char *proc_root, int pid, vg_cg_ident_t *out, char *path_out, size_t path_cap);

/* Static names: "containerd", "cri-o", "docker", "podman", "unknown";
 * "Guaranteed", "Burstable", "BestEffort" (the pod's status.qosClass
 * spelling), "" for VG_CG_QOS_NONE; "none", "container", "pod", "service". */
const char *vg_cg_runtime_name(vg_cg_runtime_t rt);
const char *vg_cg_qos_name(vg_cg_qos_t qos);
const char *vg_cg_kind_name(vg_cg_kind_t kind);

#endif
