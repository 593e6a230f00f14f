/* The mount namespace plan of one exec: given the configuration and the exec's spec, the
 * ordered list of mount steps the child carries out (host_launch.c), and the isolation names
 * they earn. Pure but for two directory tests the caller may replace. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "airlock/backend.h"
#include "backend/host/host_internal.h"

#define HOST_PLAN_ISO_MAX 8

struct host_plan {
        struct host_mop mops[HOST_MOPS_MAX];
        size_t n_mops;
        char *strs[HOST_MOPS_MAX]; /* strings the steps point to, owned */
        size_t n_strs;
        const char *iso[HOST_PLAN_ISO_MAX]; /* static names, in the order earned */
        size_t n_iso;
};

/* What the plan asks of the file system; NULL in host_plan_mounts means the real one. */
struct host_plan_fs {
        bool (*is_dir)(const char *path);      /* stat: a directory, links followed */
        bool (*is_real_dir)(const char *path); /* lstat: a directory, not a link to one */
        /* Whether uid:gid may traverse the directory (by its mode bits); NULL: always. */
        bool (*searchable)(const char *path, uid_t uid, gid_t gid);
};

/* The steps, in order: every mount private; the workspace opened before anything covers it;
 * the host read-only; a minimal /dev; private tmpfs on /tmp, /var/tmp (and /dev/shm without
 * the minimal /dev); the host's /run and /var/run, the workspace root, a hidden workspace and
 * the configured hidden paths behind empty tmpfs (outermost only) — and the outermost directory
 * above the workspace the code's user cannot traverse (a private state directory) —, with the
 * workspace's mount
 * point made inside them; the workspace bound RO or RW; the hiding tmpfs remounted read-only;
 * a fresh /proc. want_ws: the exec gets spec->workspace_dir (absolute). On success *ret holds
 * the plan (free its strings with host_plan_clear); on failure nothing is returned. */
int host_plan_mounts(const struct host_cfg *c, const struct sandbox_spec *spec, bool want_ws,
                     const struct host_plan_fs *fs, struct host_plan *ret, struct al_error *err);
void host_plan_clear(struct host_plan *p);
/* Whether the step is a tmpfs that hides a directory (as opposed to a private /tmp). */
bool host_plan_hides(const struct host_mop *m);
