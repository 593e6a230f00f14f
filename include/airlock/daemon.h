/* The daemon core: the exec service, policy reload, start-up recovery, the audit log and the
 * registry of execs in flight, behind one opaque object. Every front end (the HTTP API in
 * src/api/, later MCP and an E2B-compatible API) calls this; none reaches past it. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "airlock/backend.h"
#include "airlock/classify.h"
#include "airlock/engine.h"
#include "airlock/error.h"
#include "airlock/exec.h"
#include "airlock/policy.h"
#include "airlock/scope.h"
#include "airlock/store.h"
#include "airlock/workspace.h"

struct daemon;

/* Where the settings come from, and what the command line fixed for this run. Borrowed: the
 * strings must outlive the daemon. */
struct daemon_config {
        const char *config_path; /* NULL: built-in defaults, nothing to reload */
        const char *socket_override;
        const char *state_dir_override;
};

/* A core for the loaded policy pol (the reference passes to the daemon, also on failure),
 * with the command line's overrides applied. Nothing is started: see daemon_start, or
 * daemon_attach for tests. Free with daemon_free. */
struct daemon *daemon_new(const struct daemon_config *cfg, struct policy *pol,
                          struct al_error *err);

/* Start the core: state directory and instance id, workspaces, the engine and both backends,
 * the SELECTIVE rules, the scope registry, the store, recovery of what a previous run left
 * (daemon_recover), and the idle-session reaper. */
int daemon_start(struct daemon *d, struct al_error *err);

/* The parts of a core, for a front end's tests or an embedding that makes its own backends.
 * Ownership of each non-NULL member passes to the daemon. */
struct daemon_parts {
        const char *instance_id; /* 32 hex characters; copied */
        struct engine *engine;
        struct backend *containers;
        struct backend *host;
        struct store *store;
        struct workspace_set *workspaces;
        struct rules_holder *rules;
};
/* Take the parts and make the scope registry over parts->containers. */
int daemon_attach(struct daemon *d, const struct daemon_parts *parts, struct al_error *err);

/* Wind down: stop the reaper, remove SESSION sandboxes (AGENT and SHARED ones are kept for the
 * next start, which adopts them) and this instance's other containers. */
void daemon_stop(struct daemon *d);
/* Free everything the daemon owns (after daemon_stop, for a started one); NULL is a no-op. */
void daemon_free(struct daemon *d);

/* ---- the policy in force ---- */

/* A new reference to the current policy; release with policy_unref. */
struct policy *daemon_policy(struct daemon *d);

/* The SELECTIVE rules in force, reference-counted like the policy they were loaded with. */
struct rules_holder {
        int refs;
        struct classify_rules *rules;
};
struct rules_holder *daemon_rules(struct daemon *d);
void rules_holder_unref(struct rules_holder *h);
/* Load the rules file into a new holder (refs = 1); problems as for the policy. */
int rules_holder_load(const char *path, struct rules_holder **ret, struct policy_problems *problems,
                      struct al_error *err);

/* Log each problem as "<path>:<line>: <message>" at error level (for a file that did not load). */
void daemon_log_problems(const char *path, const struct policy_problems *pp);
/* Load the settings file anew and swap it in whole, or change nothing. who says who asked
 * ("SIGHUP", "uid 0"). Problems (file:line) go to problems when not NULL. Settings that only
 * take effect at start (socket, state directory, engine) keep their running values. */
int daemon_reload(struct daemon *d, const char *who, struct policy_problems *problems,
                  struct al_error *err);

/* Start-up: mark executions left running as aborted, adopt the AGENT and SHARED sandboxes the
 * store knows and the engine still runs, remove this instance's other containers. */
int daemon_recover(struct daemon *d, struct al_error *err);

/* ---- execs ---- */

/* Run one validated request: decide where it runs, find or make the sandbox, run it, record
 * it, fill res. Errors are for when it could not run at all (bad request, engine down). */
int daemon_exec(struct daemon *d, const struct exec_request *req, const struct exec_sink *sink,
                struct exec_result *res, struct al_error *err);

/* Count an exec in flight; false when the daemon is draining (then nothing is counted). */
bool daemon_inflight_enter(struct daemon *d);
void daemon_inflight_leave(struct daemon *d);
/* Drain (shutdown): refuse new execs, let running ones finish for seconds, then kill them
 * through the cancel descriptor and wait a little more. True when none is left. */
bool daemon_drain(struct daemon *d, int64_t seconds);
/* The eventfd written when the drain deadline passes; a sink's cancel_fd. */
int daemon_cancel_fd(struct daemon *d);

/* ---- what front ends read (borrowed; valid until daemon_free) ---- */

const char *daemon_instance_id(struct daemon *d);
struct engine *daemon_engine(struct daemon *d);      /* NULL when started without one */
struct backend *daemon_containers(struct daemon *d); /* docker or podman */
/* Each isolation tier's state (docs/isolation.md): {"gvisor": {"state": "available" |
 * "unavailable" | "unchecked", "reason"}, ...}, a new object. */
json_t *daemon_tiers_json(struct daemon *d);
/* The tiers pol uses (bits 1 << tier). */
unsigned daemon_tiers_used(struct daemon *d, const struct policy *pol);
struct backend *daemon_host(struct daemon *d); /* NULL when unavailable */
struct scope_registry *daemon_scopes(struct daemon *d);
struct pool *daemon_pool(struct daemon *d);   /* NULL when no pool runs */
struct store *daemon_store(struct daemon *d); /* NULL when none */
struct workspace_set *daemon_workspaces(struct daemon *d);
const char *daemon_seccomp_path(struct daemon *d);

/* Figures for health and metrics, read at once. */
struct daemon_gauges {
        int64_t started_ms;       /* wall clock at start */
        int64_t policy_loaded_ms; /* last successful reload, 0 when none */
        unsigned long reloads, reload_failures;
        char last_reload_error[512];
        int inflight;
        bool draining;
};
void daemon_gauges(struct daemon *d, struct daemon_gauges *ret);

/* ---- suspend and resume (daemon/suspend.c, docs/suspend.md) ---- */

/* Suspend the sandbox whose id starts with id_prefix (agent, when not NULL, must own it): its
 * snapshot written and recorded, then the sandbox removed. *ret: {id, state, snapshot_bytes,
 * duration_ms}. -ENOENT, -EBUSY (in use), -ENOSPC (the agent's snapshot quota), -AL_E_TOO_LARGE
 * (cap), -EOPNOTSUPP (memory snapshots asked for, unavailable); the sandbox stays live on error. */
int daemon_suspend(struct daemon *d, const char *id_prefix, const char *agent, json_t **ret,
                   struct al_error *err);
/* Suspended sandboxes as listing rows (state "suspended"), all or agent's (new reference). */
json_t *daemon_snapshots_list(struct daemon *d, const char *agent);
/* Delete the suspended sandbox whose id starts with id_prefix (agent, when not NULL, must own
 * it). -ENOENT when none. */
int daemon_snapshot_remove(struct daemon *d, const char *id_prefix, const char *agent,
                           struct al_error *err);
/* Delete the snapshots of one session of agent; returns how many. */
int daemon_snapshots_end_session(struct daemon *d, const char *agent, const char *session);
/* Health's snapshots section: count, bytes, settings, CRIU's availability (new reference). */
json_t *daemon_snapshots_health(struct daemon *d);
