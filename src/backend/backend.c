#include "airlock/backend.h"

#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"

void backend_free(struct backend *b)
{
        if (b && b->ops && b->ops->free)
                b->ops->free(b);
}

json_t *backend_proc_json(long long pid, const char *command, int64_t started_ms, const char *state,
                          const struct exec_result *res, bool with_output)
{
        json_t *o = json_pack("{s:I, s:s, s:I, s:s}", "pid", (json_int_t)pid, "command", command,
                              "started_ms", (json_int_t)started_ms, "state", state);

        if (!o)
                return NULL;
        if (strcmp(state, "running") != 0) {
                json_object_set_new(o, "exit_code",
                                    json_integer(res->signal ? 128 + res->signal : res->exit_code));
                json_object_set_new(o, "signal",
                                    res->signal ? json_integer(res->signal) : json_null());
                json_object_set_new(o, "duration_ms", json_integer(res->duration_ms));
        }
        if (with_output) {
                _cleanup_free_ char *out = util_utf8_sanitize(res->out.data ? res->out.data : "",
                                                              res->out.len, NULL, NULL);
                _cleanup_free_ char *errs = util_utf8_sanitize(res->err.data ? res->err.data : "",
                                                               res->err.len, NULL, NULL);

                json_object_set_new(o, "stdout", json_string(out ? out : ""));
                json_object_set_new(o, "stderr", json_string(errs ? errs : ""));
                json_object_set_new(o, "stdout_truncated", json_boolean(buf_truncated(&res->out)));
                json_object_set_new(o, "stderr_truncated", json_boolean(buf_truncated(&res->err)));
        }
        return o;
}
