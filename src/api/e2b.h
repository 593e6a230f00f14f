/* Private to api/: the E2B-compatible front end (docs/e2b.md). An optional loopback listener
 * ([e2b] listen) speaks the subset of E2B's control plane (REST: /sandboxes, /v2/sandboxes),
 * of its in-sandbox daemon envd (Connect-RPC with JSON: process.Process, filesystem.Filesystem;
 * REST /files) and of the code interpreter (/execute, /contexts) that the unmodified `e2b` and
 * `@e2b/code-interpreter` SDKs use. An E2B sandbox is an airlock session of the API key's
 * agent (the key is an airlock token); everything runs through the same core calls as the v1
 * routes, under the same policy, limits, scopes and audit. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "airlock/buf.h"
#include "airlock/error.h"

struct api;           /* routes.h */
struct auth_identity; /* auth.h */
struct auth_refusal;  /* auth.h */
struct policy;

/* The envd version airlock answers as: new enough that the SDK sends no default user and
 * allows closing stdin. */
#define E2B_ENVD_VERSION "0.5.7"
/* Sandbox ids: "e2b-" and 16 hex digits; also the airlock session's name. */
#define E2B_ID_LEN    20
#define E2B_TOKEN_LEN 48 /* hex digits of an envd access token */
/* The home relative paths are taken from (E2B resolves them against the user's home). */
#define E2B_HOME "/home/airlock"

/* ---- pure (e2b_proto.c): framing and mapping, no I/O; unit-tested ---- */

/* Connect's envelope: flags (u8), length (u32 big-endian), the message. */
#define E2B_ENVELOPE_HEADER 5
#define E2B_ENVELOPE_END    0x02 /* the end-of-stream message */

/* Appends one enveloped message to out. -ENOMEM, or -E2BIG past out's cap. */
int e2b_envelope_append(struct buf *out, unsigned flags, const char *msg, size_t len);
/* The one message of a client's enveloped body (server-streaming requests carry exactly one):
 * *ret_msg points into body. -EINVAL with err set for anything else (short, trailing bytes,
 * compressed, an end-of-stream flag). */
int e2b_envelope_single(const char *body, size_t len, const char **ret_msg, size_t *ret_len,
                        struct al_error *err);

/* Connect's error code name for an airlock error code ("not_found", "invalid_argument", ...),
 * and the HTTP status a unary call answers it with. */
const char *e2b_connect_code(int code);
unsigned e2b_connect_status(const char *connect_code);
/* {"code": name, "message": msg} (new reference). */
json_t *e2b_connect_error(const char *connect_code, const char *msg);
/* The end-of-stream message: {} or {"error": {...}} (new reference). */
json_t *e2b_end_stream(const char *connect_code, const char *msg);

/* The HTTP status the REST parts answer an airlock error code with, and E2B's error document
 * {"code": status, "message": msg} (new reference). */
unsigned e2b_http_status(int code);
json_t *e2b_error_doc(unsigned status, const char *msg);

/* The airlock runtime an E2B template names: "base" is the policy's default runtime,
 * "code-interpreter-v1" (the code interpreter's default) is "python"; any other name is
 * taken as a runtime's. NULL for a name that cannot be one. */
const char *e2b_template_runtime(const char *template_id, const char *default_runtime);

/* RFC 3339 UTC time of ms since the epoch ("2026-11-29T13:30:00.123Z"). */
void e2b_time_format(int64_t ms, char out[32]);

/* One part of a multipart/form-data body: its filename (borrowed, not NUL-terminated) and
 * data (borrowed). */
struct e2b_part {
        const char *filename;
        size_t filename_len;
        const char *data;
        size_t len;
};
/* The boundary of a Content-Type "multipart/form-data; boundary=..." into out (at most 70
 * characters, RFC 2046). -EINVAL when there is none. */
int e2b_multipart_boundary(const char *content_type, char out[71]);
/* The parts of body, at most max; *ret_n says how many. -EINVAL with err set when malformed
 * (no closing boundary, a part without headers' end, more than max parts). */
int e2b_multipart_parse(const char *body, size_t len, const char *boundary, struct e2b_part *parts,
                        size_t max, size_t *ret_n, struct al_error *err);

/* The command of a process.Process Start request as an airlock exec: "/bin/bash -l -c CMD"
 * (what the SDK sends) and the like become *ret_command = CMD; anything else *ret_argv (cmd
 * then args). cwd, when set, wraps either in "cd CWD && ..." (as a command). New strings; the
 * caller frees them (util_strv_free for the argv). */
int e2b_process_command(json_t *process, char **ret_command, char ***ret_argv,
                        struct al_error *err);

/* A process event as StartResponse/ConnectResponse JSON (new reference). data is base64'd. */
json_t *e2b_event_start(long long pid);
json_t *e2b_event_data(bool is_stderr, const char *data, size_t len);
json_t *e2b_event_end(int exit_code, int signal, bool aborted, bool timed_out, const char *error);
json_t *e2b_event_keepalive(void);

/* An airlock files entry ({name, type, size, mode, mtime, target}) as envd's EntryInfo with
 * its path (new reference). */
json_t *e2b_entry_info(json_t *entry, const char *path);

/* A context cell's result ({kind, data: {mime: text}}) as a code interpreter "result" line
 * (new reference). */
json_t *e2b_cell_result(json_t *result);

/* ---- the registry of E2B sandboxes (e2b_sandboxes.c) ---- */

struct e2b; /* per listener: the sandboxes, their processes, the reaper */

struct e2b *e2b_new(struct api *ctx);
/* Stops the reaper and ends every sandbox (their sessions). NULL is a no-op. */
void e2b_free(struct e2b *e);

/* What the front end knows of a sandbox: a copy, filled by e2b_sandbox_get. */
struct e2b_sandbox_info {
        char id[E2B_ID_LEN + 1];
        char agent[65];
        char runtime[65];
        char template_id[129];
        int64_t started_ms, end_ms;
        json_t *metadata;                  /* a reference (clear with e2b_sandbox_info_clear) */
        json_t *env;                       /* {K: V} for every command (a reference) */
        int cpu_count, memory_mb, disk_mb; /* the agent's limits, as E2B reports them */
        char token[E2B_TOKEN_LEN + 1];
};
void e2b_sandbox_info_clear(struct e2b_sandbox_info *s);

/* Register a sandbox like want (agent, runtime, template, metadata, env, limits; borrowed);
 * *ret is filled with its id and token made here. */
int e2b_sandbox_add(struct e2b *e, const struct e2b_sandbox_info *want, int64_t timeout_s,
                    struct e2b_sandbox_info *ret, struct al_error *err);
/* The sandbox id of agent (NULL: any agent). -ENOENT when unknown (or another agent's). */
int e2b_sandbox_get(struct e2b *e, const char *id, const char *agent, struct e2b_sandbox_info *ret);
/* Its end moves to timeout_s from now. -ENOENT. */
int e2b_sandbox_set_timeout(struct e2b *e, const char *id, const char *agent, int64_t timeout_s);
/* Forget it, end its processes and its session. -ENOENT. */
int e2b_sandbox_kill(struct e2b *e, const char *id, const char *agent, struct al_error *err);
/* The sandboxes of agent as ListedSandbox documents (new array). */
json_t *e2b_sandboxes_list(struct e2b *e, const char *agent);
/* The agent of sandbox id when token is its access token (constant-time compare): 0, or
 * -ENOENT (unknown id), -EKEYREJECTED (wrong token). */
int e2b_sandbox_authorize(struct e2b *e, const char *id, const char *token, char ret_agent[65]);
/* A ListedSandbox / Sandbox / SandboxDetail document of s (new reference). */
json_t *e2b_sandbox_doc(const struct e2b_sandbox_info *s, bool with_token, bool listed);

/* ---- processes (e2b_process.c) ---- */

struct e2b_procs;
struct e2b_procs *e2b_procs_new(void);
/* Kill every process and wait for none to run; then free. */
void e2b_procs_free(struct e2b_procs *p);
/* Kill every process of sandbox id (when it is killed or timed out). */
void e2b_procs_kill_sandbox(struct e2b_procs *p, const char *id);

/* What a handler of the in-sandbox API gets: the sandbox the caller's access token opened. */
struct e2b_call {
        struct api *ctx;
        struct e2b *e;
        struct MHD_Connection *conn;
        const struct auth_identity *who;
        const struct e2b_sandbox_info *sb;
        const char *body;
        size_t len;
};

struct e2b_procs *e2b_procs_of(struct e2b *e);

/* process.Process/METHOD; files: filesystem.Filesystem/METHOD and /files; code: /execute and
 * /contexts. Each answers the request. */
enum MHD_Result e2b_process_rpc(const struct e2b_call *c, const char *method);
enum MHD_Result e2b_filesystem_rpc(const struct e2b_call *c, const char *method);
enum MHD_Result e2b_files_rest(const struct e2b_call *c, const char *method);
enum MHD_Result e2b_code_route(const struct e2b_call *c, const char *url, const char *method);

/* Answers of the Connect unary calls and the REST parts. */
enum MHD_Result e2b_send_connect_error(struct MHD_Connection *conn, int code, const char *msg);
enum MHD_Result e2b_send_rest_error(struct MHD_Connection *conn, int code, const char *msg);
/* The request's one JSON message (unary: the body; streaming: its envelope). */
int e2b_rpc_message(const struct e2b_call *c, bool streaming, json_t **ret, struct al_error *err);

/* The control plane (e2b_control.c): /sandboxes, /v2/sandboxes and below. */
enum MHD_Result e2b_control_route(struct api *ctx, struct e2b *e, struct MHD_Connection *conn,
                                  const char *url, const char *method, const char *body, size_t len,
                                  const struct auth_identity *who);

/* ---- the listener (e2b_route.c) ---- */

/* Identify a caller of the E2B listener: X-API-Key (an airlock token) on the control plane,
 * the sandbox's access token (X-Access-Token or E2B-Traffic-Access-Token, with E2b-Sandbox-Id)
 * on the in-sandbox API. */
int e2b_identify(struct api *ctx, struct MHD_Connection *conn, struct auth_identity *ret,
                 struct al_error *err);
/* Answer a refusal of the admission (401, 403, 429) in the shape of the route asked. */
enum MHD_Result e2b_send_refusal(struct MHD_Connection *conn, const char *url,
                                 const struct auth_refusal *r);
/* The body cap of a request on the E2B listener (uploads may be [files] upload_mb). */
int64_t e2b_body_cap(const struct policy *pol, const char *url, const char *method);
enum MHD_Result e2b_route(struct api *ctx, struct MHD_Connection *conn, const char *url,
                          const char *method, const char *body, size_t len,
                          const struct auth_identity *who);
