/* The files API with no HTTP in sight (docs/files.md): find the sandbox a caller means and may
 * use, then stat, list, download, upload, mkdir, remove or move through the sandbox's files
 * helper (daemon_files_run), every answer bounded by the [files] caps. The v1 routes
 * (route_files.c) and the MCP tools (mcp_files.c) only shape requests and answers. */
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

void api_files_target_clear(struct api_files_target *t)
{
        free(t->handle);
        free(t->agent);
        memset(t, 0, sizeof(*t));
}

int api_files_target_id(struct api *ctx, const struct auth_identity *who, const char *id,
                        struct api_files_target *t, struct al_error *err)
{
        int r = api_sandbox_of(ctx, who, id, true, &t->handle, &t->agent);

        if (r == -EINVAL)
                return al_err(err, -EINVAL, "a sandbox id has at least 12 characters");
        if (r == -ENOENT && api_sandbox_suspended(ctx, who, id))
                return al_err(err, -AL_E_CONFLICT,
                              "sandbox '%s' is suspended: address its files by agent, session "
                              "and runtime (/v1/files), or run an exec, to resume it",
                              id);
        if (r < 0)
                return al_err(err, -ENOENT, "no such sandbox");
        t->ws = daemon_files_workspace(ctx->core, t->agent);
        return 0;
}

int api_files_target_scope(struct api *ctx, const struct auth_identity *who, const char *agent,
                           const char *session, const char *runtime, struct api_files_target *t,
                           struct al_error *err)
{
        if (!agent)
                agent = "default";
        if (!auth_may_act_as(who, agent))
                return auth_refuse(ctx, who, "use the files of", agent, session, NULL, err);
        t->agent = strdup(agent);
        if (!t->agent)
                return al_err(err, -ENOMEM, "out of memory");
        t->ws = daemon_files_workspace(ctx->core, agent);
        return daemon_files_sandbox(ctx->core, agent, session, runtime, &t->handle, err);
}

/* Runs the helper and parses its JSON answer (bounded by cap). */
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

static int with_path(json_t *o, const struct files_path *p, json_t **ret, struct al_error *err)
{
        if (json_object_set_new(o, "path", json_string(p->full)) < 0) {
                json_decref(o);
                return al_err(err, -ENOMEM, "out of memory");
        }
        *ret = o;
        return 0;
}

/* The helper's verb on one path, with one more argument when extra is not NULL. */
static int path_op(struct api *ctx, const struct api_files_target *t, const char *verb, bool write,
                   const char *extra, const char *path, size_t len, json_t **ret,
                   struct al_error *err)
{
        struct files_path p;
        json_t *o;
        int r = files_path_parse(path, len, t->ws, write, &p, err);

        if (r < 0)
                return r;
        r = api_files_run_json(ctx, t->handle, (const char *[]){verb, p.root, p.rel, extra, NULL},
                               SMALL_ANSWER, NULL, 0, &o, err);
        return r < 0 ? r : with_path(o, &p, ret, err);
}

int api_files_stat(struct api *ctx, const struct api_files_target *t, const char *path, size_t len,
                   json_t **ret, struct al_error *err)
{
        return path_op(ctx, t, "stat", false, NULL, path, len, ret, err);
}

int api_files_list(struct api *ctx, const struct api_files_target *t, const char *path, size_t len,
                   json_t **ret, struct al_error *err)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(ctx->core);
        struct files_path p;
        char max[24];
        json_t *o;
        int r = files_path_parse(path, len, t->ws, false, &p, err);

        if (r < 0)
                return r;
        snprintf(max, sizeof(max), "%lld", (long long)pol->files.entries_max);
        r = api_files_run_json(ctx, t->handle, (const char *[]){"list", p.root, p.rel, max, NULL},
                               (size_t)pol->files.entries_max * 4608 + SMALL_ANSWER, NULL, 0, &o,
                               err);
        if (r < 0)
                return r;
        if (!json_is_array(json_object_get(o, "entries"))) {
                json_decref(o);
                return al_err(err, -EPROTO, "the sandbox's files helper answered nonsense");
        }
        return with_path(o, &p, ret, err);
}

void api_files_blob_clear(struct api_files_blob *b)
{
        free(b->data);
        memset(b, 0, sizeof(*b));
}

/* A directory as a tar with its own name on top. */
static int download_dir(struct api *ctx, const struct api_files_target *t, const struct policy *pol,
                        const struct files_path *p, const char *base, struct api_files_blob *ret,
                        struct al_error *err)
{
        char max[24], entries[24];
        struct buf recs, tar;
        int r;

        snprintf(max, sizeof(max), "%lld", (long long)pol->files.download_bytes);
        snprintf(entries, sizeof(entries), "%lld", (long long)pol->files.entries_max);
        buf_init(&recs, (size_t)pol->files.download_bytes);
        r = daemon_files_run(ctx->core, t->handle,
                             (const char *[]){"pack", p->root, p->rel, base, max, entries, NULL},
                             NULL, 0, &recs, err);
        if (r < 0) {
                buf_free(&recs);
                return r;
        }
        buf_init(&tar, (size_t)pol->files.download_bytes + TAR_SLACK(pol->files.entries_max));
        r = files_records_to_tar((const uint8_t *)recs.data, recs.len, &tar, err);
        buf_free(&recs);
        if (r < 0) {
                buf_free(&tar);
                return r;
        }
        ret->data = buf_steal(&tar, &ret->len);
        ret->tar = true;
        snprintf(ret->name, sizeof(ret->name), "%.200s.tar", base);
        return 0;
}

int api_files_download(struct api *ctx, const struct api_files_target *t, const char *path,
                       size_t len, struct api_files_blob *ret, struct al_error *err)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(ctx->core);
        struct files_path p;
        char max[24];
        const char *type, *base;
        struct buf out;
        json_t *st;
        int r = files_path_parse(path, len, t->ws, false, &p, err);

        memset(ret, 0, sizeof(*ret));
        if (r < 0)
                return r;
        r = api_files_run_json(ctx, t->handle, (const char *[]){"stat", p.root, p.rel, NULL},
                               SMALL_ANSWER, NULL, 0, &st, err);
        if (r < 0)
                return r;
        type = json_string_value(json_object_get(st, "type"));
        base = strrchr(p.full, '/') + 1;
        if (type && strcmp(type, "directory") == 0) {
                json_decref(st);
                return download_dir(ctx, t, pol, &p, *base ? base : "root", ret, err);
        }
        if (!type || strcmp(type, "file") != 0) {
                r = al_err(err, -EINVAL,
                           "'%.200s' is a %s: only regular files and directories are "
                           "downloaded",
                           p.full, type ? type : "thing of unknown type");
                json_decref(st);
                return r;
        }
        json_decref(st);
        snprintf(max, sizeof(max), "%lld", (long long)pol->files.download_bytes);
        buf_init(&out, (size_t)pol->files.download_bytes);
        r = daemon_files_run(ctx->core, t->handle,
                             (const char *[]){"get", p.root, p.rel, max, NULL}, NULL, 0, &out, err);
        if (r < 0) {
                buf_free(&out);
                return r;
        }
        ret->data = buf_steal(&out, &ret->len);
        snprintf(ret->name, sizeof(ret->name), "%.200s", base);
        return 0;
}

int api_files_upload(struct api *ctx, const struct api_files_target *t, const char *path,
                     size_t len, int mode, bool tar, const void *body, size_t body_len,
                     json_t **ret, struct al_error *err)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(ctx->core);
        struct files_path p;
        char max[24], mode_s[16];
        json_t *o;
        int r = files_path_parse(path, len, t->ws, true, &p, err);

        if (r < 0)
                return r;
        if ((int64_t)body_len > pol->files.upload_bytes)
                return al_err(err, -AL_E_TOO_LARGE,
                              "an upload is at most %lld MiB ([files] upload_mb)",
                              (long long)(pol->files.upload_bytes >> 20));
        snprintf(mode_s, sizeof(mode_s), "%d",
                 mode < 0 ? 0644 : mode); /* the helper reads decimal */
        snprintf(max, sizeof(max), "%lld", (long long)pol->files.upload_bytes);
        if (tar) {
                struct buf recs;

                buf_init(&recs,
                         (size_t)pol->files.upload_bytes + TAR_SLACK(pol->files.entries_max));
                r = files_tar_to_records(body, body_len, (size_t)pol->files.entries_max, &recs,
                                         err);
                if (r >= 0) {
                        snprintf(max, sizeof(max), "%zu", recs.len + 1);
                        r = api_files_run_json(ctx, t->handle,
                                               (const char *[]){"unpack", p.root, p.rel, max, NULL},
                                               SMALL_ANSWER, recs.data, recs.len, &o, err);
                }
                buf_free(&recs);
        } else {
                r = api_files_run_json(ctx, t->handle,
                                       (const char *[]){"put", p.root, p.rel, mode_s, max, NULL},
                                       SMALL_ANSWER, body, body_len, &o, err);
                if (r >= 0)
                        json_object_set_new(o, "size", json_integer((json_int_t)body_len));
        }
        if (r < 0)
                return r;
        log_info("files: upload of %zu bytes to %s in sandbox %.12s", body_len, p.full, t->handle);
        return with_path(o, &p, ret, err);
}

int api_files_mkdir(struct api *ctx, const struct api_files_target *t, const char *path, size_t len,
                    json_t **ret, struct al_error *err)
{
        return path_op(ctx, t, "mkdir", true, NULL, path, len, ret, err);
}

int api_files_remove(struct api *ctx, const struct api_files_target *t, const char *path,
                     size_t len, bool recursive, json_t **ret, struct al_error *err)
{
        return path_op(ctx, t, "rm", true, recursive ? "1" : "0", path, len, ret, err);
}

int api_files_move(struct api *ctx, const struct api_files_target *t, const char *from,
                   size_t from_len, const char *to, size_t to_len, json_t **ret,
                   struct al_error *err)
{
        struct files_path f, d;
        json_t *o;
        int r = files_path_parse(from, from_len, t->ws, true, &f, err);

        if (r >= 0)
                r = files_path_parse(to, to_len, t->ws, true, &d, err);
        if (r < 0)
                return r;
        r = api_files_run_json(ctx, t->handle,
                               (const char *[]){"mv", f.root, f.rel, d.root, d.rel, NULL},
                               SMALL_ANSWER, NULL, 0, &o, err);
        if (r < 0)
                return r;
        json_object_set_new(o, "from", json_string(f.full));
        return with_path(o, &d, ret, err);
}
