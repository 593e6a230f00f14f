/* Private to api/: who is asking and what they may do.
 *
 * A caller is the peer of the connection (uid, gid, pid and supplementary groups from
 * SO_PEERCRED and SO_PEERGROUPS), optionally narrowed by a bearer token. The settings give it
 * a role: admin (root, the daemon's own uid, [access] admin_uids and admin_groups: every
 * agent, policy reload, tokens), a client ([client "name"] sections matching its uid or one
 * of its groups: the agents those sections list), or nobody (refused) - except that with no
 * [client] section at all every caller that can open the socket may act as any agent, the
 * single-tenant default. A request with a token acts as the token's agent and nothing else.
 * docs/security.md has the whole model. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <microhttpd.h>

#include "airlock/api.h"
#include "airlock/sha256.h"

struct api; /* routes.h */

#define AUTH_TOKEN_PREFIX "alk_"
#define AUTH_TOKEN_LEN    (4 + 64) /* the prefix and 32 random bytes in hex */
#define AUTH_GROUPS_MAX   256      /* supplementary groups of a peer that are considered */
#define AUTH_KEY_MAX      40       /* LIMITER_KEY_MAX */

/* The peer as the kernel reports it. */
struct auth_peer {
        uid_t uid;
        gid_t gid;
        pid_t pid;
        gid_t groups[AUTH_GROUPS_MAX]; /* supplementary groups */
        size_t n_groups;
};

struct auth_identity {
        struct auth_peer peer;
        bool known;     /* admin, a listed client, or the single-tenant default */
        bool admin;     /* every agent and the admin routes */
        bool any_agent; /* may act as every agent (admins, the single-tenant default) */
        bool token;     /* a bearer token was presented: token_agent only */
        char token_agent[POLICY_NAME_LEN_MAX + 1];
        char client[POLICY_NAME_LEN_MAX + 1]; /* the first matching client, "" for none */
        /* The matching [client] sections, borrowed from policy. */
        const struct policy_client **clients;
        size_t n_clients;
        struct policy *policy; /* a reference, held for clients */
        int64_t rate_per_min;  /* the caller's caps (0: unlimited) */
        int64_t max_concurrent;
        char key[AUTH_KEY_MAX]; /* the limiter's key: "u:UID", or "t:" and a token hash prefix */
};

/* Maps a group name to its gid; 0 or < 0 when there is no such group. */
typedef int (*auth_group_fn)(const char *name, gid_t *ret_gid);

/* Give the caller its role under policy p (a new reference is taken). daemon_uid is the
 * daemon's own uid. token_agent: the agent of a valid bearer token, or NULL. token_hash (the
 * token's SHA-256 hex, or NULL) names its limiter key. lookup: NULL for the system's group
 * database (getgrnam_r). ret is cleared first; free with auth_identity_clear. -ENOMEM. */
int auth_resolve(struct policy *p, const struct auth_peer *peer, uid_t daemon_uid,
                 const char *token_agent, const char *token_hash, auth_group_fn lookup,
                 struct auth_identity *ret);
void auth_identity_clear(struct auth_identity *id);

/* Whether the caller may act as agent (a valid agent name). */
bool auth_may_act_as(const struct auth_identity *id, const char *agent);

/* Parse an Authorization header value "Bearer alk_<64 hex>" into the SHA-256 hex of the
 * token. -EKEYREJECTED with err set for anything else (a malformed token is as good as a wrong
 * one; the message never repeats it). */
int auth_parse_bearer(const char *header, char ret_hash[SHA256_HEX_LEN], struct al_error *err);
/* A new random token (NUL-terminated, AUTH_TOKEN_LEN characters) and its SHA-256 hex. */
int auth_token_new(char ret_token[AUTH_TOKEN_LEN + 1], char ret_hash[SHA256_HEX_LEN],
                   struct al_error *err);

/* Identify the caller of conn: its credentials, its bearer token (looked up in the store) and
 * its role under the current policy. -EKEYREJECTED for a bad, unknown or revoked token,
 * -ENOMEM. Free ret with auth_identity_clear. */
int auth_identify(struct api *ctx, struct MHD_Connection *conn, struct auth_identity *ret,
                  struct al_error *err);

/* The agents a listing may show the caller. *ret_all: no filter. Otherwise *ret_names (caller
 * frees the array, the strings are borrowed from id) is a NULL-terminated list of names when
 * every allowed entry is a plain name, or NULL when some are patterns (filter each row with
 * auth_may_act_as then). -ENOMEM. */
int auth_agent_filter(const struct auth_identity *id, bool *ret_all, const char ***ret_names);
/* Keep the rows of a JSON array of objects whose member "agent" the caller may act as; rows
 * whose agent is null are kept when keep_null (SHARED sandboxes). */
void auth_filter_rows(const struct auth_identity *id, json_t *rows, bool keep_null);

/* Refuse, log and record a request to act as agent that the caller may not: a warning with
 * uid, pid and agent, and for an exec (code not NULL) an audit row of the refused exec
 * (api_send_error counts the 403 in the metrics). Returns -AL_E_FORBIDDEN with err set. what:
 * "exec", "end a session of", ... */
int auth_refuse(struct api *ctx, const struct auth_identity *id, const char *what,
                const char *agent, const char *session, const char *code, struct al_error *err);

/* The caller's label for logs and records: "uid 1000 pid 42" plus " client NAME" or
 * " token for AGENT". */
const char *auth_label(const struct auth_identity *id, char *buf, size_t size);

/* Answer 401 with WWW-Authenticate: Bearer, or 429 with Retry-After: retry_s. */
enum MHD_Result auth_send_unauthorized(struct MHD_Connection *conn, const char *msg);
enum MHD_Result auth_send_limited(struct MHD_Connection *conn, int64_t retry_s, const char *msg);

/* Why a request is refused before it is read: the answer auth_send_refusal gives. */
struct auth_refusal {
        int code;        /* -EKEYREJECTED (401), -AL_E_FORBIDDEN (403), -AL_E_LIMITED (429), ... */
        int64_t retry_s; /* Retry-After of a 429 */
        char msg[AL_ERR_MSG_MAX];
};

/* Identify the caller of a new request and apply its caps, before any of its body is read:
 * 401 for a bad token, 403 for a caller the settings do not know (GET /v1/version and
 * /v1/health excepted), 429 with Retry-After past its rate or concurrency cap (admins and
 * those two routes are not capped). Returns false when the request may go on, true when it is
 * refused, with *ret saying how (answer with auth_send_refusal). who is filled in either way
 * (clear it with auth_identity_clear); *ret_counted says it holds one of the caller's
 * concurrency places, to give back with auth_release when the request completes. */
bool auth_admit(struct api *ctx, struct MHD_Connection *conn, const char *url, const char *method,
                struct auth_identity *who, bool *ret_counted, struct auth_refusal *ret);
enum MHD_Result auth_send_refusal(struct MHD_Connection *conn, const struct auth_refusal *r);
void auth_release(struct api *ctx, const struct auth_identity *who, bool counted);

/* An exec's agent must be one the caller may act as: else auth_refuse (logged, recorded in the
 * audit log under that agent) and -AL_E_FORBIDDEN. */
int auth_check_exec(struct api *ctx, const struct auth_identity *who,
                    const struct exec_request *req, struct al_error *err);
/* One of the daemon's exec slots ([daemon] max_execs), waiting in the bounded queue
 * (queue_max, queue_timeout_s) when all are taken: -AL_E_LIMITED with err set when the queue is
 * full or the wait too long. Every 0 return needs one auth_exec_slot_leave. */
int auth_exec_slot_enter(struct api *ctx, struct al_error *err);
void auth_exec_slot_leave(struct api *ctx);
