/* Builders for the Engine API bodies airlock sends. Pure functions: the hardening is fixed
 * here, from airlock's own list; only the values of a sandbox_spec (which the daemon derives
 * from the policy) vary. Nothing a client sends reaches these bodies. */
#pragma once
#include <jansson.h>

#include "airlock/backend.h"
#include "airlock/types.h"

/* Host hard limits the Ulimits must stay within (Podman refuses to start otherwise). */
struct host_ulimits {
        long long nofile;
        long long nproc;
};

/* Options that depend on the engine rather than on the sandbox. */
struct hostconfig_env {
        enum engine_kind kind;
        /* Docker takes the profile's text, Podman's compat API a path on the engine's host. */
        const char *seccomp_text;
        const char *seccomp_path;
        struct host_ulimits ulimits;
        /* Host path of airlock-exec, bind-mounted read-only at SANDBOX_EXEC_SHIM. */
        const char *exec_shim;
        /* Host path of airlock-agent, bind-mounted read-only at SANDBOX_AGENT; NULL: none. */
        const char *agent;
        /* A hosts file naming only localhost, bound read-only at /etc/hosts where the engine
         * would copy the host's (Podman): names are the egress proxy's to resolve. NULL: the
         * engine's own. */
        const char *hosts;
};

/* Body for POST /containers/create of a long-lived sandbox; execs run in it later. With
 * run_dir (a host directory for the agent's socket, bound at SANDBOX_RUN_DIR) and env->agent,
 * the sandbox's first process is the in-sandbox agent, as the exec user (docs/agent-protocol.md);
 * otherwise a keeper under an init. Returns a new reference or NULL on ENOMEM. */
json_t *hostconfig_sandbox_body(const struct sandbox_spec *spec, const struct hostconfig_env *env,
                                const char *run_dir);

/* Body for a one-off container that runs argv directly (attached, stdin open once). */
json_t *hostconfig_oneshot_body(const struct sandbox_spec *spec, const struct hostconfig_env *env,
                                const struct exec_spec *x);

/* Body for POST /containers/{id}/exec running x as the sandbox's exec user, through the exec
 * shim, which waits to be placed in the per-exec cgroup named cgroup_name first. */
json_t *hostconfig_exec_body(const struct sandbox_spec *spec, const struct exec_spec *x,
                             const char *cgroup_name);

/* The working directory and environment every sandbox process starts with. */
#define SANDBOX_WORKDIR    "/tmp"
#define SANDBOX_EXEC_SHIM  "/.airlock/exec"
#define SANDBOX_AGENT      "/.airlock/agent"
#define SANDBOX_RUN_DIR    "/.airlock/run"
#define SANDBOX_AGENT_SOCK SANDBOX_RUN_DIR "/agent.sock"
#define SANDBOX_PATH       "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
