/* Policy, sandboxes and sessions: what admins and agents manage besides execs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/contexts.h"
#include "airlock/log.h"
#include "airlock/util.h"
#include "auth.h"
#include "routes.h"

static const char *query(struct MHD_Connection *conn, const char *key)
{
        return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

/* An optional ?agent=NAME, validated. */
static int agent_arg(struct MHD_Connection *conn, const char **ret, struct al_error *err)
{
        const char *a = query(conn, "agent");

        if (a && !util_name_valid(a, EXEC_NAME_MAX))
                return al_err(err, -EINVAL, "query 'agent' must be a name of [A-Za-z0-9._-]");
        *ret = a;
        return 0;
}

/* An optional ?agent=NAME that the caller must be allowed to act as: 403 (recorded) when it
 * may not. what says what was refused, for the record. */
static int agent_arg_allowed(struct api *ctx, struct MHD_Connection *conn,
                             const struct auth_identity *who, const char *what, const char **ret,
                             struct al_error *err)
{
        int r = agent_arg(conn, ret, err);

        return r < 0 ? r : api_agent_allowed(ctx, who, what, *ret, err);
}

ROUTE_HANDLER(route_policy_get)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(ctx->core);
        struct al_error err = {0};
        const char *agent = NULL;
        json_t *doc;

        if (agent_arg_allowed(ctx, conn, args->who, "read the policy of", &agent, &err) < 0)
                return api_send_error(conn, err.code, err.msg);
        if (agent || !args->who->admin) {
                /* One agent's effective policy; callers other than admins see no more than
                 * that, or the global part: not the other agents, clients or admins. */
                struct policy_effective e;

                if (policy_resolve(pol, agent, &e) < 0)
                        return api_send_error(conn, -EINVAL, "invalid agent name");
                doc = policy_effective_to_json(&e, NULL);
        } else {
                doc = policy_to_json(pol);
        }
        if (!doc)
                return api_send_error(conn, -ENOMEM, "out of memory");
        json_object_set_new(doc, "source",
                            pol->source_path ? json_string(pol->source_path) : json_null());
        return api_send_json(conn, MHD_HTTP_OK, doc);
}

ROUTE_HANDLER(route_policy_reload)
{
        struct policy_problems problems = {0};
        struct al_error err = {0};
        char who[160];
        json_t *list;
        enum MHD_Result ret;

        auth_label(args->who, who, sizeof(who));
        if (!args->who->admin) {
                log_warn("refused: %s may not reload the policy (admins only)", who);
                return api_send_error(conn, -AL_E_FORBIDDEN, "only admins may reload the policy");
        }
        snprintf(who, sizeof(who), "uid %d", (int)args->who->peer.uid);
        if (daemon_reload(ctx->core, who, &problems, &err) == 0) {
                _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(ctx->core);

                policy_problems_free(&problems);
                return api_send_json(conn, MHD_HTTP_OK,
                                     json_pack("{s:b, s:s, s:s}", "reloaded", 1, "mode",
                                               policy_mode_name(pol->mode), "scope",
                                               policy_scope_name(pol->scope)));
        }
        list = json_array();
        for (size_t i = 0; i < problems.n; i++)
                json_array_append_new(list, json_pack("{s:i, s:s}", "line", problems.items[i].line,
                                                      "message", problems.items[i].msg));
        policy_problems_free(&problems);
        ret = api_send_json(conn, 400,
                            json_pack("{s:{s:s, s:s, s:o}}", "error", "code", "invalid_policy",
                                      "message", err.msg, "problems", list));
        return ret;
}

ROUTE_HANDLER(route_sandboxes_get)
{
        struct al_error err = {0};
        const char *agent = NULL;
        json_t *rows;

        if (agent_arg_allowed(ctx, conn, args->who, "list the sandboxes of", &agent, &err) < 0)
                return api_send_error(conn, err.code, err.msg);
        rows = api_sandboxes_list(ctx, args->who, agent);
        return api_send_json(conn, MHD_HTTP_OK, json_pack("{s:o}", "sandboxes", rows));
}

int api_sandbox_of(struct api *ctx, const struct auth_identity *who, const char *prefix,
                   bool shared_ok, char **ret_id, char **ret_agent)
{
        json_t *rows = scope_list(daemon_scopes(ctx->core), NULL), *row;
        size_t i;
        int r = -ENOENT;

        if (strlen(prefix) < 12) {
                json_decref(rows);
                return -EINVAL;
        }
        json_array_foreach(rows, i, row)
        {
                const char *id = json_string_value(json_object_get(row, "id"));
                const char *agent = json_string_value(json_object_get(row, "agent"));

                if (!id || strncmp(id, prefix, strlen(prefix)) != 0)
                        continue;
                if (!who->admin && !(agent ? auth_may_act_as(who, agent) : shared_ok))
                        continue;
                *ret_id = strdup(id);
                *ret_agent = agent ? strdup(agent) : NULL;
                r = *ret_id ? 0 : -ENOMEM;
                break;
        }
        json_decref(rows);
        return r;
}

ROUTE_HANDLER(route_sandbox_delete)
{
        const char *id = args->param;
        struct al_error err = {0};
        const char *agent = NULL;

        if (agent_arg_allowed(ctx, conn, args->who, "remove a sandbox of", &agent, &err) < 0 ||
            api_sandbox_remove(ctx, args->who, id, agent, &err) < 0)
                return api_send_error(conn, err.code, err.msg);
        return api_send_json(conn, MHD_HTTP_OK, json_pack("{s:s, s:b}", "id", id, "removed", 1));
}

ROUTE_HANDLER(route_sandbox_suspend)
{
        const char *id = args->param;
        struct al_error err = {0};
        const char *agent = NULL;
        json_t *out = NULL;

        if (agent_arg_allowed(ctx, conn, args->who, "suspend a sandbox of", &agent, &err) < 0 ||
            api_sandbox_suspend(ctx, args->who, id, agent, &out, &err) < 0)
                return api_send_error(conn, err.code, err.msg);
        return api_send_json(conn, MHD_HTTP_OK, out);
}

ROUTE_HANDLER(route_session_end)
{
        const char *session = args->param, *body = args->body;
        size_t len = args->len;
        struct al_error err = {0};
        const char *agent = NULL;
        json_t *doc = NULL, *out = NULL;
        enum MHD_Result ret;

        if (len > 0) {
                if (request_json_object(body, len, false, &doc, &err) < 0)
                        return api_send_error(conn, err.code, err.msg);
                if (json_object_get(doc, "agent") &&
                    !json_is_string(json_object_get(doc, "agent"))) {
                        json_decref(doc);
                        return api_send_error(conn, -EINVAL,
                                              "body must be {\"agent\": NAME} or empty");
                }
                agent = json_string_value(json_object_get(doc, "agent"));
        }
        if (!agent && agent_arg(conn, &agent, &err) < 0) {
                json_decref(doc);
                return api_send_error(conn, err.code, err.msg);
        }
        if (!agent)
                agent = "default";
        if (api_session_end(ctx, args->who, agent, session, &out, &err) < 0)
                ret = api_send_error(conn, err.code, err.msg);
        else
                ret = api_send_json(conn, MHD_HTTP_OK, out);
        json_decref(doc);
        return ret;
}

/* A number from the query string within [min, max]; absent leaves *ret as it is. */
static int int_arg(struct MHD_Connection *conn, const char *key, int64_t min, int64_t max,
                   int64_t *ret, struct al_error *err)
{
        const char *v = query(conn, key);

        if (v && util_parse_int64(v, min, max, ret) < 0)
                return al_err(err, -EINVAL, "query '%s' must be an integer between %lld and %lld",
                              key, (long long)min, (long long)max);
        return 0;
}

ROUTE_HANDLER(route_executions_get)
{
        struct store_exec_query q = {0};
        struct al_error err = {0};
        int64_t limit = 0, since = 0, until = 0;
        _cleanup_free_ const char **names = NULL;
        bool all = false, rowwise = false;
        char *next = NULL;
        json_t *rows = NULL;
        int r;

        if (agent_arg_allowed(ctx, conn, args->who, "read the executions of", &q.agent, &err) < 0 ||
            (!q.agent && api_listing_filter(args->who, &all, &names, &rowwise, &err) < 0) ||
            int_arg(conn, "limit", 1, STORE_QUERY_LIMIT_MAX, &limit, &err) < 0 ||
            int_arg(conn, "since", 0, INT64_MAX, &since, &err) < 0 ||
            int_arg(conn, "until", 0, INT64_MAX, &until, &err) < 0)
                return api_send_error(conn, err.code, err.msg);
        q.session = query(conn, "session");
        q.state = query(conn, "state");
        q.backend = query(conn, "backend");
        q.cursor = query(conn, "cursor");
        q.egress = query(conn, "egress");
        q.egress_host = query(conn, "egress_host");
        q.limit = (int)limit;
        q.since = since;
        q.until = until;
        if (q.session && !util_name_valid(q.session, EXEC_NAME_MAX))
                return api_send_error(conn, -EINVAL, "query 'session' must be a name");
        /* Without ?agent, only the caller's agents; with patterns, a page may come out short
         * (next_cursor still leads on). */
        q.agents = names;
        r = store_executions_query(daemon_store(ctx->core), &q, &rows, &next, &err);
        if (r < 0)
                return api_send_error(conn, r, err.msg);
        if (rowwise)
                auth_filter_rows(args->who, rows, false);
        r = api_send_json(conn, MHD_HTTP_OK,
                          json_pack("{s:o, s:s?}", "executions", rows, "next_cursor", next));
        free(next);
        return r;
}

/* The execution's row when the caller may read it; another agent's execution reads exactly as
 * an unknown one. */
static int execution_visible(struct api *ctx, const struct route_args *args, json_t **ret,
                             struct al_error *err)
{
        json_t *row = NULL;
        int r = store_execution_get(daemon_store(ctx->core), args->param, &row, err);

        if (r < 0)
                return r;
        if (!auth_may_act_as(args->who, json_string_value(json_object_get(row, "agent")))) {
                json_decref(row);
                return al_err(err, -ENOENT, "no execution '%s'", args->param);
        }
        *ret = row;
        return 0;
}

ROUTE_HANDLER(route_execution_get)
{
        struct al_error err = {0};
        json_t *row = NULL;
        int r = execution_visible(ctx, args, &row, &err);

        if (r < 0)
                return api_send_error(conn, r, err.msg);
        return api_send_json(conn, MHD_HTTP_OK, row);
}

/* Every connection the execution's code made (or tried) through the egress proxy. */
ROUTE_HANDLER(route_execution_egress_get)
{
        struct al_error err = {0};
        json_t *row = NULL, *conns = NULL;
        int r = execution_visible(ctx, args, &row, &err);

        if (r < 0)
                return api_send_error(conn, r, err.msg);
        json_decref(row);
        r = store_egress_list(daemon_store(ctx->core), args->param, &conns, &err);
        if (r < 0)
                return api_send_error(conn, r, err.msg);
        return api_send_json(
            conn, MHD_HTTP_OK,
            json_pack("{s:s, s:o}", "execution_id", args->param, "connections", conns));
}

ROUTE_HANDLER(route_sessions_get)
{
        struct al_error err = {0};
        const char *agent = NULL;
        json_t *rows = NULL;

        if (agent_arg(conn, &agent, &err) < 0 ||
            api_sessions_list(ctx, args->who, agent, query(conn, "ended") != NULL, &rows, &err) < 0)
                return api_send_error(conn, err.code, err.msg);
        return api_send_json(conn, MHD_HTTP_OK, json_pack("{s:o}", "sessions", rows));
}
