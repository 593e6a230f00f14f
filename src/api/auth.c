/* Who is asking (peer credentials and bearer tokens) and what the settings let them do. */
#include "auth.h"

#include <errno.h>
#include <fnmatch.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/log.h"
#include "airlock/metrics.h"
#include "airlock/util.h"
#include "e2b.h"
#include "limits.h"
#include "routes.h"

/* getgrnam_r's buffer: a group with thousands of members needs more than sysconf suggests. */
#define GROUP_BUF_MAX (1 << 20)

static int system_group(const char *name, gid_t *ret_gid)
{
        size_t size = 16384;

        for (;;) {
                _cleanup_free_ char *buf = malloc(size);
                struct group gr, *res = NULL;
                int r;

                if (!buf)
                        return -ENOMEM;
                r = getgrnam_r(name, &gr, buf, size, &res);
                if (r == ERANGE && size < GROUP_BUF_MAX) {
                        size *= 4;
                        continue;
                }
                if (r != 0 || !res)
                        return 0;
                *ret_gid = res->gr_gid;
                return 1;
        }
}

/* Whether the peer is in one of the named groups (primary or supplementary). */
static bool in_groups(const struct auth_peer *peer, char *const *names, auth_group_fn lookup)
{
        for (size_t i = 0; names && names[i]; i++) {
                gid_t gid;

                if (lookup(names[i], &gid) <= 0)
                        continue;
                if (gid == peer->gid)
                        return true;
                for (size_t j = 0; j < peer->n_groups; j++)
                        if (peer->groups[j] == gid)
                                return true;
        }
        return false;
}

static bool uid_in(uid_t uid, const uint32_t *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (v[i] == (uint32_t)uid)
                        return true;
        return false;
}

void auth_identity_clear(struct auth_identity *id)
{
        if (!id)
                return;
        free(id->clients);
        policy_unref(id->policy);
        memset(id, 0, sizeof(*id));
}

int auth_resolve(struct policy *p, const struct auth_peer *peer, uid_t daemon_uid,
                 const char *token_agent, const char *token_hash, auth_group_fn lookup,
                 struct auth_identity *ret)
{
        const struct policy_client *first = NULL;
        bool unknown_peer = peer->uid == (uid_t)-1;

        memset(ret, 0, sizeof(*ret));
        if (!lookup)
                lookup = system_group;
        ret->peer = *peer;
        ret->policy = policy_ref(p);
        if (p->n_clients > 0) {
                ret->clients = calloc(p->n_clients, sizeof(*ret->clients));
                if (!ret->clients) {
                        auth_identity_clear(ret);
                        return -ENOMEM;
                }
        }
        /* A peer whose credentials could not be read is nobody, whatever the settings say. */
        if (!unknown_peer) {
                ret->admin = peer->uid == 0 || peer->uid == daemon_uid ||
                             uid_in(peer->uid, p->admin_uids, p->n_admin_uids) ||
                             in_groups(peer, p->admin_groups, lookup);
                /* Uid matches name the client (and its caps) before group matches. */
                for (size_t i = 0; i < p->n_clients; i++) {
                        if (!uid_in(peer->uid, p->clients[i].uids, p->clients[i].n_uids))
                                continue;
                        ret->clients[ret->n_clients++] = &p->clients[i];
                        if (!first)
                                first = &p->clients[i];
                }
                for (size_t i = 0; i < p->n_clients; i++) {
                        if (uid_in(peer->uid, p->clients[i].uids, p->clients[i].n_uids) ||
                            !in_groups(peer, p->clients[i].groups, lookup))
                                continue;
                        ret->clients[ret->n_clients++] = &p->clients[i];
                        if (!first)
                                first = &p->clients[i];
                }
        }
        ret->known = !unknown_peer && (ret->admin || ret->n_clients > 0 || p->n_clients == 0);
        ret->any_agent = ret->known && (ret->admin || p->n_clients == 0);
        if (first)
                snprintf(ret->client, sizeof(ret->client), "%s", first->name);
        if (token_agent) {
                /* A token narrows whoever presents it to its one agent, admins included. */
                ret->token = true;
                ret->admin = ret->any_agent = false;
                snprintf(ret->token_agent, sizeof(ret->token_agent), "%s", token_agent);
                snprintf(ret->key, sizeof(ret->key), "t:%.16s", token_hash ? token_hash : "");
        } else {
                snprintf(ret->key, sizeof(ret->key), "u:%lu", (unsigned long)peer->uid);
        }
        /* Admins are the operators: their requests are never throttled. */
        if (ret->admin) {
                ret->rate_per_min = ret->max_concurrent = 0;
        } else {
                ret->rate_per_min =
                    first && first->rate_per_min >= 0 ? first->rate_per_min : p->rate_per_min;
                ret->max_concurrent =
                    first && first->max_concurrent >= 0 ? first->max_concurrent : p->max_concurrent;
        }
        return 0;
}

bool auth_may_act_as(const struct auth_identity *id, const char *agent)
{
        if (!id || !id->known || !agent)
                return false;
        if (id->token)
                return strcmp(id->token_agent, agent) == 0;
        if (id->any_agent)
                return true;
        for (size_t i = 0; i < id->n_clients; i++)
                for (char *const *a = id->clients[i]->agents; a && *a; a++)
                        if (fnmatch(*a, agent, 0) == 0)
                                return true;
        return false;
}

static bool is_hex_lower(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

int auth_parse_bearer(const char *header, char ret_hash[SHA256_HEX_LEN], struct al_error *err)
{
        const char *tok;
        size_t plen = strlen(AUTH_TOKEN_PREFIX);

        /* The scheme is case-insensitive (RFC 7235); the token is exactly ours. */
        if (!header || strncasecmp(header, "Bearer ", 7) != 0)
                return al_err(err, -EKEYREJECTED,
                              "the Authorization header must be 'Bearer " AUTH_TOKEN_PREFIX "...'");
        tok = header + 7;
        while (*tok == ' ')
                tok++;
        if (strlen(tok) != AUTH_TOKEN_LEN || strncmp(tok, AUTH_TOKEN_PREFIX, plen) != 0 ||
            !is_hex_lower(tok + plen, AUTH_TOKEN_LEN - plen))
                return al_err(err, -EKEYREJECTED, "malformed bearer token");
        sha256_hex(tok, AUTH_TOKEN_LEN, ret_hash);
        return 0;
}

int auth_token_new(char ret_token[AUTH_TOKEN_LEN + 1], char ret_hash[SHA256_HEX_LEN],
                   struct al_error *err)
{
        size_t plen = strlen(AUTH_TOKEN_PREFIX);
        int r;

        memcpy(ret_token, AUTH_TOKEN_PREFIX, plen);
        r = util_random_hex(ret_token + plen, (AUTH_TOKEN_LEN - plen) / 2);
        if (r < 0)
                return al_err_errno(err, r, "cannot make a token");
        ret_token[AUTH_TOKEN_LEN] = '\0';
        sha256_hex(ret_token, AUTH_TOKEN_LEN, ret_hash);
        return 0;
}

/* The peer's supplementary groups as the kernel saw them at connect (SO_PEERGROUPS). A peer in
 * more than AUTH_GROUPS_MAX groups is judged by the first ones only: that can deny, never
 * grant. */
static void peer_groups(int fd, struct auth_peer *peer)
{
        socklen_t len = sizeof(peer->groups);

        peer->n_groups = 0;
        if (fd < 0)
                return;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, peer->groups, &len) == 0) {
                peer->n_groups = len / sizeof(gid_t);
                return;
        }
        if (errno == ERANGE && len > 0 && len <= 65536 * sizeof(gid_t)) {
                _cleanup_free_ gid_t *all = malloc(len);

                if (all && getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, all, &len) == 0) {
                        size_t n = len / sizeof(gid_t);

                        peer->n_groups = n < AUTH_GROUPS_MAX ? n : AUTH_GROUPS_MAX;
                        memcpy(peer->groups, all, peer->n_groups * sizeof(gid_t));
                }
        }
}

int auth_identify(struct api *ctx, struct MHD_Connection *conn, struct auth_identity *ret,
                  struct al_error *err)
{
        _cleanup_(policy_unrefp) struct policy *pol = NULL;
        _cleanup_free_ char *agent = NULL;
        struct auth_peer peer = {0};
        struct ucred cred;
        const char *authz;
        char hash[SHA256_HEX_LEN];
        bool have_token = false;
        int r;

        if (ctx->e2b)
                return e2b_identify(ctx, conn, ret, err);
        authz = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        if (ctx->mcp_only) {
                /* TCP has no peer credentials: the caller is nobody but its token's agent. */
                peer.uid = (uid_t)-1;
                peer.gid = (gid_t)-1;
                if (!authz)
                        return al_err(err, -EKEYREJECTED,
                                      "the MCP listener needs 'Authorization: Bearer TOKEN' "
                                      "(airlock token create AGENT)");
        } else {
                api_peer_of(conn, &cred);
                peer.uid = cred.uid;
                peer.gid = cred.gid;
                peer.pid = cred.pid;
                peer_groups(api_connection_fd(conn), &peer);
        }
        if (authz) {
                r = auth_parse_bearer(authz, hash, err);
                if (r < 0)
                        return r;
                if (!daemon_store(ctx->core))
                        return al_err(err, -EKEYREJECTED, "tokens need the store");
                r = store_token_lookup(daemon_store(ctx->core), hash, &agent, err);
                if (r == -ENOENT)
                        return al_err(err, -EKEYREJECTED, "unknown or revoked token");
                if (r < 0)
                        return r;
                have_token = true;
        }
        pol = daemon_policy(ctx->core);
        r = auth_resolve(pol, &peer, geteuid(), have_token ? agent : NULL, have_token ? hash : NULL,
                         NULL, ret);
        if (r < 0)
                return al_err(err, r, "out of memory");
        /* A valid token on the MCP listener is the admin's grant to its agent: an unknown uid
         * there only means TCP, and the listener exists only when an admin turned it on. */
        if (ctx->mcp_only)
                ret->known = true;
        return 0;
}

int auth_agent_filter(const struct auth_identity *id, bool *ret_all, const char ***ret_names)
{
        const char **names;
        size_t n = 0;

        *ret_names = NULL;
        *ret_all = id->known && id->any_agent && !id->token;
        if (*ret_all)
                return 0;
        if (id->token) {
                names = calloc(2, sizeof(*names));
                if (!names)
                        return -ENOMEM;
                if (id->known)
                        names[0] = id->token_agent;
                *ret_names = names;
                return 0;
        }
        for (size_t i = 0; i < id->n_clients; i++)
                for (char *const *a = id->clients[i]->agents; *a; a++) {
                        if (strpbrk(*a, "*?[") || n >= STORE_AGENTS_MAX)
                                return 0; /* patterns: filter row by row */
                        n++;
                }
        names = calloc(n + 1, sizeof(*names));
        if (!names)
                return -ENOMEM;
        n = 0;
        for (size_t i = 0; i < id->n_clients; i++)
                for (char *const *a = id->clients[i]->agents; *a; a++)
                        names[n++] = *a;
        *ret_names = names;
        return 0;
}

void auth_filter_rows(const struct auth_identity *id, json_t *rows, bool keep_null)
{
        size_t i = 0;

        while (i < json_array_size(rows)) {
                json_t *a = json_object_get(json_array_get(rows, i), "agent");

                if ((keep_null && json_is_null(a)) ||
                    (json_is_string(a) && auth_may_act_as(id, json_string_value(a))))
                        i++;
                else
                        json_array_remove(rows, i);
        }
}

const char *auth_label(const struct auth_identity *id, char *buf, size_t size)
{
        int n = snprintf(buf, size, "uid %ld pid %ld",
                         id->peer.uid == (uid_t)-1 ? -1L : (long)id->peer.uid, (long)id->peer.pid);

        if (n < 0 || (size_t)n >= size)
                return buf;
        if (id->token)
                snprintf(buf + n, size - (size_t)n, " token for '%s'", id->token_agent);
        else if (id->client[0])
                snprintf(buf + n, size - (size_t)n, " client '%s'", id->client);
        else if (id->admin)
                snprintf(buf + n, size - (size_t)n, " admin");
        return buf;
}

/* The refused exec in the audit log, under the agent it named, so that the agent's owner and
 * the admins see the attempt. A failure to record is logged, not fatal: the refusal stands. */
static void record_refusal(struct api *ctx, const struct auth_identity *id, const char *agent,
                           const char *session, const char *code, const char *reason)
{
        struct store_execution e = {0};
        struct al_error err = {0};

        e.agent = agent;
        e.session = session;
        e.peer_uid = id->peer.uid == (uid_t)-1 ? -1 : (int64_t)id->peer.uid;
        e.peer_pid = id->peer.pid > 0 ? (int64_t)id->peer.pid : -1;
        e.mode = "refused";
        e.reason = reason;
        e.code = code;
        e.code_len = strlen(code);
        if (store_execution_begin(daemon_store(ctx->core), &e, &err) < 0 ||
            store_execution_fail(daemon_store(ctx->core), e.id, reason, 0, 0, &err) < 0)
                log_warn("recording a refused exec: %s", err.msg);
}

int auth_refuse(struct api *ctx, const struct auth_identity *id, const char *what,
                const char *agent, const char *session, const char *code, struct al_error *err)
{
        char label[160], reason[320];

        auth_label(id, label, sizeof(label));
        snprintf(reason, sizeof(reason), "refused: %s may not %s agent '%s'", label, what, agent);
        log_warn("%s", reason);
        if (code && daemon_store(ctx->core))
                record_refusal(ctx, id, agent, session, code, reason);
        if (id->token)
                return al_err(err, -AL_E_FORBIDDEN,
                              "this token may act only as agent '%s', not '%s'", id->token_agent,
                              agent);
        return al_err(err, -AL_E_FORBIDDEN,
                      "uid %ld may not act as agent '%s'; see [client] in the settings",
                      (long)id->peer.uid, agent);
}

enum MHD_Result auth_send_unauthorized(struct MHD_Connection *conn, const char *msg)
{
        metrics_rejected("unauthorized");
        return api_send_json_with(
            conn, MHD_HTTP_UNAUTHORIZED, api_error_doc_named("unauthorized", msg),
            (const char *const[]){MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer", NULL});
}

enum MHD_Result auth_send_limited(struct MHD_Connection *conn, int64_t retry_s, const char *msg)
{
        char v[24];

        metrics_rejected("rate_limited");
        snprintf(v, sizeof(v), "%lld", (long long)(retry_s > 0 ? retry_s : 1));
        return api_send_json_with(conn, 429, api_error_doc(-AL_E_LIMITED, msg),
                                  (const char *const[]){MHD_HTTP_HEADER_RETRY_AFTER, v, NULL});
}

/* Routes open to every caller that can reach the socket, and never capped: they hold nothing
 * of any agent's, and a monitor must be able to ask them during a flood. */
static bool route_is_open(const char *url, const char *method)
{
        return strcmp(method, "GET") == 0 &&
               (strcmp(url, "/v1/version") == 0 || strcmp(url, "/v1/health") == 0);
}

bool auth_admit(struct api *ctx, struct MHD_Connection *conn, const char *url, const char *method,
                struct auth_identity *who, bool *ret_counted, struct auth_refusal *ret)
{
        struct al_error err = {0};
        char label[160];
        bool open = route_is_open(url, method);
        int64_t retry = 0;
        int r;

        *ret_counted = false;
        memset(ret, 0, sizeof(*ret));
        r = auth_identify(ctx, conn, who, &err);
        if (r == -EKEYREJECTED) {
                struct ucred cred;
                struct policy *pol;
                char key[AUTH_KEY_MAX];
                int64_t rate;

                api_peer_of(conn, &cred);
                /* Guessing tokens costs the uid's requests like anything else, and a flood
                 * of bad ones cannot flood the log. */
                pol = daemon_policy(ctx->core);
                rate = pol->rate_per_min;
                policy_unref(pol);
                snprintf(key, sizeof(key), "u:%lu", (unsigned long)cred.uid);
                if (ctx->limiter && cred.uid != 0 && cred.uid != geteuid() &&
                    limiter_rate_take(ctx->limiter, key, rate, &retry) < 0) {
                        ret->code = -AL_E_LIMITED;
                        ret->retry_s = retry;
                        snprintf(ret->msg, sizeof(ret->msg),
                                 "rate limit of %lld requests a minute reached; retry in %llds",
                                 (long long)rate, (long long)retry);
                        return true;
                }
                log_warn("refused: uid %ld pid %ld: %s", (long)(int)cred.uid, (long)cred.pid,
                         err.msg);
                ret->code = r;
                snprintf(ret->msg, sizeof(ret->msg), "%s", err.msg);
                return true;
        }
        if (r < 0) {
                ret->code = r;
                snprintf(ret->msg, sizeof(ret->msg), "%s", err.msg);
                return true;
        }
        if (open || who->admin || !ctx->limiter)
                return false;
        /* Callers the settings do not know are capped too, so that their refusals cannot
         * flood the log. */
        if (limiter_rate_take(ctx->limiter, who->key, who->rate_per_min, &retry) < 0) {
                log_debug("rate limited: %s (%s %s)", auth_label(who, label, sizeof(label)), method,
                          url);
                ret->code = -AL_E_LIMITED;
                ret->retry_s = retry;
                snprintf(ret->msg, sizeof(ret->msg),
                         "rate limit of %lld requests a minute reached; retry in %llds (see "
                         "rate_per_min in the settings)",
                         (long long)who->rate_per_min, (long long)retry);
                return true;
        }
        if (!who->known) {
                log_warn("refused: %s is not allowed to use airlockd (%s %s)",
                         auth_label(who, label, sizeof(label)), method, url);
                ret->code = -AL_E_FORBIDDEN;
                snprintf(ret->msg, sizeof(ret->msg),
                         "uid %ld is not allowed to use airlockd; see [client] in the settings",
                         (long)(int)who->peer.uid);
                return true;
        }
        if (limiter_enter(ctx->limiter, LIMITER_REQUESTS, who->key, who->max_concurrent) < 0) {
                log_debug("concurrency limited: %s (%s %s)", auth_label(who, label, sizeof(label)),
                          method, url);
                ret->code = -AL_E_LIMITED;
                ret->retry_s = 1;
                snprintf(ret->msg, sizeof(ret->msg),
                         "%lld requests of this client are already in progress (see "
                         "max_concurrent in the settings)",
                         (long long)who->max_concurrent);
                return true;
        }
        *ret_counted = true;
        return false;
}

enum MHD_Result auth_send_refusal(struct MHD_Connection *conn, const struct auth_refusal *r)
{
        if (r->code == -EKEYREJECTED)
                return auth_send_unauthorized(conn, r->msg);
        if (r->code == -AL_E_LIMITED)
                return auth_send_limited(conn, r->retry_s, r->msg);
        return api_send_error(conn, r->code, r->msg);
}

void auth_release(struct api *ctx, const struct auth_identity *who, bool counted)
{
        if (counted && ctx->limiter)
                limiter_leave(ctx->limiter, LIMITER_REQUESTS, who->key);
}

int auth_check_exec(struct api *ctx, const struct auth_identity *who,
                    const struct exec_request *req, struct al_error *err)
{
        const char *code = req->code                   ? req->code
                           : req->command              ? req->command
                           : req->argv && req->argv[0] ? req->argv[0]
                                                       : "";

        if (auth_may_act_as(who, req->agent))
                return 0;
        return auth_refuse(ctx, who, "exec as", req->agent, req->session, code, err);
}

int auth_exec_slot_enter(struct api *ctx, struct al_error *err)
{
        struct policy *pol;
        int64_t max, queue, timeout_s;

        if (!ctx->limiter)
                return 0;
        pol = daemon_policy(ctx->core);
        max = pol->max_execs;
        queue = pol->queue_max;
        timeout_s = pol->queue_timeout_s;
        policy_unref(pol);
        return limiter_slot_enter(ctx->limiter, max, queue, timeout_s * 1000, err);
}

void auth_exec_slot_leave(struct api *ctx)
{
        if (ctx->limiter)
                limiter_slot_leave(ctx->limiter);
}
