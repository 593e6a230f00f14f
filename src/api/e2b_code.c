/* The code interpreter's API (`@e2b/code-interpreter`, port 49999): POST /execute streams a
 * cell's output as lines of JSON (stdout, stderr, result, error, number_of_executions), and
 * /contexts makes, lists, restarts and removes contexts. A cell is an exec of airlock's
 * contexts (docs/contexts.md) in the E2B sandbox's session: audited, limited and interrupted
 * like any; plots come back as the results' PNGs. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/contexts.h"
#include "airlock/log.h"
#include "airlock/util.h"
#include "auth.h"
#include "e2b.h"
#include "routes.h"

/* The airlock language of an E2B one (NULL: python); NULL when airlock has none. */
static const char *language_of(const char *l)
{
        if (!l || !*l || strcmp(l, "python") == 0)
                return "python";
        if (strcmp(l, "js") == 0 || strcmp(l, "javascript") == 0 || strcmp(l, "node") == 0)
                return "node";
        if (strcmp(l, "bash") == 0 || strcmp(l, "sh") == 0)
                return "bash";
        return NULL;
}

static const char *e2b_language(const char *airlock)
{
        return airlock && strcmp(airlock, "node") == 0 ? "js" : airlock ? airlock : "python";
}

static json_t *context_doc(json_t *ctx)
{
        return json_pack("{s:O?, s:s, s:s}", "id", json_object_get(ctx, "id"), "language",
                         e2b_language(json_string_value(json_object_get(ctx, "language"))), "cwd",
                         E2B_HOME);
}

/* The context id when it is one of this sandbox's (its agent's and session's). */
static int own_context(const struct e2b_call *c, const char *id, struct al_error *err)
{
        _cleanup_(json_decrefp) json_t *ctx = NULL;
        const char *agent, *session;

        if (!id || strlen(id) > 64)
                return al_err(err, -ENOENT, "no such context");
        ctx = daemon_context_get(c->ctx->core, id);
        agent = json_string_value(json_object_get(ctx, "agent"));
        session = json_string_value(json_object_get(ctx, "session"));
        if (!agent || !session || strcmp(agent, c->sb->agent) != 0 ||
            strcmp(session, c->sb->id) != 0)
                return al_err(err, -ENOENT, "context '%.64s' not found", id);
        return 0;
}

/* ---- /execute ---- */

struct cell_job {
        struct api *ctx;
        struct auth_identity who;
        struct exec_request req;
        bool slot;
        int out_fd;
        int watch_fd; /* a dup of the client connection: the cell is interrupted when it goes */
        char carry[2][4];
        size_t carry_len[2];
};

static void write_line(int fd, json_t *doc)
{
        _cleanup_free_ char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        size_t n, off = 0;

        json_decref(doc);
        if (!text)
                return;
        n = strlen(text);
        text[n] = '\n';
        while (off < n + 1) {
                ssize_t w = write(fd, text + off, n + 1 - off);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return;
                off += (size_t)w;
        }
}

static int cell_output(void *cls, enum exec_stream stream, const char *data, size_t len)
{
        struct cell_job *job = cls;
        int i = stream == EXEC_STDERR;
        size_t n = 0;
        _cleanup_free_ char *text =
            util_utf8_sanitize_n(data, len, job->carry[i], &job->carry_len[i], &n);

        if (!text)
                return -ENOMEM;
        if (n > 0)
                write_line(job->out_fd, json_pack("{s:s, s:s%}", "type", i ? "stderr" : "stdout",
                                                  "text", text, n));
        return 0;
}

static int cell_result(void *cls, json_t *result)
{
        struct cell_job *job = cls;

        write_line(job->out_fd, e2b_cell_result(result));
        return 0;
}

static void *cell_worker(void *arg)
{
        struct cell_job *job = arg;
        struct exec_sink sink = {.output = cell_output,
                                 .result = cell_result,
                                 .ctx = job,
                                 .watch_fd = job->watch_fd,
                                 .cancel_fd = daemon_cancel_fd(job->ctx->core)};
        struct policy *pol = daemon_policy(job->ctx->core);
        struct al_error err = {0};
        struct exec_result res;
        json_t *error;
        int r;

        exec_result_init(&res, (size_t)pol->limits.output_bytes);
        policy_unref(pol);
        r = api_exec_execute(job->ctx, &job->who, &job->req, &sink, &res, &err);
        if (job->slot)
                auth_exec_slot_leave(job->ctx);
        error = json_object_get(res.context, "error");
        if (r < 0)
                write_line(job->out_fd,
                           json_pack("{s:s, s:s, s:s, s:s}", "type", "error", "name",
                                     al_err_name(r), "value", err.msg, "traceback", ""));
        else if (json_is_object(error))
                write_line(job->out_fd, json_pack("{s:s, s:O?, s:O?, s:O?}", "type", "error",
                                                  "name", json_object_get(error, "name"), "value",
                                                  json_object_get(error, "value"), "traceback",
                                                  json_object_get(error, "traceback")));
        else if (res.timed_out)
                write_line(job->out_fd,
                           json_pack("{s:s, s:s, s:s, s:s}", "type", "error", "name",
                                     "TimeoutError", "value", "the cell passed its time limit",
                                     "traceback", ""));
        if (r >= 0 && json_is_integer(json_object_get(res.context, "execution_count")))
                write_line(job->out_fd, json_pack("{s:s, s:O}", "type", "number_of_executions",
                                                  "execution_count",
                                                  json_object_get(res.context, "execution_count")));
        exec_result_clear(&res);
        close(job->out_fd);
        if (job->watch_fd >= 0)
                close(job->watch_fd);
        exec_request_clear(&job->req);
        free(job);
        return NULL;
}

static enum MHD_Result execute(const struct e2b_call *c)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(c->ctx->core);
        _cleanup_(json_decrefp) json_t *o = NULL;
        struct cell_job *job = calloc(1, sizeof(*job));
        struct al_error err = {0};
        struct policy_effective eff;
        struct MHD_Response *resp;
        const char *code, *cid, *lang;
        pthread_attr_t attr;
        pthread_t tid;
        enum MHD_Result ret;
        int r, p[2] = {-1, -1};

        if (!job)
                return e2b_send_rest_error(c->conn, -ENOMEM, "out of memory");
        r = request_json_object(c->body, c->len, false, &o, &err);
        code = json_string_value(json_object_get(o, "code"));
        cid = json_string_value(json_object_get(o, "context_id"));
        lang = json_string_value(json_object_get(o, "language"));
        if (r >= 0 && !code)
                r = al_err(&err, -EINVAL, "'code' (a string) is required");
        if (r >= 0 && cid)
                r = own_context(c, cid, &err);
        if (r >= 0 && !cid && !language_of(lang))
                r = al_err(&err, -EINVAL, "language '%.40s' is not supported (python, js, bash)",
                           lang);
        job->ctx = c->ctx;
        job->who.peer = c->who->peer;
        job->req.network = -1;
        job->req.untrusted = true; /* as a command's (e2b_process.c) */
        job->req.peer_uid = -1;
        if (r >= 0 &&
            (!(job->req.agent = strdup(c->sb->agent)) || !(job->req.session = strdup(c->sb->id)) ||
             !(job->req.runtime = strdup(c->sb->runtime)) || !(job->req.code = strdup(code)) ||
             !(cid ? (job->req.context = strdup(cid))
                   : (job->req.language = strdup(language_of(lang))))))
                r = al_err(&err, -ENOMEM, "out of memory");
        if (r >= 0) {
                job->req.timeout_s = policy_resolve(pol, c->sb->agent, &eff) == 0
                                         ? eff.limits.timeout_s
                                         : pol->limits.timeout_s;
                r = exec_request_check(&job->req, pol, &err);
        }
        if (r >= 0)
                r = api_exec_admit(c->ctx, c->who, &job->req, &job->slot, &err);
        if (r >= 0 && pipe2(p, O_CLOEXEC) < 0)
                r = al_err_errno(&err, -errno, "pipe");
        resp = r >= 0 ? MHD_create_response_from_pipe(p[0]) : NULL;
        if (r >= 0 && !resp)
                r = al_err(&err, -ENOMEM, "cannot start a stream");
        job->out_fd = p[1];
        job->watch_fd = -1;
        if (r >= 0 && api_connection_fd(c->conn) >= 0)
                job->watch_fd = fcntl(api_connection_fd(c->conn), F_DUPFD_CLOEXEC, 3);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (r >= 0 && pthread_create(&tid, &attr, cell_worker, job) != 0)
                r = al_err(&err, -EAGAIN, "cannot start a worker");
        pthread_attr_destroy(&attr);
        if (r < 0) {
                if (resp)
                        MHD_destroy_response(resp);
                else if (p[0] >= 0)
                        close(p[0]);
                if (p[1] >= 0)
                        close(p[1]);
                if (job->watch_fd >= 0)
                        close(job->watch_fd);
                if (job->slot)
                        auth_exec_slot_leave(c->ctx);
                exec_request_clear(&job->req);
                free(job);
                return e2b_send_rest_error(c->conn, r, err.msg);
        }
        MHD_add_response_header(resp, "Content-Type", "application/x-ndjson");
        ret = MHD_queue_response(c->conn, 200, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* ---- /contexts ---- */

static enum MHD_Result create_context(const struct e2b_call *c)
{
        _cleanup_(json_decrefp) json_t *o = NULL, *ctx = NULL;
        struct context_request req = {0};
        struct al_error err = {0};
        const char *lang;
        int r, l;

        r = request_json_object(c->body, c->len, false, &o, &err);
        lang = language_of(json_string_value(json_object_get(o, "language")));
        l = lang ? context_language_parse(lang) : -1;
        if (r >= 0 && l < 0)
                r = al_err(&err, -EINVAL, "this language is not supported (python, js, bash)");
        if (r >= 0 && !auth_may_act_as(c->who, c->sb->agent))
                r = auth_refuse(c->ctx, c->who, "make a context of", c->sb->agent, c->sb->id, NULL,
                                &err);
        if (r < 0)
                return e2b_send_rest_error(c->conn, r, err.msg);
        req.agent = (char *)c->sb->agent;
        req.session = (char *)c->sb->id;
        req.runtime = (char *)c->sb->runtime;
        req.language = (enum context_language)l;
        r = daemon_context_create(c->ctx->core, &req, &ctx, &err);
        if (r < 0)
                return e2b_send_rest_error(c->conn, r, err.msg);
        return api_send_json(c->conn, 200, context_doc(ctx));
}

static enum MHD_Result list_contexts(const struct e2b_call *c)
{
        _cleanup_(json_decrefp) json_t *all = daemon_contexts_list(c->ctx->core, c->sb->agent);
        json_t *rows = json_array(), *x;
        size_t i;

        json_array_foreach(all, i, x)
        {
                const char *session = json_string_value(json_object_get(x, "session"));

                if (session && strcmp(session, c->sb->id) == 0)
                        json_array_append_new(rows, context_doc(x));
        }
        return api_send_json(c->conn, 200, rows);
}

enum MHD_Result e2b_code_route(const struct e2b_call *c, const char *url, const char *method)
{
        struct al_error err = {0};
        const char *rest;
        char id[72];
        size_t n;
        int r;

        if (strcmp(url, "/execute") == 0 && strcmp(method, "POST") == 0)
                return execute(c);
        if (strcmp(url, "/contexts") == 0 && strcmp(method, "POST") == 0)
                return create_context(c);
        if (strcmp(url, "/contexts") == 0 && strcmp(method, "GET") == 0)
                return list_contexts(c);
        if (strcmp(url, "/health") == 0)
                return api_send_json(c->conn, 200, json_pack("{s:s}", "status", "ok"));
        if (strncmp(url, "/contexts/", 10) != 0)
                return e2b_send_rest_error(c->conn, -ENOENT, "no such route");
        rest = url + 10;
        n = strcspn(rest, "/");
        if (n == 0 || n >= sizeof(id))
                return e2b_send_rest_error(c->conn, -ENOENT, "no such context");
        memcpy(id, rest, n);
        id[n] = '\0';
        rest += n;
        r = own_context(c, id, &err);
        if (r >= 0 && !*rest && strcmp(method, "DELETE") == 0) {
                r = daemon_context_delete(c->ctx->core, id, &err);
                if (r >= 0)
                        return api_send_text(c->conn, 204, strdup(""), 0, "application/json", NULL);
        } else if (r >= 0 && strcmp(rest, "/restart") == 0 && strcmp(method, "POST") == 0) {
                json_t *ctx = NULL;

                r = daemon_context_restart(c->ctx->core, id, &ctx, &err);
                if (r >= 0) {
                        json_t *doc = context_doc(ctx);

                        json_decref(ctx);
                        return api_send_json(c->conn, 200, doc);
                }
        } else if (r >= 0) {
                r = al_err(&err, -ENOENT, "no such route");
        }
        return e2b_send_rest_error(c->conn, r, err.msg);
}
