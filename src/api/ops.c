/* What the front ends of api/ (the v1 routes, MCP) do for a caller besides execs, with no HTTP
 * in sight: list and end sessions, list and remove sandboxes, list and end background
 * processes. Each checks that the caller may do it and fills a JSON document or an error; the
 * route handlers and the MCP tools only shape the answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/contexts.h"
#include "airlock/log.h"
#include "airlock/util.h"
#include "auth.h"
#include "routes.h"

int api_listing_filter(const struct auth_identity *who, bool *ret_all, const char ***ret_names,
                       bool *ret_rowwise, struct al_error *err)
{
        if (auth_agent_filter(who, ret_all, ret_names) < 0)
                return al_err(err, -ENOMEM, "out of memory");
        *ret_rowwise = !*ret_all && !*ret_names;
        return 0;
}

int api_agent_allowed(struct api *ctx, const struct auth_identity *who, const char *what,
                      const char *agent, struct al_error *err)
{
        if (agent && !util_name_valid(agent, EXEC_NAME_MAX))
                return al_err(err, -EINVAL, "'agent' must be a name of [A-Za-z0-9._-]");
        if (agent && !auth_may_act_as(who, agent))
                return auth_refuse(ctx, who, what, agent, NULL, NULL, err);
        return 0;
}

json_t *api_sandboxes_list(struct api *ctx, const struct auth_identity *who, const char *agent)
{
        json_t *rows = scope_list(daemon_scopes(ctx->core), agent);

        daemon_contexts_annotate(ctx->core, rows);
        /* Suspended ones too, with state "suspended" (docs/suspend.md). */
        if (rows) {
                json_t *sus = daemon_snapshots_list(ctx->core, agent);

                json_array_extend(rows, sus);
                json_decref(sus);
        }
        /* Others' sandboxes stay hidden; SHARED ones serve every agent and are listed. */
        if (rows && !who->admin)
                auth_filter_rows(who, rows, true);
        return rows;
}

/* The agent of the suspended sandbox id (a prefix), when the caller may act as it. */
static int suspended_owner(struct api *ctx, const struct auth_identity *who, const char *id,
                           char **ret_agent)
{
        json_t *rows = daemon_snapshots_list(ctx->core, NULL), *row;
        size_t i;
        int r = -ENOENT;

        json_array_foreach(rows, i, row)
        {
                const char *sid = json_string_value(json_object_get(row, "id"));
                const char *agent = json_string_value(json_object_get(row, "agent"));

                if (!sid || strncmp(sid, id, strlen(id)) != 0 || !agent ||
                    !auth_may_act_as(who, agent))
                        continue;
                *ret_agent = strdup(agent);
                r = *ret_agent ? 0 : -ENOMEM;
                break;
        }
        json_decref(rows);
        return r;
}

bool api_sandbox_suspended(struct api *ctx, const struct auth_identity *who, const char *id)
{
        _cleanup_free_ char *owner = NULL;

        return strlen(id) >= 12 && suspended_owner(ctx, who, id, &owner) == 0;
}

int api_sandbox_remove(struct api *ctx, const struct auth_identity *who, const char *id,
                       const char *agent, struct al_error *err)
{
        _cleanup_free_ char *owner = NULL;
        int r;

        if (!who->admin) {
                /* Only sandboxes of the caller's agents, found by id: anything else reads as
                 * unknown, so that ids of others' sandboxes cannot be probed. */
                _cleanup_free_ char *full = NULL;

                r = api_sandbox_of(ctx, who, id, false, &full, &owner);
                if (r == -ENOENT)
                        r = suspended_owner(ctx, who, id, &owner);
                if (r == -EINVAL)
                        return al_err(err, -EINVAL, "a sandbox id has at least 12 characters");
                if (r < 0 || !owner || (agent && strcmp(owner, agent) != 0))
                        return al_err(err, -ENOENT, "no such sandbox");
                agent = owner;
        }
        r = scope_remove_handle(daemon_scopes(ctx->core), id, agent, err);
        /* A suspended sandbox is removed by deleting its snapshot. */
        if (r == -ENOENT)
                r = daemon_snapshot_remove(ctx->core, id, agent, err);
        if (r < 0)
                return r;
        log_info("sandbox %.12s removed on request", id);
        return 0;
}

int api_sandbox_suspend(struct api *ctx, const struct auth_identity *who, const char *id,
                        const char *agent, json_t **ret, struct al_error *err)
{
        int r;

        if (!who->admin) {
                _cleanup_free_ char *full = NULL, *owner = NULL;

                r = api_sandbox_of(ctx, who, id, false, &full, &owner);
                if (r == -EINVAL)
                        return al_err(err, -EINVAL, "a sandbox id has at least 12 characters");
                if (r < 0 || !owner || (agent && strcmp(owner, agent) != 0))
                        return al_err(err, -ENOENT, "no such sandbox");
                agent = owner;
        }
        /* Counted as an exec in flight: a stop drains it before the sandboxes go. */
        if (!daemon_inflight_enter(ctx->core))
                return al_err(err, -EOPNOTSUPP, "airlockd is shutting down");
        r = daemon_suspend(ctx->core, id, agent, ret, err);
        daemon_inflight_leave(ctx->core);
        if (r < 0)
                return r;
        log_info("sandbox %.12s suspended on request", id);
        return 0;
}

int api_session_end(struct api *ctx, const struct auth_identity *who, const char *agent,
                    const char *session, json_t **ret, struct al_error *err)
{
        int n;

        if (!util_name_valid(session, EXEC_NAME_MAX))
                return al_err(err, -EINVAL, "invalid session name");
        if (!util_name_valid(agent, EXEC_NAME_MAX))
                return al_err(err, -EINVAL, "invalid agent name");
        /* Sessions are keyed by (agent, session): a session id alone opens nothing. */
        if (!auth_may_act_as(who, agent))
                return auth_refuse(ctx, who, "end a session of", agent, session, NULL, err);
        n = scope_end_session(daemon_scopes(ctx->core), agent, session);
        n += daemon_snapshots_end_session(ctx->core, agent, session);
        if (store_session_end(daemon_store(ctx->core), agent, session, 0, err) < 0 &&
            err->code != -ENOENT)
                log_warn("recording the end of session '%s': %s", session, err->msg);
        log_info("session '%s' of agent '%s' ended: %d sandbox(es) removed", session, agent, n);
        *ret = json_pack("{s:s, s:s, s:b, s:i}", "agent", agent, "session", session, "ended", 1,
                         "sandboxes_removed", n);
        return *ret ? 0 : al_err(err, -ENOMEM, "out of memory");
}

int api_sessions_list(struct api *ctx, const struct auth_identity *who, const char *agent,
                      bool ended, json_t **ret, struct al_error *err)
{
        const char *agents[2] = {agent, NULL};
        _cleanup_free_ const char **names = NULL;
        bool all = false, rowwise = false;
        int r;

        if (api_agent_allowed(ctx, who, "list the sessions of", agent, err) < 0 ||
            (!agent && api_listing_filter(who, &all, &names, &rowwise, err) < 0))
                return err->code;
        r = store_sessions_list(daemon_store(ctx->core), agent ? agents : names, ended, ret, err);
        if (r < 0)
                return r;
        if (rowwise)
                auth_filter_rows(who, *ret, false);
        return 0;
}

/* The sandbox (when the caller may use it) whose background processes are asked for, and the
 * backend that runs them. SHARED sandboxes serve every agent: anyone may look, only admins
 * may end. */
static int procs_target(struct api *ctx, const struct auth_identity *who, const char *sandbox,
                        bool for_kill, char **ret_id, struct backend **ret_b, struct al_error *err)
{
        _cleanup_free_ char *agent = NULL;
        struct backend *b = daemon_containers(ctx->core);
        int r;

        r = api_sandbox_of(ctx, who, sandbox, !for_kill, ret_id, &agent);
        if (r == -EINVAL)
                return al_err(err, -EINVAL, "a sandbox id has at least 12 characters");
        if (r < 0)
                return al_err(err, -ENOENT, "no such sandbox");
        if (!b || !b->ops->proc_list) {
                free(*ret_id);
                *ret_id = NULL;
                return al_err(err, -EOPNOTSUPP, "this backend has no background processes");
        }
        *ret_b = b;
        return 0;
}

int api_procs_get(struct api *ctx, const struct auth_identity *who, const char *sandbox,
                  long long pid, json_t **ret, struct al_error *err)
{
        _cleanup_free_ char *id = NULL;
        struct backend *b;
        json_t *doc;
        int r;

        r = procs_target(ctx, who, sandbox, false, &id, &b, err);
        if (r < 0)
                return r;
        doc = b->ops->proc_list(b, id, pid, err);
        if (!doc)
                return err->code ? err->code : al_err(err, -ENOENT, "no such process");
        if (pid < 0)
                doc = json_pack("{s:s, s:o}", "sandbox_id", id, "processes", doc);
        *ret = doc;
        return doc ? 0 : al_err(err, -ENOMEM, "out of memory");
}

int api_proc_kill(struct api *ctx, const struct auth_identity *who, const char *sandbox,
                  long long pid, json_t **ret, struct al_error *err)
{
        _cleanup_free_ char *id = NULL;
        struct backend *b;
        int r;

        r = procs_target(ctx, who, sandbox, true, &id, &b, err);
        if (r < 0)
                return r;
        r = b->ops->proc_kill(b, id, pid, err);
        if (r < 0)
                return r;
        log_info("background process %lld of sandbox %.12s ended on request", pid, id);
        *ret = json_pack("{s:s, s:I, s:b}", "sandbox_id", id, "pid", (json_int_t)pid, "killed", 1);
        return *ret ? 0 : al_err(err, -ENOMEM, "out of memory");
}

/* ---- contexts ---- */

static int no_context(const char *id, struct al_error *err)
{
        char q[80];

        return al_err(err, -ENOENT, "no context '%s'", util_quote(q, sizeof(q), id));
}

int api_context_create(struct api *ctx, const struct auth_identity *who,
                       const struct context_request *req, json_t **ret, struct al_error *err)
{
        struct exec_request as = {.agent = req->agent, .session = req->session};
        int r;

        /* Checked like an exec of the agent: the caller must be allowed to act as it. */
        as.code = (char *)"(a context)";
        r = auth_check_exec(ctx, who, &as, err);
        if (r < 0)
                return r;
        r = daemon_context_create(ctx->core, req, ret, err);
        if (r < 0)
                return r;
        log_info("context %s (%s) created for agent '%s'",
                 json_string_value(json_object_get(*ret, "id")),
                 context_language_name(req->language), req->agent);
        return 0;
}

int api_context_find(struct api *ctx, const struct auth_identity *who, const char *id,
                     const char *agent, struct al_error *err)
{
        _cleanup_free_ char *owner = daemon_context_agent(ctx->core, id);

        if (owner && auth_may_act_as(who, owner) && (!agent || strcmp(agent, owner) == 0))
                return 0;
        return no_context(id, err);
}

int api_context_get(struct api *ctx, const struct auth_identity *who, const char *id,
                    const char *agent, json_t **ret, struct al_error *err)
{
        int r = api_context_find(ctx, who, id, agent, err);

        if (r < 0)
                return r;
        /* Deleted in the meantime: as unknown. */
        *ret = daemon_context_get(ctx->core, id);
        return *ret ? 0 : no_context(id, err);
}

json_t *api_contexts_list(struct api *ctx, const struct auth_identity *who, const char *agent)
{
        json_t *rows = daemon_contexts_list(ctx->core, agent);

        if (rows)
                auth_filter_rows(who, rows, false);
        return rows;
}

int api_context_delete(struct api *ctx, const struct auth_identity *who, const char *id,
                       const char *agent, json_t **ret, struct al_error *err)
{
        int r = api_context_find(ctx, who, id, agent, err);

        if (r >= 0)
                r = daemon_context_delete(ctx->core, id, err);
        if (r < 0)
                return r;
        log_info("context %s deleted", id);
        *ret = json_pack("{s:s, s:b}", "id", id, "deleted", 1);
        return *ret ? 0 : al_err(err, -ENOMEM, "out of memory");
}

int api_context_restart(struct api *ctx, const struct auth_identity *who, const char *id,
                        const char *agent, json_t **ret, struct al_error *err)
{
        int r = api_context_find(ctx, who, id, agent, err);

        if (r >= 0)
                r = daemon_context_restart(ctx->core, id, ret, err);
        if (r < 0)
                return r;
        log_info("context %s restarted", id);
        return 0;
}

int api_context_interrupt(struct api *ctx, const struct auth_identity *who, const char *id,
                          const char *agent, json_t **ret, struct al_error *err)
{
        bool sent = false;
        int r = api_context_find(ctx, who, id, agent, err);

        if (r >= 0)
                r = daemon_context_interrupt(ctx->core, id, &sent, err);
        if (r < 0)
                return r;
        *ret = json_pack("{s:s, s:b}", "id", id, "interrupted", sent);
        return *ret ? 0 : al_err(err, -ENOMEM, "out of memory");
}
