/* Background processes of a sandbox: list them, read one's output so far, end one. */
#include <stdlib.h>

#include "airlock/util.h"
#include "auth.h"
#include "routes.h"

/* The {pid} of the path, or -1 for the list. */
static int pid_arg(const struct route_args *args, bool want_pid, long long *ret,
                   struct al_error *err)
{
        int64_t pid = -1;

        if (want_pid && util_parse_int64(args->param2, 1, 4194304, &pid) < 0)
                return al_err(err, -EINVAL, "a process id is a positive integer");
        *ret = pid;
        return 0;
}

/* GET: the list (no pid) or one process with its output. */
static enum MHD_Result get(struct api *ctx, struct MHD_Connection *conn,
                           const struct route_args *args, bool one)
{
        struct al_error err = {0};
        json_t *doc = NULL;
        long long pid = -1;

        if (pid_arg(args, one, &pid, &err) < 0 ||
            api_procs_get(ctx, args->who, args->param, pid, &doc, &err) < 0)
                return api_send_error(conn, err.code, err.msg);
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
        struct al_error err = {0};
        json_t *doc = NULL;
        long long pid = -1;

        if (pid_arg(args, true, &pid, &err) < 0 ||
            api_proc_kill(ctx, args->who, args->param, pid, &doc, &err) < 0)
                return api_send_error(conn, err.code, err.msg);
        return api_send_json(conn, MHD_HTTP_OK, doc);
}
