/* Per-exec cgroups inside a sandbox's cgroup: an exec's first process is placed in a cgroup of
 * its own before it runs the code, so every process it starts is born there whatever it does
 * (setsid, nohup, double forks), and the exec can be ended whole without touching the
 * sandbox or its other execs. cgroup v1 uses the freezer hierarchy (freeze, kill, thaw), v2
 * the unified one (cgroup.kill). Processes stay in the sandbox's other controllers, so they
 * still count against its memory, pids and CPU limits.
 *
 * Only the daemon (root on the host) writes these files; nothing inside a sandbox can move a
 * process out of its cgroup. Private to the backends. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "airlock/error.h"

/* Prefix of every per-exec cgroup's name, so adoption can find and end what is left. */
#define EXEC_CGROUP_PREFIX "al-"
/* Name length: prefix + 24 hex + NUL. */
#define EXEC_CGROUP_NAME_MAX 32

struct exec_cgroup;

/* The directory where per-exec cgroups of the sandbox whose first process is host pid
 * init_pid are made: its freezer cgroup (v1) or its unified cgroup (v2). *ret_dir is a new
 * string. */
int exec_cgroup_root(long long init_pid, char **ret_dir, struct al_error *err);

/* A fresh random name (EXEC_CGROUP_PREFIX + hex) into out (EXEC_CGROUP_NAME_MAX bytes). */
void exec_cgroup_name(char *out);

/* Make the cgroup root/name. Caller frees with exec_cgroup_free. */
int exec_cgroup_new(const char *root, const char *name, struct exec_cgroup **ret,
                    struct al_error *err);
/* Move the process host pid into it. */
int exec_cgroup_place(struct exec_cgroup *c, long long pid, struct al_error *err);
/* Processes in it now; < 0 when it cannot be read (gone with its sandbox). */
int exec_cgroup_count(struct exec_cgroup *c);
/* End every process in it, fork bombs included: 0 when it is empty within within_ms,
 * -ETIMEDOUT when something survived, -ENOENT when the cgroup is gone (the sandbox with it). */
int exec_cgroup_kill(struct exec_cgroup *c, int64_t within_ms);
/* Remove the (empty) cgroup and free; NULL is a no-op. Call exec_cgroup_kill first. */
void exec_cgroup_free(struct exec_cgroup *c);

/* End and remove every per-exec cgroup under root (what an earlier daemon left running).
 * Returns how many were removed, < 0 when one could not be emptied. */
int exec_cgroup_sweep(const char *root, int64_t within_ms);
