/* E2B's control plane (spec/openapi.yml of e2b-dev/E2B): create, list, get, kill sandboxes, set
 * their timeout, connect to them. The API key (X-API-Key) is an airlock token: the sandboxes
 * are its agent's, made through the core as an exec's would be (daemon_files_sandbox), under
 * the same policy, caps and scope rules. Errors are E2B's {"code": status, "message"}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/files.h"
#include "airlock/log.h"
#include "airlock/util.h"
#include "auth.h"
#include "e2b.h"
#include "routes.h"

#define E2B_DEFAULT_TIMEOUT_S 300 /* the SDKs' default */

enum MHD_Result e2b_send_rest_error(struct MHD_Connection *conn, int code, const char *msg)
{
        unsigned status = e2b_http_status(code);

        return api_send_json(conn, status, e2b_error_doc(status, msg));
}

static enum MHD_Result send_no_content(struct MHD_Connection *conn)
{
        return api_send_text(conn, 204, strdup(""), 0, "application/json", NULL);
}

/* A {"K": "V"} object of strings (metadata, envVars), or absent. */
static int string_map(json_t *o, const char *key, bool env, json_t **ret, struct al_error *err)
{
        json_t *v = json_object_get(o, key), *x;
        const char *k;

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_object(v) || json_object_size(v) > EXEC_ENV_MAX)
                return al_err(err, -EINVAL, "'%s' must be an object of at most %d strings", key,
                              EXEC_ENV_MAX);
        json_object_foreach(v, k, x)
        {
                if (!json_is_string(x) || strlen(k) > 256 || json_string_length(x) > 32768)
                        return al_err(err, -EINVAL, "'%s' must map names to short strings", key);
                if (env && (!*k || strchr(k, '=')))
                        return al_err(err, -EINVAL, "'%s' has a bad variable name", key);
        }
        *ret = v;
        return 0;
}

static int timeout_field(json_t *o, int64_t def, int64_t *ret, struct al_error *err)
{
        json_t *v = json_object_get(o, "timeout");

        *ret = def;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return al_err(err, -EINVAL, "'timeout' must be a number of seconds (>= 0)");
        *ret = json_integer_value(v);
        return 0;
}

static enum MHD_Result create(struct api *ctx, struct e2b *e, struct MHD_Connection *conn,
                              const char *body, size_t len, const struct auth_identity *who)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(ctx->core);
        _cleanup_(json_decrefp) json_t *o = NULL;
        _cleanup_free_ char *handle = NULL;
        struct e2b_sandbox_info sb = {0};
        struct policy_effective eff;
        struct al_error err = {0};
        json_t *tmpl, *metadata, *env, *v;
        const char *runtime;
        int64_t timeout;
        int r;

        r = request_json_object(body, len, false, &o, &err);
        if (r >= 0) {
                tmpl = json_object_get(o, "templateID");
                if (!json_is_string(tmpl))
                        r = al_err(&err, -EINVAL, "'templateID' (a string) is required");
        }
        if (r >= 0)
                r = timeout_field(o, E2B_DEFAULT_TIMEOUT_S, &timeout, &err);
        if (r >= 0)
                r = string_map(o, "metadata", false, &metadata, &err);
        if (r >= 0)
                r = string_map(o, "envVars", true, &env, &err);
        /* What airlock cannot do is refused, not silently ignored. */
        if (r >= 0 && ((v = json_object_get(o, "autoPause")) && json_is_true(v)))
                r = al_err(&err, -EINVAL, "autoPause is not supported: airlock has no pause");
        if (r >= 0 && ((v = json_object_get(o, "mcp")) && !json_is_null(v)))
                r = al_err(&err, -EINVAL,
                           "the MCP gateway is not supported (see airlock's own "
                           "MCP server, docs/mcp.md)");
        if (r >= 0 && ((v = json_object_get(o, "volumeMounts")) && json_array_size(v) > 0))
                r = al_err(&err, -EINVAL, "volume mounts are not supported");
        if (r < 0)
                return e2b_send_rest_error(conn, r, err.msg);
        if (policy_resolve(pol, who->token_agent, &eff) < 0)
                return e2b_send_rest_error(conn, -EINVAL, "invalid agent name");
        runtime = e2b_template_runtime(json_string_value(tmpl), eff.default_runtime);
        if (!runtime || !policy_runtime(pol, runtime)) {
                char q[UTIL_QUOTE_SIZE];

                snprintf(err.msg, sizeof(err.msg),
                         "template '%s' is not a runtime of this airlock: use a runtime's name "
                         "(e.g. python, node, bash; see GET /v1/policy), 'base' for the default "
                         "runtime or 'code-interpreter-v1' for python",
                         util_quote(q, sizeof(q), json_string_value(tmpl)));
                return e2b_send_rest_error(conn, -EINVAL, err.msg);
        }
        {
                struct e2b_sandbox_info want = {.metadata = metadata, .env = env};

                snprintf(want.agent, sizeof(want.agent), "%s", who->token_agent);
                snprintf(want.runtime, sizeof(want.runtime), "%s", runtime);
                snprintf(want.template_id, sizeof(want.template_id), "%s", json_string_value(tmpl));
                /* E2B's schema: at least one CPU and 128 MiB. */
                want.cpu_count = eff.limits.cpu_cores > 1 ? (int)(eff.limits.cpu_cores + 0.999) : 1;
                want.memory_mb = eff.limits.memory_mb > 128 ? (int)eff.limits.memory_mb : 128;
                want.disk_mb = (int)eff.limits.disk_mb;
                r = e2b_sandbox_add(e, &want, timeout, &sb, &err);
        }
        if (r < 0)
                return e2b_send_rest_error(conn, r, err.msg);
        /* The sandbox is made now, so that a create that cannot be served says so. */
        r = daemon_files_sandbox(ctx->core, sb.agent, sb.id, sb.runtime, &handle, &err);
        if (r < 0) {
                struct al_error kerr = {0};

                e2b_sandbox_kill(e, sb.id, sb.agent, &kerr);
                e2b_sandbox_info_clear(&sb);
                return e2b_send_rest_error(conn, r, err.msg);
        }
        log_info("e2b: sandbox %s (template '%s', runtime '%s') for agent '%s' in %.12s", sb.id,
                 sb.template_id, sb.runtime, sb.agent, handle);
        r = api_send_json(conn, 201, e2b_sandbox_doc(&sb, true, false));
        e2b_sandbox_info_clear(&sb);
        return r;
}

static enum MHD_Result list(struct e2b *e, struct MHD_Connection *conn,
                            const struct auth_identity *who)
{
        const char *state = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "state");

        /* Only running sandboxes exist here. */
        if (state && !strstr(state, "running"))
                return api_send_json(conn, 200, json_array());
        return api_send_json(conn, 200, e2b_sandboxes_list(e, who->token_agent));
}

/* POST {timeout} to a sandbox: set it (timeout) or only extend it (connect, refreshes). */
static enum MHD_Result retime(struct e2b *e, struct MHD_Connection *conn, const char *id,
                              const char *body, size_t len, const struct auth_identity *who,
                              bool connect)
{
        _cleanup_(json_decrefp) json_t *o = NULL;
        struct e2b_sandbox_info sb = {0};
        struct al_error err = {0};
        int64_t timeout = E2B_DEFAULT_TIMEOUT_S;
        int r = 0;

        if (len > 0)
                r = request_json_object(body, len, false, &o, &err);
        if (r >= 0 && o)
                r = timeout_field(o, timeout, &timeout, &err);
        if (r < 0)
                return e2b_send_rest_error(conn, r, err.msg);
        if (e2b_sandbox_get(e, id, who->token_agent, &sb) < 0)
                return e2b_send_rest_error(conn, -ENOENT, "sandbox not found");
        /* Connecting only ever extends the time left. */
        if (!connect || sb.end_ms < util_wall_ms() + timeout * 1000)
                e2b_sandbox_set_timeout(e, id, who->token_agent, timeout);
        if (!connect) {
                e2b_sandbox_info_clear(&sb);
                return send_no_content(conn);
        }
        r = api_send_json(conn, 200, e2b_sandbox_doc(&sb, true, false));
        e2b_sandbox_info_clear(&sb);
        return r;
}

enum MHD_Result e2b_control_route(struct api *ctx, struct e2b *e, struct MHD_Connection *conn,
                                  const char *url, const char *method, const char *body, size_t len,
                                  const struct auth_identity *who)
{
        const char *rest;
        char id[E2B_ID_LEN + 8];
        size_t n;

        if (strcmp(url, "/sandboxes") == 0 || strcmp(url, "/v2/sandboxes") == 0) {
                if (strcmp(method, "POST") == 0)
                        return create(ctx, e, conn, body, len, who);
                if (strcmp(method, "GET") == 0)
                        return list(e, conn, who);
                return e2b_send_rest_error(conn, -EINVAL, "this route does not take that method");
        }
        if (strncmp(url, "/sandboxes/", 11) == 0)
                rest = url + 11;
        else if (strncmp(url, "/v2/sandboxes/", 14) == 0)
                rest = url + 14;
        else
                return e2b_send_rest_error(conn, -ENOENT, "no such route");
        n = strcspn(rest, "/");
        if (n == 0 || n >= sizeof(id))
                return e2b_send_rest_error(conn, -ENOENT, "sandbox not found");
        memcpy(id, rest, n);
        id[n] = '\0';
        rest += n;
        if (!*rest && strcmp(method, "GET") == 0) {
                struct e2b_sandbox_info sb = {0};
                enum MHD_Result ret;

                if (e2b_sandbox_get(e, id, who->token_agent, &sb) < 0)
                        return e2b_send_rest_error(conn, -ENOENT, "sandbox not found");
                ret = api_send_json(conn, 200, e2b_sandbox_doc(&sb, true, true));
                e2b_sandbox_info_clear(&sb);
                return ret;
        }
        if (!*rest && strcmp(method, "DELETE") == 0) {
                struct al_error err = {0};

                if (e2b_sandbox_kill(e, id, who->token_agent, &err) < 0)
                        return e2b_send_rest_error(conn, -ENOENT, "sandbox not found");
                return send_no_content(conn);
        }
        if (strcmp(method, "POST") == 0 && strcmp(rest, "/timeout") == 0)
                return retime(e, conn, id, body, len, who, false);
        if (strcmp(method, "POST") == 0 &&
            (strcmp(rest, "/connect") == 0 || strcmp(rest, "/refreshes") == 0))
                return retime(e, conn, id, body, len, who, true);
        if (strcmp(method, "POST") == 0 &&
            (strcmp(rest, "/pause") == 0 || strcmp(rest, "/resume") == 0 ||
             strcmp(rest, "/snapshots") == 0 || strcmp(rest, "/fork") == 0)) {
                struct e2b_sandbox_info sb = {0};

                if (e2b_sandbox_get(e, id, who->token_agent, &sb) < 0)
                        return e2b_send_rest_error(conn, -ENOENT, "sandbox not found");
                e2b_sandbox_info_clear(&sb);
                return e2b_send_rest_error(conn, -EOPNOTSUPP,
                                           "pause, resume, snapshots and forks are not supported "
                                           "by airlock's E2B API (docs/e2b.md)");
        }
        if (strcmp(method, "GET") == 0 && strcmp(rest, "/metrics") == 0)
                return api_send_json(conn, 200, json_array());
        return e2b_send_rest_error(conn, -ENOENT, "no such route");
}
