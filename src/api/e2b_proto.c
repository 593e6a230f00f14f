/* The pure part of the E2B front end: Connect's envelopes and errors, E2B's error documents,
 * multipart uploads, the mapping of processes, files and cells between the two shapes. No
 * I/O, no daemon: the unit tests (tests/unit/test_e2b.c) and the fuzzer drive it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "e2b.h"
#include "routes.h"

int e2b_envelope_append(struct buf *out, unsigned flags, const char *msg, size_t len)
{
        unsigned char hdr[E2B_ENVELOPE_HEADER] = {(unsigned char)flags, (unsigned char)(len >> 24),
                                                  (unsigned char)(len >> 16),
                                                  (unsigned char)(len >> 8), (unsigned char)len};

        if (len > UINT32_MAX || out->len + sizeof(hdr) + len > out->max)
                return -E2BIG;
        if (buf_append(out, hdr, sizeof(hdr)) < 0 || buf_append(out, msg, len) < 0)
                return -ENOMEM;
        return 0;
}

int e2b_envelope_single(const char *body, size_t len, const char **ret_msg, size_t *ret_len,
                        struct al_error *err)
{
        const unsigned char *p = (const unsigned char *)body;
        size_t n;

        if (len < E2B_ENVELOPE_HEADER)
                return al_err(err, -EINVAL, "the request is not an enveloped Connect message");
        if (p[0] != 0)
                return al_err(err, -EINVAL,
                              "the request's envelope has flags 0x%02x: compressed or "
                              "end-of-stream messages are not accepted",
                              p[0]);
        n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | (size_t)p[4];
        if (n != len - E2B_ENVELOPE_HEADER)
                return al_err(err, -EINVAL,
                              "the request's envelope says %zu bytes but %zu follow (exactly "
                              "one message is expected)",
                              n, len - E2B_ENVELOPE_HEADER);
        *ret_msg = body + E2B_ENVELOPE_HEADER;
        *ret_len = n;
        return 0;
}

const char *e2b_connect_code(int code)
{
        switch (code) {
        case -EINVAL:
        case -EPROTO:
                return "invalid_argument";
        case -EKEYREJECTED:
                return "unauthenticated";
        case -AL_E_FORBIDDEN:
        case -EPERM:
        case -EACCES:
                return "permission_denied";
        case -ENOENT:
                return "not_found";
        case -EEXIST:
                return "already_exists";
        case -AL_E_LIMITED:
        case -AL_E_TOO_LARGE:
        case -ENOSPC:
                return "resource_exhausted";
        case -ENOTEMPTY:
                return "failed_precondition";
        case -ETIMEDOUT:
                return "deadline_exceeded";
        case -EOPNOTSUPP:
        case -ENOSYS:
                return "unimplemented";
        case -AL_E_ENGINE_DOWN:
        case -AL_E_ENGINE:
                return "unavailable";
        case -AL_E_CONFLICT:
        case -EBUSY:
                return "aborted";
        default:
                return "internal";
        }
}

unsigned e2b_connect_status(const char *c)
{
        static const struct {
                const char *code;
                unsigned status;
        } map[] = {{"invalid_argument", 400},  {"failed_precondition", 400},
                   {"out_of_range", 400},      {"unauthenticated", 401},
                   {"permission_denied", 403}, {"not_found", 404},
                   {"already_exists", 409},    {"aborted", 409},
                   {"canceled", 499},          {"resource_exhausted", 429},
                   {"unimplemented", 501},     {"unavailable", 503},
                   {"deadline_exceeded", 504}};

        for (size_t i = 0; i < ARRAY_SIZE(map); i++)
                if (strcmp(map[i].code, c) == 0)
                        return map[i].status;
        return 500;
}

json_t *e2b_connect_error(const char *code, const char *msg)
{
        return json_pack("{s:s, s:s}", "code", code, "message", msg ? msg : "");
}

json_t *e2b_end_stream(const char *code, const char *msg)
{
        if (!code)
                return json_object();
        return json_pack("{s:o}", "error", e2b_connect_error(code, msg));
}

unsigned e2b_http_status(int code)
{
        /* The v1 API's statuses (507 for a full disk among them); a bad key is 401 here. */
        return code == -EKEYREJECTED ? 401 : api_status_for(code);
}

json_t *e2b_error_doc(unsigned status, const char *msg)
{
        return json_pack("{s:i, s:s}", "code", (int)status, "message", msg ? msg : "");
}

const char *e2b_template_runtime(const char *t, const char *default_runtime)
{
        if (!t || strcmp(t, "base") == 0)
                return default_runtime;
        if (strcmp(t, "code-interpreter-v1") == 0 || strcmp(t, "code-interpreter") == 0)
                return "python";
        return util_name_valid(t, 64) ? t : NULL;
}

void e2b_time_format(int64_t ms, char out[32])
{
        time_t s = (time_t)(ms / 1000);
        struct tm tm;

        char date[24];

        gmtime_r(&s, &tm);
        strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(out, 32, "%.19s.%03dZ", date, (int)((ms % 1000 + 1000) % 1000));
}

/* ---- multipart/form-data ---- */

int e2b_multipart_boundary(const char *ct, char out[71])
{
        const char *b;
        size_t n;

        if (!ct || strncasecmp(ct, "multipart/form-data", 19) != 0)
                return -EINVAL;
        b = strcasestr(ct, "boundary=");
        if (!b)
                return -EINVAL;
        b += 9;
        if (*b == '"') {
                b++;
                n = strcspn(b, "\"");
                if (b[n] != '"')
                        return -EINVAL;
        } else {
                n = strcspn(b, "; \t");
        }
        if (n == 0 || n > 70)
                return -EINVAL;
        memcpy(out, b, n);
        out[n] = '\0';
        return 0;
}

static const char *find(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
        return nlen <= hlen ? memmem(hay, hlen, needle, nlen) : NULL;
}

/* The filename="..." of a part's headers (hdr..end), or NULL. */
static const char *part_filename(const char *hdr, const char *end, size_t *ret_len)
{
        const char *p = hdr, *q;

        while ((p = find(p, (size_t)(end - p), "filename=\"", 10))) {
                /* Not filename*=: a plain filename parameter right after a separator. */
                if (p > hdr && (p[-1] == ' ' || p[-1] == ';' || p[-1] == '\t')) {
                        p += 10;
                        q = memchr(p, '"', (size_t)(end - p));
                        if (!q)
                                return NULL;
                        *ret_len = (size_t)(q - p);
                        return p;
                }
                p += 10;
        }
        return NULL;
}

/* The next CRLF, delimiter, and then CRLF or "--" (a whole boundary line) in p..end. */
static const char *next_delimiter(const char *p, const char *end, const char *delim)
{
        char nd[84];
        size_t nlen = (size_t)snprintf(nd, sizeof(nd), "\r\n%s", delim);
        const char *q;

        while ((q = find(p, (size_t)(end - p), nd, nlen))) {
                const char *after = q + nlen;

                if ((size_t)(end - after) >= 2 && ((after[0] == '\r' && after[1] == '\n') ||
                                                   (after[0] == '-' && after[1] == '-')))
                        return q;
                p = q + 1;
        }
        return NULL;
}

int e2b_multipart_parse(const char *body, size_t len, const char *boundary, struct e2b_part *parts,
                        size_t max, size_t *ret_n, struct al_error *err)
{
        char delim[80];
        size_t dlen = (size_t)snprintf(delim, sizeof(delim), "--%s", boundary);
        const char *p = body, *end = body + len;
        size_t n = 0;

        *ret_n = 0;
        if (dlen >= sizeof(delim) || !*boundary)
                return al_err(err, -EINVAL, "a multipart boundary of 1..70 characters is needed");
        p = find(p, len, delim, dlen);
        if (!p)
                return al_err(err, -EINVAL, "the multipart body has no boundary line");
        for (;;) {
                const char *hdr, *hend, *next;

                p += dlen;
                if ((size_t)(end - p) >= 2 && p[0] == '-' && p[1] == '-')
                        break; /* the closing boundary */
                if ((size_t)(end - p) < 2 || p[0] != '\r' || p[1] != '\n')
                        return al_err(err, -EINVAL, "a multipart boundary line is malformed");
                hdr = p + 2;
                hend = find(hdr, (size_t)(end - hdr), "\r\n\r\n", 4);
                if (!hend)
                        return al_err(err, -EINVAL, "a multipart part has no end of headers");
                next = next_delimiter(hend + 4, end, delim);
                if (!next)
                        return al_err(err, -EINVAL, "the multipart body has no closing boundary");
                if (n >= max)
                        return al_err(err, -EINVAL, "more than %zu parts in one upload", max);
                parts[n].filename = part_filename(hdr, hend, &parts[n].filename_len);
                if (!parts[n].filename)
                        parts[n].filename_len = 0;
                parts[n].data = hend + 4;
                parts[n].len = (size_t)(next - hend - 4);
                n++;
                p = next + 2;
        }
        *ret_n = n;
        return 0;
}

/* ---- processes ---- */

/* s in single quotes for sh, into b. */
static int shell_quote(struct buf *b, const char *s)
{
        int r = buf_append(b, "'", 1);

        for (; r == 0 && *s; s++)
                r = *s == '\'' ? buf_append(b, "'\\''", 4) : buf_append(b, s, 1);
        return r == 0 ? buf_append(b, "'", 1) : r;
}

static bool is_shell(const char *cmd)
{
        static const char *const shells[] = {"/bin/bash", "/bin/sh", "bash", "sh", "/usr/bin/bash"};

        for (size_t i = 0; i < ARRAY_SIZE(shells); i++)
                if (strcmp(cmd, shells[i]) == 0)
                        return true;
        return false;
}

int e2b_process_command(json_t *process, char **ret_command, char ***ret_argv, struct al_error *err)
{
        json_t *cmd = json_object_get(process, "cmd"), *args = json_object_get(process, "args"),
               *cwd = json_object_get(process, "cwd"), *v;
        const char *script = NULL;
        size_t nargs, i;
        struct buf b;
        char **argv;

        *ret_command = NULL;
        *ret_argv = NULL;
        if (!json_is_string(cmd) || !*json_string_value(cmd))
                return al_err(err, -EINVAL, "process.cmd must be a non-empty string");
        if (args && !json_is_null(args) && !json_is_array(args))
                return al_err(err, -EINVAL, "process.args must be an array of strings");
        if (cwd && !json_is_null(cwd) && !json_is_string(cwd))
                return al_err(err, -EINVAL, "process.cwd must be a string");
        nargs = json_array_size(args);
        if (nargs > 4096)
                return al_err(err, -EINVAL, "process.args has too many entries");
        json_array_foreach(args, i, v)
        {
                if (!json_is_string(v))
                        return al_err(err, -EINVAL, "process.args must be an array of strings");
        }
        /* A shell's -c script (the SDK's "/bin/bash -l -c CMD") is run by the runtime's shell:
         * not every runtime image has bash. */
        if (is_shell(json_string_value(cmd)) && nargs >= 2 &&
            strcmp(json_string_value(json_array_get(args, nargs - 2)), "-c") == 0) {
                bool flags_only = true;

                for (i = 0; i + 2 < nargs; i++)
                        flags_only &= json_string_value(json_array_get(args, i))[0] == '-';
                if (flags_only)
                        script = json_string_value(json_array_get(args, nargs - 1));
        }
        if (json_is_string(cwd) && *json_string_value(cwd)) {
                buf_init(&b, 1u << 20);
                int r = buf_append(&b, "cd ", 3);

                r = r ?: shell_quote(&b, json_string_value(cwd));
                r = r ?: buf_append(&b, " && ", 4);
                if (script) {
                        r = r ?: buf_append(&b, script, strlen(script));
                } else {
                        r = r ?: buf_append(&b, "exec ", 5);
                        r = r ?: shell_quote(&b, json_string_value(cmd));
                        json_array_foreach(args, i, v)
                        {
                                r = r ?: buf_append(&b, " ", 1);
                                r = r ?: shell_quote(&b, json_string_value(v));
                        }
                }
                if (r < 0 || buf_truncated(&b)) {
                        buf_free(&b);
                        return al_err(err, r < 0 ? r : -EINVAL, "the command is too long");
                }
                *ret_command = buf_steal(&b, NULL);
                return *ret_command ? 0 : al_err(err, -ENOMEM, "out of memory");
        }
        if (script) {
                *ret_command = strdup(script);
                return *ret_command ? 0 : al_err(err, -ENOMEM, "out of memory");
        }
        argv = calloc(nargs + 2, sizeof(*argv));
        if (!argv)
                return al_err(err, -ENOMEM, "out of memory");
        argv[0] = strdup(json_string_value(cmd));
        json_array_foreach(args, i, v)
        {
                argv[i + 1] = strdup(json_string_value(v));
        }
        for (i = 0; i <= nargs; i++)
                if (!argv[i]) {
                        util_strv_free(argv);
                        return al_err(err, -ENOMEM, "out of memory");
                }
        *ret_argv = argv;
        return 0;
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64_encode(const unsigned char *p, size_t len)
{
        char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i += 3) {
                unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0) |
                             (i + 2 < len ? p[i + 2] : 0);

                *o++ = b64chars[v >> 18 & 63];
                *o++ = b64chars[v >> 12 & 63];
                *o++ = i + 1 < len ? b64chars[v >> 6 & 63] : '=';
                *o++ = i + 2 < len ? b64chars[v & 63] : '=';
        }
        *o = '\0';
        return out;
}

json_t *e2b_event_start(long long pid)
{
        return json_pack("{s:{s:{s:I}}}", "event", "start", "pid", (json_int_t)pid);
}

json_t *e2b_event_data(bool is_stderr, const char *data, size_t len)
{
        _cleanup_free_ char *b = base64_encode((const unsigned char *)data, len);

        if (!b)
                return NULL;
        return json_pack("{s:{s:{s:s}}}", "event", "data", is_stderr ? "stderr" : "stdout", b);
}

json_t *e2b_event_end(int exit_code, int signal, bool aborted, bool timed_out, const char *error)
{
        char status[64];
        json_t *end;

        if (signal || aborted || timed_out)
                snprintf(status, sizeof(status), "signal: killed");
        else
                snprintf(status, sizeof(status), "exit status %d", exit_code);
        end = json_pack("{s:i, s:b, s:s}", "exitCode",
                        signal || aborted || timed_out ? -1 : exit_code, "exited",
                        !(signal || aborted || timed_out), "status", status);
        if (end && (error || timed_out))
                json_object_set_new(end, "error",
                                    json_string(error ? error : "the command timed out"));
        return end ? json_pack("{s:{s:o}}", "event", "end", end) : NULL;
}

json_t *e2b_event_keepalive(void)
{
        return json_pack("{s:{s:{}}}", "event", "keepalive");
}

/* ---- files ---- */

json_t *e2b_entry_info(json_t *entry, const char *path)
{
        const char *type = json_string_value(json_object_get(entry, "type"));
        json_int_t mode = json_integer_value(json_object_get(entry, "mode"));
        json_int_t mtime = json_integer_value(json_object_get(entry, "mtime"));
        const char *target = json_string_value(json_object_get(entry, "target"));
        const char *name = json_string_value(json_object_get(entry, "name"));
        const char *ftype = "FILE_TYPE_UNSPECIFIED";
        char perms[11], ts[32], size[24];
        json_t *o;

        if (type && strcmp(type, "file") == 0)
                ftype = "FILE_TYPE_FILE";
        else if (type && strcmp(type, "directory") == 0)
                ftype = "FILE_TYPE_DIRECTORY";
        else if (type && strcmp(type, "symlink") == 0)
                ftype = "FILE_TYPE_SYMLINK";
        perms[0] = ftype[10] == 'D' ? 'd' : ftype[10] == 'S' ? 'l' : '-';
        for (int i = 0; i < 9; i++)
                perms[1 + i] = (mode >> (8 - i)) & 1 ? "rwxrwxrwx"[i] : '-';
        perms[10] = '\0';
        e2b_time_format((int64_t)mtime * 1000, ts);
        snprintf(size, sizeof(size), "%lld",
                 (long long)json_integer_value(json_object_get(entry, "size")));
        if (!name) {
                name = strrchr(path, '/');
                name = name ? name + 1 : path;
        }
        o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s}", "name", name, "type", ftype,
                      "path", path, "size", size, "mode", mode, "permissions", perms, "owner",
                      "airlock", "group", "airlock", "modifiedTime", ts);
        if (o && target)
                json_object_set_new(o, "symlinkTarget", json_string(target));
        return o;
}

/* ---- the code interpreter ---- */

json_t *e2b_cell_result(json_t *result)
{
        static const struct {
                const char *mime, *key;
        } map[] = {{"text/plain", "text"},        {"text/html", "html"},
                   {"text/markdown", "markdown"}, {"image/svg+xml", "svg"},
                   {"image/png", "png"},          {"image/jpeg", "jpeg"},
                   {"application/pdf", "pdf"},    {"text/latex", "latex"},
                   {"application/json", "json"},  {"application/javascript", "javascript"}};
        json_t *data = json_object_get(result, "data"), *v;
        const char *kind = json_string_value(json_object_get(result, "kind"));
        json_t *o = json_pack("{s:s, s:b}", "type", "result", "is_main_result",
                              kind && strcmp(kind, "result") == 0);
        const char *mime;

        if (!o)
                return NULL;
        json_object_foreach(data, mime, v)
        {
                size_t i;

                for (i = 0; i < ARRAY_SIZE(map) && strcmp(map[i].mime, mime) != 0; i++)
                        ;
                json_object_set(o, i < ARRAY_SIZE(map) ? map[i].key : mime, v);
        }
        return o;
}
