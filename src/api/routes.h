/* Private to api/: the routes and the helpers they share with the server. */
#pragma once
#include <sys/socket.h>

#include <microhttpd.h>

#include "airlock/api.h"

struct auth_identity; /* auth.h */
struct limiter;       /* limits.h */

/* What a request handler reaches: the core, and the API's own per-client limits. */
struct api {
        struct daemon *core;
        struct limiter *limiter; /* NULL on the monitor listener */
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
ROUTE_HANDLER(route_session_end);
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
ROUTE_HANDLER(route_metrics);
