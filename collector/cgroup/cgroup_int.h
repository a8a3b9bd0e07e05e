/* Internal to collector/cgroup: the root handle shared by cgroup.c (open,
 * walk) and cgstat.c (reading). Not for use outside this folder. */
#ifndef VIGIL_CGROUP_CGROUP_INT_H
#define VIGIL_CGROUP_CGROUP_INT_H

#include "cgroup.h"

/* Sources of files: the unified tree and the v1 controllers. */
enum { CG_SRC_V2 = 0, CG_SRC_CPU, CG_SRC_CPUACCT, CG_SRC_MEMORY, CG_SRC_BLKIO, CG_SRC_PIDS, CG_SRC_COUNT };

struct vg_cg_root {
    vg_cg_mode_t mode;
    int fd[CG_SRC_COUNT];   /* O_PATH directory descriptors; -1 if absent */
    int alias[CG_SRC_COUNT]; /* first source with the same directory (co-mounted
                               controllers, e.g. cpu,cpuacct), else itself */
    int index;               /* source the walk lists and whose liveness counts */
    uint64_t ns_per_tick;    /* 1e9 / sysconf(_SC_CLK_TCK) */
    char *root;              /* vg_malloc'd */
    char *index_dir;         /* vg_malloc'd */
};

#endif
