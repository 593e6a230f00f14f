/* Private to the airlock command-line client: the shared context, the subcommands and the
 * small HTTP-over-UNIX-socket client they use to talk to airlockd. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "airlock/buf.h"
#include "airlock/error.h"

#define CLI_DEFAULT_SOCKET "/run/airlock/airlock.sock"

/* Exit statuses of airlock itself, after docker's conventions, so that they do not collide
 * with the usual statuses of the program run inside the sandbox. */
#define CLI_EXIT_FAIL    125 /* airlock or airlockd failed: usage, transport, API error */
#define CLI_EXIT_TIMEOUT 124 /* the execution hit its time limit (as timeout(1)) */
#define CLI_EXIT_OOM     137 /* the execution was killed for memory (128 + SIGKILL) */

/* Caps on what the client holds in memory at once. */
#define CLI_STDIN_MAX (16u << 20) /* stdin forwarded to the execution */
#define CLI_LINE_MAX  (16u << 20) /* one NDJSON event of a streamed reply */
#define CLI_BODY_MAX  (64u << 20) /* one buffered reply body */

struct cli_ctx {
        const char *socket_path; /* never NULL once main has run */
};

/* A subcommand: argv[0] is its name; returns the process exit status. */
struct cli_command {
        const char *name;
        const char *summary;
        int (*run)(struct cli_ctx *ctx, int argc, char **argv);
        void (*usage)(FILE *out);
};

int cli_exec_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_exec_usage(FILE *out);
int cli_policy_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_policy_usage(FILE *out);
int cli_version_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_version_usage(FILE *out);
int cli_health_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_health_usage(FILE *out);
int cli_mcp_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_mcp_usage(FILE *out);
/* manage.c */
int cli_ps_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_ps_usage(FILE *out);
int cli_sessions_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_sessions_usage(FILE *out);
int cli_history_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_history_usage(FILE *out);
int cli_kill_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_kill_usage(FILE *out);
int cli_suspend_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_suspend_usage(FILE *out);
/* files.c: the files API (airlock cp, airlock ls). */
int cli_cp_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_cp_usage(FILE *out);
int cli_ls_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_ls_usage(FILE *out);
/* ctx.c: code contexts (airlock ctx). */
int cli_ctx_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_ctx_usage(FILE *out);

/* The exit status for an exec's result or exit event (124 timeout, 137 OOM, 128+N signal,
 * else its exit code), with notes on stderr unless quiet (the execution when verbose); the
 * time limit asked for, or 0. */
int cli_exec_status(json_t *res, int64_t timeout_s, bool verbose, bool quiet);
/* Read all of stdin into ret (initialised here, capped at CLI_STDIN_MAX) when it is neither
 * a terminal nor closed; ret stays empty otherwise. */
int cli_read_stdin(struct buf *ret, struct al_error *err);
/* Print "airlock: <message>" on stderr. */
void cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The options of the small commands that take only --json, --socket and --help (name is the
 * command's, for messages). 1: go on; 0: done (help printed); -1: a usage error, told. */
int cli_parse_simple(struct cli_ctx *ctx, int argc, char **argv, const char *name,
                     void (*usage)(FILE *out), bool *ret_json);

/* --- HTTP client (http.c) --- */

/* Called with the body bytes of a 2xx reply whose Content-Type matches the request's Accept
 * type, as they arrive; returns < 0 (with err set) to abort the transfer. */
typedef int (*cli_body_fn)(void *userdata, const char *p, size_t n, struct al_error *err);

struct cli_request {
        const char *method; /* "GET", "POST", ... */
        const char *path;   /* "/v1/exec" */
        const char *body;   /* JSON request body or NULL */
        size_t body_len;
        const char *accept;       /* Accept header; NULL means application/json */
        const char *content_type; /* of body; NULL means application/json */
        long timeout_s;      /* whole-transfer limit; 0 for none (exec runs as long as it runs) */
        cli_body_fn on_body; /* optional streaming consumer, see above */
        void *userdata;
};

struct cli_reply {
        long status;   /* HTTP status */
        bool streamed; /* the body went to on_body instead of into body */
        char content_type[128];
        struct buf body; /* buffered body (error replies, non-streamed replies) */
};

/* Perform one request against airlockd at ctx->socket_path. Returns 0 when an HTTP reply
 * arrived (any status: the caller inspects reply->status), < 0 with err set when the daemon
 * could not be reached or the transfer failed. The caller frees reply with cli_reply_free. */
int cli_http(struct cli_ctx *ctx, const struct cli_request *req, struct cli_reply *reply,
             struct al_error *err);
void cli_reply_free(struct cli_reply *reply);

/* Parse the buffered body of a reply as JSON (NUL bytes allowed in strings). New reference
 * or NULL with err set. */
json_t *cli_reply_json(const struct cli_reply *reply, struct al_error *err);

/* --- output.c: what the listing commands share --- */

#define CLI_NAME_MAX 64 /* agent, session and other names, as the API takes them */

/* The options of the commands that list and end things; each command says which it
 * accepts (CLI_O_*), --socket and --help always. */
struct cli_opts {
        bool json, all;
        const char *agent, *session, *state, *backend, *since, *until, *limit;
        const char *runtime, *language, *out, *timeout; /* airlock ctx's */
        int argc;                                       /* the words left after the options */
        char **argv;
};
enum {
        CLI_O_JSON = 1 << 0,
        CLI_O_AGENT = 1 << 1,
        CLI_O_ALL = 1 << 2,
        CLI_O_FILTERS = 1 << 3, /* history's: session, state, backend, since, until, limit */
        CLI_O_CTX = 1 << 4,     /* airlock ctx's: session, runtime, language, out, timeout */
};
/* Parse them (options and words may mix); names are checked against the safe alphabet.
 * 1: go on; 0: help printed; -1: a usage error (told). */
int cli_opts_parse(struct cli_ctx *ctx, int argc, char **argv, const char *name, unsigned accepted,
                   void (*usage)(FILE *out), struct cli_opts *o);

/* Send req; on 2xx the decoded body (caller json_decref's), else the failure is reported on
 * stderr and NULL returned. cli_get: the same for a GET of path. */
json_t *cli_call(struct cli_ctx *ctx, const struct cli_request *req);
json_t *cli_get(struct cli_ctx *ctx, const char *path);
/* doc (NULL: the failure was told; CLI_EXIT_FAIL) as the daemon's JSON with json, else as
 * human prints it; doc is freed. Returns the exit status. */
int cli_show(json_t *doc, bool json, void (*human)(json_t *doc));
/* A string member of o, or NULL; an integer member as text in buf, or NULL. */
const char *cli_str(json_t *o, const char *key);
const char *cli_num(json_t *o, const char *key, char *buf, size_t size);
/* The daemon's JSON, indented, on stdout (--json). */
int cli_print_json(json_t *doc);
/* An API time (ms since the epoch, or null) as UTC, or how long ago; "-" for null. */
const char *cli_when(json_t *v, char *buf, size_t size);
const char *cli_ago(json_t *v, char *buf, size_t size);
/* A table for people: rows is a JSON array that cli_table_add fills with ncols strings (NULL
 * shows as "-"); printed with a header line, columns aligned. */
#define CLI_TABLE_COLS_MAX 12
int cli_table_add(json_t *rows, size_t ncols, ...);
void cli_table_print(const char *const *heads, size_t ncols, json_t *rows);

/* Print the daemon's error reply as "airlock: <message> (<code>)"; returns CLI_EXIT_FAIL. */
int cli_report_api_error(const struct cli_reply *reply);
