/* MCP's JSON-RPC layer: initialize (version negotiation), ping, tools/list, tools/call; every
 * other method is "method not found", every malformed message an error in JSON-RPC's shape.
 * Stateless: no MCP session is kept between messages (the server issues no Mcp-Session-Id), so
 * nothing piles up however many clients come and go. */
#include "mcp.h"

#include <string.h>

#include "airlock/util.h"

const char *const mcp_protocol_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05",
                                             NULL};

bool mcp_protocol_supported(const char *version)
{
        for (size_t i = 0; version && mcp_protocol_versions[i]; i++)
                if (strcmp(version, mcp_protocol_versions[i]) == 0)
                        return true;
        return false;
}

json_t *mcp_error_response(json_t *id, int code, const char *msg)
{
        return json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(),
                         "error", "code", code, "message", msg);
}

static json_t *result_response(json_t *id, json_t *result)
{
        if (!result)
                return mcp_error_response(id, MCP_INTERNAL_ERROR, "out of memory");
        return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

static json_t *initialize(json_t *id, json_t *params)
{
        const char *asked = json_string_value(json_object_get(params, "protocolVersion"));

        if (!json_is_object(params) || !asked)
                return mcp_error_response(id, MCP_INVALID_PARAMS,
                                          "initialize needs params.protocolVersion (a string)");
        /* The client's revision when spoken here, else the newest: the client decides whether
         * it can live with that. */
        return result_response(
            id,
            json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s, s:s}, s:s}", "protocolVersion",
                      mcp_protocol_supported(asked) ? asked : mcp_protocol_versions[0],
                      "capabilities", "tools", "listChanged", 0, "serverInfo", "name", "airlock",
                      "title", "airlock sandboxes", "version", AIRLOCK_VERSION, "instructions",
                      "Runs code and shell commands in locked-down sandboxes (airlockd). "
                      "Use run_code or run_command; pass the same 'session' to keep files "
                      "and installed packages between calls, and end_session when done. "
                      "read_file, write_file, list_files, upload_file and download_file reach "
                      "the session's files; create_context and run_in_context keep a live "
                      "interpreter whose variables persist between runs."));
}

static json_t *tools_call(const struct mcp_caller *c, json_t *id, json_t *params)
{
        const char *name = json_string_value(json_object_get(params, "name"));
        json_t *args = json_object_get(params, "arguments"), *res;
        char msg[UTIL_QUOTE_SIZE + 32];

        if (!json_is_object(params) || !name)
                return mcp_error_response(id, MCP_INVALID_PARAMS,
                                          "tools/call needs params.name (a string)");
        if (args && !json_is_object(args) && !json_is_null(args))
                return mcp_error_response(id, MCP_INVALID_PARAMS,
                                          "params.arguments must be an object");
        res = mcp_tools_call(c, name, json_is_object(args) ? args : NULL);
        if (!res) {
                char q[UTIL_QUOTE_SIZE];

                snprintf(msg, sizeof(msg), "Unknown tool: '%s'", util_quote(q, sizeof(q), name));
                return mcp_error_response(id, MCP_INVALID_PARAMS, msg);
        }
        return result_response(id, res);
}

json_t *mcp_handle(const struct mcp_caller *c, json_t *msg)
{
        json_t *id = json_object_get(msg, "id"), *params = json_object_get(msg, "params");
        const char *method = json_string_value(json_object_get(msg, "method"));
        const char *version = json_string_value(json_object_get(msg, "jsonrpc"));

        if (!json_is_object(msg) || !version || strcmp(version, "2.0") != 0)
                return mcp_error_response(NULL, MCP_INVALID_REQUEST,
                                          "not a JSON-RPC 2.0 message (\"jsonrpc\":\"2.0\")");
        /* A response to a request of ours: the server sends none, so there is nothing to match
         * it with. */
        if (!json_object_get(msg, "method") &&
            (json_object_get(msg, "result") || json_object_get(msg, "error")))
                return NULL;
        if (!method)
                return mcp_error_response(json_is_string(id) || json_is_integer(id) ? id : NULL,
                                          MCP_INVALID_REQUEST, "\"method\" must be a string");
        /* A notification (initialized, cancelled, ...): nothing to answer. */
        if (!id)
                return NULL;
        if (!json_is_string(id) && !json_is_integer(id))
                return mcp_error_response(NULL, MCP_INVALID_REQUEST,
                                          "\"id\" must be a string or an integer");
        if (params && !json_is_object(params))
                return mcp_error_response(id, MCP_INVALID_PARAMS, "\"params\" must be an object");
        if (strcmp(method, "initialize") == 0)
                return initialize(id, params);
        if (strcmp(method, "ping") == 0)
                return result_response(id, json_object());
        if (strcmp(method, "tools/list") == 0)
                return result_response(id, mcp_tools_list());
        if (strcmp(method, "tools/call") == 0)
                return tools_call(c, id, params);
        return mcp_error_response(id, MCP_METHOD_NOT_FOUND, "Method not found");
}
