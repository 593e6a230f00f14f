/* Background processes of a sandbox: list them, read one's output so far, end one. */
#include <stdlib.h>

#include "airlock/cleanup.h"
#include "airlock/log.h"
#include "airlock/util.h"
#include "auth.h"
#include "routes.h"

/* The sandbox named by the path, when the caller may use it; else an error is sent. */
static enum MHD_Result find_sandbox(struct api *ctx, struct MHD_Connection *conn,
                                    const struct route_args *args, bool for_kill, char **ret_id,
                                    bool *ret_sent)
{
        _cleanup_free_ char *agent = NULL;
        int r;

        *ret_sent = false;
        /* SHARED sandboxes serve every agent: anyone may look, only admins may end. */
        r = api_sandbox_of(ctx, args->who, args->param, !for_kill, ret_id, &agent);
        if (r == 0)
                return MHD_YES;
        *ret_sent = true;
        if (r == -EINVAL)
                return api_send_error(conn, -EINVAL, "a sandbox id has at least 12 characters");
        return api_send_error(conn, -ENOENT, "no such sandbox");
}

static int parse_pid(const char *s, long long *ret)
{
        int64_t v;

        if (util_parse_int64(s, 1, 4194304, &v) < 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

static bool has_procs(struct api *ctx)
{
        return daemon_containers(ctx->core) && daemon_containers(ctx->core)->ops->proc_list;
}

ROUTE_HANDLER(route_procs_get)
{
        _cleanup_free_ char *id = NULL;
        struct al_error err = {0};
        enum MHD_Result ret;
        bool sent;
        json_t *list;

        ret = find_sandbox(ctx, conn, args, false, &id, &sent);
        if (sent)
                return ret;
        if (!has_procs(ctx))
                return api_send_error(conn, -EOPNOTSUPP,
                                      "this backend has no background processes");
        list = daemon_containers(ctx->core)->ops->proc_list(daemon_containers(ctx->core), id, -1,
                                                            &err);
        if (!list)
                return api_send_error(conn, err.code ? err.code : -ENOENT, err.msg);
        return api_send_json(conn, MHD_HTTP_OK,
                             json_pack("{s:s, s:o}", "sandbox_id", id, "processes", list));
}

ROUTE_HANDLER(route_proc_get)
{
        _cleanup_free_ char *id = NULL;
        struct al_error err = {0};
        enum MHD_Result ret;
        long long pid;
        bool sent;
        json_t *p;

        if (parse_pid(args->param2, &pid) < 0)
                return api_send_error(conn, -EINVAL, "a process id is a positive integer");
        ret = find_sandbox(ctx, conn, args, false, &id, &sent);
        if (sent)
                return ret;
        if (!has_procs(ctx))
                return api_send_error(conn, -EOPNOTSUPP,
                                      "this backend has no background processes");
        p = daemon_containers(ctx->core)->ops->proc_list(daemon_containers(ctx->core), id, pid,
                                                         &err);
        if (!p)
                return api_send_error(conn, err.code ? err.code : -ENOENT, err.msg);
        return api_send_json(conn, MHD_HTTP_OK, p);
}

ROUTE_HANDLER(route_proc_delete)
{
        _cleanup_free_ char *id = NULL;
        struct al_error err = {0};
        enum MHD_Result ret;
        long long pid;
        bool sent;
        int r;

        if (parse_pid(args->param2, &pid) < 0)
                return api_send_error(conn, -EINVAL, "a process id is a positive integer");
        ret = find_sandbox(ctx, conn, args, true, &id, &sent);
        if (sent)
                return ret;
        if (!has_procs(ctx))
                return api_send_error(conn, -EOPNOTSUPP,
                                      "this backend has no background processes");
        r = daemon_containers(ctx->core)->ops->proc_kill(daemon_containers(ctx->core), id, pid,
                                                         &err);
        if (r < 0)
                return api_send_error(conn, r, err.msg);
        log_info("background process %lld of sandbox %.12s ended on request", pid, id);
        return api_send_json(
            conn, MHD_HTTP_OK,
            json_pack("{s:s, s:I, s:b}", "sandbox_id", id, "pid", (json_int_t)pid, "killed", 1));
}
