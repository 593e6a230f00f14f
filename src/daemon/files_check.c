/* The pure checks of the files API (airlock/files.h): a client's path, a tar member, the
 * helper's error and its artifacts document, which come from inside the sandbox and are
 * trusted for nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "airlock/file_records.h"
#include "airlock/base64.h"
#include "airlock/files.h"
#include "airlock/sha256.h"

int files_path_parse(const char *path, size_t len, enum policy_workspace ws, bool write,
                     struct files_path *ret, struct al_error *err)
{
        static const char *const areas[] = {FILES_AREA_WORKSPACE, FILES_AREA_TMP, FILES_AREA_HOME};
        char *o = ret->full;
        size_t comp = 0;

        if (!path || len == 0)
                return al_err(err, -EINVAL, "a path is required");
        if (len > FILES_PATH_MAX)
                return al_err(err, -EINVAL, "the path is longer than %d bytes", FILES_PATH_MAX);
        if (memchr(path, '\0', len))
                return al_err(err, -EINVAL, "the path holds a NUL byte");
        if (path[0] != '/')
                return al_err(err, -EINVAL, "the path must be absolute (it starts with '/')");
        /* Normalise: single slashes, no trailing one; refuse "." and "..". */
        for (size_t i = 0; i <= len; i++) {
                if (i == len || path[i] == '/') {
                        const char *c = o - comp;

                        if (comp == 1 && c[0] == '.')
                                return al_err(err, -EINVAL, "the path has a '.' component");
                        if (comp == 2 && c[0] == '.' && c[1] == '.')
                                return al_err(err, -EINVAL, "the path has a '..' component");
                        if (comp > FILES_NAME_MAX)
                                return al_err(err, -EINVAL,
                                              "a name in the path is longer than %d bytes",
                                              FILES_NAME_MAX);
                        if (i < len && (o == ret->full || o[-1] != '/'))
                                *o++ = '/';
                        comp = 0;
                        continue;
                }
                if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
                        return al_err(err, -EINVAL, "the path holds a control character");
                *o++ = path[i];
                comp++;
        }
        if (o > ret->full + 1 && o[-1] == '/')
                o--;
        *o = '\0';
        for (size_t i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
                size_t al = strlen(areas[i]);

                if (strncmp(ret->full, areas[i], al) != 0 ||
                    (ret->full[al] != '\0' && ret->full[al] != '/'))
                        continue;
                if (i == 0 && ws == WORKSPACE_NONE)
                        return al_err(err, -AL_E_FORBIDDEN,
                                      "this sandbox has no workspace (the policy's workspace mode "
                                      "is 'none')");
                if (i == 0 && write && ws != WORKSPACE_RW)
                        return al_err(err, -AL_E_FORBIDDEN,
                                      "the workspace is read-only (workspace mode 'ro')");
                ret->root = areas[i];
                snprintf(ret->rel, sizeof(ret->rel), "%s",
                         ret->full[al] ? ret->full + al + 1 : ".");
                return 0;
        }
        return al_err(err, -AL_E_FORBIDDEN,
                      "'%.200s' is outside the sandbox's file areas (" FILES_AREA_WORKSPACE
                      ", " FILES_AREA_TMP ", " FILES_AREA_HOME ")",
                      ret->full);
}

int files_tar_member_check(const char *name, mode_t type, char *name_out, struct al_error *err)
{
        size_t len;

        if (!S_ISREG(type) && !S_ISDIR(type))
                return al_err(err, -EINVAL,
                              "tar member '%.200s' is a %s: only regular files and directories "
                              "are accepted",
                              name,
                              S_ISLNK(type)                    ? "symbolic link"
                              : S_ISCHR(type) || S_ISBLK(type) ? "device"
                              : S_ISFIFO(type)                 ? "FIFO"
                                                               : "special file");
        while (name[0] == '.' && name[1] == '/')
                name += 2;
        len = strlen(name);
        if (len > FILES_PATH_MAX)
                return al_err(err, -EINVAL, "a tar member's name is longer than %d bytes",
                              FILES_PATH_MAX);
        memcpy(name_out, name, len + 1);
        while (len > 0 && name_out[len - 1] == '/')
                name_out[--len] = '\0';
        if (!file_record_path_ok(name_out, len))
                return al_err(err, -EINVAL,
                              "tar member '%.200s' has an unsafe name (absolute, empty, '.' or "
                              "'..' components, control characters, or a name over %d bytes)",
                              name, FILES_NAME_MAX);
        return 0;
}

int files_helper_error(const char *text, size_t len, struct al_error *err)
{
        json_t *o = text && len ? json_loadb(text, len, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
        const char *msg = json_string_value(json_object_get(o, "message"));
        json_int_t e = json_integer_value(json_object_get(o, "errno"));
        int code;

        switch (e) {
        case ENOENT:
                code = -ENOENT;
                break;
        case EEXIST:
        case ENOTEMPTY:
        case EBUSY:
                code = -AL_E_CONFLICT;
                break;
        case ENOSPC:
        case EDQUOT:
                code = -ENOSPC;
                break;
        case EFBIG:
                code = -AL_E_TOO_LARGE;
                break;
        case EACCES:
        case EPERM:
        case EROFS:
                code = -AL_E_FORBIDDEN;
                break;
        case 0:
                code = -EIO;
                break;
        default:
                /* A link on the way, not a regular file, not a directory, across areas... */
                code = -EINVAL;
                break;
        }
        if (code == -EIO)
                al_err(err, -EIO, "the sandbox's files helper failed without a reason");
        else
                al_err(err, code, "%.400s", msg && *msg ? msg : strerror((int)e));
        json_decref(o);
        return code;
}

static bool short_string(json_t *v, size_t max)
{
        return json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= max &&
               strlen(json_string_value(v)) == json_string_length(v);
}

/* One artifact of the helper's, checked and rebuilt from what was checked. */
static json_t *artifact_check(json_t *a, const char *outputs_dir, struct al_error *err)
{
        json_t *name = json_object_get(a, "name"), *path = json_object_get(a, "path"),
               *size = json_object_get(a, "size"), *mime = json_object_get(a, "mime"),
               *sha = json_object_get(a, "sha256"), *data = json_object_get(a, "data");
        size_t dl = strlen(outputs_dir);
        json_t *o;

        if (!short_string(name, FILES_PATH_MAX) ||
            !file_record_path_ok(json_string_value(name), json_string_length(name)) ||
            !short_string(path, FILES_PATH_MAX + 64) || !json_is_integer(size) ||
            json_integer_value(size) < 0 || !short_string(mime, 100))
                return al_err(err, -EPROTO, "an artifact entry is malformed"), NULL;
        /* The path is the outputs directory and the name, nothing else. */
        if (strncmp(json_string_value(path), outputs_dir, dl) != 0 ||
            json_string_value(path)[dl] != '/' ||
            strcmp(json_string_value(path) + dl + 1, json_string_value(name)) != 0)
                return al_err(err, -EPROTO, "an artifact's path is outside its exec's outputs"),
                       NULL;
        o = json_pack("{s:O, s:O, s:O, s:O}", "name", name, "path", path, "mime", mime, "size",
                      size);
        if (!o)
                return al_err(err, -ENOMEM, "out of memory"), NULL;
        if (json_is_true(json_object_get(a, "too_large")))
                json_object_set_new(o, "too_large", json_true());
        if (data) {
                uint8_t *bytes = NULL;
                char hex[SHA256_HEX_LEN];
                ssize_t n = json_is_string(data) ? base64_decode(json_string_value(data),
                                                              json_string_length(data), &bytes)
                                                 : -1;

                if (n < 0 || n != json_integer_value(size)) {
                        free(bytes);
                        json_decref(o);
                        return al_err(err, -EPROTO, "an artifact's inline data is malformed"), NULL;
                }
                /* The digest of the bytes the client gets, computed here. */
                sha256_hex(bytes, (size_t)n, hex);
                free(bytes);
                json_object_set_new(o, "sha256", json_string(hex));
                json_object_set_new(o, "encoding", json_string("base64"));
                json_object_set(o, "data", data);
        } else {
                if (sha && (!json_is_string(sha) || json_string_length(sha) != 64)) {
                        json_decref(o);
                        return al_err(err, -EPROTO, "an artifact's sha256 is malformed"), NULL;
                }
                if (sha)
                        json_object_set(o, "sha256", sha);
                json_object_set_new(o, "inline", json_false());
        }
        return o;
}

json_t *files_artifact_inline(const char *name, const char *mime, json_t *data)
{
        uint8_t *bytes = NULL;
        char hex[SHA256_HEX_LEN];
        ssize_t n = json_is_string(data)
                        ? base64_decode(json_string_value(data), json_string_length(data), &bytes)
                        : -1;

        if (n < 0) {
                free(bytes);
                return NULL;
        }
        sha256_hex(bytes, (size_t)n, hex);
        free(bytes);
        return json_pack("{s:s, s:s, s:I, s:s, s:s, s:O}", "name", name, "mime", mime, "size",
                         (json_int_t)n, "sha256", hex, "encoding", "base64", "data", data);
}

json_t *files_artifacts_check(const char *doc, size_t len, const char *outputs_dir, size_t max,
                              size_t *ret_dropped, struct al_error *err)
{
        json_t *root = json_loadb(doc, len, JSON_REJECT_DUPLICATES, NULL);
        json_t *list = json_object_get(root, "artifacts"), *found = json_object_get(root, "found");
        json_t *out = json_array(), *a;
        size_t i;

        if (!json_is_array(list) || !json_is_integer(found) || !out) {
                json_decref(root);
                json_decref(out);
                al_err(err, -EPROTO, "the artifacts document is malformed");
                return NULL;
        }
        json_array_foreach(list, i, a)
        {
                json_t *o;

                if (i >= max)
                        break;
                o = artifact_check(a, outputs_dir, err);
                if (!o) {
                        json_decref(root);
                        json_decref(out);
                        return NULL;
                }
                json_array_append_new(out, o);
        }
        *ret_dropped = json_integer_value(found) > (json_int_t)json_array_size(out)
                           ? (size_t)(json_integer_value(found) - (json_int_t)json_array_size(out))
                           : 0;
        json_decref(root);
        return out;
}
