/* Background processes of a sandbox: list them, read one's output so far, end one. */
#include <stdlib.h>

#include "airlock/cleanup.h"
#include "airlock/log.h"
#include "airlock/util.h"
#include "auth.h"
#include "routes.h"

/* What the path names: the sandbox (when the caller may use it) and, with want_pid, the
 * process. On any problem the error is sent and *ret_sent says so. */
static enum MHD_Result find_target(struct api *ctx, struct MHD_Connection *conn,
                                   const struct route_args *args, bool want_pid, bool for_kill,
                                   char **ret_id, long long *ret_pid, bool *ret_sent)
{
        _cleanup_free_ char *agent = NULL;
        struct backend *b = daemon_containers(ctx->core);
        int64_t pid = -1;
        int r;

        *ret_sent = true;
        if (want_pid && util_parse_int64(args->param2, 1, 4194304, &pid) < 0)
                return api_send_error(conn, -EINVAL, "a process id is a positive integer");
        /* SHARED sandboxes serve every agent: anyone may look, only admins may end. */
        r = api_sandbox_of(ctx, args->who, args->param, !for_kill, ret_id, &agent);
        if (r == -EINVAL)
                return api_send_error(conn, -EINVAL, "a sandbox id has at least 12 characters");
        if (r < 0)
                return api_send_error(conn, -ENOENT, "no such sandbox");
        if (!b || !b->ops->proc_list)
                return api_send_error(conn, -EOPNOTSUPP,
                                      "this backend has no background processes");
        *ret_pid = pid;
        *ret_sent = false;
        return MHD_YES;
}

/* GET: the list (no pid) or one process with its output. */
static enum MHD_Result get(struct api *ctx, struct MHD_Connection *conn,
                           const struct route_args *args, bool one)
{
        _cleanup_free_ char *id = NULL;
        struct backend *b = daemon_containers(ctx->core);
        struct al_error err = {0};
        enum MHD_Result ret;
        long long pid;
        bool sent;
        json_t *doc;

        ret = find_target(ctx, conn, args, one, false, &id, &pid, &sent);
        if (sent)
                return ret;
        doc = b->ops->proc_list(b, id, pid, &err);
        if (!doc)
                return api_send_error(conn, err.code ? err.code : -ENOENT, err.msg);
        if (!one)
                doc = json_pack("{s:s, s:o}", "sandbox_id", id, "processes", doc);
        return api_send_json(conn, MHD_HTTP_OK, doc);
}

ROUTE_HANDLER(route_procs_get)
{
        return get(ctx, conn, args, false);
}

ROUTE_HANDLER(route_proc_get)
{
        return get(ctx, conn, args, true);
}

ROUTE_HANDLER(route_proc_delete)
{
        _cleanup_free_ char *id = NULL;
        struct backend *b = daemon_containers(ctx->core);
        struct al_error err = {0};
        enum MHD_Result ret;
        long long pid;
        bool sent;
        int r;

        ret = find_target(ctx, conn, args, true, true, &id, &pid, &sent);
        if (sent)
                return ret;
        r = b->ops->proc_kill(b, id, pid, &err);
        if (r < 0)
                return api_send_error(conn, r, err.msg);
        log_info("background process %lld of sandbox %.12s ended on request", pid, id);
        return api_send_json(
            conn, MHD_HTTP_OK,
            json_pack("{s:s, s:I, s:b}", "sandbox_id", id, "pid", (json_int_t)pid, "killed", 1));
}
