/* The provider-neutral backend interface: Docker and Podman (docker backend), the host
 * (direct, natively hardened) and, later, gVisor and cloud providers plug in behind it.
 * A backend turns a sandbox spec into a live sandbox and runs execs in it; the caller owns
 * which sandbox serves which scope (scope/) and never passes client fields to the engine
 * except through these fixed structures. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "airlock/error.h"
#include "airlock/exec.h"
#include "airlock/types.h"

struct sandbox_spec {
        const char *image;
        struct limits limits;
        bool network; /* false: no network at all */
        const char *agent;
        const char *session;         /* may be NULL (one-off) */
        const char *instance_id;     /* the daemon instance, put in a label */
        const char *keeper_user;     /* "uid:gid" of the sandbox's init/keeper */
        const char *exec_user;       /* "uid:gid" the code runs as */
        const char *seccomp_profile; /* path of a Docker-format profile */
        enum policy_workspace workspace;
        const char *workspace_dir; /* host directory, NULL when NONE */
        enum policy_scope scope;   /* recorded in a label */
        /* A remote provider ([provider "NAME"]) that makes this sandbox, image then being its
         * template (E2B), image ARN (AWS) or disk image id (Azure); NULL for the local engine
         * (docs/providers.md). */
        const char *provider;
        /* The provider-side idle policy: suspend a sandbox idle this long, and end one
         * suspended this long (0: the provider's default). Local engines ignore both. */
        int64_t idle_suspend_s;
        int64_t retention_s;
        /* The isolation tier (docs/isolation.md); a backend that cannot make it fails rather
         * than make a weaker one. */
        enum isolation_tier isolation;
};

/* Where a workspace appears inside a sandbox. */
#define SANDBOX_WORKSPACE "/workspace"

struct exec_spec {
        char **argv; /* NULL-terminated, argv[0] non-empty */
        char **env;  /* "K=V", NULL-terminated, may be NULL */
        const char *stdin_data;
        size_t stdin_len;
        int stdin_fd; /* > 0: more stdin from this fd until it ends (exec_request.stdin_fd) */
        int64_t timeout_ms;
        const char *workdir; /* NULL: the backend's default */
        /* The exec has the network: the backend calls open with the sandbox's run directory
         * (NULL when it has none: no way out) and exec user ("uid:gid") before the code runs.
         * NULL: no network. */
        const struct exec_egress *egress;
        /* sandbox_exec calls this once, after the exec's process exists and before any of the
         * code runs: the daemon records the exec there, while the sandbox forks, instead of
         * before asking. < 0 ends the exec unrun with that error (err filled). NULL: none;
         * other operations ignore it. */
        int (*before_run)(void *ctx, struct al_error *err);
        void *before_run_ctx;
        /* run_once calls this after the exec, before its one-off sandbox is removed, with the
         * sandbox's handle: the daemon collects the exec's artifacts there. A backend that
         * cannot keep the sandbox that long ignores it. NULL: none. */
        void (*after_run)(void *ctx, const char *handle, struct exec_result *res);
        void *after_run_ctx;
};

struct exec_egress {
        int (*open)(void *ctx, const char *run_dir, const char *exec_user, struct al_error *err);
        /* For code run on the host: a network namespace (fd, the caller closes it) whose
         * loopback leads to the proxy, for the exec to join; -1 with no error when there is no
         * way out (the exec then runs in an empty namespace of its own). */
        int (*netns)(void *ctx, int *ret_fd, struct al_error *err);
        void *ctx;
};

struct backend;

/* A background process ended: res holds its outcome (exit, signal, outputs so far, duration).
 * Called once, from a thread of the backend; res is valid during the call only. */
struct proc_hooks {
        void (*done)(void *ctx, const struct exec_result *res);
        void *ctx;
        int cancel_fd;     /* > 0: end the process when it turns readable (shutdown) */
        size_t output_cap; /* per stream */
};

/* At most this many background processes are remembered per sandbox (running or ended; the
 * oldest ended ones are forgotten first). */
#define BACKEND_PROCS_MAX 32

struct backend_ops {
        const char *name; /* "docker", "podman", "host" */
        /* Create and start a long-lived sandbox; *ret_handle is a new string naming it. */
        int (*sandbox_create)(struct backend *b, const struct sandbox_spec *spec, char **ret_handle,
                              struct al_error *err);
        /* Run one exec in a live sandbox, filling res (exit code, outputs, flags). A timeout,
         * OOM or signal is a result, not an error; errors are for when it could not run. */
        int (*sandbox_exec)(struct backend *b, const char *handle, const struct exec_spec *x,
                            const struct exec_sink *sink, struct exec_result *res,
                            struct al_error *err);
        /* Start x in the background in a live sandbox and return at once with its process
         * id (its pid inside the sandbox). It runs until it exits, is killed, or the sandbox
         * ends; hooks->done reports the end. May be NULL (no background processes). */
        int (*proc_start)(struct backend *b, const char *handle, const struct exec_spec *x,
                          const struct proc_hooks *hooks, long long *ret_pid, struct al_error *err);
        /* The sandbox's background processes as a JSON array (new reference): pid, command,
         * started, state (running, exited, killed), exit_code, signal. With pid >= 0, only that
         * one as an object, with its output so far; NULL with -ENOENT when unknown. */
        json_t *(*proc_list)(struct backend *b, const char *handle, long long pid,
                             struct al_error *err);
        /* End a background process (its whole tree); -ENOENT when unknown. */
        int (*proc_kill)(struct backend *b, const char *handle, long long pid,
                         struct al_error *err);
        /* Contexts (docs/contexts.md), whose driver is background process pid: connect to its
         * socket sock_name in the sandbox's agent directory (the listener must be that very
         * process), and send it a signal. May be NULL (no contexts). */
        int (*ctx_connect)(struct backend *b, const char *handle, long long pid,
                           const char *sock_name, int *ret_fd, struct al_error *err);
        int (*proc_signal)(struct backend *b, const char *handle, long long pid, int sig,
                           struct al_error *err);
        /* Contexts kept by the provider itself (E2B's code interpreter), for sandboxes without
         * airlock's drivers (docs/providers.md). ctx_remote_create makes a context of language
         * ("python", "node", "bash") in the sandbox, its id into ret_id (64 bytes).
         * ctx_remote_run runs code in context id: output to sink and res; each result
         * ({kind, data}) to sink->result and into *ret_results (a new array); the cell's end
         * into *ret_done ({status, execution_count?, error?}, new; NULL when the stream ended
         * without one). x's timeout and the sink's fds end the cell (res->timed_out,
         * res->aborted). Both may be NULL. */
        int (*ctx_remote_create)(struct backend *b, const char *handle, const char *language,
                                 char *ret_id, struct al_error *err);
        int (*ctx_remote_run)(struct backend *b, const char *handle, const char *id,
                              const char *code, const struct exec_spec *x,
                              const struct exec_sink *sink, struct exec_result *res,
                              json_t **ret_results, json_t **ret_done, struct al_error *err);
        /* 0 when this backend can make sandboxes of tier t (the engine has what it takes), or
         * < 0 with err saying why not. Whether the tier is then really in force is checked
         * inside a sandbox by the daemon (daemon/tiers.c). NULL: the container tier only. */
        int (*tier_supported)(struct backend *b, enum isolation_tier t, struct al_error *err);
        /* The sandbox files helper's verbs (args as after "--files", src/agent/files.c) served
         * by the backend itself, not by the helper run in the sandbox (a provider's own file
         * service): res gets what the helper's exec would have given (stdout bounded by
         * res->out.max, the error document and exit status 1 on a file's failure); < 0 with
         * err when the backend failed; 1 when this sandbox's files are the helper's. May be
         * NULL (the helper's). */
        int (*files_remote)(struct backend *b, const char *handle, const char *const *args,
                            const void *in, size_t in_len, struct exec_result *res,
                            struct al_error *err);
        /* What health reports of the backend's sandboxes (a new JSON object), e.g. how many
         * have no live in-sandbox agent. May be NULL. */
        json_t *(*status)(struct backend *b);
        /* Run one exec in a fresh sandbox made for it and removed after it. */
        int (*run_once)(struct backend *b, const struct sandbox_spec *spec,
                        const struct exec_spec *x, const struct exec_sink *sink,
                        struct exec_result *res, struct al_error *err);
        /* 1 when the sandbox is live and usable, 0 when gone or stopped, < 0 on error. */
        int (*sandbox_alive)(struct backend *b, const char *handle, struct al_error *err);
        /* Stop and remove; an absent sandbox is not an error. */
        int (*sandbox_remove)(struct backend *b, const char *handle, struct al_error *err);
        /* Take back a live sandbox made by an earlier run (start-up reconciliation); spec is
         * what it was made from. -ENOENT when it is gone or not running. May be NULL. */
        int (*sandbox_adopt)(struct backend *b, const char *handle, const struct sandbox_spec *spec,
                             struct al_error *err);
        /* Suspend a live sandbox (the provider keeps its memory and disk, no compute runs) and
         * resume it: E2B pause/connect, AWS Lambda MicroVMs Suspend/ResumeMicrovm, Azure
         * Container Apps Sandboxes suspend/resume (docs/providers.md). -ENOENT when gone,
         * -EOPNOTSUPP when this provider refuses. May be NULL (not offered: local engines). */
        int (*sandbox_suspend)(struct backend *b, const char *handle, struct al_error *err);
        int (*sandbox_resume)(struct backend *b, const char *handle, struct al_error *err);
        /* Remove what the daemon instance left that this backend does not hold as live
         * (orphans after a crash; one-offs at shutdown). Adopted and created sandboxes stay. */
        int (*remove_instance)(struct backend *b, const char *instance_id, struct al_error *err);
        void (*free)(struct backend *b);
};

struct backend {
        const struct backend_ops *ops;
        void *priv;
};

void backend_free(struct backend *b);

/* A background process as proc_list shows it (a new object): pid, command, started_ms, state
 * ("running", "exited", "killed"); once ended, exit_code, signal, duration_ms from res; with
 * with_output, its stdout and stderr so far (sanitized to UTF-8) and whether bytes were
 * dropped. NULL on ENOMEM. */
json_t *backend_proc_json(long long pid, const char *command, int64_t started_ms, const char *state,
                          const struct exec_result *res, bool with_output);
