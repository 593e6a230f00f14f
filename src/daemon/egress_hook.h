/* The daemon's side of the egress proxy (egress_hook.c). */
#pragma once
#include "airlock/backend.h"
#include "airlock/policy.h"

struct daemon;

/* One exec with the network: what its backend hook needs. Lives on daemon_exec's stack. */
struct egress_exec {
        struct daemon *ctx; /* NULL: not prepared (no network) */
        const struct policy_effective *eff;
        const char *agent;
        char exec_id[33];
        char *run_dir; /* bound there, or NULL */
        bool host_ns;  /* a host exec's namespace was made for it */
        char error[160];
        char **env; /* the exec's environment with the proxy variables (owned) */
        struct exec_egress hook;
};

int daemon_egress_start(struct daemon *d, struct al_error *err);
void daemon_egress_stop(struct daemon *d);
/* New rules from the policy now in force for every sandbox with egress; cuts what they
 * refuse. */
void daemon_egress_reload(struct daemon *d);
/* Give x the proxy's environment and the backend hook. -ENOMEM only. */
int daemon_egress_prepare(struct daemon *ctx, const struct policy_effective *eff, const char *agent,
                          const char *execution_id, char **req_env, struct egress_exec *ee,
                          struct exec_spec *x);
/* The exec ended: its refusals (and why it had no way out) go into res. */
void daemon_egress_finish(struct egress_exec *ee, struct exec_result *res);

/* A background process with the network keeps its way out after daemon_exec returns, until it
 * ends: the binding its sandbox's hook makes moves here as it is made, before any of the code
 * runs, and daemon_egress_release ends it. Lives with the process (heap). */
struct egress_keep {
        struct daemon *ctx;
        struct egress_exec *ee; /* the exec's, during the start only */
        char exec_id[33];
        char *run_dir; /* bound there, or NULL */
        struct exec_egress hook;
};

/* When x has the network (daemon_egress_prepare ran), route its hook through k. */
void daemon_egress_keep(struct egress_keep *k, struct exec_spec *x);
/* The process ended (or never started): no more connections for it. */
void daemon_egress_release(struct egress_keep *k);
