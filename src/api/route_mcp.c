/* /mcp: MCP's Streamable HTTP transport (protocol revision 2025-06-18 and its neighbours).
 * A client POSTs one JSON-RPC message; a request is answered with one application/json
 * response, a notification or a response with 202 and no body. The server opens no SSE stream
 * (GET is 405, which the transport allows) and keeps no MCP session. Every refusal here is a
 * JSON-RPC error document, the shape MCP clients read. */
#include <string.h>
#include <strings.h>

#include "airlock/cleanup.h"
#include "airlock/log.h"
#include "airlock/metrics.h"
#include "airlock/util.h"
#include "auth.h"
#include "mcp.h"
#include "routes.h"

static enum MHD_Result send_rpc(struct MHD_Connection *conn, unsigned status, json_t *doc)
{
        return api_send_json(conn, status, doc);
}

static enum MHD_Result refuse(struct MHD_Connection *conn, unsigned status, int code,
                              const char *msg, const char *counted_as)
{
        metrics_rejected(counted_as);
        return send_rpc(conn, status, mcp_error_response(NULL, code, msg));
}

/* A browser page must not drive the daemon (DNS rebinding): a request that says where it
 * comes from must come from this machine. Clients that are not browsers send no Origin. */
static bool origin_ok(const char *origin)
{
        static const char *const local[] = {"http://localhost",  "http://127.0.0.1",
                                            "http://[::1]",      "https://localhost",
                                            "https://127.0.0.1", "https://[::1]"};

        if (!origin)
                return true;
        for (size_t i = 0; i < ARRAY_SIZE(local); i++) {
                size_t n = strlen(local[i]);

                if (strncmp(origin, local[i], n) == 0 && (origin[n] == '\0' || origin[n] == ':'))
                        return true;
        }
        return false;
}

static bool header_has(struct MHD_Connection *conn, const char *name, const char *what)
{
        const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

        return v && strcasestr(v, what);
}

ROUTE_HANDLER(route_mcp)
{
        const char *agent, *session, *proto;
        struct mcp_caller c = {.ctx = ctx, .who = args->who, .watch_fd = api_connection_fd(conn)};
        json_error_t jerr;
        json_t *msg, *reply;
        enum MHD_Result ret;

        if (!origin_ok(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin")))
                return refuse(conn, 403, MCP_INVALID_REQUEST,
                              "Origin not allowed: airlockd serves MCP to local clients only",
                              "forbidden");
        if (!header_has(conn, "Accept", "application/json") && !header_has(conn, "Accept", "*/*"))
                return refuse(conn, 406, MCP_INVALID_REQUEST,
                              "Not Acceptable: the client must accept application/json",
                              "invalid_request");
        if (!header_has(conn, "Content-Type", "application/json"))
                return refuse(conn, 415, MCP_INVALID_REQUEST,
                              "Unsupported Media Type: the body must be application/json",
                              "invalid_request");
        proto = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "MCP-Protocol-Version");
        if (proto && !mcp_protocol_supported(proto))
                return refuse(conn, 400, MCP_INVALID_REQUEST,
                              "Bad Request: unsupported MCP-Protocol-Version", "invalid_request");
        /* The agent the tools act as: a token names it; else ?agent= (airlock mcp --agent). */
        agent = args->who->token
                    ? args->who->token_agent
                    : MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "agent");
        session = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "session");
        if ((agent && !util_name_valid(agent, EXEC_NAME_MAX)) ||
            (session && !util_name_valid(session, EXEC_NAME_MAX)))
                return refuse(conn, 400, MCP_INVALID_REQUEST,
                              "?agent= and ?session= must be names of [A-Za-z0-9._-]",
                              "invalid_request");
        c.agent = agent ? agent : "default";
        c.session = session;

        msg = json_loadb(args->body, args->len, 0, &jerr);
        if (!msg)
                return refuse(conn, 400, MCP_PARSE_ERROR, "Parse error: the body is not JSON",
                              "invalid_request");
        /* Batches left JSON-RPC over MCP in revision 2025-06-18; one message per POST keeps
         * every request under the same caps as one /v1 request. */
        if (json_is_array(msg)) {
                json_decref(msg);
                return refuse(conn, 400, MCP_INVALID_REQUEST,
                              "Invalid Request: batches are not supported; send one message "
                              "per POST",
                              "invalid_request");
        }
        reply = mcp_handle(&c, msg);
        json_decref(msg);
        if (!reply)
                return api_send_text(conn, 202, strdup(""), 0, "application/json", NULL);
        ret = send_rpc(conn, MHD_HTTP_OK, reply);
        return ret;
}
