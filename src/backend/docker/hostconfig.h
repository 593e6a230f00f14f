/* Builders for the Engine API bodies airlock sends. Pure functions: the hardening is fixed
 * here, from airlock's own list; only the values of a sandbox_spec (which the daemon derives
 * from the policy) vary. Nothing a client sends reaches these bodies. */
#pragma once
#include <jansson.h>

#include "airlock/backend.h"
#include "airlock/files.h"
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
        /* The gvisor tier's profile (Docker): the same but for clone3, let through to gVisor's
         * kernel, which answers ENOSYS itself (runsc turns the profile's ENOSYS into EPERM, and
         * libc falls back to clone on ENOSYS only). NULL: seccomp_text. */
        const char *seccomp_text_gvisor;
        struct host_ulimits ulimits;
        /* Host path of airlock-exec, bind-mounted read-only at SANDBOX_EXEC_SHIM. */
        const char *exec_shim;
        /* Host path of airlock-agent, bind-mounted read-only at SANDBOX_AGENT; NULL: none. */
        const char *agent;
        /* Host directory of airlock's in-sandbox library (the context driver), bound
         * read-only at SANDBOX_LIB with the agent; NULL: none. */
        const char *lib_dir;
        /* Host directory of airlock's Python shims, bound read-only at SANDBOX_PYSHIMS; NULL:
         * none (no plot artifacts). */
        const char *pyshims;
        /* A hosts file naming only localhost, bound read-only at /etc/hosts where the engine
         * would copy the host's (Podman): names are the egress proxy's to resolve. NULL: the
         * engine's own. */
        const char *hosts;
};

/* The gvisor tier's variant of a Docker-format profile (see seccomp_text_gvisor), a new string;
 * NULL when text is not such a profile. */
char *hostconfig_seccomp_gvisor(const char *text);

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

/* The gvisor tier (docs/isolation.md): the runtime contrib/runsc.sh registers with Docker
 * (runsc with --network=none --oci-seccomp --host-uds=all), and the host tasks of runsc's own
 * in the container's pids cgroup: ~42 for the Sentry and gofer, and ~6 more for each process
 * of the code (a stub process and Sentry threads, on the ptrace platform). The host limit has
 * room for max_processes processes of the code; past it runsc cannot make a task and the whole
 * sandbox ends (gVisor 20221219 has no limit of its own that works: its RLIMIT_NPROC refuses
 * every new thread). */
#define HOSTCONFIG_GVISOR_RUNTIME        "airlock-runsc"
#define HOSTCONFIG_GVISOR_PIDS_HEADROOM  100
#define HOSTCONFIG_GVISOR_TASKS_PER_PROC 6

/* The host pids limit of a gvisor-tier sandbox whose code may have max_processes processes. */
long long hostconfig_gvisor_pids(long long max_processes);

/* The engine runtime of tier t, from airlock's own table (never from a request); NULL: the
 * engine's default (runc). */
const char *hostconfig_runtime(enum isolation_tier t);

/* The working directory and environment every sandbox process starts with. */
#define SANDBOX_WORKDIR "/tmp"
/* The install home (docs/files.md): HOME, the working directory without a workspace, where
 * pip --user and npm put packages; a tmpfs that allows executing (native extensions load),
 * sized out of the sandbox's disk_mb with /tmp. */
#define SANDBOX_HOME FILES_AREA_HOME
/* Airlock's Python shims (artifacts: the matplotlib backend, the PIL viewer), read-only. */
#define SANDBOX_PYSHIMS      "/.airlock/python"
#define SANDBOX_EXEC_SHIM    "/.airlock/exec"
#define SANDBOX_AGENT        "/.airlock/agent"
#define SANDBOX_RUN_DIR      "/.airlock/run"
#define SANDBOX_LIB          "/.airlock/lib"
#define SANDBOX_NODE_PRELOAD SANDBOX_LIB "/airlock_node_proxy.js"
#define SANDBOX_AGENT_SOCK   SANDBOX_RUN_DIR "/agent.sock"
#define SANDBOX_PATH                                                                               \
        SANDBOX_HOME                                                                               \
        "/.local/bin:" SANDBOX_HOME "/.npm-global/bin:" SANDBOX_HOME                               \
        "/node_modules/.bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The environment every sandbox process starts with (NULL-terminated): HOME and the package
 * managers' places in the install home. */
extern const char *const hostconfig_base_env[];

/* The sizes (KiB) of /tmp and of the install home, which together make the disk limit. */
void hostconfig_disk_split(int64_t disk_mb, long long *ret_tmp_kb, long long *ret_home_kb);
