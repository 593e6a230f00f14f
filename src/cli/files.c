/* airlock cp and airlock ls: the files API (docs/files.md) from the command line. A sandbox
 * path is REF:/path, where REF is a session name (of --agent, default "default", and
 * --runtime) or a sandbox id (12 to 64 lowercase hex digits), as `docker cp` names a
 * container. A directory goes up and comes down as a tar, made and unpacked here with
 * libarchive; what comes from a sandbox is unpacked with libarchive's guards against "..",
 * absolute paths and writing through links. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>

#include "airlock/cleanup.h"

struct files_opts {
        const char *agent, *runtime;
        bool json;
};

void cli_cp_usage(FILE *out)
{
        fputs("Usage: airlock cp [OPTIONS] SRC DST\n"
              "\n"
              "Copy a file or a directory between this machine and a sandbox, like docker cp.\n"
              "One side is REF:/path, where REF is a session (of --agent) or a sandbox id;\n"
              "the path is in /workspace, /tmp or /home/airlock. A local '-' is stdin or stdout.\n"
              "\n"
              "  airlock cp data.csv conv-42:/home/airlock/data.csv\n"
              "  airlock cp conv-42:/tmp/outputs ./outputs\n"
              "\n"
              "Options:\n"
              "  -a, --agent NAME     The session's agent (default: default)\n"
              "  -r, --runtime NAME   The session's runtime (default: the policy's)\n"
              "  -s, --socket PATH    airlockd's socket\n"
              "  -h, --help           Show this help\n",
              out);
}

void cli_ls_usage(FILE *out)
{
        fputs("Usage: airlock ls [OPTIONS] REF:/path\n"
              "\n"
              "List a directory of a sandbox: mode, type, size, time and name (and a link's\n"
              "target). REF is a session (of --agent) or a sandbox id.\n"
              "\n"
              "Options:\n"
              "  -a, --agent NAME     The session's agent (default: default)\n"
              "  -r, --runtime NAME   The session's runtime (default: the policy's)\n"
              "      --json           Print the daemon's answer as it is\n"
              "  -s, --socket PATH    airlockd's socket\n"
              "  -h, --help           Show this help\n",
              out);
}

static int parse_opts(struct cli_ctx *ctx, int argc, char **argv, const char *name,
                      void (*usage)(FILE *), struct files_opts *o)
{
        enum { OPT_JSON = 0x100 };
        static const struct option opts[] = {
            {"agent", required_argument, NULL, 'a'}, {"runtime", required_argument, NULL, 'r'},
            {"json", no_argument, NULL, OPT_JSON},   {"socket", required_argument, NULL, 's'},
            {"help", no_argument, NULL, 'h'},        {0},
        };
        int c;

        while ((c = getopt_long(argc, argv, "+a:r:s:h", opts, NULL)) != -1) {
                switch (c) {
                case 'a':
                        o->agent = optarg;
                        break;
                case 'r':
                        o->runtime = optarg;
                        break;
                case OPT_JSON:
                        o->json = true;
                        break;
                case 's':
                        ctx->socket_path = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        fprintf(stderr, "See 'airlock %s --help'.\n", name);
                        return -1;
                }
        }
        return 1;
}

/* REF:/path split; false when arg names no sandbox (a local path). */
static bool remote_of(const char *arg, char *ref, size_t ref_size, const char **ret_path)
{
        const char *colon = strchr(arg, ':');
        size_t n = colon ? (size_t)(colon - arg) : 0;

        if (!colon || n == 0 || n >= ref_size || colon[1] != '/' || strchr(arg, '/') < colon)
                return false;
        memcpy(ref, arg, n);
        ref[n] = '\0';
        *ret_path = colon + 1;
        return true;
}

static bool is_sandbox_id(const char *ref)
{
        size_t n = strlen(ref);

        return n >= 12 && n <= 64 && strspn(ref, "0123456789abcdef") == n;
}

/* The request path of route ("", "/list") for REF and path, query escaped. */
static char *files_url(const struct files_opts *o, const char *ref, const char *route,
                       const char *path)
{
        _cleanup_free_ char *p = curl_easy_escape(NULL, path, 0), *r = NULL, *a = NULL;
        char *url = NULL;

        if (!p)
                return NULL;
        if (is_sandbox_id(ref)) {
                if (asprintf(&url, "/v1/sandboxes/%s/files%s?path=%s", ref, route, p) < 0)
                        return NULL;
                return url;
        }
        r = curl_easy_escape(NULL, o->runtime ? o->runtime : "", 0);
        a = curl_easy_escape(NULL, o->agent ? o->agent : "default", 0);
        if (!r || !a ||
            asprintf(&url, "/v1/files%s?agent=%s&session=%s%s%s&path=%s", route, a, ref,
                     o->runtime ? "&runtime=" : "", o->runtime ? r : "", p) < 0)
                return NULL;
        return url;
}

static int read_all(int fd, struct buf *b)
{
        char chunk[65536];

        for (;;) {
                ssize_t n = read(fd, chunk, sizeof(chunk));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                if (buf_append(b, chunk, (size_t)n) < 0)
                        return -ENOMEM;
                if (buf_truncated(b))
                        return -EFBIG;
        }
}

static la_ssize_t tar_write_cb(struct archive *a, void *ctx, const void *data, size_t n)
{
        if (buf_append(ctx, data, n) < 0 || buf_truncated(ctx)) {
                archive_set_error(a, EFBIG, "larger than %u MiB", CLI_BODY_MAX >> 20);
                return -1;
        }
        return (la_ssize_t)n;
}

/* A local directory as a tar (regular files and directories; links and the rest skipped). */
static int tar_of_dir(const char *dir, struct buf *out, struct al_error *err)
{
        struct archive *disk = archive_read_disk_new(), *w = archive_write_new();
        struct archive_entry *e = archive_entry_new();
        int r = 0, ar;

        archive_read_disk_set_standard_lookup(disk);
        archive_read_disk_set_symlink_physical(disk);
        archive_write_set_format_pax_restricted(w);
        archive_write_set_bytes_in_last_block(w, 1);
        if (archive_read_disk_open(disk, dir) != ARCHIVE_OK ||
            archive_write_open(w, out, NULL, tar_write_cb, NULL) != ARCHIVE_OK) {
                r = al_err(err, -EIO, "cannot read '%s': %s", dir, archive_error_string(disk));
                goto out;
        }
        while ((ar = archive_read_next_header2(disk, e)) == ARCHIVE_OK) {
                const char *src = archive_entry_sourcepath(e);
                mode_t t = archive_entry_filetype(e);
                size_t dl = strlen(dir);
                const char *rel = src + dl;

                archive_read_disk_descend(disk);
                while (*rel == '/')
                        rel++;
                if (!*rel || (t != AE_IFREG && t != AE_IFDIR))
                        continue;
                archive_entry_set_pathname(e, rel);
                archive_entry_set_uid(e, 0);
                archive_entry_set_gid(e, 0);
                if (archive_write_header(w, e) != ARCHIVE_OK) {
                        r = al_err(err, -EIO, "cannot pack '%s': %s", src, archive_error_string(w));
                        goto out;
                }
                if (t == AE_IFREG) {
                        _cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                        char chunk[65536];
                        ssize_t n;

                        if (fd < 0) {
                                r = al_err(err, -errno, "cannot open '%s'", src);
                                goto out;
                        }
                        while ((n = read(fd, chunk, sizeof(chunk))) > 0)
                                if (archive_write_data(w, chunk, (size_t)n) != n) {
                                        r = al_err(err, -EFBIG, "'%s': %s", dir,
                                                   archive_error_string(w));
                                        goto out;
                                }
                }
        }
        if (ar != ARCHIVE_EOF)
                r = al_err(err, -EIO, "reading '%s': %s", dir, archive_error_string(disk));
        else if (archive_write_close(w) != ARCHIVE_OK)
                r = al_err(err, -EFBIG, "'%s': %s", dir, archive_error_string(w));
out:
        archive_entry_free(e);
        archive_read_free(disk);
        archive_write_free(w);
        return r;
}

/* Unpacks a tar from a sandbox under dir, refusing what could escape it. */
static int untar_into(const char *dir, const void *data, size_t len, struct al_error *err)
{
        struct archive *a = archive_read_new(), *disk = archive_write_disk_new();
        struct archive_entry *e;
        int r = 0, ar;

        archive_read_support_format_tar(a);
        archive_write_disk_set_options(
            disk, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                      ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
                      ARCHIVE_EXTRACT_NO_OVERWRITE_NEWER);
        if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
                r = al_err(err, -EPROTO, "the daemon's tar is malformed");
                goto out;
        }
        /* Relative names under dir, so that the guards against absolute paths hold. */
        if (chdir(dir) < 0) {
                r = al_err(err, -errno, "cannot enter '%s'", dir);
                goto out;
        }
        while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
                const char *full = archive_entry_pathname(e);

                if (archive_write_header(disk, e) != ARCHIVE_OK) {
                        r = al_err(err, -EPERM, "refusing '%s': %s", full,
                                   archive_error_string(disk));
                        goto out;
                }
                if (archive_entry_size(e) > 0) {
                        const void *blk;
                        size_t n;
                        la_int64_t off;

                        while (archive_read_data_block(a, &blk, &n, &off) == ARCHIVE_OK)
                                if (archive_write_data_block(disk, blk, n, off) != ARCHIVE_OK) {
                                        r = al_err(err, -EIO, "writing '%s': %s", full,
                                                   archive_error_string(disk));
                                        goto out;
                                }
                }
        }
        if (ar != ARCHIVE_EOF)
                r = al_err(err, -EPROTO, "the daemon's tar is malformed");
out:
        archive_read_free(a);
        archive_write_free(disk);
        return r;
}

static int write_file(const char *path, const char *data, size_t len, struct al_error *err)
{
        _cleanup_close_ int fd = strcmp(path, "-") == 0
                                     ? dup(STDOUT_FILENO)
                                     : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0)
                return al_err(err, -errno, "cannot write '%s'", path);
        for (size_t off = 0; off < len;) {
                ssize_t n = write(fd, data + off, len - off);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return al_err(err, -errno, "writing '%s'", path);
                off += (size_t)n;
        }
        return 0;
}

static const char *base_of(const char *p)
{
        const char *s = strrchr(p, '/');

        return s && s[1] ? s + 1 : s ? "" : p;
}

static int download(struct cli_ctx *ctx, const struct files_opts *o, const char *ref,
                    const char *path, const char *dst)
{
        _cleanup_free_ char *url = files_url(o, ref, "", path), *target = NULL;
        struct cli_request req = {.method = "GET", .path = url, .accept = "*/*", .timeout_s = 600};
        struct cli_reply reply = {0};
        struct al_error err = {0};
        struct stat st;
        int r;

        if (!url)
                return cli_errorf("out of memory"), CLI_EXIT_FAIL;
        if (cli_http(ctx, &req, &reply, &err) < 0) {
                cli_errorf("%s", err.msg);
                cli_reply_free(&reply);
                return CLI_EXIT_FAIL;
        }
        if (reply.status != 200) {
                r = cli_report_api_error(&reply);
                cli_reply_free(&reply);
                return r;
        }
        if (strncmp(reply.content_type, "application/x-tar", 17) == 0) {
                if (strcmp(dst, "-") == 0) {
                        r = write_file(dst, reply.body.data, reply.body.len, &err);
                } else {
                        if (mkdir(dst, 0755) < 0 && errno != EEXIST)
                                r = al_err(&err, -errno, "cannot make '%s'", dst);
                        else
                                r = untar_into(dst, reply.body.data, reply.body.len, &err);
                }
        } else {
                /* Into a directory that exists, under the file's own name. */
                if (strcmp(dst, "-") != 0 && stat(dst, &st) == 0 && S_ISDIR(st.st_mode) &&
                    asprintf(&target, "%s/%s", dst, base_of(path)) < 0)
                        target = NULL;
                r = write_file(target ? target : dst, reply.body.data ? reply.body.data : "",
                               reply.body.len, &err);
        }
        cli_reply_free(&reply);
        if (r < 0) {
                cli_errorf("%s", err.msg);
                return CLI_EXIT_FAIL;
        }
        return 0;
}

static int upload(struct cli_ctx *ctx, const struct files_opts *o, const char *src, const char *ref,
                  const char *path)
{
        _cleanup_free_ char *url = NULL, *dest = NULL;
        struct cli_request req = {.method = "PUT", .timeout_s = 600};
        struct cli_reply reply = {0};
        struct al_error err = {0};
        struct buf body;
        struct stat st;
        bool dir = strcmp(src, "-") != 0 && stat(src, &st) == 0 && S_ISDIR(st.st_mode);
        int r;

        buf_init(&body, CLI_BODY_MAX);
        /* A path ending in '/' is a directory to put the file in, under its own name. */
        if (!dir && path[strlen(path) - 1] == '/' && strcmp(src, "-") != 0) {
                if (asprintf(&dest, "%s%s", path, base_of(src)) < 0)
                        dest = NULL;
                path = dest ? dest : path;
        }
        if (dir) {
                r = tar_of_dir(src, &body, &err);
                req.content_type = "application/x-tar";
        } else {
                _cleanup_close_ int fd =
                    strcmp(src, "-") == 0 ? dup(STDIN_FILENO) : open(src, O_RDONLY | O_CLOEXEC);

                r = fd < 0 ? al_err(&err, -errno, "cannot read '%s'", src) : read_all(fd, &body);
                if (r < 0 && !err.msg[0])
                        al_err(&err, r, "reading '%s'", src);
                req.content_type = "application/octet-stream";
        }
        url = files_url(o, ref, "", path);
        if (r < 0 || !url) {
                cli_errorf("%s", err.msg[0] ? err.msg : "out of memory");
                buf_free(&body);
                return CLI_EXIT_FAIL;
        }
        req.path = url;
        req.body = body.data ? body.data : "";
        req.body_len = body.len;
        r = cli_http(ctx, &req, &reply, &err);
        buf_free(&body);
        if (r < 0) {
                cli_errorf("%s", err.msg);
                cli_reply_free(&reply);
                return CLI_EXIT_FAIL;
        }
        r = reply.status == 201 ? 0 : cli_report_api_error(&reply);
        cli_reply_free(&reply);
        return r;
}

int cli_cp_run(struct cli_ctx *ctx, int argc, char **argv)
{
        struct files_opts o = {0};
        char sref[128], dref[128];
        const char *spath, *dpath;
        bool sr, dr;
        int c = parse_opts(ctx, argc, argv, "cp", cli_cp_usage, &o);

        if (c <= 0)
                return c == 0 ? 0 : CLI_EXIT_FAIL;
        if (argc - optind != 2) {
                cli_errorf("cp: give a source and a destination (see 'airlock cp --help')");
                return CLI_EXIT_FAIL;
        }
        sr = remote_of(argv[optind], sref, sizeof(sref), &spath);
        dr = remote_of(argv[optind + 1], dref, sizeof(dref), &dpath);
        if (sr == dr) {
                cli_errorf("cp: exactly one side must be a sandbox path (REF:/path)");
                return CLI_EXIT_FAIL;
        }
        return sr ? download(ctx, &o, sref, spath, argv[optind + 1])
                  : upload(ctx, &o, argv[optind], dref, dpath);
}

int cli_ls_run(struct cli_ctx *ctx, int argc, char **argv)
{
        struct files_opts o = {0};
        _cleanup_free_ char *url = NULL;
        struct cli_request req = {.method = "GET", .timeout_s = 120};
        const char *path;
        json_t *doc, *e;
        char ref[128];
        size_t i;
        int c = parse_opts(ctx, argc, argv, "ls", cli_ls_usage, &o), status = 0;

        if (c <= 0)
                return c == 0 ? 0 : CLI_EXIT_FAIL;
        if (argc - optind != 1 || !remote_of(argv[optind], ref, sizeof(ref), &path)) {
                cli_errorf("ls: give one sandbox path, REF:/path (see 'airlock ls --help')");
                return CLI_EXIT_FAIL;
        }
        url = files_url(&o, ref, "/list", path);
        if (!url) {
                cli_errorf("out of memory");
                return CLI_EXIT_FAIL;
        }
        req.path = url;
        doc = cli_call(ctx, &req);
        if (!doc)
                return CLI_EXIT_FAIL;
        if (o.json) {
                status = cli_print_json(doc);
        } else {
                json_array_foreach(json_object_get(doc, "entries"), i, e)
                {
                        time_t t = (time_t)json_integer_value(json_object_get(e, "mtime"));
                        const char *target = json_string_value(json_object_get(e, "target"));
                        char when[32];

                        strftime(when, sizeof(when), "%Y-%m-%d %H:%M", gmtime(&t));
                        printf("%04llo %-9s %10lld %s %s%s%s\n",
                               (long long)json_integer_value(json_object_get(e, "mode")),
                               json_string_value(json_object_get(e, "type")),
                               (long long)json_integer_value(json_object_get(e, "size")), when,
                               json_string_value(json_object_get(e, "name")), target ? " -> " : "",
                               target ? target : "");
                }
                if (json_is_true(json_object_get(doc, "truncated")))
                        printf("(listing cut at the daemon's [files] entries_max)\n");
        }
        json_decref(doc);
        return status;
}
