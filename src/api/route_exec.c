/* POST /v1/exec: plain JSON results and NDJSON streams. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/log.h"
#include "airlock/metrics.h"
#include "airlock/util.h"
#include "auth.h"
#include "routes.h"

/* Every exec ends here, run or failed: it is logged and counted once. */
static json_t *output_json(const struct buf *b)
{
        size_t n = 0;
        _cleanup_free_ char *s =
            util_utf8_sanitize_n(b->data ? b->data : "", b->len, NULL, NULL, &n);

        return s ? json_stringn(s, n) : json_string("");
}

void api_resumed_json(json_t *o, bool resumed, bool lost)
{
        if (resumed || lost)
                json_object_set_new(o, "resumed", json_true());
        if (lost)
                json_object_set_new(o, "snapshot_lost", json_true());
}

json_t *api_exec_result_json(const struct exec_result *res, bool for_stream)
{
        json_t *o, *iso;

        /* A background process has no outcome yet: where it runs and its pid. */
        if (res->background_pid > 0) {
                o = json_pack("{s:s, s:b, s:I, s:b, s:s, s:s?, s:{s:s?, s:b, s:s}}", "execution_id",
                              res->execution_id, "background", 1, "pid",
                              (json_int_t)res->background_pid, "sandboxed", res->sandboxed,
                              "backend", res->backend ? res->backend : "none", "sandbox_id",
                              res->sandbox_id[0] ? res->sandbox_id : NULL, "decision", "mode",
                              res->decision.mode, "sandboxed", res->decision.sandboxed, "reason",
                              res->decision.reason);
                if (o && res->sandbox_replaced[0])
                        json_object_set_new(o, "sandbox_replaced",
                                            json_string(res->sandbox_replaced));
                /* With the network: why it has no way out, if so. */
                if (o && res->egress_error[0])
                        json_object_set_new(o, "egress_error", json_string(res->egress_error));
                if (o)
                        api_resumed_json(o, res->resumed, res->snapshot_lost);
                return o;
        }

        o = json_pack("{s:s, s:o, s:o, s:b, s:b, s:b, s:b, s:I, s:b, s:s, s:s?,"
                      " s:{s:s?, s:b, s:s}}",
                      "execution_id", res->execution_id, "exit_code",
                      json_integer(res->signal ? 128 + res->signal : res->exit_code), "signal",
                      res->signal ? json_integer(res->signal) : json_null(), "stdout_truncated",
                      buf_truncated(&res->out), "stderr_truncated", buf_truncated(&res->err),
                      "timed_out", res->timed_out, "oom_killed", res->oom_killed, "duration_ms",
                      (json_int_t)res->duration_ms, "sandboxed", res->sandboxed, "backend",
                      res->backend ? res->backend : "none", "sandbox_id",
                      res->sandbox_id[0] ? res->sandbox_id : NULL, "decision", "mode",
                      res->decision.mode, "sandboxed", res->decision.sandboxed, "reason",
                      res->decision.reason);
        if (!o)
                return NULL;
        if (res->aborted)
                json_object_set_new(o, "aborted", json_true());
        if (res->sandbox_lost[0])
                json_object_set_new(o, "sandbox_lost", json_string(res->sandbox_lost));
        if (res->sandbox_replaced[0])
                json_object_set_new(o, "sandbox_replaced", json_string(res->sandbox_replaced));
        api_resumed_json(o, res->resumed, res->snapshot_lost);
        if (res->transport)
                json_object_set_new(o, "transport", json_string(res->transport));
        /* With the network: what the egress proxy refused, so that "blocked by policy" reads
         * apart from "site down"; and why there was no way out at all, if so. */
        if (res->egress_denied)
                json_object_set_new(o, "egress_denied", json_incref(res->egress_denied));
        if (res->egress_error[0])
                json_object_set_new(o, "egress_error", json_string(res->egress_error));
        if (res->limits)
                json_object_set(o, "limits", res->limits);
        /* A sandbox's isolation tier; a host exec's protections, listed. */
        if (res->tier)
                json_object_set_new(o, "isolation", json_string(res->tier));
        else if (res->n_isolation > 0) {
                iso = json_array();
                for (size_t i = 0; i < res->n_isolation; i++)
                        json_array_append_new(iso, json_string(res->isolation[i]));
                json_object_set_new(o, "isolation", iso);
        }
        if (res->context) {
                json_object_set(o, "context", res->context);
                /* Streamed as they came; in a plain reply, here. */
                if (!for_stream)
                        json_object_set(o, "results", res->results ? res->results : json_null());
        }
        /* Inline in the result; a stream sends them as events before its end. */
        if (res->artifacts && !for_stream)
                json_object_set(o, "artifacts", res->artifacts);
        if (res->artifacts_dropped)
                json_object_set_new(o, "artifacts_dropped",
                                    json_integer((json_int_t)res->artifacts_dropped));
        if (!for_stream) {
                json_object_set_new(o, "stdout", output_json(&res->out));
                json_object_set_new(o, "stderr", output_json(&res->err));
        }
        return o;
}

static void log_exec(struct api *ctx, const struct exec_request *req, const struct exec_result *res,
                     const struct ucred *peer, int r, const struct al_error *err)
{
        const char *ekind = r < 0 ? metrics_engine_error_kind(r) : NULL;
        struct policy *pol = daemon_policy(ctx->core);

        metrics_exec_done(metrics_exec_outcome(r, res), res->decision.mode, res->backend,
                          req->runtime ? req->runtime : pol->default_runtime,
                          r < 0 ? -1 : res->duration_ms);
        policy_unref(pol);
        if (ekind)
                metrics_engine_error(ekind);
        if (r < 0)
                log_info("exec agent='%s' session='%s' uid=%d failed: %s", req->agent,
                         req->session ? req->session : "", (int)peer->uid, err->msg);
        else
                log_info("exec %s agent='%s' session='%s' uid=%d backend=%s exit=%d signal=%d "
                         "timed_out=%d oom=%d %lldms",
                         res->execution_id, req->agent, req->session ? req->session : "",
                         (int)peer->uid, res->backend, res->exit_code, res->signal, res->timed_out,
                         res->oom_killed, (long long)res->duration_ms);
}

/* Streaming: a worker runs the exec and writes NDJSON events into a pipe that MHD sends as a
 * chunked response. A full pipe slows the exec's output reads: backpressure, flat memory. */
struct stream_job {
        struct api *ctx;
        struct exec_request req;
        struct ucred peer;
        bool slot;    /* holds an exec slot (auth_exec_slot_enter) */
        int out_fd;   /* pipe write end */
        int watch_fd; /* dup of the client connection, to notice it going away */
        char carry[2][4];
        size_t carry_len[2];
};

static int write_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t w = write(fd, p, n);

                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

static int write_event(int fd, json_t *ev)
{
        char *text;
        int r;

        if (!ev)
                return -ENOMEM;
        text = json_dumps(ev, JSON_COMPACT);
        json_decref(ev);
        if (!text)
                return -ENOMEM;
        r = write_all(fd, text, strlen(text));
        if (r == 0)
                r = write_all(fd, "\n", 1);
        free(text);
        return r;
}

static int stream_output(void *cls, enum exec_stream stream, const char *data, size_t len)
{
        struct stream_job *job = cls;
        int i = stream == EXEC_STDERR ? 1 : 0;
        _cleanup_free_ char *text = NULL;
        size_t n = 0;

        /* Keep multi-byte characters split across chunks whole. */
        text = util_utf8_sanitize_n(data, len, job->carry[i], &job->carry_len[i], &n);
        if (!text)
                return -ENOMEM;
        if (n == 0)
                return 0;
        return write_event(job->out_fd, json_pack("{s:s, s:s%}", "type", i ? "stderr" : "stdout",
                                                  "data", text, n));
}

/* A context's result, as it comes. */
static int stream_result(void *cls, json_t *result)
{
        struct stream_job *job = cls;
        json_t *ev = json_deep_copy(result);

        if (!ev)
                return -ENOMEM;
        json_object_set_new(ev, "type", json_string("result"));
        return write_event(job->out_fd, ev);
}

/* The first event: where to find this exec's record if the stream is cut. */
static void stream_started(void *cls, const struct exec_result *res)
{
        struct stream_job *job = cls;

        write_event(job->out_fd, json_pack("{s:s, s:s, s:s?}", "type", "start", "execution_id",
                                           res->execution_id, "sandbox_id",
                                           res->sandbox_id[0] ? res->sandbox_id : NULL));
}

static void *stream_worker(void *arg)
{
        struct stream_job *job = arg;
        struct exec_sink sink = {.output = stream_output,
                                 .started = stream_started,
                                 .result = stream_result,
                                 .ctx = job,
                                 .watch_fd = job->watch_fd,
                                 .cancel_fd = daemon_cancel_fd(job->ctx->core)};
        struct exec_result res;
        struct al_error err = {0};
        struct policy *pol = daemon_policy(job->ctx->core);
        int r;

        exec_result_init(&res, (size_t)pol->limits.output_bytes);
        policy_unref(pol);
        r = daemon_exec(job->ctx->core, &job->req, &sink, &res, &err);
        log_exec(job->ctx, &job->req, &res, &job->peer, r, &err);
        if (r < 0) {
                write_event(job->out_fd, json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error",
                                                   "code", al_err_name(r), "message", err.msg));
        } else {
                json_t *ev = api_exec_result_json(&res, true), *a;
                size_t i;

                json_array_foreach(res.artifacts, i, a)
                {
                        json_t *aev = json_deep_copy(a);

                        if (aev)
                                json_object_set_new(aev, "type", json_string("artifact"));
                        write_event(job->out_fd, aev);
                }

                if (ev)
                        json_object_set_new(ev, "type", json_string("exit"));
                write_event(job->out_fd, ev);
        }
        exec_result_clear(&res);
        close(job->out_fd);
        close(job->watch_fd);
        if (job->slot)
                auth_exec_slot_leave(job->ctx);
        daemon_inflight_leave(job->ctx->core);
        exec_request_clear(&job->req);
        free(job);
        return NULL;
}

/* *slot_held: the caller's exec slot, which passes to the worker when it starts. */
static enum MHD_Result start_stream(struct api *ctx, struct MHD_Connection *conn,
                                    struct exec_request *req, const struct ucred *peer,
                                    bool *slot_held)
{
        struct stream_job *job;
        struct MHD_Response *resp;
        pthread_attr_t attr;
        pthread_t tid;
        int p[2], cfd = api_connection_fd(conn);
        enum MHD_Result ret;

        job = calloc(1, sizeof(*job));
        if (!job || pipe2(p, O_CLOEXEC) < 0) {
                free(job);
                return api_send_error(conn, -ENOMEM, "cannot start a stream");
        }
        job->ctx = ctx;
        job->req = *req;
        memset(req, 0, sizeof(*req));
        job->peer = *peer;
        job->out_fd = p[1];
        /* Our own reference to the connection: MHD may close its fd while we still watch. */
        job->watch_fd = cfd >= 0 ? fcntl(cfd, F_DUPFD_CLOEXEC, 3) : -1;
        resp = MHD_create_response_from_pipe(p[0]);
        if (!resp) {
                close(p[0]);
                close(p[1]);
                if (job->watch_fd >= 0)
                        close(job->watch_fd);
                exec_request_clear(&job->req);
                free(job);
                return api_send_error(conn, -ENOMEM, "cannot start a stream");
        }
        MHD_add_response_header(resp, "Content-Type", "application/x-ndjson");
        if (!daemon_inflight_enter(ctx->core)) {
                MHD_destroy_response(resp);
                close(p[1]);
                if (job->watch_fd >= 0)
                        close(job->watch_fd);
                exec_request_clear(&job->req);
                free(job);
                return api_send_error(conn, -EOPNOTSUPP, "airlockd is shutting down");
        }
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        job->slot = *slot_held;
        if (pthread_create(&tid, &attr, stream_worker, job) != 0) {
                pthread_attr_destroy(&attr);
                MHD_destroy_response(resp);
                close(p[1]);
                if (job->watch_fd >= 0)
                        close(job->watch_fd);
                exec_request_clear(&job->req);
                free(job);
                daemon_inflight_leave(ctx->core);
                return api_send_error(conn, -EAGAIN, "cannot start a worker");
        }
        pthread_attr_destroy(&attr);
        *slot_held = false;
        ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
}

static bool wants_stream(struct MHD_Connection *conn, const struct exec_request *req)
{
        const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");

        return req->stream || (accept && strstr(accept, "application/x-ndjson"));
}

/* Parse, check and authorize an exec for who, and take an exec slot (*ret_slot: one to give
 * back). res is initialized in every case. */
static int exec_prepare(struct api *ctx, const struct auth_identity *who, const char *body,
                        size_t len, struct exec_request *req, struct exec_result *res,
                        bool *ret_slot, struct al_error *err)
{
        struct policy *pol = daemon_policy(ctx->core);
        int r;

        *ret_slot = false;
        exec_result_init(res, (size_t)pol->limits.output_bytes);
        r = exec_request_parse(body, len, req, err);
        if (r >= 0) {
                req->peer_uid = who->peer.uid;
                req->peer_pid = who->peer.pid;
                r = exec_request_check(req, pol, err);
        }
        policy_unref(pol);
        if (r < 0) {
                log_info("rejected exec from uid=%d: %s", (int)who->peer.uid, err->msg);
                return r;
        }
        return api_exec_admit(ctx, who, req, ret_slot, err);
}

int api_exec_admit(struct api *ctx, const struct auth_identity *who, const struct exec_request *req,
                   bool *ret_slot, struct al_error *err)
{
        int r;

        *ret_slot = false;
        /* Only as an agent the caller may act as; then only when a slot is free (or comes
         * free soon): a full queue sheds the request instead of growing. */
        r = auth_check_exec(ctx, who, req, err);
        if (r >= 0) {
                r = auth_exec_slot_enter(ctx, err);
                *ret_slot = r >= 0;
        }
        return r;
}

/* Run a prepared request to its end through the core. */
static int exec_blocking(struct api *ctx, const struct auth_identity *who, int watch_fd,
                         const struct exec_request *req, struct exec_result *res,
                         struct al_error *err)
{
        struct exec_sink sink = {.watch_fd = watch_fd, .cancel_fd = daemon_cancel_fd(ctx->core)};

        return api_exec_execute(ctx, who, req, &sink, res, err);
}

int api_exec_execute(struct api *ctx, const struct auth_identity *who,
                     const struct exec_request *req, const struct exec_sink *sink,
                     struct exec_result *res, struct al_error *err)
{
        struct ucred peer = {.pid = who->peer.pid, .uid = who->peer.uid, .gid = who->peer.gid};
        int r;

        if (!daemon_inflight_enter(ctx->core))
                return al_err(err, -EOPNOTSUPP, "airlockd is shutting down");
        r = daemon_exec(ctx->core, req, sink, res, err);
        daemon_inflight_leave(ctx->core);
        log_exec(ctx, req, res, &peer, r, err);
        return r;
}

int api_exec_run(struct api *ctx, const struct auth_identity *who, int watch_fd, const char *body,
                 size_t len, struct exec_result *res, struct al_error *err)
{
        struct exec_request req = {0};
        bool slot;
        int r;

        r = exec_prepare(ctx, who, body, len, &req, res, &slot, err);
        if (r >= 0)
                r = exec_blocking(ctx, who, watch_fd, &req, res, err);
        if (slot)
                auth_exec_slot_leave(ctx);
        exec_request_clear(&req);
        return r;
}

ROUTE_HANDLER(route_exec)
{
        struct exec_request req = {0};
        struct exec_result res;
        struct al_error err = {0};
        struct ucred peer;
        enum MHD_Result ret;
        bool slot = false;
        int r;

        api_peer_of(conn, &peer);
        r = exec_prepare(ctx, args->who, args->body, args->len, &req, &res, &slot, &err);
        if (r < 0) {
                ret = r == -AL_E_LIMITED ? auth_send_limited(conn, 1, err.msg)
                                         : api_send_error(conn, r, err.msg);
                goto out;
        }
        if (wants_stream(conn, &req)) {
                ret = start_stream(ctx, conn, &req, &peer, &slot);
                goto out;
        }
        r = exec_blocking(ctx, args->who, api_connection_fd(conn), &req, &res, &err);
        /* A sandbox cap: sandboxes go when sessions end or idle out, so ask again later. */
        if (r == -AL_E_LIMITED)
                ret = auth_send_limited(conn, 10, err.msg);
        else if (r < 0)
                ret = api_send_error(conn, r, err.msg);
        else
                ret = api_send_json(conn, MHD_HTTP_OK, api_exec_result_json(&res, false));
out:
        if (slot)
                auth_exec_slot_leave(ctx);
        exec_result_clear(&res);
        exec_request_clear(&req);
        return ret;
}
