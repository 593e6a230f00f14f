/* Private to backend/provider/: the provider backends the router holds. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "airlock/backend.h"
#include "airlock/policy.h"

/* An E2B provider backend for [provider] pr (its settings are copied: a reload does not change
 * a provider in use). NULL with err on ENOMEM. */
struct backend *e2b_backend_new(const struct policy_provider *pr, struct al_error *err);
/* e2b_backend.c, for e2b_ctx.c: the client, the provider's name, and where sandbox handle's
 * port (E2B_ENVD_PORT, E2B_CODE_PORT) is reached (-ENOENT when it is not held). */
struct e2b_client;
struct e2b_target;
const struct e2b_client *e2b_backend_client(struct backend *b);
const char *e2b_backend_name(struct backend *b);
int e2b_backend_target(struct backend *b, const char *handle, int port, struct e2b_target *ret,
                       struct al_error *err);
/* e2b_backend.c: run x in sandbox handle through a process stream (sandbox_exec); on_pid (may
 * be NULL) is called once the remote process exists. */
int e2b_backend_run(struct backend *b, const char *handle, const struct exec_spec *x,
                    const struct exec_sink *sink, struct exec_result *res,
                    void (*on_pid)(void *ctx, uint32_t pid), void *on_pid_ctx,
                    struct al_error *err);
/* Whether the backend holds the sandbox of handle; its background processes. */
bool e2b_backend_holds(struct backend *b, const char *handle);
struct e2b_bg *e2b_backend_bg(struct backend *b);
/* e2b_procs.c: background processes of E2B sandboxes (backend_ops proc_*): each is a process
 * stream held by a thread of its own; its record keeps its output (capped) and outcome. */
struct e2b_bg *e2b_bg_new(void);
void e2b_bg_free(struct e2b_bg *ps); /* ends the threads: their processes are killed */
int e2b_proc_start(struct backend *b, const char *handle, const struct exec_spec *x,
                   const struct proc_hooks *hooks, long long *ret_pid, struct al_error *err);
json_t *e2b_proc_list(struct backend *b, const char *handle, long long pid, struct al_error *err);
int e2b_proc_kill(struct backend *b, const char *handle, long long pid, struct al_error *err);
/* e2b_ctx.c: the code interpreter's contexts (backend_ops ctx_remote_*). */
int e2b_ctx_create(struct backend *b, const char *handle, const char *language, char *ret_id,
                   struct al_error *err);
int e2b_ctx_run(struct backend *b, const char *handle, const char *id, const char *code,
                const struct exec_spec *x, const struct exec_sink *sink, struct exec_result *res,
                json_t **ret_results, json_t **ret_done, struct al_error *err);
/* e2b_files.c: the files helper's verbs over envd's filesystem service and /files
 * (backend_ops files_remote). */
int e2b_files_remote(struct backend *b, const char *handle, const char *const *args, const void *in,
                     size_t in_len, struct exec_result *res, struct al_error *err);
/* "e2b:NAME", valid while the backend lives. */
const char *e2b_backend_label(struct backend *b);
