/* Bearer tokens, for agent frameworks that share one uid: POST /v1/tokens issues one (shown
 * once, stored only as its SHA-256), GET /v1/tokens lists them without secrets, DELETE
 * /v1/tokens/{id} revokes one. Admins only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/log.h"
#include "airlock/util.h"
#include "auth.h"
#include "routes.h"

static enum MHD_Result refuse_non_admin(struct MHD_Connection *conn, const struct auth_identity *id,
                                        const char *what)
{
        char label[160];

        log_warn("refused: %s may not %s (admins only)", auth_label(id, label, sizeof(label)),
                 what);
        return api_send_error(conn, -AL_E_FORBIDDEN, "only admins may manage tokens");
}

ROUTE_HANDLER(route_token_create)
{
        char token[AUTH_TOKEN_LEN + 1], hash[SHA256_HEX_LEN], label[160];
        _cleanup_free_ char *id = NULL;
        struct al_error err = {0};
        const char *agent;
        json_t *doc;
        int r;

        if (!args->who->admin)
                return refuse_non_admin(conn, args->who, "issue a token");
        if (!daemon_store(ctx->core))
                return api_send_error(conn, -EOPNOTSUPP, "tokens need the store");
        if (request_json_object(args->body, args->len, false, &doc, &err) < 0)
                return api_send_error(conn, err.code, err.msg);
        agent = json_string_value(json_object_get(doc, "agent"));
        if (json_object_size(doc) != 1 || !agent || !util_name_valid(agent, EXEC_NAME_MAX)) {
                json_decref(doc);
                return api_send_error(conn, -EINVAL,
                                      "body must be {\"agent\": NAME} with a name of "
                                      "[A-Za-z0-9._-]");
        }
        r = auth_token_new(token, hash, &err);
        if (r >= 0)
                r = store_token_add(daemon_store(ctx->core), agent, hash, 0, &id, &err);
        if (r < 0) {
                json_decref(doc);
                return api_send_error(conn, r, err.msg);
        }
        log_info("token %s for agent '%s' issued by %s", id, agent,
                 auth_label(args->who, label, sizeof(label)));
        r = api_send_json(conn, MHD_HTTP_CREATED,
                          json_pack("{s:s, s:s, s:s}", "id", id, "agent", agent, "token", token));
        /* The only copy the daemon had; it keeps the hash. */
        explicit_bzero(token, sizeof(token));
        json_decref(doc);
        return r;
}

ROUTE_HANDLER(route_tokens_get)
{
        struct al_error err = {0};
        json_t *rows = NULL;
        int r;

        if (!args->who->admin)
                return refuse_non_admin(conn, args->who, "list tokens");
        if (!daemon_store(ctx->core))
                return api_send_json(conn, MHD_HTTP_OK, json_pack("{s:[]}", "tokens"));
        r = store_tokens_list(daemon_store(ctx->core), NULL, &rows, &err);
        if (r < 0)
                return api_send_error(conn, r, err.msg);
        return api_send_json(conn, MHD_HTTP_OK, json_pack("{s:o}", "tokens", rows));
}

ROUTE_HANDLER(route_token_delete)
{
        struct al_error err = {0};
        char label[160];
        int r;

        if (!args->who->admin)
                return refuse_non_admin(conn, args->who, "revoke a token");
        if (!daemon_store(ctx->core))
                return api_send_error(conn, -ENOENT, "no such token");
        r = store_token_revoke(daemon_store(ctx->core), args->param, 0, &err);
        if (r < 0)
                return api_send_error(conn, r, err.msg);
        log_info("token %s revoked by %s", args->param,
                 auth_label(args->who, label, sizeof(label)));
        return api_send_json(conn, MHD_HTTP_OK,
                             json_pack("{s:s, s:b}", "id", args->param, "revoked", 1));
}
