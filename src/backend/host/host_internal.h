/* Shared between the host backend's files: the configuration an exec runs with
 * (host_config.c), the pool of spawner slots (host_pool.c), and one exec (host_run.c). */
#pragma once
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <sys/capability.h>

#include "airlock/host_backend.h"
#include "backend/host/host_cgroup.h"
#include "backend/host/host_launch.h"
#include "backend/host/host_seccomp.h"

/* Everything an exec needs from the settings, immutable once built, reference-counted so
 * that a reload never changes it under a running exec. */
struct host_cfg {
        atomic_int refs;
        uid_t uid;
        gid_t gid;
        char *user;
        struct host_filter filter;
        struct sock_fprog fprog;
        bool has_filter;
        size_t n_denied;
        bool nnp, drop_caps;
        bool netns, mountns, pidns, ipcns, cgroup; /* wanted and available */
        bool ro_root, private_tmp, mount_proc;
        bool minimal_dev, hide_run; /* with the mount namespace, when the host allows */
        struct host_cg_sys cg;
        struct host_probe probe;
        int64_t rl_cpu, rl_as, rl_fsize, rl_nofile, rl_nproc;
        int64_t prestart;
        char *workspace_root;
        char *hide[HOST_HIDE_MAX + 1];
        char *protected_dirs[HOST_HIDE_MAX + 3]; /* exe dir, workspace root, hide paths */
        char *default_path;
        int cap_last;
};

/* Build a configuration from the options (probing the host, loading the seccomp deny list);
 * *ret gets the only reference. */
int host_cfg_new(const struct host_options *o, struct host_cfg **ret, struct al_error *err);
struct host_cfg *host_cfg_ref(struct host_cfg *c);
/* host_cfg_unref(NULL) is a no-op. */
void host_cfg_unref(struct host_cfg *c);
static inline void host_cfg_unrefp(struct host_cfg **c)
{
        host_cfg_unref(*c);
}
/* The per-configuration part of a launch: user, capabilities, seccomp. */
void host_cfg_template(const struct host_cfg *c, struct host_launch *l);

#define HOST_INSTANCE_MAX    40
#define HOST_SLOT_EXTRA_PIDS 2 /* the spawner and the exec's init live in a slot's cgroups */

/* A spawner sitting in its own cgroups, reused exec after exec. */
struct host_slot {
        struct host_slot *next;
        struct host_cfg *cfg; /* the configuration the spawner was made with */
        char instance[HOST_INSTANCE_MAX + 1];
        struct host_cg cg;
        int sock;  /* request channel */
        int pidfd; /* the spawner */
        pid_t pid;
        uint64_t oom_base; /* the OOM counter before the current exec */
};

struct host_pool {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        pthread_t thread;
        bool started, stop;
        size_t target;  /* slots to keep (ready + in use) */
        size_t n_total; /* slots alive */
        struct host_slot *ready;
        struct host_cfg *cfg; /* what new slots are made with (the latest asked for) */
        char instance[HOST_INSTANCE_MAX + 1];
        int failures;
};

void host_pool_init(struct host_pool *p);
/* Stop the refill thread and remove every idle slot (none may be in use). */
void host_pool_fini(struct host_pool *p);
/* A ready slot made with cfg for instance, or NULL (the caller launches directly). The first
 * call starts the refill thread; target is how many slots to keep. */
struct host_slot *host_pool_take(struct host_pool *p, struct host_cfg *cfg, const char *instance,
                                 size_t target);
/* After an exec: back to the ready list when only the spawner is left in it, else removed. */
void host_pool_put(struct host_pool *p, struct host_slot *s);
/* Remove a slot that must not serve again. */
void host_pool_drop(struct host_pool *p, struct host_slot *s);
/* Remove every idle slot (instance NULL: all), e.g. on reload or remove_instance. */
void host_pool_clear(struct host_pool *p, const char *instance);
/* Set the exec's limits on a slot and note its OOM counter. */
int host_slot_prepare(struct host_slot *s, const struct limits *lim, struct al_error *err);

/* Run one exec with cfg (the caller's reference is taken over) and pool's slots; fills res.
 * sandbox_id names the sandbox in the result. */
int host_run(struct host_pool *pool, struct host_cfg *cfg, const struct sandbox_spec *spec,
             const struct exec_spec *x, const struct exec_sink *sink, struct exec_result *res,
             const char *sandbox_id, struct al_error *err);
