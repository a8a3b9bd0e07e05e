#!/usr/bin/env python3
"""Test cgroups named like Kubernetes containers, for the anomaly live tests
(tests/component/anomaly_cgroups.sh, anomaly_steady.sh). Needs root.

  anomaly_cgroup.py hier                      the hierarchies used, "v1 PATH" / "v2 PATH" per line
  anomaly_cgroup.py create REL [--pids-max N] mkdir REL in every hierarchy (and set pids.max)
  anomaly_cgroup.py exec REL CMD ARGS...      move this process into REL everywhere, then exec CMD
  anomaly_cgroup.py cleanup BASE              kill every task under /BASE, remove the cgroups
  anomaly_cgroup.py work MODE TRIGGER         a workload (run it through exec):
      cpu     idle until TRIGGER exists, then burn one CPU for 8 s, then idle
      pids    idle until TRIGGER exists, then fork sleeping children until the pids limit stops it
      mem     idle until TRIGGER exists, then allocate 8 MiB every 0.25 s up to 256 MiB, and hold
      steady  from the start: ~10% of a CPU in 2 ms slices, 32 MiB held, nothing else changes

Hierarchies: on a v2 host the root; otherwise the v1 controllers the
cgroupstats receiver reads (cpu, cpuacct, memory, pids, blkio; co-mounted ones
once) plus the unified tree of a hybrid host."""
import os
import signal
import sys
import time

CG = "/sys/fs/cgroup"


def hierarchies():
    if os.path.exists(os.path.join(CG, "cgroup.controllers")):
        return [("v2", CG)]
    out, seen = [], set()
    for c in ("cpu", "cpuacct", "cpu,cpuacct", "memory", "pids", "blkio"):
        p = os.path.join(CG, c)
        if not os.path.exists(os.path.join(p, "cgroup.procs")):
            continue
        r = os.path.realpath(p)
        if r in seen:
            continue
        seen.add(r)
        out.append(("v1", r))
    u = os.path.join(CG, "unified")
    if os.path.exists(os.path.join(u, "cgroup.controllers")):
        out.append(("v2", u))
    return out


def create(rel, pids_max):
    for view, h in hierarchies():
        path = h + rel
        os.makedirs(path, exist_ok=True)
        if view == "v2" and h == CG:  # v2 host: delegate controllers down (best effort)
            parts = rel.strip("/").split("/")
            p = h
            for part in parts:
                for c in ("cpu", "memory", "pids", "io"):
                    try:
                        with open(os.path.join(p, "cgroup.subtree_control"), "w") as f:
                            f.write("+" + c)
                    except OSError:
                        pass
                p = os.path.join(p, part)
        if pids_max is not None and os.path.exists(os.path.join(path, "pids.max")):
            with open(os.path.join(path, "pids.max"), "w") as f:
                f.write(str(pids_max))


def enter(rel):
    for _, h in hierarchies():
        with open(h + rel + "/cgroup.procs", "w") as f:
            f.write(str(os.getpid()))


def tasks_under(path):
    pids = set()
    for dirpath, _, files in os.walk(path):
        if "cgroup.procs" in files:
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    pids.update(int(x) for x in f.read().split())
            except OSError:
                pass
    return pids


def cleanup(base):
    hs = hierarchies()
    for _ in range(20):
        pids = set()
        for _, h in hs:
            pids |= tasks_under(os.path.join(h, base))
        pids.discard(os.getpid())
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.1)
    ok = True
    for _, h in hs:
        top = os.path.join(h, base)
        if not os.path.isdir(top):
            continue
        for dirpath, dirs, _ in sorted(os.walk(top), key=lambda t: -t[0].count("/")):
            for i in range(50):  # memcg offlining can make rmdir briefly EBUSY
                try:
                    os.rmdir(dirpath)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
            if os.path.isdir(dirpath):
                print("WARNING: could not remove " + dirpath, file=sys.stderr)
                ok = False
    return 0 if ok else 1


def wait_for(trigger):
    while not os.path.exists(trigger):
        time.sleep(0.1)


def work(mode, trigger):
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if mode == "cpu":
        wait_for(trigger)
        t0 = time.time()
        x = 0
        while time.time() - t0 < 8:
            for i in range(10000):
                x += i * i
        while True:
            time.sleep(1)
    elif mode == "pids":
        wait_for(trigger)
        kids = 0
        while kids < 10000:
            try:
                pid = os.fork()
            except OSError:  # EAGAIN: the pids limit
                break
            if pid == 0:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                while True:
                    time.sleep(1000)
            kids += 1
        with open(trigger + ".forked", "w") as f:
            f.write("%d\n" % kids)
        while True:
            time.sleep(1)
    elif mode == "mem":
        wait_for(trigger)
        held = []
        while len(held) < 32:
            held.append(b"\x01" * (8 << 20))
            time.sleep(0.25)
        while True:
            time.sleep(1)
    elif mode == "steady":
        held = b"\x02" * (32 << 20)
        x = 0
        while True:
            t = time.perf_counter()
            while time.perf_counter() - t < 0.002:
                x += 1
            time.sleep(0.018)
        del held
    else:
        print("unknown mode " + mode, file=sys.stderr)
        return 2
    return 0


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    cmd = sys.argv[1]
    if cmd == "hier":
        for view, h in hierarchies():
            print(view, h)
        return 0
    if cmd == "create":
        pm = None
        if len(sys.argv) > 4 and sys.argv[3] == "--pids-max":
            pm = int(sys.argv[4])
        create(sys.argv[2], pm)
        return 0
    if cmd == "exec":
        enter(sys.argv[2])
        os.execvp(sys.argv[3], sys.argv[3:])
    if cmd == "cleanup":
        return cleanup(sys.argv[2].strip("/"))
    if cmd == "work":
        return work(sys.argv[2], sys.argv[3])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
