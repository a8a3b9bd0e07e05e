#!/usr/bin/env python3
"""Real cgroups named like Kubernetes containers, for the k8sattributes tests.

Every test cgroup lives under TOP (e.g. vigil-k8s-test-1234) in each writable
hierarchy: the cgroup v1 controllers and named hierarchies (cpu, cpuacct,
memory, pids, blkio, systemd) and the v2 unified tree.

  k8s_cgroup.py hier                 print the hierarchies used (none: exit 1)
  k8s_cgroup.py exec TOP REL CMD...  create TOP/REL everywhere, move this process
                                     into it, then exec CMD (its children stay there)
  k8s_cgroup.py rm TOP               kill every process in TOP's cgroups, wait for
                                     them to leave, remove the cgroups (deepest first)
"""
import os
import signal
import sys
import time

ROOT = "/sys/fs/cgroup"
NAMES = ("cpu", "cpuacct", "memory", "pids", "blkio", "systemd", "unified")


def hierarchies():
    out = []
    for n in NAMES:
        p = os.path.join(ROOT, n)
        if os.access(os.path.join(p, "cgroup.procs"), os.W_OK):
            out.append(p)
    if not out and os.path.exists(os.path.join(ROOT, "cgroup.controllers")):
        out.append(ROOT)  # a pure v2 host
    return out


def do_exec(top, rel, cmd):
    pid = os.getpid()
    for h in hierarchies():
        d = os.path.join(h, top, rel)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "cgroup.procs"), "w") as f:
            f.write(str(pid))
    os.execvp(cmd[0], cmd)


def dirs_under(top):
    out = []
    for h in hierarchies():
        base = os.path.join(h, top)
        for d, subdirs, _ in os.walk(base):
            out.append(d)
    return out


def procs(d):
    try:
        with open(os.path.join(d, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def do_rm(top):
    ds = dirs_under(top)
    for _ in range(100):
        alive = {p for d in ds for p in procs(d)}
        if not alive:
            break
        for p in alive:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    failed = 0
    for d in sorted(ds, key=lambda x: -x.count("/")):
        try:
            os.rmdir(d)
        except OSError as e:
            print("k8s_cgroup: cannot remove %s: %s" % (d, e), file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    op = sys.argv[1]
    if op == "hier":
        hs = hierarchies()
        print("\n".join(hs))
        return 0 if hs else 1
    if op == "exec":
        do_exec(sys.argv[2], sys.argv[3], sys.argv[4:])
    if op == "rm":
        return do_rm(sys.argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
