/* Private to daemon/: the core object and what its files share. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "airlock/daemon.h"

/* What is known of one isolation tier (tiers.c): 0 unchecked, 1 in force, -1 unavailable. */
struct daemon_tier {
        int state;
        int64_t checked_ms;
        char why[AL_ERR_MSG_MAX];
};

struct daemon {
        pthread_rwlock_t policy_lock;
        struct policy *policy;      /* current; take a reference with daemon_policy() */
        struct rules_holder *rules; /* SELECTIVE rules, swapped with the policy */
        struct engine *engine;
        struct backend *containers; /* docker or podman */
        struct backend *host;       /* direct execution; NULL when unavailable */
        struct scope_registry *scopes;
        struct pool *pool;   /* warm sandboxes per runtime; NULL when none is started */
        struct store *store; /* the audit log and what must survive a restart */
        struct workspace_set *workspaces;  /* the capped workspaces mounted by this run */
        struct context_registry *contexts; /* contexts.c: live interpreters in sandboxes */
        struct egress *egress; /* the egress proxy; NULL when it could not start (no egress) */
        char instance_id[33];
        char *seccomp_path;
        int64_t started_ms; /* wall clock at start, for metrics and health */
        struct daemon_config cfg;
        char socket_dir[4096]; /* hidden from host execs */
        /* Reload bookkeeping (under policy_lock). */
        int64_t policy_loaded_ms;
        unsigned long reloads, reload_failures;
        char last_reload_error[512];
        /* Execs in flight, for draining on shutdown. */
        pthread_mutex_t inflight_lock;
        pthread_cond_t inflight_done;
        int inflight;
        bool draining;
        int cancel_fd; /* eventfd written when the drain deadline passes: running execs end */
        /* Isolation tiers (tiers.c), under tiers_lock. */
        pthread_mutex_t tiers_lock;
        struct daemon_tier tiers[ISOLATION_TIERS];
        pthread_t tiers_thread; /* the check at start of the tiers the policy uses */
        bool tiers_started;
        /* The idle-session reaper. */
        pthread_t reaper;
        bool reaper_started, reaper_stop;
        pthread_mutex_t reaper_lock;
        pthread_cond_t reaper_wake;
        /* Suspend and resume (suspend.c): the snapshots directory (-1 until opened), and
         * whether memory snapshots (CRIU) could be kept here, and why not. */
        int snap_dirfd;
        bool criu_ok;
        char criu_status[200];
};

/* exec_service.c: what a scope key names of spec: its image, and its tier when not the
 * container one (each tier its own sandboxes). Returns spec->image or buf. */
const char *daemon_scope_image(const struct sandbox_spec *spec, char *buf, size_t len);

/* tiers.c: 0 when tier t is in force (checked once with a probe sandbox made like like, again
 * after a while when it was not); -AL_E_TIER_UNAVAILABLE with why otherwise. */
int daemon_tier_ready(struct daemon *d, const struct sandbox_spec *like, enum isolation_tier t,
                      struct al_error *err);

/* tiers.c: the tiers pol uses (bits 1 << tier: its [sandbox] isolation, its agents', gvisor
 * pools and the SELECTIVE rules' gvisor rules); their check at start, in the background, and
 * its end (joined). */
void daemon_tiers_start(struct daemon *d);
void daemon_tiers_stop(struct daemon *d);

/* contexts.c: the registry of contexts (NULL on ENOMEM); free: NULL is a no-op. */
struct context_registry *contexts_registry_new(void);
void contexts_registry_free(struct context_registry *g);
/* exec_service.c: the sandbox spec for req under eff (the workspace made ready: its host
 * directory is *ret_workspace, a new string, NULL when none). */
int daemon_fill_spec(struct daemon *ctx, const struct policy_effective *eff,
                     const struct exec_request *req, const struct runtime *rt, bool host,
                     struct sandbox_spec *spec, char **ret_workspace, struct al_error *err);
/* files.c: an exec's artifacts. The environment of an exec that offers an outputs directory
 * (req_env and AIRLOCK_OUTPUTS_DIR; a new vector, NULL when artifacts are off), and the
 * collection after it, into res->artifacts (problems are logged, never the exec's failure). */
char **daemon_artifacts_env(const struct policy *pol, char *const *req_env,
                            const char *execution_id);
void daemon_artifacts_collect(struct daemon *ctx, const struct policy *pol, const char *handle,
                              struct exec_result *res);
/* daemon.c: give the pool pol's targets (start-up and reload). */
void daemon_pool_configure(struct daemon *ctx, const struct policy *pol);
/* reload.c: the command line's overrides on a freshly loaded policy. */
int daemon_apply_overrides(struct daemon *ctx, struct policy *p, struct al_error *err);
/* recover.c: record a live sandbox in the store (what adoption finds after a restart). */
int daemon_record_sandbox(struct daemon *ctx, const struct scope_info *info, struct al_error *err);
/* recover.c: scope hooks that keep the store's sandbox records in step with the registry. */
struct scope_hooks daemon_scope_hooks(struct daemon *ctx);
/* recover.c: record the running policy as a revision (deduplicated by its hash). */
int daemon_record_policy(struct daemon *ctx, const char *who);
/* reload.c: the host backend's options for pol, with the paths execs must not see. */
void daemon_host_options(struct daemon *ctx, const struct policy *pol, struct host_options *ret);
/* suspend.c: the snapshots directory and CRIU's detection (start-up); the registry's resume
 * hook; the reaper's round (idle suspends, retention); start-up settling (before adoption) and
 * recovery of suspends cut short (after it). */
int daemon_snapshots_open(struct daemon *d, struct al_error *err);
int daemon_snapshot_resume_hook(void *ctx, const struct scope_info *info, struct al_error *err);
void daemon_snapshots_tick(struct daemon *d, int64_t idle_suspend_s, int64_t retention_s);
int daemon_snapshots_settle(struct daemon *d, struct al_error *err);
int daemon_snapshots_recover(struct daemon *d, struct al_error *err);
