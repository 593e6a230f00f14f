/* The E2B protocol as data, with no I/O (unit-tested, tests/unit/test_e2b_proto.c): the
 * control plane's JSON bodies (E2B spec/openapi.yml), envd's Connect-RPC JSON messages and
 * their envelopes (spec/envd/process/process.proto, the Connect protocol's server streams),
 * envd's /files query, and the providers' error documents. Everything parsed here comes from
 * the network and is untrusted: every field is typed and bounded. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "airlock/buf.h"
#include "airlock/error.h"

/* envd's port, and the code interpreter's (E2B's sandbox host names are PORT-ID.DOMAIN). */
#define E2B_ENVD_PORT 49983
#define E2B_ID_MAX    128 /* a sandbox id or envd token we accept */
/* The metadata key that names the airlock instance owning a remote sandbox. */
#define E2B_META_INSTANCE "airlock_instance"

struct e2b_new_sandbox {
        const char *template;
        int64_t timeout_s;
        bool internet; /* allow_internet_access */
        const char *instance_id;
        const char *agent;
        const char *session; /* may be NULL */
};

/* A request body as compact text (new string; NULL on ENOMEM); takes the reference to o. */
char *e2b_json_text(json_t *o);

/* POST /sandboxes: NewSandbox (templateID, timeout, allow_internet_access, metadata). New
 * reference; NULL on ENOMEM. */
json_t *e2b_new_sandbox_body(const struct e2b_new_sandbox *ns);
/* POST /sandboxes/{id}/pause: SandboxPauseRequest {memory}. */
json_t *e2b_pause_body(void);
/* POST /sandboxes/{id}/connect: ConnectSandbox {timeout} (resumes a paused sandbox). */
json_t *e2b_connect_body(int64_t timeout_s);
/* POST /sandboxes/{id}/timeout: SandboxTimeoutRequest. */
json_t *e2b_timeout_body(int64_t timeout_s);

/* A created sandbox (Sandbox): what the client keeps of it. */
struct e2b_sandbox {
        char id[E2B_ID_MAX + 1];
        char envd_token[E2B_ID_MAX + 1]; /* "" when the provider gave none */
        char domain[256];                /* "" when none */
};
/* Parse a Sandbox document (201 of POST /sandboxes). -EPROTO with err when malformed. */
int e2b_sandbox_parse(const char *body, size_t len, struct e2b_sandbox *ret, struct al_error *err);
/* A list of ListedSandbox (GET /sandboxes): the ids whose metadata names instance_id, as a
 * NULL-terminated vector (caller frees with util_strv_free). -EPROTO when malformed. */
int e2b_list_parse(const char *body, size_t len, const char *instance_id, char ***ret,
                   struct al_error *err);
/* The metadata query of GET /sandboxes for instance_id ("metadata=" and its URL-encoded
 * "airlock_instance=ID"), a new string. */
char *e2b_list_query(const char *instance_id);

/* A sandbox id as it may appear in a URL path or a host name: [A-Za-z0-9_-], 1..E2B_ID_MAX. */
bool e2b_id_valid(const char *id);

/* process.Process/Start: StartRequest {process: {cmd, args, envs, cwd}, stdin}. argv[0] is
 * the command; env is "K=V" entries (may be NULL). */
json_t *e2b_start_body(char *const *argv, char *const *env, const char *cwd, bool stdin);
/* process.Process/SendInput: {process: {pid}, input: {stdin: base64}}. */
json_t *e2b_input_body(uint32_t pid, const void *data, size_t len);
/* process.Process/CloseStdin: {process: {pid}}. */
json_t *e2b_close_stdin_body(uint32_t pid);
/* process.Process/SendSignal: {process: {pid}, signal: "SIGNAL_SIGKILL" | "SIGNAL_SIGTERM"}. */
json_t *e2b_signal_body(uint32_t pid, bool kill);

/* A Connect envelope: flags (0, or 2 for the end of a stream), 4-byte big-endian length,
 * message. */
#define E2B_ENVELOPE_END  0x02
#define E2B_ENVELOPE_HEAD 5
#define E2B_MESSAGE_MAX   (4u << 20) /* a message larger than this is refused */
int e2b_envelope_put(struct buf *out, uint8_t flags, const char *msg, size_t len);

enum e2b_event_kind {
        E2B_EV_START = 1, /* pid */
        E2B_EV_STDOUT,    /* data, len */
        E2B_EV_STDERR,
        E2B_EV_END, /* exit_code, exited, status, error */
        E2B_EV_KEEPALIVE,
        E2B_EV_STREAM_END, /* the end-of-stream envelope; error set when it carried one */
};

struct e2b_event {
        enum e2b_event_kind kind;
        uint32_t pid;
        uint8_t *data; /* owned; free with e2b_event_clear */
        size_t len;
        int exit_code;
        bool exited;
        char status[64]; /* "exit status 1", "signal: killed" */
        char error[256]; /* end event's or end of stream's error, "" when none */
};
void e2b_event_clear(struct e2b_event *ev);

/* Splits a server stream into envelopes as bytes arrive (any chunking). */
struct e2b_stream {
        struct buf pending;
        bool ended; /* the end-of-stream envelope was seen */
};
void e2b_stream_init(struct e2b_stream *s);
void e2b_stream_free(struct e2b_stream *s);
/* Feed n bytes; cb gets each event in order (its return < 0 stops and is returned).
 * -EPROTO with err on a malformed envelope or message. */
int e2b_stream_feed(struct e2b_stream *s, const void *p, size_t n,
                    int (*cb)(void *ctx, const struct e2b_event *ev), void *ctx,
                    struct al_error *err);
/* One message (flags as in its envelope) as an event. -EPROTO when malformed. */
int e2b_event_parse(uint8_t flags, const char *msg, size_t len, struct e2b_event *ev,
                    struct al_error *err);

/* The code interpreter (E2B's code-interpreter template, port 49999; airlock's [e2b] listen
 * serves it too): POST /contexts {language, cwd} makes a context, POST /execute {code,
 * context_id} streams a cell's output as lines of JSON. */
#define E2B_CODE_PORT 49999
#define E2B_LINE_MAX  (8u << 20) /* a line of /execute larger than this is refused */
json_t *e2b_context_body(const char *language);
json_t *e2b_execute_body(const char *code, const char *context_id);
/* The id of a created context (1..63 of [A-Za-z0-9_-]) into id (64 bytes). -EPROTO. */
int e2b_context_parse(const char *body, size_t len, char *id, struct al_error *err);

enum e2b_code_kind {
        E2B_CODE_STDOUT = 1, /* text */
        E2B_CODE_STDERR,
        E2B_CODE_RESULT, /* result: {kind: "result"|"display", data: {mime: value}} */
        E2B_CODE_ERROR,  /* error: {name, value, traceback} */
        E2B_CODE_COUNT,  /* execution_count */
        E2B_CODE_END,    /* end_of_execution */
        E2B_CODE_OTHER,  /* a type this client does not use: skipped */
};
struct e2b_code_event {
        enum e2b_code_kind kind;
        const char *text; /* borrowed from doc */
        size_t text_len;
        json_t *result; /* owned */
        json_t *error;  /* owned */
        long long execution_count;
        json_t *doc; /* owned: the parsed line */
};
/* One line of /execute as an event (clear it with e2b_code_event_clear). -EPROTO when it is
 * not a JSON object with a known shape. */
int e2b_code_line(const char *line, size_t len, struct e2b_code_event *ev, struct al_error *err);
void e2b_code_event_clear(struct e2b_code_event *ev);

/* The signal an end event names ("signal: killed" -> 9), 0 when none. */
int e2b_status_signal(const char *status);

/* The provider's message from an error answer: E2B's Error {code, message}, Connect's
 * {code, message}, or the body's first line; printable, at most size - 1 bytes. */
void e2b_error_message(long status, const char *body, size_t len, char *out, size_t size);
/* Whether a status is worth another attempt (429, 502, 503, 504; 0 = no answer). */
bool e2b_status_retryable(long status);
/* The delay before retry n (1-based) in ms: 200 ms doubling, at most 5 s; the answer's
 * Retry-After (seconds, 0 when none) instead when it gave one, bounded the same. */
int64_t e2b_backoff_ms(int attempt, int64_t retry_after_s);

/* ---- envd's filesystem (e2b_proto_fs.c): the sandbox files helper's verbs (src/agent/files.c)
 * mapped onto filesystem.Filesystem (spec/envd/filesystem/filesystem.proto) and REST /files
 * (spec/envd/envd.yaml), answered with the helper's own JSON documents. ---- */

/* Percent-encoding of everything but RFC 3986's unreserved characters, appended to b. */
void e2b_url_encode(struct buf *b, const char *s);
/* The absolute path of ROOT and REL ("." is ROOT itself) into out; -ENAMETOOLONG. */
int e2b_fs_path(const char *root, const char *rel, char *out, size_t size);
/* The query of /files for path ("path=" URL-encoded), a new string. */
char *e2b_files_query(const char *path);
/* Request messages: StatRequest, ListDirRequest {path, depth 1}, MakeDirRequest,
 * RemoveRequest {path}; MoveRequest {source, destination}. */
json_t *e2b_fs_path_body(const char *path);
json_t *e2b_fs_list_body(const char *path);
json_t *e2b_fs_move_body(const char *source, const char *destination);
/* A multipart/form-data body of one part "file" (filename: the path's last component), appended
 * to out; the boundary must not occur in data (the caller draws a random one). */
int e2b_multipart_file(struct buf *out, const char *boundary, const char *path, const void *data,
                       size_t len);
/* An EntryInfo as the helper's entry {name, type, size, mode, mtime, target?}, shown as name.
 * NULL when the message is malformed. */
json_t *e2b_fs_entry_helper(json_t *entry, const char *name);
/* StatResponse as the helper's stat answer (shown as name). -EPROTO. */
int e2b_fs_stat_answer(const char *body, size_t len, const char *name, json_t **ret,
                       struct al_error *err);
/* ListDirResponse as the helper's list answer {entries (sorted by name, at most max),
 * truncated}. -EPROTO. */
int e2b_fs_list_answer(const char *body, size_t len, size_t max, json_t **ret,
                       struct al_error *err);
/* The errno an envd error answer stands for (Connect's code, or REST's status); 0 when it is
 * the provider's failure rather than the file's (5xx, unknown). */
int e2b_fs_errno(long status, const char *body, size_t len);
/* The helper's error document {"errno":N,"message":"..."} as a new string. */
char *e2b_fs_error_doc(int e, const char *message);
