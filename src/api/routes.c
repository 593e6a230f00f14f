/* The v1 routes. Each handler validates, calls into the service and answers JSON. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/log.h"
#include "airlock/metrics.h"
#include "airlock/util.h"
#include "e2b.h"
#include "routes.h"

ROUTE_HANDLER(route_version)
{
        json_t *doc = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "version", AIRLOCK_VERSION, "api",
                                "v1", "instance", daemon_instance_id(ctx->core), "engine", "kind",
                                engine_kind_name(engine_kind(daemon_engine(ctx->core))), "socket",
                                engine_socket(daemon_engine(ctx->core)));

        return api_send_json(conn, MHD_HTTP_OK, doc);
}

static const struct route {
        const char *method;
        const char *prefix; /* the path, or its part before a trailing {param} */
        bool has_param;
        /* What follows the param, or "". A suffix ending in a star takes one more segment as
         * the second param: "/processes/" + star matches "/processes/42". */
        const char *suffix;
        ROUTE_HANDLER((*handler));
} routes[] = {
    {"POST", "/v1/exec", false, "", route_exec},
    {"GET", "/v1/version", false, "", route_version},
    {"GET", "/v1/policy", false, "", route_policy_get},
    {"POST", "/v1/policy/reload", false, "", route_policy_reload},
    {"GET", "/v1/sandboxes", false, "", route_sandboxes_get},
    {"DELETE", "/v1/sandboxes/", true, "", route_sandbox_delete},
    {"GET", "/v1/sandboxes/", true, "/processes", route_procs_get},
    {"GET", "/v1/sandboxes/", true, "/processes/*", route_proc_get},
    {"DELETE", "/v1/sandboxes/", true, "/processes/*", route_proc_delete},
    {"GET", "/v1/sandboxes/", true, "/files", route_files_download},
    {"PUT", "/v1/sandboxes/", true, "/files", route_files_upload},
    {"DELETE", "/v1/sandboxes/", true, "/files", route_files_remove},
    {"GET", "/v1/sandboxes/", true, "/files/list", route_files_list},
    {"GET", "/v1/sandboxes/", true, "/files/stat", route_files_stat},
    {"POST", "/v1/sandboxes/", true, "/files/mkdir", route_files_mkdir},
    {"POST", "/v1/sandboxes/", true, "/files/move", route_files_move},
    {"GET", "/v1/files", false, "", route_files_download},
    {"PUT", "/v1/files", false, "", route_files_upload},
    {"DELETE", "/v1/files", false, "", route_files_remove},
    {"GET", "/v1/files/list", false, "", route_files_list},
    {"GET", "/v1/files/stat", false, "", route_files_stat},
    {"POST", "/v1/files/mkdir", false, "", route_files_mkdir},
    {"POST", "/v1/files/move", false, "", route_files_move},
    {"POST", "/v1/sessions/", true, "/end", route_session_end},
    {"POST", "/v1/contexts", false, "", route_context_create},
    {"GET", "/v1/contexts", false, "", route_contexts_get},
    {"GET", "/v1/contexts/", true, "", route_context_get},
    {"DELETE", "/v1/contexts/", true, "", route_context_delete},
    {"POST", "/v1/contexts/", true, "/restart", route_context_restart},
    {"POST", "/v1/contexts/", true, "/interrupt", route_context_interrupt},
    {"GET", "/v1/sessions", false, "", route_sessions_get},
    {"GET", "/v1/executions", false, "", route_executions_get},
    {"GET", "/v1/executions/", true, "", route_execution_get},
    {"GET", "/v1/executions/", true, "/egress", route_execution_egress_get},
    {"POST", "/v1/tokens", false, "", route_token_create},
    {"GET", "/v1/tokens", false, "", route_tokens_get},
    {"DELETE", "/v1/tokens/", true, "", route_token_delete},
    {"GET", "/v1/health", false, "", route_health},
    {"GET", "/metrics", false, "", route_metrics},
    {"POST", "/mcp", false, "", route_mcp},
};

/* Match url against a route; a {param} is one non-empty segment, copied to param (and the
 * second one, for a suffix ending in a star, to param2). */
static bool route_match(const struct route *rt, const char *url, char *param, char *param2,
                        size_t len)
{
        size_t plen = strlen(rt->prefix), slen = strlen(rt->suffix), seg, seg2;
        bool two = slen >= 2 && strcmp(rt->suffix + slen - 2, "/*") == 0;
        const char *rest, *tail;

        if (!rt->has_param)
                return strcmp(url, rt->prefix) == 0;
        if (strncmp(url, rt->prefix, plen) != 0)
                return false;
        rest = url + plen;
        seg = strcspn(rest, "/");
        if (seg == 0 || seg >= len)
                return false;
        tail = rest + seg;
        if (!two) {
                if (strcmp(tail, rt->suffix) != 0 || (slen == 0 && *tail))
                        return false;
        } else {
                if (strncmp(tail, rt->suffix, slen - 1) != 0)
                        return false;
                tail += slen - 1;
                seg2 = strcspn(tail, "/");
                if (seg2 == 0 || seg2 >= len || tail[seg2])
                        return false;
                memcpy(param2, tail, seg2);
                param2[seg2] = '\0';
        }
        memcpy(param, rest, seg);
        param[seg] = '\0';
        return true;
}

enum MHD_Result api_route(struct api *ctx, struct MHD_Connection *conn, const char *url,
                          const char *method, const char *body, size_t len,
                          const struct auth_identity *who)
{
        char param[EXEC_NAME_MAX * 2 + 1], param2[EXEC_NAME_MAX * 2 + 1] = "";
        struct route_args args = {.body = body, .len = len, .who = who};
        bool path_known = false;

        if (ctx->e2b)
                return e2b_route(ctx, conn, url, method, body, len, who);
        /* The MCP listener serves MCP and nothing else. */
        if (ctx->mcp_only && strcmp(url, "/mcp") != 0)
                return api_send_error(conn, -ENOENT, "the MCP listener serves only /mcp");
        for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
                if (!route_match(&routes[i], url, param, param2, sizeof(param)))
                        continue;
                path_known = true;
                if (strcmp(method, routes[i].method) != 0)
                        continue;
                args.param = routes[i].has_param ? param : NULL;
                args.param2 = param2;
                return routes[i].handler(ctx, conn, &args);
        }
        if (path_known) {
                metrics_rejected("method_not_allowed");
                return api_send_json(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                                     json_pack("{s:{s:s, s:s}}", "error", "code",
                                               "method_not_allowed", "message",
                                               "this route does not take that method"));
        }
        return api_send_error(conn, -ENOENT, "no such route");
}
