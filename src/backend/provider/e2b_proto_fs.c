/* envd's filesystem as data (part of the E2B protocol module, e2b_proto.h): the requests the
 * provider backend sends for the files helper's verbs, and envd's answers turned into the
 * helper's own documents, so that the files API above cannot tell a provider sandbox from a
 * local one. Everything parsed here comes from the network: typed and bounded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/provider/e2b_proto.h"

#define NAME_MAX_BYTES 255

int e2b_fs_path(const char *root, const char *rel, char *out, size_t size)
{
        int n = strcmp(rel, ".") == 0
                    ? snprintf(out, size, "%s", root)
                    : snprintf(out, size, "%s%s%s", root,
                               root[0] && root[strlen(root) - 1] == '/' ? "" : "/", rel);

        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

char *e2b_files_query(const char *path)
{
        struct buf q;

        buf_init(&q, 16384);
        buf_appendf(&q, "path=");
        e2b_url_encode(&q, path);
        if (buf_truncated(&q)) {
                buf_free(&q);
                return NULL;
        }
        return buf_steal(&q, NULL);
}

json_t *e2b_fs_path_body(const char *path)
{
        return json_pack("{s:s}", "path", path);
}

json_t *e2b_fs_list_body(const char *path)
{
        return json_pack("{s:s, s:i}", "path", path, "depth", 1);
}

json_t *e2b_fs_move_body(const char *source, const char *destination)
{
        return json_pack("{s:s, s:s}", "source", source, "destination", destination);
}

int e2b_multipart_file(struct buf *out, const char *boundary, const char *path, const void *data,
                       size_t len)
{
        const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

        buf_appendf(out, "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"",
                    boundary);
        /* A quote, a backslash or a line end would end the header: percent-encoded. */
        for (; *name; name++) {
                if (*name == '"' || *name == '\\' || *name == '\r' || *name == '\n')
                        buf_appendf(out, "%%%02X", (unsigned char)*name);
                else
                        buf_append(out, name, 1);
        }
        buf_appendf(out, "\"\r\nContent-Type: application/octet-stream\r\n\r\n");
        buf_append(out, data, len);
        buf_appendf(out, "\r\n--%s--\r\n", boundary);
        return buf_truncated(out) ? -EFBIG : 0;
}

/* google.protobuf.Timestamp in JSON (RFC 3339: 2024-01-02T03:04:05[.frac](Z|+hh:mm)) as
 * seconds since the epoch; 0 when it is not one. */
static long long rfc3339_seconds(const char *s)
{
        struct tm tm = {0};
        int consumed = 0, oh = 0, om = 0;
        long long t;
        const char *p;

        if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                         &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6)
                return 0;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        t = (long long)timegm(&tm);
        p = s + consumed;
        if (*p == '.')
                for (p++; *p >= '0' && *p <= '9'; p++)
                        ;
        if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2)
                t -= (*p == '+' ? 1 : -1) * (oh * 3600LL + om * 60LL);
        return t;
}

/* int64 in protobuf's JSON mapping is a string; an integer is taken too. */
static long long int64_of(json_t *v)
{
        if (json_is_integer(v))
                return (long long)json_integer_value(v);
        if (json_is_string(v))
                return strtoll(json_string_value(v), NULL, 10);
        return 0;
}

static bool name_ok(const char *name)
{
        size_t n = name ? strlen(name) : 0;

        return n > 0 && n <= NAME_MAX_BYTES && !strchr(name, '/') && strcmp(name, "..") != 0;
}

json_t *e2b_fs_entry_helper(json_t *entry, const char *name)
{
        const char *type = json_string_value(json_object_get(entry, "type"));
        const char *target = json_string_value(json_object_get(entry, "symlinkTarget"));
        const char *kind = "other";
        long long size = int64_of(json_object_get(entry, "size"));
        json_t *o;

        if (!json_is_object(entry) || !name)
                return NULL;
        if (type && strcmp(type, "FILE_TYPE_FILE") == 0)
                kind = "file";
        else if (type && strcmp(type, "FILE_TYPE_DIRECTORY") == 0)
                kind = "directory";
        else if (type && strcmp(type, "FILE_TYPE_SYMLINK") == 0)
                kind = "symlink";
        o = json_pack(
            "{s:s, s:s, s:I, s:i, s:I}", "name", name, "type", kind, "size",
            (json_int_t)(size < 0 ? 0 : size), "mode",
            (int)(json_integer_value(json_object_get(entry, "mode")) & 07777), "mtime",
            (json_int_t)rfc3339_seconds(json_string_value(json_object_get(entry, "modifiedTime"))));
        if (o && target && strcmp(kind, "symlink") == 0 && strlen(target) <= 4096)
                json_object_set_new(o, "target", json_string(target));
        return o;
}

static json_t *load(const char *body, size_t len)
{
        return body && len ? json_loadb(body, len, 0, NULL) : NULL;
}

int e2b_fs_stat_answer(const char *body, size_t len, const char *name, json_t **ret,
                       struct al_error *err)
{
        json_t *o = load(body, len);

        *ret = e2b_fs_entry_helper(json_object_get(o, "entry"), name);
        json_decref(o);
        return *ret ? 0 : al_err(err, -EPROTO, "envd's StatResponse is malformed");
}

static int entry_cmp(const void *a, const void *b)
{
        return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
                      json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

int e2b_fs_list_answer(const char *body, size_t len, size_t max, json_t **ret, struct al_error *err)
{
        json_t *o = load(body, len), *entries = json_object_get(o, "entries"), *e;
        json_t **rows, *a;
        size_t i, n = 0;

        /* An empty directory is an empty message ({}): no entries field. */
        if (!json_is_object(o) || (entries && !json_is_array(entries))) {
                json_decref(o);
                return al_err(err, -EPROTO, "envd's ListDirResponse is malformed");
        }
        rows = calloc(json_array_size(entries) + 1, sizeof(*rows));
        if (!rows) {
                json_decref(o);
                return al_err(err, -ENOMEM, "out of memory");
        }
        json_array_foreach(entries, i, e)
        {
                const char *name = json_string_value(json_object_get(e, "name"));

                /* A name that is not one component of this directory is not shown. */
                if (name_ok(name) && strcmp(name, ".") != 0 &&
                    (rows[n] = e2b_fs_entry_helper(e, name)))
                        n++;
        }
        json_decref(o);
        qsort(rows, n, sizeof(*rows), entry_cmp);
        a = json_array();
        for (i = 0; i < n; i++) {
                if (i < max)
                        json_array_append_new(a, rows[i]);
                else
                        json_decref(rows[i]);
        }
        free(rows);
        *ret = json_pack("{s:o, s:b}", "entries", a, "truncated", n > max);
        return *ret ? 0 : al_err(err, -ENOMEM, "out of memory");
}

int e2b_fs_errno(long status, const char *body, size_t len)
{
        static const struct {
                const char *code;
                int e;
        } codes[] = {{"not_found", ENOENT},         {"already_exists", EEXIST},
                     {"permission_denied", EACCES}, {"unauthenticated", EACCES},
                     {"invalid_argument", EINVAL},  {"failed_precondition", EINVAL},
                     {"out_of_range", EINVAL},      {"resource_exhausted", ENOSPC},
                     {"unimplemented", EOPNOTSUPP}};
        json_t *o = load(body, len);
        const char *code = json_string_value(json_object_get(o, "code"));
        int e = 0;

        for (size_t i = 0; code && i < sizeof(codes) / sizeof(codes[0]); i++)
                if (strcmp(codes[i].code, code) == 0)
                        e = codes[i].e;
        json_decref(o);
        if (code)
                return e;
        switch (status) {
        case 400:
                return EINVAL;
        case 401:
        case 403:
                return EACCES;
        case 404:
                return ENOENT;
        case 409:
                return EEXIST;
        case 413:
                return EFBIG;
        case 507:
                return ENOSPC;
        default:
                return 0;
        }
}

char *e2b_fs_error_doc(int e, const char *message)
{
        return e2b_json_text(json_pack("{s:i, s:s}", "errno", e, "message", message));
}
