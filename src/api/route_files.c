/* The files API (docs/files.md): upload, download, list, stat, mkdir, remove and move in a
 * sandbox, addressed by its id (/v1/sandboxes/{id}/files...) or by agent, session and runtime
 * (/v1/files...?agent=&session=&runtime=), under the same identity rules as exec. The work is
 * done inside the sandbox by its files helper (daemon_files_run); here only HTTP: the query,
 * the caps, the body and the answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/files.h"
#include "airlock/log.h"
#include "airlock/util.h"
#include "auth.h"
#include "routes.h"

int64_t api_files_body_cap(const struct policy *pol, const char *url, const char *method)
{
        size_t ul = strlen(url);

        if (strcmp(method, "PUT") != 0)
                return pol->max_body_bytes;
        if (strcmp(url, "/v1/files") == 0 || (strncmp(url, "/v1/sandboxes/", 14) == 0 && ul > 6 &&
                                              strcmp(url + ul - 6, "/files") == 0))
                return pol->files.upload_bytes > pol->max_body_bytes ? pol->files.upload_bytes
                                                                     : pol->max_body_bytes;
        return pol->max_body_bytes;
}

static const char *query(struct MHD_Connection *conn, const char *key, size_t *ret_len)
{
        const char *v = NULL;
        size_t len = 0;

        if (MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, key, strlen(key), &v,
                                          &len) != MHD_YES)
                return NULL;
        if (ret_len)
                *ret_len = len;
        return v ? v : "";
}

static int name_arg(struct MHD_Connection *conn, const char *key, const char **ret,
                    struct al_error *err)
{
        size_t len = 0;
        const char *v = query(conn, key, &len);

        *ret = NULL;
        if (!v)
                return 0;
        if (strlen(v) != len || !util_name_valid(v, EXEC_NAME_MAX))
                return al_err(err, -EINVAL,
                              "'%s' must be a name of 1..%d letters, digits, '.', '_' or '-'", key,
                              EXEC_NAME_MAX);
        *ret = v;
        return 0;
}

/* The sandbox the request means, which the caller may use. */
static int find_target(struct api *ctx, struct MHD_Connection *conn, const struct route_args *args,
                       struct api_files_target *t, struct al_error *err)
{
        const char *agent, *session, *runtime;
        int r;

        if (args->param)
                return api_files_target_id(ctx, args->who, args->param, t, err);
        if ((r = name_arg(conn, "agent", &agent, err)) < 0 ||
            (r = name_arg(conn, "session", &session, err)) < 0 ||
            (r = name_arg(conn, "runtime", &runtime, err)) < 0)
                return r;
        return api_files_target_scope(ctx, args->who, agent, session, runtime, t, err);
}

/* The query's ?path= (or another key). */
static int path_arg(struct MHD_Connection *conn, const char *key, const char **ret, size_t *ret_len,
                    struct al_error *err)
{
        *ret = query(conn, key, ret_len);
        return *ret ? 0 : al_err(err, -EINVAL, "the query parameter '%s' is required", key);
}

/* Every handler: find the target, then op; errors answered here. */
typedef int (*files_op)(struct api *ctx, struct MHD_Connection *conn, const struct route_args *args,
                        const struct api_files_target *t, enum MHD_Result *ret,
                        struct al_error *err);

static enum MHD_Result handle(struct api *ctx, struct MHD_Connection *conn,
                              const struct route_args *args, files_op op)
{
        struct api_files_target t = {0};
        struct al_error err = {0};
        enum MHD_Result ret = MHD_NO;
        int r;

        r = find_target(ctx, conn, args, &t, &err);
        if (r >= 0)
                r = op(ctx, conn, args, &t, &ret, &err);
        api_files_target_clear(&t);
        if (r < 0)
                return r == -AL_E_LIMITED
                           ? auth_send_limited(conn, 10, err.msg)
                           : api_send_error(conn, err.code ? err.code : -EIO, err.msg);
        return ret;
}

/* The ops whose answer is a JSON document: 200, or 201 when created. */
static int send_doc(struct MHD_Connection *conn, unsigned status, int r, json_t *doc,
                    enum MHD_Result *ret)
{
        if (r < 0)
                return r;
        *ret = api_send_json(conn, status, doc);
        return 0;
}

/* An op of one path whose answer is a document (stat, list, mkdir). */
typedef int (*path_fn)(struct api *ctx, const struct api_files_target *t, const char *path,
                       size_t len, json_t **ret, struct al_error *err);

static int path_doc(struct api *ctx, struct MHD_Connection *conn, const struct api_files_target *t,
                    path_fn fn, json_t **ret, struct al_error *err)
{
        const char *path;
        size_t len;
        int r = path_arg(conn, "path", &path, &len, err);

        return r < 0 ? r : fn(ctx, t, path, len, ret, err);
}

static int op_stat(struct api *ctx, struct MHD_Connection *conn, const struct route_args *args,
                   const struct api_files_target *t, enum MHD_Result *ret, struct al_error *err)
{
        json_t *o = NULL;
        int r = path_doc(ctx, conn, t, api_files_stat, &o, err);

        return send_doc(conn, MHD_HTTP_OK, r, o, ret);
}

static int op_list(struct api *ctx, struct MHD_Connection *conn, const struct route_args *args,
                   const struct api_files_target *t, enum MHD_Result *ret, struct al_error *err)
{
        json_t *o = NULL;
        int r = path_doc(ctx, conn, t, api_files_list, &o, err);

        return send_doc(conn, MHD_HTTP_OK, r, o, ret);
}

static int op_download(struct api *ctx, struct MHD_Connection *conn, const struct route_args *args,
                       const struct api_files_target *t, enum MHD_Result *ret, struct al_error *err)
{
        struct api_files_blob b;
        const char *path;
        char disp[320];
        size_t len;
        int r = path_arg(conn, "path", &path, &len, err);

        if (r >= 0)
                r = api_files_download(ctx, t, path, len, &b, err);
        if (r < 0)
                return r;
        snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", b.name);
        *ret = api_send_text(conn, MHD_HTTP_OK, b.data ? b.data : strdup(""), b.len,
                             b.tar ? "application/x-tar" : "application/octet-stream",
                             (const char *const[]){"Content-Disposition", disp, NULL});
        b.data = NULL;
        api_files_blob_clear(&b);
        return 0;
}

static bool is_tar(struct MHD_Connection *conn)
{
        const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");

        return ct && (strncmp(ct, "application/x-tar", 17) == 0 ||
                      strncmp(ct, "application/tar", 15) == 0);
}

static int op_upload(struct api *ctx, struct MHD_Connection *conn, const struct route_args *args,
                     const struct api_files_target *t, enum MHD_Result *ret, struct al_error *err)
{
        const char *mode_s = query(conn, "mode", NULL), *path;
        size_t len;
        long m = -1;
        json_t *o = NULL;
        int r = path_arg(conn, "path", &path, &len, err);

        if (r < 0)
                return r;
        if (mode_s) {
                char *end;

                m = strtol(mode_s, &end, 8);
                if (!*mode_s || *end || m < 0 || m > 0777)
                        return al_err(err, -EINVAL, "'mode' is octal permission bits (0..777)");
        }
        r = api_files_upload(ctx, t, path, len, (int)m, is_tar(conn), args->body, args->len, &o,
                             err);
        return send_doc(conn, MHD_HTTP_CREATED, r, o, ret);
}

static int op_mkdir(struct api *ctx, struct MHD_Connection *conn, const struct route_args *args,
                    const struct api_files_target *t, enum MHD_Result *ret, struct al_error *err)
{
        json_t *o = NULL;
        int r = path_doc(ctx, conn, t, api_files_mkdir, &o, err);

        return send_doc(
            conn, json_is_true(json_object_get(o, "created")) ? MHD_HTTP_CREATED : MHD_HTTP_OK, r,
            o, ret);
}

static int op_remove(struct api *ctx, struct MHD_Connection *conn, const struct route_args *args,
                     const struct api_files_target *t, enum MHD_Result *ret, struct al_error *err)
{
        const char *rec = query(conn, "recursive", NULL), *path;
        size_t len;
        json_t *o = NULL;
        int r = path_arg(conn, "path", &path, &len, err);

        if (r >= 0)
                r = api_files_remove(ctx, t, path, len,
                                     rec && (!strcmp(rec, "1") || !strcmp(rec, "true")), &o, err);
        return send_doc(conn, MHD_HTTP_OK, r, o, ret);
}

static int op_move(struct api *ctx, struct MHD_Connection *conn, const struct route_args *args,
                   const struct api_files_target *t, enum MHD_Result *ret, struct al_error *err)
{
        json_t *body = NULL, *o = NULL, *f, *d;
        int r = request_json_object(args->body, args->len, false, &body, err);

        if (r < 0)
                return r;
        f = json_object_get(body, "from");
        d = json_object_get(body, "to");
        if (!json_is_string(f) || !json_is_string(d))
                r = al_err(err, -EINVAL, "the body is {\"from\": PATH, \"to\": PATH}");
        else
                r = api_files_move(ctx, t, json_string_value(f), json_string_length(f),
                                   json_string_value(d), json_string_length(d), &o, err);
        json_decref(body);
        return send_doc(conn, MHD_HTTP_OK, r, o, ret);
}

ROUTE_HANDLER(route_files_download)
{
        return handle(ctx, conn, args, op_download);
}

ROUTE_HANDLER(route_files_upload)
{
        return handle(ctx, conn, args, op_upload);
}

ROUTE_HANDLER(route_files_remove)
{
        return handle(ctx, conn, args, op_remove);
}

ROUTE_HANDLER(route_files_list)
{
        return handle(ctx, conn, args, op_list);
}

ROUTE_HANDLER(route_files_stat)
{
        return handle(ctx, conn, args, op_stat);
}

ROUTE_HANDLER(route_files_mkdir)
{
        return handle(ctx, conn, args, op_mkdir);
}

ROUTE_HANDLER(route_files_move)
{
        return handle(ctx, conn, args, op_move);
}
