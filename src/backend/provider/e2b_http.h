/* The E2B client's transport: libcurl over HTTPS (or HTTP to a loopback airlockd), with
 * bounded retries and backoff for the control plane, unary Connect calls, and the server
 * streams of envd's process service driven from a poll loop that also watches the exec's
 * deadline and cancellation. The API key and envd tokens go in headers only; nothing here
 * logs. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airlock/buf.h"
#include "airlock/error.h"

#define E2B_BODY_MAX (8u << 20) /* a control-plane or unary answer larger than this is refused */

struct e2b_client {
        char *api_url;     /* control plane, no trailing slash */
        char *sandbox_url; /* envd for every sandbox, or NULL: https://PORT-ID.DOMAIN */
        char *domain;      /* may be NULL */
        char *key_file;
        int64_t request_timeout_s;
        int retries;
};

/* One answer: status (0 when none came), body (capped), the provider's message. */
struct e2b_answer {
        long status;
        struct buf body;
        int64_t retry_after_s;
        char message[256];
};
void e2b_answer_init(struct e2b_answer *a);
void e2b_answer_free(struct e2b_answer *a);

/* A control-plane call: method, path under api_url, JSON body (may be NULL). Retries 429, 502,
 * 503, 504 and failed connections up to c->retries times with backoff. Returns 0 with the
 * answer (any status) or < 0 when no answer came (-EHOSTUNREACH, -ETIMEDOUT) with err saying
 * why; the key is read from key_file for each call (-EACCES when it cannot be). */
int e2b_api_call(const struct e2b_client *c, const char *method, const char *path, const char *json,
                 struct e2b_answer *ret, struct al_error *err);

/* Where a sandbox's envd is reached: its base URL and the headers that go with it. */
struct e2b_target {
        char base[2048];
        char id[160];    /* E2b-Sandbox-Id, when sandbox_url is used */
        char token[160]; /* X-Access-Token, "" when none */
        int port;        /* envd's (E2B_ENVD_PORT) or the code interpreter's (E2B_CODE_PORT) */
        bool via_sandbox_url;
};
void e2b_target_for(const struct e2b_client *c, const char *id, const char *token,
                    const char *domain, int port, struct e2b_target *ret);

/* A unary Connect call to envd (rpc "process.Process/SendSignal"): JSON in, JSON out. */
int e2b_rpc_call(const struct e2b_client *c, const struct e2b_target *t, const char *rpc,
                 const char *json, struct e2b_answer *ret, struct al_error *err);

/* A plain request to envd (REST /files): method, path with its query, body (may be NULL for
 * GET), the answer's body bounded by cap (a larger one fails with -EPROTO and ret->body
 * truncated). No retry: a file operation is not repeated behind its caller's back. */
int e2b_envd_request(const struct e2b_client *c, const struct e2b_target *t, const char *method,
                     const char *path, const char *content_type, const void *body, size_t len,
                     size_t cap, struct e2b_answer *ret, struct al_error *err);

/* A server stream: on_data gets the answer's bytes as they come (< 0 stops the stream);
 * between reads, tick is called with now (monotonic ms) and whether one of watch_fds turned
 * readable (or hung up); tick returns < 0 to stop, 0 to go on. The stream ends when the
 * server ends it. On HTTP errors, ret holds the status and message. */
struct e2b_stream_hooks {
        int (*on_data)(void *ctx, const char *p, size_t n);
        int (*tick)(void *ctx, int64_t now_ms, bool fd_ready);
        void *ctx;
        int watch_fds[2]; /* -1 or 0 when unused */
};
int e2b_rpc_stream(const struct e2b_client *c, const struct e2b_target *t, const char *rpc,
                   const char *json, const struct e2b_stream_hooks *h, struct e2b_answer *ret,
                   struct al_error *err);
/* The same for any streamed answer: POST body (len bytes, content_type) to path. */
int e2b_post_stream(const struct e2b_client *c, const struct e2b_target *t, const char *path,
                    const char *content_type, const char *body, size_t len,
                    const struct e2b_stream_hooks *h, struct e2b_answer *ret, struct al_error *err);
