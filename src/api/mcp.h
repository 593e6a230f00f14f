/* Private to api/: the Model Context Protocol front end (docs/mcp.md). JSON-RPC 2.0 messages
 * in, JSON-RPC responses out; the transport (route_mcp.c: Streamable HTTP at /mcp, relayed
 * from stdio by `airlock mcp`) stays outside. Tools call what the v1 routes call (ops.c,
 * api_exec_run): MCP adds no way of running code of its own. */
#pragma once
#include <stdbool.h>

#include <jansson.h>

struct api;           /* routes.h */
struct auth_identity; /* auth.h */

/* JSON-RPC 2.0 error codes. */
#define MCP_PARSE_ERROR      -32700
#define MCP_INVALID_REQUEST  -32600
#define MCP_METHOD_NOT_FOUND -32601
#define MCP_INVALID_PARAMS   -32602
#define MCP_INTERNAL_ERROR   -32603

/* The MCP protocol revisions spoken, newest first; the first is offered to a client asking
 * for one that is not here. */
extern const char *const mcp_protocol_versions[];
bool mcp_protocol_supported(const char *version);

/* Who calls, and on whose behalf the tools act. Borrowed for one message. */
struct mcp_caller {
        struct api *ctx;
        const struct auth_identity *who;
        const char *agent;   /* the agent the tools act as: the token's, ?agent=, "default" */
        const char *session; /* the default session of run_code/run_command, or NULL */
        int watch_fd;        /* the client connection: an exec is cancelled when it closes */
};

/* Answer one JSON-RPC message (an object; borrowed). Returns the response (new reference), or
 * NULL when none is due (a notification, or a response from the client). */
json_t *mcp_handle(const struct mcp_caller *c, json_t *msg);

/* {"jsonrpc":"2.0","id":id,"error":{"code","message"}}; id is borrowed (NULL: null). */
json_t *mcp_error_response(json_t *id, int code, const char *msg);

/* ---- tools (mcp_tools.c) ---- */

/* tools/list's result: {"tools":[...]} (new reference). */
json_t *mcp_tools_list(void);
/* Call tool name with arguments (an object or NULL). Returns a CallToolResult (new
 * reference): a failure of the tool is a result with isError. NULL when no such tool. */
json_t *mcp_tools_call(const struct mcp_caller *c, const char *name, json_t *args);
