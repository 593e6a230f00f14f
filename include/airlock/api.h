/* The daemon's HTTP/1.1 + JSON API on a UNIX socket, and the exec service behind it. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "airlock/backend.h"
#include "airlock/classify.h"
#include "airlock/engine.h"
#include "airlock/exec.h"
#include "airlock/policy.h"
#include "airlock/scope.h"
#include "airlock/store.h"
#include "airlock/workspace.h"

/* Everything a request may reach. Owned by airlockd's main; the API borrows it. */
struct airlock_ctx {
        pthread_rwlock_t policy_lock;
        struct policy *policy; /* current; take a reference with ctx_policy() */
        struct engine *engine;
        struct backend *containers; /* docker or podman */
        struct backend *host;       /* direct execution; NULL when unavailable */
        struct scope_registry *scopes;
        struct store *store;              /* the audit log and what must survive a restart */
        struct workspace_set *workspaces; /* the capped workspaces mounted by this run */
        struct rules_holder *rules;       /* SELECTIVE rules, swapped with the policy */
        char instance_id[33];
        char *seccomp_path;
        int64_t started_ms; /* wall clock at start, for metrics and health */
        /* Where the settings come from, and what the command line fixed for this run. */
        const char *config_path;
        const char *socket_override;
        const char *state_dir_override;
        char socket_dir[4096]; /* hidden from host execs */
        /* Reload bookkeeping (under policy_lock). */
        int64_t policy_loaded_ms;
        unsigned long reloads, reload_failures;
        char last_reload_error[512];
        /* Per-client rate and concurrency caps, exec slots (api/limits.h); made and freed
         * by the API server. */
        struct limiter *limiter;
        /* Execs in flight, for draining on shutdown. */
        pthread_mutex_t inflight_lock;
        pthread_cond_t inflight_done;
        int inflight;
        bool draining;
        int cancel_fd; /* eventfd written when the drain deadline passes: running execs end */
};

/* A new reference to the current policy; release with policy_unref. */
struct policy *ctx_policy(struct airlock_ctx *ctx);

/* The SELECTIVE rules in force, reference-counted like the policy they were loaded with. */
struct rules_holder {
        int refs;
        struct classify_rules *rules;
};
struct rules_holder *ctx_rules(struct airlock_ctx *ctx);
void rules_holder_unref(struct rules_holder *h);
/* Load the rules file into a new holder (refs = 1); problems as for the policy. */
int rules_holder_load(const char *path, struct rules_holder **ret, struct policy_problems *problems,
                      struct al_error *err);

/* Where a shipped policy file is: configured (when not empty), else the first readable of
 * /etc/airlock/NAME, the installed policies directory, the source tree's. Caller frees. */
char *ctx_policy_file(const char *configured, const char *name);

/* Load the settings file anew and swap it in whole, or change nothing. who says who asked
 * ("SIGHUP", "uid 0"). Problems (file:line) go to problems when not NULL. Settings that only
 * take effect at start (socket, state directory, engine) keep their running values. */
int ctx_reload_policy(struct airlock_ctx *ctx, const char *who, struct policy_problems *problems,
                      struct al_error *err);
/* Scope hooks that keep the store's sandbox records in step with the registry. */
struct scope_hooks ctx_scope_hooks(struct airlock_ctx *ctx);
/* Start-up: mark executions left running as aborted, adopt the AGENT and SHARED sandboxes the
 * store knows and the engine still runs, remove this instance's other containers. */
int ctx_recover(struct airlock_ctx *ctx, struct al_error *err);
/* Record the running policy as a revision (deduplicated by its hash). */
int ctx_record_policy(struct airlock_ctx *ctx, const char *who);

/* Apply the command line's overrides to a freshly loaded policy. */
int ctx_apply_overrides(struct airlock_ctx *ctx, struct policy *p, struct al_error *err);

/* Run one validated request: decide where it runs, find or make the sandbox, run it, fill
 * res. Errors are for when it could not run at all (bad request, engine down). */
int exec_service_run(struct airlock_ctx *ctx, const struct exec_request *req,
                     const struct exec_sink *sink, struct exec_result *res, struct al_error *err);

/* The result as the API's JSON object (stdout/stderr included unless for_stream). */
json_t *exec_result_to_json(const struct exec_result *res, bool for_stream);

struct api_server;

/* Serve on listen_fd (a bound, listening UNIX socket; ownership passes to the server). */
struct api_server *api_server_start(struct airlock_ctx *ctx, int listen_fd, struct al_error *err);
/* Stop accepting new connections (draining); requests in progress go on. */
void api_server_quiesce(struct api_server *s);
/* Stop serving and free; close every connection. */
void api_server_stop(struct api_server *s);

/* The monitor listener: GET /v1/health and GET /metrics only, read-only, on a loopback TCP
 * address ("127.0.0.1:9464", "[::1]:9464"; see policy_parse_listen). */
struct monitor_server;
struct monitor_server *monitor_start(struct airlock_ctx *ctx, const char *listen,
                                     struct al_error *err);
/* Stop serving and free; NULL is a no-op. */
void monitor_stop(struct monitor_server *m);

/* Make the listening socket at path: stale socket replaced, created under umask 0117, mode
 * 0660, group set when group is not NULL and exists. Returns the fd. */
int api_listen_unix(const char *path, const char *group, struct al_error *err);
