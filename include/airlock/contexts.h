/* Stateful code contexts (docs/contexts.md): a live interpreter (Python, Node or bash) in a
 * kept sandbox that remembers between execs, is interrupted instead of killed, and returns
 * notebook-style results. The core keeps the registry (in memory: a context ends with its
 * sandbox, and with the daemon); the interpreter is a driver process in the sandbox
 * (src/agent/runtime/airlock_ctx.py), a background process of its own cgroup. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "airlock/error.h"
#include "airlock/exec.h"

struct daemon;

#define CONTEXT_ID_LEN 24 /* hex characters */
/* Contexts the daemon keeps at most, whatever the per-sandbox cap says. */
#define CONTEXTS_MAX 256
/* After an interrupt (timeout, client gone, on demand), the code has this long to stop
 * before the interpreter is restarted. */
#define CONTEXT_GRACE_MS 2000

/* The languages a context speaks; -1 for another name. */
enum context_language { CONTEXT_PYTHON, CONTEXT_NODE, CONTEXT_BASH };
int context_language_parse(const char *name);
const char *context_language_name(enum context_language l);

/* What POST /v1/contexts asks for (validated by context_request_parse). */
struct context_request {
        char *agent; /* defaults to "default" */
        char *session;
        char *runtime; /* NULL: the language's own runtime when the catalog has it */
        enum context_language language;
};

/* A driver's CTX_RESULT payload checked: {"kind": "result"|"display", "data": {mime: text}}
 * with 1..16 MIME types (names up to 100 characters with a '/'); a new object, or NULL when
 * it is not one. */
json_t *context_result_parse(const uint8_t *p, size_t len);
/* A driver's CTX_DONE payload checked: {"status": "ok"|"error", "execution_count" (> 0, when
 * given), "error": {name, value, traceback} (bounded strings, when given), "recovered"
 * (bounded, when given)}; a new object, or NULL when it is not a JSON object. */
json_t *context_done_parse(const uint8_t *p, size_t len);

/* Create a context and start its interpreter; *ret is its JSON (new reference). */
int daemon_context_create(struct daemon *d, const struct context_request *req, json_t **ret,
                          struct al_error *err);
/* The agent a context belongs to (for the API's access check): a new string, or NULL when
 * there is no such context. */
char *daemon_context_agent(struct daemon *d, const char *id);
/* Contexts as a JSON array (new reference); agent NULL: every agent's. */
json_t *daemon_contexts_list(struct daemon *d, const char *agent);
json_t *daemon_context_get(struct daemon *d, const char *id);
/* End the interpreter and forget the context (a running cell ends with it). */
int daemon_context_delete(struct daemon *d, const char *id, struct al_error *err);
/* A fresh interpreter in place of the old one: state cleared, counter reset. */
int daemon_context_restart(struct daemon *d, const char *id, json_t **ret, struct al_error *err);
/* KeyboardInterrupt (SIGINT) to the running cell; *ret_sent false when none runs. */
int daemon_context_interrupt(struct daemon *d, const char *id, bool *ret_sent,
                             struct al_error *err);
/* An exec naming "context" or "language": run its code as a cell (called by daemon_exec). */
int daemon_context_exec(struct daemon *d, const struct exec_request *req,
                        const struct exec_sink *sink, struct exec_result *res,
                        struct al_error *err);
/* Forget contexts whose sandbox is gone; end those idle longer than idle_ms (> 0). Returns
 * how many were ended. */
int daemon_contexts_reap(struct daemon *d, int64_t idle_ms);
/* Each sandbox row (its "id") of rows gets "contexts": how many it holds. */
void daemon_contexts_annotate(struct daemon *d, json_t *rows);
/* Counts for health and metrics: contexts, cells running now. */
void daemon_contexts_count(struct daemon *d, unsigned *ret_total, unsigned *ret_busy);
