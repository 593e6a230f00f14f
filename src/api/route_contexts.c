/* /v1/contexts: stateful code contexts (docs/contexts.md). Creation is checked like an exec
 * (the caller must be allowed to act as the agent); every other call finds the context first
 * and answers 404 for one of an agent the caller may not act as, so that ids cannot be probed.
 * Cells run through POST /v1/exec with "context" or "language". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/contexts.h"
#include "airlock/log.h"
#include "airlock/util.h"
#include "auth.h"
#include "routes.h"

static void context_request_clear(struct context_request *req)
{
        free(req->agent);
        free(req->session);
        free(req->runtime);
        memset(req, 0, sizeof(*req));
}

static int name_field(json_t *o, const char *key, char **ret, struct al_error *err)
{
        json_t *v = json_object_get(o, key);

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v) || !util_name_valid(json_string_value(v), EXEC_NAME_MAX))
                return al_err(err, -EINVAL,
                              "field '%s' must be a name of 1 to %d characters from "
                              "[A-Za-z0-9._-]",
                              key, EXEC_NAME_MAX);
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : al_err(err, -ENOMEM, "out of memory");
}

static int context_request_parse(const char *body, size_t len, struct context_request *ret,
                                 struct al_error *err)
{
        static const char *const known[] = {"agent", "session", "runtime", "language"};
        struct context_request req = {0};
        json_t *o = NULL, *v;
        const char *key;
        int r, l;

        r = request_json_object(body, len, false, &o, err);
        if (r < 0)
                return r;
        json_object_foreach(o, key, v)
        {
                bool ok = false;

                for (size_t i = 0; i < ARRAY_SIZE(known) && !ok; i++)
                        ok = strcmp(key, known[i]) == 0;
                if (!ok) {
                        char q[80];

                        r = al_err(err, -EINVAL, "unknown field '%s'",
                                   util_quote(q, sizeof(q), key));
                        goto out;
                }
        }
        if ((r = name_field(o, "agent", &req.agent, err)) < 0 ||
            (r = name_field(o, "session", &req.session, err)) < 0 ||
            (r = name_field(o, "runtime", &req.runtime, err)) < 0)
                goto out;
        v = json_object_get(o, "language");
        l = json_is_string(v) ? context_language_parse(json_string_value(v)) : -1;
        if (l < 0) {
                r = al_err(err, -EINVAL, "field 'language' must be python, node or bash");
                goto out;
        }
        req.language = (enum context_language)l;
        if (!req.agent && !(req.agent = strdup("default"))) {
                r = al_err(err, -ENOMEM, "out of memory");
                goto out;
        }
        *ret = req;
        memset(&req, 0, sizeof(req));
out:
        context_request_clear(&req);
        json_decref(o);
        return r;
}

ROUTE_HANDLER(route_context_create)
{
        struct context_request req = {0};
        struct al_error err = {0};
        json_t *doc = NULL;
        int r;

        r = context_request_parse(args->body, args->len, &req, &err);
        if (r >= 0)
                r = api_context_create(ctx, args->who, &req, &doc, &err);
        context_request_clear(&req);
        if (r == -AL_E_LIMITED)
                return auth_send_limited(conn, 10, err.msg);
        if (r < 0)
                return api_send_error(conn, r, err.msg);
        return api_send_json(conn, MHD_HTTP_CREATED, doc);
}

ROUTE_HANDLER(route_contexts_get)
{
        json_t *rows = api_contexts_list(ctx, args->who, NULL);

        if (!rows)
                return api_send_error(conn, -ENOMEM, "out of memory");
        return api_send_json(conn, MHD_HTTP_OK, json_pack("{s:o}", "contexts", rows));
}

/* The answer of one of the calls on a context. */
static enum MHD_Result answer(struct MHD_Connection *conn, int r, json_t *doc,
                              const struct al_error *err)
{
        if (r < 0)
                return api_send_error(conn, r, err->msg);
        return api_send_json(conn, MHD_HTTP_OK, doc);
}

ROUTE_HANDLER(route_context_get)
{
        struct al_error err = {0};
        json_t *doc = NULL;
        int r = api_context_get(ctx, args->who, args->param, NULL, &doc, &err);

        return answer(conn, r, doc, &err);
}

ROUTE_HANDLER(route_context_delete)
{
        struct al_error err = {0};
        json_t *doc = NULL;
        int r = api_context_delete(ctx, args->who, args->param, NULL, &doc, &err);

        return answer(conn, r, doc, &err);
}

ROUTE_HANDLER(route_context_restart)
{
        struct al_error err = {0};
        json_t *doc = NULL;
        int r = api_context_restart(ctx, args->who, args->param, NULL, &doc, &err);

        return answer(conn, r, doc, &err);
}

ROUTE_HANDLER(route_context_interrupt)
{
        struct al_error err = {0};
        json_t *doc = NULL;
        int r = api_context_interrupt(ctx, args->who, args->param, NULL, &doc, &err);

        return answer(conn, r, doc, &err);
}
