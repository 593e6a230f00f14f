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

/* Answers that are JSON documents of the helper: a stat, a mkdir... */
#define SMALL_ANSWER (64u << 10)
/* A tar's own bytes beyond the records it is made of (headers, padding). */
#define TAR_SLACK(entries) ((size_t)(entries)*1536 + (64u << 10))

struct target {
        char *handle;
        char *agent; /* the sandbox's agent; NULL for a SHARED one */
        enum policy_workspace ws;
};

static void target_clear(struct target *t)
{
        free(t->handle);
        free(t->agent);
}

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
                       struct target *t, struct al_error *err)
{
        const char *agent, *session, *runtime;
        int r;

        if (args->param) {
                r = api_sandbox_of(ctx, args->who, args->param, true, &t->handle, &t->agent);
                if (r == -EINVAL)
                        return al_err(err, -EINVAL, "a sandbox id has at least 12 characters");
                if (r < 0)
                        return al_err(err, -ENOENT, "no such sandbox");
                t->ws = daemon_files_workspace(ctx->core, t->agent);
                return 0;
        }
        if ((r = name_arg(conn, "agent", &agent, err)) < 0 ||
            (r = name_arg(conn, "session", &session, err)) < 0 ||
            (r = name_arg(conn, "runtime", &runtime, err)) < 0)
                return r;
        if (!agent)
                agent = "default";
        if (!auth_may_act_as(args->who, agent))
                return auth_refuse(ctx, args->who, "use the files of", agent, session, NULL, err);
        t->agent = strdup(agent);
        if (!t->agent)
                return al_err(err, -ENOMEM, "out of memory");
        t->ws = daemon_files_workspace(ctx->core, agent);
        return daemon_files_sandbox(ctx->core, agent, session, runtime, &t->handle, err);
}

static int path_arg(struct MHD_Connection *conn, const char *key, const struct target *t,
                    bool write, struct files_path *ret, struct al_error *err)
{
        size_t len = 0;
        const char *v = query(conn, key, &len);

        if (!v)
                return al_err(err, -EINVAL, "the query parameter '%s' is required", key);
        return files_path_parse(v, len, t->ws, write, ret, err);
}

static int run_json(struct api *ctx, const struct target *t, const char *const *args, size_t cap,
                    const void *in, size_t in_len, json_t **ret, struct al_error *err)
{
        return api_files_run_json(ctx, t->handle, args, cap, in, in_len, ret, err);
}

int api_files_run_json(struct api *ctx, const char *handle, const char *const *args, size_t cap,
                       const void *in, size_t in_len, json_t **ret, struct al_error *err)
{
        struct buf out;
        int r;

        buf_init(&out, cap);
        r = daemon_files_run(ctx->core, handle, args, in, in_len, &out, err);
        if (r >= 0) {
                *ret = json_loadb(out.data ? out.data : "", out.len, 0, NULL);
                if (!json_is_object(*ret)) {
                        json_decref(*ret);
                        *ret = NULL;
                        r = al_err(err, -EPROTO, "the sandbox's files helper answered nonsense");
                }
        }
        buf_free(&out);
        return r;
}

static enum MHD_Result send_err(struct MHD_Connection *conn, const struct al_error *err)
{
        return api_send_error(conn, err->code ? err->code : -EIO, err->msg);
}

/* Every handler: find the target, then op; errors answered here. */
typedef int (*files_op)(struct api *ctx, struct MHD_Connection *conn, const struct route_args *args,
                        const struct target *t, enum MHD_Result *ret, struct al_error *err);

static enum MHD_Result handle(struct api *ctx, struct MHD_Connection *conn,
                              const struct route_args *args, files_op op)
{
        struct target t = {0};
        struct al_error err = {0};
        enum MHD_Result ret = MHD_NO;
        int r;

        r = find_target(ctx, conn, args, &t, &err);
        if (r >= 0)
                r = op(ctx, conn, args, &t, &ret, &err);
        target_clear(&t);
        if (r < 0)
                return r == -AL_E_LIMITED ? auth_send_limited(conn, 10, err.msg)
                                          : send_err(conn, &err);
        return ret;
}

static json_t *with_path(json_t *o, const struct files_path *p)
{
        json_object_set_new(o, "path", json_string(p->full));
        return o;
}

static int op_stat(struct api *ctx, struct MHD_Connection *conn, const struct route_args *args,
                   const struct target *t, enum MHD_Result *ret, struct al_error *err)
{
        struct files_path p;
        json_t *o;
        int r = path_arg(conn, "path", t, false, &p, err);

        if (r < 0)
                return r;
        r = run_json(ctx, t, (const char *[]){"stat", p.root, p.rel, NULL}, SMALL_ANSWER, NULL, 0,
                     &o, err);
        if (r < 0)
                return r;
        *ret = api_send_json(conn, MHD_HTTP_OK, with_path(o, &p));
        return 0;
}

static int op_list(struct api *ctx, struct MHD_Connection *conn, const struct route_args *args,
                   const struct target *t, enum MHD_Result *ret, struct al_error *err)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(ctx->core);
        struct files_path p;
        char max[24];
        json_t *o;
        int r = path_arg(conn, "path", t, false, &p, err);

        if (r < 0)
                return r;
        snprintf(max, sizeof(max), "%lld", (long long)pol->files.entries_max);
        r = run_json(ctx, t, (const char *[]){"list", p.root, p.rel, max, NULL},
                     (size_t)pol->files.entries_max * 4608 + SMALL_ANSWER, NULL, 0, &o, err);
        if (r < 0)
                return r;
        if (!json_is_array(json_object_get(o, "entries"))) {
                json_decref(o);
                return al_err(err, -EPROTO, "the sandbox's files helper answered nonsense");
        }
        *ret = api_send_json(conn, MHD_HTTP_OK, with_path(o, &p));
        return 0;
}

static int op_download(struct api *ctx, struct MHD_Connection *conn, const struct route_args *args,
                       const struct target *t, enum MHD_Result *ret, struct al_error *err)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(ctx->core);
        struct files_path p;
        char max[24], entries[24], disp[320];
        const char *type, *base;
        struct buf out;
        json_t *st;
        size_t len;
        char *data;
        int r = path_arg(conn, "path", t, false, &p, err);

        if (r < 0)
                return r;
        r = run_json(ctx, t, (const char *[]){"stat", p.root, p.rel, NULL}, SMALL_ANSWER, NULL, 0,
                     &st, err);
        if (r < 0)
                return r;
        type = json_string_value(json_object_get(st, "type"));
        base = strrchr(p.full, '/') + 1;
        snprintf(max, sizeof(max), "%lld", (long long)pol->files.download_bytes);
        snprintf(entries, sizeof(entries), "%lld", (long long)pol->files.entries_max);
        if (type && strcmp(type, "file") == 0) {
                json_decref(st);
                buf_init(&out, (size_t)pol->files.download_bytes);
                r = daemon_files_run(ctx->core, t->handle,
                                     (const char *[]){"get", p.root, p.rel, max, NULL}, NULL, 0,
                                     &out, err);
                if (r < 0) {
                        buf_free(&out);
                        return r;
                }
                data = buf_steal(&out, &len);
                snprintf(disp, sizeof(disp), "attachment; filename=\"%.200s\"", base);
                *ret = api_send_text(conn, MHD_HTTP_OK, data ? data : strdup(""), len,
                                     "application/octet-stream",
                                     (const char *const[]){"Content-Disposition", disp, NULL});
                return 0;
        }
        if (!type || strcmp(type, "directory") != 0) {
                r = al_err(err, -EINVAL,
                           "'%.200s' is a %s: only regular files and directories are "
                           "downloaded",
                           p.full, type ? type : "thing of unknown type");
                json_decref(st);
                return r;
        }
        json_decref(st);
        {
                struct buf recs, tar;

                buf_init(&recs, (size_t)pol->files.download_bytes);
                r = daemon_files_run(ctx->core, t->handle,
                                     (const char *[]){"pack", p.root, p.rel, *base ? base : "root",
                                                      max, entries, NULL},
                                     NULL, 0, &recs, err);
                if (r < 0) {
                        buf_free(&recs);
                        return r;
                }
                buf_init(&tar,
                         (size_t)pol->files.download_bytes + TAR_SLACK(pol->files.entries_max));
                r = files_records_to_tar((const uint8_t *)recs.data, recs.len, &tar, err);
                buf_free(&recs);
                if (r < 0) {
                        buf_free(&tar);
                        return r;
                }
                data = buf_steal(&tar, &len);
                snprintf(disp, sizeof(disp), "attachment; filename=\"%.200s.tar\"",
                         *base ? base : "root");
                *ret = api_send_text(conn, MHD_HTTP_OK, data ? data : strdup(""), len,
                                     "application/x-tar",
                                     (const char *const[]){"Content-Disposition", disp, NULL});
        }
        return 0;
}

static bool is_tar(struct MHD_Connection *conn)
{
        const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");

        return ct && (strncmp(ct, "application/x-tar", 17) == 0 ||
                      strncmp(ct, "application/tar", 15) == 0);
}

static int op_upload(struct api *ctx, struct MHD_Connection *conn, const struct route_args *args,
                     const struct target *t, enum MHD_Result *ret, struct al_error *err)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(ctx->core);
        struct files_path p;
        const char *mode_s = query(conn, "mode", NULL);
        char max[24], mode[8];
        long m = 0644;
        json_t *o;
        int r = path_arg(conn, "path", t, true, &p, err);

        if (r < 0)
                return r;
        if (mode_s) {
                char *end;

                m = strtol(mode_s, &end, 8);
                if (!*mode_s || *end || m < 0 || m > 0777)
                        return al_err(err, -EINVAL, "'mode' is octal permission bits (0..777)");
        }
        snprintf(mode, sizeof(mode), "%ld", m); /* the helper reads decimal */
        snprintf(max, sizeof(max), "%lld", (long long)pol->files.upload_bytes);
        if (is_tar(conn)) {
                struct buf recs;

                buf_init(&recs,
                         (size_t)pol->files.upload_bytes + TAR_SLACK(pol->files.entries_max));
                r = files_tar_to_records(args->body, args->len, (size_t)pol->files.entries_max,
                                         &recs, err);
                if (r >= 0) {
                        snprintf(max, sizeof(max), "%zu", recs.len + 1);
                        r = run_json(ctx, t, (const char *[]){"unpack", p.root, p.rel, max, NULL},
                                     SMALL_ANSWER, recs.data, recs.len, &o, err);
                }
                buf_free(&recs);
        } else {
                r = run_json(ctx, t, (const char *[]){"put", p.root, p.rel, mode, max, NULL},
                             SMALL_ANSWER, args->body, args->len, &o, err);
                if (r >= 0)
                        json_object_set_new(o, "size", json_integer((json_int_t)args->len));
        }
        if (r < 0)
                return r;
        log_info("files: upload of %zu bytes to %s in sandbox %.12s", args->len, p.full, t->handle);
        *ret = api_send_json(conn, MHD_HTTP_CREATED, with_path(o, &p));
        return 0;
}

static int op_mkdir(struct api *ctx, struct MHD_Connection *conn, const struct route_args *args,
                    const struct target *t, enum MHD_Result *ret, struct al_error *err)
{
        struct files_path p;
        json_t *o;
        int r = path_arg(conn, "path", t, true, &p, err);

        if (r < 0)
                return r;
        r = run_json(ctx, t, (const char *[]){"mkdir", p.root, p.rel, NULL}, SMALL_ANSWER, NULL, 0,
                     &o, err);
        if (r < 0)
                return r;
        *ret = api_send_json(
            conn, json_is_true(json_object_get(o, "created")) ? MHD_HTTP_CREATED : MHD_HTTP_OK,
            with_path(o, &p));
        return 0;
}

static int op_remove(struct api *ctx, struct MHD_Connection *conn, const struct route_args *args,
                     const struct target *t, enum MHD_Result *ret, struct al_error *err)
{
        const char *rec = query(conn, "recursive", NULL);
        struct files_path p;
        json_t *o;
        int r = path_arg(conn, "path", t, true, &p, err);

        if (r < 0)
                return r;
        r = run_json(
            ctx, t,
            (const char *[]){"rm", p.root, p.rel,
                             rec && (!strcmp(rec, "1") || !strcmp(rec, "true")) ? "1" : "0", NULL},
            SMALL_ANSWER, NULL, 0, &o, err);
        if (r < 0)
                return r;
        *ret = api_send_json(conn, MHD_HTTP_OK, with_path(o, &p));
        return 0;
}

static int op_move(struct api *ctx, struct MHD_Connection *conn, const struct route_args *args,
                   const struct target *t, enum MHD_Result *ret, struct al_error *err)
{
        struct files_path from, to;
        json_t *body = NULL, *o, *f, *d;
        int r = request_json_object(args->body, args->len, false, &body, err);

        if (r < 0)
                return r;
        f = json_object_get(body, "from");
        d = json_object_get(body, "to");
        if (!json_is_string(f) || !json_is_string(d)) {
                json_decref(body);
                return al_err(err, -EINVAL, "the body is {\"from\": PATH, \"to\": PATH}");
        }
        r = files_path_parse(json_string_value(f), json_string_length(f), t->ws, true, &from, err);
        if (r >= 0)
                r = files_path_parse(json_string_value(d), json_string_length(d), t->ws, true, &to,
                                     err);
        json_decref(body);
        if (r < 0)
                return r;
        r = run_json(ctx, t, (const char *[]){"mv", from.root, from.rel, to.root, to.rel, NULL},
                     SMALL_ANSWER, NULL, 0, &o, err);
        if (r < 0)
                return r;
        json_object_set_new(o, "from", json_string(from.full));
        *ret = api_send_json(conn, MHD_HTTP_OK, with_path(o, &to));
        return 0;
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
