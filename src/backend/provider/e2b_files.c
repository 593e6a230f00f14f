/* Files of E2B sandboxes (docs/providers.md, "Files"): the sandbox files helper's verbs
 * (src/agent/files.c) done over envd's filesystem.Filesystem service (Stat, ListDir, MakeDir,
 * Remove, Move) and REST /files (download, multipart upload), answered with the helper's own
 * documents, so the files API, MCP and the E2B front end above see no difference. A provider's
 * sandbox has no airlock helper in it (real E2B); the path checks were made before this (the
 * daemon's files_path_parse), and what comes back is bounded like the helper's output. Tar
 * upload and download of directories, artifacts and snapshots are not offered (EOPNOTSUPP). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "airlock/cleanup.h"
#include "airlock/log.h"
#include "backend/provider/e2b_http.h"
#include "backend/provider/e2b_proto.h"
#include "backend/provider/provider_private.h"

#define SMALL_CAP    (1u << 20)
#define PATH_BYTES   8192
#define BOUNDARY_LEN 40

struct fs_call {
        struct backend *b;
        struct e2b_target t;
        struct exec_result *res;
        struct al_error *err;
};

/* The helper's failure: its error document on stderr, exit status 1. */
static int file_fail(struct fs_call *fc, int e, const char *msg)
{
        _cleanup_free_ char *doc = e2b_fs_error_doc(e, msg);

        if (!doc)
                return al_err(fc->err, -ENOMEM, "out of memory");
        buf_append(&fc->res->err, doc, strlen(doc));
        fc->res->exit_code = 1;
        return 1;
}

/* The helper's success: one JSON document on stdout. */
static int answer(struct fs_call *fc, json_t *o)
{
        _cleanup_free_ char *s = e2b_json_text(o);

        if (!s)
                return al_err(fc->err, -ENOMEM, "out of memory");
        buf_append(&fc->res->out, s, strlen(s));
        buf_append(&fc->res->out, "\n", 1);
        fc->res->exit_code = 0;
        return 0;
}

/* An answer other than 200: a file's failure (1, written as the helper's) when envd says what
 * it was, else the provider's (< 0). */
static int not_ok(struct fs_call *fc, const char *what, const struct e2b_answer *a)
{
        int e = e2b_fs_errno(a->status, a->body.data, a->body.len);

        if (e)
                return file_fail(fc, e, a->message);
        return al_err(fc->err, -AL_E_PROVIDER, "provider '%s' could not %s (HTTP %ld): %s",
                      e2b_backend_name(fc->b), what, a->status, a->message);
}

/* A unary filesystem call: 0 with the answer (200), 1 on a file's failure, < 0. */
static int fs_rpc(struct fs_call *fc, const char *method, json_t *msg, struct e2b_answer *a)
{
        _cleanup_free_ char *json = e2b_json_text(msg);
        char rpc[64];
        int r;

        if (!json)
                return al_err(fc->err, -ENOMEM, "out of memory");
        snprintf(rpc, sizeof(rpc), "filesystem.Filesystem/%s", method);
        r = e2b_rpc_call(e2b_backend_client(fc->b), &fc->t, rpc, json, a, fc->err);
        if (r < 0)
                return al_err_wrap(fc->err, -AL_E_PROVIDER, "provider '%s'",
                                   e2b_backend_name(fc->b));
        return a->status == 200 ? 0 : not_ok(fc, method, a);
}

/* Stat of path as the helper's entry (shown as name) into *ret: 0, 1 (failure written), < 0. */
static int stat_of(struct fs_call *fc, const char *path, const char *name, json_t **ret)
{
        struct e2b_answer a;
        int r;

        e2b_answer_init(&a);
        r = fs_rpc(fc, "Stat", e2b_fs_path_body(path), &a);
        if (r == 0 && e2b_fs_stat_answer(a.body.data, a.body.len, name, ret, fc->err) < 0)
                r = al_err_wrap(fc->err, -AL_E_PROVIDER, "provider '%s'", e2b_backend_name(fc->b));
        e2b_answer_free(&a);
        return r;
}

static const char *type_of(json_t *entry)
{
        const char *t = json_string_value(json_object_get(entry, "type"));

        return t ? t : "";
}

static const char *shown(const char *rel)
{
        const char *slash = strrchr(rel, '/');

        return slash ? slash + 1 : rel;
}

static int do_stat(struct fs_call *fc, const char *path, const char *rel)
{
        json_t *o;
        int r = stat_of(fc, path, shown(rel), &o);

        return r == 0 ? answer(fc, o) : r;
}

static int list_of(struct fs_call *fc, const char *path, size_t max, json_t **ret)
{
        struct e2b_answer a;
        int r;

        e2b_answer_init(&a);
        r = fs_rpc(fc, "ListDir", e2b_fs_list_body(path), &a);
        if (r == 0 && e2b_fs_list_answer(a.body.data, a.body.len, max, ret, fc->err) < 0)
                r = al_err_wrap(fc->err, -AL_E_PROVIDER, "provider '%s'", e2b_backend_name(fc->b));
        e2b_answer_free(&a);
        return r;
}

static int do_list(struct fs_call *fc, const char *path, size_t max)
{
        json_t *o;
        int r = list_of(fc, path, max, &o);

        return r == 0 ? answer(fc, o) : r;
}

static int do_get(struct fs_call *fc, const char *path, const char *rel, uint64_t max)
{
        _cleanup_(json_decrefp) json_t *st = NULL;
        _cleanup_free_ char *query = e2b_files_query(path);
        char where[PATH_BYTES + 16];
        const char *type;
        struct e2b_answer a;
        size_t cap = max < fc->res->out.max ? (size_t)max : fc->res->out.max;
        int r = stat_of(fc, path, shown(rel), &st);

        if (r != 0)
                return r;
        type = type_of(st);
        if (strcmp(type, "directory") == 0)
                return file_fail(fc, EISDIR, "a directory: download it as a tar");
        if (strcmp(type, "symlink") == 0)
                return file_fail(fc, ELOOP, "a symbolic link: links are not followed");
        if (strcmp(type, "file") != 0)
                return file_fail(fc, EBADFD, "not a regular file");
        if ((uint64_t)json_integer_value(json_object_get(st, "size")) > max)
                return file_fail(fc, EFBIG, "over the download limit");
        if (!query)
                return al_err(fc->err, -ENAMETOOLONG, "the path is too long");
        snprintf(where, sizeof(where), "files?%s", query);
        e2b_answer_init(&a);
        r = e2b_envd_request(e2b_backend_client(fc->b), &fc->t, "GET", where, NULL, NULL, 0, cap,
                             &a, fc->err);
        if (r < 0 && buf_truncated(&a.body))
                r = file_fail(fc, EFBIG, "larger than the download limit");
        else if (r < 0)
                r = al_err_wrap(fc->err, -AL_E_PROVIDER, "provider '%s'", e2b_backend_name(fc->b));
        else if (a.status != 200)
                r = not_ok(fc, "download a file", &a);
        else
                buf_append(&fc->res->out, a.body.data ? a.body.data : "", a.body.len);
        e2b_answer_free(&a);
        return r;
}

/* A boundary that does not occur in data. */
static int boundary_for(const void *data, size_t len, char out[BOUNDARY_LEN + 1])
{
        for (int attempt = 0; attempt < 8; attempt++) {
                unsigned char rnd[BOUNDARY_LEN / 2];

                if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
                        return -EIO;
                for (size_t i = 0; i < sizeof(rnd); i++)
                        snprintf(out + 2 * i, 3, "%02x", rnd[i]);
                if (!memmem(data, len, out, BOUNDARY_LEN))
                        return 0;
        }
        return -EIO;
}

static int do_put(struct fs_call *fc, const char *path, const char *rel, const void *in,
                  size_t in_len, uint64_t max)
{
        _cleanup_(json_decrefp) json_t *st = NULL;
        _cleanup_free_ char *query = e2b_files_query(path);
        char boundary[BOUNDARY_LEN + 1], ctype[96], where[PATH_BYTES + 16];
        struct e2b_answer a;
        struct buf body;
        int r;

        if (in_len > max)
                return file_fail(fc, EFBIG, "the upload is larger than its limit");
        if (strcmp(rel, ".") == 0)
                return file_fail(fc, EISDIR,
                                 "a directory: upload a file to a path beneath it, or a tar");
        r = stat_of(fc, path, shown(rel), &st);
        if (r < 0)
                return r;
        if (r == 0 && strcmp(type_of(st), "directory") == 0)
                return file_fail(fc, EISDIR,
                                 "a directory: upload a file to a path beneath it, or a tar");
        /* Not there (the failure written for Stat is not this call's). */
        buf_reset(&fc->res->err);
        fc->res->exit_code = 0;
        /* An upload onto a link replaces the link, as the helper's does, not its target. */
        if (r == 0 && strcmp(type_of(st), "symlink") == 0) {
                e2b_answer_init(&a);
                r = fs_rpc(fc, "Remove", e2b_fs_path_body(path), &a);
                e2b_answer_free(&a);
                if (r != 0)
                        return r;
        }
        if (!query)
                return al_err(fc->err, -ENAMETOOLONG, "the path is too long");
        if (boundary_for(in, in_len, boundary) < 0)
                return al_err(fc->err, -EIO, "no multipart boundary could be drawn");
        buf_init(&body, in_len + 4096);
        if (e2b_multipart_file(&body, boundary, path, in ? in : "", in_len) < 0) {
                buf_free(&body);
                return al_err(fc->err, -ENOMEM, "out of memory");
        }
        snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=%s", boundary);
        snprintf(where, sizeof(where), "files?%s", query);
        e2b_answer_init(&a);
        r = e2b_envd_request(e2b_backend_client(fc->b), &fc->t, "POST", where, ctype, body.data,
                             body.len, SMALL_CAP, &a, fc->err);
        buf_free(&body);
        if (r < 0)
                r = al_err_wrap(fc->err, -AL_E_PROVIDER, "provider '%s'", e2b_backend_name(fc->b));
        else if (a.status != 200 && a.status != 201)
                r = not_ok(fc, "upload a file", &a);
        else
                r = answer(fc, json_pack("{s:b}", "written", 1));
        e2b_answer_free(&a);
        return r;
}

static int do_mkdir(struct fs_call *fc, const char *path, const char *rel)
{
        _cleanup_(json_decrefp) json_t *st = NULL;
        struct e2b_answer a;
        long status;
        int r;

        e2b_answer_init(&a);
        r = fs_rpc(fc, "MakeDir", e2b_fs_path_body(path), &a);
        status = a.status;
        e2b_answer_free(&a);
        if (r == 0)
                return answer(fc, json_pack("{s:b}", "created", 1));
        if (r < 0 || status != 409)
                return r;
        /* Already there (Connect's already_exists): a directory is no failure (created: false),
         * anything else is. */
        buf_reset(&fc->res->err);
        r = stat_of(fc, path, shown(rel), &st);
        if (r != 0)
                return r;
        if (strcmp(type_of(st), "directory") != 0)
                return file_fail(fc, EEXIST, "something else than a directory is there");
        return answer(fc, json_pack("{s:b}", "created", 0));
}

static int do_rm(struct fs_call *fc, const char *path, const char *rel, bool recursive)
{
        struct e2b_answer a;
        int r;

        if (strcmp(rel, ".") == 0)
                return file_fail(fc, EBUSY, "a file area itself cannot be removed");
        if (!recursive) {
                /* envd's Remove takes a whole tree: a directory that is not empty is refused
                 * here, as the helper refuses it without recursive. */
                _cleanup_(json_decrefp) json_t *st = NULL, *ls = NULL;

                r = stat_of(fc, path, shown(rel), &st);
                if (r == 0 && strcmp(type_of(st), "directory") == 0)
                        r = list_of(fc, path, 1, &ls);
                if (r != 0)
                        return r;
                if (json_array_size(json_object_get(ls, "entries")) > 0)
                        return file_fail(fc, ENOTEMPTY, "Directory not empty");
        }
        e2b_answer_init(&a);
        r = fs_rpc(fc, "Remove", e2b_fs_path_body(path), &a);
        e2b_answer_free(&a);
        return r == 0 ? answer(fc, json_pack("{s:b}", "removed", 1)) : r;
}

static int do_mv(struct fs_call *fc, const char *from, const char *from_rel, const char *to,
                 const char *to_rel)
{
        struct e2b_answer a;
        int r;

        if (strcmp(from_rel, ".") == 0 || strcmp(to_rel, ".") == 0)
                return file_fail(fc, EBUSY, "a file area itself cannot be moved or replaced");
        e2b_answer_init(&a);
        r = fs_rpc(fc, "Move", e2b_fs_move_body(from, to), &a);
        e2b_answer_free(&a);
        return r == 0 ? answer(fc, json_pack("{s:b}", "moved", 1)) : r;
}

static bool number(const char *s, uint64_t *ret)
{
        char *end;

        if (!s || !*s)
                return false;
        errno = 0;
        *ret = strtoull(s, &end, 10);
        return errno == 0 && *end == '\0';
}

int e2b_files_remote(struct backend *b, const char *handle, const char *const *args, const void *in,
                     size_t in_len, struct exec_result *res, struct al_error *err)
{
        struct fs_call fc = {.b = b, .res = res, .err = err};
        char path[PATH_BYTES], path2[PATH_BYTES];
        const char *verb = args[0];
        uint64_t n = 0;
        size_t argc = 0;
        int r;

        while (args[argc])
                argc++;
        res->exit_code = 0;
        if (argc < 3 || e2b_fs_path(args[1], args[2], path, sizeof(path)) < 0)
                return al_err(err, -EINVAL, "bad arguments for a file operation");
        r = e2b_backend_target(b, handle, E2B_ENVD_PORT, &fc.t, err);
        if (r < 0)
                return r;
        if (strcmp(verb, "stat") == 0 && argc == 3)
                r = do_stat(&fc, path, args[2]);
        else if (strcmp(verb, "list") == 0 && argc == 4 && number(args[3], &n))
                r = do_list(&fc, path, (size_t)n);
        else if (strcmp(verb, "get") == 0 && argc == 4 && number(args[3], &n))
                r = do_get(&fc, path, args[2], n);
        else if (strcmp(verb, "put") == 0 && argc == 5 && number(args[4], &n))
                r = do_put(&fc, path, args[2], in, in_len, n);
        else if (strcmp(verb, "mkdir") == 0 && argc == 3)
                r = do_mkdir(&fc, path, args[2]);
        else if (strcmp(verb, "rm") == 0 && argc == 4 && number(args[3], &n))
                r = do_rm(&fc, path, args[2], n != 0);
        else if (strcmp(verb, "mv") == 0 && argc == 5 &&
                 e2b_fs_path(args[3], args[4], path2, sizeof(path2)) == 0)
                r = do_mv(&fc, path, args[2], path2, args[4]);
        else
                return al_err(err, -EOPNOTSUPP,
                              "'%s' is not supported on provider sandboxes (the E2B protocol "
                              "has no tar of a directory, no artifacts, no snapshot of files)",
                              verb);
        /* 1 (a file's failure written as the helper's) is an answer like 0. */
        return r < 0 ? r : 0;
}
