/* The MCP tools (docs/mcp.md): each one's name, description and input schema, and what it
 * does, through the same calls as the v1 routes. A tool's failure (a policy refusal, bad
 * arguments, an unknown sandbox, a timeout, an OOM kill) is a CallToolResult with isError and
 * the reason, so that the model reads it; only an unknown tool is a JSON-RPC error.
 * This file has the tools that run code and manage sessions, sandboxes and processes, and the
 * argument checks every tool uses; files (mcp_files.c) and contexts (mcp_contexts.c) bring
 * their own tables. */
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
/* The text of a run: its output (capped by [limits] output_kb) and its results. */
#define MCP_TEXT_MAX (64u << 20)

static json_t *text_content(const char *text)
{
        return json_pack("[{s:s, s:s}]", "type", "text", "text", text);
}

/* A successful result: text for the model, doc (stolen) as structuredContent. */
json_t *mcp_tool_result(const char *text, json_t *doc, bool is_error)
{
        json_t *o = json_pack("{s:o, s:b}", "content", text_content(text), "isError", is_error);

        if (o && doc)
                json_object_set_new(o, "structuredContent", doc);
        else
                json_decref(doc);
        return o;
}

static bool content_has_data(json_t *content, json_t *data)
{
        json_t *v;
        size_t i;

        json_array_foreach(content, i,
                           v) if (json_equal(json_object_get(v, "data"), data)) return true;
        return false;
}

static void add_image(json_t *content, const char *mime, json_t *data)
{
        /* Raster images only: they are base64 here (SVG is text). */
        if (!mime || strncmp(mime, "image/", 6) != 0 || strncmp(mime, "image/svg", 9) == 0 ||
            !json_is_string(data) || content_has_data(content, data))
                return;
        json_array_append_new(
            content, json_pack("{s:s, s:O, s:s}", "type", "image", "data", data, "mimeType", mime));
}

/* Images the exec produced go to the model as MCP image content after the text: a context's
 * display results (plots, _repr_png_), then artifacts (plt.show(), PIL images, image files in
 * its outputs, inline), each once (a context's figure is both). Every artifact and result
 * stays in structuredContent. */
static void add_images(json_t *result, const struct exec_result *res)
{
        json_t *content = json_object_get(result, "content"), *a, *v;
        const char *mime;
        size_t i;

        json_array_foreach(res->results, i, a)
        {
                json_object_foreach(json_object_get(a, "data"), mime, v)
                    add_image(content, mime, v);
        }
        json_array_foreach(res->artifacts, i, a) add_image(
            content, json_string_value(json_object_get(a, "mime")), json_object_get(a, "data"));
}

/* A result whose text is the document itself. */
json_t *mcp_doc_result(json_t *doc)
{
        _cleanup_free_ char *text = doc ? json_dumps(doc, JSON_INDENT(1)) : NULL;

        if (!text) {
                json_decref(doc);
                return NULL;
        }
        return mcp_tool_result(text, doc, false);
}

static json_t *error_result(const struct al_error *err)
{
        char text[AL_ERR_MSG_MAX + 64];
        int code = err->code ? err->code : -EIO;

        snprintf(text, sizeof(text), "%s: %s", al_err_name(code), err->msg);
        return mcp_tool_result(
            text,
            json_pack("{s:{s:s, s:s}}", "error", "code", al_err_name(code), "message", err->msg),
            true);
}

/* ---- arguments: checked against the schema by hand, so that a wrong one is told ---- */

/* Every member of args must be one of names (NULL-terminated). */
int mcp_args_known(json_t *args, const char *const *names, struct al_error *err)
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
int mcp_arg_string(json_t *args, const char *name, bool required, const char **ret,
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
int mcp_arg_name(json_t *args, const char *name, bool required, const char **ret,
                 struct al_error *err)
{
        int r = mcp_arg_string(args, name, required, ret, err);

        if (r == 0 && *ret && strlen(*ret) > MCP_NAME_ARG_MAX)
                return al_err(err, -EINVAL, "argument '%s' is too long", name);
        return r;
}

int mcp_arg_int(json_t *args, const char *name, bool required, json_int_t min, json_int_t max,
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

int mcp_arg_bool(json_t *args, const char *name, bool *ret, struct al_error *err)
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

/* A context's cell beyond its output: the values of its results (text/plain) and its
 * error, as a notebook shows them. */
static void context_text(const struct exec_result *res, struct buf *b)
{
        json_t *a, *e = json_object_get(res->context, "error");
        size_t i;

        json_array_foreach(res->results, i, a)
        {
                const char *plain =
                    json_string_value(json_object_get(json_object_get(a, "data"), "text/plain"));
                const char *kind = json_string_value(json_object_get(a, "kind"));

                if (plain)
                        buf_appendf(b, "%s%s\n",
                                    kind && strcmp(kind, "result") == 0 ? "[result] " : "", plain);
        }
        if (json_is_object(e)) {
                const char *tb = json_string_value(json_object_get(e, "traceback"));

                buf_appendf(b, "[error] %s: %s\n%s%s",
                            json_string_value(json_object_get(e, "name")) ?: "Error",
                            json_string_value(json_object_get(e, "value")) ?: "", tb ? tb : "",
                            tb && *tb && tb[strlen(tb) - 1] != '\n' ? "\n" : "");
        }
}

/* What the model reads of an exec: its output, then how it ended. */
static char *exec_text(const struct exec_result *res, json_t *doc)
{
        const char *out = json_string_value(json_object_get(doc, "stdout"));
        const char *errs = json_string_value(json_object_get(doc, "stderr"));
        struct buf b;

        buf_init(&b, MCP_TEXT_MAX);
        if (res->background_pid > 0) {
                buf_appendf(&b,
                            "started background process %lld in sandbox %.12s (list_processes, "
                            "read_process, kill_process)",
                            (long long)res->background_pid, res->sandbox_id);
                return buf_steal(&b, NULL);
        }
        buf_appendf(&b, "%s%s%s%s%s", out ? out : "",
                    out && *out && out[strlen(out) - 1] != '\n' ? "\n" : "",
                    errs && *errs ? "[stderr]\n" : "", errs ? errs : "",
                    errs && *errs && errs[strlen(errs) - 1] != '\n' ? "\n" : "");
        context_text(res, &b);
        if (res->timed_out)
                buf_appendf(&b, "[timed out: %s at the time limit after %lld ms]",
                            res->context ? "interrupted" : "killed", (long long)res->duration_ms);
        else if (res->oom_killed)
                buf_appendf(&b, "[killed: out of memory (the sandbox's memory limit)]");
        else if (res->signal)
                buf_appendf(&b, "[killed by signal %d]", res->signal);
        else
                buf_appendf(&b, "[exit code %d, %lld ms]", res->exit_code,
                            (long long)res->duration_ms);
        return buf_steal(&b, NULL);
}

json_t *mcp_run_exec(const struct mcp_caller *c, json_t *req, struct al_error *err)
{
        _cleanup_free_ char *body = json_dumps(req, JSON_COMPACT), *text = NULL;
        struct exec_result res;
        json_t *doc;
        int r;

        json_decref(req);
        if (!body) {
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
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
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
        /* A run that did not end well is an error the model should see as one. */
        doc = mcp_tool_result(text, doc,
                              res.background_pid <= 0 && (res.exit_code != 0 || res.signal ||
                                                          res.timed_out || res.oom_killed));
        if (doc)
                add_images(doc, &res);
        exec_result_clear(&res);
        return doc;
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
        json_t *req;

        if (mcp_args_known(args, strcmp(what, "code") == 0 ? names_code : names_cmd, err) < 0 ||
            mcp_arg_string(args, what, true, &src, err) < 0 ||
            mcp_arg_name(args, runtime_key, false, &runtime, err) < 0 ||
            mcp_arg_name(args, "session", false, &session, err) < 0 ||
            mcp_arg_string(args, "stdin", false, &in, err) < 0 ||
            mcp_arg_int(args, "timeout_s", false, 1, 86400, &timeout, err) < 0 ||
            mcp_arg_bool(args, "background", &background, err) < 0)
                return NULL;
        if (!session)
                session = c->session;
        req = json_pack("{s:s, s:s}", "agent", c->agent, what, src);
        if (!req || (runtime && json_object_set_new(req, "runtime", json_string(runtime)) < 0) ||
            (session && json_object_set_new(req, "session", json_string(session)) < 0) ||
            (in && json_object_set_new(req, "stdin", json_string(in)) < 0) ||
            (timeout && json_object_set_new(req, "timeout_s", json_integer(timeout)) < 0) ||
            (background && json_object_set_new(req, "background", json_true()) < 0)) {
                json_decref(req);
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
        return mcp_run_exec(c, req, err);
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

        if (mcp_args_known(args, names, err) < 0 || mcp_arg_bool(args, "ended", &ended, err) < 0 ||
            api_sessions_list(c->ctx, c->who, c->agent, ended, &rows, err) < 0)
                return NULL;
        return mcp_doc_result(json_pack("{s:o}", "sessions", rows));
}

static json_t *end_session(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        static const char *const names[] = {"session", NULL};
        const char *session;
        json_t *doc = NULL;

        if (mcp_args_known(args, names, err) < 0 ||
            mcp_arg_name(args, "session", true, &session, err) < 0 ||
            api_session_end(c->ctx, c->who, c->agent, session, &doc, err) < 0)
                return NULL;
        return mcp_doc_result(doc);
}

static json_t *list_sandboxes(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        static const char *const names[] = {NULL};

        if (mcp_args_known(args, names, err) < 0 ||
            api_agent_allowed(c->ctx, c->who, "list the sandboxes of", c->agent, err) < 0)
                return NULL;
        return mcp_doc_result(
            json_pack("{s:o}", "sandboxes", api_sandboxes_list(c->ctx, c->who, c->agent)));
}

static json_t *remove_sandbox(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        static const char *const names[] = {"sandbox_id", NULL};
        const char *id;

        if (mcp_args_known(args, names, err) < 0 ||
            mcp_arg_name(args, "sandbox_id", true, &id, err) < 0 ||
            api_agent_allowed(c->ctx, c->who, "remove a sandbox of", c->agent, err) < 0 ||
            api_sandbox_remove(c->ctx, c->who, id, c->agent, err) < 0)
                return NULL;
        return mcp_doc_result(json_pack("{s:s, s:b}", "id", id, "removed", 1));
}

/* list_processes (want_pid false), read_process and kill_process. */
static json_t *procs(const struct mcp_caller *c, json_t *args, bool want_pid, bool kill,
                     struct al_error *err)
{
        static const char *const names[] = {"sandbox_id", "pid", NULL};
        const char *id;
        json_int_t pid = -1;
        json_t *doc = NULL;

        if (mcp_args_known(args, names, err) < 0 ||
            mcp_arg_name(args, "sandbox_id", true, &id, err) < 0 ||
            mcp_arg_int(args, "pid", want_pid, 1, 4194304, &pid, err) < 0)
                return NULL;
        if (!want_pid)
                pid = -1;
        if ((kill ? api_proc_kill : api_procs_get)(c->ctx, c->who, id, pid, &doc, err) < 0)
                return NULL;
        return mcp_doc_result(doc);
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

static const struct mcp_tool tools[] = {
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

static const struct mcp_tool_table core_tools = {tools, ARRAY_SIZE(tools)};
/* Every tool, in the order tools/list shows them. */
static const struct mcp_tool_table *const tables[] = {&core_tools, &mcp_files_tools,
                                                      &mcp_contexts_tools};

static const struct mcp_tool *tool_find(const char *name)
{
        for (size_t t = 0; t < ARRAY_SIZE(tables); t++)
                for (size_t i = 0; i < tables[t]->n; i++)
                        if (strcmp(tables[t]->tools[i].name, name) == 0)
                                return &tables[t]->tools[i];
        return NULL;
}

static int tool_describe(json_t *list, const struct mcp_tool *t)
{
        json_t *schema = json_loads(t->schema, 0, NULL);

        if (!schema)
                return -1;
        return json_array_append_new(
            list, json_pack("{s:s, s:s, s:s, s:o, s:{s:b, s:b}}", "name", t->name, "title",
                            t->title, "description", t->description, "inputSchema", schema,
                            "annotations", "readOnlyHint", t->read_only, "openWorldHint", 0));
}

json_t *mcp_tools_list(void)
{
        json_t *list = json_array();

        for (size_t t = 0; list && t < ARRAY_SIZE(tables); t++)
                for (size_t i = 0; i < tables[t]->n; i++)
                        if (tool_describe(list, &tables[t]->tools[i]) < 0) {
                                json_decref(list);
                                return NULL;
                        }
        return list ? json_pack("{s:o}", "tools", list) : NULL;
}

json_t *mcp_tools_call(const struct mcp_caller *c, const char *name, json_t *args)
{
        const struct mcp_tool *t = tool_find(name);
        struct al_error err = {0};
        json_t *empty = NULL, *res;

        if (!t)
                return NULL;
        if (!args)
                args = empty = json_object();
        res = args ? t->call(c, args, &err) : NULL;
        json_decref(empty);
        if (!res && !err.code)
                al_err(&err, -ENOMEM, "out of memory");
        return res ? res : error_result(&err);
}
