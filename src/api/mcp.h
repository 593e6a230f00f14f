/* Private to api/: the Model Context Protocol front end (docs/mcp.md). JSON-RPC 2.0 messages
 * in, JSON-RPC responses out; the transport (route_mcp.c: Streamable HTTP at /mcp, relayed
 * from stdio by `airlock mcp`) stays outside. Tools call what the v1 routes call (ops.c,
 * api_exec_run): MCP adds no way of running code of its own. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct api;           /* routes.h */
struct auth_identity; /* auth.h */
struct al_error;

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

/* One tool: its name, title, description and input schema (JSON text), and what it does
 * (returns a CallToolResult, or NULL with err: a tool error). */
struct mcp_tool {
        const char *name;
        const char *title;
        const char *description;
        const char *schema;
        json_t *(*call)(const struct mcp_caller *c, json_t *args, struct al_error *err);
        bool read_only;
};
struct mcp_tool_table {
        const struct mcp_tool *tools;
        size_t n;
};
extern const struct mcp_tool_table mcp_files_tools;    /* mcp_files.c */
extern const struct mcp_tool_table mcp_contexts_tools; /* mcp_contexts.c */

/* What the tools share (mcp_tools.c). Arguments are checked against the schema by hand, so
 * that a wrong one is told: each returns 0, or < 0 with err naming the argument. */
/* Every member of args must be one of names (NULL-terminated). */
int mcp_args_known(json_t *args, const char *const *names, struct al_error *err);
/* A string; *ret stays NULL when absent and optional. */
int mcp_arg_string(json_t *args, const char *name, bool required, const char **ret,
                   struct al_error *err);
/* A short name-like string (runtime, session, sandbox or context id). */
int mcp_arg_name(json_t *args, const char *name, bool required, const char **ret,
                 struct al_error *err);
int mcp_arg_int(json_t *args, const char *name, bool required, json_int_t min, json_int_t max,
                json_int_t *ret, struct al_error *err);
int mcp_arg_bool(json_t *args, const char *name, bool *ret, struct al_error *err);
/* A result: text for the model, doc (stolen; may be NULL) as structuredContent. */
json_t *mcp_tool_result(const char *text, json_t *doc, bool is_error);
/* A result whose text is the document (stolen) itself. */
json_t *mcp_doc_result(json_t *doc);
/* Run the /v1/exec request req (stolen) as /v1/exec runs it, for the caller: its output and
 * how it ended as text, images as image content, the exec result as structuredContent. */
json_t *mcp_run_exec(const struct mcp_caller *c, json_t *req, struct al_error *err);
