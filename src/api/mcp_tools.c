/* The MCP tools (docs/mcp.md): each one's name, description and input schema, and what it
 * does, through the same calls as the v1 routes. A tool's failure (a policy refusal, bad
 * arguments, an unknown sandbox, a timeout, an OOM kill) is a CallToolResult with isError and
 * the reason, so that the model reads it; only an unknown tool is a JSON-RPC error.
 *
 * Files and contexts slot in here as more rows of the table when their core calls exist. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "auth.h"
#include "mcp.h"
#include "routes.h"

/* Caps on what a tool's arguments may carry (the body cap bounds them all together). */
#define MCP_NAME_ARG_MAX 128 /* runtime, session, sandbox ids */

struct tool {
        const char *name;
        const char *title;
        const char *description;
        const char *schema; /* the inputSchema, as JSON text */
        json_t *(*call)(const struct mcp_caller *c, json_t *args, struct al_error *err);
        bool read_only;
};

static json_t *text_content(const char *text)
{
        return json_pack("[{s:s, s:s}]", "type", "text", "text", text);
}

/* A successful result: text for the model, doc (stolen) as structuredContent. */
static json_t *tool_result(const char *text, json_t *doc, bool is_error)
{
        json_t *o = json_pack("{s:o, s:b}", "content", text_content(text), "isError", is_error);

        if (o && doc)
                json_object_set_new(o, "structuredContent", doc);
        else
                json_decref(doc);
        return o;
}

/* Images the exec produced (plots, PIL images, image files in its outputs, inline) go to the
 * model as MCP image content after the text; every artifact stays in structuredContent. */
static void add_images(json_t *result, json_t *artifacts)
{
        json_t *content = json_object_get(result, "content"), *a;
        size_t i;

        json_array_foreach(artifacts, i, a)
        {
                const char *mime = json_string_value(json_object_get(a, "mime"));
                json_t *data = json_object_get(a, "data");

                if (!mime || strncmp(mime, "image/", 6) != 0 || !json_is_string(data))
                        continue;
                json_array_append_new(content, json_pack("{s:s, s:O, s:s}", "type", "image", "data",
                                                         data, "mimeType", mime));
        }
}

/* A result whose text is the document itself. */
static json_t *doc_result(json_t *doc)
{
        _cleanup_free_ char *text = doc ? json_dumps(doc, JSON_INDENT(1)) : NULL;

        if (!text) {
                json_decref(doc);
                return NULL;
        }
        return tool_result(text, doc, false);
}

static json_t *error_result(const struct al_error *err)
{
        char text[AL_ERR_MSG_MAX + 64];
        int code = err->code ? err->code : -EIO;

        snprintf(text, sizeof(text), "%s: %s", al_err_name(code), err->msg);
        return tool_result(
            text,
            json_pack("{s:{s:s, s:s}}", "error", "code", al_err_name(code), "message", err->msg),
            true);
}

/* ---- arguments: checked against the schema by hand, so that a wrong one is told ---- */

/* Every member of args must be one of names (NULL-terminated). */
static int args_known(json_t *args, const char *const *names, struct al_error *err)
{
        const char *key;
        json_t *v;

        json_object_foreach(args, key, v)
        {
                size_t i;

                for (i = 0; names[i] && strcmp(names[i], key) != 0; i++)
                        ;
                if (!names[i]) {
                        char q[UTIL_QUOTE_SIZE];

                        return al_err(err, -EINVAL, "unknown argument '%s'",
                                      util_quote(q, sizeof(q), key));
                }
        }
        return 0;
}

/* A string argument: *ret stays NULL when absent and optional. */
static int arg_string(json_t *args, const char *name, bool required, const char **ret,
                      struct al_error *err)
{
        json_t *v = json_object_get(args, name);

        *ret = NULL;
        if (!v || json_is_null(v))
                return required ? al_err(err, -EINVAL, "argument '%s' is required", name) : 0;
        if (!json_is_string(v))
                return al_err(err, -EINVAL, "argument '%s' must be a string", name);
        *ret = json_string_value(v);
        return 0;
}

/* A short name-like string (runtime, session, sandbox id). */
static int arg_name(json_t *args, const char *name, bool required, const char **ret,
                    struct al_error *err)
{
        int r = arg_string(args, name, required, ret, err);

        if (r == 0 && *ret && strlen(*ret) > MCP_NAME_ARG_MAX)
                return al_err(err, -EINVAL, "argument '%s' is too long", name);
        return r;
}

static int arg_int(json_t *args, const char *name, bool required, json_int_t min, json_int_t max,
                   json_int_t *ret, struct al_error *err)
{
        json_t *v = json_object_get(args, name);

        if (!v || json_is_null(v))
                return required ? al_err(err, -EINVAL, "argument '%s' is required", name) : 0;
        if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
                return al_err(err, -EINVAL, "argument '%s' must be an integer from %lld to %lld",
                              name, (long long)min, (long long)max);
        *ret = json_integer_value(v);
        return 0;
}

static int arg_bool(json_t *args, const char *name, bool *ret, struct al_error *err)
{
        json_t *v = json_object_get(args, name);

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_boolean(v))
                return al_err(err, -EINVAL, "argument '%s' must be true or false", name);
        *ret = json_is_true(v);
        return 0;
}

/* ---- running code ---- */

/* What the model reads of an exec: its output, then how it ended. */
static char *exec_text(const struct exec_result *res, json_t *doc)
{
        const char *out = json_string_value(json_object_get(doc, "stdout"));
        const char *errs = json_string_value(json_object_get(doc, "stderr"));
        char status[256];
        char *text = NULL;

        if (res->background_pid > 0) {
                snprintf(status, sizeof(status),
                         "started background process %lld in sandbox %.12s (list_processes, "
                         "read_process, kill_process)",
                         (long long)res->background_pid, res->sandbox_id);
                return strdup(status);
        }
        if (res->timed_out)
                snprintf(status, sizeof(status),
                         "[timed out: killed at the time limit after %lld ms]",
                         (long long)res->duration_ms);
        else if (res->oom_killed)
                snprintf(status, sizeof(status),
                         "[killed: out of memory (the sandbox's memory limit)]");
        else if (res->signal)
                snprintf(status, sizeof(status), "[killed by signal %d]", res->signal);
        else
                snprintf(status, sizeof(status), "[exit code %d, %lld ms]", res->exit_code,
                         (long long)res->duration_ms);
        if (asprintf(&text, "%s%s%s%s%s%s", out ? out : "",
                     out && *out && out[strlen(out) - 1] != '\n' ? "\n" : "",
                     errs && *errs ? "[stderr]\n" : "", errs ? errs : "",
                     errs && *errs && errs[strlen(errs) - 1] != '\n' ? "\n" : "", status) < 0)
                return NULL;
        return text;
}

/* run_code and run_command: the /v1/exec request made of the arguments, run as /v1/exec runs
 * it (api_exec_run), so that every check, limit and audit row is the same. what: "code" or
 * "command"; runtime_key: the argument naming the runtime. */
static json_t *run(const struct mcp_caller *c, json_t *args, const char *what,
                   const char *runtime_key, struct al_error *err)
{
        static const char *const names_code[] = {"language", "code",       "session", "timeout_s",
                                                 "stdin",    "background", NULL};
        static const char *const names_cmd[] = {"runtime", "command",    "session", "timeout_s",
                                                "stdin",   "background", NULL};
        const char *src, *runtime, *session, *in;
        json_int_t timeout = 0;
        bool background = false;
        _cleanup_free_ char *body = NULL, *text = NULL;
        struct exec_result res;
        json_t *req, *doc;
        int r;

        if (args_known(args, strcmp(what, "code") == 0 ? names_code : names_cmd, err) < 0 ||
            arg_string(args, what, true, &src, err) < 0 ||
            arg_name(args, runtime_key, false, &runtime, err) < 0 ||
            arg_name(args, "session", false, &session, err) < 0 ||
            arg_string(args, "stdin", false, &in, err) < 0 ||
            arg_int(args, "timeout_s", false, 1, 86400, &timeout, err) < 0 ||
            arg_bool(args, "background", &background, err) < 0)
                return NULL;
        if (!session)
                session = c->session;
        req = json_pack("{s:s, s:s}", "agent", c->agent, what, src);
        if (!req)
                goto oom;
        if ((runtime && json_object_set_new(req, "runtime", json_string(runtime)) < 0) ||
            (session && json_object_set_new(req, "session", json_string(session)) < 0) ||
            (in && json_object_set_new(req, "stdin", json_string(in)) < 0) ||
            (timeout && json_object_set_new(req, "timeout_s", json_integer(timeout)) < 0) ||
            (background && json_object_set_new(req, "background", json_true()) < 0)) {
                json_decref(req);
                goto oom;
        }
        body = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        if (!body)
                goto oom;
        r = api_exec_run(c->ctx, c->who, c->watch_fd, body, strlen(body), &res, err);
        if (r < 0) {
                exec_result_clear(&res);
                return NULL;
        }
        doc = api_exec_result_json(&res, false);
        text = doc ? exec_text(&res, doc) : NULL;
        if (!text) {
                json_decref(doc);
                exec_result_clear(&res);
                goto oom;
        }
        /* A run that did not end well is an error the model should see as one. */
        doc = tool_result(text, doc,
                          res.background_pid <= 0 && (res.exit_code != 0 || res.signal ||
                                                      res.timed_out || res.oom_killed));
        if (doc)
                add_images(doc, res.artifacts);
        exec_result_clear(&res);
        return doc;
oom:
        al_err(err, -ENOMEM, "out of memory");
        return NULL;
}

static json_t *run_code(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        return run(c, args, "code", "language", err);
}

static json_t *run_command(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        return run(c, args, "command", "runtime", err);
}

/* ---- sessions, sandboxes, background processes ---- */

static json_t *list_sessions(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        static const char *const names[] = {"ended", NULL};
        bool ended = false;
        json_t *rows = NULL;

        if (args_known(args, names, err) < 0 || arg_bool(args, "ended", &ended, err) < 0 ||
            api_sessions_list(c->ctx, c->who, c->agent, ended, &rows, err) < 0)
                return NULL;
        return doc_result(json_pack("{s:o}", "sessions", rows));
}

static json_t *end_session(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        static const char *const names[] = {"session", NULL};
        const char *session;
        json_t *doc = NULL;

        if (args_known(args, names, err) < 0 ||
            arg_name(args, "session", true, &session, err) < 0 ||
            api_session_end(c->ctx, c->who, c->agent, session, &doc, err) < 0)
                return NULL;
        return doc_result(doc);
}

static json_t *list_sandboxes(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        static const char *const names[] = {NULL};

        if (args_known(args, names, err) < 0 ||
            api_agent_allowed(c->ctx, c->who, "list the sandboxes of", c->agent, err) < 0)
                return NULL;
        return doc_result(
            json_pack("{s:o}", "sandboxes", api_sandboxes_list(c->ctx, c->who, c->agent)));
}

static json_t *remove_sandbox(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        static const char *const names[] = {"sandbox_id", NULL};
        const char *id;

        if (args_known(args, names, err) < 0 || arg_name(args, "sandbox_id", true, &id, err) < 0 ||
            api_agent_allowed(c->ctx, c->who, "remove a sandbox of", c->agent, err) < 0 ||
            api_sandbox_remove(c->ctx, c->who, id, c->agent, err) < 0)
                return NULL;
        return doc_result(json_pack("{s:s, s:b}", "id", id, "removed", 1));
}

/* list_processes (want_pid false), read_process and kill_process. */
static json_t *procs(const struct mcp_caller *c, json_t *args, bool want_pid, bool kill,
                     struct al_error *err)
{
        static const char *const names[] = {"sandbox_id", "pid", NULL};
        const char *id;
        json_int_t pid = -1;
        json_t *doc = NULL;

        if (args_known(args, names, err) < 0 || arg_name(args, "sandbox_id", true, &id, err) < 0 ||
            arg_int(args, "pid", want_pid, 1, 4194304, &pid, err) < 0)
                return NULL;
        if (!want_pid)
                pid = -1;
        if ((kill ? api_proc_kill : api_procs_get)(c->ctx, c->who, id, pid, &doc, err) < 0)
                return NULL;
        return doc_result(doc);
}

static json_t *list_processes(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        return procs(c, args, false, false, err);
}

static json_t *read_process(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        return procs(c, args, true, false, err);
}

static json_t *kill_process(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        return procs(c, args, true, true, err);
}

#define SESSION_PROP                                                                               \
        "\"session\":{\"type\":\"string\",\"description\":\"Keep one sandbox for this name: "      \
        "files and installed packages persist between calls with the same session. Without "       \
        "one, a fresh sandbox is made and removed after the run.\"}"
#define RUN_PROPS                                                                                  \
        SESSION_PROP ",\"timeout_s\":{\"type\":\"integer\",\"minimum\":1,\"description\":"         \
                     "\"Wall-clock limit in seconds (at most the policy's)\"},"                    \
                     "\"stdin\":{\"type\":\"string\",\"description\":\"Standard input\"},"         \
                     "\"background\":{\"type\":\"boolean\",\"description\":\"Start it as a "       \
                     "background process of the session's sandbox and return its pid at "          \
                     "once\"}"
#define SANDBOX_PROP                                                                               \
        "\"sandbox_id\":{\"type\":\"string\",\"minLength\":12,\"description\":\"A sandbox id "     \
        "(or its first 12 characters or more)\"}"
#define PID_PROP "\"pid\":{\"type\":\"integer\",\"minimum\":1}"

static const struct tool tools[] = {
    {"run_code", "Run code",
     "Run source code in a sandbox with the given language's interpreter (python, node, bash, "
     "... : the runtimes of the airlock policy). Returns its output and exit status; a failed "
     "run, a timeout or an out-of-memory kill is reported as an error with the reason.",
     "{\"type\":\"object\",\"properties\":{\"language\":{\"type\":\"string\",\"description\":"
     "\"The runtime, e.g. python, node, bash (default: the policy's)\"},\"code\":{\"type\":"
     "\"string\",\"description\":\"The source code\"}," RUN_PROPS
     "},\"required\":[\"code\"],\"additionalProperties\":false}",
     run_code, false},
    {"run_command", "Run a shell command",
     "Run a shell command line (sh -c) in a sandbox. Returns its output and exit status.",
     "{\"type\":\"object\",\"properties\":{\"command\":{\"type\":\"string\",\"description\":"
     "\"The command line\"},\"runtime\":{\"type\":\"string\",\"description\":\"The runtime "
     "whose image runs it (default: the policy's)\"}," RUN_PROPS
     "},\"required\":[\"command\"],\"additionalProperties\":false}",
     run_command, false},
    {"list_sessions", "List sessions", "List the sessions of this agent.",
     "{\"type\":\"object\",\"properties\":{\"ended\":{\"type\":\"boolean\",\"description\":"
     "\"Include ended sessions\"}},\"additionalProperties\":false}",
     list_sessions, true},
    {"end_session", "End a session",
     "End a session of this agent: its sandbox and files are removed.",
     "{\"type\":\"object\",\"properties\":{" SESSION_PROP
     "},\"required\":[\"session\"],\"additionalProperties\":false}",
     end_session, false},
    {"list_sandboxes", "List sandboxes", "List the live sandboxes of this agent.",
     "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}", list_sandboxes,
     true},
    {"remove_sandbox", "Remove a sandbox", "Remove a sandbox of this agent and its files.",
     "{\"type\":\"object\",\"properties\":{" SANDBOX_PROP
     "},\"required\":[\"sandbox_id\"],\"additionalProperties\":false}",
     remove_sandbox, false},
    {"list_processes", "List background processes",
     "List the background processes of a sandbox (started with background: true).",
     "{\"type\":\"object\",\"properties\":{" SANDBOX_PROP
     "},\"required\":[\"sandbox_id\"],\"additionalProperties\":false}",
     list_processes, true},
    {"read_process", "Read a background process",
     "Show one background process with its output so far.",
     "{\"type\":\"object\",\"properties\":{" SANDBOX_PROP "," PID_PROP
     "},\"required\":[\"sandbox_id\",\"pid\"],\"additionalProperties\":false}",
     read_process, true},
    {"kill_process", "Kill a background process",
     "End a background process and everything it started.",
     "{\"type\":\"object\",\"properties\":{" SANDBOX_PROP "," PID_PROP
     "},\"required\":[\"sandbox_id\",\"pid\"],\"additionalProperties\":false}",
     kill_process, false},
};

json_t *mcp_tools_list(void)
{
        json_t *list = json_array();

        for (size_t i = 0; list && i < ARRAY_SIZE(tools); i++) {
                json_t *schema = json_loads(tools[i].schema, 0, NULL);

                if (!schema ||
                    json_array_append_new(
                        list, json_pack("{s:s, s:s, s:s, s:o, s:{s:b, s:b}}", "name", tools[i].name,
                                        "title", tools[i].title, "description",
                                        tools[i].description, "inputSchema", schema, "annotations",
                                        "readOnlyHint", tools[i].read_only, "openWorldHint", 0)) <
                        0) {
                        json_decref(list);
                        return NULL;
                }
        }
        return list ? json_pack("{s:o}", "tools", list) : NULL;
}

json_t *mcp_tools_call(const struct mcp_caller *c, const char *name, json_t *args)
{
        struct al_error err = {0};
        json_t *empty = NULL, *res;

        for (size_t i = 0; i < ARRAY_SIZE(tools); i++) {
                if (strcmp(tools[i].name, name) != 0)
                        continue;
                if (!args)
                        args = empty = json_object();
                res = args ? tools[i].call(c, args, &err) : NULL;
                json_decref(empty);
                if (!res && !err.code)
                        al_err(&err, -ENOMEM, "out of memory");
                return res ? res : error_result(&err);
        }
        return NULL;
}
