/* Private to api/: the routes and the helpers they share with the server. */
#pragma once
#include <sys/socket.h>

#include <microhttpd.h>

#include "airlock/api.h"

struct auth_identity; /* auth.h */
struct limiter;       /* limits.h */
struct e2b;           /* e2b.h */

/* What a request handler reaches: the core, and the API's own per-client limits. */
struct api {
        struct daemon *core;
        struct limiter *limiter; /* NULL on the monitor listener */
        /* The MCP listener ([mcp] listen, TCP): it serves /mcp only, and only to requests
         * with a bearer token, which alone says who calls (there are no peer credentials). */
        bool mcp_only;
        /* The E2B listener ([e2b] listen, TCP, docs/e2b.md): it serves the E2B API only, to
         * callers with an API key or a sandbox's access token; its sandboxes live here. */
        struct e2b *e2b;
};

/* Dispatch a request whose caller who (never NULL) was identified by the server. */
enum MHD_Result api_route(struct api *ctx, struct MHD_Connection *conn, const char *url,
                          const char *method, const char *body, size_t len,
                          const struct auth_identity *who);
/* Queue doc (reference stolen) as the JSON response with status. */
enum MHD_Result api_send_json(struct MHD_Connection *conn, unsigned status, json_t *doc);
/* The same, with more headers: headers is a NULL-terminated list of name, value pairs (NULL
 * for none). */
enum MHD_Result api_send_json_with(struct MHD_Connection *conn, unsigned status, json_t *doc,
                                   const char *const *headers);
/* Queue text (malloc'd, len bytes, ownership taken even on failure) with content_type and the
 * headers as above. Every reply of api/ is made here. */
enum MHD_Result api_send_text(struct MHD_Connection *conn, unsigned status, char *text, size_t len,
                              const char *content_type, const char *const *headers);
/* Queue {"error":{"code","message"}} with the status that fits code. */
enum MHD_Result api_send_error(struct MHD_Connection *conn, int code, const char *msg);
unsigned api_status_for(int code);
/* {"error":{"code","message"}} for an error code (new reference). */
json_t *api_error_doc(int code, const char *msg);
/* The same with the code's name given ("unauthorized", "not_found"). */
json_t *api_error_doc_named(const char *name, const char *msg);

/* The client connection's socket (borrowed), and its peer credentials. */
int api_connection_fd(struct MHD_Connection *conn);
void api_peer_of(struct MHD_Connection *conn, struct ucred *ret);
/* The live sandbox whose id starts with prefix (at least 12 characters, else -EINVAL) that
 * who may use: admins any, others their agents' (and SHARED ones when shared_ok). *ret_id and
 * *ret_agent (NULL for SHARED) are new strings. -ENOENT when none, so that others' ids cannot
 * be probed. */
int api_sandbox_of(struct api *ctx, const struct auth_identity *who, const char *prefix,
                   bool shared_ok, char **ret_id, char **ret_agent);

/* ---- ops.c: what the front ends do besides execs, with no HTTP (0 or < 0 with err) ---- */

/* The agents a listing may show (auth_agent_filter), *ret_rowwise when rows must be filtered
 * one by one (patterns). */
int api_listing_filter(const struct auth_identity *who, bool *ret_all, const char ***ret_names,
                       bool *ret_rowwise, struct al_error *err);
/* An optional agent (NULL: none) must be a valid name the caller may act as: else -EINVAL, or
 * 403 recorded by auth_refuse. what: "list the sandboxes of", ... */
int api_agent_allowed(struct api *ctx, const struct auth_identity *who, const char *what,
                      const char *agent, struct al_error *err);
/* The live sandboxes the caller may see, of agent (NULL: all); a new JSON array. */
json_t *api_sandboxes_list(struct api *ctx, const struct auth_identity *who, const char *agent);
/* Remove the sandbox whose id starts with id (of agent when not NULL); others' read as
 * unknown (-ENOENT). */
int api_sandbox_remove(struct api *ctx, const struct auth_identity *who, const char *id,
                       const char *agent, struct al_error *err);
/* End (agent, session): its SESSION sandboxes go; *ret is the answer (new reference). */
int api_session_end(struct api *ctx, const struct auth_identity *who, const char *agent,
                    const char *session, json_t **ret, struct al_error *err);
/* Sessions of agent (NULL: the caller's), ended ones too when ended; *ret a new array. */
int api_sessions_list(struct api *ctx, const struct auth_identity *who, const char *agent,
                      bool ended, json_t **ret, struct al_error *err);
/* Background processes of a sandbox: pid < 0 lists them ({"sandbox_id","processes"}), else
 * one with its output so far; kill ends one. *ret is a new reference. */
int api_procs_get(struct api *ctx, const struct auth_identity *who, const char *sandbox,
                  long long pid, json_t **ret, struct al_error *err);
int api_proc_kill(struct api *ctx, const struct auth_identity *who, const char *sandbox,
                  long long pid, json_t **ret, struct al_error *err);

/* ---- route_exec.c: one exec for a front end ---- */

/* Run the /v1/exec request body (len bytes) for who, whose connection is watch_fd (-1: none;
 * the exec is cancelled when it closes): parse, check against the policy, authorize, take an
 * exec slot, run through the core, log and count it. res is initialized here in every case
 * (clear it with exec_result_clear). Returns daemon_exec's result or the refusal, err set. */
int api_exec_run(struct api *ctx, const struct auth_identity *who, int watch_fd, const char *body,
                 size_t len, struct exec_result *res, struct al_error *err);
/* For a front end that builds its own request (E2B): check that who may run req as its agent
 * and take an exec slot (*ret_slot: one to give back with auth_exec_slot_leave), then run it
 * through the core with sink (its cancel_fd should be daemon_cancel_fd), logged and counted.
 * req must be checked against the policy (exec_request_check) by the caller first. */
int api_exec_admit(struct api *ctx, const struct auth_identity *who, const struct exec_request *req,
                   bool *ret_slot, struct al_error *err);
int api_exec_execute(struct api *ctx, const struct auth_identity *who,
                     const struct exec_request *req, const struct exec_sink *sink,
                     struct exec_result *res, struct al_error *err);
/* The result as /v1/exec answers it (new reference; NULL on allocation failure). */
json_t *api_exec_result_json(const struct exec_result *res, bool for_stream);

/* ---- the MCP front end (mcp.c, route_mcp.c) ---- */

/* Make a listening TCP socket on a validated loopback "host:port"; what names the setting
 * in messages ("[monitor] listen"). Returns the fd. */
int api_listen_tcp(const char *listen_addr, const char *what, struct al_error *err);

/* What a route handler gets: the path parameter (the {id} segment, or NULL) and the body. */
struct route_args {
        const char *param;
        const char *param2; /* the second {param} of routes that have one */
        const char *body;
        size_t len;
        /* The caller (auth.h); NULL on the monitor listener, whose routes do not need it. */
        const struct auth_identity *who;
};

#define ROUTE_HANDLER(name)                                                                        \
        enum MHD_Result name(struct api *ctx, struct MHD_Connection *conn,                         \
                             const struct route_args *args)

ROUTE_HANDLER(route_exec);
ROUTE_HANDLER(route_version);
ROUTE_HANDLER(route_policy_get);
ROUTE_HANDLER(route_policy_reload);
ROUTE_HANDLER(route_sandboxes_get);
ROUTE_HANDLER(route_sandbox_delete);
/* route_procs.c: background processes of a sandbox. */
ROUTE_HANDLER(route_procs_get);
ROUTE_HANDLER(route_proc_get);
ROUTE_HANDLER(route_proc_delete);
/* route_files.c: the files API, by sandbox id or by agent, session and runtime. */
ROUTE_HANDLER(route_files_download);
ROUTE_HANDLER(route_files_upload);
ROUTE_HANDLER(route_files_remove);
ROUTE_HANDLER(route_files_list);
ROUTE_HANDLER(route_files_stat);
ROUTE_HANDLER(route_files_mkdir);
ROUTE_HANDLER(route_files_move);
/* Run the sandbox handle's files helper with args (in as its stdin) and parse its JSON answer
 * (an object, at most cap bytes) into *ret (new reference); the front ends' one way to it. */
int api_files_run_json(struct api *ctx, const char *handle, const char *const *args, size_t cap,
                       const void *in, size_t in_len, json_t **ret, struct al_error *err);
/* The body cap of a request: uploads of the files API may be larger ([files] upload_mb). */
struct policy;
int64_t api_files_body_cap(const struct policy *pol, const char *url, const char *method);
ROUTE_HANDLER(route_session_end);
/* route_contexts.c: stateful code contexts. */
ROUTE_HANDLER(route_context_create);
ROUTE_HANDLER(route_contexts_get);
ROUTE_HANDLER(route_context_get);
ROUTE_HANDLER(route_context_delete);
ROUTE_HANDLER(route_context_restart);
ROUTE_HANDLER(route_context_interrupt);
ROUTE_HANDLER(route_sessions_get);
ROUTE_HANDLER(route_executions_get);
ROUTE_HANDLER(route_execution_get);
ROUTE_HANDLER(route_execution_egress_get);
/* route_tokens.c: admins only. */
ROUTE_HANDLER(route_token_create);
ROUTE_HANDLER(route_tokens_get);
ROUTE_HANDLER(route_token_delete);
/* health.c, metrics.c: also served by the monitor listener (monitor.c). */
ROUTE_HANDLER(route_health);
/* route_mcp.c: MCP's Streamable HTTP transport (POST /mcp). */
ROUTE_HANDLER(route_mcp);
ROUTE_HANDLER(route_metrics);
