/* The audit trail of executions in the store: begun before the exec runs, finished (durably)
 * before its result is acknowledged. */
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/log.h"
#include "audit.h"

/* What was asked to run, as one string for the audit's preview and hash. */
static char *code_text(const struct exec_request *req)
{
        struct buf b;

        if (req->code)
                return strdup(req->code);
        if (req->command)
                return strdup(req->command);
        buf_init(&b, 1 << 20);
        for (size_t i = 0; req->argv && req->argv[i]; i++)
                if (buf_appendf(&b, i ? " %s" : "%s", req->argv[i]) < 0) {
                        buf_free(&b);
                        return NULL;
                }
        return b.data ? buf_steal(&b, NULL) : strdup("");
}

int audit_begin(struct daemon *ctx, const struct exec_request *req, struct exec_result *res,
                const struct runtime *rt, const char *id, bool host, struct store_execution *a,
                struct al_error *err)
{
        _cleanup_free_ char *code = NULL;
        int r;

        if (!ctx->store)
                return 0;
        code = code_text(req);
        if (!code)
                return al_err(err, -ENOMEM, "out of memory");
        memcpy(a->id, id, sizeof(a->id));
        a->agent = req->agent;
        a->session = req->session;
        a->peer_uid = req->peer_uid;
        a->peer_pid = req->peer_pid;
        a->mode = res->decision.mode;
        a->sandboxed = !host;
        a->reason = res->decision.reason;
        a->runtime = rt->name;
        a->isolation = host ? NULL : res->tier;
        a->code = code;
        a->code_len = strlen(code);
        a->touch_session = req->session != NULL;
        r = store_execution_begin(ctx->store, a, err);
        a->code = NULL;
        if (r < 0)
                return al_err_wrap(err, r, "recording the execution");
        return 0;
}

int audit_gate_open(void *gate, struct al_error *err)
{
        struct audit_gate *g = gate;

        if (!g->done) {
                g->done = true;
                g->r = audit_begin(g->ctx, g->req, g->res, g->rt, g->id, g->host, g->a, err);
        } else if (g->r < 0 && err->code == 0) {
                al_err(err, g->r, "the execution could not be recorded");
        }
        return g->r;
}

int audit_finish(struct daemon *ctx, struct store_execution *a, const struct exec_result *res,
                 int run_r, struct al_error *err)
{
        struct al_error serr = {0};
        int r;

        if (!ctx->store)
                return 0;
        if (run_r < 0) {
                r = store_execution_fail(ctx->store, a->id, err->msg, res->duration_ms, 0, &serr);
        } else {
                a->backend = res->backend;
                a->sandbox_id = res->sandbox_id[0] ? res->sandbox_id : NULL;
                a->exit_code = res->exit_code;
                a->signal = res->signal;
                a->timed_out = res->timed_out;
                a->oom_killed = res->oom_killed;
                a->cancelled = res->aborted;
                a->sandbox_lost = res->sandbox_lost[0] ? res->sandbox_lost : NULL;
                a->stdout_bytes = (int64_t)(res->out.len + res->out.dropped);
                a->stderr_bytes = (int64_t)(res->err.len + res->err.dropped);
                a->stdout_truncated = buf_truncated(&res->out);
                a->stderr_truncated = buf_truncated(&res->err);
                a->duration_ms = res->duration_ms;
                r = store_execution_finish(ctx->store, a, &serr);
        }
        if (r < 0) {
                log_error("recording the end of execution %s: %s", a->id, serr.msg);
                if (run_r >= 0)
                        return al_err(err, r, "the exec ran but its record could not be saved: %s",
                                      serr.msg);
        }
        return 0;
}
