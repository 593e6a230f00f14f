/* envd's filesystem: the filesystem.Filesystem service (Stat, ListDir, MakeDir, Remove, Move)
 * over Connect-RPC with JSON, and REST /files (download; upload as multipart/form-data or
 * application/octet-stream). Every operation is the files API's: the sandbox's own files
 * helper run inside it (daemon_files_run), the same file areas, caps and checks
 * (docs/files.md). A relative path is taken from the home, as envd takes it from the user's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/files.h"
#include "airlock/log.h"
#include "airlock/util.h"
#include "auth.h"
#include "e2b.h"
#include "routes.h"

#define SMALL_ANSWER (64u << 10)
#define UPLOAD_PARTS 64

/* The sandbox of the call, made again when it went (as an exec would). */
static int target(const struct e2b_call *c, char **ret_handle, struct al_error *err)
{
        return daemon_files_sandbox(c->ctx->core, c->sb->agent, c->sb->id, c->sb->runtime,
                                    ret_handle, err);
}

static int path_of(const struct e2b_call *c, const char *path, bool write, struct files_path *ret,
                   struct al_error *err)
{
        char full[FILES_PATH_MAX + 2];
        enum policy_workspace ws = daemon_files_workspace(c->ctx->core, c->sb->agent);
        int n;

        if (!path || !*path)
                return al_err(err, -EINVAL, "a path is required");
        n = path[0] == '/' ? snprintf(full, sizeof(full), "%s", path)
                           : snprintf(full, sizeof(full), "%s/%s", E2B_HOME, path);
        if (n < 0 || (size_t)n >= sizeof(full))
                return al_err(err, -EINVAL, "the path is too long");
        return files_path_parse(full, (size_t)n, ws, write, ret, err);
}

static int helper_json(const struct e2b_call *c, const char *handle, const char *const *args,
                       size_t cap, const void *in, size_t in_len, json_t **ret,
                       struct al_error *err)
{
        return api_files_run_json(c->ctx, handle, args, cap, in, in_len, ret, err);
}

static int stat_entry(const struct e2b_call *c, const char *handle, const struct files_path *p,
                      json_t **ret, struct al_error *err)
{
        json_t *o;
        int r = helper_json(c, handle, (const char *[]){"stat", p->root, p->rel, NULL},
                            SMALL_ANSWER, NULL, 0, &o, err);

        if (r < 0)
                return r;
        *ret = e2b_entry_info(o, p->full);
        json_decref(o);
        return *ret ? 0 : al_err(err, -ENOMEM, "out of memory");
}

/* ---- filesystem.Filesystem ---- */

static const char *str(json_t *msg, const char *key)
{
        return json_string_value(json_object_get(msg, key));
}

static int rpc_stat(const struct e2b_call *c, const char *h, json_t *msg, json_t **ret,
                    struct al_error *err)
{
        struct files_path p;
        json_t *e;
        int r = path_of(c, str(msg, "path"), false, &p, err);

        if (r >= 0)
                r = stat_entry(c, h, &p, &e, err);
        if (r >= 0)
                *ret = json_pack("{s:o}", "entry", e);
        return r;
}

static int rpc_list(const struct e2b_call *c, const char *h, json_t *msg, json_t **ret,
                    struct al_error *err)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(c->ctx->core);
        _cleanup_(json_decrefp) json_t *o = NULL;
        struct files_path p;
        json_t *entries, *e, *rows;
        char max[24];
        size_t i;
        int r = path_of(c, str(msg, "path"), false, &p, err);

        if (r < 0)
                return r;
        snprintf(max, sizeof(max), "%lld", (long long)pol->files.entries_max);
        r = helper_json(c, h, (const char *[]){"list", p.root, p.rel, max, NULL},
                        (size_t)pol->files.entries_max * 4608 + SMALL_ANSWER, NULL, 0, &o, err);
        if (r < 0)
                return r;
        entries = json_object_get(o, "entries");
        if (!json_is_array(entries))
                return al_err(err, -EPROTO, "the sandbox's files helper answered nonsense");
        rows = json_array();
        json_array_foreach(entries, i, e)
        {
                _cleanup_free_ char *path = NULL;
                const char *name = str(e, "name");

                if (!name || asprintf(&path, "%s/%s", strcmp(p.full, "/") ? p.full : "", name) < 0)
                        continue;
                json_array_append_new(rows, e2b_entry_info(e, path));
        }
        *ret = json_pack("{s:o}", "entries", rows);
        return 0;
}

static int rpc_mkdir(const struct e2b_call *c, const char *h, json_t *msg, json_t **ret,
                     struct al_error *err)
{
        _cleanup_(json_decrefp) json_t *o = NULL;
        struct files_path p;
        json_t *e;
        int r = path_of(c, str(msg, "path"), true, &p, err);

        if (r >= 0)
                r = helper_json(c, h, (const char *[]){"mkdir", p.root, p.rel, NULL}, SMALL_ANSWER,
                                NULL, 0, &o, err);
        if (r < 0)
                return r;
        /* envd answers an existing directory with already_exists (makeDir returns false). */
        if (!json_is_true(json_object_get(o, "created")))
                return al_err(err, -EEXIST, "'%.200s' already exists", p.full);
        r = stat_entry(c, h, &p, &e, err);
        if (r >= 0)
                *ret = json_pack("{s:o}", "entry", e);
        return r;
}

static int rpc_remove(const struct e2b_call *c, const char *h, json_t *msg, json_t **ret,
                      struct al_error *err)
{
        _cleanup_(json_decrefp) json_t *o = NULL;
        struct files_path p;
        int r = path_of(c, str(msg, "path"), true, &p, err);

        if (r >= 0)
                r = helper_json(c, h, (const char *[]){"rm", p.root, p.rel, "1", NULL},
                                SMALL_ANSWER, NULL, 0, &o, err);
        if (r >= 0)
                *ret = json_object();
        return r;
}

static int rpc_move(const struct e2b_call *c, const char *h, json_t *msg, json_t **ret,
                    struct al_error *err)
{
        _cleanup_(json_decrefp) json_t *o = NULL;
        struct files_path from, to;
        json_t *e;
        int r = path_of(c, str(msg, "source"), true, &from, err);

        if (r >= 0)
                r = path_of(c, str(msg, "destination"), true, &to, err);
        if (r >= 0)
                r = helper_json(c, h,
                                (const char *[]){"mv", from.root, from.rel, to.root, to.rel, NULL},
                                SMALL_ANSWER, NULL, 0, &o, err);
        if (r >= 0)
                r = stat_entry(c, h, &to, &e, err);
        if (r >= 0)
                *ret = json_pack("{s:o}", "entry", e);
        return r;
}

enum MHD_Result e2b_filesystem_rpc(const struct e2b_call *c, const char *method)
{
        static const struct {
                const char *name;
                int (*fn)(const struct e2b_call *, const char *, json_t *, json_t **,
                          struct al_error *);
        } rpcs[] = {{"Stat", rpc_stat},
                    {"ListDir", rpc_list},
                    {"MakeDir", rpc_mkdir},
                    {"Remove", rpc_remove},
                    {"Move", rpc_move}};
        _cleanup_(json_decrefp) json_t *msg = NULL;
        _cleanup_free_ char *handle = NULL;
        struct al_error err = {0};
        json_t *ans = NULL;
        size_t i;
        int r;

        for (i = 0; i < ARRAY_SIZE(rpcs) && strcmp(rpcs[i].name, method) != 0; i++)
                ;
        if (i == ARRAY_SIZE(rpcs))
                return e2b_send_connect_error(
                    c->conn,
                    strncmp(method, "Watch", 5) == 0 || strstr(method, "Watcher") ? -EOPNOTSUPP
                                                                                  : -ENOENT,
                    "watching directories is not supported by airlock; no such method");
        r = e2b_rpc_message(c, false, &msg, &err);
        if (r >= 0)
                r = target(c, &handle, &err);
        if (r >= 0)
                r = rpcs[i].fn(c, handle, msg, &ans, &err);
        if (r < 0)
                return e2b_send_connect_error(c->conn, r, err.msg);
        return api_send_json(c->conn, 200, ans);
}

/* ---- /files ---- */

static const char *query(struct MHD_Connection *conn, const char *key)
{
        return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result download(const struct e2b_call *c)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(c->ctx->core);
        _cleanup_(json_decrefp) json_t *st = NULL;
        _cleanup_free_ char *handle = NULL;
        struct al_error err = {0};
        struct files_path p;
        struct buf out;
        const char *type;
        char max[24];
        size_t len;
        char *data;
        int r = path_of(c, query(c->conn, "path"), false, &p, &err);

        if (r >= 0)
                r = target(c, &handle, &err);
        if (r >= 0)
                r = helper_json(c, handle, (const char *[]){"stat", p.root, p.rel, NULL},
                                SMALL_ANSWER, NULL, 0, &st, &err);
        type = json_string_value(json_object_get(st, "type"));
        if (r >= 0 && (!type || strcmp(type, "file") != 0))
                r = al_err(&err, -EINVAL, "path '%.200s' is a %s, not a file", p.full,
                           type ? type : "thing of unknown type");
        if (r < 0)
                return e2b_send_rest_error(c->conn, r, err.msg);
        snprintf(max, sizeof(max), "%lld", (long long)pol->files.download_bytes);
        buf_init(&out, (size_t)pol->files.download_bytes);
        r = daemon_files_run(c->ctx->core, handle,
                             (const char *[]){"get", p.root, p.rel, max, NULL}, NULL, 0, &out,
                             &err);
        if (r < 0) {
                buf_free(&out);
                return e2b_send_rest_error(c->conn, r, err.msg);
        }
        data = buf_steal(&out, &len);
        return api_send_text(c->conn, 200, data ? data : strdup(""), len,
                             "application/octet-stream", NULL);
}

static int put_one(const struct e2b_call *c, const char *handle, const char *path, size_t plen,
                   const char *data, size_t len, json_t *rows, struct al_error *err)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(c->ctx->core);
        _cleanup_(json_decrefp) json_t *o = NULL;
        _cleanup_free_ char *name = strndup(path, plen);
        struct files_path p;
        char max[24];
        int r;

        if (!name)
                return al_err(err, -ENOMEM, "out of memory");
        if (strlen(name) != plen)
                return al_err(err, -EINVAL, "a file name holds a NUL byte");
        r = path_of(c, name, true, &p, err);
        if (r < 0)
                return r;
        snprintf(max, sizeof(max), "%lld", (long long)pol->files.upload_bytes);
        r = helper_json(c, handle, (const char *[]){"put", p.root, p.rel, "420", max, NULL},
                        SMALL_ANSWER, data, len, &o, err);
        if (r < 0)
                return r;
        log_info("e2b: upload of %zu bytes to %s in sandbox %s", len, p.full, c->sb->id);
        json_array_append_new(rows, json_pack("{s:s, s:s, s:s}", "path", p.full, "name",
                                              strrchr(p.full, '/') + 1, "type", "file"));
        return 0;
}

static enum MHD_Result upload(const struct e2b_call *c)
{
        const char *ct = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Content-Type");
        const char *qpath = query(c->conn, "path");
        _cleanup_(json_decrefp) json_t *rows = json_array();
        _cleanup_free_ char *handle = NULL;
        struct e2b_part parts[UPLOAD_PARTS];
        struct al_error err = {0};
        char boundary[71];
        size_t n = 0;
        int r = target(c, &handle, &err);

        if (r >= 0 && e2b_multipart_boundary(ct, boundary) == 0) {
                r = e2b_multipart_parse(c->body, c->len, boundary, parts, UPLOAD_PARTS, &n, &err);
                /* One file with ?path= goes there; several go to their own names. */
                for (size_t i = 0; r >= 0 && i < n; i++) {
                        const char *name = n == 1 && qpath ? qpath : parts[i].filename;
                        size_t nlen = n == 1 && qpath ? strlen(qpath) : parts[i].filename_len;

                        if (!name)
                                r = al_err(&err, -EINVAL, "a part names no file (filename=)");
                        else
                                r = put_one(c, handle, name, nlen, parts[i].data, parts[i].len,
                                            rows, &err);
                }
        } else if (r >= 0) {
                /* application/octet-stream: the body is the file at ?path=. */
                r = qpath ? put_one(c, handle, qpath, strlen(qpath), c->body, c->len, rows, &err)
                          : al_err(&err, -EINVAL, "the query parameter 'path' is required");
        }
        if (r < 0)
                return e2b_send_rest_error(c->conn, r, err.msg);
        return api_send_json(c->conn, 200, json_incref(rows));
}

enum MHD_Result e2b_files_rest(const struct e2b_call *c, const char *method)
{
        if (strcmp(method, "GET") == 0)
                return download(c);
        if (strcmp(method, "POST") == 0)
                return upload(c);
        return e2b_send_rest_error(c->conn, -EINVAL, "/files takes GET and POST");
}
