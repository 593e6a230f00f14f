/* The MCP tools of code contexts (docs/contexts.md, docs/mcp.md): a live interpreter that
 * keeps its state between runs. Each tool calls what the /v1/contexts routes call (ops.c);
 * a cell runs as POST /v1/exec with "context" runs (mcp_run_exec). The tools see the contexts
 * of the MCP caller's agent only: another agent's context id reads as unknown. */
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/contexts.h"
#include "mcp.h"
#include "routes.h"

static json_t *create_context(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        static const char *const names[] = {"language", "session", "runtime", NULL};
        struct context_request req = {.agent = (char *)c->agent};
        const char *language, *session, *runtime;
        json_t *doc = NULL;
        int l;

        if (mcp_args_known(args, names, err) < 0 ||
            mcp_arg_name(args, "language", false, &language, err) < 0 ||
            mcp_arg_name(args, "session", false, &session, err) < 0 ||
            mcp_arg_name(args, "runtime", false, &runtime, err) < 0)
                return NULL;
        l = context_language_parse(language ? language : "python");
        if (l < 0) {
                al_err(err, -EINVAL, "argument 'language' must be python, node or bash");
                return NULL;
        }
        req.language = (enum context_language)l;
        req.session = (char *)(session ? session : c->session);
        req.runtime = (char *)runtime;
        if (api_context_create(c->ctx, c->who, &req, &doc, err) < 0)
                return NULL;
        return mcp_doc_result(doc);
}

static json_t *run_in_context(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        static const char *const names[] = {"context_id", "code", "timeout_s", NULL};
        const char *id, *code;
        json_int_t timeout = 0;
        json_t *req;

        if (mcp_args_known(args, names, err) < 0 ||
            mcp_arg_name(args, "context_id", true, &id, err) < 0 ||
            mcp_arg_string(args, "code", true, &code, err) < 0 ||
            mcp_arg_int(args, "timeout_s", false, 1, 86400, &timeout, err) < 0 ||
            api_context_find(c->ctx, c->who, id, c->agent, err) < 0)
                return NULL;
        req = json_pack("{s:s, s:s, s:s}", "agent", c->agent, "context", id, "code", code);
        if (req && timeout && json_object_set_new(req, "timeout_s", json_integer(timeout)) < 0) {
                json_decref(req);
                req = NULL;
        }
        if (!req) {
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
        return mcp_run_exec(c, req, err);
}

static json_t *list_contexts(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        static const char *const names[] = {NULL};
        json_t *rows;

        if (mcp_args_known(args, names, err) < 0 ||
            api_agent_allowed(c->ctx, c->who, "list the contexts of", c->agent, err) < 0)
                return NULL;
        rows = api_contexts_list(c->ctx, c->who, c->agent);
        return mcp_doc_result(rows ? json_pack("{s:o}", "contexts", rows) : NULL);
}

typedef int (*context_op)(struct api *ctx, const struct auth_identity *who, const char *id,
                          const char *agent, json_t **ret, struct al_error *err);

/* interrupt_context, restart_context, delete_context: one context_id, one call. */
static json_t *on_context(const struct mcp_caller *c, json_t *args, context_op op,
                          struct al_error *err)
{
        static const char *const names[] = {"context_id", NULL};
        const char *id;
        json_t *doc = NULL;

        if (mcp_args_known(args, names, err) < 0 ||
            mcp_arg_name(args, "context_id", true, &id, err) < 0 ||
            op(c->ctx, c->who, id, c->agent, &doc, err) < 0)
                return NULL;
        return mcp_doc_result(doc);
}

static json_t *interrupt_context(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        return on_context(c, args, api_context_interrupt, err);
}

static json_t *restart_context(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        return on_context(c, args, api_context_restart, err);
}

static json_t *delete_context(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        return on_context(c, args, api_context_delete, err);
}

#define CONTEXT_PROP                                                                               \
        "\"context_id\":{\"type\":\"string\",\"description\":\"The id create_context "             \
        "returned\"}"
#define ONE_CONTEXT                                                                                \
        "{\"type\":\"object\",\"properties\":{" CONTEXT_PROP                                       \
        "},\"required\":[\"context_id\"],\"additionalProperties\":false}"

static const struct mcp_tool tools[] = {
    {"create_context", "Create a code context",
     "Start a live interpreter (python, node or bash) in a sandbox that keeps its state "
     "(variables, imports, definitions) between run_in_context calls, like a notebook. "
     "Returns its id.",
     "{\"type\":\"object\",\"properties\":{\"language\":{\"type\":\"string\",\"enum\":["
     "\"python\",\"node\",\"bash\"],\"description\":\"The interpreter (default python)\"},"
     "\"session\":{\"type\":\"string\",\"description\":\"The session whose sandbox holds it "
     "(files persist there too)\"},\"runtime\":{\"type\":\"string\",\"description\":\"The "
     "runtime whose image runs it (default: the language's)\"}},\"additionalProperties\":false}",
     create_context, false},
    {"run_in_context", "Run code in a context",
     "Run code in a context made by create_context: state persists between runs. Returns the "
     "output, the value of the last expression, the error if any, and plots as images. A "
     "timeout interrupts the code and keeps the state.",
     "{\"type\":\"object\",\"properties\":{" CONTEXT_PROP ",\"code\":{\"type\":\"string\","
     "\"description\":\"The code of the cell\"},\"timeout_s\":{\"type\":\"integer\","
     "\"minimum\":1,\"description\":\"Wall-clock limit in seconds (at most the policy's)\"}},"
     "\"required\":[\"context_id\",\"code\"],\"additionalProperties\":false}",
     run_in_context, false},
    {"interrupt_context", "Interrupt a context",
     "Interrupt the code running in a context (KeyboardInterrupt); its state stays.", ONE_CONTEXT,
     interrupt_context, false},
    {"restart_context", "Restart a context",
     "Replace a context's interpreter with a fresh one: its state is cleared.", ONE_CONTEXT,
     restart_context, false},
    {"list_contexts", "List contexts", "List the live code contexts of this agent.",
     "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}", list_contexts, true},
    {"delete_context", "Delete a context", "End a context's interpreter and forget it.",
     ONE_CONTEXT, delete_context, false},
};

const struct mcp_tool_table mcp_contexts_tools = {tools, ARRAY_SIZE(tools)};
