/* The exec shapes every module shares (airlock/exec.h): requests' argv and lifetimes, results.
 * Below the backends, which fill results, and the daemon, which makes requests run. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "airlock/exec.h"
#include "airlock/util.h"

void exec_request_clear(struct exec_request *req)
{
        if (!req)
                return;
        free(req->agent);
        free(req->session);
        free(req->runtime);
        free(req->code);
        util_strv_free(req->argv);
        free(req->command);
        free(req->stdin_data);
        free(req->context);
        free(req->language);
        util_strv_free(req->env);
        memset(req, 0, sizeof(*req));
        req->network = -1;
}

/* prefix + last (or a copy of argv when prefix is NULL). */
static char **strv_join(char *const *prefix, const char *last)
{
        size_t n = util_strv_len(prefix), i;
        char **v = calloc(n + 2, sizeof(char *));

        if (!v)
                return NULL;
        for (i = 0; i < n; i++)
                if (!(v[i] = strdup(prefix[i])))
                        goto fail;
        if (last && !(v[i] = strdup(last)))
                goto fail;
        return v;
fail:
        util_strv_free(v);
        return NULL;
}

int exec_request_argv(const struct exec_request *req, const struct runtime *rt, char ***ret,
                      struct al_error *err)
{
        char **v;

        if (req->argv) {
                v = strv_join(req->argv, NULL);
        } else if (req->code || req->command) {
                char *const *prefix = rt ? (req->code ? rt->run : rt->shell) : NULL;

                if (!prefix || !prefix[0])
                        return al_err(err, -EINVAL, "runtime '%s' has no %s prefix to run %s",
                                      rt && rt->name ? rt->name : "(none)",
                                      req->code ? "run" : "shell",
                                      req->code ? "code" : "a command");
                v = strv_join(prefix, req->code ? req->code : req->command);
        } else {
                return al_err(err, -EINVAL, "the request has no code, argv or command");
        }
        if (!v)
                return al_err(err, -ENOMEM, "out of memory");
        *ret = v;
        return 0;
}

void exec_result_init(struct exec_result *r, size_t output_cap)
{
        memset(r, 0, sizeof(*r));
        buf_init(&r->out, output_cap);
        buf_init(&r->err, output_cap);
        r->exit_code = -1;
}

void exec_result_clear(struct exec_result *r)
{
        if (!r)
                return;
        buf_free(&r->out);
        buf_free(&r->err);
        json_decref(r->context);
        json_decref(r->results);
        r->context = r->results = NULL;
        json_decref(r->artifacts);
        r->artifacts = NULL;
        json_decref(r->egress_denied);
        r->egress_denied = NULL;
        json_decref(r->limits);
        r->limits = NULL;
}
