/* The E2B listener's front door: who calls (an API key, or a sandbox's access token), what
 * shape its refusals take, and which part answers. One loopback address serves the control
 * plane and the in-sandbox API alike, as the SDKs allow (E2B_API_URL, E2B_SANDBOX_URL): a
 * request for the in-sandbox API names its sandbox with E2b-Sandbox-Id, and the code
 * interpreter's with E2b-Sandbox-Port 49999 as well. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "airlock/cleanup.h"
#include "airlock/log.h"
#include "airlock/metrics.h"
#include "airlock/util.h"
#include "auth.h"
#include "e2b.h"
#include "routes.h"

static const char *header(struct MHD_Connection *conn, const char *name)
{
        return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static bool is_rpc(const char *url)
{
        return strncmp(url, "/process.Process/", 17) == 0 ||
               strncmp(url, "/filesystem.Filesystem/", 23) == 0;
}

int e2b_identify(struct api *ctx, struct MHD_Connection *conn, struct auth_identity *ret,
                 struct al_error *err)
{
        _cleanup_(policy_unrefp) struct policy *pol = NULL;
        _cleanup_free_ char *agent_alloc = NULL;
        const char *sid = header(conn, "E2b-Sandbox-Id"), *key, *token;
        struct auth_peer peer = {.uid = (uid_t)-1, .gid = (gid_t)-1};
        char hash[SHA256_HEX_LEN], agent[65] = "", label[80];
        int r;

        if (sid) {
                /* The in-sandbox API: the sandbox's own access token opens it, and only it. */
                token = header(conn, "X-Access-Token");
                if (!token)
                        token = header(conn, "E2B-Traffic-Access-Token");
                r = e2b_sandbox_authorize(ctx->e2b, sid, token, agent);
                /* As E2B's proxy answers for a sandbox that is gone: 502 (the SDKs read
                 * it as "not running"; Connect clients as unavailable). */
                if (r == -ENOENT)
                        return al_err(err, -AL_E_ENGINE,
                                      "sandbox '%.64s' not found (killed or timed out)", sid);
                if (r < 0)
                        return al_err(err, -EKEYREJECTED,
                                      "a missing or wrong access token for sandbox '%.64s' "
                                      "(X-Access-Token)",
                                      sid);
                snprintf(label, sizeof(label), "e:%.30s", sid);
        } else {
                key = header(conn, "X-API-Key");
                if (!key)
                        return al_err(err, -EKEYREJECTED,
                                      "the E2B API needs 'X-API-Key: TOKEN' (an airlock token: "
                                      "airlock token create AGENT)");
                /* The key is the token itself; a bearer header reads the same. */
                {
                        char bearer[AUTH_TOKEN_LEN + 16];

                        snprintf(bearer, sizeof(bearer), "Bearer %.*s", AUTH_TOKEN_LEN + 1, key);
                        r = auth_parse_bearer(bearer, hash, err);
                }
                if (r < 0)
                        return al_err(err, -EKEYREJECTED,
                                      "malformed API key (an airlock token, "
                                      "alk_ and 64 hex digits)");
                if (!daemon_store(ctx->core))
                        return al_err(err, -EKEYREJECTED, "API keys need the store");
                r = store_token_lookup(daemon_store(ctx->core), hash, &agent_alloc, err);
                if (r == -ENOENT)
                        return al_err(err, -EKEYREJECTED, "unknown or revoked API key");
                if (r < 0)
                        return r;
                snprintf(agent, sizeof(agent), "%s", agent_alloc);
                snprintf(label, sizeof(label), "%.16s", hash);
        }
        pol = daemon_policy(ctx->core);
        r = auth_resolve(pol, &peer, geteuid(), agent, label, NULL, ret);
        if (r < 0)
                return al_err(err, r, "out of memory");
        /* As on the MCP listener: a valid key (or a sandbox's token, given for one) is the
         * admin's grant to its agent; TCP has no peer credentials. */
        ret->known = true;
        return 0;
}

enum MHD_Result e2b_send_connect_error(struct MHD_Connection *conn, int code, const char *msg)
{
        const char *c = e2b_connect_code(code);

        metrics_rejected(al_err_name(code));
        return api_send_json(conn, e2b_connect_status(c), e2b_connect_error(c, msg));
}

enum MHD_Result e2b_send_refusal(struct MHD_Connection *conn, const char *url,
                                 const struct auth_refusal *r)
{
        char v[24];
        const char *const *hdrs = NULL;
        const char *const retry[] = {MHD_HTTP_HEADER_RETRY_AFTER, v, NULL};

        snprintf(v, sizeof(v), "%lld", (long long)(r->retry_s > 0 ? r->retry_s : 1));
        if (r->code == -AL_E_LIMITED)
                hdrs = retry;
        metrics_rejected(al_err_name(r->code == -EKEYREJECTED ? -EKEYREJECTED : r->code));
        if (is_rpc(url)) {
                const char *c = e2b_connect_code(r->code);

                return api_send_json_with(conn, e2b_connect_status(c), e2b_connect_error(c, r->msg),
                                          hdrs);
        }
        return api_send_json_with(conn, e2b_http_status(r->code),
                                  e2b_error_doc(e2b_http_status(r->code), r->msg), hdrs);
}

int64_t e2b_body_cap(const struct policy *pol, const char *url, const char *method)
{
        /* An upload's multipart framing rides on top of the file. */
        if (strcmp(method, "POST") == 0 && strcmp(url, "/files") == 0)
                return pol->files.upload_bytes + (64 << 10) > pol->max_body_bytes
                           ? pol->files.upload_bytes + (64 << 10)
                           : pol->max_body_bytes;
        return pol->max_body_bytes;
}

int e2b_rpc_message(const struct e2b_call *c, bool streaming, json_t **ret, struct al_error *err)
{
        const char *msg = c->body;
        size_t len = c->len;
        int r;

        if (streaming) {
                r = e2b_envelope_single(c->body, c->len, &msg, &len, err);
                if (r < 0)
                        return r;
        }
        /* An empty unary body is the empty message. */
        if (len == 0) {
                *ret = json_object();
                return *ret ? 0 : al_err(err, -ENOMEM, "out of memory");
        }
        return request_json_object(msg, len, false, ret, err);
}

enum MHD_Result e2b_route(struct api *ctx, struct MHD_Connection *conn, const char *url,
                          const char *method, const char *body, size_t len,
                          const struct auth_identity *who)
{
        const char *sid = header(conn, "E2b-Sandbox-Id");
        const char *port = header(conn, "E2b-Sandbox-Port");
        struct e2b_sandbox_info sb = {0};
        struct e2b_call c = {.ctx = ctx,
                             .e = ctx->e2b,
                             .conn = conn,
                             .who = who,
                             .sb = &sb,
                             .body = body,
                             .len = len};
        enum MHD_Result ret;

        if (!sid) {
                if (strcmp(url, "/health") == 0)
                        return api_send_json(conn, 200, json_pack("{s:s}", "message", "ok"));
                return e2b_control_route(ctx, ctx->e2b, conn, url, method, body, len, who);
        }
        /* The identity was checked against this sandbox; it may have ended since. */
        if (e2b_sandbox_get(ctx->e2b, sid, who->token_agent, &sb) < 0)
                return is_rpc(url) ? e2b_send_connect_error(conn, -AL_E_ENGINE, "sandbox not found")
                                   : e2b_send_rest_error(conn, -AL_E_ENGINE, "sandbox not found");
        if (strcmp(url, "/health") == 0)
                ret = api_send_text(conn, 204, strdup(""), 0, "application/json", NULL);
        else if (port && strcmp(port, "49999") == 0)
                ret = e2b_code_route(&c, url, method);
        else if (strncmp(url, "/process.Process/", 17) == 0)
                ret = strcmp(method, "POST") == 0
                          ? e2b_process_rpc(&c, url + 17)
                          : e2b_send_connect_error(conn, -EINVAL, "Connect calls are POSTs");
        else if (strncmp(url, "/filesystem.Filesystem/", 23) == 0)
                ret = strcmp(method, "POST") == 0
                          ? e2b_filesystem_rpc(&c, url + 23)
                          : e2b_send_connect_error(conn, -EINVAL, "Connect calls are POSTs");
        else if (strcmp(url, "/files") == 0)
                ret = e2b_files_rest(&c, method);
        else
                ret = e2b_send_rest_error(conn, -ENOENT, "no such route in the sandbox");
        e2b_sandbox_info_clear(&sb);
        return ret;
}
