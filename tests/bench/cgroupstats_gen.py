#!/usr/bin/env python3
"""Writes a cgroup v2 tree of N containers for tests/bench/cgroupstats.sh:
Kubernetes with the systemd driver (containerd, CRI-O and Docker scopes over
the three QoS classes, two containers per pod), plus a few systemd services
that are walked but not reported. Every container has the files a real
kubelet-managed container has, in the kernel's formats (cgroup-v2.rst,
psi.rst), with realistic sizes (memory.stat has the full key list).

  cgroupstats_gen.py DIR [N]"""
import os
import sys

MEMSTAT_KEYS = [
    "anon", "file", "kernel", "kernel_stack", "pagetables", "sec_pagetables", "percpu", "sock", "vmalloc",
    "shmem", "zswap", "zswapped", "file_mapped", "file_dirty", "file_writeback", "swapcached", "anon_thp",
    "file_thp", "shmem_thp", "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable",
    "slab_reclaimable", "slab_unreclaimable", "slab", "workingset_refault_anon", "workingset_refault_file",
    "workingset_activate_anon", "workingset_activate_file", "workingset_restore_anon", "workingset_restore_file",
    "workingset_nodereclaim", "pgscan", "pgsteal", "pgscan_kswapd", "pgscan_direct", "pgsteal_kswapd",
    "pgsteal_direct", "pgfault", "pgmajfault", "pgrefill", "pgactivate", "pgdeactivate", "pglazyfree",
    "pglazyfreed", "zswpin", "zswpout", "thp_fault_alloc", "thp_collapse_alloc",
]


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def cgdir(path):
    os.makedirs(path, exist_ok=True)
    write(os.path.join(path, "cgroup.procs"), "")


def container(path, i):
    cgdir(path)
    usage = 1000000 + i * 7919
    files = {
        "cgroup.procs": "%d\n%d\n" % (1000 + i, 2000 + i),
        "cgroup.events": "populated 1\nfrozen 0\n",
        "cpu.stat": "usage_usec %d\nuser_usec %d\nsystem_usec %d\ncore_sched.force_idle_usec 0\n"
                    "nr_periods %d\nnr_throttled %d\nthrottled_usec %d\nnr_bursts 0\nburst_usec 0\n"
                    % (usage, usage * 3 // 4, usage // 4, 500 + i, i % 17, (i % 17) * 1234),
        "cpu.max": ("%d 100000\n" % (50000 * (1 + i % 4))) if i % 3 else "max 100000\n",
        "cpu.weight": "100\n",
        "cpu.pressure": "some avg10=0.%02d avg60=0.00 avg300=0.00 total=%d\nfull avg10=0.00 avg60=0.00 "
                        "avg300=0.00 total=%d\n" % (i % 100, 12345 + i, 678 + i),
        "memory.current": "%d\n" % (50 * 2**20 + i * 4096),
        "memory.stat": "".join("%s %d\n" % (k, (n + 1) * 4096 * (1 + i % 50)) for n, k in enumerate(MEMSTAT_KEYS)),
        "memory.events": "low 0\nhigh 0\nmax %d\noom %d\noom_kill %d\noom_group_kill 0\n" % (i % 5, i % 3, i % 2),
        "memory.max": ("%d\n" % (256 * 2**20)) if i % 2 else "max\n",
        "memory.swap.current": "0\n",
        "memory.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=%d\nfull avg10=0.00 avg60=0.00 "
                           "avg300=0.00 total=%d\n" % (i, i // 2),
        "io.stat": "8:0 rbytes=%d wbytes=%d rios=%d wios=%d dbytes=0 dios=0\n"
                   "253:0 rbytes=%d wbytes=%d rios=%d wios=%d dbytes=0 dios=0\n"
                   % (i * 4096, i * 8192, i, 2 * i, i * 512, i * 1024, i, i),
        "io.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=%d\nfull avg10=0.00 avg60=0.00 "
                       "avg300=0.00 total=%d\n" % (3 * i, i),
        "pids.current": "%d\n" % (1 + i % 9),
        "pids.max": "max\n" if i % 4 else "4096\n",
    }
    for name, text in files.items():
        write(os.path.join(path, name), text)


def main():
    root = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    os.makedirs(root, exist_ok=True)
    write(os.path.join(root, "cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma misc\n")
    write(os.path.join(root, "cgroup.procs"), "1\n")
    for svc in ("sshd", "containerd", "kubelet", "systemd-journald", "cron"):
        cgdir(os.path.join(root, "system.slice", svc + ".service"))
    cgdir(os.path.join(root, "init.scope"))
    kp = os.path.join(root, "kubepods.slice")
    cgdir(kp)
    runtimes = ["cri-containerd", "crio", "docker"]
    for i in range(n):
        pod = i // 2
        qos = ("burstable", "besteffort", "")[pod % 3]
        uid = "%08x-%04x-4%03x-8%03x-%012x" % (pod, pod % 65536, pod % 4096, pod % 4096, pod)
        us = uid.replace("-", "_")
        if qos:
            parent = os.path.join(kp, "kubepods-%s.slice" % qos, "kubepods-%s-pod%s.slice" % (qos, us))
            cgdir(os.path.dirname(parent))
        else:
            parent = os.path.join(kp, "kubepods-pod%s.slice" % us)
        cgdir(parent)
        cid = ("%064x" % (0xc0ffee0000000000 + i * 2654435761))[-64:]
        container(os.path.join(parent, "%s-%s.scope" % (runtimes[i % 3], cid)), i)


if __name__ == "__main__":
    main()
