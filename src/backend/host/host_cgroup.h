/* Per-exec cgroups for the host backend, on cgroup v2 or v1 (whichever is mounted; on a hybrid
 * host the v1 controllers hold the limits and the unified hierarchy gives cgroup.kill). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <limits.h>

#include "airlock/error.h"
#include "airlock/types.h"

#define HOST_CG_MAX_DIRS 4
#define HOST_CG_NAME_MAX 96
#define HOST_CG_PATH_MAX 512 /* cgroup directories; PATH_MAX buffers hold them plus a file */

enum host_cg_mode { HOST_CG_NONE = 0, HOST_CG_V1, HOST_CG_V2 };

/* What the host offers, found once at start. */
struct host_cg_sys {
        enum host_cg_mode mode;
        bool memory, pids, cpu; /* controllers usable for limits */
        bool kill;              /* a cgroup2 hierarchy with cgroup.kill */
        bool memsw;             /* v1: memory.memsw.* (swap accounted) */
        char parent[64];
        /* Parent directories, one per hierarchy used (v1: memory, pids, cpu, unified). */
        char mem_dir[HOST_CG_PATH_MAX], pids_dir[HOST_CG_PATH_MAX], cpu_dir[HOST_CG_PATH_MAX],
            v2_dir[HOST_CG_PATH_MAX];
};

/* Detect the hierarchies and create the parent directories; mode NONE when nothing usable. */
int host_cg_detect(const char *parent, struct host_cg_sys *ret, struct al_error *err);

struct host_cg {
        char dirs[HOST_CG_MAX_DIRS][HOST_CG_PATH_MAX];
        int procs_fd[HOST_CG_MAX_DIRS]; /* cgroup.procs, O_WRONLY, for the child to join */
        int n;
        const struct host_cg_sys *sys;
        int mem_idx, pids_idx, cpu_idx, v2_idx; /* index into dirs or -1 */
        bool has_memory, has_pids, has_cpu;
};

enum {
        HOST_CG_SLOT = 1, /* for a spawner slot: always a cpu cgroup, no cgroup.kill one (it
                           * would kill the spawner too) */
};

/* Make the cgroups name under each hierarchy, with limits: memory_mb (no swap), max_processes
 * plus extra_pids (helpers that live in the cgroup too), cpu_cores when > 0. Opens the
 * cgroup.procs of each. */
int host_cg_create(const struct host_cg_sys *sys, const char *name, const struct limits *lim,
                   int64_t extra_pids, unsigned flags, struct host_cg *ret, struct al_error *err);
/* Set the limits again (a reused slot); values <= 0 lift a limit. */
int host_cg_set_limits(struct host_cg *cg, const struct limits *lim, int64_t extra_pids,
                       struct al_error *err);
/* How many processes are in the cgroup (pids or memory hierarchy); < 0 when unknown. */
int host_cg_count(const struct host_cg *cg);
/* Close the cgroup.procs fds (the child has joined). */
void host_cg_close_fds(struct host_cg *cg);
/* SIGKILL every process in the cgroups, never through a stale pid. */
void host_cg_kill(struct host_cg *cg);
/* The OOM kill counter (0 when unknown). */
uint64_t host_cg_oom_kills(const struct host_cg *cg);
/* Kill what is left, wait up to wait_ms for the cgroups to empty, remove them. */
int host_cg_destroy(struct host_cg *cg, int64_t wait_ms, struct al_error *err);
/* Remove the cgroups whose name starts with prefix (left by a daemon that crashed). Returns
 * how many were removed or < 0. */
int host_cg_remove_prefix(const struct host_cg_sys *sys, const char *prefix, struct al_error *err);
