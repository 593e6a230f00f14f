/* The MCP tools of the files API (docs/files.md, docs/mcp.md): read, write and list files of a
 * sandbox, upload bytes (or a tar to unpack) and download a file (or a directory as a tar).
 * Each tool finds its sandbox and works through files_ops.c, as the /v1/files routes do:
 * the same paths, areas, caps and helper. A sandbox is named by sandbox_id, else by the
 * session (the tool's, else the MCP caller's default) and runtime of the caller's agent. Text
 * travels as text, bytes as base64; a download comes back as an embedded resource (an image
 * as image content, which the model sees). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "airlock/base64.h"
#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "mcp.h"
#include "routes.h"

/* The sandbox the arguments name, of the caller's agent (or SHARED). */
static int target(const struct mcp_caller *c, json_t *args, struct api_files_target *t,
                  struct al_error *err)
{
        const char *id, *session, *runtime;
        int r;

        if (mcp_arg_name(args, "sandbox_id", false, &id, err) < 0 ||
            mcp_arg_name(args, "session", false, &session, err) < 0 ||
            mcp_arg_name(args, "runtime", false, &runtime, err) < 0)
                return err->code;
        if (id && (session || runtime))
                return al_err(err, -EINVAL, "give either 'sandbox_id' or 'session'/'runtime'");
        if (!id) {
                if ((session && !util_name_valid(session, EXEC_NAME_MAX)) ||
                    (runtime && !util_name_valid(runtime, EXEC_NAME_MAX)))
                        return al_err(err, -EINVAL,
                                      "'session' and 'runtime' are names of [A-Za-z0-9._-]");
                return api_files_target_scope(c->ctx, c->who, c->agent,
                                              session ? session : c->session, runtime, t, err);
        }
        r = api_files_target_id(c->ctx, c->who, id, t, err);
        /* The tools act as one agent: another agent's sandbox reads as unknown. */
        if (r >= 0 && t->agent && strcmp(t->agent, c->agent) != 0)
                r = al_err(err, -ENOENT, "no such sandbox");
        return r;
}

/* list_files' default: the working directory. */
static const char *workdir(const struct api_files_target *t)
{
        return t->ws != WORKSPACE_NONE ? "/workspace" : "/home/airlock";
}

/* An optional octal mode ("644", "0755"); -1 when absent. */
static int mode_of(json_t *args, int *ret, struct al_error *err)
{
        const char *s;
        char *end;
        long m;

        *ret = -1;
        if (mcp_arg_string(args, "mode", false, &s, err) < 0 || !s)
                return err->code;
        m = strtol(s, &end, 8);
        if (!*s || *end || m < 0 || m > 0777)
                return al_err(err, -EINVAL, "argument 'mode' is octal permission bits (0..777)");
        *ret = (int)m;
        return 0;
}

static json_t *read_file(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        static const char *const names[] = {"path", "sandbox_id", "session", "runtime", NULL};
        struct api_files_target t = {0};
        struct api_files_blob b = {0};
        const char *path;
        json_t *res = NULL, *doc;
        char *text;

        /* Every argument is checked before a sandbox is looked for (or made). */
        if (mcp_args_known(args, names, err) < 0 ||
            mcp_arg_string(args, "path", true, &path, err) < 0 || target(c, args, &t, err) < 0 ||
            api_files_download(c->ctx, &t, path, strlen(path), &b, err) < 0)
                goto out;
        if (b.tar) {
                al_err(err, -EINVAL, "'%.200s' is a directory: use list_files or download_file",
                       path);
                goto out;
        }
        /* JSON strings are UTF-8: bytes that are not go through download_file as base64. */
        if (!util_utf8_valid(b.data ? b.data : "", b.len) || (b.data && memchr(b.data, 0, b.len))) {
                al_err(err, -EINVAL,
                       "'%.200s' is not UTF-8 text (%zu bytes): use download_file for its bytes "
                       "as base64",
                       path, b.len);
                goto out;
        }
        text = b.data ? b.data : (char *)"";
        doc = json_pack("{s:s, s:I}", "path", path, "size", (json_int_t)b.len);
        res = doc ? mcp_tool_result(text, doc, false) : NULL;
        if (!res)
                al_err(err, -ENOMEM, "out of memory");
out:
        api_files_blob_clear(&b);
        api_files_target_clear(&t);
        return res;
}

/* write_file (text) and upload_file (base64, or a tar to unpack). */
static json_t *put(const struct mcp_caller *c, json_t *args, bool base64, struct al_error *err)
{
        static const char *const text_names[] = {"path",    "content", "mode", "sandbox_id",
                                                 "session", "runtime", NULL};
        static const char *const b64_names[] = {"path",       "data",    "unpack_tar", "mode",
                                                "sandbox_id", "session", "runtime",    NULL};
        struct api_files_target t = {0};
        _cleanup_free_ uint8_t *bytes = NULL;
        const char *path, *content;
        bool tar = false;
        json_t *doc = NULL, *v;
        ssize_t n;
        int mode;

        if (mcp_args_known(args, base64 ? b64_names : text_names, err) < 0 ||
            mcp_arg_string(args, "path", true, &path, err) < 0 ||
            mcp_arg_string(args, base64 ? "data" : "content", true, &content, err) < 0 ||
            (base64 && mcp_arg_bool(args, "unpack_tar", &tar, err) < 0) ||
            mode_of(args, &mode, err) < 0)
                return NULL;
        v = json_object_get(args, base64 ? "data" : "content");
        n = (ssize_t)json_string_length(v);
        if (base64 && (n = base64_decode(content, json_string_length(v), &bytes)) < 0) {
                al_err(err, -EINVAL, "argument 'data' is not base64 (standard, padded)");
                return NULL;
        }
        if (target(c, args, &t, err) >= 0)
                api_files_upload(c->ctx, &t, path, strlen(path), mode, tar,
                                 base64 ? (const void *)bytes : content, (size_t)n, &doc, err);
        api_files_target_clear(&t);
        return doc ? mcp_doc_result(doc) : NULL;
}

static json_t *write_file(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        return put(c, args, false, err);
}

static json_t *upload_file(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        return put(c, args, true, err);
}

static json_t *list_files(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        static const char *const names[] = {"path", "sandbox_id", "session", "runtime", NULL};
        struct api_files_target t = {0};
        const char *path;
        json_t *doc = NULL;

        if (mcp_args_known(args, names, err) >= 0 &&
            mcp_arg_string(args, "path", false, &path, err) >= 0 && target(c, args, &t, err) >= 0)
                api_files_list(c->ctx, &t, path ? path : workdir(&t),
                               strlen(path ? path : workdir(&t)), &doc, err);
        api_files_target_clear(&t);
        return doc ? mcp_doc_result(doc) : NULL;
}

static const char *image_mime(const char *name)
{
        static const char *const types[][2] = {{".png", "image/png"},
                                               {".jpg", "image/jpeg"},
                                               {".jpeg", "image/jpeg"},
                                               {".gif", "image/gif"},
                                               {".webp", "image/webp"}};
        size_t len = strlen(name);

        for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
                size_t el = strlen(types[i][0]);

                if (len > el && strcasecmp(name + len - el, types[i][0]) == 0)
                        return types[i][1];
        }
        return NULL;
}

/* The bytes as content: image content for an image (the model sees it), else an embedded
 * resource with a blob. */
static json_t *blob_content(const struct api_files_blob *b, const char *full, const char *mime,
                            const char *b64)
{
        _cleanup_free_ char *uri = NULL;

        if (!b->tar && image_mime(b->name))
                return json_pack("{s:s, s:s, s:s}", "type", "image", "data", b64, "mimeType", mime);
        if (asprintf(&uri, "file://%s%s", full, b->tar ? ".tar" : "") < 0)
                return NULL;
        return json_pack("{s:s, s:{s:s, s:s, s:s}}", "type", "resource", "resource", "uri", uri,
                         "mimeType", mime, "blob", b64);
}

static json_t *download_file(const struct mcp_caller *c, json_t *args, struct al_error *err)
{
        static const char *const names[] = {"path", "sandbox_id", "session", "runtime", NULL};
        struct api_files_target t = {0};
        struct api_files_blob b = {0};
        _cleanup_free_ char *b64 = NULL, *text = NULL;
        const char *path, *mime;
        json_t *res = NULL, *doc, *item;

        if (mcp_args_known(args, names, err) < 0 ||
            mcp_arg_string(args, "path", true, &path, err) < 0 || target(c, args, &t, err) < 0 ||
            api_files_download(c->ctx, &t, path, strlen(path), &b, err) < 0)
                goto out;
        mime = b.tar ? "application/x-tar" : image_mime(b.name);
        if (!mime)
                mime = "application/octet-stream";
        b64 = base64_encode((const uint8_t *)(b.data ? b.data : ""), b.len);
        if (!b64 || asprintf(&text, "%s%s: %zu bytes (%s), base64 in the %s that follows", path,
                             b.tar ? " (a directory, as a tar)" : "", b.len, mime,
                             b.tar || !image_mime(b.name) ? "resource" : "image") < 0) {
                text = NULL;
                goto oom;
        }
        doc = json_pack("{s:s, s:s, s:I, s:b, s:s}", "path", path, "name", b.name, "size",
                        (json_int_t)b.len, "tar", b.tar, "mimeType", mime);
        res = doc ? mcp_tool_result(text, doc, false) : NULL;
        item = res ? blob_content(&b, path, mime, b64) : NULL;
        if (!item || json_array_append_new(json_object_get(res, "content"), item) < 0) {
                json_decref(res);
                res = NULL;
                goto oom;
        }
        goto out;
oom:
        al_err(err, -ENOMEM, "out of memory");
out:
        api_files_blob_clear(&b);
        api_files_target_clear(&t);
        return res;
}

#define TARGET_PROPS                                                                               \
        "\"sandbox_id\":{\"type\":\"string\",\"minLength\":12,\"description\":\"A sandbox id "     \
        "(12+ characters); else the sandbox of the session\"},\"session\":{\"type\":\"string\","   \
        "\"description\":\"The session whose sandbox it is (made when there is none yet)\"},"      \
        "\"runtime\":{\"type\":\"string\",\"description\":\"The runtime of that sandbox "          \
        "(default: the policy's)\"}"
#define PATH_PROP(what)                                                                            \
        "\"path\":{\"type\":\"string\",\"description\":\"" what " (absolute, under /workspace, "   \
        "/tmp or /home/airlock)\"}"
#define MODE_PROP                                                                                  \
        "\"mode\":{\"type\":\"string\",\"pattern\":\"^[0-7]{1,4}$\",\"description\":\"Octal "      \
        "permission bits (default 644)\"}"

static const struct mcp_tool tools[] = {
    {"read_file", "Read a file", "Read a text file (UTF-8) of a sandbox.",
     "{\"type\":\"object\",\"properties\":{" PATH_PROP(
         "The file") "," TARGET_PROPS "},\"required\":[\"path\"],\"additionalProperties\":false}",
     read_file, true},
    {"write_file", "Write a file",
     "Write a text file in a sandbox (made or replaced, with its parent directories).",
     "{\"type\":\"object\",\"properties\":{" PATH_PROP(
         "The file") ",\"content\":{\"type\":"
                     "\"string\",\"description\":\"The text to write\"}," MODE_PROP "," TARGET_PROPS
                     "},\"required\":[\"path\",\"content\"],\"additionalProperties\":false}",
     write_file, false},
    {"list_files", "List files", "List a directory of a sandbox: names, types, sizes.",
     "{\"type\":\"object\",\"properties\":{" PATH_PROP(
         "The directory (default: the working directory)") "," TARGET_PROPS
                                                           "},\"additionalProperties\":false}",
     list_files, true},
    {"upload_file", "Upload a file",
     "Upload bytes (base64) to a file of a sandbox, or with unpack_tar a tar archive "
     "(base64) unpacked into a directory.",
     "{\"type\":\"object\",\"properties\":{" PATH_PROP(
         "The file, or the directory to unpack into") ",\"data\":{\"type\":\"string\","
                                                      "\"contentEncoding\":\"base64\","
                                                      "\"description\":\"The bytes, base64\"},"
                                                      "\"unpack_tar\":{\"type\":\"boolean\","
                                                      "\"description\":\"data is a tar to "
                                                      "unpack into path\"}," MODE_PROP
                                                      "," TARGET_PROPS
                                                      "},\"required\":[\"path\",\"data\"],"
                                                      "\"additionalProperties\":false}",
     upload_file, false},
    {"download_file", "Download a file",
     "Download a file of a sandbox (base64; an image is shown as one), or a directory as a "
     "tar archive (base64).",
     "{\"type\":\"object\",\"properties\":{" PATH_PROP(
         "The file or directory") "," TARGET_PROPS
                                  "},\"required\":[\"path\"],\"additionalProperties\":false}",
     download_file, true},
};

const struct mcp_tool_table mcp_files_tools = {tools, ARRAY_SIZE(tools)};
