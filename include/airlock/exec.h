/* What an exec asks for and what it produced: the shapes shared by the API, the backends
 * and the store. Request fields come from clients and are validated before anything runs. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airlock/buf.h"
#include "airlock/error.h"
#include "airlock/policy.h"

#define EXEC_NAME_MAX    64    /* agent and session names */
#define EXEC_ENV_MAX     128   /* env entries */
#define EXEC_ARGV_MAX    4096  /* argv entries */
#define EXEC_TIMEOUT_MAX 86400 /* absolute ceiling for timeout_s, whatever the policy */

struct exec_hook;

struct exec_request {
        char *agent;   /* validated name, defaults to "default" */
        char *session; /* validated name or NULL for a fresh one-off sandbox */
        char *runtime; /* runtime name or NULL for the policy default */
        char *code;    /* exactly one of code, argv, command */
        char **argv;
        char *command;
        char *stdin_data;
        size_t stdin_len;
        char **env;        /* "KEY=VALUE", NULL-terminated, may be NULL */
        int64_t timeout_s; /* 0 = policy default */
        int network;       /* -1 not given, 0, 1 */
        bool untrusted;
        bool stream;     /* NDJSON events wanted */
        bool background; /* start it as a background process of a kept sandbox */
        char *context;   /* run the code in this context (docs/contexts.md), or NULL */
        char *language;  /* run it in the default context of this language, or NULL */
        /* Set by the core, never parsed: runs in the kept sandbox instead of a plain exec. */
        const struct exec_hook *hook;
        /* Set by a front end, never parsed: > 0, more stdin is read from this fd (after
         * stdin_data) until it ends, for a client that writes while the code runs (the E2B
         * API's SendInput). Only the agent transport reads it; elsewhere stdin ends at once. */
        int stdin_fd;
        /* Who asked: set by the API from the connection, never parsed from the body. */
        int64_t peer_uid;
        int64_t peer_pid;
};

struct json_t;

/* The one parser of request bodies that must be a JSON object, for every route: duplicate keys
 * are refused (a client and airlockd must never read different values from one body). NUL in
 * strings only with allow_nul, for a caller whose fields refuse it themselves where it does not
 * belong. On success *ret owns a reference; on failure err says what is wrong (-EINVAL). */
int request_json_object(const char *body, size_t len, bool allow_nul, struct json_t **ret,
                        struct al_error *err);
/* Parse and validate a JSON request body. On failure err says what is wrong (-EINVAL). */
int exec_request_parse(const char *body, size_t len, struct exec_request *ret,
                       struct al_error *err);
/* Check the request against the policy (runtime known, timeout within the maximum, ...). */
int exec_request_check(const struct exec_request *req, const struct policy *pol,
                       struct al_error *err);
void exec_request_clear(struct exec_request *req);

/* Build the argv to run from the request and the runtime: code -> run prefix + code,
 * command -> shell prefix + command, argv as given. Caller frees with util_strv_free. */
int exec_request_argv(const struct exec_request *req, const struct runtime *rt, char ***ret,
                      struct al_error *err);

enum exec_stream { EXEC_STDOUT = 1, EXEC_STDERR = 2 };

struct exec_result;

/* Receives output as it arrives (for streaming); may be NULL. Returning < 0 aborts the exec. */
struct exec_sink {
        int (*output)(void *ctx, enum exec_stream stream, const char *data, size_t len);
        void *ctx;
        /* When >= 0, the exec is aborted if this fd (the client connection) hangs up. */
        int watch_fd;
        /* When > 0, the exec is killed (result aborted) once this fd turns readable: the
         * daemon's shutdown deadline passed. */
        int cancel_fd;
        /* Called once before the code runs, when the result's execution_id (and sandbox_id,
         * for a kept sandbox) are known; may be NULL. */
        void (*started)(void *ctx, const struct exec_result *res);
        /* A context's result (an object {kind, data}) as it comes (borrowed); may be NULL. */
        int (*result)(void *ctx, struct json_t *result);
};

struct exec_spec;

/* Runs instead of the exec in the kept sandbox handle the request's scope resolved to (the
 * contexts' cells and drivers): same policy, decision, audit and recovery as an exec. */
struct exec_hook {
        int (*run)(void *arg, const char *handle, const struct exec_spec *x,
                   const struct exec_sink *sink, struct exec_result *res, struct al_error *err);
        void *arg;
};

struct exec_result {
        char execution_id[33];
        int exit_code;       /* -1 when ended by a signal */
        int signal;          /* 0 when exited normally */
        struct buf out, err; /* capped captures */
        bool timed_out;
        bool oom_killed;
        bool aborted; /* the client went away */
        int64_t duration_ms;
        bool sandboxed;
        const char *backend; /* static string */
        char sandbox_id[80];
        /* This exec's sandbox had to be removed (why), or this exec runs in a fresh sandbox
         * made to replace a lost one (why that one was lost); empty otherwise. */
        char sandbox_lost[200];
        char sandbox_replaced[200];
        /* How a sandbox exec reached its sandbox: "agent" (the in-sandbox agent) or "engine"
         * (the engine's exec API: a sandbox without a live agent); NULL otherwise. */
        const char *transport;
        long long background_pid; /* > 0: started in the background, this is its pid */
        /* A context's cell: {id, language, execution_count, status, error, ...} and its
         * results (owned; NULL for a plain exec). */
        struct json_t *context;
        struct json_t *results;
        /* What the exec produced for a person to look at (docs/files.md): a JSON array of
         * artifacts (owned; NULL when none), and how many were past the cap. */
        struct json_t *artifacts;
        size_t artifacts_dropped;
        bool outputs; /* the sandbox says the exec left files in its outputs directory */
        /* With the network: what the egress proxy refused during the exec, a JSON array of
         * {host, port, reason} (owned; NULL without the network), and why the exec had no
         * way out at all ("" when it had one). */
        struct json_t *egress_denied;
        char egress_error[160];
        /* Run by a remote provider: which of the policy's limits the provider enforced and
         * which airlock did, locally ({"remote": [...], "local": [...], "template": [...]},
         * owned; NULL for local backends). */
        struct json_t *limits;
        /* The isolation tier of a sandboxed exec ("container", "gvisor"; static), or NULL. */
        const char *tier;
        /* Protections in force for this exec (static strings), e.g. "seccomp", "netns". */
        const char *isolation[24];
        size_t n_isolation;
        struct {
                const char *mode;
                bool sandboxed;
                char reason[160];
        } decision;
        /* This exec's sandbox was just made from a suspended one's snapshot (docs/suspend.md);
         * snapshot_lost: the snapshot could not be read, the sandbox started empty. */
        bool resumed, snapshot_lost;
};

void exec_result_init(struct exec_result *r, size_t output_cap);
void exec_result_clear(struct exec_result *r);
